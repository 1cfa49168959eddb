/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generic cryptography for the rest of the daemon, from the kernel and wolfCrypt: random bytes
 * (ticket ids, ticket keys) and SHA-256 (policy hashes, the state files' trailer). It lives in
 * the engine because the engine is the only code that includes wolfSSL headers.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "engine/engine-crypto.h"

/* The kernel's CSPRNG: one syscall, no state to keep. (A wolfCrypt RNG set up per call opened
 * /dev/urandom each time: about 115 K instructions and 3 syscalls per ticket.) */
int engine_random(void *buf, size_t size) {
        uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = getrandom(p, size, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int engine_sha256(const void *buf, size_t size, uint8_t out[32]) {
        const uint8_t *p = buf;
        wc_Sha256 sha;
        int r;

        if (wc_InitSha256(&sha) != 0)
                return -EIO;
        r = 0;
        while (r == 0 && size > 0) {
                word32 n = size > UINT32_MAX ? UINT32_MAX : (word32) size;

                r = wc_Sha256Update(&sha, p, n);
                p += n;
                size -= n;
        }
        if (r == 0)
                r = wc_Sha256Final(&sha, out);
        wc_Sha256Free(&sha);
        return r == 0 ? 0 : -EIO;
}
