// The engine's small kernels against float64 CPU references on random data.
#include "calibration/engine/gpu/small_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace quadrant::engine::gpu {
namespace {

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

template <class T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&p_, n_ * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~Dev() { cudaFree(p_); }
  T* get() { return p_; }
  std::vector<T> get_host() const {
    std::vector<T> h(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

std::vector<bf16> random_bf16(size_t n, uint64_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<bf16> v(n);
  for (auto& x : v) x = __float2bfloat16(u(rng));
  return v;
}
double f(bf16 x) {
  return double(__bfloat162float(x));
}
bool same_bits(bf16 a, bf16 b) {
  return __bfloat16_as_ushort(a) == __bfloat16_as_ushort(b);
}

// ||got - want|| / ||want|| over one row.
double rel_error(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

TEST(EngineSmallKernels, GatherRowsCopiesTheIndexedRows) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int vocab = 1000, width = 256, count = 37;
  auto table = random_bf16(size_t(vocab) * width, 1);
  std::vector<int32_t> rows(count);
  std::mt19937 rng(2);
  for (auto& r : rows) r = int32_t(rng() % vocab);
  Dev<bf16> dt(table), dout(std::vector<bf16>(size_t(count) * width));
  Dev<int32_t> dr(rows);
  gather_rows(dt.get(), dr.get(), count, width, dout.get(), nullptr);
  const auto out = dout.get_host();
  for (int i = 0; i < count; ++i)
    for (int c = 0; c < width; ++c)
      ASSERT_TRUE(same_bits(out[size_t(i) * width + c], table[size_t(rows[i]) * width + c]))
          << i << "," << c;
}

TEST(EngineSmallKernels, RmsnormMatchesReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (int width : {2048, 4096, 1000}) {
    const int rows = 9;
    auto x = random_bf16(size_t(rows) * width, 3);
    auto w = random_bf16(size_t(width), 4, 0.5f, 1.5f);
    Dev<bf16> dx(x), dw(w), dout(std::vector<bf16>(x.size()));
    rmsnorm(dx.get(), dw.get(), rows, width, 1e-6f, dout.get(), nullptr);
    const auto out = dout.get_host();
    for (int r = 0; r < rows; ++r) {
      double ss = 0;
      for (int c = 0; c < width; ++c)
        ss += f(x[size_t(r) * width + c]) * f(x[size_t(r) * width + c]);
      const double inv = 1.0 / std::sqrt(ss / width + 1e-6);
      std::vector<double> got, want;
      for (int c = 0; c < width; ++c) {
        got.push_back(f(out[size_t(r) * width + c]));
        want.push_back(f(x[size_t(r) * width + c]) * inv * f(w[size_t(c)]));
      }
      EXPECT_LT(rel_error(got, want), 5e-3) << "width " << width << " row " << r;
    }
  }
}

TEST(EngineSmallKernels, AddRmsnormUpdatesTheResidualAndNormalisesIt) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int rows = 5, width = 2048;
  auto res = random_bf16(size_t(rows) * width, 5);
  auto delta = random_bf16(size_t(rows) * width, 6);
  auto w = random_bf16(size_t(width), 7, 0.5f, 1.5f);
  Dev<bf16> dres(res), dd(delta), dw(w), dout(std::vector<bf16>(res.size()));
  add_rmsnorm(dres.get(), dd.get(), dw.get(), rows, width, 1e-6f, dout.get(), nullptr);
  const auto new_res = dres.get_host(), out = dout.get_host();
  for (int r = 0; r < rows; ++r) {
    std::vector<double> sum(width);
    double ss = 0;
    for (int c = 0; c < width; ++c) {
      const size_t i = size_t(r) * width + c;
      const bf16 s = __float2bfloat16(float(f(res[i]) + f(delta[i])));
      ASSERT_TRUE(same_bits(new_res[i], s)) << i;
      sum[size_t(c)] = f(s);
      ss += f(s) * f(s);
    }
    const double inv = 1.0 / std::sqrt(ss / width + 1e-6);
    std::vector<double> got, want;
    for (int c = 0; c < width; ++c) {
      got.push_back(f(out[size_t(r) * width + c]));
      want.push_back(sum[size_t(c)] * inv * f(w[size_t(c)]));
    }
    EXPECT_LT(rel_error(got, want), 5e-3) << "row " << r;
  }
}

// Rotate-half RoPE (and optional per-head RMSNorm) in float64.
std::vector<double> rope_ref(const bf16* x, const bf16* norm, int pos, double theta) {
  const int D = 128;
  std::vector<double> v(D);
  double ss = 0;
  for (int i = 0; i < D; ++i) {
    v[size_t(i)] = f(x[i]);
    ss += v[size_t(i)] * v[size_t(i)];
  }
  if (norm) {
    const double inv = 1.0 / std::sqrt(ss / D + 1e-6);
    for (int i = 0; i < D; ++i) v[size_t(i)] *= inv * f(norm[i]);
  }
  std::vector<double> out(D);
  for (int i = 0; i < D / 2; ++i) {
    const double a = pos * std::pow(theta, -2.0 * i / D);
    out[size_t(i)] = v[size_t(i)] * std::cos(a) - v[size_t(i + D / 2)] * std::sin(a);
    out[size_t(i + D / 2)] = v[size_t(i + D / 2)] * std::cos(a) + v[size_t(i)] * std::sin(a);
  }
  return out;
}

TEST(EngineSmallKernels, QkNormRopeMatchesReferenceAndLeavesVAlone) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int tokens = 6, heads = 4, kv_heads = 2, D = 128, width = (heads + 2 * kv_heads) * D;
  const std::vector<int32_t> pos = {0,    1,     17,
                                    1000, 20000, 30000};  // float32 angles, as HF computes them
  for (bool with_norm : {false, true}) {
    auto qkv = random_bf16(size_t(tokens) * width, 8);
    auto qn = random_bf16(D, 9, 0.5f, 1.5f), kn = random_bf16(D, 10, 0.5f, 1.5f);
    Dev<bf16> dqkv(qkv), dqn(qn), dkn(kn), dq(std::vector<bf16>(size_t(tokens) * heads * D));
    Dev<int32_t> dpos(pos);
    qk_norm_rope(dqkv.get(), dpos.get(), tokens, heads, kv_heads, D,
                 with_norm ? dqn.get() : nullptr, with_norm ? dkn.get() : nullptr, 1e-6f, 1e6f,
                 dq.get(), nullptr);
    const auto q = dq.get_host(), after = dqkv.get_host();
    for (int t = 0; t < tokens; ++t)
      for (int h = 0; h < heads + 2 * kv_heads; ++h) {
        const bf16* in = qkv.data() + size_t(t) * width + size_t(h) * D;
        if (h >= heads + kv_heads) {  // V: untouched
          for (int i = 0; i < D; ++i)
            ASSERT_TRUE(same_bits(after[size_t(t) * width + size_t(h) * D + size_t(i)], in[i]));
          continue;
        }
        const auto want = rope_ref(in, with_norm ? (h < heads ? qn.data() : kn.data()) : nullptr,
                                   pos[size_t(t)], 1e6);
        std::vector<double> got(D);
        for (int i = 0; i < D; ++i)
          got[size_t(i)] = h < heads ? f(q[(size_t(t) * heads + size_t(h)) * D + size_t(i)])
                                     : f(after[size_t(t) * width + size_t(h) * D + size_t(i)]);
        EXPECT_LT(rel_error(got, want), 1e-2)
            << "norm " << with_norm << " token " << t << " head " << h;
      }
  }
}

TEST(EngineSmallKernels, KvCacheWriteAndGatherRoundTripThroughScatteredSlots) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int tokens = 7, heads = 4, kv_heads = 2, D = 128, width = (heads + 2 * kv_heads) * D;
  const int blocks = 8, block_tokens = 4, row = kv_heads * D;
  auto qkv = random_bf16(size_t(tokens) * width, 11);
  const std::vector<int32_t> slots = {5, 30, -1, 0, 17, 31, 12};  // -1: padding, no write
  const bf16 sentinel = __float2bfloat16(-7.0f);
  std::vector<bf16> cache(size_t(blocks) * block_tokens * row, sentinel);
  Dev<bf16> dqkv(qkv), dk(cache), dv(cache);
  Dev<int32_t> ds(slots);
  kv_cache_write(dqkv.get(), ds.get(), tokens, heads, kv_heads, D, dk.get(), dv.get(), nullptr);
  const auto k = dk.get_host(), v = dv.get_host();
  std::vector<bool> written(size_t(blocks) * block_tokens, false);
  for (int t = 0; t < tokens; ++t) {
    if (slots[size_t(t)] < 0) continue;
    written[size_t(slots[size_t(t)])] = true;
    for (int i = 0; i < row; ++i) {
      ASSERT_TRUE(same_bits(k[size_t(slots[size_t(t)]) * row + size_t(i)],
                            qkv[size_t(t) * width + size_t(heads * D + i)]));
      ASSERT_TRUE(same_bits(v[size_t(slots[size_t(t)]) * row + size_t(i)],
                            qkv[size_t(t) * width + size_t((heads + kv_heads) * D + i)]));
    }
  }
  for (size_t s = 0; s < written.size(); ++s)
    if (!written[s]) {
      ASSERT_TRUE(same_bits(k[s * row], sentinel)) << "slot " << s << " written";
    }

  const std::vector<int32_t> gather = {31, 0, 5, 17, 12, 30};
  Dev<int32_t> dg(gather);
  Dev<bf16> gk(std::vector<bf16>(gather.size() * row)), gv(std::vector<bf16>(gather.size() * row));
  kv_cache_gather(dk.get(), dv.get(), dg.get(), int(gather.size()), kv_heads, D, gk.get(), gv.get(),
                  nullptr);
  const auto ok = gk.get_host(), ov = gv.get_host();
  for (size_t j = 0; j < gather.size(); ++j)
    for (int i = 0; i < row; ++i) {
      ASSERT_TRUE(same_bits(ok[j * row + size_t(i)], k[size_t(gather[j]) * row + size_t(i)]));
      ASSERT_TRUE(same_bits(ov[j * row + size_t(i)], v[size_t(gather[j]) * row + size_t(i)]));
    }
}

TEST(EngineSmallKernels, KvCopyBlocksMovesEveryLayersBlocksToTheirNewPlaces) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int layers = 3, src_blocks = 6, dst_blocks = 9, block_elems = 16 * 2 * 128;
  const int64_t src_stride = int64_t(src_blocks) * block_elems,
                dst_stride = int64_t(dst_blocks) * block_elems;
  auto sk = random_bf16(size_t(layers * src_stride), 16),
       sv = random_bf16(size_t(layers * src_stride), 17);
  const bf16 sentinel = __float2bfloat16(-3.0f);
  std::vector<bf16> empty(size_t(layers * dst_stride), sentinel);
  const std::vector<int32_t> pairs = {4, 0, 1, 7, 5, 3};  // (src, dst) x 3
  Dev<bf16> dsk(sk), dsv(sv), ddk(empty), ddv(empty);
  Dev<int32_t> dp(pairs);
  kv_copy_blocks(dsk.get(), dsv.get(), src_stride, ddk.get(), ddv.get(), dst_stride, dp.get(), 3,
                 layers, block_elems, nullptr);
  const auto k = ddk.get_host(), v = ddv.get_host();
  for (int l = 0; l < layers; ++l)
    for (int b = 0; b < dst_blocks; ++b) {
      int from = -1;
      for (int i = 0; i < 3; ++i)
        if (pairs[size_t(2 * i + 1)] == b) from = pairs[size_t(2 * i)];
      for (int e = 0; e < block_elems; e += 97) {
        const size_t at = size_t(l * dst_stride + int64_t(b) * block_elems + e);
        if (from < 0) {
          ASSERT_TRUE(same_bits(k[at], sentinel)) << "block " << b << " written";
          continue;
        }
        const size_t src = size_t(l * src_stride + int64_t(from) * block_elems + e);
        ASSERT_TRUE(same_bits(k[at], sk[src]) && same_bits(v[at], sv[src]))
            << l << "," << b << "," << e;
      }
    }
}

TEST(EngineSmallKernels, ArgmaxTakesTheFirstLargest) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int rows = 6, width = 151936;
  auto logits = random_bf16(size_t(rows) * width, 12);
  std::vector<int32_t> want(rows);
  for (int r = 0; r < rows; ++r) {
    bf16* row = logits.data() + size_t(r) * width;
    if (r % 2 == 0) {  // a tie: the first index wins
      row[70000 + r] = __float2bfloat16(9.0f);
      row[100 + r] = __float2bfloat16(9.0f);
      row[150000] = __float2bfloat16(9.0f);
    }
    int best = 0;
    for (int c = 1; c < width; ++c)
      if (f(row[c]) > f(row[best])) best = c;
    want[size_t(r)] = best;
  }
  Dev<bf16> dl(logits);
  Dev<int32_t> dout(std::vector<int32_t>(rows, -1));
  argmax_rows(dl.get(), rows, width, dout.get(), nullptr);
  EXPECT_EQ(dout.get_host(), want);
}

TEST(EngineSmallKernels, PinnedRoutingDependsOnTheTokenAndPositionOnly) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (auto [experts, top_k] : {std::pair{128, 8}, std::pair{8, 2}}) {
    // Rows 0 and 3 are the same (token, position); the others differ.
    const std::vector<int32_t> tokens = {5, 5, 9, 5, 7}, pos = {100, 101, 100, 100, 0};
    const int n = int(tokens.size());
    Dev<int32_t> dt(tokens), dp(pos);
    Dev<bf16> dl(random_bf16(size_t(n) * experts, 14));
    pin_router_logits(dl.get(), dt.get(), dp.get(), n, experts, top_k, 3, nullptr);
    const auto a = dl.get_host();
    for (int t = 0; t < n; ++t) {
      int chosen = 0;
      for (int e = 0; e < experts; ++e) {
        const double v = f(a[size_t(t) * experts + e]);
        EXPECT_TRUE(v == 0.0 || (v >= 8.0 && v < 9.0)) << v;
        chosen += v != 0.0;
      }
      EXPECT_EQ(chosen, top_k) << "row " << t;
    }
    for (int e = 0; e < experts; ++e)
      ASSERT_TRUE(same_bits(a[size_t(e)], a[size_t(3 * experts + e)]));
    bool differs = false;
    for (int e = 0; e < experts; ++e)
      differs = differs || !same_bits(a[size_t(e)], a[size_t(experts + e)]);
    EXPECT_TRUE(differs) << "the position does not change the routing";
    // Another salt (layer) routes differently.
    Dev<bf16> dl2(random_bf16(size_t(n) * experts, 15));
    pin_router_logits(dl2.get(), dt.get(), dp.get(), n, experts, top_k, 4, nullptr);
    const auto b = dl2.get_host();
    differs = false;
    for (size_t i = 0; i < a.size(); ++i) differs = differs || !same_bits(a[i], b[i]);
    EXPECT_TRUE(differs);
  }
}

TEST(EngineSmallKernels, BadShapesAreRefused) {
  EXPECT_THROW(
      qk_norm_rope(nullptr, nullptr, 1, 1, 1, 64, nullptr, nullptr, 1e-6f, 1e6f, nullptr, nullptr),
      std::invalid_argument);
  EXPECT_THROW(gather_rows(nullptr, nullptr, 1, 12, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(rmsnorm(nullptr, nullptr, 1, 9000, 1e-6f, nullptr, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace quadrant::engine::gpu
