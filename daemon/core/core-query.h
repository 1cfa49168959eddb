/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the IPC adapters (Unix socket, D-Bus) ask the core beyond the operations of one object:
 * objects by id, enumerations, counters, version and identity. Lookups take the requesting Peer
 * and check ownership (peer_may_access()) in this one place; adapters find objects only
 * through them, never by walking the core's lists. Object operations are declared beside their
 * object (session.h, connection.h, listener.h). Results are 0 or a negative errno; adapters map
 * errno to the wire/D-Bus error with tlsd_error_from_errno() and add the message.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "core/peer.h"

typedef struct Connection Connection;
typedef struct Listener Listener;
typedef struct Session Session;

/* Lookup by id with the ownership check: NULL unless caller owns it or is root (not found and
 * not yours look alike). */
Session *core_find_session(Core *c, const Peer *caller, uint64_t id);
Connection *core_find_connection(Core *c, const Peer *caller, uint64_t id);
Listener *core_find_listener(Core *c, const Peer *caller, uint64_t id);

typedef enum CoreObjectKind {
        CORE_OBJECT_SESSION,
        CORE_OBJECT_CONNECTION,
        CORE_OBJECT_LISTENER,
} CoreObjectKind;

/* Calls visit with the id of every object of that kind that caller may access, until one call
 * returns < 0 (returned). */
int core_foreach_id(Core *c, const Peer *caller, CoreObjectKind kind,
                    int (*visit)(uint64_t id, void *userdata), void *userdata);

typedef struct CoreStats {
        uint64_t handshakes_ok, handshakes_failed;
        uint64_t clients, sessions, connections, listeners;
} CoreStats;

/* The counters of the caller's uid; root's: the whole daemon's. */
void core_stats(Core *c, const Peer *caller, CoreStats *ret);

typedef struct CoreVersion {
        const char *version;     /* tlsd package version */
        uint32_t protocol;       /* Unix-socket protocol version */
        const char *tls_library; /* "wolfSSL 5.7.2" */
} CoreVersion;

void core_version(Core *c, CoreVersion *ret);

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
