#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The D-Bus control plane (org.tlsd1) end to end, on a private dbus-daemon (a system bus with the
# project's policy dbus/org.tlsd1.conf included) and one tlsd, against openssl s_server/s_client
# on loopback:
#   a. the busctl transcript of README.md ("Administration over D-Bus"): a persistent session,
#      Connect, properties, Send/Receive, ListConnections, tree, Disconnect, Destroy; then a
#      persistent server session and listener, an openssl s_client, Receive/Send on its connection;
#   b. the live daemon's introspection matches dbus/org.tlsd1.xml;
#   c. every operation and signal through tests/dbus-client.py (python3-dbus, one bus connection);
#      then DTLS: a DTLS listener and client in this tlsd, messages, Connection IDs, the
#      MessageTooLarge and Timeout signals, Retry against a silent UDP port, invalid options;
#   c3. session tickets: automatic resumption, GetTicket, ConnectWithTicket, TicketStats,
#      Resume=false, another uid gets NotFound for the ticket (openssl s_server -tls1_3);
#   c4. a peer's SNI that is not UTF-8 arrives in the Accepted signal, converted (s_client);
#   c5. oversize strings and byte arrays refused with the Unix protocol's limits;
#   d. the bus policy and per-uid ownership with real uids: outside group tlsd refused by the bus,
#      inside allowed, another uid's objects invisible (NotFound), Manager.Stats per uid, a
#      client's objects gone with it.
# Needs root (other uids, the policy's user and group tlsd, which it creates if missing).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
# shellcheck disable=SC2154 # uid_a, uid_b and tlsd_gid are set by lib.sh's tlsd_group_uids
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

top_srcdir=$(cd "$top_srcdir" && pwd)
PY=/usr/bin/python3 # Debian's, with python3-dbus (a python3 earlier on PATH may lack it)
CLIENT="$top_srcdir/tests/dbus-client.py"

need_root "D-Bus: needs root (a private system bus, other uids, the tlsd user and group)"
need_tools D-Bus dbus-daemon busctl setpriv openssl
need_python_dbus D-Bus
test_pki

tmp=$(mktemp -d /tmp/tlsd-dbus.XXXXXX)
chmod 755 "$tmp" # other uids reach the bus socket in it
peer_pids=""
owner_pid=""
cleanup() {
  exec 3>&- 4>&-
  for p in $owner_pid $peer_pids; do kill "$p" 2>/dev/null; done
  for p in $owner_pid $peer_pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  stop_private_buses
  remove_test_users
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- users: the policy names user and group tlsd; A and B are uids in group tlsd ----

tlsd_group_uids
make_test_user tlsd -g tlsd
as_a() { setpriv --reuid="$uid_a" --regid="$uid_a" --groups="$tlsd_gid" "$@"; }
as_b() { setpriv --reuid="$uid_b" --regid="$uid_b" --groups="$tlsd_gid" "$@"; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# ---- the bus ----

start_private_bus "$tmp" bus system allow "$top_srcdir/dbus/org.tlsd1.conf"
address=$BUS_ADDRESS
DBUS_SYSTEM_BUS_ADDRESS=$address
export DBUS_SYSTEM_BUS_ADDRESS
bc() { timeout "$(waits 10)" busctl --system "$@"; }

# ---- peers: openssl s_server -rev answers each line reversed ----

# ossl CERT-NAME [KEY-NAME [ARGS...]]: a -rev server on port 0, whose port lands in $port.
ossl() {
  local cert=$1 key=${2:-$1}
  shift
  [ $# -eq 0 ] || shift
  n_ossl=$((${n_ossl:-0} + 1))
  openssl s_server -accept 127.0.0.1:0 -rev "$@" -cert "$PKI/$cert.pem" -key "$PKI/$key.key" \
    >"$tmp/s_server-$n_ossl.log" 2>&1 </dev/null &
  peer_pids="$peer_pids $!"
  if wait_for_line "$tmp/s_server-$n_ossl.log" '^ACCEPT 127\.0\.0\.1:[0-9]+$' 15; then
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/s_server-$n_ossl.log")
  else
    fail "openssl s_server $cert did not start: $(cat "$tmp/s_server-$n_ossl.log")"
    port=1
  fi
}
ossl server-ecdsa-chain server-ecdsa; port_a=$port
ossl server-ecdsa-chain server-ecdsa; port_1=$port
ossl server-ecdsa-chain server-ecdsa; port_2=$port
ossl server-ecdsa-chain server-ecdsa; port_3=$port
ossl server-selfsigned; port_self=$port
ossl server-wronghost; port_wrong=$port
# TLS 1.3 only, two tickets per handshake: resumption over D-Bus
ossl server-ecdsa-chain server-ecdsa -tls1_3 -num_tickets 2; port_t13=$port

# ---- tlsd ----

printf '[DBus]\nAddress=%s\n' "$address" >"$tmp/tlsd.conf"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish
# sockets: how many sockets tlsd holds (control socket and bus at rest; a held data stream more)
sockets() { find "/proc/$TLSD_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
for _ in $(tries 100); do
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager Ping ay 0 >/dev/null 2>&1 && break
  sleep 0.05
done
# counted once tlsd is on the bus (the control socket comes first: under valgrind the bus
# connection was not there yet when counted before)
sockets_at_rest=$(sockets)
expect_exit 0 "tlsd owns org.tlsd1 on the private bus" -- \
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager GetVersion
expect_output "Manager.GetVersion over busctl" '^sus "[^"]+" [0-9]+ "wolfSSL '

# ---- a. the busctl transcript ----

# bytes FILE: FILE as busctl's "ay" arguments (count, then each byte)
bytes() { echo "$(stat -c %s "$1") $(od -An -v -tu1 "$1")"; }
# path: the object path in busctl's reply $out ("o "/org/..."")
path() { printf '%s' "$out" | awk '{print $2}' | tr -d '"'; }

# shellcheck disable=SC2046
expect_exit 0 "busctl: CreateSession (client, persistent, CA)" -- \
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager CreateSession 'ua{sv}' 0 2 \
  Persistent b true CA ay $(bytes "$PKI/ca.pem")
S=$(path)
expect_exit 0 "busctl: Session.CreateConnection" -- \
  bc call org.tlsd1 "$S" org.tlsd1.Session CreateConnection u 0
C=$(path)
expect_exit 0 "busctl: Connection.Connect localhost:$port_a" -- \
  bc call org.tlsd1 "$C" org.tlsd1.Connection Connect sus localhost "$port_a" ""
for _ in $(tries 100); do
  case $(bc get-property org.tlsd1 "$C" org.tlsd1.Connection State 2>&1) in
  's "connecting"' | 's "handshake"') sleep 0.05 ;;
  *) break ;;
  esac
done
out=$(bc get-property org.tlsd1 "$C" org.tlsd1.Connection State Version Cipher Verification 2>&1 |
  tr '\n' ' ')
if printf '%s' "$out" | grep -qE '^s "operating" s "TLSv1\.3" s "TLS_[A-Z0-9_]+" s "ok" $'; then
  pass "busctl: properties State=operating, Version=TLSv1.3, Cipher, Verification=ok ($out)"
else
  fail "busctl: properties after the handshake: $out"
fi
expect_exit 0 "busctl: Connection.Send" -- \
  bc call org.tlsd1 "$C" org.tlsd1.Connection Send ay 6 104 101 108 108 111 10
expect_output "busctl: Send wrote 6 bytes" '^u 6$'
for _ in $(tries 100); do
  out=$(bc call org.tlsd1 "$C" org.tlsd1.Connection Receive u 100 2>&1)
  [ "$out" != "ayb 0 false" ] && break
  sleep 0.05
done
expect_output "busctl: Connection.Receive returns the line reversed" '^ayb 6 111 108 108 101 104 10 false$'
expect_exit 0 "busctl: ListConnections" -- bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager ListConnections
expect_output "busctl: ListConnections lists $C" "\"$C\""
expect_exit 0 "busctl: tree" -- bc tree org.tlsd1
expect_output "busctl: tree shows $C" "$C\$"
expect_output "busctl: tree shows $S" "$S\$"
expect_exit 0 "busctl: Connection.Disconnect" -- bc call org.tlsd1 "$C" org.tlsd1.Connection Disconnect
expect_exit 0 "busctl: get-property State" -- bc get-property org.tlsd1 "$C" org.tlsd1.Connection State
expect_output "busctl: after Disconnect State=closed" '^s "closed"$'
expect_exit 0 "busctl: Session.Destroy" -- bc call org.tlsd1 "$S" org.tlsd1.Session Destroy
expect_exit 1 "busctl: the destroyed connection is gone" -- \
  bc get-property org.tlsd1 "$C" org.tlsd1.Connection State
expect_output "busctl: its properties answer 'no such connection'" 'no such connection'
out=$(bc tree org.tlsd1 2>&1)
if printf '%s' "$out" | grep -qE "$S\$|$C\$"; then
  fail "busctl: tree still shows the destroyed objects: $out"
else
  pass "busctl: tree no longer shows the destroyed session and connection"
fi

# a failed Connect leaves its reason in LastError: persistent objects get no signals, so that
# is all a busctl user has (issue 15)
closed_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_exit 0 "busctl: CreateSession (client, persistent) for a failing Connect" -- \
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager CreateSession 'ua{sv}' 0 1 Persistent b true
SF=$(path)
bc call org.tlsd1 "$SF" org.tlsd1.Session CreateConnection u 0 >"$tmp/out" 2>&1
out=$(cat "$tmp/out")
CF=$(path)
expect_exit 0 "busctl: Connect to a closed port is accepted (the outcome comes later)" -- \
  bc call org.tlsd1 "$CF" org.tlsd1.Connection Connect sus 127.0.0.1 "$closed_port" ""
for _ in $(seq 1 100); do
  [ "$(bc get-property org.tlsd1 "$CF" org.tlsd1.Connection State 2>&1)" = 's "closed"' ] && break
  sleep 0.05
done
out=$(bc get-property org.tlsd1 "$CF" org.tlsd1.Connection State LastError LastErrorName 2>&1 |
  tr '\n' ' ')
expect_output "busctl: after the failed Connect LastError has the reason, LastErrorName ConnectFailed" \
  "^s \"closed\" s \".*Connection refused\" s \"ConnectFailed\" \$"
expect_exit 0 "busctl: Session.Destroy (the failed one)" -- bc call org.tlsd1 "$SF" org.tlsd1.Session Destroy
expect_exit 1 "busctl: SetLogLevel loud is refused" -- \
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager SetLogLevel s loud
expect_output "busctl: SetLogLevel loud: the valid levels are listed" \
  "expected debug, info, notice, warning, err, crit, alert, emerg"

# ---- a2. a persistent server session, with busctl only ----

# shellcheck disable=SC2046
expect_exit 0 "busctl: CreateSession (server, persistent, Certificate, Key)" -- \
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager CreateSession 'ua{sv}' 1 3 Persistent b true \
  Certificate ay $(bytes "$PKI/server-ecdsa-chain.pem") Key ay $(bytes "$PKI/server-ecdsa.key")
SS=$(path)
expect_exit 0 "busctl: Session.Listen 127.0.0.1:0" -- \
  bc call org.tlsd1 "$SS" org.tlsd1.Session Listen suuu 127.0.0.1 0 0 0
L=$(path)
lport=$(printf '%s' "$out" | awk '{print $3}')
mkfifo "$tmp/s_client.in"
openssl s_client -connect "127.0.0.1:$lport" -servername localhost -CAfile "$PKI/ca.pem" \
  -verify_return_error <"$tmp/s_client.in" >"$tmp/s_client.out" 2>&1 &
s_client_pid=$!
peer_pids="$peer_pids $s_client_pid"
exec 4>"$tmp/s_client.in"
printf 'from s_client\n' >&4
# the accepted connection appears in ListConnections; its data waits behind Receive
A=""
for _ in $(tries 100); do
  A=$(bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager ListConnections 2>/dev/null | awk '{print $3}' | tr -d '"')
  [ -n "$A" ] && break
  sleep 0.05
done
if [ -n "$A" ]; then
  pass "openssl s_client to the persistent listener: ListConnections shows $A"
  for _ in $(tries 100); do
    out=$(bc call org.tlsd1 "$A" org.tlsd1.Connection Receive u 100 2>&1)
    [ "$out" != "ayb 0 false" ] && break
    sleep 0.05
  done
  expect_output "busctl: Receive on the accepted connection returns the client's line" \
    '^ayb 14 102 114 111 109 32 115 95 99 108 105 101 110 116 10 false$'
  expect_exit 0 "busctl: Send on the accepted connection" -- \
    bc call org.tlsd1 "$A" org.tlsd1.Connection Send ay 5 116 108 115 100 10
  for _ in $(tries 100); do
    grep -q '^tlsd$' "$tmp/s_client.out" && break
    sleep 0.05
  done
  if grep -q '^tlsd$' "$tmp/s_client.out"; then
    pass "openssl s_client receives the line sent with busctl"
  else
    fail "openssl s_client did not receive the line: $(cat "$tmp/s_client.out")"
  fi
  expect_exit 0 "busctl: Listener property Accepted" -- bc get-property org.tlsd1 "$L" org.tlsd1.Listener Accepted
  expect_output "busctl: Listener Accepted=1" '^t 1$'
else
  fail "the persistent listener's connection does not show in ListConnections: $(cat "$tmp/s_client.out")"
fi
exec 4>&- # s_client: end of input, it sends close_notify and exits
wait "$s_client_pid" 2>/dev/null
if [ -n "$A" ]; then
  # close_notify is a half-close: tlsd's side sees the end, the connection waits for ours
  for _ in $(tries 100); do
    out=$(bc call org.tlsd1 "$A" org.tlsd1.Connection Receive u 100 2>&1)
    [ "$out" != "ayb 0 false" ] && break
    sleep 0.05
  done
  expect_output "busctl: after the client's close_notify Receive reports eof" '^ayb 0 true$'
  expect_exit 0 "busctl: Disconnect the accepted connection" -- \
    bc call org.tlsd1 "$A" org.tlsd1.Connection Disconnect
  for _ in $(tries 40); do
    out=$(bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager ListConnections 2>&1)
    [ "$out" = "ao 0" ] && break
    sleep 0.05
  done
  expect_output "the accepted connection is released once it ended" '^ao 0$'
fi
expect_exit 0 "busctl: Listener.Close" -- bc call org.tlsd1 "$L" org.tlsd1.Listener Close
expect_exit 0 "busctl: Session.Destroy (server)" -- bc call org.tlsd1 "$SS" org.tlsd1.Session Destroy

# ---- b. introspection matches dbus/org.tlsd1.xml ----

# shellcheck disable=SC2046
{
  bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager CreateSession 'ua{sv}' 0 1 Persistent b true >"$tmp/out" &&
    out=$(cat "$tmp/out") && S=$(path) &&
    bc call org.tlsd1 "$S" org.tlsd1.Session CreateConnection u 0 >"$tmp/out" &&
    out=$(cat "$tmp/out") && C=$(path) &&
    bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager CreateSession 'ua{sv}' 1 3 Persistent b true \
      Certificate ay $(bytes "$PKI/server-ecdsa-chain.pem") Key ay $(bytes "$PKI/server-ecdsa.key") \
      >"$tmp/out" && out=$(cat "$tmp/out") && SS=$(path) &&
    bc call org.tlsd1 "$SS" org.tlsd1.Session Listen suuu 127.0.0.1 0 0 0 >"$tmp/out" &&
    out=$(cat "$tmp/out") && L=$(path)
} 2>"$tmp/err"
if [ -n "${L:-}" ]; then
  n=0
  for p in /org/tlsd1 "$S" "$C" "$L"; do
    n=$((n + 1))
    bc --xml-interface introspect org.tlsd1 "$p" >"$tmp/introspect-$n.xml" 2>>"$tmp/err"
  done
  if "$PY" "$CLIENT" xml-merge "$tmp"/introspect-[1-4].xml >"$tmp/live.xml" 2>>"$tmp/err"; then
    if [ -n "${TLSD_DBUS_WRITE_XML:-}" ]; then
      cp "$tmp/live.xml" "$TLSD_DBUS_WRITE_XML" && echo "wrote $TLSD_DBUS_WRITE_XML"
    fi
    "$PY" "$CLIENT" xml-normalize "$tmp/live.xml" >"$tmp/live.txt"
    "$PY" "$CLIENT" xml-normalize "$top_srcdir/dbus/org.tlsd1.xml" >"$tmp/file.txt"
    if [ ! -s "$tmp/file.txt" ]; then
      fail "introspection: dbus/org.tlsd1.xml has no org.tlsd1 interfaces"
    elif diff -u "$tmp/file.txt" "$tmp/live.txt" >"$tmp/diff"; then
      pass "introspection of the live daemon matches dbus/org.tlsd1.xml ($(grep -c '^interface' "$tmp/live.txt") interfaces, $(grep -vc '^interface' "$tmp/live.txt") members)"
    else
      fail "introspection differs from dbus/org.tlsd1.xml (- file, + live): $(cat "$tmp/diff")"
    fi
  else
    fail "introspection: cannot merge: $(cat "$tmp/err")"
  fi
  bc call org.tlsd1 "$S" org.tlsd1.Session Destroy >/dev/null 2>&1
  bc call org.tlsd1 "$SS" org.tlsd1.Session Destroy >/dev/null 2>&1
else
  fail "introspection: cannot create the objects to introspect: $out $(cat "$tmp/err")"
fi

# ---- c. every operation from one python3-dbus client ----

timeout "$(waits 60)" "$PY" "$CLIENT" suite --address="$address" --pki="$PKI" \
  --log="$tmp/tlsd/tlsd.log" --rev1="$port_1" \
  --rev2="$port_2" --rev3="$port_3" --selfsigned="$port_self" --wronghost="$port_wrong" \
  >"$tmp/suite.out" 2>&1 && rc=0 || rc=$?
count_client "$tmp/suite.out" "$rc" "dbus-client.py suite"
leftover=$(sed -n 's/^leftover //p' "$tmp/suite.out")
if [ -n "$leftover" ]; then
  for _ in $(tries 60); do
    out=$(bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager ListSessions 2>&1)
    gone=1
    for s in $leftover; do
      case $out in *"\"$s\""*) gone=0 ;; esac
    done
    [ "$gone" -eq 1 ] && break
    sleep 0.05
  done
  if [ "$gone" -eq 1 ]; then
    pass "the client's undestroyed sessions ($leftover) went with its bus connection"
  else
    fail "sessions $leftover outlived their client: $out"
  fi
fi

# ---- c2. DTLS over D-Bus ----

timeout "$(waits 90)" "$PY" "$CLIENT" dtls --address="$address" --pki="$PKI" >"$tmp/dtls.out" 2>&1 &&
  rc=0 || rc=$?
count_client "$tmp/dtls.out" "$rc" "dbus-client.py dtls"

# ---- c3. session tickets over D-Bus (uid $uid_b: the other uid) ----

timeout "$(waits 120)" "$PY" "$CLIENT" tickets --address="$address" --pki="$PKI" --tls13="$port_t13" \
  --other-uid="$uid_b" --other-gid="$tlsd_gid" >"$tmp/tickets.out" 2>&1 && rc=0 || rc=$?
count_client "$tmp/tickets.out" "$rc" "dbus-client.py tickets"

# ---- c4. a peer's SNI that is not UTF-8 (D-Bus strings must be) ----

timeout 60 "$PY" - "$CLIENT" "$address" "$PKI" >"$tmp/sni.out" 2>&1 <<'EOF' && rc=0 || rc=$?
import importlib.util, os, subprocess, sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # dbus-client.py imports dbuskit beside it
spec = importlib.util.spec_from_file_location("client", sys.argv[1])
c = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c)
import dbus

U = dbus.UInt32
bus = c.connect(sys.argv[2])
sig = c.Signals(bus)
pki = sys.argv[3]
s = c.iface(bus, "/org/tlsd1", "org.tlsd1.Manager").CreateSession(U(1), c.options(
    Certificate=dbus.ByteArray(c.slurp(pki + "/server-ecdsa-chain.pem")),
    Key=dbus.ByteArray(c.slurp(pki + "/server-ecdsa.key"))))
lpath, port = c.iface(bus, s, "org.tlsd1.Session").Listen("127.0.0.1", U(0), U(0), U(0))
peer = subprocess.Popen([b"openssl", b"s_client", b"-connect", b"127.0.0.1:%d" % port,
                         b"-servername", b"\xff\xfe.example", b"-quiet"],
                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
try:
    acc = sig.wait(lpath, "Accepted")
    c.report(acc is not None and acc[3][3] == "??.example",
             "SNI b'\\xff\\xfe.example' (not UTF-8): the Accepted signal arrives with the SNI "
             "converted as on the Unix socket: %r" % (str(acc[3][3]) if acc else None), sig.got)
    c.report(c.prop(bus, lpath, "org.tlsd1.Listener", "Accepted") == 1,
             "the listener counted the connection")
finally:
    peer.kill()
    peer.wait()
bus.close()
sys.exit(1 if c.dbuskit.failures else 0)
EOF
count_client "$tmp/sni.out" "$rc" "the non-UTF-8 SNI client"

# ---- c5. the Unix protocol's size limits hold over D-Bus too ----

timeout 60 "$PY" "$CLIENT" limits --address="$address" --pki="$PKI" >"$tmp/limits.out" 2>&1 &&
  rc=0 || rc=$?
count_client "$tmp/limits.out" "$rc" "dbus-client.py limits"

# ---- d. policy and ownership with real uids ----

mkfifo "$tmp/owner.in"
as_a "$PY" "$CLIENT" owner --address="$address" <"$tmp/owner.in" >"$tmp/owner.out" 2>&1 &
owner_pid=$!
exec 3>"$tmp/owner.in" # A holds its objects until this closes
for _ in $(tries 200); do
  grep -q '^ready$' "$tmp/owner.out" && break
  kill -0 "$owner_pid" 2>/dev/null || break
  sleep 0.05
done
S_A=$(sed -n 's/^session //p' "$tmp/owner.out")
C_A=$(sed -n 's/^connection //p' "$tmp/owner.out")
if [ -n "$S_A" ] && [ -n "$C_A" ]; then
  out=$(bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager ListSessions 2>&1)
  case $out in
  *"\"$S_A\""*) pass "root sees uid $uid_a's session $S_A in ListSessions" ;;
  *) fail "root does not see uid $uid_a's session $S_A: $out" ;;
  esac
  as_b timeout "$(waits 30)" "$PY" "$CLIENT" intruder --address="$address" --session="$S_A" \
    --connection="$C_A" >"$tmp/intruder.out" 2>&1 && rc=0 || rc=$?
  count_client "$tmp/intruder.out" "$rc" "dbus-client.py intruder (uid $uid_b)"
  as_nobody timeout "$(waits 30)" "$PY" "$CLIENT" outsider --address="$address" --session="$S_A" \
    --connection="$C_A" >"$tmp/outsider.out" 2>&1 && rc=0 || rc=$?
  count_client "$tmp/outsider.out" "$rc" "dbus-client.py outsider (uid 65534)"
  expect_exit 1 "busctl as uid 65534: Manager.Ping refused" -- \
    as_nobody timeout "$(waits 10)" busctl --system call org.tlsd1 /org/tlsd1 org.tlsd1.Manager Ping ay 0
  expect_output "busctl as uid 65534: the bus says Access denied" 'Access denied'
  expect_exit 0 "busctl as uid $uid_b (group tlsd): Manager.Ping allowed" -- \
    as_b timeout "$(waits 10)" busctl --system call org.tlsd1 /org/tlsd1 org.tlsd1.Manager Ping ay 0
fi
exec 3>&- # A's stdin ends: it exits, and its objects must go with its bus connection
wait "$owner_pid" && rc=0 || rc=$?
owner_pid=""
count_client "$tmp/owner.out" "$rc" "dbus-client.py owner (uid $uid_a)"
if [ -n "$S_A" ]; then
  for _ in $(tries 60); do
    out=$(bc call org.tlsd1 /org/tlsd1 org.tlsd1.Manager ListSessions 2>&1)
    case $out in *"\"$S_A\""*) ;; *) break ;; esac
    sleep 0.05
  done
  case $out in
  *"\"$S_A\""*) fail "uid $uid_a exited, its session $S_A is still listed: $out" ;;
  *) pass "uid $uid_a's client exited: its session is gone (ListSessions as root: $out)" ;;
  esac
  expect_exit 1 "uid $uid_a's connection is gone" -- \
    bc get-property org.tlsd1 "$C_A" org.tlsd1.Connection State
fi

# ---- the end ----

for _ in $(tries 40); do
  [ "$(sockets)" -eq "$sockets_at_rest" ] && break
  sleep 0.05
done
if [ "$(sockets)" -eq "$sockets_at_rest" ]; then
  pass "every object is gone: tlsd holds $sockets_at_rest sockets again (no data stream left)"
else
  fail "tlsd holds $(sockets) sockets, $sockets_at_rest at rest: $(ls -l "/proc/$TLSD_PID/fd")"
fi

if kill -0 "$TLSD_PID" 2>/dev/null; then
  pass "tlsd is still running"
else
  fail "tlsd died: $(tail -n 20 "$tmp/tlsd/tlsd.log")"
fi
stop_tlsd
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$tmp/tlsd/tlsd.log"; then
  fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$tmp/tlsd/tlsd.log" | head -n 40)"
else
  pass "tlsd log has no sanitizer report"
fi
TLSD_PID=
stop_private_buses

finish
