#include "calibration/engine/engine_fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "calibration/engine/cost_executor.h"
#include "kernels/plan/dispatch.h"
#include "sim/core/error.h"

namespace quadrant::engine {
namespace {

constexpr int kCoefficients = 14;
// The factors held near 1 by the prior: prefill attention, decode attention, prefill FFN
// (the decode FFN's factor is free: the decode-only steps pin it, or the row and expert
// terms replace it).
constexpr int kPriored[] = {6, 7, 8};

// The fit's columns of one step, in from_coefficients' order.
Eigen::Matrix<double, kCoefficients, 1> columns(const EngineStep& s) {
  Eigen::Matrix<double, kCoefficients, 1> x;
  const double p = s.prefill ? 1 : 0, d = 1 - p;
  // A decode-only step priced by its attention launch has its own decode attention factor
  // (column 11), free of the prior; otherwise decode attention is column 7 in every step.
  // With EngineOverhead::mixed_attention_launch a step with prefill prices its decodes so
  // too (attention_launch set on it): the same two columns, shared with decode-only steps.
  const double own = s.attention_launch ? 1 : 0;
  x << p, d, p * s.seqs, p * s.tokens, d * s.rows, d * s.expert_reads, s.prefill_attention_ns,
      (1 - own) * s.decode_attention_ns, s.prefill_ffn_ns, s.decode_ffn_ns, s.attention_tokens,
      own * s.decode_attention_ns, p * s.prefill_pairs, d * s.expert_waves;
  return x;
}

EngineOverhead from_coefficients(const Eigen::VectorXd& c) {
  EngineOverhead o;
  o.step_ns = c(0);
  o.decode_step_ns = c(1);
  o.per_seq_ns = c(2);
  o.per_token_ns = c(3);
  o.decode_per_row_ns = c(4);
  o.per_active_expert_ns = c(5);
  o.prefill_attention = c(6);
  o.decode_attention = c(7);
  o.prefill_ffn = c(8);
  o.decode_ffn = c(9);
  o.per_attention_token_ns = c(10);
  o.decode_only_attention = c(11);
  o.per_prefill_pair_ns = c(12);
  o.per_expert_wave_ns = c(13);
  return o;
}

// Lawson-Hanson non-negative least squares: min |A x - b| with x >= 0.
Eigen::VectorXd nnls(const Eigen::MatrixXd& a, const Eigen::VectorXd& b) {
  const Eigen::Index n = a.cols();
  Eigen::VectorXd x = Eigen::VectorXd::Zero(n);
  std::vector<bool> passive(static_cast<size_t>(n), false);
  const double tol = 1e-12 * std::max(1.0, a.norm() * b.norm());
  auto solve_passive = [&]() {
    std::vector<Eigen::Index> idx;
    for (Eigen::Index j = 0; j < n; ++j)
      if (passive[static_cast<size_t>(j)]) idx.push_back(j);
    Eigen::MatrixXd sub(a.rows(), static_cast<Eigen::Index>(idx.size()));
    for (size_t k = 0; k < idx.size(); ++k) sub.col(static_cast<Eigen::Index>(k)) = a.col(idx[k]);
    const Eigen::VectorXd zs = sub.colPivHouseholderQr().solve(b);
    Eigen::VectorXd z = Eigen::VectorXd::Zero(n);
    for (size_t k = 0; k < idx.size(); ++k) z(idx[k]) = zs(static_cast<Eigen::Index>(k));
    return z;
  };
  for (int outer = 0; outer < 10 * n; ++outer) {
    const Eigen::VectorXd w = a.transpose() * (b - a * x);
    Eigen::Index t = -1;
    for (Eigen::Index j = 0; j < n; ++j)
      if (!passive[static_cast<size_t>(j)] && w(j) > tol && (t < 0 || w(j) > w(t))) t = j;
    if (t < 0) break;
    passive[static_cast<size_t>(t)] = true;
    for (int inner = 0; inner < 10 * n; ++inner) {
      const Eigen::VectorXd z = solve_passive();
      bool feasible = true;
      for (Eigen::Index j = 0; j < n; ++j)
        if (passive[static_cast<size_t>(j)] && z(j) <= 0) feasible = false;
      if (feasible) {
        x = z;
        break;
      }
      double alpha = 1;
      for (Eigen::Index j = 0; j < n; ++j)
        if (passive[static_cast<size_t>(j)] && z(j) <= 0)
          alpha = std::min(alpha, x(j) / (x(j) - z(j)));
      x += alpha * (z - x);
      for (Eigen::Index j = 0; j < n; ++j)
        if (passive[static_cast<size_t>(j)] && x(j) <= tol) {
          passive[static_cast<size_t>(j)] = false;
          x(j) = 0;
        }
    }
  }
  return x;
}

// Fits on the steps `use` selects; relative residuals, columns scaled to unit norm.
Eigen::VectorXd fit(const std::vector<EngineStep>& steps, const std::vector<bool>& use,
                    double prior_weight) {
  const Eigen::Index n = std::count(use.begin(), use.end(), true);
  const Eigen::Index priors = std::size(kPriored);
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(n + priors, kCoefficients);
  Eigen::VectorXd b(n + priors);
  Eigen::Index r = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!use[i]) continue;
    const double y = steps[i].measured_ns - steps[i].rest_ns;
    a.row(r) = columns(steps[i]).transpose() / steps[i].measured_ns;
    b(r) = y / steps[i].measured_ns;
    ++r;
  }
  // A weak prior holds these factors at 1 (their kernel model) where the steps do not
  // pin them (e.g. prefill attention when every prompt is short).
  const double prior = std::sqrt(prior_weight * static_cast<double>(n));
  for (int f : kPriored) {
    a(r, f) = prior;
    b(r) = prior;
    ++r;
  }
  Eigen::VectorXd scale(kCoefficients);
  for (Eigen::Index j = 0; j < kCoefficients; ++j) {
    scale(j) = a.col(j).norm();
    if (scale(j) > 0) a.col(j) /= scale(j);
  }
  Eigen::VectorXd c = nnls(a, b);
  for (Eigen::Index j = 0; j < kCoefficients; ++j)
    if (scale(j) > 0) c(j) /= scale(j);
  return c;
}

RelativeError errors(const std::vector<double>& predicted, const std::vector<EngineStep>& steps) {
  std::vector<double> abs, ratio;
  for (size_t i = 0; i < steps.size(); ++i) {
    const double r = predicted[i] / steps[i].measured_ns - 1;
    abs.push_back(std::fabs(r));
    ratio.push_back(r);
  }
  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  RelativeError e;
  e.count = static_cast<int>(abs.size());
  e.median = median_of(abs);
  std::vector<double> sorted = abs;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty()) {
    // Linear interpolation between order statistics, as calibration/fit.cc does.
    const double h = 0.95 * static_cast<double>(sorted.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(h));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    e.p95 = sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
  }
  e.bias = median_of(ratio);
  return e;
}

}  // namespace

EngineOverhead::AttentionLaunch quadrant_engine_attention_launch(
    const ModelSpec& model, const std::vector<int>& buckets, int sm_count,
    kernels::plan::DecodeSplitModel split) {
  namespace kp = kernels::plan;
  const AttentionSpec& a = model.attention;
  if (a.kind == AttentionKind::kMla || a.num_kv_heads < 1 || a.num_heads % a.num_kv_heads != 0)
    throw InputError(
        "", "model.attention",
        "expected GQA attention for quadrant-engine's decode attention launch, got " + model.name);
  if (sm_count < 1) throw InputError("", "sm_count", "expected the GPU's SM count, got none");
  QUADRANT_CHECK_MSG(split != kp::DecodeSplitModel::kRunTime,
                     "a model's split chooser is named, never the environment's");
  EngineOverhead::AttentionLaunch l;
  for (int bound = 1024; bound <= 256 * 1024; bound *= 2) l.kv_bounds.push_back(bound);
  const bool fp8 = false;  // quadrant-engine keeps its KV cache in BF16
  int heads_per_cta = 1;
  bool tensor_cores = false;
  for (int rows : buckets) {
    std::vector<int> row;
    for (int bound : l.kv_bounds) {
      const kp::DecodeSplit s = kp::decode_attention_split(
          rows, a.num_heads, a.num_kv_heads, a.head_dim, fp8, bound, sm_count, true, 0, 0, split);
      row.push_back(s.chunk);
      heads_per_cta = s.heads_per_cta;
      tensor_cores = s.tensor_cores;
    }
    l.chunk.push_back(std::move(row));
  }
  l.ctas_per_chunk = a.num_heads / heads_per_cta;
  l.slots = sm_count * kp::decode_ctas_per_sm(tensor_cores, fp8, heads_per_cta);
  l.cta_overhead_tokens =
      static_cast<int>(std::lround(kp::kDecodeCtaOverheadBytes / (2.0 * a.head_dim * 2)));
  return l;
}

void set_quadrant_engine_expert_waves(EngineOverhead& o, const ModelSpec& model, int sm_count,
                                      int ctas_per_sm) {
  o.expert_wave_ctas =
      ctas_per_sm > 0 ? static_cast<int>(model.hidden_size / kernels::plan::kMoeMmaBlockN) : 0;
  o.expert_wave_slots = ctas_per_sm > 0 ? sm_count * ctas_per_sm : 0;
}

std::vector<EngineStep> engine_steps(const EngineRun& run, const StepCostModel& kernels,
                                     const EngineOverhead& shape, std::string* target) {
  bool timed = !run.steps.empty();
  for (const StepRecord& s : run.steps) timed = timed && s.end > s.start;
  if (target)
    *target = timed ? "launch to launch (step wall time + host gap after it)" : "GPU time";
  std::vector<EngineStep> out;
  const std::vector<std::vector<int32_t>> lengths = step_decode_lengths(run);
  for (size_t i = 0; i < run.steps.size(); ++i) {
    const StepRecord& s = run.steps[i];
    if (!s.parts_ns.empty()) continue;  // eager, instrumented steps
    EngineStep e;
    const int64_t after = i + 1 < run.steps.size() ? run.steps[i + 1].host_ns : 0;
    e.measured_ns =
        timed ? static_cast<double>((s.end - s.start).ns() + after) : static_cast<double>(s.gpu_ns);
    if (!(e.measured_ns > 0)) continue;
    StepBatch b = step_batch(s);
    e.prefill = b.prefill.num_seqs > 0;
    e.seqs = b.prefill.num_seqs + b.decode.num_seqs;
    e.tokens = static_cast<double>(b.prefill.new_tokens + b.decode.new_tokens);
    e.prefill_pairs = static_cast<double>(b.prefill.attention_pairs);
    // As StepCostModel prices them: a decode-only step's attention launch at its graph's
    // rows; with mixed_attention_launch, a step with prefill's at its decode count.
    const bool launch = !shape.attention_launch.kv_bounds.empty() &&
                        (!e.prefill || (shape.mixed_attention_launch && b.decode.num_seqs > 0));
    int64_t rows = b.decode.num_seqs;
    if (!e.prefill) {
      rows = graph_rows(shape, b.decode.num_seqs);
      e.rows = static_cast<double>(rows);
      e.expert_reads = expected_expert_reads(shape, kernels.model(), b.decode.num_seqs, rows);
      e.expert_waves = expected_expert_waves(shape, kernels.model(), b.decode.num_seqs, rows);
    }
    if (launch) {
      e.attention_launch = true;
      EngineOverhead unit = shape;  // the makespan in token times
      unit.per_attention_token_ns = 1;
      b.decode_lengths = lengths[i];
      e.attention_tokens = batch_decode_attention_makespan(unit, rows, b);
    }
    const StepCost c = kernels.cost(b);
    e.prefill_attention_ns = static_cast<double>(c.prefill_attention.ns());
    e.decode_attention_ns = static_cast<double>(c.decode_attention.ns());
    (b.prefill.num_seqs > 0 ? e.prefill_ffn_ns : e.decode_ffn_ns) = static_cast<double>(c.ffn.ns());
    e.rest_ns = static_cast<double>(
        (c.tp_communication + c.ep_communication + c.pp_communication + c.overhead).ns());
    out.push_back(e);
  }
  return out;
}

double predict_step_ns(const EngineOverhead& o, const EngineStep& s) {
  const double fixed = (s.prefill ? o.step_ns + o.per_seq_ns * s.seqs + o.per_token_ns * s.tokens +
                                        o.per_prefill_pair_ns * s.prefill_pairs
                                  : o.decode_step_ns + o.decode_per_row_ns * s.rows +
                                        o.per_active_expert_ns * s.expert_reads +
                                        o.per_expert_wave_ns * s.expert_waves) +
                       o.per_attention_token_ns * s.attention_tokens;
  const double da = s.attention_launch ? o.decode_only_attention : o.decode_attention;
  return fixed + o.prefill_attention * s.prefill_attention_ns + da * s.decode_attention_ns +
         o.prefill_ffn * s.prefill_ffn_ns + o.decode_ffn * s.decode_ffn_ns + s.rest_ns;
}

EngineFit fit_engine_overhead(const std::vector<EngineStep>& steps, int folds,
                              double prior_weight) {
  if (steps.size() < 4 * kCoefficients)
    throw InputError("", "steps",
                     "expected at least " + std::to_string(4 * kCoefficients) +
                         " timed steps to fit the engine terms, got " +
                         std::to_string(steps.size()));
  if (folds < 2) throw InputError("", "--folds", "expected at least 2 folds");
  EngineFit f;
  f.folds = folds;
  std::vector<double> heldout(steps.size()), kernels(steps.size()), training(steps.size());
  for (int k = 0; k < folds; ++k) {
    std::vector<bool> use(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) use[i] = static_cast<int>(i % folds) != k;
    const EngineOverhead o = from_coefficients(fit(steps, use, prior_weight));
    for (size_t i = 0; i < steps.size(); ++i)
      if (!use[i]) heldout[i] = predict_step_ns(o, steps[i]);
  }
  f.overhead = from_coefficients(fit(steps, std::vector<bool>(steps.size(), true), prior_weight));
  for (size_t i = 0; i < steps.size(); ++i) {
    training[i] = predict_step_ns(f.overhead, steps[i]);
    kernels[i] = predict_step_ns(EngineOverhead(), steps[i]);  // factors 1, no overhead
  }
  // Each run held out whole: a fit on the other runs predicts it.
  int runs = 0;
  for (const EngineStep& s : steps) runs = std::max(runs, s.run + 1);
  for (int r = 0; runs > 1 && r < runs; ++r) {
    std::vector<bool> use(steps.size());
    std::vector<EngineStep> its;
    for (size_t i = 0; i < steps.size(); ++i) {
      use[i] = steps[i].run != r;
      if (!use[i]) its.push_back(steps[i]);
    }
    const auto others = std::count(use.begin(), use.end(), true);
    if (its.empty() || others < 4 * kCoefficients) {
      f.by_run.push_back({});
      continue;
    }
    const EngineOverhead o = from_coefficients(fit(steps, use, prior_weight));
    std::vector<double> predicted;
    for (const EngineStep& s : its) predicted.push_back(predict_step_ns(o, s));
    f.by_run.push_back(errors(predicted, its));
  }
  f.heldout = errors(heldout, steps);
  f.training = errors(training, steps);
  f.kernels = errors(kernels, steps);
  f.overhead.steps = static_cast<int>(steps.size());
  f.overhead.heldout_median = f.heldout.median;
  f.overhead.heldout_p95 = f.heldout.p95;
  return f;
}

}  // namespace quadrant::engine
