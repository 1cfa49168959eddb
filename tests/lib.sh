# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests. Sourced; expects $top_builddir (set by make check).
#
# Results: pass/fail/skip print one line each; finish exits 1 if anything failed, 77 (automake's
# SKIP) if something could not be checked (a skip, or no check at all), else 0. A script that
# cannot run at all calls skip REASON and finish. scripts/test lists every SKIP line and fails
# on one that tests/allowed-skips does not name.
#
# The daemon: start_tlsd runs it under $TLSD_TEST_WRAPPER when set (check-valgrind sets it to
# valgrind: a memory error or leak makes tlsd exit non-zero, which stop_tlsd fails on). Waits
# scale with $test_slow (1, or 20 under valgrind): $(waits N) for a wait of N seconds, $(tries N)
# for a polling loop of N rounds; wait_for_socket and wait_for_port scale by themselves.
set -u

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
TLSD="$top_builddir/tlsd"
TLSCTL="$top_builddir/tlsctl"
n_pass=0
n_fail=0
n_skip=0

pass() { n_pass=$((n_pass + 1)); echo "PASS: $*"; }
fail() { n_fail=$((n_fail + 1)); echo "FAIL: $*"; }
skip() { n_skip=$((n_skip + 1)); echo "SKIP: $*"; }

# expect_exit CODE DESCRIPTION -- COMMAND...: runs COMMAND, output in $out
expect_exit() {
  local want=$1 what=$2 rc
  shift 3
  out=$("$@" 2>&1) && rc=0 || rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$what"; else fail "$what (exit $rc, want $want): $out"; fi
}

expect_output() {
  local what=$1 pattern=$2
  if printf '%s' "$out" | grep -qE -- "$pattern"; then
    pass "$what"
  else
    fail "$what: /$pattern/ not in: $out"
  fi
}

# wait_for_socket PATH [SECONDS]
wait_for_socket() {
  local i
  for i in $(tries $((${2:-10} * 20))); do
    [ -S "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

finish() {
  echo "$n_pass passed, $n_fail failed, $n_skip skipped"
  [ "$n_fail" -eq 0 ] || exit 1
  if [ "$n_pass" -eq 0 ] && [ "$n_skip" -eq 0 ]; then
    echo "SKIP: $(basename "$0"): no check ran"
    exit 77
  fi
  # Part of the test did not run: not a pass (the SKIP lines above say what and why).
  [ "$n_skip" -eq 0 ] || exit 77
  exit 0
}

# The valgrind factor: waits on the daemon are this many times longer under it (~50x slower; the
# waits are generous already).
case ${TLSD_TEST_WRAPPER:-} in
*valgrind*) test_slow=20 ;;
*) test_slow=1 ;;
esac
# waits SECONDS: SECONDS scaled by $test_slow (an integer).
waits() { echo $(($1 * test_slow)); }
# tries N: 1 to N scaled by $test_slow, for polling loops: for _ in $(tries 100); do ...
tries() { seq 1 $(($1 * test_slow)); }

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on right now (something else
# may, by the time it is used): prefer port 0 with the port read back (tlsctl listen and openssl
# s_server print it), or a socket held bound.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds (returns 0), or
# returns 1 once SECONDS (scaled by $test_slow) passed. The way to wait for an event or a state
# instead of sleeping for a time that is long enough on an idle machine only.
wait_until() {
  local end=$(($(date +%s) + $1 * test_slow))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# wait_for_line FILE ERE [SECONDS]: until a line of FILE matches ERE (10 s by default, scaled).
wait_for_line() {
  wait_until "${3:-10}" grep -qaE -- "$2" "$1" 2>/dev/null
}

# alive PID: the process runs (exists and is no zombie: kill -0 succeeds on one not yet waited
# for). exited PID: the opposite, for wait_until.
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'; }
exited() { ! alive "$1"; }
# line_or_exit FILE ERE PID: FILE has a line matching ERE, or process PID ended (for wait_until).
line_or_exit() { grep -qaE -- "$2" "$1" 2>/dev/null || exited "$3"; }

# wait_for_port PORT [SECONDS]: until something accepts TCP connections on 127.0.0.1:PORT.
wait_for_port() {
  local i
  for i in $(tries $((${2:-10} * 20))); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# start_tlsd DIR [ARGS...]: runs tlsd on DIR/run, logs to DIR/tlsd.log, exports TLSD_SOCKET and
# TLSD_PID. stop_tlsd stops it and fails the test if it did not exit 0.
start_tlsd() {
  local dir=$1
  shift
  mkdir -p "$dir"
  # no machine bus for tests that do not ask for one (a config with [DBus] Address= does)
  # persistent state (tickets) in the test's directory, never /var/lib/tlsd
  # shellcheck disable=SC2086 # the wrapper is a command line: words
  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
  DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
  STATE_DIRECTORY="${TLSD_STATE_DIR:-$dir/state}" \
    ${TLSD_TEST_WRAPPER:-} "$TLSD" --runtime-dir="$dir/run" --log-level=debug "$@" \
    >"$dir/tlsd.log" 2>&1 &
  TLSD_PID=$!
  TLSD_SOCKET="$dir/run/tlsd.sock"
  TLSD_LOG="$dir/tlsd.log"
  export TLSD_SOCKET TLSD_PID
  if ! wait_for_socket "$TLSD_SOCKET"; then
    fail "tlsd did not start: $(cat "$dir/tlsd.log")"
    return 1
  fi
}

# stop_tlsd: SIGTERM, and the exit status must be 0: not a crash, and under valgrind no memory
# error and no leak (its --error-exitcode); the report is shown from the log.
stop_tlsd() {
  local rc
  kill -TERM "$TLSD_PID" 2>/dev/null
  wait "$TLSD_PID" && rc=0 || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "tlsd exited with $rc: $(grep -E '^==[0-9]+== ' "$TLSD_LOG" 2>/dev/null | head -n 60)"
  elif [ -n "${TLSD_TEST_WRAPPER:-}" ]; then
    pass "tlsd under ${TLSD_TEST_WRAPPER%% *} exited 0 (no memory error, no leak)"
  fi
}
