/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A control-socket client. Requests are handled in arrival order; each gets exactly one reply
 * (or error reply) with its id. Malformed messages get an error reply naming the problem; a
 * client that keeps sending them (MaxProtocolErrors=) or does not read its replies
 * (ClientQueueBytes=) is disconnected. Nothing a client sends can stall other clients: all
 * sockets are non-blocking and every loop is bounded; a client's requests are handled in
 * batches bounded in number and time, the other clients' in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/connection.h"
#include "core/core-query.h"
#include "core/listener.h"
#include "core/session.h"
#include "tickets/ticket-cache.h"
#include "error.h"
#include "util/log.h"
#include "proto.h"
#include "session-options.h"
#include "time-util.h"
#include "transport.h"
#include "unix/unix-client.h"

struct OutPacket {
        OutPacket *next;
        size_t size;
        unsigned n_fds;
        int fds[TLSD_FDS_MAX];
        uint8_t data[];
};

/* One request being handled: what a handler gets and fills. */
typedef struct UnixRequest {
        UnixClient *client;
        const TlsdMsgView *msg;
        int *fds; /* received descriptors; a handler that keeps one sets it to -EBADF */
        unsigned n_fds;
        TlsdMsg *reply;  /* begun by the dispatcher with type, REPLY flag and id */
        char error[256]; /* optional human message for an error result */
} UnixRequest;

typedef int (*UnixHandler)(UnixRequest *req);

static int handle_version(UnixRequest *req) {
        CoreVersion v;

        core_version(unix_server_core(req->client->server), &v);
        tlsd_msg_put_str(req->reply, TLSD_A_VERSION_STRING, v.version);
        tlsd_msg_put_u32(req->reply, TLSD_A_PROTO_VERSION, v.protocol);
        tlsd_msg_put_str(req->reply, TLSD_A_TLS_LIBRARY, v.tls_library);
        return 0;
}

static int handle_ping(UnixRequest *req) {
        const void *p;
        size_t n;

        if (tlsd_msg_get_bytes(req->msg, TLSD_A_PAYLOAD, &p, &n) >= 0)
                tlsd_msg_put(req->reply, TLSD_A_PAYLOAD, p, n);
        return 0;
}

static int handle_whoami(UnixRequest *req) {
        CoreIdentity id;

        core_whoami(req->client->peer, &id);
        tlsd_msg_put_u32(req->reply, TLSD_A_UID, (uint32_t) id.uid);
        tlsd_msg_put_u32(req->reply, TLSD_A_GID, (uint32_t) id.gid);
        tlsd_msg_put_u32(req->reply, TLSD_A_PID, (uint32_t) id.pid);
        return 0;
}

/* ---- sessions and connections ---- */

static int get_u64_id(UnixRequest *req, TlsdAttrType a, uint64_t *ret) {
        return tlsd_msg_get_u64(req->msg, a, ret);
}

static Session *find_session(UnixRequest *req) {
        uint64_t id = 0;

        (void) get_u64_id(req, TLSD_A_SESSION_ID, &id);
        return core_find_session(unix_server_core(req->client->server), req->client->peer, id);
}

static Connection *find_connection(UnixRequest *req) {
        uint64_t id = 0;

        (void) get_u64_id(req, TLSD_A_CONNECTION_ID, &id);
        return core_find_connection(unix_server_core(req->client->server), req->client->peer, id);
}

#define NOT_FOUND(req, what)                                                                       \
        ({                                                                                         \
                snprintf((req)->error, sizeof((req)->error), "no such " what);                     \
                -ENOENT;                                                                           \
        })

static int handle_session_create(UnixRequest *req) {
        SessionOptions o;
        Session *s;
        uint32_t role = 0;
        int r;

        (void) tlsd_msg_get_u32(req->msg, TLSD_A_ROLE, &role);
        tlsd_session_options_parse(req->msg, &o);
        r = session_new(req->client->peer, role, &o, req->error, &s);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(req->reply, TLSD_A_SESSION_ID, s->id);
        return 0;
}

static int handle_session_configure(UnixRequest *req) {
        SessionOptions o;
        Session *s = find_session(req);

        if (!s)
                return NOT_FOUND(req, "session");
        tlsd_session_options_parse(req->msg, &o);
        return session_configure(s, &o, req->error);
}

static int handle_session_destroy(UnixRequest *req) {
        Session *s = find_session(req);

        if (!s)
                return NOT_FOUND(req, "session");
        session_free(s);
        return 0;
}

static int handle_connection_create(UnixRequest *req) {
        Session *s = find_session(req);
        Connection *c;
        uint32_t family = AF_UNSPEC;
        int r;

        if (!s)
                return NOT_FOUND(req, "session");
        (void) tlsd_msg_get_u32(req->msg, TLSD_A_FAMILY, &family);
        r = connection_new(s, (int) family, req->error, &c);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(req->reply, TLSD_A_CONNECTION_ID, c->id);
        return 0;
}

static int handle_connection_bind(UnixRequest *req) {
        Connection *c = find_connection(req);
        const char *address = NULL;
        uint32_t port = 0;

        if (!c)
                return NOT_FOUND(req, "connection");
        (void) tlsd_msg_get_str(req->msg, TLSD_A_ADDRESS, &address);
        (void) tlsd_msg_get_u32(req->msg, TLSD_A_PORT, &port);
        return connection_bind(c, address, port, req->error);
}

static int handle_connection_connect(UnixRequest *req) {
        Connection *c = find_connection(req);
        const char *host = NULL, *sni = NULL;
        uint32_t port = 0;
        uint64_t ticket = 0;

        if (!c)
                return NOT_FOUND(req, "connection");
        (void) tlsd_msg_get_str(req->msg, TLSD_A_HOST, &host);
        (void) tlsd_msg_get_u32(req->msg, TLSD_A_PORT, &port);
        (void) tlsd_msg_get_str(req->msg, TLSD_A_SERVER_NAME, &sni);
        (void) tlsd_msg_get_u64(req->msg, TLSD_A_TICKET_ID, &ticket);
        return connection_connect(c, host, port, sni, ticket, req->error);
}

static int handle_get_ticket(UnixRequest *req) {
        Connection *c = find_connection(req);
        uint64_t id = 0;
        int r;

        if (!c)
                return NOT_FOUND(req, "connection");
        r = connection_get_ticket(c, &id, req->error);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_ID, id);
        return 0;
}

static int handle_ticket_stats(UnixRequest *req) {
        TicketCacheStats st;

        core_ticket_stats(req->client->peer, &st);
        tlsd_msg_put_u32(req->reply, TLSD_A_TICKET_ENTRIES, st.entries);
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_STORED, st.stored);
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_HITS, st.hits);
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_MISSES, st.misses);
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_EXPIRED, st.expired);
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_EVICTED, st.evicted);
        tlsd_msg_put_u64(req->reply, TLSD_A_TICKET_REJECTED, st.rejected);
        return 0;
}

static int handle_certificate_response(UnixRequest *req) {
        Connection *c = find_connection(req);
        uint32_t accept = 0;

        if (!c)
                return NOT_FOUND(req, "connection");
        (void) tlsd_msg_get_u32(req->msg, TLSD_A_ACCEPT, &accept);
        return connection_certificate_response(c, accept != 0, req->error);
}

static void put_engine_info(TlsdMsg *m, const EngineInfo *i) {
        if (i->version[0])
                tlsd_msg_put_str_lossy(m, TLSD_A_TLS_VERSION, i->version);
        if (i->cipher[0])
                tlsd_msg_put_str_lossy(m, TLSD_A_CIPHER, i->cipher);
        if (i->group[0])
                tlsd_msg_put_str_lossy(m, TLSD_A_GROUP, i->group);
        if (i->alpn[0])
                tlsd_msg_put_str_lossy(m, TLSD_A_ALPN_SELECTED, i->alpn);
        if (i->peer_subject[0])
                tlsd_msg_put_str_lossy(m, TLSD_A_PEER_SUBJECT, i->peer_subject);
        tlsd_msg_put_u32(m, TLSD_A_VERIFY_RESULT, (uint32_t) i->verify);
        tlsd_msg_put_u32(m, TLSD_A_RESUMED, i->resumed);
        if (i->dtls) {
                tlsd_msg_put_u32(m, TLSD_A_TRANSPORT, TLSC_TRANSPORT_DTLS);
                tlsd_msg_put_u32(m, TLSD_A_MAX_MESSAGE, i->max_message);
                tlsd_msg_put_u32(m, TLSD_A_CID_IN_USE, i->cid_in_use);
        }
}

static int handle_connection_info(UnixRequest *req) {
        Connection *c = find_connection(req);
        ConnectionInfo info;

        if (!c)
                return NOT_FOUND(req, "connection");
        connection_get_info(c, &info);
        tlsd_msg_put_u64(req->reply, TLSD_A_CONNECTION_ID, c->id);
        tlsd_msg_put_u32(req->reply, TLSD_A_STATE, (uint32_t) info.state);
        if (info.engine.version[0])
                put_engine_info(req->reply, &info.engine);
        tlsd_msg_put_u64(req->reply, TLSD_A_BYTES_IN, info.bytes_in);
        tlsd_msg_put_u64(req->reply, TLSD_A_BYTES_OUT, info.bytes_out);
        tlsd_msg_put_u64(req->reply, TLSD_A_HANDSHAKE_USEC, info.handshake_us);
        return 0;
}

static int handle_connection_retry(UnixRequest *req) {
        Connection *c = find_connection(req);

        if (!c)
                return NOT_FOUND(req, "connection");
        return connection_retry(c, req->error);
}

static int handle_connection_disconnect(UnixRequest *req) {
        Connection *c = find_connection(req);

        if (!c)
                return NOT_FOUND(req, "connection");
        return connection_disconnect(c);
}

static int handle_connection_shutdown(UnixRequest *req) {
        Connection *c = find_connection(req);

        if (!c)
                return NOT_FOUND(req, "connection");
        return connection_shutdown(c, req->error);
}

static int handle_connection_destroy(UnixRequest *req) {
        Connection *c = find_connection(req);

        if (!c)
                return NOT_FOUND(req, "connection");
        connection_free(c);
        return 0;
}

static int handle_listen(UnixRequest *req) {
        ListenerOptions o = {};
        Session *s = find_session(req);
        Listener *l;
        uint32_t u;
        int r;

        if (!s)
                return NOT_FOUND(req, "session");
        (void) tlsd_msg_get_str(req->msg, TLSD_A_ADDRESS, &o.address);
        if (tlsd_msg_get_u32(req->msg, TLSD_A_PORT, &u) >= 0)
                o.port = u;
        if (tlsd_msg_get_u32(req->msg, TLSD_A_BACKLOG, &u) >= 0)
                o.backlog = u;
        if (tlsd_msg_get_u32(req->msg, TLSD_A_MAX_PENDING, &u) >= 0)
                o.max_pending = u;
        if (tlsd_msg_get_u32(req->msg, TLSD_A_MAX_CONNECTIONS, &u) >= 0)
                o.max_connections = u;
        r = listener_new(s, &o, req->error, &l);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(req->reply, TLSD_A_LISTENER_ID, l->id);
        tlsd_msg_put_str(req->reply, TLSD_A_ADDRESS, l->address);
        tlsd_msg_put_u32(req->reply, TLSD_A_PORT, l->port);
        return 0;
}

static int handle_listener_close(UnixRequest *req) {
        uint64_t id = 0;
        Listener *l;

        (void) tlsd_msg_get_u64(req->msg, TLSD_A_LISTENER_ID, &id);
        l = core_find_listener(unix_server_core(req->client->server), req->client->peer, id);
        if (!l)
                return NOT_FOUND(req, "listener");
        listener_free(l);
        return 0;
}

static int handle_adopt(UnixRequest *req) {
        Session *s = find_session(req);
        const char *host = NULL, *sni = NULL;
        Connection *c;
        int fd, r;

        if (!s)
                return NOT_FOUND(req, "session");
        if (req->n_fds != 1) {
                snprintf(req->error, sizeof(req->error), "Adopt needs the socket as one fd");
                return -EINVAL;
        }
        (void) tlsd_msg_get_str(req->msg, TLSD_A_HOST, &host);
        (void) tlsd_msg_get_str(req->msg, TLSD_A_SERVER_NAME, &sni);
        fd = req->fds[0];
        req->fds[0] = -EBADF; /* ours now, whatever happens */
        r = connection_adopt(s, fd, host, sni, req->error, &c);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(req->reply, TLSD_A_CONNECTION_ID, c->id);
        return 0;
}

static const UnixHandler handlers[_TLSD_MSG_MAX] = {
        [TLSD_MSG_LISTEN] = handle_listen,
        [TLSD_MSG_LISTENER_CLOSE] = handle_listener_close,
        [TLSD_MSG_ADOPT] = handle_adopt,
        [TLSD_MSG_VERSION] = handle_version,
        [TLSD_MSG_PING] = handle_ping,
        [TLSD_MSG_WHOAMI] = handle_whoami,
        [TLSD_MSG_SESSION_CREATE] = handle_session_create,
        [TLSD_MSG_SESSION_CONFIGURE] = handle_session_configure,
        [TLSD_MSG_SESSION_DESTROY] = handle_session_destroy,
        [TLSD_MSG_CONNECTION_CREATE] = handle_connection_create,
        [TLSD_MSG_CONNECTION_BIND] = handle_connection_bind,
        [TLSD_MSG_CONNECTION_CONNECT] = handle_connection_connect,
        [TLSD_MSG_CERTIFICATE_RESPONSE] = handle_certificate_response,
        [TLSD_MSG_CONNECTION_INFO] = handle_connection_info,
        [TLSD_MSG_CONNECTION_DISCONNECT] = handle_connection_disconnect,
        [TLSD_MSG_CONNECTION_DESTROY] = handle_connection_destroy,
        [TLSD_MSG_CONNECTION_RETRY] = handle_connection_retry,
        [TLSD_MSG_CONNECTION_SHUTDOWN] = handle_connection_shutdown,
        [TLSD_MSG_GET_TICKET] = handle_get_ticket,
        [TLSD_MSG_TICKET_STATS] = handle_ticket_stats,
};

/* ---- events ---- */

static void unix_client_emit(Peer *p, const CoreEvent *e, void *userdata) {
        UnixClient *c = userdata;
        TlsdMsg m = TLSD_MSG_INIT;
        int fds[1];
        unsigned n_fds = 0;
        int r;

        if (c->dropping)
                return;
        switch (e->type) {
        case CORE_EVENT_HANDSHAKE_DONE:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_HANDSHAKE_DONE, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                put_engine_info(&m, e->info);
                tlsd_msg_put_u64(&m, TLSD_A_HANDSHAKE_USEC, e->handshake_us);
                fds[n_fds++] = e->fd;
                break;
        case CORE_EVENT_ACCEPTED:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_ACCEPTED, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_LISTENER_ID, e->listener);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_str(&m, TLSD_A_PEER_ADDRESS, e->peer_address);
                tlsd_msg_put_u32(&m, TLSD_A_PEER_PORT, e->peer_port);
                put_engine_info(&m, e->info);
                if (e->info->sni[0])
                        tlsd_msg_put_str_lossy(&m, TLSD_A_SNI, e->info->sni);
                tlsd_msg_put_u64(&m, TLSD_A_HANDSHAKE_USEC, e->handshake_us);
                fds[n_fds++] = e->fd;
                break;
        case CORE_EVENT_HANDSHAKE_FAILED:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_HANDSHAKE_FAILED, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_u32(&m, TLSD_A_ERROR, (uint32_t) tlsd_error_from_errno(e->error));
                tlsd_msg_put_u32(&m, TLSD_A_ERRNO, (uint32_t) -e->error);
                if (e->message && *e->message)
                        tlsd_msg_put_str_lossy(&m, TLSD_A_MESSAGE, e->message);
                if (e->alert >= 0)
                        tlsd_msg_put_u32(&m, TLSD_A_ALERT, (uint32_t) e->alert);
                tlsd_msg_put_u32(&m, TLSD_A_VERIFY_RESULT, (uint32_t) e->verify);
                break;
        case CORE_EVENT_CERTIFICATE:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_CERTIFICATE, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_u32(&m, TLSD_A_VERIFY_RESULT, (uint32_t) e->verify);
                if (e->chain)
                        tlsd_msg_put(&m, TLSD_A_PEER_CHAIN, e->chain,
                                     e->chain_size > 65000 ? 65000 : e->chain_size);
                break;
        case CORE_EVENT_DISCONNECTED:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_DISCONNECTED, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_u32(&m, TLSD_A_REASON, (uint32_t) e->reason);
                if (e->alert >= 0)
                        tlsd_msg_put_u32(&m, TLSD_A_ALERT, (uint32_t) e->alert);
                tlsd_msg_put_u64(&m, TLSD_A_BYTES_IN, e->bytes_in);
                tlsd_msg_put_u64(&m, TLSD_A_BYTES_OUT, e->bytes_out);
                break;
        case CORE_EVENT_TIMEOUT:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_TIMEOUT, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_u32(&m, TLSD_A_RETRIES, e->retries);
                if (e->message)
                        tlsd_msg_put_str_lossy(&m, TLSD_A_MESSAGE, e->message);
                break;
        case CORE_EVENT_ACCEPT_FAILED:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_ACCEPT_FAILED, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_LISTENER_ID, e->listener);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_str(&m, TLSD_A_PEER_ADDRESS, e->peer_address);
                tlsd_msg_put_u32(&m, TLSD_A_PEER_PORT, e->peer_port);
                tlsd_msg_put_u32(&m, TLSD_A_ERROR, (uint32_t) tlsd_error_from_errno(e->error));
                tlsd_msg_put_u32(&m, TLSD_A_ERRNO, (uint32_t) -e->error);
                if (e->message && *e->message)
                        tlsd_msg_put_str_lossy(&m, TLSD_A_MESSAGE, e->message);
                if (e->alert >= 0)
                        tlsd_msg_put_u32(&m, TLSD_A_ALERT, (uint32_t) e->alert);
                tlsd_msg_put_u32(&m, TLSD_A_VERIFY_RESULT, (uint32_t) e->verify);
                tlsd_msg_put_u32(&m, TLSD_A_SUPPRESSED, e->suppressed);
                break;
        case CORE_EVENT_MESSAGE_TOO_LARGE:
                tlsd_msg_begin(&m, TLSD_MSG_EVENT_MESSAGE_TOO_LARGE, TLSD_F_EVENT, 0);
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, e->connection);
                tlsd_msg_put_u32(&m, TLSD_A_SIZE, (uint32_t) e->size);
                tlsd_msg_put_u32(&m, TLSD_A_MAX_MESSAGE, (uint32_t) e->max_message);
                tlsd_msg_put_u32(&m, TLSD_A_ERRNO, EMSGSIZE);
                break;
        }
        r = tlsd_msg_end(&m);
        if (r < 0)
                log_error_errno(r, "Event for connection %" PRIu64 " does not encode: %m",
                                e->connection);
        else
                r = unix_client_send(c, m.buf, m.size, fds, n_fds);
        tlsd_msg_done(&m);
        if (r < 0)
                unix_client_schedule_drop(c);
}

static const PeerOps unix_peer_ops = {
        .emit = unix_client_emit,
};

static void out_packet_free(OutPacket *p) {
        tlsd_close_fds(p->fds, p->n_fds);
        free(p);
}

static int flush_queue(UnixClient *c) {
        while (c->out_head) {
                OutPacket *p = c->out_head;
                int r;

                r = tlsd_send_packet(c->fd, p->data, p->size, p->fds, p->n_fds);
                if (r == -EAGAIN)
                        break;
                if (r < 0)
                        return r;
                c->out_head = p->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                c->out_bytes -= p->size;
                out_packet_free(p);
        }
        return sd_event_source_set_io_events(c->io, c->out_head ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

int unix_client_send(UnixClient *c, const void *buf, size_t size, const int *fds, unsigned n_fds) {
        Core *core = unix_server_core(c->server);
        OutPacket *p;
        int r;

        if (!c->out_head) {
                r = tlsd_send_packet(c->fd, buf, size, fds, n_fds);
                if (r != -EAGAIN)
                        return r;
        }

        if (c->out_bytes + size > core->config->client_queue_bytes) {
                log_warning("client %" PRIu64 " (uid %u) does not read its replies, "
                            "disconnecting",
                            c->peer->id, (unsigned) c->peer->uid);
                return -ENOBUFS;
        }

        p = malloc(sizeof(*p) + size);
        if (!p)
                return -ENOMEM;
        p->next = NULL;
        p->size = size;
        p->n_fds = 0;
        memcpy(p->data, buf, size);
        for (unsigned i = 0; i < n_fds; i++) {
                p->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (p->fds[i] < 0) {
                        r = -errno;
                        out_packet_free(p);
                        return r;
                }
                p->n_fds++;
        }
        if (c->out_tail)
                c->out_tail->next = p;
        else
                c->out_head = p;
        c->out_tail = p;
        c->out_bytes += size;
        return sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
}

static int send_error(UnixClient *c, uint16_t type, uint32_t id, int err, const char *message) {
        TlsdMsg m = TLSD_MSG_INIT;
        int r;

        r = tlsd_msg_build_error(&m, type, id, err, message);
        if (r >= 0)
                r = unix_client_send(c, m.buf, m.size, NULL, 0);
        tlsd_msg_done(&m);
        return r;
}

static int protocol_error(UnixClient *c, const TlsdMsgView *v) {
        Core *core = unix_server_core(c->server);
        char text[160];
        int r;

        if (v->error_attr)
                (void) snprintf(text, sizeof(text), "%s (attribute %s, type %u)",
                                tlsd_proto_error_name(v->error), tlsd_attr_name(v->error_attr),
                                v->error_attr);
        else
                (void) snprintf(text, sizeof(text), "%s", tlsd_proto_error_name(v->error));
        log_debug("client %" PRIu64 ": malformed message: %s", c->peer->id, text);

        r = send_error(c, v->header_valid ? v->header.type : 0, v->header_valid ? v->header.id : 0,
                       -EBADMSG, text);
        if (r < 0)
                return r;
        if (++c->n_protocol_errors >= core->config->max_protocol_errors) {
                log_notice("client %" PRIu64 " (uid %u) sent %u malformed messages, "
                           "disconnecting",
                           c->peer->id, (unsigned) c->peer->uid, c->n_protocol_errors);
                return -EBADMSG;
        }
        return 0;
}

static int dispatch(UnixClient *c, const TlsdMsgView *v, int *fds, unsigned n_fds) {
        TlsdMsg reply = TLSD_MSG_INIT;
        UnixRequest req = {
                .client = c,
                .msg = v,
                .fds = fds,
                .n_fds = n_fds,
                .reply = &reply,
        };
        int r;

        r = tlsd_msg_begin(&reply, (TlsdMsgType) v->header.type, TLSD_F_REPLY, v->header.id);
        if (r >= 0)
                r = handlers[v->header.type](&req);
        if (r >= 0) {
                r = tlsd_msg_end(&reply);
                if (r >= 0)
                        r = unix_client_send(c, reply.buf, reply.size, NULL, 0);
                else
                        log_error_errno(r, "Reply to %s does not encode: %m",
                                        tlsd_msg_type_name(v->header.type));
        } else
                r = send_error(c, v->header.type, v->header.id, r,
                               req.error[0] ? req.error : tlsd_strerror(tlsd_error_from_errno(r)));
        tlsd_msg_done(&reply);
        return r;
}

/* Returns < 0 when the client must be disconnected. */
static int receive_one(UnixClient *c) {
        uint8_t *buf = unix_server_buffer(c->server);
        int fds[TLSD_FDS_MAX];
        unsigned n_fds = 0;
        bool fds_truncated = false;
        TlsdMsgView v;
        ssize_t n;
        int r;

        n = tlsd_recv_packet(c->fd, buf, TLSD_MSG_MAX + 1, fds, &n_fds, &fds_truncated);
        if (n < 0)
                return (int) n;

        if (fds_truncated) {
                /* The bytes arrived whole: parse them for the type and id to echo. */
                tlsd_close_fds(fds, n_fds);
                (void) tlsd_msg_parse(buf, (size_t) n, 0, TLSD_DIR_TO_DAEMON, &v);
                v.error = TLSD_PROTO_FDS_TRUNCATED;
                v.error_attr = 0;
                r = protocol_error(c, &v);
        } else {
                r = tlsd_msg_parse(buf, (size_t) n, n_fds, TLSD_DIR_TO_DAEMON, &v);
                if (r < 0)
                        r = protocol_error(c, &v);
                else
                        r = dispatch(c, &v, fds, n_fds);
                tlsd_close_fds(fds, n_fds); /* whatever a handler did not take */
        }
        /* The request may have carried a private key or its password (Configure): the engine
         * keeps its own copy, this one must not stay in the buffer until the next request
         * overwrites as much of it. MSG_TRUNC: n may be more than was stored. */
        explicit_bzero(buf, (size_t) n < TLSD_MSG_MAX + 1 ? (size_t) n : TLSD_MSG_MAX + 1);
        return r;
}

/* Requests one client gets handled in one loop iteration at most, and the time after which
 * its batch ends early. */
#define UNIX_CLIENT_BATCH_MAX 32
#define UNIX_CLIENT_BATCH_USEC 1000

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        UnixClient *c = userdata;
        int r = 0;

        if (revents & EPOLLOUT) {
                r = flush_queue(c);
                if (r < 0)
                        goto drop;
        }
        if (revents & EPOLLIN) {
                /* A bounded batch, then back to the loop, which serves the other ready clients
                 * before this one again (its socket stays readable: epoll reports it on the
                 * next iteration). Bounded in requests and in time: a pipeline of costly
                 * requests (keys, CA bundles) must not hold up everyone else's. */
                uint64_t start = now_usec(CLOCK_MONOTONIC);

                for (unsigned i = 0; i < UNIX_CLIENT_BATCH_MAX && !c->dropping; i++) {
                        r = receive_one(c);
                        if (r == -EAGAIN)
                                break;
                        if (r < 0)
                                goto drop;
                        if (now_usec(CLOCK_MONOTONIC) - start >= UNIX_CLIENT_BATCH_USEC)
                                break;
                }
                return 0;
        }
        if (revents & (EPOLLHUP | EPOLLERR)) {
                r = -ECONNRESET;
                goto drop;
        }
        return 0;

drop:
        if (r != -ESHUTDOWN && r != -ECONNRESET && r != -EPIPE)
                log_debug_errno(r, "client %" PRIu64 ": dropping: %m", c->peer->id);
        unix_client_free(c);
        return 0;
}

int unix_client_new(UnixServer *s, int fd, UnixClient **ret) {
        Core *core = unix_server_core(s);
        _cleanup_close_ int cfd = fd;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        UnixClient *c;
        int r;

        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return log_warning_errno(-errno, "Cannot get peer credentials: %m");

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom();
        c->server = s;
        c->fd = -EBADF;

        r = peer_new(core, PEER_TRANSPORT_UNIX, cred.uid, cred.gid, cred.pid, &unix_peer_ops, c,
                     &c->peer);
        if (r < 0) {
                free(c);
                if (r == -EUSERS) {
                        /* Tell the client why before hanging up. */
                        TlsdMsg msg = TLSD_MSG_INIT;

                        log_warning("Refusing client uid=%u pid=%d: client limit reached",
                                    (unsigned) cred.uid, (int) cred.pid);
                        if (tlsd_msg_build_error(&msg, 0, 0, r,
                                                 "too many clients (MaxClients=, "
                                                 "MaxClientsPerUser=)") >= 0)
                                (void) tlsd_send_packet(cfd, msg.buf, msg.size, NULL, 0);
                        tlsd_msg_done(&msg);
                }
                return r;
        }

        c->fd = TAKE_FD(cfd);
        unix_server_link_client(s, c);
        r = sd_event_add_io(core->event, &c->io, c->fd, EPOLLIN, on_io, c);
        if (r < 0) {
                unix_client_free(c);
                return log_error_errno(r, "Cannot watch client socket: %m");
        }
        *ret = c;
        return 0;
}

static int on_drop(sd_event_source *s, void *userdata) {
        unix_client_free(userdata);
        return 0;
}

/* Disconnects the client from a fresh loop iteration: callers may be deep inside core code that
 * the client's objects belong to. */
void unix_client_schedule_drop(UnixClient *c) {
        Core *core = unix_server_core(c->server);

        if (c->dropping)
                return;
        c->dropping = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        if (sd_event_add_defer(core->event, &c->drop, on_drop, c) < 0)
                log_error("Cannot schedule disconnection of client %" PRIu64, c->peer->id);
}

UnixClient *unix_client_free(UnixClient *c) {
        if (!c)
                return NULL;
        c->drop = sd_event_source_disable_unref(c->drop);
        unix_server_unlink_client(c->server, c);
        while (c->out_head) {
                OutPacket *p = c->out_head;

                c->out_head = p->next;
                out_packet_free(p);
        }
        c->io = sd_event_source_disable_unref(c->io);
        c->fd = safe_close(c->fd);
        c->peer = peer_free(c->peer); /* tears down the client's core objects, silently */
        free(c);
        return NULL;
}
