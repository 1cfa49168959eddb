/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration parsing: good files, unknown keys and sections, bad values, syntax errors and
 * missing files, each reported as FILE:LINE; runtime- and state-directory resolution; the
 * [Tickets] section.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/config.h"
#include "util/log.h"

static char path[64];

static void setup(void) {
        int fd;

        snprintf(path, sizeof(path), "/tmp/tlsd-config.XXXXXX");
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        close(fd);
}

static void teardown(void) {
        unlink(path);
}

/* Loads text as a config file; returns the result and the error output in *errors. */
static int load(const char *text, Config **ret, char **errors) {
        char *buf = NULL;
        size_t size = 0;
        FILE *out, *f;
        int r;

        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);

        ck_assert_int_eq(config_new(ret), 0);
        out = open_memstream(&buf, &size);
        ck_assert_ptr_nonnull(out);
        r = config_load_file(*ret, path, out);
        fclose(out);
        *errors = buf;
        return r;
}

static void expect_error(const char *text, unsigned line, const char *fragment) {
        Config *c = NULL;
        char *errors = NULL, want[128];

        ck_assert_int_eq(load(text, &c, &errors), -EINVAL);
        snprintf(want, sizeof(want), "%s:%u: ", path, line);
        ck_assert_msg(strstr(errors, want), "expected '%s' in '%s'", want, errors);
        ck_assert_msg(strstr(errors, fragment), "expected '%s' in '%s'", fragment, errors);
        free(errors);
        config_free(c);
}

START_TEST(test_defaults) {
        Config *c = NULL;

        ck_assert_int_eq(config_new(&c), 0);
        ck_assert_ptr_null(c->runtime_dir);
        ck_assert_int_eq(c->log_level, LOG_INFO);
        ck_assert_uint_gt(c->max_clients, 0);
        ck_assert_uint_gt(c->max_clients_per_uid, 0);
        ck_assert_uint_le(c->max_clients_per_uid, c->max_clients);
        ck_assert_uint_gt(c->client_queue_bytes, 0);
        ck_assert_ptr_null(c->state_dir);
        ck_assert(c->tickets_persist);
        ck_assert_uint_eq(c->ticket_cache_entries_per_uid, 64);
        ck_assert_uint_eq(c->ticket_cache_entries, 4096);
        ck_assert_uint_eq(c->ticket_max_age_sec, 604800);
        ck_assert_uint_eq(c->ticket_key_rotation_sec, 43200);
        ck_assert_uint_eq(c->ticket_key_grace_sec, 86400);
        ck_assert(!c->early_data);
        config_free(c);
        config_free(NULL);
}
END_TEST

START_TEST(test_good_file) {
        Config *c = NULL;
        char *errors = NULL;

        ck_assert_int_eq(load("# tlsd test configuration\n"
                              "; both comment styles\n"
                              "\n"
                              "[Daemon]\n"
                              "RuntimeDirectory = /run/tlsd-test\n"
                              "LogLevel=debug\n"
                              "SocketGroup=adm\n"
                              "[Limits]\n"
                              "MaxClients=10\n"
                              "MaxClientsPerUser=2\n"
                              "ClientQueueBytes=1M\n"
                              "MaxProtocolErrors=3\n",
                              &c, &errors),
                         0);
        ck_assert_str_eq(errors, "");
        ck_assert_str_eq(c->runtime_dir, "/run/tlsd-test");
        ck_assert_int_eq(c->log_level, LOG_DEBUG);
        ck_assert_str_eq(c->socket_group, "adm");
        ck_assert_uint_eq(c->max_clients, 10);
        ck_assert_uint_eq(c->max_clients_per_uid, 2);
        ck_assert_uint_eq(c->client_queue_bytes, 1024 * 1024);
        ck_assert_uint_eq(c->max_protocol_errors, 3);
        free(errors);
        config_free(c);
}
END_TEST

START_TEST(test_empty_file) {
        Config *c = NULL;
        char *errors = NULL;

        ck_assert_int_eq(load("", &c, &errors), 0);
        ck_assert_str_eq(errors, "");
        ck_assert_uint_eq(c->max_clients, 1024);
        free(errors);
        config_free(c);
}
END_TEST

START_TEST(test_unknown_key) {
        expect_error("[Daemon]\nLogLevel=info\n\nFrobnicate=yes\n", 4, "unknown key Frobnicate=");
}
END_TEST

START_TEST(test_unknown_section) {
        expect_error("[Daemon]\nLogLevel=info\n[Bogus]\nX=1\n", 4, "unknown section [Bogus]");
}
END_TEST

START_TEST(test_key_outside_section) {
        expect_error("LogLevel=info\n", 1, "unknown section []");
}
END_TEST

START_TEST(test_bad_values) {
        expect_error("[Limits]\nMaxClients=lots\n", 2, "MaxClients=lots is invalid");
        expect_error("[Limits]\nMaxClients=0\n", 2, "between 1 and");
        expect_error("[Limits]\nMaxClients=-5\n", 2, "MaxClients=-5 is invalid");
        expect_error("[Limits]\nMaxClients=99999999999999999999999\n", 2, "is invalid");
        expect_error("[Limits]\nClientQueueBytes=12Q\n", 2, "a size (optionally K, M, G)");
        expect_error("[Limits]\nClientQueueBytes=1K\n", 2, "between 65536 and");
        expect_error("[Daemon]\nLogLevel=loud\n", 2, "LogLevel=loud is invalid");
        expect_error("[Daemon]\nRuntimeDirectory=relative/dir\n", 2, "absolute path");
        expect_error("[Daemon]\nSocketGroup=\n", 2, "must not be empty");
}
END_TEST

START_TEST(test_all_errors_reported) {
        Config *c = NULL;
        char *errors = NULL, want[128];

        ck_assert_int_eq(load("[Limits]\nMaxClients=x\nMaxClientsPerUser=y\nNope=1\n", &c, &errors),
                         -EINVAL);
        for (unsigned line = 2; line <= 4; line++) {
                snprintf(want, sizeof(want), "%s:%u: ", path, line);
                ck_assert_msg(strstr(errors, want), "no error for line %u in '%s'", line, errors);
        }
        free(errors);
        config_free(c);
}
END_TEST

START_TEST(test_syntax_error) {
        expect_error("[Daemon]\nLogLevel=info\nthis is not a key value pair\n", 3, "syntax error");
        expect_error("[Daemon\nLogLevel=info\n", 1, "syntax error");
}
END_TEST

START_TEST(test_missing_file) {
        Config *c = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *out;

        ck_assert_int_eq(config_new(&c), 0);
        out = open_memstream(&buf, &size);
        ck_assert_int_eq(config_load_file(c, "/nonexistent/tlsd.conf", out), -ENOENT);
        fclose(out);
        ck_assert_ptr_nonnull(strstr(buf, "/nonexistent/tlsd.conf: cannot open"));
        free(buf);
        config_free(c);
}
END_TEST

START_TEST(test_tickets) {
        Config *c = NULL;
        char *errors = NULL;

        ck_assert_int_eq(load("[Daemon]\n"
                              "StateDirectory=/var/lib/tlsd-test\n"
                              "[Tickets]\n"
                              "Persist=no\n"
                              "CacheEntriesPerUser=8\n"
                              "CacheEntries=100\n"
                              "MaxTicketAgeSec=3600\n"
                              "KeyRotationSec=600\n"
                              "KeyGraceSec=0\n"
                              "EarlyData=no\n",
                              &c, &errors),
                         0);
        ck_assert_str_eq(errors, "");
        ck_assert_str_eq(c->state_dir, "/var/lib/tlsd-test");
        ck_assert(!c->tickets_persist);
        ck_assert_uint_eq(c->ticket_cache_entries_per_uid, 8);
        ck_assert_uint_eq(c->ticket_cache_entries, 100);
        ck_assert_uint_eq(c->ticket_max_age_sec, 3600);
        ck_assert_uint_eq(c->ticket_key_rotation_sec, 600);
        ck_assert_uint_eq(c->ticket_key_grace_sec, 0);
        ck_assert(!c->early_data);
        free(errors);
        config_free(c);

        ck_assert_int_eq(load("[Tickets]\nPersist=Yes\nPersist=off\nPersist=TRUE\n", &c, &errors),
                         0);
        ck_assert(c->tickets_persist);
        free(errors);
        config_free(c);

        expect_error("[Tickets]\nPersist=maybe\n", 2,
                     "Persist=maybe is invalid: expected yes or no");
        expect_error("[Tickets]\nPersist=\n", 2, "Persist= is invalid");
        expect_error("[Tickets]\nCacheEntries=0\n", 2, "between 1 and");
        expect_error("[Tickets]\nCacheEntriesPerUser=-1\n", 2, "is invalid");
        expect_error("[Tickets]\nMaxTicketAgeSec=604801\n", 2, "between 1 and 604800");
        expect_error("[Tickets]\nKeyRotationSec=59\n", 2, "between 60 and");
        expect_error("[Tickets]\nKeyGraceSec=2592001\n", 2, "between 0 and 2592000");
        expect_error("[Tickets]\nEarlyData=yes\n", 2, "not supported: 0-RTT");
        expect_error("[Tickets]\nEarlyData=later\n", 2, "EarlyData=later is invalid: expected no");
        expect_error("[Tickets]\nTicketLifetime=5\n", 2, "unknown key TicketLifetime=");
        expect_error("[Daemon]\nStateDirectory=var/lib\n", 2, "absolute path");
}
END_TEST

/* [Tls]: the minimum key sizes, raised only. */
START_TEST(test_tls_min_keys) {
        Config *c = NULL;
        char *errors = NULL;

        ck_assert_int_eq(load("", &c, &errors), 0);
        ck_assert_uint_eq(c->min_rsa_key_bits, 2048);
        ck_assert_uint_eq(c->min_ecc_key_bits, 256);
        free(errors);
        config_free(c);

        ck_assert_int_eq(load("[Tls]\nMinRSAKeyBits=3072\nMinECCKeyBits=384\n", &c, &errors), 0);
        ck_assert_str_eq(errors, "");
        ck_assert_uint_eq(c->min_rsa_key_bits, 3072);
        ck_assert_uint_eq(c->min_ecc_key_bits, 384);
        free(errors);
        config_free(c);

        expect_error("[Tls]\nMinRSAKeyBits=1024\n", 2, "between 2048 and 16384");
        expect_error("[Tls]\nMinRSAKeyBits=16385\n", 2, "between 2048 and 16384");
        expect_error("[Tls]\nMinECCKeyBits=224\n", 2, "between 256 and 521");
        expect_error("[Tls]\nMinDHBits=2048\n", 2, "unknown key MinDHBits=");
}
END_TEST

static void expect_state_dir(const Config *c, const char *want) {
        char *d = NULL;

        ck_assert_int_eq(config_state_directory(c, &d), 0);
        ck_assert_str_eq(d, want);
        free(d);
}

START_TEST(test_state_dir) {
        Config *c = NULL;
        char *d = NULL;

        ck_assert_int_eq(config_new(&c), 0);
        setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);
        setenv("XDG_STATE_HOME", "/home/u/.state", 1);
        setenv("HOME", "/home/u", 1);
        expect_state_dir(c, "/var/lib/a");
        unsetenv("STATE_DIRECTORY");
        if (geteuid() == 0) {
                expect_state_dir(c, "/var/lib/tlsd");
        } else {
                expect_state_dir(c, "/home/u/.state/tlsd");
                setenv("XDG_STATE_HOME", "relative", 1); /* not absolute: ignored (XDG spec) */
                expect_state_dir(c, "/home/u/.local/state/tlsd");
                unsetenv("XDG_STATE_HOME");
                expect_state_dir(c, "/home/u/.local/state/tlsd");
        }
        c->state_dir = strdup("/srv/tlsd");
        expect_state_dir(c, "/srv/tlsd");
        ck_assert_int_eq(config_state_directory(c, &d), 0);
        ck_assert_ptr_ne(d, c->state_dir); /* a copy */
        free(d);
        config_free(c);
}
END_TEST

START_TEST(test_runtime_dir) {
        Config *c = NULL;

        ck_assert_int_eq(config_new(&c), 0);
        setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
        ck_assert_int_eq(config_resolve_runtime_dir(c), 0);
        ck_assert_str_eq(c->runtime_dir, "/run/a");
        config_free(c);

        ck_assert_int_eq(config_new(&c), 0);
        unsetenv("RUNTIME_DIRECTORY");
        setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
        ck_assert_int_eq(config_resolve_runtime_dir(c), 0);
        ck_assert_str_eq(c->runtime_dir, geteuid() == 0 ? "/run/tlsd" : "/run/user/1234/tlsd");
        config_free(c);

        if (geteuid() != 0) {
                ck_assert_int_eq(config_new(&c), 0);
                unsetenv("XDG_RUNTIME_DIR");
                ck_assert_int_eq(config_resolve_runtime_dir(c), -ENXIO);
                config_free(c);
        }
}
END_TEST

/* The limits on what one user can make the daemon hold besides connections. */
START_TEST(test_resource_limits) {
        Config *c = NULL;
        char *errors = NULL;

        ck_assert_int_eq(config_new(&c), 0);
        ck_assert_uint_eq(c->max_listeners_per_uid, 64);
        ck_assert_uint_eq(c->max_listeners, 1024);
        ck_assert_uint_eq(c->max_lookups_per_uid, 8);
        ck_assert_uint_eq(c->max_lookups, 64);
        config_free(c);

        ck_assert_int_eq(load("[Limits]\nMaxListenersPerUser=3\nMaxListeners=5\n"
                              "MaxNameLookupsPerUser=2\nMaxNameLookups=4\n",
                              &c, &errors),
                         0);
        ck_assert_str_eq(errors, "");
        ck_assert_uint_eq(c->max_listeners_per_uid, 3);
        ck_assert_uint_eq(c->max_listeners, 5);
        ck_assert_uint_eq(c->max_lookups_per_uid, 2);
        ck_assert_uint_eq(c->max_lookups, 4);
        free(errors);
        config_free(c);

        expect_error("[Limits]\nMaxListenersPerUser=0\n", 2, "between 1 and 1000000");
        expect_error("[Limits]\nMaxNameLookups=10001\n", 2, "between 1 and 10000");
}
END_TEST

/* [DBus] Address= is checked for the shape of a D-Bus address (issue 15: "not-an-address" passed
 * --check-config), and contradicting Bus=none. */
START_TEST(test_dbus_address) {
        static const char *const good[] = {
                "unix:path=/run/dbus/system_bus_socket",
                "unix:abstract=tlsd-test",
                "unix:path=/tmp/a%20b,guid=0123456789abcdef0123456789abcdef",
                "tcp:host=127.0.0.1,port=4711,family=ipv4",
                "unixexec:path=/usr/bin/systemd-stdio-bridge,argv1=-M,argv2=container",
                "x-machine-unix:machine=box",
                "unix:path=/nonexistent;unix:path=/run/dbus/system_bus_socket",
        };
        static const char *const bad[] = {
                "not-an-address", "/run/dbus/system_bus_socket",
                "unix:",          "unix:path",
                "unix:path=",     "unix:=x",
                "unx:path=/x",    "unix:path=/x,",
                "unix:path=/a b", "unix:path=/x;garbage",
                ":path=/x",
        };
        Config *c = NULL;
        char *errors = NULL, text[256];

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                snprintf(text, sizeof(text), "[DBus]\nAddress=%s\n", good[i]);
                ck_assert_msg(load(text, &c, &errors) == 0, "%s refused: %s", good[i], errors);
                ck_assert_str_eq(c->dbus_address, good[i]);
                free(errors);
                config_free(c);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(text, sizeof(text), "[DBus]\nBus=system\nAddress=%s\n", bad[i]);
                expect_error(text, 3, "is not a D-Bus address");
        }
        /* Bus=none with an address, in either order: one error, on the later line */
        expect_error("[DBus]\nBus=none\nAddress=unix:path=/x\n", 3, "remove one of them");
        expect_error("[DBus]\nAddress=unix:path=/x\n\nBus=none\n", 4, "Bus=none");
        ck_assert_int_eq(load("[DBus]\nBus=none\n", &c, &errors), 0);
        ck_assert_str_eq(errors, "");
        free(errors);
        config_free(c);
}
END_TEST

/* A directory opens with fopen() and reads as an empty file: it must not pass as one. */
START_TEST(test_directory) {
        Config *c = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *out;

        ck_assert_int_eq(config_new(&c), 0);
        out = open_memstream(&buf, &size);
        ck_assert_int_eq(config_load_file(c, "/tmp", out), -EISDIR);
        fclose(out);
        ck_assert_msg(strstr(buf, "/tmp: not a configuration file: it is a directory"), "%s", buf);
        free(buf);
        config_free(c);
}
END_TEST

int main(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("parse");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_good_file);
        tcase_add_test(tc, test_empty_file);
        tcase_add_test(tc, test_unknown_key);
        tcase_add_test(tc, test_unknown_section);
        tcase_add_test(tc, test_key_outside_section);
        tcase_add_test(tc, test_bad_values);
        tcase_add_test(tc, test_all_errors_reported);
        tcase_add_test(tc, test_syntax_error);
        tcase_add_test(tc, test_missing_file);
        tcase_add_test(tc, test_tickets);
        tcase_add_test(tc, test_tls_min_keys);
        tcase_add_test(tc, test_state_dir);
        tcase_add_test(tc, test_runtime_dir);
        tcase_add_test(tc, test_resource_limits);
        tcase_add_test(tc, test_dbus_address);
        tcase_add_test(tc, test_directory);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
