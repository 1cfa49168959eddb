/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Listener is a TCP port tlsd serves for a server Session. Accepted sockets handshake without
 * the app; each success becomes a Connection announced to the session's owner (Accepted event,
 * with the plaintext fd); failures are counted and logged, not announced one by one. Closing a
 * listener stops accepting; established connections live on until their fds close.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core/session.h"

typedef struct Listener Listener;

struct Listener {
        Core *core;
        Session *session;
        uint64_t id;
        Listener *prev, *next; /* in the session */
        int fd;
        sd_event_source *io;
        unsigned port;
        char address[64];

        struct DtlsPort *dtls_port; /* DTLS: the shared UDP socket (fd is then -1) */

        unsigned max_pending, max_connections;
        unsigned n_pending, n_connections;
        uint64_t n_accepted, n_failed, n_refused;
};

typedef struct ListenerOptions {
        const char *address; /* numeric; NULL: all addresses, IPv6 and IPv4 */
        unsigned port;       /* 0: any free port */
        unsigned backlog;    /* 0: SOMAXCONN */
        unsigned max_pending;
        unsigned max_connections;
} ListenerOptions;

int listener_new(Session *s, const ListenerOptions *o, char *error, Listener **ret);
Listener *listener_free(Listener *l);

/* A connection accepted by l finished its handshake (ok) or failed / went away. */
void listener_handshake_done(Listener *l, bool ok);
void listener_connection_gone(Listener *l);
/* Room for one more handshake (evicting the longest-silent one if all slots are busy)? Counts
 * it as pending and as a connection when it says yes. */
bool listener_admit(Listener *l);
