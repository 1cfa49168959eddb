/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls-server: the TLS peer of the tlsd/stunnel benchmark (bench/run.sh). System OpenSSL, one
 * blocking thread per connection, loopback only. Both clients under test talk to the same
 * instance, so the server side is identical for them.
 *
 * After the handshake the client's first byte picks what the connection does:
 *   'E'            echo: the server answers 'E', then echoes everything until EOF
 *   'S' + u64 N    sink: the server reads and discards N bytes, then answers 'K'
 *   'D' + u64 N    source: the server sends N bytes
 * (N little-endian). Then the server waits for the client's EOF and sends close_notify.
 *
 * Policy: TLS 1.3 only, one cipher suite and one group (so neither client can negotiate
 * something cheaper). By default no session tickets and no session cache (so every handshake
 * is full). With TICKETS > 0 (bench/resume-run.sh) the server issues that many stateless
 * TLS 1.3 tickets after every handshake, full or resumed (OpenSSL's default is 2), and accepts
 * them; still no stateful cache. Whether a client resumes is then the client's choice, and the
 * server's work per connection does not depend on which client it is.
 * SIGTERM/SIGINT print a summary (handshakes, failures, resumptions, tickets issued, what was
 * negotiated) to stderr and exit. SIGUSR1 prints one line of the counters so far
 * ("stats ok=N failed=N resumed=N tickets=N") to stderr and goes on.
 *
 * Usage: tls-server PORT CERT KEY [SUITE [GROUP [TICKETS]]]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;
static atomic_ulong n_ok, n_fail, n_resumed, n_tickets;
static pthread_mutex_t combo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
        char name[160];
        unsigned long count;
} combos[16];
static volatile sig_atomic_t stop, dump;

static void note_combo(SSL *ssl) {
        char name[160];
        int nid = SSL_get_negotiated_group(ssl);
        const char *g = nid > 0 ? OBJ_nid2sn(nid) : "?";

        /* resumed ones: group=? would be a PSK-only (psk_ke) resumption, without (EC)DHE */
        snprintf(name, sizeof(name), "%s %s group=%s%s", SSL_get_version(ssl),
                 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), g ? g : "?",
                 SSL_session_reused(ssl) ? " resumed" : "");
        pthread_mutex_lock(&combo_lock);
        for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
                if (combos[i].count == 0) {
                        snprintf(combos[i].name, sizeof(combos[i].name), "%s", name);
                        combos[i].count = 1;
                        break;
                }
                if (strcmp(combos[i].name, name) == 0) {
                        combos[i].count++;
                        break;
                }
        }
        pthread_mutex_unlock(&combo_lock);
}

static int read_full(SSL *ssl, void *buf, size_t size) {
        size_t got = 0;

        while (got < size) {
                int n = SSL_read(ssl, (char *) buf + got, (int) (size - got));

                if (n <= 0)
                        return -1;
                got += (size_t) n;
        }
        return 0;
}

static int write_full(SSL *ssl, const void *buf, size_t size) {
        size_t off = 0;

        while (off < size) {
                int n = SSL_write(ssl, (const char *) buf + off, (int) (size - off));

                if (n <= 0)
                        return -1;
                off += (size_t) n;
        }
        return 0;
}

static uint64_t get_u64(const unsigned char *p) {
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

static void *serve(void *arg) {
        static const unsigned char source[16384]; /* zeros; content does not matter */
        int fd = (int) (intptr_t) arg;
        unsigned char buf[65536], hdr[8];
        SSL *ssl = SSL_new(ctx);

        if (!ssl || SSL_set_fd(ssl, fd) != 1)
                goto out;
        if (SSL_accept(ssl) != 1) {
                atomic_fetch_add(&n_fail, 1);
                goto out;
        }
        atomic_fetch_add(&n_ok, 1);
        if (SSL_session_reused(ssl))
                atomic_fetch_add(&n_resumed, 1);
        note_combo(ssl);

        if (read_full(ssl, buf, 1) < 0)
                goto out;
        switch (buf[0]) {
        case 'E':
                if (write_full(ssl, "E", 1) < 0)
                        goto out;
                for (;;) {
                        int n = SSL_read(ssl, buf, sizeof(buf));

                        if (n <= 0 || write_full(ssl, buf, (size_t) n) < 0)
                                break;
                }
                break;
        case 'S': {
                uint64_t left;

                if (read_full(ssl, hdr, 8) < 0)
                        goto out;
                left = get_u64(hdr);
                while (left > 0) {
                        int n = SSL_read(ssl, buf, left < sizeof(buf) ? (int) left : (int) sizeof(buf));

                        if (n <= 0)
                                goto out;
                        left -= (uint64_t) n;
                }
                if (write_full(ssl, "K", 1) < 0)
                        goto out;
                while (SSL_read(ssl, buf, sizeof(buf)) > 0)
                        ;
                break;
        }
        case 'D': {
                uint64_t left;

                if (read_full(ssl, hdr, 8) < 0)
                        goto out;
                left = get_u64(hdr);
                while (left > 0) {
                        size_t n = left < sizeof(source) ? (size_t) left : sizeof(source);

                        if (write_full(ssl, source, n) < 0)
                                goto out;
                        left -= n;
                }
                while (SSL_read(ssl, buf, sizeof(buf)) > 0)
                        ;
                break;
        }
        default:
                break;
        }
        (void) SSL_shutdown(ssl);
out:
        SSL_free(ssl);
        close(fd);
        return NULL;
}

static void on_signal(int sig) {
        if (sig == SIGUSR1)
                dump = 1;
        else
                stop = 1;
}

/* Called for every ticket the server makes (stateless ones included). */
static int on_ticket_generated(SSL *ssl, void *arg) {
        (void) ssl;
        (void) arg;
        atomic_fetch_add(&n_tickets, 1);
        return 1;
}

static void print_stats(void) {
        fprintf(stderr, "stats ok=%lu failed=%lu resumed=%lu tickets=%lu\n", atomic_load(&n_ok),
                atomic_load(&n_fail), atomic_load(&n_resumed), atomic_load(&n_tickets));
        fflush(stderr);
}

int main(int argc, char *argv[]) {
        const char *suite = argc > 4 ? argv[4] : "TLS_AES_128_GCM_SHA256";
        const char *group = argc > 5 ? argv[5] : "P-256";
        int tickets = argc > 6 ? atoi(argv[6]) : 0;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct sigaction act = { .sa_handler = on_signal };
        pthread_attr_t attr;
        sigset_t sigs, old;
        int lfd, one = 1;

        if (argc < 4) {
                fprintf(stderr, "usage: %s PORT CERT KEY [SUITE [GROUP [TICKETS]]]\n", argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        sigaction(SIGTERM, &act, NULL); /* no SA_RESTART: accept() returns EINTR */
        sigaction(SIGINT, &act, NULL);
        sigaction(SIGUSR1, &act, NULL);
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGUSR1);

        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
            SSL_CTX_set_ciphersuites(ctx, suite) != 1 ||
            SSL_CTX_set1_groups_list(ctx, group) != 1 ||
            SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                ERR_print_errors_fp(stderr);
                return 1;
        }
        if (tickets <= 0) {
                /* Every handshake full: no tickets, no stateful cache. */
                SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
                SSL_CTX_set_num_tickets(ctx, 0);
        } else {
                /* Stateless TLS 1.3 tickets (the key is per process), TICKETS per handshake. */
                SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
                SSL_CTX_set_num_tickets(ctx, (size_t) tickets);
        }
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_session_ticket_cb(ctx, on_ticket_generated, NULL, NULL);

        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sa.sin_port = htons((uint16_t) atoi(argv[1]));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0) {
                perror("tls-server: listen");
                return 1;
        }
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 512 * 1024);

        while (!stop) {
                pthread_t t;
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                if (dump) {
                        dump = 0;
                        print_stats();
                }
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        perror("tls-server: accept");
                        break;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                /* The signals go to this thread only (accept() returns EINTR): the
                 * connection threads start with them blocked. */
                pthread_sigmask(SIG_BLOCK, &sigs, &old);
                if (pthread_create(&t, &attr, serve, (void *) (intptr_t) fd) != 0)
                        close(fd);
                pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        fprintf(stderr, "tls-server port %s: handshakes ok=%lu failed=%lu resumed=%lu tickets=%lu\n",
                argv[1], atomic_load(&n_ok), atomic_load(&n_fail), atomic_load(&n_resumed),
                atomic_load(&n_tickets));
        pthread_mutex_lock(&combo_lock);
        for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]) && combos[i].count; i++)
                fprintf(stderr, "tls-server port %s: %lu x %s\n", argv[1], combos[i].count,
                        combos[i].name);
        pthread_mutex_unlock(&combo_lock);
        return 0;
}
