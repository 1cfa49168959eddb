/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Unix-socket control plane: the listening SOCK_SEQPACKET socket tlsd.sock and the list of
 * connected clients. One of the two thin adapters over the core API (the other is D-Bus).
 */
#pragma once

#include <stdint.h>

typedef struct Manager Manager;
typedef struct UnixClient UnixClient;
typedef struct UnixServer UnixServer;

int unix_server_new(Manager *m, UnixServer **ret);
UnixServer *unix_server_free(UnixServer *s);
static inline void unix_server_freep(UnixServer **s) {
        unix_server_free(*s);
}
const char *unix_server_path(const UnixServer *s);

/* Shared receive buffer of TLSD_MSG_MAX + 1 bytes: all clients are served on one thread. */
uint8_t *unix_server_buffer(UnixServer *s);
Manager *unix_server_manager(UnixServer *s);
void unix_server_link_client(UnixServer *s, UnixClient *c);
void unix_server_unlink_client(UnixServer *s, UnixClient *c);
/* Clients connected now (each holds a descriptor). Takes NULL. */
unsigned unix_server_n_clients(const UnixServer *s);
