/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One connection on the control socket: receives and validates requests, calls the core as its
 * Peer, and sends replies and events with a bounded outgoing queue.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "core/peer.h"
#include "unix/unix-server.h"

typedef struct OutPacket OutPacket;

struct UnixClient {
        UnixServer *server;
        UnixClient *prev, *next;
        int fd;
        sd_event_source *io;
        Peer *peer;

        OutPacket *out_head, *out_tail;
        size_t out_bytes;
        unsigned n_protocol_errors;
        bool dropping;
        sd_event_source *drop;
};

/* Takes ownership of fd (closed on failure). */
int unix_client_new(UnixServer *s, int fd, UnixClient **ret);
UnixClient *unix_client_free(UnixClient *c);

void unix_client_schedule_drop(UnixClient *c);

/* Queues a finished message (and dups of fds) for the client. When the queue exceeds
 * ClientQueueBytes= the client is disconnected and -ENOBUFS returned. */
int unix_client_send(UnixClient *c, const void *buf, size_t size, const int *fds, unsigned n_fds);
