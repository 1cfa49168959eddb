/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session tickets, wolfSSL side: the server's ticket-encryption callback over the keys an
 * EngineTicketKeys hands out (tlsd's TicketKeys, see engine-ticket.h).
 *
 * wolfSSL frames a ticket as key_name[16] iv[16] enc_len[2] encrypted-state mac[32] and hands
 * the callback the pieces. We encrypt with ChaCha20-Poly1305 under the key that key_name names,
 * authenticating key_name, iv, the owner uid and the policy hash of the handshake as AAD; the
 * AEAD tag fills the first half of mac. Whether a decrypted ticket is OK, rejected or reissued
 * is decided here, from the key's age and the protocol version (see engine-ticket.h and
 * WOLFSSL-NOTES.md, "Resumption").
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <string.h>

#include "engine/engine-crypto.h"
#include "engine/engine-ticket.h"
#include "util/log.h"

_Static_assert(ENGINE_TICKET_NAME_SIZE == WOLFSSL_TICKET_NAME_SZ, "ticket name size");
_Static_assert(ENGINE_TICKET_IV_SIZE == WOLFSSL_TICKET_IV_SZ, "ticket iv size");
_Static_assert(ENGINE_TICKET_MAC_SIZE == WOLFSSL_TICKET_MAC_SZ, "ticket mac size");
_Static_assert(ENGINE_TICKET_KEY_SIZE == CHACHA20_POLY1305_AEAD_KEYSIZE, "key size");
_Static_assert(CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE <= WOLFSSL_TICKET_MAC_SZ, "tag size");
_Static_assert(CHACHA20_POLY1305_AEAD_IV_SIZE <= WOLFSSL_TICKET_IV_SZ, "nonce size");

#define TAG_SIZE CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE
/* key_name || iv || uid (big-endian) || policy hash */
#define AAD_SIZE (WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 4 + ENGINE_TICKET_POLICY_SIZE)

/* The associated data: what a ticket is for besides its key and iv. */
static void ticket_aad(const EngineTicketBinding *b, const uint8_t *policy,
                       const unsigned char *key_name, const unsigned char *iv,
                       uint8_t aad[AAD_SIZE]) {
        uint8_t *p = aad;

        memcpy(p, key_name, WOLFSSL_TICKET_NAME_SZ);
        p += WOLFSSL_TICKET_NAME_SZ;
        memcpy(p, iv, WOLFSSL_TICKET_IV_SZ);
        p += WOLFSSL_TICKET_IV_SZ;
        *p++ = (uint8_t) (b->uid >> 24);
        *p++ = (uint8_t) (b->uid >> 16);
        *p++ = (uint8_t) (b->uid >> 8);
        *p++ = (uint8_t) b->uid;
        memcpy(p, policy, ENGINE_TICKET_POLICY_SIZE);
}

static int ticket_encrypt(const EngineTicketBinding *b, const uint8_t *policy,
                          unsigned char *key_name, unsigned char *iv, unsigned char *mac,
                          unsigned char *ticket, int len, uint64_t now) {
        uint8_t aad[AAD_SIZE];
        EngineTicketKey key;
        int r;

        (void) b->keys->current(b->keys->userdata, now, &key);
        r = engine_random(iv, WOLFSSL_TICKET_IV_SZ);
        if (r >= 0) {
                memcpy(key_name, key.name, WOLFSSL_TICKET_NAME_SZ);
                ticket_aad(b, policy, key_name, iv, aad);
                /* Nonce: the first 12 bytes of the random iv (the rest is covered by the AAD).
                 * Random 96-bit nonces are safe for far more tickets than a key lives for. */
                if (wc_ChaCha20Poly1305_Encrypt(key.key, iv, aad, sizeof(aad), ticket, (word32) len,
                                                ticket, mac) != 0)
                        r = -EIO;
                /* mac is 32 bytes, sized for an HMAC-SHA256; the AEAD tag takes 16. */
                memset(mac + TAG_SIZE, 0, WOLFSSL_TICKET_MAC_SZ - TAG_SIZE);
        }
        explicit_bzero(&key, sizeof(key));
        return r;
}

/* 0 and *is_current, or -ENOENT (unknown or expired key), -EBADMSG (not authentic: forged,
 * damaged, or issued for another owner or policy). */
static int ticket_decrypt(const EngineTicketBinding *b, const uint8_t *policy,
                          const unsigned char *key_name, const unsigned char *iv,
                          const unsigned char *mac, unsigned char *ticket, int len, uint64_t now,
                          bool *is_current) {
        static const uint8_t zeros[WOLFSSL_TICKET_MAC_SZ - TAG_SIZE];
        uint8_t aad[AAD_SIZE];
        EngineTicketKey key;
        int r;

        r = b->keys->find(b->keys->userdata, key_name, now, &key, is_current);
        if (r < 0)
                return r;
        ticket_aad(b, policy, key_name, iv, aad);
        if (memcmp(mac + TAG_SIZE, zeros, sizeof(zeros)) != 0 ||
            wc_ChaCha20Poly1305_Decrypt(key.key, iv, aad, sizeof(aad), ticket, (word32) len, mac,
                                        ticket) != 0) {
                /* Decryption ran in place before the tag check failed: leave no plaintext of a
                 * forged or damaged ticket behind. */
                explicit_bzero(ticket, (size_t) len);
                r = -EBADMSG;
        }
        explicit_bzero(&key, sizeof(key));
        return r;
}

int engine_ticket_enc_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                         unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                         unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                         int in_len, int *out_len, void *ctx) {
        const EngineTicketBinding *b = ctx;
        const uint8_t *policy = NULL;
        bool is_current = false;
        uint64_t now;
        int r, v;

        /* The policy of this handshake, not the session's now (see engine-ticket.h). */
        if (b && b->policy)
                policy = b->handshake_policy ? b->handshake_policy(ssl) : b->policy;
        if (!b || !b->keys || !policy || !ticket || in_len <= 0 || !out_len)
                return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
        now = b->keys->now(b->keys->userdata);

        if (enc) {
                r = ticket_encrypt(b, policy, key_name, iv, mac, ticket, in_len, now);
                if (r < 0) {
                        log_debug_errno(r, "Cannot encrypt a session ticket: %m");
                        return WOLFSSL_TICKET_RET_FATAL;
                }
                *out_len = in_len; /* an AEAD in place: no padding */
                return WOLFSSL_TICKET_RET_OK;
        }

        if (b->refuse) {
                /* Checked before anything is decrypted: the ticket would skip client
                 * authentication. */
                log_debug("Session ticket offered to a server that asks for client "
                          "certificates: full handshake");
                return WOLFSSL_TICKET_RET_REJECT;
        }
        r = ticket_decrypt(b, policy, key_name, iv, mac, ticket, in_len, now, &is_current);
        if (r < 0) {
                log_debug("Session ticket %s: full handshake",
                          r == -ENOENT ? "under an unknown or expired key"
                                       : "not authentic, or for another owner or policy");
                return WOLFSSL_TICKET_RET_REJECT;
        }
        *out_len = in_len;
        if (is_current)
                return WOLFSSL_TICKET_RET_OK;
        /* A previous key within grace. TLS 1.2: resume and reissue under the current key.
         * (D)TLS 1.3: RET_CREATE would force a full handshake (wolfSSL >= 5.7.2), and the
         * server sends new tickets after the handshake anyway. */
        v = wolfSSL_version(ssl);
        return v == TLS1_3_VERSION || v == DTLS1_3_VERSION ? WOLFSSL_TICKET_RET_OK
                                                           : WOLFSSL_TICKET_RET_CREATE;
}

/* The callback's type is wolfSSL's, whatever the header had to spell it as. */
_unused_ static const SessionTicketEncCb enc_cb_type_check = engine_ticket_enc_cb;

int engine_ticket_server_setup(WOLFSSL_CTX *ctx, EngineTicketBinding *b) {
        if (!b || !b->keys || !b->policy)
                return -EINVAL;
        if (wolfSSL_CTX_set_TicketEncCb(ctx, engine_ticket_enc_cb) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_TicketEncCtx(ctx, b) != WOLFSSL_SUCCESS)
                return -EIO;
        return 0;
}
