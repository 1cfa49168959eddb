/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The [Limits] and [Listen] settings of tlsd.conf(5) enforced, each by what a client observes
 * when it goes over the limit and when it is back under it:
 *
 *  - MaxClients: counts the clients of all users; the one over it gets LimitExceeded ("too many
 *    clients"), a freed slot is usable again;
 *  - ListenerMaxConnections= (and the per-listener max_connections of tlsc_listen): a connection
 *    beyond it is closed at once (the client's handshake fails, no Accepted event), and served
 *    again once an accepted connection has ended;
 *  - MaxPendingHandshakesPerUser: the connect request over it is refused with LimitExceeded,
 *    another user is not affected, and a pending handshake that ends frees its place;
 *  - PrivilegedPortUsers=: a listed uid may listen below 1024 (and is served there), an unlisted
 *    one gets PermissionDenied for the same port.
 *
 * Needs root (other uids, privileged ports): otherwise it exits 77 saying so.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "testkit.h"

#define OTHER_UID 4242
#define UNLISTED_UID 4243

/* Runs fn(d, arg, to_parent) as uid in a child (group nogroup); returns its pid. The child's
 * exit status says which step failed (0: all good). */
static pid_t as_uid(uid_t uid, int (*fn)(const Daemon *, void *, int), const Daemon *d, void *arg,
                    int to_parent) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        _exit(99);
                _exit(fn(d, arg, to_parent));
        }
        return pid;
}

static void expect_child(pid_t pid, const char *what) {
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: exit status %d", what,
                      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void read_byte(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char ch;

        ck_assert_int_eq(poll(&p, 1, 30000), 1);
        ck_assert_int_eq(read(fd, &ch, 1), 1);
}

/* ---- MaxClients ---- */

/* Holds one client of another uid open until the parent closes its end of the `hold` pipe. */
static int hold_client(const Daemon *d, void *arg, int to_parent) {
        int *hold = arg;
        tlsc_client *c = NULL;
        char ch;

        close(hold[1]); /* the parent's end: only its close may end the wait */
        if (tlsc_open(d->socket_path, &c) < 0 || tlsc_ping(c, NULL, 0) < 0)
                return 10;
        if (write(to_parent, "h", 1) != 1)
                return 11;
        (void) !read(hold[0], &ch, 1); /* EOF: the parent is done */
        tlsc_close(c);
        return 0;
}

START_TEST(test_max_clients) {
        Daemon d;
        tlsc_client *a, *b = NULL;
        int up[2], hold[2], r;
        pid_t child;

        /* the per-user limit is far away: only MaxClients can refuse */
        tk_daemon_start(&d, "[Daemon]\nSocketGroup=nogroup\n"
                            "[Limits]\nMaxClients=2\nMaxClientsPerUser=100\n");
        ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
        a = tk_open(&d);
        ck_assert_int_eq(tlsc_ping(a, NULL, 0), 0);
        child = as_uid(OTHER_UID, hold_client, &d, hold, up[1]);
        close(up[1]);
        close(hold[0]);
        read_byte(up[0]); /* uid 4242's client is in */

        /* a second root client makes three: over MaxClients=2, whoever the users are */
        ck_assert_int_eq(tlsc_open(d.socket_path, &b), 0);
        r = tlsc_ping(b, NULL, 0);
        ck_assert_msg(r == -TLSD_ERR_LIMIT, "third client: %s (%s)", tlsd_strerror(r),
                      tlsc_last_error_message(b));
        ck_assert_ptr_nonnull(strstr(tlsc_last_error_message(b), "too many clients"));
        tlsc_close(b);
        ck_assert_int_eq(tlsc_ping(a, NULL, 0), 0); /* the others are not affected */

        /* uid 4242 leaves: its slot is free again */
        close(hold[1]);
        expect_child(child, "uid 4242's client");
        {
                long deadline = now_ms() + 10000;

                for (;;) {
                        ck_assert_int_eq(tlsc_open(d.socket_path, &b), 0);
                        r = tlsc_ping(b, NULL, 0);
                        if (r == 0)
                                break;
                        /* the daemon may not have seen the child's client go yet */
                        ck_assert_msg(r == -TLSD_ERR_LIMIT, "after a client left: %s",
                                      tlsd_strerror(r));
                        tlsc_close(b);
                        ck_assert_msg(now_ms() < deadline, "the freed client slot never came back");
                        usleep(20000);
                }
        }
        tlsc_close(b);
        close(up[0]);
        tlsc_close(a);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- ListenerMaxConnections ---- */

/* One client connect to port; returns the fd or the error. */
static int connect_once(tlsc_client *c, uint64_t session, unsigned port,
                        tlsc_connection_info *info) {
        uint64_t conn;

        ck_assert_int_eq(tlsc_connection_create(c, session, AF_INET, &conn), 0);
        return tlsc_connect(c, conn, "localhost", port, NULL, info);
}

static void check_listener_limit(const Daemon *d, const tlsc_listen_options *lo) {
        tlsc_connection_info info;
        TkEvents se = {}, ce = {};
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener;
        unsigned port;
        TkEvent *acc;
        int fd1, fd2, fd3;
        long deadline;

        sc = tk_open(d);
        cc = tk_open(d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        tlsc_set_event_handler(cc, tk_on_event, &ce);
        ss = tk_server_session(sc, NULL);
        ck_assert_int_eq(tlsc_listen(sc, ss, "127.0.0.1", 0, lo, &listener, &port), 0);
        cs = tk_client_session(cc, NULL);

        fd1 = connect_once(cc, cs, port, &info);
        ck_assert_msg(fd1 >= 0, "first connection: %s: %s", tlsd_strerror(fd1), info.message);
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 1, "Accepted");
        tk_write_all(fd1, "x", 1);
        {
                char ch;

                tk_read_exact(acc->fd, &ch, 1, 10000);
        }

        /* the listener is full: the next connection is closed at once, not served, not left
         * to its handshake timeout */
        fd2 = connect_once(cc, cs, port, &info);
        ck_assert_msg(fd2 < 0, "a connection over the listener's limit was served");
        ck_assert_msg(fd2 != -TLSD_ERR_TIMEOUT, "over the limit: %s", info.message);
        fprintf(stderr, "over the listener's limit: %s: %s\n", tlsd_strerror(fd2), info.message);
        ck_assert_uint_eq(tk_count(&se, TLSC_EVENT_ACCEPTED), 1);

        /* the accepted connection ends: its place is free again */
        close(acc->fd);
        acc->fd = -1;
        ck_assert_int_eq(tk_read_to_end(fd1, 10000), 0);
        close(fd1);
        deadline = now_ms() + 10000;
        for (;;) {
                fd3 = connect_once(cc, cs, port, &info);
                if (fd3 >= 0)
                        break;
                /* tlsd may not have released the ended connection yet */
                ck_assert_msg(now_ms() < deadline, "the freed place never came back: %s",
                              info.message);
                usleep(20000);
        }
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 2, "Accepted (2)");
        tk_write_all(fd3, "y", 1);
        {
                char ch;

                tk_read_exact(acc->fd, &ch, 1, 10000);
                ck_assert_int_eq(ch, 'y');
        }
        close(fd3);
        tk_events_done(&se);
        tk_events_done(&ce);
        tlsc_close(cc);
        tlsc_close(sc);
}

START_TEST(test_listener_max_connections) {
        tlsc_listen_options lo = { .max_connections = 1 };
        Daemon d;

        /* from the configuration */
        tk_daemon_start(&d, "[Limits]\nListenerMaxConnections=1\n");
        check_listener_limit(&d, NULL);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);

        /* from the listener's own option, over the default of 1024 */
        tk_daemon_start(&d, NULL);
        check_listener_limit(&d, &lo);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- MaxPendingHandshakesPerUser ---- */

/* Another uid starts a connect to the silent port: must be accepted whatever root has pending. */
static int other_user_connects(const Daemon *d, void *arg, int to_parent) {
        unsigned port = *(unsigned *) arg;
        tlsc_client *c = NULL;
        uint64_t s, conn;

        (void) to_parent;
        if (tlsc_open(d->socket_path, &c) < 0)
                return 20;
        if (tlsc_session_create(c, TLSC_ROLE_CLIENT, NULL, &s) < 0 ||
            tlsc_connection_create(c, s, AF_INET, &conn) < 0)
                return 21;
        if (tlsc_connection_connect(c, conn, "127.0.0.1", port, NULL) != 0)
                return 22;
        tlsc_close(c);
        return 0;
}

START_TEST(test_max_pending_handshakes_per_user) {
        tlsc_session_options o = { .handshake_timeout_ms = 600000 };
        Daemon d;
        tlsc_client *c;
        uint64_t cs, conn[4];
        unsigned port;
        int silent, r;

        tk_daemon_start(&d, "[Daemon]\nSocketGroup=nogroup\n"
                            "[Limits]\nMaxPendingHandshakesPerUser=2\n");
        silent = tk_tcp_listen(&port); /* TCP connects complete, no TLS ever answers */
        c = tk_open(&d);
        cs = tk_client_session(c, &o);
        for (unsigned i = 0; i < 4; i++)
                ck_assert_int_eq(tlsc_connection_create(c, cs, AF_INET, &conn[i]), 0);
        ck_assert_int_eq(tlsc_connection_connect(c, conn[0], "127.0.0.1", port, NULL), 0);
        ck_assert_int_eq(tlsc_connection_connect(c, conn[1], "127.0.0.1", port, NULL), 0);
        r = tlsc_connection_connect(c, conn[2], "127.0.0.1", port, NULL);
        ck_assert_msg(r == -TLSD_ERR_LIMIT, "third pending handshake: %s (%s)", tlsd_strerror(r),
                      tlsc_last_error_message(c));
        ck_assert_msg(strstr(tlsc_last_error_message(c), "MaxPendingHandshakesPerUser"),
                      "the refusal does not name the limit: %s", tlsc_last_error_message(c));

        /* per user: another uid has its own count */
        expect_child(as_uid(OTHER_UID, other_user_connects, &d, &port, -1),
                     "uid 4242 connects while root is at its limit");

        /* a pending handshake that goes away frees its place */
        ck_assert_int_eq(tlsc_connection_destroy(c, conn[0]), 0);
        r = tlsc_connection_connect(c, conn[3], "127.0.0.1", port, NULL);
        ck_assert_msg(r == 0, "after one pending handshake went: %s (%s)", tlsd_strerror(r),
                      tlsc_last_error_message(c));
        tlsc_close(c);
        close(silent);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- PrivilegedPortUsers= ---- */

typedef struct Identity {
        char *cert, *key;
        size_t cert_size, key_size;
        char *ca;
        size_t ca_size;
        unsigned port; /* the unlisted uid tries this one */
} Identity;

/* uid 4242 (listed): listens on a free port below 1024 and is served there by a client of its
 * own, then tells the parent the port. */
static int listed_user_listens(const Daemon *d, void *arg, int to_parent) {
        Identity *id = arg;
        tlsc_session_options so = { .cert = id->cert,
                                    .cert_size = id->cert_size,
                                    .key = id->key,
                                    .key_size = id->key_size };
        tlsc_session_options co = { .ca = id->ca, .ca_size = id->ca_size };
        tlsc_connection_info info;
        tlsc_client *c = NULL;
        uint64_t ss, cs, listener, conn;
        unsigned port = 0, got = 0;
        int fd, r = -TLSD_ERR_IO;

        if (tlsc_open(d->socket_path, &c) < 0)
                return 30;
        if (tlsc_session_create(c, TLSC_ROLE_SERVER, &so, &ss) < 0 ||
            tlsc_session_create(c, TLSC_ROLE_CLIENT, &co, &cs) < 0)
                return 31;
        /* the first privileged port nothing else holds */
        for (port = 1023; port >= 600; port--) {
                r = tlsc_listen(c, ss, "127.0.0.1", port, NULL, &listener, &got);
                if (r == 0 || !strstr(tlsc_last_error_message(c), "in use"))
                        break;
        }
        if (r < 0) {
                fprintf(stderr, "uid %u: listen on port %u: %s: %s\n", (unsigned) getuid(), port,
                        tlsd_strerror(r), tlsc_last_error_message(c));
                return r == -TLSD_ERR_PERMISSION ? 32 : 33;
        }
        if (got != port)
                return 34;
        if (tlsc_connection_create(c, cs, AF_INET, &conn) < 0)
                return 35;
        fd = tlsc_connect(c, conn, "localhost", port, NULL, &info);
        if (fd < 0) {
                fprintf(stderr, "connect to port %u: %s\n", port, info.message);
                return 36;
        }
        close(fd);
        if (write(to_parent, &port, sizeof(port)) != sizeof(port))
                return 37;
        tlsc_close(c);
        return 0;
}

/* uid 4243 (not listed): the same port is PermissionDenied, naming the setting. */
static int unlisted_user_listens(const Daemon *d, void *arg, int to_parent) {
        Identity *id = arg;
        tlsc_session_options so = { .cert = id->cert,
                                    .cert_size = id->cert_size,
                                    .key = id->key,
                                    .key_size = id->key_size };
        tlsc_client *c = NULL;
        uint64_t ss, listener;
        unsigned got = 0;
        int r;

        (void) to_parent;
        if (tlsc_open(d->socket_path, &c) < 0)
                return 40;
        if (tlsc_session_create(c, TLSC_ROLE_SERVER, &so, &ss) < 0)
                return 41;
        r = tlsc_listen(c, ss, "127.0.0.1", id->port, NULL, &listener, &got);
        if (r != -TLSD_ERR_PERMISSION) {
                fprintf(stderr, "uid %u on port %u: %s: %s\n", (unsigned) getuid(), id->port,
                        tlsd_strerror(r), tlsc_last_error_message(c));
                return 42;
        }
        if (!strstr(tlsc_last_error_message(c), "PrivilegedPortUsers="))
                return 43;
        /* ... and an unprivileged port is fine: the refusal was about the port */
        if (tlsc_listen(c, ss, "127.0.0.1", 0, NULL, &listener, &got) != 0 || got < 1024)
                return 44;
        tlsc_close(c);
        return 0;
}

START_TEST(test_privileged_port_users_allow) {
        Identity id = {};
        Daemon d;
        int up[2];
        pid_t listed;

        id.cert = tk_slurp(tk_pki("server-ecdsa-chain.pem"), &id.cert_size);
        id.key = tk_slurp(tk_pki("server-ecdsa.key"), &id.key_size);
        id.ca = tk_slurp(tk_pki("ca.pem"), &id.ca_size);
        tk_daemon_start(&d, "[Daemon]\nSocketGroup=nogroup\n"
                            "[Listen]\nPrivilegedPortUsers=4242\n");
        ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
        listed = as_uid(OTHER_UID, listed_user_listens, &d, &id, up[1]);
        close(up[1]);
        {
                struct pollfd p = { .fd = up[0], .events = POLLIN };
                ssize_t n;

                ck_assert_int_eq(poll(&p, 1, 30000), 1);
                n = read(up[0], &id.port, sizeof(id.port));
                if (n != sizeof(id.port))
                        expect_child(listed, "uid 4242 (in PrivilegedPortUsers=) listening below "
                                             "1024");
                ck_assert_int_eq(n, sizeof(id.port));
        }
        ck_assert_uint_lt(id.port, 1024);
        expect_child(as_uid(UNLISTED_UID, unlisted_user_listens, &d, &id, -1),
                     "uid 4243 (not in PrivilegedPortUsers=)");
        expect_child(listed, "uid 4242 (in PrivilegedPortUsers=)");
        close(up[0]);
        free(id.cert);
        free(id.key);
        free(id.ca);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

int main(void) {
        Suite *s = suite_create("limits");
        TCase *tc = tcase_create("limits");
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                printf("SKIP: test-enforce needs root (clients of other uids, ports below 1024)\n");
                return 77;
        }
        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 600 : 120);
        tcase_add_test(tc, test_max_clients);
        tcase_add_test(tc, test_listener_max_connections);
        tcase_add_test(tc, test_max_pending_handshakes_per_user);
        tcase_add_test(tc, test_privileged_port_users_allow);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
