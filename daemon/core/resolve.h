/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host-name resolution that never blocks the event loop: numeric addresses are parsed inline,
 * names are looked up with getaddrinfo() on a short-lived thread that reports back to the
 * Resolver, whose one pipe is watched by sd-event.
 *
 * A lookup holds a thread (and, inside getaddrinfo(), descriptors) until getaddrinfo() returns,
 * however long the name servers take and whether or not anybody still wants the answer. So the
 * Resolver counts each lookup from its start until its thread has finished, also after it was
 * cancelled, and refuses new ones beyond a limit per uid and a limit for the whole daemon
 * (-EUSERS): a user cannot pile up threads by connecting to a slow name and giving up, again
 * and again.
 */
#pragma once

#include <netdb.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct Resolver Resolver;
typedef struct ResolveQuery ResolveQuery;

/* result is freed by the callee after the callback returns; error is 0 or a negative errno
 * (-EADDRNOTAVAIL: no such host). */
typedef void (*resolve_cb)(ResolveQuery *q, int error, const struct addrinfo *result,
                           void *userdata);

/* max_total: lookups in progress in the daemon, max_per_uid: of one uid. */
int resolver_new(sd_event *e, unsigned max_total, unsigned max_per_uid, Resolver **ret);
/* Lookups still running finish on their own (their callbacks never run); the last one frees
 * what is left. Takes NULL. */
Resolver *resolver_free(Resolver *r);
/* Lookups counted now: started and their thread not yet finished. */
unsigned resolver_n_running(const Resolver *r);

/* Starts resolving host for uid. -EUSERS (with error set) when uid or the daemon has as many
 * lookups in progress as allowed; an address literal is never refused that way. */
int resolve_start(Resolver *r, uid_t uid, const char *host, unsigned port, int family,
                  resolve_cb cb, void *userdata, char *error, ResolveQuery **ret);
/* Cancels a pending query: its callback never runs; its thread, if any, still counts until it
 * finishes. Takes NULL. */
ResolveQuery *resolve_cancel(ResolveQuery *q);
