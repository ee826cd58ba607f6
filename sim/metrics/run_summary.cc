#include "sim/metrics/run_summary.h"

#include <algorithm>

#include "sim/core/error.h"

namespace quadrant {

double measurement_window_s(const Scenario& sc, SimTime last_arrival) {
  return std::max(
      0.0, std::min(last_arrival.to_seconds(), sc.workload.arrival.process == ArrivalProcess::kTrace
                                                   ? last_arrival.to_seconds()
                                                   : sc.workload.duration.to_seconds()) -
               sc.workload.warmup.to_seconds());
}

void summarize_instances(std::vector<Instance>& instances, SimTime end, const Scenario& sc,
                         SimulationResult& result) {
  SimulationSummary& sum = result.summary;
  for (Instance& in : instances) {
    const SimTime until = std::min(in.released, end);
    const double life = std::max(0.0, (until - in.up_since).to_seconds());
    in.kv.change(until, 0);  // block-seconds up to its end
    QUADRANT_CHECK_MSG(in.kv.in_range(), in.name + ": KV blocks out of range");
    const double price = sc.price_per_hour(in.gpu);
    sum.gpu_hours += in.gpus * life / 3600.0;
    sum.usd += in.gpus * life / 3600.0 * price;
    if (in.ffn_gpus > 0) {
      sum.gpu_hours += in.ffn_gpus * life / 3600.0;
      sum.usd += in.ffn_gpus * life / 3600.0 * sc.price_per_hour(in.ffn_gpu);
    }
    sum.preemptions += in.preemptions;
    InstanceSummary is;
    is.name = in.name;
    is.role = in.role;
    is.gpu = in.gpu;
    is.gpus = in.gpus;
    is.utilization = life > 0 ? std::min(1.0, in.busy.to_seconds() / life) : 0;
    is.steps = in.steps;
    is.preemptions = in.preemptions;
    if (in.ffn_gpus > 0) {
      is.ffn_gpu = in.ffn_gpu;
      is.ffn_gpus = in.ffn_gpus;
      is.attention_utilization =
          life > 0 ? std::min(1.0, in.af_attention_busy.to_seconds() / life) : 0;
      is.ffn_utilization = life > 0 ? std::min(1.0, in.af_ffn_busy.to_seconds() / life) : 0;
    }
    is.mean_batch_size = in.steps ? in.batch_seqs / static_cast<double>(in.steps) : 0;
    is.mean_batch_tokens = in.steps ? in.batch_tokens / static_cast<double>(in.steps) : 0;
    const double cap = static_cast<double>(in.kv.capacity());
    is.mean_kv_occupancy = life > 0 ? in.kv.block_seconds() / (cap * life) : 0;
    is.peak_kv_occupancy = static_cast<double>(in.kv.peak()) / cap;
    is.kv_occupancy_series = std::move(in.kv_series);
    is.batch_size_series = std::move(in.batch_series);
    result.instances.push_back(std::move(is));
  }
}

void add_cost_rates(SimulationSummary& sum) {
  if (sum.duration_s > 0) sum.usd_per_hour = sum.usd / (sum.duration_s / 3600.0);
  const double tokens = static_cast<double>(sum.input_tokens + sum.output_tokens);
  if (tokens > 0) sum.usd_per_million_tokens = sum.usd / (tokens / 1e6);
}

}  // namespace quadrant
