/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Session is a policy umbrella for connections: role, versions, suites, groups, identity,
 * trust, verification, ALPN, SNI, timeouts. It owns one EngineCtx (a WOLFSSL_CTX) and its
 * connections. It belongs to the Peer that created it and dies with it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "core/peer.h"

typedef struct Connection Connection;
typedef struct Listener Listener;

typedef struct SessionOptions {
        /* Each field applies only when its has_/non-NULL marker says so. */
        bool has_versions;
        unsigned version_min, version_max;
        const char *ciphers;
        bool has_legacy;
        bool legacy;
        const char *groups;
        const void *cert;
        size_t cert_size;
        const void *key;
        size_t key_size;
        const char *key_password;
        const char *psk_identity;
        const void *psk_key;
        size_t psk_key_size;
        const void *ca;
        size_t ca_size;
        bool system_trust;
        bool has_verify;
        unsigned verify;
        const void *pin;
        size_t pin_size;
        const char *alpn;
        const char *server_name;
        bool has_compression;
        unsigned compression;
        bool has_handshake_timeout;
        unsigned handshake_timeout_ms;
        bool has_client_auth;
        unsigned client_auth;
        bool has_transport; /* fixed when the session is created */
        unsigned transport; /* enum tlsc_transport */
        /* DTLS only */
        bool has_dtls_timeout_initial, has_dtls_timeout_max, has_dtls_retries, has_mtu,
                has_dtls_cid;
        unsigned dtls_timeout_initial_ms, dtls_timeout_max_ms, dtls_retries, mtu;
        bool dtls_cid;
        bool has_idle_timeout;
        unsigned idle_timeout_ms;
        bool has_resume; /* client: automatic resumption (default on) */
        bool resume;
} SessionOptions;

typedef struct Session {
        Core *core;
        Peer *owner;
        uint64_t id;
        Session *prev, *next; /* in the owner's list */

        EngineRole role;
        EngineCtx *engine;
        bool legacy;
        bool trust_configured;
        unsigned n_trust_anchors; /* CA certificates given (the system store not counted: it
                                   * is shared), against MaxTrustAnchorsPerSession= */
        size_t trust_bytes;       /* their bytes, against MaxTrustBytesPerSession= */
        char *alpn;
        char *server_name;
        unsigned verify;
        uint8_t pin[32];
        bool has_pin;
        unsigned handshake_timeout_ms;
        bool handshake_timeout_set; /* by the app: DTLS clients otherwise use the schedule */
        unsigned idle_timeout_ms;   /* 0: none */
        bool resume;                /* client: offer and keep tickets automatically */
        /* A running SHA-256 over every policy option applied (versions, suites, groups,
         * identity, trust, verification, pin, PSK, ALPN, server name, client-certificate mode,
         * transport): part of the ticket cache's scope, so a ticket is only ever offered under
         * the same policy; a server binds the tickets it issues to it (and to the owner). Both
         * take it as it stood when the connection's handshake began: a ticket describes that
         * handshake, though a TLS 1.3 one comes after it (maybe after a Configure). */
        uint8_t policy[32];
        /* Counts Configure calls: an object built from the session ahead of a handshake (a DTLS
         * listener's acceptor) is rebuilt when it changed. */
        uint64_t generation;

        bool dtls;
        unsigned dtls_timeout_initial_ms, dtls_timeout_max_ms, dtls_retries, mtu;
        bool dtls_cid;

        Connection *connections;
        unsigned n_connections;
        Listener *listeners;
} Session;

/* error: a human message buffer (>= 256 bytes) filled on failure. */
int session_new(Peer *owner, unsigned role, const SessionOptions *o, char *error, Session **ret);
Session *session_free(Session *s);
int session_configure(Session *s, const SessionOptions *o, char *error);

