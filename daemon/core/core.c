/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Core's own state: ids, per-uid accounting, counters, the scratch buffer. It includes none
 * of the objects that use it; the queries that walk them are in core-query.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"

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
