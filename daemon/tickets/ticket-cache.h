/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TicketCache: the client side's resumable sessions. Each entry is an opaque serialized
 * session (the engine's business) filed under a TicketScope — owner uid, session policy, peer
 * and protocol — and a random id that the owner may hand back for explicit resumption.
 * Automatic resumption only ever matches the exact scope, so a ticket never crosses uids,
 * policies or peer names. The cache can be persisted to one integrity-checked file (framed as
 * ticket-file.h says). It has no lock: one thread (the control plane's loop) owns it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what one entry may hold; larger input is refused (-EMSGSIZE on store, corrupt in a
 * file). A wolfSSL session with the peer's chain (SESSION_CERTS) is a few KiB. */
#define TICKET_BLOB_MAX (64u * 1024)
#define TICKET_STRING_MAX 1024u
/* The cache file's size cap: save leaves out the oldest entries beyond it, load refuses more. */
#define TICKET_CACHE_FILE_MAX (16u * 1024 * 1024)
#define TICKET_UID_ALL ((uint32_t) -1)
/* Its name in the state directory (tlsd.conf(5), [Tickets] Persist=). */
#define TICKET_CACHE_FILE_NAME "ticket-cache"

typedef struct TicketCache TicketCache;

typedef struct TicketCacheLimits {
        unsigned max_per_uid; /* > 0 */
        unsigned max_total;   /* > 0 */
} TicketCacheLimits;

/* The automatic-resumption key: never crosses uids, policies or peer names. Strings are
 * compared byte for byte; NULL sni/alpn mean "". */
typedef struct TicketScope {
        uint32_t uid;
        uint8_t policy[32]; /* SHA-256 of the session's canonical policy, computed by the caller */
        const char *host;   /* peer host as the app gave it */
        unsigned port;
        const char *sni;  /* "" if none */
        const char *alpn; /* "" if none */
        bool dtls;
} TicketScope;

/* A ticket's scope as stored, with owned strings, for callers that must check it
 * (explicit resumption with a different peer name or policy is refused by the caller). */
typedef struct TicketScopeCopy {
        uint32_t uid;
        uint8_t policy[32];
        char *host;
        unsigned port;
        char *sni;
        char *alpn;
        bool dtls;
        uint64_t expires_at;
        bool single_use;
} TicketScopeCopy;

void ticket_scope_copy_done(TicketScopeCopy *s);

typedef struct TicketCacheStats {
        unsigned entries;
        uint64_t stored, hits, misses, expired, evicted, rejected;
} TicketCacheStats;

int ticket_cache_new(const TicketCacheLimits *l, TicketCache **ret);
/* Wipes the stored sessions (they hold secrets). */
TicketCache *ticket_cache_free(TicketCache *c);
static inline void ticket_cache_freep(TicketCache **c) {
        ticket_cache_free(*c);
}

/* Stores a serialized session (at most TICKET_BLOB_MAX bytes). expires_at: CLOCK_REALTIME usec;
 * single_use for TLS 1.3 tickets. *ret_id: a random, unguessable, nonzero id. Over the limits
 * the oldest entry of the uid goes first, then the oldest of all. Several tickets may share a
 * scope (TLS 1.3 servers send two). -EINVAL for a bad scope, -EMSGSIZE for a blob too big. */
int ticket_cache_store(TicketCache *c, const TicketScope *s, const void *blob, size_t size,
                       uint64_t expires_at, bool single_use, uint64_t *ret_id);
/* Automatic resumption: the newest unexpired ticket of exactly this scope, copied (malloc'd, the
 * caller frees; it holds secrets). A single-use ticket leaves the cache. -ENOENT if none. */
int ticket_cache_take_auto(TicketCache *c, const TicketScope *s, uint64_t now, void **ret_blob,
                           size_t *ret_size, uint64_t *ret_id);
/* Explicit resumption: ticket id if uid owns it and it has not expired; -ENOENT otherwise,
 * whether absent or another uid's (no oracle). With want (may be NULL), only if it was issued
 * for exactly that scope: -EPERM if not, and the ticket stays in the cache (a refused offer
 * does not use it up). *ret_scope (may be NULL) gets the stored scope, also with -EPERM (to
 * say what the ticket is for); free it with ticket_scope_copy_done(). A single-use ticket
 * handed out leaves the cache. */
int ticket_cache_take_id(TicketCache *c, uint32_t uid, uint64_t id, const TicketScope *want,
                         uint64_t now, void **ret_blob, size_t *ret_size,
                         TicketScopeCopy *ret_scope);
/* -ENOENT as for take_id. */
int ticket_cache_remove(TicketCache *c, uint32_t uid, uint64_t id);
/* Drops every entry with expires_at <= now. */
void ticket_cache_expire(TicketCache *c, uint64_t now);

/* Counters since start (per uid, or TICKET_UID_ALL) and the entries held now. */
void ticket_cache_stats(TicketCache *c, uint32_t uid, TicketCacheStats *ret);
/* A server refused a ticket offered for uid (counted in that uid's and the total stats). */
void ticket_cache_count_rejected(TicketCache *c, uint32_t uid);

/* Persistence. save: the whole cache, oldest first, to path atomically (temporary file in the
 * same directory, fsync, rename, fsync of the directory), mode 0600. load: replaces the cache
 * with the file's unexpired entries (within the limits). A missing file is an empty cache. A
 * corrupt, truncated, oversized, wrong-version or group/world-accessible file is discarded with
 * a warning naming the file and the problem: the cache is empty and the result 0. Other errors
 * (say -EACCES) are returned, also with an empty cache. */
int ticket_cache_save(TicketCache *c, const char *path);
int ticket_cache_load(TicketCache *c, const char *path, uint64_t now);
/* The same on memory, without logging: load_buffer returns -EBADMSG for a bad buffer (the cache
 * then empty); save_buffer returns the file image (malloc'd: wipe and free it). */
int ticket_cache_load_buffer(TicketCache *c, const void *buf, size_t size, uint64_t now);
int ticket_cache_save_buffer(TicketCache *c, void **ret, size_t *ret_size);
