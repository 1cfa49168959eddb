/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session options table (see session-options.h) and the loops that walk it. A row says
 * where an option's value and presence live in TlsdSessionOptions; the loops here turn protocol
 * attributes into fields and back, and the D-Bus adapter (which alone may include sd-bus) reads
 * its a{sv} with the same rows: the key finds the row, the row gives the variant's signature,
 * the size limit and the field.
 */
#include <string.h>

#include "macro.h"
#include "session-options.h"

#define NONE TLSD_OPTION_NO_FIELD
/* The offset of field f, which must have type T: the loops below write through these offsets,
 * so a row that names a field of another type does not compile. */
#define FIELD(f, T)                                                                                \
        (offsetof(TlsdSessionOptions, f) +                                                         \
         0 * sizeof(struct {                                                                       \
                 _Static_assert(__builtin_types_compatible_p(                                      \
                                        __typeof__(((TlsdSessionOptions *) 0)->f), T),             \
                                "session option field " #f " is not " #T);                         \
                 char c_;                                                                          \
         }))

/* One macro per kind of row, so each row reads as key, attribute, field(s). */
#define ROW_U32(key, attr, f, has)                                                                 \
        { key, attr, TLSD_OPTION_U32, false, FIELD(f, unsigned), FIELD(has, bool), NONE }
#define ROW_BOOL(key, attr, f, has)                                                                \
        { key, attr, TLSD_OPTION_BOOL, false, FIELD(f, bool), FIELD(has, bool), NONE }
/* a bool without has_: present when true */
#define ROW_FLAG(key, attr, f)                                                                     \
        { key, attr, TLSD_OPTION_BOOL, false, FIELD(f, bool), NONE, NONE }
#define ROW_VERSION(key, attr, f)                                                                  \
        {                                                                                          \
                key, attr, TLSD_OPTION_VERSION, false, FIELD(f, unsigned),                         \
                        FIELD(has_versions, bool), NONE                                            \
        }
#define ROW_STR(key, attr, f)                                                                      \
        { key, attr, TLSD_OPTION_STRING, false, FIELD(f, const char *), NONE, NONE }
#define ROW_BYTES(key, attr, f, size)                                                              \
        { key, attr, TLSD_OPTION_BYTES, false, FIELD(f, const void *), NONE, FIELD(size, size_t) }

static const TlsdSessionOption table[] = {
        ROW_VERSION("VersionMin", TLSD_A_VERSION_MIN, version_min),
        ROW_VERSION("VersionMax", TLSD_A_VERSION_MAX, version_max),
        ROW_STR("Ciphers", TLSD_A_CIPHERS, ciphers),
        ROW_BOOL("Legacy", TLSD_A_LEGACY, legacy, has_legacy),
        ROW_STR("Groups", TLSD_A_GROUPS, groups),
        ROW_BYTES("Certificate", TLSD_A_CERT, cert, cert_size),
        ROW_BYTES("Key", TLSD_A_KEY, key, key_size),
        ROW_STR("KeyPassword", TLSD_A_KEY_PASSWORD, key_password),
        ROW_STR("PskIdentity", TLSD_A_PSK_IDENTITY, psk_identity),
        ROW_BYTES("PskKey", TLSD_A_PSK_KEY, psk_key, psk_key_size),
        ROW_BYTES("CA", TLSD_A_CA, ca, ca_size),
        ROW_FLAG("SystemTrust", TLSD_A_SYSTEM_TRUST, system_trust),
        ROW_U32("VerifyMode", TLSD_A_VERIFY_MODE, verify, has_verify),
        ROW_BYTES("Pin", TLSD_A_PIN, pin, pin_size),
        ROW_STR("ALPN", TLSD_A_ALPN, alpn),
        ROW_STR("ServerName", TLSD_A_SERVER_NAME, server_name),
        ROW_U32("Compression", TLSD_A_COMPRESSION, compression, has_compression),
        ROW_U32("HandshakeTimeout", TLSD_A_HANDSHAKE_TIMEOUT, handshake_timeout_ms,
                has_handshake_timeout),
        ROW_U32("ClientAuth", TLSD_A_CLIENT_AUTH, client_auth, has_client_auth),
        /* create-only: a Configure carrying it is refused */
        { "Transport", TLSD_A_TRANSPORT, TLSD_OPTION_U32, true, FIELD(transport, unsigned),
          FIELD(has_transport, bool), NONE },
        ROW_U32("DtlsTimeoutInitial", TLSD_A_DTLS_TIMEOUT_INITIAL, dtls_timeout_initial_ms,
                has_dtls_timeout_initial),
        ROW_U32("DtlsTimeoutMax", TLSD_A_DTLS_TIMEOUT_MAX, dtls_timeout_max_ms,
                has_dtls_timeout_max),
        ROW_U32("DtlsRetries", TLSD_A_DTLS_RETRIES, dtls_retries, has_dtls_retries),
        ROW_U32("Mtu", TLSD_A_MTU, mtu, has_mtu),
        ROW_BOOL("DtlsCid", TLSD_A_DTLS_CID, dtls_cid, has_dtls_cid),
        ROW_U32("IdleTimeout", TLSD_A_IDLE_TIMEOUT, idle_timeout_ms, has_idle_timeout),
        ROW_BOOL("Resume", TLSD_A_RESUME, resume, has_resume),
};

#undef ROW_U32
#undef ROW_BOOL
#undef ROW_FLAG
#undef ROW_VERSION
#undef ROW_STR
#undef ROW_BYTES

const TlsdSessionOption *tlsd_session_options_table(size_t *ret_n) {
        *ret_n = ELEMENTSOF(table);
        return table;
}

const TlsdSessionOption *tlsd_session_option_by_key(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(table[i].key, key) == 0)
                        return &table[i];
        return NULL;
}

const char *tlsd_session_option_signature(const TlsdSessionOption *opt) {
        static const char *const signatures[_TLSD_OPTION_TYPE_MAX] = {
                [TLSD_OPTION_BOOL] = "b",   [TLSD_OPTION_U32] = "u",    [TLSD_OPTION_VERSION] = "u",
                [TLSD_OPTION_STRING] = "s", [TLSD_OPTION_BYTES] = "ay",
        };

        return signatures[opt->type];
}

size_t tlsd_session_option_max(const TlsdSessionOption *opt) {
        return tlsd_attr_max_size(opt->attr);
}

/* The fields of a row in o (typeof keeps "const char *" one type when const is added). */
#define AT(o, offset, type) ((__typeof__(type) *) (void *) ((char *) (o) + (offset)))
#define AT_CONST(o, offset, type)                                                                  \
        ((__typeof__(type) const *) (const void *) ((const char *) (o) + (offset)))

static void mark_present(TlsdSessionOptions *o, const TlsdSessionOption *opt) {
        if (opt->has != NONE)
                *AT(o, opt->has, bool) = true;
}

void tlsd_session_option_set_u32(TlsdSessionOptions *o, const TlsdSessionOption *opt, uint32_t v) {
        switch (opt->type) {
        case TLSD_OPTION_BOOL:
                *AT(o, opt->offset, bool) = v != 0;
                break;
        case TLSD_OPTION_VERSION:
                /* the first end given brings the other's default; a later one overrides it */
                if (!o->has_versions) {
                        o->version_min = TLSD_SESSION_VERSION_MIN_DEFAULT;
                        o->version_max = TLSD_SESSION_VERSION_MAX_DEFAULT;
                }
                *AT(o, opt->offset, unsigned) = v;
                break;
        case TLSD_OPTION_U32:
                *AT(o, opt->offset, unsigned) = v;
                break;
        default:
                return; /* not a number: a caller's bug, nothing stored */
        }
        mark_present(o, opt);
}

void tlsd_session_option_set_str(TlsdSessionOptions *o, const TlsdSessionOption *opt,
                                 const char *s) {
        if (opt->type != TLSD_OPTION_STRING)
                return;
        *AT(o, opt->offset, const char *) = s;
}

void tlsd_session_option_set_bytes(TlsdSessionOptions *o, const TlsdSessionOption *opt,
                                   const void *p, size_t size) {
        if (opt->type != TLSD_OPTION_BYTES)
                return;
        *AT(o, opt->offset, const void *) = p;
        *AT(o, opt->size, size_t) = size;
}

void tlsd_session_options_parse(const TlsdMsgView *v, TlsdSessionOptions *ret) {
        *ret = (TlsdSessionOptions){};
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const TlsdSessionOption *opt = &table[i];
                TlsdAttrType a = (TlsdAttrType) opt->attr;
                const void *p;
                const char *s;
                size_t n;
                uint32_t u;

                switch (opt->type) {
                case TLSD_OPTION_BOOL:
                case TLSD_OPTION_U32:
                case TLSD_OPTION_VERSION:
                        if (tlsd_msg_get_u32(v, a, &u) >= 0)
                                tlsd_session_option_set_u32(ret, opt, u);
                        break;
                case TLSD_OPTION_STRING:
                        if (tlsd_msg_get_str(v, a, &s) >= 0)
                                tlsd_session_option_set_str(ret, opt, s);
                        break;
                case TLSD_OPTION_BYTES:
                        if (tlsd_msg_get_bytes(v, a, &p, &n) >= 0)
                                tlsd_session_option_set_bytes(ret, opt, p, n);
                        break;
                default:
                        break;
                }
        }
}

void tlsd_session_options_put(TlsdMsg *m, const TlsdSessionOptions *o, bool create) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const TlsdSessionOption *opt = &table[i];
                TlsdAttrType a = (TlsdAttrType) opt->attr;
                const void *p;

                if (opt->create_only && !create)
                        continue;
                if (opt->has != NONE && !*AT_CONST(o, opt->has, bool))
                        continue;
                switch (opt->type) {
                case TLSD_OPTION_BOOL:
                        if (opt->has != NONE || *AT_CONST(o, opt->offset, bool))
                                tlsd_msg_put_u32(m, a, *AT_CONST(o, opt->offset, bool) ? 1 : 0);
                        break;
                case TLSD_OPTION_U32:
                case TLSD_OPTION_VERSION:
                        tlsd_msg_put_u32(m, a, *AT_CONST(o, opt->offset, unsigned));
                        break;
                case TLSD_OPTION_STRING:
                        p = *AT_CONST(o, opt->offset, const char *);
                        if (p)
                                tlsd_msg_put_str(m, a, p);
                        break;
                case TLSD_OPTION_BYTES:
                        p = *AT_CONST(o, opt->offset, const void *);
                        if (p)
                                tlsd_msg_put(m, a, p, *AT_CONST(o, opt->size, size_t));
                        break;
                default:
                        break;
                }
        }
}
