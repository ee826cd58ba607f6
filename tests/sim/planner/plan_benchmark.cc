// Benchmark (not a test): the full plan of a scenario with the real simulator, timed on
// the wall clock. Prints the time, the simulations run and the configurations measured
// and pruned.
//
//   build/tests/sim/plan_benchmark [SCENARIO=scenarios/default.json] [THREADS=2] [REPEATS=3]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/core/error.h"
#include "sim/io/scenario_io.h"
#include "sim/planner/planner.h"

int main(int argc, char** argv) {
  using namespace quadrant;
  const std::string path = argc > 1 ? argv[1] : "scenarios/default.json";
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  try {
    const Scenario s = load_scenario(path);
    const planner::Evaluator evaluate = planner::simulation_evaluator(roofline_cost_models(s));
    planner::PlanOptions o;
    o.threads = threads;
    std::printf("plan_benchmark: %s, %d threads\n", path.c_str(), threads);
    for (int i = 0; i < repeats; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const planner::PlanResult r = planner::plan(s, evaluate, o);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      int measured = 0, pruned = 0, infeasible = 0, total = 0;
      for (const auto* pool : {&r.prefill, &r.decode, &r.colocated}) {
        for (const auto& c : *pool) {
          ++total;
          measured += c.status == planner::ConfigStatus::kMeasured ||
                      c.status == planner::ConfigStatus::kNoRateMeetsSlo;
          pruned += c.status == planner::ConfigStatus::kPrunedByBound;
          infeasible += c.status == planner::ConfigStatus::kInfeasible;
        }
      }
      std::printf(
          "run %d: %.2f s wall, %lld simulations, %d configurations (%d simulated, %d pruned "
          "by bound, %d infeasible), %zu sized plans, recommended: %s\n",
          i + 1, seconds, static_cast<long long>(r.simulations), total, measured, pruned,
          infeasible, r.candidates.size(),
          r.recommended >= 0 ? r.candidates[r.recommended].label().c_str() : "none");
    }
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  return 0;
}
