/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The adapters' queries: linear walks over Peer -> Session -> objects. The control plane only,
 * bounded by the per-user limits; the data path never looks anything up.
 */
#include "core/connection.h"
#include "core/core-query.h"
#include "core/listener.h"
#include "core/session.h"
#include "engine/engine.h"
#include "proto.h"
#include "tickets/ticket-cache.h"

Session *core_find_session(Core *c, const Peer *caller, uint64_t id) {
        for (Peer *q = c->peers; q; q = q->next) {
                if (!peer_may_access(caller, q->uid))
                        continue;
                for (Session *s = q->sessions; s; s = s->next)
                        if (s->id == id)
                                return s;
        }
        return NULL;
}

Connection *core_find_connection(Core *c, const Peer *caller, uint64_t id) {
        for (Peer *q = c->peers; q; q = q->next) {
                if (!peer_may_access(caller, q->uid))
                        continue;
                for (Session *s = q->sessions; s; s = s->next)
                        for (Connection *x = s->connections; x; x = x->next)
                                if (x->id == id)
                                        return x;
        }
        return NULL;
}

Listener *core_find_listener(Core *c, const Peer *caller, uint64_t id) {
        for (Peer *q = c->peers; q; q = q->next) {
                if (!peer_may_access(caller, q->uid))
                        continue;
                for (Session *s = q->sessions; s; s = s->next)
                        for (Listener *l = s->listeners; l; l = l->next)
                                if (l->id == id)
                                        return l;
        }
        return NULL;
}

int core_foreach_id(Core *c, const Peer *caller, CoreObjectKind kind,
                    int (*visit)(uint64_t id, void *userdata), void *userdata) {
        int r = 0;

        for (Peer *q = c->peers; r >= 0 && q; q = q->next) {
                if (!peer_may_access(caller, q->uid))
                        continue; /* another uid's objects are not even listed */
                for (Session *s = q->sessions; r >= 0 && s; s = s->next) {
                        if (kind == CORE_OBJECT_SESSION)
                                r = visit(s->id, userdata);
                        else if (kind == CORE_OBJECT_CONNECTION)
                                for (Connection *x = s->connections; r >= 0 && x; x = x->next)
                                        r = visit(x->id, userdata);
                        else
                                for (Listener *l = s->listeners; r >= 0 && l; l = l->next)
                                        r = visit(l->id, userdata);
                }
        }
        return r < 0 ? r : 0;
}

void core_stats(Core *c, const Peer *caller, CoreStats *ret) {
        *ret = (CoreStats){
                .handshakes_ok = c->handshakes_ok,
                .handshakes_failed = c->handshakes_failed,
        };
        if (caller->uid != 0) {
                const UidCount *u = core_uid_counts(c, caller->uid);

                ret->handshakes_ok = u ? u->handshakes_ok : 0;
                ret->handshakes_failed = u ? u->handshakes_failed : 0;
        }
        for (Peer *q = c->peers; q; q = q->next) {
                if (!peer_may_access(caller, q->uid))
                        continue;
                ret->clients++;
                for (Session *s = q->sessions; s; s = s->next) {
                        ret->sessions++;
                        ret->connections += s->n_connections;
                        for (Listener *l = s->listeners; l; l = l->next)
                                ret->listeners++;
                }
        }
}

void core_version(Core *c, CoreVersion *ret) {
        *ret = (CoreVersion){
                .version = PACKAGE_VERSION,
                .protocol = TLSD_PROTO_VERSION,
                .tls_library = engine_library_version(),
        };
}

void core_whoami(const Peer *p, CoreIdentity *ret) {
        *ret = (CoreIdentity){ .uid = p->uid, .gid = p->gid, .pid = p->pid };
}

void core_ticket_stats(const Peer *p, TicketCacheStats *ret) {
        *ret = (TicketCacheStats){};
        if (!p->core->ticket_cache)
                return;
        ticket_cache_stats(p->core->ticket_cache, p->uid == 0 ? TICKET_UID_ALL : (uint32_t) p->uid,
                           ret);
}
