#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Session resumption through `tlsctl connect`, one process per connection: against openssl
# s_server (TLS 1.3 PSK tickets, two per handshake, and TLS 1.2 session tickets) and tlsd's own
# listener. Covered: automatic resumption across client processes, --no-resume, isolation (by
# peer name, by session policy, by uid), explicit tickets (--print-ticket, --ticket: the owner
# resumes, another uid gets "not found", another peer "permission denied"), the client cache
# and the server ticket keys across a tlsd restart, the state files' modes, and a truncated or
# garbage cache file (warning, full handshake, no crash).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools resume openssl
test_pki

as_other=false
if [ "$(id -u)" -eq 0 ] && getent group nogroup >/dev/null 2>&1; then
  as_other=true
  if command -v setpriv >/dev/null 2>&1; then
    as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
  else
    as_nobody="runuser -u nobody -g nogroup --"
  fi
fi

tmp=$(mktemp -d /tmp/tlsd-resume.XXXXXX)
chmod 755 "$tmp" # uid 65534 reaches the control socket and its CA copy below it
peer_pids=""
listen_pid=""
cleanup() {
  for p in $peer_pids $listen_pid; do kill "$p" 2>/dev/null; done
  for p in $peer_pids $listen_pid; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  [ -n "${TLSD_TEST_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if $as_other; then
  printf '[Daemon]\nSocketGroup=nogroup\n' >"$tmp/tlsd.conf"
  mkdir -p "$tmp/nobody"
  cp "$PKI/ca.pem" "$tmp/nobody/ca.pem"
  chown -R 65534:65534 "$tmp/nobody"
else
  : >"$tmp/tlsd.conf"
fi
state="$tmp/tlsd/state"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish
# restart_tlsd: start it again on the same state; the previous log is kept (tlsd-N.log).
n_starts=1
restart_tlsd() {
  cp "$tmp/tlsd/tlsd.log" "$tmp/tlsd-$n_starts.log"
  n_starts=$((n_starts + 1))
  start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish
}

cert="-cert $PKI/server-ecdsa-chain.pem -key $PKI/server-ecdsa.key"
# s_server NAME ARGS...: openssl s_server -rev on port 0; its port goes to $port.
s_server() {
  local name=$1
  shift
  # shellcheck disable=SC2086 # $cert is two options
  openssl s_server -accept 127.0.0.1:0 -rev "$@" $cert >"$tmp/$name.log" 2>&1 </dev/null &
  peer_pids="$peer_pids $!"
  if ! wait_for_line "$tmp/$name.log" '^ACCEPT 127\.0\.0\.1:[0-9]+$' 15; then
    fail "openssl s_server $name did not start: $(cat "$tmp/$name.log")"
    finish
  fi
  port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.log")
}
s_server s13 -tls1_3 -num_tickets 2
p13=$port
s_server s12 -tls1_2
p12=$port

# conn [WRAPPER...] -- ARGS...: one `tlsctl connect` process sending one line; output in $out.
conn() {
  local wrap=""
  while [ "$1" != "--" ]; do wrap="$wrap $1"; shift; done
  shift
  # shellcheck disable=SC2086 # the wrapper is words
  out=$(echo resume-test | timeout 30 $wrap "$TLSCTL" connect "$@" 2>&1) && rc=0 || rc=$?
}
# resumed WHAT yes|no: the last conn succeeded and says resumed: yes|no.
resumed() {
  if [ "$rc" -ne 0 ]; then
    fail "$1 (exit $rc): $out"
  elif printf '%s\n' "$out" | grep -q "^resumed: $2\$"; then
    pass "$1"
  else
    fail "$1: want resumed: $2 in: $out"
  fi
}
ticket_of() { printf '%s\n' "$out" | sed -n 's/^ticket: \([0-9][0-9]*\)$/\1/p' | tail -n 1; }
ca="--ca=$PKI/ca.pem"

# tickets_stat NAME [WRAPPER...]: one counter of `tlsctl tickets` (empty on failure).
tickets_stat() {
  local name=$1
  shift
  # shellcheck disable=SC2068 # the wrapper is words
  $@ "$TLSCTL" tickets 2>&1 | sed -n "s/^$name: \([0-9][0-9]*\)\$/\1/p"
}
# gt A B: A and B are numbers and A > B.
gt() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" -gt "$2" ]; }

for v in 3 2; do
  eval "port=\$p1$v"
  stored0=$(tickets_stat stored) hits0=$(tickets_stat hits)
  conn -- "$ca" "localhost:$port"
  resumed "TLS 1.$v: first process, full handshake" no
  stored1=$(tickets_stat stored) hits1=$(tickets_stat hits)
  gt "$stored1" "$stored0" && pass "TLS 1.$v: tlsctl tickets: stored grows ($stored0 -> $stored1)" ||
    fail "TLS 1.$v: tlsctl tickets: stored $stored0 -> $stored1: $("$TLSCTL" tickets 2>&1)"
  conn -- "$ca" "localhost:$port"
  resumed "TLS 1.$v: second process resumes automatically" yes
  hits2=$(tickets_stat hits)
  gt "$hits2" "$hits1" && pass "TLS 1.$v: tlsctl tickets: hits grow with a resumption" ||
    fail "TLS 1.$v: tlsctl tickets: hits $hits0 -> $hits1 -> $hits2: $("$TLSCTL" tickets 2>&1)"
  if [ $v = 3 ]; then
    entries=$(tickets_stat entries)
    gt "$entries" 0 && pass "tlsctl tickets: entries $entries" ||
      fail "tlsctl tickets: entries '$entries': $("$TLSCTL" tickets 2>&1)"
    if $as_other; then
      # shellcheck disable=SC2086
      n=$(tickets_stat entries $as_nobody) s=$(tickets_stat stored $as_nobody)
      [ "$n" = 0 ] && [ "$s" = 0 ] &&
        pass "tlsctl tickets is per uid: uid 65534 sees 0 entries, 0 stored" ||
        fail "tlsctl tickets as uid 65534: entries '$n' stored '$s'"
    else
      skip "tlsctl tickets per uid: another uid (needs root and group nogroup)"
    fi
  fi
  conn -- "$ca" "localhost:$port"
  resumed "TLS 1.$v: third process resumes too" yes
  conn -- "$ca" --no-resume "localhost:$port"
  resumed "TLS 1.$v: --no-resume makes a full handshake" no
  conn -- "$ca" "127.0.0.1:$port"
  resumed "TLS 1.$v: another host name does not resume" no
  conn -- "$ca" --servername=localhost "localhost:$port"
  resumed "TLS 1.$v: another --servername (policy) does not resume" no
  conn -- "$ca" --alpn=h2,http/1.1 "localhost:$port"
  resumed "TLS 1.$v: another ALPN list does not resume" no
  if $as_other; then
    # shellcheck disable=SC2086
    conn $as_nobody -- --ca="$tmp/nobody/ca.pem" "localhost:$port"
    resumed "TLS 1.$v: uid 65534 does not resume with uid 0's tickets" no
  else
    skip "TLS 1.$v: another uid (needs root and group nogroup)"
  fi

  # Explicit tickets.
  conn -- "$ca" --print-ticket "localhost:$port"
  id=$(ticket_of)
  if [ -n "$id" ]; then pass "TLS 1.$v: --print-ticket prints the ticket id"; else
    fail "TLS 1.$v: no ticket id printed: $out"; fi
  if $as_other && [ -n "$id" ]; then
    # shellcheck disable=SC2086
    conn $as_nobody -- --ca="$tmp/nobody/ca.pem" --ticket="$id" "localhost:$port"
    if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "not found"; then
      pass "TLS 1.$v: uid 65534 cannot use uid 0's ticket id (not found)"
    else
      fail "TLS 1.$v: uid 65534 with uid 0's ticket (exit $rc): $out"
    fi
  elif ! $as_other; then
    skip "TLS 1.$v: another uid's ticket id (needs root and group nogroup)"
  fi
  if [ -n "$id" ]; then
    conn -- "$ca" --no-resume --ticket="$id" "localhost:$port"
    resumed "TLS 1.$v: --ticket resumes for the owner" yes
  fi
done

# A ticket for one peer is not offered to another.
conn -- "$ca" --print-ticket "localhost:$p12"
id=$(ticket_of)
conn -- "$ca" --ticket="$id" "localhost:$p13"
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "Permission denied.*issued for localhost port $p12"; then
  pass "a ticket issued for another port is refused"
else
  fail "a ticket for another port (exit $rc): $out"
fi
# A refused ticket is not used up: a TLS 1.3 ticket (single use) offered to another host name is
# refused at Connect, and stays for the host it was issued for.
conn -- "$ca" --print-ticket "localhost:$p13"
id=$(ticket_of)
if [ -z "$id" ]; then
  fail "TLS 1.3: no ticket id printed: $out"
else
  conn -- "$ca" --ticket="$id" "127.0.0.1:$p13"
  if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "Permission denied.*issued for localhost port $p13"; then
    pass "TLS 1.3: a ticket offered to another host name is refused"
  else
    fail "TLS 1.3: a ticket offered to another host name (exit $rc): $out"
  fi
  conn -- "$ca" --no-resume --ticket="$id" "localhost:$p13"
  resumed "TLS 1.3: the refused ticket was not used up: its own host resumes with it" yes
fi
conn -- "$ca" --ticket=424242 "localhost:$p12"
if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "not found"; then
  pass "an unknown ticket id: not found"
else
  fail "an unknown ticket id (exit $rc): $out"
fi

# TLS 1.3 tickets are single-use: the one used above is gone (whether the server's other
# tickets of that handshake arrived in one read or several, and so are still cached, depends on
# timing: the id is what is checked).
if [ -n "$id" ]; then
  conn -- "$ca" --ticket="$id" "localhost:$p13"
  if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q "not found"; then
    pass "TLS 1.3: a used ticket is not offered again (its id is not found)"
  else
    fail "TLS 1.3: a used ticket offered again (exit $rc): $out"
  fi
fi
# One more connection to the TLS 1.3 server, so that the cache holds a ticket for it for the
# restart below (whether it resumes depends on the tickets left from above).
conn -- "$ca" "localhost:$p13"

# tlsd <-> tlsd: a listener of the same daemon, with the daemon's ticket keys. On port 0 the first
# time; after the restart on the same port again, as tickets are for a host and port.
plisten=0
start_listener() {
  "$TLSCTL" listen --cert="$PKI/server-ecdsa-chain.pem" --key="$PKI/server-ecdsa.key" \
    "127.0.0.1:$plisten" >"$tmp/listen.log" 2>&1 &
  listen_pid=$!
  if wait_for_line "$tmp/listen.log" '^listening on 127\.0\.0\.1 port [0-9]+$'; then
    plisten=$(sed -n 's/^listening on 127\.0\.0\.1 port \([0-9]*\)$/\1/p' "$tmp/listen.log")
  else
    fail "tlsctl listen did not start: $(cat "$tmp/listen.log")"
  fi
}
stop_listener() {
  kill "$listen_pid" 2>/dev/null
  wait "$listen_pid" 2>/dev/null
  listen_pid=""
}
start_listener
for v in 1.3 1.2; do
  conn -- "$ca" --tls$v "localhost:$plisten"
  resumed "tlsd<->tlsd TLS $v: full handshake" no
  conn -- "$ca" --tls$v "localhost:$plisten"
  resumed "tlsd<->tlsd TLS $v: resumed" yes
done
stop_listener

# ---- restart ----
stop_tlsd
mode_of() { stat -c %a "$1" 2>/dev/null; }
[ "$(mode_of "$state")" = 700 ] && pass "state directory is 0700" ||
  fail "state directory mode $(mode_of "$state")"
for f in ticket-cache ticket-keys; do
  [ "$(mode_of "$state/$f")" = 600 ] && pass "$f is 0600" || fail "$f mode $(mode_of "$state/$f")"
done
restart_tlsd
conn -- "$ca" "localhost:$p13"
resumed "after a tlsd restart: TLS 1.3 resumes (client cache persisted)" yes
conn -- "$ca" "localhost:$p12"
resumed "after a tlsd restart: TLS 1.2 resumes (client cache persisted)" yes
start_listener
for v in 1.3 1.2; do
  conn -- "$ca" --tls$v "localhost:$plisten"
  resumed "after a tlsd restart: tlsd's listener accepts its TLS $v ticket (keys persisted)" yes
done
stop_listener

# ---- a damaged cache file ----
for damage in truncated garbage; do
  stop_tlsd
  if [ $damage = truncated ]; then
    size=$(stat -c %s "$state/ticket-cache")
    truncate -s $((size / 2)) "$state/ticket-cache"
  else
    head -c 4096 /dev/urandom >"$state/ticket-cache"
  fi
  restart_tlsd
  if grep -q "warning.*ticket-cache" "$tmp/tlsd/tlsd.log"; then
    pass "$damage cache file: tlsd warns"
  else
    fail "$damage cache file: no warning in: $(grep -i ticket "$tmp/tlsd/tlsd.log")"
  fi
  conn -- "$ca" "localhost:$p12"
  resumed "$damage cache file: full handshake" no
  conn -- "$ca" "localhost:$p12"
  resumed "$damage cache file: resumes again afterwards" yes
  kill -0 "$TLSD_PID" 2>/dev/null && pass "$damage cache file: tlsd still runs" ||
    fail "$damage cache file: tlsd died"
done
stop_tlsd
finish
