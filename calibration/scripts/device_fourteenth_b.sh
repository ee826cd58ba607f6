#!/usr/bin/env bash
# Fourteenth session, the device calls after the first (each on another H200 than the first's,
# under decode attention form 7631, the kernels' default since f31ea6d):
#   1. the validation set's decode_attention, this machine's copy for calibrate fit
#      --other-machine: SET names the profile set it replaces (H200-validation-onecall,
#      -onecall2 or -onecall3, each collected under form 3535 before);
#   2. with RESERVE=1, the engine's serving cases re-served on these kernels (device_rerun.sh
#      without the capacity searches and benchmarks), so that `quadrant engine compare` holds the
#      simulator against a real run of the kernels the plans are priced with.
# Binaries built beforehand from the same tree in $B: quadrant-profile, and for RESERVE=1
# quadrant-engine and engine_gpu_test.
#   B=bin OUT=... SET=H200-validation-onecall KERNELS_REVISION=REV [RESERVE=0] [BUDGET=330] \
#     bash calibration/scripts/device_fourteenth_b.sh
# Writes $OUT/uuid.txt, $OUT/prof/{profiles,logs}.tgz, $OUT/prof/smi.csv.gz and, with
# RESERVE=1, $OUT/all.tar.gz.
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
SET=${SET:?set SET}
mkdir -p "$OUT/prof"
# uuid.txt, not gpu.txt: device_rerun.sh writes its own gpu.txt (the 20:24 call lost its UUID so).
nvidia-smi --query-gpu=name,uuid,driver_version,pci.bus_id --format=csv > "$OUT/uuid.txt"
cat "$OUT/uuid.txt"
OUT=$OUT/prof DEADLINE_S=60 PROFILE_TIMEOUT=60 PROFILE_BIN=$B/quadrant-profile \
  SETS="$SET=calibration/grids/validation.json@decode_attention" \
  bash calibration/scripts/device_validation.sh
[ "${RESERVE:-0}" = 1 ] || exit 0
OUT=$OUT BIN=$B BUDGET=${BUDGET:-330} CAP_CFGS="" BENCH_CFGS="" PD=0 \
  bash calibration/engine/gpu/scripts/device_rerun.sh
