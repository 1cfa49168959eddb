/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz harness for the ticket cache file loader (ticket_cache_load_buffer). Each input is
 * loaded twice: as it is, and with its last 32 bytes replaced by the SHA-256 of the rest, since
 * no fuzzer forges a checksum and the parser behind it must see the input too. A refused input
 * must leave the cache empty; an accepted one must save to an image that loads back to the
 * same cache (saving it again gives the same bytes).
 *
 * Built with -DTLSD_LIBFUZZER for libFuzzer; otherwise main() runs the files named on the
 * command line (or in the directories named), or TLSD_FUZZ_CORPUS, once each, as a regression
 * test. `fuzz-ticket-cache --write-seeds DIR` writes the seed corpus (tests/fuzz/corpus-ticket).
 *
 * The seeds say what the loader must make of them, so that a loader refusing (or accepting)
 * everything fails the regression run: valid-<N>-entries loads with N entries; bad-checksum is
 * refused as it is and loads once resealed (only its checksum is wrong); any other bad-* is
 * refused both ways. In the corpus run every seed is named so.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-crypto.h"
#include "tickets/ticket-cache.h"
#include "tickets/ticket-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* Entries expiring at or before this are dropped on load; seeds expire later. */
#define FUZZ_NOW 1000u

static unsigned entries(TicketCache *c) {
        TicketCacheStats st;

        ticket_cache_stats(c, TICKET_UID_ALL, &st);
        return st.entries;
}

static void load_one(const uint8_t *data, size_t size) {
        static const TicketCacheLimits limits = { .max_per_uid = 64, .max_total = 4096 };
        TicketCache *c = NULL, *d = NULL;
        void *image = NULL, *again = NULL;
        size_t image_size = 0, again_size = 0;
        int r;

        FUZZ_ASSERT(ticket_cache_new(&limits, &c) == 0);
        r = ticket_cache_load_buffer(c, data, size, FUZZ_NOW);
        FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0) {
                FUZZ_ASSERT(entries(c) == 0);
                ticket_cache_free(c);
                return;
        }

        FUZZ_ASSERT(ticket_cache_save_buffer(c, &image, &image_size) == 0);
        FUZZ_ASSERT(ticket_cache_new(&limits, &d) == 0);
        FUZZ_ASSERT(ticket_cache_load_buffer(d, image, image_size, FUZZ_NOW) == 0);
        FUZZ_ASSERT(entries(d) == entries(c));
        FUZZ_ASSERT(ticket_cache_save_buffer(d, &again, &again_size) == 0);
        FUZZ_ASSERT(again_size == image_size && memcmp(again, image, image_size) == 0);
        free(image);
        free(again);
        ticket_cache_free(d);
        ticket_cache_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *sealed;

        load_one(data, size);
        if (size < TICKET_FILE_HEADER_SIZE + TICKET_FILE_TRAILER_SIZE)
                return 0;
        sealed = malloc(size);
        FUZZ_ASSERT(sealed);
        memcpy(sealed, data, size);
        FUZZ_ASSERT(engine_sha256(sealed, size - TICKET_FILE_TRAILER_SIZE,
                                  sealed + size - TICKET_FILE_TRAILER_SIZE) == 0);
        load_one(sealed, size);
        free(sealed);
        return 0;
}

#ifndef TLSD_LIBFUZZER

/* How many entries data loads with (at FUZZ_NOW), as it is or resealed; -1 if refused. */
static int loaded_entries(const uint8_t *data, size_t size, bool reseal) {
        static const TicketCacheLimits limits = { .max_per_uid = 64, .max_total = 4096 };
        uint8_t *copy = malloc(size > 0 ? size : 1);
        TicketCache *c = NULL;
        int r;

        FUZZ_ASSERT(copy);
        memcpy(copy, data, size);
        if (reseal && size >= TICKET_FILE_HEADER_SIZE + TICKET_FILE_TRAILER_SIZE)
                FUZZ_ASSERT(engine_sha256(copy, size - TICKET_FILE_TRAILER_SIZE,
                                          copy + size - TICKET_FILE_TRAILER_SIZE) == 0);
        FUZZ_ASSERT(ticket_cache_new(&limits, &c) == 0);
        r = ticket_cache_load_buffer(c, copy, size, FUZZ_NOW);
        r = r < 0 ? -1 : (int) entries(c);
        ticket_cache_free(c);
        free(copy);
        return r;
}

/* Whether the loader did with a seed what its name says; explains on stderr when not. Other
 * names expect nothing (e.g. a crash file), unless required. */
static bool seed_as_named(const char *path, const uint8_t *data, size_t size, bool required) {
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        int as_is = loaded_entries(data, size, false), resealed = loaded_entries(data, size, true);
        unsigned want;
        char end;

        if (sscanf(name, "valid-%u-entrie%c", &want, &end) == 2 && end == 's') {
                if (as_is == (int) want)
                        return true;
                fprintf(stderr, "%s: loads with %d entries (-1: refused), want %u\n", path, as_is,
                        want);
                return false;
        }
        if (strncmp(name, "bad-checksum", 12) == 0) {
                if (as_is < 0 && resealed >= 0)
                        return true;
                fprintf(stderr, "%s: want refused (%d), and loading once resealed (%d)\n", path,
                        as_is, resealed);
                return false;
        }
        if (strncmp(name, "bad-", 4) == 0) {
                if (as_is < 0 && resealed < 0)
                        return true;
                fprintf(stderr, "%s: want refused as it is (%d) and resealed (%d)\n", path, as_is,
                        resealed);
                return false;
        }
        if (required)
                fprintf(stderr, "%s: a seed is named valid-<N>-entries or bad-*\n", path);
        return !required;
}

static int run_file(const char *path, bool required) {
        FILE *f = fopen(path, "rbe");
        uint8_t *buf = NULL;
        long size;
        int r = -1;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        /* Exactly the file's size, so a read past the end is caught. */
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc(size > 0 ? (size_t) size : 1)) &&
            fread(buf, 1, (size_t) size, f) == (size_t) size) {
                LLVMFuzzerTestOneInput(buf, (size_t) size);
                r = seed_as_named(path, buf, (size_t) size, required) ? 0 : -1;
        } else
                fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        fclose(f);
        return r;
}

/* A file, or the regular files directly in a directory. Returns the number run, -1 if one
 * failed. */
static int run_path(const char *path, bool required) {
        struct dirent **names;
        int n, count = 0;
        bool failed = false;

        n = scandir(path, &names, NULL, alphasort);
        if (n < 0)
                return errno == ENOTDIR ? (run_file(path, required) < 0 ? -1 : 1) : -1;
        for (int i = 0; i < n; i++) {
                char p[4096];

                if (names[i]->d_name[0] != '.' &&
                    (names[i]->d_type == DT_REG || names[i]->d_type == DT_UNKNOWN)) {
                        snprintf(p, sizeof(p), "%s/%s", path, names[i]->d_name);
                        /* every file, so that each failing one is named */
                        if (run_file(p, required) < 0)
                                failed = true;
                        else
                                count++;
                }
                free(names[i]);
        }
        free(names);
        return failed ? -1 : count;
}

static int write_seed(const char *dir, const char *name, const void *data, size_t size) {
        char p[4096];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        f = fopen(p, "wbe");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
                fprintf(stderr, "%s: cannot write\n", p);
                return -1;
        }
        return 0;
}

/* The seed corpus: a valid file with two entries (sessions are dummy bytes, not secrets), an
 * empty cache, and damaged copies of the first. */
static int write_seeds(const char *dir) {
        static const TicketCacheLimits limits = { .max_per_uid = 64, .max_total = 4096 };
        TicketScope a = {
                .uid = 1000, .host = "example.org", .port = 443, .sni = "example.org", .alpn = "h2"
        };
        TicketScope b = {
                .uid = 1001, .host = "192.0.2.7", .port = 5684, .sni = "", .alpn = "", .dtls = true
        };
        TicketCache *c = NULL;
        uint8_t *image = NULL, *empty = NULL;
        size_t size = 0, empty_size = 0;
        uint64_t id;
        int r = 0;

        memset(a.policy, 0x11, sizeof(a.policy));
        memset(b.policy, 0x22, sizeof(b.policy));
        FUZZ_ASSERT(ticket_cache_new(&limits, &c) == 0);
        FUZZ_ASSERT(ticket_cache_save_buffer(c, (void **) &empty, &empty_size) == 0);
        FUZZ_ASSERT(ticket_cache_store(c, &a, "dummy TLS 1.3 session", 21, 2 * FUZZ_NOW, true,
                                       &id) == 0);
        FUZZ_ASSERT(ticket_cache_store(c, &b, "dummy DTLS 1.2 session", 22, 3 * FUZZ_NOW, false,
                                       &id) == 0);
        FUZZ_ASSERT(ticket_cache_save_buffer(c, (void **) &image, &size) == 0);
        r |= write_seed(dir, "valid-2-entries", image, size);
        r |= write_seed(dir, "valid-0-entries", empty, empty_size);
        r |= write_seed(dir, "bad-truncated", image, size - 40);
        image[size / 2] ^= 1;
        r |= write_seed(dir, "bad-checksum", image, size);
        image[size / 2] ^= 1;
        image[8] = 2; /* format version 2, checksum left stale */
        r |= write_seed(dir, "bad-version", image, size);
        free(image);
        free(empty);
        ticket_cache_free(c);
        return r;
}

int main(int argc, char **argv) {
        int n, total = 0, ret = EXIT_SUCCESS;

        if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
                return write_seeds(argv[2]) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (argc < 2) {
#ifdef TLSD_FUZZ_CORPUS
                n = run_path(TLSD_FUZZ_CORPUS, true);
                printf("%d inputs\n", n);
                return n > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
#else
                fprintf(stderr, "usage: %s FILE|DIR... | --write-seeds DIR\n", argv[0]);
                return EXIT_FAILURE;
#endif
        }
        for (int i = 1; i < argc; i++) {
                n = run_path(argv[i], false);
                if (n < 0)
                        ret = EXIT_FAILURE;
                else
                        total += n;
        }
        printf("%d inputs\n", total);
        return ret;
}

#endif
