/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Core's own state and the operations that belong to no single object: ids, the registry of
 * Peers and the lookups through it, per-uid accounting, counters. Object operations live beside
 * their object (session.c, connection.c, ...), all declared for the adapters in their headers.
 *
 * Lookups are linear walks over Peer -> Session -> objects: the control plane only, bounded by
 * the per-user limits.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/connection.h"
#include "core/core.h"
#include "core/listener.h"
#include "core/session.h"
#include "engine/engine.h"
#include "proto.h"
#include "tickets/ticket-cache.h"

#define SCRATCH_SIZE (64 * 1024)

int core_new(sd_event *event, const Config *config, Core **ret) {
        Core *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = event;
        c->config = config;
        c->next_id = 1;
        c->scratch = malloc(SCRATCH_SIZE);
        if (!c->scratch) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

Core *core_free(Core *c) {
        if (!c)
                return NULL;
        free(c->uids);
        free(c->scratch);
        free(c);
        return NULL;
}

void core_set_tickets(Core *c, TicketKeys *keys, TicketCache *cache) {
        c->ticket_keys = keys;
        c->ticket_cache = cache;
}

uint64_t core_next_id(Core *c) {
        return c->next_id++;
}

UidCount *core_uid_counts(Core *c, uid_t uid) {
        for (size_t i = 0; i < c->n_uids; i++)
                if (c->uids[i].uid == uid)
                        return &c->uids[i];
        return NULL;
}

int core_peer_admit(Core *c, uid_t uid) {
        UidCount *u;

        if (c->n_peers >= c->config->max_clients)
                return -EUSERS;
        u = core_uid_counts(c, uid);
        if (u && u->n_peers >= c->config->max_clients_per_uid)
                return -EUSERS;
        if (!u) {
                if (c->n_uids == c->allocated_uids) {
                        size_t n = c->allocated_uids ? c->allocated_uids * 2 : 8;
                        UidCount *a = reallocarray(c->uids, n, sizeof(*a));

                        if (!a)
                                return -ENOMEM;
                        c->uids = a;
                        c->allocated_uids = n;
                }
                u = &c->uids[c->n_uids++];
                *u = (UidCount) { .uid = uid };
        }
        u->n_peers++;
        c->n_peers++;
        return 0;
}

void core_peer_release(Core *c, uid_t uid) {
        UidCount *u = core_uid_counts(c, uid);

        if (!u)
                return;
        c->n_peers--;
        if (--u->n_peers == 0)
                *u = c->uids[--c->n_uids]; /* order does not matter */
}

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

uint8_t *core_scratch(Core *c) {
        return c->scratch;
}

void core_ticket_cache_changed(Core *c) {
        c->ticket_cache_dirty = true;
}

void core_count_handshake(Core *c, bool ok) {
        if (ok)
                c->handshakes_ok++;
        else
                c->handshakes_failed++;
}

void core_stats(Core *c, CoreStats *ret) {
        *ret = (CoreStats) {
                .handshakes_ok = c->handshakes_ok,
                .handshakes_failed = c->handshakes_failed,
        };
        for (Peer *q = c->peers; q; q = q->next) {
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
        *ret = (CoreVersion) {
                .version = PACKAGE_VERSION,
                .protocol = TLSD_PROTO_VERSION,
                .tls_library = engine_library_version(),
        };
}

void core_whoami(const Peer *p, CoreIdentity *ret) {
        *ret = (CoreIdentity) { .uid = p->uid, .gid = p->gid, .pid = p->pid };
}

void core_ticket_stats(const Peer *p, TicketCacheStats *ret) {
        *ret = (TicketCacheStats) {};
        if (!p->core->ticket_cache)
                return;
        ticket_cache_stats(p->core->ticket_cache,
                           p->uid == 0 ? TICKET_UID_ALL : (uint32_t) p->uid, ret);
}
