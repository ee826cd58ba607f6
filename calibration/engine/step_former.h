// The step former both engine schedulers share (driver.cc's colocated instance, and
// pd_driver.cc's prefill and decode instances): Simulation::launch for one instance. Its
// running sequences decode; sim/serving's BatchFormer fills the rest of the token budget
// from the instance's prefill queue, first come first served, admitting a sequence (its
// prompt's blocks plus one) on its first chunk; a chunk that completes the prompt takes the
// sequence off the queue. Only where a sequence keeps its state on the instance, and how its
// blocks are taken, differ between the callers: they pass those in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "calibration/engine/step.h"
#include "sim/serving/batch_former.h"
#include "sim/serving/kv_manager.h"

namespace quadrant::engine {

// A sequence's prefill state on one instance, by reference into the caller's record.
struct InstancePrefill {
  int64_t target;                // tokens to compute (a recompute: prompt + generated)
  int64_t& scheduled;            // tokens planned by earlier steps
  bool& admitted;                // holds its blocks on this instance
  std::vector<int32_t>& blocks;  // its physical KV blocks there, in position order
};

// The next step of an instance. `state(i)` gives sequence i's InstancePrefill,
// `kv_tokens(i)` the KV tokens it holds (a decode attends kv_tokens - 1 + the new one),
// `admit(i, n)` takes n blocks for it from the instance's pool (and whatever the caller
// counts on admission); `prefilling` is how many admitted sequences have not finished their
// prefill (batch seats). `chunks` is scratch space, kept by the caller to reuse its memory.
template <class State, class KvTokens, class Admit>
StepPlan form_instance_step(const BatchFormer& former, int32_t block_tokens,
                            const std::vector<size_t>& running, std::deque<size_t>& queue,
                            int64_t free_blocks, int prefilling, State state, KvTokens kv_tokens,
                            Admit admit, std::vector<ChunkChoice>& chunks) {
  StepPlan plan;
  for (size_t i : running) {
    const InstancePrefill s = state(i);
    const int64_t kv_len = kv_tokens(i) - 1;
    plan.decode.push_back(
        {i,
         static_cast<int32_t>(kv_len),
         {s.blocks.begin(), s.blocks.begin() + kv_blocks_for(kv_len + 1, block_tokens)}});
  }
  const int n = static_cast<int>(running.size());
  chunks.clear();
  former.choose_chunks(
      queue.size(),
      [&](size_t qi) {
        const InstancePrefill s = state(queue[qi]);
        return PrefillProgress{s.target, s.scheduled, s.admitted};
      },
      former.prefill_budget(n, 1), free_blocks, former.seats(n, prefilling), chunks);
  size_t left = 0;  // chunks that completed their prompt so far: gone from the queue
  for (const ChunkChoice& ch : chunks) {
    const size_t at = ch.queue_index - left;
    const size_t i = queue[at];
    InstancePrefill s = state(i);
    if (ch.admit_blocks > 0) {
      admit(i, ch.admit_blocks);
      s.admitted = true;
    }
    s.scheduled += ch.tokens;
    plan.prefill.push_back(
        {i,
         static_cast<int32_t>(ch.start),
         static_cast<int32_t>(ch.tokens),
         ch.completes,
         {s.blocks.begin(), s.blocks.begin() + kv_blocks_for(ch.start + ch.tokens, block_tokens)}});
    if (ch.completes) {
      queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(at));
      ++left;
    }
  }
  return plan;
}

}  // namespace quadrant::engine
