/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The single table of tlsd errors: names, messages, embedded-API names and errno mapping.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "error.h"
#include "macro.h"
#include "tlsd/types.h"

typedef struct ErrorInfo {
        const char *name;
        const char *embedded;
        const char *message;
        int errno_value;
} ErrorInfo;

static const ErrorInfo error_table[_TLSD_ERR_MAX] = {
        [TLSD_OK] = { "Ok", "TLS_OK", "Success", 0 },
        [TLSD_ERR_WAIT] = { "Wait", "TLS_WAIT", "Operation in progress", EINPROGRESS },
        [TLSD_ERR_NOT_FOUND] = { "NotFound", "TLS_NOT_FOUND_ERR", "No such object", ENOENT },
        [TLSD_ERR_PARAM] = { "InvalidArgument", "TLS_PARAM_ERR", "Invalid argument", EINVAL },
        [TLSD_ERR_MEM] = { "NoMemory", "TLS_MEM_ERR", "Out of memory", ENOMEM },
        [TLSD_ERR_VERIFY] = { "VerifyFailed", "TLS_VERIFY_ERR",
                              "Peer certificate verification failed", EKEYREJECTED },
        [TLSD_ERR_CERTIFICATE] = { "BadCertificate", "TLS_CERTIFICATE_ERR",
                                   "Bad certificate, key or password", EKEYEXPIRED },
        [TLSD_ERR_HANDSHAKE] = { "HandshakeFailed", "TLS_HS_ERR", "Handshake failed", EPROTO },
        [TLSD_ERR_TIMEOUT] = { "Timeout", "TLS_TIMEOUT_ERR", "Timed out", ETIMEDOUT },
        [TLSD_ERR_PROTOCOL] = { "ProtocolError", "TLS_PROTOCOL_ERR", "Malformed control message",
                                EBADMSG },
        [TLSD_ERR_PERMISSION] = { "PermissionDenied", "TLS_PERMISSION_ERR", "Permission denied",
                                  EPERM },
        [TLSD_ERR_LIMIT] = { "LimitExceeded", "TLS_LIMIT_ERR", "Limit exceeded", EUSERS },
        [TLSD_ERR_STATE] = { "InvalidState", "TLS_STATE_ERR",
                             "Operation not possible in the current state", EBUSY },
        [TLSD_ERR_REFUSED] = { "RefusedByPolicy", "TLS_POLICY_ERR", "Refused by security policy",
                               EPROTONOSUPPORT },
        [TLSD_ERR_UNSUPPORTED] = { "NotSupported", "TLS_UNSUPPORTED_ERR", "Not supported",
                                   EOPNOTSUPP },
        [TLSD_ERR_IO] = { "IOError", "TLS_IO_ERR", "Input/output error", EIO },
        [TLSD_ERR_CONNECT] = { "ConnectFailed", "TLS_CONNECT_ERR", "Connection failed",
                               ECONNREFUSED },
        [TLSD_ERR_RESOLVE] = { "ResolveFailed", "TLS_RESOLVE_ERR",
                               "Host name could not be resolved", EADDRNOTAVAIL },
        [TLSD_ERR_DISCONNECTED] = { "Disconnected", "TLS_DISCONNECTED_ERR",
                                    "Connection to tlsd lost", ECONNRESET },
        [TLSD_ERR_INTERNAL] = { "Internal", "TLS_INTERNAL_ERR", "Internal error", EFAULT },
};

static const ErrorInfo *error_info(int err) {
        /* Negated or not; computed unsigned so INT_MIN cannot overflow. */
        unsigned u = err < 0 ? 0u - (unsigned) err : (unsigned) err;

        if (u >= _TLSD_ERR_MAX)
                u = TLSD_ERR_INTERNAL;
        return &error_table[u];
}

const char *tlsd_strerror(int err) {
        return error_info(err)->message;
}

const char *tlsd_error_name(int err) {
        return error_info(err)->name;
}

const char *tlsd_error_embedded_name(int err) {
        return error_info(err)->embedded;
}

int tlsd_error_to_errno(enum tlsd_error e) {
        return error_info((int) e)->errno_value;
}

enum tlsd_error tlsd_error_from_errno(int negative_errno) {
        if (negative_errno > 0 || negative_errno == INT_MIN)
                return TLSD_ERR_INTERNAL;
        switch (-negative_errno) {
        case 0:
                return TLSD_OK;
        case EINPROGRESS:
        case EAGAIN:
                return TLSD_ERR_WAIT;
        case ENOENT:
        case ESRCH:
                return TLSD_ERR_NOT_FOUND;
        case EINVAL:
        case ERANGE:
        case E2BIG:
        case ENAMETOOLONG:
        case EMSGSIZE:
        case EDOM:
        case ENOTSOCK:
        case EBADF:
                return TLSD_ERR_PARAM;
        case ENOMEM:
        case ENOBUFS:
                return TLSD_ERR_MEM;
        case EKEYREJECTED:
                return TLSD_ERR_VERIFY;
        case EKEYEXPIRED:
        case ENOKEY:
        case EKEYREVOKED:
                return TLSD_ERR_CERTIFICATE;
        case EPROTO:
                return TLSD_ERR_HANDSHAKE;
        case ETIMEDOUT:
                return TLSD_ERR_TIMEOUT;
        case EBADMSG:
                return TLSD_ERR_PROTOCOL;
        case EPERM:
        case EACCES:
                return TLSD_ERR_PERMISSION;
        case EUSERS:
        case EDQUOT:
        case EMFILE:
        case ENFILE:
                return TLSD_ERR_LIMIT;
        case EBUSY:
        case EALREADY:
        case ECANCELED:
        case EISCONN:
        case ENOTCONN:
                return TLSD_ERR_STATE;
        case EPROTONOSUPPORT:
                return TLSD_ERR_REFUSED;
        case EOPNOTSUPP:
        case EAFNOSUPPORT:
        case ENOSYS:
                return TLSD_ERR_UNSUPPORTED;
        case EIO:
                return TLSD_ERR_IO;
        case ECONNREFUSED:
        case EADDRINUSE:
        case ENETUNREACH:
        case EHOSTUNREACH:
                return TLSD_ERR_CONNECT;
        case EADDRNOTAVAIL:
                return TLSD_ERR_RESOLVE;
        case ECONNRESET:
        case EPIPE:
        case ECONNABORTED:
                /* The network peer reset or closed the connection. Not DISCONNECTED: that is
                 * the client's own connection to tlsd, which a daemon never reports. */
                return TLSD_ERR_CONNECT;
        default:
                return TLSD_ERR_INTERNAL;
        }
}

static const char *const verify_names[_TLSC_VERIFY_RESULT_MAX] = {
        [TLSC_VERIFY_OK] = "ok",
        [TLSC_VERIFY_EXPIRED] = "expired",
        [TLSC_VERIFY_NOT_YET_VALID] = "not-yet-valid",
        [TLSC_VERIFY_SELF_SIGNED] = "self-signed",
        [TLSC_VERIFY_UNKNOWN_ISSUER] = "unknown-issuer",
        [TLSC_VERIFY_HOSTNAME_MISMATCH] = "hostname-mismatch",
        [TLSC_VERIFY_REVOKED] = "revoked",
        [TLSC_VERIFY_CA_INVALID] = "ca-invalid",
        [TLSC_VERIFY_BAD_SIGNATURE] = "bad-signature",
        [TLSC_VERIFY_PIN_MISMATCH] = "pin-mismatch",
        [TLSC_VERIFY_NO_CERTIFICATE] = "no-certificate",
        [TLSC_VERIFY_OTHER] = "other",
        [TLSC_VERIFY_WEAK_KEY] = "weak-key",
};

const char *tlsc_verify_result_name(int result) {
        if (result < 0 || result >= _TLSC_VERIFY_RESULT_MAX)
                return "invalid";
        return verify_names[result];
}

static const char *const state_names[_TLSC_STATE_MAX] = {
        [TLSC_STATE_CLOSED] = "closed",       [TLSC_STATE_CONNECTING] = "connecting",
        [TLSC_STATE_HANDSHAKE] = "handshake", [TLSC_STATE_CERT_PENDING] = "cert-pending",
        [TLSC_STATE_OPERATING] = "operating", [TLSC_STATE_CLOSING] = "closing",
};

const char *tlsc_state_name(int state) {
        if (state < 0 || state >= _TLSC_STATE_MAX)
                return "invalid";
        return state_names[state];
}

static const char *const reason_names[_TLSC_DISCONNECT_MAX] = {
        [TLSC_DISCONNECT_CLOSE_NOTIFY] = "close_notify",
        [TLSC_DISCONNECT_TRUNCATED] = "truncated",
        [TLSC_DISCONNECT_ALERT] = "alert",
        [TLSC_DISCONNECT_RESET] = "reset",
        [TLSC_DISCONNECT_TIMEOUT] = "timeout",
        [TLSC_DISCONNECT_LOCAL] = "local",
};

const char *tlsc_disconnect_reason_name(int reason) {
        if (reason < 0 || reason >= _TLSC_DISCONNECT_MAX)
                return "invalid";
        return reason_names[reason];
}

/* TLS alert descriptions (IANA "TLS Alerts" registry: RFC 8446, 5246, 7301, 7507, 9146, ECH),
 * the one table for the handshake messages of the daemon and for libtlsclient's users. */
static const struct {
        int code;
        const char *name;
} alert_names[] = {
        { 0, "close_notify" },
        { 10, "unexpected_message" },
        { 20, "bad_record_mac" },
        { 21, "decryption_failed" },
        { 22, "record_overflow" },
        { 30, "decompression_failure" },
        { 40, "handshake_failure" },
        { 41, "no_certificate" },
        { 42, "bad_certificate" },
        { 43, "unsupported_certificate" },
        { 44, "certificate_revoked" },
        { 45, "certificate_expired" },
        { 46, "certificate_unknown" },
        { 47, "illegal_parameter" },
        { 48, "unknown_ca" },
        { 49, "access_denied" },
        { 50, "decode_error" },
        { 51, "decrypt_error" },
        { 52, "too_many_cids_requested" },
        { 60, "export_restriction" },
        { 70, "protocol_version" },
        { 71, "insufficient_security" },
        { 80, "internal_error" },
        { 86, "inappropriate_fallback" },
        { 90, "user_canceled" },
        { 100, "no_renegotiation" },
        { 109, "missing_extension" },
        { 110, "unsupported_extension" },
        { 111, "certificate_unobtainable" },
        { 112, "unrecognized_name" },
        { 113, "bad_certificate_status_response" },
        { 114, "bad_certificate_hash_value" },
        { 115, "unknown_psk_identity" },
        { 116, "certificate_required" },
        { 120, "no_application_protocol" },
        { 121, "ech_required" },
};

const char *tlsc_alert_name(int alert) {
        for (size_t i = 0; i < ELEMENTSOF(alert_names); i++)
                if (alert_names[i].code == alert)
                        return alert_names[i].name;
        return "unknown_alert";
}
