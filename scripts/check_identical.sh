#!/usr/bin/env bash
# Shows that a change leaves every output of the shipped scenarios byte-identical: runs
# `quadrant simulate` and `quadrant plan` on scenarios/default.json, every
# scenarios/examples/*.json and the feature variants in tests/identical/ (colocated,
# layer-wise, speculative + Chunk-PP, little KV room with preemptions, saturation,
# autoscaling, SLO percentiles other than P50/P90/P99), plus the 1M-request benchmark
# scenario (its metrics.json carries the event count), with the git revision normalised,
# and compares the SHA-256 of each output with tests/identical/outputs.sha256.
#
#   scripts/check_identical.sh build/quadrant            # compare (exit 1 on a difference)
#   scripts/check_identical.sh --update build/quadrant   # rewrite the list (a deliberate change)
#   scripts/check_identical.sh --keep DIR build/quadrant # also keep the outputs in DIR (to diff -r two trees)
#   scripts/check_identical.sh --full build/quadrant     # also the calibrated example's plan
#                                                        # (100 s CPU idle, far more under load)
#
# Hashes are of this machine's floating point: another compiler or libm may differ in the
# last digit, so the list is a same-machine before/after check, not a CI test. Plans run
# with --threads 1 and 2 (results must not depend on it; the calibrated example with 2
# only). Run from anywhere.
set -euo pipefail

update=0 full=0 keep=""
while [[ $# -gt 1 ]]; do
  case "$1" in
    --update) update=1 ;;
    --full) full=1 ;;
    --keep) keep="$2"; shift ;;
    *) echo "check_identical.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $# -eq 1 ]] || { sed -n '2,16p' "$0" >&2; exit 2; }
bin="$(realpath "$1")"
root="$(cd "$(dirname "$0")/.." && pwd)"
list="$root/tests/identical/outputs.sha256"
cd "$root"

out="${keep:-$(mktemp -d)}"
mkdir -p "$out"
[[ -n "$keep" ]] || trap 'rm -rf "$out"' EXIT

run() {  # name, command...: run quietly, show the command's stderr only on failure
  local name="$1"; shift
  if ! "$@" >"$out/$name.log" 2>&1; then
    cat "$out/$name.log" >&2
    echo "check_identical.sh: failed: $*" >&2
    exit 1
  fi
  rm -f "$out/$name.log"
}

for f in scenarios/default.json scenarios/examples/*.json tests/identical/*.json; do
  n="$(basename "$f" .json)"
  extra=()
  [[ "$f" == tests/identical/* ]] && extra=(--trace "$out/trace-$n.json")
  mkdir -p "$out/simulate-$n"
  run "simulate-$n" "$bin" simulate "$f" --out "$out/simulate-$n" --quiet "${extra[@]}"
  # The search section is the examples'; the variants plan only where they have one.
  grep -q '"search"' "$f" || continue
  for t in 2 1; do
    [[ $full -eq 0 && "$n" == default-calibrated ]] && continue
    [[ $t -eq 1 && "$n" == default-calibrated ]] && continue  # ~200 s; --threads 2 only
    run "plan-$n-t$t" "$bin" plan "$f" --out "$out/plan-$n-t$t" --threads "$t" --quiet
  done
done
mkdir -p "$out/simulate-million_requests"
run simulate-million_requests "$bin" simulate scenarios/bench/million_requests.json \
  --out "$out/simulate-million_requests" --no-requests --quiet

# The git revision (and its -dirty mark) is the one field that must change.
find "$out" -type f ! -name '*.log' -print0 |
  xargs -0 sed -i -E 's/"git_revision": "[^"]*"/"git_revision": "REV"/g; s/\| quadrant [0-9a-z]+(-dirty)?/| quadrant REV/g; s/\(git [0-9a-z]+(-dirty)?\)/(git REV)/g'

# .quadrant-output (sim/io/output_dir.h) only lists the files compared here.
sums="$(cd "$out" && find . -type f ! -name '*.log' ! -name .quadrant-output | LC_ALL=C sort |
  xargs sha256sum)"
events="$(grep -o '"events": [0-9]*' "$out/simulate-million_requests/metrics.json")"
echo "benchmark scenario: $events"
if [[ $update -eq 1 ]]; then
  echo "$sums" >"$list"
  echo "wrote $list ($(wc -l <"$list") outputs)"
  exit 0
fi
# Without --full the list's calibrated plan (if any) is not compared.
expected="$(grep -v 'plan-default-calibrated' "$list" || true)"
[[ $full -eq 1 ]] && expected="$(cat "$list")"
if diff <(echo "$sums") <(echo "$expected") >"$out/diff.txt"; then
  echo "identical: $(echo "$sums" | wc -l) outputs match $list"
else
  cat "$out/diff.txt"
  echo "check_identical.sh: outputs differ from $list (< now, > expected)" >&2
  exit 1
fi
