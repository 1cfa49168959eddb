/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtlsclient: talk to tlsd, the system TLS/DTLS service, over its Unix control socket.
 *
 * Two ways to call:
 *  - blocking: tlsc_ping(), tlsc_get_version(), ... send a request and wait for its reply
 *    (at most the timeout set with tlsc_set_timeout(); default 25 s);
 *  - non-blocking: the *_async() variants queue a request and return at once; put
 *    tlsc_get_fd() into poll/epoll/sd-event with the events from tlsc_get_events(), call
 *    tlsc_dispatch() when it is ready, and the callback runs with the result.
 * Both can be mixed on one client; a blocking call dispatches async replies that arrive
 * meanwhile.
 *
 * Errors: functions return >= 0 on success, or a negated enum tlsd_error (see <tlsd/error.h>);
 * tlsd_strerror() names it and tlsc_last_error_message() has the daemon's explanation.
 *
 * A tlsc_client is not thread-safe: use one per thread, or lock around it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* AF_UNSPEC, AF_INET, AF_INET6 for tlsc_connection_create() */
#include <sys/types.h>

#include <tlsd/error.h>
#include <tlsd/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tlsc_client tlsc_client;

typedef struct tlsc_version {
        char version[64];     /* tlsd package version */
        uint32_t protocol;    /* control protocol version */
        char tls_library[64]; /* e.g. "wolfSSL 5.7.2" */
} tlsc_version;

typedef struct tlsc_identity {
        uid_t uid;
        gid_t gid;
        pid_t pid;
} tlsc_identity;

/* The client ticket cache (automatic and explicit resumption) as tlsd counts it for the caller's
 * user; for root, summed over all users. Counters run since tlsd started. */
typedef struct tlsc_ticket_stats {
        unsigned entries;  /* tickets held now */
        uint64_t stored;   /* tickets servers sent that tlsd kept */
        uint64_t hits;     /* tickets taken from the cache for a resumption offer */
        uint64_t misses;   /* automatic resumptions that found no ticket (full handshake) */
        uint64_t expired;  /* tickets dropped at the end of their lifetime */
        uint64_t evicted;  /* tickets dropped to stay within the cache limits */
        uint64_t rejected; /* tickets offered that the server refused (full handshake) */
} tlsc_ticket_stats;

/* The socket tlsc_open(NULL, ...) uses: $TLSD_SOCKET if set, else /run/tlsd/tlsd.sock if it
 * exists, else $XDG_RUNTIME_DIR/tlsd/tlsd.sock. Returned string is static or from getenv. */
const char *tlsc_default_socket_path(void);

/* Connect to tlsd at `path` (NULL: the default). On failure errno holds the system's reason
 * (ENOENT: no socket there, ECONNREFUSED: nobody listens, EACCES: no permission, ...). */
int tlsc_open(const char *path, tlsc_client **ret);
/* Disconnect; pending async callbacks run with -TLSD_ERR_DISCONNECTED. Takes NULL. */
void tlsc_close(tlsc_client *c);

/* Blocking-call timeout in milliseconds; 0 or negative waits forever. */
void tlsc_set_timeout(tlsc_client *c, int timeout_ms);
/* The daemon's message for the last failed call on this client ("" if none). */
const char *tlsc_last_error_message(const tlsc_client *c);

/* ---- blocking calls ---- */
int tlsc_get_version(tlsc_client *c, tlsc_version *ret);
/* Round trip through the daemon; payload (up to 4096 bytes, may be NULL) comes back intact. */
int tlsc_ping(tlsc_client *c, const void *payload, size_t size);
/* The credentials the daemon attributes this client's requests to. */
int tlsc_whoami(tlsc_client *c, tlsc_identity *ret);
/* The ticket cache counters of this client's user (root: of all users). */
int tlsc_get_ticket_stats(tlsc_client *c, tlsc_ticket_stats *ret);

/* ---- non-blocking use ---- */
int tlsc_get_fd(const tlsc_client *c);
/* POLLIN, plus POLLOUT while requests wait for socket space. */
short tlsc_get_events(const tlsc_client *c);
/* Reads and handles everything available without blocking; runs callbacks. Returns the number
 * of messages handled, or -TLSD_ERR_DISCONNECTED when tlsd went away. */
int tlsc_dispatch(tlsc_client *c);
/* Number of async requests still waiting for their reply. */
unsigned tlsc_pending(const tlsc_client *c);

typedef void (*tlsc_done_cb)(tlsc_client *c, int result, void *userdata);
typedef void (*tlsc_version_cb)(tlsc_client *c, int result, const tlsc_version *v, void *userdata);
typedef void (*tlsc_identity_cb)(tlsc_client *c, int result, const tlsc_identity *id,
                                 void *userdata);
/* st is NULL when result < 0. */
typedef void (*tlsc_ticket_stats_cb)(tlsc_client *c, int result, const tlsc_ticket_stats *st,
                                     void *userdata);

int tlsc_ping_async(tlsc_client *c, const void *payload, size_t size, tlsc_done_cb cb,
                    void *userdata);
int tlsc_get_version_async(tlsc_client *c, tlsc_version_cb cb, void *userdata);
int tlsc_whoami_async(tlsc_client *c, tlsc_identity_cb cb, void *userdata);
int tlsc_get_ticket_stats_async(tlsc_client *c, tlsc_ticket_stats_cb cb, void *userdata);

/* ---- sessions: the policy for a set of connections ---- */

/* All fields optional: a zeroed struct means tlsd's secure defaults (TLS 1.2-1.3, AEAD suites,
 * strict verification against the system trust store). Buffers are copied by the call. */
typedef struct tlsc_session_options {
        unsigned version_min; /* 0x0303 TLS 1.2, 0x0304 TLS 1.3; 0: default */
        unsigned version_max;
        const char *ciphers; /* IANA or OpenSSL names, ':' separated */
        int legacy;          /* allow ECDHE CBC suites (logged) */
        const char *groups;  /* "X25519:P-256" */
        const void *cert;    /* own certificate chain, PEM or DER */
        size_t cert_size;
        const void *key; /* its private key, PEM or DER, maybe encrypted */
        size_t key_size;
        const char *key_password;
        const char *psk_identity; /* external PSK */
        const void *psk_key;
        size_t psk_key_size;
        const void *ca; /* trusted CAs, PEM bundle or DER (adds to the trust) */
        size_t ca_size;
        int system_trust;              /* also trust the system store */
        int verify_mode;               /* enum tlsc_verify_mode; 0 = strict */
        const unsigned char *pin;      /* 32 bytes: SHA-256 of the peer's SubjectPublicKeyInfo */
        const char *alpn;              /* "h2,http/1.1" */
        const char *server_name;       /* name to verify and send as SNI (default: the host) */
        unsigned handshake_timeout_ms; /* 0: the daemon's default (DTLS clients: none, the
                                        * retransmission schedule bounds the handshake) */
        int client_auth;               /* servers: enum tlsc_client_auth; trust from `ca` */
        /* Set at creation only. DTLS versions: 0xfefd = DTLS 1.2, 0xfefc = DTLS 1.3 (the TLS
         * codes 0x0303/0x0304 mean the same there). */
        int transport; /* enum tlsc_transport; 0 = TLS */
        /* DTLS retransmission (RFC 6347/9147): the first timeout, doubling up to the maximum;
         * after `dtls_retries` retransmissions of one flight the Timeout event comes and the
         * connection waits for tlsc_connection_retry() or Disconnect. 0: 1000 ms, 60000 ms, 6. */
        unsigned dtls_timeout_initial_ms;
        unsigned dtls_timeout_max_ms;
        unsigned dtls_retries;
        unsigned mtu;             /* DTLS path MTU in bytes; 0: 1400 */
        int dtls_cid;             /* negotiate a DTLS Connection ID (survives NAT rebinding) */
        unsigned idle_timeout_ms; /* close connections silent this long; 0: never */
        /* Client sessions resume automatically: tlsd keeps the tickets servers send, per user,
         * session policy and peer (host, port, SNI, ALPN), in its cache (which survives tlsd
         * restarts) and offers the newest on the next connect to the same peer, whichever
         * process of the user makes it. Set to turn that off (neither offered nor kept). */
        int no_resume;
} tlsc_session_options;

int tlsc_session_create(tlsc_client *c, int role, const tlsc_session_options *o,
                        uint64_t *ret_session);
/* Changes a session's options (only the fields that are set). */
int tlsc_session_configure(tlsc_client *c, uint64_t session, const tlsc_session_options *o);
int tlsc_session_destroy(tlsc_client *c, uint64_t session);

/* ---- connections ---- */

typedef struct tlsc_connection_info {
        int state;        /* enum tlsc_state */
        char version[16]; /* "TLSv1.3" */
        char cipher[64];  /* IANA name */
        char group[32];
        char alpn[256];
        char peer_subject[1024];
        int verify_result; /* enum tlsc_verify_result */
        int resumed;
        int transport;        /* enum tlsc_transport */
        unsigned max_message; /* DTLS: largest message one record carries */
        int cid_in_use;       /* DTLS: a Connection ID was negotiated */
        uint64_t bytes_in, bytes_out, handshake_us;
        /* why a connect failed (tlsc_connect()) */
        int error; /* negated enum tlsd_error */
        int alert; /* TLS alert, -1 if none */
        char message[1024];
} tlsc_connection_info;

/* family: AF_UNSPEC, AF_INET or AF_INET6. */
int tlsc_connection_create(tlsc_client *c, uint64_t session, int family, uint64_t *ret_connection);
int tlsc_connection_bind(tlsc_client *c, uint64_t connection, const char *address, unsigned port);
/* Starts connecting (name resolution, TCP, handshake) and returns; the outcome arrives as an
 * event (HANDSHAKE_DONE with the data fd, HANDSHAKE_FAILED, or CERTIFICATE first in
 * app-decides mode). sni may be NULL. */
int tlsc_connection_connect(tlsc_client *c, uint64_t connection, const char *host, unsigned port,
                            const char *sni);
/* Blocking: connects and waits for the outcome. Returns the plaintext data fd (yours to close)
 * or a negated error, with details in *ret (may be NULL). A DTLS Timeout event ends the wait
 * with -TLSD_ERR_TIMEOUT; the connection is kept (tlsc_connection_retry() or destroy it). In
 * app-decides mode the certificate event goes to the event handler, which answers with
 * tlsc_certificate_response(). */
int tlsc_connect(tlsc_client *c, uint64_t connection, const char *host, unsigned port,
                 const char *sni, tlsc_connection_info *ret);
/* Resumption with a ticket chosen by the app: ticket is an id from tlsc_get_ticket() (0: none,
 * the same as the calls without _ticket). The ticket must be the caller's user's, unexpired and
 * unused (TLS 1.3 tickets are single-use), else -TLSD_ERR_NOT_FOUND; one issued for another
 * host, port, SNI, ALPN or session policy is refused with -TLSD_ERR_PERMISSION (and used up
 * if single-use).
 * A ticket the server refuses ends in a full handshake, transparently; info.resumed says
 * which it was. */
int tlsc_connection_connect_ticket(tlsc_client *c, uint64_t connection, const char *host,
                                   unsigned port, const char *sni, uint64_t ticket);
int tlsc_connect_ticket(tlsc_client *c, uint64_t connection, const char *host, unsigned port,
                        const char *sni, uint64_t ticket, tlsc_connection_info *ret);
/* The id of the newest ticket tlsd keeps for this connection (an id, not the secret; usable
 * by the same user only, with tlsc_connect_ticket()). -TLSD_ERR_NOT_FOUND until the server
 * sent one: TLS 1.2 tickets come with the handshake, TLS 1.3 ones after it, typically once
 * the first data was read. */
int tlsc_get_ticket(tlsc_client *c, uint64_t connection, uint64_t *ret_ticket);

/* The app-decides answer. Does not wait for the daemon's reply, so it is safe in an event
 * handler; a failure shows as the connection's HANDSHAKE_FAILED event. */
int tlsc_certificate_response(tlsc_client *c, uint64_t connection, int accept);
int tlsc_connection_info_get(tlsc_client *c, uint64_t connection, tlsc_connection_info *ret);
/* Sends close_notify and closes; a Disconnected event (reason "local") follows. */
int tlsc_connection_disconnect(tlsc_client *c, uint64_t connection);
/* The clean end of the app's data, like shutdown(fd, SHUT_WR), but the data fd may be closed
 * as soon as this returns: what was written before goes out, then close_notify; writes after it
 * fail (EPIPE). Closing the fd without either is an abort: no close_notify. */
int tlsc_connection_shutdown(tlsc_client *c, uint64_t connection);
/* DTLS, after a TIMEOUT event: retransmit now and run the schedule again. */
int tlsc_connection_retry(tlsc_client *c, uint64_t connection);
int tlsc_connection_destroy(tlsc_client *c, uint64_t connection);

/* ---- servers ---- */

/* A server session (TLSC_ROLE_SERVER) needs an identity (cert + key in its options; several
 * for SNI or RSA+ECDSA side by side: call tlsc_session_configure() once per extra identity). */

typedef struct tlsc_listen_options {
        unsigned backlog;         /* 0: SOMAXCONN */
        unsigned max_pending;     /* handshakes in progress; 0: ListenerMaxPending= */
        unsigned max_connections; /* live connections; 0: ListenerMaxConnections= */
} tlsc_listen_options;

/* Listens on address (numeric; NULL: all, IPv6 and IPv4) and port (0: any; the port taken is
 * returned). Accepted connections arrive as TLSC_EVENT_ACCEPTED with the plaintext fd. Ports
 * below 1024 need root or PrivilegedPortUsers= in tlsd.conf(5). */
int tlsc_listen(tlsc_client *c, uint64_t session, const char *address, unsigned port,
                const tlsc_listen_options *o, uint64_t *ret_listener, unsigned *ret_port);
/* Stops accepting; connections already established go on until their fds close. */
int tlsc_listener_close(tlsc_client *c, uint64_t listener);

/* Hands a connected TCP socket (STARTTLS, socket activation) to tlsd, which runs the session's
 * role handshake on it. Blocking: returns the plaintext fd like tlsc_connect(). host: the name
 * to verify (client role). The socket is tlsd's afterwards: close your copy. */
int tlsc_adopt(tlsc_client *c, uint64_t session, int fd, const char *host, const char *sni,
               tlsc_connection_info *ret);

/* ---- the same operations, non-blocking: queued at once, the callback runs from
 * tlsc_dispatch() with the result (and the new object's id for the *_create_async ones). ---- */

typedef void (*tlsc_id_cb)(tlsc_client *c, int result, uint64_t id, void *userdata);

int tlsc_session_create_async(tlsc_client *c, int role, const tlsc_session_options *o,
                              tlsc_id_cb cb, void *userdata);
int tlsc_session_configure_async(tlsc_client *c, uint64_t session, const tlsc_session_options *o,
                                 tlsc_done_cb cb, void *userdata);
int tlsc_session_destroy_async(tlsc_client *c, uint64_t session, tlsc_done_cb cb, void *userdata);
int tlsc_connection_create_async(tlsc_client *c, uint64_t session, int family, tlsc_id_cb cb,
                                 void *userdata);
int tlsc_connection_bind_async(tlsc_client *c, uint64_t connection, const char *address,
                               unsigned port, tlsc_done_cb cb, void *userdata);
/* The callback says whether the daemon accepted the request; the connection's outcome follows as
 * an event. */
int tlsc_connection_connect_async(tlsc_client *c, uint64_t connection, const char *host,
                                  unsigned port, const char *sni, tlsc_done_cb cb, void *userdata);
int tlsc_connection_connect_ticket_async(tlsc_client *c, uint64_t connection, const char *host,
                                         unsigned port, const char *sni, uint64_t ticket,
                                         tlsc_done_cb cb, void *userdata);
/* The callback's id is the ticket id. */
int tlsc_get_ticket_async(tlsc_client *c, uint64_t connection, tlsc_id_cb cb, void *userdata);
int tlsc_connection_disconnect_async(tlsc_client *c, uint64_t connection, tlsc_done_cb cb,
                                     void *userdata);
int tlsc_connection_destroy_async(tlsc_client *c, uint64_t connection, tlsc_done_cb cb,
                                  void *userdata);
int tlsc_connection_retry_async(tlsc_client *c, uint64_t connection, tlsc_done_cb cb,
                                void *userdata);
int tlsc_listen_async(tlsc_client *c, uint64_t session, const char *address, unsigned port,
                      const tlsc_listen_options *o, tlsc_id_cb cb, void *userdata);
/* The callback gets the new connection's id; its outcome follows as an event. */
int tlsc_adopt_async(tlsc_client *c, uint64_t session, int fd, const char *host, const char *sni,
                     tlsc_id_cb cb, void *userdata);

/* ---- events ---- */

enum tlsc_event_type {
        TLSC_EVENT_HANDSHAKE_DONE = 0,
        TLSC_EVENT_HANDSHAKE_FAILED = 1,
        TLSC_EVENT_CERTIFICATE = 2, /* app-decides: answer with tlsc_certificate_response() */
        TLSC_EVENT_DISCONNECTED = 3,
        TLSC_EVENT_ACCEPTED = 4,          /* a listener's new connection, with its plaintext fd */
        TLSC_EVENT_TIMEOUT = 5,           /* DTLS: no answer after `retries` retransmissions; the
                                           * connection waits: tlsc_connection_retry() or destroy */
        TLSC_EVENT_MESSAGE_TOO_LARGE = 6, /* DTLS: a message over max_message was dropped
                                           * (EMSGSIZE), never cut */
        TLSC_EVENT_ACCEPT_FAILED = 7,     /* a listener's client failed its handshake (never
                                           * announced; at most 10 a second per listener) */
};

typedef struct tlsc_event {
        int type; /* enum tlsc_event_type */
        uint64_t connection;
        /* HANDSHAKE_DONE, ACCEPTED: the plaintext fd. Set it to -1 to keep it; otherwise it is
         * closed when the callback returns. */
        int fd;
        const tlsc_connection_info *info; /* HANDSHAKE_DONE, HANDSHAKE_FAILED, ACCEPTED (the
                                           * client's certificate subject in peer_subject),
                                           * ACCEPT_FAILED (error, message, alert,
                                           * verify_result) */
        uint64_t listener;                /* ACCEPTED, ACCEPT_FAILED */
        const char *peer_address;         /* ACCEPTED, ACCEPT_FAILED: numeric IP of the client */
        unsigned peer_port;
        const char *sni;   /* ACCEPTED: the name the client asked for, or NULL */
        int verify_result; /* CERTIFICATE, ACCEPT_FAILED */
        const char *chain; /* CERTIFICATE: the peer's chain as PEM */
        size_t chain_size;
        int reason; /* DISCONNECTED: enum tlsc_disconnect_reason */
        int alert;  /* DISCONNECTED with reason alert, ACCEPT_FAILED (-1:
                     * none) */
        uint64_t bytes_in, bytes_out;
        unsigned retries;         /* TIMEOUT */
        const char *message;      /* TIMEOUT, ACCEPT_FAILED */
        size_t size, max_message; /* MESSAGE_TOO_LARGE */
        unsigned suppressed;      /* ACCEPT_FAILED: the listener's failures since the last
                                   * such event that were not reported (rate limit) */
} tlsc_event;

typedef void (*tlsc_event_cb)(tlsc_client *c, tlsc_event *event, void *userdata);
/* Events are delivered from tlsc_dispatch() and from inside blocking calls. Without a handler
 * they are dropped (data fds closed). A handler must not call blocking functions; use the
 * async ones or remember what to do. */
void tlsc_set_event_handler(tlsc_client *c, tlsc_event_cb cb, void *userdata);

#ifdef __cplusplus
}
#endif
