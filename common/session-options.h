/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A session's options as both control planes carry them: one table row per option gives its
 * D-Bus key, its protocol attribute, its type and where it lives in TlsdSessionOptions; the
 * size limits are the codec's (proto.h). The Unix adapter decodes, libtlsclient encodes and the
 * D-Bus adapter reads its a{sv} through this table, so an option is added in one place.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The versions an option set that names only one end of the range takes for the other. */
#define TLSD_SESSION_VERSION_MIN_DEFAULT 0x0303u
#define TLSD_SESSION_VERSION_MAX_DEFAULT 0x0304u

/* Each field applies only when its has_ or non-NULL marker says so. Strings and byte arrays
 * point into the message they came from. */
typedef struct TlsdSessionOptions {
        bool has_versions; /* both set: one end given, the other has its default */
        unsigned version_min, version_max;
        const char *ciphers;
        bool has_legacy;
        bool legacy;
        const char *groups;
        const void *cert;
        size_t cert_size;
        const void *key;
        size_t key_size;
        const char *key_password;
        const char *psk_identity;
        const void *psk_key;
        size_t psk_key_size;
        const void *ca;
        size_t ca_size;
        bool system_trust; /* no has_: false is the same as absent */
        bool has_verify;
        unsigned verify;
        const void *pin;
        size_t pin_size;
        const char *alpn;
        const char *server_name;
        bool has_compression;
        unsigned compression;
        bool has_handshake_timeout;
        unsigned handshake_timeout_ms;
        bool has_client_auth;
        unsigned client_auth;
        bool has_transport; /* fixed when the session is created */
        unsigned transport; /* enum tlsc_transport */
        /* DTLS only */
        bool has_dtls_timeout_initial, has_dtls_timeout_max, has_dtls_retries, has_mtu,
                has_dtls_cid;
        unsigned dtls_timeout_initial_ms, dtls_timeout_max_ms, dtls_retries, mtu;
        bool dtls_cid;
        bool has_idle_timeout;
        unsigned idle_timeout_ms;
        bool has_resume; /* client: automatic resumption (default on) */
        bool resume;
} TlsdSessionOptions;

typedef enum TlsdOptionType {
        TLSD_OPTION_BOOL,    /* u32 0/1 on the socket, "b" on D-Bus */
        TLSD_OPTION_U32,     /* "u" */
        TLSD_OPTION_VERSION, /* "u", one end of the version range (shares has_versions) */
        TLSD_OPTION_STRING,  /* "s" */
        TLSD_OPTION_BYTES,   /* "ay" */
        _TLSD_OPTION_TYPE_MAX,
} TlsdOptionType;

#define TLSD_OPTION_NO_FIELD SIZE_MAX

typedef struct TlsdSessionOption {
        const char *key; /* D-Bus a{sv} key */
        uint16_t attr;   /* TlsdAttrType */
        TlsdOptionType type;
        bool create_only; /* fixed when the session is created: not in a Configure */
        size_t offset;    /* of the value: bool, unsigned, const char * or const void * */
        size_t has;       /* of its bool has_ field; TLSD_OPTION_NO_FIELD: present when the
                           * value is (a non-NULL pointer, a true bool) */
        size_t size;      /* BYTES: of its size_t length; else TLSD_OPTION_NO_FIELD */
} TlsdSessionOption;

/* The table, in attribute order; *ret_n rows. */
const TlsdSessionOption *tlsd_session_options_table(size_t *ret_n);
/* The row with this D-Bus key, or NULL. */
const TlsdSessionOption *tlsd_session_option_by_key(const char *key);
/* The D-Bus signature of a row's value: "b", "u", "s" or "ay". */
const char *tlsd_session_option_signature(const TlsdSessionOption *opt);
/* The most bytes a STRING (without its NUL) or BYTES value may have: the codec's limit for the
 * row's attribute, which both control planes enforce. */
size_t tlsd_session_option_max(const TlsdSessionOption *opt);

/* Store one value in o and mark it present. set_u32 serves BOOL (non-zero is true), U32 and
 * VERSION rows; the pointers are kept, not copied. */
void tlsd_session_option_set_u32(TlsdSessionOptions *o, const TlsdSessionOption *opt, uint32_t v);
void tlsd_session_option_set_str(TlsdSessionOptions *o, const TlsdSessionOption *opt,
                                 const char *s);
void tlsd_session_option_set_bytes(TlsdSessionOptions *o, const TlsdSessionOption *opt,
                                   const void *p, size_t size);

/* The options a parsed SessionCreate or SessionConfigure request carries (the codec checked
 * them against the message's attribute rules and the size limits); pointers into v. */
void tlsd_session_options_parse(const TlsdMsgView *v, TlsdSessionOptions *ret);
/* Appends every option present in o; create: also the create-only ones. */
void tlsd_session_options_put(TlsdMsg *m, const TlsdSessionOptions *o, bool create);
