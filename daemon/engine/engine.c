/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wolfSSL glue: policies (WOLFSSL_CTX), associations (WOLFSSL) on non-blocking sockets,
 * certificate verification and the mapping of wolfSSL outcomes to tlsd errors.
 *
 * Global library state (wolfSSL_Init) is process-wide by wolfSSL's design; main() sets it up
 * once before anything else and tears it down last.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine-ciphers.h"
#include "engine/engine-internal.h"
#include "engine/engine-ticket.h"
#include "util/error-message.h"
#include "util/log.h"

static void engine_log(const int level, const char *msg) {
        /* wolfSSL's debug output, when its debugging is compiled in, joins our log at debug. */
        log_debug("wolfSSL: %s", msg);
}

int engine_global_init(void) {
        if (wolfSSL_Init() != WOLFSSL_SUCCESS)
                return -EIO;
        (void) wolfSSL_SetLoggingCb(engine_log);
        return 0;
}

void engine_global_done(void) {
        (void) wolfSSL_Cleanup();
}

const char *engine_library_version(void) {
        static char buf[32];

        if (!buf[0])
                (void) snprintf(buf, sizeof(buf), "wolfSSL %s", wolfSSL_lib_version());
        return buf;
}

void engine_features(EngineFeatures *ret) {
        *ret = (EngineFeatures){
#ifdef WOLFSSL_AESNI
                .aesni = true,
#endif
#ifdef WOLFSSL_DTLS13
                .dtls13 = true,
#endif
#ifdef WOLFSSL_DTLS_CID
                .dtls_cid = true,
#endif
#ifdef ENGINE_HAVE_X25519MLKEM768
                .pq_hybrid = true,
#endif
        };
}

/* An external PSK has no hash of its own: SHA-256 unless agreed otherwise (RFC 9258), which is
 * what OpenSSL and GnuTLS assume. So TLS 1.3 offers it with the first SHA-256 suite of the list
 * (wolfSSL syntax), else the first TLS 1.3 suite, else wolfSSL's default. */
static void pick_psk13_suite(EngineCtx *c, const char *list) {
        _cleanup_free_ char *copy = strdup(list);
        const char *first = NULL, *sha256 = NULL;
        char *save = NULL;

        if (copy)
                for (char *s = strtok_r(copy, ":", &save); s && !sha256;
                     s = strtok_r(NULL, ":", &save)) {
                        size_t n = strlen(s);

                        if (strncmp(s, "TLS13-", 6) != 0)
                                continue;
                        if (!first)
                                first = s;
                        if (n > 7 && strcmp(s + n - 7, "-SHA256") == 0)
                                sha256 = s;
                }
        (void) snprintf(c->psk13_suite, sizeof(c->psk13_suite), "%s",
                        sha256  ? sha256
                        : first ? first
                                : "TLS13-AES128-GCM-SHA256");
}

/* ---- policy ---- */

static int choose_identity(WOLFSSL *ssl, void *arg);
static int choose_alpn(WOLFSSL *ssl, int *alert, void *arg);
static int ctx_set_groups(EngineCtx *c, const char *list, char *error);

/* DTLS picks its versions by method: 1.3 with downgrade, or one of them only. */
static WOLFSSL_METHOD *method_for(EngineCtx *c) {
        bool client = c->role == ENGINE_CLIENT;

        if (!c->dtls)
                return client ? wolfSSLv23_client_method() : wolfSSLv23_server_method();
        if (c->dtls_max == 0x0303)
                return client ? wolfDTLSv1_2_client_method() : wolfDTLSv1_2_server_method();
        if (c->dtls_min == 0x0304)
                return client ? wolfDTLSv1_3_client_method() : wolfDTLSv1_3_server_method();
        return client ? wolfDTLS_client_method() : wolfDTLS_server_method();
}

/* A fresh WOLFSSL_CTX for c's role, transport and versions, with tlsd's defaults. */
static int ctx_setup(EngineCtx *c) {
        const char *ciphers =
                c->dtls ? engine_default_dtls_cipher_list() : engine_default_cipher_list();
        int r;

        c->ctx = wolfSSL_CTX_new(method_for(c));
        if (!c->ctx)
                return -ENOMEM;
        /* Secure defaults: (D)TLS 1.2 and 1.3, AEAD suites with (EC)DHE, strict verification. */
        if (wolfSSL_CTX_SetMinVersion(c->ctx, c->dtls ? WOLFSSL_DTLSV1_2 : WOLFSSL_TLSV1_2) !=
                    WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_cipher_list(c->ctx, ciphers) != WOLFSSL_SUCCESS)
                return -EIO;
        pick_psk13_suite(c, ciphers);
        r = ctx_set_groups(c, engine_default_groups(), NULL);
        if (r < 0)
                return r;
        /* Peers' keys below the floors (or the policy's own, higher, minimums) fail
         * verification; so does loading such a key of our own. */
        if (wolfSSL_CTX_SetMinRsaKey_Sz(c->ctx, (short) c->min_rsa_bits) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_SetMinEccKey_Sz(c->ctx, (short) c->min_ecc_bits) != WOLFSSL_SUCCESS)
                return -EIO;
#ifdef HAVE_SERVER_RENEGOTIATION_INFO
        /* RFC 5746: a client signals secure renegotiation (the renegotiation_info extension),
         * or servers that insist on it refuse the handshake. */
        if (c->role == ENGINE_CLIENT &&
            wolfSSL_CTX_UseSecureRenegotiation(c->ctx) != WOLFSSL_SUCCESS)
                return -EIO;
#endif
        /* A flight in as few TCP sends as possible (DTLS packs records into datagrams by the
         * MTU itself). */
        if (!c->dtls)
                (void) wolfSSL_CTX_set_group_messages(c->ctx);
        if (c->role == ENGINE_SERVER) {
                /* No stateful resumption: wolfSSL's session cache is one per process, looked up
                 * by session ID alone (TLS 1.2 IDs, and 32-byte TLS 1.3 PSK identities even in
                 * a context whose cache is off), so one uid's session resumed at another's
                 * listener, and it records no binding to owner or policy. With every server
                 * context's cache off no server session is ever stored, and resumption is by
                 * tickets only. */
                (void) wolfSSL_CTX_set_session_cache_mode(c->ctx, WOLFSSL_SESS_CACHE_OFF);
#ifdef WOLFSSL_EARLY_DATA
                /* 0-RTT data is replayable and would reach the app before the client's
                 * Finished: never accepted (also wolfSSL's default; the call fails harmlessly
                 * on a context without TLS 1.3). A build with early data skips what a client
                 * sends anyway, as RFC 8446 4.2.10 asks. */
                (void) wolfSSL_CTX_set_max_early_data(c->ctx, 0);
#endif
                /* Tickets only under tlsd's keys (shared, rotated, persisted), bound to owner
                 * and policy: wolfSSL's own key would be random per process and per context. */
                if (c->ticket.keys) {
                        r = engine_ticket_server_setup(c->ctx, &c->ticket);
                        if (r < 0)
                                return r;
                } else {
                        (void) wolfSSL_CTX_NoTicketTLSv12(c->ctx);
                        (void) wolfSSL_CTX_no_ticket_TLSv13(c->ctx);
                }
        }
        c->verify_mode = c->role == ENGINE_CLIENT ? WOLFSSL_VERIFY_PEER : WOLFSSL_VERIFY_NONE;
        if (c->role == ENGINE_CLIENT)
                wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
        else {
                /* Servers ask for client certificates only when configured to. */
                wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_NONE, NULL);
                wolfSSL_CTX_set_cert_cb(c->ctx, choose_identity, c);
                /* Keep the client's SNI (for identity choice and the Accepted event) whatever
                 * name it asks for: names are matched against our certificates, not here. */
                if (wolfSSL_CTX_UseSNI(c->ctx, WOLFSSL_SNI_HOST_NAME, "", 0) != WOLFSSL_SUCCESS)
                        return -EIO;
                wolfSSL_CTX_SNI_SetOptions(c->ctx, WOLFSSL_SNI_HOST_NAME,
                                           WOLFSSL_SNI_CONTINUE_ON_MISMATCH |
                                                   WOLFSSL_SNI_ANSWER_ON_MISMATCH);
                /* wolfSSL runs this once the ClientHello's extensions are parsed, before it
                 * selects the ALPN protocol: where the server's preference is applied. */
                wolfSSL_CTX_set_servername_callback(c->ctx, choose_alpn);
        }
        return 0;
}

int engine_ctx_new(EngineRole role, EngineTransport transport, EngineSystemTrust *system_trust,
                   EngineCtx **ret) {
        EngineCtx *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->role = role;
        c->system_trust = system_trust;
        c->dtls = transport == ENGINE_DTLS;
        c->dtls_min = 0x0303;
        c->dtls_max = 0x0304;
        c->min_rsa_bits = ENGINE_MIN_RSA_BITS;
        c->min_ecc_bits = ENGINE_MIN_ECC_BITS;
        r = ctx_setup(c);
        if (r < 0) {
                engine_ctx_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static EngineIdentity *identity_free(EngineIdentity *id) {
        if (!id)
                return NULL;
        wolfSSL_X509_free(id->leaf);
        free(id->chain);
        if (id->key) {
                explicit_bzero(id->key, id->key_size);
                free(id->key);
        }
        free(id);
        return NULL;
}

EngineCtx *engine_ctx_free(EngineCtx *c) {
        if (!c)
                return NULL;
        wolfSSL_CTX_free(c->ctx);
        while (c->identities) {
                EngineIdentity *n = c->identities->next;

                identity_free(c->identities);
                c->identities = n;
        }
        free(c->psk_identity);
        if (c->psk_key) {
                explicit_bzero(c->psk_key, c->psk_key_size);
                free(c->psk_key);
        }
        free(c);
        return NULL;
}

/* The ticket callback's policy: the association's copy (how the callbacks find their object:
 * see engine_conn_new). */
static const uint8_t *conn_ticket_policy(WOLFSSL *ssl) {
        EngineConn *c = wolfSSL_get_psk_callback_ctx(ssl);

        return c && c->has_ticket_policy ? c->ticket_policy : NULL;
}

int engine_ctx_set_ticket_keys(EngineCtx *c, const EngineTicketKeys *keys, uint32_t uid,
                               const uint8_t *policy) {
        if (c->role != ENGINE_SERVER)
                return 0;
        if (keys && !policy)
                return -EINVAL;
        if (c->configured)
                return -EBUSY;
        c->ticket.keys = keys;
        c->ticket.uid = uid;
        c->ticket.policy = policy;
        c->ticket.handshake_policy = conn_ticket_policy;
        wolfSSL_CTX_free(c->ctx);
        c->ctx = NULL;
        return ctx_setup(c);
}

bool engine_ctx_is_dtls(EngineCtx *c) {
        return c->dtls;
}

/* DTLS 1.2 = 0xfefd, DTLS 1.3 = 0xfefc: the TLS code of the same generation. */
static unsigned dtls_generation(unsigned v) {
        switch (v) {
        case 0xfefd:
                return 0x0303;
        case 0xfefc:
                return 0x0304;
        case 0xfeff:
                return 0x0302; /* DTLS 1.0 */
        default:
                return v;
        }
}

bool engine_dtls13_in_range(unsigned max) {
        return dtls_generation(max) == 0x0304;
}

int engine_ctx_check_versions(EngineCtx *c, unsigned min, unsigned max, char *error) {
        if (c->dtls) {
                min = dtls_generation(min);
                max = dtls_generation(max);
                if (min < 0x0303 || max < 0x0303) {
                        error_message_set(error, "DTLS 1.0 is refused: it lacks modern AEAD suites "
                                                 "and has known attacks");
                        return -EPROTONOSUPPORT;
                }
                if (min > 0x0304 || max > 0x0304 || min > max) {
                        error_message_set(error, "invalid DTLS version range (DTLS 1.2 = 0xfefd, "
                                                 "DTLS 1.3 = 0xfefc)");
                        return -EINVAL;
                }
                /* The range is the WOLFSSL_CTX's method: it takes a new one, which is only
                 * possible before anything else was loaded into the old. */
                if ((min != c->dtls_min || max != c->dtls_max) && c->configured) {
                        error_message_set(error, "DTLS versions are set when the session is "
                                                 "created");
                        return -EBUSY;
                }
                return 0;
        }
        if (min < 0x0303 || max < 0x0303) {
                error_message_set(error,
                                  "TLS versions before 1.2 are refused: they lack modern AEAD "
                                  "suites and have known attacks");
                return -EPROTONOSUPPORT;
        }
        if (min > 0x0304 || max > 0x0304 || min > max) {
                error_message_set(error,
                                  "invalid version range 0x%04x..0x%04x (TLS 1.2 = 0x0303, "
                                  "TLS 1.3 = 0x0304)",
                                  min, max);
                return -EINVAL;
        }
        return 0;
}

int engine_ctx_set_versions(EngineCtx *c, unsigned min, unsigned max, char *error) {
        int r = engine_ctx_check_versions(c, min, max, error);

        if (r < 0)
                return r;
        if (c->dtls) {
                min = dtls_generation(min);
                max = dtls_generation(max);
                if (min == c->dtls_min && max == c->dtls_max)
                        return 0;
                c->dtls_min = min;
                c->dtls_max = max;
                wolfSSL_CTX_free(c->ctx);
                c->ctx = NULL;
                return ctx_setup(c);
        }
        if (wolfSSL_CTX_set_min_proto_version(c->ctx, (int) min) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_max_proto_version(c->ctx, (int) max) != WOLFSSL_SUCCESS) {
                error_message_set(error, "the TLS library refused the version range");
                return -EINVAL;
        }
        return 0;
}

/* A context of c's transport that nothing is loaded into, to try a setting on. */
static WOLFSSL_CTX *scratch_ctx(EngineCtx *c) {
        return wolfSSL_CTX_new(c->dtls ? wolfDTLS_client_method() : wolfSSLv23_client_method());
}

/* Sets the suites in ctx; the library's names in *ret_wolf. */
static int ciphers_into(WOLFSSL_CTX *ctx, const char *list, bool legacy, char **ret_wolf,
                        char *error) {
        _cleanup_free_ char *wolf = NULL;
        int r;

        r = engine_ciphers_translate(list, legacy, &wolf, error);
        if (r < 0)
                return r;
        if (wolfSSL_CTX_set_cipher_list(ctx, wolf) != WOLFSSL_SUCCESS) {
                error_message_set(error, "the TLS library refused cipher list '%s'", wolf);
                return -EINVAL;
        }
        if (ret_wolf)
                *ret_wolf = TAKE_PTR(wolf);
        return 0;
}

int engine_ctx_check_ciphers(EngineCtx *c, const char *list, bool legacy, char *error) {
        WOLFSSL_CTX *scratch = scratch_ctx(c);
        int r;

        if (!scratch)
                return -ENOMEM;
        r = ciphers_into(scratch, list, legacy, NULL, error);
        wolfSSL_CTX_free(scratch);
        return r;
}

int engine_ctx_set_ciphers(EngineCtx *c, const char *list, bool legacy, char *error) {
        _cleanup_free_ char *wolf = NULL;
        int r;

        c->configured = true;

        r = ciphers_into(c->ctx, list, legacy, &wolf, error);
        if (r < 0)
                return r;
        pick_psk13_suite(c, wolf);
        return 0;
}

/* The key-exchange groups a policy can name: tlsd's name, an alias (the IANA name where it
 * differs), the name wolfSSL_CTX_set1_groups_list() takes, the code point, and whether it is
 * a post-quantum hybrid (whose peers may lack it). */
typedef struct EngineGroup {
        const char *name, *alias, *wolf;
        uint16_t id;
        bool hybrid;
} EngineGroup;

static const EngineGroup engine_groups[] = {
#ifdef ENGINE_HAVE_X25519MLKEM768
        { "X25519MLKEM768", "x25519mlkem768", "X25519MLKEM768", WOLFSSL_X25519MLKEM768, true },
        { "SecP256r1MLKEM768", "secp256r1mlkem768", "SecP256r1MLKEM768", WOLFSSL_SECP256R1MLKEM768,
          true },
        { "SecP384r1MLKEM1024", "secp384r1mlkem1024", "SecP384r1MLKEM1024",
          WOLFSSL_SECP384R1MLKEM1024, true },
#endif
        { "X25519", "x25519", "X25519", WOLFSSL_ECC_X25519, false },
        { "P-256", "secp256r1", "P-256", WOLFSSL_ECC_SECP256R1, false },
        { "P-384", "secp384r1", "P-384", WOLFSSL_ECC_SECP384R1, false },
        { "P-521", "secp521r1", "P-521", WOLFSSL_ECC_SECP521R1, false },
#ifdef HAVE_CURVE448
        { "X448", "x448", "X448", WOLFSSL_ECC_X448, false },
#endif
};

const char *engine_default_groups(void) {
#ifdef ENGINE_HAVE_X25519MLKEM768
        return "X25519MLKEM768:X25519:P-256:P-384:P-521";
#else
        return "X25519:P-256:P-384:P-521";
#endif
}

/* Sets the groups (the library's list and preference) in ctx and, when key_shares is given, the
 * key shares a client sends: for the first group, and when that is a hybrid also for the first
 * classical group after it, so that a peer without the hybrid picks that one instead of asking
 * again (HRR). */
static int groups_into(WOLFSSL_CTX *ctx, const char *list, uint16_t key_shares[2],
                       unsigned *n_key_shares, char *error) {
        _cleanup_free_ char *copy = strdup(list), *out = NULL;
        const EngineGroup *first = NULL, *classical = NULL;
        size_t n = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        out = calloc(1, strlen(list) * 2 + 16);
        if (!out)
                return -ENOMEM;
        for (char *g = strtok_r(copy, ":, ", &save); g; g = strtok_r(NULL, ":, ", &save)) {
                const EngineGroup *e = NULL;

                for (size_t i = 0; i < ELEMENTSOF(engine_groups); i++)
                        if (strcasecmp(g, engine_groups[i].name) == 0 ||
                            strcasecmp(g, engine_groups[i].alias) == 0)
                                e = &engine_groups[i];
                if (!e) {
                        char known[160] = "";

                        for (size_t i = 0; i < ELEMENTSOF(engine_groups); i++)
                                (void) snprintf(known + strlen(known),
                                                sizeof(known) - strlen(known), "%s%s",
                                                i ? ", " : "", engine_groups[i].name);
                        error_message_set(error,
                                          "unknown or unsupported key-exchange group '%s' "
                                          "(supported: %s)",
                                          g, known);
                        return -EINVAL;
                }
                if (!first)
                        first = e;
                else if (first->hybrid && !e->hybrid && !classical)
                        classical = e;
                if (n++)
                        strcat(out, ":");
                strcat(out, e->wolf);
        }
        if (n == 0) {
                error_message_set(error, "empty group list");
                return -EINVAL;
        }
        if (wolfSSL_CTX_set1_groups_list(ctx, out) != WOLFSSL_SUCCESS) {
                error_message_set(error, "the TLS library refused group list '%s'", out);
                return -EINVAL;
        }
        if (key_shares) {
                key_shares[0] = first->id;
                *n_key_shares = 1;
                if (classical)
                        key_shares[(*n_key_shares)++] = classical->id;
        }
        return 0;
}

static int ctx_set_groups(EngineCtx *c, const char *list, char *error) {
        return groups_into(c->ctx, list, c->key_shares, &c->n_key_shares, error);
}

/* The IANA name (TLS Supported Groups registry) of the group wolfSSL names. */
static const char *group_iana_name(const char *wolf) {
        static const struct {
                const char *wolf, *iana;
        } names[] = {
                { "SECP256R1", "secp256r1" },
                { "SECP384R1", "secp384r1" },
                { "SECP521R1", "secp521r1" },
                { "X25519", "x25519" },
                { "X448", "x448" },
                { "FFDHE_2048", "ffdhe2048" },
                { "FFDHE_3072", "ffdhe3072" },
                { "FFDHE_4096", "ffdhe4096" },
                { "FFDHE_6144", "ffdhe6144" },
                { "FFDHE_8192", "ffdhe8192" },
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(wolf, names[i].wolf) == 0)
                        return names[i].iana;
        return wolf; /* the hybrids: wolfSSL already uses their IANA names */
}

int engine_ctx_set_min_key_bits(EngineCtx *c, unsigned rsa_bits, unsigned ecc_bits, char *error) {
        if (rsa_bits < ENGINE_MIN_RSA_BITS || ecc_bits < ENGINE_MIN_ECC_BITS) {
                error_message_set(error,
                                  "minimum key sizes can only be raised (RSA >= %u, "
                                  "ECC >= %u bits)",
                                  ENGINE_MIN_RSA_BITS, ENGINE_MIN_ECC_BITS);
                return -EINVAL;
        }
        if (rsa_bits > 16384 || ecc_bits > 521) {
                error_message_set(error, "minimum key sizes above RSA 16384 or ECC 521 bits "
                                         "would refuse every key");
                return -EINVAL;
        }
        c->min_rsa_bits = rsa_bits;
        c->min_ecc_bits = ecc_bits;
        if (wolfSSL_CTX_SetMinRsaKey_Sz(c->ctx, (short) rsa_bits) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_SetMinEccKey_Sz(c->ctx, (short) ecc_bits) != WOLFSSL_SUCCESS) {
                error_message_set(error, "the TLS library refused the minimum key sizes");
                return -EINVAL;
        }
        return 0;
}

/* wolfSSL does not clear all of its stack temporaries: a private EC scalar (as the digits of a
 * big number) was found in tlsd's stack after its session, its listener and its client were
 * long gone. So the stack below the caller is overwritten after each wolfSSL call that may use
 * a private key (loading one, a handshake step). wolfSSL went 42 KiB deep below the caller at
 * most when measured (an RSA-4096 server handshake, ASan build); 128 KiB leaves room. Clearing
 * it costs a few microseconds, against the hundreds of a handshake. */
#define STACK_SCRUB_BYTES (128u * 1024u)

static __attribute__((noinline)) void scrub_stack(void) {
        uint8_t area[STACK_SCRUB_BYTES];

        explicit_bzero(area, sizeof(area));
        __asm__ __volatile__("" : : "r"(area) : "memory"); /* area is used: keep it */
}

int engine_ctx_check_groups(EngineCtx *c, const char *list, char *error) {
        WOLFSSL_CTX *scratch = scratch_ctx(c);
        int r;

        if (!scratch)
                return -ENOMEM;
        r = groups_into(scratch, list, NULL, NULL, error);
        wolfSSL_CTX_free(scratch);
        return r;
}

int engine_ctx_set_groups(EngineCtx *c, const char *list, char *error) {
        c->configured = true;
        return ctx_set_groups(c, list, error);
}

/* Whether the certificate's key is below the policy's minimum: RSA and EC keys (Ed25519 and
 * Ed448 are large enough for any ECC minimum tlsd accepts). Describes it in why. */
static bool key_too_small(const EngineCtx *c, WOLFSSL_X509 *cert, char *why, size_t why_size) {
        WOLFSSL_EVP_PKEY *pk = cert ? wolfSSL_X509_get_pubkey(cert) : NULL;
        int type, bits;
        bool weak = false;

        if (!pk)
                return false;
        type = wolfSSL_EVP_PKEY_base_id(pk);
        bits = wolfSSL_EVP_PKEY_bits(pk);
        if (type == EVP_PKEY_RSA && bits < (int) c->min_rsa_bits) {
                (void) snprintf(why, why_size,
                                "an RSA key of %d bits, below the minimum of %u bits", bits,
                                c->min_rsa_bits);
                weak = true;
        } else if (type == EVP_PKEY_EC && bits < (int) c->min_ecc_bits) {
                (void) snprintf(why, why_size,
                                "an ECC key of %d bits, below the minimum of %u bits", bits,
                                c->min_ecc_bits);
                weak = true;
        }
        wolfSSL_EVP_PKEY_free(pk);
        return weak;
}

static bool looks_pem(const void *data, size_t size) {
        return size >= 11 && memmem(data, size, "-----BEGIN ", 11) != NULL;
}

bool engine_looks_pem(const void *data, size_t size) {
        return looks_pem(data, size);
}

static int password_cb(char *buf, int size, int rwflag, void *userdata) {
        const char *pw = userdata;
        size_t n;

        if (!pw)
                return 0;
        n = strlen(pw);
        if ((int) n >= size)
                return 0;
        memcpy(buf, pw, n);
        return (int) n;
}

static int load_identity_into_ctx(WOLFSSL_CTX *ctx, const void *cert, size_t cert_size,
                                  const void *key, size_t key_size, const char *password,
                                  char *error) {
        int fmt, r;

        fmt = looks_pem(cert, cert_size) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
        if (fmt == WOLFSSL_FILETYPE_PEM)
                r = wolfSSL_CTX_use_certificate_chain_buffer_format(ctx, cert, (long) cert_size,
                                                                    fmt);
        else
                r = wolfSSL_CTX_use_certificate_buffer(ctx, cert, (long) cert_size, fmt);
        if (r != WOLFSSL_SUCCESS) {
                error_message_set(error, "certificate is not valid %s",
                                  fmt == WOLFSSL_FILETYPE_PEM ? "PEM" : "DER");
                return -EKEYEXPIRED;
        }

        fmt = looks_pem(key, key_size) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
        wolfSSL_CTX_set_default_passwd_cb(ctx, password_cb);
        wolfSSL_CTX_set_default_passwd_cb_userdata(ctx, (void *) password);
        r = wolfSSL_CTX_use_PrivateKey_buffer(ctx, key, (long) key_size, fmt);
        wolfSSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
        wolfSSL_CTX_set_default_passwd_cb(ctx, NULL);
        if (r != WOLFSSL_SUCCESS) {
                bool encrypted = memmem(key, key_size, "ENCRYPTED", 9) != NULL ||
                                 memmem(key, key_size, "Proc-Type: 4,ENCRYPTED", 22) != NULL;

                if (encrypted && !password)
                        error_message_set(error, "private key is encrypted and no password was "
                                                 "given");
                else if (encrypted)
                        error_message_set(error, "private key could not be decrypted: wrong "
                                                 "password?");
                else
                        error_message_set(error, "private key is not a valid %s key",
                                          fmt == WOLFSSL_FILETYPE_PEM ? "PEM" : "DER");
                return -EKEYEXPIRED;
        }
        if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
                error_message_set(error, "private key does not match the certificate");
                return -EKEYEXPIRED;
        }
        return 0;
}

/* Builds the record a server needs to pick this identity per handshake. */
static int identity_new(const void *cert, size_t cert_size, const void *key, size_t key_size,
                        const char *password, bool in_ctx, char *error, EngineIdentity **ret) {
        EngineIdentity *id = calloc(1, sizeof(*id));
        int fmt = looks_pem(cert, cert_size) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
        WOLFSSL_EVP_PKEY *pk;

        if (!id)
                return -ENOMEM;
        id->in_ctx = in_ctx;
        id->leaf = wolfSSL_X509_load_certificate_buffer(cert, (int) cert_size, fmt);
        if (!id->leaf) {
                identity_free(id);
                error_message_set(error, "certificate is not valid %s",
                                  fmt == WOLFSSL_FILETYPE_PEM ? "PEM" : "DER");
                return -EKEYEXPIRED;
        }
        pk = wolfSSL_X509_get_pubkey(id->leaf);
        id->key_type = pk ? wolfSSL_EVP_PKEY_base_id(pk) : 0;
        wolfSSL_EVP_PKEY_free(pk);

        if (!in_ctx) {
                int n;

                if (fmt != WOLFSSL_FILETYPE_PEM || !looks_pem(key, key_size)) {
                        identity_free(id);
                        error_message_set(error, "additional server identities must be PEM");
                        return -EINVAL;
                }
                id->chain = malloc(cert_size);
                id->key = malloc(key_size);
                if (!id->chain || !id->key) {
                        identity_free(id);
                        return -ENOMEM;
                }
                memcpy(id->chain, cert, cert_size);
                id->chain_size = cert_size;
                /* Decrypted once here, so handshakes do not pay for it. */
                n = wc_KeyPemToDer(key, (int) key_size, id->key, (int) key_size, password);
                if (n <= 0) {
                        /* id->key_size is still 0: identity_free() would wipe nothing, and
                         * how much a failed decryption left in the buffer is not known. */
                        explicit_bzero(id->key, key_size);
                        identity_free(id);
                        error_message_set(error, password ? "private key could not be "
                                                            "decrypted: wrong password?"
                                                          : "private key is not a valid PEM key");
                        return -EKEYEXPIRED;
                }
                id->key_size = (size_t) n;
        }
        *ret = id;
        return 0;
}

/* Our own key is held to the minimum we hold peers to: a peer with the same policy would refuse
 * it, and the library's own check would fail the load with a less helpful error. */
static int own_key_strong_enough(const EngineCtx *c, const void *cert, size_t cert_size,
                                 char *error) {
        WOLFSSL_X509 *leaf;
        char why[96];
        bool weak;

        leaf = wolfSSL_X509_load_certificate_buffer(
                cert, (int) cert_size,
                looks_pem(cert, cert_size) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1);
        weak = leaf && key_too_small(c, leaf, why, sizeof(why));
        wolfSSL_X509_free(leaf);
        if (weak) {
                error_message_set(error,
                                  "the certificate has %s (MinRSAKeyBits=, "
                                  "MinECCKeyBits= in tlsd.conf)",
                                  why);
                return -EPROTONOSUPPORT;
        }
        return 0;
}

static int ctx_check_identity(EngineCtx *c, const void *cert, size_t cert_size, const void *key,
                              size_t key_size, const char *password, char *error) {
        WOLFSSL_CTX *check = wolfSSL_CTX_new(wolfSSLv23_server_method());
        EngineIdentity *id = NULL;
        int r;

        if (!check)
                return -ENOMEM;
        r = own_key_strong_enough(c, cert, cert_size, error);
        if (r >= 0)
                r = load_identity_into_ctx(check, cert, cert_size, key, key_size, password, error);
        wolfSSL_CTX_free(check);
        if (r < 0 || c->role != ENGINE_SERVER || c->n_identities == 0)
                return r;
        if (c->n_identities >= 16) {
                error_message_set(error, "at most 16 identities per session");
                return -EUSERS;
        }
        /* Another identity is kept aside, its key decrypted: try that too. */
        r = identity_new(cert, cert_size, key, key_size, password, false, error, &id);
        identity_free(id);
        return r;
}

int engine_ctx_check_identity(EngineCtx *c, const void *cert, size_t cert_size, const void *key,
                              size_t key_size, const char *password, char *error) {
        int r = ctx_check_identity(c, cert, cert_size, key, key_size, password, error);

        scrub_stack(); /* the key was decrypted and parsed, or tried to be */
        return r;
}

static int ctx_set_identity(EngineCtx *c, const void *cert, size_t cert_size, const void *key,
                            size_t key_size, const char *password, char *error) {
        EngineIdentity *id, **tail;
        int r;

        c->configured = true;

        r = own_key_strong_enough(c, cert, cert_size, error);
        if (r < 0)
                return r;

        if (c->role == ENGINE_SERVER && c->n_identities > 0) {
                /* Another identity: check it in a scratch context, keep it for the choice. */
                WOLFSSL_CTX *check = wolfSSL_CTX_new(wolfSSLv23_server_method());

                if (!check)
                        return -ENOMEM;
                r = load_identity_into_ctx(check, cert, cert_size, key, key_size, password, error);
                wolfSSL_CTX_free(check);
                if (r < 0)
                        return r;
                if (c->n_identities >= 16) {
                        error_message_set(error, "at most 16 identities per session");
                        return -EUSERS;
                }
                r = identity_new(cert, cert_size, key, key_size, password, false, error, &id);
        } else {
                r = load_identity_into_ctx(c->ctx, cert, cert_size, key, key_size, password, error);
                if (r < 0)
                        return r;
                if (c->role == ENGINE_CLIENT)
                        return 0;
                r = identity_new(cert, cert_size, key, key_size, password, true, error, &id);
        }
        if (r < 0)
                return r;
        for (tail = &c->identities; *tail; tail = &(*tail)->next)
                ;
        *tail = id;
        c->n_identities++;
        return 0;
}

int engine_ctx_set_identity(EngineCtx *c, const void *cert, size_t cert_size, const void *key,
                            size_t key_size, const char *password, char *error) {
        int r = ctx_set_identity(c, cert, cert_size, key, key_size, password, error);

        scrub_stack(); /* on every path: the key was decrypted and parsed, or tried to be */
        return r;
}

static const int client_auth_modes[] = {
        [TLSC_CLIENT_AUTH_NONE] = WOLFSSL_VERIFY_NONE,
        [TLSC_CLIENT_AUTH_OPTIONAL] = WOLFSSL_VERIFY_PEER,
        [TLSC_CLIENT_AUTH_REQUIRED] = WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
};

int engine_ctx_check_client_auth(EngineCtx *c, unsigned mode, char *error) {
        if (c->role != ENGINE_SERVER) {
                error_message_set(error, "client authentication is a server setting");
                return -EINVAL;
        }
        if (mode >= ELEMENTSOF(client_auth_modes)) {
                error_message_set(error, "unknown client-certificate mode %u", mode);
                return -EINVAL;
        }
        return 0;
}

int engine_ctx_set_client_auth(EngineCtx *c, unsigned mode, char *error) {
        int r;

        c->configured = true;

        r = engine_ctx_check_client_auth(c, mode, error);
        if (r < 0)
                return r;
        c->verify_mode = client_auth_modes[mode];
        wolfSSL_CTX_set_verify(c->ctx, c->verify_mode, NULL);
        /* A ticket carries no verified client certificate: resuming one would skip client
         * authentication, so a server that asks for certificates does not resume. */
        c->ticket.refuse = mode != TLSC_CLIENT_AUTH_NONE;
        return 0;
}

bool engine_ctx_has_identity(EngineCtx *c) {
        return c->n_identities > 0;
}

/* Called by wolfSSL once the ClientHello is parsed: pick the identity by SNI and by what the
 * client can verify (RSA and ECDSA side by side). */
static int choose_identity(WOLFSSL *ssl, void *arg) {
        EngineCtx *c = arg;
        const byte *suites = NULL, *sigalgs = NULL;
        word16 n_suites = 0, n_sigalgs = 0;
        bool rsa_ok = false, ecdsa_ok = false;
        EngineIdentity *best = NULL;
        int best_score = -1;
        char *sni = NULL;
        word16 sni_len;

        if (c->n_identities <= 1)
                return 1;

        sni_len = wolfSSL_SNI_GetRequest(ssl, WOLFSSL_SNI_HOST_NAME, (void **) &sni);
        if (wolfSSL_get_client_suites_sigalgs(ssl, &suites, &n_suites, &sigalgs, &n_sigalgs) ==
            WOLFSSL_SUCCESS) {
                for (word16 i = 0; i + 1 < n_sigalgs; i += 2) {
                        int hash = 0, sig = 0;

                        if (wolfSSL_get_sigalg_info(sigalgs[i], sigalgs[i + 1], &hash, &sig) != 0)
                                continue;
                        /* wolfSSL_get_sigalg_info() reports key OID sums (asn.h) */
                        if (sig == ECDSAk)
                                ecdsa_ok = true;
                        else if (sig == RSAk || sig == RSAPSSk)
                                rsa_ok = true;
                }
        }
        if (!rsa_ok && !ecdsa_ok)
                rsa_ok = ecdsa_ok = true; /* no information: any will do */
        if (wolfSSL_version(ssl) != TLS1_3_VERSION && n_suites > 0) {
                /* TLS 1.2: the suite names the certificate's key type too. */
                bool suite_rsa = false, suite_ecdsa = false;

                for (word16 i = 0; i + 1 < n_suites; i += 2) {
                        WOLFSSL_CIPHERSUITE_INFO info =
                                wolfSSL_get_ciphersuite_info(suites[i], suites[i + 1]);

                        suite_rsa |= info.rsaAuth;
                        suite_ecdsa |= info.eccAuth;
                }
                rsa_ok = rsa_ok && suite_rsa;
                ecdsa_ok = ecdsa_ok && suite_ecdsa;
        }

        for (EngineIdentity *id = c->identities; id; id = id->next) {
                bool key_ok = (id->key_type == EVP_PKEY_RSA && rsa_ok) ||
                              (id->key_type == EVP_PKEY_EC && ecdsa_ok);
                bool name_ok =
                        sni && sni_len > 0 &&
                        wolfSSL_X509_check_host(id->leaf, sni, sni_len, 0, NULL) == WOLFSSL_SUCCESS;
                int score = (name_ok ? 2 : 0) + (key_ok ? 1 : 0);

                if (score > best_score) {
                        best = id;
                        best_score = score;
                }
        }
        log_debug("identity choice: SNI '%.*s', client accepts%s%s: %s", (int) sni_len,
                  sni ? sni : "", rsa_ok ? " RSA" : "", ecdsa_ok ? " ECDSA" : "",
                  best ? (best->in_ctx ? "default identity" : "another identity") : "none");
        if (!best || best->in_ctx)
                return 1;
        if (wolfSSL_use_certificate_chain_buffer_format(ssl, (const unsigned char *) best->chain,
                                                        (long) best->chain_size,
                                                        WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
            wolfSSL_use_PrivateKey_buffer(ssl, best->key, (long) best->key_size,
                                          WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS)
                return 0; /* fails the handshake rather than presenting the wrong certificate */
        return 1;
}

/* Whether the comma-separated list holds name (n bytes). */
static bool list_has(const char *list, const char *name, size_t n) {
        for (const char *p = list; p;) {
                const char *end = strchr(p, ',');
                size_t len = end ? (size_t) (end - p) : strlen(p);

                if (len == n && memcmp(p, name, n) == 0)
                        return true;
                p = end ? end + 1 : NULL;
        }
        return false;
}

/* The servername callback, run for every ClientHello (with or without SNI) before wolfSSL
 * selects the ALPN protocol. wolfSSL selects the first of the client's protocols that the
 * server has, i.e. by the client's preference; RFC 7301 leaves the choice to the server, so the
 * connection is given only our most preferred protocol among those the client offers. wolfSSL
 * still matches it against the client's list itself. With none in common the whole list is
 * set, and wolfSSL answers no_application_protocol. */
static int choose_alpn(WOLFSSL *ssl, int *alert, void *arg) {
        EngineConn *c = wolfSSL_get_psk_callback_ctx(ssl);
        _cleanup_free_ char *ours = NULL;
        char *pick = NULL;
        size_t pick_size = 0;
        char *theirs = NULL;
        word16 theirs_size = 0;
        int r;

        if (!c || !c->server_alpn)
                return 0; /* no ALPN configured, or chosen already (a second ClientHello) */
        ours = c->server_alpn;
        c->server_alpn = NULL;
        if (wolfSSL_ALPN_GetPeerProtocol(ssl, &theirs, &theirs_size) != WOLFSSL_SUCCESS || !theirs)
                return 0; /* the client offers no ALPN: none is negotiated */
        for (char *p = ours; p && !pick;) {
                char *end = strchr(p, ',');
                size_t len = end ? (size_t) (end - p) : strlen(p);

                if (len > 0 && list_has(theirs, p, len)) {
                        pick = p;
                        pick_size = len;
                }
                p = end ? end + 1 : NULL;
        }
        (void) wolfSSL_ALPN_FreePeerProtocol(ssl, &theirs);
        if (pick)
                r = wolfSSL_UseALPN(ssl, pick, (unsigned) pick_size,
                                    WOLFSSL_ALPN_FAILED_ON_MISMATCH);
        else
                r = wolfSSL_UseALPN(ssl, ours, (unsigned) strlen(ours),
                                    WOLFSSL_ALPN_FAILED_ON_MISMATCH);
        if (r != WOLFSSL_SUCCESS) {
                *alert = internal_error;
                return fatal_return;
        }
        return 0;
}

static unsigned int psk_client_cb(WOLFSSL *ssl, const char *hint, char *identity,
                                  unsigned int id_max, unsigned char *key, unsigned int key_max) {
        EngineConn *conn = wolfSSL_get_psk_callback_ctx(ssl);
        EngineCtx *c = conn ? conn->ctx : NULL;

        if (!c || !c->psk_identity || strlen(c->psk_identity) >= id_max ||
            c->psk_key_size > key_max)
                return 0;
        strcpy(identity, c->psk_identity);
        memcpy(key, c->psk_key, c->psk_key_size);
        return (unsigned int) c->psk_key_size;
}

/* TLS 1.3 binds an external PSK to one suite's hash. Without this callback wolfSSL offers the
 * PSK only with TLS_AES_128_GCM_SHA256, so a session limited to other suites (ChaCha20, CCM)
 * could not use it. wolfSSL calls it twice (ClientHello, ServerHello) and wants the same suite
 * both times: the one picked when the cipher list was set. */
static unsigned int psk_client_tls13_cb(WOLFSSL *ssl, const char *hint, char *identity,
                                        unsigned int id_max, unsigned char *key,
                                        unsigned int key_max, const char **ciphersuite) {
        EngineConn *conn = wolfSSL_get_psk_callback_ctx(ssl);

        if (!conn)
                return 0;
        *ciphersuite = conn->ctx->psk13_suite;
        return psk_client_cb(ssl, hint, identity, id_max, key, key_max);
}

int engine_ctx_check_psk(EngineCtx *c, const char *identity, size_t key_size, char *error) {
        if (!identity || !*identity || strlen(identity) > 128) {
                error_message_set(error, "PSK identity must be 1..128 bytes");
                return -EINVAL;
        }
        if (key_size < 16 || key_size > 64) {
                error_message_set(error, "PSK must be 16..64 bytes");
                return -EINVAL;
        }
        return 0;
}

int engine_ctx_set_psk(EngineCtx *c, const char *identity, const void *key, size_t key_size,
                       char *error) {
        int r = engine_ctx_check_psk(c, identity, key_size, error);

        if (r < 0)
                return r;
        c->configured = true;
        free(c->psk_identity);
        c->psk_identity = strdup(identity);
        if (c->psk_key) {
                explicit_bzero(c->psk_key, c->psk_key_size);
                free(c->psk_key);
        }
        c->psk_key = malloc(key_size);
        if (!c->psk_identity || !c->psk_key)
                return -ENOMEM;
        memcpy(c->psk_key, key, key_size);
        c->psk_key_size = key_size;
        wolfSSL_CTX_set_psk_client_callback(c->ctx, psk_client_cb);
        wolfSSL_CTX_set_psk_client_tls13_callback(c->ctx, psk_client_tls13_cb);
        return 0;
}

/* ---- verification ---- */

static enum tlsc_verify_result verify_result_from(int err, WOLFSSL_X509 *cert) {
        switch (err) {
        case 0:
                return TLSC_VERIFY_OK;
        case ASN_AFTER_DATE_E:
                return TLSC_VERIFY_EXPIRED;
        case ASN_BEFORE_DATE_E:
                return TLSC_VERIFY_NOT_YET_VALID;
        case ASN_SELF_SIGNED_E:
                return TLSC_VERIFY_SELF_SIGNED;
        case ASN_NO_SIGNER_E: {
                /* wolfSSL reports self-signed and unknown issuer alike: compare names. */
                WOLFSSL_X509_NAME *s = cert ? wolfSSL_X509_get_subject_name(cert) : NULL;
                WOLFSSL_X509_NAME *i = cert ? wolfSSL_X509_get_issuer_name(cert) : NULL;

                if (s && i && wolfSSL_X509_NAME_cmp(s, i) == 0)
                        return TLSC_VERIFY_SELF_SIGNED;
                return TLSC_VERIFY_UNKNOWN_ISSUER;
        }
        case DOMAIN_NAME_MISMATCH:
        case IPADDR_MISMATCH:
                return TLSC_VERIFY_HOSTNAME_MISMATCH;
        case CRL_CERT_REVOKED:
                return TLSC_VERIFY_REVOKED;
        case ASN_PATHLEN_SIZE_E:
        case ASN_PATHLEN_INV_E:
                return TLSC_VERIFY_CA_INVALID;
        case ASN_SIG_CONFIRM_E:
                return TLSC_VERIFY_BAD_SIGNATURE;
        case RSA_KEY_SIZE_E:
        case ECC_KEY_SIZE_E:
                return TLSC_VERIFY_WEAK_KEY;
        default:
                return TLSC_VERIFY_OTHER;
        }
}

static void append_pem(EngineConn *c, WOLFSSL_X509 *cert) {
        const unsigned char *der;
        int der_size, pem_size;
        char *p;

        der = wolfSSL_X509_get_der(cert, &der_size);
        if (!der || der_size <= 0)
                return;
        pem_size = wc_DerToPem(der, (word32) der_size, NULL, 0, CERT_TYPE);
        if (pem_size <= 0)
                return;
        p = realloc(c->chain_pem, c->chain_size + (size_t) pem_size + 1);
        if (!p)
                return;
        c->chain_pem = p;
        pem_size = wc_DerToPem(der, (word32) der_size, (byte *) p + c->chain_size,
                               (word32) pem_size, CERT_TYPE);
        if (pem_size > 0)
                c->chain_size += (size_t) pem_size;
        c->chain_pem[c->chain_size] = 0;
}

/* One DER TLV from *d: its tag and contents; advances *d. false on malformed input. */
typedef struct Der {
        const uint8_t *p;
        size_t n;
} Der;

static bool der_next(Der *d, uint8_t *tag, Der *contents) {
        size_t len, hdr = 2;

        if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
                return false; /* certificates use no multi-byte tags on the path we walk */
        *tag = d->p[0];
        len = d->p[1];
        if (len & 0x80) {
                size_t k = len & 0x7f;

                if (k == 0 || k > 4 || d->n < 2 + k)
                        return false;
                len = 0;
                for (size_t i = 0; i < k; i++)
                        len = (len << 8) | d->p[2 + i];
                hdr += k;
        }
        if (len > d->n - hdr)
                return false;
        *contents = (Der){ d->p + hdr, len };
        d->p += hdr + len;
        d->n -= hdr + len;
        return true;
}

/* The tbsCertificate of a certificate's DER encoding. */
static bool cert_tbs(WOLFSSL_X509 *cert, Der *tbs) {
        const unsigned char *der;
        int der_size;
        Der d, crt;
        uint8_t tag;

        der = wolfSSL_X509_get_der(cert, &der_size);
        if (!der || der_size <= 0)
                return false;
        d = (Der){ der, (size_t) der_size };
        return der_next(&d, &tag, &crt) && tag == 0x30 && der_next(&crt, &tag, tbs) && tag == 0x30;
}

/* Whether the certificate names the address in an iPAddress subjectAltName (RFC 6125: the only
 * place an IP identity may come from). wolfSSL 5.7.2 built without WOLFSSL_IP_ALT_NAME drops
 * those entries while decoding, so its own IP check (X509_VERIFY_PARAM_set1_ip_asc) never
 * matches: read the extension from the DER instead. */
static bool cert_has_ip(WOLFSSL_X509 *cert, const uint8_t *ip, size_t ip_size) {
        Der tbs, field;
        uint8_t tag;

        if (!cert_tbs(cert, &tbs))
                return false;
        while (der_next(&tbs, &tag, &field)) {
                Der exts, ext;

                if (tag != 0xa3) /* [3] extensions; version, serial, names etc. come before */
                        continue;
                if (!der_next(&field, &tag, &exts) || tag != 0x30)
                        return false;
                while (der_next(&exts, &tag, &ext)) {
                        Der oid, value, names, name;

                        if (tag != 0x30 || !der_next(&ext, &tag, &oid) || tag != 0x06)
                                return false;
                        if (oid.n != 3 || memcmp(oid.p, "\x55\x1d\x11", 3) != 0)
                                continue; /* not subjectAltName (2.5.29.17) */
                        if (!der_next(&ext, &tag, &value))
                                return false;
                        if (tag == 0x01 && !der_next(&ext, &tag, &value)) /* critical */
                                return false;
                        if (tag != 0x04 || !der_next(&value, &tag, &names) || tag != 0x30)
                                return false;
                        while (der_next(&names, &tag, &name))
                                if (tag == 0x87 && name.n == ip_size &&
                                    memcmp(name.p, ip, ip_size) == 0) /* [7] iPAddress */
                                        return true;
                        return false;
                }
                return false;
        }
        return false;
}

/* SHA-256 of the DER SubjectPublicKeyInfo, as `openssl pkey -pubin -outform DER | sha256sum`
 * computes it. Taken from the certificate's DER: wolfSSL_i2d_PUBKEY() of 5.7.2 gives the bare EC
 * point for EC keys, not the SubjectPublicKeyInfo, so its hash never matched a pin. */
static bool pin_matches(EngineConn *c, WOLFSSL_X509 *cert) {
        unsigned char hash[WC_SHA256_DIGEST_SIZE];
        Der tbs, field;
        uint8_t tag;
        unsigned i = 0;

        if (!cert_tbs(cert, &tbs))
                return false;
        /* [0] version (optional), serial, signature, issuer, validity, subject, spki */
        for (;;) {
                const uint8_t *start = tbs.p;

                if (!der_next(&tbs, &tag, &field))
                        return false;
                if (i == 0 && tag == 0xa0)
                        continue;
                if (++i < 6)
                        continue;
                if (tag != 0x30 || wc_Sha256Hash(start, (word32) (tbs.p - start), hash) != 0)
                        return false;
                return memcmp(hash, c->pin, sizeof(hash)) == 0;
        }
}

/* A certificate name as "/CN=x/O=y" (the form of PeerSubject), cut to fit. */
static void x509_name(WOLFSSL_X509_NAME *n, char *buf, size_t size) {
        char *s = n ? wolfSSL_X509_NAME_oneline(n, NULL, 0) : NULL;

        (void) snprintf(buf, size, "%s", s ? s : "?");
        if (s)
                XFREE(s, NULL, DYNAMIC_TYPE_OPENSSL);
}

/* Which certificate failed first, for the message: "verification failed" alone does not say
 * which CA to add or which name was wrong. */
static void note_failed_cert(EngineConn *c, WOLFSSL_X509 *cert) {
        if (!cert)
                return;
        x509_name(wolfSSL_X509_get_subject_name(cert), c->verify_subject,
                  sizeof(c->verify_subject));
        x509_name(wolfSSL_X509_get_issuer_name(cert), c->verify_issuer, sizeof(c->verify_issuer));
}

/* The reason of a failed verification, with the certificate it is about; the error code says
 * "verification failed" already (tlsd_strerror()), so the message does not say it again. */
static void verify_message(const EngineConn *c, char *buf, size_t size) {
        const char *name = tlsc_verify_result_name(c->verify);

        if (c->verify == TLSC_VERIFY_WEAK_KEY && c->verify_detail[0]) {
                (void) snprintf(buf, size, "%s: %s has %s", name,
                                c->verify_subject[0] ? c->verify_subject : "the peer's certificate",
                                c->verify_detail);
                return;
        }
        if (!c->verify_subject[0]) {
                (void) snprintf(buf, size, "%s", name);
                return;
        }
        switch (c->verify) {
        case TLSC_VERIFY_UNKNOWN_ISSUER:
                (void) snprintf(buf, size, "%s: the issuer %s of %s is not a trusted CA", name,
                                c->verify_issuer, c->verify_subject);
                break;
        case TLSC_VERIFY_SELF_SIGNED:
                (void) snprintf(buf, size, "%s: %s is its own issuer and not a trusted CA", name,
                                c->verify_subject);
                break;
        case TLSC_VERIFY_HOSTNAME_MISMATCH:
                (void) snprintf(buf, size, "%s: %s is not valid for %s", name, c->verify_subject,
                                c->peer_name ? c->peer_name : "the name asked for");
                break;
        case TLSC_VERIFY_PIN_MISMATCH:
                (void) snprintf(buf, size, "%s: the public key of %s is not the pinned one", name,
                                c->verify_subject);
                break;
        default:
                (void) snprintf(buf, size, "%s: %s (issuer %s)", name, c->verify_subject,
                                c->verify_issuer);
                break;
        }
}

/* Called for every certificate of the chain, root first, leaf (depth 0) last. */
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store) {
        EngineConn *c = store->userCtx; /* wolfSSL_SetCertCbCtx() */
        WOLFSSL_X509 *cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);
        int depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
        int err = wolfSSL_X509_STORE_CTX_get_error(store);

        if (!c)
                return preverify;
        if (cert && c->params.verify == TLSC_VERIFY_APP_DECIDES)
                append_pem(c, cert); /* only the app-decides event shows the chain */

        /* A weak key fails in every mode: neither a pin nor the app can accept it. For a pin
         * only the leaf counts (CA trust is not consulted). */
        if ((depth == 0 || c->params.verify != TLSC_VERIFY_PINNED) &&
            key_too_small(c->ctx, cert, c->verify_detail, sizeof(c->verify_detail))) {
                c->verify = TLSC_VERIFY_WEAK_KEY;
                return 0;
        }
        if (!preverify && (err == RSA_KEY_SIZE_E || err == ECC_KEY_SIZE_E)) {
                c->verify = TLSC_VERIFY_WEAK_KEY;
                return 0;
        }

        if (c->params.verify == TLSC_VERIFY_PINNED) {
                /* Only the leaf's key counts; CA trust is not consulted. */
                if (depth != 0)
                        return 1;
                if (!cert || !pin_matches(c, cert)) {
                        c->verify = TLSC_VERIFY_PIN_MISMATCH;
                        note_failed_cert(c, cert);
                        return 0;
                }
                return 1;
        }

        if (!preverify && c->verify == TLSC_VERIFY_OK) {
                c->verify = verify_result_from(err, cert);
                note_failed_cert(c, cert);
        }
        if (depth == 0 && c->ip_size > 0 && (!cert || !cert_has_ip(cert, c->ip, c->ip_size))) {
                if (c->verify == TLSC_VERIFY_OK) {
                        c->verify = TLSC_VERIFY_HOSTNAME_MISMATCH;
                        note_failed_cert(c, cert);
                }
                preverify = 0;
        }

        if (c->params.verify == TLSC_VERIFY_APP_DECIDES)
                return 1; /* the app decides after the handshake, before any data flows */
        return preverify;
}

/* ---- associations ---- */

static bool is_ip_literal(const char *s) {
        unsigned char buf[16];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Runs inside the library before the ticket's lifetime, nonce and age are stored: only note
 * it; the export happens after the call that took it returns. */
static int on_session_ticket(WOLFSSL *ssl, const unsigned char *ticket, int size, void *ctx) {
        EngineConn *c = ctx;

        c->ticket_arrived = true;
        return 0;
}

int engine_conn_new(EngineCtx *ctx, int fd, const EngineConnParams *p, EngineConn **ret) {
        EngineConn *c;
        int line = 0;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->params = *p;
        c->ctx = ctx;
        c->params.peer_name = c->params.sni = c->params.alpn = NULL;
        c->params.pin = NULL;
        if (p->pin) {
                memcpy(c->pin, p->pin, sizeof(c->pin));
                c->has_pin = true;
        }
        if (ctx->role == ENGINE_SERVER && ctx->ticket.policy) {
                /* The tickets of this handshake describe it: bound to the policy it begins
                 * under, whatever a Configure changes before they are issued. */
                memcpy(c->ticket_policy, ctx->ticket.policy, sizeof(c->ticket_policy));
                c->has_ticket_policy = true;
        }
        c->ssl = wolfSSL_new(ctx->ctx);
        if (!c->ssl)
                do {
                        line = __LINE__;
                        goto oom;
                } while (0);
        /* How the verify, PSK, identity and ticket callbacks find this object (this build has
         * no ex_data). */
        wolfSSL_SetCertCbCtx(c->ssl, c);
        (void) wolfSSL_set_psk_callback_ctx(c->ssl, c);
        c->fd = fd;
        if (ctx->dtls) {
                int r = engine_dtls_conn_setup(c, p);

                if (r < 0) {
                        log_debug("engine_conn_new: DTLS setup failed: %s", strerror(-r));
                        engine_conn_free(c);
                        return r;
                }
        } else if (wolfSSL_set_fd(c->ssl, fd) != WOLFSSL_SUCCESS)
                do {
                        line = __LINE__;
                        goto oom;
                } while (0);
        wolfSSL_set_using_nonblock(c->ssl, 1);

        if (ctx->role == ENGINE_CLIENT) {
                const char *sni = p->sni;

                if (p->verify == TLSC_VERIFY_PINNED && !p->pin) {
                        engine_conn_free(c);
                        return -EINVAL;
                }
                wolfSSL_set_verify(c->ssl, WOLFSSL_VERIFY_PEER, verify_cb);
                if (p->peer_name) {
                        c->peer_name = strdup(p->peer_name);
                        if (!c->peer_name)
                                do {
                                        line = __LINE__;
                                        goto oom;
                                } while (0);
                        if (p->verify != TLSC_VERIFY_PINNED) {
                                /* An address is matched by verify_cb (see cert_has_ip). */
                                if (inet_pton(AF_INET, p->peer_name, c->ip) == 1)
                                        c->ip_size = 4;
                                else if (inet_pton(AF_INET6, p->peer_name, c->ip) == 1)
                                        c->ip_size = 16;
                                else if (wolfSSL_check_domain_name(c->ssl, p->peer_name) !=
                                         WOLFSSL_SUCCESS)
                                        do {
                                                line = __LINE__;
                                                goto oom;
                                        } while (0);
                        }
                        if (!sni && !is_ip_literal(p->peer_name))
                                sni = p->peer_name;
                }
                /* A DNS name has at most 253 bytes; the library takes a 16-bit length, which a
                 * longer one would be cut to. */
                if (sni && strlen(sni) > 253) {
                        engine_conn_free(c);
                        return -ENAMETOOLONG;
                }
                if (sni && wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, sni,
                                          (unsigned short) strlen(sni)) != WOLFSSL_SUCCESS)
                        do {
                                line = __LINE__;
                                goto oom;
                        } while (0);
                if (ctx->n_key_shares > 0 && (wolfSSL_version(c->ssl) == TLS1_3_VERSION ||
                                              wolfSSL_version(c->ssl) == DTLS1_3_VERSION)) {
                        /* Key shares for the policy's first group and, after a hybrid, a
                         * classical one (ctx_set_groups); each is a key pair made now. */
                        for (unsigned i = 0; i < ctx->n_key_shares; i++)
                                if (wolfSSL_UseKeyShare(c->ssl, ctx->key_shares[i]) !=
                                    WOLFSSL_SUCCESS)
                                        do {
                                                line = __LINE__;
                                                goto oom;
                                        } while (0);
                        scrub_stack(); /* the private halves were made on it */
                }
                if (p->tickets) {
                        if (wolfSSL_UseSessionTicket(c->ssl) != WOLFSSL_SUCCESS ||
                            wolfSSL_set_SessionTicket_cb(c->ssl, on_session_ticket, c) !=
                                    WOLFSSL_SUCCESS)
                                do {
                                        line = __LINE__;
                                        goto oom;
                                } while (0);
                }
        }
        if (ctx->role == ENGINE_SERVER && ctx->ticket.refuse) {
                /* Client certificates are asked for: issue no tickets either (the callback
                 * refuses the ones offered). The TLS 1.3 call fails harmlessly on a DTLS 1.2
                 * object, which has no TLS 1.3 tickets to send. */
                if (wolfSSL_NoTicketTLSv12(c->ssl) != WOLFSSL_SUCCESS)
                        do {
                                line = __LINE__;
                                goto oom;
                        } while (0);
                (void) wolfSSL_no_ticket_TLSv13(c->ssl);
        }
        if (p->alpn && *p->alpn && ctx->role == ENGINE_SERVER) {
                /* A server picks from its own list in its order of preference (choose_alpn); a
                 * client that offers none of them gets no_application_protocol. */
                c->server_alpn = strdup(p->alpn);
                if (!c->server_alpn)
                        do {
                                line = __LINE__;
                                goto oom;
                        } while (0);
        } else if (p->alpn && *p->alpn) {
                _cleanup_free_ char *list = strdup(p->alpn);

                if (!list || wolfSSL_UseALPN(c->ssl, list, (unsigned) strlen(list),
                                             WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS)
                        do {
                                line = __LINE__;
                                goto oom;
                        } while (0);
        }
        *ret = c;
        return 0;

oom:
        log_debug("engine_conn_new: wolfSSL setup failed at engine.c:%d", line);
        engine_conn_free(c);
        return -ENOMEM;
}

EngineConn *engine_conn_free(EngineConn *c) {
        if (!c)
                return NULL;
        wolfSSL_free(c->ssl);
        free(c->peer_name);
        free(c->chain_pem);
        free(c->server_alpn);
        free(c);
        return NULL;
}

/* The names come from the one table libtlsclient users get too (tlsc_alert_name(); wolfSSL
 * 5.7.2 has none for some, certificate_required among them). */
static const char *alert_name(int code) {
        return tlsc_alert_name(code);
}

static int alert_of(WOLFSSL *ssl, EngineFailure *fail) {
        WOLFSSL_ALERT_HISTORY h;

        if (wolfSSL_get_alert_history(ssl, &h) != WOLFSSL_SUCCESS)
                return -1;
        /* Only fatal alerts explain a failure; a close_notify we sent does not. */
        if (h.last_rx.level == alert_fatal) {
                fail->alert = h.last_rx.code;
                fail->alert_received = true;
        } else if (h.last_tx.level == alert_fatal) {
                fail->alert = h.last_tx.code;
        }
        return fail->alert;
}

/* Maps a failed wolfSSL call to -EAGAIN/-errno and fills *fail. */
static int map_error(EngineConn *c, int ret, EngineWait *wait, EngineFailure *fail) {
        int err = wolfSSL_get_error(c->ssl, ret);
        char buf[WOLFSSL_MAX_ERROR_SZ];

        *wait = ENGINE_WAIT_NONE;
        switch (err) {
        case WOLFSSL_ERROR_WANT_READ:
                *wait = ENGINE_WAIT_READ;
                return -EAGAIN;
        case WOLFSSL_ERROR_WANT_WRITE:
                *wait = ENGINE_WAIT_WRITE;
                return -EAGAIN;
        case WOLFSSL_ERROR_ZERO_RETURN:
                return 0;
        default:
                break;
        }

        /* The library checks the size of the peer's key after the verify callback (and
         * servers have none): its error is the verification result weak-key. */
        if ((err == RSA_KEY_SIZE_E || err == ECC_KEY_SIZE_E) && c->verify == TLSC_VERIFY_OK) {
                c->verify = TLSC_VERIFY_WEAK_KEY;
                (void) snprintf(c->verify_detail, sizeof(c->verify_detail),
                                "%s key below the minimum of %u bits",
                                err == RSA_KEY_SIZE_E ? "an RSA" : "an ECC",
                                err == RSA_KEY_SIZE_E ? c->ctx->min_rsa_bits
                                                      : c->ctx->min_ecc_bits);
        }
        *fail = (EngineFailure){ .alert = -1, .verify = c->verify };
        (void) alert_of(c->ssl, fail);
        wolfSSL_ERR_error_string_n((unsigned long) err, buf, sizeof(buf));
        if (c->verify != TLSC_VERIFY_OK) {
                verify_message(c, fail->message, sizeof(fail->message));
                return -EKEYREJECTED;
        }
        if (err == WOLFSSL_ERROR_SYSCALL || err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E) {
                /* The transport failed under TLS: a reset, or an EOF without close_notify. */
                if (errno == ECONNRESET || errno == EPIPE) {
                        (void) snprintf(fail->message, sizeof(fail->message),
                                        "connection reset by peer");
                        return -EPIPE;
                }
                (void) snprintf(fail->message, sizeof(fail->message),
                                "connection closed by peer without close_notify");
                return -ECONNRESET;
        }
        if (fail->alert >= 0)
                (void) snprintf(fail->message, sizeof(fail->message), "%s alert %d (%s): %s",
                                fail->alert_received ? "received" : "sent", fail->alert,
                                alert_name(fail->alert), buf);
        else
                (void) snprintf(fail->message, sizeof(fail->message), "%s", buf);
        return -EPROTO;
}

int engine_conn_handshake(EngineConn *c, EngineWait *wait, EngineFailure *fail) {
        int ret = wolfSSL_negotiate(c->ssl);

        scrub_stack(); /* a signature with our key, (EC)DHE secrets */

        if (ret == WOLFSSL_SUCCESS) {
#ifdef HAVE_SECURE_RENEGOTIATION
                /* tlsd never renegotiates, and refuses a peer's renegotiation: wolfSSL >= 5.9
                 * (built with renegotiation for this, see scripts/setup) answers a client's
                 * renegotiating ClientHello, or a server's HelloRequest, with the warning
                 * alert no_renegotiation and goes on; older versions ignore the option
                 * (configure warns), and built without renegotiation they end the connection
                 * with unexpected_message. Set only now, as nothing can renegotiate before:
                 * wolfSSL_set_options() rebuilds the object's cipher suites from the key it
                 * holds, so set on the context (copied at wolfSSL_new) a server that then
                 * chose its RSA identity kept the ECDSA default's suites (TLS 1.2
                 * ECDHE-RSA: handshake_failure). */
                (void) wolfSSL_set_options(c->ssl, WOLFSSL_OP_NO_RENEGOTIATION);
#endif
                *wait = ENGINE_WAIT_NONE;
                return 0;
        }
        ret = map_error(c, ret, wait, fail);
        return ret == 0 ? -ECONNRESET : ret;
}

ssize_t engine_conn_read(EngineConn *c, void *buf, size_t size, EngineWait *wait,
                         EngineFailure *fail) {
        int n = wolfSSL_read(c->ssl, buf, (int) (size > INT32_MAX ? INT32_MAX : size));

        if (n > 0)
                return n;
        return map_error(c, n, wait, fail);
}

ssize_t engine_conn_write(EngineConn *c, const void *buf, size_t size, EngineWait *wait,
                          EngineFailure *fail) {
        int n = wolfSSL_write(c->ssl, buf, (int) (size > INT32_MAX ? INT32_MAX : size));
        int r;

        if (n > 0)
                return n;
        r = map_error(c, n, wait, fail);
        return r == 0 ? -ECONNRESET : r;
}

int engine_conn_shutdown(EngineConn *c, EngineWait *wait) {
        int ret;

        if (c->shutdown_sent)
                return 0;
        ret = wolfSSL_shutdown(c->ssl);
        /* 2 (WOLFSSL_SHUTDOWN_NOT_DONE): our close_notify is out, the peer's not yet in. */
        if (ret == WOLFSSL_SUCCESS || ret == WOLFSSL_SHUTDOWN_NOT_DONE) {
                c->shutdown_sent = true;
                *wait = ENGINE_WAIT_NONE;
                return 0;
        }
        switch (wolfSSL_get_error(c->ssl, ret)) {
        case WOLFSSL_ERROR_WANT_READ:
                *wait = ENGINE_WAIT_READ;
                return -EAGAIN;
        case WOLFSSL_ERROR_WANT_WRITE:
                *wait = ENGINE_WAIT_WRITE;
                return -EAGAIN;
        default:
                c->shutdown_sent = true;
                return -EPIPE;
        }
}

bool engine_conn_close_notify_received(EngineConn *c) {
        return (wolfSSL_get_shutdown(c->ssl) & WOLFSSL_RECEIVED_SHUTDOWN) != 0;
}

size_t engine_conn_pending(EngineConn *c) {
        int n = wolfSSL_pending(c->ssl);

        return n > 0 ? (size_t) n : 0;
}

void engine_conn_info(EngineConn *c, EngineInfo *ret) {
        WOLFSSL_X509 *peer;
        const char *s;
        char *proto = NULL;
        unsigned short proto_size = 0;

        memset(ret, 0, sizeof(*ret));
        s = wolfSSL_get_version(c->ssl);
        (void) snprintf(ret->version, sizeof(ret->version), "%s", s ? s : "");
        s = wolfSSL_get_cipher_name(c->ssl);
        (void) snprintf(ret->cipher, sizeof(ret->cipher), "%s",
                        s ? engine_cipher_iana_name(s) : "");
        /* In TLS 1.2 only ECDHE suites use a group; for DHE ones wolfSSL names the key share it
         * offered for TLS 1.3, which was not used. */
        s = wolfSSL_version(c->ssl) == TLS1_3_VERSION ||
                            wolfSSL_version(c->ssl) == DTLS1_3_VERSION ||
                            strstr(ret->cipher, "_ECDHE_")
                    ? wolfSSL_get_curve_name(c->ssl)
                    : NULL;
        (void) snprintf(ret->group, sizeof(ret->group), "%s", s ? group_iana_name(s) : "");
        if (wolfSSL_ALPN_GetProtocol(c->ssl, &proto, &proto_size) == WOLFSSL_SUCCESS && proto)
                (void) snprintf(ret->alpn, sizeof(ret->alpn), "%.*s", (int) proto_size, proto);
        peer = wolfSSL_get_peer_certificate(c->ssl);
        if (peer) {
                char *name =
                        wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(peer), NULL, 0);

                if (name) {
                        (void) snprintf(ret->peer_subject, sizeof(ret->peer_subject), "%s", name);
                        XFREE(name, NULL, DYNAMIC_TYPE_OPENSSL);
                }
                wolfSSL_X509_free(peer);
        }
        ret->resumed = wolfSSL_session_reused(c->ssl) == 1;
        if (c->ctx->role == ENGINE_SERVER) {
                char *sni = NULL;
                word16 n = wolfSSL_SNI_GetRequest(c->ssl, WOLFSSL_SNI_HOST_NAME, (void **) &sni);

                if (sni && n > 0)
                        (void) snprintf(ret->sni, sizeof(ret->sni), "%.*s", (int) n, sni);
        }
        ret->verify = c->verify;
        if (c->dgram) {
                ret->dtls = true;
                ret->cid_in_use = engine_conn_cid_in_use(c);
                ret->max_message = (unsigned) engine_conn_max_message(c);
        }
}

/* The chain as the peer sent it, its own certificate first (SESSION_CERTS keeps it); the
 * verify callback sees only the certificates it was called for, often just the leaf. */
static int peer_chain_as_sent(EngineConn *c, char **ret, size_t *ret_size) {
        WOLFSSL_X509_CHAIN *chain = wolfSSL_get_peer_chain(c->ssl);
        int n = chain ? wolfSSL_get_chain_count(chain) : 0;
        char *buf = NULL;
        size_t size = 0;

        for (int i = 0; i < n; i++) {
                const unsigned char *der = wolfSSL_get_chain_cert(chain, i);
                int der_size = wolfSSL_get_chain_length(chain, i);
                int pem_size = der && der_size > 0
                                       ? wc_DerToPem(der, (word32) der_size, NULL, 0, CERT_TYPE)
                                       : 0;
                char *p;

                if (pem_size <= 0)
                        continue;
                p = realloc(buf, size + (size_t) pem_size + 1);
                if (!p) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = p;
                pem_size = wc_DerToPem(der, (word32) der_size, (byte *) buf + size,
                                       (word32) pem_size, CERT_TYPE);
                if (pem_size > 0)
                        size += (size_t) pem_size;
                buf[size] = 0;
        }
        if (size == 0) {
                free(buf);
                return -ENODATA;
        }
        *ret = buf;
        *ret_size = size;
        return 0;
}

int engine_conn_peer_chain_pem(EngineConn *c, char **ret, size_t *ret_size) {
        char *p;
        int r;

        r = peer_chain_as_sent(c, ret, ret_size);
        if (r != -ENODATA)
                return r;
        if (!c->chain_pem)
                return -ENODATA;
        p = malloc(c->chain_size + 1);
        if (!p)
                return -ENOMEM;
        memcpy(p, c->chain_pem, c->chain_size + 1);
        *ret = p;
        *ret_size = c->chain_size;
        return 0;
}

enum tlsc_verify_result engine_conn_verify_result(EngineConn *c) {
        return c->verify;
}

int engine_conn_set_session(EngineConn *c, const void *blob, size_t size) {
        const unsigned char *p = blob;
        WOLFSSL_SESSION *s;
        int r;

        if (size == 0 || size > INT32_MAX)
                return -EBADMSG;
        s = wolfSSL_d2i_SSL_SESSION(NULL, &p, (long) size);
        if (!s)
                return -EBADMSG;
        r = wolfSSL_set_session(c->ssl, s);
        wolfSSL_SESSION_free(s);
        if (r != WOLFSSL_SUCCESS)
                return -EBADMSG;
        c->session_offered = true;
        return 0;
}

bool engine_conn_session_offered(EngineConn *c) {
        return c->session_offered;
}

bool engine_conn_ticket_arrived(EngineConn *c) {
        bool r = c->ticket_arrived;

        c->ticket_arrived = false;
        return r;
}

int engine_conn_export_session(EngineConn *c, void **ret, size_t *ret_size, uint32_t *lifetime_sec,
                               bool *tls13) {
        WOLFSSL_SESSION *s;
        unsigned char *buf, *p;
        int v = wolfSSL_version(c->ssl), n;
        bool is13 = v == TLS1_3_VERSION || v == DTLS1_3_VERSION;
        unsigned long life;

        s = wolfSSL_get1_session(c->ssl);
        if (!s)
                return -ENODATA;
        if (is13 && !wolfSSL_SESSION_has_ticket(s)) {
                wolfSSL_SESSION_free(s);
                return -ENODATA;
        }
        n = wolfSSL_i2d_SSL_SESSION(s, NULL);
        if (n <= 0) {
                wolfSSL_SESSION_free(s);
                return -ENODATA;
        }
        buf = malloc((size_t) n);
        if (!buf) {
                wolfSSL_SESSION_free(s);
                return -ENOMEM;
        }
        p = buf;
        if (wolfSSL_i2d_SSL_SESSION(s, &p) != n) {
                explicit_bzero(buf, (size_t) n);
                free(buf);
                wolfSSL_SESSION_free(s);
                return -EIO;
        }
        /* TLS 1.2: the ticket's lifetime hint; TLS 1.3: the ticket_lifetime, which wolfSSL
         * keeps as the session's timeout. */
        life = is13 ? 0 : wolfSSL_SESSION_get_ticket_lifetime_hint(s);
        if (life == 0) {
                long t = wolfSSL_SESSION_get_timeout(s);

                life = t > 0 ? (unsigned long) t : 0;
        }
        wolfSSL_SESSION_free(s);
        *ret = buf;
        *ret_size = (size_t) n;
        *lifetime_sec = life > UINT32_MAX ? UINT32_MAX : (uint32_t) life;
        *tls13 = is13;
        return 0;
}
