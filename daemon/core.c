/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Core operations that belong to no single object. Object operations live beside their object
 * (session.c, connection.c, ...), all declared for the adapters in core.h.
 */
#include "core.h"
#include "engine.h"
#include "manager.h"
#include "proto.h"

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
