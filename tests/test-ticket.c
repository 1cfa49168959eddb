/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session tickets: the client cache (scope isolation, newest first, single use, expiry, limits,
 * id ownership, statistics), its file (round trip, every truncation, every bit flip, bad
 * headers and lengths, mode 0600), the server's ticket keys (rotation, grace, persistence), and
 * real resumption between two in-process wolfSSL ends over a socketpair with the server using
 * engine_ticket_enc_cb: TLS 1.3 and TLS 1.2, rotated keys within and after grace, keys
 * reloaded from disk as after a restart, and tickets bound to the issuing owner and policy
 * (another uid, another policy hash or a server asking for client certificates: no resumption).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include "engine/engine-crypto.h"
#include "engine/engine-ticket.h"
#include "util/log.h"
#include "tickets/ticket-cache.h"
#include "tickets/ticket-file.h"
#include "tickets/ticket-keys.h"

#define SEC 1000000ULL
#define NOW (1700000000ULL * SEC) /* a fixed "now" for cache tests */

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/tlsd-ticket.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char p[512];

        if (!d)
                return;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                        (void) unlink(p);
                }
        closedir(d);
        (void) rmdir(dir);
}

/* A path in the test's directory, in one of four buffers: hold no more than four at once. */
static const char *path_in_dir(const char *name) {
        static char buf[4][256];
        static unsigned i;

        i = (i + 1) % 4;
        snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
        return buf[i];
}

static TicketScope scope(uint32_t uid, const char *host) {
        TicketScope s = {
                .uid = uid,
                .host = host,
                .port = 443,
                .sni = host,
                .alpn = "h2",
                .dtls = false,
        };

        memset(s.policy, 0xa5, sizeof(s.policy));
        return s;
}

static TicketCache *cache_new(unsigned per_uid, unsigned total) {
        TicketCacheLimits l = { .max_per_uid = per_uid, .max_total = total };
        TicketCache *c = NULL;

        ck_assert_int_eq(ticket_cache_new(&l, &c), 0);
        return c;
}

static uint64_t store(TicketCache *c, const TicketScope *s, const char *blob, uint64_t expires,
                      bool single_use) {
        uint64_t id = 0;

        ck_assert_int_eq(ticket_cache_store(c, s, blob, strlen(blob) + 1, expires, single_use, &id),
                         0);
        ck_assert_uint_ne(id, 0);
        return id;
}

/* Takes automatically and checks the blob; returns the id, or 0 if there was none. */
static uint64_t take_auto(TicketCache *c, const TicketScope *s, uint64_t now, const char *want) {
        void *blob = NULL;
        size_t size = 0;
        uint64_t id = 0;
        int r = ticket_cache_take_auto(c, s, now, &blob, &size, &id);

        if (!want) {
                ck_assert_int_eq(r, -ENOENT);
                return 0;
        }
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(size, strlen(want) + 1);
        ck_assert_str_eq(blob, want);
        free(blob);
        return id;
}

static unsigned entries(TicketCache *c) {
        TicketCacheStats st;

        ticket_cache_stats(c, TICKET_UID_ALL, &st);
        return st.entries;
}

/* ---- cache semantics ---- */

START_TEST(test_scope_isolation) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope base = scope(1000, "example.org"), s;

        store(c, &base, "secret", NOW + 100 * SEC, false);

        /* Each field alone keeps the ticket from matching. */
        for (unsigned field = 0; field < 8; field++) {
                s = base;
                switch (field) {
                case 0:
                        s.uid = 1001;
                        break;
                case 1:
                        s.policy[31] ^= 1;
                        break;
                case 2:
                        s.host = "example.com";
                        break;
                case 3:
                        s.port = 8443;
                        break;
                case 4:
                        s.sni = "";
                        break;
                case 5:
                        s.alpn = "http/1.1";
                        break;
                case 6:
                        s.dtls = true;
                        break;
                case 7:
                        s.host = "EXAMPLE.ORG";
                        break; /* as the app gave it, byte for byte */
                }
                take_auto(c, &s, NOW, NULL);
        }
        /* NULL sni/alpn mean "" and match only that. */
        s = base;
        s.alpn = NULL;
        take_auto(c, &s, NOW, NULL);
        take_auto(c, &base, NOW, "secret");
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_newest_wins_and_single_use) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope s = scope(1000, "example.org");
        uint64_t a, b, d;

        a = store(c, &s, "reusable", NOW + 100 * SEC, false);
        b = store(c, &s, "first 1.3", NOW + 100 * SEC, true);
        d = store(c, &s, "second 1.3", NOW + 100 * SEC, true);
        ck_assert_uint_eq(entries(c), 3);

        ck_assert_uint_eq(take_auto(c, &s, NOW, "second 1.3"), d);
        ck_assert_uint_eq(take_auto(c, &s, NOW, "first 1.3"), b);
        ck_assert_uint_eq(entries(c), 1);
        /* A reusable (TLS 1.2) ticket stays. */
        ck_assert_uint_eq(take_auto(c, &s, NOW, "reusable"), a);
        ck_assert_uint_eq(take_auto(c, &s, NOW, "reusable"), a);
        ck_assert_uint_eq(entries(c), 1);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_expiry) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope s = scope(1000, "example.org");
        TicketCacheStats st;
        uint64_t old, young;

        old = store(c, &s, "old", NOW + 10 * SEC, false);
        young = store(c, &s, "young", NOW + 20 * SEC, false);
        store(c, &s, "newest but expiring first", NOW + 5 * SEC, false);

        take_auto(c, &s, NOW + 5 * SEC - 1, "newest but expiring first");
        /* Expired ones are skipped (and dropped): the next newest valid one is used. */
        ck_assert_uint_eq(take_auto(c, &s, NOW + 5 * SEC, "young"), young);
        ck_assert_int_eq(ticket_cache_take_id(c, 1000, old, NULL, NOW + 10 * SEC, &(void *){ NULL },
                                              &(size_t){ 0 }, NULL),
                         -ENOENT);
        ticket_cache_expire(c, NOW + 20 * SEC);
        ck_assert_uint_eq(entries(c), 0);
        ticket_cache_stats(c, 1000, &st);
        ck_assert_uint_eq(st.expired, 3);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_limits) {
        TicketCache *c = cache_new(3, 5);
        TicketScope a = scope(1, "a.example"), b = scope(2, "b.example");
        uint64_t ids[4];
        TicketCacheStats st;
        void *blob;
        size_t size;

        for (unsigned i = 0; i < 4; i++)
                ids[i] = store(c, &a, "a", NOW + 100 * SEC, false);
        /* The uid's fourth pushed out its oldest. */
        ck_assert_int_eq(ticket_cache_take_id(c, 1, ids[0], NULL, NOW, &blob, &size, NULL),
                         -ENOENT);
        ticket_cache_stats(c, 1, &st);
        ck_assert_uint_eq(st.entries, 3);
        ck_assert_uint_eq(st.evicted, 1);

        /* Uid 2 fills the cache: the oldest of all (uid 1's) go. */
        for (unsigned i = 0; i < 3; i++)
                store(c, &b, "b", NOW + 100 * SEC, false);
        ck_assert_uint_eq(entries(c), 5);
        ck_assert_int_eq(ticket_cache_take_id(c, 1, ids[1], NULL, NOW, &blob, &size, NULL),
                         -ENOENT);
        ck_assert_int_eq(ticket_cache_take_id(c, 1, ids[2], NULL, NOW, &blob, &size, NULL), 0);
        free(blob);
        ticket_cache_stats(c, 1, &st);
        ck_assert_uint_eq(st.entries, 2);
        ck_assert_uint_eq(st.evicted, 2);
        ticket_cache_stats(c, 2, &st);
        ck_assert_uint_eq(st.entries, 3);
        ck_assert_uint_eq(st.evicted, 0);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_id_ownership) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope s = scope(1000, "example.org");
        TicketScopeCopy copy;
        uint64_t id, once;
        void *blob = NULL;
        size_t size = 0;

        s.dtls = true;
        s.port = 5684;
        id = store(c, &s, "mine", NOW + 100 * SEC, false);
        once = store(c, &s, "mine once", NOW + 100 * SEC, true);

        /* Another uid: the same answer as for an id that does not exist. */
        ck_assert_int_eq(ticket_cache_take_id(c, 1001, id, NULL, NOW, &blob, &size, &copy),
                         -ENOENT);
        ck_assert_int_eq(ticket_cache_take_id(c, 1000, id ^ 1, NULL, NOW, &blob, &size, &copy),
                         -ENOENT);
        ck_assert_int_eq(ticket_cache_remove(c, 1001, id), -ENOENT);
        ck_assert_uint_eq(entries(c), 2);

        ck_assert_int_eq(ticket_cache_take_id(c, 1000, id, NULL, NOW, &blob, &size, &copy), 0);
        ck_assert_str_eq(blob, "mine");
        free(blob);
        ck_assert_uint_eq(copy.uid, 1000);
        ck_assert_str_eq(copy.host, "example.org");
        ck_assert_str_eq(copy.sni, "example.org");
        ck_assert_str_eq(copy.alpn, "h2");
        ck_assert_uint_eq(copy.port, 5684);
        ck_assert(copy.dtls);
        ck_assert(!copy.single_use);
        ck_assert_uint_eq(copy.expires_at, NOW + 100 * SEC);
        ck_assert_mem_eq(copy.policy, s.policy, 32);
        ticket_scope_copy_done(&copy);

        /* Another peer name: refused, and the single-use ticket stays (a refused offer does
         * not use it up); the stored scope says what it is for. */
        {
                TicketScope other = s;

                other.host = "example.net";
                ck_assert_int_eq(
                        ticket_cache_take_id(c, 1000, once, &other, NOW, &blob, &size, &copy),
                        -EPERM);
                ck_assert_str_eq(copy.host, "example.org");
                ticket_scope_copy_done(&copy);
                other = s;
                other.port = 5685;
                ck_assert_int_eq(
                        ticket_cache_take_id(c, 1000, once, &other, NOW, &blob, &size, NULL),
                        -EPERM);
                ck_assert_uint_eq(entries(c), 2);
        }
        ck_assert_int_eq(ticket_cache_take_id(c, 1000, once, &s, NOW, &blob, &size, NULL), 0);
        free(blob);
        ck_assert_int_eq(ticket_cache_take_id(c, 1000, once, NULL, NOW, &blob, &size, NULL),
                         -ENOENT);

        ck_assert_int_eq(ticket_cache_remove(c, 1000, id), 0);
        ck_assert_uint_eq(entries(c), 0);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_ids_random) {
        TicketCache *c = cache_new(2000, 2000);
        TicketScope s = scope(1, "example.org");
        uint64_t ids[1000], or_bits = 0;
        unsigned small_steps = 0, duplicates = 0;

        for (unsigned i = 0; i < 1000; i++) {
                ids[i] = store(c, &s, "x", NOW + SEC, false);
                or_bits |= ids[i];
                for (unsigned j = 0; j < i; j++) /* no ck_assert here: each one costs a write */
                        duplicates += ids[i] == ids[j];
                if (i > 0 && (ids[i] - ids[i - 1] < 1000 || ids[i - 1] - ids[i] < 1000))
                        small_steps++;
        }
        ck_assert_uint_eq(duplicates, 0);
        /* Not a counter: consecutive ids are far apart and the top bits are used. */
        ck_assert_uint_lt(small_steps, 3);
        ck_assert_uint_eq(or_bits >> 56, 0xff);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_stats) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope a = scope(1, "a.example"), b = scope(2, "b.example");
        TicketCacheStats st;

        store(c, &a, "a", NOW + SEC, true);
        store(c, &b, "b", NOW + SEC, false);
        take_auto(c, &a, NOW, "a");
        take_auto(c, &a, NOW, NULL);
        ticket_cache_count_rejected(c, 2);

        ticket_cache_stats(c, 1, &st);
        ck_assert_uint_eq(st.entries, 0);
        ck_assert_uint_eq(st.stored, 1);
        ck_assert_uint_eq(st.hits, 1);
        ck_assert_uint_eq(st.misses, 1);
        ck_assert_uint_eq(st.rejected, 0);
        ticket_cache_stats(c, 2, &st);
        ck_assert_uint_eq(st.entries, 1);
        ck_assert_uint_eq(st.rejected, 1);
        ticket_cache_stats(c, TICKET_UID_ALL, &st);
        ck_assert_uint_eq(st.entries, 1);
        ck_assert_uint_eq(st.stored, 2);
        ck_assert_uint_eq(st.hits, 1);
        ck_assert_uint_eq(st.misses, 1);
        ck_assert_uint_eq(st.rejected, 1);
        ticket_cache_stats(c, 77, &st);
        ck_assert_uint_eq(st.stored + st.entries, 0);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_store_refuses) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope s = scope(1, "example.org");
        char long_name[TICKET_STRING_MAX + 1];
        static uint8_t big[TICKET_BLOB_MAX + 1];
        uint64_t id;

        ck_assert_int_eq(ticket_cache_store(c, &s, big, sizeof(big), NOW, false, &id), -EMSGSIZE);
        ck_assert_int_eq(ticket_cache_store(c, &s, big, 0, NOW, false, &id), -EINVAL);
        s.host = "";
        ck_assert_int_eq(ticket_cache_store(c, &s, "x", 1, NOW, false, &id), -EINVAL);
        s.host = NULL;
        ck_assert_int_eq(ticket_cache_store(c, &s, "x", 1, NOW, false, &id), -EINVAL);
        memset(long_name, 'a', TICKET_STRING_MAX);
        long_name[TICKET_STRING_MAX] = 0;
        s.host = long_name;
        ck_assert_int_eq(ticket_cache_store(c, &s, "x", 1, NOW, false, &id), -EINVAL);
        s = scope(TICKET_UID_ALL, "example.org");
        ck_assert_int_eq(ticket_cache_store(c, &s, "x", 1, NOW, false, &id), -EINVAL);
        s = scope(1, "example.org");
        s.port = 65536;
        ck_assert_int_eq(ticket_cache_store(c, &s, "x", 1, NOW, false, &id), -EINVAL);
        ck_assert_uint_eq(entries(c), 0);

        TicketCacheLimits zero = { 0, 1 };
        TicketCache *z = NULL;
        ck_assert_int_eq(ticket_cache_new(&zero, &z), -EINVAL);
        ticket_cache_free(c);
        ticket_cache_free(NULL);
}
END_TEST

/* ---- the cache file ---- */

/* A small valid image with two entries (of two uids). */
static void small_image(uint8_t **ret, size_t *ret_size) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope a = scope(1, "a.example"), b = scope(2, "b.example");
        void *buf;

        b.sni = "";
        b.dtls = true;
        store(c, &a, "session one", NOW + 100 * SEC, true);
        store(c, &b, "session two", NOW + 100 * SEC, false);
        ck_assert_int_eq(ticket_cache_save_buffer(c, &buf, ret_size), 0);
        *ret = buf;
        ticket_cache_free(c);
}

static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        ck_assert_int_eq(write(fd, data, size), (ssize_t) size);
        close(fd);
}

/* Loads path into a cache that had an entry; the result must be 0 and an empty cache. */
static void expect_discarded(const char *path) {
        TicketCache *c = cache_new(64, 4096);
        TicketScope s = scope(9, "stale.example");

        store(c, &s, "stale", NOW + 100 * SEC, false);
        ck_assert_int_eq(ticket_cache_load(c, path, NOW), 0);
        ck_assert_uint_eq(entries(c), 0);
        ticket_cache_free(c);
}

START_TEST(test_persist_round_trip) {
        TicketCache *c = cache_new(64, 4096), *d = cache_new(64, 4096);
        TicketScope a = scope(1, "a.example"), b = scope(2, "b.example");
        const char *path = path_in_dir("tickets");
        TicketScopeCopy copy;
        TicketCacheStats st;
        uint64_t ia, ib, gone;
        struct stat sb;
        void *blob;
        size_t size;

        b.alpn = "";
        b.port = 853;
        ia = store(c, &a, "session a", NOW + 100 * SEC, true);
        ib = store(c, &b, "session b", NOW + 200 * SEC, false);
        gone = store(c, &a, "expired by then", NOW + 10 * SEC, false);

        umask(0); /* the file is 0600 whatever the umask */
        ck_assert_int_eq(ticket_cache_save(c, path), 0);
        umask(022);
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);

        ck_assert_int_eq(ticket_cache_load(d, path, NOW + 50 * SEC), 0);
        ck_assert_uint_eq(entries(d), 2);
        ticket_cache_stats(d, 1, &st);
        ck_assert_uint_eq(st.expired, 1);
        ck_assert_int_eq(ticket_cache_take_id(d, 1, gone, NULL, NOW, &blob, &size, NULL), -ENOENT);

        ck_assert_int_eq(ticket_cache_take_id(d, 2, ib, NULL, NOW, &blob, &size, &copy), 0);
        ck_assert_str_eq(blob, "session b");
        free(blob);
        ck_assert_str_eq(copy.host, "b.example");
        ck_assert_str_eq(copy.alpn, "");
        ck_assert_uint_eq(copy.port, 853);
        ck_assert_uint_eq(copy.expires_at, NOW + 200 * SEC);
        ck_assert(!copy.single_use);
        ticket_scope_copy_done(&copy);
        /* Single use survives the trip, and automatic lookup works on loaded entries. */
        ck_assert_uint_eq(take_auto(d, &a, NOW, "session a"), ia);
        take_auto(d, &a, NOW, NULL);

        /* Saving over the file leaves nothing else behind in the directory. */
        ck_assert_int_eq(ticket_cache_save(d, path), 0);
        unsigned n = 0;
        DIR *dd = opendir(dir);
        for (struct dirent *de; (de = readdir(dd));)
                n += de->d_name[0] != '.';
        closedir(dd);
        ck_assert_uint_eq(n, 1);

        ticket_cache_free(c);
        ticket_cache_free(d);
}
END_TEST

START_TEST(test_load_keeps_order_and_limits) {
        TicketCache *c = cache_new(64, 4096), *d = cache_new(2, 4096);
        TicketScope s = scope(1, "example.org");
        const char *path = path_in_dir("tickets");

        store(c, &s, "1", NOW + 100 * SEC, false);
        store(c, &s, "2", NOW + 100 * SEC, false);
        store(c, &s, "3", NOW + 100 * SEC, false);
        ck_assert_int_eq(ticket_cache_save(c, path), 0);
        /* A smaller limit at load: the oldest give way, the newest is still found first. */
        ck_assert_int_eq(ticket_cache_load(d, path, NOW), 0);
        ck_assert_uint_eq(entries(d), 2);
        take_auto(d, &s, NOW, "3");
        ticket_cache_free(c);
        ticket_cache_free(d);
}
END_TEST

START_TEST(test_missing_and_empty_file) {
        const char *path = path_in_dir("tickets");

        log_set_max_level(LOG_ERR); /* the empty file is warned about (test_warning_names_file) */
        expect_discarded(path_in_dir("does-not-exist"));
        write_file(path, "", 0, 0600);
        expect_discarded(path);
}
END_TEST

START_TEST(test_every_truncation) {
        const char *path = path_in_dir("tickets");
        TicketCache *c = cache_new(64, 4096);
        uint8_t *img;
        size_t size;

        small_image(&img, &size);
        ck_assert_int_eq(ticket_cache_load_buffer(c, img, size, NOW), 0);
        ck_assert_uint_eq(entries(c), 2);
        log_set_max_level(LOG_ERR); /* one warning per length otherwise */
        for (size_t n = 0; n < size; n++) {
                ck_assert_int_eq(ticket_cache_load_buffer(c, img, n, NOW), -EBADMSG);
                ck_assert_uint_eq(entries(c), 0);
                write_file(path, img, n, 0600);
                expect_discarded(path);
        }
        /* One byte too many is as bad. */
        img = realloc(img, size + 1);
        img[size] = 0;
        ck_assert_int_eq(ticket_cache_load_buffer(c, img, size + 1, NOW), -EBADMSG);
        free(img);
        ticket_cache_free(c);
}
END_TEST

START_TEST(test_every_bit_flip) {
        TicketCache *c = cache_new(64, 4096);
        uint8_t *img;
        size_t size;

        small_image(&img, &size);
        for (size_t i = 0; i < size * 8; i++) {
                img[i / 8] ^= (uint8_t) (1u << (i % 8));
                ck_assert_int_eq(ticket_cache_load_buffer(c, img, size, NOW), -EBADMSG);
                ck_assert_uint_eq(entries(c), 0);
                img[i / 8] ^= (uint8_t) (1u << (i % 8));
        }
        ck_assert_int_eq(ticket_cache_load_buffer(c, img, size, NOW), 0);
        free(img);
        ticket_cache_free(c);
}
END_TEST

/* Puts back a valid checksum after an edit, so that the check behind it is what is tested. */
static void reseal(uint8_t *img, size_t size) {
        ck_assert_int_eq(engine_sha256(img, size - 32, img + size - 32), 0);
}

static void put_le(uint8_t *p, uint64_t v, unsigned width) {
        for (unsigned i = 0; i < width; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

START_TEST(test_bad_headers_and_lengths) {
        TicketCache *c = cache_new(64, 4096);
        uint8_t *img, *copy;
        size_t size;
        /* offsets in the first entry (see ticket-cache.c) */
        const size_t entry = TICKET_FILE_HEADER_SIZE, host_len = entry + 8 + 4 + 2 + 2 + 8 + 32,
                     blob_len = host_len + 6;
        struct {
                size_t offset;
                uint64_t value;
                unsigned width;
        } edits[] = {
                { 0, 0x4b534c54, 4 }, /* magic */
                { 8, 2, 4 },          /* format version */
                { 8, 0, 4 },
                { 12, 0xffffffff, 4 }, /* entry count */
                { 12, 3, 4 },
                { 12, 1, 4 },
                { 16, 0xffffffff, 4 }, /* payload size */
                { 20, 0xffffffff, 4 },
                { entry, 0, 8 },              /* id 0 */
                { entry + 8, 0xffffffff, 4 }, /* uid -1 */
                { entry + 14, 4, 2 },         /* unknown flag */
                { host_len, 0, 2 },           /* empty host */
                { host_len, 0xffff, 2 },      /* lengths past the end */
                { host_len + 2, 0xffff, 2 },
                { blob_len, 0xffffffff, 4 },
                { blob_len, 0, 4 },
                { host_len + 8 + 2, 0, 1 }, /* a NUL in the host name */
        };

        small_image(&img, &size);
        copy = malloc(size);
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                memcpy(copy, img, size);
                put_le(copy + edits[i].offset, edits[i].value, edits[i].width);
                reseal(copy, size);
                ck_assert_msg(ticket_cache_load_buffer(c, copy, size, NOW) == -EBADMSG,
                              "edit %zu accepted", i);
                ck_assert_uint_eq(entries(c), 0);
        }
        /* Two entries with the same id. */
        memcpy(copy, img, size);
        {
                size_t first_size = 66 + strlen("a.example") * 2 + 2 + strlen("session one") + 1;

                memcpy(copy + entry + first_size, copy + entry, 8);
        }
        reseal(copy, size);
        ck_assert_int_eq(ticket_cache_load_buffer(c, copy, size, NOW), -EBADMSG);
        free(copy);
        free(img);
        ticket_cache_free(c);
}
END_TEST

/* Runs f with stderr going to a file; returns what was written. */
static char *capture_stderr(void (*f)(const char *), const char *arg) {
        const char *out = path_in_dir("stderr");
        int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), saved = dup(2);
        char *buf = calloc(1, 4096);

        ck_assert_int_ge(fd, 0);
        fflush(stderr);
        dup2(fd, 2);
        f(arg);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        ck_assert_int_ge(pread(fd, buf, 4095, 0), 0);
        close(fd);
        unlink(out);
        return buf;
}

START_TEST(test_warning_names_file) {
        const char *path = path_in_dir("tickets");
        uint8_t *img;
        size_t size;
        char *err;

        small_image(&img, &size);
        img[size / 2] ^= 0x10;
        write_file(path, img, size, 0600);
        unsetenv("JOURNAL_STREAM");
        log_open();
        err = capture_stderr(expect_discarded, path);
        ck_assert_msg(strstr(err, path) && strstr(err, "checksum mismatch"), "got '%s'", err);
        free(err);

        /* Readable by others: not trusted, even when intact. */
        img[size / 2] ^= 0x10;
        write_file(path, img, size, 0644);
        err = capture_stderr(expect_discarded, path);
        ck_assert_msg(strstr(err, path) && strstr(err, "0600"), "got '%s'", err);
        free(err);
        free(img);
}
END_TEST

START_TEST(test_odd_files) {
        const char *path = path_in_dir("tickets");
        int fd;

        log_set_max_level(LOG_ERR);
        /* A directory, a FIFO (must not block), a symlink, an oversized sparse file. */
        ck_assert_int_eq(mkdir(path, 0700), 0);
        expect_discarded(path);
        ck_assert_int_eq(rmdir(path), 0);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        expect_discarded(path);
        unlink(path);
        ck_assert_int_eq(symlink("/dev/null", path), 0);
        expect_discarded(path);
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_eq(ftruncate(fd, TICKET_CACHE_FILE_MAX + 1), 0);
        close(fd);
        expect_discarded(path);
}
END_TEST

START_TEST(test_save_size_cap) {
        TicketCache *c = cache_new(4096, 4096), *d = cache_new(4096, 4096);
        TicketScope s = scope(1, "example.org");
        static uint8_t blob[TICKET_BLOB_MAX];
        const char *path = path_in_dir("tickets");
        uint64_t id;
        struct stat st;

        /* 300 x 64 KiB is more than the file may hold: the oldest are left out. */
        for (unsigned i = 0; i < 300; i++) {
                blob[0] = (uint8_t) i;
                ck_assert_int_eq(
                        ticket_cache_store(c, &s, blob, sizeof(blob), NOW + SEC, false, &id), 0);
        }
        ck_assert_int_eq(ticket_cache_save(c, path), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_le(st.st_size, TICKET_CACHE_FILE_MAX);
        ck_assert_int_eq(ticket_cache_load(d, path, NOW), 0);
        ck_assert_uint_gt(entries(d), 200);
        ck_assert_uint_lt(entries(d), 300);
        void *b;
        size_t n;
        ck_assert_int_eq(ticket_cache_take_auto(d, &s, NOW, &b, &n, &id), 0);
        ck_assert_uint_eq(((uint8_t *) b)[0], 299 % 256);
        free(b);
        ticket_cache_free(c);
        ticket_cache_free(d);
}
END_TEST

/* ---- ticket keys ---- */

START_TEST(test_keys_rotation_and_grace) {
        TicketKeys *k = NULL;
        const TicketKey *cur;
        TicketKey first, second;
        bool rotated, is_current;
        uint64_t t0;

        ck_assert_int_eq(ticket_keys_new(0, 0, &k), -EINVAL);
        ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &k), 0);
        ck_assert(ticket_keys_dirty(k));
        cur = ticket_keys_current(k, ticket_keys_now(k), &rotated);
        ck_assert(!rotated);
        first = *cur;
        t0 = first.created;

        ck_assert_uint_eq(ticket_keys_current(k, t0 + 100 * SEC - 1, &rotated)->created, t0);
        ck_assert(!rotated);
        second = *ticket_keys_current(k, t0 + 100 * SEC, &rotated);
        ck_assert(rotated);
        ck_assert_mem_ne(second.name, first.name, 16);
        ck_assert_mem_ne(second.key, first.key, 32);
        ck_assert_uint_eq(ticket_keys_count(k), 2);

        ck_assert_ptr_nonnull(ticket_keys_find(k, first.name, t0 + 149 * SEC, &is_current));
        ck_assert(!is_current);
        ck_assert_ptr_null(ticket_keys_find(k, first.name, t0 + 150 * SEC, NULL));
        ck_assert_ptr_nonnull(ticket_keys_find(k, second.name, t0 + 150 * SEC, &is_current));
        ck_assert(is_current);
        uint8_t unknown[16] = { 1 };
        ck_assert_ptr_null(ticket_keys_find(k, unknown, t0, NULL));

        /* The next rotation drops the expired first key. */
        ck_assert_int_eq(ticket_keys_rotate(k, t0 + 160 * SEC), 0);
        ck_assert_uint_eq(ticket_keys_count(k), 2);
        ck_assert_ptr_null(ticket_keys_find(k, first.name, t0, NULL));

        /* A clock stepped back by more than a period rotates; by less does not. */
        ticket_keys_current(k, t0 + 100 * SEC, &rotated);
        ck_assert(!rotated);
        ticket_keys_current(k, t0 + 50 * SEC, &rotated);
        ck_assert(rotated);
        ticket_keys_free(k);
}
END_TEST

START_TEST(test_keys_bounded) {
        TicketKeys *k = NULL;
        uint64_t t = 1000 * SEC;

        ck_assert_int_eq(ticket_keys_new(SEC, 1000000 * SEC, &k), 0);
        for (unsigned i = 0; i < 3 * TICKET_KEYS_MAX; i++)
                ck_assert_int_eq(ticket_keys_rotate(k, t += SEC), 0);
        ck_assert_uint_eq(ticket_keys_count(k), TICKET_KEYS_MAX);
        ticket_keys_free(k);
}
END_TEST

static void keys_equal(TicketKeys *a, TicketKeys *b, uint64_t now) {
        TicketKey ka, kb;

        ck_assert_int_eq(ticket_keys_current_copy(a, now, &ka, NULL), 0);
        ck_assert_int_eq(ticket_keys_current_copy(b, now, &kb, NULL), 0);
        ck_assert_mem_eq(&ka, &kb, sizeof(ka));
}

START_TEST(test_keys_persist) {
        const char *path = path_in_dir("ticket-keys"), *fresh = path_in_dir("fresh"),
                   *missing = path_in_dir("missing");
        TicketKeys *k = NULL, *l = NULL;
        TicketKey old, cur;
        uint8_t buf[4096];
        struct stat st;
        uint64_t t0;
        ssize_t n;
        int fd;

        ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &k), 0);
        t0 = ticket_keys_current(k, ticket_keys_now(k), NULL)->created;
        old = *ticket_keys_current(k, t0, NULL);
        ck_assert_int_eq(ticket_keys_rotate(k, t0 + 10 * SEC), 0);
        cur = *ticket_keys_current(k, t0 + 10 * SEC, NULL);

        umask(0);
        ck_assert_int_eq(ticket_keys_save(k, path), 0);
        umask(022);
        ck_assert(!ticket_keys_dirty(k));
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);

        /* A restart: both keys back, the same, in the same roles, and not dirty. */
        ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &l), 0);
        ck_assert_int_eq(ticket_keys_load(l, path, t0 + 20 * SEC), 0);
        ck_assert(!ticket_keys_dirty(l));
        ck_assert_uint_eq(ticket_keys_count(l), 2);
        keys_equal(k, l, t0 + 20 * SEC);
        ck_assert_mem_eq(ticket_keys_find(l, old.name, t0 + 20 * SEC, NULL), &old, sizeof(old));
        ck_assert_mem_eq(ticket_keys_find(l, cur.name, t0 + 20 * SEC, NULL), &cur, sizeof(cur));
        ticket_keys_free(l);

        /* Loaded after the old key's grace: only the current one comes back (dirty: the file
         * still has the old one). */
        ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &l), 0);
        ck_assert_int_eq(ticket_keys_load(l, path, t0 + 150 * SEC), 0);
        ck_assert_uint_eq(ticket_keys_count(l), 1);
        ck_assert(ticket_keys_dirty(l));
        ck_assert_ptr_nonnull(ticket_keys_find(l, cur.name, t0 + 150 * SEC, NULL));
        ticket_keys_free(l);

        /* Corrupt (any bit), truncated, missing: our own fresh keys, dirty, no failure. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = read(fd, buf, sizeof(buf));
        close(fd);
        ck_assert_int_gt(n, 0);
        log_set_max_level(LOG_ERR);
        for (ssize_t i = 0; i < n * 8; i += 7) {
                buf[i / 8] ^= (uint8_t) (1u << (i % 8));
                write_file(path, buf, (size_t) n, 0600);
                buf[i / 8] ^= (uint8_t) (1u << (i % 8));
                ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &l), 0);
                ck_assert_int_eq(ticket_keys_save(l, fresh), 0);
                ck_assert_int_eq(ticket_keys_load(l, path, t0 + 20 * SEC), 0);
                ck_assert_msg(ticket_keys_dirty(l), "bit %zd", i);
                ck_assert_uint_eq(ticket_keys_count(l), 1);
                ck_assert_ptr_null(ticket_keys_find(l, cur.name, t0 + 20 * SEC, NULL));
                ticket_keys_free(l);
        }
        for (ssize_t len = 0; len < n; len++) {
                write_file(path, buf, (size_t) len, 0600);
                ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &l), 0);
                ck_assert_int_eq(ticket_keys_load(l, path, t0 + 20 * SEC), 0);
                ck_assert_uint_eq(ticket_keys_count(l), 1);
                ticket_keys_free(l);
        }
        ck_assert_int_eq(ticket_keys_new(100 * SEC, 50 * SEC, &l), 0);
        ck_assert_int_eq(ticket_keys_load(l, missing, t0), 0);
        ck_assert(ticket_keys_dirty(l));
        ticket_keys_free(l);
        ticket_keys_free(k);
        ticket_keys_free(NULL);
}
END_TEST

/* ---- real resumption, two wolfSSL ends over a socketpair ---- */

typedef struct Identity {
        uint8_t cert[2048], key[256];
        int cert_size, key_size;
} Identity;

/* A throw-away self-signed ECDSA P-256 certificate: the client does not verify it, the tests
 * are about tickets. */
static void make_identity(Identity *id) {
        ecc_key key;
        WC_RNG rng;
        Cert cert;

        ck_assert_int_eq(wc_InitRng(&rng), 0);
        ck_assert_int_eq(wc_ecc_init(&key), 0);
        ck_assert_int_eq(wc_ecc_make_key(&rng, 32, &key), 0);
        ck_assert_int_eq(wc_InitCert(&cert), 0);
        snprintf(cert.subject.commonName, sizeof(cert.subject.commonName), "localhost");
        cert.sigType = CTC_SHA256wECDSA;
        cert.daysValid = 2;
        ck_assert_int_ge(wc_MakeCert_ex(&cert, id->cert, sizeof(id->cert), ECC_TYPE, &key, &rng),
                         0);
        id->cert_size = wc_SignCert_ex(cert.bodySz, cert.sigType, id->cert, sizeof(id->cert),
                                       ECC_TYPE, &key, &rng);
        ck_assert_int_gt(id->cert_size, 0);
        id->key_size = wc_EccKeyToDer(&key, id->key, sizeof(id->key));
        ck_assert_int_gt(id->key_size, 0);
        wc_ecc_free(&key);
        wc_FreeRng(&rng);
}

typedef struct Outcome {
        bool ok;          /* handshake completed on both ends */
        int client_error; /* wolfSSL_get_error() of a failed client */
        bool resumed;
        unsigned tickets; /* NewSessionTicket callbacks on the client */
        uint8_t *session; /* i2d of the client's session afterwards */
        int session_size;
        uint8_t ticket_key_name[16]; /* first bytes of the client's ticket: the key's name */
} Outcome;

static int on_ticket(WOLFSSL *ssl, const unsigned char *ticket, int size, void *userdata) {
        ((Outcome *) userdata)->tickets++;
        return 0;
}

typedef enum Proto {
        TLS12,
        TLS13,
        DTLS12,
        DTLS13
} Proto;

static WOLFSSL_METHOD *client_method(Proto p) {
        switch (p) {
        case TLS12:
                return wolfTLSv1_2_client_method();
        case TLS13:
                return wolfTLSv1_3_client_method();
        case DTLS12:
                return wolfDTLSv1_2_client_method();
        case DTLS13:
                return wolfDTLSv1_3_client_method();
        }
        return NULL;
}

/* One connection: a fresh server context (as a fresh server process would have, no session
 * cache) with tickets bound by b; the client offers session if given. */
static Outcome connect_bound(const Identity *id, EngineTicketBinding *b, Proto proto,
                             const uint8_t *session, int session_size) {
        bool dtls = proto == DTLS12 || proto == DTLS13;
        WOLFSSL_CTX *sctx =
                wolfSSL_CTX_new(dtls ? wolfDTLS_server_method() : wolfSSLv23_server_method());
        WOLFSSL_CTX *cctx = wolfSSL_CTX_new(client_method(proto));
        WOLFSSL_SESSION *sess = NULL;
        Outcome o = {};
        WOLFSSL *s, *c;
        int fd[2], rc = 0, rs = 0;
        char one;

        ck_assert_ptr_nonnull(sctx);
        ck_assert_ptr_nonnull(cctx);
        ck_assert_int_eq(wolfSSL_CTX_use_certificate_buffer(sctx, id->cert, id->cert_size,
                                                            WOLFSSL_FILETYPE_ASN1),
                         WOLFSSL_SUCCESS);
        ck_assert_int_eq(wolfSSL_CTX_use_PrivateKey_buffer(sctx, id->key, id->key_size,
                                                           WOLFSSL_FILETYPE_ASN1),
                         WOLFSSL_SUCCESS);
        wolfSSL_CTX_set_session_cache_mode(sctx, WOLFSSL_SESS_CACHE_OFF);
        ck_assert_int_eq(engine_ticket_server_setup(sctx, b), 0);
        wolfSSL_CTX_set_verify(cctx, WOLFSSL_VERIFY_NONE, NULL);

        /* DTLS over a datagram socketpair: nothing is lost, so no retransmission timers. */
        ck_assert_int_eq(
                socketpair(AF_UNIX,
                           (dtls ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd),
                0);
        s = wolfSSL_new(sctx);
        c = wolfSSL_new(cctx);
        wolfSSL_set_fd(s, fd[0]);
        wolfSSL_set_fd(c, fd[1]);
        if (dtls) {
                wolfSSL_dtls_set_using_nonblock(s, 1);
                wolfSSL_dtls_set_using_nonblock(c, 1);
        }
        if (proto == TLS12 || proto == DTLS12)
                ck_assert_int_eq(wolfSSL_UseSessionTicket(c), WOLFSSL_SUCCESS);
        ck_assert_int_eq(wolfSSL_set_SessionTicket_cb(c, on_ticket, &o), WOLFSSL_SUCCESS);
        if (session) {
                const unsigned char *p = session;

                sess = wolfSSL_d2i_SSL_SESSION(NULL, &p, session_size);
                ck_assert_ptr_nonnull(sess);
                ck_assert_int_eq(wolfSSL_set_session(c, sess), WOLFSSL_SUCCESS);
                wolfSSL_SESSION_free(sess);
        }

        for (unsigned i = 0; i < 100 && !(rc == WOLFSSL_SUCCESS && rs == WOLFSSL_SUCCESS); i++) {
                if (rc != WOLFSSL_SUCCESS) {
                        rc = wolfSSL_connect(c);
                        if (rc != WOLFSSL_SUCCESS &&
                            wolfSSL_get_error(c, rc) != WOLFSSL_ERROR_WANT_READ) {
                                o.client_error = wolfSSL_get_error(c, rc);
                                break;
                        }
                }
                if (rs != WOLFSSL_SUCCESS) {
                        rs = wolfSSL_accept(s);
                        if (rs != WOLFSSL_SUCCESS &&
                            wolfSSL_get_error(s, rs) != WOLFSSL_ERROR_WANT_READ)
                                break;
                }
        }
        o.ok = rc == WOLFSSL_SUCCESS && rs == WOLFSSL_SUCCESS;
        if (o.ok) {
                /* TLS 1.3 tickets come after the handshake: a read on the client takes them. */
                ck_assert_int_eq(wolfSSL_write(s, "x", 1), 1);
                ck_assert_int_eq(wolfSSL_read(c, &one, 1), 1);
                o.resumed = wolfSSL_session_reused(c);
                ck_assert_int_eq(wolfSSL_session_reused(s), o.resumed);

                unsigned char ticket[2048], *p;
                word32 n = sizeof(ticket);
                ck_assert_int_eq(wolfSSL_get_SessionTicket(c, ticket, &n), WOLFSSL_SUCCESS);
                ck_assert_uint_ge(n, 16);
                memcpy(o.ticket_key_name, ticket, 16);

                sess = wolfSSL_get1_session(c);
                ck_assert_ptr_nonnull(sess);
                o.session_size = wolfSSL_i2d_SSL_SESSION(sess, NULL);
                ck_assert_int_gt(o.session_size, 0);
                o.session = malloc((size_t) o.session_size);
                p = o.session;
                ck_assert_int_eq(wolfSSL_i2d_SSL_SESSION(sess, &p), o.session_size);
                wolfSSL_SESSION_free(sess);
        }
        wolfSSL_free(c);
        wolfSSL_free(s);
        wolfSSL_CTX_free(cctx);
        wolfSSL_CTX_free(sctx);
        close(fd[0]);
        close(fd[1]);
        return o;
}

/* The policy hash the tests' servers have, unless a test says otherwise. */
static const uint8_t default_policy[ENGINE_TICKET_POLICY_SIZE] = { 0x50, 0x6f, 0x6c };

/* connect_bound() for uid 1000 and default_policy. */
static Outcome connect_once(const Identity *id, TicketKeys *keys, Proto proto,
                            const uint8_t *session, int session_size) {
        EngineTicketBinding b = { .keys = ticket_keys_engine(keys),
                                  .uid = 1000,
                                  .policy = default_policy };

        return connect_bound(id, &b, proto, session, session_size);
}

static uint64_t fake_clock(void *userdata) {
        return *(uint64_t *) userdata;
}

typedef struct Fixture {
        Identity id;
        TicketKeys *keys;
        uint64_t now;
} Fixture;

static void fixture_init(Fixture *f, uint64_t rotate, uint64_t grace) {
        ck_assert_int_eq(wolfSSL_Init(), WOLFSSL_SUCCESS);
        make_identity(&f->id);
        ck_assert_int_eq(ticket_keys_new(rotate, grace, &f->keys), 0);
        f->now = ticket_keys_now(f->keys);
        ticket_keys_set_clock(f->keys, fake_clock, &f->now);
}

static void fixture_done(Fixture *f) {
        ticket_keys_free(f->keys);
        wolfSSL_Cleanup();
}

static const uint8_t *current_name(Fixture *f) {
        return ticket_keys_current(f->keys, f->now, NULL)->name;
}

/* The client path as tlsd will run it: the session goes through the ticket cache. */
START_TEST(test_tls13_resume) {
        TicketCache *cache = cache_new(64, 4096);
        TicketScope s = scope(1000, "localhost");
        Fixture f;
        Outcome full, again;
        void *blob;
        size_t size;
        uint64_t id;

        fixture_init(&f, 3600 * SEC, 3600 * SEC);
        full = connect_once(&f.id, f.keys, TLS13, NULL, 0);
        ck_assert(full.ok);
        ck_assert(!full.resumed);
        ck_assert_uint_ge(full.tickets, 1);
        ck_assert_mem_eq(full.ticket_key_name, current_name(&f), 16);
        ck_assert_int_eq(ticket_cache_store(cache, &s, full.session, (size_t) full.session_size,
                                            NOW, true, &id),
                         0);

        ck_assert_int_eq(ticket_cache_take_auto(cache, &s, NOW - 1, &blob, &size, &id), 0);
        again = connect_once(&f.id, f.keys, TLS13, blob, (int) size);
        ck_assert(again.ok);
        ck_assert(again.resumed);
        free(blob);
        free(full.session);
        free(again.session);
        ticket_cache_free(cache);
        fixture_done(&f);
}
END_TEST

START_TEST(test_tls13_rotation_grace) {
        Fixture f;
        Outcome first, within, after, fresh;
        uint8_t old_name[16];

        fixture_init(&f, 3600 * SEC, 1800 * SEC);
        first = connect_once(&f.id, f.keys, TLS13, NULL, 0);
        ck_assert(first.ok);
        memcpy(old_name, first.ticket_key_name, 16);

        /* Rotated: the old key's ticket still resumes (RET_OK for 1.3, not RET_CREATE, which
         * wolfSSL 5.7.2 would turn into a full handshake); the new ticket is under the new key. */
        ck_assert_int_eq(ticket_keys_rotate(f.keys, f.now += SEC), 0);
        within = connect_once(&f.id, f.keys, TLS13, first.session, first.session_size);
        ck_assert(within.ok);
        ck_assert(within.resumed);
        ck_assert_mem_ne(within.ticket_key_name, old_name, 16);
        ck_assert_mem_eq(within.ticket_key_name, current_name(&f), 16);

        /* After created + rotate + grace: rejected, and that is a full handshake, not a failure. */
        f.now += 5400 * SEC;
        after = connect_once(&f.id, f.keys, TLS13, first.session, first.session_size);
        ck_assert(after.ok);
        ck_assert(!after.resumed);

        /* A rotation inside the callback (the current key grew old) marks the keys dirty. */
        ck_assert_int_eq(ticket_keys_save(f.keys, path_in_dir("keys")), 0);
        ck_assert(!ticket_keys_dirty(f.keys));
        f.now += 3600 * SEC;
        fresh = connect_once(&f.id, f.keys, TLS13, NULL, 0);
        ck_assert(fresh.ok);
        ck_assert(ticket_keys_dirty(f.keys));

        free(first.session);
        free(within.session);
        free(after.session);
        free(fresh.session);
        fixture_done(&f);
}
END_TEST

START_TEST(test_tls13_restart) {
        const char *path = path_in_dir("ticket-keys");
        Fixture f;
        Outcome first, resumed, stranger;
        TicketKeys *other = NULL;

        fixture_init(&f, 3600 * SEC, 3600 * SEC);
        first = connect_once(&f.id, f.keys, TLS13, NULL, 0);
        ck_assert(first.ok);
        ck_assert_int_eq(ticket_keys_save(f.keys, path), 0);
        ticket_keys_free(f.keys);

        /* The restarted server loads its keys: the ticket from before resumes. */
        ck_assert_int_eq(ticket_keys_new(3600 * SEC, 3600 * SEC, &f.keys), 0);
        ck_assert_int_eq(ticket_keys_load(f.keys, path, f.now), 0);
        ticket_keys_set_clock(f.keys, fake_clock, &f.now);
        resumed = connect_once(&f.id, f.keys, TLS13, first.session, first.session_size);
        ck_assert(resumed.ok);
        ck_assert(resumed.resumed);

        /* Without them (fresh keys), the same ticket gets a full handshake. */
        ck_assert_int_eq(ticket_keys_new(3600 * SEC, 3600 * SEC, &other), 0);
        stranger = connect_once(&f.id, other, TLS13, first.session, first.session_size);
        ck_assert(stranger.ok);
        ck_assert(!stranger.resumed);

        ticket_keys_free(other);
        free(first.session);
        free(resumed.session);
        free(stranger.session);
        fixture_done(&f);
}
END_TEST

START_TEST(test_tls12_reissue) {
        Fixture f;
        Outcome first, reissued, current, after, retry;
        uint8_t old_name[16];

        fixture_init(&f, 3600 * SEC, 1800 * SEC);
        first = connect_once(&f.id, f.keys, TLS12, NULL, 0);
        ck_assert(first.ok);
        ck_assert(!first.resumed);
        memcpy(old_name, first.ticket_key_name, 16);
        ck_assert_mem_eq(old_name, current_name(&f), 16);

        /* Resumes, and RET_CREATE makes the server issue a ticket under the new key. */
        ck_assert_int_eq(ticket_keys_rotate(f.keys, f.now += SEC), 0);
        reissued = connect_once(&f.id, f.keys, TLS12, first.session, first.session_size);
        ck_assert(reissued.ok);
        ck_assert(reissued.resumed);
        ck_assert_uint_ge(reissued.tickets, 1);
        ck_assert_mem_eq(reissued.ticket_key_name, current_name(&f), 16);
        ck_assert_mem_ne(reissued.ticket_key_name, old_name, 16);

        /* The reissued ticket resumes under the current key (RET_OK). */
        current = connect_once(&f.id, f.keys, TLS12, reissued.session, reissued.session_size);
        ck_assert(current.ok);
        ck_assert(current.resumed);

        /* The old ticket after grace is rejected. wolfSSL's TLS 1.2 client then aborts the
         * handshake (WOLFSSL-NOTES: -373 / -308) instead of going on with a full one; tlsd
         * retries once without the ticket, as here. */
        f.now += 5400 * SEC;
        after = connect_once(&f.id, f.keys, TLS12, first.session, first.session_size);
        ck_assert(!after.resumed);
        if (!after.ok) {
                ck_assert_msg(after.client_error == -373 || after.client_error == -308,
                              "client error %d", after.client_error);
                retry = connect_once(&f.id, f.keys, TLS12, NULL, 0);
                ck_assert(retry.ok);
                ck_assert(!retry.resumed);
                free(retry.session);
        }
        free(first.session);
        free(reissued.session);
        free(current.session);
        free(after.session);
        fixture_done(&f);
}
END_TEST

/* DTLS 1.2 and 1.3 take the same paths: a rotated key within grace resumes (1.2 through
 * RET_CREATE, 1.3 through RET_OK), and the client ends up with a ticket under the new key. */
START_TEST(test_dtls_rotation) {
        static const Proto protos[] = { DTLS12, DTLS13 };
        Fixture f;
        Outcome first, within;

        fixture_init(&f, 3600 * SEC, 1800 * SEC);
        first = connect_once(&f.id, f.keys, protos[_i], NULL, 0);
        ck_assert(first.ok);
        ck_assert(!first.resumed);
        ck_assert_mem_eq(first.ticket_key_name, current_name(&f), 16);

        ck_assert_int_eq(ticket_keys_rotate(f.keys, f.now += SEC), 0);
        within = connect_once(&f.id, f.keys, protos[_i], first.session, first.session_size);
        ck_assert(within.ok);
        ck_assert(within.resumed);
        ck_assert_mem_eq(within.ticket_key_name, current_name(&f), 16);
        free(first.session);
        free(within.session);
        fixture_done(&f);
}
END_TEST

/* An association without its copy of the policy (engine.c's hook finds none). */
static const uint8_t *no_handshake_policy(WOLFSSL *ssl) {
        return NULL;
}

/* A ticket resumes only under the binding it was issued with: another uid, another policy
 * hash, a policy changed in place after the ticket (a later Configure), or a server that asks
 * for client certificates gets a full handshake; an association with no policy of its own
 * neither accepts nor issues one. TLS 1.2 and 1.3, DTLS 1.2 and 1.3. */
START_TEST(test_binding_mismatch) {
        static const Proto protos[] = { TLS12, TLS13, DTLS12, DTLS13 };
        Proto proto = protos[_i];
        uint8_t policy[ENGINE_TICKET_POLICY_SIZE], other_policy[ENGINE_TICKET_POLICY_SIZE];
        struct {
                const char *what;
                EngineTicketBinding b;
        } cases[4];
        EngineTicketBinding issuer, same;
        Outcome first, again;
        Fixture f;

        fixture_init(&f, 3600 * SEC, 3600 * SEC);
        memset(policy, 0xa5, sizeof(policy));
        memcpy(other_policy, policy, sizeof(policy));
        other_policy[ENGINE_TICKET_POLICY_SIZE - 1] ^= 1;
        issuer = (EngineTicketBinding){ .keys = ticket_keys_engine(f.keys),
                                        .uid = 1000,
                                        .policy = policy };
        cases[0].what = "another uid";
        cases[0].b = (EngineTicketBinding){ .keys = ticket_keys_engine(f.keys),
                                            .uid = 1001,
                                            .policy = policy };
        cases[1].what = "uid 0";
        cases[1].b = (EngineTicketBinding){ .keys = ticket_keys_engine(f.keys),
                                            .uid = 0,
                                            .policy = policy };
        cases[2].what = "another policy";
        cases[2].b = (EngineTicketBinding){ .keys = ticket_keys_engine(f.keys),
                                            .uid = 1000,
                                            .policy = other_policy };
        cases[3].what = "client certificates asked for";
        cases[3].b = issuer;
        cases[3].b.refuse = true;

        first = connect_bound(&f.id, &issuer, proto, NULL, 0);
        ck_assert(first.ok);
        ck_assert(!first.resumed);

        /* The control: another server context with an equal binding resumes it. */
        same = issuer;
        again = connect_bound(&f.id, &same, proto, first.session, first.session_size);
        ck_assert(again.ok);
        ck_assert(again.resumed);
        free(again.session);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                again = connect_bound(&f.id, &cases[i].b, proto, first.session, first.session_size);
                ck_assert_msg(!again.resumed, "%s: resumed", cases[i].what);
                /* A rejected 1.2 ticket: wolfSSL's client may abort instead of going on with a
                 * full handshake (see test_tls12_reissue); tlsd retries without it. */
                ck_assert_msg(again.ok ||
                                      ((proto == TLS12 || proto == DTLS12) &&
                                       (again.client_error == -373 || again.client_error == -308)),
                              "%s: client error %d", cases[i].what, again.client_error);
                free(again.session);
        }

        /* An association without a policy of its own: the offered ticket is refused, and the
         * server issues no ticket bound to nothing: wolfSSL 5.7.2 fails the handshake when
         * the callback refuses to encrypt, 5.9 goes on without sending the ticket. */
        same = issuer;
        same.handshake_policy = no_handshake_policy;
        again = connect_bound(&f.id, &same, proto, first.session, first.session_size);
        ck_assert(!again.resumed);
        ck_assert_msg(!again.ok || again.tickets == 0,
                      "a ticket bound to no policy was issued (%u)", again.tickets);
        free(again.session);

        /* The binding reads the policy at each ticket: changed in place (a Configure after
         * the ticket was issued), the same binding refuses the ticket. */
        policy[0] ^= 0x80;
        again = connect_bound(&f.id, &issuer, proto, first.session, first.session_size);
        ck_assert(!again.resumed);
        free(again.session);
        policy[0] ^= 0x80;
        again = connect_bound(&f.id, &issuer, proto, first.session, first.session_size);
        ck_assert(again.ok);
        ck_assert(again.resumed);
        free(again.session);

        free(first.session);
        fixture_done(&f);
}
END_TEST

int main(void) {
        Suite *s = suite_create("ticket");
        TCase *cache = tcase_create("cache"), *file = tcase_create("file"),
              *keys = tcase_create("keys"), *tls = tcase_create("resumption");
        SRunner *sr;
        int failed;

        tcase_add_test(cache, test_scope_isolation);
        tcase_add_test(cache, test_newest_wins_and_single_use);
        tcase_add_test(cache, test_expiry);
        tcase_add_test(cache, test_limits);
        tcase_add_test(cache, test_id_ownership);
        tcase_add_test(cache, test_ids_random);
        tcase_add_test(cache, test_stats);
        tcase_add_test(cache, test_store_refuses);
        suite_add_tcase(s, cache);

        tcase_add_checked_fixture(file, setup, teardown);
        tcase_set_timeout(file, 60);
        tcase_add_test(file, test_persist_round_trip);
        tcase_add_test(file, test_load_keeps_order_and_limits);
        tcase_add_test(file, test_missing_and_empty_file);
        tcase_add_test(file, test_every_truncation);
        tcase_add_test(file, test_every_bit_flip);
        tcase_add_test(file, test_bad_headers_and_lengths);
        tcase_add_test(file, test_warning_names_file);
        tcase_add_test(file, test_odd_files);
        tcase_add_test(file, test_save_size_cap);
        suite_add_tcase(s, file);

        tcase_add_checked_fixture(keys, setup, teardown);
        tcase_set_timeout(keys, 60);
        tcase_add_test(keys, test_keys_rotation_and_grace);
        tcase_add_test(keys, test_keys_bounded);
        tcase_add_test(keys, test_keys_persist);
        suite_add_tcase(s, keys);

        tcase_add_checked_fixture(tls, setup, teardown);
        tcase_set_timeout(tls, 60);
        tcase_add_test(tls, test_tls13_resume);
        tcase_add_test(tls, test_tls13_rotation_grace);
        tcase_add_test(tls, test_tls13_restart);
        tcase_add_test(tls, test_tls12_reissue);
        tcase_add_loop_test(tls, test_dtls_rotation, 0, 2);
        tcase_add_loop_test(tls, test_binding_mismatch, 0, 4);
        suite_add_tcase(s, tls);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
