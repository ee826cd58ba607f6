#!/usr/bin/env bash
# Collection plus fitting of one GPU in one device call, end to end (issue 12): every H200
# profile set the committed model is fitted and validated on, collected again on this GPU in
# this call (the grid with its hardware-counter pass, MLA decode, the fitting shards, the four
# active-sampling rounds, the validation set and its re-collection, the grid's re-collection),
# laid out as calibration/profiles/<set>/ and refitted with the documented command. Each stage
# is timed into $OUT/onecall-times.txt.
#   OUT=... KERNELS_REVISION=REV PROFILE_BIN=path/quadrant-profile QUADRANT_BIN=path/quadrant \
#     bash calibration/scripts/device_onecall.sh
# PROFILE_BIN and QUADRANT_BIN are built beforehand from the same tree (quadrant without MPI:
# -DQUADRANT_WITH_MPI=OFF, so that it runs where Open MPI is not installed).
# Writes $OUT/profiles.tgz (<set>/<gpu>/<op>.json), $OUT/logs.tgz, $OUT/smi.csv.gz,
# $OUT/H200-onecall.json (the refit), $OUT/table.md, $OUT/onecall-times.txt.
set -euo pipefail
OUT=${OUT:?set OUT}
QUADRANT_BIN=${QUADRANT_BIN:?set QUADRANT_BIN}
t0=$(date +%s)
stamp() { echo "$1 $(( $(date +%s) - t0 )) s" | tee -a "$OUT/onecall-times.txt"; }
mkdir -p "$OUT"
g=calibration/grids
# The MLA grids go into sets of their own (one collector process per set) and are merged below.
OUT=$OUT METRICS="H200" DEADLINE_S=${DEADLINE_S:-520} PROFILE_TIMEOUT=${PROFILE_TIMEOUT:-200} \
  SETS="H200=$g/hopper.json H200-mla=$g/mla_decode.json H200-shards=$g/hopper-shards.json
        H200-active=$g/hopper-active.json H200-active2=$g/hopper-active2.json
        H200-active3=$g/hopper-active3.json H200-active4=$g/hopper-active4.json
        H200-validation=$g/validation.json H200-validation-mla=$g/mla_decode-validation.json
        H200-validation-recheck=$g/validation.json H200-recheck=$g/hopper.json" \
  bash calibration/scripts/device_validation.sh
stamp collected
DATA=$(mktemp -d)
tar xzf "$OUT/profiles.tgz" -C "$DATA"
for set in "$DATA"/*/; do
  name=$(basename "$set")
  dest=calibration/profiles/${name%-mla}
  mkdir -p "$dest"
  cp "$set"/*/*.json "$dest"/
done
"$QUADRANT_BIN" calibrate fit calibration/profiles/H200 calibration/profiles/H200-shards \
  --added calibration/profiles/H200-active calibration/profiles/H200-active2 \
  calibration/profiles/H200-active3 calibration/profiles/H200-active4 \
  --validation calibration/profiles/H200-validation --out "$OUT/H200-onecall.json" > "$OUT/fit.log" 2>&1 ||
  { tail -20 "$OUT/fit.log"; exit 1; }
stamp fitted
"$QUADRANT_BIN" calibrate table "$OUT/H200-onecall.json" --markdown > "$OUT/table.md"
head -32 "$OUT/table.md"
