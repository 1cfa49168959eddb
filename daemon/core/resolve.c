/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Each name lookup gets a detached thread and a pipe. The query is shared between the thread and
 * the loop with a reference count: whoever drops the last reference frees it, so a connection can
 * be destroyed (cancel) while its lookup is still running without waiting for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "macro.h"
#include "core/resolve.h"

struct ResolveQuery {
        atomic_int refs;
        int pipe[2];
        char *host;
        char port[8];
        int family;
        struct addrinfo *result;
        int gai_error;
        sd_event_source *io;
        resolve_cb cb;
        void *userdata;
};

static void query_unref(ResolveQuery *q) {
        if (atomic_fetch_sub(&q->refs, 1) != 1)
                return;
        q->io = sd_event_source_disable_unref(q->io);
        safe_close(q->pipe[0]);
        safe_close(q->pipe[1]);
        if (q->result)
                freeaddrinfo(q->result);
        free(q->host);
        free(q);
}

static int map_gai_error(int e) {
        switch (e) {
        case 0:
                return 0;
        case EAI_MEMORY:
                return -ENOMEM;
        case EAI_FAMILY:
                return -EAFNOSUPPORT;
        default:
                return -EADDRNOTAVAIL;
        }
}

static struct addrinfo hints_for(int family, bool numeric) {
        return (struct addrinfo) {
                .ai_family = family,
                .ai_socktype = SOCK_STREAM,
                /* AI_ADDRCONFIG dumps the host's addresses over netlink: not for literals. */
                .ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : AI_ADDRCONFIG),
        };
}

static void *lookup_thread(void *arg) {
        ResolveQuery *q = arg;
        struct addrinfo hints = hints_for(q->family, false);
        char byte = 1;

        q->gai_error = getaddrinfo(q->host, q->port, &hints, &q->result);
        /* AI_ADDRCONFIG hides loopback-only families on hosts without other addresses. */
        if (q->gai_error != 0) {
                hints.ai_flags &= ~AI_ADDRCONFIG;
                q->gai_error = getaddrinfo(q->host, q->port, &hints, &q->result);
        }
        (void) !write(q->pipe[1], &byte, 1);
        query_unref(q);
        return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ResolveQuery *q = userdata;

        q->io = sd_event_source_disable_unref(q->io);
        q->cb(q, map_gai_error(q->gai_error), q->result, q->userdata);
        query_unref(q); /* the loop's reference */
        return 0;
}

static int on_numeric(sd_event_source *s, void *userdata) {
        return on_done(s, -1, 0, userdata);
}

int resolve_start(sd_event *e, const char *host, unsigned port, int family, resolve_cb cb,
                  void *userdata, ResolveQuery **ret) {
        struct addrinfo hints = hints_for(family, true);
        ResolveQuery *q;
        pthread_attr_t attr;
        pthread_t t;
        int r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        atomic_init(&q->refs, 1);
        q->pipe[0] = q->pipe[1] = -EBADF;
        q->family = family;
        q->cb = cb;
        q->userdata = userdata;
        (void) snprintf(q->port, sizeof(q->port), "%u", port);
        q->host = strdup(host);
        if (!q->host) {
                query_unref(q);
                return -ENOMEM;
        }

        /* An address literal needs no lookup: answer on the next loop iteration. */
        q->gai_error = getaddrinfo(host, q->port, &hints, &q->result);
        if (q->gai_error == 0) {
                r = sd_event_add_defer(e, &q->io, on_numeric, q);
                if (r < 0) {
                        query_unref(q);
                        return r;
                }
                *ret = q;
                return 0;
        }

        if (pipe2(q->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = -errno;
                query_unref(q);
                return r;
        }
        r = sd_event_add_io(e, &q->io, q->pipe[0], EPOLLIN, on_done, q);
        if (r < 0) {
                query_unref(q);
                return r;
        }
        atomic_fetch_add(&q->refs, 1); /* the thread's */
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        r = -pthread_create(&t, &attr, lookup_thread, q);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                query_unref(q);
                query_unref(q);
                return r;
        }
        *ret = q;
        return 0;
}

ResolveQuery *resolve_cancel(ResolveQuery *q) {
        if (!q)
                return NULL;
        q->io = sd_event_source_disable_unref(q->io);
        query_unref(q);
        return NULL;
}
