// The cost seam: how long one quadrant's kernels take on one GPU, for one layer's shard
// of a batch. The simulator asks only this interface; implementations are the roofline
// (datasheet, always available), calibrated models fitted from CUPTI profiles
// (calibration/), and derived models (a calibrated GPU scaled to an uncalibrated one).
//
//   QuadrantShape s = decode_attention_shape(model, layout, batch);   // accounting.h
//   Estimate e = cost_model.predict(s);   // {mean, stddev, provenance, source}
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/units.h"
#include "sim/model/model_spec.h"
#include "sim/model/quadrant_shape.h"

namespace quadrant {

// Where a number came from, from most to least trustworthy.
enum class Provenance { kMeasured, kFitted, kDerived, kRoofline };
const char* to_string(Provenance p);

struct Estimate {
  Duration mean;
  Duration stddev;
  Provenance provenance = Provenance::kRoofline;
  std::string source;         // model file and entry, or "roofline:<gpu>"
  bool extrapolated = false;  // outside the calibrated range
  // Why, in words, when extrapolated (e.g. "decode_attention d576v512 (MLA latent): no
  // fitted model, answered by decode_attention[d128]"); empty otherwise.
  std::string extrapolation;
};

// What a serving engine adds to its quadrant kernels, fitted from its measured steps
// (`quadrant calibrate engine`, calibration/engine/engine_fit.h): per-step host and
// framework time (fixed, per sequence, per token) and each quadrant's efficiency against
// its kernel model (a factor on that term). StepCostModel applies it; measured on one
// model in one weight format, it applies to that model only.
struct EngineOverhead {
  std::string model;    // ModelSpec::name it was measured on
  std::string weights;  // its weight format ("bf16", "w4a8", ...)
  double step_ns = 0, per_seq_ns = 0, per_token_ns = 0;
  // A decode-only step's fixed time instead of step_ns: decode steps run otherwise (CUDA
  // graph replays) and their kernel models miss most at small batches.
  double decode_step_ns = 0;
  // A decode-only step pays, instead of per_seq_ns and per_token_ns, decode_per_row_ns
  // per row the replayed graph computes (the decode count padded up to the next of
  // graph_buckets; without buckets, or beyond the last, the count itself) and
  // per_active_expert_ns per expert weight read those rows are expected to cause (MoE
  // weight reads): once per active expert, or, with expert_tile_rows > 0, once per tile of
  // that many rows of an expert (a grouped GEMM whose CTAs each read their weights for one
  // row tile, as quadrant's decode MoE GEMM does with 16 rows).
  // Files fitted before these fields read as per_seq_ns + per_token_ns a row, no expert
  // term and no buckets: the same step time.
  double decode_per_row_ns = 0, per_active_expert_ns = 0;
  int expert_tile_rows = 0;
  // With tiles, a decode-only step's MoE down projection as a grouped GEMM whose CTAs each
  // stream an expert's whole intermediate dimension for one tile and `expert_wave_ctas` of
  // them cover a tile's output (the hidden size over a CTA's weight rows): they run in waves
  // of `expert_wave_slots` resident CTAs, and a wave costs about as much however few CTAs it
  // holds (each CTA streams at its own rate). The step pays per_expert_wave_ns per wave,
  // E[ceil(ctas x tiles / slots)] over the distribution of the tiles
  // (expected_expert_waves). 0 slots: no such term (files fitted before it).
  double per_expert_wave_ns = 0;
  int expert_wave_ctas = 0, expert_wave_slots = 0;
  std::vector<int> graph_buckets;  // ascending
  // A decode-only step's decode attention as the engine launches it (split-KV): each
  // sequence's KV is cut into chunks of `chunk[r][b]` tokens, r the graph bucket's index
  // (the step's rows), b the first of `kv_bounds` at or above the longest KV length (the
  // engine captures its graphs per bound and picks the split for it); every chunk is
  // `ctas_per_chunk` CTAs (query-head groups) of chunk + `cta_overhead_tokens` token
  // times each, started in launch order on `slots` resident CTAs; they share the memory
  // bandwidth: `active` CTAs each progress at min(rate_cap, slots / active) tokens per
  // token time (a token time: one token of one CTA with every slot busy; rate_cap: how
  // much faster a CTA streams when fewer share the GPU). The step pays
  // per_attention_token_ns per token time of that schedule's makespan (all layers), and
  // its kernel model's decode attention times decode_only_attention (not
  // decode_attention). Empty (no kv_bounds): no such term. decode_attention_makespan().
  struct AttentionLaunch {
    std::vector<int> kv_bounds;           // ascending
    std::vector<std::vector<int>> chunk;  // [graph bucket][kv bound], tokens
    int ctas_per_chunk = 1, slots = 1, cta_overhead_tokens = 0;
    double rate_cap = 1;
  } attention_launch;
  double per_attention_token_ns = 0;
  double decode_only_attention = 1;  // with attention_launch (else decode_attention applies)
  // The decodes of a step with prefill (the engine runs it eagerly, but its decode
  // attention is the same split-KV launch for their count and the longest KV's bound)
  // priced as a decode-only step's: per_attention_token_ns per token time of the launch's
  // makespan at the decode count's bucket, and decode_only_attention on the kernel model.
  // false (files fitted before it): decode_attention on the kernel model, no makespan.
  bool mixed_attention_launch = false;
  // A step with prefill pays per_prefill_pair_ns per query-key pair its chunks score
  // (BatchShape::attention_pairs: tokens x prefix + tokens (tokens + 1) / 2 a chunk, the
  // prefill attention kernel's work, 2 x heads x (qk + v head dims) FLOPs a pair a layer):
  // prefill attention as the engine runs it beyond its kernel model, which misses more the
  // longer the prefix (the profiles reach prefixes of 8k; the engine also gathers each
  // chunk's whole context into a contiguous buffer). 0: none (files fitted before it).
  double per_prefill_pair_ns = 0;
  double prefill_attention = 1, decode_attention = 1, prefill_ffn = 1, decode_ffn = 1;
  // The fit: steps it saw and its held-out |predicted / measured - 1|.
  int steps = 0;
  double heldout_median = 0, heldout_p95 = 0;
};

class CostModel {
 public:
  virtual ~CostModel() = default;
  virtual Estimate predict(const QuadrantShape& shape) const = 0;
  // predict() without the source text, for the simulator's hot loop (a cost per step);
  // a model may answer it without building the string.
  struct Core {
    Duration mean;
    Provenance provenance = Provenance::kRoofline;
    bool extrapolated = false;
    Duration stddev;  // the band (zero: none known)
  };
  virtual Core predict_core(const QuadrantShape& shape) const {
    const Estimate e = predict(shape);
    return {e.mean, e.provenance, e.extrapolated, e.stddev};
  }
  // The engine terms measured for this model (nullptr: none; the step is its kernels).
  virtual const EngineOverhead* engine_overhead(const ModelSpec& model) const {
    (void)model;
    return nullptr;
  }
  // The provenance every prediction of this model carries (for reports).
  virtual Provenance provenance() const = 0;
  virtual std::string describe() const = 0;
  // What the model knows it does not describe (kernels that changed after it was fitted),
  // for reports; empty: nothing.
  virtual std::vector<std::string> caveats() const { return {}; }
};

// A cost model per GPU type name (catalog key). Shared, read-only during a run, so the
// planner's threads may share one set.
using CostModels = std::map<std::string, std::shared_ptr<const CostModel>>;

}  // namespace quadrant
