/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What connection.c (TLS over TCP, and everything both transports share) and connection-dtls.c
 * (DTLS over UDP) share. Not for other parts of the daemon: they use connection.h.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "core/core.h"
#include "time-util.h"

void connection_emit(Connection *c, const CoreEvent *e);
/* Before HandshakeDone: reports the failure (or, for accepted ones, counts it) and closes. */
void connection_fail_handshake(Connection *c, int error, const char *message, int alert,
                               int verify);
/* After HandshakeDone: Disconnected with the reason, and closes. */
void connection_finish(Connection *c, int reason, int alert);
void connection_drive_handshake(Connection *c);
void connection_handshake_complete(Connection *c);
int connection_arm_handshake_timer(Connection *c);
void connection_format_peer(Connection *c, const struct sockaddr *sa);
/* Moves data until neither direction can progress, or for the transport's budget of passes
 * (then it goes on from a deferred event); < 0 when the connection ended. */
int connection_pump(Connection *c);
/* Client: files the engine's resumable session in the core's ticket cache. */
void connection_save_ticket(Connection *c);

/* The socket is connected (UDP: its peer is fixed): the handshake starts on it. */
void connection_start_handshake(Connection *c);
/* Handshake waiting: the network socket is watched for what the engine waits for. */
void connection_watch_handshake(Connection *c, EngineWait wait);
/* The address tried did not answer: its socket and engine go, the name's next one is tried. */
void connection_next_address(Connection *c, int error);

/* One call of the pump: what its steps share. */
typedef struct Pump {
        uint8_t *scratch; /* the core's scratch buffer (64 KiB) */
        bool progress;    /* something moved in this pass: another pass follows */
        unsigned budget;  /* passes left (ConnectionTransport.pump_budget) */
} Pump;

/* Pieces of the pump's steps that both transports share (connection.c). */
/* App data in p->scratch to the engine; what it cannot take yet waits in to_net. 1: taken, 0:
 * waits, < 0: the connection ended (already reported). */
int connection_pump_encrypt(Connection *c, Pump *p, size_t size);
/* A read from the app's end failed with errno. */
void connection_pump_app_error(Connection *c, Pump *p);
/* The events the app's end is watched for, and its source on or off (app_hup). */
void connection_watch_app(Connection *c);
/* The app's end showed these epoll (or poll) bits: how its data ends, if that is still open
 * (app_end). connection_app_end_check() looks itself, with poll(). */
void connection_app_end_seen(Connection *c, uint32_t events);
void connection_app_end_check(Connection *c);
/* The peer's close_notify: the app reads EOF. */
void connection_pump_peer_closed(Connection *c, Pump *p);

typedef enum PumpFailure {
        PUMP_READ_FAILED,  /* engine_conn_read() */
        PUMP_WRITE_FAILED, /* engine_conn_write() */
        PUMP_NO_MEMORY,    /* no buffer for what the other side did not take */
} PumpFailure;
/* The one mapping from a failed pump step to the connection's end (Disconnected reason and
 * alert); returns the error for the pump to return. */
int connection_pump_failed(Connection *c, PumpFailure what, int error, const EngineFailure *fail);

/*
 * What differs between TLS over TCP (connection.c) and DTLS over UDP (connection-dtls.c),
 * chosen once in connection_new(). The rest of the connection's life is shared code that calls
 * these at the points where the transports part ways.
 */
struct ConnectionTransport {
        int data_socket_type;        /* the app's end: SOCK_STREAM, or SOCK_SEQPACKET so that
                                      * one app message stays one record */
        uint32_t data_socket_events; /* what the app's end is watched for with input */
        unsigned pump_budget;        /* passes one pump makes before it yields to the loop and
                                      * continues from a deferred event; 0: no limit */
        /* The transport has an end of its own (TCP's FIN and RST): a read failing on it before
         * close_notify is a truncation (after the app left, just the local close), and a write
         * failing for anything else failed in TLS (an alert). Without one (UDP) every failure is
         * a reset, with the alert if there was one. */
        bool transport_ends;
        /* A refused TLS 1.2 ticket aborts the handshake: start over on a fresh connection. */
        bool retry_refused_ticket;

        /* Connect (client side): the connection's own socket to the peer. */
        int net_socket_type;               /* SOCK_STREAM, SOCK_DGRAM */
        int net_protocol;                  /* IPPROTO_TCP, IPPROTO_UDP */
        void (*socket_options)(int fd);    /* before bind() and connect() */
        void (*connecting)(Connection *c); /* connect() is under way on c->net_fd */
        /* Retransmissions and the Timeout event bound the handshake: the handshake timeout
         * applies only when the app set one. */
        bool handshake_timeout_optional;

        /* Handshake. */
        void (*input)(Connection *c); /* something arrived from the peer */
        void (*handshake_waits)(Connection *c, EngineWait wait); /* for the peer or socket */
        void (*operating)(Connection *c); /* the app has its end of the data socket */

        /* The bridge (connection_pump()): network -> app, app -> network, close_notify. */
        int (*to_app)(Connection *c, Pump *p);
        int (*from_app)(Connection *c, Pump *p); /* the app's end is readable, to_net empty */
        void (*close_notify_sent)(Connection *c, Pump *p, int r); /* r: the shutdown's result */
        void (*watch)(Connection *c); /* after the pump: the events and timers to wait for */

        /* The end. */
        void (*stop)(Connection *c);         /* before the engine goes (it may send close_notify) */
        void (*close_socket)(Connection *c); /* after the engine */
};

extern const ConnectionTransport connection_transport_tcp;  /* connection.c */
extern const ConnectionTransport connection_transport_dtls; /* connection-dtls.c */

static inline int buffer_keep(Buffer *b, const uint8_t *data, size_t size) {
        if (size > b->allocated) {
                uint8_t *d = realloc(b->data, size);

                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = size;
        }
        memcpy(b->data, data, size);
        b->start = 0;
        b->end = size;
        return 0;
}

static inline bool buffer_empty(const Buffer *b) {
        return b->start == b->end;
}
