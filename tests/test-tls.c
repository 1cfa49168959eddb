/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TLS client channels end to end against a real peer (tests/peers/tls-peer.py, i.e. OpenSSL):
 * 64 MiB each way checked byte for byte, truncation, app-decides verification, apps killed
 * mid-stream with the daemon's fd count and RSS measured, isolation between uids, a failed
 * Configure leaving the session as it was, and a handshake keeping the policy it began with
 * when a Configure lands while it is in flight (tests/peers/hold-relay.py holds a flight or the
 * TCP connect): its tickets filed (client) and bound (server) under that policy, its
 * verification mode, an explicit ticket checked at Connect; and no ticket kept from a
 * certificate the app rejected.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <endian.h>
#include <grp.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "harness.h"
#include "testkit.h"
#include "tlsd/client.h"

#define BLOCK (1u << 20)

/* The deterministic stream both sides agree on (see tls-peer.py). */
static uint8_t *make_block(const char *seed) {
        uint8_t *b = malloc(BLOCK);
        size_t slen = strlen(seed);

        for (uint32_t i = 0; i < BLOCK / 32; i++) {
                uint8_t in[64];
                uint32_t be = htobe32(i);

                memcpy(in, seed, slen);
                memcpy(in + slen, &be, 4);
                ck_assert_int_eq(wc_Sha256Hash(in, (word32) (slen + 4), b + (size_t) i * 32), 0);
        }
        return b;
}

typedef struct Peer {
        pid_t pid;
        unsigned port;
        int out; /* its stdout (JSON lines) */
} Peer;

static void peer_start(Peer *p, const Daemon *d, const char *mode, const char *cert,
                       const char *key, size_t bytes, unsigned count) {
        char port_file[300], bytes_s[32], count_s[16];
        int pipefd[2];
        long deadline;

        snprintf(port_file, sizeof(port_file), "%s/peer-port", d->dir);
        unlink(port_file);
        snprintf(bytes_s, sizeof(bytes_s), "%zu", bytes);
        snprintf(count_s, sizeof(count_s), "%u", count);
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        p->pid = fork();
        ck_assert_int_ge(p->pid, 0);
        if (p->pid == 0) {
                char script[512];

                snprintf(script, sizeof(script), "%s/tests/peers/tls-peer.py",
                         getenv("top_srcdir") ? getenv("top_srcdir") : "..");
                dup2(pipefd[1], STDOUT_FILENO);
                execlp("python3", "python3", script, "--mode", mode, "--cert", cert, "--key", key,
                       "--port-file", port_file, "--bytes", bytes_s, "--count", count_s,
                       (char *) NULL);
                perror("python3");
                _exit(127);
        }
        close(pipefd[1]);
        p->out = pipefd[0];
        deadline = now_ms() + 10000;
        for (;;) {
                FILE *f = fopen(port_file, "re");

                if (f) {
                        ck_assert_int_eq(fscanf(f, "%u", &p->port), 1);
                        fclose(f);
                        return;
                }
                ck_assert_msg(now_ms() < deadline, "TLS peer did not start");
                usleep(20000);
        }
}

/* Reads the peer's next JSON line. */
static void peer_result(Peer *p, char *buf, size_t size) {
        size_t n = 0;

        while (n < size - 1) {
                struct pollfd pfd = { .fd = p->out, .events = POLLIN };
                ssize_t k;

                ck_assert_int_eq(poll(&pfd, 1, 60000), 1);
                k = read(p->out, buf + n, 1);
                ck_assert_int_eq(k, 1);
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
}

static void peer_stop(Peer *p) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
        close(p->out);
}

/* A client session trusting the test CA, with this verification mode. */
static uint64_t make_session(tlsc_client *c, int verify_mode) {
        tlsc_session_options o = { .verify_mode = verify_mode };

        return tk_client_session(c, &o);
}

typedef struct Events {
        int disconnect_reason;
        unsigned n_disconnected;
        unsigned n_certificate;
        int verify_result;
        bool accept;
        bool chain_is_pem;
} Events;

static void on_event(tlsc_client *c, tlsc_event *ev, void *userdata) {
        Events *e = userdata;

        switch (ev->type) {
        case TLSC_EVENT_DISCONNECTED:
                e->n_disconnected++;
                e->disconnect_reason = ev->reason;
                break;
        case TLSC_EVENT_CERTIFICATE:
                e->n_certificate++;
                e->verify_result = ev->verify_result;
                e->chain_is_pem =
                        ev->chain && ev->chain_size > 0 &&
                        memmem(ev->chain, ev->chain_size, "-----BEGIN CERTIFICATE-----", 27);
                ck_assert_int_eq(tlsc_certificate_response(c, ev->connection, e->accept), 0);
                break;
        default:
                break;
        }
}

static void wait_disconnected(tlsc_client *c, Events *e) {
        long deadline = now_ms() + 10000;

        while (e->n_disconnected == 0 && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(c), .events = POLLIN };

                (void) poll(&pfd, 1, 200);
                ck_assert_int_ge(tlsc_dispatch(c), 0);
        }
        ck_assert_uint_eq(e->n_disconnected, 1);
}

START_TEST(test_stream_64mib_each_way) {
        /* 64 MiB; less under valgrind (TLSD_TEST_STREAM_MIB), which is ~50x slower. */
        const size_t total =
                (getenv("TLSD_TEST_STREAM_MIB") ? strtoul(getenv("TLSD_TEST_STREAM_MIB"), NULL, 10)
                                                : 64u) *
                BLOCK;
        uint8_t *out = make_block("client"), *in = make_block("server");
        uint8_t *buf = malloc(256 * 1024);
        size_t sent = 0, received = 0;
        tlsc_connection_info info;
        Events ev = {};
        Daemon d;
        Peer p;
        tlsc_client *c;
        uint64_t s, conn;
        char result[512];
        bool eof = false;
        int fd;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "stream", tk_pki("server-ecdsa-chain.pem"), tk_pki("server-ecdsa.key"),
                   total, 1);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_event, &ev);
        s = make_session(c, TLSC_VERIFY_STRICT);
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s: %s", tlsd_strerror(fd), info.message);
        ck_assert_str_eq(info.version, "TLSv1.3");
        ck_assert_int_eq(info.verify_result, TLSC_VERIFY_OK);
        ck_assert_int_ge(fcntl(fd, F_SETFL, O_NONBLOCK), 0);

        while (!eof || sent < total) {
                struct pollfd pfd = { .fd = fd,
                                      .events = (short) ((eof ? 0 : POLLIN) |
                                                         (sent < total ? POLLOUT : 0)) };

                ck_assert_msg(poll(&pfd, 1, 30000) > 0, "stalled at sent %zu received %zu", sent,
                              received);
                if (pfd.revents & (POLLIN | POLLHUP)) {
                        ssize_t n = read(fd, buf, 256 * 1024);

                        if (n == 0)
                                eof = true;
                        else if (n > 0) {
                                for (ssize_t k = 0; k < n;) {
                                        size_t off = (received + (size_t) k) % BLOCK;
                                        size_t m = BLOCK - off < (size_t) (n - k)
                                                           ? BLOCK - off
                                                           : (size_t) (n - k);

                                        ck_assert_msg(memcmp(buf + k, in + off, m) == 0,
                                                      "corrupt data near offset %zu",
                                                      received + (size_t) k);
                                        k += (ssize_t) m;
                                }
                                received += (size_t) n;
                        } else
                                ck_assert_int_eq(errno, EAGAIN);
                }
                if (sent < total && (pfd.revents & POLLOUT)) {
                        size_t off = sent % BLOCK;
                        size_t m = BLOCK - off < total - sent ? BLOCK - off : total - sent;
                        ssize_t n = write(fd, out + off, m > 65536 ? 65536 : m);

                        if (n > 0)
                                sent += (size_t) n;
                        if (sent == total)
                                ck_assert_int_eq(shutdown(fd, SHUT_WR), 0); /* close_notify */
                }
        }
        ck_assert_uint_eq(received, total);
        peer_result(&p, result, sizeof(result));
        ck_assert_msg(strstr(result, "\"ok\": true"), "peer says: %s", result);
        {
                char want[64];

                snprintf(want, sizeof(want), "\"received\": %zu", total);
                ck_assert_ptr_nonnull(strstr(result, want));
        }

        wait_disconnected(c, &ev);
        ck_assert_int_eq(ev.disconnect_reason, TLSC_DISCONNECT_CLOSE_NOTIFY);
        ck_assert_int_eq(tlsc_connection_info_get(c, conn, &info), 0);
        ck_assert_uint_eq(info.bytes_in, total);
        ck_assert_uint_eq(info.bytes_out, total);
        ck_assert_int_eq(info.state, TLSC_STATE_CLOSED);

        close(fd);
        tlsc_close(c);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
        free(out);
        free(in);
        free(buf);
}
END_TEST

START_TEST(test_truncation_reported) {
        Events ev = {};
        tlsc_connection_info info;
        Daemon d;
        Peer p;
        tlsc_client *c;
        uint64_t s, conn;
        char buf[4096];
        size_t got = 0;
        int fd;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "abort", tk_pki("server-ecdsa-chain.pem"), tk_pki("server-ecdsa.key"),
                   1000, 1);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_event, &ev);
        s = make_session(c, TLSC_VERIFY_STRICT);
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                ck_assert_int_ge(n, 0);
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        ck_assert_uint_eq(got, 1000);
        wait_disconnected(c, &ev);
        ck_assert_msg(ev.disconnect_reason == TLSC_DISCONNECT_TRUNCATED, "reason %s",
                      tlsc_disconnect_reason_name(ev.disconnect_reason));
        close(fd);
        tlsc_close(c);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* A failed connect's details: the error, the verification result, the alert tlsd sent (-1:
 * none) and the message naming the reason. */
static void expect_failure(const tlsc_connection_info *info, int error, int verify_result,
                           int alert, const char *reason) {
        ck_assert_msg(info->error == error, "error %s, want %s (%s)", tlsd_strerror(info->error),
                      tlsd_strerror(error), info->message);
        ck_assert_msg(info->verify_result == verify_result, "verification %s, want %s (%s)",
                      tlsc_verify_result_name(info->verify_result),
                      tlsc_verify_result_name(verify_result), info->message);
        ck_assert_msg(info->alert == alert, "alert %d, want %d (%s)", info->alert, alert,
                      info->message);
        ck_assert_msg(strstr(info->message, reason), "message '%s' does not say '%s'",
                      info->message, reason);
}

START_TEST(test_app_decides) {
        tlsc_connection_info info;
        Events ev = {};
        Daemon d;
        Peer p;
        tlsc_client *c;
        uint64_t s, conn;
        int fd;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "hold", tk_pki("server-selfsigned.pem"), tk_pki("server-selfsigned.key"),
                   0, 3);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_event, &ev);
        s = make_session(c, TLSC_VERIFY_APP_DECIDES);

        /* rejected by the app: the failure says why (no alert is reported for it) */
        ev.accept = false;
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_int_eq(fd, -TLSD_ERR_VERIFY);
        ck_assert_uint_eq(ev.n_certificate, 1);
        ck_assert_int_eq(ev.verify_result, TLSC_VERIFY_SELF_SIGNED);
        ck_assert(ev.chain_is_pem);
        ck_assert_ptr_nonnull(strstr(info.message, "rejected by the application"));
        expect_failure(&info, -TLSD_ERR_VERIFY, TLSC_VERIFY_SELF_SIGNED, -1,
                       "rejected by the application");

        /* accepted by the app */
        ev.accept = true;
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        ck_assert_uint_eq(ev.n_certificate, 2);
        ck_assert_int_eq(write(fd, "x", 1), 1);
        close(fd);

        /* strict verification refuses it by itself, with the reason and the alert tlsd sent:
         * 48 unknown_ca */
        s = make_session(c, TLSC_VERIFY_STRICT);
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_int_eq(fd, -TLSD_ERR_VERIFY);
        ck_assert_uint_eq(ev.n_certificate, 2); /* no question asked */
        expect_failure(&info, -TLSD_ERR_VERIFY, TLSC_VERIFY_SELF_SIGNED, 48,
                       "self-signed: /CN=localhost is its own issuer and not a trusted CA");
        tlsc_close(c);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* A child app: connects through tlsd, sends data, tells the parent, then waits to be killed. */
static void app_child(const Daemon *d, unsigned port, int ready_fd) {
        tlsc_connection_info info;
        tlsc_client *c = NULL;
        uint64_t s, conn;
        char buf[8192];
        int fd;

        if (tlsc_open(d->socket_path, &c) < 0)
                _exit(10);
        s = make_session(c, TLSC_VERIFY_STRICT);
        if (tlsc_connection_create(c, s, 0, &conn) < 0)
                _exit(11);
        fd = tlsc_connect(c, conn, "localhost", port, NULL, &info);
        if (fd < 0)
                _exit(12);
        memset(buf, 'k', sizeof(buf));
        for (int i = 0; i < 8; i++)
                if (write(fd, buf, sizeof(buf)) != sizeof(buf))
                        _exit(13);
        (void) !write(ready_fd, "r", 1);
        for (;;)
                pause();
}

/* Starts an app child (app_child) and returns its pid once it is connected and sent its data. */
static pid_t app_start(const Daemon *d, unsigned port) {
        int ready[2];
        pid_t pid;
        char ch;
        int status;

        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(ready[0]);
                app_child(d, port, ready[1]);
        }
        close(ready[1]);
        {
                struct pollfd pfd = { .fd = ready[0], .events = POLLIN };

                ck_assert_int_eq(poll(&pfd, 1, 60000), 1);
        }
        if (read(ready[0], &ch, 1) != 1) {
                waitpid(pid, &status, 0);
                ck_abort_msg("app child failed (exit %d)", WEXITSTATUS(status));
        }
        close(ready[0]);
        return pid;
}

static void app_kill(pid_t pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

static void kill_cycle(const Daemon *d, unsigned port) {
        app_kill(app_start(d, port));
}

/* The daemon's descriptor count once it is back to want (it notices each death on its own
 * loop), or what it is after a generous wait. */
static int fds_back_to(pid_t pid, int want) {
        long deadline = now_ms() + (getenv("TLSD_TEST_WRAPPER") ? 60000 : 10000);
        int n;

        while ((n = tk_count_fds(pid)) != want && now_ms() < deadline)
                usleep(20000);
        return n;
}

/* The descriptor count once it stayed the same for 100 ms (up to 10 s). */
static int settled_fds(pid_t pid) {
        int a = tk_count_fds(pid), b;

        for (int i = 0; i < 100; i++) {
                usleep(100000);
                b = tk_count_fds(pid);
                if (a == b)
                        return b;
                a = b;
        }
        return a;
}

START_TEST(test_killed_apps_leak_nothing) {
        const unsigned warmup = 10, live = 10;
        const unsigned cycles =
                getenv("TLSD_TEST_KILL_CYCLES") ? atoi(getenv("TLSD_TEST_KILL_CYCLES")) : 100;
        int fds_before, fds_after;
        long rss_before, rss_live, rss_mid, rss_after, per_connection;
        pid_t pids[10];
        Daemon d;
        Peer p;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "hold", tk_pki("server-ecdsa-chain.pem"), tk_pki("server-ecdsa.key"), 0,
                   warmup + live + cycles);
        for (unsigned i = 0; i < warmup; i++)
                kill_cycle(&d, p.port);
        fds_before = settled_fds(d.pid);
        rss_before = tk_rss_kib(d.pid);

        /* What a connection costs: `live` of them at once. Growth over the kill cycles is judged
         * against it (a ratio, whatever the allocator or sanitizer adds to both). */
        for (unsigned i = 0; i < live; i++)
                pids[i] = app_start(&d, p.port);
        rss_live = tk_rss_kib(d.pid);
        for (unsigned i = 0; i < live; i++)
                app_kill(pids[i]);
        ck_assert_int_eq(fds_back_to(d.pid, fds_before), fds_before);
        per_connection = (rss_live - rss_before) / (long) live;
        rss_mid = tk_rss_kib(d.pid);

        for (unsigned i = 0; i < cycles; i++)
                kill_cycle(&d, p.port);
        fds_after = fds_back_to(d.pid, fds_before);
        rss_after = tk_rss_kib(d.pid);
        fprintf(stderr,
                "kill cycles: fds %d -> %d, RSS %ld -> %ld KiB over %u cycles, a live "
                "connection %ld KiB\n",
                fds_before, fds_after, rss_mid, rss_after, cycles, per_connection);
        ck_assert_int_eq(fds_after, fds_before);
        /* Flat: less than a quarter of what keeping every killed app's connection would take.
         * (Under valgrind RSS is valgrind's; its leak check at daemon exit is the stricter
         * test.) */
        if (!getenv("TLSD_TEST_WRAPPER")) {
                ck_assert_msg(per_connection > 0,
                              "%u live connections cost no memory (%ld -> "
                              "%ld KiB): nothing to compare with",
                              live, rss_before, rss_live);
                ck_assert_msg((rss_after - rss_mid) * 4 < per_connection * (long) cycles,
                              "RSS grew by %ld KiB over %u cycles, a live connection is %ld KiB",
                              rss_after - rss_mid, cycles, per_connection);
        }
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* Runs fn as uid in a child; returns its exit status. */
static void as_uid(uid_t uid, void (*fn)(const Daemon *, int, int), const Daemon *d, int in,
                   int out, pid_t *ret) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        _exit(99);
                fn(d, in, out);
                _exit(0);
        }
        *ret = pid;
}

static void owner_a(const Daemon *d, int in, int out) {
        tlsc_connection_info info;
        tlsc_client *c = NULL;
        uint64_t ids[2];
        char ch;

        if (tlsc_open(d->socket_path, &c) < 0)
                _exit(20);
        if (tlsc_session_create(c, TLSC_ROLE_CLIENT, NULL, &ids[0]) < 0 ||
            tlsc_connection_create(c, ids[0], 0, &ids[1]) < 0)
                _exit(21);
        if (write(out, ids, sizeof(ids)) != sizeof(ids))
                _exit(22);
        if (read(in, &ch, 1) != 1) /* B is done */
                _exit(23);
        /* B's attempts changed nothing for A. */
        if (tlsc_connection_info_get(c, ids[1], &info) < 0 || info.state != TLSC_STATE_CLOSED)
                _exit(24);
        if (tlsc_session_destroy(c, ids[0]) < 0)
                _exit(25);
        tlsc_close(c);
}

static void intruder_b(const Daemon *d, int in, int out) {
        tlsc_session_options o = { .alpn = "h2" };
        tlsc_connection_info info;
        tlsc_client *c = NULL;
        uint64_t ids[2], mine, conn;

        if (read(in, ids, sizeof(ids)) != sizeof(ids))
                _exit(30);
        if (tlsc_open(d->socket_path, &c) < 0)
                _exit(31);
        if (tlsc_session_configure(c, ids[0], &o) != -TLSD_ERR_NOT_FOUND)
                _exit(32);
        if (tlsc_connection_create(c, ids[0], 0, &conn) != -TLSD_ERR_NOT_FOUND)
                _exit(33);
        if (tlsc_connection_info_get(c, ids[1], &info) != -TLSD_ERR_NOT_FOUND)
                _exit(34);
        if (tlsc_connection_connect(c, ids[1], "127.0.0.1", 9, NULL) != -TLSD_ERR_NOT_FOUND)
                _exit(35);
        if (tlsc_connection_destroy(c, ids[1]) != -TLSD_ERR_NOT_FOUND)
                _exit(36);
        if (tlsc_session_destroy(c, ids[0]) != -TLSD_ERR_NOT_FOUND)
                _exit(37);
        /* ... while B's own objects work. */
        if (tlsc_session_create(c, TLSC_ROLE_CLIENT, NULL, &mine) < 0 ||
            tlsc_connection_create(c, mine, 0, &conn) < 0)
                _exit(38);
        tlsc_close(c);
        (void) !write(out, "d", 1);
}

START_TEST(test_other_uid_is_refused) {
        int a_to_b[2], b_to_a[2], status;
        pid_t a, b;
        Daemon d;

        tk_daemon_start(&d, "[Daemon]\nSocketGroup=nogroup\n");
        ck_assert_int_eq(pipe(a_to_b), 0);
        ck_assert_int_eq(pipe(b_to_a), 0);
        as_uid(4242, owner_a, &d, b_to_a[0], a_to_b[1], &a);
        as_uid(4243, intruder_b, &d, a_to_b[0], b_to_a[1], &b);
        ck_assert_int_eq(waitpid(b, &status, 0), b);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "uid B: exit %d",
                      WEXITSTATUS(status));
        ck_assert_int_eq(waitpid(a, &status, 0), a);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "uid A: exit %d",
                      WEXITSTATUS(status));
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- server role ---- */

typedef struct Accepts {
        unsigned n;
        int fd;
        uint64_t connection;
        char sni[256];
        char subject[1024];
        bool resumed;
} Accepts;

static void on_accept_event(tlsc_client *c, tlsc_event *ev, void *userdata) {
        Accepts *a = userdata;

        if (ev->type != TLSC_EVENT_ACCEPTED)
                return;
        a->n++;
        a->fd = ev->fd;
        ev->fd = -1; /* keep it */
        a->connection = ev->connection;
        snprintf(a->sni, sizeof(a->sni), "%s", ev->sni ? ev->sni : "");
        snprintf(a->subject, sizeof(a->subject), "%s", ev->info->peer_subject);
        a->resumed = ev->info->resumed;
}

/* Streams `total` bytes each way between two plaintext fds (both ends of one TLS connection
 * through tlsd), checking every byte, with both control clients dispatched meanwhile. */
static void stream_between(int a, int b, size_t total, tlsc_client *ca, tlsc_client *cb) {
        uint8_t *block_a = make_block("client"), *block_b = make_block("server");
        uint8_t *buf = malloc(256 * 1024);
        size_t sent[2] = { 0, 0 }, recvd[2] = { 0, 0 };
        int fds[2] = { a, b };
        uint8_t *out[2] = { block_a, block_b };
        bool eof[2] = { false, false };

        fcntl(a, F_SETFL, O_NONBLOCK);
        fcntl(b, F_SETFL, O_NONBLOCK);
        while (!eof[0] || !eof[1]) {
                struct pollfd p[4];

                for (int i = 0; i < 2; i++)
                        p[i] = (struct pollfd){
                                .fd = fds[i],
                                .events = (short) ((eof[i] ? 0 : POLLIN) |
                                                   (sent[i] < total ? POLLOUT : 0)),
                        };
                p[2] = (struct pollfd){ .fd = tlsc_get_fd(ca), .events = POLLIN };
                p[3] = (struct pollfd){ .fd = tlsc_get_fd(cb), .events = POLLIN };
                ck_assert_msg(poll(p, 4, 30000) > 0, "stalled: sent %zu/%zu received %zu/%zu",
                              sent[0], sent[1], recvd[0], recvd[1]);
                (void) tlsc_dispatch(ca);
                (void) tlsc_dispatch(cb);
                for (int i = 0; i < 2; i++) {
                        const uint8_t *expect = out[1 - i];

                        if (!eof[i] && (p[i].revents & (POLLIN | POLLHUP))) {
                                ssize_t n = read(fds[i], buf, 256 * 1024);

                                if (n == 0)
                                        eof[i] = true;
                                for (ssize_t k = 0; k < n;) {
                                        size_t off = (recvd[i] + (size_t) k) % BLOCK;
                                        size_t m = BLOCK - off < (size_t) (n - k)
                                                           ? BLOCK - off
                                                           : (size_t) (n - k);

                                        ck_assert_msg(memcmp(buf + k, expect + off, m) == 0,
                                                      "side %d: corrupt near %zu", i,
                                                      recvd[i] + (size_t) k);
                                        k += (ssize_t) m;
                                }
                                if (n > 0)
                                        recvd[i] += (size_t) n;
                        }
                        if (sent[i] < total && (p[i].revents & POLLOUT)) {
                                size_t off = sent[i] % BLOCK;
                                size_t m = BLOCK - off < total - sent[i] ? BLOCK - off
                                                                         : total - sent[i];
                                ssize_t n = write(fds[i], out[i] + off, m > 65536 ? 65536 : m);

                                if (n > 0)
                                        sent[i] += (size_t) n;
                                if (sent[i] == total)
                                        ck_assert_int_eq(shutdown(fds[i], SHUT_WR), 0);
                        }
                }
        }
        ck_assert_uint_eq(recvd[0], total);
        ck_assert_uint_eq(recvd[1], total);
        free(block_a);
        free(block_b);
        free(buf);
}

START_TEST(test_tlsd_to_tlsd_64mib) {
        const size_t total =
                (getenv("TLSD_TEST_STREAM_MIB") ? strtoul(getenv("TLSD_TEST_STREAM_MIB"), NULL, 10)
                                                : 64u) *
                BLOCK;
        tlsc_connection_info info;
        Accepts acc = { .fd = -1 };
        tlsc_client *server, *client;
        uint64_t ss, cs, listener, conn;
        unsigned port = 0;
        long deadline;
        Daemon d;
        int fd;

        tk_daemon_start(&d, NULL);
        server = tk_open(&d);
        client = tk_open(&d);
        tlsc_set_event_handler(server, on_accept_event, &acc);
        ss = tk_server_session(server, NULL);
        ck_assert_int_eq(tlsc_listen(server, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        ck_assert_uint_ne(port, 0);

        cs = make_session(client, TLSC_VERIFY_STRICT);
        ck_assert_int_eq(tlsc_connection_create(client, cs, 0, &conn), 0);
        fd = tlsc_connect(client, conn, "localhost", port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        ck_assert_str_eq(info.version, "TLSv1.3");
        deadline = now_ms() + 10000;
        while (acc.n == 0 && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(server), .events = POLLIN };

                (void) poll(&pfd, 1, 200);
                ck_assert_int_ge(tlsc_dispatch(server), 0);
        }
        ck_assert_uint_eq(acc.n, 1);
        ck_assert_str_eq(acc.sni, "localhost");

        stream_between(fd, acc.fd, total, server, client);
        close(fd);
        close(acc.fd);
        ck_assert_int_eq(tlsc_listener_close(server, listener), 0);
        ck_assert_int_eq(tlsc_listener_close(server, listener), -TLSD_ERR_NOT_FOUND);
        tlsc_close(client);
        tlsc_close(server);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* Both control clients set up, a tlsd-to-tlsd connection made and accepted; returns the client
 * app's fd (the client's connection id in *ret_conn, if not NULL). */
static int tlsd_pair(Daemon *d, tlsc_client **server, tlsc_client **client, Accepts *acc,
                     Events *ev, uint64_t *ret_conn) {
        tlsc_connection_info info;
        uint64_t ss, cs, listener, conn;
        unsigned port = 0;
        long deadline;
        int fd;

        tk_daemon_start(d, NULL);
        *server = tk_open(d);
        *client = tk_open(d);
        tlsc_set_event_handler(*server, on_accept_event, acc);
        tlsc_set_event_handler(*client, on_event, ev);
        ss = tk_server_session(*server, NULL);
        ck_assert_int_eq(tlsc_listen(*server, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        cs = make_session(*client, TLSC_VERIFY_STRICT);
        ck_assert_int_eq(tlsc_connection_create(*client, cs, 0, &conn), 0);
        fd = tlsc_connect(*client, conn, "localhost", port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        deadline = now_ms() + 10000;
        while (acc->n == 0 && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(*server), .events = POLLIN };

                (void) poll(&pfd, 1, 200);
                ck_assert_int_ge(tlsc_dispatch(*server), 0);
        }
        ck_assert_uint_eq(acc->n, 1);
        if (ret_conn)
                *ret_conn = conn;
        return fd;
}

/* An app that ends its stream while tlsd waits for the network: everything it wrote still goes
 * out before close_notify. The client app shuts its side at once and reads nothing yet, so the
 * server app reads EOF (tlsd has shut its side of the socket pair) and then writes until all
 * buffers up to the client app are full: tlsd holds a record the network did not take and does
 * not poll the app's end for input. The server app's shutdown(SHUT_WR) now raises EPOLLHUP on
 * tlsd's end with nothing else; tlsd took that for an app that had gone and sent close_notify
 * with the app's last megabytes still unread in the socket pair (test_tlsd_to_tlsd_64mib lost
 * 384 KiB that way in about 1 run of 10). */
START_TEST(test_app_ends_while_network_full) {
        uint8_t *block = make_block("server"), *buf = malloc(256 * 1024);
        tlsc_client *server, *client;
        Accepts acc = { .fd = -1 };
        Events ev = {};
        size_t written = 0, received = 0;
        long deadline;
        Daemon d;
        int fd;

        fd = tlsd_pair(&d, &server, &client, &acc, &ev, NULL);
        ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
        ck_assert_int_eq(tk_read_to_end(acc.fd, 10000), 0);

        (void) fcntl(acc.fd, F_SETFL, fcntl(acc.fd, F_GETFL) | O_NONBLOCK);
        for (;;) {
                size_t off = written % BLOCK;
                ssize_t n = write(acc.fd, block + off, BLOCK - off);
                struct pollfd p = { .fd = acc.fd, .events = POLLOUT };

                if (n > 0) {
                        written += (size_t) n;
                        continue;
                }
                ck_assert_msg(errno == EAGAIN, "write: %s", strerror(errno));
                ck_assert_msg(written < 512u * BLOCK, "the client side never filled up");
                if (poll(&p, 1, 1000) == 0)
                        break; /* nothing moved for a second: everything is full */
        }
        ck_assert_int_eq(shutdown(acc.fd, SHUT_WR), 0);

        deadline = now_ms() + 60000;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                ck_assert_msg(now_ms() < deadline, "stalled at %zu of %zu", received, written);
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                n = read(fd, buf, 256 * 1024);
                ck_assert_int_ge(n, 0);
                if (n == 0)
                        break;
                for (ssize_t k = 0; k < n;) {
                        size_t off = (received + (size_t) k) % BLOCK;
                        size_t m = BLOCK - off < (size_t) (n - k) ? BLOCK - off : (size_t) (n - k);

                        ck_assert_msg(memcmp(buf + k, block + off, m) == 0, "corrupt near %zu",
                                      received + (size_t) k);
                        k += (ssize_t) m;
                }
                received += (size_t) n;
        }
        ck_assert_msg(received == written,
                      "the server app wrote %zu bytes, the client app "
                      "received %zu before close_notify",
                      written, received);
        wait_disconnected(client, &ev);
        ck_assert_msg(ev.disconnect_reason == TLSC_DISCONNECT_CLOSE_NOTIFY, "reason %s",
                      tlsc_disconnect_reason_name(ev.disconnect_reason));
        close(fd);
        close(acc.fd);
        tlsc_close(client);
        tlsc_close(server);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
        free(block);
        free(buf);
}
END_TEST

/* The server app reads everything up to EOF, checking it is the client's stream. */
static size_t read_stream(int fd, const uint8_t *block) {
        uint8_t *buf = malloc(64 * 1024);
        long deadline = now_ms() + 30000;
        size_t received = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                ck_assert_msg(now_ms() < deadline, "stalled at %zu", received);
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                n = read(fd, buf, 64 * 1024);
                ck_assert_msg(n >= 0, "read: %s", strerror(errno));
                if (n == 0)
                        break;
                ck_assert_msg(memcmp(buf, block + received, (size_t) n) == 0, "corrupt near %zu",
                              received);
                received += (size_t) n;
        }
        free(buf);
        return received;
}

/* An app that closes its data fd without shutdown(SHUT_WR), its control client still open (it
 * crashed in a thread, or gave up): an abort. Its data still goes out, then no close_notify:
 * the peer (tlsd's server side here) reports a truncation, not close_notify. */
START_TEST(test_app_close_is_abort) {
        uint8_t *block = make_block("client");
        tlsc_client *server, *client;
        Accepts acc = { .fd = -1 };
        Events ev = {}, sev = {};
        Daemon d;
        int fd;

        fd = tlsd_pair(&d, &server, &client, &acc, &ev, NULL);
        tk_write_all(fd, block, 100 * 1024);
        close(fd);
        ck_assert_uint_eq(read_stream(acc.fd, block), 100 * 1024);
        (void) shutdown(acc.fd, SHUT_WR); /* its own end is clean */
        tlsc_set_event_handler(server, on_event, &sev);
        wait_disconnected(server, &sev);
        ck_assert_msg(sev.disconnect_reason == TLSC_DISCONNECT_TRUNCATED, "the peer's end: %s",
                      tlsc_disconnect_reason_name(sev.disconnect_reason));
        wait_disconnected(client, &ev);
        ck_assert_msg(ev.disconnect_reason == TLSC_DISCONNECT_LOCAL, "reason %s",
                      tlsc_disconnect_reason_name(ev.disconnect_reason));
        close(acc.fd);
        tlsc_close(client);
        tlsc_close(server);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
        free(block);
}
END_TEST

/* tlsc_connection_shutdown(), then close() at once: a clean end however soon the close follows
 * (a shutdown(SHUT_WR) followed by close() may be seen as the close alone). Everything written
 * before arrives, then close_notify; a write after it fails. */
START_TEST(test_shutdown_request_then_close) {
        uint8_t *block = make_block("client");
        tlsc_client *server, *client;
        Accepts acc = { .fd = -1 };
        Events ev = {}, sev = {};
        uint64_t conn;
        Daemon d;
        int fd;

        fd = tlsd_pair(&d, &server, &client, &acc, &ev, &conn);
        tk_write_all(fd, block, 100 * 1024);
        ck_assert_int_eq(tlsc_connection_shutdown(client, conn), 0);
        ck_assert_int_eq(send(fd, "x", 1, MSG_NOSIGNAL), -1);
        ck_assert_int_eq(errno, EPIPE);
        close(fd);
        ck_assert_uint_eq(read_stream(acc.fd, block), 100 * 1024);
        ck_assert_int_eq(shutdown(acc.fd, SHUT_WR), 0);
        tlsc_set_event_handler(server, on_event, &sev);
        wait_disconnected(server, &sev);
        ck_assert_msg(sev.disconnect_reason == TLSC_DISCONNECT_CLOSE_NOTIFY, "the peer's end: %s",
                      tlsc_disconnect_reason_name(sev.disconnect_reason));
        /* once closed, a second one is refused with the reason */
        ck_assert_int_eq(tlsc_connection_shutdown(client, conn), -TLSD_ERR_STATE);
        close(acc.fd);
        tlsc_close(client);
        tlsc_close(server);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
        free(block);
}
END_TEST

/* After the peer's end tlsd has shut its side of the pair, and an app's close looks like its
 * shutdown, except when it closes with the peer's data unread: that is no finished exchange, so
 * no close_notify either (the client side reports a truncation). */
START_TEST(test_close_with_data_unread_is_abort) {
        uint8_t *block = make_block("client");
        tlsc_client *server, *client;
        Accepts acc = { .fd = -1 };
        Events ev = {};
        struct pollfd p;
        long deadline;
        Daemon d;
        int fd;

        fd = tlsd_pair(&d, &server, &client, &acc, &ev, NULL);
        tk_write_all(fd, block, 100 * 1024);
        ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
        /* the server app: the client's end has reached its end of the pair (tlsd shut its side
         * after the data), and it closes without reading */
        p = (struct pollfd){ .fd = acc.fd, .events = POLLRDHUP };
        deadline = now_ms() + 10000;
        while (!(p.revents & POLLRDHUP) && now_ms() < deadline)
                (void) poll(&p, 1, 200);
        ck_assert_msg(p.revents & POLLRDHUP, "the client's end did not reach the server app");
        close(acc.fd);
        ck_assert_int_eq(tk_read_to_end(fd, 10000), 0);
        wait_disconnected(client, &ev);
        ck_assert_msg(ev.disconnect_reason == TLSC_DISCONNECT_TRUNCATED, "the client's end: %s",
                      tlsc_disconnect_reason_name(ev.disconnect_reason));
        close(fd);
        tlsc_close(client);
        tlsc_close(server);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
        free(block);
}
END_TEST

static int tcp_connect(unsigned port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* Reads one line byte by byte: never past it, the rest belongs to TLS. */
static void read_line(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n < size - 1) {
                ck_assert_int_eq(read(fd, buf + n, 1), 1);
                if (buf[n++] == '\n')
                        break;
        }
        buf[n] = 0;
}

START_TEST(test_starttls_client_adopt) {
        tlsc_connection_info info;
        char line[128];
        tlsc_client *c;
        uint64_t s;
        Daemon d;
        Peer p;
        int sock, fd;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "starttls", tk_pki("server-ecdsa-chain.pem"), tk_pki("server-ecdsa.key"),
                   0, 1);
        c = tk_open(&d);
        s = make_session(c, TLSC_VERIFY_STRICT);

        /* the app's own plaintext prologue */
        sock = tcp_connect(p.port);
        ck_assert_int_eq(write(sock, "STARTTLS\n", 9), 9);
        read_line(sock, line, sizeof(line));
        ck_assert_str_eq(line, "OK\n");

        /* ... then TLS on the same socket, through tlsd */
        fd = tlsc_adopt(c, s, sock, "localhost", NULL, &info);
        close(sock);
        ck_assert_msg(fd >= 0, "adopt: %s: %s", tlsd_strerror(fd), info.message);
        ck_assert_int_eq(info.verify_result, TLSC_VERIFY_OK);
        ck_assert_int_eq(write(fd, "over tls\n", 9), 9);
        read_line(fd, line, sizeof(line));
        ck_assert_str_eq(line, "over tls\n");
        close(fd);

        /* a descriptor that is not a connected TCP socket is refused clearly */
        {
                int pipefd[2];

                ck_assert_int_eq(pipe(pipefd), 0);
                ck_assert_int_eq(tlsc_adopt(c, s, pipefd[0], "localhost", NULL, &info),
                                 -TLSD_ERR_PARAM);
                ck_assert_ptr_nonnull(strstr(info.message, "not a connected TCP socket"));
                close(pipefd[0]);
                close(pipefd[1]);
        }
        tlsc_close(c);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* The server side of STARTTLS against `openssl s_client -starttls smtp`: the app speaks SMTP's
 * prologue itself, then hands the socket to tlsd for the server handshake. */
START_TEST(test_starttls_server_adopt) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        tlsc_connection_info info;
        char line[512], cmd[1024], port_s[16];
        int lfd, sock, fd, out[2];
        tlsc_client *c;
        uint64_t s;
        pid_t pid;
        Daemon d;

        tk_daemon_start(&d, NULL);
        c = tk_open(&d);
        s = tk_server_session(c, NULL);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(lfd, 1), 0);
        ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &sa, &len), 0);
        snprintf(port_s, sizeof(port_s), "%u", ntohs(sa.sin_port));

        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        snprintf(cmd, sizeof(cmd),
                 "(echo 'hello over smtp tls'; sleep 2) | openssl s_client -quiet -starttls smtp "
                 "-connect 127.0.0.1:%s -CAfile %s -verify_return_error -servername localhost",
                 port_s, tk_pki("ca.pem"));
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(out[1], STDOUT_FILENO);
                execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
                _exit(127);
        }
        close(out[1]);

        sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(sock, 0);
        ck_assert_int_eq(write(sock, "220 tlsd test\r\n", 15), 15);
        read_line(sock, line, sizeof(line)); /* EHLO */
        ck_assert_msg(strncmp(line, "EHLO", 4) == 0, "got %s", line);
        ck_assert_int_eq(write(sock, "250-tlsd\r\n250 STARTTLS\r\n", 24), 24);
        read_line(sock, line, sizeof(line));
        ck_assert_msg(strncmp(line, "STARTTLS", 8) == 0, "got %s", line);
        ck_assert_int_eq(write(sock, "220 go ahead\r\n", 14), 14);

        fd = tlsc_adopt(c, s, sock, NULL, NULL, &info);
        close(sock);
        ck_assert_msg(fd >= 0, "adopt: %s: %s", tlsd_strerror(fd), info.message);
        read_line(fd, line, sizeof(line));
        ck_assert_str_eq(line, "hello over smtp tls\n");
        ck_assert_int_eq(write(fd, "250 ok\r\n", 8), 8);
        read_line(out[0], line, sizeof(line));
        ck_assert_str_eq(line, "250 ok\r\n");
        close(fd);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        close(out[0]);
        close(lfd);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* A Configure that fails changes nothing: every option is checked before any is applied. On
 * f93746e the suites were applied and then the groups refused, so the session went on with
 * suites its app was told were refused. */
START_TEST(test_configure_is_atomic) {
        tlsc_session_options o = {};
        tlsc_connection_info info;
        Accepts acc = { .fd = -1 };
        tlsc_client *server, *client;
        uint64_t ss, cs, listener, conn;
        unsigned port = 0;
        Daemon d;
        int fd, r;

        tk_daemon_start(&d, NULL);
        server = tk_open(&d);
        client = tk_open(&d);
        tlsc_set_event_handler(server, on_accept_event, &acc);
        ss = tk_server_session(server, NULL);
        o.alpn = "h2,http/1.1";
        ck_assert_int_eq(tlsc_session_configure(server, ss, &o), 0);
        ck_assert_int_eq(tlsc_listen(server, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);

        cs = make_session(client, TLSC_VERIFY_STRICT);
        o = (tlsc_session_options){ .ciphers = "TLS_AES_128_GCM_SHA256", .alpn = "http/1.1" };
        ck_assert_int_eq(tlsc_session_configure(client, cs, &o), 0);
        /* valid suites and ALPN, an unknown group: refused as a whole */
        o = (tlsc_session_options){ .ciphers = "TLS_CHACHA20_POLY1305_SHA256",
                                    .alpn = "h2",
                                    .groups = "no-such-group" };
        r = tlsc_session_configure(client, cs, &o);
        ck_assert_msg(r == -TLSD_ERR_PARAM, "Configure: %s: %s", tlsd_strerror(r),
                      tlsc_last_error_message(client));
        ck_assert_msg(strstr(tlsc_last_error_message(client), "no-such-group"), "message: %s",
                      tlsc_last_error_message(client));
        /* valid ALPN, pinned verification without a pin */
        o = (tlsc_session_options){ .alpn = "h2", .verify_mode = TLSC_VERIFY_PINNED };
        ck_assert_int_eq(tlsc_session_configure(client, cs, &o), -TLSD_ERR_PARAM);

        ck_assert_int_eq(tlsc_connection_create(client, cs, 0, &conn), 0);
        fd = tlsc_connect(client, conn, "localhost", port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        ck_assert_str_eq(info.cipher, "TLS_AES_128_GCM_SHA256");
        ck_assert_str_eq(info.alpn, "http/1.1");
        ck_assert_int_eq(info.verify_result, TLSC_VERIFY_OK);
        close(fd);
        tlsc_close(client);
        tlsc_close(server);
        if (acc.fd >= 0)
                close(acc.fd);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* The system store is shared between sessions; a session that also has CAs of its own gets
 * both, in either order, and the shared store stays without them (another session that trusts
 * only the system store still refuses the test PKI). */
START_TEST(test_system_and_own_trust) {
        tlsc_session_options o = {};
        tlsc_connection_info info;
        tlsc_client *server, *client;
        uint64_t ss, listener, sessions[3];
        unsigned port = 0;
        size_t n;
        char *ca = tk_slurp(tk_pki("ca.pem"), &n);
        Daemon d;

        tk_daemon_start(&d, NULL);
        server = tk_open(&d);
        client = tk_open(&d);
        ss = tk_server_session(server, NULL);
        ck_assert_int_eq(tlsc_listen(server, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);

        for (unsigned i = 0; i < 3; i++) {
                o = (tlsc_session_options){ .system_trust = 1 };
                ck_assert_int_eq(tlsc_session_create(client, TLSC_ROLE_CLIENT, &o, &sessions[i]),
                                 0);
        }
        /* 0: the system store, then the test CA; 1: the test CA, then the system store */
        o = (tlsc_session_options){ .ca = ca, .ca_size = n };
        ck_assert_int_eq(tlsc_session_configure(client, sessions[0], &o), 0);
        ck_assert_int_eq(tlsc_session_create(client, TLSC_ROLE_CLIENT, &o, &sessions[1]), 0);
        o = (tlsc_session_options){ .system_trust = 1 };
        ck_assert_int_eq(tlsc_session_configure(client, sessions[1], &o), 0);

        for (unsigned i = 0; i < 3; i++) {
                uint64_t conn;
                int fd;

                ck_assert_int_eq(tlsc_connection_create(client, sessions[i], 0, &conn), 0);
                fd = tlsc_connect(client, conn, "localhost", port, NULL, &info);
                if (i < 2) {
                        ck_assert_msg(fd >= 0, "session %u: connect: %s", i, info.message);
                        ck_assert_int_eq(info.verify_result, TLSC_VERIFY_OK);
                        close(fd);
                } else {
                        ck_assert_msg(fd == -TLSD_ERR_VERIFY, "system store only: %d %s", fd,
                                      info.message);
                        ck_assert_int_ne(info.verify_result, TLSC_VERIFY_OK);
                }
        }
        free(ca);
        tlsc_close(client);
        tlsc_close(server);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- tickets and the policy of the handshake they come from ---- */

/* A child process with its stdin and stdout (and stderr) on pipes; out accumulates. */
typedef struct Proc {
        pid_t pid;
        int in, out;
        char buf[32768];
        size_t n;
} Proc;

static void proc_start(Proc *p, char *const argv[]) {
        int in[2], out[2];

        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        p->pid = fork();
        ck_assert_int_ge(p->pid, 0);
        if (p->pid == 0) {
                dup2(in[0], STDIN_FILENO);
                dup2(out[1], STDOUT_FILENO);
                dup2(out[1], STDERR_FILENO);
                execvp(argv[0], argv);
                perror(argv[0]);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        p->in = in[1];
        p->out = out[0];
        p->n = 0;
        p->buf[0] = 0;
}

/* Reads its output until needle shows (true), or EOF or timeout_ms (false). */
static bool proc_wait_for(Proc *p, const char *needle, long timeout_ms) {
        long deadline = now_ms() + timeout_ms;

        while (!strstr(p->buf, needle)) {
                struct pollfd pfd = { .fd = p->out, .events = POLLIN };
                long left = deadline - now_ms();
                ssize_t k;

                if (left <= 0 || p->n + 1 >= sizeof(p->buf) || poll(&pfd, 1, (int) left) != 1)
                        return false;
                k = read(p->out, p->buf + p->n, sizeof(p->buf) - 1 - p->n);
                if (k <= 0)
                        return false;
                p->n += (size_t) k;
                p->buf[p->n] = 0;
        }
        return true;
}

static void proc_stop(Proc *p) {
        close(p->in);
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
        close(p->out);
}

/* tests/peers/hold-relay.py in front of 127.0.0.1:target (hold: its --hold, or NULL); its port
 * in *ret_port. */
static void relay_start(Proc *r, const Daemon *d, unsigned target, const char *hold,
                        unsigned *ret_port) {
        char script[512], port_file[300], target_s[16];
        long deadline = now_ms() + 10000;

        snprintf(script, sizeof(script), "%s/tests/peers/hold-relay.py",
                 getenv("top_srcdir") ? getenv("top_srcdir") : "..");
        snprintf(port_file, sizeof(port_file), "%s/relay-port", d->dir);
        snprintf(target_s, sizeof(target_s), "%u", target);
        unlink(port_file);
        proc_start(r, (char *const[]){ "python3", script, "--target", target_s, "--port-file",
                                       port_file, hold ? "--hold" : NULL, (char *) hold, NULL });
        for (;;) {
                FILE *f = fopen(port_file, "re");

                if (f) {
                        ck_assert_int_eq(fscanf(f, "%u", ret_port), 1);
                        fclose(f);
                        return;
                }
                ck_assert_msg(now_ms() < deadline, "hold-relay.py did not start");
                usleep(20000);
        }
}

static void relay_release(Proc *r) {
        ck_assert_int_eq(write(r->in, "release\n", 8), 8);
}

/* A client ticket is filed under the policy its handshake ran under. TLS 1.3 tickets come after
 * the handshake: here the app accepts a self-signed certificate in app-decides mode, then pins
 * another key while the server's tickets are held in flight. The pinned session must not
 * resume with a ticket of a handshake that never passed its pin; the session made with the
 * app-decides options again does (the control: the tickets arrived and are resumable). */
START_TEST(test_client_ticket_keeps_handshake_policy) {
        static const unsigned char other_pin[32] = { 0x42, 0x42, 0x42 };
        tlsc_session_options pinned = { .verify_mode = TLSC_VERIFY_PINNED, .pin = other_pin };
        tlsc_connection_info info;
        Events ev = { .accept = true };
        uint64_t s, s2, conn, ticket = 0;
        unsigned rport = 0;
        tlsc_client *c;
        long deadline;
        Daemon d;
        Peer p;
        Proc relay;
        int fd, r;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "hold", tk_pki("server-selfsigned.pem"), tk_pki("server-selfsigned.key"),
                   0, 3);
        relay_start(&relay, &d, p.port, "server", &rport);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_event, &ev);
        s = make_session(c, TLSC_VERIFY_APP_DECIDES);

        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", rport, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        ck_assert_str_eq(info.version, "TLSv1.3");
        ck_assert(!info.resumed);
        ck_assert_uint_eq(ev.n_certificate, 1);
        ck_assert_int_eq(ev.verify_result, TLSC_VERIFY_SELF_SIGNED);
        /* The server's NewSessionTickets, sent after our Finished, wait in the relay. */
        ck_assert_msg(proc_wait_for(&relay, "held\n", 20000), "relay: %s", relay.buf);
        ck_assert_int_eq(tlsc_get_ticket(c, conn, &ticket), -TLSD_ERR_NOT_FOUND);
        r = tlsc_session_configure(c, s, &pinned);
        ck_assert_msg(r == 0, "Configure: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        relay_release(&relay);
        deadline = now_ms() + 20000;
        while ((r = tlsc_get_ticket(c, conn, &ticket)) == -TLSD_ERR_NOT_FOUND &&
               now_ms() < deadline)
                usleep(20000);
        ck_assert_msg(r == 0, "no ticket filed: %s", tlsd_strerror(r));
        close(fd);

        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", rport, NULL, &info);
        ck_assert_msg(fd < 0,
                      "the pinned session resumed with a ticket of the app-decides "
                      "handshake (resumed %d, verify %s)",
                      info.resumed, tlsc_verify_result_name(info.verify_result));
        ck_assert_msg(fd == -TLSD_ERR_VERIFY, "pinned: %s: %s", tlsd_strerror(fd), info.message);
        ck_assert_uint_eq(ev.n_certificate, 1);

        s2 = make_session(c, TLSC_VERIFY_APP_DECIDES);
        ck_assert_int_eq(tlsc_connection_create(c, s2, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", rport, NULL, &info);
        ck_assert_msg(fd >= 0, "app-decides again: %s", info.message);
        ck_assert_msg(info.resumed, "the app-decides session did not resume: the test saw no "
                                    "ticket it could use");
        close(fd);

        tlsc_close(c);
        proc_stop(&relay);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* The events of one asynchronous connect. */
typedef struct Outcome {
        bool accept; /* the answer to a certificate event */
        unsigned n_certificate, n_done, n_failed;
        int verify_result; /* the certificate event's */
        int fd;            /* HandshakeDone's */
        bool resumed;
        int failed_verify; /* HandshakeFailed's verification result */
} Outcome;

static void on_outcome(tlsc_client *c, tlsc_event *ev, void *userdata) {
        Outcome *o = userdata;

        switch (ev->type) {
        case TLSC_EVENT_CERTIFICATE:
                o->n_certificate++;
                o->verify_result = ev->verify_result;
                ck_assert_int_eq(tlsc_certificate_response(c, ev->connection, o->accept), 0);
                break;
        case TLSC_EVENT_HANDSHAKE_DONE:
                o->n_done++;
                o->fd = ev->fd;
                ev->fd = -1;
                o->resumed = ev->info->resumed;
                break;
        case TLSC_EVENT_HANDSHAKE_FAILED:
                o->n_failed++;
                o->failed_verify = ev->info->verify_result;
                break;
        default:
                break;
        }
}

static void wait_outcome(tlsc_client *c, Outcome *o) {
        long deadline = now_ms() + 20000;

        while (o->n_done + o->n_failed == 0 && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(c), .events = POLLIN };

                (void) poll(&pfd, 1, 200);
                ck_assert_int_ge(tlsc_dispatch(c), 0);
        }
        ck_assert_msg(o->n_done + o->n_failed == 1, "no outcome");
}

/* A handshake runs under the verification mode it began with. The server's first flight is
 * held while the app-decides session is set to pinned: the handshake, which did not check the
 * pin, must still ask the app (which rejects here) rather than hand out a connection to a peer
 * that nobody verified. */
START_TEST(test_verify_mode_of_handshake) {
        static const unsigned char other_pin[32] = { 0x42, 0x42, 0x42 };
        tlsc_session_options pinned = { .verify_mode = TLSC_VERIFY_PINNED, .pin = other_pin };
        Outcome o = { .accept = false, .fd = -1 };
        unsigned rport = 0;
        uint64_t s, conn;
        tlsc_client *c;
        Proc relay;
        Daemon d;
        Peer p;
        int r;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "hold", tk_pki("server-selfsigned.pem"), tk_pki("server-selfsigned.key"),
                   0, 1);
        relay_start(&relay, &d, p.port, "server-flight", &rport);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_outcome, &o);
        s = make_session(c, TLSC_VERIFY_APP_DECIDES);
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        ck_assert_int_eq(tlsc_connection_connect(c, conn, "localhost", rport, NULL), 0);
        ck_assert_msg(proc_wait_for(&relay, "held\n", 20000), "relay: %s", relay.buf);
        r = tlsc_session_configure(c, s, &pinned);
        ck_assert_msg(r == 0, "Configure: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        relay_release(&relay);
        wait_outcome(c, &o);
        ck_assert_msg(o.n_certificate == 1 && o.n_done == 0,
                      "the handshake begun in app-decides mode ended without asking the app "
                      "(certificate events %u, HandshakeDone %u)",
                      o.n_certificate, o.n_done);
        ck_assert_int_eq(o.verify_result, TLSC_VERIFY_SELF_SIGNED);
        ck_assert_uint_eq(o.n_failed, 1);

        tlsc_close(c);
        proc_stop(&relay);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* In app-decides mode a ticket is kept only once the app accepted the certificate. TLS 1.2
 * tickets come with the handshake, before the app is asked: the app rejects this server, and
 * its next connection must show it the server's certificate and the real verification result
 * again, not resume with a ticket of the rejected handshake ("ok", no chain). */
START_TEST(test_rejected_certificate_keeps_no_ticket) {
        tlsc_session_options tls12 = { .version_max = 0x0303 };
        tlsc_connection_info info;
        Events ev = { .accept = false };
        tlsc_client *c;
        uint64_t s, conn;
        Daemon d;
        Peer p;
        int fd;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "hold", tk_pki("server-selfsigned.pem"), tk_pki("server-selfsigned.key"),
                   0, 2);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_event, &ev);
        s = make_session(c, TLSC_VERIFY_APP_DECIDES);
        ck_assert_int_eq(tlsc_session_configure(c, s, &tls12), 0);

        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_int_eq(fd, -TLSD_ERR_VERIFY);
        ck_assert_uint_eq(ev.n_certificate, 1);
        ck_assert_int_eq(ev.verify_result, TLSC_VERIFY_SELF_SIGNED);

        ev.accept = true;
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd >= 0, "connect: %s", info.message);
        ck_assert_str_eq(info.version, "TLSv1.2");
        ck_assert_msg(!info.resumed && ev.verify_result == TLSC_VERIFY_SELF_SIGNED &&
                              ev.chain_is_pem,
                      "the rejected server's ticket was kept: resumed %d, the app was shown "
                      "verify %s %s a chain",
                      info.resumed, tlsc_verify_result_name(ev.verify_result),
                      ev.chain_is_pem ? "with" : "without");
        ck_assert_uint_eq(ev.n_certificate, 2);
        close(fd);

        tlsc_close(c);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* Connect checks an explicit ticket against the session's policy; the handshake begins later
 * (name lookup, TCP connect). The relay keeps the TCP connect pending while the session, whose
 * app accepted a self-signed certificate, is set to pin another key: the ticket must not be
 * offered under the pin (full handshake, the pin fails). */
START_TEST(test_explicit_ticket_after_configure) {
        static const unsigned char other_pin[32] = { 0x42, 0x42, 0x42 };
        tlsc_session_options pinned = { .verify_mode = TLSC_VERIFY_PINNED, .pin = other_pin };
        Outcome o = { .accept = true, .fd = -1 };
        uint64_t s, conn, ticket = 0;
        unsigned rport = 0;
        tlsc_client *c;
        long deadline;
        Proc relay;
        Daemon d;
        Peer p;
        int r;

        tk_daemon_start(&d, NULL);
        peer_start(&p, &d, "hold", tk_pki("server-selfsigned.pem"), tk_pki("server-selfsigned.key"),
                   0, 2);
        relay_start(&relay, &d, p.port, NULL, &rport);
        c = tk_open(&d);
        tlsc_set_event_handler(c, on_outcome, &o);
        s = make_session(c, TLSC_VERIFY_APP_DECIDES);

        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        ck_assert_int_eq(tlsc_connection_connect(c, conn, "127.0.0.1", rport, "localhost"), 0);
        wait_outcome(c, &o);
        ck_assert_uint_eq(o.n_done, 1);
        deadline = now_ms() + 20000;
        while ((r = tlsc_get_ticket(c, conn, &ticket)) == -TLSD_ERR_NOT_FOUND &&
               now_ms() < deadline)
                usleep(20000);
        ck_assert_msg(r == 0, "no ticket: %s", tlsd_strerror(r));
        close(o.fd);

        ck_assert_int_eq(write(relay.in, "fill\n", 5), 5);
        ck_assert_msg(proc_wait_for(&relay, "filled\n", 20000), "relay: %s", relay.buf);
        o = (Outcome){ .accept = true, .fd = -1 };
        ck_assert_int_eq(tlsc_connection_create(c, s, 0, &conn), 0);
        r = tlsc_connection_connect_ticket(c, conn, "127.0.0.1", rport, "localhost", ticket);
        ck_assert_msg(r == 0, "Connect with the ticket: %s: %s", tlsd_strerror(r),
                      tlsc_last_error_message(c));
        r = tlsc_session_configure(c, s, &pinned);
        ck_assert_msg(r == 0, "Configure: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        relay_release(&relay);
        wait_outcome(c, &o);
        ck_assert_msg(o.n_done == 0,
                      "the ticket checked before the Configure was offered under "
                      "the pin (resumed %d)",
                      o.resumed);
        ck_assert_int_eq(o.failed_verify, TLSC_VERIFY_PIN_MISMATCH);
        if (o.fd >= 0)
                close(o.fd);

        tlsc_close(c);
        proc_stop(&relay);
        peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

static void wait_accepts(tlsc_client *c, Accepts *a, unsigned n) {
        long deadline = now_ms() + 20000;

        while (a->n < n && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(c), .events = POLLIN };

                (void) poll(&pfd, 1, 200);
                ck_assert_int_ge(tlsc_dispatch(c), 0);
        }
        ck_assert_uint_eq(a->n, n);
}

/* One openssl s_client connection to port offering the session in sess_file; waits for the
 * server's app to get it (Accepted) and returns whether s_client reported "Reused" (and the
 * server's app agrees). */
static bool s_client_resumes(unsigned port, const char *proto, const char *sess_file,
                             tlsc_client *server, Accepts *acc) {
        unsigned n = acc->n;
        char target[32];
        bool reused;
        Proc sc;

        snprintf(target, sizeof(target), "127.0.0.1:%u", port);
        proc_start(&sc, (char *const[]){ "openssl", "s_client", "-connect", target, (char *) proto,
                                         "-servername", "localhost", "-CAfile",
                                         (char *) tk_pki("ca.pem"), "-sess_in", (char *) sess_file,
                                         NULL });
        ck_assert_msg(proc_wait_for(&sc, ", Cipher is ", 20000), "s_client: %s", sc.buf);
        reused = strstr(sc.buf, "\nReused, ") != NULL;
        wait_accepts(server, acc, n + 1);
        ck_assert_int_eq(acc->resumed, reused);
        close(acc->fd);
        proc_stop(&sc);
        return reused;
}

/* A server binds each ticket to the policy its handshake ran under. The client's Finished is
 * held in flight while the server session is configured (another ALPN list), so the tickets are
 * issued after the Configure: they must not resume under the new policy, and a server session
 * of the same owner made with the first policy's options resumes them (the control). */
START_TEST(test_server_ticket_keeps_handshake_policy) {
        const char *proto = _i == 0 ? "-tls1_3" : "-tls1_2";
        tlsc_session_options alpn = { .alpn = "h2" };
        Accepts acc = { .fd = -1 };
        uint64_t ss, ss0, listener, listener0;
        unsigned port = 0, port0 = 0, rport = 0;
        char sess[300], target[32];
        struct stat st;
        tlsc_client *server;
        Proc relay, sc;
        Daemon d;
        int r;

        tk_daemon_start(&d, NULL);
        snprintf(sess, sizeof(sess), "%s/client.sess", d.dir);
        server = tk_open(&d);
        tlsc_set_event_handler(server, on_accept_event, &acc);
        ss = tk_server_session(server, NULL);
        ck_assert_int_eq(tlsc_listen(server, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        relay_start(&relay, &d, port, "client", &rport);

        snprintf(target, sizeof(target), "127.0.0.1:%u", rport);
        proc_start(&sc, (char *const[]){ "openssl", "s_client", "-connect", target, (char *) proto,
                                         "-servername", "localhost", "-CAfile",
                                         (char *) tk_pki("ca.pem"), "-sess_out", sess, NULL });
        /* The client's Finished waits in the relay: the server's handshake is under way. */
        ck_assert_msg(proc_wait_for(&relay, "held\n", 20000), "relay: %s / s_client: %s", relay.buf,
                      sc.buf);
        r = tlsc_session_configure(server, ss, &alpn);
        ck_assert_msg(r == 0, "Configure: %s: %s", tlsd_strerror(r),
                      tlsc_last_error_message(server));
        relay_release(&relay);
        wait_accepts(server, &acc, 1);
        /* The tickets went out with the handshake, before this line. */
        ck_assert_int_eq(write(acc.fd, "after-tickets\n", 14), 14);
        ck_assert_msg(proc_wait_for(&sc, "after-tickets\n", 20000), "s_client: %s", sc.buf);
        ck_assert_msg(strstr(sc.buf, "\nNew, "), "s_client: %s", sc.buf);
        proc_stop(&sc);
        close(acc.fd);
        ck_assert_msg(stat(sess, &st) == 0 && st.st_size > 0, "s_client saved no session");

        ck_assert_msg(!s_client_resumes(port, proto, sess, server, &acc),
                      "%s: a ticket issued for a handshake under the old policy resumed under "
                      "the new one",
                      proto);

        ss0 = tk_server_session(server, NULL);
        ck_assert_int_eq(tlsc_listen(server, ss0, "127.0.0.1", 0, NULL, &listener0, &port0), 0);
        ck_assert_msg(s_client_resumes(port0, proto, sess, server, &acc),
                      "%s: the ticket does not resume under the policy of its handshake", proto);

        tlsc_close(server);
        proc_stop(&relay);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

int main(void) {
        Suite *s = suite_create("tls");
        TCase *tc = tcase_create("client");
        Skipped skipped = {};
        SRunner *sr;

        /* Freed memory must show in RSS for the leak measurement: no ASan quarantine. */
        setenv("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=0", 1);
        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 1200 : 240);
        tcase_add_test(tc, test_stream_64mib_each_way);
        tcase_add_test(tc, test_truncation_reported);
        tcase_add_test(tc, test_app_decides);
        tcase_add_test(tc, test_killed_apps_leak_nothing);
        harness_add_root_test(tc, test_other_uid_is_refused, "test_other_uid_is_refused",
                              "two client uids", &skipped);
        tcase_add_test(tc, test_starttls_client_adopt);
        tcase_add_test(tc, test_starttls_server_adopt);
        suite_add_tcase(s, tc);
        /* CK_RUN_CASE=bulk runs only this (a loop of it is the stress test for the end of a
         * stream) */
        tc = tcase_create("bulk");
        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 1200 : 240);
        tcase_add_test(tc, test_tlsd_to_tlsd_64mib);
        suite_add_tcase(s, tc);
        /* CK_RUN_CASE=stream-end: how an app's end of the stream reaches the peer */
        tc = tcase_create("stream-end");
        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 1200 : 240);
        tcase_add_test(tc, test_app_ends_while_network_full);
        tcase_add_test(tc, test_app_close_is_abort);
        tcase_add_test(tc, test_shutdown_request_then_close);
        tcase_add_test(tc, test_close_with_data_unread_is_abort);
        suite_add_tcase(s, tc);
        /* CK_RUN_CASE=policy runs only these */
        tc = tcase_create("policy");
        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 1200 : 240);
        tcase_add_test(tc, test_configure_is_atomic);
        tcase_add_test(tc, test_system_and_own_trust);
        suite_add_tcase(s, tc);
        /* CK_RUN_CASE=tickets */
        tc = tcase_create("tickets");
        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 1200 : 240);
        tcase_add_test(tc, test_client_ticket_keeps_handshake_policy);
        tcase_add_loop_test(tc, test_server_ticket_keeps_handshake_policy, 0, 2);
        tcase_add_test(tc, test_verify_mode_of_handshake);
        tcase_add_test(tc, test_rejected_certificate_keeps_no_ticket);
        tcase_add_test(tc, test_explicit_ticket_after_configure);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        return harness_run(sr, &skipped);
}
