#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# testssl.sh (Debian's testssl.sh package) against a tlsd listener with the daemon's defaults,
# once with an RSA-2048 and once with an ECDSA P-256 identity: protocols, cipher suites and their
# order, server defaults, vulnerabilities (renegotiation, BEAST, ROBOT, ...) and the browser
# simulation. Every finding of severity LOW or worse fails the test; the findings are printed
# with testssl's summary.
#
# What is tlsd's to answer for is tested, not the test PKI: the identities are leaves made here
# with what a real certificate has (a CRL distribution point, 365 days; no OCSP responder, which
# would make testssl ask for OCSP stapling, a feature tlsd does not have),
# signed by the test CA, which testssl is given (--add-ca). The app behind the listener is
# tlsctl's echo, not an HTTP server, so testssl's HTTP header checks (HSTS and the like, which
# are the app's business) do not apply. DNS is not asked (--nodns=min): a CAA record is the
# domain's business, and there is no domain here.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools testssl testssl openssl python3
test_pki

tmp=$(mktemp -d /tmp/tlsd-testssl.XXXXXX)
listener_pids=""
cleanup() {
  for p in $listener_pids; do kill "$p" 2>/dev/null; done
  for p in $listener_pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# leaf NAME KEYGEN-ARGS...: a server certificate for 127.0.0.1 and localhost signed by the test
# CA, in $tmp/NAME-chain.pem (leaf, CA) and $tmp/NAME.key.
leaf() {
  local name=$1
  shift
  cat >"$tmp/$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://127.0.0.1:9/test-ca.crl
EOF
  openssl req -new -newkey "$@" -nodes -keyout "$tmp/$name.key" -subj "/CN=localhost" \
    -out "$tmp/$name.csr" 2>>"$tmp/openssl.log" &&
    openssl x509 -req -in "$tmp/$name.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
      -CAcreateserial -CAserial "$tmp/ca.srl" -days 365 -sha256 -extfile "$tmp/$name.ext" \
      -out "$tmp/$name.pem" 2>>"$tmp/openssl.log" &&
    cat "$tmp/$name.pem" "$PKI/ca.pem" >"$tmp/$name-chain.pem"
}
if ! leaf rsa rsa:2048 || ! leaf ecdsa ec -pkeyopt ec_paramgen_curve:P-256; then
  fail "cannot make the test certificates: $(cat "$tmp/openssl.log")"
  finish
fi

start_tlsd "$tmp/tlsd" || finish

# listener NAME ARGS...: `tlsctl listen 127.0.0.1:0 ARGS` (echo); its port in $port.
listener() {
  local name=$1
  shift
  port=""
  "$TLSCTL" listen 127.0.0.1:0 --quiet "$@" >"$tmp/$name.port" 2>"$tmp/$name.err" </dev/null &
  listener_pids="$listener_pids $!"
  for _ in $(tries 200); do
    port=$(head -n 1 "$tmp/$name.port" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "listener $name did not start: $(cat "$tmp/$name.err")"
}

# scan NAME: testssl against 127.0.0.1:$port; its findings of severity LOW or worse fail.
scan() {
  local name=$1 rc
  timeout 600 testssl --quiet --color 0 --warnings off --nodns min --add-ca "$PKI/ca.pem" \
    --jsonfile "$tmp/$name.json" "127.0.0.1:$port" >"$tmp/$name.txt" 2>&1 </dev/null &&
    rc=0 || rc=$?
  echo "# ---- testssl against the $name listener (exit $rc) ----"
  sed -e 's/^/# /' "$tmp/$name.txt"
  if [ ! -s "$tmp/$name.json" ]; then
    fail "$name: testssl wrote no findings (exit $rc)"
    return
  fi
  # One line per finding of severity LOW, MEDIUM, HIGH or CRITICAL: "ID SEVERITY finding".
  python3 - "$tmp/$name.json" >"$tmp/$name.bad" <<'EOF' || { fail "$name: cannot read testssl's JSON"; return; }
import json, sys
bad = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
for f in json.load(open(sys.argv[1])):
    if f.get("severity") in bad:
        print(f.get("id"), f.get("severity"), f.get("finding"))
EOF
  n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/$name.json")
  if [ -s "$tmp/$name.bad" ]; then
    while IFS= read -r line; do fail "$name: testssl: $line"; done <"$tmp/$name.bad"
  elif [ "${n:-0}" -lt 50 ]; then
    fail "$name: testssl reported only ${n:-0} results: it did not scan (exit $rc)"
  else
    pass "$name: testssl's $n results have none of severity LOW or worse"
  fi
}

listener rsa --cert="$tmp/rsa-chain.pem" --key="$tmp/rsa.key"
[ -n "$port" ] && scan rsa
listener ecdsa --cert="$tmp/ecdsa-chain.pem" --key="$tmp/ecdsa.key"
[ -n "$port" ] && scan ecdsa

if ! kill -0 "$TLSD_PID" 2>/dev/null; then
  fail "tlsd died during the scans: $(tail -n 20 "$TLSD_LOG")"
else
  stop_tlsd
fi
finish
