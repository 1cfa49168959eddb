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
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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

        (void) snprintf(msg, sizeof(msg), "no answer from the peer after %u retransmissions "
                                          "(%s)", c->rtx_count,
                        c->state == CONNECTION_HANDSHAKE ? "handshake" : "unacknowledged records");
        if (c->accepted && c->state == CONNECTION_HANDSHAKE) {
                /* Nobody to ask yet: an unannounced handshake just fails (counted, logged). */
                connection_fail_handshake(c, -ETIMEDOUT, msg, -1, TLSC_VERIFY_OK);
                return;
        }
        /* The app decides: Retry, or Disconnect/Destroy. Nothing is dropped silently. */
        c->rtx_paused = true;
        log_info("connection %" PRIu64 " (uid %u): %s", c->id,
                 (unsigned) c->session->owner->uid, msg);
        connection_emit(c, &e);
}

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

void connection_dtls_timer_update(Connection *c) {
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
        if (!c->dtls || !c->rtx_paused || !c->tls) {
                (void) snprintf(error, 256, "connection %" PRIu64 " has no retransmission "
                                            "timeout to retry", c->id);
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

void connection_dtls_operating(Connection *c) {
        c->last_activity_us = now_usec(CLOCK_MONOTONIC);
        if (c->session->idle_timeout_ms > 0 && !c->idle_timer)
                (void) sd_event_add_time_relative(c->core->event, &c->idle_timer,
                                                  CLOCK_MONOTONIC,
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
                  "dropped", c->id, size, c->info.max_message);
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

static bool app_shut(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLRDHUP };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP));
}

static void update_events(Connection *c) {
        uint32_t app = 0;

        if (!c->app_eof && !c->app_gone && buffer_empty(&c->to_net))
                app |= EPOLLIN | EPOLLRDHUP;
        if (!buffer_empty(&c->to_app))
                app |= EPOLLOUT;
        (void) sd_event_source_set_io_events(c->app_io, app);
        if (c->net_io) {
                uint32_t net = 0;

                if (buffer_empty(&c->to_app) && !c->peer_closed)
                        net |= EPOLLIN;
                if (c->write_wait == ENGINE_WAIT_WRITE || c->read_wait == ENGINE_WAIT_WRITE)
                        net |= EPOLLOUT;
                (void) sd_event_source_set_io_events(c->net_io, net);
        }
}

/* Messages one pump moves before it yields to the event loop (epoll is level-triggered: the
 * rest is picked up on the next iteration), so one busy connection cannot starve the others. */
#define PUMP_BUDGET 64

static int on_pump_again(sd_event_source *s, void *userdata) {
        Connection *c = userdata;

        c->pump_again = sd_event_source_disable_unref(c->pump_again);
        if (c->tls && (c->state == CONNECTION_OPERATING || c->state == CONNECTION_CLOSING))
                (void) connection_pump(c);
        return 0;
}

int connection_dtls_pump(Connection *c) {
        uint8_t *scratch = core_scratch(c->core);
        EngineFailure fail = { .alert = -1 };
        unsigned budget = PUMP_BUDGET;
        bool progress;

        do {
                progress = false;

                /* network -> app */
                if (!buffer_empty(&c->to_app)) {
                        ssize_t w = send(c->app_fd, c->to_app.data + c->to_app.start,
                                         c->to_app.end - c->to_app.start,
                                         MSG_DONTWAIT | MSG_NOSIGNAL);

                        if (w >= 0 || (errno != EAGAIN && errno != EINTR)) {
                                if (w < 0)
                                        c->app_gone = true;
                                c->to_app.start = c->to_app.end;
                                progress = true;
                        }
                }
                /* A shared socket's datagram is read now or never; an own socket waits. */
                if (!c->peer_closed && (buffer_empty(&c->to_app) || c->dtls_port) &&
                    (c->net_readable || engine_conn_fed_pending(c->tls) ||
                     engine_conn_pending(c->tls) > 0)) {
                        ssize_t n = engine_conn_read(c->tls, scratch, MESSAGE_MAX, &c->read_wait,
                                                     &fail);

                        if (engine_conn_ticket_arrived(c->tls))
                                connection_save_ticket(c);

                        if (n > 0) {
                                c->bytes_in += (uint64_t) n;
                                c->last_activity_us = now_usec(CLOCK_MONOTONIC);
                                deliver(c, scratch, (size_t) n);
                                progress = true;
                        } else if (n == -EAGAIN) {
                                c->net_readable = false;
                        } else if (n == 0) {
                                c->peer_closed = true;
                                (void) shutdown(c->app_fd, SHUT_WR);
                                progress = true;
                        } else {
                                log_debug("connection %" PRIu64 ": read failed: %s", c->id,
                                          fail.message);
                                connection_finish(c, fail.alert >= 0 ? TLSC_DISCONNECT_ALERT
                                                                     : TLSC_DISCONNECT_RESET,
                                                  fail.alert);
                                return (int) n;
                        }
                }

                /* app -> network */
                if (!buffer_empty(&c->to_net)) {
                        ssize_t w = engine_conn_write(c->tls, c->to_net.data + c->to_net.start,
                                                      c->to_net.end - c->to_net.start,
                                                      &c->write_wait, &fail);

                        if (w > 0) {
                                c->bytes_out += (uint64_t) w;
                                c->to_net.start = c->to_net.end;
                                c->write_wait = ENGINE_WAIT_NONE;
                                progress = true;
                        } else if (w != -EAGAIN) {
                                connection_finish(c, TLSC_DISCONNECT_RESET, fail.alert);
                                return (int) w;
                        }
                } else if (!c->app_eof && !c->app_gone && c->app_readable) {
                        /* MSG_TRUNC: the real length even when it is over the buffer, so an
                         * oversize message is reported, never cut. */
                        ssize_t n = recv(c->app_fd, scratch, MESSAGE_MAX,
                                         MSG_DONTWAIT | MSG_TRUNC);

                        if (n > 0 && (size_t) n > c->info.max_message) {
                                too_large(c, (size_t) n);
                                progress = true;
                        } else if (n > 0) {
                                ssize_t w = engine_conn_write(c->tls, scratch, (size_t) n,
                                                              &c->write_wait, &fail);

                                progress = true;
                                if (w > 0) {
                                        c->bytes_out += (uint64_t) w;
                                        c->last_activity_us = now_usec(CLOCK_MONOTONIC);
                                        c->write_wait = ENGINE_WAIT_NONE;
                                } else if (w == -EAGAIN) {
                                        if (buffer_keep(&c->to_net, scratch, (size_t) n) < 0) {
                                                connection_finish(c, TLSC_DISCONNECT_RESET, -1);
                                                return -ENOMEM;
                                        }
                                } else {
                                        connection_finish(c, TLSC_DISCONNECT_RESET, fail.alert);
                                        return (int) w;
                                }
                        } else if (n == 0) {
                                /* SOCK_SEQPACKET: 0 is an empty message (it carries nothing),
                                 * or EOF, which repeats: the socket's state tells them apart. */
                                if (c->app_rdhup || app_shut(c->app_fd))
                                        c->app_eof = true;
                                progress = true;
                        } else if (errno == EAGAIN) {
                                c->app_readable = false;
                        } else if (errno != EINTR) {
                                c->app_gone = true;
                                progress = true;
                        }
                }

                if ((c->app_eof || c->app_gone) && !c->close_sent && buffer_empty(&c->to_net)) {
                        EngineWait w = ENGINE_WAIT_NONE;
                        int r = engine_conn_shutdown(c->tls, &w);

                        if (r == 0 || r != -EAGAIN) {
                                c->close_sent = true;
                                c->state = CONNECTION_CLOSING;
                                progress = true;
                                budget++; /* not a message */
                                c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
                                (void) sd_event_add_time_relative(c->core->event,
                                                                  &c->idle_timer, CLOCK_MONOTONIC,
                                                                  LINGER_USEC, 10000, on_linger,
                                                                  c);
                        } else
                                c->write_wait = w;
                }
        } while (progress && --budget > 0);
        if (budget == 0 && !c->pump_again)
                /* More may be waiting where epoll cannot see it (records wolfSSL already holds):
                 * continue after everyone else had a turn. */
                (void) sd_event_add_defer(c->core->event, &c->pump_again, on_pump_again, c);

        if (c->close_sent && (c->peer_closed || c->app_gone)) {
                connection_finish(c, c->peer_closed ? TLSC_DISCONNECT_CLOSE_NOTIFY
                                                    : TLSC_DISCONNECT_LOCAL,
                                  -1);
                return -ESHUTDOWN;
        }
        update_events(c);
        connection_dtls_timer_update(c);
        return 0;
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

void connection_dtls_note_input(Connection *c) {
        note_input(c);
}

void connection_dtls_close(Connection *c) {
        c->pump_again = sd_event_source_disable_unref(c->pump_again);
        c->rtx_timer = sd_event_source_disable_unref(c->rtx_timer);
        c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
        c->rtx_kind = ENGINE_TIMER_NONE;
        if (c->dtls_port) {
                dtls_port_unlink(c->dtls_port, c);
                c->dtls_port = dtls_port_unref(c->dtls_port);
        }
}
