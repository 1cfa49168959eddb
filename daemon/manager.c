/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "manager.h"
#include "bus.h"
#include "connection.h"
#include "peer.h"
#include "session.h"
#include "ticket-cache.h"
#include "ticket-keys.h"
#include "unix-server.h"

#define TICKET_SAVE_INTERVAL_USEC (60u * 1000000u)

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

int manager_new(Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = config;
        m->next_id = 1;
        m->scratch = malloc(64 * 1024);
        if (!m->scratch)
                return -ENOMEM;
        r = engine_system_trust_new(&m->system_trust);
        if (r < 0)
                return r;

        r = sd_event_new(&m->event);
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
        m->system_trust = engine_system_trust_free(m->system_trust); /* sessions are gone */
        m->ticket_timer = sd_event_source_disable_unref(m->ticket_timer);
        m->ticket_cache = ticket_cache_free(m->ticket_cache);
        m->ticket_keys = ticket_keys_free(m->ticket_keys);
        free(m->state_dir);
        m->event = sd_event_unref(m->event);
        config_free(m->config);
        free(m->uids);
        free(m->scratch);
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

void manager_ticket_cache_changed(Manager *m) {
        m->ticket_cache_dirty = true;
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
        if (m->ticket_cache && (force || m->ticket_cache_dirty)) {
                _cleanup_free_ char *p = state_path(m, TICKET_CACHE_FILE_NAME);

                ticket_cache_expire(m->ticket_cache, realtime_usec());
                r = p ? ticket_cache_save(m->ticket_cache, p) : -ENOMEM;
                if (r < 0)
                        log_warning_errno(r, "Cannot save the ticket cache to %s: %m",
                                          p ? p : m->state_dir);
                else
                        m->ticket_cache_dirty = false;
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
        uint64_t now = realtime_usec();
        int r;

        r = ticket_keys_new((uint64_t) c->ticket_key_rotation_sec * 1000000u,
                            (uint64_t) c->ticket_key_grace_sec * 1000000u, &m->ticket_keys);
        if (r < 0)
                return log_error_errno(r, "Cannot create the ticket keys: %m");
        r = ticket_cache_new(&limits, &m->ticket_cache);
        if (r < 0)
                return log_error_errno(r, "Cannot create the ticket cache: %m");
        if (!c->tickets_persist)
                return 0;

        r = config_state_directory(c, &m->state_dir);
        if (r < 0) {
                log_warning_errno(r, "No state directory: tickets are not persisted: %m");
                return 0;
        }
        if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST) {
                log_warning_errno(-errno, "Cannot create the state directory %s, tickets are not "
                                  "persisted: %m", m->state_dir);
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

        r = tickets_start(m);
        if (r < 0)
                return r;
        r = unix_server_new(m, &m->unix_server);
        if (r < 0)
                return r;
        r = bus_new(m, &m->bus);
        if (r < 0)
                return r;
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

uint64_t manager_next_id(Manager *m) {
        return m->next_id++;
}

UidCount *manager_uid_counts(Manager *m, uid_t uid) {
        for (size_t i = 0; i < m->n_uids; i++)
                if (m->uids[i].uid == uid)
                        return &m->uids[i];
        return NULL;
}

int manager_peer_admit(Manager *m, uid_t uid) {
        UidCount *u;

        if (m->n_peers >= m->config->max_clients)
                return -EUSERS;
        u = manager_uid_counts(m, uid);
        if (u && u->n_peers >= m->config->max_clients_per_uid)
                return -EUSERS;
        if (!u) {
                if (m->n_uids == m->allocated_uids) {
                        size_t n = m->allocated_uids ? m->allocated_uids * 2 : 8;
                        UidCount *a = reallocarray(m->uids, n, sizeof(*a));

                        if (!a)
                                return -ENOMEM;
                        m->uids = a;
                        m->allocated_uids = n;
                }
                u = &m->uids[m->n_uids++];
                *u = (UidCount) { .uid = uid };
        }
        u->n_peers++;
        m->n_peers++;
        return 0;
}

void manager_peer_release(Manager *m, uid_t uid) {
        UidCount *u = manager_uid_counts(m, uid);

        if (!u)
                return;
        m->n_peers--;
        if (--u->n_peers == 0 && u->handshakes_ok == 0 && u->handshakes_failed == 0)
                *u = m->uids[--m->n_uids]; /* order does not matter */
}

/* A linear walk: the control plane only, bounded by the per-user limits. */
Session *manager_find_session(Manager *m, Peer *p, uint64_t id) {
        for (Peer *q = m->peers; q; q = q->next) {
                if (!peer_may_access(p, q->uid))
                        continue;
                for (Session *s = q->sessions; s; s = s->next)
                        if (s->id == id)
                                return s;
        }
        return NULL;
}

Connection *manager_find_connection(Manager *m, Peer *p, uint64_t id) {
        for (Peer *q = m->peers; q; q = q->next) {
                if (!peer_may_access(p, q->uid))
                        continue;
                for (Session *s = q->sessions; s; s = s->next)
                        for (Connection *c = s->connections; c; c = c->next)
                                if (c->id == id)
                                        return c;
        }
        return NULL;
}

uint8_t *manager_scratch(Manager *m) {
        return m->scratch;
}

void manager_count_handshake(Manager *m, uid_t uid, bool ok) {
        UidCount *u = manager_uid_counts(m, uid); /* its session's owner is a live client */

        if (ok)
                m->stats.handshakes_ok++;
        else
                m->stats.handshakes_failed++;
        if (u && ok)
                u->handshakes_ok++;
        else if (u)
                u->handshakes_failed++;
}
