/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generic part of the D-Bus objects: every session, connection and listener is an object
 * /org/tlsd1/<kind>/<id>, served by one fallback vtable per kind (no registration per object,
 * nothing to undo when one goes) and listed by one node enumerator per kind (introspection,
 * `busctl tree`, the ObjectManager). The objects themselves are never held here: a path is
 * resolved to its object on every call with the core's lookup, which checks the caller, so
 * another uid's object and one that does not exist look alike (NotFound). What differs between
 * kinds is data, a BusObjectType beside each object's methods (session-bus.c, ...); bus.c lists
 * them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus-object.h"
#include "macro.h"

#define BUS_OBJECT_ROOT "/org/tlsd1"

char *bus_object_path(const char *kind, uint64_t id) {
        char *p;

        if (asprintf(&p, BUS_OBJECT_ROOT "/%s/%" PRIu64, kind, id) < 0)
                return NULL;
        return p;
}

/* The id in BUS_OBJECT_ROOT "/<kind>/<id>": decimal digits only, nothing after them. */
static int parse_path(const char *path, const char *kind, uint64_t *ret) {
        const char *root = BUS_OBJECT_ROOT "/";
        size_t n = strlen(root), k = strlen(kind);
        const char *s;
        char *end;
        unsigned long long v;

        if (!path || strncmp(path, root, n) != 0 || strncmp(path + n, kind, k) != 0 ||
            path[n + k] != '/')
                return -EINVAL;
        s = path + n + k + 1;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The object at path if caller may use it. */
static void *find_by_path(Bus *b, const BusObjectType *type, const Peer *caller, const char *path) {
        uint64_t id;

        if (!caller || parse_path(path, type->kind, &id) < 0)
                return NULL;
        return type->find(bus_core(b), caller, id);
}

void *bus_object_find(Bus *b, const BusObjectType *type, const char *path) {
        Peer buffer;

        return find_by_path(b, type, bus_caller(b, &buffer), path);
}

void *bus_object_from_message(Bus *b, const BusObjectType *type, sd_bus_message *m,
                              sd_bus_error *error) {
        Peer *p = bus_peer(b, m, error);
        void *object;

        if (!p)
                return NULL;
        object = find_by_path(b, type, p, sd_bus_message_get_path(m));
        if (!object)
                bus_not_found(error, type->kind);
        return object;
}

/* ---- enumeration ---- */

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

typedef struct PathList {
        const char *kind;
        char **l;
        size_t n;
} PathList;

static int path_list_add(uint64_t id, void *userdata) {
        PathList *pl = userdata;

        return strv_push(&pl->l, &pl->n, bus_object_path(pl->kind, id));
}

/* Object paths of every object of the kind that the caller may see, for introspection, `busctl
 * tree` and the ObjectManager. */
static int enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                     sd_bus_error *error) {
        BusObject *o = userdata;
        PathList pl = { .kind = o->type->kind };
        Peer buffer;
        const Peer *caller = bus_caller(o->bus, &buffer);
        int r = 0;

        /* another uid's objects are not even listed */
        if (caller)
                r = core_foreach_id(bus_core(o->bus), caller, o->type->core_kind, path_list_add,
                                    &pl);
        if (r < 0) {
                for (size_t i = 0; i < pl.n; i++)
                        free(pl.l[i]);
                free(pl.l);
                return r;
        }
        *nodes = pl.l;
        return 0;
}

typedef struct PathReply {
        const char *kind;
        sd_bus_message *reply;
} PathReply;

static int path_reply_add(uint64_t id, void *userdata) {
        PathReply *pr = userdata;
        _cleanup_free_ char *path = bus_object_path(pr->kind, id);

        return path ? sd_bus_message_append(pr->reply, "o", path) : -ENOMEM;
}

int bus_object_append_paths(Bus *b, const BusObjectType *type, const Peer *caller,
                            sd_bus_message *reply) {
        return core_foreach_id(bus_core(b), caller, type->core_kind, path_reply_add,
                               &(PathReply){ .kind = type->kind, .reply = reply });
}

/* ---- registration ---- */

/* Every /org/tlsd1/<kind>/<number> answers, so that a call on one that does not exist, or is
 * another uid's, fails with org.tlsd1.Error.NotFound from the handler (which checks both) rather
 * than with UnknownObject. */
static int find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                sd_bus_error *error) {
        BusObject *o = userdata;
        uint64_t id;

        if (parse_path(path, o->type->kind, &id) < 0)
                return 0;
        *found = o->bus; /* handlers resolve the object themselves, with the caller */
        return 1;
}

int bus_object_register(Bus *b, const BusObjectType *type, BusObject *o) {
        _cleanup_free_ char *prefix = NULL;
        int r;

        *o = (BusObject){ .bus = b, .type = type };
        if (asprintf(&prefix, BUS_OBJECT_ROOT "/%s", type->kind) < 0)
                return -ENOMEM;
        /* sd-bus keeps its own copy of the path */
        r = sd_bus_add_fallback_vtable(bus_sd(b), NULL, prefix, type->interface, type->vtable, find,
                                       o);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(bus_sd(b), NULL, prefix, enumerate, o);
}
