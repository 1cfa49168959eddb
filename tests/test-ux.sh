#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a first-day user meets (issue 15): the words of tlsctl's errors, its usage errors, the
# knobs of `tlsctl connect` and `tlsctl listen`, and the examples of the man pages run as they
# are written. One tlsd, openssl s_server peers and small python peers on loopback.
#   4. errors: a peer's reset is not "tlsd lost"; no daemon gives the errno text and a hint;
#      usage errors exit 2 without a daemon; a post-handshake alert by name; verification
#      failure said once, with the untrusted issuer; a key or an empty file as --ca; --print-ticket
#      with --no-resume; IPv6 in brackets; --cert without --key exits 2;
#   8. docs: --max-pending in --help, the summary in tlsctl(1), the --pin pipeline of tlsctl(1)
#      run literally, tlsd(8)'s test instance run as root leaves /var/lib/tlsd alone, README's
#      D-Bus transcript says how to pick another bus, tlsc_listen()'s "address in use" error;
#   9. connect --handshake-timeout, --showcerts, --verbose; global options after the command
#      refused; `tlsctl listen` serving more than 1024 connections at once.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
top_srcdir=$(cd "$top_srcdir" && pwd)
PKI=${TLSD_TEST_PKI:-$top_builddir/tests/pki}
# many connections at once for `tlsctl listen` (more than its old fixed array of 1024)
MANY=${TLSD_TEST_LISTEN_MANY:-1100}

for tool in openssl python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    skip "ux: $tool is not installed"
    finish
  fi
done
if ! sh "$top_srcdir/certs/gen-test-pki.sh" "$PKI"; then
  fail "cannot generate the test PKI in $PKI"
  finish
fi

tmp=$(mktemp -d /tmp/tlsd-ux.XXXXXX)
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

# ---- usage errors and no daemon (before any tlsd runs) ----

nosock="$tmp/no-such/tlsd.sock"
expect_exit 1 "4: no daemon: exit 1" -- "$TLSCTL" --socket="$nosock" status
expect_output "4: no daemon: the errno text and a hint" \
  "cannot connect to tlsd at $nosock: No such file or directory \(is tlsd running\?\)"
expect_exit 2 "4: 'ping abc' is a usage error without a daemon too" -- \
  "$TLSCTL" --socket="$nosock" ping abc
expect_output "4: ping abc: says what is wrong" "invalid count 'abc'"
expect_exit 2 "4: 'connect localhost' (no port) is a usage error without a daemon too" -- \
  "$TLSCTL" --socket="$nosock" connect localhost
expect_output "4: connect localhost: names HOST:PORT" "'localhost' is not HOST:PORT"
expect_exit 2 "4: connect --cert without --key exits 2, like listen" -- \
  "$TLSCTL" --socket="$nosock" connect --cert="$PKI/client.pem" localhost:443
expect_output "4: --cert without --key: says so" "--cert needs --key"
expect_exit 2 "4: listen --cert without --key exits 2" -- \
  "$TLSCTL" --socket="$nosock" listen --cert="$PKI/server-ecdsa.pem" 127.0.0.1:0
expect_exit 2 "9: 'status --socket=X' (global option after the command) is refused" -- \
  "$TLSCTL" status --socket="$nosock"
expect_output "9: status --socket: says where it goes" \
  "--socket=$nosock is a global option: give it before the command"
expect_exit 2 "9: 'connect --socket=X HOST:PORT' is refused" -- \
  "$TLSCTL" connect --socket="$nosock" localhost:443
expect_output "9: connect --socket: says where it goes" "--socket is a global option"
expect_exit 2 "9: 'listen -s X' is refused" -- "$TLSCTL" listen -s "$nosock" 127.0.0.1:0
expect_exit 2 "9: 'ping 3 --socket=X' is refused" -- "$TLSCTL" ping --socket="$nosock"
expect_exit 2 "9: 'whoami extra' is refused" -- "$TLSCTL" --socket="$nosock" whoami extra
expect_exit 2 "9: --handshake-timeout out of range is a usage error" -- \
  "$TLSCTL" --socket="$nosock" connect --handshake-timeout=5 localhost:443

# ---- 8. --help says what --max-pending does ----

expect_exit 0 "8: tlsctl --help" -- "$TLSCTL" --help
help_text=$out
out=$(printf '%s' "$help_text" | sed -n '/--max-pending/,/ListenerMaxPending/p')
expect_output "8: --help: --max-pending cuts the handshake waiting longest" "waiting longest"
if printf '%s' "$out" | grep -q "closed at once"; then
  fail "8: --help still says new connections are closed at once: $out"
else
  pass "8: --help no longer says new connections are closed"
fi

# ---- peers ----

ports=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
next_port() {
  port=${ports%% *}
  ports=${ports#* }
}
# ossl NAME ARGS...: openssl s_server -rev on the next port, which lands in $port_NAME
ossl() {
  local name=$1
  shift
  next_port
  openssl s_server -accept "127.0.0.1:$port" -rev -quiet "$@" >"$tmp/$name.log" 2>&1 </dev/null &
  peer_pids="$peer_pids $!"
  eval "port_$name=$port"
}
ossl plain -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"
ossl chain -cert "$PKI/server-ecdsa.pem" -cert_chain "$PKI/ca.pem" -key "$PKI/server-ecdsa.key"
ossl unknownca -cert "$PKI/server-unknownca.pem" -key "$PKI/server-unknownca.key"
ossl certreq -tls1_3 -Verify 1 -verify_return_error -CAfile "$PKI/ca.pem" \
  -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"
ossl t13 -tls1_3 -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key"
# python peers: one that resets every connection after reading the ClientHello, one that accepts
# and never speaks; each prints its port
python3 -c '
import socket, struct, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()' >"$tmp/rst.port" 2>"$tmp/rst.log" &
peer_pids="$peer_pids $!"
python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)' >"$tmp/silent.port" 2>"$tmp/silent.log" &
peer_pids="$peer_pids $!"

printf '[Limits]\nListenerMaxConnections=%s\nMaxConnectionsPerUser=%s\n' \
  "$((MANY + 100))" "$((2 * MANY + 200))" >"$tmp/tlsd.conf"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish
for name in plain chain unknownca certreq t13; do
  eval "p=\$port_$name"
  wait_for_port "$p" || fail "openssl s_server $name did not start: $(cat "$tmp/$name.log")"
done
for _ in $(seq 1 100); do
  [ -s "$tmp/rst.port" ] && [ -s "$tmp/silent.port" ] && break
  sleep 0.05
done
port_rst=$(cat "$tmp/rst.port")
port_silent=$(cat "$tmp/silent.port")

# conn LINE ARGS...: LINE into `tlsctl connect ARGS`; $rc, $out (stdout), $err (stderr)
conn() {
  local line=$1
  shift
  printf '%s\n' "$line" | timeout 20 "$TLSCTL" connect "$@" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
# has WHAT ERE / lacks WHAT ERE: about $err
has() {
  if printf '%s' "$err" | grep -qE -- "$2"; then pass "$1"; else fail "$1: /$2/ not in: $err"; fi
}
lacks() {
  if printf '%s' "$err" | grep -qE -- "$2"; then fail "$1: /$2/ in: $err"; else pass "$1"; fi
}
ca="--ca=$PKI/ca.pem"

# ---- 4. errors that blame the right thing ----

conn x "$ca" "127.0.0.1:$port_rst"
[ "$rc" -eq 1 ] && pass "4: a peer that resets the handshake: exit 1" || fail "4: reset peer: exit $rc: $err"
lacks "4: a peer's reset is not reported as the connection to tlsd lost" "tlsd lost"
has "4: the reset is named as such" "reset by peer"

conn x "$ca" "localhost:$port_certreq"
has "4: a post-handshake alert is named (certificate_required)" \
  "connection closed: alert certificate_required \(116\)"

issuer=$(openssl x509 -in "$PKI/server-unknownca.pem" -noout -issuer -nameopt RFC2253 |
  sed -n 's/^issuer=CN=\([^,]*\).*/\1/p')
conn x "$ca" "localhost:$port_unknownca"
[ "$rc" -eq 1 ] && pass "4: unknown issuer: refused" || fail "4: unknown issuer: exit $rc"
n=$(printf '%s' "$err" | grep -o "verification failed" | wc -l)
[ "$n" -eq 1 ] && pass "4: 'verification failed' said once" ||
  fail "4: 'verification failed' said $n times: $err"
has "4: the untrusted issuer is named ($issuer)" "issuer /CN=$issuer "
has "4: the reason line stays" "^verification: unknown-issuer$"

conn x --ca="$PKI/server-ecdsa.key" "localhost:$port_plain"
has "4: a key file as --ca: said so" "CA file contains a private key, not a certificate"
: >"$tmp/empty.pem"
conn x --ca="$tmp/empty.pem" "localhost:$port_plain"
has "4: an empty --ca file: said so" "CA file is empty"

conn x "$ca" --print-ticket --no-resume "localhost:$port_t13"
[ "$rc" -eq 0 ] && pass "4: --print-ticket --no-resume connects" || fail "4: --print-ticket --no-resume: exit $rc: $err"
has "4: --print-ticket --no-resume: the missing ticket is put on --no-resume" "^ticket: none \(--no-resume"

if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
  log_lines=$(wc -l <"$tmp/tlsd/tlsd.log")
  conn x "$ca" "[::1]:$port_silent" # s_server and the python peers listen on IPv4 only
  has "4: tlsctl writes an IPv6 address in brackets" "connect \[::1\]:$port_silent: "
  for _ in $(seq 1 40); do
    tail -n "+$((log_lines + 1))" "$tmp/tlsd/tlsd.log" | grep -q "to \[::1\]:$port_silent: " && break
    sleep 0.05
  done
  if tail -n "+$((log_lines + 1))" "$tmp/tlsd/tlsd.log" | grep -q "to \[::1\]:$port_silent: "; then
    pass "4: tlsd's log writes an IPv6 address in brackets"
  else
    fail "4: no 'to [::1]:$port_silent' in the log: $(tail -n 3 "$tmp/tlsd/tlsd.log")"
  fi
else
  skip "4: IPv6 brackets: no IPv6 loopback"
fi

# ---- 9. knobs of connect ----

conn x "$ca" --handshake-timeout=300 "127.0.0.1:$port_silent"
[ "$rc" -eq 1 ] && pass "9: --handshake-timeout=300 against a silent server: fails" ||
  fail "9: --handshake-timeout: exit $rc (124: still waiting after 20 s): $err"
has "9: --handshake-timeout: the error is a timeout" "Timed out"

conn hello "$ca" --showcerts --no-resume "localhost:$port_chain"
[ "$out" = olleh ] && pass "9: --showcerts: data still flows" || fail "9: --showcerts: got '$out': $err"
n=$(printf '%s\n' "$err" | grep -c -- "-----BEGIN CERTIFICATE-----")
[ "$n" -eq 2 ] && pass "9: --showcerts prints the chain the server sent (2 certificates)" ||
  fail "9: --showcerts printed $n certificates: $err"
first=$(printf '%s\n' "$err" | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' |
  openssl x509 -noout -fingerprint -sha256 2>&1)
want=$(openssl x509 -in "$PKI/server-ecdsa.pem" -noout -fingerprint -sha256)
[ "$first" = "$want" ] && pass "9: --showcerts: the server's own certificate first" ||
  fail "9: --showcerts: first certificate $first, want $want"
conn hello "$ca" --showcerts "localhost:$port_unknownca"
[ "$rc" -eq 1 ] && [ -z "$out" ] && pass "9: --showcerts still refuses an untrusted server" ||
  fail "9: --showcerts accepted an untrusted server: exit $rc, '$out'"
has "9: --showcerts: the refusal names the reason" "unknown-issuer"
has "9: --showcerts: the untrusted chain is shown" "-----BEGIN CERTIFICATE-----"

conn hello "$ca" --verbose "localhost:$port_plain"
[ "$out" = olleh ] && pass "9: --verbose: data flows" || fail "9: --verbose: got '$out': $err"
has "9: --verbose: timestamped request" "^\[ *[0-9]+\.[0-9]{3} ms\] request: connect to localhost port $port_plain"
has "9: --verbose: a state change" "^\[ *[0-9]+\.[0-9]{3} ms\] state: (connecting|handshake)"
has "9: --verbose: the handshake event" "^\[ *[0-9]+\.[0-9]{3} ms\] event: handshake done"
has "9: --verbose: the end" "^\[ *[0-9]+\.[0-9]{3} ms\] event: disconnected \(close_notify\)"

# ---- 8. the docs' examples as written ----

# the summary lines of tlsctl(1)'s first example, in order, against a real connect
want=$(sed -n '/^prints a summary on standard error/,/^\.EE/p' "$top_srcdir/man/tlsctl.1" |
  sed -n 's/^\([a-z]*\): .*/\1/p' | tr '\n' ' ')
conn hello "$ca" "localhost:$port_plain"
got=$(printf '%s\n' "$err" | sed -n 's/^\([a-z]*\): .*/\1/p' | tr '\n' ' ')
[ -n "$want" ] && [ "$want" = "$got" ] && pass "8: tlsctl(1)'s summary has the lines tlsctl prints ($got)" ||
  fail "8: tlsctl(1)'s summary lists '$want', tlsctl prints '$got'"

# the --pin pipeline of tlsctl(1), run as written (cert.pem: the server's certificate)
pipeline=$(sed -n '/^The hash of a certificate.s key is/,/^\.EE/p' "$top_srcdir/man/tlsctl.1" |
  sed -e '1,/^\.EX/d' -e '/^\.EE/d' -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g')
cp "$PKI/server-ecdsa.pem" "$tmp/cert.pem"
pin=$(cd "$tmp" && sh -c "$pipeline")
if [ -z "$pipeline" ] || [ -z "$pin" ]; then
  fail "8: the --pin pipeline of tlsctl(1) gives nothing: '$pipeline'"
else
  conn hello --pin="$pin" "127.0.0.1:$port_plain"
  [ "$rc" -eq 0 ] && [ "$out" = olleh ] && pass "8: --pin takes what tlsctl(1)'s pipeline prints ('$pin')" ||
    fail "8: --pin='$pin' (tlsctl(1)'s pipeline): exit $rc: $err"
fi
# and sha256sum's own "HEX  -" is taken as it is
pin=$(openssl x509 -in "$tmp/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
conn hello --pin="$pin" "127.0.0.1:$port_plain"
[ "$rc" -eq 0 ] && [ "$out" = olleh ] && pass "8: --pin takes sha256sum's 'HEX  -'" ||
  fail "8: --pin='$pin': exit $rc: $err"

# tlsc_listen() on a port in use: ConnectFailed, as libtlsclient(3) says
"$TLSCTL" listen --cert="$PKI/server-ecdsa-chain.pem" --key="$PKI/server-ecdsa.key" \
  "127.0.0.1:$port_plain" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
err=$(cat "$tmp/err")
has "8: listen on a port in use: Connection failed (TLSD_ERR_CONNECT)" "listen: Connection failed: .*in use"
if sed -n '/^\.B TLSD_ERR_CONNECT$/,/^\.TP$/p' "$top_srcdir/man/libtlsclient.3" | grep -q "in use"; then
  pass "8: libtlsclient(3) lists the port in use under TLSD_ERR_CONNECT"
else
  fail "8: libtlsclient(3) does not put the port in use under TLSD_ERR_CONNECT"
fi

# README: the busctl transcript says how to point busctl at another bus
if sed -n '/^## Administration over D-Bus/,/^## /p' "$top_srcdir/README.md" |
  grep -q -- "--address=" && sed -n '/^## Administration over D-Bus/,/^## /p' "$top_srcdir/README.md" |
  grep -q "DBUS_SYSTEM_BUS_ADDRESS"; then
  pass "8: README's D-Bus transcript says how to use another bus (--address=, DBUS_SYSTEM_BUS_ADDRESS)"
else
  fail "8: README's D-Bus transcript does not say how to use another bus"
fi

# tlsd(8)'s test instance, as root: nothing may land in /var/lib/tlsd (a tmpfs over /var/lib in
# a mount namespace shows any write)
example=$(sed -n '/^Run an .*instance in the foreground/,/^\.EE/p' "$top_srcdir/man/tlsd.8" |
  grep -- 'tlsd \\-\\-runtime' | head -n 1 | sed -e 's/\\-/-/g' -e 's/^\$ //' -e 's/ *&$//')
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1; then
  skip "8: tlsd(8)'s test instance as root: needs root and unshare"
elif [ -z "$example" ]; then
  fail "8: no test-instance command found in tlsd(8)"
else
  cmd=$(printf '%s' "$example" | sed -e "s#/tmp/tlsd#$tmp/example#g" -e "s#\(^\| \)tlsd #\1$TLSD #")
  mkdir -p "$tmp/example"
  # shellcheck disable=SC2016
  unshare -m sh -c '
    mount -t tmpfs tlsd-test /var/lib || exit 3
    export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/tlsd-test
    eval "$1 &"
    pid=$!
    i=0
    while [ ! -S "$2/tlsd.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    kill -TERM $pid; wait $pid
    ls -A /var/lib' sh "$cmd" "$tmp/example" >"$tmp/example.out" 2>"$tmp/example.err"
  if [ ! -s "$tmp/example.out" ] && ! grep -q "exit 3" "$tmp/example.err"; then
    pass "8: tlsd(8)'s test instance leaves /var/lib/tlsd alone ($example)"
  else
    fail "8: tlsd(8)'s test instance '$example' wrote to /var/lib: $(cat "$tmp/example.out" "$tmp/example.err")"
  fi
fi

# ---- 9. listen serves more than 1024 connections at once ----

"$TLSCTL" listen --quiet --cert="$PKI/server-ecdsa-chain.pem" --key="$PKI/server-ecdsa.key" \
  127.0.0.1:0 >"$tmp/listen.port" 2>"$tmp/listen.err" &
listen_pid=$!
peer_pids="$peer_pids $listen_pid"
for _ in $(seq 1 100); do
  [ -s "$tmp/listen.port" ] && break
  sleep 0.05
done
lport=$(head -n 1 "$tmp/listen.port")
result=$(timeout 600 python3 - "$lport" "$MANY" "$PKI/ca.pem" <<'EOF' 2>&1
import socket, ssl, sys
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
conns = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    conns.append(s)
# all open at once; each gets its own line back
bad = 0
for i, s in enumerate(conns):
    s.settimeout(10)
    msg = b"line %d\n" % i
    try:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(len(msg) - len(got))
            if not d:
                break
            got += d
    except OSError:
        got = b""
    if got != msg:
        bad += 1
print("%d of %d echoed" % (n - bad, n))
EOF
)
if [ "$result" = "$MANY of $MANY echoed" ]; then
  pass "9: tlsctl listen served $MANY connections at once"
else
  fail "9: tlsctl listen with $MANY connections at once: $result $(tail -n 3 "$tmp/listen.err")"
fi
kill "$listen_pid" 2>/dev/null
wait "$listen_pid" 2>/dev/null

stop_tlsd
finish
