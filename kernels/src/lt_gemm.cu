#include "kernels/src/lt_gemm.h"

#include <map>
#include <mutex>
#include <stdexcept>

#include "kernels/src/common.cuh"

namespace quadrant::kernels {
namespace {
// One handle per device, made on it at its first use (a handle belongs to the device that was
// current when it was made); kept for the process's life.
cublasLtHandle_t lt_handle() {
  static std::mutex mutex;
  static std::map<int, cublasLtHandle_t> handles;
  const int device = current_device();
  std::lock_guard<std::mutex> lock(mutex);
  cublasLtHandle_t& h = handles[device];
  if (!h) QK_CUBLAS_CHECK(cublasLtCreate(&h));
  return h;
}
}  // namespace

LtGemm::LtGemm(int64_t m, int64_t n, int64_t k, bool use_fp8, size_t workspace_bytes)
    : workspace_bytes_(workspace_bytes) {
  const cudaDataType_t in = use_fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  QK_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t t = CUBLAS_OP_T, nop = CUBLAS_OP_N;
  QK_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
  QK_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &nop, sizeof(nop)));
  QK_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_, in, k, n, k));
  QK_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_, in, k, m, k));
  QK_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c_, CUDA_R_16BF, n, m, n));
  cublasLtMatmulPreference_t pref;
  QK_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  QK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_, sizeof(workspace_bytes_)));
  cublasLtMatmulHeuristicResult_t results[8] = {};
  int found = 0;
  QK_CUBLAS_CHECK(
      cublasLtMatmulAlgoGetHeuristic(lt_handle(), desc_, a_, b_, c_, c_, pref, 8, results, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  for (int i = 0; i < found; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS) algos_.push_back(results[i].algo);
  if (algos_.empty()) throw std::runtime_error("cuBLASLt: no algorithm for this GEMM");
}

LtGemm::~LtGemm() {
  if (c_) cublasLtMatrixLayoutDestroy(c_);
  if (b_) cublasLtMatrixLayoutDestroy(b_);
  if (a_) cublasLtMatrixLayoutDestroy(a_);
  if (desc_) cublasLtMatmulDescDestroy(desc_);
}

void LtGemm::run(const void* a, const void* b, void* c, float alpha, void* workspace,
                 cudaStream_t stream) {
  const float beta = 0.0f;
  while (true) {
    const cublasStatus_t st =
        cublasLtMatmul(lt_handle(), desc_, &alpha, b, a_, a, b_, &beta, c, c_, c, c_,
                       &algos_.front(), workspace, workspace_bytes_, stream);
    if (st == CUBLAS_STATUS_SUCCESS) return;
    if (st != CUBLAS_STATUS_NOT_SUPPORTED || algos_.size() == 1)
      throw std::runtime_error("cublasLtMatmul failed: status " + std::to_string(st) + " (" +
                               std::to_string(algos_.size()) + " candidate algorithms left)");
    algos_.erase(algos_.begin());
  }
}

}  // namespace quadrant::kernels
