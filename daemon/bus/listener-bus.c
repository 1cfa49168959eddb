/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.tlsd1.Listener on /org/tlsd1/listener/N: the D-Bus face of listener.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "bus/bus-object.h"
#include "core/core-query.h"
#include "core/listener.h"

static int method_close(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Listener *l = bus_object_from_message(userdata, &listener_bus_object, m, error);

        if (!l)
                return -ENOENT;
        listener_free(l);
        return sd_bus_reply_method_return(m, NULL);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Listener *l = bus_object_find(userdata, &listener_bus_object, path);

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
                                SD_BUS_ARGS("o", connection, "s", peer_address, "u", peer_port, "s",
                                            sni, "s", version, "s", cipher, "s", client_subject),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("HandshakeFailed",
                                SD_BUS_ARGS("s", peer_address, "u", peer_port, "s", error, "s",
                                            message, "i", alert, "s", verification, "u",
                                            suppressed),
                                0),
        SD_BUS_VTABLE_END,
};

static void *find_listener(Core *core, const Peer *caller, uint64_t id) {
        return core_find_listener(core, caller, id);
}

const BusObjectType listener_bus_object = {
        .kind = "listener",
        .interface = "org.tlsd1.Listener",
        .vtable = listener_vtable,
        .core_kind = CORE_OBJECT_LISTENER,
        .find = find_listener,
};
