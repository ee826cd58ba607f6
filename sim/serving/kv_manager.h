// The KV manager: one instance's paged KV cache, counted in blocks of a fixed number of
// tokens (vLLM's PagedAttention), with the serving policies that decide who gets blocks.
// It counts; which physical blocks a sequence holds is the driver's (the simulator needs
// none, a GPU scheduler keeps a free list beside it).
//
// Policies, in the words of the serving model (sim/INVARIANTS.md):
// - Admission: a sequence is admitted to prefill when the blocks of its whole prompt
//   (plus its first token where it decodes here) fit, first come first served; a KV
//   transfer into a decode instance waits, first come first served, until prompt + 1
//   token fit (a large head is not overtaken).
// - Growth: a decoding sequence takes a block each time its tokens cross a block
//   boundary.
// - Preemption (vLLM's recompute): when a running sequence needs blocks that are not
//   free, the most recently admitted running sequence is evicted, the needy one itself
//   if it is the latest; its prompt and tokens so far are prefilled again.
//
//   KvManager kv(/*capacity_blocks=*/4096, SimTime::start());
//   int64_t need = kv_blocks_for(prompt + 1, 16);
//   if (kv.fits(need)) kv.change(now, need);           // admitted
//   while (!kv.fits(extra)) evict(preemption_victim(running, kGone));
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/units.h"

namespace quadrant {

// Blocks holding `tokens` tokens, `block_tokens` per block.
inline int64_t kv_blocks_for(int64_t tokens, int64_t block_tokens) {
  return (tokens + block_tokens - 1) / block_tokens;
}

class KvManager {
 public:
  KvManager() = default;
  KvManager(int64_t capacity_blocks, SimTime now) : capacity_(capacity_blocks), changed_(now) {}

  int64_t capacity() const { return capacity_; }
  int64_t used() const { return used_; }
  // Blocks promised to transfers waiting for room (decode); they count as occupied for
  // routing, not for admission.
  int64_t pending() const { return pending_; }
  bool fits(int64_t blocks) const { return used_ + blocks <= capacity_; }
  bool in_range() const { return used_ >= 0 && used_ <= capacity_; }
  // Reserved fraction, pending included (what routers and the autoscaler read).
  double occupancy() const {
    return capacity_ > 0 ? static_cast<double>(used_ + pending_) / static_cast<double>(capacity_)
                         : 1.0;
  }

  // Takes (delta > 0) or returns (delta < 0) blocks at `now`; the caller checks
  // in_range() (it knows the instance's name for the message).
  void change(SimTime now, int64_t delta) {
    integral_ += static_cast<double>(used_) * (now - changed_).to_seconds();
    changed_ = now;
    used_ += delta;
    peak_ = std::max(peak_, used_);
  }
  void promise(int64_t blocks) { pending_ += blocks; }

  // Statistics: the most blocks ever held, and block-seconds held up to the last change.
  int64_t peak() const { return peak_; }
  double block_seconds() const { return integral_; }

 private:
  int64_t capacity_ = 0;
  int64_t used_ = 0;
  int64_t pending_ = 0;
  int64_t peak_ = 0;
  double integral_ = 0;
  SimTime changed_;
};

// Preemption's victim: the most recently admitted of `running` (admission order), whose
// removed entries equal `gone` and are dropped from its end. `running` must hold one.
template <class Seq>
Seq preemption_victim(std::vector<Seq>& running, Seq gone) {
  while (!running.empty() && running.back() == gone) running.pop_back();
  QUADRANT_CHECK(!running.empty());
  return running.back();
}

}  // namespace quadrant
