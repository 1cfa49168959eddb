#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Session tickets and session IDs do not cross owners or policies, and do not skip client
# authentication (issue 11 item 1). One tlsd, listeners of two uids (65534 and a throw-away
# user X), each on TCP and on UDP (DTLS):
#   A   uid 65534, no client certificates       A2  the same uid and options again
#   C   uid X, the same options as A            D   uid 65534, client certificate required
#   B   uid X, client certificate required      E   uid X, client certificate optional
# openssl s_client takes a ticket (-sess_out) from A and offers it (-sess_in) to each: TLS 1.2,
# TLS 1.3 and DTLS 1.2. It resumes at A and A2 (same owner, same policy: the control that shows
# the offer works) and nowhere else: C and E make a full handshake, B and D refuse the
# certless client and their app sees no Accepted event. TLS 1.2 session IDs (-no_ticket): none
# is issued (one that was resumed at every listener of the daemon). A client with a
# certificate gets no ticket from B and never resumes there (a ticket carries no verified
# identity): each connection is a full handshake that reports the client. tlsd's own client,
# TLS 1.3 and DTLS 1.3: resumes at A, never at B.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_root "ticket isolation: needs root (listeners of two uids)"
need_tools "ticket isolation" openssl setpriv useradd userdel python3
if ! getent group nogroup >/dev/null 2>&1; then
  skip "ticket isolation: no group nogroup (the control socket's group here)"
  finish
fi
test_pki

# A write to the fifo of an s_client that already gave up must not kill the test.
trap '' PIPE

tmp=$(mktemp -d /tmp/tlsd-ticket-iso.XXXXXX)
chmod 755 "$tmp" # the other uids reach the control socket and their directories below it
pids=""
cleanup() {
  exec 5>&- 2>/dev/null
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  remove_test_users
  [ -n "${TLSD_TEST_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# uid X: a throw-away system user (left over from an interrupted run: reused).
user_x=tlsd-test-tickets
if ! make_test_user "$user_x" -N >/dev/null 2>&1; then
  fail "cannot create the test user $user_x"
  finish
fi
uid_x=$(id -u "$user_x")
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_x() { setpriv --reuid="$uid_x" --regid=65534 --clear-groups "$@"; }

printf '[Daemon]\nSocketGroup=nogroup\n' >"$tmp/tlsd.conf"
start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" || finish

# Each uid reads its certificates from its own directory.
for who in nobody x; do
  mkdir "$tmp/$who"
  cp "$PKI/server-ecdsa-chain.pem" "$PKI/server-ecdsa.key" "$PKI/ca.pem" "$tmp/$who/"
done
chown -R 65534:65534 "$tmp/nobody"
chown -R "$uid_x:65534" "$tmp/x"

# listener NAME RUNAS TRANSPORT [OPTIONS...]: `tlsctl listen` on a free port of 127.0.0.1 as
# RUNAS (as_nobody or as_x); its port in $lport, its lines in $tmp/NAME.log.
listener() {
  local name=$1 runas=$2 transport=$3 dir i
  shift 3
  [ "$runas" = as_nobody ] && dir="$tmp/nobody" || dir="$tmp/x"
  $runas "$TLSCTL" listen $transport --cert="$dir/server-ecdsa-chain.pem" \
    --key="$dir/server-ecdsa.key" "$@" 127.0.0.1:0 >"$tmp/$name.port" 2>"$tmp/$name.log" &
  pids="$pids $!"
  for i in $(seq 1 200); do
    lport=$(head -n 1 "$tmp/$name.port")
    [ -n "$lport" ] && break
    sleep 0.1
  done
  if [ -z "$lport" ]; then
    fail "listener $name did not start: $(cat "$tmp/$name.log")"
    finish
  fi
  eval "port_$name=\$lport"
}
mtls_x="--client-ca=$tmp/x/ca.pem --require-client-cert"
mtls_nobody="--client-ca=$tmp/nobody/ca.pem --require-client-cert"
for t in tcp udp; do
  [ $t = tcp ] && tr="" || tr="--dtls"
  listener "A_$t" as_nobody "$tr"
  listener "A2_$t" as_nobody "$tr"
  listener "C_$t" as_x "$tr"
  # shellcheck disable=SC2086 # option lists
  listener "D_$t" as_nobody "$tr" $mtls_nobody
  # shellcheck disable=SC2086
  listener "B_$t" as_x "$tr" $mtls_x
  listener "E_$t" as_x "$tr" --client-ca="$tmp/x/ca.pem"
done

# accepted NAME: how many connections listener NAME's app was given (Accepted events).
accepted() { grep -c '^accepted ' "$tmp/$1.log"; }
# wait_accepted NAME N: until listener NAME has reported N connections (at most 20 s).
wait_accepted() {
  local i
  for i in $(seq 1 200); do
    [ "$(accepted "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# sc CASE ARGS...: one openssl s_client connection that sends "ping-CASE" and waits (up to 20 s)
# for the listener's echo before it closes; its output in $tmp/CASE.out and $out.
n_sc=0
sc() {
  local cname=$1 in pid i
  shift
  n_sc=$((n_sc + 1))
  in="$tmp/sc-$n_sc.in"
  mkfifo "$in"
  timeout 30 openssl s_client -servername localhost -CAfile "$PKI/ca.pem" "$@" \
    <"$in" >"$tmp/$cname.out" 2>&1 &
  pid=$!
  exec 5>"$in"
  echo "ping-$cname" >&5 2>/dev/null
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    grep -q "^ping-$cname\$" "$tmp/$cname.out" && break
    sleep 0.1
  done
  exec 5>&-
  wait "$pid" 2>/dev/null
  out=$(cat "$tmp/$cname.out")
}
reused() { printf '%s\n' "$out" | grep -q '^Reused, '; }
echoed() { printf '%s\n' "$out" | grep -q "^ping-$1\$"; }
brief() { printf '%s\n' "$out" | grep -E '^(New|Reused), |alert|error|^ping-' | head -n 5 | tr '\n' ' '; }
last_accepted() { grep '^accepted ' "$tmp/$1.log" | tail -n 1; }

client_cert="-cert $PKI/client.pem -key $PKI/client.key"

# check_offer WHAT PROTO_OPTS SESSION TARGET WANT: offers SESSION to listener TARGET (of transport
# $t). WANT: resume (Reused, echoed, the app's Accepted says resumed), full (a full handshake,
# echoed, not resumed), refuse (not resumed, no echo, no Accepted event for it).
check_offer() {
  local what=$1 opts=$2 sess=$3 target=$4 want=$5 cname n0 line
  cname="$target-$(echo "$what" | tr -c 'A-Za-z0-9' _)"
  eval "port=\$port_$target"
  n0=$(accepted "$target")
  # shellcheck disable=SC2086 # option lists
  sc "$cname" $opts -connect "127.0.0.1:$port" -sess_in "$sess"
  case $want in
  resume)
    if reused && echoed "$cname" && wait_accepted "$target" $((n0 + 1)) &&
      last_accepted "$target" | grep -q ', resumed$'; then
      pass "$what: resumes at $target"
    else
      fail "$what: does not resume at $target: $(brief) / $(last_accepted "$target")"
    fi
    ;;
  full)
    if reused; then
      fail "$what: Reused at $target: $(brief) / $(last_accepted "$target")"
    elif echoed "$cname" && wait_accepted "$target" $((n0 + 1)) &&
      ! last_accepted "$target" | grep -q ', resumed$'; then
      pass "$what: full handshake at $target, not resumed"
    else
      fail "$what: no full handshake at $target: $(brief) / $(last_accepted "$target")"
    fi
    ;;
  refuse)
    if reused; then
      fail "$what: Reused at $target (client authentication skipped): $(brief) /" \
        "$(last_accepted "$target")"
      return
    fi
    # A client with a certificate after it: once its connection is reported, the app would
    # have seen the certless one before it (events are in order).
    # shellcheck disable=SC2086
    sc "$cname-good" $opts $client_cert -connect "127.0.0.1:$port"
    if ! wait_accepted "$target" $((n0 + 1)); then
      fail "$what: $target did not accept a client with a certificate: $(brief)"
      return
    fi
    line=$(last_accepted "$target")
    if [ "$(accepted "$target")" -eq $((n0 + 1)) ] &&
      printf '%s' "$line" | grep -q 'client /CN=tlsd-test-client$' &&
      ! echoed "$cname"; then
      pass "$what: $target refuses the certless client (no resumption, no Accepted event)"
    else
      fail "$what: $target: $(accepted "$target") accepted, was $n0: $(grep '^accepted ' \
        "$tmp/$target.log" | tail -n 2 | tr '\n' ' ')"
    fi
    ;;
  esac
}

# ---- tickets: TLS 1.2, TLS 1.3, DTLS 1.2 ----
for proto in tls1_2 tls1_3 dtls1_2; do
  case $proto in
  tls1_2) t=tcp v="TLS 1.2" ;;
  tls1_3) t=tcp v="TLS 1.3" ;;
  dtls1_2) t=udp v="DTLS 1.2" ;;
  esac
  sess="$tmp/A-$proto.sess"
  eval "port=\$port_A_$t"
  sc "take-$proto" -"$proto" -connect "127.0.0.1:$port" -sess_out "$sess"
  if [ -s "$sess" ] && echoed "take-$proto" && ! reused; then
    pass "$v: a session from uid 65534's listener A (-sess_out)"
  else
    fail "$v: no ticket from A: $(brief)"
    continue
  fi
  check_offer "$v ticket of A" "-$proto" "$sess" "A_$t" resume
  check_offer "$v ticket of A, same uid and policy" "-$proto" "$sess" "A2_$t" resume
  check_offer "$v ticket of A, another uid, same policy" "-$proto" "$sess" "C_$t" full
  check_offer "$v ticket of A, same uid, client certificate required" "-$proto" "$sess" \
    "D_$t" refuse
  check_offer "$v ticket of A, another uid, client certificate required" "-$proto" "$sess" \
    "B_$t" refuse
  check_offer "$v ticket of A, another uid, client certificate optional" "-$proto" "$sess" \
    "E_$t" full

  # A client with a certificate at B: a second connection offering B's own ticket (if B
  # issued one) is a full handshake that reports the client again.
  msess="$tmp/B-$proto.sess"
  eval "port=\$port_B_$t"
  n0=$(accepted "B_$t")
  # shellcheck disable=SC2086
  sc "mtls-$proto" -"$proto" $client_cert -connect "127.0.0.1:$port" -sess_out "$msess"
  if echoed "mtls-$proto" && wait_accepted "B_$t" $((n0 + 1)) &&
    last_accepted "B_$t" | grep -q 'client /CN=tlsd-test-client$'; then
    pass "$v: a client with a certificate at B: full handshake, client reported"
  else
    fail "$v: a client with a certificate at B: $(brief) / $(last_accepted "B_$t")"
  fi
  # B issues nothing to resume with (s_client saved sessions from A above).
  if [ -s "$msess" ]; then
    fail "$v: B gave the client a session to resume (openssl s_client -sess_out saved one)"
    resume_b="-sess_in $msess"
  else
    pass "$v: B issues no ticket to a client with a certificate"
    resume_b=""
  fi
  # shellcheck disable=SC2086
  sc "mtls2-$proto" -"$proto" $client_cert -connect "127.0.0.1:$port" $resume_b
  if ! reused && echoed "mtls2-$proto" && wait_accepted "B_$t" $((n0 + 2)) &&
    last_accepted "B_$t" | grep -q 'client /CN=tlsd-test-client$'; then
    pass "$v: the same client again at B: full handshake, client reported again"
  else
    fail "$v: the same client again at B: $(brief) / $(last_accepted "B_$t")"
  fi
done

# ---- TLS 1.2 session IDs (no tickets) ----
# wolfSSL's session cache is one per process and looked up by the ID alone: a session ID that
# A issued resumed at every other listener. tlsd's listeners issue none (no stateful
# resumption); if one did, it must not resume elsewhere.
sess="$tmp/A-sid.sess"
sc take-sid -tls1_2 -no_ticket -connect "127.0.0.1:$port_A_tcp" -sess_out "$sess"
sid=$(printf '%s\n' "$out" | sed -n 's/^ *Session-ID: *\([0-9A-Fa-f]*\)$/\1/p' | head -n 1)
if ! echoed take-sid; then
  fail "TLS 1.2 -no_ticket: no connection to A: $(brief)"
elif [ -z "$sid" ]; then
  pass "TLS 1.2 -no_ticket: A issues no session ID"
else
  fail "TLS 1.2 -no_ticket: A issued session ID $sid"
fi
if [ -n "$sid" ] && [ -s "$sess" ]; then
  check_offer "TLS 1.2 session ID of A, another uid, same policy" "-tls1_2 -no_ticket" \
    "$sess" C_tcp full
  check_offer "TLS 1.2 session ID of A, same uid, client certificate required" \
    "-tls1_2 -no_ticket" "$sess" D_tcp refuse
  check_offer "TLS 1.2 session ID of A, another uid, client certificate required" \
    "-tls1_2 -no_ticket" "$sess" B_tcp refuse
fi

# ---- tlsd's own client: TLS 1.3 and DTLS 1.3 ----
# conn ARGS...: one `tlsctl connect` sending one line; output in $out.
conn() {
  out=$(echo ticket-iso | timeout 30 "$TLSCTL" connect --ca="$PKI/ca.pem" "$@" 2>&1) && rc=0 ||
    rc=$?
}
resumed_is() { [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "^resumed: $1\$"; }
for v in tls1.3 dtls1.3; do
  [ $v = tls1.3 ] && t=tcp || t=udp
  eval "pa=\$port_A_$t pb=\$port_B_$t"
  conn --$v "localhost:$pa"
  resumed_is no && conn --$v "localhost:$pa"
  if resumed_is yes; then
    pass "tlsd client, $v: resumes at A (same owner, same policy)"
  else
    fail "tlsd client, $v: second connection to A (exit $rc): $out"
  fi
  n0=$(accepted "B_$t")
  for i in 1 2; do
    conn --$v --cert="$PKI/client.pem" --key="$PKI/client.key" "localhost:$pb"
    if resumed_is no && wait_accepted "B_$t" $((n0 + i)) &&
      last_accepted "B_$t" | grep -q 'client /CN=tlsd-test-client$'; then
      pass "tlsd client, $v, with a certificate at B, connection $i: full handshake, client" \
        "reported"
    else
      fail "tlsd client, $v, with a certificate at B, connection $i (exit $rc): $out /" \
        "$(last_accepted "B_$t")"
    fi
  done
done

kill -0 "$TLSD_PID" 2>/dev/null && pass "tlsd still runs" || fail "tlsd died"
stop_tlsd
finish
