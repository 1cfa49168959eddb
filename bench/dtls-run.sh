#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/dtls-run.sh -- DTLS benchmark of tlsd on loopback, compared with openssl in the same run:
#   - full handshakes/s: a tlsd client against a DTLS listener in the same tlsd (DTLS 1.3, and
#     DTLS 1.2 when the version can be pinned), and against `openssl s_server -dtls1_2`;
#   - openssl s_client -dtls1_2 against a tlsd listener and against openssl s_server (one
#     s_client process per handshake): handshake latency and the server process's CPU per
#     handshake, tlsd vs openssl;
#   - message throughput at 1200-byte messages, one connection: tlsd <-> tlsd with a flow-control
#     window (up and down) and without any (a blast), and tlsd -> openssl s_server (a blast:
#     s_server cannot answer). Delivered messages/s and MB/s with the loss fraction.
# Prints a markdown section and appends it to bench/RESULTS.md as "## DTLS" (an earlier "## DTLS"
# section written by this script is replaced; other sections are left alone).
# A benchmark, not a test: no pass/fail on timings; the exit status is non-zero only when
# something did not work (build, start-up, tlsd stopped answering).
#
# Environment (all optional):
#   REPS=5          repetitions (medians and min-max are reported)
#   HS_COUNT=300    handshakes per tlsd-client handshake measurement; HS_INFLIGHT=4 concurrent
#   SC_COUNT=100    openssl s_client processes per s_client measurement
#   MSGS=100000     messages per throughput measurement; SIZE=1200 bytes each
#   WINDOW=64       flow-control window (messages) of the tlsd <-> tlsd throughput
#   PROFILE=never   always: perf record tlsd during one throughput and one handshake run
#   BUILD=build/plain   a non-sanitizer tlsd build (configured out of tree and made when missing)
#   PKI=DIR         test PKI (default: generated in the work directory)
#   OUT=bench/RESULTS.md   WRITE=0 prints only
#   BUILD_NOTE=TEXT what the build is, when it is not the checkout (shown in the Run section)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
REPS=${REPS:-5}
HS_COUNT=${HS_COUNT:-300}
HS_INFLIGHT=${HS_INFLIGHT:-4}
SC_COUNT=${SC_COUNT:-100}
MSGS=${MSGS:-100000}
SIZE=${SIZE:-1200}
WINDOW=${WINDOW:-64}
PROFILE=${PROFILE:-never}
BUILD=${BUILD:-$TOP/build/plain}
OUT=${OUT:-$HERE/RESULTS.md}
WRITE=${WRITE:-1}
WOLFSSL_PREFIX=${WOLFSSL_PREFIX:-/opt/tlsd/wolfssl}
T_START=$(date +%s)

log() { printf '[dtls-bench %3ds] %s\n' $(($(date +%s) - T_START)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- dependencies (idempotent) ----
need_pkgs=()
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v cc >/dev/null || need_pkgs+=(gcc)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# ---- tlsd build (out of tree, like scripts/build) ----
if [ ! -x "$BUILD/tlsd" ] || [ ! -f "$BUILD/.libs/libtlsclient.so" ]; then
  log "building tlsd in $BUILD"
  mkdir -p "$BUILD"
  # scripts/build: autogen.sh when ./configure is missing (a fresh clone), configure, make
  TLSD_WOLFSSL_PREFIX=$WOLFSSL_PREFIX "$TOP/scripts/build" "$BUILD" \
    >"$BUILD/dtls-bench-build.log" 2>&1 || die "tlsd does not build: $BUILD/dtls-bench-build.log"
fi
if grep -qE '^SANITIZER_CFLAGS = .*-fsanitize' "$BUILD/Makefile" 2>/dev/null; then
  die "$BUILD is a sanitizer build; use a plain one"
fi
TLSD=$BUILD/tlsd
TLSCTL=$BUILD/tlsctl
LIBDIR=$BUILD/.libs
[ -x "$TLSD" ] && [ -f "$LIBDIR/libtlsclient.so" ] || die "no tlsd build in $BUILD"

WORK=$(mktemp -d /tmp/dtls-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT

# the library's own header: the source tree the build was configured from
SRC_TOP=$(sed -n 's/^abs_top_srcdir = //p' "$BUILD/Makefile" 2>/dev/null)
[ -f "${SRC_TOP:-/nonexistent}/include/tlsd/client.h" ] || SRC_TOP=$TOP
log "compiling bench/dtls-bench.c in $WORK (header from $SRC_TOP)"
cc -O2 -g -Wall -I"$SRC_TOP/include" -o "$WORK/dtls-bench" "$HERE/dtls-bench.c" \
  -L"$LIBDIR" -ltlsclient -Wl,-rpath,"$LIBDIR" -lpthread

if [ -z "${PKI:-}" ]; then
  PKI=$WORK/pki
fi
if [ ! -f "$PKI/server-ecdsa-chain.pem" ]; then
  log "generating test PKI in $PKI"
  sh "$TOP/certs/gen-test-pki.sh" "$PKI" >/dev/null
fi
CERT=$PKI/server-ecdsa-chain.pem
KEY=$PKI/server-ecdsa.key
GROUP=P-256

udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
cpu_ns() { # PID -> CPU time of all its threads in ns (schedstat: ns precision)
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}
udp_drops() { awk '/^Udp:/ {getline; print $6}' /proc/net/snmp; } # RcvbufErrors, system-wide

# ---- tlsd, private. Started through a symlink with a name of its own: on a shared machine
# other sessions' test clean-ups run `pkill tlsd`, which ended the benchmark's daemon mid-run
# (seen while this was written). ----
mkdir -p "$WORK/bin"
if [ "$(head -c2 "$TLSD")" = '#!' ]; then # a libtool wrapper finds its .libs by its own path
  cp "$TLSD" "$WORK/bin/benchd-dtls" 2>/dev/null; TLSD_RUN=$TLSD
else
  ln -s "$(readlink -f "$TLSD")" "$WORK/bin/benchd-dtls"; TLSD_RUN=$WORK/bin/benchd-dtls
fi
"$TLSD_RUN" --runtime-dir="$WORK/run" --log-level=warning >"$WORK/tlsd.log" 2>&1 &
PID_TLSD=$!; PIDS+=($!)
SOCK=$WORK/run/tlsd.sock
for _ in $(seq 1 200); do "$TLSCTL" --socket="$SOCK" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$TLSCTL" --socket="$SOCK" ping >/dev/null 2>&1 || die "tlsd did not start: $(cat "$WORK/tlsd.log")"
tlsd_alive() { # a hung (spinning) tlsd answers no ping
  kill -0 "$PID_TLSD" 2>/dev/null || die "tlsd exited: $(tail -5 "$WORK/tlsd.log")"
  timeout 10 "$TLSCTL" --socket="$SOCK" ping >/dev/null 2>&1 ||
    die "tlsd stopped answering its control socket (state $(awk '{print $3}' /proc/"$PID_TLSD"/stat)); see bench/dtls-ANALYSIS.md"
}

# ---- openssl s_server: stdin must stay open (at EOF on stdin it ends the connection) ----
mkfifo "$WORK/ss.in"
sleep 1000000 >"$WORK/ss.in" &
PIDS+=($!)
exec 9<"$WORK/ss.in" # keep the fifo readable for every s_server we start
# A fresh one per measurement: s_server serves one peer at a time, and one whose peer vanished
# mid-connection (no close_notify) answers nobody else for minutes.
start_s_server() { # -> P_SS, PID_SS
  P_SS=$(udp_port)
  openssl s_server -dtls1_2 -quiet -accept "127.0.0.1:$P_SS" -cert "$CERT" -key "$KEY" \
    -groups "$GROUP" <&9 >/dev/null 2>>"$WORK/s_server.log" &
  PID_SS=$!; PIDS+=($!)
  sleep 0.3
  kill -0 "$PID_SS" 2>/dev/null || die "openssl s_server did not start: $(cat "$WORK/s_server.log")"
}
stop_s_server() {
  kill "$PID_SS" 2>/dev/null || true
  wait "$PID_SS" 2>/dev/null || true
}

# ---- a tlsd DTLS listener (this program's serve mode) for openssl s_client ----
"$WORK/dtls-bench" --socket="$SOCK" --cert="$CERT" --key="$KEY" --groups="$GROUP" serve \
  >"$WORK/serve.port" 2>"$WORK/serve.log" &
PID_SERVE=$!; PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/serve.port" ] && break; sleep 0.05; done
P_SERVE=$(head -1 "$WORK/serve.port")
[ -n "$P_SERVE" ] || die "the tlsd listener did not start: $(cat "$WORK/serve.log")"

BENCH=("$WORK/dtls-bench" --socket="$SOCK" --ca="$PKI/ca.pem" --servername=localhost
       --groups="$GROUP" --size="$SIZE" --timeout=300)
SELF=(--peer=self --cert="$CERT" --key="$KEY")

RAW=$WORK/raw.tsv
: >"$RAW"
record() { # REP NAME LINE CPU_TLSD_NS CPU_OSSL_NS DROPS
  printf '%s\t%s\t%s tlsd_cpu_ns=%s ossl_cpu_ns=%s udp_rcvbuf_drops=%s\n' "$1" "$2" \
    "$(tr '\n' ' ' <<<"$3")" "$4" "$5" "$6" >>"$RAW"
}
# One measurement with the driver: NAME OSSL_PID ARGS...
measure() {
  local name=$1 opid=$2 line t0 t1 o0 o1 d0
  shift 2
  t0=$(cpu_ns "$PID_TLSD"); o0=0; [ "$opid" != 0 ] && o0=$(cpu_ns "$opid")
  d0=$(udp_drops)
  line=$("${BENCH[@]}" "$@" 2>&1) || line="ok=0 error=\"$(tr '\n"' ' ' <<<"$line")\""
  t1=$(cpu_ns "$PID_TLSD"); o1=0; [ "$opid" != 0 ] && o1=$(cpu_ns "$opid")
  record "$REP" "$name" "$line" $((t1 - t0)) $((o1 - o0)) $(($(udp_drops) - d0))
  tlsd_alive
}
# tlsd client -> a fresh `openssl s_server -naccept 1 -quiet` (it exits after the connection;
# its CPU time comes from /usr/bin/time), whose output the counter reads through a fifo.
measure_tput_openssl() { # NAME
  local name=$1 port tpid cpid i line t0 t1 d0 ocpu
  port=$(udp_port)
  rm -f "$WORK/count.out" "$WORK/count.fifo" "$WORK/s_server.time"
  mkfifo "$WORK/count.fifo"
  "$WORK/dtls-bench" --size="$SIZE" --count-file="$WORK/count.out" count "$MSGS" \
    <"$WORK/count.fifo" &
  cpid=$!
  /usr/bin/time -o "$WORK/s_server.time" -f '%U %S' openssl s_server -dtls1_2 -quiet \
    -naccept 1 -accept "127.0.0.1:$port" -cert "$CERT" -key "$KEY" -groups "$GROUP" <&9 \
    >"$WORK/count.fifo" 2>>"$WORK/s_server-tput.log" &
  tpid=$!
  sleep 0.3
  t0=$(cpu_ns "$PID_TLSD"); d0=$(udp_drops)
  line=$("${BENCH[@]}" --port="$port" --count-file="$WORK/count.out" tput "$MSGS" up 2>&1) ||
    line="ok=0 error=\"$(tr '\n"' ' ' <<<"$line")\""
  t1=$(cpu_ns "$PID_TLSD")
  for i in $(seq 1 100); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$tpid" 2>/dev/null; then # s_server missed the close_notify: end it (by pid)
    kill $(ps -o pid= --ppid "$tpid") 2>/dev/null || true
  fi
  wait "$tpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  ocpu=$(awk 'NF == 2 {printf "%.0f", ($1 + $2) * 1e9}' "$WORK/s_server.time" 2>/dev/null)
  record "$REP" "$name" "$line" $((t1 - t0)) "${ocpu:-0}" $(($(udp_drops) - d0))
  tlsd_alive
}
# openssl s_client -dtls1_2, one process per handshake: NAME PORT SERVER_PID
measure_s_client() {
  local name=$1 port=$2 spid=$3 line t0 t1 o0 o1
  t0=$(cpu_ns "$PID_TLSD"); o0=$(cpu_ns "$spid")
  line=$(python3 - "$port" "$SC_COUNT" "$PKI/ca.pem" "$GROUP" <<'PY'
import signal, statistics, subprocess, sys, threading, time
port, n, ca, group = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lat, failed = [], 0
t_all = time.monotonic()
for _ in range(n):
    t0 = time.monotonic()
    p = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:" + port,
                          "-CAfile", ca, "-servername", "localhost", "-groups", group,
                          "-verify_return_error"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    limit = threading.Timer(10.0, p.kill)  # no handshake in 10 s: counted as failed
    limit.start()
    ok = False
    for line in p.stdout:  # printed once the handshake is done and verified
        if b"Verify return code" in line:
            ok = b"Verify return code: 0 " in line
            break
    t1 = time.monotonic()
    # EOF on stdin: s_client says DONE, sends close_notify, then always lingers 0.5 s for the
    # peer's (its TCP-era shutdown wait), which is not part of the handshake: end it then. Not
    # before: s_server serves one peer at a time and waits forever for one that vanished
    # without close_notify.
    p.stdin.close()
    for line in p.stdout:
        if line.startswith(b"DONE"):
            break
    time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    p.wait()
    limit.cancel()
    if ok:
        lat.append(t1 - t0)
    else:
        failed += 1
lat.sort()
print("test=s_client count=%d ok=%d failed=%d median_ms=%.2f p90_ms=%.2f max_ms=%.1f "
      "wall_s=%.2f" % (n, len(lat), failed, statistics.median(lat) * 1e3 if lat else 0,
                       lat[int(len(lat) * 0.9)] * 1e3 if lat else 0, lat[-1] * 1e3 if lat else 0,
                       time.monotonic() - t_all))
PY
)
  t1=$(cpu_ns "$PID_TLSD"); o1=$(cpu_ns "$spid")
  record "$REP" "$name" "$line" $((t1 - t0)) $((o1 - o0)) 0
  tlsd_alive
}

# ---- sanity: what is negotiated ----
INFO13=$("${BENCH[@]}" "${SELF[@]}" --version=1.3 info 2>&1 | head -1) || true
grep -q 'ok=1' <<<"$INFO13" || die "tlsd <-> tlsd DTLS 1.3 does not connect: $INFO13"
start_s_server
for attempt in 1 2 3; do # a first-flight Timeout (see bench/dtls-ANALYSIS.md, problem 2) is retried
  INFO_OSSL=$("${BENCH[@]}" --port="$P_SS" info 2>&1 | head -1) || true
  grep -q 'ok=1' <<<"$INFO_OSSL" && break
  log "tlsd -> openssl s_server, attempt $attempt: $INFO_OSSL"
  [ "$attempt" = 3 ] && die "tlsd -> openssl s_server does not connect"
  stop_s_server; start_s_server
done
stop_s_server
INFO12=$("${BENCH[@]}" "${SELF[@]}" --version=1.2 --server-version=1.2 --timeout=30 info 2>&1 | head -1) || true
log "tlsd<->tlsd: $INFO13"
log "tlsd->openssl: $INFO_OSSL"
log "tlsd<->tlsd pinned to DTLS 1.2: $INFO12"
DTLS12_OK=0
grep -q 'ok=1' <<<"$INFO12" && DTLS12_OK=1

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_BEFORE=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 10 && $2 != "ps" {printf "%s(%s%%) ", $2, $1}')
log "running $REPS repetitions (load average $LOAD_BEFORE)"
for REP in $(seq 1 "$REPS"); do
  # alternate who goes first, so drift and warm-up do not favour one side
  if [ $((REP % 2)) -eq 1 ]; then ORDER="tlsd openssl"; else ORDER="openssl tlsd"; fi
  measure hs13_c1 0 "${SELF[@]}" --version=1.3 hs "$HS_COUNT" 1
  measure hs13_cK 0 "${SELF[@]}" --version=1.3 hs "$HS_COUNT" "$HS_INFLIGHT"
  if [ "$DTLS12_OK" = 1 ]; then
    measure hs12_c1 0 "${SELF[@]}" --version=1.2 --server-version=1.2 hs "$HS_COUNT" 1
    measure hs12_cK 0 "${SELF[@]}" --version=1.2 --server-version=1.2 hs "$HS_COUNT" "$HS_INFLIGHT"
  fi
  for side in $ORDER; do
    if [ "$side" = tlsd ]; then
      measure tput13_nofc 0 "${SELF[@]}" --version=1.3 --window=0 tput "$MSGS" up
    else
      measure_tput_openssl tputossl_nofc
    fi
  done
  measure tput13_up 0 "${SELF[@]}" --version=1.3 --window="$WINDOW" tput "$MSGS" up
  measure tput13_down 0 "${SELF[@]}" --version=1.3 --window="$WINDOW" tput "$MSGS" down
  if [ "$DTLS12_OK" = 1 ]; then
    measure tput12_up 0 "${SELF[@]}" --version=1.2 --server-version=1.2 --window="$WINDOW" tput "$MSGS" up
  fi
  start_s_server
  measure hsossl_c1 "$PID_SS" --port="$P_SS" hs "$HS_COUNT" 1
  stop_s_server
  for side in $ORDER; do
    if [ "$side" = tlsd ]; then
      measure_s_client sc_tlsd "$P_SERVE" "$PID_TLSD"
    else
      start_s_server
      measure_s_client sc_ossl "$P_SS" "$PID_SS"
      stop_s_server
    fi
  done
  log "repetition $REP done"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- optional profile of tlsd (perf) ----
PROFILE_MD=$WORK/profile.md
: >"$PROFILE_MD"
if [ "$PROFILE" = always ] && perf stat -e instructions true >/dev/null 2>&1; then
  profile() { # LABEL ARGS...
    local label=$1 data=$WORK/perf-$RANDOM.data pp
    shift
    perf record -q -F 2999 -g -o "$data" -p "$PID_TLSD" >/dev/null 2>&1 &
    pp=$!
    sleep 0.3
    "${BENCH[@]}" "$@" >/dev/null 2>&1 || true
    kill -INT "$pp"; wait "$pp" 2>/dev/null || true
    {
      echo "#### tlsd during $label: perf, share of tlsd's samples (self time)"
      echo
      echo '```'
      perf report -i "$data" --stdio --no-children --sort dso,symbol 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed 's/ *- *- *$//' | head -25 || true
      echo '```'
      echo
    } >>"$PROFILE_MD"
  }
  log "profiling tlsd"
  profile "tlsd<->tlsd DTLS 1.3 throughput, window $WINDOW (\`tput $MSGS up\`)" \
    "${SELF[@]}" --version=1.3 --window="$WINDOW" tput "$MSGS" up
  profile "tlsd<->tlsd DTLS 1.3 handshakes (\`hs $HS_COUNT 1\`)" "${SELF[@]}" --version=1.3 hs "$HS_COUNT" 1
fi

# ---- versions, stop ----
TLSD_VERSION=$("$TLSCTL" --socket="$SOCK" version 2>&1 | tr '\n' ' ')
kill -TERM "$PID_SERVE" 2>/dev/null || true
wait "$PID_SERVE" 2>/dev/null || true
SERVE_SUMMARY=$(tail -1 "$WORK/serve.log")
cleanup
trap - EXIT
TLSD_WARNINGS=$(grep -c . "$WORK/tlsd.log" || true)
GIT_REV=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CPU_FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'aes|vaes|avx2|avx512f|bmi2|adx|sha_ni' | tr '\n' ' ')
CMD="bench/dtls-run.sh"
for v in REPS HS_COUNT HS_INFLIGHT SC_COUNT MSGS SIZE WINDOW; do CMD="$v=${!v} $CMD"; done

# ---- aggregate ----
python3 - "$RAW" "$WORK/results.md" "$DTLS12_OK" "$INFO12" "$WINDOW" "$HS_INFLIGHT" <<'PY'
import collections, shlex, statistics, sys
raw, out, dtls12_ok, info12, window, inflight = sys.argv[1:7]
data = collections.defaultdict(list)
for line in open(raw):
    rep, test, rest = line.rstrip("\n").split("\t")
    kv = {}  # key=value pairs; error="..." may contain spaces
    try:
        toks = shlex.split(rest)
    except ValueError:
        toks = rest.split()
    for t in toks:
        if "=" in t:
            k, v = t.split("=", 1)
            kv.setdefault(k, v)
    data[test].append(kv)

def vals(test, key, f=float):
    out = []
    for d in data.get(test, []):
        try:
            out.append(f(d[key]))
        except (KeyError, ValueError):
            pass
    return out
def med(test, key):
    v = vals(test, key)
    return statistics.median(v) if v else None
def cell(test, key, fmt="{:.0f}", scale=1.0):
    v = [x * scale for x in vals(test, key)]
    if not v:
        return "n/a"
    return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}–{fmt.format(max(v))})"
def total(test, key):
    return int(sum(vals(test, key)))
def per(test, num, den, scale, fmt="{:.2f}"):
    r = []
    for d in data.get(test, []):
        try:
            n, k = float(d[num]), float(d[den])
        except (KeyError, ValueError):
            continue
        if k > 0:
            r.append(n / k * scale)
    if not r:
        return "n/a", None
    m = statistics.median(r)
    return f"{fmt.format(m)} ({fmt.format(min(r))}–{fmt.format(max(r))})", m
def failures(test):
    bad = [d for d in data.get(test, []) if d.get("ok") == "0" or d.get("test") is None]
    return len(bad), (bad[0].get("error", "") if bad else "")
def runs(test):
    return len(data.get(test, []))

L = []
L.append("#### Handshakes")
L.append("")
L.append("| measurement | handshakes/s: median (min–max) | handshake latency, median ms | failed / over 0.5 s (all runs) | tlsd CPU ms per handshake | openssl CPU ms per handshake |")
L.append("|---|---|---|---|---|---|")
def hs_row(label, test, ossl=False):
    if not runs(test):
        return
    tl, _ = per(test, "tlsd_cpu_ns", "ok", 1e-6)
    ol, _ = per(test, "ossl_cpu_ns", "ok", 1e-6) if ossl else ("—", None)
    L.append(f"| {label} | {cell(test, 'per_s', '{:.0f}')} | {cell(test, 'median_ms', '{:.2f}')} | "
             f"{total(test, 'failed')} / {total(test, 'slow')} of {total(test, 'count')} | {tl} | {ol} |")
hs_row("tlsd client → tlsd listener (same tlsd), DTLS 1.3, 1 at a time", "hs13_c1")
hs_row(f"tlsd client → tlsd listener (same tlsd), DTLS 1.3, {inflight} in flight", "hs13_cK")
if dtls12_ok == "1":
    hs_row("tlsd client → tlsd listener, DTLS 1.2, 1 at a time", "hs12_c1")
    hs_row(f"tlsd client → tlsd listener, DTLS 1.2, {inflight} in flight", "hs12_cK")
else:
    L.append(f"| tlsd client → tlsd listener, DTLS 1.2 (both pinned to 1.2) | **not measurable**: {info12.replace('|', '/')} (bench/dtls-ANALYSIS.md, problem 3) | | | | |")
hs_row("tlsd client → openssl s_server -dtls1_2 (negotiates DTLS 1.2), 1 at a time", "hsossl_c1", ossl=True)
L.append("")
L.append("tlsd CPU covers both roles when the listener is in the same tlsd. \"Over 0.5 s\": "
         "handshakes that waited for a 1 s retransmission timer on loopback.")
L.append("")
L.append("#### openssl s_client -dtls1_2 (one process per handshake) against each server")
L.append("")
L.append("| server | latency to \"Verify return code\", median ms | p90 ms | failed | server process CPU ms per handshake |")
L.append("|---|---|---|---|---|")
sc = {}
for label, test, key in (("tlsd listener (dtls-bench serve), DTLS 1.2", "sc_tlsd", "tlsd_cpu_ns"),
                         ("openssl s_server -dtls1_2", "sc_ossl", "ossl_cpu_ns")):
    c, m = per(test, key, "ok", 1e-6, "{:.3f}")
    sc[test] = (med(test, "median_ms"), m)
    L.append(f"| {label} | {cell(test, 'median_ms', '{:.1f}')} | {cell(test, 'p90_ms', '{:.1f}')} | "
             f"{total(test, 'failed')} of {total(test, 'count')} | {c} |")
L.append("")
L.append("Latency = s_client process start to its post-handshake report: mostly the s_client "
         "process itself (start-up, loading the CA file); s_client's fixed 0.5 s wait after "
         "close_notify is cut off. The server CPU column is the comparison of the servers.")
L.append("")
L.append(f"#### Message throughput, 1 connection, {vals('tput13_up', 'size', int)[0] if vals('tput13_up', 'size', int) else 1200}-byte messages")
L.append("")
L.append("| measurement | delivered msgs/s: median (min–max) | MB/s | loss: median (max) | longest run of lost messages (max) | offered msgs/s | kernel UDP receive-buffer drops (median) | tlsd CPU µs per message sent | openssl CPU µs per message delivered |")
L.append("|---|---|---|---|---|---|---|---|---|")
def tput_row(label, test, ossl=False):
    if not runs(test):
        return
    nf, err = failures(test)
    loss = vals(test, "loss")
    tl, _ = per(test, "tlsd_cpu_ns", "count", 1e-3)
    ol, _ = per(test, "ossl_cpu_ns", "delivered", 1e-3) if ossl else ("—", None)
    drops = vals(test, "udp_rcvbuf_drops")
    row = (f"| {label} | {cell(test, 'msgs_per_s')} | {cell(test, 'MBps', '{:.1f}')} | "
           f"{statistics.median(loss):.4f} ({max(loss):.4f}) | " if loss else f"| {label} | n/a | n/a | n/a | ")
    gaps = vals(test, "max_gap")
    fl = total(test, "fin_lost")
    row += f"{max(gaps):.0f}" if gaps else "n/a"
    row += f" (FIN lost in {fl} of {runs(test)})" if fl else ""
    row += " | "
    row += (f"{cell(test, 'offered_msgs_per_s') if not test.endswith('down') else 'n/a'} | "
            f"{statistics.median(drops):.0f} | {tl} | {ol} |")
    L.append(row)
    if nf:
        L.append(f"| ↳ {nf} run(s) failed | {err.replace('|', '/')} | | | | | | | |")
tput_row(f"tlsd → tlsd DTLS 1.3, upload, window {window}", "tput13_up")
tput_row(f"tlsd → tlsd DTLS 1.3, download (listener side sends), window {window}", "tput13_down")
if dtls12_ok == "1":
    tput_row(f"tlsd → tlsd DTLS 1.2, upload, window {window}", "tput12_up")
else:
    L.append("| tlsd → tlsd DTLS 1.2 | **not measurable** (see handshakes) | | | | | | | |")
tput_row("tlsd → tlsd DTLS 1.3, upload, no flow control", "tput13_nofc")
tput_row("tlsd client → openssl s_server -dtls1_2 -quiet (DTLS 1.2), no flow control", "tputossl_nofc", ossl=True)
L.append("")
L.append("Delivered = distinct, intact messages the receiver got (duplicates and corrupted "
         f"ones: {total('tput13_up','dups')+total('tput13_down','dups')+total('tput13_nofc','dups')+total('tputossl_nofc','dups')} and "
         f"{total('tput13_up','corrupt')+total('tput13_down','corrupt')+total('tput13_nofc','corrupt')+total('tputossl_nofc','corrupt')} in all runs); "
         "msgs/s and MB/s from the sender's first message to the last delivered one (1 MB = 10^6 "
         "bytes of message). Offered = what the sender pushed into tlsd per second. UDP drops: "
         "/proc/net/snmp RcvbufErrors over the run (system-wide; the machine is shared). "
         "\"FIN lost\": after the messages no end-of-test message got through any more (a DTLS 1.3 "
         "receiver cannot reconstruct record numbers after more than 32768 consecutive losses); "
         "the listener thread's counts were read directly.")
L.append("")
L.append("#### Same-run ratios")
L.append("")
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"
r1 = ratio(sc["sc_tlsd"][1], sc["sc_ossl"][1])
L.append(f"- Server CPU per DTLS 1.2 handshake, tlsd / openssl s_server (same s_client): **{r1}** (lower is cheaper)")
L.append(f"- s_client handshake latency, tlsd / openssl s_server: **{ratio(sc['sc_tlsd'][0], sc['sc_ossl'][0])}**")
L.append(f"- No-flow-control delivered rate, tlsd→tlsd (1.3) / tlsd→openssl (1.2): "
         f"**{ratio(med('tput13_nofc', 'msgs_per_s'), med('tputossl_nofc', 'msgs_per_s'))}** "
         f"(loss {med('tput13_nofc', 'loss') or 0:.3f} vs {med('tputossl_nofc', 'loss') or 0:.3f})")
L.append(f"- Handshakes/s, tlsd client → tlsd listener (1.3) / → openssl s_server (1.2): "
         f"**{ratio(med('hs13_c1', 'per_s'), med('hsossl_c1', 'per_s'))}** (different versions and servers; "
         f"median latency {med('hs13_c1', 'median_ms') or 0:.2f} vs {med('hsossl_c1', 'median_ms') or 0:.2f} ms)")
open(out, "w").write("\n".join(L) + "\n")
PY

SECTION=$WORK/section.md
{
cat <<EOF
## DTLS

Written by \`bench/dtls-run.sh\` (run it again to replace this section; the other sections are
\`bench/run.sh\`'s, which rewrites the whole file: run this script after it).

### Setup

- Programs: \`bench/dtls-bench.c\` (libtlsclient load driver; its header describes every test),
  a private tlsd (\`--runtime-dir\` in a temp dir), \`openssl s_server -dtls1_2 -quiet\` with
  stdin held open, and \`openssl s_client -dtls1_2\`. Loopback only.
- tlsd sessions: ECDSA P-256 server certificate (test PKI), group $GROUP, default cipher list,
  strict verification with the test CA and name localhost, MTU default (1400), no CID, default
  retransmission schedule. DTLS 1.3 runs pin both sides' version to DTLS 1.3 (0xfefc); the
  tlsd client against openssl keeps the default range (DTLS 1.2–1.3) and negotiates 1.2.
- Handshakes: $HS_COUNT per measurement; each is connection create + blocking connect (the
  fd arrives) + Disconnect (close_notify) + close + destroy; no data. $HS_INFLIGHT in flight:
  $HS_INFLIGHT threads, each with its own tlsd client and session. The listener's ACCEPTED
  events are counted (all $HS_COUNT arrived in every run unless the table says failed).
- openssl s_client: $SC_COUNT processes per measurement, one after the other (one that has no
  handshake after 10 s is killed and counted as failed). Each openssl measurement gets a fresh
  \`openssl s_server\`.
- Throughput: $MSGS messages of $SIZE bytes per measurement, one connection. Window $WINDOW: the
  receiver acknowledges the highest sequence number every $((WINDOW / 4)) messages; at most
  $WINDOW messages beyond it are in flight; 20 ms without an acknowledgement sends the next
  message with an acknowledgement request (counted as a stall). No flow control: the sender
  writes as fast as tlsd takes the messages (tlsd applies backpressure from its client UDP
  socket only).
- $REPS repetitions; tlsd-peer and openssl-peer measurements alternate who goes first. CPU:
  /proc/PID/task/*/schedstat (ns) of tlsd and of the handshake s_servers; the throughput
  s_server's from /usr/bin/time (10 ms resolution).
- **Caveat: 2 cores for everything, shared with other sessions' builds and tests** (load
  average before: $LOAD_BEFORE, after: $LOAD_AFTER; processes above 10 % CPU at the start:
  ${OTHERS_BEFORE:-none}). Look at the min–max spreads.

### Run

- Command: \`$CMD\`
- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Machine: nproc $(nproc), CPU "$CPU_MODEL" (flags: $CPU_FLAGS), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r)
- tlsd: $TLSD_VERSION(checkout at git $GIT_REV, $GIT_DIRTY locally modified tracked files; build $BUILD${BUILD_NOTE:+: $BUILD_NOTE})
- wolfSSL: $(pkg-config --modversion wolfssl 2>/dev/null || PKG_CONFIG_PATH=$WOLFSSL_PREFIX/lib/pkgconfig pkg-config --modversion wolfssl 2>/dev/null || echo "?") ($WOLFSSL_PREFIX)
- OpenSSL: $(openssl version)
- Compiler: $(cc --version | head -1)
- Negotiated: tlsd↔tlsd: $(sed 's/^test=info ok=1 //; s/ handshake_us=[0-9]*//' <<<"$INFO13"); tlsd→openssl: $(sed 's/^test=info ok=1 //; s/ handshake_us=[0-9]*//' <<<"$INFO_OSSL")
- tlsd listener for s_client: $SERVE_SUMMARY; tlsd log lines (warning and above): $TLSD_WARNINGS

### Results

EOF
cat "$WORK/results.md"
if [ -s "$PROFILE_MD" ]; then
  echo
  echo "### Profile of tlsd"
  echo
  cat "$PROFILE_MD"
fi
echo
echo "Analysis (hand-written, with the tlsd problems these runs found and how to reproduce them):"
echo "\`bench/dtls-ANALYSIS.md\`."
echo
echo "Raw per-run lines: $RAW (kept until /tmp is cleaned)."
} >"$SECTION"

cat "$SECTION"
if [ "$WRITE" = 1 ]; then
  # replace an earlier "## DTLS" section (up to the next "## " heading), keep everything else
  if [ -f "$OUT" ]; then
    awk '/^## DTLS$/ {skip = 1; next} skip && /^## / {skip = 0} !skip' "$OUT" >"$WORK/out.md"
    sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$WORK/out.md" # drop trailing blank lines
    { cat "$WORK/out.md"; echo; cat "$SECTION"; } >"$OUT"
  else
    cp "$SECTION" "$OUT"
  fi
  log "appended the DTLS section to $OUT"
fi
log "done in $(($(date +%s) - T_START)) s"
