#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The command-line surface of tlsd and tlsctl: help, version, usage errors, configuration
# errors with FILE:LINE, and a start with no configuration and no options at all.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

tmp=$(mktemp -d /tmp/tlsd-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

expect_exit 0 "tlsd --help" -- "$TLSD" --help
expect_output "help lists --config" "--config=FILE"
expect_output "help lists --runtime-dir" "--runtime-dir=DIR"
expect_output "help lists --log-level" "--log-level=LEVEL"
expect_exit 0 "tlsd --version" -- "$TLSD" --version
expect_output "version names tlsd's version" "^tlsd [0-9]+\.[0-9]+\.[0-9]+$"
expect_output "version names the protocol and wolfSSL's version" \
  "^protocol [0-9]+, wolfSSL 5\.[0-9]+\.[0-9]+ "
expect_exit 2 "unknown option is a usage error" -- "$TLSD" --frobnicate
expect_output "usage error points at --help" "Try 'tlsd --help'"
expect_exit 2 "bad --log-level" -- "$TLSD" --log-level=loud
expect_exit 2 "relative --runtime-dir" -- "$TLSD" --runtime-dir=relative

printf '[Daemon]\nLogLevel=info\n# comment\nNoSuchKey=1\n' > "$tmp/unknown.conf"
expect_exit 1 "unknown key refuses to start" -- "$TLSD" --config="$tmp/unknown.conf" --runtime-dir="$tmp/run"
expect_output "unknown key reported with file:line" "$tmp/unknown.conf:4: unknown key NoSuchKey="
[ ! -e "$tmp/run/tlsd.sock" ] && pass "no socket after refused start" || fail "socket created"

printf '[Limits]\nMaxClients=many\n' > "$tmp/bad.conf"
expect_exit 1 "bad value refuses to start" -- "$TLSD" --config="$tmp/bad.conf" --runtime-dir="$tmp/run"
expect_output "bad value reported with file:line" "$tmp/bad.conf:2: MaxClients=many is invalid"

expect_exit 1 "missing config file refuses to start" -- "$TLSD" --config="$tmp/none.conf" --runtime-dir="$tmp/run"
expect_output "missing config file named" "$tmp/none.conf: cannot open"

printf '[Limits]\nMaxClients=5\n' > "$tmp/good.conf"
expect_exit 0 "--check-config accepts a good file" -- "$TLSD" --config="$tmp/good.conf" --runtime-dir="$tmp/run" --check-config
expect_exit 1 "--check-config rejects a bad file" -- "$TLSD" --config="$tmp/bad.conf" --check-config --runtime-dir="$tmp/run"

expect_exit 0 "tlsctl --help" -- "$TLSCTL" --help
expect_output "tlsctl help lists commands" "ping \[COUNT\]"
expect_exit 2 "tlsctl without command" -- "$TLSCTL"
expect_exit 2 "tlsctl unknown command" -- "$TLSCTL" frob
expect_exit 1 "tlsctl with no daemon" -- "$TLSCTL" --socket="$tmp/nothing.sock" status
expect_output "tlsctl says it cannot connect" "cannot connect to tlsd at $tmp/nothing.sock"

# No configuration file and no options: the embedded defaults (but the state directory, which
# would be /var/lib/tlsd: tickets stay in the test directory). As root that is /run/tlsd,
# unless a tlsd is already serving there.
if [ "$(id -u)" -eq 0 ]; then
  if [ -S /run/tlsd/tlsd.sock ] && "$TLSCTL" --socket=/run/tlsd/tlsd.sock ping >/dev/null 2>&1; then
    skip "defaults as root: a tlsd already serves /run/tlsd"
  else
    (cd / && exec env -u RUNTIME_DIRECTORY -u TLSD_SOCKET STATE_DIRECTORY="$tmp/state" "$TLSD") > "$tmp/root.log" 2>&1 &
    pid=$!
    if wait_for_socket /run/tlsd/tlsd.sock; then
      expect_exit 0 "defaults as root: tlsctl status on /run/tlsd" -- env -u TLSD_SOCKET "$TLSCTL" status
      expect_output "status shows the default socket" "socket: /run/tlsd/tlsd.sock"
    else
      fail "defaults as root: no socket at /run/tlsd/tlsd.sock: $(cat "$tmp/root.log")"
    fi
    # An idle tlsd has nothing to finish: it stops at once, well within 5 s even on a loaded
    # machine (a stop that waited for a timer, or for ever, would not).
    kill -TERM "$pid"
    wait_until 5 exited "$pid" && stopped=yes || stopped=no
    [ "$stopped" = yes ] || kill -KILL "$pid"
    wait "$pid" && rc=0 || rc=$?
    [ "$rc" -eq 0 ] && pass "defaults as root: SIGTERM exits 0" || fail "SIGTERM exit $rc"
    [ "$stopped" = yes ] && pass "defaults as root: stopped within 5 s of SIGTERM" ||
      fail "defaults as root: still running 5 s after SIGTERM"
    [ ! -e /run/tlsd/tlsd.sock ] && pass "defaults as root: socket removed" || fail "socket left behind"
  fi
else
  skip "defaults as root: not root"
fi

finish
