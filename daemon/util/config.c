/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration file parsing with inih. inih does the INI syntax; this file owns the keys, their
 * value checks and the FILE:LINE error messages. inih does not report line numbers to the
 * handler, so a counting reader feeds it.
 */
#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <pwd.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/config.h"
#include "util/log.h"

int config_new(Config **ret) {
        Config *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->log_level = LOG_INFO;
        c->max_clients = 1024;
        c->max_clients_per_uid = 64;
        c->client_queue_bytes = 4u * 1024 * 1024;
        c->max_protocol_errors = 16;
        c->max_sessions_per_client = 256;
        c->max_trust_anchors_per_session = 256;
        c->max_trust_bytes_per_session = 256 * 1024;
        c->max_connections_per_uid = 4096;
        c->max_pending_handshakes_per_uid = 256;
        c->handshake_timeout_ms = 30000;
        c->listener_max_pending = 128;
        c->listener_max_connections = 1024;
        c->max_listeners_per_uid = 64;
        c->max_listeners = 1024;
        c->max_lookups_per_uid = 8;
        c->max_lookups = 64;
        c->tickets_persist = true;
        c->ticket_cache_entries_per_uid = 64;
        c->ticket_cache_entries = 4096;
        c->ticket_max_age_sec = 7 * 24 * 3600;
        c->ticket_key_rotation_sec = 12 * 3600;
        c->ticket_key_grace_sec = 24 * 3600;
        c->min_rsa_key_bits = 2048;
        c->min_ecc_key_bits = 256;
        *ret = c;
        return 0;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->runtime_dir);
        free(c->state_dir);
        free(c->socket_group);
        free(c->privileged_port_users);
        free(c->dbus_address);
        free(c);
        return NULL;
}

typedef struct Parser {
        Config *config;
        FILE *file;
        FILE *errors;
        const char *path;
        unsigned line;
        unsigned n_errors;
        unsigned bus_line, address_line; /* where [DBus] Bus= and Address= were set */
} Parser;

static char *counting_reader(char *str, int num, void *stream) {
        Parser *p = stream;
        char *s = fgets(str, num, p->file);

        if (s && strchr(s, '\n'))
                p->line++;
        else if (s && feof(p->file))
                p->line++; /* last line without newline */
        return s;
}

static int parse_unsigned(const char *v, unsigned long long min, unsigned long long max,
                          unsigned long long *ret) {
        unsigned long long x;
        char *end;

        if (!*v || *v == '-' || *v == '+')
                return -EINVAL;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno != 0 || end == v)
                return -EINVAL;
        /* optional binary size suffix */
        if (*end) {
                unsigned long long mul;

                if (strcmp(end, "K") == 0)
                        mul = 1024ULL;
                else if (strcmp(end, "M") == 0)
                        mul = 1024ULL * 1024;
                else if (strcmp(end, "G") == 0)
                        mul = 1024ULL * 1024 * 1024;
                else
                        return -EINVAL;
                if (x > ULLONG_MAX / mul)
                        return -ERANGE;
                x *= mul;
        }
        if (x < min || x > max)
                return -ERANGE;
        *ret = x;
        return 0;
}

typedef enum KeyType {
        KEY_STRING,
        KEY_UNSIGNED,
        KEY_SIZE,
        KEY_LOG_LEVEL,
        KEY_PATH,
        KEY_USERS,
        KEY_DBUS,
        KEY_BOOL,
        KEY_EARLY_DATA,
        KEY_BUS_ADDRESS,
} KeyType;

typedef struct Key {
        const char *section;
        const char *name;
        KeyType type;
        size_t offset;
        unsigned long long min, max;
} Key;

#define KEY(s, n, t, field, lo, hi)                                                                \
        { s, n, t, offsetof(Config, field), lo, hi }

static const Key keys[] = {
        KEY("Daemon", "RuntimeDirectory", KEY_PATH, runtime_dir, 0, 0),
        KEY("Daemon", "StateDirectory", KEY_PATH, state_dir, 0, 0),
        KEY("Daemon", "LogLevel", KEY_LOG_LEVEL, log_level, 0, 0),
        KEY("Daemon", "SocketGroup", KEY_STRING, socket_group, 0, 0),
        KEY("Limits", "MaxClients", KEY_UNSIGNED, max_clients, 1, 1000000),
        KEY("Limits", "MaxClientsPerUser", KEY_UNSIGNED, max_clients_per_uid, 1, 1000000),
        KEY("Limits", "ClientQueueBytes", KEY_SIZE, client_queue_bytes, 64 * 1024,
            1024ULL * 1024 * 1024),
        KEY("Limits", "MaxProtocolErrors", KEY_UNSIGNED, max_protocol_errors, 1, 1000000),
        KEY("Limits", "MaxSessionsPerClient", KEY_UNSIGNED, max_sessions_per_client, 1, 1000000),
        KEY("Limits", "MaxTrustAnchorsPerSession", KEY_UNSIGNED, max_trust_anchors_per_session, 1,
            1000000),
        KEY("Limits", "MaxTrustBytesPerSession", KEY_SIZE, max_trust_bytes_per_session, 1024,
            1024ULL * 1024 * 1024),
        KEY("Limits", "MaxConnectionsPerUser", KEY_UNSIGNED, max_connections_per_uid, 1, 10000000),
        KEY("Limits", "MaxPendingHandshakesPerUser", KEY_UNSIGNED, max_pending_handshakes_per_uid,
            1, 1000000),
        KEY("Limits", "HandshakeTimeoutMSec", KEY_UNSIGNED, handshake_timeout_ms, 100, 600000),
        KEY("Limits", "ListenerMaxPending", KEY_UNSIGNED, listener_max_pending, 1, 1000000),
        KEY("Limits", "ListenerMaxConnections", KEY_UNSIGNED, listener_max_connections, 1,
            10000000),
        KEY("Limits", "MaxListenersPerUser", KEY_UNSIGNED, max_listeners_per_uid, 1, 1000000),
        KEY("Limits", "MaxListeners", KEY_UNSIGNED, max_listeners, 1, 1000000),
        KEY("Limits", "MaxNameLookupsPerUser", KEY_UNSIGNED, max_lookups_per_uid, 1, 10000),
        KEY("Limits", "MaxNameLookups", KEY_UNSIGNED, max_lookups, 1, 10000),
        KEY("Listen", "PrivilegedPortUsers", KEY_USERS, privileged_port_users, 0, 0),
        KEY("DBus", "Bus", KEY_DBUS, dbus_mode, 0, 0),
        KEY("DBus", "Address", KEY_BUS_ADDRESS, dbus_address, 0, 0),
        KEY("Tickets", "Persist", KEY_BOOL, tickets_persist, 0, 0),
        KEY("Tickets", "CacheEntriesPerUser", KEY_UNSIGNED, ticket_cache_entries_per_uid, 1,
            1000000),
        KEY("Tickets", "CacheEntries", KEY_UNSIGNED, ticket_cache_entries, 1, 10000000),
        /* RFC 8446 4.6.1: no TLS 1.3 ticket may be used after 7 days */
        KEY("Tickets", "MaxTicketAgeSec", KEY_UNSIGNED, ticket_max_age_sec, 1, 7 * 24 * 3600),
        KEY("Tickets", "KeyRotationSec", KEY_UNSIGNED, ticket_key_rotation_sec, 60, 30 * 24 * 3600),
        KEY("Tickets", "KeyGraceSec", KEY_UNSIGNED, ticket_key_grace_sec, 0, 30 * 24 * 3600),
        KEY("Tickets", "EarlyData", KEY_EARLY_DATA, early_data, 0, 0),
        /* Raise only: below these a key is weak (NIST SP 800-57: 112-bit security) */
        KEY("Tls", "MinRSAKeyBits", KEY_UNSIGNED, min_rsa_key_bits, 2048, 16384),
        KEY("Tls", "MinECCKeyBits", KEY_UNSIGNED, min_ecc_key_bits, 256, 521),
};

/* A D-Bus address as sd-bus takes it: one or more "transport:key=value,..." separated by ';'
 * (the D-Bus specification's syntax), with a transport sd-bus knows. sd-bus has no validator of
 * its own and reports a malformed address only when tlsd starts; this catches the mistakes
 * --check-config can (a path where an address belongs, a misspelt transport, a missing "=").
 * On failure *why says what is wrong. */
static bool bus_address_valid(const char *address, const char **why) {
        static const char *const transports[] = { "unix", "tcp", "unixexec", "x-machine-unix" };
        static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-_/\\.%*";
        const char *p = address;

        do {
                size_t n = strcspn(p, ":;");
                bool known = false;

                if (p[n] != ':') {
                        *why = "expected TRANSPORT:KEY=VALUE, e.g. unix:path=/run/dbus/"
                               "system_bus_socket";
                        return false;
                }
                for (size_t i = 0; i < ELEMENTSOF(transports); i++)
                        if (strlen(transports[i]) == n && strncmp(p, transports[i], n) == 0)
                                known = true;
                if (!known) {
                        *why = "unknown transport: expected unix:, tcp:, unixexec: or "
                               "x-machine-unix:";
                        return false;
                }
                p += n + 1;
                /* KEY=VALUE pairs, ',' between them; values are escaped with %XX */
                for (;;) {
                        size_t k = strcspn(p, "=,;"), v;

                        if (k == 0 || p[k] != '=') {
                                *why = "expected KEY=VALUE after the transport, pairs separated "
                                       "by ','";
                                return false;
                        }
                        p += k + 1;
                        v = strspn(p, allowed);
                        if (v == 0 || (p[v] && p[v] != ',' && p[v] != ';')) {
                                *why = p[v] && v > 0 ? "a value has a character that must be "
                                                       "%-escaped"
                                                     : "a key has an empty value";
                                return false;
                        }
                        p += v;
                        if (*p != ',')
                                break;
                        p++;
                }
                if (*p == ';')
                        p++;
        } while (*p);
        return true;
}

/* 1 yes, 0 no, -EINVAL neither. */
static int parse_boolean(const char *v) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return 1;
                if (strcasecmp(v, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

_printf_(2, 3) static int parse_error(Parser *p, const char *fmt, ...) {
        va_list ap;

        p->n_errors++;
        if (!p->errors)
                return 1;
        fprintf(p->errors, "%s:%u: ", p->path, p->line);
        va_start(ap, fmt);
        vfprintf(p->errors, fmt, ap);
        va_end(ap);
        fputc('\n', p->errors);
        return 1; /* keep going: report every problem in one run */
}

static int set_key(Parser *p, const Key *k, const char *value) {
        void *field = (uint8_t *) p->config + k->offset;
        unsigned long long u;
        int r;

        switch (k->type) {
        case KEY_PATH:
                if (value[0] != '/')
                        return parse_error(p, "%s= must be an absolute path, got \"%s\"", k->name,
                                           value);
                _fallthrough_;
        case KEY_STRING: {
                char *s, **dst = field;

                if (!*value)
                        return parse_error(p, "%s= must not be empty", k->name);
                s = strdup(value);
                if (!s)
                        return 0;
                free(*dst);
                *dst = s;
                return 1;
        }
        case KEY_UNSIGNED:
        case KEY_SIZE:
                r = parse_unsigned(value, k->min, k->max, &u);
                if (r < 0)
                        return parse_error(p, "%s=%s is invalid: expected %s between %llu and %llu",
                                           k->name, value,
                                           k->type == KEY_SIZE ? "a size (optionally K, M, G)"
                                                               : "an integer",
                                           k->min, k->max);
                if (k->type == KEY_SIZE)
                        *(size_t *) field = (size_t) u;
                else
                        *(unsigned *) field = (unsigned) u;
                return 1;
        case KEY_USERS: {
                /* user names or numeric uids, space separated; resolved now, not per request */
                _cleanup_free_ char *copy = strdup(value);
                char *save = NULL;

                if (!copy)
                        return 0;
                for (char *w = strtok_r(copy, " \t,", &save); w;
                     w = strtok_r(NULL, " \t,", &save)) {
                        struct passwd *pw = getpwnam(w);
                        char *end;
                        unsigned long uid;
                        uid_t *a;

                        errno = 0;
                        uid = strtoul(w, &end, 10);
                        if (pw)
                                uid = pw->pw_uid;
                        else if (errno || *end || end == w || uid >= (uid_t) -1)
                                return parse_error(p, "%s=: no such user '%s'", k->name, w);
                        a = reallocarray(p->config->privileged_port_users,
                                         p->config->n_privileged_port_users + 1, sizeof(uid_t));
                        if (!a)
                                return 0;
                        a[p->config->n_privileged_port_users++] = (uid_t) uid;
                        p->config->privileged_port_users = a;
                }
                return 1;
        }
        case KEY_DBUS: {
                static const char *const names[] = { "auto", "system", "session", "none" };

                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (strcmp(value, names[i]) == 0) {
                                *(int *) field = (int) i;
                                p->bus_line = p->line;
                                return 1;
                        }
                return parse_error(p, "%s=%s is invalid: expected auto, system, session or none",
                                   k->name, value);
        }
        case KEY_BOOL:
                r = parse_boolean(value);
                if (r < 0)
                        return parse_error(p, "%s=%s is invalid: expected yes or no", k->name,
                                           value);
                *(bool *) field = r;
                return 1;
        case KEY_EARLY_DATA:
                /* 0-RTT data can be replayed by anyone who saw it; accepting it needs an
                 * anti-replay store (single-use tickets on the server), which tlsd lacks. */
                r = parse_boolean(value);
                if (r < 0)
                        return parse_error(p, "%s=%s is invalid: expected no", k->name, value);
                if (r > 0)
                        return parse_error(p,
                                           "%s=%s is not supported: 0-RTT data can be replayed "
                                           "and tlsd has no anti-replay store; only no",
                                           k->name, value);
                *(bool *) field = false;
                return 1;
        case KEY_BUS_ADDRESS: {
                const char *why = NULL;
                char **dst = field, *copy;

                if (!bus_address_valid(value, &why))
                        return parse_error(p, "%s=%s is not a D-Bus address: %s", k->name, value,
                                           why);
                copy = strdup(value);
                if (!copy)
                        return 0;
                free(*dst);
                *dst = copy;
                p->address_line = p->line;
                return 1;
        }
        case KEY_LOG_LEVEL:
                r = log_level_from_string(value);
                if (r < 0)
                        return parse_error(p,
                                           "%s=%s is invalid: expected debug, info, notice, "
                                           "warning, err, crit, alert, emerg or 0..7",
                                           k->name, value);
                *(int *) field = r;
                return 1;
        }
        return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        bool section_known = false;

        if (!name) /* section start (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
                return 1;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                if (strcmp(section, keys[i].section) != 0)
                        continue;
                section_known = true;
                if (strcmp(name, keys[i].name) == 0)
                        return set_key(p, &keys[i], value);
        }
        if (!section_known)
                return parse_error(p, "unknown section [%s] (key %s=)", section, name);
        return parse_error(p, "unknown key %s= in section [%s]", name, section);
}

int config_load_file(Config *c, const char *path, FILE *errors) {
        _cleanup_(fclosep) FILE *f = NULL;
        Parser p = { .config = c, .errors = errors, .path = path };
        struct stat st = {};
        int r;

        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                if (errors)
                        fprintf(errors, "%s: cannot open: %s\n", path, strerror(-r));
                return r;
        }
        /* fopen() opens a directory too, and reading it looks like an empty file. */
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
                r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
                if (errors)
                        fprintf(errors, "%s: not a configuration file: %s\n", path,
                                S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
                return r;
        }
        p.file = f;

        r = ini_parse_stream(counting_reader, &p, handler, &p);
        if (r > 0) {
                /* a syntax error inih found by itself (e.g. a line that is not key=value) */
                p.line = (unsigned) r;
                parse_error(&p, "syntax error: expected [Section] or Key=Value");
        } else if (r < 0) {
                parse_error(&p, "cannot parse file");
        }
        /* An address for a bus that is switched off would be ignored without a word. */
        if (c->dbus_mode == CONFIG_DBUS_NONE && c->dbus_address && (p.bus_line || p.address_line)) {
                p.line = p.bus_line > p.address_line ? p.bus_line : p.address_line;
                parse_error(&p, "[DBus] Bus=none turns D-Bus off, Address= names a bus to use: "
                                "remove one of them");
        }
        return p.n_errors > 0 ? -EINVAL : 0;
}

int config_resolve_runtime_dir(Config *c) {
        const char *e;
        char *d;

        if (c->runtime_dir)
                return 0;

        e = getenv("RUNTIME_DIRECTORY"); /* systemd's RuntimeDirectory= */
        if (e && *e) {
                /* may list several, separated by ':'; the first is ours */
                d = strndup(e, strcspn(e, ":"));
        } else if (geteuid() == 0) {
                d = strdup("/run/tlsd");
        } else {
                e = getenv("XDG_RUNTIME_DIR");
                if (!e || e[0] != '/')
                        return -ENXIO;
                if (asprintf(&d, "%s/tlsd", e) < 0)
                        d = NULL;
        }
        if (!d)
                return -ENOMEM;
        c->runtime_dir = d;
        return 0;
}

int config_state_directory(const Config *c, char **ret) {
        const char *e;
        char *d = NULL;

        if (c->state_dir)
                d = strdup(c->state_dir);
        else if ((e = getenv("STATE_DIRECTORY")) && *e)
                d = strndup(e, strcspn(e, ":")); /* may list several; the first is ours */
        else if (geteuid() == 0)
                d = strdup("/var/lib/tlsd");
        else if ((e = getenv("XDG_STATE_HOME")) && e[0] == '/') {
                if (asprintf(&d, "%s/tlsd", e) < 0)
                        d = NULL;
        } else {
                /* The XDG default; $HOME first, as the user may have pointed it elsewhere. */
                struct passwd *pw;

                e = getenv("HOME");
                if (!e || e[0] != '/') {
                        pw = getpwuid(geteuid());
                        e = pw ? pw->pw_dir : NULL;
                }
                if (!e || e[0] != '/')
                        return -ENXIO;
                if (asprintf(&d, "%s/.local/state/tlsd", e) < 0)
                        d = NULL;
        }
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}
