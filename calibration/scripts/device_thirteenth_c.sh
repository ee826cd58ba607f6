#!/usr/bin/env bash
# Thirteenth session, third device call: the validation set's decode_attention under form 3535
# on this machine (calibrate fit --other-machine: replaces
# profiles/H200-validation-onecall2/decode_attention.json, collected under 207), and active
# sampling round 9 (grids/hopper-active8.json, decode attention head dim 128) as H200-active8.
#   B=bin OUT=... KERNELS_REVISION=REV ACTIVE8=path/hopper-active8.json \
#     bash calibration/scripts/device_thirteenth_c.sh
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
OUT=$OUT DEADLINE_S=120 PROFILE_TIMEOUT=100 PROFILE_BIN=$B/quadrant-profile \
  SETS="H200-validation-onecall2=calibration/grids/validation.json@decode_attention
        H200-active8=${ACTIVE8:-calibration/grids/hopper-active8.json}" \
  bash calibration/scripts/device_validation.sh
