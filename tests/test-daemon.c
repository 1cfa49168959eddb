/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Integration tests of the real daemon: start/stop and readiness, attribution, libtlsclient in
 * blocking and non-blocking use, limits, and malformed messages sent over the real socket while
 * a well-behaved client keeps being served.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "proto.h"
#include "tlsd/client.h"

static int count_fds(pid_t pid) {
        char path[64];
        struct dirent *de;
        DIR *d;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static void raw_send(int fd, const void *buf, size_t size, const int *fds, unsigned n_fds) {
        union {
                struct cmsghdr c;
                char raw[CMSG_SPACE(sizeof(int) * 16)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                struct cmsghdr *c;

                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t) size);
}

/* Waits up to 5 s for one packet; returns its size, 0 on EOF. */
static ssize_t raw_recv(int fd, void *buf, size_t size) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
        n = recv(fd, buf, size, 0);
        if (n < 0 && errno == ECONNRESET)
                return 0;
        ck_assert_int_ge(n, 0);
        return n;
}

/* ---- hand-built packets ---- */

typedef struct Packet {
        uint8_t b[TLSD_MSG_MAX + 256];
        size_t n;
} Packet;

static void pk_header(Packet *p, uint32_t magic, uint8_t version, uint8_t flags, uint16_t type,
                      uint32_t id) {
        TlsdHeader h = {
                .magic = magic, .version = version, .flags = flags, .type = type, .id = id
        };

        memcpy(p->b, &h, sizeof(h));
        p->n = sizeof(h);
}

static void pk_attr_raw(Packet *p, uint16_t len, uint16_t type, const void *v, size_t vlen,
                        size_t pad, uint8_t padbyte) {
        memcpy(p->b + p->n, &len, 2);
        memcpy(p->b + p->n + 2, &type, 2);
        if (vlen)
                memcpy(p->b + p->n + 4, v, vlen);
        memset(p->b + p->n + 4 + vlen, padbyte, pad);
        p->n += 4 + vlen + pad;
}

static void pk_attr(Packet *p, uint16_t type, const void *v, size_t vlen) {
        pk_attr_raw(p, (uint16_t) (vlen + 4), type, v, vlen, ALIGN4(vlen) - vlen, 0);
}

static void pk_finish(Packet *p) {
        uint32_t len = (uint32_t) (p->n - TLSD_HEADER_SIZE);

        memcpy(p->b + 12, &len, 4);
}

#define ID 0x1234u

typedef enum Case {
        C_EMPTY,
        C_SHORT,
        C_MAGIC,
        C_VERSION,
        C_TOO_LARGE,
        C_LENGTH,
        C_FLAGS_REPLY,
        C_FLAGS_UNKNOWN,
        C_TYPE_UNKNOWN,
        C_TYPE_ZERO,
        C_ID_ZERO,
        C_ATTR_HDR_TRUNC,
        C_ATTR_LEN_SMALL,
        C_ATTR_PAST_END,
        C_ATTR_UNKNOWN,
        C_ATTR_NOT_ALLOWED,
        C_ATTR_DUP,
        C_ATTR_OVERSIZE,
        C_PADDING,
        C_ATTR_IN_VERSION,
        C_FDS,
        C_FDS_TOO_MANY,
        _C_MAX,
} Case;

typedef struct Expect {
        TlsdProtoError error;
        bool id_echoed;
} Expect;

static const Expect expectations[_C_MAX] = {
        [C_EMPTY] = { TLSD_PROTO_TOO_SHORT, false },
        [C_SHORT] = { TLSD_PROTO_TOO_SHORT, false },
        [C_MAGIC] = { TLSD_PROTO_BAD_MAGIC, false },
        [C_VERSION] = { TLSD_PROTO_BAD_VERSION, false },
        [C_TOO_LARGE] = { TLSD_PROTO_TOO_LARGE, true },
        [C_LENGTH] = { TLSD_PROTO_LENGTH_MISMATCH, true },
        [C_FLAGS_REPLY] = { TLSD_PROTO_BAD_FLAGS, true },
        [C_FLAGS_UNKNOWN] = { TLSD_PROTO_BAD_FLAGS, true },
        [C_TYPE_UNKNOWN] = { TLSD_PROTO_UNKNOWN_TYPE, true },
        [C_TYPE_ZERO] = { TLSD_PROTO_UNKNOWN_TYPE, true },
        [C_ID_ZERO] = { TLSD_PROTO_BAD_ID, false },
        [C_ATTR_HDR_TRUNC] = { TLSD_PROTO_ATTR_TRUNCATED, true },
        [C_ATTR_LEN_SMALL] = { TLSD_PROTO_ATTR_BAD_LENGTH, true },
        [C_ATTR_PAST_END] = { TLSD_PROTO_ATTR_TRUNCATED, true },
        [C_ATTR_UNKNOWN] = { TLSD_PROTO_ATTR_UNKNOWN, true },
        [C_ATTR_NOT_ALLOWED] = { TLSD_PROTO_ATTR_NOT_ALLOWED, true },
        [C_ATTR_DUP] = { TLSD_PROTO_ATTR_DUPLICATE, true },
        [C_ATTR_OVERSIZE] = { TLSD_PROTO_ATTR_SIZE, true },
        [C_PADDING] = { TLSD_PROTO_PADDING, true },
        [C_ATTR_IN_VERSION] = { TLSD_PROTO_ATTR_NOT_ALLOWED, true },
        [C_FDS] = { TLSD_PROTO_UNEXPECTED_FDS, true },
        [C_FDS_TOO_MANY] = { TLSD_PROTO_FDS_TRUNCATED, true }, /* the bytes arrived whole */
};

static void build_case(Case c, Packet *p) {
        uint8_t payload[8] = "abcdefg";
        uint8_t big[5000];
        uint32_t u = 1;

        memset(big, 'x', sizeof(big));
        pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, TLSD_MSG_PING, ID);
        switch (c) {
        case C_EMPTY:
                p->n = 0;
                return;
        case C_SHORT:
                p->n = 10;
                return;
        case C_MAGIC:
                pk_header(p, 0xdeadbeef, TLSD_PROTO_VERSION, 0, TLSD_MSG_PING, ID);
                break;
        case C_VERSION:
                pk_header(p, TLSD_PROTO_MAGIC, 99, 0, TLSD_MSG_PING, ID);
                break;
        case C_TOO_LARGE:
                memset(p->b + p->n, 0, TLSD_MSG_MAX);
                p->n = TLSD_MSG_MAX + 64;
                break;
        case C_LENGTH:
                pk_attr(p, TLSD_A_PAYLOAD, payload, 4);
                pk_finish(p);
                p->b[12] += 8; /* claims more than was sent */
                return;
        case C_FLAGS_REPLY:
                pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, TLSD_F_REPLY, TLSD_MSG_PING, ID);
                break;
        case C_FLAGS_UNKNOWN:
                pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0x80, TLSD_MSG_PING, ID);
                break;
        case C_TYPE_UNKNOWN:
                pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, 999, ID);
                break;
        case C_TYPE_ZERO:
                pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, 0, ID);
                break;
        case C_ID_ZERO:
                pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, TLSD_MSG_PING, 0);
                break;
        case C_ATTR_HDR_TRUNC:
                p->b[p->n++] = 8;
                p->b[p->n++] = 0;
                break;
        case C_ATTR_LEN_SMALL:
                pk_attr_raw(p, 2, TLSD_A_PAYLOAD, NULL, 0, 0, 0);
                break;
        case C_ATTR_PAST_END:
                pk_attr_raw(p, 40, TLSD_A_PAYLOAD, payload, 8, 0, 0);
                break;
        case C_ATTR_UNKNOWN:
                pk_attr(p, 500, &u, 4);
                break;
        case C_ATTR_NOT_ALLOWED:
                pk_attr(p, TLSD_A_UID, &u, 4);
                break;
        case C_ATTR_DUP:
                pk_attr(p, TLSD_A_PAYLOAD, payload, 4);
                pk_attr(p, TLSD_A_PAYLOAD, payload, 4);
                break;
        case C_ATTR_OVERSIZE:
                pk_attr(p, TLSD_A_PAYLOAD, big, sizeof(big));
                break;
        case C_PADDING:
                pk_attr_raw(p, 4 + 3, TLSD_A_PAYLOAD, payload, 3, 1, 0xff);
                break;
        case C_ATTR_IN_VERSION:
                pk_header(p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, TLSD_MSG_VERSION, ID);
                pk_attr(p, TLSD_A_PAYLOAD, payload, 4);
                break;
        case C_FDS:
        case C_FDS_TOO_MANY:
                break;
        case _C_MAX:
                abort();
        }
        pk_finish(p);
}

/* Sends case c on raw and checks the error reply names the expected problem. */
static void check_case(int raw, Case c) {
        static Packet p;
        uint8_t reply[TLSD_MSG_MAX];
        int pipefd[2] = { -1, -1 }, many[8];
        unsigned n_fds = 0;
        const int *fds = NULL;
        TlsdMsgView v;
        const char *msg = NULL;
        uint32_t err = 0;
        ssize_t n;

        build_case(c, &p);
        if (c == C_FDS || c == C_FDS_TOO_MANY) {
                ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
                if (c == C_FDS) {
                        fds = &pipefd[1];
                        n_fds = 1;
                } else {
                        for (unsigned i = 0; i < 8; i++)
                                many[i] = pipefd[1];
                        fds = many;
                        n_fds = 8;
                }
        }
        if (c == C_TOO_LARGE) {
                int sz = 4 * TLSD_MSG_MAX;

                (void) setsockopt(raw, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        }
        raw_send(raw, p.b, p.n, fds, n_fds);

        n = raw_recv(raw, reply, sizeof(reply));
        ck_assert_msg(n > 0, "case %d: daemon hung up instead of replying", c);
        ck_assert_int_eq(tlsd_msg_parse(reply, (size_t) n, 0, TLSD_DIR_FROM_DAEMON, &v), 0);
        ck_assert_uint_eq(v.header.flags, TLSD_F_REPLY | TLSD_F_ERROR);
        ck_assert_int_eq(tlsd_msg_get_u32(&v, TLSD_A_ERROR, &err), 0);
        ck_assert_uint_eq(err, TLSD_ERR_PROTOCOL);
        ck_assert_int_eq(tlsd_msg_get_str(&v, TLSD_A_MESSAGE, &msg), 0);
        ck_assert_msg(strstr(msg, tlsd_proto_error_name(expectations[c].error)),
                      "case %d: expected '%s', daemon said '%s'", c,
                      tlsd_proto_error_name(expectations[c].error), msg);
        if (expectations[c].id_echoed)
                ck_assert_uint_eq(v.header.id, ID);
        if (c == C_FDS || c == C_FDS_TOO_MANY)
                ck_assert_msg(v.header.type == TLSD_MSG_PING,
                              "case %d: error reply of type %u, the request was a Ping (%u)", c,
                              v.header.type, TLSD_MSG_PING);

        if (pipefd[0] >= 0) {
                /* The daemon must have closed every descriptor it was sent: once ours is
                 * closed too, the read end sees EOF. */
                struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
                char ch;

                close(pipefd[1]);
                ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
                ck_assert_int_eq(read(pipefd[0], &ch, 1), 0);
                close(pipefd[0]);
        }
}

static void good_client_works(tlsc_client *good, unsigned i) {
        char payload[64];
        int r;

        snprintf(payload, sizeof(payload), "still served after case %u", i);
        r = tlsc_ping(good, payload, strlen(payload));
        ck_assert_msg(r == 0, "good client failed after case %u: %s", i, tlsd_strerror(r));
}

START_TEST(test_malformed_over_socket) {
        Daemon d;
        tlsc_client *good = NULL;
        int raw, fds_before, fds_after;
        static Packet p;

        daemon_init(&d);
        d.config = "[Limits]\nMaxProtocolErrors=1000\n";
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &good), 0);
        good_client_works(good, 0);
        fds_before = count_fds(d.pid);

        raw = raw_connect(d.socket_path);
        for (unsigned round = 0; round < 2; round++)
                for (Case c = 0; c < _C_MAX; c++) {
                        check_case(raw, c);
                        good_client_works(good, c);
                }

        /* The misbehaving client is still a client: a valid request works. */
        pk_header(&p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, TLSD_MSG_PING, 7);
        pk_finish(&p);
        raw_send(raw, p.b, p.n, NULL, 0);
        {
                uint8_t reply[256];
                TlsdMsgView v;
                ssize_t n = raw_recv(raw, reply, sizeof(reply));

                ck_assert_int_gt(n, 0);
                ck_assert_int_eq(tlsd_msg_parse(reply, (size_t) n, 0, TLSD_DIR_FROM_DAEMON, &v), 0);
                ck_assert_uint_eq(v.header.flags, TLSD_F_REPLY);
                ck_assert_uint_eq(v.header.id, 7);
        }
        close(raw);
        good_client_works(good, 1000);

        /* Nothing leaked: the daemon holds as many descriptors as before the barrage. */
        fds_after = count_fds(d.pid);
        ck_assert_int_eq(fds_before, fds_after);

        tlsc_close(good);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_protocol_error_limit) {
        Daemon d;
        tlsc_client *good = NULL;
        uint8_t buf[4096];
        unsigned replies = 0;
        int raw;

        daemon_init(&d);
        d.config = "[Limits]\nMaxProtocolErrors=5\n";
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &good), 0);
        raw = raw_connect(d.socket_path);
        for (unsigned i = 0; i < 5; i++)
                (void) send(raw, "garbage!garbage!garbage!", 24, MSG_NOSIGNAL);
        for (;;) {
                ssize_t n = raw_recv(raw, buf, sizeof(buf));

                if (n == 0)
                        break;
                replies++;
        }
        /* five error replies, then the daemon hung up */
        ck_assert_uint_eq(replies, 5);
        close(raw);
        good_client_works(good, 0);
        tlsc_close(good);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_start_stop_and_identity) {
        Daemon d;
        tlsc_client *c = NULL;
        tlsc_version v;
        tlsc_identity id;
        struct stat st;
        long ms;

        daemon_init(&d);
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(stat(d.socket_path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 0777, 0660);

        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);
        ck_assert_int_eq(tlsc_get_version(c, &v), 0);
        ck_assert_str_eq(v.version, PACKAGE_VERSION);
        ck_assert_uint_eq(v.protocol, TLSD_PROTO_VERSION);
        ck_assert_msg(strncmp(v.tls_library, "wolfSSL ", 8) == 0, "%s", v.tls_library);
        ck_assert_int_eq(tlsc_whoami(c, &id), 0);
        ck_assert_uint_eq(id.uid, getuid());
        ck_assert_uint_eq(id.gid, getgid());
        ck_assert_int_eq(id.pid, getpid());
        ck_assert_int_eq(tlsc_ping(c, "hello", 5), 0);
        ck_assert_int_eq(tlsc_ping(c, NULL, 0), 0);
        ck_assert_int_eq(tlsc_ping(c, "x", 4097), -TLSD_ERR_PARAM);

        /* An idle daemon with a connected client stops at once and removes its socket: within the
         * harness's patience (5 s, after which it would be killed and the status not 0), which
         * a stop waiting for a timer or for the client would exceed. */
        ck_assert_int_eq(daemon_stop(&d, &ms), 0);
        fprintf(stderr, "SIGTERM to exit: %ld ms\n", ms);
        ck_assert_int_eq(stat(d.socket_path, &st), -1);
        ck_assert_int_eq(errno, ENOENT);

        /* ... and the client learns it is gone. */
        ck_assert_int_eq(tlsc_ping(c, NULL, 0), -TLSD_ERR_DISCONNECTED);
        tlsc_close(c);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_unprivileged_daemon) {
        Daemon d;
        tlsc_client *c = NULL;
        tlsc_identity id;
        struct stat st;
        long ms;

        daemon_init(&d);
        d.uid = 65534;    /* nobody */
        d.use_xdg = true; /* no --runtime-dir: derived from $XDG_RUNTIME_DIR */
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(stat(d.socket_path, &st), 0);
        ck_assert_uint_eq(st.st_uid, 65534);
        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);
        ck_assert_int_eq(tlsc_whoami(c, &id), 0);
        ck_assert_uint_eq(id.uid, 0);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, &ms), 0);
        fprintf(stderr, "SIGTERM to exit: %ld ms\n", ms);
        ck_assert_int_eq(stat(d.socket_path, &st), -1);
        daemon_cleanup(&d);
}
END_TEST

typedef struct AsyncState {
        unsigned pings, versions, identities, errors;
        int last_error;
} AsyncState;

static void on_ping(tlsc_client *c, int r, void *u) {
        AsyncState *s = u;

        if (r < 0) {
                s->errors++;
                s->last_error = r;
        } else
                s->pings++;
}

static void on_version(tlsc_client *c, int r, const tlsc_version *v, void *u) {
        AsyncState *s = u;

        if (r < 0 || !v || strcmp(v->version, PACKAGE_VERSION) != 0)
                s->errors++;
        else
                s->versions++;
}

static void on_identity(tlsc_client *c, int r, const tlsc_identity *id, void *u) {
        AsyncState *s = u;

        if (r < 0 || !id || id->pid != getpid())
                s->errors++;
        else
                s->identities++;
}

typedef struct ObjState {
        unsigned n;
        uint64_t last_id;
        int last_result;
} ObjState;

static void on_id(tlsc_client *c, int r, uint64_t id, void *u) {
        ObjState *s = u;

        s->n++;
        s->last_result = r;
        s->last_id = id;
}

static void on_done_obj(tlsc_client *c, int r, void *u) {
        ObjState *s = u;

        s->n++;
        s->last_result = r;
}

static void run_until(tlsc_client *c, const unsigned *n, unsigned want) {
        long deadline = now_ms() + 5000;

        while (*n < want && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(c), .events = tlsc_get_events(c) };

                ck_assert_int_ge(poll(&pfd, 1, 1000), 0);
                ck_assert_int_ge(tlsc_dispatch(c), 0);
        }
        ck_assert_uint_eq(*n, want);
}

START_TEST(test_async_objects) {
        tlsc_session_options o = { .alpn = "h2" };
        ObjState s = {};
        uint64_t session, conn;
        Daemon d;
        tlsc_client *c = NULL;

        daemon_init(&d);
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);

        ck_assert_int_eq(tlsc_session_create_async(c, TLSC_ROLE_CLIENT, NULL, on_id, &s), 0);
        run_until(c, &s.n, 1);
        ck_assert_int_eq(s.last_result, 0);
        session = s.last_id;
        ck_assert_uint_ne(session, 0);
        ck_assert_int_eq(tlsc_session_configure_async(c, session, &o, on_done_obj, &s), 0);
        run_until(c, &s.n, 2);
        ck_assert_int_eq(s.last_result, 0);
        ck_assert_int_eq(tlsc_connection_create_async(c, session, 0, on_id, &s), 0);
        run_until(c, &s.n, 3);
        ck_assert_int_eq(s.last_result, 0);
        conn = s.last_id;
        ck_assert_int_eq(tlsc_connection_bind_async(c, conn, "127.0.0.1", 0, on_done_obj, &s), 0);
        run_until(c, &s.n, 4);
        ck_assert_int_eq(s.last_result, 0);
        /* errors come back through the callback too */
        ck_assert_int_eq(tlsc_connection_destroy_async(c, conn + 1000, on_done_obj, &s), 0);
        run_until(c, &s.n, 5);
        ck_assert_int_eq(s.last_result, -TLSD_ERR_NOT_FOUND);
        ck_assert_int_eq(tlsc_connection_destroy_async(c, conn, on_done_obj, &s), 0);
        ck_assert_int_eq(tlsc_session_destroy_async(c, session, on_done_obj, &s), 0);
        run_until(c, &s.n, 7);
        ck_assert_int_eq(s.last_result, 0);
        ck_assert_int_eq(tlsc_session_destroy(c, session), -TLSD_ERR_NOT_FOUND);

        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_object_limits) {
        uint64_t s1, s2, s3, c1, c2, c3;
        Daemon d;
        tlsc_client *a = NULL, *b = NULL;

        daemon_init(&d);
        d.config = "[Limits]\nMaxSessionsPerClient=2\nMaxConnectionsPerUser=2\n";
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &a), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &b), 0);
        ck_assert_int_eq(tlsc_session_create(a, TLSC_ROLE_CLIENT, NULL, &s1), 0);
        ck_assert_int_eq(tlsc_session_create(a, TLSC_ROLE_CLIENT, NULL, &s2), 0);
        ck_assert_int_eq(tlsc_session_create(a, TLSC_ROLE_CLIENT, NULL, &s3), -TLSD_ERR_LIMIT);
        ck_assert_ptr_nonnull(strstr(tlsc_last_error_message(a), "MaxSessionsPerClient"));
        /* connections count per user, across that user's clients */
        ck_assert_int_eq(tlsc_connection_create(a, s1, 0, &c1), 0);
        ck_assert_int_eq(tlsc_session_create(b, TLSC_ROLE_CLIENT, NULL, &s3), 0);
        ck_assert_int_eq(tlsc_connection_create(b, s3, 0, &c2), 0);
        ck_assert_int_eq(tlsc_connection_create(a, s2, 0, &c3), -TLSD_ERR_LIMIT);
        ck_assert_ptr_nonnull(strstr(tlsc_last_error_message(a), "MaxConnectionsPerUser"));
        /* b going away frees its connection for a, once the daemon noticed (on its own loop:
         * waited for, not slept) */
        tlsc_close(b);
        {
                long deadline = now_ms() + (getenv("TLSD_TEST_WRAPPER") ? 60000 : 10000);
                int r;

                while ((r = tlsc_connection_create(a, s2, 0, &c3)) == -TLSD_ERR_LIMIT &&
                       now_ms() < deadline)
                        usleep(10000);
                ck_assert_msg(r == 0, "connection after b left: %s (%s)", tlsd_strerror(r),
                              tlsc_last_error_message(a));
        }
        /* an unknown role: a clear error */
        ck_assert_int_eq(tlsc_session_destroy(a, s1), 0);
        ck_assert_int_eq(tlsc_session_create(a, 7, NULL, &s1), -TLSD_ERR_PARAM);
        tlsc_close(a);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_async_api) {
        AsyncState s = {};
        Daemon d;
        tlsc_client *c = NULL;
        tlsc_version v;
        long deadline;

        daemon_init(&d);
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);

        for (unsigned i = 0; i < 500; i++)
                ck_assert_int_eq(tlsc_ping_async(c, &i, sizeof(i), on_ping, &s), 0);
        ck_assert_int_eq(tlsc_get_version_async(c, on_version, &s), 0);
        ck_assert_int_eq(tlsc_whoami_async(c, on_identity, &s), 0);
        /* A blocking call in between dispatches the async replies that come first. */
        ck_assert_int_eq(tlsc_get_version(c, &v), 0);

        deadline = now_ms() + 5000;
        while (tlsc_pending(c) > 0 && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(c), .events = tlsc_get_events(c) };

                ck_assert_int_ge(poll(&pfd, 1, 1000), 0);
                ck_assert_int_ge(tlsc_dispatch(c), 0);
        }
        ck_assert_uint_eq(s.pings, 500);
        ck_assert_uint_eq(s.versions, 1);
        ck_assert_uint_eq(s.identities, 1);
        ck_assert_uint_eq(s.errors, 0);

        /* Requests outstanding when the daemon goes away fail with Disconnected: freeze it so
         * the request cannot be answered, then kill it. */
        kill(d.pid, SIGSTOP);
        ck_assert_int_eq(tlsc_ping_async(c, NULL, 0, on_ping, &s), 0);
        ck_assert_uint_eq(tlsc_pending(c), 1);
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = -1;
        deadline = now_ms() + 5000;
        while (tlsc_pending(c) > 0 && now_ms() < deadline) {
                struct pollfd pfd = { .fd = tlsc_get_fd(c), .events = POLLIN };

                (void) poll(&pfd, 1, 1000);
                (void) tlsc_dispatch(c);
        }
        ck_assert_uint_eq(s.errors, 1);
        ck_assert_int_eq(s.last_error, -TLSD_ERR_DISCONNECTED);
        tlsc_close(c);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_client_limits) {
        Daemon d;
        tlsc_client *c[4] = {};
        int r;

        daemon_init(&d);
        d.config = "[Limits]\nMaxClientsPerUser=3\n";
        ck_assert_int_eq(daemon_start(&d), 0);
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_int_eq(tlsc_open(d.socket_path, &c[i]), 0);
                ck_assert_int_eq(tlsc_ping(c[i], NULL, 0), 0);
        }
        ck_assert_int_eq(tlsc_open(d.socket_path, &c[3]), 0);
        r = tlsc_ping(c[3], NULL, 0);
        ck_assert_msg(r == -TLSD_ERR_LIMIT, "4th client got %s (%s)", tlsd_strerror(r),
                      tlsc_last_error_message(c[3]));
        ck_assert_ptr_nonnull(strstr(tlsc_last_error_message(c[3]), "too many clients"));
        tlsc_close(c[3]);

        /* A slot freed is a slot available again, once the daemon noticed (waited for). */
        tlsc_close(c[0]);
        {
                long deadline = now_ms() + (getenv("TLSD_TEST_WRAPPER") ? 60000 : 10000);

                for (;;) {
                        ck_assert_int_eq(tlsc_open(d.socket_path, &c[0]), 0);
                        r = tlsc_ping(c[0], NULL, 0);
                        if (r != -TLSD_ERR_LIMIT || now_ms() >= deadline)
                                break;
                        tlsc_close(c[0]);
                        usleep(10000);
                }
                ck_assert_msg(r == 0, "a client after one left: %s (%s)", tlsd_strerror(r),
                              tlsc_last_error_message(c[0]));
        }
        for (unsigned i = 0; i < 3; i++)
                tlsc_close(c[i]);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_slow_reader_is_cut) {
        Daemon d;
        tlsc_client *good = NULL;
        static Packet p;
        uint8_t payload[4096];
        unsigned sent = 0;
        int raw;
        long deadline;
        bool cut = false;

        daemon_init(&d);
        d.config = "[Limits]\nClientQueueBytes=64K\n";
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &good), 0);
        raw = raw_connect(d.socket_path);
        memset(payload, 'p', sizeof(payload));
        pk_header(&p, TLSD_PROTO_MAGIC, TLSD_PROTO_VERSION, 0, TLSD_MSG_PING, 1);
        pk_attr(&p, TLSD_A_PAYLOAD, payload, sizeof(payload));
        pk_finish(&p);

        /* Keep asking, never read: the daemon must cut us rather than queue without bound. */
        deadline = now_ms() + 10000;
        while (now_ms() < deadline) {
                ssize_t n = send(raw, p.b, p.n, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
                        cut = true;
                        break;
                }
                if (n < 0 && errno == EAGAIN) {
                        struct pollfd pfd = { .fd = raw, .events = POLLOUT };

                        (void) poll(&pfd, 1, 100);
                        if (pfd.revents & (POLLHUP | POLLERR)) {
                                cut = true;
                                break;
                        }
                        continue;
                }
                ck_assert_int_eq(n, (ssize_t) p.n);
                sent++;
        }
        ck_assert_msg(cut, "daemon kept a client that never reads (sent %u requests)", sent);
        close(raw);
        good_client_works(good, 0);
        tlsc_close(good);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_second_daemon_and_stale_socket) {
        Daemon d, d2;
        tlsc_client *c = NULL;

        daemon_init(&d);
        ck_assert_int_eq(daemon_start(&d), 0);

        /* A second daemon on the same runtime directory refuses to start. */
        daemon_init(&d2);
        snprintf(d2.runtime_dir, sizeof(d2.runtime_dir), "%s", d.runtime_dir);
        snprintf(d2.socket_path, sizeof(d2.socket_path), "%s", d.socket_path);
        ck_assert_int_eq(daemon_start(&d2), -ECHILD);
        daemon_cleanup(&d2);
        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);
        ck_assert_int_eq(tlsc_ping(c, NULL, 0), 0);
        tlsc_close(c);

        /* After a crash (SIGKILL) the stale socket is replaced by the next start. */
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = -1;
        close(d.notify_fd);
        unlink(d.notify_path);
        d.notify_fd = -1;
        ck_assert_int_eq(access(d.socket_path, F_OK), 0);
        ck_assert_int_eq(daemon_start(&d), 0);
        ck_assert_int_eq(tlsc_open(d.socket_path, &c), 0);
        ck_assert_int_eq(tlsc_ping(c, NULL, 0), 0);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

static Suite *daemon_suite(Skipped *skipped) {
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("integration");

        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 600 : 60);
        tcase_add_test(tc, test_start_stop_and_identity);
        harness_add_root_test(tc, test_unprivileged_daemon, "test_unprivileged_daemon",
                              "runs tlsd as uid 65534 with only XDG_RUNTIME_DIR", skipped);
        tcase_add_test(tc, test_malformed_over_socket);
        tcase_add_test(tc, test_protocol_error_limit);
        tcase_add_test(tc, test_async_api);
        tcase_add_test(tc, test_async_objects);
        tcase_add_test(tc, test_object_limits);
        tcase_add_test(tc, test_client_limits);
        tcase_add_test(tc, test_slow_reader_is_cut);
        tcase_add_test(tc, test_second_daemon_and_stale_socket);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        Skipped skipped = {};
        SRunner *sr = srunner_create(daemon_suite(&skipped));

        return harness_run(sr, &skipped);
}
