/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd's shared enums: roles, verification modes and results, connection states, transports
 * and disconnect reasons, with their names. They cross the wire and D-Bus as these numbers, so
 * the daemon and libtlsclient take them from this one header (<tlsd/client.h> includes it).
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

enum tlsc_role {
        TLSC_ROLE_CLIENT = 0,
        TLSC_ROLE_SERVER = 1
};

/* How a client connection checks the server's certificate. */
enum tlsc_verify_mode {
        TLSC_VERIFY_STRICT = 0,      /* chain to a trusted CA, dates, host name (default) */
        TLSC_VERIFY_APP_DECIDES = 1, /* the app gets a certificate event and accepts/rejects */
        TLSC_VERIFY_PINNED = 2,      /* only the pinned SHA-256 of the peer's public key counts */
        _TLSC_VERIFY_MODE_MAX,
};

/* Whether a server asks its clients for certificates. */
enum tlsc_client_auth {
        TLSC_CLIENT_AUTH_NONE = 0,     /* default */
        TLSC_CLIENT_AUTH_OPTIONAL = 1, /* asked for; if sent, it must verify */
        TLSC_CLIENT_AUTH_REQUIRED = 2,
        _TLSC_CLIENT_AUTH_MAX,
};

/* Outcome of certificate verification. */
enum tlsc_verify_result {
        TLSC_VERIFY_OK = 0,
        TLSC_VERIFY_EXPIRED = 1,
        TLSC_VERIFY_NOT_YET_VALID = 2,
        TLSC_VERIFY_SELF_SIGNED = 3,
        TLSC_VERIFY_UNKNOWN_ISSUER = 4,
        TLSC_VERIFY_HOSTNAME_MISMATCH = 5,
        TLSC_VERIFY_REVOKED = 6,
        TLSC_VERIFY_CA_INVALID = 7,
        TLSC_VERIFY_BAD_SIGNATURE = 8,
        TLSC_VERIFY_PIN_MISMATCH = 9,
        TLSC_VERIFY_NO_CERTIFICATE = 10,
        TLSC_VERIFY_OTHER = 11,
        TLSC_VERIFY_WEAK_KEY = 12, /* a key below the minimum size (RSA 2048, ECC 256 bits) */
        _TLSC_VERIFY_RESULT_MAX,
};

/* Connection states. */
enum tlsc_state {
        TLSC_STATE_CLOSED = 0,
        TLSC_STATE_CONNECTING = 1, /* resolving, TCP connect */
        TLSC_STATE_HANDSHAKE = 2,
        TLSC_STATE_CERT_PENDING = 3, /* waiting for the app's certificate decision */
        TLSC_STATE_OPERATING = 4,
        TLSC_STATE_CLOSING = 5,
        _TLSC_STATE_MAX,
};

/* What a session's connections run over. */
enum tlsc_transport {
        TLSC_TRANSPORT_TLS = 0,  /* TLS over TCP; the data fd is SOCK_STREAM */
        TLSC_TRANSPORT_DTLS = 1, /* DTLS over UDP; the data fd is SOCK_SEQPACKET: one message per
                                  * record, delivered at most once, order not guaranteed */
};

/* Why a connection ended. */
enum tlsc_disconnect_reason {
        TLSC_DISCONNECT_CLOSE_NOTIFY = 0, /* orderly TLS close by both sides */
        TLSC_DISCONNECT_TRUNCATED = 1,    /* peer dropped TCP without close_notify */
        TLSC_DISCONNECT_ALERT = 2,        /* fatal TLS alert */
        TLSC_DISCONNECT_RESET = 3,        /* TCP reset or I/O error */
        TLSC_DISCONNECT_TIMEOUT = 4,
        TLSC_DISCONNECT_LOCAL = 5, /* Disconnect/Destroy by the app, or the app went away */
        _TLSC_DISCONNECT_MAX,
};

const char *tlsc_state_name(int state);
const char *tlsc_disconnect_reason_name(int reason);
/* "expired", "hostname-mismatch", ... */
const char *tlsc_verify_result_name(int result);
/* The TLS alert description's name: 116 -> "certificate_required"; "unknown_alert" for a code
 * without one. */
const char *tlsc_alert_name(int alert);

#ifdef __cplusplus
}
#endif
