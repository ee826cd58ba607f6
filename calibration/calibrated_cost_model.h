// CostModels fitted from CUPTI profiles (provenance kFitted) and derived from a fitted
// one for a GPU type without its own calibration (provenance kDerived).
//
//   auto m = CalibratedCostModel::load("calibration/models/H100-SXM.json");
//   Estimate e = m->predict(attention_shape(model, layout, Phase::kDecode, batch));
//   e.source;        // "calibration/models/H100-SXM.json#decode_attention/bf16 grid(max)"
//   e.extrapolated;  // outside the profiled range of that component
//   auto h20 = CalibratedCostModel::derive(*m, catalog.gpus.at("H100-SXM"),
//                                          catalog.gpus.at("H20"));
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "calibration/fit.h"
#include "sim/cost/cost_model.h"
#include "sim/hardware/hardware.h"

namespace quadrant::calibration {

class CalibratedCostModel : public CostModel {
 public:
  // Model file errors are InputErrors naming the file and the JSON path.
  static std::unique_ptr<CalibratedCostModel> load(const std::string& file);
  static std::unique_ptr<CalibratedCostModel> from(ModelFile model);
  // The fitted costs scaled by datasheet ratios: ns per FLOP by the ratio of dense peaks
  // of each format, ns per byte by the ratio of HBM bandwidths; fixed overheads and the
  // grid's relative corrections carried over. Error band widened (see predict); the catalog,
  // where given, names the GPUs the recorded derivation errors were measured between.
  static std::unique_ptr<CalibratedCostModel> derive(const CalibratedCostModel& base,
                                                     const GpuSpec& calibrated_gpu,
                                                     const GpuSpec& target_gpu,
                                                     const HardwareCatalog* catalog = nullptr);

  // A quadrant's core (its kernels' component) plus the rest of its work as dense GEMMs.
  // stddev: the validation-set error as a robust sigma (1.4826 x median |rel err|, at
  // least 1%; the k-fold error where there is no validation set), doubled for an
  // extrapolation (outside the fitted range, or a variant or format without its own
  // model: `extrapolation` says which); derived models add in quadrature the error measured
  // for the component's derivation (its `derived` record, else 15%), scaled up where this
  // derivation scales the shape's FLOP and byte parts more unevenly than the measured one
  // did (DerivationSplit).
  //
  // The shape's token counts, FLOPs and bytes are first snapped to six significant bits
  // (each within 0.8% of its value; counts up to 128 exact), and the answer is that of
  // the snapped shape: predict_core memoises it (numbers only, thread-safe) for the
  // simulator's hot loop, where a step's attention shape changes every step, and its
  // answer depends only on the shape, never on which shape came first.
  Estimate predict(const QuadrantShape& shape) const override;
  Core predict_core(const QuadrantShape& shape) const override;
  Provenance provenance() const override {
    return derived_ ? Provenance::kDerived : Provenance::kFitted;
  }
  std::string describe() const override;
  // The plan rules (launch_plan.h) in which the model's fit differs from today's kernels:
  // its estimates of the shapes those rules decide describe the kernels it was fitted on.
  std::vector<std::string> caveats() const override;
  // The model file's engine terms for this model and its weight format, if measured.
  const EngineOverhead* engine_overhead(const ModelSpec& model) const override;

  const ModelFile& model() const { return model_; }
  const std::string& gpu() const { return gpu_; }

 private:
  CalibratedCostModel();
  // The component's model for a format, falling back to bf16 (then any) with a flag.
  const ComponentModel* pick(const std::string& component, const std::string& format,
                             const std::string& variant, bool* fallback) const;
  struct ShapeHash {
    size_t operator()(const QuadrantShape& s) const;
  };
  struct ShapeEq {
    bool operator()(const QuadrantShape& a, const QuadrantShape& b) const;
  };
  ModelFile model_;
  // Tells this model's entries in the per-thread front cache from those of a model that
  // later took the same address.
  uint64_t serial_ = 0;
  mutable std::shared_mutex cache_mutex_;
  // Shared memo of snapped shapes, keyed with their hash (computed once per call).
  struct Keyed {
    QuadrantShape shape;
    size_t hash;
  };
  struct KeyedHash {
    size_t operator()(const Keyed& k) const { return k.hash; }
  };
  struct KeyedEq {
    bool operator()(const Keyed& a, const Keyed& b) const {
      return a.hash == b.hash && ShapeEq()(a.shape, b.shape);
    }
  };
  mutable std::unordered_map<Keyed, Core, KeyedHash, KeyedEq> cache_;
  // The estimate of a (snapped) shape; words: with its source and extrapolation texts.
  Estimate estimate(const QuadrantShape& shape, bool words) const;
  const Core& lookup(const QuadrantShape& key, size_t hash) const;  // predict_core's shared memo
  std::string gpu_;  // the GPU this model answers for
  bool derived_ = false;
  // Why a derivation's error grows with the compute ratio. A fit splits a shape's time into
  // FLOP, byte and fixed parts; the profiles of one GPU pin the sum far better than the split
  // (a bandwidth-bound op says little of its ns per FLOP). A derivation scales the parts by
  // (a, b): a split wrong by d moves the derived time by d |a - b| (in the fitted GPU's units).
  // The recorded error was measured for one pair (H100 -> H200: a = 1, b = 0.70); a target
  // with a = 6.7, b = 0.84 (H20) moves the same wrong split much further. Per shape, the band
  // is the recorded error times max(1, (|a - b| / T) / (|a_m - b_m| / T_m)), T and T_m the
  // shape's time derived to the target and to the measured GPU.
  struct DerivationSplit {
    bool known = false;          // the catalog named both GPUs of the measured derivation
    double spread_ratio = 1;     // |a - b| over |a_m - b_m|
    ComponentModel at_measured;  // the component derived to the measured GPU (no grid points)
  };
  std::vector<DerivationSplit> splits_;  // per model_.components entry, of a derived model
  std::string origin_;                   // the file the numbers come from
};

// The CostModel for a catalog GPU: its own calibration if it names one, else one derived
// from the first calibrated GPU of the catalog (H100-SXM preferred), else nullptr (the
// caller falls back to the roofline).
std::unique_ptr<CostModel> calibrated_cost_model_for(const HardwareCatalog& catalog,
                                                     const std::string& gpu);

}  // namespace quadrant::calibration
