// The scheduler's rules are the simulator's, for a colocated instance: the step is formed
// by the simulator's own batch former (sim/serving/batch_former.h: chunked prefill, FCFS
// admission with KV room and batch seats) and preemption picks the simulator's victim
// (sim/serving/kv_manager.h); step completion follows Simulation::step_done. README.md
// ("What differs") lists where the engine cannot do as the simulator does.
#include "calibration/engine/driver.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>

#include "calibration/engine/step_former.h"
#include "sim/core/error.h"
#include "sim/core/version.h"
#include "sim/serving/batch_former.h"
#include "sim/serving/kv_manager.h"
#include "sim/workload/request_source.h"

namespace quadrant::engine {
namespace {

// A request in the engine, between its arrival and its last token.
struct Seq {
  int32_t input = 0, output = 0;
  int32_t generated = 0;          // output tokens emitted, the first one included
  int64_t prefill_target = 0;     // tokens to compute before decoding (recompute: more)
  int64_t prefill_scheduled = 0;  // tokens already planned (steps run one at a time)
  std::vector<int32_t> blocks;    // physical KV blocks held, in position order
  bool admitted = false;          // holds its prompt's blocks (prefilling or running)
  int64_t kv_tokens() const { return int64_t{input} + generated; }
};

class Driver {
 public:
  Driver(const std::vector<TraceRecord>& requests, const EngineLimits& limits,
         StepExecutor& executor, Clock& clock, const EngineOptions& options)
      : reqs_(requests), limits_(limits), ex_(executor), clock_(clock), opt_(options) {
    const ExecutorCapacity cap = ex_.capacity();
    if (cap.kv_blocks < 1 || cap.block_tokens < 1)
      throw InputError("", "executor",
                       "expected KV blocks and block tokens > 0, got " +
                           std::to_string(cap.kv_blocks) + " blocks of " +
                           std::to_string(cap.block_tokens) + " tokens");
    if (cap.max_decode_seqs > 0 && limits_.max_batch_size > cap.max_decode_seqs)
      throw InputError("", "serving.colocated.max_batch_size",
                       "expected at most the executor's " + std::to_string(cap.max_decode_seqs) +
                           " decode sequences per step, got " +
                           std::to_string(limits_.max_batch_size));
    if (cap.max_step_tokens > 0 && limits_.max_batch_tokens > cap.max_step_tokens)
      throw InputError("", "serving.colocated.max_batch_tokens",
                       "expected at most the executor's " + std::to_string(cap.max_step_tokens) +
                           " tokens per step, got " + std::to_string(limits_.max_batch_tokens));
    if (limits_.max_batch_size < 1 || limits_.max_batch_tokens < 1 || limits_.chunk_size < 1)
      throw InputError("", "serving.colocated", "expected positive batch limits");
    block_ = cap.block_tokens;
    capacity_ = cap.kv_blocks;
    former_ = BatchFormer({limits_.max_batch_size, limits_.max_batch_tokens, limits_.chunk_size},
                          block_, /*decodes=*/true);
    // A stack of free blocks handing out 0, 1, 2, ... first: deterministic block ids.
    free_.reserve(static_cast<size_t>(capacity_));
    for (int32_t b = capacity_ - 1; b >= 0; --b) free_.push_back(b);
    seqs_.resize(reqs_.size());
    run_.requests.resize(reqs_.size());
    for (size_t i = 0; i < reqs_.size(); ++i) {
      RequestLog& r = run_.requests[i];
      r.id = i;
      r.arrival = reqs_[i].arrival;
      r.input_tokens = reqs_[i].input_tokens;
      r.output_tokens = reqs_[i].output_tokens;
      QUADRANT_CHECK_MSG(i == 0 || reqs_[i].arrival >= reqs_[i - 1].arrival,
                         "requests must come in arrival order");
    }
    RunMeta& m = run_.meta;
    m.engine = ex_.describe();
    m.scenario = opt_.scenario;
    m.gpu = opt_.gpu;
    m.kv_blocks = capacity_;
    m.block_tokens = block_;
    m.max_batch_size = limits_.max_batch_size;
    m.max_batch_tokens = limits_.max_batch_tokens;
    m.chunk_size = limits_.chunk_size;
    m.seed = opt_.seed;
    m.revision = git_revision();
  }

  EngineRun run() {
    origin_ = clock_.now();
    SimTime prev_end = SimTime::start();
    for (;;) {
      const SimTime now = elapsed();
      ingest(now);
      if (queue_.empty() && running_.empty()) {
        if (next_ >= reqs_.size()) break;
        clock_.sleep_until(origin_ + (reqs_[next_].arrival - SimTime::start()));
        idle_ = true;
        continue;
      }
      if (past_drain_limit(now)) {
        run_.meta.error = "drain limit reached with requests in flight";
        break;
      }
      StepPlan plan = form_step(now);
      // With nothing running every queued request fits the empty cache (arrivals that
      // never fit are rejected), so a step always forms.
      QUADRANT_CHECK(!plan.empty());
      StepRecord rec = record(plan);
      rec.index = static_cast<int64_t>(run_.steps.size());
      rec.start = elapsed();
      // Host time between steps: scheduling and logging, not waiting for arrivals.
      rec.host_ns = idle_ || run_.steps.empty() ? 0 : (rec.start - prev_end).ns();
      idle_ = false;
      StepTiming t;
      try {
        t = ex_.execute(plan);
      } catch (const std::exception& e) {
        run_.meta.error = std::string("step ") + std::to_string(rec.index) + ": " + e.what();
        break;
      }
      clock_.step_ran(t);
      rec.end = elapsed();
      rec.gpu_ns = t.gpu_ns;
      rec.wall_ns = t.wall_ns;
      rec.parts_ns = std::move(t.parts_ns);
      prev_end = rec.end;
      complete(plan, rec.index, rec.end);
      run_.steps.push_back(std::move(rec));
      if (opt_.on_step) opt_.on_step(run_.steps.back());
    }
    for (RequestLog& r : run_.requests)
      if (r.status == RequestStatus::kUnfinished && r.reason.empty())
        r.reason = next_ > r.id ? "in flight when the run stopped" : "never arrived";
    run_.meta.preemptions = preemptions_;
    return std::move(run_);
  }

 private:
  SimTime elapsed() { return SimTime::start() + (clock_.now() - origin_); }
  int64_t blocks_for(int64_t tokens) const { return kv_blocks_for(tokens, block_); }
  int64_t used() const { return capacity_ - static_cast<int64_t>(free_.size()); }

  bool past_drain_limit(SimTime now) const {
    if (opt_.drain_limit <= Duration::zero() || next_ < reqs_.size() || reqs_.empty()) return false;
    return now - reqs_.back().arrival > opt_.drain_limit;
  }

  void ingest(SimTime now) {
    for (; next_ < reqs_.size() && reqs_[next_].arrival <= now; ++next_) {
      const TraceRecord& q = reqs_[next_];
      RequestLog& r = run_.requests[next_];
      // A request that could never fit the KV cache is turned away at the door.
      if (blocks_for(int64_t{q.input_tokens} + q.output_tokens) > capacity_) {
        r.status = RequestStatus::kRejected;
        r.reason = "kv_capacity";
        continue;
      }
      Seq& s = seqs_[next_];
      s.input = q.input_tokens;
      s.output = q.output_tokens;
      s.prefill_target = q.input_tokens;
      queue_.push_back(next_);
    }
  }

  void allocate(Seq& s, int64_t n) {
    QUADRANT_CHECK(n <= static_cast<int64_t>(free_.size()));
    for (int64_t i = 0; i < n; ++i) {
      s.blocks.push_back(free_.back());
      free_.pop_back();
    }
  }
  void release_blocks(Seq& s) {
    for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) free_.push_back(*it);
    s.blocks.clear();
  }

  // Simulation::launch for a colocated instance: every running sequence decodes; the
  // batch former fills the rest of the token budget from the prefill queue.
  StepPlan form_step(SimTime now) {
    return form_instance_step(
        former_, block_, running_, queue_, static_cast<int64_t>(free_.size()),
        static_cast<int>(prefilling_),
        [&](size_t i) {
          Seq& s = seqs_[i];
          return InstancePrefill{s.prefill_target, s.prefill_scheduled, s.admitted, s.blocks};
        },
        [&](size_t i) { return seqs_[i].kv_tokens(); },
        [&](size_t i, int64_t blocks) {
          allocate(seqs_[i], blocks);
          ++prefilling_;
          RequestLog& r = run_.requests[i];
          if (r.first_launch == SimTime::never()) r.first_launch = now;
        },
        chunks_);
  }

  StepRecord record(const StepPlan& plan) const {
    StepRecord r;
    for (const PrefillChunk& c : plan.prefill) r.prefill.push_back({c.seq, c.start, c.tokens});
    r.decode_seqs = static_cast<int32_t>(plan.decode.size());
    for (const DecodeSeq& d : plan.decode) {
      r.decode_context += int64_t{d.kv_len} + 1;
      r.decode_kv_max = std::max(r.decode_kv_max, d.kv_len + 1);
    }
    return r;
  }

  void token(size_t i, int64_t step) {
    auto& runs = run_.requests[i].token_steps;
    if (!runs.empty() && runs.back().first + runs.back().second == step) {
      ++runs.back().second;
    } else {
      runs.push_back({step, 1});
    }
  }

  void finish(size_t i, SimTime end) {
    Seq& s = seqs_[i];
    release_blocks(s);
    ex_.release(i);
    RequestLog& r = run_.requests[i];
    r.finish = end;
    r.status = RequestStatus::kFinished;
  }

  // Recompute (vLLM's policy): the sequence gives its blocks back and prefills its
  // prompt and generated tokens again, at the head of the queue.
  void preempt(size_t i) {
    Seq& s = seqs_[i];
    release_blocks(s);
    ex_.release(i);
    s.admitted = false;
    s.prefill_target = s.kv_tokens();
    s.prefill_scheduled = 0;
    queue_.push_front(i);
    ++run_.requests[i].preemptions;
    ++preemptions_;
  }

  // Simulation::step_done: the decode part first (every running sequence gains a token;
  // the last ones finish; those crossing a block boundary take a block, preempting the
  // most recently admitted sequences when none is free), then the prefill chunks (a
  // finished prompt gives the first token and joins the running set).
  void complete(const StepPlan& plan, int64_t step, SimTime end) {
    if (!plan.decode.empty()) {
      std::vector<size_t> kept;
      kept.reserve(running_.size());
      for (size_t i : running_) {
        Seq& s = seqs_[i];
        ++s.generated;
        token(i, step);
        if (s.generated >= s.output) {
          finish(i, end);
        } else {
          kept.push_back(i);
        }
      }
      running_.swap(kept);
      for (size_t k = 0; k < running_.size(); ++k) {
        const size_t i = running_[k];
        Seq& s = seqs_[i];
        const int64_t extra = blocks_for(s.kv_tokens()) - static_cast<int64_t>(s.blocks.size());
        if (extra <= 0) continue;
        bool self = false;
        while (static_cast<int64_t>(free_.size()) < extra) {
          const size_t victim = preemption_victim(running_, kGone);
          running_.pop_back();
          preempt(victim);
          if (victim == i) {
            self = true;
            break;
          }
        }
        if (!self) allocate(s, extra);
      }
    }
    for (const PrefillChunk& c : plan.prefill) {
      if (!c.last) continue;
      Seq& s = seqs_[c.seq];
      --prefilling_;
      RequestLog& r = run_.requests[c.seq];
      if (r.first_token == SimTime::never()) {
        r.first_token = end;
        s.generated = 1;
        token(c.seq, step);
        if (s.output == 1) {
          finish(c.seq, end);
          continue;
        }
      }
      running_.push_back(c.seq);
    }
  }

  const std::vector<TraceRecord>& reqs_;
  EngineLimits limits_;
  StepExecutor& ex_;
  Clock& clock_;
  const EngineOptions& opt_;
  static constexpr size_t kGone = SIZE_MAX;  // running_ holds no removed entries
  int32_t block_ = 16;
  int32_t capacity_ = 0;
  BatchFormer former_;
  std::vector<ChunkChoice> chunks_;
  std::vector<int32_t> free_;
  std::vector<Seq> seqs_;
  std::deque<size_t> queue_;     // waiting to prefill, in order (preempted at the head)
  std::vector<size_t> running_;  // decoding, in admission order
  int64_t prefilling_ = 0;       // admitted, prompt not done
  size_t next_ = 0;              // next request to arrive
  SimTime origin_;
  bool idle_ = false;
  int64_t preemptions_ = 0;
  EngineRun run_;
};

}  // namespace

std::vector<TraceRecord> engine_requests(const WorkloadSpec& workload, uint64_t seed) {
  RequestSource source(workload, seed);
  std::vector<TraceRecord> out;
  while (auto r = source.next()) out.push_back({r->arrival, r->input_tokens, r->output_tokens});
  return out;
}

EngineRun run_engine(const std::vector<TraceRecord>& requests, const EngineLimits& limits,
                     StepExecutor& executor, Clock& clock, const EngineOptions& options) {
  Driver d(requests, limits, executor, clock, options);
  return d.run();
}

EngineRun run_engine(const Scenario& scenario, const std::vector<TraceRecord>& requests,
                     StepExecutor& executor, Clock& clock, EngineOptions options) {
  if (scenario.serving.mode != ServingMode::kColocated)
    throw InputError(scenario.file, "serving.mode",
                     "expected \"colocated\" (the engine is one colocated instance)");
  const PoolSpec& p = scenario.serving.colocated;
  if (p.layout.gpus() != 1)
    throw InputError(
        scenario.file, "serving.colocated.layout",
        "expected one GPU (tp = pp = dp_attention = 1), got " + std::to_string(p.layout.gpus()));
  if (executor.capacity().block_tokens != scenario.serving.kv_block_size)
    throw InputError(scenario.file, "serving.kv_block_size",
                     "expected the executor's block size " +
                         std::to_string(executor.capacity().block_tokens) + ", got " +
                         std::to_string(scenario.serving.kv_block_size));
  if (options.gpu.empty()) options.gpu = p.gpu;
  if (options.seed == 0) options.seed = scenario.seed;
  return run_engine(requests, {p.max_batch_size, p.max_batch_tokens, p.chunk_size}, executor, clock,
                    options);
}

}  // namespace quadrant::engine
