#include "kernels/src/common.cuh"

#include "kernels/include/quadrant_kernels.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <utility>

namespace quadrant::kernels {
namespace {

__device__ __forceinline__ float hash_uniform(uint64_t seed, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
}

template <class T, class Convert>
__global__ void fill_kernel(T* data, size_t count, uint64_t seed, Convert convert) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x)
    data[i] = convert(hash_uniform(seed, i), i);
}

template <class T, class Convert>
void launch_fill(T* data, size_t count, Convert convert, uint64_t seed, cudaStream_t stream) {
  if (!count) return;
  const int blocks = static_cast<int>(std::min<size_t>((count + 255) / 256, 65536));
  fill_kernel<<<blocks, 256, 0, stream>>>(data, count, seed, convert);
  QK_LAUNCH_CHECK("fill_kernel");
}

struct ToBf16 {
  float lo, hi;
  __device__ bf16 operator()(float u, size_t) const { return __float2bfloat16(lo + (hi - lo) * u); }
};
struct ToFloat {
  float lo, hi;
  __device__ float operator()(float u, size_t) const { return lo + (hi - lo) * u; }
};
struct ToFp8 {
  float amplitude;
  __device__ fp8 operator()(float u, size_t) const { return fp8(amplitude * (2.0f * u - 1.0f)); }
};
// Two offset-binary INT4 (nibble v + 8), each of mean zero (to the hash's 24 bits), every value
// possible: -8 weight 7, -7..6 weight 8 each, 7 weight 16 (of 135: -56 + 8 (-7) + 112 = 0).
struct ToInt4Pair {
  __device__ static uint32_t nibble(int r) {  // r in [0, 135)
    const int v = r < 7 ? -8 : r < 119 ? -7 + (r - 7) / 8 : 7;
    return static_cast<uint32_t>(v + 8);
  }
  __device__ uint8_t operator()(float u, size_t) const {
    const int pair = min(static_cast<int>(u * 18225.0f), 18224);  // 135 x 135
    return static_cast<uint8_t>(nibble(pair % 135) | (nibble(pair / 135) << 4));
  }
};

}  // namespace

void fill_uniform(bf16* data, size_t count, uint64_t seed, float lo, float hi,
                  cudaStream_t stream) {
  launch_fill(data, count, ToBf16{lo, hi}, seed, stream);
}
void fill_uniform(float* data, size_t count, uint64_t seed, float lo, float hi,
                  cudaStream_t stream) {
  launch_fill(data, count, ToFloat{lo, hi}, seed, stream);
}
void fill_uniform(fp8* data, size_t count, uint64_t seed, float amplitude, cudaStream_t stream) {
  launch_fill(data, count, ToFp8{amplitude}, seed, stream);
}
void fill_int4_zero_mean(uint8_t* data, size_t count, uint64_t seed, cudaStream_t stream) {
  launch_fill(data, count, ToInt4Pair{}, seed, stream);
}
void fill_random_bf16(void* data, size_t count, uint64_t seed, float lo, float hi,
                      cudaStream_t stream) {
  fill_uniform(static_cast<bf16*>(data), count, seed, lo, hi, stream);
}
void fill_random_e4m3(void* data, size_t count, uint64_t seed, float amplitude,
                      cudaStream_t stream) {
  fill_uniform(static_cast<fp8*>(data), count, seed, amplitude, stream);
}
void fill_random_f32(float* data, size_t count, uint64_t seed, float lo, float hi,
                     cudaStream_t stream) {
  fill_uniform(data, count, seed, lo, hi, stream);
}
void poison(void* data, size_t bytes) {
  QK_CUDA_CHECK(cudaMemset(data, 0xFF, bytes));
}

int current_device() {
  int device = 0;
  QK_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

int sm_count() {
  // Per device: 0 until read (a race reads the same value twice).
  static std::array<std::atomic<int>, 64> counts{};
  const int device = current_device();
  if (device < 0 || device >= static_cast<int>(counts.size()))
    throw std::runtime_error("sm_count: device " + std::to_string(device) + " past 63");
  int n = counts[device].load(std::memory_order_relaxed);
  if (n == 0) {
    QK_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

void opt_in_dynamic_smem(const void* kernel, int bytes) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, int> done;  // (kernel, device) -> bytes set
  const int device = current_device();
  std::lock_guard<std::mutex> lock(mutex);
  int& set = done[{kernel, device}];
  if (set >= bytes) return;
  QK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  set = bytes;
}

}  // namespace quadrant::kernels
