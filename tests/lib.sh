# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests. Sourced; expects $top_builddir (set by make check).
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
  for i in $(seq 1 $((${2:-10} * 20))); do
    [ -S "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

finish() {
  echo "$n_pass passed, $n_fail failed, $n_skip skipped"
  [ "$n_fail" -eq 0 ] || exit 1
  exit 0
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT [SECONDS]: until something accepts TCP connections on 127.0.0.1:PORT.
wait_for_port() {
  local i
  for i in $(seq 1 $((${2:-10} * 20))); do
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
  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
  DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
  STATE_DIRECTORY="${TLSD_STATE_DIR:-$dir/state}" \
    "$TLSD" --runtime-dir="$dir/run" --log-level=debug "$@" >"$dir/tlsd.log" 2>&1 &
  TLSD_PID=$!
  TLSD_SOCKET="$dir/run/tlsd.sock"
  export TLSD_SOCKET TLSD_PID
  if ! wait_for_socket "$TLSD_SOCKET"; then
    fail "tlsd did not start: $(cat "$dir/tlsd.log")"
    return 1
  fi
}

stop_tlsd() {
  local rc
  kill -TERM "$TLSD_PID" 2>/dev/null
  wait "$TLSD_PID" && rc=0 || rc=$?
  [ "$rc" -eq 0 ] || fail "tlsd exited with $rc"
}
