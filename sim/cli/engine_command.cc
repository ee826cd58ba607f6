// `quadrant engine ...`: the simulator held against the serving engine's logs (issue 11).
//   compare RUN_DIR... [--scenario FILE] [--calibrated MODEL] [--json FILE]
//           [--max-step-median R --max-step-p95 R --max-latency R]
//     replays each run's arrivals and lengths through `simulate` with the GPU's
//     calibrated model and the roofline, prints step-time error, TTFT/TPOT percentiles and
//     throughput real vs simulated, and the term that carries the difference. With bounds
//     (relative errors of the calibrated model) it exits 1 when one is passed: the CI
//     guard of the committed cases.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "calibration/calibrated_cost_model.h"
#include "calibration/engine/compare.h"
#include "calibration/engine/run_log.h"
#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
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

}  // namespace

void add_engine_command(CLI::App& app) {
  auto* eng = app.add_subcommand("engine", "Hold the simulator against serving-engine logs");
  eng->require_subcommand(1);

  static std::vector<std::string> runs;
  static std::string scenario_file, calibrated_file, json_file;
  static Bounds bounds;
  auto* cmp = eng->add_subcommand(
      "compare", "Replay engine runs through simulate (calibrated and roofline) and compare");
  cmp->add_option("runs", runs, "run directories (run.json, steps.csv, requests.csv)")->required();
  cmp->add_option("--scenario", scenario_file, "the scenario the run served (one run only)");
  cmp->add_option("--calibrated", calibrated_file,
                  "calibrated model file (default: calibration/models/<gpu>.json)");
  cmp->add_option("--json", json_file, "also write the comparison as JSON");
  cmp->add_option("--max-step-median", bounds.step_median,
                  "fail when the calibrated step-time median error exceeds this (0.03 = 3%)");
  cmp->add_option("--max-step-p95", bounds.step_p95, "... its P95 error exceeds this");
  cmp->add_option("--max-latency", bounds.latency,
                  "... a TTFT or TPOT P50/P90 relative error exceeds this");
  cmp->callback([] {
    if (!scenario_file.empty() && runs.size() > 1)
      throw InputError("", "--scenario",
                       "expected one run with --scenario, got " + std::to_string(runs.size()));
    std::vector<engine::CaseComparison> cases;
    int failed = 0;
    for (const std::string& dir : runs) {
      const engine::EngineRun run = engine::read_run_log(dir);
      const Scenario sc =
          engine::replay_scenario(load_scenario(scenario_of(dir, run, scenario_file)), run);
      const std::string gpu = sc.serving.colocated.gpu;
      const GpuSpec* spec = sc.catalog.find(gpu);
      if (!spec) throw InputError(sc.file, "serving.colocated.gpu", "expected a catalog GPU");
      const std::string model_file =
          calibrated_file.empty() ? "calibration/models/" + gpu + ".json" : calibrated_file;
      std::vector<engine::NamedCostModel> models = {
          {"calibrated", calibration::CalibratedCostModel::load(model_file)},
          {"roofline", std::make_shared<RooflineCostModel>(*spec)}};
      std::string name = fs::path(dir).filename().string();
      if (name.empty()) name = fs::path(dir).parent_path().filename().string();
      cases.push_back(engine::compare_case(name, run, sc, models));
      failed += check_bounds(cases.back(), bounds);
    }
    std::fputs(engine::comparison_markdown(cases).c_str(), stdout);
    if (!json_file.empty()) {
      std::ofstream out(json_file);
      if (!out) throw InputError(json_file, "", "cannot open for writing");
      out << engine::comparison_json(cases);
    }
    if (failed > 0) {
      std::printf("%d bound(s) passed: the simulator's fidelity regressed\n", failed);
      set_exit_code(1);
    }
  });
}

}  // namespace quadrant::cli
