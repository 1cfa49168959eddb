/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.tlsd1.Connection on /org/tlsd1/connection/N: the D-Bus face of connection.c, and the
 * event signals (sent to the owner only). The plaintext fd of an established connection is held
 * here until the owner takes it (OpenStream -> h) or uses it in message mode (Send/Receive,
 * with a DataReady signal when data waits).
 *
 * For DTLS that fd is SOCK_SEQPACKET: one Send is one message (one record), one Receive returns
 * one whole message. A message over the record limit is refused by Send with InvalidArgument
 * (nothing sent), and one larger than Receive's max stays queued with InvalidArgument: in
 * neither direction is a message ever cut. The MessageTooLarge signal is for messages written
 * to an fd taken with OpenStream, which the core drops.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/bus-object.h"
#include "core/connection.h"
#include "core/core-query.h"
#include "error.h"
#include "util/error-message.h"
#include "util/log.h"
#include "core/listener.h"
#include "proto.h"

/* Text from the peer or the TLS library (SNI, ALPN, certificate subject, version and cipher
 * names, error messages) can be any bytes, and sd-bus refuses a whole message over one string
 * that is not UTF-8. It is converted as the Unix socket converts it; buf holds the copy. */
static const char *utf8(char *buf, size_t size, const char *s) {
        (void) snprintf(buf, size, "%s", s ? s : "");
        tlsd_utf8_make_valid(buf);
        return buf;
}

/* The longest of them: EngineInfo's 256-byte names, error messages. */
#define UTF8_MAX 512
/* A converted copy in a buffer that lives until the end of the caller's block. */
#define UTF8(s) utf8((char[UTF8_MAX]){}, UTF8_MAX, (s))

#define CALLER_CONNECTION(c)                                                                       \
        Connection *c = bus_object_from_message(userdata, &connection_bus_object, m, error);       \
        if (!c)                                                                                    \
        return -ENOENT

static int method_bind(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        const char *address;
        uint32_t port;
        int r;
        CALLER_CONNECTION(c);

        r = sd_bus_message_read(m, "su", &address, &port);
        if (r < 0)
                return r;
        r = connection_bind(c, *address ? address : NULL, port, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, NULL);
}

/* Connect, and ConnectWithTicket: the same with a ticket id from GetTicket (0: automatic
 * resumption, as Connect). NotFound for a ticket that is not the caller's user's or is gone,
 * PermissionDenied for one issued for another peer or policy. */
static int method_connect(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        const char *host, *sni;
        uint32_t port;
        uint64_t ticket = 0;
        int r;
        CALLER_CONNECTION(c);

        r = sd_bus_message_read(m, "sus", &host, &port, &sni);
        if (r >= 0 && sd_bus_message_has_signature(m, "sust"))
                r = sd_bus_message_read(m, "t", &ticket);
        if (r < 0)
                return r;
        /* the Unix socket's limits (proto.h) */
        if (bus_check_size(error, "host", strlen(host), TLSD_NAME_MAX) < 0 ||
            bus_check_size(error, "server name", strlen(sni), TLSD_NAME_MAX) < 0)
                return -EINVAL;
        r = connection_connect(c, host, port, *sni ? sni : NULL, ticket, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, NULL);
}

/* The id of the newest ticket tlsd keeps from this connection (not the secret); NotFound until
 * the server sent one (TLS 1.3: after the handshake, with the first data read). */
static int method_get_ticket(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        uint64_t id = 0;
        int r;
        CALLER_CONNECTION(c);

        r = connection_get_ticket(c, &id, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, "t", id);
}

static int method_certificate_response(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        int accept, r;
        CALLER_CONNECTION(c);

        r = sd_bus_message_read(m, "b", &accept);
        if (r < 0)
                return r;
        r = connection_certificate_response(c, accept, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_open_stream(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusStream *s;
        int fd, r;
        CALLER_CONNECTION(c);

        s = bus_stream_find(userdata, c->id);
        if (!s || bus_stream_fd(s) < 0)
                return bus_error(error, -EBUSY,
                                 "no data stream to hand out: not established, "
                                 "or already taken");
        fd = bus_stream_take_fd(s);
        /* blocking, as a fresh socket would be */
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        r = sd_bus_reply_method_return(m, "h", fd);
        safe_close(fd); /* the reply carries its own duplicate */
        bus_stream_drop(userdata, c->id);
        return r;
}

static int method_send(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX];
        const void *p;
        size_t n;
        ssize_t w;
        BusStream *s;
        int r;
        CALLER_CONNECTION(c);

        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                return r;
        s = bus_stream_find(userdata, c->id);
        if (!s || bus_stream_fd(s) < 0)
                return bus_error(error, -EBUSY,
                                 "connection is not established (or its stream "
                                 "was taken with OpenStream)");
        if (c->dtls) {
                ConnectionInfo i;

                /* An empty message carries nothing (and would read as EOF on the other end). */
                if (n == 0)
                        return sd_bus_reply_method_return(m, "u", (uint32_t) 0);
                connection_get_info(c, &i);
                if (n > i.engine.max_message) {
                        (void) snprintf(message, sizeof(message),
                                        "a message of %zu bytes is over the %u-byte limit of one "
                                        "DTLS record (MaxMessage); nothing was sent",
                                        n, i.engine.max_message);
                        return bus_error(error, -EMSGSIZE, message);
                }
        }
        /* DTLS: SOCK_SEQPACKET, so the whole message or nothing (EAGAIN) */
        w = write(bus_stream_fd(s), p, n);
        if (w < 0 && errno == EAGAIN)
                w = 0; /* full: the caller retries after some Receive or later */
        if (w < 0)
                return bus_error(error, -errno, "the connection is closed");
        return sd_bus_reply_method_return(m, "u", (uint32_t) w);
}

static int method_receive(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint8_t buf[65536];
        uint32_t max;
        BusStream *s;
        ssize_t n;
        bool eof = false;
        int r;
        CALLER_CONNECTION(c);

        r = sd_bus_message_read(m, "u", &max);
        if (r < 0)
                return r;
        s = bus_stream_find(userdata, c->id);
        if (!s || bus_stream_fd(s) < 0)
                return bus_error(error, -EBUSY,
                                 "connection is not established (or its stream "
                                 "was taken with OpenStream)");
        if (c->dtls && max > 0) {
                /* One message per call, whole: its size first (MSG_TRUNC), it stays queued if
                 * it does not fit. */
                ssize_t size = recv(bus_stream_fd(s), NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

                if (size > 0 && (size_t) size > (max < sizeof(buf) ? max : sizeof(buf))) {
                        char message[ERROR_MESSAGE_MAX];

                        bus_stream_rearm(s);
                        (void) snprintf(message, sizeof(message),
                                        "the next message has %zd bytes, more than max (%u); it "
                                        "stays queued",
                                        size, max);
                        return bus_error(error, -EMSGSIZE, message);
                }
        }
        /* read() of 0 bytes returns 0, which is no end of stream. On SOCK_SEQPACKET one read() is
         * one message, and tlsd never queues an empty one: 0 is the end there too. */
        n = max == 0 ? -1 : read(bus_stream_fd(s), buf, max < sizeof(buf) ? max : sizeof(buf));
        if (max == 0 || (n < 0 && errno == EAGAIN))
                n = 0;
        else if (n == 0)
                eof = true;
        else if (n < 0)
                return bus_error(error, -errno, "the connection is closed");
        bus_stream_rearm(s);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', buf, (size_t) n);
        if (r >= 0)
                r = sd_bus_message_append(reply, "b", eof);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* DTLS, after the Timeout signal: retransmit now and run the schedule again. */
static int method_retry(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        int r;
        CALLER_CONNECTION(c);

        r = connection_retry(c, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, NULL);
}

/* The clean end of the caller's data (in message mode: after what Send wrote): close_notify
 * follows it. */
static int method_shutdown(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        int r;
        CALLER_CONNECTION(c);

        r = connection_shutdown(c, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_disconnect(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        CALLER_CONNECTION(c);

        (void) connection_disconnect(c);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_destroy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        CALLER_CONNECTION(c);

        connection_free(c); /* and its stream (bus_released) */
        return sd_bus_reply_method_return(m, NULL);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = bus_object_find(userdata, &connection_bus_object, path);
        ConnectionInfo i;

        if (!c)
                return bus_not_found(error, "connection");
        connection_get_info(c, &i);
        if (strcmp(property, "State") == 0)
                return sd_bus_message_append(reply, "s", tlsc_state_name((int) i.state));
        if (strcmp(property, "Version") == 0)
                return sd_bus_message_append(reply, "s", UTF8(i.engine.version));
        if (strcmp(property, "Cipher") == 0)
                return sd_bus_message_append(reply, "s", UTF8(i.engine.cipher));
        if (strcmp(property, "Group") == 0)
                return sd_bus_message_append(reply, "s", UTF8(i.engine.group));
        if (strcmp(property, "ALPN") == 0)
                return sd_bus_message_append(reply, "s", UTF8(i.engine.alpn));
        if (strcmp(property, "PeerSubject") == 0)
                return sd_bus_message_append(reply, "s", UTF8(i.engine.peer_subject));
        if (strcmp(property, "Verification") == 0)
                return sd_bus_message_append(reply, "s", tlsc_verify_result_name(i.engine.verify));
        if (strcmp(property, "Resumed") == 0)
                return sd_bus_message_append(reply, "b", i.engine.resumed);
        if (strcmp(property, "BytesIn") == 0)
                return sd_bus_message_append(reply, "t", i.bytes_in);
        if (strcmp(property, "BytesOut") == 0)
                return sd_bus_message_append(reply, "t", i.bytes_out);
        if (strcmp(property, "HandshakeTime") == 0)
                return sd_bus_message_append(reply, "t", i.handshake_us);
        if (strcmp(property, "Transport") == 0)
                return sd_bus_message_append(reply, "s", c->dtls ? "dtls" : "tls");
        if (strcmp(property, "MaxMessage") == 0)
                return sd_bus_message_append(reply, "u", (uint32_t) i.engine.max_message);
        if (strcmp(property, "CidInUse") == 0)
                return sd_bus_message_append(reply, "b", i.engine.cid_in_use);
        /* The last failure: a failed Connect leaves it for those who get no signals (busctl,
         * persistent objects); "" while there is none. */
        if (strcmp(property, "LastError") == 0)
                return sd_bus_message_append(reply, "s", UTF8(i.last_error_message));
        if (strcmp(property, "LastErrorName") == 0)
                return sd_bus_message_append(
                        reply, "s",
                        i.last_error ? tlsd_error_name((int) tlsd_error_from_errno(i.last_error))
                                     : "");
        if (strcmp(property, "Session") == 0) {
                _cleanup_free_ char *p = bus_object_path("session", c->session->id);

                return p ? sd_bus_message_append(reply, "o", p) : -ENOMEM;
        }
        return -EINVAL;
}

static const sd_bus_vtable connection_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Version", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Cipher", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Group", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("ALPN", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("PeerSubject", "s", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Verification", "s", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Resumed", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("BytesIn", "t", property_get, 0, 0),
        SD_BUS_PROPERTY("BytesOut", "t", property_get, 0, 0),
        SD_BUS_PROPERTY("HandshakeTime", "t", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Transport", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxMessage", "u", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("CidInUse", "b", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Session", "o", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LastError", "s", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("LastErrorName", "s", property_get, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS("Bind", SD_BUS_ARGS("s", address, "u", port), SD_BUS_NO_RESULT,
                                method_bind, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Connect", SD_BUS_ARGS("s", host, "u", port, "s", server_name),
                                SD_BUS_NO_RESULT, method_connect, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ConnectWithTicket",
                                SD_BUS_ARGS("s", host, "u", port, "s", server_name, "t", ticket),
                                SD_BUS_NO_RESULT, method_connect, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetTicket", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", ticket),
                                method_get_ticket, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CertificateResponse", SD_BUS_ARGS("b", accept), SD_BUS_NO_RESULT,
                                method_certificate_response, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenStream", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", stream),
                                method_open_stream, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Send", SD_BUS_ARGS("ay", data), SD_BUS_RESULT("u", written),
                                method_send, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Receive", SD_BUS_ARGS("u", max),
                                SD_BUS_RESULT("ay", data, "b", eof), method_receive,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Retry", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_retry,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Shutdown", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_shutdown,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Disconnect", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_disconnect,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Destroy", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_destroy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS(
                "HandshakeDone",
                SD_BUS_ARGS("s", version, "s", cipher, "s", group, "s", alpn, "s", peer_subject),
                0),
        SD_BUS_SIGNAL_WITH_ARGS(
                "HandshakeFailed",
                SD_BUS_ARGS("s", error, "s", message, "i", alert, "s", verification), 0),
        SD_BUS_SIGNAL_WITH_ARGS("CertificateIndication",
                                SD_BUS_ARGS("s", verification, "ay", chain_pem), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Disconnected", SD_BUS_ARGS("s", reason, "i", alert), 0),
        SD_BUS_SIGNAL("DataReady", "", 0),
        SD_BUS_SIGNAL_WITH_ARGS("Timeout", SD_BUS_ARGS("u", retries, "s", message), 0),
        SD_BUS_SIGNAL_WITH_ARGS("MessageTooLarge", SD_BUS_ARGS("u", size, "u", max), 0),
        SD_BUS_VTABLE_END,
};

static void *find_connection(Core *core, const Peer *caller, uint64_t id) {
        return core_find_connection(core, caller, id);
}

const BusObjectType connection_bus_object = {
        .kind = "connection",
        .interface = "org.tlsd1.Connection",
        .vtable = connection_vtable,
        .core_kind = CORE_OBJECT_CONNECTION,
        .find = find_connection,
};

/* What an event may change: the properties marked EMITS_INVALIDATION. */
static const char *const changing_properties[] = {
        "State",         "Version", "Cipher",        "Group",      "ALPN",     "PeerSubject",
        "Verification",  "Resumed", "HandshakeTime", "MaxMessage", "CidInUse", "LastError",
        "LastErrorName", NULL,
};

/* Core events -> signals to the owner. */
void connection_bus_emit(Bus *b, Peer *p, const CoreEvent *e) {
        _cleanup_free_ char *path = bus_object_path("connection", e->connection);
        const char *owner = bus_peer_name(p);
        int r = 0;

        if (!path)
                return;
        if (!owner) {
                /* a persistent object: keep its stream, nobody to signal */
                if (e->type == CORE_EVENT_HANDSHAKE_DONE || e->type == CORE_EVENT_ACCEPTED)
                        (void) bus_stream_add(b, p, e->connection, e->fd);
                return;
        }
        switch (e->type) {
        case CORE_EVENT_HANDSHAKE_DONE:
                r = bus_stream_add(b, p, e->connection, e->fd);
                if (r >= 0)
                        r = bus_send_signal(b, owner, path, "org.tlsd1.Connection", "HandshakeDone",
                                            "sssss", UTF8(e->info->version), UTF8(e->info->cipher),
                                            UTF8(e->info->group), UTF8(e->info->alpn),
                                            UTF8(e->info->peer_subject));
                break;
        case CORE_EVENT_ACCEPTED: {
                _cleanup_free_ char *lpath = bus_object_path("listener", e->listener);

                r = bus_stream_add(b, p, e->connection, e->fd);
                if (r >= 0 && lpath)
                        r = bus_send_signal(b, owner, lpath, "org.tlsd1.Listener", "Accepted",
                                            "osussss", path, e->peer_address, e->peer_port,
                                            UTF8(e->info->sni), UTF8(e->info->version),
                                            UTF8(e->info->cipher), UTF8(e->info->peer_subject));
                break;
        }
        case CORE_EVENT_HANDSHAKE_FAILED:
                r = bus_send_signal(b, owner, path, "org.tlsd1.Connection", "HandshakeFailed",
                                    "ssis", tlsd_error_name((int) tlsd_error_from_errno(e->error)),
                                    UTF8(e->message), e->alert, tlsc_verify_result_name(e->verify));
                break;
        case CORE_EVENT_CERTIFICATE:
                r = bus_send_signal_chain(b, owner, path, tlsc_verify_result_name(e->verify),
                                          e->chain, e->chain_size);
                break;
        case CORE_EVENT_DISCONNECTED:
                r = bus_send_signal(b, owner, path, "org.tlsd1.Connection", "Disconnected", "si",
                                    tlsc_disconnect_reason_name(e->reason), e->alert);
                break;
        case CORE_EVENT_TIMEOUT:
                r = bus_send_signal(b, owner, path, "org.tlsd1.Connection", "Timeout", "us",
                                    e->retries, UTF8(e->message));
                break;
        case CORE_EVENT_MESSAGE_TOO_LARGE:
                r = bus_send_signal(b, owner, path, "org.tlsd1.Connection", "MessageTooLarge", "uu",
                                    (uint32_t) e->size, (uint32_t) e->max_message);
                break;
        case CORE_EVENT_ACCEPT_FAILED: {
                /* The listener's: its connection never was announced (no object, no
                 * properties to invalidate). Rate-limited by the core. */
                _cleanup_free_ char *lpath = bus_object_path("listener", e->listener);

                if (lpath)
                        r = bus_send_signal(b, owner, lpath, "org.tlsd1.Listener",
                                            "HandshakeFailed", "sussisu", e->peer_address,
                                            e->peer_port,
                                            tlsd_error_name((int) tlsd_error_from_errno(e->error)),
                                            UTF8(e->message), e->alert,
                                            tlsc_verify_result_name(e->verify), e->suppressed);
                if (r < 0)
                        log_debug_errno(r, "listener %" PRIu64 ": cannot signal its owner: %m",
                                        e->listener);
                return;
        }
        }
        if (r < 0)
                log_debug_errno(r, "connection %" PRIu64 ": cannot signal its owner: %m",
                                e->connection);
        /* Like the events, the change is the owner's business only (a broadcast would tell
         * every listener on the bus about every connection). */
        (void) bus_send_properties_invalidated(b, owner, path, "org.tlsd1.Connection",
                                               changing_properties);
}
