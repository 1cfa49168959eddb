/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ticket-encryption keys. The keys are an array ordered by age; the last is the current one.
 * Rotation is lazy: asking for the current key when it is rotate_usec old makes a new one, so
 * no timer is needed and a key never encrypts past created + rotate. The ticket callback runs
 * on whatever thread drives the handshake, so every access takes the lock; the pointer-returning
 * calls are for single-threaded callers.
 *
 * File: the state-file frame of ticket-file.h, magic "TLSD-TK\n", version 1, payload = the
 * keys oldest first, each name[16] key[32] created(u64 LE).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine-crypto.h"
#include "engine/engine-ticket.h"
#include "util/log.h"
#include "tickets/ticket-file.h"
#include "tickets/ticket-keys.h"
#include "time-util.h"

#define KEYS_MAGIC "TLSD-TK\n"
#define KEYS_VERSION 1u
#define KEY_FILE_SIZE (TICKET_KEY_NAME_SIZE + TICKET_KEY_SIZE + 8)
#define KEYS_FILE_MAX                                                                              \
        (TICKET_FILE_HEADER_SIZE + TICKET_KEYS_MAX * KEY_FILE_SIZE + TICKET_FILE_TRAILER_SIZE)

_Static_assert(TICKET_KEY_NAME_SIZE == ENGINE_TICKET_NAME_SIZE, "key name size");
_Static_assert(TICKET_KEY_SIZE == ENGINE_TICKET_KEY_SIZE, "key size");

struct TicketKeys {
        EngineTicketKeys engine; /* what the ticket callback calls */
        pthread_mutex_t lock;
        uint64_t rotate_usec, grace_usec;
        TicketKey keys[TICKET_KEYS_MAX]; /* oldest first; keys[n - 1] is current */
        unsigned n;
        uint64_t generation, saved_generation; /* dirty: they differ */
        uint64_t (*clock)(void *userdata);
        void *clock_userdata;
};

static uint64_t sat_add(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static bool key_valid(const TicketKeys *k, const TicketKey *key, uint64_t now) {
        return now < sat_add(sat_add(key->created, k->rotate_usec), k->grace_usec);
}

static bool key_due(const TicketKeys *k, const TicketKey *key, uint64_t now) {
        if (now < key->created) /* the clock went back: rotate only if by more than a period */
                return key->created - now > k->rotate_usec;
        return now - key->created >= k->rotate_usec;
}

static void keys_drop_first(TicketKeys *k, unsigned count) {
        explicit_bzero(k->keys, count * sizeof(TicketKey));
        memmove(k->keys, k->keys + count, (k->n - count) * sizeof(TicketKey));
        k->n -= count;
        explicit_bzero(k->keys + k->n, count * sizeof(TicketKey));
}

/* Appends a fresh current key; drops the expired ones (and the oldest, if full). Locked. */
static int keys_rotate(TicketKeys *k, uint64_t now) {
        TicketKey key = { .created = now };
        unsigned expired = 0;
        int r;

        do {
                r = engine_random(key.name, sizeof(key.name));
                if (r >= 0)
                        r = engine_random(key.key, sizeof(key.key));
                if (r < 0) {
                        explicit_bzero(&key, sizeof(key));
                        return r;
                }
                /* An all-zero name is what wolfSSL takes for "not set". */
        } while (!memcmp(key.name, (uint8_t[TICKET_KEY_NAME_SIZE]){}, TICKET_KEY_NAME_SIZE));

        while (expired < k->n && !key_valid(k, &k->keys[expired], now))
                expired++;
        if (k->n - expired == TICKET_KEYS_MAX)
                expired++;
        keys_drop_first(k, expired);
        k->keys[k->n++] = key;
        explicit_bzero(&key, sizeof(key));
        k->generation++;
        return 0;
}

/* ---- the engine's view (EngineTicketKeys) ---- */

static uint64_t engine_now(void *userdata) {
        return ticket_keys_now(userdata);
}

static int engine_current(void *userdata, uint64_t now, EngineTicketKey *ret) {
        TicketKey key;
        int r;

        r = ticket_keys_current_copy(userdata, now, &key, NULL);
        if (r >= 0) {
                memcpy(ret->name, key.name, sizeof(ret->name));
                memcpy(ret->key, key.key, sizeof(ret->key));
        }
        explicit_bzero(&key, sizeof(key));
        return r;
}

static int engine_find(void *userdata, const uint8_t name[ENGINE_TICKET_NAME_SIZE], uint64_t now,
                       EngineTicketKey *ret, bool *ret_is_current) {
        TicketKey key;
        int r;

        r = ticket_keys_find_copy(userdata, name, now, &key, ret_is_current);
        if (r >= 0) {
                memcpy(ret->name, key.name, sizeof(ret->name));
                memcpy(ret->key, key.key, sizeof(ret->key));
        }
        explicit_bzero(&key, sizeof(key));
        return r;
}

EngineTicketKeys *ticket_keys_engine(TicketKeys *k) {
        return &k->engine;
}

int ticket_keys_new(uint64_t rotate_usec, uint64_t grace_usec, TicketKeys **ret) {
        TicketKeys *k;
        int r;

        if (rotate_usec == 0)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->rotate_usec = rotate_usec;
        k->grace_usec = grace_usec;
        k->engine = (EngineTicketKeys){
                .userdata = k,
                .now = engine_now,
                .current = engine_current,
                .find = engine_find,
        };
        r = -pthread_mutex_init(&k->lock, NULL);
        if (r < 0) {
                free(k);
                return r;
        }
        r = keys_rotate(k, ticket_keys_now(k));
        if (r < 0) {
                ticket_keys_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

TicketKeys *ticket_keys_free(TicketKeys *k) {
        if (!k)
                return NULL;
        (void) pthread_mutex_destroy(&k->lock);
        explicit_bzero(k->keys, sizeof(k->keys));
        free(k);
        return NULL;
}

uint64_t ticket_keys_now(TicketKeys *k) {
        if (k->clock)
                return k->clock(k->clock_userdata);
        return now_usec(CLOCK_REALTIME);
}

void ticket_keys_set_clock(TicketKeys *k, uint64_t (*clock)(void *userdata), void *userdata) {
        k->clock = clock;
        k->clock_userdata = userdata;
}

bool ticket_keys_dirty(TicketKeys *k) {
        bool dirty;

        pthread_mutex_lock(&k->lock);
        dirty = k->generation != k->saved_generation;
        pthread_mutex_unlock(&k->lock);
        return dirty;
}

unsigned ticket_keys_count(TicketKeys *k) {
        unsigned n;

        pthread_mutex_lock(&k->lock);
        n = k->n;
        pthread_mutex_unlock(&k->lock);
        return n;
}

/* The current key, rotated first if due. If making a new key fails the old one stays in use:
 * better than no tickets. Locked. */
static const TicketKey *keys_current(TicketKeys *k, uint64_t now, bool *rotated) {
        bool r = key_due(k, &k->keys[k->n - 1], now) && keys_rotate(k, now) >= 0;

        if (rotated)
                *rotated = r;
        return &k->keys[k->n - 1];
}

static const TicketKey *keys_find(TicketKeys *k, const uint8_t name[TICKET_KEY_NAME_SIZE],
                                  uint64_t now, bool *is_current) {
        for (unsigned i = 0; i < k->n; i++) {
                if (memcmp(k->keys[i].name, name, TICKET_KEY_NAME_SIZE) != 0)
                        continue;
                if (!key_valid(k, &k->keys[i], now))
                        return NULL;
                if (is_current)
                        *is_current = i == k->n - 1;
                return &k->keys[i];
        }
        return NULL;
}

const TicketKey *ticket_keys_current(TicketKeys *k, uint64_t now, bool *rotated) {
        const TicketKey *key;

        pthread_mutex_lock(&k->lock);
        key = keys_current(k, now, rotated);
        pthread_mutex_unlock(&k->lock);
        return key;
}

const TicketKey *ticket_keys_find(TicketKeys *k, const uint8_t name[TICKET_KEY_NAME_SIZE],
                                  uint64_t now, bool *is_current) {
        const TicketKey *key;

        pthread_mutex_lock(&k->lock);
        key = keys_find(k, name, now, is_current);
        pthread_mutex_unlock(&k->lock);
        return key;
}

int ticket_keys_current_copy(TicketKeys *k, uint64_t now, TicketKey *ret, bool *ret_rotated) {
        pthread_mutex_lock(&k->lock);
        *ret = *keys_current(k, now, ret_rotated);
        pthread_mutex_unlock(&k->lock);
        return 0;
}

int ticket_keys_find_copy(TicketKeys *k, const uint8_t name[TICKET_KEY_NAME_SIZE], uint64_t now,
                          TicketKey *ret, bool *ret_is_current) {
        const TicketKey *key;

        pthread_mutex_lock(&k->lock);
        key = keys_find(k, name, now, ret_is_current);
        if (key)
                *ret = *key;
        pthread_mutex_unlock(&k->lock);
        return key ? 0 : -ENOENT;
}

int ticket_keys_rotate(TicketKeys *k, uint64_t now) {
        int r;

        pthread_mutex_lock(&k->lock);
        r = keys_rotate(k, now);
        pthread_mutex_unlock(&k->lock);
        return r;
}

int ticket_keys_save(TicketKeys *k, const char *path) {
        _cleanup_free_ void *buf = NULL;
        uint64_t generation;
        TicketWriter w;
        size_t size = 0;
        int r;

        pthread_mutex_lock(&k->lock);
        ticket_writer_begin(&w, KEYS_MAGIC, KEYS_VERSION, KEYS_FILE_MAX);
        for (unsigned i = 0; i < k->n; i++) {
                ticket_writer_put(&w, k->keys[i].name, TICKET_KEY_NAME_SIZE);
                ticket_writer_put(&w, k->keys[i].key, TICKET_KEY_SIZE);
                ticket_writer_put_u64(&w, k->keys[i].created);
        }
        r = ticket_writer_finish(&w, k->n, &buf, &size);
        generation = k->generation;
        pthread_mutex_unlock(&k->lock);
        if (r < 0)
                return r;

        /* Written without the lock: handshakes go on meanwhile. A rotation during the write
         * leaves the keys dirty for the next save. */
        r = ticket_file_write(path, buf, size);
        explicit_bzero(buf, size);
        if (r < 0)
                return r;
        pthread_mutex_lock(&k->lock);
        k->saved_generation = generation;
        pthread_mutex_unlock(&k->lock);
        return 0;
}

/* Parses a key file image into keys/n, validated in full. -EBADMSG with *reason. */
static int keys_parse(const void *buf, size_t size, TicketKey keys[TICKET_KEYS_MAX], unsigned *n,
                      const char **reason) {
        TicketReader r;
        uint32_t count;
        int ret;

        ret = ticket_file_open(buf, size, KEYS_MAGIC, KEYS_VERSION, &count, &r, reason);
        if (ret < 0)
                return ret;
        if (count == 0 || count > TICKET_KEYS_MAX || r.left != (size_t) count * KEY_FILE_SIZE) {
                *reason = "bad key count";
                return -EBADMSG;
        }
        for (uint32_t i = 0; i < count; i++) {
                memcpy(keys[i].name, ticket_reader_get(&r, TICKET_KEY_NAME_SIZE),
                       TICKET_KEY_NAME_SIZE);
                memcpy(keys[i].key, ticket_reader_get(&r, TICKET_KEY_SIZE), TICKET_KEY_SIZE);
                keys[i].created = ticket_reader_get_u64(&r);
                if (!memcmp(keys[i].name, (uint8_t[TICKET_KEY_NAME_SIZE]){},
                            TICKET_KEY_NAME_SIZE)) {
                        *reason = "key without a name";
                        return -EBADMSG;
                }
                for (uint32_t j = 0; j < i; j++)
                        if (!memcmp(keys[i].name, keys[j].name, TICKET_KEY_NAME_SIZE)) {
                                *reason = "duplicate key name";
                                return -EBADMSG;
                        }
        }
        *n = count;
        return 0;
}

int ticket_keys_load(TicketKeys *k, const char *path, uint64_t now) {
        _cleanup_free_ void *buf = NULL;
        TicketKey keys[TICKET_KEYS_MAX];
        const char *reason = NULL;
        unsigned n = 0, first = 0;
        size_t size = 0;
        int r;

        r = ticket_file_read(path, KEYS_FILE_MAX, &buf, &size, &reason);
        if (r >= 0) {
                r = keys_parse(buf, size, keys, &n, &reason);
                explicit_bzero(buf, size);
        }
        if (r == -EBADMSG)
                log_warning("Ticket keys %s: %s; discarding them, tickets issued before will not "
                            "resume",
                            path, reason);
        else if (r < 0 && r != -ENOENT) {
                explicit_bzero(keys, sizeof(keys));
                return r;
        }

        /* Keys past their grace period are of no use; the order of the rest is kept. */
        while (r >= 0 && first < n && !key_valid(k, &keys[first], now))
                first++;

        pthread_mutex_lock(&k->lock);
        if (r >= 0 && first < n) {
                explicit_bzero(k->keys, sizeof(k->keys));
                memcpy(k->keys, keys + first, (n - first) * sizeof(TicketKey));
                k->n = n - first;
                k->generation++;
                if (first == 0)
                        k->saved_generation = k->generation; /* exactly what the file holds */
        } else {
                k->generation++; /* keep ours; the file is to be replaced */
        }
        pthread_mutex_unlock(&k->lock);
        explicit_bzero(keys, sizeof(keys));
        return 0;
}
