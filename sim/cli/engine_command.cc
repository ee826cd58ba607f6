// `quadrant engine ...`: the simulator held against the serving engine's logs (issue 11).
//   compare RUN_DIR... [--scenario FILE] [--calibrated MODEL] [--json FILE]
//           [--steps DIR] [--kernels-only] [--max-step-median R --max-step-p95 R --max-latency R]
//     replays each run's arrivals and lengths through `simulate` with the GPU's
//     calibrated model (with its engine terms for the run's model when the model file
//     has them, and without) and the roofline, prints step-time error, TTFT/TPOT percentiles and
//     throughput real vs simulated, and the term that carries the difference. With bounds
//     (relative errors of the calibrated model) it exits 1 when one is passed: the CI
//     guard of the committed cases.
// `quadrant calibrate engine STEPLOG... [--scenario FILE] [--model MODEL] [--out FILE]`
//     fits the engine terms the kernel models cannot see (calibration/engine/engine_fit.h)
//     from measured steps (run directories, or step CSVs exported from another engine
//     with --scenario naming the model) and writes them into the GPU's model file as
//     its "engine" section; prints the fit's held-out error.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "calibration/calibrated_cost_model.h"
#include "calibration/engine/compare.h"
#include "calibration/engine/engine_fit.h"
#include "calibration/engine/run_log.h"
#include "calibration/fit.h"
#include "calibration/json_path.h"
#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/io/output_dir.h"
#include "sim/io/scenario_io.h"

namespace quadrant::cli {
namespace fs = std::filesystem;

namespace {

// The scenario a run served: --scenario, else scenario.json beside the logs, else the
// path run.json names (relative to the run directory, then to the working directory).
std::string scenario_of(const std::string& dir, const engine::EngineRun& run,
                        const std::string& given) {
  if (!given.empty()) return given;
  const fs::path beside = fs::path(dir) / "scenario.json";
  if (fs::exists(beside)) return beside.string();
  if (!run.meta.scenario.empty()) {
    const fs::path rel = fs::path(dir) / run.meta.scenario;
    if (fs::exists(rel)) return rel.string();
    if (fs::exists(run.meta.scenario)) return run.meta.scenario;
  }
  throw InputError(dir + "/run.json", "scenario",
                   "expected a scenario file (scenario.json beside the logs, the path run.json "
                   "names, or --scenario), found none for \"" +
                       run.meta.scenario + "\"");
}

struct Bounds {
  double step_median = 0, step_p95 = 0, latency = 0;  // 0: unchecked
};

// One line per bound passed; the count.
int check_bounds(const engine::CaseComparison& c, const Bounds& b) {
  if (c.models.empty()) return 0;
  const engine::ModelComparison& m = c.models.front();
  int failed = 0;
  auto check = [&](const std::string& what, double value, double bound) {
    if (bound <= 0) return;
    const bool ok = std::fabs(value) <= bound;
    std::printf("%s %s: %s %+.1f%% (bound %.1f%%)\n", ok ? "ok  " : "FAIL", c.name.c_str(),
                what.c_str(), 100 * value, 100 * bound);
    failed += !ok;
  };
  check(m.model + " step time median error", m.step_period.median, b.step_median);
  check(m.model + " step time P95 error", m.step_period.p95, b.step_p95);
  const SimulationSummary& r = c.measured;
  const SimulationSummary& s = m.simulated;
  check(m.model + " TTFT P50", engine::relative(s.ttft.p50, r.ttft.p50), b.latency);
  check(m.model + " TTFT P90", engine::relative(s.ttft.p90, r.ttft.p90), b.latency);
  check(m.model + " TPOT P50", engine::relative(s.tpot.p50, r.tpot.p50), b.latency);
  check(m.model + " TPOT P90", engine::relative(s.tpot.p90, r.tpot.p90), b.latency);
  return failed;
}

struct EngineCompareOptions {
  std::vector<std::string> runs;
  std::string scenario, calibrated, json, steps;
  Bounds bounds;
  bool kernels_only = false;
};

struct CalibrateEngineOptions {
  std::vector<std::string> logs;
  std::string scenario, model, out;
  std::string graph_buckets = "quadrant-engine";
  std::string expert_tile_rows = "auto";
  std::string attention_launch = "quadrant-engine";
  std::string rate_cap = "auto";
  std::string expert_waves = "none";
  bool mixed_attention_launch = false;
  int folds = 5;
};

// A whole option value read as a number in [lo, hi] (a whole number where `integer`);
// InputError naming the option and what it expected otherwise.
double parse_number(const std::string& text, const char* option, double lo, double hi,
                    const char* expected, bool integer = true) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !(v >= lo) || v > hi || (integer && v != std::floor(v)))
    throw InputError("", option, std::string("expected ") + expected + ", got '" + text + "'");
  return v;
}

// --graph-buckets: "quadrant-engine" (its capture sizes up to the scenario's batch limit),
// "none" (an engine that runs decode eagerly) or ascending batch sizes "1,2,4,8,...".
std::vector<int> parse_graph_buckets(const std::string& text, int max_batch_size) {
  if (text == "quadrant-engine") return engine::quadrant_engine_graph_buckets(max_batch_size);
  std::vector<int> out;
  if (text == "none") return out;
  const char* expected = "quadrant-engine, none or ascending batch sizes from 1 (1,2,4,8)";
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const int rows = static_cast<int>(parse_number(item, "--graph-buckets", 1, 1 << 20, expected));
    if (!out.empty() && rows <= out.back())
      throw InputError("", "--graph-buckets",
                       std::string("expected ") + expected + ", got '" + text + "'");
    out.push_back(rows);
  }
  if (out.empty())
    throw InputError("", "--graph-buckets", "expected at least one batch size, got ''");
  return out;
}

}  // namespace

void add_engine_command(CLI::App& app) {
  auto* eng = app.add_subcommand("engine", "Hold the simulator against serving-engine logs");
  eng->require_subcommand(1);

  auto o = std::make_shared<EngineCompareOptions>();
  auto* cmp = eng->add_subcommand(
      "compare", "Replay engine runs through simulate (calibrated and roofline) and compare");
  cmp->add_option("runs", o->runs, "run directories (run.json, steps.csv, requests.csv)")
      ->required();
  cmp->add_option("--scenario", o->scenario, "the scenario the run served (one run only)");
  cmp->add_option("--calibrated", o->calibrated,
                  "calibrated model file (default: calibration/models/<gpu>.json)");
  cmp->add_option("--json", o->json, "also write the comparison as JSON");
  cmp->add_option("--steps", o->steps,
                  "also write DIR/<case>.steps.csv: every step measured and predicted");
  cmp->add_option("--max-step-median", o->bounds.step_median,
                  "fail when the first model's step-time median error exceeds this (0.03 = 3%)");
  cmp->add_flag("--kernels-only", o->kernels_only,
                "leave the model file's engine terms out (the bounds then hold the kernels alone)");
  cmp->add_option("--max-step-p95", o->bounds.step_p95, "... its P95 error exceeds this");
  cmp->add_option("--max-latency", o->bounds.latency,
                  "... a TTFT or TPOT P50/P90 relative error exceeds this");
  cmp->callback([o] {
    if (!o->scenario.empty() && o->runs.size() > 1)
      throw InputError("", "--scenario",
                       "expected one run with --scenario, got " + std::to_string(o->runs.size()));
    std::vector<engine::CaseComparison> cases;
    int failed = 0;
    for (const std::string& dir : o->runs) {
      const engine::EngineRun run = engine::read_run_log(dir);
      const Scenario sc =
          engine::replay_scenario(load_scenario(scenario_of(dir, run, o->scenario)), run);
      const std::string gpu = engine::engine_pool(sc, "prefill").gpu;
      const GpuSpec* spec = sc.catalog.find(gpu);
      if (!spec) throw InputError(sc.file, "serving", "expected a catalog GPU, got " + gpu);
      const std::string model_file =
          o->calibrated.empty() ? "calibration/models/" + gpu + ".json" : o->calibrated;
      // The calibrated model with its engine terms for this model (when fitted), the
      // kernels alone, and the datasheet roofline.
      calibration::ModelFile file = calibration::read_model(model_file);
      std::vector<engine::NamedCostModel> models;
      std::shared_ptr<const CostModel> with_engine = calibration::CalibratedCostModel::from(file);
      if (!o->kernels_only && with_engine->engine_overhead(sc.model))
        models.push_back({"calibrated+engine", with_engine});
      file.engine.clear();
      models.push_back({"calibrated", calibration::CalibratedCostModel::from(file)});
      models.push_back({"roofline", std::make_shared<RooflineCostModel>(*spec)});
      std::string name = fs::path(dir).filename().string();
      if (name.empty()) name = fs::path(dir).parent_path().filename().string();
      cases.push_back(engine::compare_case(name, run, sc, models));
      if (!o->steps.empty()) {
        fs::create_directories(o->steps);
        calibration::save_text((fs::path(o->steps) / (name + ".steps.csv")).string(),
                               engine::step_errors_csv(cases.back(), run));
      }
      failed += check_bounds(cases.back(), o->bounds);
    }
    std::fputs(engine::comparison_markdown(cases).c_str(), stdout);
    if (!o->json.empty()) {
      io::OutputFile out(o->json, "--json", o->runs, "");  // never over a run's log
      out.out() << engine::comparison_json(cases);
      out.commit();
    }
    if (failed > 0) {
      std::printf("%d bound(s) exceeded: the simulator's fidelity regressed\n", failed);
      throw CLI::RuntimeError(1);  // exit 1 (sim/cli/commands.h)
    }
  });
}

void add_calibrate_engine_command(CLI::App* cal) {
  auto opts = std::make_shared<CalibrateEngineOptions>();
  auto* cmd = cal->add_subcommand(
      "engine", "Fit a serving engine's per-step terms from measured steps into a model file");
  cmd->add_option("steplogs", opts->logs,
                  "run directories or step CSVs (calibration/engine/README.md)")
      ->required();
  cmd->add_option("--scenario", opts->scenario,
                  "the scenario the steps served (required for step CSVs)");
  cmd->add_option("--model", opts->model,
                  "the GPU's model file (default: calibration/models/<gpu>.json)");
  cmd->add_option("--out", opts->out, "model file to write (default: --model, in place)");
  cmd->add_option("--folds", opts->folds, "folds of the held-out error")->check(CLI::Range(2, 100));
  cmd->add_option("--graph-buckets", opts->graph_buckets,
                  "batch sizes the engine's decode CUDA graphs are captured at: quadrant-engine "
                  "(default), none, or 1,2,4,8,...");
  cmd->add_option("--expert-tile-rows", opts->expert_tile_rows,
                  "an expert's weights read once per tile of this many rows of the engine's "
                  "decode MoE GEMM, 0: once per active expert; auto (default): 0 or 16 "
                  "(quadrant-engine's tile), whichever predicts each run better from the others");
  cmd->add_option("--attention-launch", opts->attention_launch,
                  "the engine's decode attention launch (split-KV chunks per graph bucket and KV "
                  "bound) priced by its makespan: quadrant-engine (default) or none");
  cmd->add_option("--attention-rate-cap", opts->rate_cap,
                  "how much faster one decode attention CTA streams when fewer share the GPU "
                  "(>= 1); auto (default): 1, 2 or 3, whichever predicts each run better from "
                  "the others");
  cmd->add_option("--expert-waves", opts->expert_waves,
                  "with expert tiles, the decode MoE down projection's CTAs (quadrant-engine's "
                  "grouped GEMM: hidden / 128 a tile) in waves of this many resident CTAs per "
                  "SM, a term per wave; none (default), 1-8, or auto: none, 1, 2, 3 or 4, "
                  "whichever predicts each run better from the others");
  cmd->add_flag("--mixed-attention-launch", opts->mixed_attention_launch,
                "price a step with prefill's decodes by the same attention launch term as a "
                "decode-only step's (the engine runs them eagerly with the same split-KV launch)");
  cmd->callback([opts] {
    std::vector<engine::EngineRun> runs;
    std::string scenario_path = opts->scenario;
    for (const std::string& log : opts->logs) {
      engine::EngineRun run;
      if (fs::is_directory(log)) {
        run = engine::read_run_log(log);
        const std::string s = scenario_of(log, run, opts->scenario);
        if (scenario_path.empty()) scenario_path = s;
      } else {
        std::ifstream in(log, std::ios::binary);
        if (!in) throw InputError(log, "", "cannot open step log");
        std::stringstream buf;
        buf << in.rdbuf();
        run.steps = engine::parse_steps_csv(buf.str(), log);
      }
      runs.push_back(std::move(run));
    }
    if (scenario_path.empty())
      throw InputError("", "--scenario", "expected the scenario of the step CSVs (its model)");
    const Scenario sc = load_scenario(scenario_path);
    const std::string gpu = sc.serving.mode == ServingMode::kColocated ? sc.serving.colocated.gpu
                                                                       : sc.serving.decode.gpu;
    const GpuSpec* spec = sc.catalog.find(gpu);
    if (!spec) throw InputError(sc.file, "serving", "expected a catalog GPU, got " + gpu);
    const std::string model_file =
        opts->model.empty() ? "calibration/models/" + gpu + ".json" : opts->model;
    calibration::ModelFile file = calibration::read_model(model_file);
    const std::string weights = to_string(sc.model.precision.weights);
    // The kernels alone: this model's earlier engine terms left out.
    calibration::ModelFile kernels_only = file;
    std::erase_if(kernels_only.engine, [&](const EngineOverhead& o) {
      return o.model == sc.model.name && o.weights == weights;
    });
    const std::unique_ptr<calibration::CalibratedCostModel> kernels =
        calibration::CalibratedCostModel::from(kernels_only);
    const StepCostModel costs(sc.model, sc.serving.colocated.layout, *spec, sc.cluster, *kernels);
    EngineOverhead shape;  // what the engine's decode steps compute: graph rows, tiles
    shape.graph_buckets =
        parse_graph_buckets(opts->graph_buckets, sc.serving.colocated.max_batch_size);
    if (opts->attention_launch == "quadrant-engine") {
      if (shape.graph_buckets.empty())
        throw InputError("", "--attention-launch",
                         "quadrant-engine's decode attention launch needs its graph buckets");
      if (file.sm_count < 1)
        throw InputError(model_file, "sm_count",
                         "expected the GPU's SM count (the engine's decode attention launch "
                         "depends on it), got none");
      shape.attention_launch = engine::quadrant_engine_attention_launch(
          sc.model, shape.graph_buckets, file.sm_count, file.plan_rules.decode_split);
    } else if (opts->attention_launch != "none") {
      throw InputError("", "--attention-launch",
                       "expected quadrant-engine or none, got '" + opts->attention_launch + "'");
    }
    if (opts->mixed_attention_launch && shape.attention_launch.kv_bounds.empty())
      throw InputError("", "--mixed-attention-launch",
                       "expected the engine's decode attention launch (--attention-launch "
                       "quadrant-engine), got none");
    shape.mixed_attention_launch = opts->mixed_attention_launch;
    // The candidates: "auto" tries them all, else the one given.
    const std::vector<int> tiles = opts->expert_tile_rows == "auto"
                                       ? std::vector<int>{0, engine::kQuadrantEngineExpertTileRows}
                                       : std::vector<int>{static_cast<int>(parse_number(
                                             opts->expert_tile_rows, "--expert-tile-rows", 0,
                                             1 << 20, "auto, 0 or rows per tile"))};
    std::vector<double> caps = {1};  // the attention launch's rate cap
    if (!shape.attention_launch.kv_bounds.empty())
      caps = opts->rate_cap == "auto"
                 ? std::vector<double>{1, 2, 3}
                 : std::vector<double>{parse_number(opts->rate_cap, "--attention-rate-cap", 1, 1e3,
                                                    "auto or a factor >= 1", /*integer=*/false)};
    // The down projection's resident CTAs per SM (0: no wave term), with tiles only.
    const std::vector<int> waves = opts->expert_waves == "auto" ? std::vector<int>{0, 1, 2, 3, 4}
                                   : opts->expert_waves == "none"
                                       ? std::vector<int>{0}
                                       : std::vector<int>{static_cast<int>(parse_number(
                                             opts->expert_waves, "--expert-waves", 1, 8,
                                             "none, auto or resident CTAs per SM (1-8)"))};
    if (waves.back() > 0 && file.sm_count < 1)
      throw InputError(model_file, "sm_count",
                       "expected the GPU's SM count (the expert waves depend on it), got none");
    std::string target;
    engine::EngineFit fit;
    double best = -1, best_cap = 1;
    int best_waves = 0;
    for (int t : tiles)
      for (int w : waves)
        for (double cap : caps) {
          if (w > 0 && t <= 0) continue;  // waves of tiles only
          shape.expert_tile_rows = t;
          engine::set_quadrant_engine_expert_waves(shape, sc.model, file.sm_count, w);
          shape.attention_launch.rate_cap = cap;
          std::vector<engine::EngineStep> steps;
          for (size_t r = 0; r < runs.size(); ++r) {
            std::vector<engine::EngineStep> s =
                engine::engine_steps(runs[r], costs, shape, &target);
            for (engine::EngineStep& step : s) step.run = static_cast<int>(r);
            steps.insert(steps.end(), s.begin(), s.end());
          }
          engine::EngineFit f = engine::fit_engine_overhead(steps, opts->folds);
          // Each run predicted by a fit on the others: median and P95 averaged over the runs
          // (the k-fold error with one run); the first candidate (active experts) stays unless
          // the other is better by more than 0.1 point (the fit cases may not reach the rows
          // where the two differ).
          double score = 0;
          int n = 0;
          for (const engine::RelativeError& e : f.by_run)
            if (e.count > 0) score += e.median + e.p95, ++n;
          score = n > 0 ? score / n : f.heldout.median + f.heldout.p95;
          if (tiles.size() * caps.size() * waves.size() > 1)
            std::printf(
                "expert reads per %s, waves of %d CTAs per SM, attention rate cap %g: runs "
                "predicted from the others, (median + P95) / 2 %.2f%%\n",
                t > 0 ? (std::to_string(t) + "-row tile").c_str() : "active expert", w, cap,
                50 * score);
          if (best < 0 || score < best - 2e-3) {
            best = score;
            fit = f;
            fit.overhead.expert_tile_rows = t;
            best_cap = cap;
            best_waves = w;
          }
        }
    shape.expert_tile_rows = fit.overhead.expert_tile_rows;
    engine::set_quadrant_engine_expert_waves(fit.overhead, sc.model, file.sm_count, best_waves);
    if (best_waves == 0) fit.overhead.per_expert_wave_ns = 0;
    shape.attention_launch.rate_cap = best_cap;
    fit.overhead.graph_buckets = shape.graph_buckets;
    fit.overhead.attention_launch = shape.attention_launch;
    fit.overhead.mixed_attention_launch = shape.mixed_attention_launch;
    fit.overhead.model = sc.model.name;
    fit.overhead.weights = weights;
    file.engine = kernels_only.engine;
    file.engine.push_back(fit.overhead);
    const std::string out = opts->out.empty() ? model_file : opts->out;
    calibration::save_text(out, calibration::model_to_json(file));
    const EngineOverhead& o = fit.overhead;
    std::printf("engine terms of %s (%s) on %s, %d steps, measured %s\n", o.model.c_str(),
                weights.c_str(), gpu.c_str(), o.steps, target.c_str());
    std::printf(
        "  step with prefill: %.1f us + %.2f us per sequence + %.3f us per token + %.4f ns per "
        "query-key pair of its prefill attention\n",
        o.step_ns / 1e3, o.per_seq_ns / 1e3, o.per_token_ns / 1e3, o.per_prefill_pair_ns);
    std::printf(
        "  decode-only step: %.1f us + %.2f us per graph row (%zu buckets) + %.2f us per "
        "expected %s\n",
        o.decode_step_ns / 1e3, o.decode_per_row_ns / 1e3, o.graph_buckets.size(),
        o.per_active_expert_ns / 1e3,
        o.expert_tile_rows > 0
            ? ("expert tile of " + std::to_string(o.expert_tile_rows) + " rows").c_str()
            : "active expert");
    if (o.expert_wave_slots > 0)
      std::printf(
          "  decode-only step's MoE down projection: %.2f us per expected wave of %d CTAs a "
          "tile on %d slots\n",
          o.per_expert_wave_ns / 1e3, o.expert_wave_ctas, o.expert_wave_slots);
    if (!o.attention_launch.kv_bounds.empty())
      std::printf(
          "  decode-only step's%s decode attention launch: %.2f ns per token time of its "
          "makespan (%d CTAs a chunk on %d slots, %d token times a CTA's fixed cost, "
          "rate cap %g), x kernel model %.3f\n",
          o.mixed_attention_launch ? " (and a step with prefill's decodes')" : "",
          o.per_attention_token_ns, o.attention_launch.ctas_per_chunk, o.attention_launch.slots,
          o.attention_launch.cta_overhead_tokens, o.attention_launch.rate_cap,
          o.decode_only_attention);
    std::printf(
        "  x kernel model: prefill attention %.3f, decode attention %.3f, prefill FFN "
        "%.3f, decode FFN %.3f\n",
        o.prefill_attention, o.decode_attention, o.prefill_ffn, o.decode_ffn);
    std::printf("  |predicted / measured - 1|   median    P95   bias\n");
    auto line = [](const char* what, const engine::RelativeError& e) {
      std::printf("  %-26s %6.1f%% %6.1f%% %+5.1f%%\n", what, 100 * e.median, 100 * e.p95,
                  100 * e.bias);
    };
    line("kernel models alone", fit.kernels);
    line("with the fit (training)", fit.training);
    line("with the fit (held out)", fit.heldout);
    // Each run predicted by a fit on the others (two runs or more).
    for (size_t r = 0; r < fit.by_run.size(); ++r) {
      fs::path name = fs::path(opts->logs[r]).lexically_normal();
      if (name.filename().empty()) name = name.parent_path();
      if (fit.by_run[r].count > 0)
        std::printf("  %s, fitted on the others: %.1f%% %.1f%% %+.1f%%\n",
                    name.filename().string().c_str(), 100 * fit.by_run[r].median,
                    100 * fit.by_run[r].p95, 100 * fit.by_run[r].bias);
    }
    std::printf("written to %s (\"engine\" section)\n", out.c_str());
  });
}

}  // namespace quadrant::cli
