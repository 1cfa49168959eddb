#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Errors the kernel reports at once end a Connect at once, instead of turning into a long wait.
# With nothing listening on a UDP port, the kernel answers a DTLS ClientHello with ICMP port
# unreachable (ECONNREFUSED on the connected socket): `tlsctl connect --dtls` must fail with
# "Connection refused" once every address of the name has refused, not retransmit until its
# Timeout. Checked on 127.0.0.1 and on a name with two addresses (::1 and 127.0.0.1: tlsd runs
# in a private mount namespace whose /etc/hosts says so, when the test may make one). The
# retransmission schedule is set so that its Timeout would come after four timers: the check is
# which of the two outcomes ends the Connect (the first one does), never how long it took. The
# same for TCP (already immediate) and a name that resolves to nothing, as guards.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2154 # test_slow is lib.sh's
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools fail-fast python3

tmp=$(mktemp -d /tmp/tlsd-failfast.XXXXXX)
cleanup() {
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  [ -n "${TLSD_TEST_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A name with an IPv6 and an IPv4 address, both loopback: "localhost" as most systems have it
# (some list only 127.0.0.1). tlsd resolves it in its own mount namespace, with these files as
# /etc/hosts and /etc/nsswitch.conf (names from the file only: a name not in it is not asked
# of DNS, no query leaves the machine); the test's processes keep the machine's.
both_name=localhost
both=false
printf '::1 %s\n127.0.0.1 %s\n' "$both_name" "$both_name" >"$tmp/hosts"
printf 'hosts: files\n' >"$tmp/nsswitch.conf"
cat >"$tmp/in-ns.sh" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "$tmp/hosts" /etc/hosts && mount --bind "$tmp/nsswitch.conf" /etc/nsswitch.conf && exec "\$@"' sh "\$@"
EOF
chmod 755 "$tmp/in-ns.sh"
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
  "$tmp/in-ns.sh" getent ahosts "$both_name" 2>/dev/null | grep -q '^::1 ' &&
  "$tmp/in-ns.sh" getent ahosts "$both_name" 2>/dev/null | grep -q '^127\.0\.0\.1 ' &&
  python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
  both=true
fi
: >"$tmp/tlsd.conf"
# The namespace goes before the test's own wrapper (valgrind), for the start only: stop_tlsd
# looks at the wrapper to say what it checked.
wrapper=${TLSD_TEST_WRAPPER:-}
! $both || TLSD_TEST_WRAPPER="$tmp/in-ns.sh $wrapper"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish
TLSD_TEST_WRAPPER=$wrapper

# closed_port TYPE ADDR...: a port that nothing of TYPE (udp, tcp) holds on any of ADDR right
# now (bound on all of them at once, then released).
closed_port() {
  python3 - "$@" <<'EOF'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
for _ in range(100):
    held = []
    try:
        first = socket.socket(socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET, kind)
        first.bind((sys.argv[2], 0))
        held.append(first)
        port = first.getsockname()[1]
        for a in sys.argv[3:]:
            s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, kind)
            held.append(s)
            s.bind((a, port))
    except OSError:
        continue
    print(port)
    sys.exit(0)
sys.exit(1)
EOF
}

# The Timeout would come after 1 + 2 + 4 + 8 s of timers (more under valgrind, which is slower
# than the timers: the schedule scales with it).
rtx="--dtls-timeout=$((1000 * test_slow)) --dtls-retries=3"

# refused WHAT HOST PORT ARGS...: `tlsctl connect ARGS HOST:PORT` fails with "Connection
# refused", and not with the retransmission Timeout ("no answer from the peer").
refused() {
  local what=$1 host=$2 port=$3 rc
  shift 3
  out=$(timeout "$(waits 120)" "$TLSCTL" connect "$@" "$host:$port" </dev/null 2>&1) && rc=0 || rc=$?
  if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q 'Connection refused' &&
    ! printf '%s' "$out" | grep -q 'no answer from the peer'; then
    pass "$what: Connection refused before the retransmission timeout ($out)"
  else
    fail "$what (exit $rc): want Connection refused before the Timeout, got: $out"
  fi
}

if port=$(closed_port udp 127.0.0.1); then
  # shellcheck disable=SC2086 # $rtx is two options
  refused "DTLS to a closed UDP port on 127.0.0.1" 127.0.0.1 "$port" --dtls $rtx
else
  fail "no free UDP port on 127.0.0.1"
fi

if ! $both; then
  skip "DTLS to a closed UDP port on a name with ::1 and 127.0.0.1: needs root, unshare and IPv6 on lo (a private /etc/hosts for tlsd)"
elif port=$(closed_port udp ::1 127.0.0.1); then
  # shellcheck disable=SC2086 # $rtx is two options
  refused "DTLS to a closed UDP port on $both_name (::1 and 127.0.0.1)" "$both_name" "$port" --dtls $rtx
  # Both addresses were tried, the IPv6 one first (as getaddrinfo sorts them).
  if grep -qE "::1 port $port refused" "$TLSD_LOG" && grep -qE "127\.0\.0\.1 port $port refused" "$TLSD_LOG"; then
    pass "DTLS to $both_name: tlsd tried ::1 and 127.0.0.1"
  else
    fail "DTLS to $both_name: the log does not show both addresses refused: $(grep -E "port $port" "$TLSD_LOG")"
  fi
else
  fail "no UDP port free on both ::1 and 127.0.0.1"
fi

# Guards: what is immediate already stays so.
if port=$(closed_port tcp 127.0.0.1); then
  refused "TLS to a closed TCP port on 127.0.0.1" 127.0.0.1 "$port"
else
  fail "no free TCP port on 127.0.0.1"
fi
if $both; then
  # shellcheck disable=SC2086 # $rtx is two options
  out=$(timeout "$(waits 60)" "$TLSCTL" connect --dtls $rtx "tlsd-test.invalid:443" </dev/null 2>&1) && rc=0 || rc=$?
  if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "cannot resolve 'tlsd-test.invalid'"; then
    pass "DTLS to a name that resolves to nothing: fails with the resolver's error"
  else
    fail "DTLS to a name that resolves to nothing (exit $rc): $out"
  fi
else
  skip "DTLS to a name that resolves to nothing: needs the private /etc/hosts (no DNS query leaves the machine)"
fi

stop_tlsd
finish
