/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz harness for the wire codec (common/proto.c). Each input is parsed as a packet in both
 * directions, with no descriptor and with one. Whatever the parser accepts must be readable
 * through every getter, must rebuild through the builder (tlsd_msg_end() validates it again),
 * and the rebuilt bytes must parse to the same message: the same size, and the same bytes when
 * the input had its attributes in ascending order. Whatever it refuses must come with a
 * parser error. A session request's options decode and encode again (session-options.c).
 *
 * Built with -DTLSD_LIBFUZZER for libFuzzer; otherwise main() runs the inputs named on the
 * command line (files, or directories of files) once, as a regression test under the
 * sanitizers. Without arguments it runs TLSD_FUZZ_CORPUS, if that was defined at build time.
 *
 * The seeds also say what the parser must make of them, so that a parser refusing everything
 * (or accepting everything) fails the regression run: valid-* must parse (in the direction it
 * was written for, without descriptors), bad-<error>[.<what>] must be refused in every
 * direction, and with <error> (a token of error_tokens[], e.g. bad-padding) in one at least. In
 * the corpus run every seed is named so.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto.h"
#include "session-options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* A checksum of every byte, so that the sanitizers see each one read. */
static volatile uint32_t sink;

static void touch(const void *p, size_t n) {
        const uint8_t *b = p;
        uint32_t h = 0;

        for (size_t i = 0; i < n; i++)
                h = h * 31 + b[i];
        sink += h;
}

/* Every getter on every attribute, and what they say agrees with each other. */
static void read_all(const TlsdMsgView *v) {
        for (unsigned a = 0; a <= _TLSD_A_MAX; a++) {
                bool has = tlsd_msg_has(v, (TlsdAttrType) a);
                const void *p = NULL;
                const char *s = NULL;
                uint32_t u32;
                uint64_t u64;
                size_t n = 0;
                int r;

                r = tlsd_msg_get_bytes(v, (TlsdAttrType) a, &p, &n);
                FUZZ_ASSERT(r == (has ? 0 : -ENODATA));
                if (has) {
                        FUZZ_ASSERT(a > 0 && a < _TLSD_A_MAX);
                        FUZZ_ASSERT(p != NULL);
                        FUZZ_ASSERT(n == v->length[a]);
                        touch(p, n);
                }

                r = tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32);
                /* Fixed-size getters work only on attributes of their own type. */
                FUZZ_ASSERT(has ? r == 0 || r == -EBADMSG : r == -ENODATA);
                if (r == 0) {
                        FUZZ_ASSERT(n == sizeof(u32));
                        touch(&u32, sizeof(u32));
                }

                r = tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64);
                FUZZ_ASSERT(has ? r == 0 || r == -EBADMSG : r == -ENODATA);
                if (r == 0) {
                        FUZZ_ASSERT(n == sizeof(u64));
                        touch(&u64, sizeof(u64));
                }

                r = tlsd_msg_get_str(v, (TlsdAttrType) a, &s);
                FUZZ_ASSERT(has ? (r == 0 || r == -EBADMSG) : r == -ENODATA);
                if (r == 0) {
                        /* Validated: NUL-terminated within the value, no NUL before. */
                        FUZZ_ASSERT(n > 0);
                        FUZZ_ASSERT(strlen(s) == n - 1);
                }
                (void) tlsd_attr_name(a);
        }
        (void) tlsd_msg_type_name(v->header.type);
}

/* Whether the attributes appear in ascending type order, as the rebuild writes them. */
static bool attrs_sorted(const uint8_t *data, size_t size) {
        uint16_t last = 0;

        for (size_t off = TLSD_HEADER_SIZE; off < size;) {
                uint16_t len, type;

                memcpy(&len, data + off, sizeof(len));
                memcpy(&type, data + off + 2, sizeof(type));
                if (type <= last)
                        return false;
                last = type;
                off += ((size_t) len + 3) & ~(size_t) 3;
        }
        return true;
}

/* Builds the accepted message again and checks the result means the same. */
static void rebuild(const uint8_t *data, size_t size, TlsdDirection dir, const TlsdMsgView *v) {
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView w;
        int r;

        r = tlsd_msg_begin(&m, (TlsdMsgType) v->header.type, v->header.flags, v->header.id);
        FUZZ_ASSERT(r == 0);
        for (unsigned a = 1; a < _TLSD_A_MAX; a++)
                if (tlsd_msg_has(v, (TlsdAttrType) a))
                        tlsd_msg_put(&m, (TlsdAttrType) a, v->value[a], v->length[a]);
        r = tlsd_msg_end(&m);
        FUZZ_ASSERT(r == 0);

        /* Every byte of the input was accounted for: the rebuilt message is as long. */
        FUZZ_ASSERT(m.size == size);
        if (attrs_sorted(data, size))
                FUZZ_ASSERT(memcmp(m.buf, data, size) == 0);

        r = tlsd_msg_parse(m.buf, m.size, 0, dir, &w);
        FUZZ_ASSERT(r == 0);
        FUZZ_ASSERT(memcmp(&w.header, &v->header, sizeof(w.header)) == 0);
        for (unsigned a = 0; a < _TLSD_A_MAX; a++) {
                bool has = tlsd_msg_has(v, (TlsdAttrType) a);

                FUZZ_ASSERT(tlsd_msg_has(&w, (TlsdAttrType) a) == has);
                if (!has)
                        continue;
                FUZZ_ASSERT(w.length[a] == v->length[a]);
                FUZZ_ASSERT(memcmp(w.value[a], v->value[a], v->length[a]) == 0);
        }
        read_all(&w);
        tlsd_msg_done(&m);
}

/* A session request's options, encoded the way libtlsclient does. */
static void put_options(TlsdMsg *m, const TlsdMsgView *v, const TlsdSessionOptions *o) {
        bool create = v->header.type == TLSD_MSG_SESSION_CREATE;
        uint32_t role = 0;
        uint64_t id = 0;

        FUZZ_ASSERT(tlsd_msg_begin(m, (TlsdMsgType) v->header.type, 0, v->header.id) == 0);
        if (create) {
                FUZZ_ASSERT(tlsd_msg_get_u32(v, TLSD_A_ROLE, &role) == 0);
                tlsd_msg_put_u32(m, TLSD_A_ROLE, role);
        } else {
                FUZZ_ASSERT(tlsd_msg_get_u64(v, TLSD_A_SESSION_ID, &id) == 0);
                tlsd_msg_put_u64(m, TLSD_A_SESSION_ID, id);
        }
        tlsd_session_options_put(m, o, create);
        FUZZ_ASSERT(tlsd_msg_end(m) == 0);
}

/* What the Unix adapter decodes from an accepted session request (common/session-options.c)
 * encodes into a valid request, which decodes to what encodes the same bytes again. */
static void session_options_again(const TlsdMsgView *v, TlsdDirection dir) {
        TlsdMsg m1 = TLSD_MSG_INIT, m2 = TLSD_MSG_INIT;
        TlsdSessionOptions o;
        TlsdMsgView w;

        if (dir != TLSD_DIR_TO_DAEMON || (v->header.type != TLSD_MSG_SESSION_CREATE &&
                                          v->header.type != TLSD_MSG_SESSION_CONFIGURE))
                return;
        tlsd_session_options_parse(v, &o);
        put_options(&m1, v, &o);
        FUZZ_ASSERT(tlsd_msg_parse(m1.buf, m1.size, 0, dir, &w) == 0);
        tlsd_session_options_parse(&w, &o);
        put_options(&m2, &w, &o);
        FUZZ_ASSERT(m1.size == m2.size && memcmp(m1.buf, m2.buf, m1.size) == 0);
        tlsd_msg_done(&m1);
        tlsd_msg_done(&m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const TlsdDirection dirs[] = { TLSD_DIR_TO_DAEMON, TLSD_DIR_FROM_DAEMON };

        for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
                for (unsigned n_fds = 0; n_fds <= 1; n_fds++) {
                        TlsdMsgView v;
                        int r;

                        r = tlsd_msg_parse(data, size, n_fds, dirs[d], &v);
                        FUZZ_ASSERT(v.n_fds == n_fds);
                        if (r < 0) {
                                FUZZ_ASSERT(r == -EBADMSG);
                                FUZZ_ASSERT(v.error != TLSD_PROTO_OK);
                                FUZZ_ASSERT(v.error != TLSD_PROTO_FDS_TRUNCATED);
                                FUZZ_ASSERT((unsigned) v.error < _TLSD_PROTO_MAX);
                                (void) tlsd_proto_error_name(v.error);
                                if (v.header_valid)
                                        (void) tlsd_msg_type_name(v.header.type);
                                continue;
                        }
                        FUZZ_ASSERT(r == 0);
                        FUZZ_ASSERT(v.error == TLSD_PROTO_OK);
                        FUZZ_ASSERT(v.header_valid);
                        FUZZ_ASSERT(size >= TLSD_HEADER_SIZE && size <= TLSD_MSG_MAX);
                        FUZZ_ASSERT(n_fds <=
                                    tlsd_msg_max_fds(v.header.type, dirs[d], v.header.flags));
                        read_all(&v);
                        rebuild(data, size, dirs[d], &v);
                        session_options_again(&v, dirs[d]);
                }
        return 0;
}

#ifndef TLSD_LIBFUZZER

/* The parser errors as seed names spell them. */
static const struct {
        TlsdProtoError error;
        const char *token;
} error_tokens[] = {
        { TLSD_PROTO_TOO_SHORT, "too-short" },
        { TLSD_PROTO_TOO_LARGE, "too-large" },
        { TLSD_PROTO_BAD_MAGIC, "magic" },
        { TLSD_PROTO_BAD_VERSION, "version" },
        { TLSD_PROTO_BAD_FLAGS, "flags" },
        { TLSD_PROTO_LENGTH_MISMATCH, "length-mismatch" },
        { TLSD_PROTO_UNKNOWN_TYPE, "unknown-type" },
        { TLSD_PROTO_WRONG_DIRECTION, "wrong-direction" },
        { TLSD_PROTO_BAD_ID, "id" },
        { TLSD_PROTO_ATTR_TRUNCATED, "attr-truncated" },
        { TLSD_PROTO_ATTR_BAD_LENGTH, "attr-length" },
        { TLSD_PROTO_ATTR_UNKNOWN, "attr-unknown" },
        { TLSD_PROTO_ATTR_NOT_ALLOWED, "attr-not-allowed" },
        { TLSD_PROTO_ATTR_DUPLICATE, "duplicate" },
        { TLSD_PROTO_ATTR_SIZE, "attr-size" },
        { TLSD_PROTO_STRING_UNTERMINATED, "unterminated" },
        { TLSD_PROTO_STRING_EMBEDDED_NUL, "embedded-nul" },
        { TLSD_PROTO_STRING_NOT_UTF8, "utf8" },
        { TLSD_PROTO_ATTR_MISSING, "missing-attr" },
        { TLSD_PROTO_PADDING, "padding" },
        { TLSD_PROTO_UNEXPECTED_FDS, "unexpected-fds" },
};

/* The error a bad-* name names: "bad-<token>" or "bad-<token>.<anything>". */
static bool named_error(const char *name, TlsdProtoError *ret) {
        const char *rest = name + strlen("bad-");

        for (size_t i = 0; i < sizeof(error_tokens) / sizeof(error_tokens[0]); i++) {
                size_t n = strlen(error_tokens[i].token);

                if (strncmp(rest, error_tokens[i].token, n) == 0 &&
                    (rest[n] == 0 || rest[n] == '.')) {
                        *ret = error_tokens[i].error;
                        return true;
                }
        }
        return false;
}

/* Whether the parser did with a seed what its name says; explains on stderr when not. Names
 * that are neither valid-* nor bad-* expect nothing (e.g. a crash file given on the command
 * line), unless required. */
static bool seed_as_named(const char *path, const uint8_t *data, size_t size, bool required) {
        static const TlsdDirection dirs[] = { TLSD_DIR_TO_DAEMON, TLSD_DIR_FROM_DAEMON };
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        bool valid = strncmp(name, "valid-", 6) == 0, bad = strncmp(name, "bad-", 4) == 0;
        bool accepted = false, named_seen = false;
        TlsdProtoError want = TLSD_PROTO_OK;
        char got[512] = "";

        if (!valid && !bad) {
                if (required)
                        fprintf(stderr, "%s: a seed is named valid-* or bad-<error>*\n", path);
                return !required;
        }
        if (bad && !named_error(name, &want)) {
                fprintf(stderr, "%s: names no parser error (see error_tokens[])\n", path);
                return false;
        }
        for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
                for (unsigned n_fds = 0; n_fds <= 1; n_fds++) {
                        size_t len = strlen(got);
                        TlsdMsgView v;

                        if (tlsd_msg_parse(data, size, n_fds, dirs[d], &v) == 0) {
                                if (n_fds == 0)
                                        accepted = true;
                                if (bad) {
                                        fprintf(stderr, "%s: accepted (%s, %u fds)\n", path,
                                                d == 0 ? "to the daemon" : "from the daemon",
                                                n_fds);
                                        return false;
                                }
                                continue;
                        }
                        named_seen = named_seen || v.error == want;
                        snprintf(got + len, sizeof(got) - len, "%s'%s'", len ? ", " : "",
                                 tlsd_proto_error_name(v.error));
                }
        if (valid && !accepted) {
                fprintf(stderr, "%s: refused in both directions: %s\n", path, got);
                return false;
        }
        if (bad && !named_seen) {
                fprintf(stderr, "%s: refused, but not with '%s': %s\n", path,
                        tlsd_proto_error_name(want), got);
                return false;
        }
        return true;
}

static int run_file(const char *path, bool required) {
        struct stat st;
        uint8_t *buf;
        size_t n;
        FILE *f;

        f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                fclose(f);
                return -1;
        }
        /* Exactly the file's size, so a read past the end is caught. */
        buf = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
        if (!buf) {
                fclose(f);
                return -1;
        }
        n = fread(buf, 1, (size_t) st.st_size, f);
        if (n != (size_t) st.st_size || ferror(f)) {
                fprintf(stderr, "%s: short read\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);

        LLVMFuzzerTestOneInput(buf, n);
        if (!seed_as_named(path, buf, n, required)) {
                free(buf);
                return -1;
        }
        free(buf);
        return 0;
}

static int run_path(const char *path, bool required, unsigned *count) {
        struct dirent *de;
        struct stat st;
        int ret = 0;
        DIR *d;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                if (run_file(path, required) < 0)
                        return -1;
                (*count)++;
                return 0;
        }

        d = opendir(path);
        if (!d) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                size_t len;
                char *p;

                if (de->d_name[0] == '.')
                        continue;
                len = strlen(path) + 1 + strlen(de->d_name) + 1;
                p = malloc(len);
                if (!p) {
                        ret = -1;
                        break;
                }
                snprintf(p, len, "%s/%s", path, de->d_name);
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(p, required) < 0)
                                ret = -1;
                        else
                                (*count)++;
                }
                free(p);
        }
        closedir(d);
        return ret;
}

int main(int argc, char **argv) {
        unsigned count = 0;
        int ret = EXIT_SUCCESS;

        if (argc < 2) {
#ifdef TLSD_FUZZ_CORPUS
                if (run_path(TLSD_FUZZ_CORPUS, true, &count) < 0)
                        ret = EXIT_FAILURE;
                printf("%u inputs\n", count);
                return count > 0 ? ret : EXIT_FAILURE;
#else
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return EXIT_FAILURE;
#endif
        }
        for (int i = 1; i < argc; i++)
                if (run_path(argv[i], false, &count) < 0)
                        ret = EXIT_FAILURE;
        printf("%u inputs\n", count);
        return ret;
}

#endif
