/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TLS engine boundary: the only part of tlsd that includes wolfSSL headers. The rest of the
 * daemon sees tlsd types and negative errno values; library outcomes are mapped to them here,
 * once. An EngineCtx is a session's policy (a WOLFSSL_CTX); an EngineConn one association on a
 * non-blocking socket (a WOLFSSL). The engine does no event-loop work: callers drive it when
 * their fd is ready and it says what it waits for.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsd/types.h"

int engine_global_init(void);
void engine_global_done(void);

/* "wolfSSL 5.7.2" */
const char *engine_library_version(void);

typedef struct EngineFeatures {
        bool aesni;
        bool dtls13;
        bool dtls_cid;
        bool pq_hybrid; /* X25519MLKEM768 (ML-KEM, wolfSSL >= 5.8) */
} EngineFeatures;

void engine_features(EngineFeatures *ret);

/* ---- the system trust store ---- */

/* The system's CA certificates, read once at first use (again when their directory changes)
 * and shared read-only by every policy that trusts them (engine-trust.c). One per daemon, the
 * Manager's; it must outlive the policies made with it. */
typedef struct EngineSystemTrust EngineSystemTrust;

int engine_system_trust_new(EngineSystemTrust **ret);
EngineSystemTrust *engine_system_trust_free(EngineSystemTrust *t);

/* How many certificates a CA blob holds, as trust caps count them: its PEM blocks, or 1 for
 * DER. */
unsigned engine_trust_count(const void *ca, size_t size);

/* ---- policy (a session) ---- */

typedef struct EngineCtx EngineCtx;

typedef enum EngineRole {
        ENGINE_CLIENT,
        ENGINE_SERVER
} EngineRole;
typedef enum EngineTransport {
        ENGINE_TLS = 0,
        ENGINE_DTLS = 1
} EngineTransport;

/* Errors carry a human message in `error` (at least 256 bytes) where one helps.
 *
 * Each setter below has a check that says whether the setter would succeed, without changing
 * anything: a Configure checks all its options before it applies any (the setters then fail
 * only when memory runs out). */
/* system_trust: where engine_ctx_add_system_trust() takes the system store from (may be
 * NULL: then it has none). */
int engine_ctx_new(EngineRole role, EngineTransport transport, EngineSystemTrust *system_trust,
                   EngineCtx **ret);
bool engine_ctx_is_dtls(EngineCtx *c);
EngineCtx *engine_ctx_free(EngineCtx *c);

/* TLS versions as wire codes: 0x0303 = TLS 1.2, 0x0304 = TLS 1.3. Older: -EPROTONOSUPPORT.
 * A DTLS policy takes DTLS codes (0xfefd = DTLS 1.2, 0xfefc = DTLS 1.3) or the TLS codes of the
 * same generation. */
int engine_ctx_set_versions(EngineCtx *c, unsigned min, unsigned max, char *error);
int engine_ctx_check_versions(EngineCtx *c, unsigned min, unsigned max, char *error);
/* Whether a DTLS policy with this maximum version (DTLS or TLS code) allows DTLS 1.3. */
bool engine_dtls13_in_range(unsigned max);
/* Colon/comma separated IANA (TLS_ECDHE_..._WITH_...) or OpenSSL names. CBC suites need
 * legacy; RC4, NULL, anon, export, DES, MD5 and static-RSA suites are always refused. */
int engine_ctx_set_ciphers(EngineCtx *c, const char *list, bool legacy, char *error);
int engine_ctx_check_ciphers(EngineCtx *c, const char *list, bool legacy, char *error);
/* Key-exchange groups: P-256, P-384, P-521, X25519, X448 (also secp256r1 etc.), and where the
 * library has it the post-quantum hybrid X25519MLKEM768. A client sends key shares for the
 * first group and, when that is a hybrid, for the first classical group after it too, so a peer
 * without the hybrid costs no HelloRetryRequest. Default (engine_default_groups()): the hybrid
 * where the library has it, then X25519, P-256, P-384, P-521. */
int engine_ctx_set_groups(EngineCtx *c, const char *list, char *error);
int engine_ctx_check_groups(EngineCtx *c, const char *list, char *error);
/* The default group list, in tlsd's names ("X25519MLKEM768:X25519:P-256:P-384:P-521"). */
const char *engine_default_groups(void);

/* The smallest peer key accepted, on both roles (and the smallest own key loaded): RSA bits
 * and ECC bits (Ed25519 counts as 256). These are also the floors: a policy can only raise
 * them (-EINVAL below). A smaller peer key fails verification as TLSC_VERIFY_WEAK_KEY. */
#define ENGINE_MIN_RSA_BITS 2048u
#define ENGINE_MIN_ECC_BITS 256u
int engine_ctx_set_min_key_bits(EngineCtx *c, unsigned rsa_bits, unsigned ecc_bits, char *error);
/* Own certificate chain and key, PEM or DER (detected), key optionally encrypted. A server
 * session may have several (up to 16): the first is the default, the others are chosen per
 * handshake by SNI and by the key types the client accepts (RSA and ECDSA side by side). */
int engine_ctx_set_identity(EngineCtx *c, const void *cert, size_t cert_size, const void *key,
                            size_t key_size, const char *password, char *error);
int engine_ctx_check_identity(EngineCtx *c, const void *cert, size_t cert_size, const void *key,
                              size_t key_size, const char *password, char *error);
/* Server: client certificates not asked for / optional / required (enum tlsc_client_auth). */
int engine_ctx_set_client_auth(EngineCtx *c, unsigned mode, char *error);
int engine_ctx_check_client_auth(EngineCtx *c, unsigned mode, char *error);
bool engine_ctx_has_identity(EngineCtx *c);
/* Adds CA certificates (PEM or DER) to the trust anchors (a server's: for client certs). The
 * check parses them aside: a bundle refused half way would leave its first part loaded. */
int engine_ctx_add_trust(EngineCtx *c, const void *ca, size_t size, char *error);
int engine_ctx_check_trust(EngineCtx *c, const void *ca, size_t size, char *error);
/* Adds the system trust store (/etc/ssl/certs), shared with every other policy that has it.
 * The check reads it if nobody has yet (-ENOENT when there is none). */
int engine_ctx_add_system_trust(EngineCtx *c, char *error);
int engine_ctx_check_system_trust(EngineCtx *c, char *error);
/* External PSK (TLS 1.2 PSK suites and TLS 1.3 PSK). */
int engine_ctx_set_psk(EngineCtx *c, const char *identity, const void *key, size_t key_size,
                       char *error);
int engine_ctx_check_psk(EngineCtx *c, const char *identity, size_t key_size, char *error);

struct EngineTicketKeys;
/* Server: issue and accept session tickets encrypted under keys (tlsd's, shared by all
 * sessions; they must outlive c) and bound to the owner uid and the session's policy hash
 * (policy: 32 bytes that outlive c, copied by each association as it is created, so Configure
 * calls after this one count from the next handshake on): a ticket resumes only at a server
 * of the same owner and policy. Without keys a
 * server issues no tickets. A server that asks for client certificates
 * (engine_ctx_set_client_auth) neither issues nor accepts tickets. Server contexts keep no
 * session cache, so there is no resumption by session ID. Must come before the policy is
 * configured (it sets up the library context again). */
int engine_ctx_set_ticket_keys(EngineCtx *c, const struct EngineTicketKeys *keys, uint32_t uid,
                               const uint8_t *policy);

/* ---- one association ---- */

typedef struct EngineConn EngineConn;

typedef struct EngineConnParams {
        const char *peer_name; /* verified against the certificate (DNS name or IP); may be NULL */
        const char *sni;       /* server_name to send; NULL: peer_name if it is a DNS name */
        const char *alpn;      /* comma separated, or NULL */
        enum tlsc_verify_mode verify;
        const uint8_t *pin; /* SHA-256 of the peer's SubjectPublicKeyInfo, for PINNED */
        bool tickets;       /* client: ask for session tickets (TLS 1.2) and note arrivals */
        /* DTLS */
        unsigned mtu;             /* path MTU; 0: 1400 */
        bool cid;                 /* negotiate a Connection ID */
        const uint8_t *cid_value; /* server: the CID the client puts on records to us */
        size_t cid_size;
        const struct sockaddr *peer; /* shared (listener) socket: where to send; NULL when the
                                      * socket is connected */
        unsigned peer_len;
        const uint8_t *cookie_secret; /* server: the listener's cookie secret */
        size_t cookie_secret_size;
} EngineConnParams;

/* fd: a TCP socket; for DTLS a connected UDP socket, or a listener's shared one (p->peer). */
int engine_conn_new(EngineCtx *c, int fd, const EngineConnParams *p, EngineConn **ret);
EngineConn *engine_conn_free(EngineConn *c);

/* What a call waits for when it returns -EAGAIN. */
typedef enum EngineWait {
        ENGINE_WAIT_NONE,
        ENGINE_WAIT_READ,
        ENGINE_WAIT_WRITE
} EngineWait;

typedef struct EngineFailure {
        enum tlsc_verify_result verify; /* why verification failed, if it did */
        int alert;                      /* TLS alert received or sent, -1 if none */
        bool alert_received;
        char message[256];
} EngineFailure;

/* 0 when the handshake is complete, -EAGAIN with *wait, or a negative errno with *fail filled:
 * -EKEYREJECTED (verification), -EPROTO (handshake/alert), -ECONNRESET (peer closed). */
int engine_conn_handshake(EngineConn *c, EngineWait *wait, EngineFailure *fail);

/* Bytes read (> 0), 0 on close_notify, -EAGAIN with *wait, -ECONNRESET when the transport closed
 * without close_notify (truncation), -EPIPE on a TCP reset, -EPROTO on an alert or record error
 * (details in *fail). */
ssize_t engine_conn_read(EngineConn *c, void *buf, size_t size, EngineWait *wait,
                         EngineFailure *fail);
/* Bytes written (all of size, or -EAGAIN: call again with the same buffer and size). */
ssize_t engine_conn_write(EngineConn *c, const void *buf, size_t size, EngineWait *wait,
                          EngineFailure *fail);
/* Sends close_notify. 0 when sent, -EAGAIN with *wait. */
int engine_conn_shutdown(EngineConn *c, EngineWait *wait);
/* The peer's close_notify was processed (a read of 0 can mean other things). */
bool engine_conn_close_notify_received(EngineConn *c);
/* Plaintext already decrypted inside the engine and not yet returned by read. */
size_t engine_conn_pending(EngineConn *c);

/* ---- resumption (client) ---- */

/* Offers a session saved by engine_conn_export_session() (before the handshake). -EBADMSG if
 * the blob does not parse. */
int engine_conn_set_session(EngineConn *c, const void *blob, size_t size);
bool engine_conn_session_offered(EngineConn *c);
/* Whether a session ticket arrived since the last call (TLS 1.3 tickets come after the
 * handshake, with a read; the library's callback runs before the ticket's state is complete,
 * so the caller exports after the read returns). Clears the flag. */
bool engine_conn_ticket_arrived(EngineConn *c);
/* The resumable session now (malloc'd; it holds secrets: wipe and free). *lifetime_sec: the
 * ticket's lifetime (0 if unknown); *tls13: single-use ticket. -ENODATA when there is nothing
 * resumable (TLS 1.3 without a ticket yet, no ticket and no session id). */
int engine_conn_export_session(EngineConn *c, void **ret, size_t *ret_size, uint32_t *lifetime_sec,
                               bool *tls13);

typedef struct EngineInfo EngineInfo;
struct EngineInfo {
        char version[16];
        char cipher[64];
        char group[32];
        char alpn[64];
        char peer_subject[256];
        char sni[256]; /* server side: the name the client asked for */
        bool resumed;
        enum tlsc_verify_result verify;
        bool dtls;
        bool cid_in_use;
        unsigned max_message; /* DTLS: largest app message per record */
};

void engine_conn_info(EngineConn *c, EngineInfo *ret);
/* The peer's chain as concatenated PEM (malloc'd), as the peer sent it (its own certificate
 * first), else what the verification callback saw. */
int engine_conn_peer_chain_pem(EngineConn *c, char **ret, size_t *ret_size);
/* The verification result as seen during the handshake (app-decides mode lets it complete). */
enum tlsc_verify_result engine_conn_verify_result(EngineConn *c);

/* ---- DTLS ---- */

struct sockaddr;

/* Shared socket: the datagram the next receive returns (the pointer must stay valid until the
 * engine call that consumes it returns). */
void engine_conn_feed(EngineConn *c, const void *datagram, size_t size);
bool engine_conn_fed_pending(EngineConn *c);
void engine_conn_set_peer(EngineConn *c, const struct sockaddr *sa, unsigned len);

/* A listener's acceptor: one server object that answers ClientHellos from unknown peers
 * statelessly (cookie exchange). engine_dtls_accept_input() returns 1 once a peer's cookie
 * verified: the object is then that peer's handshake (the caller turns it into a connection
 * and arms a fresh acceptor); 0 when it answered or ignored the datagram; -EPROTO when the
 * object is unusable (make a new one). */
int engine_dtls_acceptor_arm(EngineConn *c);
int engine_dtls_accept_input(EngineConn *c, const void *datagram, size_t size,
                             const struct sockaddr *from, unsigned from_len);
bool engine_dtls_acceptor_promoted(EngineConn *c);

/* Which retransmission timer the association needs now. QUICK: DTLS 1.3 acknowledgements
 * (a quarter of the current timeout); RETRANSMIT: a flight is unacknowledged. */
typedef enum EngineTimer {
        ENGINE_TIMER_NONE,
        ENGINE_TIMER_QUICK,
        ENGINE_TIMER_RETRANSMIT
} EngineTimer;
EngineTimer engine_conn_dtls_timer(EngineConn *c);
/* The timer fired: retransmit the flight (retransmit) or send ACKs. < 0: fatal. */
int engine_conn_dtls_timeout(EngineConn *c, bool retransmit);
/* The largest app message one record carries (after the handshake). */
size_t engine_conn_max_message(EngineConn *c);
bool engine_conn_cid_in_use(EngineConn *c);
/* A connected socket got "port unreachable" back before any datagram from the peer: nobody
 * listens at that address. */
bool engine_conn_dgram_refused(EngineConn *c);
/* The policy allows DTLS 1.3 (Connection IDs need it in this wolfSSL). */
bool engine_ctx_dtls13_allowed(EngineCtx *c);
