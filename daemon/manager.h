/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Manager owns the daemon: the main sd-event loop, signals, sd_notify, the configuration,
 * the persisted ticket state, the Core and the control-plane adapters it serves through (Unix
 * socket, D-Bus). It is the top of the layers: nothing below includes this header.
 *
 * Threading: for now everything runs on the main loop thread. Connection I/O will move to
 * per-core worker loops; the Core will own those.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "util/config.h"

typedef struct UnixServer UnixServer;
typedef struct Bus Bus;
typedef struct Core Core;
typedef struct TicketKeys TicketKeys;
typedef struct TicketCache TicketCache;

typedef struct Manager {
        sd_event *event;
        Config *config;
        Core *core;
        UnixServer *unix_server;
        Bus *bus; /* NULL: no D-Bus */

        /* Resumption: the server ticket keys and the client ticket cache the core uses, both
         * persisted in state_dir ([Tickets] Persist=). */
        TicketKeys *ticket_keys;
        TicketCache *ticket_cache;
        char *state_dir; /* NULL: nothing persisted */
        sd_event_source *ticket_timer;
} Manager;

/* Takes ownership of config. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Opens the control socket (or takes the one systemd passed) and installs signal handlers. */
int manager_start(Manager *m);
/* Runs the loop until SIGTERM/SIGINT; notifies READY=1 before, STOPPING=1 on the way out. */
int manager_run(Manager *m);

/* Writes the ticket cache and keys (when changed) to the state directory. */
void manager_tickets_save(Manager *m, bool force);
