// One simulation run: a scenario's cluster (its `serving` section) serving its workload,
// judged against its SLOs. This is the seam between the simulator and its users (the
// `simulate` command, the planner, the tests).
//
//   CostModels models = roofline_cost_models(scenario);   // or calibrated ones
//   SimulationResult r = simulate(scenario, models, {.seed = 7});
//   r.summary.ttft.p90;  r.summary.slo_attainment;  r.summary.usd_per_million_tokens;
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/units.h"
#include "sim/cost/cost_model.h"
#include "sim/metrics/result.h"
#include "sim/scenario.h"
#include "sim/workload/trace_reader.h"

namespace quadrant {

// Observer of what the simulation emits (for the Chrome trace); never called when null.
struct TraceEvent {
  std::string track;  // "prefill[0]", "decode[3]", "kv_transfer", ...
  std::string name;   // "step", "kv_transfer", "preempt", ...
  SimTime start;
  Duration duration;
  std::map<std::string, double> args;
  // Non-zero: an asynchronous slice (a KV transfer) that may overlap others on its track.
  uint64_t id = 0;
};
using TraceSink = std::function<void(const TraceEvent&)>;

struct SimulationOptions {
  uint64_t seed = 1;
  TraceSink trace;  // optional
  // Progress callback (fraction done) for long runs; optional.
  std::function<void(double)> progress;
  bool keep_requests = false;  // fill SimulationResult::requests
  // How long after the last arrival the run may go on draining; requests still in
  // flight then are rejected as "unfinished" (a saturated cluster never drains, and the
  // planner must not wait for it). Zero: 4 x the workload's duration.
  Duration drain_limit = Duration::zero();
  // Requests to serve instead of reading the trace file of a trace workload
  // (workload.arrival.process must be trace), arrival times as given (not shifted to
  // the first): a logged run replayed exactly (calibration/engine). Optional.
  const std::vector<TraceRecord>* replay = nullptr;
  // Pools of one GPU type share nodes, packed in pool order (prefill, then decode), instead
  // of each starting on a node boundary: the engine's PD pair on one node, its KV over the
  // node's NVLink (calibration/engine's compare). Off: the same placement as before.
  bool pools_share_nodes = false;
  // The decode pool on the prefill pool's GPUs (the engine's PD pair sharing one GPU; pools
  // of one GPU type): a KV copy between them stays in that GPU's memory, priced at its
  // memory bandwidth read and written, 2 x bytes / memory_bandwidth (calibration/engine's
  // compare of a pair served on one GPU). Off: the placement above.
  bool pools_share_one_gpu = false;
};

// Throws InputError when the serving section cannot run (e.g. weights do not fit).
SimulationResult simulate(const Scenario& scenario, const CostModels& models,
                          const SimulationOptions& options);

// Roofline models for every GPU type in the scenario's catalog.
CostModels roofline_cost_models(const Scenario& scenario);

}  // namespace quadrant
