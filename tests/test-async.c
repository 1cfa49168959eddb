/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtlsclient's non-blocking API and its events, end to end with a real tlsd, each call checked
 * by what it did rather than by its return value:
 *
 *  - tlsc_listen_async, tlsc_connection_bind (the accepted peer has the bound address), a
 *    non-blocking TLS connect (tlsc_connection_connect_async: HandshakeDone with the data fd),
 *    tlsc_get_ticket_async, tlsc_connection_disconnect_async (Disconnected "local", the peer
 *    reads close_notify), tlsc_connection_connect_ticket_async, tlsc_connection_connect_ticket
 *    and tlsc_connect_ticket (resumed, and a TLS 1.3 ticket is used up), and
 *    tlsc_get_ticket_stats_async (the hits counted);
 *  - tlsc_adopt_async in the client role (HandshakeDone for the id the callback gave), and a
 *    descriptor that is no TCP socket refused through the callback;
 *  - tlsc_connection_retry_async after a DTLS Timeout event (the flight goes out again);
 *  - a client handshake timeout (HandshakeFailed with Timeout) against a server that never
 *    speaks, and a server that closes during the handshake (a handshake error, not "the
 *    connection to tlsd was lost");
 *  - Disconnected with reason "alert" (openssl s_server rejecting a TLS 1.3 client without a
 *    certificate after the handshake: certificate_required) and "reset" (a TCP RST from a relay);
 *  - connections surviving the close of their listener;
 *  - the default listen address: IPv6 and IPv4 on one socket.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "testkit.h"

/* ---- async callbacks: each records its result (and id) ---- */

typedef struct Calls {
        unsigned n, taken; /* callbacks run, results handed to the test */
        int result[32];
        uint64_t id[32];
} Calls;

static void on_done(tlsc_client *c, int result, void *userdata) {
        Calls *k = userdata;

        (void) c;
        ck_assert_uint_lt(k->n, 32);
        k->result[k->n] = result;
        k->id[k->n++] = 0;
}

static void on_id(tlsc_client *c, int result, uint64_t id, void *userdata) {
        Calls *k = userdata;

        (void) c;
        ck_assert_uint_lt(k->n, 32);
        k->result[k->n] = result;
        k->id[k->n++] = id;
}

/* The result of the oldest async call not yet looked at: dispatches until its callback ran. */
static int wait_call(tlsc_client **clients, Calls *k, uint64_t *ret_id, const char *what) {
        unsigned i = k->taken++;

        tk_wait_count(clients, &k->n, i + 1, what);
        if (ret_id)
                *ret_id = k->id[i];
        return k->result[i];
}

/* The TCP port of the socket listening on 127.0.0.1 that process pid holds. tlsc_listen_async
 * hands back the listener id only, not the port it took, so the test finds it in /proc. */
static unsigned listening_port_of(pid_t pid) {
        char path[64], line[512];
        unsigned port = 0;
        FILE *f;

        f = fopen("/proc/net/tcp", "re");
        ck_assert_ptr_nonnull(f);
        while (!port && fgets(line, sizeof(line), f)) {
                unsigned local_port, state;
                unsigned long inode;
                char local[16];
                DIR *dir;
                struct dirent *de;

                if (sscanf(line, " %*u: %8[0-9A-F]:%x %*8[0-9A-F]:%*x %x %*s %*s %*s %*u %*u %lu",
                           local, &local_port, &state, &inode) != 4)
                        continue;
                if (strcmp(local, "0100007F") != 0 || state != 0x0A)
                        continue;
                /* one of pid's descriptors? */
                snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
                dir = opendir(path);
                ck_assert_ptr_nonnull(dir);
                while ((de = readdir(dir))) {
                        char fdpath[400], target[64], want[64];
                        ssize_t n;

                        snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
                        n = readlink(fdpath, target, sizeof(target) - 1);
                        if (n <= 0)
                                continue;
                        target[n] = 0;
                        snprintf(want, sizeof(want), "socket:[%lu]", inode);
                        if (strcmp(target, want) == 0) {
                                port = local_port;
                                break;
                        }
                }
                closedir(dir);
        }
        fclose(f);
        ck_assert_msg(port != 0, "no listening socket on 127.0.0.1 in tlsd (pid %d)", (int) pid);
        return port;
}

static void echo_check(int a, int b, const char *line) {
        size_t n = strlen(line);
        char buf[256];

        tk_write_all(a, line, n);
        tk_read_exact(b, buf, n, 10000);
        ck_assert_mem_eq(buf, line, n);
        tk_write_all(b, line, n);
        tk_read_exact(a, buf, n, 10000);
        ck_assert_mem_eq(buf, line, n);
}

/* The newest ticket of a connection; it may trail the data a little (TLS 1.3 sends it after the
 * handshake), so NotFound is asked again. */
static uint64_t wait_ticket_async(tlsc_client **clients, Calls *k, uint64_t conn) {
        long deadline = now_ms() + 10000;

        for (;;) {
                uint64_t id = 0;
                int r;

                ck_assert_int_eq(tlsc_get_ticket_async(clients[0], conn, on_id, k), 0);
                r = wait_call(clients, k, &id, "tlsc_get_ticket_async");
                if (r == 0) {
                        ck_assert_uint_ne(id, 0);
                        return id;
                }
                ck_assert_msg(r == -TLSD_ERR_NOT_FOUND, "get_ticket_async: %s", tlsd_strerror(r));
                ck_assert_msg(now_ms() < deadline, "no ticket for connection %llu",
                              (unsigned long long) conn);
                usleep(20000);
        }
}

typedef struct Stats {
        bool done;
        int result;
        tlsc_ticket_stats st;
} Stats;

static void on_stats(tlsc_client *c, int result, const tlsc_ticket_stats *st, void *userdata) {
        Stats *s = userdata;

        (void) c;
        s->done = true;
        s->result = result;
        if (st)
                s->st = *st;
}

static bool stats_done(void *arg) {
        return ((Stats *) arg)->done;
}

START_TEST(test_async_connect_listen_ticket_disconnect) {
        tlsc_session_options co = { .version_min = 0x0304 };
        TkEvents se = {}, ce = {};
        Calls k = {};
        Daemon d;
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener = 0, conn, conn2, conn3, conn4, t1, t2, t3;
        Stats stats = {};
        tlsc_connection_info info;
        TkEvent *done, *acc, *dis;
        unsigned port;
        int r, fd;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        cc = tk_open(&d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        tlsc_set_event_handler(cc, tk_on_event, &ce);

        /* tlsc_listen_async: the listener exists once the callback says so */
        ss = tk_server_session(sc, NULL);
        ck_assert_int_eq(tlsc_listen_async(sc, ss, "127.0.0.1", 0, NULL, on_id, &k), 0);
        {
                tlsc_client *sonly[2] = { sc, NULL };

                r = wait_call(sonly, &k, &listener, "tlsc_listen_async");
        }
        ck_assert_msg(r == 0, "listen_async: %s", tlsd_strerror(r));
        ck_assert_uint_ne(listener, 0);
        port = listening_port_of(d.pid);

        /* bind (blocking) to 127.0.0.2, then a non-blocking connect with events */
        cs = tk_client_session(cc, &co);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        r = tlsc_connection_bind(cc, conn, "127.0.0.2", 0);
        ck_assert_msg(r == 0, "bind: %s: %s", tlsd_strerror(r), tlsc_last_error_message(cc));
        ck_assert_int_eq(
                tlsc_connection_connect_async(cc, conn, "localhost", port, NULL, on_done, &k), 0);
        r = wait_call(both, &k, NULL, "tlsc_connection_connect_async");
        ck_assert_msg(r == 0, "connect_async: %s", tlsd_strerror(r));
        done = tk_wait_event(both, &ce, TLSC_EVENT_HANDSHAKE_DONE, conn, "HandshakeDone");
        ck_assert_ptr_null(tk_find(&ce, TLSC_EVENT_HANDSHAKE_FAILED, conn));
        ck_assert_int_ge(done->fd, 0);
        ck_assert(done->has_info);
        ck_assert_str_eq(done->info.version, "TLSv1.3");
        ck_assert_int_eq(done->info.verify_result, TLSC_VERIFY_OK);
        ck_assert_int_eq(done->info.resumed, 0);
        acc = tk_wait_event(both, &se, TLSC_EVENT_ACCEPTED, 0, "Accepted");
        ck_assert_uint_eq(acc->listener, listener);
        ck_assert_msg(strcmp(acc->peer_address, "127.0.0.2") == 0,
                      "bind to 127.0.0.2: the server saw %s", acc->peer_address);
        echo_check(done->fd, acc->fd, "async connect\n");

        /* tlsc_get_ticket_async: the TLS 1.3 ticket the listener sent */
        t1 = wait_ticket_async(both, &k, conn);

        /* tlsc_connection_disconnect_async: close_notify to the peer, Disconnected "local" */
        ck_assert_int_eq(tlsc_connection_disconnect_async(cc, conn, on_done, &k), 0);
        r = wait_call(both, &k, NULL, "tlsc_connection_disconnect_async");
        ck_assert_msg(r == 0, "disconnect_async: %s", tlsd_strerror(r));
        dis = tk_wait_event(both, &ce, TLSC_EVENT_DISCONNECTED, conn, "Disconnected");
        ck_assert_msg(dis->reason == TLSC_DISCONNECT_LOCAL, "reason %s",
                      tlsc_disconnect_reason_name(dis->reason));
        ck_assert_int_eq(tk_read_to_end(acc->fd, 10000), 0); /* the peer reads the end */
        ck_assert_int_eq(tlsc_connection_info_get(cc, conn, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_CLOSED);

        /* tlsc_connection_connect_ticket_async with that ticket: resumed */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn2), 0);
        ck_assert_int_eq(tlsc_connection_connect_ticket_async(cc, conn2, "localhost", port, NULL,
                                                              t1, on_done, &k),
                         0);
        r = wait_call(both, &k, NULL, "tlsc_connection_connect_ticket_async");
        ck_assert_msg(r == 0, "connect_ticket_async: %s", tlsd_strerror(r));
        done = tk_wait_event(both, &ce, TLSC_EVENT_HANDSHAKE_DONE, conn2, "HandshakeDone (2)");
        ck_assert_msg(done->info.resumed == 1, "connect_ticket_async did not resume");
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 2, "Accepted (2)");
        echo_check(done->fd, acc->fd, "resumed async\n");
        t2 = wait_ticket_async(both, &k, conn2);
        ck_assert_uint_ne(t2, t1);

        /* the TLS 1.3 ticket was used up: offering it again is NotFound, through the callback */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn3), 0);
        ck_assert_int_eq(tlsc_connection_connect_ticket_async(cc, conn3, "localhost", port, NULL,
                                                              t1, on_done, &k),
                         0);
        r = wait_call(both, &k, NULL, "connect_ticket_async with a used ticket");
        ck_assert_msg(r == -TLSD_ERR_NOT_FOUND, "used ticket: %s", tlsd_strerror(r));

        /* tlsc_connection_connect_ticket (request only, the outcome as an event) with the
         * second ticket: resumed */
        ck_assert_int_eq(tlsc_connection_destroy(cc, conn3), 0);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn3), 0);
        r = tlsc_connection_connect_ticket(cc, conn3, "localhost", port, NULL, t2);
        ck_assert_msg(r == 0, "connection_connect_ticket: %s: %s", tlsd_strerror(r),
                      tlsc_last_error_message(cc));
        done = tk_wait_event(both, &ce, TLSC_EVENT_HANDSHAKE_DONE, conn3, "HandshakeDone (3)");
        ck_assert_msg(done->info.resumed == 1, "tlsc_connection_connect_ticket did not resume");
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 3, "Accepted (3)");
        echo_check(done->fd, acc->fd, "resumed by request\n");
        t3 = wait_ticket_async(both, &k, conn3);

        /* tlsc_connect_ticket (blocking) with the third: resumed */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn4), 0);
        fd = tlsc_connect_ticket(cc, conn4, "localhost", port, NULL, t3, &info);
        ck_assert_msg(fd >= 0, "connect_ticket: %s: %s", tlsd_strerror(fd), info.message);
        ck_assert_msg(info.resumed == 1, "tlsc_connect_ticket did not resume");
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 4, "Accepted (4)");
        echo_check(fd, acc->fd, "resumed blocking\n");
        close(fd);

        /* tlsc_get_ticket_stats_async: the cache counted the tickets and the three hits */
        stats.done = false;
        ck_assert_int_eq(tlsc_get_ticket_stats_async(cc, on_stats, &stats), 0);
        tk_pump(both, stats_done, &stats, 20000, "tlsc_get_ticket_stats_async");
        ck_assert_msg(stats.result == 0, "get_ticket_stats_async: %s", tlsd_strerror(stats.result));
        ck_assert_msg(stats.st.hits >= 3 && stats.st.stored >= 3 && stats.st.entries >= 1,
                      "ticket stats: entries %u, stored %llu, hits %llu", stats.st.entries,
                      (unsigned long long) stats.st.stored, (unsigned long long) stats.st.hits);

        tk_events_done(&ce);
        tk_events_done(&se);
        tlsc_close(cc);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_adopt_async) {
        TkEvents se = {}, ce = {};
        Calls k = {};
        Daemon d;
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener, conn = 0;
        TkEvent *done, *acc;
        unsigned port;
        int sock, pipefd[2], r;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        cc = tk_open(&d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        ss = tk_server_session(sc, NULL);
        ck_assert_int_eq(tlsc_listen(sc, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        cs = tk_client_session(cc, NULL);

        /* a TCP socket the app connected; tlsd runs the client handshake on it */
        sock = tk_tcp_connect("127.0.0.1", port);
        ck_assert_int_ge(sock, 0);
        ck_assert_int_eq(tlsc_adopt_async(cc, cs, sock, "localhost", NULL, on_id, &k), 0);
        close(sock);
        r = wait_call(both, &k, &conn, "tlsc_adopt_async");
        ck_assert_msg(r == 0, "adopt_async: %s", tlsd_strerror(r));
        ck_assert_uint_ne(conn, 0);
        done = tk_wait_event(both, &ce, TLSC_EVENT_HANDSHAKE_DONE, conn, "HandshakeDone");
        ck_assert_int_ge(done->fd, 0);
        ck_assert_int_eq(done->info.verify_result, TLSC_VERIFY_OK);
        acc = tk_wait_event(both, &se, TLSC_EVENT_ACCEPTED, 0, "Accepted");
        echo_check(done->fd, acc->fd, "adopted async\n");

        /* not a connected TCP socket: the error comes through the callback */
        ck_assert_int_eq(pipe(pipefd), 0);
        ck_assert_int_eq(tlsc_adopt_async(cc, cs, pipefd[0], "localhost", NULL, on_id, &k), 0);
        r = wait_call(both, &k, NULL, "tlsc_adopt_async (pipe)");
        ck_assert_msg(r == -TLSD_ERR_PARAM, "adopt_async of a pipe: %s", tlsd_strerror(r));
        ck_assert_ptr_nonnull(strstr(tlsc_last_error_message(cc), "not a connected TCP socket"));
        close(pipefd[0]);
        close(pipefd[1]);

        tk_events_done(&ce);
        tk_events_done(&se);
        tlsc_close(cc);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* Datagrams waiting on sock (read and dropped). */
static unsigned drain_udp(int sock) {
        char buf[2048];
        unsigned n = 0;

        while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                n++;
        ck_assert_int_eq(errno, EAGAIN);
        return n;
}

START_TEST(test_retry_async) {
        tlsc_session_options o = {
                .transport = TLSC_TRANSPORT_DTLS,
                .dtls_timeout_initial_ms = 50,
                .dtls_timeout_max_ms = 100,
                .dtls_retries = 2,
        };
        TkEvents ce = {};
        Calls k = {};
        Daemon d;
        tlsc_client *cc, *only[2];
        uint64_t cs, conn;
        TkEvent *to;
        unsigned port, n;
        int mute, r;

        tk_daemon_start(&d, NULL);
        cc = tk_open(&d);
        only[0] = cc, only[1] = NULL;
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        mute = tk_udp_bind(&port); /* a UDP port that never answers */
        cs = tk_client_session(cc, &o);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        ck_assert_int_eq(
                tlsc_connection_connect_async(cc, conn, "127.0.0.1", port, NULL, on_done, &k), 0);
        ck_assert_int_eq(wait_call(only, &k, NULL, "connect_async"), 0);
        to = tk_wait_event(only, &ce, TLSC_EVENT_TIMEOUT, conn, "Timeout");
        ck_assert_uint_eq(to->retries, 2);
        ck_assert_ptr_nonnull(strstr(to->message, "no answer from the peer after 2"));
        n = drain_udp(mute);
        ck_assert_msg(n == 3, "the first flight and 2 retransmissions: %u datagrams", n);

        /* retry_async: the flight goes out again and the schedule runs again; a second one
         * queued right behind it finds the schedule running */
        ck_assert_int_eq(tlsc_connection_retry_async(cc, conn, on_done, &k), 0);
        ck_assert_int_eq(tlsc_connection_retry_async(cc, conn, on_done, &k), 0);
        r = wait_call(only, &k, NULL, "tlsc_connection_retry_async");
        ck_assert_msg(r == 0, "retry_async: %s", tlsd_strerror(r));
        r = wait_call(only, &k, NULL, "tlsc_connection_retry_async while retrying");
        ck_assert_msg(r == -TLSD_ERR_STATE, "retry_async while the schedule runs: %s",
                      tlsd_strerror(r));
        to = tk_wait_nth(only, &ce, TLSC_EVENT_TIMEOUT, 2, "the second Timeout");
        ck_assert_uint_eq(to->connection, conn);
        ck_assert_uint_eq(to->retries, 2);
        n = drain_udp(mute);
        ck_assert_msg(n == 3, "after retry: the flight and 2 retransmissions again: %u", n);
        ck_assert_uint_eq(tk_count(&ce, TLSC_EVENT_HANDSHAKE_FAILED), 0);

        close(mute);
        tlsc_close(cc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_client_handshake_timeout) {
        tlsc_session_options o = { .handshake_timeout_ms = 300 };
        TkEvents ce = {};
        Calls k = {};
        Daemon d;
        tlsc_client *cc, *only[2];
        uint64_t cs, conn;
        TkEvent *failed;
        unsigned port;
        int silent;

        tk_daemon_start(&d, NULL);
        cc = tk_open(&d);
        only[0] = cc, only[1] = NULL;
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        /* the kernel completes the TCP handshake from the backlog; nobody ever speaks TLS */
        silent = tk_tcp_listen(&port);
        cs = tk_client_session(cc, &o);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        ck_assert_int_eq(
                tlsc_connection_connect_async(cc, conn, "127.0.0.1", port, NULL, on_done, &k), 0);
        ck_assert_int_eq(wait_call(only, &k, NULL, "connect_async"), 0);
        failed = tk_wait_event(only, &ce, TLSC_EVENT_HANDSHAKE_FAILED, conn, "HandshakeFailed");
        ck_assert_msg(failed->info.error == -TLSD_ERR_TIMEOUT, "error %s: %s",
                      tlsd_strerror(failed->info.error), failed->info.message);
        ck_assert_int_eq(failed->info.alert, -1);
        ck_assert_ptr_null(tk_find(&ce, TLSC_EVENT_HANDSHAKE_DONE, conn));

        /* the same through the blocking call */
        {
                tlsc_connection_info info;
                uint64_t conn2;
                int fd;

                ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn2), 0);
                fd = tlsc_connect(cc, conn2, "127.0.0.1", port, NULL, &info);
                ck_assert_msg(fd == -TLSD_ERR_TIMEOUT, "blocking connect: %s: %s",
                              tlsd_strerror(fd), info.message);
        }
        close(silent);
        tlsc_close(cc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* A server that closes the TCP connection in the middle of the handshake: the handshake fails
 * with a handshake (or connect) error. TLSD_ERR_DISCONNECTED means "the connection to tlsd was
 * lost" (error.h): an app told that would think its control connection is gone. */
START_TEST(test_peer_close_during_handshake) {
        TkEvents ce = {};
        Calls k = {};
        Daemon d;
        tlsc_client *cc, *only[2];
        uint64_t cs, conn;
        TkEvent *failed;
        unsigned port;
        int lfd, sock;

        tk_daemon_start(&d, NULL);
        cc = tk_open(&d);
        only[0] = cc, only[1] = NULL;
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        lfd = tk_tcp_listen(&port);
        cs = tk_client_session(cc, NULL);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        ck_assert_int_eq(
                tlsc_connection_connect_async(cc, conn, "127.0.0.1", port, NULL, on_done, &k), 0);
        ck_assert_int_eq(wait_call(only, &k, NULL, "connect_async"), 0);
        sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(sock, 0);
        close(sock); /* before a ServerHello */
        failed = tk_wait_event(only, &ce, TLSC_EVENT_HANDSHAKE_FAILED, conn, "HandshakeFailed");
        fprintf(stderr, "peer closed during the handshake: %s (%s): %s\n",
                tlsd_error_name(failed->info.error), tlsd_strerror(failed->info.error),
                failed->info.message);
        ck_assert_msg(failed->info.error == -TLSD_ERR_HANDSHAKE ||
                              failed->info.error == -TLSD_ERR_CONNECT,
                      "a peer closing during the handshake is reported as %s (\"%s\"), want "
                      "Handshake or Connect",
                      tlsd_error_name(failed->info.error), tlsd_strerror(failed->info.error));
        ck_assert_int_eq(tlsc_ping(cc, NULL, 0), 0); /* the control connection is fine */
        close(lfd);
        tlsc_close(cc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_disconnected_alert) {
        const char *args[] = { "-tls1_3", "-Verify", "1",       "-cert", NULL,
                               "-key",    NULL,      "-CAfile", NULL,    NULL };
        tlsc_connection_info info;
        TkEvents ce = {};
        TkPeer p;
        Daemon d;
        tlsc_client *cc, *only[2];
        uint64_t cs, conn;
        TkEvent *dis;
        int fd;

        args[4] = tk_pki("server-ecdsa-chain.pem");
        args[6] = tk_pki("server-ecdsa.key");
        args[8] = tk_pki("ca.pem");
        ck_assert_msg(tk_openssl_server(&p, args), "openssl s_server: %s", p.log);
        tk_daemon_start(&d, NULL);
        cc = tk_open(&d);
        only[0] = cc, only[1] = NULL;
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        cs = tk_client_session(cc, NULL);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        /* TLS 1.3: the client's handshake is complete before the server judges the (missing)
         * certificate; the rejection is an alert on the established connection */
        fd = tlsc_connect(cc, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s: %s", tlsd_strerror(fd), info.message);
        (void) tk_read_to_end(fd, 10000);
        dis = tk_wait_event(only, &ce, TLSC_EVENT_DISCONNECTED, conn, "Disconnected");
        ck_assert_msg(dis->reason == TLSC_DISCONNECT_ALERT, "reason %s (alert %d)",
                      tlsc_disconnect_reason_name(dis->reason), dis->alert);
        ck_assert_msg(dis->alert == 116, "alert %d, want 116 (certificate_required)", dis->alert);
        close(fd);
        tlsc_close(cc);
        tk_peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* A TCP relay in a child: accepts one connection on lfd, connects to 127.0.0.1:upstream and
 * copies both ways until a byte arrives on ctl; then it resets the accepted connection (SO_LINGER
 * 0: RST, no FIN) and exits. */
static pid_t relay_start(int lfd, unsigned upstream, int ctl) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid > 0)
                return pid;
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        {
                int down = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), up;
                struct linger lg = { .l_onoff = 1, .l_linger = 0 };
                char buf[16384];

                up = down >= 0 ? tk_tcp_connect("127.0.0.1", upstream) : -1;
                if (up < 0)
                        _exit(3);
                for (;;) {
                        struct pollfd p[3] = { { .fd = down, .events = POLLIN },
                                               { .fd = up, .events = POLLIN },
                                               { .fd = ctl, .events = POLLIN } };
                        ssize_t n;

                        if (poll(p, 3, -1) < 0)
                                _exit(4);
                        if (p[2].revents)
                                break;
                        for (int i = 0; i < 2; i++) {
                                if (!p[i].revents)
                                        continue;
                                n = read(p[i].fd, buf, sizeof(buf));
                                if (n <= 0)
                                        _exit(5);
                                if (write(p[1 - i].fd, buf, (size_t) n) != n)
                                        _exit(6);
                        }
                }
                (void) setsockopt(down, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                close(down);
                _exit(0);
        }
}

START_TEST(test_disconnected_reset) {
        tlsc_connection_info info;
        TkEvents se = {}, ce = {};
        Daemon d;
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener, conn;
        unsigned port, relay_port;
        TkEvent *acc, *dis;
        int lfd, ctl[2], fd, status;
        pid_t relay;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        cc = tk_open(&d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        ss = tk_server_session(sc, NULL);
        ck_assert_int_eq(tlsc_listen(sc, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        lfd = tk_tcp_listen(&relay_port);
        ck_assert_int_eq(pipe2(ctl, O_CLOEXEC), 0);
        relay = relay_start(lfd, port, ctl[0]);
        close(lfd);
        close(ctl[0]);

        cs = tk_client_session(cc, NULL);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        fd = tlsc_connect(cc, conn, "localhost", relay_port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect through the relay: %s: %s", tlsd_strerror(fd),
                      info.message);
        acc = tk_wait_event(both, &se, TLSC_EVENT_ACCEPTED, 0, "Accepted");
        echo_check(fd, acc->fd, "through the relay\n");

        /* the relay resets the client's TCP connection */
        ck_assert_int_eq(write(ctl[1], "r", 1), 1);
        ck_assert_int_eq(waitpid(relay, &status, 0), relay);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "relay: status %d", status);
        dis = tk_wait_event(both, &ce, TLSC_EVENT_DISCONNECTED, conn, "Disconnected");
        ck_assert_msg(dis->reason == TLSC_DISCONNECT_RESET, "a TCP reset reported as %s",
                      tlsc_disconnect_reason_name(dis->reason));
        (void) tk_read_to_end(fd, 10000); /* the app's fd ends too (EOF or error, no hang) */

        close(ctl[1]);
        close(fd);
        tk_events_done(&se);
        tlsc_close(cc);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_connections_survive_listener_close) {
        tlsc_connection_info info;
        TkEvents se = {}, ce = {};
        Daemon d;
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener, conn, conn2;
        unsigned port;
        TkEvent *acc;
        int fd, r;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        cc = tk_open(&d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        ss = tk_server_session(sc, NULL);
        ck_assert_int_eq(tlsc_listen(sc, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        cs = tk_client_session(cc, NULL);
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn), 0);
        fd = tlsc_connect(cc, conn, "localhost", port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s: %s", tlsd_strerror(fd), info.message);
        acc = tk_wait_event(both, &se, TLSC_EVENT_ACCEPTED, 0, "Accepted");
        echo_check(fd, acc->fd, "before the close\n");

        ck_assert_int_eq(tlsc_listener_close(sc, listener), 0);
        /* the established connection goes on, both ways */
        echo_check(fd, acc->fd, "after the close\n");
        ck_assert_int_eq(tlsc_connection_info_get(cc, conn, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_OPERATING);
        /* ... while nothing new is accepted */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn2), 0);
        r = tlsc_connect(cc, conn2, "localhost", port, NULL, &info);
        ck_assert_msg(r == -TLSD_ERR_CONNECT, "connect after the close: %s: %s", tlsd_strerror(r),
                      info.message);
        /* and it still ends cleanly */
        ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
        ck_assert_int_eq(tk_read_to_end(acc->fd, 10000), 0);
        close(acc->fd);
        acc->fd = -1;
        ck_assert_int_eq(tk_read_to_end(fd, 10000), 0);
        tk_wait_event(both, &ce, TLSC_EVENT_DISCONNECTED, conn, "Disconnected");
        ck_assert_int_eq(tk_find(&ce, TLSC_EVENT_DISCONNECTED, conn)->reason,
                         TLSC_DISCONNECT_CLOSE_NOTIFY);

        close(fd);
        tk_events_done(&se);
        tlsc_close(cc);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_default_listen_is_dual_stack) {
        static const char *const hosts[] = { "127.0.0.1", "::1" };
        static const char *const seen_as[] = { "::ffff:127.0.0.1", "::1" };
        TkEvents se = {};
        Daemon d;
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener;
        unsigned port;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        cc = tk_open(&d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        ss = tk_server_session(sc, NULL);
        /* no address: all of them, IPv6 and IPv4 */
        ck_assert_int_eq(tlsc_listen(sc, ss, NULL, 0, NULL, &listener, &port), 0);
        ck_assert_uint_ne(port, 0);
        cs = tk_client_session(cc, NULL);
        for (unsigned i = 0; i < 2; i++) {
                tlsc_connection_info info;
                uint64_t conn;
                TkEvent *acc;
                int fd;

                ck_assert_int_eq(tlsc_connection_create(cc, cs, 0, &conn), 0);
                fd = tlsc_connect(cc, conn, hosts[i], port, NULL, &info);
                ck_assert_msg(fd >= 0, "connect to %s: %s: %s", hosts[i], tlsd_strerror(fd),
                              info.message);
                acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, i + 1, "Accepted");
                ck_assert_msg(strcmp(acc->peer_address, seen_as[i]) == 0, "client %s seen as %s",
                              hosts[i], acc->peer_address);
                echo_check(fd, acc->fd, "dual stack\n");
                close(fd);
        }
        tk_events_done(&se);
        tlsc_close(cc);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

int main(void) {
        Suite *s = suite_create("async");
        TCase *tc = tcase_create("async");
        SRunner *sr;
        int failed;

        if (system("openssl version >/dev/null 2>&1") != 0) {
                printf("SKIP: openssl(1), the independent peer, is not installed\n");
                return 77;
        }

        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 600 : 120);
        tcase_add_test(tc, test_async_connect_listen_ticket_disconnect);
        tcase_add_test(tc, test_adopt_async);
        tcase_add_test(tc, test_retry_async);
        tcase_add_test(tc, test_client_handshake_timeout);
        tcase_add_test(tc, test_peer_close_during_handshake);
        tcase_add_test(tc, test_disconnected_alert);
        tcase_add_test(tc, test_disconnected_reset);
        tcase_add_test(tc, test_connections_survive_listener_close);
        tcase_add_test(tc, test_default_listen_is_dual_stack);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
