/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * D-Bus plumbing: the bus connection on the daemon's sd-event loop, the name org.tlsd1, one Peer
 * per caller's unique name (tracked with sd_bus_track, so a vanished client's objects go), the
 * error table, the data streams held for OpenStream/Send/Receive, and org.tlsd1.Manager.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "connection.h"
#include "core.h"
#include "error.h"
#include "listener.h"
#include "log.h"
#include "manager.h"
#include "proto.h"
#include "session.h"
#include "ticket-cache.h"

typedef struct BusPeer {
        struct BusPeer *next;
        Bus *bus;
        char *name;
        Peer *peer;
        sd_bus_track *track;
} BusPeer;

struct BusStream {
        BusStream *next;
        Bus *bus;
        uint64_t connection;
        int fd;
        sd_event_source *io; /* DataReady while in message mode */
        char *path;
        char *owner;         /* unique name the signals go to */
};

struct Bus {
        Manager *manager;
        sd_bus *bus;
        sd_bus_slot *manager_slot;
        BusPeer *peers;
        BusStream *streams;
        sd_event_source *stream_gc; /* drops the streams of connections the core freed */
        /* The caller of the method call being dispatched, as last resolved for a visibility
         * check (property reads and node enumeration run many checks for one call). */
        char *caller_name;
        uint64_t caller_cookie;
        uid_t caller_uid;
};

Bus *bus_from_manager(Manager *m) {
        return m->bus;
}

sd_bus *bus_sd(Bus *b) {
        return b->bus;
}

Manager *bus_manager(Bus *b) {
        return b->manager;
}

const char *bus_path_suffix(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        if (!path || strncmp(path, prefix, n) != 0)
                return NULL;
        return path + n;
}

int bus_parse_id(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int strv_push(char ***l, size_t *n, char *s) {
        char **a;

        if (!s)
                return -ENOMEM;
        a = reallocarray(*l, *n + 2, sizeof(char *));
        if (!a) {
                free(s);
                return -ENOMEM;
        }
        a[(*n)++] = s;
        a[*n] = NULL;
        *l = a;
        return 0;
}

int bus_enumerate(Bus *b, const char *kind, char ***ret) {
        char **l = NULL;
        size_t n = 0;
        int r = 0;

        for (Peer *q = b->manager->peers; r >= 0 && q; q = q->next) {
                if (!bus_caller_may_access(b, q->uid))
                        continue; /* another uid's objects are not even listed */
                for (Session *s = q->sessions; r >= 0 && s; s = s->next) {
                        if (strcmp(kind, "session") == 0)
                                r = strv_push(&l, &n, bus_object_path(kind, s->id));
                        else if (strcmp(kind, "connection") == 0)
                                for (Connection *c = s->connections; r >= 0 && c; c = c->next)
                                        r = strv_push(&l, &n, bus_object_path(kind, c->id));
                        else
                                for (Listener *x = s->listeners; r >= 0 && x; x = x->next)
                                        r = strv_push(&l, &n, bus_object_path(kind, x->id));
                }
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(l[i]);
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

char *bus_object_path(const char *kind, uint64_t id) {
        char *p;

        if (asprintf(&p, "/org/tlsd1/%s/%" PRIu64, kind, id) < 0)
                return NULL;
        return p;
}

int bus_error(sd_bus_error *error, int r, const char *message) {
        enum tlsd_error e = tlsd_error_from_errno(r);
        char name[64];

        (void) snprintf(name, sizeof(name), "org.tlsd1.Error.%s", tlsd_error_name((int) e));
        return sd_bus_error_setf(error, name, "%s",
                                 message && *message ? message : tlsd_strerror((int) e));
}

int bus_check_size(sd_bus_error *error, const char *what, size_t size, size_t max) {
        if (size <= max)
                return 0;
        (void) sd_bus_error_setf(error, "org.tlsd1.Error.InvalidArgument",
                                 "%s is %zu bytes, over its limit of %zu bytes", what, size, max);
        return -EINVAL;
}

int bus_not_found(sd_bus_error *error, const char *what) {
        return sd_bus_error_setf(error, "org.tlsd1.Error.NotFound", "no such %s", what);
}

static int caller_uid(Bus *b, sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        uint64_t cookie = 0;
        uid_t uid;
        int r;

        if (!sender)
                return -EACCES;
        (void) sd_bus_message_get_cookie(m, &cookie);
        if (b->caller_name && b->caller_cookie == cookie && strcmp(b->caller_name, sender) == 0) {
                *ret = b->caller_uid;
                return 0;
        }
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        free(b->caller_name);
        b->caller_name = strdup(sender);
        b->caller_cookie = cookie;
        b->caller_uid = uid;
        *ret = uid;
        return 0;
}

int bus_caller_may_access(Bus *b, uid_t owner) {
        sd_bus_message *m = sd_bus_get_current_message(b->bus);
        const char *sender;
        Peer caller = {};

        /* Not answering a method call: tlsd itself reads its objects (signals it emits). */
        if (!m || !sd_bus_message_is_method_call(m, NULL, NULL))
                return 1;
        sender = sd_bus_message_get_sender(m);
        if (!sender)
                return 0;
        for (BusPeer *bp = b->peers; bp; bp = bp->next)
                if (bp->name && strcmp(bp->name, sender) == 0)
                        return peer_may_access(bp->peer, owner);
        /* Someone who has not called a method yet (Introspect, Properties, ObjectManager): no
         * Peer is made for that, the sender's uid is enough. */
        if (caller_uid(b, m, &caller.uid) < 0)
                return 0;
        return peer_may_access(&caller, owner);
}

/* ---- callers ---- */

static void bus_peer_free(BusPeer *bp) {
        BusPeer **pp;

        for (BusStream *st = bp->bus->streams; st;) {
                BusStream *next = st->next;

                if (bp->name && st->owner && strcmp(st->owner, bp->name) == 0)
                        bus_stream_drop(bp->bus, st->connection);
                st = next;
        }

        for (pp = &bp->bus->peers; *pp; pp = &(*pp)->next)
                if (*pp == bp) {
                        *pp = bp->next;
                        break;
                }
        sd_bus_track_unref(bp->track);
        peer_free(bp->peer); /* tears down the caller's objects */
        free(bp->name);
        free(bp);
}

static int on_peer_gone(sd_bus_track *t, void *userdata) {
        BusPeer *bp = userdata;

        log_debug("D-Bus client %s went away", bp->name);
        bus_peer_free(bp);
        return 0;
}

const char *bus_peer_name(Peer *p) {
        BusPeer *bp = p->transport == PEER_TRANSPORT_DBUS ? p->userdata : NULL;

        return bp ? bp->name : NULL;
}

static void bus_emit(Peer *p, const CoreEvent *e, void *userdata) {
        BusPeer *bp = userdata;

        connection_bus_emit(bp->bus, p, e);
}

static const PeerOps bus_peer_ops = {
        .emit = bus_emit,
};

/* Persistent objects (an admin's choice) belong to no bus client: they live until destroyed or
 * until tlsd stops, under a per-uid owner of their own. Their events are not signalled (nobody
 * to send them to); their state is in properties and their data behind Send/Receive. */
Peer *bus_persistent_peer(Bus *b, uid_t uid, sd_bus_error *error) {
        BusPeer *bp;
        int r;

        for (bp = b->peers; bp; bp = bp->next)
                if (!bp->name && bp->peer->uid == uid)
                        return bp->peer;
        bp = calloc(1, sizeof(*bp));
        if (!bp) {
                sd_bus_error_set_errno(error, -ENOMEM);
                return NULL;
        }
        bp->bus = b;
        r = peer_new(b->manager, PEER_TRANSPORT_DBUS, uid, (gid_t) -1, 0, &bus_peer_ops, bp,
                     &bp->peer);
        if (r < 0) {
                free(bp);
                bus_error(error, r, NULL);
                return NULL;
        }
        bp->next = b->peers;
        b->peers = bp;
        return bp->peer;
}

Peer *bus_peer(Bus *b, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        BusPeer *bp;
        uid_t uid;
        gid_t gid = (gid_t) -1;
        pid_t pid = 0;
        int r;

        if (!sender) {
                sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "no sender");
                return NULL;
        }
        for (bp = b->peers; bp; bp = bp->next)
                if (bp->name && strcmp(bp->name, sender) == 0)
                        return bp->peer;

        /* dbus-daemon vouches for the uid and pid only; the gid (informational, never used
         * for an access decision) is read from /proc/PID. */
        r = sd_bus_query_sender_creds(
                m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID | SD_BUS_CREDS_PID | SD_BUS_CREDS_AUGMENT,
                &creds);
        if (r < 0 || sd_bus_creds_get_euid(creds, &uid) < 0) {
                sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "cannot determine the caller's credentials");
                return NULL;
        }
        (void) sd_bus_creds_get_egid(creds, &gid);
        (void) sd_bus_creds_get_pid(creds, &pid);

        bp = calloc(1, sizeof(*bp));
        if (!bp || !(bp->name = strdup(sender))) {
                free(bp);
                sd_bus_error_set_errno(error, -ENOMEM);
                return NULL;
        }
        bp->bus = b;
        r = peer_new(b->manager, PEER_TRANSPORT_DBUS, uid, gid, pid, &bus_peer_ops, bp, &bp->peer);
        if (r >= 0)
                r = sd_bus_track_new(b->bus, &bp->track, on_peer_gone, bp);
        if (r >= 0)
                r = sd_bus_track_add_name(bp->track, sender);
        if (r < 0) {
                sd_bus_track_unref(bp->track);
                peer_free(bp->peer);
                free(bp->name);
                free(bp);
                bus_error(error, r, r == -EUSERS ? "too many clients" : NULL);
                return NULL;
        }
        bp->next = b->peers;
        b->peers = bp;
        return bp->peer;
}

/* ---- streams ---- */

BusStream *bus_stream_find(Bus *b, uint64_t connection) {
        for (BusStream *s = b->streams; s; s = s->next)
                if (s->connection == connection)
                        return s;
        return NULL;
}

int bus_stream_fd(BusStream *s) {
        return s->fd;
}

int bus_stream_take_fd(BusStream *s) {
        int fd = s->fd;

        s->io = sd_event_source_disable_unref(s->io);
        s->fd = -EBADF;
        return fd;
}

/* A signal for one client only: events are private to the object's owner. */
int bus_send_signal(Bus *b, const char *destination, const char *path, const char *interface,
                    const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_signal(b->bus, &m, path, interface, member);
        if (r < 0)
                return r;
        r = sd_bus_message_set_destination(m, destination);
        if (r < 0)
                return r;
        if (types && *types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        return sd_bus_send(b->bus, m, NULL);
}

/* PropertiesChanged for the owner only, as an invalidation: the values follow with Get. */
int bus_send_properties_invalidated(Bus *b, const char *destination, const char *path,
                                    const char *interface, const char *const *properties) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(b->bus, &m, path, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged");
        if (r >= 0)
                r = sd_bus_message_set_destination(m, destination);
        if (r >= 0)
                r = sd_bus_message_append(m, "sa{sv}", interface, 0);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) properties);
        if (r < 0)
                return r;
        return sd_bus_send(b->bus, m, NULL);
}

int bus_send_signal_chain(Bus *b, const char *destination, const char *path,
                          const char *verification, const char *chain, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(b->bus, &m, path, "org.tlsd1.Connection",
                                      "CertificateIndication");
        if (r >= 0)
                r = sd_bus_message_set_destination(m, destination);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", verification);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', chain ? chain : "", chain ? size : 0);
        if (r < 0)
                return r;
        return sd_bus_send(b->bus, m, NULL);
}

static int on_stream_readable(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        BusStream *s = userdata;

        /* A hint: announced once, re-armed by the next Receive. */
        (void) sd_event_source_set_enabled(es, SD_EVENT_OFF);
        if (s->owner)
                (void) bus_send_signal(s->bus, s->owner, s->path, "org.tlsd1.Connection",
                                       "DataReady", NULL);
        return 0;
}

int bus_stream_add(Bus *b, Peer *owner, uint64_t connection, int fd) {
        BusPeer *bp = owner->userdata;
        BusStream *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->bus = b;
        s->connection = connection;
        s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        s->path = bus_object_path("connection", connection);
        s->owner = bp->name ? strdup(bp->name) : NULL;
        if (s->fd < 0 || !s->path || (bp->name && !s->owner)) {
                r = s->fd < 0 ? -errno : -ENOMEM;
                safe_close(s->fd);
                free(s->path);
                free(s->owner);
                free(s);
                return r;
        }
        (void) fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
        r = sd_event_add_io(b->manager->event, &s->io, s->fd, EPOLLIN, on_stream_readable, s);
        if (r < 0) {
                safe_close(s->fd);
                free(s->path);
                free(s->owner);
                free(s);
                return r;
        }
        s->next = b->streams;
        b->streams = s;
        return 0;
}

void bus_stream_rearm(BusStream *s) {
        if (s->io)
                (void) sd_event_source_set_enabled(s->io, SD_EVENT_ON);
}

static bool connection_exists(Bus *b, uint64_t id) {
        for (Peer *q = b->manager->peers; q; q = q->next)
                for (Session *s = q->sessions; s; s = s->next)
                        for (Connection *c = s->connections; c; c = c->next)
                                if (c->id == id)
                                        return true;
        return false;
}

/* Drops the streams whose connection is gone: freed with its session, or an accepted connection
 * the core released after its end. */
void bus_stream_gc(Bus *b) {
        for (BusStream *s = b->streams; s;) {
                BusStream *next = s->next;

                if (!connection_exists(b, s->connection))
                        bus_stream_drop(b, s->connection);
                s = next;
        }
}

static int on_stream_gc(sd_event_source *es, void *userdata) {
        bus_stream_gc(userdata);
        return 0;
}

/* After the core's own deferred work (an accepted connection is released from a defer source
 * of normal priority once it ended), at idle priority. */
void bus_stream_gc_schedule(Bus *b) {
        int r;

        if (!b->streams)
                return;
        if (!b->stream_gc) {
                r = sd_event_add_defer(b->manager->event, &b->stream_gc, on_stream_gc, b);
                if (r < 0)
                        return;
                (void) sd_event_source_set_priority(b->stream_gc, SD_EVENT_PRIORITY_IDLE);
        }
        (void) sd_event_source_set_enabled(b->stream_gc, SD_EVENT_ONESHOT);
}

void bus_stream_drop(Bus *b, uint64_t connection) {
        for (BusStream **pp = &b->streams; *pp; pp = &(*pp)->next) {
                BusStream *s = *pp;

                if (s->connection != connection)
                        continue;
                *pp = s->next;
                s->io = sd_event_source_disable_unref(s->io);
                safe_close(s->fd);
                free(s->path);
                free(s->owner);
                free(s);
                return;
        }
}

/* ---- org.tlsd1.Manager ---- */

static int method_get_version(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        CoreVersion v;

        if (!bus_peer(b, m, error))
                return -EACCES;
        core_version(b->manager, &v);
        return sd_bus_reply_method_return(m, "sus", v.version, v.protocol, v.tls_library);
}

static int method_ping(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const void *p;
        size_t n;
        int r;

        if (!bus_peer(userdata, m, error))
                return -EACCES;
        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                return r;
        if (n > TLSD_PAYLOAD_MAX)
                return bus_error(error, -EMSGSIZE, "ping payload is at most 4096 bytes");
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', p, n);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_whoami(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);
        CoreIdentity id;

        if (!p)
                return -EACCES;
        core_whoami(p, &id);
        return sd_bus_reply_method_return(m, "uuu", (uint32_t) id.uid, (uint32_t) id.gid,
                                          (uint32_t) id.pid);
}

/* Visible objects: everything for root, one's own otherwise. */
static int reply_object_list(sd_bus_message *m, Bus *b, Peer *caller, const char *kind) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        for (Peer *q = b->manager->peers; r >= 0 && q; q = q->next) {
                if (!peer_may_access(caller, q->uid))
                        continue;
                for (Session *s = q->sessions; r >= 0 && s; s = s->next) {
                        if (strcmp(kind, "session") == 0) {
                                _cleanup_free_ char *path = bus_object_path(kind, s->id);

                                r = path ? sd_bus_message_append(reply, "o", path) : -ENOMEM;
                                continue;
                        }
                        for (Connection *c = s->connections; r >= 0 && c; c = c->next) {
                                _cleanup_free_ char *path = bus_object_path(kind, c->id);

                                r = path ? sd_bus_message_append(reply, "o", path) : -ENOMEM;
                        }
                }
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);

        if (!p)
                return -EACCES;
        return reply_object_list(m, userdata, p, "session");
}

static int method_list_connections(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);

        if (!p)
                return -EACCES;
        return reply_object_list(m, userdata, p, "connection");
}

/* The caller's uid's counters; root's: everyone's. */
static int method_stats(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        Peer *p = bus_peer(b, m, error);
        uint64_t sessions = 0, connections = 0, listeners = 0, clients = 0;
        uint64_t ok = b->manager->stats.handshakes_ok, failed = b->manager->stats.handshakes_failed;

        if (!p)
                return -EACCES;
        if (p->uid != 0) {
                UidCount *u = manager_uid_counts(b->manager, p->uid);

                ok = u ? u->handshakes_ok : 0;
                failed = u ? u->handshakes_failed : 0;
        }
        for (Peer *q = b->manager->peers; q; q = q->next) {
                if (!peer_may_access(p, q->uid))
                        continue;
                clients++;
                for (Session *s = q->sessions; s; s = s->next) {
                        sessions++;
                        connections += s->n_connections;
                        for (Listener *l = s->listeners; l; l = l->next)
                                listeners++;
                }
        }
        return sd_bus_reply_method_return(m, "a{st}", 6, "HandshakesOk", ok, "HandshakesFailed",
                                          failed, "Clients", clients, "Sessions", sessions,
                                          "Connections", connections, "Listeners", listeners);
}

/* The client ticket cache's counters for the caller's uid (root: all uids). */
static int method_ticket_stats(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);
        TicketCacheStats st;

        if (!p)
                return -EACCES;
        core_ticket_stats(p, &st);
        return sd_bus_reply_method_return(m, "a{st}", 7, "Entries", (uint64_t) st.entries,
                                          "Stored", st.stored, "Hits", st.hits, "Misses",
                                          st.misses, "Expired", st.expired, "Evicted",
                                          st.evicted, "Rejected", st.rejected);
}

static int method_set_log_level(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);
        const char *level;
        int r;

        if (!p)
                return -EACCES;
        if (p->uid != 0)
                return bus_error(error, -EPERM, "only root may change the log level");
        r = sd_bus_message_read(m, "s", &level);
        if (r < 0)
                return r;
        r = log_level_from_string(level);
        if (r < 0)
                return bus_error(error, -EINVAL, "unknown log level");
        log_set_max_level(r);
        log_info("log level set to %s over D-Bus", log_level_to_string(r));
        return sd_bus_reply_method_return(m, NULL);
}


static int method_create_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return session_bus_create(userdata, m, error);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("GetVersion", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("s", version, "u", protocol, "s", tls_library),
                                method_get_version, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Ping", SD_BUS_ARGS("ay", payload), SD_BUS_RESULT("ay", payload),
                                method_ping, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("WhoAmI", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("u", uid, "u", gid, "u", pid), method_whoami,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateSession", SD_BUS_ARGS("u", role, "a{sv}", options),
                                SD_BUS_RESULT("o", session), method_create_session,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", sessions),
                                method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListConnections", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("ao", connections), method_list_connections,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Stats", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{st}", counters),
                                method_stats, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TicketStats", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{st}", counters),
                                method_ticket_stats, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetLogLevel", SD_BUS_ARGS("s", level), SD_BUS_NO_RESULT,
                                method_set_log_level, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int open_bus(const Config *c, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (c->dbus_address) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, c->dbus_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else if (c->dbus_mode == CONFIG_DBUS_SYSTEM ||
                   (c->dbus_mode == CONFIG_DBUS_AUTO && geteuid() == 0))
                r = sd_bus_open_system(&bus);
        else
                r = sd_bus_open_user(&bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int bus_new(Manager *m, Bus **ret) {
        Bus *b;
        int r;

        if (m->config->dbus_mode == CONFIG_DBUS_NONE)
                return 0;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->manager = m;
        r = open_bus(m->config, &b->bus);
        if (r < 0) {
                free(b);
                if (m->config->dbus_mode == CONFIG_DBUS_AUTO && !m->config->dbus_address) {
                        log_notice_errno(r, "No D-Bus (%m): serving on the Unix socket only");
                        return 0;
                }
                return log_error_errno(r, "Cannot connect to D-Bus: %m");
        }
        r = sd_bus_add_object_vtable(b->bus, &b->manager_slot, "/org/tlsd1", "org.tlsd1.Manager",
                                     manager_vtable, b);
        if (r >= 0)
                r = sd_bus_add_object_manager(b->bus, NULL, "/org/tlsd1");
        if (r >= 0)
                r = session_bus_register(b);
        if (r >= 0)
                r = connection_bus_register(b);
        if (r >= 0)
                r = listener_bus_register(b);
        if (r < 0) {
                bus_free(b);
                return log_error_errno(r, "Cannot register D-Bus objects: %m");
        }
        r = sd_bus_request_name(b->bus, "org.tlsd1", 0);
        if (r < 0) {
                bool optional = m->config->dbus_mode == CONFIG_DBUS_AUTO && !m->config->dbus_address;

                bus_free(b);
                if (optional) {
                        /* e.g. another tlsd owns it, or the bus policy says no */
                        log_notice_errno(r, "Cannot own org.tlsd1 (%m): serving on the Unix "
                                            "socket only");
                        return 0;
                }
                return log_error_errno(r, "Cannot own org.tlsd1 on D-Bus: %m");
        }
        r = sd_bus_attach_event(b->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                bus_free(b);
                return log_error_errno(r, "Cannot attach D-Bus to the event loop: %m");
        }
        log_info("serving org.tlsd1 on D-Bus");
        *ret = b;
        return 1;
}

Bus *bus_free(Bus *b) {
        if (!b)
                return NULL;
        while (b->peers)
                bus_peer_free(b->peers);
        while (b->streams)
                bus_stream_drop(b, b->streams->connection);
        sd_event_source_disable_unref(b->stream_gc);
        free(b->caller_name);
        sd_bus_slot_unref(b->manager_slot);
        sd_bus_flush_close_unref(b->bus);
        free(b);
        return NULL;
}
