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
#
# Set-up that many tests share (at the end): need_root, need_tools, need_python_dbus and
# test_pki for the preamble; count_client for the results of a helper program; test users and
# groups made when missing and removed by remove_test_users; private dbus-daemons
# (start_private_bus, stop_private_buses). A test's cleanup calls the remove/stop functions of
# what it used.
set -u

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
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
  # Ready is what tlsd says once its socket has its group and mode, not the socket file: a
  # restarted tlsd finds its predecessor's file there (and under valgrind takes seconds).
  wait_until 10 line_or_exit "$dir/tlsd.log" ' ready, control socket ' "$TLSD_PID"
  if ! grep -qa ' ready, control socket ' "$dir/tlsd.log" || ! [ -S "$TLSD_SOCKET" ]; then
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

# ---- preambles: what a test needs before its first check ----

# need_root WHY: skips the whole test (exit 77 through finish) unless it runs as root; WHY says
# what for, e.g. "D-Bus: needs root (other uids)".
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    skip "$*"
    finish
  fi
}

# need_tools WHAT TOOL...: skips the whole test ("WHAT: TOOL is not installed", exit 77 through
# finish) unless every TOOL is a command here.
need_tools() {
  local what=$1 tool
  shift
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      skip "$what: $tool is not installed"
      finish
    fi
  done
}

# need_python_dbus WHAT: skips the whole test unless $PY (set by the test: Debian's python3)
# imports python3-dbus and python3-gi, whose GLib main loop drives it (scripts/setup installs
# both).
need_python_dbus() {
  if ! "$PY" -c 'import dbus, dbus.mainloop.glib; from gi.repository import GLib' 2>/dev/null; then
    skip "$1: $PY cannot import dbus and gi (scripts/setup installs python3-dbus python3-gi)"
    finish
  fi
}

# test_pki: the test PKI (certs/gen-test-pki.sh keeps a complete one) in $PKI: $TLSD_TEST_PKI
# (make check sets it), else tests/pki in the build tree. Fails the test if it cannot be made.
test_pki() {
  PKI=${TLSD_TEST_PKI:-$top_builddir/tests/pki}
  if ! sh "$top_srcdir/certs/gen-test-pki.sh" "$PKI"; then
    fail "cannot generate the test PKI in $PKI"
    finish
  fi
}

# count_client FILE RC WHAT: the PASS/FAIL/SKIP lines a helper program (the python clients)
# wrote to FILE count as this test's, other lines are shown; a helper that exited with RC other
# than 0 without a FAIL line of its own is a failure of WHAT.
count_client() {
  local line failed=0
  while IFS= read -r line; do
    case $line in
    "PASS: "*) pass "${line#PASS: }" ;;
    "FAIL: "*)
      fail "${line#FAIL: }"
      failed=1
      ;;
    "SKIP: "*) skip "${line#SKIP: }" ;;
    *) echo "$line" ;;
    esac
  done <"$1"
  if [ "$2" -ne 0 ] && [ "$failed" -eq 0 ]; then
    fail "$3 exited with $2"
  fi
}

# ---- test users (root only): made when missing, removed again by remove_test_users ----

test_made_users=""
test_made_groups=""

# make_test_group NAME: the system group NAME, made if missing. Non-zero if it cannot be.
make_test_group() {
  getent group "$1" >/dev/null && return 0
  groupadd --system "$1" || return 1
  test_made_groups="$test_made_groups $1"
}

# make_test_user NAME [USERADD-OPTION...]: the system user NAME (no home, no login shell), made
# with the options if missing (one left by an interrupted run is reused). Non-zero if it cannot
# be made.
make_test_user() {
  local name=$1
  shift
  getent passwd "$name" >/dev/null && return 0
  useradd --system -M -s /usr/sbin/nologin "$@" "$name" || return 1
  test_made_users="$test_made_users $name"
}

# test_uid VAR NAME FALLBACK: sets VAR to the uid of the user NAME when it exists, else to that
# of FALLBACK, a throw-away user without a group of its own made here; to "" when neither
# works. (Not $(...): a user made in a subshell would not be removed.)
test_uid() {
  local uid=""
  if getent passwd "$2" >/dev/null; then
    uid=$(id -u "$2")
  elif make_test_user "$3" -N >/dev/null 2>&1; then
    uid=$(id -u "$3")
  fi
  eval "$1=\$uid"
}

# tlsd_group_uids: the group tlsd (the one dbus/org.tlsd1.conf lets call org.tlsd1), its gid in
# $tlsd_gid, and two uids to put in it, $uid_a and $uid_b: the system users daemon and bin, or
# throw-away users (dbus-daemon drops connections from a uid without a passwd entry). Fails the
# test if it cannot.
tlsd_group_uids() {
  make_test_group tlsd
  tlsd_gid=$(getent group tlsd | cut -d: -f3)
  test_uid uid_a daemon tlsd-test-a
  test_uid uid_b bin tlsd-test-b
  if [ -z "$tlsd_gid" ] || [ -z "$uid_a" ] || [ -z "$uid_b" ]; then
    fail "cannot set up the tlsd group and two test uids (gid '$tlsd_gid', uids '$uid_a' '$uid_b')"
    finish
  fi
}

# remove_test_users: removes the users, then the groups, made above (from the test's cleanup).
remove_test_users() {
  local u g
  for u in $test_made_users; do userdel "$u" 2>/dev/null; done
  for g in $test_made_groups; do groupdel "$g" 2>/dev/null; done
  test_made_users=""
  test_made_groups=""
}

# ---- private D-Bus daemons ----

private_bus_pids=""

# start_private_bus DIR NAME TYPE OWN [POLICY]: a dbus-daemon of TYPE (system or session) on
# DIR/NAME.sock (its configuration DIR/NAME.conf, its output DIR/NAME.log) that every uid may
# connect to, call through and get replies and signals from; OWN (allow or deny) is whether every
# uid may own every name, besides what the policy file POLICY (e.g. dbus/org.tlsd1.conf), when
# given, says. Its address in $BUS_ADDRESS. Fails the test if it does not come up.
# stop_private_buses (from the test's cleanup) ends every bus started here.
start_private_bus() {
  local dir=$1 name=$2 type=$3 own=$4 include=""
  [ -z "${5:-}" ] || include="<include>$5</include>"
  cat >"$dir/$name.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>$type</type>
  <listen>unix:path=$dir/$name.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <$own own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
  $include
</busconfig>
EOF
  dbus-daemon --config-file="$dir/$name.conf" --nofork --nopidfile >"$dir/$name.log" 2>&1 &
  private_bus_pids="$private_bus_pids $!"
  if ! wait_for_socket "$dir/$name.sock"; then
    fail "dbus-daemon $name did not start: $(cat "$dir/$name.log")"
    finish
  fi
  BUS_ADDRESS="unix:path=$dir/$name.sock"
}

# stop_private_buses: SIGTERM to every bus start_private_bus started, and waits for each.
stop_private_buses() {
  local p
  for p in $private_bus_pids; do kill -TERM "$p" 2>/dev/null; done
  for p in $private_bus_pids; do wait "$p" 2>/dev/null; done
  private_bus_pids=""
}
