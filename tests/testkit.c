/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The coverage tests' shared helpers (see testkit.h). The event recorder copies what a
 * libtlsclient event carries (its strings live only during the callback) and keeps the data fds
 * the events hand over; tk_pump() is the loop every test waits in: poll on the control sockets,
 * tlsc_dispatch(), check the condition, with a generous bound so a missing event fails the test
 * instead of hanging it.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "testkit.h"

/* Bounds against hangs get more room under valgrind (~50x slower). */
static long slack(long ms) {
        const char *w = getenv("TLSD_TEST_WRAPPER");

        return w && strstr(w, "valgrind") ? ms * 20 : ms;
}

const char *tk_pki(const char *file) {
        static char buf[8][512];
        static unsigned i;
        const char *dir = getenv("TLSD_TEST_PKI");

        ck_assert_msg(dir, "TLSD_TEST_PKI is not set");
        i = (i + 1) % 8;
        snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, file);
        return buf[i];
}

char *tk_slurp(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf;
        size_t n;

        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        buf = malloc(1 << 20);
        ck_assert_ptr_nonnull(buf);
        n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        buf[n] = 0;
        *ret_size = n;
        return buf;
}

void tk_daemon_start(Daemon *d, const char *config) {
        int r;

        daemon_init(d);
        d->config = config;
        r = daemon_start(d);
        ck_assert_msg(r == 0, "tlsd did not start: %s", strerror(-r));
}

void tk_daemon_start_logged(Daemon *d, const char *config, char *ret_log, size_t size) {
        int fd, saved, r;

        daemon_init(d);
        d->config = config;
        snprintf(ret_log, size, "%s/tlsd.log", d->dir);
        fd = open(ret_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        /* the daemon inherits our stderr: lend it the log file for the fork */
        saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        r = daemon_start(d);
        ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        close(fd);
        ck_assert_msg(r == 0, "tlsd did not start: %s", strerror(-r));
}

bool tk_wait_log(const char *path, const char *needle, long timeout_ms) {
        long deadline = now_ms() + slack(timeout_ms);

        for (;;) {
                size_t n;
                char *text = tk_slurp(path, &n);
                bool found = strstr(text, needle) != NULL;

                free(text);
                if (found)
                        return true;
                if (now_ms() >= deadline)
                        return false;
                usleep(20000);
        }
}

tlsc_client *tk_open(const Daemon *d) {
        tlsc_client *c = NULL;
        int r = tlsc_open(d->socket_path, &c);

        ck_assert_msg(r == 0, "tlsc_open: %s", tlsd_strerror(r));
        return c;
}

int tk_count_fds(pid_t pid) {
        char path[64];
        int n = 0;
        DIR *dir;
        struct dirent *de;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        dir = opendir(path);
        ck_assert_ptr_nonnull(dir);
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dir);
        return n;
}

long tk_rss_kib(pid_t pid) {
        char path[64], line[256];
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
                        break;
        fclose(f);
        return v;
}

uint64_t tk_client_session(tlsc_client *c, const tlsc_session_options *o) {
        tlsc_session_options opt = o ? *o : (tlsc_session_options){};
        size_t n;
        char *ca = tk_slurp(tk_pki("ca.pem"), &n);
        uint64_t s;
        int r;

        if (!opt.ca) {
                opt.ca = ca;
                opt.ca_size = n;
        }
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &opt, &s);
        ck_assert_msg(r == 0, "client session: %s: %s", tlsd_strerror(r),
                      tlsc_last_error_message(c));
        free(ca);
        return s;
}

uint64_t tk_server_session(tlsc_client *c, const tlsc_session_options *o) {
        tlsc_session_options opt = o ? *o : (tlsc_session_options){};
        size_t nc, nk;
        char *cert = tk_slurp(tk_pki("server-ecdsa-chain.pem"), &nc);
        char *key = tk_slurp(tk_pki("server-ecdsa.key"), &nk);
        uint64_t s;
        int r;

        opt.cert = cert;
        opt.cert_size = nc;
        opt.key = key;
        opt.key_size = nk;
        r = tlsc_session_create(c, TLSC_ROLE_SERVER, &opt, &s);
        ck_assert_msg(r == 0, "server session: %s: %s", tlsd_strerror(r),
                      tlsc_last_error_message(c));
        free(cert);
        free(key);
        return s;
}

/* ---- events ---- */

void tk_on_event(tlsc_client *c, tlsc_event *ev, void *userdata) {
        TkEvents *e = userdata;
        TkEvent *t;

        (void) c;
        ck_assert_msg(e->n < TK_EVENTS_MAX, "more than %d events", TK_EVENTS_MAX);
        t = &e->ev[e->n++];
        memset(t, 0, sizeof(*t));
        t->type = ev->type;
        t->connection = ev->connection;
        t->listener = ev->listener;
        t->fd = ev->fd;
        ev->fd = -1; /* ours now */
        if (ev->info) {
                t->info = *ev->info;
                t->has_info = true;
        }
        if (ev->peer_address)
                snprintf(t->peer_address, sizeof(t->peer_address), "%s", ev->peer_address);
        t->peer_port = ev->peer_port;
        t->reason = ev->reason;
        t->alert = ev->alert;
        t->retries = ev->retries;
        if (ev->message)
                snprintf(t->message, sizeof(t->message), "%s", ev->message);
}

TkEvent *tk_find(TkEvents *e, int type, uint64_t connection) {
        for (unsigned i = 0; i < e->n; i++)
                if (e->ev[i].type == type && (connection == 0 || e->ev[i].connection == connection))
                        return &e->ev[i];
        return NULL;
}

unsigned tk_count(TkEvents *e, int type) {
        unsigned n = 0;

        for (unsigned i = 0; i < e->n; i++)
                n += e->ev[i].type == type;
        return n;
}

void tk_events_done(TkEvents *e) {
        for (unsigned i = 0; i < e->n; i++)
                if (e->ev[i].fd >= 0) {
                        close(e->ev[i].fd);
                        e->ev[i].fd = -1;
                }
}

void tk_pump(tlsc_client **clients, bool (*done)(void *arg), void *arg, long timeout_ms,
             const char *what) {
        long deadline = now_ms() + slack(timeout_ms);

        while (!done(arg)) {
                struct pollfd p[8];
                unsigned n = 0;

                ck_assert_msg(now_ms() < deadline, "timed out waiting for %s", what);
                for (; clients[n]; n++) {
                        ck_assert_uint_lt(n, 8);
                        p[n] = (struct pollfd){ .fd = tlsc_get_fd(clients[n]),
                                                .events = tlsc_get_events(clients[n]) };
                }
                (void) poll(p, n, 100);
                for (unsigned i = 0; i < n; i++) {
                        int r = tlsc_dispatch(clients[i]);

                        ck_assert_msg(r >= 0, "tlsc_dispatch: %s", tlsd_strerror(r));
                }
        }
}

typedef struct EventWait {
        TkEvents *e;
        int type;
        uint64_t connection;
} EventWait;

static bool event_seen(void *arg) {
        EventWait *w = arg;

        return tk_find(w->e, w->type, w->connection) != NULL;
}

TkEvent *tk_wait_event(tlsc_client **clients, TkEvents *e, int type, uint64_t connection,
                       const char *what) {
        EventWait w = { e, type, connection };

        tk_pump(clients, event_seen, &w, 20000, what);
        return tk_find(e, type, connection);
}

typedef struct NthWait {
        TkEvents *e;
        int type;
        unsigned nth;
} NthWait;

static bool nth_seen(void *arg) {
        NthWait *w = arg;

        return tk_count(w->e, w->type) >= w->nth;
}

TkEvent *tk_wait_nth(tlsc_client **clients, TkEvents *e, int type, unsigned nth, const char *what) {
        NthWait w = { e, type, nth };

        tk_pump(clients, nth_seen, &w, 20000, what);
        for (unsigned i = 0; i < e->n; i++)
                if (e->ev[i].type == type && --nth == 0)
                        return &e->ev[i];
        ck_abort_msg("unreachable");
        return NULL;
}

typedef struct CountWait {
        const unsigned *counter;
        unsigned want;
} CountWait;

static bool count_reached(void *arg) {
        CountWait *w = arg;

        return *w->counter >= w->want;
}

void tk_wait_count(tlsc_client **clients, const unsigned *counter, unsigned want,
                   const char *what) {
        CountWait w = { counter, want };

        tk_pump(clients, count_reached, &w, 20000, what);
}

/* ---- peers and sockets ---- */

bool tk_openssl_server(TkPeer *p, const char *const *args) {
        const char *argv[64];
        unsigned n = 0;
        int in[2], out[2];
        char *accept_line;

        memset(p, 0, sizeof(*p));
        argv[n++] = "openssl";
        argv[n++] = "s_server";
        argv[n++] = "-accept";
        argv[n++] = "127.0.0.1:0";
        for (; args && *args; args++) {
                ck_assert_uint_lt(n, 60);
                argv[n++] = *args;
        }
        argv[n] = NULL;
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        p->pid = fork();
        ck_assert_int_ge(p->pid, 0);
        if (p->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(in[0], STDIN_FILENO);
                dup2(out[1], STDOUT_FILENO);
                dup2(out[1], STDERR_FILENO);
                execvp("openssl", (char **) argv);
                perror("openssl");
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        p->in = in[1];
        p->out = out[0];
        if (!tk_peer_read_until(p, p->log, sizeof(p->log), "ACCEPT ", 10000)) {
                tk_peer_stop(p);
                return false;
        }
        /* the line must be complete: wait for its newline */
        accept_line = strstr(p->log, "ACCEPT ");
        if (!strchr(accept_line, '\n')) {
                size_t have = strlen(p->log);

                (void) tk_peer_read_until(p, p->log + have, sizeof(p->log) - have, "\n", 5000);
                accept_line = strstr(p->log, "ACCEPT ");
        }
        {
                const char *colon = strrchr(strtok(accept_line, "\n"), ':');

                ck_assert_ptr_nonnull(colon);
                p->port = (unsigned) strtoul(colon + 1, NULL, 10);
        }
        ck_assert_uint_ne(p->port, 0);
        return true;
}

bool tk_peer_read_until(TkPeer *p, char *buf, size_t size, const char *want, long timeout_ms) {
        long deadline = now_ms() + slack(timeout_ms);
        size_t n = 0;

        buf[0] = 0;
        while (!strstr(buf, want) && n < size - 1) {
                struct pollfd pfd = { .fd = p->out, .events = POLLIN };
                long left = deadline - now_ms();
                ssize_t k;

                if (left <= 0 || poll(&pfd, 1, (int) left) <= 0)
                        return false;
                k = read(p->out, buf + n, size - 1 - n);
                if (k <= 0)
                        return false;
                n += (size_t) k;
                buf[n] = 0;
        }
        return strstr(buf, want) != NULL;
}

void tk_peer_stop(TkPeer *p) {
        if (p->pid > 0) {
                kill(p->pid, SIGTERM);
                waitpid(p->pid, NULL, 0);
        }
        p->pid = -1;
        if (p->in >= 0)
                close(p->in);
        p->in = -1;
        if (p->out >= 0)
                close(p->out);
        p->out = -1;
}

int tk_run(const char *command, char *out, size_t size) {
        char cmd[4096];
        size_t n = 0;
        FILE *f;
        int status;

        snprintf(cmd, sizeof(cmd), "(%s) 2>&1", command);
        f = popen(cmd, "re");
        ck_assert_msg(f, "popen %s: %s", command, strerror(errno));
        for (;;) {
                size_t k = n < size - 1 ? fread(out + n, 1, size - 1 - n, f) : 0;
                char sink[4096];

                if (k > 0) {
                        n += k;
                        continue;
                }
                if (fread(sink, 1, sizeof(sink), f) == 0) /* past what fits: drained */
                        break;
        }
        out[n] = 0;
        status = pclose(f);
        ck_assert_int_ge(status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int bound_socket(int type, unsigned *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

int tk_tcp_listen(unsigned *ret_port) {
        int fd = bound_socket(SOCK_STREAM, ret_port);

        ck_assert_int_eq(listen(fd, 16), 0);
        return fd;
}

int tk_udp_bind(unsigned *ret_port) {
        return bound_socket(SOCK_DGRAM, ret_port);
}

int tk_tcp_connect(const char *addr, unsigned port) {
        struct sockaddr_storage ss = {};
        struct sockaddr_in *in = (struct sockaddr_in *) &ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
        socklen_t len;
        int fd, r;

        if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                len = sizeof(*in);
        } else {
                ck_assert_int_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                len = sizeof(*in6);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &ss, len) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

void tk_write_all(int fd, const void *buf, size_t size) {
        const char *p = buf;

        while (size > 0) {
                ssize_t n = write(fd, p, size);

                ck_assert_msg(n > 0, "write: %s", n < 0 ? strerror(errno) : "0 bytes");
                p += n;
                size -= (size_t) n;
        }
}

void tk_read_exact(int fd, void *buf, size_t size, long timeout_ms) {
        long deadline = now_ms() + slack(timeout_ms);
        char *p = buf;

        while (size > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                long left = deadline - now_ms();
                ssize_t n;

                ck_assert_msg(left > 0 && poll(&pfd, 1, (int) left) == 1,
                              "no data in time (%zu bytes missing)", size);
                n = read(fd, p, size);
                ck_assert_msg(n > 0, "read: %s (%zu bytes missing)",
                              n < 0 ? strerror(errno) : "EOF", size);
                p += n;
                size -= (size_t) n;
        }
}

ssize_t tk_read_to_end(int fd, long timeout_ms) {
        long deadline = now_ms() + slack(timeout_ms);
        ssize_t total = 0;
        char buf[4096];

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                long left = deadline - now_ms();
                ssize_t n;

                ck_assert_msg(left > 0 && poll(&pfd, 1, (int) left) == 1,
                              "no EOF in time (%zd bytes read)", total);
                n = read(fd, buf, sizeof(buf));
                if (n == 0)
                        return total;
                if (n < 0)
                        return -errno;
                total += n;
        }
}
