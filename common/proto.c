/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoder, decoder and validation tables for the tlsd control protocol (see proto.h).
 *
 * Validation is table driven: every attribute has a value kind and size bounds, every message
 * type lists which attributes its request, reply or event may carry and which are required.
 * Adding an operation means adding rows here; the daemon and libtlsclient pick them up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "macro.h"
#include "proto.h"

typedef enum AttrKind {
        KIND_U32,
        KIND_U64,
        KIND_STRING, /* UTF-8, NUL-terminated, no interior NUL; max includes the NUL */
        KIND_BINARY,
} AttrKind;

typedef struct AttrSpec {
        const char *name;
        AttrKind kind;
        uint32_t max; /* value bytes, for STRING/BINARY */
} AttrSpec;

static const AttrSpec attr_table[_TLSD_A_MAX] = {
        [TLSD_A_ERROR] = { "error", KIND_U32, 0 },
        [TLSD_A_ERRNO] = { "errno", KIND_U32, 0 },
        [TLSD_A_MESSAGE] = { "message", KIND_STRING, 1024 },
        [TLSD_A_ALERT] = { "alert", KIND_U32, 0 },
        [TLSD_A_VERSION_STRING] = { "version", KIND_STRING, 64 },
        [TLSD_A_PROTO_VERSION] = { "protocol-version", KIND_U32, 0 },
        [TLSD_A_PAYLOAD] = { "payload", KIND_BINARY, TLSD_PAYLOAD_MAX },
        [TLSD_A_UID] = { "uid", KIND_U32, 0 },
        [TLSD_A_GID] = { "gid", KIND_U32, 0 },
        [TLSD_A_PID] = { "pid", KIND_U32, 0 },
        [TLSD_A_TLS_LIBRARY] = { "tls-library", KIND_STRING, 64 },
        [TLSD_A_SESSION_ID] = { "session-id", KIND_U64, 0 },
        [TLSD_A_CONNECTION_ID] = { "connection-id", KIND_U64, 0 },
        [TLSD_A_ROLE] = { "role", KIND_U32, 0 },
        [TLSD_A_VERSION_MIN] = { "version-min", KIND_U32, 0 },
        [TLSD_A_VERSION_MAX] = { "version-max", KIND_U32, 0 },
        [TLSD_A_CIPHERS] = { "ciphers", KIND_STRING, TLSD_CIPHERS_MAX + 1 },
        [TLSD_A_LEGACY] = { "legacy", KIND_U32, 0 },
        [TLSD_A_GROUPS] = { "groups", KIND_STRING, TLSD_GROUPS_MAX + 1 },
        [TLSD_A_CERT] = { "certificate", KIND_BINARY, TLSD_CERT_MAX },
        [TLSD_A_KEY] = { "key", KIND_BINARY, TLSD_KEY_MAX },
        [TLSD_A_KEY_PASSWORD] = { "key-password", KIND_STRING, TLSD_KEY_PASSWORD_MAX + 1 },
        [TLSD_A_PSK_IDENTITY] = { "psk-identity", KIND_STRING, TLSD_PSK_IDENTITY_MAX + 1 },
        [TLSD_A_PSK_KEY] = { "psk-key", KIND_BINARY, TLSD_PSK_KEY_MAX },
        [TLSD_A_CA] = { "ca", KIND_BINARY, TLSD_CA_MAX },
        [TLSD_A_SYSTEM_TRUST] = { "system-trust", KIND_U32, 0 },
        [TLSD_A_VERIFY_MODE] = { "verify-mode", KIND_U32, 0 },
        [TLSD_A_PIN] = { "pin", KIND_BINARY, TLSD_PIN_MAX },
        [TLSD_A_ALPN] = { "alpn", KIND_STRING, TLSD_ALPN_MAX + 1 },
        [TLSD_A_SERVER_NAME] = { "server-name", KIND_STRING, TLSD_NAME_MAX + 1 },
        [TLSD_A_COMPRESSION] = { "compression", KIND_U32, 0 },
        [TLSD_A_HANDSHAKE_TIMEOUT] = { "handshake-timeout", KIND_U32, 0 },
        [TLSD_A_FAMILY] = { "family", KIND_U32, 0 },
        [TLSD_A_ADDRESS] = { "address", KIND_STRING, TLSD_ADDRESS_MAX + 1 },
        [TLSD_A_PORT] = { "port", KIND_U32, 0 },
        [TLSD_A_HOST] = { "host", KIND_STRING, TLSD_NAME_MAX + 1 },
        [TLSD_A_ACCEPT] = { "accept", KIND_U32, 0 },
        [TLSD_A_STATE] = { "state", KIND_U32, 0 },
        [TLSD_A_TLS_VERSION] = { "tls-version", KIND_STRING, 16 },
        [TLSD_A_CIPHER] = { "cipher", KIND_STRING, 64 },
        [TLSD_A_GROUP] = { "group", KIND_STRING, 32 },
        [TLSD_A_ALPN_SELECTED] = { "alpn-selected", KIND_STRING, 256 },
        [TLSD_A_PEER_SUBJECT] = { "peer-subject", KIND_STRING, 1024 },
        [TLSD_A_VERIFY_RESULT] = { "verify-result", KIND_U32, 0 },
        [TLSD_A_BYTES_IN] = { "bytes-in", KIND_U64, 0 },
        [TLSD_A_BYTES_OUT] = { "bytes-out", KIND_U64, 0 },
        [TLSD_A_HANDSHAKE_USEC] = { "handshake-usec", KIND_U64, 0 },
        [TLSD_A_RESUMED] = { "resumed", KIND_U32, 0 },
        [TLSD_A_REASON] = { "reason", KIND_U32, 0 },
        [TLSD_A_PEER_CHAIN] = { "peer-chain", KIND_BINARY, 65000 },
        [TLSD_A_LISTENER_ID] = { "listener-id", KIND_U64, 0 },
        [TLSD_A_BACKLOG] = { "backlog", KIND_U32, 0 },
        [TLSD_A_MAX_PENDING] = { "max-pending", KIND_U32, 0 },
        [TLSD_A_MAX_CONNECTIONS] = { "max-connections", KIND_U32, 0 },
        [TLSD_A_PEER_ADDRESS] = { "peer-address", KIND_STRING, 64 },
        [TLSD_A_PEER_PORT] = { "peer-port", KIND_U32, 0 },
        [TLSD_A_SNI] = { "sni", KIND_STRING, 256 },
        [TLSD_A_CLIENT_AUTH] = { "client-auth", KIND_U32, 0 },
        [TLSD_A_TRANSPORT] = { "transport", KIND_U32, 0 },
        [TLSD_A_DTLS_TIMEOUT_INITIAL] = { "dtls-timeout-initial", KIND_U32, 0 },
        [TLSD_A_DTLS_TIMEOUT_MAX] = { "dtls-timeout-max", KIND_U32, 0 },
        [TLSD_A_DTLS_RETRIES] = { "dtls-retries", KIND_U32, 0 },
        [TLSD_A_MTU] = { "mtu", KIND_U32, 0 },
        [TLSD_A_DTLS_CID] = { "dtls-cid", KIND_U32, 0 },
        [TLSD_A_IDLE_TIMEOUT] = { "idle-timeout", KIND_U32, 0 },
        [TLSD_A_MAX_MESSAGE] = { "max-message", KIND_U32, 0 },
        [TLSD_A_CID_IN_USE] = { "cid-in-use", KIND_U32, 0 },
        [TLSD_A_SIZE] = { "size", KIND_U32, 0 },
        [TLSD_A_RETRIES] = { "retries", KIND_U32, 0 },
        [TLSD_A_RESUME] = { "resume", KIND_U32, 0 },
        [TLSD_A_TICKET_ID] = { "ticket-id", KIND_U64, 0 },
        [TLSD_A_TICKET_ENTRIES] = { "ticket-entries", KIND_U32, 0 },
        [TLSD_A_TICKET_STORED] = { "ticket-stored", KIND_U64, 0 },
        [TLSD_A_TICKET_HITS] = { "ticket-hits", KIND_U64, 0 },
        [TLSD_A_TICKET_MISSES] = { "ticket-misses", KIND_U64, 0 },
        [TLSD_A_TICKET_EXPIRED] = { "ticket-expired", KIND_U64, 0 },
        [TLSD_A_TICKET_EVICTED] = { "ticket-evicted", KIND_U64, 0 },
        [TLSD_A_TICKET_REJECTED] = { "ticket-rejected", KIND_U64, 0 },
        [TLSD_A_SUPPRESSED] = { "suppressed", KIND_U32, 0 },
};

typedef struct AttrRule {
        uint16_t attr;
        bool required;
} AttrRule;

#define REQ(a)                                                                                     \
        { (a), true }
#define OPT(a)                                                                                     \
        { (a), false }
#define END                                                                                        \
        { 0, false }

typedef struct MsgSpec {
        const char *name;
        bool is_event;
        const AttrRule *request; /* NULL: no attributes */
        const AttrRule *reply;   /* or the event's attributes */
        uint8_t request_fds;
        uint8_t reply_fds;
} MsgSpec;

static const AttrRule ping_rules[] = { OPT(TLSD_A_PAYLOAD), END };
static const AttrRule version_reply[] = {
        REQ(TLSD_A_VERSION_STRING),
        REQ(TLSD_A_PROTO_VERSION),
        OPT(TLSD_A_TLS_LIBRARY),
        END,
};
static const AttrRule whoami_reply[] = { REQ(TLSD_A_UID), REQ(TLSD_A_GID), REQ(TLSD_A_PID), END };
static const AttrRule error_reply[] = {
        REQ(TLSD_A_ERROR), OPT(TLSD_A_ERRNO), OPT(TLSD_A_MESSAGE), OPT(TLSD_A_ALERT), END,
};

#define SESSION_OPTIONS                                                                            \
        OPT(TLSD_A_VERSION_MIN), OPT(TLSD_A_VERSION_MAX), OPT(TLSD_A_CIPHERS), OPT(TLSD_A_LEGACY), \
                OPT(TLSD_A_GROUPS), OPT(TLSD_A_CERT), OPT(TLSD_A_KEY), OPT(TLSD_A_KEY_PASSWORD),   \
                OPT(TLSD_A_PSK_IDENTITY), OPT(TLSD_A_PSK_KEY), OPT(TLSD_A_CA),                     \
                OPT(TLSD_A_SYSTEM_TRUST), OPT(TLSD_A_VERIFY_MODE), OPT(TLSD_A_PIN),                \
                OPT(TLSD_A_ALPN), OPT(TLSD_A_SERVER_NAME), OPT(TLSD_A_COMPRESSION),                \
                OPT(TLSD_A_HANDSHAKE_TIMEOUT), OPT(TLSD_A_CLIENT_AUTH),                            \
                OPT(TLSD_A_DTLS_TIMEOUT_INITIAL), OPT(TLSD_A_DTLS_TIMEOUT_MAX),                    \
                OPT(TLSD_A_DTLS_RETRIES), OPT(TLSD_A_MTU), OPT(TLSD_A_DTLS_CID),                   \
                OPT(TLSD_A_IDLE_TIMEOUT), OPT(TLSD_A_RESUME)

static const AttrRule session_create_request[] = { REQ(TLSD_A_ROLE), OPT(TLSD_A_TRANSPORT),
                                                   SESSION_OPTIONS, END };
static const AttrRule session_configure_request[] = { REQ(TLSD_A_SESSION_ID), SESSION_OPTIONS,
                                                      END };
static const AttrRule session_id_only[] = { REQ(TLSD_A_SESSION_ID), END };
static const AttrRule connection_create_request[] = { REQ(TLSD_A_SESSION_ID), OPT(TLSD_A_FAMILY),
                                                      END };
static const AttrRule connection_id_only[] = { REQ(TLSD_A_CONNECTION_ID), END };
static const AttrRule connection_bind_request[] = {
        REQ(TLSD_A_CONNECTION_ID),
        OPT(TLSD_A_ADDRESS),
        OPT(TLSD_A_PORT),
        END,
};
static const AttrRule connection_connect_request[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_HOST),      REQ(TLSD_A_PORT),
        OPT(TLSD_A_SERVER_NAME),   OPT(TLSD_A_TICKET_ID), END,
};
static const AttrRule certificate_response_request[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_ACCEPT),
        END,
};
static const AttrRule connection_info_reply[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_STATE),
        OPT(TLSD_A_TLS_VERSION),   OPT(TLSD_A_CIPHER),
        OPT(TLSD_A_GROUP),         OPT(TLSD_A_ALPN_SELECTED),
        OPT(TLSD_A_PEER_SUBJECT),  OPT(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_RESUMED),       REQ(TLSD_A_BYTES_IN),
        REQ(TLSD_A_BYTES_OUT),     OPT(TLSD_A_HANDSHAKE_USEC),
        OPT(TLSD_A_TRANSPORT),     OPT(TLSD_A_MAX_MESSAGE),
        OPT(TLSD_A_CID_IN_USE),    END,
};
static const AttrRule event_handshake_done[] = {
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
        END,
};
static const AttrRule event_handshake_failed[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_ERROR),
        OPT(TLSD_A_ERRNO),
        OPT(TLSD_A_MESSAGE),
        OPT(TLSD_A_ALERT),
        OPT(TLSD_A_VERIFY_RESULT),
        END,
};
static const AttrRule event_certificate[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_VERIFY_RESULT),
        OPT(TLSD_A_PEER_CHAIN),
        OPT(TLSD_A_PEER_SUBJECT),
        END,
};
static const AttrRule event_disconnected[] = {
        REQ(TLSD_A_CONNECTION_ID), REQ(TLSD_A_REASON),    OPT(TLSD_A_ALERT),
        OPT(TLSD_A_BYTES_IN),      OPT(TLSD_A_BYTES_OUT), END,
};
static const AttrRule listen_request[] = {
        REQ(TLSD_A_SESSION_ID),
        OPT(TLSD_A_ADDRESS),
        REQ(TLSD_A_PORT),
        OPT(TLSD_A_BACKLOG),
        OPT(TLSD_A_MAX_PENDING),
        OPT(TLSD_A_MAX_CONNECTIONS),
        END,
};
static const AttrRule listen_reply[] = {
        REQ(TLSD_A_LISTENER_ID),
        REQ(TLSD_A_ADDRESS),
        REQ(TLSD_A_PORT),
        END,
};
static const AttrRule listener_id_only[] = { REQ(TLSD_A_LISTENER_ID), END };
static const AttrRule adopt_request[] = {
        REQ(TLSD_A_SESSION_ID),
        OPT(TLSD_A_HOST),
        OPT(TLSD_A_SERVER_NAME),
        END,
};
static const AttrRule event_accepted[] = {
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
        END,
};
static const AttrRule event_accept_failed[] = {
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
        END,
};
static const AttrRule event_timeout[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_RETRIES),
        OPT(TLSD_A_MESSAGE),
        END,
};
static const AttrRule event_message_too_large[] = {
        REQ(TLSD_A_CONNECTION_ID),
        REQ(TLSD_A_SIZE),
        REQ(TLSD_A_MAX_MESSAGE),
        OPT(TLSD_A_ERRNO),
        END,
};
static const AttrRule session_id_reply[] = { REQ(TLSD_A_SESSION_ID), END };
static const AttrRule connection_id_reply[] = { REQ(TLSD_A_CONNECTION_ID), END };
static const AttrRule ticket_id_reply[] = { REQ(TLSD_A_TICKET_ID), END };
static const AttrRule ticket_stats_reply[] = {
        REQ(TLSD_A_TICKET_ENTRIES),  REQ(TLSD_A_TICKET_STORED),
        REQ(TLSD_A_TICKET_HITS),     REQ(TLSD_A_TICKET_MISSES),
        REQ(TLSD_A_TICKET_EXPIRED),  REQ(TLSD_A_TICKET_EVICTED),
        REQ(TLSD_A_TICKET_REJECTED), END,
};

static const MsgSpec msg_table[_TLSD_MSG_MAX] = {
        [TLSD_MSG_VERSION] = { "Version", false, NULL, version_reply, 0, 0 },
        [TLSD_MSG_PING] = { "Ping", false, ping_rules, ping_rules, 0, 0 },
        [TLSD_MSG_WHOAMI] = { "WhoAmI", false, NULL, whoami_reply, 0, 0 },
        [TLSD_MSG_SESSION_CREATE] = { "CreateSession", false, session_create_request,
                                      session_id_reply, 0, 0 },
        [TLSD_MSG_SESSION_CONFIGURE] = { "ConfigureSession", false, session_configure_request, NULL,
                                         0, 0 },
        [TLSD_MSG_SESSION_DESTROY] = { "DestroySession", false, session_id_only, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_CREATE] = { "CreateConnection", false, connection_create_request,
                                         connection_id_reply, 0, 0 },
        [TLSD_MSG_CONNECTION_BIND] = { "Bind", false, connection_bind_request, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_CONNECT] = { "Connect", false, connection_connect_request, NULL, 0,
                                          0 },
        [TLSD_MSG_CERTIFICATE_RESPONSE] = { "CertificateResponse", false,
                                            certificate_response_request, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_INFO] = { "GetInfo", false, connection_id_only, connection_info_reply,
                                       0, 0 },
        [TLSD_MSG_CONNECTION_DISCONNECT] = { "Disconnect", false, connection_id_only, NULL, 0, 0 },
        [TLSD_MSG_CONNECTION_DESTROY] = { "DestroyConnection", false, connection_id_only, NULL, 0,
                                          0 },
        [TLSD_MSG_EVENT_HANDSHAKE_DONE] = { "HandshakeDone", true, NULL, event_handshake_done, 0,
                                            1 },
        [TLSD_MSG_EVENT_HANDSHAKE_FAILED] = { "HandshakeFailed", true, NULL, event_handshake_failed,
                                              0, 0 },
        [TLSD_MSG_EVENT_CERTIFICATE] = { "CertificateIndication", true, NULL, event_certificate, 0,
                                         0 },
        [TLSD_MSG_EVENT_DISCONNECTED] = { "Disconnected", true, NULL, event_disconnected, 0, 0 },
        [TLSD_MSG_LISTEN] = { "Listen", false, listen_request, listen_reply, 0, 0 },
        [TLSD_MSG_LISTENER_CLOSE] = { "CloseListener", false, listener_id_only, NULL, 0, 0 },
        [TLSD_MSG_ADOPT] = { "Adopt", false, adopt_request, connection_id_reply, 1, 0 },
        [TLSD_MSG_EVENT_ACCEPTED] = { "Accepted", true, NULL, event_accepted, 0, 1 },
        [TLSD_MSG_EVENT_TIMEOUT] = { "Timeout", true, NULL, event_timeout, 0, 0 },
        [TLSD_MSG_CONNECTION_RETRY] = { "Retry", false, connection_id_only, NULL, 0, 0 },
        [TLSD_MSG_EVENT_MESSAGE_TOO_LARGE] = { "MessageTooLarge", true, NULL,
                                               event_message_too_large, 0, 0 },
        [TLSD_MSG_GET_TICKET] = { "GetTicket", false, connection_id_only, ticket_id_reply, 0, 0 },
        [TLSD_MSG_TICKET_STATS] = { "TicketStats", false, NULL, ticket_stats_reply, 0, 0 },
        [TLSD_MSG_EVENT_ACCEPT_FAILED] = { "AcceptFailed", true, NULL, event_accept_failed, 0, 0 },
        [TLSD_MSG_CONNECTION_SHUTDOWN] = { "Shutdown", false, connection_id_only, NULL, 0, 0 },
};

static const char *const proto_error_names[_TLSD_PROTO_MAX] = {
        [TLSD_PROTO_OK] = "ok",
        [TLSD_PROTO_TOO_SHORT] = "message shorter than header",
        [TLSD_PROTO_TOO_LARGE] = "message too large",
        [TLSD_PROTO_BAD_MAGIC] = "bad magic",
        [TLSD_PROTO_BAD_VERSION] = "unsupported protocol version",
        [TLSD_PROTO_BAD_FLAGS] = "invalid flags",
        [TLSD_PROTO_LENGTH_MISMATCH] = "payload length does not match header",
        [TLSD_PROTO_UNKNOWN_TYPE] = "unknown message type",
        [TLSD_PROTO_WRONG_DIRECTION] = "message type not valid in this direction",
        [TLSD_PROTO_BAD_ID] = "invalid request id",
        [TLSD_PROTO_ATTR_TRUNCATED] = "attribute truncated",
        [TLSD_PROTO_ATTR_BAD_LENGTH] = "attribute length invalid",
        [TLSD_PROTO_ATTR_UNKNOWN] = "unknown attribute",
        [TLSD_PROTO_ATTR_NOT_ALLOWED] = "attribute not allowed in this message",
        [TLSD_PROTO_ATTR_DUPLICATE] = "duplicate attribute",
        [TLSD_PROTO_ATTR_SIZE] = "attribute has wrong size",
        [TLSD_PROTO_STRING_UNTERMINATED] = "string not NUL-terminated",
        [TLSD_PROTO_STRING_EMBEDDED_NUL] = "string contains NUL",
        [TLSD_PROTO_STRING_NOT_UTF8] = "string is not valid UTF-8",
        [TLSD_PROTO_ATTR_MISSING] = "required attribute missing",
        [TLSD_PROTO_PADDING] = "non-zero padding",
        [TLSD_PROTO_UNEXPECTED_FDS] = "unexpected file descriptors",
        [TLSD_PROTO_FDS_TRUNCATED] = "file descriptors truncated",
};

const char *tlsd_proto_error_name(TlsdProtoError e) {
        if ((unsigned) e >= _TLSD_PROTO_MAX)
                return "invalid";
        return proto_error_names[e];
}

const char *tlsd_msg_type_name(unsigned type) {
        if (type >= _TLSD_MSG_MAX || !msg_table[type].name)
                return "unknown";
        return msg_table[type].name;
}

const char *tlsd_attr_name(unsigned attr) {
        if (attr >= _TLSD_A_MAX || !attr_table[attr].name)
                return "unknown";
        return attr_table[attr].name;
}

size_t tlsd_attr_max_size(unsigned attr) {
        if (attr >= _TLSD_A_MAX || !attr_table[attr].max)
                return 0;
        return attr_table[attr].kind == KIND_STRING ? attr_table[attr].max - 1
                                                    : attr_table[attr].max;
}

static const MsgSpec *msg_spec(unsigned type) {
        if (type >= _TLSD_MSG_MAX || !msg_table[type].name)
                return NULL;
        return &msg_table[type];
}

unsigned tlsd_msg_max_fds(unsigned type, TlsdDirection dir, uint8_t flags) {
        const MsgSpec *s = msg_spec(type);

        if (!s || (flags & TLSD_F_ERROR))
                return 0;
        return dir == TLSD_DIR_TO_DAEMON ? s->request_fds : s->reply_fds;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n) {
        size_t i = 0;

        while (i < n) {
                uint8_t c = s[i];
                size_t len;
                uint32_t cp, min;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0) {
                        len = 2, cp = c & 0x1f, min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        len = 3, cp = c & 0x0f, min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        len = 4, cp = c & 0x07, min = 0x10000;
                } else
                        return false;
                if (n - i < len)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += len;
        }
        return true;
}

static TlsdProtoError check_value(const AttrSpec *spec, const uint8_t *v, uint32_t len) {
        switch (spec->kind) {
        case KIND_U32:
                return len == 4 ? TLSD_PROTO_OK : TLSD_PROTO_ATTR_SIZE;
        case KIND_U64:
                return len == 8 ? TLSD_PROTO_OK : TLSD_PROTO_ATTR_SIZE;
        case KIND_BINARY:
                return len <= spec->max ? TLSD_PROTO_OK : TLSD_PROTO_ATTR_SIZE;
        case KIND_STRING:
                if (len == 0 || len > spec->max)
                        return TLSD_PROTO_ATTR_SIZE;
                if (v[len - 1] != 0)
                        return TLSD_PROTO_STRING_UNTERMINATED;
                if (memchr(v, 0, len - 1))
                        return TLSD_PROTO_STRING_EMBEDDED_NUL;
                if (!utf8_valid(v, len - 1))
                        return TLSD_PROTO_STRING_NOT_UTF8;
                return TLSD_PROTO_OK;
        }
        return TLSD_PROTO_ATTR_UNKNOWN;
}

static const AttrRule *find_rule(const AttrRule *rules, uint16_t attr) {
        for (const AttrRule *r = rules; r && r->attr; r++)
                if (r->attr == attr)
                        return r;
        return NULL;
}

static int fail(TlsdMsgView *v, TlsdProtoError e, uint16_t attr) {
        v->error = e;
        v->error_attr = attr;
        return -EBADMSG;
}

/* Which rule list applies, or a protocol error, given direction, type and flags. */
static TlsdProtoError select_rules(const TlsdHeader *h, TlsdDirection dir, const AttrRule **ret) {
        const MsgSpec *s;

        if (h->flags & ~_TLSD_F_ALL)
                return TLSD_PROTO_BAD_FLAGS;

        if (dir == TLSD_DIR_TO_DAEMON) {
                if (h->flags != 0)
                        return TLSD_PROTO_BAD_FLAGS;
                s = msg_spec(h->type);
                if (!s)
                        return TLSD_PROTO_UNKNOWN_TYPE;
                if (s->is_event)
                        return TLSD_PROTO_WRONG_DIRECTION;
                if (h->id == 0)
                        return TLSD_PROTO_BAD_ID;
                *ret = s->request;
                return TLSD_PROTO_OK;
        }

        switch (h->flags) {
        case TLSD_F_REPLY | TLSD_F_ERROR:
                /* Echoes whatever the request said, even an unknown type or id 0. */
                *ret = error_reply;
                return TLSD_PROTO_OK;
        case TLSD_F_REPLY:
                s = msg_spec(h->type);
                if (!s)
                        return TLSD_PROTO_UNKNOWN_TYPE;
                if (s->is_event)
                        return TLSD_PROTO_WRONG_DIRECTION;
                if (h->id == 0)
                        return TLSD_PROTO_BAD_ID;
                *ret = s->reply;
                return TLSD_PROTO_OK;
        case TLSD_F_EVENT:
                s = msg_spec(h->type);
                if (!s)
                        return TLSD_PROTO_UNKNOWN_TYPE;
                if (!s->is_event)
                        return TLSD_PROTO_WRONG_DIRECTION;
                if (h->id != 0)
                        return TLSD_PROTO_BAD_ID;
                *ret = s->reply;
                return TLSD_PROTO_OK;
        default:
                return TLSD_PROTO_BAD_FLAGS;
        }
}

int tlsd_msg_parse(const void *buf, size_t size, unsigned n_fds, TlsdDirection dir,
                   TlsdMsgView *ret) {
        const uint8_t *p = buf;
        const AttrRule *rules = NULL;
        TlsdProtoError e;
        size_t off;

        memset(ret, 0, sizeof(*ret));
        ret->n_fds = n_fds;

        if (size < TLSD_HEADER_SIZE)
                return fail(ret, TLSD_PROTO_TOO_SHORT, 0);
        memcpy(&ret->header, p, TLSD_HEADER_SIZE);
        if (ret->header.magic != TLSD_PROTO_MAGIC)
                return fail(ret, TLSD_PROTO_BAD_MAGIC, 0);
        if (ret->header.version != TLSD_PROTO_VERSION)
                return fail(ret, TLSD_PROTO_BAD_VERSION, 0);
        ret->header_valid = true;
        if (size > TLSD_MSG_MAX)
                return fail(ret, TLSD_PROTO_TOO_LARGE, 0);
        if ((size_t) ret->header.length != size - TLSD_HEADER_SIZE)
                return fail(ret, TLSD_PROTO_LENGTH_MISMATCH, 0);

        e = select_rules(&ret->header, dir, &rules);
        if (e != TLSD_PROTO_OK)
                return fail(ret, e, 0);

        if (n_fds > tlsd_msg_max_fds(ret->header.type, dir, ret->header.flags))
                return fail(ret, TLSD_PROTO_UNEXPECTED_FDS, 0);

        for (off = TLSD_HEADER_SIZE; off < size;) {
                uint16_t alen, atype;
                size_t padded;

                if (size - off < TLSD_ATTR_HEADER_SIZE)
                        return fail(ret, TLSD_PROTO_ATTR_TRUNCATED, 0);
                memcpy(&alen, p + off, 2);
                memcpy(&atype, p + off + 2, 2);
                if (alen < TLSD_ATTR_HEADER_SIZE)
                        return fail(ret, TLSD_PROTO_ATTR_BAD_LENGTH, atype);
                if (alen > size - off)
                        return fail(ret, TLSD_PROTO_ATTR_TRUNCATED, atype);
                padded = ALIGN4((size_t) alen);
                if (padded > size - off)
                        return fail(ret, TLSD_PROTO_ATTR_TRUNCATED, atype);
                for (size_t k = alen; k < padded; k++)
                        if (p[off + k] != 0)
                                return fail(ret, TLSD_PROTO_PADDING, atype);

                if (atype == 0 || atype >= _TLSD_A_MAX || !attr_table[atype].name)
                        return fail(ret, TLSD_PROTO_ATTR_UNKNOWN, atype);
                if (!find_rule(rules, atype))
                        return fail(ret, TLSD_PROTO_ATTR_NOT_ALLOWED, atype);
                if (ret->value[atype])
                        return fail(ret, TLSD_PROTO_ATTR_DUPLICATE, atype);

                e = check_value(&attr_table[atype], p + off + TLSD_ATTR_HEADER_SIZE,
                                alen - TLSD_ATTR_HEADER_SIZE);
                if (e != TLSD_PROTO_OK)
                        return fail(ret, e, atype);

                ret->value[atype] = p + off + TLSD_ATTR_HEADER_SIZE;
                ret->length[atype] = alen - TLSD_ATTR_HEADER_SIZE;
                off += padded;
        }

        for (const AttrRule *r = rules; r && r->attr; r++)
                if (r->required && !ret->value[r->attr])
                        return fail(ret, TLSD_PROTO_ATTR_MISSING, r->attr);

        return 0;
}

bool tlsd_msg_has(const TlsdMsgView *v, TlsdAttrType a) {
        return (unsigned) a < _TLSD_A_MAX && v->value[a];
}

static int get_fixed(const TlsdMsgView *v, TlsdAttrType a, void *ret, size_t size) {
        if (!tlsd_msg_has(v, a))
                return -ENODATA;
        if (v->length[a] != size)
                return -EBADMSG; /* caller asked with the wrong getter: a bug */
        memcpy(ret, v->value[a], size);
        return 0;
}

int tlsd_msg_get_u32(const TlsdMsgView *v, TlsdAttrType a, uint32_t *ret) {
        if (tlsd_msg_has(v, a) && attr_table[a].kind != KIND_U32)
                return -EBADMSG; /* asked with the wrong getter: a bug */
        return get_fixed(v, a, ret, sizeof(*ret));
}

int tlsd_msg_get_u64(const TlsdMsgView *v, TlsdAttrType a, uint64_t *ret) {
        if (tlsd_msg_has(v, a) && attr_table[a].kind != KIND_U64)
                return -EBADMSG;
        return get_fixed(v, a, ret, sizeof(*ret));
}

int tlsd_msg_get_str(const TlsdMsgView *v, TlsdAttrType a, const char **ret) {
        if (!tlsd_msg_has(v, a))
                return -ENODATA;
        if (attr_table[a].kind != KIND_STRING)
                return -EBADMSG;
        *ret = (const char *) v->value[a];
        return 0;
}

int tlsd_msg_get_bytes(const TlsdMsgView *v, TlsdAttrType a, const void **ret, size_t *ret_size) {
        if (!tlsd_msg_has(v, a))
                return -ENODATA;
        *ret = v->value[a];
        *ret_size = v->length[a];
        return 0;
}

/* ---- builder ---- */

static void *msg_grow(TlsdMsg *m, size_t extra) {
        size_t need;

        if (m->error < 0)
                return NULL;
        need = m->size + extra;
        if (need > TLSD_MSG_MAX) {
                m->error = -EMSGSIZE;
                return NULL;
        }
        if (need > m->allocated) {
                size_t n = m->allocated ? m->allocated : 256;
                uint8_t *b;

                while (n < need)
                        n *= 2;
                b = realloc(m->buf, n);
                if (!b) {
                        m->error = -ENOMEM;
                        return NULL;
                }
                m->buf = b;
                m->allocated = n;
        }
        m->size = need;
        return m->buf + need - extra;
}

int tlsd_msg_begin(TlsdMsg *m, TlsdMsgType type, uint8_t flags, uint32_t id) {
        TlsdHeader h = {
                .magic = TLSD_PROTO_MAGIC,
                .version = TLSD_PROTO_VERSION,
                .flags = flags,
                .type = (uint16_t) type,
                .id = id,
        };
        void *p;

        m->size = 0;
        m->error = 0;
        p = msg_grow(m, sizeof(h));
        if (!p)
                return m->error;
        memcpy(p, &h, sizeof(h));
        return 0;
}

void tlsd_msg_put(TlsdMsg *m, TlsdAttrType a, const void *data, size_t size) {
        uint16_t len, type = (uint16_t) a;
        uint8_t *p;

        if (size > UINT16_MAX - TLSD_ATTR_HEADER_SIZE) {
                if (m->error == 0)
                        m->error = -EMSGSIZE;
                return;
        }
        len = (uint16_t) (size + TLSD_ATTR_HEADER_SIZE);
        p = msg_grow(m, ALIGN4((size_t) len));
        if (!p)
                return;
        memcpy(p, &len, 2);
        memcpy(p + 2, &type, 2);
        if (size > 0)
                memcpy(p + TLSD_ATTR_HEADER_SIZE, data, size);
        memset(p + len, 0, ALIGN4((size_t) len) - len);
}

void tlsd_msg_put_u32(TlsdMsg *m, TlsdAttrType a, uint32_t v) {
        tlsd_msg_put(m, a, &v, sizeof(v));
}

void tlsd_msg_put_u64(TlsdMsg *m, TlsdAttrType a, uint64_t v) {
        tlsd_msg_put(m, a, &v, sizeof(v));
}

void tlsd_msg_put_str(TlsdMsg *m, TlsdAttrType a, const char *s) {
        tlsd_msg_put(m, a, s, strlen(s) + 1);
}

void tlsd_msg_put_str_lossy(TlsdMsg *m, TlsdAttrType a, const char *s) {
        size_t max = (unsigned) a < _TLSD_A_MAX && attr_table[a].max ? attr_table[a].max - 1 : 0;
        size_t n = strnlen(s, max);
        char *copy = malloc(n + 1);

        if (!copy) {
                if (m->error == 0)
                        m->error = -ENOMEM;
                return;
        }
        memcpy(copy, s, n);
        copy[n] = 0;
        tlsd_utf8_make_valid(copy); /* a cut at the end may leave a partial sequence: '?' too */
        tlsd_msg_put_str(m, a, copy);
        free(copy);
}

void tlsd_utf8_make_valid(char *s) {
        size_t n = strlen(s);

        /* Replace each byte that does not start a valid sequence. */
        for (size_t i = 0; i < n;) {
                size_t len = 1;

                while (len <= 4 && i + len <= n && !utf8_valid((uint8_t *) s + i, len))
                        len++;
                if (len > 4 || i + len > n) {
                        s[i++] = '?';
                        continue;
                }
                i += len;
        }
}

int tlsd_msg_end(TlsdMsg *m) {
        TlsdMsgView v;
        TlsdHeader h;

        if (m->error < 0)
                return m->error;
        if (m->size < TLSD_HEADER_SIZE)
                return -EINVAL;
        memcpy(&h, m->buf, sizeof(h));
        h.length = (uint32_t) (m->size - TLSD_HEADER_SIZE);
        memcpy(m->buf, &h, sizeof(h));

        /* Descriptors are checked by the transport; here only the bytes. */
        if (tlsd_msg_parse(m->buf, m->size, 0, h.flags ? TLSD_DIR_FROM_DAEMON : TLSD_DIR_TO_DAEMON,
                           &v) < 0)
                return -EBADMSG;
        return 0;
}

void tlsd_msg_done(TlsdMsg *m) {
        free(m->buf);
        *m = (TlsdMsg) TLSD_MSG_INIT;
}

int tlsd_msg_build_error(TlsdMsg *m, uint16_t type, uint32_t id, int err, const char *message) {
        int r;

        r = tlsd_msg_begin(m, (TlsdMsgType) type, TLSD_F_REPLY | TLSD_F_ERROR, id);
        if (r < 0)
                return r;
        tlsd_msg_put_u32(m, TLSD_A_ERROR, (uint32_t) tlsd_error_from_errno(err));
        tlsd_msg_put_u32(m, TLSD_A_ERRNO, 0u - (uint32_t) err);
        if (message)
                tlsd_msg_put_str(m, TLSD_A_MESSAGE, message);
        return tlsd_msg_end(m);
}
