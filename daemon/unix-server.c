/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Listening side of the Unix-socket control plane. The socket is created in the runtime
 * directory (mode 0660, group from SocketGroup= or "tlsd" when that group exists), or taken
 * from systemd socket activation. A stale socket from a crashed daemon is replaced; a live one
 * is refused, so two daemons never fight over one path.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"
#include "proto.h"
#include "unix-client.h"
#include "unix-server.h"

struct UnixServer {
        Manager *manager;
        int fd;
        char *path;
        bool unlink_on_exit; /* false when systemd owns the socket */
        sd_event_source *io;
        UnixClient *clients;
        unsigned n_clients;
        uint8_t *buffer;
        /* Held open for the moment accept() fails with EMFILE: closed, it lets tlsd accept the
         * waiting client and hang up on it at once, instead of leaving it hanging. */
        int spare_fd;
        uint64_t n_refused_no_fd;
};

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int socket_group(const Config *c, gid_t *ret) {
        struct group *g;

        if (c->socket_group) {
                g = getgrnam(c->socket_group);
                if (!g)
                        return log_error_errno(-ENOENT, "SocketGroup=%s: no such group",
                                               c->socket_group);
                *ret = g->gr_gid;
                return 1;
        }
        if (geteuid() == 0 && (g = getgrnam("tlsd"))) {
                *ret = g->gr_gid;
                return 1;
        }
        return 0;
}

static int bind_socket(UnixServer *s, const Config *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        gid_t gid = 0;
        int r;

        r = mkdir_p(c->runtime_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create runtime directory %s: %m",
                                       c->runtime_dir);
        if (asprintf(&s->path, "%s/tlsd.sock", c->runtime_dir) < 0) {
                s->path = NULL;
                return log_oom();
        }
        if (strlen(s->path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "Socket path %s is too long", s->path);
        strcpy(sa.sun_path, s->path);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot create socket: %m");

        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                _cleanup_close_ int probe = -EBADF;

                if (errno != EADDRINUSE)
                        return log_error_errno(-errno, "Cannot bind %s: %m", s->path);
                /* Someone answering there? Then it is not ours to take. */
                probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return log_error_errno(-EADDRINUSE,
                                               "Another tlsd is already serving on %s", s->path);
                log_notice("Removing stale socket %s", s->path);
                if (unlink(s->path) < 0 && errno != ENOENT)
                        return log_error_errno(-errno, "Cannot remove stale %s: %m", s->path);
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return log_error_errno(-errno, "Cannot bind %s: %m", s->path);
        }
        s->unlink_on_exit = true;

        r = socket_group(c, &gid);
        if (r < 0)
                return r;
        if (r > 0 && chown(s->path, (uid_t) -1, gid) < 0)
                return log_error_errno(-errno, "Cannot set group of %s: %m", s->path);
        if (chmod(s->path, 0660) < 0)
                return log_error_errno(-errno, "Cannot set mode of %s: %m", s->path);

        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(-errno, "Cannot listen on %s: %m", s->path);

        s->fd = TAKE_FD(fd);
        return 0;
}

/* systemd socket activation (tlsd.socket): exactly one SOCK_SEQPACKET unix socket. */
static int take_activated_socket(UnixServer *s) {
        struct sockaddr_un sa;
        socklen_t len = sizeof(sa);
        int n, r;

        n = sd_listen_fds(true);
        if (n <= 0)
                return n;
        if (n != 1)
                return log_error_errno(-EINVAL, "Expected one socket from systemd, got %d", n);
        r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0);
        if (r <= 0)
                return log_error_errno(r < 0 ? r : -EINVAL,
                                       "Socket from systemd is not a listening SOCK_SEQPACKET "
                                       "unix socket");
        s->fd = SD_LISTEN_FDS_START;
        if (getsockname(s->fd, (struct sockaddr *) &sa, &len) < 0 || len <= sizeof(sa_family_t))
                s->path = strdup("(socket activated)");
        else
                s->path = strndup(sa.sun_path, len - sizeof(sa_family_t));
        if (!s->path)
                return log_oom();
        /* must be non-blocking for the accept loop */
        r = fcntl(s->fd, F_GETFL);
        if (r < 0 || fcntl(s->fd, F_SETFL, r | O_NONBLOCK) < 0)
                return log_error_errno(-errno, "Cannot make activated socket non-blocking: %m");
        return 1;
}

/* Out of descriptors: a client that cannot be served is told so by a hang-up (its library
 * reports that tlsd closed the connection) rather than left waiting in the backlog. The reserve
 * that manager_fds_charge() keeps should make this rare. Returns whether it took one. */
static bool refuse_with_spare(UnixServer *s, int fd) {
        int cfd;

        if (s->spare_fd < 0)
                return false;
        s->spare_fd = safe_close(s->spare_fd);
        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd >= 0) {
                safe_close(cfd);
                s->n_refused_no_fd++;
                /* Logged once per power of two: a storm of them cannot flood the log. */
                if ((s->n_refused_no_fd & (s->n_refused_no_fd - 1)) == 0)
                        log_warning("Control socket: out of file descriptors, hung up on a "
                                    "client (%" PRIu64 " so far)", s->n_refused_no_fd);
        }
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return cfd >= 0;
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        UnixServer *s = userdata;

        /* Bounded per wakeup so a connect storm cannot starve established clients. */
        for (unsigned i = 0; i < 64; i++) {
                UnixClient *c;
                int cfd, r;

                cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        r = -errno;
                        if (r == -EAGAIN || r == -EINTR || r == -ECONNABORTED)
                                return 0;
                        if ((r == -EMFILE || r == -ENFILE) && refuse_with_spare(s, fd))
                                continue;
                        /* No spare either, or ENOBUFS and friends: the client stays queued and
                         * the socket readable; retry at most every 100 ms instead of spinning. */
                        if (sd_event_source_get_ratelimit(es, NULL, NULL) < 0) {
                                log_warning_errno(r, "accept() on control socket failed: "
                                                          "%m; retrying every 100 ms");
                                (void) sd_event_source_set_ratelimit(es, 100000, 1);
                        }
                        return 0;
                }
                if (i == 0 && sd_event_source_get_ratelimit(es, NULL, NULL) >= 0)
                        (void) sd_event_source_set_ratelimit(es, 0, 0);
                r = unix_client_new(s, cfd, &c);
                if (r < 0)
                        continue; /* unix_client_new() closed cfd and said why */
        }
        return 0;
}

int unix_server_new(Manager *m, UnixServer **ret) {
        _cleanup_(unix_server_freep) UnixServer *s = NULL;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->manager = m;
        s->fd = -EBADF;
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->spare_fd < 0)
                return log_error_errno(-errno, "Cannot open /dev/null: %m");
        s->buffer = malloc(TLSD_MSG_MAX + 1);
        if (!s->buffer)
                return log_oom();

        r = take_activated_socket(s);
        if (r < 0)
                return r;
        if (r == 0) {
                r = bind_socket(s, m->config);
                if (r < 0)
                        return r;
        }

        r = sd_event_add_io(m->event, &s->io, s->fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return log_error_errno(r, "Cannot watch control socket: %m");

        *ret = TAKE_PTR(s);
        return 0;
}

UnixServer *unix_server_free(UnixServer *s) {
        if (!s)
                return NULL;
        while (s->clients)
                unix_client_free(s->clients);
        s->io = sd_event_source_disable_unref(s->io);
        s->fd = safe_close(s->fd);
        s->spare_fd = safe_close(s->spare_fd);
        if (s->unlink_on_exit && s->path)
                (void) unlink(s->path);
        free(s->path);
        free(s->buffer);
        free(s);
        return NULL;
}

const char *unix_server_path(const UnixServer *s) {
        return s->path;
}

uint8_t *unix_server_buffer(UnixServer *s) {
        return s->buffer;
}

Manager *unix_server_manager(UnixServer *s) {
        return s->manager;
}

void unix_server_link_client(UnixServer *s, UnixClient *c) {
        c->next = s->clients;
        if (s->clients)
                s->clients->prev = c;
        s->clients = c;
        s->n_clients++;
}

void unix_server_unlink_client(UnixServer *s, UnixClient *c) {
        if (c->prev || s->clients == c)
                s->n_clients--;
        if (c->prev)
                c->prev->next = c->next;
        else if (s->clients == c)
                s->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

unsigned unix_server_n_clients(const UnixServer *s) {
        return s ? s->n_clients : 0;
}
