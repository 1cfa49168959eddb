/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"
#include "bus.h"
#include "connection.h"
#include "peer.h"
#include "session.h"
#include "unix-server.h"

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
        if (--u->n_peers == 0)
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

void manager_count_handshake(Manager *m, bool ok) {
        if (ok)
                m->stats.handshakes_ok++;
        else
                m->stats.handshakes_failed++;
}
