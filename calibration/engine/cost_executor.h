// A StepExecutor whose step time is the simulator's prediction: StepCostModel's cost of
// the plan's batch (the same BatchShape the simulator forms for the step). It runs the
// scheduler on the CPU: in tests (with a VirtualClock the driver then is the simulator's
// colocated instance) and to re-simulate a logged run's exact step compositions.
//
//   CostModelExecutor ex(scenario.model, *gpu, scenario.cluster, cost_model,
//                        {.kv_blocks = 4096, .block_tokens = 16});
//   StepTiming t = ex.execute(plan);   // gpu_ns = wall_ns = predicted step time
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "calibration/engine/run_log.h"
#include "calibration/engine/step.h"
#include "sim/cost/step_cost.h"

namespace quadrant::engine {

// The simulator's batch for a step: prefill chunks with their exact query-key pairs,
// decode sequences with the KV they attend.
StepBatch step_batch(const StepPlan& plan);
StepBatch step_batch(const StepRecord& step);

// Each step's decode sequences' KV tokens attended, in the requests' id order, rebuilt from
// the requests' token steps (the token numbered j >= 2 of a request of P prompt tokens
// attends P + j - 1); a step whose rebuilt lengths disagree with its logged count, sum or
// longest gets none. Index: the step's index in run.steps.
std::vector<std::vector<int32_t>> step_decode_lengths(const EngineRun& run);
// The plan's decode sequences' KV tokens attended (kv_len + 1), in plan order.
std::vector<int32_t> step_decode_lengths(const StepPlan& plan);

class CostModelExecutor : public StepExecutor {
 public:
  // One GPU (TP1); `cost_model` must outlive the executor. `host_ns` is added to each
  // step's wall time (a host gap the GPU does not see).
  CostModelExecutor(const ModelSpec& model, const GpuSpec& gpu, const ClusterSpec& cluster,
                    const CostModel& cost_model, ExecutorCapacity capacity, int64_t host_ns = 0);

  ExecutorCapacity capacity() const override { return capacity_; }
  StepTiming execute(const StepPlan& plan) override;
  void release(uint64_t) override {}
  std::string describe() const override;

  const StepCostModel& costs() const { return costs_; }

 private:
  const ModelSpec& model_;
  std::string gpu_name_;
  StepCostModel costs_;
  const CostModel& cost_model_;
  ExecutorCapacity capacity_;
  int64_t host_ns_ = 0;
};

}  // namespace quadrant::engine
