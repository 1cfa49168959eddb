/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client-side ticket cache. Entries sit on one list in the order they were stored (oldest
 * first): "newest ticket of a scope" and "evict the oldest" are walks from either end, and the
 * cache file keeps that order. Lookups are linear; with the default cap of 4096 entries a walk
 * costs microseconds, next to a handshake's hundreds. Per-uid counters live in a small array
 * sorted by uid.
 *
 * Stored sessions hold the resumption secret: they are wiped when dropped, copies handed out
 * are the caller's to wipe, and the file is 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine-crypto.h"
#include "util/log.h"
#include "tickets/ticket-cache.h"
#include "tickets/ticket-file.h"

#define CACHE_MAGIC "TLSD-TC\n"
#define CACHE_VERSION 1u
/* id, uid, port, flags, expires_at, policy, three string lengths, blob length */
#define ENTRY_FIXED_SIZE (8 + 4 + 2 + 2 + 8 + 32 + 2 + 2 + 2 + 4)
#define ENTRY_FLAG_DTLS 1u
#define ENTRY_FLAG_SINGLE_USE 2u

typedef struct TicketEntry TicketEntry;
struct TicketEntry {
        TicketEntry *prev, *next; /* storage order, oldest first */
        uint64_t id;
        uint32_t uid;
        uint8_t policy[32];
        char *host, *sni, *alpn;
        unsigned port;
        bool dtls, single_use;
        uint64_t expires_at;
        uint8_t *blob;
        size_t size;
};

/* An entry's fields as given to store or found in a file (strings not NUL-terminated). */
typedef struct EntryData {
        uint64_t id;
        uint32_t uid;
        const uint8_t *policy;
        const char *host, *sni, *alpn;
        size_t host_len, sni_len, alpn_len;
        unsigned port;
        bool dtls, single_use;
        uint64_t expires_at;
        const void *blob;
        size_t size;
} EntryData;

typedef struct UidStats {
        uint32_t uid;
        TicketCacheStats stats;
} UidStats;

struct TicketCache {
        TicketCacheLimits limits;
        TicketEntry *oldest, *newest;
        TicketCacheStats total; /* total.entries: all entries */
        UidStats *uids;         /* sorted by uid */
        size_t n_uids;
};

/* ---- entries ---- */

static TicketEntry *entry_free(TicketEntry *e) {
        if (!e)
                return NULL;
        if (e->blob)
                explicit_bzero(e->blob, e->size);
        free(e->blob);
        free(e->host);
        free(e->sni);
        free(e->alpn);
        free(e);
        return NULL;
}

static void entry_freep(TicketEntry **e) {
        entry_free(*e);
}

static int entry_new(const EntryData *d, TicketEntry **ret) {
        _cleanup_(entry_freep) TicketEntry *e = calloc(1, sizeof(*e));

        if (!e)
                return -ENOMEM;
        e->host = strndup(d->host, d->host_len);
        e->sni = strndup(d->sni, d->sni_len);
        e->alpn = strndup(d->alpn, d->alpn_len);
        e->blob = malloc(d->size);
        if (!e->host || !e->sni || !e->alpn || !e->blob)
                return -ENOMEM;
        memcpy(e->blob, d->blob, d->size);
        e->size = d->size;
        e->id = d->id;
        e->uid = d->uid;
        memcpy(e->policy, d->policy, sizeof(e->policy));
        e->port = d->port;
        e->dtls = d->dtls;
        e->single_use = d->single_use;
        e->expires_at = d->expires_at;
        *ret = TAKE_PTR(e);
        return 0;
}

static bool string_valid(const char *s, size_t len, bool may_be_empty) {
        return (may_be_empty || len > 0) && len < TICKET_STRING_MAX && !memchr(s, 0, len);
}

/* What store and load both insist on (the id is checked apart: store has none yet). */
static bool entry_data_valid(const EntryData *d) {
        return d->uid != TICKET_UID_ALL && d->port <= 65535 &&
               string_valid(d->host, d->host_len, false) &&
               string_valid(d->sni, d->sni_len, true) && string_valid(d->alpn, d->alpn_len, true) &&
               d->size > 0 && d->size <= TICKET_BLOB_MAX;
}

static bool scope_matches(const TicketEntry *e, const TicketScope *s) {
        return e->uid == s->uid && e->port == s->port && e->dtls == s->dtls &&
               memcmp(e->policy, s->policy, sizeof(e->policy)) == 0 &&
               strcmp(e->host, s->host) == 0 && strcmp(e->sni, s->sni ? s->sni : "") == 0 &&
               strcmp(e->alpn, s->alpn ? s->alpn : "") == 0;
}

/* ---- per-uid counters ---- */

static int uid_cmp(const void *key, const void *elem) {
        uint32_t a = *(const uint32_t *) key, b = ((const UidStats *) elem)->uid;

        return a < b ? -1 : a > b;
}

/* The uid's record; created if asked (NULL only then: out of memory). */
static UidStats *uid_stats(TicketCache *c, uint32_t uid, bool create) {
        UidStats *u = c->n_uids == 0 ? NULL /* bsearch() wants an array, even an empty one */
                                     : bsearch(&uid, c->uids, c->n_uids, sizeof(UidStats), uid_cmp);
        size_t i = 0;

        if (u || !create)
                return u;
        u = reallocarray(c->uids, c->n_uids + 1, sizeof(UidStats));
        if (!u)
                return NULL;
        c->uids = u;
        while (i < c->n_uids && c->uids[i].uid < uid)
                i++;
        memmove(c->uids + i + 1, c->uids + i, (c->n_uids - i) * sizeof(UidStats));
        c->uids[i] = (UidStats){ .uid = uid };
        c->n_uids++;
        return c->uids + i;
}

/* Counts an event for uid and in the total; a uid record that cannot be made is skipped. */
#define COUNT(c, uid, field)                                                                       \
        do {                                                                                       \
                UidStats *_u = uid_stats((c), (uid), true);                                        \
                (c)->total.field++;                                                                \
                if (_u)                                                                            \
                        _u->stats.field++;                                                         \
        } while (0)

/* ---- the list ---- */

static void cache_link(TicketCache *c, TicketEntry *e, UidStats *u) {
        e->prev = c->newest;
        e->next = NULL;
        if (c->newest)
                c->newest->next = e;
        else
                c->oldest = e;
        c->newest = e;
        c->total.entries++;
        u->stats.entries++;
}

static void cache_unlink(TicketCache *c, TicketEntry *e) {
        UidStats *u = uid_stats(c, e->uid, false);

        if (e->prev)
                e->prev->next = e->next;
        else
                c->oldest = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                c->newest = e->prev;
        e->prev = e->next = NULL;
        c->total.entries--;
        if (u)
                u->stats.entries--;
}

typedef enum DropReason {
        DROP_REMOVED,
        DROP_EXPIRED,
        DROP_EVICTED
} DropReason;

static void cache_drop(TicketCache *c, TicketEntry *e, DropReason why) {
        if (why == DROP_EXPIRED)
                COUNT(c, e->uid, expired);
        else if (why == DROP_EVICTED)
                COUNT(c, e->uid, evicted);
        cache_unlink(c, e);
        entry_free(e);
}

static void cache_clear(TicketCache *c) {
        while (c->oldest)
                cache_drop(c, c->oldest, DROP_REMOVED);
}

static TicketEntry *cache_find_id(TicketCache *c, uint64_t id) {
        for (TicketEntry *e = c->oldest; e; e = e->next)
                if (e->id == id)
                        return e;
        return NULL;
}

static TicketEntry *cache_oldest_of(TicketCache *c, uint32_t uid) {
        for (TicketEntry *e = c->oldest; e; e = e->next)
                if (e->uid == uid)
                        return e;
        return NULL;
}

/* Links e as the newest entry, evicting the uid's oldest, then the oldest of all, to make room.
 * Takes e in every case. */
static int cache_insert(TicketCache *c, TicketEntry *e) {
        /* Made before anything is evicted, so running out of memory changes nothing. */
        if (!uid_stats(c, e->uid, true)) {
                entry_free(e);
                return -ENOMEM;
        }
        while (uid_stats(c, e->uid, false)->stats.entries >= c->limits.max_per_uid)
                cache_drop(c, cache_oldest_of(c, e->uid), DROP_EVICTED);
        while (c->total.entries >= c->limits.max_total)
                cache_drop(c, c->oldest, DROP_EVICTED);
        /* Looked up again: counting the evictions may have moved the records. */
        cache_link(c, e, uid_stats(c, e->uid, false));
        return 0;
}

/* A random id: unguessable, so holding one proves nothing about anyone else's; ownership is
 * still checked on every use. */
static int cache_new_id(TicketCache *c, uint64_t *ret) {
        uint64_t id;
        int r;

        do {
                r = engine_random(&id, sizeof(id));
                if (r < 0)
                        return r;
        } while (id == 0 || cache_find_id(c, id));
        *ret = id;
        return 0;
}

/* ---- API ---- */

int ticket_cache_new(const TicketCacheLimits *l, TicketCache **ret) {
        TicketCache *c;

        if (l->max_per_uid == 0 || l->max_total == 0)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->limits = *l;
        *ret = c;
        return 0;
}

TicketCache *ticket_cache_free(TicketCache *c) {
        if (!c)
                return NULL;
        cache_clear(c);
        free(c->uids);
        free(c);
        return NULL;
}

void ticket_scope_copy_done(TicketScopeCopy *s) {
        if (!s)
                return;
        free(s->host);
        free(s->sni);
        free(s->alpn);
        *s = (TicketScopeCopy){};
}

int ticket_cache_store(TicketCache *c, const TicketScope *s, const void *blob, size_t size,
                       uint64_t expires_at, bool single_use, uint64_t *ret_id) {
        EntryData d = {
                .uid = s->uid,
                .policy = s->policy,
                .host = s->host ? s->host : "",
                .sni = s->sni ? s->sni : "",
                .alpn = s->alpn ? s->alpn : "",
                .port = s->port,
                .dtls = s->dtls,
                .single_use = single_use,
                .expires_at = expires_at,
                .blob = blob,
                .size = size,
        };
        TicketEntry *e;
        int r;

        if (size > TICKET_BLOB_MAX)
                return -EMSGSIZE;
        d.host_len = strlen(d.host);
        d.sni_len = strlen(d.sni);
        d.alpn_len = strlen(d.alpn);
        if (!entry_data_valid(&d))
                return -EINVAL;
        r = cache_new_id(c, &d.id);
        if (r < 0)
                return r;
        r = entry_new(&d, &e);
        if (r < 0)
                return r;
        r = cache_insert(c, e);
        if (r < 0)
                return r;
        COUNT(c, s->uid, stored);
        *ret_id = d.id;
        return 0;
}

/* Hands e's session to the caller: a copy, or e's own buffer when a single-use e leaves. */
static int cache_hand_out(TicketCache *c, TicketEntry *e, void **ret_blob, size_t *ret_size,
                          uint64_t *ret_id) {
        void *b;

        if (e->single_use) {
                b = TAKE_PTR(e->blob);
                *ret_size = e->size;
                e->size = 0;
        } else {
                b = malloc(e->size);
                if (!b)
                        return -ENOMEM;
                memcpy(b, e->blob, e->size);
                *ret_size = e->size;
        }
        *ret_blob = b;
        if (ret_id)
                *ret_id = e->id;
        COUNT(c, e->uid, hits);
        if (e->single_use)
                cache_drop(c, e, DROP_REMOVED);
        return 0;
}

int ticket_cache_take_auto(TicketCache *c, const TicketScope *s, uint64_t now, void **ret_blob,
                           size_t *ret_size, uint64_t *ret_id) {
        if (!s->host)
                return -EINVAL;
        for (TicketEntry *e = c->newest, *prev; e; e = prev) {
                prev = e->prev;
                if (!scope_matches(e, s))
                        continue;
                if (e->expires_at <= now) {
                        cache_drop(c, e, DROP_EXPIRED);
                        continue;
                }
                return cache_hand_out(c, e, ret_blob, ret_size, ret_id);
        }
        COUNT(c, s->uid, misses);
        return -ENOENT;
}

static int scope_copy(const TicketEntry *e, TicketScopeCopy *ret) {
        TicketScopeCopy s = {
                .uid = e->uid,
                .port = e->port,
                .dtls = e->dtls,
                .expires_at = e->expires_at,
                .single_use = e->single_use,
                .host = strdup(e->host),
                .sni = strdup(e->sni),
                .alpn = strdup(e->alpn),
        };

        if (!s.host || !s.sni || !s.alpn) {
                ticket_scope_copy_done(&s);
                return -ENOMEM;
        }
        memcpy(s.policy, e->policy, sizeof(s.policy));
        *ret = s;
        return 0;
}

int ticket_cache_take_id(TicketCache *c, uint32_t uid, uint64_t id, const TicketScope *want,
                         uint64_t now, void **ret_blob, size_t *ret_size,
                         TicketScopeCopy *ret_scope) {
        TicketEntry *e = cache_find_id(c, id);
        TicketScopeCopy scope = {};
        int r;

        if (e && e->uid == uid && e->expires_at <= now) {
                cache_drop(c, e, DROP_EXPIRED);
                e = NULL;
        }
        if (!e || e->uid != uid) {
                COUNT(c, uid, misses);
                return -ENOENT;
        }
        if (ret_scope) {
                r = scope_copy(e, &scope);
                if (r < 0)
                        return r;
        }
        if (want && !scope_matches(e, want)) {
                /* Checked before the hand-out: a single-use ticket would leave the cache. */
                COUNT(c, uid, misses);
                if (ret_scope)
                        *ret_scope = scope;
                return -EPERM;
        }
        r = cache_hand_out(c, e, ret_blob, ret_size, NULL);
        if (r < 0) {
                ticket_scope_copy_done(&scope);
                return r;
        }
        if (ret_scope)
                *ret_scope = scope;
        return 0;
}

int ticket_cache_remove(TicketCache *c, uint32_t uid, uint64_t id) {
        TicketEntry *e = cache_find_id(c, id);

        if (!e || e->uid != uid)
                return -ENOENT;
        cache_drop(c, e, DROP_REMOVED);
        return 0;
}

void ticket_cache_expire(TicketCache *c, uint64_t now) {
        for (TicketEntry *e = c->oldest, *next; e; e = next) {
                next = e->next;
                if (e->expires_at <= now)
                        cache_drop(c, e, DROP_EXPIRED);
        }
}

void ticket_cache_stats(TicketCache *c, uint32_t uid, TicketCacheStats *ret) {
        UidStats *u;

        if (uid == TICKET_UID_ALL) {
                *ret = c->total;
                return;
        }
        u = uid_stats(c, uid, false);
        *ret = u ? u->stats : (TicketCacheStats){};
}

void ticket_cache_count_rejected(TicketCache *c, uint32_t uid) {
        COUNT(c, uid, rejected);
}

/* ---- the cache file ---- */

static size_t entry_file_size(const TicketEntry *e) {
        return ENTRY_FIXED_SIZE + strlen(e->host) + strlen(e->sni) + strlen(e->alpn) + e->size;
}

static void entry_write(TicketWriter *w, const TicketEntry *e) {
        size_t h = strlen(e->host), s = strlen(e->sni), a = strlen(e->alpn);

        ticket_writer_put_u64(w, e->id);
        ticket_writer_put_u32(w, e->uid);
        ticket_writer_put_u16(w, (uint16_t) e->port);
        ticket_writer_put_u16(w, (e->dtls ? ENTRY_FLAG_DTLS : 0) |
                                         (e->single_use ? ENTRY_FLAG_SINGLE_USE : 0));
        ticket_writer_put_u64(w, e->expires_at);
        ticket_writer_put(w, e->policy, sizeof(e->policy));
        ticket_writer_put_u16(w, (uint16_t) h);
        ticket_writer_put_u16(w, (uint16_t) s);
        ticket_writer_put_u16(w, (uint16_t) a);
        ticket_writer_put_u32(w, (uint32_t) e->size);
        ticket_writer_put(w, e->host, h);
        ticket_writer_put(w, e->sni, s);
        ticket_writer_put(w, e->alpn, a);
        ticket_writer_put(w, e->blob, e->size);
}

int ticket_cache_save_buffer(TicketCache *c, void **ret, size_t *ret_size) {
        size_t budget = TICKET_CACHE_FILE_MAX - TICKET_FILE_HEADER_SIZE - TICKET_FILE_TRAILER_SIZE;
        TicketEntry *first = NULL;
        TicketWriter w;
        uint32_t count = 0;

        /* The newest entries that fit under the cap; older ones are left out. */
        for (TicketEntry *e = c->newest; e; e = e->prev) {
                size_t n = entry_file_size(e);

                if (n > budget)
                        break;
                budget -= n;
                first = e;
                count++;
        }
        if (count < c->total.entries)
                log_debug("Ticket cache: leaving the %u oldest entries out of the file (size cap)",
                          c->total.entries - count);

        ticket_writer_begin(&w, CACHE_MAGIC, CACHE_VERSION, TICKET_CACHE_FILE_MAX);
        for (TicketEntry *e = first; e; e = e->next)
                entry_write(&w, e);
        return ticket_writer_finish(&w, count, ret, ret_size);
}

/* One entry from r into *d (pointing into the buffer). False if malformed. */
static bool entry_read(TicketReader *r, EntryData *d) {
        uint16_t flags;

        d->id = ticket_reader_get_u64(r);
        d->uid = ticket_reader_get_u32(r);
        d->port = ticket_reader_get_u16(r);
        flags = ticket_reader_get_u16(r);
        d->dtls = flags & ENTRY_FLAG_DTLS;
        d->single_use = flags & ENTRY_FLAG_SINGLE_USE;
        d->expires_at = ticket_reader_get_u64(r);
        d->policy = ticket_reader_get(r, 32);
        d->host_len = ticket_reader_get_u16(r);
        d->sni_len = ticket_reader_get_u16(r);
        d->alpn_len = ticket_reader_get_u16(r);
        d->size = ticket_reader_get_u32(r);
        d->host = (const char *) ticket_reader_get(r, d->host_len);
        d->sni = (const char *) ticket_reader_get(r, d->sni_len);
        d->alpn = (const char *) ticket_reader_get(r, d->alpn_len);
        d->blob = ticket_reader_get(r, d->size);
        return !r->bad && d->id != 0 && (flags & ~(ENTRY_FLAG_DTLS | ENTRY_FLAG_SINGLE_USE)) == 0 &&
               entry_data_valid(d);
}

static int id_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* First pass: the whole payload must be well-formed, with unique ids, before anything of it
 * is used. Entries are not copied, so a hostile count cannot make this allocate much: at most
 * 8 bytes per ENTRY_FIXED_SIZE of file. */
static int payload_validate(TicketReader r, uint32_t count, const char **reason) {
        _cleanup_free_ uint64_t *ids = NULL;
        EntryData d;

        if (count > r.left / ENTRY_FIXED_SIZE) {
                *reason = "entry count larger than the file";
                return -EBADMSG;
        }
        ids = malloc(((size_t) count + 1) * sizeof(uint64_t));
        if (!ids)
                return -ENOMEM;
        for (uint32_t i = 0; i < count; i++) {
                if (!entry_read(&r, &d)) {
                        *reason = "malformed entry";
                        return -EBADMSG;
                }
                ids[i] = d.id;
        }
        if (r.left != 0) {
                *reason = "data after the last entry";
                return -EBADMSG;
        }
        qsort(ids, count, sizeof(uint64_t), id_cmp);
        for (uint32_t i = 1; i < count; i++)
                if (ids[i] == ids[i - 1]) {
                        *reason = "duplicate ticket id";
                        return -EBADMSG;
                }
        return 0;
}

static int cache_load(TicketCache *c, const void *buf, size_t size, uint64_t now,
                      const char **reason) {
        TicketReader r;
        uint32_t count;
        EntryData d;
        int ret;

        cache_clear(c);
        if (size > TICKET_CACHE_FILE_MAX) {
                *reason = "too large";
                return -EBADMSG;
        }
        ret = ticket_file_open(buf, size, CACHE_MAGIC, CACHE_VERSION, &count, &r, reason);
        if (ret < 0)
                return ret;
        ret = payload_validate(r, count, reason);
        if (ret < 0)
                return ret;

        /* Second pass, on validated data: in file order, so the limits evict the oldest. */
        for (uint32_t i = 0; i < count; i++) {
                TicketEntry *e;

                (void) entry_read(&r, &d);
                if (d.expires_at <= now) {
                        COUNT(c, d.uid, expired);
                        continue;
                }
                ret = entry_new(&d, &e);
                if (ret >= 0)
                        ret = cache_insert(c, e);
                if (ret < 0) {
                        cache_clear(c);
                        return ret;
                }
        }
        return 0;
}

int ticket_cache_load_buffer(TicketCache *c, const void *buf, size_t size, uint64_t now) {
        const char *reason = NULL;

        return cache_load(c, buf, size, now, &reason);
}

int ticket_cache_load(TicketCache *c, const char *path, uint64_t now) {
        _cleanup_free_ void *buf = NULL;
        const char *reason = NULL;
        size_t size = 0;
        int r;

        cache_clear(c);
        r = ticket_file_read(path, TICKET_CACHE_FILE_MAX, &buf, &size, &reason);
        if (r == -ENOENT)
                return 0;
        if (r >= 0) {
                r = cache_load(c, buf, size, now, &reason);
                explicit_bzero(buf, size);
        }
        if (r == -EBADMSG) {
                log_warning("Ticket cache %s: %s; discarding it, resumption starts afresh", path,
                            reason);
                return 0;
        }
        return r;
}

int ticket_cache_save(TicketCache *c, const char *path) {
        _cleanup_free_ void *buf = NULL;
        size_t size = 0;
        int r;

        r = ticket_cache_save_buffer(c, &buf, &size);
        if (r < 0)
                return r;
        r = ticket_file_write(path, buf, size);
        explicit_bzero(buf, size);
        return r;
}
