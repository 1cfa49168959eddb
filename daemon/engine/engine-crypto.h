/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Randomness and hashing for the daemon's own use (ticket ids and keys, policy hashes, state file
 * trailers). Free of wolfSSL includes, so that any layer above the engine can use it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Cryptographically strong random bytes from the kernel (getrandom(): no state in the process,
 * so nothing is shared across fork() or threads). A negative errno if the kernel fails. */
int engine_random(void *buf, size_t size);
/* SHA-256 of buf. -EIO on failure. */
int engine_sha256(const void *buf, size_t size, uint8_t out[32]);
