/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TicketKeys: the keys a tlsd server encrypts its session tickets with. One set for the whole
 * daemon, shared by every listener (and worker thread: the object has its own lock). The
 * current key is replaced every rotate_usec; a replaced key still decrypts tickets until
 * created + rotate + grace, so a ticket issued just before a rotation stays good for at least
 * the grace period. The set is persisted (ticket_keys_save) so tickets survive a restart.
 * Sharing the keys does not share the tickets: each is bound to the owner and policy of the
 * session that issued it (EngineTicketBinding, engine-ticket.h).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine-ticket.h"

#define TICKET_KEY_NAME_SIZE 16
#define TICKET_KEY_SIZE 32
/* Keys kept at most, the current one included; beyond it the oldest is dropped early. With the
 * defaults (rotation 12 h, grace 24 h) three are alive at a time. */
#define TICKET_KEYS_MAX 32
/* Their file's name in the state directory (tlsd.conf(5), [Tickets] Persist=). */
#define TICKET_KEYS_FILE_NAME "ticket-keys"

typedef struct TicketKey {
        uint8_t name[TICKET_KEY_NAME_SIZE]; /* random, public: selects the key for a ticket */
        uint8_t key[TICKET_KEY_SIZE];
        uint64_t created; /* CLOCK_REALTIME, usec */
} TicketKey;

typedef struct TicketKeys TicketKeys;

/* Starts with one fresh key (and dirty). rotate_usec must be > 0. */
int ticket_keys_new(uint64_t rotate_usec, uint64_t grace_usec, TicketKeys **ret);
/* Wipes the key material. */
TicketKeys *ticket_keys_free(TicketKeys *k);
static inline void ticket_keys_freep(TicketKeys **k) {
        ticket_keys_free(*k);
}

/* Replaces the keys with those of the file, minus the expired ones. A missing file, a corrupt
 * one (logged as a warning naming the file and the problem), or one whose keys have all expired
 * keeps the keys in memory (after ticket_keys_new(): a fresh one) and marks them dirty, so the
 * next save replaces the file. Returns 0 then; other errors (say -EACCES) as negative errno. */
int ticket_keys_load(TicketKeys *k, const char *path, uint64_t now);
/* Writes all keys atomically to path (mode 0600) and clears dirty. */
int ticket_keys_save(TicketKeys *k, const char *path);
/* Whether keys changed (created, rotated, or not from the file) since the last save. */
bool ticket_keys_dirty(TicketKeys *k);

/* The key for new tickets. Rotates first when the current key is rotate_usec old (or the clock
 * went back by more than that); *rotated (may be NULL) says it did, so the caller saves. The
 * pointer is valid until the next call on k: for a single thread (the main loop, tests);
 * callbacks on other threads use the _copy variants. */
const TicketKey *ticket_keys_current(TicketKeys *k, uint64_t now, bool *rotated);
/* The key called name if it is still valid (created + rotate + grace > now), else NULL.
 * *is_current (may be NULL) says whether it is the one new tickets use. Same pointer rule. */
const TicketKey *ticket_keys_find(TicketKeys *k, const uint8_t name[TICKET_KEY_NAME_SIZE],
                                  uint64_t now, bool *is_current);

/* Thread-safe variants: copy the key out under the lock. find: -ENOENT if unknown or expired. */
int ticket_keys_current_copy(TicketKeys *k, uint64_t now, TicketKey *ret, bool *ret_rotated);
int ticket_keys_find_copy(TicketKeys *k, const uint8_t name[TICKET_KEY_NAME_SIZE], uint64_t now,
                          TicketKey *ret, bool *ret_is_current);

/* Makes a new current key now, whatever the age of the old one (admin action, tests). */
int ticket_keys_rotate(TicketKeys *k, uint64_t now);
/* Keys held (current and previous, expired ones until the next rotation or load). */
unsigned ticket_keys_count(TicketKeys *k);

/* The interface the engine's ticket callback takes these keys through (engine-ticket.h); valid
 * as long as k. */
EngineTicketKeys *ticket_keys_engine(TicketKeys *k);

/* The time the ticket callback uses: CLOCK_REALTIME in usec, unless a test set its own clock. */
uint64_t ticket_keys_now(TicketKeys *k);
void ticket_keys_set_clock(TicketKeys *k, uint64_t (*clock)(void *userdata), void *userdata);
