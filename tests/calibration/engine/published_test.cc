// The simulator held against a PUBLISHED serving stack (issue 11, deliverable 7): Splitwise's
// measurements of Llama2-70B and BLOOM-176B FP16 at TP8 on a DGX-A100 and a DGX-H100
// (calibration/engine/published/README.md). Each published point (a prompt phase of b
// prompts, a token phase's mean step at b sequences) is priced as the simulator prices a step
// (StepCostModel::cost().total) by the roofline, by the kernel models alone (H100:
// calibration/models/H100-SXM.json's rows as pinned in kKernelPin, A100: derived from them) and
// with engine terms fitted by `quadrant calibrate engine`'s fit (engine_fit.h) on OTHER points: the
// other half of the batch and prompt sizes, the other GPU, the other model. Each test prints its
// table (ctest -V, or the test binary) and fails when the held-out error passes its bound.
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

const std::string kLlama = "calibration/engine/published/splitwise-llama2-70b/";
const std::string kBloom = "calibration/engine/published/splitwise-bloom-176b/";
// The H100 kernel models every figure here is priced with: calibration/models/H100-SXM.json
// as of 8745ee2, pinned with the engine terms of all 27 H100 points (h100-tp8-calibrated.json
// uses it), so that a refit of the live file does not move these guards.
const std::string kKernelPin = kLlama + "H100-SXM-engine.json";

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

std::vector<Point> read_points(const std::string& file, const std::string& gpu) {
  std::istringstream in(slurp(file));
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
  // `dir`: a published folder (kLlama, kBloom); `which`: "a100" or "h100"; `tp`: 8, or
  // Llama2-70B's 4 and 2.
  Published(const std::string& dir, const std::string& which, int tp = 8)
      : sc(load_scenario(dir + which + "-tp" + std::to_string(tp) + ".json")),
        gpu(sc.catalog.find(sc.serving.colocated.gpu)),
        points(
            read_points(dir + (tp == 8 ? "points.csv" : "points-tp" + std::to_string(tp) + ".csv"),
                        sc.serving.colocated.gpu)),
        roofline(*gpu) {
    run.steps =
        parse_steps_csv(slurp(dir + which + "-tp" + std::to_string(tp) + "-steps.csv"), which);
    calibration::ModelFile h100 = calibration::read_model(kKernelPin);
    h100.engine.clear();  // the kernel rows only
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

// The roofline prices every published point more than 20% too fast, and its decode step grows
// less from batch 1 to 64 than the published one.
void roofline_too_fast(const std::string& dir, double at_least) {
  for (const char* which : {"a100", "h100"}) {
    const Published s(dir, which);
    ASSERT_EQ(s.points.size(), 27u);
    ASSERT_EQ(s.run.steps.size(), 5 * s.points.size());
    const Errors e = table(s, s.roofline, all(s), "roofline");
    double b1 = 0, b64 = 0, pub1 = 0, pub64 = 0;
    for (size_t i = 0; i < s.points.size(); ++i) {
      const Point& p = s.points[i];
      EXPECT_LT(e.rel[i], -at_least) << p.name;
      if (!p.prefill && p.prompt == 512 && p.context_per_seq == 576) {
        if (p.batch == 1) b1 = s.ms(s.roofline, p), pub1 = p.published_ms;
        if (p.batch == 64) b64 = s.ms(s.roofline, p), pub64 = p.published_ms;
      }
    }
    std::printf("  decode step batch 64 / batch 1: roofline %.2fx, published %.2fx\n", b64 / b1,
                pub64 / pub1);
    EXPECT_LT(b64 / b1, pub64 / pub1 - 0.25);
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
  }
}

// The figures (Llama2-70B): TTFT 28-66% and decode 76-84% too fast, the decode step
// 1.2x from batch 1 to 64 where the published one grows 1.6-1.7x.
TEST(PublishedSplitwise, TheRooflineIsTooFastOnEveryPoint) {
  roofline_too_fast(kLlama, 0.2);
}
// BLOOM-176B (2.5x the weights, multi-head attention): 14-63% too fast (A100 512 x 4 prompts).
TEST(PublishedSplitwise, BloomTheRooflineIsTooFastOnEveryPoint) {
  roofline_too_fast(kBloom, 0.1);
}

// Prints what a fit found (the terms the tables below price with).
void print_terms(const EngineOverhead& o, const char* fitted_on) {
  std::printf(
      "engine terms fitted on %s: %.2f ms + %.3f ms a sequence a prefill step, %.2f ms a "
      "decode step + %.3f ms a row; factors %.2f / %.2f / %.2f / %.2f (prefill attention, "
      "decode attention, prefill FFN, decode FFN)\n",
      fitted_on, o.step_ns / 1e6, o.per_seq_ns / 1e6, o.decode_step_ns / 1e6,
      o.decode_per_row_ns / 1e6, o.prefill_attention, o.decode_attention, o.prefill_ffn,
      o.decode_ffn);
}

// Engine terms fitted on one GPU's published runs, carried to the other GPU (its kernel
// models derived from H100-SXM.json by the datasheets, the terms as they are), predict
// every point of the other GPU, none of whose runs the fit saw.
void carried(const char* fit_on, const char* held_out, double max_median, double max_max) {
  const Published f(kLlama, fit_on), h(kLlama, held_out);
  const EngineOverhead o = f.fit(all(f), static_cast<int>(f.points.size()));
  const WithEngineTerms m(*h.kernels, o);
  print_terms(o, (std::string(fit_on) + "'s points").c_str());
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

void halves(const std::string& dir, const char* which, bool fit_a, double max_median,
            double max_max) {
  const Published s(dir, which);
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

// One fit on the half-A points of several published setups: its per-step terms the same for
// all, its factors on each setup's kernel models.
EngineOverhead fit_half_a(const std::vector<const Published*>& setups, const char* fitted_on) {
  std::vector<EngineStep> steps;
  for (const Published* s : setups) {
    std::vector<bool> use(s->points.size());
    for (size_t i = 0; i < use.size(); ++i) use[i] = in_half_a(s->points[i]);
    const std::vector<EngineStep> its = s->steps(use);
    steps.insert(steps.end(), its.begin(), its.end());
  }
  const EngineOverhead o = fit_engine_overhead(steps, 5).overhead;
  print_terms(o, fitted_on);
  return o;
}

// The points of `s` (its half B only, or all) priced with `o`, applied to s's model.
Errors priced(const Published& s, EngineOverhead o, bool half_b, const char* label) {
  o.model = s.sc.model.name;
  const WithEngineTerms m(*s.kernels, o);
  std::vector<bool> use(s.points.size(), true);
  for (size_t i = 0; i < use.size() && half_b; ++i) use[i] = !in_half_a(s.points[i]);
  return table(s, m, use, label);
}

// Both GPUs' half A in one fit (its per-step terms the same on both nodes, its factors on each
// GPU's kernel models); each GPU's half B held out.
TEST(PublishedSplitwise, BothGpusHalfAPredictHalfB) {
  const Published a(kLlama, "a100"), h(kLlama, "h100");
  const EngineOverhead o = fit_half_a({&a, &h}, "both GPUs' half A");
  for (const Published* s : {&a, &h}) {
    const Errors e = priced(*s, o, true, "calibrated+engine (both GPUs' half A, B held out)");
    EXPECT_LT(e.median_abs(), 0.06);  // measured 1.7% (A100), 4.6% (H100)
    EXPECT_LT(e.max_abs(), 0.40);     // 31.2%, 30.8% (batch-32 and batch-2 prompts)
  }
  // The same terms on BLOOM-176B (2.5x the weights): what their split of a decode step into
  // a time shared by the nodes and GEMMs at 3.22x their kernel models says of a larger model
  // (README.md "Across GPUs and models": 15-64% too slow).
  for (const char* which : {"a100", "h100"})
    priced(Published(kBloom, which), o, false, "calibrated+engine (both GPUs' Llama2-70B half A)");
}

// Measured (median, max of |error|): A->B Llama2-70B 3.2%, 15.5% (A100), 3.6%, 23.7% (H100),
// BLOOM-176B 1.8%, 12.5%, 3.9%, 15.9%; B->A Llama2-70B 5.0%, 28.9%, 3.4%, 37.6%, BLOOM-176B
// 5.2%, 28.4%, 5.5%, 26.2%.
TEST(PublishedSplitwise, EachHalfPredictsTheOther) {
  struct Case {
    const std::string& dir;
    const char* which;
    bool fit_a;
    double max_median, max_max;
  };
  for (const Case& c :
       {Case{kLlama, "a100", true, 0.05, 0.25}, Case{kLlama, "h100", true, 0.05, 0.30},
        Case{kBloom, "a100", true, 0.05, 0.20}, Case{kBloom, "h100", true, 0.05, 0.20},
        Case{kLlama, "a100", false, 0.07, 0.40}, Case{kLlama, "h100", false, 0.07, 0.45},
        Case{kBloom, "a100", false, 0.07, 0.35}, Case{kBloom, "h100", false, 0.07, 0.35}})
    halves(c.dir, c.which, c.fit_a, c.max_median, c.max_max);
}

// A held-out model: Llama2-70B's engine terms (all its points on the GPU) price BLOOM-176B's
// points on the same GPU and framework, carried as they are.
TEST(PublishedSplitwise, Llama2TermsPredictBloom) {
  for (const char* which : {"a100", "h100"}) {
    const Published l(kLlama, which), b(kBloom, which);
    EngineOverhead o = l.fit(all(l), static_cast<int>(l.points.size()));
    o.model = b.sc.model.name;
    const WithEngineTerms m(*b.kernels, o);
    const Errors e = table(b, m, all(b), "calibrated+engine (Llama2-70B's terms)");
    EXPECT_LT(e.median_abs(), 0.25);  // measured 21.6% (A100), 6.4% (H100)
    EXPECT_LT(e.max_abs(), 0.40);     // 31.9%, 31.5%
  }
}

// Both models' half A on one GPU in one fit (one framework, one node: the per-step terms
// shared, the factors on each model's kernel models); both models' half B held out. The two
// models' weights differ 2.5x, which tells a step's fixed time from its weight-bound time.
TEST(PublishedSplitwise, BothModelsHalfAPredictHalfB) {
  for (const char* which : {"a100", "h100"}) {
    const Published l(kLlama, which), b(kBloom, which);
    const EngineOverhead o =
        fit_half_a({&l, &b}, (std::string("both models' half A on ") + which).c_str());
    for (const Published* s : {&l, &b}) {
      const Errors e = priced(*s, o, true, "calibrated+engine (both models' half A, B held out)");
      EXPECT_LT(e.median_abs(), 0.07);  // measured 3.3-5.8%
      EXPECT_LT(e.max_abs(), 0.35);     // 14.8-27.0%
    }
  }
}

// A held-out layout: terms fitted at TP8 price Llama2-70B's TP4 and TP2 points on the same
// node: Llama2-70B's own TP8 points, and both models' half A (the fit that tells the fixed
// time from the weight-bound time, above).
TEST(PublishedSplitwise, Tp8TermsPredictTp4AndTp2) {
  for (const char* which : {"a100", "h100"}) {
    const Published l(kLlama, which), b(kBloom, which);
    const EngineOverhead own = l.fit(all(l), static_cast<int>(l.points.size()));
    const EngineOverhead both =
        fit_half_a({&l, &b}, (std::string("both models' half A on ") + which).c_str());
    for (int tp : {4, 2}) {
      const Published t(kLlama, which, tp);
      const Errors e = priced(t, own, false, "calibrated+engine (Llama2-70B's TP8 terms)");
      const Errors f = priced(t, both, false, "calibrated+engine (both models' TP8 half A)");
      // Measured (median, max): Llama2-70B's own terms A100 TP4 29.8%, 42.0%, TP2 47.7%,
      // 67.9%; H100 8.5%, 13.4%, 5.4%, 35.5%. Both models': A100 7.7%, 27.4%, 6.1%, 28.2%;
      // H100 13.7%, 19.0%, 7.5%, 36.2%.
      EXPECT_LT(e.median_abs(), 0.50);
      EXPECT_LT(e.max_abs(), 0.70);
      EXPECT_LT(f.median_abs(), 0.15);
      EXPECT_LT(f.max_abs(), 0.40);
    }
  }
}

// A second published source splits the published decode step (README.md "Where it comes
// from"): Vidur's per-operator times of Llama-2-70B at TP8 (each operator of a layer timed
// alone; microsoft/vidur, vidur-llama2-70b/) and its NCCL all-reduce times on one DGX. Their
// sum is the step's kernel and all-reduce time; what the published step takes beyond it is in
// no kernel (the framework's host time, launches).
std::vector<std::vector<std::string>> read_csv(const std::string& file) {
  std::istringstream in(slurp(file));
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) f.push_back(cell);
    rows.push_back(f);
  }
  rows.erase(rows.begin());  // the header
  return rows;
}

TEST(PublishedSplitwise, VidurOpsSplitThePublishedDecodeStep) {
  const std::string dir = "calibration/engine/published/vidur-llama2-70b/";
  const auto ops = read_csv(dir + "ops.csv");            // gpu, tp, tokens, ..., layer_ms
  const auto reduce = read_csv(dir + "all_reduce.csv");  // gpu, gpus, bytes, median_ms
  for (const char* which : {"a100", "h100"})
    for (int tp : {8, 4, 2}) {
      const Published s(kLlama, which, tp);
      std::vector<double> ar;  // all-reduces up to 64 KiB: latency-bound, about equal
      for (const auto& r : reduce)
        if (r[0] == s.gpu->name && std::stoi(r[1]) == tp) ar.push_back(std::stod(r[3]));
      std::sort(ar.begin(), ar.end());
      ASSERT_EQ(ar.size(), 8u);
      const double one_reduce = 0.5 * (ar[3] + ar[4]);
      double layer_ms = 0;
      for (const auto& r : ops)
        if (r[0] == s.gpu->name && std::stoi(r[1]) == tp) layer_ms = std::stod(r.back());
      ASSERT_GT(layer_ms, 0);
      const int layers = s.sc.model.num_layers;
      const double kernels = layers * layer_ms, reduces = 2 * layers * one_reduce;
      for (const Point& p : s.points) {
        // Batch 1 (the all-reduces of 16 KiB; the attention kernel, not profiled, reads 24-94 MB
        // a GPU: under 0.05 ms at the datasheet's bandwidth).
        if (p.prefill || p.prompt != 512 || p.context_per_seq != 576 || p.batch != 1) continue;
        const double outside = p.published_ms - kernels - reduces;
        auto ms = [](Duration d) { return static_cast<double>(d.ns()) / 1e6; };
        const StepCost r = s.costs(s.roofline).cost(step_batch(p.step()));
        const StepCost k = s.costs(*s.kernels).cost(step_batch(p.step()));
        const double kernel_models = ms(k.decode_attention + k.ffn);
        std::printf(
            "%s TP%d: published %.2f ms = Vidur's operators %.2f (roofline %.2f, kernel models "
            "%.2f) + %d all-reduces %.2f (%.4f ms each; roofline %.2f) + outside every kernel "
            "%.2f (%.0f%%)\n",
            p.name.c_str(), tp, p.published_ms, kernels, ms(r.decode_attention + r.ffn),
            kernel_models, 2 * layers, reduces, one_reduce, ms(r.tp_communication), outside,
            100 * outside / p.published_ms);
        EXPECT_GT(outside, 0);  // the kernels' time is a floor of the step
        EXPECT_LT(ms(r.decode_attention + r.ffn), kernels);  // the roofline's GEMMs too fast
        EXPECT_LT(5 * ms(r.tp_communication), reduces);      // and its all-reduce latency
        if (tp == 8) {
          EXPECT_GT(outside, 0.4 * p.published_ms);  // measured 57%, 55%
        }
        // The H100's own kernel models against Vidur's operators: within 30% (measured
        // +22% at TP8, README.md).
        if (s.gpu->name == "H100-SXM") {
          EXPECT_LT(std::fabs(kernel_models / kernels - 1), 0.30);
        }
      }
    }
}

}  // namespace
}  // namespace quadrant::engine
