/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The core API: what the IPC adapters (Unix socket, D-Bus) call. Plain C, no IPC types; every
 * call that touches an object takes the requesting Peer and checks ownership itself. Results
 * are 0 or a negative errno; adapters map errno to the wire/D-Bus error with
 * tlsd_error_from_errno() and add the message.
 */
#pragma once

#include <stdint.h>

#include "core/peer.h"

typedef struct CoreVersion {
        const char *version;     /* tlsd package version */
        uint32_t protocol;       /* Unix-socket protocol version */
        const char *tls_library; /* "wolfSSL 5.7.2" */
} CoreVersion;

void core_version(Manager *m, CoreVersion *ret);

typedef struct CoreIdentity {
        uid_t uid;
        gid_t gid;
        pid_t pid;
} CoreIdentity;

/* The credentials the daemon attributes a client's requests to. */
void core_whoami(const Peer *p, CoreIdentity *ret);

struct TicketCacheStats;
/* The client ticket cache's counters for the caller's uid; root sees those of all uids. */
void core_ticket_stats(const Peer *p, struct TicketCacheStats *ret);

/* ---- events: the core tells a Peer's adapter about its connections ---- */

typedef enum CoreEventType {
        CORE_EVENT_HANDSHAKE_DONE,
        CORE_EVENT_HANDSHAKE_FAILED,
        CORE_EVENT_CERTIFICATE,
        CORE_EVENT_DISCONNECTED,
        CORE_EVENT_ACCEPTED, /* a listener's connection is up: like HANDSHAKE_DONE plus where */
        CORE_EVENT_TIMEOUT,  /* DTLS: retransmission limit reached; the app decides */
        CORE_EVENT_MESSAGE_TOO_LARGE, /* DTLS: an app message over the record limit, dropped */
} CoreEventType;

struct EngineInfo;

struct CoreEvent {
        CoreEventType type;
        uint64_t connection;
        const struct EngineInfo *info; /* HANDSHAKE_DONE */
        uint64_t handshake_us;         /* HANDSHAKE_DONE */
        int fd;              /* HANDSHAKE_DONE: the app's data end; the adapter sends a copy */
        int error;           /* HANDSHAKE_FAILED: negative errno */
        const char *message; /* HANDSHAKE_FAILED */
        int alert;           /* HANDSHAKE_FAILED, DISCONNECTED: -1 when none */
        int verify;          /* HANDSHAKE_FAILED, CERTIFICATE */
        const char *chain;   /* CERTIFICATE: PEM */
        size_t chain_size;
        int reason;          /* DISCONNECTED */
        uint64_t bytes_in, bytes_out;
        uint64_t listener;        /* ACCEPTED */
        const char *peer_address; /* ACCEPTED */
        unsigned peer_port;
        unsigned retries;         /* TIMEOUT */
        size_t size, max_message; /* MESSAGE_TOO_LARGE */
};
