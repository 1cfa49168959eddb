/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The integration-test harness: the real tlsd started on a private runtime directory (under
 * $TLSD_TEST_WRAPPER, e.g. valgrind, when set), ready once its sd_notify READY=1 arrives, stopped
 * with SIGTERM and judged by its exit status; and the runner's verdict, where a root-only case
 * that could not run makes the program a SKIP, not a pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <grp.h>
#include <unistd.h>

#include "harness.h"

#ifndef TLSD_BINARY
#error "TLSD_BINARY must name the daemon under test"
#endif

long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void write_file(const char *path, const char *contents) {
        FILE *f = fopen(path, "we");

        if (!f) {
                perror(path);
                abort();
        }
        fputs(contents, f);
        fclose(f);
}

void daemon_init(Daemon *d) {
        memset(d, 0, sizeof(*d));
        d->pid = -1;
        d->notify_fd = -1;
        d->uid = (uid_t) -1;
        snprintf(d->dir, sizeof(d->dir), "/tmp/tlsd-test.XXXXXX");
        if (!mkdtemp(d->dir)) {
                perror("mkdtemp");
                abort();
        }
        chmod(d->dir, 0755);
        snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s/run", d->dir);
        snprintf(d->socket_path, sizeof(d->socket_path), "%s/tlsd.sock", d->runtime_dir);
        snprintf(d->notify_path, sizeof(d->notify_path), "%s/notify", d->dir);
}

static int open_notify_socket(Daemon *d) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1;

        d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->notify_fd < 0)
                return -errno;
        strcpy(sa.sun_path, d->notify_path);
        if (bind(d->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        (void) setsockopt(d->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        chmod(d->notify_path, 0777); /* the daemon may run as another uid */
        return 0;
}

int daemon_start(Daemon *d) {
        char config_path[200], runtime_arg[300], config_arg[300], xdg[256], state_dir[300];
        long deadline;
        int r;

        if (d->uid != (uid_t) -1) {
                /* The unprivileged daemon creates run/ itself inside a dir it owns. */
                char sub[200];

                snprintf(sub, sizeof(sub), "%s/xdg", d->dir);
                mkdir(sub, 0700);
                if (chown(sub, d->uid, (gid_t) -1) < 0)
                        return -errno;
                if (d->use_xdg)
                        snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s/tlsd", sub);
                else
                        snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s/run", sub);
                snprintf(d->socket_path, sizeof(d->socket_path), "%s/tlsd.sock", d->runtime_dir);
                snprintf(xdg, sizeof(xdg), "%s", sub);
        } else {
                snprintf(xdg, sizeof(xdg), "%s", d->dir);
                if (d->use_xdg) {
                        snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s/tlsd", d->dir);
                        snprintf(d->socket_path, sizeof(d->socket_path), "%s/tlsd.sock",
                                 d->runtime_dir);
                }
        }

        r = open_notify_socket(d);
        if (r < 0)
                return r;

        snprintf(config_path, sizeof(config_path), "%s/tlsd.conf", d->dir);
        if (d->config) {
                write_file(config_path, d->config);
                chmod(config_path, 0644);
        }
        snprintf(runtime_arg, sizeof(runtime_arg), "--runtime-dir=%s", d->runtime_dir);
        /* Persistent state (tickets) stays in the test's directory, never /var/lib/tlsd. */
        snprintf(state_dir, sizeof(state_dir), "%s/state", d->dir);
        snprintf(config_arg, sizeof(config_arg), "--config=%s", config_path);

        d->pid = fork();
        if (d->pid < 0)
                return -errno;
        if (d->pid == 0) {
                const char *argv[32];
                const char *wrapper = getenv("TLSD_TEST_WRAPPER");
                char *words = wrapper ? strdup(wrapper) : NULL;
                int n = 0;

                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                setenv("NOTIFY_SOCKET", d->notify_path, 1);
                unsetenv("RUNTIME_DIRECTORY");
                setenv("STATE_DIRECTORY", state_dir, 1);
                unsetenv("JOURNAL_STREAM");
                /* Tests that want D-Bus say so in the config; the others must not touch a bus
                 * the machine may have. */
                if (!getenv("TLSD_TEST_KEEP_BUS")) {
                        setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/tlsd-test", 1);
                        setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/tlsd-test", 1);
                }
                if (d->use_xdg)
                        setenv("XDG_RUNTIME_DIR", xdg, 1);
                if (d->uid != (uid_t) -1) {
                        gid_t gid = 65534;

                        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
                            setresuid(d->uid, d->uid, d->uid) < 0) {
                                perror("dropping privileges");
                                _exit(127);
                        }
                }
                /* e.g. "valgrind --error-exitcode=66 ..." */
                for (char *w = words ? strtok(words, " ") : NULL; w && n < 24;
                     w = strtok(NULL, " "))
                        argv[n++] = w;
                argv[n++] = TLSD_BINARY;
                if (!d->use_xdg)
                        argv[n++] = runtime_arg;
                if (d->config)
                        argv[n++] = config_arg;
                argv[n++] = "--log-level=debug";
                argv[n] = NULL;
                execvp(argv[0], (char **) argv);
                perror(argv[0]);
                _exit(127);
        }

        deadline = now_ms() + (getenv("TLSD_TEST_WRAPPER") ? 60000 : 10000);
        for (;;) {
                struct pollfd pfd = { .fd = d->notify_fd, .events = POLLIN };
                char buf[512];
                ssize_t n;
                int status;

                if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                        fprintf(stderr, "harness: tlsd exited before READY (status %d)\n", status);
                        d->pid = -1;
                        return -ECHILD;
                }
                n = recv(d->notify_fd, buf, sizeof(buf) - 1, 0);
                if (n > 0) {
                        buf[n] = 0;
                        if (strstr(buf, "READY=1"))
                                return 0;
                        continue;
                }
                if (now_ms() > deadline) {
                        fprintf(stderr, "harness: no READY=1 from tlsd in time\n");
                        kill(d->pid, SIGKILL);
                        waitpid(d->pid, NULL, 0);
                        d->pid = -1;
                        return -ETIMEDOUT;
                }
                (void) poll(&pfd, 1, 100);
        }
}

int daemon_stop(Daemon *d, long *ret_ms) {
        long start, deadline;
        int status;

        if (d->pid <= 0)
                return -ECHILD;
        start = now_ms();
        kill(d->pid, SIGTERM);
        deadline = start + (getenv("TLSD_TEST_WRAPPER") ? 30000 : 5000);
        for (;;) {
                pid_t p = waitpid(d->pid, &status, WNOHANG);

                if (p == d->pid)
                        break;
                if (now_ms() > deadline) {
                        kill(d->pid, SIGKILL);
                        waitpid(d->pid, &status, 0);
                        break;
                }
                usleep(2000);
        }
        if (ret_ms)
                *ret_ms = now_ms() - start;
        d->pid = -1;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

void daemon_cleanup(Daemon *d) {
        char cmd[400];

        if (d->pid > 0)
                (void) daemon_stop(d, NULL);
        if (d->notify_fd >= 0)
                close(d->notify_fd);
        d->notify_fd = -1;
        if (strncmp(d->dir, "/tmp/tlsd-test.", 15) == 0) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "harness: could not remove %s\n", d->dir);
        }
}

void harness_add_root_test(TCase *tc, const TTest *t, const char *name, const char *why,
                           Skipped *s) {
        size_t n = strlen(s->text);

        if (geteuid() == 0) {
                tcase_add_test(tc, t);
                return;
        }
        snprintf(s->text + n, sizeof(s->text) - n, "SKIP: %s: needs root (%s)\n", name, why);
}

int harness_run(SRunner *sr, const Skipped *s) {
        int failed, run;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        run = srunner_ntests_run(sr);
        srunner_free(sr);
        if (failed > 0)
                return EXIT_FAILURE;
        if (run == 0) {
                /* e.g. CK_RUN_CASE naming no case */
                printf("SKIP: no test ran\n");
                fflush(stdout);
                return 77;
        }
        if (s && s->text[0]) {
                fputs(s->text, stdout);
                fflush(stdout);
                return 77;
        }
        return EXIT_SUCCESS;
}
