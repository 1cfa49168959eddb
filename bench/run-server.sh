#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/run-server.sh -- tlsd as a TLS server against stunnel4 in server mode, in front of the
# same plaintext backend, on loopback. bench/run.sh calls it after the client-side section and
# puts what it writes into bench/RESULTS.md ("Server side"); it also runs alone (it then writes
# only the fragment, to $SRV_MD, default $WORK/server.md, and prints its path).
#
# A benchmark, not a test: no pass/fail on timings; the exit status is non-zero only when
# something did not work (start-up, a failed handshake or transfer).
#
# Environment (all optional; run.sh passes its own):
#   REPS=5             repetitions (medians are reported)
#   SRV_MIB1=256       MiB uploaded by the single stream   SRV_MIB8=32  MiB per stream, 8 streams
#   SRV_HS_COUNT=300   fresh full handshakes per handshake measurement
#   SRV_INFLIGHT=4     handshakes in flight in the concurrent measurement
#   PROFILE=auto       perf/callgrind profile of tlsd: auto (only when a target is missed),
#                      always, never
#   BUILD=/tmp/bench-build (run.sh builds it; alone, this script builds it when missing)
#   PKI=DIR, WORK=DIR (parent work dir; a server/ subdirectory is used), SRV_MD, SRV_VERDICT
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
REPS=${REPS:-5}
SRV_MIB1=${SRV_MIB1:-256}
SRV_MIB8=${SRV_MIB8:-32}
SRV_HS_COUNT=${SRV_HS_COUNT:-300}
SRV_INFLIGHT=${SRV_INFLIGHT:-4}
PROFILE=${PROFILE:-auto}
BUILD=${BUILD:-/tmp/bench-build}
T_START=$(date +%s)

log() { printf '[bench-server %3ds] %s\n' $(($(date +%s) - T_START)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

TLSD=$BUILD/tlsd
TLSCTL=$BUILD/tlsctl
LIBDIR=$BUILD/.libs
if [ ! -x "$TLSD" ] || [ ! -f "$LIBDIR/libtlsclient.so" ]; then
  # alone, in a fresh clone too: scripts/build runs autogen.sh and configure as needed
  log "building tlsd in $BUILD (-O2 -g)"
  mkdir -p "$BUILD"
  TLSD_WOLFSSL_PREFIX=${WOLFSSL_PREFIX:-/opt/tlsd/wolfssl} "$TOP/scripts/build" "$BUILD" \
    CFLAGS='-O2 -g' >"$BUILD/bench-build.log" 2>&1 || die "tlsd does not build: $BUILD/bench-build.log"
fi
grep -qE '^SANITIZER_CFLAGS = .*-fsanitize' "$BUILD/Makefile" 2>/dev/null &&
  die "$BUILD is a sanitizer build; use an -O2 one"
command -v stunnel4 >/dev/null || die "stunnel4 is not installed: run bench/run.sh"

if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d /tmp/tlsd-bench.XXXXXX); fi
W=$WORK/server
mkdir -p "$W"
SRV_MD=${SRV_MD:-$WORK/server.md}
SRV_VERDICT=${SRV_VERDICT:-$WORK/server-verdict}

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT

log "compiling server-side bench programs in $W"
cc -O2 -g -Wall -o "$W/tls-client" "$HERE/tls-client.c" -lssl -lcrypto -lpthread
cc -O2 -g -Wall -I"$TOP/include" -o "$W/tlsd-server-app" "$HERE/tlsd-server-app.c" \
  -L"$LIBDIR" -ltlsclient -Wl,-rpath,"$LIBDIR"

if [ -z "${PKI:-}" ]; then
  PKI=$W/pki
fi
if [ ! -f "$PKI/server-rsa-chain.pem" ]; then
  log "generating test PKI in $PKI"
  sh "$TOP/certs/gen-test-pki.sh" "$PKI"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  local i
  for i in $(seq 1 100); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
wait_line() { # FILE PID -> the first line of FILE once written (the app prints its port)
  local i
  for i in $(seq 1 200); do
    [ -s "$1" ] && { head -1 "$1"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

SUITE=TLS_AES_128_GCM_SHA256
GROUP=P-256

# ---- tlsd (its own instance, so its CPU counts only this section's work) ----
STATE_DIRECTORY="$W/state" "$TLSD" --runtime-dir="$W/run" --log-level=warning >"$W/tlsd.log" 2>&1 &
PID_TLSD=$!; PIDS+=($!)
TLSD_SOCK=$W/run/tlsd.sock
for _ in $(seq 1 200); do "$TLSCTL" --socket="$TLSD_SOCK" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$TLSCTL" --socket="$TLSD_SOCK" ping >/dev/null 2>&1 || die "tlsd did not start: $(cat "$W/tlsd.log")"

# ---- the apps behind tlsd: one per certificate, each listens through tlsd ----
start_app() { # NAME ARGS... -> sets APP_PID, APP_PORT
  local name=$1
  shift
  "$W/tlsd-server-app" "$@" >"$W/$name.port" 2>"$W/$name.log" &
  APP_PID=$!; PIDS+=($!)
  APP_PORT=$(wait_line "$W/$name.port" "$APP_PID") || die "$name did not start: $(cat "$W/$name.log")"
}
start_app app-ecdsa --tlsd="$TLSD_SOCK" --cert="$PKI/server-ecdsa-chain.pem" \
  --key="$PKI/server-ecdsa.key" --groups="$GROUP" --ciphers="$SUITE"
PID_APP_EC=$APP_PID; P_TLSD_EC=$APP_PORT
start_app app-rsa --tlsd="$TLSD_SOCK" --cert="$PKI/server-rsa-chain.pem" \
  --key="$PKI/server-rsa.key" --groups="$GROUP" --ciphers="$SUITE"
PID_APP_RSA=$APP_PID; P_TLSD_RSA=$APP_PORT

# ---- the same program as plain TCP backends, and stunnel4 in server mode in front ----
start_app sink-ecdsa --tcp
PID_SINK_EC=$APP_PID; P_SINK_EC=$APP_PORT
start_app sink-rsa --tcp
PID_SINK_RSA=$APP_PID; P_SINK_RSA=$APP_PORT
P_ST_EC=$(free_port); P_ST_RSA=$(free_port)
cat >"$W/stunnel.conf" <<EOF
; stunnel as a TLS server: TLS 1.3 in, plain TCP to the backend (one connection per client).
foreground = yes
pid =
debug = 2
[ecdsa]
accept = 127.0.0.1:$P_ST_EC
connect = 127.0.0.1:$P_SINK_EC
cert = $PKI/server-ecdsa-chain.pem
key = $PKI/server-ecdsa.key
sslVersion = TLSv1.3
ciphersuites = $SUITE
curves = prime256v1
; do not wait for the peer's close_notify after the backend closed
TIMEOUTclose = 0
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[rsa]
accept = 127.0.0.1:$P_ST_RSA
connect = 127.0.0.1:$P_SINK_RSA
cert = $PKI/server-rsa-chain.pem
key = $PKI/server-rsa.key
sslVersion = TLSv1.3
ciphersuites = $SUITE
curves = prime256v1
TIMEOUTclose = 0
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
EOF
stunnel4 "$W/stunnel.conf" >"$W/stunnel.log" 2>&1 &
PID_ST=$!; PIDS+=($!)
for p in $P_ST_EC $P_ST_RSA; do
  wait_port "$p" || die "stunnel does not listen on port $p: $(cat "$W/stunnel.log")"
done
kill -0 "$PID_ST" 2>/dev/null || die "stunnel exited at start: $(cat "$W/stunnel.log")"

CLIENT=("$W/tls-client" --timeout=120 --ca="$PKI/ca.pem" --servername=localhost --groups="$GROUP"
        --suite="$SUITE")
port_of() { # IMPL CERT
  case "$1/$2" in
    tlsd/ecdsa) echo "$P_TLSD_EC" ;; tlsd/rsa) echo "$P_TLSD_RSA" ;;
    stunnel/ecdsa) echo "$P_ST_EC" ;; stunnel/rsa) echo "$P_ST_RSA" ;;
  esac
}
backend_of() { # IMPL CERT -> pid of the plaintext backend
  case "$1/$2" in
    tlsd/ecdsa) echo "$PID_APP_EC" ;; tlsd/rsa) echo "$PID_APP_RSA" ;;
    stunnel/ecdsa) echo "$PID_SINK_EC" ;; stunnel/rsa) echo "$PID_SINK_RSA" ;;
  esac
}
run_client() { # IMPL CERT ARGS... -> one line of key=value
  local port
  port=$(port_of "$1" "$2")
  shift 2
  "${CLIENT[@]}" --port="$port" "$@" | tr '\n' ' '
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---- sanity: what is negotiated, the same for both ----
INFO=()
for impl in tlsd stunnel; do
  for cert in ecdsa rsa; do
    line=$(run_client "$impl" "$cert" info) || die "$impl ($cert) does not serve: $(cat "$W"/*.log)"
    INFO+=("$impl/$cert: $(sed 's/^test=info //; s/ driver_cpu_s=.*//' <<<"$line")")
  done
done
log "negotiated: ${INFO[0]}"

TESTS=(
  "bulk1_up|ecdsa|bulk 1 $SRV_MIB1 up"
  "bulk8_up|ecdsa|bulk 8 $SRV_MIB8 up"
  "bulk1_down|ecdsa|bulk 1 $SRV_MIB1 down"
  "bulk8_down|ecdsa|bulk 8 $SRV_MIB8 down"
  "hs_ecdsa_c1|ecdsa|hs $SRV_HS_COUNT 1"
  "hs_ecdsa_c$SRV_INFLIGHT|ecdsa|hs $SRV_HS_COUNT $SRV_INFLIGHT"
  "hs_rsa_c1|rsa|hs $SRV_HS_COUNT 1"
  "hs_rsa_c$SRV_INFLIGHT|rsa|hs $SRV_HS_COUNT $SRV_INFLIGHT"
)
RAW=$W/raw.tsv
: >"$RAW"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_BEFORE=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 10 && $2 != "ps" {printf "%s(%s%%) ", $2, $1}')
log "running $REPS repetitions (load average $LOAD_BEFORE)"
for rep in $(seq 1 "$REPS"); do
  if [ $((rep % 2)) -eq 1 ]; then ORDER="tlsd stunnel"; else ORDER="stunnel tlsd"; fi
  for t in "${TESTS[@]}"; do
    IFS='|' read -r name cert args <<<"$t"
    for impl in $ORDER; do
      [ "$impl" = tlsd ] && px=$PID_TLSD || px=$PID_ST
      bx=$(backend_of "$impl" "$cert")
      p0=$(ticks "$px"); b0=$(ticks "$bx")
      # shellcheck disable=SC2086
      line=$(run_client "$impl" "$cert" $args) || die "$impl $name failed (rep $rep)"
      p1=$(ticks "$px"); b1=$(ticks "$bx")
      printf '%s\t%s\t%s\t%s server_cpu_s=%s backend_cpu_s=%s\n' "$rep" "$name" "$impl" "$line" \
        "$(awk -v a="$p0" -v b="$p1" 'BEGIN{print (b-a)/100}')" \
        "$(awk -v a="$b0" -v b="$b1" 'BEGIN{print (b-a)/100}')" >>"$RAW"
    done
  done
  log "repetition $rep done"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RAW" "$W/summary.md" "$SRV_VERDICT" "$SRV_INFLIGHT" <<'PY'
import sys, statistics, collections
raw, out, verdict, inflight = sys.argv[1:5]
data = collections.defaultdict(list)
for line in open(raw):
    rep, test, impl, rest = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in rest.split() if "=" in x)
    data[(test, impl)].append(kv)
def vals(test, impl, key):
    return [float(d[key]) for d in data[(test, impl)]]
rows, r = [], {}
def row(label, test, key, unit, better, fmt="{:.1f}"):
    t, s = vals(test, "tlsd", key), vals(test, "stunnel", key)
    tm, sm = statistics.median(t), statistics.median(s)
    ratio = tm / sm if sm else float("nan")
    rows.append(f"| {label} | {fmt.format(tm)} ({fmt.format(min(t))}–{fmt.format(max(t))}) | "
                f"{fmt.format(sm)} ({fmt.format(min(s))}–{fmt.format(max(s))}) | **{ratio:.2f}** | {unit}, {better} |")
    r[test] = ratio
c = f"c{inflight}"
row("(a) bulk upload, 1 stream", "bulk1_up", "MBps", "MB/s", "higher is better")
row("(a) bulk upload, 8 streams", "bulk8_up", "MBps", "MB/s", "higher is better")
row("(a') bulk download, 1 stream (extra)", "bulk1_down", "MBps", "MB/s", "higher is better")
row("(a') bulk download, 8 streams (extra)", "bulk8_down", "MBps", "MB/s", "higher is better")
row("(b) fresh full handshakes, ECDSA P-256 cert, 1 at a time", "hs_ecdsa_c1", "per_s", "handshakes/s", "higher is better")
row(f"(b) fresh full handshakes, ECDSA P-256 cert, {inflight} in flight", f"hs_ecdsa_{c}", "per_s", "handshakes/s", "higher is better")
row("(b) fresh full handshakes, RSA-2048 cert, 1 at a time", "hs_rsa_c1", "per_s", "handshakes/s", "higher is better")
row(f"(b) fresh full handshakes, RSA-2048 cert, {inflight} in flight", f"hs_rsa_{c}", "per_s", "handshakes/s", "higher is better")

cost = []
for test in ["bulk1_up", "bulk8_up", "bulk1_down", "bulk8_down", "hs_ecdsa_c1", f"hs_ecdsa_{c}",
             "hs_rsa_c1", f"hs_rsa_{c}"]:
    d = data[(test, "tlsd")][0]
    if test.startswith("bulk"):
        n, label, scale = int(d["streams"]) * int(d["mib_per_stream"]) * 1048576 / 1e9, "CPU ms per GB", 1e3
    else:
        n, label, scale = int(d["count"]), "CPU ms per handshake", 1e3
    m = {}
    for impl in ("tlsd", "stunnel"):
        for k in ("server_cpu_s", "backend_cpu_s", "driver_cpu_s"):
            m[impl, k] = statistics.median(vals(test, impl, k)) * scale / n
    cost.append(f"| {test} | {label} | {m['tlsd', 'server_cpu_s']:.2f} | {m['stunnel', 'server_cpu_s']:.2f} | "
                f"{m['tlsd', 'backend_cpu_s']:.2f} / {m['stunnel', 'backend_cpu_s']:.2f} | "
                f"{m['tlsd', 'driver_cpu_s']:.2f} / {m['stunnel', 'driver_cpu_s']:.2f} |")
tickets = {impl: statistics.median(float(d["tickets"]) / float(d["count"])
                                   for t in ("hs_ecdsa_c1", "hs_rsa_c1") for d in data[(t, impl)])
           for impl in ("tlsd", "stunnel")}
with open(out, "w") as f:
    f.write("| measurement | tlsd: median (min–max) | stunnel4: median (min–max) | tlsd/stunnel | unit |\n")
    f.write("|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n\n")
    f.write("CPU time per unit of work (medians; from /proc/PID/stat, 10 ms resolution; the backend "
            "is the same program in both columns: tlsd-server-app on tlsd's fds / on stunnel's TCP "
            "connections):\n\n")
    f.write("| measurement | unit | tlsd process | stunnel process | backend (with tlsd / with stunnel) | client (tlsd / stunnel) |\n")
    f.write("|---|---|---|---|---|---|\n")
    f.write("\n".join(cost) + "\n\n")
    f.write(f"Session tickets received per fresh handshake (the client never uses them): tlsd "
            f"{tickets['tlsd']:g}, stunnel {tickets['stunnel']:g}.\n")
lines = []
for k in ["bulk1_up", "bulk8_up", "hs_ecdsa_c1", f"hs_ecdsa_{c}", "hs_rsa_c1", f"hs_rsa_{c}"]:
    lines.append(f"{k}\t{'met' if r[k] >= 1.0 else 'MISSED'}\t{r[k]:.2f}")
open(verdict, "w").write("\n".join(lines) + "\n")
PY

# ---- profile of tlsd where a target was missed ----
PROFILE_MD=$W/profile.md
: >"$PROFILE_MD"
profile_tlsd() { # NAME CERT ARGS...
  local name=$1 cert=$2
  shift 2
  local data=$W/perf-$name.data
  if perf stat -e instructions true >/dev/null 2>&1; then
    perf record -q -F 2999 -o "$data" -p "$PID_TLSD" >/dev/null 2>&1 &
    local pp=$!
    sleep 0.3
    run_client tlsd "$cert" "$@" >/dev/null
    kill -INT "$pp"; wait "$pp" 2>/dev/null || true
    {
      echo "#### tlsd (server) during \`tls-client $*\` ($name): perf, share of tlsd's samples"
      echo
      echo "By object:"
      echo
      echo '```'
      perf report -i "$data" --stdio --no-children --sort dso 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -8 || true
      echo '```'
      echo
      echo "Top functions (self time):"
      echo
      echo '```'
      perf report -i "$data" --stdio --no-children --sort dso,symbol 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed 's/ *- *- *$//' | head -25 || true
      echo '```'
      echo
    } >>"$PROFILE_MD"
  elif command -v valgrind >/dev/null; then
    # perf unusable: a second tlsd under callgrind, a reduced run, its own app
    local dir=$W/cg-$name app_port pid_cg pid_app
    mkdir -p "$dir"
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$TLSD" \
      --runtime-dir="$dir/run" --log-level=warning >"$dir/tlsd.log" 2>&1 &
    pid_cg=$!
    for _ in $(seq 1 400); do "$TLSCTL" --socket="$dir/run/tlsd.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
    "$W/tlsd-server-app" --tlsd="$dir/run/tlsd.sock" --cert="$PKI/server-$cert-chain.pem" \
      --key="$PKI/server-$cert.key" --groups="$GROUP" --ciphers="$SUITE" >"$dir/app.port" 2>"$dir/app.log" &
    pid_app=$!
    app_port=$(wait_line "$dir/app.port" "$pid_app") || true
    if [ -n "$app_port" ]; then
      local reduced=("$@")
      [ "${reduced[0]}" = hs ] && reduced[1]=30
      [ "${reduced[0]}" = bulk ] && reduced[2]=16
      "${CLIENT[@]}" --timeout=600 --port="$app_port" "${reduced[@]}" >/dev/null || true
    fi
    kill "$pid_app" 2>/dev/null || true; wait "$pid_app" 2>/dev/null || true
    kill -TERM "$pid_cg" 2>/dev/null || true; wait "$pid_cg" 2>/dev/null || true
    {
      echo "#### tlsd (server) during a reduced \`tls-client ${reduced[*]:-$*}\` ($name): callgrind, inclusive Ir"
      echo
      echo '```'
      callgrind_annotate --inclusive=yes "$dir/cg.out" 2>/dev/null | grep -E 'PROGRAM TOTALS|\(' | head -30 || true
      echo '```'
      echo
    } >>"$PROFILE_MD"
  fi
}
MISSED=$(awk -F'\t' '$2 == "MISSED" {print $1}' "$SRV_VERDICT")
if [ "$PROFILE" = always ] || { [ "$PROFILE" = auto ] && [ -n "$MISSED" ]; }; then
  if command -v perf >/dev/null || command -v valgrind >/dev/null; then
    log "profiling tlsd as a server (missed: ${MISSED:-none})"
    want() { [ "$PROFILE" = always ] || grep -qx "$1" <<<"$MISSED"; }
    want bulk1_up && profile_tlsd bulk1_up ecdsa bulk 1 "$SRV_MIB1" up
    want bulk8_up && profile_tlsd bulk8_up ecdsa bulk 8 "$SRV_MIB8" up
    if want hs_ecdsa_c1 || want "hs_ecdsa_c$SRV_INFLIGHT"; then profile_tlsd hs_ecdsa ecdsa hs "$SRV_HS_COUNT" "$SRV_INFLIGHT"; fi
    if want hs_rsa_c1 || want "hs_rsa_c$SRV_INFLIGHT"; then profile_tlsd hs_rsa rsa hs "$SRV_HS_COUNT" "$SRV_INFLIGHT"; fi
  fi
fi

# ---- stop, summaries ----
TLSD_VERSION=$("$TLSCTL" --socket="$TLSD_SOCK" version 2>&1 | tr '\n' ' ')
cleanup
trap - EXIT
APP_SUMMARY=$(cat "$W"/app-ecdsa.log "$W"/app-rsa.log "$W"/sink-ecdsa.log "$W"/sink-rsa.log | sed 's/^/  - /')
STUNNEL_ERRORS=$(grep -c 'LOG[0-3]' "$W/stunnel.log" || true)
TLSD_WARNINGS=$(grep -c . "$W/tlsd.log" || true)
CMD="bench/run.sh"
for v in REPS SRV_MIB1 SRV_MIB8 SRV_HS_COUNT SRV_INFLIGHT PROFILE; do CMD="$v=${!v} $CMD"; done

{
cat <<EOF
### Setup

- **Same backend, same client.** The plaintext backend is one program,
  \`bench/tlsd-server-app.c\`: a single-threaded \`poll()\` loop (like a simple real app) that
  serves the protocol of \`bench/tls-server\` in plaintext (first byte \`E\` echo, \`S\`+u64 sink
  that acknowledges the last byte with \`K\`, \`D\`+u64 source). Only where its connections come
  from differs:
  - **tlsd**: \`tlsd-server-app --tlsd\` creates a server session (\`tlsc_session_create(...,
    TLSC_ROLE_SERVER, ...)\`: the leaf chain and key, TLS 1.3 only, suite $SUITE, group $GROUP),
    \`tlsc_listen(c, s, "127.0.0.1", 0, ...)\`, and takes the plaintext fd of every
    \`TLSC_EVENT_ACCEPTED\` event (\`ev->fd = -1\`) into its poll set, next to the control fd
    (\`tlsc_dispatch\` when readable).
  - **stunnel4** in server mode (\`accept\` = its TLS port, \`connect\` = \`tlsd-server-app --tcp\`,
    \`cert\`/\`key\` = the same chain and key, \`sslVersion = TLSv1.3\`, \`ciphersuites = $SUITE\`,
    \`curves = prime256v1\`, \`TIMEOUTclose = 0\`, TCP_NODELAY both sides; otherwise defaults).
    stunnel opens one plain TCP connection to the backend per client.
  - One tlsd-server-app per certificate and server (ECDSA P-256 leaf, RSA-2048 leaf; both chains
    signed by the P-256 test root). tlsd runs as its own instance for this section.
- **Client / load generator**: \`bench/tls-client.c\`, system OpenSSL, the same binary and
  arguments for both servers: TLS 1.3 only, suite $SUITE, group $GROUP, SNI and host-name check
  \`localhost\`, chain verified against the test ca.pem. A new \`SSL\` object per connection and no
  session ever offered for resumption, so every handshake is a fresh full one (tickets the server
  sends are counted and dropped).
- **(a)** bulk upload: STREAMS connections are established first, then each sends MIB MiB and
  waits for the backend's 1-byte acknowledgement of the last byte; MB/s = total bytes / wall time
  (1 MB = 10^6 bytes). 1 stream: $SRV_MIB1 MiB; 8 streams: $SRV_MIB8 MiB each. (a') the same
  sizes downloaded from the backend's source (extra, no target).
- **(b)** $SRV_HS_COUNT fresh handshakes per measurement, 1 at a time and $SRV_INFLIGHT in flight
  ($SRV_INFLIGHT client threads). Each: TCP connect, full TLS 1.3 handshake, 1-byte round trip
  through the backend's echo (proves the plaintext path end to end), close_notify, close.
- Each measurement runs $REPS times, tlsd and stunnel alternating who goes first; medians and
  (min–max). CPU columns: utime+stime of the server process (tlsd or stunnel, all threads), of the
  backend, and of the client, over each run.
- **Caveat: 2 cores for everything** (client, server, backend; load average before: $LOAD_BEFORE,
  after: $LOAD_AFTER; other processes above 10 % CPU at the start: ${OTHERS_BEFORE:-none}).

### Run

- Command: \`$CMD\` (the server-side part of it: \`bench/run-server.sh\`)
- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- tlsd: $TLSD_VERSION(git $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown), $(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null | wc -l) locally modified tracked files; build $BUILD); $(stunnel4 -version 2>&1 | grep -m1 '^stunnel'); client: $(openssl version)
- Negotiated (tls-client \`info\`, per server and certificate):
$(printf '  - %s\n' "${INFO[@]}")
- Backends' own summaries at exit (\`incomplete\` = connections that ended before a complete
  command, expected 0; \`disconnected\` = tlsd's Disconnected events by reason):
$APP_SUMMARY
- stunnel log lines at level <= 3 (errors): $STUNNEL_ERRORS; tlsd log lines (warning and above): $TLSD_WARNINGS

### Results

EOF
cat "$W/summary.md"
echo
echo "### Targets"
echo
awk -F'\t' '
  $1 ~ /^bulk/ { printf "- Bulk upload throughput >= stunnel, %s: **%s** (tlsd/stunnel = %s)\n", $1, $2, $3 }
  $1 ~ /^hs_/  { printf "- Fresh-handshake rate >= stunnel, %s: **%s** (tlsd/stunnel = %s)\n", $1, $2, $3 }
' "$SRV_VERDICT"
if [ -s "$PROFILE_MD" ]; then
  echo
  echo "### Profile of tlsd as a server"
  echo
  cat "$PROFILE_MD"
fi
echo
echo "Raw per-run lines: $RAW (kept until /tmp is cleaned)."
} >"$SRV_MD"
log "wrote $SRV_MD"
echo "$SRV_MD"
