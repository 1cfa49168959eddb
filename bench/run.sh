#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/run.sh -- tlsd against stunnel4 on loopback, in one run: first as a client-side TLS
# proxy (this script), then as a TLS server (bench/run-server.sh, called from here).
# Writes bench/RESULTS.md (overwritten). A benchmark, not a test: no pass/fail on timings; the
# exit status is non-zero only when something did not work (build, start-up, a failed transfer).
#
# Environment (all optional):
#   REPS=5            repetitions of every measurement (medians are reported)
#   MIB1=256          MiB moved by the single stream        MIB8=32  MiB per stream, 8 streams
#   HS_COUNT=300      full handshakes per handshake measurement
#   LAT_COUNT=3000    64-byte round trips per latency measurement
#   PROFILE=auto      perf/callgrind profile of tlsd: auto (only when a target is missed),
#                     always, never
#   SRV_MIB1=256, SRV_MIB8=32, SRV_HS_COUNT=300, SRV_INFLIGHT=4   the server side's sizes
#                     (see bench/run-server.sh)
#   BUILD=/tmp/bench-build   optimized tlsd build (scripts/build: autogen, configure and
#                     make as needed, also in a fresh clone)
#   PKI=DIR           test PKI (default: generated in the work directory)
#   OUT=bench/RESULTS.md
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
REPS=${REPS:-5}
MIB1=${MIB1:-256}
MIB8=${MIB8:-32}
HS_COUNT=${HS_COUNT:-300}
LAT_COUNT=${LAT_COUNT:-3000}
PROFILE=${PROFILE:-auto}
SRV_MIB1=${SRV_MIB1:-256}
SRV_MIB8=${SRV_MIB8:-32}
SRV_HS_COUNT=${SRV_HS_COUNT:-300}
SRV_INFLIGHT=${SRV_INFLIGHT:-4}
BUILD=${BUILD:-/tmp/bench-build}
OUT=${OUT:-$HERE/RESULTS.md}
WOLFSSL_PREFIX=${WOLFSSL_PREFIX:-/opt/tlsd/wolfssl}
T_START=$(date +%s)

log() { printf '[bench %3ds] %s\n' $(($(date +%s) - T_START)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- dependencies (idempotent) ----
need_pkgs=()
command -v stunnel4 >/dev/null || need_pkgs+=(stunnel4)
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v cc >/dev/null || need_pkgs+=(gcc)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# perf is optional (profiling only); linux-perf is Debian's package for it.
if [ "$PROFILE" != never ] && ! command -v perf >/dev/null && ! command -v valgrind >/dev/null; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq linux-perf >/dev/null 2>&1 ||
    log "no perf/valgrind: profiling will be skipped"
fi

# ---- optimized tlsd build ----
# scripts/build: autogen.sh when ./configure is missing (a fresh clone), configure when $BUILD
# has no Makefile, make.
build_tlsd() {
  mkdir -p "$BUILD"
  if [ -f "$BUILD/Makefile" ]; then
    local src
    src=$(sed -n 's/^abs_top_srcdir = //p' "$BUILD/Makefile")
    [ "$src" = "$TOP" ] || die "$BUILD was configured from $src, not $TOP: set BUILD= to another directory"
  else
    log "configuring $BUILD (-O2 -g)"
  fi
  TLSD_WOLFSSL_PREFIX=$WOLFSSL_PREFIX "$TOP/scripts/build" "$BUILD" CFLAGS='-O2 -g' \
    >"$BUILD/bench-build.log" 2>&1 || return 1
  grep -qE '^SANITIZER_CFLAGS = .*-fsanitize' "$BUILD/Makefile" && die "$BUILD is a sanitizer build; use an -O2 one"
  return 0
}
BUILD_NOTE=""
for attempt in 1 2 3; do
  if build_tlsd; then break; fi
  if [ $attempt -eq 3 ]; then
    [ -x "$BUILD/tlsd" ] || die "tlsd does not build: see $BUILD/bench-build.log"
    BUILD_NOTE="the build of the current sources failed (see $BUILD/bench-build.log); the last good binaries in $BUILD were used"
    log "WARNING: $BUILD_NOTE"
  else
    log "build failed (see $BUILD/bench-build.log; sources being edited?), retrying in 30 s"
    sleep 30
  fi
done
TLSD=$BUILD/tlsd
TLSCTL=$BUILD/tlsctl
LIBDIR=$BUILD/.libs

WORK=$(mktemp -d /tmp/tlsd-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

log "compiling bench programs in $WORK"
cc -O2 -g -Wall -o "$WORK/tls-server" "$HERE/tls-server.c" -lssl -lcrypto -lpthread
cc -O2 -g -Wall -I"$TOP/include" -o "$WORK/tlsd-bench" "$HERE/tlsd-bench.c" \
  -L"$LIBDIR" -ltlsclient -Wl,-rpath,"$LIBDIR" -lpthread

# ---- PKI ----
if [ -z "${PKI:-}" ]; then
  PKI=$WORK/pki
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

SUITE=TLS_AES_128_GCM_SHA256
GROUP=P-256
P_SRV_EC=$(free_port); P_SRV_RSA=$(free_port); P_ST_EC=$(free_port); P_ST_RSA=$(free_port)

# ---- the TLS server (one per certificate; both clients use the same ones) ----
"$WORK/tls-server" "$P_SRV_EC" "$PKI/server-ecdsa-chain.pem" "$PKI/server-ecdsa.key" \
  "$SUITE" "$GROUP" 2>"$WORK/server-ecdsa.log" &
PID_SRV_EC=$!; PIDS+=($!)
"$WORK/tls-server" "$P_SRV_RSA" "$PKI/server-rsa-chain.pem" "$PKI/server-rsa.key" \
  "$SUITE" "$GROUP" 2>"$WORK/server-rsa.log" &
PID_SRV_RSA=$!; PIDS+=($!)

# ---- tlsd ----
STATE_DIRECTORY="$WORK/state" "$TLSD" --runtime-dir="$WORK/run" --log-level=warning >"$WORK/tlsd.log" 2>&1 &
PID_TLSD=$!; PIDS+=($!)
TLSD_SOCK=$WORK/run/tlsd.sock

# ---- stunnel4, client mode, the same job ----
cat >"$WORK/stunnel.conf" <<EOF
; stunnel as a client-side TLS proxy: plaintext TCP in, verified TLS 1.3 out.
foreground = yes
pid =
debug = 2
[ecdsa]
client = yes
accept = 127.0.0.1:$P_ST_EC
connect = 127.0.0.1:$P_SRV_EC
CAfile = $PKI/ca.pem
verifyChain = yes
checkHost = localhost
sni = localhost
sslVersion = TLSv1.3
curves = prime256v1
; full handshakes: no ticket (the server issues none and keeps no cache either)
options = NO_TICKET
; do not wait for the peer's close_notify after the app closed
TIMEOUTclose = 0
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[rsa]
client = yes
accept = 127.0.0.1:$P_ST_RSA
connect = 127.0.0.1:$P_SRV_RSA
CAfile = $PKI/ca.pem
verifyChain = yes
checkHost = localhost
sni = localhost
sslVersion = TLSv1.3
curves = prime256v1
options = NO_TICKET
TIMEOUTclose = 0
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
EOF
stunnel4 "$WORK/stunnel.conf" >"$WORK/stunnel.log" 2>&1 &
PID_ST=$!; PIDS+=($!)

for p in $P_SRV_EC $P_SRV_RSA $P_ST_EC $P_ST_RSA; do
  wait_port "$p" || die "nothing listens on port $p: $(cat "$WORK"/*.log)"
done
for p in $PID_SRV_EC $PID_SRV_RSA $PID_ST; do # a port taken by someone else in the meantime
  kill -0 "$p" 2>/dev/null || die "a server exited at start: $(cat "$WORK"/*.log)"
done
for _ in $(seq 1 200); do "$TLSCTL" --socket="$TLSD_SOCK" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$TLSCTL" --socket="$TLSD_SOCK" ping >/dev/null 2>&1 || die "tlsd did not start: $(cat "$WORK/tlsd.log")"

BENCH=("$WORK/tlsd-bench" --timeout=120)
run_driver() { # IMPL CERT ARGS... -> one line of key=value
  local impl=$1 cert=$2 port
  shift 2
  if [ "$impl" = tlsd ]; then
    [ "$cert" = rsa ] && port=$P_SRV_RSA || port=$P_SRV_EC
    "${BENCH[@]}" --via=tlsd --socket="$TLSD_SOCK" --ca="$PKI/ca.pem" --servername=localhost \
      --groups="$GROUP" --port="$port" "$@" | tr '\n' ' '
  else
    [ "$cert" = rsa ] && port=$P_ST_RSA || port=$P_ST_EC
    "${BENCH[@]}" --via=tcp --port="$port" "$@" | tr '\n' ' '
  fi
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime+stime of the whole process

# ---- sanity: what is negotiated ----
INFO_EC=$(run_driver tlsd ecdsa info) || die "tlsd cannot reach the ECDSA server"
INFO_RSA=$(run_driver tlsd rsa info) || die "tlsd cannot reach the RSA server"
run_driver stunnel ecdsa info >/dev/null || die "stunnel cannot reach the ECDSA server"
run_driver stunnel rsa info >/dev/null || die "stunnel cannot reach the RSA server"
log "tlsd negotiates: $INFO_EC"

# ---- measurements ----
# name | certificate | driver arguments
TESTS=(
  "bulk1_up|ecdsa|bulk 1 $MIB1 up"
  "bulk8_up|ecdsa|bulk 8 $MIB8 up"
  "bulk1_down|ecdsa|bulk 1 $MIB1 down"
  "bulk8_down|ecdsa|bulk 8 $MIB8 down"
  "hs_ecdsa_c1|ecdsa|hs $HS_COUNT 1"
  "hs_ecdsa_c4|ecdsa|hs $HS_COUNT 4"
  "hs_rsa_c1|rsa|hs $HS_COUNT 1"
  "hs_rsa_c4|rsa|hs $HS_COUNT 4"
  "lat64|ecdsa|lat $LAT_COUNT 64"
)
RAW=$WORK/raw.tsv
: >"$RAW"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_BEFORE=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 10 && $2 != "ps" {printf "%s(%s%%) ", $2, $1}')
log "running $REPS repetitions (load average $LOAD_BEFORE)"
for rep in $(seq 1 "$REPS"); do
  # alternate who goes first, so drift and warm-up do not favour one side
  if [ $((rep % 2)) -eq 1 ]; then ORDER="tlsd stunnel"; else ORDER="stunnel tlsd"; fi
  for t in "${TESTS[@]}"; do
    IFS='|' read -r name cert args <<<"$t"
    for impl in $ORDER; do
      [ "$impl" = tlsd ] && px=$PID_TLSD || px=$PID_ST
      [ "$cert" = rsa ] && srv=$PID_SRV_RSA || srv=$PID_SRV_EC
      p0=$(ticks "$px"); s0=$(ticks "$srv")
      # shellcheck disable=SC2086
      line=$(run_driver "$impl" "$cert" $args) || die "$impl $name failed (rep $rep)"
      p1=$(ticks "$px"); s1=$(ticks "$srv")
      printf '%s\t%s\t%s\t%s proxy_cpu_s=%s server_cpu_s=%s\n' "$rep" "$name" "$impl" "$line" \
        "$(awk -v a="$p0" -v b="$p1" 'BEGIN{print (b-a)/100}')" \
        "$(awk -v a="$s0" -v b="$s1" 'BEGIN{print (b-a)/100}')" >>"$RAW"
    done
  done
  log "repetition $rep done"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- aggregate ----
python3 - "$RAW" "$WORK/summary.md" "$WORK/verdict" <<'PY'
import sys, statistics, collections
raw, out, verdict = sys.argv[1:4]
data = collections.defaultdict(list)   # (test, impl) -> list of dicts
for line in open(raw):
    rep, test, impl, rest = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in rest.split() if "=" in x)
    data[(test, impl)].append(kv)
def med(test, impl, key):
    return statistics.median(float(d[key]) for d in data[(test, impl)])
def spread(test, impl, key):
    v = [float(d[key]) for d in data[(test, impl)]]
    return min(v), max(v)
rows = []
def row(label, test, key, unit, better, fmt="{:.1f}"):
    t, s = med(test, "tlsd", key), med(test, "stunnel", key)
    tl, th = spread(test, "tlsd", key); sl, sh = spread(test, "stunnel", key)
    ratio = t / s if s else float("nan")
    rows.append(f"| {label} | {fmt.format(t)} ({fmt.format(tl)}–{fmt.format(th)}) | "
                f"{fmt.format(s)} ({fmt.format(sl)}–{fmt.format(sh)}) | **{ratio:.2f}** | {unit}, {better} |")
    return ratio
r = {}
r["bulk1_up"] = row("(a) bulk, 1 stream, upload", "bulk1_up", "MBps", "MB/s", "higher is better")
r["bulk8_up"] = row("(a) bulk, 8 streams, upload", "bulk8_up", "MBps", "MB/s", "higher is better")
r["bulk1_down"] = row("(a') bulk, 1 stream, download", "bulk1_down", "MBps", "MB/s", "higher is better")
r["bulk8_down"] = row("(a') bulk, 8 streams, download", "bulk8_down", "MBps", "MB/s", "higher is better")
r["hs_ecdsa_c1"] = row("(b) full handshakes, ECDSA P-256 cert, 1 at a time", "hs_ecdsa_c1", "per_s", "handshakes/s", "higher is better")
r["hs_ecdsa_c4"] = row("(b) full handshakes, ECDSA P-256 cert, 4 in flight", "hs_ecdsa_c4", "per_s", "handshakes/s", "higher is better")
r["hs_rsa_c1"] = row("(b) full handshakes, RSA-2048 cert, 1 at a time", "hs_rsa_c1", "per_s", "handshakes/s", "higher is better")
r["hs_rsa_c4"] = row("(b) full handshakes, RSA-2048 cert, 4 in flight", "hs_rsa_c4", "per_s", "handshakes/s", "higher is better")
r["lat_med"] = row("(c) 64-byte round trip, median", "lat64", "median_us", "µs", "lower is better")
r["lat_p99"] = row("(c) 64-byte round trip, p99", "lat64", "p99_us", "µs", "lower is better")
r["lat_min"] = row("(c) 64-byte round trip, minimum (least disturbed)", "lat64", "min_us", "µs", "lower is better")

# CPU cost per unit of work, proxy process only (utime+stime of the whole process, 10 ms ticks)
cost = []
def unit_of(test):
    d = data[(test, "tlsd")][0]
    if test.startswith("bulk"):
        n = int(d["streams"]) * int(d["mib_per_stream"])
        return n * 1048576 / 1e9, "CPU ms per GB"
    if test.startswith("hs"):
        return int(d["count"]), "CPU ms per handshake"
    return int(d["count"]), "CPU µs per round trip"
for test in ["bulk1_up", "bulk8_up", "bulk1_down", "bulk8_down", "hs_ecdsa_c1", "hs_ecdsa_c4",
             "hs_rsa_c1", "hs_rsa_c4", "lat64"]:
    n, label = unit_of(test)
    scale = 1e6 if "µs" in label else 1e3
    vals = {}
    for impl in ("tlsd", "stunnel"):
        vals[impl] = statistics.median(float(d["proxy_cpu_s"]) for d in data[(test, impl)]) * scale / n
        vals[impl + "_srv"] = statistics.median(float(d["server_cpu_s"]) for d in data[(test, impl)]) * scale / n
        vals[impl + "_drv"] = statistics.median(float(d["driver_cpu_s"]) for d in data[(test, impl)]) * scale / n
    cost.append(f"| {test} | {label} | {vals['tlsd']:.2f} | {vals['stunnel']:.2f} | "
                f"{vals['tlsd_srv']:.2f} / {vals['stunnel_srv']:.2f} | {vals['tlsd_drv']:.2f} / {vals['stunnel_drv']:.2f} |")

with open(out, "w") as f:
    f.write("| measurement | tlsd: median (min–max) | stunnel4: median (min–max) | tlsd/stunnel | unit |\n")
    f.write("|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n\n")
    f.write("CPU time per unit of work (medians; from /proc/PID/stat, 10 ms resolution):\n\n")
    f.write("| measurement | unit | tlsd process | stunnel process | server (with tlsd / with stunnel) | driver (tlsd / stunnel) |\n")
    f.write("|---|---|---|---|---|---|\n")
    f.write("\n".join(cost) + "\n")
hs = {k: v for k, v in r.items() if k.startswith("hs_")}
lines = []
ok1 = r["bulk1_up"] >= 1.0
lines.append(f"bulk1\t{'met' if ok1 else 'MISSED'}\t{r['bulk1_up']:.2f}")
for k, v in hs.items():
    lines.append(f"{k}\t{'met' if v >= 0.9 else 'MISSED'}\t{v:.2f}")
open(verdict, "w").write("\n".join(lines) + "\n")
PY

# ---- profile of tlsd where a target was missed ----
PROFILE_MD=$WORK/profile.md
: >"$PROFILE_MD"
profile_tlsd() { # NAME CERT ARGS...
  local name=$1 cert=$2
  shift 2
  local data=$WORK/perf-$name.data
  if perf stat -e instructions true >/dev/null 2>&1; then
    perf record -q -F 2999 -o "$data" -p "$PID_TLSD" >/dev/null 2>&1 &
    local pp=$!
    sleep 0.3
    run_driver tlsd "$cert" "$@" >/dev/null
    kill -INT "$pp"; wait "$pp" 2>/dev/null || true
    {
      echo "#### tlsd during \`$*\` ($name): perf, share of tlsd's samples"
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
  else
    echo "(perf does not work here: using callgrind on a reduced run)" >>"$PROFILE_MD"
    # A second tlsd under callgrind on its own socket.
    local dir=$WORK/cg-$name
    mkdir -p "$dir"
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$TLSD" \
      --runtime-dir="$dir/run" --log-level=warning >"$dir/log" 2>&1 &
    local vp=$!
    PIDS+=("$vp") # cleanup() ends it if the run fails here
    for _ in $(seq 1 300); do # the socket file appears at bind(), before listen()
      "$TLSCTL" --socket="$dir/run/tlsd.sock" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    local port=$P_SRV_EC; [ "$cert" = rsa ] && port=$P_SRV_RSA
    local reduced=("$@")
    case $1 in # callgrind runs ~50x slower: a reduced run
      bulk) reduced=(bulk 1 16 up) ;;
      hs) reduced=(hs 50 1) ;;
    esac
    echo "#### tlsd under callgrind during \`${reduced[*]}\` ($name)" >>"$PROFILE_MD"
    "${BENCH[@]}" --via=tlsd --socket="$dir/run/tlsd.sock" --ca="$PKI/ca.pem" \
      --groups="$GROUP" --port="$port" "${reduced[@]}" >/dev/null
    kill -TERM "$vp"; wait "$vp" 2>/dev/null || true
    {
      echo '```'
      callgrind_annotate "$dir/cg.out" 2>/dev/null | grep -E 'PROGRAM TOTALS|\(' | head -30 || true
      echo '```'
      echo
    } >>"$PROFILE_MD"
  fi
}
MISSED=$(awk -F'\t' '$2 == "MISSED" {print $1}' "$WORK/verdict")
if [ "$PROFILE" = always ] || { [ "$PROFILE" = auto ] && [ -n "$MISSED" ]; }; then
  if command -v perf >/dev/null || command -v valgrind >/dev/null; then
    log "profiling tlsd (missed: ${MISSED:-none})"
    want() { [ "$PROFILE" = always ] || grep -qx "$1" <<<"$MISSED"; }
    want bulk1 && profile_tlsd bulk1_up ecdsa bulk 1 "$MIB1" up
    if want hs_ecdsa_c1 || want hs_ecdsa_c4; then profile_tlsd hs_ecdsa ecdsa hs "$HS_COUNT" 1; fi
    if want hs_rsa_c1 || want hs_rsa_c4; then profile_tlsd hs_rsa rsa hs "$HS_COUNT" 1; fi
  fi
fi

# ---- versions, stop, server summaries ----
TLSD_VERSION=$(TLSD_SOCKET=$TLSD_SOCK "$TLSCTL" version 2>&1 | tr '\n' ' ')
cleanup
trap - EXIT
SERVER_SUMMARY=$(cat "$WORK/server-ecdsa.log" "$WORK/server-rsa.log")
STUNNEL_ERRORS=$(grep -c 'LOG[0-3]' "$WORK/stunnel.log" || true)
TLSD_WARNINGS=$(grep -c . "$WORK/tlsd.log" || true)

GIT_REV=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CPU_FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'aes|vaes|avx2|avx512f|bmi2|adx|sha_ni' | tr '\n' ' ')
CMD="bench/run.sh"
for v in REPS MIB1 MIB8 HS_COUNT LAT_COUNT SRV_MIB1 SRV_MIB8 SRV_HS_COUNT SRV_INFLIGHT PROFILE; do
  CMD="$v=${!v} $CMD"
done
DATE_CLIENT=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

# ---- the server side: tlsd as a TLS server against stunnel4 in server mode ----
log "server side: bench/run-server.sh"
REPS=$REPS SRV_MIB1=$SRV_MIB1 SRV_MIB8=$SRV_MIB8 SRV_HS_COUNT=$SRV_HS_COUNT \
  SRV_INFLIGHT=$SRV_INFLIGHT PROFILE=$PROFILE BUILD=$BUILD PKI=$PKI WORK=$WORK \
  SRV_MD=$WORK/server.md SRV_VERDICT=$WORK/server-verdict \
  "$HERE/run-server.sh" >/dev/null || die "the server-side benchmark failed"
demote() { sed -E 's/^(#+) /#\1 /' "$@"; } # one heading level down

{
cat <<EOF
# tlsd vs stunnel4: client-side and server-side TLS benchmarks

## How to run

    bench/run.sh                  # ~4 minutes on 2 cores; overwrites bench/RESULTS.md

It installs what it lacks (stunnel4, libssl-dev; apt, idempotent), builds an optimized tlsd in
\`\$BUILD\` (default /tmp/bench-build, \`-O2 -g\`, never the sanitizer build), and runs two
sections on loopback, one after the other:

- **Client side** (tlsd as a client-side TLS proxy): compiles \`bench/tls-server.c\` (the TLS
  server, system OpenSSL) and \`bench/tlsd-bench.c\` (the load driver, libtlsclient), starts the
  server, tlsd and stunnel4 (client mode) and measures.
- **Server side** (tlsd as a TLS server; \`bench/run-server.sh\`, called by run.sh): compiles
  \`bench/tls-client.c\` (the load generator, system OpenSSL) and \`bench/tlsd-server-app.c\` (the
  plaintext backend: an app listening through tlsd, or a plain TCP server behind stunnel4 in
  server mode), starts a second tlsd instance, the backends and stunnel4 (server mode) and
  measures.

Knobs (environment): REPS, MIB1, MIB8, HS_COUNT, LAT_COUNT (client side), SRV_MIB1, SRV_MIB8,
SRV_HS_COUNT, SRV_INFLIGHT (server side), PROFILE=auto|always|never, BUILD, PKI, OUT. Timings
are reported, never asserted.

## Summary

$(awk -F'\t' '
  $1 == "bulk1" { printf "- Client side, single-stream upload >= stunnel: **%s** (tlsd/stunnel = %s)\n", $2, $3 }
  $1 ~ /^hs_/  { printf "- Client side, full-handshake rate >= 0.9x stunnel, %s: **%s** (tlsd/stunnel = %s)\n", $1, $2, $3 }
' "$WORK/verdict")
$(awk -F'\t' '
  $1 ~ /^bulk/ { printf "- Server side, bulk upload >= stunnel, %s: **%s** (tlsd/stunnel = %s)\n", $1, $2, $3 }
  $1 ~ /^hs_/  { printf "- Server side, fresh-handshake rate >= stunnel, %s: **%s** (tlsd/stunnel = %s)\n", $1, $2, $3 }
' "$WORK/server-verdict")

Both sections come from the same run of \`$CMD\`; details, CPU costs and analyses below.

## Client side (tlsd as a client-side TLS proxy)

### Setup

- **Same job, same server.** tlsd: the driver asks tlsd (libtlsclient) for a client connection
  (\`tlsc_connection_create\` + blocking \`tlsc_connect\`, session: CA = test ca.pem, verification
  strict, server_name localhost, TLS 1.3 only, group P-256) and uses the plaintext fd it gets.
  stunnel4: \`client = yes\`, \`verifyChain = yes\`, \`CAfile\` = the same ca.pem,
  \`checkHost = localhost\`, \`sni = localhost\`, \`sslVersion = TLSv1.3\`, \`curves = prime256v1\`,
  \`options = NO_TICKET\`, TCP_NODELAY both sides; the same driver connects plain TCP to its accept
  port. Both proxies connect to the same \`bench/tls-server\` processes (one with the ECDSA P-256
  leaf, one with the RSA-2048 leaf; both chains signed by the P-256 test root).
- **Server**: a small C program on the system OpenSSL, a blocking thread per connection (not
  socat / s_server: it needs a sink that acknowledges the last byte, a source and an echo).
  TLS 1.3 only, the single suite $SUITE, group $GROUP, no session tickets and no session cache,
  so every handshake is a full one (resumed handshakes counted below: must be 0).
- **(a)** bulk: STREAMS channels are set up first, then each writes MIB MiB into its plaintext
  side and waits for the sink's 1-byte acknowledgement of the last byte (upload), or reads MIB
  MiB from the server (download, extra). MB/s = total bytes / wall time, 1 MB = 10^6 bytes.
  1 stream: $MIB1 MiB; 8 streams: $MIB8 MiB each.
- **(b)** $HS_COUNT full handshakes per measurement, 1 at a time and 4 in flight (4 threads, each
  with its own tlsd client/session). Each: open a channel, 1-byte round trip through it (proves
  the handshake completed end to end), close it. For tlsd that is connection create + connect +
  round trip + close fd + connection destroy, i.e. three control round trips besides the TLS
  handshake; for stunnel a new TCP connection.
- **(c)** one established channel, 200 warm-up then $LAT_COUNT round trips of 64 bytes through the
  server's echo; per-round-trip times, median and p99.
- Each measurement runs $REPS times, tlsd and stunnel alternating who goes first; the tables give
  the median and (min–max) of the repetitions. CPU columns: utime+stime of the proxy process
  (all its threads) and of the server, over each run.
- **Caveat: 2 cores for everything.** Driver, proxy (tlsd or stunnel) and server share the
  machine's $(nproc) cores, so the numbers are of the whole loopback system, not of the proxy
  alone; the CPU-per-work table separates the proxy's share. Other work on the machine during
  the run (load average before: $LOAD_BEFORE, after: $LOAD_AFTER; other processes above 10 %
  CPU at the start: ${OTHERS_BEFORE:-none}) adds noise — look at the min–max spread.

### Run

- Command: \`$CMD\`
- Date: $DATE_CLIENT
- Machine: nproc $(nproc), CPU "$CPU_MODEL" (flags: $CPU_FLAGS), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r)
- tlsd: $TLSD_VERSION(git $GIT_REV, $GIT_DIRTY locally modified tracked files; build $BUILD)${BUILD_NOTE:+ — NOTE: $BUILD_NOTE}
- stunnel: $(stunnel4 -version 2>&1 | grep -m1 '^stunnel'), $(stunnel4 -version 2>&1 | grep -m1 'Running')
- Server/system OpenSSL: $(openssl version)
- Compiler: $(cc --version | head -1)
- tlsd negotiated: $(sed 's/^test=info //; s/ driver_cpu_s=.*//' <<<"$INFO_EC") / RSA server: $(sed 's/.*peer=//' <<<"${INFO_RSA}" | cut -d' ' -f1)
- Server side: $(tr '\n' ';' <<<"$SERVER_SUMMARY" | sed 's/;$//; s/;/; /g') (one failed handshake per server is run.sh's TCP readiness probe)
- stunnel log lines at level <= 3 (errors): $STUNNEL_ERRORS; tlsd log lines (warning and above): $TLSD_WARNINGS

### Results

EOF
cat "$WORK/summary.md"
echo
echo "### Targets"
echo
awk -F'\t' '
  $1 == "bulk1" { printf "- Single-stream throughput >= stunnel: **%s** (tlsd/stunnel = %s)\n", $2, $3 }
  $1 ~ /^hs_/  { printf "- Full-handshake rate >= 0.9x stunnel, %s: **%s** (tlsd/stunnel = %s)\n", $1, $2, $3 }
' "$WORK/verdict"
if [ -s "$PROFILE_MD" ]; then
  echo
  echo "### Profile of tlsd"
  echo
  cat "$PROFILE_MD"
fi
if [ -f "$HERE/ANALYSIS.md" ]; then
  echo
  demote "$HERE/ANALYSIS.md"
fi
echo
echo "Raw per-run lines: $RAW (kept until /tmp is cleaned)."
echo
echo "## Server side (tlsd as a TLS server)"
echo
cat "$WORK/server.md"
if [ -f "$HERE/ANALYSIS-server.md" ]; then
  echo
  demote "$HERE/ANALYSIS-server.md"
fi
} >"$OUT"
log "wrote $OUT in $(($(date +%s) - T_START)) s"
