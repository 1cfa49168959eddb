#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# How an application's end of its data reaches the peer. A clean end sends close_notify after
# everything the application wrote: tlsctl connect at the end of its input, a tlsctl listen
# --exec command that exits 0. An application that is killed or dies sends none, so the peer
# sees a truncation, not a finished stream: tlsctl connect killed with SIGKILL, SIGINT or SIGTERM,
# tlsctl listen killed with a client connected, a --exec command killed; the same for DTLS. And
# tlsctl connect reports a tlsd that went away under it (message, exit 1) instead of a quiet end.
# The peers are openssl s_server and s_client with -msg, whose trace shows each alert received.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_tools close openssl python3
test_pki

tmp=$(mktemp -d /tmp/tlsd-close.XXXXXX)
pids=""
cleanup() {
  exec 7>&- 8>&- 2>/dev/null
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

start_tlsd "$tmp/tlsd" || finish
ca="--ca=$PKI/ca.pem"
identity="--cert=$PKI/server-ecdsa-chain.pem --key=$PKI/server-ecdsa.key"

# server NAME [OPENSSL-OPTION...]: openssl s_server -msg -rev for one connection (it exits when
# that ends), its trace in $tmp/NAME.srv, its pid in $srv_pid, its port in $port.
server() {
  local name="$1"
  shift
  openssl s_server -accept 127.0.0.1:0 -naccept 1 -rev -msg "$@" \
    -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key" \
    >"$tmp/$name.srv" 2>&1 </dev/null &
  srv_pid=$!
  pids="$pids $srv_pid"
  port=1
  if wait_for_line "$tmp/$name.srv" '^ACCEPT 127\.0\.0\.1:[0-9]+$' 15; then
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.srv")
  else
    fail "openssl s_server $name did not start: $(cat "$tmp/$name.srv")"
  fi
}

# got_close_notify FILE: the openssl -msg trace in FILE shows a close_notify received. For DTLS
# it names no alerts: a received record of content type 21 (alert) holding 01 00 (warning,
# close_notify).
got_close_notify() {
  awk '/^<<< .*Alert.*close_notify/ { found = 1 }
       /^<<< .*content_type=21\) \[length 0002\]/ { getline; if ($1 == "01" && $2 == "00") found = 1 }
       END { exit !found }' "$1"
}

# default_signals COMMAND...: runs COMMAND with SIGINT and SIGQUIT at their defaults (a shell
# without job control starts background commands with both ignored, and sh cannot undo that).
# It takes the place of the calling (sub)shell: run it with &, and $! is the command.
default_signals() {
  exec python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$@"
}

# connect NAME [TLSCTL-OPTION...]: tlsctl connect to $port in the background, its input the
# fifo $tmp/NAME.in held open on fd 7 (closing fd 7 is its EOF), its pid in $cli_pid. A line
# goes through and back (s_server -rev reverses it) before this returns.
connect() {
  local name="$1"
  shift
  mkfifo "$tmp/$name.in"
  default_signals "$TLSCTL" connect "$ca" --quiet "$@" "localhost:$port" <"$tmp/$name.in" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  cli_pid=$!
  pids="$pids $cli_pid"
  exec 7>"$tmp/$name.in"
  printf 'hello\n' >&7
  wait_for_line "$tmp/$name.out" '^olleh$' 15 ||
    fail "$name: no data came back: $(cat "$tmp/$name.err") / server: $(cat "$tmp/$name.srv")"
}

# ended NAME WANT WHAT: the peer (s_server for one connection, or s_client) ended; then the
# verdict on WHAT: WANT is "clean" (close_notify received) or "abort" (none).
ended() {
  local name="$1" want="$2" what="$3"
  if ! wait_until 15 exited "$srv_pid"; then
    fail "$what: the peer did not see the connection end: $(tail -n 5 "$tmp/$name.srv")"
    return
  fi
  if [ "$want" = clean ]; then
    if got_close_notify "$tmp/$name.srv"; then
      pass "$what: the peer received close_notify"
    else
      fail "$what: the peer received no close_notify: $(tail -n 8 "$tmp/$name.srv")"
    fi
  elif got_close_notify "$tmp/$name.srv"; then
    fail "$what: the peer received close_notify (a killed application looks finished)"
  else
    pass "$what: no close_notify, the peer sees the stream cut"
  fi
}

# ---- 1. tlsctl connect: the end of its input is the clean end ----
server eof
connect eof
exec 7>&-
ended eof clean "tlsctl connect, end of input"
wait_until 15 exited "$cli_pid"
wait "$cli_pid" && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then
  pass "tlsctl connect, end of input: exit 0"
else
  fail "tlsctl connect, end of input: exit $rc: $(cat "$tmp/eof.err")"
fi

# ---- 2. tlsctl connect killed: no close_notify ----
for sig in KILL INT TERM; do
  server "sig$sig"
  connect "sig$sig"
  kill "-$sig" "$cli_pid"
  ended "sig$sig" abort "tlsctl connect killed with SIG$sig"
  exec 7>&-
  wait "$cli_pid" 2>/dev/null
done

# ---- 3. tlsctl listen killed with a client connected: no close_notify ----
mkfifo "$tmp/listen.in"
# shellcheck disable=SC2086 # $identity: two options
"$TLSCTL" listen $identity --quiet 127.0.0.1:0 >"$tmp/listen.out" 2>"$tmp/listen.err" \
  </dev/null &
lst_pid=$!
pids="$pids $lst_pid"
if wait_for_line "$tmp/listen.out" '^[0-9]+$' 15; then
  lport=$(head -n 1 "$tmp/listen.out")
  openssl s_client -connect "127.0.0.1:$lport" -CAfile "$PKI/ca.pem" -servername localhost \
    -msg <"$tmp/listen.in" >"$tmp/listen.cli" 2>&1 &
  srv_pid=$! # the peer whose end is awaited: s_client here
  pids="$pids $srv_pid"
  exec 7>"$tmp/listen.in"
  printf 'ping\n' >&7
  if wait_for_line "$tmp/listen.cli" '^ping$' 15; then
    kill -TERM "$lst_pid"
    if wait_until 15 exited "$srv_pid"; then
      if got_close_notify "$tmp/listen.cli"; then
        fail "tlsctl listen killed: its client received close_notify"
      else
        pass "tlsctl listen killed: no close_notify, its client sees the stream cut"
      fi
    else
      fail "tlsctl listen killed: its client did not see the end: $(tail -n 5 "$tmp/listen.cli")"
    fi
  else
    fail "tlsctl listen: the echo did not come back: $(cat "$tmp/listen.cli")"
  fi
  exec 7>&-
else
  fail "tlsctl listen did not print its port: $(cat "$tmp/listen.err")"
fi

# ---- 4. tlsctl listen --exec: a command that exits 0 ends cleanly, a killed one does not ----
# exec_case NAME WANT COMMAND: one s_client to `tlsctl listen --exec COMMAND --count=1`; it must
# print "hi" (what COMMAND writes first) and end clean or abort.
exec_case() {
  local name="$1" want="$2" command="$3"
  # shellcheck disable=SC2086 # $identity: two options
  "$TLSCTL" listen $identity --quiet --count=1 --exec "$command" 127.0.0.1:0 \
    >"$tmp/$name.lst" 2>"$tmp/$name.err" </dev/null &
  pids="$pids $!"
  if ! wait_for_line "$tmp/$name.lst" '^[0-9]+$' 15; then
    fail "tlsctl listen --exec ($name) did not print its port: $(cat "$tmp/$name.err")"
    return
  fi
  mkfifo "$tmp/$name.in"
  openssl s_client -connect "127.0.0.1:$(head -n 1 "$tmp/$name.lst")" -CAfile "$PKI/ca.pem" \
    -servername localhost -msg <"$tmp/$name.in" >"$tmp/$name.srv" 2>&1 &
  srv_pid=$!
  pids="$pids $srv_pid"
  exec 7>"$tmp/$name.in"
  wait_for_line "$tmp/$name.srv" '^hi$' 15 ||
    fail "tlsctl listen --exec '$command': no output: $(cat "$tmp/$name.srv")"
  ended "$name" "$want" "tlsctl listen --exec '$command'"
  exec 7>&-
}
exec_case exec0 clean 'echo hi'
exec_case execkill abort 'echo hi; kill -9 $$'

# ---- 5. DTLS: the same rule ----
# dtls_server NAME: openssl s_server -dtls1_2 -msg for one connection, its input the fifo
# $tmp/NAME.srvin held open on fd 8 (it has no -rev for DTLS: it prints what it receives).
dtls_server() {
  local name="$1"
  mkfifo "$tmp/$name.srvin"
  openssl s_server -dtls1_2 -accept 127.0.0.1:0 -naccept 1 -msg \
    -cert "$PKI/server-ecdsa-chain.pem" -key "$PKI/server-ecdsa.key" \
    >"$tmp/$name.srv" 2>&1 <"$tmp/$name.srvin" &
  srv_pid=$!
  pids="$pids $srv_pid"
  exec 8>"$tmp/$name.srvin"
  port=1
  if wait_for_line "$tmp/$name.srv" '^ACCEPT 127\.0\.0\.1:[0-9]+$' 15; then
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.srv")
  else
    fail "openssl s_server -dtls1_2 $name did not start: $(cat "$tmp/$name.srv")"
  fi
}
# dtls_connect NAME: tlsctl connect --dtls as connect does; the line shows in s_server's output.
dtls_connect() {
  local name="$1"
  mkfifo "$tmp/$name.in"
  "$TLSCTL" connect "$ca" --quiet --dtls "localhost:$port" <"$tmp/$name.in" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  cli_pid=$!
  pids="$pids $cli_pid"
  exec 7>"$tmp/$name.in"
  printf 'hello\n' >&7
  wait_for_line "$tmp/$name.srv" '^hello$' 15 ||
    fail "$name: the line did not arrive: $(cat "$tmp/$name.err") / server: $(cat "$tmp/$name.srv")"
}
dtls_server dtlseof
dtls_connect dtlseof
exec 7>&-
ended dtlseof clean "tlsctl connect --dtls, end of input"
exec 8>&-
wait "$cli_pid" 2>/dev/null

# Without close_notify a DTLS peer sees nothing end (it may wait for its idle timeout): the
# verdict is its trace once tlsd logged the connection's end, and a moment later.
dtls_server dtlskill
log_lines=$(wc -l <"$TLSD_LOG")
dtls_connect dtlskill
kill -9 "$cli_pid"
if wait_until 15 sh -c "tail -n +$((log_lines + 1)) '$TLSD_LOG' | grep -qE 'connection [0-9]+: closed'"; then
  sleep "$(waits 1)"
  if got_close_notify "$tmp/dtlskill.srv"; then
    fail "tlsctl connect --dtls killed with SIGKILL: the peer received close_notify"
  else
    pass "tlsctl connect --dtls killed with SIGKILL: no close_notify"
  fi
else
  fail "tlsctl connect --dtls killed: tlsd did not end the connection: $(tail -n 5 "$TLSD_LOG")"
fi
exec 7>&- 8>&-
kill "$srv_pid" 2>/dev/null
wait "$cli_pid" 2>/dev/null

# ---- 6. tlsd goes away under tlsctl connect ----
stop_tlsd
start_tlsd "$tmp/tlsd2" || finish
server lost
connect lost
kill -9 "$TLSD_PID"
wait "$TLSD_PID" 2>/dev/null
if wait_until 15 exited "$cli_pid"; then
  wait "$cli_pid" && rc=0 || rc=$?
  err=$(cat "$tmp/lost.err")
  if [ "$rc" -ne 0 ] && printf '%s' "$err" | grep -q "lost the connection to tlsd"; then
    pass "tlsd killed under tlsctl connect: exit $rc, '$err'"
  else
    fail "tlsd killed under tlsctl connect: exit $rc, stderr '$err'"
  fi
else
  fail "tlsd killed under tlsctl connect: tlsctl still runs"
fi
exec 7>&-

finish
