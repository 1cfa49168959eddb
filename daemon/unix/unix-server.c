/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Listening side of the Unix-socket control plane. The socket is created in the runtime
 * directory (mode 0660, group from SocketGroup= or "tlsd" when that group exists), which must
 * be the daemon's own, or taken from systemd socket activation. A stale socket from a crashed
 * daemon is replaced; a live one is refused, so two daemons never fight over one path.
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
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "core/core.h"
#include "list.h"
#include "util/log.h"
#include "proto.h"
#include "unix/unix-client.h"
#include "unix/unix-server.h"

#define SOCKET_NAME "tlsd.sock"

struct UnixServer {
        Core *core;
        int fd;
        int dir_fd; /* the runtime directory, when tlsd binds the socket itself */
        char *path;
        bool unlink_on_exit; /* false when systemd owns the socket */
        sd_event_source *io;
        UnixClient *clients;
        uint8_t *buffer;
        /* Held open for the moment accept() fails with EMFILE: closed, it lets tlsd accept the
         * waiting client and hang up on it at once, instead of leaving it hanging. */
        int spare_fd;
        uint64_t n_refused_no_fd;
};

/* Opens the runtime directory, creating what is missing of its path (the directory itself
 * with mode 0755 whatever the umask, so that clients reach the socket). The components above it
 * are resolved as usual (/var/run is a link to /run on many systems), but the directory itself
 * must be tlsd's own: not a symbolic link (never followed, so a trailing slash is dropped
 * first), owned by tlsd's euid and writable by no one else. Otherwise whoever controls it
 * decides where tlsd's socket appears and can swap it between bind() and the chown()/chmod()
 * that follow. Returns the fd. */
static int runtime_dir_open(const char *dir) {
        _cleanup_free_ char *path = strdup(dir);
        _cleanup_close_ int fd = -EBADF;
        bool created = false;
        struct stat st;
        size_t n;

        if (!path)
                return log_oom();
        for (n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
                path[n - 1] = 0;
        for (char *s = path + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(-errno, "Cannot create %s: %m", path);
                *s = '/';
        }
        if (mkdir(path, 0755) == 0)
                created = true;
        else if (errno != EEXIST)
                return log_error_errno(-errno, "Cannot create runtime directory %s: %m", path);

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && lstat(path, &st) == 0 &&
            S_ISLNK(st.st_mode))
                return log_error_errno(-ELOOP,
                                       "Runtime directory %s is a symbolic link: "
                                       "refusing to follow it (name the directory "
                                       "itself, if it is tlsd's own)",
                                       path);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot open runtime directory %s: %m", path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(-errno, "Cannot stat runtime directory %s: %m", path);
        if (st.st_uid != geteuid())
                return log_error_errno(-EPERM,
                                       "Runtime directory %s is owned by uid %u, not "
                                       "by tlsd's uid %u: refusing to use it",
                                       path, (unsigned) st.st_uid, (unsigned) geteuid());
        if (created) {
                if (fchmod(fd, 0755) < 0)
                        return log_error_errno(-errno, "Cannot set mode of %s: %m", path);
        } else if (st.st_mode & 0022)
                return log_error_errno(-EPERM,
                                       "Runtime directory %s is writable by other users "
                                       "(mode %04o): refusing to use it",
                                       path, (unsigned) (st.st_mode & 07777));
        return TAKE_FD(fd);
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
        struct stat st;
        gid_t gid = 0;
        int r;

        s->dir_fd = runtime_dir_open(c->runtime_dir);
        if (s->dir_fd < 0)
                return s->dir_fd;
        if (asprintf(&s->path, "%s/" SOCKET_NAME, c->runtime_dir) < 0) {
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
                        return log_error_errno(-EADDRINUSE, "Another tlsd is already serving on %s",
                                               s->path);
                log_notice("Removing stale socket %s", s->path);
                if (unlinkat(s->dir_fd, SOCKET_NAME, 0) < 0 && errno != ENOENT)
                        return log_error_errno(-errno, "Cannot remove stale %s: %m", s->path);
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return log_error_errno(-errno, "Cannot bind %s: %m", s->path);
        }
        s->unlink_on_exit = true;
        /* bind() went by path: the socket must have landed in the directory checked above
         * (only someone who controls a component above it could have swapped it since). From
         * here on the directory's fd is used, and nobody else can write in it. */
        if (fstatat(s->dir_fd, SOCKET_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode))
                return log_error_errno(-EXDEV,
                                       "Runtime directory %s was replaced while tlsd "
                                       "bound its socket there: refusing to use it",
                                       c->runtime_dir);

        r = socket_group(c, &gid);
        if (r < 0)
                return r;
        if (r > 0 && fchownat(s->dir_fd, SOCKET_NAME, (uid_t) -1, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return log_error_errno(-errno, "Cannot set group of %s: %m", s->path);
        if (fchmodat(s->dir_fd, SOCKET_NAME, 0660, 0) < 0)
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
 * that core_fds_charge() keeps should make this rare. Returns whether it took one. */
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
                                    "client (%" PRIu64 " so far)",
                                    s->n_refused_no_fd);
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

int unix_server_new(Core *core, UnixServer **ret) {
        _cleanup_(unix_server_freep) UnixServer *s = NULL;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->core = core;
        s->fd = -EBADF;
        s->dir_fd = -EBADF;
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
                r = bind_socket(s, core->config);
                if (r < 0)
                        return r;
        }

        r = sd_event_add_io(core->event, &s->io, s->fd, EPOLLIN, on_accept, s);
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
        if (s->unlink_on_exit)
                (void) unlinkat(s->dir_fd, SOCKET_NAME, 0);
        s->dir_fd = safe_close(s->dir_fd);
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

Core *unix_server_core(UnixServer *s) {
        return s->core;
}

void unix_server_link_client(UnixServer *s, UnixClient *c) {
        LIST_PREPEND(s->clients, c);
}

void unix_server_unlink_client(UnixServer *s, UnixClient *c) {
        LIST_REMOVE(s->clients, c);
}
