/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/connection.h"
#include "core/dtls-port.h"
#include "util/error-message.h"
#include "core/listener.h"
#include "core/peer.h"
#include "list.h"
#include "util/log.h"
#include "core/core.h"
#include "time-util.h"

/* All handshake slots taken: the client that has been silent longest gives way, so clients that
 * connect and never speak (slowloris) cannot lock out fresh ones; they can only cycle. */
static bool evict_oldest_pending(Listener *l) {
        Connection *oldest = NULL;

        for (Connection *c = l->session->connections; c; c = c->next)
                if (c->listener == l && c->state == CONNECTION_HANDSHAKE &&
                    (!oldest || c->t_start_us < oldest->t_start_us))
                        oldest = c;
        if (!oldest)
                return false;
        connection_evict(oldest);
        return true;
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Listener *l = userdata;

        /* Bounded per wakeup: a flood of connects cannot starve established connections. */
        for (unsigned i = 0; i < 64; i++) {
                struct sockaddr_storage sa;
                socklen_t len = sizeof(sa);
                Connection *c;
                int cfd, r, one = 1;

                cfd = accept4(fd, (struct sockaddr *) &sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        r = -errno;
                        if (r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM) {
                                /* The connection stays queued and the socket readable: without a
                                 * pause the loop would spin on it (and log each time) until a
                                 * descriptor frees up. Try again at most every 100 ms. */
                                if (sd_event_source_get_ratelimit(es, NULL, NULL) < 0) {
                                        log_warning_errno(r,
                                                          "listener %" PRIu64 ": accept: %m; "
                                                          "retrying every 100 ms",
                                                          l->id);
                                        (void) sd_event_source_set_ratelimit(es, 100000, 1);
                                }
                        } else if (r != -EAGAIN && r != -EINTR && r != -ECONNABORTED)
                                log_warning_errno(r, "listener %" PRIu64 ": accept: %m", l->id);
                        return 0;
                }
                if (i == 0 && sd_event_source_get_ratelimit(es, NULL, NULL) >= 0) {
                        log_info("listener %" PRIu64 ": accepting again", l->id);
                        (void) sd_event_source_set_ratelimit(es, 0, 0);
                }
                if (!listener_admit(l)) {
                        /* Over the limit: cheapest possible refusal. */
                        safe_close(cfd);
                        continue;
                }
                (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                r = connection_new_accepted(l->session, l, cfd, (struct sockaddr *) &sa, len, &c);
                if (r < 0) {
                        log_debug_errno(r, "listener %" PRIu64 ": refusing connection: %m", l->id);
                        continue; /* connection_new_accepted() closed cfd and undid admit */
                }
        }
        return 0;
}

bool listener_admit(Listener *l) {
        if (l->n_connections >= l->max_connections ||
            (l->n_pending >= l->max_pending && !evict_oldest_pending(l))) {
                l->n_refused++;
                return false;
        }
        l->n_pending++;
        l->n_connections++;
        return true;
}

static int make_socket(const ListenerOptions *o, bool dtls, int *ret_fd, char *error) {
        int type = dtls ? SOCK_DGRAM : SOCK_STREAM;
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                                  .ai_socktype = type };
        struct addrinfo *res = NULL;
        char service[8];
        int fd, r, one = 1, zero = 0;

        (void) snprintf(service, sizeof(service), "%u", o->port);
        if (!o->address || !*o->address) {
                /* dual stack, falling back to IPv4 where IPv6 is off */
                hints.ai_family = AF_INET6;
                r = getaddrinfo("::", service, &hints, &res);
                fd = r == 0 ? socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
                if (fd < 0) {
                        if (res)
                                freeaddrinfo(res);
                        res = NULL;
                        hints.ai_family = AF_INET;
                        r = getaddrinfo("0.0.0.0", service, &hints, &res);
                        if (r != 0)
                                return -EINVAL;
                        fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                } else
                        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        } else {
                r = getaddrinfo(o->address, service, &hints, &res);
                if (r != 0) {
                        error_message_set(error, "'%s' is not a numeric IP address", o->address);
                        return -EINVAL;
                }
                fd = socket(res->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd >= 0 && res->ai_family == AF_INET6)
                        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        }
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(res);
                return r;
        }
        /* TCP: a port whose old connections linger in TIME_WAIT can be listened on again at
         * once; a listening TCP socket is never shared that way. UDP has no such state, and
         * there SO_REUSEADDR (or SO_REUSEPORT) would let two sockets share the port and split
         * its datagrams: a second user's listener would get handshakes meant for the first.
         * So a UDP port anyone holds is refused with EADDRINUSE. */
        if (!dtls)
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        else {
                /* Many peers share this socket: room for bursts from all of them. */
                int size = 4 * 1024 * 1024;

                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
                (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        }
        if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
            (!dtls && listen(fd, o->backlog ? (int) o->backlog : SOMAXCONN) < 0)) {
                r = -errno;
                error_message_set(error, "cannot listen on %s port %u: %s",
                                  o->address ? o->address : "*", o->port, strerror(-r));
                safe_close(fd);
                freeaddrinfo(res);
                return r;
        }
        freeaddrinfo(res);
        *ret_fd = fd;
        return 0;
}

int listener_new(Session *s, const ListenerOptions *o, char *error, Listener **ret) {
        Core *core = s->core;
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        UidCount *u;
        Listener *l;
        int r;

        if (s->role != ENGINE_SERVER) {
                error_message_set(error, "listening needs a server session");
                return -EINVAL;
        }
        if (!engine_ctx_has_identity(s->engine)) {
                error_message_set(error, "the session has no certificate and key to serve with");
                return -ENOKEY;
        }
        if (o->port > 65535) {
                error_message_set(error, "port %u out of range", o->port);
                return -EINVAL;
        }
        r = core_check_port(core, s->owner->uid, o->port, error);
        if (r < 0)
                return r;
        u = core_uid_counts(core, s->owner->uid);
        if (u->n_listeners >= core->config->max_listeners_per_uid) {
                error_message_set(error,
                                  "too many listeners for this user "
                                  "(MaxListenersPerUser=%u)",
                                  core->config->max_listeners_per_uid);
                return -EUSERS;
        }
        if (core->n_listeners >= core->config->max_listeners) {
                error_message_set(error, "too many listeners on this tlsd (MaxListeners=%u)",
                                  core->config->max_listeners);
                return -EUSERS;
        }
        /* The socket; a DTLS listener hands it, and this charge, to its DtlsPort. */
        r = core_fds_charge(core, s->owner->uid, 1, error);
        if (r < 0)
                return r;

        l = calloc(1, sizeof(*l));
        if (!l) {
                core_fds_uncharge(core, s->owner->uid, 1);
                return -ENOMEM;
        }
        l->core = core;
        l->session = s;
        l->id = core_next_id(core);
        l->fd = -EBADF;
        l->max_pending = o->max_pending ? o->max_pending : core->config->listener_max_pending;
        l->max_connections =
                o->max_connections ? o->max_connections : core->config->listener_max_connections;
        r = make_socket(o, s->dtls, &l->fd, error);
        if (r < 0) {
                core_fds_uncharge(core, s->owner->uid, 1);
                free(l);
                return r;
        }
        if (getsockname(l->fd, (struct sockaddr *) &sa, &len) == 0) {
                if (sa.ss_family == AF_INET6) {
                        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &sa;

                        l->port = ntohs(a->sin6_port);
                        inet_ntop(AF_INET6, &a->sin6_addr, l->address, sizeof(l->address));
                } else {
                        struct sockaddr_in *a = (struct sockaddr_in *) &sa;

                        l->port = ntohs(a->sin_port);
                        inet_ntop(AF_INET, &a->sin_addr, l->address, sizeof(l->address));
                }
        }
        if (s->dtls) {
                /* the port's now, with the charge, also when this fails */
                r = dtls_port_new(s, l, l->fd, &l->dtls_port);
                l->fd = -EBADF; /* the port's now */
        } else {
                r = sd_event_add_io(core->event, &l->io, l->fd, EPOLLIN, on_accept, l);
                if (r < 0)
                        core_fds_uncharge(core, s->owner->uid, 1);
        }
        if (r < 0) {
                safe_close(l->fd);
                free(l);
                return r;
        }
        u->n_listeners++;
        core->n_listeners++;
        LIST_PREPEND(s->listeners, l);
        log_info("listener %" PRIu64 " (uid %u) on %s %s port %u", l->id, (unsigned) s->owner->uid,
                 s->dtls ? "UDP (DTLS)" : "TCP", l->address, l->port);
        *ret = l;
        return 0;
}

static void log_suppressed(Listener *l);

Listener *listener_free(Listener *l) {
        if (!l)
                return NULL;
        /* Established connections outlive their listener. */
        for (Connection *c = l->session->connections; c; c = c->next)
                if (c->listener == l)
                        c->listener = NULL;
        l->io = sd_event_source_disable_unref(l->io);
        log_suppressed(l);
        l->report_timer = sd_event_source_disable_unref(l->report_timer);
        if (l->fd >= 0) {
                l->fd = safe_close(l->fd);
                core_fds_uncharge(l->core, l->session->owner->uid, 1);
        }
        if (l->dtls_port)
                dtls_port_listener_gone(l->dtls_port);
        core_uid_counts(l->core, l->session->owner->uid)->n_listeners--;
        l->core->n_listeners--;
        LIST_REMOVE(l->session->listeners, l);
        log_debug("listener %" PRIu64 " closed: %" PRIu64 " accepted, %" PRIu64
                  " failed handshakes, %" PRIu64 " refused",
                  l->id, l->n_accepted, l->n_failed, l->n_refused);
        free(l);
        return NULL;
}

void listener_handshake_done(Listener *l, bool ok) {
        if (l->n_pending > 0)
                l->n_pending--;
        if (ok)
                l->n_accepted++;
        else
                l->n_failed++;
}

/* ---- failed handshakes: logged and reported, within the rate limit ---- */

static void log_suppressed(Listener *l) {
        if (l->n_log_suppressed == 0)
                return;
        log_info("listener %" PRIu64 " (uid %u, %s port %u): %u more failed handshakes not "
                 "logged (at most %u a second)",
                 l->id, (unsigned) l->session->owner->uid, l->address, l->port, l->n_log_suppressed,
                 LISTENER_REPORTS_PER_SECOND);
        l->n_log_suppressed = 0;
}

static int on_report_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        log_suppressed(userdata);
        return 0;
}

void listener_handshake_failed(Listener *l, uint64_t connection, const char *peer_address,
                               unsigned peer_port, int error, const char *message, int alert,
                               int verify) {
        uint64_t now = now_usec(CLOCK_MONOTONIC), window_end;
        CoreEvent e = {
                .type = CORE_EVENT_ACCEPT_FAILED,
                .connection = connection,
                .fd = -EBADF,
                .listener = l->id,
                .peer_address = peer_address,
                .peer_port = peer_port,
                .error = error,
                .message = message,
                .alert = alert,
                .verify = verify,
        };

        listener_handshake_done(l, false);
        if (now - l->report_window_us >= USEC_PER_SEC) {
                l->report_window_us = now;
                l->n_reported = 0;
        }
        if (l->n_reported >= LISTENER_REPORTS_PER_SECOND) {
                /* Counted; the log's summary comes at the window's end, the event's count
                 * with the next event. */
                l->n_log_suppressed++;
                l->n_event_suppressed++;
                window_end = l->report_window_us + USEC_PER_SEC;
                if (!l->report_timer)
                        (void) sd_event_add_time(l->core->event, &l->report_timer, CLOCK_MONOTONIC,
                                                 window_end, 0, on_report_timer, l);
                else if (sd_event_source_set_time(l->report_timer, window_end) >= 0)
                        (void) sd_event_source_set_enabled(l->report_timer, SD_EVENT_ONESHOT);
                return;
        }
        l->n_reported++;
        log_suppressed(l); /* what the last window left, before the new line */
        log_info("listener %" PRIu64 " (uid %u, %s port %u): handshake of connection %" PRIu64
                 " from %s port %u failed: %s%s%s",
                 l->id, (unsigned) l->session->owner->uid, l->address, l->port, connection,
                 peer_address, peer_port, message,
                 verify != TLSC_VERIFY_OK ? "; verification: " : "",
                 verify != TLSC_VERIFY_OK ? tlsc_verify_result_name(verify) : "");
        e.suppressed = l->n_event_suppressed;
        l->n_event_suppressed = 0;
        peer_emit(l->session->owner, &e);
}

void listener_connection_gone(Listener *l) {
        if (l->n_connections > 0)
                l->n_connections--;
}
