/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.tlsd1.Session on /org/tlsd1/session/N: the D-Bus face of session.c. Options arrive as
 * a{sv} with the same names as tlsd's Unix protocol attributes, in D-Bus CamelCase, and the
 * same size limits (proto.h): the session options table (session-options.h) gives both.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
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
#include "session-options.h"

/* One option's value, whose signature the caller checked against the row: a string or byte
 * array within the Unix socket's size limit (proto.h) for the row's attribute. */
static int read_option(sd_bus_message *m, const TlsdSessionOption *opt, SessionOptions *o,
                       sd_bus_error *error) {
        char what[64];
        const void *p;
        const char *str;
        size_t n;
        uint32_t u;
        int b, r;

        (void) snprintf(what, sizeof(what), "option '%s'", opt->key);
        switch (opt->type) {
        case TLSD_OPTION_BOOL:
                r = sd_bus_message_read(m, "b", &b);
                if (r >= 0)
                        tlsd_session_option_set_u32(o, opt, b != 0);
                return r;
        case TLSD_OPTION_U32:
        case TLSD_OPTION_VERSION:
                r = sd_bus_message_read(m, "u", &u);
                if (r >= 0)
                        tlsd_session_option_set_u32(o, opt, u);
                return r;
        case TLSD_OPTION_STRING:
                r = sd_bus_message_read(m, "s", &str);
                if (r < 0)
                        return r;
                if (bus_check_size(error, what, strlen(str), tlsd_session_option_max(opt)) < 0)
                        return -EINVAL;
                tlsd_session_option_set_str(o, opt, str);
                return 0;
        case TLSD_OPTION_BYTES:
                r = sd_bus_message_read_array(m, 'y', &p, &n);
                if (r < 0)
                        return r;
                if (bus_check_size(error, what, n, tlsd_session_option_max(opt)) < 0)
                        return -EINVAL;
                tlsd_session_option_set_bytes(o, opt, p, n);
                return 0;
        default:
                return -EINVAL;
        }
}

/* Reads a{sv} into o through the session options table (common/session-options.h): the key
 * names the row, the variant must have the row's signature. Strings and arrays point into m,
 * valid while m is. "Persistent" (D-Bus only) and the table's create-only options ("Transport",
 * as on the Unix socket, where Configure has no transport attribute) are CreateSession's only:
 * they are read when persistent is given, else refused. */
static int read_options(sd_bus_message *m, SessionOptions *o, int *persistent,
                        sd_bus_error *error) {
        int r;

        *o = (SessionOptions){};
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const TlsdSessionOption *opt;
                const char *key, *contents;
                bool is_persistent;
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
                opt = tlsd_session_option_by_key(key);
                is_persistent = strcmp(key, "Persistent") == 0;
                if (!persistent && (is_persistent || (opt && opt->create_only)))
                        return sd_bus_error_setf(error, "org.tlsd1.Error.InvalidArgument",
                                                 "option '%s' is fixed when the session is "
                                                 "created (CreateSession only)",
                                                 key);
                if (is_persistent && strcmp(contents, "b") == 0)
                        r = sd_bus_message_read(m, "b", persistent);
                else if (opt && strcmp(contents, tlsd_session_option_signature(opt)) == 0)
                        r = read_option(m, opt, o, error);
                else
                        return sd_bus_error_setf(error, "org.tlsd1.Error.InvalidArgument",
                                                 "unknown option '%s' of type '%s'", key, contents);
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
                        return bus_error(error, -EPERM,
                                         "only root may create persistent "
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
        r = sd_bus_message_read(m, "suuu", &address, &o.port, &o.max_pending, &o.max_connections);
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
        SD_BUS_METHOD_WITH_ARGS(
                "Listen",
                SD_BUS_ARGS("s", address, "u", port, "u", max_pending, "u", max_connections),
                SD_BUS_RESULT("o", listener, "u", port), method_listen, SD_BUS_VTABLE_UNPRIVILEGED),
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
