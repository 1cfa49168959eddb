/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connections: made by Connect (resolution, TCP connect), accepted by a Listener, or adopted from
 * the app; then the handshake, the certificate decision, and the data bridge between the app's
 * socketpair end and the network.
 *
 * The bridge reads into the core's scratch buffer and writes straight on; only what the other
 * side did not take is copied into the connection's own per-direction buffer, and while that
 * buffer holds anything the reading side is not polled. So each byte is read once and written
 * once besides crypto, and a slow reader on either side stalls the writer instead of growing
 * memory.
 *
 * The bridge, connection_pump(), repeats three steps: network -> app, app -> network, and
 * close_notify once the app is done. Where TLS over TCP and DTLS over UDP part ways (how data
 * reaches the app, timers, how long one pump may run, what a failure means) it goes through
 * the connection's ConnectionTransport (connection-internal.h), chosen once in
 * connection_new(); TCP's entries are here, DTLS's in connection-dtls.c. Every failed step ends
 * the connection through one mapping, connection_pump_failed().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/connection.h"
#include "core/connection-internal.h"
#include "core/core.h"
#include "util/error-message.h"
#include "list.h"
#include "util/log.h"
#include "tickets/ticket-cache.h"
#include "time-util.h"

#define CHUNK (16 * 1024)  /* one TLS record of plaintext */
#define GATHER (64 * 1024) /* what one write to the app carries at most (the scratch size) */

/* The ticket cache's key for this connection: owner, peer as the app named it, and the
 * session's policy: as the handshake began once it has (its tickets describe that handshake,
 * and a TLS 1.3 ticket arrives after it, maybe after a Configure), else as it is now (Connect
 * checking an explicit ticket). */
static bool connection_scope(Connection *c, TicketScope *ret) {
        Session *s = c->session;
        const char *alpn = c->has_scope ? c->scope_alpn : s->alpn;

        if (s->role != ENGINE_CLIENT || !c->host)
                return false;
        *ret = (TicketScope){
                .uid = (uint32_t) s->owner->uid,
                .host = c->host,
                .port = c->port,
                .sni = c->sni ? c->sni : "",
                .alpn = alpn ? alpn : "",
                .dtls = c->dtls,
        };
        memcpy(ret->policy, c->has_scope ? c->scope_policy : s->policy, sizeof(ret->policy));
        return true;
}

/* As a client's handshake begins: the scope its tickets will be filed under
 * (connection_scope). */
static int connection_take_scope(Connection *c) {
        Session *s = c->session;
        char *alpn = NULL;

        if (s->role != ENGINE_CLIENT)
                return 0;
        if (s->alpn && !(alpn = strdup(s->alpn)))
                return -ENOMEM;
        free(c->scope_alpn);
        c->scope_alpn = alpn;
        memcpy(c->scope_policy, s->policy, sizeof(c->scope_policy));
        c->has_scope = true;
        return 0;
}

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

static void wipe_free(void *p, size_t size) {
        if (p) {
                explicit_bzero(p, size);
                free(p);
        }
}

void connection_save_ticket(Connection *c) {
        Core *core = c->core;
        TicketScope scope;
        void *blob = NULL;
        size_t size = 0;
        uint32_t life = 0, max_age = core->config->ticket_max_age_sec;
        bool tls13 = false;
        uint64_t id = 0;
        int r;

        if (!core->ticket_cache || !c->session->resume || !c->tls || !connection_scope(c, &scope))
                return;
        r = engine_conn_export_session(c->tls, &blob, &size, &life, &tls13);
        if (r < 0)
                return;
        if (life == 0 || life > max_age)
                life = max_age;
        r = ticket_cache_store(core->ticket_cache, &scope, blob, size,
                               now_usec(CLOCK_REALTIME) + (uint64_t) life * 1000000u, tls13, &id);
        wipe_free(blob, size);
        if (r < 0) {
                log_debug_errno(r, "connection %" PRIu64 ": cannot keep its ticket: %m", c->id);
                return;
        }
        c->ticket_id = id;
        core_ticket_cache_changed(core);
        log_debug("connection %" PRIu64 ": ticket %" PRIu64 " saved (%s, %u s)", c->id, id,
                  tls13 ? "single use" : "reusable", life);
}

int connection_get_ticket(Connection *c, uint64_t *ret, char *error) {
        if (c->ticket_id == 0 && c->session->role == ENGINE_CLIENT && !c->session->resume) {
                /* Not a matter of waiting: nothing is kept (Resume=false, no_resume). */
                error_message_set(error,
                                  "no ticket for connection %" PRIu64 ": its session has "
                                  "resumption off, so tlsd keeps no tickets",
                                  c->id);
                return -ENOENT;
        }
        if (c->ticket_id == 0) {
                error_message_set(error,
                                  "no ticket yet for connection %" PRIu64 " (TLS 1.3 "
                                  "tickets arrive after the handshake, with data)",
                                  c->id);
                return -ENOENT;
        }
        *ret = c->ticket_id;
        return 0;
}

static void pending_done(Connection *c) {
        if (c->counted_pending) {
                core_uid_counts(c->core, c->session->owner->uid)->n_pending--;
                c->counted_pending = false;
        }
}

static void tcp_close_socket(Connection *c) {
        if (c->net_fd >= 0) {
                /* Unread bytes make close() send a reset, and a reset makes the peer's kernel
                 * drop what it has not yet handed to the peer, which may be the end of our
                 * data. Whatever is left after the close exchange is read and dropped. */
                for (unsigned i = 0; i < 16; i++)
                        if (recv(c->net_fd, core_scratch(c->core), 65536, MSG_DONTWAIT) <= 0)
                                break;
        }
        c->net_fd = safe_close(c->net_fd);
}

static void close_io(Connection *c) {
        c->transport->stop(c); /* before the engine goes: it may send close_notify */
        c->pump_again = sd_event_source_disable_unref(c->pump_again);
        c->net_io = sd_event_source_disable_unref(c->net_io);
        c->app_io = sd_event_source_disable_unref(c->app_io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->resolve = resolve_cancel(c->resolve);
        c->tls = engine_conn_free(c->tls);
        c->transport->close_socket(c);
        c->app_fd = safe_close(c->app_fd);
        free(c->to_app.data);
        free(c->to_net.data);
        c->to_app = c->to_net = (Buffer){};
        pending_done(c);
}

/* HOST:PORT for messages, an IPv6 address in brackets ([::1]:443): "::1:443" reads as an
 * address without a port. */
static const char *host_port(char *buf, size_t size, const char *host, unsigned port) {
        (void) snprintf(buf, size, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
        return buf;
}
#define HOST_PORT_MAX (256 + 8)

/* What went wrong last, kept for those who get no events (D-Bus LastError, persistent objects
 * included): the error and the same message the event carries. */
static void record_error(Connection *c, int error, const char *message) {
        c->last_error = error;
        (void) snprintf(c->last_error_message, sizeof(c->last_error_message), "%s",
                        message ? message : "");
}

void connection_emit(Connection *c, const CoreEvent *e) {
        peer_emit(c->session->owner, e);
}

static int on_release(sd_event_source *s, void *userdata) {
        connection_free(userdata);
        return 0;
}

/* Accepted connections belong to tlsd until announced and are freed when they end; that
 * happens inside their own callbacks, so from a fresh loop iteration. */
static void schedule_release(Connection *c) {
        if (!c->release)
                (void) sd_event_add_defer(c->core->event, &c->release, on_release, c);
}

/* A refused client's failure alert is on its way; the client may still be sending (the rest of
 * a long ClientHello or Finished, records it queued behind them). Closing now would answer
 * those with a reset, and a client whose next write fails on it, or whose kernel drops the
 * alert with the reset, never reads why it was refused. So the write side is shut (the alert
 * and a FIN are out) and what still arrives is read and dropped until the client closes,
 * LINGER_BYTES were read or LINGER_USEC passed; then the usual close. The connection is
 * released only then: it stays counted against its listener's uid until its socket is closed. */
#define LINGER_USEC (2 * USEC_PER_SEC)
#define LINGER_BYTES ((size_t) 1024 * 1024)

static void linger_done(Connection *c) {
        c->net_io = sd_event_source_disable_unref(c->net_io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->transport->close_socket(c);
        schedule_release(c);
}

static int on_linger_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        ssize_t n;

        do {
                n = recv(fd, core_scratch(c->core), 65536, MSG_DONTWAIT);
                if (n > 0)
                        c->linger_left -= (size_t) n < c->linger_left ? (size_t) n : c->linger_left;
        } while (n > 0 && c->linger_left > 0);
        if (n == 0 || c->linger_left == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                linger_done(c);
        return 0;
}

static int on_linger_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        linger_done(userdata);
        return 0;
}

/* Returns false when the socket could not be watched: then it is closed at once. */
static bool linger_start(Connection *c) {
        c->linger_left = LINGER_BYTES;
        if (shutdown(c->net_fd, SHUT_WR) < 0 ||
            sd_event_add_io(c->core->event, &c->net_io, c->net_fd, EPOLLIN, on_linger_io, c) < 0 ||
            sd_event_add_time_relative(c->core->event, &c->timer, CLOCK_MONOTONIC, LINGER_USEC, 0,
                                       on_linger_timeout, c) < 0) {
                c->net_io = sd_event_source_disable_unref(c->net_io);
                c->timer = sd_event_source_disable_unref(c->timer);
                return false;
        }
        return true;
}

void connection_fail_handshake(Connection *c, int error, const char *message, int alert,
                               int verify) {
        CoreEvent e = {
                .type = CORE_EVENT_HANDSHAKE_FAILED,
                .connection = c->id,
                .fd = -EBADF,
                .error = error,
                .message = message,
                .alert = alert,
                .verify = verify,
        };

        char where[HOST_PORT_MAX];
        /* An accepted TLS client that was sent an alert gets the lingering close. */
        bool linger = c->accepted && alert >= 0 && c->net_fd >= 0 &&
                      c->transport == &connection_transport_tcp;
        int fd = -EBADF;

        core_count_handshake(c->core, c->session->owner->uid, false);
        c->info.verify = verify; /* GetInfo and properties tell why, too */
        record_error(c, error, message);
        if (linger) {
                /* Everything but the socket goes now (the engine: the alert is written). */
                fd = c->net_fd;
                c->net_fd = -EBADF;
        }
        close_io(c);
        c->net_fd = fd;
        c->state = CONNECTION_CLOSED;
        if (c->accepted) {
                /* Not announced: counted on the listener, which logs it at info and tells its
                 * owner (both rate-limited), and gone. At debug every one is logged. */
                log_debug("connection %" PRIu64 " from %s port %u: handshake failed: %s", c->id,
                          c->peer_address, c->peer_port, message);
                if (c->listener)
                        listener_handshake_failed(c->listener, c->id, c->peer_address, c->peer_port,
                                                  error, message, alert, verify);
                if (linger) {
                        if (linger_start(c))
                                return;
                        c->transport->close_socket(c);
                }
                schedule_release(c);
                return;
        }
        log_info("connection %" PRIu64 " (uid %u) %s %s: handshake failed: %s", c->id,
                 (unsigned) c->session->owner->uid, c->adopted ? "adopted from" : "to",
                 host_port(where, sizeof(where), c->host ? c->host : c->peer_address,
                           c->host ? c->port : c->peer_port),
                 message);
        connection_emit(c, &e);
}

/* After HandshakeDone: the end of an operating connection. */
void connection_finish(Connection *c, int reason, int alert) {
        CoreEvent e = {
                .type = CORE_EVENT_DISCONNECTED,
                .connection = c->id,
                .fd = -EBADF,
                .reason = reason,
                .alert = alert,
                .bytes_in = c->bytes_in,
                .bytes_out = c->bytes_out,
        };

        if (c->state == CONNECTION_CLOSED)
                return;
        if (reason == TLSC_DISCONNECT_ALERT && alert >= 0) {
                char m[ERROR_MESSAGE_MAX];

                (void) snprintf(m, sizeof(m), "connection ended by alert %s (%d)",
                                tlsc_alert_name(alert), alert);
                record_error(c, -EPROTO, m);
        } else if (reason == TLSC_DISCONNECT_RESET)
                record_error(c, -ECONNRESET, "connection reset");
        else if (reason == TLSC_DISCONNECT_TRUNCATED)
                record_error(c, -ECONNRESET, "connection closed by the peer without close_notify");
        else if (reason == TLSC_DISCONNECT_TIMEOUT)
                record_error(c, -ETIMEDOUT, "connection timed out");
        log_debug("connection %" PRIu64 ": closed (%s), %" PRIu64 " bytes in, %" PRIu64
                  " bytes out",
                  c->id, tlsc_disconnect_reason_name(reason), c->bytes_in, c->bytes_out);
        c->disconnect_reason = reason;
        close_io(c);
        c->state = CONNECTION_CLOSED;
        connection_emit(c, &e);
        if (c->accepted)
                schedule_release(c);
}

/* ---- the app's end ----
 *
 * How the app's data ends decides whether close_notify follows it. A clean end: the app shuts
 * down its sending side, shutdown(SHUT_WR), while its end stays open, or it asks for it
 * (connection_shutdown(), which also lets it close its end right away). Anything else is an
 * abort: the end closed, by close(), exit, a crash or a kill, or shut both ways; the peer then
 * gets what the app wrote and no close_notify, and sees the stream cut.
 *
 * Only the socket pair's state tells, and the kernel keeps no trace of a shutdown(SHUT_WR) once
 * the end is closed as well: the first state seen decides, and stays. While our side is open
 * that is exact up to one race: a shutdown(SHUT_WR) followed at once by close() may be seen
 * only as the close (the app must keep its end open until it read EOF, or use
 * connection_shutdown()). Once our side is shut (the peer's close_notify reached the app) the
 * app's shutdown and its close look the same (EPOLLHUP, a read of 0): either counts as clean,
 * except a close with our data unread (the read fails with ECONNRESET).
 */

void connection_app_end_seen(Connection *c, uint32_t events) {
        if (c->app_end != APP_END_OPEN)
                return;
        if (events & EPOLLERR)
                c->app_end = APP_END_ABORT; /* closed with our data unread (ECONNRESET) */
        else if ((events & EPOLLHUP) && !c->peer_closed)
                c->app_end = APP_END_ABORT; /* with our side open: the app's side is closed */
        else if (events & (EPOLLRDHUP | EPOLLHUP))
                c->app_end = APP_END_CLEAN;
}

void connection_app_end_check(Connection *c) {
        struct pollfd p = { .fd = c->app_fd, .events = POLLIN | POLLRDHUP };

        /* poll()'s bits are epoll's */
        if (c->app_end == APP_END_OPEN && poll(&p, 1, 0) > 0)
                connection_app_end_seen(c, (uint32_t) p.revents);
}

int connection_shutdown(Connection *c, char *error) {
        if (c->state != CONNECTION_OPERATING && c->state != CONNECTION_CLOSING) {
                error_message_set(error, "connection %" PRIu64 " is not established", c->id);
                return -EBUSY;
        }
        connection_app_end_check(c);
        if (c->app_end == APP_END_ABORT) {
                error_message_set(error,
                                  "connection %" PRIu64 ": the application's end was "
                                  "closed before: it ends without close_notify",
                                  c->id);
                return -EBUSY;
        }
        c->app_end = APP_END_CLEAN;
        /* Its data ends here: what it writes from now on fails (EPIPE), what it wrote before is
         * read up to the end that this makes. */
        (void) shutdown(c->app_fd, SHUT_RD);
        c->app_readable = true;
        (void) connection_pump(c);
        return 0;
}

/* ---- the bridge ---- */

/* The one mapping from a failed pump step to how the connection ended. */
int connection_pump_failed(Connection *c, PumpFailure what, int error, const EngineFailure *fail) {
        bool ends = c->transport->transport_ends;

        switch (what) {
        case PUMP_READ_FAILED:
                if (ends && error == -ECONNRESET && !c->app_gone) {
                        /* The transport ended without close_notify: a cut, not the end. */
                        connection_finish(c, TLSC_DISCONNECT_TRUNCATED, -1);
                        return error;
                }
                if (ends && c->app_gone) {
                        /* Nobody is left to tell: the app went away first. */
                        connection_finish(c, TLSC_DISCONNECT_LOCAL, -1);
                        return error;
                }
                log_debug("connection %" PRIu64 ": read failed: %s", c->id, fail->message);
                connection_finish(c,
                                  fail->alert >= 0 ? TLSC_DISCONNECT_ALERT : TLSC_DISCONNECT_RESET,
                                  fail->alert);
                return error;
        case PUMP_WRITE_FAILED:
                connection_finish(c,
                                  ends && error != -ECONNRESET ? TLSC_DISCONNECT_ALERT
                                                               : TLSC_DISCONNECT_RESET,
                                  fail->alert);
                return error;
        case PUMP_NO_MEMORY:
        default:
                connection_finish(c, TLSC_DISCONNECT_RESET, -1);
                return -ENOMEM;
        }
}

int connection_pump_encrypt(Connection *c, Pump *p, size_t size) {
        EngineFailure fail = { .alert = -1 };
        ssize_t w = engine_conn_write(c->tls, p->scratch, size, &c->write_wait, &fail);

        p->progress = true;
        if (w > 0) {
                c->bytes_out += (uint64_t) w;
                c->write_wait = ENGINE_WAIT_NONE;
                return 1;
        }
        if (w != -EAGAIN)
                return connection_pump_failed(c, PUMP_WRITE_FAILED, (int) w, &fail);
        if (buffer_keep(&c->to_net, p->scratch, size) < 0)
                return connection_pump_failed(c, PUMP_NO_MEMORY, -ENOMEM, NULL);
        return 0;
}

void connection_pump_app_error(Connection *c, Pump *p) {
        if (errno == EAGAIN)
                c->app_readable = false; /* until epoll says otherwise */
        else if (errno != EINTR) {
                /* ECONNRESET: the app closed its end with data of ours unread (reported once
                 * what it wrote was read). Nothing more comes from it, nor can it read. */
                connection_app_end_seen(c, EPOLLHUP | EPOLLERR); /* closed, not ended */
                c->app_gone = true;
                c->app_eof = true;
                p->progress = true;
        }
}

void connection_pump_peer_closed(Connection *c, Pump *p) {
        /* The last moment the app's close and its shutdown differ (app_end). */
        connection_app_end_check(c);
        c->peer_closed = true;
        (void) shutdown(c->app_fd, SHUT_WR);
        p->progress = true;
}

/* What the engine did not take last time goes before anything new is read from the app. */
static int flush_to_network(Connection *c, Pump *p) {
        EngineFailure fail = { .alert = -1 };
        ssize_t w = engine_conn_write(c->tls, c->to_net.data + c->to_net.start,
                                      c->to_net.end - c->to_net.start, &c->write_wait, &fail);

        if (w > 0) {
                c->bytes_out += (uint64_t) w;
                c->to_net.start = c->to_net.end;
                c->write_wait = ENGINE_WAIT_NONE;
                p->progress = true;
        } else if (w != -EAGAIN)
                return connection_pump_failed(c, PUMP_WRITE_FAILED, (int) w, &fail);
        return 0;
}

/* app -> network */
static int pump_to_network(Connection *c, Pump *p) {
        if (!buffer_empty(&c->to_net))
                return flush_to_network(c, p);
        /* Also after the app's end closed: what it wrote before is read up to the end. */
        if (c->app_eof || !c->app_readable)
                return 0;
        return c->transport->from_app(c, p);
}

/* The app is done sending and everything it sent is out: close_notify if it ended cleanly; if
 * it went away instead, the connection ends without one (the peer sees it cut). < 0: ended. */
static int pump_close(Connection *c, Pump *p) {
        EngineWait w = ENGINE_WAIT_NONE;
        int r;

        if (!c->app_eof || c->close_sent || !buffer_empty(&c->to_net))
                return 0;
        if (c->app_end != APP_END_CLEAN) {
                log_debug("connection %" PRIu64 ": the application's end closed without a "
                          "clean end: no close_notify",
                          c->id);
                connection_finish(c, TLSC_DISCONNECT_LOCAL, -1);
                return -ECONNABORTED;
        }
        r = engine_conn_shutdown(c->tls, &w);
        if (r == -EAGAIN) {
                c->write_wait = w;
                return 0;
        }
        c->close_sent = true;
        c->transport->close_notify_sent(c, p, r);
        return 0;
}

static int on_pump_again(sd_event_source *s, void *userdata) {
        Connection *c = userdata;

        c->pump_again = sd_event_source_disable_unref(c->pump_again);
        if (c->tls && (c->state == CONNECTION_OPERATING || c->state == CONNECTION_CLOSING))
                (void) connection_pump(c);
        return 0;
}

/* Moves data until neither direction can progress, or the transport's budget is used up (it
 * goes on from a deferred event). Returns < 0 when the connection ended (already reported). */
int connection_pump(Connection *c) {
        const ConnectionTransport *t = c->transport;
        Pump p = { .scratch = core_scratch(c->core), .budget = t->pump_budget };
        int r;

        do {
                p.progress = false;
                r = t->to_app(c, &p);
                if (r < 0)
                        return r;
                r = pump_to_network(c, &p);
                if (r < 0)
                        return r;
                r = pump_close(c, &p);
                if (r < 0)
                        return r;
        } while (p.progress && (t->pump_budget == 0 || --p.budget > 0));
        if (t->pump_budget > 0 && p.budget == 0 && !c->pump_again)
                /* More may be waiting where epoll cannot see it (records wolfSSL already holds):
                 * continue after everyone else had a turn. */
                (void) sd_event_add_defer(c->core->event, &c->pump_again, on_pump_again, c);

        if (c->close_sent && (c->peer_closed || c->app_gone)) {
                /* Both directions are closed (or nobody is left to read): done. */
                connection_finish(
                        c, c->peer_closed ? TLSC_DISCONNECT_CLOSE_NOTIFY : TLSC_DISCONNECT_LOCAL,
                        -1);
                return -ESHUTDOWN;
        }
        t->watch(c);
        return 0;
}

/* ---- TLS over TCP ---- */

static uint32_t net_events(Connection *c) {
        uint32_t ev = 0;

        if (c->read_wait == ENGINE_WAIT_READ || c->write_wait == ENGINE_WAIT_READ)
                ev |= EPOLLIN;
        if (c->read_wait == ENGINE_WAIT_WRITE || c->write_wait == ENGINE_WAIT_WRITE)
                ev |= EPOLLOUT;
        return ev;
}

void connection_watch_app(Connection *c) {
        uint32_t ev = 0;

        /* Input only while nothing waits for the network: a slow peer stalls the app. */
        if (!c->app_eof && buffer_empty(&c->to_net))
                ev |= EPOLLIN | c->transport->data_socket_events;
        /* The app's shutdown is seen as it happens, also while input waits: the close that
         * may follow must not be taken for its end (app_end). */
        if (c->app_end == APP_END_OPEN)
                ev |= EPOLLRDHUP;
        if (!buffer_empty(&c->to_app))
                ev |= EPOLLOUT;
        (void) sd_event_source_set_io_events(c->app_io, ev);
        (void) sd_event_source_set_enabled(c->app_io,
                                           ev != 0 || !c->app_hup ? SD_EVENT_ON : SD_EVENT_OFF);
}

/* What the app did not take yet goes first; it may take part of it. */
static void tcp_flush_to_app(Connection *c, Pump *p) {
        ssize_t w =
                write(c->app_fd, c->to_app.data + c->to_app.start, c->to_app.end - c->to_app.start);

        if (w > 0) {
                c->to_app.start += (size_t) w;
                p->progress = true;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                c->app_gone = true; /* the app closed its end */
                c->to_app.start = c->to_app.end;
        }
}

/* Several records per write to the app: fewer syscalls and wakeups. A close or error that ends
 * the gathering is seen again by the next read, after what came before it is delivered. */
static int tcp_gather(Connection *c, Pump *p) {
        EngineFailure fail = { .alert = -1 };
        size_t got = 0;
        ssize_t n, w;

        do {
                n = engine_conn_read(c->tls, p->scratch + got, CHUNK, &c->read_wait, &fail);
                if (n > 0)
                        got += (size_t) n;
        } while (n > 0 && got + CHUNK <= GATHER);
        if (engine_conn_ticket_arrived(c->tls))
                connection_save_ticket(c);
        if (n == -EAGAIN)
                c->net_readable = false; /* until epoll says otherwise */

        if (got == 0) {
                if (n == 0) {
                        /* close_notify: the app reads EOF */
                        c->read_wait = ENGINE_WAIT_NONE;
                        connection_pump_peer_closed(c, p);
                } else if (n != -EAGAIN)
                        return connection_pump_failed(c, PUMP_READ_FAILED, (int) n, &fail);
                return 0;
        }

        w = c->app_gone ? (ssize_t) got : write(c->app_fd, p->scratch, got);
        c->read_wait = ENGINE_WAIT_NONE;
        c->bytes_in += (uint64_t) got;
        p->progress = true;
        /* A close_notify that ended the gathering is not seen again by another read (the peer's
         * records can all have come with the handshake, as after a resumption): remember it. */
        if (n == 0 && engine_conn_close_notify_received(c->tls))
                c->close_notify_seen = true;
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
                c->app_gone = true;
        } else if (w < (ssize_t) got) {
                if (w < 0)
                        w = 0;
                if (buffer_keep(&c->to_app, p->scratch + w, got - (size_t) w) < 0)
                        return connection_pump_failed(c, PUMP_NO_MEMORY, -ENOMEM, NULL);
        }
        return 0;
}

/* network -> app: one of the three per pass */
static int tcp_to_app(Connection *c, Pump *p) {
        if (!buffer_empty(&c->to_app))
                tcp_flush_to_app(c, p);
        else if (c->close_notify_seen && !c->peer_closed) {
                /* Seen while gathering data, now that the data is out: the app reads EOF. */
                c->read_wait = ENGINE_WAIT_NONE;
                connection_pump_peer_closed(c, p);
        } else if (!c->peer_closed && (c->net_readable || engine_conn_pending(c->tls) > 0))
                return tcp_gather(c, p);
        return 0;
}

static int tcp_from_app(Connection *c, Pump *p) {
        ssize_t n = read(c->app_fd, p->scratch, CHUNK);
        int r;

        if (n > 0) {
                r = connection_pump_encrypt(c, p, (size_t) n);
                return r < 0 ? r : 0;
        }
        if (n == 0) {
                connection_app_end_check(c);
                c->app_eof = true;
                p->progress = true;
        } else
                connection_pump_app_error(c, p);
        return 0;
}

static void tcp_close_notify_sent(Connection *c, Pump *p, int r) {
        if (r == 0) {
                c->state = CONNECTION_CLOSING;
                p->progress = true;
        }
        /* else it cannot go out: nothing is left to send either */
}

static void tcp_watch(Connection *c) {
        /* Waiting on the network for reading only makes sense when the app can take data. */
        if (!buffer_empty(&c->to_app) || c->peer_closed)
                c->read_wait = ENGINE_WAIT_NONE;
        else if (c->read_wait == ENGINE_WAIT_NONE)
                c->read_wait = ENGINE_WAIT_READ;
        (void) sd_event_source_set_io_events(c->net_io, net_events(c));
        connection_watch_app(c);
}

/* TCP needs no timers of its own: the kernel retransmits, and idle TCP connections stay. */
static void tcp_no_timers(Connection *c) {
}

static void tcp_socket_options(int fd);
static void tcp_connecting(Connection *c);

const ConnectionTransport connection_transport_tcp = {
        .data_socket_type = SOCK_STREAM,
        .data_socket_events = EPOLLIN,
        .pump_budget = 0,
        .transport_ends = true,
        .retry_refused_ticket = true,
        .net_socket_type = SOCK_STREAM,
        .net_protocol = IPPROTO_TCP,
        .socket_options = tcp_socket_options,
        .connecting = tcp_connecting,
        .handshake_timeout_optional = false,
        .input = tcp_no_timers,
        .handshake_waits = connection_watch_handshake,
        .operating = tcp_no_timers,
        .to_app = tcp_to_app,
        .from_app = tcp_from_app,
        .close_notify_sent = tcp_close_notify_sent,
        .watch = tcp_watch,
        .stop = tcp_no_timers,
        .close_socket = tcp_close_socket,
};

/* A hang-up says that both directions of the socket pair are shut, not that the app's data has
 * been read: it comes without EPOLLIN whenever input is not polled (a record waits for the
 * network), with the app's last data still queued, and it also follows the app's
 * shutdown(SHUT_WR) once our side is shut (the peer's close_notify). Only the read finds the
 * end. */
static int on_app_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        connection_app_end_seen(c, revents);
        if (revents & (EPOLLERR | EPOLLHUP)) {
                c->app_hup = true;
                if (!c->peer_closed)
                        c->app_gone = true; /* our side is open: the app's end is closed */
        }
        if (revents & (EPOLLRDHUP | EPOLLHUP))
                c->app_rdhup = true;
        if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                c->app_readable = true;
        (void) connection_pump(c);
        return 0;
}

/* ---- handshake ---- */

static int start_operating(Connection *c) {
        int pair[2], r;
        CoreEvent e = {
                .type = CORE_EVENT_HANDSHAKE_DONE,
                .connection = c->id,
                .info = &c->info,
                .handshake_us = 0,
        };

        if (socketpair(AF_UNIX, c->transport->data_socket_type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                       pair) < 0) {
                r = -errno;
                connection_fail_handshake(c, r, "cannot create the data socketpair", -1,
                                          TLSC_VERIFY_OK);
                return r;
        }
        c->app_fd = pair[0];
        /* The app's end is blocking by default, as apps expect from a plain socket. */
        (void) fcntl(pair[1], F_SETFL, fcntl(pair[1], F_GETFL) & ~O_NONBLOCK);
        /* Room for a few gathered writes, so a briefly busy app does not stall the network
         * side (the kernel caps this at net.core.wmem_max; it is a limit, not an allocation). */
        for (int i = 0; i < 2; i++) {
                int size = 1024 * 1024;

                (void) setsockopt(pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        }

        r = sd_event_add_io(c->core->event, &c->app_io, c->app_fd, c->transport->data_socket_events,
                            on_app_io, c);
        if (r < 0) {
                safe_close(pair[1]);
                connection_fail_handshake(c, r, "cannot watch the data socket", -1, TLSC_VERIFY_OK);
                return r;
        }
        c->timer = sd_event_source_disable_unref(c->timer);
        pending_done(c);
        c->state = CONNECTION_OPERATING;
        c->net_readable = c->app_readable = true;
        c->t_handshake_us = now_usec(CLOCK_MONOTONIC) - c->t_start_us;
        core_count_handshake(c->core, c->session->owner->uid, true);
        log_debug("connection %" PRIu64 ": %s %s established with %s in %" PRIu64 " us", c->id,
                  c->info.version, c->info.cipher,
                  host_port((char[HOST_PORT_MAX]){}, HOST_PORT_MAX,
                            c->host ? c->host : c->peer_address, c->host ? c->port : c->peer_port),
                  c->t_handshake_us);

        e.fd = pair[1];
        e.handshake_us = c->t_handshake_us;
        if (c->accepted) {
                e.type = CORE_EVENT_ACCEPTED;
                e.listener = c->listener ? c->listener->id : 0;
                e.peer_address = c->peer_address;
                e.peer_port = c->peer_port;
                if (c->listener)
                        listener_handshake_done(c->listener, true);
        }
        connection_emit(c, &e);
        safe_close(pair[1]); /* the adapter sent a duplicate */
        c->transport->operating(c);
        return connection_pump(c);
}

/* The server refused the ticket this connection offered: count it, and drop a reusable one,
 * which would be offered again. */
static void ticket_refused(Connection *c) {
        if (!c->core->ticket_cache)
                return;
        ticket_cache_count_rejected(c->core->ticket_cache, (uint32_t) c->session->owner->uid);
        if (c->ticket_offered &&
            ticket_cache_remove(c->core->ticket_cache, (uint32_t) c->session->owner->uid,
                                c->ticket_offered) >= 0)
                core_ticket_cache_changed(c->core);
}

void connection_handshake_complete(Connection *c) {
        bool ticket;

        engine_conn_info(c->tls, &c->info);
        /* A refused ticket the handshake survived (TLS 1.3 and DTLS: the offered PSK or
         * ticket is ignored, a full handshake follows); TLS 1.2 aborts instead (ticket_retry). */
        if (engine_conn_session_offered(c->tls) && !c->info.resumed)
                ticket_refused(c);
        /* TLS 1.2: the ticket (or session id) came with the handshake. TLS 1.3 tickets come
         * later, with a read; a resumed 1.3 session must not be filed again (single use). */
        ticket = engine_conn_ticket_arrived(c->tls) || strcmp(c->info.version, "TLSv1.2") == 0 ||
                 strcmp(c->info.version, "DTLSv1.2") == 0;
        /* The mode this handshake ran under (a Configure may have changed the session's since:
         * an app-decides handshake let any certificate through, so its app must be asked). */
        if (c->verify_mode == TLSC_VERIFY_APP_DECIDES) {
                _cleanup_free_ char *chain = NULL;
                size_t size = 0;
                CoreEvent e = {
                        .type = CORE_EVENT_CERTIFICATE,
                        .connection = c->id,
                        .fd = -EBADF,
                        .verify = c->info.verify,
                };

                (void) engine_conn_peer_chain_pem(c->tls, &chain, &size);
                e.chain = chain;
                e.chain_size = size;
                /* Kept only if the app accepts: a ticket of a rejected handshake would resume
                 * with neither the certificate nor its verification result shown again. */
                c->ticket_deferred = ticket;
                c->state = CONNECTION_CERT_PENDING;
                (void) sd_event_source_set_io_events(c->net_io, 0);
                connection_emit(c, &e);
                return;
        }
        if (ticket)
                connection_save_ticket(c);
        (void) start_operating(c);
}

static void try_next_address(Connection *c);

void connection_next_address(Connection *c, int error) {
        log_debug("connection %" PRIu64 ": %s port %u refused (%s)%s", c->id, c->peer_address,
                  c->peer_port, strerror(-error), c->addr_next ? ", trying the next address" : "");
        c->last_connect_error = error;
        c->net_io = sd_event_source_disable_unref(c->net_io);
        c->tls = engine_conn_free(c->tls);
        c->net_fd = safe_close(c->net_fd);
        c->state = CONNECTION_CONNECTING;
        try_next_address(c);
}

/* wolfSSL (5.5.4 to 5.9.2) aborts a TLS 1.2 client whose ticket the server refuses (-373, or
 * -308 when the server closes): once per connection, start over on a fresh TCP connection
 * without the session, and count the refusal. Not for DTLS (no fresh socket needed there, and
 * DTLS 1.2 servers answer a refused ticket with a full handshake) nor adopted sockets. */
static bool ticket_retry(Connection *c, int error, const char *message) {
        if (!c->transport->retry_refused_ticket || c->accepted || c->adopted || c->ticket_retried ||
            !c->addrs || !engine_conn_session_offered(c->tls) ||
            !(error == -EPROTO || error == -ECONNRESET || error == -EPIPE))
                return false;
        log_info("connection %" PRIu64 " (uid %u) to %s: resumption failed (%s), full "
                 "handshake on a new connection",
                 c->id, (unsigned) c->session->owner->uid,
                 host_port((char[HOST_PORT_MAX]){}, HOST_PORT_MAX, c->host, c->port), message);
        ticket_refused(c);
        c->ticket_retried = true;
        c->tls = engine_conn_free(c->tls);
        c->net_io = sd_event_source_disable_unref(c->net_io);
        c->net_fd = safe_close(c->net_fd);
        c->state = CONNECTION_CONNECTING;
        c->addr_next = c->addrs;
        try_next_address(c);
        return true;
}

void connection_watch_handshake(Connection *c, EngineWait wait) {
        if (c->net_io)
                (void) sd_event_source_set_io_events(
                        c->net_io, wait == ENGINE_WAIT_WRITE ? EPOLLOUT : EPOLLIN);
}

void connection_drive_handshake(Connection *c) {
        EngineWait wait = ENGINE_WAIT_NONE;
        EngineFailure fail = { .alert = -1 };
        int r;

        r = engine_conn_handshake(c->tls, &wait, &fail);
        if (r == -EAGAIN) {
                c->transport->handshake_waits(c, wait);
                return;
        }
        if (r < 0 && ticket_retry(c, r, fail.message))
                return;
        if (r < 0) {
                connection_fail_handshake(c, r, fail.message, fail.alert, fail.verify);
                return;
        }
        connection_handshake_complete(c);
}

static int on_net_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        if (revents & EPOLLIN)
                c->transport->input(c);

        switch (c->state) {
        case CONNECTION_HANDSHAKE:
                connection_drive_handshake(c);
                break;
        case CONNECTION_OPERATING:
        case CONNECTION_CLOSING:
                /* A read may also wait for the socket to be writable (a TLS write inside). */
                if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
                    ((revents & EPOLLOUT) && c->read_wait == ENGINE_WAIT_WRITE))
                        c->net_readable = true;
                (void) connection_pump(c);
                break;
        default:
                (void) sd_event_source_set_io_events(s, 0);
        }
        return 0;
}

static int begin_handshake(Connection *c) {
        Session *s = c->session;
        EngineConnParams p = {
                .peer_name = s->role == ENGINE_SERVER ? NULL
                             : s->server_name         ? s->server_name
                                                      : c->host,
                .sni = c->sni,
                .alpn = s->alpn,
                .verify = (enum tlsc_verify_mode) s->verify,
                .pin = s->has_pin ? s->pin : NULL,
                .mtu = s->mtu,
                .cid = s->dtls_cid,
        };
        int r;

        TicketScope scope;

        r = connection_take_scope(c);
        if (r < 0)
                return r;
        c->verify_mode = s->verify; /* as p.verify */
        if (c->ticket_blob &&
            memcmp(c->ticket_policy, c->scope_policy, sizeof(c->scope_policy)) != 0) {
                /* Connect checked the ticket against the policy of then; a Configure since
                 * changed it, and a ticket is only ever offered under its own policy. */
                log_info("connection %" PRIu64 ": the session was configured since Connect: "
                         "its ticket is not offered, full handshake",
                         c->id);
                wipe_free(c->ticket_blob, c->ticket_size);
                c->ticket_blob = NULL;
        }
        p.tickets = s->role == ENGINE_CLIENT && (s->resume || c->ticket_blob);
        r = engine_conn_new(s->engine, c->net_fd, &p, &c->tls);
        if (r < 0)
                return r;
        if (c->ticket_blob) {
                /* Explicit: the ticket was checked and taken at Connect. */
                r = engine_conn_set_session(c->tls, c->ticket_blob, c->ticket_size);
                if (r < 0)
                        log_warning("connection %" PRIu64 ": the ticket does not parse, full "
                                    "handshake",
                                    c->id);
                wipe_free(c->ticket_blob, c->ticket_size);
                c->ticket_blob = NULL;
        } else if (p.tickets && !c->ticket_retried && c->core->ticket_cache &&
                   connection_scope(c, &scope)) {
                _cleanup_free_ void *blob = NULL;
                size_t size = 0;
                uint64_t id = 0;

                if (ticket_cache_take_auto(c->core->ticket_cache, &scope, now_usec(CLOCK_REALTIME),
                                           &blob, &size, &id) >= 0) {
                        r = engine_conn_set_session(c->tls, blob, size);
                        c->ticket_offered = id;
                        log_debug("connection %" PRIu64 ": offering ticket %" PRIu64 "%s", c->id,
                                  id, r < 0 ? " failed: it does not parse" : "");
                        explicit_bzero(blob, size);
                        core_ticket_cache_changed(c->core);
                }
        }
        c->state = CONNECTION_HANDSHAKE;
        /* Driven from the loop, never from the request that started it: the requester learns
         * the connection's id before any event about it can arrive. */
        return sd_event_source_set_io_events(c->net_io, EPOLLIN | EPOLLOUT);
}

void connection_start_handshake(Connection *c) {
        int r;

        r = sd_event_add_io(c->core->event, &c->net_io, c->net_fd, EPOLLIN, on_net_io, c);
        if (r >= 0)
                r = begin_handshake(c);
        if (r < 0)
                connection_fail_handshake(c, r, "cannot start the handshake", -1, TLSC_VERIFY_OK);
}

static int on_connected(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err != 0) {
                c->last_connect_error = -err;
                c->net_io = sd_event_source_disable_unref(c->net_io);
                c->net_fd = safe_close(c->net_fd);
                try_next_address(c);
                return 0;
        }
        /* Connected: from now on the socket is driven by the TLS state machine. */
        c->net_io = sd_event_source_disable_unref(c->net_io);
        connection_start_handshake(c);
        return 0;
}

/* TCP: the handshake waits for connect() to complete. */
static void tcp_connecting(Connection *c) {
        int r;

        r = sd_event_add_io(c->core->event, &c->net_io, c->net_fd, EPOLLOUT, on_connected, c);
        if (r < 0)
                connection_fail_handshake(c, r, "cannot watch the socket", -1, TLSC_VERIFY_OK);
}

static void tcp_socket_options(int fd) {
        int one = 1;

        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void try_next_address(Connection *c) {
        while (c->addr_next) {
                struct addrinfo *a = c->addr_next;
                int one = 1, fd;

                c->addr_next = a->ai_next;
                if (c->bind_len > 0 && c->bind_addr.ss_family != a->ai_family)
                        continue;
                fd = socket(a->ai_family,
                            c->transport->net_socket_type | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            c->transport->net_protocol);
                if (fd < 0) {
                        c->last_connect_error = -errno;
                        continue;
                }
                c->transport->socket_options(fd);
                if (c->bind_len > 0) {
                        /* Not for UDP: there it would let the socket share a port (and its
                         * datagrams) with another socket that set it too. */
                        if (!c->dtls)
                                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                        if (bind(fd, (struct sockaddr *) &c->bind_addr, c->bind_len) < 0) {
                                c->last_connect_error = -errno;
                                safe_close(fd);
                                continue;
                        }
                }
                connection_format_peer(c, a->ai_addr); /* the address tried, for the log */
                if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
                        c->last_connect_error = -errno;
                        safe_close(fd);
                        continue;
                }
                c->net_fd = fd;
                c->transport->connecting(c);
                return;
        }
        {
                char msg[256];
                int e = c->last_connect_error ? c->last_connect_error : -ECONNREFUSED;

                (void) snprintf(msg, sizeof(msg), "cannot connect to %s port %u: %s", c->host,
                                c->port, strerror(-e));
                connection_fail_handshake(c, e, msg, -1, TLSC_VERIFY_OK);
        }
}

static struct addrinfo *copy_addrinfo(const struct addrinfo *src) {
        struct addrinfo *head = NULL, **tail = &head;

        for (const struct addrinfo *a = src; a; a = a->ai_next) {
                struct addrinfo *n = calloc(1, sizeof(*n) + a->ai_addrlen);

                if (!n)
                        break;
                *n = *a;
                n->ai_addr = (struct sockaddr *) (n + 1);
                memcpy(n->ai_addr, a->ai_addr, a->ai_addrlen);
                n->ai_canonname = NULL;
                n->ai_next = NULL;
                *tail = n;
                tail = &n->ai_next;
        }
        return head;
}

static void free_addrinfo_copy(struct addrinfo *a) {
        while (a) {
                struct addrinfo *n = a->ai_next;

                free(a);
                a = n;
        }
}

static void on_resolved(ResolveQuery *q, int error, const struct addrinfo *result, void *userdata) {
        Connection *c = userdata;
        char msg[256];

        c->resolve = NULL; /* finished; must not be cancelled any more */
        if (error < 0) {
                (void) snprintf(msg, sizeof(msg), "cannot resolve '%s'", c->host);
                connection_fail_handshake(c, error, msg, -1, TLSC_VERIFY_OK);
                return;
        }
        free_addrinfo_copy(c->addrs);
        c->addrs = c->addr_next = copy_addrinfo(result);
        if (!c->addrs) {
                connection_fail_handshake(c, -ENOMEM, "out of memory", -1, TLSC_VERIFY_OK);
                return;
        }
        try_next_address(c);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        char msg[128];

        (void) snprintf(msg, sizeof(msg), "no %s within %u ms",
                        c->state == CONNECTION_CERT_PENDING ? "certificate decision from the app"
                                                            : "completed handshake",
                        c->session->handshake_timeout_ms);
        connection_fail_handshake(c, -ETIMEDOUT, msg, -1, TLSC_VERIFY_OK);
        return 0;
}

/* ---- operations ---- */

int connection_new(Session *s, int family, char *error, Connection **ret) {
        Core *core = s->core;
        UidCount *u = core_uid_counts(core, s->owner->uid);
        Connection *c;
        int r;

        if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
                error_message_set(error, "address family must be unspecified, IPv4 or IPv6");
                return -EAFNOSUPPORT;
        }
        if (u->n_connections >= core->config->max_connections_per_uid) {
                error_message_set(error,
                                  "too many connections for this user "
                                  "(MaxConnectionsPerUser=%u)",
                                  core->config->max_connections_per_uid);
                return -EUSERS;
        }
        /* Its network socket and the app's end of the data socketpair, for its whole life. */
        r = core_fds_charge(core, s->owner->uid, 2, error);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c) {
                core_fds_uncharge(core, s->owner->uid, 2);
                return -ENOMEM;
        }
        c->core = core;
        c->session = s;
        c->id = core_next_id(core);
        c->family = family;
        c->net_fd = c->app_fd = -EBADF;
        c->state = CONNECTION_CLOSED;
        c->dtls = s->dtls;
        c->transport = s->dtls ? &connection_transport_dtls : &connection_transport_tcp;
        c->rtx_current_ms = s->dtls_timeout_initial_ms;
        /* begin_handshake takes it again; a DTLS server connection, promoted from the
         * listener's acceptor (rebuilt after each Configure), keeps this one. */
        c->verify_mode = s->verify;

        LIST_PREPEND(s->connections, c);
        s->n_connections++;
        u->n_connections++;
        *ret = c;
        return 0;
}

void connection_format_peer(Connection *c, const struct sockaddr *sa) {
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) sa;

                inet_ntop(AF_INET6, &a->sin6_addr, c->peer_address, sizeof(c->peer_address));
                c->peer_port = ntohs(a->sin6_port);
        } else if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *) sa;

                inet_ntop(AF_INET, &a->sin_addr, c->peer_address, sizeof(c->peer_address));
                c->peer_port = ntohs(a->sin_port);
        }
}

int connection_arm_handshake_timer(Connection *c) {
        return sd_event_add_time_relative(c->core->event, &c->timer, CLOCK_MONOTONIC,
                                          (uint64_t) c->session->handshake_timeout_ms * 1000, 1000,
                                          on_timeout, c);
}

/* Shared by accept and adopt: the socket is connected, the handshake starts now. */
static int start_on_socket(Connection *c, int fd) {
        int r;

        c->net_fd = fd;
        c->started = true;
        c->t_start_us = now_usec(CLOCK_MONOTONIC);
        r = connection_arm_handshake_timer(c);
        if (r < 0)
                return r;
        r = sd_event_add_io(c->core->event, &c->net_io, fd, EPOLLIN, on_net_io, c);
        if (r < 0)
                return r;
        return begin_handshake(c);
}

int connection_new_accepted(Session *s, Listener *l, int fd, const struct sockaddr *peer,
                            socklen_t peer_len, Connection **ret) {
        char error[ERROR_MESSAGE_MAX];
        Connection *c;
        int r;

        /* The listener admitted it (counted pending + connection): every failure undoes that,
         * here or through connection_free(). */
        r = connection_new(s, AF_UNSPEC, error, &c);
        if (r < 0) {
                safe_close(fd);
                listener_handshake_done(l, false);
                listener_connection_gone(l);
                return r;
        }
        c->listener = l;
        c->accepted = true;
        connection_format_peer(c, peer);
        r = start_on_socket(c, fd);
        if (r < 0) {
                if (c->state == CONNECTION_CLOSED)
                        listener_handshake_done(l, false); /* connection_free() will not */
                connection_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void connection_evict(Connection *c) {
        connection_fail_handshake(c, -ETIMEDOUT, "evicted: the listener's handshake slots are full",
                                  -1, TLSC_VERIFY_OK);
}

int connection_adopt(Session *s, int fd, const char *host, const char *sni, char *error,
                     Connection **ret) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int type = 0, r;
        socklen_t tlen = sizeof(type);
        Connection *c;

        if (s->dtls) {
                error_message_set(error, "adopting takes a connected TCP socket: DTLS sessions "
                                         "connect or listen themselves");
                safe_close(fd);
                return -EPROTOTYPE;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM ||
            getpeername(fd, (struct sockaddr *) &sa, &len) < 0 ||
            (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)) {
                error_message_set(error, "the descriptor is not a connected TCP socket");
                safe_close(fd);
                return -ENOTSOCK;
        }
        if (s->role == ENGINE_SERVER && !engine_ctx_has_identity(s->engine)) {
                error_message_set(error, "the session has no certificate and key to serve with");
                safe_close(fd);
                return -ENOKEY;
        }
        if (s->role == ENGINE_CLIENT && s->verify == TLSC_VERIFY_STRICT && !(host && *host) &&
            !s->server_name) {
                /* Strict verification checks the peer's name: without one it would check
                 * nothing but the chain. */
                error_message_set(error, "adopting as a client needs the peer's name to verify "
                                         "(host, or the session's server name)");
                safe_close(fd);
                return -EINVAL;
        }
        if (s->role == ENGINE_CLIENT && !s->trust_configured && s->verify != TLSC_VERIFY_PINNED) {
                r = engine_ctx_add_system_trust(s->engine, error);
                if (r < 0) {
                        safe_close(fd);
                        return r;
                }
                s->trust_configured = true;
        }
        r = connection_new(s, sa.ss_family, error, &c);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        c->adopted = true;
        connection_format_peer(c, (struct sockaddr *) &sa);
        if (host && *host && !(c->host = strdup(host))) {
                safe_close(fd);
                connection_free(c);
                return -ENOMEM;
        }
        if (sni && *sni && !(c->sni = strdup(sni))) {
                safe_close(fd);
                connection_free(c);
                return -ENOMEM;
        }
        c->port = c->peer_port;
        /* tlsd drives it non-blocking. The flag is shared with the app's copy of the socket,
         * which the app handed over and must not use any more. */
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        r = start_on_socket(c, fd);
        if (r < 0) {
                error_message_set(error, "cannot start the handshake");
                connection_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

Connection *connection_free(Connection *c) {
        if (!c)
                return NULL;
        if (c->state == CONNECTION_OPERATING || c->state == CONNECTION_CLOSING)
                connection_finish(c, TLSC_DISCONNECT_LOCAL, -1);
        if (c->accepted && c->listener) {
                if (c->state != CONNECTION_CLOSED && c->state != CONNECTION_OPERATING)
                        listener_handshake_done(c->listener, false);
                listener_connection_gone(c->listener);
        }
        c->release = sd_event_source_disable_unref(c->release);
        close_io(c);
        LIST_REMOVE(c->session->connections, c);
        c->session->n_connections--;
        core_uid_counts(c->core, c->session->owner->uid)->n_connections--;
        peer_released(c->session->owner, c->id);
        core_fds_uncharge(c->core, c->session->owner->uid, 2);
        free_addrinfo_copy(c->addrs);
        wipe_free(c->ticket_blob, c->ticket_size);
        free(c->scope_alpn);
        free(c->host);
        free(c->sni);
        free(c);
        return NULL;
}

int connection_bind(Connection *c, const char *address, unsigned port, char *error) {
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                                  .ai_family = c->family,
                                  .ai_socktype = SOCK_STREAM };
        struct addrinfo *res = NULL;
        char service[8];
        int r;

        if (c->started) {
                error_message_set(error, "bind must come before connect");
                return -EBUSY;
        }
        if (port > 65535) {
                error_message_set(error, "port %u out of range", port);
                return -EINVAL;
        }
        /* tlsd may bind low ports (CAP_NET_BIND_SERVICE): the same rule as for listening. */
        r = core_check_port(c->core, c->session->owner->uid, port, error);
        if (r < 0)
                return r;
        (void) snprintf(service, sizeof(service), "%u", port);
        r = getaddrinfo(address && *address ? address : NULL, service, &hints, &res);
        if (r != 0) {
                error_message_set(error, "'%s' is not a local IP address", address ? address : "");
                return -EINVAL;
        }
        memcpy(&c->bind_addr, res->ai_addr, res->ai_addrlen);
        c->bind_len = res->ai_addrlen;
        freeaddrinfo(res);
        return 0;
}

/* Connect's ticket argument: taken from the cache (single-use ones leave it) if the owner's,
 * unexpired, and issued for this very peer and policy. One that is not stays in the cache: a
 * refused offer does not use it up. */
static int take_explicit_ticket(Connection *c, uint64_t id, char *error) {
        Core *core = c->core;
        TicketScopeCopy stored = {};
        TicketScope want;
        void *blob = NULL;
        size_t size = 0;
        int r;

        if (!core->ticket_cache || !connection_scope(c, &want)) {
                error_message_set(error, "tickets are for client sessions");
                return -EINVAL;
        }
        r = ticket_cache_take_id(core->ticket_cache, want.uid, id, &want, now_usec(CLOCK_REALTIME),
                                 &blob, &size, &stored);
        if (r == -ENOENT) {
                error_message_set(error,
                                  "ticket %" PRIu64 " not found (unknown, expired, used "
                                  "up, or another user's)",
                                  id);
                return r;
        }
        if (r == -EPERM) {
                error_message_set(error,
                                  "ticket %" PRIu64 " was issued for %s port %u under "
                                  "another session policy or peer name; it is not offered to "
                                  "%s port %u",
                                  id, stored.host ? stored.host : "?", stored.port, want.host,
                                  want.port);
                ticket_scope_copy_done(&stored);
                return r;
        }
        if (r < 0)
                return r;
        core_ticket_cache_changed(core);
        ticket_scope_copy_done(&stored);
        wipe_free(c->ticket_blob, c->ticket_size);
        c->ticket_blob = blob;
        c->ticket_size = size;
        memcpy(c->ticket_policy, want.policy, sizeof(c->ticket_policy));
        return 0;
}

int connection_connect(Connection *c, const char *host, unsigned port, const char *sni,
                       uint64_t ticket, char *error) {
        Core *core = c->core;
        UidCount *u = core_uid_counts(core, c->session->owner->uid);
        int r;

        if (c->started) {
                error_message_set(error,
                                  "connection %" PRIu64 " was already started; create a new "
                                  "one",
                                  c->id);
                return -EBUSY;
        }
        if (!host || !*host || strlen(host) > 253) {
                error_message_set(error, "host must be a name or address of 1..253 bytes");
                return -EINVAL;
        }
        if (port == 0 || port > 65535) {
                error_message_set(error, "port must be 1..65535");
                return -EINVAL;
        }
        if (!c->session->trust_configured && c->session->verify != TLSC_VERIFY_PINNED) {
                /* No trust anchors given: the system store, as any TLS client would. */
                r = engine_ctx_add_system_trust(c->session->engine, error);
                if (r < 0)
                        return r;
                c->session->trust_configured = true;
        }
        if (u->n_pending >= core->config->max_pending_handshakes_per_uid) {
                error_message_set(error,
                                  "too many handshakes in progress for this user "
                                  "(MaxPendingHandshakesPerUser=%u)",
                                  core->config->max_pending_handshakes_per_uid);
                return -EUSERS;
        }

        /* Kept for the ticket cache's key and the messages. Every failure below frees them,
         * and a ticket taken for this peer: the connection stays unstarted, and a retried
         * Connect (maybe to another peer) starts from scratch. */
        c->host = strdup(host);
        if (!c->host)
                return -ENOMEM;
        if (sni && *sni) {
                c->sni = strdup(sni);
                if (!c->sni) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        c->port = port;
        /* A DTLS client's handshake is bounded by its retransmission schedule and the Timeout
         * event, unless the app set a handshake timeout as well. */
        if (!c->transport->handshake_timeout_optional || c->session->handshake_timeout_set) {
                r = sd_event_add_time_relative(core->event, &c->timer, CLOCK_MONOTONIC,
                                               (uint64_t) c->session->handshake_timeout_ms * 1000,
                                               1000, on_timeout, c);
                if (r < 0)
                        goto fail;
        }
        r = resolve_start(core->resolver, c->session->owner->uid, host, port, c->family,
                          on_resolved, c, error, &c->resolve);
        if (r < 0)
                goto fail;
        /* Last: a single-use ticket taken leaves the cache, so nothing may fail after it. */
        if (ticket != 0) {
                r = take_explicit_ticket(c, ticket, error);
                if (r < 0)
                        goto fail;
        }
        c->started = true;
        c->state = CONNECTION_CONNECTING;
        c->t_start_us = now_usec(CLOCK_MONOTONIC);
        u->n_pending++;
        c->counted_pending = true;
        return 0;

fail:
        c->timer = sd_event_source_disable_unref(c->timer);
        c->resolve = resolve_cancel(c->resolve);
        wipe_free(c->ticket_blob, c->ticket_size);
        c->ticket_blob = NULL;
        c->ticket_size = 0;
        c->host = mfree_str(c->host);
        c->sni = mfree_str(c->sni);
        return r;
}

int connection_certificate_response(Connection *c, bool accept, char *error) {
        if (c->state != CONNECTION_CERT_PENDING) {
                error_message_set(error,
                                  "connection %" PRIu64 " is not waiting for a certificate "
                                  "decision (state %s)",
                                  c->id, tlsc_state_name(c->state));
                return -EBUSY;
        }
        if (!accept) {
                connection_fail_handshake(c, -EKEYREJECTED,
                                          "certificate rejected by the application", -1,
                                          c->info.verify);
                return 0;
        }
        c->info.verify = TLSC_VERIFY_OK; /* the app vouched for it */
        if (c->ticket_deferred) {
                c->ticket_deferred = false;
                connection_save_ticket(c);
        }
        (void) start_operating(c);
        return 0;
}

int connection_disconnect(Connection *c) {
        switch (c->state) {
        case CONNECTION_OPERATING:
        case CONNECTION_CLOSING:
                if (!c->close_sent) {
                        EngineWait w;

                        (void) engine_conn_shutdown(c->tls, &w);
                }
                connection_finish(c, TLSC_DISCONNECT_LOCAL, -1);
                return 0;
        case CONNECTION_CLOSED:
                return 0;
        default:
                connection_fail_handshake(c, -ECANCELED, "cancelled by the application", -1,
                                          TLSC_VERIFY_OK);
                return 0;
        }
}

void connection_get_info(Connection *c, ConnectionInfo *ret) {
        *ret = (ConnectionInfo){
                .state = c->state,
                .engine = c->info,
                .bytes_in = c->bytes_in,
                .bytes_out = c->bytes_out,
                .handshake_us = c->t_handshake_us,
                .last_error = c->last_error,
                .last_error_message = c->last_error_message,
        };
}
