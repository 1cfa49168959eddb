/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the wire codec (common/proto.c) and the error table (common/error.c):
 * round trips of every message type and direction through the builder and the parser,
 * a table of hand-written malformed messages each rejected with its exact TlsdProtoError,
 * builder validation, size limits and sticky errors, and the errno <-> tlsd_error mapping.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "macro.h"
#include "proto.h"
#include "session-options.h"

/* ---- hand-written messages, independent of the builder ---------------------------------- */

typedef struct Raw {
        uint8_t *buf;
        size_t size;
        size_t allocated;
} Raw;

static void raw_free(Raw *r) {
        free(r->buf);
        *r = (Raw){ .buf = NULL };
}

static void raw_bytes(Raw *r, const void *data, size_t size) {
        if (r->size + size > r->allocated) {
                size_t n = r->allocated ? r->allocated : 256;

                while (n < r->size + size)
                        n *= 2;
                r->buf = realloc(r->buf, n);
                ck_assert_ptr_nonnull(r->buf);
                r->allocated = n;
        }
        if (size > 0)
                memcpy(r->buf + r->size, data, size);
        r->size += size;
}

static void raw_fill(Raw *r, uint8_t byte, size_t n) {
        for (size_t i = 0; i < n; i++)
                raw_bytes(r, &byte, 1);
}

/* Header with every field given; the length field is patched later by raw_fix_length(). */
static void raw_header_full(Raw *r, uint32_t magic, uint8_t version, uint8_t flags, uint16_t type,
                            uint32_t id) {
        TlsdHeader h = {
                .magic = magic,
                .version = version,
                .flags = flags,
                .type = type,
                .id = id,
                .length = 0,
        };

        raw_bytes(r, &h, sizeof(h));
}

static void raw_header(Raw *r, uint8_t flags, uint16_t type, uint32_t id) {
        raw_header_full(r, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, flags, type, id);
}

static void raw_request(Raw *r, uint16_t type, uint32_t id) {
        raw_header(r, 0, type, id);
}

static void raw_reply(Raw *r, uint16_t type, uint32_t id) {
        raw_header(r, TLSD_F_REPLY, type, id);
}

static void raw_error_reply(Raw *r, uint16_t type, uint32_t id) {
        raw_header(r, TLSD_F_REPLY | TLSD_F_ERROR, type, id);
}

/* Writes a lie (or the truth) into the header's payload length. */
static void raw_set_length(Raw *r, uint32_t length) {
        ck_assert_uint_ge(r->size, TLSD_HEADER_SIZE);
        memcpy(r->buf + offsetof(TlsdHeader, length), &length, sizeof(length));
}

static void raw_fix_length(Raw *r) {
        raw_set_length(r, (uint32_t) (r->size - TLSD_HEADER_SIZE));
}

/* Just an attribute header, with whatever length field the test wants. */
static void raw_attr_header(Raw *r, uint16_t len, uint16_t type) {
        raw_bytes(r, &len, sizeof(len));
        raw_bytes(r, &type, sizeof(type));
}

/* A well-formed attribute: header, value, zero padding to 4 bytes. */
static void raw_attr(Raw *r, uint16_t type, const void *data, size_t size) {
        size_t len = size + TLSD_ATTR_HEADER_SIZE;

        ck_assert_uint_le(len, UINT16_MAX);
        raw_attr_header(r, (uint16_t) len, type);
        raw_bytes(r, data, size);
        raw_fill(r, 0, ALIGN4(len) - len);
}

static void raw_attr_u32(Raw *r, uint16_t type, uint32_t v) {
        raw_attr(r, type, &v, sizeof(v));
}

/* A string attribute including its final NUL. */
static void raw_attr_str(Raw *r, uint16_t type, const char *s) {
        raw_attr(r, type, s, strlen(s) + 1);
}

/* A string attribute of n bytes of 'x' plus the NUL: n + 1 value bytes. */
static void raw_attr_str_len(Raw *r, uint16_t type, size_t n) {
        char *s = malloc(n + 1);

        ck_assert_ptr_nonnull(s);
        memset(s, 'x', n);
        s[n] = 0;
        raw_attr(r, type, s, n + 1);
        free(s);
}

static void raw_whoami_ids(Raw *r) {
        raw_attr_u32(r, TLSD_A_UID, 1000);
        raw_attr_u32(r, TLSD_A_GID, 1000);
        raw_attr_u32(r, TLSD_A_PID, 4242);
}

/* ---- malformed messages ------------------------------------------------------------------ */

static void bad_empty(Raw *r) {
        (void) r;
}

static void bad_short_15(Raw *r) {
        raw_request(r, TLSD_MSG_WHOAMI, 1);
        r->size = TLSD_HEADER_SIZE - 1;
}

static void bad_too_large(Raw *r) {
        /* A consistent header, just one byte over the limit. */
        raw_request(r, TLSD_MSG_PING, 1);
        raw_fill(r, 0, TLSD_MSG_MAX + 1 - TLSD_HEADER_SIZE);
        raw_fix_length(r);
}

static void bad_magic(Raw *r) {
        raw_header_full(r, UINT32_C(0x44534c54), TLSD_PROTO_VERSION, 0, TLSD_MSG_WHOAMI, 1);
        raw_fix_length(r);
}

static void bad_magic_swapped(Raw *r) {
        raw_header_full(r, __builtin_bswap32(TLSD_PROTO_MAGIC), TLSD_PROTO_VERSION, 0,
                        TLSD_MSG_WHOAMI, 1);
        raw_fix_length(r);
}

static void bad_version_0(Raw *r) {
        raw_header_full(r, TLSD_PROTO_MAGIC, 0, 0, TLSD_MSG_WHOAMI, 1);
        raw_fix_length(r);
}

static void bad_version_2(Raw *r) {
        raw_header_full(r, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION + 1, 0, TLSD_MSG_WHOAMI, 1);
        raw_fix_length(r);
}

static void bad_flags_unknown_bit_request(Raw *r) {
        raw_header(r, 1u << 3, TLSD_MSG_WHOAMI, 1);
        raw_fix_length(r);
}

static void bad_flags_unknown_bit_reply(Raw *r) {
        raw_header(r, TLSD_F_REPLY | (1u << 7), TLSD_MSG_WHOAMI, 1);
        raw_whoami_ids(r);
        raw_fix_length(r);
}

static void bad_flags_reply_on_request(Raw *r) {
        raw_header(r, TLSD_F_REPLY, TLSD_MSG_PING, 1);
        raw_fix_length(r);
}

static void bad_flags_error_reply_on_request(Raw *r) {
        raw_header(r, TLSD_F_REPLY | TLSD_F_ERROR, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_fix_length(r);
}

static void bad_flags_error_without_reply(Raw *r) {
        raw_header(r, TLSD_F_ERROR, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_fix_length(r);
}

static void bad_flags_none_from_daemon(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_fix_length(r);
}

static void bad_flags_reply_event(Raw *r) {
        raw_header(r, TLSD_F_REPLY | TLSD_F_EVENT, TLSD_MSG_PING, 1);
        raw_fix_length(r);
}

static void bad_flags_all(Raw *r) {
        raw_header(r, _TLSD_F_ALL, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_fix_length(r);
}

static void bad_length_says_more(Raw *r) {
        raw_request(r, TLSD_MSG_WHOAMI, 1);
        raw_set_length(r, 4);
}

static void bad_length_says_less(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, "abcd", 4);
        raw_set_length(r, 4);
}

static void bad_length_huge(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, "abcd", 4);
        raw_set_length(r, UINT32_MAX);
}

static void bad_type_0(Raw *r) {
        raw_request(r, TLSD_MSG_INVALID, 1);
        raw_fix_length(r);
}

static void bad_type_9999(Raw *r) {
        raw_request(r, 9999, 1);
        raw_fix_length(r);
}

static void bad_type_max(Raw *r) {
        raw_request(r, _TLSD_MSG_MAX, 1);
        raw_fix_length(r);
}

static void bad_type_9999_reply(Raw *r) {
        raw_reply(r, 9999, 1);
        raw_fix_length(r);
}

static void bad_request_type_as_event(Raw *r) {
        raw_header(r, TLSD_F_EVENT, TLSD_MSG_PING, 0);
        raw_fix_length(r);
}

static void bad_request_type_as_event_with_id(Raw *r) {
        raw_header(r, TLSD_F_EVENT, TLSD_MSG_WHOAMI, 7);
        raw_whoami_ids(r);
        raw_fix_length(r);
}

static void raw_disconnected_attrs(Raw *r) {
        raw_attr(r, TLSD_A_CONNECTION_ID, "\1\2\3\4\5\6\7\10", 8);
        raw_attr_u32(r, TLSD_A_REASON, 0);
}

static void bad_event_type_as_request(Raw *r) {
        raw_request(r, TLSD_MSG_EVENT_DISCONNECTED, 1);
        raw_disconnected_attrs(r);
        raw_fix_length(r);
}

static void bad_event_type_as_reply(Raw *r) {
        raw_reply(r, TLSD_MSG_EVENT_DISCONNECTED, 1);
        raw_disconnected_attrs(r);
        raw_fix_length(r);
}

static void bad_event_with_id(Raw *r) {
        raw_header(r, TLSD_F_EVENT, TLSD_MSG_EVENT_DISCONNECTED, 1);
        raw_disconnected_attrs(r);
        raw_fix_length(r);
}

static void good_event_disconnected(Raw *r) {
        raw_header(r, TLSD_F_EVENT, TLSD_MSG_EVENT_DISCONNECTED, 0);
        raw_disconnected_attrs(r);
        raw_fix_length(r);
}

static void good_event_handshake_done(Raw *r) {
        raw_header(r, TLSD_F_EVENT, TLSD_MSG_EVENT_HANDSHAKE_DONE, 0);
        raw_attr(r, TLSD_A_CONNECTION_ID, "\1\2\3\4\5\6\7\10", 8);
        raw_attr_str(r, TLSD_A_TLS_VERSION, "TLSv1.3");
        raw_attr_str(r, TLSD_A_CIPHER, "TLS_AES_256_GCM_SHA384");
        raw_attr_u32(r, TLSD_A_VERIFY_RESULT, 0);
        raw_fix_length(r);
}

static void bad_request_id_0(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 0);
        raw_fix_length(r);
}

static void bad_reply_id_0(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 0);
        raw_whoami_ids(r);
        raw_fix_length(r);
}

static void bad_attr_header_truncated(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_fill(r, 0, 2);
        raw_fix_length(r);
}

static void bad_attr_header_truncated_after_attr(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, "abcd", 4);
        raw_attr_header(r, 8, TLSD_A_PAYLOAD);
        r->size -= 1; /* 3 bytes of the second attribute header */
        raw_fix_length(r);
}

static void bad_attr_length_past_end(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_header(r, 12, TLSD_A_PAYLOAD);
        raw_bytes(r, "abcd", 4);
        raw_fix_length(r);
}

static void bad_attr_padding_past_end(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_header(r, 5, TLSD_A_PAYLOAD);
        raw_bytes(r, "x", 1); /* the three padding bytes are missing */
        raw_fix_length(r);
}

static void bad_attr_length_3(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_header(r, 3, TLSD_A_PAYLOAD);
        raw_fix_length(r);
}

static void bad_attr_length_0(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_header(r, 0, TLSD_A_PAYLOAD);
        raw_fix_length(r);
}

static void bad_attr_unknown_0(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_INVALID, 1);
        raw_fix_length(r);
}

static void bad_attr_unknown_9999(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, 9999, 1);
        raw_fix_length(r);
}

static void bad_attr_unknown_max(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, _TLSD_A_MAX, 1);
        raw_fix_length(r);
}

static void bad_attr_uid_in_ping(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_UID, 0);
        raw_fix_length(r);
}

static void bad_attr_in_version_request(Raw *r) {
        raw_request(r, TLSD_MSG_VERSION, 1);
        raw_attr(r, TLSD_A_PAYLOAD, "abcd", 4);
        raw_fix_length(r);
}

static void bad_attr_error_in_reply(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_whoami_ids(r);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_fix_length(r);
}

static void bad_attr_payload_in_error_reply(Raw *r) {
        raw_error_reply(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_attr(r, TLSD_A_PAYLOAD, "abcd", 4);
        raw_fix_length(r);
}

static void bad_attr_duplicate(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, "abcd", 4);
        raw_attr(r, TLSD_A_PAYLOAD, "efgh", 4);
        raw_fix_length(r);
}

static void bad_attr_duplicate_empty(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, NULL, 0);
        raw_attr(r, TLSD_A_PAYLOAD, NULL, 0);
        raw_fix_length(r);
}

static void bad_attr_duplicate_u32(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_whoami_ids(r);
        raw_attr_u32(r, TLSD_A_GID, 0);
        raw_fix_length(r);
}

static void bad_u32_size_3(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_attr(r, TLSD_A_UID, "\1\2\3", 3);
        raw_attr_u32(r, TLSD_A_GID, 1000);
        raw_attr_u32(r, TLSD_A_PID, 4242);
        raw_fix_length(r);
}

static void bad_u32_size_5(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_attr_u32(r, TLSD_A_UID, 1000);
        raw_attr(r, TLSD_A_GID, "\1\2\3\4\5", 5);
        raw_attr_u32(r, TLSD_A_PID, 4242);
        raw_fix_length(r);
}

static void bad_u32_size_0(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_attr_u32(r, TLSD_A_UID, 1000);
        raw_attr_u32(r, TLSD_A_GID, 1000);
        raw_attr(r, TLSD_A_PID, NULL, 0);
        raw_fix_length(r);
}

static void bad_u32_size_8(Raw *r) {
        uint64_t v = 1000;

        raw_error_reply(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_ERROR, &v, sizeof(v));
        raw_fix_length(r);
}

static void bad_u64_size_4(Raw *r) {
        raw_reply(r, TLSD_MSG_SESSION_CREATE, 1);
        raw_attr_u32(r, TLSD_A_SESSION_ID, 1);
        raw_fix_length(r);
}

static void bad_u64_size_9(Raw *r) {
        raw_request(r, TLSD_MSG_CONNECTION_DESTROY, 1);
        raw_attr(r, TLSD_A_CONNECTION_ID, "123456789", 9);
        raw_fix_length(r);
}

static void bad_attr_in_empty_reply(Raw *r) {
        raw_reply(r, TLSD_MSG_SESSION_DESTROY, 1);
        raw_attr(r, TLSD_A_SESSION_ID, "\1\2\3\4\5\6\7\10", 8);
        raw_fix_length(r);
}

static void bad_string_too_long(Raw *r) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr_str_len(r, TLSD_A_VERSION_STRING, 64); /* 65 bytes with the NUL, max 64 */
        raw_attr_u32(r, TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION);
        raw_fix_length(r);
}

static void bad_message_too_long(Raw *r) {
        raw_error_reply(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_attr_str_len(r, TLSD_A_MESSAGE, 1024); /* 1025 bytes, max 1024 */
        raw_fix_length(r);
}

static void bad_binary_too_long(Raw *r) {
        uint8_t *p = calloc(1, 4097);

        ck_assert_ptr_nonnull(p);
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, p, 4097);
        raw_fix_length(r);
        free(p);
}

static void bad_string_empty(Raw *r) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr(r, TLSD_A_VERSION_STRING, NULL, 0);
        raw_attr_u32(r, TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION);
        raw_fix_length(r);
}

static void bad_string_unterminated(Raw *r) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr(r, TLSD_A_VERSION_STRING, "0.1.0", 5);
        raw_attr_u32(r, TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION);
        raw_fix_length(r);
}

static void bad_string_embedded_nul(Raw *r) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr(r, TLSD_A_VERSION_STRING, "0.1\0.0", 7);
        raw_attr_u32(r, TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION);
        raw_fix_length(r);
}

/* A VERSION reply whose TLS_LIBRARY string is the given (NUL-terminated) bytes. */
static void raw_library_reply(Raw *r, const char *library) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr_str(r, TLSD_A_VERSION_STRING, "0.1.0");
        raw_attr_u32(r, TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION);
        raw_attr_str(r, TLSD_A_TLS_LIBRARY, library);
        raw_fix_length(r);
}

static void bad_utf8_overlong_2(Raw *r) {
        raw_library_reply(r, "wolf\xc0\xafSSL"); /* '/' in two bytes */
}

static void bad_utf8_overlong_3(Raw *r) {
        raw_library_reply(r, "wolf\xe0\x80\xafSSL");
}

static void bad_utf8_overlong_4(Raw *r) {
        raw_library_reply(r, "wolf\xf0\x82\x82\xacSSL"); /* U+20AC in four bytes */
}

static void bad_utf8_surrogate(Raw *r) {
        raw_library_reply(r, "wolf\xed\xa0\x80SSL"); /* U+D800 */
}

static void bad_utf8_lone_continuation(Raw *r) {
        raw_library_reply(r, "wolf\x80SSL");
}

static void bad_utf8_bad_continuation(Raw *r) {
        raw_library_reply(r, "wolf\xc3(SSL");
}

static void bad_utf8_truncated_sequence(Raw *r) {
        raw_library_reply(r, "wolfSSL \xe2\x82"); /* first two bytes of U+20AC, then the NUL */
}

static void bad_utf8_above_max(Raw *r) {
        raw_library_reply(r, "wolf\xf4\x90\x80\x80SSL"); /* U+110000 */
}

static void bad_utf8_five_bytes(Raw *r) {
        raw_library_reply(r, "wolf\xf8\x88\x80\x80\x80SSL");
}

static void bad_utf8_ff(Raw *r) {
        raw_library_reply(r, "wolf\xffSSL");
}

static void bad_missing_pid(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_attr_u32(r, TLSD_A_UID, 1000);
        raw_attr_u32(r, TLSD_A_GID, 1000);
        raw_fix_length(r);
}

static void bad_missing_all_ids(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_fix_length(r);
}

static void bad_missing_proto_version(Raw *r) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr_str(r, TLSD_A_VERSION_STRING, "0.1.0");
        raw_attr_str(r, TLSD_A_TLS_LIBRARY, "wolfSSL 5.7.2");
        raw_fix_length(r);
}

static void bad_missing_error(Raw *r) {
        raw_error_reply(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERRNO, EINVAL);
        raw_attr_str(r, TLSD_A_MESSAGE, "no error code");
        raw_fix_length(r);
}

static void bad_padding(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr_header(r, 5, TLSD_A_PAYLOAD);
        raw_bytes(r, "x\0\1\0", 4);
        raw_fix_length(r);
}

static void bad_padding_string(Raw *r) {
        raw_reply(r, TLSD_MSG_VERSION, 1);
        raw_attr_header(r, 4 + 6, TLSD_A_VERSION_STRING);
        raw_bytes(r, "0.1.0\0\0x", 8);
        raw_attr_u32(r, TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION);
        raw_fix_length(r);
}

static void good_ping_request(Raw *r) {
        raw_request(r, TLSD_MSG_PING, 1);
        raw_attr(r, TLSD_A_PAYLOAD, "abc", 3);
        raw_fix_length(r);
}

static void good_whoami_reply(Raw *r) {
        raw_reply(r, TLSD_MSG_WHOAMI, 1);
        raw_whoami_ids(r);
        raw_fix_length(r);
}

static void good_error_reply(Raw *r) {
        raw_error_reply(r, TLSD_MSG_PING, 1);
        raw_attr_u32(r, TLSD_A_ERROR, TLSD_ERR_PARAM);
        raw_fix_length(r);
}

typedef struct BadCase {
        const char *name;
        void (*build)(Raw *r);
        unsigned n_fds;
        TlsdDirection dir;
        TlsdProtoError error;
        uint16_t error_attr;
} BadCase;

#define TO TLSD_DIR_TO_DAEMON
#define FROM TLSD_DIR_FROM_DAEMON

static const BadCase bad_cases[] = {
        { "empty", bad_empty, 0, TO, TLSD_PROTO_TOO_SHORT, 0 },
        { "15 bytes", bad_short_15, 0, TO, TLSD_PROTO_TOO_SHORT, 0 },
        { "15 bytes from daemon", bad_short_15, 0, FROM, TLSD_PROTO_TOO_SHORT, 0 },
        { "TLSD_MSG_MAX + 1", bad_too_large, 0, TO, TLSD_PROTO_TOO_LARGE, 0 },
        { "bad magic", bad_magic, 0, TO, TLSD_PROTO_BAD_MAGIC, 0 },
        { "byte-swapped magic", bad_magic_swapped, 0, TO, TLSD_PROTO_BAD_MAGIC, 0 },
        { "version 0", bad_version_0, 0, TO, TLSD_PROTO_BAD_VERSION, 0 },
        { "version 2", bad_version_2, 0, TO, TLSD_PROTO_BAD_VERSION, 0 },
        { "unknown flag bit on request", bad_flags_unknown_bit_request, 0, TO, TLSD_PROTO_BAD_FLAGS,
          0 },
        { "unknown flag bit on reply", bad_flags_unknown_bit_reply, 0, FROM, TLSD_PROTO_BAD_FLAGS,
          0 },
        { "reply flag on request", bad_flags_reply_on_request, 0, TO, TLSD_PROTO_BAD_FLAGS, 0 },
        { "error reply flags on request", bad_flags_error_reply_on_request, 0, TO,
          TLSD_PROTO_BAD_FLAGS, 0 },
        { "error flag without reply flag", bad_flags_error_without_reply, 0, FROM,
          TLSD_PROTO_BAD_FLAGS, 0 },
        { "no flags from daemon", bad_flags_none_from_daemon, 0, FROM, TLSD_PROTO_BAD_FLAGS, 0 },
        { "reply and event flags", bad_flags_reply_event, 0, FROM, TLSD_PROTO_BAD_FLAGS, 0 },
        { "all flags", bad_flags_all, 0, FROM, TLSD_PROTO_BAD_FLAGS, 0 },
        { "length says more", bad_length_says_more, 0, TO, TLSD_PROTO_LENGTH_MISMATCH, 0 },
        { "length says less", bad_length_says_less, 0, TO, TLSD_PROTO_LENGTH_MISMATCH, 0 },
        { "length UINT32_MAX", bad_length_huge, 0, TO, TLSD_PROTO_LENGTH_MISMATCH, 0 },
        { "type 0", bad_type_0, 0, TO, TLSD_PROTO_UNKNOWN_TYPE, 0 },
        { "type 9999", bad_type_9999, 0, TO, TLSD_PROTO_UNKNOWN_TYPE, 0 },
        { "type _TLSD_MSG_MAX", bad_type_max, 0, TO, TLSD_PROTO_UNKNOWN_TYPE, 0 },
        { "reply of type 9999", bad_type_9999_reply, 0, FROM, TLSD_PROTO_UNKNOWN_TYPE, 0 },
        { "request type as event", bad_request_type_as_event, 0, FROM, TLSD_PROTO_WRONG_DIRECTION,
          0 },
        { "request type as event with id", bad_request_type_as_event_with_id, 0, FROM,
          TLSD_PROTO_WRONG_DIRECTION, 0 },
        { "event type as request", bad_event_type_as_request, 0, TO, TLSD_PROTO_WRONG_DIRECTION,
          0 },
        { "event type as reply", bad_event_type_as_reply, 0, FROM, TLSD_PROTO_WRONG_DIRECTION, 0 },
        { "event with id", bad_event_with_id, 0, FROM, TLSD_PROTO_BAD_ID, 0 },
        { "request id 0", bad_request_id_0, 0, TO, TLSD_PROTO_BAD_ID, 0 },
        { "reply id 0", bad_reply_id_0, 0, FROM, TLSD_PROTO_BAD_ID, 0 },
        { "attribute header truncated", bad_attr_header_truncated, 0, TO, TLSD_PROTO_ATTR_TRUNCATED,
          0 },
        { "second attribute header truncated", bad_attr_header_truncated_after_attr, 0, TO,
          TLSD_PROTO_ATTR_TRUNCATED, 0 },
        { "attribute length past end", bad_attr_length_past_end, 0, TO, TLSD_PROTO_ATTR_TRUNCATED,
          TLSD_A_PAYLOAD },
        { "attribute padding past end", bad_attr_padding_past_end, 0, TO, TLSD_PROTO_ATTR_TRUNCATED,
          TLSD_A_PAYLOAD },
        { "attribute length 3", bad_attr_length_3, 0, TO, TLSD_PROTO_ATTR_BAD_LENGTH,
          TLSD_A_PAYLOAD },
        { "attribute length 0", bad_attr_length_0, 0, TO, TLSD_PROTO_ATTR_BAD_LENGTH,
          TLSD_A_PAYLOAD },
        { "attribute type 0", bad_attr_unknown_0, 0, TO, TLSD_PROTO_ATTR_UNKNOWN, 0 },
        { "attribute type 9999", bad_attr_unknown_9999, 0, TO, TLSD_PROTO_ATTR_UNKNOWN, 9999 },
        { "attribute type _TLSD_A_MAX", bad_attr_unknown_max, 0, TO, TLSD_PROTO_ATTR_UNKNOWN,
          _TLSD_A_MAX },
        { "UID in PING request", bad_attr_uid_in_ping, 0, TO, TLSD_PROTO_ATTR_NOT_ALLOWED,
          TLSD_A_UID },
        { "attribute in VERSION request", bad_attr_in_version_request, 0, TO,
          TLSD_PROTO_ATTR_NOT_ALLOWED, TLSD_A_PAYLOAD },
        { "ERROR in a plain reply", bad_attr_error_in_reply, 0, FROM, TLSD_PROTO_ATTR_NOT_ALLOWED,
          TLSD_A_ERROR },
        { "PAYLOAD in an error reply", bad_attr_payload_in_error_reply, 0, FROM,
          TLSD_PROTO_ATTR_NOT_ALLOWED, TLSD_A_PAYLOAD },
        { "duplicate PAYLOAD", bad_attr_duplicate, 0, TO, TLSD_PROTO_ATTR_DUPLICATE,
          TLSD_A_PAYLOAD },
        { "duplicate empty PAYLOAD", bad_attr_duplicate_empty, 0, TO, TLSD_PROTO_ATTR_DUPLICATE,
          TLSD_A_PAYLOAD },
        { "duplicate GID", bad_attr_duplicate_u32, 0, FROM, TLSD_PROTO_ATTR_DUPLICATE, TLSD_A_GID },
        { "u32 of 3 bytes", bad_u32_size_3, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_UID },
        { "u32 of 5 bytes", bad_u32_size_5, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_GID },
        { "u32 of 0 bytes", bad_u32_size_0, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_PID },
        { "u32 of 8 bytes", bad_u32_size_8, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_ERROR },
        { "u64 of 4 bytes", bad_u64_size_4, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_SESSION_ID },
        { "u64 of 9 bytes", bad_u64_size_9, 0, TO, TLSD_PROTO_ATTR_SIZE, TLSD_A_CONNECTION_ID },
        { "attribute in a reply that takes none", bad_attr_in_empty_reply, 0, FROM,
          TLSD_PROTO_ATTR_NOT_ALLOWED, TLSD_A_SESSION_ID },
        { "string over max", bad_string_too_long, 0, FROM, TLSD_PROTO_ATTR_SIZE,
          TLSD_A_VERSION_STRING },
        { "message over max", bad_message_too_long, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_MESSAGE },
        { "binary over max", bad_binary_too_long, 0, TO, TLSD_PROTO_ATTR_SIZE, TLSD_A_PAYLOAD },
        { "empty string", bad_string_empty, 0, FROM, TLSD_PROTO_ATTR_SIZE, TLSD_A_VERSION_STRING },
        { "unterminated string", bad_string_unterminated, 0, FROM, TLSD_PROTO_STRING_UNTERMINATED,
          TLSD_A_VERSION_STRING },
        { "embedded NUL", bad_string_embedded_nul, 0, FROM, TLSD_PROTO_STRING_EMBEDDED_NUL,
          TLSD_A_VERSION_STRING },
        { "UTF-8 overlong 2 bytes", bad_utf8_overlong_2, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 overlong 3 bytes", bad_utf8_overlong_3, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 overlong 4 bytes", bad_utf8_overlong_4, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 surrogate", bad_utf8_surrogate, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 lone continuation", bad_utf8_lone_continuation, 0, FROM,
          TLSD_PROTO_STRING_NOT_UTF8, TLSD_A_TLS_LIBRARY },
        { "UTF-8 bad continuation", bad_utf8_bad_continuation, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 truncated sequence", bad_utf8_truncated_sequence, 0, FROM,
          TLSD_PROTO_STRING_NOT_UTF8, TLSD_A_TLS_LIBRARY },
        { "UTF-8 above U+10FFFF", bad_utf8_above_max, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 five-byte form", bad_utf8_five_bytes, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8,
          TLSD_A_TLS_LIBRARY },
        { "UTF-8 0xff", bad_utf8_ff, 0, FROM, TLSD_PROTO_STRING_NOT_UTF8, TLSD_A_TLS_LIBRARY },
        { "WHOAMI reply without PID", bad_missing_pid, 0, FROM, TLSD_PROTO_ATTR_MISSING,
          TLSD_A_PID },
        { "WHOAMI reply without attributes", bad_missing_all_ids, 0, FROM, TLSD_PROTO_ATTR_MISSING,
          TLSD_A_UID },
        { "VERSION reply without PROTO_VERSION", bad_missing_proto_version, 0, FROM,
          TLSD_PROTO_ATTR_MISSING, TLSD_A_PROTO_VERSION },
        { "error reply without ERROR", bad_missing_error, 0, FROM, TLSD_PROTO_ATTR_MISSING,
          TLSD_A_ERROR },
        { "non-zero padding", bad_padding, 0, TO, TLSD_PROTO_PADDING, TLSD_A_PAYLOAD },
        { "non-zero padding after string", bad_padding_string, 0, FROM, TLSD_PROTO_PADDING,
          TLSD_A_VERSION_STRING },
        { "fd on PING request", good_ping_request, 1, TO, TLSD_PROTO_UNEXPECTED_FDS, 0 },
        { "TLSD_FDS_MAX fds on WHOAMI reply", good_whoami_reply, TLSD_FDS_MAX, FROM,
          TLSD_PROTO_UNEXPECTED_FDS, 0 },
        { "fd on error reply", good_error_reply, 1, FROM, TLSD_PROTO_UNEXPECTED_FDS, 0 },
        { "fd on Disconnected event", good_event_disconnected, 1, FROM, TLSD_PROTO_UNEXPECTED_FDS,
          0 },
        { "2 fds on HandshakeDone event", good_event_handshake_done, 2, FROM,
          TLSD_PROTO_UNEXPECTED_FDS, 0 },
};

/* Before the version check nothing in the header can be trusted. */
static bool header_readable(TlsdProtoError e) {
        return e != TLSD_PROTO_TOO_SHORT && e != TLSD_PROTO_BAD_MAGIC &&
               e != TLSD_PROTO_BAD_VERSION;
}

START_TEST(test_parse_malformed) {
        const BadCase *c = &bad_cases[_i];
        Raw r = { .buf = NULL };
        TlsdMsgView v;
        uint8_t *copy;
        int ret;

        c->build(&r);
        /* An exact-size copy, so the sanitizers see any read past the end. */
        copy = malloc(r.size ? r.size : 1);
        ck_assert_ptr_nonnull(copy);
        if (r.size > 0)
                memcpy(copy, r.buf, r.size);

        ret = tlsd_msg_parse(copy, r.size, c->n_fds, c->dir, &v);
        ck_assert_msg(ret == -EBADMSG, "%s: parse returned %d, expected -EBADMSG", c->name, ret);
        ck_assert_msg(v.error == c->error, "%s: error %s (%d), expected %s (%d)", c->name,
                      tlsd_proto_error_name(v.error), (int) v.error,
                      tlsd_proto_error_name(c->error), (int) c->error);
        ck_assert_msg(v.error_attr == c->error_attr, "%s: error_attr %u, expected %u", c->name,
                      (unsigned) v.error_attr, (unsigned) c->error_attr);
        ck_assert_msg(v.header_valid == header_readable(c->error), "%s: header_valid %d", c->name,
                      (int) v.header_valid);
        ck_assert_uint_eq(v.n_fds, c->n_fds);

        free(copy);
        raw_free(&r);
}
END_TEST

/* Every parser error is produced by some row of the table, and the rows are distinct. */
START_TEST(test_parse_malformed_coverage) {
        bool seen[_TLSD_PROTO_MAX] = { false };

        ck_assert_uint_ge(ELEMENTSOF(bad_cases), 24);
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                ck_assert_uint_lt(bad_cases[i].error, _TLSD_PROTO_MAX);
                seen[bad_cases[i].error] = true;
                for (size_t j = 0; j < i; j++)
                        ck_assert_msg(strcmp(bad_cases[i].name, bad_cases[j].name) != 0,
                                      "duplicate case name %s", bad_cases[i].name);
        }
        for (unsigned e = 0; e < _TLSD_PROTO_MAX; e++) {
                if (e == TLSD_PROTO_OK || e == TLSD_PROTO_FDS_TRUNCATED) {
                        ck_assert_msg(!seen[e], "%s cannot come from the parser",
                                      tlsd_proto_error_name(e));
                        continue;
                }
                ck_assert_msg(seen[e], "no malformed case for %s", tlsd_proto_error_name(e));
        }
}
END_TEST

/* The fds cases above are refused only for the descriptors: with as many as the type takes,
 * they parse. */
START_TEST(test_parse_raw_valid) {
        static void (*const builders[])(Raw * r) = {
                good_ping_request,       good_whoami_reply,         good_error_reply,
                good_event_disconnected, good_event_handshake_done,
        };
        static const TlsdDirection dirs[] = { TO, FROM, FROM, FROM, FROM };
        static const unsigned fds[] = { 0, 0, 0, 0, 1 };

        for (size_t i = 0; i < ELEMENTSOF(builders); i++) {
                Raw r = { .buf = NULL };
                TlsdMsgView v;

                builders[i](&r);
                ck_assert_int_eq(tlsd_msg_parse(r.buf, r.size, fds[i], dirs[i], &v), 0);
                ck_assert_int_eq(v.error, TLSD_PROTO_OK);
                ck_assert(v.header_valid);
                raw_free(&r);
        }
}
END_TEST

/* The daemon echoes whatever the request said, even an unknown type or id 0. */
START_TEST(test_parse_error_reply_echo) {
        Raw r = { .buf = NULL };
        TlsdMsgView v;
        uint32_t u;

        raw_error_reply(&r, 9999, 0);
        raw_attr_u32(&r, TLSD_A_ERROR, TLSD_ERR_PROTOCOL);
        raw_fix_length(&r);
        ck_assert_int_eq(tlsd_msg_parse(r.buf, r.size, 0, FROM, &v), 0);
        ck_assert_uint_eq(v.header.type, 9999);
        ck_assert_uint_eq(v.header.id, 0);
        ck_assert_int_eq(tlsd_msg_get_u32(&v, TLSD_A_ERROR, &u), 0);
        ck_assert_uint_eq(u, TLSD_ERR_PROTOCOL);
        raw_free(&r);
}
END_TEST

/* Attribute order is free: the tables say what, not in which order. */
START_TEST(test_parse_any_order) {
        Raw r = { .buf = NULL };
        TlsdMsgView v;
        uint32_t uid, gid, pid;

        raw_reply(&r, TLSD_MSG_WHOAMI, 5);
        raw_attr_u32(&r, TLSD_A_PID, 3);
        raw_attr_u32(&r, TLSD_A_GID, 2);
        raw_attr_u32(&r, TLSD_A_UID, 1);
        raw_fix_length(&r);
        ck_assert_int_eq(tlsd_msg_parse(r.buf, r.size, 0, FROM, &v), 0);
        ck_assert_int_eq(tlsd_msg_get_u32(&v, TLSD_A_UID, &uid), 0);
        ck_assert_int_eq(tlsd_msg_get_u32(&v, TLSD_A_GID, &gid), 0);
        ck_assert_int_eq(tlsd_msg_get_u32(&v, TLSD_A_PID, &pid), 0);
        ck_assert_uint_eq(uid, 1);
        ck_assert_uint_eq(gid, 2);
        ck_assert_uint_eq(pid, 3);
        raw_free(&r);
}
END_TEST

/* ---- round trips ------------------------------------------------------------------------- */

typedef enum ValKind {
        V_END,
        V_U32,
        V_U64,
        V_STR,
        V_BIN,
} ValKind;

typedef struct AttrVal {
        uint16_t attr;
        ValKind kind;
        uint32_t u32;
        uint64_t u64;
        const char *str;
        const void *bin;
        size_t size;
} AttrVal;

typedef struct RoundTrip {
        const char *name;
        TlsdMsgType type;
        uint8_t flags;
        uint32_t id;
        AttrVal attrs[6];
} RoundTrip;

#define U32(a, v)                                                                                  \
        { .attr = (a), .kind = V_U32, .u32 = (v) }
#define U64(a, v)                                                                                  \
        { .attr = (a), .kind = V_U64, .u64 = (v) }
#define STR(a, s)                                                                                  \
        { .attr = (a), .kind = V_STR, .str = (s) }
#define BIN(a, p, n)                                                                               \
        { .attr = (a), .kind = V_BIN, .bin = (p), .size = (n) }

#define PAYLOAD_MAX 4096
#define VERSION_MAX 64
#define LIBRARY_MAX 64
#define MESSAGE_MAX 1024

/* Values at the limits, filled by fill_values() before each test. */
static uint8_t payload_max[PAYLOAD_MAX];
static char version_max[VERSION_MAX];
static char library_max[LIBRARY_MAX];
static char message_max[MESSAGE_MAX];

static void fill_string(char *s, size_t size, char c) {
        memset(s, c, size - 1);
        s[size - 1] = 0;
}

static void fill_values(void) {
        for (size_t i = 0; i < sizeof(payload_max); i++)
                payload_max[i] = (uint8_t) (i * 7 + 3);
        fill_string(version_max, sizeof(version_max), 'v');
        fill_string(library_max, sizeof(library_max), 'l');
        fill_string(message_max, sizeof(message_max), 'm');
}

#define UTF8_TEXT "tlsd \xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e \xef\xbf\xbd \xf4\x8f\xbf\xbf"

static const RoundTrip round_trips[] = {
        { "VERSION request", TLSD_MSG_VERSION, 0, 1, { { 0 } } },
        { "VERSION reply",
          TLSD_MSG_VERSION,
          TLSD_F_REPLY,
          1,
          { STR(TLSD_A_VERSION_STRING, "0.1.0"), U32(TLSD_A_PROTO_VERSION, TLSD_PROTO_VERSION),
            STR(TLSD_A_TLS_LIBRARY, "wolfSSL 5.7.2") } },
        { "VERSION reply without library",
          TLSD_MSG_VERSION,
          TLSD_F_REPLY,
          2,
          { STR(TLSD_A_VERSION_STRING, "0.1.0"), U32(TLSD_A_PROTO_VERSION, 77) } },
        { "VERSION reply, strings at max",
          TLSD_MSG_VERSION,
          TLSD_F_REPLY,
          3,
          { STR(TLSD_A_VERSION_STRING, version_max), U32(TLSD_A_PROTO_VERSION, UINT32_MAX),
            STR(TLSD_A_TLS_LIBRARY, library_max) } },
        { "VERSION reply, one-byte string",
          TLSD_MSG_VERSION,
          TLSD_F_REPLY,
          4,
          { STR(TLSD_A_VERSION_STRING, ""), U32(TLSD_A_PROTO_VERSION, 0) } },
        { "VERSION reply, UTF-8",
          TLSD_MSG_VERSION,
          TLSD_F_REPLY,
          5,
          { STR(TLSD_A_VERSION_STRING, UTF8_TEXT), U32(TLSD_A_PROTO_VERSION, 1),
            STR(TLSD_A_TLS_LIBRARY, UTF8_TEXT) } },
        { "PING request", TLSD_MSG_PING, 0, 1, { { 0 } } },
        { "PING request, payload",
          TLSD_MSG_PING,
          0,
          UINT32_MAX,
          { BIN(TLSD_A_PAYLOAD, "hello", 5) } },
        { "PING request, empty payload", TLSD_MSG_PING, 0, 2, { BIN(TLSD_A_PAYLOAD, "", 0) } },
        { "PING request, 1-byte payload", TLSD_MSG_PING, 0, 3, { BIN(TLSD_A_PAYLOAD, "\0", 1) } },
        { "PING request, 2-byte payload",
          TLSD_MSG_PING,
          0,
          4,
          { BIN(TLSD_A_PAYLOAD, "\xff\0", 2) } },
        { "PING request, 3-byte payload", TLSD_MSG_PING, 0, 5, { BIN(TLSD_A_PAYLOAD, "a\0b", 3) } },
        { "PING request, 4-byte payload", TLSD_MSG_PING, 0, 6, { BIN(TLSD_A_PAYLOAD, "abcd", 4) } },
        { "PING request, max payload",
          TLSD_MSG_PING,
          0,
          7,
          { BIN(TLSD_A_PAYLOAD, payload_max, PAYLOAD_MAX) } },
        { "PING reply", TLSD_MSG_PING, TLSD_F_REPLY, 1, { { 0 } } },
        { "PING reply, payload",
          TLSD_MSG_PING,
          TLSD_F_REPLY,
          2,
          { BIN(TLSD_A_PAYLOAD, "hello", 5) } },
        { "PING reply, empty payload",
          TLSD_MSG_PING,
          TLSD_F_REPLY,
          3,
          { BIN(TLSD_A_PAYLOAD, "", 0) } },
        { "PING reply, max payload",
          TLSD_MSG_PING,
          TLSD_F_REPLY,
          4,
          { BIN(TLSD_A_PAYLOAD, payload_max, PAYLOAD_MAX) } },
        { "WHOAMI request", TLSD_MSG_WHOAMI, 0, 1, { { 0 } } },
        { "WHOAMI reply",
          TLSD_MSG_WHOAMI,
          TLSD_F_REPLY,
          1,
          { U32(TLSD_A_UID, 1000), U32(TLSD_A_GID, 1001), U32(TLSD_A_PID, 4242) } },
        { "WHOAMI reply, extremes",
          TLSD_MSG_WHOAMI,
          TLSD_F_REPLY,
          UINT32_MAX,
          { U32(TLSD_A_UID, 0), U32(TLSD_A_GID, UINT32_MAX), U32(TLSD_A_PID, 1) } },
        { "WHOAMI reply, reordered",
          TLSD_MSG_WHOAMI,
          TLSD_F_REPLY,
          2,
          { U32(TLSD_A_PID, 3), U32(TLSD_A_UID, 1), U32(TLSD_A_GID, 2) } },
        { "error reply, ERROR only",
          TLSD_MSG_PING,
          TLSD_F_REPLY | TLSD_F_ERROR,
          1,
          { U32(TLSD_A_ERROR, TLSD_ERR_PARAM) } },
        { "error reply, everything",
          TLSD_MSG_VERSION,
          TLSD_F_REPLY | TLSD_F_ERROR,
          2,
          { U32(TLSD_A_ERROR, TLSD_ERR_HANDSHAKE), U32(TLSD_A_ERRNO, EPROTO),
            STR(TLSD_A_MESSAGE, "handshake failed: " UTF8_TEXT), U32(TLSD_A_ALERT, 42) } },
        { "error reply, message at max",
          TLSD_MSG_WHOAMI,
          TLSD_F_REPLY | TLSD_F_ERROR,
          3,
          { U32(TLSD_A_ERROR, TLSD_ERR_INTERNAL), STR(TLSD_A_MESSAGE, message_max) } },
        { "error reply, unknown type, id 0",
          9999,
          TLSD_F_REPLY | TLSD_F_ERROR,
          0,
          { U32(TLSD_A_ERROR, TLSD_ERR_PROTOCOL), U32(TLSD_A_ERRNO, EBADMSG) } },
        { "CreateSession reply",
          TLSD_MSG_SESSION_CREATE,
          TLSD_F_REPLY,
          8,
          { U64(TLSD_A_SESSION_ID, UINT64_C(0x0123456789abcdef)) } },
        { "GetInfo reply",
          TLSD_MSG_CONNECTION_INFO,
          TLSD_F_REPLY,
          9,
          { U64(TLSD_A_CONNECTION_ID, 1), U32(TLSD_A_STATE, 4), STR(TLSD_A_TLS_VERSION, "TLSv1.3"),
            U64(TLSD_A_BYTES_IN, UINT64_MAX), U64(TLSD_A_BYTES_OUT, 0) } },
        { "HandshakeDone event",
          TLSD_MSG_EVENT_HANDSHAKE_DONE,
          TLSD_F_EVENT,
          0,
          { U64(TLSD_A_CONNECTION_ID, UINT64_C(1) << 63), STR(TLSD_A_TLS_VERSION, "TLSv1.3"),
            STR(TLSD_A_CIPHER, "TLS_AES_128_GCM_SHA256"), U32(TLSD_A_VERIFY_RESULT, 0) } },
        { "Disconnected event",
          TLSD_MSG_EVENT_DISCONNECTED,
          TLSD_F_EVENT,
          0,
          { U64(TLSD_A_CONNECTION_ID, 2), U32(TLSD_A_REASON, 2), U32(TLSD_A_ALERT, 40) } },
};

static const AttrVal *find_val(const RoundTrip *t, unsigned a) {
        for (const AttrVal *x = t->attrs; x->kind != V_END; x++)
                if (x->attr == a)
                        return x;
        return NULL;
}

static void assert_absent(const TlsdMsgView *v, unsigned a) {
        uint32_t u32;
        uint64_t u64;
        const char *s;
        const void *p;
        size_t n;

        ck_assert_msg(!tlsd_msg_has(v, (TlsdAttrType) a), "attribute %u present", a);
        ck_assert_int_eq(tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32), -ENODATA);
        ck_assert_int_eq(tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64), -ENODATA);
        ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), -ENODATA);
        ck_assert_int_eq(tlsd_msg_get_bytes(v, (TlsdAttrType) a, &p, &n), -ENODATA);
}

/* Every getter returns what was put, pointing into buf; everything else is absent. */
static void check_view(const RoundTrip *t, const TlsdMsgView *v, const uint8_t *buf, size_t size) {
        ck_assert_uint_eq(v->header.magic, TLSD_PROTO_MAGIC);
        ck_assert_uint_eq(v->header.version, TLSD_PROTO_VERSION);
        ck_assert_uint_eq(v->header.flags, t->flags);
        ck_assert_uint_eq(v->header.type, (unsigned) t->type);
        ck_assert_uint_eq(v->header.id, t->id);
        ck_assert_uint_eq(v->header.length, size - TLSD_HEADER_SIZE);
        ck_assert_uint_eq(size % 4, 0);
        ck_assert(v->header_valid);
        ck_assert_int_eq(v->error, TLSD_PROTO_OK);
        ck_assert_uint_eq(v->n_fds, 0);

        for (unsigned a = 0; a < _TLSD_A_MAX; a++) {
                const AttrVal *x = find_val(t, a);
                const void *p;
                const char *s;
                uint32_t u32;
                uint64_t u64;
                size_t n;

                if (!x) {
                        assert_absent(v, a);
                        continue;
                }
                ck_assert_msg(tlsd_msg_has(v, (TlsdAttrType) a), "%s: %s missing", t->name,
                              tlsd_attr_name(a));
                ck_assert_int_eq(tlsd_msg_get_bytes(v, (TlsdAttrType) a, &p, &n), 0);
                ck_assert_ptr_eq(p, v->value[a]);
                ck_assert_uint_eq(n, v->length[a]);
                ck_assert((const uint8_t *) p >= buf + TLSD_HEADER_SIZE);
                ck_assert((const uint8_t *) p + n <= buf + size);

                switch (x->kind) {
                case V_U32:
                        ck_assert_uint_eq(n, sizeof(uint32_t));
                        ck_assert_int_eq(tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32), 0);
                        ck_assert_uint_eq(u32, x->u32);
                        ck_assert_int_eq(tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64), -EBADMSG);
                        ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), -EBADMSG);
                        break;
                case V_U64:
                        ck_assert_uint_eq(n, sizeof(uint64_t));
                        ck_assert_int_eq(tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64), 0);
                        ck_assert_uint_eq(u64, x->u64);
                        ck_assert_int_eq(tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32), -EBADMSG);
                        ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), -EBADMSG);
                        break;
                case V_STR:
                        ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), 0);
                        ck_assert_str_eq(s, x->str);
                        ck_assert_ptr_eq(s, p);
                        ck_assert_uint_eq(n, strlen(x->str) + 1);
                        if (n != sizeof(uint64_t))
                                ck_assert_int_eq(tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64),
                                                 -EBADMSG);
                        break;
                case V_BIN:
                        ck_assert_uint_eq(n, x->size);
                        if (n > 0)
                                ck_assert_mem_eq(p, x->bin, n);
                        ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), -EBADMSG);
                        if (n != sizeof(uint32_t))
                                ck_assert_int_eq(tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32),
                                                 -EBADMSG);
                        break;
                case V_END:
                        ck_abort();
                }
        }
        assert_absent(v, _TLSD_A_MAX);
        assert_absent(v, 9999);
        assert_absent(v, UINT_MAX);
}

START_TEST(test_round_trip) {
        const RoundTrip *t = &round_trips[_i];
        TlsdDirection dir = t->flags ? FROM : TO;
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;
        unsigned max_fds;

        ck_assert_int_eq(tlsd_msg_begin(&m, t->type, t->flags, t->id), 0);
        for (const AttrVal *x = t->attrs; x->kind != V_END; x++)
                switch (x->kind) {
                case V_U32:
                        tlsd_msg_put_u32(&m, x->attr, x->u32);
                        break;
                case V_U64:
                        tlsd_msg_put_u64(&m, x->attr, x->u64);
                        break;
                case V_STR:
                        tlsd_msg_put_str(&m, x->attr, x->str);
                        break;
                case V_BIN:
                        tlsd_msg_put(&m, x->attr, x->bin, x->size);
                        break;
                case V_END:
                        break;
                }
        ck_assert_msg(tlsd_msg_end(&m) == 0, "%s: tlsd_msg_end failed", t->name);

        ck_assert_msg(tlsd_msg_parse(m.buf, m.size, 0, dir, &v) == 0, "%s: parse failed: %s",
                      t->name, tlsd_proto_error_name(v.error));
        check_view(t, &v, m.buf, m.size);

        /* The same bytes never pass in the other direction. */
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, dir == TO ? FROM : TO, &v), -EBADMSG);
        ck_assert_int_eq(v.error, TLSD_PROTO_BAD_FLAGS);

        /* Nor with one descriptor more than the type takes. */
        max_fds = tlsd_msg_max_fds(t->type, dir, t->flags);
        ck_assert_uint_le(max_fds, TLSD_FDS_MAX);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, max_fds + 1, dir, &v), -EBADMSG);
        ck_assert_int_eq(v.error, TLSD_PROTO_UNEXPECTED_FDS);

        tlsd_msg_done(&m);
        ck_assert_ptr_null(m.buf);
}
END_TEST

/* The builder writes exactly the layout described in proto.h. */
START_TEST(test_builder_layout) {
        TlsdMsg m = TLSD_MSG_INIT;
        uint32_t u32;
        uint16_t u16;
        Raw r = { .buf = NULL };

        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 0x01020304), 0);
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, "abc", 3);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);

        ck_assert_uint_eq(m.size, 24);
        memcpy(&u32, m.buf + 0, 4);
        ck_assert_uint_eq(u32, TLSD_PROTO_MAGIC);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        ck_assert_mem_eq(m.buf, "tlsd", 4);
#endif
        ck_assert_uint_eq(m.buf[4], TLSD_PROTO_VERSION);
        ck_assert_uint_eq(m.buf[5], 0);
        memcpy(&u16, m.buf + 6, 2);
        ck_assert_uint_eq(u16, TLSD_MSG_PING);
        memcpy(&u32, m.buf + 8, 4);
        ck_assert_uint_eq(u32, 0x01020304);
        memcpy(&u32, m.buf + 12, 4);
        ck_assert_uint_eq(u32, 8);
        memcpy(&u16, m.buf + 16, 2);
        ck_assert_uint_eq(u16, 7);
        memcpy(&u16, m.buf + 18, 2);
        ck_assert_uint_eq(u16, TLSD_A_PAYLOAD);
        ck_assert_mem_eq(m.buf + 20, "abc\0", 4);

        /* And the hand-written helper used for the malformed cases agrees. */
        raw_request(&r, TLSD_MSG_PING, 0x01020304);
        raw_attr(&r, TLSD_A_PAYLOAD, "abc", 3);
        raw_fix_length(&r);
        ck_assert_uint_eq(r.size, m.size);
        ck_assert_mem_eq(r.buf, m.buf, m.size);

        raw_free(&r);
        tlsd_msg_done(&m);
}
END_TEST

/* ---- builder ----------------------------------------------------------------------------- */

static void build_uid_in_ping(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, 0, 1);
        tlsd_msg_put_u32(m, TLSD_A_UID, 0);
}

static void build_payload_in_version(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_VERSION, 0, 1);
        tlsd_msg_put(m, TLSD_A_PAYLOAD, "x", 1);
}

static void build_whoami_without_pid(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_WHOAMI, TLSD_F_REPLY, 1);
        tlsd_msg_put_u32(m, TLSD_A_UID, 0);
        tlsd_msg_put_u32(m, TLSD_A_GID, 0);
}

static void build_request_id_0(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, 0, 0);
}

static void build_reply_id_0(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, TLSD_F_REPLY, 0);
}

static void build_unknown_type(TlsdMsg *m) {
        tlsd_msg_begin(m, (TlsdMsgType) 9999, 0, 1);
}

static void build_request_as_event(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, TLSD_F_EVENT, 0);
}

static void build_error_without_reply(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, TLSD_F_ERROR, 1);
        tlsd_msg_put_u32(m, TLSD_A_ERROR, TLSD_ERR_PARAM);
}

static void build_unknown_flag(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, TLSD_F_REPLY | 0x40, 1);
}

static void build_unterminated(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_VERSION, TLSD_F_REPLY, 1);
        tlsd_msg_put(m, TLSD_A_VERSION_STRING, "0.1.0", 5);
        tlsd_msg_put_u32(m, TLSD_A_PROTO_VERSION, 1);
}

static void build_bad_utf8(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_VERSION, TLSD_F_REPLY, 1);
        tlsd_msg_put_str(m, TLSD_A_VERSION_STRING, "0.1.0\xed\xa0\x80");
        tlsd_msg_put_u32(m, TLSD_A_PROTO_VERSION, 1);
}

static void build_string_over_max(TlsdMsg *m) {
        char s[VERSION_MAX + 1];

        fill_string(s, sizeof(s), 'v');
        tlsd_msg_begin(m, TLSD_MSG_VERSION, TLSD_F_REPLY, 1);
        tlsd_msg_put_str(m, TLSD_A_VERSION_STRING, s);
        tlsd_msg_put_u32(m, TLSD_A_PROTO_VERSION, 1);
}

static void build_empty_string(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, TLSD_F_REPLY | TLSD_F_ERROR, 1);
        tlsd_msg_put_u32(m, TLSD_A_ERROR, TLSD_ERR_PARAM);
        tlsd_msg_put(m, TLSD_A_MESSAGE, "", 0);
}

static void build_payload_over_max(TlsdMsg *m) {
        static const uint8_t p[PAYLOAD_MAX + 1];

        tlsd_msg_begin(m, TLSD_MSG_PING, 0, 1);
        tlsd_msg_put(m, TLSD_A_PAYLOAD, p, sizeof(p));
}

static void build_duplicate(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, 0, 1);
        tlsd_msg_put(m, TLSD_A_PAYLOAD, "a", 1);
        tlsd_msg_put(m, TLSD_A_PAYLOAD, "b", 1);
}

static void build_u64_as_u32(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_WHOAMI, TLSD_F_REPLY, 1);
        tlsd_msg_put_u64(m, TLSD_A_UID, 0);
        tlsd_msg_put_u32(m, TLSD_A_GID, 0);
        tlsd_msg_put_u32(m, TLSD_A_PID, 0);
}

static void build_error_reply_without_error(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, TLSD_F_REPLY | TLSD_F_ERROR, 1);
        tlsd_msg_put_str(m, TLSD_A_MESSAGE, "what went wrong?");
}

static void build_unknown_attr(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_PING, 0, 1);
        tlsd_msg_put_u32(m, (TlsdAttrType) 9999, 0);
}

static void build_event_with_id(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_EVENT_DISCONNECTED, TLSD_F_EVENT, 1);
        tlsd_msg_put_u64(m, TLSD_A_CONNECTION_ID, 1);
        tlsd_msg_put_u32(m, TLSD_A_REASON, 0);
}

static void build_event_as_request(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_EVENT_DISCONNECTED, 0, 1);
        tlsd_msg_put_u64(m, TLSD_A_CONNECTION_ID, 1);
        tlsd_msg_put_u32(m, TLSD_A_REASON, 0);
}

static void build_u32_as_u64(TlsdMsg *m) {
        tlsd_msg_begin(m, TLSD_MSG_SESSION_DESTROY, 0, 1);
        tlsd_msg_put_u32(m, TLSD_A_SESSION_ID, 1);
}

static void (*const invalid_builds[])(TlsdMsg *m) = {
        build_uid_in_ping,
        build_payload_in_version,
        build_whoami_without_pid,
        build_request_id_0,
        build_reply_id_0,
        build_unknown_type,
        build_request_as_event,
        build_error_without_reply,
        build_unknown_flag,
        build_unterminated,
        build_bad_utf8,
        build_string_over_max,
        build_empty_string,
        build_payload_over_max,
        build_duplicate,
        build_u64_as_u32,
        build_error_reply_without_error,
        build_unknown_attr,
        build_event_with_id,
        build_event_as_request,
        build_u32_as_u64,
};

START_TEST(test_builder_rejects_invalid) {
        TlsdMsg m = TLSD_MSG_INIT;

        invalid_builds[_i](&m);
        ck_assert_int_eq(m.error, 0);
        ck_assert_int_eq(tlsd_msg_end(&m), -EBADMSG);
        tlsd_msg_done(&m);
}
END_TEST

START_TEST(test_builder_too_large) {
        static uint8_t big[UINT16_MAX];
        TlsdMsg m = TLSD_MSG_INIT;
        size_t size;

        /* One attribute over what its u16 length can say. */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 1), 0);
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, big, UINT16_MAX - TLSD_ATTR_HEADER_SIZE + 1);
        ck_assert_int_eq(m.error, -EMSGSIZE);
        ck_assert_int_eq(tlsd_msg_end(&m), -EMSGSIZE);

        /* The largest attribute is fine for the builder (the tables reject it at the end). */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 1), 0);
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, big, UINT16_MAX - TLSD_ATTR_HEADER_SIZE);
        ck_assert_int_eq(m.error, 0);
        ck_assert_int_eq(tlsd_msg_end(&m), -EBADMSG);

        /* Exactly TLSD_MSG_MAX bytes is still a size the builder accepts... */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 1), 0);
        size = (TLSD_MSG_MAX - TLSD_HEADER_SIZE) / 2 - TLSD_ATTR_HEADER_SIZE;
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, big, size);
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, big, size);
        ck_assert_int_eq(m.error, 0);
        ck_assert_uint_eq(m.size, TLSD_MSG_MAX);
        ck_assert_int_eq(tlsd_msg_end(&m), -EBADMSG);
        /* ... one attribute more is not. */
        tlsd_msg_put_u32(&m, TLSD_A_UID, 0);
        ck_assert_int_eq(m.error, -EMSGSIZE);
        ck_assert_uint_eq(m.size, TLSD_MSG_MAX);
        ck_assert_int_eq(tlsd_msg_end(&m), -EMSGSIZE);

        /* Many attributes, each within u16, adding up to more than TLSD_MSG_MAX. */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 1), 0);
        for (int i = 0; i < 3; i++)
                tlsd_msg_put(&m, TLSD_A_PAYLOAD, big, 60000);
        ck_assert_int_eq(tlsd_msg_end(&m), -EMSGSIZE);

        tlsd_msg_done(&m);
}
END_TEST

START_TEST(test_builder_sticky) {
        static uint8_t big[UINT16_MAX];
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;
        size_t size;

        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 1), 0);
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, "ok", 2);
        size = m.size;
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, big, sizeof(big));
        ck_assert_int_eq(m.error, -EMSGSIZE);
        ck_assert_uint_eq(m.size, size);

        /* Later puts change nothing, the first error stays, whatever else is wrong. */
        tlsd_msg_put_u32(&m, TLSD_A_UID, 1);
        tlsd_msg_put_u64(&m, TLSD_A_GID, 1);
        tlsd_msg_put_str(&m, TLSD_A_MESSAGE, "ignored");
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, "x", 1);
        ck_assert_uint_eq(m.size, size);
        ck_assert_int_eq(m.error, -EMSGSIZE);
        ck_assert_int_eq(tlsd_msg_end(&m), -EMSGSIZE);
        ck_assert_int_eq(tlsd_msg_end(&m), -EMSGSIZE);

        /* tlsd_msg_begin() starts over on the same buffer. */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 2), 0);
        ck_assert_int_eq(m.error, 0);
        ck_assert_uint_eq(m.size, TLSD_HEADER_SIZE);
        tlsd_msg_put(&m, TLSD_A_PAYLOAD, "again", 5);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, TO, &v), 0);
        ck_assert_uint_eq(v.header.id, 2);
        ck_assert_uint_eq(v.length[TLSD_A_PAYLOAD], 5);

        tlsd_msg_done(&m);
        ck_assert_ptr_null(m.buf);
        ck_assert_uint_eq(m.size, 0);
        tlsd_msg_done(&m);
}
END_TEST

START_TEST(test_builder_misc) {
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;

        /* Never begun. */
        ck_assert_int_eq(tlsd_msg_end(&m), -EINVAL);
        tlsd_msg_done(&m);

        /* No attributes: just the header, length 0. */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_WHOAMI, 0, 9), 0);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_uint_eq(m.size, TLSD_HEADER_SIZE);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, TO, &v), 0);
        ck_assert_uint_eq(v.header.length, 0);

        /* A second message on the same TlsdMsg does not keep the first one's bytes. */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, 0, 10), 0);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_uint_eq(m.size, TLSD_HEADER_SIZE);

        /* tlsd_msg_end() twice is harmless. */
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, TO, &v), 0);
        ck_assert_uint_eq(v.header.type, TLSD_MSG_PING);
        tlsd_msg_done(&m);
}
END_TEST

/* ---- error replies ----------------------------------------------------------------------- */

static void parse_error_reply(const TlsdMsg *m, TlsdMsgView *v, uint16_t type, uint32_t id,
                              enum tlsd_error error, uint32_t errno_value) {
        uint32_t u;

        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, 0, FROM, v), 0);
        ck_assert_uint_eq(v->header.flags, TLSD_F_REPLY | TLSD_F_ERROR);
        ck_assert_uint_eq(v->header.type, type);
        ck_assert_uint_eq(v->header.id, id);
        ck_assert_int_eq(tlsd_msg_get_u32(v, TLSD_A_ERROR, &u), 0);
        ck_assert_uint_eq(u, error);
        ck_assert_int_eq(tlsd_msg_get_u32(v, TLSD_A_ERRNO, &u), 0);
        ck_assert_uint_eq(u, errno_value);
        ck_assert(!tlsd_msg_has(v, TLSD_A_ALERT));
        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, 0, TO, v), -EBADMSG);
        ck_assert_int_eq(v->error, TLSD_PROTO_BAD_FLAGS);
        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, 1, FROM, v), -EBADMSG);
        ck_assert_int_eq(v->error, TLSD_PROTO_UNEXPECTED_FDS);
        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, 0, FROM, v), 0);
}

START_TEST(test_error_reply_with_message) {
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;
        const char *s;

        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 42, -EPERM, "not yours"), 0);
        parse_error_reply(&m, &v, TLSD_MSG_PING, 42, TLSD_ERR_PERMISSION, EPERM);
        ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &s), 0);
        ck_assert_str_eq(s, "not yours");
        tlsd_msg_done(&m);
}
END_TEST

START_TEST(test_error_reply_without_message) {
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;
        const char *s;

        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_WHOAMI, 7, -EKEYREJECTED, NULL), 0);
        parse_error_reply(&m, &v, TLSD_MSG_WHOAMI, 7, TLSD_ERR_VERIFY, EKEYREJECTED);
        ck_assert(!tlsd_msg_has(&v, TLSD_A_MESSAGE));
        ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &s), -ENODATA);
        tlsd_msg_done(&m);
}
END_TEST

START_TEST(test_error_reply_edges) {
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;
        char message[MESSAGE_MAX + 1];
        char *huge;
        const char *s;

        /* Echo of a request the daemon could not even parse. */
        ck_assert_int_eq(tlsd_msg_build_error(&m, 9999, 0, -EBADMSG, "bad request"), 0);
        parse_error_reply(&m, &v, 9999, 0, TLSD_ERR_PROTOCOL, EBADMSG);

        /* err 0 and an errno the table does not know. */
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 1, 0, NULL), 0);
        parse_error_reply(&m, &v, TLSD_MSG_PING, 1, TLSD_OK, 0);
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 1, -EXDEV, NULL), 0);
        parse_error_reply(&m, &v, TLSD_MSG_PING, 1, TLSD_ERR_INTERNAL, EXDEV);

        /* Message at its maximum, then one byte over. */
        fill_string(message, MESSAGE_MAX, 'm');
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 2, -EIO, message), 0);
        parse_error_reply(&m, &v, TLSD_MSG_PING, 2, TLSD_ERR_IO, EIO);
        ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &s), 0);
        ck_assert_uint_eq(strlen(s), MESSAGE_MAX - 1);
        fill_string(message, sizeof(message), 'm');
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 2, -EIO, message), -EBADMSG);

        /* A message the daemon should not send: not UTF-8. */
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 3, -EIO, "\xc0\xaf"), -EBADMSG);

        /* Larger than an attribute can be. */
        huge = malloc(200000);
        ck_assert_ptr_nonnull(huge);
        fill_string(huge, 200000, 'h');
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 4, -EIO, huge), -EMSGSIZE);
        free(huge);

        /* And the builder is usable again afterwards. */
        ck_assert_int_eq(tlsd_msg_build_error(&m, TLSD_MSG_PING, 5, -ETIMEDOUT, "slow"), 0);
        parse_error_reply(&m, &v, TLSD_MSG_PING, 5, TLSD_ERR_TIMEOUT, ETIMEDOUT);
        tlsd_msg_done(&m);
}
END_TEST

/* ---- every type, direction and attribute, driven by a copy of the tables ----------------- */

/*
 * A copy of attr_table and msg_table in proto.c: the protocol as specified. The spec test
 * drives the builder and the parser with it, for each side (request, reply or event, error
 * reply) of each type: the required attributes alone, every allowed attribute, each one at its
 * maximum and one over, each one twice, each required one missing, and each attribute the side
 * does not take. When the tables in proto.c change, this copy changes with them;
 * test_spec_coverage points at what is missing.
 */
typedef struct AttrInfo {
        ValKind kind;
        uint32_t max; /* value bytes of strings (with their NUL) and binaries */
} AttrInfo;

static const AttrInfo spec_attrs[_TLSD_A_MAX] = {
        [TLSD_A_ERROR] = { V_U32, 0 },
        [TLSD_A_ERRNO] = { V_U32, 0 },
        [TLSD_A_MESSAGE] = { V_STR, 1024 },
        [TLSD_A_ALERT] = { V_U32, 0 },
        [TLSD_A_VERSION_STRING] = { V_STR, 64 },
        [TLSD_A_PROTO_VERSION] = { V_U32, 0 },
        [TLSD_A_PAYLOAD] = { V_BIN, 4096 },
        [TLSD_A_UID] = { V_U32, 0 },
        [TLSD_A_GID] = { V_U32, 0 },
        [TLSD_A_PID] = { V_U32, 0 },
        [TLSD_A_TLS_LIBRARY] = { V_STR, 64 },
        [TLSD_A_SESSION_ID] = { V_U64, 0 },
        [TLSD_A_CONNECTION_ID] = { V_U64, 0 },
        [TLSD_A_ROLE] = { V_U32, 0 },
        [TLSD_A_VERSION_MIN] = { V_U32, 0 },
        [TLSD_A_VERSION_MAX] = { V_U32, 0 },
        [TLSD_A_CIPHERS] = { V_STR, 4096 },
        [TLSD_A_LEGACY] = { V_U32, 0 },
        [TLSD_A_GROUPS] = { V_STR, 256 },
        [TLSD_A_CERT] = { V_BIN, 65000 },
        [TLSD_A_KEY] = { V_BIN, 16384 },
        [TLSD_A_KEY_PASSWORD] = { V_STR, 1024 },
        [TLSD_A_PSK_IDENTITY] = { V_STR, 129 },
        [TLSD_A_PSK_KEY] = { V_BIN, 64 },
        [TLSD_A_CA] = { V_BIN, 65000 },
        [TLSD_A_SYSTEM_TRUST] = { V_U32, 0 },
        [TLSD_A_VERIFY_MODE] = { V_U32, 0 },
        [TLSD_A_PIN] = { V_BIN, 32 },
        [TLSD_A_ALPN] = { V_STR, 1024 },
        [TLSD_A_SERVER_NAME] = { V_STR, 254 },
        [TLSD_A_COMPRESSION] = { V_U32, 0 },
        [TLSD_A_HANDSHAKE_TIMEOUT] = { V_U32, 0 },
        [TLSD_A_FAMILY] = { V_U32, 0 },
        [TLSD_A_ADDRESS] = { V_STR, 64 },
        [TLSD_A_PORT] = { V_U32, 0 },
        [TLSD_A_HOST] = { V_STR, 254 },
        [TLSD_A_ACCEPT] = { V_U32, 0 },
        [TLSD_A_STATE] = { V_U32, 0 },
        [TLSD_A_TLS_VERSION] = { V_STR, 16 },
        [TLSD_A_CIPHER] = { V_STR, 64 },
        [TLSD_A_GROUP] = { V_STR, 32 },
        [TLSD_A_ALPN_SELECTED] = { V_STR, 256 },
        [TLSD_A_PEER_SUBJECT] = { V_STR, 1024 },
        [TLSD_A_VERIFY_RESULT] = { V_U32, 0 },
        [TLSD_A_BYTES_IN] = { V_U64, 0 },
        [TLSD_A_BYTES_OUT] = { V_U64, 0 },
        [TLSD_A_HANDSHAKE_USEC] = { V_U64, 0 },
        [TLSD_A_RESUMED] = { V_U32, 0 },
        [TLSD_A_REASON] = { V_U32, 0 },
        [TLSD_A_PEER_CHAIN] = { V_BIN, 65000 },
        [TLSD_A_LISTENER_ID] = { V_U64, 0 },
        [TLSD_A_BACKLOG] = { V_U32, 0 },
        [TLSD_A_MAX_PENDING] = { V_U32, 0 },
        [TLSD_A_MAX_CONNECTIONS] = { V_U32, 0 },
        [TLSD_A_PEER_ADDRESS] = { V_STR, 64 },
        [TLSD_A_PEER_PORT] = { V_U32, 0 },
        [TLSD_A_SNI] = { V_STR, 256 },
        [TLSD_A_CLIENT_AUTH] = { V_U32, 0 },
        [TLSD_A_TRANSPORT] = { V_U32, 0 },
        [TLSD_A_DTLS_TIMEOUT_INITIAL] = { V_U32, 0 },
        [TLSD_A_DTLS_TIMEOUT_MAX] = { V_U32, 0 },
        [TLSD_A_DTLS_RETRIES] = { V_U32, 0 },
        [TLSD_A_MTU] = { V_U32, 0 },
        [TLSD_A_DTLS_CID] = { V_U32, 0 },
        [TLSD_A_IDLE_TIMEOUT] = { V_U32, 0 },
        [TLSD_A_MAX_MESSAGE] = { V_U32, 0 },
        [TLSD_A_CID_IN_USE] = { V_U32, 0 },
        [TLSD_A_SIZE] = { V_U32, 0 },
        [TLSD_A_RETRIES] = { V_U32, 0 },
        [TLSD_A_RESUME] = { V_U32, 0 },
        [TLSD_A_TICKET_ID] = { V_U64, 0 },
        [TLSD_A_TICKET_ENTRIES] = { V_U32, 0 },
        [TLSD_A_TICKET_STORED] = { V_U64, 0 },
        [TLSD_A_TICKET_HITS] = { V_U64, 0 },
        [TLSD_A_TICKET_MISSES] = { V_U64, 0 },
        [TLSD_A_TICKET_EXPIRED] = { V_U64, 0 },
        [TLSD_A_TICKET_EVICTED] = { V_U64, 0 },
        [TLSD_A_TICKET_REJECTED] = { V_U64, 0 },
        [TLSD_A_SUPPRESSED] = { V_U32, 0 },
};

typedef struct Rule {
        uint16_t attr;
        bool required;
} Rule;

#define REQ(a)                                                                                     \
        { (a), true }
#define OPT(a)                                                                                     \
        { (a), false }
#define END_RULES                                                                                  \
        { 0, false }

static const Rule spec_ping[] = { OPT(TLSD_A_PAYLOAD), END_RULES };
static const Rule spec_version_reply[] = {
        REQ(TLSD_A_VERSION_STRING),
        REQ(TLSD_A_PROTO_VERSION),
        OPT(TLSD_A_TLS_LIBRARY),
        END_RULES,
};
static const Rule spec_whoami_reply[] = {
        REQ(TLSD_A_UID),
        REQ(TLSD_A_GID),
        REQ(TLSD_A_PID),
        END_RULES,
};
static const Rule spec_error_reply[] = {
        REQ(TLSD_A_ERROR), OPT(TLSD_A_ERRNO), OPT(TLSD_A_MESSAGE), OPT(TLSD_A_ALERT), END_RULES,
};

#define SPEC_SESSION_OPTIONS                                                                       \
        OPT(TLSD_A_VERSION_MIN), OPT(TLSD_A_VERSION_MAX), OPT(TLSD_A_CIPHERS), OPT(TLSD_A_LEGACY), \
                OPT(TLSD_A_GROUPS), OPT(TLSD_A_CERT), OPT(TLSD_A_KEY), OPT(TLSD_A_KEY_PASSWORD),   \
                OPT(TLSD_A_PSK_IDENTITY), OPT(TLSD_A_PSK_KEY), OPT(TLSD_A_CA),                     \
                OPT(TLSD_A_SYSTEM_TRUST), OPT(TLSD_A_VERIFY_MODE), OPT(TLSD_A_PIN),                \
                OPT(TLSD_A_ALPN), OPT(TLSD_A_SERVER_NAME), OPT(TLSD_A_COMPRESSION),                \
                OPT(TLSD_A_HANDSHAKE_TIMEOUT), OPT(TLSD_A_CLIENT_AUTH),                            \
                OPT(TLSD_A_DTLS_TIMEOUT_INITIAL), OPT(TLSD_A_DTLS_TIMEOUT_MAX),                    \
                OPT(TLSD_A_DTLS_RETRIES), OPT(TLSD_A_MTU), OPT(TLSD_A_DTLS_CID),                   \
                OPT(TLSD_A_IDLE_TIMEOUT), OPT(TLSD_A_RESUME)

static const Rule spec_session_create[] = {
        REQ(TLSD_A_ROLE),
        OPT(TLSD_A_TRANSPORT),
        SPEC_SESSION_OPTIONS,
        END_RULES,
};
static const Rule spec_session_configure[] = {
        REQ(TLSD_A_SESSION_ID),
        SPEC_SESSION_OPTIONS,
        END_RULES,
};
static const Rule spec_session_id[] = { REQ(TLSD_A_SESSION_ID), END_RULES };
static const Rule spec_connection_create[] = {
        REQ(TLSD_A_SESSION_ID),
        OPT(TLSD_A_FAMILY),
        END_RULES,
};
static const Rule spec_connection_id[] = { REQ(TLSD_A_CONNECTION_ID), END_RULES };
static const Rule spec_connection_bind[] = {
        REQ(TLSD_A_CONNECTION_ID),
        OPT(TLSD_A_ADDRESS),
        OPT(TLSD_A_PORT),
        END_RULES,
};
static const Rule spec_connection_connect[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_HOST),      REQ(TLSD_A_PORT),
        OPT(TLSD_A_SERVER_NAME),   OPT(TLSD_A_TICKET_ID), END_RULES,
};
static const Rule spec_ticket_id_reply[] = { REQ(TLSD_A_TICKET_ID), END_RULES };
static const Rule spec_ticket_stats_reply[] = {
        REQ(TLSD_A_TICKET_ENTRIES),  REQ(TLSD_A_TICKET_STORED),
        REQ(TLSD_A_TICKET_HITS),     REQ(TLSD_A_TICKET_MISSES),
        REQ(TLSD_A_TICKET_EXPIRED),  REQ(TLSD_A_TICKET_EVICTED),
        REQ(TLSD_A_TICKET_REJECTED), END_RULES,
};
static const Rule spec_certificate_response[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_ACCEPT),
        END_RULES,
};
static const Rule spec_connection_info_reply[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_STATE),
        OPT(TLSD_A_TLS_VERSION),   OPT(TLSD_A_CIPHER),
        OPT(TLSD_A_GROUP),         OPT(TLSD_A_ALPN_SELECTED),
        OPT(TLSD_A_PEER_SUBJECT),  OPT(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_RESUMED),       REQ(TLSD_A_BYTES_IN),
        REQ(TLSD_A_BYTES_OUT),     OPT(TLSD_A_HANDSHAKE_USEC),
        OPT(TLSD_A_TRANSPORT),     OPT(TLSD_A_MAX_MESSAGE),
        OPT(TLSD_A_CID_IN_USE),    END_RULES,
};
static const Rule spec_handshake_done[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_TLS_VERSION),
        REQ(TLSD_A_CIPHER),
        OPT(TLSD_A_GROUP),
        OPT(TLSD_A_ALPN_SELECTED),
        OPT(TLSD_A_PEER_SUBJECT),
        REQ(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_RESUMED),
        OPT(TLSD_A_HANDSHAKE_USEC),
        OPT(TLSD_A_TRANSPORT),
        OPT(TLSD_A_MAX_MESSAGE),
        OPT(TLSD_A_CID_IN_USE),
        END_RULES,
};
static const Rule spec_handshake_failed[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_ERROR),
        OPT(TLSD_A_ERRNO),
        OPT(TLSD_A_MESSAGE),
        OPT(TLSD_A_ALERT),
        OPT(TLSD_A_VERIFY_RESULT),
        END_RULES,
};
static const Rule spec_certificate[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_PEER_CHAIN),
        OPT(TLSD_A_PEER_SUBJECT),
        END_RULES,
};
static const Rule spec_disconnected[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_REASON),    OPT(TLSD_A_ALERT),
        OPT(TLSD_A_BYTES_IN),      OPT(TLSD_A_BYTES_OUT), END_RULES,
};

static const Rule spec_listen[] = {
        REQ(TLSD_A_SESSION_ID),  OPT(TLSD_A_ADDRESS),         REQ(TLSD_A_PORT), OPT(TLSD_A_BACKLOG),
        OPT(TLSD_A_MAX_PENDING), OPT(TLSD_A_MAX_CONNECTIONS), END_RULES,
};
static const Rule spec_listen_reply[] = {
        REQ(TLSD_A_LISTENER_ID),
        REQ(TLSD_A_ADDRESS),
        REQ(TLSD_A_PORT),
        END_RULES,
};
static const Rule spec_listener_id[] = { REQ(TLSD_A_LISTENER_ID), END_RULES };
static const Rule spec_adopt[] = {
        REQ(TLSD_A_SESSION_ID),
        OPT(TLSD_A_HOST),
        OPT(TLSD_A_SERVER_NAME),
        END_RULES,
};
static const Rule spec_accepted[] = {
        REQ(TLSD_A_LISTENER_ID),
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_PEER_ADDRESS),
        REQ(TLSD_A_PEER_PORT),
        REQ(TLSD_A_TLS_VERSION),
        REQ(TLSD_A_CIPHER),
        OPT(TLSD_A_GROUP),
        OPT(TLSD_A_ALPN_SELECTED),
        OPT(TLSD_A_PEER_SUBJECT),
        OPT(TLSD_A_SNI),
        OPT(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_RESUMED),
        OPT(TLSD_A_HANDSHAKE_USEC),
        OPT(TLSD_A_TRANSPORT),
        OPT(TLSD_A_MAX_MESSAGE),
        OPT(TLSD_A_CID_IN_USE),
        END_RULES,
};
static const Rule spec_accept_failed[] = {
        REQ(TLSD_A_LISTENER_ID),
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_PEER_ADDRESS),
        REQ(TLSD_A_PEER_PORT),
        REQ(TLSD_A_ERROR),
        OPT(TLSD_A_ERRNO),
        OPT(TLSD_A_MESSAGE),
        OPT(TLSD_A_ALERT),
        OPT(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_SUPPRESSED),
        END_RULES,
};
static const Rule spec_timeout[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_RETRIES),
        OPT(TLSD_A_MESSAGE),
        END_RULES,
};
static const Rule spec_message_too_large[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_SIZE), REQ(TLSD_A_MAX_MESSAGE),
        OPT(TLSD_A_ERRNO),         END_RULES,
};

typedef struct MsgInfo {
        const char *name;
        bool is_event;
        const Rule *request; /* NULL: no attributes */
        const Rule *reply;   /* or the event's */
        unsigned request_fds;
        unsigned reply_fds;
} MsgInfo;

static const MsgInfo spec_msgs[_TLSD_MSG_MAX] = {
        [TLSD_MSG_VERSION] = { "Version", false, NULL, spec_version_reply, 0, 0 },
        [TLSD_MSG_PING] = { "Ping", false, spec_ping, spec_ping, 0, 0 },
        [TLSD_MSG_WHOAMI] = { "WhoAmI", false, NULL, spec_whoami_reply, 0, 0 },
        [TLSD_MSG_SESSION_CREATE] = { "CreateSession", false, spec_session_create, spec_session_id,
                                      0, 0 },
        [TLSD_MSG_SESSION_CONFIGURE] = { "ConfigureSession", false, spec_session_configure, NULL, 0,
                                         0 },
        [TLSD_MSG_SESSION_DESTROY] = { "DestroySession", false, spec_session_id, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_CREATE] = { "CreateConnection", false, spec_connection_create,
                                         spec_connection_id, 0, 0 },
        [TLSD_MSG_CONNECTION_BIND] = { "Bind", false, spec_connection_bind, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_CONNECT] = { "Connect", false, spec_connection_connect, NULL, 0, 0 },
        [TLSD_MSG_CERTIFICATE_RESPONSE] = { "CertificateResponse", false, spec_certificate_response,
                                            NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_INFO] = { "GetInfo", false, spec_connection_id,
                                       spec_connection_info_reply, 0, 0 },
        [TLSD_MSG_CONNECTION_DISCONNECT] = { "Disconnect", false, spec_connection_id, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_DESTROY] = { "DestroyConnection", false, spec_connection_id, NULL, 0,
                                          0 },
        [TLSD_MSG_EVENT_HANDSHAKE_DONE] = { "HandshakeDone", true, NULL, spec_handshake_done, 0,
                                            1 },
        [TLSD_MSG_EVENT_HANDSHAKE_FAILED] = { "HandshakeFailed", true, NULL, spec_handshake_failed,
                                              0, 0 },
        [TLSD_MSG_EVENT_CERTIFICATE] = { "CertificateIndication", true, NULL, spec_certificate, 0,
                                         0 },
        [TLSD_MSG_EVENT_DISCONNECTED] = { "Disconnected", true, NULL, spec_disconnected, 0, 0 },
        [TLSD_MSG_LISTEN] = { "Listen", false, spec_listen, spec_listen_reply, 0, 0 },
        [TLSD_MSG_LISTENER_CLOSE] = { "CloseListener", false, spec_listener_id, NULL, 0, 0 },
        [TLSD_MSG_ADOPT] = { "Adopt", false, spec_adopt, spec_connection_id, 1, 0 },
        [TLSD_MSG_EVENT_ACCEPTED] = { "Accepted", true, NULL, spec_accepted, 0, 1 },
        [TLSD_MSG_EVENT_TIMEOUT] = { "Timeout", true, NULL, spec_timeout, 0, 0 },
        [TLSD_MSG_CONNECTION_RETRY] = { "Retry", false, spec_connection_id, NULL, 0, 0 },
        [TLSD_MSG_EVENT_MESSAGE_TOO_LARGE] = { "MessageTooLarge", true, NULL,
                                               spec_message_too_large, 0, 0 },
        [TLSD_MSG_GET_TICKET] = { "GetTicket", false, spec_connection_id, spec_ticket_id_reply, 0,
                                  0 },
        [TLSD_MSG_TICKET_STATS] = { "TicketStats", false, NULL, spec_ticket_stats_reply, 0, 0 },
        [TLSD_MSG_EVENT_ACCEPT_FAILED] = { "AcceptFailed", true, NULL, spec_accept_failed, 0, 0 },
        [TLSD_MSG_CONNECTION_SHUTDOWN] = { "Shutdown", false, spec_connection_id, NULL, 0, 0 },
};

typedef enum SideKind {
        SIDE_REQUEST,
        SIDE_REPLY, /* or the event */
        SIDE_ERROR,
        _SIDE_MAX,
} SideKind;

typedef struct Side {
        unsigned type;
        const char *what;
        uint8_t flags;
        uint32_t id;
        TlsdDirection dir;
        const Rule *rules;
        unsigned fds;
} Side;

/* False when the type has no such side: events have no request. */
static bool spec_side(unsigned type, SideKind kind, Side *ret) {
        const MsgInfo *mi = &spec_msgs[type];

        switch (kind) {
        case SIDE_REQUEST:
                if (mi->is_event)
                        return false;
                *ret = (Side){ type, "request", 0, 1000 + type, TO, mi->request, mi->request_fds };
                return true;
        case SIDE_REPLY:
                if (mi->is_event)
                        *ret = (Side){ type, "event",   TLSD_F_EVENT, 0,
                                       FROM, mi->reply, mi->reply_fds };
                else
                        *ret = (Side){ type, "reply",   TLSD_F_REPLY, 2000 + type,
                                       FROM, mi->reply, mi->reply_fds };
                return true;
        case SIDE_ERROR:
                *ret = (Side){ type,
                               "error reply",
                               TLSD_F_REPLY | TLSD_F_ERROR,
                               3000 + type,
                               FROM,
                               spec_error_reply,
                               0 };
                return true;
        default:
                return false;
        }
}

static const Rule *spec_rule(const Rule *rules, unsigned a) {
        for (const Rule *r = rules; r && r->attr; r++)
                if (r->attr == a)
                        return r;
        return NULL;
}

typedef enum ValueMode {
        VALUE_NONE,    /* absent */
        VALUE_TYPICAL, /* short, distinct per attribute */
        VALUE_MAX,     /* the largest valid value */
        VALUE_EMPTY,   /* no bytes: valid only for binaries */
        VALUE_BAD,     /* over the maximum, or the wrong size for a number */
} ValueMode;

static bool value_valid(unsigned a, ValueMode mode) {
        return mode == VALUE_TYPICAL || mode == VALUE_MAX ||
               (mode == VALUE_EMPTY && spec_attrs[a].kind == V_BIN);
}

/* The value attribute a has in this mode, into buf (UINT16_MAX bytes); returns its size. */
static size_t make_value(unsigned a, ValueMode mode, uint8_t *buf) {
        const AttrInfo *ai = &spec_attrs[a];
        uint32_t u32;
        uint64_t u64;
        size_t n;

        switch (ai->kind) {
        case V_U32:
                if (mode == VALUE_EMPTY)
                        return 0;
                if (mode == VALUE_BAD) {
                        memset(buf, 0x5a, 8);
                        return 8;
                }
                u32 = mode == VALUE_MAX ? UINT32_MAX : 0x10000u * a + 7;
                memcpy(buf, &u32, sizeof(u32));
                return sizeof(u32);
        case V_U64:
                if (mode == VALUE_EMPTY)
                        return 0;
                if (mode == VALUE_BAD) {
                        memset(buf, 0x5a, 4);
                        return 4;
                }
                u64 = mode == VALUE_MAX ? UINT64_MAX : ((uint64_t) a << 40) | UINT64_C(0xdeadbeef);
                memcpy(buf, &u64, sizeof(u64));
                return sizeof(u64);
        case V_STR:
                switch (mode) {
                case VALUE_TYPICAL:
                        /* "39:€", within the smallest string maximum */
                        return (size_t) snprintf((char *) buf, 16, "%u:\xe2\x82\xac", a) + 1;
                case VALUE_MAX:
                        /* max - 1 bytes of three-byte characters and ASCII, then the NUL */
                        n = ai->max - 1;
                        for (size_t i = 0; i + 3 <= n; i += 3)
                                memcpy(buf + i, "\xe2\x82\xac", 3);
                        memset(buf + n / 3 * 3, 'a', n % 3);
                        buf[n] = 0;
                        return n + 1;
                case VALUE_BAD:
                        memset(buf, 'o', ai->max);
                        buf[ai->max] = 0;
                        return ai->max + 1;
                default:
                        return 0;
                }
        case V_BIN:
                n = mode == VALUE_TYPICAL ? 5
                    : mode == VALUE_MAX   ? ai->max
                    : mode == VALUE_BAD   ? ai->max + 1
                                          : 0;
                for (size_t i = 0; i < n; i++)
                        buf[i] = (uint8_t) (i * 31 + a);
                return n;
        case V_END:
                break;
        }
        ck_abort_msg("attribute %u not in spec_attrs", a);
        return 0;
}

static void put_value(TlsdMsg *m, unsigned a, ValueMode mode) {
        static uint8_t buf[UINT16_MAX + 1];
        size_t n = make_value(a, mode, buf);
        uint32_t u32;
        uint64_t u64;

        if (!value_valid(a, mode)) {
                tlsd_msg_put(m, (TlsdAttrType) a, buf, n);
                return;
        }
        switch (spec_attrs[a].kind) {
        case V_U32:
                memcpy(&u32, buf, sizeof(u32));
                tlsd_msg_put_u32(m, (TlsdAttrType) a, u32);
                break;
        case V_U64:
                memcpy(&u64, buf, sizeof(u64));
                tlsd_msg_put_u64(m, (TlsdAttrType) a, u64);
                break;
        case V_STR:
                tlsd_msg_put_str(m, (TlsdAttrType) a, (const char *) buf);
                break;
        default:
                tlsd_msg_put(m, (TlsdAttrType) a, n > 0 ? buf : NULL, n);
                break;
        }
}

/* Every getter agrees with the value put. */
static void check_value(const TlsdMsgView *v, unsigned a, ValueMode mode, const char *ctx) {
        static uint8_t buf[UINT16_MAX + 1];
        size_t n = make_value(a, mode, buf), size;
        ValKind kind = spec_attrs[a].kind;
        const void *p;
        const char *s;
        uint32_t u32;
        uint64_t u64;

        ck_assert_msg(tlsd_msg_has(v, (TlsdAttrType) a), "%s: %s missing", ctx, tlsd_attr_name(a));
        ck_assert_int_eq(tlsd_msg_get_bytes(v, (TlsdAttrType) a, &p, &size), 0);
        ck_assert_msg(size == n, "%s: %s has %zu bytes, expected %zu", ctx, tlsd_attr_name(a), size,
                      n);
        if (n > 0)
                ck_assert_mem_eq(p, buf, n);

        if (kind == V_U32) {
                ck_assert_int_eq(tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32), 0);
                ck_assert_mem_eq(&u32, buf, sizeof(u32));
        } else if (size != sizeof(u32))
                ck_assert_int_eq(tlsd_msg_get_u32(v, (TlsdAttrType) a, &u32), -EBADMSG);
        if (kind == V_U64) {
                ck_assert_int_eq(tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64), 0);
                ck_assert_mem_eq(&u64, buf, sizeof(u64));
        } else if (size != sizeof(u64))
                ck_assert_int_eq(tlsd_msg_get_u64(v, (TlsdAttrType) a, &u64), -EBADMSG);
        if (kind == V_STR) {
                ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), 0);
                ck_assert_str_eq(s, (const char *) buf);
        } else
                ck_assert_int_eq(tlsd_msg_get_str(v, (TlsdAttrType) a, &s), -EBADMSG);
}

/* Begins a message of this side with its required attributes, typical values, but skip; then
 * count times extra in mode. Returns tlsd_msg_end(); modes[] says what the message holds. */
static int build_side(TlsdMsg *m, const Side *s, unsigned skip, unsigned extra, ValueMode mode,
                      unsigned count, ValueMode modes[_TLSD_A_MAX]) {
        memset(modes, 0, sizeof(ValueMode) * _TLSD_A_MAX);
        ck_assert_int_eq(tlsd_msg_begin(m, (TlsdMsgType) s->type, s->flags, s->id), 0);
        for (const Rule *r = s->rules; r && r->attr; r++) {
                if (!r->required || r->attr == skip || r->attr == extra)
                        continue;
                put_value(m, r->attr, VALUE_TYPICAL);
                modes[r->attr] = VALUE_TYPICAL;
        }
        for (unsigned k = 0; k < count; k++)
                put_value(m, extra, mode);
        if (count > 0)
                modes[extra] = mode;
        return tlsd_msg_end(m);
}

static void expect_valid(const TlsdMsg *m, const Side *s, const ValueMode modes[_TLSD_A_MAX],
                         const char *ctx) {
        TlsdMsgView v;

        ck_assert_msg(tlsd_msg_parse(m->buf, m->size, s->fds, s->dir, &v) == 0,
                      "%s: parse failed: %s (attribute %s)", ctx, tlsd_proto_error_name(v.error),
                      tlsd_attr_name(v.error_attr));
        ck_assert_uint_eq(v.header.flags, s->flags);
        ck_assert_uint_eq(v.header.type, s->type);
        ck_assert_uint_eq(v.header.id, s->id);
        ck_assert_uint_eq(v.n_fds, s->fds);
        for (unsigned a = 0; a < _TLSD_A_MAX; a++)
                if (modes[a] != VALUE_NONE)
                        check_value(&v, a, modes[a], ctx);
                else
                        assert_absent(&v, a);

        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, s->fds + 1, s->dir, &v), -EBADMSG);
        ck_assert_int_eq(v.error, TLSD_PROTO_UNEXPECTED_FDS);
        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, 0, s->dir == TO ? FROM : TO, &v),
                         -EBADMSG);
        ck_assert_int_eq(v.error, TLSD_PROTO_BAD_FLAGS);
}

static void expect_refused(const TlsdMsg *m, const Side *s, TlsdProtoError error, unsigned attr,
                           const char *ctx) {
        TlsdMsgView v;

        ck_assert_msg(tlsd_msg_parse(m->buf, m->size, s->fds, s->dir, &v) == -EBADMSG,
                      "%s: accepted", ctx);
        ck_assert_msg(v.error == error && v.error_attr == attr,
                      "%s: %s (attribute %s), expected %s (attribute %s)", ctx,
                      tlsd_proto_error_name(v.error), tlsd_attr_name(v.error_attr),
                      tlsd_proto_error_name(error), tlsd_attr_name(attr));
}

/* A header the parser must refuse before looking at any attribute. */
static void expect_header_refused(unsigned type, uint8_t flags, uint32_t id, TlsdDirection dir,
                                  TlsdProtoError error) {
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;

        ck_assert_int_eq(tlsd_msg_begin(&m, (TlsdMsgType) type, flags, id), 0);
        ck_assert_int_eq(tlsd_msg_end(&m), -EBADMSG);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, dir, &v), -EBADMSG);
        ck_assert_msg(v.error == error, "%s flags %u id %u: %s, expected %s",
                      tlsd_msg_type_name(type), flags, id, tlsd_proto_error_name(v.error),
                      tlsd_proto_error_name(error));
        tlsd_msg_done(&m);
}

START_TEST(test_spec) {
        unsigned type = (unsigned) _i / _SIDE_MAX;
        SideKind kind = (SideKind) (_i % _SIDE_MAX);
        ValueMode modes[_TLSD_A_MAX];
        TlsdMsg m = TLSD_MSG_INIT;
        char ctx[256];
        Side s;

        if (kind == SIDE_REQUEST) {
                /* Which flags, ids and directions the type takes at all. */
                if (spec_msgs[type].is_event) {
                        expect_header_refused(type, 0, 1, TO, TLSD_PROTO_WRONG_DIRECTION);
                        expect_header_refused(type, TLSD_F_REPLY, 1, FROM,
                                              TLSD_PROTO_WRONG_DIRECTION);
                        expect_header_refused(type, TLSD_F_EVENT, 1, FROM, TLSD_PROTO_BAD_ID);
                } else {
                        expect_header_refused(type, TLSD_F_EVENT, 0, FROM,
                                              TLSD_PROTO_WRONG_DIRECTION);
                        expect_header_refused(type, 0, 0, TO, TLSD_PROTO_BAD_ID);
                        expect_header_refused(type, TLSD_F_REPLY, 0, FROM, TLSD_PROTO_BAD_ID);
                }
        }
        if (!spec_side(type, kind, &s))
                return;

        /* Only the required attributes. */
        snprintf(ctx, sizeof(ctx), "%s %s, required only", tlsd_msg_type_name(type), s.what);
        ck_assert_msg(build_side(&m, &s, 0, 0, VALUE_NONE, 0, modes) == 0, "%s: not built", ctx);
        expect_valid(&m, &s, modes, ctx);

        /* Every attribute the side takes. */
        snprintf(ctx, sizeof(ctx), "%s %s, everything", tlsd_msg_type_name(type), s.what);
        ck_assert_int_eq(tlsd_msg_begin(&m, (TlsdMsgType) type, s.flags, s.id), 0);
        memset(modes, 0, sizeof(modes));
        for (const Rule *r = s.rules; r && r->attr; r++) {
                put_value(&m, r->attr, VALUE_TYPICAL);
                modes[r->attr] = VALUE_TYPICAL;
        }
        ck_assert_msg(tlsd_msg_end(&m) == 0, "%s: not built", ctx);
        expect_valid(&m, &s, modes, ctx);

        for (const Rule *r = s.rules; r && r->attr; r++) {
                const char *name = tlsd_attr_name(r->attr);

                /* At its maximum, and empty where that is valid. */
                snprintf(ctx, sizeof(ctx), "%s %s, %s at max", tlsd_msg_type_name(type), s.what,
                         name);
                ck_assert_msg(build_side(&m, &s, 0, r->attr, VALUE_MAX, 1, modes) == 0,
                              "%s: not built", ctx);
                expect_valid(&m, &s, modes, ctx);
                if (spec_attrs[r->attr].kind == V_BIN) {
                        snprintf(ctx, sizeof(ctx), "%s %s, %s empty", tlsd_msg_type_name(type),
                                 s.what, name);
                        ck_assert_msg(build_side(&m, &s, 0, r->attr, VALUE_EMPTY, 1, modes) == 0,
                                      "%s: not built", ctx);
                        expect_valid(&m, &s, modes, ctx);
                } else {
                        snprintf(ctx, sizeof(ctx), "%s %s, %s empty", tlsd_msg_type_name(type),
                                 s.what, name);
                        ck_assert_int_eq(build_side(&m, &s, 0, r->attr, VALUE_EMPTY, 1, modes),
                                         -EBADMSG);
                        expect_refused(&m, &s, TLSD_PROTO_ATTR_SIZE, r->attr, ctx);
                }

                /* Over it, or the wrong size. */
                snprintf(ctx, sizeof(ctx), "%s %s, %s too large", tlsd_msg_type_name(type), s.what,
                         name);
                ck_assert_int_eq(build_side(&m, &s, 0, r->attr, VALUE_BAD, 1, modes), -EBADMSG);
                expect_refused(&m, &s, TLSD_PROTO_ATTR_SIZE, r->attr, ctx);

                /* Twice. */
                snprintf(ctx, sizeof(ctx), "%s %s, %s twice", tlsd_msg_type_name(type), s.what,
                         name);
                ck_assert_int_eq(build_side(&m, &s, 0, r->attr, VALUE_TYPICAL, 2, modes), -EBADMSG);
                expect_refused(&m, &s, TLSD_PROTO_ATTR_DUPLICATE, r->attr, ctx);

                /* Missing. */
                if (r->required) {
                        snprintf(ctx, sizeof(ctx), "%s %s, without %s", tlsd_msg_type_name(type),
                                 s.what, name);
                        ck_assert_int_eq(build_side(&m, &s, r->attr, 0, VALUE_NONE, 0, modes),
                                         -EBADMSG);
                        expect_refused(&m, &s, TLSD_PROTO_ATTR_MISSING, r->attr, ctx);
                }
        }

        /* Everything else is refused. */
        for (unsigned a = 1; a < _TLSD_A_MAX; a++) {
                if (spec_rule(s.rules, a))
                        continue;
                snprintf(ctx, sizeof(ctx), "%s %s, with %s", tlsd_msg_type_name(type), s.what,
                         tlsd_attr_name(a));
                ck_assert_int_eq(build_side(&m, &s, 0, a, VALUE_TYPICAL, 1, modes), -EBADMSG);
                expect_refused(&m, &s, TLSD_PROTO_ATTR_NOT_ALLOWED, a, ctx);
        }

        tlsd_msg_done(&m);
}
END_TEST

/* The copy of the tables is complete and agrees with what proto.c reports about them. */
START_TEST(test_spec_coverage) {
        for (unsigned a = 1; a < _TLSD_A_MAX; a++) {
                ck_assert_msg(spec_attrs[a].kind != V_END, "attribute %u (%s) not in spec_attrs", a,
                              tlsd_attr_name(a));
                ck_assert_str_ne(tlsd_attr_name(a), "unknown");
                if (spec_attrs[a].kind == V_STR)
                        ck_assert_uint_ge(spec_attrs[a].max, 8); /* room for a typical value */
        }
        for (unsigned t = 1; t < _TLSD_MSG_MAX; t++) {
                const MsgInfo *mi = &spec_msgs[t];

                ck_assert_msg(mi->name, "type %u (%s) not in spec_msgs", t, tlsd_msg_type_name(t));
                ck_assert_str_eq(tlsd_msg_type_name(t), mi->name);
                ck_assert_uint_eq(tlsd_msg_max_fds(t, TO, 0), mi->request_fds);
                ck_assert_uint_eq(
                        tlsd_msg_max_fds(t, FROM, mi->is_event ? TLSD_F_EVENT : TLSD_F_REPLY),
                        mi->reply_fds);
                ck_assert_uint_eq(tlsd_msg_max_fds(t, FROM, TLSD_F_REPLY | TLSD_F_ERROR), 0);
                ck_assert_uint_le(mi->request_fds, TLSD_FDS_MAX);
                ck_assert_uint_le(mi->reply_fds, TLSD_FDS_MAX);
        }
}
END_TEST

/* Text from elsewhere: invalid UTF-8 becomes '?', and it is cut to the maximum. */
START_TEST(test_put_str_lossy) {
        static const struct {
                const char *in;
                const char *out;
        } cases[] = {
                { "plain", "plain" },
                { "", "" },
                { UTF8_TEXT, UTF8_TEXT },
                { "a\xff"
                  "b",
                  "a?b" },
                { "\xc0\xaf", "??" },
                { "\xed\xa0\x80!", "?"
                                   "?"
                                   "?!" },
                { "x\xf4\x90\x80\x80", "x????" },
                { "\x80\x80", "??" },
                { "end \xe2\x82", "end ??" },
                { "\xc3(", "?(" },
        };
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdMsgView v;
        char long_in[MESSAGE_MAX + 100], long_out[MESSAGE_MAX];
        const char *s;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, TLSD_F_REPLY | TLSD_F_ERROR, 1),
                                 0);
                tlsd_msg_put_u32(&m, TLSD_A_ERROR, TLSD_ERR_INTERNAL);
                tlsd_msg_put_str_lossy(&m, TLSD_A_MESSAGE, cases[i].in);
                ck_assert_msg(tlsd_msg_end(&m) == 0, "case %zu not built", i);
                ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, FROM, &v), 0);
                ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &s), 0);
                ck_assert_str_eq(s, cases[i].out);
        }

        /* Cut to the maximum... */
        fill_string(long_in, sizeof(long_in), 'a');
        fill_string(long_out, sizeof(long_out), 'a');
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, TLSD_F_REPLY | TLSD_F_ERROR, 1), 0);
        tlsd_msg_put_u32(&m, TLSD_A_ERROR, TLSD_ERR_INTERNAL);
        tlsd_msg_put_str_lossy(&m, TLSD_A_MESSAGE, long_in);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, FROM, &v), 0);
        ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &s), 0);
        ck_assert_str_eq(s, long_out);

        /* ... and a character cut in half there becomes '?'. */
        memcpy(long_in + MESSAGE_MAX - 2, "\xe2\x82\xac", 3);
        long_out[MESSAGE_MAX - 2] = '?';
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_PING, TLSD_F_REPLY | TLSD_F_ERROR, 1), 0);
        tlsd_msg_put_u32(&m, TLSD_A_ERROR, TLSD_ERR_INTERNAL);
        tlsd_msg_put_str_lossy(&m, TLSD_A_MESSAGE, long_in);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, FROM, &v), 0);
        ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &s), 0);
        ck_assert_str_eq(s, long_out);

        tlsd_msg_done(&m);
}
END_TEST

/* ---- names ------------------------------------------------------------------------------- */

START_TEST(test_proto_error_names) {
        const char *invalid = tlsd_proto_error_name(_TLSD_PROTO_MAX);

        ck_assert_ptr_nonnull(invalid);
        for (unsigned e = 0; e < _TLSD_PROTO_MAX; e++) {
                const char *name = tlsd_proto_error_name((TlsdProtoError) e);

                ck_assert_msg(name && name[0], "no name for TlsdProtoError %u", e);
                ck_assert_str_ne(name, invalid);
                for (unsigned f = 0; f < e; f++)
                        ck_assert_msg(strcmp(name, tlsd_proto_error_name((TlsdProtoError) f)) != 0,
                                      "TlsdProtoError %u and %u share the name \"%s\"", e, f, name);
        }
        ck_assert_ptr_nonnull(tlsd_proto_error_name((TlsdProtoError) 9999));
        ck_assert_ptr_nonnull(tlsd_proto_error_name((TlsdProtoError) -1));
}
END_TEST

START_TEST(test_type_and_attr_names) {
        for (unsigned t = 1; t < _TLSD_MSG_MAX; t++) {
                ck_assert_str_ne(tlsd_msg_type_name(t), "unknown");
                for (unsigned u = 1; u < t; u++)
                        ck_assert_str_ne(tlsd_msg_type_name(t), tlsd_msg_type_name(u));
                /* Error replies never take descriptors. */
                ck_assert_uint_le(tlsd_msg_max_fds(t, TO, 0), TLSD_FDS_MAX);
                ck_assert_uint_le(tlsd_msg_max_fds(t, FROM, TLSD_F_REPLY), TLSD_FDS_MAX);
                ck_assert_uint_eq(tlsd_msg_max_fds(t, FROM, TLSD_F_REPLY | TLSD_F_ERROR), 0);
        }
        ck_assert_str_eq(tlsd_msg_type_name(TLSD_MSG_INVALID), "unknown");
        ck_assert_str_eq(tlsd_msg_type_name(_TLSD_MSG_MAX), "unknown");
        ck_assert_str_eq(tlsd_msg_type_name(UINT_MAX), "unknown");
        ck_assert_uint_eq(tlsd_msg_max_fds(9999, TO, 0), 0);

        for (unsigned a = 1; a < _TLSD_A_MAX; a++) {
                ck_assert_str_ne(tlsd_attr_name(a), "unknown");
                for (unsigned b = 1; b < a; b++)
                        ck_assert_str_ne(tlsd_attr_name(a), tlsd_attr_name(b));
        }
        ck_assert_str_eq(tlsd_attr_name(TLSD_A_INVALID), "unknown");
        ck_assert_str_eq(tlsd_attr_name(_TLSD_A_MAX), "unknown");
        ck_assert_str_eq(tlsd_attr_name(UINT_MAX), "unknown");
}
END_TEST

/* ---- error table ------------------------------------------------------------------------- */

static const struct {
        int errno_value;
        enum tlsd_error error;
} errno_map[] = {
        { 0, TLSD_OK },
        { EINPROGRESS, TLSD_ERR_WAIT },
        { EAGAIN, TLSD_ERR_WAIT },
        { ENOENT, TLSD_ERR_NOT_FOUND },
        { ESRCH, TLSD_ERR_NOT_FOUND },
        { EINVAL, TLSD_ERR_PARAM },
        { ERANGE, TLSD_ERR_PARAM },
        { E2BIG, TLSD_ERR_PARAM },
        { ENAMETOOLONG, TLSD_ERR_PARAM },
        { EMSGSIZE, TLSD_ERR_PARAM },
        { EDOM, TLSD_ERR_PARAM },
        { ENOMEM, TLSD_ERR_MEM },
        { ENOBUFS, TLSD_ERR_MEM },
        { EKEYREJECTED, TLSD_ERR_VERIFY },
        { EKEYEXPIRED, TLSD_ERR_CERTIFICATE },
        { ENOKEY, TLSD_ERR_CERTIFICATE },
        { EKEYREVOKED, TLSD_ERR_CERTIFICATE },
        { EPROTO, TLSD_ERR_HANDSHAKE },
        { ETIMEDOUT, TLSD_ERR_TIMEOUT },
        { EBADMSG, TLSD_ERR_PROTOCOL },
        { EPERM, TLSD_ERR_PERMISSION },
        { EACCES, TLSD_ERR_PERMISSION },
        { EUSERS, TLSD_ERR_LIMIT },
        { EDQUOT, TLSD_ERR_LIMIT },
        { EMFILE, TLSD_ERR_LIMIT },
        { ENFILE, TLSD_ERR_LIMIT },
        { EBUSY, TLSD_ERR_STATE },
        { EALREADY, TLSD_ERR_STATE },
        { EISCONN, TLSD_ERR_STATE },
        { ENOTCONN, TLSD_ERR_STATE },
        { EPROTONOSUPPORT, TLSD_ERR_REFUSED },
        { EOPNOTSUPP, TLSD_ERR_UNSUPPORTED },
        { EAFNOSUPPORT, TLSD_ERR_UNSUPPORTED },
        { ENOSYS, TLSD_ERR_UNSUPPORTED },
        { EIO, TLSD_ERR_IO },
        { ECONNREFUSED, TLSD_ERR_CONNECT },
        { ENETUNREACH, TLSD_ERR_CONNECT },
        { EHOSTUNREACH, TLSD_ERR_CONNECT },
        { EADDRNOTAVAIL, TLSD_ERR_RESOLVE },
        /* the network peer's reset: not the client's own connection to tlsd */
        { ECONNRESET, TLSD_ERR_CONNECT },
        { EPIPE, TLSD_ERR_CONNECT },
        { ECONNABORTED, TLSD_ERR_CONNECT },
        /* Not in the switch: internal. */
        { EFAULT, TLSD_ERR_INTERNAL },
        { EXDEV, TLSD_ERR_INTERNAL },
        { ENOTDIR, TLSD_ERR_INTERNAL },
        { 4095, TLSD_ERR_INTERNAL },
        { INT_MAX, TLSD_ERR_INTERNAL },
};

START_TEST(test_error_from_errno) {
        ck_assert_msg(tlsd_error_from_errno(-errno_map[_i].errno_value) == errno_map[_i].error,
                      "-%d maps to %s, expected %s", errno_map[_i].errno_value,
                      tlsd_error_name(tlsd_error_from_errno(-errno_map[_i].errno_value)),
                      tlsd_error_name(errno_map[_i].error));
}
END_TEST

/* The daemon maps its errnos with tlsd_error_from_errno(); none may become "connection to tlsd
 * lost", which only libtlsclient can know (a peer's reset was reported as that). */
START_TEST(test_error_never_disconnected) {
        for (int e = 1; e < 4096; e++)
                ck_assert_msg(tlsd_error_from_errno(-e) != TLSD_ERR_DISCONNECTED,
                              "errno %d maps to Disconnected", e);
}
END_TEST

START_TEST(test_error_from_errno_positive) {
        /* The argument is a negative errno; a positive one is a caller bug, not a match. */
        ck_assert_int_eq(tlsd_error_from_errno(EPERM), TLSD_ERR_INTERNAL);
        ck_assert_int_eq(tlsd_error_from_errno(ENOENT), TLSD_ERR_INTERNAL);
        ck_assert_int_eq(tlsd_error_from_errno(-INT_MAX), TLSD_ERR_INTERNAL);
}
END_TEST

START_TEST(test_error_to_errno) {
        for (int e = 0; e < _TLSD_ERR_MAX; e++) {
                int err = tlsd_error_to_errno((enum tlsd_error) e);

                if (e == TLSD_OK)
                        ck_assert_int_eq(err, 0);
                else
                        ck_assert_int_gt(err, 0);
                /* Disconnected is the client's own connection to tlsd: no errno of the daemon
                 * maps to it (test_error_never_disconnected), so it cannot round-trip. */
                if (e == TLSD_ERR_DISCONNECTED)
                        continue;
                ck_assert_msg(tlsd_error_from_errno(-err) == (enum tlsd_error) e,
                              "%s -> errno %d -> %s", tlsd_error_name(e), err,
                              tlsd_error_name(tlsd_error_from_errno(-err)));
        }
        ck_assert_int_eq(tlsd_error_to_errno(_TLSD_ERR_MAX),
                         tlsd_error_to_errno(TLSD_ERR_INTERNAL));
}
END_TEST

START_TEST(test_error_strings) {
        for (int e = 0; e < _TLSD_ERR_MAX; e++) {
                const char *name = tlsd_error_name(e);
                const char *embedded = tlsd_error_embedded_name(e);
                const char *message = tlsd_strerror(e);

                ck_assert_msg(name && name[0], "no name for %d", e);
                ck_assert_msg(embedded && embedded[0], "no embedded name for %d", e);
                ck_assert_msg(message && message[0], "no message for %d", e);

                /* D-Bus error suffix: a capitalised identifier. */
                ck_assert_msg(name[0] >= 'A' && name[0] <= 'Z', "bad name %s", name);
                for (const char *c = name; *c; c++)
                        ck_assert_msg((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                                              (*c >= '0' && *c <= '9'),
                                      "bad name %s", name);
                ck_assert_msg(strncmp(embedded, "TLS_", 4) == 0, "bad embedded name %s", embedded);

                for (int f = 0; f < e; f++) {
                        ck_assert_str_ne(name, tlsd_error_name(f));
                        ck_assert_str_ne(embedded, tlsd_error_embedded_name(f));
                }

                /* The negated form, as libtlsclient returns it, means the same. */
                ck_assert_str_eq(tlsd_error_name(-e), name);
                ck_assert_str_eq(tlsd_error_embedded_name(-e), embedded);
                ck_assert_str_eq(tlsd_strerror(-e), message);
        }
        ck_assert_str_eq(tlsd_error_name(TLSD_ERR_NOT_FOUND), "NotFound");
        ck_assert_str_eq(tlsd_error_embedded_name(TLSD_ERR_NOT_FOUND), "TLS_NOT_FOUND_ERR");
}
END_TEST

START_TEST(test_error_out_of_range) {
        static const int values[] = {
                _TLSD_ERR_MAX, _TLSD_ERR_MAX + 1, 1000, INT_MAX, -_TLSD_ERR_MAX, -1000, -INT_MAX,
        };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                ck_assert_str_eq(tlsd_strerror(values[i]), tlsd_strerror(TLSD_ERR_INTERNAL));
                ck_assert_str_eq(tlsd_error_name(values[i]), tlsd_error_name(TLSD_ERR_INTERNAL));
                ck_assert_str_eq(tlsd_error_embedded_name(values[i]),
                                 tlsd_error_embedded_name(TLSD_ERR_INTERNAL));
        }
}
END_TEST

/* INT_MIN: must not overflow in error_info() (common/error.c) nor in tlsd_error_from_errno(). */
START_TEST(test_error_int_min) {
        ck_assert_str_eq(tlsd_strerror(INT_MIN), tlsd_strerror(TLSD_ERR_INTERNAL));
        ck_assert_str_eq(tlsd_error_name(INT_MIN), tlsd_error_name(TLSD_ERR_INTERNAL));
        ck_assert_int_eq(tlsd_error_from_errno(INT_MIN), TLSD_ERR_INTERNAL);
}
END_TEST

/* ---- the session options table (common/session-options.c) ------------------------------- */

/*
 * The options as specified: the D-Bus key of each (org.tlsd1.Session, CreateSession's and
 * Configure's a{sv}), its attribute on the Unix socket, its D-Bus signature, and the fields it
 * fills. A copy, like spec_attrs: renaming a key or pointing a row at another field fails here.
 */
#define OPT_FIELD(f) offsetof(TlsdSessionOptions, f)
#define OPT_NONE TLSD_OPTION_NO_FIELD

static const struct {
        const char *key;
        uint16_t attr;
        const char *signature;
        bool create_only;
        size_t offset, has, size;
} spec_options[] = {
        { "VersionMin", TLSD_A_VERSION_MIN, "u", false, OPT_FIELD(version_min),
          OPT_FIELD(has_versions), OPT_NONE },
        { "VersionMax", TLSD_A_VERSION_MAX, "u", false, OPT_FIELD(version_max),
          OPT_FIELD(has_versions), OPT_NONE },
        { "Ciphers", TLSD_A_CIPHERS, "s", false, OPT_FIELD(ciphers), OPT_NONE, OPT_NONE },
        { "Legacy", TLSD_A_LEGACY, "b", false, OPT_FIELD(legacy), OPT_FIELD(has_legacy), OPT_NONE },
        { "Groups", TLSD_A_GROUPS, "s", false, OPT_FIELD(groups), OPT_NONE, OPT_NONE },
        { "Certificate", TLSD_A_CERT, "ay", false, OPT_FIELD(cert), OPT_NONE,
          OPT_FIELD(cert_size) },
        { "Key", TLSD_A_KEY, "ay", false, OPT_FIELD(key), OPT_NONE, OPT_FIELD(key_size) },
        { "KeyPassword", TLSD_A_KEY_PASSWORD, "s", false, OPT_FIELD(key_password), OPT_NONE,
          OPT_NONE },
        { "PskIdentity", TLSD_A_PSK_IDENTITY, "s", false, OPT_FIELD(psk_identity), OPT_NONE,
          OPT_NONE },
        { "PskKey", TLSD_A_PSK_KEY, "ay", false, OPT_FIELD(psk_key), OPT_NONE,
          OPT_FIELD(psk_key_size) },
        { "CA", TLSD_A_CA, "ay", false, OPT_FIELD(ca), OPT_NONE, OPT_FIELD(ca_size) },
        { "SystemTrust", TLSD_A_SYSTEM_TRUST, "b", false, OPT_FIELD(system_trust), OPT_NONE,
          OPT_NONE },
        { "VerifyMode", TLSD_A_VERIFY_MODE, "u", false, OPT_FIELD(verify), OPT_FIELD(has_verify),
          OPT_NONE },
        { "Pin", TLSD_A_PIN, "ay", false, OPT_FIELD(pin), OPT_NONE, OPT_FIELD(pin_size) },
        { "ALPN", TLSD_A_ALPN, "s", false, OPT_FIELD(alpn), OPT_NONE, OPT_NONE },
        { "ServerName", TLSD_A_SERVER_NAME, "s", false, OPT_FIELD(server_name), OPT_NONE,
          OPT_NONE },
        { "Compression", TLSD_A_COMPRESSION, "u", false, OPT_FIELD(compression),
          OPT_FIELD(has_compression), OPT_NONE },
        { "HandshakeTimeout", TLSD_A_HANDSHAKE_TIMEOUT, "u", false, OPT_FIELD(handshake_timeout_ms),
          OPT_FIELD(has_handshake_timeout), OPT_NONE },
        { "ClientAuth", TLSD_A_CLIENT_AUTH, "u", false, OPT_FIELD(client_auth),
          OPT_FIELD(has_client_auth), OPT_NONE },
        { "Transport", TLSD_A_TRANSPORT, "u", true, OPT_FIELD(transport), OPT_FIELD(has_transport),
          OPT_NONE },
        { "DtlsTimeoutInitial", TLSD_A_DTLS_TIMEOUT_INITIAL, "u", false,
          OPT_FIELD(dtls_timeout_initial_ms), OPT_FIELD(has_dtls_timeout_initial), OPT_NONE },
        { "DtlsTimeoutMax", TLSD_A_DTLS_TIMEOUT_MAX, "u", false, OPT_FIELD(dtls_timeout_max_ms),
          OPT_FIELD(has_dtls_timeout_max), OPT_NONE },
        { "DtlsRetries", TLSD_A_DTLS_RETRIES, "u", false, OPT_FIELD(dtls_retries),
          OPT_FIELD(has_dtls_retries), OPT_NONE },
        { "Mtu", TLSD_A_MTU, "u", false, OPT_FIELD(mtu), OPT_FIELD(has_mtu), OPT_NONE },
        { "DtlsCid", TLSD_A_DTLS_CID, "b", false, OPT_FIELD(dtls_cid), OPT_FIELD(has_dtls_cid),
          OPT_NONE },
        { "IdleTimeout", TLSD_A_IDLE_TIMEOUT, "u", false, OPT_FIELD(idle_timeout_ms),
          OPT_FIELD(has_idle_timeout), OPT_NONE },
        { "Resume", TLSD_A_RESUME, "b", false, OPT_FIELD(resume), OPT_FIELD(has_resume), OPT_NONE },
};

/* The table agrees with the copy above, with the protocol's tables (spec_attrs and the
 * session requests' rules) and with itself: keys and attributes unique, nothing missing. */
START_TEST(test_session_options_table) {
        const TlsdSessionOption *t;
        size_t n;

        t = tlsd_session_options_table(&n);
        ck_assert_uint_eq(n, ELEMENTSOF(spec_options));
        for (size_t i = 0; i < n; i++) {
                const TlsdSessionOption *r = &t[i];
                const char *sig = tlsd_session_option_signature(r);
                const Rule *in_create = spec_rule(spec_session_create, r->attr);
                const Rule *in_configure = spec_rule(spec_session_configure, r->attr);
                size_t k;

                /* unique */
                for (size_t j = 0; j < i; j++) {
                        ck_assert_msg(strcmp(t[j].key, r->key) != 0, "key %s twice", r->key);
                        ck_assert_msg(t[j].attr != r->attr, "attribute %s twice (%s, %s)",
                                      tlsd_attr_name(r->attr), t[j].key, r->key);
                }
                ck_assert_ptr_eq(tlsd_session_option_by_key(r->key), r);

                /* as specified */
                for (k = 0; k < ELEMENTSOF(spec_options); k++)
                        if (strcmp(spec_options[k].key, r->key) == 0)
                                break;
                ck_assert_msg(k < ELEMENTSOF(spec_options), "key %s not specified", r->key);
                ck_assert_msg(r->attr == spec_options[k].attr, "%s: attribute %s, expected %s",
                              r->key, tlsd_attr_name(r->attr),
                              tlsd_attr_name(spec_options[k].attr));
                ck_assert_str_eq(sig, spec_options[k].signature);
                ck_assert_int_eq(r->create_only, spec_options[k].create_only);
                ck_assert_msg(r->offset == spec_options[k].offset &&
                                      r->has == spec_options[k].has &&
                                      r->size == spec_options[k].size,
                              "%s: stored in other fields than specified", r->key);

                /* the protocol's attribute table: the same kind, the same limit */
                ck_assert_str_ne(tlsd_attr_name(r->attr), "unknown");
                switch (r->type) {
                case TLSD_OPTION_BOOL:
                case TLSD_OPTION_U32:
                case TLSD_OPTION_VERSION:
                        ck_assert_msg(spec_attrs[r->attr].kind == V_U32, "%s: not a u32", r->key);
                        ck_assert_uint_eq(tlsd_session_option_max(r), 0);
                        break;
                case TLSD_OPTION_STRING:
                        ck_assert_msg(spec_attrs[r->attr].kind == V_STR, "%s: not a string",
                                      r->key);
                        ck_assert_uint_eq(tlsd_session_option_max(r), spec_attrs[r->attr].max - 1);
                        break;
                case TLSD_OPTION_BYTES:
                        ck_assert_msg(spec_attrs[r->attr].kind == V_BIN, "%s: not binary", r->key);
                        ck_assert_uint_eq(tlsd_session_option_max(r), spec_attrs[r->attr].max);
                        break;
                default:
                        ck_abort_msg("%s: type %d", r->key, (int) r->type);
                }

                /* taken where the messages take it: create-only ones by SessionCreate alone */
                ck_assert_msg(in_create && !in_create->required, "%s: not in SessionCreate",
                              r->key);
                ck_assert_msg(!in_configure == r->create_only, "%s: %s SessionConfigure", r->key,
                              in_configure ? "in" : "not in");
        }

        /* every option a session request takes has its row */
        for (const Rule *rule = spec_session_create; rule->attr; rule++) {
                size_t i;

                if (rule->required) /* the role */
                        continue;
                for (i = 0; i < n; i++)
                        if (t[i].attr == rule->attr)
                                break;
                ck_assert_msg(i < n, "%s has no row", tlsd_attr_name(rule->attr));
        }

        /* D-Bus keys are matched exactly; "Persistent" is the D-Bus adapter's own */
        ck_assert_ptr_null(tlsd_session_option_by_key("Persistent"));
        ck_assert_ptr_null(tlsd_session_option_by_key("ca"));
        ck_assert_ptr_null(tlsd_session_option_by_key(""));
        ck_assert_ptr_null(tlsd_session_option_by_key("NoSuchOption"));
}
END_TEST

/* The codec's limits as proto.h states them, for every attribute. */
START_TEST(test_attr_max_size) {
        for (unsigned a = 0; a <= _TLSD_A_MAX; a++) {
                size_t expected = 0;

                if (a > 0 && a < _TLSD_A_MAX && spec_attrs[a].kind == V_STR)
                        expected = spec_attrs[a].max - 1;
                else if (a > 0 && a < _TLSD_A_MAX && spec_attrs[a].kind == V_BIN)
                        expected = spec_attrs[a].max;
                ck_assert_msg(tlsd_attr_max_size(a) == expected, "%s: %zu, expected %zu",
                              tlsd_attr_name(a), tlsd_attr_max_size(a), expected);
        }
        ck_assert_uint_eq(tlsd_attr_max_size(TLSD_A_CIPHERS), TLSD_CIPHERS_MAX);
        ck_assert_uint_eq(tlsd_attr_max_size(TLSD_A_CA), TLSD_CA_MAX);
        ck_assert_uint_eq(tlsd_attr_max_size(TLSD_A_SERVER_NAME), TLSD_NAME_MAX);
}
END_TEST

/* Each row's field in o, by the specified offsets (not the table's). */
#define OPT_AT(o, off, type)                                                                       \
        (*(__typeof__(type) const *) (const void *) ((const char *) (o) + (off)))

/* Encodes o into a request (SessionCreate or SessionConfigure) and decodes it again. */
static int options_through_wire(const TlsdSessionOptions *o, bool create, TlsdMsg *m,
                                TlsdMsgView *v, TlsdSessionOptions *ret) {
        int r;

        ck_assert_int_eq(
                tlsd_msg_begin(m, create ? TLSD_MSG_SESSION_CREATE : TLSD_MSG_SESSION_CONFIGURE, 0,
                               7),
                0);
        if (create)
                tlsd_msg_put_u32(m, TLSD_A_ROLE, 0);
        else
                tlsd_msg_put_u64(m, TLSD_A_SESSION_ID, 3);
        tlsd_session_options_put(m, o, create);
        r = tlsd_msg_end(m);
        if (r < 0)
                return r;
        ck_assert_int_eq(tlsd_msg_parse(m->buf, m->size, 0, TLSD_DIR_TO_DAEMON, v), 0);
        tlsd_session_options_parse(v, ret);
        return 0;
}

/* a and b hold the same options: every row present in both or neither, with equal values. */
static void expect_same_options(const TlsdSessionOptions *a, const TlsdSessionOptions *b,
                                const char *ctx) {
        for (size_t k = 0; k < ELEMENTSOF(spec_options); k++) {
                const char *key = spec_options[k].key, *sig = spec_options[k].signature;
                size_t off = spec_options[k].offset, has = spec_options[k].has;

                if (has != OPT_NONE)
                        ck_assert_msg(OPT_AT(a, has, bool) == OPT_AT(b, has, bool),
                                      "%s: %s present on one side only", ctx, key);
                if (strcmp(sig, "b") == 0)
                        ck_assert_msg(OPT_AT(a, off, bool) == OPT_AT(b, off, bool), "%s: %s", ctx,
                                      key);
                else if (strcmp(sig, "u") == 0)
                        ck_assert_msg(OPT_AT(a, off, unsigned) == OPT_AT(b, off, unsigned),
                                      "%s: %s is %u, expected %u", ctx, key,
                                      OPT_AT(b, off, unsigned), OPT_AT(a, off, unsigned));
                else if (strcmp(sig, "s") == 0) {
                        const char *x = OPT_AT(a, off, const char *),
                                   *y = OPT_AT(b, off, const char *);

                        ck_assert_msg(!x == !y, "%s: %s present on one side only", ctx, key);
                        if (x)
                                ck_assert_str_eq(x, y);
                } else {
                        const void *x = OPT_AT(a, off, const void *),
                                   *y = OPT_AT(b, off, const void *);
                        size_t size = spec_options[k].size;

                        ck_assert_msg(!x == !y, "%s: %s present on one side only", ctx, key);
                        ck_assert_uint_eq(OPT_AT(a, size, size_t), OPT_AT(b, size, size_t));
                        if (x && OPT_AT(a, size, size_t) > 0)
                                ck_assert_mem_eq(x, y, OPT_AT(a, size, size_t));
                }
        }
}

/* Options set through the table's setters, each row with a few values (a u32's extremes, a
 * bool's both, a string or byte array short, at the limit and over it): what the encoder
 * writes, the decoder reads back as it was, in the attribute the row names and no other. */
START_TEST(test_session_options_round_trip) {
        static char big[TLSD_MSG_MAX];
        const TlsdSessionOption *t, *row;
        TlsdMsg m = TLSD_MSG_INIT;
        size_t n;

        t = tlsd_session_options_table(&n);
        ck_assert_int_lt(_i, (int) n);
        row = &t[_i];
        memset(big, 'x', sizeof(big) - 1);

        for (unsigned variant = 0; variant < 3; variant++) {
                TlsdSessionOptions o = {}, back;
                size_t max = tlsd_session_option_max(row), size = 0;
                bool over = false;
                TlsdMsgView v;
                char ctx[128];
                int r;

                switch (row->type) {
                case TLSD_OPTION_BOOL:
                        tlsd_session_option_set_u32(&o, row, variant != 1);
                        break;
                case TLSD_OPTION_U32:
                case TLSD_OPTION_VERSION:
                        tlsd_session_option_set_u32(&o, row,
                                                    variant == 0   ? 0x0304
                                                    : variant == 1 ? 0
                                                                   : UINT32_MAX);
                        break;
                case TLSD_OPTION_STRING:
                        size = variant == 0 ? 5 : variant == 1 ? max : max + 1;
                        over = variant == 2;
                        big[size] = 0;
                        tlsd_session_option_set_str(&o, row, big);
                        break;
                case TLSD_OPTION_BYTES:
                        size = variant == 0 ? 5 : variant == 1 ? max : max + 1;
                        over = variant == 2;
                        tlsd_session_option_set_bytes(&o, row, big, size);
                        break;
                default:
                        ck_abort_msg("%s: type %d", row->key, (int) row->type);
                }
                snprintf(ctx, sizeof(ctx), "%s, %zu bytes, variant %u", row->key, size, variant);

                for (int create = 1; create >= 0; create--) {
                        r = options_through_wire(&o, create, &m, &v, &back);
                        if (over) {
                                /* the table's limit is the codec's: one byte more is refused */
                                ck_assert_msg(r == -EBADMSG, "%s: over the limit, built", ctx);
                                continue;
                        }
                        ck_assert_msg(r == 0, "%s: not built", ctx);
                        if (row->create_only && !create) {
                                /* left out of a Configure, which would refuse it */
                                TlsdSessionOptions none = {};

                                ck_assert(!tlsd_msg_has(&v, (TlsdAttrType) row->attr));
                                expect_same_options(&none, &back, ctx);
                                continue;
                        }
                        for (unsigned a = 1; a < _TLSD_A_MAX; a++) {
                                bool expected =
                                        a == row->attr ||
                                        a == (create ? TLSD_A_ROLE : TLSD_A_SESSION_ID) ||
                                        (row->type == TLSD_OPTION_VERSION &&
                                         (a == TLSD_A_VERSION_MIN || a == TLSD_A_VERSION_MAX));

                                /* SystemTrust (no has_): false is written as absent */
                                if (a == row->attr && row->has == TLSD_OPTION_NO_FIELD &&
                                    row->type == TLSD_OPTION_BOOL && variant == 1)
                                        expected = false;
                                ck_assert_msg(tlsd_msg_has(&v, (TlsdAttrType) a) == expected,
                                              "%s: attribute %s %s", ctx, tlsd_attr_name(a),
                                              expected ? "missing" : "written");
                        }
                        expect_same_options(&o, &back, ctx);
                }
                big[size] = 'x';
        }
        tlsd_msg_done(&m);
}
END_TEST

/* All at once, and none: an empty set writes no attribute and reads back empty. */
START_TEST(test_session_options_all_and_none) {
        static const uint8_t pin[32] = { 1, 2, 3 };
        TlsdSessionOptions o = {}, back, none = {};
        TlsdMsg m = TLSD_MSG_INIT;
        const TlsdSessionOption *t;
        TlsdMsgView v;
        size_t n;

        t = tlsd_session_options_table(&n);
        for (size_t i = 0; i < n; i++)
                switch (t[i].type) {
                case TLSD_OPTION_STRING:
                        tlsd_session_option_set_str(&o, &t[i], t[i].key);
                        break;
                case TLSD_OPTION_BYTES:
                        tlsd_session_option_set_bytes(&o, &t[i], pin, sizeof(pin));
                        break;
                default:
                        tlsd_session_option_set_u32(&o, &t[i], 100 + (uint32_t) i);
                        break;
                }
        ck_assert_int_eq(options_through_wire(&o, true, &m, &v, &back), 0);
        expect_same_options(&o, &back, "all");
        ck_assert_str_eq(back.ciphers, "Ciphers");
        ck_assert_uint_eq(back.pin_size, 32);
        ck_assert(back.has_transport && back.has_resume && back.resume);

        ck_assert_int_eq(options_through_wire(&none, false, &m, &v, &back), 0);
        for (unsigned a = 1; a < _TLSD_A_MAX; a++)
                ck_assert(tlsd_msg_has(&v, (TlsdAttrType) a) == (a == TLSD_A_SESSION_ID));
        expect_same_options(&none, &back, "none");
        tlsd_msg_done(&m);
}
END_TEST

/* One end of the version range brings the other's default, on the wire and through the
 * setters (the D-Bus adapter's way in); the order they come in does not matter. */
START_TEST(test_session_options_versions) {
        const TlsdSessionOption *min = tlsd_session_option_by_key("VersionMin");
        const TlsdSessionOption *max = tlsd_session_option_by_key("VersionMax");
        TlsdMsg m = TLSD_MSG_INIT;
        TlsdSessionOptions o = {};
        TlsdMsgView v;

        ck_assert_ptr_nonnull(min);
        ck_assert_ptr_nonnull(max);
        tlsd_session_option_set_u32(&o, max, 0x0303);
        ck_assert(o.has_versions);
        ck_assert_uint_eq(o.version_min, 0x0303);
        ck_assert_uint_eq(o.version_max, 0x0303);

        o = (TlsdSessionOptions){};
        tlsd_session_option_set_u32(&o, min, 0x0304);
        ck_assert_uint_eq(o.version_min, 0x0304);
        ck_assert_uint_eq(o.version_max, 0x0304);
        tlsd_session_option_set_u32(&o, max, 0xfefc);
        ck_assert_uint_eq(o.version_min, 0x0304);
        ck_assert_uint_eq(o.version_max, 0xfefc);

        o = (TlsdSessionOptions){};
        tlsd_session_option_set_u32(&o, max, 0xfefc);
        tlsd_session_option_set_u32(&o, min, 0xfefd);
        ck_assert_uint_eq(o.version_min, 0xfefd);
        ck_assert_uint_eq(o.version_max, 0xfefc);

        /* a request carrying only VersionMax, as libtlsclient used to send it */
        ck_assert_int_eq(tlsd_msg_begin(&m, TLSD_MSG_SESSION_CONFIGURE, 0, 1), 0);
        tlsd_msg_put_u64(&m, TLSD_A_SESSION_ID, 1);
        tlsd_msg_put_u32(&m, TLSD_A_VERSION_MAX, 0x0303);
        ck_assert_int_eq(tlsd_msg_end(&m), 0);
        ck_assert_int_eq(tlsd_msg_parse(m.buf, m.size, 0, TLSD_DIR_TO_DAEMON, &v), 0);
        tlsd_session_options_parse(&v, &o);
        ck_assert(o.has_versions);
        ck_assert_uint_eq(o.version_min, 0x0303);
        ck_assert_uint_eq(o.version_max, 0x0303);
        ck_assert(!o.has_legacy && !o.ciphers && !o.has_resume);
        tlsd_msg_done(&m);
}
END_TEST

/* A setter of the wrong kind stores nothing (a caller's bug must not write a pointer into a
 * number); a bool reads any non-zero u32 as true, as the socket's u32 booleans do. */
START_TEST(test_session_options_setter_kinds) {
        const TlsdSessionOption *ciphers = tlsd_session_option_by_key("Ciphers");
        const TlsdSessionOption *mtu = tlsd_session_option_by_key("Mtu");
        const TlsdSessionOption *ca = tlsd_session_option_by_key("CA");
        const TlsdSessionOption *legacy = tlsd_session_option_by_key("Legacy");
        TlsdSessionOptions o = {}, none = {};

        ck_assert(ciphers && mtu && ca && legacy);
        tlsd_session_option_set_u32(&o, ciphers, 5);
        tlsd_session_option_set_str(&o, mtu, "x");
        tlsd_session_option_set_bytes(&o, ciphers, "x", 1);
        tlsd_session_option_set_str(&o, ca, "x");
        expect_same_options(&none, &o, "wrong kinds");
        tlsd_session_option_set_u32(&o, legacy, 7);
        ck_assert(o.has_legacy && o.legacy);
        tlsd_session_option_set_u32(&o, legacy, 0);
        ck_assert(o.has_legacy && !o.legacy);
}
END_TEST

/* ---- main -------------------------------------------------------------------------------- */

static Suite *proto_suite(void) {
        Suite *s = suite_create("proto");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_loop_test(tc, test_parse_malformed, 0, ELEMENTSOF(bad_cases));
        tcase_add_test(tc, test_parse_malformed_coverage);
        tcase_add_test(tc, test_parse_raw_valid);
        tcase_add_test(tc, test_parse_error_reply_echo);
        tcase_add_test(tc, test_parse_any_order);
        suite_add_tcase(s, tc);

        tc = tcase_create("round-trip");
        tcase_add_checked_fixture(tc, fill_values, NULL);
        tcase_add_loop_test(tc, test_round_trip, 0, ELEMENTSOF(round_trips));
        tcase_add_test(tc, test_builder_layout);
        suite_add_tcase(s, tc);

        tc = tcase_create("spec");
        tcase_add_loop_test(tc, test_spec, _SIDE_MAX, _SIDE_MAX * _TLSD_MSG_MAX);
        tcase_add_test(tc, test_spec_coverage);
        tcase_add_test(tc, test_put_str_lossy);
        suite_add_tcase(s, tc);

        tc = tcase_create("session-options");
        tcase_add_test(tc, test_session_options_table);
        tcase_add_test(tc, test_attr_max_size);
        tcase_add_loop_test(tc, test_session_options_round_trip, 0, ELEMENTSOF(spec_options));
        tcase_add_test(tc, test_session_options_all_and_none);
        tcase_add_test(tc, test_session_options_versions);
        tcase_add_test(tc, test_session_options_setter_kinds);
        suite_add_tcase(s, tc);

        tc = tcase_create("builder");
        tcase_add_loop_test(tc, test_builder_rejects_invalid, 0, ELEMENTSOF(invalid_builds));
        tcase_add_test(tc, test_builder_too_large);
        tcase_add_test(tc, test_builder_sticky);
        tcase_add_test(tc, test_builder_misc);
        suite_add_tcase(s, tc);

        tc = tcase_create("error-reply");
        tcase_add_test(tc, test_error_reply_with_message);
        tcase_add_test(tc, test_error_reply_without_message);
        tcase_add_test(tc, test_error_reply_edges);
        suite_add_tcase(s, tc);

        tc = tcase_create("names");
        tcase_add_test(tc, test_proto_error_names);
        tcase_add_test(tc, test_type_and_attr_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("errors");
        tcase_add_loop_test(tc, test_error_from_errno, 0, ELEMENTSOF(errno_map));
        tcase_add_test(tc, test_error_from_errno_positive);
        tcase_add_test(tc, test_error_never_disconnected);
        tcase_add_test(tc, test_error_to_errno);
        tcase_add_test(tc, test_error_strings);
        tcase_add_test(tc, test_error_out_of_range);
        tcase_add_test(tc, test_error_int_min);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(proto_suite());
        int failed;

        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
