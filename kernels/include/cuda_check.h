// Checked CUDA calls for host code: a failure throws std::runtime_error naming the call (or
// the kernel whose launch failed), the error and the source line. One header for the
// kernels, their tools, the collector and the serving engine.
//
//   QK_CUDA_CHECK(cudaMemcpyAsync(...));     // runtime API
//   kernel<<<grid, block, smem, stream>>>(...);
//   QK_LAUNCH_CHECK("decode_attention_split_kernel");  // a bad configuration shows here
//   QK_CU_CHECK(cuTensorMapEncodeTiled(...)); // driver API (CUresult)
//   QK_CUBLAS_CHECK(cublasLtMatmul(...));     // cuBLAS / cuBLASLt status
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace quadrant::kernels {

[[noreturn]] inline void cuda_failure(const std::string& what, const std::string& error,
                                      const char* file, int line) {
  throw std::runtime_error(what + " failed: " + error + " at " + file + ":" + std::to_string(line));
}

}  // namespace quadrant::kernels

#define QK_CUDA_CHECK(call)                                                                      \
  do {                                                                                           \
    const cudaError_t qk_err_ = (call);                                                          \
    if (qk_err_ != cudaSuccess)                                                                  \
      ::quadrant::kernels::cuda_failure(#call, cudaGetErrorString(qk_err_), __FILE__, __LINE__); \
  } while (0)

// After every launch, with the kernel's name (cudaGetLastError also clears a sticky-free
// launch error, so that the next check does not report it again).
#define QK_LAUNCH_CHECK(kernel_name)                                                      \
  do {                                                                                    \
    const cudaError_t qk_err_ = cudaGetLastError();                                       \
    if (qk_err_ != cudaSuccess)                                                           \
      ::quadrant::kernels::cuda_failure(std::string("launch of ") + (kernel_name),        \
                                        cudaGetErrorString(qk_err_), __FILE__, __LINE__); \
  } while (0)

// Driver API calls (CUresult; include <cuda.h> first).
#define QK_CU_CHECK(call)                                                                       \
  do {                                                                                          \
    const int qk_res_ = static_cast<int>(call);                                                 \
    if (qk_res_ != 0)                                                                           \
      ::quadrant::kernels::cuda_failure(#call, "CUresult " + std::to_string(qk_res_), __FILE__, \
                                        __LINE__);                                              \
  } while (0)

// cuBLAS / cuBLASLt calls (cublasStatus_t; include <cublasLt.h> first).
#define QK_CUBLAS_CHECK(call)                                                                \
  do {                                                                                       \
    const int qk_st_ = static_cast<int>(call);                                               \
    if (qk_st_ != 0)                                                                         \
      ::quadrant::kernels::cuda_failure(#call, "status " + std::to_string(qk_st_), __FILE__, \
                                        __LINE__);                                           \
  } while (0)
