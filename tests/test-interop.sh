#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Interop: one tlsd, real openssl s_server and gnutls-serv peers on loopback, driven through
# `tlsctl connect`. Every connect sends a line: `openssl s_server -rev` answers it reversed and
# gnutls-serv --echo as is, so a returned line proves data both ways. Covered: TLS 1.2/1.3 with
# ECDSA and RSA servers and forced AEAD suites (IANA and OpenSSL names), gnutls, mTLS, PSK, ALPN,
# each verification failure with its reason, IP identities, app-decides, pinning, bad input
# (clear error, exit 1, daemon keeps serving), refused connections and unresolvable names.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2154 # the port_NAME variables are set through eval by ossl and gnut
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools interop openssl
test_pki

tmp=$(mktemp -d /tmp/tlsd-interop.XXXXXX)
peer_pids=""
cleanup() {
  for p in $peer_pids; do kill "$p" 2>/dev/null; done
  for p in $peer_pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- peers ----

# Every peer listens on a port of its own choosing (port 0) and says which: no port is picked
# here, let go and hoped to be free still when the peer binds it. gnutls-serv cannot: see gnut.

# ossl NAME ARGS...: openssl s_server -rev on port 0; peers_ready puts its port in $port_NAME.
ossl() {
  local name="$1"
  shift
  openssl s_server -accept 127.0.0.1:0 -rev "$@" >"$tmp/$name.log" 2>&1 </dev/null &
  peer_pids="$peer_pids $!"
  all_peers="$all_peers $name"
}

# peers_ready: waits for each openssl peer's "ACCEPT 127.0.0.1:PORT" line, sets $port_NAME.
peers_ready() {
  local name p
  for name in $all_peers; do
    if wait_for_line "$tmp/$name.log" '^ACCEPT 127\.0\.0\.1:[0-9]+$' 15; then
      p=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.log")
      eval "port_$name=$p"
    else
      fail "peer $name did not start: $(cat "$tmp/$name.log")"
      eval "port_$name=1"
    fi
  done
}

# gnut NAME ARGS...: gnutls-serv --echo (on all addresses; we only connect to 127.0.0.1). It takes
# no port 0 and does not say which port it got, so the port is picked here, and if someone took
# it in between, again.
gnut() {
  local name="$1" pid port
  shift
  for _ in 1 2 3; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    gnutls-serv --echo -p "$port" "$@" >"$tmp/$name.log" 2>&1 </dev/null &
    pid=$!
    wait_until 15 gnut_up "$tmp/$name.log" "$port" "$pid"
    if grep -q "IPv4 .* port $port\.\.\.done" "$tmp/$name.log"; then
      peer_pids="$peer_pids $pid"
      eval "port_$name=$port"
      return 0
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  fail "peer $name (gnutls-serv) did not start: $(cat "$tmp/$name.log")"
  eval "port_$name=1"
}
gnut_up() { grep -q "IPv4 .* port $2\.\.\.done" "$1" || exited "$3"; }

all_peers=""
psk_hex=$(tr -d '\n' <"$PKI/psk.txt")
psk_id=$(cat "$PKI/psk-identity.txt")
password=$(cat "$PKI/client-encrypted.pass")

ecdsa() { ossl "$@" -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"; }
rsa() { ossl "$@" -cert "$PKI/server-rsa-chain.pem" -key "$PKI/server-rsa.key"; }
ecdsa t13ecdsa -tls1_3
rsa t13rsa -tls1_3
ecdsa t12ecdsa -tls1_2
rsa t12rsa -tls1_2
ecdsa mtls -Verify 1 -verify_return_error -CAfile "$PKI/ca.pem"
ossl psk12 -tls1_2 -nocert -psk "$psk_hex" -psk_identity "$psk_id" \
  -cipher 'DHE-PSK-AES128-GCM-SHA256:ECDHE-PSK-CHACHA20-POLY1305:PSK-AES128-GCM-SHA256'
ossl psk13 -tls1_3 -nocert -psk "$psk_hex" -psk_identity "$psk_id"
ecdsa alpn -alpn h2,http/1.1
ecdsa alpnh2 -alpn h2
for s in expired notyet selfsigned unknownca wronghost; do
  ossl "$s" -cert "$PKI/server-$s.pem" -key "$PKI/server-$s.key"
done
have_gnutls=false
if command -v gnutls-serv >/dev/null 2>&1; then
  have_gnutls=true
  gecdsa() {
    gnut "$@" --x509certfile="$PKI/server-ecdsa-chain.pem" --x509keyfile="$PKI/server-ecdsa.key"
  }
  gecdsa g12 --priority='NORMAL:-VERS-ALL:+VERS-TLS1.2'
  gecdsa g13 --priority='NORMAL:-VERS-ALL:+VERS-TLS1.3'
  gnut g13rsa --x509certfile="$PKI/server-rsa-chain.pem" --x509keyfile="$PKI/server-rsa.key" \
    --priority='NORMAL:-VERS-ALL:+VERS-TLS1.3'
  gecdsa galpn --alpn=h2
fi

start_tlsd "$tmp/tlsd" || finish
peers_ready

# ---- helpers ----

# conn LINE ARGS...: pipes LINE into `tlsctl connect ARGS`; sets $rc, $out (stdout), $err.
conn() {
  local line="$1"
  shift
  printf '%s\n' "$line" | timeout 15 "$TLSCTL" connect "$@" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

reversed() { printf '%s' "$1" | rev; }

# ok WHAT EXPECTED_STDOUT [STDERR_ERE]: the last conn exited 0, printed EXPECTED_STDOUT and, if
# given, stderr matches the ERE.
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

# refused WHAT STDERR_ERE: the last conn exited 1, returned no data and stderr matches the ERE.
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

# log_mark / log_since ERE: whether tlsd logged a line matching ERE since the mark (waits up
# to 2 s, as the daemon may still be handling the end of a connection).
log_mark() { log_lines=$(wc -l <"$tmp/tlsd/tlsd.log"); }
log_has() { tail -n "+$((log_lines + 1))" "$tmp/tlsd/tlsd.log" | grep -qE -- "$1"; }
log_since() { wait_until 2 log_has "$1"; }

ca="--ca=$PKI/ca.pem"

# ---- 1. openssl s_server: versions, certificate types, forced suites ----
for t in \
  "t13ecdsa --tls1.3 TLS_AES_128_GCM_SHA256 TLSv1.3 TLS_AES_128_GCM_SHA256" \
  "t13ecdsa --tls1.3 TLS_CHACHA20_POLY1305_SHA256 TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" \
  "t13rsa --tls1.3 TLS_AES_256_GCM_SHA384 TLSv1.3 TLS_AES_256_GCM_SHA384" \
  "t13rsa --tls1.3 TLS13-CHACHA20-POLY1305-SHA256 TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" \
  "t12ecdsa --tls1.2 ECDHE-ECDSA-AES128-GCM-SHA256 TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" \
  "t12ecdsa --tls1.2 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 TLSv1.2 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" \
  "t12rsa --tls1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" \
  "t12rsa --tls1.2 ECDHE-RSA-CHACHA20-POLY1305 TLSv1.2 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"; do
  # shellcheck disable=SC2086
  set -- $t
  eval "p=\$port_$1"
  line="interop $1 $3"
  conn "$line" "$ca" "$2" --ciphers="$3" "localhost:$p"
  ok "openssl $1 $2 --ciphers=$3: data both ways, negotiated $4 $5" "$(reversed "$line")" \
    "^connected: $4 $5, "
done

# Without pinning a version the client gets TLS 1.3 from a 1.3-capable server; a 1.2-only server
# still works with the default policy.
conn "default policy" "$ca" "localhost:$port_t13ecdsa"
ok "openssl: default policy negotiates TLS 1.3" "$(reversed "default policy")" "^connected: TLSv1\.3 TLS_"
conn "default policy 1.2" "$ca" "localhost:$port_t12rsa"
ok "openssl 1.2-only server: default policy falls back to TLS 1.2 with an ECDHE AEAD suite" \
  "$(reversed "default policy 1.2")" "^connected: TLSv1\.2 TLS_ECDHE_RSA_WITH_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA"
# A version the server does not speak fails the handshake instead of silently downgrading.
conn "wrong version" "$ca" --tls1.2 "localhost:$port_t13ecdsa"
refused "client --tls1.2 against a TLS 1.3-only server: the server's alert 70 protocol_version" \
  "Handshake failed: received alert 70 \(protocol_version\)"

# ---- 2. gnutls-serv ----
if $have_gnutls; then
  conn "gnutls 1.2" "$ca" "localhost:$port_g12"
  ok "gnutls-serv TLS 1.2 (ECDSA): data both ways" "gnutls 1.2" "^connected: TLSv1\.2 TLS_ECDHE_ECDSA_"
  conn "gnutls 1.3" "$ca" "localhost:$port_g13"
  ok "gnutls-serv TLS 1.3 (ECDSA): data both ways" "gnutls 1.3" "^connected: TLSv1\.3 TLS_"
  conn "gnutls 1.3 rsa chacha" "$ca" --ciphers=TLS_CHACHA20_POLY1305_SHA256 "localhost:$port_g13rsa"
  ok "gnutls-serv TLS 1.3 (RSA) with ChaCha20-Poly1305" "gnutls 1.3 rsa chacha" \
    "^connected: TLSv1\.3 TLS_CHACHA20_POLY1305_SHA256, "
  conn "gnutls pinned 1.3" "$ca" --tls1.3 "localhost:$port_g12"
  refused "client --tls1.3 against gnutls-serv pinned to TLS 1.2: tlsd's alert 70 protocol_version" \
    "Handshake failed: sent alert 70 \(protocol_version\)"
else
  skip "gnutls-serv is not installed"
fi

# ---- 3. mTLS ----
conn "mtls ec" "$ca" --cert="$PKI/client.pem" --key="$PKI/client.key" "localhost:$port_mtls"
ok "mTLS: EC client certificate accepted (TLS 1.3)" "$(reversed "mtls ec")" "^connected: TLSv1\.3 "
conn "mtls rsa" "$ca" --tls1.2 --cert="$PKI/client-rsa.pem" --key="$PKI/client-rsa.key" "localhost:$port_mtls"
ok "mTLS: RSA client certificate accepted (TLS 1.2)" "$(reversed "mtls rsa")" "^connected: TLSv1\.2 "
conn "mtls rsa 1.3" "$ca" --tls1.3 --cert="$PKI/client-rsa.pem" --key="$PKI/client-rsa.key" "localhost:$port_mtls"
ok "mTLS: RSA client certificate accepted (TLS 1.3, RSA-PSS)" "$(reversed "mtls rsa 1.3")" "^connected: TLSv1\.3 "
conn "mtls encrypted" "$ca" --cert="$PKI/client.pem" --key="$PKI/client-encrypted.key" --pass="$password" "localhost:$port_mtls"
ok "mTLS: encrypted PKCS#8 key with the right password" "$(reversed "mtls encrypted")"
conn "mtls legacy enc" "$ca" --cert="$PKI/client.pem" --key="$PKI/client-encrypted-legacy.key" --pass="$password" "localhost:$port_mtls"
ok "mTLS: traditional encrypted PEM key with the right password" "$(reversed "mtls legacy enc")"
conn "mtls der" "$ca" --cert="$PKI/client.der" --key="$PKI/client-der.key" "localhost:$port_mtls"
ok "mTLS: DER certificate and key" "$(reversed "mtls der")"

conn "no cert 1.2" "$ca" --tls1.2 "localhost:$port_mtls"
refused "mTLS without a client certificate (TLS 1.2): handshake fails with the server's alert" \
  "Handshake failed: received alert 40 \(handshake_failure\)"
conn "unknown ca 1.2" "$ca" --tls1.2 --cert="$PKI/client-unknownca.pem" --key="$PKI/client-unknownca.key" "localhost:$port_mtls"
refused "mTLS with a client certificate from an unknown CA (TLS 1.2): alert unknown_ca" \
  "Handshake failed: received alert 48 \(unknown_ca\)"

# TLS 1.3: the client's handshake is complete before the server judges its certificate, so the
# rejection is an alert after "connected": the line must not come back, tlsd must see the alert,
# and tlsctl must report the failure (exit 1 with a message) instead of a clean end.
# mtls13_rejected WHAT ALERT NAME [ARGS...]
mtls13_rejected() {
  local what="mTLS TLS 1.3 $1" alert="$2" name="$3"
  shift 3
  log_mark
  conn "$what" "$ca" --tls1.3 "$@" "localhost:$port_mtls"
  if [ -z "$out" ]; then
    pass "$what: the line does not come back"
  else
    fail "$what: data came back: $out"
  fi
  if log_since "received alert $alert \\($name\\)"; then
    pass "$what: tlsd receives alert $alert ($name) and closes the connection"
  else
    fail "$what: no 'received alert $alert ($name)' in the tlsd log: $(tail -n 5 "$tmp/tlsd/tlsd.log")"
  fi
  if [ "$rc" -eq 1 ] && printf '%s' "$err" | grep -q "^tlsctl: connection closed: alert $name ($alert)\$"; then
    pass "$what: tlsctl reports the rejection: connection closed by alert $alert"
  else
    fail "$what: tlsctl does not report the rejection (exit $rc, stderr: $err)"
  fi
}
mtls13_rejected "without a client certificate" 116 certificate_required
mtls13_rejected "with a client certificate from an unknown CA" 48 unknown_ca \
  --cert="$PKI/client-unknownca.pem" --key="$PKI/client-unknownca.key"

# ---- 4. PSK ----
psk="--psk-identity=$psk_id --psk=$psk_hex"
# shellcheck disable=SC2086
{
  conn "psk dhe" $psk --tls1.2 --ciphers=DHE-PSK-AES128-GCM-SHA256 "localhost:$port_psk12"
  ok "PSK TLS 1.2 DHE-PSK-AES128-GCM-SHA256" "$(reversed "psk dhe")" \
    "^connected: TLSv1\.2 TLS_DHE_PSK_WITH_AES_128_GCM_SHA256, group -"
  conn "psk ecdhe" $psk --tls1.2 --ciphers=TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 "localhost:$port_psk12"
  ok "PSK TLS 1.2 ECDHE-PSK-CHACHA20-POLY1305" "$(reversed "psk ecdhe")" \
    "^connected: TLSv1\.2 TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, "
  conn "psk plain" $psk --tls1.2 --ciphers=PSK-AES128-GCM-SHA256 "localhost:$port_psk12"
  refused "PSK TLS 1.2 plain PSK-AES128-GCM-SHA256 refused by policy (no forward secrecy)" \
    "PSK-AES128-GCM-SHA256' refused: plain PSK key exchange has no forward secrecy"
  conn "psk wrong key" --psk-identity="$psk_id" --psk=00112233445566778899aabbccddeeff --tls1.2 \
    --ciphers=DHE-PSK-AES128-GCM-SHA256 "localhost:$port_psk12"
  refused "PSK TLS 1.2 with the wrong key: the server's alert 20 bad_record_mac (its Finished)" \
    "Handshake failed: received alert 20 \(bad_record_mac\)"

  conn "psk13" $psk --tls1.3 "localhost:$port_psk13"
  ok "PSK TLS 1.3 (psk_dhe_ke, default suite)" "$(reversed "psk13")" \
    "^connected: TLSv1\.3 TLS_AES_128_GCM_SHA256, group [A-Za-z0-9]+"
  conn "psk13 chacha" $psk --tls1.3 --ciphers=TLS_CHACHA20_POLY1305_SHA256 "localhost:$port_psk13"
  ok "PSK TLS 1.3 with TLS_CHACHA20_POLY1305_SHA256" "$(reversed "psk13 chacha")" \
    "^connected: TLSv1\.3 TLS_CHACHA20_POLY1305_SHA256, "
  conn "psk13 wrong key" --psk-identity="$psk_id" --psk=00112233445566778899aabbccddeeff --tls1.3 "localhost:$port_psk13"
  refused "PSK TLS 1.3 with the wrong key: the server's alert 47 illegal_parameter (the binder)" \
    "Handshake failed: received alert 47 \(illegal_parameter\)"
  conn "psk13 wrong id" --psk-identity=someone-else --psk="$psk_hex" --tls1.3 "localhost:$port_psk13"
  refused "PSK TLS 1.3 with an unknown identity: the server's alert 40 handshake_failure" \
    "Handshake failed: received alert 40 \(handshake_failure\)"
}

# ---- 5. ALPN ----
conn "alpn" "$ca" --alpn=http/1.1 "localhost:$port_alpn"
ok "ALPN http/1.1 offered and selected" "$(reversed "alpn")" "^connected: .*, ALPN http/1\.1$"
conn "alpn both" "$ca" --alpn=h2,http/1.1 "localhost:$port_alpn"
ok "ALPN h2,http/1.1 offered: server picks h2" "$(reversed "alpn both")" "^connected: .*, ALPN h2$"
conn "alpn none" "$ca" --alpn=h2 "localhost:$port_t13ecdsa"
ok "ALPN offered to a server without ALPN: connects, none negotiated" "$(reversed "alpn none")" \
  "^connected: TLSv1\.3 [A-Z0-9_]+, group [A-Za-z0-9]+$"
conn "alpn mismatch" "$ca" --alpn=http/1.1 "localhost:$port_alpnh2"
refused "ALPN mismatch against openssl (h2 only): alert no_application_protocol" \
  "Handshake failed: received alert 120 \(no_application_protocol\)"
if $have_gnutls; then
  # gnutls-serv without --alpn-fatal ignores the mismatch and selects nothing. wolfSSL's
  # FAILED_ON_MISMATCH is a server-side rule; a client cannot make a server choose, so the
  # connection proceeds with no protocol (RFC 7301) and tlsctl shows none.
  conn "alpn gnutls" "$ca" --alpn=http/1.1 "localhost:$port_galpn"
  ok "ALPN mismatch against gnutls-serv (non-fatal): connects with no ALPN" "alpn gnutls" \
    "^connected: TLSv1\.3 [A-Z0-9_]+, group [A-Za-z0-9]+$"
else
  skip "ALPN mismatch against gnutls-serv: gnutls-serv is not installed"
fi

# ---- 6. verification ----
for t in "expired expired" "notyet not-yet-valid" "selfsigned self-signed" \
  "unknownca unknown-issuer" "wronghost hostname-mismatch"; do
  # shellcheck disable=SC2086
  set -- $t
  eval "p=\$port_$1"
  for v in --tls1.3 --tls1.2; do
    conn "verify $1" "$ca" "$v" "localhost:$p"
    refused "server-$1 ($v) rejected: verification: $2" "^verification: $2$"
  done
done
conn "by ip" "$ca" "127.0.0.1:$port_t13ecdsa"
ok "connect by IP 127.0.0.1: matches the certificate's IP SAN" "$(reversed "by ip")" "^verification: ok$"
conn "by ip 1.2" "$ca" "127.0.0.1:$port_t12rsa"
ok "connect by IP 127.0.0.1 (TLS 1.2, RSA)" "$(reversed "by ip 1.2")" "^verification: ok$"
conn "ip mismatch" "$ca" "127.0.0.1:$port_wronghost"
refused "connect by IP to a certificate without that IP: hostname-mismatch" "^verification: hostname-mismatch$"
conn "ip mismatch 2" "$ca" --servername=127.0.0.2 "localhost:$port_t13ecdsa"
refused "--servername 127.0.0.2 (not in the IP SANs): hostname-mismatch" "^verification: hostname-mismatch$"
conn "servername" "$ca" --servername=wrong.example "localhost:$port_wronghost"
ok "--servername wrong.example against server-wronghost" "$(reversed "servername")" "^peer: /CN=wrong\.example$"
conn "servername mismatch" "$ca" --servername=wrong.example "localhost:$port_t13ecdsa"
refused "--servername wrong.example against server-ecdsa: hostname-mismatch" "^verification: hostname-mismatch$"

# ---- 7. app decides ----
conn "app verify" "$ca" --app-verify "localhost:$port_selfsigned"
ok "--app-verify: self-signed certificate shown and accepted" "$(reversed "app verify")" \
  "^certificate: self-signed \(accepted by --app-verify\)$"
conn "app verify ok" "$ca" --app-verify "localhost:$port_t13ecdsa"
ok "--app-verify: a valid certificate is shown as ok" "$(reversed "app verify ok")" "^certificate: ok "

# ---- 8. pinning ----
spki_sha256() {
  openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}
pin_self=$(spki_sha256 "$PKI/server-selfsigned.pem")
pin_ecdsa=$(spki_sha256 "$PKI/server-ecdsa.pem")
pin_rsa=$(spki_sha256 "$PKI/server-rsa.pem")
conn "pinned" --pin="$pin_self" "localhost:$port_selfsigned"
ok "--pin of server-selfsigned's key: accepted" "$(reversed "pinned")" "^verification: pinned key matches$"
conn "pinned 1.2" --tls1.2 --pin="$pin_self" "localhost:$port_selfsigned"
ok "--pin of server-selfsigned's key (TLS 1.2): accepted" "$(reversed "pinned 1.2")" "^verification: pinned key matches$"
conn "pinned rsa" --pin="$pin_rsa" "localhost:$port_t13rsa"
ok "--pin of an RSA server key: accepted" "$(reversed "pinned rsa")" "^verification: pinned key matches$"
conn "wrong pin" --pin="$pin_ecdsa" "localhost:$port_selfsigned"
refused "--pin of another key: rejected with pin-mismatch" "^verification: pin-mismatch$"

# ---- 9. bad input: clear error, exit 1, daemon keeps serving ----
bad() {
  local what="$1" pattern="$2"
  shift 2
  conn "bad input" "$@" "localhost:$port_t13ecdsa"
  refused "bad input: $what" "$pattern"
}
bad "wrong key password" "private key could not be decrypted: wrong password" \
  "$ca" --cert="$PKI/client.pem" --key="$PKI/client-encrypted.key" --pass=not-the-password
bad "encrypted key without a password" "private key is encrypted and no password was given" \
  "$ca" --cert="$PKI/client.pem" --key="$PKI/client-encrypted.key"
bad "certificate and key do not match" "private key does not match the certificate" \
  "$ca" --cert="$PKI/client.pem" --key="$PKI/key-mismatch.key"
bad "garbage PEM as --ca" "CA certificates are not valid PEM" --ca="$PKI/garbage.pem"
bad "garbage PEM as --cert" "certificate is not valid PEM" \
  "$ca" --cert="$PKI/garbage.pem" --key="$PKI/client.key"
bad "garbage PEM as --key" "private key is not a valid PEM key" \
  "$ca" --cert="$PKI/client.pem" --key="$PKI/garbage.pem"
bad "unknown cipher name" "unknown cipher suite 'NO-SUCH-CIPHER'" "$ca" --ciphers=NO-SUCH-CIPHER
bad "RC4-SHA refused" "'RC4-SHA' refused: RC4" "$ca" --ciphers=RC4-SHA
bad "AES128-GCM-SHA256 refused" "'AES128-GCM-SHA256' refused: static RSA" "$ca" --ciphers=AES128-GCM-SHA256
bad "TLS_RSA_WITH_AES_128_GCM_SHA256 refused" "refused: static RSA" "$ca" --ciphers=TLS_RSA_WITH_AES_128_GCM_SHA256
bad "NULL-SHA256 refused" "'NULL-SHA256' refused: NULL" "$ca" --ciphers=NULL-SHA256
bad "ECDHE-RSA-AES128-SHA256 without legacy" "'ECDHE-RSA-AES128-SHA256' is CBC mode: allowed only with the session's legacy" \
  "$ca" --ciphers=ECDHE-RSA-AES128-SHA256
bad "--groups bogus" "unknown or unsupported key-exchange group 'bogus'" "$ca" --groups=bogus
if kill -0 "$TLSD_PID" 2>/dev/null; then
  pass "tlsd is still running after the bad input"
else
  fail "tlsd died on bad input: $(tail -n 20 "$tmp/tlsd/tlsd.log")"
fi
conn "after bad input" "$ca" "localhost:$port_t13ecdsa"
ok "a good connect after the bad input still works" "$(reversed "after bad input")"

# ---- 10. no peer ----
# A port bound but not listening (held so, nobody can start listening there meanwhile).
python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], flush=True); time.sleep(600)' \
  >"$tmp/closed.port" &
holder=$!
peer_pids="$peer_pids $holder"
wait_for_line "$tmp/closed.port" '^[0-9]+$'
closed_port=$(cat "$tmp/closed.port")
conn "refused" "$ca" "127.0.0.1:$closed_port"
refused "nothing listening: cannot connect" "cannot connect to 127\.0\.0\.1 port $closed_port: Connection refused"

# ---- the daemon ----
stop_tlsd

# ---- name resolution failure ----
# Only loopback may see our traffic, DNS queries included: a second tlsd runs in a private mount
# namespace whose resolv.conf names 127.0.0.1, where no DNS server listens.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1; then
  printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$tmp/resolv.conf"
  mkdir -p "$tmp/ns"
  unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && exec "$2" --runtime-dir="$3"' \
    sh "$tmp/resolv.conf" "$TLSD" "$tmp/ns/run" >"$tmp/ns/tlsd.log" 2>&1 &
  ns_pid=$!
  if wait_for_socket "$tmp/ns/run/tlsd.sock"; then
    TLSD_SOCKET="$tmp/ns/run/tlsd.sock"
    export TLSD_SOCKET
    conn "unresolvable" "$ca" no-such-host.invalid:443
    refused "unknown host name: cannot resolve" "cannot resolve 'no-such-host\.invalid'"
  else
    fail "tlsd in a mount namespace did not start: $(cat "$tmp/ns/tlsd.log")"
  fi
  kill -TERM "$ns_pid" 2>/dev/null
  wait "$ns_pid" 2>/dev/null
else
  skip "unknown host name: needs root and unshare to keep DNS queries on loopback"
fi

if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd/tlsd.log"; then
  fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp/tlsd/tlsd.log" | head -n 40)"
else
  pass "tlsd log has no sanitizer report"
fi
TLSD_PID=

finish
