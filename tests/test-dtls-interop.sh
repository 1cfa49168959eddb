#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# DTLS interoperability with peers that are not tlsd: tlsd's client against openssl s_server
# -dtls1_2 and gnutls-serv --udp, and openssl s_client -dtls1_2 / gnutls-cli --udp against a
# tlsd DTLS listener (`tlsctl listen --dtls`, which echoes each message). Data is checked both
# ways; suites include AES-GCM, ChaCha20-Poly1305 and AES-CCM; verification failures and mutual
# authentication are covered. DTLS 1.3 and Connection IDs only tlsd speaks here: tlsd<->tlsd
# (also in test-dtls). One line of tlsctl's stdin is one message.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2086 # option lists are split on purpose
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools dtls-interop openssl
test_pki

tmp=$(mktemp -d /tmp/tlsd-dtls-interop.XXXXXX)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

start_tlsd "$tmp/d" || finish
# A peer that went away makes a write to its fifo fail instead of killing this shell.
trap '' PIPE

# udp_port: a UDP port on 127.0.0.1 nothing is bound to right now (for gnutls-serv, which cannot
# take port 0 and say which port it got: see gnutls_serv).
udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ecdsa="-cert $PKI/server-ecdsa-chain.pem -key $PKI/server-ecdsa.key"
rsa="-cert $PKI/server-rsa-chain.pem -key $PKI/server-rsa.key"
t_ecdsa="--cert $PKI/server-ecdsa-chain.pem --key $PKI/server-ecdsa.key"
t_rsa="--cert $PKI/server-rsa-chain.pem --key $PKI/server-rsa.key"

# Every peer reads its input from a fifo this script holds open (fd 7: the server, fd 8: the
# client) and writes only when what it answers has arrived, so nothing waits for a fixed time.
# feed FILE: FILE becomes a (new) fifo.
feed() {
  rm -f "$1"
  mkfifo "$1"
}

# ---- 1. tlsd client -> openssl s_server -dtls1_2 ----
# server_run NAME OPTIONS...: openssl s_server on port 0 (the port it took lands in $port), its
# input on fd 7, its output in $tmp/NAME.srv.
server_run() {
  local name=$1
  shift
  feed "$tmp/$name.srv.in"
  openssl s_server -dtls1_2 -accept 127.0.0.1:0 "$@" <"$tmp/$name.srv.in" >"$tmp/$name.srv" 2>&1 &
  spid=$!
  pids="$pids $spid"
  exec 7>"$tmp/$name.srv.in"
  wait_for_line "$tmp/$name.srv" '^ACCEPT 127\.0\.0\.1:[0-9]+$' ||
    fail "openssl s_server $name did not start: $(cat "$tmp/$name.srv")"
  port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.srv")
}
server_stop() {
  exec 7>&-
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
}

# exchange NAME HOST TLSCTL_OPTIONS...: `tlsctl connect --dtls` to HOST:$port (server_run's
# server); a line to the server, and once it arrived there one back, and once that arrived the
# end of tlsctl's input. Sets $rc and $out (tlsctl's output); stops the server.
exchange() {
  local name=$1 host=$2
  shift 2
  feed "$tmp/$name.cli.in"
  timeout "$(waits 30)" "$TLSCTL" connect --dtls "$@" "$host:$port" <"$tmp/$name.cli.in" \
    >"$tmp/$name.cli" 2>&1 &
  cpid=$!
  exec 8>"$tmp/$name.cli.in"
  echo "hello from tlsd $name" >&8
  if wait_for_line "$tmp/$name.srv" "^hello from tlsd $name\$"; then
    echo "hello from openssl" >&7
    wait_for_line "$tmp/$name.cli" '^hello from openssl$'
  fi
  exec 8>&-
  wait "$cpid" && rc=0 || rc=$?
  server_stop
  out=$(cat "$tmp/$name.cli")
}

client_case() {
  local name=$1 want=$2 topts=$3
  shift 3
  server_run "$name" "$@"
  exchange "$name" localhost --ca "$PKI/ca.pem" $topts
  if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "^connected: DTLSv1.2 $want," &&
    printf '%s' "$out" | grep -q "^hello from openssl$" &&
    grep -q "^hello from tlsd $name$" "$tmp/$name.srv"; then
    pass "tlsd client -> openssl s_server -dtls1_2: $name ($want), data both ways"
  else
    fail "tlsd client -> openssl s_server -dtls1_2: $name: exit $rc: $out / server: $(cat "$tmp/$name.srv")"
  fi
}

client_case ecdsa-gcm TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 "" $ecdsa
client_case rsa-gcm256 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 \
  "--ciphers TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" $rsa
client_case chacha20 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 \
  "--ciphers TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" $ecdsa
# OpenSSL's default list has no CCM suites: the server names them.
client_case aes-ccm TLS_ECDHE_ECDSA_WITH_AES_128_CCM "" $ecdsa -cipher ECDHE-ECDSA-AES128-CCM
client_case aes-ccm8 TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 \
  "--ciphers TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" $ecdsa -cipher ECDHE-ECDSA-AES128-CCM8
client_case mtls TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \
  "--cert $PKI/client.pem --key $PKI/client.key" $ecdsa -Verify 1 -CAfile "$PKI/ca.pem"
client_case small-mtu TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 "--mtu 512" $rsa

# External PSK (DTLS 1.2, DHE-PSK with AES-GCM; plain PSK has no forward secrecy: refused).
psk=$(cat "$PKI/psk.txt")
psk_id=$(cat "$PKI/psk-identity.txt")
server_run psk -psk "$psk" -psk_identity "$psk_id" -nocert -cipher DHE-PSK-AES128-GCM-SHA256
exchange psk 127.0.0.1 --psk-identity "$psk_id" --psk "$psk" \
  --ciphers TLS_DHE_PSK_WITH_AES_128_GCM_SHA256
if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "^connected: DTLSv1.2 TLS_DHE_PSK_WITH_AES_128_GCM_SHA256," &&
  printf '%s' "$out" | grep -q "^hello from openssl$" &&
  grep -q "^hello from tlsd psk$" "$tmp/psk.srv"; then
  pass "tlsd client -> openssl s_server -dtls1_2 with an external PSK (DHE-PSK-AES128-GCM)"
else
  fail "DTLS PSK: exit $rc: $out / server: $(cat "$tmp/psk.srv")"
fi

# Verification failure: the name does not match.
server_run mismatch $ecdsa
expect_exit 1 "tlsd client -> openssl DTLS: wrong name refused" -- \
  timeout "$(waits 15)" "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" --servername wrong.example \
  "127.0.0.1:$port"
expect_output "the reason is hostname-mismatch" "verification: hostname-mismatch"
server_stop

# Unknown issuer.
server_run unknown-ca $ecdsa
expect_exit 1 "tlsd client -> openssl DTLS: unknown CA refused" -- \
  timeout "$(waits 15)" "$TLSCTL" connect --dtls --ca "$PKI/other-ca.pem" "localhost:$port"
expect_output "the reason is unknown-issuer" "verification: unknown-issuer"
server_stop

# ---- 2. openssl s_client -dtls1_2 -> tlsd listener (echo) ----
# listener NAME OPTIONS...: a tlsctl DTLS listener on port 0, echoing every message; the port it
# took lands in $lport (empty, and a failure, if it did not start).
listener() {
  local name=$1
  shift
  "$TLSCTL" listen --dtls "$@" 127.0.0.1:0 >"$tmp/$name.lst" 2>&1 &
  lpid=$!
  pids="$pids $lpid"
  wait_for_line "$tmp/$name.lst" '^listening on 127\.0\.0\.1 port [0-9]+$' ||
    fail "tlsctl listen $name did not start: $(cat "$tmp/$name.lst")"
  lport=$(sed -n 's/^listening on 127\.0\.0\.1 port \([0-9]*\)$/\1/p' "$tmp/$name.lst")
}
listener_stop() {
  kill "$lpid" 2>/dev/null
  wait "$lpid" 2>/dev/null
}

# echoed NAME LINE... -- COMMAND...: COMMAND (a client of the listener) with its input on fd 8;
# each LINE is written, and once all came back (or after 10 s) its input ends. Output in
# $tmp/NAME.out and $out, exit status in $rc.
echoed() {
  local name=$1 l
  shift
  feed "$tmp/$name.in"
  n_lines=0
  while [ "$1" != "--" ]; do
    n_lines=$((n_lines + 1))
    eval "line_$n_lines=\$1"
    shift
  done
  shift
  timeout "$(waits 30)" "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
  cpid=$!
  exec 8>"$tmp/$name.in"
  for i in $(seq 1 "$n_lines"); do
    eval "l=\$line_$i"
    printf '%s\n' "$l" >&8
  done
  for i in $(seq 1 "$n_lines"); do
    eval "l=\$line_$i"
    wait_until 10 line_or_exit "$tmp/$name.out" "^$l" "$cpid" || break
  done
  exec 8>&-
  wait "$cpid" && rc=0 || rc=$?
  out=$(cat "$tmp/$name.out")
}

sclient_case() {
  local name=$1 want=$2 lopts=$3
  shift 3
  listener "$name" $lopts
  echoed "$name" "echo me $name" -- openssl s_client -dtls1_2 -connect "127.0.0.1:$lport" \
    -servername localhost -CAfile "$PKI/ca.pem" -verify_return_error "$@"
  listener_stop
  if printf '%s' "$out" | grep -q "^echo me $name" &&
    grep -q "accepted 127.0.0.1 port [0-9]*: DTLSv1.2 $want" "$tmp/$name.lst"; then
    pass "openssl s_client -dtls1_2 -> tlsd listener: $name ($want), echoed"
  else
    fail "openssl s_client -dtls1_2 -> tlsd listener: $name: $out / $(cat "$tmp/$name.lst")"
  fi
}

sclient_case ecdsa TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 "$t_ecdsa"
sclient_case rsa TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 "$t_rsa"
sclient_case ccm TLS_ECDHE_ECDSA_WITH_AES_128_CCM "$t_ecdsa" -cipher ECDHE-ECDSA-AES128-CCM
sclient_case chacha TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 "$t_rsa" \
  -cipher ECDHE-RSA-CHACHA20-POLY1305
sclient_case mtls TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \
  "$t_ecdsa --client-ca $PKI/ca.pem --require-client-cert" \
  -cert "$PKI/client.pem" -key "$PKI/client.key"

# A required client certificate that is not sent: the handshake fails with tlsd's alert 40
# (handshake_failure) for the reason, and nothing is accepted. (A listener that never started
# must not pass for one that refused.)
listener nocert $t_ecdsa --client-ca "$PKI/ca.pem" --require-client-cert
if [ -n "$lport" ]; then
  log_lines=$(wc -l <"$tmp/d/tlsd.log")
  echoed nocert "should not arrive" -- \
    openssl s_client -dtls1_2 -connect "127.0.0.1:$lport" -CAfile "$PKI/ca.pem"
  reason="handshake failed: sent alert 40 \(handshake_failure\): peer did not return a certificate"
  wait_until 5 sh -c 'tail -n "+$(($1 + 1))" "$2" | grep -qE -- "$3"' sh "$log_lines" \
    "$tmp/d/tlsd.log" "$reason"
  if grep -q "^accepted" "$tmp/nocert.lst"; then
    fail "DTLS listener requiring a client certificate accepted a client without one"
  elif [ "$rc" -eq 0 ] || ! printf '%s' "$out" | grep -q 'SSL alert number 40$'; then
    fail "DTLS listener requiring a client certificate: s_client (exit $rc) got no alert 40: $out"
  elif ! tail -n "+$((log_lines + 1))" "$tmp/d/tlsd.log" | grep -qE -- "$reason"; then
    fail "DTLS listener requiring a client certificate: no '$reason' in tlsd's log: $(tail -n 5 "$tmp/d/tlsd.log")"
  else
    pass "DTLS listener requiring a client certificate refuses a client without one (alert 40, 'peer did not return a certificate')"
  fi
else
  fail "DTLS listener requiring a client certificate: no listener to refuse anything"
fi
listener_stop

# ---- 3. gnutls ----
# gnutls_serv NAME OPTIONS...: gnutls-serv --udp --echo on a free port, in $port. It takes no
# port 0, so the port is picked here and may be taken by someone else in between: then again.
gnutls_serv() {
  local name=$1
  shift
  for _ in 1 2 3; do
    port=$(udp_port)
    gnutls-serv --udp --echo -p "$port" "$@" >"$tmp/$name" 2>&1 </dev/null &
    gpid=$!
    pids="$pids $gpid"
    wait_until 10 line_or_exit "$tmp/$name" "IPv4 .* port $port\.\.\.done" "$gpid"
    grep -q "IPv4 .* port $port\.\.\.done" "$tmp/$name" && return 0
    kill "$gpid" 2>/dev/null
    wait "$gpid" 2>/dev/null
  done
  fail "gnutls-serv $name did not start: $(cat "$tmp/$name")"
}

if command -v gnutls-serv >/dev/null 2>&1; then
  gnutls_serv gnutls.srv --x509certfile "$PKI/server-ecdsa-chain.pem" \
    --x509keyfile "$PKI/server-ecdsa.key"
  echoed gnutls "echo me gnutls" -- "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" "127.0.0.1:$port"
  kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null
  if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "^connected: DTLSv1.2" &&
    printf '%s' "$out" | grep -q "^echo me gnutls"; then
    pass "tlsd client -> gnutls-serv --udp: echoed"
  else
    fail "tlsd client -> gnutls-serv --udp: exit $rc: $out"
  fi

  listener gnutls-cli $t_ecdsa
  echoed gnutls-cli "echo me gnutls-cli" -- gnutls-cli --udp -p "$lport" \
    --x509cafile "$PKI/ca.pem" --sni-hostname localhost --verify-hostname localhost 127.0.0.1
  listener_stop
  if printf '%s' "$out" | grep -q "^echo me gnutls-cli" &&
    grep -q "^accepted .*DTLSv1.2" "$tmp/gnutls-cli.lst"; then
    pass "gnutls-cli --udp -> tlsd listener: echoed"
  else
    fail "gnutls-cli --udp -> tlsd listener: $out / $(cat "$tmp/gnutls-cli.lst")"
  fi
else
  skip "gnutls-serv/gnutls-cli not installed"
fi

# ---- 4. tlsd <-> tlsd: DTLS 1.3 with a Connection ID, and DTLS 1.2 ----
for v in "--dtls1.3 --cid" "--dtls1.2"; do
  listener tlsd $t_ecdsa $v
  echoed tlsd "first message" "second message" -- \
    "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" $v "localhost:$lport"
  listener_stop
  case $v in *1.3*) want="DTLSv1.3"; cid="in use" ;; *) want="DTLSv1.2"; cid="not in use" ;; esac
  if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "connected: $want" &&
    printf '%s' "$out" | grep -q "connection ID $cid" &&
    printf '%s' "$out" | grep -q "^first message" &&
    printf '%s' "$out" | grep -q "^second message"; then
    pass "tlsd <-> tlsd $v: $want, connection ID $cid, messages echoed"
  else
    fail "tlsd <-> tlsd $v: exit $rc: $out"
  fi
done

# ---- 5. idle timeout: a silent client is closed by the server (close_notify) ----
# tlsctl's input stays open all along: if it ends, the server closed the connection.
listener idle $t_ecdsa --idle-timeout 500
feed "$tmp/idle.in"
timeout "$(waits 60)" "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" "localhost:$lport" \
  <"$tmp/idle.in" >"$tmp/idle.out" 2>&1 &
cpid=$!
exec 8>"$tmp/idle.in"
echo "one message" >&8
wait_until 30 exited "$cpid"
ended=no
exited "$cpid" && ended=yes
exec 8>&-
wait "$cpid" && rc=0 || rc=$?
listener_stop
if [ "$ended" = yes ] && [ "$rc" -eq 0 ] && grep -q "^one message" "$tmp/idle.out" &&
  grep -qE 'closed \(timeout\)' "$tmp/d/tlsd.log"; then
  pass "an idle DTLS connection is closed by the server after its idle timeout (tlsd logs it closed (timeout); tlsctl exits 0 with its input still open)"
else
  fail "idle timeout: tlsctl ended by itself: $ended, exit $rc: $(cat "$tmp/idle.out") / $(grep 'closed (' "$tmp/d/tlsd.log" | tail -n 3)"
fi

# ---- 6. option errors ----
expect_exit 2 "tlsctl: --mtu out of range is a usage error" -- \
  "$TLSCTL" connect --dtls --mtu 10 localhost:1
expect_exit 1 "DTLS options on a TLS session are refused" -- \
  "$TLSCTL" connect --mtu 1200 localhost:1
expect_output "the refusal says why" "apply to DTLS sessions only"

# Sanitizer reports in the daemon's log fail the test.
if grep -qE "ERROR: AddressSanitizer|runtime error:" "$tmp/d/tlsd.log"; then
  fail "sanitizer report in tlsd's log: $(grep -E -A5 "AddressSanitizer|runtime error:" "$tmp/d/tlsd.log" | head -20)"
fi
stop_tlsd
finish
