#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The D-Bus promises of README.md that tests/test-dbus.sh does not check, on private buses (a
# "system" bus with the project's policy and a "session" bus, as in test-dbus.sh):
#   a. Bus= modes: system, session, none and auto (as root and as another uid) put org.tlsd1 on
#      the bus they name and on no other; auto carries on without D-Bus when the bus is not
#      reachable or the name is taken, system does not start then;
#   b. tickets over DTLS (tests/dbus-more.py dtls-tickets), a listener's Failed and Refused
#      properties (listener-counts), and the policy refusals only D-Bus can express
#      (Compression, VersionMin, Legacy, against openssl s_server -tls1_2 with a CBC suite);
#   c. signals only to the owner: uid B listening to every signal on the bus sees none of uid
#      A's connection (whose signals A does get), and does get its own.
# Needs root (other uids, the policy's group tlsd): otherwise SKIP (exit 77) with the reason.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2154 # uid_a, uid_b and tlsd_gid are set by lib.sh's tlsd_group_uids
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

top_srcdir=$(cd "$top_srcdir" && pwd)
PY=/usr/bin/python3 # Debian's, with python3-dbus
CLIENT="$top_srcdir/tests/dbus-more.py"

need_root "D-Bus: needs root (private buses, other uids, group tlsd)"
need_tools D-Bus dbus-daemon busctl setpriv openssl timeout
need_python_dbus D-Bus
test_pki

tmp=$(mktemp -d /tmp/tlsd-dbus-more.XXXXXX)
chmod 755 "$tmp" # other uids reach the bus sockets in it
pids="" # background processes of ours still to end
cleanup() {
  exec 3>&- 2>/dev/null
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  stop_private_buses
  remove_test_users
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
forget() { pids=$(printf ' %s ' "$pids" | sed "s/ $1 / /"); }

# wait_until SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds (0) or time is up (1).
wait_until() {
  local n=$(($1 * 20))
  shift
  for _ in $(seq 1 "$n"); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# ---- users (as test-dbus.sh): group tlsd lets A and B call methods ----

tlsd_group_uids
as_a() { setpriv --reuid="$uid_a" --regid="$uid_a" --groups="$tlsd_gid" "$@"; }
as_b() { setpriv --reuid="$uid_b" --regid="$uid_b" --groups="$tlsd_gid" "$@"; }

# ---- two private buses ----

start_private_bus "$tmp" system system allow "$top_srcdir/dbus/org.tlsd1.conf"
sys_addr=$BUS_ADDRESS
start_private_bus "$tmp" session session allow
ses_addr=$BUS_ADDRESS

# owner ADDRESS: whether org.tlsd1 has an owner on that bus ("true"/"false", or the error)
owner() {
  timeout 10 busctl --address="$1" call org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus NameHasOwner s org.tlsd1 2>&1 | sed -n 's/^b //p'
}

# ---- a. Bus= modes ----

# tlsd_run NAME CONFIG SYSTEM_ADDR [WRAPPER...]: starts tlsd with CONFIG on its own runtime
# directory, the buses' addresses in its environment (the system one as given, so that it can be
# unreachable), under $TLSD_TEST_WRAPPER if set; waits until it is ready or has exited. Sets
# $tpid, $tlog, $tsock, $trc (empty while it runs).
tlsd_run() {
  local name="$1" config="$2" sysbus="$3" dir="$tmp/$1"
  shift 3
  mkdir -p "$dir"
  printf '%b' "$config" >"$dir/tlsd.conf"
  chmod 755 "$dir"
  chmod 644 "$dir/tlsd.conf"
  [ $# -eq 0 ] || chown "$uid_a" "$dir" # the unprivileged tlsd makes run/ and state/ itself
  tlog="$dir/tlsd.log"
  tsock="$dir/run/tlsd.sock"
  # shellcheck disable=SC2086 # TLSD_TEST_WRAPPER is a command line (e.g. valgrind and options)
  env DBUS_SYSTEM_BUS_ADDRESS="$sysbus" DBUS_SESSION_BUS_ADDRESS="$ses_addr" \
    STATE_DIRECTORY="$dir/state" "$@" ${TLSD_TEST_WRAPPER:-} "$TLSD" --runtime-dir="$dir/run" \
    --config="$dir/tlsd.conf" --log-level=debug >"$tlog" 2>&1 &
  tpid=$!
  pids="$pids $tpid"
  trc=""
  if ! wait_until "${TLSD_TEST_WRAPPER:+6}20" tlsd_settled; then
    fail "tlsd $name neither became ready nor exited: $(cat "$tlog")"
  fi
}
tlsd_settled() {
  grep -q 'ready, control socket' "$tlog" && return 0
  kill -0 "$tpid" 2>/dev/null && return 1
  wait "$tpid" && trc=0 || trc=$?
  forget "$tpid"
  return 0
}
tlsd_end() {
  if [ -z "$trc" ]; then
    kill -TERM "$tpid"
    wait "$tpid" && trc=0 || trc=$?
    forget "$tpid"
    [ "$trc" -eq 0 ] || fail "tlsd $1 exited with $trc: $(tail -n 5 "$tlog")"
  fi
}

# mode_case NAME CONFIG SYSTEM_ADDR WANT_SYSTEM WANT_SESSION [WRAPPER...]: tlsd runs, serves
# its Unix socket, and owns org.tlsd1 on the system / session bus as wanted (true/false).
mode_case() {
  local name="$1" config="$2" sysbus="$3" want_sys="$4" want_ses="$5" got_sys got_ses
  shift 5
  tlsd_run "$name" "$config" "$sysbus" "$@"
  if [ -n "$trc" ]; then
    fail "Bus= $name: tlsd exited with $trc: $(cat "$tlog")"
    return
  fi
  got_sys=$(owner "$sys_addr")
  got_ses=$(owner "$ses_addr")
  if [ "$got_sys" = "$want_sys" ] && [ "$got_ses" = "$want_ses" ] &&
    "$TLSCTL" --socket="$tsock" ping >/dev/null 2>&1; then
    pass "Bus= $name: org.tlsd1 on the system bus: $got_sys, on the session bus: $got_ses; the Unix socket serves"
  else
    fail "Bus= $name: org.tlsd1 on system: '$got_sys' (want $want_sys), session: '$got_ses' (want $want_ses): $(cat "$tlog")"
  fi
  if [ "$want_sys" = true ]; then
    out=$(timeout 10 busctl --address="$sys_addr" call org.tlsd1 /org/tlsd1 org.tlsd1.Manager GetVersion 2>&1)
    expect_output "Bus= $name: Manager.GetVersion answers on the system bus" '^sus "[^"]+" [0-9]+ "wolfSSL '
  fi
  if [ "$want_ses" = true ]; then
    out=$(timeout 10 busctl --address="$ses_addr" call org.tlsd1 /org/tlsd1 org.tlsd1.Manager GetVersion 2>&1)
    expect_output "Bus= $name: Manager.GetVersion answers on the session bus" '^sus "[^"]+" [0-9]+ "wolfSSL '
  fi
}
nobus="unix:path=$tmp/no-such-bus.sock"

mode_case system '[DBus]\nBus=system\n' "$sys_addr" true false
tlsd_end system
mode_case session '[DBus]\nBus=session\n' "$sys_addr" false true
tlsd_end session
mode_case none '[DBus]\nBus=none\n' "$sys_addr" false false
if grep -q 'org.tlsd1' "$tlog"; then fail "Bus=none: tlsd mentions org.tlsd1: $(grep org.tlsd1 "$tlog")"; else
  pass "Bus=none: tlsd does not try D-Bus at all"; fi
tlsd_end none
mode_case "auto as root" '[DBus]\nBus=auto\n' "$sys_addr" true false
first_pid=$tpid first_log=$tlog first_trc=$trc
# while that one holds the name: auto carries on without D-Bus, system does not start
tlsd_run "auto, the name taken" '[DBus]\nBus=auto\n' "$sys_addr"
if [ -z "$trc" ] && "$TLSCTL" --socket="$tsock" ping >/dev/null 2>&1 &&
  grep -q 'Cannot own org.tlsd1 .*: serving on the Unix socket only' "$tlog"; then
  pass "Bus=auto with the name taken: tlsd serves the Unix socket only, and says so"
else
  fail "Bus=auto with the name taken: exit '$trc': $(cat "$tlog")"
fi
tlsd_end "auto, the name taken"
tlsd_run "system, the name taken" '[DBus]\nBus=system\n' "$sys_addr"
if [ -n "$trc" ] && [ "$trc" -ne 0 ] && grep -q 'Cannot own org.tlsd1 on the system bus' "$tlog"; then
  pass "Bus=system with the name taken: tlsd does not start (exit $trc, 'Cannot own org.tlsd1 on the system bus')"
else
  fail "Bus=system with the name taken: exit '$trc': $(cat "$tlog")"
  tlsd_end "system, the name taken"
fi
tpid=$first_pid tlog=$first_log trc=$first_trc
tlsd_end "auto as root"
mode_case "auto, no system bus" '[DBus]\nBus=auto\n' "$nobus" false false
if grep -q 'No D-Bus .*: serving on the Unix socket only' "$tlog"; then
  pass "Bus=auto with no system bus: tlsd says it serves the Unix socket only"
else
  fail "Bus=auto with no system bus: $(cat "$tlog")"
fi
tlsd_end "auto, no system bus"
tlsd_run "system, no system bus" '[DBus]\nBus=system\n' "$nobus"
if [ -n "$trc" ] && [ "$trc" -ne 0 ] && grep -q 'Cannot connect to the system bus' "$tlog"; then
  pass "Bus=system with no system bus: tlsd does not start (exit $trc, 'Cannot connect to the system bus')"
else
  fail "Bus=system with no system bus: exit '$trc': $(cat "$tlog")"
  tlsd_end "system, no system bus"
fi
# not root: auto means the session bus
mode_case "auto as uid $uid_a" '[DBus]\nBus=auto\n' "$sys_addr" false true \
  setpriv --reuid="$uid_a" --regid="$uid_a" --clear-groups
tlsd_end "auto as uid $uid_a"

# ---- the daemon for b and c: on the system bus ----

# openssl s_server on 127.0.0.1 port 0 with ARGS; its port in $sport (read from its ACCEPT line)
ossl() {
  local name="$1"
  shift
  openssl s_server -accept 127.0.0.1:0 "$@" >"$tmp/$name.srv" 2>&1 </dev/null &
  pids="$pids $!"
  sport=""
  if wait_until 10 grep -q '^ACCEPT ' "$tmp/$name.srv"; then
    sport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$tmp/$name.srv")
  else
    fail "openssl s_server $name did not start: $(cat "$tmp/$name.srv")"
  fi
}
ossl rev -rev -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"
rev_port=$sport
ossl legacy -rev -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 -cert "$PKI/server-ecdsa-chain.pem" \
  -key "$PKI/server-ecdsa.key"
legacy_port=$sport
if [ -z "$rev_port" ] || [ -z "$legacy_port" ]; then
  finish
fi

tlsd_run main "[DBus]\nAddress=$sys_addr\n" "$nobus"
if [ -n "$trc" ] || [ "$(owner "$sys_addr")" != true ]; then
  fail "tlsd on the private system bus did not start: $(cat "$tlog")"
  finish
fi
main_log=$tlog

# ---- b. DTLS tickets, a listener's counters, policy ----

timeout 120 "$PY" "$CLIENT" dtls-tickets --address="$sys_addr" --pki="$PKI" \
  >"$tmp/dtls-tickets.out" 2>&1 && rc=0 || rc=$?
count_client "$tmp/dtls-tickets.out" "$rc" "dbus-more.py dtls-tickets"
timeout 120 "$PY" "$CLIENT" listener-counts --address="$sys_addr" --pki="$PKI" \
  >"$tmp/listener-counts.out" 2>&1 && rc=0 || rc=$?
count_client "$tmp/listener-counts.out" "$rc" "dbus-more.py listener-counts"
timeout 120 "$PY" "$CLIENT" policy --address="$sys_addr" --pki="$PKI" \
  --legacy-port="$legacy_port" >"$tmp/policy.out" 2>&1 && rc=0 || rc=$?
count_client "$tmp/policy.out" "$rc" "dbus-more.py policy"

# ---- c. signals only to the owner ----

mkfifo "$tmp/watch.in"
as_b timeout 120 "$PY" "$CLIENT" signal-watch --address="$sys_addr" --pki="$PKI" \
  --rev-port="$rev_port" <"$tmp/watch.in" >"$tmp/watch.out" 2>&1 &
watch_pid=$!
pids="$pids $watch_pid"
exec 3>"$tmp/watch.in"
if wait_until 30 grep -q '^ready$' "$tmp/watch.out"; then
  as_a timeout 60 "$PY" "$CLIENT" signal-owner --address="$sys_addr" --pki="$PKI" \
    --rev-port="$rev_port" >"$tmp/owner.out" 2>&1 && rc=0 || rc=$?
  count_client "$tmp/owner.out" "$rc" "dbus-more.py signal-owner (uid $uid_a)"
  owner_conn=$(sed -n 's/^owner-signals [0-9]* connection //p' "$tmp/owner.out")
  n_owner=$(sed -n 's/^owner-signals \([0-9]*\) .*/\1/p' "$tmp/owner.out")
  if [ -n "$n_owner" ] && [ "$n_owner" -ge 4 ]; then
    pass "uid $uid_a got $n_owner signals of its connection $owner_conn"
  else
    fail "uid $uid_a got '$n_owner' signals of its connection: $(cat "$tmp/owner.out")"
  fi
  echo "check $owner_conn" >&3
else
  fail "dbus-more.py signal-watch did not start: $(cat "$tmp/watch.out")"
fi
exec 3>&-
wait "$watch_pid" && rc=0 || rc=$?
forget "$watch_pid"
count_client "$tmp/watch.out" "$rc" "dbus-more.py signal-watch (uid $uid_b)"

# ---- the end ----

if [ -z "$trc" ] && kill -0 "$tpid" 2>/dev/null; then
  pass "tlsd is still running"
else
  fail "tlsd died: $(tail -n 20 "$main_log")"
fi
tlsd_end main
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp"/*/tlsd.log; then
  fail "sanitizer report in a tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp"/*/tlsd.log | head -n 40)"
else
  pass "the tlsd logs have no sanitizer report"
fi
finish
