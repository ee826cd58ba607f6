// The batch former: which sequences go into an instance's next step (continuous batching
// with chunked prefill, as in vLLM and Sarathi-Serve). Given the instance's queues and
// limits it chooses; the driver (the simulator's event loop, or a wall-clock scheduler
// forming engine::StepPlans) applies the choice: takes the KV blocks, launches the step.
//
// The rules, in order:
// 1. Decoding roles first move ready sequences (KV in place) into the running set, first
//    come first served, while running + admitted-to-prefill < max_batch_size.
// 2. Every running sequence decodes in the step (q tokens each: 1, or k + 1 with
//    speculation); what is left of max_batch_tokens goes to prefill chunks.
// 3. The prefill queue is walked in order. A sequence not yet admitted is admitted when
//    its KV blocks fit (and, decoding roles, a batch seat is free); the first one that
//    does not fit ends the walk (first come first served: no overtaking). Each sequence
//    gets min(its prompt left, chunk_size, budget left) tokens; one held back by
//    chunk_size lets the next one use the budget, one held back by the budget ends it.
//
//   BatchFormer former(limits, /*block_tokens=*/16, /*decodes=*/true);
//   int admit = former.ready_admissions(running, prefilling, ready_queue.size());
//   former.choose_chunks(queue.size(), [&](size_t i) { return progress_of(queue[i]); },
//                        former.prefill_budget(running + admit, 1), kv.capacity() - kv.used(),
//                        former.seats(running + admit, prefilling), chunks);
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

#include "sim/serving/kv_manager.h"

namespace quadrant {

struct BatchLimits {
  int max_batch_size = 0;        // decoding roles: running + admitted-to-prefill sequences
  int64_t max_batch_tokens = 0;  // prefill chunk tokens + decode tokens of one step
  int64_t chunk_size = 0;        // prompt tokens of one sequence in one step
};

// What the former reads of one sequence in the prefill queue.
struct PrefillProgress {
  int64_t target = 0;     // tokens to compute: the prompt (after a preemption, + generated)
  int64_t scheduled = 0;  // tokens launched by earlier steps
  bool admitted = false;  // it holds its KV blocks
  uint64_t seq = 0;       // the driver's name for the sequence, copied into its chunk
};

// One prefill chunk of the step being formed.
struct ChunkChoice {
  uint64_t seq = 0;          // PrefillProgress::seq
  size_t queue_index = 0;    // the sequence's place in the prefill queue the walk saw
  int64_t start = 0;         // prompt tokens scheduled before this chunk
  int64_t tokens = 0;        // tokens [start, start + tokens) of its prompt
  int64_t admit_blocks = 0;  // > 0: admitted by this step, taking these KV blocks
  bool completes = false;    // its prompt is fully scheduled: it leaves the prefill queue
};

class BatchFormer {
 public:
  // `decodes`: the instance decodes what it prefills (decode, colocated roles): it
  // admits with room for the first output token and counts batch seats.
  BatchFormer() = default;
  BatchFormer(BatchLimits limits, int64_t block_tokens, bool decodes)
      : limits_(limits), block_tokens_(block_tokens), decodes_(decodes) {}

  const BatchLimits& limits() const { return limits_; }

  // Rule 1: how many of `ready` sequences join the running set before the step.
  int ready_admissions(int running, int prefilling, size_t ready) const {
    if (!decodes_) return 0;
    const int room = std::max(0, limits_.max_batch_size - running - prefilling);
    return static_cast<int>(std::min<size_t>(ready, static_cast<size_t>(room)));
  }
  // Rule 2: the token budget left for prefill chunks.
  int64_t prefill_budget(int decode_seqs, int tokens_per_seq) const {
    return std::max<int64_t>(0, limits_.max_batch_tokens - int64_t{decode_seqs} * tokens_per_seq);
  }
  // Sequences that may still be admitted to prefill (INT_MAX: no seat limit).
  int seats(int running, int prefilling) const {
    return decodes_ ? limits_.max_batch_size - running - prefilling : INT_MAX;
  }
  // KV blocks a sequence of `target` prompt tokens is admitted with.
  int64_t admission_blocks(int64_t target) const {
    return kv_blocks_for(target + (decodes_ ? 1 : 0), block_tokens_);
  }

  // Rule 3: appends the step's prefill chunks to `out`, walking a queue of `queue_size`
  // sequences whose progress `progress_of(i)` gives (i in queue order). Inline: it runs
  // once per step launch on the simulator's hot path.
  template <class ProgressOf>
  void choose_chunks(size_t queue_size, const ProgressOf& progress_of, int64_t budget,
                     int64_t kv_free_blocks, int seats, std::vector<ChunkChoice>& out) const {
    for (size_t i = 0; i < queue_size && budget > 0; ++i) {
      const PrefillProgress p = progress_of(i);
      ChunkChoice c;
      c.seq = p.seq;
      c.queue_index = i;
      c.start = p.scheduled;
      if (!p.admitted) {
        if (seats <= 0) break;
        const int64_t need = admission_blocks(p.target);
        if (need > kv_free_blocks) break;
        kv_free_blocks -= need;
        --seats;
        c.admit_blocks = need;
      }
      c.tokens = std::min({p.target - p.scheduled, limits_.chunk_size, budget});
      c.completes = p.scheduled + c.tokens == p.target;
      budget -= c.tokens;
      out.push_back(c);
    }
  }

 private:
  BatchLimits limits_;
  int64_t block_tokens_ = 1;
  bool decodes_ = false;
};

}  // namespace quadrant
