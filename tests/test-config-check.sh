#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Configuration mistakes that must not pass (issue 15, item 7), through the tlsd binary:
# --config= a directory, [DBus] Address= that is no D-Bus address, Bus=none with Address=, each
# refused by --check-config and by a start; and the D-Bus start-up messages naming the bus and
# its address (an unreachable one, no session bus at all, a name another tlsd owns, and the
# "serving" line) on a private dbus-daemon.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

tmp=$(mktemp -d /tmp/tlsd-config-check.XXXXXX)
bus_pid=""
cleanup() {
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  if [ -n "$bus_pid" ]; then
    kill -TERM "$bus_pid" 2>/dev/null
    wait "$bus_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# check NAME EXIT ERE CONFIG-TEXT: --check-config on CONFIG-TEXT exits EXIT, output matches ERE
check() {
  printf '%b' "$4" >"$tmp/t.conf"
  expect_exit "$2" "$1: --check-config exits $2" -- \
    "$TLSD" --config="$tmp/t.conf" --runtime-dir="$tmp/run" --check-config
  expect_output "$1: says so" "$3"
}

mkdir "$tmp/confdir"
expect_exit 1 "--config= a directory: refused by --check-config" -- \
  "$TLSD" --config="$tmp/confdir" --runtime-dir="$tmp/run" --check-config
expect_output "--config= a directory: says it is one" "$tmp/confdir: not a configuration file: it is a directory"
# (timeout: a tlsd that accepts it would serve until stopped; 124 then)
expect_exit 1 "--config= a directory: refused at start" -- \
  timeout 10 "$TLSD" --config="$tmp/confdir" --runtime-dir="$tmp/run"
[ ! -e "$tmp/run/tlsd.sock" ] && pass "--config= a directory: no socket" || fail "socket created"

check "Address=not-an-address" 1 "t.conf:2: Address=not-an-address is not a D-Bus address" \
  '[DBus]\nAddress=not-an-address\n'
check "Address= a bare path" 1 "t.conf:2: Address=/run/dbus/system_bus_socket is not a D-Bus address" \
  '[DBus]\nAddress=/run/dbus/system_bus_socket\n'
check "Address= a misspelt transport" 1 "t.conf:3: Address=unx:path=/x is not a D-Bus address: unknown transport" \
  '[DBus]\n\nAddress=unx:path=/x\n'
check "Address= unix:path=..." 0 "Configuration OK" '[DBus]\nAddress=unix:path=/run/dbus/system_bus_socket\n'
check "Address= unix:abstract=..." 0 "Configuration OK" '[DBus]\nAddress=unix:abstract=tlsd\n'
check "Address= tcp:..." 0 "Configuration OK" '[DBus]\nAddress=tcp:host=127.0.0.1,port=1234\n'
check "Bus=none with Address=" 1 "t.conf:3: \[DBus\] Bus=none turns D-Bus off, Address= names a bus" \
  '[DBus]\nBus=none\nAddress=unix:path=/x\n'
check "Address= then Bus=none" 1 "t.conf:3: \[DBus\] Bus=none" '[DBus]\nAddress=unix:path=/x\nBus=none\n'
check "Bus=none alone" 0 "Configuration OK" '[DBus]\nBus=none\n'

# ---- start-up errors name the bus and its address ----

printf '[DBus]\nAddress=unix:path=%s/no-bus\n' "$tmp" >"$tmp/addr.conf"
expect_exit 1 "an unreachable Address=: tlsd refuses to start" -- \
  "$TLSD" --config="$tmp/addr.conf" --runtime-dir="$tmp/run"
expect_output "an unreachable Address=: the address is named" \
  "Cannot connect to the bus at unix:path=$tmp/no-bus \(Address=\): No such file or directory"
printf '[DBus]\nBus=system\n' >"$tmp/system.conf"
expect_exit 1 "Bus=system unreachable: tlsd refuses to start" -- \
  env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-system-bus" \
  "$TLSD" --config="$tmp/system.conf" --runtime-dir="$tmp/run"
expect_output "Bus=system unreachable: the system bus and its address are named" \
  "Cannot connect to the system bus at unix:path=$tmp/no-system-bus: No such file or directory"
printf '[DBus]\nBus=session\n' >"$tmp/session.conf"
expect_exit 1 "Bus=session without any session bus: tlsd refuses to start" -- \
  env -u DBUS_SESSION_BUS_ADDRESS -u XDG_RUNTIME_DIR \
  "$TLSD" --config="$tmp/session.conf" --runtime-dir="$tmp/run"
expect_output "Bus=session without any: says why ('No medium found' alone said nothing)" \
  "Cannot connect to the session bus \(neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set\)"

if ! command -v dbus-daemon >/dev/null 2>&1; then
  skip "the serving line and a taken name: dbus-daemon is not installed"
  finish
fi
dbus-daemon --session --address="unix:path=$tmp/bus.sock" --nofork --nopidfile \
  >"$tmp/bus.log" 2>&1 &
bus_pid=$!
if ! wait_for_socket "$tmp/bus.sock"; then
  fail "dbus-daemon did not start: $(cat "$tmp/bus.log")"
  finish
fi
printf '[DBus]\nAddress=unix:path=%s/bus.sock\n' "$tmp" >"$tmp/bus.conf"
start_tlsd "$tmp/first" --config="$tmp/bus.conf" || finish
for _ in $(seq 1 100); do
  grep -q "serving org.tlsd1" "$tmp/first/tlsd.log" && break
  sleep 0.05
done
if grep -q "serving org.tlsd1 on D-Bus, the bus at unix:path=$tmp/bus.sock (Address=)" "$tmp/first/tlsd.log"; then
  pass "the serving line names the bus and its address"
else
  fail "the serving line: $(grep -i "d-bus" "$tmp/first/tlsd.log")"
fi
expect_exit 1 "a second tlsd on the same bus: refused (Address= is fatal)" -- \
  timeout 10 "$TLSD" --config="$tmp/bus.conf" --runtime-dir="$tmp/second"
expect_output "a second tlsd: the bus, its address and the reason are named" \
  "Cannot own org.tlsd1 on the bus at unix:path=$tmp/bus.sock \(Address=\): File exists: another process owns it"
stop_tlsd
finish
