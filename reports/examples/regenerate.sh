#!/usr/bin/env bash
# Regenerates the example reports of the shipped scenarios (scenarios/default.json and
# scenarios/examples/*.json) into reports/examples/<scenario>/, from the repository root:
#
#   bash reports/examples/regenerate.sh [BUILD_DIR]      # BUILD_DIR defaults to build
#
# Each folder keeps report.html (charts inlined as SVG), report.md, candidates.csv and
# deploy/; results.json (the largest file, every candidate in full) and charts/ (the same
# charts as SVG and PNG files) are left out to keep the repository small: run
# `quadrant plan` yourself to get them. default/screenshot.png is report.html in headless
# Chromium (when chromium is installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target quadrant -j 2
for scenario in scenarios/default.json scenarios/examples/*.json; do
  name=$(basename "$scenario" .json)
  out=reports/examples/$name
  rm -rf "$out"  # a trimmed example is not a whole Quadrant output: plan anew
  "$build/quadrant" plan "$scenario" --out "$out" --threads 2 --quiet > /dev/null
  rm -rf "$out/results.json" "$out/charts" "$out/.quadrant-output"
  echo "$out/report.html"
done
if command -v chromium > /dev/null; then
  profile=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
    --disable-component-update --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1200,2600 --screenshot="$PWD/reports/examples/default/screenshot.png" \
    "file://$PWD/reports/examples/default/report.html" > /dev/null 2>&1
  rm -rf "$profile"
  echo reports/examples/default/screenshot.png
fi
