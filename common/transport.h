/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sending and receiving one protocol packet, with descriptors, on a SOCK_SEQPACKET socket.
 * Shared by the daemon and libtlsclient.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

/* Returns 0, or -EAGAIN when the socket is full, or another negative errno. */
int tlsd_send_packet(int fd, const void *buf, size_t size, const int *fds, unsigned n_fds);

/* Receives one packet into buf (which should be TLSD_MSG_MAX + 1 bytes, so that oversize
 * packets are seen as such). Returns the packet's real size (may exceed bufsize: the rest was
 * discarded; 0 is an empty packet), -ESHUTDOWN on orderly hang-up, -EAGAIN when nothing is pending,
 * or a negative errno. Received descriptors are stored in fds (close-on-exec) and *ret_n_fds;
 * *ret_fds_truncated is set when the kernel had to drop some. */
ssize_t tlsd_recv_packet(int fd, void *buf, size_t bufsize, int fds[TLSD_FDS_MAX],
                         unsigned *ret_n_fds, bool *ret_fds_truncated);

void tlsd_close_fds(int *fds, unsigned n);
