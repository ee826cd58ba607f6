// The PD pair's scheduler: one state (PdScheduler) that forms each instance's steps and
// moves sequences between them with the simulator's rules (pd_driver.h), and two runners
// that drive it: virtual time on one thread, or real time with a thread per instance
// (the state then behind one mutex; executors run outside it).
#include "calibration/engine/pd_driver.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "calibration/engine/step_former.h"
#include "sim/core/error.h"
#include "sim/core/version.h"
#include "sim/serving/batch_former.h"
#include "sim/serving/kv_manager.h"

namespace quadrant::engine {

StepTiming CostKvLink::transfer(uint64_t, const std::vector<int32_t>&, const std::vector<int32_t>&,
                                int32_t tokens) {
  StepTiming t;
  t.gpu_ns =
      latency_ns_ + static_cast<int64_t>(std::ceil(bytes_per_token_ * tokens / bytes_per_s_ * 1e9));
  t.wall_ns = t.gpu_ns;
  return t;
}

std::string CostKvLink::describe() const {
  return "cost link: " + std::to_string(bytes_per_token_ / 1e3) + " KB a token over " +
         std::to_string(bytes_per_s_ / 1e9) + " GB/s + " + std::to_string(latency_ns_) + " ns";
}

namespace {

struct Job {  // one KV copy
  size_t seq = 0;
  std::vector<int32_t> src, dst;
  int32_t tokens = 0;
};

// One instance's KV pool: a stack of free block ids (0, 1, 2, ... handed out first).
struct Pool {
  int32_t capacity = 0;
  std::vector<int32_t> free;
  void init(int32_t blocks) {
    capacity = blocks;
    free.clear();
    for (int32_t b = blocks - 1; b >= 0; --b) free.push_back(b);
  }
  void take(std::vector<int32_t>& into, int64_t n) {
    QUADRANT_CHECK(n <= static_cast<int64_t>(free.size()));
    for (int64_t i = 0; i < n; ++i) {
      into.push_back(free.back());
      free.pop_back();
    }
  }
  void give(std::vector<int32_t>& blocks) {
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) free.push_back(*it);
    blocks.clear();
  }
  int64_t left() const { return static_cast<int64_t>(free.size()); }
};

struct PdSeq {
  int32_t input = 0, output = 0;
  int32_t generated = 0;
  // prefill instance
  int64_t p_scheduled = 0;
  bool p_admitted = false;
  std::vector<int32_t> p_blocks;
  // decode instance (recompute after a preemption: target = prompt + generated)
  int64_t d_target = 0, d_scheduled = 0;
  bool d_admitted = false;
  std::vector<int32_t> d_blocks;
  int64_t first_step = -1;                               // prefill step of the first token
  std::vector<std::pair<int64_t, int32_t>> decode_runs;  // decode steps of the others
  int64_t kv_tokens() const { return int64_t{input} + generated; }
};

class PdScheduler {
 public:
  PdScheduler(const std::vector<TraceRecord>& requests, const PdLimits& limits, PdExecutors ex,
              const PdOptions& options)
      : reqs_(requests), limits_(limits), ex_(ex), opt_(options) {
    const ExecutorCapacity pc = ex_.prefill.capacity(), dc = ex_.decode.capacity();
    check_capacity(pc, limits_.prefill, "serving.prefill", false);
    check_capacity(dc, limits_.decode, "serving.decode", true);
    if (pc.block_tokens != dc.block_tokens)
      throw InputError("", "serving.kv_block_size",
                       "expected one block size on both instances, got " +
                           std::to_string(pc.block_tokens) + " and " +
                           std::to_string(dc.block_tokens));
    block_ = pc.block_tokens;
    p_former_ = BatchFormer({limits_.prefill.max_batch_size, limits_.prefill.max_batch_tokens,
                             limits_.prefill.chunk_size},
                            block_, /*decodes=*/false);
    d_former_ = BatchFormer(
        {limits_.decode.max_batch_size, limits_.decode.max_batch_tokens, limits_.decode.chunk_size},
        block_, /*decodes=*/true);
    p_pool_.init(pc.kv_blocks);
    d_pool_.init(dc.kv_blocks);
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
    m.engine = ex_.prefill.describe();
    m.scenario = opt_.engine.scenario;
    m.gpu = opt_.engine.gpu;
    m.kv_blocks = pc.kv_blocks;
    m.block_tokens = block_;
    m.max_batch_size = limits_.prefill.max_batch_size;
    m.max_batch_tokens = limits_.prefill.max_batch_tokens;
    m.chunk_size = limits_.prefill.chunk_size;
    m.seed = opt_.engine.seed;
    m.revision = git_revision();
    m.pd_pair = true;
    m.pd.placement = opt_.placement;
    m.pd.decode_engine = ex_.decode.describe();
    m.pd.link = ex_.link.describe();
    m.pd.decode_kv_blocks = dc.kv_blocks;
    m.pd.decode_max_batch_size = limits_.decode.max_batch_size;
    m.pd.decode_max_batch_tokens = limits_.decode.max_batch_tokens;
    m.pd.decode_chunk_size = limits_.decode.chunk_size;
  }

  size_t next_arrival() const { return next_; }
  SimTime arrival(size_t i) const { return reqs_[i].arrival; }
  bool all_arrived() const { return next_ >= reqs_.size(); }
  bool prefill_has_work() const { return !p_queue_.empty(); }
  bool transfers_waiting() const { return !t_queue_.empty(); }
  bool decode_has_work() const { return !running_.empty() || !ready_.empty() || !d_queue_.empty(); }
  // Nothing left for either instance: every arrived request finished or was rejected.
  bool done() const { return all_arrived() && live_ == 0; }
  bool past_drain_limit(SimTime now) const {
    if (opt_.engine.drain_limit <= Duration::zero() || !all_arrived() || reqs_.empty())
      return false;
    return now - reqs_.back().arrival > opt_.engine.drain_limit;
  }
  void fail(const std::string& what) {
    if (run_.meta.error.empty()) run_.meta.error = what;
  }
  bool failed() const { return !run_.meta.error.empty(); }

  void ingest(SimTime now) {
    for (; next_ < reqs_.size() && reqs_[next_].arrival <= now; ++next_) {
      const TraceRecord& q = reqs_[next_];
      RequestLog& r = run_.requests[next_];
      // As the simulator: the prompt must fit the prefill pool, the whole request the
      // decode pool.
      if (blocks_for(q.input_tokens) > p_pool_.capacity ||
          blocks_for(int64_t{q.input_tokens} + q.output_tokens) > d_pool_.capacity) {
        r.status = RequestStatus::kRejected;
        r.reason = "kv_capacity";
        continue;
      }
      PdSeq& s = seqs_[next_];
      s.input = q.input_tokens;
      s.output = q.output_tokens;
      p_queue_.push_back(next_);
      ++live_;
    }
  }

  // ---- prefill instance ----
  StepPlan form_prefill(SimTime now) {
    return form_instance_step(
        p_former_, block_, /*running=*/{}, p_queue_, p_pool_.left(), /*prefilling=*/0,
        [&](size_t i) {
          PdSeq& s = seqs_[i];
          return InstancePrefill{s.input, s.p_scheduled, s.p_admitted, s.p_blocks};
        },
        [&](size_t i) { return seqs_[i].kv_tokens(); },
        [&](size_t i, int64_t blocks) {
          p_pool_.take(seqs_[i].p_blocks, blocks);
          RequestLog& r = run_.requests[i];
          if (r.first_launch == SimTime::never()) r.first_launch = now;
        },
        chunks_);
  }

  // The prompts the step completed have their first token; they queue for the decode
  // instance (or finish, with one output token).
  void prefill_done(const StepPlan& plan, StepRecord rec) {
    const int64_t step = static_cast<int64_t>(p_steps_.size());
    for (const PrefillChunk& c : plan.prefill) {
      if (!c.last) continue;
      PdSeq& s = seqs_[c.seq];
      RequestLog& r = run_.requests[c.seq];
      r.first_token = rec.end;
      s.generated = 1;
      s.first_step = step;
      if (s.output == 1) {
        p_pool_.give(s.p_blocks);
        finish(c.seq, rec.end);
        continue;
      }
      t_queue_.push_back(c.seq);
    }
    rec.instance = "prefill";
    p_steps_.push_back(std::move(rec));
    if (opt_.engine.on_step) opt_.engine.on_step(p_steps_.back());
  }

  // ---- transfers (the decode instance's) ----
  // First come first served while the decode pool has prompt + 1 token's blocks.
  std::vector<Job> start_transfers(SimTime now) {
    std::vector<Job> jobs;
    while (!t_queue_.empty()) {
      const size_t i = t_queue_.front();
      PdSeq& s = seqs_[i];
      const int64_t need = blocks_for(int64_t{s.input} + 1);
      if (d_pool_.left() < need) break;
      t_queue_.pop_front();
      d_pool_.take(s.d_blocks, need);
      run_.requests[i].kv_sent = now;
      Job j;
      j.seq = i;
      j.tokens = s.input;
      const int64_t n = blocks_for(s.input);
      j.src.assign(s.p_blocks.begin(), s.p_blocks.begin() + n);
      j.dst.assign(s.d_blocks.begin(), s.d_blocks.begin() + n);
      jobs.push_back(std::move(j));
    }
    return jobs;
  }
  // The copy landed: the prefill blocks go back, the sequence waits for a batch seat.
  void transfer_done(const Job& j, SimTime end, const StepTiming& t) {
    PdSeq& s = seqs_[j.seq];
    RequestLog& r = run_.requests[j.seq];
    r.kv_received = end;
    r.kv_copy_gpu_ns = t.gpu_ns;
    p_pool_.give(s.p_blocks);
    s.d_admitted = true;
    ready_.push_back(j.seq);
    ++run_.meta.pd.transfers;
  }

  // ---- decode instance ----
  StepPlan form_decode(SimTime now) {
    for (int k = d_former_.ready_admissions(static_cast<int>(running_.size()),
                                            static_cast<int>(d_prefilling_), ready_.size());
         k > 0; --k) {
      running_.push_back(ready_.front());
      ready_.pop_front();
    }
    // A re-prefill after a preemption: its first chunk ran on the prefill instance.
    (void)now;
    return form_instance_step(
        d_former_, block_, running_, d_queue_, d_pool_.left(), static_cast<int>(d_prefilling_),
        [&](size_t i) {
          PdSeq& s = seqs_[i];
          return InstancePrefill{s.d_target, s.d_scheduled, s.d_admitted, s.d_blocks};
        },
        [&](size_t i) { return seqs_[i].kv_tokens(); },
        [&](size_t i, int64_t blocks) {
          d_pool_.take(seqs_[i].d_blocks, blocks);
          ++d_prefilling_;
        },
        chunks_);
  }

  // driver.cc's complete() on the decode instance: every running sequence gains a token
  // (the last ones finish; block crossings take blocks, preempting the most recently
  // admitted), then re-prefilled sequences rejoin the running set.
  void decode_done(const StepPlan& plan, StepRecord rec) {
    const int64_t step = static_cast<int64_t>(d_steps_.size());
    const SimTime end = rec.end;
    if (!plan.decode.empty()) {
      std::vector<size_t> kept;
      kept.reserve(running_.size());
      for (size_t i : running_) {
        PdSeq& s = seqs_[i];
        ++s.generated;
        auto& runs = s.decode_runs;
        if (!runs.empty() && runs.back().first + runs.back().second == step) {
          ++runs.back().second;
        } else {
          runs.push_back({step, 1});
        }
        if (run_.requests[i].first_decode == SimTime::never()) run_.requests[i].first_decode = end;
        if (s.generated >= s.output) {
          d_pool_.give(s.d_blocks);
          ex_.decode.release(i);
          finish(i, end);
        } else {
          kept.push_back(i);
        }
      }
      running_.swap(kept);
      for (size_t k = 0; k < running_.size(); ++k) {
        const size_t i = running_[k];
        PdSeq& s = seqs_[i];
        const int64_t extra = blocks_for(s.kv_tokens()) - static_cast<int64_t>(s.d_blocks.size());
        if (extra <= 0) continue;
        bool self = false;
        while (d_pool_.left() < extra) {
          const size_t victim = preemption_victim(running_, kGone);
          running_.pop_back();
          preempt(victim);
          if (victim == i) {
            self = true;
            break;
          }
        }
        if (!self) d_pool_.take(s.d_blocks, extra);
      }
    }
    for (const PrefillChunk& c : plan.prefill) {
      if (!c.last) continue;
      --d_prefilling_;
      running_.push_back(c.seq);
    }
    rec.instance = "decode";
    d_steps_.push_back(std::move(rec));
    if (opt_.engine.on_step) opt_.engine.on_step(d_steps_.back());
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

  // The log: the prefill instance's steps (0..P-1), then the decode instance's (P..);
  // each request's token steps in that numbering.
  EngineRun finish_run() {
    const int64_t p = static_cast<int64_t>(p_steps_.size());
    run_.meta.pd.prefill_steps = p;
    for (StepRecord& s : p_steps_) run_.steps.push_back(std::move(s));
    for (StepRecord& s : d_steps_) run_.steps.push_back(std::move(s));
    for (size_t i = 0; i < run_.steps.size(); ++i) run_.steps[i].index = static_cast<int64_t>(i);
    for (size_t i = 0; i < seqs_.size(); ++i) {
      const PdSeq& s = seqs_[i];
      RequestLog& r = run_.requests[i];
      r.token_steps.clear();
      if (s.first_step >= 0) r.token_steps.push_back({s.first_step, 1});
      for (const auto& [first, count] : s.decode_runs) r.token_steps.push_back({p + first, count});
      if (r.status == RequestStatus::kUnfinished && r.reason.empty())
        r.reason = next_ > r.id ? "in flight when the run stopped" : "never arrived";
    }
    run_.meta.preemptions = preemptions_;
    run_.meta.pd.prefill_blocks_held = p_pool_.capacity - p_pool_.left();
    run_.meta.pd.decode_blocks_held = d_pool_.capacity - d_pool_.left();
    return std::move(run_);
  }

  int64_t blocks_for(int64_t tokens) const { return kv_blocks_for(tokens, block_); }

 private:
  static void check_capacity(const ExecutorCapacity& cap, const EngineLimits& l,
                             const std::string& pool, bool decodes) {
    if (cap.kv_blocks < 1 || cap.block_tokens < 1)
      throw InputError("", pool + " executor",
                       "expected KV blocks and block tokens > 0, got " +
                           std::to_string(cap.kv_blocks) + " blocks of " +
                           std::to_string(cap.block_tokens) + " tokens");
    if (l.max_batch_size < 1 || l.max_batch_tokens < 1 || l.chunk_size < 1)
      throw InputError("", pool, "expected positive batch limits");
    if (decodes && cap.max_decode_seqs > 0 && l.max_batch_size > cap.max_decode_seqs)
      throw InputError("", pool + ".max_batch_size",
                       "expected at most the executor's " + std::to_string(cap.max_decode_seqs) +
                           " decode sequences per step, got " + std::to_string(l.max_batch_size));
    if (cap.max_step_tokens > 0 && l.max_batch_tokens > cap.max_step_tokens)
      throw InputError("", pool + ".max_batch_tokens",
                       "expected at most the executor's " + std::to_string(cap.max_step_tokens) +
                           " tokens per step, got " + std::to_string(l.max_batch_tokens));
  }

  void finish(size_t i, SimTime end) {
    RequestLog& r = run_.requests[i];
    r.finish = end;
    r.status = RequestStatus::kFinished;
    --live_;
  }

  void preempt(size_t i) {
    PdSeq& s = seqs_[i];
    d_pool_.give(s.d_blocks);
    ex_.decode.release(i);
    s.d_admitted = false;
    s.d_target = s.kv_tokens();
    s.d_scheduled = 0;
    d_queue_.push_front(i);
    ++run_.requests[i].preemptions;
    ++preemptions_;
  }

  static constexpr size_t kGone = SIZE_MAX;
  const std::vector<TraceRecord>& reqs_;
  PdLimits limits_;
  PdExecutors ex_;
  const PdOptions& opt_;
  int32_t block_ = 16;
  BatchFormer p_former_, d_former_;
  Pool p_pool_, d_pool_;
  std::vector<ChunkChoice> chunks_;
  std::vector<PdSeq> seqs_;
  std::deque<size_t> p_queue_;  // prompts to prefill, in arrival order
  std::deque<size_t> t_queue_;  // prefilled, waiting for decode KV room to be copied
  std::deque<size_t> ready_;    // copied, waiting for a decode batch seat
  std::deque<size_t> d_queue_;  // preempted on the decode instance: re-prefill there
  std::vector<size_t> running_;
  int64_t d_prefilling_ = 0;
  size_t next_ = 0;
  int64_t live_ = 0;
  int64_t preemptions_ = 0;
  std::vector<StepRecord> p_steps_, d_steps_;
  EngineRun run_;
};

}  // namespace

PdLimits pd_limits(const Scenario& sc) {
  if (sc.serving.mode != ServingMode::kDisaggregated)
    throw InputError(sc.file, "serving.mode",
                     "expected \"disaggregated\" (a prefill and a decode instance)");
  auto one = [&](const PoolSpec& p, const std::string& path) {
    if (p.instances != 1)
      throw InputError(sc.file, path + ".instances",
                       "expected 1 (the PD pair), got " + std::to_string(p.instances));
    if (p.layout.gpus() != 1)
      throw InputError(
          sc.file, path + ".layout",
          "expected one GPU (tp = pp = dp_attention = 1), got " + std::to_string(p.layout.gpus()));
    return EngineLimits{p.max_batch_size, p.max_batch_tokens, p.chunk_size};
  };
  return {one(sc.serving.prefill, "serving.prefill"), one(sc.serving.decode, "serving.decode")};
}

EngineRun run_pd_virtual(const std::vector<TraceRecord>& requests, const PdLimits& limits,
                         PdExecutors ex, const PdOptions& options) {
  PdScheduler s(requests, limits, ex, options);
  // Each instance: idle, or busy until `done` with a step or a batch of copies.
  struct Busy {
    bool busy = false;
    SimTime done;
    StepPlan plan;
    StepRecord rec;
    std::vector<Job> jobs;
    std::vector<std::pair<SimTime, StepTiming>> landed;  // per job
    SimTime prev_end;
    bool idle = true;  // waited for work since its last step (host_ns 0)
  };
  Busy p, d;
  SimTime now = SimTime::start();
  auto run_step = [&](StepExecutor& e, Busy& b, StepPlan plan) {
    b.rec = s.record(plan);
    b.rec.start = now;
    b.rec.host_ns = b.idle ? 0 : (now - b.prev_end).ns();
    b.idle = false;
    const StepTiming t = e.execute(plan);
    b.rec.gpu_ns = t.gpu_ns;
    b.rec.wall_ns = t.wall_ns;
    b.rec.parts_ns = t.parts_ns;
    b.rec.end = now + Duration::nanos(t.wall_ns);
    b.done = b.rec.end;
    b.plan = std::move(plan);
    b.busy = true;
  };
  try {
    for (;;) {
      s.ingest(now);
      if (s.past_drain_limit(now)) {
        s.fail("drain limit reached with requests in flight");
        break;
      }
      if (!p.busy && s.prefill_has_work()) {
        StepPlan plan = s.form_prefill(now);
        if (!plan.empty()) {
          run_step(ex.prefill, p, std::move(plan));
          if (options.after_prefill_step) options.after_prefill_step(p.plan);
          for (const PrefillChunk& c : p.plan.prefill)
            if (c.last) ex.prefill.release(c.seq);
        }
      }
      if (!d.busy) {
        std::vector<Job> jobs = s.start_transfers(now);
        if (!jobs.empty()) {
          SimTime t = now;
          d.landed.clear();
          for (const Job& j : jobs) {
            const StepTiming tt = ex.link.transfer(j.seq, j.src, j.dst, j.tokens);
            t += Duration::nanos(tt.wall_ns);
            d.landed.push_back({t, tt});
          }
          d.jobs = std::move(jobs);
          d.done = t;
          d.busy = true;
        } else if (s.decode_has_work()) {
          StepPlan plan = s.form_decode(now);
          if (!plan.empty()) run_step(ex.decode, d, std::move(plan));
        }
      }
      if (!p.busy) p.idle = true;  // nothing it could run: the gap is waiting, not host time
      if (!d.busy) d.idle = true;
      if (!p.busy && !d.busy) {
        if (s.done()) break;
        if (s.all_arrived()) {
          s.fail("stalled: requests in flight and no instance can run a step");
          break;
        }
        now = std::max(now, s.arrival(s.next_arrival()));
        continue;
      }
      // The next event: an arrival, then the prefill instance, then the decode instance.
      SimTime next = SimTime::never();
      if (p.busy) next = std::min(next, p.done);
      if (d.busy) next = std::min(next, d.done);
      if (!s.all_arrived() && s.arrival(s.next_arrival()) < next) {
        now = s.arrival(s.next_arrival());
        continue;
      }
      now = next;
      if (p.busy && p.done == now) {
        p.busy = false;
        p.prev_end = now;
        s.prefill_done(p.plan, std::move(p.rec));
      }
      if (d.busy && d.done == now) {
        d.busy = false;
        if (!d.jobs.empty()) {
          for (size_t k = 0; k < d.jobs.size(); ++k)
            s.transfer_done(d.jobs[k], d.landed[k].first, d.landed[k].second);
          d.jobs.clear();
        } else {
          d.prev_end = now;
          s.decode_done(d.plan, std::move(d.rec));
        }
      }
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    s.fail(e.what());
  }
  return s.finish_run();
}

EngineRun run_pd_threads(const std::vector<TraceRecord>& requests, const PdLimits& limits,
                         PdExecutors ex, Clock& clock, const PdOptions& options) {
  PdScheduler s(requests, limits, ex, options);
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  const SimTime origin = clock.now();
  auto elapsed = [&] { return SimTime::start() + (clock.now() - origin); };
  auto halt = [&](const std::string& why) {  // under the lock
    s.fail(why);
    stop = true;
    cv.notify_all();
  };
  // One instance's step: its GPU work runs outside the lock (the other instance goes on);
  // false when the work threw and the run halted.
  auto execute_step = [&](std::unique_lock<std::mutex>& lock, StepRecord& rec, SimTime& prev_end,
                          const char* what, auto&& work) {
    lock.unlock();
    StepTiming t;
    std::string error;
    try {
      t = work();
    } catch (const std::exception& e) {
      error = std::string(what) + ": " + e.what();
    }
    lock.lock();
    if (!error.empty()) {
      halt(error);
      return false;
    }
    rec.end = elapsed();
    prev_end = rec.end;
    rec.gpu_ns = t.gpu_ns;
    rec.wall_ns = t.wall_ns;
    rec.parts_ns = std::move(t.parts_ns);
    return true;
  };

  auto prefill_loop = [&] {
    std::unique_lock<std::mutex> lock(mu);
    SimTime prev_end;
    bool idle = true;
    while (!stop) {
      const SimTime now = elapsed();
      s.ingest(now);
      if (s.past_drain_limit(now)) {
        halt("drain limit reached with requests in flight");
        break;
      }
      StepPlan plan;
      if (s.prefill_has_work()) plan = s.form_prefill(now);
      if (plan.empty()) {
        if (s.all_arrived() && !s.prefill_has_work()) break;  // no more prompts to come
        idle = true;
        // Until the next arrival, or until the decode side frees prefill blocks.
        if (!s.all_arrived()) {
          const SimTime at = s.arrival(s.next_arrival());
          cv.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(0, (at - now).ns())));
        } else {
          cv.wait_for(lock, std::chrono::milliseconds(50));
        }
        continue;
      }
      StepRecord rec = s.record(plan);
      rec.start = now;
      rec.host_ns = idle ? 0 : (now - prev_end).ns();
      idle = false;
      const bool ran = execute_step(lock, rec, prev_end, "prefill step", [&] {
        StepTiming t = ex.prefill.execute(plan);
        if (options.after_prefill_step) options.after_prefill_step(plan);
        for (const PrefillChunk& c : plan.prefill)
          if (c.last) ex.prefill.release(c.seq);
        return t;
      });
      if (!ran) break;
      s.prefill_done(plan, std::move(rec));
      cv.notify_all();
    }
    cv.notify_all();
  };

  auto decode_loop = [&] {
    std::unique_lock<std::mutex> lock(mu);
    SimTime prev_end;
    bool idle = true;
    while (!stop) {
      const SimTime now = elapsed();
      if (s.past_drain_limit(now)) {
        halt("drain limit reached with requests in flight");
        break;
      }
      std::vector<Job> jobs = s.start_transfers(now);
      if (!jobs.empty()) {
        lock.unlock();
        std::vector<std::pair<SimTime, StepTiming>> landed;
        std::string error;
        try {
          for (const Job& j : jobs) {
            const StepTiming tt = ex.link.transfer(j.seq, j.src, j.dst, j.tokens);
            landed.push_back({elapsed(), tt});
          }
        } catch (const std::exception& e) {
          error = std::string("KV transfer: ") + e.what();
        }
        lock.lock();
        if (!error.empty()) {
          halt(error);
          break;
        }
        for (size_t k = 0; k < jobs.size(); ++k)
          s.transfer_done(jobs[k], landed[k].first, landed[k].second);
        cv.notify_all();  // prefill blocks freed
        continue;
      }
      StepPlan plan;
      if (s.decode_has_work()) plan = s.form_decode(now);
      if (plan.empty()) {
        if (s.done()) break;
        idle = true;
        cv.wait_for(lock, std::chrono::milliseconds(50));
        continue;
      }
      StepRecord rec = s.record(plan);
      rec.start = now;
      rec.host_ns = idle ? 0 : (now - prev_end).ns();
      idle = false;
      if (!execute_step(lock, rec, prev_end, "decode step",
                        [&] { return ex.decode.execute(plan); }))
        break;
      s.decode_done(plan, std::move(rec));
      cv.notify_all();
    }
    stop = true;
    cv.notify_all();
  };

  std::thread prefill(prefill_loop);
  decode_loop();
  prefill.join();
  return s.finish_run();
}

}  // namespace quadrant::engine
