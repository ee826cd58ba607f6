// The running set: the sequences an instance decodes, kept so that a decode step costs
// no work per sequence. Without speculation every running sequence gains one token per
// step, so it needs a new KV block every B steps (B the block size) at one phase (decode
// step mod B): the instance lists its sequences by phase (Instance::crossing), a step
// takes its phase's count of blocks without touching them, and a finish heap holds each
// sequence's last step. A sequence's tokens and blocks are brought up to date lazily
// (sync) when it is looked at. With speculation every step touches every sequence, and
// the phase lists are not used.
//
//   RunningSet running(slab, /*block_tokens=*/16, /*speculative=*/false);
//   running.admit(instance, slot);   // joins the running set (its KV already held)
//   running.remove(instance, slot);  // finished or preempted
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/core/error.h"
#include "sim/serving/instance.h"
#include "sim/serving/kv_manager.h"
#include "sim/serving/request.h"

namespace quadrant {

class RunningSet {
 public:
  RunningSet(std::vector<Request>& slab, int64_t block_tokens, bool speculative)
      : slab_(slab), block_(block_tokens), speculative_(speculative) {}

  int64_t block_tokens() const { return block_; }
  int64_t phase_of(int64_t step) const { return step % block_; }
  int64_t blocks_for(int64_t tokens) const { return kv_blocks_for(tokens, block_); }

  // Brings a running sequence's tokens and KV blocks up to its instance's decode step.
  void sync(const Instance& in, Request& r) const {
    if (in.decode_step == r.base_step) return;
    r.generated += static_cast<int32_t>(in.decode_step - r.base_step);
    r.base_step = in.decode_step;
    // One block per boundary crossed; a crossing of the step being processed that has
    // not got its block yet is not held. A sequence admitted with a block to spare
    // (recompute) holds it from the start: hence the max.
    int64_t held = blocks_for(r.kv_tokens());
    if (in.crossing_pending && r.phase_index != Request::kNoPhase &&
        r.phase == phase_of(in.decode_step))
      --held;
    r.blocks = std::max(r.blocks, static_cast<int32_t>(held));
  }

  void admit(Instance& in, uint32_t s) {
    Request& r = slab_[s];
    r.running_index = static_cast<uint32_t>(in.running.size());
    in.running.push_back(s);
    ++in.running_live;
    in.context_tokens += r.kv_tokens();
    r.base_step = in.decode_step;
    ++r.epoch;
    if (speculative_) return;
    // One token per step: the request finishes after output - generated more steps and
    // outgrows its blocks after blocks * B - kv_tokens + 1, then every B steps.
    const int64_t to_finish = r.output_tokens - r.generated;
    const int64_t to_block = int64_t{r.blocks} * block_ - r.kv_tokens() + 1;
    QUADRANT_CHECK(to_finish >= 1 && to_block >= 1 && to_block <= block_ + 1);
    in.finishes.push({in.decode_step + to_finish, s, r.epoch});
    r.phase = static_cast<uint32_t>(phase_of(in.decode_step + to_block));
    if (to_block > block_) {
      in.deferred.push_back({s, r.epoch});  // its first crossing is covered: skip one step
    } else {
      join_phase(in, s);
    }
  }

  void remove(Instance& in, uint32_t s) {
    Request& r = slab_[s];
    sync(in, r);
    in.running[r.running_index] = Instance::kGone;
    --in.running_live;
    in.context_tokens -= r.kv_tokens();
    ++r.epoch;
    if (r.phase_index != Request::kNoPhase) leave_phase(in, s);
  }

  void join_phase(Instance& in, uint32_t s) {
    Request& r = slab_[s];
    std::vector<uint32_t>& list = in.crossing[r.phase];
    r.phase_index = static_cast<uint32_t>(list.size());
    list.push_back(s);
  }

  void leave_phase(Instance& in, uint32_t s) {
    Request& r = slab_[s];
    std::vector<uint32_t>& list = in.crossing[r.phase];
    const uint32_t last = list.back();
    list[r.phase_index] = last;
    slab_[last].phase_index = r.phase_index;
    list.pop_back();
    r.phase_index = Request::kNoPhase;
  }

  // Drops removed entries once they are at least half of the list.
  void compact(Instance& in) {
    if (in.running.size() < 64 || static_cast<int>(in.running.size()) < 2 * in.running_live) return;
    size_t k = 0;
    for (uint32_t s : in.running)
      if (s != Instance::kGone) {
        slab_[s].running_index = static_cast<uint32_t>(k);
        in.running[k++] = s;
      }
    in.running.resize(k);
  }

 private:
  std::vector<Request>& slab_;
  int64_t block_;
  bool speculative_;
};

}  // namespace quadrant
