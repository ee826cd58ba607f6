// A request in flight: the serving model's per-request state between arrival and last
// token. Plain state; the batch former, the KV manager and the engine move it along.
#pragma once

#include <cstdint>

#include "sim/core/units.h"

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
  int32_t prefill_cached = 0;     // prompt tokens found in the prefix cache: not computed
  int64_t prefill_target = 0;     // tokens to compute before decoding (recompute: more)
  int64_t prefill_scheduled = 0;  // tokens already launched in steps
  int64_t prefill_done = 0;
  int32_t blocks = 0;         // KV blocks held at `instance`
  int32_t instance = -1;      // where it computes now
  int32_t source_blocks = 0;  // prefill instance's blocks held until the transfer lands
  int32_t source_instance = -1;
  int32_t decode_instance = -1;
  uint32_t transfer = 0;    // its KV transfer in the FlowNetwork
  uint64_t flow_event = 0;  // the engine's event of the transfer's next landing, +1 (0: none)
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

}  // namespace quadrant
