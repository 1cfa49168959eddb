/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * examples/connect.c: the libtlsclient example of README.md as a whole program. It asks tlsd for
 * a verified TLS channel to HOST:PORT, sends one line over the plaintext descriptor tlsd hands
 * back, and prints what the server answers until it closes.
 *
 *   cc connect.c $(pkg-config --cflags --libs tlsclient) -o connect
 *   ./connect HOST PORT [CA.pem [LINE]]
 *
 * Every call's result is checked, and a failure is reported with tlsd's own explanation
 * (tlsc_last_error_message(), or the message of the failed connect): tlsd_strerror() alone only
 * names the kind of error. The program is built by `make check` and run against a tlsd and an
 * openssl s_server by tests/test-example.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tlsd/client.h>

/* The whole file in a malloc'd buffer (CA bundles are small). */
static int read_file(const char *path, char **ret, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0, n;

        if (!f)
                return -errno;
        for (;;) {
                char *p = realloc(buf, size + 65536);

                if (!p) {
                        free(buf);
                        fclose(f);
                        return -ENOMEM;
                }
                buf = p;
                n = fread(buf + size, 1, 65536, f);
                size += n;
                if (n < 65536)
                        break;
        }
        fclose(f);
        *ret = buf;
        *ret_size = size;
        return 0;
}

/* Sends line, shuts the sending side (close_notify to the server), copies the answer to stdout. */
static int exchange(int fd, const char *line) {
        char buf[4096];
        ssize_t n;

        if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0)
                return -errno;
        if (shutdown(fd, SHUT_WR) < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
                        return -EIO;
        return n < 0 ? -errno : 0;
}

int main(int argc, char *argv[]) {
        const char *host, *line = argc > 4 ? argv[4] : "hello";
        char *ca_pem = NULL, *end;
        size_t ca_len = 0;
        unsigned long port;
        tlsc_client *c = NULL;
        tlsc_session_options o = {}; /* zeroed: secure defaults */
        tlsc_connection_info info;
        uint64_t s, conn;
        int r, fd, ret = 1;

        if (argc < 3 || argc > 5) {
                fprintf(stderr, "Usage: %s HOST PORT [CA.pem [LINE]]\n", argv[0]);
                return 2;
        }
        host = argv[1];
        errno = 0;
        port = strtoul(argv[2], &end, 10);
        if (errno || *end || port == 0 || port > 65535) {
                fprintf(stderr, "invalid port '%s'\n", argv[2]);
                return 2;
        }
        if (argc > 3) {
                r = read_file(argv[3], &ca_pem, &ca_len);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[3], strerror(-r));
                        return 1;
                }
                o.ca = ca_pem; /* trust these CAs (else the system's) */
                o.ca_size = ca_len;
        }

        r = tlsc_open(NULL, &c); /* $TLSD_SOCKET or the default */
        if (r < 0) {
                fprintf(stderr, "cannot connect to tlsd at %s: %s\n", tlsc_default_socket_path(),
                        strerror(errno));
                goto out;
        }
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &s); /* versions, suites, trust */
        if (r < 0) {
                fprintf(stderr, "session: %s: %s\n", tlsd_strerror(r), tlsc_last_error_message(c));
                goto out;
        }
        r = tlsc_connection_create(c, s, AF_UNSPEC, &conn);
        if (r < 0) {
                fprintf(stderr, "connection: %s: %s\n", tlsd_strerror(r),
                        tlsc_last_error_message(c));
                goto out;
        }
        fd = tlsc_connect(c, conn, host, (unsigned) port, NULL, &info); /* blocking variant */
        if (fd < 0) {
                fprintf(stderr, "connect: %s: %s\n", tlsd_strerror(fd), info.message);
                goto out;
        }
        /* fd: plaintext, SOCK_STREAM; shutdown(fd, SHUT_WR) sends close_notify (close() alone
         * is an abort: none, the peer sees the stream cut); EOF: the peer's close_notify */
        fprintf(stderr, "connected: %s %s, peer %s\n", info.version, info.cipher,
                info.peer_subject);
        r = exchange(fd, line);
        close(fd);
        if (r < 0) {
                fprintf(stderr, "data: %s\n", strerror(-r));
                goto out;
        }
        ret = 0;
out:
        tlsc_close(c); /* takes NULL */
        free(ca_pem);
        return ret;
}
