/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Manager owns the daemon: the main sd-event loop, the configuration, the control-plane
 * adapters and the per-user accounting that limits are enforced against.
 *
 * Threading: for now everything runs on the main loop thread. Connection I/O will move to
 * per-core worker loops; the Manager will own those and stay the only place that creates and
 * destroys core objects.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "config.h"

typedef struct UnixServer UnixServer;
typedef struct Bus Bus;

typedef struct Peer Peer;
typedef struct TicketKeys TicketKeys;
typedef struct TicketCache TicketCache;
typedef struct Session Session;
typedef struct Connection Connection;
typedef struct EngineSystemTrust EngineSystemTrust;

/* What one user holds; limits are checked against it. */
typedef struct UidCount {
        uid_t uid;
        unsigned n_peers;
        unsigned n_connections;
        unsigned n_pending; /* handshakes in progress */
        /* Handshakes of the uid's sessions since tlsd started (Manager.Stats for a non-root
         * caller): the entry outlives the uid's last client while these are not zero. */
        uint64_t handshakes_ok, handshakes_failed;
} UidCount;

typedef struct ManagerStats {
        uint64_t handshakes_ok;
        uint64_t handshakes_failed;
} ManagerStats;

typedef struct Manager {
        sd_event *event;
        Config *config;
        UnixServer *unix_server;
        Bus *bus; /* NULL: no D-Bus */
        uint64_t next_id;
        Peer *peers;
        uint8_t *scratch; /* the data path's bounce buffer (one thread) */
        ManagerStats stats;
        /* The system CA store, read at first use and shared by every session trusting it. */
        EngineSystemTrust *system_trust;

        /* Resumption: the server ticket keys every server session uses, the client ticket
         * cache every client session uses; both persisted in state_dir ([Tickets] Persist=). */
        TicketKeys *ticket_keys;
        TicketCache *ticket_cache;
        char *state_dir; /* NULL: nothing persisted */
        bool ticket_cache_dirty;
        sd_event_source *ticket_timer;

        unsigned n_peers;
        UidCount *uids;
        size_t n_uids;
        size_t allocated_uids;
} Manager;

/* Takes ownership of config. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Opens the control socket (or takes the one systemd passed) and installs signal handlers. */
int manager_start(Manager *m);
/* Runs the loop until SIGTERM/SIGINT; notifies READY=1 before, STOPPING=1 on the way out. */
int manager_run(Manager *m);

uint64_t manager_next_id(Manager *m);
/* Per-uid and global client limits: admit returns -EUSERS when one is reached. */
int manager_peer_admit(Manager *m, uid_t uid);
void manager_peer_release(Manager *m, uid_t uid);
/* The counters of a uid that has at least one client (never NULL for a live Peer's uid). */
UidCount *manager_uid_counts(Manager *m, uid_t uid);

/* Lookup by id with the ownership check: NULL unless p owns it or is root. */
Session *manager_find_session(Manager *m, Peer *p, uint64_t id);
Connection *manager_find_connection(Manager *m, Peer *p, uint64_t id);

uint8_t *manager_scratch(Manager *m);
/* The client ticket cache changed: saved by the periodic timer and at exit. */
void manager_ticket_cache_changed(Manager *m);
/* Writes the ticket cache and keys (when changed) to the state directory. */
void manager_tickets_save(Manager *m, bool force);
/* A finished handshake of a session of uid's. */
void manager_count_handshake(Manager *m, uid_t uid, bool ok);
