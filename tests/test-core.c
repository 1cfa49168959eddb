/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The core objects in-process, without a daemon: a Core on a private sd-event loop, Peers whose
 * adapter is a fake PeerOps that records every event and release, and the core API the adapters
 * use (core-query.h, session.h, connection.h, listener.h). Life cycles of sessions, connections
 * and listeners; ownership of lookups; what peer_free() and session_free() tear down and whom
 * they tell; the per-uid and per-client limits at their edge and after a slot frees; a real
 * TLS and DTLS handshake over loopback between two Peers of the same Core; and Configure errors
 * that must leave a session usable. Sockets are real (127.0.0.1, ports picked by the kernel),
 * certificates come from the test PKI ($TLSD_TEST_PKI).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/connection.h"
#include "core/core-query.h"
#include "core/core.h"
#include "core/listener.h"
#include "core/peer.h"
#include "core/session.h"
#include "engine/engine.h"
#include "time-util.h"
#include "util/config.h"
#include "util/error-message.h"
#include "util/log.h"

/* How long the loop may run for one expected outcome before the test gives up: a guard against
 * hanging (valgrind is slow), not a measurement. */
#define LOOP_DEADLINE_USEC (30 * USEC_PER_SEC)

#define UID_A 1000 /* an unprivileged user */
#define UID_B 1001 /* another one */
#define UID_SERVER 2000

/* ---- the fake adapter ---- */

typedef struct Recorded {
        CoreEventType type;
        uint64_t connection;
        uint64_t listener;
        int fd; /* HANDSHAKE_DONE, ACCEPTED: the adapter's copy of the app's end; else -1 */
        int error;
        int reason;
        char peer_address[64];
} Recorded;

#define MAX_RECORDED 64

typedef struct FakeAdapter {
        Peer *peer;
        bool gone;           /* it called peer_free(): from then on nothing may reach it */
        unsigned late_calls; /* callbacks that came anyway */
        Recorded events[MAX_RECORDED];
        unsigned n_events;
        uint64_t released[MAX_RECORDED];
        unsigned n_released;
} FakeAdapter;

/* Events other than type the adapter recorded. */
static unsigned count_events_except(const FakeAdapter *a, CoreEventType type) {
        unsigned n = 0;

        for (unsigned i = 0; i < a->n_events; i++)
                n += a->events[i].type != type;
        return n;
}

static void fake_emit(Peer *p, const CoreEvent *e, void *userdata) {
        FakeAdapter *a = userdata;
        Recorded *r;

        if (a->gone) {
                a->late_calls++;
                return;
        }
        ck_assert_ptr_eq(p, a->peer);
        ck_assert_uint_lt(a->n_events, MAX_RECORDED);
        r = &a->events[a->n_events++];
        *r = (Recorded){
                .type = e->type,
                .connection = e->connection,
                .listener = e->listener,
                .fd = -1,
                .error = e->error,
                .reason = e->reason,
        };
        if (e->type == CORE_EVENT_HANDSHAKE_DONE || e->type == CORE_EVENT_ACCEPTED) {
                /* The core closes its descriptor after the call, as a real adapter's send
                 * copies it. */
                r->fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 3);
                ck_assert_int_ge(r->fd, 0);
        }
        if (e->peer_address)
                snprintf(r->peer_address, sizeof(r->peer_address), "%s", e->peer_address);
}

static void fake_released(Peer *p, uint64_t connection, void *userdata) {
        FakeAdapter *a = userdata;

        if (a->gone) {
                a->late_calls++;
                return;
        }
        ck_assert_ptr_eq(p, a->peer);
        for (unsigned i = 0; i < a->n_released; i++)
                ck_assert_msg(a->released[i] != connection, "connection %llu released twice",
                              (unsigned long long) connection);
        ck_assert_uint_lt(a->n_released, MAX_RECORDED);
        a->released[a->n_released++] = connection;
}

static const PeerOps fake_ops = {
        .emit = fake_emit,
        .released = fake_released,
};

/* A root client that owns nothing: it looks at what exists (and must never hear a thing). */
static FakeAdapter observer;

/* ---- fixture: one Core on a private loop, the PKI in memory ---- */

static sd_event *event;
static Config *config;
static Core *core;

typedef struct Blob {
        char *data;
        size_t size;
} Blob;

static Blob server_cert, server_key, ca_cert;

static Blob slurp(const char *file) {
        const char *dir = getenv("TLSD_TEST_PKI");
        char path[512];
        Blob b = {};
        FILE *f;

        ck_assert_msg(dir, "TLSD_TEST_PKI is not set");
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        b.data = malloc(1 << 16);
        ck_assert_ptr_nonnull(b.data);
        b.size = fread(b.data, 1, (1 << 16) - 1, f);
        b.data[b.size] = 0;
        fclose(f);
        ck_assert_uint_gt(b.size, 0);
        return b;
}

static void setup(void) {
        log_set_max_level(getenv("TLSD_TEST_DEBUG") ? LOG_DEBUG : LOG_WARNING);
        ck_assert_int_eq(engine_global_init(), 0);
        ck_assert_int_ge(sd_event_new(&event), 0);
        ck_assert_int_eq(config_new(&config), 0);
        ck_assert_int_eq(core_new(event, config, &core), 0);
        observer = (FakeAdapter){};
        ck_assert_int_eq(peer_new(core, PEER_TRANSPORT_UNIX, 0, 0, getpid(), &fake_ops, &observer,
                                  &observer.peer),
                         0);
        server_cert = slurp("server-ecdsa.pem");
        server_key = slurp("server-ecdsa.key");
        ca_cert = slurp("ca.pem");
}

static void teardown(void) {
        ck_assert_uint_eq(observer.n_events + observer.n_released, 0);
        observer.gone = true;
        observer.peer = peer_free(observer.peer);
        ck_assert_uint_eq(observer.late_calls, 0);
        core = core_free(core);
        config = config_free(config);
        event = sd_event_unref(event);
        engine_global_done();
        free(server_cert.data);
        free(server_key.data);
        free(ca_cert.data);
}

static void adapter_new(FakeAdapter *a, uid_t uid) {
        *a = (FakeAdapter){};
        ck_assert_int_eq(
                peer_new(core, PEER_TRANSPORT_UNIX, uid, uid, getpid(), &fake_ops, a, &a->peer), 0);
}

/* The adapter lets go of its client, as unix-client.c and bus.c do. */
static void adapter_free(FakeAdapter *a) {
        if (a->peer) {
                a->gone = true;
                a->peer = peer_free(a->peer);
        }
        for (unsigned i = 0; i < a->n_events; i++)
                if (a->events[i].fd >= 0)
                        close(a->events[i].fd);
        a->n_events = 0;
}

static const Recorded *find_event(const FakeAdapter *a, CoreEventType type, uint64_t connection) {
        for (unsigned i = 0; i < a->n_events; i++)
                if (a->events[i].type == type &&
                    (connection == 0 || a->events[i].connection == connection))
                        return &a->events[i];
        return NULL;
}

static bool was_released(const FakeAdapter *a, uint64_t connection) {
        for (unsigned i = 0; i < a->n_released; i++)
                if (a->released[i] == connection)
                        return true;
        return false;
}

/* Runs the loop until cond holds (or fails the test after the deadline). */
#define RUN_UNTIL(cond)                                                                            \
        do {                                                                                       \
                usec_t _deadline = now_usec(CLOCK_MONOTONIC) + LOOP_DEADLINE_USEC;                 \
                while (!(cond)) {                                                                  \
                        ck_assert_msg(now_usec(CLOCK_MONOTONIC) < _deadline,                       \
                                      "the loop ran %u s without: %s",                             \
                                      (unsigned) (LOOP_DEADLINE_USEC / USEC_PER_SEC), #cond);      \
                        ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);             \
                }                                                                                  \
        } while (0)

/* What exists, as root sees it through the adapters' enumeration. */
typedef struct Counts {
        unsigned sessions, connections, listeners;
} Counts;

static int count_id(uint64_t id, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

static unsigned count_ids(const Peer *caller, CoreObjectKind kind) {
        unsigned n = 0;

        ck_assert_int_eq(core_foreach_id(core, caller, kind, count_id, &n), 0);
        return n;
}

static Counts stats(void) {
        return (Counts){
                .sessions = count_ids(observer.peer, CORE_OBJECT_SESSION),
                .connections = count_ids(observer.peer, CORE_OBJECT_CONNECTION),
                .listeners = count_ids(observer.peer, CORE_OBJECT_LISTENER),
        };
}

static unsigned uid_connections(uid_t uid) {
        UidCount *u = core_uid_counts(core, uid);

        return u ? u->n_connections : 0;
}

static unsigned uid_pending(uid_t uid) {
        UidCount *u = core_uid_counts(core, uid);

        return u ? u->n_pending : 0;
}

static Session *server_session(FakeAdapter *a, bool dtls) {
        char error[ERROR_MESSAGE_MAX] = "";
        SessionOptions o = {
                .cert = server_cert.data,
                .cert_size = server_cert.size,
                .key = server_key.data,
                .key_size = server_key.size,
                .has_transport = true,
                .transport = dtls ? TLSC_TRANSPORT_DTLS : TLSC_TRANSPORT_TLS,
        };
        Session *s = NULL;

        ck_assert_msg(session_new(a->peer, ENGINE_SERVER, &o, error, &s) == 0, "server session: %s",
                      error);
        return s;
}

static Session *client_session(FakeAdapter *a, bool dtls) {
        char error[ERROR_MESSAGE_MAX] = "";
        SessionOptions o = {
                .ca = ca_cert.data,
                .ca_size = ca_cert.size,
                .has_transport = true,
                .transport = dtls ? TLSC_TRANSPORT_DTLS : TLSC_TRANSPORT_TLS,
        };
        Session *s = NULL;

        ck_assert_msg(session_new(a->peer, ENGINE_CLIENT, &o, error, &s) == 0, "client session: %s",
                      error);
        return s;
}

static Listener *listen_loopback(Session *s, const ListenerOptions *extra) {
        char error[ERROR_MESSAGE_MAX] = "";
        ListenerOptions o = extra ? *extra : (ListenerOptions){};
        Listener *l = NULL;

        o.address = "127.0.0.1";
        o.port = 0;
        ck_assert_msg(listener_new(s, &o, error, &l) == 0, "listener: %s", error);
        ck_assert_uint_gt(l->port, 0);
        return l;
}

static Connection *connect_to(Session *s, unsigned port) {
        char error[ERROR_MESSAGE_MAX] = "";
        Connection *c = NULL;

        ck_assert_msg(connection_new(s, AF_INET, error, &c) == 0, "connection: %s", error);
        ck_assert_msg(connection_connect(c, "127.0.0.1", port, NULL, 0, error) == 0, "connect: %s",
                      error);
        return c;
}

/* A TCP port on 127.0.0.1 that completes the TCP handshake (the kernel's backlog) and then
 * says nothing: a TLS handshake to it stays pending. */
static int silent_server(unsigned *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 64), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

/* A plain TCP client of port that sends nothing. */
static int raw_connect(unsigned port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* Whether nothing listens on port any more. */
static bool port_refuses(unsigned port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool refused;

        ck_assert_int_ge(fd, 0);
        refused = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno == ECONNREFUSED;
        close(fd);
        return refused;
}

/* Whether the other end closed fd (EOF or reset); false while it is merely quiet. */
static bool closed_by_peer(int fd) {
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static bool readable_bytes(int fd, char *buf, size_t size, size_t *have) {
        ssize_t n = recv(fd, buf + *have, size - *have, MSG_DONTWAIT);

        if (n > 0)
                *have += (size_t) n;
        return *have == size;
}

/* ---- sessions ---- */

START_TEST(test_session_life_cycle) {
        char error[ERROR_MESSAGE_MAX] = "";
        SessionOptions none = {}, bad_transport = { .has_transport = true, .transport = 2 };
        FakeAdapter a;
        Session *s = NULL;
        uint64_t id;

        adapter_new(&a, UID_A);

        ck_assert_int_eq(session_new(a.peer, 7, &none, error, &s), -EINVAL);
        ck_assert_msg(strstr(error, "role"), "message: %s", error);
        error[0] = 0;
        ck_assert_int_eq(session_new(a.peer, ENGINE_CLIENT, &bad_transport, error, &s), -EINVAL);
        ck_assert_msg(strstr(error, "transport"), "message: %s", error);
        ck_assert_uint_eq(stats().sessions, 0);

        ck_assert_int_eq(session_new(a.peer, ENGINE_CLIENT, &none, error, &s), 0);
        id = s->id;
        ck_assert_ptr_eq(core_find_session(core, a.peer, id), s);
        ck_assert_uint_eq(stats().sessions, 1);

        session_free(s);
        ck_assert_ptr_null(core_find_session(core, a.peer, id));
        ck_assert_uint_eq(stats().sessions, 0);

        adapter_free(&a);
        ck_assert_uint_eq(a.late_calls, 0);
}
END_TEST

/* ---- connections and listeners, without the network ---- */

START_TEST(test_connection_life_cycle) {
        char error[ERROR_MESSAGE_MAX] = "";
        FakeAdapter a;
        Session *s;
        Connection *c = NULL;
        const Recorded *e;
        unsigned port;
        int silent = silent_server(&port);
        uint64_t id;

        adapter_new(&a, UID_A);
        s = client_session(&a, false);

        ck_assert_int_eq(connection_new(s, AF_UNIX, error, &c), -EAFNOSUPPORT);
        ck_assert_uint_eq(stats().connections, 0);

        ck_assert_int_eq(connection_new(s, AF_INET, error, &c), 0);
        id = c->id;
        ck_assert_ptr_eq(core_find_connection(core, a.peer, id), c);
        ck_assert_uint_eq(uid_connections(UID_A), 1);

        /* Connect's arguments are checked before anything starts. */
        ck_assert_int_eq(connection_connect(c, "", port, NULL, 0, error), -EINVAL);
        ck_assert_int_eq(connection_connect(c, "127.0.0.1", 0, NULL, 0, error), -EINVAL);
        ck_assert_int_eq(connection_connect(c, "127.0.0.1", 65536, NULL, 0, error), -EINVAL);
        ck_assert_uint_eq(uid_pending(UID_A), 0);

        ck_assert_int_eq(connection_connect(c, "127.0.0.1", port, NULL, 0, error), 0);
        ck_assert_uint_eq(uid_pending(UID_A), 1);
        /* Once only; bind only before. */
        ck_assert_int_eq(connection_connect(c, "127.0.0.1", port, NULL, 0, error), -EBUSY);
        ck_assert_int_eq(connection_bind(c, "127.0.0.1", 0, error), -EBUSY);
        ck_assert_int_eq(connection_certificate_response(c, true, error), -EBUSY);
        RUN_UNTIL(c->state == CONNECTION_HANDSHAKE);
        ck_assert_uint_eq(a.n_events, 0);

        /* Disconnect during the handshake: the app hears that it failed, cancelled. */
        ck_assert_int_eq(connection_disconnect(c), 0);
        e = find_event(&a, CORE_EVENT_HANDSHAKE_FAILED, id);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->error, -ECANCELED);
        ck_assert_uint_eq(uid_pending(UID_A), 0);
        /* It stays until destroyed: the app may still ask about it. */
        ck_assert_ptr_eq(core_find_connection(core, a.peer, id), c);
        ck_assert_uint_eq(a.n_released, 0);

        connection_free(c);
        ck_assert_uint_eq(a.n_released, 1);
        ck_assert(was_released(&a, id));
        ck_assert_ptr_null(core_find_connection(core, a.peer, id));
        ck_assert_uint_eq(uid_connections(UID_A), 0);
        ck_assert_uint_eq(a.n_events, 1); /* destroying a closed connection says nothing more */

        adapter_free(&a);
        ck_assert_uint_eq(a.late_calls, 0);
        close(silent);
}
END_TEST

START_TEST(test_listener_life_cycle) {
        char error[ERROR_MESSAGE_MAX] = "";
        ListenerOptions privileged = { .address = "127.0.0.1", .port = 1 };
        ListenerOptions bad_port = { .address = "127.0.0.1", .port = 65536 };
        ListenerOptions bad_address = { .address = "localhost" };
        FakeAdapter a;
        Session *client, *bare, *server;
        Listener *l = NULL;
        SessionOptions none = {};
        uint64_t id;
        unsigned port;
        int fd;

        adapter_new(&a, UID_A);
        client = client_session(&a, false);
        ck_assert_int_eq(session_new(a.peer, ENGINE_SERVER, &none, error, &bare), 0);
        server = server_session(&a, false);

        ck_assert_int_eq(listener_new(client, &(ListenerOptions){}, error, &l), -EINVAL);
        ck_assert_int_eq(listener_new(bare, &(ListenerOptions){}, error, &l), -ENOKEY);
        /* The Peer's uid counts, not the daemon's: uid 1000 is not in PrivilegedPortUsers=. */
        ck_assert_int_eq(listener_new(server, &privileged, error, &l), -EPERM);
        ck_assert_msg(strstr(error, "PrivilegedPortUsers"), "message: %s", error);
        ck_assert_int_eq(listener_new(server, &bad_port, error, &l), -EINVAL);
        ck_assert_int_eq(listener_new(server, &bad_address, error, &l), -EINVAL);
        ck_assert_uint_eq(stats().listeners, 0);

        l = listen_loopback(server, NULL);
        id = l->id;
        port = l->port;
        ck_assert_ptr_eq(core_find_listener(core, a.peer, id), l);
        ck_assert_uint_eq(stats().listeners, 1);
        fd = raw_connect(port);
        close(fd);

        listener_free(l);
        ck_assert_ptr_null(core_find_listener(core, a.peer, id));
        ck_assert_uint_eq(stats().listeners, 0);
        ck_assert(port_refuses(port)); /* the socket is closed with it */
        adapter_free(&a);
        ck_assert_uint_eq(a.late_calls, 0);
}
END_TEST

/* ---- ownership: lookups and enumeration answer only for the caller's own uid, or root ---- */

static const struct {
        const char *name;
        uid_t uid;
        bool owner_itself; /* the owning Peer, not another one of the same uid */
        bool sees_owner;   /* the objects of UID_A's client */
        bool sees_root;    /* a root client's session */
} ownership_rows[] = {
        { "the owner", UID_A, true, true, false },
        { "another client of the owner's uid", UID_A, false, true, false },
        { "another uid", UID_B, false, false, false },
        { "root", 0, false, true, true },
};

START_TEST(test_ownership) {
        char error[ERROR_MESSAGE_MAX] = "";
        FakeAdapter owner, root, other, *caller;
        Session *client, *server, *root_session;
        Connection *c = NULL;
        Listener *l;
        bool sees = ownership_rows[_i].sees_owner, sees_root = ownership_rows[_i].sees_root;

        adapter_new(&owner, UID_A);
        adapter_new(&root, 0);
        client = client_session(&owner, false);
        server = server_session(&owner, false);
        ck_assert_int_eq(connection_new(client, AF_INET, error, &c), 0);
        l = listen_loopback(server, NULL);
        root_session = client_session(&root, false);

        if (ownership_rows[_i].owner_itself)
                caller = &owner;
        else if (ownership_rows[_i].uid == 0)
                caller = &root;
        else {
                adapter_new(&other, ownership_rows[_i].uid);
                caller = &other;
        }

        ck_assert_msg((core_find_session(core, caller->peer, client->id) == client) == sees,
                      "%s: session", ownership_rows[_i].name);
        ck_assert_msg((core_find_session(core, caller->peer, server->id) == server) == sees,
                      "%s: session", ownership_rows[_i].name);
        ck_assert_msg((core_find_connection(core, caller->peer, c->id) == c) == sees,
                      "%s: connection", ownership_rows[_i].name);
        ck_assert_msg((core_find_listener(core, caller->peer, l->id) == l) == sees, "%s: listener",
                      ownership_rows[_i].name);
        ck_assert_msg((core_find_session(core, caller->peer, root_session->id) == root_session) ==
                              sees_root,
                      "%s: root's session", ownership_rows[_i].name);
        /* Not visible looks like not there, and an id of one kind finds nothing of another. */
        ck_assert_ptr_null(core_find_session(core, caller->peer, c->id));
        ck_assert_ptr_null(core_find_connection(core, caller->peer, l->id));
        ck_assert_ptr_null(core_find_listener(core, caller->peer, client->id));
        ck_assert_ptr_null(core_find_session(core, caller->peer, UINT64_MAX));

        ck_assert_uint_eq(count_ids(caller->peer, CORE_OBJECT_SESSION),
                          (sees ? 2 : 0) + (sees_root ? 1 : 0));
        ck_assert_uint_eq(count_ids(caller->peer, CORE_OBJECT_CONNECTION), sees ? 1 : 0);
        ck_assert_uint_eq(count_ids(caller->peer, CORE_OBJECT_LISTENER), sees ? 1 : 0);

        if (caller == &other)
                adapter_free(&other);
        adapter_free(&owner);
        adapter_free(&root);
        ck_assert_uint_eq(stats().sessions + stats().connections + stats().listeners, 0);
}
END_TEST

/* ---- teardown: session_free() reports each connection released; peer_free() is silent ---- */

START_TEST(test_session_free_releases) {
        char error[ERROR_MESSAGE_MAX] = "";
        FakeAdapter a;
        Session *client, *server, *kept;
        Connection *c[3] = {};
        Listener *l;
        uint64_t ids[3], kept_id;
        unsigned port;
        int silent = silent_server(&port);

        adapter_new(&a, UID_A);
        client = client_session(&a, false);
        server = server_session(&a, false);
        kept = client_session(&a, false);
        ck_assert_int_eq(connection_new(client, AF_INET, error, &c[0]), 0); /* closed */
        c[1] = connect_to(client, port);                                    /* connecting */
        c[2] = connect_to(client, port);
        RUN_UNTIL(c[2]->state == CONNECTION_HANDSHAKE); /* handshaking */
        for (unsigned i = 0; i < 3; i++)
                ids[i] = c[i]->id;
        l = listen_loopback(server, NULL);
        ck_assert_int_eq(connection_new(kept, AF_INET, error, &c[0]), 0);
        kept_id = c[0]->id;
        ck_assert_uint_eq(uid_connections(UID_A), 4);
        ck_assert_uint_eq(uid_pending(UID_A), 2);

        session_free(client);
        ck_assert_uint_eq(a.n_released, 3);
        for (unsigned i = 0; i < 3; i++) {
                ck_assert(was_released(&a, ids[i]));
                ck_assert_ptr_null(core_find_connection(core, a.peer, ids[i]));
        }
        ck_assert_uint_eq(a.n_events, 0); /* no handshake had come to anything */
        ck_assert_uint_eq(uid_connections(UID_A), 1);
        ck_assert_uint_eq(uid_pending(UID_A), 0);
        ck_assert_ptr_nonnull(core_find_connection(core, a.peer, kept_id));

        ck_assert(!port_refuses(l->port));
        port = l->port;
        session_free(server);
        ck_assert_uint_eq(stats().listeners, 0);
        ck_assert(port_refuses(port));
        ck_assert_uint_eq(stats().sessions, 1);

        adapter_free(&a);
        ck_assert_uint_eq(a.late_calls, 0);
        ck_assert_uint_eq(stats().connections, 0);
        close(silent);
}
END_TEST

/* The client's adapter goes away while it holds an operating connection, a pending one and a
 * listener: everything goes, nothing reaches the adapter any more, the app's data descriptor
 * reads end-of-file, and the server end sees the connection end without close_notify (as
 * libtlsclient(3) says of tlsc_close()). */
START_TEST(test_peer_free_is_silent) {
        FakeAdapter srv, cli;
        Session *server, *client, *client_server;
        Listener *l;
        Connection *up, *pending;
        const Recorded *accepted, *e;
        unsigned silent_port;
        int silent = silent_server(&silent_port), app;
        uint64_t up_id, pending_id, listener_id;
        char eof;

        adapter_new(&srv, UID_SERVER);
        adapter_new(&cli, UID_A);
        server = server_session(&srv, false);
        l = listen_loopback(server, NULL);
        client = client_session(&cli, false);
        up = connect_to(client, l->port);
        pending = connect_to(client, silent_port);
        client_server = server_session(&cli, false);
        listener_id = listen_loopback(client_server, NULL)->id;
        up_id = up->id;
        pending_id = pending->id;
        RUN_UNTIL(find_event(&cli, CORE_EVENT_HANDSHAKE_DONE, up_id) &&
                  find_event(&srv, CORE_EVENT_ACCEPTED, 0));
        accepted = find_event(&srv, CORE_EVENT_ACCEPTED, 0);
        /* The app keeps its data descriptor (the fake adapter closes its own copies). */
        app = fcntl(find_event(&cli, CORE_EVENT_HANDSHAKE_DONE, up_id)->fd, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(app, 0);
        ck_assert_uint_eq(uid_connections(UID_A), 2);
        ck_assert_uint_eq(uid_pending(UID_A), 1);
        ck_assert_ptr_eq(core_find_connection(core, observer.peer, pending_id), pending);

        adapter_free(&cli);
        ck_assert_uint_eq(cli.late_calls, 0);
        ck_assert_uint_eq(cli.n_released, 0);
        ck_assert_ptr_null(core_find_connection(core, observer.peer, up_id));
        ck_assert_ptr_null(core_find_connection(core, observer.peer, pending_id));
        ck_assert_ptr_null(core_find_listener(core, observer.peer, listener_id));
        ck_assert_uint_eq(count_ids(observer.peer, CORE_OBJECT_SESSION), 1); /* the server's */
        ck_assert_uint_eq(uid_connections(UID_A) + uid_pending(UID_A), 0);
        ck_assert_int_eq(recv(app, &eof, 1, MSG_DONTWAIT), 0);
        close(app);

        /* The server's accepted connection sees the TCP end without close_notify and, accepted,
         * is released by the core. */
        RUN_UNTIL(find_event(&srv, CORE_EVENT_DISCONNECTED, accepted->connection) &&
                  was_released(&srv, accepted->connection));
        e = find_event(&srv, CORE_EVENT_DISCONNECTED, accepted->connection);
        ck_assert_int_eq(e->reason, TLSC_DISCONNECT_TRUNCATED);
        ck_assert_uint_eq(uid_connections(UID_SERVER), 0);
        ck_assert_uint_eq(cli.late_calls, 0);

        adapter_free(&srv);
        ck_assert_uint_eq(srv.late_calls, 0);
        ck_assert_uint_eq(stats().sessions + stats().connections + stats().listeners, 0);
        close(silent);
}
END_TEST

/* ---- limits: the documented error at the edge, the slot back after a destroy ---- */

typedef struct LimitState {
        FakeAdapter a1, a2; /* two clients of UID_A */
        FakeAdapter other;  /* a client of UID_B */
        Session *s1, *s2, *s_other;
        Session *s1_server, *server2, *server_other; /* server sessions of a1, a2, other */
        void *made[16];
        unsigned n_made;
        Peer *peers[16]; /* made by the client rows */
        unsigned n_peers;
        unsigned silent_port;
} LimitState;

static int make_session(LimitState *t, char *error) {
        Session *s = NULL;
        int r = session_new(t->a1.peer, ENGINE_CLIENT, &(SessionOptions){}, error, &s);

        if (r >= 0)
                t->made[t->n_made++] = s;
        return r;
}

static void drop_session(LimitState *t) {
        session_free(t->made[0]);
        t->made[0] = t->made[--t->n_made];
}

/* The limit is per client: another client of the same uid is not affected. */
static int other_session(LimitState *t, char *error) {
        Session *s = NULL;

        return session_new(t->a2.peer, ENGINE_CLIENT, &(SessionOptions){}, error, &s);
}

/* Alternating between two clients of the uid: the limit is per uid. */
static int make_connection(LimitState *t, char *error) {
        Connection *c = NULL;
        int r = connection_new(t->n_made % 2 ? t->s2 : t->s1, AF_INET, error, &c);

        if (r >= 0)
                t->made[t->n_made++] = c;
        return r;
}

static void drop_connection(LimitState *t) {
        connection_free(t->made[0]);
        t->made[0] = t->made[--t->n_made];
}

static int other_connection(LimitState *t, char *error) {
        Connection *c = NULL;

        return connection_new(t->s_other, AF_INET, error, &c);
}

static int start_pending(Session *s, unsigned port, char *error, Connection **ret) {
        Connection *c = NULL;
        int r = connection_new(s, AF_INET, error, &c);

        if (r < 0)
                return r;
        r = connection_connect(c, "127.0.0.1", port, NULL, 0, error);
        if (r < 0) {
                connection_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static int make_pending(LimitState *t, char *error) {
        Connection *c = NULL;
        int r = start_pending(t->n_made % 2 ? t->s2 : t->s1, t->silent_port, error, &c);

        if (r >= 0)
                t->made[t->n_made++] = c;
        return r;
}

static int other_pending(LimitState *t, char *error) {
        Connection *c = NULL;

        return start_pending(t->s_other, t->silent_port, error, &c);
}

static int make_client(LimitState *t, uid_t uid) {
        Peer *p = NULL;
        int r = peer_new(core, PEER_TRANSPORT_DBUS, uid, uid, getpid(), NULL, NULL, &p);

        if (r >= 0)
                t->made[t->n_made++] = t->peers[t->n_peers++] = p;
        return r;
}

static int make_client_of_uid(LimitState *t, char *error) {
        return make_client(t, UID_A);
}

static int make_client_any_uid(LimitState *t, char *error) {
        return make_client(t, 3000 + t->n_peers);
}

static void drop_client(LimitState *t) {
        Peer *p = t->made[0];

        for (unsigned i = 0; i < t->n_peers; i++)
                if (t->peers[i] == p)
                        t->peers[i] = t->peers[--t->n_peers];
        peer_free(p);
        t->made[0] = t->made[--t->n_made];
}

static int other_client(LimitState *t, char *error) {
        return make_client(t, UID_B);
}

/* Alternating between two clients of the uid: the limit is per uid. */
static int make_listener(LimitState *t, char *error) {
        Listener *l = NULL;
        int r = listener_new(t->n_made % 2 ? t->server2 : t->s1_server,
                             &(ListenerOptions){ .address = "127.0.0.1" }, error, &l);

        if (r >= 0)
                t->made[t->n_made++] = l;
        return r;
}

static void drop_listener(LimitState *t) {
        listener_free(t->made[0]);
        t->made[0] = t->made[--t->n_made];
}

static int other_listener(LimitState *t, char *error) {
        Listener *l = NULL;

        return listener_new(t->server_other, &(ListenerOptions){ .address = "127.0.0.1" }, error,
                            &l);
}

static void set_listeners_per_uid(Config *c, unsigned n) {
        c->max_listeners_per_uid = n;
}
static void set_listeners(Config *c, unsigned n) {
        c->max_listeners = n;
}

static void set_sessions(Config *c, unsigned n) {
        c->max_sessions_per_client = n;
}
static void set_connections(Config *c, unsigned n) {
        c->max_connections_per_uid = n;
}
static void set_pending(Config *c, unsigned n) {
        c->max_pending_handshakes_per_uid = n;
}
static void set_clients_per_uid(Config *c, unsigned n) {
        c->max_clients_per_uid = n;
}
static void set_clients(Config *c, unsigned n) {
        c->max_clients = n;
}

static const struct {
        const char *name;
        void (*set)(Config *c, unsigned n);
        unsigned limit;
        unsigned room; /* what the fixture leaves below the limit */
        int (*make)(LimitState *t, char *error);
        void (*drop)(LimitState *t);
        int (*other)(LimitState *t, char *error); /* not counted against it; NULL: none */
        const char *message;                      /* in the error at the limit */
} limit_rows[] = {
        /* Each of the fixture's clients holds two sessions, a client and a server. */
        { "MaxSessionsPerClient", set_sessions, 5, 3, make_session, drop_session, other_session,
          "MaxSessionsPerClient=5" },
        { "MaxConnectionsPerUser", set_connections, 3, 3, make_connection, drop_connection,
          other_connection, "MaxConnectionsPerUser=3" },
        { "MaxPendingHandshakesPerUser", set_pending, 2, 2, make_pending, drop_connection,
          other_pending, "MaxPendingHandshakesPerUser=2" },
        /* Four clients: two of UID_A, one of UID_B, the root observer. */
        { "MaxClientsPerUser", set_clients_per_uid, 3, 1, make_client_of_uid, drop_client,
          other_client, NULL },
        { "MaxClients", set_clients, 6, 2, make_client_any_uid, drop_client, NULL, NULL },
        { "MaxListenersPerUser", set_listeners_per_uid, 3, 3, make_listener, drop_listener,
          other_listener, "MaxListenersPerUser=3" },
        { "MaxListeners", set_listeners, 3, 3, make_listener, drop_listener, NULL,
          "MaxListeners=3" },
};

START_TEST(test_limits) {
        char error[ERROR_MESSAGE_MAX];
        LimitState t = {};
        int silent = silent_server(&t.silent_port);
        int r;

        adapter_new(&t.a1, UID_A);
        adapter_new(&t.a2, UID_A);
        adapter_new(&t.other, UID_B);
        t.s1 = client_session(&t.a1, false);
        t.s2 = client_session(&t.a2, false);
        t.s_other = client_session(&t.other, false);
        t.s1_server = server_session(&t.a1, false);
        t.server2 = server_session(&t.a2, false);
        t.server_other = server_session(&t.other, false);
        limit_rows[_i].set(config, limit_rows[_i].limit);

        for (unsigned i = 0; i < limit_rows[_i].room; i++) {
                error[0] = 0;
                r = limit_rows[_i].make(&t, error);
                ck_assert_msg(r == 0, "%s: #%u below the limit: %s (%s)", limit_rows[_i].name,
                              i + 1, strerror(-r), error);
        }
        error[0] = 0;
        r = limit_rows[_i].make(&t, error);
        ck_assert_msg(r == -EUSERS, "%s: at the limit: %d (%s), expected -EUSERS",
                      limit_rows[_i].name, r, error);
        if (limit_rows[_i].message)
                ck_assert_msg(strstr(error, limit_rows[_i].message), "%s: message '%s'",
                              limit_rows[_i].name, error);
        r = limit_rows[_i].make(&t, error);
        ck_assert_int_eq(r, -EUSERS); /* a refusal takes no slot, and frees none */
        if (limit_rows[_i].other) {
                r = limit_rows[_i].other(&t, error);
                ck_assert_msg(r == 0, "%s: not counted against it: %s", limit_rows[_i].name, error);
        }

        /* A destroy gives the slot back, exactly one. */
        limit_rows[_i].drop(&t);
        r = limit_rows[_i].make(&t, error);
        ck_assert_msg(r == 0, "%s: after a destroy: %s (%s)", limit_rows[_i].name, strerror(-r),
                      error);
        ck_assert_int_eq(limit_rows[_i].make(&t, error), -EUSERS);

        while (t.n_peers > 0)
                peer_free(t.peers[--t.n_peers]);
        adapter_free(&t.a1);
        adapter_free(&t.a2);
        adapter_free(&t.other);
        ck_assert_uint_eq(t.a1.late_calls + t.a2.late_calls + t.other.late_calls, 0);
        ck_assert_uint_eq(stats().sessions + stats().connections + stats().listeners, 0);
        ck_assert_uint_eq(uid_connections(UID_A) + uid_pending(UID_A), 0);
        close(silent);
}
END_TEST

/* A listener's own limits, on real accepts: all handshake slots busy evicts the longest-silent
 * handshake; all connection slots busy refuses. Either way the server's adapter hears nothing
 * (nothing was announced) and a freed slot takes the next client. */
static const struct {
        const char *name;
        ListenerOptions limits;
        bool newcomer_wins; /* eviction; otherwise refusal */
} listener_rows[] = {
        { "ListenerMaxPending", { .max_pending = 1, .max_connections = 8 }, true },
        { "ListenerMaxConnections", { .max_pending = 8, .max_connections = 1 }, false },
};

START_TEST(test_listener_limits) {
        FakeAdapter srv;
        Listener *l;
        int first, second, loser, winner, third;

        adapter_new(&srv, UID_SERVER);
        l = listen_loopback(server_session(&srv, false), &listener_rows[_i].limits);

        first = raw_connect(l->port);
        RUN_UNTIL(stats().connections == 1); /* accepted, handshake pending */
        second = raw_connect(l->port);
        loser = listener_rows[_i].newcomer_wins ? first : second;
        winner = listener_rows[_i].newcomer_wins ? second : first;
        RUN_UNTIL(closed_by_peer(loser));
        ck_assert_msg(!closed_by_peer(winner), "%s: the wrong client was dropped",
                      listener_rows[_i].name);
        RUN_UNTIL(stats().connections == 1);
        /* A dropped client is no connection of the owner's: at most an AcceptFailed report
         * about the listener (issue 15: failed handshakes on a listener are reported). */
        ck_assert_uint_eq(count_events_except(&srv, CORE_EVENT_ACCEPT_FAILED), 0);

        /* The winner goes away: its slot frees (its failed handshake is released and reported
         * as the listener's, never as a connection of the owner's), and the next client is
         * taken. */
        close(winner);
        RUN_UNTIL(stats().connections == 0);
        ck_assert_uint_eq(count_events_except(&srv, CORE_EVENT_ACCEPT_FAILED), 0);
        for (unsigned i = 0; i < srv.n_events; i++)
                ck_assert_uint_eq(srv.events[i].listener, l->id);
        ck_assert_uint_eq(srv.n_released, (listener_rows[_i].newcomer_wins ? 2 : 1));
        third = raw_connect(l->port);
        RUN_UNTIL(stats().connections == 1);
        ck_assert(!closed_by_peer(third));

        adapter_free(&srv);
        ck_assert_uint_eq(srv.late_calls, 0);
        RUN_UNTIL(closed_by_peer(third));
        close(first == winner ? second : first);
        close(third);
}
END_TEST

/* ---- a real handshake between two Peers of one Core ---- */

static void exchange(int from, int to, const char *text) {
        char buf[64] = "";
        size_t have = 0, n = strlen(text);

        ck_assert_int_eq(send(from, text, n, MSG_NOSIGNAL), (ssize_t) n);
        RUN_UNTIL(readable_bytes(to, buf, n, &have));
        ck_assert_str_eq(buf, text);
}

typedef enum CloseBy {
        CLOSE_BY_DISCONNECT, /* close_notify, then the app destroys the closed connection */
        CLOSE_BY_DESTROY,    /* destroyed while operating: no close_notify (libtlsclient(3)) */
} CloseBy;

static void handshake_and_close(bool dtls, CloseBy close_by, Session *client_override,
                                FakeAdapter *cli_override) {
        FakeAdapter srv, cli_own, *cli = cli_override ? cli_override : &cli_own;
        Session *server, *client;
        Listener *l;
        Connection *c;
        const Recorded *done, *accepted, *e;
        uint64_t cid;
        char eof;

        adapter_new(&srv, UID_SERVER);
        if (!cli_override)
                adapter_new(cli, UID_A);
        server = server_session(&srv, dtls);
        l = listen_loopback(server, NULL);
        client = client_override ? client_override : client_session(cli, dtls);
        c = connect_to(client, l->port);
        cid = c->id;
        ck_assert_uint_eq(uid_pending(UID_A), 1);

        RUN_UNTIL(find_event(cli, CORE_EVENT_HANDSHAKE_DONE, cid) &&
                  find_event(&srv, CORE_EVENT_ACCEPTED, 0));
        done = find_event(cli, CORE_EVENT_HANDSHAKE_DONE, cid);
        accepted = find_event(&srv, CORE_EVENT_ACCEPTED, 0);
        ck_assert_int_ge(done->fd, 0);
        ck_assert_int_ge(accepted->fd, 0);
        ck_assert_uint_eq(accepted->listener, l->id);
        ck_assert_str_eq(accepted->peer_address, "127.0.0.1");
        ck_assert_uint_eq(c->state, CONNECTION_OPERATING);
        ck_assert_uint_eq(uid_pending(UID_A), 0);
        ck_assert_uint_eq(uid_pending(UID_SERVER), 0);
        ck_assert_uint_eq(uid_connections(UID_A), 1);
        ck_assert_uint_eq(uid_connections(UID_SERVER), 1);
        /* The accepted connection is the server's: the client cannot see it. */
        ck_assert_ptr_nonnull(core_find_connection(core, srv.peer, accepted->connection));
        ck_assert_ptr_null(core_find_connection(core, cli->peer, accepted->connection));
        ck_assert_ptr_null(core_find_connection(core, srv.peer, cid));

        exchange(done->fd, accepted->fd, "ping");
        exchange(accepted->fd, done->fd, "pong");

        /* The client ends it and hears so at once; the server's app reads the end, closes,
         * and the core releases the accepted connection. */
        if (close_by == CLOSE_BY_DISCONNECT)
                ck_assert_int_eq(connection_disconnect(c), 0);
        else
                connection_free(c);
        e = find_event(cli, CORE_EVENT_DISCONNECTED, cid);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->reason, TLSC_DISCONNECT_LOCAL);
        ck_assert(was_released(cli, cid) == (close_by == CLOSE_BY_DESTROY));
        RUN_UNTIL(recv(accepted->fd, &eof, 1, MSG_DONTWAIT) == 0);
        close(accepted->fd);
        srv.events[accepted - srv.events].fd = -1;
        RUN_UNTIL(find_event(&srv, CORE_EVENT_DISCONNECTED, accepted->connection) &&
                  was_released(&srv, accepted->connection));
        e = find_event(&srv, CORE_EVENT_DISCONNECTED, accepted->connection);
        ck_assert_int_eq(e->reason, close_by == CLOSE_BY_DISCONNECT ? TLSC_DISCONNECT_CLOSE_NOTIFY
                                                                    : TLSC_DISCONNECT_TRUNCATED);
        ck_assert_ptr_null(core_find_connection(core, srv.peer, accepted->connection));

        if (close_by == CLOSE_BY_DISCONNECT) {
                /* The client's stays, closed, until destroyed; that says nothing more. */
                ck_assert_ptr_eq(core_find_connection(core, cli->peer, cid), c);
                ck_assert_uint_eq(cli->n_released, 0);
                connection_free(c);
                ck_assert(was_released(cli, cid));
        }
        ck_assert_ptr_null(core_find_connection(core, cli->peer, cid));
        ck_assert_uint_eq(cli->n_events, 2); /* HANDSHAKE_DONE, DISCONNECTED */

        ck_assert_uint_eq(stats().connections, 0);
        ck_assert_uint_eq(uid_connections(UID_A) + uid_connections(UID_SERVER), 0);
        ck_assert_uint_eq(uid_pending(UID_A) + uid_pending(UID_SERVER), 0);

        adapter_free(&srv);
        if (!cli_override)
                adapter_free(cli);
        ck_assert_uint_eq(srv.late_calls + cli->late_calls, 0);
}

static const struct {
        bool dtls;
        CloseBy close_by;
} handshake_rows[] = {
        { false, CLOSE_BY_DISCONNECT },
        { true, CLOSE_BY_DISCONNECT },
        { false, CLOSE_BY_DESTROY },
};

START_TEST(test_loopback_handshake) {
        handshake_and_close(handshake_rows[_i].dtls, handshake_rows[_i].close_by, NULL, NULL);
}
END_TEST

/* ---- Configure errors leave the session usable ---- */

static const char long_alpn[] =
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const uint8_t short_pin[16];
static const char not_pem[] =
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";

static const struct {
        const char *name;
        SessionOptions o;
        int error;
} configure_rows[] = {
        { "compression", { .has_compression = true, .compression = 1 }, -EPROTONOSUPPORT },
        { "unknown verify mode", { .has_verify = true, .verify = 99 }, -EINVAL },
        { "pin of the wrong size", { .pin = short_pin, .pin_size = sizeof(short_pin) }, -EINVAL },
        { "pinned without a pin", { .has_verify = true, .verify = TLSC_VERIFY_PINNED }, -EINVAL },
        { "ALPN name too long", { .alpn = long_alpn }, -EINVAL },
        { "too many ALPN names", { .alpn = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q" }, -EINVAL },
        { "handshake timeout too short",
          { .has_handshake_timeout = true, .handshake_timeout_ms = 5 },
          -EINVAL },
        { "another transport",
          { .has_transport = true, .transport = TLSC_TRANSPORT_DTLS },
          -EINVAL },
        { "a DTLS option on TLS", { .has_mtu = true, .mtu = 1200 }, -EINVAL },
        { "idle timeout too short", { .has_idle_timeout = true, .idle_timeout_ms = 5 }, -EINVAL },
        { "TLS 1.1",
          { .has_versions = true, .version_min = 0x0302, .version_max = 0x0304 },
          -EPROTONOSUPPORT },
        { "versions reversed",
          { .has_versions = true, .version_min = 0x0304, .version_max = 0x0303 },
          -EINVAL },
        { "unknown cipher suite", { .ciphers = "NO-SUCH-SUITE" }, -EINVAL },
        { "certificate without key", { .cert = "x", .cert_size = 1 }, -EINVAL },
        { "PSK identity without key", { .psk_identity = "id" }, -EINVAL },
        { "CA that does not parse",
          { .ca = not_pem, .ca_size = sizeof(not_pem) - 1 },
          -EKEYEXPIRED },
};

START_TEST(test_configure_error_keeps_session) {
        char error[ERROR_MESSAGE_MAX] = "";
        FakeAdapter cli;
        Session *client;
        int r;

        adapter_new(&cli, UID_A);
        client = client_session(&cli, false);
        r = session_configure(client, &configure_rows[_i].o, error);
        ck_assert_msg(r == configure_rows[_i].error, "%s: %d (%s), expected %d",
                      configure_rows[_i].name, r, error, configure_rows[_i].error);
        ck_assert_msg(error[0], "%s: no message", configure_rows[_i].name);
        ck_assert_ptr_eq(core_find_session(core, cli.peer, client->id), client);
        /* Still configurable, and it still makes connections that work. */
        error[0] = 0;
        ck_assert_msg(session_configure(client, &(SessionOptions){ .alpn = "x-test" }, error) == 0,
                      "%s: a good Configure afterwards: %s", configure_rows[_i].name, error);
        handshake_and_close(false, CLOSE_BY_DISCONNECT, client, &cli);
        adapter_free(&cli);
        ck_assert_uint_eq(cli.late_calls, 0);
}
END_TEST

/* A Configure is all or nothing: the row's bad option comes with "TLS 1.2 only", the server
 * speaks TLS 1.3 only, so the handshake tells whether the failed Configure applied the version
 * range anyway. */
START_TEST(test_configure_all_or_nothing) {
        char error[ERROR_MESSAGE_MAX] = "";
        SessionOptions o = configure_rows[_i].o;
        SessionOptions tls13 = { .has_versions = true,
                                 .version_min = 0x0304,
                                 .version_max = 0x0304 };
        FakeAdapter srv, cli;
        Session *server, *client;
        Listener *l;
        Connection *c;

        if (o.has_versions)
                return; /* the row is about the versions themselves */
        o.has_versions = true;
        o.version_min = o.version_max = 0x0303;
        adapter_new(&srv, UID_SERVER);
        adapter_new(&cli, UID_A);
        server = server_session(&srv, false);
        ck_assert_int_eq(session_configure(server, &tls13, error), 0);
        l = listen_loopback(server, NULL);
        client = client_session(&cli, false);
        ck_assert_int_eq(session_configure(client, &o, error), configure_rows[_i].error);
        c = connect_to(client, l->port);
        RUN_UNTIL(find_event(&cli, CORE_EVENT_HANDSHAKE_DONE, c->id) ||
                  find_event(&cli, CORE_EVENT_HANDSHAKE_FAILED, c->id));
        ck_assert_msg(find_event(&cli, CORE_EVENT_HANDSHAKE_DONE, c->id),
                      "%s: the failed Configure applied its version range (TLS 1.2 only): the "
                      "handshake with a TLS 1.3 server failed",
                      configure_rows[_i].name);
        adapter_free(&cli);
        RUN_UNTIL(stats().connections == 0);
        adapter_free(&srv);
        ck_assert_uint_eq(srv.late_calls + cli.late_calls, 0);
}
END_TEST

static Suite *core_suite(void) {
        Suite *s = suite_create("core");
        TCase *tc;

        tc = tcase_create("objects");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_session_life_cycle);
        tcase_add_test(tc, test_connection_life_cycle);
        tcase_add_test(tc, test_listener_life_cycle);
        tcase_add_loop_test(tc, test_ownership, 0, (int) ELEMENTSOF(ownership_rows));
        tcase_add_test(tc, test_session_free_releases);
        tcase_add_test(tc, test_peer_free_is_silent);
        tcase_add_loop_test(tc, test_limits, 0, (int) ELEMENTSOF(limit_rows));
        tcase_add_loop_test(tc, test_listener_limits, 0, (int) ELEMENTSOF(listener_rows));
        tcase_add_loop_test(tc, test_loopback_handshake, 0, (int) ELEMENTSOF(handshake_rows));
        tcase_add_loop_test(tc, test_configure_error_keeps_session, 0,
                            (int) ELEMENTSOF(configure_rows));
        tcase_add_loop_test(tc, test_configure_all_or_nothing, 0, (int) ELEMENTSOF(configure_rows));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (!getenv("TLSD_TEST_PKI")) {
                fprintf(stderr, "TLSD_TEST_PKI is not set (make check sets it): no certificates "
                                "to serve and verify with\n");
                return 77;
        }
        sr = srunner_create(core_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
