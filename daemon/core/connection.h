/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Connection is one TLS association inside a Session:
 *
 *   CLOSED -> CONNECTING (resolve, TCP connect) -> HANDSHAKE -> [CERT_PENDING] -> OPERATING
 *          -> CLOSING (close_notify sent or received) -> CLOSED
 *
 * Once OPERATING, the app holds one end of a SOCK_STREAM socketpair and the connection bridges
 * it to the network through the engine, with backpressure both ways: it reads from one side only
 * while the other side has taken the previous buffer. At most one buffer per direction is held
 * (64 KiB toward the app, 16 KiB toward the network).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "engine/engine.h"
#include "core/resolve.h"
#include "core/listener.h"
#include "core/session.h"

typedef enum ConnectionState {
        CONNECTION_CLOSED = TLSC_STATE_CLOSED,
        CONNECTION_CONNECTING = TLSC_STATE_CONNECTING,
        CONNECTION_HANDSHAKE = TLSC_STATE_HANDSHAKE,
        CONNECTION_CERT_PENDING = TLSC_STATE_CERT_PENDING,
        CONNECTION_OPERATING = TLSC_STATE_OPERATING,
        CONNECTION_CLOSING = TLSC_STATE_CLOSING,
} ConnectionState;

/* How the app's data ends (connection.c, "the app's end"): only a clean end sends close_notify;
 * an app whose end closed before it ended cleanly (it exited, crashed, was killed) gets none, so
 * the peer sees the stream cut instead of complete. */
typedef enum AppEnd {
        APP_END_OPEN,  /* not decided yet */
        APP_END_CLEAN, /* shutdown(SHUT_WR) seen while its end was open, or Shutdown asked */
        APP_END_ABORT, /* its end closed (or shut both ways) first */
} AppEnd;

/* What differs between TLS over TCP and DTLS over UDP (connection-internal.h). */
typedef struct ConnectionTransport ConnectionTransport;

typedef struct Buffer {
        uint8_t *data;
        size_t allocated;
        size_t start, end; /* bytes [start, end) are pending */
} Buffer;

struct Connection {
        Core *core;
        Session *session;
        Listener *listener; /* accepted by it (NULL once it closed, or not accepted) */
        bool accepted;      /* announced by Accepted and freed after it ends */
        bool adopted;       /* on a socket the app handed over */
        char peer_address[64];
        unsigned peer_port;
        sd_event_source *release;
        uint64_t id;
        Connection *prev, *next; /* in the session */
        ConnectionState state;
        bool started; /* Connect was called: it can happen once */
        bool counted_pending;

        int family;
        struct sockaddr_storage bind_addr;
        socklen_t bind_len;
        char *host;
        char *sni;
        unsigned port;

        ResolveQuery *resolve;
        struct addrinfo *addrs; /* copy of the lookup result, tried in order */
        struct addrinfo *addr_next;
        int last_connect_error;

        const ConnectionTransport *transport;
        int net_fd;
        sd_event_source *net_io;
        int app_fd; /* our end of the socketpair */
        sd_event_source *app_io;
        sd_event_source *timer;
        EngineConn *tls;

        Buffer to_app; /* decrypted, not yet written to the app */
        Buffer to_net; /* from the app, not yet accepted by the engine */
        EngineWait read_wait, write_wait;
        bool app_eof; /* a read of the app's end found its end: nothing more to send */
        bool close_sent;
        bool peer_closed;       /* close_notify received: app reads EOF (our side is shut) */
        bool close_notify_seen; /* received behind data not yet handed to the app */
        bool app_gone;          /* nobody reads the app's end any more: the peer's data is
                                 * dropped (what the app wrote is still read up to its end) */
        /* epoll said EPOLLHUP (or EPOLLERR): both directions of the app's end are shut, which
         * stays so; with nothing else to wait for there, its source is off (epoll reports a
         * hang-up whatever it was asked for, over and over). */
        bool app_hup;
        AppEnd app_end;
        /* Whether a read may find data: set by epoll, cleared by EAGAIN. Saves the syscall that
         * would only say EAGAIN after every record (epoll is level-triggered: nothing is lost). */
        bool net_readable, app_readable;
        sd_event_source *pump_again; /* the pump used its budget: it goes on from here */

        /* DTLS (connection-dtls.c) */
        bool dtls;
        struct DtlsPort *dtls_port;      /* server side: the listener's shared UDP socket */
        struct sockaddr_storage peer_sa; /* server side: where the peer is now */
        socklen_t peer_sa_len;
        uint8_t cid[2]; /* server side: the CID the peer sends to us */
        bool has_cid;
        Connection *port_next; /* in the port's hash chains */
        Connection *port_cid_next;
        sd_event_source *rtx_timer;
        EngineTimer rtx_kind;        /* what the armed timer is for */
        unsigned rtx_count;          /* retransmissions of the current flight */
        uint64_t rtx_current_ms;     /* current timeout, doubling up to the maximum */
        bool rtx_paused;             /* Timeout was reported: waiting for Retry */
        bool app_rdhup;              /* the app shut its end: a 0-byte read is EOF */
        sd_event_source *idle_timer; /* idle timeout; after close_notify: the linger */
        uint64_t last_activity_us;
        uint64_t n_app_dropped; /* messages the app could not take in time */
        uint64_t n_too_large;

        EngineInfo info;
        uint64_t bytes_in, bytes_out; /* plaintext */
        size_t linger_left;           /* a refused handshake's reads before the close */
        uint64_t t_start_us, t_handshake_us;
        int disconnect_reason;
        int last_error;               /* negative errno of the last failure, 0: none */
        char last_error_message[256]; /* and its message (ERROR_MESSAGE_MAX) */

        /* Resumption (client side) */
        void *ticket_blob; /* Connect's explicit ticket, until the handshake takes it */
        size_t ticket_size;
        bool ticket_retried;       /* a refused ticket's full-handshake retry happened */
        uint64_t ticket_id;        /* the newest ticket saved from this connection, 0: none */
        uint64_t ticket_offered;   /* the cache's ticket offered automatically, 0: none */
        uint8_t ticket_policy[32]; /* the session policy Connect checked its explicit ticket
                                    * against */
        bool ticket_deferred;      /* app-decides: the handshake's ticket is kept if the app
                                    * accepts the certificate */
        /* The session's policy hash and ALPN list as the handshake began (begin_handshake):
         * the ticket cache scope its tickets are filed under, whatever a Configure changed
         * since (TLS 1.3 tickets come after the handshake). */
        uint8_t scope_policy[32];
        char *scope_alpn;
        bool has_scope;
        unsigned verify_mode; /* the session's, as the handshake began: app-decides asks */
};

int connection_new(Session *s, int family, char *error, Connection **ret);
/* A socket accepted by l: the handshake starts at once. Takes fd (closed on failure). */
int connection_new_accepted(Session *s, Listener *l, int fd, const struct sockaddr *peer,
                            socklen_t peer_len, Connection **ret);
/* Ends an accepted connection's handshake early (its listener needs the slot). */
void connection_evict(Connection *c);
/* A connected TCP socket the app hands over (STARTTLS, socket activation): the handshake in the
 * session's role starts at once; host (client role) is the name to verify. Takes fd. */
int connection_adopt(Session *s, int fd, const char *host, const char *sni, char *error,
                     Connection **ret);
Connection *connection_free(Connection *c);
/* DTLS server side: a peer whose cookie verified on port; takes the acceptor object. */
int connection_new_dtls_accepted(Session *s, Listener *l, struct DtlsPort *port, EngineConn *tls,
                                 const struct sockaddr *peer, socklen_t peer_len,
                                 const uint8_t *cid, size_t cid_size, Connection **ret);
/* DTLS server side: a datagram the port routed to this connection (by address or CID). */
void connection_dtls_input(Connection *c, const uint8_t *datagram, size_t size,
                           const struct sockaddr *from, socklen_t from_len, bool by_cid);
/* After the Timeout event: start the retransmission schedule again. */
int connection_retry(Connection *c, char *error);

/* local address may be NULL (any); port 0 (any). */
int connection_bind(Connection *c, const char *address, unsigned port, char *error);
/* Starts resolution, TCP connect and handshake; the outcome arrives as an event. ticket: a
 * ticket id from GetTicket to resume with (0: automatic resumption, if the session has it on);
 * -ENOENT if it is not the owner's or is gone, -EPERM if it was issued for another peer or
 * policy. */
int connection_connect(Connection *c, const char *host, unsigned port, const char *sni,
                       uint64_t ticket, char *error);
/* GetTicket: the id of the newest ticket saved from this connection; -ENOENT if none yet. */
int connection_get_ticket(Connection *c, uint64_t *ret, char *error);
/* App-decides mode: the answer to the certificate event. */
int connection_certificate_response(Connection *c, bool accept, char *error);
/* Sends close_notify and closes; the Disconnected event says "local". */
int connection_disconnect(Connection *c);
/* The app's data ends cleanly here (what it wrote before goes out, then close_notify), as with
 * shutdown(SHUT_WR) on its end, but the app may close its end right after: -EBUSY (message in
 * error) if the connection is not operating or the app's end closed before. */
int connection_shutdown(Connection *c, char *error);

typedef struct ConnectionInfo {
        ConnectionState state;
        EngineInfo engine;
        uint64_t bytes_in, bytes_out;
        uint64_t handshake_us;
        int last_error;                 /* why the connect failed or the connection ended */
        const char *last_error_message; /* (valid while the connection lives) */
} ConnectionInfo;

void connection_get_info(Connection *c, ConnectionInfo *ret);
