/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udp-relay: a lossy UDP relay that the DTLS tests put between a client and a server on
 * loopback, in place of tc netem (which needs CAP_NET_ADMIN and is not there in CI). It
 * drops, duplicates, reorders and delays datagrams in both directions, never changes a payload
 * byte, and acts like a NAT: each client address gets its own upstream socket, so the server
 * sees one source port per client, and on SIGUSR1 (or --rebind-after N) every client moves to
 * a new upstream port, as when a NAT forgets its mappings; DTLS Connection IDs must survive it.
 *
 * Randomness is reproducible: every decision comes from splitmix64 (Steele, Lea and Flood,
 * "Fast splittable pseudorandom number generators", 2014; the generator that seeds xoshiro),
 * one stream per client and direction. The stream of client k (numbered from 0 in the order of
 * their first datagram) in direction d (0 client->server, 1 server->client) starts from
 * splitmix64(seed ^ (2k + d + 1) * 0xD1B54A32D192ED03), and each datagram takes exactly five
 * draws from it: drop, duplicate, reorder, delay, delay of the copy. So the decisions about the
 * n-th datagram of a flow depend only on the seed, k, d and n: not on timing, not on how the two
 * directions interleave, and a datagram's drop decision not even on the other options. (Timing
 * only decides whether a held datagram is released by the next one or by its timer.)
 *
 * One thread, one poll() loop: the listen socket, a signalfd and the clients' upstream sockets.
 * Datagrams that wait (delay, reordering) sit in a binary heap ordered by due time, then arrival;
 * poll() sleeps until the earliest is due. Nothing sleeps per datagram.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h> /* isfinite() */
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

#define CLIENTS_MAX 1024u
#define QUEUE_MAX 4096u
#define DATAGRAM_MAX 65535u
#define DELAY_MS_MAX 60000u
#define REORDER_HOLD_MS 50u /* a held datagram goes out at the latest this long after arrival */
#define BATCH_MAX 64        /* datagrams read from one socket per loop iteration */
#define SOCKET_BUFFER (1024 * 1024)
#define NSEC_PER_MSEC UINT64_C(1000000)

typedef enum Direction {
        DIRECTION_C2S,
        DIRECTION_S2C,
        _DIRECTION_MAX,
} Direction;

static const char *const direction_name[_DIRECTION_MAX] = { "c2s", "s2c" };

/* A datagram waiting in the queue, for its delay or for the datagram it is held behind. */
typedef struct Packet {
        uint64_t due;   /* CLOCK_MONOTONIC, ns */
        uint64_t seq;   /* equal due times go out in this order */
        uint64_t delay; /* ns, drawn on arrival; a held datagram gets it on release */
        size_t heap_index;
        unsigned client;
        Direction direction;
        bool held;
        size_t size;
        uint8_t data[];
} Packet;

typedef struct Client {
        struct sockaddr_storage address;
        socklen_t address_size;
        int upstream_fd;
        unsigned upstream_port;
        uint64_t prng[_DIRECTION_MAX];
        Packet *held[_DIRECTION_MAX]; /* held back for reordering, also in the queue */
} Client;

typedef struct Stats {
        uint64_t received[_DIRECTION_MAX];
        uint64_t sent[_DIRECTION_MAX];
        uint64_t dropped[_DIRECTION_MAX];
        uint64_t duplicated, reordered, delayed, rebinds;
        uint64_t queue_overflow, client_overflow, send_errors;
} Stats;

typedef struct Relay {
        /* options */
        struct sockaddr_storage listen_address, target;
        socklen_t listen_address_size, target_size;
        uint64_t seed;
        uint64_t drop, dup, reorder; /* probabilities as thresholds on 53-bit draws */
        unsigned delay_ms;
        uint64_t rebind_after;
        const char *port_file, *stats_file;
        bool verbose;

        int listen_fd;
        int signal_fd;
        Client *clients;
        unsigned n_clients;
        Packet **queue;
        size_t n_queue;
        uint64_t next_seq;
        bool rebind_done;
        Stats stats;
        struct pollfd *pollfds;
        uint8_t *buffer;
} Relay;

static uint64_t splitmix64(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

#define TWO_POW_53 9007199254740992.0

/* Percent (0..100) to a threshold: a draw's top 53 bits below it mean "yes". */
static uint64_t percent_threshold(double percent) {
        return (uint64_t) (percent / 100.0 * TWO_POW_53);
}

static double threshold_percent(uint64_t threshold) {
        return (double) threshold / TWO_POW_53 * 100.0;
}

static bool chance(uint64_t draw, uint64_t threshold) {
        return (draw >> 11) < threshold;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

static const char *format_address(const struct sockaddr_storage *a, char *buf, size_t size) {
        char host[INET6_ADDRSTRLEN];

        if (a->ss_family == AF_INET6) {
                const struct sockaddr_in6 *s = (const struct sockaddr_in6 *) a;

                inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
                snprintf(buf, size, "[%s]:%u", host, ntohs(s->sin6_port));
        } else {
                const struct sockaddr_in *s = (const struct sockaddr_in *) a;

                inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
                snprintf(buf, size, "%s:%u", host, ntohs(s->sin_port));
        }
        return buf;
}

static unsigned address_port(const struct sockaddr_storage *a) {
        if (a->ss_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *) a)->sin6_port);
        return ntohs(((const struct sockaddr_in *) a)->sin_port);
}

static bool address_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET6) {
                const struct sockaddr_in6 *x = (const struct sockaddr_in6 *) a;
                const struct sockaddr_in6 *y = (const struct sockaddr_in6 *) b;

                return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
                       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
        }
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *x = (const struct sockaddr_in *) a;
                const struct sockaddr_in *y = (const struct sockaddr_in *) b;

                return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        }
        return false;
}

/* "127.0.0.1:4433" or "[::1]:4433", numeric only. */
static int parse_address(const char *s, bool port_zero_ok, struct sockaddr_storage *ret,
                         socklen_t *ret_size) {
        char host[INET6_ADDRSTRLEN];
        const char *port, *end;
        unsigned long p;
        size_t n;
        char *e;

        if (s[0] == '[') {
                end = strchr(s, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                n = (size_t) (end - s - 1);
                s++;
                port = end + 2;
        } else {
                end = strrchr(s, ':');
                if (!end || memchr(s, ':', (size_t) (end - s)))
                        return -EINVAL; /* no port, or IPv6 without brackets */
                n = (size_t) (end - s);
                port = end + 1;
        }
        if (n == 0 || n >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, n);
        host[n] = 0;

        if (port[0] < '0' || port[0] > '9')
                return -EINVAL;
        errno = 0;
        p = strtoul(port, &e, 10);
        if (errno != 0 || *e != 0 || p > 65535 || (p == 0 && !port_zero_ok))
                return -EINVAL;

        memset(ret, 0, sizeof(*ret));
        if (s[-1] == '[') {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) ret;

                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t) p);
                if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
                        return -EINVAL;
                *ret_size = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) ret;

                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t) p);
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                *ret_size = sizeof(*a);
        }
        return 0;
}

/* Write a whole file under FILE.tmp, then rename it into place: readers never see half of it. */
static int write_file_atomic(const char *path, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = strlen(text), done = 0;

        if (asprintf(&tmp, "%s.tmp", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (done < size) {
                ssize_t n = write(fd, text + done, size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        if (rename(tmp, path) < 0)
                return -errno;
        return 0;
}

/* ---- the queue: a binary min-heap of Packet, by (due, seq) ---------------------------------- */

static bool packet_before(const Packet *a, const Packet *b) {
        return a->due != b->due ? a->due < b->due : a->seq < b->seq;
}

static void queue_place(Relay *r, size_t i, Packet *p) {
        r->queue[i] = p;
        p->heap_index = i;
}

static void queue_sift_up(Relay *r, size_t i) {
        Packet *p = r->queue[i];

        while (i > 0 && packet_before(p, r->queue[(i - 1) / 2])) {
                queue_place(r, i, r->queue[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        queue_place(r, i, p);
}

static void queue_sift_down(Relay *r, size_t i) {
        Packet *p = r->queue[i];

        for (;;) {
                size_t child = 2 * i + 1;

                if (child >= r->n_queue)
                        break;
                if (child + 1 < r->n_queue && packet_before(r->queue[child + 1], r->queue[child]))
                        child++;
                if (!packet_before(r->queue[child], p))
                        break;
                queue_place(r, i, r->queue[child]);
                i = child;
        }
        queue_place(r, i, p);
}

/* After p's (due, seq) changed. */
static void queue_update(Relay *r, Packet *p) {
        queue_sift_up(r, p->heap_index);
        queue_sift_down(r, p->heap_index);
}

/* The caller has checked that there is room. */
static void queue_push(Relay *r, Packet *p) {
        assert(r->n_queue < QUEUE_MAX);
        queue_place(r, r->n_queue++, p);
        queue_sift_up(r, p->heap_index);
}

static void queue_remove(Relay *r, Packet *p) {
        size_t i = p->heap_index;
        Packet *last = r->queue[--r->n_queue];

        if (last != p) {
                queue_place(r, i, last);
                queue_update(r, last);
        }
}

/* ---- relaying ------------------------------------------------------------------------------- */

static void relay_send(Relay *r, unsigned client, Direction d, const void *data, size_t size) {
        Client *c = &r->clients[client];
        ssize_t n;

        if (d == DIRECTION_C2S)
                n = send(c->upstream_fd, data, size, MSG_DONTWAIT);
        else
                n = sendto(r->listen_fd, data, size, MSG_DONTWAIT,
                           (const struct sockaddr *) &c->address, c->address_size);
        if (n < 0) {
                r->stats.send_errors++;
                if (r->verbose)
                        fprintf(stderr, "udp-relay: client %u %s: send: %s\n", client,
                                direction_name[d], strerror(errno));
                return;
        }
        r->stats.sent[d]++;
}

static void relay_count_drop(Relay *r, Direction d) {
        r->stats.dropped[d]++;
}

/* A new queued datagram, or NULL when the queue is full (then it counts as dropped). */
static Packet *relay_packet_new(Relay *r, unsigned client, Direction d, const void *data,
                                size_t size, uint64_t delay) {
        Packet *p;

        if (r->n_queue >= QUEUE_MAX) {
                r->stats.queue_overflow++;
                relay_count_drop(r, d);
                if (r->stats.queue_overflow == 1 || r->verbose)
                        fprintf(stderr,
                                "udp-relay: %u datagrams queued, dropping more "
                                "(queue_overflow)\n",
                                QUEUE_MAX);
                return NULL;
        }
        p = malloc(sizeof(Packet) + size);
        if (!p) {
                relay_count_drop(r, d);
                fprintf(stderr, "udp-relay: out of memory, datagram dropped\n");
                return NULL;
        }
        *p = (Packet){
                .delay = delay,
                .seq = r->next_seq++,
                .client = client,
                .direction = d,
                .size = size,
        };
        memcpy(p->data, data, size);
        return p;
}

/* Let a held datagram go: after its own delay, and never before `after`, the due time of the
 * datagram it was held behind (it gets a later seq, so it loses a tie). */
static void relay_release(Relay *r, Packet *p, uint64_t now, uint64_t after) {
        uint64_t due = now + p->delay;

        r->clients[p->client].held[p->direction] = NULL;
        p->held = false;
        if (p->delay > 0)
                r->stats.delayed++;
        if (due < after)
                due = after;
        if (due <= now) {
                queue_remove(r, p);
                relay_send(r, p->client, p->direction, p->data, p->size);
                free(p);
                return;
        }
        p->due = due;
        p->seq = r->next_seq++;
        queue_update(r, p);
}

static uint64_t relay_draw_delay(Relay *r, uint64_t draw) {
        /* uniform over 0..delay_ms whole milliseconds: the top 32 bits scaled, no overflow */
        uint64_t ms = ((draw >> 32) * ((uint64_t) r->delay_ms + 1)) >> 32;

        return ms * NSEC_PER_MSEC;
}

static void relay_datagram(Relay *r, unsigned client, Direction d, const void *data, size_t size) {
        Client *c = &r->clients[client];
        Packet *held_before = c->held[d];
        uint64_t draw[5], now, last_due;
        unsigned copies;
        bool hold;

        for (size_t i = 0; i < ELEMENTSOF(draw); i++)
                draw[i] = splitmix64(&c->prng[d]);

        if (chance(draw[0], r->drop)) {
                relay_count_drop(r, d);
                return;
        }
        copies = chance(draw[1], r->dup) ? 2 : 1;
        /* Only one datagram per flow is held at a time; the next one releases it. */
        hold = chance(draw[2], r->reorder) && !held_before;

        now = now_ns();
        last_due = now;
        for (unsigned copy = 0; copy < copies; copy++) {
                uint64_t delay = relay_draw_delay(r, draw[3 + copy]);
                Packet *p;

                if (copy > 0)
                        r->stats.duplicated++;
                if (copy == 0 && hold) {
                        p = relay_packet_new(r, client, d, data, size, delay);
                        if (!p)
                                continue;
                        p->held = true;
                        p->due = now + REORDER_HOLD_MS * NSEC_PER_MSEC;
                        queue_push(r, p);
                        c->held[d] = p;
                        r->stats.reordered++;
                        continue;
                }
                if (delay == 0) {
                        relay_send(r, client, d, data, size);
                        continue;
                }
                p = relay_packet_new(r, client, d, data, size, delay);
                if (!p)
                        continue;
                p->due = now + delay;
                queue_push(r, p);
                r->stats.delayed++;
                if (p->due > last_due)
                        last_due = p->due;
        }
        if (held_before)
                relay_release(r, held_before, now, last_due);
}

static void relay_run_timers(Relay *r) {
        uint64_t now = now_ns();

        while (r->n_queue > 0 && r->queue[0]->due <= now) {
                Packet *p = r->queue[0];

                if (p->held) {
                        /* nothing came after it in time: let it go now, after its delay */
                        relay_release(r, p, now, now);
                        continue;
                }
                queue_remove(r, p);
                relay_send(r, p->client, p->direction, p->data, p->size);
                free(p);
        }
}

static int relay_upstream_open(Relay *r, int *ret_fd, unsigned *ret_port) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_storage local = {};
        socklen_t size = sizeof(local);
        int buffer = SOCKET_BUFFER;

        fd = socket(r->target.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
        if (connect(fd, (const struct sockaddr *) &r->target, r->target_size) < 0)
                return -errno;
        if (getsockname(fd, (struct sockaddr *) &local, &size) < 0)
                return -errno;
        *ret_port = address_port(&local);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The client's index, a new one for an address not seen before; negative errno on failure. */
static int relay_client(Relay *r, const struct sockaddr_storage *address, socklen_t size) {
        char buf[64];
        Client *c;
        unsigned k;
        int fd, q;

        for (k = 0; k < r->n_clients; k++)
                if (address_equal(&r->clients[k].address, address))
                        return (int) k;
        if (r->n_clients >= CLIENTS_MAX)
                return -ENOSPC;

        c = &r->clients[k];
        *c = (Client){ .address_size = size, .upstream_fd = -EBADF };
        memcpy(&c->address, address, size);
        q = relay_upstream_open(r, &fd, &c->upstream_port);
        if (q < 0)
                return q;
        c->upstream_fd = fd;
        for (unsigned d = 0; d < _DIRECTION_MAX; d++) {
                uint64_t s = r->seed ^ ((2 * (uint64_t) k + d + 1) * UINT64_C(0xD1B54A32D192ED03));

                c->prng[d] = splitmix64(&s);
        }
        r->n_clients++;
        if (r->verbose)
                fprintf(stderr, "udp-relay: client %u is %s, upstream port %u\n", k,
                        format_address(address, buf, sizeof(buf)), c->upstream_port);
        return (int) k;
}

/* Every client gets a new upstream socket; the old one is closed with whatever it still had. */
static void relay_rebind(Relay *r, const char *why) {
        char buf[64];

        r->stats.rebinds++;
        fprintf(stderr, "udp-relay: rebind %" PRIu64 " (%s): %u client(s)\n", r->stats.rebinds, why,
                r->n_clients);
        for (unsigned k = 0; k < r->n_clients; k++) {
                Client *c = &r->clients[k];
                unsigned port;
                int fd, q;

                q = relay_upstream_open(r, &fd, &port);
                if (q < 0) {
                        fprintf(stderr, "udp-relay: rebind: client %u keeps port %u: %s\n", k,
                                c->upstream_port, strerror(-q));
                        continue;
                }
                fprintf(stderr, "udp-relay: rebind: client %u %s: upstream port %u -> %u\n", k,
                        format_address(&c->address, buf, sizeof(buf)), c->upstream_port, port);
                c->upstream_fd = safe_close(c->upstream_fd);
                c->upstream_fd = fd;
                c->upstream_port = port;
        }
}

static void relay_read_listen(Relay *r) {
        for (int i = 0; i < BATCH_MAX; i++) {
                struct sockaddr_storage from = {};
                socklen_t size = sizeof(from);
                ssize_t n;
                int k;

                n = recvfrom(r->listen_fd, r->buffer, DATAGRAM_MAX, MSG_DONTWAIT,
                             (struct sockaddr *) &from, &size);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR && r->verbose)
                                fprintf(stderr, "udp-relay: recvfrom: %s\n", strerror(errno));
                        return;
                }
                /* Rebind when the datagram after the N-th arrives, not right after the N-th:
                 * replies that came back before it still reach the client, as through a NAT
                 * whose mapping expired in the pause. */
                if (r->rebind_after > 0 && !r->rebind_done &&
                    r->stats.received[DIRECTION_C2S] >= r->rebind_after) {
                        r->rebind_done = true;
                        relay_rebind(r, "--rebind-after");
                }
                r->stats.received[DIRECTION_C2S]++;
                k = relay_client(r, &from, size);
                if (k < 0) {
                        char buf[64];

                        relay_count_drop(r, DIRECTION_C2S);
                        if (k == -ENOSPC)
                                r->stats.client_overflow++;
                        if (k != -ENOSPC || r->stats.client_overflow == 1 || r->verbose)
                                fprintf(stderr, "udp-relay: datagram from %s dropped: %s\n",
                                        format_address(&from, buf, sizeof(buf)),
                                        k == -ENOSPC ? "too many clients (client_overflow)"
                                                     : strerror(-k));
                } else
                        relay_datagram(r, (unsigned) k, DIRECTION_C2S, r->buffer, (size_t) n);
        }
}

static void relay_read_upstream(Relay *r, unsigned k) {
        for (int i = 0; i < BATCH_MAX; i++) {
                ssize_t n = recv(r->clients[k].upstream_fd, r->buffer, DATAGRAM_MAX, MSG_DONTWAIT);

                if (n < 0) {
                        /* ECONNREFUSED: an ICMP error for an earlier datagram; nothing to relay */
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED &&
                            r->verbose)
                                fprintf(stderr, "udp-relay: client %u: recv: %s\n", k,
                                        strerror(errno));
                        return;
                }
                r->stats.received[DIRECTION_S2C]++;
                relay_datagram(r, k, DIRECTION_S2C, r->buffer, (size_t) n);
        }
}

static void relay_print_stats(const Relay *r, FILE *f) {
        const Stats *s = &r->stats;
        const struct {
                const char *key;
                uint64_t value;
        } table[] = {
                { "received_c2s", s->received[DIRECTION_C2S] },
                { "received_s2c", s->received[DIRECTION_S2C] },
                { "sent_c2s", s->sent[DIRECTION_C2S] },
                { "sent_s2c", s->sent[DIRECTION_S2C] },
                { "dropped", s->dropped[DIRECTION_C2S] + s->dropped[DIRECTION_S2C] },
                { "duplicated", s->duplicated },
                { "reordered", s->reordered },
                { "delayed", s->delayed },
                { "rebinds", s->rebinds },
                { "clients", r->n_clients },
                { "queue_overflow", s->queue_overflow },
                { "dropped_c2s", s->dropped[DIRECTION_C2S] },
                { "dropped_s2c", s->dropped[DIRECTION_S2C] },
                { "client_overflow", s->client_overflow },
                { "send_errors", s->send_errors },
                { "pending", r->n_queue },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                fprintf(f, "%s=%" PRIu64 "\n", table[i].key, table[i].value);
}

static int relay_write_stats(const Relay *r) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int q;

        if (r->verbose)
                relay_print_stats(r, stderr);
        if (!r->stats_file)
                return 0;
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        relay_print_stats(r, f);
        if (fclose(f) != 0)
                return -ENOMEM;
        q = write_file_atomic(r->stats_file, text);
        if (q < 0)
                fprintf(stderr, "udp-relay: %s: %s\n", r->stats_file, strerror(-q));
        return q;
}

static int relay_start(Relay *r) {
        static const int signals[] = { SIGTERM, SIGINT, SIGUSR1, SIGUSR2 };
        struct sockaddr_storage local = {};
        socklen_t size = sizeof(local);
        int buffer = SOCKET_BUFFER;
        char buf[64], target[64];
        struct rlimit limit;
        sigset_t mask;
        int q;

        r->clients = calloc(CLIENTS_MAX, sizeof(Client));
        r->queue = calloc(QUEUE_MAX, sizeof(Packet *));
        r->pollfds = calloc(2 + CLIENTS_MAX, sizeof(struct pollfd));
        r->buffer = malloc(DATAGRAM_MAX);
        if (!r->clients || !r->queue || !r->pollfds || !r->buffer) {
                fprintf(stderr, "udp-relay: out of memory\n");
                return -ENOMEM;
        }

        /* one upstream socket per client, one more during a rebind, and a few of our own */
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < CLIENTS_MAX + 16) {
                limit.rlim_cur =
                        limit.rlim_max < CLIENTS_MAX + 16 ? limit.rlim_max : CLIENTS_MAX + 16;
                (void) setrlimit(RLIMIT_NOFILE, &limit);
        }

        /* A signal ignored by whoever started us (background jobs of a shell ignore SIGINT)
         * would never reach the signalfd. */
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(signals); i++) {
                (void) signal(signals[i], SIG_DFL);
                sigaddset(&mask, signals[i]);
        }
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        r->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (r->signal_fd < 0) {
                q = -errno;
                fprintf(stderr, "udp-relay: signalfd: %s\n", strerror(-q));
                return q;
        }

        r->listen_fd =
                socket(r->listen_address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (r->listen_fd < 0) {
                q = -errno;
                fprintf(stderr, "udp-relay: socket: %s\n", strerror(-q));
                return q;
        }
        (void) setsockopt(r->listen_fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
        (void) setsockopt(r->listen_fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
        if (bind(r->listen_fd, (const struct sockaddr *) &r->listen_address,
                 r->listen_address_size) < 0) {
                q = -errno;
                fprintf(stderr, "udp-relay: bind %s: %s\n",
                        format_address(&r->listen_address, buf, sizeof(buf)), strerror(-q));
                return q;
        }
        if (getsockname(r->listen_fd, (struct sockaddr *) &local, &size) < 0)
                return -errno;

        if (r->verbose)
                fprintf(stderr,
                        "udp-relay: %s -> %s, seed %" PRIu64 ", drop %.3g%%, dup %.3g%%, "
                        "reorder %.3g%%, delay 0..%u ms\n",
                        format_address(&local, buf, sizeof(buf)),
                        format_address(&r->target, target, sizeof(target)), r->seed,
                        threshold_percent(r->drop), threshold_percent(r->dup),
                        threshold_percent(r->reorder), r->delay_ms);

        if (r->port_file) {
                char text[16];

                snprintf(text, sizeof(text), "%u\n", address_port(&local));
                q = write_file_atomic(r->port_file, text);
                if (q < 0) {
                        fprintf(stderr, "udp-relay: %s: %s\n", r->port_file, strerror(-q));
                        return q;
                }
        }
        return 0;
}

/* Returns 0 on SIGTERM/SIGINT, negative errno when poll() fails. */
static int relay_loop(Relay *r) {
        for (;;) {
                unsigned n_upstream;
                int timeout = -1;

                relay_run_timers(r);
                if (r->n_queue > 0) {
                        uint64_t now = now_ns(), due = r->queue[0]->due;
                        uint64_t ms =
                                due > now ? (due - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC : 0;

                        timeout = ms > INT_MAX ? INT_MAX : (int) ms;
                }

                r->pollfds[0] = (struct pollfd){ .fd = r->signal_fd, .events = POLLIN };
                r->pollfds[1] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
                n_upstream = r->n_clients;
                for (unsigned k = 0; k < n_upstream; k++)
                        r->pollfds[2 + k] = (struct pollfd){
                                .fd = r->clients[k].upstream_fd,
                                .events = POLLIN,
                        };
                if (poll(r->pollfds, 2 + n_upstream, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "udp-relay: poll: %s\n", strerror(errno));
                        return -errno;
                }

                if (r->pollfds[0].revents) {
                        struct signalfd_siginfo si;

                        while (read(r->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                                        return 0;
                                if (si.ssi_signo == SIGUSR1)
                                        relay_rebind(r, "SIGUSR1");
                                else if (si.ssi_signo == SIGUSR2)
                                        (void) relay_write_stats(r);
                        }
                }
                /* A rebind above or below closes sockets these entries may still name; a
                 * client's entry is only read while it names that client's current socket. */
                for (unsigned k = 0; k < n_upstream; k++)
                        if (r->pollfds[2 + k].revents &&
                            r->pollfds[2 + k].fd == r->clients[k].upstream_fd)
                                relay_read_upstream(r, k);
                if (r->pollfds[1].revents)
                        relay_read_listen(r);
        }
}

static void relay_done(Relay *r) {
        for (size_t i = 0; i < r->n_queue; i++)
                free(r->queue[i]);
        for (unsigned k = 0; k < r->n_clients; k++)
                safe_close(r->clients[k].upstream_fd);
        safe_close(r->listen_fd);
        safe_close(r->signal_fd);
        free(r->clients);
        free(r->queue);
        free(r->pollfds);
        free(r->buffer);
}

static void help(void) {
        printf("Usage: udp-relay --listen ADDR:PORT --target ADDR:PORT [--seed N] [--drop PCT]\n"
               "                 [--dup PCT] [--reorder PCT] [--delay-ms MAX] [--port-file FILE]\n"
               "                 [--stats-file FILE] [--rebind-after N] [--verbose]\n"
               "\n"
               "A seeded lossy UDP relay for testing DTLS on loopback, in place of tc netem.\n"
               "Datagrams that clients send to the listen address go to the target; each client\n"
               "address gets its own upstream socket, like a NAT, so the target sees one source\n"
               "port per client, and its replies go back to that client. The impairments apply\n"
               "in both directions; payload bytes are never changed.\n"
               "\n"
               "Options:\n"
               "  --listen ADDR:PORT  where clients send to: a numeric IPv4 address or an IPv6\n"
               "                      one in brackets, e.g. 127.0.0.1:0 or [::1]:4433; port 0\n"
               "                      picks a free port (see --port-file)\n"
               "  --target ADDR:PORT  the server to relay to, in the same form (port not 0)\n"
               "  --seed N            seed of the random decisions (default 0)\n"
               "  --drop PCT          drop a datagram with probability PCT percent (0-100)\n"
               "  --dup PCT           also send a copy of a datagram with probability PCT\n"
               "                      percent; the copy gets its own delay\n"
               "  --reorder PCT       with probability PCT percent hold a datagram back and send\n"
               "                      it after the next datagram of the same client and\n"
               "                      direction, or after %u ms if none comes first\n"
               "  --delay-ms MAX      delay every datagram by a uniformly random 0..MAX ms\n"
               "                      (whole ms, MAX at most %u; default 0); different delays\n"
               "                      reorder datagrams too, as netem's jitter does\n"
               "  --port-file FILE    once ready, write the listen port and a newline to FILE\n"
               "  --stats-file FILE   on exit and on SIGUSR2, write the counters to FILE\n"
               "  --rebind-after N    rebind once (as SIGUSR1) after N client-to-server\n"
               "                      datagrams (counted over all clients, dropped ones too),\n"
               "                      when the next one arrives: it and all later ones leave\n"
               "                      from the new ports, and replies to the first N that came\n"
               "                      back before it still reach the clients\n"
               "  --verbose           log clients and errors, and the counters on exit, to stderr\n"
               "  --help              show this help and exit\n"
               "\n"
               "Files are written as FILE.tmp and renamed, so a reader never sees part of one.\n"
               "\n"
               "Signals:\n"
               "  SIGUSR1             rebind: every client gets a new upstream socket with a new\n"
               "                      source port, as when a NAT loses its mappings; the old\n"
               "                      socket is closed, so late replies to it are lost. Logged\n"
               "                      to stderr with the old and new ports.\n"
               "  SIGUSR2             write the stats file now\n"
               "  SIGTERM, SIGINT     write the stats file and exit with status 0\n"
               "\n"
               "Counters (key=value lines): received_c2s, received_s2c, sent_c2s, sent_s2c,\n"
               "dropped (random drops and overflows), duplicated (extra copies), reordered (held\n"
               "back), delayed (given a delay > 0), rebinds, clients, queue_overflow,\n"
               "dropped_c2s, dropped_s2c, client_overflow, send_errors, pending (still queued at\n"
               "the time of writing). c2s is client to server, s2c server to client. Received\n"
               "c2s + s2c + duplicated = sent c2s + s2c + dropped + send_errors + pending.\n"
               "\n"
               "Limits: %u clients (datagrams from further ones are dropped: client_overflow),\n"
               "%u datagrams waiting for delay or reordering (further ones are dropped:\n"
               "queue_overflow), datagrams of up to %u bytes.\n"
               "\n"
               "Randomness: splitmix64, one stream per client and direction, five draws per\n"
               "datagram (drop, duplicate, reorder, delay, delay of the copy). A datagram's fate\n"
               "depends only on the seed, its client's number (order of first datagram), its\n"
               "direction and its position in that flow, so the same seed and the same\n"
               "datagrams give the same decisions (only whether a held datagram is released by\n"
               "the next one or by the timer depends on timing).\n"
               "\n"
               "Exit status: 0 after SIGTERM or SIGINT, 1 on a runtime error, 2 on bad\n"
               "arguments.\n"
               "\n"
               "Example:\n"
               "  udp-relay --listen 127.0.0.1:0 --port-file relay.port \\\n"
               "          --target 127.0.0.1:4433 --seed 7 --drop 10 --reorder 5 \\\n"
               "          --delay-ms 20 --stats-file relay.stats\n",
               REORDER_HOLD_MS, DELAY_MS_MAX, CLIENTS_MAX, QUEUE_MAX, DATAGRAM_MAX);
}

static int parse_percent(const char *option, const char *s, uint64_t *ret) {
        double v;
        char *e;

        errno = 0;
        v = strtod(s, &e);
        if (errno != 0 || e == s || *e != 0 || !isfinite(v) || v < 0 || v > 100) {
                fprintf(stderr, "udp-relay: %s: '%s' is not a percentage (0-100)\n", option, s);
                return -EINVAL;
        }
        *ret = percent_threshold(v);
        return 0;
}

static int parse_u64(const char *option, const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *e;

        errno = 0;
        v = strtoull(s, &e, 10);
        if (errno != 0 || e == s || *e != 0 || s[0] == '-' || v < min || v > max) {
                fprintf(stderr, "udp-relay: %s: '%s' is not a number in %" PRIu64 "..%" PRIu64 "\n",
                        option, s, min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* 1: run, 0: done (--help), negative: bad arguments. */
static int parse_argv(int argc, char *argv[], Relay *r) {
        enum {
                O_LISTEN = 256,
                O_TARGET,
                O_SEED,
                O_DROP,
                O_DUP,
                O_REORDER,
                O_DELAY,
                O_PORT_FILE,
                O_STATS_FILE,
                O_REBIND_AFTER,
        };
        static const struct option options[] = {
                { "listen", required_argument, NULL, O_LISTEN },
                { "target", required_argument, NULL, O_TARGET },
                { "seed", required_argument, NULL, O_SEED },
                { "drop", required_argument, NULL, O_DROP },
                { "dup", required_argument, NULL, O_DUP },
                { "reorder", required_argument, NULL, O_REORDER },
                { "delay-ms", required_argument, NULL, O_DELAY },
                { "port-file", required_argument, NULL, O_PORT_FILE },
                { "stats-file", required_argument, NULL, O_STATS_FILE },
                { "rebind-after", required_argument, NULL, O_REBIND_AFTER },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool have_listen = false, have_target = false;
        uint64_t v;
        int opt;

        while ((opt = getopt_long(argc, argv, "vh", options, NULL)) >= 0) {
                switch (opt) {
                case O_LISTEN:
                case O_TARGET:
                        if (opt == O_LISTEN ? parse_address(optarg, true, &r->listen_address,
                                                            &r->listen_address_size) < 0
                                            : parse_address(optarg, false, &r->target,
                                                            &r->target_size) < 0) {
                                fprintf(stderr,
                                        "udp-relay: %s: '%s' is not ADDR:PORT (a numeric IPv4 "
                                        "address, or IPv6 in brackets as [::1]:4433; port "
                                        "%s)\n",
                                        opt == O_LISTEN ? "--listen" : "--target", optarg,
                                        opt == O_LISTEN ? "0-65535" : "1-65535");
                                return -EINVAL;
                        }
                        if (opt == O_LISTEN)
                                have_listen = true;
                        else
                                have_target = true;
                        break;
                case O_SEED:
                        if (parse_u64("--seed", optarg, 0, UINT64_MAX, &r->seed) < 0)
                                return -EINVAL;
                        break;
                case O_DROP:
                        if (parse_percent("--drop", optarg, &r->drop) < 0)
                                return -EINVAL;
                        break;
                case O_DUP:
                        if (parse_percent("--dup", optarg, &r->dup) < 0)
                                return -EINVAL;
                        break;
                case O_REORDER:
                        if (parse_percent("--reorder", optarg, &r->reorder) < 0)
                                return -EINVAL;
                        break;
                case O_DELAY:
                        if (parse_u64("--delay-ms", optarg, 0, DELAY_MS_MAX, &v) < 0)
                                return -EINVAL;
                        r->delay_ms = (unsigned) v;
                        break;
                case O_PORT_FILE:
                        r->port_file = optarg;
                        break;
                case O_STATS_FILE:
                        r->stats_file = optarg;
                        break;
                case O_REBIND_AFTER:
                        if (parse_u64("--rebind-after", optarg, 1, UINT64_MAX, &r->rebind_after) <
                            0)
                                return -EINVAL;
                        break;
                case 'v':
                        r->verbose = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL; /* getopt said why */
                }
        }
        if (optind < argc) {
                fprintf(stderr, "udp-relay: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!have_listen || !have_target) {
                fprintf(stderr, "udp-relay: --listen and --target are required\n");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        Relay relay = { .listen_fd = -EBADF, .signal_fd = -EBADF };
        int q;

        q = parse_argv(argc, argv, &relay);
        if (q <= 0) {
                if (q < 0)
                        fprintf(stderr, "Try 'udp-relay --help'.\n");
                return q < 0 ? 2 : 0;
        }
        q = relay_start(&relay);
        if (q >= 0) {
                q = relay_loop(&relay);
                if (relay_write_stats(&relay) < 0)
                        q = -EIO;
        }
        relay_done(&relay);
        return q < 0 ? 1 : 0;
}
