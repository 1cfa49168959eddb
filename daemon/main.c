/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tlsd: the system TLS/DTLS service. Parse the command line and configuration, build the
 * Manager, run its loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/config.h"
#include "engine/engine.h"
#include "util/log.h"
#include "manager.h"
#include "proto.h"

static void help(void) {
        printf("Usage: tlsd [OPTIONS]\n"
               "\n"
               "System TLS/DTLS service: owns TLS sessions, tickets and keys; applications get\n"
               "plaintext over a file descriptor from the control socket tlsd.sock.\n"
               "\n"
               "Options:\n"
               "  -c, --config=FILE       read configuration from FILE\n"
               "                          (default: %s if it exists)\n"
               "  -r, --runtime-dir=DIR   directory for tlsd.sock (default: $RUNTIME_DIRECTORY,\n"
               "                          else /run/tlsd as root, else $XDG_RUNTIME_DIR/tlsd)\n"
               "  -l, --log-level=LEVEL   debug, info, notice, warning, err, crit, alert, emerg\n"
               "      --check-config      parse the configuration, report problems and exit\n"
               "  -h, --help              show this help and exit\n"
               "  -V, --version           show version information and exit\n"
               "\n"
               "Signals: SIGTERM and SIGINT stop the daemon cleanly.\n"
               "See tlsd(8) and tlsd.conf(5).\n",
               TLSD_DEFAULT_CONFIG_FILE);
}

static void version(void) {
        EngineFeatures f;

        engine_features(&f);
        printf("tlsd %s\n"
               "protocol %d, %s (AES-NI %s, DTLS 1.3 %s, Connection ID %s, "
               "X25519MLKEM768 %s)\n",
               PACKAGE_VERSION, TLSD_PROTO_VERSION, engine_library_version(),
               f.aesni ? "yes" : "no", f.dtls13 ? "yes" : "no", f.dtls_cid ? "yes" : "no",
               f.pq_hybrid ? "yes" : "no");
}

typedef struct Args {
        const char *config_file;
        const char *runtime_dir;
        int log_level; /* -1: from config */
        bool check_config;
} Args;

/* Returns 1 to continue, 0 to exit successfully, < 0 on usage error. */
static int parse_args(int argc, char *argv[], Args *a) {
        enum {
                ARG_CHECK_CONFIG = 0x100
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "runtime-dir", required_argument, NULL, 'r' },
                { "log-level", required_argument, NULL, 'l' },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        *a = (Args){ .log_level = -1 };
        while ((c = getopt_long(argc, argv, "c:r:l:hV", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        a->config_file = optarg;
                        break;
                case 'r':
                        if (optarg[0] != '/') {
                                fprintf(stderr, "tlsd: --runtime-dir must be an absolute path\n");
                                return -EINVAL;
                        }
                        a->runtime_dir = optarg;
                        break;
                case 'l':
                        a->log_level = log_level_from_string(optarg);
                        if (a->log_level < 0) {
                                fprintf(stderr,
                                        "tlsd: invalid log level '%s' (expected debug, "
                                        "info, notice, warning, err, crit, alert, "
                                        "emerg)\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_CHECK_CONFIG:
                        a->check_config = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        version();
                        return 0;
                default:
                        fprintf(stderr, "Try 'tlsd --help' for more information.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr,
                        "tlsd: unexpected argument '%s'\n"
                        "Try 'tlsd --help' for more information.\n",
                        argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int load_config(const Args *a, Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        const char *path = a->config_file;
        int r;

        r = config_new(&c);
        if (r < 0)
                return log_oom();

        if (path) {
                r = config_load_file(c, path, stderr);
                if (r < 0)
                        return log_error_errno(r,
                                               "Configuration %s is not usable, refusing to "
                                               "start",
                                               path);
        } else {
                /* The default file is optional, but one that exists and cannot be read is a
                 * misconfiguration, not a reason to run on defaults. */
                r = config_load_file(c, TLSD_DEFAULT_CONFIG_FILE, NULL);
                if (r < 0 && r != -ENOENT) {
                        (void) config_load_file(c, TLSD_DEFAULT_CONFIG_FILE, stderr);
                        return log_error_errno(r,
                                               "Configuration %s is not usable, refusing to "
                                               "start",
                                               TLSD_DEFAULT_CONFIG_FILE);
                }
        }

        if (a->runtime_dir) {
                free(c->runtime_dir);
                c->runtime_dir = strdup(a->runtime_dir);
                if (!c->runtime_dir)
                        return log_oom();
        }
        if (a->log_level >= 0)
                c->log_level = a->log_level;

        r = config_resolve_runtime_dir(c);
        if (r == -ENXIO)
                return log_error_errno(r, "No runtime directory: XDG_RUNTIME_DIR is not set; "
                                          "use --runtime-dir=DIR");
        if (r < 0)
                return log_oom();

        *ret = TAKE_PTR(c);
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        Config *config = NULL;
        Args args;
        int r;

        log_open();
        r = parse_args(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        r = load_config(&args, &config);
        if (r < 0)
                return 1;
        log_set_max_level(config->log_level);
        if (args.check_config) {
                printf("Configuration OK (runtime directory %s)\n", config->runtime_dir);
                config_free(config);
                return 0;
        }

        r = engine_global_init();
        if (r < 0) {
                config_free(config);
                log_error_errno(r, "Cannot initialize the TLS library: %m");
                return 1;
        }

        r = manager_new(config, &m);
        if (r < 0) {
                config_free(config);
                log_error_errno(r, "Cannot create manager: %m");
                goto finish;
        }
        r = manager_start(m);
        if (r < 0)
                goto finish;
        r = manager_run(m);

finish:
        m = manager_free(m);
        engine_global_done();
        return r < 0 ? 1 : 0;
}
