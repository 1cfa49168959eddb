/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tlsd control protocol on the Unix socket: one message per SOCK_SEQPACKET packet.
 *
 *   header (16 bytes, host byte order; the socket never leaves the machine)
 *     u32 magic "tlsd"   u8 version   u8 flags   u16 type   u32 request id   u32 payload length
 *   payload: attributes, netlink style, each 4-byte aligned
 *     u16 length (header + value, unpadded)   u16 type   value   zero padding to 4
 *   ancillary: up to TLSD_FDS_MAX file descriptors (SCM_RIGHTS) where the message type allows.
 *
 * Requests (flags 0, id != 0) go to the daemon. The daemon answers each with a reply of the same
 * type and id (flag REPLY), or an error reply (REPLY|ERROR) carrying ERROR, ERRNO, MESSAGE and
 * maybe ALERT. Events (flag EVENT, id 0) arrive unsolicited.
 *
 * This file and proto.c are the one codec, compiled into both the daemon and libtlsclient.
 * Decoding is strict and total: every byte is accounted for or the message is rejected with a
 * TlsdProtoError naming what was wrong.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSD_PROTO_MAGIC UINT32_C(0x64736c74) /* "tlsd" in memory on little endian */
#define TLSD_PROTO_VERSION 1
#define TLSD_HEADER_SIZE 16
#define TLSD_ATTR_HEADER_SIZE 4
#define TLSD_MSG_MAX (128u * 1024u) /* whole packet; fits the default unix socket send buffer */
#define TLSD_FDS_MAX 4

/* The sizes of the values both control planes take, in bytes (a string's without its NUL).
 * The codec's attribute table is built from them and the D-Bus adapter checks its arguments
 * against them: a value refused on one plane is refused on the other. */
#define TLSD_PAYLOAD_MAX 4096u /* Ping */
#define TLSD_CIPHERS_MAX 4095u
#define TLSD_GROUPS_MAX 255u
#define TLSD_CERT_MAX 65000u /* a certificate chain */
#define TLSD_KEY_MAX 16384u
#define TLSD_KEY_PASSWORD_MAX 1023u
#define TLSD_PSK_IDENTITY_MAX 128u
#define TLSD_PSK_KEY_MAX 64u
#define TLSD_CA_MAX                                                                                \
        65000u /* one Configure's CA certificates (a session: see                                  \
                * MaxTrustBytesPerSession=) */
#define TLSD_PIN_MAX 32u
#define TLSD_ALPN_MAX 1023u
#define TLSD_NAME_MAX 253u /* host and server (SNI) names: a DNS name's longest */
#define TLSD_ADDRESS_MAX 63u

enum {
        TLSD_F_REPLY = 1u << 0,
        TLSD_F_ERROR = 1u << 1,
        TLSD_F_EVENT = 1u << 2,
        _TLSD_F_ALL = TLSD_F_REPLY | TLSD_F_ERROR | TLSD_F_EVENT,
};

typedef enum TlsdMsgType {
        TLSD_MSG_INVALID = 0,
        TLSD_MSG_VERSION = 1, /* daemon and protocol version */
        TLSD_MSG_PING = 2,    /* echo an optional payload */
        TLSD_MSG_WHOAMI = 3,  /* the uid/gid/pid the daemon attributes this client to */
        TLSD_MSG_SESSION_CREATE = 4,
        TLSD_MSG_SESSION_CONFIGURE = 5,
        TLSD_MSG_SESSION_DESTROY = 6,
        TLSD_MSG_CONNECTION_CREATE = 7,
        TLSD_MSG_CONNECTION_BIND = 8,
        TLSD_MSG_CONNECTION_CONNECT = 9,
        TLSD_MSG_CERTIFICATE_RESPONSE = 10,
        TLSD_MSG_CONNECTION_INFO = 11,
        TLSD_MSG_CONNECTION_DISCONNECT = 12,
        TLSD_MSG_CONNECTION_DESTROY = 13,
        TLSD_MSG_EVENT_HANDSHAKE_DONE = 14, /* carries the app's data fd */
        TLSD_MSG_EVENT_HANDSHAKE_FAILED = 15,
        TLSD_MSG_EVENT_CERTIFICATE = 16, /* app-decides verification */
        TLSD_MSG_EVENT_DISCONNECTED = 17,
        TLSD_MSG_LISTEN = 18,
        TLSD_MSG_LISTENER_CLOSE = 19,
        TLSD_MSG_ADOPT = 20,                   /* carries the app's connected TCP socket */
        TLSD_MSG_EVENT_ACCEPTED = 21,          /* carries the app's data fd */
        TLSD_MSG_EVENT_TIMEOUT = 22,           /* DTLS retransmission limit reached */
        TLSD_MSG_CONNECTION_RETRY = 23,        /* after Timeout: start the schedule again */
        TLSD_MSG_EVENT_MESSAGE_TOO_LARGE = 24, /* DTLS: an app message was over the limit */
        TLSD_MSG_GET_TICKET = 25,              /* the id of a connection's resumable ticket */
        TLSD_MSG_TICKET_STATS = 26,            /* client ticket cache counters (the caller's uid;
                                                * root: all) */
        TLSD_MSG_EVENT_ACCEPT_FAILED = 27,     /* a listener's client failed its handshake */
        TLSD_MSG_CONNECTION_SHUTDOWN = 28,     /* the app's data ends cleanly: close_notify
                                                * after it, even if the app closes at once */
        _TLSD_MSG_MAX,
} TlsdMsgType;

typedef enum TlsdAttrType {
        TLSD_A_INVALID = 0,
        TLSD_A_ERROR = 1,              /* u32 enum tlsd_error */
        TLSD_A_ERRNO = 2,              /* u32 errno behind it */
        TLSD_A_MESSAGE = 3,            /* string, human readable */
        TLSD_A_ALERT = 4,              /* u32 TLS alert description */
        TLSD_A_VERSION_STRING = 5,     /* string, daemon package version */
        TLSD_A_PROTO_VERSION = 6,      /* u32 */
        TLSD_A_PAYLOAD = 7,            /* binary */
        TLSD_A_UID = 8,                /* u32 */
        TLSD_A_GID = 9,                /* u32 */
        TLSD_A_PID = 10,               /* u32 */
        TLSD_A_TLS_LIBRARY = 11,       /* string, "wolfSSL 5.7.2" */
        TLSD_A_SESSION_ID = 12,        /* u64 */
        TLSD_A_CONNECTION_ID = 13,     /* u64 */
        TLSD_A_ROLE = 14,              /* u32: 0 client, 1 server */
        TLSD_A_VERSION_MIN = 15,       /* u32: 0x0303 TLS 1.2, 0x0304 TLS 1.3 */
        TLSD_A_VERSION_MAX = 16,       /* u32 */
        TLSD_A_CIPHERS = 17,           /* string, IANA or OpenSSL names, ':' separated */
        TLSD_A_LEGACY = 18,            /* u32 bool: allow ECDHE CBC suites */
        TLSD_A_GROUPS = 19,            /* string */
        TLSD_A_CERT = 20,              /* binary, PEM chain or DER */
        TLSD_A_KEY = 21,               /* binary, PEM or DER private key */
        TLSD_A_KEY_PASSWORD = 22,      /* string */
        TLSD_A_PSK_IDENTITY = 23,      /* string */
        TLSD_A_PSK_KEY = 24,           /* binary */
        TLSD_A_CA = 25,                /* binary, PEM bundle or DER */
        TLSD_A_SYSTEM_TRUST = 26,      /* u32 bool */
        TLSD_A_VERIFY_MODE = 27,       /* u32 enum tlsc_verify_mode */
        TLSD_A_PIN = 28,               /* binary, SHA-256 of the peer's SubjectPublicKeyInfo */
        TLSD_A_ALPN = 29,              /* string, ',' separated */
        TLSD_A_SERVER_NAME = 30,       /* string: name to verify and send as SNI */
        TLSD_A_COMPRESSION = 31,       /* u32: only 0 */
        TLSD_A_HANDSHAKE_TIMEOUT = 32, /* u32 ms */
        TLSD_A_FAMILY = 33,            /* u32: AF_UNSPEC, AF_INET, AF_INET6 */
        TLSD_A_ADDRESS = 34,           /* string, numeric IP */
        TLSD_A_PORT = 35,              /* u32 */
        TLSD_A_HOST = 36,              /* string, name or address */
        TLSD_A_ACCEPT = 37,            /* u32 bool */
        TLSD_A_STATE = 38,             /* u32 enum tlsc_state */
        TLSD_A_TLS_VERSION = 39,       /* string "TLSv1.3" */
        TLSD_A_CIPHER = 40,            /* string, IANA name */
        TLSD_A_GROUP = 41,             /* string */
        TLSD_A_ALPN_SELECTED = 42,     /* string */
        TLSD_A_PEER_SUBJECT = 43,      /* string */
        TLSD_A_VERIFY_RESULT = 44,     /* u32 enum tlsc_verify_result */
        TLSD_A_BYTES_IN = 45,          /* u64 plaintext bytes received */
        TLSD_A_BYTES_OUT = 46,         /* u64 */
        TLSD_A_HANDSHAKE_USEC = 47,    /* u64 */
        TLSD_A_RESUMED = 48,           /* u32 bool */
        TLSD_A_REASON = 49,            /* u32 enum tlsc_disconnect_reason */
        TLSD_A_PEER_CHAIN = 50,        /* binary, PEM */
        TLSD_A_LISTENER_ID = 51,       /* u64 */
        TLSD_A_BACKLOG = 52,           /* u32 */
        TLSD_A_MAX_PENDING = 53,       /* u32 */
        TLSD_A_MAX_CONNECTIONS = 54,   /* u32 */
        TLSD_A_PEER_ADDRESS = 55,      /* string, numeric IP */
        TLSD_A_PEER_PORT = 56,         /* u32 */
        TLSD_A_SNI = 57,               /* string: the name a client asked a server for */
        TLSD_A_CLIENT_AUTH = 58,       /* u32 enum tlsc_client_auth */
        TLSD_A_TRANSPORT = 59, /* u32 enum tlsc_transport: 0 TLS over TCP, 1 DTLS over UDP */
        TLSD_A_DTLS_TIMEOUT_INITIAL = 60, /* u32 ms, first retransmission timeout */
        TLSD_A_DTLS_TIMEOUT_MAX = 61,     /* u32 ms, the doubling stops here */
        TLSD_A_DTLS_RETRIES = 62,         /* u32, retransmissions of one flight before Timeout */
        TLSD_A_MTU = 63,                  /* u32 bytes, path MTU for DTLS records */
        TLSD_A_DTLS_CID = 64,             /* u32 bool: negotiate a Connection ID */
        TLSD_A_IDLE_TIMEOUT = 65,         /* u32 ms, 0: none */
        TLSD_A_MAX_MESSAGE = 66,          /* u32: largest app message one DTLS record carries */
        TLSD_A_CID_IN_USE = 67,           /* u32 bool */
        TLSD_A_SIZE = 68,                 /* u32 bytes */
        TLSD_A_RETRIES = 69,              /* u32 */
        TLSD_A_RESUME = 70,    /* u32 bool: automatic resumption (client sessions, default 1) */
        TLSD_A_TICKET_ID = 71, /* u64: a ticket in tlsd's cache (an id, not the secret) */
        TLSD_A_TICKET_ENTRIES = 72,  /* u32: tickets held now */
        TLSD_A_TICKET_STORED = 73,   /* u64: tickets stored since start */
        TLSD_A_TICKET_HITS = 74,     /* u64: tickets taken for a resumption offer */
        TLSD_A_TICKET_MISSES = 75,   /* u64: automatic lookups that found none */
        TLSD_A_TICKET_EXPIRED = 76,  /* u64: dropped at expiry */
        TLSD_A_TICKET_EVICTED = 77,  /* u64: dropped over the cache limits */
        TLSD_A_TICKET_REJECTED = 78, /* u64: offered, refused by the server */
        TLSD_A_SUPPRESSED = 79,      /* u32: reports left out before this one (rate limit) */
        _TLSD_A_MAX,
} TlsdAttrType;

typedef enum TlsdProtoError {
        TLSD_PROTO_OK = 0,
        TLSD_PROTO_TOO_SHORT, /* shorter than the header */
        TLSD_PROTO_TOO_LARGE, /* larger than TLSD_MSG_MAX */
        TLSD_PROTO_BAD_MAGIC,
        TLSD_PROTO_BAD_VERSION,
        TLSD_PROTO_BAD_FLAGS,       /* unknown bits, or a combination not valid here */
        TLSD_PROTO_LENGTH_MISMATCH, /* header length != bytes received */
        TLSD_PROTO_UNKNOWN_TYPE,
        TLSD_PROTO_WRONG_DIRECTION,  /* e.g. an event type sent as a request */
        TLSD_PROTO_BAD_ID,           /* request/reply with id 0, event with id != 0 */
        TLSD_PROTO_ATTR_TRUNCATED,   /* attribute runs past the end of the payload */
        TLSD_PROTO_ATTR_BAD_LENGTH,  /* attribute length below its own header */
        TLSD_PROTO_ATTR_UNKNOWN,     /* attribute type not defined */
        TLSD_PROTO_ATTR_NOT_ALLOWED, /* defined, but not in this message */
        TLSD_PROTO_ATTR_DUPLICATE,
        TLSD_PROTO_ATTR_SIZE,           /* wrong size for a fixed type, or over its maximum */
        TLSD_PROTO_STRING_UNTERMINATED, /* string without its final NUL */
        TLSD_PROTO_STRING_EMBEDDED_NUL,
        TLSD_PROTO_STRING_NOT_UTF8,
        TLSD_PROTO_ATTR_MISSING,   /* a required attribute is absent */
        TLSD_PROTO_PADDING,        /* non-zero padding bytes */
        TLSD_PROTO_UNEXPECTED_FDS, /* more descriptors than this message takes */
        TLSD_PROTO_FDS_TRUNCATED,  /* the kernel dropped descriptors (MSG_CTRUNC) */
        _TLSD_PROTO_MAX,
} TlsdProtoError;

typedef enum TlsdDirection {
        TLSD_DIR_TO_DAEMON,   /* requests */
        TLSD_DIR_FROM_DAEMON, /* replies, error replies, events */
} TlsdDirection;

typedef struct TlsdHeader {
        uint32_t magic;
        uint8_t version;
        uint8_t flags;
        uint16_t type;
        uint32_t id;
        uint32_t length;
} TlsdHeader;

_Static_assert(sizeof(TlsdHeader) == TLSD_HEADER_SIZE, "header layout");

/* A validated message: pointers into the caller's buffer, valid as long as it is. */
typedef struct TlsdMsgView {
        TlsdHeader header;
        bool header_valid;    /* type/id readable: an error reply can echo them */
        TlsdProtoError error; /* why parsing failed */
        uint16_t error_attr;  /* offending attribute, if any */
        const uint8_t *value[_TLSD_A_MAX];
        uint32_t length[_TLSD_A_MAX];
        unsigned n_fds;
} TlsdMsgView;

int tlsd_msg_parse(const void *buf, size_t size, unsigned n_fds, TlsdDirection dir,
                   TlsdMsgView *ret);

bool tlsd_msg_has(const TlsdMsgView *v, TlsdAttrType a);
/* Getters return -ENODATA when the attribute is absent; types were checked by the parser. */
int tlsd_msg_get_u32(const TlsdMsgView *v, TlsdAttrType a, uint32_t *ret);
int tlsd_msg_get_u64(const TlsdMsgView *v, TlsdAttrType a, uint64_t *ret);
int tlsd_msg_get_str(const TlsdMsgView *v, TlsdAttrType a, const char **ret);
int tlsd_msg_get_bytes(const TlsdMsgView *v, TlsdAttrType a, const void **ret, size_t *ret_size);

/* Builder. Errors are sticky: check the result of tlsd_msg_end() only. */
typedef struct TlsdMsg {
        uint8_t *buf;
        size_t size;
        size_t allocated;
        int error;
} TlsdMsg;

#define TLSD_MSG_INIT                                                                              \
        { .buf = NULL }

int tlsd_msg_begin(TlsdMsg *m, TlsdMsgType type, uint8_t flags, uint32_t id);
void tlsd_msg_put(TlsdMsg *m, TlsdAttrType a, const void *data, size_t size);
void tlsd_msg_put_u32(TlsdMsg *m, TlsdAttrType a, uint32_t v);
void tlsd_msg_put_u64(TlsdMsg *m, TlsdAttrType a, uint64_t v);
void tlsd_msg_put_str(TlsdMsg *m, TlsdAttrType a, const char *s);
/* For text that did not come from us (peer certificate names, library messages): invalid UTF-8
 * becomes '?', and it is cut to the attribute's maximum. */
void tlsd_msg_put_str_lossy(TlsdMsg *m, TlsdAttrType a, const char *s);
/* The conversion both control planes apply to such text: in place, each byte that does not
 * start a valid UTF-8 sequence (or starts one cut off by the end) becomes '?'. */
void tlsd_utf8_make_valid(char *s);
/* Finishes the header and validates the message against the protocol tables: a message we
 * build that our own decoder would reject is a bug, reported as -EBADMSG. */
int tlsd_msg_end(TlsdMsg *m);
void tlsd_msg_done(TlsdMsg *m);

/* Error reply to request (type, id): error is enum tlsd_error, err a negative errno or 0. */
int tlsd_msg_build_error(TlsdMsg *m, uint16_t type, uint32_t id, int err, const char *message);

const char *tlsd_msg_type_name(unsigned type);
const char *tlsd_attr_name(unsigned attr);
/* The most bytes a string (without its NUL) or binary attribute's value may have; 0 for the
 * fixed-size and unknown ones. */
size_t tlsd_attr_max_size(unsigned attr);
const char *tlsd_proto_error_name(TlsdProtoError e);
/* How many descriptors a message of this type may carry in the given direction. */
unsigned tlsd_msg_max_fds(unsigned type, TlsdDirection dir, uint8_t flags);
