// The launch functions of quadrant_kernels.h on caller-owned buffers, on a GPU, against the
// float64 references (label gpu: skipped without a device). Inputs are made on the host
// (so that the test knows every value), encoded to BF16 / E4M3 / INT4 with the reference
// encoders, and the outputs compared after decoding. Graph capture is exercised where the
// header promises it: capture once, change buffer contents, replay.
#include "kernels/include/quadrant_kernels.h"

#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/reference/numeric.h"
#include "kernels/reference/reference.h"

namespace quadrant::kernels {
namespace {

bool have_gpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

void cuda_ok(cudaError_t e) {
  if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
}

// A device buffer owned by the test (the caller, from the API's point of view).
class Buffer {
 public:
  explicit Buffer(size_t bytes) : bytes_(bytes) {
    if (bytes) cuda_ok(cudaMalloc(&ptr_, bytes));
  }
  template <class T>
  explicit Buffer(const std::vector<T>& host) : Buffer(host.size() * sizeof(T)) {
    upload(host);
  }
  ~Buffer() {
    if (ptr_) cudaFree(ptr_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T>
  void upload(const std::vector<T>& host) {
    if (!host.empty())
      cuda_ok(cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  template <class T>
  std::vector<T> download() const {
    std::vector<T> host(bytes_ / sizeof(T));
    if (!host.empty()) cuda_ok(cudaMemcpy(host.data(), ptr_, bytes_, cudaMemcpyDeviceToHost));
    return host;
  }
  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

std::vector<double> uniform(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Rounds values to BF16 in place and returns the codes.
std::vector<uint16_t> to_bf16(std::vector<double>& v) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    bits[i] = ref::float_to_bf16(static_cast<float>(v[i]));
    v[i] = ref::bf16_to_float(bits[i]);
  }
  return bits;
}
// E4M3 codes of v / scale; v becomes the decoded value times scale.
std::vector<uint8_t> to_e4m3(std::vector<double>& v, double scale) {
  std::vector<uint8_t> codes(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    codes[i] = ref::double_to_e4m3(v[i] / scale);
    v[i] = ref::e4m3_to_double(codes[i]) * scale;
  }
  return codes;
}
std::vector<double> from_bf16(const std::vector<uint16_t>& bits) {
  std::vector<double> v(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) v[i] = ref::bf16_to_float(bits[i]);
  return v;
}

// ---- decode attention ----

struct DecodeCase {
  DType kv_dtype;
  int head_dim, block_tokens;
};

class DecodeAttentionApi : public ::testing::TestWithParam<DecodeCase> {};

// Checks the op against the reference, direct and replayed as a graph; returns the last
// replay's output bits. planted: three keys (sequence 0 token 650, 2 at 600, 4 at 600) set to
// the sign of their group's first query head, so that its score jumps far above the ones
// before it mid-sequence (a running maximum that moves late). splits: > 0 a fixed split count.
// long_len: > 0 sequence 2's length instead of 1100 (the bucket's bound 100 above it). heads:
// the query heads over the 4 KV heads (16: 4 a CTA; 32: 8, the standard rows' GQA group).
std::vector<uint16_t> check_decode_attention(const DecodeCase& c, bool planted = false,
                                             int splits = 0, int long_len = 0, int heads = 16) {
  const bool e4m3 = c.kv_dtype == DType::kE4m3;
  DecodeAttentionProblem p;
  p.splits = splits;
  p.batch = 6;
  p.heads = heads;
  p.kv_heads = 4;
  p.head_dim = c.head_dim;
  p.block_tokens = c.block_tokens;
  // The bucket's bound: longer than any length below.
  p.max_kv_len = long_len > 0 ? long_len + 100 : 1200;
  p.max_blocks = (p.max_kv_len + c.block_tokens - 1) / c.block_tokens;
  p.kv_dtype = c.kv_dtype;
  // Sequence 3 is a padded slot of the bucket (length 0: zeros out).
  std::vector<int32_t> lens = {700, 1, long_len > 0 ? long_len : 1100, 0, 257, 64};
  const int blocks = p.batch * p.max_blocks;
  std::vector<int32_t> table(size_t(p.batch) * p.max_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937_64(3));
  const size_t cache = size_t(blocks) * c.block_tokens * p.kv_heads * c.head_dim;
  auto q = uniform(size_t(p.batch) * p.heads * c.head_dim, 1, -3, 3);
  auto k = uniform(cache, 2, -1, 1), v = uniform(cache, 3, -1, 1);
  if (planted)
    for (const auto& [seq, tok] : {std::pair{0, 650}, std::pair{2, 600}, std::pair{4, 600}}) {
      const size_t page = table[size_t(seq) * p.max_blocks + tok / c.block_tokens];
      for (int h = 0; h < p.kv_heads; ++h) {
        const size_t key =
            ((page * c.block_tokens + tok % c.block_tokens) * p.kv_heads + h) * c.head_dim;
        const size_t query = (size_t(seq) * p.heads + h * (p.heads / p.kv_heads)) * c.head_dim;
        for (int d = 0; d < c.head_dim; ++d) k[key + d] = q[query + d] < 0 ? -1.0 : 1.0;
      }
    }
  std::vector<float> ks(p.kv_heads), vs(p.kv_heads);
  for (int h = 0; h < p.kv_heads; ++h) {
    ks[h] = (1.0f + 0.1f * h) / 448.0f;
    vs[h] = (1.0f + 0.2f * h) / 448.0f;
  }
  Buffer qd(to_bf16(q));
  std::unique_ptr<Buffer> kd, vd;
  if (e4m3) {
    // Per KV head scales: encode element by element with its head's scale.
    std::vector<uint8_t> kc(cache), vc(cache);
    for (size_t i = 0; i < cache; ++i) {
      const int h = static_cast<int>((i / c.head_dim) % p.kv_heads);
      kc[i] = ref::double_to_e4m3(k[i] / ks[h]);
      k[i] = ref::e4m3_to_double(kc[i]) * ks[h];
      vc[i] = ref::double_to_e4m3(v[i] / vs[h]);
      v[i] = ref::e4m3_to_double(vc[i]) * vs[h];
    }
    kd = std::make_unique<Buffer>(kc);
    vd = std::make_unique<Buffer>(vc);
  } else {
    kd = std::make_unique<Buffer>(to_bf16(k));
    vd = std::make_unique<Buffer>(to_bf16(v));
  }
  Buffer ksd(ks), vsd(vs), tabled(table), lensd(lens);
  Buffer out(size_t(p.batch) * p.heads * c.head_dim * 2);
  Buffer ws(decode_attention_workspace_bytes(p));
  DecodeAttentionBuffers b;
  b.q = qd.get();
  b.k_cache = kd->get();
  b.v_cache = vd->get();
  b.k_scale = e4m3 ? ksd.as<float>() : nullptr;
  b.v_scale = e4m3 ? vsd.as<float>() : nullptr;
  b.block_table = tabled.as<int32_t>();
  b.kv_lens = lensd.as<int32_t>();
  b.out = out.get();
  b.workspace = ws.get();

  auto expect_matches = [&](const std::vector<int32_t>& l) {
    const auto got = from_bf16(out.download<uint16_t>());
    ref::DecodeAttentionProblem r;
    r.heads = p.heads;
    r.kv_heads = p.kv_heads;
    r.head_dim = p.head_dim;
    r.block_size = p.block_tokens;
    r.max_blocks_per_seq = p.max_blocks;
    r.scale = 1.0 / std::sqrt(double(p.head_dim));
    r.block_table = table.data();
    r.q = q.data();
    r.k_cache = k.data();
    r.v_cache = v.data();
    std::vector<int64_t> seqs;
    for (int s = 0; s < p.batch; ++s) {
      r.kv_lens.push_back(std::max(l[s], 1));  // the reference needs a key; padded rows below
      if (l[s] > 0) seqs.push_back(s);
    }
    const auto want = ref::decode_attention(r, seqs);
    std::vector<double> have;
    const size_t row = size_t(p.heads) * p.head_dim;
    for (int64_t s : seqs)
      have.insert(have.end(), got.begin() + s * row, got.begin() + (s + 1) * row);
    EXPECT_LE(ref::rel_fro_error(have.data(), want.data(), have.size()), e4m3 ? 5e-2 : 1e-2);
    for (int s = 0; s < p.batch; ++s) {
      if (l[s] != 0) continue;
      for (size_t i = 0; i < row; ++i) ASSERT_EQ(got[s * row + i], 0.0) << "padded sequence";
    }
  };

  cudaStream_t stream;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cuda_ok(cudaMemset(out.get(), 0xFF, size_t(p.batch) * p.heads * c.head_dim * 2));
  decode_attention(p, b, stream);
  cuda_ok(cudaStreamSynchronize(stream));
  expect_matches(lens);

  // Captured once, replayed after the lengths changed on the device (no host bound moved).
  cudaGraph_t graph;
  cuda_ok(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  decode_attention(p, b, stream);
  cuda_ok(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0));
  const std::vector<int32_t> lens2 = {1200, 33, 0, 5, 900, 1};
  lensd.upload(lens2);
  cuda_ok(cudaMemset(out.get(), 0xFF, size_t(p.batch) * p.heads * c.head_dim * 2));
  cuda_ok(cudaGraphLaunch(exec, stream));
  cuda_ok(cudaStreamSynchronize(stream));
  expect_matches(lens2);
  // Replayed again: nothing a launch leaves in the workspace (form 32's arrival counters)
  // changes the next one.
  cuda_ok(cudaMemset(out.get(), 0xFF, size_t(p.batch) * p.heads * c.head_dim * 2));
  cuda_ok(cudaGraphLaunch(exec, stream));
  cuda_ok(cudaGraphLaunch(exec, stream));
  cuda_ok(cudaStreamSynchronize(stream));
  expect_matches(lens2);
  cuda_ok(cudaGraphExecDestroy(exec));
  cuda_ok(cudaGraphDestroy(graph));
  cuda_ok(cudaStreamDestroy(stream));
  return out.download<uint16_t>();
}

TEST_P(DecodeAttentionApi, MatchesReferenceAndReplaysAsAGraph) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  check_decode_attention(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Formats, DecodeAttentionApi,
                         ::testing::Values(DecodeCase{DType::kBf16, 128, 16},
                                           DecodeCase{DType::kE4m3, 128, 16},
                                           DecodeCase{DType::kE4m3, 64, 32},
                                           DecodeCase{DType::kBf16, 256, 7}),
                         [](const auto& param_info) {
                           const DecodeCase& c = param_info.param;
                           return std::string(c.kv_dtype == DType::kE4m3 ? "e4m3" : "bf16") + "_d" +
                                  std::to_string(c.head_dim) + "_block" +
                                  std::to_string(c.block_tokens);
                         });

TEST(DecodeAttentionProblemCheck, RejectsABoundShorterThanTheBlockTable) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  DecodeAttentionProblem p;
  p.batch = 1;
  p.heads = p.kv_heads = 1;
  p.head_dim = 128;
  p.max_kv_len = 100;
  p.max_blocks = 2;  // 32 tokens of table
  EXPECT_THROW(decode_attention_workspace_bytes(p), std::invalid_argument);
  p.max_blocks = 7;
  p.head_dim = 96;
  EXPECT_THROW(decode_attention_workspace_bytes(p), std::invalid_argument);
}

// ---- prefill attention ----

struct PrefillCase {
  DType dtype;
  int head_dim, v_head_dim;
  bool offsets_on_device;
};

class PrefillAttentionApi : public ::testing::TestWithParam<PrefillCase> {};

void check_prefill_attention(const PrefillCase& c) {
  const bool e4m3 = c.dtype == DType::kE4m3;
  PrefillAttentionProblem p;
  p.dtype = c.dtype;
  p.heads = 8;
  p.kv_heads = 2;
  p.head_dim = c.head_dim;
  p.v_head_dim = c.v_head_dim;
  p.q_lens = {300, 1, 129};
  p.prefix_lens = {0, 77, 250};
  std::vector<int32_t> cu_q = {0}, cu_k = {0}, prefix, cu_sq = {0}, cu_sk = {0};
  for (size_t s = 0; s < p.q_lens.size(); ++s) {
    cu_q.push_back(cu_q.back() + static_cast<int32_t>(p.q_lens[s]));
    cu_k.push_back(cu_k.back() + static_cast<int32_t>(p.q_lens[s] + p.prefix_lens[s]));
    cu_sq.push_back(cu_sq.back() + static_cast<int32_t>((p.q_lens[s] + 63) / 64));
    cu_sk.push_back(cu_sk.back() +
                    static_cast<int32_t>((p.q_lens[s] + p.prefix_lens[s] + 63) / 64));
    prefix.push_back(static_cast<int32_t>(p.prefix_lens[s]));
  }
  const size_t tq = cu_q.back(), tk = cu_k.back();
  auto q = uniform(tq * p.heads * c.head_dim, 4, -3, 3);
  auto k = uniform(tk * p.kv_heads * c.head_dim, 5, -1, 1);
  auto v = uniform(tk * p.kv_heads * c.v_head_dim, 6, -1, 1);
  std::unique_ptr<Buffer> qd, kd, vd, qsd, ksd, vsd;
  if (e4m3) {
    // Scales per 64 tokens of a sequence and head, as the header lays them out.
    auto encode = [](std::vector<double>& x, const std::vector<int32_t>& cu,
                     const std::vector<int32_t>& cu_s, int heads, int dim, double base,
                     std::vector<float>& scale) {
      scale.assign(size_t(cu_s.back()) * heads, 0.0f);
      for (size_t i = 0; i < scale.size(); ++i)
        scale[i] = static_cast<float>(base * (1 + 0.01 * (i % 7)));
      std::vector<uint8_t> codes(x.size());
      for (size_t s = 0; s + 1 < cu.size(); ++s)
        for (int32_t t = cu[s]; t < cu[s + 1]; ++t)
          for (int h = 0; h < heads; ++h) {
            const double sc = scale[size_t(cu_s[s] + (t - cu[s]) / 64) * heads + h];
            for (int d = 0; d < dim; ++d) {
              const size_t i = (size_t(t) * heads + h) * dim + d;
              codes[i] = ref::double_to_e4m3(x[i] / sc);
              x[i] = ref::e4m3_to_double(codes[i]) * sc;
            }
          }
      return codes;
    };
    std::vector<float> qs, ks, vs;
    qd = std::make_unique<Buffer>(encode(q, cu_q, cu_sq, p.heads, c.head_dim, 3.0 / 448, qs));
    kd = std::make_unique<Buffer>(encode(k, cu_k, cu_sk, p.kv_heads, c.head_dim, 1.0 / 448, ks));
    vd = std::make_unique<Buffer>(encode(v, cu_k, cu_sk, p.kv_heads, c.v_head_dim, 1.0 / 448, vs));
    qsd = std::make_unique<Buffer>(qs);
    ksd = std::make_unique<Buffer>(ks);
    vsd = std::make_unique<Buffer>(vs);
  } else {
    qd = std::make_unique<Buffer>(to_bf16(q));
    kd = std::make_unique<Buffer>(to_bf16(k));
    vd = std::make_unique<Buffer>(to_bf16(v));
  }
  Buffer cu_qd(cu_q), cu_kd(cu_k), prefixd(prefix);
  Buffer out(tq * p.heads * c.v_head_dim * 2), ws(prefill_attention_workspace_bytes(p));
  PrefillAttentionBuffers b;
  b.q = qd->get();
  b.k = kd->get();
  b.v = vd->get();
  if (e4m3) {
    b.q_scale = qsd->as<float>();
    b.k_scale = ksd->as<float>();
    b.v_scale = vsd->as<float>();
  }
  if (c.offsets_on_device) {
    b.cu_q = cu_qd.as<int32_t>();
    b.cu_k = cu_kd.as<int32_t>();
    b.prefix = prefixd.as<int32_t>();
  }
  b.out = out.get();
  b.workspace = ws.get();
  cuda_ok(cudaMemset(out.get(), 0xFF, tq * p.heads * c.v_head_dim * 2));
  prefill_attention(p, b, nullptr);
  cuda_ok(cudaDeviceSynchronize());
  const auto got = from_bf16(out.download<uint16_t>());
  EXPECT_TRUE(std::none_of(got.begin(), got.end(), [](double x) { return std::isnan(x); }));
  ref::PrefillAttentionProblem r;
  r.q_lens = p.q_lens;
  r.prefix_lens = p.prefix_lens;
  r.heads = p.heads;
  r.kv_heads = p.kv_heads;
  r.head_dim = p.head_dim;
  r.v_head_dim = p.v_head_dim;
  r.scale = 1.0 / std::sqrt(double(p.head_dim));
  r.q = q.data();
  r.k = k.data();
  r.v = v.data();
  std::vector<int64_t> tokens(tq);
  std::iota(tokens.begin(), tokens.end(), 0);
  const auto want = ref::prefill_attention(r, tokens);
  EXPECT_LE(ref::rel_fro_error(got.data(), want.data(), got.size()), e4m3 ? 5e-2 : 1e-2);
}

TEST_P(PrefillAttentionApi, MatchesReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  check_prefill_attention(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Formats, PrefillAttentionApi,
                         ::testing::Values(PrefillCase{DType::kBf16, 128, 128, true},
                                           PrefillCase{DType::kBf16, 192, 128, false},
                                           PrefillCase{DType::kE4m3, 128, 128, false},
                                           PrefillCase{DType::kE4m3, 64, 64, true}),
                         [](const auto& param_info) {
                           const PrefillCase& c = param_info.param;
                           return std::string(c.dtype == DType::kE4m3 ? "e4m3" : "bf16") + "_d" +
                                  std::to_string(c.head_dim) + "_" + std::to_string(c.v_head_dim) +
                                  (c.offsets_on_device ? "_device_offsets" : "_host_offsets");
                         });

// ---- MoE FFN ----

struct MoeCase {
  MoeFormat format;
  int64_t tokens;  // 24 tokens x 2 / 8 experts: mma.sync; 400: the wgmma grouped GEMM
  bool given_ids;
  bool ragged = false;   // expert 1 takes no row, expert 4 one: empty and 1-row tiles
  int64_t hidden = 256;  // 384: the down GEMM's last n-tile holds one 128-row half
};

class MoeFfnApi : public ::testing::TestWithParam<MoeCase> {};

// Every weight buffer of one MoE layer (moe_ffn_weight_bytes), filled by moe_ffn_fill_weights
// with `seed`.
struct SeededMoeWeights {
  SeededMoeWeights(const MoeFfnProblem& p, uint64_t seed)
      : SeededMoeWeights(p, moe_ffn_weight_bytes(p), seed) {}
  Buffer w1, w2, w1s, w2s, w1f, w2f;
  MoeFfnWeights weights;

 private:
  SeededMoeWeights(const MoeFfnProblem& p, const MoeWeightBytes& wb, uint64_t seed)
      : w1(wb.w1), w2(wb.w2), w1s(wb.w1_scale), w2s(wb.w2_scale), w1f(wb.w1_frag), w2f(wb.w2_frag) {
    weights.w1 = w1.get();
    weights.w2 = w2.get();
    weights.w1_scale = w1s.as<float>();
    weights.w2_scale = w2s.as<float>();
    weights.w1_frag = w1f.get();
    weights.w2_frag = w2f.get();
    moe_ffn_fill_weights(p, weights, seed, nullptr);
    cuda_ok(cudaDeviceSynchronize());
  }
};

// Checks one step against the reference, directly and as a graph replay; returns the replay's
// output bits.
std::vector<uint16_t> check_moe_ffn(const MoeCase& c) {
  MoeFfnProblem p;
  p.format = c.format;
  p.tokens = c.tokens;
  p.experts = 8;
  p.top_k = 2;
  p.hidden = c.hidden;
  p.intermediate = 256;
  const SeededMoeWeights seeded(p, 11);
  const MoeFfnWeights& w = seeded.weights;
  const Buffer &w1 = seeded.w1, &w2 = seeded.w2, &w1s = seeded.w1s, &w2s = seeded.w2s;

  auto x = uniform(size_t(p.tokens) * p.hidden, 7, -1, 1);
  Buffer xd(to_bf16(x));
  auto logits = uniform(size_t(p.tokens) * p.experts, 8, -4, 4);
  if (c.ragged)
    for (int64_t t = 0; t < p.tokens; ++t) {
      logits[t * p.experts + 1] = -100;
      logits[t * p.experts + 4] = t == 0 ? 100 : -100;
    }
  std::vector<float> logits_f(logits.begin(), logits.end());
  const auto routing = ref::route_top_k(logits_f.data(), p.tokens, p.experts, p.top_k);
  std::vector<float> weights_f(routing.weight.begin(), routing.weight.end());
  Buffer logitsd(logits_f), idsd(routing.expert), weightsd(weights_f);
  Buffer out(size_t(p.tokens) * p.hidden * 2), ws(moe_ffn_workspace_bytes(p));
  MoeFfnBuffers b;
  b.x = xd.get();
  if (c.given_ids) {
    b.topk_ids = idsd.as<int32_t>();
    b.topk_weights = weightsd.as<float>();
  } else {
    b.router_logits = logitsd.get();
  }
  b.out = out.get();
  b.workspace = ws.get();

  // The weights as the kernels hold them, decoded to float64 per expert.
  const auto w1_raw = w1.download<uint8_t>(), w2_raw = w2.download<uint8_t>();
  const auto w1_sc = w1s.download<float>(), w2_sc = w2s.download<float>();
  auto decode = [&](const std::vector<uint8_t>& raw, const std::vector<float>& sc, int e, int64_t n,
                    int64_t k) {
    std::vector<double> m(n * k);
    const size_t base = size_t(e) * n * k;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) {
        double val = 0;
        if (p.format == MoeFormat::kBf16) {
          uint16_t bits;
          std::memcpy(&bits, raw.data() + 2 * (base + i * k + j), 2);
          val = ref::bf16_to_float(bits);
        } else if (p.format == MoeFormat::kFp8) {
          val = ref::e4m3_to_double(raw[base + i * k + j]) *
                sc[(size_t(e) * (n / 128) + i / 128) * (k / 128) + j / 128];
        } else {
          val = ref::unpack_int4(raw.data() + base / 2, i * k + j) *
                sc[(size_t(e) * (k / 128) + j / 128) * n + i];
        }
        m[i * k + j] = val;
      }
    return m;
  };
  std::vector<double> want(size_t(p.tokens) * p.hidden, 0.0), row(p.hidden);
  std::vector<std::vector<double>> e1(p.experts), e2(p.experts);
  for (int64_t t = 0; t < p.tokens; ++t)
    for (int j = 0; j < p.top_k; ++j) {
      const int e = routing.expert[t * p.top_k + j];
      if (e1[e].empty()) {
        e1[e] = decode(w1_raw, w1_sc, e, 2 * p.intermediate, p.hidden);
        e2[e] = decode(w2_raw, w2_sc, e, p.hidden, p.intermediate);
      }
      ref::expert_ffn(x.data() + t * p.hidden, e1[e].data(), e2[e].data(), p.hidden, p.intermediate,
                      row.data());
      for (int64_t h = 0; h < p.hidden; ++h)
        want[t * p.hidden + h] += routing.weight[t * p.top_k + j] * row[h];
    }
  const double tol = p.format == MoeFormat::kBf16 ? 1e-2 : 5e-2;
  auto expect_matches = [&] {
    const auto got = from_bf16(out.download<uint16_t>());
    EXPECT_TRUE(std::none_of(got.begin(), got.end(), [](double v) { return std::isnan(v); }));
    EXPECT_LE(ref::rel_fro_error(got.data(), want.data(), got.size()), tol);
  };

  cudaStream_t stream;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cuda_ok(cudaMemset(out.get(), 0xFF, size_t(p.tokens) * p.hidden * 2));
  moe_ffn(p, w, b, stream);
  cuda_ok(cudaStreamSynchronize(stream));
  expect_matches();
  // Captured, then replayed: the device-side schedule needs no host round trip.
  cudaGraph_t graph;
  cuda_ok(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  moe_ffn(p, w, b, stream);
  cuda_ok(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0));
  cuda_ok(cudaMemset(out.get(), 0xFF, size_t(p.tokens) * p.hidden * 2));
  cuda_ok(cudaGraphLaunch(exec, stream));
  cuda_ok(cudaStreamSynchronize(stream));
  expect_matches();
  cuda_ok(cudaGraphExecDestroy(exec));
  cuda_ok(cudaGraphDestroy(graph));
  cuda_ok(cudaStreamDestroy(stream));
  return out.download<uint16_t>();
}

TEST_P(MoeFfnApi, MatchesReferenceAndReplaysAsAGraph) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  check_moe_ffn(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    FormatsAndPaths, MoeFfnApi,
    ::testing::Values(MoeCase{MoeFormat::kBf16, 24, false}, MoeCase{MoeFormat::kFp8, 24, true},
                      MoeCase{MoeFormat::kW4a8, 24, false}, MoeCase{MoeFormat::kBf16, 400, true},
                      MoeCase{MoeFormat::kFp8, 400, false}, MoeCase{MoeFormat::kW4a8, 400, false},
                      MoeCase{MoeFormat::kBf16, 400, true, true},
                      MoeCase{MoeFormat::kFp8, 400, false, true},
                      MoeCase{MoeFormat::kW4a8, 24, true, true},
                      // 30 rows per expert: two 16-row tiles each
                      MoeCase{MoeFormat::kFp8, 120, false, true},
                      // 4200 slots: routing as separate launches, not the one-CTA kernel
                      MoeCase{MoeFormat::kBf16, 2100, false}),
    [](const auto& param_info) {
      const MoeCase& c = param_info.param;
      const char* f = c.format == MoeFormat::kBf16  ? "bf16"
                      : c.format == MoeFormat::kFp8 ? "fp8"
                                                    : "w4a8";
      return std::string(f) + "_tokens" + std::to_string(c.tokens) +
             (c.given_ids ? "_given_topk" : "_router_logits") + (c.ragged ? "_ragged" : "");
    });

// Sets environment variables for a scope, then restores them.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::vector<std::pair<const char*, const char*>>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      setenv(name, value, 1);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_)
      if (old)
        setenv(name.c_str(), old->c_str(), 1);
      else
        unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// W4A8's seeded weights are INT4 of mean zero with every value present, the plain copy and the
// fragment copy the same multiset: a mean of -1/2 a step (every nibble pattern alike) made
// quadrant-engine's synthetic W4A8 model route most tokens to a few experts
// (calibration/engine/README.md, "W4A8 runs routed unevenly").
TEST(MoeFfnFill, W4a8WeightsHaveMeanZeroAndEveryValue) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  MoeFfnProblem p;
  p.format = MoeFormat::kW4a8;
  p.tokens = 1;
  p.experts = 8;
  p.top_k = 2;
  p.hidden = 1024;
  p.intermediate = 512;
  const SeededMoeWeights seeded(p, 5);
  const Buffer &w1 = seeded.w1, &w2 = seeded.w2, &w1f = seeded.w1f, &w2f = seeded.w2f;
  for (const Buffer* plain : {&w1, &w2}) {
    const auto raw = plain->download<uint8_t>();
    std::vector<double> count(16, 0);
    double sum = 0;
    for (size_t i = 0; i < 2 * raw.size(); ++i) {
      const int v = ref::unpack_int4(raw.data(), i);  // the nibble less its offset, 8
      count[(raw[i / 2] >> (4 * (i % 2))) & 0xF] += 1;
      sum += v;
    }
    const double n = 2.0 * static_cast<double>(raw.size());
    // Millions of values of standard deviation ~4.3: the sample mean is within ~3e-3 of the
    // distribution's (0); every nibble pattern alike would give -0.5.
    EXPECT_NEAR(sum / n, 0.0, 0.02);
    for (size_t c = 0; c < 16; ++c) EXPECT_GT(count[c], 0.04 * n) << "value " << int(c) - 8;
  }
  // The repacking moves whole nibbles: the fragment copy holds the same values.
  for (const auto& [plain, frag] : {std::pair{&w1, &w1f}, std::pair{&w2, &w2f}}) {
    auto histogram = [](const std::vector<uint8_t>& raw) {
      std::vector<int64_t> h(16, 0);
      for (uint8_t b : raw) ++h[b & 0xF], ++h[b >> 4];
      return h;
    };
    EXPECT_EQ(histogram(plain->download<uint8_t>()), histogram(frag->download<uint8_t>()));
  }
}

// The decode step as one chain of programmatic dependent launches (plan::moe_pdl; the GEMMs
// load their first weight stages and ask L2 for more before their wait), with the routing as
// separate launches or as one CTA: the plain launches' bits, direct and replayed as a graph.
TEST(MoeFfnChain, GivesThePlainLaunchesBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (const MoeCase& c :
       {MoeCase{MoeFormat::kBf16, 24, false}, MoeCase{MoeFormat::kFp8, 24, true, true},
        MoeCase{MoeFormat::kW4a8, 24, false}, MoeCase{MoeFormat::kFp8, 120, false, true},
        MoeCase{MoeFormat::kFp8, 1, false}, MoeCase{MoeFormat::kW4a8, 1, true}}) {
    std::vector<uint16_t> plain;
    {
      const ScopedEnv env({{"QUADRANT_MOE_PDL", "0"}, {"QUADRANT_MOE_FUSED_ROUTE_SLOTS", "0"}});
      plain = check_moe_ffn(c);
    }
    for (const char* slots : {"0", "256"}) {
      const ScopedEnv env({{"QUADRANT_MOE_PDL", "1"},
                           {"QUADRANT_MOE_FUSED_ROUTE_SLOTS", slots},
                           {"QUADRANT_MOE_PREFETCH", "4"}});
      EXPECT_EQ(check_moe_ffn(c), plain) << "format " << static_cast<int>(c.format) << ", "
                                         << c.tokens << " tokens, fused " << slots;
    }
  }
}

// Split-K of the mma.sync GEMMs (QUADRANT_MOE_SPLIT_K): one split through the FP32 partials
// gives the plain launches' bits (the reader rounds the sum to BF16 where the GEMM did); two
// splits (one k block each at hidden = intermediate = 256) change only the FP32 summation
// order: the reference check passes (inside check_moe_ffn) and the output stays within 1%
// (relative Frobenius) of the plain one (an FP8 / W4A8 activation one BF16 step away may round
// to another E4M3 value: the distance is printed). Every split-K form: BF16, FP8, W4A8 forms 8
// (default), 2 (scales from global memory) and 6 (four k blocks of weights in flight), with and
// without the launch chain.
TEST(MoeFfnSplitK, OneSplitGivesThePlainBitsTwoTheSumsInAnotherOrder) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    MoeCase c;
    const char* w4_form;
    const char* pdl;
  };
  for (const Case& k :
       {Case{{MoeFormat::kBf16, 24, false}, "8", "0"},
        Case{{MoeFormat::kFp8, 24, true, true}, "8", "1"},
        Case{{MoeFormat::kFp8, 1, false}, "8", "0"}, Case{{MoeFormat::kW4a8, 24, false}, "8", "1"},
        Case{{MoeFormat::kW4a8, 1, true}, "8", "0"}, Case{{MoeFormat::kW4a8, 24, false}, "2", "0"},
        Case{{MoeFormat::kW4a8, 120, false, true}, "6", "1"}}) {
    SCOPED_TRACE("format " + std::to_string(static_cast<int>(k.c.format)) + ", " +
                 std::to_string(k.c.tokens) + " tokens, W4A8 form " + k.w4_form + ", pdl " + k.pdl);
    std::vector<uint16_t> plain, one, two;
    {
      const ScopedEnv env({{"QUADRANT_MOE_SPLIT_K", "0"},
                           {"QUADRANT_W4A8_DECODE_FORM", k.w4_form},
                           {"QUADRANT_MOE_PDL", k.pdl}});
      plain = check_moe_ffn(k.c);
    }
    {
      const ScopedEnv env({{"QUADRANT_MOE_SPLIT_K", "1"},
                           {"QUADRANT_W4A8_DECODE_FORM", k.w4_form},
                           {"QUADRANT_MOE_PDL", k.pdl}});
      one = check_moe_ffn(k.c);
    }
    {
      const ScopedEnv env({{"QUADRANT_MOE_SPLIT_K", "2"},
                           {"QUADRANT_W4A8_DECODE_FORM", k.w4_form},
                           {"QUADRANT_MOE_PDL", k.pdl}});
      two = check_moe_ffn(k.c);
    }
    EXPECT_EQ(one, plain);
    const auto p = from_bf16(plain), t = from_bf16(two);
    double worst = 0;
    int differ = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      // In units of the plain value's BF16 spacing (2^-7 relative).
      const double ulp = std::max(std::abs(p[i]), 1e-3) / 128;
      worst = std::max(worst, std::abs(t[i] - p[i]) / ulp);
      differ += t[i] != p[i];
    }
    std::cout << "split-K 2 against 1: " << differ << " of " << p.size()
              << " outputs differ, at most " << worst << " BF16 spacings; relative Frobenius "
              << ref::rel_fro_error(t.data(), p.data(), t.size()) << "\n";
    EXPECT_LE(ref::rel_fro_error(t.data(), p.data(), t.size()), 1e-2);
  }
}

// 32-row tiles of the BF16 / FP8 mma.sync GEMMs (QUADRANT_MOE_BLOCK_M=32: a CTA computes an
// expert's two 16-row subtiles from one pass over its weights) and more shared-memory stages
// (QUADRANT_MOE_STAGES) change the schedule only: every row's MMAs run in the same k order, so
// the outputs are the 16-row, 3-stage bits. 6, 30 and 42.5 rows per expert on average (one
// subtile, two, experts past 32 rows in two tiles), empty and 1-row tiles (ragged), with and
// without the launch chain; W4A8 ignores both (16-row tiles, its own kernels).
TEST(MoeFfnBlockM, ThirtyTwoRowTilesAndMoreStagesGiveTheSameBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (const char* pdl : {"0", "1"})
    for (const MoeCase& c :
         {MoeCase{MoeFormat::kBf16, 24, false}, MoeCase{MoeFormat::kFp8, 24, true, true},
          MoeCase{MoeFormat::kBf16, 120, false}, MoeCase{MoeFormat::kFp8, 120, false, true},
          MoeCase{MoeFormat::kBf16, 170, true, true}, MoeCase{MoeFormat::kFp8, 170, false},
          MoeCase{MoeFormat::kW4a8, 120, true}}) {
      SCOPED_TRACE("format " + std::to_string(static_cast<int>(c.format)) + ", " +
                   std::to_string(c.tokens) + " tokens, pdl " + pdl);
      std::vector<uint16_t> base;
      {
        const ScopedEnv env({{"QUADRANT_MOE_BLOCK_M", "16"},
                             {"QUADRANT_MOE_STAGES", "3"},
                             {"QUADRANT_MOE_PDL", pdl}});
        base = check_moe_ffn(c);
      }
      for (const char* bm : {"16", "32"})
        for (const char* stages : {"3", "4", "6"}) {
          if (std::string(bm) == "16" && std::string(stages) == "3") continue;
          const ScopedEnv env({{"QUADRANT_MOE_BLOCK_M", bm},
                               {"QUADRANT_MOE_STAGES", stages},
                               {"QUADRANT_MOE_PDL", pdl}});
          EXPECT_EQ(check_moe_ffn(c), base) << bm << " rows, " << stages << " stages";
        }
    }
}

// Every case under the base and the variant value of one GEMM switch (`name`), with and without
// split-K and the chain, at each block_m given, each run within the reference's tolerance
// (check_moe_ffn); compare(base's outputs, variant's) judges each pair. 1 and 24 tokens have tiles
// of <= 8 rows only or mostly, 120 (ragged: empty and 1-row tiles too) of 9-16 (17-32 on 32-row
// tiles), and hidden 1280 streams ten k blocks through the four stages (each stage's barriers in
// both phases); split-K gives odd and even k-block counts.
template <class Compare>
void run_base_and_variant(MoeFormat format, const char* name, const char* base, const char* variant,
                          std::initializer_list<const char*> block_ms, Compare compare) {
  for (const char* pdl : {"0", "1"})
    for (const char* split : {"0", "2"})
      for (const char* bm : block_ms)
        for (const MoeCase& c :
             {MoeCase{format, 1, true}, MoeCase{format, 24, false},
              MoeCase{format, 120, false, true}, MoeCase{format, 24, false, false, 1280}}) {
          SCOPED_TRACE(std::string(name) + "=" + variant + " against " + base + ", " +
                       std::to_string(c.tokens) + " tokens, hidden " + std::to_string(c.hidden) +
                       ", pdl " + pdl + ", split-K " + split + ", block_m " + bm);
          std::vector<uint16_t> bits[2];
          for (int i = 0; i < 2; ++i) {
            const ScopedEnv env({{name, i ? variant : base},
                                 {"QUADRANT_MOE_PDL", pdl},
                                 {"QUADRANT_MOE_SPLIT_K", split},
                                 {"QUADRANT_MOE_BLOCK_M", bm}});
            bits[i] = check_moe_ffn(c);
          }
          compare(bits[0], bits[1]);
        }
}
// The variant gives the base's bits.
void expect_same_bits(MoeFormat format, const char* name, const char* variant, const char* base,
                      std::initializer_list<const char*> block_ms = {"16"}) {
  run_base_and_variant(
      format, name, base, variant, block_ms,
      [](const std::vector<uint16_t>& b, const std::vector<uint16_t>& v) { EXPECT_EQ(v, b); });
}
// Form `form` of the W4A8 decode GEMM gives form `base`'s bits.
void expect_form_bits(const char* form, const char* base) {
  expect_same_bits(MoeFormat::kW4a8, "QUADRANT_W4A8_DECODE_FORM", form, base);
}

// W4A8 on the wgmma path with the INT4 dequantised in the GEMM's producer warpgroup
// (QUADRANT_W4A8_PREFILL_DEQUANT=producer) stages in shared memory the E4M3 bytes that the
// scratch copy's TMA loads would, in the same swizzled places, so the same wgmmas give the same
// bits (each run also within the reference's tolerance): one and several m-tiles per expert,
// empty and 1-row experts, and a down GEMM whose last n-tile has one 128-row half (hidden 384).
TEST(MoeFfnW4Prefill, ProducerDequantGivesTheScratchCopysBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (const MoeCase& c :
       {MoeCase{MoeFormat::kW4a8, 400, false}, MoeCase{MoeFormat::kW4a8, 400, true, true},
        MoeCase{MoeFormat::kW4a8, 2100, false},
        MoeCase{MoeFormat::kW4a8, 400, false, false, 384}}) {
    SCOPED_TRACE(std::to_string(c.tokens) + " tokens, hidden " + std::to_string(c.hidden) +
                 (c.ragged ? ", ragged" : ""));
    std::vector<uint16_t> bits[2];
    for (int i = 0; i < 2; ++i) {
      const ScopedEnv env(std::vector<std::pair<const char*, const char*>>{
          {"QUADRANT_W4A8_PREFILL_DEQUANT", i ? "producer" : "scratch"}});
      bits[i] = check_moe_ffn(c);
    }
    EXPECT_EQ(bits[1], bits[0]);
  }
}

// W4A8 form 9 (form 8 with L2 requests for the weights ahead in the k loop) changes no
// arithmetic.
TEST(MoeFfnW4Form9, GivesFormEightsBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_form_bits("9", "8");
}

// W4A8 form 10 (form 8 with tiles of at most 8 rows on the weights-as-A MMA, m16 = weight
// columns, n8 = rows) multiplies the same products in the same k order (H200, tenth session: 0
// of 148,480 values differ over the first three cases' 12 runs; the hidden-1280 case came later).
TEST(MoeFfnW4Form10, GivesFormEightsBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_form_bits("10", "8");
}

// A GEMM variant that sums in another order than its base (run_base_and_variant's cases): its
// output stays within 1% (relative Frobenius) of the base's.
void expect_within_one_percent(MoeFormat format, const char* name, const char* base,
                               const char* variant, std::initializer_list<const char*> block_ms) {
  run_base_and_variant(
      format, name, base, variant, block_ms,
      [&](const std::vector<uint16_t>& base_bits, const std::vector<uint16_t>& variant_bits) {
        const auto b = from_bf16(base_bits), v = from_bf16(variant_bits);
        int differ = 0;
        for (size_t i = 0; i < b.size(); ++i) differ += b[i] != v[i];
        std::cout << name << "=" << variant << " against " << base << ": " << differ << " of "
                  << b.size() << " outputs differ; relative Frobenius "
                  << ref::rel_fro_error(v.data(), b.data(), b.size()) << "\n";
        EXPECT_LE(ref::rel_fro_error(v.data(), b.data(), b.size()), 1e-2);
      });
}

// W4A8 form 11 (wgmma with the weights as A in registers, the tokens as N; the INT4 made E4M3 by
// byte permutes) sums each 128-deep block on the tensor cores in another order than mma.sync: not
// form 8's bits, within 1% of them (W4A8 keeps 16-row tiles whatever block_m says).
TEST(MoeFfnW4Form11, PassesTheReferenceAndStaysWithinOnePercentOfFormEight) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_within_one_percent(MoeFormat::kW4a8, "QUADRANT_W4A8_DECODE_FORM", "8", "11", {"16"});
}

// W4A8 form 12 (form 11's kernel with the nibbles made E4M3 operands of (v + 8) x 2^-9 by a mask
// and a shift, the offset taken off each k block's sums with the activation rows' sums): within 1%
// of form 8, as form 11. A subnormal E4M3 operand flushed to zero, or an offset sum of another
// row, moves the outputs by far more.
TEST(MoeFfnW4Form12, PassesTheReferenceAndStaysWithinOnePercentOfFormEight) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_within_one_percent(MoeFormat::kW4a8, "QUADRANT_W4A8_DECODE_FORM", "8", "12", {"16"});
}

// W4A8 form 13 (form 12 with a consumer warpgroup per m64 half of the weight rows) makes the same
// operands and issues the same wgmmas on each half, and folds them in the same order: form 12's
// bits, with and without split-K and the chain.
TEST(MoeFfnW4Form13, GivesFormTwelvesBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_form_bits("13", "12");
}

// W4A8 forms 15 and 16 (form 12 with a ring of 6 and 8 stages) issue form 12's wgmmas on the same
// stages' contents and fold them in the same order: form 12's bits.
TEST(MoeFfnW4Form15, GivesFormTwelvesBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_form_bits("15", "12");
}
TEST(MoeFfnW4Form16, GivesFormTwelvesBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_form_bits("16", "12");
}

// W4A8 form 17 (form 12 with each CTA's k blocks in a rotated order) sums the same block sums in
// another order: within 1% of form 8, as form 12.
TEST(MoeFfnW4Form17, PassesTheReferenceAndStaysWithinOnePercentOfFormEight) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_within_one_percent(MoeFormat::kW4a8, "QUADRANT_W4A8_DECODE_FORM", "8", "17", {"16"});
}

// W4A8 form 18 (form 12 with the INT4 tiles stored k block major) reads the same tiles from other
// places: form 12's bits.
TEST(MoeFfnW4Form18, GivesFormTwelvesBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_form_bits("18", "12");
}

// W4A8 form 14 (form 13 on 32-row tiles from 12 rows per expert: the 120-token case's 240 rows
// over 8 experts, N up to 32) against form 8, as forms 11 and 12.
TEST(MoeFfnW4Form14, PassesTheReferenceAndStaysWithinOnePercentOfFormEight) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_within_one_percent(MoeFormat::kW4a8, "QUADRANT_W4A8_DECODE_FORM", "8", "14", {"16"});
}

// FP8 on the wgmma decode GEMM with a consumer warpgroup per m64 half (QUADRANT_FP8_DECODE_GEMM=
// wgmma2) issues the same wgmmas on each half and folds them in the same order: one warpgroup's
// bits, on 16- and 32-row tiles.
TEST(MoeFfnFp8Wgmma2, GivesOneWarpgroupsBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_same_bits(MoeFormat::kFp8, "QUADRANT_FP8_DECODE_GEMM", "wgmma2", "wgmma", {"16", "32"});
}

// FP8 on the wgmma decode GEMM (QUADRANT_FP8_DECODE_GEMM=wgmma: the E4M3 weight tiles by TMA as
// the A operand, the tokens as N) against the mma.sync kernel, at 16- and 32-row tiles (N = 32 up
// to 32 rows).
TEST(MoeFfnFp8Wgmma, PassesTheReferenceAndStaysWithinOnePercentOfMmaSync) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_within_one_percent(MoeFormat::kFp8, "QUADRANT_FP8_DECODE_GEMM", "mma", "wgmma",
                            {"16", "32"});
}

// Decode attention form 64 (the combine's loads issued at once, before the split count is
// known) merges the same partials in the same order: form 15's bits (and 14's without the
// programmatic launch), on the tensor-core kernel and the CUDA-core one (head dim 64, 256),
// with the heuristic's split count and with 12 splits requested. Form 207 (15 + 64 + 128, the
// lazy rescale: a running maximum moves only by more than 2^8) passes the reference check
// (inside check_decode_attention), also with keys planted mid-sequence whose scores jump far
// above the ones before them, so that steps rescale after the first; the outputs that differ
// from form 15's (rounding) are counted (H200, eleventh session: 237-1378 of 12,288). Form 463
// (207 + 256: the copy paths chosen once per CTA) copies the same bytes into the same slots:
// 207's bits, on pages of 16 tokens (the straight-line path) and of 24 (the per-row table
// path); forms 479 (463 + 16: E4M3 at 3 stages and 4 CTAs per SM) and 975 (463 + 512: BF16 at 2
// stages and 3 CTAs per SM) give 207's bits with 12 splits requested, and under the heuristic
// (other slots, other split counts) pass the reference check, their outputs that differ from
// 207's counted (H200, twelfth session: 479 347-380 of 12,288 at E4M3, 975 none).
TEST(DecodeAttentionForms, LoadsAtOnceGiveTheSameBitsLazyRescaleMatchesTheReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (const DecodeCase& c : {DecodeCase{DType::kBf16, 128, 16}, DecodeCase{DType::kE4m3, 128, 16},
                              DecodeCase{DType::kE4m3, 128, 24}, DecodeCase{DType::kBf16, 128, 24},
                              DecodeCase{DType::kE4m3, 64, 32}, DecodeCase{DType::kBf16, 256, 7}})
    for (const auto& [planted, splits] : {std::pair{false, 0}, std::pair{true, 12}}) {
      SCOPED_TRACE(std::string(c.kv_dtype == DType::kE4m3 ? "e4m3" : "bf16") + " d" +
                   std::to_string(c.head_dim) + (planted ? " planted" : "") + " splits " +
                   std::to_string(splits));
      auto run = [&, planted = planted, splits = splits](const char* form) {
        const ScopedEnv env(
            std::vector<std::pair<const char*, const char*>>{{"QUADRANT_DECODE_ATTN_FORM", form}});
        return check_decode_attention(c, planted, splits);
      };
      const std::vector<uint16_t> base = run("15");
      EXPECT_EQ(run("79"), base) << "form 79 (15 + 64)";
      EXPECT_EQ(run("78"), run("14")) << "form 78 (14 + 64)";
      if (c.head_dim != 128) continue;
      const std::vector<uint16_t> lazy = run("207");
      int differ = 0;
      for (size_t i = 0; i < lazy.size(); ++i) differ += lazy[i] != base[i];
      std::cout << "form 207 vs 15: " << differ << " of " << lazy.size() << " values differ\n";
      EXPECT_EQ(run("463"), lazy) << "form 463 (207 + 256)";
      // 479 (E4M3: 4 CTAs per SM) and 975 (BF16: 3 CTAs per SM) size the heuristic's split count
      // for other slots; with the split count requested they give 207's bits.
      for (const char* more : {"479", "975"}) {
        const std::vector<uint16_t> other = run(more);
        if (splits > 0) {
          EXPECT_EQ(other, lazy) << "form " << more;
          continue;
        }
        differ = 0;
        for (size_t i = 0; i < other.size(); ++i) differ += other[i] != lazy[i];
        std::cout << "form " << more << " vs 207: " << differ << " of " << other.size()
                  << " values differ\n";
      }
    }
}

// Forms 1487 (463 + 1024: the page entries of 32 steps loaded at once, one a lane, a step's
// taken by shuffle), 2511 (463 + 2048: the warps' merge weights once per (head, warp)) and 3535
// (both) keep the arithmetic: 207's bits, with the heuristic's and 12 requested splits (planted
// keys), on pages of 16 (the straight-line path, where 1024 acts) and 24 tokens (the per-row
// path), and with one split of a 3000-token sequence (47 steps a warp: a second batch of
// entries, partial) on pages of 16 and 32.
TEST(DecodeAttentionForms, PageEntriesByShuffleAndMergeOnceGive207sBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    DecodeCase c;
    bool planted;
    int splits, long_len;
  };
  for (const Case& k :
       {Case{{DType::kBf16, 128, 16}, false, 0, 0}, Case{{DType::kE4m3, 128, 16}, false, 0, 0},
        Case{{DType::kBf16, 128, 16}, true, 12, 0}, Case{{DType::kE4m3, 128, 16}, true, 12, 0},
        Case{{DType::kE4m3, 128, 24}, false, 0, 0}, Case{{DType::kBf16, 128, 24}, true, 12, 0},
        Case{{DType::kBf16, 128, 16}, false, 1, 3000},
        Case{{DType::kE4m3, 128, 16}, false, 1, 3000},
        Case{{DType::kE4m3, 128, 32}, false, 1, 3000}}) {
    SCOPED_TRACE(std::string(k.c.kv_dtype == DType::kE4m3 ? "e4m3" : "bf16") + " pages of " +
                 std::to_string(k.c.block_tokens) + (k.planted ? " planted" : "") + " splits " +
                 std::to_string(k.splits) + " long " + std::to_string(k.long_len));
    auto run = [&](const char* form) {
      const ScopedEnv env(
          std::vector<std::pair<const char*, const char*>>{{"QUADRANT_DECODE_ATTN_FORM", form}});
      return check_decode_attention(k.c, k.planted, k.splits, k.long_len);
    };
    const std::vector<uint16_t> lazy = run("207");
    for (const char* once : {"1487", "2511", "3535"}) EXPECT_EQ(run(once), lazy) << "form " << once;
  }
}

// Form 7631 (3535 + 4096: the warps' accumulators into the merge scratch as 16-byte vectors,
// their chunks permuted per head) moves the same floats to other places and reads them back
// through the same permutation: 3535's bits, at 4 and 8 query heads a CTA (16 and 32 over 4 KV
// heads: the permutation's rows are the CTA's heads), BF16 and E4M3, the heuristic's and 12
// requested splits (planted keys), pages of 16 and 24 tokens, one split of a 3000-token sequence.
TEST(DecodeAttentionForms, AccumulatorChunksPermutedGive3535sBits) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    DecodeCase c;
    bool planted;
    int splits, long_len, heads;
  };
  for (const Case& k : {Case{{DType::kBf16, 128, 16}, false, 0, 0, 16},
                        Case{{DType::kE4m3, 128, 16}, false, 0, 0, 16},
                        Case{{DType::kBf16, 128, 16}, false, 0, 0, 32},
                        Case{{DType::kE4m3, 128, 16}, false, 0, 0, 32},
                        Case{{DType::kBf16, 128, 16}, true, 12, 0, 32},
                        Case{{DType::kE4m3, 128, 16}, true, 12, 0, 32},
                        Case{{DType::kE4m3, 128, 24}, true, 12, 0, 16},
                        Case{{DType::kBf16, 128, 24}, false, 0, 0, 32},
                        Case{{DType::kE4m3, 128, 16}, false, 1, 3000, 32}}) {
    SCOPED_TRACE(std::string(k.c.kv_dtype == DType::kE4m3 ? "e4m3" : "bf16") + " pages of " +
                 std::to_string(k.c.block_tokens) + (k.planted ? " planted" : "") + " splits " +
                 std::to_string(k.splits) + " long " + std::to_string(k.long_len) + " heads " +
                 std::to_string(k.heads));
    auto run = [&](const char* form) {
      const ScopedEnv env(
          std::vector<std::pair<const char*, const char*>>{{"QUADRANT_DECODE_ATTN_FORM", form}});
      return check_decode_attention(k.c, k.planted, k.splits, k.long_len, k.heads);
    };
    EXPECT_EQ(run("7631"), run("3535")) << "form 7631";
  }
}

// Form 15823 (7631 + 8192: with fixed chunks the page entries, Q and the scales loaded before
// the length) issues the same copies and arithmetic: 7631's bits, at 4 and 8 query heads a CTA,
// BF16 and E4M3, the heuristic's and 12 requested splits (planted keys; sequences of 0, 1 and 64
// tokens whose later splits exit at once), pages of 16 (the early entries) and 24 tokens (none
// early), one split of a 3000-token sequence (a second batch of entries), and with balanced
// chunks (QUADRANT_DECODE_ATTN_MIN_CHUNK: the start depends on the length, nothing early but
// Q and the scales). Form 32207 (15823 + 16384: one output factor per head) rounds otherwise:
// it passes the reference check (inside check_decode_attention), the outputs that differ from
// 15823's are counted (H200, fourteenth session: 0-1 of 12,288-24,576), and 24015 (7631 +
// 16384, nothing loaded early) gives 32207's bits.
TEST(DecodeAttentionForms, EarlyPrologueGives7631sBitsHeadFactorMatchesTheReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    DecodeCase c;
    bool planted;
    int splits, long_len, heads;
    const char* min_chunk;
  };
  for (const Case& k : {Case{{DType::kBf16, 128, 16}, false, 0, 0, 16, nullptr},
                        Case{{DType::kE4m3, 128, 16}, false, 0, 0, 32, nullptr},
                        Case{{DType::kBf16, 128, 16}, true, 12, 0, 32, nullptr},
                        Case{{DType::kE4m3, 128, 16}, true, 12, 0, 16, nullptr},
                        Case{{DType::kE4m3, 128, 24}, true, 12, 0, 32, nullptr},
                        Case{{DType::kBf16, 128, 16}, false, 1, 3000, 32, nullptr},
                        Case{{DType::kE4m3, 128, 16}, false, 0, 0, 32, "64"}}) {
    SCOPED_TRACE(std::string(k.c.kv_dtype == DType::kE4m3 ? "e4m3" : "bf16") + " pages of " +
                 std::to_string(k.c.block_tokens) + (k.planted ? " planted" : "") + " splits " +
                 std::to_string(k.splits) + " long " + std::to_string(k.long_len) + " heads " +
                 std::to_string(k.heads) + " min chunk " + (k.min_chunk ? k.min_chunk : "-"));
    auto run = [&](const char* form) {
      std::vector<std::pair<const char*, const char*>> vars = {{"QUADRANT_DECODE_ATTN_FORM", form}};
      if (k.min_chunk) vars.emplace_back("QUADRANT_DECODE_ATTN_MIN_CHUNK", k.min_chunk);
      const ScopedEnv env(vars);
      return check_decode_attention(k.c, k.planted, k.splits, k.long_len, k.heads);
    };
    const std::vector<uint16_t> early = run("15823");
    EXPECT_EQ(early, run("7631")) << "form 15823";
    const std::vector<uint16_t> factor = run("32207");
    int differ = 0;
    for (size_t i = 0; i < factor.size(); ++i) differ += factor[i] != early[i];
    std::cout << "form 32207 vs 15823: " << differ << " of " << factor.size() << " values differ\n";
    EXPECT_EQ(run("24015"), factor) << "form 24015";
  }
}

TEST(MoeFfnWeightBytes, FollowTheFormat) {
  MoeFfnProblem p{MoeFormat::kW4a8, 16, 8, 2, 256, 512};
  const size_t n1k = 8 * 1024 * 256, n2k = 8 * 256 * 512;
  const MoeWeightBytes both = moe_ffn_weight_bytes(p);
  EXPECT_EQ(both.w1, n1k / 2);
  EXPECT_EQ(both.w1_frag, n1k / 2);
  EXPECT_EQ(both.w2_scale, n2k / 128 * 4);
  EXPECT_EQ(moe_ffn_weight_bytes(p, true, false).w1, 0u);
  p.format = MoeFormat::kFp8;
  EXPECT_EQ(moe_ffn_weight_bytes(p).total(), n1k + n2k + (n1k + n2k) / (128 * 128) * 4);
  p.hidden = 200;
  EXPECT_THROW(moe_ffn_weight_bytes(p), std::invalid_argument);
}

// ---- dense GEMM ----

class DenseGemmApi : public ::testing::TestWithParam<DType> {};

void check_dense_gemm(DType dtype) {
  const bool e4m3 = dtype == DType::kE4m3;
  DenseGemmProblem p{37, 256, 512, dtype, 1.0f};
  auto a = uniform(size_t(p.m) * p.k, 9, -1, 1), b = uniform(size_t(p.n) * p.k, 10, -0.1, 0.1);
  std::unique_ptr<Buffer> ad, bd;
  if (e4m3) {
    const double sa = 1.0 / 448, sb = 0.1 / 448;
    ad = std::make_unique<Buffer>(to_e4m3(a, sa));
    bd = std::make_unique<Buffer>(to_e4m3(b, sb));
    p.alpha = static_cast<float>(sa * sb);
  } else {
    ad = std::make_unique<Buffer>(to_bf16(a));
    bd = std::make_unique<Buffer>(to_bf16(b));
  }
  Buffer c(size_t(p.m) * p.n * 2), ws(kDenseGemmWorkspaceBytes);
  dense_gemm(p, ad->get(), bd->get(), c.get(), ws.get(), nullptr);
  cuda_ok(cudaDeviceSynchronize());
  const auto got = from_bf16(c.download<uint16_t>());
  std::vector<int64_t> rows(p.m);
  std::iota(rows.begin(), rows.end(), 0);
  const auto want = ref::gemm_rows(a.data(), b.data(), p.n, p.k, rows);
  EXPECT_LE(ref::rel_fro_error(got.data(), want.data(), got.size()), e4m3 ? 5e-2 : 1e-2);
}

TEST_P(DenseGemmApi, MatchesReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  check_dense_gemm(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Formats, DenseGemmApi, ::testing::Values(DType::kBf16, DType::kE4m3),
                         [](const auto& param_info) {
                           return std::string(param_info.param == DType::kE4m3 ? "e4m3" : "bf16");
                         });

// ---- every device present ----

// The dynamic shared-memory opt-in of a kernel and the cuBLASLt handle belong to a device: a
// process that drives several GPUs (the engine's prefill/decode pair) runs each kernel that
// needs more than 48 KB on every device, the first use on device d > 0 coming after its first
// use on device 0. Devices 0, 1, ..., then 0 again; on one GPU this is device 0 twice.
TEST(EveryDevice, RunsTheKernelsThatNeedAnOptInOrAHandle) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  int count = 0;
  cuda_ok(cudaGetDeviceCount(&count));
  std::vector<int> order(count);
  std::iota(order.begin(), order.end(), 0);
  order.push_back(0);
  for (int device : order) {
    SCOPED_TRACE("device " + std::to_string(device) + " of " + std::to_string(count));
    cuda_ok(cudaSetDevice(device));
    check_decode_attention({DType::kBf16, 128, 16});          // mma kernel, 96 KB of stages
    check_decode_attention({DType::kE4m3, 128, 16});          // 64 KB
    check_prefill_attention({DType::kBf16, 128, 128, true});  // wgmma kernel
    check_prefill_attention({DType::kE4m3, 64, 64, true});    // mma.sync kernel
    check_moe_ffn({MoeFormat::kFp8, 24, false});              // 16-row mma.sync tiles
    check_moe_ffn({MoeFormat::kBf16, 400, true});             // sm90 grouped GEMM
    check_dense_gemm(DType::kBf16);                           // cuBLASLt handle of this device
    if (::testing::Test::HasFailure()) break;
  }
  cuda_ok(cudaSetDevice(0));
}

}  // namespace
}  // namespace quadrant::kernels
