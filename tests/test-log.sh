#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Strings from clients and remote peers cannot forge log lines: a host name with a newline
# (tlsctl connect) and a peer's SNI with a newline and bytes that are not UTF-8 (openssl
# s_client -servername against a tlsctl listener with two identities, whose choice tlsd logs)
# reach tlsd's log escaped, on one line each. (dash's echo, which pass and fail use, would turn
# an escaped "\n" back into a newline: passes do not print the log lines.)
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools log openssl
test_pki

tmp=$(mktemp -d /tmp/tlsd-log.XXXXXX)
listen_pid=""
cleanup() {
  [ -z "$listen_pid" ] || kill "$listen_pid" 2>/dev/null
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

nl='
'
marker="forged-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
start_tlsd "$tmp/tlsd" || finish

# ---- a client's host name ----

"$TLSCTL" connect "nosuch.invalid${nl}tlsd[err]: $marker-host:443" </dev/null >"$tmp/connect.out" 2>&1
grep -q 'could not be resolved' "$tmp/connect.out" &&
  pass "tlsctl connect to a host name with a newline fails to resolve" ||
  fail "tlsctl connect to a host name with a newline: $(cat "$tmp/connect.out")"

# ---- a peer's SNI ----

port=$(free_port)
"$TLSCTL" listen "127.0.0.1:$port" --cert="$PKI/server-ecdsa-chain.pem" \
  --key="$PKI/server-ecdsa.key" --cert="$PKI/server-rsa-chain.pem" --key="$PKI/server-rsa.key" \
  --count=1 --quiet >"$tmp/listen.out" 2>&1 &
listen_pid=$!
if wait_for_port "$port"; then
  sni=$(printf 'a\ntlsd[err]: %s-sni\377\376' "$marker")
  out=$(timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername "$sni" </dev/null 2>&1)
  case $out in
  *"Verify return code"*) pass "openssl s_client with a newline in its SNI: handshake done" ;;
  *) fail "openssl s_client with a newline in its SNI: $out" ;;
  esac
else
  fail "tlsctl listen did not start: $(cat "$tmp/listen.out")"
fi
wait "$listen_pid" 2>/dev/null
listen_pid=""

# ---- the log ----

stop_tlsd
log="$tmp/tlsd/tlsd.log"
forged=$(grep -a "^tlsd\[err\]: $marker" "$log")
if [ -z "$forged" ]; then
  pass "no log line forged by a host name or an SNI"
else
  fail "log lines forged: $forged"
fi
for what in host sni; do
  line=$(grep -a "$marker-$what" "$log")
  case $line in
  *'\ntlsd[err]: '"$marker-$what"*) pass "the $what is in the log, escaped, on one line" ;;
  *) fail "the $what is not in the log as one escaped line: '$line'" ;;
  esac
done
case $(grep -a "$marker-sni" "$log") in
*'\xff\xfe'*) pass "the SNI's bytes that are not UTF-8 are escaped" ;;
*) fail "the SNI's bytes that are not UTF-8 are not escaped: $(grep -a "$marker-sni" "$log")" ;;
esac
bad=$(grep -av '^tlsd\[[a-z]*\]: ' "$log" | grep -av '^ *$' | head -n 5)
if [ -z "$bad" ]; then
  pass "every log line is a tlsd line"
else
  fail "log lines that tlsd did not start: $bad"
fi
finish
