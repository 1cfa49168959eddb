/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's log sink. Process-wide by nature (like syslog(3)): one level, one target.
 *
 * Messages carry strings that clients and remote peers chose (host names, SNI, certificate
 * names, library error text). Every message is escaped C-style before it is written, so none
 * of them can start a line of its own or put terminal controls or bytes that are not ASCII
 * into the log.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "util/log.h"

static int max_level = LOG_INFO;
static bool to_journal;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end || v < LOG_EMERG || v > LOG_DEBUG)
                return -EINVAL;
        return (int) v;
}

const char *log_level_to_string(int level) {
        if (level < 0 || level > LOG_DEBUG)
                return "invalid";
        return level_names[level];
}

void log_open(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        to_journal = false;
        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return;
        if (fstat(STDERR_FILENO, &st) < 0)
                return;
        to_journal = (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

size_t log_escape(char *dst, size_t size, const char *src) {
        static const char hex[] = "0123456789abcdef", named[] = "\\\n\r\t", letter[] = "\\nrt";
        size_t n = 0;

        if (size == 0)
                return 0;
        for (const unsigned char *p = (const unsigned char *) src; *p; p++) {
                const char *q = strchr(named, *p);
                char e[4];
                size_t k = 0;

                if (q) {
                        e[k++] = '\\';
                        e[k++] = letter[q - named];
                } else if (*p < ' ' || *p >= 0x7f) {
                        e[k++] = '\\';
                        e[k++] = 'x';
                        e[k++] = hex[*p >> 4];
                        e[k++] = hex[*p & 15];
                } else
                        e[k++] = (char) *p;
                if (n + k >= size) {
                        /* cut: say so where there is room */
                        if (size >= 4) {
                                n = n > size - 4 ? size - 4 : n;
                                memcpy(dst + n, "...", 3);
                                n += 3;
                        }
                        break;
                }
                memcpy(dst + n, e, k);
                n += k;
        }
        dst[n] = 0;
        return n;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char buf[2048], escaped[sizeof(buf) * 4]; /* one byte becomes at most four */
        va_list ap;
        int saved = errno;

        if (error != 0)
                errno = abs(error); /* for %m */
        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        (void) log_escape(escaped, sizeof(escaped), buf);

        if (to_journal)
                (void) sd_journal_send("MESSAGE=%s", escaped, "PRIORITY=%i", level, "CODE_FILE=%s",
                                       file, "CODE_LINE=%i", line, "CODE_FUNC=%s", func,
                                       error ? "ERRNO=%i" : NULL, abs(error), NULL);
        else
                fprintf(stderr, "tlsd[%s]: %s\n", level_names[level & LOG_PRIMASK], escaped);

        errno = saved;
        return -abs(error);
}
