#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Server role: one tlsd, `tlsctl listen` listeners on loopback (port 0), driven by real clients:
# openssl s_client and gnutls-cli. Each client sends a line; a returned line proves data both
# ways (echo, or --exec). Covered: TLS 1.3/1.2 with strict verification; RSA and ECDSA
# identities side by side, chosen by signature algorithms and TLS 1.2 suites (also after a
# HelloRetryRequest); identities chosen by SNI; ALPN (the server's preference,
# no_application_protocol); required and optional client certificates, each failure with its
# alert; gnutls-cli; --exec; ports and addresses (port 0, a port in use, bad input, [::1],
# --count, port 443 as root and refused to another user); 200 clients that never send a
# ClientHello, with and without room for all (cut at the handshake timeout or evicted while
# others are served, no descriptor leaked); tlsd out of descriptors (no busy loop, recovers).
# Every accepted connection is checked on tlsctl's "accepted" line too, and the logs of tlsd
# and tlsctl (sanitizer builds) for sanitizer reports.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2154 # the port_NAME variables are set through eval by srv
# shellcheck disable=SC2086 # $strict, $ecdsa etc. are option lists, split on purpose
# shellcheck disable=SC2016 # the --exec commands are for the shell tlsctl starts
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools server openssl
test_pki
have_gnutls=false
command -v gnutls-cli >/dev/null 2>&1 && have_gnutls=true
is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true
# Section 8 runs tlsctl as uid 65534 (nobody, group nogroup) when it can.
as_other=false
$is_root && getent group nogroup >/dev/null 2>&1 && as_other=true

tmp=$(mktemp -d /tmp/tlsd-server.XXXXXX)
chmod 755 "$tmp" # another uid reaches the control socket below it (section 8)
# Background processes not yet waited for (a pid that was waited for may belong to someone else
# by the time cleanup runs: forget removes it).
peer_pids=""
sc_pid=""
forget() { peer_pids=$(for p in $peer_pids; do [ "$p" = "$1" ] || printf '%s ' "$p"; done); }
cleanup() {
  exec 3>&- 2>/dev/null
  for p in $peer_pids $sc_pid; do kill "$p" 2>/dev/null; done
  for p in $peer_pids $sc_pid; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The control socket's group lets uid 65534 (nobody, group nogroup) in for section 8.
if $as_other; then
  printf '[Daemon]\nSocketGroup=nogroup\n' >"$tmp/tlsd.conf"
else
  : >"$tmp/tlsd.conf"
fi
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish

# ---- listeners ----

# srv NAME ADDR:PORT ARGS...: `tlsctl listen ADDR:PORT ARGS` in the background, stderr in
# $tmp/NAME.err; wait_listening then puts the port it printed into $port_NAME.
all_srv=""
srv() {
  local name="$1" where="$2"
  shift 2
  timeout "$(waits 300)" "$TLSCTL" listen "$where" "$@" >"$tmp/$name.port" 2>"$tmp/$name.err" </dev/null &
  peer_pids="$peer_pids $!"
  eval "pid_$name=$!"
  all_srv="$all_srv $name"
}

# wait_listening SECONDS: until every listener printed its port.
wait_listening() {
  local name todo
  for _ in $(tries $(($1 * 20))); do
    todo=""
    for name in $all_srv; do
      if [ -s "$tmp/$name.port" ]; then
        eval "port_$name=\$(head -n 1 \"\$tmp/\$name.port\")"
      else
        todo="$todo $name"
      fi
    done
    [ -z "$todo" ] && return 0
    sleep 0.05
  done
  for name in $todo; do fail "listener $name did not start: $(cat "$tmp/$name.err")"; done
  return 1
}

ecdsa="--cert=$PKI/server-ecdsa-chain.pem --key=$PKI/server-ecdsa.key"
rsa="--cert=$PKI/server-rsa-chain.pem --key=$PKI/server-rsa.key"
wronghost="--cert=$PKI/server-wronghost.pem --key=$PKI/server-wronghost.key"
srv dual 127.0.0.1:0 $ecdsa $rsa
srv rsafirst 127.0.0.1:0 $rsa $ecdsa
srv sni 127.0.0.1:0 $ecdsa $wronghost --alpn=h2,http/1.1
srv hrr 127.0.0.1:0 $ecdsa $rsa --groups=P-256 --alpn=h2,http/1.1
srv mtls 127.0.0.1:0 $ecdsa --client-ca="$PKI/ca.pem" --require-client-cert
srv mtlsopt 127.0.0.1:0 $ecdsa --client-ca="$PKI/ca.pem"
srv exectr 127.0.0.1:0 $ecdsa --exec='tr a-z A-Z'
srv execline 127.0.0.1:0 $ecdsa --exec='while read -r l; do printf "%s\n" "$l" | tr a-z A-Z; done'
srv slow 127.0.0.1:0 $ecdsa --handshake-timeout=3000 --max-pending=512
srv slowdef 127.0.0.1:0 $ecdsa --handshake-timeout=3000
wait_listening 15 || finish

# ---- helpers ----

# sc PORT LINE ARGS...: openssl s_client -connect 127.0.0.1:PORT ARGS; sends LINE and ends its
# input (s_client then sends close_notify and exits) once LINE came back, s_client ended or 5 s
# passed (with $want_back set: once that came back instead; it is reset). Sets $rc and $out
# (stdout and stderr). sc_start and sc_finish are its two halves.
want_back=""
sc_start() {
  local port="$1" line="$2"
  shift 2
  sc_line=${want_back:-$line}
  want_back=""
  rm -f "$tmp/fifo"
  mkfifo "$tmp/fifo"
  : >"$tmp/sc.out" # empty before sc_finish looks at it
  timeout "$(waits 15)" openssl s_client -connect "127.0.0.1:$port" "$@" <"$tmp/fifo" >"$tmp/sc.out" 2>&1 &
  sc_pid=$!
  exec 3>"$tmp/fifo"
  printf '%s\n' "$line" >&3
}
sc_back() { grep -qF -- "$sc_line" "$tmp/sc.out" || exited "$sc_pid"; }
sc_finish() {
  wait_until 5 sc_back
  exec 3>&-
  wait "$sc_pid" && rc=0 || rc=$?
  sc_pid=""
  out=$(cat "$tmp/sc.out")
}
sc() {
  sc_start "$@"
  sc_finish
}

# gc PORT LINE ARGS...: gnutls-cli to localhost:PORT with ARGS, LINE on its input; at the end of
# input it half-closes and reads until the server closes. Sets $rc and $out.
gc() {
  local port="$1" line="$2"
  shift 2
  printf '%s\n' "$line" | timeout "$(waits 15)" gnutls-cli --x509cafile="$PKI/ca.pem" -p "$port" "$@" \
    localhost >"$tmp/gc.out" 2>&1 && rc=0 || rc=$?
  out=$(cat "$tmp/gc.out")
}

# has ERE...: whether $out matches every ERE; names the first that does not in $missing.
has() {
  for re in "$@"; do
    if ! printf '%s\n' "$out" | grep -qE -- "$re"; then
      missing=$re
      return 1
    fi
  done
  return 0
}

# acc_mark NAME / acc_new NAME: the "accepted" lines listener NAME printed since the mark.
acc_mark() { eval "acc_$1=\$(wc -l <\"\$tmp/\$1.err\")"; }
acc_new() {
  local n
  eval "n=\$acc_$1"
  tail -n "+$((n + 1))" "$tmp/$1.err" | grep '^accepted '
}

# ok WHAT NAME LINE [ACCEPTED_ERE [OUTPUT_ERE...]]: the last client exited 0, LINE came back,
# listener NAME printed exactly one new accepted line, which matches ACCEPTED_ERE, and the
# client's output matches each OUTPUT_ERE.
ok() {
  local what="$1" name="$2" line="$3" want="${4:-}" acc
  shift 3
  [ $# -gt 0 ] && shift
  acc=$(acc_new "$name")
  if [ "$rc" -ne 0 ]; then
    fail "$what: client exit $rc: $(printf '%s' "$out" | tail -n 5)"
  elif ! printf '%s\n' "$out" | grep -qF -- "$line"; then
    fail "$what: '$line' did not come back: $(printf '%s' "$out" | tail -n 5)"
  elif [ "$(printf '%s' "$acc" | grep -c '^accepted')" -ne 1 ]; then
    fail "$what: want one new accepted line from listener $name, got: '$acc'"
  elif [ -n "$want" ] && ! printf '%s' "$acc" | grep -qE -- "$want"; then
    fail "$what: accepted line '$acc' does not match /$want/"
  elif ! has "$@"; then
    fail "$what: /$missing/ not in the client's output: $(printf '%s' "$out" | tail -n 30)"
  else
    pass "$what"
  fi
}

# refused WHAT NAME LINE OUTPUT_ERE...: the last client failed (exit not 0), LINE did not come
# back, listener NAME accepted nothing, and the client's output matches each OUTPUT_ERE.
refused() {
  local what="$1" name="$2" line="$3" acc
  shift 3
  acc=$(acc_new "$name")
  if [ "$rc" -eq 0 ]; then
    fail "$what: client exit 0: $(printf '%s' "$out" | tail -n 5)"
  elif printf '%s\n' "$out" | grep -qF -- "$line"; then
    fail "$what: '$line' came back"
  elif [ -n "$acc" ]; then
    fail "$what: listener $name accepted it: $acc"
  elif ! has "$@"; then
    fail "$what: /$missing/ not in the client's output: $(printf '%s' "$out" | tail -n 30)"
  else
    pass "$what"
  fi
}

strict="-verify_return_error -CAfile $PKI/ca.pem"
acc_re='^accepted 127\.0\.0\.1 port [0-9]+: '
rsa_cert='^Server public key is 2048 bit$'
ecdsa_cert='^Server public key is 256 bit$'

# ---- 1. openssl s_client: versions, strict verification, data both ways ----
for v in 1_3 1_2; do
  acc_mark dual
  sc "$port_dual" "line tls$v" -tls$v $strict -verify_hostname localhost -servername localhost
  case $v in
  1_3) want="TLSv1\.3 TLS_AES_128_GCM_SHA256, SNI localhost$" ;;
  *) want="TLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_(128|256)_GCM_SHA(256|384), SNI localhost$" ;;
  esac
  ok "s_client -tls$v: verified (hostname localhost), line echoed, accepted line" dual \
    "line tls$v" "$acc_re$want" "^New, TLSv${v%_*}\.${v#*_}, " '^Verification: OK$' \
    '^Verified peername: localhost$'
done

# ---- 2. RSA and ECDSA side by side ----
for l in dual rsafirst; do
  acc_mark $l
  sc "$(eval "echo \$port_$l")" "rsa-pss $l" -tls1_3 $strict -sigalgs RSA-PSS+SHA256
  ok "$l: TLS 1.3 -sigalgs RSA-PSS+SHA256 gets the RSA certificate, RSA-PSS signature" $l \
    "rsa-pss $l" "${acc_re}TLSv1\.3 " '^Peer signature type: RSA-PSS$' "$rsa_cert" \
    '^subject=CN = localhost$' '^Verification: OK$'
  acc_mark $l
  sc "$(eval "echo \$port_$l")" "ecdsa $l" -tls1_3 $strict -sigalgs ECDSA+SHA256
  ok "$l: TLS 1.3 -sigalgs ECDSA+SHA256 gets the ECDSA certificate" $l "ecdsa $l" \
    "${acc_re}TLSv1\.3 " '^Peer signature type: ECDSA$' "$ecdsa_cert" \
    '^Verification: OK$'
  acc_mark $l
  sc "$(eval "echo \$port_$l")" "ecdhe-rsa $l" -tls1_2 $strict -cipher ECDHE-RSA-AES128-GCM-SHA256
  ok "$l: TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 gets the RSA certificate" $l "ecdhe-rsa $l" \
    "${acc_re}TLSv1\.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256$" \
    '^New, TLSv1\.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256$' "$rsa_cert" \
    '^Verification: OK$'
  acc_mark $l
  sc "$(eval "echo \$port_$l")" "ecdhe-ecdsa $l" -tls1_2 $strict -cipher ECDHE-ECDSA-AES128-GCM-SHA256
  ok "$l: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 gets the ECDSA certificate" $l \
    "ecdhe-ecdsa $l" "${acc_re}TLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256$" \
    '^New, TLSv1\.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256$' "$ecdsa_cert" \
    '^Peer signature type: ECDSA$'
done

# A HelloRetryRequest (the listener takes only P-256, the client's key share is X25519): the
# identity and the ALPN protocol are chosen again for the second ClientHello, the same way.
acc_mark hrr
sc "$port_hrr" "hrr" $strict -msg -groups X25519:P-256 -sigalgs RSA-PSS+SHA256 -alpn http/1.1,h2
if [ "$(printf '%s\n' "$out" | grep -ac 'Handshake .*, ClientHello$')" -ne 2 ]; then
  fail "HelloRetryRequest: want two ClientHellos: $(printf '%s\n' "$out" | grep -a 'Handshake ')"
else
  ok "HelloRetryRequest to P-256: RSA certificate for RSA-PSS, ALPN h2 (server preference)" \
    hrr "hrr" "${acc_re}TLSv1\.3 .*, ALPN h2$" '^Server Temp Key: ECDH, prime256v1, 256 bits$' \
    "$rsa_cert" '^Peer signature type: RSA-PSS$' '^ALPN protocol: h2$'
fi

# ---- 3. identity chosen by SNI ----
for v in 1_3 1_2; do
  acc_mark sni
  sc "$port_sni" "sni wrong $v" -tls$v $strict -servername wrong.example -verify_hostname wrong.example
  ok "SNI wrong.example (TLS ${v%_*}.${v#*_}): the wrong.example certificate, verified" sni \
    "sni wrong $v" "${acc_re}TLSv1\.[23] [A-Z0-9_]+, SNI wrong\.example$" \
    '^subject=CN = wrong\.example$' '^Verified peername: wrong\.example$' \
    '^Verification: OK$'
done
acc_mark sni
sc "$port_sni" "sni localhost" $strict -servername localhost -verify_hostname localhost
ok "SNI localhost: the localhost certificate" sni "sni localhost" \
  "${acc_re}TLSv1\.3 [A-Z0-9_]+, SNI localhost$" '^subject=CN = localhost$' \
  '^Verified peername: localhost$'
acc_mark sni
sc "$port_sni" "sni other" $strict -servername other.example
ok "SNI naming no certificate: the first (default) identity" sni "sni other" \
  "${acc_re}TLSv1\.3 [A-Z0-9_]+, SNI other\.example$" '^subject=CN = localhost$'
acc_mark sni
sc "$port_sni" "no sni" $strict -noservername -verify_hostname localhost
ok "no SNI: the default identity, no SNI on the accepted line" sni "no sni" \
  "${acc_re}TLSv1\.3 TLS_[A-Z0-9_]+$" '^subject=CN = localhost$'

# ---- 4. ALPN (listener: h2,http/1.1) ----
acc_mark sni
sc "$port_sni" "alpn http11" $strict -alpn http/1.1
ok "ALPN http/1.1 offered: selected" sni "alpn http11" "${acc_re}.*, ALPN http/1\.1$" \
  '^ALPN protocol: http/1\.1$'
acc_mark sni
sc "$port_sni" "alpn both" $strict -alpn h2,http/1.1
ok "ALPN h2,http/1.1 offered: h2" sni "alpn both" "${acc_re}.*, ALPN h2$" '^ALPN protocol: h2$'
for v in 1_3 1_2; do
  acc_mark sni
  sc "$port_sni" "alpn reversed $v" -tls$v $strict -alpn http/1.1,h2
  ok "ALPN http/1.1,h2 offered (TLS ${v%_*}.${v#*_}): h2, the server's preference" sni \
    "alpn reversed $v" "${acc_re}TLSv${v%_*}\.${v#*_} .*, ALPN h2$" '^ALPN protocol: h2$'
done
acc_mark sni
sc "$port_sni" "alpn mixed" $strict -alpn foo,http/1.1,bar
ok "ALPN foo,http/1.1,bar offered: http/1.1, the one in common" sni "alpn mixed" \
  "${acc_re}.*, ALPN http/1\.1$" '^ALPN protocol: http/1\.1$'
acc_mark sni
sc "$port_sni" "alpn none" $strict
ok "no ALPN offered: none negotiated" sni "alpn none" "${acc_re}TLSv1\.3 TLS_[A-Z0-9_]+$" \
  '^No ALPN negotiated$'
for v in 1_3 1_2; do
  acc_mark sni
  sc "$port_sni" "alpn foo $v" -tls$v $strict -alpn foo
  refused "ALPN foo (TLS ${v%_*}.${v#*_}): handshake fails with alert 120 no_application_protocol" \
    sni "alpn foo $v" 'alert no application protocol.*SSL alert number 120$' \
    '^New, \(NONE\), Cipher is \(NONE\)$'
done

# ---- 5. client certificates ----
subject='client /CN=tlsd-test-client$'
client="-cert $PKI/client.pem -key $PKI/client.key"
client_rsa="-cert $PKI/client-rsa.pem -key $PKI/client-rsa.key"
client_unknown="-cert $PKI/client-unknownca.pem -key $PKI/client-unknownca.key"
for v in 1_3 1_2; do
  V="TLS ${v%_*}.${v#*_}"
  acc_mark mtls
  sc "$port_mtls" "mtls ec $v" -tls$v $strict $client
  ok "required client cert ($V): EC client certificate accepted, subject shown" mtls \
    "mtls ec $v" "$acc_re.*, $subject"
  acc_mark mtls
  sc "$port_mtls" "mtls rsa $v" -tls$v $strict $client_rsa
  ok "required client cert ($V): RSA client certificate accepted" mtls "mtls rsa $v" \
    "$acc_re.*, $subject"
  acc_mark mtls
  sc "$port_mtls" "mtls none $v" -tls$v $strict
  if [ $v = 1_3 ]; then
    # The client's handshake is done before the server judges its (absent) certificate: the
    # alert arrives when it reads, and the line must not come back.
    refused "required client cert ($V), none sent: alert 116 certificate_required, no echo" \
      mtls "mtls none $v" 'alert certificate required.*SSL alert number 116$'
  else
    refused "required client cert ($V), none sent: alert 40 handshake_failure" mtls \
      "mtls none $v" 'alert handshake failure.*SSL alert number 40$'
  fi
  acc_mark mtls
  sc "$port_mtls" "mtls unknown $v" -tls$v $strict $client_unknown
  refused "required client cert ($V) from an unknown CA: alert 48 unknown_ca, no echo" mtls \
    "mtls unknown $v" 'alert unknown ca.*SSL alert number 48$'

  acc_mark mtlsopt
  sc "$port_mtlsopt" "opt none $v" -tls$v $strict
  ok "optional client cert ($V), none sent: accepted without a subject" mtlsopt \
    "opt none $v" "${acc_re}TLSv1\.[23] [A-Z0-9_]+$"
  acc_mark mtlsopt
  sc "$port_mtlsopt" "opt ec $v" -tls$v $strict $client
  ok "optional client cert ($V), good one sent: accepted, subject shown" mtlsopt "opt ec $v" \
    "$acc_re.*, $subject"
  acc_mark mtlsopt
  sc "$port_mtlsopt" "opt unknown $v" -tls$v $strict $client_unknown
  refused "optional client cert ($V) from an unknown CA: alert 48 unknown_ca, no echo" mtlsopt \
    "opt unknown $v" 'alert unknown ca.*SSL alert number 48$'
done

# ---- 6. gnutls-cli ----
if $have_gnutls; then
  for v in 1.3 1.2; do
    acc_mark dual
    gc "$port_dual" "gnutls $v" --priority="NORMAL:-VERS-ALL:+VERS-TLS$v"
    ok "gnutls-cli TLS $v: verified, line echoed" dual "gnutls $v" \
      "${acc_re}TLSv${v%.*}\.${v#*.} .*, SNI localhost$" "^- Description: \(TLS$v-X\.509\)" \
      '^- Status: The certificate is trusted\.'
    acc_mark mtls
    gc "$port_mtls" "gnutls mtls $v" --priority="NORMAL:-VERS-ALL:+VERS-TLS$v" \
      --x509certfile="$PKI/client.pem" --x509keyfile="$PKI/client.key"
    ok "gnutls-cli TLS $v with a client certificate: accepted, subject shown" mtls \
      "gnutls mtls $v" "$acc_re.*, $subject"
  done
  acc_mark mtls
  gc "$port_mtls" "gnutls no cert" --priority="NORMAL:-VERS-ALL:+VERS-TLS1.3"
  refused "gnutls-cli TLS 1.3 without the required client certificate: alert 116, no echo" mtls \
    "gnutls no cert" '^\*\*\* Received alert \[116\]'
else
  skip "gnutls-cli is not installed"
fi

# ---- 7. --exec ----
acc_mark execline
want_back="EXEC ME"
sc "$port_execline" "exec me" $strict
ok "--exec (a shell loop running tr per line): the line comes back upper-cased" execline \
  "EXEC ME" "$acc_re"
if $have_gnutls; then
  acc_mark exectr
  gc "$port_exectr" "exec tr"
  ok "--exec 'tr a-z A-Z' (writes at end of input; gnutls-cli half-closes): upper-cased" \
    exectr "EXEC TR" "$acc_re"
else
  skip "--exec with tr: gnutls-cli is not installed"
fi

# ---- 8. ports and addresses ----
case $port_dual in
'' | 0 | *[!0-9]*) fail "port 0: '$port_dual' printed instead of the port taken" ;;
*)
  if grep -q "^listening on 127\.0\.0\.1 port $port_dual$" "$tmp/dual.err"; then
    pass "port 0: the port taken ($port_dual) is the first line on stdout and was served above"
  else
    fail "port 0: no 'listening on 127.0.0.1 port $port_dual' in: $(cat "$tmp/dual.err")"
  fi
  ;;
esac
expect_exit 1 "listening again on 127.0.0.1:$port_dual fails" -- \
  timeout "$(waits 15)" "$TLSCTL" listen "127.0.0.1:$port_dual" $ecdsa
expect_output "... with 'cannot listen on 127.0.0.1 port $port_dual: Address already in use'" \
  "^tlsctl: listen: .*cannot listen on 127\.0\.0\.1 port $port_dual: Address already in use$"
acc_mark dual
sc "$port_dual" "still there" $strict
ok "the first listener on that port still serves" dual "still there" "$acc_re"

# bad_listen WHAT EXIT ERE ARGS...: `tlsctl listen ARGS` exits EXIT with stderr matching ERE.
bad_listen() {
  local what="$1" want="$2" re="$3"
  shift 3
  expect_exit "$want" "listen $what: exit $want" -- timeout "$(waits 15)" "$TLSCTL" listen "$@"
  expect_output "... '$re'" "$re"
}
bad_listen "on a port that is not a number" 2 "^tlsctl: invalid port 'abc'$" 127.0.0.1:abc $ecdsa
bad_listen "with an empty port" 2 "^tlsctl: invalid port ''$" 127.0.0.1: $ecdsa
bad_listen "on port 65536" 2 "^tlsctl: invalid port '65536'$" 127.0.0.1:65536 $ecdsa
bad_listen "on a host name" 1 "'localhost' is not a numeric IP address$" localhost:0 $ecdsa
bad_listen "with a key that does not match" 1 "private key does not match the certificate$" \
  127.0.0.1:0 --cert="$PKI/client.pem" --key="$PKI/server-ecdsa.key"
# out of tlsd's range: a usage error, found before tlsd is asked (it was exit 1 with tlsd's word)
bad_listen "with --handshake-timeout=5" 2 "^tlsctl: --handshake-timeout needs a number 100\.\.600000$" \
  127.0.0.1:0 $ecdsa --handshake-timeout=5
bad_listen "with --count=-1" 2 "^tlsctl: invalid --count '-1'$" 127.0.0.1:0 $ecdsa --count=-1

# wait_port NAME: until listener NAME (started with srv) printed its port or ended (10 s).
wait_port() {
  local pid
  eval "pid=\$pid_$1"
  for _ in $(tries 200); do
    [ -s "$tmp/$1.port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  eval "port_$1=\$(head -n 1 \"\$tmp/\$1.port\" 2>/dev/null)"
}
# ended_ok NAME WHAT: listener NAME (with --count) exits 0 by itself within 5 s.
ended_ok() {
  local pid rc=0
  eval "pid=\$pid_$1"
  wait_until 5 exited "$pid"
  if alive "$pid"; then
    fail "$2: still running after its connection ended"
  else
    wait "$pid" || rc=$?
    forget "$pid"
    if [ "$rc" -eq 0 ]; then pass "$2"; else fail "$2: exit $rc: $(cat "$tmp/$1.err")"; fi
  fi
}

if grep -q '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null; then
  srv v6 '[::1]:0' $ecdsa --count=1
  wait_port v6
  if [ -n "$port_v6" ]; then
    acc_mark v6
    sc "$port_v6" "over ipv6" -connect "[::1]:$port_v6" $strict -verify_hostname localhost
    ok "listen on [::1]: served over IPv6" v6 "over ipv6" '^accepted ::1 port [0-9]+: TLSv1\.3 '
    ended_ok v6 "--count=1: tlsctl listen exits 0 once its connection ended"
  else
    fail "listen on [::1]:0: $(cat "$tmp/v6.err")"
  fi
else
  skip "listen on [::1]: no IPv6 loopback here"
fi

if $is_root; then
  srv priv443 127.0.0.1:443 $ecdsa --count=1
  wait_port priv443
  if [ "$port_priv443" = 443 ]; then
    acc_mark priv443
    sc 443 "port 443" $strict -verify_hostname localhost
    ok "root listens on privileged port 443 and serves" priv443 "port 443" "$acc_re"
  elif grep -q "Address already in use" "$tmp/priv443.err"; then
    skip "root on port 443: the port is taken on this machine"
  else
    fail "root on port 443: $(cat "$tmp/priv443.err")"
  fi
  kill "$pid_priv443" 2>/dev/null
  wait "$pid_priv443" 2>/dev/null
  forget "$pid_priv443"
fi

if $as_other; then
  # Another uid: tlsctl reads the certificate and key itself, so it gets copies it can read.
  if command -v setpriv >/dev/null 2>&1; then
    as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
  else
    as_nobody="runuser -u nobody -g nogroup --"
  fi
  mkdir -p "$tmp/nobody"
  cp "$PKI/server-ecdsa-chain.pem" "$PKI/server-ecdsa.key" "$tmp/nobody/"
  chown -R 65534:65534 "$tmp/nobody"
  nobody_id="--cert=$tmp/nobody/server-ecdsa-chain.pem --key=$tmp/nobody/server-ecdsa.key"
  expect_exit 1 "uid 65534 cannot listen on port 443" -- \
    timeout "$(waits 15)" $as_nobody "$TLSCTL" listen 127.0.0.1:443 $nobody_id
  expect_output "... refused as privileged (PrivilegedPortUsers=)" \
    "^tlsctl: listen: .*port 443 is privileged: allowed only for users listed in PrivilegedPortUsers="
  # The same user on an unprivileged port: the refusal above was about the port.
  timeout "$(waits 60)" $as_nobody "$TLSCTL" listen 127.0.0.1:0 $nobody_id --count=1 \
    >"$tmp/nobody.port" 2>"$tmp/nobody.err" </dev/null &
  pid_nobody=$!
  peer_pids="$peer_pids $pid_nobody"
  wait_port nobody
  if [ -n "$port_nobody" ]; then
    acc_mark nobody
    sc "$port_nobody" "nobody" $strict
    ok "uid 65534 listens on a port >= 1024 and serves" nobody "nobody" "$acc_re"
  else
    fail "uid 65534 cannot listen on port 0: $(cat "$tmp/nobody.err")"
  fi
  kill "$pid_nobody" 2>/dev/null
  wait "$pid_nobody" 2>/dev/null
  forget "$pid_nobody"
elif ! $is_root; then
  # Not root: this user is the other user.
  expect_exit 1 "uid $(id -u) cannot listen on port 443" -- \
    timeout "$(waits 15)" "$TLSCTL" listen 127.0.0.1:443 $ecdsa
  expect_output "... refused as privileged (PrivilegedPortUsers=)" \
    "^tlsctl: listen: .*port 443 is privileged: allowed only for users listed in PrivilegedPortUsers="
  skip "port 443 as root: needs root"
else
  skip "port 443 as another user: no group nogroup for uid 65534"
fi

# ---- 9. clients that never send a ClientHello ----
# 200 silent connections to each of two listeners with a 3 s handshake timeout: "slow" has room
# for all of them (--max-pending=512); "slowdef" has the default ListenerMaxPending=128, so the
# newest connections evict the longest-silent ones. One python process holds all 400 and
# reports, per port, how many tlsd cut before their 3 s (evicted: each connection's age counted
# from its own connect) and how many at or after them. No time limit is asserted: a loaded
# machine may be late, never early.
fd_count() { find "/proc/$TLSD_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# settled_fds: tlsd's descriptor count once it stays the same for 0.2 s (up to 5 s).
settled_fds() {
  local a b
  a=$(fd_count)
  for _ in $(tries 25); do
    sleep 0.2
    b=$(fd_count)
    [ "$a" -eq "$b" ] && break
    a=$b
  done
  echo "$b"
}
log_count() { grep -c -- "$1" "$tmp/tlsd/tlsd.log"; }
timeout_line='handshake failed: no completed handshake within 3000 ms'
evicted_line="handshake failed: evicted: the listener's handshake slots are full"
base_fds=$(settled_fds)
timeout "$(waits 90)" python3 -c '
import socket, sys, time, selectors
n, limit, ports = int(sys.argv[1]), float(sys.argv[2]), [int(p) for p in sys.argv[3:]]
timeout = 3.0
socks, born = {p: [] for p in ports}, {}
for p in ports:
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", p), timeout=30)
        born[s] = time.monotonic()
        socks[p].append(s)
t0 = time.monotonic()
print("open", sum(len(s) for s in socks.values()), flush=True)
sel = selectors.DefaultSelector()
for p, ss in socks.items():
    for s in ss:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, p)
# ages at the cut, per port; tlsd starts its timer at accept, after our connect returned: an
# age below the timeout (less a little for the clock reads) is an eviction
ages, data = {p: [] for p in ports}, 0
while sum(len(a) for a in ages.values()) < n * len(ports) and time.monotonic() < t0 + limit:
    for key, _ in sel.select(timeout=max(0.0, t0 + limit - time.monotonic())):
        try:
            d = key.fileobj.recv(4096)
        except ConnectionResetError:
            d = b""
        except BlockingIOError:
            continue
        if d:
            data += len(d)
            continue
        sel.unregister(key.fileobj)
        ages[key.data].append(time.monotonic() - born[key.fileobj])
        key.fileobj.close()
for p in ports:
    a = ages[p]
    early = [x for x in a if x < timeout - 0.05]
    late = [x for x in a if x >= timeout - 0.05]
    print("cut %d %d early %d late %d first %.2f" % (p, len(a), len(early), len(late),
                                                     min(late, default=-1)))
print("data", data, flush=True)
' 200 "$(waits 60)" "$port_slow" "$port_slowdef" >"$tmp/slow.out" 2>&1 &
slow_pid=$!
peer_pids="$peer_pids $slow_pid"
wait_until 15 line_or_exit "$tmp/slow.out" '^open ' "$slow_pid"
if grep -q '^open 400$' "$tmp/slow.out"; then
  # 200 held by slow, 128 by slowdef (the others evicted): at least, and no more once settled
  wait_until 5 sh -c '[ "$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l)" -ge "$2" ]' sh \
    "$TLSD_PID" $((base_fds + 200 + 128))
  held_fds=$(settled_fds)
  if [ "$held_fds" -ge $((base_fds + 200 + 128)) ] && [ "$held_fds" -le $((base_fds + 200 + 128 + 2)) ]; then
    pass "silent connections are held by tlsd, slowdef's up to its 128 slots ($base_fds -> $held_fds descriptors)"
  else
    fail "silent connections: tlsd holds $held_fds descriptors, want $((base_fds + 328)) (baseline $base_fds + 200 + 128)"
  fi
  for l in slow slowdef; do
    acc_mark $l
    sc "$(eval "echo \$port_$l")" "served meanwhile $l" $strict -verify_hostname localhost
    ok "$l: a legitimate s_client is served while 200 silent clients wait" $l \
      "served meanwhile $l" "$acc_re"
  done
  # ordering, not time: they were served while all silent ones still waited
  if [ "$(log_count "$timeout_line")" -ne 0 ]; then
    fail "the silent connections timed out before the legitimate clients were done: the check above proves nothing"
  fi
  wait "$slow_pid"
  forget "$slow_pid"
  # cut PORT COUNT early E late L first F
  res=$(grep "^cut $port_slow " "$tmp/slow.out")
  set -- $res
  if [ "${3:-}" = 200 ] && [ "${5:-}" = 0 ]; then
    pass "slow: all 200 cut by tlsd at their 3 s handshake timeout, none before (first at ${9}s)"
  else
    fail "slow: want 200 cut at 3 s or later, none earlier: $(cat "$tmp/slow.out")"
  fi
  res=$(grep "^cut $port_slowdef " "$tmp/slow.out")
  set -- $res
  slowdef_early=${5:-}
  if [ "${3:-}" = 200 ]; then
    pass "slowdef: all 200 cut (${5} evicted early, ${7} at the timeout)"
  else
    fail "slowdef: want 200 cut: $(cat "$tmp/slow.out")"
  fi
  n_timeouts=$(log_count "$timeout_line")
  n_evicted=$(log_count "$evicted_line")
  # slowdef: each silent one over the 128 slots evicts one (72 when all arrive within the
  # timeout), and the legitimate client one more; whatever the timing, each silent connection
  # ends one way or the other, and what tlsd logs as evictions is what the clients saw cut early.
  if [ "$n_evicted" -ge 1 ] && [ "$n_evicted" -le 73 ] && [ "$n_evicted" = "$slowdef_early" ] &&
    [ $((n_timeouts + n_evicted)) -eq 400 ]; then
    pass "tlsd logs $n_timeouts handshake timeouts and $n_evicted evictions, the evictions the clients saw"
  else
    fail "tlsd logged $n_timeouts handshake timeouts and $n_evicted evictions (clients saw $slowdef_early early cuts), want 1-73 evictions, as many early cuts, 400 in all"
  fi
  after_fds=$(settled_fds)
  if [ "$after_fds" -eq "$base_fds" ]; then
    pass "tlsd's descriptor count is back to its baseline ($base_fds)"
  else
    fail "tlsd's descriptor count: $after_fds after, $base_fds before: $(ls -l "/proc/$TLSD_PID/fd")"
  fi
  acc_mark slow
  sc "$port_slow" "after the flood" $strict
  ok "the listener serves after the flood" slow "after the flood" "$acc_re"
else
  fail "could not open 400 silent connections: $(cat "$tmp/slow.out")"
  kill "$slow_pid" 2>/dev/null
  wait "$slow_pid" 2>/dev/null
  forget "$slow_pid"
fi

# ---- 10. out of descriptors ----
# With tlsd's soft RLIMIT_NOFILE at its lowest free descriptor, accept() fails with EMFILE and
# the client stays queued: tlsd must neither spin on the readable socket nor flood its log, and
# must serve the queued client once descriptors are available again.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$TLSD_PID/stat"; }
if command -v prlimit >/dev/null 2>&1; then
  soft=$(prlimit --pid "$TLSD_PID" --nofile --output=SOFT --noheadings | tr -d ' ')
  lowest=0
  while [ -e "/proc/$TLSD_PID/fd/$lowest" ]; do lowest=$((lowest + 1)); done
  log_before=$(wc -l <"$tmp/tlsd/tlsd.log")
  cpu_before=$(cpu_ticks)
  acc_mark slow
  prlimit --pid "$TLSD_PID" --nofile="$lowest:"
  sc_start "$port_slow" "no descriptors" $strict
  sleep 1
  cpu_after=$(cpu_ticks)
  log_after=$(wc -l <"$tmp/tlsd/tlsd.log")
  prlimit --pid "$TLSD_PID" --nofile="$soft:"
  sc_finish
  if [ $((cpu_after - cpu_before)) -le 20 ] && [ $((log_after - log_before)) -le 5 ]; then
    pass "EMFILE on accept: tlsd waits (CPU $((cpu_after - cpu_before)) ticks, $((log_after - log_before)) log lines in 1 s)"
  else
    fail "EMFILE on accept: tlsd spins (CPU $((cpu_after - cpu_before)) ticks, $((log_after - log_before)) log lines in 1 s): $(tail -n 3 "$tmp/tlsd/tlsd.log")"
  fi
  ok "... and serves the queued client once descriptors are back" slow "no descriptors" "$acc_re"
else
  skip "out of descriptors: prlimit(1) is not installed"
fi

# ---- the daemon ----
# Ends the listeners still running; one that ended early is a failure (and its pid, reaped by
# the shell already, is not ours to signal any more).
early=""
for name in $all_srv; do
  eval "p=\$pid_$name"
  case " $peer_pids " in *" $p "*) ;; *) continue ;; esac # waited for above
  if kill "$p" 2>/dev/null; then
    wait "$p" 2>/dev/null
  else
    early="$early $name"
  fi
  forget "$p"
done
if [ -z "$early" ]; then
  pass "every listener ran until the end"
else
  fail "listeners ended early:$early"
fi
stop_tlsd
TLSD_PID=
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd/tlsd.log" "$tmp"/*.err; then
  fail "sanitizer report in the tlsd or tlsctl logs: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp/tlsd/tlsd.log" "$tmp"/*.err | head -n 40)"
else
  pass "tlsd and tlsctl logs have no sanitizer report"
fi

finish
