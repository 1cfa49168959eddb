/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd-bench: the load driver of bench/run.sh. It measures a TLS client proxy from the
 * application's side, the same way for both proxies:
 *   --via=tlsd  asks tlsd (libtlsclient) for a verified TLS 1.3 connection and uses the
 *               plaintext fd it hands back;
 *   --via=tcp   connects plain TCP to a proxy's accept port (stunnel in client mode).
 * The server behind the proxy is bench/tls-server (see its header for the tiny protocol).
 *
 * Tests (one per run; the result is one line of key=value pairs on stdout):
 *   bulk STREAMS MIB up|down  STREAMS channels, established first, then each moves MIB MiB
 *                              (up: to a sink that acknowledges the last byte; down: from a
 *                              source); MBps = all bytes / wall time, 1 MB = 10^6 bytes
 *   hs COUNT INFLIGHT          COUNT handshakes by INFLIGHT threads, each channel: open,
 *                              1-byte round trip, close (tlsd: connection create, connect,
 *                              round trip, close fd, connection destroy). Full handshakes
 *                              unless the server issues tickets: then tlsd resumes
 *                              automatically (its default) unless --no-resume is given;
 *                              with --via=tlsd the line says how many were resumed
 *                              (resumed=N, and first_full=N: how many of the workers'
 *                              first connections were full) and the median of tlsd's
 *                              handshake_us (connect to handshake done, as tlsd times it)
 *   lat COUNT SIZE             one channel, COUNT round trips of SIZE bytes after 200 warm-up
 *                              ones; median, p99, mean in microseconds
 *   info                       one channel; what was negotiated (tlsd only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tlsd/client.h"

static enum { VIA_TLSD, VIA_TCP } via = VIA_TLSD;
static const char *socket_path, *servername = "localhost", *groups = "P-256";
static const char *host = "127.0.0.1";
static bool no_resume;
static unsigned port;
static char *ca;
static size_t ca_size;

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("tlsd-bench: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void write_full(int fd, const void *buf, size_t size) {
        size_t off = 0;

        while (off < size) {
                ssize_t n = write(fd, (const char *) buf + off, size - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        die("write: %s", n < 0 ? strerror(errno) : "short");
                off += (size_t) n;
        }
}

static void read_full(int fd, void *buf, size_t size) {
        size_t got = 0;

        while (got < size) {
                ssize_t n = read(fd, (char *) buf + got, size - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        die("read: %s", n < 0 ? strerror(errno) : "unexpected EOF");
                got += (size_t) n;
        }
}

/* ---- channels: the same interface for both proxies ---- */

typedef struct Opener {
        tlsc_client *c; /* tlsd: one client (and session) per thread */
        uint64_t session;
} Opener;

typedef struct Channel {
        int fd;
        uint64_t conn;
        tlsc_connection_info info;
} Channel;

static void opener_init(Opener *o) {
        tlsc_session_options so = {
                .version_min = 0x0304,
                .version_max = 0x0304,
                .groups = groups,
                .ca = ca,
                .ca_size = ca_size,
                .verify_mode = TLSC_VERIFY_STRICT,
                .server_name = servername,
                .no_resume = no_resume,
        };
        int r;

        *o = (Opener) {};
        if (via != VIA_TLSD)
                return;
        r = tlsc_open(socket_path, &o->c);
        if (r < 0)
                die("cannot reach tlsd: %s", tlsd_strerror(r));
        tlsc_set_timeout(o->c, 30000);
        r = tlsc_session_create(o->c, TLSC_ROLE_CLIENT, &so, &o->session);
        if (r < 0)
                die("session: %s: %s", tlsd_strerror(r), tlsc_last_error_message(o->c));
}

static void opener_done(Opener *o) {
        if (o->c) {
                (void) tlsc_session_destroy(o->c, o->session);
                tlsc_close(o->c);
        }
}

static void chan_open(Opener *o, Channel *ch) {
        int one = 1, r;

        *ch = (Channel) { .fd = -1 };
        if (via == VIA_TLSD) {
                r = tlsc_connection_create(o->c, o->session, AF_INET, &ch->conn);
                if (r < 0)
                        die("connection: %s: %s", tlsd_strerror(r), tlsc_last_error_message(o->c));
                ch->fd = tlsc_connect(o->c, ch->conn, host, port, NULL, &ch->info);
                if (ch->fd < 0)
                        die("connect: %s: %s", tlsd_strerror(ch->fd), ch->info.message);
        } else {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };

                inet_pton(AF_INET, host, &sa.sin_addr);
                ch->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (ch->fd < 0 || connect(ch->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        die("connect %s:%u: %s", host, port, strerror(errno));
                (void) setsockopt(ch->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
}

/* The clean end, as an app ends a finished exchange: close_notify, as the proxy in front of the
 * plain TCP channel sends for its close. Through tlsd: tlsc_connection_shutdown() (the fd may
 * close right after it; a close alone is an abort, without close_notify), then destroy. */
static void chan_close(Opener *o, Channel *ch) {
        int r;

        if (via == VIA_TLSD) {
                r = tlsc_connection_shutdown(o->c, ch->conn);
                if (r < 0)
                        die("shutdown: %s", tlsd_strerror(r));
        }
        close(ch->fd);
        ch->fd = -1;
        if (via == VIA_TLSD) {
                r = tlsc_connection_destroy(o->c, ch->conn);
                if (r < 0)
                        die("destroy: %s", tlsd_strerror(r));
        }
}

/* ---- bulk ---- */

typedef struct Stream {
        pthread_t thread;
        pthread_barrier_t *start;
        int fd;
        bool up;
        uint64_t bytes;
        double t_end;
} Stream;

static void put_u64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++, v >>= 8)
                p[i] = (unsigned char) v;
}

static void *stream_run(void *arg) {
        static char buf[65536];
        Stream *s = arg;
        unsigned char hdr[9];
        uint64_t left = s->bytes;
        char k;

        hdr[0] = s->up ? 'S' : 'D';
        put_u64(hdr + 1, s->bytes);
        pthread_barrier_wait(s->start);
        write_full(s->fd, hdr, sizeof(hdr));
        if (s->up) {
                while (left > 0) {
                        size_t n = left < sizeof(buf) ? (size_t) left : sizeof(buf);

                        write_full(s->fd, buf, n);
                        left -= n;
                }
                read_full(s->fd, &k, 1);
                if (k != 'K')
                        die("sink answered 0x%02x", (unsigned char) k);
        } else {
                char in[65536];

                while (left > 0) {
                        ssize_t n = read(s->fd, in, left < sizeof(in) ? (size_t) left : sizeof(in));

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                die("download: %s", n < 0 ? strerror(errno) : "early EOF");
                        left -= (uint64_t) n;
                }
        }
        s->t_end = now_s();
        return NULL;
}

static void test_bulk(int streams, unsigned mib, bool up) {
        Opener o;
        Channel *ch = calloc((size_t) streams, sizeof(*ch));
        Stream *st = calloc((size_t) streams, sizeof(*st));
        pthread_barrier_t start;
        double t0, t1 = 0;

        opener_init(&o);
        for (int i = 0; i < streams; i++)
                chan_open(&o, &ch[i]);
        pthread_barrier_init(&start, NULL, (unsigned) streams + 1);
        for (int i = 0; i < streams; i++) {
                st[i] = (Stream) { .start = &start, .fd = ch[i].fd, .up = up,
                                   .bytes = (uint64_t) mib << 20 };
                pthread_create(&st[i].thread, NULL, stream_run, &st[i]);
        }
        pthread_barrier_wait(&start);
        t0 = now_s();
        for (int i = 0; i < streams; i++) {
                pthread_join(st[i].thread, NULL);
                if (st[i].t_end > t1)
                        t1 = st[i].t_end;
        }
        for (int i = 0; i < streams; i++)
                chan_close(&o, &ch[i]);
        opener_done(&o);
        printf("test=bulk streams=%d dir=%s mib_per_stream=%u seconds=%.4f MBps=%.1f\n", streams,
               up ? "up" : "down", mib, t1 - t0,
               (double) streams * (double) ((uint64_t) mib << 20) / (t1 - t0) / 1e6);
}

/* ---- handshakes ---- */

static int cmp_u64(const void *a, const void *b);

typedef struct HsWorker {
        pthread_t thread;
        pthread_barrier_t *start;
        Opener o;
        int count;
        int resumed;     /* tlsd: connections whose handshake was a resumption */
        bool first_full; /* tlsd: the worker's first connection was a full handshake */
        uint64_t *hs_us; /* tlsd: each connection's handshake_us (tlsd's own measure) */
} HsWorker;

static void *hs_run(void *arg) {
        HsWorker *w = arg;

        pthread_barrier_wait(w->start);
        for (int i = 0; i < w->count; i++) {
                Channel ch;
                char b;

                chan_open(&w->o, &ch);
                w->hs_us[i] = ch.info.handshake_us;
                if (ch.info.resumed)
                        w->resumed++;
                else if (i == 0)
                        w->first_full = true;
                write_full(ch.fd, "E", 1);
                read_full(ch.fd, &b, 1);
                if (b != 'E')
                        die("echo answered 0x%02x", (unsigned char) b);
                chan_close(&w->o, &ch);
        }
        return NULL;
}

static void test_hs(int count, int inflight) {
        HsWorker *w = calloc((size_t) inflight, sizeof(*w));
        pthread_barrier_t start;
        double t0, t1;
        int resumed = 0, first_full = 0, n_us = 0;
        uint64_t *us = calloc((size_t) count, sizeof(*us));

        pthread_barrier_init(&start, NULL, (unsigned) inflight + 1);
        for (int i = 0; i < inflight; i++) {
                opener_init(&w[i].o);
                w[i].start = &start;
                w[i].count = count / inflight + (i < count % inflight);
                w[i].hs_us = us + n_us;
                n_us += w[i].count;
                pthread_create(&w[i].thread, NULL, hs_run, &w[i]);
        }
        pthread_barrier_wait(&start);
        t0 = now_s();
        for (int i = 0; i < inflight; i++)
                pthread_join(w[i].thread, NULL);
        t1 = now_s();
        for (int i = 0; i < inflight; i++) {
                opener_done(&w[i].o);
                resumed += w[i].resumed;
                first_full += w[i].first_full;
        }
        printf("test=hs count=%d inflight=%d seconds=%.4f per_s=%.1f", count, inflight, t1 - t0,
               (double) count / (t1 - t0));
        if (via == VIA_TLSD) {
                qsort(us, (size_t) count, sizeof(*us), cmp_u64);
                printf(" resume=%s resumed=%d first_full=%d handshake_us_median=%llu", no_resume ? "off" : "auto",
                       resumed, first_full, (unsigned long long) us[count / 2]);
        }
        printf("\n");
}

/* ---- latency ---- */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static void test_lat(int count, size_t size) {
        Opener o;
        Channel ch;
        uint64_t *t = calloc((size_t) count, sizeof(*t));
        char *out = calloc(1, size), *in = calloc(1, size), b;
        double sum = 0;

        memset(out, 'x', size);
        opener_init(&o);
        chan_open(&o, &ch);
        write_full(ch.fd, "E", 1);
        read_full(ch.fd, &b, 1);
        for (int i = -200; i < count; i++) {
                uint64_t a = now_ns();

                write_full(ch.fd, out, size);
                read_full(ch.fd, in, size);
                if (i >= 0)
                        t[i] = now_ns() - a;
        }
        chan_close(&o, &ch);
        opener_done(&o);
        if (memcmp(in, out, size) != 0)
                die("echo returned different bytes");
        for (int i = 0; i < count; i++)
                sum += (double) t[i];
        qsort(t, (size_t) count, sizeof(*t), cmp_u64);
        printf("test=lat count=%d size=%zu median_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f "
               "max_us=%.1f\n", count, size, (double) t[count / 2] / 1e3,
               (double) t[(size_t) ((double) count * 0.99)] / 1e3, sum / count / 1e3,
               (double) t[0] / 1e3, (double) t[count - 1] / 1e3);
}

static void test_info(void) {
        Opener o;
        Channel ch;
        char b;

        opener_init(&o);
        chan_open(&o, &ch);
        write_full(ch.fd, "E", 1);
        read_full(ch.fd, &b, 1);
        if (via == VIA_TLSD)
                printf("test=info version=%s cipher=%s group=%s verify=%s resumed=%d "
                       "handshake_us=%llu peer=\"%s\"\n", ch.info.version, ch.info.cipher,
                       ch.info.group, tlsc_verify_result_name(ch.info.verify_result),
                       ch.info.resumed, (unsigned long long) ch.info.handshake_us,
                       ch.info.peer_subject);
        else
                printf("test=info ok=1\n");
        chan_close(&o, &ch);
        opener_done(&o);
}

static void read_ca(const char *path) {
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                die("%s: %s", path, strerror(errno));
        ca = malloc(1 << 20);
        while ((n = fread(ca + ca_size, 1, (1 << 20) - ca_size, f)) > 0)
                ca_size += n;
        fclose(f);
}

static void on_alarm(int sig) {
        (void) sig;
        static const char m[] = "tlsd-bench: timed out\n";
        (void) !write(STDERR_FILENO, m, sizeof(m) - 1);
        _exit(3);
}

static _Noreturn void usage(void) {
        fprintf(stderr,
                "usage: tlsd-bench --via=tlsd|tcp --port=PORT [--host=ADDR] [--socket=PATH]\n"
                "                  [--ca=FILE] [--servername=NAME] [--groups=LIST] [--timeout=S]\n"
                "                  [--no-resume]\n"
                "                  bulk STREAMS MIB up|down | hs COUNT INFLIGHT | lat COUNT SIZE"
                " | info\n");
        exit(2);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "via", required_argument, NULL, 'v' },
                { "port", required_argument, NULL, 'p' },
                { "host", required_argument, NULL, 'H' },
                { "socket", required_argument, NULL, 's' },
                { "ca", required_argument, NULL, 'c' },
                { "servername", required_argument, NULL, 'n' },
                { "groups", required_argument, NULL, 'g' },
                { "timeout", required_argument, NULL, 't' },
                { "no-resume", no_argument, NULL, 'R' },
                {},
        };
        unsigned timeout = 120;
        int opt;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 'v':
                        if (strcmp(optarg, "tlsd") == 0)
                                via = VIA_TLSD;
                        else if (strcmp(optarg, "tcp") == 0)
                                via = VIA_TCP;
                        else
                                usage();
                        break;
                case 'p':
                        port = (unsigned) atoi(optarg);
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 's':
                        socket_path = optarg;
                        break;
                case 'c':
                        read_ca(optarg);
                        break;
                case 'n':
                        servername = optarg;
                        break;
                case 'g':
                        groups = optarg;
                        break;
                case 't':
                        timeout = (unsigned) atoi(optarg);
                        break;
                case 'R':
                        no_resume = true;
                        break;
                default:
                        usage();
                }
        }
        if (optind >= argc || port == 0 || port > 65535)
                usage();
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, on_alarm);
        alarm(timeout);

        if (strcmp(argv[optind], "bulk") == 0 && argc - optind == 4)
                test_bulk(atoi(argv[optind + 1]), (unsigned) atoi(argv[optind + 2]),
                          strcmp(argv[optind + 3], "up") == 0);
        else if (strcmp(argv[optind], "hs") == 0 && argc - optind == 3)
                test_hs(atoi(argv[optind + 1]), atoi(argv[optind + 2]));
        else if (strcmp(argv[optind], "lat") == 0 && argc - optind == 3)
                test_lat(atoi(argv[optind + 1]), (size_t) atoi(argv[optind + 2]));
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
