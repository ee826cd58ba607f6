// Result assembly at the end of a run: what the instances measured (utilisation, batch
// sizes, KV occupancy, their GPU hours and cost) turned into the result's instance
// summaries and the run's cost figures. The request side is RequestMetrics
// (metrics.h).
//
//   metrics.fill(result.summary, measurement_window_s(scenario, last_arrival));
//   summarize_instances(instances, end, scenario, result);
//   add_cost_rates(result.summary);
#pragma once

#include <vector>

#include "sim/core/units.h"
#include "sim/metrics/result.h"
#include "sim/scenario.h"
#include "sim/serving/instance.h"

namespace quadrant {

// The measurement window's length (metrics.h): from the end of warm-up to the last
// arrival, at most the workload's duration for generated arrivals.
double measurement_window_s(const Scenario& scenario, SimTime last_arrival);

// Appends one InstanceSummary per instance (their KV accounting brought up to their end:
// release or `end`; their series moved out) and adds their GPU hours, cost and
// preemptions to the summary.
void summarize_instances(std::vector<Instance>& instances, SimTime end, const Scenario& scenario,
                         SimulationResult& result);

// USD per hour of the run and per million tokens (input + output), from the summary's
// cost, duration and token counts.
void add_cost_rates(SimulationSummary& summary);

}  // namespace quadrant
