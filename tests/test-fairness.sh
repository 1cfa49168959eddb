#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# One uid must not stall the others, nor make the daemon hold unbounded trust material:
#   a. uid A (65533) opens 16 control connections and pipelines 40 Configure requests with the
#      system trust store on each (five times over), while uid B (65534) pings: every request of
#      both is answered.
#      B's ping latency under the flood (p50, p99) and tlsd's RSS growth per session with the
#      system trust store (200 sessions) are printed, not asserted (machines and sanitizers are
#      too noisy);
#   b. trust anchors per session are capped: the default MaxTrustAnchorsPerSession=256, then
#      small MaxTrustAnchorsPerSession= and MaxTrustBytesPerSession= from a configuration file;
#      each refusal names its limit, and the session and daemon stay usable.
# Needs root (two other uids); tests/fairness-client.py speaks the wire protocol.
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

CLIENT="$top_srcdir/tests/fairness-client.py"

need_root "fairness: needs root (uids 65533 and 65534)"
if ! command -v setpriv >/dev/null 2>&1 || ! getent group nogroup >/dev/null 2>&1; then
  skip "fairness: needs setpriv and the group nogroup"
  finish
fi
test_pki

tmp=$(mktemp -d /tmp/tlsd-fairness.XXXXXX)
chmod 755 "$tmp" # the other uids reach the control socket below it
mkdir "$tmp/flag" && chmod 1777 "$tmp/flag" # where uid A says the flood started
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  if [ -n "${TLSD_PID:-}" ] && kill -0 "$TLSD_PID" 2>/dev/null; then
    kill -TERM "$TLSD_PID" 2>/dev/null
    wait "$TLSD_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

as_a() { setpriv --reuid=65533 --regid=65534 --clear-groups "$@"; }
as_b() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
cp "$PKI/ca.pem" "$tmp/ca.pem"
chmod 644 "$tmp/ca.pem"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$TLSD_PID/status"; }
no_sanitizer_report() {
  if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$1"; then
    fail "sanitizer report in the tlsd log: $(grep -E -A 20 "runtime error|Sanitizer" "$1" | head -n 40)"
  else
    pass "tlsd log has no sanitizer report"
  fi
}

# ---- a. the flood ----

printf '[Daemon]\nSocketGroup=nogroup\n' >"$tmp/tlsd.conf"
# freed memory leaves RSS at once (no ASan quarantine) for the per-session figure below
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
  start_tlsd "$tmp/tlsd" --config="$tmp/tlsd.conf" --log-level=info || finish

as_b timeout 300 python3 "$CLIENT" ping --socket="$TLSD_SOCKET" --start-file="$tmp/flag/flooding" \
  --stop-file="$tmp/stop" --min=5 >"$tmp/ping.out" 2>&1 &
ping_pid=$!
pids="$pids $ping_pid"
for _ in $(seq 1 200); do
  grep -q '^ready$' "$tmp/ping.out" && break
  kill -0 "$ping_pid" 2>/dev/null || break
  sleep 0.05
done
as_a timeout 600 python3 "$CLIENT" flood --socket="$TLSD_SOCKET" --clients=16 --requests=40 \
  --rounds=5 --start-file="$tmp/flag/flooding" >"$tmp/flood.out" 2>&1 && rc=0 || rc=$?
: >"$tmp/stop"
wait "$ping_pid" && ping_rc=0 || ping_rc=$?
pids=""
count_client "$tmp/flood.out" "$rc" "fairness-client.py flood (uid 65533)"
count_client "$tmp/ping.out" "$ping_rc" "fairness-client.py ping (uid 65534)"
echo "measured: uid 65534's $(sed -n 's/^ping: //p' "$tmp/ping.out") while uid 65533's" \
  "$(sed -n 's/^flood: //p' "$tmp/flood.out")"

# RSS per session holding the system trust store (the store itself was read by the flood)
rss_before=$(rss_kib)
as_a timeout 300 python3 "$CLIENT" sessions --socket="$TLSD_SOCKET" --count=200 \
  --hold-file="$tmp/flag/release" >"$tmp/sessions.out" 2>&1 &
sessions_pid=$!
pids="$sessions_pid"
for _ in $(seq 1 600); do
  grep -q '^ready$' "$tmp/sessions.out" && break
  kill -0 "$sessions_pid" 2>/dev/null || break
  sleep 0.05
done
rss_after=$(rss_kib)
: >"$tmp/flag/release"
wait "$sessions_pid" && rc=0 || rc=$?
pids=""
count_client "$tmp/sessions.out" "$rc" "fairness-client.py sessions (uid 65533)"
echo "measured: tlsd RSS ${rss_before} KiB, ${rss_after} KiB with 200 more client sessions" \
  "trusting the system store: $(((rss_after - rss_before) * 1024 / 200)) bytes per session"

# b1. the default cap on trust anchors
as_a timeout 120 python3 "$CLIENT" trust-cap --socket="$TLSD_SOCKET" --ca="$tmp/ca.pem" \
  --anchors=256 --bytes=0 >"$tmp/cap-default.out" 2>&1 && rc=0 || rc=$?
count_client "$tmp/cap-default.out" "$rc" "fairness-client.py trust-cap (defaults)"

if kill -0 "$TLSD_PID" 2>/dev/null; then
  pass "tlsd is still running"
else
  fail "tlsd died: $(tail -n 20 "$tmp/tlsd/tlsd.log")"
fi
stop_tlsd
no_sanitizer_report "$tmp/tlsd/tlsd.log"

# ---- b2. the caps from the configuration file ----

# ca.pem is 600-odd bytes of PEM, 400-odd of DER: four DER copies fit in 2300 bytes, a fifth
# is over the anchor cap first; four PEM copies in one bundle are over the byte cap.
printf '[Daemon]\nSocketGroup=nogroup\n[Limits]\nMaxTrustAnchorsPerSession=4\nMaxTrustBytesPerSession=2300\n' \
  >"$tmp/caps.conf"
if start_tlsd "$tmp/tlsd-caps" --config="$tmp/caps.conf"; then
  as_a timeout 120 python3 "$CLIENT" trust-cap --socket="$TLSD_SOCKET" --ca="$tmp/ca.pem" \
    --anchors=4 --bytes=2300 >"$tmp/cap.out" 2>&1 && rc=0 || rc=$?
  count_client "$tmp/cap.out" "$rc" "fairness-client.py trust-cap (configured)"
  stop_tlsd
  no_sanitizer_report "$tmp/tlsd-caps/tlsd.log"
fi
TLSD_PID=

finish
