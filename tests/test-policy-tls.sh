#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TLS policy against real peers (openssl s_client/s_server, testssl.sh) and tlsd itself:
#  1. middlebox compatibility: a TLS 1.3 listener sends the dummy ChangeCipherSpec right after
#     ServerHello to a client that sent a legacy_session_id (RFC 8446 D.4);
#  2. renegotiation: the renegotiation_info extension both ways (RFC 5746), a client's
#     renegotiation refused (no second ServerHello; the listener keeps serving), testssl.sh -R;
#  3. weak keys: an RSA-1024 server refused by `tlsctl connect` with weak-key (strict, pinned
#     and app-decides alike), RSA-2048 accepted; a weak client certificate refused by a
#     listener with weak-key; a weak own identity refused; [Tls] MinRSAKeyBits=/MinECCKeyBits=
#     raise the minimums and cannot lower them;
#  4. post-quantum key exchange: tlsd<->tlsd negotiates X25519MLKEM768 (SKIP where the wolfSSL
#     build lacks it), --groups selects or drops it, OpenSSL 3.0 (no ML-KEM) gets X25519 without
#     a HelloRetryRequest, both ways.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2086 # $ecdsa, $rsa, $ca are option lists, split on purpose
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
PKI=${TLSD_TEST_PKI:-$top_builddir/tests/pki}

if ! command -v openssl >/dev/null 2>&1; then
  skip "policy: openssl(1) is not installed"
  finish
fi
if ! sh "$top_srcdir/certs/gen-test-pki.sh" "$PKI"; then
  fail "cannot generate the test PKI in $PKI"
  finish
fi

tmp=$(mktemp -d /tmp/tlsd-policy.XXXXXX)
peer_pids=""
tlsd2_pid=""
cleanup() {
  for p in $peer_pids $tlsd2_pid; do kill "$p" 2>/dev/null; done
  for p in $peer_pids $tlsd2_pid; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

pq=false
"$TLSD" --version | grep -q "X25519MLKEM768 yes" && pq=true
wolfssl=$("$TLSD" --version | sed -n 's/.*\(wolfSSL [0-9.]*\).*/\1/p')
echo "# $wolfssl, X25519MLKEM768: $pq"

start_tlsd "$tmp/tlsd" || finish
main_socket=$TLSD_SOCKET
ca="--ca=$PKI/ca.pem"
ecdsa="--cert=$PKI/server-ecdsa-chain.pem --key=$PKI/server-ecdsa.key"
rsa="--cert=$PKI/server-rsa-chain.pem --key=$PKI/server-rsa.key"

# ---- helpers ----

# srv NAME ARGS...: `tlsctl listen 127.0.0.1:0 ARGS` in the background (echo server); its port
# lands in $port once it printed it.
srv() {
  local name="$1"
  shift
  timeout 300 "$TLSCTL" listen 127.0.0.1:0 "$@" >"$tmp/$name.port" 2>"$tmp/$name.err" </dev/null &
  peer_pids="$peer_pids $!"
  for _ in $(seq 1 300); do
    [ -s "$tmp/$name.port" ] && break
    sleep 0.05
  done
  port=$(head -n 1 "$tmp/$name.port")
  [ -n "$port" ] || fail "listener $name did not start: $(cat "$tmp/$name.err")"
}

# ossl NAME ARGS...: openssl s_server -rev (answers each line reversed) on a free port, which
# lands in $port; its output (with -trace: every message) in $tmp/NAME.log.
ossl() {
  local name="$1"
  shift
  port=$(free_port)
  openssl s_server -accept "127.0.0.1:$port" -rev "$@" >"$tmp/$name.log" 2>&1 </dev/null &
  peer_pids="$peer_pids $!"
  wait_for_port "$port" 15 || fail "openssl s_server $name did not start: $(cat "$tmp/$name.log")"
}

# conn LINE ARGS...: pipes LINE into `tlsctl connect ARGS`; sets $rc, $out (stdout), $err.
conn() {
  local line="$1"
  shift
  printf '%s\n' "$line" | timeout 30 "$TLSCTL" connect "$@" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

reversed() { printf '%s' "$1" | rev; }

# ok WHAT EXPECTED_STDOUT [STDERR_ERE]; refused WHAT STDERR_ERE (as in test-interop.sh)
ok() {
  if [ "$rc" -ne 0 ]; then
    fail "$1: exit $rc: $err"
  elif [ "$out" != "$2" ]; then
    fail "$1: got '$out', want '$2': $err"
  elif [ -n "${3:-}" ] && ! printf '%s' "$err" | grep -qE -- "$3"; then
    fail "$1: /$3/ not in: $err"
  else
    pass "$1"
  fi
}
refused() {
  if [ "$rc" -ne 1 ]; then
    fail "$1: exit $rc, want 1: $out $err"
  elif [ -n "$out" ]; then
    fail "$1: data came back: $out"
  elif ! printf '%s' "$err" | grep -qE -- "$2"; then
    fail "$1: /$2/ not in: $err"
  else
    pass "$1"
  fi
}

# sclient ARGS...: openssl s_client -connect 127.0.0.1:$port ARGS, fed "ping" then whatever is
# in $sc_more (lines, with pauses between them), output in $sc.
sc_more=""
sclient() {
  {
    printf 'ping\n'
    sleep 1
    for l in $sc_more; do
      printf '%s\n' "$l"
      sleep 1.5
    done
  } | timeout 20 openssl s_client -connect "127.0.0.1:$port" "$@" >"$tmp/sc.out" 2>&1
  sc=$(cat "$tmp/sc.out")
  sc_more=""
}

# received_types: the content types (hex) of the records s_client -msg saw from the server, in
# order: the byte after each "<<< ... RecordHeader" line.
received_types() {
  awk '/^<<< .*RecordHeader/ { getline; printf "%s ", $1 }' "$tmp/sc.out"
}

log_mark() { log_lines=$(wc -l <"$tmp/tlsd/tlsd.log"); }
log_since() {
  for _ in $(seq 1 60); do
    tail -n "+$((log_lines + 1))" "$tmp/tlsd/tlsd.log" | grep -qE -- "$1" && return 0
    sleep 0.05
  done
  return 1
}

# ==== 1. middlebox compatibility ====

srv dual $ecdsa $rsa
port_dual=$port

port=$port_dual
sclient -tls1_3 -msg
types=$(received_types)
case "$types" in
"16 14 "*)
  pass "TLS 1.3: the listener sends ChangeCipherSpec right after ServerHello (records: $types)" ;;
*)
  fail "TLS 1.3: no ChangeCipherSpec after ServerHello in middlebox mode (records from the server: $types)" ;;
esac
if printf '%s\n' "$sc" | grep -q '^ping$'; then
  pass "TLS 1.3 with middlebox compatibility: data both ways"
else
  fail "TLS 1.3 with middlebox compatibility: no echo: $sc"
fi

conn "tlsd to tlsd" $ca --tls1.3 "localhost:$port_dual"
ok "tlsd client <-> tlsd listener, TLS 1.3" "tlsd to tlsd" "^connected: TLSv1\.3 "
conn "tlsd to tlsd 1.2" $ca --tls1.2 "localhost:$port_dual"
ok "tlsd client <-> tlsd listener, TLS 1.2" "tlsd to tlsd 1.2" "^connected: TLSv1\.2 "

# ==== 2. renegotiation ====

port=$port_dual
sc_more="R after"
sclient -tls1_2 -msg
if printf '%s\n' "$sc" | grep -q "^Secure Renegotiation IS supported"; then
  pass "TLS 1.2 listener: renegotiation_info (RFC 5746) answered"
else
  fail "TLS 1.2 listener: Secure Renegotiation not supported: $sc"
fi
after=$(printf '%s\n' "$sc" | sed -n '/^RENEGOTIATING/,$p')
if [ -z "$after" ]; then
  fail "renegotiation: s_client did not try it: $sc"
elif printf '%s\n' "$after" | grep -q "^<<< .*ServerHello"; then
  fail "renegotiation: the listener renegotiated: $(printf '%s\n' "$after" | grep '^[<>]' | head -n 12)"
elif printf '%s\n' "$after" | grep -qE "^<<< .*Alert.*(warning no_renegotiation|fatal)"; then
  pass "renegotiation refused: $(printf '%s\n' "$after" | grep -E '^<<< .*Alert' | head -n 1)"
else
  fail "renegotiation: neither refused with an alert nor renegotiated: $after"
fi
# The refusal cost the renegotiating client only: the listener goes on.
conn "still serving" $ca "localhost:$port_dual"
ok "listener serves again after the refused renegotiation" "still serving"

# The tlsd client signals secure renegotiation too.
ossl reneg -tls1_2 -trace -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"
conn "client reneg info" $ca "localhost:$port"
ok "tlsd client -> openssl s_server -tls1_2" "$(reversed "client reneg info")"
if sed -n '/ClientHello, Length=/,/ServerHello, Length=/p' "$tmp/reneg.log" |
  grep -q "extension_type=renegotiate(65281)"; then
  pass "tlsd client sends renegotiation_info (RFC 5746)"
else
  fail "tlsd client sends no renegotiation_info: $(grep -E 'extension_type|ClientHello' "$tmp/reneg.log")"
fi

if command -v testssl >/dev/null 2>&1; then
  timeout 300 testssl --quiet --color 0 --warnings off -R "127.0.0.1:$port_dual" \
    >"$tmp/testssl.out" 2>&1
  if grep -E "^ *Secure Renegotiation \(RFC 5746\)" "$tmp/testssl.out" | grep -q "supported (OK)"; then
    pass "testssl.sh: Secure Renegotiation (RFC 5746) supported"
  else
    fail "testssl.sh: Secure Renegotiation: $(cat "$tmp/testssl.out")"
  fi
  line=$(grep -E "^ *Secure Client-Initiated Renegotiation" "$tmp/testssl.out")
  case "$line" in
  *"not vulnerable"*) pass "testssl.sh: $(printf '%s' "$line" | tr -s ' ')" ;;
  *) fail "testssl.sh: client-initiated renegotiation: ${line:-$(cat "$tmp/testssl.out")}" ;;
  esac
else
  skip "testssl.sh -R: testssl.sh is not installed (Debian package testssl.sh)"
fi

# ==== 3. weak keys ====

# OpenSSL's own default (security level 2) refuses a 1024-bit key: the weak peers lower it.
weak_level="-cipher DEFAULT:@SECLEVEL=0"
ossl weaksrv $weak_level -cert "$PKI/server-weak-rsa.pem" -key "$PKI/server-weak-rsa.key"
port_weak=$port
ossl strongsrv -cert "$PKI/server-rsa.pem" -key "$PKI/server-rsa.key"
port_strong=$port

conn "weak" $ca "localhost:$port_weak"
refused "RSA-1024 server refused with weak-key" "^verification: weak-key$"
if printf '%s' "$err" | grep -q "RSA key of 1024 bits, below the minimum of 2048 bits"; then
  pass "the refusal names the key: RSA key of 1024 bits, below the minimum of 2048 bits"
else
  fail "the refusal does not name the key size: $err"
fi
conn "weak 1.2" $ca --tls1.2 "localhost:$port_weak"
refused "RSA-1024 server refused with weak-key (TLS 1.2)" "^verification: weak-key$"
conn "weak app" $ca --app-verify "localhost:$port_weak"
refused "RSA-1024 server refused with weak-key in app-decides mode" "^verification: weak-key$"
pin=$(openssl x509 -in "$PKI/server-weak-rsa.pem" -pubkey -noout |
  openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
conn "weak pin" --pin="$pin" "localhost:$port_weak"
refused "RSA-1024 server refused with weak-key although pinned" "^verification: weak-key$"
conn "strong" $ca "localhost:$port_strong"
ok "RSA-2048 server accepted" "$(reversed strong)" "^verification: ok$"

# A listener with a weak client certificate.
srv mtls $ecdsa --client-ca="$PKI/ca.pem" --require-client-cert
port_mtls=$port
port=$port_mtls
log_mark
sclient $weak_level -cert "$PKI/client-weak-rsa.pem" -key "$PKI/client-weak-rsa.key"
if printf '%s\n' "$sc" | grep -q '^ping$'; then
  fail "listener accepted an RSA-1024 client certificate: $sc"
elif log_since "handshake failed: weak-key: "; then
  pass "listener refuses an RSA-1024 client certificate: $(tail -n "+$((log_lines + 1))" "$tmp/tlsd/tlsd.log" | grep -o 'handshake failed: weak-key: .*' | head -n 1)"
else
  fail "listener: no weak-key refusal logged: $(tail -n "+$((log_lines + 1))" "$tmp/tlsd/tlsd.log" | grep -i 'handshake failed' | head -n 3) / $sc"
fi
sclient -cert "$PKI/client-rsa.pem" -key "$PKI/client-rsa.key"
if printf '%s\n' "$sc" | grep -q '^ping$'; then
  pass "listener accepts an RSA-2048 client certificate"
else
  fail "listener refused an RSA-2048 client certificate: $sc"
fi

# A weak identity of our own is refused when loaded, server and client alike.
timeout 30 "$TLSCTL" listen 127.0.0.1:0 --cert="$PKI/server-weak-rsa.pem" \
  --key="$PKI/server-weak-rsa.key" </dev/null >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
out=""
err=$(cat "$tmp/err")
refused "listener with an RSA-1024 identity refused" "RSA key of 1024 bits, below the minimum of 2048 bits"
conn "weak client" $ca --cert="$PKI/client-weak-rsa.pem" --key="$PKI/client-weak-rsa.key" \
  "localhost:$port_strong"
refused "client with an RSA-1024 certificate refused" "RSA key of 1024 bits, below the minimum of 2048 bits"

# [Tls]: minimums can be raised, not lowered.
printf '[Tls]\nMinRSAKeyBits=1024\n' >"$tmp/low.conf"
if out=$("$TLSD" --check-config --config="$tmp/low.conf" 2>&1); then
  fail "MinRSAKeyBits=1024 accepted: $out"
else
  case "$out" in
  *"low.conf:2: MinRSAKeyBits=1024 is invalid: expected an integer between 2048 and 16384"*)
    pass "MinRSAKeyBits=1024 refused: $out" ;;
  *) fail "MinRSAKeyBits=1024: unexpected message: $out" ;;
  esac
fi
printf '[Tls]\nMinECCKeyBits=224\n' >"$tmp/low.conf"
if out=$("$TLSD" --check-config --config="$tmp/low.conf" 2>&1); then
  fail "MinECCKeyBits=224 accepted: $out"
else
  pass "MinECCKeyBits=224 refused"
fi
printf '[Tls]\nMinRSAKeyBits=3072\nMinECCKeyBits=384\n' >"$tmp/high.conf"
mkdir -p "$tmp/tlsd2"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test \
DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test STATE_DIRECTORY="$tmp/tlsd2/state" \
  "$TLSD" --runtime-dir="$tmp/tlsd2/run" --config="$tmp/high.conf" --log-level=debug \
  >"$tmp/tlsd2/tlsd.log" 2>&1 &
tlsd2_pid=$!
if wait_for_socket "$tmp/tlsd2/run/tlsd.sock"; then
  TLSD_SOCKET="$tmp/tlsd2/run/tlsd.sock"
  conn "strong but not enough" $ca "localhost:$port_strong"
  refused "MinRSAKeyBits=3072: RSA-2048 server refused with weak-key" "^verification: weak-key$"
  ossl ecsrv -cert "$PKI/server-ecdsa.pem" -key "$PKI/server-ecdsa.key"
  conn "p256" $ca "localhost:$port"
  refused "MinECCKeyBits=384: P-256 server refused with weak-key" "^verification: weak-key$"
  if printf '%s' "$err" | grep -q "ECC key of 256 bits, below the minimum of 384 bits"; then
    pass "the refusal names the ECC key: 256 bits, below the minimum of 384"
  else
    fail "the ECC refusal does not name the key size: $err"
  fi
  TLSD_SOCKET=$main_socket
  conn "p256 default" $ca "localhost:$port"
  ok "default minimums: P-256 server accepted" "$(reversed "p256 default")"
  kill -TERM "$tlsd2_pid"
  wait "$tlsd2_pid" && rc=0 || rc=$?
  [ "$rc" -eq 0 ] || fail "second tlsd exited with $rc: $(cat "$tmp/tlsd2/tlsd.log")"
  if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd2/tlsd.log"; then
    fail "sanitizer report in the second tlsd's log: $(grep -E -A 20 "Sanitizer|runtime error" "$tmp/tlsd2/tlsd.log" | head -n 40)"
  fi
else
  fail "tlsd with [Tls] minimums did not start: $(cat "$tmp/tlsd2/tlsd.log")"
  kill "$tlsd2_pid" 2>/dev/null
  wait "$tlsd2_pid" 2>/dev/null
fi
tlsd2_pid=""
TLSD_SOCKET=$main_socket

# ==== 4. post-quantum key exchange ====

if $pq; then
  conn "pq" $ca "localhost:$port_dual"
  ok "tlsd <-> tlsd negotiates X25519MLKEM768 by default" "pq" \
    "^connected: TLSv1\.3 [A-Z0-9_]+, group X25519MLKEM768$"
  conn "pq only" $ca --groups=X25519MLKEM768 "localhost:$port_dual"
  ok "--groups=X25519MLKEM768 selects it" "pq only" ", group X25519MLKEM768$"
  srv pqonly $ecdsa --groups=X25519MLKEM768
  conn "pq server" $ca "localhost:$port"
  ok "listener with --groups=X25519MLKEM768: a default tlsd client gets it" "pq server" \
    ", group X25519MLKEM768$"
  port_pqonly=$port
else
  skip "X25519MLKEM768 (tlsd<->tlsd, --groups): $wolfssl has no ML-KEM (wolfSSL >= 5.8 built with ML-KEM needed)"
fi
conn "no pq" $ca --groups=X25519,P-256 "localhost:$port_dual"
ok "--groups=X25519,P-256 drops the hybrid" "no pq" ", group x25519$"
conn "p384" $ca --groups=P-384 "localhost:$port_dual"
ok "--groups=P-384: the group by its IANA name" "p384" ", group secp384r1$"
if $pq; then
  conn "classical client" $ca --groups=X25519,P-256 "localhost:$port_pqonly"
  refused "a listener that only takes X25519MLKEM768 refuses a classical client" \
    "handshake|alert"
fi

# tlsd client -> OpenSSL 3.0 (no ML-KEM): X25519 from the first ClientHello, no HRR.
ossl pqfallback -tls1_3 -trace -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"
conn "fallback" $ca "localhost:$port"
ok "tlsd client -> openssl s_server 3.0: x25519" "$(reversed fallback)" ", group x25519$"
n_hello=$(grep -c "ClientHello, Length=" "$tmp/pqfallback.log")
if [ "$n_hello" -eq 1 ] && ! grep -q "HelloRetryRequest" "$tmp/pqfallback.log"; then
  pass "tlsd client -> openssl 3.0: one ClientHello, no HelloRetryRequest"
else
  fail "tlsd client -> openssl 3.0: $n_hello ClientHellos: $(grep -E 'ClientHello|HelloRetry|NamedGroup' "$tmp/pqfallback.log")"
fi
if $pq; then
  shares=$(sed -n '/extension_type=key_share/,/extension_type=/p' "$tmp/pqfallback.log" |
    grep -o "NamedGroup: [^ ]* ([0-9]*)" | tr '\n' ' ')
  case "$shares" in
  *"(4588)"*"(29)"*) pass "tlsd client offers key shares X25519MLKEM768 then X25519: $shares" ;;
  *) fail "tlsd client key shares: $shares" ;;
  esac
fi

# OpenSSL 3.0 client (an X25519 key share) -> tlsd listener: X25519, no HRR.
port=$port_dual
sclient -tls1_3 -msg
n_hello=$(printf '%s\n' "$sc" | grep -c "^>>> .*ClientHello")
if [ "$n_hello" -eq 1 ] && printf '%s\n' "$sc" | grep -q "^Server Temp Key: X25519"; then
  pass "openssl 3.0 client -> tlsd listener: X25519 from the first ClientHello, no HelloRetryRequest"
else
  fail "openssl 3.0 client -> tlsd listener: $n_hello ClientHellos: $(printf '%s\n' "$sc" | grep -E 'ClientHello|Temp Key')"
fi

if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd/tlsd.log"; then
  fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp/tlsd/tlsd.log" | head -n 40)"
else
  pass "tlsd log has no sanitizer report"
fi
stop_tlsd
TLSD_PID=

finish
