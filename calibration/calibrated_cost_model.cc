#include "calibration/calibrated_cost_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sim/core/error.h"

namespace quadrant::calibration {

std::unique_ptr<CalibratedCostModel> CalibratedCostModel::load(const std::string& file) {
  auto m = from(read_model(file));
  m->origin_ = file;
  return m;
}

std::unique_ptr<CalibratedCostModel> CalibratedCostModel::from(ModelFile model) {
  std::unique_ptr<CalibratedCostModel> m(new CalibratedCostModel());
  m->gpu_ = model.gpu;
  m->origin_ = model.file;
  m->model_ = std::move(model);
  return m;
}

std::unique_ptr<CalibratedCostModel> CalibratedCostModel::derive(const CalibratedCostModel& base,
                                                                 const GpuSpec& calibrated_gpu,
                                                                 const GpuSpec& target_gpu) {
  std::unique_ptr<CalibratedCostModel> m(new CalibratedCostModel());
  m->model_ = base.model_;
  m->gpu_ = target_gpu.name;
  m->derived_ = true;
  m->origin_ = base.origin_;
  m->model_.engine.clear();  // measured on the calibrated GPU's engine, not this GPU's
  auto peak = [](const GpuSpec& g, const std::string& format) {
    // W4A8 multiplies run in 8-bit; a GPU without FP8 runs them at its bf16 rate.
    NumberFormat f = format == "bf16" ? NumberFormat::kBf16 : NumberFormat::kFp8;
    return g.peak(f).value();
  };
  const double bw_ratio = calibrated_gpu.memory_bandwidth / target_gpu.memory_bandwidth;
  for (ComponentModel& c : m->model_.components) {
    const double from_peak = peak(calibrated_gpu, c.format), to_peak = peak(target_gpu, c.format);
    if (!(from_peak > 0 && to_peak > 0 && bw_ratio > 0))
      throw InputError("", "hardware.gpus." + target_gpu.name,
                       "cannot derive a cost model: a datasheet peak or bandwidth is zero");
    c.ns_per_flop *= from_peak / to_peak;
    c.ns_per_byte *= bw_ratio;
    // The grid's points keep their measured times on the calibrated GPU; scale them with
    // the base so that the relative corrections they carry stay the same.
    for (Sample& s : c.points) {
      ComponentModel unscaled = c;
      unscaled.ns_per_flop /= from_peak / to_peak;
      unscaled.ns_per_byte /= bw_ratio;
      s.t_ns *= c.base_ns(s.x) / unscaled.base_ns(s.x);
    }
  }
  m->model_.gpu = target_gpu.name;
  return m;
}

const ComponentModel* CalibratedCostModel::pick(const std::string& component,
                                                const std::string& format,
                                                const std::string& variant, bool* fallback) const {
  if (const ComponentModel* c = model_.find_nearest(component, format, variant, fallback)) return c;
  if (const ComponentModel* c = model_.find_nearest(component, "bf16", variant, fallback)) {
    *fallback = true;
    return c;
  }
  *fallback = true;
  for (const ComponentModel& c : model_.components)
    if (c.component == component) return &c;
  return nullptr;
}

Estimate CalibratedCostModel::predict(const QuadrantShape& shape) const {
  const std::string format = format_name(shape.compute_format);
  const std::string component = component_name(shape.quadrant);
  const Features core = core_features(shape);
  const Features rest = residual_gemm_features(shape, core);

  Estimate e;
  e.provenance = provenance();
  double mean_ns = 0, var = 0;
  std::string parts;
  auto add = [&](const ComponentModel* c, const Features& x, bool fallback) {
    const double t = c->predict_ns(x);
    const bool outside = !c->inside(x) || fallback;
    e.extrapolated = e.extrapolated || outside;
    // Floor of 1%: no kernel repeats its time better than that from run to run.
    double sigma = std::max(0.01, 1.4826 * c->heldout.median) * (outside ? 2.0 : 1.0);
    if (derived_) sigma = std::sqrt(sigma * sigma + 0.15 * 0.15);
    mean_ns += t;
    var += (sigma * t) * (sigma * t);
    if (!parts.empty()) parts += "+";
    parts += c->component + (c->variant.empty() ? "" : "[" + c->variant + "]") + "/" + c->format +
             " " + c->form_label();
  };
  bool fb = false;
  if (core.flops > 0 || core.bytes > 0) {
    const ComponentModel* c = pick(component, format, kernel_variant(shape), &fb);
    if (!c)
      throw InputError(origin_, "components",
                       "no model of " + component + " (profile it, or use the roofline)");
    add(c, core, fb);
  }
  if (rest.flops > 0 || rest.bytes > 0) {
    const ComponentModel* g = pick("dense_gemm", format, "", &fb);
    if (!g)
      throw InputError(origin_, "components",
                       "no dense_gemm model for the projections and dense FFNs of " + component);
    add(g, rest, fb);
  }
  e.mean = Duration::nanos(static_cast<int64_t>(std::llround(mean_ns)));
  e.stddev = Duration::nanos(static_cast<int64_t>(std::llround(std::sqrt(var))));
  e.source = (derived_ ? "derived:" + gpu_ + " from " : std::string()) + origin_ + "#" + parts;
  return e;
}

const EngineOverhead* CalibratedCostModel::engine_overhead(const ModelSpec& model) const {
  for (const EngineOverhead& o : model_.engine)
    if (o.model == model.name && o.weights == to_string(model.precision.weights)) return &o;
  return nullptr;
}

std::string CalibratedCostModel::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s cost model for %s (%zu components)",
                derived_ ? "derived" : "fitted", gpu_.c_str(), model_.components.size());
  return std::string(buf) + ", from " + origin_;
}

std::unique_ptr<CostModel> calibrated_cost_model_for(const HardwareCatalog& catalog,
                                                     const std::string& gpu) {
  const GpuSpec* target = catalog.find(gpu);
  if (!target) throw InputError("", "hardware.gpus", "no GPU type \"" + gpu + "\" in the catalog");
  if (!target->calibrated.empty()) return CalibratedCostModel::load(target->calibrated);
  const GpuSpec* base = catalog.find("H100-SXM");
  if (!base || base->calibrated.empty()) {
    base = nullptr;
    for (const auto& [name, g] : catalog.gpus)
      if (!g.calibrated.empty()) {
        base = &g;
        break;
      }
  }
  if (!base) return nullptr;
  auto fitted = CalibratedCostModel::load(base->calibrated);
  return CalibratedCostModel::derive(*fitted, *base, *target);
}

}  // namespace quadrant::calibration
