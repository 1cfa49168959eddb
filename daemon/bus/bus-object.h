/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One D-Bus object per live core object, as resolved-link-bus.c does it: a kind of object is
 * described by data (a BusObjectType), and one helper registers it (fallback vtable and node
 * enumerator under /org/tlsd1/<kind>) and resolves an object path to the object through the
 * core's lookups, which check the caller's access.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "bus/bus.h"
#include "core/core-query.h"

/* A kind of object: its objects are /org/tlsd1/<kind>/<id>, its handlers get the Bus as
 * userdata. */
struct BusObjectType {
        const char *kind;            /* "session"; also the "no such session" of NotFound */
        const char *interface;       /* "org.tlsd1.Session" */
        const sd_bus_vtable *vtable; /* methods, properties, signals */
        CoreObjectKind core_kind;    /* what the node enumerator lists (core_foreach_id()) */
        /* The core's lookup by id: the object if caller may use it, else NULL. */
        void *(*find)(Core *core, const Peer *caller, uint64_t id);
};

/* A registered type, kept (embedded) by the Bus for as long as the bus connection lives: the
 * userdata of its find callback and node enumerator. */
typedef struct BusObject {
        Bus *bus;
        const BusObjectType *type;
} BusObject;

/* Registers type on b's connection into o. */
int bus_object_register(Bus *b, const BusObjectType *type, BusObject *o);

/* "/org/tlsd1/<kind>/<id>", or NULL (out of memory). */
char *bus_object_path(const char *kind, uint64_t id);
/* Appends the path of every object of type that caller may see to reply (in an open "ao"). */
int bus_object_append_paths(Bus *b, const BusObjectType *type, const Peer *caller,
                            sd_bus_message *reply);

/* In a property getter (no message to attribute): the object of type at path if the caller
 * being answered may see it (bus_caller()), else NULL. */
void *bus_object_find(Bus *b, const BusObjectType *type, const char *path);
/* In a method handler: the object of type at m's path if m's sender may use it; else NULL with
 * error set (bus_peer()'s when the sender cannot be attributed, NotFound for no such object or
 * another uid's). */
void *bus_object_from_message(Bus *b, const BusObjectType *type, sd_bus_message *m,
                              sd_bus_error *error);
