#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tlsfuzzer against tlsd: one tlsd, listeners with an RSA-2048 and an ECDSA P-256 identity (the
# test PKI, daemon defaults otherwise) in front of a tiny HTTP app (`tlsctl listen --exec`, which
# answers "HTTP/1.0 200 OK" and "hello" to any request and closes), and tlsfuzzer's scripts
# pointed at them: every TLS 1.3 script that applies to a server with tlsd's policy, and the TLS
# 1.2 record-layer, ClientHello, extension, ECDHE and alert scripts. Each probe sends something
# (mostly malformed) and checks the answer: the alert the RFC names, or a completed handshake.
#
# The table below says which script runs against which identity with which arguments, which
# scripts and probes are excluded and why (only for what tlsd refuses on purpose: TLS <= 1.1,
# CBC suites, static RSA, FFDHE in TLS 1.3, psk_ke, groups and signature schemes outside its
# policy, and features tlsd does not serve), and which probes are expected failures with their
# cause (never one where bad input is accepted: those are bugs, fixed). It prints one table per
# identity: script, probes, pass, fail, expected-fail. A script that fails a probe, passes an
# expected failure, or ends without its summary fails the test; tlsd must survive it all (and
# exit cleanly under the sanitizers).
#
# tlsfuzzer is a test input, not part of tlsd: ../shared/tools/tlsfuzzer.tar.xz beside the
# source tree (tlsfuzzer and tlslite-ng, pure Python), run with Debian's python3 and its
# python3-ecdsa (scripts/setup installs it); without either the test SKIPs saying so.
#
# Time: scripts with thousands of random probes run a sample of them (-n); with
# TLSD_TLSFUZZER_FULL=1 (`make check-tlsfuzzer-full`) each runs at its own default size instead
# (test-lengths 1000, keyupdate 60, finished 40, ...). Every probe (-n 0) would take hours:
# test-lengths alone ran over 10 minutes without finishing.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

PY=/usr/bin/python3
tarball="$top_srcdir/../shared/tools/tlsfuzzer.tar.xz"
full=${TLSD_TLSFUZZER_FULL:-0}
# The scripts that run a random sample of their probes (-n) draw it from Python's random module:
# seeded per script and listener, so a run is repeatable (TLSD_TLSFUZZER_SEED= for another draw;
# the full runs draw nothing).
seed=${TLSD_TLSFUZZER_SEED:-tlsd}
# shellcheck disable=SC2016 # Python, not shell
seeded='import random, runpy, sys
random.seed(sys.argv[1])
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")'

if [ ! -r "$tarball" ]; then
  skip "tlsfuzzer: $tarball is not there (the tlsfuzzer and tlslite-ng sources, see shared/tools/README.md)"
  finish
fi
if ! "$PY" -c 'import ecdsa' 2>/dev/null; then
  skip "tlsfuzzer: $PY cannot import ecdsa (scripts/setup installs python3-ecdsa)"
  finish
fi
need_tools tlsfuzzer xz
# The expectations are those of the wolfSSL that scripts/setup builds from 5.9 on, with its
# server fixes (scripts/wolfssl/tls13-server-fixes.patch); trixie's 5.7.2 has none of them.
wolfssl=$("$TLSD" --version | sed -n 's/.*wolfSSL \([0-9][0-9.]*\).*/\1/p')
case $wolfssl in
'' | [0-4].* | 5.[0-8].* | 5.[0-8])
  skip "tlsfuzzer: wolfSSL ${wolfssl:-of unknown version} is older than 5.9, which scripts/setup patches for these RFC 8446 answers"
  finish
  ;;
esac
test_pki

tmp=$(mktemp -d /tmp/tlsd-tlsfuzzer.XXXXXX)
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

if ! tar -xJf "$tarball" -C "$tmp" || [ ! -d "$tmp/tlsfuzzer/scripts" ]; then
  fail "cannot unpack $tarball"
  finish
fi
fuzzer="$tmp/tlsfuzzer"

# The app: any request (its header, up to the empty line) gets a response, then the connection
# closes (tlsd sends close_notify); a client that closes without asking gets nothing. Read to the
# end of the request as a web server does: closing on a client that is still sending its request
# makes the client's next write fail.
cat >"$tmp/http.sh" <<'EOF'
IFS= read -r line || exit 0
case $line in
'' | "$(printf '\r')") ;;
*) sed -n -e '/^\r\{0,1\}$/q' ;;
esac
printf 'HTTP/1.0 200 OK\r\n\r\nhello'
EOF

start_tlsd "$tmp/tlsd" || finish

# listener NAME ARGS...: `tlsctl listen 127.0.0.1:0 ARGS`; its port in $port_NAME.
listener() {
  local name=$1 port=""
  shift
  "$TLSCTL" listen 127.0.0.1:0 --quiet "$@" >"$tmp/$name.port" 2>"$tmp/$name.err" </dev/null &
  listener_pids="$listener_pids $!"
  for _ in $(tries 200); do
    port=$(head -n 1 "$tmp/$name.port" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    fail "listener $name did not start: $(cat "$tmp/$name.err")"
    finish
  fi
  eval "port_$name=\$port"
}

rsa="--cert=$PKI/server-rsa-chain.pem --key=$PKI/server-rsa.key"
ecdsa="--cert=$PKI/server-ecdsa-chain.pem --key=$PKI/server-ecdsa.key"
# shellcheck disable=SC2086 # option lists
{
  listener rsa $rsa --exec="sh $tmp/http.sh"
  listener ecdsa $ecdsa --exec="sh $tmp/http.sh"
  # tlsctl's echo: the scripts that check what comes back against what they sent
  listener rsaecho $rsa
  listener ecdsaecho $ecdsa
  # tlsfuzzer has no ML-KEM (its kyber-py is not in Debian): a script that needs the server's
  # first choice of groups to be one it can make a key share for gets tlsd's groups without it
  listener rsanopq $rsa --groups=X25519:P-256:P-384:P-521 --exec="sh $tmp/http.sh"
  # the AES-CCM suites are allowed, not default: test-tls13-symetric-ciphers tries them all
  listener rsaccm $rsa --exec="sh $tmp/http.sh" \
    --ciphers=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256
}

# ---- the selection --------------------------------------------------------------------------
#
# One directive a line, fields separated by "|":
#   run|IDS|SCRIPT|ARGS|SAMPLE   run SCRIPT against each listener of IDS (rsa, ecdsa, rsaecho,
#                                 ...: the identity is the name without "echo"/"nopq") with ARGS
#                                 (split at blanks; @SUITE@ is the TLS 1.2 ECDHE AES-128-GCM
#                                 suite of the identity, @SIG@ its TLS 1.3 signature scheme);
#                                 SAMPLE (e.g. "-n 40") is added unless TLSD_TLSFUZZER_FULL=1
#   script|SCRIPT|WHY            a script not run, and why
#   exclude|ID|SCRIPT|PROBE|WHY  a probe not run (-e) against ID (* for all), and why
#   xfail|ID|SCRIPT|PROBE|TEXT|CAUSE  a probe expected to fail (-x) with TEXT in its error (-X);
#                                 CAUSE says why it is out of reach, and that no bad input is
#                                 accepted

# Shared reasons.
no_cbc="CBC suites: tlsd offers AEAD suites only (ECDHE-CBC only with the legacy opt-in)"
no_rsakx="static RSA key exchange: tlsd offers forward-secret suites only"
no_old="TLS <= 1.1 and SSLv2/SSLv3: tlsd speaks TLS 1.2 and 1.3 only"
no_ffdhe="FFDHE: tlsd offers none (DHE suites and TLS 1.3 FFDHE groups are refused)"
no_x448="X448: not in tlsd's groups (X25519MLKEM768, X25519, P-256, P-384, P-521)"
no_renego="renegotiation: tlsd refuses it (the script needs a server that renegotiates)"

table="$tmp/table"
cat >"$table" <<'EOF'
# ---- TLS 1.3 ----
run|rsa ecdsa|test-tls13-conversation||
run|rsa|test-tls13-ccs||
run|rsa|test-tls13-0rtt-garbage||
run|rsa ecdsa|test-tls13-connection-abort||-n 40
run|rsa|test-tls13-count-tickets|-t 1|
run|rsa|test-tls13-crfg-curves||
run|rsa ecdsa|test-tls13-ecdhe-curves||
run|ecdsa|test-tls13-ecdsa-support||
run|rsa|test-tls13-empty-alert||
run|rsa|test-tls13-finished||-n 20
run|rsa|test-tls13-finished-plaintext||
run|rsa|test-tls13-hrr||
run|rsa|test-tls13-invalid-ciphers||-n 20
run|rsa|test-tls13-keyshare-omitted||
run|rsa|test-tls13-keyupdate||-n 30
# --supgroup: tlsd (wolfSSL) names its groups in EncryptedExtensions when the client's share is
# not its first choice (RFC 8446 4.2.7). --exc: ids the script still calls unassigned but wolfSSL
# parses, connection_id (54, RFC 9146) and encrypted_client_hello (0xfe0d): empty, they are
# malformed (decode_error is right).
run|rsa|test-tls13-large-number-of-extensions|--supgroup --exc 54 --exc 65037|-n 6
run|rsa|test-tls13-legacy-version||
run|rsaecho|test-tls13-lengths||-n 40
run|rsa|test-tls13-multiple-ccs-messages||
run|rsanopq|test-tls13-no-unknown-groups|--groups x25519,secp256r1,secp384r1,secp521r1|-n 40
run|rsa|test-tls13-nociphers||
run|rsa|test-tls13-obsolete-curves|--relaxed -a handshake_failure|-n 40
run|rsa|test-tls13-pkcs-signature||
run|rsa|test-tls13-record-layer-limits||-n 20
run|rsa|test-tls13-record-padding||
run|rsa|test-tls13-rsa-signatures||
run|rsa|test-tls13-serverhello-random|--repeat 4|
run|rsa|test-tls13-session-resumption|--tls1.2-cipher TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256|
run|rsa|test-tls13-shuffled-extentions|--exc 54 --exc 65037|-n 6
run|rsa|test-tls13-signature-algorithms||-n 30
run|rsaccm|test-tls13-symetric-ciphers||-n 30
run|rsa|test-tls13-unencrypted-alert||
run|rsa|test-tls13-unrecognised-groups||-n 20
run|rsa|test-tls13-version-negotiation|-d -C @SUITE@|-n 40
run|rsa|test-tls13-zero-content-type||
run|rsa|test-tls13-zero-length-data||
script|test-tls13-minerva|a timing side-channel measurement, not a conformance check
# Scripts run against the RSA identity only offer RSA signature schemes in their ClientHellos.
# --- expected failures: out of reach, with the cause; none accepts bad input ---
xfail|*|test-tls13-0rtt-garbage|undecryptable record later in handshake together with early_data|Timeout|wolfSSL skips records that fail to decrypt while 0-RTT could still arrive (up to 16 KiB) and cannot tell them from early data; it ends the handshake once over that, nothing is decrypted or delivered
xfail|*|test-tls13-0rtt-garbage|handshake with invalid 0-RTT and HRR|unexpected_message|after a HelloRetryRequest wolfSSL no longer skips the client's 0-RTT records (RFC 8446 4.2.10) and ends the handshake with unexpected_message; none is accepted
xfail|*|test-tls13-0rtt-garbage|handshake with 0-RTT, HRR and early data after 2nd Client Hello|unexpected_message|the same: early data after a HelloRetryRequest is refused with unexpected_message, not skipped
xfail|*|test-tls13-unencrypted-alert|unencrypted Alert|unexpected_message|wolfSSL answers a plaintext alert that arrives where records must be protected with unexpected_message and closes; the script wants the close alone
xfail|*|test-renegotiation-disabled|try insecure (legacy) renegotiation with incomplete GET|no_renegotiation|a renegotiation without renegotiation_info is refused with a fatal unexpected_message (RFC 5746 3.7: abort) instead of the warning no_renegotiation the script wants; it is refused either way
xfail|*|test-renegotiation-disabled|try insecure (legacy) renegotiation with GET after 2nd CH|no_renegotiation|the same
xfail|ecdsa|test-ecdsa-sig-flexibility|connect with sha1+ecdsa only|handshake_failure|wolfSSL signs TLS 1.2 key exchanges with SHA-256 or stronger: a client that offers only SHA-1 gets handshake_failure, nothing weak is signed
xfail|ecdsa|test-ecdsa-sig-flexibility|connect with sha224+ecdsa only|handshake_failure|the same for SHA-224
# --- probes excluded (what tlsd refuses on purpose) ---
exclude|*|test-tls13-finished|padding - cipher TLS_AES_128_GCM_SHA256, pad_byte 0, pad_left 0, pad_right 16777183|a 16 MiB Finished: after refusing a client tlsd reads and drops at most 1 MiB (or 2 s) of what it still sends, a limit on what a refused client can make it do; the client's later writes then fail before it reads the alert
exclude|*|test-tls13-finished|padding - cipher TLS_AES_256_GCM_SHA384, pad_byte 0, pad_left 0, pad_right 16777167|the same (16 MiB)
exclude|*|test-tls13-crfg-curves|sanity x448 with compression uncompressed|$no_x448
exclude|*|test-tls13-crfg-curves|sanity x448 with compression ansiX962_compressed_prime|$no_x448
exclude|*|test-tls13-crfg-curves|sanity x448 with compression ansiX962_compressed_char2|$no_x448
exclude|*|test-tls13-crfg-curves|all zero x448 key share|$no_x448
exclude|*|test-tls13-crfg-curves|x448 key share of "1"|$no_x448
exclude|*|test-tls13-crfg-curves|too small x448 key share|$no_x448
exclude|*|test-tls13-crfg-curves|too big x448 key share|$no_x448
exclude|*|test-tls13-crfg-curves|empty x448 key share|$no_x448
exclude|*|test-tls13-ecdhe-curves|sanity - x448|$no_x448
exclude|*|test-tls13-ecdhe-curves|x448 - right 0-padded key_share|$no_x448
exclude|*|test-tls13-ecdhe-curves|x448 - right-truncated key_share|$no_x448
exclude|*|test-tls13-ecdhe-curves|x448 - key share from other curve|$no_x448
exclude|*|test-tls13-ecdhe-curves|x448 - point at infinity|$no_x448
exclude|*|test-tls13-obsolete-curves|x448 in supported_groups and key_share|$no_x448
exclude|*|test-tls13-serverhello-random|TLS 1.3 with x448|$no_x448
exclude|*|test-tls13-serverhello-random|TLS 1.3 with ffdhe2048|$no_ffdhe
exclude|*|test-tls13-serverhello-random|TLS 1.3 with ffdhe3072|$no_ffdhe
exclude|ecdsa|test-tls13-ecdsa-support|Test with ecdsa_secp384r1_sha384|the ECDSA identity is P-256, which TLS 1.3 signs with ecdsa_secp256r1_sha256 only: handshake_failure is right
exclude|ecdsa|test-tls13-ecdsa-support|Test with ecdsa_secp521r1_sha512|the ECDSA identity is P-256 (as above)
exclude|ecdsa|test-tls13-ecdsa-support|Test with ecdsa_brainpoolP256r1tls13_sha256|the ECDSA identity is P-256 on secp256r1 (as above)
exclude|ecdsa|test-tls13-ecdsa-support|Test with ecdsa_brainpoolP384r1tls13_sha384|the ECDSA identity is P-256 (as above)
exclude|ecdsa|test-tls13-ecdsa-support|Test with ecdsa_brainpoolP512r1tls13_sha512|the ECDSA identity is P-256 (as above)
exclude|*|test-tls13-0rtt-garbage|handshake with invalid 0-RTT and unknown version (downgrade to TLS 1.2)|$no_cbc (its TLS 1.2 suites)
exclude|*|test-tls13-version-negotiation|fallback from TLS 1.8 to 1.1|$no_old
exclude|*|test-tls13-unrecognised-groups|only unknown key_share from FFDHE range, key_share of size 64 + ffdhe2048 in supported_groups|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|known group ffdhe2048 and unknown groups from FFDHE range, key_share of size 64|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|only unknown key_share from FFDHE range, key_share of size 128 + ffdhe2048 in supported_groups|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|known group ffdhe2048 and unknown groups from FFDHE range, key_share of size 128|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|only unknown key_share from FFDHE range, key_share of size 256 + ffdhe2048 in supported_groups|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|known group ffdhe2048 and unknown groups from FFDHE range, key_share of size 256|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|only unknown key_share from EC range, key_share of size 64 + ffdhe2048 in supported_groups|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|known group ffdhe2048 and unknown groups from EC range, key_share of size 64|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|only unknown key_share from EC range, key_share of size 128 + ffdhe2048 in supported_groups|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|known group ffdhe2048 and unknown groups from EC range, key_share of size 128|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|only unknown key_share from EC range, key_share of size 256 + ffdhe2048 in supported_groups|$no_ffdhe
exclude|*|test-tls13-unrecognised-groups|known group ffdhe2048 and unknown groups from EC range, key_share of size 256|$no_ffdhe
script|test-tls13-ffdhe-groups|$no_ffdhe
script|test-tls13-ffdhe-sanity|$no_ffdhe
script|test-tls13-dhe-shared-secret-padding|$no_ffdhe
script|test-tls13-psk_ke|psk_ke: tlsd's TLS 1.3 resumption is psk_dhe_ke only
script|test-tls13-psk_dhe_ke|needs an external PSK on the listener (tlsctl listen has no PSK option)
script|test-tls13-non-support|for servers without TLS 1.3
script|test-tls13-rsapss-signatures|needs an RSA-PSS (rsassa-pss) certificate
script|test-tls13-eddsa|needs an Ed25519/Ed448 certificate
script|test-tls13-ecdhe-brainpool-curves|brainpool groups: not in tlsd's groups
script|test-tls13-certificate-compression|certificate compression (RFC 8879): not in tlsd
script|test-tls13-certificate-request|client certificates: covered by test-interop.sh
script|test-tls13-certificate-verify|client certificates: covered by test-interop.sh
script|test-tls13-client-certificate-compression|client certificates and RFC 8879
script|test-tls13-ecdsa-in-certificate-verify|client certificates: covered by test-interop.sh
script|test-tls13-ecdsa-brainpool-in-certificate-verify|client certificates, brainpool
script|test-tls13-eddsa-in-certificate-verify|client certificates, EdDSA
script|test-tls13-mldsa-in-certificate-verify|client certificates, ML-DSA
script|test-tls13-post-handshake-auth|post-handshake client authentication: not in tlsd
script|test-tls13-keyupdate-from-server|needs a server that sends KeyUpdate on request (OpenSSL's "K")
script|test-tls13-mlkem|needs the kyber-py Python library, which Debian does not package
# ---- TLS 1.2 (ECDHE with AES-128-GCM: -d -C @SUITE@ where the script takes them) ----
run|rsa ecdsa|test-conversation|-d -C @SUITE@|
run|rsa ecdsa|test-record-layer-fragmentation|-d -C @SUITE@|
run|rsa ecdsa|test-zero-length-data|-d -C @SUITE@|
run|rsa ecdsa|test-invalid-content-type|-d -C @SUITE@|
run|rsaecho ecdsaecho|test-lengths|-d -C @SUITE@|-n 40
run|rsa ecdsa|test-invalid-client-hello-w-record-overflow|-d -C @SUITE@|-n 40
run|rsa ecdsa|test-truncating-of-client-hello|-d -C @SUITE@|-n 40
run|rsa|test-large-hello|-d -m 55|-n 12
run|rsa ecdsa|test-invalid-compression-methods|-d -C @SUITE@|
run|rsa ecdsa|test-version-numbers|-d -C @SUITE@|
run|rsa ecdsa|test-point-extension|-C @SUITE@|
run|rsa ecdsa|test-renegotiation-disabled|-d -C @SUITE@|
run|rsa ecdsa|test-ecdhe-rsa-key-exchange-with-bad-messages|-C @SUITE@|
run|rsa ecdsa|test-connection-abort|-d -C @SUITE@|-n 40
run|rsa ecdsa|test-ccs|-d -C @SUITE@|
run|rsa ecdsa|test-interleaved-CKE-with-CCS|-C @SUITE@|
run|rsa ecdsa|test-fuzzed-ciphertext|-d -C @SUITE@|-n 40
run|rsa ecdsa|test-no-mlkem-in-old-tls|-d -C @SUITE@|
run|rsa ecdsa|test-early-application-data|-d -C @SUITE@|
run|rsa ecdsa|test-hello-request-by-client|-d -C @SUITE@|
run|rsa ecdsa|test-cve-2004-0079|-C @SUITE@|
run|ecdsa|test-ecdsa-sig-flexibility|-C @SUITE@|
script|test-client-hello-max-size|$no_cbc
script|test-aes-gcm-nonces|its sanity offers CBC suites only; with -C (one suite) it sends the other AES key size's probe with no suite and fails that size's nonce check for lack of samples (GCM records are exercised by test-fuzzed-ciphertext and test-tls13-symetric-ciphers)
script|test-large-number-of-extensions|$no_cbc
script|test-extended-master-secret-extension|$no_cbc
script|test-invalid-server-name-extension|$no_cbc
script|test-alpn-negotiation|$no_cbc
script|test-no-heartbeat|$no_cbc
script|test-heartbeat|$no_cbc
script|test-fallback-scsv|$no_cbc
script|test-downgrade-protection|$no_cbc
script|test-ssl-death-alert|$no_cbc
script|test-message-skipping|$no_cbc
script|test-message-duplication|$no_cbc
script|test-session-ticket-resumption|$no_cbc
script|test-sessionID-resumption|$no_cbc
script|test-resumption-with-wrong-ciphers|$no_cbc
script|test-invalid-client-hello|$no_cbc
script|test-invalid-cipher-suites|$no_cbc
script|test-invalid-session-id|$no_cbc
script|test-invalid-version|$no_cbc
script|test-clienthello-md5|$no_cbc
script|test-extensions|$no_cbc
script|test-empty-extensions|$no_cbc
script|test-signature-algorithms|$no_cbc
script|test-sig-algs|$no_cbc
script|test-ocsp-stapling|$no_cbc
script|test-serverhello-random|$no_cbc
script|test-ecdhe-rsa-key-exchange|$no_cbc
script|test-ecdhe-padded-shared-secret|$no_cbc
script|test-ecdhe-rsa-key-share-random|$no_cbc
script|test-x25519|$no_cbc
script|test-chacha20|its probes pair ChaCha20 with static RSA and CBC suites (-C takes one suite only)
script|test-truncating-of-finished|$no_cbc
script|test-fuzzed-finished|$no_cbc
script|test-fuzzed-MAC|$no_cbc
script|test-fuzzed-padding|$no_cbc
script|test-fuzzed-plaintext|$no_cbc
script|test-atypical-padding|$no_cbc
script|test-encrypt-then-mac|$no_cbc
script|test-encrypt-then-mac-renegotiation|$no_cbc
script|test-lucky13|$no_cbc
script|test-cve-2016-2107|$no_cbc
script|test-cve-2016-6309|$no_cbc
script|test-openssl-3712|$no_cbc
script|test-unsupported-curve-fallback|$no_cbc
script|test-invalid-server-name-extension-resumption|$no_cbc
script|test-aesccm|$no_rsakx
script|test-invalid-rsa-key-exchange-messages|$no_rsakx
script|test-truncating-of-kRSA-client-key-exchange|$no_rsakx
script|test-bleichenbacher-workaround|$no_rsakx
script|test-bleichenbacher-timing-marvin|$no_rsakx
script|test-bleichenbacher-timing-pregenerate|$no_rsakx
script|test-cve-2016-7054|$no_rsakx (beside ChaCha20)
script|test-dhe-rsa-key-exchange|$no_ffdhe
script|test-dhe-rsa-key-exchange-signatures|$no_ffdhe
script|test-dhe-rsa-key-exchange-with-bad-messages|$no_ffdhe
script|test-dhe-key-share-random|$no_ffdhe
script|test-dhe-no-shared-secret-padding|$no_ffdhe
script|test-ffdhe-expected-params|$no_ffdhe
script|test-ffdhe-negotiation|$no_ffdhe
script|test-SSLv3-padding|$no_old
script|test-sslv2-connection|$no_old
script|test-sslv2-force-cipher|$no_old
script|test-sslv2-force-cipher-3des|$no_old
script|test-sslv2-force-cipher-non3des|$no_old
script|test-sslv2-force-export-cipher|$no_old
script|test-sslv2hello-protocol|$no_old
script|test-TLSv1_2-rejected-without-TLSv1_2|$no_old
script|test-export-ciphers-rejected|$no_old
script|test-legacy-renegotiation|$no_renego
script|test-renegotiation-changed-clienthello|$no_renego
script|test-interleaved-application-data-in-renegotiation|$no_renego
script|test-interleaved-application-data-and-fragmented-handshakes-in-renegotiation|$no_renego
script|test-sig-algs-renegotiation-resumption|$no_renego
script|test-record-size-limit|record_size_limit (RFC 8449): not in tlsd
script|test-certificate-malformed|client certificates: covered by test-interop.sh
script|test-certificate-request|client certificates: covered by test-interop.sh
script|test-certificate-verify|client certificates: covered by test-interop.sh
script|test-certificate-verify-malformed|client certificates: covered by test-interop.sh
script|test-certificate-verify-malformed-sig|client certificates: covered by test-interop.sh
script|test-rsa-sigs-on-certificate-verify|client certificates: covered by test-interop.sh
script|test-rsa-pss-sigs-on-certificate-verify|client certificates: covered by test-interop.sh
script|test-ecdsa-in-certificate-verify|client certificates: covered by test-interop.sh
script|test-eddsa-in-certificate-verify|client certificates: covered by test-interop.sh
script|test-dsa-in-certificate-verify|client certificates, DSA
script|test-dsa-sig-flexibility|DSA certificates
script|test-extended-master-secret-extension-with-client-cert|client certificates, CBC
script|test-renegotiation-disabled-client-cert|client certificates, CBC
script|test-client-compatibility|replays browsers' old ClientHellos: CBC, static RSA and TLS <= 1.1 first
EOF

# The table's reasons use the shared ones: expand them.
expand_reasons() {
  sed -e "s|\$no_cbc|$no_cbc|g" -e "s|\$no_rsakx|$no_rsakx|g" -e "s|\$no_old|$no_old|g" \
    -e "s|\$no_ffdhe|$no_ffdhe|g" -e "s|\$no_x448|$no_x448|g" -e "s|\$no_renego|$no_renego|g" "$1"
}
expand_reasons "$table" >"$table.x"

# ---- running ----

# Each script's output stays in the build tree for a look after the run.
logs="$top_builddir/tests/tlsfuzzer-logs"
rm -rf "$logs"
mkdir -p "$logs"
results="$tmp/results"
: >"$results"

# suite_of ID, sig_of ID: the identity's TLS 1.2 suite and TLS 1.3 signature scheme.
suite_of() {
  case $1 in
  ecdsa*) echo TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ;;
  *) echo TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ;;
  esac
}
sig_of() {
  case $1 in
  ecdsa*) echo ecdsa_secp256r1_sha256 ;;
  *) echo rsa_pss_rsae_sha256 ;;
  esac
}
ident_of() {
  case $1 in
  ecdsa*) echo ecdsa ;;
  *) echo rsa ;;
  esac
}

# run_script ID SCRIPT ARGS SAMPLE: runs one script, adds a line to $results.
run_script() {
  local id=$1 script=$2 args=$3 sample=$4 port ident log rc s_total s_pass s_fail s_xfail s_xpass
  local xfails
  eval "port=\$port_$id"
  ident=$(ident_of "$id")
  args=$(printf '%s' "$args" | sed -e "s/@SUITE@/$(suite_of "$id")/g" -e "s/@SIG@/$(sig_of "$id")/g")
  [ "$full" = 1 ] && sample=""
  log="$logs/$id-$script.log"
  # The exclusions and expected failures of this script and identity, as arguments.
  : >"$tmp/argv"
  awk -F'|' -v s="$script" -v i="$ident" '
    $1 == "exclude" && $3 == s && ($2 == "*" || $2 == i) { print "-e"; print $4 }
    $1 == "xfail" && $3 == s && ($2 == "*" || $2 == i) {
      print "-x"; print $4; if ($5 != "") { print "-X"; print $5 } }' "$table.x" >"$tmp/argv"
  xfails=$(awk -F'|' -v s="$script" -v i="$ident" \
    '$1 == "xfail" && $3 == s && ($2 == "*" || $2 == i)' "$table.x" | wc -l)
  # shellcheck disable=SC2086 # ARGS and SAMPLE are word lists
  (
    set --
    while IFS= read -r a; do set -- "$@" "$a"; done <"$tmp/argv"
    cd "$fuzzer" &&
      PYTHONPATH="$fuzzer:$tmp/tlslite-ng" timeout 600 "$PY" -c "$seeded" \
        "$seed/$script/$id" "scripts/$script.py" -h 127.0.0.1 -p "$port" $args $sample "$@"
  ) >"$log" 2>&1 </dev/null && rc=0 || rc=$?
  s_total=$(sed -n 's/^TOTAL: //p' "$log")
  s_pass=$(sed -n 's/^PASS: //p' "$log")
  s_fail=$(sed -n 's/^FAIL: //p' "$log")
  s_xfail=$(sed -n 's/^XFAIL: //p' "$log")
  s_xpass=$(sed -n 's/^XPASS: //p' "$log")
  printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$ident" "$script" "${s_total:-?}" "${s_pass:-?}" \
    "${s_fail:-?}" "${s_xfail:-?}" "$xfails" "$rc" >>"$results"
  if [ -z "$s_total" ]; then
    fail "$script ($id): ended (exit $rc) without a summary: $(tail -n 5 "$log")"
  elif [ "$s_fail" != 0 ] || [ "${s_xpass:-0}" != 0 ] || [ "$rc" -ne 0 ]; then
    fail "$script ($id): $s_fail failed, ${s_xpass:-0} passed unexpectedly (exit $rc):"
    sed -n '/^FAILED:/,/^=/p; /^XPASSED:/,/^=/p' "$log" | head -n 40
    awk '/^[^ \t].* \.\.\.$/ { name = $0 } /^AssertionError|Error: / { if (name != "") print "  " name " " $0; name = "" }' \
      "$log" | head -n 20
  else
    pass "$script ($id): $s_pass passed, $s_xfail expected failures of $s_total"
  fi
}

while IFS='|' read -r kind a b c d; do
  case $kind in
  run)
    for id in $a; do run_script "$id" "$b" "$c" "$d"; done
    ;;
  esac
done <"$table.x"

# ---- the report ----

# The expected failures with their causes, once.
echo
echo "# expected failures (probe: cause)"
awk -F'|' '$1 == "xfail" { printf "#   %s [%s] %s: %s\n", $3, $2, $4, $6 }' "$table.x"
echo "# scripts not run"
awk -F'|' '$1 == "script" { printf "#   %s: %s\n", $2, $3 }' "$table.x"
echo "# probes excluded"
awk -F'|' '$1 == "exclude" { printf "#   %s [%s] %s: %s\n", $3, $2, $4, $5 }' "$table.x"
for ident in rsa ecdsa; do
  echo
  echo "# tlsfuzzer against tlsd, $ident identity"
  printf '# %-48s %7s %6s %5s %8s\n' script probes pass fail xfail
  awk -F'|' -v i="$ident" '$1 == i {
      printf "# %-48s %7s %6s %5s %8s\n", $2, $3, $4, $5, $6
      t += $3; p += $4; f += $5; x += $6 }
    END { printf "# %-48s %7d %6d %5d %8d\n", "total", t, p, f, x }' "$results"
done
echo

if ! kill -0 "$TLSD_PID" 2>/dev/null; then
  fail "tlsd died during the run: $(tail -n 20 "$TLSD_LOG")"
else
  stop_tlsd
fi
finish
