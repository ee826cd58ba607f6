#!/usr/bin/env bash
# Collection plus fitting of one GPU in one device call, end to end (issue 12): every H200
# profile set the documented fit reads (the grid, MLA decode, the fitting shards, active-sampling
# rounds 1-9, the validation set and MLA's), collected again on this GPU in this call the way the
# committed profiles are (the compute-bound ops with each shape's clock settled first:
# calibration/README.md "Settling the clock before timing a shape"; decode attention and MLA
# decode plainly), laid out as calibration/profiles/<set>/ and refitted with the documented
# command ("Error: k-fold beside validation"), then the validation set collected once more (its
# noise floor: a deadline cuts it first). Each stage is timed into $OUT/onecall-times.txt.
#   OUT=... KERNELS_REVISION=REV PROFILE_BIN=path/quadrant-profile QUADRANT_BIN=path/quadrant \
#     [SETTLE_MS=40] [SETTLE_ONLY=prefill,dense,decode_ffn] [COUNTERS=1] [DEADLINE_S=550] \
#     bash calibration/scripts/device_onecall.sh
# PROFILE_BIN and QUADRANT_BIN are built beforehand from the same tree (quadrant without MPI:
# -DQUADRANT_WITH_MPI=OFF, so that it runs where Open MPI is not installed). COUNTERS=1 adds the
# grid's hardware-counter pass (about 110 s; the fit does not read it). The second draw
# (profiles/H200-validation2) chooses nothing, so it is not collected: the committed one is the
# refit's --test.
# Writes $OUT/profiles.tgz (<set>/<gpu>/<op>.json), $OUT/logs.tgz, $OUT/smi.csv.gz,
# $OUT/H200-onecall.json (the refit, over a copy of the committed model so that its engine
# section stays), $OUT/table.md, $OUT/onecall-times.txt.
set -euo pipefail
OUT=${OUT:?set OUT}
QUADRANT_BIN=${QUADRANT_BIN:?set QUADRANT_BIN}
t0=$(date +%s)
stamp() { echo "$1 $(($(date +%s) - t0)) s" | tee -a "$OUT/onecall-times.txt"; }
mkdir -p "$OUT"
g=calibration/grids
metrics=""
[ -n "${COUNTERS:-}" ] && metrics="H200"
# The MLA grids go into sets of their own (one collector process per set) and are merged below.
OUT=$OUT METRICS="$metrics" DEADLINE_S=${DEADLINE_S:-550} PROFILE_TIMEOUT=${PROFILE_TIMEOUT:-200} \
  SETTLE_MS=${SETTLE_MS:-40} SETTLE_ONLY=${SETTLE_ONLY:-prefill,dense,decode_ffn} \
  SETS="H200=$g/hopper.json H200-mla=$g/mla_decode.json H200-shards=$g/hopper-shards.json
        H200-active=$g/hopper-active.json H200-active2=$g/hopper-active2.json
        H200-active3=$g/hopper-active3.json H200-active4=$g/hopper-active4.json
        H200-active5=$g/hopper-active5.json H200-active6=$g/hopper-active6.json
        H200-active7=$g/hopper-active7.json H200-active8=$g/hopper-active8.json
        H200-validation=$g/validation.json H200-validation-mla=$g/mla_decode-validation.json
        H200-validation-recheck=$g/validation.json" \
  bash calibration/scripts/device_validation.sh
stamp collected
DATA=$(mktemp -d)
tar xzf "$OUT/profiles.tgz" -C "$DATA"
for set in "$DATA"/*/; do
  name=$(basename "$set")
  dest=calibration/profiles/${name%-mla}
  mkdir -p "$dest"
  for f in "$set"/*/*.json; do [ -e "$f" ] && cp "$f" "$dest"/; done
done
p=calibration/profiles
cp calibration/models/H200.json "$OUT/H200-onecall.json"
"$QUADRANT_BIN" calibrate fit $p/H200 $p/H200-shards --added $p/H200-active $p/H200-active2 \
  $p/H200-active3 $p/H200-active4 $p/H200-active5 $p/H200-active6 $p/H200-active7 $p/H200-active8 \
  --validation $p/H200-validation \
  --test $p/H200-validation2 --out "$OUT/H200-onecall.json" \
  --ceilings "$OUT/H200-onecall-ceilings.json" > "$OUT/fit.log" 2>&1 ||
  { tail -20 "$OUT/fit.log"; exit 1; }
stamp fitted
"$QUADRANT_BIN" calibrate table "$OUT/H200-onecall.json" --markdown > "$OUT/table.md"
head -40 "$OUT/table.md"
