// Shared device helpers of the quadrant kernels: owned device buffers, deterministic random fills
// and the mma.sync / ldmatrix / cp.async wrappers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/include/cuda_check.h"

namespace quadrant::kernels {

using bf16 = __nv_bfloat16;
using fp8 = __nv_fp8_e4m3;

template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t count) { resize(count); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (ptr_) cudaFree(ptr_);
  }
  void resize(size_t count) {
    if (ptr_) QK_CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    count_ = count;
    if (count) QK_CUDA_CHECK(cudaMalloc(&ptr_, count * sizeof(T)));
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (count_) QK_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  void upload(const std::vector<T>& host) {
    if (host.size() != count_) resize(host.size());
    if (count_) QK_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

// Uniform values in [lo, hi) from a counter hash, so that a buffer's content depends on
// (seed, index) only: the same seed gives the same inputs on any launch configuration.
void fill_uniform(bf16* data, size_t count, uint64_t seed, float lo, float hi,
                  cudaStream_t stream = nullptr);
void fill_uniform(float* data, size_t count, uint64_t seed, float lo, float hi,
                  cudaStream_t stream = nullptr);
// FP8 codes of uniform values in [-amplitude, amplitude) (amplitude <= 448).
void fill_uniform(fp8* data, size_t count, uint64_t seed, float amplitude,
                  cudaStream_t stream = nullptr);
// Packed INT4 weights (offset-binary nibbles, two a byte) of mean zero, as symmetric
// quantisation gives, with every value possible (so that -8 is decoded too): -8 with
// probability 7/135, -7..6 8/135 each, 7 16/135. Not every nibble pattern alike: its mean,
// -1/2 a step, gives every output of a GEMM the same offset (half a step times the sum of its
// inputs), a common mode that in quadrant-engine's synthetic model builds up over the layers
// and sends most tokens to the same experts (calibration/engine/README.md, "W4A8 runs
// routed unevenly").
void fill_int4_zero_mean(uint8_t* data, size_t count, uint64_t seed, cudaStream_t stream = nullptr);
// Every byte 0xFF: NaN in BF16, FP32 and E4M3, so an unwritten output fails the check.
void poison(void* data, size_t bytes);

// Multiprocessors of the current device (cached per device).
int sm_count();
// The current device (cudaGetDevice, checked).
int current_device();
// Raises `kernel`'s dynamic shared-memory limit to at least `bytes` on the current device. The
// limit is an attribute of (function, device), so a process that drives several GPUs (a
// prefill/decode pair) must opt in on each: this does so once per (kernel, device), under a
// lock (thread-safe; after the first call a lookup).
void opt_in_dynamic_smem(const void* kernel, int bytes);
template <class Kernel>
void opt_in_dynamic_smem(Kernel* kernel, int bytes) {
  opt_in_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes);
}

#ifdef __CUDACC__
// A launch that may be a programmatic dependent launch (pdl): the kernel's CTAs may start
// once every CTA of the kernel before it in the stream has run griddepcontrol.launch_dependents
// (or exited), and each must run grid_dep_wait() before it reads what that kernel wrote or
// writes what it reads. Without pdl, a plain launch (grid_dep_wait returns at once). Stream
// capture keeps the programmatic edge in a graph.
template <class... Params, class... Args>
void launch_kernel(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  QK_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}
#endif

// ---- device-side building blocks ----
#ifdef __CUDACC__
// Programmatic dependent launch (launch_kernel): wait for the previous kernel's end and the
// visibility of its writes; let the next kernel's CTAs start.
__device__ __forceinline__ void grid_dep_wait() {
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
}
__device__ __forceinline__ void grid_dep_launch_dependents() {
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}
// A kernel that reads nothing before its predecessor's end and lets its successor start then.
__device__ __forceinline__ void grid_dep_wait_then_launch() {
  grid_dep_wait();
  grid_dep_launch_dependents();
}
// Ask L2 for the 128-byte line at p (no register, no wait).
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
}
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid = true) {
  const int size = valid ? 16 : 0;  // size 0 writes zeros: rows past the end
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(size));
}
__device__ __forceinline__ void cp_async_4(void* smem, const void* gmem) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_u32(smem)), "l"(gmem));
}
// An arrival on the mbarrier at `bar` (shared memory) once this thread's cp.async copies so far
// have landed; the barrier's count includes it (.noinc).
__device__ __forceinline__ void cp_async_mbar_arrive_noinc(void* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_u32(bar))
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(smem)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(smem)));
}
// Four 8x8 BF16 matrices stored transposed: lane l's word r[j] holds row l / 4, columns
// 2 (l % 4) and 2 (l % 4) + 1 of matrix j, whose memory row i (the address of lane 8 j + i)
// receives column i.
__device__ __forceinline__ void stmatrix_x4_trans(void* smem, const uint32_t (&r)[4]) {
  asm volatile(
      "stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1,%2,%3,%4};\n" ::"r"(smem_u32(smem)),
      "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
      : "memory");
}
// D += A(16x16, bf16 | f16, row) * B(16x8, same, col), fp32 accumulators.
template <bool kF16>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (kF16)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                               uint32_t b1) {
  mma_16816<false>(d, a, b0, b1);
}
// D += A(16x32, e4m3, row) * B(32x8, e4m3, col): the same register shapes as the bf16
// k16 form, so one shared-memory tile layout (in bytes) serves both.
__device__ __forceinline__ void mma_e4m3_16832(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                               uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// Byte offset of 16-byte chunk `chunk` of row `row` in a tile whose rows are a multiple
// of 128 bytes: XOR-swizzled so that the 8 rows an ldmatrix reads hit 8 different banks.
__device__ __forceinline__ int swz(int row, int chunk, int row_bytes) {
  return row * row_bytes + ((chunk ^ (row & 7)) << 4);
}
#endif

}  // namespace quadrant::kernels
