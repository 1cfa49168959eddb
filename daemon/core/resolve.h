/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host-name resolution that never blocks the event loop: numeric addresses are parsed inline,
 * names are looked up with getaddrinfo() on a short-lived thread that reports back through a
 * pipe watched by sd-event.
 */
#pragma once

#include <netdb.h>
#include <systemd/sd-event.h>

typedef struct ResolveQuery ResolveQuery;

/* result is freed by the callee after the callback returns; error is 0 or a negative errno
 * (-EADDRNOTAVAIL: no such host). */
typedef void (*resolve_cb)(ResolveQuery *q, int error, const struct addrinfo *result,
                           void *userdata);

int resolve_start(sd_event *e, const char *host, unsigned port, int family, resolve_cb cb,
                  void *userdata, ResolveQuery **ret);
/* Cancels a pending query (its callback never runs). Takes NULL. */
ResolveQuery *resolve_cancel(ResolveQuery *q);
