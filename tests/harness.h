/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Integration-test harness: runs the real tlsd on a private runtime directory, waits for its
 * sd_notify READY=1 on a notify socket of our own, and stops it with SIGTERM. Later features add
 * their tests on top of this (real peers, private D-Bus).
 */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct Daemon {
        pid_t pid;
        char dir[128]; /* temp dir: runtime/, notify socket, config */
        char runtime_dir[256];
        char socket_path[300];
        char notify_path[200];
        int notify_fd;
        uid_t uid;          /* run the daemon as this uid (root only); (uid_t)-1: ours */
        bool use_xdg;       /* pass XDG_RUNTIME_DIR instead of --runtime-dir */
        const char *config; /* contents of a config file to pass with --config, or NULL */
} Daemon;

/* Prepares d (call before setting uid/use_xdg/config). */
void daemon_init(Daemon *d);
/* Starts tlsd and waits up to 10 s for READY=1. Returns 0 or a negative errno. */
int daemon_start(Daemon *d);
/* SIGTERM; waits up to 5 s. Returns the exit status (or 128+signal), and the time it took. */
int daemon_stop(Daemon *d, long *ret_ms);
/* Removes the temp dir (after daemon_stop). */
void daemon_cleanup(Daemon *d);

/* Writes contents to path. */
void write_file(const char *path, const char *contents);
long now_ms(void);

/* Test cases that could not run. A program with one exits 77 (automake's SKIP), naming each in a
 * "SKIP: " line: a test that did not run is not a pass. */
typedef struct Skipped {
        char text[2048];
} Skipped;

/* Adds t to tc when we are root; else records "name: needs root (why)" in s. */
void harness_add_root_test(TCase *tc, const TTest *t, const char *name, const char *why,
                           Skipped *s);
/* Runs sr and frees it: EXIT_FAILURE if a test failed, else 77 if s records a skip or no test
 * ran, else EXIT_SUCCESS. */
int harness_run(SRunner *sr, const Skipped *s);
