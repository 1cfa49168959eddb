/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The suites tlsd knows, by IANA and OpenSSL name. AEAD suites with ephemeral key exchange are
 * allowed; ECDHE CBC suites only with the legacy opt-in (logged by the caller); everything else
 * is refused, naming why, so a misconfiguration is caught at configuration time and not as a
 * handshake failure later.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "engine/engine-ciphers.h"
#include "util/error-message.h"
#include "macro.h"

typedef enum SuiteClass {
        SUITE_DEFAULT,
        SUITE_ALLOWED,
        SUITE_LEGACY
} SuiteClass;

typedef struct Suite {
        const char *iana;
        const char *openssl; /* also wolfSSL's name */
        SuiteClass class;
} Suite;

static const Suite suites[] = {
        /* TLS 1.3 */
        { "TLS_AES_128_GCM_SHA256", "TLS13-AES128-GCM-SHA256", SUITE_DEFAULT },
        { "TLS_AES_256_GCM_SHA384", "TLS13-AES256-GCM-SHA384", SUITE_DEFAULT },
        { "TLS_CHACHA20_POLY1305_SHA256", "TLS13-CHACHA20-POLY1305-SHA256", SUITE_DEFAULT },
        { "TLS_AES_128_CCM_SHA256", "TLS13-AES128-CCM-SHA256", SUITE_ALLOWED },
        { "TLS_AES_128_CCM_8_SHA256", "TLS13-AES128-CCM-8-SHA256", SUITE_ALLOWED },
        /* TLS 1.2, ephemeral key exchange, AEAD */
        { "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
          SUITE_DEFAULT },
        { "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", SUITE_DEFAULT },
        { "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384",
          SUITE_DEFAULT },
        { "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", SUITE_DEFAULT },
        { "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
          SUITE_DEFAULT },
        { "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305",
          SUITE_DEFAULT },
        { "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", SUITE_ALLOWED },
        { "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384", SUITE_ALLOWED },
        { "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305", SUITE_ALLOWED },
        { "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "ECDHE-ECDSA-AES128-CCM", SUITE_ALLOWED },
        { "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "ECDHE-ECDSA-AES128-CCM-8", SUITE_ALLOWED },
        /* TLS 1.2 PSK with ephemeral key exchange, AEAD */
        { "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", "ECDHE-PSK-AES128-GCM-SHA256", SUITE_ALLOWED },
        { "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", "DHE-PSK-AES128-GCM-SHA256", SUITE_ALLOWED },
        { "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", "DHE-PSK-AES256-GCM-SHA384", SUITE_ALLOWED },
        { "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-PSK-CHACHA20-POLY1305",
          SUITE_ALLOWED },
        { "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "DHE-PSK-CHACHA20-POLY1305", SUITE_ALLOWED },
        /* TLS 1.2 ECDHE with CBC: legacy opt-in only */
        { "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", SUITE_LEGACY },
        { "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", SUITE_LEGACY },
        { "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", SUITE_LEGACY },
        { "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", SUITE_LEGACY },
        { "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", SUITE_LEGACY },
        { "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", SUITE_LEGACY },
        { "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", SUITE_LEGACY },
        { "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", SUITE_LEGACY },
};

/* Families refused whatever the opt-in, checked on the upper-cased name. */
static const struct {
        const char *needle;
        const char *why;
} refused[] = {
        { "RC4", "RC4 is broken (RFC 7465)" },
        { "NULL", "NULL ciphers do not encrypt" },
        { "ANON", "anonymous key exchange authenticates no one" },
        { "ADH", "anonymous key exchange authenticates no one" },
        { "AECDH", "anonymous key exchange authenticates no one" },
        { "EXPORT", "export-grade ciphers are deliberately weak" },
        { "EXP-", "export-grade ciphers are deliberately weak" },
        { "DES", "DES and 3DES are too weak (Sweet32)" },
        { "MD5", "MD5 is broken" },
        { "IDEA", "IDEA is obsolete" },
        { "SEED", "SEED is obsolete" },
        { "CAMELLIA", "Camellia suites are not supported" },
        { "ARIA", "ARIA suites are not supported" },
        { "TLS_RSA_", "static RSA key exchange has no forward secrecy" },
        { "TLS_DH_", "static DH key exchange has no forward secrecy" },
        { "TLS_ECDH_", "static ECDH key exchange has no forward secrecy" },
        { "TLS_PSK_", "plain PSK key exchange has no forward secrecy (use DHE-PSK or ECDHE-PSK)" },
        { "SRP", "SRP suites are not supported" },
};

const char *engine_default_cipher_list(void) {
        static char buf[1024];

        if (!buf[0])
                for (size_t i = 0; i < ELEMENTSOF(suites); i++)
                        if (suites[i].class == SUITE_DEFAULT) {
                                if (buf[0])
                                        strcat(buf, ":");
                                strcat(buf, suites[i].openssl);
                        }
        return buf;
}

/* DTLS peers are often constrained devices: AES-CCM joins the defaults (CCM-8, with its
 * 64-bit tag, only when named). */
const char *engine_default_dtls_cipher_list(void) {
        static char buf[1200];

        if (!buf[0])
                (void) snprintf(buf, sizeof(buf),
                                "%s:TLS13-AES128-CCM-SHA256:ECDHE-ECDSA-AES128-CCM",
                                engine_default_cipher_list());
        return buf;
}

static const Suite *find_suite(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(suites); i++)
                if (strcasecmp(name, suites[i].iana) == 0 ||
                    strcasecmp(name, suites[i].openssl) == 0)
                        return &suites[i];
        return NULL;
}

/* OpenSSL names without a key-exchange prefix (AES128-GCM-SHA256) are static RSA. */
static bool is_openssl_static_rsa(const char *upper) {
        return strncmp(upper, "AES", 3) == 0;
}

/* OpenSSL names for plain PSK (PSK-AES128-GCM-SHA256) and RSA-PSK: no ephemeral key exchange. */
static bool is_openssl_static_psk(const char *upper) {
        return strncmp(upper, "PSK-", 4) == 0 || strncmp(upper, "RSA-PSK-", 8) == 0;
}

/* OpenSSL names for static (EC)DH key exchange (DH-RSA-, DH-DSS-, ECDH-ECDSA-, ECDH-RSA-): "DH"
 * or "ECDH", else NULL. A prefix, not a substring: the ephemeral ones start DHE- and ECDHE-, and
 * EDH- (OpenSSL's old alias for DHE-) contains "DH-" too. */
static const char *openssl_static_dh(const char *upper) {
        if (strncmp(upper, "DH-", 3) == 0)
                return "DH";
        if (strncmp(upper, "ECDH-", 5) == 0)
                return "ECDH";
        return NULL;
}

int engine_ciphers_translate(const char *list, bool legacy, char **ret, char *error) {
        _cleanup_free_ char *copy = strdup(list), *out = NULL;
        char *save = NULL;
        size_t n = 0;

        if (!copy)
                return -ENOMEM;
        out = calloc(1, ELEMENTSOF(suites) * 48 + 1);
        if (!out)
                return -ENOMEM;

        for (char *name = strtok_r(copy, ":, ", &save); name; name = strtok_r(NULL, ":, ", &save)) {
                const Suite *s = find_suite(name);
                char upper[128];

                if (!s) {
                        size_t k;

                        for (k = 0; name[k] && k < sizeof(upper) - 1; k++)
                                upper[k] = (char) toupper((unsigned char) name[k]);
                        upper[k] = 0;
                        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                                if (strstr(upper, refused[i].needle)) {
                                        error_message_set(error, "cipher suite '%s' refused: %s",
                                                          name, refused[i].why);
                                        return -EPROTONOSUPPORT;
                                }
                        if (is_openssl_static_rsa(upper)) {
                                error_message_set(error,
                                                  "cipher suite '%s' refused: static RSA key "
                                                  "exchange has no forward secrecy",
                                                  name);
                                return -EPROTONOSUPPORT;
                        }
                        if (openssl_static_dh(upper)) {
                                error_message_set(error,
                                                  "cipher suite '%s' refused: static %s key "
                                                  "exchange has no forward secrecy",
                                                  name, openssl_static_dh(upper));
                                return -EPROTONOSUPPORT;
                        }
                        if (is_openssl_static_psk(upper)) {
                                error_message_set(error,
                                                  "cipher suite '%s' refused: plain PSK key "
                                                  "exchange has no forward secrecy (use DHE-PSK "
                                                  "or ECDHE-PSK)",
                                                  name);
                                return -EPROTONOSUPPORT;
                        }
                        error_message_set(error, "unknown cipher suite '%s'", name);
                        return -EINVAL;
                }
                if (s->class == SUITE_LEGACY && !legacy) {
                        error_message_set(error,
                                          "cipher suite '%s' is CBC mode: allowed only with the "
                                          "session's legacy opt-in",
                                          name);
                        return -EPROTONOSUPPORT;
                }
                if (strstr(out, s->openssl))
                        continue; /* listed twice */
                if (n++)
                        strcat(out, ":");
                strcat(out, s->openssl);
        }
        if (n == 0) {
                error_message_set(error, "empty cipher suite list");
                return -EINVAL;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

const char *engine_cipher_iana_name(const char *name) {
        const Suite *s = find_suite(name);

        return s ? s->iana : name;
}
