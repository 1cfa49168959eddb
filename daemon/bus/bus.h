/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus control plane: org.tlsd1 on the system bus (the session bus when unprivileged, or an
 * address from the configuration). A thin adapter over the same core API as the Unix socket:
 * callers are attributed by their sender credentials, each unique name is one Peer whose objects
 * die with it, events become signals sent to the owner only.
 *
 * Objects: /org/tlsd1 (org.tlsd1.Manager), /org/tlsd1/session/N, /org/tlsd1/connection/N,
 * /org/tlsd1/listener/N. Files: bus.c (connection, peers, errors, Manager, the table of object
 * types), bus-object.c (what the object types share), session-bus.c, connection-bus.c,
 * listener-bus.c.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "core/peer.h"

typedef struct Bus Bus;
typedef struct BusStream BusStream;
typedef struct BusObjectType BusObjectType;

int bus_new(Core *core, Bus **ret);
Bus *bus_free(Bus *b);

/* ---- shared by the object files ---- */

/* The Peer for the sender of m (created and tracked on first use), or NULL with error set. */
Peer *bus_peer(Bus *b, sd_bus_message *m, sd_bus_error *error);
/* The owner of uid's persistent objects (CreateSession with Persistent=true, root only). */
Peer *bus_persistent_peer(Bus *b, uid_t uid, sd_bus_error *error);
/* negative errno + core message -> org.tlsd1.Error.<Name> */
int bus_error(sd_bus_error *error, int r, const char *message);
int bus_not_found(sd_bus_error *error, const char *what);
/* An argument of size bytes against its limit (the Unix socket's, proto.h): 0, or -EINVAL
 * with org.tlsd1.Error.InvalidArgument naming the limit. */
int bus_check_size(sd_bus_error *error, const char *what, size_t size, size_t max);
/* Who the core's lookups check access for in property getters and node enumerators, which get
 * no message: the Peer of the method call being dispatched; for a sender that has no Peer (yet:
 * Introspect, Properties, ObjectManager) one with its uid, filled into *buffer; tlsd itself
 * (root's view) when it is not answering a call. NULL: nobody may see anything. */
const Peer *bus_caller(Bus *b, Peer *buffer);

sd_bus *bus_sd(Bus *b);

/* A connection's plaintext fd held by the adapter (HandshakeDone/Accepted) until the owner takes
 * it with OpenStream or uses it through Send/Receive. */
BusStream *bus_stream_find(Bus *b, uint64_t connection);
int bus_stream_take_fd(BusStream *s);
int bus_stream_fd(BusStream *s);
void bus_stream_drop(Bus *b, uint64_t connection);

Core *bus_core(Bus *b);
/* The unique name of a D-Bus peer. */
const char *bus_peer_name(Peer *p);
int bus_send_signal(Bus *b, const char *destination, const char *path, const char *interface,
                    const char *member, const char *types, ...);
int bus_send_properties_invalidated(Bus *b, const char *destination, const char *path,
                                    const char *interface, const char *const *properties);
int bus_send_signal_chain(Bus *b, const char *destination, const char *path,
                          const char *verification, const char *chain, size_t size);
int bus_stream_add(Bus *b, Peer *owner, uint64_t connection, int fd);
void bus_stream_rearm(BusStream *s);

/* The object types bus.c registers (bus-object.h), each defined beside its object. */
extern const BusObjectType session_bus_object;
extern const BusObjectType connection_bus_object;
extern const BusObjectType listener_bus_object;

/* Manager.CreateSession, built beside the Session object. */
int session_bus_create(Bus *b, sd_bus_message *m, sd_bus_error *error);

/* Emitted by bus.c's event sink; implemented beside their objects. */
void connection_bus_emit(Bus *b, Peer *p, const CoreEvent *e);
