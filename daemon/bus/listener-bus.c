/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.tlsd1.Listener on /org/tlsd1/listener/N: the D-Bus face of listener.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "core/core-query.h"
#include "core/listener.h"

/* The listener at path if caller may use it. */
static Listener *find_by_path(Bus *b, const Peer *caller, const char *path) {
        const char *e = bus_path_suffix(path, "/org/tlsd1/listener/");
        uint64_t id;

        if (!caller || !e || bus_parse_id(e, &id) < 0)
                return NULL;
        return core_find_listener(bus_core(b), caller, id);
}

static int method_close(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = bus_peer(userdata, m, error);
        Listener *l;

        if (!p)
                return -EACCES;
        l = find_by_path(userdata, p, sd_bus_message_get_path(m));
        if (!l)
                return bus_not_found(error, "listener");
        listener_free(l);
        return sd_bus_reply_method_return(m, NULL);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Peer buffer;
        Listener *l = find_by_path(userdata, bus_caller(userdata, &buffer), path);

        if (!l)
                return bus_not_found(error, "listener");
        if (strcmp(property, "Address") == 0)
                return sd_bus_message_append(reply, "s", l->address);
        if (strcmp(property, "Port") == 0)
                return sd_bus_message_append(reply, "u", l->port);
        if (strcmp(property, "Accepted") == 0)
                return sd_bus_message_append(reply, "t", l->n_accepted);
        if (strcmp(property, "Failed") == 0)
                return sd_bus_message_append(reply, "t", l->n_failed);
        if (strcmp(property, "Refused") == 0)
                return sd_bus_message_append(reply, "t", l->n_refused);
        return -EINVAL;
}

static const sd_bus_vtable listener_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Address", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Port", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Accepted", "t", property_get, 0, 0),
        SD_BUS_PROPERTY("Failed", "t", property_get, 0, 0),
        SD_BUS_PROPERTY("Refused", "t", property_get, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Close", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_close,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Accepted",
                                SD_BUS_ARGS("o", connection, "s", peer_address, "u", peer_port,
                                            "s", sni, "s", version, "s", cipher, "s",
                                            client_subject),
                                0),
        SD_BUS_VTABLE_END,
};

/* Every /org/tlsd1/listener/<number> answers, so that a call on one that does not exist, or is
 * another uid's, fails with org.tlsd1.Error.NotFound from the handler (which checks both) rather
 * than with UnknownObject. */
static int find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                void **found, sd_bus_error *error) {
        const char *e = bus_path_suffix(path, "/org/tlsd1/listener/");
        uint64_t id;

        if (!e || bus_parse_id(e, &id) < 0)
                return 0;
        *found = userdata;
        return 1;
}

static int enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                     sd_bus_error *error) {
        return bus_enumerate(userdata, "listener", nodes);
}

int listener_bus_register(Bus *b) {
        int r;

        r = sd_bus_add_fallback_vtable(bus_sd(b), NULL, "/org/tlsd1/listener", "org.tlsd1.Listener",
                                       listener_vtable, find, b);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(bus_sd(b), NULL, "/org/tlsd1/listener", enumerate, b);
}
