#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/run.sh works from a fresh clone (issue 15, item 10): it used to stop at "build failed
# (sources being edited?)" as a clone has no ./configure before autogen.sh. A `git clone` of this
# tree's HEAD (committed work only) runs bench/run.sh with the smallest sizes, building tlsd in
# a fresh directory; the test asks only that it builds, runs and writes its results (no timing
# is judged). Skipped outside a git checkout and without the bench's dependencies (the script
# would install them with apt-get; a test does not).
# shellcheck disable=SC3043,SC2317 # local: dash has it (lib.sh uses it); cleanup runs from trap
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
top_srcdir=$(cd "$top_srcdir" && pwd)

if ! command -v git >/dev/null 2>&1 || ! git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
  skip "bench from a fresh clone: not a git checkout"
  finish
fi
for tool in stunnel4 openssl python3 cc autoreconf bash; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    skip "bench from a fresh clone: $tool is not installed"
    finish
  fi
done
if ! dpkg -s libssl-dev >/dev/null 2>&1; then
  skip "bench from a fresh clone: libssl-dev is not installed"
  finish
fi

tmp=$(mktemp -d /tmp/tlsd-bench-clone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

if ! git clone --quiet "$top_srcdir" "$tmp/clone" 2>"$tmp/clone.log"; then
  fail "git clone: $(cat "$tmp/clone.log")"
  finish
fi
[ ! -e "$tmp/clone/configure" ] && pass "the fresh clone has no ./configure" ||
  fail "the clone has a ./configure: the test would not show anything"
(cd "$tmp/clone" && env REPS=1 MIB1=1 MIB8=1 HS_COUNT=10 LAT_COUNT=10 PROFILE=never \
  SRV_MIB1=1 SRV_MIB8=1 SRV_HS_COUNT=10 SRV_INFLIGHT=2 BUILD="$tmp/build" \
  OUT="$tmp/RESULTS.md" timeout 1200 bash bench/run.sh) >"$tmp/bench.log" 2>&1 && rc=0 || rc=$?
if grep -q "build failed\|does not build" "$tmp/bench.log"; then
  fail "bench/run.sh in a fresh clone: the build failed: $(grep -E "build|ERROR" "$tmp/bench.log" | head -n 5)"
else
  pass "bench/run.sh in a fresh clone gets past the build step"
fi
[ "$rc" -eq 0 ] && [ -s "$tmp/RESULTS.md" ] && pass "bench/run.sh in a fresh clone runs and writes its results" ||
  fail "bench/run.sh in a fresh clone: exit $rc: $(tail -n 5 "$tmp/bench.log")"
# the bench keeps its work directory for inspection; this run's goes
work=$(sed -n 's#.*compiling bench programs in \(/tmp/tlsd-bench\.[A-Za-z0-9]*\)$#\1#p' "$tmp/bench.log" | head -n 1)
[ -z "$work" ] || rm -rf "$work"
finish
