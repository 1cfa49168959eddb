#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/resume-run.sh -- TLS 1.3 session resumption on the client side, in one run:
# full and resumed handshakes per second, tlsd client against stunnel4 in client mode, both
# talking to the same bench/tls-server (TLS 1.3, TLS_AES_128_GCM_SHA256, P-256, ECDSA P-256
# certificate), which issues stateless tickets after every handshake for all four variants:
#
#   tlsd_full     tlsd client, session option no_resume=1 (tlsd-bench --no-resume)
#   tlsd_resumed  tlsd client, default options: tlsd resumes automatically from its cache
#   stunnel_full  stunnel4 client, sessionResume = no
#   stunnel_res   stunnel4 client, default: it caches the session per section and resumes
#   ref_full, ref_resumed   reference without a proxy: bench/resume-ref-client.c, an
#                 in-process OpenSSL client doing the same work per connection, without and
#                 with resumption (what the server, kernel and machine allow)
#
# each at 1 handshake at a time and 4 in flight (bench/tlsd-bench.c's hs test: connect, 1-byte
# round trip through the server's echo, close). Every measurement runs REPS times; the order
# of the four variants is reversed every other repetition; medians and min-max are reported.
# The server's counters (SIGUSR1) tell, for every run, how many handshakes it completed, how
# many were resumptions and how many tickets it issued; tlsd-bench also reports how many of its
# connections tlsd said were resumed.
#
# Prints a markdown section and puts it into bench/RESULTS.md as
# "## Resumption (TLS 1.3, ECDSA P-256)" (an earlier section of that name is replaced, other
# sections are left alone; bench/run.sh rewrites the whole file, so run this after it).
# A benchmark, not a test: timings are reported, never asserted; the exit status is non-zero
# only when something did not work (build, start-up, a failed handshake).
#
# Environment (all optional):
#   REPS=5           repetitions of every measurement (medians are reported)
#   HS_COUNT=500     handshakes per measurement
#   PROF_COUNT=1000  handshakes per profiled run
#   PROFILE=auto     perf profile of tlsd (resumed and full, 1 at a time, call graphs):
#                    auto (only when a target is missed), always, never
#   SRC=head         head: build a snapshot of git HEAD (git archive; the shared working tree
#                    may be mid-edit); tree: build the working tree, like bench/run.sh
#   BUILD=/tmp/tlsd-resume-build   where the -O2 -g (non-sanitizer) build lives
#   PKI=DIR          test PKI (default: generated in the work directory)
#   OUT=bench/RESULTS.md   WRITE=0 prints the section only
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
REPS=${REPS:-5}
HS_COUNT=${HS_COUNT:-500}
PROF_COUNT=${PROF_COUNT:-1000}
PROFILE=${PROFILE:-auto}
SRC=${SRC:-head}
BUILD=${BUILD:-/tmp/tlsd-resume-build}
OUT=${OUT:-$HERE/RESULTS.md}
WRITE=${WRITE:-1}
WOLFSSL_PREFIX=${WOLFSSL_PREFIX:-/opt/tlsd/wolfssl}
SECTION_TITLE="## Resumption (TLS 1.3, ECDSA P-256)"
T_START=$(date +%s)

log() { printf '[resume %3ds] %s\n' $(($(date +%s) - T_START)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- dependencies (idempotent) ----
need_pkgs=()
command -v stunnel4 >/dev/null || need_pkgs+=(stunnel4)
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v cc >/dev/null || need_pkgs+=(gcc)
command -v autoreconf >/dev/null || need_pkgs+=(autoconf automake libtool)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# ---- optimized tlsd build, never inside the checkout ----
GIT_REV=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p "$BUILD"
if [ "$SRC" = head ]; then
  SRCDIR=$BUILD/src
  OBJ=$BUILD/obj
  FULL_REV=$(git -C "$TOP" rev-parse HEAD)
  if [ "$(cat "$BUILD/src.rev" 2>/dev/null)" != "$FULL_REV" ] || [ ! -x "$SRCDIR/configure" ]; then
    log "snapshot of HEAD ($GIT_REV) in $SRCDIR"
    rm -rf "$SRCDIR" "$OBJ"
    mkdir -p "$SRCDIR"
    git -C "$TOP" archive HEAD | tar -x -C "$SRCDIR"
    (cd "$SRCDIR" && ./autogen.sh) >"$BUILD/autogen.log" 2>&1 || die "autogen failed: $BUILD/autogen.log"
    echo "$FULL_REV" >"$BUILD/src.rev"
  fi
  SRC_NOTE="a snapshot of git HEAD $GIT_REV (git archive), not the working tree"
else
  SRCDIR=$TOP
  OBJ=$BUILD/tree
  SRC_NOTE="the working tree at git $GIT_REV, $(git -C "$TOP" status --porcelain --untracked-files=no | wc -l) locally modified tracked files"
fi
mkdir -p "$OBJ"
# SRC=tree in a fresh clone: no ./configure yet
if [ ! -x "$SRCDIR/configure" ]; then
  (cd "$SRCDIR" && ./autogen.sh) >"$BUILD/autogen.log" 2>&1 || die "autogen failed: $BUILD/autogen.log"
fi
if [ ! -f "$OBJ/Makefile" ]; then
  log "configuring $OBJ (-O2 -g)"
  (cd "$OBJ" && PKG_CONFIG_PATH=$WOLFSSL_PREFIX/lib/pkgconfig "$SRCDIR/configure" -q \
    CFLAGS='-O2 -g') >"$BUILD/configure.log" 2>&1 || die "configure failed: $BUILD/configure.log"
fi
grep -qE '^SANITIZER_CFLAGS = .*-fsanitize' "$OBJ/Makefile" && die "$OBJ is a sanitizer build"
log "building tlsd in $OBJ"
make -C "$OBJ" -j"$(nproc)" >"$BUILD/make.log" 2>&1 || die "tlsd does not build: $BUILD/make.log"
TLSD=$OBJ/tlsd
TLSCTL=$OBJ/tlsctl
LIBDIR=$OBJ/.libs

WORK=$(mktemp -d /tmp/tlsd-resume.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT

log "compiling bench programs in $WORK"
cc -O2 -g -Wall -o "$WORK/tls-server" "$HERE/tls-server.c" -lssl -lcrypto -lpthread
cc -O2 -g -Wall -o "$WORK/resume-ref-client" "$HERE/resume-ref-client.c" -lssl -lcrypto -lpthread
cc -O2 -g -Wall -I"$SRCDIR/include" -o "$WORK/tlsd-bench" "$HERE/tlsd-bench.c" \
  -L"$LIBDIR" -ltlsclient -Wl,-rpath,"$LIBDIR" -lpthread

# ---- PKI ----
if [ -z "${PKI:-}" ]; then
  PKI=$WORK/pki
fi
if [ ! -f "$PKI/server-ecdsa-chain.pem" ]; then
  log "generating test PKI in $PKI"
  sh "$TOP/certs/gen-test-pki.sh" "$PKI" >/dev/null
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

SUITE=TLS_AES_128_GCM_SHA256
GROUP=P-256
TICKETS=2 # OpenSSL's default number of TLS 1.3 tickets after a full handshake
P_SRV=$(free_port); P_ST_FULL=$(free_port); P_ST_RES=$(free_port)

# ---- the TLS server: one instance for all four variants ----
"$WORK/tls-server" "$P_SRV" "$PKI/server-ecdsa-chain.pem" "$PKI/server-ecdsa.key" \
  "$SUITE" "$GROUP" "$TICKETS" 2>"$WORK/server.log" &
PID_SRV=$!; PIDS+=($!)

# ---- tlsd: default configuration, ticket state in the work directory ----
: >"$WORK/tlsd.conf"
mkdir -p "$WORK/state"
STATE_DIRECTORY=$WORK/state \
DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/tlsd-bench \
DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tlsd-bench \
  "$TLSD" --config="$WORK/tlsd.conf" --runtime-dir="$WORK/run" --log-level=warning \
  >"$WORK/tlsd.log" 2>&1 &
PID_TLSD=$!; PIDS+=($!)
TLSD_SOCK=$WORK/run/tlsd.sock

# ---- stunnel4, client mode: one section per variant, one process ----
st_section() { # NAME PORT EXTRA-LINE
  cat <<EOF
[$1]
client = yes
accept = 127.0.0.1:$2
connect = 127.0.0.1:$P_SRV
CAfile = $PKI/ca.pem
verifyChain = yes
checkHost = localhost
sni = localhost
sslVersion = TLSv1.3
curves = prime256v1
$3
; do not wait for the peer's close_notify after the app closed
TIMEOUTclose = 0
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
EOF
}
{
  echo "; stunnel as a client-side TLS proxy: plaintext TCP in, verified TLS 1.3 out."
  echo "foreground = yes"
  echo "pid ="
  echo "debug = 2"
  st_section full "$P_ST_FULL" "; full handshakes: no session caching (options = NO_TICKET would not do: a TLS 1.3 client still resumes)
sessionResume = no"
  st_section resumed "$P_ST_RES" "; resumed handshakes: stunnel's default session caching"
} >"$WORK/stunnel.conf"
stunnel4 "$WORK/stunnel.conf" >"$WORK/stunnel.log" 2>&1 &
PID_ST=$!; PIDS+=($!)

for p in $P_SRV $P_ST_FULL $P_ST_RES; do
  wait_port "$p" || die "nothing listens on port $p: $(cat "$WORK"/*.log)"
done
for p in $PID_SRV $PID_ST; do
  kill -0 "$p" 2>/dev/null || die "a server exited at start: $(cat "$WORK"/*.log)"
done
for _ in $(seq 1 200); do "$TLSCTL" --socket="$TLSD_SOCK" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$TLSCTL" --socket="$TLSD_SOCK" ping >/dev/null 2>&1 || die "tlsd did not start: $(cat "$WORK/tlsd.log")"

srv_stats() { # -> "ok=N failed=N resumed=N tickets=N" (counters since the server started)
  local n0 n
  n0=$(grep -c '^stats ' "$WORK/server.log" || true)
  kill -USR1 "$PID_SRV"
  for _ in $(seq 1 400); do
    n=$(grep -c '^stats ' "$WORK/server.log" || true)
    [ "$n" -gt "$n0" ] && break
    sleep 0.005
  done
  [ "$n" -gt "$n0" ] || die "the server does not answer SIGUSR1"
  grep '^stats ' "$WORK/server.log" | tail -1 | sed 's/^stats //'
}
BENCH=("$WORK/tlsd-bench" --timeout=120)
run_variant() { # VARIANT ARGS... -> one line of key=value
  local v=$1
  shift
  case $v in
  tlsd_full) "${BENCH[@]}" --via=tlsd --socket="$TLSD_SOCK" --ca="$PKI/ca.pem" \
    --servername=localhost --groups="$GROUP" --port="$P_SRV" --no-resume "$@" ;;
  tlsd_resumed) "${BENCH[@]}" --via=tlsd --socket="$TLSD_SOCK" --ca="$PKI/ca.pem" \
    --servername=localhost --groups="$GROUP" --port="$P_SRV" "$@" ;;
  stunnel_full) "${BENCH[@]}" --via=tcp --port="$P_ST_FULL" "$@" ;;
  stunnel_resumed) "${BENCH[@]}" --via=tcp --port="$P_ST_RES" "$@" ;;
  ref_full) "$WORK/resume-ref-client" --timeout=120 --ca="$PKI/ca.pem" --groups="$GROUP" \
    --suite="$SUITE" --port="$P_SRV" "$@" ;;
  ref_resumed) "$WORK/resume-ref-client" --timeout=120 --ca="$PKI/ca.pem" --groups="$GROUP" \
    --suite="$SUITE" --port="$P_SRV" --resume "$@" ;;
  esac | tr '\n' ' '
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime+stime of the whole process
VARIANTS=(tlsd_full tlsd_resumed stunnel_full stunnel_resumed ref_full ref_resumed)

# ---- sanity and warm-up (not recorded): every variant works, caches get their first ticket ----
INFO=$(run_variant tlsd_full info) || die "tlsd cannot reach the server"
log "tlsd negotiates: $INFO"
for v in "${VARIANTS[@]}"; do
  run_variant "$v" hs 20 1 >/dev/null || die "$v warm-up failed"
  run_variant "$v" hs 20 4 >/dev/null || die "$v warm-up failed"
done
INFO_RES=$(run_variant tlsd_resumed info) || die "tlsd cannot reach the server"

# ---- measurements ----
RAW=$WORK/raw.tsv
: >"$RAW"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_BEFORE=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 10 && $2 != "ps" {printf "%s(%s%%) ", $2, $1}')
log "running $REPS repetitions of ${#VARIANTS[@]} variants x 2 (load average $LOAD_BEFORE)"
for rep in $(seq 1 "$REPS"); do
  if [ $((rep % 2)) -eq 1 ]; then ORDER=("${VARIANTS[@]}")
  else ORDER=(ref_resumed ref_full stunnel_resumed stunnel_full tlsd_resumed tlsd_full); fi
  for inflight in 1 4; do
    for v in "${ORDER[@]}"; do
      case $v in tlsd_*) px=$PID_TLSD ;; stunnel_*) px=$PID_ST ;; *) px=$PID_SRV ;; esac
      st0=$(srv_stats); p0=$(ticks "$px"); s0=$(ticks "$PID_SRV")
      line=$(run_variant "$v" hs "$HS_COUNT" "$inflight") || die "$v hs $HS_COUNT $inflight failed (rep $rep)"
      p1=$(ticks "$px"); s1=$(ticks "$PID_SRV"); st1=$(srv_stats)
      printf '%s\tc%s\t%s\t%s proxy_cpu_s=%s server_cpu_s=%s %s\n' "$rep" "$inflight" "$v" "$line" \
        "$(awk -v a="$p0" -v b="$p1" 'BEGIN{print (b-a)/100}')" \
        "$(awk -v a="$s0" -v b="$s1" 'BEGIN{print (b-a)/100}')" \
        "$(python3 -c '
import sys
a = dict(x.split("=") for x in sys.argv[1].split())
b = dict(x.split("=") for x in sys.argv[2].split())
print(" ".join(f"srv_{k}={int(b[k]) - int(a[k])}" for k in a))' "$st0" "$st1")" >>"$RAW"
    done
  done
  log "repetition $rep done"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- aggregate ----
python3 - "$RAW" "$WORK/table.md" "$WORK/verdict" <<'PY'
import sys, statistics, collections
raw, out, verdict = sys.argv[1:4]
data = collections.defaultdict(list)  # (c1|c4, variant) -> [dict]
for line in open(raw):
    rep, test, v, rest = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in rest.split() if "=" in x)
    kv["rep"] = rep
    data[(test, v)].append(kv)
V = ["tlsd_full", "tlsd_resumed", "stunnel_full", "stunnel_resumed", "ref_full", "ref_resumed"]
LABEL = {"tlsd_full": "tlsd, full (`no_resume=1`)", "tlsd_resumed": "tlsd, resumed (automatic)",
         "stunnel_full": "stunnel4, full (`sessionResume = no`)",
         "stunnel_resumed": "stunnel4, resumed (default session cache)",
         "ref_full": "reference: in-process OpenSSL client, full",
         "ref_resumed": "reference: in-process OpenSSL client, resumed"}
def vals(t, v, k): return [float(d[k]) for d in data[(t, v)]]
def med(t, v, k): return statistics.median(vals(t, v, k))
def total(t, v, k): return sum(vals(t, v, k))
L = []
L.append("| in flight | variant | handshakes/s: median (min–max) | resumed (server's count) | "
         "resumed (tlsd's flag) | tlsd's handshake_us, median | tickets issued per handshake | "
         "CPU ms per handshake: proxy / server / client (driver) |")
L.append("|---|---|---|---|---|---|---|---|")
for t in ("c1", "c4"):
    for v in V:
        r = vals(t, v, "per_s")
        ok, res, tk = total(t, v, "srv_ok"), total(t, v, "srv_resumed"), total(t, v, "srv_tickets")
        n = sum(int(d["count"]) for d in data[(t, v)])
        if v.startswith("tlsd"):
            said = total(t, v, "resumed")
            said_s = f"{int(said)}/{n} ({100 * said / n:.1f} %)"
            hs_us = f"{med(t, v, 'handshake_us_median'):.0f} µs"
        else:
            said_s = hs_us = "–"
        cnt = int(data[(t, v)][0]["count"])
        cpu = [med(t, v, k) * 1000 / cnt for k in ("proxy_cpu_s", "server_cpu_s", "driver_cpu_s")]
        proxy = "–" if v.startswith("ref") else f"{cpu[0]:.2f}"
        L.append(f"| {t[1]} | {LABEL[v]} | {statistics.median(r):.1f} ({min(r):.1f}–{max(r):.1f}) | "
                 f"{int(res)}/{int(ok)} ({100 * res / ok:.1f} %) | {said_s} | {hs_us} | {tk / ok:.2f} | "
                 f"{proxy} / {cpu[1]:.2f} / {cpu[2]:.2f} |")
L.append("")
L.append("Ratios of the medians; in brackets the min–max of the same ratio within each repetition "
         "(the two measurements of a repetition ran close together):")
L.append("")
L.append("| in flight | tlsd resumed / tlsd full | tlsd resumed / stunnel resumed | "
         "stunnel resumed / stunnel full | reference resumed / full | tlsd full / stunnel full |")
L.append("|---|---|---|---|---|---|")
ver = []
def ratio(t, a, b):
    m = med(t, a, "per_s") / med(t, b, "per_s")
    pa = {d["rep"]: float(d["per_s"]) for d in data[(t, a)]}
    pb = {d["rep"]: float(d["per_s"]) for d in data[(t, b)]}
    per = [pa[k] / pb[k] for k in pa if k in pb]
    return m, min(per), max(per)
for t in ("c1", "c4"):
    cells = []
    for a, b in (("tlsd_resumed", "tlsd_full"), ("tlsd_resumed", "stunnel_resumed"),
                 ("stunnel_resumed", "stunnel_full"), ("ref_resumed", "ref_full"),
                 ("tlsd_full", "stunnel_full")):
        m, lo, hi = ratio(t, a, b)
        cells.append(f"**{m:.2f}** ({lo:.2f}–{hi:.2f})")
    L.append(f"| {t[1]} | " + " | ".join(cells) + " |")
    m1 = ratio(t, "tlsd_resumed", "tlsd_full")
    m2 = ratio(t, "tlsd_resumed", "stunnel_resumed")
    ver.append(f"resumed_vs_full\t{t}\t{'met' if m1[0] >= 3 else 'MISSED'}\t{m1[0]:.2f}\t{m1[1]:.2f}\t{m1[2]:.2f}")
    ver.append(f"resumed_vs_stunnel\t{t}\t{'met' if m2[0] >= 1 else 'MISSED'}\t{m2[0]:.2f}\t{m2[1]:.2f}\t{m2[2]:.2f}")

# What a resumption can save at most, from the CPU columns: if tlsd's own cost per resumed
# handshake were zero, the rest of the system (server, driver) would still cost this much.
L.append("")
L.append("Upper bound from the CPU columns (medians): the rate ratio tlsd resumed / tlsd full could not exceed "
         "(tlsd + server + driver CPU per full handshake) / (server + driver CPU per resumed handshake), "
         "the ratio a tlsd that cost nothing per resumed handshake would reach when the 2 cores are the limit:")
L.append("")
for t in ("c1", "c4"):
    cnt_f = int(data[(t, "tlsd_full")][0]["count"]); cnt_r = int(data[(t, "tlsd_resumed")][0]["count"])
    f = sum(med(t, "tlsd_full", k) for k in ("proxy_cpu_s", "server_cpu_s", "driver_cpu_s")) * 1000 / cnt_f
    r0 = sum(med(t, "tlsd_resumed", k) for k in ("server_cpu_s", "driver_cpu_s")) * 1000 / cnt_r
    r = r0 + med(t, "tlsd_resumed", "proxy_cpu_s") * 1000 / cnt_r
    L.append(f"- {t[1]} in flight: full {f:.2f} ms of CPU per handshake (all three), resumed {r:.2f} ms, "
             f"of which server + driver {r0:.2f} ms: bound **{f / r0:.2f}x**; the CPU ratio as measured: {f / r:.2f}x")
open(out, "w").write("\n".join(L) + "\n")
open(verdict, "w").write("\n".join(ver) + "\n")
PY

# ---- profiles of tlsd, where a target was missed ----
PROFILE_MD=$WORK/profile.md
: >"$PROFILE_MD"
MISSED=$(awk -F'\t' '$3 == "MISSED"' "$WORK/verdict")
if [ "$PROFILE" = always ] || { [ "$PROFILE" = auto ] && [ -n "$MISSED" ]; }; then
  if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
    log "profiling tlsd"
    PROF_HZ=2999
    for v in tlsd_resumed tlsd_full; do
      perf record -q -F $PROF_HZ --call-graph dwarf,16384 -o "$WORK/perf-$v.data" -p "$PID_TLSD" \
        >/dev/null 2>&1 &
      pp=$!
      sleep 0.3
      run_variant "$v" hs "$PROF_COUNT" 1 >/dev/null
      kill -INT "$pp"; wait "$pp" 2>/dev/null || true
      perf report -i "$WORK/perf-$v.data" --stdio --children --sort symbol -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' >"$WORK/perf-$v.children" || true
      perf report -i "$WORK/perf-$v.data" --stdio --no-children --sort dso 2>/dev/null |
        grep -E '^ +[0-9.]+%' >"$WORK/perf-$v.dso" || true
      perf script -i "$WORK/perf-$v.data" -F period 2>/dev/null | grep -c . >"$WORK/perf-$v.samples" || true
    done
    python3 - "$WORK" "$PROF_HZ" "$PROF_COUNT" >>"$PROFILE_MD" <<'PY'
import sys, re
work, hz, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(v):
    ch = {}
    for line in open(f"{work}/perf-{v}.children"):
        m = re.match(r"\s+([0-9.]+)%\s+([0-9.]+)%\s+\[(.)\]\s+(\S+)", line)
        if m and m.group(4) not in ch:
            ch[m.group(4)] = float(m.group(1))
    n = int(open(f"{work}/perf-{v}.samples").read().split()[0] or 0)
    dso = [l.split() for l in open(f"{work}/perf-{v}.dso")]
    return ch, n, dso
R, F = load("tlsd_resumed"), load("tlsd_full")
us = lambda n: n / hz / count * 1e6  # samples -> µs of tlsd CPU per handshake
print(f"tlsd's CPU per handshake from perf samples ({hz} Hz, `hs {count} 1`, taken after the "
      f"measurements): resumed **{us(R[1]):.0f} µs**, full **{us(F[1]):.0f} µs**.")
print()
print("By object (self time, share of tlsd's samples): resumed "
      + ", ".join(f"{d[1]} {d[0]}" for d in R[2][:4]) + "; full "
      + ", ".join(f"{d[1]} {d[0]}" for d in F[2][:4]) + ".")
print()
print("Where tlsd's time goes, inclusive (children) time of selected functions, in µs per handshake "
      "(share of tlsd's samples); call graphs from DWARF unwinding, so shares are approximate:")
print()
rows = [
    ("connection_drive_handshake", "TLS handshake, driven by network events"),
    ("wolfSSL_connect_TLSv13", "wolfSSL client handshake"),
    ("ProcessPeerCerts", "certificate parsing and chain verification"),
    ("sp_ecc_verify_256", "ECDSA P-256 verifications"),
    ("sp_ecc_make_key_256", "ECDHE key generation"),
    ("sp_ecc_secret_gen_256", "ECDHE shared secret"),
    ("SendBuffered", "wolfSSL's send() calls (loopback TCP, server wake-up)"),
    ("try_next_address", "TCP connect()"),
    ("unix_client_send", "control-socket replies and events to the app"),
    ("receive_one", "control-socket requests from the app"),
    ("start_operating", "data socketpair and fd passing"),
    ("handle_connection_destroy", "Destroy: close_notify, close, free"),
    ("wolfSSL_shutdown", "close_notify"),
    ("_InitRng", "wolfSSL RNG instantiations (open+read /dev/urandom, DRBG)"),
    ("wolfSSL_new", "wolfSSL object per connection"),
    ("connection_save_ticket", "ticket stored in the cache"),
    ("cache_new_id", "ticket id (a new RNG each time)"),
    ("engine_conn_info", "connection info for HandshakeDone (peer certificate decoded again)"),
    ("connection_pump", "data path (the 1-byte echo, the ticket read)"),
    ("epoll_wait", "event loop waits (incl. scheduling)"),
]
print("| function | what | resumed | full |")
print("|---|---|---|---|")
for fn, what in rows:
    cells = []
    for ch, n, _ in (R, F):
        p = ch.get(fn)
        cells.append("–" if p is None else f"{us(n * p / 100):.0f} ({p:.1f} %)")
    print(f"| `{fn}` | {what} | {cells[0]} | {cells[1]} |")
print()
PY
  else
    echo "(perf does not work here: no profile)" >>"$PROFILE_MD"
  fi
fi

# ---- versions, stop, summaries ----
TLSD_VERSION=$("$TLSCTL" --socket="$TLSD_SOCK" version 2>&1 | tr '\n' ' ')
TLSD_TICKETS=$("$TLSCTL" --socket="$TLSD_SOCK" tickets 2>/dev/null | tr '\n' ' ' | sed 's/ *$//') ||
  TLSD_TICKETS="(tlsctl tickets not available in this build)"
cleanup
trap - EXIT
SERVER_SUMMARY=$(grep -v '^stats ' "$WORK/server.log" | sed 's/^tls-server port [0-9]*: //')
STUNNEL_ERRORS=$(grep -c 'LOG[0-3]' "$WORK/stunnel.log" || true)
TLSD_WARNINGS=$(grep -c . "$WORK/tlsd.log" || true)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CMD="bench/resume-run.sh"
for v in REPS HS_COUNT PROF_COUNT PROFILE SRC; do CMD="$v=${!v} $CMD"; done

SECTION=$WORK/section.md
verdict_line() { # KIND c1|c4 -> "met (x.xx, per repetition a–b)"
  awk -F'\t' -v k="$1" -v t="$2" '$1 == k && $2 == t {printf "**%s** (%s; per repetition %s–%s)", $3, $4, $5, $6}' "$WORK/verdict"
}
{
cat <<EOF
$SECTION_TITLE

Written by \`bench/resume-run.sh\` (run it again to replace this section; \`bench/run.sh\`
rewrites the whole file: run this script after it). Issue 7's benchmark.

### Targets (issue 7, acceptance 3)

- Resumed handshake rate >= 3x the full handshake rate (tlsd): 1 at a time $(verdict_line resumed_vs_full c1); 4 in flight $(verdict_line resumed_vs_full c4)
- tlsd resumed rate >= stunnel4's resumed rate: 1 at a time $(verdict_line resumed_vs_stunnel c1); 4 in flight $(verdict_line resumed_vs_stunnel c4)

### Setup

- **One server for all.** \`bench/tls-server\` (system OpenSSL, a thread per connection): TLS 1.3
  only, $SUITE, group $GROUP, ECDSA P-256 leaf (chain signed by the P-256 test root), stateless
  TLS 1.3 tickets (\`SSL_CTX_set_num_tickets($TICKETS)\`, no stateful cache). It issues its tickets
  after every handshake whichever client connects and whether the client means to resume, so its
  work depends only on full vs resumed (the table's tickets column: OpenSSL sends 2 after a full
  handshake, 1 after a resumption). Its counters (handshakes, resumptions, tickets) are read
  before and after every run.
- **tlsd**: default configuration (empty config file; ticket state in a temp directory), driven by
  \`bench/tlsd-bench\` through libtlsclient: session TLS 1.3 only, group P-256, CA = test ca.pem,
  strict verification, server_name localhost; \`tlsd_full\` sets \`no_resume=1\`
  (\`--no-resume\`), \`tlsd_resumed\` leaves the default (automatic resumption from tlsd's
  cache; the ticket each connection received is offered by the next one).
- **stunnel4** (one process, two sections, both to the same server): \`client = yes\`,
  \`verifyChain = yes\`, the same CAfile, \`checkHost\`/\`sni\` localhost, \`sslVersion = TLSv1.3\`,
  \`curves = prime256v1\`, TCP_NODELAY; full: \`sessionResume = no\` (verified below by the
  server's count: \`options = NO_TICKET\`, which bench/run.sh uses, does not stop a TLS 1.3
  client from resuming); resumed: stunnel's default session caching.
- **Reference, no proxy**: \`bench/resume-ref-client\` (system OpenSSL, in-process, a thread per
  connection slot) does the same work per connection (TCP connect, handshake with the same
  policy and verification, 1-byte echo, close_notify, close), without and with resumption (the
  newest ticket is offered, as stunnel does). Its ratio shows what this server, the kernel and
  the machine allow when the client side costs as little as a client can.
- **Work per handshake** (\`tlsd-bench hs COUNT INFLIGHT\`): open a channel, 1-byte round trip
  through the server's echo, close it; for tlsd that is connection create + connect + round
  trip + close + destroy (three control round trips besides the TLS handshake; tlsd's own
  handshake_us, from connect to handshake done, is in the table), for stunnel a
  new TCP connection to its accept port. $HS_COUNT handshakes per measurement, 1 at a time and 4
  in flight (4 threads, each its own tlsd client and session; the sessions share tlsd's cache).
- Each measurement ran $REPS times; the variants' order is reversed every other repetition.
  A warm-up of 20 handshakes per variant, 1 at a time and 4 in flight, ran first (not
  counted), so every cache starts with tickets. CPU: utime+stime from /proc/PID/stat (10 ms
  ticks) of the proxy process (tlsd or stunnel, all threads) and of the server, and the
  client's (driver's) own rusage, per handshake.
- **Caveat: $(nproc) cores for everything**, shared with other people's builds and benchmarks
  (load average before: $LOAD_BEFORE, after: $LOAD_AFTER; other processes above 10 % CPU at the
  start: ${OTHERS_BEFORE:-none}). Look at the min–max spreads.

### Run

- Command: \`$CMD\`
- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Machine: CPU "$CPU_MODEL", nproc $(nproc), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r)
- tlsd: $TLSD_VERSION(build $OBJ, -O2 -g, from $SRC_NOTE)
- stunnel: $(stunnel4 -version 2>&1 | grep -m1 '^stunnel'), $(stunnel4 -version 2>&1 | grep -m1 'Running' | sed 's/^ *//')
- Server/system OpenSSL: $(openssl version)
- Compiler: $(cc --version | head -1)
- tlsd negotiated: $(sed 's/^test=info //; s/ driver_cpu_s=.*//' <<<"$INFO"); right after the warm-up: $(sed 's/^test=info //; s/ handshake_us.*//; s/.*resumed=/resumed=/' <<<"$INFO_RES")
- tlsd's ticket cache at the end (\`tlsctl tickets\`, whole run): $TLSD_TICKETS
- Server, whole run (warm-up and sanity checks included): $(tr '\n' ';' <<<"$SERVER_SUMMARY" | sed 's/;$//; s/;/; /g') (the one failed handshake is the script's TCP readiness probe)
- stunnel log lines at level <= 3 (errors): $STUNNEL_ERRORS; tlsd log lines (warning and above): $TLSD_WARNINGS

### Results

EOF
cat "$WORK/table.md"
if [ -s "$PROFILE_MD" ]; then
  echo
  echo "### Profile of tlsd (taken after the measurements)"
  echo
  cat "$PROFILE_MD"
fi
echo
if [ -f "$HERE/resume-ANALYSIS.md" ]; then
  echo "Analysis (hand-written; where the time goes and what would help): \`bench/resume-ANALYSIS.md\`."
  echo
fi
echo "Raw per-run lines: $RAW (kept until /tmp is cleaned)."
} >"$SECTION"

cat "$SECTION"
if [ "$WRITE" = 1 ]; then
  # replace an earlier section of this name (up to the next "## " heading), keep the rest
  if [ -f "$OUT" ]; then
    awk -v t="$SECTION_TITLE" '$0 == t {skip = 1; next} skip && /^## / {skip = 0} !skip' "$OUT" >"$WORK/out.md"
    sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$WORK/out.md" # drop trailing blank lines
    { cat "$WORK/out.md"; echo; cat "$SECTION"; } >"$OUT"
  else
    cp "$SECTION" "$OUT"
  fi
  log "wrote the resumption section to $OUT"
fi
log "done in $(($(date +%s) - T_START)) s"
