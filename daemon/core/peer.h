/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Peer is one attributed client of the core: a Unix-socket connection or a D-Bus
 * sender. It carries the credentials every ownership check uses, and owns the core objects its
 * client created; freeing it tears them down. The IPC adapter that accepted the client owns the
 * Peer.
 *
 * The core reaches the adapter only through the Peer's callbacks (PeerOps). Teardown rule, the
 * same for every adapter: from peer_free() on nothing calls back into the adapter (the objects
 * torn down with the Peer emit no events and report no releases).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

typedef struct Core Core;
typedef struct Session Session;
typedef struct CoreEvent CoreEvent;
typedef struct Peer Peer;

/* How the adapter that owns a Peer delivers core events to its client. A failure to deliver is
 * the adapter's business (it may schedule the client's disconnection, never synchronously). */
typedef struct PeerOps {
        void (*emit)(Peer *p, const CoreEvent *e, void *userdata);
        /* One of p's connections is gone (destroyed, freed with its session, or an accepted one
         * released after its end): the adapter drops what it holds for it. May be NULL. */
        void (*released)(Peer *p, uint64_t connection, void *userdata);
} PeerOps;

typedef enum PeerTransport {
        PEER_TRANSPORT_UNIX,
        PEER_TRANSPORT_DBUS,
} PeerTransport;

struct Peer {
        Core *core;
        uint64_t id;
        PeerTransport transport;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        Peer *prev, *next; /* in the core */

        const PeerOps *ops;
        void *userdata;

        Session *sessions; /* owned */
        unsigned n_sessions;
};

int peer_new(Core *core, PeerTransport transport, uid_t uid, gid_t gid, pid_t pid,
             const PeerOps *ops, void *userdata, Peer **ret);
Peer *peer_free(Peer *p);
static inline void peer_freep(Peer **p) {
        peer_free(*p);
}

void peer_emit(Peer *p, const CoreEvent *e);
void peer_released(Peer *p, uint64_t connection);

/* Whether p may see and use objects owned by `owner`: the same uid, or root. */
int peer_may_access(const Peer *p, uid_t owner);
