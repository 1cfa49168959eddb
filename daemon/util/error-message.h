/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Core operations explain a failure in a caller-provided buffer of ERROR_MESSAGE_MAX bytes, which
 * the adapters send to the client beside the error code. NULL means nobody wants it.
 */
#pragma once

#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

#define ERROR_MESSAGE_MAX 256

_printf_(2, 3) static inline void error_message_set(char *error, const char *fmt, ...) {
        va_list ap;

        if (!error)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(error, ERROR_MESSAGE_MAX, fmt, ap);
        va_end(ap);
}
