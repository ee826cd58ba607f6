// The serving engine's scheduler: continuous batching with chunked prefill and paged KV
// blocks, admission and preemption by recompute, one colocated instance on one
// executor. It serves requests at their arrival times on an injected clock, forms one
// StepPlan at a time with the simulator's own serving policies (sim/serving/: the batch
// former, the preemption victim; step completion as sim/engine/simulation.cc does it for
// a colocated role), hands it to the executor and logs what happened. With a cost-model
// executor and a virtual clock it is the simulator's colocated instance, request for
// request; with the GPU executor and the wall clock it is a real serving engine.
//
//   Scenario sc = load_scenario(".../scenario.json");
//   std::vector<TraceRecord> reqs = engine_requests(sc);
//   VirtualClock clock;                       // or WallClock
//   EngineRun run = run_engine(sc, reqs, executor, clock, {});
//   write_run_log(run, out_dir);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "calibration/engine/clock.h"
#include "calibration/engine/run_log.h"
#include "calibration/engine/step.h"
#include "sim/scenario.h"
#include "sim/workload/trace_reader.h"

namespace quadrant::engine {

// The batch limits of the one instance (the scenario's serving.colocated).
struct EngineLimits {
  int max_batch_size = 256;
  int64_t max_batch_tokens = 8192;
  int64_t chunk_size = 2048;
};

struct EngineOptions {
  // After the last arrival, requests still in flight this much later are left
  // unfinished and the run stops (a saturated engine never drains). Zero: no limit.
  Duration drain_limit = Duration::zero();
  std::string scenario;  // recorded in run.json
  std::string gpu;       // catalog key, recorded in run.json
  uint64_t seed = 0;
  // Called after every step (progress output of the real engine); optional.
  std::function<void(const StepRecord&)> on_step;
};

// The requests a scenario's workload generates (its arrival process and lengths, or
// its trace), in arrival order: what the engine serves.
std::vector<TraceRecord> engine_requests(const WorkloadSpec& workload, uint64_t seed);

// Serves `requests` (arrival times from the start of the run) to completion. Throws
// InputError when the limits exceed the executor's capacity. An exception thrown by the
// executor stops the run: the result then carries the error (meta.error) and the
// requests in flight are unfinished.
EngineRun run_engine(const std::vector<TraceRecord>& requests, const EngineLimits& limits,
                     StepExecutor& executor, Clock& clock, const EngineOptions& options);
// The same with the limits of the scenario's colocated pool.
EngineRun run_engine(const Scenario& scenario, const std::vector<TraceRecord>& requests,
                     StepExecutor& executor, Clock& clock, EngineOptions options);

}  // namespace quadrant::engine
