#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The runtime directory (where tlsd binds tlsd.sock) must be tlsd's own: a symbolic link, a
# directory owned by another user or one that other users may write to is refused with a clear
# error, and nothing is created or changed where it points. A directory tlsd creates itself gets
# mode 0755 whatever the umask, so that clients reach the socket.
# Needs root (a directory owned by another uid; tlsd as root could write anywhere).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  skip "runtime directory: needs root (a directory owned by another uid)"
  finish
fi

tmp=$(mktemp -d /tmp/tlsd-rundir.XXXXXX)
chmod 755 "$tmp"
pid=""
cleanup() {
  [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# refused WHAT DIR PATTERN [TARGET]: tlsd --runtime-dir=DIR exits 1 with a message matching
# PATTERN, and makes no socket in TARGET (default DIR) nor changes its owner or mode.
refused() {
  local what=$1 dir=$2 pattern=$3 target=${4:-$2} before after rc made
  before=$(stat -c '%u:%g %a' "$target")
  env -u RUNTIME_DIRECTORY STATE_DIRECTORY="$tmp/state" DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent \
    "$TLSD" --runtime-dir="$dir" >"$tmp/out" 2>&1 &
  pid=$!
  rc=""
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" && rc=0 || rc=$?
      break
    fi
    sleep 0.05
  done
  made=""
  [ ! -S "$target/tlsd.sock" ] || made=1 # before tlsd, stopped, removes it
  if [ -z "$rc" ]; then
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc="still running"
  fi
  pid=""
  if [ "$rc" = 1 ] && grep -qE "$pattern" "$tmp/out"; then
    pass "$what: refused ($(head -n 1 "$tmp/out"))"
  else
    fail "$what: tlsd exit $rc, want 1 and /$pattern/: $(cat "$tmp/out")"
  fi
  after=$(stat -c '%u:%g %a' "$target")
  [ "$before" = "$after" ] && pass "$what: $target still $after" ||
    fail "$what: $target was $before, now $after"
  [ -z "$made" ] && [ ! -e "$target/tlsd.sock" ] && pass "$what: no socket in $target" ||
    fail "$what: tlsd made $target/tlsd.sock"
  rm -f "$target/tlsd.sock"
}

# a directory of another user (65534), reached through a symbolic link
mkdir "$tmp/other"
chown 65534:65534 "$tmp/other"
chmod 700 "$tmp/other"
ln -s "$tmp/other" "$tmp/link-other"
refused "runtime dir is a symlink to uid 65534's directory" "$tmp/link-other" \
  "symbolic link" "$tmp/other"

# a trailing slash would make open(O_NOFOLLOW) follow the link
refused "the same link with a trailing slash" "$tmp/link-other/" "symbolic link" "$tmp/other"

# a symbolic link to a directory of our own is refused too: what it points to can change
mkdir "$tmp/mine"
ln -s "$tmp/mine" "$tmp/link-mine"
refused "runtime dir is a symlink to root's own directory" "$tmp/link-mine" "symbolic link" \
  "$tmp/mine"

# no link: the directory itself belongs to another user
refused "runtime dir owned by uid 65534" "$tmp/other" "owned by uid 65534"

# ours, but anyone may replace the socket in it
mkdir "$tmp/open"
chmod 777 "$tmp/open"
refused "runtime dir writable by everyone" "$tmp/open" "writable by other users"

# created by tlsd: 0755 whatever the umask, owned by tlsd, socket 0660
(umask 077 && exec env -u RUNTIME_DIRECTORY STATE_DIRECTORY="$tmp/state" \
  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$TLSD" --runtime-dir="$tmp/new/run") \
  >"$tmp/new.log" 2>&1 &
pid=$!
if wait_for_socket "$tmp/new/run/tlsd.sock"; then
  out=$(stat -c '%u %a' "$tmp/new/run")
  [ "$out" = "0 755" ] && pass "a runtime dir tlsd creates under umask 077: root, 0755" ||
    fail "a runtime dir tlsd creates under umask 077: $out, want 0 755"
  out=$(stat -c '%a' "$tmp/new/run/tlsd.sock")
  [ "$out" = "660" ] && pass "its socket: 0660" || fail "its socket: $out, want 660"
  expect_exit 0 "tlsctl reaches tlsd there" -- "$TLSCTL" --socket="$tmp/new/run/tlsd.sock" ping
else
  fail "tlsd did not start on a new runtime dir: $(cat "$tmp/new.log")"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid" && rc=0 || rc=$?
pid=""
[ "$rc" -eq 0 ] && pass "tlsd stopped cleanly" || fail "tlsd exited $rc: $(cat "$tmp/new.log")"
# started again on the directory it made: its own, accepted
env -u RUNTIME_DIRECTORY STATE_DIRECTORY="$tmp/state" DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent \
  "$TLSD" --runtime-dir="$tmp/new/run" >"$tmp/again.log" 2>&1 &
pid=$!
if wait_for_socket "$tmp/new/run/tlsd.sock"; then
  expect_exit 0 "tlsd starts again on the runtime dir it made" -- \
    "$TLSCTL" --socket="$tmp/new/run/tlsd.sock" ping
else
  fail "tlsd did not start again on $tmp/new/run: $(cat "$tmp/again.log")"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""
finish
