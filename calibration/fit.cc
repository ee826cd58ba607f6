#include "calibration/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <tuple>

#include "calibration/profile.h"
#include "sim/core/error.h"
#include "sim/core/random.h"

namespace quadrant::calibration {

ErrorStats error_stats(std::vector<double> e) {
  ErrorStats s;
  s.count = static_cast<int>(e.size());
  if (e.empty()) return s;
  std::sort(e.begin(), e.end());
  auto quantile = [&](double p) {
    // Linear interpolation between order statistics (type 7, as numpy's default).
    const double h = p * static_cast<double>(e.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(h));
    const size_t hi = std::min(lo + 1, e.size() - 1);
    return e[lo] + (h - static_cast<double>(lo)) * (e[hi] - e[lo]);
  };
  s.median = quantile(0.5);
  s.p95 = quantile(0.95);
  return s;
}

namespace {

struct Form {
  std::string name;  // sum, pnorm, max
  double q;          // 1, 2, 4; 0 for max
  bool padded;
  bool occupancy = false;
  bool sched = false;  // compute term on the launch plan's scheduled FLOPs
  bool plan = false;   // per-wave, helper-kernel and busiest-slot byte terms
  // The busiest slot's bytes as a third bound beside compute and HBM bytes (combined as
  // they are) rather than a cost added to them: a few CTAs streaming their share at one
  // CTA's pace, or all of them at the HBM's, whichever is slower.
  bool overlap = false;
  // sched forms: the busiest slot's FLOPs beyond the useful ones (scheduled - useful) at a rate
  // of their own (README: "Prefill attention's scheduled FLOPs apart").
  bool split = false;
  // > 0: the coefficients minimise a pseudo-Huber loss of this scale on the relative residuals
  // (iteratively reweighted), not their squares: the fitting shapes the power cap slowed (or
  // cuBLASLt's heuristic gave a slow kernel) pull the coefficients less (README: "A fit robust
  // to the power-cap clock, for the GEMMs").
  double robust = 0;
};

// Work units the GPU runs at once when a critical path is counted: one CTA per SM, the
// 132 SMs of the H100 and H200 (the calibrated GPUs); a model derived for another GPU
// keeps the calibrated GPU's count.
constexpr double kUnitSlots = 132;

// The compute a form sees: FLOPs, the "padded" FLOPs a tiled kernel schedules (rows
// rounded to tiles, and at least a full machine's worth of the largest unit), or the
// launch plan's scheduled FLOPs (the busiest SM slot's share times the slots).
double compute_of(const Features& x, bool padded, bool sched) {
  if (sched && x.sched_flops > 0) return std::max(x.sched_flops, x.flops);
  return padded ? std::max(x.padded_flops, kUnitSlots * x.unit_flops) : x.flops;
}

double combine(double a, double b, double q, double c = 0) {
  if (q == 0) return std::max({a, b, c});
  if (q == 1) return a + b + c;
  const double m = std::max({a, b, c});
  if (m <= 0) return 0;
  return m * std::pow(std::pow(a / m, q) + std::pow(b / m, q) + std::pow(c / m, q), 1.0 / q);
}

// Coefficients of the parametric forms.
enum Coef {
  kOverhead,
  kPerFlop,
  kPerByte,
  kOccupancy,
  kPerWave,
  kPerAuxByte,
  kPerCritByte,
  kPerSerialByte,
  kPerRereadByte,
  kPerHeadRound,
  kPerExtraFlop,
  kPerEmptyWave,
  kCoefs
};

// The compute term: the useful FLOPs and the busiest slot's extra FLOPs (scheduled - useful:
// the last partial wave, padded rows, masked keys of the diagonal tiles) apart (split), or one
// of compute_of's counts at one rate.
double compute_term(const Features& x, const Form& f, const double c[kCoefs]) {
  if (f.split)
    return c[kPerFlop] * x.flops + c[kPerExtraFlop] * std::max(0.0, x.sched_flops - x.flops);
  return c[kPerFlop] * compute_of(x, f.padded, f.sched);
}

// c[kOccupancy] > 0: a shape of P work units runs (1 + c / P) times slower than a full
// machine would (few CTAs, idle SMs). The plan terms add a cost per wave of CTAs (launch,
// prologue and tail of each round), per byte of the helper kernels, per byte of the
// busiest slot (few CTAs each streaming their share at a single CTA's bandwidth), and per
// expert weight byte a later m-tile reads again (the MoE FFN's 16-row tiles: the part the
// L2 does not serve; 0.29x / 0.70x / 0.80x a first read's cost in the H200 BF16 / FP8 / W4A8
// fits of 2026-12-03), per query head of a decode attention CTA per round (features.h
// head_rounds), and per wave of decode attention CTAs that find no work (empty_waves).
double parametric(const Features& x, const Form& f, const double c[kCoefs]) {
  const double fill = x.parallelism > 0 ? 1 + c[kOccupancy] / x.parallelism : 1;
  const double crit = c[kPerCritByte] * x.crit_bytes;
  double t = c[kOverhead] + combine(compute_term(x, f, c), c[kPerByte] * x.bytes, f.q,
                                    f.plan && f.overlap ? crit : 0) *
                                fill;
  if (f.plan)
    t += c[kPerWave] * x.waves + c[kPerAuxByte] * x.aux_bytes + (f.overlap ? 0 : crit) +
         c[kPerSerialByte] * x.serial_bytes + c[kPerRereadByte] * x.reread_bytes +
         c[kPerHeadRound] * x.head_rounds + c[kPerEmptyWave] * x.empty_waves;
  return t;
}

// Weighted linear least squares of t = c0 + c1 F + c2 B (+ plan terms) on relative
// residuals, with negative coefficients dropped and the rest refitted (a small active-set
// NNLS).
void linear_start(const std::vector<Sample>& s, const Form& f, double c[kCoefs]) {
  std::fill(c, c + kCoefs, 0.0);
  constexpr int kTerms = 11;
  const int idx[kTerms] = {kOverhead,     kPerFlop,      kPerByte,       kPerWave,
                           kPerAuxByte,   kPerCritByte,  kPerSerialByte, kPerRereadByte,
                           kPerHeadRound, kPerExtraFlop, kPerEmptyWave};
  const int terms = f.plan ? kTerms : 3;
  bool active[kTerms] = {true, true, true, true, true, true, true, true, true, f.split, true};
  // Only the MoE FFN and prefill attention have re-reads, only decode attention head rounds
  // and empty CTAs: elsewhere those columns stay out of the solve.
  active[7] = std::any_of(s.begin(), s.end(), [](const Sample& x) { return x.x.reread_bytes > 0; });
  active[8] = std::any_of(s.begin(), s.end(), [](const Sample& x) { return x.x.head_rounds > 0; });
  active[10] = std::any_of(s.begin(), s.end(), [](const Sample& x) { return x.x.empty_waves > 0; });
  for (int round = 0; round < 6; ++round) {
    std::vector<int> cols;
    for (int j = 0; j < terms; ++j)
      if (active[j]) cols.push_back(j);
    if (cols.empty()) break;
    Eigen::MatrixXd a(s.size(), cols.size());
    Eigen::VectorXd b = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(s.size()));
    for (size_t i = 0; i < s.size(); ++i) {
      const Features& x = s[i].x;
      const double v[kTerms] = {1.0,
                                f.split ? x.flops : compute_of(x, f.padded, f.sched),
                                x.bytes,
                                x.waves,
                                x.aux_bytes,
                                x.crit_bytes,
                                x.serial_bytes,
                                x.reread_bytes,
                                x.head_rounds,
                                std::max(0.0, x.sched_flops - x.flops),
                                x.empty_waves};
      for (size_t k = 0; k < cols.size(); ++k)
        a(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) = v[cols[k]] / s[i].t_ns;
    }
    Eigen::VectorXd sol = a.colPivHouseholderQr().solve(b);
    bool negative = false;
    for (int j = 0; j < terms; ++j) c[idx[j]] = 0;
    for (size_t k = 0; k < cols.size(); ++k) {
      c[idx[cols[k]]] = sol(static_cast<Eigen::Index>(k));
      if (!(c[idx[cols[k]]] >= 0)) {
        active[cols[k]] = false;
        negative = true;
      }
    }
    if (!negative) break;
  }
  for (int j = 0; j < kCoefs; ++j)
    if (!(c[j] > 0)) c[j] = 0;
}

// Levenberg-Marquardt on log-coefficients (kept positive) minimising the sum of squared
// relative residuals, each weighted by w (all 1 when empty); a coefficient the linear start
// dropped stays at zero.
void refine(const std::vector<Sample>& s, const Form& f, double c[kCoefs],
            const std::vector<double>& w = {}) {
  auto weight = [&](size_t i) { return w.empty() ? 1.0 : w[i]; };
  std::vector<int> free;
  for (int j = 0; j < kCoefs; ++j)
    if (c[j] > 0) free.push_back(j);
  if (free.empty()) return;
  auto cost = [&](const double* cc) {
    double sum = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const double r = parametric(s[i].x, f, cc) / s[i].t_ns - 1;
      sum += weight(i) * r * r;
    }
    return sum;
  };
  const Eigen::Index n = static_cast<Eigen::Index>(free.size());
  const Eigen::Index m = static_cast<Eigen::Index>(s.size());
  double lambda = 1e-3;
  double best = cost(c);
  for (int iter = 0; iter < 200; ++iter) {
    Eigen::MatrixXd jac(m, n);
    Eigen::VectorXd r(m);
    for (Eigen::Index i = 0; i < m; ++i) {
      const Sample& x = s[static_cast<size_t>(i)];
      const double sw = std::sqrt(weight(static_cast<size_t>(i)));
      r(i) = sw * (parametric(x.x, f, c) / x.t_ns - 1);
      for (Eigen::Index k = 0; k < n; ++k) {
        double cc[kCoefs];
        std::copy(c, c + kCoefs, cc);
        const int j = free[static_cast<size_t>(k)];
        const double h = 1e-6;
        cc[j] = c[j] * std::exp(h);
        jac(i, k) = (sw * (parametric(x.x, f, cc) / x.t_ns - 1) - r(i)) / h;
      }
    }
    Eigen::MatrixXd jtj = jac.transpose() * jac;
    Eigen::VectorXd g = jac.transpose() * r;
    bool improved = false;
    for (int tries = 0; tries < 10 && !improved; ++tries) {
      Eigen::MatrixXd damped = jtj;
      for (Eigen::Index k = 0; k < n; ++k) damped(k, k) += lambda * (jtj(k, k) + 1e-12);
      Eigen::VectorXd step = damped.ldlt().solve(-g);
      double cc[kCoefs];
      std::copy(c, c + kCoefs, cc);
      for (Eigen::Index k = 0; k < n; ++k) {
        const int j = free[static_cast<size_t>(k)];
        cc[j] = c[j] * std::exp(std::clamp(step(k), -5.0, 5.0));
      }
      const double trial = cost(cc);
      if (trial < best) {
        const double gain = best - trial;
        std::copy(cc, cc + kCoefs, c);
        best = trial;
        lambda = std::max(lambda / 3, 1e-9);
        improved = true;
        if (gain < 1e-12 * (best + 1e-12)) return;
      } else {
        lambda *= 4;
      }
    }
    if (!improved) return;
  }
}

void fit_parametric(const std::vector<Sample>& s, const Form& f, double c[kCoefs]) {
  linear_start(s, f, c);
  if (f.occupancy) c[kOccupancy] = 1;  // a seed the refinement moves (kept positive)
  if (c[kPerFlop] == 0 && c[kPerByte] == 0) {
    // Degenerate start (e.g. all times alike): a positive seed the refinement can move.
    c[kPerFlop] = 1e-6;
    c[kPerByte] = 1e-6;
  }
  refine(s, f, c);
  // Pseudo-Huber: a residual r weighs 1 / sqrt(1 + (r / scale)^2) of its square, the weights
  // from the previous solution (iteratively reweighted least squares).
  for (int round = 0; f.robust > 0 && round < 5; ++round) {
    std::vector<double> w;
    for (const Sample& x : s) {
      const double r = (parametric(x.x, f, c) / x.t_ns - 1) / f.robust;
      w.push_back(1 / std::sqrt(1 + r * r));
    }
    refine(s, f, c, w);
  }
}

Form form_of(const ComponentModel& m) {
  Form f{m.q == 0 ? "max" : m.q == 1 ? "sum" : "pnorm", m.q, m.padded};
  f.occupancy = m.occupancy > 0;
  f.sched = m.sched;
  f.plan = m.plan;
  f.overlap = m.overlap;
  f.split = m.split;
  f.robust = m.robust_scale;
  return f;
}

struct Point {
  double u, v, w;       // log compute, log bytes, log parallelism (0: unknown)
  double z;             // log of the launch plan's scheduled over useful FLOPs (0: no plan)
  double n = 0, k = 0;  // log of the dense GEMM's n and k, + 1 (0: unknown)
};
Point point_of(const Features& x, bool padded, bool sched) {
  return {std::log(std::max(1.0, compute_of(x, padded, sched))),
          std::log(std::max(1.0, x.bytes)),
          x.parallelism > 0 ? std::log(x.parallelism) + 1 : 0,
          x.sched_flops > 0 && x.flops > 0 ? std::log(std::max(1.0, x.sched_flops / x.flops)) : 0,
          x.gemm_n > 0 ? std::log(x.gemm_n) + 1 : 0,
          x.gemm_k > 0 ? std::log(x.gemm_k) + 1 : 0};
}
// Distance in the log feature space; parallelism counts only when asked and both points
// know it (shapes of equal FLOPs and bytes can differ in how many SMs they fill).
// by_plan: also over how far the launch plan's busiest slot is from an even spread (the last
// partial wave, few CTAs, unequal splits): shapes of equal FLOPs and bytes in another regime
// of the plan carry other residuals.
// by_dims > 0: also over the dense GEMM's log n and log k, weighed by it, where both points
// know them: the shapes of one weight matrix share cuBLASLt's choices and so their residuals.
double distance(const Point& a, const Point& b, bool by_parallelism, bool by_plan = false,
                double by_dims = 0) {
  const double dw = by_parallelism && a.w > 0 && b.w > 0 ? a.w - b.w : 0;
  const double dz = by_plan ? a.z - b.z : 0;
  const bool dims = by_dims > 0 && a.n > 0 && b.n > 0 && a.k > 0 && b.k > 0;
  const double dd = dims ? by_dims * ((a.n - b.n) * (a.n - b.n) + (a.k - b.k) * (a.k - b.k)) : 0;
  return std::sqrt((a.u - b.u) * (a.u - b.u) + (a.v - b.v) * (a.v - b.v) + dw * dw + dz * dz + dd);
}

}  // namespace

double ComponentModel::base_ns(const Features& x) const {
  const double c[kCoefs] = {overhead_ns,       ns_per_flop,        ns_per_byte,
                            occupancy,         ns_per_wave,        ns_per_aux_byte,
                            ns_per_crit_byte,  ns_per_serial_byte, ns_per_reread_byte,
                            ns_per_head_round, ns_per_extra_flop,  ns_per_empty_wave};
  return parametric(x, form_of(*this), c);
}

void ComponentModel::index() {
  near_index.clear();
  if (form != "grid") return;
  for (const Sample& s : points) {
    const Point o = point_of(s.x, padded, sched);
    near_index.push_back({o.u, o.v, o.w, o.z, std::log(s.t_ns / base_ns(s.x)), o.n, o.k});
  }
}

double ComponentModel::predict_ns(const Features& x) const {
  const double base = base_ns(x);
  if (form != "grid" || points.empty()) return base;
  QUADRANT_CHECK_MSG(near_index.size() == points.size(),
                     "ComponentModel::index() not called after the coefficients were set");
  // Inverse-distance mean of the log residuals of the nearest profiled shapes.
  const Point p = point_of(x, padded, sched);
  std::vector<std::pair<double, double>> near;  // distance, log residual
  near.reserve(near_index.size());
  for (const NearPoint& o : near_index)
    near.emplace_back(distance(p, {o.u, o.v, o.w, o.z, o.n, o.k}, near_by_parallelism, near_by_plan,
                               near_by_dims),
                      o.log_residual);
  const size_t k = std::min(near.size(), static_cast<size_t>(std::max(1, neighbours)));
  std::partial_sort(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(k), near.end());
  double wsum = 0, rsum = 0;
  for (size_t i = 0; i < k; ++i) {
    const double w = 1.0 / (near[i].first + 1e-3);
    wsum += w;
    rsum += w * near[i].second;
  }
  // Far from every profiled shape the neighbours' residuals say less about this one: the
  // correction shrinks toward the parametric part with the nearest distance d, by s^2 / (s^2 +
  // d^2) (near_scale s; 0: the full correction at any distance).
  const double d = near.front().first;
  const double shrink =
      near_scale > 0 ? near_scale * near_scale / (near_scale * near_scale + d * d) : 1;
  return base * std::exp(shrink * rsum / wsum);
}

bool ComponentModel::inside(const Features& x) const {
  auto in = [](double v, double l, double h) { return v >= l * 0.98 && v <= h * 1.02; };
  // FLOPs and bytes each within range can still pair into an intensity never profiled
  // (e.g. 16 query heads per KV head when the grid had at most 8).
  const bool intensity_known = lo_intensity > 0 || hi_intensity > 0;
  const double i = x.bytes > 0 ? x.flops / x.bytes : 0;
  return in(x.flops, lo.flops, hi.flops) && in(x.bytes, lo.bytes, hi.bytes) &&
         (!intensity_known || in(i, lo_intensity, hi_intensity));
}

std::string ComponentModel::form_label() const {
  std::string base = q == 0 ? "max" : q == 1 ? "sum" : "pnorm-" + std::to_string(int(q));
  if (padded) base += "/padded";
  if (sched) base += split ? "/sched-split" : "/sched";
  if (plan) base += "/plan";
  if (overlap) base += "/overlap";
  if (occupancy > 0) base += "/occupancy";
  if (robust_scale > 0) base += "/robust";
  if (form != "grid") return base;
  char fade[32] = "";
  if (near_scale > 0) std::snprintf(fade, sizeof fade, ", fading over %g", near_scale);
  char dims[32] = "";
  if (near_by_dims > 0) std::snprintf(dims, sizeof dims, " and n,k x%g", near_by_dims);
  return "grid(" + base + ", " + std::to_string(neighbours) +
         (near_by_parallelism && near_by_plan ? " nearest by F,B,P,S"
          : near_by_parallelism               ? " nearest by F,B,P"
          : near_by_plan                      ? " nearest by F,B,S"
                                              : " nearest") +
         dims + fade + ")";
}

ComponentModel fit_component(const std::string& component, const std::string& format,
                             const std::vector<Sample>& samples, int folds,
                             const std::string& variant) {
  if (samples.size() < 4)
    throw InputError("", component + "." + format,
                     "at least 4 profiled shapes are needed to fit a model, got " +
                         std::to_string(samples.size()));
  for (const Sample& s : samples)
    QUADRANT_CHECK_MSG(s.t_ns > 0, component + ": a sample with a non-positive time");
  // Folds over shapes sorted by size, dealt round-robin: each fold spans the whole range,
  // and the assignment does not depend on the order of the profile file.
  std::vector<Sample> sorted = samples;
  std::sort(sorted.begin(), sorted.end(), [](const Sample& a, const Sample& b) {
    return std::tie(a.x.flops, a.x.bytes, a.t_ns) < std::tie(b.x.flops, b.x.bytes, b.t_ns);
  });
  const int k = std::clamp(folds, 2, static_cast<int>(sorted.size()));

  std::vector<Form> forms = {{"sum", 1, false},
                             {"pnorm", 2, false},
                             {"pnorm", 4, false},
                             {"max", 0, false},
                             {"sum", 1, true},
                             {"pnorm", 2, true},
                             {"pnorm", 4, true},
                             {"max", 0, true},
                             // the same with the occupancy factor
                             {"sum", 1, false, true},
                             {"pnorm", 2, false, true},
                             {"pnorm", 4, false, true},
                             {"max", 0, false, true},
                             {"sum", 1, true, true},
                             {"pnorm", 2, true, true},
                             {"max", 0, true, true},
                             // white-box: the launch plan's scheduled FLOPs and
                             // its per-wave, helper-kernel and busiest-slot terms
                             {"sum", 1, false, false, true, true},
                             {"pnorm", 2, false, false, true, true},
                             {"pnorm", 4, false, false, true, true},
                             {"max", 0, false, false, true, true},
                             {"sum", 1, false, false, false, true},
                             {"pnorm", 2, false, false, false, true},
                             {"max", 0, false, false, false, true}};
  // The busiest slot's bytes as a bound beside compute and HBM bytes (overlap) in the
  // kernels that stream their operands (decode attention's KV, the MoE FFN's expert
  // weights), where a few CTAs each stream their share at one CTA's pace and many are
  // bound by the HBM: two bounds on the same bytes, the slower one sets the time. Not in
  // the compute-bound prefill attention and the dense GEMM (cuBLASLt's own tiling).
  if (component == "decode_attention" || component == "decode_ffn" || component == "prefill_ffn")
    for (const double q : {2.0, 4.0, 0.0})
      for (const bool sched : {true, false})
        forms.push_back({q == 0 ? "max" : "pnorm", q, false, false, sched, true, true});
  // Prefill attention: the busiest slot's extra FLOPs at their own rate. They mix work the
  // kernel does (padded rows, masked keys of diagonal tiles) with SMs a partial wave leaves
  // idle, which lets the busy ones clock higher under the power cap (and, at several CTAs to
  // an SM, gives the busiest slot its SM to itself) (README: "Prefill attention's scheduled
  // FLOPs apart").
  if (component == "prefill_attention")
    for (const double q : {1.0, 2.0, 0.0})
      forms.push_back({q == 0   ? "max"
                       : q == 1 ? "sum"
                                : "pnorm",
                       q, false, false, true, true, false, true});
  struct Near {
    int neighbours = 3;
    bool by_parallelism = false;
    bool by_plan = false;
    double scale = 0;
    double by_dims = 0;
  } near;
  auto fit_on = [&](const std::vector<Sample>& train, const Form& f, bool grid) {
    ComponentModel m;
    m.component = component;
    m.format = format;
    m.variant = variant;
    m.form = grid ? "grid" : f.name;
    m.q = f.q;
    m.padded = f.padded;
    m.sched = f.sched;
    m.plan = f.plan;
    m.overlap = f.overlap;
    m.split = f.split;
    m.robust_scale = f.robust;
    double c[kCoefs];
    fit_parametric(train, f, c);
    m.overhead_ns = c[kOverhead];
    m.ns_per_flop = c[kPerFlop];
    m.ns_per_byte = c[kPerByte];
    m.occupancy = c[kOccupancy];
    m.ns_per_wave = c[kPerWave];
    m.ns_per_aux_byte = c[kPerAuxByte];
    m.ns_per_crit_byte = c[kPerCritByte];
    m.ns_per_serial_byte = c[kPerSerialByte];
    m.ns_per_reread_byte = c[kPerRereadByte];
    m.ns_per_head_round = c[kPerHeadRound];
    m.ns_per_extra_flop = c[kPerExtraFlop];
    m.ns_per_empty_wave = c[kPerEmptyWave];
    if (grid) {
      m.points = train;
      m.neighbours = near.neighbours;
      m.near_by_parallelism = near.by_parallelism;
      m.near_by_plan = near.by_plan;
      m.near_scale = near.scale;
      m.near_by_dims = near.by_dims;
      m.index();
    }
    return m;
  };
  auto score = [](const ErrorStats& e) { return std::max(e.median / 0.03, e.p95 / 0.10); };
  std::vector<std::pair<std::string, double>> by_shape;  // of the last heldout_of call
  auto heldout_of = [&](const Form& f, bool grid) {
    std::vector<double> errs;
    by_shape.clear();
    for (int fold = 0; fold < k; ++fold) {
      std::vector<Sample> train, test;
      for (size_t i = 0; i < sorted.size(); ++i)
        (static_cast<int>(i % static_cast<size_t>(k)) == fold ? test : train).push_back(sorted[i]);
      ComponentModel m = fit_on(train, f, grid);
      for (const Sample& s : test) {
        errs.push_back(std::abs(m.predict_ns(s.x) / s.t_ns - 1));
        by_shape.emplace_back(s.key, errs.back());
      }
    }
    return error_stats(errs);
  };

  std::vector<std::pair<std::string, ErrorStats>> candidates;
  size_t best_form = 0;
  ErrorStats best_err;
  double best_score = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < forms.size(); ++i) {
    ErrorStats e = heldout_of(forms[i], false);
    std::string label = forms[i].q == 0   ? "max"
                        : forms[i].q == 1 ? "sum"
                                          : "pnorm-" + std::to_string(int(forms[i].q));
    if (forms[i].padded) label += "/padded";
    if (forms[i].sched) label += forms[i].split ? "/sched-split" : "/sched";
    if (forms[i].plan) label += "/plan";
    if (forms[i].overlap) label += "/overlap";
    if (forms[i].occupancy) label += "/occupancy";
    candidates.emplace_back(label, e);
    if (score(e) < best_score) {
      best_score = score(e);
      best_form = i;
      best_err = e;
    }
  }
  // The GEMM-shaped ops (dense GEMM, both MoE FFN quadrants): the best form fitted robustly too
  // (Form::robust), kept with its scale where held-out error says so (README: "A fit robust to
  // the power-cap clock, for the GEMMs").
  std::string best_label = candidates[best_form].first;
  if (component == "dense_gemm" || component == "prefill_ffn" || component == "decode_ffn") {
    const Form plain = forms[best_form];
    for (const double scale : {0.01, 0.03}) {
      Form f = plain;
      f.robust = scale;
      const ErrorStats e = heldout_of(f, false);
      char suffix[32];
      std::snprintf(suffix, sizeof suffix, "/robust %g%%", 100 * scale);
      candidates.emplace_back(candidates[best_form].first + suffix, e);
      if (score(e) < best_score) {
        best_score = score(e);
        best_err = e;
        forms[best_form] = f;
        best_label = candidates.back().first;
      }
    }
  }
  // The grid correction on the best form, with its own choices scored the same way.
  bool grid = false;
  Near best_near;
  ErrorStats grid_err;
  double grid_score = std::numeric_limits<double>::infinity();
  // Shapes that know their GEMM's weight matrix (the dense GEMM) also weigh neighbours by it:
  // not at all, as much as by FLOPs and bytes, or four times (README: "Dense GEMM neighbours
  // by their weight matrix").
  const bool dims_known =
      std::any_of(sorted.begin(), sorted.end(), [](const Sample& s) { return s.x.gemm_n > 0; });
  const std::vector<double> by_dims =
      dims_known ? std::vector<double>{0.0, 1.0, 4.0} : std::vector<double>{0.0};
  for (int neighbours : {2, 3, 5, 8})
    for (bool by_parallelism : {false, true})
      for (bool by_plan : {false, true})
        for (const double dims : by_dims) {
          near = {neighbours, by_parallelism, by_plan, 0, dims};
          const ErrorStats e = heldout_of(forms[best_form], true);
          if (score(e) < grid_score) {
            grid_score = score(e);
            grid_err = e;
            best_near = near;
          }
        }
  // Then the distance over which the correction fades (README: "A grid correction that fades
  // with distance").
  for (const double scale : {0.1, 0.25, 0.5, 1.0}) {
    near = best_near;
    near.scale = scale;
    const ErrorStats e = heldout_of(forms[best_form], true);
    if (score(e) < grid_score) {
      grid_score = score(e);
      grid_err = e;
      best_near = near;
    }
  }
  near = best_near;
  candidates.emplace_back("grid(" + best_label + ")", grid_err);
  if (grid_score < best_score) {
    grid = true;
    best_err = grid_err;
  }
  heldout_of(forms[best_form], grid);  // the chosen model's per-shape errors
  std::stable_sort(by_shape.begin(), by_shape.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });

  ComponentModel m = fit_on(sorted, forms[best_form], grid);
  m.heldout = best_err;
  m.folds = k;
  m.candidates = candidates;
  m.heldout_by_shape = by_shape;
  std::vector<double> train_err;
  for (const Sample& s : sorted) train_err.push_back(std::abs(m.predict_ns(s.x) / s.t_ns - 1));
  m.training = error_stats(train_err);
  m.lo = m.hi = sorted.front().x;
  m.lo_intensity = std::numeric_limits<double>::infinity();
  for (const Sample& s : sorted) {
    const double i = s.x.bytes > 0 ? s.x.flops / s.x.bytes : 0;
    m.lo_intensity = std::min(m.lo_intensity, i);
    m.hi_intensity = std::max(m.hi_intensity, i);
    m.lo.flops = std::min(m.lo.flops, s.x.flops);
    m.lo.bytes = std::min(m.lo.bytes, s.x.bytes);
    m.hi.flops = std::max(m.hi.flops, s.x.flops);
    m.hi.bytes = std::max(m.hi.bytes, s.x.bytes);
  }
  return m;
}

const ComponentModel* ModelFile::find(const std::string& component, const std::string& format,
                                      const std::string& variant) const {
  for (const ComponentModel& c : components)
    if (c.component == component && c.format == format && c.variant == variant) return &c;
  return nullptr;
}

namespace {
// The head dim a variant names ("d192v128" -> 192), 0 for none.
int variant_dim(const std::string& v) {
  return v.size() > 1 && v[0] == 'd' ? std::atoi(v.c_str() + 1) : 0;
}
}  // namespace

const ComponentModel* ModelFile::find_nearest(const std::string& component,
                                              const std::string& format, const std::string& variant,
                                              bool* fallback) const {
  *fallback = false;
  if (const ComponentModel* c = find(component, format, variant)) return c;
  const ComponentModel* best = nullptr;
  int best_gap = 0;
  for (const ComponentModel& c : components) {
    if (c.component != component || c.format != format) continue;
    const int gap = std::abs(variant_dim(c.variant) - variant_dim(variant));
    if (!best || gap < best_gap) {
      best = &c;
      best_gap = gap;
    }
  }
  *fallback = best != nullptr;
  return best;
}

namespace {

// The component a profiled op's model is written under: MLA's decode kernel ("mla_decode")
// is the simulator's decode attention of an MLA model, variant d576v512 (its absorbed latent).
std::string model_component(const std::string& quadrant) {
  return quadrant == "mla_decode" ? "decode_attention" : quadrant;
}

std::string op_label(const std::string& component, const std::string& variant) {
  return variant.empty() ? component : component + "[" + variant + "]";
}

}  // namespace

std::vector<ProfileError> error_on_profiles(const ModelFile& m,
                                            const std::vector<std::string>& profile_paths) {
  std::map<std::tuple<std::string, std::string, std::string>, ProfileError> rows;
  for (const std::string& path : profile_paths)
    for (const std::string& file : profile_files(path)) {
      const Profile p = read_profile(file);
      for (size_t i = 0; i < p.shapes.size(); ++i) {
        const ProfileShape& s = p.shapes[i];
        const std::string where = "shapes[" + std::to_string(i) + "]";
        const std::string variant = profile_variant(p.quadrant, s, file, where, m.plan_rules);
        bool fallback = false;
        const ComponentModel* c =
            m.find_nearest(model_component(p.quadrant), s.format, variant, &fallback);
        if (!c) continue;
        ProfileError& r = rows[{p.quadrant, s.format, variant}];
        r.component = p.quadrant;
        r.format = s.format;
        r.variant = variant;
        if (fallback) r.answered_by = op_label(c->component, c->variant);
        const Features x =
            profile_features(p.quadrant, s, file, where, m.lt_plans.get(), m.plan_rules);
        r.by_shape.emplace_back(shape_key(s), c->predict_ns(x) / s.median_ns - 1);
      }
    }
  std::vector<ProfileError> out;
  for (auto& [key, r] : rows) {
    for (const auto& [shape, err] : r.by_shape) r.abs_in_order.push_back(std::abs(err));
    r.stats = error_stats(r.abs_in_order);
    std::stable_sort(r.by_shape.begin(), r.by_shape.end(), [](const auto& a, const auto& b) {
      return std::abs(a.second) > std::abs(b.second);
    });
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<BorrowDecision> borrow_components(ModelFile& m, const ModelFile& other_derived,
                                              const std::string& label) {
  if (m.validation_profiles.empty())
    throw InputError(m.file, "validation_profiles",
                     "borrowing weighs components on the model's validation profiles: it has none "
                     "(fit it with --validation)");
  // The other model as it would predict inside this one: this model's plan rules and plans.
  ModelFile probe = other_derived;
  probe.plan_rules = m.plan_rules;
  probe.lt_plans = m.lt_plans;
  probe.lt_plans_file = m.lt_plans_file;
  const std::vector<ProfileError> own_rows = error_on_profiles(m, m.validation_profiles);
  const std::vector<ProfileError> other_rows = error_on_profiles(probe, m.validation_profiles);
  std::vector<BorrowDecision> out;
  for (const ProfileError& o : other_rows) {
    const std::string component = model_component(o.component);
    const ComponentModel* theirs = probe.find(component, o.format, o.variant);
    if (!o.answered_by.empty() || !theirs) continue;
    const ProfileError* own = nullptr;
    for (const ProfileError& r : own_rows)
      if (r.component == o.component && r.format == o.format && r.variant == o.variant) own = &r;
    BorrowDecision d{component, o.variant, o.format, {}, "", o.stats, false};
    if (own) {
      d.own = own->stats;
      d.own_answered_by = own->answered_by;
      // Both rows come from the same profiles in the same order: the same shapes, paired.
      d.borrowed = own->abs_in_order.size() == o.abs_in_order.size() &&
                   choose_by_validation({own->abs_in_order, o.abs_in_order}).kept == 1;
    } else {
      d.borrowed = true;  // nothing of this model answers these shapes
    }
    if (d.borrowed) {
      ComponentModel c = *theirs;
      c.derived_from = label;
      c.validation = o.stats;
      c.test = {};
      c.other_machine = {};
      // What a derivation by datasheet ratios costs this component: measured just now, to this
      // GPU (the band a GPU derived from this model adds for it).
      c.derived = o.stats;
      c.derived_to = m.gpu;
      const std::string mine = "fitted on this GPU" +
                               (d.own_answered_by.empty() ? "" : " (" + d.own_answered_by + "'s)");
      c.validation_choices = {{mine, d.own}, {"derived from " + label, d.other}};
      c.validation_choice = "derived from " + label;
      bool replaced = false;
      for (ComponentModel& e : m.components)
        if (e.component == component && e.format == o.format && e.variant == o.variant) {
          e = c;
          replaced = true;
        }
      if (!replaced) m.components.push_back(std::move(c));
      std::erase_if(m.validation_extrapolated, [&](const ProfileError& r) {
        return r.component == o.component && r.format == o.format && r.variant == o.variant;
      });
    }
    out.push_back(std::move(d));
  }
  // The borrowed components' error on the other machines' copy and on the test set, which
  // chose nothing here either (the others' is unchanged).
  if (!m.other_machine_profiles.empty()) record_other_machine_error(m, m.other_machine_profiles);
  if (!m.test_profiles.empty()) record_test_error(m, m.test_profiles);
  return out;
}

namespace {

using GroupKey = std::tuple<std::string, std::string, std::string>;  // component, format, variant
using Groups = std::map<GroupKey, std::vector<Sample>>;

// The shapes of profile files or folders grouped by what fits one model: (op, format,
// kernel variant). The MoE FFN quadrants run the same kernels (moe_ffn.cu), told apart by
// the GEMM path their rows per expert select, but not at one clock: on the H200 the decode
// shapes ran at the SM's top clock (1965 MHz median), the prefill shapes, among
// compute-bound prefill work, at what the 700 W power cap granted (BF16 / FP8 1620-1740 MHz
// median; the same shape 85.5 us as decode_ffn, 97.7 us as prefill_ffn), as decode and
// prefill pools do. Pooled, one model missed both (decode wgmma FP8 validation +6% on every
// shape); each quadrant is fitted on its own shapes. Each file read is appended to *files;
// every profile must be of out's GPU (the first read sets it).
void read_groups(const std::vector<std::string>& paths, ModelFile& out, Groups& groups,
                 std::vector<std::string>* files) {
  const LtPlanTable* lt = out.lt_plans.get();
  for (const std::string& path : paths) {
    for (const std::string& file : profile_files(path)) {
      Profile p = read_profile(file);
      if (out.gpu.empty()) {
        out.gpu = p.device.gpu;
        out.device_name = p.device.name;
        out.sm_count = p.device.sm_count;
        out.kernels_revision = p.kernels_revision;
      } else if (p.device.gpu != out.gpu) {
        throw InputError(file, "device.gpu",
                         "all profiles of one model must come from one GPU type: expected \"" +
                             out.gpu + "\", got \"" + p.device.gpu + "\"");
      }
      if (files) files->push_back(file);
      const std::string component = model_component(p.quadrant);
      for (size_t i = 0; i < p.shapes.size(); ++i) {
        const ProfileShape& s = p.shapes[i];
        Sample x;
        const std::string where = "shapes[" + std::to_string(i) + "]";
        x.x = profile_features(p.quadrant, s, file, where, lt, out.plan_rules);
        x.t_ns = s.median_ns;
        x.noise = s.relative_noise();
        x.key = p.quadrant + ":" + shape_key(s);
        groups[{component, s.format, profile_variant(p.quadrant, s, file, where, out.plan_rules)}]
            .push_back(x);
      }
    }
  }
}

// The parametric part of a grid model alone (its coefficients were fitted on the same
// shapes), with the held-out error k-fold gave that form.
ComponentModel without_grid(const ComponentModel& g, const std::vector<Sample>& samples) {
  ComponentModel m = g;
  m.form = g.q == 0 ? "max" : g.q == 1 ? "sum" : "pnorm";
  m.points.clear();
  m.near_index.clear();
  m.heldout_by_shape.clear();
  for (const auto& [label, e] : g.candidates)
    if (label == m.form_label()) m.heldout = e;
  std::vector<double> err;
  for (const Sample& s : samples) err.push_back(std::abs(m.predict_ns(s.x) / s.t_ns - 1));
  m.training = error_stats(err);
  return m;
}

}  // namespace

namespace {
// Each component's error on these profiles into its `field` (cleared first); returns the rows
// of variants without a model of their own (answered by another variant's).
std::vector<ProfileError> record_errors(ModelFile& m, const std::vector<std::string>& paths,
                                        ErrorStats ComponentModel::*field) {
  for (ComponentModel& c : m.components) c.*field = {};
  std::vector<ProfileError> extrapolated;
  for (ProfileError& r : error_on_profiles(m, paths)) {
    if (!r.answered_by.empty()) {
      extrapolated.push_back(std::move(r));
      continue;
    }
    for (ComponentModel& c : m.components)
      if (c.component == model_component(r.component) && c.format == r.format &&
          c.variant == r.variant)
        c.*field = r.stats;
  }
  return extrapolated;
}
}  // namespace

double validation_score(const ErrorStats& e) {
  return std::max(e.median / kTargetMedian, e.p95 / kTargetP95);
}

ValidationChoice choose_by_validation(const std::vector<std::vector<double>>& errors, int resamples,
                                      uint64_t seed) {
  ValidationChoice c;
  const size_t n_alt = errors.size();
  if (n_alt == 0) return c;
  const size_t n = errors[0].size();
  for (const std::vector<double>& e : errors)
    QUADRANT_CHECK(e.size() == n);  // paired: every alternative on the same shapes
  for (size_t i = 0; i < n_alt; ++i) {
    c.score.push_back(validation_score(error_stats(errors[i])));
    if (c.score[i] < c.score[c.lowest]) c.lowest = i;
  }
  // Paired bootstrap: each draw resamples the shapes once for every alternative, so that a
  // shape every alternative misses alike moves all scores together and cancels.
  c.std_err.assign(n_alt, 0);
  if (n >= 2 && resamples >= 2) {
    RandomStream draws(seed, "validation choice");
    std::vector<double> sum(n_alt, 0), sum2(n_alt, 0), picked(n), score(n_alt);
    std::vector<size_t> index(n);
    for (int b = 0; b < resamples; ++b) {
      for (size_t& k : index)
        k = static_cast<size_t>(draws.uniform_int(0, static_cast<int64_t>(n) - 1));
      for (size_t i = 0; i < n_alt; ++i) {
        for (size_t k = 0; k < n; ++k) picked[k] = errors[i][index[k]];
        score[i] = validation_score(error_stats(picked));
      }
      for (size_t i = 0; i < n_alt; ++i) {
        const double d = score[i] - score[c.lowest];
        sum[i] += d;
        sum2[i] += d * d;
      }
    }
    const double draws_n = resamples;
    for (size_t i = 0; i < n_alt; ++i) {
      const double mean = sum[i] / draws_n;
      c.std_err[i] = std::sqrt(std::max(0.0, (sum2[i] - draws_n * mean * mean) / (draws_n - 1)));
    }
  }
  const bool lowest_meets = c.score[c.lowest] <= 1;
  c.kept = c.lowest;
  for (size_t i = 0; i < n_alt; ++i) {
    if (lowest_meets && c.score[i] > 1) continue;
    if (c.score[i] - c.score[c.lowest] <= c.std_err[i]) {
      c.kept = i;
      break;
    }
  }
  return c;
}

ModelFile fit_profiles(const std::vector<std::string>& profile_paths, int folds,
                       const std::vector<std::string>& validation_paths,
                       const std::vector<std::string>& added_paths, const std::string& lt_plans,
                       const kernels::plan::PlanRules& rules) {
  ModelFile out;
  out.plan_rules = rules;
  if (!lt_plans.empty()) {
    out.lt_plans = std::make_shared<const LtPlanTable>(LtPlanTable::read(lt_plans));
    out.lt_plans_file = lt_plans;
  }
  Groups groups, validation;
  read_groups(profile_paths, out, groups, &out.profiles);
  // The added shapes by round of active sampling: the files of one folder are one round, in
  // the order given. Each round is weighed on its own (the rounds before it included), so
  // that a later round that helps one kernel does not displace an earlier one that helped
  // another.
  std::vector<std::string> added_files;
  for (const std::string& path : added_paths)
    for (const std::string& file : profile_files(path)) added_files.push_back(file);
  std::vector<std::vector<std::string>> round_files;
  std::vector<std::string> round_dirs;
  for (const std::string& file : added_files) {
    const std::string dir = std::filesystem::path(file).parent_path().string();
    if (round_dirs.empty() || round_dirs.back() != dir) {
      round_dirs.push_back(dir);
      round_files.emplace_back();
    }
    round_files.back().push_back(file);
  }
  std::vector<Groups> rounds(round_files.size());
  for (size_t r = 0; r < round_files.size(); ++r) {
    read_groups(round_files[r], out, rounds[r], &out.added_profiles);
  }
  if (!validation_paths.empty()) read_groups(validation_paths, out, validation, nullptr);
  for (const auto& [key, fitting] : groups) {
    const auto& [component, format, variant] = key;
    // A kernel with fewer than four shapes in the fitting set (a variant a plan rule splits
    // off, as W4A8's "wgmma-int4" from "wgmma") starts from the first added rounds that bring
    // it to four; the rounds after them are weighed as below.
    std::vector<Sample> samples = fitting;
    size_t first_round = 0;
    for (; samples.size() < 4 && first_round < rounds.size(); ++first_round) {
      const auto in = rounds[first_round].find(key);
      if (in != rounds[first_round].end())
        samples.insert(samples.end(), in->second.begin(), in->second.end());
    }
    // Still fewer than four (the H100's shards hold three of W4A8's wgmma decode shapes and no
    // round holds more): no model of its own, said so; its shapes are answered by the nearest
    // variant's, an extrapolation with a doubled band. Nothing fitted at all is an error.
    if (samples.size() < 4) {
      out.unfitted.push_back({component, format, variant, static_cast<int>(samples.size())});
      continue;
    }
    ComponentModel c = fit_component(component, format, samples, folds, variant);
    bool more = false;
    std::vector<Sample> with_added = samples;
    for (size_t r = first_round; r < rounds.size(); ++r) {
      const auto in = rounds[r].find(key);
      if (in == rounds[r].end()) continue;
      more = true;
      with_added.insert(with_added.end(), in->second.begin(), in->second.end());
    }
    const auto judge = validation.find(key);
    if (judge == validation.end() || judge->second.empty()) {
      if (more) c = fit_component(component, format, with_added, folds, variant);
    } else {
      // Alternatives in order of fewer changes (the order they are listed in), each with the
      // count of added rounds it was fitted on.
      std::vector<std::pair<std::string, ComponentModel>> alternatives;
      std::vector<size_t> rounds_in;
      alternatives.emplace_back("fitting set", c);
      rounds_in.push_back(0);
      if (c.form == "grid") {
        alternatives.emplace_back("fitting set, no grid correction", without_grid(c, samples));
        rounds_in.push_back(0);
      }
      // Rounds 1..r for each r whose round has shapes of this kernel; the last one is
      // every added shape ("with added shapes").
      std::vector<Sample> upto = samples;
      size_t last = 0;
      for (size_t r = first_round; r < rounds.size(); ++r)
        if (rounds[r].count(key)) last = r + 1;
      for (size_t r = first_round; r < last; ++r) {
        const auto in = rounds[r].find(key);
        if (in == rounds[r].end()) continue;
        upto.insert(upto.end(), in->second.begin(), in->second.end());
        const std::string label = r + 1 == last
                                      ? "with added shapes"
                                      : "with added shapes of rounds 1-" + std::to_string(r + 1);
        ComponentModel a = fit_component(component, format, upto, folds, variant);
        alternatives.emplace_back(label, a);
        rounds_in.push_back(r + 1);
        if (a.form == "grid") {
          alternatives.emplace_back(label + ", no grid correction", without_grid(a, upto));
          rounds_in.push_back(r + 1);
        }
      }
      // Preferred: the most added rounds; on the same shapes, the form k-fold chose (with its
      // grid correction) before its parametric part alone.
      std::vector<size_t> order(alternatives.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return rounds_in[a] > rounds_in[b]; });
      std::vector<std::pair<std::string, ErrorStats>> choices;
      std::vector<std::vector<double>> errors(alternatives.size());
      for (size_t i = 0; i < alternatives.size(); ++i) {
        for (const Sample& s : judge->second)
          errors[i].push_back(std::abs(alternatives[i].second.predict_ns(s.x) / s.t_ns - 1));
        choices.emplace_back(alternatives[i].first, error_stats(errors[i]));
      }
      std::vector<std::vector<double>> preferred;
      for (size_t i : order) preferred.push_back(errors[i]);
      const size_t best = order[choose_by_validation(preferred).kept];
      c = std::move(alternatives[best].second);
      c.validation_choices = std::move(choices);
      c.validation_choice = alternatives[best].first;
    }
    out.components.push_back(std::move(c));
  }
  if (out.components.empty() && !out.unfitted.empty()) {
    const UnfittedKernel& u = out.unfitted.front();
    throw InputError(
        "", u.component + "." + u.format,
        "at least 4 profiled shapes are needed to fit a model, got " + std::to_string(u.shapes));
  }
  std::sort(out.components.begin(), out.components.end(),
            [](const ComponentModel& a, const ComponentModel& b) {
              return std::tie(a.component, a.variant, a.format) <
                     std::tie(b.component, b.variant, b.format);
            });
  if (!validation_paths.empty()) {
    out.validation_profiles = validation_paths;
    out.validation_extrapolated = record_errors(out, validation_paths, &ComponentModel::validation);
  }
  return out;
}

void record_test_error(ModelFile& m, const std::vector<std::string>& test_paths) {
  m.test_profiles = test_paths;
  record_errors(m, test_paths, &ComponentModel::test);
}

void record_other_machine_error(ModelFile& m, const std::vector<std::string>& paths) {
  m.other_machine_profiles = paths;
  record_errors(m, paths, &ComponentModel::other_machine);
}

namespace {

Json stats_json(const ErrorStats& e) {
  return {{"median", e.median}, {"p95", e.p95}, {"count", e.count}};
}
ErrorStats read_stats(const Node& n) {
  ErrorStats e;
  e.median = n.at("median").non_negative();
  e.p95 = n.at("p95").non_negative();
  e.count = static_cast<int>(n.integer("count"));
  return e;
}
// "plan_rules": {"moe_mma_residency": "registers", "decode_split": "bytes"}; every rule is
// written. A rule the file does not name was added after the file was written, so the file was
// fitted under that rule's legacy value (as a file without "plan_rules" under all of them): a
// rule added later reads every older file as it was. An unknown name is an error (a typo).
Json plan_rules_json(const kernels::plan::PlanRules& r) {
  return {{"moe_mma_residency", kernels::plan::rule_name(r.moe_mma_residency)},
          {"decode_split", kernels::plan::rule_name(r.decode_split)},
          {"w4a8_decode_form", r.w4a8_decode_form},
          {"w4a8_prefill_dequant", kernels::plan::rule_name(r.w4a8_prefill_dequant)},
          {"fp8_decode_gemm", kernels::plan::rule_name(r.fp8_decode_gemm)},
          {"mla_decode_form", kernels::plan::rule_name(r.mla_decode_form)}};
}
// "a, b or c": the values a rule may take, for its error message.
std::string one_of(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}
template <typename Rule, size_t N>
Rule read_rule(const Node& n, const std::string& key, const std::array<Rule, N>& valid,
               Rule legacy) {
  if (!n.has(key)) return legacy;
  const Node v = n.at(key);
  Rule out{};
  if (!v.json().is_string() || !kernels::plan::rule_from_name(v.json().get<std::string>(), out)) {
    std::vector<std::string> names;
    for (Rule r : valid) names.push_back(std::string("\"") + kernels::plan::rule_name(r) + "\"");
    v.fail("expected " + one_of(names) + ", got " + v.json().dump());
  }
  return out;
}
// A numbered rule (the W4A8 decode form): an integer among `valid`.
template <size_t N>
int read_rule(const Node& n, const std::string& key, const std::array<int, N>& valid, int legacy) {
  if (!n.has(key)) return legacy;
  const Node v = n.at(key);
  if (v.json().is_number_integer())
    for (int r : valid)
      if (v.json().get<int64_t>() == r) return r;
  std::vector<std::string> names;
  for (int r : valid) names.push_back(std::to_string(r));
  v.fail("expected " + one_of(names) + ", got " + v.json().dump());
}
kernels::plan::PlanRules read_plan_rules(const Node& n) {
  for (const std::string& key : n.keys())
    if (key != "moe_mma_residency" && key != "decode_split" && key != "w4a8_decode_form" &&
        key != "w4a8_prefill_dequant" && key != "fp8_decode_gemm" && key != "mla_decode_form")
      n.at(key).fail(
          "unknown plan rule (expected moe_mma_residency, decode_split, w4a8_decode_form, "
          "w4a8_prefill_dequant, fp8_decode_gemm, mla_decode_form)");
  const kernels::plan::PlanRules legacy = kernels::plan::PlanRules::legacy();
  kernels::plan::PlanRules r;
  r.moe_mma_residency = read_rule(n, "moe_mma_residency", kernels::plan::kMoeMmaResidencyRules,
                                  legacy.moe_mma_residency);
  r.decode_split =
      read_rule(n, "decode_split", kernels::plan::kDecodeSplitRules, legacy.decode_split);
  r.w4a8_decode_form = read_rule(n, "w4a8_decode_form", kernels::plan::kW4a8DecodeFormRules,
                                 legacy.w4a8_decode_form);
  r.w4a8_prefill_dequant =
      read_rule(n, "w4a8_prefill_dequant", kernels::plan::kW4a8PrefillDequantRules,
                legacy.w4a8_prefill_dequant);
  r.fp8_decode_gemm =
      read_rule(n, "fp8_decode_gemm", kernels::plan::kFp8DecodeGemmRules, legacy.fp8_decode_gemm);
  r.mla_decode_form =
      read_rule(n, "mla_decode_form", kernels::plan::kMlaDecodeFormRules, legacy.mla_decode_form);
  return r;
}

Features read_range(const Node& n, int side) {
  Features f;
  f.flops = n.at("flops").at(static_cast<size_t>(side)).non_negative();
  f.bytes = n.at("bytes").at(static_cast<size_t>(side)).non_negative();
  f.padded_flops = f.flops;
  return f;
}

}  // namespace

std::string model_to_json(const ModelFile& m) {
  Json head = {
      {"schema_version", 1},
      {"kind", "quadrant-cost-model"},
      {"gpu", m.gpu},
      {"device_name", m.device_name},
      {"sm_count", m.sm_count},
      {"kernels_revision", m.kernels_revision},
      {"profiles", m.profiles},
      {"validation_profiles", m.validation_profiles},
      {"error_metric", "held-out |predicted/measured - 1| over k folds of the profiled shapes"}};
  Json extrapolated = Json::array();
  for (const ProfileError& r : m.validation_extrapolated)
    extrapolated.push_back({{"component", r.component},
                            {"format", r.format},
                            {"variant", r.variant},
                            {"answered_by", r.answered_by},
                            {"validation", stats_json(r.stats)}});
  head["validation_extrapolated"] = extrapolated;
  if (!m.test_profiles.empty()) head["test_profiles"] = m.test_profiles;
  if (!m.other_machine_profiles.empty()) head["other_machine_profiles"] = m.other_machine_profiles;
  if (!m.added_profiles.empty()) head["added_profiles"] = m.added_profiles;
  if (!m.lt_plans_file.empty()) head["cublaslt_plans"] = m.lt_plans_file;
  head["plan_rules"] = plan_rules_json(m.plan_rules);
  std::string out = head.dump();
  out.pop_back();
  out += ",\"components\":[";
  for (size_t i = 0; i < m.components.size(); ++i) {
    const ComponentModel& c = m.components[i];
    Json j = {{"component", c.component},
              {"format", c.format},
              {"variant", c.variant},
              {"form", c.form},
              {"label", c.form_label()},
              {"padded", c.padded},
              {"sched", c.sched},
              {"plan", c.plan},
              {"overlap", c.overlap},
              {"q", c.q},
              {"overhead_ns", c.overhead_ns},
              {"ns_per_flop", c.ns_per_flop},
              {"ns_per_byte", c.ns_per_byte},
              {"occupancy", c.occupancy},
              {"ns_per_wave", c.ns_per_wave},
              {"ns_per_aux_byte", c.ns_per_aux_byte},
              {"ns_per_crit_byte", c.ns_per_crit_byte},
              {"ns_per_serial_byte", c.ns_per_serial_byte},
              {"ns_per_reread_byte", c.ns_per_reread_byte},
              {"ns_per_head_round", c.ns_per_head_round},
              {"ns_per_empty_wave", c.ns_per_empty_wave},
              {"neighbours", c.neighbours},
              {"near_by_parallelism", c.near_by_parallelism},
              {"near_by_plan", c.near_by_plan},
              {"near_scale", c.near_scale},
              {"range",
               {{"flops", {c.lo.flops, c.hi.flops}},
                {"bytes", {c.lo.bytes, c.hi.bytes}},
                {"intensity", {c.lo_intensity, c.hi_intensity}}}},
              {"folds", c.folds},
              {"heldout", stats_json(c.heldout)},
              {"training", stats_json(c.training)}};
    if (c.split) {
      j["split"] = true;
      j["ns_per_extra_flop"] = c.ns_per_extra_flop;
    }
    if (c.robust_scale > 0) j["robust_scale"] = c.robust_scale;
    if (c.near_by_dims > 0) j["near_by_dims"] = c.near_by_dims;
    if (c.validation.count > 0) j["validation"] = stats_json(c.validation);
    if (c.test.count > 0) j["test"] = stats_json(c.test);
    if (c.other_machine.count > 0) j["other_machine"] = stats_json(c.other_machine);
    if (c.derived.count > 0) {
      j["derived"] = stats_json(c.derived);
      j["derived_to"] = c.derived_to;
    }
    if (!c.derived_from.empty()) j["derived_from"] = c.derived_from;
    Json cand = Json::object();
    for (const auto& [name, e] : c.candidates) cand[name] = stats_json(e);
    j["candidates"] = cand;
    if (!c.validation_choices.empty()) {
      Json choices = Json::object();
      for (const auto& [name, e] : c.validation_choices) choices[name] = stats_json(e);
      j["validation_choices"] = choices;
      j["validation_choice"] = c.validation_choice;
    }
    Json pts = Json::array();
    for (const Sample& s : c.points) {
      Json pt = {s.x.flops,       s.x.padded_flops, s.x.bytes,        s.x.parallelism,
                 s.t_ns,          s.x.unit_flops,   s.x.sched_flops,  s.x.crit_bytes,
                 s.x.waves,       s.x.aux_bytes,    s.x.serial_bytes, s.x.reread_bytes,
                 s.x.head_rounds, s.x.empty_waves};
      if (s.x.gemm_n > 0 || s.x.gemm_k > 0) {  // the dense GEMM's weight matrix
        pt.push_back(s.x.gemm_n);
        pt.push_back(s.x.gemm_k);
      }
      pts.push_back(pt);
    }
    j["points"] = pts;
    out += (i ? ",\n" : "\n") + j.dump();
  }
  out += "\n]";
  if (!m.engine.empty()) {
    Json e = Json::array();
    for (const EngineOverhead& o : m.engine) {
      Json entry = {{"model", o.model},
                    {"weights", o.weights},
                    {"step_ns", o.step_ns},
                    {"decode_step_ns", o.decode_step_ns},
                    {"per_seq_ns", o.per_seq_ns},
                    {"per_token_ns", o.per_token_ns},
                    {"per_prefill_pair_ns", o.per_prefill_pair_ns},
                    {"decode_per_row_ns", o.decode_per_row_ns},
                    {"per_active_expert_ns", o.per_active_expert_ns},
                    {"expert_tile_rows", o.expert_tile_rows},
                    {"graph_buckets", o.graph_buckets},
                    {"prefill_attention", o.prefill_attention},
                    {"decode_attention", o.decode_attention},
                    {"prefill_ffn", o.prefill_ffn},
                    {"decode_ffn", o.decode_ffn},
                    {"steps", o.steps},
                    {"heldout", {{"median", o.heldout_median}, {"p95", o.heldout_p95}}}};
      if (o.expert_wave_slots > 0)
        entry["expert_waves"] = {{"per_wave_ns", o.per_expert_wave_ns},
                                 {"ctas_per_tile", o.expert_wave_ctas},
                                 {"slots", o.expert_wave_slots}};
      const EngineOverhead::AttentionLaunch& a = o.attention_launch;
      if (!a.kv_bounds.empty()) {
        entry["per_attention_token_ns"] = o.per_attention_token_ns;
        entry["decode_only_attention"] = o.decode_only_attention;
        if (o.mixed_attention_launch) entry["mixed_attention_launch"] = true;
        entry["attention_launch"] = {{"kv_bounds", a.kv_bounds},
                                     {"chunk", a.chunk},
                                     {"ctas_per_chunk", a.ctas_per_chunk},
                                     {"slots", a.slots},
                                     {"cta_overhead_tokens", a.cta_overhead_tokens},
                                     {"rate_cap", a.rate_cap}};
      }
      e.push_back(entry);
    }
    out += ",\n\"engine\":" + e.dump();
  }
  out += "}";
  return out;
}

ModelFile read_model(const std::string& file) {
  Json j = load_json(file);
  Node root(j, file);
  if (root.integer("schema_version") != 1)
    root.at("schema_version")
        .fail("expected schema version 1, got " + root.at("schema_version").json().dump());
  if (root.string("kind") != "quadrant-cost-model")
    root.at("kind").fail("expected \"quadrant-cost-model\", got \"" + root.string("kind") + "\"");
  ModelFile m;
  m.file = file;
  m.gpu = root.string("gpu");
  m.device_name = root.string_or("device_name", "");
  m.sm_count = root.has("sm_count") ? static_cast<int>(root.integer("sm_count")) : 0;
  m.kernels_revision = root.string_or("kernels_revision", "");
  if (root.has("profiles")) {
    Node ps = root.at("profiles");
    for (size_t i = 0; i < ps.size(); ++i) m.profiles.push_back(ps.at(i).string());
  }
  if (root.has("validation_profiles")) {
    Node ps = root.at("validation_profiles");
    for (size_t i = 0; i < ps.size(); ++i) m.validation_profiles.push_back(ps.at(i).string());
  }
  if (root.has("test_profiles")) {
    Node ps = root.at("test_profiles");
    for (size_t i = 0; i < ps.size(); ++i) m.test_profiles.push_back(ps.at(i).string());
  }
  if (root.has("other_machine_profiles")) {
    Node ps = root.at("other_machine_profiles");
    for (size_t i = 0; i < ps.size(); ++i) m.other_machine_profiles.push_back(ps.at(i).string());
  }
  if (root.has("cublaslt_plans")) {
    // As written (repository-relative), else beside the model file (calibration/models/x.json
    // -> calibration/plans/...): the model works from any directory.
    m.lt_plans_file = root.string("cublaslt_plans");
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(file).parent_path();
    std::string found;
    for (const fs::path& p :
         {fs::path(m.lt_plans_file), dir / m.lt_plans_file, dir / ".." / ".." / m.lt_plans_file,
          dir / ".." / "plans" / fs::path(m.lt_plans_file).filename()})
      if (fs::exists(p)) {
        found = p.string();
        break;
      }
    if (found.empty())
      root.at("cublaslt_plans")
          .fail(
              "the cuBLASLt plan table was not found (from the working directory or beside "
              "the model file)");
    m.lt_plans = std::make_shared<const LtPlanTable>(LtPlanTable::read(found));
  }
  // Every file written before files recorded their rules was fitted under the legacy ones.
  m.plan_rules = root.has("plan_rules") ? read_plan_rules(root.at("plan_rules"))
                                        : kernels::plan::PlanRules::legacy();
  if (root.has("added_profiles")) {
    Node ps = root.at("added_profiles");
    for (size_t i = 0; i < ps.size(); ++i) m.added_profiles.push_back(ps.at(i).string());
  }
  if (root.has("validation_extrapolated")) {
    Node rs = root.at("validation_extrapolated");
    for (size_t i = 0; i < rs.size(); ++i) {
      Node r = rs.at(i);
      ProfileError e;
      e.component = r.string("component");
      e.format = r.string("format");
      e.variant = r.string("variant");
      e.answered_by = r.string("answered_by");
      e.stats = read_stats(r.at("validation"));
      m.validation_extrapolated.push_back(std::move(e));
    }
  }
  Node cs = root.at("components");
  for (size_t i = 0; i < cs.size(); ++i) {
    Node n = cs.at(i);
    ComponentModel c;
    c.component = n.string("component");
    c.format = n.string("format");
    c.variant = n.has("variant") ? n.string("variant") : "";
    c.form = n.string("form");
    if (c.form != "sum" && c.form != "pnorm" && c.form != "max" && c.form != "grid")
      n.at("form").fail("expected one of sum, pnorm, max, grid, got \"" + c.form + "\"");
    c.padded = n.at("padded").boolean();
    c.sched = n.has("sched") && n.at("sched").boolean();
    c.plan = n.has("plan") && n.at("plan").boolean();
    c.overlap = n.has("overlap") && n.at("overlap").boolean();
    c.split = n.has("split") && n.at("split").boolean();
    c.q = n.at("q").non_negative();
    c.overhead_ns = n.at("overhead_ns").non_negative();
    c.ns_per_flop = n.at("ns_per_flop").non_negative();
    c.ns_per_byte = n.at("ns_per_byte").non_negative();
    c.occupancy = n.has("occupancy") ? n.at("occupancy").non_negative() : 0;
    auto optional = [&](const char* key) { return n.has(key) ? n.at(key).non_negative() : 0.0; };
    c.ns_per_wave = optional("ns_per_wave");
    c.ns_per_aux_byte = optional("ns_per_aux_byte");
    c.ns_per_crit_byte = optional("ns_per_crit_byte");
    c.ns_per_serial_byte = optional("ns_per_serial_byte");
    c.ns_per_reread_byte = optional("ns_per_reread_byte");
    c.ns_per_head_round = optional("ns_per_head_round");
    c.ns_per_extra_flop = optional("ns_per_extra_flop");
    c.robust_scale = optional("robust_scale");
    c.ns_per_empty_wave = optional("ns_per_empty_wave");
    if (c.ns_per_flop == 0 && c.ns_per_byte == 0 && c.overhead_ns == 0)
      n.fail("a model with every cost zero predicts nothing");
    c.neighbours = static_cast<int>(n.integer("neighbours"));
    c.near_by_parallelism = n.has("near_by_parallelism") && n.at("near_by_parallelism").boolean();
    c.near_by_plan = n.has("near_by_plan") && n.at("near_by_plan").boolean();
    c.near_scale = optional("near_scale");
    c.near_by_dims = optional("near_by_dims");
    c.lo = read_range(n.at("range"), 0);
    c.hi = read_range(n.at("range"), 1);
    if (n.at("range").has("intensity")) {
      c.lo_intensity = n.at("range").at("intensity").at(size_t{0}).non_negative();
      c.hi_intensity = n.at("range").at("intensity").at(size_t{1}).non_negative();
    }
    c.folds = static_cast<int>(n.integer("folds"));
    c.heldout = read_stats(n.at("heldout"));
    c.training = read_stats(n.at("training"));
    if (n.has("validation")) c.validation = read_stats(n.at("validation"));
    if (n.has("test")) c.test = read_stats(n.at("test"));
    if (n.has("other_machine")) c.other_machine = read_stats(n.at("other_machine"));
    if (n.has("derived")) {
      c.derived = read_stats(n.at("derived"));
      c.derived_to = n.string("derived_to");
    }
    if (n.has("derived_from")) c.derived_from = n.string("derived_from");
    if (n.has("candidates")) {
      Node cand = n.at("candidates");
      for (const std::string& k : cand.keys()) c.candidates.emplace_back(k, read_stats(cand.at(k)));
    }
    if (n.has("validation_choices")) {
      Node choices = n.at("validation_choices");
      for (const std::string& k : choices.keys())
        c.validation_choices.emplace_back(k, read_stats(choices.at(k)));
      c.validation_choice = n.string("validation_choice");
    }
    Node pts = n.at("points");
    for (size_t p = 0; p < pts.size(); ++p) {
      Node pt = pts.at(p);
      if (pt.size() != 5 && pt.size() != 6 && (pt.size() < 10 || pt.size() > 14) && pt.size() != 16)
        pt.fail(
            "expected [flops, padded_flops, bytes, parallelism, t_ns, unit_flops, sched_flops, "
            "crit_bytes, waves, aux_bytes, serial_bytes, reread_bytes, head_rounds, empty_waves, "
            "gemm_n, gemm_k] (the last 11, 10, 6, 5, 4, 3 or 2 may be left out)");
      Sample s;
      s.x.flops = pt.at(size_t{0}).non_negative();
      s.x.padded_flops = pt.at(size_t{1}).non_negative();
      s.x.bytes = pt.at(size_t{2}).non_negative();
      s.x.parallelism = pt.at(size_t{3}).non_negative();
      s.t_ns = pt.at(size_t{4}).positive();
      if (pt.size() >= 6) s.x.unit_flops = pt.at(size_t{5}).non_negative();
      if (pt.size() >= 11) s.x.serial_bytes = pt.at(size_t{10}).non_negative();
      if (pt.size() >= 12) s.x.reread_bytes = pt.at(size_t{11}).non_negative();
      if (pt.size() >= 13) s.x.head_rounds = pt.at(size_t{12}).non_negative();
      if (pt.size() >= 14) s.x.empty_waves = pt.at(size_t{13}).non_negative();
      if (pt.size() >= 16) {
        s.x.gemm_n = pt.at(size_t{14}).non_negative();
        s.x.gemm_k = pt.at(size_t{15}).non_negative();
      }
      if (pt.size() >= 10) {
        s.x.sched_flops = pt.at(size_t{6}).non_negative();
        s.x.crit_bytes = pt.at(size_t{7}).non_negative();
        s.x.waves = pt.at(size_t{8}).non_negative();
        s.x.aux_bytes = pt.at(size_t{9}).non_negative();
      }
      c.points.push_back(s);
    }
    if (c.form == "grid" && c.points.empty()) n.at("points").fail("the grid form needs its points");
    c.index();
    m.components.push_back(std::move(c));
  }
  if (root.has("engine")) {
    Node es = root.at("engine");
    for (size_t i = 0; i < es.size(); ++i) {
      Node n = es.at(i);
      EngineOverhead o;
      o.model = n.string("model");
      o.weights = n.string("weights");
      o.step_ns = n.at("step_ns").non_negative();
      // Files fitted before decode-only steps had their own fixed time: the same for both.
      o.decode_step_ns =
          n.has("decode_step_ns") ? n.at("decode_step_ns").non_negative() : o.step_ns;
      o.per_seq_ns = n.at("per_seq_ns").non_negative();
      o.per_token_ns = n.at("per_token_ns").non_negative();
      // Files fitted before the prefill context term: none.
      o.per_prefill_pair_ns =
          n.has("per_prefill_pair_ns") ? n.at("per_prefill_pair_ns").non_negative() : 0;
      // Files fitted before decode-only steps had their own terms: the same step time.
      o.decode_per_row_ns = n.has("decode_per_row_ns") ? n.at("decode_per_row_ns").non_negative()
                                                       : o.per_seq_ns + o.per_token_ns;
      o.per_active_expert_ns =
          n.has("per_active_expert_ns") ? n.at("per_active_expert_ns").non_negative() : 0;
      if (n.has("expert_tile_rows")) {
        const int64_t tile = n.at("expert_tile_rows").integer();
        if (tile < 0 || tile > 1 << 20)
          n.at("expert_tile_rows")
              .fail("expected 0 (active experts) or rows per tile, got " + std::to_string(tile));
        o.expert_tile_rows = static_cast<int>(tile);
      }
      if (n.has("expert_waves")) {  // the decode MoE down projection's waves (engine_fit.h)
        const Node w = n.at("expert_waves");
        o.per_expert_wave_ns = w.at("per_wave_ns").non_negative();
        for (auto [key, field] : {std::pair{"ctas_per_tile", &o.expert_wave_ctas},
                                  std::pair{"slots", &o.expert_wave_slots}}) {
          const int64_t x = w.at(key).integer();
          if (x < 1 || x > 1 << 20)
            w.at(key).fail("expected a positive count, got " + std::to_string(x));
          *field = static_cast<int>(x);
        }
      }
      if (n.has("graph_buckets")) {
        const Node b = n.at("graph_buckets");
        for (size_t k = 0; k < b.size(); ++k) {
          const int64_t rows = b.at(k).integer();
          if (rows < 1 || rows > 1 << 20 || (k > 0 && rows <= o.graph_buckets.back()))
            b.at(k).fail("expected ascending batch sizes from 1, got " + std::to_string(rows));
          o.graph_buckets.push_back(static_cast<int>(rows));
        }
      }
      if (n.has("attention_launch")) {
        // The engine's decode attention launch (EngineOverhead::AttentionLaunch): a chunk
        // per graph bucket and KV bound.
        const Node a = n.at("attention_launch");
        EngineOverhead::AttentionLaunch& l = o.attention_launch;
        const Node bounds = a.at("kv_bounds");
        for (size_t k = 0; k < bounds.size(); ++k) {
          const int64_t x = bounds.at(k).integer();
          if (x < 1 || x > 1 << 24 || (k > 0 && x <= l.kv_bounds.back()))
            bounds.at(k).fail("expected ascending KV lengths from 1, got " + std::to_string(x));
          l.kv_bounds.push_back(static_cast<int>(x));
        }
        const Node chunks = a.at("chunk");
        if (l.kv_bounds.empty() || chunks.size() != o.graph_buckets.size())
          chunks.fail("expected a row of chunks per graph bucket (" +
                      std::to_string(o.graph_buckets.size()) + ") and at least one KV bound");
        for (size_t r = 0; r < chunks.size(); ++r) {
          const Node row = chunks.at(r);
          if (row.size() != l.kv_bounds.size())
            row.fail("expected a chunk per KV bound (" + std::to_string(l.kv_bounds.size()) +
                     "), got " + std::to_string(row.size()));
          std::vector<int> v;
          for (size_t b = 0; b < row.size(); ++b) {
            const int64_t x = row.at(b).integer();
            if (x < 1 || x > 1 << 24)
              row.at(b).fail("expected a chunk of 1 or more tokens, got " + std::to_string(x));
            v.push_back(static_cast<int>(x));
          }
          l.chunk.push_back(std::move(v));
        }
        auto positive = [&](const char* key, int64_t lo) {
          const int64_t x = a.at(key).integer();
          if (x < lo || x > 1 << 20)
            a.at(key).fail("expected at least " + std::to_string(lo) + ", got " +
                           std::to_string(x));
          return static_cast<int>(x);
        };
        l.ctas_per_chunk = positive("ctas_per_chunk", 1);
        l.slots = positive("slots", 1);
        l.cta_overhead_tokens = positive("cta_overhead_tokens", 0);
        l.rate_cap = a.at("rate_cap").non_negative();
        if (l.rate_cap < 1)
          a.at("rate_cap").fail("expected 1 or more, got " + std::to_string(l.rate_cap));
        o.per_attention_token_ns = n.at("per_attention_token_ns").non_negative();
        o.decode_only_attention = n.at("decode_only_attention").non_negative();
        // Files fitted before it: a step with prefill's decodes on the kernel model.
        o.mixed_attention_launch =
            n.has("mixed_attention_launch") && n.at("mixed_attention_launch").boolean();
      }
      o.prefill_attention = n.at("prefill_attention").non_negative();
      o.decode_attention = n.at("decode_attention").non_negative();
      o.prefill_ffn = n.at("prefill_ffn").non_negative();
      o.decode_ffn = n.at("decode_ffn").non_negative();
      o.steps = static_cast<int>(n.integer("steps"));
      o.heldout_median = n.at("heldout").at("median").non_negative();
      o.heldout_p95 = n.at("heldout").at("p95").non_negative();
      m.engine.push_back(o);
    }
  }
  return m;
}

namespace {
// One ceilings file: the targets, or where a row misses one, its level rounded up to 0.5
// points. errors: (component, variant, format, stats) of each judged row.
struct JudgedRow {
  std::string component, variant, format;
  ErrorStats stats;
};
std::string ceilings_json(const std::string& gpu, const std::vector<std::string>& profiles,
                          const std::vector<JudgedRow>& rows) {
  auto ceiling = [](double achieved, double target) {
    return std::max(target, std::ceil(achieved * 200 - 1e-9) / 200);
  };
  Json comps = Json::array();
  for (const JudgedRow& r : rows)
    comps.push_back({{"component", r.component},
                     {"variant", r.variant},
                     {"format", r.format},
                     {"shapes", r.stats.count},
                     {"median", ceiling(r.stats.median, kTargetMedian)},
                     {"p95", ceiling(r.stats.p95, kTargetP95)},
                     {"median_target_met", r.stats.median <= kTargetMedian},
                     {"p95_target_met", r.stats.p95 <= kTargetP95}});
  Json j = {{"schema_version", 1},
            {"kind", "quadrant-validation-ceilings"},
            {"gpu", gpu},
            {"targets", {{"median", kTargetMedian}, {"p95", kTargetP95}}},
            {"validation_profiles", profiles},
            {"components", comps}};
  return j.dump(1);
}
}  // namespace

std::string validation_ceilings_json(const ModelFile& m) {
  std::vector<JudgedRow> rows;
  for (const ComponentModel& c : m.components)
    if (c.validation.count > 0) rows.push_back({c.component, c.variant, c.format, c.validation});
  return ceilings_json(m.gpu, m.validation_profiles, rows);
}

std::string test_set_ceilings_json(const std::string& gpu, const std::vector<std::string>& profiles,
                                   const std::vector<ProfileError>& errors) {
  std::vector<JudgedRow> rows;
  for (const ProfileError& e : errors)
    if (e.answered_by.empty() && e.stats.count > 0)
      rows.push_back({e.component, e.variant, e.format, e.stats});
  return ceilings_json(gpu, profiles, rows);
}

std::string error_table(const ModelFile& m, bool markdown) {
  std::string out;
  char line[512];
  const bool val = !m.validation_profiles.empty();
  auto pct = [](const ErrorStats& e, bool have) {
    char b[48];
    if (!have) return std::string("-");
    std::snprintf(b, sizeof b, "%.1f%% / %.1f%%", 100 * e.median, 100 * e.p95);
    return std::string(b);
  };
  auto verdict = [](const ErrorStats& e) {
    return std::string(e.median <= 0.03 ? "median met" : "median MISSED") + ", " +
           (e.p95 <= 0.10 ? "P95 met" : "P95 MISSED");
  };
  // The test set's columns (shapes that chose nothing), when the model records one.
  const bool test = !m.test_profiles.empty();
  auto test_cols = [&](const ErrorStats& e) {
    if (!test) return std::string();
    char b[64];
    if (markdown)
      std::snprintf(b, sizeof b, " %d | %s |", e.count, pct(e, e.count > 0).c_str());
    else
      std::snprintf(b, sizeof b, " %6d %17s", e.count, pct(e, e.count > 0).c_str());
    return std::string(b);
  };
  if (markdown) {
    out +=
        "| op | format | form | k-fold shapes | k-fold median / P95 | validation shapes | "
        "validation median / P95 |";
    out += test ? " test shapes | test median / P95 |" : "";
    out += " targets (3% / 10%) |\n";
    out += test ? "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
                : "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n";
  } else {
    std::snprintf(line, sizeof line, "%-28s %-5s %-34s %6s %17s %6s %17s", "op", "fmt", "form",
                  "shapes", "k-fold med / P95", "valid", "validation med/P95");
    out += line;
    if (test) {
      std::snprintf(line, sizeof line, " %6s %17s", "test", "test med/P95");
      out += line;
    }
    out += "  targets\n";
  }
  for (const ComponentModel& c : m.components) {
    const std::string op = op_label(c.component, c.variant);
    // Targets judged on the validation set when there is one, else on the k-fold error.
    const bool have_val = c.validation.count > 0;
    const std::string v = verdict(have_val ? c.validation : c.heldout) +
                          (have_val ? " (validation)"
                           : val    ? " (k-fold; no validation shapes)"
                                    : " (k-fold)") +
                          (c.derived_from.empty() ? "" : "; derived from " + c.derived_from);
    if (markdown)
      std::snprintf(line, sizeof line, "| %s | %s | %s | %d | %s | %d | %s |%s %s |\n", op.c_str(),
                    c.format.c_str(), c.form_label().c_str(), c.heldout.count,
                    pct(c.heldout, true).c_str(), c.validation.count,
                    pct(c.validation, have_val).c_str(), test_cols(c.test).c_str(), v.c_str());
    else
      std::snprintf(line, sizeof line, "%-28s %-5s %-34s %6d %17s %6d %17s%s  %s\n", op.c_str(),
                    c.format.c_str(), c.form_label().c_str(), c.heldout.count,
                    pct(c.heldout, true).c_str(), c.validation.count,
                    pct(c.validation, have_val).c_str(), test_cols(c.test).c_str(), v.c_str());
    out += line;
  }
  for (const ProfileError& r : m.validation_extrapolated) {
    const std::string op = op_label(r.component, r.variant);
    const std::string form = "no model: " + r.answered_by + "'s";
    if (markdown)
      std::snprintf(line, sizeof line, "| %s | %s | %s | - | - | %d | %s |%s %s (extrapolated) |\n",
                    op.c_str(), r.format.c_str(), form.c_str(), r.stats.count,
                    pct(r.stats, true).c_str(), test_cols({}).c_str(), verdict(r.stats).c_str());
    else
      std::snprintf(line, sizeof line, "%-28s %-5s %-34s %6s %17s %6d %17s%s  %s (extrapolated)\n",
                    op.c_str(), r.format.c_str(), form.c_str(), "-", "-", r.stats.count,
                    pct(r.stats, true).c_str(), test_cols({}).c_str(), verdict(r.stats).c_str());
    out += line;
  }
  // The plan rules every feature above was computed under (ModelFile::plan_rules).
  out += "\nPlan rules of the features: " + kernels::plan::rules_description(m.plan_rules) + ".\n";
  // What the validation set chose (fit_profiles): each alternative's validation error.
  bool chose = false;
  for (const ComponentModel& c : m.components) chose = chose || !c.validation_choices.empty();
  if (!chose) return out;
  out += markdown
             ? "\nKept by validation error (added shapes, grid correction):\n\n"
               "| op | format | alternative: validation median / P95 (kept in bold; (lowest): the "
               "lowest score where another was kept within its noise) |\n"
               "| --- | --- | --- |\n"
             : "\nkept by validation error (added shapes, grid correction; * = kept, "
               "(lowest) = the lowest score where another was kept within its noise)\n";
  for (const ComponentModel& c : m.components) {
    if (c.validation_choices.empty()) continue;
    // The lowest score, where the choice kept another within its noise (choose_by_validation).
    double lowest = std::numeric_limits<double>::infinity();
    for (const auto& [name, e] : c.validation_choices)
      lowest = std::min(lowest, validation_score(e));
    std::string alts;
    for (const auto& [name, e] : c.validation_choices) {
      const bool kept = name == c.validation_choice;
      if (!alts.empty()) alts += markdown ? "; " : "  ";
      alts += (kept && markdown ? "**" : "") + name + ": " + pct(e, true) +
              (kept ? (markdown ? "**" : " *") : "") +
              (!kept && validation_score(e) == lowest ? " (lowest)" : "");
    }
    const std::string op = op_label(c.component, c.variant);
    if (markdown) {
      out += "| " + op + " | " + c.format + " | " + alts + " |\n";
    } else {
      std::snprintf(line, sizeof line, "%-28s %-5s ", op.c_str(), c.format.c_str());
      out += line + alts + "\n";
    }
  }
  return out;
}

}  // namespace quadrant::calibration
