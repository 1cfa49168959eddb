/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Listener is a TCP port tlsd serves for a server Session. Accepted sockets handshake without
 * the app; each success becomes a Connection announced to the session's owner (Accepted event,
 * with the plaintext fd); each failure is counted, and logged at info and reported to the
 * owner (AcceptFailed event, with the client's address and the reason) at most
 * LISTENER_REPORTS_PER_SECOND times a second, the rest summed up. Closing a listener stops
 * accepting; established connections live on until their fds close.
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

        /* Failed handshakes reported in the current one-second window, and those not
         * reported: since the last summary in the log, and since the last event. */
        uint64_t report_window_us;
        unsigned n_reported;
        unsigned n_log_suppressed, n_event_suppressed;
        sd_event_source *report_timer; /* the window's end: the log's summary */
};

/* A client that fails its handshake costs the owner one event and the log one line: a client
 * that fails on purpose, fast, must cost neither a flood. */
#define LISTENER_REPORTS_PER_SECOND 10

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
/* A connection accepted by l failed its handshake: listener_handshake_done(l, false), and the
 * failure logged and reported to the session's owner, within the rate limit. error: negative
 * errno; alert: -1 for none. */
void listener_handshake_failed(Listener *l, uint64_t connection, const char *peer_address,
                               unsigned peer_port, int error, const char *message, int alert,
                               int verify);
void listener_connection_gone(Listener *l);
/* Room for one more handshake (evicting the longest-silent one if all slots are busy)? Counts
 * it as pending and as a connection when it says yes. */
bool listener_admit(Listener *l);
