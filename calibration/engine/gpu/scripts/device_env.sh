# Sourced by the device jobs: the CUDA 13 runtime and cuBLASLt of the GPU machine (toolkit
# or pip wheels) on the library path, the GPU named in $OUT/gpu.txt.
for f in $(find /usr/local/cuda*/ /usr/lib /opt \( -name 'libcublasLt.so.13' -o -name 'libcudart.so.13' \) 2>/dev/null | sort); do
  LD_LIBRARY_PATH=$(dirname "$f"):${LD_LIBRARY_PATH:-}
done
export LD_LIBRARY_PATH
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,uuid,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
