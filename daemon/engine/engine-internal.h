/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the engine*.c files share: the wolfSSL-side layout of EngineCtx and EngineConn. Only
 * files that include wolfSSL headers include this; the rest of tlsd sees engine.h.
 */
#pragma once

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine/engine.h"
#include "engine/engine-ticket.h"

/* The post-quantum hybrid key exchange X25519MLKEM768 (0x11EC): wolfSSL 5.8 and later, built
 * with ML-KEM and its hybrids (its options.h says so; the group's name in ssl.h alone does
 * not, as 5.9 declares it in every build). */
#if defined(WOLFSSL_HAVE_MLKEM) && defined(WOLFSSL_PQC_HYBRIDS) && !defined(WOLFSSL_NO_ML_KEM) &&  \
        !defined(WOLFSSL_NO_ML_KEM_768) && defined(HAVE_CURVE25519)
#define ENGINE_HAVE_X25519MLKEM768 1
#endif

/* A server identity beyond the first (which lives in the WOLFSSL_CTX itself): chosen per
 * handshake by SNI and by the key types the client can verify. */
typedef struct EngineIdentity {
        struct EngineIdentity *next;
        WOLFSSL_X509 *leaf; /* names and key type */
        int key_type;       /* EVP_PKEY_RSA or EVP_PKEY_EC */
        char *chain;        /* PEM chain as given */
        size_t chain_size;
        uint8_t *key; /* decrypted private key, DER */
        size_t key_size;
        bool in_ctx; /* the first one: already loaded into the CTX */
} EngineIdentity;

struct EngineCtx {
        WOLFSSL_CTX *ctx;
        EngineRole role;
        EngineIdentity *identities; /* in the order given; the first is the default */
        unsigned n_identities;
        char *psk_identity;
        uint8_t *psk_key;
        size_t psk_key_size;
        char psk13_suite[48]; /* the TLS 1.3 suite an external PSK is offered with */
        bool dtls;
        bool configured; /* anything loaded beyond the defaults (a DTLS version change would
                          * need a new WOLFSSL_CTX) */
        unsigned dtls_min, dtls_max; /* 0x0303 or 0x0304: DTLS 1.2 / 1.3 by TLS generation */
        unsigned min_rsa_bits, min_ecc_bits; /* smallest keys accepted, peer's and own */
        uint16_t key_shares[2]; /* client: groups a ClientHello carries key shares for */
        unsigned n_key_shares;  /* 0: the library's choice */
        /* server: tickets under the daemon's keys, bound to the owner and policy (keys NULL:
         * no tickets); the callback's context, so it lives as long as the WOLFSSL_CTX */
        EngineTicketBinding ticket;
        /* Trust (engine-trust.c) */
        EngineSystemTrust *system_trust; /* where the system store comes from */
        bool trusts_system;              /* the system store's certificates are anchors */
        bool shares_system_trust; /* ctx's certificate store is the shared system one: nothing
                                   * may be loaded into it */
        bool has_own_trust;       /* CA certificates of its own were loaded into ctx */
        int verify_mode;          /* as set in ctx (the library has no getter in this build) */
};

struct EngineConn {
        WOLFSSL *ssl;
        EngineCtx *ctx; /* the session's policy; outlives its connections */
        EngineConnParams params;
        char *peer_name;
        uint8_t pin[32];
        bool has_pin;
        uint8_t ip[16];                 /* peer_name as an address, checked by verify_cb */
        size_t ip_size;                 /* 4, 16, or 0 for a DNS name */
        enum tlsc_verify_result verify; /* first failure seen, or OK */
        char verify_detail[112];        /* what a weak-key failure found, or "" */
        char verify_subject[96];        /* the certificate that failed first, and its issuer */
        char verify_issuer[96];         /* (for the message: which CA is not trusted) */
        char *chain_pem;                /* peer chain captured in the verify callback */
        size_t chain_size;
        char *server_alpn; /* servers: our protocols, by preference, until chosen */
        bool shutdown_sent;
        bool session_offered; /* client: a saved session was set for resumption */
        bool ticket_arrived;  /* client: a NewSessionTicket was taken since the last check */
        /* server: the session's policy hash as this association was created, which the
         * tickets of its handshake are bound to (EngineTicketBinding.handshake_policy) */
        uint8_t ticket_policy[ENGINE_TICKET_POLICY_SIZE];
        bool has_ticket_policy;

        /* DTLS: datagrams. A client owns a connected UDP socket; a server connection shares
         * its listener's socket, gets its datagrams fed by the listener's demultiplexer and
         * sends with sendto() to the peer. */
        bool dgram;
        int fd;
        bool shared_socket;
        struct sockaddr_storage peer;
        socklen_t peer_len;
        const uint8_t *in; /* the fed datagram, consumed by the next receive */
        size_t in_size;
        bool ch_good;  /* acceptor: the client proved its address with a cookie */
        bool refused;  /* an ICMP port unreachable came back (connected socket) before
                        * anything else did */
        bool answered; /* a datagram came from the peer (connected socket) */
        unsigned mtu;
};

/* Whether data looks like PEM (else it is taken for DER). */
bool engine_looks_pem(const void *data, size_t size);

/* DTLS parts of engine_conn_new (engine-dtls.c). */
int engine_dtls_conn_setup(EngineConn *c, const EngineConnParams *p);
