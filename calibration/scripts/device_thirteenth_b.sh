#!/usr/bin/env bash
# Thirteenth session, second device call, on another H200 than the first's:
#   1. the validation set's decode_attention under form 3535 (the kernels' default since
#      d19682c), this machine's copy for calibrate fit --other-machine (replaces
#      profiles/H200-validation-onecall/decode_attention.json, collected under 207);
#   2. the engine's serving cases re-served on today's kernels (device_rerun.sh without the
#      capacity searches and benchmarks), so that `quadrant engine compare` holds the simulator
#      against a real run of the kernels the plans are priced with.
# Binaries built beforehand from the same tree in $B: quadrant-profile, quadrant-engine,
# engine_gpu_test.
#   B=bin OUT=... KERNELS_REVISION=REV [BUDGET=330] bash calibration/scripts/device_thirteenth_b.sh
# Writes $OUT/prof/{profiles,logs}.tgz, $OUT/prof/smi.csv.gz, $OUT/all.tar.gz, $OUT/gpu.txt.
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv
OUT=$OUT/prof DEADLINE_S=60 PROFILE_TIMEOUT=60 PROFILE_BIN=$B/quadrant-profile \
  SETS="H200-validation-onecall=calibration/grids/validation.json@decode_attention" \
  bash calibration/scripts/device_validation.sh
OUT=$OUT BIN=$B BUDGET=${BUDGET:-330} CAP_CFGS="" BENCH_CFGS="" PD=0 \
  bash calibration/engine/gpu/scripts/device_rerun.sh
