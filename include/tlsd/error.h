/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd error codes: one enum for the daemon, the wire protocol, libtlsclient and D-Bus
 * (org.tlsd1.Error.<Name>). Each code also has the name of the embedded TLS API code it
 * replaces (TLS_NOT_FOUND_ERR, ...), see tlsd_error_embedded_name().
 *
 * libtlsclient functions return 0 (or a positive count) on success and the negated code on
 * failure: `if (r < 0) puts(tlsd_strerror(r));`.
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

enum tlsd_error {
        TLSD_OK = 0,
        TLSD_ERR_WAIT = 1,          /* operation in progress; result comes later */
        TLSD_ERR_NOT_FOUND = 2,     /* no such object (or not yours) */
        TLSD_ERR_PARAM = 3,         /* invalid argument */
        TLSD_ERR_MEM = 4,           /* out of memory */
        TLSD_ERR_VERIFY = 5,        /* peer certificate verification failed */
        TLSD_ERR_CERTIFICATE = 6,   /* bad own certificate, key or password */
        TLSD_ERR_HANDSHAKE = 7,     /* TLS/DTLS handshake failed */
        TLSD_ERR_TIMEOUT = 8,       /* timed out */
        TLSD_ERR_PROTOCOL = 9,      /* malformed control message */
        TLSD_ERR_PERMISSION = 10,   /* not allowed for this caller */
        TLSD_ERR_LIMIT = 11,        /* a configured limit was reached */
        TLSD_ERR_STATE = 12,        /* not possible in the object's current state */
        TLSD_ERR_REFUSED = 13,      /* refused by security policy (weak or legacy feature) */
        TLSD_ERR_UNSUPPORTED = 14,  /* not supported by this build or kernel */
        TLSD_ERR_IO = 15,           /* I/O error */
        TLSD_ERR_CONNECT = 16,      /* network connection failed */
        TLSD_ERR_RESOLVE = 17,      /* host name could not be resolved */
        TLSD_ERR_DISCONNECTED = 18, /* the connection to tlsd was lost */
        TLSD_ERR_INTERNAL = 19,     /* internal error */
        _TLSD_ERR_MAX,
};

/* Human-readable text for a code; accepts the negated form too. Never NULL. */
const char *tlsd_strerror(int err);
/* "NotFound": the D-Bus error suffix and the name used in logs and JSON. */
const char *tlsd_error_name(int err);
/* "TLS_NOT_FOUND_ERR": the code of the embedded TLS API this one replaces. */
const char *tlsd_error_embedded_name(int err);

#ifdef __cplusplus
}
#endif
