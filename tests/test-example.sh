#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's C example (issue 15, item 6): examples/connect.c is built the way README.md says,
# `cc connect.c $(pkg-config --cflags --libs tlsclient)` with PKG_CONFIG_PATH at the build tree
# (the uninstalled tlsclient.pc), warnings as errors and nothing but what pkg-config gives; the
# README's code block is the program's own lines; <tlsd/client.h> compiles alone with the names
# its API uses (AF_UNSPEC). Then the program runs against a tlsd and openssl s_server -rev, and
# its errors carry tlsd's explanation (no daemon, an untrusted server).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
PKI=${TLSD_TEST_PKI:-$top_builddir/tests/pki}
CC=${CC:-cc}

for tool in pkg-config "$CC" openssl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    skip "example: $tool is not installed"
    finish
  fi
done
if ! sh "$top_srcdir/certs/gen-test-pki.sh" "$PKI"; then
  fail "cannot generate the test PKI in $PKI"
  finish
fi

tmp=$(mktemp -d /tmp/tlsd-example.XXXXXX)
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

# ---- pkg-config before `make install` ----

export PKG_CONFIG_PATH="$top_builddir"
expect_exit 0 "pkg-config --cflags --libs tlsclient with PKG_CONFIG_PATH=builddir" -- \
  pkg-config --cflags --libs tlsclient
flags=$out
expect_output "pkg-config: the source tree's headers" "-I$top_srcdir/include( |\$)"
expect_output "pkg-config: the build tree's library" "-L$top_builddir/\.libs( |\$)"
# a sanitizer build's library needs its runtime in the program too
san=$(sed -n 's/^SANITIZER_CFLAGS = //p' "$top_builddir/Makefile" 2>/dev/null)
san_ld=$(sed -n 's/^SANITIZER_LDFLAGS = //p' "$top_builddir/Makefile" 2>/dev/null)
strict="-Wall -Wextra -Werror -Wno-unused-parameter"

printf '#include <tlsd/client.h>\nint main(void) { return AF_UNSPEC + AF_INET + AF_INET6 == 0; }\n' \
  >"$tmp/header.c"
# shellcheck disable=SC2086
expect_exit 0 "<tlsd/client.h> alone declares what its API uses (AF_UNSPEC, AF_INET, AF_INET6)" -- \
  "$CC" $strict $san -c "$tmp/header.c" -o "$tmp/header.o" $flags
# shellcheck disable=SC2086
expect_exit 0 "examples/connect.c builds as README.md says, with -Werror" -- \
  "$CC" $strict $san "$top_srcdir/examples/connect.c" -o "$tmp/connect" $flags $san_ld

# the whole programs of libtlsclient(3)'s EXAMPLES compile the same way
n=0
sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$top_srcdir/man/libtlsclient.3" |
  awk -v dir="$tmp" '/^\.EX/ { n++; f = 1; next } /^\.EE/ { f = 0 } f { print > (dir "/man" n ".c") }'
for f in "$tmp"/man*.c; do
  [ -f "$f" ] && grep -q "int main" "$f" || continue
  n=$((n + 1))
  sed -i -e 's/\\e/\\/g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\&//g' "$f"
  # shellcheck disable=SC2086
  expect_exit 0 "libtlsclient(3) example $(basename "$f" .c) compiles with -Werror" -- \
    "$CC" $strict $san -c "$f" -o "$tmp/man.o" $flags
done
[ "$n" -ge 2 ] && pass "libtlsclient(3) has $n whole example programs" ||
  fail "libtlsclient(3): $n example programs found"

# ---- the README's block is the program's own code ----

sed -n '/^In C: the core of \[`examples\/connect.c`\]/,/^```$/p' "$top_srcdir/README.md" |
  sed -n '/^```c$/,/^```$/p' | sed -e '1d' -e '$d' >"$tmp/readme.c"
missing=0
n=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  n=$((n + 1))
  grep -qxF -- "$line" "$top_srcdir/examples/connect.c" || {
    missing=$((missing + 1))
    echo "not in examples/connect.c: $line"
  }
done <"$tmp/readme.c"
[ "$n" -gt 10 ] && [ "$missing" -eq 0 ] && pass "README's C block: its $n lines are examples/connect.c's" ||
  fail "README's C block: $missing of $n lines are not in examples/connect.c"

# ---- run it ----

if [ ! -x "$tmp/connect" ]; then
  finish
fi
TLSD_SOCKET="$tmp/no-such/tlsd.sock" "$tmp/connect" localhost 1 >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot connect to tlsd at $tmp/no-such/tlsd.sock: No such file or directory" "$tmp/err" &&
  pass "no daemon: exit 1 and the reason" || fail "no daemon: exit $rc: $(cat "$tmp/err")"

port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -rev -quiet -cert "$PKI/server-ecdsa-chain.pem" \
  -key "$PKI/server-ecdsa.key" >"$tmp/s_server.log" 2>&1 </dev/null &
peer_pids="$peer_pids $!"
start_tlsd "$tmp/tlsd" || finish
wait_for_port "$port" || fail "openssl s_server did not start: $(cat "$tmp/s_server.log")"

for prog in "$tmp/connect" "$top_builddir/examples/connect"; do
  timeout 20 "$prog" localhost "$port" "$PKI/ca.pem" "hello example" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "elpmaxe olleh" ] &&
    pass "$prog against openssl s_server -rev: the line comes back reversed" ||
    fail "$prog: exit $rc, '$(cat "$tmp/out")': $(cat "$tmp/err")"
done
timeout 20 "$tmp/connect" localhost "$port" "$PKI/other-ca.pem" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && grep -qE "^connect: Peer certificate verification failed: unknown-issuer: .+" "$tmp/err" &&
  pass "an untrusted server: exit 1 with tlsd's message" || fail "untrusted server: exit $rc: $(cat "$tmp/err")"
: >"$tmp/empty.pem"
timeout 20 "$tmp/connect" localhost "$port" "$tmp/empty.pem" >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && grep -qE "^session: Bad certificate, key or password: CA file is empty" "$tmp/err" &&
  pass "an empty CA file: exit 1 with tlsd's message" || fail "empty CA: exit $rc: $(cat "$tmp/err")"
stop_tlsd
finish
