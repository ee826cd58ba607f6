// An instance: a group of GPUs serving one role with one layout, as the simulator keeps
// it (queues, running set, KV manager, step in flight, statistics). Plain state; the
// policies that move requests through it are the other files of this folder (batch
// former, KV manager, running set, KV transfers), driven by sim/engine/simulation.cc.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/units.h"
#include "sim/cost/step_cost.h"
#include "sim/scenario.h"
#include "sim/serving/kv_manager.h"
#include "sim/serving/prefix_cache.h"
#include "sim/serving/request.h"

namespace quadrant {

// A step launched and not yet finished: the prefill chunks it carries (request slot,
// tokens); the decode part is the instance's running set, unchanged while it is in flight.
struct StepInFlight {
  SimTime launch, done;
  std::vector<std::pair<uint32_t, int64_t>> chunks;
  int decode_seqs = 0;
  int64_t tokens = 0;
};

// A running sequence's last decode step (it finishes then).
struct DecodeWakeup {
  int64_t step;
  uint32_t slot;
  uint32_t epoch;
  bool operator>(const DecodeWakeup& o) const {
    return step != o.step ? step > o.step : slot > o.slot;
  }
};

enum class InstanceState { kProvisioning, kActive, kDraining, kReleased };

struct alignas(64) Instance {
  // What routing and every step read first, together in one cache line: the routers scan
  // a whole pool per request.
  InstanceState state = InstanceState::kActive;
  Role role = Role::kPrefill;
  int running_live = 0;
  int64_t outstanding_prefill_tokens = 0;
  KvManager kv;                // pending: decode blocks wanted by transfers waiting for room
  int64_t decode_step = 0;     // decode steps completed (one token each without speculation)
  int64_t context_tokens = 0;  // KV tokens of `running`

  std::string name;    // "prefill[0]"
  int id = 0;          // index among the simulation's instances
  int pool = 0;        // index of its PoolSpec: 0 prefill, 1 decode, 2 colocated
  int load_index = 0;  // its place in the pool's instances (and router loads)
  std::string gpu;
  int gpus = 0;
  int first_gpu = 0;  // in the topology
  const StepCostModel* costs = nullptr;
  SimTime up_since, released = SimTime::never(), ready_at;

  std::deque<uint32_t> prefill_queue;   // requests with prefill chunks left to launch
  std::deque<uint32_t> transfer_queue;  // decode: waiting for KV room to start a transfer
  std::deque<uint32_t> ready_queue;     // decode: KV landed, waiting for a batch slot
  // Decoding, in admission order; removed entries are kGone until compacted.
  static constexpr uint32_t kGone = UINT32_MAX;
  std::vector<uint32_t> running;
  // Without speculation every running sequence gains one token per step, so a sequence
  // needs a new KV block every B steps (B the block size), at steps of one phase
  // (decode_step mod B): `crossing[phase]` lists them and a step needs as many blocks as
  // its phase's list is long, without touching the sequences. A sequence admitted with
  // one block to spare skips its first crossing: it waits in `deferred` (slot, epoch)
  // for one step. `finishes` holds each sequence's last step.
  std::vector<std::vector<uint32_t>> crossing;
  std::vector<std::pair<uint32_t, uint32_t>> deferred;
  std::priority_queue<DecodeWakeup, std::vector<DecodeWakeup>, std::greater<>> finishes;
  bool crossing_pending = false;  // inside a step, before its crossings got their blocks
  int prefilling = 0;             // colocated/decode: sequences admitted to prefill
  int incoming = 0;               // decode: transfers in flight to it
  int tier_loads = 0;             // prompts loading blocks from the shared KV tier for it

  BlockPrefixCache prefix_cache;  // prefilling roles with a PrefixCacheSpec

  std::deque<StepInFlight> in_flight;
  bool launch_scheduled = false;
  SimTime next_launch_ok;

  // Attention/FFN disaggregation: the FFN pool's GPUs (gpu and gpus are the attention
  // pool's, which hold the KV cache) and each pool's working time in the steps.
  std::string ffn_gpu;
  int ffn_gpus = 0;
  Duration af_attention_busy, af_ffn_busy;

  // statistics
  Duration busy;
  SimTime busy_until;
  int64_t steps = 0, preemptions = 0;
  double batch_seqs = 0, batch_tokens = 0;
  std::vector<std::pair<double, double>> kv_series, batch_series;
  int last_batch = 0;

  bool idle() const {
    return in_flight.empty() && prefill_queue.empty() && running_live == 0 && ready_queue.empty() &&
           transfer_queue.empty() && incoming == 0 && tier_loads == 0 && kv.used() == 0;
  }
};

}  // namespace quadrant
