#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real install: `make install DESTDIR=...`, then the installed units pass `systemd-analyze
# verify` (against the installed binary and man pages) with no message at all, their
# `systemd-analyze security --offline=true` exposure is at most 1.5, and the installed tlsd,
# run as the units run it (user tlsd with only CAP_NET_BIND_SERVICE, the socket from socket
# activation, $RUNTIME_DIRECTORY, $STATE_DIRECTORY and $INVOCATION_ID as systemd sets them for
# a system service, no configuration file), serves org.tlsd1 on the system bus: a private
# dbus-daemon with the installed policy file, reached through $DBUS_SYSTEM_BUS_ADDRESS.
# Needs root (user tlsd, setpriv).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
: "${top_builddir:?}" # lib.sh sets it

EXPOSURE_MAX=1.5

need_root "install: needs root (user tlsd, setpriv)"
need_tools install make systemd-analyze systemd-socket-activate dbus-daemon busctl setpriv

tmp=$(mktemp -d /tmp/tlsd-install.XXXXXX)
chmod 755 "$tmp" # user tlsd reaches the bus socket in it
dest="$tmp/dest"
tlsd_pid=""
cleanup() {
  [ -z "$tlsd_pid" ] || kill -TERM "$tlsd_pid" 2>/dev/null
  [ -z "$tlsd_pid" ] || wait "$tlsd_pid" 2>/dev/null
  stop_private_buses
  remove_test_users
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- make install DESTDIR ----

# a make of its own, not a part of the one running the tests
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install \
  DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
  fail "make install DESTDIR=$dest: $(tail -n 20 "$tmp/install.log")"
  finish
fi
pass "make install DESTDIR=$dest"
find_one() { find "$dest" -path "$1" \( -type f -o -type l \) | head -n 1; }
service=$(find_one '*/systemd/system/tlsd.service')
socket=$(find_one '*/systemd/system/tlsd.socket')
policy=$(find_one '*/dbus-1/system.d/org.tlsd1.conf')
tlsd_bin=$(find_one '*/sbin/tlsd')
man8=$(find_one '*/man8/tlsd.8')
for f in service socket policy tlsd_bin man8; do
  eval "v=\$$f"
  if [ -n "$v" ]; then pass "installed: ${v#"$dest"}"; else fail "not installed: $f"; fi
done
[ -n "$service" ] && [ -n "$socket" ] && [ -n "$policy" ] && [ -n "$tlsd_bin" ] || finish
# the paths the units name, as on the installed system
execstart=$(sed -n 's/^ExecStart=//p' "$service")
[ "$dest$execstart" = "$tlsd_bin" ] && pass "ExecStart= names the installed tlsd ($execstart)" ||
  fail "ExecStart=$execstart, but tlsd is installed as ${tlsd_bin#"$dest"}"

# ---- systemd-analyze verify ----

# verify resolves the units' dependencies and ExecStart= under --root: the host's targets and
# slices beside the installed units, the installed man pages for Documentation=.
mkdir -p "$dest/usr/lib/systemd/system"
cp -L /usr/lib/systemd/system/*.target /usr/lib/systemd/system/*.slice \
  "$dest/usr/lib/systemd/system/" 2>/dev/null
out=$(MANPATH="${man8%/man8/tlsd.8}" systemd-analyze verify --root="$dest" "$service" "$socket" 2>&1) &&
  rc=0 || rc=$?
if [ ! -f /usr/lib/systemd/system/sysinit.target ]; then
  skip "systemd-analyze verify: no systemd units on this host to resolve the targets against"
elif [ "$rc" -eq 0 ] && [ -z "$out" ]; then
  pass "systemd-analyze verify: the installed tlsd.service and tlsd.socket, no message"
else
  fail "systemd-analyze verify (exit $rc): $out"
fi

# ---- systemd-analyze security ----

out=$(systemd-analyze security --offline=true "$service" 2>&1)
exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for tlsd.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
  fail "systemd-analyze security gave no exposure level: $out"
elif awk "BEGIN { exit !($exposure <= $EXPOSURE_MAX) }"; then
  pass "systemd-analyze security --offline=true: exposure $exposure (at most $EXPOSURE_MAX)"
else
  fail "systemd-analyze security: exposure $exposure, more than $EXPOSURE_MAX: $(printf '%s\n' "$out" | grep '✗')"
fi
grep -q '^TasksMax=[0-9]' "$service" && pass "tlsd.service bounds its threads: $(grep '^TasksMax=' "$service")" ||
  fail "tlsd.service sets no TasksMax="

# ---- the installed tlsd, as the units run it, on a system bus ----

make_test_group tlsd
make_test_user tlsd -g tlsd
start_private_bus "$tmp" bus system deny "$policy"
bus=$BUS_ADDRESS

# What systemd does for tlsd.socket and tlsd.service: RuntimeDirectory= and StateDirectory= are
# the user's, the socket comes in as fd 3, the environment is the system manager's
# (INVOCATION_ID, no XDG_RUNTIME_DIR, no MANAGERPID), user tlsd with CAP_NET_BIND_SERVICE.
mkdir -p "$tmp/run/tlsd" "$tmp/state/tlsd"
chown tlsd:tlsd "$tmp/run/tlsd" "$tmp/state/tlsd"
chmod 700 "$tmp/state/tlsd"
# (env -u, not env -i: LISTEN_FDS and LISTEN_PID from systemd-socket-activate must stay.)
systemd-socket-activate --seqpacket -l "$tmp/run/tlsd/tlsd.sock" \
  env -u XDG_RUNTIME_DIR -u MANAGERPID -u DBUS_SESSION_BUS_ADDRESS -u NOTIFY_SOCKET \
  -u JOURNAL_STREAM -u TLSD_SOCKET -u HOME \
  INVOCATION_ID="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
  RUNTIME_DIRECTORY="$tmp/run/tlsd" STATE_DIRECTORY="$tmp/state/tlsd" \
  DBUS_SYSTEM_BUS_ADDRESS="$bus" \
  setpriv --reuid=tlsd --regid=tlsd --init-groups --no-new-privs \
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
  --bounding-set=-all,+net_bind_service "$tlsd_bin" >"$tmp/tlsd.log" 2>&1 &
tlsd_pid=$!
# LISTEN_PID names the process systemd-socket-activate starts: env and setpriv exec into tlsd.
if ! wait_for_socket "$tmp/run/tlsd/tlsd.sock"; then
  fail "no activation socket: $(cat "$tmp/tlsd.log")"
  finish
fi
expect_exit 0 "the installed tlsd answers on its activated socket" -- \
  "$TLSCTL" --socket="$tmp/run/tlsd/tlsd.sock" whoami
for _ in $(seq 1 100); do
  busctl --address="$bus" status org.tlsd1 >/dev/null 2>&1 && break
  sleep 0.05
done
expect_exit 0 "org.tlsd1 is on the system bus" -- \
  timeout 10 busctl --address="$bus" call org.tlsd1 /org/tlsd1 org.tlsd1.Manager GetVersion
expect_output "Manager.GetVersion answers" '^sus "'
owner=$(busctl --address="$bus" status org.tlsd1 2>/dev/null | sed -n 's/^EUID=//p')
[ "$owner" = "$(id -u tlsd)" ] && pass "org.tlsd1 is owned by user tlsd (uid $owner)" ||
  fail "org.tlsd1 owner uid '$owner', want $(id -u tlsd): $(cat "$tmp/tlsd.log")"
grep -q 'system bus' "$tmp/tlsd.log" && pass "tlsd says which bus: $(grep 'D-Bus' "$tmp/tlsd.log")" ||
  fail "tlsd's log does not name the system bus: $(cat "$tmp/tlsd.log")"

kill -TERM "$tlsd_pid"
wait "$tlsd_pid" && rc=0 || rc=$?
tlsd_pid=""
[ "$rc" -eq 0 ] && pass "tlsd stops cleanly on SIGTERM" || fail "tlsd exited $rc: $(cat "$tmp/tlsd.log")"
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd.log"; then
  fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp/tlsd.log" | head -n 40)"
fi

# ---- the same tlsd as a unit of a user's manager: the session bus ----

# systemd --user sets MANAGERPID (and XDG_RUNTIME_DIR) for its units: Bus=auto then means the
# user's session bus, not the system bus.
start_private_bus "$tmp" session session allow
mkdir -p "$tmp/user/run" "$tmp/user/state"
chown -R tlsd:tlsd "$tmp/user"
env -u XDG_RUNTIME_DIR -u NOTIFY_SOCKET -u JOURNAL_STREAM -u TLSD_SOCKET \
  INVOCATION_ID="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" MANAGERPID=1 \
  DBUS_SESSION_BUS_ADDRESS="unix:path=$tmp/session.sock" DBUS_SYSTEM_BUS_ADDRESS="$bus" \
  STATE_DIRECTORY="$tmp/user/state" \
  setpriv --reuid=tlsd --regid=tlsd --init-groups --no-new-privs \
  "$tlsd_bin" --runtime-dir="$tmp/user/run" >"$tmp/user.log" 2>&1 &
tlsd_pid=$!
for _ in $(seq 1 100); do
  busctl --address="unix:path=$tmp/session.sock" status org.tlsd1 >/dev/null 2>&1 && break
  sleep 0.05
done
expect_exit 0 "a user's unit (MANAGERPID set): org.tlsd1 on the session bus" -- \
  timeout 10 busctl --address="unix:path=$tmp/session.sock" call org.tlsd1 /org/tlsd1 \
  org.tlsd1.Manager GetVersion
expect_exit 1 "a user's unit: not on the system bus" -- \
  timeout 10 busctl --address="$bus" status org.tlsd1
kill -TERM "$tlsd_pid"
wait "$tlsd_pid" 2>/dev/null
tlsd_pid=""
stop_private_buses
finish
