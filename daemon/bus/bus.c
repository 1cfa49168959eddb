/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * D-Bus plumbing: the bus connection on the daemon's sd-event loop, the name org.tlsd1, one Peer
 * per caller's unique name (tracked with sd_bus_track, so a vanished client's objects go), the
 * error table, the data streams held for OpenStream/Send/Receive, org.tlsd1.Manager, and the
 * table of the object types under it.
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

#include "bus/bus.h"
#include "bus/bus-object.h"
#include "core/core-query.h"
#include "error.h"
#include "util/log.h"
#include "tickets/ticket-cache.h"
#include "proto.h"

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
        char *owner; /* unique name the signals go to */
};

/* The objects under /org/tlsd1 besides the Manager, one per live core object of each kind. */
static const BusObjectType *const object_types[] = {
        &session_bus_object,
        &connection_bus_object,
        &listener_bus_object,
};

struct Bus {
        Core *core;
        sd_bus *bus;
        sd_bus_slot *manager_slot;
        BusObject objects[ELEMENTSOF(object_types)];
        BusPeer *peers;
        BusStream *streams; /* dropped when the core releases their connection */
        /* The caller of the method call being dispatched, as last resolved for a visibility
         * check (property reads and node enumeration run many checks for one call). */
        char *caller_name;
        uint64_t caller_cookie;
        uid_t caller_uid;
};

sd_bus *bus_sd(Bus *b) {
        return b->bus;
}

Core *bus_core(Bus *b) {
        return b->core;
}

/* tlsd itself reading its objects (signals it emits): root's view. */
static const Peer tlsd_itself = { .uid = 0 };

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

const Peer *bus_caller(Bus *b, Peer *buffer) {
        sd_bus_message *m = sd_bus_get_current_message(b->bus);
        const char *sender;

        /* Not answering a method call: tlsd itself reads its objects (signals it emits). */
        if (!m || !sd_bus_message_is_method_call(m, NULL, NULL))
                return &tlsd_itself;
        sender = sd_bus_message_get_sender(m);
        if (!sender)
                return NULL;
        for (BusPeer *bp = b->peers; bp; bp = bp->next)
                if (bp->name && strcmp(bp->name, sender) == 0)
                        return bp->peer;
        /* Someone who has not called a method yet (Introspect, Properties, ObjectManager): no
         * Peer is made for that, the sender's uid is enough. */
        *buffer = (Peer){};
        if (caller_uid(b, m, &buffer->uid) < 0)
                return NULL;
        return buffer;
}

/* ---- callers ---- */

/* Frees the Peer, and with it the caller's objects; they report nothing back (peer_free()), so
 * the caller's streams go here. */
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

/* A connection is gone: so is its stream. */
static void bus_released(Peer *p, uint64_t connection, void *userdata) {
        BusPeer *bp = userdata;

        bus_stream_drop(bp->bus, connection);
}

static const PeerOps bus_peer_ops = {
        .emit = bus_emit,
        .released = bus_released,
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
        r = peer_new(b->core, PEER_TRANSPORT_DBUS, uid, (gid_t) -1, 0, &bus_peer_ops, bp,
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
        r = peer_new(b->core, PEER_TRANSPORT_DBUS, uid, gid, pid, &bus_peer_ops, bp, &bp->peer);
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
        r = sd_event_add_io(b->core->event, &s->io, s->fd, EPOLLIN, on_stream_readable, s);
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
        core_version(b->core, &v);
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
static int reply_object_list(sd_bus_message *m, Bus *b, Peer *caller, const BusObjectType *type) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        if (r >= 0)
                r = bus_object_append_paths(b, type, caller, reply);
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
        return reply_object_list(m, userdata, p, &session_bus_object);
}

static int method_list_connections(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);

        if (!p)
                return -EACCES;
        return reply_object_list(m, userdata, p, &connection_bus_object);
}

/* The caller's uid's counters; root's: everyone's. */
static int method_stats(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        Peer *p = bus_peer(b, m, error);
        CoreStats st;

        if (!p)
                return -EACCES;
        core_stats(b->core, p, &st);
        return sd_bus_reply_method_return(m, "a{st}", 6, "HandshakesOk", st.handshakes_ok,
                                          "HandshakesFailed", st.handshakes_failed, "Clients",
                                          st.clients, "Sessions", st.sessions, "Connections",
                                          st.connections, "Listeners", st.listeners);
}

/* The client ticket cache's counters for the caller's uid (root: all uids). */
static int method_ticket_stats(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);
        TicketCacheStats st;

        if (!p)
                return -EACCES;
        core_ticket_stats(p, &st);
        return sd_bus_reply_method_return(m, "a{st}", 7, "Entries", (uint64_t) st.entries, "Stored",
                                          st.stored, "Hits", st.hits, "Misses", st.misses,
                                          "Expired", st.expired, "Evicted", st.evicted, "Rejected",
                                          st.rejected);
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
        if (r < 0) {
                char message[256];

                (void) snprintf(message, sizeof(message),
                                "unknown log level \"%s\": expected debug, info, notice, warning, "
                                "err, crit, alert, emerg or 0..7",
                                level);
                tlsd_utf8_make_valid(message); /* the caller's bytes, maybe not UTF-8 */
                return bus_error(error, -EINVAL, message);
        }
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
        /* Its options may carry a private key, its password or a PSK: sd-bus wipes the
         * message (call and reply) when it frees it (SENSITIVE), as Session.Configure. */
        SD_BUS_METHOD_WITH_ARGS("CreateSession", SD_BUS_ARGS("u", role, "a{sv}", options),
                                SD_BUS_RESULT("o", session), method_create_session,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", sessions),
                                method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListConnections", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", connections),
                                method_list_connections, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Stats", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{st}", counters),
                                method_stats, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TicketStats", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{st}", counters),
                                method_ticket_stats, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetLogLevel", SD_BUS_ARGS("s", level), SD_BUS_NO_RESULT,
                                method_set_log_level, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* Bus=auto: the system bus for a system service, the session bus for a user's own tlsd. A
 * system service is tlsd running as root, or started by the system's service manager: systemd
 * sets $INVOCATION_ID for every unit it starts, and $MANAGERPID only for the units of a user's
 * manager (systemd.exec(5)). The shipped unit runs tlsd as user tlsd: by uid alone it would
 * look for a session bus that a system user does not have, and org.tlsd1 would never appear on
 * the system bus. */
static bool auto_is_system(void) {
        return geteuid() == 0 || (getenv("INVOCATION_ID") && !getenv("MANAGERPID"));
}

static bool bus_is_system(const Config *c) {
        return c->dbus_mode == CONFIG_DBUS_SYSTEM ||
               (c->dbus_mode == CONFIG_DBUS_AUTO && auto_is_system());
}

/* Which bus, and where, for the log: "the system bus at unix:path=...". The address is the one
 * sd-bus uses (Address=, else $DBUS_SYSTEM_BUS_ADDRESS or its default, else
 * $DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus), so an error names what was tried. */
static const char *bus_kind(const Config *c, char *buf, size_t size) {
        const char *e;

        if (c->dbus_address)
                (void) snprintf(buf, size, "the bus at %s (Address=)", c->dbus_address);
        else if (bus_is_system(c))
                (void) snprintf(buf, size, "the system bus at %s",
                                (e = getenv("DBUS_SYSTEM_BUS_ADDRESS")) && *e
                                        ? e
                                        : "unix:path=/run/dbus/system_bus_socket");
        else if ((e = getenv("DBUS_SESSION_BUS_ADDRESS")) && *e)
                (void) snprintf(buf, size, "the session bus at %s", e);
        else if ((e = getenv("XDG_RUNTIME_DIR")) && *e)
                (void) snprintf(buf, size, "the session bus at unix:path=%s/bus", e);
        else
                (void) snprintf(buf, size,
                                "the session bus (neither DBUS_SESSION_BUS_ADDRESS "
                                "nor XDG_RUNTIME_DIR is set)");
        return buf;
}

/* Why the name cannot be ours, in words: sd-bus says only "File exists" or "Permission denied". */
static const char *request_name_hint(int r) {
        switch (r) {
        case -EEXIST:
        case -EALREADY:
                return ": another process owns it (a second tlsd?)";
        case -EACCES:
        case -EPERM:
                return ": the bus policy does not allow it (is dbus/org.tlsd1.conf installed?)";
        default:
                return "";
        }
}

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
        } else if (bus_is_system(c))
                r = sd_bus_open_system(&bus);
        else
                r = sd_bus_open_user(&bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int bus_new(Core *core, Bus **ret) {
        const Config *config = core->config;
        char kind[512];
        Bus *b;
        int r;

        if (config->dbus_mode == CONFIG_DBUS_NONE)
                return 0;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->core = core;
        r = open_bus(config, &b->bus);
        if (r < 0) {
                free(b);
                if (config->dbus_mode == CONFIG_DBUS_AUTO && !config->dbus_address) {
                        log_notice_errno(r,
                                         "No D-Bus (%s: %m): serving on the Unix socket "
                                         "only",
                                         bus_kind(config, kind, sizeof(kind)));
                        return 0;
                }
                return log_error_errno(r, "Cannot connect to %s: %m",
                                       bus_kind(config, kind, sizeof(kind)));
        }
        r = sd_bus_add_object_vtable(b->bus, &b->manager_slot, "/org/tlsd1", "org.tlsd1.Manager",
                                     manager_vtable, b);
        if (r >= 0)
                r = sd_bus_add_object_manager(b->bus, NULL, "/org/tlsd1");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(object_types); i++)
                r = bus_object_register(b, object_types[i], &b->objects[i]);
        if (r < 0) {
                bus_free(b);
                return log_error_errno(r, "Cannot register D-Bus objects: %m");
        }
        r = sd_bus_request_name(b->bus, "org.tlsd1", 0);
        if (r < 0) {
                bool optional = config->dbus_mode == CONFIG_DBUS_AUTO && !config->dbus_address;

                bus_free(b);
                if (optional) {
                        /* e.g. another tlsd owns it, or the bus policy says no */
                        log_notice_errno(r,
                                         "Cannot own org.tlsd1 on %s (%m%s): serving on "
                                         "the Unix socket only",
                                         bus_kind(config, kind, sizeof(kind)),
                                         request_name_hint(r));
                        return 0;
                }
                return log_error_errno(r, "Cannot own org.tlsd1 on %s: %m%s",
                                       bus_kind(config, kind, sizeof(kind)), request_name_hint(r));
        }
        r = sd_bus_attach_event(b->bus, core->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                bus_free(b);
                return log_error_errno(r, "Cannot attach D-Bus to the event loop: %m");
        }
        log_info("serving org.tlsd1 on D-Bus, %s", bus_kind(config, kind, sizeof(kind)));
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
        free(b->caller_name);
        sd_bus_slot_unref(b->manager_slot);
        sd_bus_flush_close_unref(b->bus);
        free(b);
        return NULL;
}
