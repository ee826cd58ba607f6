#!/usr/bin/env bash
# After a kernel change that moves some ops' launch plans or times: those ops collected again in
# every H200 set the committed model is fitted on, chooses with, is tested on or is checked
# against (grid with its counter pass, shards, active-sampling rounds 1-9, the validation set,
# the second draw, MLA decode's own grids of the grid and validation sets, then the copies that
# only check: the validation set's recheck and fresh copy, the grid's recheck, so that a deadline
# cuts those first), laid over
# calibration/profiles/<set>/ of this checkout and refitted with the documented command
# (calibration/README.md "Error: k-fold beside validation"), in one device call.
#   OUT=... ONLY=decode_attention,_ffn KERNELS_REVISION=REV PROFILE_BIN=path/quadrant-profile \
#     QUADRANT_BIN=path/quadrant bash calibration/scripts/device_recollect.sh
# ONLY: quadrant-profile --only (comma-separated op-name substrings). RECHECKS=no: without the
# three copies that only check (for a call too short for all), RECHECKS=only: those alone, with
# H200-validation-fresh plain (its point: a second machine's plain collection). SETTLE_MS: each shape's
# clock settled first (device_validation.sh). Without QUADRANT_BIN (a
# no-MPI quadrant of the same tree) it only collects: unpack profiles.tgz over
# calibration/profiles/ and refit where you are. Writes, besides
# device_validation.sh's profiles.tgz / logs.tgz / smi.csv.gz: $OUT/H200.json and
# $OUT/H200-validation-ceilings.json (the refit), $OUT/H200-validation2-errors.txt (the second
# draw, which chooses nothing), $OUT/table.md, $OUT/recollect-times.txt.
# GPU=H100: the H100 sets instead (H100-SXM on the grid and MLA decode's grid, H100-SXM-validation
# on the validation set and MLA's, then H100-SXM-recheck on the grid), without the counter pass
# (about 200 s on the whole grid: METRICS=H100-SXM adds it), refitted with the H100 command
# (calibration/README.md: `calibrate fit calibration/profiles/H100-SXM --validation ...`) into
# $OUT/H100-SXM.json; ONLY=_ takes every op (their kernels have moved since the H100 profiles'
# 5ad1712).
# ONLY with an OP/FORMAT entry (decode_ffn/w4a8: a kernel change confined to one format) collects
# those shapes alone, and each collected file is laid over the committed one shape by shape
# (scripts/merge_formats.py) instead of replacing it.
set -euo pipefail
OUT=${OUT:?set OUT}
ONLY=${ONLY:?set ONLY, e.g. decode_attention,_ffn}
QUADRANT_BIN=${QUADRANT_BIN:-}
t0=$(date +%s)
stamp() { echo "$1 $(($(date +%s) - t0)) s" | tee -a "$OUT/recollect-times.txt"; }
mkdir -p "$OUT"
g=calibration/grids
RECHECKS=${RECHECKS:-yes}
GPU=${GPU:-H200}
case $GPU in
  H200)
    fitted="H200=hopper H200-shards=hopper-shards H200-active=hopper-active
      H200-active2=hopper-active2 H200-active3=hopper-active3 H200-active4=hopper-active4
      H200-active5=hopper-active5 H200-active6=hopper-active6 H200-active7=hopper-active7
      H200-active8=hopper-active8 H200-validation=validation H200-validation2=validation2
      H200=mla_decode H200-validation=mla_decode-validation"
    rechecks="H200-validation-recheck=validation H200-validation-fresh=validation H200-recheck=hopper"
    metrics=H200 ;;
  H100)
    fitted="H100-SXM=hopper H100-SXM=mla_decode H100-SXM-shards=hopper-shards
      H100-SXM-active2=hopper-active2 H100-SXM-active3=hopper-active3
      H100-SXM-active4=hopper-active4 H100-SXM-active5=hopper-active5
      H100-SXM-active6=hopper-active6 H100-SXM-validation=validation
      H100-SXM-validation=mla_decode-validation H100-SXM-validation2=validation2"
    rechecks="H100-SXM-recheck=hopper"
    metrics=${METRICS:-} ;;
  *) echo "GPU: H200 or H100, not '$GPU'" >&2; exit 2 ;;
esac
case $RECHECKS in
  yes) list="$fitted $rechecks" ;;
  no) list=$fitted ;;
  only) list=$rechecks ;;
  *) echo "RECHECKS: yes, no or only, not '$RECHECKS'" >&2; exit 2 ;;
esac
sets=""
for s in $list; do
  [ "$RECHECKS" = only ] && [ "${s%%=*}" = H200-validation-fresh ] && continue
  sets+=" ${s%%=*}=$g/${s#*=}.json@$ONLY"
done
[ "$RECHECKS" = only ] && metrics=""
OUT=$OUT METRICS="$metrics" DEADLINE_S=${DEADLINE_S:-400} PROFILE_TIMEOUT=${PROFILE_TIMEOUT:-150} \
  SETS="$sets" bash calibration/scripts/device_validation.sh
if [ "$RECHECKS" = only ] && [ "$GPU" = H200 ]; then  # the fresh copy plain, after the settled ones
  mkdir -p "$OUT/fresh"
  OUT=$OUT/fresh METRICS="" SETTLE_MS="" DEADLINE_S=$((${DEADLINE_S:-400} - ($(date +%s) - t0))) \
    PROFILE_TIMEOUT=${PROFILE_TIMEOUT:-150} \
    SETS="H200-validation-fresh=$g/validation.json@$ONLY H200-validation-fresh=$g/mla_decode-validation.json@$ONLY" \
    bash calibration/scripts/device_validation.sh
  tar xzf "$OUT/fresh/profiles.tgz" -C "$OUT/fresh" && rm "$OUT/fresh/profiles.tgz" "$OUT/fresh/smi.csv.gz"
  tar czf "$OUT/fresh.tgz" -C "$OUT/fresh" . && rm -rf "$OUT/fresh"
fi
stamp collected
DATA=$(mktemp -d)
tar xzf "$OUT/profiles.tgz" -C "$DATA"
for set in "$DATA"/*/; do  # a set whose grid holds none of ONLY's ops wrote nothing
  to=calibration/profiles/$(basename "$set")
  mkdir -p "$to"
  if [[ $ONLY == */* ]]; then
    for gpu in "$set"/*/; do python3 calibration/scripts/merge_formats.py "$to" "$gpu"; done
  else
    for f in "$set"/*/*.json; do [ -e "$f" ] && cp "$f" "$to/"; done
  fi
done
[ -n "$QUADRANT_BIN" ] || exit 0
p=calibration/profiles
if [ "$GPU" = H100 ]; then
  "$QUADRANT_BIN" calibrate fit $p/H100-SXM $p/H100-SXM-shards --added $p/H100-SXM-active2 \
    $p/H100-SXM-active3 $p/H100-SXM-active4 $p/H100-SXM-active5 $p/H100-SXM-active6 \
    --validation $p/H100-SXM-validation --test $p/H100-SXM-validation2 \
    --other-machine $p/H100-SXM-validation-fresh --out "$OUT/H100-SXM.json" \
    --ceilings "$OUT/H100-SXM-validation-ceilings.json" > "$OUT/fit.log" 2>&1 ||
    { tail -20 "$OUT/fit.log"; exit 1; }
  # The H200's components where they predict the H100's validation shapes better (head dims
  # the H100's sets lack): calibration/README.md "Borrowing another GPU's components".
  "$QUADRANT_BIN" calibrate borrow "$OUT/H100-SXM.json" --from calibration/models/H200.json \
    --out "$OUT/H100-SXM.json" > "$OUT/borrow.txt" 2>&1 || { tail -20 "$OUT/borrow.txt"; exit 1; }
  stamp fitted
  "$QUADRANT_BIN" calibrate error "$OUT/H100-SXM.json" $p/H100-SXM-validation2 \
    > "$OUT/H100-SXM-validation2-errors.txt" 2>&1 || true
  "$QUADRANT_BIN" calibrate table "$OUT/H100-SXM.json" --markdown > "$OUT/table.md"
  head -40 "$OUT/table.md"
  exit 0
fi
cp calibration/models/H200.json "$OUT/H200.json"  # the refit keeps its engine section
"$QUADRANT_BIN" calibrate fit $p/H200 $p/H200-shards --added $p/H200-active $p/H200-active2 \
  $p/H200-active3 $p/H200-active4 $p/H200-active5 $p/H200-active6 $p/H200-active7 $p/H200-active8 \
  --validation $p/H200-validation \
  --test $p/H200-validation2 --other-machine $p/H200-validation-onecall $p/H200-validation-onecall2 \
  $p/H200-validation-onecall3 \
  --out "$OUT/H200.json" \
  --ceilings "$OUT/H200-validation-ceilings.json" > "$OUT/fit.log" 2>&1 ||
  { tail -20 "$OUT/fit.log"; exit 1; }
stamp fitted
"$QUADRANT_BIN" calibrate error "$OUT/H200.json" $p/H200-validation2 > "$OUT/H200-validation2-errors.txt" 2>&1 || true
"$QUADRANT_BIN" calibrate table "$OUT/H200.json" --markdown > "$OUT/table.md"
head -40 "$OUT/table.md"
