/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "bus/bus.h"
#include "core/core.h"
#include "manager.h"
#include "time-util.h"
#include "tickets/ticket-cache.h"
#include "tickets/ticket-keys.h"
#include "unix/unix-server.h"
#include "util/log.h"

#define TICKET_SAVE_INTERVAL_USEC (60u * 1000000u)
/* The control plane's share of RLIMIT_NOFILE: 1/FDS_RESERVE_DIVISOR, within these bounds. */
#define FDS_RESERVE_DIVISOR 16u
#define FDS_RESERVE_MIN 32u
#define FDS_RESERVE_MAX 1024u
/* What a lookup thread may have open inside getaddrinfo() (a socket per server, files). */
#define FDS_PER_LOOKUP 2u

int manager_new(Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = config;

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        r = core_new(m->event, m->config, &m->core);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->unix_server = unix_server_free(m->unix_server);
        m->bus = bus_free(m->bus);
        m->core = core_free(m->core);
        m->ticket_timer = sd_event_source_disable_unref(m->ticket_timer);
        m->ticket_cache = ticket_cache_free(m->ticket_cache);
        m->ticket_keys = ticket_keys_free(m->ticket_keys);
        free(m->state_dir);
        m->event = sd_event_unref(m->event);
        config_free(m->config);
        free(m);
        return NULL;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("received %s, shutting down", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        return sd_event_exit(m->event, 0);
}

static char *state_path(Manager *m, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", m->state_dir, name) < 0)
                return NULL;
        return p;
}

void manager_tickets_save(Manager *m, bool force) {
        int r;

        if (!m->state_dir)
                return;
        if (m->ticket_keys && (force || ticket_keys_dirty(m->ticket_keys))) {
                _cleanup_free_ char *p = state_path(m, TICKET_KEYS_FILE_NAME);

                r = p ? ticket_keys_save(m->ticket_keys, p) : -ENOMEM;
                if (r < 0)
                        log_warning_errno(r, "Cannot save the ticket keys to %s: %m",
                                          p ? p : m->state_dir);
        }
        if (m->ticket_cache && (force || m->core->ticket_cache_dirty)) {
                _cleanup_free_ char *p = state_path(m, TICKET_CACHE_FILE_NAME);

                ticket_cache_expire(m->ticket_cache, now_usec(CLOCK_REALTIME));
                r = p ? ticket_cache_save(m->ticket_cache, p) : -ENOMEM;
                if (r < 0)
                        log_warning_errno(r, "Cannot save the ticket cache to %s: %m",
                                          p ? p : m->state_dir);
                else
                        m->core->ticket_cache_dirty = false;
        }
}

static int on_ticket_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        /* Rotation happens inside the ticket callback; this writes what changed. */
        manager_tickets_save(m, false);
        (void) sd_event_source_set_time_relative(s, TICKET_SAVE_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* Creates the ticket keys and cache, and loads what the state directory holds. A missing or
 * corrupt file is no error (the loaders warn); an unusable state directory only turns
 * persistence off. */
static int tickets_start(Manager *m) {
        const Config *c = m->config;
        TicketCacheLimits limits = {
                .max_per_uid = c->ticket_cache_entries_per_uid,
                .max_total = c->ticket_cache_entries,
        };
        uint64_t now = now_usec(CLOCK_REALTIME);
        int r;

        r = ticket_keys_new((uint64_t) c->ticket_key_rotation_sec * 1000000u,
                            (uint64_t) c->ticket_key_grace_sec * 1000000u, &m->ticket_keys);
        if (r < 0)
                return log_error_errno(r, "Cannot create the ticket keys: %m");
        r = ticket_cache_new(&limits, &m->ticket_cache);
        if (r < 0)
                return log_error_errno(r, "Cannot create the ticket cache: %m");
        core_set_tickets(m->core, m->ticket_keys, m->ticket_cache);
        if (!c->tickets_persist)
                return 0;

        r = config_state_directory(c, &m->state_dir);
        if (r < 0) {
                log_warning_errno(r, "No state directory: tickets are not persisted: %m");
                return 0;
        }
        if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST) {
                log_warning_errno(-errno,
                                  "Cannot create the state directory %s, tickets are not "
                                  "persisted: %m",
                                  m->state_dir);
                free(m->state_dir);
                m->state_dir = NULL;
                return 0;
        }
        {
                _cleanup_free_ char *kp = state_path(m, TICKET_KEYS_FILE_NAME);
                _cleanup_free_ char *cp = state_path(m, TICKET_CACHE_FILE_NAME);

                if (!kp || !cp)
                        return -ENOMEM;
                r = ticket_keys_load(m->ticket_keys, kp, now);
                if (r < 0)
                        log_warning_errno(r, "Cannot load the ticket keys from %s: %m", kp);
                r = ticket_cache_load(m->ticket_cache, cp, now);
                if (r < 0)
                        log_warning_errno(r, "Cannot load the ticket cache from %s: %m", cp);
        }
        /* New keys go to disk at once: tickets issued from now on must survive a crash. */
        manager_tickets_save(m, false);
        r = sd_event_add_time_relative(m->event, &m->ticket_timer, CLOCK_MONOTONIC,
                                       TICKET_SAVE_INTERVAL_USEC, 1000000, on_ticket_timer, m);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the ticket timer: %m");
        return 0;
}

/* The soft RLIMIT_NOFILE is a default for programs that use select(), whose fd_set cannot take
 * descriptors above 1023. sd-event uses epoll, so tlsd takes what the hard limit allows (as
 * systemd advises daemons to); the limits in manager_fds_charge() scale with it. */
static void raise_nofile_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug_errno(-errno, "Cannot raise RLIMIT_NOFILE to its hard limit: %m");
}

/* The descriptors open now. Only at start: it reads a directory. */
static unsigned count_open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;
        int fd;

        if (d) {
                while (readdir(d))
                        n++;
                closedir(d);
                return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own */
        }
        /* No /proc: the lowest free descriptor, exact if none was closed yet. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return FDS_RESERVE_MIN;
        close(fd);
        return (unsigned) fd;
}

int manager_start(Manager *m) {
        sigset_t mask;
        int r;

        /* sd-event needs the signals blocked before it can take them through a signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Cannot block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        /* No reloadable state yet: SIGHUP must not kill the service (systemd would count that
         * as a clean exit and not restart it). */
        (void) signal(SIGHUP, SIG_IGN);

        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Cannot install signal handlers: %m");

        raise_nofile_limit();
        r = tickets_start(m);
        if (r < 0)
                return r;
        r = unix_server_new(m->core, &m->unix_server);
        if (r < 0)
                return r;
        r = bus_new(m->core, &m->bus);
        if (r < 0)
                return r;
        m->core->n_fds_base = count_open_fds();
        return 0;
}

int manager_run(Manager *m) {
        int r;

        (void) sd_notifyf(false, "READY=1\nSTATUS=Serving on %s", unix_server_path(m->unix_server));
        log_info("tlsd %s ready, control socket %s", PACKAGE_VERSION,
                 unix_server_path(m->unix_server));

        r = sd_event_loop(m->event);
        manager_tickets_save(m, false);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
