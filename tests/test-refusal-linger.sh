#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A refused client learns why even while it is still sending: a TLS listener answers a
# ClientHello with no cipher suite in common with handshake_failure, and the client, which keeps
# sending records for a while after its ClientHello (as tlsfuzzer does with a long message),
# must be able to write all of them and then read that alert and a clean end of the stream.
# Closing the socket right after the alert answers the later records with a reset: the client's
# next write fails (EPIPE) or its read does (ECONNRESET), before it has read the alert.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools refusal python3
test_pki

tmp=$(mktemp -d /tmp/tlsd-linger.XXXXXX)
listener_pid=""
cleanup() {
  [ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null
  [ -z "$listener_pid" ] || wait "$listener_pid" 2>/dev/null
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

start_tlsd "$tmp/tlsd" || finish
"$TLSCTL" listen 127.0.0.1:0 --quiet --cert="$PKI/server-rsa-chain.pem" --key="$PKI/server-rsa.key" \
  >"$tmp/port" 2>"$tmp/listen.err" </dev/null &
listener_pid=$!
wait_until 10 test -s "$tmp/port"
port=$(head -n 1 "$tmp/port")
if [ -z "$port" ]; then
  fail "the listener did not start: $(cat "$tmp/listen.err")"
  finish
fi

# The client: a TLS 1.2 ClientHello offering one suite nobody has (0x1301's neighbour 0x13ff
# and nothing else), then 40 records of 16 KiB, 20 ms apart; then it reads to the end.
for round in 1 2 3; do
  python3 - "$port" >"$tmp/client.out" 2>&1 <<'EOF' && rc=0 || rc=$?
import os, socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\xff" + b"\x01\x00"
hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
s.sendall(b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs)
try:
    for _ in range(40):
        s.sendall(b"\x17\x03\x03" + struct.pack(">H", 16384) + os.urandom(16384))
        time.sleep(0.02)
except OSError as e:
    print("FAIL: write after the ClientHello: %s" % e)
    sys.exit(1)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except OSError as e:
    print("FAIL: read: %s (after %d bytes)" % (e, len(got)))
    sys.exit(1)
if got[:1] != b"\x15" or len(got) < 7 or got[5] != 2:
    print("FAIL: no fatal alert before the end of the stream: %r" % got[:16])
    sys.exit(1)
print("alert %d, then the end of the stream" % got[6])
EOF
  if [ "$rc" -ne 0 ]; then
    fail "round $round: $(cat "$tmp/client.out")"
  else
    pass "round $round: all records written, then $(cat "$tmp/client.out")"
  fi
done

if ! kill -0 "$TLSD_PID" 2>/dev/null; then
  fail "tlsd died: $(tail -n 20 "$TLSD_LOG")"
else
  stop_tlsd
fi
finish
