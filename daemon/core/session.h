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
#include "session-options.h"

typedef struct Connection Connection;
typedef struct Listener Listener;

/* The options both control planes carry (common/session-options.h: one table maps them to
 * protocol attributes and D-Bus keys). */
typedef TlsdSessionOptions SessionOptions;

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
