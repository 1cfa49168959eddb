/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wolfSSL glue. Global library state (wolfSSL_Init) is process-wide by wolfSSL's design; it is
 * set up once in main() before any worker exists and torn down last.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>

#include <errno.h>
#include <stdio.h>

#include "engine.h"
#include "log.h"

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
        *ret = (EngineFeatures) {
#ifdef WOLFSSL_AESNI
                .aesni = true,
#endif
#ifdef WOLFSSL_DTLS13
                .dtls13 = true,
#endif
#ifdef WOLFSSL_DTLS_CID
                .dtls_cid = true,
#endif
        };
}
