// quadrant-lt-plan: the cuBLASLt algorithm that kernels/src/lt_gemm.cu's heuristic query
// picks for each dense GEMM shape, without running it (a heuristic query costs microseconds).
// The dense GEMM's launch plan is cuBLASLt's own; this records it once per GPU and library so
// that the CPU half of calibration can see the tile, split-K and waves of a shape.
//   quadrant-lt-plan < shapes.txt > plans.txt     (input lines: "bf16|fp8 M N K")
// Output lines: fmt m n k algo_id tile_id splitk reduction swizzle custom stages inner cluster
// waves workspace_bytes (the first candidate whose state is success, as LtGemm::run takes it).
// The query must match LtGemm's exactly: TRANSA=T, TRANSB=N, A k x n, B k x m, C n x m BF16,
// compute 32F, workspace 32 MiB (kDenseGemmWorkspaceBytes).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {
bool ok(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS;
}

template <class T>
T attr(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t what) {
  T v{};
  size_t written = 0;
  if (!ok(cublasLtMatmulAlgoConfigGetAttribute(&a, what, &v, sizeof(v), &written))) return T{};
  return v;
}
}  // namespace

int main() {
  cublasLtHandle_t h;
  if (!ok(cublasLtCreate(&h))) {
    std::fprintf(stderr, "quadrant-lt-plan: cublasLtCreate failed\n");
    return 1;
  }
  const size_t workspace = size_t(32) << 20;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  char fmt[16];
  long long m, n, k;
  while (std::scanf("%15s %lld %lld %lld", fmt, &m, &n, &k) == 4) {
    const bool fp8 = std::strcmp(fmt, "fp8") == 0;
    const cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const cublasOperation_t t = CUBLAS_OP_T, nop = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t));
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &nop, sizeof(nop));
    cublasLtMatrixLayoutCreate(&a, in, k, n, k);
    cublasLtMatrixLayoutCreate(&b, in, k, m, k);
    cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, n, m, n);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                         sizeof(workspace));
    cublasLtMatmulHeuristicResult_t r[8] = {};
    int found = 0;
    const bool q = ok(cublasLtMatmulAlgoGetHeuristic(h, desc, a, b, c, c, pref, 8, r, &found));
    int pick = -1;
    for (int i = 0; q && i < found; ++i)
      if (r[i].state == CUBLAS_STATUS_SUCCESS) {
        pick = i;
        break;
      }
    if (pick < 0) {  // (each line flushed: a run cut short keeps what it wrote)
      std::printf("%s %lld %lld %lld none\n", fmt, m, n, k);
    } else {
      const cublasLtMatmulAlgo_t& al = r[pick].algo;
      std::printf("%s %lld %lld %lld %d %u %u %u %u %u %u %u %u %.4f %zu\n", fmt, m, n, k,
                  attr<int32_t>(al, CUBLASLT_ALGO_CONFIG_ID),
                  attr<uint32_t>(al, CUBLASLT_ALGO_CONFIG_TILE_ID),
                  attr<uint32_t>(al, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
                  attr<uint32_t>(al, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
                  attr<uint32_t>(al, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
                  attr<uint32_t>(al, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION),
                  attr<uint32_t>(al, CUBLASLT_ALGO_CONFIG_STAGES_ID),
                  attr<uint16_t>(al, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID),
                  attr<uint16_t>(al, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID), r[pick].wavesCount,
                  r[pick].workspaceSize);
    }
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatmulDescDestroy(desc);
  }
  cublasLtDestroy(h);
  return 0;
}
