// Dense GEMM through cuBLASLt (attention projections, shared experts), and the matrix
// ceiling the grouped GEMMs are judged against. C[m][n] = A[m][k] . W[n][k]^T in BF16
// out; fp8: E4M3 A and W with a per-tensor scale each.
//
// Shape: m, n, k. Formats: bf16, fp8.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/include/quadrant_kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/src/common.cuh"
#include "kernels/src/lt_gemm.h"
#include "kernels/src/op_util.h"

namespace quadrant::kernels {

void dense_gemm(const DenseGemmProblem& p, const void* a, const void* b, void* c, void* workspace,
                cudaStream_t stream) {
  if (p.m < 1 || p.n < 16 || p.k < 16 || p.n % 16 != 0 || p.k % 16 != 0)
    throw std::invalid_argument("dense_gemm: need m >= 1, n and k positive multiples of 16");
  if (!a || !b || !c || !workspace)
    throw std::invalid_argument("dense_gemm: a, b, c and workspace are required");
  // One cuBLASLt plan per (shape, device), made at the first call (a heuristic query: outside
  // capture).
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int64_t, int64_t, bool, int>, std::unique_ptr<LtGemm>> plans;
  const bool fp8 = p.dtype == DType::kE4m3;
  LtGemm* gemm = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto& slot = plans[{p.m, p.n, p.k, fp8, current_device()}];
    if (!slot) slot = std::make_unique<LtGemm>(p.m, p.n, p.k, fp8, kDenseGemmWorkspaceBytes);
    gemm = slot.get();
  }
  gemm->run(a, b, c, p.alpha, workspace, stream);
}

namespace {

template <class In>
class DenseGemmOp final : public QuadrantOp {
  static constexpr bool kFp8 = std::is_same_v<In, fp8>;

 public:
  DenseGemmOp(std::string format, const ShapeParams& shape) : format_(std::move(format)) {
    const DenseGemmShape sh = parse_dense_gemm(shape);
    m_ = sh.m;
    n_ = sh.n;
    k_ = sh.k;
  }
  std::string name() const override { return "sm90_" + format_ + "_dense_gemm_cublaslt"; }

  void prepare(uint64_t seed) override {
    a_.resize(m_ * k_);
    b_.resize(n_ * k_);
    c_.resize(m_ * n_);
    const float amp = 1.0f / std::sqrt(float(k_)) * 3.0f;
    if constexpr (kFp8) {
      fill_uniform(a_.get(), a_.size(), seed * 16 + 1, 240.0f);
      fill_uniform(b_.get(), b_.size(), seed * 16 + 2, 240.0f);
      a_scale_ = 1.0f / 240;
      b_scale_ = amp / 240;
    } else {
      fill_uniform(a_.get(), a_.size(), seed * 16 + 1, -1.0f, 1.0f);
      fill_uniform(b_.get(), b_.size(), seed * 16 + 2, -amp, amp);
    }
    workspace_.resize(kDenseGemmWorkspaceBytes);
    problem_ = {m_, n_, k_, kFp8 ? DType::kE4m3 : DType::kBf16, a_scale_ * b_scale_};
    QK_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void launch(cudaStream_t stream) override {
    dense_gemm(problem_, a_.get(), b_.get(), c_.get(), workspace_.get(), stream);
  }

  CheckResult check(uint64_t seed) override {
    prepare(seed);
    poison(c_.get(), c_.bytes());
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto c = bf16_to_double(as_raw<uint16_t>(c_.download()));
    std::vector<double> a, b;
    if constexpr (kFp8) {
      a = e4m3_to_double(as_raw<uint8_t>(a_.download()));
      b = e4m3_to_double(as_raw<uint8_t>(b_.download()));
      for (auto& x : a) x *= a_scale_;
      for (auto& x : b) x *= b_scale_;
    } else {
      a = bf16_to_double(as_raw<uint16_t>(a_.download()));
      b = bf16_to_double(as_raw<uint16_t>(b_.download()));
    }
    const auto rows = sample_rows(m_, 16);
    const auto expected = ref::gemm_rows(a.data(), b.data(), n_, k_, rows);
    std::vector<double> got;
    for (int64_t r : rows) got.insert(got.end(), c.begin() + r * n_, c.begin() + (r + 1) * n_);
    CheckResult res;
    res.tolerance = tolerance_for(format_);
    res.all_written = std::none_of(c.begin(), c.end(), [](double x) { return std::isnan(x); });
    res.rel_fro_error = ref::rel_fro_error(got.data(), expected.data(), got.size());
    return res;
  }
  double flops() const override { return 2.0 * double(m_) * double(n_) * double(k_); }
  double bytes() const override {
    return (double(m_) * k_ + double(n_) * k_) * sizeof(In) + double(m_) * n_ * 2.0;
  }
  size_t device_bytes() const override {
    return a_.bytes() + b_.bytes() + c_.bytes() + workspace_.bytes();
  }

 private:
  std::string format_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
  DeviceArray<In> a_, b_;
  DeviceArray<bf16> c_;
  float a_scale_ = 1.0f, b_scale_ = 1.0f;  // per-tensor (fp8)
  DenseGemmProblem problem_;
  DeviceArray<uint8_t> workspace_;
};

}  // namespace

std::unique_ptr<QuadrantOp> make_dense_gemm(const std::string& format, const ShapeParams& shape) {
  if (format == "bf16") return std::make_unique<DenseGemmOp<bf16>>(format, shape);
  if (format == "fp8") return std::make_unique<DenseGemmOp<fp8>>(format, shape);
  throw std::invalid_argument("dense_gemm: format must be bf16 or fp8, got '" + format + "'");
}

}  // namespace quadrant::kernels
