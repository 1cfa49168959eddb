#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Secrets do not outlive their session in the daemon's memory. A server session gets two
# identities with encrypted keys (EC P-256 as encrypted PKCS#8, RSA as traditional encrypted
# PEM; the second one is decrypted by tlsd itself for the per-handshake choice) and their
# password, once over the Unix socket (tlsctl listen) and once over D-Bus (a private
# dbus-daemon with the project's policy). openssl s_client handshakes with each identity, a
# wrong password and a truncated key take the failure paths. Then the sessions are destroyed and
# the clients gone, and tlsd's whole memory (/proc/PID/mem over /proc/PID/maps) is searched for
# markers: the password, a line of each encrypted PEM's body, and the middle of each decrypted
# private key (EC scalar, RSA private exponent and prime) as in the DER and in reversed byte
# order (how a little-endian multi-precision integer holds it). None may be found.
#
# Freed memory is not cleared by malloc (nor by ASan, which keeps it in quarantine): what tlsd
# does not wipe itself is found, in both builds.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

top_srcdir=$(cd "$top_srcdir" && pwd)
PY=/usr/bin/python3 # Debian's, with python3-dbus

need_root "secrets: needs root (reads another process's memory, owns org.tlsd1 on a private bus)"
need_tools secrets openssl dbus-daemon
if ! "$PY" -c 'import dbus' 2>/dev/null; then
  skip "secrets: $PY cannot import dbus (install python3-dbus)"
  finish
fi

tmp=$(mktemp -d /tmp/tlsd-secrets.XXXXXX)
peer_pids=""
cleanup() {
  for p in $peer_pids; do kill "$p" 2>/dev/null; done
  for p in $peer_pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  stop_private_buses
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- keys: fresh, so every marker is unique to this run ----

password="tlsd-secret-marker-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
gen() {
  openssl "$@" >>"$tmp/openssl.log" 2>&1
}
if ! { gen genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.plain" &&
  gen pkcs8 -topk8 -v2 aes-256-cbc -in "$tmp/ec.plain" -passout "pass:$password" \
    -out "$tmp/ec.key" &&
  gen req -x509 -new -key "$tmp/ec.plain" -subj /CN=localhost -days 2 -out "$tmp/ec.pem" &&
  gen genrsa -out "$tmp/rsa.plain" 2048 &&
  gen rsa -aes256 -traditional -in "$tmp/rsa.plain" -passout "pass:$password" \
    -out "$tmp/rsa.key" &&
  gen req -x509 -new -key "$tmp/rsa.plain" -subj /CN=localhost -days 2 -out "$tmp/rsa.pem" &&
  gen pkey -in "$tmp/ec.plain" -traditional -outform DER -out "$tmp/ec.der" &&
  gen rsa -in "$tmp/rsa.plain" -traditional -outform DER -out "$tmp/rsa.der"; } ||
  ! grep -q '^Proc-Type: 4,ENCRYPTED' "$tmp/rsa.key" ||
  ! grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$tmp/ec.key"; then
  fail "cannot make the test keys: $(cat "$tmp/openssl.log")"
  finish
fi
# A key cut in the middle of its body: decryption fails after the password was used.
head -n 8 "$tmp/rsa.key" >"$tmp/rsa-cut.key"
echo "-----END RSA PRIVATE KEY-----" >>"$tmp/rsa-cut.key"
rm -f "$tmp/ec.plain" "$tmp/rsa.plain"

# markers NAME HEX per line: what must not be in tlsd's memory at the end
"$PY" - "$tmp" "$password" >"$tmp/markers" <<'EOF'
import sys

tmp, password = sys.argv[1], sys.argv[2]


def der_items(b):
    """The items of the outer SEQUENCE: (tag, value) pairs."""
    def length(b, i):
        n = b[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7f
        return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k
    assert b[0] == 0x30
    n, i = length(b, 1)
    end, out = i + n, []
    while i < end:
        tag = b[i]
        n, j = length(b, i + 1)
        out.append((tag, b[j:j + n]))
        i = j + n
    return out


def middle(v, n=24):
    v = v.lstrip(b"\0")
    s = (len(v) - n) // 2
    return v[s:s + n]


def emit(name, v):
    print(name, v.hex())
    print(name + "-reversed", v[::-1].hex())


ec = der_items(open(tmp + "/ec.der", "rb").read())      # SEC1: version, OCTET STRING key, ...
emit("ec-private-scalar", middle(ec[1][1]))
rsa = der_items(open(tmp + "/rsa.der", "rb").read())    # PKCS#1: version, n, e, d, p, q, ...
emit("rsa-private-exponent", middle(rsa[3][1]))
emit("rsa-prime-p", middle(rsa[4][1]))
print("password", password.encode().hex())
for f in ("ec.key", "rsa.key"):
    body = [l for l in open(tmp + "/" + f).read().splitlines()
            if l and ":" not in l and not l.startswith("-----")]
    print("pem-body-" + f.split(".")[0], body[len(body) // 2].encode().hex())
EOF
[ -s "$tmp/markers" ] || fail "cannot extract the markers from the keys"

# scan PID: "found NAME at ADDR (REGION)" for every marker in PID's memory
scan() {
  "$PY" - "$1" "$tmp/markers" <<'EOF'
import re, sys

pid, markers = sys.argv[1], {}
for line in open(sys.argv[2]):
    name, hexv = line.split()
    markers[name] = bytes.fromhex(hexv)
longest = max(len(v) for v in markers.values())
regions, cur = [], None
for line in open("/proc/%s/smaps" % pid):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if m:
        cur = [int(m[1], 16), int(m[2], 16), m[3], m[4] or "[anon]", 0]
        regions.append(cur)
    elif line.startswith("Rss:"):
        cur[4] = int(line.split()[1])
scanned = found = 0
with open("/proc/%s/mem" % pid, "rb", buffering=0) as mem:
    for start, end, perms, name, rss in regions:
        # Never touched (nothing resident) or ASan's shadow (terabytes of metadata, no data).
        if perms[0] != "r" or rss == 0 or end - start > (1 << 32):
            continue
        prev = b""
        for a in range(start, end, 1 << 20):
            try:
                mem.seek(a)
                chunk = mem.read(min(1 << 20, end - a))
            except OSError:
                break  # [vvar] and the like
            scanned += len(chunk)
            data = prev + chunk
            for mname, v in markers.items():
                i = data.find(v)
                while i >= 0:
                    print("found %s at %#x (%s %s)" % (mname, a - len(prev) + i, perms, name))
                    found += 1
                    i = data.find(v, i + 1)
            prev = chunk[-(longest - 1):]
print("scanned %d MiB, %d markers, %d hits" % (scanned >> 20, len(markers), found))
EOF
}

# ---- the bus and tlsd ----

start_private_bus "$tmp" bus system allow "$top_srcdir/dbus/org.tlsd1.conf"
address=$BUS_ADDRESS
printf '[DBus]\nAddress=%s\n' "$address" >"$tmp/tlsd.conf"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish

# handshake PORT WHAT [s_client options]: a full handshake with the listener on PORT
handshake() {
  local port=$1 what=$2
  shift 2
  out=$(timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" \
    </dev/null 2>&1)
  if printf '%s' "$out" | grep -q 'Verify return code: 18'; then
    pass "$what: handshake done"
  else
    fail "$what: no handshake: $out"
  fi
}

# ---- over the Unix socket ----

port=$(free_port)
"$TLSCTL" listen "127.0.0.1:$port" --cert="$tmp/ec.pem" --key="$tmp/ec.key" \
  --cert="$tmp/rsa.pem" --key="$tmp/rsa.key" --pass="$password" --count=2 --quiet \
  >"$tmp/listen.out" 2>&1 &
listen_pid=$!
peer_pids="$peer_pids $listen_pid"
if wait_for_port "$port"; then
  handshake "$port" "Unix: ECDSA identity" -tls1_3 -sigalgs ECDSA+SHA256
  handshake "$port" "Unix: RSA identity (decrypted by tlsd)" -tls1_3 -sigalgs RSA-PSS+SHA256
else
  fail "tlsctl listen did not start: $(cat "$tmp/listen.out")"
fi
wait "$listen_pid" && rc=0 || rc=$?
peer_pids=""
[ "$rc" -eq 0 ] && pass "Unix: tlsctl listen served 2 connections and exited" ||
  fail "Unix: tlsctl listen exited $rc: $(cat "$tmp/listen.out")"
expect_exit 1 "Unix: a wrong password is refused" -- \
  "$TLSCTL" listen "127.0.0.1:0" --cert="$tmp/ec.pem" --key="$tmp/ec.key" --pass="$password-x"
expect_exit 1 "Unix: a second key that does not decrypt is refused" -- \
  "$TLSCTL" listen "127.0.0.1:0" --cert="$tmp/ec.pem" --key="$tmp/ec.key" \
  --cert="$tmp/rsa.pem" --key="$tmp/rsa-cut.key" --pass="$password"

# ---- over D-Bus ----

timeout 120 "$PY" - "$address" "$tmp" "$password" >"$tmp/dbus.out" 2>&1 <<'EOF'
import subprocess, sys
import dbus

address, tmp, password = sys.argv[1:4]
bus = dbus.bus.BusConnection(address)
O = lambda **kw: dbus.Dictionary(kw, signature="sv")
B = lambda f: dbus.ByteArray(open(tmp + "/" + f, "rb").read())
mgr = dbus.Interface(bus.get_object("org.tlsd1", "/org/tlsd1"), "org.tlsd1.Manager")
path = mgr.CreateSession(dbus.UInt32(1), O(Certificate=B("ec.pem"), Key=B("ec.key"),
                                          KeyPassword=password))
session = dbus.Interface(bus.get_object("org.tlsd1", path), "org.tlsd1.Session")
session.Configure(O(Certificate=B("rsa.pem"), Key=B("rsa.key"), KeyPassword=password))
for what, bad in (("a wrong password", O(Certificate=B("rsa.pem"), Key=B("rsa.key"),
                                         KeyPassword=password + "-x")),
                  ("a second key that does not decrypt",
                   O(Certificate=B("rsa.pem"), Key=B("rsa-cut.key"), KeyPassword=password))):
    try:
        session.Configure(bad)
        print("FAIL: D-Bus: %s is accepted" % what)
    except dbus.exceptions.DBusException as e:
        print("PASS: D-Bus: %s is refused (%s)" % (what, e.get_dbus_name()))
listener, port = session.Listen("127.0.0.1", dbus.UInt32(0), dbus.UInt32(0), dbus.UInt32(0))
for what, sigalgs in (("ECDSA identity", "ECDSA+SHA256"),
                      ("RSA identity (decrypted by tlsd)", "RSA-PSS+SHA256")):
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost", "-tls1_3", "-sigalgs", sigalgs],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    ok = "Verify return code: 18" in p.stdout
    print("%s: D-Bus: %s: handshake done%s" % ("PASS" if ok else "FAIL", what,
                                               "" if ok else ": " + p.stdout + p.stderr))
session.Destroy()
bus.close()
EOF
rc=$?
while IFS= read -r line; do
  case $line in
  "PASS: "*) pass "${line#PASS: }" ;;
  "FAIL: "*) fail "${line#FAIL: }" ;;
  *) echo "$line" ;;
  esac
done <"$tmp/dbus.out"
[ "$rc" -eq 0 ] || fail "D-Bus client exited with $rc"

# ---- nothing left, nothing found ----

out=$(timeout 10 busctl --address="$address" call org.tlsd1 /org/tlsd1 org.tlsd1.Manager \
  ListSessions 2>&1)
[ "$out" = "ao 0" ] && pass "no session left in tlsd" || fail "sessions left: $out"
out=$(scan "$TLSD_PID")
echo "$out" | tail -n 1
for name in $(cut -d' ' -f1 "$tmp/markers"); do
  hits=$(echo "$out" | grep -c "^found $name at" || true)
  if [ "$hits" -eq 0 ]; then
    pass "after teardown: $name is not in tlsd's memory"
  else
    fail "after teardown: $name is in tlsd's memory $hits times: $(echo "$out" |
      grep "^found $name at" | head -n 4 | tr '\n' ';')"
  fi
done

stop_tlsd
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd/tlsd.log"; then
  fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp/tlsd/tlsd.log" | head -n 40)"
fi
TLSD_PID=
finish
