/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsctl: command-line client and admin tool for tlsd.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tlsd/client.h"

static const char *socket_path;

static void help(void) {
        printf("Usage: tlsctl [OPTIONS] COMMAND [ARGS]\n"
               "\n"
               "Talk to tlsd, the system TLS/DTLS service.\n"
               "\n"
               "Commands:\n"
               "  status            show the daemon's version and who it thinks you are\n"
               "  version           show the daemon's version, protocol and TLS library\n"
               "  ping [COUNT]      round-trip COUNT requests (default 1) and report timing\n"
               "  whoami            show the uid/gid/pid tlsd attributes your requests to\n"
               "\n"
               "Options:\n"
               "  -s, --socket=PATH control socket (default: $TLSD_SOCKET, /run/tlsd/tlsd.sock,\n"
               "                    or $XDG_RUNTIME_DIR/tlsd/tlsd.sock)\n"
               "  -h, --help        show this help\n"
               "  -V, --version     show tlsctl's version\n"
               "\n"
               "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n");
}

static int fail(tlsc_client *c, const char *what, int r) {
        const char *detail = c ? tlsc_last_error_message(c) : "";

        fprintf(stderr, "tlsctl: %s: %s%s%s\n", what, tlsd_strerror(r), *detail ? ": " : "",
                detail);
        return 1;
}

static int open_client(tlsc_client **ret) {
        const char *path = socket_path ? socket_path : tlsc_default_socket_path();
        int r = tlsc_open(path, ret);

        if (r < 0) {
                fprintf(stderr, "tlsctl: cannot connect to tlsd at %s: %s\n", path,
                        tlsd_strerror(r));
                return 1;
        }
        return 0;
}

static int cmd_version(tlsc_client *c) {
        tlsc_version v;
        int r = tlsc_get_version(c, &v);

        if (r < 0)
                return fail(c, "version", r);
        printf("tlsd %s\nprotocol %u\n%s\n", v.version, v.protocol, v.tls_library);
        return 0;
}

static int cmd_whoami(tlsc_client *c) {
        tlsc_identity id;
        int r = tlsc_whoami(c, &id);

        if (r < 0)
                return fail(c, "whoami", r);
        printf("uid=%u gid=%u pid=%d\n", (unsigned) id.uid, (unsigned) id.gid, (int) id.pid);
        return 0;
}

static int cmd_status(tlsc_client *c) {
        tlsc_version v;
        tlsc_identity id;
        int r;

        r = tlsc_get_version(c, &v);
        if (r < 0)
                return fail(c, "status", r);
        r = tlsc_whoami(c, &id);
        if (r < 0)
                return fail(c, "status", r);
        printf("tlsd %s (protocol %u, %s)\n", v.version, v.protocol, v.tls_library);
        printf("socket: %s\n", socket_path ? socket_path : tlsc_default_socket_path());
        printf("you: uid=%u gid=%u pid=%d\n", (unsigned) id.uid, (unsigned) id.gid, (int) id.pid);
        return 0;
}

static int cmd_ping(tlsc_client *c, int argc, char **argv) {
        unsigned long count = 1;
        struct timespec a, b;
        double ms;

        if (argc > 1) {
                char *end;

                errno = 0;
                count = strtoul(argv[1], &end, 10);
                if (errno || *end || count == 0 || count > 10000000) {
                        fprintf(stderr, "tlsctl: ping: invalid count '%s'\n", argv[1]);
                        return 2;
                }
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned long i = 0; i < count; i++) {
                int r = tlsc_ping(c, &i, sizeof(i));

                if (r < 0)
                        return fail(c, "ping", r);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms = (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6;
        printf("%lu pings in %.3f ms (%.1f us each)\n", count, ms, ms * 1e3 / (double) count);
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        tlsc_client *c = NULL;
        const char *cmd;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "+s:hV", options, NULL)) >= 0) {
                switch (opt) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("tlsctl %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'tlsctl --help' for more information.\n");
                        return 2;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "tlsctl: missing command\nTry 'tlsctl --help' for more "
                                "information.\n");
                return 2;
        }
        cmd = argv[optind];
        if (strcmp(cmd, "help") == 0) {
                help();
                return 0;
        }
        if (strcmp(cmd, "status") != 0 && strcmp(cmd, "version") != 0 &&
            strcmp(cmd, "ping") != 0 && strcmp(cmd, "whoami") != 0) {
                fprintf(stderr, "tlsctl: unknown command '%s'\nTry 'tlsctl --help' for more "
                                "information.\n", cmd);
                return 2;
        }

        r = open_client(&c);
        if (r != 0)
                return r;
        if (strcmp(cmd, "status") == 0)
                r = cmd_status(c);
        else if (strcmp(cmd, "version") == 0)
                r = cmd_version(c);
        else if (strcmp(cmd, "whoami") == 0)
                r = cmd_whoami(c);
        else
                r = cmd_ping(c, argc - optind, argv + optind);
        tlsc_close(c);
        return r;
}
