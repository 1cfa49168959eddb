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

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
PKI=${TLSD_TEST_PKI:-$top_builddir/tests/pki}

if ! command -v openssl >/dev/null 2>&1; then
  skip "dtls-interop: openssl(1) is not installed"
  finish
fi
if ! sh "$top_srcdir/certs/gen-test-pki.sh" "$PKI"; then
  fail "cannot generate the test PKI in $PKI"
  finish
fi

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

# udp_port: a UDP port on 127.0.0.1 nothing is bound to right now.
udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ecdsa="-cert $PKI/server-ecdsa-chain.pem -key $PKI/server-ecdsa.key"
rsa="-cert $PKI/server-rsa-chain.pem -key $PKI/server-rsa.key"
t_ecdsa="--cert $PKI/server-ecdsa-chain.pem --key $PKI/server-ecdsa.key"
t_rsa="--cert $PKI/server-rsa-chain.pem --key $PKI/server-rsa.key"

# ---- 1. tlsd client -> openssl s_server -dtls1_2 ----
# server_run NAME OPTIONS...: openssl s_server on a fresh port; it prints what it receives and
# sends "hello from openssl" after a second (when the client is connected).
server_run() {
  local name=$1
  shift
  port=$(udp_port)
  (sleep 1; echo "hello from openssl"; sleep 4) |
    openssl s_server -dtls1_2 -accept "127.0.0.1:$port" "$@" -quiet >"$tmp/$name.srv" 2>&1 &
  spid=$!
  pids="$pids $spid"
  sleep 0.3
}

client_case() {
  local name=$1 want=$2 topts=$3
  shift 3
  server_run "$name" "$@"
  out=$( (echo "hello from tlsd $name"; sleep 2) |
    timeout 15 "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" $topts "localhost:$port" 2>&1)
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  if printf '%s' "$out" | grep -q "connected: DTLSv1.2 $want" &&
    printf '%s' "$out" | grep -q "hello from openssl" &&
    grep -q "hello from tlsd $name" "$tmp/$name.srv"; then
    pass "tlsd client -> openssl s_server -dtls1_2: $name ($want), data both ways"
  else
    fail "tlsd client -> openssl s_server -dtls1_2: $name: $out / server: $(cat "$tmp/$name.srv")"
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
out=$( (echo "hello from tlsd psk"; sleep 2) |
  timeout 15 "$TLSCTL" connect --dtls --psk-identity "$psk_id" --psk "$psk" \
    --ciphers TLS_DHE_PSK_WITH_AES_128_GCM_SHA256 "127.0.0.1:$port" 2>&1)
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
if printf '%s' "$out" | grep -q "connected: DTLSv1.2 TLS_DHE_PSK_WITH_AES_128_GCM_SHA256" &&
  printf '%s' "$out" | grep -q "hello from openssl" &&
  grep -q "hello from tlsd psk" "$tmp/psk.srv"; then
  pass "tlsd client -> openssl s_server -dtls1_2 with an external PSK (DHE-PSK-AES128-GCM)"
else
  fail "DTLS PSK: $out / server: $(cat "$tmp/psk.srv")"
fi

# Verification failure: the name does not match.
server_run mismatch $ecdsa
expect_exit 1 "tlsd client -> openssl DTLS: wrong name refused" -- \
  timeout 15 "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" --servername wrong.example \
  "127.0.0.1:$port"
expect_output "the reason is hostname-mismatch" "verification: hostname-mismatch"
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null

# Unknown issuer.
server_run unknown-ca $ecdsa
expect_exit 1 "tlsd client -> openssl DTLS: unknown CA refused" -- \
  timeout 15 "$TLSCTL" connect --dtls --ca "$PKI/other-ca.pem" "localhost:$port"
expect_output "the reason is unknown-issuer" "verification: unknown-issuer"
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null

# ---- 2. openssl s_client -dtls1_2 -> tlsd listener (echo) ----
# listener NAME OPTIONS...: a tlsctl DTLS listener on a fresh port, echoing every message.
listener() {
  local name=$1
  shift
  "$TLSCTL" listen --dtls "$@" 127.0.0.1:0 >"$tmp/$name.lst" 2>&1 &
  lpid=$!
  pids="$pids $lpid"
  lport=""
  for _ in $(seq 1 100); do
    lport=$(sed -n 's/^listening on 127.0.0.1 port \([0-9]*\)$/\1/p' "$tmp/$name.lst")
    [ -n "$lport" ] && break
    sleep 0.05
  done
}

sclient_case() {
  local name=$1 want=$2 lopts=$3
  shift 3
  listener "$name" $lopts
  out=$( (echo "echo me $name"; sleep 1.5) |
    timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$lport" -servername localhost \
      -CAfile "$PKI/ca.pem" -verify_return_error "$@" 2>&1)
  kill "$lpid" 2>/dev/null
  wait "$lpid" 2>/dev/null
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

# A required client certificate that is not sent: the handshake fails, nothing is accepted.
listener nocert $t_ecdsa --client-ca "$PKI/ca.pem" --require-client-cert
out=$( (echo "should not arrive"; sleep 1) |
  timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$lport" -CAfile "$PKI/ca.pem" 2>&1)
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
if grep -q "^accepted" "$tmp/nocert.lst"; then
  fail "DTLS listener requiring a client certificate accepted a client without one"
else
  pass "DTLS listener requiring a client certificate refuses a client without one"
fi

# ---- 3. gnutls ----
if command -v gnutls-serv >/dev/null 2>&1; then
  port=$(udp_port)
  gnutls-serv --udp --echo -p "$port" --x509certfile "$PKI/server-ecdsa-chain.pem" \
    --x509keyfile "$PKI/server-ecdsa.key" >"$tmp/gnutls.srv" 2>&1 &
  gpid=$!
  pids="$pids $gpid"
  sleep 1
  out=$( (echo "echo me gnutls"; sleep 1.5) |
    timeout 15 "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" "127.0.0.1:$port" 2>&1)
  kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null
  if printf '%s' "$out" | grep -q "connected: DTLSv1.2" &&
    printf '%s' "$out" | grep -q "^echo me gnutls"; then
    pass "tlsd client -> gnutls-serv --udp: echoed"
  else
    fail "tlsd client -> gnutls-serv --udp: $out"
  fi

  listener gnutls-cli $t_ecdsa
  out=$( (echo "echo me gnutls-cli"; sleep 1.5) |
    timeout 10 gnutls-cli --udp -p "$lport" --x509cafile "$PKI/ca.pem" \
      --sni-hostname localhost --verify-hostname localhost 127.0.0.1 2>&1)
  kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
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
  out=$( (echo "first message"; echo "second message"; sleep 1) |
    timeout 10 "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" $v "localhost:$lport" 2>&1)
  kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
  case $v in *1.3*) want="DTLSv1.3"; cid="in use" ;; *) want="DTLSv1.2"; cid="not in use" ;; esac
  if printf '%s' "$out" | grep -q "connected: $want" &&
    printf '%s' "$out" | grep -q "connection ID $cid" &&
    printf '%s' "$out" | grep -q "^first message" &&
    printf '%s' "$out" | grep -q "^second message"; then
    pass "tlsd <-> tlsd $v: $want, connection ID $cid, messages echoed"
  else
    fail "tlsd <-> tlsd $v: $out"
  fi
done

# ---- 5. idle timeout: a silent client is closed by the server (close_notify) ----
listener idle $t_ecdsa --idle-timeout 500
# tlsctl's own run time (the pipeline also waits for the writer's sleep).
(echo "one message"; sleep 8) | (
  start=$(date +%s)
  timeout 15 "$TLSCTL" connect --dtls --ca "$PKI/ca.pem" "localhost:$lport" >"$tmp/idle.out" 2>&1
  echo "$? $(($(date +%s) - start))" >"$tmp/idle.rc")
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
read -r rc took <"$tmp/idle.rc"
if [ "$rc" -eq 0 ] && [ "$took" -lt 6 ] && grep -q "^one message" "$tmp/idle.out"; then
  pass "an idle DTLS connection is closed by the server after its idle timeout (${took}s)"
else
  fail "idle timeout: rc $rc after ${took}s: $(cat "$tmp/idle.out")"
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
