#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# What one local user can make tlsd hold, tried as a hostile user would, with two real uids
# (65534 and a throw-away user, both let in through SocketGroup=nogroup):
#  1. UDP ports: a second uid's DTLS Listen on a port that another uid's listener holds, or
#     that a foreign process bound with SO_REUSEADDR, is refused (Address already in use); the
#     first listener still serves openssl s_client -dtls1_2.
#  2. Bind follows PrivilegedPortUsers= like Listen: uid 65534 cannot bind a connection to port
#     999 (TCP or UDP), with the Listen error; a port >= 1024 is what the peer sees.
#  3. Listeners: MaxListenersPerUser= and MaxListeners= refuse with LimitExceeded; under a small
#     RLIMIT_NOFILE, one uid opening listeners until refused leaves descriptors for the others:
#     a second uid still connects, pings and listens.
#  4. Name lookups against a resolver that never answers (tlsd in a private mount namespace
#     whose resolv.conf points at a silent UDP socket): Connect->Destroy in a loop is refused
#     beyond MaxNameLookupsPerUser= and MaxNameLookups=, tlsd's thread count stays bounded, and
#     another uid is still served (Ping, a connection to an IP literal).
#  5. A Connect refused after the host name was copied (lookup refused, or no descriptor for it)
#     and retried on the same connection leaks nothing (sanitizer builds: LeakSanitizer).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2086 # $id_opts and $dtls are option lists, split on purpose
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

: "${top_builddir:?}" # lib.sh sets it
CLIENT="$top_builddir/tests/limits-client"

need_root "limits: needs root (two other uids, a private mount namespace, port 53 on 127.0.0.2)"
need_tools limits setpriv openssl python3 useradd
if ! getent group nogroup >/dev/null 2>&1; then
  skip "limits: no group nogroup for uid 65534"
  finish
fi
test_pki
PY=$(command -v python3)

tmp=$(mktemp -d /tmp/tlsd-limits.XXXXXX)
chmod 755 "$tmp" # the other uids reach the control socket below it
pids=""
cleanup() {
  exec 3>&- 4>&- 2>/dev/null
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  remove_test_users
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
forget() { pids=$(for p in $pids; do [ "$p" = "$1" ] || printf '%s ' "$p"; done); }

# ---- the two users: A is 65534 (nobody), B a throw-away user; both in group nogroup ----
user_b=tlsd-limits-b
if ! make_test_user "$user_b" -N -g nogroup >/dev/null 2>&1; then
  fail "cannot create the test user $user_b"
  finish
fi
uid_b=$(id -u "$user_b")
as_a() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_b() { setpriv --reuid="$uid_b" --regid=65534 --clear-groups "$@"; }

# The clients read the identity themselves: copies both users can read (test keys only).
mkdir -p "$tmp/id"
cp "$PKI/server-ecdsa-chain.pem" "$PKI/server-ecdsa.key" "$PKI/ca.pem" "$tmp/id/"
chmod 755 "$tmp/id"
chmod 644 "$tmp/id/"*
id_opts="--cert=$tmp/id/server-ecdsa-chain.pem --key=$tmp/id/server-ecdsa.key"
cert="$tmp/id/server-ecdsa-chain.pem"
key="$tmp/id/server-ecdsa.key"

# Sanitizer builds report leaks when tlsd exits.
asan=false
ldd "$TLSD" 2>/dev/null | grep -q libasan && asan=true

# tlsd_conf EXTRA-LINES...: a config letting both users in, with [Limits] lines added.
tlsd_conf() {
  printf '[Daemon]\nSocketGroup=nogroup\n[Limits]\n' >"$tmp/tlsd.conf"
  for l in "$@"; do printf '%s\n' "$l" >>"$tmp/tlsd.conf"; done
}

# spawn_tlsd [WRAPPER...]: like start_tlsd (lib.sh), with $tmp/tlsd.conf, started through
# WRAPPER (a command that ends by exec'ing its arguments, so $TLSD_PID is tlsd's own pid).
spawn_tlsd() {
  mkdir -p "$tmp/tlsd"
  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
  DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
  STATE_DIRECTORY="$tmp/tlsd/state" \
    "$@" "$TLSD" --runtime-dir="$tmp/tlsd/run" --log-level=debug --config="$tmp/tlsd.conf" \
    >"$tmp/tlsd/tlsd.log" 2>&1 &
  TLSD_PID=$!
  TLSD_SOCKET="$tmp/tlsd/run/tlsd.sock"
  export TLSD_SOCKET
  # Ready, not just bound: the socket's group and mode (which let the other uids in) are set
  # after bind().
  for _ in $(seq 1 400); do
    grep -q " ready, control socket " "$tmp/tlsd/tlsd.log" && return 0
    kill -0 "$TLSD_PID" 2>/dev/null || break
    sleep 0.05
  done
  fail "tlsd did not start: $(cat "$tmp/tlsd/tlsd.log")"
  return 1
}

# stop_and_check NAME: stops tlsd; fails on a non-zero exit or a sanitizer report in its log.
stop_and_check() {
  local rc
  kill -TERM "$TLSD_PID" 2>/dev/null
  wait "$TLSD_PID" && rc=0 || rc=$?
  if grep -q "Sanitizer" "$tmp/tlsd/tlsd.log"; then
    fail "$1: sanitizer report: $(grep -A12 "ERROR:.*Sanitizer" "$tmp/tlsd/tlsd.log" | head -n 30)"
  elif [ "$rc" -ne 0 ]; then
    fail "$1: tlsd exited with $rc: $(tail -n 5 "$tmp/tlsd/tlsd.log")"
  else
    pass "$1: tlsd exited cleanly"
  fi
  TLSD_PID=""
}

# listen_port FILE: the port in tlsctl's "listening on ADDRESS port N" line (waits up to 5 s).
listen_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(sed -n 's/^listening on .* port \([0-9]*\)$/\1/p' "$1")
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  return 1
}

# peer tcp|udp FILE: a plain socket on 127.0.0.1 port 0 that writes "port N" to FILE, then
# "from PORT" for the first client (TCP connect or UDP datagram) within 10 s. Not TLS: it only
# notes where the client came from.
peer() {
  "$PY" -c '
import socket, sys
kind, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
if kind == "tcp":
    s.listen(1)
with open(path, "w") as f:
    f.write("port %d\n" % s.getsockname()[1])
s.settimeout(10)
try:
    if kind == "tcp":
        c, a = s.accept()
    else:
        _, a = s.recvfrom(65536)
    with open(path, "a") as f:
        f.write("from %d\n" % a[1])
except socket.timeout:
    pass
' "$1" "$2" &
  peer_pid=$!
  pids="$pids $peer_pid"
  for _ in $(seq 1 100); do
    peer_port=$(sed -n 's/^port //p' "$2" 2>/dev/null)
    [ -n "$peer_port" ] && return 0
    sleep 0.05
  done
  return 1
}
peer_done() {
  wait "$peer_pid" 2>/dev/null
  forget "$peer_pid"
}

tlsd_conf
spawn_tlsd || finish

# ---- 1. UDP port takeover ----
as_a timeout 120 "$TLSCTL" listen --dtls 127.0.0.1:0 $id_opts >"$tmp/a-dtls.out" 2>&1 </dev/null &
a_pid=$!
pids="$pids $a_pid"
if dport=$(listen_port "$tmp/a-dtls.out"); then
  out=$(as_b timeout 5 "$TLSCTL" listen --dtls "127.0.0.1:$dport" $id_opts 2>&1 </dev/null)
  expect_output "uid $uid_b cannot take uid 65534's DTLS port $dport" \
    "^tlsctl: listen: .*cannot listen on 127\.0\.0\.1 port $dport: Address already in use$"
  out=$(as_b timeout 5 "$TLSCTL" listen --dtls "$dport" $id_opts 2>&1 </dev/null)
  expect_output "... nor on all addresses" \
    "^tlsctl: listen: .*cannot listen on \* port $dport: Address already in use$"
  out=$(as_a timeout 5 "$TLSCTL" listen --dtls "127.0.0.1:$dport" $id_opts 2>&1 </dev/null)
  expect_output "... nor can uid 65534 listen on it twice" \
    "^tlsctl: listen: .*port $dport: Address already in use$"
  # The owner's listener still gets the handshakes: a real DTLS 1.2 client, echoed.
  out=$( (echo "to the owner"; sleep 1.5) |
    timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$dport" -servername localhost \
      -CAfile "$PKI/ca.pem" -verify_return_error 2>&1)
  if printf '%s' "$out" | grep -q "^to the owner" &&
    grep -q "accepted 127.0.0.1 port [0-9]*: DTLSv1.2" "$tmp/a-dtls.out"; then
    pass "openssl s_client -dtls1_2 reaches uid 65534's listener, echoed"
  else
    fail "openssl s_client -dtls1_2 to uid 65534's listener: $out / $(cat "$tmp/a-dtls.out")"
  fi
else
  fail "uid 65534 cannot listen with DTLS: $(cat "$tmp/a-dtls.out")"
fi
kill "$a_pid" 2>/dev/null
wait "$a_pid" 2>/dev/null
forget "$a_pid"

# A UDP port that a process outside tlsd holds, with SO_REUSEADDR (which lets two sockets that
# both set it share a port).
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(60)
' >"$tmp/foreign.port" &
foreign_pid=$!
pids="$pids $foreign_pid"
for _ in $(seq 1 100); do [ -s "$tmp/foreign.port" ] && break; sleep 0.05; done
fport=$(cat "$tmp/foreign.port")
out=$(as_a timeout 5 "$TLSCTL" listen --dtls "127.0.0.1:$fport" $id_opts 2>&1 </dev/null)
expect_output "a UDP port held by another process (SO_REUSEADDR) is refused to a DTLS listener" \
  "^tlsctl: listen: .*cannot listen on 127\.0\.0\.1 port $fport: Address already in use$"
kill "$foreign_pid" 2>/dev/null
wait "$foreign_pid" 2>/dev/null
forget "$foreign_pid"

# ---- 2. Bind and PrivilegedPortUsers= ----
for kind in tcp udp; do
  dtls=""
  [ "$kind" = udp ] && dtls=dtls
  peer "$kind" "$tmp/peer-$kind" || fail "$kind peer did not start"
  out=$(as_a timeout 20 "$CLIENT" bind-connect 127.0.0.1 999 127.0.0.1 "$peer_port" $dtls 2>&1)
  expect_output "uid 65534 cannot bind a $kind connection to port 999, with Listen's error" \
    "refused: PermissionDenied: port 999 is privileged: allowed only for users listed in PrivilegedPortUsers="
  sleep 0.5
  if grep -q "^from 999$" "$tmp/peer-$kind"; then
    fail "... yet the $kind peer saw a client from port 999"
  else
    pass "... and nothing reached the $kind peer from port 999"
  fi
  kill "$peer_pid" 2>/dev/null
  peer_done
done
out=$(as_a timeout 5 "$TLSCTL" listen 127.0.0.1:999 $id_opts 2>&1 </dev/null)
expect_output "Listen on port 999 is refused with the same words" \
  "port 999 is privileged: allowed only for users listed in PrivilegedPortUsers="
for kind in tcp udp; do
  dtls=""
  [ "$kind" = udp ] && dtls=dtls
  peer "$kind" "$tmp/peer2-$kind" || fail "$kind peer did not start"
  bport=$(free_port)
  out=$(as_a timeout 20 "$CLIENT" bind-connect 127.0.0.1 "$bport" 127.0.0.1 "$peer_port" $dtls 2>&1)
  peer_done
  if printf '%s' "$out" | grep -q "^connect requested" &&
    grep -q "^from $bport$" "$tmp/peer2-$kind"; then
    pass "uid 65534 binds a $kind connection to port $bport and the peer sees that port"
  else
    fail "uid 65534 bind to $kind port $bport: $out / peer: $(cat "$tmp/peer2-$kind")"
  fi
done

stop_and_check "ports and binds"

# ---- 3. listeners ----
tlsd_conf MaxListenersPerUser=3 MaxListeners=5
spawn_tlsd || finish
mkfifo "$tmp/hold-a" "$tmp/hold-b"
as_a "$CLIENT" listeners 127.0.0.1 "$cert" "$key" 10 <"$tmp/hold-a" >"$tmp/la.out" 2>&1 &
la_pid=$!
pids="$pids $la_pid"
exec 3>"$tmp/hold-a"
for _ in $(seq 1 200); do grep -q "^holding" "$tmp/la.out" && break; sleep 0.05; done
out=$(cat "$tmp/la.out")
expect_output "uid 65534 gets 3 listeners (MaxListenersPerUser=3)" "^opened 3$"
expect_output "... the 4th is refused with LimitExceeded and the key's name" \
  "^refused: LimitExceeded: too many listeners for this user \(MaxListenersPerUser=3\)"
as_b "$CLIENT" listeners 127.0.0.1 "$cert" "$key" 10 <"$tmp/hold-b" >"$tmp/lb.out" 2>&1 &
lb_pid=$!
pids="$pids $lb_pid"
exec 4>"$tmp/hold-b"
for _ in $(seq 1 200); do grep -q "^holding" "$tmp/lb.out" && break; sleep 0.05; done
out=$(cat "$tmp/lb.out")
expect_output "uid $uid_b gets the 2 left of MaxListeners=5" "^opened 2$"
expect_output "... then LimitExceeded naming MaxListeners=" \
  "^refused: LimitExceeded: too many listeners on this tlsd \(MaxListeners=5\)"
exec 3>&- 4>&-
wait "$la_pid" "$lb_pid" 2>/dev/null
forget "$la_pid"
forget "$lb_pid"
# Closed listeners no longer count.
out=$(printf '' | as_b "$CLIENT" listeners 127.0.0.1 "$cert" "$key" 3 2>&1)
expect_output "listeners that closed are given back" "^opened 3$"
stop_and_check "listener limits"

# Out of descriptors: tlsd under RLIMIT_NOFILE 128, the listener limits out of the way.
tlsd_conf MaxListenersPerUser=100000 MaxListeners=100000
# shellcheck disable=SC2016 # for the inner shell
if spawn_tlsd sh -c 'ulimit -n 128 && exec "$@"' sh; then
  nofile=$(sed -n 's/^Max open files *\([0-9]*\).*/\1/p' "/proc/$TLSD_PID/limits")
  as_a "$CLIENT" listeners 127.0.0.1 "$cert" "$key" 1000 <"$tmp/hold-a" >"$tmp/la.out" 2>&1 &
  la_pid=$!
  pids="$pids $la_pid"
  exec 3>"$tmp/hold-a"
  for _ in $(seq 1 400); do grep -q "^holding" "$tmp/la.out" && break; sleep 0.05; done
  out=$(cat "$tmp/la.out")
  n_a=$(sed -n 's/^opened //p' "$tmp/la.out")
  expect_output "uid 65534 is refused listeners before tlsd runs out of descriptors (limit $nofile)" \
    "^refused: LimitExceeded: .*descriptors"
  fds=$(find "/proc/$TLSD_PID/fd" -mindepth 1 | wc -l)
  out=$(as_b timeout 10 "$TLSCTL" ping 3 2>&1)
  expect_output "uid $uid_b still connects and pings (uid 65534 holds ${n_a:-?} listeners, tlsd $fds of $nofile descriptors)" \
    "^3 pings in"
  out=$(printf '' | as_b timeout 10 "$CLIENT" listeners 127.0.0.1 "$cert" "$key" 1 2>&1)
  expect_output "... and gets a listener" "^opened 1$"
  # Both users take what they can: the second runs into the reserve kept for the control
  # socket, which still lets clients in.
  as_b "$CLIENT" listeners 127.0.0.1 "$cert" "$key" 1000 <"$tmp/hold-b" >"$tmp/lb.out" 2>&1 &
  lb_pid=$!
  pids="$pids $lb_pid"
  exec 4>"$tmp/hold-b"
  for _ in $(seq 1 400); do grep -q "^holding" "$tmp/lb.out" && break; sleep 0.05; done
  out=$(cat "$tmp/lb.out")
  expect_output "uid $uid_b, taking listeners too, is refused at the control socket's reserve" \
    "^refused: LimitExceeded: tlsd is short of file descriptors: .* the last [0-9]+ are kept for its control socket"
  fds=$(find "/proc/$TLSD_PID/fd" -mindepth 1 | wc -l)
  out=$(as_a timeout 10 "$TLSCTL" ping 3 2>&1)
  expect_output "... a new client still connects and pings ($(sed -n 's/^opened //p' "$tmp/la.out") + $(sed -n 's/^opened //p' "$tmp/lb.out") listeners, tlsd $fds of $nofile descriptors)" \
    "^3 pings in"
  exec 3>&- 4>&-
  wait "$la_pid" "$lb_pid" 2>/dev/null
  forget "$la_pid"
  forget "$lb_pid"
  # No descriptor at all (the soft limit at the lowest free one): a new client is hung up on
  # at once instead of waiting in the socket's backlog for an accept() that cannot succeed.
  if command -v prlimit >/dev/null 2>&1; then
    lowest=0
    while [ -e "/proc/$TLSD_PID/fd/$lowest" ]; do lowest=$((lowest + 1)); done
    prlimit --pid "$TLSD_PID" --nofile="$lowest:"
    out=$(as_b timeout 10 "$TLSCTL" ping 1 2>&1) && rc=0 || rc=$?
    prlimit --pid "$TLSD_PID" --nofile="$nofile:"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
      pass "tlsd without a free descriptor hangs up on a new client at once (exit $rc: $out)"
    else
      fail "tlsd without a free descriptor: a new client got exit $rc: $out"
    fi
    out=$(as_b timeout 10 "$TLSCTL" ping 3 2>&1)
    expect_output "... and serves new clients again once descriptors are back" "^3 pings in"
  else
    skip "no descriptor at all: prlimit(1) is not installed"
  fi
  stop_and_check "out of descriptors"
fi
TLSD_PID=""

# ---- 4. name lookups against a resolver that never answers ----
if ! command -v unshare >/dev/null 2>&1; then
  skip "name lookups: unshare(1) is not installed"
  finish
fi
# The silent resolver: a UDP socket on 127.0.0.2 port 53 that reads and never answers.
"$PY" -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 53))
print("ready", flush=True)
while True:
    s.recvfrom(65536)
' >"$tmp/silent.out" 2>&1 &
silent_pid=$!
pids="$pids $silent_pid"
for _ in $(seq 1 100); do [ -s "$tmp/silent.out" ] && break; sleep 0.05; done
if ! grep -q ready "$tmp/silent.out"; then
  skip "name lookups: cannot bind 127.0.0.2 port 53: $(cat "$tmp/silent.out")"
  finish
fi
printf 'nameserver 127.0.0.2\noptions timeout:30 attempts:2\n' >"$tmp/resolv.conf"
printf 'hosts: files dns\n' >"$tmp/nsswitch.conf"
slow_name=nowhere.tlsd-limits.example
if grep -q "$slow_name" /etc/hosts; then
  fail "$slow_name is in /etc/hosts"
  finish
fi

tlsd_conf MaxNameLookupsPerUser=8 MaxNameLookups=12
# shellcheck disable=SC2016 # for the inner shell
spawn_tlsd unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf &&
  mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"' sh \
  "$tmp/resolv.conf" "$tmp/nsswitch.conf" || finish
threads() { sed -n 's/^Threads:[[:space:]]*//p' "/proc/$TLSD_PID/status"; }
t0=$(threads)
out=$(as_a timeout 60 "$CLIENT" lookups "$slow_name" 443 40 2>&1)
t1=$(threads)
expect_output "Connect->Destroy x40 to a name that never resolves: uid 65534 gets 8 lookups" \
  "^started 8 refused 32$"
expect_output "... the others are refused with LimitExceeded naming MaxNameLookupsPerUser=" \
  "^refused: LimitExceeded: too many name lookups in progress for this user \(MaxNameLookupsPerUser=8\)"
if [ $((t1 - t0)) -le 8 ]; then
  pass "... tlsd's threads: $t0 before, $t1 after (at most 8 more)"
else
  fail "... tlsd's threads: $t0 before, $t1 after (more than 8 more)"
fi
out=$(as_b timeout 60 "$CLIENT" lookups "$slow_name" 443 40 2>&1)
t2=$(threads)
expect_output "uid $uid_b gets the 4 lookups left of MaxNameLookups=12" "^started 4 refused 36$"
expect_output "... then LimitExceeded naming MaxNameLookups=" \
  "^refused: LimitExceeded: too many name lookups in progress on this tlsd \(MaxNameLookups=12\)"
if [ $((t2 - t0)) -le 12 ]; then
  pass "... tlsd's threads: $t0 before, $t2 now (at most 12 more)"
else
  fail "... tlsd's threads: $t0 before, $t2 now (more than 12 more)"
fi
out=$(as_b timeout 10 "$TLSCTL" ping 3 2>&1)
expect_output "uid $uid_b still pings" "^3 pings in"
# An IP literal needs no lookup: a real handshake with a tlsd listener of uid 65534.
as_a timeout 60 "$TLSCTL" listen 127.0.0.1:0 $id_opts --count=1 >"$tmp/lit.out" 2>&1 </dev/null &
lit_pid=$!
pids="$pids $lit_pid"
if lport=$(listen_port "$tmp/lit.out"); then
  out=$(echo "literal" | as_b timeout 20 "$TLSCTL" connect --ca="$tmp/id/ca.pem" \
    "127.0.0.1:$lport" 2>&1)
  expect_output "uid $uid_b connects to an IP literal while the lookups hang" "^connected: TLSv1"
else
  fail "uid 65534 cannot listen: $(cat "$tmp/lit.out")"
fi
kill "$lit_pid" 2>/dev/null
wait "$lit_pid" 2>/dev/null
forget "$lit_pid"

# ---- 5. a refused Connect, retried, leaks nothing ----
# The lookups above still hang: Connect to the name is refused after the connection took the
# host name; the same connection tries again, then goes.
out=$(as_a timeout 20 "$CLIENT" connect-twice "$slow_name" 443 2>&1)
if [ "$(printf '%s\n' "$out" | grep -c "^refused: LimitExceeded: too many name lookups")" -eq 2 ]; then
  pass "a Connect refused (lookups full) and retried on the same connection is refused again"
else
  fail "a Connect refused (lookups full) and retried: $out"
fi
# Out of descriptors: tlsd's soft RLIMIT_NOFILE down to the lowest free descriptor.
if command -v prlimit >/dev/null 2>&1; then
  # the client connects first; then tlsd has no descriptor left for anything new
  mkfifo "$tmp/go"
  n_conn=$(grep -c "connected: uid=$uid_b " "$tmp/tlsd/tlsd.log")
  as_b env LIMITS_CLIENT_WAIT=1 "$CLIENT" connect-twice "$slow_name" 443 <"$tmp/go" \
    >"$tmp/nofd.out" 2>&1 &
  nofd_pid=$!
  pids="$pids $nofd_pid"
  exec 3>"$tmp/go"
  soft=$(prlimit --pid "$TLSD_PID" --nofile --output=SOFT --noheadings | tr -d ' ')
  for _ in $(seq 1 100); do
    [ "$(grep -c "connected: uid=$uid_b " "$tmp/tlsd/tlsd.log")" -gt "$n_conn" ] && break
    sleep 0.05
  done
  lowest=0
  while [ -e "/proc/$TLSD_PID/fd/$lowest" ]; do lowest=$((lowest + 1)); done
  prlimit --pid "$TLSD_PID" --nofile="$lowest:"
  echo go >&3
  exec 3>&-
  wait "$nofd_pid" 2>/dev/null
  forget "$nofd_pid"
  prlimit --pid "$TLSD_PID" --nofile="$soft:"
  echo "# Connect with no descriptor to spare, retried: $(tr '\n' ' ' <"$tmp/nofd.out")"
fi
if $asan; then
  stop_and_check "name lookups and refused Connects (LeakSanitizer)"
else
  stop_and_check "name lookups and refused Connects"
  skip "leaks of a refused Connect: not a sanitizer build (run check-valgrind)"
fi

finish
