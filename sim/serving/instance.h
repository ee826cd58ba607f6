// The serving entities: requests in flight and the instances that serve them. Plain
// state; the rules that move requests between them live in sim/engine/simulation.cc
// (step formation, completion, KV transfer, preemption) so that one file reads as the
// serving model.
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
#include "sim/engine/event_queue.h"
#include "sim/scenario.h"

namespace quadrant {

// A request between its arrival and its last token. Kept in a slab and recycled, so
// memory grows with requests in flight, not with requests served.
struct Request {
  uint64_t id = 0;
  SimTime arrival;
  SimTime first_launch = SimTime::never();  // its first prefill chunk started
  SimTime first_token = SimTime::never();
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  int32_t generated = 0;          // output tokens emitted, the first one included
  int64_t prefill_target = 0;     // tokens to compute before decoding (recompute: more)
  int64_t prefill_scheduled = 0;  // tokens already launched in steps
  int64_t prefill_done = 0;
  int32_t blocks = 0;         // KV blocks held at `instance`
  int32_t instance = -1;      // where it computes now
  int32_t source_blocks = 0;  // prefill instance's blocks held until the transfer lands
  int32_t source_instance = -1;
  int32_t decode_instance = -1;
  uint32_t transfer = 0;   // its KV transfer in the FlowNetwork
  EventId flow_event = 0;  // the transfer's next landing, +1 (0: none)
  bool transfer_started = false;
  bool transfer_done = false;
  bool prefill_finished = false;
  SimTime transfer_start;
  // Decoding: the instance's decode step at which `generated` and `blocks` were last
  // brought up to date, the request's place in `running`, an epoch that retires stale
  // finish entries, and (without speculation) the phase, decode step mod the KV block
  // size, at which it crosses a block boundary with its place in that phase's list.
  int64_t base_step = 0;
  uint32_t running_index = 0;
  uint32_t epoch = 0;
  uint32_t phase = 0;
  uint32_t phase_index = kNoPhase;  // kNoPhase: not in a phase list (yet)
  static constexpr uint32_t kNoPhase = UINT32_MAX;

  int64_t kv_tokens() const { return input_tokens + generated; }
};

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
  int64_t kv_capacity_blocks = 0;
  int64_t kv_used_blocks = 0;
  int64_t kv_pending_blocks = 0;  // decode: blocks wanted by transfers waiting for room
  int64_t decode_step = 0;        // decode steps completed (one token each without speculation)
  int64_t context_tokens = 0;     // KV tokens of `running`

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

  std::deque<StepInFlight> in_flight;
  bool launch_scheduled = false;
  SimTime next_launch_ok;

  // statistics
  Duration busy;
  SimTime busy_until;
  int64_t steps = 0, preemptions = 0;
  double batch_seqs = 0, batch_tokens = 0;
  double kv_integral = 0;  // block-seconds
  SimTime kv_changed;
  int64_t kv_peak_blocks = 0;
  std::vector<std::pair<double, double>> kv_series, batch_series;
  int last_batch = 0;

  bool idle() const {
    return in_flight.empty() && prefill_queue.empty() && running_live == 0 && ready_queue.empty() &&
           transfer_queue.empty() && incoming == 0 && kv_used_blocks == 0;
  }
  double kv_occupancy() const {
    return kv_capacity_blocks > 0
               ? static_cast<double>(kv_used_blocks + kv_pending_blocks) / kv_capacity_blocks
               : 1.0;
  }
};

}  // namespace quadrant
