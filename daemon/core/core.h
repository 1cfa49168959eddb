/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Core: what the core objects (peers, sessions, connections, listeners, DTLS ports) share.
 * It holds the registry (ids, the list of Peers, which own every other object), the per-uid
 * accounting that limits are enforced against, the handshake counters and the data path's
 * scratch buffer; it borrows the event loop, the configuration and the ticket state from the
 * Manager, which creates it. It knows none of the objects: they use it, never the reverse
 * (what walks them is core-query.c). Plain C, no IPC types: the core reaches an adapter only
 * through the callbacks of the Peer it serves (PeerOps), and the events it sends are below.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "util/config.h"

typedef struct Core Core;
typedef struct CoreEvent CoreEvent;
typedef struct Peer Peer;
typedef struct TicketCache TicketCache;
typedef struct TicketKeys TicketKeys;
typedef struct Resolver Resolver;
typedef struct EngineSystemTrust EngineSystemTrust;

/* What one user holds; limits are checked against it. */
typedef struct UidCount {
        uid_t uid;
        unsigned n_peers;
        unsigned n_connections;
        unsigned n_pending; /* handshakes in progress */
        unsigned n_listeners;
        unsigned n_fds; /* descriptors charged to its listeners and connections */
        /* Handshakes of the uid's sessions since tlsd started (Manager.Stats for a non-root
         * caller): the entry outlives the uid's last client while these are not zero. */
        uint64_t handshakes_ok, handshakes_failed;
} UidCount;

struct Core {
        sd_event *event;      /* the Manager's loop: timers and I/O of the core objects */
        const Config *config; /* the Manager's */
        uint64_t next_id;
        Peer *peers;
        unsigned n_peers;
        UidCount *uids;
        size_t n_uids;
        size_t allocated_uids;
        uint64_t handshakes_ok;
        uint64_t handshakes_failed;
        uint8_t *scratch; /* the data path's bounce buffer (one thread) */

        /* Resumption: the server ticket keys every server session uses, the client ticket
         * cache every client session uses. The Manager owns and persists them; NULL: none. */
        TicketKeys *ticket_keys;
        TicketCache *ticket_cache;
        bool ticket_cache_dirty; /* changed since the Manager last saved it */

        Resolver *resolver; /* name lookups, with their own per-uid limits */
        /* The system CA store, read at first use and shared by every session trusting it. */
        EngineSystemTrust *system_trust;
        unsigned n_listeners;
        /* Descriptors: those open once the daemon was ready (stdio, the loop's, the control
         * socket, the bus; set by the Manager), and those charged to listeners and
         * connections since. */
        unsigned n_fds_base;
        unsigned n_fds;
};

/* event and config must outlive the Core. */
int core_new(sd_event *event, const Config *config, Core **ret);
/* The Peers (and so every object) must be gone: their adapters free them first. */
Core *core_free(Core *c);
static inline void core_freep(Core **c) {
        core_free(*c);
}
void core_set_tickets(Core *c, TicketKeys *keys, TicketCache *cache);

uint64_t core_next_id(Core *c);
/* Per-uid and global client limits: admit returns -EUSERS when one is reached. */
int core_peer_admit(Core *c, uid_t uid);
void core_peer_release(Core *c, uid_t uid);
/* The counters of a uid that has at least one client (never NULL for a live Peer's uid). */
UidCount *core_uid_counts(Core *c, uid_t uid);

/* Whether uid may listen on, or bind a connection to, port: ports below 1024 are for root and
 * PrivilegedPortUsers=. -EPERM with error set if not. */
int core_check_port(Core *c, uid_t uid, unsigned port, char *error);

/* Descriptors for the data plane (the Manager raises the soft RLIMIT_NOFILE to the hard one at
 * start). The control plane keeps a reserve: one sixteenth of the soft RLIMIT_NOFILE (read at
 * each call, so a lowered limit counts at once), at least 32 and at most 1024, that listeners
 * and connections never take, so clients can always connect to tlsd and be answered. Of the
 * rest one uid may hold half. charge returns -EMFILE (error set) when n more would cross
 * either line; listeners charge 1, connections 2 (network socket and the app's end), for as
 * long as they exist. */
int core_fds_charge(Core *c, uid_t uid, unsigned n, char *error);
void core_fds_uncharge(Core *c, uid_t uid, unsigned n);

uint8_t *core_scratch(Core *c);
/* The client ticket cache changed: the Manager saves it on its timer and at exit. */
void core_ticket_cache_changed(Core *c);
/* A finished handshake of a session of uid's. */
void core_count_handshake(Core *c, uid_t uid, bool ok);

/* ---- events: the core tells a Peer's adapter about its connections ---- */

typedef enum CoreEventType {
        CORE_EVENT_HANDSHAKE_DONE,
        CORE_EVENT_HANDSHAKE_FAILED,
        CORE_EVENT_CERTIFICATE,
        CORE_EVENT_DISCONNECTED,
        CORE_EVENT_ACCEPTED, /* a listener's connection is up: like HANDSHAKE_DONE plus where */
        CORE_EVENT_TIMEOUT,  /* DTLS: retransmission limit reached; the app decides */
        CORE_EVENT_MESSAGE_TOO_LARGE, /* DTLS: an app message over the record limit, dropped */
        /* A listener's client failed its handshake (never announced; rate-limited per
         * listener: listener.c) */
        CORE_EVENT_ACCEPT_FAILED,
} CoreEventType;

struct EngineInfo;

struct CoreEvent {
        CoreEventType type;
        uint64_t connection;           /* ACCEPT_FAILED: the id it had in the log; gone */
        const struct EngineInfo *info; /* HANDSHAKE_DONE */
        uint64_t handshake_us;         /* HANDSHAKE_DONE */
        int fd;              /* HANDSHAKE_DONE: the app's data end; the adapter sends a copy */
        int error;           /* HANDSHAKE_FAILED, ACCEPT_FAILED: negative errno */
        const char *message; /* HANDSHAKE_FAILED, ACCEPT_FAILED */
        int alert;           /* HANDSHAKE_FAILED, ACCEPT_FAILED, DISCONNECTED: -1 when none */
        int verify;          /* HANDSHAKE_FAILED, ACCEPT_FAILED, CERTIFICATE */
        const char *chain;   /* CERTIFICATE: PEM */
        size_t chain_size;
        int reason; /* DISCONNECTED */
        uint64_t bytes_in, bytes_out;
        uint64_t listener;        /* ACCEPTED, ACCEPT_FAILED */
        const char *peer_address; /* ACCEPTED, ACCEPT_FAILED */
        unsigned peer_port;
        unsigned suppressed;      /* ACCEPT_FAILED: failures before this one not reported */
        unsigned retries;         /* TIMEOUT */
        size_t size, max_message; /* MESSAGE_TOO_LARGE */
};
