/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What connection.c (TLS over TCP, and everything both transports share) and connection-dtls.c
 * (DTLS over UDP) share. Not for other parts of the daemon: they use connection.h.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "core/core.h"
#include "time-util.h"

void connection_emit(Connection *c, const CoreEvent *e);
/* Before HandshakeDone: reports the failure (or, for accepted ones, counts it) and closes. */
void connection_fail_handshake(Connection *c, int error, const char *message, int alert,
                               int verify);
/* After HandshakeDone: Disconnected with the reason, and closes. */
void connection_finish(Connection *c, int reason, int alert);
void connection_drive_handshake(Connection *c);
void connection_handshake_complete(Connection *c);
int connection_arm_handshake_timer(Connection *c);
void connection_format_peer(Connection *c, const struct sockaddr *sa);
/* Moves data until neither direction can progress; < 0 when the connection ended. */
int connection_pump(Connection *c);
/* Client: files the engine's resumable session in the core's ticket cache. */
void connection_save_ticket(Connection *c);

/* connection-dtls.c */
int connection_dtls_pump(Connection *c);
void connection_dtls_timer_update(Connection *c);
void connection_dtls_operating(Connection *c);
void connection_dtls_close(Connection *c);
void connection_dtls_note_input(Connection *c);

static inline int buffer_keep(Buffer *b, const uint8_t *data, size_t size) {
        if (size > b->allocated) {
                uint8_t *d = realloc(b->data, size);

                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = size;
        }
        memcpy(b->data, data, size);
        b->start = 0;
        b->end = size;
        return 0;
}

static inline bool buffer_empty(const Buffer *b) {
        return b->start == b->end;
}
