// Deployable output of a plan: the recommended cluster as launch files for the engines
// people run, and a benchmark that checks the deployed cluster against the prediction.
//
//   deploy/vllm.sh        vLLM: `vllm serve` per pool with the NixlConnector (PD), the proxy
//   deploy/sglang.sh      SGLang: `sglang.launch_server --disaggregation-mode`, the router
//   deploy/dynamo.yaml    Kubernetes: a Dynamo DynamoGraphDeployment (frontend, prefill and
//                         decode workers with replicas, GPUs and node selectors per pool)
//   deploy/benchmark.sh   `vllm bench serve` at the planned rate and lengths, then
//                         `quadrant bench-check` against expected.json
//   deploy/expected.json  the SLOs and the simulated TTFT/TPOT percentiles (every seed)
//   deploy/serving.json   the plan's serving section in Quadrant's scenario format, with
//                         what the engines' flags cannot say (attention/FFN-disaggregated
//                         units, redundant experts and EPLB, dual micro-batch, prefix
//                         caches): "serving": {"include": "deploy/serving.json"} in the
//                         scenario re-simulates the planned cluster
//
//   DeployPlan p = deploy_plan(plan_result);        // the recommended candidate
//   write_deploy(deploy_files(p), "out/plan/deploy");
//
// Which flag each file uses, and from which documentation, is in reports/README.md; the
// test (tests/reports/deploy_test.cc) checks every flag against those documented lists.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sim/engine/simulation.h"
#include "sim/planner/planner.h"
#include "sim/scenario.h"

namespace quadrant::reports {

inline constexpr const char* kDeploySchema = "quadrant.deploy/1";

// What the launch files need of a plan; built from a PlanResult by deploy_plan.
struct DeployPlan {
  std::string scenario_name;
  std::string label;  // the plan's label
  ModelSpec model;
  bool disaggregated = true;
  PoolSpec prefill, decode, colocated;
  ServingSpec serving;  // the planned serving section (deploy/serving.json)
  int kv_block_size = 16;
  int gpus_per_node = 8;
  double rate_per_s = 0;
  WorkloadSpec workload;
  SloSpec slo;
  std::vector<std::pair<Percentiles, Percentiles>> predicted;  // (TTFT, TPOT) per seed
};

// The recommended candidate of `r`; throws InputError when no candidate met the SLOs.
DeployPlan deploy_plan(const planner::PlanResult& r);

struct DeployFile {
  std::string name;  // relative to the deploy folder
  std::string text;
  bool executable = false;
};
std::vector<DeployFile> deploy_files(const DeployPlan& p);

// Writes the files into `dir` through io::OutputDir (sim/io/output_dir.h): a new, empty
// or previous-output folder, replaced whole, so a failure leaves nothing partial.
// `quadrant plan` stages them as deploy/ of its own output instead. Throws InputError
// when the folder cannot be written.
void write_deploy(const std::vector<DeployFile>& files, const std::string& dir);

// nlohmann JSON as block-style YAML (strings double-quoted, JSON escapes, so any string
// is safe): what dynamo.yaml is written with.
std::string to_yaml(const nlohmann::ordered_json& j);

// The benchmark check: a `vllm bench serve --save-result` JSON (p50/p90/p99 _ttft_ms and
// _tpot_ms) against expected.json. Passes when the SLO percentiles hold and no measured
// percentile exceeds the slowest simulated seed by more than `tolerance` (0.25: 25%).
struct BenchCheck {
  bool slo_met = false;
  bool within_prediction = false;
  std::vector<std::string> lines;  // one per percentile: measured, predicted, verdict
  bool passed() const { return slo_met && within_prediction; }
};
BenchCheck check_benchmark(const nlohmann::json& expected, const nlohmann::json& result,
                           double tolerance, const std::string& result_file);

}  // namespace quadrant::reports
