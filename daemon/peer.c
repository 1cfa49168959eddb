/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "log.h"
#include "manager.h"
#include "peer.h"

int peer_new(Manager *m, PeerTransport transport, uid_t uid, gid_t gid, pid_t pid, Peer **ret) {
        Peer *p;
        int r;

        r = manager_peer_admit(m, uid);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                manager_peer_release(m, uid);
                return -ENOMEM;
        }
        *p = (Peer) {
                .manager = m,
                .id = manager_next_id(m),
                .transport = transport,
                .uid = uid,
                .gid = gid,
                .pid = pid,
        };
        log_debug("client %" PRIu64 " connected: uid=%u gid=%u pid=%d", p->id, (unsigned) uid,
                  (unsigned) gid, (int) pid);
        *ret = p;
        return 0;
}

Peer *peer_free(Peer *p) {
        if (!p)
                return NULL;
        log_debug("client %" PRIu64 " gone", p->id);
        manager_peer_release(p->manager, p->uid);
        free(p);
        return NULL;
}

int peer_may_access(const Peer *p, uid_t owner) {
        return p->uid == owner || p->uid == 0;
}
