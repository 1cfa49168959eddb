/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging: to the journal when stderr is connected to it (running under systemd), to stderr
 * otherwise. Levels are syslog priorities. Never log key material.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Re-checks $JOURNAL_STREAM against stderr; called once at start. */
void log_open(void);
/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit", "alert", "emerg" or 0..7. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

/* Copies src into dst (size bytes, NUL included) escaped C-style: backslash, \n, \r, \t as
 * such, other control characters and every byte above 0x7e as \xHH. A cut ends in "...".
 * Returns the length written. log_internal() applies it to every message. */
size_t log_escape(char *dst, size_t size, const char *src);

/* Returns -abs(error), so callers can `return log_error_errno(r, "...: %m")`; %m formats the
 * given error. Extra journal fields can be passed as "FIELD=value" strings via log_struct(). */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _level = (level), _e = (error);                                                \
                _level <= log_get_max_level()                                                      \
                        ? log_internal(_level, _e, __FILE__, __LINE__, __func__, __VA_ARGS__)      \
                        : -abs(_e);                                                                \
        })

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory")
