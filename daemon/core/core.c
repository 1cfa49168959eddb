/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Core's own state: ids, per-uid accounting, counters, the scratch buffer. It includes none
 * of the objects that use it; the queries that walk them are in core-query.c.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "core/core.h"
#include "core/resolve.h"
#include "engine/engine.h"
#include "util/error-message.h"

#define SCRATCH_SIZE (64 * 1024)
/* The control plane's share of RLIMIT_NOFILE: 1/FDS_RESERVE_DIVISOR, within these bounds. */
#define FDS_RESERVE_DIVISOR 16u
#define FDS_RESERVE_MIN 32u
#define FDS_RESERVE_MAX 1024u
/* What a lookup thread may have open inside getaddrinfo() (a socket per server, files). */
#define FDS_PER_LOOKUP 2u

int core_new(sd_event *event, const Config *config, Core **ret) {
        Core *c;
        int r;

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
        r = resolver_new(event, config->max_lookups, config->max_lookups_per_uid, &c->resolver);
        if (r >= 0)
                r = engine_system_trust_new(&c->system_trust);
        if (r < 0) {
                c->resolver = resolver_free(c->resolver);
                free(c->scratch);
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

Core *core_free(Core *c) {
        if (!c)
                return NULL;
        /* After the Peers: their connections cancelled their lookups. */
        c->resolver = resolver_free(c->resolver);
        c->system_trust = engine_system_trust_free(c->system_trust); /* the sessions are gone */
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
                *u = (UidCount){ .uid = uid };
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
        if (--u->n_peers == 0 && u->handshakes_ok == 0 && u->handshakes_failed == 0)
                *u = c->uids[--c->n_uids]; /* order does not matter */
}

int core_check_port(Core *c, uid_t uid, unsigned port, char *error) {
        if (port == 0 || port >= 1024 || uid == 0)
                return 0;
        for (size_t i = 0; i < c->config->n_privileged_port_users; i++)
                if (c->config->privileged_port_users[i] == uid)
                        return 0;
        error_message_set(error,
                          "port %u is privileged: allowed only for users listed in "
                          "PrivilegedPortUsers=",
                          port);
        return -EPERM;
}

static unsigned fds_soft_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= UINT_MAX)
                return UINT_MAX;
        return (unsigned) rl.rlim_cur;
}

int core_fds_charge(Core *c, uid_t uid, unsigned n, char *error) {
        unsigned soft = fds_soft_limit();
        unsigned reserve = soft / FDS_RESERVE_DIVISOR;
        unsigned long long used;
        unsigned share;
        UidCount *u = core_uid_counts(c, uid);

        if (reserve < FDS_RESERVE_MIN)
                reserve = FDS_RESERVE_MIN;
        if (reserve > FDS_RESERVE_MAX)
                reserve = FDS_RESERVE_MAX;
        /* Every Peer counted as a descriptor: a Unix client holds one (a D-Bus one does not,
         * which errs on the safe side). */
        used = (unsigned long long) c->n_fds_base + c->n_fds + c->n_peers +
               (unsigned long long) FDS_PER_LOOKUP * resolver_n_running(c->resolver);
        if (used + n + reserve > soft) {
                error_message_set(error,
                                  "tlsd is short of file descriptors: about %llu of %u "
                                  "(RLIMIT_NOFILE) in use, and the last %u are kept for its "
                                  "control socket",
                                  used, soft, reserve);
                return -EMFILE;
        }
        share = soft > c->n_fds_base + reserve ? (soft - c->n_fds_base - reserve) / 2 : 0;
        if (!u || u->n_fds + n > share) {
                error_message_set(error,
                                  "this user holds %u of tlsd's file descriptors, the "
                                  "most one user may (half of what tlsd's RLIMIT_NOFILE of %u "
                                  "leaves for listeners and connections)",
                                  u ? u->n_fds : 0, soft);
                return -EMFILE;
        }
        u->n_fds += n;
        c->n_fds += n;
        return 0;
}

void core_fds_uncharge(Core *c, uid_t uid, unsigned n) {
        UidCount *u = core_uid_counts(c, uid);

        assert(u && u->n_fds >= n && c->n_fds >= n);
        if (!u)
                return;
        u->n_fds -= n;
        c->n_fds -= n;
}

uint8_t *core_scratch(Core *c) {
        return c->scratch;
}

void core_ticket_cache_changed(Core *c) {
        c->ticket_cache_dirty = true;
}

void core_count_handshake(Core *c, uid_t uid, bool ok) {
        UidCount *u = core_uid_counts(c, uid); /* its session's owner is a live client */

        if (ok)
                c->handshakes_ok++;
        else
                c->handshakes_failed++;
        if (u && ok)
                u->handshakes_ok++;
        else if (u)
                u->handshakes_failed++;
}
