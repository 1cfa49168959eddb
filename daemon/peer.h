/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Peer is one attributed client of the core: a Unix-socket connection or (later) a D-Bus
 * sender. It carries the credentials every ownership check uses, and owns the core objects its
 * client created; freeing it tears them down. The IPC adapter that accepted the client owns the
 * Peer.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

typedef struct Manager Manager;

typedef enum PeerTransport {
        PEER_TRANSPORT_UNIX,
        PEER_TRANSPORT_DBUS,
} PeerTransport;

typedef struct Peer {
        Manager *manager;
        uint64_t id;
        PeerTransport transport;
        uid_t uid;
        gid_t gid;
        pid_t pid;
} Peer;

int peer_new(Manager *m, PeerTransport transport, uid_t uid, gid_t gid, pid_t pid, Peer **ret);
Peer *peer_free(Peer *p);
static inline void peer_freep(Peer **p) {
        peer_free(*p);
}

/* Whether p may see and use objects owned by `owner`: the same uid, or root. */
int peer_may_access(const Peer *p, uid_t owner);
