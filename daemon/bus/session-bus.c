/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.tlsd1.Session on /org/tlsd1/session/N: the D-Bus face of session.c. Options arrive as
 * a{sv} with the same names as tlsd's Unix protocol attributes, in D-Bus CamelCase, and the
 * same size limits (proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "bus/bus-object.h"
#include "core/connection.h"
#include "util/error-message.h"
#include "core/core-query.h"
#include "core/listener.h"
#include "core/session.h"
#include "proto.h"

/* Reads a{sv} into o; strings and arrays point into m, valid while m is. "Persistent" and
 * "Transport" are CreateSession's only (as on the Unix socket, where Configure has no transport
 * attribute): they are read when persistent is given, else refused. */
static int read_options(sd_bus_message *m, SessionOptions *o, int *persistent,
                        sd_bus_error *error) {
        int r;

        *o = (SessionOptions) {};
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
#define BOOL(name, field)                                                                          \
        if (strcmp(key, name) == 0 && strcmp(contents, "b") == 0) {                                \
                int b_;                                                                            \
                r = sd_bus_message_read(m, "b", &b_);                                              \
                o->field = b_;                                                                     \
                goto next;                                                                         \
        }
/* strings and byte arrays: the Unix socket's size limits (proto.h) */
#define STR(name, field, max)                                                                      \
        if (strcmp(key, name) == 0 && strcmp(contents, "s") == 0) {                                \
                r = sd_bus_message_read(m, "s", &o->field);                                        \
                if (r >= 0 && bus_check_size(error, "option '" name "'", strlen(o->field),        \
                                             max) < 0)                                             \
                        return -EINVAL;                                                            \
                goto next;                                                                         \
        }
/* options whose presence is recorded in o->has_<flag> */
#define U32_SET(name, field, flag)                                                                 \
        if (strcmp(key, name) == 0 && strcmp(contents, "u") == 0) {                                \
                r = sd_bus_message_read(m, "u", &o->field);                                        \
                o->has_##flag = true;                                                              \
                goto next;                                                                         \
        }
#define BOOL_SET(name, field, flag)                                                                \
        if (strcmp(key, name) == 0 && strcmp(contents, "b") == 0) {                                \
                int b_;                                                                            \
                r = sd_bus_message_read(m, "b", &b_);                                              \
                o->field = b_;                                                                     \
                o->has_##flag = true;                                                              \
                goto next;                                                                         \
        }
#define BYTES(name, field, size, max)                                                              \
        if (strcmp(key, name) == 0 && strcmp(contents, "ay") == 0) {                               \
                r = sd_bus_message_read_array(m, 'y', &o->field, &o->size);                        \
                if (r >= 0 && bus_check_size(error, "option '" name "'", o->size, max) < 0)        \
                        return -EINVAL;                                                            \
                goto next;                                                                         \
        }
                if (strcmp(key, "VersionMin") == 0 || strcmp(key, "VersionMax") == 0) {
                        uint32_t v;

                        if (strcmp(contents, "u") != 0)
                                goto bad;
                        r = sd_bus_message_read(m, "u", &v);
                        if (!o->has_versions)
                                o->version_min = 0x0303, o->version_max = 0x0304;
                        o->has_versions = true;
                        if (key[7] == 'M' && key[8] == 'i')
                                o->version_min = v;
                        else
                                o->version_max = v;
                        goto next;
                }
                BOOL_SET("Legacy", legacy, legacy)
                U32_SET("VerifyMode", verify, verify)
                U32_SET("Compression", compression, compression)
                U32_SET("HandshakeTimeout", handshake_timeout_ms, handshake_timeout)
                U32_SET("ClientAuth", client_auth, client_auth)
                if (persistent && strcmp(key, "Persistent") == 0 && strcmp(contents, "b") == 0) {
                        r = sd_bus_message_read(m, "b", persistent);
                        goto next;
                }
                if (persistent && strcmp(key, "Transport") == 0 && strcmp(contents, "u") == 0) {
                        r = sd_bus_message_read(m, "u", &o->transport);
                        o->has_transport = true;
                        goto next;
                }
                if (!persistent && (strcmp(key, "Persistent") == 0 ||
                                    strcmp(key, "Transport") == 0))
                        return sd_bus_error_setf(error, "org.tlsd1.Error.InvalidArgument",
                                                 "option '%s' is fixed when the session is "
                                                 "created (CreateSession only)", key);
                /* DTLS: the retransmission schedule (ms), path MTU, Connection ID */
                U32_SET("DtlsTimeoutInitial", dtls_timeout_initial_ms, dtls_timeout_initial)
                U32_SET("DtlsTimeoutMax", dtls_timeout_max_ms, dtls_timeout_max)
                U32_SET("DtlsRetries", dtls_retries, dtls_retries)
                U32_SET("Mtu", mtu, mtu)
                BOOL_SET("DtlsCid", dtls_cid, dtls_cid)
                U32_SET("IdleTimeout", idle_timeout_ms, idle_timeout)
                /* client: automatic resumption from tlsd's ticket cache (default true) */
                BOOL_SET("Resume", resume, resume)
                STR("Ciphers", ciphers, TLSD_CIPHERS_MAX)
                STR("Groups", groups, TLSD_GROUPS_MAX)
                BYTES("Certificate", cert, cert_size, TLSD_CERT_MAX)
                BYTES("Key", key, key_size, TLSD_KEY_MAX)
                STR("KeyPassword", key_password, TLSD_KEY_PASSWORD_MAX)
                STR("PskIdentity", psk_identity, TLSD_PSK_IDENTITY_MAX)
                BYTES("PskKey", psk_key, psk_key_size, TLSD_PSK_KEY_MAX)
                BYTES("CA", ca, ca_size, TLSD_CA_MAX)
                BOOL("SystemTrust", system_trust)
                BYTES("Pin", pin, pin_size, TLSD_PIN_MAX)
                STR("ALPN", alpn, TLSD_ALPN_MAX)
                STR("ServerName", server_name, TLSD_NAME_MAX)
#undef BOOL
#undef U32_SET
#undef BOOL_SET
#undef STR
#undef BYTES
        bad:
                return sd_bus_error_setf(error, "org.tlsd1.Error.InvalidArgument",
                                         "unknown option '%s' of type '%s'", key, contents);
        next:
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int session_bus_create(Bus *b, sd_bus_message *m, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        _cleanup_free_ char *path = NULL;
        SessionOptions o;
        Peer *p = bus_peer(b, m, error);
        Session *s;
        uint32_t role;
        int r;

        if (!p)
                return -EACCES;
        int persistent = false;

        r = sd_bus_message_read(m, "u", &role);
        if (r < 0)
                return r;
        r = read_options(m, &o, &persistent, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        if (persistent) {
                /* outlives its creator's bus connection: an administrator's decision */
                if (p->uid != 0)
                        return bus_error(error, -EPERM, "only root may create persistent "
                                                        "sessions");
                p = bus_persistent_peer(b, p->uid, error);
                if (!p)
                        return -ENOMEM;
        }
        r = session_new(p, role, &o, message, &s);
        if (r < 0)
                return bus_error(error, r, message);
        path = bus_object_path("session", s->id);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_configure(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        Session *s = bus_object_from_message(userdata, &session_bus_object, m, error);
        SessionOptions o;
        int r;

        if (!s)
                return -ENOENT;
        r = read_options(m, &o, NULL, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        r = session_configure(s, &o, message);
        if (r < 0)
                return bus_error(error, r, message);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_destroy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Session *s = bus_object_from_message(userdata, &session_bus_object, m, error);

        if (!s)
                return -ENOENT;
        session_free(s); /* its connections' streams go with them (bus_released) */
        return sd_bus_reply_method_return(m, NULL);
}

static int method_create_connection(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        _cleanup_free_ char *path = NULL;
        Session *s = bus_object_from_message(userdata, &session_bus_object, m, error);
        Connection *c;
        uint32_t family;
        int r;

        if (!s)
                return -ENOENT;
        r = sd_bus_message_read(m, "u", &family);
        if (r < 0)
                return r;
        r = connection_new(s, (int) family, message, &c);
        if (r < 0)
                return bus_error(error, r, message);
        path = bus_object_path("connection", c->id);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_listen(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        _cleanup_free_ char *path = NULL;
        Session *s = bus_object_from_message(userdata, &session_bus_object, m, error);
        ListenerOptions o = {};
        const char *address;
        Listener *l;
        int r;

        if (!s)
                return -ENOENT;
        r = sd_bus_message_read(m, "suuu", &address, &o.port, &o.max_pending,
                                &o.max_connections);
        if (r < 0)
                return r;
        if (bus_check_size(error, "address", strlen(address), TLSD_ADDRESS_MAX) < 0)
                return -EINVAL;
        o.address = *address ? address : NULL;
        r = listener_new(s, &o, message, &l);
        if (r < 0)
                return bus_error(error, r, message);
        path = bus_object_path("listener", l->id);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "ou", path, (uint32_t) l->port);
}

static int method_adopt(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char message[ERROR_MESSAGE_MAX] = "";
        _cleanup_free_ char *path = NULL;
        Session *s = bus_object_from_message(userdata, &session_bus_object, m, error);
        const char *host, *sni;
        Connection *c;
        int fd, r;

        if (!s)
                return -ENOENT;
        r = sd_bus_message_read(m, "hss", &fd, &host, &sni);
        if (r < 0)
                return r;
        if (bus_check_size(error, "host", strlen(host), TLSD_NAME_MAX) < 0 ||
            bus_check_size(error, "server name", strlen(sni), TLSD_NAME_MAX) < 0)
                return -EINVAL;
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3); /* the message owns the one it carries */
        if (fd < 0)
                return -errno;
        r = connection_adopt(s, fd, *host ? host : NULL, *sni ? sni : NULL, message, &c);
        if (r < 0)
                return bus_error(error, r, message);
        path = bus_object_path("connection", c->id);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "o", path);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Session *s = bus_object_find(userdata, &session_bus_object, path);

        if (!s)
                return bus_not_found(error, "session");
        if (strcmp(property, "Role") == 0)
                return sd_bus_message_append(reply, "s",
                                             s->role == ENGINE_SERVER ? "server" : "client");
        if (strcmp(property, "Transport") == 0)
                return sd_bus_message_append(reply, "s", s->dtls ? "dtls" : "tls");
        if (strcmp(property, "Owner") == 0)
                return sd_bus_message_append(reply, "u", (uint32_t) s->owner->uid);
        if (strcmp(property, "Connections") == 0)
                return sd_bus_message_append(reply, "u", s->n_connections);
        return -EINVAL;
}

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Role", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Transport", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Connections", "u", property_get, 0, 0),
        /* keys and passwords: sd-bus wipes the message when it frees it */
        SD_BUS_METHOD_WITH_ARGS("Configure", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                method_configure,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("CreateConnection", SD_BUS_ARGS("u", family),
                                SD_BUS_RESULT("o", connection), method_create_connection,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Listen",
                                SD_BUS_ARGS("s", address, "u", port, "u", max_pending, "u",
                                            max_connections),
                                SD_BUS_RESULT("o", listener, "u", port), method_listen,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Adopt", SD_BUS_ARGS("h", socket, "s", host, "s", server_name),
                                SD_BUS_RESULT("o", connection), method_adopt,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Destroy", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_destroy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static void *find_session(Core *core, const Peer *caller, uint64_t id) {
        return core_find_session(core, caller, id);
}

const BusObjectType session_bus_object = {
        .kind = "session",
        .interface = "org.tlsd1.Session",
        .vtable = session_vtable,
        .core_kind = CORE_OBJECT_SESSION,
        .find = find_session,
};
