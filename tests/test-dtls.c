/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DTLS end to end with tlsd on both sides (no other local peer speaks DTLS 1.3 or Connection
 * IDs): a server session listening on a UDP port, client sessions against it, and the apps'
 * SOCK_SEQPACKET data fds driven from this process (an echo loop where the server app answers).
 * Loss, duplication, reordering and NAT rebinding come from tests/udp-relay, a seeded relay.
 *
 *  - DTLS 1.3 and 1.2: messages both ways byte-exact with their boundaries, close_notify both ways
 *  - the message limit: max_message goes through, one byte more is a MessageTooLarge event
 *  - the retransmission schedule: Timeout event after it, Retry, blocking connect's error
 *  - 20% loss with duplicates and reordering: handshakes complete, 10 000 messages arrive at
 *    most once and intact; without loss all of them exactly once
 *  - 100 clients on one server port, 1 000 echoed messages each
 *  - an app that does not read: a client's tlsd waits for it (no gap), a server's drops and
 *    serves the port's other connections; both flow again once it reads
 *  - Connection ID: the client's port changes (relay rebinds) and the connection survives; it
 *    does not without a CID
 *  - 1 000 spoofed ClientHellos and 1 000 garbage datagrams: memory and fds flat, still serving
 *  - bad DTLS options are parameter errors
 *  - Configure on a server session with a live listener applies to the next client: after a
 *    stray ClientHello and then Configure requiring client certificates, a client without one
 *    (openssl s_client -dtls1_2; tlsd's client for DTLS 1.3) is refused, one with one accepted;
 *    so is a client whose first flight was answered before Configure, with the cookie it got then
 *
 * Volumes are smaller under valgrind (a TLSD_TEST_WRAPPER naming it); TLSD_TEST_DTLS_MESSAGES,
 * TLSD_TEST_DTLS_PEERS, TLSD_TEST_DTLS_ROUNDS and TLSD_TEST_DTLS_SPOOF override them.
 */
#include <check.h>
#include <endian.h>
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
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"
#include "testkit.h"
#include "tlsd/client.h"

#ifndef UDP_RELAY
#error "UDP_RELAY must name the udp-relay binary"
#endif

#define DTLS13 0xfefcu
#define DTLS12 0xfefdu
#define BUF_MAX (128 * 1024)

/* valgrind is ~50x slower: smaller volumes, more time. (Other wrappers change nothing.) */
static bool under_wrapper(void) {
        const char *w = getenv("TLSD_TEST_WRAPPER");

        return w && strstr(w, "valgrind");
}

/* A volume: the environment's, else the full one, else (valgrind) the reduced one. */
static unsigned volume(const char *env, unsigned full, unsigned reduced) {
        const char *v = getenv(env);

        if (v && *v)
                return (unsigned) strtoul(v, NULL, 10);
        return under_wrapper() ? reduced : full;
}

/* Time limits that are generous already get more room under valgrind (~50x slower). */
static long slack(long ms) {
        return under_wrapper() ? ms * 20 : ms;
}

/* ---- the daemon (files, PKI, its descriptors and memory: testkit.h) ---- */

static void stop_daemon(Daemon *d) {
        /* Non-zero: a crash, or ASan/valgrind found an error or a leak at exit. */
        ck_assert_int_eq(daemon_stop(d, NULL), 0);
        daemon_cleanup(d);
}

/* ---- events ---- */

typedef struct Ev {
        int type;
        uint64_t connection;
        uint64_t listener;
        int fd;
        long at; /* now_ms() when dispatched */
        unsigned retries;
        size_t size, max_message;
        int reason;
        bool has_info;
        tlsc_connection_info info;
        char peer_address[64];
        unsigned peer_port;
} Ev;

/* Every event of one control client, kept until a test takes it. */
typedef struct Recorder {
        Ev *ev;
        size_t n, allocated;
} Recorder;

static void on_event(tlsc_client *c, tlsc_event *e, void *userdata) {
        Recorder *r = userdata;
        Ev *x;

        (void) c;
        if (r->n == r->allocated) {
                r->allocated = r->allocated ? 2 * r->allocated : 32;
                r->ev = realloc(r->ev, r->allocated * sizeof(Ev));
                ck_assert_ptr_nonnull(r->ev);
        }
        x = &r->ev[r->n++];
        memset(x, 0, sizeof(*x));
        x->type = e->type;
        x->connection = e->connection;
        x->listener = e->listener;
        x->fd = -1;
        if ((e->type == TLSC_EVENT_HANDSHAKE_DONE || e->type == TLSC_EVENT_ACCEPTED) &&
            e->fd >= 0) {
                x->fd = e->fd;
                e->fd = -1; /* ours now */
        }
        x->at = now_ms();
        x->retries = e->retries;
        x->size = e->size;
        x->max_message = e->max_message;
        x->reason = e->reason;
        if (e->info) {
                x->has_info = true;
                x->info = *e->info;
        }
        if (e->peer_address)
                snprintf(x->peer_address, sizeof(x->peer_address), "%s", e->peer_address);
        x->peer_port = e->peer_port;
}

/* Removes the first event of this type (for this connection, or any if 0) into *ret. */
static bool take_event(Recorder *r, int type, uint64_t connection, Ev *ret) {
        for (size_t i = 0; i < r->n; i++)
                if (r->ev[i].type == type &&
                    (connection == 0 || r->ev[i].connection == connection)) {
                        if (ret)
                                *ret = r->ev[i];
                        else if (r->ev[i].fd >= 0)
                                close(r->ev[i].fd);
                        memmove(&r->ev[i], &r->ev[i + 1], (r->n - i - 1) * sizeof(Ev));
                        r->n--;
                        return true;
                }
        return false;
}

static bool has_event(const Recorder *r, int type, uint64_t connection) {
        for (size_t i = 0; i < r->n; i++)
                if (r->ev[i].type == type && (connection == 0 || r->ev[i].connection == connection))
                        return true;
        return false;
}

static void dispatch(tlsc_client *c) {
        int r = tlsc_dispatch(c);

        ck_assert_msg(r >= 0, "dispatch: %s", tlsd_strerror(r));
}

static bool wait_event(tlsc_client *c, Recorder *r, int type, uint64_t connection, long timeout_ms,
                       Ev *ret) {
        long deadline = now_ms() + timeout_ms;

        for (;;) {
                struct pollfd p = { .fd = tlsc_get_fd(c), .events = tlsc_get_events(c) };
                long left;

                if (take_event(r, type, connection, ret))
                        return true;
                left = deadline - now_ms();
                if (left <= 0)
                        return false;
                (void) poll(&p, 1, left > 100 ? 100 : (int) left);
                dispatch(c);
        }
}

static void recorder_free(Recorder *r) {
        for (size_t i = 0; i < r->n; i++)
                if (r->ev[i].fd >= 0)
                        close(r->ev[i].fd);
        free(r->ev);
        *r = (Recorder){};
}

/* ---- sessions and connections ---- */

static uint64_t dtls_session(tlsc_client *c, int role, tlsc_session_options o) {
        size_t n1 = 0, n2 = 0;
        char *a = NULL, *b = NULL;
        uint64_t s;
        int r;

        o.transport = TLSC_TRANSPORT_DTLS;
        if (role == TLSC_ROLE_SERVER) {
                a = tk_slurp(tk_pki("server-ecdsa-chain.pem"), &n1);
                b = tk_slurp(tk_pki("server-ecdsa.key"), &n2);
                o.cert = a;
                o.cert_size = n1;
                o.key = b;
                o.key_size = n2;
        } else {
                a = tk_slurp(tk_pki("ca.pem"), &n1);
                o.ca = a;
                o.ca_size = n1;
        }
        r = tlsc_session_create(c, role, &o, &s);
        ck_assert_msg(r == 0, "DTLS %s session: %s: %s",
                      role == TLSC_ROLE_SERVER ? "server" : "client", tlsd_strerror(r),
                      tlsc_last_error_message(c));
        free(a);
        free(b);
        return s;
}

/* The daemon, a control client for the server side and one for the client side, a server and a
 * client session, and a DTLS listener on 127.0.0.1. */
typedef struct World {
        Daemon d;
        tlsc_client *sc, *cc;
        Recorder srec, crec;
        uint64_t ss, cs, listener;
        unsigned port;
} World;

static void world_start(World *w, const char *config, tlsc_session_options server,
                        tlsc_session_options client) {
        int r;

        memset(w, 0, sizeof(*w));
        tk_daemon_start(&w->d, config);
        ck_assert_int_eq(tlsc_open(w->d.socket_path, &w->sc), 0);
        ck_assert_int_eq(tlsc_open(w->d.socket_path, &w->cc), 0);
        tlsc_set_timeout(w->sc, (int) slack(60000));
        tlsc_set_timeout(w->cc, (int) slack(60000));
        tlsc_set_event_handler(w->sc, on_event, &w->srec);
        tlsc_set_event_handler(w->cc, on_event, &w->crec);
        w->ss = dtls_session(w->sc, TLSC_ROLE_SERVER, server);
        w->cs = dtls_session(w->cc, TLSC_ROLE_CLIENT, client);
        r = tlsc_listen(w->sc, w->ss, "127.0.0.1", 0, NULL, &w->listener, &w->port);
        ck_assert_msg(r == 0, "listen: %s: %s", tlsd_strerror(r), tlsc_last_error_message(w->sc));
        ck_assert_uint_ne(w->port, 0);
}

static void world_stop(World *w) {
        tlsc_close(w->cc);
        tlsc_close(w->sc);
        recorder_free(&w->crec);
        recorder_free(&w->srec);
        stop_daemon(&w->d);
}

/* One DTLS connection through tlsd: the client app's fd and the server app's fd. */
typedef struct Link {
        uint64_t conn, sconn;
        int cfd, sfd;
        tlsc_connection_info cinfo; /* the client's, from the handshake */
        Ev acc;                     /* the server's Accepted event */
} Link;

static void link_open(World *w, unsigned port, Link *l) {
        long t0 = now_ms();

        memset(l, 0, sizeof(*l));
        ck_assert_int_eq(tlsc_connection_create(w->cc, w->cs, AF_INET, &l->conn), 0);
        l->cfd = tlsc_connect(w->cc, l->conn, "127.0.0.1", port, NULL, &l->cinfo);
        ck_assert_msg(l->cfd >= 0, "DTLS connect: %s: %s", tlsd_strerror(l->cfd), l->cinfo.message);
        ck_assert_msg(wait_event(w->sc, &w->srec, TLSC_EVENT_ACCEPTED, 0, slack(30000), &l->acc),
                      "no Accepted event on the server side");
        l->sfd = l->acc.fd;
        l->sconn = l->acc.connection;
        ck_assert_int_ge(l->sfd, 0);
        ck_assert_uint_eq(l->acc.listener, w->listener);
        fprintf(stderr, "  connected in %ld ms: %s %s, max_message %u, cid %d/%d\n", now_ms() - t0,
                l->cinfo.version, l->cinfo.cipher, l->cinfo.max_message, l->cinfo.cid_in_use,
                l->acc.info.cid_in_use);
}

static void link_close(Link *l) {
        if (l->cfd >= 0)
                close(l->cfd);
        if (l->sfd >= 0)
                close(l->sfd);
        l->cfd = l->sfd = -1;
}

/* Waits up to timeout_ms for one message on fd (dispatching both control clients meanwhile):
 * its size, 0 for EOF, -1 for nothing in time. */
static ssize_t recv_message(World *w, int fd, void *buf, size_t size, long timeout_ms) {
        long deadline = now_ms() + timeout_ms;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = fd, .events = POLLIN },
                        { .fd = tlsc_get_fd(w->sc), .events = POLLIN },
                        { .fd = tlsc_get_fd(w->cc), .events = POLLIN },
                };
                long left = deadline - now_ms();
                ssize_t n;

                n = recv(fd, buf, size, MSG_DONTWAIT | MSG_TRUNC);
                if (n >= 0) {
                        ck_assert_msg((size_t) n <= size, "message of %zd bytes over the buffer",
                                      n);
                        return n;
                }
                ck_assert_msg(errno == EAGAIN, "recv: %s", strerror(errno));
                if (left <= 0)
                        return -1;
                (void) poll(p, 3, left > 100 ? 100 : (int) left);
                dispatch(w->sc);
                dispatch(w->cc);
        }
}

static void send_message(int fd, const void *buf, size_t size) {
        ssize_t n = send(fd, buf, size, MSG_NOSIGNAL);

        ck_assert_msg(n == (ssize_t) size, "send of %zu bytes: %zd (%s)", size, n,
                      n < 0 ? strerror(errno) : "short");
}

/* ---- deterministic messages ---- */

static uint64_t splitmix64(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

static void fill_random(uint64_t *state, uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i += 8) {
                uint64_t v = splitmix64(state);

                memcpy(p + i, &v, n - i < 8 ? n - i : 8);
        }
}

static uint64_t fnv64(uint64_t h, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * UINT64_C(0x100000001b3);
        return h;
}

/* Message seq of a run with this seed: 4-byte sequence number, 8-byte checksum (FNV-1a over the
 * sequence number and the payload), then 16..1200 payload bytes; all of it a function of
 * (seed, seq), so the receiver can also regenerate it and compare every byte. */
static size_t msg_make(uint64_t seed, uint32_t seq, uint8_t *buf) {
        uint64_t s = seed ^ ((uint64_t) seq * UINT64_C(0xD1B54A32D192ED03));
        size_t len = 16 + (size_t) (splitmix64(&s) % 1185);
        uint32_t be = htobe32(seq);
        uint64_t sum;

        memcpy(buf, &be, 4);
        fill_random(&s, buf + 12, len);
        sum = htobe64(fnv64(fnv64(UINT64_C(0xcbf29ce484222325), buf, 4), buf + 12, len));
        memcpy(buf + 4, &sum, 8);
        return 12 + len;
}

/* Whether buf is an intact message of this run (seq below limit); its seq in *ret_seq. */
static bool msg_check(uint64_t seed, const uint8_t *buf, size_t n, uint32_t limit,
                      uint32_t *ret_seq) {
        static uint8_t want[2048];
        uint64_t sum;
        uint32_t seq;

        if (n < 12 + 16 || n > 12 + 1200)
                return false;
        memcpy(&seq, buf, 4);
        seq = be32toh(seq);
        memcpy(&sum, buf + 4, 8);
        if (seq >= limit ||
            be64toh(sum) != fnv64(fnv64(UINT64_C(0xcbf29ce484222325), buf, 4), buf + 12, n - 12))
                return false;
        if (msg_make(seed, seq, want) != n || memcmp(want, buf, n) != 0)
                return false;
        *ret_seq = seq;
        return true;
}

/* ---- the relay ---- */

typedef struct Relay {
        pid_t pid;
        unsigned port;
        char port_file[300], stats_file[300];
} Relay;

static void relay_start(Relay *r, const Daemon *d, unsigned target, const char *options) {
        static unsigned counter;
        char listen_arg[] = "127.0.0.1:0", target_arg[64], *words = strdup(options);
        const char *argv[40];
        long deadline;
        int n = 0;

        counter++;
        snprintf(r->port_file, sizeof(r->port_file), "%s/relay%u.port", d->dir, counter);
        snprintf(r->stats_file, sizeof(r->stats_file), "%s/relay%u.stats", d->dir, counter);
        snprintf(target_arg, sizeof(target_arg), "127.0.0.1:%u", target);
        argv[n++] = UDP_RELAY;
        argv[n++] = "--listen";
        argv[n++] = listen_arg;
        argv[n++] = "--target";
        argv[n++] = target_arg;
        argv[n++] = "--port-file";
        argv[n++] = r->port_file;
        argv[n++] = "--stats-file";
        argv[n++] = r->stats_file;
        for (char *t = strtok(words, " "); t && n < 38; t = strtok(NULL, " "))
                argv[n++] = t;
        argv[n] = NULL;
        r->pid = fork();
        ck_assert_int_ge(r->pid, 0);
        if (r->pid == 0) {
                /* a failed check ends this process at once: the relay goes with it */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                execv(argv[0], (char **) argv);
                perror(argv[0]);
                _exit(127);
        }
        free(words);
        deadline = now_ms() + 10000;
        for (;;) {
                FILE *f = fopen(r->port_file, "re");
                int status;

                if (f) {
                        ck_assert_int_eq(fscanf(f, "%u", &r->port), 1);
                        fclose(f);
                        break;
                }
                ck_assert_msg(waitpid(r->pid, &status, WNOHANG) == 0, "udp-relay exited (%d)",
                              status);
                ck_assert_msg(now_ms() < deadline, "udp-relay did not start");
                usleep(10000);
        }
        fprintf(stderr, "  udp-relay %s: port %u -> %u\n", options, r->port, target);
}

static void read_stats(const Relay *r, char *buf, size_t size) {
        FILE *f = fopen(r->stats_file, "re");
        size_t n;

        ck_assert_msg(f, "%s: %s", r->stats_file, strerror(errno));
        n = fread(buf, 1, size - 1, f);
        buf[n] = 0;
        fclose(f);
}

/* The relay's counters now (SIGUSR2 writes them). */
static void relay_stats(const Relay *r, char *buf, size_t size) {
        long deadline = now_ms() + 5000;

        (void) unlink(r->stats_file);
        kill(r->pid, SIGUSR2);
        while (access(r->stats_file, F_OK) < 0) {
                ck_assert_msg(now_ms() < deadline, "udp-relay wrote no stats");
                usleep(5000);
        }
        read_stats(r, buf, size);
}

static void relay_stop(Relay *r, char *buf, size_t size) {
        int status;

        kill(r->pid, SIGTERM);
        ck_assert_int_eq(waitpid(r->pid, &status, 0), r->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "udp-relay status %d", status);
        if (buf)
                read_stats(r, buf, size);
}

static long stat_value(const char *stats, const char *key) {
        size_t k = strlen(key);

        for (const char *p = stats; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, key, k) == 0 && p[k] == '=')
                        return atol(p + k + 1);
        ck_abort_msg("no %s in the relay's stats", key);
        return -1;
}

/* ==== 1. messages both ways, boundaries, close_notify ==== */

/* Message i of direction dir: its size cycles through 1 byte, the limit and sizes between; its
 * bytes are a function of (dir, i). */
static size_t exchange_message(unsigned dir, unsigned i, unsigned max, uint8_t *buf) {
        static const unsigned fixed[] = { 1, 2, 3, 13, 16, 100, 1000 };
        uint64_t s = (uint64_t) dir << 32 | i;
        size_t n;

        if (i < sizeof(fixed) / sizeof(fixed[0]))
                n = fixed[i];
        else if (i % 10 == 0)
                n = max;
        else
                n = 1 + (size_t) ((i * 7919u) % max);
        fill_random(&s, buf, n);
        return n;
}

START_TEST(test_exchange_and_close_notify) {
        const unsigned version = _i == 0 ? DTLS13 : DTLS12;
        const char *want_version = _i == 0 ? "DTLSv1.3" : "DTLSv1.2";
        const unsigned total = 300, window = 10;
        tlsc_session_options o = { .version_min = version, .version_max = version };
        static uint8_t out[BUF_MAX], in[BUF_MAX];
        unsigned sent[2] = { 0, 0 }, got[2] = { 0, 0 };
        tlsc_connection_info info;
        int type = 0;
        socklen_t len = sizeof(type);
        World w;
        Link l;
        Ev ev;

        fprintf(stderr, "%s: exchange and close_notify\n", want_version);
        world_start(&w, NULL, o, o);
        link_open(&w, w.port, &l);
        ck_assert_str_eq(l.cinfo.version, want_version);
        ck_assert_str_eq(l.acc.info.version, want_version);
        ck_assert_int_eq(l.cinfo.transport, TLSC_TRANSPORT_DTLS);
        ck_assert_int_eq(l.acc.info.transport, TLSC_TRANSPORT_DTLS);
        ck_assert_int_eq(l.cinfo.verify_result, TLSC_VERIFY_OK);
        ck_assert_str_eq(l.acc.peer_address, "127.0.0.1");
        /* The data fds keep message boundaries. */
        ck_assert_int_eq(getsockopt(l.cfd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
        ck_assert_int_eq(type, SOCK_SEQPACKET);
        ck_assert_int_eq(getsockopt(l.sfd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
        ck_assert_int_eq(type, SOCK_SEQPACKET);
        ck_assert_uint_gt(l.cinfo.max_message, 1000);

        /* Both apps send a window of messages, then each reads the other's: every message comes
         * whole, with its own size, byte for byte. (On loopback without a relay nothing reorders
         * or drops, so all of them arrive and in order; DTLS itself promises neither.) */
        while (got[0] < total || got[1] < total) {
                int fds[2] = { l.cfd, l.sfd };

                for (unsigned d = 0; d < 2; d++)
                        for (unsigned k = 0; k < window && sent[d] < total; k++, sent[d]++) {
                                size_t n = exchange_message(d, sent[d], l.cinfo.max_message, out);

                                send_message(fds[d], out, n);
                        }
                for (unsigned d = 0; d < 2; d++)
                        while (got[d] < sent[d]) {
                                /* fds[1 - d] receives what d sent */
                                size_t n = exchange_message(d, got[d], l.cinfo.max_message, out);
                                ssize_t k =
                                        recv_message(&w, fds[1 - d], in, sizeof(in), slack(5000));

                                ck_assert_msg(k >= 0, "%s: message %u of side %u never arrived",
                                              want_version, got[d], d);
                                ck_assert_msg(k == (ssize_t) n,
                                              "%s: side %u message %u: %zd bytes, sent %zu",
                                              want_version, d, got[d], k, n);
                                ck_assert_msg(memcmp(in, out, n) == 0,
                                              "%s: side %u message %u differs", want_version, d,
                                              got[d]);
                                got[d]++;
                        }
        }
        ck_assert_int_eq(tlsc_connection_info_get(w.cc, l.conn, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_OPERATING);
        ck_assert_uint_gt(info.bytes_out, 0);
        ck_assert_uint_eq(info.bytes_in, info.bytes_out);

        /* close_notify: the client app shuts its side, the server app reads EOF, then the other
         * way round; both connections end with reason close_notify. */
        ck_assert_int_eq(shutdown(l.cfd, SHUT_WR), 0);
        ck_assert_msg(recv_message(&w, l.sfd, in, sizeof(in), slack(5000)) == 0,
                      "server app did not read EOF after the client's close_notify");
        ck_assert_int_eq(shutdown(l.sfd, SHUT_WR), 0);
        ck_assert_msg(recv_message(&w, l.cfd, in, sizeof(in), slack(5000)) == 0,
                      "client app did not read EOF after the server's close_notify");
        ck_assert_msg(wait_event(w.cc, &w.crec, TLSC_EVENT_DISCONNECTED, l.conn, slack(5000), &ev),
                      "no Disconnected event for the client");
        ck_assert_msg(ev.reason == TLSC_DISCONNECT_CLOSE_NOTIFY, "client reason %s",
                      tlsc_disconnect_reason_name(ev.reason));
        ck_assert_msg(wait_event(w.sc, &w.srec, TLSC_EVENT_DISCONNECTED, l.sconn, slack(5000), &ev),
                      "no Disconnected event for the server");
        ck_assert_msg(ev.reason == TLSC_DISCONNECT_CLOSE_NOTIFY, "server reason %s",
                      tlsc_disconnect_reason_name(ev.reason));
        ck_assert_int_eq(tlsc_connection_info_get(w.cc, l.conn, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_CLOSED);
        link_close(&l);
        world_stop(&w);
}
END_TEST

/* ==== 2. the message limit ==== */

START_TEST(test_oversize_message) {
        tlsc_session_options o = {};
        static uint8_t out[200000], in[BUF_MAX];
        unsigned max;
        World w;
        Link l;
        Ev ev;

        fprintf(stderr, "oversize messages\n");
        world_start(&w, NULL, o, o);
        link_open(&w, w.port, &l);
        max = l.cinfo.max_message;
        ck_assert_msg(max > 1000 && max < 1400, "client max_message %u (MTU 1400)", max);
        ck_assert_msg(l.acc.info.max_message > 1000 && l.acc.info.max_message < 1400,
                      "server max_message %u", l.acc.info.max_message);
        memset(out, 'm', sizeof(out));

        /* exactly the limit: goes through whole */
        out[0] = 'A';
        out[max - 1] = 'Z';
        send_message(l.cfd, out, max);
        ck_assert_int_eq(recv_message(&w, l.sfd, in, sizeof(in), slack(5000)), max);
        ck_assert(memcmp(in, out, max) == 0);

        /* one byte more, and far more (past any scratch buffer): an event each, never a cut
         * record; then the connection works on */
        for (unsigned k = 0; k < 2; k++) {
                size_t size = k == 0 ? max + 1 : 100000;

                send_message(l.cfd, out, size);
                ck_assert_msg(wait_event(w.cc, &w.crec, TLSC_EVENT_MESSAGE_TOO_LARGE, l.conn,
                                         slack(5000), &ev),
                              "no MessageTooLarge event for %zu bytes", size);
                ck_assert_uint_eq(ev.size, size);
                ck_assert_uint_eq(ev.max_message, max);
                send_message(l.cfd, "after", 5);
                ck_assert_int_eq(recv_message(&w, l.sfd, in, sizeof(in), slack(5000)), 5);
                ck_assert(memcmp(in, "after", 5) == 0);
        }

        /* the same from the server's app */
        max = l.acc.info.max_message;
        send_message(l.sfd, out, max + 1);
        ck_assert_msg(
                wait_event(w.sc, &w.srec, TLSC_EVENT_MESSAGE_TOO_LARGE, l.sconn, slack(5000), &ev),
                "no MessageTooLarge event on the server side");
        ck_assert_uint_eq(ev.size, max + 1);
        ck_assert_uint_eq(ev.max_message, max);
        send_message(l.sfd, out, max);
        ck_assert_int_eq(recv_message(&w, l.cfd, in, sizeof(in), slack(5000)), max);
        ck_assert(memcmp(in, out, max) == 0);
        ck_assert(!has_event(&w.crec, TLSC_EVENT_DISCONNECTED, 0));
        ck_assert(!has_event(&w.srec, TLSC_EVENT_DISCONNECTED, 0));
        link_close(&l);

        /* a session with a smaller path MTU has a smaller limit, enforced the same way */
        {
                tlsc_session_options small = { .mtu = 700 };
                uint64_t keep = w.cs;

                w.cs = dtls_session(w.cc, TLSC_ROLE_CLIENT, small);
                link_open(&w, w.port, &l);
                w.cs = keep;
                max = l.cinfo.max_message;
                ck_assert_msg(max > 500 && max < 700, "max_message %u at MTU 700", max);
                send_message(l.cfd, out, max);
                ck_assert_int_eq(recv_message(&w, l.sfd, in, sizeof(in), slack(5000)), max);
                send_message(l.cfd, out, max + 1);
                ck_assert(wait_event(w.cc, &w.crec, TLSC_EVENT_MESSAGE_TOO_LARGE, l.conn,
                                     slack(5000), &ev));
                ck_assert_uint_eq(ev.size, max + 1);
                link_close(&l);
        }
        world_stop(&w);
}
END_TEST

/* ==== 3. the retransmission limit ==== */

static int udp_socket(const char *address, unsigned port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(inet_pton(AF_INET, address, &sa.sin_addr), 1);
        ck_assert_msg(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "bind %s: %s", address,
                      strerror(errno));
        return fd;
}

static unsigned local_port(int fd) {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);

        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        return ntohs(sa.sin_port);
}

/* Whether d is a DTLS record carrying the start of a handshake message of this type. */
static bool is_handshake(const uint8_t *d, size_t n, uint8_t msg_type) {
        return n >= 13 + 12 && d[0] == 22 && d[1] == 0xfe && d[13] == msg_type;
}

/* The kernel's receive time of the next datagram on udp (SO_TIMESTAMPNS must be on), in ms of
 * CLOCK_REALTIME: when tlsd sent it, whenever this process gets to read it. Returns the size,
 * or -1 when nothing waits. */
static ssize_t recv_stamped(int udp, uint8_t *buf, size_t size, long *ret_ms) {
        char control[CMSG_SPACE(sizeof(struct timespec))];
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = sizeof(control) };
        ssize_t k = recvmsg(udp, &mh, MSG_DONTWAIT);

        if (k < 0)
                return -1;
        *ret_ms = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;

                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                        *ret_ms = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
                }
        ck_assert_msg(*ret_ms >= 0, "no receive timestamp");
        return k;
}

static long realtime_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads the datagrams on a silent socket while waiting for the Timeout event: the kernel's
 * receive times in at[] (ms after t0_real, a CLOCK_REALTIME reading), their number returned. */
static unsigned watch_silent_peer(World *w, int udp, uint64_t conn, long t0_real, long timeout_ms,
                                  Ev *ret, long *at, unsigned at_max) {
        long deadline = now_ms() + timeout_ms;
        unsigned n = 0;

        while (!take_event(&w->crec, TLSC_EVENT_TIMEOUT, conn, ret)) {
                struct pollfd p[2] = {
                        { .fd = udp, .events = POLLIN },
                        { .fd = tlsc_get_fd(w->cc), .events = POLLIN },
                };
                uint8_t d[2048];
                ssize_t k;
                long stamp;

                ck_assert_msg(!has_event(&w->crec, TLSC_EVENT_HANDSHAKE_FAILED, conn),
                              "the handshake failed instead of pausing with a Timeout event");
                ck_assert_msg(now_ms() < deadline, "no Timeout event in %ld ms", timeout_ms);
                (void) poll(p, 2, 50);
                while ((k = recv_stamped(udp, d, sizeof(d), &stamp)) > 0) {
                        ck_assert_msg(is_handshake(d, (size_t) k, 1),
                                      "datagram %u is not a ClientHello", n);
                        if (n < at_max)
                                at[n] = stamp - t0_real;
                        n++;
                }
                dispatch(w->cc);
        }
        return n;
}

/* _i 0: a client offering DTLS 1.3 and 1.2 (the default), 1: DTLS 1.2 only */
START_TEST(test_retransmission_timeout) {
        tlsc_session_options so = {}, co = { .dtls_timeout_initial_ms = 100,
                                             .dtls_timeout_max_ms = 400,
                                             .dtls_retries = 3,
                                             .version_min = _i == 1 ? DTLS12 : 0,
                                             .version_max = _i == 1 ? DTLS12 : 0 };
        tlsc_connection_info info;
        long at[16] = {}, t0, t0_real, elapsed;
        unsigned n, port;
        uint64_t conn, conn2;
        int udp, r, one = 1;
        World w;
        Ev ev;

        fprintf(stderr, "retransmission timeout (%s)\n", _i == 1 ? "DTLS 1.2" : "DTLS 1.3 and 1.2");
        world_start(&w, NULL, so, co);
        udp = udp_socket("127.0.0.1", 0); /* bound, never answers */
        port = local_port(udp);
        /* the kernel's receive times: this process may read late on a loaded machine */
        ck_assert_int_eq(setsockopt(udp, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)), 0);

        ck_assert_int_eq(tlsc_connection_create(w.cc, w.cs, AF_INET, &conn), 0);
        t0 = now_ms();
        t0_real = realtime_ms();
        ck_assert_int_eq(tlsc_connection_connect(w.cc, conn, "127.0.0.1", port, NULL), 0);
        n = watch_silent_peer(&w, udp, conn, t0_real, slack(30000), &ev, at, 16);
        elapsed = ev.at - t0;
        fprintf(stderr,
                "  Timeout event after %ld ms (schedule 100+200+400+400 = 1100), "
                "retries %u, %u ClientHellos at %ld %ld %ld %ld ms\n",
                elapsed, ev.retries, n, at[0], at[1], at[2], at[3]);
        ck_assert_uint_eq(ev.retries, 3);
        /* not before the schedule ran (later is a loaded machine's right) */
        ck_assert_msg(elapsed >= 900, "Timeout after %ld ms", elapsed);
        /* The first flight and its 3 retransmissions, each one datagram, doubling gaps.
         * KNOWN FAILURE for DTLS 1.3 (_i == 0) with wolfSSL 5.7.2 as built by scripts/setup:
         * Dtls13RtxSendBuffered() (src/dtls13.c) skips a retransmission less than
         * DTLS13_MIN_RTX_INTERVAL = 1 s after the previous one, counted in time(0) seconds, so
         * tlsd's timer fires at 100, 300 and 700 ms but at most two ClientHellos go out (the
         * Timeout event still says 3). Fixed by setting that interval to 0 in the wolfSSL build
         * (tlsd schedules retransmissions itself); verified: then 4 go out at 0/100/300/700.
         * The gap check also caught a second defect, visible under valgrind: the rtx timer is
         * armed relative to sd_event_now() (the loop iteration's start), not to when the flight
         * left, so a slow handshake step shortens the first gap. */
        ck_assert_msg(n == 4, "%u ClientHellos (the first and %u retransmissions) instead of 4", n,
                      n > 0 ? n - 1 : 0);
        /* Each gap at least half its interval (100, 200, 400 ms): the times are the kernel's,
         * so only tlsd's own lateness moves them, and lateness lengthens a gap before it can
         * shorten the next by as much; too early by half is a schedule not kept. */
        ck_assert_msg(at[1] - at[0] >= 50 && at[2] - at[1] >= 100 && at[3] - at[2] >= 200,
                      "retransmissions came too early: %ld %ld %ld %ld ms", at[0], at[1], at[2],
                      at[3]);
        /* the connection waits for the app, quietly */
        ck_assert_int_eq(tlsc_connection_info_get(w.cc, conn, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_HANDSHAKE);
        {
                struct pollfd p = { .fd = udp, .events = POLLIN };

                ck_assert_msg(poll(&p, 1, 600) == 0,
                              "retransmissions went on after the Timeout event");
        }

        /* Retry: retransmits at once and runs the schedule again, up to another Timeout */
        t0 = now_ms();
        t0_real = realtime_ms();
        r = tlsc_connection_retry(w.cc, conn);
        ck_assert_msg(r == 0, "retry: %s: %s", tlsd_strerror(r), tlsc_last_error_message(w.cc));
        n = watch_silent_peer(&w, udp, conn, t0_real, slack(30000), &ev, at, 16);
        elapsed = ev.at - t0;
        fprintf(stderr, "  after Retry: %u ClientHellos (first at %ld ms), Timeout after %ld ms\n",
                n, at[0], elapsed);
        ck_assert_msg(n == 4, "%u ClientHellos after Retry instead of 4", n);
        ck_assert_uint_eq(ev.retries, 3);
        ck_assert_msg(elapsed >= 900, "second Timeout after %ld ms", elapsed);
        ck_assert_int_eq(tlsc_connection_info_get(w.cc, conn, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_HANDSHAKE);
        /* nothing to retry while the schedule runs */
        ck_assert_int_eq(tlsc_connection_retry(w.cc, conn), 0);
        ck_assert_int_lt(tlsc_connection_retry(w.cc, conn), 0);
        ck_assert_int_eq(tlsc_connection_destroy(w.cc, conn), 0);

        /* blocking connect: the Timeout ends the wait with TLSD_ERR_TIMEOUT; the connection
         * stays */
        if (_i == 1)
                goto done;
        ck_assert_int_eq(tlsc_connection_create(w.cc, w.cs, AF_INET, &conn2), 0);
        t0 = now_ms();
        r = tlsc_connect(w.cc, conn2, "127.0.0.1", port, NULL, &info);
        elapsed = now_ms() - t0;
        fprintf(stderr, "  blocking connect: %s after %ld ms\n", tlsd_strerror(r), elapsed);
        ck_assert_int_eq(r, -TLSD_ERR_TIMEOUT);
        ck_assert_msg(elapsed >= 900, "blocking connect took %ld ms", elapsed);
        ck_assert_int_eq(tlsc_connection_info_get(w.cc, conn2, &info), 0);
        ck_assert_int_eq(info.state, TLSC_STATE_HANDSHAKE);
        ck_assert_int_eq(tlsc_connection_destroy(w.cc, conn2), 0);
done:
        close(udp);
        world_stop(&w);
}
END_TEST

/* A handshake the client refuses: the HandshakeFailed event says why (error, verification
 * result, the alert tlsd sent, the message), on the DTLS path as on the TLS one. */
START_TEST(test_handshake_failed_reason) {
        /* the server's certificate is for localhost: a name it does not have */
        tlsc_session_options so = {}, co = { .server_name = "wrong.example" };
        uint64_t conn;
        World w;
        Ev ev;

        world_start(&w, NULL, so, co);
        ck_assert_int_eq(tlsc_connection_create(w.cc, w.cs, AF_INET, &conn), 0);
        ck_assert_int_eq(tlsc_connection_connect(w.cc, conn, "127.0.0.1", w.port, NULL), 0);
        ck_assert_msg(
                wait_event(w.cc, &w.crec, TLSC_EVENT_HANDSHAKE_FAILED, conn, slack(30000), &ev),
                "no HandshakeFailed event");
        ck_assert(ev.has_info);
        fprintf(stderr, "  HandshakeFailed: %s, verification %s, alert %d: %s\n",
                tlsd_strerror(ev.info.error), tlsc_verify_result_name(ev.info.verify_result),
                ev.info.alert, ev.info.message);
        ck_assert_msg(ev.info.error == -TLSD_ERR_VERIFY, "error %s", tlsd_strerror(ev.info.error));
        ck_assert_msg(ev.info.verify_result == TLSC_VERIFY_HOSTNAME_MISMATCH, "verification %s",
                      tlsc_verify_result_name(ev.info.verify_result));
        /* 42 bad_certificate: what tlsd tells a server whose name does not match */
        ck_assert_msg(ev.info.alert == 42, "alert %d", ev.info.alert);
        ck_assert_msg(strstr(ev.info.message, "hostname-mismatch"), "message '%s'",
                      ev.info.message);
        /* nothing reached the server's app */
        ck_assert(!has_event(&w.srec, TLSC_EVENT_ACCEPTED, 0));
        ck_assert_int_eq(tlsc_connection_destroy(w.cc, conn), 0);
        world_stop(&w);
}
END_TEST

/* ==== 4. loss, duplication, reordering ==== */

/* Client app sends `total` messages through the relay; the server app collects them. Lossy:
 * a window of messages in flight, a message counting as lost once it is 100 ms old; lossless:
 * bursts smaller than the replay window, each waited for. Returns how many arrived. */
static unsigned stream_messages(World *w, const Link *l, uint32_t total, uint64_t seed,
                                bool lossless, unsigned *ret_duplicates) {
        /* burst < 64, wolfSSL's replay window: nothing in a burst is so far behind the newest
         * record that DTLS must drop it as too old */
        const unsigned window = 64, burst = 56;
        const long expire_ms = 100, quiet_ms = 500;
        long *sent_at = calloc(total, sizeof(long));
        bool *seen = calloc(total, sizeof(bool));
        long deadline = now_ms() + slack(60000), last_activity = now_ms();
        static uint8_t buf[BUF_MAX];
        unsigned delivered = 0, duplicates = 0;
        uint32_t next = 0, lo = 0;
        bool blocked = false;

        ck_assert_ptr_nonnull(sent_at);
        ck_assert_ptr_nonnull(seen);
        fcntl(l->cfd, F_SETFL, fcntl(l->cfd, F_GETFL) | O_NONBLOCK);
        for (;;) {
                long now = now_ms();
                unsigned budget = 0;
                struct pollfd p[4];
                ssize_t n;

                if (lossless) {
                        if (delivered == next)
                                budget = burst;
                } else {
                        unsigned outstanding = 0;

                        while (lo < next && (seen[lo] || now - sent_at[lo] > expire_ms))
                                lo++;
                        for (uint32_t i = lo; i < next; i++)
                                outstanding += !seen[i];
                        budget = outstanding < window ? window - outstanding : 0;
                }
                for (; budget > 0 && next < total && !blocked; budget--) {
                        size_t size = msg_make(seed, next, buf);

                        n = send(l->cfd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n < 0 && errno == EAGAIN) {
                                blocked = true;
                                break;
                        }
                        ck_assert_msg(n == (ssize_t) size, "send: %s",
                                      n < 0 ? strerror(errno) : "short");
                        sent_at[next++] = now;
                        last_activity = now;
                }
                if (next == total &&
                    (delivered == total || (!lossless && now - last_activity > quiet_ms)))
                        break;
                if (now > deadline || (lossless && now - last_activity > slack(5000))) {
                        fprintf(stderr, "  stalled: sent %u, delivered %u\n", next, delivered);
                        break;
                }

                p[0] = (struct pollfd){ .fd = l->sfd, .events = POLLIN };
                p[1] = (struct pollfd){ .fd = l->cfd, .events = blocked ? POLLOUT : 0 };
                p[2] = (struct pollfd){ .fd = tlsc_get_fd(w->sc), .events = POLLIN };
                p[3] = (struct pollfd){ .fd = tlsc_get_fd(w->cc), .events = POLLIN };
                (void) poll(p, 4, 5);
                if (p[1].revents & POLLOUT)
                        blocked = false;
                dispatch(w->sc);
                dispatch(w->cc);
                while ((n = recv(l->sfd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC)) > 0) {
                        uint32_t seq;

                        ck_assert_msg(msg_check(seed, buf, (size_t) n, total, &seq),
                                      "a corrupted message of %zd bytes was delivered", n);
                        if (seen[seq]) {
                                duplicates++;
                                continue;
                        }
                        seen[seq] = true;
                        delivered++;
                        last_activity = now_ms();
                }
                ck_assert_msg(n < 0 && errno == EAGAIN, "server app: recv %zd: %s", n,
                              n < 0 ? strerror(errno) : "end of stream");
        }
        ck_assert(!has_event(&w->crec, TLSC_EVENT_DISCONNECTED, 0));
        ck_assert(!has_event(&w->srec, TLSC_EVENT_DISCONNECTED, 0));
        ck_assert(!has_event(&w->crec, TLSC_EVENT_MESSAGE_TOO_LARGE, 0));
        free(sent_at);
        free(seen);
        *ret_duplicates = duplicates;
        return delivered;
}

static void loss_run(unsigned version, const char *impairments, bool lossless) {
        const uint32_t total = volume("TLSD_TEST_DTLS_MESSAGES", 10000, 1000);
        tlsc_session_options o = { .version_min = version,
                                   .version_max = version,
                                   .dtls_timeout_initial_ms = 200,
                                   .dtls_timeout_max_ms = 1600,
                                   .dtls_retries = 10 };
        char stats[2048];
        unsigned delivered, duplicates;
        long t0, handshake_ms;
        Relay relay;
        World w;
        Link l;

        fprintf(stderr, "%s through udp-relay %s: %u messages\n",
                version == DTLS13 ? "DTLS 1.3" : "DTLS 1.2", impairments, total);
        world_start(&w, NULL, o, o);
        relay_start(&relay, &w.d, w.port, impairments);
        t0 = now_ms();
        link_open(&w, relay.port, &l);
        handshake_ms = now_ms() - t0;
        ck_assert_str_eq(l.cinfo.version, version == DTLS13 ? "DTLSv1.3" : "DTLSv1.2");

        t0 = now_ms();
        delivered = stream_messages(&w, &l, total, 0x5eed0000u + version, lossless, &duplicates);
        relay_stop(&relay, stats, sizeof(stats));
        fprintf(stderr,
                "  handshake %ld ms; %u of %u messages delivered (%.1f%%) in %ld ms, "
                "%u duplicates delivered; relay: dropped c2s %ld s2c %ld, duplicated %ld, "
                "reordered %ld, delayed %ld, queue_overflow %ld\n",
                handshake_ms, delivered, total, 100.0 * delivered / total, now_ms() - t0,
                duplicates, stat_value(stats, "dropped_c2s"), stat_value(stats, "dropped_s2c"),
                stat_value(stats, "duplicated"), stat_value(stats, "reordered"),
                stat_value(stats, "delayed"), stat_value(stats, "queue_overflow"));
        /* The relay really did impair the traffic. */
        ck_assert_int_gt(stat_value(stats, "duplicated"), 0);
        ck_assert_int_gt(stat_value(stats, "reordered"), 0);
        ck_assert_int_eq(stat_value(stats, "queue_overflow"), 0);
        ck_assert_uint_eq(duplicates, 0);
        if (lossless)
                ck_assert_msg(delivered == total, "%u of %u messages without loss", delivered,
                              total);
        else {
                ck_assert_int_gt(stat_value(stats, "dropped_c2s"), 0);
                ck_assert_msg(delivered >= total * 6 / 10, "only %u of %u messages at 20%% loss",
                              delivered, total);
        }
        link_close(&l);
        world_stop(&w);
}

START_TEST(test_loss) {
        loss_run(_i == 0 ? DTLS13 : DTLS12,
                 "--seed 20240601 --drop 20 --dup 5 --reorder 5 --delay-ms 20", false);
}
END_TEST

START_TEST(test_dup_reorder_no_loss) {
        loss_run(DTLS13, "--seed 777 --drop 0 --dup 10 --reorder 10 --delay-ms 20", true);
}
END_TEST

/* ==== 5. many peers on one port ==== */

typedef struct Peer {
        uint64_t conn, sconn;
        int fd, sfd;
        uint32_t seq; /* the message waiting for its echo */
        long sent_at;
        unsigned resends, stale;
} Peer;

/* Message seq of peer i: peer index, seq, then 32..287 bytes derived from both. */
static size_t peer_message(unsigned i, uint32_t seq, uint8_t *buf) {
        uint64_t s = (uint64_t) i << 32 | seq;
        size_t len = 32 + (size_t) (splitmix64(&s) % 256);
        uint32_t h[2] = { htobe32(i), htobe32(seq) };

        memcpy(buf, h, 8);
        fill_random(&s, buf + 8, len);
        return 8 + len;
}

START_TEST(test_many_peers) {
        const unsigned peers = volume("TLSD_TEST_DTLS_PEERS", 100, 10);
        const unsigned rounds = volume("TLSD_TEST_DTLS_ROUNDS", 1000, 100);
        const long resend_ms = slack(500);
        tlsc_session_options o = {};
        Peer *peer = calloc(peers, sizeof(Peer));
        struct pollfd *p = calloc(2 * peers + 2, sizeof(struct pollfd));
        static uint8_t buf[BUF_MAX], want[BUF_MAX];
        unsigned done = 0, accepted = 0, connected = 0, resends = 0, stale = 0;
        long t0, deadline;
        World w;

        fprintf(stderr, "%u peers on one port, %u echoed messages each\n", peers, rounds);
        ck_assert_ptr_nonnull(peer);
        ck_assert_ptr_nonnull(p);
        world_start(&w,
                    "[Limits]\nMaxPendingHandshakesPerUser=2000\nListenerMaxPending=1000\n"
                    "ListenerMaxConnections=2000\nMaxConnectionsPerUser=10000\n",
                    o, o);

        /* all handshakes at once, on one control client */
        t0 = now_ms();
        for (unsigned i = 0; i < peers; i++) {
                peer[i].fd = peer[i].sfd = -1;
                ck_assert_int_eq(tlsc_connection_create(w.cc, w.cs, AF_INET, &peer[i].conn), 0);
                ck_assert_int_eq(
                        tlsc_connection_connect(w.cc, peer[i].conn, "127.0.0.1", w.port, NULL), 0);
        }
        deadline = now_ms() + slack(60000);
        while (connected < peers || accepted < peers) {
                struct pollfd c[2] = { { .fd = tlsc_get_fd(w.cc), .events = POLLIN },
                                       { .fd = tlsc_get_fd(w.sc), .events = POLLIN } };
                Ev ev;

                ck_assert_msg(now_ms() < deadline, "%u connected, %u accepted of %u", connected,
                              accepted, peers);
                (void) poll(c, 2, 100);
                dispatch(w.cc);
                dispatch(w.sc);
                ck_assert_msg(!take_event(&w.crec, TLSC_EVENT_HANDSHAKE_FAILED, 0, &ev),
                              "a handshake failed: %s", ev.info.message);
                ck_assert_msg(!take_event(&w.crec, TLSC_EVENT_TIMEOUT, 0, &ev),
                              "a handshake timed out");
                while (take_event(&w.crec, TLSC_EVENT_HANDSHAKE_DONE, 0, &ev)) {
                        unsigned i;

                        for (i = 0; i < peers && peer[i].conn != ev.connection; i++)
                                ;
                        ck_assert_uint_lt(i, peers);
                        ck_assert_int_eq(peer[i].fd, -1);
                        peer[i].fd = ev.fd;
                        connected++;
                }
                while (take_event(&w.srec, TLSC_EVENT_ACCEPTED, 0, &ev)) {
                        ck_assert_uint_eq(ev.listener, w.listener);
                        peer[accepted].sconn = ev.connection;
                        peer[accepted++].sfd = ev.fd;
                }
        }
        fprintf(stderr, "  %u handshakes in %ld ms\n", peers, now_ms() - t0);

        /* ping-pong: each client sends its next message once the previous one came back */
        t0 = now_ms();
        for (unsigned i = 0; i < peers; i++) {
                send_message(peer[i].fd, buf, peer_message(i, 0, buf));
                peer[i].sent_at = t0;
        }
        deadline = now_ms() + slack(120000);
        while (done < peers) {
                long now;

                ck_assert_msg(now_ms() < deadline, "only %u of %u peers finished", done, peers);
                for (unsigned i = 0; i < peers; i++) {
                        p[i] = (struct pollfd){ .fd = peer[i].fd, .events = POLLIN };
                        p[peers + i] = (struct pollfd){ .fd = peer[i].sfd, .events = POLLIN };
                }
                p[2 * peers] = (struct pollfd){ .fd = tlsc_get_fd(w.cc), .events = POLLIN };
                p[2 * peers + 1] = (struct pollfd){ .fd = tlsc_get_fd(w.sc), .events = POLLIN };
                (void) poll(p, 2 * peers + 2, 50);
                if (p[2 * peers].revents)
                        dispatch(w.cc);
                if (p[2 * peers + 1].revents)
                        dispatch(w.sc);
                /* the server app echoes */
                for (unsigned i = 0; i < peers; i++) {
                        ssize_t n;

                        if (!(p[peers + i].revents & POLLIN))
                                continue;
                        while ((n = recv(peer[i].sfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                                (void) send(peer[i].sfd, buf, (size_t) n,
                                            MSG_DONTWAIT | MSG_NOSIGNAL);
                }
                now = now_ms();
                /* the clients check the echo and go on */
                for (unsigned i = 0; i < peers; i++) {
                        Peer *q = &peer[i];
                        ssize_t n;

                        if (q->seq >= rounds)
                                continue;
                        while ((p[i].revents & POLLIN) && q->seq < rounds &&
                               (n = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                                uint32_t h[2];
                                size_t size;

                                ck_assert_int_ge(n, 8);
                                memcpy(h, buf, 8);
                                ck_assert_msg(be32toh(h[0]) == i, "peer %u got peer %u's message",
                                              i, be32toh(h[0]));
                                size = peer_message(i, be32toh(h[1]), want);
                                ck_assert_msg((size_t) n == size && memcmp(buf, want, size) == 0,
                                              "peer %u: echo of %u corrupted", i, be32toh(h[1]));
                                if (be32toh(h[1]) != q->seq) {
                                        ck_assert_uint_lt(be32toh(h[1]), q->seq);
                                        q->stale++; /* the echo of a resent one, again */
                                        continue;
                                }
                                if (++q->seq == rounds) {
                                        done++;
                                        break;
                                }
                                send_message(q->fd, buf, peer_message(i, q->seq, buf));
                                q->sent_at = now;
                        }
                        if (q->seq < rounds && now - q->sent_at > resend_ms) {
                                /* lost on the way (or dropped by a busy server side): again */
                                send_message(q->fd, buf, peer_message(i, q->seq, buf));
                                q->sent_at = now;
                                q->resends++;
                        }
                }
        }
        for (unsigned i = 0; i < peers; i++) {
                resends += peer[i].resends;
                stale += peer[i].stale;
        }
        fprintf(stderr, "  %u x %u round trips in %ld ms, %u resends, %u stale echoes\n", peers,
                rounds, now_ms() - t0, resends, stale);
        ck_assert(!has_event(&w.crec, TLSC_EVENT_DISCONNECTED, 0));
        ck_assert(!has_event(&w.srec, TLSC_EVENT_DISCONNECTED, 0));
        for (unsigned i = 0; i < peers; i++) {
                close(peer[i].fd);
                close(peer[i].sfd);
        }
        free(peer);
        free(p);
        world_stop(&w);
}
END_TEST

/* ==== 6. Connection ID across a NAT rebinding ==== */

/* Sends message k; whether its echo comes back within timeout_ms (other echoes are skipped). */
static bool echo_once(World *w, const Link *l, unsigned k, long timeout_ms) {
        uint8_t msg[64], in[BUF_MAX];
        long deadline = now_ms() + timeout_ms;
        size_t n = (size_t) snprintf((char *) msg, sizeof(msg), "message %u", k);

        send_message(l->cfd, msg, n);
        while (now_ms() < deadline) {
                struct pollfd p[4] = {
                        { .fd = l->sfd, .events = POLLIN },
                        { .fd = l->cfd, .events = POLLIN },
                        { .fd = tlsc_get_fd(w->sc), .events = POLLIN },
                        { .fd = tlsc_get_fd(w->cc), .events = POLLIN },
                };
                ssize_t r;

                (void) poll(p, 4, 20);
                dispatch(w->sc);
                dispatch(w->cc);
                while ((r = recv(l->sfd, in, sizeof(in), MSG_DONTWAIT)) > 0)
                        send_message(l->sfd, in, (size_t) r);
                while ((r = recv(l->cfd, in, sizeof(in), MSG_DONTWAIT)) > 0)
                        if ((size_t) r == n && memcmp(in, msg, n) == 0)
                                return true;
        }
        return false;
}

static void rebind_run(bool cid) {
        tlsc_session_options o = { .version_min = DTLS13,
                                   .version_max = DTLS13,
                                   .dtls_cid = cid,
                                   .dtls_timeout_initial_ms = 200 };
        tlsc_connection_info info;
        char stats[2048];
        unsigned echoed = 0;
        long sent_before;
        Relay relay;
        World w;
        Link l;

        fprintf(stderr, "DTLS 1.3 %s Connection ID, the client's port changes\n",
                cid ? "with" : "without");
        world_start(&w, NULL, o, o);
        relay_start(&relay, &w.d, w.port, "--seed 6");
        link_open(&w, relay.port, &l);
        ck_assert_int_eq(l.cinfo.cid_in_use, cid);
        ck_assert_uint_ne(l.acc.peer_port, 0); /* the relay's upstream port for this client */

        for (unsigned k = 0; k < 20; k++)
                ck_assert_msg(echo_once(&w, &l, k, slack(2000)), "echo %u before the rebinding", k);

        /* the NAT forgets: the client's datagrams now come from another port */
        kill(relay.pid, SIGUSR1);
        {
                long deadline = now_ms() + 5000;

                for (;;) {
                        relay_stats(&relay, stats, sizeof(stats));
                        if (stat_value(stats, "rebinds") == 1)
                                break;
                        ck_assert_msg(now_ms() < deadline, "the relay did not rebind");
                        usleep(10000);
                }
        }
        sent_before = stat_value(stats, "sent_c2s");

        if (cid) {
                for (unsigned k = 100; k < 120; k++)
                        ck_assert_msg(echo_once(&w, &l, k, slack(2000)),
                                      "echo %u after the rebinding: the connection did not "
                                      "survive with a Connection ID",
                                      k);
                ck_assert_int_eq(tlsc_connection_info_get(w.sc, l.sconn, &info), 0);
                ck_assert_int_eq(info.state, TLSC_STATE_OPERATING);
                ck_assert_int_eq(info.cid_in_use, 1);
        } else {
                unsigned reached = 0;
                uint8_t in[BUF_MAX];
                long deadline;

                /* 20 messages, then 2 s in which nothing may come back (or even reach the server
                 * app: the datagrams come from an address the server does not know) */
                for (unsigned k = 100; k < 120; k++) {
                        char msg[32];

                        snprintf(msg, sizeof(msg), "message %u", k);
                        send_message(l.cfd, msg, strlen(msg));
                }
                deadline = now_ms() + 2000;
                while (now_ms() < deadline) {
                        struct pollfd p[4] = {
                                { .fd = l.sfd, .events = POLLIN },
                                { .fd = l.cfd, .events = POLLIN },
                                { .fd = tlsc_get_fd(w.sc), .events = POLLIN },
                                { .fd = tlsc_get_fd(w.cc), .events = POLLIN },
                        };
                        ssize_t r;

                        (void) poll(p, 4, 50);
                        dispatch(w.sc);
                        dispatch(w.cc);
                        while ((r = recv(l.sfd, in, sizeof(in), MSG_DONTWAIT)) > 0) {
                                reached++;
                                send_message(l.sfd, in, (size_t) r);
                        }
                        while ((r = recv(l.cfd, in, sizeof(in), MSG_DONTWAIT)) > 0)
                                echoed++;
                }
                fprintf(stderr,
                        "  after the rebinding: %u of 20 reached the server app, "
                        "%u echoed\n",
                        reached, echoed);
                ck_assert_msg(echoed == 0 && reached == 0,
                              "without a Connection ID the connection survived the rebinding: "
                              "%u messages reached the server app, %u echoes came back",
                              reached, echoed);
                ck_assert_int_eq(tlsc_connection_info_get(w.sc, l.sconn, &info), 0);
                ck_assert_int_eq(info.cid_in_use, 0);
        }
        relay_stop(&relay, stats, sizeof(stats));
        fprintf(stderr, "  relay: rebinds %ld, sent c2s %ld (%ld after the rebinding)\n",
                stat_value(stats, "rebinds"), stat_value(stats, "sent_c2s"),
                stat_value(stats, "sent_c2s") - sent_before);
        /* the messages did leave the new port towards the server */
        ck_assert_int_ge(stat_value(stats, "sent_c2s") - sent_before, 20);
        /* the server side says so from the start, too */
        ck_assert_msg(l.acc.info.cid_in_use == cid, "Accepted event: cid_in_use %d",
                      l.acc.info.cid_in_use);
        link_close(&l);
        world_stop(&w);
}

START_TEST(test_cid_survives_rebinding) {
        rebind_run(true);
}
END_TEST

START_TEST(test_no_cid_does_not_survive) {
        rebind_run(false);
}
END_TEST

/* ==== 6b. a slow app on either side ==== */

static uint64_t bytes_in(tlsc_client *c, uint64_t conn) {
        tlsc_connection_info info;

        ck_assert_int_eq(tlsc_connection_info_get(c, conn, &info), 0);
        return info.bytes_in;
}

/* Dispatches both control clients for ms. */
static void idle(World *w, long ms) {
        long deadline = now_ms() + ms;

        for (long left; (left = deadline - now_ms()) > 0;) {
                struct pollfd p[2] = {
                        { .fd = tlsc_get_fd(w->sc), .events = POLLIN },
                        { .fd = tlsc_get_fd(w->cc), .events = POLLIN },
                };

                (void) poll(p, 2, left > 20 ? 20 : (int) left);
                dispatch(w->sc);
                dispatch(w->cc);
        }
}

/* Sends messages [0, total) of seed on fd, 16 at a time, each batch once the receiving
 * connection (rc, rconn) decrypted all before it, so that nothing is lost on the way; unless
 * it stops decrypting (nothing new for 300 ms: its app's end is full and tlsd waits), then the
 * rest goes at once. Returns how many it had decrypted then (total if it never stopped). */
static uint32_t send_paced(World *w, int fd, uint64_t seed, uint32_t total, tlsc_client *rc,
                           uint64_t rconn) {
        static uint8_t buf[BUF_MAX];
        uint64_t *end = calloc(total, sizeof(uint64_t)); /* bytes up to the end of message i */
        uint64_t sent = 0;
        uint32_t i = 0, decrypted = total;

        ck_assert_ptr_nonnull(end);
        while (i < total) {
                uint64_t got, last = UINT64_MAX;
                long since = now_ms();

                for (unsigned k = 0; k < 16 && i < total; k++, i++) {
                        size_t n = msg_make(seed, i, buf);

                        send_message(fd, buf, n);
                        sent += n;
                        end[i] = sent;
                }
                if (decrypted < total)
                        continue; /* stalled already */
                while ((got = bytes_in(rc, rconn)) < sent) {
                        if (got != last) {
                                last = got;
                                since = now_ms();
                        } else if (now_ms() - since > slack(300)) {
                                for (decrypted = 0; end[decrypted] < got; decrypted++)
                                        ;
                                ck_assert_msg(end[decrypted] == got,
                                              "%llu bytes decrypted: not a message end",
                                              (unsigned long long) got);
                                decrypted++;
                                break;
                        }
                        idle(w, 5);
                }
        }
        free(end);
        return decrypted;
}

/* Reads fd until nothing comes for 500 ms: every message must be intact and in order, and
 * the first `whole` of them messages 0 .. whole - 1, without a gap. Returns how many came. */
static uint32_t drain_in_order(World *w, int fd, uint64_t seed, uint32_t total, uint32_t whole,
                               const char *who) {
        static uint8_t in[BUF_MAX];
        uint32_t n = 0, seq, last = 0;
        ssize_t k;

        while ((k = recv_message(w, fd, in, sizeof(in), slack(500))) > 0) {
                ck_assert_msg(msg_check(seed, in, (size_t) k, total, &seq),
                              "%s: message %u damaged", who, n);
                ck_assert_msg(n >= whole || seq == n, "%s: message %u is #%u: a gap", who, n, seq);
                ck_assert_msg(n == 0 || seq > last, "%s: #%u after #%u", who, seq, last);
                last = seq;
                n++;
        }
        ck_assert_msg(k < 0, "%s: EOF while draining", who);
        return n;
}

/* After the stall: messages one at a time from `from` all reach `to` again. */
static void flows_again(World *w, int from, int to, uint64_t seed, const char *who) {
        static uint8_t buf[BUF_MAX], in[BUF_MAX];

        for (uint32_t i = 0; i < 20; i++) {
                size_t n = msg_make(seed, i, buf);
                uint32_t seq;
                ssize_t k;

                send_message(from, buf, n);
                k = recv_message(w, to, in, sizeof(in), slack(5000));
                ck_assert_msg(k > 0 && msg_check(seed, in, (size_t) k, 20, &seq) && seq == i,
                              "%s: message %u after the app drained did not arrive (%zd)", who, i,
                              k);
        }
}

START_TEST(test_slow_app) {
        /* More than an app's end holds (2 MiB of send buffer on tlsd's side, ~620 bytes a
         * message on average), so that both sides stall. */
        const uint32_t total = 5000;
        const uint64_t seed = 0x51033a99;
        tlsc_session_options o = {};
        uint32_t decrypted, n;
        World w;
        Link l, other;

        fprintf(stderr, "a slow app on either side, %u messages\n", total);
        world_start(&w, NULL, o, o);
        link_open(&w, w.port, &l);

        /* The client owns its UDP socket: while its app does not read, tlsd keeps the message
         * the app could not take and stops reading the socket (the kernel drops what no longer
         * fits there). Once the app reads, it gets everything tlsd decrypted without a gap,
         * that message included, then what waited in the socket. */
        decrypted = send_paced(&w, l.sfd, seed, total, w.cc, l.conn);
        fprintf(stderr, "  client: tlsd stopped reading after %u messages\n", decrypted);
        ck_assert_msg(decrypted < total, "the client side never stalled (%u messages)", total);
        idle(&w, slack(300));
        n = drain_in_order(&w, l.cfd, seed, total, decrypted, "client app");
        fprintf(stderr, "  client app: %u messages in order after the stall\n", n);
        ck_assert_msg(n >= decrypted, "client app: %u messages, tlsd had decrypted %u", n,
                      decrypted);
        flows_again(&w, l.sfd, l.cfd, seed + 1, "client app");

        /* The server shares the listener's socket and never stops reading it: a message its
         * app cannot take yet is dropped once one is waiting, and other connections on the
         * port go on meanwhile. Once the app reads it gets what it held and the waiting one. */
        decrypted = send_paced(&w, l.cfd, seed + 2, total, w.sc, l.sconn);
        ck_assert_msg(decrypted == total, "server: tlsd stopped reading after %u messages",
                      decrypted);
        link_open(&w, w.port, &other);
        ck_assert_msg(echo_once(&w, &other, 1, slack(5000)),
                      "another connection on the port is not served while one app is full");
        n = drain_in_order(&w, l.sfd, seed + 2, total, total, "server app");
        fprintf(stderr, "  server app: %u of %u messages in order after the stall\n", n, total);
        ck_assert_msg(n < total, "the server app took all %u messages: no stall", total);
        flows_again(&w, l.cfd, l.sfd, seed + 3, "server app");

        link_close(&other);
        link_close(&l);
        world_stop(&w);
}
END_TEST

/* ==== 7. spoofed ClientHellos and garbage ==== */

/* The first datagram on udp: a whole ClientHello (length == fragment length, offset 0). */
static size_t receive_hello(int udp, uint8_t *buf, size_t size) {
        struct pollfd p = { .fd = udp, .events = POLLIN };
        ssize_t n;

        ck_assert_msg(poll(&p, 1, (int) slack(5000)) == 1, "no ClientHello came");
        n = recv(udp, buf, size, 0);
        ck_assert_int_gt(n, 0);
        ck_assert(is_handshake(buf, (size_t) n, 1));
        ck_assert(memcmp(buf + 14, buf + 22, 3) == 0 && memcmp(buf + 19, "\0\0\0", 3) == 0);
        return (size_t) n;
}

/* The first datagram a tlsd client sends (default versions: DTLS 1.3 and 1.2 offered). */
static size_t capture_client_hello(World *w, uint8_t *buf, size_t size) {
        uint64_t conn;
        size_t n;
        int udp = udp_socket("127.0.0.1", 0);

        ck_assert_int_eq(tlsc_connection_create(w->cc, w->cs, AF_INET, &conn), 0);
        ck_assert_int_eq(tlsc_connection_connect(w->cc, conn, "127.0.0.1", local_port(udp), NULL),
                         0);
        n = receive_hello(udp, buf, size);
        ck_assert_int_eq(tlsc_connection_destroy(w->cc, conn), 0);
        close(udp);
        return n;
}

/* A DTLS 1.2-only ClientHello, from `openssl s_client -dtls1_2` (answered with a
 * HelloVerifyRequest rather than a HelloRetryRequest). */
static size_t capture_openssl_hello(uint8_t *buf, size_t size) {
        int udp = udp_socket("127.0.0.1", 0), in[2];
        char target[32];
        size_t n;
        pid_t pid;

        snprintf(target, sizeof(target), "127.0.0.1:%u", local_port(udp));
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                dup2(in[0], STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                execlp("openssl", "openssl", "s_client", "-dtls1_2", "-quiet", "-connect", target,
                       (char *) NULL);
                _exit(127);
        }
        close(in[0]);
        n = receive_hello(udp, buf, size);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        close(in[1]);
        close(udp);
        ck_assert_uint_eq(buf[2], 0xff); /* DTLS 1.0 record version, as openssl sends hellos */
        return n;
}

typedef struct Datagram {
        uint8_t data[1500];
        size_t size;
} Datagram;

/* Sends count datagrams to port, the k-th from 127.0.0.(2 + k % 249) on a fresh port, in batches;
 * returns how many of the sources got an answer that is a stateless retry request
 * (HelloVerifyRequest or HelloRetryRequest). */
static unsigned spray(unsigned port, unsigned count, const Datagram *(*make)(unsigned k, void *),
                      void *userdata, long quiet_ms) {
        struct sockaddr_in to = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        enum {
                BATCH = 100
        };
        unsigned answered = 0;

        for (unsigned base = 0; base < count; base += BATCH) {
                struct pollfd p[BATCH];
                bool got[BATCH] = {};
                unsigned n = count - base < BATCH ? count - base : BATCH, left = n;
                long deadline;

                for (unsigned j = 0; j < n; j++) {
                        unsigned k = base + j;
                        const Datagram *d = make(k, userdata);
                        char address[32];

                        snprintf(address, sizeof(address), "127.0.0.%u", 2 + k % 249);
                        p[j] = (struct pollfd){ .fd = udp_socket(address, 0), .events = POLLIN };
                        ck_assert_int_eq(sendto(p[j].fd, d->data, d->size, 0,
                                                (struct sockaddr *) &to, sizeof(to)),
                                         (ssize_t) d->size);
                }
                /* until every source is answered, or quiet_ms after the last answer */
                deadline = now_ms() + slack(quiet_ms);
                while (left > 0 && now_ms() < deadline) {
                        if (poll(p, n, 50) <= 0)
                                continue;
                        deadline = now_ms() + slack(quiet_ms);
                        for (unsigned j = 0; j < n; j++) {
                                uint8_t in[2048];
                                ssize_t k;

                                if (!(p[j].revents & POLLIN))
                                        continue;
                                while ((k = recv(p[j].fd, in, sizeof(in), MSG_DONTWAIT)) > 0)
                                        if (!got[j] && (is_handshake(in, (size_t) k, 3) ||
                                                        is_handshake(in, (size_t) k, 2))) {
                                                got[j] = true;
                                                answered++;
                                                left--;
                                        }
                                if (k < 0 && errno != EAGAIN)
                                        p[j].fd = -p[j].fd - 1; /* ICMP error: stop polling */
                        }
                }
                for (unsigned j = 0; j < n; j++)
                        close(p[j].fd < 0 ? -p[j].fd - 1 : p[j].fd);
        }
        return answered;
}

/* Every spoofed hello is answered, on a loaded machine late: wait long for the last ones (a
 * batch whose answers all came ends at once). Garbage is mostly not answered, and what is
 * not counted: a short wait. */
#define HELLO_QUIET_MS 3000
#define GARBAGE_QUIET_MS 300

typedef struct Hellos {
        Datagram hello[2]; /* tlsd's (DTLS 1.3 and 1.2), openssl's (DTLS 1.2 only) */
        Datagram scratch;
        uint64_t prng;
} Hellos;

static const Datagram *make_spoof(unsigned k, void *userdata) {
        Hellos *h = userdata;

        return &h->hello[k % 2];
}

/* Garbage: random bytes; random bytes behind a DTLS handshake record header (so they reach the
 * cookie exchange); real hellos with a few bytes changed. */
static const Datagram *make_garbage(unsigned k, void *userdata) {
        Hellos *h = userdata;
        Datagram *d = &h->scratch;

        switch (k % 3) {
        case 0:
                d->size = 1 + splitmix64(&h->prng) % 1400;
                fill_random(&h->prng, d->data, d->size);
                break;
        case 1:
                d->size = 13 + splitmix64(&h->prng) % 1300;
                fill_random(&h->prng, d->data, d->size);
                d->data[0] = 22;
                d->data[1] = 0xfe;
                d->data[2] = k % 2 ? 0xfd : 0xff;
                break;
        default:
                *d = h->hello[k % 2];
                for (unsigned j = 0, flips = 1 + splitmix64(&h->prng) % 4; j < flips; j++)
                        d->data[13 + splitmix64(&h->prng) % (d->size - 13)] ^=
                                (uint8_t) (1 + splitmix64(&h->prng) % 255);
                break;
        }
        return d;
}

static void legit_echo(World *w, const char *when) {
        uint8_t in[BUF_MAX];
        Link l;
        Ev ev;

        link_open(w, w->port, &l);
        send_message(l.cfd, when, strlen(when));
        ck_assert_msg(recv_message(w, l.sfd, in, sizeof(in), slack(5000)) == (ssize_t) strlen(when),
                      "no message %s", when);
        send_message(l.sfd, in, strlen(when));
        ck_assert_int_eq(recv_message(w, l.cfd, in, sizeof(in), slack(5000)),
                         (ssize_t) strlen(when));
        ck_assert(memcmp(in, when, strlen(when)) == 0);
        link_close(&l);
        /* gone on both sides before anything is measured */
        ck_assert(wait_event(w->cc, &w->crec, TLSC_EVENT_DISCONNECTED, l.conn, slack(5000), &ev));
        ck_assert(wait_event(w->sc, &w->srec, TLSC_EVENT_DISCONNECTED, l.sconn, slack(5000), &ev));
        ck_assert_int_eq(tlsc_connection_destroy(w->cc, l.conn), 0);
}

static int settled_fds(pid_t pid, int want) {
        long deadline = now_ms() + slack(3000);
        int n;

        while ((n = tk_count_fds(pid)) != want && now_ms() < deadline)
                usleep(50000);
        return n;
}

START_TEST(test_spoofed_hellos) {
        const unsigned count = volume("TLSD_TEST_DTLS_SPOOF", 1000, 200);
        tlsc_session_options o = {};
        Hellos *h = calloc(1, sizeof(Hellos));
        long rss_before, rss_after, rss_garbage, rss_live, per_connection, allowed;
        int fds_before, fds_after, fds_garbage;
        unsigned answered;
        Link live[5];
        World w;
        Ev ev;

        fprintf(stderr, "%u spoofed ClientHellos, %u garbage datagrams\n", count, count);
        ck_assert_ptr_nonnull(h);
        h->prng = 99;
        world_start(&w, NULL, o, o);
        h->hello[0].size = capture_client_hello(&w, h->hello[0].data, sizeof(h->hello[0].data));
        h->hello[1].size = capture_openssl_hello(h->hello[1].data, sizeof(h->hello[1].data));
        fprintf(stderr,
                "  captured ClientHellos of %zu (tlsd, DTLS 1.3 and 1.2) and %zu bytes "
                "(openssl, DTLS 1.2)\n",
                h->hello[0].size, h->hello[1].size);

        /* warm up: a real connection, some hellos and some garbage, so one-time allocations
         * and the allocator's caches are in place before measuring */
        legit_echo(&w, "warm-up");
        answered = spray(w.port, 200, make_spoof, h, HELLO_QUIET_MS);
        ck_assert_uint_ge(answered, 190);
        (void) spray(w.port, 200, make_garbage, h, GARBAGE_QUIET_MS);
        fds_before = settled_fds(w.d.pid, tk_count_fds(w.d.pid));
        rss_before = tk_rss_kib(w.d.pid);

        /* What a DTLS connection costs: a few of them at once. The hellos' growth is judged
         * against it (a ratio, whatever the allocator or sanitizer adds to both): 1/50 of a
         * connection per hello, kept, would show. */
        for (unsigned i = 0; i < 5; i++)
                link_open(&w, w.port, &live[i]);
        rss_live = tk_rss_kib(w.d.pid);
        for (unsigned i = 0; i < 5; i++) {
                link_close(&live[i]);
                ck_assert(wait_event(w.cc, &w.crec, TLSC_EVENT_DISCONNECTED, live[i].conn,
                                     slack(5000), &ev));
                ck_assert(wait_event(w.sc, &w.srec, TLSC_EVENT_DISCONNECTED, live[i].sconn,
                                     slack(5000), &ev));
                ck_assert_int_eq(tlsc_connection_destroy(w.cc, live[i].conn), 0);
        }
        per_connection = (rss_live - rss_before) / 5;
        allowed = (long) count * per_connection / 50;
        ck_assert_int_eq(settled_fds(w.d.pid, fds_before), fds_before);
        fprintf(stderr, "  a DTLS connection: %ld KiB; allowed growth: %ld KiB\n", per_connection,
                allowed);
        if (!under_wrapper())
                ck_assert_msg(per_connection > 0,
                              "5 live connections cost no memory (%ld -> %ld "
                              "KiB): nothing to compare with",
                              rss_before, rss_live);
        rss_before = tk_rss_kib(w.d.pid);

        answered = spray(w.port, count, make_spoof, h, HELLO_QUIET_MS);
        fds_after = settled_fds(w.d.pid, fds_before);
        rss_after = tk_rss_kib(w.d.pid);
        fprintf(stderr,
                "  spoofed hellos: %u of %u answered statelessly; fds %d -> %d, "
                "VmRSS %ld -> %ld KiB (%+ld)\n",
                answered, count, fds_before, fds_after, rss_before, rss_after,
                rss_after - rss_before);
        /* They did reach the cookie exchange (and were answered, not dropped early)... */
        ck_assert_msg(answered >= count * 95 / 100, "only %u of %u hellos answered", answered,
                      count);
        /* ... and cost nothing that stays. (Under valgrind RSS is valgrind's; its leak check at
         * exit is the stricter test.) */
        ck_assert_int_eq(fds_after, fds_before);
        if (!under_wrapper())
                ck_assert_msg(rss_after - rss_before < allowed, "RSS grew by %ld KiB",
                              rss_after - rss_before);
        legit_echo(&w, "after the spoofed hellos");

        answered = spray(w.port, count, make_garbage, h, GARBAGE_QUIET_MS);
        fds_garbage = settled_fds(w.d.pid, fds_before);
        rss_garbage = tk_rss_kib(w.d.pid);
        fprintf(stderr, "  garbage: %u answered (mutated hellos); fds %d, VmRSS %ld KiB (%+ld)\n",
                answered, fds_garbage, rss_garbage, rss_garbage - rss_before);
        ck_assert_int_eq(fds_garbage, fds_before);
        if (!under_wrapper())
                ck_assert_msg(rss_garbage - rss_before < allowed, "RSS grew by %ld KiB",
                              rss_garbage - rss_before);
        legit_echo(&w, "after the garbage");
        /* nobody got past the cookie: no stray Accepted events */
        ck_assert(!has_event(&w.srec, TLSC_EVENT_ACCEPTED, 0));
        free(h);
        world_stop(&w);
}
END_TEST

/* ==== 8. bad DTLS options ==== */

static int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* SessionCreate for a DTLS client session with one u32 attribute: libtlsclient cannot send a
 * zero there (0 means "default" in its struct), the protocol can. Returns the tlsd error. */
static uint32_t raw_session_create(const char *socket_path, TlsdAttrType attr, uint32_t value,
                                   char *message, size_t size) {
        TlsdMsg m = TLSD_MSG_INIT;
        uint8_t reply[TLSD_MSG_MAX];
        struct pollfd p;
        TlsdMsgView v;
        const char *text = "";
        uint32_t err = 0;
        ssize_t n;
        int fd = raw_connect(socket_path);

        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_SESSION_CREATE, 0, 1), 0);
        tlsd_msg_put_u32(&m, TLSD_A_ROLE, TLSC_ROLE_CLIENT);
        tlsd_msg_put_u32(&m, TLSD_A_TRANSPORT, TLSC_TRANSPORT_DTLS);
        tlsd_msg_put_u32(&m, attr, value);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_int_eq(send(fd, m.buf, m.size, MSG_NOSIGNAL), (ssize_t) m.size);
        tlsd_msg_done(&m);
        p = (struct pollfd){ .fd = fd, .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, (int) slack(5000)), 1);
        n = recv(fd, reply, sizeof(reply), 0);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(tlsd_msg_parse(reply, (size_t) n, 0, TLSD_DIR_FROM_DAEMON, &v), 0);
        if (v.header.flags & TLSD_F_ERROR) {
                ck_assert_int_eq(tlsd_msg_get_u32(&v, TLSD_A_ERROR, &err), 0);
                (void) tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &text);
        }
        snprintf(message, size, "%s", text);
        close(fd);
        return err;
}

START_TEST(test_bad_options) {
        tlsc_client *c = NULL;
        char message[512];
        uint64_t s;
        Daemon d;
        int fds;
        const struct {
                const char *what;
                tlsc_session_options o;
                const char *text;
        } bad[] = {
                { "TLS session with an MTU", { .mtu = 1400 }, "DTLS sessions only" },
                { "TLS session with a CID", { .dtls_cid = 1 }, "DTLS sessions only" },
                { "TLS session with retries", { .dtls_retries = 3 }, "DTLS sessions only" },
                { "TLS session with a timeout",
                  { .dtls_timeout_initial_ms = 100 },
                  "DTLS sessions only" },
                { "MTU 10", { .transport = TLSC_TRANSPORT_DTLS, .mtu = 10 }, "MTU" },
                { "MTU 70000", { .transport = TLSC_TRANSPORT_DTLS, .mtu = 70000 }, "MTU" },
                { "65 retries",
                  { .transport = TLSC_TRANSPORT_DTLS, .dtls_retries = 65 },
                  "retransmissions" },
                { "maximum below initial",
                  { .transport = TLSC_TRANSPORT_DTLS,
                    .dtls_timeout_initial_ms = 1000,
                    .dtls_timeout_max_ms = 500 },
                  "timeouts" },
                { "transport 2", { .transport = 2 }, "transport" },
        };

        fprintf(stderr, "bad DTLS options\n");
        tk_daemon_start(&d, NULL);
        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);
        ck_assert_int_eq(tlsc_ping(c, NULL, 0), 0);
        fds = tk_count_fds(d.pid);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &bad[i].o, &s);

                ck_assert_msg(r == -TLSD_ERR_PARAM, "%s: %s (%s)", bad[i].what, tlsd_strerror(r),
                              tlsc_last_error_message(c));
                ck_assert_msg(strstr(tlsc_last_error_message(c), bad[i].text), "%s: message '%s'",
                              bad[i].what, tlsc_last_error_message(c));
        }
        /* retries 0, which only the wire can say */
        ck_assert_uint_eq(
                raw_session_create(d.socket_path, TLSD_A_DTLS_RETRIES, 0, message, sizeof(message)),
                TLSD_ERR_PARAM);
        ck_assert_msg(strstr(message, "retransmissions"), "message '%s'", message);
        ck_assert_uint_eq(
                raw_session_create(d.socket_path, TLSD_A_MTU, 10, message, sizeof(message)),
                TLSD_ERR_PARAM);
        /* a well-formed DTLS session on the wire works */
        ck_assert_uint_eq(
                raw_session_create(d.socket_path, TLSD_A_DTLS_RETRIES, 1, message, sizeof(message)),
                TLSD_OK);

        /* configure: the same rules on an existing session */
        {
                tlsc_session_options dtls = { .transport = TLSC_TRANSPORT_DTLS };
                tlsc_session_options tls = {};
                tlsc_session_options mtu10 = { .mtu = 10 }, retries = { .dtls_retries = 3 };
                uint64_t t;

                ck_assert_int_eq(tlsc_session_create(c, TLSC_ROLE_CLIENT, &dtls, &s), 0);
                ck_assert_int_eq(tlsc_session_create(c, TLSC_ROLE_CLIENT, &tls, &t), 0);
                ck_assert_int_eq(tlsc_session_configure(c, s, &mtu10), -TLSD_ERR_PARAM);
                ck_assert_int_eq(tlsc_session_configure(c, t, &retries), -TLSD_ERR_PARAM);
                ck_assert_int_eq(tlsc_session_configure(c, s, &retries), 0);
                ck_assert_int_eq(tlsc_session_destroy(c, s), 0);
                ck_assert_int_eq(tlsc_session_destroy(c, t), 0);
        }
        /* still serving, nothing held */
        ck_assert_int_eq(tlsc_ping(c, "ok", 2), 0);
        ck_assert_int_eq(settled_fds(d.pid, fds), fds);
        tlsc_close(c);
        stop_daemon(&d);
}
END_TEST

/* ==== 9. Configure on a server session with a live listener ==== */

/* openssl s_client -dtls1_2 against 127.0.0.1:port, trusting the test CA, with the client
 * certificate or without; line is waiting on its stdin (*ret_in, kept open), its output goes to
 * log. */
static pid_t openssl_client(unsigned port, bool with_cert, const char *line, const char *log,
                            int *ret_in) {
        char target[32];
        int in[2];
        pid_t pid;

        snprintf(target, sizeof(target), "127.0.0.1:%u", port);
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(write(in[1], line, strlen(line)), (ssize_t) strlen(line));
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(in[0], STDIN_FILENO);
                dup2(out, STDOUT_FILENO);
                dup2(out, STDERR_FILENO);
                if (with_cert)
                        execlp("openssl", "openssl", "s_client", "-dtls1_2", "-quiet", "-connect",
                               target, "-CAfile", tk_pki("ca.pem"), "-cert", tk_pki("client.pem"),
                               "-key", tk_pki("client.key"), (char *) NULL);
                else
                        execlp("openssl", "openssl", "s_client", "-dtls1_2", "-quiet", "-connect",
                               target, "-CAfile", tk_pki("ca.pem"), (char *) NULL);
                _exit(127);
        }
        close(in[0]);
        *ret_in = in[1];
        return pid;
}

/* The first size-1 bytes of a file, or "" (diagnostics). */
static void read_log(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;

        buf[n > 0 ? n : 0] = 0;
        if (fd >= 0)
                close(fd);
}

/* Sends one stray ClientHello to the listener and waits for its stateless answer: the
 * listener has a ClientHello in flight, as when a client's first flight came before Configure
 * and its second never did. */
static void stray_hello(unsigned port, const uint8_t *hello, size_t size) {
        struct sockaddr_in to = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int udp = udp_socket("127.0.0.1", 0);
        struct pollfd p = { .fd = udp, .events = POLLIN };
        uint8_t in[2048];
        ssize_t n;

        ck_assert_int_eq(sendto(udp, hello, size, 0, (struct sockaddr *) &to, sizeof(to)),
                         (ssize_t) size);
        ck_assert_msg(poll(&p, 1, (int) slack(5000)) == 1, "no answer to the stray ClientHello");
        n = recv(udp, in, sizeof(in), 0);
        ck_assert_msg(n > 0 && (is_handshake(in, (size_t) n, 3) || is_handshake(in, (size_t) n, 2)),
                      "the stray ClientHello got no HelloVerifyRequest/HelloRetryRequest");
        close(udp);
}

START_TEST(test_reconfigure_client_auth) {
        const bool dtls12 = _i == 0;
        tlsc_session_options o = {}, require = { .client_auth = TLSC_CLIENT_AUTH_REQUIRED };
        uint8_t hello[1500], in[BUF_MAX];
        size_t hello_size, ca_size;
        char *ca = tk_slurp(tk_pki("ca.pem"), &ca_size);
        World w;
        Ev ev = {};
        int r;

        fprintf(stderr, "Configure requiring client certificates on a live %s listener\n",
                dtls12 ? "DTLS 1.2 (openssl s_client)" : "DTLS 1.3 (tlsd client)");
        world_start(&w, NULL, o, o);
        /* Before: clients without a certificate are welcome. */
        legit_echo(&w, "before Configure");
        hello_size = dtls12 ? capture_openssl_hello(hello, sizeof(hello))
                            : capture_client_hello(&w, hello, sizeof(hello));
        stray_hello(w.port, hello, hello_size);

        require.ca = ca;
        require.ca_size = ca_size;
        r = tlsc_session_configure(w.sc, w.ss, &require);
        ck_assert_msg(r == 0, "Configure: %s: %s", tlsd_strerror(r), tlsc_last_error_message(w.sc));

        if (dtls12) {
                char log[300], out[4096] = "";
                long deadline = now_ms() + slack(15000);
                bool accepted = false, exited = false;
                int status = 0, fd;
                pid_t pid;

                /* A client without a certificate: refused (handshake failure), never Accepted. */
                snprintf(log, sizeof(log), "%s/s_client-nocert.log", w.d.dir);
                pid = openssl_client(w.port, false, "no certificate\n", log, &fd);
                while (!accepted && !exited && now_ms() < deadline) {
                        exited = waitpid(pid, &status, WNOHANG) == pid;
                        accepted = wait_event(w.sc, &w.srec, TLSC_EVENT_ACCEPTED, 0, 100, &ev);
                }
                if (!exited) {
                        kill(pid, SIGTERM);
                        waitpid(pid, &status, 0);
                }
                close(fd);
                read_log(log, out, sizeof(out));
                ck_assert_msg(!accepted,
                              "DTLS 1.2: a client without a certificate was Accepted after "
                              "Configure required one (peer subject '%s', verify result %d)",
                              ev.info.peer_subject, ev.info.verify_result);
                ck_assert_msg(exited && WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                                      strstr(out, "alert handshake failure"),
                              "openssl s_client without a certificate did not fail with "
                              "handshake_failure: %s",
                              out);
                fprintf(stderr, "  without a certificate: refused (s_client exit %d)\n",
                        WEXITSTATUS(status));

                /* With one: accepted, verified, data arrives. */
                snprintf(log, sizeof(log), "%s/s_client-cert.log", w.d.dir);
                pid = openssl_client(w.port, true, "with a certificate\n", log, &fd);
                ck_assert_msg(wait_event(w.sc, &w.srec, TLSC_EVENT_ACCEPTED, 0, slack(15000), &ev),
                              "a client with a certificate was not accepted");
                ck_assert_int_eq(recv_message(&w, ev.fd, in, sizeof(in), slack(5000)), 19);
                ck_assert(memcmp(in, "with a certificate\n", 19) == 0);
                close(ev.fd);
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
                close(fd);
        } else {
                tlsc_session_options ident = {};
                tlsc_connection_info info;
                size_t cert_size, key_size;
                char *cert, *key;
                uint64_t conn;
                bool accepted;
                Link l;
                int cfd;

                /* A client without a certificate: the handshake fails, never Accepted. */
                ck_assert_int_eq(tlsc_connection_create(w.cc, w.cs, AF_INET, &conn), 0);
                cfd = tlsc_connect(w.cc, conn, "127.0.0.1", w.port, NULL, &info);
                accepted = wait_event(w.sc, &w.srec, TLSC_EVENT_ACCEPTED, 0, slack(1000), &ev);
                ck_assert_msg(!accepted,
                              "DTLS 1.3: a client without a certificate was Accepted after "
                              "Configure required one (%s, peer subject '%s', verify result %d)",
                              ev.info.version, ev.info.peer_subject, ev.info.verify_result);
                ck_assert_msg(cfd < 0 && info.alert == 116,
                              "a client without a certificate was not refused with "
                              "certificate_required: %s (%s)",
                              tlsd_strerror(cfd), info.message);
                fprintf(stderr, "  without a certificate: refused (%s: %s)\n", tlsd_strerror(cfd),
                        info.message);
                ck_assert_int_eq(tlsc_connection_destroy(w.cc, conn), 0);

                /* With one: accepted, verified. */
                cert = tk_slurp(tk_pki("client.pem"), &cert_size);
                key = tk_slurp(tk_pki("client.key"), &key_size);
                ident.cert = cert;
                ident.cert_size = cert_size;
                ident.key = key;
                ident.key_size = key_size;
                ck_assert_int_eq(tlsc_session_configure(w.cc, w.cs, &ident), 0);
                free(cert);
                free(key);
                link_open(&w, w.port, &l);
                ev = l.acc;
                link_close(&l);
        }
        ck_assert_int_eq(ev.info.verify_result, TLSC_VERIFY_OK);
        ck_assert_msg(strstr(ev.info.peer_subject, "tlsd-test-client"), "peer subject '%s'",
                      ev.info.peer_subject);
        fprintf(stderr, "  with a certificate: accepted, peer '%s'\n", ev.info.peer_subject);
        free(ca);
        world_stop(&w);
}
END_TEST

/* A HelloVerifyRequest (DTLS 1.2), or a HelloRetryRequest: a ServerHello whose random is
 * SHA-256("HelloRetryRequest") (RFC 8446 4.1.3). */
static bool is_retry_request(const uint8_t *d, size_t n) {
        static const uint8_t hrr[32] = {
                0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
        };

        return is_handshake(d, n, 3) ||
               (is_handshake(d, n, 2) && n >= 27 + 32 && memcmp(d + 27, hrr, 32) == 0);
}

/* A client whose first flight was answered before Configure and whose second comes after: a
 * relay in this process passes its datagrams on and calls Configure (client certificates
 * required) when the listener's stateless answer comes by, before the client has it. The
 * client, without a certificate, must be refused, and the cookie it got under the old policy
 * must still count: one stateless answer (plus one per retransmitted first flight), no second
 * cookie exchange. */
START_TEST(test_reconfigure_mid_exchange) {
        const bool dtls12 = _i == 0;
        tlsc_session_options o = {}, require = { .client_auth = TLSC_CLIENT_AUTH_REQUIRED };
        struct sockaddr_in server = { .sin_family = AF_INET,
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in client = {};
        socklen_t client_len = 0;
        uint8_t first[1500], d[65536];
        size_t first_size = 0, ca_size;
        unsigned answers = 0, repeats = 0;
        bool configured = false, accepted = false, refused = false;
        char *ca = tk_slurp(tk_pki("ca.pem"), &ca_size);
        int down = udp_socket("127.0.0.1", 0), up = udp_socket("127.0.0.1", 0), fd = -1;
        int status = 0;
        uint64_t conn = 0;
        long deadline;
        pid_t pid = -1;
        char log[300], out[4096] = "";
        World w;
        Ev ev = {}, failed = {};

        fprintf(stderr, "Configure between a %s client's first and second flight\n",
                dtls12 ? "DTLS 1.2 (openssl s_client)" : "DTLS 1.3 (tlsd)");
        world_start(&w, NULL, o, o);
        server.sin_port = htons(w.port);
        require.ca = ca;
        require.ca_size = ca_size;
        if (dtls12) {
                snprintf(log, sizeof(log), "%s/s_client-mid.log", w.d.dir);
                pid = openssl_client(local_port(down), false, "no certificate\n", log, &fd);
        } else {
                ck_assert_int_eq(tlsc_connection_create(w.cc, w.cs, AF_INET, &conn), 0);
                ck_assert_int_eq(
                        tlsc_connection_connect(w.cc, conn, "127.0.0.1", local_port(down), NULL),
                        0);
        }
        deadline = now_ms() + slack(15000);
        while (!accepted && !refused && now_ms() < deadline) {
                struct pollfd p[4] = {
                        { .fd = down, .events = POLLIN },
                        { .fd = up, .events = POLLIN },
                        { .fd = tlsc_get_fd(w.sc), .events = POLLIN },
                        { .fd = tlsc_get_fd(w.cc), .events = POLLIN },
                };
                struct sockaddr_in from;
                socklen_t len = sizeof(from);
                ssize_t n;

                (void) poll(p, 4, 100);
                while ((n = recvfrom(down, d, sizeof(d), 0, (struct sockaddr *) &from, &len)) > 0) {
                        client = from;
                        client_len = len;
                        if (first_size == 0 && (size_t) n <= sizeof(first) && n > 13) {
                                first_size = (size_t) n;
                                memcpy(first, d, first_size);
                        } else if ((size_t) n == first_size &&
                                   memcmp(d + 13, first + 13, first_size - 13) == 0)
                                repeats++; /* the first flight again: the answer was late */
                        ck_assert_int_eq(sendto(up, d, (size_t) n, 0, (struct sockaddr *) &server,
                                                sizeof(server)),
                                         n);
                        len = sizeof(from);
                }
                while ((n = recv(up, d, sizeof(d), 0)) > 0) {
                        if (is_retry_request(d, (size_t) n)) {
                                answers++;
                                if (!configured) {
                                        int r = tlsc_session_configure(w.sc, w.ss, &require);

                                        ck_assert_msg(r == 0, "Configure: %s: %s", tlsd_strerror(r),
                                                      tlsc_last_error_message(w.sc));
                                        configured = true;
                                }
                        }
                        ck_assert_int_gt(client_len, 0);
                        ck_assert_int_eq(sendto(down, d, (size_t) n, 0, (struct sockaddr *) &client,
                                                client_len),
                                         n);
                }
                dispatch(w.sc);
                dispatch(w.cc);
                accepted = take_event(&w.srec, TLSC_EVENT_ACCEPTED, 0, &ev);
                if (dtls12)
                        refused = waitpid(pid, &status, WNOHANG) == pid;
                else
                        refused = take_event(&w.crec, TLSC_EVENT_HANDSHAKE_FAILED, conn, &failed);
        }
        if (dtls12) {
                if (!refused) {
                        kill(pid, SIGTERM);
                        waitpid(pid, &status, 0);
                } else
                        refused = WIFEXITED(status) && WEXITSTATUS(status) != 0;
                close(fd);
                read_log(log, out, sizeof(out));
                fprintf(stderr, "  s_client: %s", out);
        } else
                ck_assert_int_eq(tlsc_connection_destroy(w.cc, conn), 0);
        fprintf(stderr, "  %u stateless answers, %u repeated first flights; %s %s\n", answers,
                repeats,
                accepted  ? "accepted"
                : refused ? "refused"
                          : "neither",
                dtls12 ? "" : failed.info.message);
        ck_assert(configured);
        ck_assert_msg(!accepted,
                      "a client without a certificate that started before Configure was "
                      "Accepted after it required one (%s, peer subject '%s')",
                      ev.info.version, ev.info.peer_subject);
        ck_assert_msg(refused, "the client was neither accepted nor refused");
        /* Refused for the certificate (DTLS 1.2: handshake_failure, 1.3:
         * certificate_required), not for a bad cookie (illegal_parameter). */
        if (dtls12)
                ck_assert_msg(strstr(out, "alert handshake failure"),
                              "refused, but not with handshake_failure: %s", out);
        else
                ck_assert_msg(failed.has_info && failed.info.alert == 116,
                              "refused, but not with certificate_required: %s",
                              failed.info.message);
        ck_assert_msg(answers == 1 + repeats,
                      "%u stateless answers for %u repeated first flights: the cookie given "
                      "before Configure did not count after it",
                      answers, repeats);
        close(down);
        close(up);
        free(ca);
        world_stop(&w);
}
END_TEST

/* One case per test, so `CK_RUN_CASE=loss tests/test-dtls` runs just that one. */
static void add(Suite *s, const char *name, const TTest *t, int loops) {
        TCase *tc = tcase_create(name);

        tcase_set_timeout(tc, under_wrapper() ? 1800 : 240);
        if (loops > 0)
                tcase_add_loop_test(tc, t, 0, loops);
        else
                tcase_add_test(tc, t);
        suite_add_tcase(s, tc);
}

int main(void) {
        Suite *s = suite_create("dtls");
        SRunner *sr;
        int failed;

        /* Freed memory must show in RSS for the spoofing measurement: no ASan quarantine. */
        setenv("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=0", 1);
        signal(SIGPIPE, SIG_IGN);
        add(s, "exchange", test_exchange_and_close_notify, 2);
        add(s, "oversize", test_oversize_message, 0);
        add(s, "timeout", test_retransmission_timeout, 2);
        add(s, "failed", test_handshake_failed_reason, 0);
        add(s, "loss", test_loss, 2);
        add(s, "reorder", test_dup_reorder_no_loss, 0);
        add(s, "peers", test_many_peers, 0);
        add(s, "slow-app", test_slow_app, 0);
        add(s, "cid", test_cid_survives_rebinding, 0);
        add(s, "nocid", test_no_cid_does_not_survive, 0);
        add(s, "spoof", test_spoofed_hellos, 0);
        add(s, "options", test_bad_options, 0);
        add(s, "reconfigure", test_reconfigure_client_auth, 2);
        add(s, "reconfigure-mid", test_reconfigure_mid_exchange, 2);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
