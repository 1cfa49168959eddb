/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * resume-ref-client: the reference row of bench/resume-run.sh. An in-process TLS client on the
 * system OpenSSL, with no proxy in between: it does the same work per connection as
 * bench/tlsd-bench's hs test does through a proxy (TCP connect, TLS 1.3 handshake, 1-byte round
 * trip through bench/tls-server's echo, close_notify, close), so its full and resumed rates
 * show what the server, the kernel and the machine allow when the client side costs as little
 * as a client can.
 *
 * Policy: TLS 1.3 only, the suite and groups given, SNI and host-name check "localhost", chain
 * verified against --ca. With --resume the newest ticket the server sent (any thread's) is
 * offered by the next connection, the way stunnel's client mode caches one session per
 * section; without it no session is ever set.
 *
 * Usage: resume-ref-client --port=PORT --ca=FILE [--host=ADDR] [--groups=LIST] [--suite=NAME]
 *                          [--resume] [--timeout=S] hs COUNT INFLIGHT
 * Prints: test=hs count=N inflight=N seconds=S per_s=R resume=on|off resumed=N driver_cpu_s=S
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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static SSL_CTX *ctx;
static const char *host = "127.0.0.1";
static unsigned port;
static bool resume;
static atomic_int n_resumed;
static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_SESSION *latest; /* the newest ticket's session (--resume) */

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("resume-ref-client: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        ERR_print_errors_fp(stderr);
        exit(1);
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Every ticket the server sends: keep the newest (a reference the cache owns). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
        (void) ssl;
        if (!resume)
                return 0;
        pthread_mutex_lock(&sess_lock);
        if (latest)
                SSL_SESSION_free(latest);
        latest = sess;
        pthread_mutex_unlock(&sess_lock);
        return 1; /* we keep the reference */
}

static void one_connection(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        int fd, one = 1;
        SSL *ssl;
        char b;

        inet_pton(AF_INET, host, &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                die("connect: %s", strerror(errno));
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
            SSL_set1_host(ssl, "localhost") != 1)
                die("SSL_new");
        if (resume) {
                pthread_mutex_lock(&sess_lock);
                if (latest)
                        SSL_set_session(ssl, latest);
                pthread_mutex_unlock(&sess_lock);
        }
        if (SSL_connect(ssl) != 1)
                die("handshake failed");
        if (SSL_session_reused(ssl))
                atomic_fetch_add(&n_resumed, 1);
        if (SSL_write(ssl, "E", 1) != 1 || SSL_read(ssl, &b, 1) != 1 || b != 'E')
                die("echo failed");
        (void) SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
}

typedef struct Worker {
        pthread_t thread;
        pthread_barrier_t *start;
        int count;
} Worker;

static void *run(void *arg) {
        Worker *w = arg;

        pthread_barrier_wait(w->start);
        for (int i = 0; i < w->count; i++)
                one_connection();
        return NULL;
}

static void on_alarm(int sig) {
        static const char m[] = "resume-ref-client: timed out\n";

        (void) sig;
        (void) !write(STDERR_FILENO, m, sizeof(m) - 1);
        _exit(3);
}

static _Noreturn void usage(void) {
        fprintf(stderr, "usage: resume-ref-client --port=PORT --ca=FILE [--host=ADDR] "
                        "[--groups=LIST] [--suite=NAME] [--resume] [--timeout=S] hs COUNT INFLIGHT\n");
        exit(2);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "port", required_argument, NULL, 'p' },
                { "host", required_argument, NULL, 'H' },
                { "ca", required_argument, NULL, 'c' },
                { "groups", required_argument, NULL, 'g' },
                { "suite", required_argument, NULL, 's' },
                { "resume", no_argument, NULL, 'r' },
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        const char *ca = NULL, *groups = "P-256", *suite = "TLS_AES_128_GCM_SHA256";
        unsigned timeout = 120;
        int opt, count, inflight;
        Worker *w;
        pthread_barrier_t start;
        double t0, t1;
        struct rusage ru;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 'p': port = (unsigned) atoi(optarg); break;
                case 'H': host = optarg; break;
                case 'c': ca = optarg; break;
                case 'g': groups = optarg; break;
                case 's': suite = optarg; break;
                case 'r': resume = true; break;
                case 't': timeout = (unsigned) atoi(optarg); break;
                default: usage();
                }
        }
        if (argc - optind != 3 || strcmp(argv[optind], "hs") != 0 || !ca || port == 0 || port > 65535)
                usage();
        count = atoi(argv[optind + 1]);
        inflight = atoi(argv[optind + 2]);
        if (count <= 0 || inflight <= 0)
                usage();
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, on_alarm);
        alarm(timeout);

        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_ciphersuites(ctx, suite) != 1 || SSL_CTX_set1_groups_list(ctx, groups) != 1 ||
            SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
                die("context");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        /* tickets reach on_new_session; OpenSSL's own client cache stays out of it */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);

        w = calloc((size_t) inflight, sizeof(*w));
        pthread_barrier_init(&start, NULL, (unsigned) inflight + 1);
        for (int i = 0; i < inflight; i++) {
                w[i] = (Worker) { .start = &start, .count = count / inflight + (i < count % inflight) };
                pthread_create(&w[i].thread, NULL, run, &w[i]);
        }
        pthread_barrier_wait(&start);
        t0 = now_s();
        for (int i = 0; i < inflight; i++)
                pthread_join(w[i].thread, NULL);
        t1 = now_s();
        getrusage(RUSAGE_SELF, &ru);
        printf("test=hs count=%d inflight=%d seconds=%.4f per_s=%.1f resume=%s resumed=%d\n"
               "driver_cpu_s=%.3f\n", count, inflight, t1 - t0, (double) count / (t1 - t0),
               resume ? "on" : "off", atomic_load(&n_resumed),
               (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
        return 0;
}
