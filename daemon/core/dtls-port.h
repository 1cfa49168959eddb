/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A DtlsPort is the UDP socket of a DTLS listener, shared by every peer it serves. It
 * demultiplexes datagrams: by Connection ID when the record carries one (so a peer that changes
 * address keeps its connection), else by source address; datagrams from unknown peers go to
 * the acceptor, one wolfSSL object that answers ClientHellos statelessly until a cookie proves
 * the peer's address. Only then does a peer get a Connection: spoofed ClientHellos cost no
 * memory. Garbage is dropped and counted. wolfSSL copies policy into each object it creates,
 * so the acceptor is rebuilt when the session is configured again.
 *
 * The port lives while its listener or any of its connections does: closing a listener stops
 * new peers, established ones keep the socket.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "core/connection.h"
#include "engine/engine.h"
#include "core/listener.h"
#include "core/session.h"

#define DTLS_PORT_BUCKETS 256

typedef struct DtlsPort {
        Core *core;
        Session *session;
        Listener *listener; /* NULL once closed: no new peers */
        unsigned refs;      /* the listener and each connection */
        int fd;
        sd_event_source *io;
        EngineConn *acceptor;
        uint64_t acceptor_generation; /* the session's, when the acceptor was built */
        uint8_t acceptor_cid[2];
        uint8_t cookie_secret[32];
        uint16_t next_cid;
        Connection *by_address[DTLS_PORT_BUCKETS];
        Connection *by_cid[DTLS_PORT_BUCKETS];
        uint8_t *buf; /* one datagram */

        uint64_t n_datagrams, n_garbage, n_unknown, n_cookie_exchanges, n_promoted, n_refused;
} DtlsPort;

/* Takes fd (a bound UDP socket) and the descriptor charge made for it (manager_fds_charge()),
 * also on failure: both go when the port does. */
int dtls_port_new(Session *s, Listener *l, int fd, DtlsPort **ret);
/* The listener closed: no new peers; the port goes when its last connection does. */
void dtls_port_listener_gone(DtlsPort *p);
DtlsPort *dtls_port_ref(DtlsPort *p);
DtlsPort *dtls_port_unref(DtlsPort *p);

bool dtls_address_equal(const struct sockaddr *a, const struct sockaddr *b);

/* Routing entries of a connection (its address in c->peer_sa, its CID if any). */
void dtls_port_link(DtlsPort *p, Connection *c);
void dtls_port_unlink(DtlsPort *p, Connection *c);
/* The connection proved it is now at a new address (an authenticated record from there). */
void dtls_port_move(DtlsPort *p, Connection *c, const struct sockaddr *sa, socklen_t len);
