#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A listener's failed handshakes are visible: tlsd logs each at info with the client's address and
# the reason, and tells the listener's owner (AcceptFailed event), which `tlsctl listen` prints
# unless --quiet; both at most 10 a second per listener, the rest summed up ("N more failed
# handshakes not logged" in the log, "(N more failed handshakes not reported ...)" from tlsctl).
# Clients: openssl s_client without a certificate against --require-client-cert (TLS 1.3: alert
# certificate_required; TLS 1.2: handshake_failure; DTLS 1.2 on a UDP listener), and 100
# clients at once that send no TLS at all for the rate limit. The counts must add up: every failure is either reported or in a
# summary.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2086,SC2046 # option lists and log_counts' two numbers, split on purpose
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools accept-failed openssl python3
test_pki

tmp=$(mktemp -d /tmp/tlsd-acceptfailed.XXXXXX)
peer_pids=""
cleanup() {
  for p in $peer_pids; do kill "$p" 2>/dev/null; done
  for p in $peer_pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  [ -n "${TLSD_TEST_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

: >"$tmp/tlsd.conf"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish

# srv NAME ARGS...: `tlsctl listen 127.0.0.1:0 ARGS` in the background, stderr in $tmp/NAME.err;
# its port in $port_NAME once it printed it.
srv() {
  local name=$1 p
  shift
  "$TLSCTL" listen 127.0.0.1:0 "$@" >"$tmp/$name.port" 2>"$tmp/$name.err" </dev/null &
  peer_pids="$peer_pids $!"
  if ! wait_until 15 test -s "$tmp/$name.port"; then
    fail "listener $name did not start: $(cat "$tmp/$name.err")"
    finish
  fi
  p=$(head -n 1 "$tmp/$name.port")
  eval "port_$name=\$p"
}

ecdsa="--cert=$PKI/server-ecdsa-chain.pem --key=$PKI/server-ecdsa.key"
mtls="--client-ca=$PKI/ca.pem --require-client-cert"
srv loud $ecdsa $mtls
srv quiet $ecdsa $mtls --quiet
srv flood $ecdsa --max-pending=512
srv dtls --dtls $ecdsa $mtls
# shellcheck disable=SC2154 # set by srv through eval
{ pl=$port_loud pq=$port_quiet pf=$port_flood pd=$port_dtls; }

# nocert PORT VERSION: openssl s_client without a client certificate; it must fail.
nocert() {
  local rc
  echo hello | timeout "$(waits 15)" openssl s_client -connect "127.0.0.1:$1" "-$2" \
    -servername localhost -CAfile "$PKI/ca.pem" >"$tmp/sc.out" 2>&1 && rc=0 || rc=$?
  [ "$rc" -ne 0 ] || ! grep -q hello "$tmp/sc.out" || fail "s_client -$2 without a certificate got an echo"
}

# ---- one failure each: the owner's line and the log's ----

info_line() { # PORT ERE: the ERE of tlsd's info line for a failure on the listener of PORT
  echo "^tlsd\[info\]: listener [0-9]+ \(uid [0-9]+, 127\.0\.0\.1 port $1\): handshake of connection [0-9]+ from 127\.0\.0\.1 port [0-9]+ failed: $2"
}
for v in "tls1_3 alert 116 \(certificate_required\)" "tls1_2 alert 40 \(handshake_failure\)"; do
  ver=${v%% *} why=${v#* }
  nocert "$pl" "$ver"
  if wait_for_line "$tmp/loud.err" "^handshake failed from 127\.0\.0\.1 port [0-9]+: Handshake failed: sent $why: peer did not return a certificate$"; then
    pass "tlsctl listen prints the failed handshake (s_client -$ver without a certificate): $(grep -E "$why" "$tmp/loud.err")"
  else
    fail "tlsctl listen: no line for s_client -$ver without a certificate: $(cat "$tmp/loud.err")"
  fi
  if wait_for_line "$TLSD_LOG" "$(info_line "$pl" "sent $why: peer did not return a certificate")"; then
    pass "tlsd logs it at info with the client's address and the reason ($ver)"
  else
    fail "tlsd did not log s_client -$ver without a certificate at info: $(grep -E "port $pl|handshake" "$TLSD_LOG" | tail -n 5)"
  fi
done

# DTLS: the same on a UDP listener (openssl s_client -dtls1_2 without a certificate).
echo hello | timeout "$(waits 15)" openssl s_client -dtls1_2 -connect "127.0.0.1:$pd" \
  -servername localhost -CAfile "$PKI/ca.pem" >"$tmp/sc.out" 2>&1
if wait_for_line "$tmp/dtls.err" "^handshake failed from 127\.0\.0\.1 port [0-9]+: .*peer did not return a certificate$" &&
  wait_for_line "$TLSD_LOG" "$(info_line "$pd" ".*peer did not return a certificate")"; then
  pass "DTLS listener: tlsctl listen prints the failed handshake, tlsd logs it: $(grep -E '^handshake failed' "$tmp/dtls.err")"
else
  fail "DTLS listener: s_client -dtls1_2 without a certificate: tlsctl: $(cat "$tmp/dtls.err"); log: $(grep -E "port $pd" "$TLSD_LOG" | tail -n 3)"
fi

# --quiet: the same failure is logged, and tlsctl prints nothing. A client with a certificate
# (tlsctl connect) whose line comes back after it shows tlsctl listen has handled the failure's
# event (events arrive in order) before its stderr is looked at.
nocert "$pq" tls1_3
wait_for_line "$TLSD_LOG" "$(info_line "$pq" ".*certificate_required")" ||
  fail "tlsd did not log the failure on the --quiet listener"
out=$(echo quiet-probe | timeout "$(waits 15)" "$TLSCTL" connect --ca="$PKI/ca.pem" \
  --cert="$PKI/client.pem" --key="$PKI/client.key" --quiet "localhost:$pq" 2>&1)
if [ "$out" = quiet-probe ] && [ ! -s "$tmp/quiet.err" ]; then
  pass "tlsctl listen --quiet prints nothing for a failed handshake"
else
  fail "tlsctl listen --quiet (echo '$out'): $(cat "$tmp/quiet.err")"
fi

# ---- 100 failures at once: 10 a second reported, the rest summed up ----

n=100
python3 - "$pf" "$n" <<'EOF' || fail "the flood client failed"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n)]
for s in socks:
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
for s in socks:
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
EOF
# log_counts: "LINES SUPPRESSED" for the flood listener: its per-failure lines, and the sum of its
# summaries.
log_counts() {
  local lines sum
  lines=$(grep -cE "$(info_line "$pf" "")" "$TLSD_LOG")
  sum=$(sed -n "s/^tlsd\[info\]: listener [0-9]* (uid [0-9]*, 127\.0\.0\.1 port $pf): \([0-9]*\) more failed handshakes not logged (at most 10 a second)\$/\1/p" "$TLSD_LOG" |
    awk '{ s += $1 } END { print s + 0 }')
  echo "$lines $sum"
}
all_logged() { set -- $(log_counts); [ $(($1 + $2)) -ge "$n" ]; }
wait_until 30 all_logged
set -- $(log_counts)
if [ "$2" -gt 0 ] && [ $(($1 + $2)) -eq "$n" ]; then
  pass "$n failures at once: $1 logged one by one, $2 in summaries"
else
  fail "$n failures at once: $1 logged one by one, $2 in summaries (want some summed up, $n in all): $(grep -E "port $pf" "$TLSD_LOG" | tail -n 5)"
fi
# One more, after the summaries (a new second): reported, with the count of those that were not.
python3 -c "import socket, sys; s = socket.create_connection(('127.0.0.1', $pf)); s.sendall(b'x' * 64); s.recv(64)" 2>/dev/null
want=$(($1 + 1))
counted() { [ "$(grep -c '^handshake failed from' "$tmp/flood.err")" -ge "$want" ]; }
wait_until 30 counted
lines=$(grep -c '^handshake failed from' "$tmp/flood.err")
told=$(sed -n 's/^(\([0-9]*\) more failed handshakes not reported: at most 10 a second)$/\1/p' "$tmp/flood.err" |
  awk '{ s += $1 } END { print s + 0 }')
if [ "$told" -gt 0 ] && [ $((lines + told)) -eq $((n + 1)) ]; then
  pass "tlsctl listen: $lines failures printed, $told said not reported ($((n + 1)) in all)"
else
  fail "tlsctl listen: $lines failures printed, $told said not reported (want $((n + 1)) in all): $(tail -n 5 "$tmp/flood.err")"
fi

stop_tlsd
finish
