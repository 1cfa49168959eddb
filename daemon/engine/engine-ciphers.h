/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cipher-suite policy: which suites tlsd offers by default, which it allows only under the
 * per-session legacy opt-in, and which it refuses outright with the reason.
 */
#pragma once

#include <stdbool.h>

/* The default list in wolfSSL syntax: TLS 1.3 AEAD suites, TLS 1.2 (EC)DHE AEAD suites. */
const char *engine_default_cipher_list(void);
const char *engine_default_dtls_cipher_list(void);

/* Translates a user list (IANA or OpenSSL names, ':' or ',' separated) into wolfSSL syntax.
 * -EPROTONOSUPPORT for a refused suite, -EINVAL for an unknown one; error names it. */
int engine_ciphers_translate(const char *list, bool legacy, char **ret, char *error);

/* The IANA name for a wolfSSL/OpenSSL suite name (itself if unknown). */
const char *engine_cipher_iana_name(const char *name);
