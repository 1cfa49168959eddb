/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TLS engine boundary: the only part of tlsd that includes wolfSSL headers. The rest of the
 * daemon sees tlsd types and negative errno values.
 */
#pragma once

#include <stdbool.h>

int engine_global_init(void);
void engine_global_done(void);

/* "wolfSSL 5.7.2" */
const char *engine_library_version(void);

typedef struct EngineFeatures {
        bool aesni;
        bool dtls13;
        bool dtls_cid;
} EngineFeatures;

void engine_features(EngineFeatures *ret);
