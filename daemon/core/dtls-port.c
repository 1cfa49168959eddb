/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DTLS listener sockets: demultiplexing, the stateless acceptor, promotion of verified peers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/dtls-port.h"
#include "util/log.h"
#include "core/core.h"

#define DATAGRAM_MAX 65536
#define BATCH 64 /* datagrams per wakeup: a flood cannot starve everything else */

/* Record headers (RFC 6347 4.1, RFC 9147 4): a DTLSPlaintext/Ciphertext header is 13 bytes
 * with version major 0xfe; a DTLS 1.3 unified header starts with 0b001xxxxx, and its C bit says
 * a Connection ID follows the first byte. */
#define DTLS_HEADER 13
#define CT_HANDSHAKE 22

static bool is_unified_header(const uint8_t *d, size_t n) {
        return n >= 3 && (d[0] & 0xe0) == 0x20;
}

static bool is_plain_header(const uint8_t *d, size_t n) {
        return n >= DTLS_HEADER && d[0] >= 20 && d[0] <= 26 && d[1] == 0xfe;
}

static unsigned hash_bytes(const void *data, size_t size) {
        const uint8_t *b = data;
        uint32_t h = 2166136261u; /* FNV-1a */

        for (size_t i = 0; i < size; i++)
                h = (h ^ b[i]) * 16777619u;
        return h % DTLS_PORT_BUCKETS;
}

/* The part of an address that identifies a peer (family, port, address), ignoring padding. */
static size_t address_key(const struct sockaddr *sa, uint8_t key[20]) {
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) sa;

                memcpy(key, &a->sin6_port, 2);
                memcpy(key + 2, &a->sin6_addr, 16);
                return 18;
        }
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *) sa;

                memcpy(key, &a->sin_port, 2);
                memcpy(key + 2, &a->sin_addr, 4);
                return 6;
        }
        return 0;
}

bool dtls_address_equal(const struct sockaddr *a, const struct sockaddr *b) {
        uint8_t ka[20], kb[20];
        size_t na, nb;

        if (a->sa_family != b->sa_family)
                return false;
        na = address_key(a, ka);
        nb = address_key(b, kb);
        return na > 0 && na == nb && memcmp(ka, kb, na) == 0;
}

static unsigned address_bucket(const struct sockaddr *sa) {
        uint8_t key[20];

        return hash_bytes(key, address_key(sa, key));
}

static Connection *find_by_address(DtlsPort *p, const struct sockaddr *sa) {
        for (Connection *c = p->by_address[address_bucket(sa)]; c; c = c->port_next)
                if (dtls_address_equal((struct sockaddr *) &c->peer_sa, sa))
                        return c;
        return NULL;
}

static Connection *find_by_cid(DtlsPort *p, const uint8_t cid[2]) {
        for (Connection *c = p->by_cid[hash_bytes(cid, 2)]; c; c = c->port_cid_next)
                if (c->has_cid && memcmp(c->cid, cid, 2) == 0)
                        return c;
        return NULL;
}

void dtls_port_link(DtlsPort *p, Connection *c) {
        unsigned b = address_bucket((struct sockaddr *) &c->peer_sa);

        c->port_next = p->by_address[b];
        p->by_address[b] = c;
        if (c->has_cid) {
                b = hash_bytes(c->cid, 2);
                c->port_cid_next = p->by_cid[b];
                p->by_cid[b] = c;
        }
}

static void unlink_address(DtlsPort *p, Connection *c) {
        for (Connection **i = &p->by_address[address_bucket((struct sockaddr *) &c->peer_sa)]; *i;
             i = &(*i)->port_next)
                if (*i == c) {
                        *i = c->port_next;
                        break;
                }
        c->port_next = NULL;
}

void dtls_port_unlink(DtlsPort *p, Connection *c) {
        unlink_address(p, c);
        if (c->has_cid)
                for (Connection **i = &p->by_cid[hash_bytes(c->cid, 2)]; *i;
                     i = &(*i)->port_cid_next)
                        if (*i == c) {
                                *i = c->port_cid_next;
                                break;
                        }
        c->port_cid_next = NULL;
}

void dtls_port_move(DtlsPort *p, Connection *c, const struct sockaddr *sa, socklen_t len) {
        Connection *old = find_by_address(p, sa);
        unsigned b;

        /* Whoever was at that address before has moved on (or was a stale NAT mapping). */
        if (old && old != c)
                unlink_address(p, old);
        unlink_address(p, c);
        memcpy(&c->peer_sa, sa, len);
        c->peer_sa_len = len;
        b = address_bucket(sa);
        c->port_next = p->by_address[b];
        p->by_address[b] = c;
}

/* A CID no live connection and not the current acceptor uses. */
static void pick_cid(DtlsPort *p, uint8_t cid[2]) {
        for (unsigned tries = 0; tries < 65536; tries++) {
                uint16_t v = p->next_cid++;

                cid[0] = (uint8_t) (v >> 8);
                cid[1] = (uint8_t) v;
                if (!find_by_cid(p, cid))
                        return;
        }
}

static int acceptor_new(DtlsPort *p) {
        Session *s = p->session;
        struct sockaddr_storage none = { .ss_family = AF_UNSPEC };
        EngineConnParams params = {
                .alpn = s->alpn,
                .verify = TLSC_VERIFY_STRICT,
                .mtu = s->mtu,
                .cid = s->dtls_cid,
                .peer = (struct sockaddr *) &none,
                .peer_len = sizeof(none),
                .cookie_secret = p->cookie_secret,
                .cookie_secret_size = sizeof(p->cookie_secret),
        };
        int r;

        if (s->dtls_cid) {
                pick_cid(p, p->acceptor_cid);
                params.cid_value = p->acceptor_cid;
                params.cid_size = sizeof(p->acceptor_cid);
        }
        r = engine_conn_new(s->engine, p->fd, &params, &p->acceptor);
        if (r < 0)
                return r;
        p->acceptor_generation = s->generation;
        r = engine_dtls_acceptor_arm(p->acceptor);
        if (r < 0)
                p->acceptor = engine_conn_free(p->acceptor);
        return r;
}

static void from_unknown_peer(DtlsPort *p, const uint8_t *d, size_t n, const struct sockaddr *from,
                              socklen_t from_len) {
        EngineConn *tls;
        Connection *c;
        int r;

        if (!p->listener || !is_plain_header(d, n) || d[0] != CT_HANDSHAKE) {
                /* Only a ClientHello can start something; anything else from a stranger (or
                 * after the listener closed) is dropped. */
                p->n_unknown++;
                return;
        }
        /* wolfSSL copies the verify mode, versions and more from the context into each object
         * it creates, and the acceptor took the session's ALPN list, MTU and CID setting: after
         * a Configure it would let the next peer in under the old policy (no client certificate
         * where one is now required). Its successor checks the cookies it sent all the same:
         * they are bound to the port's secret, not to the object. */
        if (p->acceptor && p->acceptor_generation != p->session->generation)
                p->acceptor = engine_conn_free(p->acceptor);
        if (!p->acceptor && acceptor_new(p) < 0) {
                p->n_refused++;
                return;
        }
        r = engine_dtls_accept_input(p->acceptor, d, n, from, from_len);
        if (r == 0) {
                p->n_cookie_exchanges++;
                return;
        }
        tls = p->acceptor;
        p->acceptor = NULL;
        if (r < 0) {
                /* A malformed hello broke the object: drop it, the next one gets a new one. */
                engine_conn_free(tls);
                p->n_garbage++;
                return;
        }
        /* The cookie verified: this peer owns the address it claims. */
        if (!listener_admit(p->listener)) {
                engine_conn_free(tls);
                p->n_refused++;
                return;
        }
        r = connection_new_dtls_accepted(p->session, p->listener, p, tls, from, from_len,
                                         p->session->dtls_cid ? p->acceptor_cid : NULL,
                                         p->session->dtls_cid ? sizeof(p->acceptor_cid) : 0, &c);
        if (r < 0) {
                p->n_refused++;
                log_debug_errno(r, "DTLS port %u: cannot accept a peer: %m", p->listener->port);
                return;
        }
        p->n_promoted++;
}

static void route(DtlsPort *p, const uint8_t *d, size_t n, const struct sockaddr *from,
                  socklen_t from_len) {
        Connection *c = NULL;
        bool by_cid = false;

        if (!is_plain_header(d, n) && !is_unified_header(d, n)) {
                p->n_garbage++;
                return;
        }
        if (is_unified_header(d, n) && (d[0] & 0x10)) {
                c = find_by_cid(p, d + 1);
                by_cid = c != NULL;
        }
        if (!c)
                c = find_by_address(p, from);
        if (!c) {
                from_unknown_peer(p, d, n, from, from_len);
                return;
        }
        connection_dtls_input(c, d, n, from, from_len, by_cid);
}

static int on_datagram(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        DtlsPort *p = dtls_port_ref(userdata);
        uint8_t *buf = p->buf;

        for (unsigned i = 0; i < BATCH && p->io; i++) {
                struct sockaddr_storage from;
                socklen_t len = sizeof(from);
                ssize_t n =
                        recvfrom(fd, buf, DATAGRAM_MAX, MSG_TRUNC, (struct sockaddr *) &from, &len);

                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
                                log_debug_errno(-errno, "DTLS port: recvfrom: %m");
                        break;
                }
                p->n_datagrams++;
                if (n > DATAGRAM_MAX) {
                        p->n_garbage++;
                        continue;
                }
                route(p, buf, (size_t) n, (struct sockaddr *) &from, len);
        }
        dtls_port_unref(p);
        return 0;
}

/* The socket and its descriptor charge are given up together. */
static void close_socket(Core *core, Session *s, int fd) {
        safe_close(fd);
        core_fds_uncharge(core, s->owner->uid, 1);
}

int dtls_port_new(Session *s, Listener *l, int fd, DtlsPort **ret) {
        DtlsPort *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                close_socket(s->core, s, fd);
                return -ENOMEM;
        }
        p->core = s->core;
        p->session = s;
        p->listener = l;
        p->fd = fd;
        p->refs = 1;
        p->buf = malloc(DATAGRAM_MAX);
        if (!p->buf) {
                close_socket(s->core, s, fd);
                free(p);
                return -ENOMEM;
        }
        /* The cookie secret binds cookies to this port; it never leaves the process. */
        if (getrandom(p->cookie_secret, sizeof(p->cookie_secret), 0) !=
                    (ssize_t) sizeof(p->cookie_secret) ||
            getrandom(&p->next_cid, sizeof(p->next_cid), 0) != (ssize_t) sizeof(p->next_cid)) {
                r = -errno;
                close_socket(s->core, s, fd);
                free(p->buf);
                free(p);
                return r;
        }
        r = sd_event_add_io(s->core->event, &p->io, fd, EPOLLIN, on_datagram, p);
        if (r < 0) {
                close_socket(s->core, s, fd);
                free(p->buf);
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

DtlsPort *dtls_port_ref(DtlsPort *p) {
        p->refs++;
        return p;
}

DtlsPort *dtls_port_unref(DtlsPort *p) {
        if (!p || --p->refs > 0)
                return NULL;
        log_debug("DTLS port closed: %" PRIu64 " datagrams, %" PRIu64 " garbage, %" PRIu64
                  " from unknown peers, %" PRIu64 " cookie exchanges, %" PRIu64
                  " accepted, %" PRIu64 " refused",
                  p->n_datagrams, p->n_garbage, p->n_unknown, p->n_cookie_exchanges, p->n_promoted,
                  p->n_refused);
        p->io = sd_event_source_disable_unref(p->io);
        p->acceptor = engine_conn_free(p->acceptor);
        close_socket(p->core, p->session, p->fd);
        explicit_bzero(p->cookie_secret, sizeof(p->cookie_secret));
        free(p->buf);
        free(p);
        return NULL;
}

void dtls_port_listener_gone(DtlsPort *p) {
        p->listener = NULL;
        p->acceptor = engine_conn_free(p->acceptor);
        dtls_port_unref(p);
}
