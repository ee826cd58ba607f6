#!/usr/bin/env bash
# Regenerates the example reports of the shipped scenarios (scenarios/default.json and
# scenarios/examples/*.json) into reports/examples/<scenario>/, from the repository root:
#
#   bash reports/examples/regenerate.sh [BUILD_DIR]      # BUILD_DIR defaults to build
#
# Each folder keeps report.html, report.md and candidates.csv; results.json (the largest
# file, every candidate in full) is left out to keep the repository small: run
# `quadrant plan` yourself to get it.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target quadrant -j 2
for scenario in scenarios/default.json scenarios/examples/*.json; do
  name=$(basename "$scenario" .json)
  out=reports/examples/$name
  "$build/quadrant" plan "$scenario" --out "$out" --threads 2 --quiet > /dev/null
  rm -f "$out/results.json"
  echo "$out/report.html"
done
