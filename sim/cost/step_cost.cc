#include "sim/cost/step_cost.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "sim/core/error.h"
#include "sim/cost/af_pipeline.h"

namespace quadrant {
namespace {

Provenance worse(Provenance a, Provenance b) {
  return a > b ? a : b;
}
constexpr int64_t kFfnCacheLimit = 1 << 17;

}  // namespace

MoeExecution moe_execution(const ModelSpec& model, const Layout& layout,
                           const ExpertPlacementSpec& placement, const ExpertPopularity& popularity,
                           bool dual_micro_batch) {
  MoeExecution e;
  e.dual_micro_batch = dual_micro_batch;
  if (model.ffn.kind != FfnKind::kMoe) return e;
  if (popularity.uniform() && placement == ExpertPlacementSpec{}) return e;
  const ExpertLoad load =
      expert_load(popularity_of(popularity, model.ffn.num_experts), layout.tp * layout.dp_attention,
                  placement, popularity.counts.empty());
  e.imbalance = load.imbalance;
  e.slots_per_gpu = load.slots_per_gpu;
  return e;
}

int64_t graph_rows(const EngineOverhead& engine, int64_t seqs) {
  const auto it = std::lower_bound(engine.graph_buckets.begin(), engine.graph_buckets.end(), seqs);
  return it == engine.graph_buckets.end() ? seqs : *it;
}

double expected_active_experts(const ModelSpec& model, int64_t tokens) {
  const double experts = model.ffn.num_experts;
  if (model.ffn.kind != FfnKind::kMoe || experts <= 0 || tokens <= 0) return 0;
  const double pick = std::min(1.0, model.ffn.top_k / experts);
  return experts * (1 - std::pow(1 - pick, static_cast<double>(tokens)));
}

double expected_expert_tiles(const ModelSpec& model, int64_t tokens, int tile_rows) {
  const double experts = model.ffn.num_experts;
  if (model.ffn.kind != FfnKind::kMoe || experts <= 0 || tokens <= 0 || tile_rows <= 0) return 0;
  const double p = std::min(1.0, model.ffn.top_k / experts);
  if (p >= 1) return experts * static_cast<double>((tokens + tile_rows - 1) / tile_rows);
  // E[ceil(n / t)] = sum over j >= 0 of P(n > j t): the binomial's pmf term by term.
  const double n = static_cast<double>(tokens);
  double pmf = std::pow(1 - p, n);  // P(n = 0)
  double cdf = pmf, tiles = 0;
  for (int64_t c = 0; c < tokens; ++c) {
    if (c % tile_rows == 0) tiles += 1 - cdf;  // P(n > c) for c = j t
    pmf *= (n - static_cast<double>(c)) / static_cast<double>(c + 1) * p / (1 - p);
    cdf += pmf;
  }
  return experts * tiles;
}

namespace {

// The distribution of one expert's row tiles in a graph replay of `rows` rows of which
// `seqs` are sequences: ceil((n + extra) / t), n ~ Binomial(seqs, p); `extra` the padding
// rows for the experts their token picked, 0 for the others. pmf[j] = P(j tiles).
std::vector<double> expert_tile_pmf(int64_t seqs, double p, int64_t extra, int64_t t) {
  std::vector<double> pmf(static_cast<size_t>((seqs + extra + t - 1) / t + 1), 0.0);
  if (p >= 1) {
    pmf[static_cast<size_t>((seqs + extra + t - 1) / t)] = 1;
    return pmf;
  }
  const double n = static_cast<double>(seqs);
  double b = std::pow(1 - p, n);  // P(n = 0)
  for (int64_t c = 0; c <= seqs; ++c) {
    pmf[static_cast<size_t>((c + extra + t - 1) / t)] += b;
    b *= (n - static_cast<double>(c)) / static_cast<double>(c + 1) * p / (1 - p);
  }
  return pmf;
}

}  // namespace

double expected_expert_reads(const EngineOverhead& engine, const ModelSpec& model, int64_t seqs,
                             int64_t rows) {
  const int64_t pad = std::max<int64_t>(0, rows - seqs);
  if (pad == 0 || model.ffn.kind != FfnKind::kMoe || model.ffn.num_experts <= 0)
    return engine.expert_tile_rows > 0 ? expected_expert_tiles(model, rows, engine.expert_tile_rows)
                                       : expected_active_experts(model, rows);
  // The padding rows are one token's choice: as one more sequence for the active experts.
  if (engine.expert_tile_rows <= 0) return expected_active_experts(model, seqs + 1);
  // Tiles: the top_k experts the padding picked get all `pad` rows besides their
  // Binomial(seqs, k / E) share; the others their share alone.
  const double experts = model.ffn.num_experts;
  const double k = std::min<double>(model.ffn.top_k, experts);
  const double p = k / experts;
  const int64_t t = engine.expert_tile_rows;
  auto ceil_div = [t](int64_t x) { return static_cast<double>((x + t - 1) / t); };
  if (p >= 1) return experts * ceil_div(seqs + pad);
  const double n = static_cast<double>(seqs);
  double pmf = std::pow(1 - p, n), plain = 0, padded = 0;
  for (int64_t c = 0; c <= seqs; ++c) {
    plain += pmf * ceil_div(c);
    padded += pmf * ceil_div(c + pad);
    pmf *= (n - static_cast<double>(c)) / static_cast<double>(c + 1) * p / (1 - p);
  }
  return (experts - k) * plain + k * padded;
}

double expected_expert_waves(const EngineOverhead& engine, const ModelSpec& model, int64_t seqs,
                             int64_t rows) {
  if (engine.expert_tile_rows <= 0 || engine.expert_wave_slots <= 0 ||
      engine.expert_wave_ctas <= 0 || model.ffn.kind != FfnKind::kMoe ||
      model.ffn.num_experts <= 0 || rows <= 0)
    return 0;
  const int64_t n = std::min(seqs, rows), t = engine.expert_tile_rows;
  const int experts = model.ffn.num_experts;
  const int k = std::min(model.ffn.top_k, experts);
  const double p = static_cast<double>(k) / experts;
  const std::vector<double> plain = expert_tile_pmf(n, p, 0, t);
  const std::vector<double> padded = expert_tile_pmf(n, p, rows - n, t);
  // The total's distribution: the experts' pmfs convolved, the padded ones first.
  std::vector<double> total = {1.0};
  for (int e = 0; e < experts; ++e) {
    const std::vector<double>& one = e < k ? padded : plain;
    std::vector<double> next(total.size() + one.size() - 1, 0.0);
    for (size_t a = 0; a < total.size(); ++a)
      if (total[a] > 0)
        for (size_t b = 0; b < one.size(); ++b) next[a + b] += total[a] * one[b];
    total = std::move(next);
  }
  const int64_t ctas = engine.expert_wave_ctas, slots = engine.expert_wave_slots;
  double waves = 0;
  for (size_t j = 0; j < total.size(); ++j) {
    const int64_t w = (ctas * static_cast<int64_t>(j) + slots - 1) / slots;  // ceil
    waves += total[j] * static_cast<double>(w);
  }
  return waves;
}

double decode_attention_makespan(const EngineOverhead& engine, int64_t rows,
                                 std::span<const int32_t> lengths) {
  const EngineOverhead::AttentionLaunch& a = engine.attention_launch;
  if (a.kv_bounds.empty() || lengths.empty() || engine.graph_buckets.empty()) return 0;
  const auto row_it =
      std::lower_bound(engine.graph_buckets.begin(), engine.graph_buckets.end(), rows);
  const size_t r = std::min<size_t>(static_cast<size_t>(row_it - engine.graph_buckets.begin()),
                                    engine.graph_buckets.size() - 1);
  const int32_t longest = *std::max_element(lengths.begin(), lengths.end());
  const auto bound_it = std::lower_bound(a.kv_bounds.begin(), a.kv_bounds.end(), longest);
  const size_t b =
      std::min<size_t>(static_cast<size_t>(bound_it - a.kv_bounds.begin()), a.kv_bounds.size() - 1);
  if (r >= a.chunk.size() || b >= a.chunk[r].size()) return 0;
  const int64_t chunk = std::max(1, a.chunk[r][b]);
  const int64_t overhead = a.cta_overhead_tokens;
  const size_t slots = static_cast<size_t>(std::max(1, a.slots));
  const double cap = std::max(1.0, a.rate_cap);
  // The CTAs in launch order (sequence, head group, chunk), each taking the first free
  // slot; every active CTA progresses at the same rate, so a CTA ends when the common
  // progress `done` (token times of one CTA's work) reaches its start's plus its work: a
  // min-heap of those ends. Between two ends the clock runs (progress) / rate(active).
  std::vector<double> ends;
  ends.reserve(slots);
  double done = 0, clock = 0;
  auto finish_one = [&]() {
    const double rate =
        std::min(cap, static_cast<double>(slots) / static_cast<double>(ends.size()));
    std::pop_heap(ends.begin(), ends.end(), std::greater<>());
    clock += (ends.back() - done) / rate;
    done = ends.back();
    ends.pop_back();
  };
  for (const int32_t length : lengths)
    for (int h = 0; h < a.ctas_per_chunk; ++h)
      for (int64_t start = 0; start < length; start += chunk) {
        if (ends.size() == slots) finish_one();
        ends.push_back(done +
                       static_cast<double>(std::min<int64_t>(chunk, length - start) + overhead));
        std::push_heap(ends.begin(), ends.end(), std::greater<>());
      }
  while (!ends.empty()) finish_one();
  return clock;
}

double batch_decode_attention_makespan(const EngineOverhead& engine, int64_t rows,
                                       const StepBatch& batch) {
  if (engine.per_attention_token_ns <= 0 || batch.decode.num_seqs <= 0) return 0;
  if (!batch.decode_lengths.empty())
    return decode_attention_makespan(engine, rows, batch.decode_lengths);
  // Lengths unknown: alike, of the mean.
  const std::vector<int32_t> alike(
      static_cast<size_t>(batch.decode.num_seqs),
      static_cast<int32_t>(batch.decode.context_tokens / batch.decode.num_seqs));
  return decode_attention_makespan(engine, rows, alike);
}

StepCostModel::StepCostModel(const ModelSpec& model, const Layout& layout, const GpuSpec& gpu,
                             const ClusterSpec& cluster, const CostModel& cost_model,
                             const MoeExecution& moe, const AfExecution* af)
    : model_(model),
      layout_(layout),
      gpu_(gpu),
      cluster_(cluster),
      cost_model_(cost_model),
      engine_(cost_model.engine_overhead(model)),
      moe_(moe) {
  moe_layers_ = model_.num_moe_layers();
  dense_layers_ = model_.num_layers - moe_layers_;
  for (Phase phase : {Phase::kPrefill, Phase::kDecode})
    attention_[static_cast<int>(phase)] = attention_constants(model_, layout_, phase);
  if (af != nullptr && af->ffn_gpus > 0) {
    QUADRANT_CHECK(af->ffn_gpu != nullptr && af->ffn_model != nullptr && af->micro_batches >= 1);
    af_on_ = true;
    af_ = *af;
    ffn_engine_ = af_.ffn_model->engine_overhead(model);
  }
}

Duration StepCostModel::link_time(Bytes bytes, int group_gpus) const {
  if (bytes.value() <= 0) return Duration::zero();
  // A group inside one node talks over NVLink; a larger one is bound by the NICs.
  const LinkSpec& link =
      group_gpus <= cluster_.gpus_per_node ? cluster_.intra_node : cluster_.inter_node;
  return bytes / link.bandwidth + link.latency;
}

StepCostModel::FfnEntry StepCostModel::ffn_cost(int64_t tokens, Phase phase) const {
  const int p = static_cast<int>(phase);
  const bool cacheable = tokens < kFfnCacheLimit;
  if (cacheable) {
    if (ffn_cache_[p].size() <= static_cast<size_t>(tokens))
      ffn_cache_[p].resize(static_cast<size_t>(tokens) + 1);
    if (ffn_cache_[p][static_cast<size_t>(tokens)].cached)
      return ffn_cache_[p][static_cast<size_t>(tokens)];
  }
  FfnEntry e;
  const ExpertSpread spread{moe_.imbalance, moe_.slots_per_gpu};
  if (moe_layers_ > 0) {
    const CostModel::Core est =
        cost_model_.predict_core(ffn_shape(model_, layout_, phase, tokens, true, spread));
    e.ffn += est.mean * moe_layers_;
    e.provenance = worse(e.provenance, est.provenance);
    e.extrapolated |= est.extrapolated;
  }
  if (dense_layers_ > 0) {
    const CostModel::Core est =
        cost_model_.predict_core(ffn_shape(model_, layout_, phase, tokens, false));
    e.dense_ffn = est.mean * dense_layers_;
    e.ffn += e.dense_ffn;
    e.provenance = worse(e.provenance, est.provenance);
    e.extrapolated |= est.extrapolated;
  }
  const CommVolume c = layer_communication(model_, layout_, tokens, spread);
  const int ep_group = layout_.tp * layout_.dp_attention;
  e.ep = (link_time(c.ep_dispatch, ep_group) + link_time(c.ep_combine, ep_group)) * moe_layers_;
  e.tp = link_time(c.tp_allreduce, layout_.tp) * model_.num_layers;
  if (layout_.pp > 1) e.pp = link_time(c.pp_send, layout_.gpus()) * (layout_.pp - 1);
  if (cacheable) {
    e.cached = true;
    ffn_cache_[p][static_cast<size_t>(tokens)] = e;
  }
  return e;
}

// Inlined into cost(), the hot path (one call per step): called, it cost the benchmark
// 0.7% more instructions than the one function it was split from (tests/sim/bench/NOTES.md).
[[gnu::always_inline]] inline StepCost StepCostModel::parts(const StepBatch& batch,
                                                            Duration* dense_ffn) const {
  StepCost c;
  const int layers = model_.num_layers;
  auto add = [&](const CostModel::Core& e) {
    c.provenance = worse(c.provenance, e.provenance);
    c.extrapolated |= e.extrapolated;
  };
  if (batch.prefill.num_seqs > 0) {
    const CostModel::Core e = cost_model_.predict_core(
        attention_shape(attention_[static_cast<int>(Phase::kPrefill)], batch.prefill));
    c.prefill_attention = e.mean * layers;
    add(e);
  }
  if (batch.decode.num_seqs > 0) {
    const CostModel::Core e = cost_model_.predict_core(
        attention_shape(attention_[static_cast<int>(Phase::kDecode)], batch.decode));
    c.decode_attention = e.mean * layers;
    add(e);
  }
  const int64_t tokens = batch.prefill.new_tokens + batch.decode.new_tokens;
  if (tokens > 0) {
    const Phase phase = batch.prefill.num_seqs > 0 ? Phase::kPrefill : Phase::kDecode;
    FfnEntry f = ffn_cost(tokens, phase);
    c.ffn = f.ffn;
    c.ep_communication = f.ep;
    c.provenance = worse(c.provenance, f.provenance);
    c.extrapolated |= f.extrapolated;
    c.tp_communication = f.tp;
    c.pp_communication = f.pp;
    if (dense_ffn != nullptr) *dense_ffn = f.dense_ffn;
  }
  if (engine_) {
    // The engine's efficiency per quadrant (EngineOverhead) on its kernels, before any
    // overlap: the dual micro-batch's critical path is of the engine's times.
    const EngineOverhead& o = *engine_;
    const bool mixed = batch.prefill.num_seqs > 0;
    const double ffn = mixed ? o.prefill_ffn : o.decode_ffn;
    c.prefill_attention = c.prefill_attention.scaled(o.prefill_attention);
    const bool launch =
        !o.attention_launch.kv_bounds.empty() && (!mixed || o.mixed_attention_launch);
    c.decode_attention =
        c.decode_attention.scaled(launch ? o.decode_only_attention : o.decode_attention);
    c.ffn = c.ffn.scaled(ffn);
    if (dense_ffn != nullptr) *dense_ffn = dense_ffn->scaled(ffn);
  }
  return c;
}

namespace {

// One of two micro-batches: half the sequences and half the tokens (a lone sequence
// splits by tokens).
BatchShape half_of(const BatchShape& b) {
  if (b.num_seqs == 0) return b;
  BatchShape h;
  h.num_seqs = std::max(1, b.num_seqs / 2);
  h.new_tokens = std::max<int64_t>(1, b.new_tokens / 2);
  h.context_tokens = std::max<int64_t>(1, b.context_tokens / 2);
  h.attention_pairs = b.attention_pairs / 2;
  return h;
}

}  // namespace

// Two micro-batches A and B per step, each layer: compute A, then A's dispatch/combine
// while B computes, then B's while A computes the next layer. Over the MoE layers the
// critical path is the busier of the two streams (2 x compute or 2 x communication of
// a half batch) plus one layer's fill (the shorter of a half batch's compute and
// communication for one layer); dense layers have no expert communication to hide.
void StepCostModel::overlap(const StepBatch& batch, StepCost& c) const {
  Duration dense_ffn;
  const StepCost h = parts({half_of(batch.prefill), half_of(batch.decode)}, &dense_ffn);
  const double layers = model_.num_layers;
  const Duration attention = h.prefill_attention + h.decode_attention + h.tp_communication;
  const Duration moe_compute = (attention.scaled(moe_layers_ / layers) + (h.ffn - dense_ffn)) * 2;
  const Duration dense_compute = (attention.scaled(dense_layers_ / layers) + dense_ffn) * 2;
  const Duration comm = h.ep_communication * 2;
  const Duration fill = min(moe_compute.scaled(0.5 / moe_layers_), comm.scaled(0.5 / moe_layers_));
  c.prefill_attention = h.prefill_attention * 2;
  c.decode_attention = h.decode_attention * 2;
  c.ffn = h.ffn * 2;
  c.tp_communication = h.tp_communication * 2;
  c.ep_communication = comm;
  c.pp_communication = h.pp_communication * 2;
  c.provenance = h.provenance;
  c.extrapolated = h.extrapolated;
  const Duration serial = moe_compute + dense_compute + comm;
  const Duration critical = max(moe_compute, comm) + fill + dense_compute;
  c.hidden_communication = serial - critical;
}

namespace {

// Part i of n of a count, as evenly as counts split (the first x mod n parts get one more).
int64_t share(int64_t x, int i, int n) {
  return x / n + (i < x % n ? 1 : 0);
}

// Micro-batch i of n: its share of the sequences (at least one when the batch has any: a
// lone sequence splits by tokens), tokens, context and attention pairs.
BatchShape part_of(const BatchShape& b, int i, int n) {
  if (b.num_seqs == 0) return b;
  BatchShape p;
  p.num_seqs = std::max<int>(1, static_cast<int>(share(b.num_seqs, i, n)));
  p.new_tokens = std::max<int64_t>(1, share(b.new_tokens, i, n));
  p.context_tokens = std::max<int64_t>(1, share(b.context_tokens, i, n));
  p.attention_pairs = share(b.attention_pairs, i, n);
  return p;
}

}  // namespace

StepCostModel::AfEntry StepCostModel::af_entry(int64_t tokens, Phase phase) const {
  const int p = static_cast<int>(phase);
  const bool cacheable = tokens < kFfnCacheLimit;
  if (cacheable) {
    if (af_cache_[p].size() <= static_cast<size_t>(tokens))
      af_cache_[p].resize(static_cast<size_t>(tokens) + 1);
    if (af_cache_[p][static_cast<size_t>(tokens)].cached)
      return af_cache_[p][static_cast<size_t>(tokens)];
  }
  AfEntry e;
  auto add = [&e](const CostModel::Core& est) {
    e.provenance = worse(e.provenance, est.provenance);
    e.extrapolated |= est.extrapolated;
  };
  // The experts of one MoE layer on the FFN pool's busiest GPU.
  const CostModel::Core moe =
      af_.ffn_model->predict_core(ffn_shape(model_, af_ffn_layout(af_.ffn_gpus), phase, tokens,
                                            true, {af_.imbalance, af_.slots_per_gpu}));
  add(moe);
  e.ffn = moe.mean;
  if (ffn_engine_)
    e.ffn =
        e.ffn.scaled(phase == Phase::kPrefill ? ffn_engine_->prefill_ffn : ffn_engine_->decode_ffn);
  if (dense_layers_ > 0) {
    const CostModel::Core dense =
        cost_model_.predict_core(ffn_shape(model_, layout_, phase, tokens, false));
    add(dense);
    e.dense_ffn = dense.mean;
    if (engine_)
      e.dense_ffn =
          e.dense_ffn.scaled(phase == Phase::kPrefill ? engine_->prefill_ffn : engine_->decode_ffn);
  }
  // Each attention GPU sends its share of the tokens once to each FFN node holding one of
  // its experts (distinct_nodes of ffn_nodes on average: per-node deduplication), and the
  // node forwards the top_k copies to the expert GPUs over NVLink, the busiest receiving
  // `imbalance` times the mean (activations' format out, bf16 back, as
  // layer_communication counts them); the legs pipeline.
  const double h = model_.hidden_size;
  const double act = bytes_per_element(model_.precision.activations);
  const double tokens_per_message = static_cast<double>(tokens) / layout_.gpus() *
                                    af_.distinct_nodes / af_.ffn_nodes * af_.imbalance;
  const double pairs_per_ffn_gpu =
      static_cast<double>(tokens) * model_.ffn.top_k / af_.ffn_gpus * af_.imbalance;
  auto forward = [&](double bytes_per_value) {
    if (!af_.forwards) return Duration::zero();
    return Bytes(pairs_per_ffn_gpu * h * bytes_per_value) / af_.forward.bandwidth +
           af_.forward.latency;
  };
  auto network = [&](const MnExchange& x, double bytes_per_value) {
    return Duration::seconds(tokens_per_message * h * bytes_per_value * x.seconds_per_message_byte);
  };
  e.dispatch_network = network(af_.dispatch, act);
  e.combine_network = network(af_.combine, 2.0);
  e.forward_out = forward(act);
  e.forward_back = forward(2.0);
  e.dispatch = max(af_.dispatch.time(Bytes(tokens_per_message * h * act)), e.forward_out);
  e.combine = max(af_.combine.time(Bytes(tokens_per_message * h * 2.0)), e.forward_back);
  // The attention output's all-reduce over a replica's TP group (the FFN's is gone: the
  // experts are not split by TP); half of layer_communication's two.
  e.tp = link_time(layer_communication(model_, layout_, tokens).tp_allreduce * 0.5, layout_.tp);
  if (cacheable) {
    e.cached = true;
    af_cache_[p][static_cast<size_t>(tokens)] = e;
  }
  return e;
}

StepCost StepCostModel::af_parts(const StepBatch& batch) const {
  StepCost c;
  const int64_t tokens = batch.prefill.new_tokens + batch.decode.new_tokens;
  const int m = static_cast<int>(std::clamp<int64_t>(tokens, 1, af_.micro_batches));
  const Phase phase = batch.prefill.num_seqs > 0 ? Phase::kPrefill : Phase::kDecode;
  AfPipelineInput in;
  in.dense_layers = dense_layers_;
  in.moe_layers = moe_layers_;
  for (int i = 0; i < m; ++i) {
    const BatchShape pre = part_of(batch.prefill, i, m), dec = part_of(batch.decode, i, m);
    Duration attention;
    if (pre.num_seqs > 0) {
      const CostModel::Core e = cost_model_.predict_core(
          attention_shape(attention_[static_cast<int>(Phase::kPrefill)], pre));
      Duration t = e.mean;
      if (engine_) t = t.scaled(engine_->prefill_attention);
      c.prefill_attention += t * model_.num_layers;
      attention += t;
      c.provenance = worse(c.provenance, e.provenance);
      c.extrapolated |= e.extrapolated;
    }
    if (dec.num_seqs > 0) {
      const CostModel::Core e = cost_model_.predict_core(
          attention_shape(attention_[static_cast<int>(Phase::kDecode)], dec));
      Duration t = e.mean;
      if (engine_) t = t.scaled(engine_->decode_attention);
      c.decode_attention += t * model_.num_layers;
      attention += t;
      c.provenance = worse(c.provenance, e.provenance);
      c.extrapolated |= e.extrapolated;
    }
    AfEntry f = af_entry(pre.new_tokens + dec.new_tokens, phase);
    if ((batch.kv_flows_out > 0 || batch.kv_flows_in > 0) && tokens > 0) {
      // KV transfers on the same NICs: the network legs at a fair share of the link.
      auto shared = [](Duration network, int flows, const MnExchange& x, Duration fwd) {
        return max(network * (1 + flows) + x.latency, fwd);
      };
      f.dispatch = shared(f.dispatch_network, batch.kv_flows_out, af_.dispatch, f.forward_out);
      f.combine = shared(f.combine_network, batch.kv_flows_in, af_.combine, f.forward_back);
    }
    c.provenance = worse(c.provenance, f.provenance);
    c.extrapolated |= f.extrapolated;
    c.ffn += f.ffn * moe_layers_ + f.dense_ffn * dense_layers_;
    c.tp_communication += f.tp * model_.num_layers;
    c.ep_communication += (f.dispatch + f.combine) * moe_layers_;
    c.af_attention_busy += (attention + f.tp) * model_.num_layers + f.dense_ffn * dense_layers_;
    c.af_ffn_busy += f.ffn * moe_layers_;
    in.moe.push_back({attention + f.tp, f.dispatch, f.ffn, f.combine});
    in.dense.push_back(attention + f.tp + f.dense_ffn);
  }
  const Duration critical = af_pipeline_time(in);
  c.hidden_communication = c.prefill_attention + c.decode_attention + c.ffn + c.tp_communication +
                           c.ep_communication - critical;
  return c;
}

StepCost StepCostModel::cost(const StepBatch& batch) const {
  StepCost c = af_on_ ? af_parts(batch) : parts(batch, nullptr);
  const int64_t tokens = batch.prefill.new_tokens + batch.decode.new_tokens;
  if (!af_on_ && moe_.dual_micro_batch && moe_layers_ > 0 &&
      c.ep_communication > Duration::zero() && tokens >= 2)
    overlap(batch, c);
  if (engine_) {
    // What the engine measured beyond its kernels (EngineOverhead); absent, the step is
    // exactly its kernels and communication.
    const EngineOverhead& o = *engine_;
    double t = 0;
    if (batch.prefill.num_seqs > 0) {
      const double seqs = batch.prefill.num_seqs + batch.decode.num_seqs;
      // The pairs its chunks score; a caller that left them out: alike chunks, as
      // attention_shape() derives them.
      double pairs = static_cast<double>(batch.prefill.attention_pairs);
      if (pairs <= 0) {
        const double n = static_cast<double>(batch.prefill.new_tokens) / batch.prefill.num_seqs;
        const double prior = std::max(
            0.0, static_cast<double>(batch.prefill.context_tokens) / batch.prefill.num_seqs - n);
        pairs = batch.prefill.num_seqs * (n * prior + n * (n + 1) / 2);
      }
      t = o.step_ns + o.per_seq_ns * seqs + o.per_token_ns * static_cast<double>(tokens) +
          o.per_prefill_pair_ns * pairs;
      if (o.mixed_attention_launch)
        t += o.per_attention_token_ns *
             batch_decode_attention_makespan(o, batch.decode.num_seqs, batch);
    } else {  // decode only: a graph replay at its bucket's rows
      const int64_t rows = graph_rows(o, batch.decode.num_seqs);
      t = o.decode_step_ns + o.decode_per_row_ns * static_cast<double>(rows) +
          o.per_active_expert_ns * expected_expert_reads(o, model_, batch.decode.num_seqs, rows) +
          o.per_attention_token_ns * batch_decode_attention_makespan(o, rows, batch);
      if (o.per_expert_wave_ns > 0)
        t += o.per_expert_wave_ns * expected_expert_waves(o, model_, batch.decode.num_seqs, rows);
    }
    c.overhead = Duration::nanos(std::llround(t));
  }
  c.total = c.prefill_attention + c.decode_attention + c.ffn + c.tp_communication +
            c.ep_communication + c.pp_communication + c.overhead - c.hidden_communication;
  c.stage = Duration::nanos((c.total.ns() + layout_.pp - 1) / layout_.pp);
  return c;
}

Duration StepCostModel::prefill_time(int64_t tokens) const {
  StepBatch b;
  b.prefill = {1, tokens, tokens, tokens * (tokens + 1) / 2};
  return cost(b).total;
}

}  // namespace quadrant
