#include "calibration/engine/gpu/gpu_step_executor.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "calibration/engine/gpu/small_kernels.h"
#include "kernels/include/cuda_check.h"
#include "kernels/include/quadrant_kernels.h"
#include "kernels/src/workspace.h"

namespace quadrant::engine::gpu {

namespace k = quadrant::kernels;

FfnFormat parse_ffn_format(const std::string& name) {
  if (name == "bf16") return FfnFormat::kBf16;
  if (name == "fp8") return FfnFormat::kFp8;
  if (name == "w4a8") return FfnFormat::kW4a8;
  throw std::invalid_argument("FFN format: expected bf16, fp8 or w4a8, got '" + name + "'");
}

const char* to_string(FfnFormat f) {
  switch (f) {
    case FfnFormat::kBf16:
      return "bf16";
    case FfnFormat::kFp8:
      return "fp8";
    case FfnFormat::kW4a8:
      return "w4a8";
  }
  return "?";
}

namespace {

constexpr int kHeadDim = 128;
constexpr int64_t kGiB = int64_t(1) << 30;

std::string gib(int64_t bytes) {
  std::ostringstream s;
  s.precision(2);
  s << std::fixed << double(bytes) / double(kGiB) << " GiB";
  return s.str();
}

k::MoeFormat moe_format(FfnFormat f) {
  switch (f) {
    case FfnFormat::kFp8:
      return k::MoeFormat::kFp8;
    case FfnFormat::kW4a8:
      return k::MoeFormat::kW4a8;
    default:
      return k::MoeFormat::kBf16;
  }
}

int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// One device allocation, freed with the executor.
class DeviceBlock {
 public:
  DeviceBlock() = default;
  DeviceBlock(const DeviceBlock&) = delete;
  DeviceBlock& operator=(const DeviceBlock&) = delete;
  ~DeviceBlock() {
    if (ptr_) cudaFree(ptr_);
  }
  void* allocate(int64_t bytes) {
    if (ptr_) QK_CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    if (bytes > 0) QK_CUDA_CHECK(cudaMalloc(&ptr_, size_t(bytes)));
    bytes_ = bytes;
    return ptr_;
  }
  void* get() const { return ptr_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

// Model dimensions the forward pass uses.
struct Dims {
  int layers = 0, hidden = 0, vocab = 0, heads = 0, kv_heads = 0;
  int experts = 0, top_k = 0, inter = 0;
  int q_width() const { return heads * kHeadDim; }
  int qkv_width() const { return (heads + 2 * kv_heads) * kHeadDim; }
  int kv_width() const { return kv_heads * kHeadDim; }
};

Dims dims_of(const ModelSpec& m, int num_layers) {
  if (m.attention.kind == AttentionKind::kMla)
    throw std::invalid_argument("quadrant-engine: MLA attention is not implemented (model " +
                                m.name + ")");
  if (m.attention.head_dim != kHeadDim)
    throw std::invalid_argument("quadrant-engine: head_dim must be 128, model " + m.name + " has " +
                                std::to_string(m.attention.head_dim));
  if (m.ffn.kind != FfnKind::kMoe || m.ffn.first_dense_layers != 0 || m.ffn.num_shared_experts != 0)
    throw std::invalid_argument(
        "quadrant-engine: only MoE FFNs without dense layers or shared "
        "experts are implemented (model " +
        m.name + ")");
  Dims d;
  d.layers = num_layers > 0 ? std::min(num_layers, m.num_layers) : m.num_layers;
  d.hidden = m.hidden_size;
  d.vocab = m.vocab_size;
  d.heads = m.attention.num_heads;
  d.kv_heads = m.attention.num_kv_heads;
  d.experts = m.ffn.num_experts;
  d.top_k = m.ffn.top_k;
  d.inter = m.ffn.expert_intermediate_size;
  return d;
}

k::MoeFfnProblem moe_problem(const Dims& d, FfnFormat f, int64_t tokens) {
  k::MoeFfnProblem p;
  p.format = moe_format(f);
  p.tokens = tokens;
  p.experts = d.experts;
  p.top_k = d.top_k;
  p.hidden = d.hidden;
  p.intermediate = d.inter;
  return p;
}

// Per layer: dense weights (BF16) in one carve, the MoE weights in the kernels' layout.
struct LayerWeights {
  bf16 *attn_norm = nullptr, *qkv = nullptr, *q_norm = nullptr, *k_norm = nullptr, *o = nullptr,
       *ffn_norm = nullptr, *router = nullptr;
  k::MoeFfnWeights moe;
};

// Lays out (base null: sizes) every weight of the model.
struct WeightLayout {
  bf16 *embed = nullptr, *final_norm = nullptr, *lm_head = nullptr;
  std::vector<LayerWeights> layers;
};

WeightLayout carve_weights(const Dims& d, FfnFormat f, k::Workspace& c) {
  WeightLayout w;
  w.embed = c.take<bf16>(int64_t(d.vocab) * d.hidden);
  w.final_norm = c.take<bf16>(d.hidden);
  w.lm_head = c.take<bf16>(int64_t(d.vocab) * d.hidden);
  const k::MoeWeightBytes mb = k::moe_ffn_weight_bytes(moe_problem(d, f, 1));
  for (int l = 0; l < d.layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = c.take<bf16>(d.hidden);
    lw.qkv = c.take<bf16>(int64_t(d.qkv_width()) * d.hidden);
    lw.q_norm = c.take<bf16>(kHeadDim);
    lw.k_norm = c.take<bf16>(kHeadDim);
    lw.o = c.take<bf16>(int64_t(d.hidden) * d.q_width());
    lw.ffn_norm = c.take<bf16>(d.hidden);
    lw.router = c.take<bf16>(round_up(d.experts, 16) * d.hidden);
    lw.moe.w1 = c.take<uint8_t>(int64_t(mb.w1));
    lw.moe.w2 = c.take<uint8_t>(int64_t(mb.w2));
    lw.moe.w1_scale = mb.w1_scale ? c.take<float>(int64_t(mb.w1_scale / 4)) : nullptr;
    lw.moe.w2_scale = mb.w2_scale ? c.take<float>(int64_t(mb.w2_scale / 4)) : nullptr;
    lw.moe.w1_frag = mb.w1_frag ? c.take<uint8_t>(int64_t(mb.w1_frag)) : nullptr;
    lw.moe.w2_frag = mb.w2_frag ? c.take<uint8_t>(int64_t(mb.w2_frag)) : nullptr;
    w.layers.push_back(lw);
  }
  return w;
}

enum Part { kAttention = 0, kFfn, kGemm, kOther, kParts };
const char* const kPartNames[kParts] = {"attention", "ffn", "gemm", "other"};

// CUDA events between the parts of one eager step: mark(p) says that the work enqueued
// from now on belongs to part p.
class PartTimer {
 public:
  void init(int capacity) {
    events_.resize(capacity);
    for (auto& e : events_) QK_CUDA_CHECK(cudaEventCreate(&e));
  }
  ~PartTimer() {
    for (auto e : events_) cudaEventDestroy(e);
  }
  void begin(cudaStream_t s) {
    stream_ = s;
    used_ = 0;
    parts_.clear();
    active_ = true;
  }
  void mark(Part p) {
    if (!active_) return;
    if (used_ >= int(events_.size())) throw std::logic_error("PartTimer: too few events");
    QK_CUDA_CHECK(cudaEventRecord(events_[used_], stream_));
    parts_.push_back(p);
    ++used_;
  }
  // After the stream has finished: nanoseconds per part (the last mark closes the step).
  std::vector<std::pair<std::string, int64_t>> totals() {
    double ms[kParts] = {};
    for (int i = 0; i + 1 < used_; ++i) {
      float e = 0;
      QK_CUDA_CHECK(cudaEventElapsedTime(&e, events_[i], events_[i + 1]));
      ms[parts_[i]] += e;
    }
    active_ = false;
    std::vector<std::pair<std::string, int64_t>> out;
    for (int p = 0; p < kParts; ++p)
      out.emplace_back(kPartNames[p], int64_t(std::llround(ms[p] * 1e6)));
    return out;
  }
  bool active() const { return active_; }

 private:
  std::vector<cudaEvent_t> events_;
  std::vector<Part> parts_;
  cudaStream_t stream_ = nullptr;
  int used_ = 0;
  bool active_ = false;
};

// Prompt token of a sequence at a position: a counter hash, the same on every run.
int32_t derived_token(uint64_t seed, uint64_t seq, int64_t pos, int vocab) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + seq * 0xD1B54A32D192ED03ull + uint64_t(pos);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return int32_t(z % uint64_t(vocab));
}

// Decode batch buckets with a captured graph, and the KV-length bounds they are captured for.
std::vector<int> decode_buckets(int max_seqs) {
  return quadrant_engine_graph_buckets(max_seqs);
}
std::vector<int> kv_bounds(int max_model_len, int block_tokens) {
  std::vector<int> b;
  for (int x = 1024; x < max_model_len; x *= 2) b.push_back(int(round_up(x, block_tokens)));
  b.push_back(int(round_up(max_model_len, block_tokens)));
  return b;
}

}  // namespace

std::string MemoryPlan::describe() const {
  std::ostringstream s;
  s << "weights " << gib(weights) << ", workspace " << gib(workspace) << ", KV cache "
    << gib(kv_cache) << " (" << kv_blocks << " blocks of " << kv_block_bytes << " bytes), GPU free "
    << gib(gpu_free) << " of " << gib(gpu_total);
  return s.str();
}

int64_t weight_bytes(const ModelSpec& model, FfnFormat format, int num_layers) {
  k::Workspace c;
  carve_weights(dims_of(model, num_layers), format, c);
  return int64_t(c.bytes());
}

// ---------------------------------------------------------------------------------------
struct GpuStepExecutor::Impl {
  ModelSpec model;
  GpuEngineOptions opt;
  Dims d;
  MemoryPlan mem;
  std::string gpu_name;

  DeviceBlock weight_block, work_block, kv_block;
  WeightLayout w;
  bf16 *k_cache = nullptr, *v_cache = nullptr;  // [layers][blocks][block_tokens][kv_heads][128]
  int64_t layer_kv_elems = 0;

  // Workspace arrays.
  int max_rows = 0;        // activation rows (max_step_tokens rounded up to 16)
  int max_samples = 0;     // sampled rows of one step
  int64_t max_gather = 0;  // gathered K/V tokens of one prefill attention call
  int64_t max_gather_total() const { return 8 * max_gather; }  // of one step
  // cuBLASLt wants n a multiple of 16: the router GEMM has padded rows (Mixtral's 8
  // experts), its logits are compacted to [tokens][experts] for the routing kernel.
  int router_width() const { return int(round_up(d.experts, 16)); }
  bf16 *x = nullptr, *h = nullptr, *qkv = nullptr, *q = nullptr, *attn = nullptr, *delta = nullptr,
       *router = nullptr, *router_logits = nullptr, *hs = nullptr, *logits = nullptr,
       *kbuf = nullptr, *vbuf = nullptr;
  void *moe_ws = nullptr, *decode_ws = nullptr, *lt_ws = nullptr, *prefill_ws = nullptr;
  // Step metadata (device), fixed regions so that graphs see fixed addresses.
  int32_t *d_tokens = nullptr, *d_positions = nullptr, *d_slots = nullptr, *d_sample_rows = nullptr,
          *d_kv_lens = nullptr, *d_block_table = nullptr, *d_gather = nullptr, *d_sampled = nullptr;
  int64_t block_table_capacity = 0;
  // Pinned host mirrors.
  int32_t* h_meta = nullptr;
  int64_t h_meta_count = 0;
  int32_t* h_sampled = nullptr;
  // KV transfer (prefill/decode disaggregation): block pairs of one sequence.
  int32_t* d_transfer = nullptr;
  int32_t* h_transfer = nullptr;
  int64_t transfer_capacity = 0;  // pairs
  int device_id = 0;

  cudaStream_t stream = nullptr;
  cudaEvent_t ev_start = nullptr, ev_end = nullptr;
  PartTimer parts;

  std::vector<int> buckets, bounds;
  std::map<std::pair<int, int>, cudaGraphExec_t> graphs;  // (bucket, bound)

  std::map<uint64_t, int32_t> last_token;
  std::map<uint64_t, std::vector<int32_t>> prompts;
  std::vector<int32_t> sampled;
  int last_samples = 0;
  int64_t step_count = 0, graph_step_count = 0;
  int64_t breakdown_phase = 0;  // steps since set_breakdown_every

  // One step's host-side layout.
  struct PrefillGroup {
    int row0 = 0;         // first q row of the group
    int64_t gather0 = 0;  // first gather slot
    int64_t gather_count = 0;
    std::vector<int64_t> q_lens, prefix_lens;
  };
  struct StepShape {
    int prefill_tokens = 0, decode = 0, samples = 0;
    bool samples_all = false;
    int kv_bound = 0;  // decode attention's host bound (a multiple of block_tokens)
    std::vector<PrefillGroup> groups;
    int64_t gather_total = 0;
  };

  Impl(const ModelSpec& m, const GpuEngineOptions& o)
      : model(m), opt(o), d(dims_of(m, o.num_layers)) {}

  ~Impl() {
    for (auto& [key, g] : graphs) cudaGraphExecDestroy(g);
    if (h_meta) cudaFreeHost(h_meta);
    if (h_sampled) cudaFreeHost(h_sampled);
    if (h_transfer) cudaFreeHost(h_transfer);
    if (ev_start) cudaEventDestroy(ev_start);
    if (ev_end) cudaEventDestroy(ev_end);
    if (stream) cudaStreamDestroy(stream);
  }

  int64_t rows_for_gemm(int64_t m) const { return round_up(m, 16); }

  void validate_options() const {
    auto need = [](bool ok, const std::string& what) {
      if (!ok) throw std::invalid_argument("quadrant-engine options: " + what);
    };
    need(opt.block_tokens >= 1 && opt.block_tokens <= 256, "block_tokens must be in [1, 256]");
    need(opt.max_decode_seqs >= 1, "max_decode_seqs must be >= 1");
    need(opt.max_step_tokens >= opt.max_decode_seqs, "max_step_tokens must be >= max_decode_seqs");
    need(opt.max_model_len >= opt.block_tokens, "max_model_len must be >= block_tokens");
    need(opt.kv_memory_fraction > 0 && opt.kv_memory_fraction <= 1,
         "kv_memory_fraction must be in (0, 1]");
  }

  // Every workspace array, laid out on `base` (null: sizing pass).
  int64_t carve_workspace(void* base) {
    k::Workspace c(base);
    const int64_t r = max_rows;
    x = c.take<bf16>(r * d.hidden);
    h = c.take<bf16>(r * d.hidden);
    qkv = c.take<bf16>(r * d.qkv_width());
    q = c.take<bf16>(r * d.q_width());
    attn = c.take<bf16>(r * d.q_width());
    delta = c.take<bf16>(r * d.hidden);
    router = c.take<bf16>(r * router_width());
    router_logits = router_width() == d.experts ? router : c.take<bf16>(r * d.experts);
    hs = c.take<bf16>(int64_t(max_samples) * d.hidden);
    logits = c.take<bf16>(int64_t(max_samples) * d.vocab);
    kbuf = c.take<bf16>(max_gather * d.kv_width());
    vbuf = c.take<bf16>(max_gather * d.kv_width());
    // Covers every smaller step, whichever GEMM path it takes.
    moe_ws = c.take<uint8_t>(
        int64_t(k::moe_ffn_workspace_bytes(moe_problem(d, opt.ffn_format, max_rows))));
    prefill_ws = c.take<uint8_t>(int64_t(
        k::prefill_attention_workspace_bound(prefill_problem({}), max_rows, max_rows, max_gather)));
    size_t dec_bytes = 0;
    for (int b = 1; b <= opt.max_decode_seqs; ++b)
      for (int bound : bounds)
        dec_bytes =
            std::max(dec_bytes, k::decode_attention_workspace_bytes(decode_problem(b, bound)));
    decode_ws = c.take<uint8_t>(int64_t(dec_bytes));
    lt_ws = c.take<uint8_t>(int64_t(k::kDenseGemmWorkspaceBytes));
    d_tokens = c.take<int32_t>(r);
    d_positions = c.take<int32_t>(r);
    d_slots = c.take<int32_t>(r);
    d_sample_rows = c.take<int32_t>(max_samples);
    d_kv_lens = c.take<int32_t>(opt.max_decode_seqs);
    block_table_capacity = int64_t(opt.max_decode_seqs) * (bounds.back() / opt.block_tokens);
    d_block_table = c.take<int32_t>(block_table_capacity);
    d_gather = c.take<int32_t>(max_gather_total());
    d_sampled = c.take<int32_t>(max_samples);
    transfer_capacity = bounds.back() / opt.block_tokens;
    d_transfer = c.take<int32_t>(2 * transfer_capacity);
    return int64_t(c.bytes());
  }

  k::DecodeAttentionProblem decode_problem(int batch, int bound) const {
    k::DecodeAttentionProblem p;
    p.batch = batch;
    p.heads = d.heads;
    p.kv_heads = d.kv_heads;
    p.head_dim = kHeadDim;
    p.block_tokens = opt.block_tokens;
    p.max_blocks = bound / opt.block_tokens;
    p.max_kv_len = bound;
    p.kv_dtype = k::DType::kBf16;
    return p;
  }

  void build() {
    validate_options();
    buckets = decode_buckets(opt.max_decode_seqs);
    bounds = kv_bounds(opt.max_model_len, opt.block_tokens);
    max_rows = int(round_up(opt.max_step_tokens, 16));
    max_samples = max_rows;
    // One prefill attention call gathers at most this many K/V tokens; a chunk after the
    // longest prefix always fits alone.
    max_gather = int64_t(opt.max_model_len) + opt.max_step_tokens;

    if (opt.device >= 0) QK_CUDA_CHECK(cudaSetDevice(opt.device));
    QK_CUDA_CHECK(cudaGetDevice(&device_id));
    cudaDeviceProp prop{};
    QK_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_id));
    gpu_name = prop.name;
    size_t free_b = 0, total_b = 0;
    QK_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    mem.gpu_free = int64_t(free_b);
    mem.gpu_total = int64_t(total_b);

    k::Workspace wc;
    carve_weights(d, opt.ffn_format, wc);
    mem.weights = int64_t(wc.bytes());
    // + the CUDA graphs and cuBLASLt's own: an allowance
    mem.workspace = carve_workspace(nullptr) + (int64_t(256) << 20);
    mem.kv_block_bytes = int64_t(d.layers) * 2 * opt.block_tokens * d.kv_width() * 2;
    const int64_t min_blocks = round_up(opt.max_model_len, opt.block_tokens) / opt.block_tokens;
    const int64_t left = mem.gpu_free - mem.weights - mem.workspace - (int64_t(512) << 20);
    int64_t blocks =
        left > 0 ? int64_t(double(left) * opt.kv_memory_fraction) / mem.kv_block_bytes : 0;
    if (opt.kv_blocks_limit > 0) blocks = std::min(blocks, opt.kv_blocks_limit);
    blocks = std::min<int64_t>(blocks, 0x7fffffff / opt.block_tokens - 1);
    if (blocks < min_blocks) {
      std::ostringstream s;
      s << "quadrant-engine: " << model.name << " with its FFN in " << to_string(opt.ffn_format)
        << " does not fit " << gpu_name << ": weights " << gib(mem.weights) << " + workspace "
        << gib(mem.workspace) << " + KV cache for one " << opt.max_model_len << "-token sequence "
        << gib(min_blocks * mem.kv_block_bytes) << " > free " << gib(mem.gpu_free) << " (of "
        << gib(mem.gpu_total) << ")";
      throw std::runtime_error(s.str());
    }
    mem.kv_blocks = int32_t(blocks);
    mem.kv_cache = blocks * mem.kv_block_bytes;

    QK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    QK_CUDA_CHECK(cudaEventCreate(&ev_start));
    QK_CUDA_CHECK(cudaEventCreate(&ev_end));
    parts.init(16 + 16 * d.layers);

    k::Workspace wcarve(weight_block.allocate(mem.weights));
    w = carve_weights(d, opt.ffn_format, wcarve);
    fill_weights();
    carve_workspace(work_block.allocate(carve_workspace(nullptr)));
    QK_CUDA_CHECK(cudaMemsetAsync(work_block.get(), 0, size_t(work_block.bytes()), stream));
    layer_kv_elems = blocks * opt.block_tokens * d.kv_width();
    bf16* kv = static_cast<bf16*>(kv_block.allocate(int64_t(d.layers) * 2 * layer_kv_elems * 2));
    k_cache = kv;
    v_cache = kv + int64_t(d.layers) * layer_kv_elems;
    // Zeros, not leftovers: a benchmark attends blocks no prefill wrote, and a NaN there
    // would reach the routing.
    QK_CUDA_CHECK(cudaMemsetAsync(kv, 0, size_t(kv_block.bytes()), stream));
    h_meta_count = 3 * int64_t(max_rows) + max_samples + opt.max_decode_seqs +
                   block_table_capacity + max_gather_total();
    QK_CUDA_CHECK(cudaMallocHost(&h_meta, size_t(h_meta_count) * sizeof(int32_t)));
    QK_CUDA_CHECK(cudaMallocHost(&h_sampled, size_t(max_samples) * sizeof(int32_t)));
    QK_CUDA_CHECK(cudaMallocHost(&h_transfer, size_t(2 * transfer_capacity) * sizeof(int32_t)));
    QK_CUDA_CHECK(cudaStreamSynchronize(stream));
    warm_up();
  }

  // Seeded random weights: uniform with variance 1 / fan_in for projections (activations
  // keep their scale), norms near 1, the embedding O(1).
  void fill_weights() {
    uint64_t seed = opt.seed * 1000003;
    auto fill = [&](bf16* p, int64_t count, float amp) {
      k::fill_random_bf16(p, size_t(count), ++seed, -amp, amp, stream);
    };
    auto fill_norm = [&](bf16* p, int64_t count) {
      k::fill_random_bf16(p, size_t(count), ++seed, 0.9f, 1.1f, stream);
    };
    const float a_h = std::sqrt(3.0f / float(d.hidden)), a_q = std::sqrt(3.0f / float(d.q_width()));
    fill(w.embed, int64_t(d.vocab) * d.hidden, 1.0f);
    fill_norm(w.final_norm, d.hidden);
    fill(w.lm_head, int64_t(d.vocab) * d.hidden, a_h);
    for (int l = 0; l < d.layers; ++l) {
      LayerWeights& lw = w.layers[l];
      fill_norm(lw.attn_norm, d.hidden);
      fill(lw.qkv, int64_t(d.qkv_width()) * d.hidden, a_h);
      fill_norm(lw.q_norm, kHeadDim);
      fill_norm(lw.k_norm, kHeadDim);
      fill(lw.o, int64_t(d.hidden) * d.q_width(), a_q);
      fill_norm(lw.ffn_norm, d.hidden);
      fill(lw.router, round_up(d.experts, 16) * d.hidden, a_h);
      k::moe_ffn_fill_weights(moe_problem(d, opt.ffn_format, 1), lw.moe, ++seed, stream);
    }
  }

  bf16* layer_k(int l) const { return k_cache + int64_t(l) * layer_kv_elems; }
  bf16* layer_v(int l) const { return v_cache + int64_t(l) * layer_kv_elems; }

  void gemm(int64_t m, int64_t n, int64_t kk, const bf16* a, const bf16* b, bf16* c, bool exact) {
    k::DenseGemmProblem p;
    p.m = exact ? m : rows_for_gemm(m);
    p.n = n;
    p.k = kk;
    k::dense_gemm(p, a, b, c, lt_ws, stream);
  }

  // The forward pass of one step on metadata already on the device. exact_m: GEMM row
  // counts as given (graphs: the bucket); otherwise rounded up to 16 so that eager steps
  // reuse a bounded set of cuBLASLt plans (the extra rows are junk, never read).
  void forward(const StepShape& s, bool exact_m) {
    const int tokens = s.prefill_tokens + s.decode;
    const int hidden = d.hidden;
    parts.mark(kOther);
    gather_rows(w.embed, d_tokens, tokens, hidden, x, stream);
    rmsnorm(x, w.layers[0].attn_norm, tokens, hidden, opt.norm_eps, h, stream);
    for (int l = 0; l < d.layers; ++l) {
      const LayerWeights& lw = w.layers[l];
      parts.mark(kGemm);
      gemm(tokens, d.qkv_width(), hidden, h, lw.qkv, qkv, exact_m);
      parts.mark(kAttention);
      qk_norm_rope(qkv, d_positions, tokens, d.heads, d.kv_heads, kHeadDim,
                   opt.qk_norm ? lw.q_norm : nullptr, opt.qk_norm ? lw.k_norm : nullptr,
                   opt.norm_eps, opt.rope_theta, q, stream);
      kv_cache_write(qkv, d_slots, tokens, d.heads, d.kv_heads, kHeadDim, layer_k(l), layer_v(l),
                     stream);
      for (const PrefillGroup& g : s.groups) {
        kv_cache_gather(layer_k(l), layer_v(l), d_gather + g.gather0, int(g.gather_count),
                        d.kv_heads, kHeadDim, kbuf, vbuf, stream);
        k::PrefillAttentionProblem pp = prefill_problem(g);
        k::PrefillAttentionBuffers pb;
        pb.q = q + int64_t(g.row0) * d.q_width();
        pb.k = kbuf;
        pb.v = vbuf;
        pb.out = attn + int64_t(g.row0) * d.q_width();
        pb.workspace = prefill_ws;
        k::prefill_attention(pp, pb, stream);
      }
      if (s.decode > 0) {
        k::DecodeAttentionBuffers db;
        db.q = q + int64_t(s.prefill_tokens) * d.q_width();
        db.k_cache = layer_k(l);
        db.v_cache = layer_v(l);
        db.block_table = d_block_table;
        db.kv_lens = d_kv_lens;
        db.out = attn + int64_t(s.prefill_tokens) * d.q_width();
        db.workspace = decode_ws;
        k::decode_attention(decode_problem(s.decode, s.kv_bound), db, stream);
      }
      parts.mark(kGemm);
      gemm(tokens, hidden, d.q_width(), attn, lw.o, delta, exact_m);
      parts.mark(kOther);
      add_rmsnorm(x, delta, lw.ffn_norm, tokens, hidden, opt.norm_eps, h, stream);
      parts.mark(kFfn);
      gemm(tokens, router_width(), hidden, h, lw.router, router, exact_m);
      if (router_logits != router)
        QK_CUDA_CHECK(cudaMemcpy2DAsync(router_logits, size_t(d.experts) * 2, router,
                                        size_t(router_width()) * 2, size_t(d.experts) * 2,
                                        size_t(tokens), cudaMemcpyDeviceToDevice, stream));
      if (opt.pinned_routing)
        pin_router_logits(router_logits, d_tokens, d_positions, tokens, d.experts, d.top_k,
                          opt.seed * 1000 + uint64_t(l), stream);
      k::MoeFfnBuffers mb;
      mb.x = h;
      mb.router_logits = router_logits;
      mb.logits_bf16 = true;
      mb.out = delta;
      mb.workspace = moe_ws;
      k::moe_ffn(moe_problem(d, opt.ffn_format, tokens), lw.moe, mb, stream);
      parts.mark(kOther);
      const bf16* next_norm = l + 1 < d.layers ? w.layers[l + 1].attn_norm : w.final_norm;
      add_rmsnorm(x, delta, next_norm, tokens, hidden, opt.norm_eps, h, stream);
    }
    if (s.samples > 0) {  // a step of prompt chunks that end no prompt samples nothing
      const bf16* rows = h;
      if (!s.samples_all) {
        gather_rows(h, d_sample_rows, s.samples, hidden, hs, stream);
        rows = hs;
      }
      parts.mark(kGemm);
      gemm(s.samples, d.vocab, hidden, rows, w.lm_head, logits, exact_m);
      parts.mark(kOther);
      argmax_rows(logits, s.samples, d.vocab, d_sampled, stream);
    }
    parts.mark(kOther);
  }

  k::PrefillAttentionProblem prefill_problem(const PrefillGroup& g) const {
    k::PrefillAttentionProblem p;
    p.dtype = k::DType::kBf16;
    p.heads = d.heads;
    p.kv_heads = d.kv_heads;
    p.head_dim = kHeadDim;
    p.v_head_dim = kHeadDim;
    p.q_lens = g.q_lens;
    p.prefix_lens = g.prefix_lens;
    return p;
  }

  int bucket_for(int n) const {
    for (int b : buckets)
      if (b >= n) return b;
    return buckets.back();
  }
  int bound_for(int longest) const {
    for (int b : bounds)
      if (b >= longest) return b;
    return bounds.back();
  }

  // Host metadata regions (offsets into h_meta, mirroring the device regions).
  int32_t* meta_tokens() { return h_meta; }
  int32_t* meta_positions() { return h_meta + max_rows; }
  int32_t* meta_slots() { return h_meta + 2 * int64_t(max_rows); }
  int32_t* meta_sample_rows() { return h_meta + 3 * int64_t(max_rows); }
  int32_t* meta_kv_lens() { return meta_sample_rows() + max_samples; }
  int32_t* meta_block_table() { return meta_kv_lens() + opt.max_decode_seqs; }
  int32_t* meta_gather() { return meta_block_table() + block_table_capacity; }

  void upload(int32_t* dst, const int32_t* src, int64_t count) {
    if (count > 0)
      QK_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(count) * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream));
  }

  int32_t prompt_token(uint64_t seq, int64_t pos) const {
    auto it = prompts.find(seq);
    if (it != prompts.end()) {
      if (pos >= int64_t(it->second.size()))
        throw std::invalid_argument("step plan: sequence " + std::to_string(seq) +
                                    " has a prompt of " + std::to_string(it->second.size()) +
                                    " tokens, chunk reaches " + std::to_string(pos + 1));
      return it->second[size_t(pos)];
    }
    return derived_token(opt.seed, seq, pos, d.vocab);
  }

  int32_t slot_of(const std::vector<int32_t>& blocks, int64_t pos) const {
    return blocks[size_t(pos / opt.block_tokens)] * opt.block_tokens +
           int32_t(pos % opt.block_tokens);
  }

  void check_blocks(uint64_t seq, const std::vector<int32_t>& blocks, int64_t tokens) const {
    const int64_t need = (tokens + opt.block_tokens - 1) / opt.block_tokens;
    if (int64_t(blocks.size()) < need)
      throw std::invalid_argument("step plan: sequence " + std::to_string(seq) + " needs " +
                                  std::to_string(need) + " KV blocks for " +
                                  std::to_string(tokens) + " tokens, got " +
                                  std::to_string(blocks.size()));
    for (int64_t j = 0; j < need; ++j)
      if (blocks[size_t(j)] < 0 || blocks[size_t(j)] >= mem.kv_blocks)
        throw std::invalid_argument("step plan: sequence " + std::to_string(seq) + " KV block " +
                                    std::to_string(blocks[size_t(j)]) + " outside [0, " +
                                    std::to_string(mem.kv_blocks) + ")");
    if (tokens > opt.max_model_len)
      throw std::invalid_argument("step plan: sequence " + std::to_string(seq) + " reaches " +
                                  std::to_string(tokens) + " tokens, max_model_len is " +
                                  std::to_string(opt.max_model_len));
  }

  // Fills the host metadata of a step; graph: decode-only padded to `bucket`.
  StepShape layout(const StepPlan& plan, int bucket) {
    // The limits first: the host metadata arrays hold max_step_tokens rows.
    int64_t tokens = int64_t(plan.decode.size());
    for (const PrefillChunk& c : plan.prefill) tokens += std::max(0, c.tokens);
    if (tokens > opt.max_step_tokens)
      throw std::invalid_argument("step plan: " + std::to_string(tokens) +
                                  " tokens, max_step_tokens is " +
                                  std::to_string(opt.max_step_tokens));
    if (int64_t(plan.decode.size()) > opt.max_decode_seqs)
      throw std::invalid_argument("step plan: " + std::to_string(plan.decode.size()) +
                                  " decode sequences, max_decode_seqs is " +
                                  std::to_string(opt.max_decode_seqs));
    StepShape s;
    int row = 0, samples = 0;
    for (const PrefillChunk& c : plan.prefill) {
      if (c.tokens <= 0 || c.start < 0)
        throw std::invalid_argument(
            "step plan: prefill chunk of sequence " + std::to_string(c.seq) + " has start " +
            std::to_string(c.start) + " and " + std::to_string(c.tokens) + " tokens");
      check_blocks(c.seq, c.blocks, int64_t(c.start) + c.tokens);
      for (int i = 0; i < c.tokens; ++i, ++row) {
        const int64_t pos = int64_t(c.start) + i;
        meta_tokens()[row] = prompt_token(c.seq, pos);
        meta_positions()[row] = int32_t(pos);
        meta_slots()[row] = slot_of(c.blocks, pos);
      }
      if (c.last) meta_sample_rows()[samples++] = row - 1;
      // Group chunks for one prefill attention call while their gathered K/V fit.
      const int64_t kv = int64_t(c.start) + c.tokens;
      if (s.gather_total + kv > max_gather_total())
        throw std::invalid_argument("step plan: the prefill chunks of one step attend " +
                                    std::to_string(s.gather_total + kv) +
                                    " tokens in all, the engine gathers at most " +
                                    std::to_string(max_gather_total()));
      if (s.groups.empty() || s.groups.back().gather_count + kv > max_gather)
        s.groups.push_back({row - c.tokens, s.gather_total, 0, {}, {}});
      PrefillGroup& g = s.groups.back();
      for (int64_t pos = 0; pos < kv; ++pos)
        meta_gather()[s.gather_total + pos] = slot_of(c.blocks, pos);
      g.gather_count += kv;
      s.gather_total += kv;
      g.q_lens.push_back(c.tokens);
      g.prefix_lens.push_back(c.start);
    }
    s.prefill_tokens = row;
    int longest = 1;
    for (const DecodeSeq& ds : plan.decode) longest = std::max(longest, ds.kv_len + 1);
    s.kv_bound = bound_for(longest);
    const int stride = s.kv_bound / opt.block_tokens;
    const int n = int(plan.decode.size());
    s.decode = bucket > 0 ? bucket : n;
    for (int b = 0; b < s.decode; ++b, ++row) {
      int32_t* table = meta_block_table() + int64_t(b) * stride;
      if (b >= n) {  // padding of a graph bucket: no KV, writes none
        meta_tokens()[row] = 0;
        meta_positions()[row] = 0;
        meta_slots()[row] = -1;
        meta_kv_lens()[b] = 0;
        std::fill(table, table + stride, 0);
        continue;
      }
      const DecodeSeq& ds = plan.decode[size_t(b)];
      check_blocks(ds.seq, ds.blocks, int64_t(ds.kv_len) + 1);
      auto it = last_token.find(ds.seq);
      if (it == last_token.end())
        throw std::invalid_argument("step plan: decode of sequence " + std::to_string(ds.seq) +
                                    " before its prompt has ended (no sampled token)");
      meta_tokens()[row] = it->second;
      meta_positions()[row] = ds.kv_len;
      meta_slots()[row] = slot_of(ds.blocks, ds.kv_len);
      meta_kv_lens()[b] = ds.kv_len + 1;
      const int used = (ds.kv_len + 1 + opt.block_tokens - 1) / opt.block_tokens;
      std::copy(ds.blocks.begin(), ds.blocks.begin() + used, table);
      std::fill(table + used, table + stride, 0);
      if (bucket == 0) meta_sample_rows()[samples] = row;
      ++samples;
    }
    s.samples_all = bucket > 0 || (s.prefill_tokens == 0 && samples == s.decode);
    s.samples = s.samples_all ? s.decode : samples;
    // Buffers: the padded bucket's rows are sampled too (and ignored).
    upload(d_tokens, meta_tokens(), row);
    upload(d_positions, meta_positions(), row);
    upload(d_slots, meta_slots(), row);
    if (!s.samples_all) upload(d_sample_rows, meta_sample_rows(), s.samples);
    if (s.decode > 0) {
      upload(d_kv_lens, meta_kv_lens(), s.decode);
      upload(d_block_table, meta_block_table(), int64_t(s.decode) * stride);
    }
    upload(d_gather, meta_gather(), s.gather_total);
    last_samples = samples;
    return s;
  }

  cudaGraphExec_t capture(const StepShape& s) {
    cudaGraph_t graph = nullptr;
    QK_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    try {
      forward(s, true);
    } catch (...) {
      cudaStreamEndCapture(stream, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    QK_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec = nullptr;
    QK_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    QK_CUDA_CHECK(cudaGraphDestroy(graph));
    return exec;
  }

  // Every decode bucket once eagerly (cuBLASLt plans are made outside capture), then its
  // graph per KV bound; a prefill chunk of every 16-row size to make the eager plans.
  void warm_up() {
    StepPlan empty;
    for (int b : buckets) {
      StepShape s = layout(empty, b);
      s.kv_bound = bounds.front();
      forward(s, true);
      if (opt.use_graphs)
        for (int bound : bounds) {
          s.kv_bound = bound;
          graphs[{b, bound}] = capture(s);
        }
    }
    QK_CUDA_CHECK(cudaStreamSynchronize(stream));
    // The eager GEMM shapes (rows rounded up to 16).
    for (int64_t m = 16; m <= max_rows; m += 16) {
      gemm(m, d.qkv_width(), d.hidden, h, w.layers[0].qkv, qkv, true);
      gemm(m, d.hidden, d.q_width(), attn, w.layers[0].o, delta, true);
      gemm(m, router_width(), d.hidden, h, w.layers[0].router, router, true);
      gemm(m, d.vocab, d.hidden, h, w.lm_head, logits, true);
    }
    QK_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  // This executor is the destination: src's blocks (every layer) into ours.
  StepTiming receive_kv(const Impl& src, const std::vector<int32_t>& src_blocks,
                        const std::vector<int32_t>& dst_blocks, int32_t tokens) {
    const auto wall0 = std::chrono::steady_clock::now();
    if (src.d.layers != d.layers || src.d.kv_width() != d.kv_width() ||
        src.opt.block_tokens != opt.block_tokens)
      throw std::invalid_argument("transfer_kv: the executors run different models or block sizes");
    if (tokens < 1 || tokens > opt.max_model_len)
      throw std::invalid_argument("transfer_kv: " + std::to_string(tokens) +
                                  " tokens, the destination holds at most " +
                                  std::to_string(opt.max_model_len));
    src.check_blocks(0, src_blocks, tokens);
    check_blocks(0, dst_blocks, tokens);
    const int count = int((tokens + opt.block_tokens - 1) / opt.block_tokens);
    QK_CUDA_CHECK(cudaSetDevice(device_id));
    if (src.device_id != device_id) {
      int can = 0;
      QK_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, device_id, src.device_id));
      if (!can)
        throw std::runtime_error("transfer_kv: GPU " + std::to_string(device_id) +
                                 " cannot read GPU " + std::to_string(src.device_id) +
                                 " (no peer access)");
      const cudaError_t e = cudaDeviceEnablePeerAccess(src.device_id, 0);
      if (e == cudaErrorPeerAccessAlreadyEnabled)
        (void)cudaGetLastError();  // enabled by an earlier transfer
      else
        QK_CUDA_CHECK(e);
    }
    for (int i = 0; i < count; ++i) {
      h_transfer[2 * i] = src_blocks[size_t(i)];
      h_transfer[2 * i + 1] = dst_blocks[size_t(i)];
    }
    upload(d_transfer, h_transfer, 2 * int64_t(count));
    QK_CUDA_CHECK(cudaEventRecord(ev_start, stream));
    kv_copy_blocks(src.k_cache, src.v_cache, src.layer_kv_elems, k_cache, v_cache, layer_kv_elems,
                   d_transfer, count, d.layers, int64_t(opt.block_tokens) * d.kv_width(), stream);
    QK_CUDA_CHECK(cudaEventRecord(ev_end, stream));
    QK_CUDA_CHECK(cudaStreamSynchronize(stream));
    float ms = 0;
    QK_CUDA_CHECK(cudaEventElapsedTime(&ms, ev_start, ev_end));
    StepTiming t;
    t.gpu_ns = int64_t(std::llround(double(ms) * 1e6));
    t.wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - wall0)
                    .count();
    return t;
  }

  StepTiming execute(const StepPlan& plan) {
    const auto wall0 = std::chrono::steady_clock::now();
    StepTiming t;
    sampled.clear();
    if (plan.empty()) return t;
    QK_CUDA_CHECK(cudaSetDevice(device_id));
    ++step_count;
    ++breakdown_phase;
    const bool breakdown = opt.breakdown_every > 0 && breakdown_phase % opt.breakdown_every == 0;
    const bool decode_only = plan.prefill.empty();
    const bool graph =
        opt.use_graphs && decode_only && !breakdown && int(plan.decode.size()) <= buckets.back();
    const int bucket = graph ? bucket_for(int(plan.decode.size())) : 0;
    StepShape s = layout(plan, bucket);
    if (breakdown) parts.begin(stream);
    QK_CUDA_CHECK(cudaEventRecord(ev_start, stream));
    if (graph) {
      QK_CUDA_CHECK(cudaGraphLaunch(graphs.at({bucket, s.kv_bound}), stream));
      ++graph_step_count;
    } else {
      forward(s, false);
    }
    QK_CUDA_CHECK(cudaEventRecord(ev_end, stream));
    QK_CUDA_CHECK(cudaMemcpyAsync(h_sampled, d_sampled, size_t(s.samples) * sizeof(int32_t),
                                  cudaMemcpyDeviceToHost, stream));
    QK_CUDA_CHECK(cudaStreamSynchronize(stream));
    float ms = 0;
    QK_CUDA_CHECK(cudaEventElapsedTime(&ms, ev_start, ev_end));
    t.gpu_ns = int64_t(std::llround(double(ms) * 1e6));
    if (breakdown) t.parts_ns = parts.totals();
    // Sampled tokens: prefill chunks that end their prompt, then decode sequences.
    int i = 0;
    for (const PrefillChunk& c : plan.prefill)
      if (c.last) {
        last_token[c.seq] = h_sampled[i];
        sampled.push_back(h_sampled[i++]);
      }
    for (const DecodeSeq& ds : plan.decode) {
      last_token[ds.seq] = h_sampled[i];
      sampled.push_back(h_sampled[i++]);
    }
    t.wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - wall0)
                    .count();
    return t;
  }
};

// ---------------------------------------------------------------------------------------
GpuStepExecutor::GpuStepExecutor(const ModelSpec& model, const GpuEngineOptions& options)
    : impl_(std::make_unique<Impl>(model, options)) {
  impl_->build();
}

GpuStepExecutor::~GpuStepExecutor() = default;

ExecutorCapacity GpuStepExecutor::capacity() const {
  ExecutorCapacity c;
  c.kv_blocks = impl_->mem.kv_blocks;
  c.block_tokens = impl_->opt.block_tokens;
  c.max_step_tokens = impl_->opt.max_step_tokens;
  c.max_decode_seqs = impl_->opt.max_decode_seqs;
  return c;
}

StepTiming GpuStepExecutor::execute(const StepPlan& plan) {
  return impl_->execute(plan);
}

void GpuStepExecutor::release(uint64_t seq) {
  impl_->last_token.erase(seq);
  impl_->prompts.erase(seq);
}

std::string GpuStepExecutor::describe() const {
  const Impl& m = *impl_;
  std::ostringstream s;
  s << m.model.name << " (" << m.d.layers << " layers), MoE FFN " << to_string(m.opt.ffn_format)
    << "; attention projections, router and LM head BF16 (cuBLASLt); KV cache BF16; on "
    << m.gpu_name << "; " << m.mem.describe()
    << (m.opt.pinned_routing ? "; routing pinned by (layer, position, token)" : "")
    << "; decode graphs "
    << (m.opt.use_graphs ? std::to_string(m.graphs.size()) : std::string("off"));
  return s.str();
}

void GpuStepExecutor::set_prompt(uint64_t seq, std::vector<int32_t> tokens) {
  for (int32_t t : tokens)
    if (t < 0 || t >= impl_->d.vocab)
      throw std::invalid_argument("set_prompt: token " + std::to_string(t) +
                                  " outside the vocabulary");
  impl_->prompts[seq] = std::move(tokens);
}

void GpuStepExecutor::assume_prefilled(uint64_t seq, int32_t last_token) {
  if (last_token < 0 || last_token >= impl_->d.vocab)
    throw std::invalid_argument("assume_prefilled: token " + std::to_string(last_token) +
                                " outside the vocabulary");
  impl_->last_token[seq] = last_token;
}

void GpuStepExecutor::set_breakdown_every(int n) {
  impl_->opt.breakdown_every = std::max(0, n);
  impl_->breakdown_phase = 0;
}

StepTiming GpuStepExecutor::transfer_kv(GpuStepExecutor& dst,
                                        const std::vector<int32_t>& src_blocks,
                                        const std::vector<int32_t>& dst_blocks, int32_t tokens) {
  // Our stream's work (the prefill that wrote these blocks) is done: execute() syncs.
  return dst.impl_->receive_kv(*impl_, src_blocks, dst_blocks, tokens);
}

int GpuStepExecutor::device() const {
  return impl_->device_id;
}

const std::vector<int32_t>& GpuStepExecutor::sampled_tokens() const {
  return impl_->sampled;
}

std::vector<float> GpuStepExecutor::sampled_logits() const {
  const Impl& m = *impl_;
  const size_t n = size_t(m.last_samples) * size_t(m.d.vocab);
  std::vector<__nv_bfloat16> raw(n);
  QK_CUDA_CHECK(
      cudaMemcpy(raw.data(), m.logits, n * sizeof(__nv_bfloat16), cudaMemcpyDeviceToHost));
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = __bfloat162float(raw[i]);
  return out;
}

const MemoryPlan& GpuStepExecutor::memory() const {
  return impl_->mem;
}
int GpuStepExecutor::graphs_captured() const {
  return int(impl_->graphs.size());
}
int GpuStepExecutor::layers() const {
  return impl_->d.layers;
}
int64_t GpuStepExecutor::steps() const {
  return impl_->step_count;
}
int64_t GpuStepExecutor::graph_steps() const {
  return impl_->graph_step_count;
}

}  // namespace quadrant::engine::gpu
