/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtlsclient: request/reply bookkeeping over the shared wire codec. Each request gets a fresh
 * id; replies are matched by id, so blocking and async calls can interleave. The library never
 * blocks except inside a blocking call, and never longer than the timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "macro.h"
#include "proto.h"
#include "session-options.h"
#include "tlsd/client.h"
#include "transport.h"

#define _public_ __attribute__((visibility("default")))

typedef enum PendingKind {
        PENDING_DONE,
        PENDING_VERSION,
        PENDING_IDENTITY,
        PENDING_ID,
        PENDING_TICKET_STATS,
} PendingKind;

typedef struct Pending {
        struct Pending *next;
        uint32_t id;
        PendingKind kind;
        union {
                tlsc_done_cb done;
                tlsc_version_cb version;
                tlsc_identity_cb identity;
                tlsc_id_cb id;
                tlsc_ticket_stats_cb ticket_stats;
        } cb;
        uint16_t id_attr; /* PENDING_ID: the attribute carrying the new object's id */
        void *userdata;
} Pending;

typedef struct Outgoing {
        struct Outgoing *next;
        int fd; /* a descriptor to pass along (our own dup), or -EBADF */
        size_t size;
        uint8_t data[];
} Outgoing;

struct tlsc_client {
        int fd;
        uint32_t next_id;
        int timeout_ms;
        bool disconnected;
        int refused; /* error the daemon gave when it refused this connection */
        Pending *pending;
        Outgoing *out_head, *out_tail;
        uint8_t *buffer; /* TLSD_MSG_MAX + 1 */
        char error_message[1024];
        tlsc_event_cb event_cb;
        void *event_userdata;
};

/* The reply a blocking call is waiting for, filled by handle_message(). */
typedef struct Waiter {
        uint32_t id;
        bool done;
        int result;
        TlsdMsgView view; /* valid until the next receive */

        /* tlsc_connect(): the outcome event of one connection instead of a reply */
        uint64_t connection;
        tlsc_connection_info *info;
        int fd;
} Waiter;

_public_ const char *tlsc_default_socket_path(void) {
        static __thread char buf[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
        const char *e;

        e = getenv("TLSD_SOCKET");
        if (e && *e)
                return e;
        if (access("/run/tlsd/tlsd.sock", F_OK) == 0)
                return "/run/tlsd/tlsd.sock";
        e = getenv("XDG_RUNTIME_DIR");
        if (e && *e) {
                (void) snprintf(buf, sizeof(buf), "%s/tlsd/tlsd.sock", e);
                return buf;
        }
        return "/run/tlsd/tlsd.sock";
}

_public_ int tlsc_open(const char *path, tlsc_client **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        tlsc_client *c;

        /* On failure errno says why (documented): tlsc_close() must not change it. */
        if (!ret) {
                errno = EINVAL;
                return -TLSD_ERR_PARAM;
        }
        if (!path)
                path = tlsc_default_socket_path();
        if (strlen(path) >= sizeof(sa.sun_path)) {
                errno = ENAMETOOLONG;
                return -TLSD_ERR_PARAM;
        }
        strcpy(sa.sun_path, path);

        c = calloc(1, sizeof(*c));
        if (!c) {
                errno = ENOMEM;
                return -TLSD_ERR_MEM;
        }
        c->next_id = 1;
        c->timeout_ms = 25000;
        c->buffer = malloc(TLSD_MSG_MAX + 1);
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (!c->buffer || c->fd < 0) {
                int e = c->fd < 0 ? errno : ENOMEM;

                tlsc_close(c);
                errno = e;
                return -(int) tlsd_error_from_errno(-e);
        }
        /* connect() on a non-blocking unix socket completes at once or fails with EAGAIN when
         * the backlog is full; treat that as the daemon being overloaded. */
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;

                tlsc_close(c);
                errno = e;
                switch (e) {
                case ENOENT:
                case ECONNREFUSED:
                        return -TLSD_ERR_CONNECT;
                case EACCES:
                case EPERM:
                        return -TLSD_ERR_PERMISSION;
                case EAGAIN:
                        return -TLSD_ERR_LIMIT;
                default:
                        return -(int) tlsd_error_from_errno(-e);
                }
        }
        *ret = c;
        return 0;
}

static int result_of(tlsc_client *c, const TlsdMsgView *v);

static void fail_pending(tlsc_client *c, int result) {
        while (c->pending) {
                Pending *p = c->pending;

                c->pending = p->next;
                switch (p->kind) {
                case PENDING_DONE:
                        p->cb.done(c, result, p->userdata);
                        break;
                case PENDING_VERSION:
                        p->cb.version(c, result, NULL, p->userdata);
                        break;
                case PENDING_IDENTITY:
                        p->cb.identity(c, result, NULL, p->userdata);
                        break;
                case PENDING_ID:
                        p->cb.id(c, result, 0, p->userdata);
                        break;
                case PENDING_TICKET_STATS:
                        p->cb.ticket_stats(c, result, NULL, p->userdata);
                        break;
                }
                free(p);
        }
}

_public_ void tlsc_close(tlsc_client *c) {
        if (!c)
                return;
        c->disconnected = true;
        fail_pending(c, -TLSD_ERR_DISCONNECTED);
        while (c->out_head) {
                Outgoing *o = c->out_head;

                c->out_head = o->next;
                safe_close(o->fd);
                free(o);
        }
        c->fd = safe_close(c->fd);
        free(c->buffer);
        free(c);
}

_public_ void tlsc_set_timeout(tlsc_client *c, int timeout_ms) {
        if (c)
                c->timeout_ms = timeout_ms;
}

_public_ const char *tlsc_last_error_message(const tlsc_client *c) {
        return c ? c->error_message : "";
}

_public_ int tlsc_get_fd(const tlsc_client *c) {
        return c ? c->fd : -EBADF;
}

_public_ short tlsc_get_events(const tlsc_client *c) {
        return (short) (POLLIN | (c && c->out_head ? POLLOUT : 0));
}

_public_ unsigned tlsc_pending(const tlsc_client *c) {
        unsigned n = 0;

        if (!c)
                return 0;
        for (const Pending *p = c->pending; p; p = p->next)
                n++;
        return n;
}

/* When the daemon refuses a connection (limits) it sends one error with id 0 and hangs up; a
 * send can fail before we read it. Look for it in what is still queued to us. */
static void find_refusal(tlsc_client *c) {
        for (unsigned i = 0; i < 64 && !c->refused; i++) {
                int fds[TLSD_FDS_MAX];
                unsigned n_fds = 0;
                bool truncated;
                TlsdMsgView v;
                ssize_t n;

                n = tlsd_recv_packet(c->fd, c->buffer, TLSD_MSG_MAX + 1, fds, &n_fds, &truncated);
                if (n < 0)
                        return;
                tlsd_close_fds(fds, n_fds);
                if (tlsd_msg_parse(c->buffer, (size_t) n, 0, TLSD_DIR_FROM_DAEMON, &v) >= 0 &&
                    v.header.id == 0 && (v.header.flags & TLSD_F_ERROR))
                        c->refused = result_of(c, &v);
        }
}

static int disconnect(tlsc_client *c) {
        int r;

        if (!c->disconnected && !c->refused)
                find_refusal(c);
        r = c->refused ? c->refused : -TLSD_ERR_DISCONNECTED;
        if (!c->disconnected) {
                c->disconnected = true;
                if (!c->refused)
                        (void) snprintf(c->error_message, sizeof(c->error_message),
                                        "connection to tlsd lost");
                fail_pending(c, r);
        }
        return r;
}

static int flush(tlsc_client *c) {
        while (c->out_head) {
                Outgoing *o = c->out_head;
                int r = tlsd_send_packet(c->fd, o->data, o->size, &o->fd, o->fd >= 0 ? 1 : 0);

                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return disconnect(c);
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                safe_close(o->fd);
                free(o);
        }
        return 0;
}

/* Sends (or queues) a finished message, with a descriptor to pass if fd >= 0 (the caller keeps
 * its own). */
static int submit_fd(tlsc_client *c, TlsdMsg *m, int fd) {
        Outgoing *o;
        int r;

        if (c->disconnected)
                return c->refused ? c->refused : -TLSD_ERR_DISCONNECTED;
        r = tlsd_msg_end(m);
        if (r < 0)
                return r == -EMSGSIZE ? -TLSD_ERR_PARAM : -(int) tlsd_error_from_errno(r);
        if (!c->out_head) {
                r = tlsd_send_packet(c->fd, m->buf, m->size, &fd, fd >= 0 ? 1 : 0);
                if (r == 0)
                        return 0;
                if (r != -EAGAIN)
                        return disconnect(c);
        }
        o = malloc(sizeof(*o) + m->size);
        if (!o)
                return -TLSD_ERR_MEM;
        o->next = NULL;
        o->fd = -EBADF;
        if (fd >= 0) {
                o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (o->fd < 0) {
                        free(o);
                        return -TLSD_ERR_PARAM;
                }
        }
        o->size = m->size;
        memcpy(o->data, m->buf, m->size);
        if (c->out_tail)
                c->out_tail->next = o;
        else
                c->out_head = o;
        c->out_tail = o;
        return 0;
}

static int submit(tlsc_client *c, TlsdMsg *m) {
        return submit_fd(c, m, -EBADF);
}

static int result_of(tlsc_client *c, const TlsdMsgView *v) {
        const char *msg = NULL;
        uint32_t e = TLSD_ERR_INTERNAL;

        if (!(v->header.flags & TLSD_F_ERROR)) {
                c->error_message[0] = 0;
                return 0;
        }
        (void) tlsd_msg_get_u32(v, TLSD_A_ERROR, &e);
        if (e == 0 || e >= _TLSD_ERR_MAX)
                e = TLSD_ERR_INTERNAL;
        if (tlsd_msg_get_str(v, TLSD_A_MESSAGE, &msg) < 0)
                msg = tlsd_strerror((int) e);
        (void) snprintf(c->error_message, sizeof(c->error_message), "%s", msg);
        return -(int) e;
}

static void fill_version(const TlsdMsgView *v, tlsc_version *ret) {
        const char *s = "";
        uint32_t u = 0;

        memset(ret, 0, sizeof(*ret));
        (void) tlsd_msg_get_str(v, TLSD_A_VERSION_STRING, &s);
        (void) snprintf(ret->version, sizeof(ret->version), "%s", s);
        (void) tlsd_msg_get_u32(v, TLSD_A_PROTO_VERSION, &u);
        ret->protocol = u;
        s = "";
        (void) tlsd_msg_get_str(v, TLSD_A_TLS_LIBRARY, &s);
        (void) snprintf(ret->tls_library, sizeof(ret->tls_library), "%s", s);
}

static void fill_identity(const TlsdMsgView *v, tlsc_identity *ret) {
        uint32_t u = 0, g = 0, p = 0;

        (void) tlsd_msg_get_u32(v, TLSD_A_UID, &u);
        (void) tlsd_msg_get_u32(v, TLSD_A_GID, &g);
        (void) tlsd_msg_get_u32(v, TLSD_A_PID, &p);
        *ret = (tlsc_identity){ .uid = (uid_t) u, .gid = (gid_t) g, .pid = (pid_t) p };
}

static void fill_ticket_stats(const TlsdMsgView *v, tlsc_ticket_stats *ret) {
        uint32_t entries = 0;

        *ret = (tlsc_ticket_stats){};
        (void) tlsd_msg_get_u32(v, TLSD_A_TICKET_ENTRIES, &entries);
        ret->entries = entries;
        (void) tlsd_msg_get_u64(v, TLSD_A_TICKET_STORED, &ret->stored);
        (void) tlsd_msg_get_u64(v, TLSD_A_TICKET_HITS, &ret->hits);
        (void) tlsd_msg_get_u64(v, TLSD_A_TICKET_MISSES, &ret->misses);
        (void) tlsd_msg_get_u64(v, TLSD_A_TICKET_EXPIRED, &ret->expired);
        (void) tlsd_msg_get_u64(v, TLSD_A_TICKET_EVICTED, &ret->evicted);
        (void) tlsd_msg_get_u64(v, TLSD_A_TICKET_REJECTED, &ret->rejected);
}

static void complete_pending(tlsc_client *c, Pending *p, const TlsdMsgView *v) {
        int r = result_of(c, v);

        switch (p->kind) {
        case PENDING_DONE:
                p->cb.done(c, r, p->userdata);
                break;
        case PENDING_VERSION: {
                tlsc_version ver;

                if (r >= 0)
                        fill_version(v, &ver);
                p->cb.version(c, r, r >= 0 ? &ver : NULL, p->userdata);
                break;
        }
        case PENDING_IDENTITY: {
                tlsc_identity id;

                if (r >= 0)
                        fill_identity(v, &id);
                p->cb.identity(c, r, r >= 0 ? &id : NULL, p->userdata);
                break;
        }
        case PENDING_ID: {
                uint64_t id = 0;

                if (r >= 0 && tlsd_msg_get_u64(v, (TlsdAttrType) p->id_attr, &id) < 0)
                        r = -TLSD_ERR_PROTOCOL;
                p->cb.id(c, r, id, p->userdata);
                break;
        }
        case PENDING_TICKET_STATS: {
                tlsc_ticket_stats st;

                if (r >= 0)
                        fill_ticket_stats(v, &st);
                p->cb.ticket_stats(c, r, r >= 0 ? &st : NULL, p->userdata);
                break;
        }
        }
}

static void copy_str(char *dst, size_t size, const TlsdMsgView *v, TlsdAttrType a) {
        const char *s = "";

        (void) tlsd_msg_get_str(v, a, &s);
        (void) snprintf(dst, size, "%s", s);
}

static void fill_info(const TlsdMsgView *v, tlsc_connection_info *i) {
        uint32_t u;

        memset(i, 0, sizeof(*i));
        i->alert = -1;
        if (tlsd_msg_get_u32(v, TLSD_A_STATE, &u) >= 0)
                i->state = (int) u;
        copy_str(i->version, sizeof(i->version), v, TLSD_A_TLS_VERSION);
        copy_str(i->cipher, sizeof(i->cipher), v, TLSD_A_CIPHER);
        copy_str(i->group, sizeof(i->group), v, TLSD_A_GROUP);
        copy_str(i->alpn, sizeof(i->alpn), v, TLSD_A_ALPN_SELECTED);
        copy_str(i->peer_subject, sizeof(i->peer_subject), v, TLSD_A_PEER_SUBJECT);
        copy_str(i->message, sizeof(i->message), v, TLSD_A_MESSAGE);
        if (tlsd_msg_get_u32(v, TLSD_A_VERIFY_RESULT, &u) >= 0)
                i->verify_result = (int) u;
        if (tlsd_msg_get_u32(v, TLSD_A_RESUMED, &u) >= 0)
                i->resumed = u != 0;
        if (tlsd_msg_get_u32(v, TLSD_A_ALERT, &u) >= 0)
                i->alert = (int) u;
        if (tlsd_msg_get_u32(v, TLSD_A_ERROR, &u) >= 0)
                i->error = -(int) (u > 0 && u < _TLSD_ERR_MAX ? u : TLSD_ERR_INTERNAL);
        (void) tlsd_msg_get_u64(v, TLSD_A_BYTES_IN, &i->bytes_in);
        (void) tlsd_msg_get_u64(v, TLSD_A_BYTES_OUT, &i->bytes_out);
        (void) tlsd_msg_get_u64(v, TLSD_A_HANDSHAKE_USEC, &i->handshake_us);
        if (tlsd_msg_get_u32(v, TLSD_A_TRANSPORT, &u) >= 0)
                i->transport = (int) u;
        if (tlsd_msg_get_u32(v, TLSD_A_MAX_MESSAGE, &u) >= 0)
                i->max_message = u;
        if (tlsd_msg_get_u32(v, TLSD_A_CID_IN_USE, &u) >= 0)
                i->cid_in_use = u != 0;
}

/* Routes one event: to a blocking tlsc_connect() waiting for it, else to the handler. */
static void handle_event(tlsc_client *c, const TlsdMsgView *v, int fd, Waiter *w) {
        tlsc_connection_info info;
        tlsc_event ev = { .fd = -EBADF, .alert = -1 };
        uint64_t id = 0;
        uint32_t u;

        (void) tlsd_msg_get_u64(v, TLSD_A_CONNECTION_ID, &id);
        ev.connection = id;
        switch (v->header.type) {
        case TLSD_MSG_EVENT_HANDSHAKE_DONE:
        case TLSD_MSG_EVENT_HANDSHAKE_FAILED:
                fill_info(v, &info);
                if (v->header.type == TLSD_MSG_EVENT_HANDSHAKE_DONE) {
                        ev.type = TLSC_EVENT_HANDSHAKE_DONE;
                        info.state = TLSC_STATE_OPERATING;
                        ev.fd = fd;
                        fd = -EBADF;
                } else {
                        ev.type = TLSC_EVENT_HANDSHAKE_FAILED;
                        info.state = TLSC_STATE_CLOSED;
                }
                ev.info = &info;
                if (w && w->connection == id && id != 0) {
                        if (w->info)
                                *w->info = info;
                        w->done = true;
                        w->fd = ev.fd;
                        w->result = ev.type == TLSC_EVENT_HANDSHAKE_DONE ? 0 : info.error;
                        if (w->result < 0)
                                (void) snprintf(c->error_message, sizeof(c->error_message), "%s",
                                                info.message);
                        return;
                }
                break;
        case TLSD_MSG_EVENT_ACCEPTED: {
                const char *str = NULL;

                fill_info(v, &info);
                info.state = TLSC_STATE_OPERATING;
                ev.type = TLSC_EVENT_ACCEPTED;
                ev.info = &info;
                ev.fd = fd;
                fd = -EBADF;
                (void) tlsd_msg_get_u64(v, TLSD_A_LISTENER_ID, &ev.listener);
                if (tlsd_msg_get_str(v, TLSD_A_PEER_ADDRESS, &str) >= 0)
                        ev.peer_address = str;
                if (tlsd_msg_get_u32(v, TLSD_A_PEER_PORT, &u) >= 0)
                        ev.peer_port = u;
                if (tlsd_msg_get_str(v, TLSD_A_SNI, &str) >= 0)
                        ev.sni = str;
                break;
        }
        case TLSD_MSG_EVENT_CERTIFICATE:
                ev.type = TLSC_EVENT_CERTIFICATE;
                if (tlsd_msg_get_u32(v, TLSD_A_VERIFY_RESULT, &u) >= 0)
                        ev.verify_result = (int) u;
                {
                        const void *chain = NULL;

                        (void) tlsd_msg_get_bytes(v, TLSD_A_PEER_CHAIN, &chain, &ev.chain_size);
                        ev.chain = chain;
                }
                break;
        case TLSD_MSG_EVENT_DISCONNECTED:
                ev.type = TLSC_EVENT_DISCONNECTED;
                if (tlsd_msg_get_u32(v, TLSD_A_REASON, &u) >= 0)
                        ev.reason = (int) u;
                if (tlsd_msg_get_u32(v, TLSD_A_ALERT, &u) >= 0)
                        ev.alert = (int) u;
                (void) tlsd_msg_get_u64(v, TLSD_A_BYTES_IN, &ev.bytes_in);
                (void) tlsd_msg_get_u64(v, TLSD_A_BYTES_OUT, &ev.bytes_out);
                break;
        case TLSD_MSG_EVENT_TIMEOUT: {
                const char *str = "";

                ev.type = TLSC_EVENT_TIMEOUT;
                if (tlsd_msg_get_u32(v, TLSD_A_RETRIES, &u) >= 0)
                        ev.retries = u;
                (void) tlsd_msg_get_str(v, TLSD_A_MESSAGE, &str);
                ev.message = str;
                if (w && w->connection == id && id != 0) {
                        /* A blocking connect ends here; the connection stays for a retry. */
                        if (w->info) {
                                memset(w->info, 0, sizeof(*w->info));
                                w->info->state = TLSC_STATE_HANDSHAKE;
                                w->info->alert = -1;
                                w->info->error = -TLSD_ERR_TIMEOUT;
                                (void) snprintf(w->info->message, sizeof(w->info->message), "%s",
                                                str);
                        }
                        w->done = true;
                        w->fd = -EBADF;
                        w->result = -TLSD_ERR_TIMEOUT;
                        (void) snprintf(c->error_message, sizeof(c->error_message), "%s", str);
                        return;
                }
                break;
        }
        case TLSD_MSG_EVENT_ACCEPT_FAILED: {
                const char *str = NULL;

                /* Not a connection of the app's (it never was announced): no waiter. */
                fill_info(v, &info);
                info.state = TLSC_STATE_CLOSED;
                ev.type = TLSC_EVENT_ACCEPT_FAILED;
                ev.info = &info;
                ev.message = info.message;
                ev.alert = info.alert;
                ev.verify_result = info.verify_result;
                (void) tlsd_msg_get_u64(v, TLSD_A_LISTENER_ID, &ev.listener);
                if (tlsd_msg_get_str(v, TLSD_A_PEER_ADDRESS, &str) >= 0)
                        ev.peer_address = str;
                if (tlsd_msg_get_u32(v, TLSD_A_PEER_PORT, &u) >= 0)
                        ev.peer_port = u;
                if (tlsd_msg_get_u32(v, TLSD_A_SUPPRESSED, &u) >= 0)
                        ev.suppressed = u;
                break;
        }
        case TLSD_MSG_EVENT_MESSAGE_TOO_LARGE:
                ev.type = TLSC_EVENT_MESSAGE_TOO_LARGE;
                if (tlsd_msg_get_u32(v, TLSD_A_SIZE, &u) >= 0)
                        ev.size = u;
                if (tlsd_msg_get_u32(v, TLSD_A_MAX_MESSAGE, &u) >= 0)
                        ev.max_message = u;
                break;
        default:
                safe_close(fd);
                return;
        }
        if (c->event_cb)
                c->event_cb(c, &ev, c->event_userdata);
        safe_close(ev.fd);
        safe_close(fd);
}

_public_ void tlsc_set_event_handler(tlsc_client *c, tlsc_event_cb cb, void *userdata) {
        c->event_cb = cb;
        c->event_userdata = userdata;
}

/* Receives one message and routes it. Returns 1 if one was handled, 0 if none was pending. */
static int receive_one(tlsc_client *c, Waiter *w) {
        int fds[TLSD_FDS_MAX];
        unsigned n_fds = 0;
        bool truncated;
        TlsdMsgView v;
        ssize_t n;

        n = tlsd_recv_packet(c->fd, c->buffer, TLSD_MSG_MAX + 1, fds, &n_fds, &truncated);
        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return disconnect(c);

        if (tlsd_msg_parse(c->buffer, (size_t) n, n_fds, TLSD_DIR_FROM_DAEMON, &v) < 0) {
                tlsd_close_fds(fds, n_fds);
                return 1; /* a newer daemon's message we cannot read: skip it */
        }

        if (v.header.flags & TLSD_F_EVENT) {
                handle_event(c, &v, n_fds > 0 ? fds[0] : -EBADF, w);
                return 1;
        }
        tlsd_close_fds(fds, n_fds);

        if (w && w->id != 0 && v.header.id == w->id) {
                w->done = true;
                w->result = result_of(c, &v);
                w->view = v;
                return 1;
        }
        for (Pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
                Pending *p = *pp;

                if (p->id != v.header.id)
                        continue;
                *pp = p->next;
                complete_pending(c, p, &v);
                free(p);
                return 1;
        }
        /* An id of 0 with an error: the daemon refused us before any request (limits). */
        if (v.header.id == 0 && (v.header.flags & TLSD_F_ERROR))
                c->refused = result_of(c, &v);
        return 1;
}

_public_ int tlsc_dispatch(tlsc_client *c) {
        int n = 0, r;

        if (!c)
                return -TLSD_ERR_PARAM;
        if (c->disconnected)
                return c->refused ? c->refused : -TLSD_ERR_DISCONNECTED;
        r = flush(c);
        if (r < 0)
                return r;
        for (;;) {
                r = receive_one(c, NULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        return n;
                n++;
        }
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t new_id(tlsc_client *c) {
        uint32_t id = c->next_id++;

        if (c->next_id == 0)
                c->next_id = 1;
        return id;
}

/* Sends m (already begun with id w->id) and waits for the matching reply. */
static int call_submitted(tlsc_client *c, Waiter *w);

static int call(tlsc_client *c, TlsdMsg *m, Waiter *w) {
        int r;

        r = submit(c, m);
        if (r < 0)
                return r;
        return call_submitted(c, w);
}

/* Waits for the reply to the request already sent with id w->id. */
static int call_submitted(tlsc_client *c, Waiter *w) {
        int64_t deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms : -1;
        int r;

        while (!w->done) {
                struct pollfd pfd = { .fd = c->fd, .events = tlsc_get_events(c) };
                int timeout = -1;

                r = flush(c);
                if (r < 0)
                        return r;
                r = receive_one(c, w);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (deadline >= 0) {
                        int64_t left = deadline - now_ms();

                        if (left <= 0) {
                                (void) snprintf(c->error_message, sizeof(c->error_message),
                                                "no reply from tlsd within %d ms", c->timeout_ms);
                                return -TLSD_ERR_TIMEOUT;
                        }
                        timeout = (int) left;
                }
                pfd.events = tlsc_get_events(c);
                r = poll(&pfd, 1, timeout);
                if (r < 0 && errno != EINTR)
                        return disconnect(c);
        }
        return w->result;
}

static int begin(tlsc_client *c, TlsdMsg *m, TlsdMsgType type, uint32_t *ret_id) {
        uint32_t id = new_id(c);
        int r = tlsd_msg_begin(m, type, 0, id);

        if (r < 0)
                return -TLSD_ERR_MEM;
        *ret_id = id;
        return 0;
}

static int call_simple(tlsc_client *c, TlsdMsgType type, const void *payload, size_t size,
                       Waiter *w) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        int r;

        if (!c)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, type, &w->id);
        if (r < 0)
                return r;
        if (payload)
                tlsd_msg_put(&m, TLSD_A_PAYLOAD, payload, size);
        return call(c, &m, w);
}

_public_ int tlsc_ping(tlsc_client *c, const void *payload, size_t size) {
        Waiter w = {};
        const void *back;
        size_t n;
        int r;

        if (size > 4096 || (size > 0 && !payload))
                return -TLSD_ERR_PARAM;
        r = call_simple(c, TLSD_MSG_PING, payload, size, &w);
        if (r < 0)
                return r;
        if (payload && size > 0) {
                if (tlsd_msg_get_bytes(&w.view, TLSD_A_PAYLOAD, &back, &n) < 0 || n != size ||
                    memcmp(back, payload, size) != 0)
                        return -TLSD_ERR_PROTOCOL;
        }
        return 0;
}

_public_ int tlsc_get_version(tlsc_client *c, tlsc_version *ret) {
        Waiter w = {};
        int r;

        if (!ret)
                return -TLSD_ERR_PARAM;
        r = call_simple(c, TLSD_MSG_VERSION, NULL, 0, &w);
        if (r < 0)
                return r;
        fill_version(&w.view, ret);
        return 0;
}

_public_ int tlsc_whoami(tlsc_client *c, tlsc_identity *ret) {
        Waiter w = {};
        int r;

        if (!ret)
                return -TLSD_ERR_PARAM;
        r = call_simple(c, TLSD_MSG_WHOAMI, NULL, 0, &w);
        if (r < 0)
                return r;
        fill_identity(&w.view, ret);
        return 0;
}

static int call_async(tlsc_client *c, TlsdMsgType type, const void *payload, size_t size,
                      Pending *proto) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Pending *p;
        int r;

        if (!c)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, type, &proto->id);
        if (r < 0)
                return r;
        if (payload)
                tlsd_msg_put(&m, TLSD_A_PAYLOAD, payload, size);
        p = malloc(sizeof(*p));
        if (!p)
                return -TLSD_ERR_MEM;
        *p = *proto;
        r = submit(c, &m);
        if (r < 0) {
                free(p);
                return r;
        }
        p->next = c->pending;
        c->pending = p;
        return 0;
}

_public_ int tlsc_ping_async(tlsc_client *c, const void *payload, size_t size, tlsc_done_cb cb,
                             void *userdata) {
        Pending p = { .kind = PENDING_DONE, .cb.done = cb, .userdata = userdata };

        if (!cb || size > 4096 || (size > 0 && !payload))
                return -TLSD_ERR_PARAM;
        return call_async(c, TLSD_MSG_PING, payload, size, &p);
}

_public_ int tlsc_get_version_async(tlsc_client *c, tlsc_version_cb cb, void *userdata) {
        Pending p = { .kind = PENDING_VERSION, .cb.version = cb, .userdata = userdata };

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_async(c, TLSD_MSG_VERSION, NULL, 0, &p);
}

_public_ int tlsc_whoami_async(tlsc_client *c, tlsc_identity_cb cb, void *userdata) {
        Pending p = { .kind = PENDING_IDENTITY, .cb.identity = cb, .userdata = userdata };

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_async(c, TLSD_MSG_WHOAMI, NULL, 0, &p);
}

_public_ int tlsc_get_ticket_stats(tlsc_client *c, tlsc_ticket_stats *ret) {
        Waiter w = {};
        int r;

        if (!ret)
                return -TLSD_ERR_PARAM;
        r = call_simple(c, TLSD_MSG_TICKET_STATS, NULL, 0, &w);
        if (r < 0)
                return r;
        fill_ticket_stats(&w.view, ret);
        return 0;
}

_public_ int tlsc_get_ticket_stats_async(tlsc_client *c, tlsc_ticket_stats_cb cb, void *userdata) {
        Pending p = { .kind = PENDING_TICKET_STATS, .cb.ticket_stats = cb, .userdata = userdata };

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_async(c, TLSD_MSG_TICKET_STATS, NULL, 0, &p);
}

/* ---- sessions and connections ---- */

/* Sends a built request: with `async` it is queued and answered through its callback, else the
 * call blocks for the reply (in *w). */
static int finish_request(tlsc_client *c, TlsdMsg *m, const Pending *async, Waiter *w) {
        Pending *p;
        int r;

        if (!async)
                return call(c, m, w);
        p = malloc(sizeof(*p));
        if (!p)
                return -TLSD_ERR_MEM;
        *p = *async;
        p->id = w->id;
        r = submit(c, m);
        if (r < 0) {
                free(p);
                return r;
        }
        p->next = c->pending;
        c->pending = p;
        return 0;
}

/* The public options in the codec's terms (common/session-options.h), whose table writes
 * them: a field left zero is not sent, so the daemon keeps its default or current value. */
static void put_session_options(TlsdMsg *m, const tlsc_session_options *p, bool create) {
        TlsdSessionOptions o;

        if (!p)
                return;
        o = (TlsdSessionOptions){
                /* one end given: the other is the daemon's default, as if absent */
                .has_versions = p->version_min || p->version_max,
                .version_min = p->version_min ? p->version_min : TLSD_SESSION_VERSION_MIN_DEFAULT,
                .version_max = p->version_max ? p->version_max : TLSD_SESSION_VERSION_MAX_DEFAULT,
                .ciphers = p->ciphers,
                .has_legacy = p->legacy,
                .legacy = true,
                .groups = p->groups,
                .cert = p->cert,
                .cert_size = p->cert_size,
                .key = p->key,
                .key_size = p->key_size,
                .key_password = p->key_password,
                .psk_identity = p->psk_identity,
                .psk_key = p->psk_key,
                .psk_key_size = p->psk_key_size,
                .ca = p->ca,
                .ca_size = p->ca_size,
                .system_trust = p->system_trust,
                .has_verify = p->verify_mode,
                .verify = (unsigned) p->verify_mode,
                .pin = p->pin,
                .pin_size = p->pin ? 32 : 0,
                .alpn = p->alpn,
                .server_name = p->server_name,
                .has_handshake_timeout = p->handshake_timeout_ms,
                .handshake_timeout_ms = p->handshake_timeout_ms,
                .has_client_auth = p->client_auth,
                .client_auth = (unsigned) p->client_auth,
                .has_transport = p->transport,
                .transport = (unsigned) p->transport,
                .has_dtls_timeout_initial = p->dtls_timeout_initial_ms,
                .dtls_timeout_initial_ms = p->dtls_timeout_initial_ms,
                .has_dtls_timeout_max = p->dtls_timeout_max_ms,
                .dtls_timeout_max_ms = p->dtls_timeout_max_ms,
                .has_dtls_retries = p->dtls_retries,
                .dtls_retries = p->dtls_retries,
                .has_mtu = p->mtu,
                .mtu = p->mtu,
                .has_dtls_cid = p->dtls_cid,
                .dtls_cid = true,
                .has_idle_timeout = p->idle_timeout_ms,
                .idle_timeout_ms = p->idle_timeout_ms,
                .has_resume = p->no_resume,
                .resume = false,
        };
        tlsd_session_options_put(m, &o, create);
}

static int session_create(tlsc_client *c, int role, const tlsc_session_options *o,
                          uint64_t *ret_session, const Pending *async) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        int r;

        if (!c || !ret_session || role < 0)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_SESSION_CREATE, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u32(&m, TLSD_A_ROLE, (uint32_t) role);
        put_session_options(&m, o, true);
        r = finish_request(c, &m, async, &w);
        if (r < 0 || async)
                return r;
        return tlsd_msg_get_u64(&w.view, TLSD_A_SESSION_ID, ret_session) < 0 ? -TLSD_ERR_PROTOCOL
                                                                             : 0;
}

static int session_configure(tlsc_client *c, uint64_t session, const tlsc_session_options *o,
                             const Pending *async) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        int r;

        if (!c)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_SESSION_CONFIGURE, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, TLSD_A_SESSION_ID, session);
        put_session_options(&m, o, false);
        return finish_request(c, &m, async, &w);
}

static int call_with_id(tlsc_client *c, TlsdMsgType type, TlsdAttrType a, uint64_t id,
                        const Pending *async, Waiter *w) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        int r;

        if (!c)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, type, &w->id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, a, id);
        return finish_request(c, &m, async, w);
}

static int connection_create(tlsc_client *c, uint64_t session, int family, uint64_t *ret_connection,
                             const Pending *async) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        int r;

        if (!c || !ret_connection || family < 0)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_CONNECTION_CREATE, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, TLSD_A_SESSION_ID, session);
        if (family)
                tlsd_msg_put_u32(&m, TLSD_A_FAMILY, (uint32_t) family);
        r = finish_request(c, &m, async, &w);
        if (r < 0 || async)
                return r;
        return tlsd_msg_get_u64(&w.view, TLSD_A_CONNECTION_ID, ret_connection) < 0
                       ? -TLSD_ERR_PROTOCOL
                       : 0;
}

static int connection_bind(tlsc_client *c, uint64_t connection, const char *address, unsigned port,
                           const Pending *async) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        int r;

        if (!c)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_CONNECTION_BIND, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, connection);
        if (address)
                tlsd_msg_put_str(&m, TLSD_A_ADDRESS, address);
        tlsd_msg_put_u32(&m, TLSD_A_PORT, port);
        return finish_request(c, &m, async, &w);
}

static int connection_connect(tlsc_client *c, uint64_t connection, const char *host, unsigned port,
                              const char *sni, uint64_t ticket, const Pending *async) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        int r;

        if (!c || !host)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_CONNECTION_CONNECT, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, connection);
        tlsd_msg_put_str(&m, TLSD_A_HOST, host);
        tlsd_msg_put_u32(&m, TLSD_A_PORT, port);
        if (sni)
                tlsd_msg_put_str(&m, TLSD_A_SERVER_NAME, sni);
        if (ticket)
                tlsd_msg_put_u64(&m, TLSD_A_TICKET_ID, ticket);
        return finish_request(c, &m, async, &w);
}

/* Blocking and async public forms of each operation. */
#define DONE_ASYNC(cb, ud) (&(Pending){ .kind = PENDING_DONE, .cb.done = (cb), .userdata = (ud) })
#define ID_ASYNC(cb, ud, attr)                                                                     \
        (&(Pending){ .kind = PENDING_ID, .cb.id = (cb), .id_attr = (attr), .userdata = (ud) })

_public_ int tlsc_session_create(tlsc_client *c, int role, const tlsc_session_options *o,
                                 uint64_t *ret_session) {
        return session_create(c, role, o, ret_session, NULL);
}

_public_ int tlsc_session_create_async(tlsc_client *c, int role, const tlsc_session_options *o,
                                       tlsc_id_cb cb, void *userdata) {
        uint64_t unused;

        if (!cb)
                return -TLSD_ERR_PARAM;
        return session_create(c, role, o, &unused, ID_ASYNC(cb, userdata, TLSD_A_SESSION_ID));
}

_public_ int tlsc_session_configure(tlsc_client *c, uint64_t session,
                                    const tlsc_session_options *o) {
        return session_configure(c, session, o, NULL);
}

_public_ int tlsc_session_configure_async(tlsc_client *c, uint64_t session,
                                          const tlsc_session_options *o, tlsc_done_cb cb,
                                          void *userdata) {
        if (!cb)
                return -TLSD_ERR_PARAM;
        return session_configure(c, session, o, DONE_ASYNC(cb, userdata));
}

_public_ int tlsc_session_destroy(tlsc_client *c, uint64_t session) {
        Waiter w = {};

        return call_with_id(c, TLSD_MSG_SESSION_DESTROY, TLSD_A_SESSION_ID, session, NULL, &w);
}

_public_ int tlsc_session_destroy_async(tlsc_client *c, uint64_t session, tlsc_done_cb cb,
                                        void *userdata) {
        Waiter w = {};

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_with_id(c, TLSD_MSG_SESSION_DESTROY, TLSD_A_SESSION_ID, session,
                            DONE_ASYNC(cb, userdata), &w);
}

_public_ int tlsc_connection_create(tlsc_client *c, uint64_t session, int family,
                                    uint64_t *ret_connection) {
        return connection_create(c, session, family, ret_connection, NULL);
}

_public_ int tlsc_connection_create_async(tlsc_client *c, uint64_t session, int family,
                                          tlsc_id_cb cb, void *userdata) {
        uint64_t unused;

        if (!cb)
                return -TLSD_ERR_PARAM;
        return connection_create(c, session, family, &unused,
                                 ID_ASYNC(cb, userdata, TLSD_A_CONNECTION_ID));
}

_public_ int tlsc_connection_bind(tlsc_client *c, uint64_t connection, const char *address,
                                  unsigned port) {
        return connection_bind(c, connection, address, port, NULL);
}

_public_ int tlsc_connection_bind_async(tlsc_client *c, uint64_t connection, const char *address,
                                        unsigned port, tlsc_done_cb cb, void *userdata) {
        if (!cb)
                return -TLSD_ERR_PARAM;
        return connection_bind(c, connection, address, port, DONE_ASYNC(cb, userdata));
}

_public_ int tlsc_connection_connect(tlsc_client *c, uint64_t connection, const char *host,
                                     unsigned port, const char *sni) {
        return connection_connect(c, connection, host, port, sni, 0, NULL);
}

_public_ int tlsc_connection_connect_async(tlsc_client *c, uint64_t connection, const char *host,
                                           unsigned port, const char *sni, tlsc_done_cb cb,
                                           void *userdata) {
        if (!cb)
                return -TLSD_ERR_PARAM;
        return connection_connect(c, connection, host, port, sni, 0, DONE_ASYNC(cb, userdata));
}

_public_ int tlsc_connection_connect_ticket(tlsc_client *c, uint64_t connection, const char *host,
                                            unsigned port, const char *sni, uint64_t ticket) {
        return connection_connect(c, connection, host, port, sni, ticket, NULL);
}

_public_ int tlsc_connection_connect_ticket_async(tlsc_client *c, uint64_t connection,
                                                  const char *host, unsigned port, const char *sni,
                                                  uint64_t ticket, tlsc_done_cb cb,
                                                  void *userdata) {
        if (!cb)
                return -TLSD_ERR_PARAM;
        return connection_connect(c, connection, host, port, sni, ticket, DONE_ASYNC(cb, userdata));
}

_public_ int tlsc_get_ticket(tlsc_client *c, uint64_t connection, uint64_t *ret_ticket) {
        Waiter w = {};
        int r;

        if (!ret_ticket)
                return -TLSD_ERR_PARAM;
        r = call_with_id(c, TLSD_MSG_GET_TICKET, TLSD_A_CONNECTION_ID, connection, NULL, &w);
        if (r < 0)
                return r;
        return tlsd_msg_get_u64(&w.view, TLSD_A_TICKET_ID, ret_ticket) < 0 ? -TLSD_ERR_PROTOCOL : 0;
}

_public_ int tlsc_get_ticket_async(tlsc_client *c, uint64_t connection, tlsc_id_cb cb,
                                   void *userdata) {
        Waiter w = {};

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_with_id(c, TLSD_MSG_GET_TICKET, TLSD_A_CONNECTION_ID, connection,
                            ID_ASYNC(cb, userdata, TLSD_A_TICKET_ID), &w);
}

/* Waits for the outcome event of a connection (HandshakeDone or HandshakeFailed). */
static int wait_outcome_inner(tlsc_client *c, uint64_t connection, tlsc_connection_info *ret);
static void failed_info(tlsc_client *c, int r, tlsc_connection_info *ret);

static int wait_outcome(tlsc_client *c, uint64_t connection, tlsc_connection_info *ret) {
        int r = wait_outcome_inner(c, connection, ret);

        /* Whatever ended the wait, *ret says why (the event filled it when there was one). */
        if (r < 0 && ret && ret->error == 0)
                failed_info(c, r, ret);
        return r;
}

static int wait_outcome_inner(tlsc_client *c, uint64_t connection, tlsc_connection_info *ret) {
        Waiter w = { .connection = connection, .info = ret, .fd = -EBADF };
        int64_t deadline;
        int r;

        if (ret)
                memset(ret, 0, sizeof(*ret));

        /* The handshake has its own timeout in the daemon; this one only guards against a
         * daemon that stopped answering. */
        deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms + 600000 : -1;
        while (!w.done) {
                struct pollfd pfd = { .fd = c->fd, .events = tlsc_get_events(c) };

                r = flush(c);
                if (r < 0)
                        return r;
                r = receive_one(c, &w);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (deadline >= 0 && now_ms() > deadline)
                        return -TLSD_ERR_TIMEOUT;
                if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
                        return disconnect(c);
        }
        return w.result < 0 ? w.result : w.fd;
}

static void failed_info(tlsc_client *c, int r, tlsc_connection_info *ret) {
        if (!ret)
                return;
        if (!c) {
                memset(ret, 0, sizeof(*ret));
                ret->error = r;
                ret->alert = -1;
                return;
        }
        memset(ret, 0, sizeof(*ret));
        ret->error = r;
        ret->alert = -1;
        (void) snprintf(ret->message, sizeof(ret->message), "%s", c->error_message);
}

_public_ int tlsc_connect(tlsc_client *c, uint64_t connection, const char *host, unsigned port,
                          const char *sni, tlsc_connection_info *ret) {
        return tlsc_connect_ticket(c, connection, host, port, sni, 0, ret);
}

_public_ int tlsc_connect_ticket(tlsc_client *c, uint64_t connection, const char *host,
                                 unsigned port, const char *sni, uint64_t ticket,
                                 tlsc_connection_info *ret) {
        int r;

        if (!c) {
                failed_info(NULL, -TLSD_ERR_PARAM, ret);
                return -TLSD_ERR_PARAM;
        }
        r = connection_connect(c, connection, host, port, sni, ticket, NULL);
        if (r < 0) {
                failed_info(c, r, ret);
                return r;
        }
        return wait_outcome(c, connection, ret);
}

static int adopt(tlsc_client *c, uint64_t session, int fd, const char *host, const char *sni,
                 const Pending *async, uint64_t *ret_connection) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        Pending *p = NULL;
        int r;

        if (!c || fd < 0)
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_ADOPT, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, TLSD_A_SESSION_ID, session);
        if (host)
                tlsd_msg_put_str(&m, TLSD_A_HOST, host);
        if (sni)
                tlsd_msg_put_str(&m, TLSD_A_SERVER_NAME, sni);
        if (async) {
                p = malloc(sizeof(*p));
                if (!p)
                        return -TLSD_ERR_MEM;
                *p = *async;
                p->id = w.id;
        }
        r = submit_fd(c, &m, fd);
        if (r < 0) {
                free(p);
                return r;
        }
        if (p) {
                p->next = c->pending;
                c->pending = p;
                return 0;
        }
        r = call_submitted(c, &w);
        if (r < 0)
                return r;
        return tlsd_msg_get_u64(&w.view, TLSD_A_CONNECTION_ID, ret_connection) < 0
                       ? -TLSD_ERR_PROTOCOL
                       : 0;
}

_public_ int tlsc_adopt(tlsc_client *c, uint64_t session, int fd, const char *host, const char *sni,
                        tlsc_connection_info *ret) {
        uint64_t conn = 0;
        int r;

        if (!c) {
                failed_info(NULL, -TLSD_ERR_PARAM, ret);
                return -TLSD_ERR_PARAM;
        }
        r = adopt(c, session, fd, host, sni, NULL, &conn);
        if (r < 0) {
                failed_info(c, r, ret);
                return r;
        }
        return wait_outcome(c, conn, ret);
}

_public_ int tlsc_adopt_async(tlsc_client *c, uint64_t session, int fd, const char *host,
                              const char *sni, tlsc_id_cb cb, void *userdata) {
        Pending p = { .kind = PENDING_ID,
                      .cb.id = cb,
                      .id_attr = TLSD_A_CONNECTION_ID,
                      .userdata = userdata };

        if (!cb)
                return -TLSD_ERR_PARAM;
        return adopt(c, session, fd, host, sni, &p, NULL);
}

static int listen_on(tlsc_client *c, uint64_t session, const char *address, unsigned port,
                     const tlsc_listen_options *o, uint64_t *ret_listener, unsigned *ret_port,
                     const Pending *async) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Waiter w = {};
        uint32_t u = 0;
        int r;

        if (!c || (!async && !ret_listener))
                return -TLSD_ERR_PARAM;
        r = begin(c, &m, TLSD_MSG_LISTEN, &w.id);
        if (r < 0)
                return r;
        tlsd_msg_put_u64(&m, TLSD_A_SESSION_ID, session);
        if (address)
                tlsd_msg_put_str(&m, TLSD_A_ADDRESS, address);
        tlsd_msg_put_u32(&m, TLSD_A_PORT, port);
        if (o && o->backlog)
                tlsd_msg_put_u32(&m, TLSD_A_BACKLOG, o->backlog);
        if (o && o->max_pending)
                tlsd_msg_put_u32(&m, TLSD_A_MAX_PENDING, o->max_pending);
        if (o && o->max_connections)
                tlsd_msg_put_u32(&m, TLSD_A_MAX_CONNECTIONS, o->max_connections);
        r = finish_request(c, &m, async, &w);
        if (r < 0 || async)
                return r;
        if (tlsd_msg_get_u64(&w.view, TLSD_A_LISTENER_ID, ret_listener) < 0)
                return -TLSD_ERR_PROTOCOL;
        (void) tlsd_msg_get_u32(&w.view, TLSD_A_PORT, &u);
        if (ret_port)
                *ret_port = u;
        return 0;
}

_public_ int tlsc_listen(tlsc_client *c, uint64_t session, const char *address, unsigned port,
                         const tlsc_listen_options *o, uint64_t *ret_listener, unsigned *ret_port) {
        return listen_on(c, session, address, port, o, ret_listener, ret_port, NULL);
}

_public_ int tlsc_listen_async(tlsc_client *c, uint64_t session, const char *address, unsigned port,
                               const tlsc_listen_options *o, tlsc_id_cb cb, void *userdata) {
        Pending p = {
                .kind = PENDING_ID, .cb.id = cb, .id_attr = TLSD_A_LISTENER_ID, .userdata = userdata
        };

        if (!cb)
                return -TLSD_ERR_PARAM;
        return listen_on(c, session, address, port, o, NULL, NULL, &p);
}

_public_ int tlsc_listener_close(tlsc_client *c, uint64_t listener) {
        Waiter w = {};

        return call_with_id(c, TLSD_MSG_LISTENER_CLOSE, TLSD_A_LISTENER_ID, listener, NULL, &w);
}

static void ignore_done(tlsc_client *c, int result, void *userdata) {
}

_public_ int tlsc_certificate_response(tlsc_client *c, uint64_t connection, int accept) {
        _cleanup_(tlsd_msg_done) TlsdMsg m = TLSD_MSG_INIT;
        Pending *p;
        int r;

        if (!c)
                return -TLSD_ERR_PARAM;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -TLSD_ERR_MEM;
        p->kind = PENDING_DONE;
        p->cb.done = ignore_done;
        r = begin(c, &m, TLSD_MSG_CERTIFICATE_RESPONSE, &p->id);
        if (r >= 0) {
                tlsd_msg_put_u64(&m, TLSD_A_CONNECTION_ID, connection);
                tlsd_msg_put_u32(&m, TLSD_A_ACCEPT, accept ? 1 : 0);
                r = submit(c, &m);
        }
        if (r < 0) {
                free(p);
                return r;
        }
        p->next = c->pending;
        c->pending = p;
        return 0;
}

_public_ int tlsc_connection_info_get(tlsc_client *c, uint64_t connection,
                                      tlsc_connection_info *ret) {
        Waiter w = {};
        int r;

        if (!ret)
                return -TLSD_ERR_PARAM;
        r = call_with_id(c, TLSD_MSG_CONNECTION_INFO, TLSD_A_CONNECTION_ID, connection, NULL, &w);
        if (r < 0)
                return r;
        fill_info(&w.view, ret);
        return 0;
}

_public_ int tlsc_connection_disconnect(tlsc_client *c, uint64_t connection) {
        Waiter w = {};

        return call_with_id(c, TLSD_MSG_CONNECTION_DISCONNECT, TLSD_A_CONNECTION_ID, connection,
                            NULL, &w);
}

_public_ int tlsc_connection_shutdown(tlsc_client *c, uint64_t connection) {
        Waiter w = {};

        return call_with_id(c, TLSD_MSG_CONNECTION_SHUTDOWN, TLSD_A_CONNECTION_ID, connection, NULL,
                            &w);
}

_public_ int tlsc_connection_retry(tlsc_client *c, uint64_t connection) {
        Waiter w = {};

        return call_with_id(c, TLSD_MSG_CONNECTION_RETRY, TLSD_A_CONNECTION_ID, connection, NULL,
                            &w);
}

_public_ int tlsc_connection_retry_async(tlsc_client *c, uint64_t connection, tlsc_done_cb cb,
                                         void *userdata) {
        Waiter w = {};

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_with_id(c, TLSD_MSG_CONNECTION_RETRY, TLSD_A_CONNECTION_ID, connection,
                            DONE_ASYNC(cb, userdata), &w);
}

_public_ int tlsc_connection_disconnect_async(tlsc_client *c, uint64_t connection, tlsc_done_cb cb,
                                              void *userdata) {
        Waiter w = {};

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_with_id(c, TLSD_MSG_CONNECTION_DISCONNECT, TLSD_A_CONNECTION_ID, connection,
                            DONE_ASYNC(cb, userdata), &w);
}

_public_ int tlsc_connection_destroy(tlsc_client *c, uint64_t connection) {
        Waiter w = {};

        return call_with_id(c, TLSD_MSG_CONNECTION_DESTROY, TLSD_A_CONNECTION_ID, connection, NULL,
                            &w);
}

_public_ int tlsc_connection_destroy_async(tlsc_client *c, uint64_t connection, tlsc_done_cb cb,
                                           void *userdata) {
        Waiter w = {};

        if (!cb)
                return -TLSD_ERR_PARAM;
        return call_with_id(c, TLSD_MSG_CONNECTION_DESTROY, TLSD_A_CONNECTION_ID, connection,
                            DONE_ASYNC(cb, userdata), &w);
}
