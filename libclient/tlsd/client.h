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
#include <sys/types.h>

#include <tlsd/error.h>

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

/* The socket tlsc_open(NULL, ...) uses: $TLSD_SOCKET if set, else /run/tlsd/tlsd.sock if it
 * exists, else $XDG_RUNTIME_DIR/tlsd/tlsd.sock. Returned string is static or from getenv. */
const char *tlsc_default_socket_path(void);

/* Connect to tlsd at `path` (NULL: the default). */
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

int tlsc_ping_async(tlsc_client *c, const void *payload, size_t size, tlsc_done_cb cb,
                    void *userdata);
int tlsc_get_version_async(tlsc_client *c, tlsc_version_cb cb, void *userdata);
int tlsc_whoami_async(tlsc_client *c, tlsc_identity_cb cb, void *userdata);

#ifdef __cplusplus
}
#endif
