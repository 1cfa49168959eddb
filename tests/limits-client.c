/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A libtlsclient client for tests/test-limits.sh: the requests a hostile local user would make
 * to exhaust tlsd, that tlsctl has no command for. Each command prints one line per outcome,
 * and a refusal as "refused: NAME: MESSAGE" (the error's name and the daemon's explanation), so
 * the script can check both.
 *
 *   listeners ADDRESS CERT KEY COUNT [dtls]
 *       opens listeners on ADDRESS port 0 in one client until COUNT are open or one is refused;
 *       prints "opened N" (and the refusal), then "holding" and keeps them until stdin ends.
 *   bind-connect BIND-ADDRESS BIND-PORT HOST PORT [dtls]
 *       a client connection bound to BIND-ADDRESS:BIND-PORT, connecting to HOST:PORT; prints
 *       "bound" or the refusal, then "connect requested" or the refusal, then waits up to 5 s
 *       for the handshake's outcome (the test's peer is no TLS server: it only notes who came).
 *   lookups HOST PORT COUNT
 *       COUNT times: create a connection, connect it to HOST:PORT, destroy it at once. Prints
 *       "started N refused M" and the first refusal.
 *   connect-twice HOST PORT
 *       one connection of a session that pins the peer's key (so Connect reads no trust store),
 *       Connect twice (the second after the first was refused), then destroy; prints each
 *       outcome.
 *
 * With LIMITS_CLIENT_WAIT set, the client connects to tlsd, then waits for a line on stdin
 * before the command: the test can change tlsd's limits in between.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsd/client.h"

static int read_file(const char *path, char **ret, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf;
        size_t size = 0, n;

        if (!f) {
                fprintf(stderr, "limits-client: %s: %s\n", path, strerror(errno));
                return -1;
        }
        buf = malloc(1024 * 1024);
        if (!buf) {
                fclose(f);
                return -1;
        }
        while ((n = fread(buf + size, 1, 1024 * 1024 - size, f)) > 0)
                size += n;
        fclose(f);
        *ret = buf;
        *ret_size = size;
        return 0;
}

static void print_refusal(tlsc_client *c, int r) {
        printf("refused: %s: %s\n", tlsd_error_name(r), tlsc_last_error_message(c));
        fflush(stdout);
}

static void wait_stdin_eof(void) {
        char buf[256];

        while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
                ;
}

static int cmd_listeners(tlsc_client *c, char **argv, int argc) {
        tlsc_session_options o = {};
        char *cert = NULL, *key = NULL;
        uint64_t session, listener;
        unsigned count, port, n = 0;
        int r;

        if (argc < 4)
                return 2;
        if (read_file(argv[1], &cert, &o.cert_size) < 0 ||
            read_file(argv[2], &key, &o.key_size) < 0)
                return 2;
        count = (unsigned) strtoul(argv[3], NULL, 10);
        o.cert = cert;
        o.key = key;
        if (argc > 4 && strcmp(argv[4], "dtls") == 0)
                o.transport = TLSC_TRANSPORT_DTLS;
        r = tlsc_session_create(c, TLSC_ROLE_SERVER, &o, &session);
        free(cert);
        free(key);
        if (r < 0) {
                print_refusal(c, r);
                return 1;
        }
        while (n < count) {
                r = tlsc_listen(c, session, argv[0], 0, NULL, &listener, &port);
                if (r < 0)
                        break;
                n++;
        }
        printf("opened %u\n", n);
        if (n < count)
                print_refusal(c, r);
        printf("holding\n");
        fflush(stdout);
        wait_stdin_eof();
        return 0;
}

static int cmd_bind_connect(tlsc_client *c, char **argv, int argc) {
        tlsc_session_options o = {};
        uint64_t session, conn;
        int r;

        if (argc < 4)
                return 2;
        if (argc > 4 && strcmp(argv[4], "dtls") == 0) {
                o.transport = TLSC_TRANSPORT_DTLS;
                o.dtls_timeout_initial_ms = 200;
                o.dtls_retries = 1;
        }
        o.handshake_timeout_ms = 3000;
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &session);
        if (r >= 0)
                r = tlsc_connection_create(c, session, AF_UNSPEC, &conn);
        if (r < 0) {
                print_refusal(c, r);
                return 1;
        }
        r = tlsc_connection_bind(c, conn, argv[0], (unsigned) strtoul(argv[1], NULL, 10));
        if (r < 0) {
                print_refusal(c, r);
                return 1;
        }
        printf("bound\n");
        r = tlsc_connection_connect(c, conn, argv[2], (unsigned) strtoul(argv[3], NULL, 10), NULL);
        if (r < 0) {
                print_refusal(c, r);
                return 1;
        }
        printf("connect requested\n");
        fflush(stdout);
        /* The peer notes the source port as soon as the first packet arrives; the outcome of
         * the handshake does not matter. */
        for (int i = 0; i < 50; i++) {
                struct pollfd p = { .fd = tlsc_get_fd(c), .events = tlsc_get_events(c) };

                if (poll(&p, 1, 100) > 0 && tlsc_dispatch(c) < 0)
                        break;
        }
        return 0;
}

static int cmd_lookups(tlsc_client *c, char **argv, int argc) {
        tlsc_session_options o = { .no_resume = 1 };
        unsigned count, started = 0, refused = 0;
        uint64_t session, conn;
        char first[1200] = "";
        int r;

        if (argc < 3)
                return 2;
        count = (unsigned) strtoul(argv[2], NULL, 10);
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &session);
        if (r < 0) {
                print_refusal(c, r);
                return 1;
        }
        for (unsigned i = 0; i < count; i++) {
                r = tlsc_connection_create(c, session, AF_UNSPEC, &conn);
                if (r < 0) {
                        print_refusal(c, r);
                        return 1;
                }
                r = tlsc_connection_connect(c, conn, argv[0], (unsigned) strtoul(argv[1], NULL, 10),
                                            NULL);
                if (r < 0) {
                        if (refused++ == 0)
                                (void) snprintf(first, sizeof(first), "%s: %s", tlsd_error_name(r),
                                                tlsc_last_error_message(c));
                } else
                        started++;
                r = tlsc_connection_destroy(c, conn);
                if (r < 0) {
                        print_refusal(c, r);
                        return 1;
                }
        }
        printf("started %u refused %u\n", started, refused);
        if (refused > 0)
                printf("refused: %s\n", first);
        return 0;
}

static int cmd_connect_twice(tlsc_client *c, char **argv, int argc) {
        static const unsigned char pin[32];
        tlsc_session_options o = { .no_resume = 1, .verify_mode = TLSC_VERIFY_PINNED, .pin = pin };
        uint64_t session, conn;
        int r;

        if (argc < 2)
                return 2;
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &session);
        if (r >= 0)
                r = tlsc_connection_create(c, session, AF_UNSPEC, &conn);
        if (r < 0) {
                print_refusal(c, r);
                return 1;
        }
        for (int i = 0; i < 2; i++) {
                r = tlsc_connection_connect(c, conn, argv[0], (unsigned) strtoul(argv[1], NULL, 10),
                                            NULL);
                if (r < 0)
                        print_refusal(c, r);
                else
                        printf("connect requested\n");
        }
        r = tlsc_connection_destroy(c, conn);
        if (r < 0)
                print_refusal(c, r);
        return 0;
}

int main(int argc, char **argv) {
        tlsc_client *c = NULL;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: limits-client COMMAND ARGS... (see the source)\n");
                return 2;
        }
        r = tlsc_open(NULL, &c);
        if (r < 0) {
                printf("open failed: %s\n", tlsd_strerror(r));
                return 1;
        }
        tlsc_set_timeout(c, 60000);
        if (getenv("LIMITS_CLIENT_WAIT")) {
                char line[64];

                if (!fgets(line, sizeof(line), stdin))
                        return 1;
        }
        if (strcmp(argv[1], "listeners") == 0)
                r = cmd_listeners(c, argv + 2, argc - 2);
        else if (strcmp(argv[1], "bind-connect") == 0)
                r = cmd_bind_connect(c, argv + 2, argc - 2);
        else if (strcmp(argv[1], "lookups") == 0)
                r = cmd_lookups(c, argv + 2, argc - 2);
        else if (strcmp(argv[1], "connect-twice") == 0)
                r = cmd_connect_twice(c, argv + 2, argc - 2);
        else
                r = 2;
        if (r == 2)
                fprintf(stderr, "limits-client: bad command or arguments\n");
        tlsc_close(c);
        return r;
}
