/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Each name lookup gets a detached thread; the Resolver is how the threads report back. A
 * query belongs to its thread while getaddrinfo() runs; the thread then puts it on the
 * Resolver's done list (under the lock) and writes a byte to the Resolver's pipe, and the loop
 * collects it from there, counts the lookup as finished and runs its callback unless it was
 * cancelled. Cancelling only marks a running query: the thread still owns it, so a connection
 * can be destroyed while its lookup runs without waiting, and the lookup keeps counting
 * against the limits until its thread is done.
 *
 * The Resolver can go (daemon exit) while threads still run: it is then marked detached and
 * the last thread frees it; threads that finish after that drop their query themselves.
 * Everything else (limits, per-uid counts, callbacks) is touched by the loop thread only.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error-message.h"
#include "util/log.h"
#include "macro.h"
#include "core/resolve.h"

#define LOOKUP_STACK_SIZE (256 * 1024)

struct ResolveQuery {
        Resolver *resolver;
        ResolveQuery *next; /* on the done list */
        uid_t uid;
        bool threaded;  /* counted, and owned by its thread until collected */
        bool cancelled; /* written by the loop only */
        char *host;
        char port[8];
        int family;
        struct addrinfo *result;
        int gai_error;
        sd_event_source *defer; /* an address literal: answered on the next loop iteration */
        resolve_cb cb;
        void *userdata;
};

typedef struct ResolveUid {
        uid_t uid;
        unsigned n_running;
} ResolveUid;

struct Resolver {
        pthread_mutex_t lock;
        /* under the lock */
        ResolveQuery *done; /* finished, not yet collected */
        unsigned n_threads; /* threads that still hold their query */
        bool detached;      /* resolver_free() ran: the last thread frees the rest */
        int pipe[2];        /* a byte after each addition to done */

        /* the loop's */
        sd_event_source *io;
        sd_event *event;
        unsigned max_total, max_per_uid;
        unsigned n_running; /* counted lookups: started, not yet collected */
        ResolveUid *uids;
        size_t n_uids, allocated_uids;
};

static void query_free(ResolveQuery *q) {
        if (!q)
                return;
        q->defer = sd_event_source_disable_unref(q->defer);
        if (q->result)
                freeaddrinfo(q->result);
        free(q->host);
        free(q);
}

/* The Resolver's memory, once neither the loop nor any thread uses it. */
static void resolver_destroy(Resolver *r) {
        safe_close(r->pipe[0]);
        safe_close(r->pipe[1]);
        (void) pthread_mutex_destroy(&r->lock);
        free(r->uids);
        free(r);
}

static ResolveUid *uid_find(Resolver *r, uid_t uid) {
        for (size_t i = 0; i < r->n_uids; i++)
                if (r->uids[i].uid == uid)
                        return &r->uids[i];
        return NULL;
}

static int uid_charge(Resolver *r, uid_t uid) {
        ResolveUid *u = uid_find(r, uid);

        if (!u) {
                if (r->n_uids == r->allocated_uids) {
                        size_t n = r->allocated_uids ? r->allocated_uids * 2 : 8;
                        ResolveUid *a = reallocarray(r->uids, n, sizeof(*a));

                        if (!a)
                                return -ENOMEM;
                        r->uids = a;
                        r->allocated_uids = n;
                }
                u = &r->uids[r->n_uids++];
                *u = (ResolveUid){ .uid = uid };
        }
        u->n_running++;
        r->n_running++;
        return 0;
}

static void uid_release(Resolver *r, uid_t uid) {
        ResolveUid *u = uid_find(r, uid);

        assert(u && u->n_running > 0 && r->n_running > 0);
        r->n_running--;
        if (--u->n_running == 0)
                *u = r->uids[--r->n_uids]; /* order does not matter */
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
        return (struct addrinfo){
                .ai_family = family,
                .ai_socktype = SOCK_STREAM,
                /* AI_ADDRCONFIG dumps the host's addresses over netlink: not for literals. */
                .ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : AI_ADDRCONFIG),
        };
}

static void *lookup_thread(void *arg) {
        ResolveQuery *q = arg;
        Resolver *r = q->resolver;
        struct addrinfo hints = hints_for(q->family, false);
        char byte = 1;
        bool last;

        q->gai_error = getaddrinfo(q->host, q->port, &hints, &q->result);
        /* AI_ADDRCONFIG hides loopback-only families on hosts without other addresses. */
        if (q->gai_error != 0) {
                hints.ai_flags &= ~AI_ADDRCONFIG;
                q->gai_error = getaddrinfo(q->host, q->port, &hints, &q->result);
        }

        (void) pthread_mutex_lock(&r->lock);
        if (!r->detached) {
                q->next = r->done;
                r->done = q;
                q = NULL;
                /* A full pipe already has the loop's attention: nothing lost. */
                (void) !write(r->pipe[1], &byte, 1);
        }
        last = --r->n_threads == 0 && r->detached;
        (void) pthread_mutex_unlock(&r->lock);

        query_free(q); /* only when nobody collects it any more */
        if (last)
                resolver_destroy(r);
        return NULL;
}

static int on_wakeup(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Resolver *r = userdata;
        ResolveQuery *list;
        uint8_t buf[64];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        (void) pthread_mutex_lock(&r->lock);
        list = r->done;
        r->done = NULL;
        (void) pthread_mutex_unlock(&r->lock);

        while (list) {
                ResolveQuery *q = list;

                list = q->next;
                uid_release(r, q->uid);
                if (!q->cancelled)
                        q->cb(q, map_gai_error(q->gai_error), q->result, q->userdata);
                query_free(q);
        }
        return 0;
}

static int on_numeric(sd_event_source *s, void *userdata) {
        ResolveQuery *q = userdata;

        q->defer = sd_event_source_disable_unref(q->defer);
        q->cb(q, map_gai_error(q->gai_error), q->result, q->userdata);
        query_free(q);
        return 0;
}

int resolver_new(sd_event *e, unsigned max_total, unsigned max_per_uid, Resolver **ret) {
        Resolver *r;
        int k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->pipe[0] = r->pipe[1] = -EBADF;
        k = -pthread_mutex_init(&r->lock, NULL);
        if (k < 0) {
                free(r);
                return k;
        }
        r->event = e;
        r->max_total = max_total;
        r->max_per_uid = max_per_uid;
        if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                k = -errno;
                resolver_destroy(r);
                return k;
        }
        k = sd_event_add_io(e, &r->io, r->pipe[0], EPOLLIN, on_wakeup, r);
        if (k < 0) {
                resolver_destroy(r);
                return k;
        }
        *ret = r;
        return 0;
}

Resolver *resolver_free(Resolver *r) {
        ResolveQuery *list;
        bool last;

        if (!r)
                return NULL;
        r->io = sd_event_source_disable_unref(r->io);
        (void) pthread_mutex_lock(&r->lock);
        r->detached = true;
        list = r->done;
        r->done = NULL;
        last = r->n_threads == 0;
        (void) pthread_mutex_unlock(&r->lock);
        while (list) {
                ResolveQuery *q = list;

                list = q->next;
                query_free(q);
        }
        if (last)
                resolver_destroy(r);
        return NULL;
}

unsigned resolver_n_running(const Resolver *r) {
        return r ? r->n_running : 0;
}

int resolve_start(Resolver *r, uid_t uid, const char *host, unsigned port, int family,
                  resolve_cb cb, void *userdata, char *error, ResolveQuery **ret) {
        struct addrinfo hints = hints_for(family, true);
        ResolveQuery *q;
        ResolveUid *u;
        pthread_attr_t attr;
        pthread_t t;
        int k;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->resolver = r;
        q->uid = uid;
        q->family = family;
        q->cb = cb;
        q->userdata = userdata;
        (void) snprintf(q->port, sizeof(q->port), "%u", port);
        q->host = strdup(host);
        if (!q->host) {
                query_free(q);
                return -ENOMEM;
        }

        /* An address literal needs no lookup: answer on the next loop iteration. */
        q->gai_error = getaddrinfo(host, q->port, &hints, &q->result);
        if (q->gai_error == 0) {
                k = sd_event_add_defer(r->event, &q->defer, on_numeric, q);
                if (k < 0) {
                        query_free(q);
                        return k;
                }
                *ret = q;
                return 0;
        }
        q->result = NULL;

        if (r->n_running >= r->max_total) {
                error_message_set(error,
                                  "too many name lookups in progress on this tlsd "
                                  "(MaxNameLookups=%u); try again later",
                                  r->max_total);
                query_free(q);
                return -EUSERS;
        }
        u = uid_find(r, uid);
        if (u && u->n_running >= r->max_per_uid) {
                error_message_set(error,
                                  "too many name lookups in progress for this user "
                                  "(MaxNameLookupsPerUser=%u); a lookup counts until the name "
                                  "servers answer, even when its connection is gone",
                                  r->max_per_uid);
                query_free(q);
                return -EUSERS;
        }
        k = uid_charge(r, uid);
        if (k < 0) {
                query_free(q);
                return k;
        }
        q->threaded = true;

        (void) pthread_mutex_lock(&r->lock);
        r->n_threads++;
        (void) pthread_mutex_unlock(&r->lock);
        k = -pthread_attr_init(&attr);
        if (k == 0) {
                (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                (void) pthread_attr_setstacksize(&attr, LOOKUP_STACK_SIZE);
                k = -pthread_create(&t, &attr, lookup_thread, q);
                (void) pthread_attr_destroy(&attr);
        }
        if (k < 0) {
                (void) pthread_mutex_lock(&r->lock);
                r->n_threads--;
                (void) pthread_mutex_unlock(&r->lock);
                uid_release(r, uid);
                error_message_set(error, "cannot start a name lookup: %s", strerror(-k));
                query_free(q);
                return k;
        }
        *ret = q;
        return 0;
}

ResolveQuery *resolve_cancel(ResolveQuery *q) {
        if (!q)
                return NULL;
        if (q->threaded)
                q->cancelled = true; /* its thread's until collected; counted until then */
        else
                query_free(q);
        return NULL;
}
