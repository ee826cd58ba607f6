// The simulator held against a PUBLISHED serving stack (issue 11, deliverable 7): Splitwise's
// measurements of Llama2-70B FP16 at TP8 on a DGX-A100 and a DGX-H100
// (calibration/engine/published/splitwise-llama2-70b/README.md). Each published point (a
// prompt phase of b prompts, a token phase's mean step at b sequences) is priced as the
// simulator prices a step (StepCostModel::cost().total) by the roofline, by the kernel
// models alone (H100: calibration/models/H100-SXM.json, A100: derived from it) and with
// engine terms fitted by `quadrant calibrate engine`'s fit (engine_fit.h) on ANOTHER set of
// points: the other GPU, or the other half of the batch and prompt sizes. Each test prints
// its table (ctest -V, or the test binary) and fails when the held-out error passes its
// bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "calibration/calibrated_cost_model.h"
#include "calibration/engine/cost_executor.h"
#include "calibration/engine/engine_fit.h"
#include "calibration/engine/run_log.h"
#include "calibration/fit.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/io/scenario_io.h"

namespace quadrant::engine {
namespace {

const std::string kDir = "calibration/engine/published/splitwise-llama2-70b/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One line of points.csv: a published point and the step the simulator prices for it.
struct Point {
  std::string name, gpu;
  bool prefill = false;
  int prompt = 0, batch = 0;
  double context_per_seq = 0;  // decode: mean KV tokens attended a sequence
  double published_ms = 0;     // median of the published runs
  StepRecord step() const {
    StepRecord r;
    if (prefill)
      for (int s = 0; s < batch; ++s) r.prefill.push_back({static_cast<uint64_t>(s), 0, prompt});
    else
      r.decode_seqs = batch, r.decode_context = std::llround(batch * context_per_seq);
    return r;
  }
};

std::vector<Point> read_points(const std::string& gpu) {
  std::istringstream in(slurp(kDir + "points.csv"));
  std::string line;
  std::getline(in, line);  // header: point,gpu,kind,prompt_tokens,batch,output_tokens,
                           // decode_context_per_seq,runs,published_ms,min_ms,max_ms
  std::vector<Point> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) f.push_back(cell);
    if (f.size() < 9 || f[1] != gpu) continue;
    Point p;
    p.name = f[0];
    p.gpu = f[1];
    p.prefill = f[2] == "prefill";
    p.prompt = std::stoi(f[3]);
    p.batch = std::stoi(f[4]);
    p.context_per_seq = p.prefill ? 0 : std::stod(f[6]);
    p.published_ms = std::stod(f[8]);
    out.push_back(p);
  }
  return out;
}

// A cost model with engine terms given apart from its file: how terms measured on one GPU
// are carried to another (CalibratedCostModel::derive leaves them out). The host-side
// terms (fixed per step, per sequence, per token) are CPU time, the same on either GPU;
// the factors scale kernel models that the derivation already scaled by the datasheets.
class WithEngineTerms final : public CostModel {
 public:
  WithEngineTerms(const CostModel& base, EngineOverhead o) : base_(base), o_(std::move(o)) {}
  Estimate predict(const QuadrantShape& s) const override { return base_.predict(s); }
  Core predict_core(const QuadrantShape& s) const override { return base_.predict_core(s); }
  const EngineOverhead* engine_overhead(const ModelSpec& m) const override {
    return m.name == o_.model ? &o_ : nullptr;
  }
  Provenance provenance() const override { return base_.provenance(); }
  std::string describe() const override { return base_.describe() + " + engine terms"; }

 private:
  const CostModel& base_;
  EngineOverhead o_;
};

// One GPU's published setup: its scenario, points, step log and cost models.
struct Published {
  Scenario sc;
  const GpuSpec* gpu;
  std::vector<Point> points;
  EngineRun run;  // the step log `quadrant calibrate engine` reads (every published run)
  RooflineCostModel roofline;
  std::unique_ptr<calibration::CalibratedCostModel> kernels;  // no engine terms
  explicit Published(const std::string& which)
      : sc(load_scenario(kDir + which + "-tp8.json")),
        gpu(sc.catalog.find(sc.serving.colocated.gpu)),
        points(read_points(sc.serving.colocated.gpu)),
        roofline(*gpu) {
    run.steps = parse_steps_csv(slurp(kDir + which + "-tp8-steps.csv"), which);
    calibration::ModelFile h100 = calibration::read_model("calibration/models/H100-SXM.json");
    h100.engine.clear();
    kernels = calibration::CalibratedCostModel::from(h100);
    if (gpu->name != "H100-SXM")
      kernels =
          calibration::CalibratedCostModel::derive(*kernels, *sc.catalog.find("H100-SXM"), *gpu);
  }
  StepCostModel costs(const CostModel& m) const {
    return StepCostModel(sc.model, sc.serving.colocated.layout, *gpu, sc.cluster, m);
  }
  double ms(const CostModel& m, const Point& p) const {
    return static_cast<double>(costs(m).cost(step_batch(p.step())).total.ns()) / 1e6;
  }
  // The fit `quadrant calibrate engine STEPS --graph-buckets none --attention-launch none
  // --expert-tile-rows 0` makes, on the published runs of the points `use` keeps.
  EngineOverhead fit(const std::vector<bool>& use, int folds) const {
    EngineOverhead o = fit_engine_overhead(steps(use), folds).overhead;
    o.model = sc.model.name;
    o.weights = "bf16";
    return o;
  }
  // The published runs of the points `use` keeps, as the fit sees them.
  std::vector<EngineStep> steps(const std::vector<bool>& use) const {
    EngineRun part;
    const size_t n = points.size();
    for (size_t i = 0; i < run.steps.size(); ++i)
      if (use[i % n]) part.steps.push_back(run.steps[i]);  // run-major: row i is point i % n
    return engine_steps(part, costs(*kernels), EngineOverhead());
  }
};

struct Errors {
  std::vector<double> rel;  // predicted / published - 1, per point
  double median_abs() const {
    std::vector<double> a;
    for (double r : rel) a.push_back(std::fabs(r));
    std::sort(a.begin(), a.end());
    return a.empty()      ? 0
           : a.size() % 2 ? a[a.size() / 2]
                          : 0.5 * (a[a.size() / 2 - 1] + a[a.size() / 2]);
  }
  double max_abs() const {
    double m = 0;
    for (double r : rel) m = std::max(m, std::fabs(r));
    return m;
  }
};

// Prints the points `use` selects priced by `model` (with `label`) beside the roofline and
// the kernels alone; returns the errors of `model`.
Errors table(const Published& s, const CostModel& model, const std::vector<bool>& use,
             const char* label) {
  std::printf("%s, %s: point | published ms | roofline | kernels alone | %s\n", s.gpu->name.c_str(),
              s.sc.model.name.c_str(), label);
  Errors e;
  for (size_t i = 0; i < s.points.size(); ++i) {
    if (!use[i]) continue;
    const Point& p = s.points[i];
    const double r = s.ms(s.roofline, p), k = s.ms(*s.kernels, p), c = s.ms(model, p);
    const double pub = p.published_ms;
    std::printf("  %-26s %9.2f | %9.2f %+6.1f%% | %9.2f %+6.1f%% | %9.2f %+6.1f%%\n",
                p.name.c_str(), pub, r, 100 * (r / pub - 1), k, 100 * (k / pub - 1), c,
                100 * (c / pub - 1));
    e.rel.push_back(c / pub - 1);
  }
  std::printf("  %s: median |error| %.1f%%, max %.1f%%\n", label, 100 * e.median_abs(),
              100 * e.max_abs());
  return e;
}

std::vector<bool> all(const Published& s) {
  return std::vector<bool>(s.points.size(), true);
}

// The published points as the issue states them: the roofline prices every step too fast
// (TTFT 28-66%, decode 76-84% on these points), and its decode step barely grows from
// batch 1 to 64 where the published one grows 1.6-1.7x.
TEST(PublishedSplitwise, TheRooflineIsTooFastOnEveryPoint) {
  for (const char* which : {"a100", "h100"}) {
    const Published s(which);
    ASSERT_EQ(s.points.size(), 27u);
    ASSERT_EQ(s.run.steps.size(), 5 * s.points.size());
    const Errors e = table(s, s.roofline, all(s), "roofline");
    double b1 = 0, b64 = 0, pub1 = 0, pub64 = 0;
    for (size_t i = 0; i < s.points.size(); ++i) {
      const Point& p = s.points[i];
      EXPECT_LT(e.rel[i], -0.2) << p.name;  // every point too fast by more than 20%
      if (!p.prefill && p.prompt == 512 && s.points[i].context_per_seq == 576) {
        if (p.batch == 1) b1 = s.ms(s.roofline, p), pub1 = p.published_ms;
        if (p.batch == 64) b64 = s.ms(s.roofline, p), pub64 = p.published_ms;
      }
    }
    std::printf("  decode step batch 64 / batch 1: roofline %.2fx, published %.2fx\n", b64 / b1,
                pub64 / pub1);
    // Where the roofline's time goes (ms): the terms of its step cost.
    for (const Point& p : s.points)
      if ((p.prefill && p.batch == 1 && p.prompt == 2048) ||
          (!p.prefill && p.batch == 1 && p.prompt == 512 && p.context_per_seq == 576)) {
        const StepCost c = s.costs(s.roofline).cost(step_batch(p.step()));
        auto ms = [](Duration d) { return static_cast<double>(d.ns()) / 1e6; };
        std::printf(
            "  roofline %s: attention %.2f + FFN and other GEMMs %.2f + TP all-reduce "
            "%.2f = %.2f ms (published %.2f)\n",
            p.name.c_str(), ms(c.prefill_attention + c.decode_attention), ms(c.ffn),
            ms(c.tp_communication), ms(c.total), p.published_ms);
      }
    EXPECT_GT(pub64 / pub1, 1.5);
    EXPECT_LT(b64 / b1, 1.3);
  }
}

// Engine terms fitted on one GPU's published runs, carried to the other GPU (its kernel
// models derived from H100-SXM.json by the datasheets, the terms as they are), predict
// every point of the other GPU, none of whose runs the fit saw.
void carried(const char* fit_on, const char* held_out, double max_median, double max_max) {
  const Published f(fit_on), h(held_out);
  const EngineOverhead o = f.fit(all(f), static_cast<int>(f.points.size()));
  const WithEngineTerms m(*h.kernels, o);
  std::printf(
      "engine terms fitted on %s (%.2f ms + %.3f ms a sequence a prefill step, %.2f ms "
      "a decode step + %.3f ms a row; factors %.2f / %.2f / %.2f / %.2f)\n",
      fit_on, o.step_ns / 1e6, o.per_seq_ns / 1e6, o.decode_step_ns / 1e6,
      o.decode_per_row_ns / 1e6, o.prefill_attention, o.decode_attention, o.prefill_ffn,
      o.decode_ffn);
  const Errors e = table(h, m, all(h), "calibrated+engine (held-out GPU)");
  EXPECT_LT(e.median_abs(), max_median);
  EXPECT_LT(e.max_abs(), max_max);
}

// One GPU's points cannot tell a step's host time (the same on the other GPU) from its GPU
// time at an efficiency (which scales with the other GPU's kernel models): no point varies
// the weights read. The fit splits them as least squares happens to (H100: 25 ms fixed a
// decode step, decode FFN factor 0.09; A100: 23 ms and 1.49), so the carried terms miss by
// 20-30% in median, up to 2x (README.md "Across GPUs"); bounds: the state measured.
TEST(PublishedSplitwise, TermsFittedOnH100PredictA100) {
  carried("h100", "a100", 0.30, 0.60);
}
TEST(PublishedSplitwise, TermsFittedOnA100PredictH100) {
  carried("a100", "h100", 0.30, 1.20);
}

// Within one GPU, half the batch and prompt sizes: half A holds the points whose batch is
// 1, 4, 16 or 64 and whose prompt is 128, 512, 2048 or 8192 (both sweeps' ends), half B the
// others (batches 2, 8, 32, prompts 256, 1024, 4096, 256 output tokens). A fit on A
// predicts B (between A's sizes); a fit on B predicts A (beyond B's at both ends).
bool in_half_a(const Point& p) {
  const bool batch = p.batch == 1 || p.batch == 4 || p.batch == 16 || p.batch == 64;
  const bool prompt = p.prompt == 128 || p.prompt == 512 || p.prompt == 2048 || p.prompt == 8192;
  return batch && prompt && (p.prefill || p.context_per_seq < p.prompt + 128);
}

void halves(const char* which, bool fit_a, double max_median, double max_max) {
  const Published s(which);
  std::vector<bool> fit(s.points.size()), held(s.points.size());
  for (size_t i = 0; i < s.points.size(); ++i)
    fit[i] = in_half_a(s.points[i]) == fit_a, held[i] = !fit[i];
  const WithEngineTerms m(*s.kernels, s.fit(fit, 5));
  const Errors e = table(s, m, held,
                         fit_a ? "calibrated+engine (fit on half A, B held out)"
                               : "calibrated+engine (fit on half B, A held out)");
  EXPECT_LT(e.median_abs(), max_median);
  EXPECT_LT(e.max_abs(), max_max);
}

// Both GPUs' half A in one fit (its per-step terms the same on both, its factors on each
// GPU's kernel models): the carry rule fitted where the two GPUs can tell host time from
// GPU time; each GPU's half B held out.
TEST(PublishedSplitwise, BothGpusHalfAPredictHalfB) {
  const Published a("a100"), h("h100");
  std::vector<EngineStep> steps;
  for (const Published* s : {&a, &h}) {
    std::vector<bool> use(s->points.size());
    for (size_t i = 0; i < use.size(); ++i) use[i] = in_half_a(s->points[i]);
    const std::vector<EngineStep> its = s->steps(use);
    steps.insert(steps.end(), its.begin(), its.end());
  }
  EngineOverhead o = fit_engine_overhead(steps, 5).overhead;
  o.model = a.sc.model.name;
  std::printf(
      "engine terms fitted on both GPUs' half A (%.2f ms + %.3f ms a sequence a prefill "
      "step, %.2f ms a decode step + %.3f ms a row; factors %.2f / %.2f / %.2f / %.2f)\n",
      o.step_ns / 1e6, o.per_seq_ns / 1e6, o.decode_step_ns / 1e6, o.decode_per_row_ns / 1e6,
      o.prefill_attention, o.decode_attention, o.prefill_ffn, o.decode_ffn);
  for (const Published* s : {&a, &h}) {
    std::vector<bool> held(s->points.size());
    for (size_t i = 0; i < held.size(); ++i) held[i] = !in_half_a(s->points[i]);
    const WithEngineTerms m(*s->kernels, o);
    const Errors e = table(*s, m, held, "calibrated+engine (both GPUs' half A, B held out)");
    EXPECT_LT(e.median_abs(), 0.06);  // measured 1.7% (A100), 4.6% (H100)
    EXPECT_LT(e.max_abs(), 0.40);     // 31.2%, 30.8% (batch-32 and batch-2 prompts)
  }
}

TEST(PublishedSplitwise, HalfAPredictsHalfB) {
  halves("a100", true, 0.05, 0.25);  // measured 3.2%, max 15.5%
  halves("h100", true, 0.05, 0.30);  // 3.6%, 23.7%
}
TEST(PublishedSplitwise, HalfBPredictsHalfA) {
  halves("a100", false, 0.07, 0.40);  // measured 5.0%, max 28.9%
  halves("h100", false, 0.07, 0.45);  // 3.4%, 37.6%
}

}  // namespace
}  // namespace quadrant::engine
