/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsctl: command-line client and admin tool for tlsd. Each command reads all of its arguments
 * first and only then talks to the daemon, so a usage error (exit 2) is reported as such even
 * when tlsd is not running; global options (--socket) go before the command and are refused
 * after it instead of being ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "tlsd/client.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

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
               "  tickets           show the session ticket cache counters of your user\n"
               "                    (root: of all users)\n"
               "  connect HOST:PORT open a verified TLS channel through tlsd, print what was\n"
               "                    negotiated, then copy stdin to it and it to stdout\n"
               "  listen [ADDR:]PORT  serve TLS through tlsd: echo each connection's data,\n"
               "                    or run CMD per connection with --exec (inetd style)\n"
               "\n"
               "Options (before the command):\n"
               "  -s, --socket=PATH control socket (default: $TLSD_SOCKET, /run/tlsd/tlsd.sock,\n"
               "                    or $XDG_RUNTIME_DIR/tlsd/tlsd.sock)\n"
               "  -h, --help        show this help\n"
               "  -V, --version     show tlsctl's version\n"
               "\n"
               "connect options:\n"
               "  --ca=FILE             trust the CAs in FILE (default: the system store)\n"
               "  --cert=FILE --key=FILE  client certificate chain and key (PEM or DER)\n"
               "  --pass=PASSWORD       password of an encrypted key\n"
               "  --psk-identity=ID --psk=HEX  external pre-shared key\n"
               "  --servername=NAME     name to verify and send as SNI (default: HOST)\n"
               "  --alpn=LIST           offer these protocols, e.g. h2,http/1.1\n"
               "  --tls1.2, --tls1.3    allow only this version (default: both)\n"
               "  --ciphers=LIST        cipher suites, IANA or OpenSSL names\n"
               "  --groups=LIST         key-exchange groups, e.g. X25519:P-256\n"
               "  --pin=HEX             accept only this SHA-256 of the server's public key\n"
               "                        (64 hex digits; sha256sum's \"HEX  -\" is taken too)\n"
               "  --app-verify          show the certificate verdict and accept it anyway\n"
               "  --showcerts           print the server's certificate chain (PEM) on stderr\n"
               "  --handshake-timeout=MS  give up on a handshake not done in time (100..600000;\n"
               "                        default: the daemon's HandshakeTimeoutMSec=)\n"
               "  -v, --verbose         show the steps with timestamps: requests, state\n"
               "                        changes, events\n"
               "  --quiet               print nothing but the data\n"
               "  --no-resume           neither offer nor keep session tickets (default: tlsd\n"
               "                        resumes automatically with this user's last ticket\n"
               "                        for the same peer and options)\n"
               "  --ticket=ID           resume with this ticket (from --print-ticket)\n"
               "  --print-ticket        print the connection's ticket id (\"ticket: ID\") to\n"
               "                        stderr, after the handshake and at exit\n"
               "\n"
               "DTLS (connect and listen):\n"
               "  --dtls                DTLS over UDP instead of TLS over TCP (1.2 and 1.3);\n"
               "                        one line of stdin is one message (one record)\n"
               "  --dtls1.2, --dtls1.3  DTLS, only this version\n"
               "  --cid                 negotiate a Connection ID (DTLS 1.3): the connection\n"
               "                        survives the client's address or port changing\n"
               "  --mtu=BYTES           path MTU for records and handshake fragments (1400)\n"
               "  --dtls-timeout=MS     first retransmission timeout (1000), doubling up to\n"
               "  --dtls-timeout-max=MS (60000); after\n"
               "  --dtls-retries=N      retransmissions of one flight (6) the connection\n"
               "                        reports a timeout\n"
               "  --idle-timeout=MS     close connections silent this long (default: never)\n"
               "\n"
               "listen options:\n"
               "  --cert=FILE --key=FILE  server certificate chain and key (repeat the pair for\n"
               "                        more identities, chosen by SNI and key type)\n"
               "  --pass=PASSWORD       password of an encrypted key\n"
               "  --client-ca=FILE      ask clients for certificates signed by these CAs\n"
               "  --require-client-cert refuse clients without one (default: optional)\n"
               "  --alpn=LIST           protocols to accept, in order of preference\n"
               "  --tls1.2, --tls1.3, --ciphers=LIST, --groups=LIST  as for connect\n"
               "  --handshake-timeout=MS  cut clients that do not finish the handshake in time\n"
               "                        (default: the daemon's HandshakeTimeoutMSec=)\n"
               "  --max-pending=N       handshakes in progress at once; a connection that comes\n"
               "                        when all are taken cuts the one waiting longest\n"
               "                        (default: ListenerMaxPending=)\n"
               "  --exec=CMD            run CMD (via /bin/sh -c) per connection, its stdin and\n"
               "                        stdout connected to the client\n"
               "  --count=N             exit after N connections have ended\n"
               "  --quiet               no per-connection lines on stderr (accepted, or failed\n"
               "                        handshakes)\n"
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
        const char *hint = "";
        int r = tlsc_open(path, ret), e = errno;

        if (r >= 0)
                return 0;
        switch (e) {
        case ENOENT:
        case ECONNREFUSED:
                hint = " (is tlsd running?)";
                break;
        case EACCES:
        case EPERM:
                hint = " (the socket is for root and the members of its group, tlsd)";
                break;
        case EAGAIN:
                hint = " (tlsd is not keeping up: its listen queue is full)";
                break;
        }
        fprintf(stderr, "tlsctl: cannot connect to tlsd at %s: %s%s\n", path, strerror(e), hint);
        return 1;
}

/* Whether arg is one of the global options (they go before the command). */
static bool is_global_option(const char *arg) {
        static const char *const names[] = { "--socket", "--help", "--version" };

        if (arg[0] == '-' && arg[1] != '-')
                return strchr("shV", arg[1]) && arg[1];
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t n = strlen(names[i]);

                if (strncmp(arg, names[i], n) == 0 && (arg[n] == 0 || arg[n] == '='))
                        return true;
        }
        return false;
}

/* A global option after the command: it would be ignored (or taken for an argument), so say
 * where it goes. Exit status 2. */
static int misplaced(const char *arg, const char *cmd) {
        fprintf(stderr,
                "tlsctl: %s is a global option: give it before the command, as in "
                "'tlsctl %s %s ...'\n",
                arg, strcmp(arg, "--socket") == 0 ? "--socket=PATH" : arg, cmd);
        return 2;
}

static void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Commands without arguments: anything after them is a mistake, not something to ignore. */
static int check_no_args(int argc, char **argv) {
        if (argc < 2)
                return 0;
        if (is_global_option(argv[1]))
                return misplaced(argv[1], argv[0]);
        fprintf(stderr,
                "tlsctl: %s takes no arguments, got '%s'\nTry 'tlsctl --help' for more "
                "information.\n",
                argv[0], argv[1]);
        return 2;
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

static int cmd_tickets(tlsc_client *c) {
        tlsc_ticket_stats st;
        int r = tlsc_get_ticket_stats(c, &st);

        if (r < 0)
                return fail(c, "tickets", r);
        printf("entries: %u\n"
               "stored: %" PRIu64 "\n"
               "hits: %" PRIu64 "\n"
               "misses: %" PRIu64 "\n"
               "expired: %" PRIu64 "\n"
               "evicted: %" PRIu64 "\n"
               "rejected: %" PRIu64 "\n",
               st.entries, st.stored, st.hits, st.misses, st.expired, st.evicted, st.rejected);
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

/* ping's one optional argument; 0 and the count, or 2 (usage error, said). */
static int parse_ping(int argc, char **argv, unsigned long *ret_count) {
        char *end;

        *ret_count = 1;
        if (argc > 1 && is_global_option(argv[1]))
                return misplaced(argv[1], argv[0]);
        if (argc > 2) {
                fprintf(stderr, "tlsctl: ping takes at most one COUNT, got '%s'\n", argv[2]);
                return 2;
        }
        if (argc < 2)
                return 0;
        errno = 0;
        *ret_count = strtoul(argv[1], &end, 10);
        if (errno || *end || end == argv[1] || argv[1][0] == '-' || *ret_count == 0 ||
            *ret_count > 10000000) {
                fprintf(stderr, "tlsctl: ping: invalid count '%s' (a number 1..10000000)\n",
                        argv[1]);
                return 2;
        }
        return 0;
}

static int cmd_ping(tlsc_client *c, unsigned long count) {
        struct timespec a, b;
        double ms;

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

static int read_file(const char *path, char **ret, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0, n;

        if (!f) {
                fprintf(stderr, "tlsctl: %s: %s\n", path, strerror(errno));
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

/* Hex digits into out. A trailing "  -" is allowed: sha256sum prints "HEX  -" for its standard
 * input, and --pin is typically given its output. */
static int parse_hex(const char *hex, unsigned char *out, size_t max, size_t *ret_size) {
        size_t n = strcspn(hex, " \t\n");
        const char *rest = hex + n + strspn(hex + n, " \t\n");

        if (*rest && strcmp(rest, "-") != 0 && strcmp(rest, "-\n") != 0)
                return -1;
        if (n % 2 != 0 || n / 2 > max)
                return -1;
        for (size_t i = 0; i < n / 2; i++) {
                char digits[3] = { hex[2 * i], hex[2 * i + 1], 0 };

                if (!isxdigit((unsigned char) digits[0]) || !isxdigit((unsigned char) digits[1]))
                        return -1;
                out[i] = (unsigned char) strtoul(digits, NULL, 16);
        }
        *ret_size = n / 2;
        return 0;
}

/* Policy options connect and listen share; each command adds its own after _O_POLICY_MAX. */
enum {
        O_ALPN = 0x100,
        O_TLS12,
        O_TLS13,
        O_CIPHERS,
        O_GROUPS,
        O_DTLS,
        O_DTLS12,
        O_DTLS13,
        O_MTU,
        O_CID,
        O_DTLS_TIMEOUT,
        O_DTLS_TIMEOUT_MAX,
        O_DTLS_RETRIES,
        O_IDLE_TIMEOUT,
        O_HANDSHAKE_TIMEOUT,
        O_GLOBAL_SOCKET, /* the global options, misplaced after the command */
        O_GLOBAL_HELP,
        O_GLOBAL_VERSION,
        _O_POLICY_MAX,
};

#define POLICY_OPTIONS                                                                             \
        { "alpn", required_argument, NULL, O_ALPN }, { "tls1.2", no_argument, NULL, O_TLS12 },     \
                { "tls1.3", no_argument, NULL, O_TLS13 },                                          \
                { "ciphers", required_argument, NULL, O_CIPHERS },                                 \
                { "groups", required_argument, NULL, O_GROUPS },                                   \
                { "dtls", no_argument, NULL, O_DTLS }, { "dtls1.2", no_argument, NULL, O_DTLS12 }, \
                { "dtls1.3", no_argument, NULL, O_DTLS13 },                                        \
                { "mtu", required_argument, NULL, O_MTU }, { "cid", no_argument, NULL, O_CID },    \
                { "dtls-timeout", required_argument, NULL, O_DTLS_TIMEOUT },                       \
                { "dtls-timeout-max", required_argument, NULL, O_DTLS_TIMEOUT_MAX },               \
                { "dtls-retries", required_argument, NULL, O_DTLS_RETRIES },                       \
                { "idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT },                       \
                { "handshake-timeout", required_argument, NULL, O_HANDSHAKE_TIMEOUT },             \
                { "socket", required_argument, NULL, O_GLOBAL_SOCKET },                            \
                { "help", no_argument, NULL, O_GLOBAL_HELP }, {                                    \
                "version", no_argument, NULL, O_GLOBAL_VERSION                                     \
        }

static int parse_unsigned(const char *s, unsigned long min, unsigned long max, unsigned *ret);

/* A number option; on a bad value says which and exits (usage error). */
static unsigned number_option(const char *name, const char *arg, unsigned long min,
                              unsigned long max) {
        unsigned v;

        if (parse_unsigned(arg, min, max, &v) < 0) {
                fprintf(stderr, "tlsctl: --%s needs a number %lu..%lu\n", name, min, max);
                exit(2);
        }
        return v;
}

/* What the shared policy options cannot say together; a usage error (exit 2), as a bad value
 * of one option is. */
static void check_policy_options(const tlsc_session_options *o) {
        if (o->dtls_timeout_initial_ms && o->dtls_timeout_max_ms &&
            o->dtls_timeout_initial_ms > o->dtls_timeout_max_ms) {
                fprintf(stderr, "tlsctl: --dtls-timeout=%u is more than --dtls-timeout-max=%u\n",
                        o->dtls_timeout_initial_ms, o->dtls_timeout_max_ms);
                exit(2);
        }
}

/* Applies one of the shared policy options; false if opt is not one of them. */
static bool policy_option(int opt, const char *arg, tlsc_session_options *o) {
        switch (opt) {
        case O_DTLS:
                o->transport = TLSC_TRANSPORT_DTLS;
                return true;
        case O_DTLS12:
                o->transport = TLSC_TRANSPORT_DTLS;
                o->version_min = o->version_max = 0xfefd;
                return true;
        case O_DTLS13:
                o->transport = TLSC_TRANSPORT_DTLS;
                o->version_min = o->version_max = 0xfefc;
                return true;
        case O_MTU:
                o->mtu = number_option("mtu", arg, 256, 65507);
                return true;
        case O_CID:
                o->dtls_cid = 1;
                return true;
        case O_DTLS_TIMEOUT:
                o->dtls_timeout_initial_ms = number_option("dtls-timeout", arg, 10, 600000);
                return true;
        case O_DTLS_TIMEOUT_MAX:
                o->dtls_timeout_max_ms = number_option("dtls-timeout-max", arg, 10, 600000);
                return true;
        case O_DTLS_RETRIES:
                o->dtls_retries = number_option("dtls-retries", arg, 1, 64);
                return true;
        case O_IDLE_TIMEOUT:
                o->idle_timeout_ms = number_option("idle-timeout", arg, 100, 86400000);
                return true;
        case O_HANDSHAKE_TIMEOUT:
                /* the daemon's range (tlsd.conf(5) HandshakeTimeoutMSec=) */
                o->handshake_timeout_ms = number_option("handshake-timeout", arg, 100, 600000);
                return true;
        case O_ALPN:
                o->alpn = arg;
                return true;
        case O_TLS12:
                o->version_min = o->version_max = 0x0303;
                return true;
        case O_TLS13:
                o->version_min = o->version_max = 0x0304;
                return true;
        case O_CIPHERS:
                o->ciphers = arg;
                return true;
        case O_GROUPS:
                o->groups = arg;
                return true;
        default:
                return false;
        }
}

/* A decimal number in min..max, nothing else. */
static int parse_unsigned(const char *s, unsigned long min, unsigned long max, unsigned *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
                return -1;
        *ret = (unsigned) v;
        return 0;
}

/* What a connect saw, from the events: the outcome (for --verbose, which waits itself), how the
 * channel ended, and what --verbose and --showcerts print on the way. */
typedef struct Outcome {
        uint64_t connection;
        bool verbose, showcerts, app_verify;
        int rejected;       /* --showcerts refused the certificate: why, else -1 */
        struct timespec t0; /* --verbose: times are counted from here */
        /* the handshake (--verbose only; tlsc_connect() waits otherwise) */
        bool done;
        int result, fd;
        tlsc_connection_info info;
        /* the end */
        bool disconnected;
        int reason;
        int alert;
} Outcome;

static bool quiet;

/* --verbose: "[   12.345 ms] what", on stderr, counted from the session's creation. */
__attribute__((format(printf, 2, 3))) static void step(const Outcome *o, const char *fmt, ...) {
        struct timespec now;
        va_list ap;

        if (!o->verbose)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        fprintf(stderr, "[%10.3f ms] ",
                (double) (now.tv_sec - o->t0.tv_sec) * 1e3 +
                        (double) (now.tv_nsec - o->t0.tv_nsec) / 1e6);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* "alert certificate_required (116)", or the reason's name alone. */
static void print_closed(int reason, int alert) {
        if (reason == TLSC_DISCONNECT_ALERT && alert >= 0)
                fprintf(stderr, "tlsctl: connection closed: alert %s (%d)\n",
                        tlsc_alert_name(alert), alert);
        else
                fprintf(stderr, "tlsctl: connection closed: %s\n",
                        tlsc_disconnect_reason_name(reason));
}

static void on_event(tlsc_client *c, tlsc_event *ev, void *userdata) {
        Outcome *o = userdata;

        if (ev->connection != o->connection)
                return;
        switch (ev->type) {
        case TLSC_EVENT_DISCONNECTED:
                o->disconnected = true;
                o->reason = ev->reason;
                o->alert = ev->alert;
                if (ev->alert >= 0)
                        step(o,
                             "event: disconnected (%s, alert %s (%d)), %" PRIu64
                             " bytes in, %" PRIu64 " out",
                             tlsc_disconnect_reason_name(ev->reason), tlsc_alert_name(ev->alert),
                             ev->alert, ev->bytes_in, ev->bytes_out);
                else
                        step(o, "event: disconnected (%s), %" PRIu64 " bytes in, %" PRIu64 " out",
                             tlsc_disconnect_reason_name(ev->reason), ev->bytes_in, ev->bytes_out);
                break;
        case TLSC_EVENT_MESSAGE_TOO_LARGE:
                fprintf(stderr,
                        "tlsctl: message of %zu bytes not sent: over the %zu-byte limit "
                        "of one DTLS record (EMSGSIZE)\n",
                        ev->size, ev->max_message);
                break;
        case TLSC_EVENT_TIMEOUT:
                step(o, "event: timeout after %u retransmissions", ev->retries);
                if (o->verbose && !o->done) {
                        /* as tlsc_connect() does: the wait ends, the connection stays */
                        o->done = true;
                        o->result = -TLSD_ERR_TIMEOUT;
                        o->info = (tlsc_connection_info){ .error = -TLSD_ERR_TIMEOUT, .alert = -1 };
                        (void) snprintf(o->info.message, sizeof(o->info.message), "%s",
                                        ev->message);
                        break;
                }
                fprintf(stderr, "tlsctl: %s\n", ev->message);
                break;
        case TLSC_EVENT_CERTIFICATE: {
                /* --app-verify, or --showcerts (which asks for this event to see the chain and
                 * then accepts only what strict verification accepts) */
                bool accept = o->app_verify || ev->verify_result == TLSC_VERIFY_OK;

                step(o, "event: certificate, %zu bytes of PEM, strict verification says %s",
                     ev->chain_size, tlsc_verify_result_name(ev->verify_result));
                if (o->showcerts && ev->chain)
                        fprintf(stderr, "%.*s", (int) ev->chain_size, ev->chain);
                if (!quiet && o->app_verify)
                        fprintf(stderr, "certificate: %s (accepted by --app-verify)\n",
                                tlsc_verify_result_name(ev->verify_result));
                step(o, "request: certificate response (%s)", accept ? "accept" : "reject");
                if (!accept)
                        o->rejected = ev->verify_result;
                (void) tlsc_certificate_response(c, ev->connection, accept);
                break;
        }
        case TLSC_EVENT_HANDSHAKE_DONE:
        case TLSC_EVENT_HANDSHAKE_FAILED:
                /* only seen here with --verbose: tlsc_connect() takes them otherwise */
                o->done = true;
                o->info = *ev->info;
                if (ev->type == TLSC_EVENT_HANDSHAKE_DONE) {
                        step(o, "event: handshake done (%s %s)", ev->info->version,
                             ev->info->cipher);
                        o->result = 0;
                        o->fd = ev->fd;
                        ev->fd = -1; /* ours now */
                } else {
                        step(o, "event: handshake failed (%s)", tlsd_strerror(ev->info->error));
                        o->result = ev->info->error < 0 ? ev->info->error : -TLSD_ERR_HANDSHAKE;
                }
                break;
        default:
                break;
        }
}

/* --verbose: tlsc_connect() without the blocking wait, to watch the connection on the way. Its
 * state is sampled with GetInfo every millisecond (tlsd sends no event per state), so a step
 * shorter than that may not show. The same result as tlsc_connect_ticket(). */
static int connect_watched(tlsc_client *c, uint64_t conn, const char *host, unsigned port,
                           uint64_t ticket, Outcome *o, tlsc_connection_info *ret) {
        int state = -1, r;

        step(o, "request: connect to %s%s%s port %u%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port, ticket ? " with a ticket" : "");
        o->fd = -1;
        r = tlsc_connection_connect_ticket(c, conn, host, port, NULL, ticket);
        if (r < 0) {
                *ret = (tlsc_connection_info){ .error = r, .alert = -1 };
                (void) snprintf(ret->message, sizeof(ret->message), "%s",
                                tlsc_last_error_message(c));
                return r;
        }
        step(o, "reply: connect accepted, the handshake runs in tlsd");
        for (bool first = true; !o->done; first = false) {
                struct pollfd p = { .fd = tlsc_get_fd(c), .events = tlsc_get_events(c) };
                tlsc_connection_info now;

                (void) poll(&p, 1, first ? 0 : 1);
                r = tlsc_dispatch(c);
                if (r < 0) {
                        *ret = (tlsc_connection_info){ .error = r, .alert = -1 };
                        (void) snprintf(ret->message, sizeof(ret->message), "%s",
                                        tlsc_last_error_message(c));
                        return r;
                }
                /* (GetInfo may deliver the outcome event itself: then it is said already) */
                if (o->done || tlsc_connection_info_get(c, conn, &now) < 0 || o->done)
                        continue;
                if (now.state != state) {
                        static const char *const what[] = {
                                [TLSC_STATE_CONNECTING] = " (name lookup, TCP connect)",
                                [TLSC_STATE_HANDSHAKE] = " (TCP connected, TLS handshake)",
                                [TLSC_STATE_CERT_PENDING] = " (waiting for our certificate "
                                                            "decision)",
                        };

                        step(o, "state: %s%s", tlsc_state_name(now.state),
                             now.state >= 0 && (size_t) now.state < ELEMENTSOF(what) &&
                                             what[now.state]
                                     ? what[now.state]
                                     : "");
                        state = now.state;
                }
        }
        *ret = o->info;
        return o->result < 0 ? o->result : o->fd;
}

static int write_all(int fd, const char *buf, size_t n) {
        for (size_t off = 0; off < n;) {
                ssize_t w = write(fd, buf + off, n - off);

                if (w < 0)
                        return -1;
                off += (size_t) w;
        }
        return 0;
}

/* DTLS: each line of stdin (with its newline) is one message. A last line without a newline
 * goes out at EOF. */
static int send_lines(int fd, char *line, size_t *used, const char *buf, size_t n, bool eof) {
        for (size_t i = 0; i < n; i++) {
                if (*used < 65536)
                        line[(*used)++] = buf[i];
                if (buf[i] == '\n') {
                        if (send(fd, line, *used, MSG_NOSIGNAL) < 0)
                                return -1;
                        *used = 0;
                }
        }
        if (eof && *used > 0) {
                if (send(fd, line, *used, MSG_NOSIGNAL) < 0)
                        return -1;
                *used = 0;
        }
        return 0;
}

#define LOST_TLSD (-2) /* pipe_data(): the connection to tlsd broke */

static void lost_tlsd(void) {
        fprintf(stderr, "tlsctl: lost the connection to tlsd: the data channel ended with it, "
                        "the peer sees the connection cut\n");
}

/* Copies stdin to fd and fd to stdout until the peer closes (messages: one line, one message).
 * The end of stdin is the clean end (shutdown: close_notify); tlsctl killed before that closes
 * fd without it, which tlsd passes on as an abort. Events are dispatched meanwhile, so that a
 * tlsd that went away is noticed (LOST_TLSD). */
static int pipe_data(tlsc_client *c, int fd, bool messages) {
        bool in_open = true;
        char buf[16384];
        static char line[65536];
        size_t used = 0;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = fd, .events = POLLIN },
                        { .fd = STDIN_FILENO, .events = in_open ? POLLIN : 0 },
                        { .fd = tlsc_get_fd(c), .events = (short) tlsc_get_events(c) },
                };
                ssize_t n;

                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                if (p[2].revents && tlsc_dispatch(c) < 0)
                        return LOST_TLSD;
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        n = read(fd, buf, sizeof(buf));
                        if (n <= 0)
                                return n < 0 ? -1 : 0;
                        for (ssize_t off = 0; off < n;) {
                                ssize_t w = write(STDOUT_FILENO, buf + off, (size_t) (n - off));

                                if (w < 0)
                                        return -1;
                                off += w;
                        }
                }
                if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                        n = read(STDIN_FILENO, buf, sizeof(buf));
                        if (n <= 0) {
                                in_open = false;
                                if (messages && send_lines(fd, line, &used, buf, 0, true) < 0)
                                        return -1;
                                (void) shutdown(fd, SHUT_WR); /* close_notify to the peer */
                                continue;
                        }
                        if (messages ? send_lines(fd, line, &used, buf, (size_t) n, false) < 0
                                     : write_all(fd, buf, (size_t) n) < 0)
                                return -1;
                }
        }
}

static int cmd_connect(int argc, char **argv) {
        enum {
                O_CA = _O_POLICY_MAX,
                O_CERT,
                O_KEY,
                O_PASS,
                O_SERVERNAME,
                O_PIN,
                O_APP_VERIFY,
                O_QUIET,
                O_PSK_ID,
                O_PSK,
                O_NO_RESUME,
                O_TICKET,
                O_PRINT_TICKET,
                O_SHOWCERTS,
                O_VERBOSE,
        };
        static const struct option options[] = {
                { "ca", required_argument, NULL, O_CA },
                { "cert", required_argument, NULL, O_CERT },
                { "key", required_argument, NULL, O_KEY },
                { "pass", required_argument, NULL, O_PASS },
                { "servername", required_argument, NULL, O_SERVERNAME },
                { "pin", required_argument, NULL, O_PIN },
                { "app-verify", no_argument, NULL, O_APP_VERIFY },
                { "quiet", no_argument, NULL, O_QUIET },
                { "psk-identity", required_argument, NULL, O_PSK_ID },
                { "psk", required_argument, NULL, O_PSK },
                { "no-resume", no_argument, NULL, O_NO_RESUME },
                { "ticket", required_argument, NULL, O_TICKET },
                { "print-ticket", no_argument, NULL, O_PRINT_TICKET },
                { "showcerts", no_argument, NULL, O_SHOWCERTS },
                { "verbose", no_argument, NULL, O_VERBOSE },
                POLICY_OPTIONS,
                {},
        };
        tlsc_session_options o = {};
        uint64_t ticket = 0, ticket_shown = 0;
        bool print_ticket = false;
        tlsc_connection_info info;
        Outcome outcome = { .alert = -1, .fd = -1, .rejected = -1 };
        tlsc_client *c = NULL;
        char *ca = NULL, *cert = NULL, *key = NULL, *host, *colon, where[300];
        unsigned char pin[32], psk[64];
        size_t size;
        uint64_t session, conn;
        unsigned long port;
        int opt, r, fd, ret = 2; /* usage errors, until the options are read */

        clock_gettime(CLOCK_MONOTONIC, &outcome.t0);
        optind = 0; /* re-initialize getopt: options may follow HOST:PORT here */
        while ((opt = getopt_long(argc, argv, "vs:hV", options, NULL)) >= 0) {
                if (policy_option(opt, optarg, &o))
                        continue;
                switch (opt) {
                case O_CA:
                        free(ca);
                        ca = NULL;
                        if (read_file(optarg, &ca, &o.ca_size) < 0) {
                                ret = 1;
                                goto finish;
                        }
                        o.ca = ca;
                        break;
                case O_CERT:
                        free(cert);
                        cert = NULL;
                        if (read_file(optarg, &cert, &o.cert_size) < 0) {
                                ret = 1;
                                goto finish;
                        }
                        o.cert = cert;
                        break;
                case O_KEY:
                        if (key) {
                                explicit_bzero(key, o.key_size);
                                free(key);
                                key = NULL;
                        }
                        if (read_file(optarg, &key, &o.key_size) < 0) {
                                ret = 1;
                                goto finish;
                        }
                        o.key = key;
                        break;
                case O_PASS:
                        o.key_password = optarg;
                        break;
                case O_SERVERNAME:
                        o.server_name = optarg;
                        break;
                case O_PIN:
                        if (parse_hex(optarg, pin, sizeof(pin), &size) < 0 || size != 32) {
                                fprintf(stderr, "tlsctl: --pin needs 64 hex digits\n");
                                goto finish;
                        }
                        o.pin = pin;
                        o.verify_mode = TLSC_VERIFY_PINNED;
                        outcome.app_verify = false;
                        break;
                case O_APP_VERIFY:
                        o.verify_mode = TLSC_VERIFY_APP_DECIDES;
                        outcome.app_verify = true;
                        break;
                case O_QUIET:
                        quiet = true;
                        break;
                case O_PSK_ID:
                        o.psk_identity = optarg;
                        break;
                case O_PSK:
                        if (parse_hex(optarg, psk, sizeof(psk), &o.psk_key_size) < 0) {
                                fprintf(stderr, "tlsctl: --psk needs hex digits (16..64 bytes)\n");
                                goto finish;
                        }
                        o.psk_key = psk;
                        break;
                case O_NO_RESUME:
                        o.no_resume = 1;
                        break;
                case O_TICKET: {
                        char *end;

                        errno = 0;
                        ticket = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end || ticket == 0 || optarg[0] == '-') {
                                fprintf(stderr, "tlsctl: --ticket needs a ticket id (a "
                                                "positive number)\n");
                                goto finish;
                        }
                        break;
                }
                case O_PRINT_TICKET:
                        print_ticket = true;
                        break;
                case O_SHOWCERTS:
                        outcome.showcerts = true;
                        break;
                case 'v':
                case O_VERBOSE:
                        outcome.verbose = true;
                        break;
                case 's':
                case O_GLOBAL_SOCKET:
                        ret = misplaced("--socket", "connect");
                        goto finish;
                case 'h':
                case O_GLOBAL_HELP:
                        ret = misplaced("--help", "connect");
                        goto finish;
                case 'V':
                case O_GLOBAL_VERSION:
                        ret = misplaced("--version", "connect");
                        goto finish;
                default:
                        fprintf(stderr, "Try 'tlsctl --help' for more information.\n");
                        goto finish;
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr, "tlsctl: connect needs exactly one HOST:PORT\n");
                goto finish;
        }
        check_policy_options(&o);
        if (!cert != !key) {
                fprintf(stderr, "tlsctl: %s needs %s (a client certificate and its key)\n",
                        cert ? "--cert" : "--key", cert ? "--key" : "--cert");
                goto finish;
        }
        if (outcome.showcerts) {
                /* The chain comes with the app-decides certificate event: ask for it, and
                 * accept as strict verification would (unless --app-verify). A pinned session
                 * checks only the key and shows no chain. */
                if (o.verify_mode == TLSC_VERIFY_PINNED) {
                        fprintf(stderr, "tlsctl: --showcerts cannot go with --pin (tlsd checks "
                                        "only the key then, and shows no chain)\n");
                        goto finish;
                }
                o.verify_mode = TLSC_VERIFY_APP_DECIDES;
        }
        host = argv[optind];
        colon = strrchr(host, ':');
        if (!colon || colon == host) {
                fprintf(stderr, "tlsctl: '%s' is not HOST:PORT\n", host);
                goto finish;
        }
        *colon = 0;
        errno = 0;
        port = strtoul(colon + 1, NULL, 10);
        if (errno || port == 0 || port > 65535) {
                fprintf(stderr, "tlsctl: invalid port '%s'\n", colon + 1);
                goto finish;
        }
        if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:443 */
                host[strlen(host) - 1] = 0;
                host++;
        }
        /* an IPv6 address in brackets: "::1:443" would not say where the port is */
        (void) snprintf(where, sizeof(where), strchr(host, ':') ? "[%s]:%lu" : "%s:%lu", host,
                        port);

        ret = open_client(&c);
        if (ret != 0)
                goto finish;
        ret = 1;
        tlsc_set_event_handler(c, on_event, &outcome);
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &session);
        /* tlsd has its copy: ours goes (the key at once, not after the data) */
        if (key) {
                explicit_bzero(key, o.key_size);
                key = mfree(key);
        }
        ca = mfree(ca);
        cert = mfree(cert);
        if (r < 0) {
                ret = fail(c, "session", r);
                goto finish;
        }
        step(&outcome, "reply: session %" PRIu64 " created (client, %s, verification %s)", session,
             o.transport == TLSC_TRANSPORT_DTLS ? "DTLS" : "TLS",
             o.verify_mode == TLSC_VERIFY_PINNED        ? "pinned"
             : o.verify_mode == TLSC_VERIFY_APP_DECIDES ? "app-decides"
                                                        : "strict");
        r = tlsc_connection_create(c, session, 0, &conn);
        if (r < 0) {
                ret = fail(c, "connection", r);
                goto finish;
        }
        step(&outcome, "reply: connection %" PRIu64 " created", conn);
        outcome.connection = conn;
        if (outcome.verbose)
                fd = connect_watched(c, conn, host, (unsigned) port, ticket, &outcome, &info);
        else
                fd = tlsc_connect_ticket(c, conn, host, (unsigned) port, NULL, ticket, &info);
        if (fd < 0 && outcome.rejected >= 0)
                /* not "rejected by the application": tlsctl only applied strict verification */
                (void) snprintf(info.message, sizeof(info.message),
                                "%s (--showcerts accepts what strict verification accepts)",
                                tlsc_verify_result_name(outcome.rejected));
        if (fd < 0) {
                fprintf(stderr, "tlsctl: connect %s: %s%s%s\n", where, tlsd_strerror(fd),
                        info.message[0] ? ": " : "", info.message);
                if (info.verify_result != TLSC_VERIFY_OK)
                        fprintf(stderr, "verification: %s\n",
                                tlsc_verify_result_name(info.verify_result));
                goto finish;
        }
        if (!quiet)
                fprintf(stderr,
                        "connected: %s %s, group %s%s%s\n"
                        "peer: %s\n"
                        "verification: %s\n"
                        "resumed: %s\n"
                        "handshake: %.1f ms\n",
                        info.version, info.cipher, info.group[0] ? info.group : "-",
                        info.alpn[0] ? ", ALPN " : "", info.alpn, info.peer_subject,
                        o.verify_mode == TLSC_VERIFY_PINNED
                                ? "pinned key matches"
                                : tlsc_verify_result_name(info.verify_result),
                        info.resumed ? "yes" : "no", (double) info.handshake_us / 1000.0);
        /* TLS 1.2 tickets come with the handshake; TLS 1.3 ones after it (see below). */
        if (print_ticket && tlsc_get_ticket(c, conn, &ticket_shown) >= 0)
                fprintf(stderr, "ticket: %" PRIu64 "\n", ticket_shown);
        if (!quiet && info.transport == TLSC_TRANSPORT_DTLS)
                fprintf(stderr, "datagrams: up to %u bytes per message, connection ID %s\n",
                        info.max_message, info.cid_in_use ? "in use" : "not in use");
        step(&outcome, "data: copying stdin to the connection and the connection to stdout");
        r = pipe_data(c, fd, o.transport == TLSC_TRANSPORT_DTLS);
        if (r == LOST_TLSD) {
                lost_tlsd();
                close(fd);
                return 1;
        }
        if (r < 0)
                fprintf(stderr, "tlsctl: data channel failed: %s\n", strerror(errno));
        close(fd);
        step(&outcome, "data: %s", r < 0 ? "failed" : "end of stream from the peer");

        /* EOF on the data fd does not say why: the Disconnected event does (in TLS 1.3 a server
         * may reject our certificate only after the handshake). tlsd going away ends the data
         * too: that is no end of the peer's data. */
        for (int i = 0; i < 50 && !outcome.disconnected; i++) {
                struct pollfd p = { .fd = tlsc_get_fd(c), .events = POLLIN };

                (void) poll(&p, 1, 100);
                if (tlsc_dispatch(c) < 0) {
                        lost_tlsd();
                        return 1;
                }
        }
        if (print_ticket) {
                uint64_t id = 0;

                if (tlsc_get_ticket(c, conn, &id) >= 0) {
                        if (id != ticket_shown)
                                fprintf(stderr, "ticket: %" PRIu64 "\n", id);
                } else if (ticket_shown == 0 && o.no_resume)
                        fprintf(stderr, "ticket: none (--no-resume: tlsd keeps no tickets for "
                                        "this connection)\n");
                else if (ticket_shown == 0)
                        fprintf(stderr, "ticket: none (%s)\n", tlsc_last_error_message(c));
        }
        if (outcome.disconnected && outcome.reason != TLSC_DISCONNECT_CLOSE_NOTIFY &&
            outcome.reason != TLSC_DISCONNECT_LOCAL) {
                print_closed(outcome.reason, outcome.alert);
                goto finish;
        }
        ret = r < 0 ? 1 : 0;

finish:
        free(ca);
        free(cert);
        if (key) {
                explicit_bzero(key, o.key_size);
                free(key);
        }
        tlsc_close(c);
        return ret;
}

/* ---- listen ---- */

typedef struct Served {
        int fd;    /* the plaintext fd (exec mode: held, not polled, while the child runs) */
        pid_t pid; /* exec mode: the child */
        uint64_t connection;
        char buf[16384];
        size_t pending, off;
} Served;

/* The connections being served: as many as tlsd hands over (its ListenerMaxConnections= and
 * our descriptor limit bound them), in arrays that grow. */
typedef struct ListenState {
        const char *exec;
        Served **served;
        size_t n_served, n_allocated;
        struct pollfd *pfds; /* for listen_loop(): 1 + n_allocated */
        unsigned long ended, count;
} ListenState;

/* Room for one more; false when memory runs out. */
static bool served_grow(ListenState *st) {
        size_t n = st->n_allocated ? 2 * st->n_allocated : 64;
        Served **a;
        struct pollfd *p;

        if (st->n_served < st->n_allocated)
                return true;
        a = reallocarray(st->served, n, sizeof(*a));
        if (!a)
                return false;
        st->served = a;
        p = reallocarray(st->pfds, n + 1, sizeof(*p));
        if (!p)
                return false;
        st->pfds = p;
        st->n_allocated = n;
        return true;
}

static void on_listen_event(tlsc_client *c, tlsc_event *ev, void *userdata) {
        ListenState *st = userdata;
        Served *sv;

        if (ev->type == TLSC_EVENT_DISCONNECTED) {
                st->ended++;
                return;
        }
        if (ev->type == TLSC_EVENT_MESSAGE_TOO_LARGE) {
                fprintf(stderr,
                        "tlsctl: connection %llu: message of %zu bytes not sent: over "
                        "the %zu-byte limit of one DTLS record (EMSGSIZE)\n",
                        (unsigned long long) ev->connection, ev->size, ev->max_message);
                return;
        }
        if (ev->type == TLSC_EVENT_ACCEPT_FAILED) {
                if (quiet)
                        return;
                if (ev->suppressed > 0)
                        fprintf(stderr,
                                "(%u more failed handshakes not reported: at most 10 a "
                                "second)\n",
                                ev->suppressed);
                fprintf(stderr, "handshake failed from %s port %u: %s: %s%s%s\n", ev->peer_address,
                        ev->peer_port, tlsd_strerror(ev->info->error), ev->info->message,
                        ev->verify_result != TLSC_VERIFY_OK ? "; verification: " : "",
                        ev->verify_result != TLSC_VERIFY_OK
                                ? tlsc_verify_result_name(ev->verify_result)
                                : "");
                return;
        }
        if (ev->type != TLSC_EVENT_ACCEPTED)
                return;
        if (!quiet)
                fprintf(stderr, "accepted %s port %u: %s %s%s%s%s%s%s%s%s\n", ev->peer_address,
                        ev->peer_port, ev->info->version, ev->info->cipher, ev->sni ? ", SNI " : "",
                        ev->sni ? ev->sni : "", ev->info->alpn[0] ? ", ALPN " : "", ev->info->alpn,
                        ev->info->peer_subject[0] ? ", client " : "", ev->info->peer_subject,
                        ev->info->resumed ? ", resumed" : "");
        sv = served_grow(st) ? calloc(1, sizeof(*sv)) : NULL;
        if (!sv) {
                /* the fd is closed on return: the client sees EOF */
                fprintf(stderr, "tlsctl: connection %" PRIu64 ": out of memory, closed\n",
                        ev->connection);
                return;
        }
        sv->connection = ev->connection;
        sv->pid = -1;
        sv->fd = ev->fd;
        ev->fd = -1;
        if (st->exec) {
                /* The command's end is the data's end: its exit status says which kind, so our
                 * copy of the fd stays open until then (listen_loop). */
                sv->pid = fork();
                if (sv->pid == 0) {
                        dup2(sv->fd, STDIN_FILENO);
                        dup2(sv->fd, STDOUT_FILENO);
                        execl("/bin/sh", "sh", "-c", st->exec, (char *) NULL);
                        _exit(127);
                }
                if (sv->pid < 0) {
                        fprintf(stderr,
                                "tlsctl: connection %llu: cannot start the command: "
                                "%s\n",
                                (unsigned long long) ev->connection, strerror(errno));
                        close(sv->fd);
                        free(sv);
                        return;
                }
        } else
                (void) fcntl(sv->fd, F_SETFL, fcntl(sv->fd, F_GETFL) | O_NONBLOCK);
        st->served[st->n_served++] = sv;
}

/* Echo: read what arrives, write it back; EOF (the peer's close_notify), with everything sent
 * back: shut our side too (close_notify) and let go. */
static bool echo_step(Served *sv) {
        if (sv->pending > 0) {
                ssize_t w = write(sv->fd, sv->buf + sv->off, sv->pending);

                if (w < 0)
                        return errno == EAGAIN;
                sv->off += (size_t) w;
                sv->pending -= (size_t) w;
                return true;
        }
        {
                ssize_t n = read(sv->fd, sv->buf, sizeof(sv->buf));

                if (n > 0) {
                        sv->pending = (size_t) n;
                        sv->off = 0;
                        return true;
                }
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n == 0)
                        (void) shutdown(sv->fd, SHUT_WR);
                return false;
        }
}

static int listen_loop(tlsc_client *c, ListenState *st) {
        for (;;) {
                struct pollfd *p;
                size_t n = 0, polled = st->n_served;

                if (!served_grow(st)) { /* for pfds: there is always one beyond n_served */
                        fprintf(stderr, "tlsctl: out of memory\n");
                        return 1;
                }
                p = st->pfds;

                p[n++] = (struct pollfd){ .fd = tlsc_get_fd(c), .events = tlsc_get_events(c) };
                for (size_t i = 0; i < st->n_served; i++)
                        p[n++] = (struct pollfd){
                                .fd = st->served[i]->pid > 0 ? -1 : st->served[i]->fd,
                                .events = (short) (st->served[i]->pending ? POLLOUT : POLLIN),
                        };
                if (poll(p, (nfds_t) n, st->exec ? 200 : -1) < 0 && errno != EINTR)
                        return 1;
                if (tlsc_dispatch(c) < 0) {
                        fprintf(stderr, "tlsctl: lost the connection to tlsd\n");
                        return 1;
                }
                p = st->pfds; /* the dispatch may have grown (moved) it, results and all */
                /* Backwards: an ended entry is replaced by the last one, which is done already
                 * (so p[i + 1] stays the entry's own poll result). Entries the dispatch just
                 * added (from polled on) were not polled yet. */
                for (size_t i = st->n_served; i-- > 0;) {
                        Served *sv = st->served[i];
                        bool alive;

                        if (sv->pid > 0) {
                                int status;
                                pid_t w = waitpid(sv->pid, &status, WNOHANG);

                                alive = w == 0;
                                /* Exit status 0: the clean end, close_notify after the
                                 * command's output (tlsc_connection_shutdown() lets our fd
                                 * close at once). Else, and when killed: an abort, the fd
                                 * just closes. */
                                if (w == sv->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                                        (void) tlsc_connection_shutdown(c, sv->connection);
                        } else
                                alive = i >= polled || !p[i + 1].revents || echo_step(sv);
                        if (alive)
                                continue;
                        if (sv->fd >= 0)
                                close(sv->fd);
                        free(sv);
                        st->served[i] = st->served[--st->n_served];
                }
                if (st->count && st->ended >= st->count && st->n_served == 0)
                        return 0;
        }
}

/* A listener serves one descriptor per connection: let it have as many as the hard limit allows
 * (the soft limit is often 1024). */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int cmd_listen(int argc, char **argv) {
        enum {
                O_CERT = _O_POLICY_MAX,
                O_KEY,
                O_PASS,
                O_CLIENT_CA,
                O_REQUIRE,
                O_EXEC,
                O_COUNT,
                O_QUIET,
                O_MAX_PENDING,
        };
        static const struct option options[] = {
                { "cert", required_argument, NULL, O_CERT },
                { "key", required_argument, NULL, O_KEY },
                { "pass", required_argument, NULL, O_PASS },
                { "client-ca", required_argument, NULL, O_CLIENT_CA },
                { "require-client-cert", no_argument, NULL, O_REQUIRE },
                { "exec", required_argument, NULL, O_EXEC },
                { "count", required_argument, NULL, O_COUNT },
                { "quiet", no_argument, NULL, O_QUIET },
                { "max-pending", required_argument, NULL, O_MAX_PENDING },
                POLICY_OPTIONS,
                {},
        };
        static ListenState st;
        tlsc_client *c = NULL;
        tlsc_listen_options lo = {};
        tlsc_session_options o = {};
        char *certs[16], *keys[16], *ca = NULL, *arg, *colon, *address = NULL;
        size_t cert_sizes[16], key_sizes[16];
        unsigned n_certs = 0, n_keys = 0, port_taken = 0, port, count;
        uint64_t session, listener;
        int opt, r, ret = 2; /* usage errors, until the options are read */

        optind = 0;
        while ((opt = getopt_long(argc, argv, "s:hV", options, NULL)) >= 0) {
                if (policy_option(opt, optarg, &o))
                        continue;
                switch (opt) {
                case O_CERT:
                case O_KEY: {
                        bool is_cert = opt == O_CERT;
                        unsigned *n = is_cert ? &n_certs : &n_keys;

                        if (*n >= ELEMENTSOF(certs)) {
                                fprintf(stderr, "tlsctl: at most %zu --cert/--key pairs\n",
                                        ELEMENTSOF(certs));
                                goto finish;
                        }
                        if (read_file(optarg, is_cert ? &certs[*n] : &keys[*n],
                                      is_cert ? &cert_sizes[*n] : &key_sizes[*n]) < 0) {
                                ret = 1;
                                goto finish;
                        }
                        (*n)++;
                        break;
                }
                case O_PASS:
                        o.key_password = optarg;
                        break;
                case O_CLIENT_CA:
                        free(ca); /* the last one counts */
                        ca = NULL;
                        if (read_file(optarg, &ca, &o.ca_size) < 0) {
                                ret = 1;
                                goto finish;
                        }
                        o.ca = ca;
                        if (!o.client_auth)
                                o.client_auth = TLSC_CLIENT_AUTH_OPTIONAL;
                        break;
                case O_REQUIRE:
                        o.client_auth = TLSC_CLIENT_AUTH_REQUIRED;
                        break;
                case O_EXEC:
                        st.exec = optarg;
                        break;
                case O_COUNT:
                        if (parse_unsigned(optarg, 0, UINT32_MAX, &count) < 0) {
                                fprintf(stderr, "tlsctl: invalid --count '%s'\n", optarg);
                                goto finish;
                        }
                        st.count = count;
                        break;
                case O_QUIET:
                        quiet = true;
                        break;
                case O_MAX_PENDING:
                        if (parse_unsigned(optarg, 1, UINT32_MAX, &lo.max_pending) < 0) {
                                fprintf(stderr, "tlsctl: invalid --max-pending '%s'\n", optarg);
                                goto finish;
                        }
                        break;
                case 's':
                case O_GLOBAL_SOCKET:
                        ret = misplaced("--socket", "listen");
                        goto finish;
                case 'h':
                case O_GLOBAL_HELP:
                        ret = misplaced("--help", "listen");
                        goto finish;
                case 'V':
                case O_GLOBAL_VERSION:
                        ret = misplaced("--version", "listen");
                        goto finish;
                default:
                        fprintf(stderr, "Try 'tlsctl --help' for more information.\n");
                        goto finish;
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr, "tlsctl: listen needs exactly one [ADDR:]PORT\n");
                goto finish;
        }
        check_policy_options(&o);
        if (n_certs == 0 || n_certs != n_keys) {
                fprintf(stderr, "tlsctl: listen needs --cert and --key (as pairs)\n");
                goto finish;
        }
        if (o.client_auth == TLSC_CLIENT_AUTH_REQUIRED && !ca) {
                fprintf(stderr, "tlsctl: --require-client-cert needs --client-ca\n");
                goto finish;
        }
        arg = argv[optind];
        colon = strrchr(arg, ':');
        if (colon) {
                *colon = 0;
                address = arg;
                if (address[0] == '[' && address[strlen(address) - 1] == ']') {
                        address[strlen(address) - 1] = 0;
                        address++;
                }
                arg = colon + 1;
        }
        /* All digits: "abc" or an empty port is not port 0. */
        if (parse_unsigned(arg, 0, 65535, &port) < 0) {
                fprintf(stderr, "tlsctl: invalid port '%s'\n", arg);
                goto finish;
        }

        ret = open_client(&c);
        if (ret != 0)
                goto finish;
        raise_fd_limit();
        tlsc_set_event_handler(c, on_listen_event, &st);
        o.cert = certs[0];
        o.cert_size = cert_sizes[0];
        o.key = keys[0];
        o.key_size = key_sizes[0];
        r = tlsc_session_create(c, TLSC_ROLE_SERVER, &o, &session);
        for (unsigned i = 1; r >= 0 && i < n_certs; i++) {
                tlsc_session_options more = {
                        .cert = certs[i],
                        .cert_size = cert_sizes[i],
                        .key = keys[i],
                        .key_size = key_sizes[i],
                        .key_password = o.key_password,
                };

                r = tlsc_session_configure(c, session, &more);
        }
        if (r < 0) {
                ret = fail(c, "session", r);
                goto finish;
        }
        r = tlsc_listen(c, session, address && *address ? address : NULL, port, &lo, &listener,
                        &port_taken);
        if (r < 0) {
                ret = fail(c, "listen", r);
                goto finish;
        }
        if (!quiet)
                fprintf(stderr, "listening on %s port %u\n", address && *address ? address : "*",
                        port_taken);
        printf("%u\n", port_taken); /* for scripts: the port, also when 0 was asked */
        fflush(stdout);
        ret = -1; /* serve, with the files no longer needed */

finish:
        for (unsigned i = 0; i < n_certs; i++)
                free(certs[i]);
        for (unsigned i = 0; i < n_keys; i++) {
                explicit_bzero(keys[i], key_sizes[i]);
                free(keys[i]);
        }
        free(ca);
        if (ret < 0)
                ret = listen_loop(c, &st);
        tlsc_close(c);
        for (size_t i = 0; i < st.n_served; i++) {
                if (st.served[i]->fd >= 0)
                        close(st.served[i]->fd);
                free(st.served[i]);
        }
        free(st.served);
        free(st.pfds);
        return ret;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        tlsc_client *c = NULL;
        unsigned long count = 1;
        const char *cmd;
        int opt, r;

        /* A peer that goes away must end the copy loop with an error, not kill us. */
        (void) signal(SIGPIPE, SIG_IGN);
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
        if (strcmp(cmd, "status") != 0 && strcmp(cmd, "version") != 0 && strcmp(cmd, "ping") != 0 &&
            strcmp(cmd, "whoami") != 0 && strcmp(cmd, "tickets") != 0 &&
            strcmp(cmd, "connect") != 0 && strcmp(cmd, "listen") != 0) {
                fprintf(stderr,
                        "tlsctl: unknown command '%s'\nTry 'tlsctl --help' for more "
                        "information.\n",
                        cmd);
                return 2;
        }

        argc -= optind;
        argv += optind;
        if (strcmp(cmd, "connect") == 0)
                return cmd_connect(argc, argv);
        if (strcmp(cmd, "listen") == 0)
                return cmd_listen(argc, argv);
        /* the arguments first: a usage error is one whether or not tlsd runs */
        r = strcmp(cmd, "ping") == 0 ? parse_ping(argc, argv, &count) : check_no_args(argc, argv);
        if (r != 0)
                return r;
        r = open_client(&c);
        if (r != 0)
                return r;
        if (strcmp(cmd, "status") == 0)
                r = cmd_status(c);
        else if (strcmp(cmd, "version") == 0)
                r = cmd_version(c);
        else if (strcmp(cmd, "whoami") == 0)
                r = cmd_whoami(c);
        else if (strcmp(cmd, "tickets") == 0)
                r = cmd_tickets(c);
        else
                r = cmd_ping(c, count);
        tlsc_close(c);
        return r;
}
