/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers the C tests (test-tls, test-dtls and the coverage tests test-async, test-enforce,
 * test-policy, test-tickets) share on top of harness.[ch]: test PKI files, a process's
 * descriptors and memory, an event recorder for libtlsclient clients and a loop that
 * dispatches them until something happened, openssl s_server peers whose port is read back from
 * their "ACCEPT" line (port 0, never a port guessed free), and loopback sockets on port 0.
 * Everything asserts with Check, so a helper that cannot do its job fails the test it serves.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "tlsd/client.h"

/* $TLSD_TEST_PKI/file (a few rotating static buffers). */
const char *tk_pki(const char *file);
/* The whole file, NUL-terminated; free() it. */
char *tk_slurp(const char *path, size_t *ret_size);

/* Starts the daemon with config (may be NULL); fails the test if it does not come up. */
void tk_daemon_start(Daemon *d, const char *config);
/* The same with the daemon's log (its stderr) going to ret_log (a file in its directory). */
void tk_daemon_start_logged(Daemon *d, const char *config, char *ret_log, size_t size);
/* Whether the file holds needle, waiting up to timeout_ms for it to appear (logs trail). */
bool tk_wait_log(const char *path, const char *needle, long timeout_ms);
tlsc_client *tk_open(const Daemon *d);

/* The descriptors process pid has open (/proc/PID/fd). */
int tk_count_fds(pid_t pid);
/* Its resident set in KiB (VmRSS of /proc/PID/status), -1 if that does not say. */
long tk_rss_kib(pid_t pid);

/* Client session trusting the test CA; o (may be NULL) supplies the other options. */
uint64_t tk_client_session(tlsc_client *c, const tlsc_session_options *o);
/* Server session with the ECDSA test identity; o (may be NULL) supplies the other options. */
uint64_t tk_server_session(tlsc_client *c, const tlsc_session_options *o);

/* ---- events ---- */

#define TK_EVENTS_MAX 64

typedef struct TkEvent {
        int type;
        uint64_t connection, listener;
        int fd; /* HANDSHAKE_DONE, ACCEPTED: kept open, the test closes it */
        tlsc_connection_info info;
        bool has_info;
        char peer_address[64];
        unsigned peer_port;
        int reason, alert;
        unsigned retries;
        char message[256];
} TkEvent;

typedef struct TkEvents {
        TkEvent ev[TK_EVENTS_MAX];
        unsigned n;
} TkEvents;

/* The handler to give tlsc_set_event_handler() with a TkEvents as userdata. */
void tk_on_event(tlsc_client *c, tlsc_event *ev, void *userdata);
/* The first recorded event of this type for this connection (0: any connection), or NULL. */
TkEvent *tk_find(TkEvents *e, int type, uint64_t connection);
/* Counts recorded events of this type (any connection). */
unsigned tk_count(TkEvents *e, int type);
/* Closes the fds the recorded events kept. */
void tk_events_done(TkEvents *e);

/* Dispatches the clients (NULL-terminated array) until done(arg) holds; fails after timeout_ms
 * (a bound against hangs, never a measurement). */
void tk_pump(tlsc_client **clients, bool (*done)(void *arg), void *arg, long timeout_ms,
             const char *what);
/* Dispatches until an event of this type for this connection (0: any) was recorded. */
TkEvent *tk_wait_event(tlsc_client **clients, TkEvents *e, int type, uint64_t connection,
                       const char *what);
/* Dispatches until the nth (1-based) event of this type (any connection) was recorded. */
TkEvent *tk_wait_nth(tlsc_client **clients, TkEvents *e, int type, unsigned nth, const char *what);
/* Dispatches until *counter >= want. */
void tk_wait_count(tlsc_client **clients, const unsigned *counter, unsigned want, const char *what);

/* ---- peers and sockets ---- */

typedef struct TkPeer {
        pid_t pid;
        unsigned port;
        int in;         /* its stdin, held open: s_server quits at the end of its input */
        int out;        /* its stdout and stderr */
        char log[8192]; /* what it printed while the port was read */
} TkPeer;

/* openssl s_server on 127.0.0.1 port 0 with the given extra arguments (NULL-terminated); waits
 * for its "ACCEPT" line. Returns false (and fills p->log) when openssl is missing or refuses
 * the arguments. */
bool tk_openssl_server(TkPeer *p, const char *const *args);
/* Reads what the peer printed (up to size-1 bytes, NUL-terminated) until `want` appears, the
 * peer closes its output, or timeout_ms passes. Returns whether want appeared. */
bool tk_peer_read_until(TkPeer *p, char *buf, size_t size, const char *want, long timeout_ms);
void tk_peer_stop(TkPeer *p);

/* Runs a /bin/sh command line, its stdout and stderr into out (NUL-terminated, cut to size).
 * Returns its exit status (128 + signal when killed). */
int tk_run(const char *command, char *out, size_t size);

/* A TCP listening socket on 127.0.0.1 port 0 (backlog 16); the port in *ret_port. */
int tk_tcp_listen(unsigned *ret_port);
/* A UDP socket bound to 127.0.0.1 port 0; the port in *ret_port. */
int tk_udp_bind(unsigned *ret_port);
/* A TCP connection to addr (numeric, IPv4 or IPv6) port. Returns the fd or -errno. */
int tk_tcp_connect(const char *addr, unsigned port);

/* Writes all of buf; reads exactly size bytes (fails the test on EOF or error first). */
void tk_write_all(int fd, const void *buf, size_t size);
void tk_read_exact(int fd, void *buf, size_t size, long timeout_ms);
/* Reads until EOF or error; returns the number of bytes read, or -errno of the error. */
ssize_t tk_read_to_end(int fd, long timeout_ms);
