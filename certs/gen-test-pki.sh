#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gen-test-pki.sh DIR -- generate a throw-away test PKI for the tlsd tests.
#
# Everything is generated fresh with the openssl(1) CLI (OpenSSL >= 3.0); no
# private key is ever committed. DIR is created if missing and gets a
# .gitignore of "*" so nothing generated can be committed by accident.
#
# Idempotent: if DIR/.complete exists, is newer than this script and is less
# than 5 days old (server-notyet.pem must stay "not yet valid"; it becomes
# valid 10 days after generation), the script exits 0 at once. Otherwise the
# whole PKI is regenerated in a staging directory, moved into DIR, and
# DIR/.complete (holding the generation time, seconds since the epoch) is
# written last. Concurrent runs on the same DIR serialise on DIR/.lock.
#
# Output is quiet: openssl's output goes to DIR/gen-test-pki.log, which is
# printed only on failure. TLSD_PKI_QUIET=1 (the default) prints nothing on
# success; TLSD_PKI_QUIET=0 prints progress and a summary line.
#
# Validity: "now" means the time the script runs. Unless stated otherwise a
# certificate is valid from yesterday (clock-skew slack) for 2 years; the
# CAs for 10 years. Serial numbers are random (openssl ca rand_serial).
# Every leaf has basicConstraints=critical,CA:FALSE, subjectKeyIdentifier and
# authorityKeyIdentifier. All files are PEM unless noted.
#
# Files in DIR:
#   ca.pem, ca.key            root CA "tlsd Test Root CA", EC P-256,
#                             basicConstraints critical CA:TRUE, keyUsage
#                             keyCertSign,cRLSign; trust anchor for the tests
#   ca.der                    ca.pem in DER
#   other-ca.pem, other-ca.key
#                             unrelated root CA "tlsd Unrelated Test CA", EC
#                             P-256; peers signed by it must fail with
#                             "unable to get local issuer certificate"
#   server-ecdsa.pem, server-ecdsa.key
#                             EC P-256 server leaf, CN=localhost, SAN
#                             DNS:localhost, IP:127.0.0.1, IP:::1, EKU
#                             serverAuth, signed by ca
#   server-ecdsa-chain.pem    server-ecdsa.pem followed by ca.pem
#   server-rsa.pem, server-rsa.key
#                             RSA-2048 server leaf, same names, signed by ca
#   server-rsa-chain.pem      server-rsa.pem followed by ca.pem
#   server-weak-rsa.pem, server-weak-rsa.key
#                             RSA-1024 server leaf, same names, signed by ca
#                             (below tlsd's minimum key size: weak-key)
#   server-wronghost.pem, server-wronghost.key
#                             EC server leaf for CN=wrong.example, SAN
#                             DNS:wrong.example only (hostname mismatch)
#   server-expired.pem, server-expired.key
#                             EC server leaf for localhost signed by ca, valid
#                             from 30 days ago until 2 days ago
#   server-notyet.pem, server-notyet.key
#                             EC server leaf for localhost signed by ca, valid
#                             from 10 days in the future for 1 year
#   server-selfsigned.pem, server-selfsigned.key
#                             self-signed EC server cert for localhost (SAN
#                             DNS:localhost, IP:127.0.0.1, IP:::1), not
#                             signed by ca
#   server-unknownca.pem, server-unknownca.key
#                             EC server leaf for localhost signed by other-ca
#   client.pem, client.key    EC P-256 client leaf, CN=tlsd-test-client, EKU
#                             clientAuth, signed by ca
#   client.der                client.pem in DER
#   client-der.key            client.key as unencrypted PKCS#8 DER
#   client-rsa.pem, client-rsa.key
#                             RSA-2048 client leaf, CN=tlsd-test-client,
#                             EKU clientAuth, signed by ca
#   client-weak-rsa.pem, client-weak-rsa.key
#                             RSA-1024 client leaf, CN=tlsd-test-client,
#                             EKU clientAuth, signed by ca (weak-key)
#   client-unknownca.pem, client-unknownca.key
#                             EC client leaf, CN=tlsd-test-client, signed by
#                             other-ca
#   client-encrypted.key      client.key as encrypted PKCS#8 ("BEGIN
#                             ENCRYPTED PRIVATE KEY"; PBES2, AES-256-CBC,
#                             PBKDF2-HMAC-SHA256)
#   client-encrypted-legacy.key
#                             client.key in traditional encrypted PEM ("BEGIN
#                             EC PRIVATE KEY" with Proc-Type/DEK-Info,
#                             AES-256-CBC)
#   client-encrypted.pass     the password of both encrypted keys:
#                             "tlsd-test-password", no trailing newline
#   key-mismatch.key          fresh EC P-256 key that does not match
#                             client.pem (cert/key mismatch test)
#   garbage.pem               BEGIN/END CERTIFICATE armour around invalid
#                             base64
#   psk.txt                   32-byte random PSK as 64 hex digits, one line
#                             (newline-terminated)
#   psk-identity.txt          "tlsd-test-client", no trailing newline
#   gen-test-pki.log          openssl output of the last generation run
#   .complete                 stamp written last; generation time (epoch s)
#   .gitignore                "*"
# Unencrypted private keys are PKCS#8 PEM ("BEGIN PRIVATE KEY").

set -u

QUIET=${TLSD_PKI_QUIET:-1}
MAX_AGE=432000 # 5 days, half the not-yet-valid margin of server-notyet.pem

die() {
  echo "gen-test-pki: $*" >&2
  exit 1
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
  die "usage: $0 DIR"
fi
script=$0
[ -f "$script" ] || die "cannot locate myself ($script)"

now=$(date -u +%s) || die "date failed"

# is_fresh: DIR/.complete exists, is newer than this script, is not too old
# and not from the future.
is_fresh() {
  [ -f "$dir/.complete" ] || return 1
  [ -n "$(find "$dir/.complete" -prune -newer "$script" 2>/dev/null)" ] ||
    return 1
  stamp=$(cat "$dir/.complete" 2>/dev/null) || return 1
  case $stamp in '' | *[!0-9]*) return 1 ;; esac
  [ $((now - stamp)) -lt "$MAX_AGE" ] && [ "$stamp" -le $((now + 60)) ]
}

dir=$1
is_fresh && exit 0

mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd) || die "cannot enter $dir"

# --- lock: serialise concurrent runs (e.g. make -j check) -------------------
lock="$dir/.lock"
have_lock=0
work=""
cleanup() {
  if [ -n "$work" ]; then
    rm -rf "$work"
    work=""
  fi
  if [ "$have_lock" = 1 ]; then
    rm -rf "$lock"
    have_lock=0
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

waited=0
while ! mkdir "$lock" 2>/dev/null; do
  # Someone else is generating; use their result once it is there.
  now=$(date -u +%s)
  is_fresh && exit 0
  owner=$(cat "$lock/pid" 2>/dev/null || :)
  if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
    rm -rf "$lock" # stale lock left by a killed run
    continue
  fi
  if [ -z "$owner" ] && [ "$waited" -ge 5 ]; then
    rm -rf "$lock" # pid never written: holder died right after mkdir
    continue
  fi
  [ "$waited" -lt 120 ] || die "timed out waiting for $lock"
  sleep 1
  waited=$((waited + 1))
done
have_lock=1
echo $$ >"$lock/pid"
now=$(date -u +%s)
is_fresh && exit 0

# --- helpers ---------------------------------------------------------------
log="$dir/gen-test-pki.log"
: >"$log" || die "cannot write $log"
start=$now

fail() {
  echo "gen-test-pki: $* (openssl output follows, also in $log)" >&2
  cat "$log" >&2
  exit 1
}

say() {
  [ "$QUIET" = 1 ] || echo "gen-test-pki: $*"
}

# run CMD...: run with all output to the log; abort and show it on failure.
run() {
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1 </dev/null || fail "failed: $*"
}

# ts SECONDS_FROM_NOW: YYYYMMDDHHMMSSZ (GNU date, BSD date fallback)
ts() {
  t=$((now + $1))
  date -u -d "@$t" +%Y%m%d%H%M%SZ 2>/dev/null ||
    date -u -r "$t" +%Y%m%d%H%M%SZ 2>/dev/null ||
    fail "date cannot format a timestamp"
}

day=86400
yesterday=$(ts $((-day)))
in2y=$(ts $((730 * day)))
in10y=$(ts $((3650 * day)))

work=$(mktemp -d "$dir/.work.XXXXXX") || die "mktemp failed"
cd "$work" || die "cannot enter $work"
mkdir newcerts
: >index.txt

cat >ca.cnf <<'EOF'
[ ca ]
default_ca = tlsd_ca

[ tlsd_ca ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = no

[ policy_any ]
commonName = supplied
organizationName = optional

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = placeholder

[ ext_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_server_ec ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = @san_localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_server_rsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @san_localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_server_wronghost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ san_localhost ]
DNS.1 = localhost
IP.1 = 127.0.0.1
IP.2 = ::1
EOF

genkey_ec() {
  run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -pkeyopt ec_param_enc:named_curve -out "$1"
}

# genkey_rsa FILE [BITS]: 2048 unless BITS is given
genkey_rsa() {
  run openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2:-2048}" -out "$1"
}

# issue NAME CN EXT ISSUER START END: NAME.key must exist; writes NAME.pem.
# ISSUER is "self" for a self-signed certificate, else the issuer's basename.
issue() {
  run openssl req -new -config ca.cnf -key "$1.key" -subj "/CN=$2" \
    -out "$1.csr"
  if [ "$4" = self ]; then
    set -- "$@" -selfsign -keyfile "$1.key"
  else
    set -- "$@" -cert "$4.pem" -keyfile "$4.key"
  fi
  name=$1 ext=$3 startdate=$5 enddate=$6
  shift 6
  run openssl ca -batch -notext -config ca.cnf -extensions "$ext" \
    -startdate "$startdate" -enddate "$enddate" -in "$name.csr" \
    -out "$name.pem" "$@"
}

# --- CAs -------------------------------------------------------------------
say "generating CAs"
genkey_ec ca.key
issue ca "tlsd Test Root CA" ext_ca self "$yesterday" "$in10y"
genkey_ec other-ca.key
issue other-ca "tlsd Unrelated Test CA" ext_ca self "$yesterday" "$in10y"

# --- servers ---------------------------------------------------------------
say "generating server certificates"
genkey_ec server-ecdsa.key
issue server-ecdsa localhost ext_server_ec ca "$yesterday" "$in2y"
genkey_rsa server-rsa.key
issue server-rsa localhost ext_server_rsa ca "$yesterday" "$in2y"
genkey_rsa server-weak-rsa.key 1024
issue server-weak-rsa localhost ext_server_rsa ca "$yesterday" "$in2y"
genkey_ec server-wronghost.key
issue server-wronghost wrong.example ext_server_wronghost ca \
  "$yesterday" "$in2y"
genkey_ec server-expired.key
issue server-expired localhost ext_server_ec ca \
  "$(ts $((-30 * day)))" "$(ts $((-2 * day)))"
genkey_ec server-notyet.key
issue server-notyet localhost ext_server_ec ca \
  "$(ts $((10 * day)))" "$(ts $((375 * day)))"
genkey_ec server-selfsigned.key
issue server-selfsigned localhost ext_server_ec self "$yesterday" "$in2y"
genkey_ec server-unknownca.key
issue server-unknownca localhost ext_server_ec other-ca "$yesterday" "$in2y"
cat server-ecdsa.pem ca.pem >server-ecdsa-chain.pem || fail "cat failed"
cat server-rsa.pem ca.pem >server-rsa-chain.pem || fail "cat failed"

# --- clients ---------------------------------------------------------------
say "generating client certificates and keys"
genkey_ec client.key
issue client tlsd-test-client ext_client ca "$yesterday" "$in2y"
genkey_rsa client-rsa.key
issue client-rsa tlsd-test-client ext_client ca "$yesterday" "$in2y"
genkey_rsa client-weak-rsa.key 1024
issue client-weak-rsa tlsd-test-client ext_client ca "$yesterday" "$in2y"
genkey_ec client-unknownca.key
issue client-unknownca tlsd-test-client ext_client other-ca \
  "$yesterday" "$in2y"

printf '%s' tlsd-test-password >client-encrypted.pass || fail "write failed"
run openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -in client.key -passout file:client-encrypted.pass \
  -out client-encrypted.key
# "openssl ec" writes the traditional (SEC1) PEM form with Proc-Type/DEK-Info.
run openssl ec -aes256 -in client.key -passout file:client-encrypted.pass \
  -out client-encrypted-legacy.key
grep -q '^DEK-Info: AES-256-CBC,' client-encrypted-legacy.key ||
  fail "client-encrypted-legacy.key is not traditional encrypted PEM"

genkey_ec key-mismatch.key

# --- DER copies --------------------------------------------------------------
run openssl x509 -in ca.pem -outform DER -out ca.der
run openssl x509 -in client.pem -outform DER -out client.der
run openssl pkcs8 -topk8 -nocrypt -in client.key -outform DER \
  -out client-der.key

# --- misc --------------------------------------------------------------------
cat >garbage.pem <<'EOF' || fail "write failed"
-----BEGIN CERTIFICATE-----
MIIB!!this*is*not~base64@@at#all$$and%%must^^not&&parse==
%%%%garbage%%%%garbage%%%%garbage%%%%garbage%%%%garbage%%%%
-----END CERTIFICATE-----
EOF
run openssl rand -hex -out psk.txt 32
printf '%s' tlsd-test-client >psk-identity.txt || fail "write failed"

# --- install -----------------------------------------------------------------
files="ca.pem ca.key ca.der other-ca.pem other-ca.key
  server-ecdsa.pem server-ecdsa.key server-ecdsa-chain.pem
  server-rsa.pem server-rsa.key server-rsa-chain.pem
  server-weak-rsa.pem server-weak-rsa.key
  server-wronghost.pem server-wronghost.key
  server-expired.pem server-expired.key server-notyet.pem server-notyet.key
  server-selfsigned.pem server-selfsigned.key
  server-unknownca.pem server-unknownca.key
  client.pem client.key client.der client-der.key
  client-rsa.pem client-rsa.key client-weak-rsa.pem client-weak-rsa.key
  client-unknownca.pem client-unknownca.key
  client-encrypted.key client-encrypted-legacy.key client-encrypted.pass
  key-mismatch.key garbage.pem psk.txt psk-identity.txt"

rm -f "$dir/.complete"
echo '*' >"$dir/.gitignore" || fail "cannot write $dir/.gitignore"
for f in $files; do
  [ -s "$f" ] || fail "$f was not generated"
  mv -f "$f" "$dir/$f" || fail "cannot move $f into $dir"
done
cd "$dir" || fail "cannot enter $dir"
if ! echo "$start" >"$dir/.complete.tmp" ||
  ! mv -f "$dir/.complete.tmp" "$dir/.complete"; then
  fail "cannot write $dir/.complete"
fi
cleanup

if [ "$QUIET" != 1 ]; then
  end=$(date -u +%s)
  echo "gen-test-pki: test PKI generated in $dir ($((end - start))s)"
fi
exit 0
