/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dtls-bench: the DTLS load driver of bench/dtls-run.sh (libtlsclient). The client side is
 * always a tlsd DTLS client connection (tlsc_connect: the app gets a SOCK_SEQPACKET fd, one
 * send = one message = one DTLS record). The server is either
 *   --peer=self      a DTLS listener in the same tlsd, served by a thread of this program (its
 *                    own tlsc_client and server session; every TLSC_EVENT_ACCEPTED fd is kept
 *                    and answered), or
 *   --port=PORT      an external DTLS server on --host (openssl s_server -dtls1_2).
 *
 * Tests (one per run; the result is one line of key=value pairs on stdout):
 *   hs COUNT INFLIGHT   COUNT full handshakes by INFLIGHT threads (each its own tlsd client and
 *                       session): connection create, blocking connect (the fd arrives),
 *                       Disconnect (close_notify), close the fd, destroy. No data: an openssl
 *                       s_server cannot echo over DTLS, and the same job is measured against
 *                       both servers. Per handshake (create + connect) latency: median_ms, and
 *                       slow= those over 0.5 s (they waited for a retransmission timer); failed=
 *                       handshakes that did not complete (first error=). With --peer=self the
 *                       listener's ACCEPTED events are counted too (server_accepted=).
 *   tput COUNT up|down  one connection, COUNT messages of --size bytes (default 1200) as fast as
 *                       the path allows. Each message carries its sequence number and a pattern
 *                       derived from it; the receiver counts delivered, duplicate and corrupted
 *                       messages. DTLS is lossy and so is this: the result gives delivered
 *                       messages/s and MB/s (1 MB = 10^6 bytes of message payload) and the loss.
 *                       --peer=self: flow control by a window (--window=W, default 128): the
 *                       receiver acknowledges the highest sequence number seen every W/4
 *                       messages (and on request); the sender keeps at most W messages beyond
 *                       the last acknowledged one, and after --stall-ms (default 20) without an
 *                       acknowledgement sends the next message with an acknowledgement request
 *                       (counted as a stall), so lost acks or data cannot block it. --window=0
 *                       sends with no flow control at all (a blast). At the end the sender
 *                       sends FIN until the receiver's report arrives (if no FIN gets through in
 *                       5 s, the listener thread's counts are read directly: fin_lost=1).
 *                       max_gap= is the longest run of consecutive lost messages. "down": the
 *                       listener's side sends, this client receives.
 *                       --port (openssl s_server -quiet -naccept 1, its stdout piped into
 *                       `dtls-bench count`): "up" only, no flow control possible (s_server
 *                       cannot answer), a blast; then the fd is closed (close_notify ends
 *                       s_server, its stdout's EOF ends the counter) and the counter's report
 *                       (--count-file) is read back.
 *   info                one connection: what was negotiated.
 *   serve               a tlsd DTLS listener for external clients (openssl s_client): prints
 *                       the port on stdout, keeps accepted fds until their EOF, and at SIGTERM
 *                       prints "accepted=N" to stderr.
 *   count --count-file=F  reads data frames from stdin (s_server's output) until EOF and writes
 *                       its report to F.
 * Time: CLOCK_MONOTONIC everywhere, so the counter's timestamps compare with the sender's.
 * Ending a connection: Disconnect (or Destroy) through tlsd first, then close the fd; see
 * chan_close() for why (--close=fd-first reproduces a tlsd hang).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tlsd/client.h"

#define MSG_MAX 65536

static const char *socket_path, *servername = "localhost", *groups = "P-256", *ciphers;
static const char *host = "127.0.0.1", *count_file;
static unsigned port, mtu, version_min, version_max, srv_version_min, srv_version_max;
static unsigned window = 128, stall_ms = 20, dtls_timeout_ms;
static size_t msg_size = 1200;
static bool self_peer, use_cid, close_fd_first;
static char *ca, *cert, *key;
static size_t ca_size, cert_size, key_size;

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("dtls-bench: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ---- messages ----
 * Every message starts with a type byte. Integers little-endian at fixed offsets.
 *   'D' data:   [1] flags (1: acknowledge now)  [8] u64 seq   [16..size) pattern of seq
 *   'A' ack:    [8] u64 high (highest seq seen + 1)   [16] u64 received
 *   'S' start:  [1] 'u'|'d'  [8] u64 count  [16] u32 size  [20] u32 window
 *   'F' fin:    [8] u64 sent
 *   'R' report: [8] received [16] dups [24] corrupt [32] bytes [40] first_ns [48] last_ns
 *               [56] high [64] max_gap (longest run of consecutive missing sequence numbers)
 */
#define HDR 16
#define F_ACKREQ 1

static unsigned char pattern[MSG_MAX + 256];

static void put64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++, v >>= 8)
                p[i] = (unsigned char) v;
}

static uint64_t get64(const unsigned char *p) {
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

static void put32(unsigned char *p, uint32_t v) {
        for (int i = 0; i < 4; i++, v >>= 8)
                p[i] = (unsigned char) v;
}

static uint32_t get32(const unsigned char *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static void make_data(unsigned char *m, size_t size, uint64_t seq, bool ackreq) {
        memset(m, 0, HDR);
        m[0] = 'D';
        m[1] = ackreq ? F_ACKREQ : 0;
        put64(m + 8, seq);
        memcpy(m + HDR, pattern + (seq & 0xff), size - HDR);
}

/* Sends one message; blocking fd. Returns false when the connection is gone. */
static bool send_msg(int fd, const void *m, size_t size) {
        for (;;) {
                ssize_t n = send(fd, m, size, MSG_NOSIGNAL);

                if (n == (ssize_t) size)
                        return true;
                if (n < 0 && errno == EINTR)
                        continue;
                return false;
        }
}

/* ---- receiver ---- */

typedef struct Rx {
        uint64_t count; /* expected (for the bitmap) */
        uint8_t *seen;
        uint64_t received, dups, corrupt, bytes, first_ns, last_ns, high, since_ack;
        unsigned ack_every;
        bool fin;
        uint64_t fin_sent;
} Rx;

static void rx_init(Rx *r, uint64_t count, unsigned win) {
        free(r->seen);
        *r = (Rx) { .count = count, .ack_every = win ? (win / 4 ? win / 4 : 1) : 0 };
        r->seen = calloc((size_t) (count / 8 + 1), 1);
        if (!r->seen)
                die("out of memory");
}

static void send_ack(int fd, const Rx *r) {
        unsigned char a[24] = { 'A' };

        put64(a + 8, r->high);
        put64(a + 16, r->received);
        (void) send(fd, a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The longest run of sequence numbers that never arrived (DTLS 1.3 cannot recover the record
 * number after more than 2^15 consecutive losses: RFC 9147 4.2.2). */
static uint64_t rx_max_gap(const Rx *r) {
        uint64_t best = 0, run = 0;

        for (uint64_t i = 0; i < r->count; i++) {
                if (r->seen[i / 8] & (1u << (i % 8))) {
                        run = 0;
                        continue;
                }
                if (++run > best)
                        best = run;
        }
        return best;
}

static void send_report(int fd, const Rx *r) {
        unsigned char m[72] = { 'R' };

        put64(m + 8, r->received);
        put64(m + 16, r->dups);
        put64(m + 24, r->corrupt);
        put64(m + 32, r->bytes);
        put64(m + 40, r->first_ns);
        put64(m + 48, r->last_ns);
        put64(m + 56, r->high);
        put64(m + 64, rx_max_gap(r));
        (void) send(fd, m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* A data frame: counts it. Returns true if it asked for an acknowledgement. */
static bool rx_data(Rx *r, const unsigned char *m, size_t n) {
        uint64_t seq, t = now_ns();

        if (n < HDR || m[0] != 'D') {
                r->corrupt++;
                return false;
        }
        seq = get64(m + 8);
        if (seq >= r->count) {
                r->corrupt++;
                return false;
        }
        if (r->seen[seq / 8] & (1u << (seq % 8))) {
                r->dups++;
                return false;
        }
        r->seen[seq / 8] |= (uint8_t) (1u << (seq % 8));
        if (memcmp(m + HDR, pattern + (seq & 0xff), n - HDR) != 0)
                r->corrupt++;
        if (!r->received)
                r->first_ns = t;
        r->last_ns = t;
        r->received++;
        r->bytes += n;
        if (seq + 1 > r->high)
                r->high = seq + 1;
        return (m[1] & F_ACKREQ) != 0;
}

/* A message on a receiving fd (data, or the sender's FIN). */
static void rx_message(Rx *r, int fd, const unsigned char *m, size_t n) {
        if (n >= 16 && m[0] == 'F') {
                r->fin = true;
                r->fin_sent = get64(m + 8);
                send_report(fd, r);
                return;
        }
        if (rx_data(r, m, n) || (r->ack_every && ++r->since_ack >= r->ack_every)) {
                r->since_ack = 0;
                send_ack(fd, r);
        }
}

/* ---- sender ---- */

typedef struct TxResult {
        uint64_t t0, t_sent, t_report, stalls, acks;
        unsigned char report[72];
        bool have_report;
} TxResult;

/* Reads what arrived (acks, the report) without blocking. Returns false if the fd is gone. */
static bool tx_drain(int fd, uint64_t *high, TxResult *res) {
        unsigned char m[256];

        for (;;) {
                ssize_t n = recv(fd, m, sizeof(m), MSG_DONTWAIT);

                if (n < 0)
                        return errno == EAGAIN || errno == EINTR;
                if (n == 0)
                        return false;
                if (n >= 24 && m[0] == 'A') {
                        uint64_t h = get64(m + 8);

                        res->acks++;
                        if (h > *high)
                                *high = h;
                } else if (n >= 72 && m[0] == 'R') {
                        memcpy(res->report, m, 72);
                        res->have_report = true;
                        res->t_report = now_ns();
                }
        }
}

/* Sends count messages with flow control (win > 0) or none; then FIN until the report (when
 * want_report). Returns false on a broken connection or no report. */
static bool tx_run(int fd, uint64_t count, size_t size, unsigned win, bool want_report,
                   TxResult *res) {
        unsigned char m[MSG_MAX];
        uint64_t high = 0;

        *res = (TxResult) {};
        res->t0 = now_ns();
        for (uint64_t seq = 0; seq < count;) {
                bool probe = false;

                if (win) {
                        if (!tx_drain(fd, &high, res))
                                return false;
                        if (seq - high >= win) {
                                struct pollfd p = { .fd = fd, .events = POLLIN };
                                int r = poll(&p, 1, (int) stall_ms);

                                if (r < 0 && errno != EINTR)
                                        return false;
                                if (r > 0)
                                        continue;
                                res->stalls++;
                                probe = true;
                        }
                }
                make_data(m, size, seq, probe || (win && seq + 1 == count));
                if (!send_msg(fd, m, size))
                        return false;
                seq++;
        }
        res->t_sent = now_ns();
        if (!want_report)
                return true;
        for (int tries = 0; tries < 100 && !res->have_report; tries++) {
                unsigned char f[16] = { 'F' };
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t until = now_ns() + 50000000u;

                put64(f + 8, count);
                if (!send_msg(fd, f, sizeof(f)))
                        return false;
                while (!res->have_report && now_ns() < until) {
                        if (poll(&p, 1, 10) < 0 && errno != EINTR)
                                return false;
                        if (!tx_drain(fd, &high, res))
                                return false;
                }
        }
        return res->have_report;
}

/* ---- tlsd sessions ---- */

static tlsc_client *client_open(void) {
        tlsc_client *c;
        int r = tlsc_open(socket_path, &c);

        if (r < 0)
                die("cannot reach tlsd: %s", tlsd_strerror(r));
        tlsc_set_timeout(c, 60000);
        return c;
}

static uint64_t client_session(tlsc_client *c) {
        tlsc_session_options so = {
                .transport = TLSC_TRANSPORT_DTLS,
                .version_min = version_min,
                .version_max = version_max,
                .groups = groups,
                .ciphers = ciphers,
                .ca = ca,
                .ca_size = ca_size,
                .verify_mode = TLSC_VERIFY_STRICT,
                .server_name = servername,
                .mtu = mtu,
                .dtls_cid = use_cid,
                .dtls_timeout_initial_ms = dtls_timeout_ms,
        };
        uint64_t s;
        int r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &so, &s);

        if (r < 0)
                die("client session: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        return s;
}

typedef struct Chan {
        int fd;
        uint64_t conn;
        tlsc_connection_info info;
} Chan;

/* Returns false (with ch->info filled) when the handshake fails. */
static bool chan_open(tlsc_client *c, uint64_t session, Chan *ch) {
        int r;

        *ch = (Chan) { .fd = -1 };
        r = tlsc_connection_create(c, session, AF_INET, &ch->conn);
        if (r < 0)
                die("connection: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        ch->fd = tlsc_connect(c, ch->conn, host, port, NULL, &ch->info);
        if (ch->fd < 0) {
                if (!ch->info.message[0])
                        (void) snprintf(ch->info.message, sizeof(ch->info.message), "%s",
                                        tlsd_strerror(ch->fd));
                (void) tlsc_connection_destroy(c, ch->conn);
                return false;
        }
        return true;
}

/* Ends a connection: close_notify, then the fd, then the object. The order matters with tlsd
 * 85d461a: an app that closes its DTLS fd while tlsd is inside that connection's pump makes
 * tlsd spin forever (recv() == 0 taken for an empty message; see bench/dtls-ANALYSIS.md).
 * Disconnect first: tlsd drops its end before ours goes. --close=fd-first keeps the naive
 * order (close, destroy) to reproduce the hang. */
static void chan_close(tlsc_client *c, Chan *ch) {
        int r;

        if (!close_fd_first) {
                r = tlsc_connection_disconnect(c, ch->conn);
                if (r < 0)
                        die("disconnect: %s", tlsd_strerror(r));
        }
        close(ch->fd);
        ch->fd = -1;
        r = tlsc_connection_destroy(c, ch->conn);
        if (r < 0)
                die("destroy: %s", tlsd_strerror(r));
}

/* ---- the listener's side (--peer=self and serve) ---- */

typedef struct Served {
        int fd;
        uint64_t conn;
        Rx rx;
        bool receiving;
        pthread_t sender;
        bool sending;
} Served;

typedef struct Responder {
        pthread_t thread;
        tlsc_client *c;
        uint64_t session, listener;
        unsigned port;
        int stop[2];
        pthread_mutex_t lock; /* served[] and their receivers (the driver may read them) */
        Served *served[4096];
        unsigned n_served;
        atomic_ulong accepted, disconnected, failed;
        bool quiet;
} Responder;

typedef struct DownJob {
        int fd;
        uint64_t count;
        size_t size;
        unsigned win;
} DownJob;

/* "down": the listener's side sends; the client reports. Errors are the client's to see. */
static void *down_sender(void *arg) {
        DownJob *j = arg;
        TxResult res;

        (void) tx_run(j->fd, j->count, j->size, j->win, true, &res);
        free(j);
        return NULL;
}

static void on_responder_event(tlsc_client *c, tlsc_event *ev, void *userdata) {
        Responder *rs = userdata;
        Served *sv;

        (void) c;
        if (ev->type == TLSC_EVENT_DISCONNECTED) {
                rs->disconnected++;
                return;
        }
        if (ev->type == TLSC_EVENT_HANDSHAKE_FAILED) {
                rs->failed++;
                return;
        }
        if (ev->type != TLSC_EVENT_ACCEPTED)
                return;
        rs->accepted++;
        if (rs->n_served >= sizeof(rs->served) / sizeof(rs->served[0]))
                return; /* closed on return */
        sv = calloc(1, sizeof(*sv));
        if (!sv)
                return;
        sv->fd = ev->fd;
        sv->conn = ev->connection;
        ev->fd = -1;
        (void) fcntl(sv->fd, F_SETFL, fcntl(sv->fd, F_GETFL) | O_NONBLOCK);
        rs->served[rs->n_served++] = sv;
}

/* Handles what one accepted fd has. Returns false when it ended. */
static bool served_step(Served *sv) {
        static unsigned char m[MSG_MAX];

        if (sv->sending)
                return true; /* the sender thread owns the fd until the client closes */
        for (int i = 0; i < 256; i++) {
                ssize_t n = recv(sv->fd, m, sizeof(m), MSG_DONTWAIT);

                if (n < 0)
                        return errno == EAGAIN || errno == EINTR;
                if (n == 0)
                        return false; /* EOF (nobody sends empty messages here) */
                if (m[0] == 'S' && n >= 24) {
                        uint64_t count = get64(m + 8);
                        size_t size = get32(m + 16);
                        unsigned win = get32(m + 20);

                        if (m[1] == 'd') {
                                DownJob *j = malloc(sizeof(*j));

                                *j = (DownJob) { .fd = sv->fd, .count = count, .size = size,
                                                 .win = win };
                                (void) fcntl(sv->fd, F_SETFL,
                                             fcntl(sv->fd, F_GETFL) & ~O_NONBLOCK);
                                sv->sending = true;
                                if (pthread_create(&sv->sender, NULL, down_sender, j) != 0)
                                        die("pthread_create");
                                return true;
                        }
                        rx_init(&sv->rx, count, win);
                        sv->receiving = true;
                } else if (m[0] == 'E') {
                        (void) send(sv->fd, m, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
                } else if (sv->receiving) {
                        rx_message(&sv->rx, sv->fd, m, (size_t) n);
                }
        }
        return true;
}

static void served_free(Served *sv) {
        if (sv->sending) {
                shutdown(sv->fd, SHUT_RDWR);
                pthread_join(sv->sender, NULL);
        }
        close(sv->fd);
        free(sv->rx.seen);
        free(sv);
}

/* The peer closed: our close_notify goes out through a Disconnect (which also ends the
 * accepted connection in tlsd), and our fd closes once tlsd confirmed (the ordering of
 * chan_close()). Without our close_notify, openssl s_client lingers ~0.5 s after its own. */
static void on_served_destroyed(tlsc_client *c, int result, void *userdata) {
        Served *sv = userdata;

        (void) c;
        (void) result;
        served_free(sv);
}

static void *responder_run(void *arg) {
        Responder *rs = arg;
        static struct pollfd p[2 + 4096];

        for (;;) {
                unsigned n = 0, polled = rs->n_served;

                p[n++] = (struct pollfd) { .fd = rs->stop[0], .events = POLLIN };
                p[n++] = (struct pollfd) { .fd = tlsc_get_fd(rs->c),
                                           .events = tlsc_get_events(rs->c) };
                for (unsigned i = 0; i < rs->n_served; i++)
                        p[n++] = (struct pollfd) {
                                .fd = rs->served[i]->sending ? -1 : rs->served[i]->fd,
                                .events = POLLIN,
                        };
                if (poll(p, n, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                if (p[0].revents)
                        break;
                pthread_mutex_lock(&rs->lock);
                if (p[1].revents && tlsc_dispatch(rs->c) < 0)
                        die("the listener's side lost its connection to tlsd");
                for (unsigned i = rs->n_served; i-- > 0;) {
                        Served *sv = rs->served[i];

                        if (i >= polled || !p[i + 2].revents || served_step(sv))
                                continue;
                        rs->served[i] = rs->served[--rs->n_served];
                        if (tlsc_connection_disconnect_async(rs->c, sv->conn, on_served_destroyed,
                                                             sv) < 0)
                                served_free(sv);
                }
                pthread_mutex_unlock(&rs->lock);
        }
        return NULL;
}

static void responder_start(Responder *rs) {
        tlsc_session_options so = {
                .transport = TLSC_TRANSPORT_DTLS,
                .version_min = srv_version_min,
                .version_max = srv_version_max,
                .groups = groups,
                .cert = cert,
                .cert_size = cert_size,
                .key = key,
                .key_size = key_size,
                .mtu = mtu,
                .dtls_cid = use_cid,
        };
        tlsc_listen_options lo = { .max_pending = 256 };
        int r;

        if (!cert || !key)
                die("the listener needs --cert and --key");
        rs->c = client_open();
        r = tlsc_session_create(rs->c, TLSC_ROLE_SERVER, &so, &rs->session);
        if (r < 0)
                die("server session: %s: %s", tlsd_strerror(r), tlsc_last_error_message(rs->c));
        tlsc_set_event_handler(rs->c, on_responder_event, rs);
        r = tlsc_listen(rs->c, rs->session, "127.0.0.1", 0, &lo, &rs->listener, &rs->port);
        if (r < 0)
                die("listen: %s: %s", tlsd_strerror(r), tlsc_last_error_message(rs->c));
        if (pipe2(rs->stop, O_CLOEXEC) < 0)
                die("pipe: %s", strerror(errno));
        pthread_mutex_init(&rs->lock, NULL);
}

static void responder_stop(Responder *rs) {
        (void) !write(rs->stop[1], "x", 1);
        pthread_join(rs->thread, NULL);
        /* tlsd lets go of the connections first, then the fds close (see chan_close()) */
        (void) tlsc_listener_close(rs->c, rs->listener);
        (void) tlsc_session_destroy(rs->c, rs->session);
        tlsc_close(rs->c); /* also runs the destroy callbacks still pending */
        while (rs->n_served > 0)
                served_free(rs->served[--rs->n_served]);
}

static Responder *responder;

static void peer_start(void) {
        if (!self_peer)
                return;
        responder = calloc(1, sizeof(*responder));
        responder_start(responder);
        port = responder->port;
        if (pthread_create(&responder->thread, NULL, responder_run, responder) != 0)
                die("pthread_create");
}

static void peer_stop(void) {
        if (responder)
                responder_stop(responder);
}

/* ---- tests ---- */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

typedef struct HsWorker {
        pthread_t thread;
        pthread_barrier_t *start;
        tlsc_client *c;
        uint64_t session;
        int count, failed, slow;
        uint64_t max_ns;
        uint64_t *lat_ns; /* per successful handshake */
        int n_lat;
        char first_error[1024];
} HsWorker;

static void *hs_run(void *arg) {
        HsWorker *w = arg;

        pthread_barrier_wait(w->start);
        for (int i = 0; i < w->count; i++) {
                uint64_t t = now_ns();
                Chan ch;

                if (!chan_open(w->c, w->session, &ch)) {
                        if (!w->failed++)
                                (void) snprintf(w->first_error, sizeof(w->first_error), "%s",
                                                ch.info.message);
                        continue;
                }
                t = now_ns() - t; /* create + connect: the handshake as the app sees it */
                chan_close(w->c, &ch);
                w->lat_ns[w->n_lat++] = t;
                if (t > w->max_ns)
                        w->max_ns = t;
                if (t > 500000000u)
                        w->slow++; /* waited for a retransmission timer (>= 1 s here) */
        }
        return NULL;
}

static void test_hs(int count, int inflight) {
        HsWorker *w = calloc((size_t) inflight, sizeof(*w));
        pthread_barrier_t start;
        uint64_t t0, t1, max_ns = 0, *lat = calloc((size_t) count + 1, sizeof(*lat));
        int failed = 0, slow = 0, n_lat = 0;
        const char *err = "";
        unsigned long accepted = 0;

        peer_start();
        pthread_barrier_init(&start, NULL, (unsigned) inflight + 1);
        for (int i = 0; i < inflight; i++) {
                w[i].c = client_open();
                w[i].session = client_session(w[i].c);
                w[i].start = &start;
                w[i].count = count / inflight + (i < count % inflight);
                w[i].lat_ns = calloc((size_t) w[i].count + 1, sizeof(uint64_t));
                pthread_create(&w[i].thread, NULL, hs_run, &w[i]);
        }
        pthread_barrier_wait(&start);
        t0 = now_ns();
        for (int i = 0; i < inflight; i++)
                pthread_join(w[i].thread, NULL);
        t1 = now_ns();
        for (int i = 0; i < inflight; i++) {
                failed += w[i].failed;
                slow += w[i].slow;
                memcpy(lat + n_lat, w[i].lat_ns, (size_t) w[i].n_lat * sizeof(*lat));
                n_lat += w[i].n_lat;
                free(w[i].lat_ns);
                if (w[i].failed && !*err)
                        err = w[i].first_error;
                if (w[i].max_ns > max_ns)
                        max_ns = w[i].max_ns;
                (void) tlsc_session_destroy(w[i].c, w[i].session);
                tlsc_close(w[i].c);
        }
        if (responder) {
                /* The server's side finishes after the client's (DTLS 1.3: the client's
                 * Finished); give the last ACCEPTED events a moment. */
                for (int i = 0; i < 200 && responder->accepted < (unsigned long) (count - failed);
                     i++)
                        usleep(5000);
                accepted = responder->accepted;
        }
        qsort(lat, (size_t) n_lat, sizeof(*lat), cmp_u64);
        printf("test=hs count=%d inflight=%d ok=%d failed=%d slow=%d seconds=%.4f per_s=%.1f "
               "median_ms=%.2f max_ms=%.1f", count, inflight, count - failed, failed, slow,
               (double) (t1 - t0) / 1e9, (double) (count - failed) / ((double) (t1 - t0) / 1e9),
               n_lat ? (double) lat[n_lat / 2] / 1e6 : 0, (double) max_ns / 1e6);
        free(lat);
        if (responder)
                printf(" server_accepted=%lu server_failed=%lu", accepted,
                       (unsigned long) responder->failed);
        if (failed)
                printf(" error=\"%s\"", err);
        printf("\n");
        peer_stop();
}

static void print_info(const tlsc_connection_info *i) {
        printf(" version=%s cipher=%s group=%s max_message=%u cid=%d handshake_us=%llu",
               i->version, i->cipher, i->group, i->max_message, i->cid_in_use,
               (unsigned long long) i->handshake_us);
}

static void test_info(void) {
        tlsc_client *c;
        uint64_t s;
        Chan ch;

        peer_start();
        c = client_open();
        s = client_session(c);
        if (!chan_open(c, s, &ch)) {
                printf("test=info ok=0 error=\"%s\"\n", ch.info.message);
                exit(4);
        }
        printf("test=info ok=1");
        print_info(&ch.info);
        printf(" peer=\"%s\"\n", ch.info.peer_subject);
        chan_close(c, &ch);
        (void) tlsc_session_destroy(c, s);
        tlsc_close(c);
        peer_stop();
}

/* The counter's report: received dups corrupt bytes first_ns last_ns frames_bad max_gap */
static bool read_count_file(uint64_t v[8], int wait_ms) {
        for (int i = 0; i < wait_ms / 10; i++) {
                FILE *f = fopen(count_file, "re");

                if (f) {
                        unsigned long long x[8];
                        int n = fscanf(f, "%llu %llu %llu %llu %llu %llu %llu %llu", &x[0],
                                       &x[1], &x[2], &x[3], &x[4], &x[5], &x[6], &x[7]);

                        fclose(f);
                        if (n == 8) {
                                for (int k = 0; k < 8; k++)
                                        v[k] = x[k];
                                return true;
                        }
                }
                usleep(10000);
        }
        return false;
}

static void test_tput(uint64_t count, bool up) {
        tlsc_client *c;
        uint64_t s, received, dups, corrupt, bytes, first_ns, last_ns, t0, t_sent, stalls = 0;
        uint64_t max_gap = 0;
        bool fin_lost = false;
        Chan ch;
        double secs;

        if (!up && !self_peer)
                die("tput down needs --peer=self");
        if (!self_peer && !count_file)
                die("tput against an external server needs --count-file");
        if (msg_size < HDR || msg_size > MSG_MAX)
                die("--size must be %d..%d", HDR, MSG_MAX);
        peer_start();
        c = client_open();
        s = client_session(c);
        if (!chan_open(c, s, &ch)) {
                printf("test=tput ok=0 error=\"%s\"\n", ch.info.message);
                exit(4);
        }
        if (msg_size > ch.info.max_message)
                die("--size %zu is over the connection's message limit %u", msg_size,
                    ch.info.max_message);
        if (self_peer) {
                unsigned char st[24] = { 'S', up ? 'u' : 'd' };

                put64(st + 8, count);
                put32(st + 16, (uint32_t) msg_size);
                put32(st + 20, window);
                if (!send_msg(ch.fd, st, sizeof(st)))
                        die("start: connection gone");
                usleep(20000); /* the start message has no acknowledgement of its own */
        }
        if (up) {
                TxResult res;

                if (!tx_run(ch.fd, count, msg_size, self_peer ? window : 0, self_peer, &res) &&
                    !(self_peer && res.t_sent))
                        die("tput up: the connection broke");
                t0 = res.t0;
                t_sent = res.t_sent;
                stalls = res.stalls;
                if (self_peer && res.have_report) {
                        received = get64(res.report + 8);
                        dups = get64(res.report + 16);
                        corrupt = get64(res.report + 24);
                        bytes = get64(res.report + 32);
                        first_ns = get64(res.report + 40);
                        last_ns = get64(res.report + 48);
                        max_gap = get64(res.report + 64);
                } else if (self_peer) {
                        /* All messages went out, but no FIN got through to the receiver (5 s of
                         * tries). It is a thread of ours: read what it counted directly. */
                        Rx *r = NULL;

                        fin_lost = true;
                        pthread_mutex_lock(&responder->lock);
                        for (unsigned i = 0; i < responder->n_served; i++)
                                if (responder->served[i]->receiving)
                                        r = &responder->served[i]->rx;
                        if (!r)
                                die("tput up: no FIN got through and no receiver found");
                        received = r->received;
                        dups = r->dups;
                        corrupt = r->corrupt;
                        bytes = r->bytes;
                        first_ns = r->first_ns;
                        last_ns = r->last_ns;
                        max_gap = rx_max_gap(r);
                        pthread_mutex_unlock(&responder->lock);
                } else {
                        uint64_t v[8];

                        /* Everything we sent must have left through tlsd before the
                         * close_notify (a Disconnect drops what tlsd has not read yet). */
                        for (int i = 0; i < 2000; i++) {
                                int outq = 0;

                                if (ioctl(ch.fd, SIOCOUTQ, &outq) < 0 || outq == 0)
                                        break;
                                usleep(1000);
                        }
                        usleep(200000); /* and s_server reads what is queued for it */
                        chan_close(c, &ch);
                        if (!read_count_file(v, 20000))
                                die("no report from the counter in %s (did s_server exit?)",
                                    count_file);
                        received = v[0];
                        dups = v[1];
                        corrupt = v[2] + v[6];
                        bytes = v[3];
                        first_ns = v[4];
                        last_ns = v[5];
                        max_gap = v[7];
                }
        } else {
                static unsigned char m[MSG_MAX];
                Rx rx = {};
                uint64_t linger_until = 0;

                rx_init(&rx, count, window);
                t0 = now_ns();
                (void) fcntl(ch.fd, F_SETFL, fcntl(ch.fd, F_GETFL) | O_NONBLOCK);
                for (;;) {
                        struct pollfd p = { .fd = ch.fd, .events = POLLIN };
                        ssize_t n;

                        if (rx.fin && now_ns() > linger_until)
                                break;
                        if (poll(&p, 1, 50) < 0 && errno != EINTR)
                                die("poll: %s", strerror(errno));
                        while ((n = recv(ch.fd, m, sizeof(m), MSG_DONTWAIT)) > 0) {
                                bool had_fin = rx.fin;

                                rx_message(&rx, ch.fd, m, (size_t) n);
                                if (rx.fin && !had_fin)
                                        linger_until = now_ns() + 100000000u;
                        }
                        if (n == 0)
                                die("tput down: the connection ended before FIN");
                }
                t_sent = 0;
                received = rx.received;
                dups = rx.dups;
                corrupt = rx.corrupt;
                bytes = rx.bytes;
                first_ns = rx.first_ns;
                last_ns = rx.last_ns;
                max_gap = rx_max_gap(&rx);
                free(rx.seen);
        }
        if (ch.fd >= 0)
                chan_close(c, &ch);
        (void) tlsc_session_destroy(c, s);
        tlsc_close(c);
        peer_stop();

        /* From the sender's first message to the last one that arrived. */
        secs = received && last_ns > t0 ? (double) (last_ns - t0) / 1e9 : 0;
        printf("test=tput dir=%s count=%llu size=%zu window=%u delivered=%llu lost=%llu "
               "loss=%.4f dups=%llu corrupt=%llu seconds=%.4f msgs_per_s=%.0f MBps=%.1f "
               "send_seconds=%.4f offered_msgs_per_s=%.0f stalls=%llu first_ms=%.2f max_gap=%llu "
               "fin_lost=%d",
               up ? "up" : "down", (unsigned long long) count, msg_size,
               self_peer ? window : 0, (unsigned long long) received,
               (unsigned long long) (count - received),
               (double) (count - received) / (double) count,
               (unsigned long long) dups, (unsigned long long) corrupt, secs,
               secs > 0 ? (double) received / secs : 0, secs > 0 ? (double) bytes / secs / 1e6 : 0,
               t_sent ? (double) (t_sent - t0) / 1e9 : 0,
               t_sent ? (double) count / ((double) (t_sent - t0) / 1e9) : 0,
               (unsigned long long) stalls,
               received ? (double) (first_ns - t0) / 1e6 : 0, (unsigned long long) max_gap,
               fin_lost);
        print_info(&ch.info);
        printf("\n");
}

/* serve: a listener for external clients until SIGTERM/SIGINT. */
static volatile sig_atomic_t stop_serving;
static void on_stop(int sig) {
        (void) sig;
        stop_serving = 1;
}

static void test_serve(void) {
        Responder rs = {};
        struct sigaction sa = { .sa_handler = on_stop };
        sigset_t block, old;

        responder_start(&rs);
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        pthread_sigmask(SIG_BLOCK, &block, &old); /* the thread must not take them */
        if (pthread_create(&rs.thread, NULL, responder_run, &rs) != 0)
                die("pthread_create");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        printf("%u\n", rs.port);
        fflush(stdout);
        while (!stop_serving)
                pause();
        fprintf(stderr, "accepted=%lu failed=%lu disconnected=%lu\n",
                (unsigned long) rs.accepted, (unsigned long) rs.failed,
                (unsigned long) rs.disconnected);
        responder_stop(&rs);
}

/* count: frames of --size bytes from stdin (s_server -quiet prints each record as it came). */
static void test_count(uint64_t count) {
        static unsigned char buf[1 << 16], frame[MSG_MAX];
        size_t have = 0;
        Rx rx = {};
        uint64_t bad = 0;
        FILE *f;
        char tmp[4096];

        if (!count_file)
                die("count needs --count-file");
        rx_init(&rx, count, 0);
        for (;;) {
                ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n;) {
                        size_t k = msg_size - have < (size_t) (n - i) ? msg_size - have
                                                                      : (size_t) (n - i);

                        memcpy(frame + have, buf + i, k);
                        have += k;
                        i += (ssize_t) k;
                        if (have == msg_size) {
                                (void) rx_data(&rx, frame, msg_size);
                                have = 0;
                        }
                }
        }
        if (have)
                bad++; /* a partial frame at the end */
        (void) snprintf(tmp, sizeof(tmp), "%s.tmp", count_file);
        f = fopen(tmp, "we");
        if (!f)
                die("%s: %s", tmp, strerror(errno));
        fprintf(f, "%llu %llu %llu %llu %llu %llu %llu %llu\n",
                (unsigned long long) rx.received,
                (unsigned long long) rx.dups, (unsigned long long) rx.corrupt,
                (unsigned long long) rx.bytes, (unsigned long long) rx.first_ns,
                (unsigned long long) rx.last_ns, (unsigned long long) bad,
                (unsigned long long) rx_max_gap(&rx));
        fclose(f);
        if (rename(tmp, count_file) < 0)
                die("rename: %s", strerror(errno));
}

static char *read_file(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf = malloc(1 << 20);
        size_t n, size = 0;

        if (!f || !buf)
                die("%s: %s", path, strerror(errno));
        while ((n = fread(buf + size, 1, (1 << 20) - size, f)) > 0)
                size += n;
        fclose(f);
        *ret_size = size;
        return buf;
}

static unsigned parse_version(const char *v, bool max) {
        if (strcmp(v, "1.2") == 0)
                return 0xfefd;
        if (strcmp(v, "1.3") == 0)
                return 0xfefc;
        if (strcmp(v, "any") == 0)
                return 0;
        (void) max;
        die("version: 1.2, 1.3 or any");
}

static void on_alarm(int sig) {
        (void) sig;
        static const char m[] = "dtls-bench: timed out\n";
        (void) !write(STDERR_FILENO, m, sizeof(m) - 1);
        _exit(3);
}

static _Noreturn void usage(void) {
        fprintf(stderr,
                "usage: dtls-bench --socket=PATH (--peer=self --cert=F --key=F | --port=P)\n"
                "         [--host=ADDR] [--ca=F] [--servername=N] [--groups=L] [--ciphers=L]\n"
                "         [--version=1.2|1.3|any] [--server-version=1.2|1.3|any] [--mtu=N]\n"
                "         [--cid] [--size=BYTES] [--window=W] [--stall-ms=MS] [--count-file=F]\n"
                "         [--dtls-timeout=MS] [--timeout=S] [--close=disconnect-first|fd-first]\n"
                "       hs COUNT INFLIGHT | tput COUNT up|down | info | serve | count COUNT\n");
        exit(2);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "peer", required_argument, NULL, 'P' },
                { "port", required_argument, NULL, 'p' },
                { "host", required_argument, NULL, 'H' },
                { "ca", required_argument, NULL, 'c' },
                { "cert", required_argument, NULL, 'C' },
                { "key", required_argument, NULL, 'K' },
                { "servername", required_argument, NULL, 'n' },
                { "groups", required_argument, NULL, 'g' },
                { "ciphers", required_argument, NULL, 'x' },
                { "version", required_argument, NULL, 'v' },
                { "server-version", required_argument, NULL, 'V' },
                { "mtu", required_argument, NULL, 'm' },
                { "cid", no_argument, NULL, 'I' },
                { "size", required_argument, NULL, 'z' },
                { "window", required_argument, NULL, 'w' },
                { "stall-ms", required_argument, NULL, 'S' },
                { "count-file", required_argument, NULL, 'f' },
                { "dtls-timeout", required_argument, NULL, 'T' },
                { "timeout", required_argument, NULL, 't' },
                { "close", required_argument, NULL, 'L' },
                {},
        };
        unsigned timeout = 300;
        int opt;

        for (size_t i = 0; i < sizeof(pattern); i++)
                pattern[i] = (unsigned char) (i * 131 + 7);
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'P':
                        if (strcmp(optarg, "self") != 0)
                                usage();
                        self_peer = true;
                        break;
                case 'p':
                        port = (unsigned) atoi(optarg);
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 'c':
                        ca = read_file(optarg, &ca_size);
                        break;
                case 'C':
                        cert = read_file(optarg, &cert_size);
                        break;
                case 'K':
                        key = read_file(optarg, &key_size);
                        break;
                case 'n':
                        servername = optarg;
                        break;
                case 'g':
                        groups = optarg;
                        break;
                case 'x':
                        ciphers = optarg;
                        break;
                case 'v':
                        version_min = version_max = parse_version(optarg, false);
                        break;
                case 'V':
                        srv_version_min = srv_version_max = parse_version(optarg, false);
                        break;
                case 'm':
                        mtu = (unsigned) atoi(optarg);
                        break;
                case 'I':
                        use_cid = true;
                        break;
                case 'z':
                        msg_size = (size_t) atol(optarg);
                        break;
                case 'w':
                        window = (unsigned) atoi(optarg);
                        break;
                case 'S':
                        stall_ms = (unsigned) atoi(optarg);
                        break;
                case 'f':
                        count_file = optarg;
                        break;
                case 'T':
                        dtls_timeout_ms = (unsigned) atoi(optarg);
                        break;
                case 't':
                        timeout = (unsigned) atoi(optarg);
                        break;
                case 'L':
                        if (strcmp(optarg, "fd-first") == 0)
                                close_fd_first = true;
                        else if (strcmp(optarg, "disconnect-first") != 0)
                                usage();
                        break;
                default:
                        usage();
                }
        }
        if (optind >= argc)
                usage();
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, on_alarm);
        alarm(timeout);

        if (strcmp(argv[optind], "count") == 0 && argc - optind == 2) {
                test_count((uint64_t) atoll(argv[optind + 1]));
                return 0;
        }
        if (strcmp(argv[optind], "serve") == 0) {
                alarm(0);
                test_serve();
                return 0;
        }
        if (!self_peer && (port == 0 || port > 65535))
                usage();
        if (strcmp(argv[optind], "hs") == 0 && argc - optind == 3)
                test_hs(atoi(argv[optind + 1]), atoi(argv[optind + 2]));
        else if (strcmp(argv[optind], "tput") == 0 && argc - optind == 3)
                test_tput((uint64_t) atoll(argv[optind + 1]), strcmp(argv[optind + 2], "up") == 0);
        else if (strcmp(argv[optind], "info") == 0)
                test_info();
        else
                usage();
        {
                struct rusage ru;

                getrusage(RUSAGE_SELF, &ru);
                printf("driver_cpu_s=%.3f\n",
                       (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
        }
        return 0;
}
