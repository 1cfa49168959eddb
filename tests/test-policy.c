/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd's security policy as the README states it ("Refused with the reason: TLS < 1.2, RC4,
 * NULL, anonymous, export, DES/3DES, MD5, static RSA/DH, compression != 0. ECDHE-CBC suites only
 * with the per-session legacy opt-in (logged)"; "strict verification against the CA bundle
 * given, else the system store"), for the parts no other test exercises:
 *
 *  - suite families named in a session's cipher list: anonymous, export, DES/3DES, MD5, static
 *    DH/ECDH, by IANA and by OpenSSL name, client and server sessions, with and without the
 *    legacy opt-in: RefusedByPolicy, with the reason in the message;
 *  - versions below TLS 1.2 (and DTLS 1.0) in a session: refused with the reason; on the wire,
 *    a TLS 1.1-only openssl s_server fails tlsd's handshake with protocol_version, and an
 *    openssl s_client -tls1_1 is not accepted by a tlsd listener; the same for an anonymous
 *    (ADH) suite on either side;
 *  - the legacy opt-in: a CBC suite against openssl s_server -tls1_2 works with it (and is
 *    logged), is refused without it;
 *  - the system store: a client session without a CA verifies against /etc/ssl/certs (replaced
 *    by the test CA in a private mount namespace), a given CA replaces the system store unless
 *    system_trust is set.
 *
 * The system-store part needs root (a mount namespace); without root it is not run and the
 * program exits 77 after the others passed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testkit.h"

/* ---- refused suite families ---- */

static const struct {
        const char *name, *why;
} refused_suites[] = {
        { "ADH-AES128-GCM-SHA256", "anonymous key exchange" },
        { "AECDH-AES128-SHA", "anonymous key exchange" },
        { "TLS_DH_anon_WITH_AES_128_GCM_SHA256", "anonymous key exchange" },
        { "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "anonymous key exchange" },
        { "EXP-DES-CBC-SHA", "export-grade" },
        { "EXP-RC2-CBC-MD5", "export-grade" },
        { "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", "export-grade" },
        { "DES-CBC-SHA", "DES and 3DES" },
        { "DES-CBC3-SHA", "DES and 3DES" },
        { "ECDHE-RSA-DES-CBC3-SHA", "DES and 3DES" },
        { "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES and 3DES" },
        { "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "DES and 3DES" },
        { "RC2-CBC-MD5", "MD5" },
        { "TLS_DH_RSA_WITH_AES_128_GCM_SHA256", "static DH" },
        { "TLS_DH_DSS_WITH_AES_256_GCM_SHA384", "static DH" },
        { "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "static ECDH" },
        { "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", "static ECDH" },
};

/* The same static key exchanges by their OpenSSL names (which --ciphers takes as well). */
static const struct {
        const char *name, *why;
} refused_static_openssl_names[] = {
        { "DH-RSA-AES128-GCM-SHA256", "static DH" },
        { "DH-DSS-AES256-GCM-SHA384", "static DH" },
        { "ECDH-ECDSA-AES128-GCM-SHA256", "static ECDH" },
        { "ECDH-RSA-AES256-GCM-SHA384", "static ECDH" },
};

/* Whether creating a session (role, legacy) with `ciphers` is refused by policy naming `why`;
 * appends a line to problems if not. */
static void expect_refused(tlsc_client *c, int role, int legacy, const char *ciphers,
                           const char *why, char *problems, size_t size) {
        tlsc_session_options o = { .ciphers = ciphers, .legacy = legacy };
        uint64_t s;
        int r = tlsc_session_create(c, role, &o, &s);
        const char *msg = tlsc_last_error_message(c);
        char want[128];

        snprintf(want, sizeof(want), "refused: %s", why);
        if (r == -TLSD_ERR_REFUSED && strstr(msg, want))
                return;
        snprintf(problems + strlen(problems), size - strlen(problems),
                 "\n  %s (%s%s): %s: '%s', want RefusedByPolicy '... %s ...'", ciphers,
                 role == TLSC_ROLE_SERVER ? "server" : "client", legacy ? ", legacy" : "",
                 r == 0 ? "accepted" : tlsd_error_name(r), r == 0 ? "" : msg, want);
        if (r == 0)
                (void) tlsc_session_destroy(c, s);
}

START_TEST(test_refused_suite_families) {
        static char problems[16384];
        tlsc_session_options ok = {};
        unsigned n_problems = 0;
        Daemon d;
        tlsc_client *c;
        uint64_t s;

        problems[0] = 0;
        tk_daemon_start(&d, NULL);
        c = tk_open(&d);
        for (size_t i = 0; i < sizeof(refused_suites) / sizeof(refused_suites[0]); i++)
                for (int role = 0; role < 2; role++)
                        for (int legacy = 0; legacy < 2; legacy++)
                                expect_refused(c, role, legacy, refused_suites[i].name,
                                               refused_suites[i].why, problems, sizeof(problems));
        /* a refused family inside an otherwise good list still refuses the list */
        expect_refused(c, TLSC_ROLE_CLIENT, 0,
                       "ECDHE-ECDSA-AES128-GCM-SHA256:ADH-AES128-GCM-SHA256",
                       "anonymous key exchange", problems, sizeof(problems));
        /* ... and on an existing session (Configure), which keeps its old policy */
        ck_assert_int_eq(tlsc_session_create(c, TLSC_ROLE_CLIENT, &ok, &s), 0);
        ok.ciphers = "DES-CBC3-SHA";
        if (tlsc_session_configure(c, s, &ok) != -TLSD_ERR_REFUSED ||
            !strstr(tlsc_last_error_message(c), "refused: DES and 3DES"))
                snprintf(problems + strlen(problems), sizeof(problems) - strlen(problems),
                         "\n  tlsc_session_configure with DES-CBC3-SHA: '%s'",
                         tlsc_last_error_message(c));
        for (const char *p = problems; (p = strchr(p, '\n')); p++)
                n_problems++;
        ck_assert_msg(n_problems == 0, "%u refusals missing or without their reason:%s", n_problems,
                      problems);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

START_TEST(test_refused_static_dh_openssl_names) {
        static char problems[8192];
        unsigned n_problems = 0;
        Daemon d;
        tlsc_client *c;

        problems[0] = 0;
        tk_daemon_start(&d, NULL);
        c = tk_open(&d);
        for (size_t i = 0;
             i < sizeof(refused_static_openssl_names) / sizeof(refused_static_openssl_names[0]);
             i++)
                expect_refused(c, TLSC_ROLE_CLIENT, 0, refused_static_openssl_names[i].name,
                               refused_static_openssl_names[i].why, problems, sizeof(problems));
        for (const char *p = problems; (p = strchr(p, '\n')); p++)
                n_problems++;
        ck_assert_msg(n_problems == 0, "%u refusals missing or without their reason:%s", n_problems,
                      problems);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- versions before TLS 1.2 ---- */

START_TEST(test_old_versions_refused_in_sessions) {
        static const struct {
                int transport;
                unsigned min, max;
                const char *why;
        } cases[] = {
                { TLSC_TRANSPORT_TLS, 0x0301, 0x0304, "TLS versions before 1.2 are refused" },
                { TLSC_TRANSPORT_TLS, 0x0302, 0x0303, "TLS versions before 1.2 are refused" },
                { TLSC_TRANSPORT_TLS, 0x0300, 0x0300, "TLS versions before 1.2 are refused" },
                { TLSC_TRANSPORT_DTLS, 0xfeff, 0xfefd, "DTLS 1.0 is refused" },
        };
        Daemon d;
        tlsc_client *c;

        tk_daemon_start(&d, NULL);
        c = tk_open(&d);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                for (int role = 0; role < 2; role++) {
                        tlsc_session_options o = { .transport = cases[i].transport,
                                                   .version_min = cases[i].min,
                                                   .version_max = cases[i].max };
                        uint64_t s;
                        int r = tlsc_session_create(c, role, &o, &s);

                        ck_assert_msg(r == -TLSD_ERR_REFUSED &&
                                              strstr(tlsc_last_error_message(c), cases[i].why),
                                      "versions 0x%04x..0x%04x (%s): %s: %s", cases[i].min,
                                      cases[i].max, role ? "server" : "client", tlsd_strerror(r),
                                      tlsc_last_error_message(c));
                }
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* tlsd's default client policy against an openssl s_server that offers only what policy
 * refuses: the handshake fails with the alert `alert`. */
static void client_refuses_server(const char *const *server_args, int alert, const char *what) {
        tlsc_connection_info info;
        TkPeer p;
        Daemon d;
        tlsc_client *c;
        uint64_t s, conn;
        int fd;

        ck_assert_msg(tk_openssl_server(&p, server_args), "openssl s_server (%s): %s", what, p.log);
        tk_daemon_start(&d, NULL);
        c = tk_open(&d);
        s = tk_client_session(c, NULL);
        ck_assert_int_eq(tlsc_connection_create(c, s, AF_INET, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd < 0, "%s: tlsd's client completed a handshake (%s %s)", what, info.version,
                      info.cipher);
        ck_assert_msg(fd == -TLSD_ERR_HANDSHAKE && info.alert == alert,
                      "%s: %s, alert %d (want Handshake, alert %d): %s", what, tlsd_strerror(fd),
                      info.alert, alert, info.message);
        tlsc_close(c);
        tk_peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}

/* openssl s_client with `client_args` against a tlsd listener with the default policy: not
 * accepted, and the client's output matches `expect`. */
static void listener_refuses_client(const char *client_args, const char *expect, const char *what) {
        TkEvents se = {};
        Daemon d;
        tlsc_client *sc;
        uint64_t ss, listener;
        unsigned port;
        char cmd[1024], out[16384];
        int rc;

        tk_daemon_start(&d, NULL);
        sc = tk_open(&d);
        tlsc_set_event_handler(sc, tk_on_event, &se);
        ss = tk_server_session(sc, NULL);
        ck_assert_int_eq(tlsc_listen(sc, ss, "127.0.0.1", 0, NULL, &listener, &port), 0);
        snprintf(cmd, sizeof(cmd),
                 "echo hello | timeout 20 openssl s_client -connect 127.0.0.1:%u "
                 "-servername localhost %s",
                 port, client_args);
        rc = tk_run(cmd, out, sizeof(out));
        ck_assert_msg(rc != 0 && rc != 124, "%s: openssl s_client exit %d: %s", what, rc, out);
        ck_assert_msg(strstr(out, expect), "%s: '%s' not in openssl's output: %s", what, expect,
                      out);
        /* the listener announced nothing (a blocking call delivers the events before its reply) */
        ck_assert_int_eq(tlsc_ping(sc, NULL, 0), 0);
        ck_assert_uint_eq(tk_count(&se, TLSC_EVENT_ACCEPTED), 0);
        tlsc_close(sc);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}

START_TEST(test_tls11_peers_refused) {
        const char *args[] = { "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
                               "-rev",    "-cert",   NULL,
                               "-key",    NULL,      NULL };

        args[5] = tk_pki("server-ecdsa-chain.pem");
        args[7] = tk_pki("server-ecdsa.key");
        /* RFC 8446 4.2.1: the server aborts with protocol_version (70) */
        client_refuses_server(args, 70, "TLS 1.1-only openssl s_server");
        listener_refuses_client("-tls1_1 -cipher DEFAULT:@SECLEVEL=0", "alert protocol version",
                                "openssl s_client -tls1_1");
}
END_TEST

START_TEST(test_anonymous_peers_refused) {
        const char *args[] = { "-tls1_2", "-nocert", "-cipher", "ADH-AES128-GCM-SHA256:@SECLEVEL=0",
                               "-rev",    NULL };

        /* no suite in common: handshake_failure (40) */
        client_refuses_server(args, 40, "openssl s_server with only ADH-AES128-GCM-SHA256");
        listener_refuses_client("-tls1_2 -cipher ADH-AES128-GCM-SHA256:@SECLEVEL=0",
                                "alert handshake failure",
                                "openssl s_client with only ADH-AES128-GCM-SHA256");
}
END_TEST

/* ---- the legacy opt-in ---- */

START_TEST(test_legacy_opt_in) {
        const char *args[] = { "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256",
                               "-rev",    "-cert",   NULL,
                               "-key",    NULL,      NULL };
        tlsc_session_options o = { .ciphers = "ECDHE-ECDSA-AES128-SHA256" };
        tlsc_connection_info info;
        char log[300], buf[16];
        TkPeer p;
        Daemon d;
        tlsc_client *c;
        uint64_t s, conn;
        int r, fd;

        args[5] = tk_pki("server-ecdsa-chain.pem");
        args[7] = tk_pki("server-ecdsa.key");
        ck_assert_msg(tk_openssl_server(&p, args), "openssl s_server: %s", p.log);
        tk_daemon_start_logged(&d, NULL, log, sizeof(log));
        c = tk_open(&d);

        /* without the opt-in: refused, naming it */
        {
                size_t n;
                char *ca = tk_slurp(tk_pki("ca.pem"), &n);

                o.ca = ca;
                o.ca_size = n;
                r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &s);
                ck_assert_msg(r == -TLSD_ERR_REFUSED &&
                                      strstr(tlsc_last_error_message(c), "legacy opt-in"),
                              "a CBC suite without legacy: %s: %s", tlsd_strerror(r),
                              tlsc_last_error_message(c));
                free(ca);
                o.ca = NULL;
        }
        ck_assert_msg(!tk_wait_log(log, "legacy cipher suites enabled", 0),
                      "a refused legacy suite was logged as enabled");

        /* with it: the CBC suite is negotiated with a real peer, and the opt-in is logged */
        o.legacy = 1;
        s = tk_client_session(c, &o);
        ck_assert_msg(
                tk_wait_log(log, "legacy cipher suites enabled: ECDHE-ECDSA-AES128-SHA256", 5000),
                "the legacy opt-in is not logged");
        ck_assert_int_eq(tlsc_connection_create(c, s, AF_INET, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", p.port, NULL, &info);
        ck_assert_msg(fd >= 0, "legacy connect: %s: %s", tlsd_strerror(fd), info.message);
        ck_assert_str_eq(info.version, "TLSv1.2");
        ck_assert_str_eq(info.cipher, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256");
        tk_write_all(fd, "legacy\n", 7);
        tk_read_exact(fd, buf, 7, 10000);
        ck_assert_mem_eq(buf, "ycagel\n", 7);
        close(fd);

        /* the opt-in opens the CBC suites only, never a refused family */
        o.ciphers = "ECDHE-ECDSA-AES128-SHA256:DES-CBC3-SHA";
        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, &o, &s);
        ck_assert_msg(r == -TLSD_ERR_REFUSED &&
                              strstr(tlsc_last_error_message(c), "refused: DES and 3DES"),
                      "legacy with 3DES: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        tlsc_close(c);
        tk_peer_stop(&p);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);
}
END_TEST

/* ---- the system store ---- */

/* One strict client connect to the openssl peer; returns the fd or the error, *verify set. */
static int connect_with(tlsc_client *c, const tlsc_session_options *o, unsigned port,
                        int *ret_verify, char *message, size_t size) {
        tlsc_connection_info info;
        uint64_t s, conn;
        int r, fd;

        r = tlsc_session_create(c, TLSC_ROLE_CLIENT, o, &s);
        ck_assert_msg(r == 0, "session: %s: %s", tlsd_strerror(r), tlsc_last_error_message(c));
        ck_assert_int_eq(tlsc_connection_create(c, s, AF_INET, &conn), 0);
        fd = tlsc_connect(c, conn, "localhost", port, NULL, &info);
        *ret_verify = info.verify_result;
        snprintf(message, size, "%s", info.message);
        if (fd >= 0)
                close(fd);
        ck_assert_int_eq(tlsc_session_destroy(c, s), 0);
        return fd;
}

START_TEST(test_system_store_fallback) {
        const char *args[] = { "-rev", "-cert", NULL, "-key", NULL, NULL };
        tlsc_session_options none = {}, other = {}, other_sys = { .system_trust = 1 };
        char store[] = "/tmp/tlsd-test-store.XXXXXX", path[300], msg[1024];
        size_t n_ca, n_other;
        char *ca, *other_ca;
        Daemon outside, d;
        tlsc_client *c;
        TkPeer p;
        int fd, verify;

        args[2] = tk_pki("server-ecdsa-chain.pem");
        args[4] = tk_pki("server-ecdsa.key");
        ck_assert_msg(tk_openssl_server(&p, args), "openssl s_server: %s", p.log);
        ca = tk_slurp(tk_pki("ca.pem"), &n_ca);
        other_ca = tk_slurp(tk_pki("other-ca.pem"), &n_other);
        other.ca = other_ca;
        other.ca_size = n_other;
        other_sys.ca = other_ca;
        other_sys.ca_size = n_other;

        /* the machine's store does not know the test CA */
        tk_daemon_start(&outside, NULL);
        c = tk_open(&outside);
        fd = connect_with(c, &none, p.port, &verify, msg, sizeof(msg));
        ck_assert_msg(fd == -TLSD_ERR_VERIFY && verify == TLSC_VERIFY_UNKNOWN_ISSUER,
                      "with the machine's store: %s, %s: %s", tlsd_strerror(fd),
                      tlsc_verify_result_name(verify), msg);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&outside, NULL), 0);
        daemon_cleanup(&outside);

        /* a private mount namespace (this test's process only) where /etc/ssl/certs holds the
         * test CA alone; the daemon started now inherits it */
        ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_ptr_nonnull(mkdtemp(store));
        snprintf(path, sizeof(path), "%s/tlsd-test-ca.pem", store);
        write_file(path, ca);
        ck_assert_msg(mount(store, "/etc/ssl/certs", NULL, MS_BIND, NULL) == 0,
                      "bind mount over /etc/ssl/certs: %s", strerror(errno));

        tk_daemon_start(&d, NULL);
        c = tk_open(&d);
        /* no CA given: the system store, which now trusts the test CA */
        fd = connect_with(c, &none, p.port, &verify, msg, sizeof(msg));
        ck_assert_msg(fd >= 0 && verify == TLSC_VERIFY_OK, "no CA given, system store: %s, %s: %s",
                      tlsd_strerror(fd), tlsc_verify_result_name(verify), msg);
        /* a CA given replaces the system store ... */
        fd = connect_with(c, &other, p.port, &verify, msg, sizeof(msg));
        ck_assert_msg(fd == -TLSD_ERR_VERIFY && verify == TLSC_VERIFY_UNKNOWN_ISSUER,
                      "another CA given: %s, %s: %s", tlsd_strerror(fd),
                      tlsc_verify_result_name(verify), msg);
        /* ... unless system_trust adds it back */
        fd = connect_with(c, &other_sys, p.port, &verify, msg, sizeof(msg));
        ck_assert_msg(fd >= 0 && verify == TLSC_VERIFY_OK,
                      "another CA and system_trust: %s, %s: %s", tlsd_strerror(fd),
                      tlsc_verify_result_name(verify), msg);
        tlsc_close(c);
        ck_assert_int_eq(daemon_stop(&d, NULL), 0);
        daemon_cleanup(&d);

        (void) umount("/etc/ssl/certs");
        unlink(path);
        rmdir(store);
        free(ca);
        free(other_ca);
        tk_peer_stop(&p);
}
END_TEST

int main(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("policy");
        bool root = geteuid() == 0;
        SRunner *sr;
        int failed;

        if (system("openssl version >/dev/null 2>&1") != 0) {
                printf("SKIP: openssl(1), the independent peer, is not installed\n");
                return 77;
        }

        tcase_set_timeout(tc, getenv("TLSD_TEST_WRAPPER") ? 600 : 120);
        tcase_add_test(tc, test_refused_suite_families);
        tcase_add_test(tc, test_refused_static_dh_openssl_names);
        tcase_add_test(tc, test_old_versions_refused_in_sessions);
        tcase_add_test(tc, test_tls11_peers_refused);
        tcase_add_test(tc, test_anonymous_peers_refused);
        tcase_add_test(tc, test_legacy_opt_in);
        if (root)
                tcase_add_test(tc, test_system_store_fallback);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        if (failed)
                return EXIT_FAILURE;
        if (!root) {
                printf("SKIP: the system-store fallback needs root (a mount namespace)\n");
                return 77;
        }
        return EXIT_SUCCESS;
}
