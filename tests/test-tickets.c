/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resumption end to end where tests/test-resume.sh (tlsctl against openssl and a tlsd listener
 * over TLS) does not reach:
 *
 *  - DTLS 1.2 and 1.3 tickets: a tlsd DTLS listener issues them, the tlsd client keeps them
 *    (tlsc_get_ticket), resumes automatically on the next connection and explicitly with
 *    tlsc_connect_ticket (info.resumed), and the cache counts the hits;
 *  - a ticket the server refuses costs a full handshake, not a failure: the client's tlsd offers
 *    a ticket issued by one tlsd to a server that is another tlsd (other ticket keys) at the
 *    same address; the connection is established, not resumed, carries data, and the cache
 *    counts the refusal (TLS 1.3 and TLS 1.2, whose client tlsd retries on a new connection).
 *    The test owns the listening socket and hands each accepted connection to one server tlsd or
 *    the other with tlsc_adopt(), so the address stays the same without reusing a port.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testkit.h"

#define DTLS13 0xfefcu
#define DTLS12 0xfefdu

/* One message each way over a SOCK_SEQPACKET pair of DTLS data fds. */
static void dtls_echo(int client_fd, int server_fd, const char *msg) {
        size_t n = strlen(msg);
        char buf[256];

        tk_write_all(client_fd, msg, n);
        tk_read_exact(server_fd, buf, n, 10000);
        ck_assert_mem_eq(buf, msg, n);
        tk_write_all(server_fd, buf, n);
        tk_read_exact(client_fd, buf, n, 10000);
        ck_assert_mem_eq(buf, msg, n);
}

/* The connection's newest ticket; NotFound is asked again while the ticket may still trail the
 * data (TLS 1.3 and DTLS 1.3 send it after the handshake). */
static uint64_t wait_ticket(tlsc_client **clients, uint64_t conn) {
        long deadline = now_ms() + 10000;
        uint64_t id = 0;
        int r;

        while ((r = tlsc_get_ticket(clients[0], conn, &id)) == -TLSD_ERR_NOT_FOUND) {
                ck_assert_msg(now_ms() < deadline, "no ticket for connection %llu",
                              (unsigned long long) conn);
                for (unsigned i = 0; clients[i]; i++)
                        (void) tlsc_dispatch(clients[i]);
                usleep(20000);
        }
        ck_assert_msg(r == 0, "tlsc_get_ticket: %s", tlsd_strerror(r));
        ck_assert_uint_ne(id, 0);
        return id;
}

static void check_dtls_tickets(unsigned version) {
        tlsc_session_options so = { .transport = TLSC_TRANSPORT_DTLS }, co = {
                .transport = TLSC_TRANSPORT_DTLS, .version_min = version, .version_max = version
        };
        const char *name = version == DTLS13 ? "DTLSv1.3" : "DTLSv1.2";
        tlsc_ticket_stats st0, st1;
        tlsc_connection_info info;
        TkEvents se = {};
        Daemon d;
        tlsc_client *sc, *cc, *both[3];
        uint64_t ss, cs, listener, conn[3], ticket;
        unsigned port;
        TkEvent *acc;
        int fd;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        cc = tk_open(&d);
        both[0] = cc, both[1] = sc, both[2] = NULL;
        tlsc_set_event_handler(sc, tk_on_event, &se);
        ss = tk_server_session(sc, &so);
        ck_assert_int_eq(tlsc_listen(sc, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        cs = tk_client_session(cc, &co);
        ck_assert_int_eq(tlsc_get_ticket_stats(cc, &st0), 0);

        /* a full handshake, whose ticket tlsd keeps */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn[0]), 0);
        fd = tlsc_connect(cc, conn[0], "localhost", port, NULL, &info);
        ck_assert_msg(fd >= 0, "%s connect: %s: %s", name, tlsd_strerror(fd), info.message);
        ck_assert_str_eq(info.version, name);
        ck_assert_int_eq(info.resumed, 0);
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 1, "Accepted");
        dtls_echo(fd, acc->fd, "first");
        ticket = wait_ticket(both, conn[0]);
        close(fd);
        ck_assert_int_eq(tlsc_connection_destroy(cc, conn[0]), 0);

        /* automatic resumption on the next connection to the same peer */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn[1]), 0);
        fd = tlsc_connect(cc, conn[1], "localhost", port, NULL, &info);
        ck_assert_msg(fd >= 0, "%s connect (2): %s: %s", name, tlsd_strerror(fd), info.message);
        ck_assert_msg(info.resumed == 1, "%s: the second connection did not resume", name);
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 2, "Accepted (2)");
        dtls_echo(fd, acc->fd, "resumed");
        close(fd);
        ck_assert_int_eq(tlsc_get_ticket_stats(cc, &st1), 0);
        ck_assert_msg(st1.stored > st0.stored && st1.hits > st0.hits,
                      "%s: ticket stats stored %llu -> %llu, hits %llu -> %llu", name,
                      (unsigned long long) st0.stored, (unsigned long long) st1.stored,
                      (unsigned long long) st0.hits, (unsigned long long) st1.hits);

        /* explicit resumption with a ticket id (1.3: the first ticket was not used; 1.2: reusable)
         */
        ck_assert_int_eq(tlsc_connection_create(cc, cs, AF_INET, &conn[2]), 0);
        fd = tlsc_connect_ticket(cc, conn[2], "localhost", port, NULL, ticket, &info);
        if (fd == -TLSD_ERR_NOT_FOUND && version == DTLS13) {
                /* the automatic resumption took that one (tlsd keeps the newest): use the
                 * second connection's */
                ticket = wait_ticket(both, conn[1]);
                fd = tlsc_connect_ticket(cc, conn[2], "localhost", port, NULL, ticket, &info);
        }
        ck_assert_msg(fd >= 0, "%s connect_ticket: %s: %s", name, tlsd_strerror(fd), info.message);
        ck_assert_msg(info.resumed == 1, "%s: tlsc_connect_ticket did not resume", name);
        acc = tk_wait_nth(both, &se, TLSC_EVENT_ACCEPTED, 3, "Accepted (3)");
        dtls_echo(fd, acc->fd, "explicit");
        close(fd);

        tk_events_done(&se);
        tlsc_close(cc);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}

START_TEST(test_dtls13_tickets) {
        check_dtls_tickets(DTLS13);
}
END_TEST

START_TEST(test_dtls12_tickets) {
        check_dtls_tickets(DTLS12);
}
END_TEST

/* Accepts the next connection on lfd and runs the server handshake on it in the tlsd of `server`
 * (blocking: the client's tlsd goes on by itself meanwhile). Returns the plaintext fd, or the
 * error with the daemon's message in msg. */
static int accept_into(int lfd, tlsc_client *server, uint64_t session, char *msg, size_t size) {
        tlsc_connection_info info;
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        int sock, fd;

        ck_assert_msg(poll(&p, 1, 30000) == 1, "no connection to accept");
        sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(sock, 0);
        fd = tlsc_adopt(server, session, sock, NULL, NULL, &info);
        close(sock);
        snprintf(msg, size, "%s", fd < 0 ? info.message : "");
        return fd;
}

static void check_refused_ticket(unsigned version) {
        tlsc_session_options o = { .version_min = version, .version_max = version };
        const char *name = version == 0x0304 ? "TLS 1.3" : "TLS 1.2";
        tlsc_ticket_stats st0, st1;
        Daemon a, b;
        tlsc_client *ca, *sa, *sb, *ca_only[2];
        uint64_t cs, ssa, ssb, conn[2];
        TkEvents ce = {};
        TkEvent *done;
        unsigned port;
        char msg[1024], buf[64];
        int lfd, sfd, attempts;

        /* two tlsd, two sets of ticket keys; a is also the client */
        tk_daemon_start(&a, NULL);
        tk_daemon_start(&b, NULL);
        ca = tk_open(&a);
        sa = tk_open(&a);
        sb = tk_open(&b);
        ca_only[0] = ca, ca_only[1] = NULL;
        tlsc_set_event_handler(ca, tk_on_event, &ce);
        cs = tk_client_session(ca, &o);
        ssa = tk_server_session(sa, &o);
        ssb = tk_server_session(sb, &o);
        lfd = tk_tcp_listen(&port);

        /* the first connection is served by a: a full handshake and a ticket under a's keys */
        ck_assert_int_eq(tlsc_connection_create(ca, cs, AF_INET, &conn[0]), 0);
        ck_assert_int_eq(tlsc_connection_connect(ca, conn[0], "localhost", port, NULL), 0);
        sfd = accept_into(lfd, sa, ssa, msg, sizeof(msg));
        ck_assert_msg(sfd >= 0, "%s: tlsd a as server: %s", name, msg);
        done = tk_wait_event(ca_only, &ce, TLSC_EVENT_HANDSHAKE_DONE, conn[0], "HandshakeDone");
        ck_assert_int_eq(done->info.resumed, 0);
        tk_write_all(done->fd, "one\n", 4);
        tk_read_exact(sfd, buf, 4, 10000);
        tk_write_all(sfd, "one\n", 4);
        tk_read_exact(done->fd, buf, 4, 10000);
        (void) wait_ticket(ca_only, conn[0]);
        close(sfd);
        ck_assert_int_eq(tlsc_connection_destroy(ca, conn[0]), 0);
        ck_assert_int_eq(tlsc_get_ticket_stats(ca, &st0), 0);

        /* the second, same host and port, is served by b, which cannot read a's ticket */
        ck_assert_int_eq(tlsc_connection_create(ca, cs, AF_INET, &conn[1]), 0);
        ck_assert_int_eq(tlsc_connection_connect(ca, conn[1], "localhost", port, NULL), 0);
        for (attempts = 1;; attempts++) {
                /* a TLS 1.2 client tlsd starts over on a new TCP connection (see
                 * connection.c ticket_retry): the first adopted one then fails */
                sfd = accept_into(lfd, sb, ssb, msg, sizeof(msg));
                if (sfd >= 0)
                        break;
                fprintf(stderr, "%s: server b, attempt %d: %s\n", name, attempts, msg);
                ck_assert_msg(attempts < 2, "%s: server b failed twice: %s", name, msg);
        }
        done = tk_wait_event(ca_only, &ce, TLSC_EVENT_HANDSHAKE_DONE, conn[1], "HandshakeDone (2)");
        ck_assert_ptr_null(tk_find(&ce, TLSC_EVENT_HANDSHAKE_FAILED, conn[1]));
        ck_assert_msg(done->info.resumed == 0, "%s: resumed with a ticket the server cannot read",
                      name);
        tk_write_all(done->fd, "two\n", 4);
        tk_read_exact(sfd, buf, 4, 10000);
        ck_assert_mem_eq(buf, "two\n", 4);
        tk_write_all(sfd, "owt\n", 4);
        tk_read_exact(done->fd, buf, 4, 10000);
        ck_assert_mem_eq(buf, "owt\n", 4);
        close(sfd);
        ck_assert_int_eq(tlsc_get_ticket_stats(ca, &st1), 0);
        fprintf(stderr, "%s: refused ticket: hits %llu -> %llu, rejected %llu -> %llu\n", name,
                (unsigned long long) st0.hits, (unsigned long long) st1.hits,
                (unsigned long long) st0.rejected, (unsigned long long) st1.rejected);
        ck_assert_msg(st1.hits == st0.hits + 1, "%s: the ticket was not offered", name);
        ck_assert_msg(st1.rejected == st0.rejected + 1,
                      "%s: the refused ticket is not counted (rejected %llu -> %llu)", name,
                      (unsigned long long) st0.rejected, (unsigned long long) st1.rejected);

        close(lfd);
        tk_events_done(&ce);
        tlsc_close(ca);
        tlsc_close(sa);
        tlsc_close(sb);
        ck_assert_int_eq(daemon_stop(&a, NULL), 0);
        ck_assert_int_eq(daemon_stop(&b, NULL), 0);
        daemon_cleanup(&a);
        daemon_cleanup(&b);
}

START_TEST(test_refused_ticket_tls13) {
        check_refused_ticket(0x0304);
}
END_TEST

START_TEST(test_refused_ticket_tls12) {
        check_refused_ticket(0x0303);
}
END_TEST

int main(void) {
        Suite *s = suite_create("tickets");
        TCase *tc = tcase_create("tickets");
        SRunner *sr;
        int failed;

        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 600 : 120);
        tcase_add_test(tc, test_dtls13_tickets);
        tcase_add_test(tc, test_dtls12_tickets);
        tcase_add_test(tc, test_refused_ticket_tls13);
        tcase_add_test(tc, test_refused_ticket_tls12);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
