/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One time unit for the daemon: microseconds in a usec_t, as sd-event counts them. Timestamps
 * say which clock they are from: CLOCK_MONOTONIC for durations and timers, CLOCK_REALTIME for
 * what is stored across restarts (ticket expiry, key ages).
 */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_PER_MSEC ((usec_t) 1000)
#define USEC_PER_SEC ((usec_t) 1000000)

static inline usec_t timespec_to_usec(const struct timespec *ts) {
        return (usec_t) ts->tv_sec * USEC_PER_SEC + (usec_t) ts->tv_nsec / 1000u;
}

static inline usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return timespec_to_usec(&ts);
}
