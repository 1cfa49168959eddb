/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd-server-app: the plaintext backend of the server-side benchmark (bench/run-server.sh).
 * One program, one single-threaded poll() loop and the same per-connection code for both
 * servers under test; only where the plaintext connections come from differs:
 *
 *   --tlsd=SOCKET  listens through tlsd (libtlsclient): a server session with the given
 *                  certificate and key, tlsc_listen() on 127.0.0.1, and every
 *                  TLSC_EVENT_ACCEPTED event hands over a plaintext fd (kept with ev->fd = -1),
 *                  as a real app on tlsd would do;
 *   --tcp          a plain TCP listener on 127.0.0.1 (the backend stunnel's `connect =` points
 *                  at: stunnel terminates TLS and opens one plain TCP connection per client).
 *
 * Per connection, the protocol of bench/tls-server (the client-side benchmark's peer), in
 * plaintext: the first byte picks
 *   'E'            echo: answer 'E', then echo everything until EOF
 *   'S' + u64 N    sink: read and discard N bytes, then answer 'K'
 *   'D' + u64 N    source: send N bytes
 * (N little-endian), then wait for EOF and close.
 *
 * The listening port is printed on stdout (one line) once the server is ready. SIGTERM/SIGINT
 * print a summary to stderr and exit.
 *
 * Usage: tlsd-server-app --tcp [--port=P]
 *        tlsd-server-app --tlsd=SOCKET --cert=CHAIN --key=KEY [--port=P] [--groups=LIST]
 *                        [--ciphers=LIST]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsd/client.h"

#define BUF (64 * 1024)

enum { C_CMD, C_HDR, C_ECHO, C_SINK, C_SOURCE, C_DRAIN };

typedef struct Conn {
        int fd;
        int st;
        bool source; /* C_HDR: 'D' (else 'S') */
        unsigned char hdr[8];
        size_t hdr_got;
        uint64_t left;
        char *out; /* pending output: an answer byte or echoed data */
        size_t out_len, out_off;
} Conn;

static Conn **conns;
static size_t n_conns, cap_conns;
static volatile sig_atomic_t stop;
static struct {
        unsigned long accepted, closed, incomplete, sinks, sources, echoes;
        unsigned long long bytes_in, bytes_out;
        unsigned long disconnect[8], accepted_events, failed_dispatch;
} stats;

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("tlsd-server-app: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static void conn_add(int fd) {
        Conn *c = calloc(1, sizeof(*c));

        if (!c)
                die("out of memory");
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        c->fd = fd;
        c->st = C_CMD;
        if (n_conns == cap_conns) {
                cap_conns = cap_conns ? 2 * cap_conns : 64;
                conns = realloc(conns, cap_conns * sizeof(*conns));
                if (!conns)
                        die("out of memory");
        }
        conns[n_conns++] = c;
        stats.accepted++;
}

static void conn_free(Conn *c) {
        close(c->fd);
        free(c->out);
        free(c);
        stats.closed++;
}

static void queue_out(Conn *c, const void *data, size_t size) {
        char *p = realloc(c->out, c->out_len + size);

        if (!p)
                die("out of memory");
        memcpy(p + c->out_len, data, size);
        c->out = p;
        c->out_len += size;
}

static uint64_t get_u64(const unsigned char *p) {
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

/* Consumes received bytes according to the connection's state. */
static void consume(Conn *c, const unsigned char *p, size_t n) {
        while (n > 0) {
                switch (c->st) {
                case C_CMD:
                        if (p[0] == 'E') {
                                queue_out(c, "E", 1);
                                c->st = C_ECHO;
                                stats.echoes++;
                        } else if (p[0] == 'S' || p[0] == 'D') {
                                c->source = p[0] == 'D';
                                c->st = C_HDR;
                        } else
                                c->st = C_DRAIN;
                        p++, n--;
                        break;
                case C_HDR: {
                        size_t k = 8 - c->hdr_got < n ? 8 - c->hdr_got : n;

                        memcpy(c->hdr + c->hdr_got, p, k);
                        c->hdr_got += k;
                        p += k, n -= k;
                        if (c->hdr_got == 8) {
                                c->left = get_u64(c->hdr);
                                if (c->source) {
                                        c->st = c->left ? C_SOURCE : C_DRAIN;
                                        stats.sources++;
                                } else if (c->left == 0) {
                                        queue_out(c, "K", 1);
                                        c->st = C_DRAIN;
                                        stats.sinks++;
                                } else
                                        c->st = C_SINK;
                        }
                        break;
                }
                case C_SINK: {
                        size_t k = c->left < n ? (size_t) c->left : n;

                        c->left -= k;
                        p += k, n -= k;
                        if (c->left == 0) {
                                queue_out(c, "K", 1);
                                c->st = C_DRAIN;
                                stats.sinks++;
                        }
                        break;
                }
                case C_ECHO:
                        queue_out(c, p, n);
                        return;
                default: /* C_SOURCE, C_DRAIN: whatever comes is discarded */
                        return;
                }
        }
}

/* Does what the connection can do now. Returns false when it is finished (to be closed). */
static bool conn_step(Conn *c) {
        static const char zeros[BUF];
        static unsigned char in[BUF];

        for (int round = 0; round < 4; round++) {
                if (c->out_len > c->out_off) {
                        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

                        if (w < 0)
                                return errno == EAGAIN || errno == EINTR;
                        stats.bytes_out += (unsigned long long) w;
                        c->out_off += (size_t) w;
                        if (c->out_off < c->out_len)
                                return true; /* wait for POLLOUT */
                        c->out_off = c->out_len = 0;
                        continue;
                }
                if (c->st == C_SOURCE) {
                        size_t k = c->left < BUF ? (size_t) c->left : BUF;
                        ssize_t w = write(c->fd, zeros, k);

                        if (w < 0)
                                return errno == EAGAIN || errno == EINTR;
                        stats.bytes_out += (unsigned long long) w;
                        c->left -= (uint64_t) w;
                        if (c->left == 0)
                                c->st = C_DRAIN;
                        continue;
                }
                {
                        ssize_t n = read(c->fd, in, sizeof(in));

                        if (n < 0)
                                return errno == EAGAIN || errno == EINTR;
                        if (n == 0) {
                                if (c->st == C_HDR || c->st == C_SINK || (c->st == C_CMD))
                                        stats.incomplete++;
                                /* Our clean end too (tlsd: close_notify; a close alone after
                                 * the peer's end would do, but says less). */
                                (void) shutdown(c->fd, SHUT_WR);
                                return false;
                        }
                        stats.bytes_in += (unsigned long long) n;
                        consume(c, in, (size_t) n);
                }
        }
        return true;
}

static short conn_events(const Conn *c) {
        return (c->out_len > c->out_off || c->st == C_SOURCE) ? POLLOUT : POLLIN;
}

static void on_event(tlsc_client *cl, tlsc_event *ev, void *userdata) {
        (void) cl;
        (void) userdata;
        if (ev->type == TLSC_EVENT_ACCEPTED) {
                stats.accepted_events++;
                conn_add(ev->fd);
                ev->fd = -1; /* ours now */
        } else if (ev->type == TLSC_EVENT_DISCONNECTED) {
                if (ev->reason >= 0 && ev->reason < 8)
                        stats.disconnect[ev->reason]++;
        }
}

static char *read_file(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf;
        size_t n, size = 0;

        if (!f)
                die("%s: %s", path, strerror(errno));
        buf = malloc(1 << 20);
        if (!buf)
                die("out of memory");
        while ((n = fread(buf + size, 1, (1 << 20) - size, f)) > 0)
                size += n;
        fclose(f);
        *ret_size = size;
        return buf;
}

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "tcp", no_argument, NULL, 'T' },
                { "tlsd", required_argument, NULL, 's' },
                { "cert", required_argument, NULL, 'c' },
                { "key", required_argument, NULL, 'k' },
                { "port", required_argument, NULL, 'p' },
                { "groups", required_argument, NULL, 'g' },
                { "ciphers", required_argument, NULL, 'C' },
                {},
        };
        const char *tlsd_socket = NULL, *cert_path = NULL, *key_path = NULL;
        tlsc_session_options so = { .version_min = 0x0304, .version_max = 0x0304 };
        struct sigaction act = { .sa_handler = on_signal };
        bool tcp = false;
        unsigned port = 0;
        tlsc_client *cl = NULL;
        int lfd = -1, opt, r;
        struct pollfd *p = NULL;
        size_t cap_p = 0;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 'T':
                        tcp = true;
                        break;
                case 's':
                        tlsd_socket = optarg;
                        break;
                case 'c':
                        cert_path = optarg;
                        break;
                case 'k':
                        key_path = optarg;
                        break;
                case 'p':
                        port = (unsigned) atoi(optarg);
                        break;
                case 'g':
                        so.groups = optarg;
                        break;
                case 'C':
                        so.ciphers = optarg;
                        break;
                default:
                        goto usage;
                }
        }
        if (tcp == !!tlsd_socket || (tlsd_socket && (!cert_path || !key_path)) || port > 65535) {
        usage:
                fprintf(stderr, "usage: tlsd-server-app --tcp [--port=P]\n"
                                "       tlsd-server-app --tlsd=SOCKET --cert=CHAIN --key=KEY "
                                "[--port=P] [--groups=LIST] [--ciphers=LIST]\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        sigaction(SIGTERM, &act, NULL); /* no SA_RESTART: poll() returns EINTR */
        sigaction(SIGINT, &act, NULL);

        if (tcp) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t len = sizeof(sa);
                int one = 1;

                lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (lfd < 0)
                        die("socket: %s", strerror(errno));
                (void) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
                    getsockname(lfd, (struct sockaddr *) &sa, &len) < 0)
                        die("listen on 127.0.0.1 port %u: %s", port, strerror(errno));
                port = ntohs(sa.sin_port);
        } else {
                uint64_t session, listener;
                tlsc_listen_options lo = { .backlog = 4096 };
                size_t cs, ks;
                char *cert = read_file(cert_path, &cs), *key = read_file(key_path, &ks);

                so.cert = cert;
                so.cert_size = cs;
                so.key = key;
                so.key_size = ks;
                r = tlsc_open(tlsd_socket, &cl);
                if (r < 0)
                        die("cannot reach tlsd at %s: %s", tlsd_socket, tlsd_strerror(r));
                tlsc_set_timeout(cl, 30000);
                tlsc_set_event_handler(cl, on_event, NULL);
                r = tlsc_session_create(cl, TLSC_ROLE_SERVER, &so, &session);
                if (r < 0)
                        die("server session: %s: %s", tlsd_strerror(r), tlsc_last_error_message(cl));
                explicit_bzero(key, ks);
                free(key);
                free(cert);
                r = tlsc_listen(cl, session, "127.0.0.1", port, &lo, &listener, &port);
                if (r < 0)
                        die("listen: %s: %s", tlsd_strerror(r), tlsc_last_error_message(cl));
        }
        printf("%u\n", port);
        fflush(stdout);

        while (!stop) {
                size_t n = 0, base;

                if (cap_p < n_conns + 1) {
                        cap_p = 2 * (n_conns + 1);
                        p = realloc(p, cap_p * sizeof(*p));
                        if (!p)
                                die("out of memory");
                }
                if (tcp)
                        p[n++] = (struct pollfd) { .fd = lfd, .events = POLLIN };
                else
                        p[n++] = (struct pollfd) { .fd = tlsc_get_fd(cl), .events = tlsc_get_events(cl) };
                base = n;
                for (size_t i = 0; i < n_conns; i++)
                        p[n++] = (struct pollfd) { .fd = conns[i]->fd, .events = conn_events(conns[i]) };
                if (poll(p, n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        die("poll: %s", strerror(errno));
                }
                /* Connections, backwards: one that ends is replaced by the last one, which
                 * was handled already. New ones are appended after this. */
                for (size_t i = n_conns; i-- > 0;) {
                        Conn *c = conns[i];

                        if (p[base + i].revents && !conn_step(c)) {
                                conn_free(c);
                                conns[i] = conns[--n_conns];
                        }
                }
                if (p[0].revents) {
                        if (tcp) {
                                for (int i = 0; i < 64; i++) {
                                        int one = 1, fd = accept4(lfd, NULL, NULL,
                                                                  SOCK_NONBLOCK | SOCK_CLOEXEC);

                                        if (fd < 0)
                                                break;
                                        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                                                          sizeof(one));
                                        conn_add(fd);
                                }
                        } else if (tlsc_dispatch(cl) < 0)
                                die("lost the connection to tlsd");
                }
        }

        fprintf(stderr, "tlsd-server-app (%s) port %u: connections accepted=%lu closed=%lu "
                        "incomplete=%lu; sinks=%lu sources=%lu echoes=%lu; bytes in=%llu out=%llu",
                tcp ? "tcp" : "tlsd", port, stats.accepted, stats.closed, stats.incomplete,
                stats.sinks, stats.sources, stats.echoes, stats.bytes_in, stats.bytes_out);
        if (!tcp) {
                fprintf(stderr, "; tlsd events: accepted=%lu disconnected:", stats.accepted_events);
                for (int i = 0; i < _TLSC_DISCONNECT_MAX; i++)
                        fprintf(stderr, " %s=%lu", tlsc_disconnect_reason_name(i), stats.disconnect[i]);
                tlsc_close(cl);
        }
        fputc('\n', stderr);
        return 0;
}
