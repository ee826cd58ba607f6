// A cuBLASLt matrix product with our row-major convention, C[m][n] = A[m][k] . B[n][k]^T
// (B stored as weights are, one row per output feature), C in BF16. In cuBLASLt's
// column-major terms this is D(n x m) = op_T(B) . op_N(A), the "TN" layout that FP8
// requires. Plan once (layouts, heuristic, workspace), run many times.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace quadrant::kernels {

class LtGemm {
 public:
  // fp8: A and B E4M3; their per-tensor scales multiply into alpha (host), which is
  // what cuBLASLt's scale pointers would compute, without a device read.
  // workspace: a caller's buffer of workspace_bytes shared by GEMMs that run one after
  // another on one stream (many plans, one workspace); none: the plan allocates its own.
  LtGemm(int64_t m, int64_t n, int64_t k, bool use_fp8, float alpha = 1.0f,
         void* workspace = nullptr, size_t workspace_bytes = 32u << 20);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;
  void run(const void* a, const void* b, void* c, cudaStream_t stream);

 private:
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  // The heuristic's candidates, best first; run() drops any the library then refuses.
  std::vector<cublasLtMatmulAlgo_t> algos_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 32u << 20;
  bool owns_workspace_ = true;
  float alpha_ = 1.0f;
};

}  // namespace quadrant::kernels
