/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "util/log.h"
#include "core/core.h"
#include "list.h"
#include "core/peer.h"
#include "core/session.h"

int peer_new(Core *core, PeerTransport transport, uid_t uid, gid_t gid, pid_t pid,
             const PeerOps *ops, void *userdata, Peer **ret) {
        Peer *p;
        int r;

        r = core_peer_admit(core, uid);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                core_peer_release(core, uid);
                return -ENOMEM;
        }
        *p = (Peer){
                .core = core,
                .id = core_next_id(core),
                .transport = transport,
                .uid = uid,
                .gid = gid,
                .pid = pid,
                .ops = ops,
                .userdata = userdata,
        };
        LIST_PREPEND(core->peers, p);
        log_debug("client %" PRIu64 " connected: uid=%u gid=%u pid=%d", p->id, (unsigned) uid,
                  (unsigned) gid, (int) pid);
        *ret = p;
        return 0;
}

Peer *peer_free(Peer *p) {
        if (!p)
                return NULL;
        log_debug("client %" PRIu64 " gone", p->id);
        /* The adapter is letting go of the client: no callback may reach it any more. */
        p->ops = NULL;
        /* Everything the client created goes with it. */
        while (p->sessions)
                session_free(p->sessions);
        LIST_REMOVE(p->core->peers, p);
        core_peer_release(p->core, p->uid);
        free(p);
        return NULL;
}

void peer_emit(Peer *p, const CoreEvent *e) {
        if (p->ops && p->ops->emit)
                p->ops->emit(p, e, p->userdata);
}

void peer_released(Peer *p, uint64_t connection) {
        if (p->ops && p->ops->released)
                p->ops->released(p, connection, p->userdata);
}

int peer_may_access(const Peer *p, uid_t owner) {
        return p->uid == owner || p->uid == 0;
}
