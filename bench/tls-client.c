/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls-client: the load generator of the server-side benchmark (bench/run-server.sh). System
 * OpenSSL, blocking sockets, one thread per stream or per handshake slot. It talks TLS to a
 * server under test (tlsd listening for bench/tlsd-server-app, or stunnel4 in server mode in
 * front of tlsd-server-app --tcp) and is identical for both: same context, same policy, same
 * code path.
 *
 * Policy: TLS 1.3 only, the single suite given (default TLS_AES_128_GCM_SHA256), the groups
 * given (default P-256), SNI and host-name check "localhost", chain verified against --ca.
 * Every handshake is a fresh full one: a new SSL object each time, no session is ever set for
 * reuse (tickets the server sends are counted, then dropped).
 *
 * Tests (one per run; the result is one line of key=value pairs on stdout):
 *   hs COUNT INFLIGHT          COUNT fresh handshakes by INFLIGHT threads; each: TCP connect,
 *                              SSL_connect, 1-byte round trip through the backend's echo
 *                              ('E' -> 'E'), close_notify, close
 *   bulk STREAMS MIB up|down   STREAMS connections, established first, then each sends MIB MiB
 *                              to the backend's sink and waits for its 1-byte acknowledgement
 *                              of the last byte (up), or reads MIB MiB from its source (down);
 *                              MBps = all bytes / wall time, 1 MB = 10^6 bytes
 *   info                       one connection: what was negotiated
 *
 * Usage: tls-client --port=PORT --ca=FILE [--host=ADDR] [--servername=NAME] [--groups=LIST]
 *                   [--suite=NAME] [--timeout=S] TEST ARGS...
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static const char *host = "127.0.0.1", *servername = "localhost", *groups = "P-256";
static const char *suite = "TLS_AES_128_GCM_SHA256", *ca_path;
static unsigned port;
static SSL_CTX *ctx;
static atomic_ulong n_tickets;

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("tls-client: ", stderr);
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

/* Called for every ticket the server sends: counted, never kept (no resumption). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
        (void) ssl;
        (void) sess;
        atomic_fetch_add(&n_tickets, 1);
        return 0; /* we did not take a reference: OpenSSL frees it */
}

static void ctx_init(void) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_ciphersuites(ctx, suite) != 1 ||
            SSL_CTX_set1_groups_list(ctx, groups) != 1 ||
            SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1)
                die("cannot set up the TLS context");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        /* The callback needs client-side caching on; nothing is stored internally. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

typedef struct Conn {
        int fd;
        SSL *ssl;
} Conn;

static void conn_open(Conn *c) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        int one = 1;

        inet_pton(AF_INET, host, &sa.sin_addr);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                die("connect %s:%u: %s", host, port, strerror(errno));
        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->ssl = SSL_new(ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
            SSL_set_tlsext_host_name(c->ssl, servername) != 1 || SSL_set1_host(c->ssl, servername) != 1)
                die("SSL_new");
        if (SSL_connect(c->ssl) != 1)
                die("handshake with port %u failed (verify: %s)", port,
                    X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
        if (SSL_session_reused(c->ssl))
                die("a session was resumed");
}

static void conn_close(Conn *c) {
        (void) SSL_shutdown(c->ssl); /* our close_notify; the server's is not waited for */
        SSL_free(c->ssl);
        close(c->fd);
        c->ssl = NULL;
        c->fd = -1;
}

static void write_full(SSL *ssl, const void *buf, size_t size) {
        size_t off = 0;

        while (off < size) {
                int n = SSL_write(ssl, (const char *) buf + off, (int) (size - off));

                if (n <= 0)
                        die("SSL_write: error %d", SSL_get_error(ssl, n));
                off += (size_t) n;
        }
}

static void read_full(SSL *ssl, void *buf, size_t size) {
        size_t got = 0;

        while (got < size) {
                int n = SSL_read(ssl, (char *) buf + got, (int) (size - got));

                if (n <= 0)
                        die("SSL_read: error %d (unexpected end)", SSL_get_error(ssl, n));
                got += (size_t) n;
        }
}

static void put_u64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++, v >>= 8)
                p[i] = (unsigned char) v;
}

/* ---- handshakes ---- */

typedef struct HsWorker {
        pthread_t thread;
        pthread_barrier_t *start;
        int count;
} HsWorker;

static void *hs_run(void *arg) {
        HsWorker *w = arg;

        pthread_barrier_wait(w->start);
        for (int i = 0; i < w->count; i++) {
                Conn c;
                char b;

                conn_open(&c);
                write_full(c.ssl, "E", 1);
                read_full(c.ssl, &b, 1);
                if (b != 'E')
                        die("echo answered 0x%02x", (unsigned char) b);
                conn_close(&c);
        }
        return NULL;
}

static void test_hs(int count, int inflight) {
        HsWorker *w = calloc((size_t) inflight, sizeof(*w));
        pthread_barrier_t start;
        double t0, t1;

        pthread_barrier_init(&start, NULL, (unsigned) inflight + 1);
        for (int i = 0; i < inflight; i++) {
                w[i].start = &start;
                w[i].count = count / inflight + (i < count % inflight);
                pthread_create(&w[i].thread, NULL, hs_run, &w[i]);
        }
        pthread_barrier_wait(&start);
        t0 = now_s();
        for (int i = 0; i < inflight; i++)
                pthread_join(w[i].thread, NULL);
        t1 = now_s();
        printf("test=hs count=%d inflight=%d seconds=%.4f per_s=%.1f tickets=%lu\n", count, inflight,
               t1 - t0, (double) count / (t1 - t0), atomic_load(&n_tickets));
}

/* ---- bulk ---- */

typedef struct Stream {
        pthread_t thread;
        pthread_barrier_t *start;
        Conn c;
        bool up;
        uint64_t bytes;
        double t_end;
} Stream;

static void *stream_run(void *arg) {
        static char out[65536]; /* zeros; content does not matter */
        Stream *s = arg;
        unsigned char hdr[9];
        uint64_t left = s->bytes;

        hdr[0] = s->up ? 'S' : 'D';
        put_u64(hdr + 1, s->bytes);
        pthread_barrier_wait(s->start);
        write_full(s->c.ssl, hdr, sizeof(hdr));
        if (s->up) {
                char k;

                while (left > 0) {
                        size_t n = left < sizeof(out) ? (size_t) left : sizeof(out);

                        write_full(s->c.ssl, out, n);
                        left -= n;
                }
                read_full(s->c.ssl, &k, 1);
                if (k != 'K')
                        die("sink answered 0x%02x", (unsigned char) k);
        } else {
                char in[65536];

                while (left > 0) {
                        int n = SSL_read(s->c.ssl, in, left < sizeof(in) ? (int) left : (int) sizeof(in));

                        if (n <= 0)
                                die("download: SSL_read error %d", SSL_get_error(s->c.ssl, n));
                        left -= (uint64_t) n;
                }
        }
        s->t_end = now_s();
        return NULL;
}

static void test_bulk(int streams, unsigned mib, bool up) {
        Stream *st = calloc((size_t) streams, sizeof(*st));
        pthread_barrier_t start;
        double t0, t1 = 0;

        for (int i = 0; i < streams; i++)
                conn_open(&st[i].c);
        pthread_barrier_init(&start, NULL, (unsigned) streams + 1);
        for (int i = 0; i < streams; i++) {
                st[i].start = &start;
                st[i].up = up;
                st[i].bytes = (uint64_t) mib << 20;
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
                conn_close(&st[i].c);
        printf("test=bulk streams=%d dir=%s mib_per_stream=%u seconds=%.4f MBps=%.1f\n", streams,
               up ? "up" : "down", mib, t1 - t0,
               (double) streams * (double) ((uint64_t) mib << 20) / (t1 - t0) / 1e6);
}

/* ---- info ---- */

static void test_info(void) {
        Conn c;
        char b, subject[256] = "?";
        X509 *peer;
        int nid = 0, sig = 0, hash = 0;
        EVP_PKEY *pk;

        conn_open(&c);
        write_full(c.ssl, "E", 1);
        read_full(c.ssl, &b, 1);
        peer = SSL_get1_peer_certificate(c.ssl);
        if (peer) {
                X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
                pk = X509_get0_pubkey(peer);
                printf("test=info version=%s cipher=%s group=%s sigalg=%s+%s peer_key=%s-%d "
                       "peer=\"%s\" verify=%s resumed=%d",
                       SSL_get_version(c.ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl)),
                       (nid = SSL_get_negotiated_group(c.ssl)) > 0 ? OBJ_nid2sn(nid) : "?",
                       SSL_get_peer_signature_type_nid(c.ssl, &sig) != 1 ? "?"
                       : sig == EVP_PKEY_EC                              ? "ecdsa"
                       : sig == EVP_PKEY_RSA_PSS                         ? "rsa_pss"
                       : sig == EVP_PKEY_RSA                             ? "rsa_pkcs1"
                                                                         : OBJ_nid2sn(sig),
                       SSL_get_peer_signature_nid(c.ssl, &hash) == 1 ? OBJ_nid2sn(hash) : "?",
                       pk ? EVP_PKEY_get0_type_name(pk) : "?", pk ? EVP_PKEY_get_bits(pk) : 0,
                       subject, X509_verify_cert_error_string(SSL_get_verify_result(c.ssl)),
                       SSL_session_reused(c.ssl));
                X509_free(peer);
        }
        conn_close(&c);
        printf(" tickets=%lu\n", atomic_load(&n_tickets));
}

static void on_alarm(int sig) {
        (void) sig;
        static const char m[] = "tls-client: timed out\n";
        (void) !write(STDERR_FILENO, m, sizeof(m) - 1);
        _exit(3);
}

static _Noreturn void usage(void) {
        fprintf(stderr,
                "usage: tls-client --port=PORT --ca=FILE [--host=ADDR] [--servername=NAME]\n"
                "                  [--groups=LIST] [--suite=NAME] [--timeout=S]\n"
                "                  hs COUNT INFLIGHT | bulk STREAMS MIB up|down | info\n");
        exit(2);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "port", required_argument, NULL, 'p' },
                { "host", required_argument, NULL, 'H' },
                { "ca", required_argument, NULL, 'c' },
                { "servername", required_argument, NULL, 'n' },
                { "groups", required_argument, NULL, 'g' },
                { "suite", required_argument, NULL, 'S' },
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        unsigned timeout = 120;
        int opt;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 'p':
                        port = (unsigned) atoi(optarg);
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 'c':
                        ca_path = optarg;
                        break;
                case 'n':
                        servername = optarg;
                        break;
                case 'g':
                        groups = optarg;
                        break;
                case 'S':
                        suite = optarg;
                        break;
                case 't':
                        timeout = (unsigned) atoi(optarg);
                        break;
                default:
                        usage();
                }
        }
        if (optind >= argc || port == 0 || port > 65535 || !ca_path)
                usage();
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, on_alarm);
        alarm(timeout);
        ctx_init();

        if (strcmp(argv[optind], "bulk") == 0 && argc - optind == 4)
                test_bulk(atoi(argv[optind + 1]), (unsigned) atoi(argv[optind + 2]),
                          strcmp(argv[optind + 3], "up") == 0);
        else if (strcmp(argv[optind], "hs") == 0 && argc - optind == 3)
                test_hs(atoi(argv[optind + 1]), atoi(argv[optind + 2]));
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
        SSL_CTX_free(ctx);
        return 0;
}
