/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The framing shared by tlsd's ticket state files (the client TicketCache and the server
 * TicketKeys): header, payload, SHA-256 trailer, atomic 0600 writes, strict reads.
 *
 *   offset  size  field (integers little-endian)
 *        0     8  magic, identifies the file kind
 *        8     4  format version
 *       12     4  entry count
 *       16     8  payload size P
 *       24     P  payload: the entries
 *     24+P    32  SHA-256 of bytes 0 .. 24+P
 *
 * The hash detects corruption and truncation; it is not a MAC. What protects the secrets in
 * these files is their mode (0600) and the state directory (0700).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TICKET_FILE_MAGIC_SIZE 8
#define TICKET_FILE_HEADER_SIZE 24
#define TICKET_FILE_TRAILER_SIZE 32

/* Builds a file image. Put errors (out of memory, over the cap) are remembered, reported by
 * ticket_writer_finish(). */
typedef struct TicketWriter {
        uint8_t *data;
        size_t size, allocated, max;
        int error;
} TicketWriter;

void ticket_writer_begin(TicketWriter *w, const char magic[TICKET_FILE_MAGIC_SIZE],
                         uint32_t version, size_t max);
void ticket_writer_put(TicketWriter *w, const void *p, size_t n);
void ticket_writer_put_u16(TicketWriter *w, uint16_t v);
void ticket_writer_put_u32(TicketWriter *w, uint32_t v);
void ticket_writer_put_u64(TicketWriter *w, uint64_t v);
/* Fills in count and payload size, appends the hash, hands out the image. */
int ticket_writer_finish(TicketWriter *w, uint32_t count, void **ret, size_t *ret_size);
/* Wipes and frees (after finish, or to abandon). */
void ticket_writer_done(TicketWriter *w);

/* Reads a payload: every get is bounds-checked; an overrun marks the reader bad and returns
 * zeros, so parsers check `bad` once per entry. */
typedef struct TicketReader {
        const uint8_t *p;
        size_t left;
        bool bad;
} TicketReader;

const uint8_t *ticket_reader_get(TicketReader *r, size_t n);
uint16_t ticket_reader_get_u16(TicketReader *r);
uint32_t ticket_reader_get_u32(TicketReader *r);
uint64_t ticket_reader_get_u64(TicketReader *r);

/* Checks the frame (magic, version, sizes, hash). -EBADMSG with *ret_reason naming the problem. */
int ticket_file_open(const void *buf, size_t size, const char magic[TICKET_FILE_MAGIC_SIZE],
                     uint32_t version, uint32_t *ret_count, TicketReader *ret_payload,
                     const char **ret_reason);
/* Reads a whole file of at most max bytes. -ENOENT if missing; -EBADMSG with *ret_reason for
 * something that must not be trusted (not a regular file, group/world access, too big). */
int ticket_file_read(const char *path, size_t max, void **ret, size_t *ret_size,
                     const char **ret_reason);
/* Replaces path atomically with data, mode 0600. */
int ticket_file_write(const char *path, const void *data, size_t size);
