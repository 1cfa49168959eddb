/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd configuration: embedded defaults, overridden by an INI file (tlsd.conf(5)), overridden
 * by the command line. Parsing uses inih; every problem is reported as FILE:LINE: message.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define TLSD_DEFAULT_CONFIG_FILE SYSCONFDIR "/tlsd/tlsd.conf"

typedef enum ConfigDBus {
        CONFIG_DBUS_AUTO, /* system bus as root, session bus otherwise; none if unreachable */
        CONFIG_DBUS_SYSTEM,
        CONFIG_DBUS_SESSION,
        CONFIG_DBUS_NONE,
} ConfigDBus;

typedef struct Config {
        char *runtime_dir;    /* NULL: derived at start, see config_resolve_runtime_dir() */
        char *state_dir;      /* NULL: derived, see config_state_directory() */
        int log_level;        /* syslog priority */
        char *socket_group;   /* group of tlsd.sock; NULL: the daemon's own */
        unsigned max_clients; /* control connections, all users */
        unsigned max_clients_per_uid;
        size_t client_queue_bytes;    /* replies/events queued to a slow client before it is cut */
        unsigned max_protocol_errors; /* malformed messages before a client is cut */
        unsigned max_sessions_per_client; /* per control connection (client), see session_new() */
        unsigned max_trust_anchors_per_session; /* CA certificates a session is given */
        size_t max_trust_bytes_per_session;     /* and their bytes (the shared system store
                                                 * counts for neither) */
        unsigned max_connections_per_uid;
        unsigned max_pending_handshakes_per_uid;
        unsigned handshake_timeout_ms;
        unsigned listener_max_pending;     /* handshakes in progress per listener */
        unsigned listener_max_connections; /* live connections per listener */
        unsigned max_listeners_per_uid;    /* open listeners of one uid */
        unsigned max_listeners;            /* open listeners, all uids */
        unsigned max_lookups_per_uid;      /* name lookups in progress (threads) of one uid */
        unsigned max_lookups;              /* name lookups in progress, all uids */
        uid_t *privileged_port_users;      /* may listen on ports < 1024 (root always may) */
        int dbus_mode;                     /* ConfigDBus */
        char *dbus_address;                /* a specific bus (tests, containers); fatal if down */
        size_t n_privileged_port_users;
        /* [Tickets]: session resumption (ticket-cache.h, ticket-keys.h) */
        bool tickets_persist; /* cache and server keys kept in state_dir */
        unsigned ticket_cache_entries_per_uid;
        unsigned ticket_cache_entries;
        unsigned ticket_max_age_sec; /* cap on a cached ticket's life, on top of its own */
        unsigned ticket_key_rotation_sec;
        unsigned ticket_key_grace_sec;
        bool early_data; /* always false: no 0-RTT without anti-replay */
        /* [Tls]: the smallest peer (and own) keys, for every session; floors 2048 and 256 */
        unsigned min_rsa_key_bits;
        unsigned min_ecc_key_bits;
} Config;

int config_new(Config **ret);
Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}

/* Loads FILE over the current values. Errors are written to `errors` (one per line,
 * "FILE:LINE: message") and the call returns -EINVAL; -ENOENT if the file does not exist. */
int config_load_file(Config *c, const char *path, FILE *errors);

/* The directory for persistent state (tickets): state_dir if set, else the first directory in
 * $STATE_DIRECTORY (systemd's StateDirectory=), else /var/lib/tlsd as root, else
 * $XDG_STATE_HOME/tlsd, else ~/.local/state/tlsd. *ret is malloc'd. -ENXIO if none applies. */
int config_state_directory(const Config *c, char **ret);

/* Sets runtime_dir from $RUNTIME_DIRECTORY, else /run/tlsd as root, else $XDG_RUNTIME_DIR/tlsd,
 * unless already set. -ENXIO if none applies. */
int config_resolve_runtime_dir(Config *c);
