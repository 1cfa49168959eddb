/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wolfSSL side of session tickets: the server's ticket-encryption callback, and the
 * interface it takes its keys through (EngineTicketKeys: tickets/ticket-keys.c fills it in, so
 * the engine needs nothing of the tickets). The header stays free of
 * wolfSSL includes so that ticket-keys.c and the core can use it; the callback's
 * signature matches wolfSSL's SessionTicketEncCb (checked at compile time in engine-ticket.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct WOLFSSL;
struct WOLFSSL_CTX;

/* Sizes of wolfSSL's ExternalTicket fields (WOLFSSL_TICKET_NAME_SZ, _IV_SZ, _MAC_SZ). */
#define ENGINE_TICKET_NAME_SIZE 16
#define ENGINE_TICKET_IV_SIZE 16
#define ENGINE_TICKET_MAC_SIZE 32
#define ENGINE_TICKET_KEY_SIZE 32 /* ChaCha20-Poly1305 */

typedef struct EngineTicketKey {
        uint8_t name[ENGINE_TICKET_NAME_SIZE]; /* selects the key for a ticket */
        uint8_t key[ENGINE_TICKET_KEY_SIZE];
} EngineTicketKey;

/* The callback's keys. It runs on whatever thread drives the handshake: thread-safe copies. */
typedef struct EngineTicketKeys {
        void *userdata;
        uint64_t (*now)(void *userdata); /* CLOCK_REALTIME usec, or a test's clock */
        /* The key for new tickets (rotated first when due). */
        int (*current)(void *userdata, uint64_t now, EngineTicketKey *ret);
        /* A still valid key by name, or -ENOENT. */
        int (*find)(void *userdata, const uint8_t name[ENGINE_TICKET_NAME_SIZE], uint64_t now,
                    EngineTicketKey *ret, bool *ret_is_current);
} EngineTicketKeys;

/* The size of a session's policy hash (session.h), which tickets are bound to. */
#define ENGINE_TICKET_POLICY_SIZE 32

/* What a server's tickets are bound to: the daemon's keys are shared by every listener, the
 * tickets are not. Each ticket authenticates the owner uid and the policy hash of the session
 * that issued it as it stood when the handshake began, so it resumes only under the same owner
 * and the same server policy (identities, client-certificate mode, client CAs, ALPN, versions,
 * suites...); any other session, or the same one after a Configure, fails the authentication
 * and makes a full handshake.
 *
 * refuse: the server asks for client certificates. A ticket carries no verified client
 * identity (wolfSSL keeps no peer certificate in it), so resuming would skip client
 * authentication: such a server accepts no ticket (and issues none, see engine_conn_new). */
typedef struct EngineTicketBinding {
        const EngineTicketKeys *keys;
        uint32_t uid;
        /* ENGINE_TICKET_POLICY_SIZE bytes: the session's running policy hash. */
        const uint8_t *policy;
        /* The policy hash of the handshake a ticket is issued or offered in: the association's
         * copy of *policy, taken when the association was created (engine_conn_new). A
         * Configure that lands during a handshake (TLS 1.2 and 1.3 tickets are issued at its
         * end) binds neither the tickets it issues nor the ones it accepts to the new policy;
         * the next handshake has the new one. NULL when an association has no copy (none that
         * tlsd made): no ticket is accepted, and the handshake fails rather than issue one.
         * Unset (the unit tests' bare library objects): *policy. */
        const uint8_t *(*handshake_policy)(struct WOLFSSL *ssl);
        bool refuse;
} EngineTicketBinding;

/* wolfSSL_CTX_set_TicketEncCb callback; ctx is the EngineTicketBinding (see
 * engine_ticket_server_setup).
 *
 * Encrypt (enc=1): key_name = the current key's name, iv = 16 random bytes, the ticket is
 * encrypted in place with ChaCha20-Poly1305 (nonce = iv[0..12), AAD = key_name || iv || uid
 * (4 bytes, big-endian) || policy hash), and the 16-byte tag goes to mac[0..16); mac[16..32) is
 * zero, because wolfSSL's mac field is 32 bytes (sized for an HMAC-SHA256) and an AEAD tag is
 * 16.
 *
 * Decrypt (enc=0): the key is chosen by name, the AAD built from this server's binding. An
 * unknown name, a key past its grace period, a failed authentication (another owner, another
 * policy, a forged or damaged ticket), non-zero mac padding, or a binding that refuses
 * tickets: WOLFSSL_TICKET_RET_REJECT (full handshake).
 * The current key: WOLFSSL_TICKET_RET_OK. A previous key within grace: TLS 1.2 gets
 * WOLFSSL_TICKET_RET_CREATE (resume and reissue under the current key); TLS 1.3 gets
 * WOLFSSL_TICKET_RET_OK, because since wolfSSL 5.7.2 RET_CREATE makes a 1.3 server fall back to
 * a full handshake (1.3 sends fresh tickets after every handshake anyway).
 *
 * Rotation happens inside (keys->current()); the daemon saves the keys when they changed, since
 * a callback cannot do file I/O. */
int engine_ticket_enc_cb(struct WOLFSSL *ssl, unsigned char key_name[ENGINE_TICKET_NAME_SIZE],
                         unsigned char iv[ENGINE_TICKET_IV_SIZE],
                         unsigned char mac[ENGINE_TICKET_MAC_SIZE], int enc, unsigned char *ticket,
                         int in_len, int *out_len, void *ctx);

/* Makes a server WOLFSSL_CTX issue and accept tickets bound by b (which must outlive ctx). */
int engine_ticket_server_setup(struct WOLFSSL_CTX *ctx, EngineTicketBinding *b);
