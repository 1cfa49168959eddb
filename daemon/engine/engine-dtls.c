/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DTLS in the engine: datagram I/O callbacks, the stateless acceptor a UDP listener keeps for
 * peers it does not know yet, retransmission timers, Connection IDs and the message limit.
 *
 * wolfSSL 5.7.2 facts this relies on (see the project's wolfSSL notes):
 *  - a server object answers ClientHellos without a valid cookie statelessly
 *    (HelloVerifyRequest for 1.2, HelloRetryRequest with a cookie for 1.3) and calls the
 *    ClientHello-good callback once a cookie verified: only then does a peer cost memory;
 *  - the cookie binds to the address given with wolfSSL_dtls_set_peer();
 *  - DTLS 1.3 ACKs go out only from the timer: it has to run after the handshake too.
 * Retransmission timing is tlsd's own (milliseconds, per session); wolfSSL's internal timeout
 * is kept out of the way (a maximum it never reaches) and only told when to retransmit.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/engine-internal.h"
#include "util/log.h"

#define DEFAULT_MTU 1400

static int dgram_recv(WOLFSSL *ssl, char *buf, int size, void *ctx) {
        EngineConn *c = ctx;
        ssize_t n;

        (void) ssl;
        if (size <= 0)
                return WOLFSSL_CBIO_ERR_WANT_READ;
        if (c->shared_socket) {
                /* One fed datagram per receive; wolfSSL asks with room for a whole one. */
                if (!c->in)
                        return WOLFSSL_CBIO_ERR_WANT_READ;
                n = (ssize_t) (c->in_size < (size_t) size ? c->in_size : (size_t) size);
                memcpy(buf, c->in, (size_t) n);
                c->in = NULL;
                c->in_size = 0;
                return n > 0 ? (int) n : WOLFSSL_CBIO_ERR_WANT_READ;
        }
        for (;;) {
                n = recv(c->fd, buf, (size_t) size, 0);
                if (n > 0) {
                        c->answered = true;
                        return (int) n;
                }
                if (n == 0)
                        continue; /* an empty datagram carries nothing */
                if (errno == EINTR)
                        continue;
                /* ICMP port unreachable on a connected socket. Before the peer ever answered it
                 * means nobody listens there: the connection gives up on the address
                 * (engine_conn_dgram_refused()), as a TCP connect() would. Once the peer has
                 * answered, one unauthenticated ICMP message does not end the association:
                 * retransmission decides. */
                if (errno == ECONNREFUSED) {
                        if (!c->answered)
                                c->refused = true;
                        return WOLFSSL_CBIO_ERR_WANT_READ;
                }
                if (errno == EAGAIN)
                        return WOLFSSL_CBIO_ERR_WANT_READ;
                return WOLFSSL_CBIO_ERR_GENERAL;
        }
}

static int dgram_send(WOLFSSL *ssl, char *buf, int size, void *ctx) {
        EngineConn *c = ctx;
        ssize_t n;

        (void) ssl;
        for (;;) {
                if (c->shared_socket)
                        n = sendto(c->fd, buf, (size_t) size, MSG_NOSIGNAL,
                                   (struct sockaddr *) &c->peer, c->peer_len);
                else
                        n = send(c->fd, buf, (size_t) size, MSG_NOSIGNAL);
                if (n >= 0)
                        return size;
                if (errno == EINTR)
                        continue;
                /* A connection of its own waits for room; on a listener's shared socket one
                 * peer must not stall the others, so the datagram is lost like any other and
                 * DTLS (or the app) recovers. */
                if (errno == EAGAIN && !c->shared_socket)
                        return WOLFSSL_CBIO_ERR_WANT_WRITE;
                if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED)
                        return size;
                return WOLFSSL_CBIO_ERR_GENERAL;
        }
}

int engine_dtls_conn_setup(EngineConn *c, const EngineConnParams *p) {
        WOLFSSL *ssl = c->ssl;

        c->dgram = true;
        c->mtu = p->mtu ? p->mtu : DEFAULT_MTU;
        wolfSSL_SSLSetIORecv(ssl, dgram_recv);
        wolfSSL_SSLSetIOSend(ssl, dgram_send);
        wolfSSL_SetIOReadCtx(ssl, c);
        wolfSSL_SetIOWriteCtx(ssl, c);
        wolfSSL_dtls_set_using_nonblock(ssl, 1);
        if (p->peer) {
                c->shared_socket = true;
                engine_conn_set_peer(c, p->peer, p->peer_len);
        }
        if (wolfSSL_dtls_set_mtu(ssl, (unsigned short) c->mtu) != WOLFSSL_SUCCESS)
                return -EINVAL;
        /* tlsd schedules retransmissions itself (engine_conn_dtls_timer()); wolfSSL's own
         * doubling must never reach its maximum first, or it would give up on its own. */
        if (wolfSSL_dtls_set_timeout_max(ssl, 1 << 20) != WOLFSSL_SUCCESS ||
            wolfSSL_dtls_set_timeout_init(ssl, 1) != WOLFSSL_SUCCESS)
                return -EINVAL;
        if (c->ctx->dtls_max == 0x0303 &&
            wolfSSL_set_max_proto_version(ssl, DTLS1_2_VERSION) != WOLFSSL_SUCCESS)
                return -EINVAL;
        if (c->ctx->dtls_min == 0x0304 &&
            wolfSSL_SetMinVersion(ssl, WOLFSSL_DTLSV1_3) != WOLFSSL_SUCCESS)
                return -EINVAL;
#ifdef WOLFSSL_DTLS_CID
        if (p->cid) {
                if (wolfSSL_dtls_cid_use(ssl) != WOLFSSL_SUCCESS)
                        return -EINVAL;
                if (p->cid_value && p->cid_size > 0 &&
                    wolfSSL_dtls_cid_set(ssl, (unsigned char *) p->cid_value,
                                         (unsigned) p->cid_size) != WOLFSSL_SUCCESS)
                        return -EINVAL;
        }
#else
        if (p->cid)
                return -EOPNOTSUPP;
#endif
        if (c->ctx->role == ENGINE_SERVER && p->cookie_secret) {
                if (wolfSSL_DTLS_SetCookieSecret(ssl, p->cookie_secret,
                                                 (unsigned) p->cookie_secret_size) != 0)
                        return -EINVAL;
#ifdef WOLFSSL_DTLS13
                if (c->ctx->dtls_max == 0x0304 &&
                    wolfSSL_send_hrr_cookie(ssl, p->cookie_secret,
                                            (unsigned) p->cookie_secret_size) != WOLFSSL_SUCCESS)
                        return -EINVAL;
#endif
        }
        return 0;
}

void engine_conn_set_peer(EngineConn *c, const struct sockaddr *sa, unsigned len) {
        if (len > sizeof(c->peer))
                len = sizeof(c->peer);
        memcpy(&c->peer, sa, len);
        c->peer_len = (socklen_t) len;
        /* The cookie is bound to this address. */
        (void) wolfSSL_dtls_set_peer(c->ssl, &c->peer, c->peer_len);
}

void engine_conn_feed(EngineConn *c, const void *datagram, size_t size) {
        c->in = datagram;
        c->in_size = size;
}

bool engine_conn_fed_pending(EngineConn *c) {
        return c->in != NULL;
}

static int on_client_hello_good(WOLFSSL *ssl, void *userdata) {
        EngineConn *c = userdata;

        (void) ssl;
        c->ch_good = true;
        return 0;
}

int engine_dtls_acceptor_arm(EngineConn *c) {
        return wolfDTLS_SetChGoodCb(c->ssl, on_client_hello_good, c) == WOLFSSL_SUCCESS ? 0
                                                                                        : -EINVAL;
}

int engine_dtls_accept_input(EngineConn *c, const void *datagram, size_t size,
                             const struct sockaddr *from, unsigned from_len) {
        int ret, err;

        engine_conn_set_peer(c, from, from_len);
        engine_conn_feed(c, datagram, size);
        ret = wolfSSL_accept(c->ssl);
        c->in = NULL;
        if (c->ch_good)
                return 1;
        if (ret == WOLFSSL_SUCCESS)
                return 1; /* cannot happen before a cookie; treat it as promoted anyway */
        err = wolfSSL_get_error(c->ssl, ret);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
                return 0;
        return -EPROTO;
}

bool engine_dtls_acceptor_promoted(EngineConn *c) {
        return c->ch_good;
}

EngineTimer engine_conn_dtls_timer(EngineConn *c) {
        if (!c->dgram)
                return ENGINE_TIMER_NONE;
#ifdef WOLFSSL_DTLS13
        if (wolfSSL_version(c->ssl) == DTLS1_3_VERSION) {
                if (wolfSSL_dtls13_use_quick_timeout(c->ssl))
                        return ENGINE_TIMER_QUICK;
                if (!wolfSSL_is_init_finished(c->ssl) || wolfSSL_dtls13_has_pending_msg(c->ssl))
                        return ENGINE_TIMER_RETRANSMIT;
                return ENGINE_TIMER_NONE;
        }
#endif
        return wolfSSL_is_init_finished(c->ssl) ? ENGINE_TIMER_NONE : ENGINE_TIMER_RETRANSMIT;
}

static int got_timeout(EngineConn *c) {
        if (wolfSSL_dtls_got_timeout(c->ssl) == WOLFSSL_SUCCESS)
                return 0;
        switch (wolfSSL_get_error(c->ssl, WOLFSSL_FATAL_ERROR)) {
        case WOLFSSL_ERROR_WANT_READ:
        case WOLFSSL_ERROR_WANT_WRITE:
                return 0;
        default:
                return -EPROTO;
        }
}

int engine_conn_dtls_timeout(EngineConn *c, bool retransmit) {
#ifdef WOLFSSL_DTLS13
        /* With its acknowledgement flag up, wolfSSL's DTLS 1.3 timeout only sends ACKs (and
         * clears the flag): a retransmission then takes a second call. */
        if (retransmit && wolfSSL_version(c->ssl) == DTLS1_3_VERSION &&
            wolfSSL_dtls13_use_quick_timeout(c->ssl) && got_timeout(c) < 0)
                return -EPROTO;
#endif
        return got_timeout(c);
}

size_t engine_conn_max_message(EngineConn *c) {
        int n = wolfSSL_GetMaxOutputSize(c->ssl);

        return n > 0 ? (size_t) n : 0;
}

bool engine_conn_dgram_refused(EngineConn *c) {
        return c->dgram && c->refused;
}

bool engine_ctx_dtls13_allowed(EngineCtx *c) {
        return c->dtls && c->dtls_max == 0x0304;
}

bool engine_conn_cid_in_use(EngineConn *c) {
#ifdef WOLFSSL_DTLS_CID
        unsigned tx = 0, rx = 0;

        /* Either direction: a server receives the CID it chose, a client sends it. */
        if (!c->dgram || !wolfSSL_dtls_cid_is_enabled(c->ssl))
                return false;
        (void) wolfSSL_dtls_cid_get_tx_size(c->ssl, &tx);
        (void) wolfSSL_dtls_cid_get_rx_size(c->ssl, &rx);
        return tx > 0 || rx > 0;
#else
        (void) c;
        return false;
#endif
}
