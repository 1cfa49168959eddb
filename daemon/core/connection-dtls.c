/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DTLS connections: the message bridge between the app's SOCK_SEQPACKET end and the engine (one
 * app message = one record), the retransmission schedule with its Timeout event, the idle
 * timeout, and the server side's datagrams arriving from a shared port.
 *
 * Delivery is at most once: replays and duplicates are dropped by wolfSSL's replay window;
 * order is whatever the network gives. A client connection owns its UDP socket and applies
 * backpressure both ways; a server connection shares its listener's socket, so it never
 * stalls the socket for others: a message the app has not taken yet when the next one
 * arrives is dropped (counted), as the network could have done.
 *
 * All of it reaches the shared code through connection_transport_dtls, the DTLS entries of the
 * ConnectionTransport table (connection-internal.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/connection-internal.h"
#include "core/dtls-port.h"
#include "util/error-message.h"
#include "util/log.h"
#include "core/core.h"

#define MESSAGE_MAX (64 * 1024) /* the scratch buffer; records are far smaller */

/* ---- retransmission ---- */

static void reset_backoff(Connection *c) {
        c->rtx_count = 0;
        c->rtx_current_ms = c->session->dtls_timeout_initial_ms;
}

static void timeout_reached(Connection *c) {
        char msg[160];
        CoreEvent e = {
                .type = CORE_EVENT_TIMEOUT,
                .connection = c->id,
                .fd = -EBADF,
                .retries = c->rtx_count,
                .message = msg,
        };

        (void) snprintf(msg, sizeof(msg),
                        "no answer from the peer after %u retransmissions "
                        "(%s)",
                        c->rtx_count,
                        c->state == CONNECTION_HANDSHAKE ? "handshake" : "unacknowledged records");
        if (c->accepted && c->state == CONNECTION_HANDSHAKE) {
                /* Nobody to ask yet: an unannounced handshake just fails (counted, logged). */
                connection_fail_handshake(c, -ETIMEDOUT, msg, -1, TLSC_VERIFY_OK);
                return;
        }
        /* The app decides: Retry, or Disconnect/Destroy. Nothing is dropped silently. */
        c->rtx_paused = true;
        log_info("connection %" PRIu64 " (uid %u): %s", c->id, (unsigned) c->session->owner->uid,
                 msg);
        connection_emit(c, &e);
}

static void connection_dtls_timer_update(Connection *c);

static int on_rtx_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        EngineTimer kind = c->rtx_kind;

        c->rtx_timer = sd_event_source_disable_unref(c->rtx_timer);
        c->rtx_kind = ENGINE_TIMER_NONE;
        if (!c->tls)
                return 0;
        if (kind == ENGINE_TIMER_RETRANSMIT) {
                if (c->rtx_count >= c->session->dtls_retries) {
                        timeout_reached(c);
                        return 0;
                }
                c->rtx_count++;
                c->rtx_current_ms *= 2;
                if (c->rtx_current_ms > c->session->dtls_timeout_max_ms)
                        c->rtx_current_ms = c->session->dtls_timeout_max_ms;
        }
        if (engine_conn_dtls_timeout(c->tls, kind == ENGINE_TIMER_RETRANSMIT) < 0) {
                if (c->state == CONNECTION_HANDSHAKE)
                        connection_fail_handshake(c, -EPROTO, "retransmission failed", -1,
                                                  TLSC_VERIFY_OK);
                else
                        connection_finish(c, TLSC_DISCONNECT_RESET, -1);
                return 0;
        }
        connection_dtls_timer_update(c);
        return 0;
}

static void connection_dtls_timer_update(Connection *c) {
        EngineTimer kind;
        uint64_t ms;

        if (!c->tls || c->rtx_paused)
                return;
        kind = engine_conn_dtls_timer(c->tls);
        if (kind == ENGINE_TIMER_NONE) {
                c->rtx_timer = sd_event_source_disable_unref(c->rtx_timer);
                c->rtx_kind = kind;
                reset_backoff(c);
                return;
        }
        if (c->rtx_timer && kind == c->rtx_kind)
                return; /* already counting down for this */
        ms = kind == ENGINE_TIMER_QUICK ? c->rtx_current_ms / 4 : c->rtx_current_ms;
        if (ms == 0)
                ms = 1;
        c->rtx_timer = sd_event_source_disable_unref(c->rtx_timer);
        /* From now, not from the loop iteration's start (sd_event_add_time_relative()): a slow
         * step before this must not shorten the timeout. */
        if (sd_event_add_time(c->core->event, &c->rtx_timer, CLOCK_MONOTONIC,
                              now_usec(CLOCK_MONOTONIC) + ms * 1000, 1000, on_rtx_timer, c) >= 0)
                c->rtx_kind = kind;
        log_debug("connection %" PRIu64 ": %s timer %" PRIu64 " ms (retransmission %u)", c->id,
                  kind == ENGINE_TIMER_QUICK ? "acknowledgement" : "retransmission", ms,
                  c->rtx_count);
}

/* Something arrived from the peer: during the handshake the flight it answers is done, so the
 * schedule starts over (RFC 6347 4.2.4). */
static void note_input(Connection *c) {
        c->last_activity_us = now_usec(CLOCK_MONOTONIC);
        if (c->state == CONNECTION_HANDSHAKE && !c->rtx_paused) {
                reset_backoff(c);
                c->rtx_timer = sd_event_source_disable_unref(c->rtx_timer);
                c->rtx_kind = ENGINE_TIMER_NONE;
        }
}

int connection_retry(Connection *c, char *error) {
        /* Only the DTLS retransmission schedule pauses (TCP has none). */
        if (!c->rtx_paused || !c->tls) {
                (void) snprintf(error, 256,
                                "connection %" PRIu64 " has no retransmission "
                                "timeout to retry",
                                c->id);
                return -EBUSY;
        }
        c->rtx_paused = false;
        reset_backoff(c);
        if (engine_conn_dtls_timeout(c->tls, true) < 0) {
                (void) snprintf(error, 256, "retransmission failed");
                return -EPROTO;
        }
        connection_dtls_timer_update(c);
        return 0;
}

/* ---- idle timeout ---- */

static int on_idle_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        uint64_t idle_us = (uint64_t) c->session->idle_timeout_ms * 1000;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (now - c->last_activity_us < idle_us) {
                (void) sd_event_source_set_time_relative(s, idle_us - (now - c->last_activity_us));
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        if (!c->close_sent && c->tls) {
                EngineWait w;

                (void) engine_conn_shutdown(c->tls, &w); /* a courtesy close_notify */
        }
        connection_finish(c, TLSC_DISCONNECT_TIMEOUT, -1);
        return 0;
}

/* After our close_notify: a datagram peer may never answer with its own (it can be lost, and
 * many do not send one), so the connection ends after a grace period instead of waiting for
 * the app to close its end. */
#define LINGER_USEC (2 * 1000 * 1000)

static int on_linger(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;

        connection_finish(c, TLSC_DISCONNECT_LOCAL, -1);
        return 0;
}

static void dtls_operating(Connection *c) {
        c->last_activity_us = now_usec(CLOCK_MONOTONIC);
        if (c->session->idle_timeout_ms > 0 && !c->idle_timer)
                (void) sd_event_add_time_relative(c->core->event, &c->idle_timer, CLOCK_MONOTONIC,
                                                  (uint64_t) c->session->idle_timeout_ms * 1000,
                                                  10000, on_idle_timer, c);
}

/* ---- the message bridge ---- */

static void too_large(Connection *c, size_t size) {
        CoreEvent e = {
                .type = CORE_EVENT_MESSAGE_TOO_LARGE,
                .connection = c->id,
                .fd = -EBADF,
                .size = size,
                .max_message = c->info.max_message,
        };

        c->n_too_large++;
        log_debug("connection %" PRIu64 ": app message of %zu bytes over the %u-byte limit "
                  "dropped",
                  c->id, size, c->info.max_message);
        connection_emit(c, &e);
}

static void deliver(Connection *c, const uint8_t *data, size_t size) {
        ssize_t w;

        if (c->app_gone)
                return;
        if (!buffer_empty(&c->to_app)) {
                c->n_app_dropped++; /* shared socket: cannot wait for the app */
                return;
        }
        w = send(c->app_fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w >= 0)
                return;
        if (errno == EAGAIN) {
                if (buffer_keep(&c->to_app, data, size) < 0)
                        c->n_app_dropped++;
        } else if (errno != EINTR)
                c->app_gone = true;
}

static void update_events(Connection *c) {
        connection_watch_app(c);
        if (c->net_io) {
                uint32_t net = 0;

                if (buffer_empty(&c->to_app) && !c->peer_closed)
                        net |= EPOLLIN;
                if (c->write_wait == ENGINE_WAIT_WRITE || c->read_wait == ENGINE_WAIT_WRITE)
                        net |= EPOLLOUT;
                (void) sd_event_source_set_io_events(c->net_io, net);
        }
}

/* What the app did not take when it arrived: it goes now, or is dropped if the app's end
 * failed. */
static void dtls_flush_to_app(Connection *c, Pump *p) {
        ssize_t w = send(c->app_fd, c->to_app.data + c->to_app.start,
                         c->to_app.end - c->to_app.start, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w >= 0 || (errno != EAGAIN && errno != EINTR)) {
                if (w < 0)
                        c->app_gone = true;
                c->to_app.start = c->to_app.end;
                p->progress = true;
        }
}

/* One record from the engine, one message to the app. */
static int dtls_read_message(Connection *c, Pump *p) {
        EngineFailure fail = { .alert = -1 };
        ssize_t n = engine_conn_read(c->tls, p->scratch, MESSAGE_MAX, &c->read_wait, &fail);

        if (engine_conn_ticket_arrived(c->tls))
                connection_save_ticket(c);

        if (n > 0) {
                c->bytes_in += (uint64_t) n;
                c->last_activity_us = now_usec(CLOCK_MONOTONIC);
                deliver(c, p->scratch, (size_t) n);
                p->progress = true;
        } else if (n == -EAGAIN) {
                c->net_readable = false;
        } else if (n == 0) {
                connection_pump_peer_closed(c, p);
        } else
                return connection_pump_failed(c, PUMP_READ_FAILED, (int) n, &fail);
        return 0;
}

/* network -> app */
static int dtls_to_app(Connection *c, Pump *p) {
        if (!buffer_empty(&c->to_app))
                dtls_flush_to_app(c, p);
        /* A shared socket's datagram is read now or never; an own socket waits. */
        if (!c->peer_closed && (buffer_empty(&c->to_app) || c->dtls_port) &&
            (c->net_readable || engine_conn_fed_pending(c->tls) || engine_conn_pending(c->tls) > 0))
                return dtls_read_message(c, p);
        return 0;
}

/* app -> network: one message, one record */
static int dtls_from_app(Connection *c, Pump *p) {
        /* MSG_TRUNC: the real length even when it is over the buffer, so an oversize message is
         * reported, never cut. */
        ssize_t n = recv(c->app_fd, p->scratch, MESSAGE_MAX, MSG_DONTWAIT | MSG_TRUNC);
        int r;

        if (n > 0 && (size_t) n > c->info.max_message) {
                too_large(c, (size_t) n);
                p->progress = true;
        } else if (n > 0) {
                r = connection_pump_encrypt(c, p, (size_t) n);
                if (r < 0)
                        return r;
                if (r > 0)
                        c->last_activity_us = now_usec(CLOCK_MONOTONIC);
        } else if (n == 0) {
                /* SOCK_SEQPACKET: 0 is an empty message (it carries nothing), or EOF, which
                 * repeats: the socket's state tells them apart. */
                connection_app_end_check(c);
                if (c->app_rdhup || c->app_end != APP_END_OPEN)
                        c->app_eof = true;
                p->progress = true;
        } else
                connection_pump_app_error(c, p);
        return 0;
}

/* Sent or failed, either way nothing more goes out: the linger starts. */
static void dtls_close_notify_sent(Connection *c, Pump *p, int r) {
        c->state = CONNECTION_CLOSING;
        p->progress = true;
        p->budget++; /* not a message */
        c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
        (void) sd_event_add_time_relative(c->core->event, &c->idle_timer, CLOCK_MONOTONIC,
                                          LINGER_USEC, 10000, on_linger, c);
}

static void dtls_watch(Connection *c) {
        update_events(c);
        connection_dtls_timer_update(c);
}

/* ---- server side ---- */

int connection_new_dtls_accepted(Session *s, Listener *l, DtlsPort *port, EngineConn *tls,
                                 const struct sockaddr *peer, socklen_t peer_len,
                                 const uint8_t *cid, size_t cid_size, Connection **ret) {
        char error[ERROR_MESSAGE_MAX];
        Connection *c;
        int r;

        r = connection_new(s, AF_UNSPEC, error, &c);
        if (r < 0) {
                engine_conn_free(tls);
                listener_handshake_done(l, false);
                listener_connection_gone(l);
                return r;
        }
        c->listener = l;
        c->accepted = true;
        c->started = true;
        c->tls = tls;
        c->state = CONNECTION_HANDSHAKE;
        c->t_start_us = c->last_activity_us = now_usec(CLOCK_MONOTONIC);
        memcpy(&c->peer_sa, peer, peer_len);
        c->peer_sa_len = peer_len;
        connection_format_peer(c, peer);
        if (cid && cid_size == sizeof(c->cid)) {
                memcpy(c->cid, cid, sizeof(c->cid));
                c->has_cid = true;
        }
        c->dtls_port = dtls_port_ref(port);
        dtls_port_link(port, c);
        reset_backoff(c);
        r = connection_arm_handshake_timer(c);
        if (r < 0) {
                connection_free(c);
                return r;
        }
        /* The acceptor already answered the ClientHello with the server's flight. */
        connection_dtls_timer_update(c);
        *ret = c;
        return 0;
}

void connection_dtls_input(Connection *c, const uint8_t *datagram, size_t size,
                           const struct sockaddr *from, socklen_t from_len, bool by_cid) {
        bool moved = by_cid && !dtls_address_equal(from, (struct sockaddr *) &c->peer_sa);
        uint64_t before = c->bytes_in;

        if (!c->tls)
                return;
        note_input(c);
        engine_conn_feed(c->tls, datagram, size);
        switch (c->state) {
        case CONNECTION_HANDSHAKE:
                connection_drive_handshake(c);
                break;
        case CONNECTION_OPERATING:
        case CONNECTION_CLOSING:
                (void) connection_pump(c);
                break;
        default:
                break;
        }
        if (c->tls && engine_conn_fed_pending(c->tls))
                engine_conn_feed(c->tls, NULL, 0); /* not wanted now: dropped like a lost one */
        /* A new address counts only once a record from it decrypted (AEAD authenticated it):
         * a copied CID from elsewhere cannot move the connection. */
        if (moved && c->tls && c->dtls_port && c->bytes_in > before) {
                log_info("connection %" PRIu64 ": peer moved from %s port %u", c->id,
                         c->peer_address, c->peer_port);
                dtls_port_move(c->dtls_port, c, from, from_len);
                engine_conn_set_peer(c->tls, from, from_len);
                connection_format_peer(c, from);
        }
}

static void dtls_stop(Connection *c) {
        c->rtx_timer = sd_event_source_disable_unref(c->rtx_timer);
        c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
        c->rtx_kind = ENGINE_TIMER_NONE;
        if (c->dtls_port) {
                dtls_port_unlink(c->dtls_port, c);
                c->dtls_port = dtls_port_unref(c->dtls_port);
        }
}

/* A client's own UDP socket (a server connection has none: its port's is shared). */
static void dtls_close_socket(Connection *c) {
        c->net_fd = safe_close(c->net_fd);
}

static void dtls_handshake_waits(Connection *c, EngineWait wait) {
        if (engine_conn_dgram_refused(c->tls)) {
                /* Nothing listens at this address (the kernel got ICMP port unreachable back
                 * before any answer): the name's next one may be the server, and when every
                 * address has refused, Connect fails with ECONNREFUSED now, as TCP's does,
                 * instead of retransmitting into the void until the Timeout. */
                dtls_stop(c);
                reset_backoff(c);
                connection_next_address(c, -ECONNREFUSED);
                return;
        }
        connection_watch_handshake(c, wait);
        connection_dtls_timer_update(c);
}

/* No options: a UDP socket is used as it comes. */
static void dtls_socket_options(int fd) {
}

/* Messages one pump moves before it yields to the event loop (epoll is level-triggered: the
 * rest is picked up on the next iteration), so one busy connection cannot starve the others. */
#define PUMP_BUDGET 64

const ConnectionTransport connection_transport_dtls = {
        .data_socket_type = SOCK_SEQPACKET,
        .data_socket_events = EPOLLIN | EPOLLRDHUP,
        .pump_budget = PUMP_BUDGET,
        .transport_ends = false,
        .retry_refused_ticket = false,
        /* A UDP connect() only fixes the peer: the handshake starts now and its
         * retransmissions tell whether anyone answers. */
        .net_socket_type = SOCK_DGRAM,
        .net_protocol = IPPROTO_UDP,
        .socket_options = dtls_socket_options,
        .connecting = connection_start_handshake,
        .handshake_timeout_optional = true,
        .input = note_input,
        .handshake_waits = dtls_handshake_waits,
        .operating = dtls_operating,
        .to_app = dtls_to_app,
        .from_app = dtls_from_app,
        .close_notify_sent = dtls_close_notify_sent,
        .watch = dtls_watch,
        .stop = dtls_stop,
        .close_socket = dtls_close_socket,
};
