#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The skip gate: a test that did not run its checks is not a pass, so where the whole suite is
# meant to run (CI, as root, with every tool installed) every SKIP must be one the machine
# cannot avoid. Lists the SKIPs of a `make check` run in build directory DIR: tests whose result
# is SKIP (exit 77, in their .trs) and every "SKIP: " line in the test logs, as
# "TEST: REASON". Each must match a line of the allow-list (tests/allowed-skips: one extended
# regular expression per line, matched against "TEST: REASON"; # starts a comment).
#
#   tests/check-skips.sh [--newer FILE] [--allow FILE] DIR
#
# --newer FILE: only the results written after FILE (this run's, not an earlier one's).
# Exit status: 0 when every SKIP is allowed, 1 when one is not (or nothing ran at all).
set -eu

newer=""
allow="$(cd "$(dirname "$0")" && pwd)/allowed-skips"
while [ $# -gt 1 ]; do
  case $1 in
  --newer) newer=$2; shift 2 ;;
  --allow) allow=$2; shift 2 ;;
  *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--newer FILE] [--allow FILE] DIR" >&2; exit 2; }
dir=$1
[ -r "$allow" ] || { echo "check-skips: cannot read the allow-list $allow" >&2; exit 2; }
if [ -n "$newer" ]; then
  [ -e "$newer" ] || { echo "check-skips: no $newer" >&2; exit 2; }
  newer="$(cd "$(dirname "$newer")" && pwd)/$(basename "$newer")"
fi

patterns=$(mktemp)
found=$(mktemp)
trap 'rm -f "$patterns" "$found"' EXIT
grep -v -E '^[[:space:]]*(#|$)' "$allow" >"$patterns" || true

n_results=0
for trs in $(cd "$dir" && find . -name '*.trs' ${newer:+-newer "$newer"} | sort); do
  n_results=$((n_results + 1))
  t=${trs#./}
  t=${t%.trs}
  log="$dir/$t.log"
  lines=$(grep -a '^SKIP: ' "$log" 2>/dev/null | sed "s|^SKIP: |$t: |" || true)
  if grep -q '^:test-result: SKIP' "$dir/$trs"; then
    [ -n "$lines" ] || lines="$t: (the whole test, no SKIP line saying why)"
  fi
  [ -z "$lines" ] || printf '%s\n' "$lines" >>"$found"
done

if [ "$n_results" -eq 0 ]; then
  echo "check-skips: no test results in $dir${newer:+ newer than $newer}: did the tests run?"
  exit 1
fi
n_skips=$(wc -l <"$found")
echo "SKIPs in $dir ($n_results test results): $n_skips"
bad=0
while IFS= read -r line; do
  if [ -s "$patterns" ] && printf '%s\n' "$line" | grep -q -E -f "$patterns"; then
    echo "  allowed:    $line"
  else
    echo "  UNEXPECTED: $line"
    bad=$((bad + 1))
  fi
done <"$found"
if [ "$bad" -gt 0 ]; then
  echo "check-skips: $bad unexpected SKIP(s): a check that did not run; make it run here, or" \
    "add its reason to $allow if this machine cannot run it"
  exit 1
fi
exit 0
