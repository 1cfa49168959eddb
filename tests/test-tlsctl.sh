#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tlsctl commands and options no other test runs, each checked by its effect, against one tlsd:
#   1. version (the daemon's version and TLS library, the same as tlsd --version), whoami (the
#      caller's uid, gid and its own pid; as uid 65534 too), ping [COUNT] (needs the daemon's
#      answers: a frozen daemon gets no pings through; bad counts are usage errors);
#   2. --quiet for connect (no summary, the data alone; errors still printed) and for listen
#      (the port alone, no "listening on" or "accepted" lines); listen without an address
#      serves IPv4 and IPv6 clients on one socket;
#   3. the DTLS timer options --dtls-timeout, --dtls-timeout-max and --dtls-retries against a UDP
#      port that never answers: the number of datagrams that reach it, the daemon's timer
#      schedule in its log, the Timeout message; out-of-range values are usage errors;
#   4. the DTLS listener's garbage counter: datagrams that are not DTLS are dropped and counted
#      (tlsd's "DTLS port closed" log line), the port keeps serving.
# A part that cannot run for a missing tool makes the whole script SKIP (exit 77) with the reason.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2086 # $ca and $ecdsa are option lists, split on purpose
# shellcheck disable=SC2016 # the sh -c scripts expand in the shell they start
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools tlsctl python3 timeout
test_pki

tmp=$(mktemp -d /tmp/tlsd-tlsctl.XXXXXX)
chmod 755 "$tmp" # uid 65534 reaches the control socket below it
bg_pids=""
cleanup() {
  exec 5>&- 6>&- 2>/dev/null
  for p in $bg_pids; do kill "$p" 2>/dev/null; done
  for p in $bg_pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -CONT "$TLSD_PID" 2>/dev/null
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

as_nobody=""
if [ "$(id -u)" -eq 0 ] && getent group nogroup >/dev/null 2>&1 && command -v setpriv >/dev/null; then
  as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
  printf '[Daemon]\nSocketGroup=nogroup\n' >"$tmp/tlsd.conf"
else
  : >"$tmp/tlsd.conf"
fi
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish
log="$tmp/tlsd/tlsd.log"
ca="--ca=$PKI/ca.pem"
ecdsa="--cert=$PKI/server-ecdsa-chain.pem --key=$PKI/server-ecdsa.key"

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
has_line() { grep -q -- "$2" "$1" 2>/dev/null; }

# ---- 1. version, whoami, ping ----

expect_exit 0 "tlsctl version" -- "$TLSCTL" version
version_out=$out
want_version=$("$TLSD" --version | head -n 1)
if [ "$(printf '%s\n' "$version_out" | sed -n 1p)" = "$want_version" ]; then
  pass "tlsctl version: first line '$want_version' is the daemon's, as tlsd --version says"
else
  fail "tlsctl version: '$(printf '%s\n' "$version_out" | sed -n 1p)', tlsd --version says '$want_version'"
fi
out=$(printf '%s\n' "$version_out" | sed -n 2,3p | tr '\n' ' ')
if printf '%s' "$out" | grep -qE '^protocol [1-9][0-9]* wolfSSL 5\.[0-9]+\.[0-9]+ $' &&
  "$TLSD" --version | grep -qF "$(printf '%s\n' "$version_out" | sed -n 3p | sed 's/^wolfSSL //')"; then
  pass "tlsctl version: protocol and TLS library lines ($out), the library tlsd names"
else
  fail "tlsctl version: protocol and library lines: '$out' / tlsd --version: $("$TLSD" --version)"
fi

# whoami: the kernel's credentials of this very process (sh replaced by tlsctl keeps its pid)
out=$(sh -c 'echo "pid=$$"; exec "$0" whoami' "$TLSCTL" 2>&1)
me=$(printf '%s\n' "$out" | sed -n 1p)
if [ "$(printf '%s\n' "$out" | sed -n 2p)" = "uid=$(id -u) gid=$(id -g) $me" ]; then
  pass "tlsctl whoami: uid=$(id -u) gid=$(id -g) and tlsctl's own $me"
else
  fail "tlsctl whoami: '$out', want uid=$(id -u) gid=$(id -g) $me"
fi
if [ -n "$as_nobody" ]; then
  out=$($as_nobody sh -c 'echo "pid=$$"; exec "$0" whoami' "$TLSCTL" 2>&1)
  me=$(printf '%s\n' "$out" | sed -n 1p)
  if [ "$(printf '%s\n' "$out" | sed -n 2p)" = "uid=65534 gid=65534 $me" ]; then
    pass "tlsctl whoami as uid 65534: uid=65534 gid=65534 $me"
  else
    fail "tlsctl whoami as uid 65534: '$out'"
  fi
fi

expect_exit 0 "tlsctl ping" -- "$TLSCTL" ping
expect_output "tlsctl ping: one ping" '^1 pings in [0-9]+\.[0-9]{3} ms \([0-9]+\.[0-9] us each\)$'
expect_exit 0 "tlsctl ping 250" -- "$TLSCTL" ping 250
expect_output "tlsctl ping 250: 250 pings" '^250 pings in [0-9]+\.[0-9]{3} ms \([0-9]+\.[0-9] us each\)$'
for bad in 0 -1 abc 10000001 12x; do
  expect_exit 2 "tlsctl ping $bad is a usage error" -- "$TLSCTL" ping "$bad"
  expect_output "... naming the count" "tlsctl: ping: invalid count '$bad'"
done
# a ping is answered by the daemon, not by tlsctl: with tlsd frozen none completes
kill -STOP "$TLSD_PID"
timeout 2 "$TLSCTL" ping >"$tmp/frozen.out" 2>&1 && rc=0 || rc=$?
kill -CONT "$TLSD_PID"
if [ "$rc" -eq 124 ] && ! grep -q 'pings in' "$tmp/frozen.out"; then
  pass "tlsctl ping waits for the daemon's answer (frozen tlsd: no ping completes)"
else
  fail "tlsctl ping with tlsd frozen: exit $rc: $(cat "$tmp/frozen.out")"
fi
expect_exit 0 "tlsctl ping after the daemon continues" -- "$TLSCTL" ping 3

# ---- 2. --quiet ----

# listen NAME ARGS...: `tlsctl listen ARGS 127.0.0.1:0` in the background; its stdout in
# $tmp/NAME.out, stderr in $tmp/NAME.err, the port it printed in $lport, its pid in $lpid.
listen() {
  local name="$1"
  shift
  "$TLSCTL" listen "$@" 127.0.0.1:0 >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
  lpid=$!
  bg_pids="$bg_pids $lpid"
  lport=""
  if wait_until 15 test -s "$tmp/$name.out"; then
    lport=$(head -n 1 "$tmp/$name.out")
  else
    fail "tlsctl listen $name did not print its port: $(cat "$tmp/$name.err")"
  fi
}
# reap PID: waits for a background process of ours; its exit status in $rc.
reap() {
  wait "$1" && rc=0 || rc=$?
  bg_pids=$(printf ' %s ' "$bg_pids" | sed "s/ $1 / /")
}

# --quiet listen, serving two connections (--count=2): a --quiet connect, then a plain one
listen quiet $ecdsa --quiet --count=2
if [ -n "$lport" ]; then
  out=$(printf 'quiet line\n' | timeout 20 "$TLSCTL" connect --quiet $ca "localhost:$lport" 2>"$tmp/qc.err") &&
    rc=0 || rc=$?
  if [ "$rc" -eq 0 ] && [ "$out" = "quiet line" ] && [ ! -s "$tmp/qc.err" ]; then
    pass "connect --quiet: the echoed line on stdout, nothing on stderr"
  else
    fail "connect --quiet: exit $rc, stdout '$out', stderr: $(cat "$tmp/qc.err")"
  fi
  # the same connect without --quiet prints its summary: the check above can tell
  out=$(printf 'loud line\n' | timeout 20 "$TLSCTL" connect $ca "localhost:$lport" 2>"$tmp/lc.err") &&
    rc=0 || rc=$?
  if [ "$rc" -eq 0 ] && [ "$out" = "loud line" ] && grep -q '^connected: TLSv1\.3 ' "$tmp/lc.err" &&
    grep -q '^verification: ok$' "$tmp/lc.err"; then
    pass "connect without --quiet: the same line, and the summary on stderr"
  else
    fail "connect without --quiet: exit $rc, stdout '$out', stderr: $(cat "$tmp/lc.err")"
  fi
  reap "$lpid"
  if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/quiet.out")" = "$lport" ] && [ ! -s "$tmp/quiet.err" ]; then
    pass "listen --quiet: served 2 connections, printed the port alone, nothing on stderr"
  else
    fail "listen --quiet: exit $rc, stdout '$(cat "$tmp/quiet.out")', stderr: $(cat "$tmp/quiet.err")"
  fi
fi
# and the same listener without --quiet does print both lines
listen loud $ecdsa --count=1
if [ -n "$lport" ]; then
  out=$(printf 'x\n' | timeout 20 "$TLSCTL" connect --quiet $ca "localhost:$lport" 2>&1) || true
  reap "$lpid"
  if grep -q "^listening on 127.0.0.1 port $lport\$" "$tmp/loud.err" &&
    grep -q '^accepted 127\.0\.0\.1 port [0-9]*: TLSv1\.3 ' "$tmp/loud.err"; then
    pass "listen without --quiet: 'listening on' and 'accepted' lines"
  else
    fail "listen without --quiet: stderr: $(cat "$tmp/loud.err")"
  fi
fi
# errors are still printed with --quiet
out=$(timeout 20 "$TLSCTL" connect --quiet $ca --ciphers=RC4-SHA "127.0.0.1:9" </dev/null 2>&1) &&
  rc=0 || rc=$?
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "^tlsctl: session: .*'RC4-SHA' refused"; then
  pass "connect --quiet still prints the error (exit 1)"
else
  fail "connect --quiet with a refused cipher: exit $rc: $out"
fi

# ---- 2b. listen without an address: IPv6 and IPv4 ----

"$TLSCTL" listen $ecdsa --count=2 0 >"$tmp/dual.out" 2>"$tmp/dual.err" </dev/null &
lpid=$!
bg_pids="$bg_pids $lpid"
if wait_until 15 test -s "$tmp/dual.out"; then
  dport=$(head -n 1 "$tmp/dual.out")
  for host in 127.0.0.1 '[::1]'; do
    out=$(printf 'dual %s\n' "$host" | timeout 20 "$TLSCTL" connect --quiet $ca "$host:$dport" 2>&1) ||
      true
    if [ "$out" = "dual $host" ]; then
      pass "listen on port $dport without an address: served a client of $host"
    else
      fail "listen without an address: client of $host: $out"
    fi
  done
  reap "$lpid"
  if grep -q "^listening on \* port $dport\$" "$tmp/dual.err" &&
    grep -q '^accepted ::ffff:127\.0\.0\.1 port ' "$tmp/dual.err" &&
    grep -q '^accepted ::1 port ' "$tmp/dual.err"; then
    pass "listen without an address: one dual-stack socket (clients seen as ::ffff:127.0.0.1 and ::1)"
  else
    fail "listen without an address: $(cat "$tmp/dual.err")"
  fi
else
  fail "tlsctl listen without an address did not print its port: $(cat "$tmp/dual.err")"
fi

# ---- 3. DTLS timer options ----

# A UDP port that never answers: counts the datagrams it gets until a "STOP" datagram from the
# test (the socket's queue is in order: every datagram before it was counted), prints the count.
cat >"$tmp/mute.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
n = 0
while True:
    d = s.recv(65536)
    if d == b"STOP":
        break
    n += 1
print(n, flush=True)
EOF
send_stop() {
  python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"STOP", ("127.0.0.1", int(sys.argv[1])))' "$1"
}

# dtls_timer NAME TIMEOUT MAX RETRIES EXPECTED_SCHEDULE: a DTLS connect with these options to a
# mute port; checks the exit, the message, the datagram count (RETRIES + 1) and the daemon's
# retransmission timers for that connection (EXPECTED_SCHEDULE: the timer values in ms).
dtls_timer() {
  local name="$1" t="$2" max="$3" retries="$4" schedule="$5" mport count conn got connect_rc
  python3 "$tmp/mute.py" "$tmp/$name.port" >"$tmp/$name.count" 2>&1 &
  mpid=$!
  bg_pids="$bg_pids $mpid"
  if ! wait_until 10 test -s "$tmp/$name.port"; then
    fail "DTLS timers $name: the mute UDP port did not start: $(cat "$tmp/$name.count")"
    return
  fi
  mport=$(cat "$tmp/$name.port")
  out=$(timeout 60 "$TLSCTL" connect --dtls $ca --dtls-timeout="$t" --dtls-timeout-max="$max" \
    --dtls-retries="$retries" "127.0.0.1:$mport" </dev/null 2>&1) && connect_rc=0 || connect_rc=$?
  send_stop "$mport"
  reap "$mpid"
  count=$(cat "$tmp/$name.count")
  if [ "$connect_rc" -eq 1 ] && printf '%s' "$out" |
    grep -q "Timed out: no answer from the peer after $retries retransmissions (handshake)"; then
    pass "DTLS timers $name: connect fails with the Timeout after $retries retransmissions"
  else
    fail "DTLS timers $name: exit $connect_rc: $out"
  fi
  if [ "$count" = "$((retries + 1))" ]; then
    pass "DTLS timers $name: $count datagrams reached the port (the flight and $retries retransmissions)"
  else
    fail "DTLS timers $name: $count datagrams reached the port, want $((retries + 1))"
  fi
  conn=$(sed -n "s/^tlsd\[info\]: connection \([0-9]*\) (uid [0-9]*): no answer from the peer after $retries retransmissions.*/\1/p" "$log" | tail -n 1)
  got=$(sed -n "s/^tlsd\[debug\]: connection $conn: retransmission timer \([0-9]*\) ms.*/\1/p" "$log" | tr '\n' ' ')
  if [ -n "$conn" ] && [ "$got" = "$schedule" ]; then
    pass "DTLS timers $name: tlsd's schedule for connection $conn is ${got}ms"
  else
    fail "DTLS timers $name: tlsd's timers for connection '$conn': '$got', want '$schedule'"
  fi
}
dtls_timer short 50 100 2 "50 100 100 "
dtls_timer longer 20 80 5 "20 40 80 80 80 80 "

for bad in "--dtls-timeout=9" "--dtls-timeout=600001" "--dtls-retries=0" "--dtls-retries=65" \
  "--dtls-timeout-max=600001" "--dtls-timeout=200 --dtls-timeout-max=100"; do
  expect_exit 2 "tlsctl connect --dtls $bad is a usage error" -- \
    "$TLSCTL" connect --dtls $bad "127.0.0.1:9"
done
expect_exit 1 "DTLS timer options on a TLS session are refused by the daemon" -- \
  "$TLSCTL" connect --dtls-retries=3 "127.0.0.1:9"
expect_output "... which says why" "apply to DTLS sessions only"

# ---- 4. garbage datagrams at a DTLS listener ----

listen dtls $ecdsa --dtls
if [ -n "$lport" ]; then
  # 5 datagrams that are no DTLS record (counted as garbage) and 2 DTLS records that are no
  # ClientHello from addresses the listener does not know (dropped as from unknown peers)
  python3 - "$lport" <<'EOF'
import socket, sys
port = int(sys.argv[1])
garbage = [b"\x00" * 40, b"\xff" * 100, b"GET / HTTP/1.0\r\n\r\n", b"\x19", b"\x80\x01"]
unknown = [bytes([23, 0xfe, 0xfd]) + bytes(10) + b"x" * 20, bytes([21, 0xfe, 0xfd]) + bytes(12)]
for d in garbage + unknown:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(d, ("127.0.0.1", port))
    s.close()
EOF
  # a real client after them (the port reads in order): the port still serves
  mkfifo "$tmp/dc.in"
  "$TLSCTL" connect --dtls $ca "localhost:$lport" <"$tmp/dc.in" >"$tmp/dc.out" 2>"$tmp/dc.err" &
  dpid=$!
  bg_pids="$bg_pids $dpid"
  exec 6>"$tmp/dc.in"
  echo "after the garbage" >&6
  if wait_until 20 has_line "$tmp/dc.out" "^after the garbage\$"; then
    pass "the DTLS listener serves a client after the garbage (message echoed)"
  else
    fail "DTLS client after the garbage: $(cat "$tmp/dc.out" "$tmp/dc.err")"
  fi
  exec 6>&-
  reap "$dpid"
  kill "$lpid"
  reap "$lpid"
  # the port closes with its listener's client: its counters go to the log
  if wait_until 10 has_line "$log" "DTLS port closed: "; then
    line=$(grep "DTLS port closed: " "$log" | tail -n 1)
    if printf '%s' "$line" | grep -qE ': [0-9]+ datagrams, 5 garbage, [2-9][0-9]* from unknown peers'; then
      pass "the DTLS port counted the 5 garbage datagrams and the 2 strangers' records ($line)"
    else
      fail "DTLS port counters: want 5 garbage, 2 or more from unknown peers: $line"
    fi
  else
    fail "no 'DTLS port closed' line in tlsd's log after the listener ended"
  fi
fi

# ---- the daemon ----

if kill -0 "$TLSD_PID" 2>/dev/null; then
  pass "tlsd is still running"
else
  fail "tlsd died: $(tail -n 20 "$log")"
fi
stop_tlsd
TLSD_PID=
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$log"; then
  fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$log" | head -n 40)"
else
  pass "tlsd log has no sanitizer report"
fi
finish
