// The serving engine as a prefill/decode disaggregated pair (issue 11, deliverable 6): a
// prefill instance (chunked prefill only: it computes each prompt and samples its first
// token) and a decode instance (continuous-batching decode; it also re-prefills what it
// preempts), each with its own executor and KV pool, and the scheduler between them
// moving each request's KV blocks after its last prefill chunk. The rules are the
// simulator's PD serving policy (sim/engine/simulation.cc, a disaggregated pool pair):
//   - prefill: the batch former without decodes (sim/serving/batch_former.h: admission
//     with the prompt's blocks, no batch seats), one step at a time;
//   - a finished prompt (its first token sampled) queues for the decode instance, first
//     come first served; its transfer starts when the decode pool has the blocks of
//     prompt + 1 token (KvManager admission: a large head is not overtaken); the prefill
//     instance keeps its blocks until the copy has landed (back-pressure);
//   - decode: landed sequences join the running set while seats are free
//     (ready_admissions), every running sequence decodes, a sequence crossing a block
//     boundary takes a block, preempting the most recently admitted (recompute on the
//     decode instance), exactly as the colocated driver (driver.h).
// What differs from the simulator (README.md "PD pair"): the copy runs on the decode
// instance's GPU between its steps (it pulls the KV over NVLink; the simulator's link
// transfer overlaps decode steps), and one transfer at a time.
//
//   PdExecutors ex{prefill_executor, decode_executor, link};
//   EngineRun run = run_pd_threads(requests, limits, ex, wall_clock, options);  // real GPUs
//   EngineRun sim = run_pd_virtual(requests, limits, ex, options);  // deterministic (tests)
//   write_run_log(run, dir);  // steps.csv: the prefill instance's steps, then the decode's
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "calibration/engine/clock.h"
#include "calibration/engine/driver.h"
#include "calibration/engine/run_log.h"
#include "calibration/engine/step.h"
#include "sim/scenario.h"

namespace quadrant::engine {

// Moves one sequence's KV cache from the prefill executor's blocks to the decode
// executor's; afterwards the decode executor continues the sequence from the first token
// the prefill sampled. Synchronous: returns when the copy has landed, with its times.
class KvLink {
 public:
  virtual ~KvLink() = default;
  virtual StepTiming transfer(uint64_t seq, const std::vector<int32_t>& src_blocks,
                              const std::vector<int32_t>& dst_blocks, int32_t tokens) = 0;
  virtual std::string describe() const = 0;
};

// A link whose copy takes latency + bytes / bandwidth (no GPU): CPU tests and
// re-simulation; the simulator's one-flow time over a topology link.
class CostKvLink : public KvLink {
 public:
  CostKvLink(double kv_bytes_per_token, double bytes_per_s, int64_t latency_ns)
      : bytes_per_token_(kv_bytes_per_token), bytes_per_s_(bytes_per_s), latency_ns_(latency_ns) {}
  StepTiming transfer(uint64_t seq, const std::vector<int32_t>& src_blocks,
                      const std::vector<int32_t>& dst_blocks, int32_t tokens) override;
  std::string describe() const override;

 private:
  double bytes_per_token_, bytes_per_s_;
  int64_t latency_ns_;
};

struct PdLimits {
  EngineLimits prefill;  // max_batch_tokens and chunk_size (max_batch_size unused)
  EngineLimits decode;   // max_batch_size, max_batch_tokens, chunk_size (recompute)
};

struct PdExecutors {
  StepExecutor& prefill;
  StepExecutor& decode;
  KvLink& link;
};

struct PdOptions {
  EngineOptions engine;   // drain limit, scenario, gpu, seed, on_step (either instance)
  std::string placement;  // run.json's pd.placement: where the instances ran
  // Called on the prefill instance's thread after each of its steps, before the
  // sequences whose prompt it completed are released there (the GPU link reads their
  // first tokens here).
  std::function<void(const StepPlan&)> after_prefill_step;
};

// Deterministic: one thread, virtual time; a step (or a copy) occupies its instance for
// the executor's wall_ns, the two instances and the arrivals interleave by time (ties:
// arrivals, then the prefill instance, then the decode instance). With cost-model
// executors it is the simulator's PD pair (tests/calibration/engine/pd_driver_test.cc).
EngineRun run_pd_virtual(const std::vector<TraceRecord>& requests, const PdLimits& limits,
                         PdExecutors executors, const PdOptions& options);

// Real time: one thread per instance, each running its executor's steps as soon as it
// has work (on two GPUs the steps overlap; on one they share it), the copies on the
// decode instance's thread. The executors' calls for one instance come from its thread
// only (KvLink::transfer from the decode thread). `clock` must be a real clock.
EngineRun run_pd_threads(const std::vector<TraceRecord>& requests, const PdLimits& limits,
                         PdExecutors executors, Clock& clock, const PdOptions& options);

// The limits of a disaggregated scenario's prefill and decode pools (one instance each,
// one GPU each); InputError naming the JSON path otherwise.
PdLimits pd_limits(const Scenario& scenario);

}  // namespace quadrant::engine
