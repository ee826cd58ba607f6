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

#include "sim/core/units.h"
#include "sim/model/model_spec.h"

namespace quadrant {

enum class Quadrant { kPrefillAttention, kPrefillFfn, kDecodeAttention, kDecodeFfn };
const char* to_string(Quadrant q);
inline constexpr int kNumQuadrants = 4;

// Where a number came from, from most to least trustworthy.
enum class Provenance { kMeasured, kFitted, kDerived, kRoofline };
const char* to_string(Provenance p);

// One layer's work of one quadrant on one GPU, after TP/EP sharding. Attention fields
// are per GPU (heads already divided by TP); FFN fields count token-expert pairs routed to
// this GPU's experts. flops and bytes are the totals accounting.h computes for the shape,
// so that a roofline needs nothing else.
struct QuadrantShape {
  Quadrant quadrant = Quadrant::kPrefillAttention;
  NumberFormat compute_format = NumberFormat::kBf16;  // format the multiplies run in
  // attention
  int num_seqs = 0;            // sequences in the batch
  int64_t new_tokens = 0;      // query tokens (prefill: chunk tokens; decode: num_seqs * q_len)
  int64_t context_tokens = 0;  // sum over sequences of KV length attended (incl. new)
  int heads = 0;               // query heads on this GPU
  int kv_heads = 0;            // KV heads on this GPU (MLA: 1 latent)
  int qk_head_dim = 0;
  int v_head_dim = 0;
  // FFN
  int64_t routed_tokens = 0;  // token-expert pairs this GPU computes
  int active_experts = 0;     // experts on this GPU that received tokens
  int hidden = 0;
  int intermediate = 0;  // per expert (or dense FFN shard)
  // totals
  Flops flops;
  Bytes bytes;  // fewest bytes moved through HBM: weights, KV, activations
};

struct Estimate {
  Duration mean;
  Duration stddev;
  Provenance provenance = Provenance::kRoofline;
  std::string source;         // model file and entry, or "roofline:<gpu>"
  bool extrapolated = false;  // outside the calibrated range
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
  };
  virtual Core predict_core(const QuadrantShape& shape) const {
    const Estimate e = predict(shape);
    return {e.mean, e.provenance, e.extrapolated};
  }
  // The provenance every prediction of this model carries (for reports).
  virtual Provenance provenance() const = 0;
  virtual std::string describe() const = 0;
};

// A cost model per GPU type name (catalog key). Shared, read-only during a run, so the
// planner's threads may share one set.
using CostModels = std::map<std::string, std::shared_ptr<const CostModel>>;

}  // namespace quadrant
