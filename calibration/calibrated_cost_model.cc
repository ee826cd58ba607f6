#include "calibration/calibrated_cost_model.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <vector>

#include "sim/core/error.h"

namespace quadrant::calibration {

std::unique_ptr<CalibratedCostModel> CalibratedCostModel::load(const std::string& file) {
  auto m = from(read_model(file));
  m->origin_ = file;
  return m;
}

namespace {
std::atomic<uint64_t> next_serial{1};
}  // namespace

CalibratedCostModel::CalibratedCostModel() : serial_(next_serial++) {}

std::unique_ptr<CalibratedCostModel> CalibratedCostModel::from(ModelFile model) {
  std::unique_ptr<CalibratedCostModel> m(new CalibratedCostModel());
  m->gpu_ = model.gpu;
  m->origin_ = model.file;
  m->model_ = std::move(model);
  return m;
}

namespace {

// A component's costs in another GPU's units: ns per FLOP times `flop`, ns per byte times
// `byte`. Whole-op and helper-kernel bytes stream through HBM and scale; a slot's own bytes are
// bound by what one SM keeps in flight (its latency), not by the HBM, and are left as they are,
// as are the per-wave, per-head-round, per-empty-wave and fixed costs. The grid's points keep
// their relative corrections.
ComponentModel scaled(const ComponentModel& c, double flop, double byte) {
  ComponentModel s = c;
  s.ns_per_flop *= flop;
  s.ns_per_extra_flop *= flop;
  s.ns_per_byte *= byte;
  s.ns_per_aux_byte *= byte;
  s.ns_per_reread_byte *= byte;
  ComponentModel unscaled = c;
  unscaled.points.clear();
  unscaled.near_index.clear();
  for (Sample& p : s.points) p.t_ns *= s.base_ns(p.x) / unscaled.base_ns(p.x);
  s.index();
  return s;
}

// The GPU a borrowed component's label names ("H200 (calibration/models/H200.json)").
std::string label_gpu(const std::string& label) {
  return label.substr(0, label.find(" ("));
}

}  // namespace

std::unique_ptr<CalibratedCostModel> CalibratedCostModel::derive(const CalibratedCostModel& base,
                                                                 const GpuSpec& calibrated_gpu,
                                                                 const GpuSpec& target_gpu,
                                                                 const HardwareCatalog* catalog) {
  std::unique_ptr<CalibratedCostModel> m(new CalibratedCostModel());
  m->model_ = base.model_;
  m->gpu_ = target_gpu.name;
  // Launch plans keep the calibrated GPU's SM count (kPlanSms); the scaling below carries
  // the rest.
  m->derived_ = true;
  m->origin_ = base.origin_;
  m->model_.engine.clear();  // measured on the calibrated GPU's engine, not this GPU's
  // ns multipliers from GPU x's units to y's for a kernel whose multiplies run in `format`
  // (W4A8 in 8-bit; a GPU without FP8 runs them at its bf16 rate).
  struct Ratio {
    double flop = 1, byte = 1;
  };
  auto ratio = [](const GpuSpec& x, const GpuSpec& y, const std::string& format) {
    NumberFormat f = format == "bf16" ? NumberFormat::kBf16 : NumberFormat::kFp8;
    const double px = x.peak(f).value(), py = y.peak(f).value();
    const double bx = x.memory_bandwidth.value(), by = y.memory_bandwidth.value();
    if (!(px > 0 && py > 0 && bx > 0 && by > 0))
      throw InputError("", "hardware.gpus." + (px > 0 && bx > 0 ? y.name : x.name),
                       "cannot derive a cost model: a datasheet peak or bandwidth is zero");
    return Ratio{px / py, bx / by};
  };
  m->splits_.resize(m->model_.components.size());
  for (size_t i = 0; i < m->model_.components.size(); ++i) {
    ComponentModel& c = m->model_.components[i];
    const Ratio to = ratio(calibrated_gpu, target_gpu, c.format);
    // The recorded derivation error was measured from the GPU the component was fitted on
    // (this model's, or the one it was borrowed from) to c.derived_to. Where the catalog names
    // both, keep what the band of a prediction needs to scale it (estimate()).
    const GpuSpec* fitted_on = c.derived_from.empty()
                                   ? &calibrated_gpu
                                   : (catalog ? catalog->find(label_gpu(c.derived_from)) : nullptr);
    const GpuSpec* measured_on = catalog ? catalog->find(c.derived_to) : nullptr;
    if (c.derived.count > 0 && fitted_on && measured_on) {
      const Ratio fit = ratio(calibrated_gpu, *fitted_on, c.format);
      const Ratio measured = ratio(calibrated_gpu, *measured_on, c.format);
      const double spread_measured = std::abs(measured.flop / fit.flop - measured.byte / fit.byte);
      const double spread_target = std::abs(to.flop / fit.flop - to.byte / fit.byte);
      if (spread_measured > 1e-3) {
        DerivationSplit& s = m->splits_[i];
        s.known = true;
        s.spread_ratio = spread_target / spread_measured;
        ComponentModel parametric = c;  // only base_ns is asked of it
        parametric.points.clear();
        parametric.near_index.clear();
        s.at_measured = scaled(parametric, measured.flop, measured.byte);
      }
    }
    c = scaled(c, to.flop, to.byte);
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

namespace {

std::string op_name(const ComponentModel& c) {
  return c.component + (c.variant.empty() ? "" : "[" + c.variant + "]");
}

// The error a prediction of this component carries, as a robust sigma: its validation
// median (shapes never fitted on) where it has one, else its k-fold median; the test set's
// median where that is larger (it chose nothing, so it is not flattered by the choice), and
// the validation shapes' median on other machines of the GPU kind where that is larger still.
double component_sigma(const ComponentModel& c) {
  const ErrorStats& e = c.validation.count > 0 ? c.validation : c.heldout;
  const double median = std::max({e.median, c.test.count > 0 ? c.test.median : 0.0,
                                  c.other_machine.count > 0 ? c.other_machine.median : 0.0});
  return std::max(0.01, 1.4826 * median);  // no kernel repeats better than 1%
}

}  // namespace

Estimate CalibratedCostModel::estimate(const QuadrantShape& shape, bool words) const {
  const std::string format = format_name(shape.compute_format);
  const std::string component = component_name(shape.quadrant);
  const Features core = core_features(shape, model_.plan_rules);
  const Features rest = residual_gemm_features(shape, core, model_.lt_plans.get());

  Estimate e;
  e.provenance = provenance();
  double mean_ns = 0, var = 0;
  std::string parts;
  auto note = [&](const std::string& why) {
    e.extrapolated = true;
    if (!words) return;
    if (e.extrapolation.find(why) == std::string::npos)
      e.extrapolation += (e.extrapolation.empty() ? "" : "; ") + why;
  };
  auto add = [&](const ComponentModel* c, const Features& x, const std::string& wanted_variant,
                 const std::string& wanted_format) {
    const double t = c->predict_ns(x);
    bool outside = false;
    if (c->variant != wanted_variant) {
      outside = true;
      if (words)
        note(component + " " + wanted_variant +
             (shape.quadrant == Quadrant::kDecodeAttention && shape.kv_heads == 1 &&
                      shape.qk_head_dim != shape.v_head_dim
                  ? " (MLA latent)"
                  : "") +
             ": no fitted model, answered by " + op_name(*c));
    }
    if (c->format != wanted_format) {
      outside = true;
      if (words)
        note("no " + wanted_format + " model of " + op_name(*c) + ", answered by its " + c->format);
    }
    if (!c->inside(x)) {
      outside = true;
      if (words) note(op_name(*c) + "/" + c->format + ": outside its profiled range");
    }
    e.extrapolated = e.extrapolated || outside;
    // Another GPU's component derived to this one (borrow_components): its band is the error
    // it measured on this GPU's validation shapes, as a fitted component's is.
    if (!c->derived_from.empty()) e.provenance = Provenance::kDerived;
    double sigma = component_sigma(*c) * (outside ? 2.0 : 1.0);
    if (derived_) {
      double d = c->derived.count > 0 ? 1.4826 * c->derived.median : 0.15;
      // The measured derivation error grows with how unevenly this derivation scales the
      // FLOP and byte parts of this shape's time, against the measured one's (DerivationSplit).
      const DerivationSplit& split = splits_[static_cast<size_t>(c - model_.components.data())];
      const double t_target = c->base_ns(x);
      if (split.known && t_target > 0)
        d *= std::max(1.0, split.spread_ratio * split.at_measured.base_ns(x) / t_target);
      sigma = std::sqrt(sigma * sigma + d * d);
    }
    mean_ns += t;
    var += (sigma * t) * (sigma * t);
    if (!words) return;
    if (!parts.empty()) parts += "+";
    parts += op_name(*c) + "/" + c->format + " " + c->form_label();
    if (!c->derived_from.empty()) parts += " derived from " + c->derived_from;
  };
  bool fb = false;
  if (core.flops > 0 || core.bytes > 0) {
    const std::string variant = kernel_variant(shape, model_.plan_rules);
    const ComponentModel* c = pick(component, format, variant, &fb);
    if (!c)
      throw InputError(origin_, "components",
                       "no model of " + component + " (profile it, or use the roofline)");
    add(c, core, variant, format);
  }
  if (rest.flops > 0 || rest.bytes > 0) {
    const ComponentModel* g = pick("dense_gemm", format, "", &fb);
    if (!g)
      throw InputError(origin_, "components",
                       "no dense_gemm model for the projections and dense FFNs of " + component);
    add(g, rest, "", format);
  }
  e.mean = Duration::nanos(static_cast<int64_t>(std::llround(mean_ns)));
  e.stddev = Duration::nanos(static_cast<int64_t>(std::llround(std::sqrt(var))));
  if (words)
    e.source = (derived_ ? "derived:" + gpu_ + " from " : std::string()) + origin_ + "#" + parts;
  return e;
}

const EngineOverhead* CalibratedCostModel::engine_overhead(const ModelSpec& model) const {
  for (const EngineOverhead& o : model_.engine)
    if (o.model == model.name && o.weights == to_string(model.precision.weights)) return &o;
  return nullptr;
}

namespace {

// Six significant bits: steps of 1/64 to 1/32 of the value (each value within 0.8% of
// its snapped one, well inside the models' error); counts up to 128 kept exact. Bit operations, not
// logarithms: this runs for every step the simulator costs.
int64_t snap_count(int64_t v) {
  if (v <= 128) return v;
  const int shift = 63 - __builtin_clzll(static_cast<uint64_t>(v)) - 6;
  return ((v + (int64_t{1} << (shift - 1))) >> shift) << shift;
}
double snap_amount(double v) {
  if (!(v > 0)) return v;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  constexpr int kDrop = 52 - 6;  // mantissa bits dropped
  bits = (bits + (uint64_t{1} << (kDrop - 1))) & ~((uint64_t{1} << kDrop) - 1);
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// The snapped shape: token counts snapped, and the work beyond the core (projections,
// shared experts: the dense GEMM part) snapped on its own, so that snapping never makes
// up residual work that the exact shape does not have.
QuadrantShape canonical(const QuadrantShape& s) {
  const CoreWork exact = core_flops_bytes(s);
  const double rest_flops = std::max(0.0, s.flops.value() - exact.flops);
  const double rest_bytes = std::max(0.0, s.bytes.value() - exact.bytes);
  QuadrantShape c = s;
  c.new_tokens = snap_count(s.new_tokens);
  c.context_tokens = std::max(c.new_tokens, snap_count(s.context_tokens));
  c.routed_tokens = snap_count(s.routed_tokens);
  const CoreWork core = core_flops_bytes(c);
  c.flops = Flops(core.flops + snap_amount(rest_flops));
  c.bytes = Bytes(core.bytes + snap_amount(rest_bytes));
  return c;
}

}  // namespace

size_t CalibratedCostModel::ShapeHash::operator()(const QuadrantShape& s) const {
  // Fields folded pairwise by 64 x 64 -> 128-bit multiplies (independent, so they run side
  // by side), then one splitmix64 finaliser: a few cycles where twelve chained finalisers
  // took a dozen times as long (this runs for every step the simulator costs).
  __extension__ typedef unsigned __int128 u128;
  auto fold = [](uint64_t a, uint64_t b) {
    const u128 p = static_cast<u128>(a ^ 0x9e3779b97f4a7c15ull) * (b ^ 0xd6e8feb86659fd93ull);
    return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
  };
  auto bits = [](double v) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
  };
  const uint64_t u32 = 0xffffffffull;
  uint64_t h =
      fold(static_cast<uint64_t>(s.quadrant) | static_cast<uint64_t>(s.compute_format) << 8 |
               (static_cast<uint64_t>(s.num_seqs) & u32) << 32,
           static_cast<uint64_t>(s.new_tokens));
  h ^= fold(
      static_cast<uint64_t>(s.context_tokens) + 0x632be59bd9b4e019ull,
      (static_cast<uint64_t>(s.heads) & u32) << 32 | (static_cast<uint64_t>(s.kv_heads) & u32));
  h ^= fold((static_cast<uint64_t>(s.qk_head_dim) & u32) << 32 |
                (static_cast<uint64_t>(s.v_head_dim) & u32),
            static_cast<uint64_t>(s.routed_tokens) + 0x8cb92ba72f3d8dd7ull);
  h ^= fold(
      (static_cast<uint64_t>(s.hidden) & u32) << 32 | (static_cast<uint64_t>(s.intermediate) & u32),
      static_cast<uint64_t>(s.active_experts) + 0x2545f4914f6cdd1dull);
  h ^= fold(bits(s.flops.value()), bits(s.bytes.value()) + 0x9fb21c651e98df25ull);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return static_cast<size_t>(h ^ (h >> 31));
}

bool CalibratedCostModel::ShapeEq::operator()(const QuadrantShape& a,
                                              const QuadrantShape& b) const {
  return a.quadrant == b.quadrant && a.compute_format == b.compute_format &&
         a.num_seqs == b.num_seqs && a.new_tokens == b.new_tokens &&
         a.context_tokens == b.context_tokens && a.heads == b.heads && a.kv_heads == b.kv_heads &&
         a.qk_head_dim == b.qk_head_dim && a.v_head_dim == b.v_head_dim &&
         a.routed_tokens == b.routed_tokens && a.active_experts == b.active_experts &&
         a.hidden == b.hidden && a.intermediate == b.intermediate &&
         a.flops.value() == b.flops.value() && a.bytes.value() == b.bytes.value();
}

Estimate CalibratedCostModel::predict(const QuadrantShape& shape) const {
  return estimate(canonical(shape), true);
}

const CostModel::Core& CalibratedCostModel::lookup(const QuadrantShape& key, size_t hash) const {
  const Keyed k{key, hash};
  {
    std::shared_lock<std::shared_mutex> lock(cache_mutex_);
    auto it = cache_.find(k);
    if (it != cache_.end()) return it->second;
  }
  const Estimate e = estimate(key, false);
  std::unique_lock<std::shared_mutex> lock(cache_mutex_);
  return cache_.emplace(k, Core{e.mean, e.provenance, e.extrapolated, e.stddev}).first->second;
}

CostModel::Core CalibratedCostModel::predict_core(const QuadrantShape& shape) const {
  // A small direct-mapped cache per thread in front of the shared one: a run's
  // consecutive steps mostly snap to shapes just seen, and this answers them without a
  // lock or a walk through the shared map.
  struct Slot {
    const CalibratedCostModel* model = nullptr;
    uint64_t serial = 0;
    size_t hash = 0;
    QuadrantShape key;
    Core core;
  };
  // 4096 slots (about 600 KB a thread): a plan's simulations revisit a few thousand snapped
  // shapes, and the shared map's walk under its lock is what a miss costs.
  thread_local std::vector<Slot> front(4096);
  const QuadrantShape key = canonical(shape);
  const size_t hash = ShapeHash()(key);
  Slot& slot = front[hash & (front.size() - 1)];
  if (slot.hash == hash && slot.model == this && slot.serial == serial_ && ShapeEq()(slot.key, key))
    return slot.core;
  slot = {this, serial_, hash, key, lookup(key, hash)};
  return slot.core;
}

std::string CalibratedCostModel::describe() const {
  const auto borrowed =
      std::count_if(model_.components.begin(), model_.components.end(),
                    [](const ComponentModel& c) { return !c.derived_from.empty(); });
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s cost model for %s (%zu components",
                derived_ ? "derived" : "fitted", gpu_.c_str(), model_.components.size());
  std::string out = buf;
  if (borrowed > 0) out += ", " + std::to_string(borrowed) + " of them derived from another GPU's";
  return out + "), from " + origin_;
}

std::vector<std::string> CalibratedCostModel::caveats() const {
  const std::string changed =
      kernels::plan::rules_difference(model_.plan_rules, kernels::plan::PlanRules{});
  if (changed.empty()) return {};
  return {gpu_ + (derived_ ? " (derived from " + origin_ + ")" : " (" + origin_ + ")") +
          ": fitted on kernels whose launch rules have changed since, " + changed +
          "; its estimates of the shapes those rules decide describe the older kernels until "
          "the profiles are collected again and refitted (calibration/README.md)"};
}

std::unique_ptr<CostModel> calibrated_cost_model_for(const HardwareCatalog& catalog,
                                                     const std::string& gpu) {
  const GpuSpec* target = catalog.find(gpu);
  if (!target) throw InputError("", "hardware.gpus", "no GPU type \"" + gpu + "\" in the catalog");
  if (!target->calibrated.empty()) {
    auto fitted = CalibratedCostModel::load(target->calibrated);
    if (target->clock_factor == 1) return fitted;
    // A power-capped copy of a calibrated type: its own fit, derived to the cap's clock
    // (flops scale with it, bytes do not: GpuSpec::capped_from).
    GpuSpec uncapped = *target;
    uncapped.clock_factor = 1;
    return CalibratedCostModel::derive(*fitted, uncapped, *target, &catalog);
  }
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
  return CalibratedCostModel::derive(*fitted, *base, *target, &catalog);
}

}  // namespace quadrant::calibration
