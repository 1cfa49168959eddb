/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "util/log.h"
#include "manager.h"
#include "core/peer.h"
#include "core/session.h"

int peer_new(Manager *m, PeerTransport transport, uid_t uid, gid_t gid, pid_t pid,
             const PeerOps *ops, void *userdata, Peer **ret) {
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
                .ops = ops,
                .userdata = userdata,
        };
        p->next = m->peers;
        if (m->peers)
                m->peers->prev = p;
        m->peers = p;
        log_debug("client %" PRIu64 " connected: uid=%u gid=%u pid=%d", p->id, (unsigned) uid,
                  (unsigned) gid, (int) pid);
        *ret = p;
        return 0;
}

Peer *peer_free(Peer *p) {
        if (!p)
                return NULL;
        log_debug("client %" PRIu64 " gone", p->id);
        /* Everything the client created goes with it. */
        while (p->sessions)
                session_free(p->sessions);
        if (p->prev)
                p->prev->next = p->next;
        else
                p->manager->peers = p->next;
        if (p->next)
                p->next->prev = p->prev;
        manager_peer_release(p->manager, p->uid);
        free(p);
        return NULL;
}

void peer_emit(Peer *p, const CoreEvent *e) {
        if (p->ops && p->ops->emit)
                p->ops->emit(p, e, p->userdata);
}

int peer_may_access(const Peer *p, uid_t owner) {
        return p->uid == owner || p->uid == 0;
}
