// A cuBLASLt matrix product with our row-major convention, C[m][n] = A[m][k] . B[n][k]^T
// (B stored as weights are, one row per output feature), C in BF16. In cuBLASLt's
// column-major terms this is D(n x m) = op_T(B) . op_N(A), the "TN" layout that FP8
// requires. Plan once (layouts, heuristic), run many times.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace quadrant::kernels {

class LtGemm {
 public:
  // fp8: A and B E4M3 (their per-tensor scales go into run()'s alpha). workspace_bytes: the
  // most workspace the chosen algorithm may use (run() takes a buffer of that size).
  LtGemm(int64_t m, int64_t n, int64_t k, bool use_fp8, size_t workspace_bytes = size_t(32) << 20);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;
  // alpha is read at the call (host pointer mode): a captured graph keeps its value.
  void run(const void* a, const void* b, void* c, float alpha, void* workspace,
           cudaStream_t stream);

 private:
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  // The heuristic's candidates, best first; run() drops any the library then refuses.
  std::vector<cublasLtMatmulAlgo_t> algos_;
  size_t workspace_bytes_ = size_t(32) << 20;
};

}  // namespace quadrant::kernels
