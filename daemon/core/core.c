/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Core operations that belong to no single object. Object operations live beside their object
 * (session.c, connection.c, ...), all declared for the adapters in core.h.
 */
#include "core/core.h"
#include "engine/engine.h"
#include "manager.h"
#include "proto.h"
#include "tickets/ticket-cache.h"

void core_version(Manager *m, CoreVersion *ret) {
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
        if (!p->manager->ticket_cache)
                return;
        ticket_cache_stats(p->manager->ticket_cache,
                           p->uid == 0 ? TICKET_UID_ALL : (uint32_t) p->uid, ret);
}
