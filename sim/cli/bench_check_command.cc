// `quadrant bench-check EXPECTED RESULT [--tolerance F]`: a deployed plan against its
// simulation. EXPECTED is the deploy folder's expected.json (quadrant plan), RESULT the
// JSON `vllm bench serve --save-result` wrote; prints measured against simulated TTFT and
// TPOT percentiles and exits 1 when an SLO is missed or a percentile exceeds the slowest
// simulated seed by more than the tolerance.
#include <cstdio>
#include <memory>
#include <string>

#include "reports/deploy.h"
#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/io/json_reader.h"

namespace quadrant::cli {

namespace {

struct BenchCheckArgs {
  std::string expected, result;
  double tolerance = 0.25;
};

void run_bench_check(const BenchCheckArgs& a) {
  if (!(a.tolerance >= 0)) throw InputError("", "--tolerance", "expected a number >= 0");
  const io::Json expected = io::load_json_file(a.expected);
  if (!expected.is_object() || expected.value("schema_version", "") != reports::kDeploySchema)
    throw InputError(a.expected, "schema_version",
                     std::string("expected \"") + reports::kDeploySchema +
                         "\" (the deploy folder's expected.json)");
  const io::Json result = io::load_json_file(a.result);
  const reports::BenchCheck c = reports::check_benchmark(expected, result, a.tolerance, a.result);
  std::printf("%s\n", expected.value("plan", "").c_str());
  for (const std::string& line : c.lines) std::printf("  %s\n", line.c_str());
  std::printf("%s\n", c.passed()   ? "bench-check: passed"
                      : !c.slo_met ? "bench-check: FAILED (an SLO is missed)"
                                   : "bench-check: FAILED (slower than simulated)");
  if (!c.passed()) throw CLI::RuntimeError(1);
}

}  // namespace

void add_bench_check_command(CLI::App& app) {
  auto args = std::make_shared<BenchCheckArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench-check", "Compare a vllm bench serve result with the plan's expected.json");
  cmd->add_option("expected", args->expected, "expected.json of the deploy folder")->required();
  cmd->add_option("result", args->result, "JSON written by vllm bench serve --save-result")
      ->required();
  cmd->add_option("--tolerance", args->tolerance,
                  "how far above the slowest simulated seed a percentile may be (0.25: 25%)")
      ->capture_default_str();
  cmd->callback([args] { run_bench_check(*args); });
}

}  // namespace quadrant::cli
