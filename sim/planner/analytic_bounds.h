// Analytic bounds that prune the search before anything is simulated: step times on the
// roofline (datasheet peaks times the catalog's efficiencies) or on the cost models the
// simulation runs on, without communication, so never slower than the simulator's step,
// and, from them, the highest arrival rate one instance could possibly sustain within the
// SLOs. A configuration whose bound cannot beat the best measured plan is never simulated.
//
//   RoleBound b = roofline_role_bound(scenario, config);
//   if (!b.feasible) skip(b.reason);   // e.g. one prefill alone exceeds the TTFT SLO
#pragma once

#include <string>

#include "sim/core/units.h"
#include "sim/cost/cost_model.h"
#include "sim/model/accounting.h"
#include "sim/planner/search_space.h"
#include "sim/scenario.h"

namespace quadrant::planner {

// One forward step of an instance (all layers, one micro-batch) on the roofline.
Duration roofline_step_time(const ModelSpec& m, const GpuSpec& g, const Layout& l, Phase phase,
                            const BatchShape& b);

// The same for an attention/FFN-disaggregated instance (attention on `g` in layout `l`,
// experts on `ffn_gpus` of `f`): the busier pool's work over the whole batch, as if the
// micro-batches cost no more than the batch and their exchange were free; the pipeline's
// step (cost/af_pipeline.h) is never shorter.
Duration af_roofline_step_time(const ModelSpec& m, const GpuSpec& g, const Layout& l,
                               const GpuSpec& f, int ffn_gpus, Phase phase, const BatchShape& b);

// A batch of `seqs` alike sequences: prefilling `input` tokens each, or decoding one
// token each at `context` tokens of KV.
BatchShape prefill_batch(int seqs, int64_t input);
BatchShape decode_batch(int seqs, int64_t context);

struct RoleBound {
  bool feasible = false;
  std::string reason;         // why not, when infeasible
  double max_rate_per_s = 0;  // upper bound on requests/s one instance sustains in SLO
  Duration latency;           // prefill: one request alone; decode: step at batch 1
  int max_batch = 0;          // decode/colocated: largest batch within memory and TPOT
};

// The bound for one instance of a configuration serving the scenario's workload (mean
// lengths) under its SLOs.
RoleBound roofline_role_bound(const Scenario& s, const RoleConfig& c);

// The same bound priced by the cost models the simulation runs on (per GPU type; a type
// without one, or on the roofline, priced as roofline_role_bound prices it): each
// quadrant's kernels at the model's mean, the engine's per-step terms and every
// communication left out, so that the bound still never exceeds what the simulation
// sustains, and sits as close to calibrated costs as the roofline bound sits to roofline
// costs (issue 12: a calibrated plan simulated twice the configurations for want of it).
RoleBound cost_model_role_bound(const Scenario& s, const RoleConfig& c, const CostModels& models);

}  // namespace quadrant::planner
