// The event loop of the serving model at batch-step granularity: one event per step of
// an instance, per KV transfer and per arrival; never one per token. The policies are
// sim/serving/'s (batch former, KV manager, running set, KV transfers, routers,
// autoscaler); this file owns the clock and the order in which their decisions take
// effect. Reading order: Simulation::run (the event loop), launch (a step formed by the
// batch former), step_done (what a step changes), then the KV transfer and autoscaler
// handlers. sim/INVARIANTS.md lists what the tests hold it to.
#include "sim/engine/simulation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "sim/core/error.h"
#include "sim/core/random.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/cost/step_cost.h"
#include "sim/engine/event_queue.h"
#include "sim/metrics/metrics.h"
#include "sim/metrics/run_summary.h"
#include "sim/model/accounting.h"
#include "sim/serving/autoscaler.h"
#include "sim/serving/batch_former.h"
#include "sim/serving/instance.h"
#include "sim/serving/kv_manager.h"
#include "sim/serving/kv_transfer.h"
#include "sim/serving/pool.h"
#include "sim/serving/router.h"
#include "sim/serving/running_set.h"
#include "sim/workload/request_source.h"

namespace quadrant {
namespace {

enum EventKind : uint8_t {
  kArrivalEvent,
  kLaunchEvent,
  kStepDoneEvent,
  kTransferDoneEvent,
  kScaleTickEvent,
  kInstanceUpEvent,
  kSampleEvent,
  kTierLoadedEvent,  // a prompt's blocks loaded from the shared KV tier: it may prefill
};

constexpr int kPrefillPool = static_cast<int>(PoolKind::kPrefill);
constexpr int kDecodePool = static_cast<int>(PoolKind::kDecode);
constexpr int kColocatedPool = static_cast<int>(PoolKind::kColocated);
constexpr int kSeriesPoints = 200;  // samples per instance over the workload

class Simulation {
 public:
  Simulation(const Scenario& s, const CostModels& models, const SimulationOptions& o);
  SimulationResult run();

 private:
  // setup
  int create_instance(int pool, SimTime now, InstanceState state);
  // events
  void on_arrival(SimTime now);
  void launch(SimTime now, int inst);
  void step_done(SimTime now, int inst);
  void on_transfer_done(SimTime now, uint32_t slot);
  void on_scale_tick(SimTime now);
  void on_sample(SimTime now);
  void on_tier_loaded(SimTime now, uint32_t slot);
  // serving rules
  void kick(SimTime now, int inst);
  void decode_tokens(SimTime now, Instance& in, int inst);
  void prefill_complete(SimTime now, uint32_t slot, int inst);
  void begin_transfer(SimTime now, uint32_t slot);
  void start_transfer(SimTime now, uint32_t slot);
  void try_start_transfers(SimTime now, int dec);
  void reschedule_transfers();
  void release_source(SimTime now, Request& r);
  void preempt(SimTime now, uint32_t slot, int inst);
  void decode_crossings(SimTime now, Instance& in, int inst);
  bool make_room(SimTime now, Instance& in, int inst, uint32_t slot, int64_t extra);
  void finish(SimTime now, uint32_t slot);
  void reject(SimTime now, const Request& r, const std::string& reason);
  void change_kv(SimTime now, Instance& in, int64_t delta_blocks);
  void refresh_load(const Instance& in) {
    pools_[in.pool].loads[static_cast<size_t>(in.load_index)] = {
        in.id, in.outstanding_prefill_tokens, in.kv.occupancy()};
  }
  void set_state(Instance& in, InstanceState state);
  const std::vector<InstanceLoad>& candidates(int pool);
  void maybe_release(SimTime now, int inst);
  int64_t blocks_for(int64_t tokens) const { return kv_blocks_for(tokens, block_); }
  int spec_tokens();
  uint32_t new_slot();
  void trace_step(const Instance& in, const StepInFlight& st, const StepCost& c);
  bool work_remains() const { return arrivals_open_ || live_ > 0; }

  const Scenario& sc_;
  const SimulationOptions& opt_;
  const ServingSpec& serving_;
  int64_t block_;
  bool colocated_;
  double prefix_hit_rate_;  // of the pool that prefills
  double tier_hit_rate_;    // its shared_tier_hit_rate
  // Block prefix cache of the pool that prefills: each request's block hashes (by slot)
  // until its prompt is computed and cached, and the pool's counts (SimulationSummary).
  std::vector<std::vector<uint64_t>> hashes_;
  std::vector<InstanceLoad> routing_;
  int64_t cache_prompt_tokens_ = 0, cache_hit_tokens_ = 0;
  // Shared KV tier (serving.shared_kv_tier): its blocks (LRU), when its bandwidth is next
  // free (loads queue), and its counts.
  BlockPrefixCache shared_tier_;
  SimTime tier_free_;
  int64_t tier_hit_tokens_ = 0, tier_loads_ = 0;
  Duration tier_load_time_;
  Pool pools_[kPoolKinds];
  BatchFormer formers_[kPoolKinds];
  std::vector<Instance> instances_;
  std::vector<Request> slab_;
  RunningSet running_;
  std::vector<uint32_t> free_slots_;
  int64_t live_ = 0, peak_live_ = 0;
  EventQueue queue_;
  RequestSource source_;
  std::optional<GeneratedRequest> pending_;
  bool arrivals_open_ = true;
  SimTime last_arrival_, deadline_ = SimTime::never(), end_;
  Duration drain_limit_;
  uint64_t next_id_ = 0;
  RandomStream spec_rng_;
  std::unique_ptr<KvTransfers> transfers_;
  std::vector<ChunkChoice> chunks_;                 // the step being formed
  std::vector<int32_t> decode_lengths_;             // its decodes' KV, where the cost reads them
  std::vector<std::pair<uint32_t, uint32_t>> due_;  // (slot, epoch) of a decode step
  std::unique_ptr<Router> entry_router_, decode_router_;
  std::vector<InstanceLoad> loads_;
  RequestMetrics metrics_;
  Bytes kv_bytes_per_token_;
  Duration sample_interval_;
  int64_t events_ = 0;
  std::map<std::string, std::string> cost_sources_;
};

Simulation::Simulation(const Scenario& s, const CostModels& models, const SimulationOptions& o)
    : sc_(s),
      opt_(o),
      serving_(s.serving),
      block_(std::max(1, s.serving.kv_block_size)),
      colocated_(s.serving.mode == ServingMode::kColocated),
      prefix_hit_rate_(colocated_ ? s.serving.colocated.prefix_hit_rate
                                  : s.serving.prefill.prefix_hit_rate),
      tier_hit_rate_(colocated_ ? s.serving.colocated.shared_tier_hit_rate
                                : s.serving.prefill.shared_tier_hit_rate),
      running_(slab_, block_, s.serving.speculative.enabled),
      source_(o.replay ? RequestSource(s.workload, o.seed, *o.replay)
                       : RequestSource(s.workload, o.seed)),
      spec_rng_(o.seed, "speculative"),
      metrics_(s.slo, s.workload.warmup, o.keep_requests, s.workload.scored_until) {
  drain_limit_ = o.drain_limit > Duration::zero() ? o.drain_limit : s.workload.duration * 4;
  kv_bytes_per_token_ = kv_bytes_per_token(s.model);
  if (s.serving.shared_kv_tier.enabled()) {
    const PoolSpec& entry = colocated_ ? s.serving.colocated : s.serving.prefill;
    const Bytes block = kv_bytes_per_token_ * static_cast<double>(entry.prefix_cache.block_tokens);
    shared_tier_ = BlockPrefixCache(
        static_cast<int64_t>(std::floor(s.serving.shared_kv_tier.capacity / block)));
  }
  sample_interval_ =
      max(Duration::millis(1), Duration::nanos(s.workload.duration.ns() / kSeriesPoints));
  auto add_pool = [&](PoolKind kind, const PoolSpec& spec) {
    const int p = static_cast<int>(kind);
    pools_[p] = make_pool(sc_, kind, spec, models, block_);
    cost_sources_[spec.gpu] = pools_[p].cost_source;
    if (pools_[p].ffn_model) cost_sources_[spec.af.ffn_gpu] = pools_[p].ffn_cost_source;
    formers_[p] = BatchFormer({spec.max_batch_size, spec.max_batch_tokens, spec.chunk_size}, block_,
                              kind != PoolKind::kPrefill);
  };
  if (colocated_) {
    add_pool(PoolKind::kColocated, serving_.colocated);
  } else {
    add_pool(PoolKind::kPrefill, serving_.prefill);
    add_pool(PoolKind::kDecode, serving_.decode);
  }
  int total_gpus = 0;
  const Pool* last = nullptr;
  for (Pool& p : pools_) {
    if (!p.spec) continue;
    const bool same_type = last && last->spec->gpu == p.spec->gpu;
    if (o.pools_share_one_gpu && same_type) {  // on the previous pool's GPUs
      p.first_gpu = last->first_gpu;
      total_gpus = std::max(total_gpus, p.first_gpu + p.slots * p.spec->layout.gpus());
      last = &p;
      continue;
    }
    // Each pool starts on a node boundary: nodes hold one GPU type (or, asked to, the
    // pools of one type share them).
    const int per_node = std::max(1, sc_.cluster.gpus_per_node);
    if (!(o.pools_share_nodes && same_type))
      total_gpus = (total_gpus + per_node - 1) / per_node * per_node;
    last = &p;
    p.first_gpu = total_gpus;
    total_gpus += p.slots * p.spec->layout.gpus();
  }
  transfers_ = std::make_unique<KvTransfers>(sc_.cluster, total_gpus);
  if (o.pools_share_one_gpu && !colocated_)
    if (const GpuSpec* g = sc_.catalog.find(serving_.decode.gpu))
      transfers_->set_local_copy_bandwidth(g->memory_bandwidth * 0.5);  // read + write
  entry_router_ = make_prefill_router(serving_.prefill_routing);
  decode_router_ = make_decode_router(serving_.decode_routing);
  for (int p = 0; p < 3; ++p)
    if (pools_[p].spec)
      for (int i = 0; i < pools_[p].spec->instances; ++i)
        create_instance(p, SimTime::start(), InstanceState::kActive);
}

int Simulation::create_instance(int p, SimTime now, InstanceState state) {
  Pool& pool = pools_[p];
  auto free_slot = std::find(pool.slot_instance.begin(), pool.slot_instance.end(), -1);
  QUADRANT_CHECK(free_slot != pool.slot_instance.end());
  const int slot = static_cast<int>(free_slot - pool.slot_instance.begin());
  const int id = static_cast<int>(instances_.size());
  *free_slot = id;
  Instance in;
  in.name = std::string(pool_key(static_cast<PoolKind>(p))) + "[" +
            std::to_string(pool.instances.size()) + "]";
  in.id = id;
  in.load_index = static_cast<int>(pool.instances.size());
  in.role = pool.role;
  in.pool = p;
  in.gpu = pool.spec->gpu;
  in.gpus = pool.spec->layout.gpus();
  in.first_gpu = pool.first_gpu + slot * in.gpus;
  if (pool.spec->af.enabled()) {
    in.ffn_gpu = pool.spec->af.ffn_gpu;
    in.ffn_gpus = pool.spec->af.ffn_gpus;
  }
  in.costs = pool.costs.get();
  in.state = state;
  in.up_since = now;
  in.busy_until = now;
  in.next_launch_ok = now;
  in.kv = KvManager(pool.kv_capacity_blocks, now);
  in.prefix_cache = BlockPrefixCache(pool.prefix_cache_blocks);
  in.crossing.resize(static_cast<size_t>(block_));
  if (state != InstanceState::kActive) ++pool.inactive;
  pool.loads.push_back({id, in.outstanding_prefill_tokens, in.kv.occupancy()});
  instances_.push_back(std::move(in));
  pool.instances.push_back(id);
  return id;
}

void Simulation::set_state(Instance& in, InstanceState state) {
  Pool& pool = pools_[in.pool];
  pool.inactive += (state != InstanceState::kActive) - (in.state != InstanceState::kActive);
  in.state = state;
}

const std::vector<InstanceLoad>& Simulation::candidates(int p) {
  const Pool& pool = pools_[p];
  if (pool.inactive == 0) return pool.loads;
  loads_.clear();
  for (size_t i = 0; i < pool.instances.size(); ++i)
    if (instances_[static_cast<size_t>(pool.instances[i])].state == InstanceState::kActive)
      loads_.push_back(pool.loads[i]);
  return loads_;
}

uint32_t Simulation::new_slot() {
  ++live_;
  peak_live_ = std::max(peak_live_, live_);
  if (!free_slots_.empty()) {
    uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    // The epoch carries over so that entries left by the slot's last request stay stale.
    const uint32_t epoch = slab_[s].epoch + 1;
    slab_[s] = Request{};
    slab_[s].epoch = epoch;
    return s;
  }
  slab_.emplace_back();
  return static_cast<uint32_t>(slab_.size() - 1);
}

void Simulation::change_kv(SimTime now, Instance& in, int64_t delta) {
  in.kv.change(now, delta);
  QUADRANT_CHECK_MSG(in.kv.in_range(), in.name + ": KV blocks out of range");
  refresh_load(in);
}

int Simulation::spec_tokens() {
  // Accepted drafts are a run of successes of probability a, at most k; the verify step
  // adds one token of its own: E = (1 - a^(k+1)) / (1 - a).
  const SpeculativeSpec& sp = serving_.speculative;
  int accepted = 0;
  while (accepted < sp.draft_length && spec_rng_.bernoulli(sp.acceptance_rate)) ++accepted;
  return accepted + 1;
}

// ---- the event loop -------------------------------------------------------------------

SimulationResult Simulation::run() {
  pending_ = source_.next();
  if (pending_) {
    queue_.push({pending_->arrival, EventPhase::kArrival, kArrivalEvent, 0, 0, 0});
  } else {
    arrivals_open_ = false;
    deadline_ = SimTime::start() + drain_limit_;
    metrics_.close_window();
  }
  if (serving_.autoscaler.enabled)
    queue_.push({SimTime::start() + serving_.autoscaler.interval, EventPhase::kControl,
                 kScaleTickEvent, 0, 0, 0});
  queue_.push({SimTime::start(), EventPhase::kObserver, kSampleEvent, 0, 0, 0});
  const double horizon_s = std::max(1e-9, sc_.workload.duration.to_seconds());
  SimTime now = SimTime::start();
  while (!queue_.empty()) {
    const Event e = queue_.pop();
    // A KV transfer's landing moves whenever bandwidth sharing re-rates it; its
    // superseded events are skipped here, uncounted, as cancelled ones would be (a
    // cheaper cancellation: no lookup per pop).
    if (e.kind == kTransferDoneEvent && slab_[e.target].flow_event != e.seq + 1) continue;
    if (e.time > deadline_) break;
    QUADRANT_CHECK(e.time >= now);  // the clock never runs backwards
    now = e.time;
    ++events_;
    switch (e.kind) {
      case kArrivalEvent:
        on_arrival(now);
        break;
      case kLaunchEvent:
        launch(now, static_cast<int>(e.target));
        break;
      case kStepDoneEvent:
        step_done(now, static_cast<int>(e.target));
        break;
      case kTransferDoneEvent:
        on_transfer_done(now, e.target);
        break;
      case kScaleTickEvent:
        on_scale_tick(now);
        break;
      case kInstanceUpEvent: {
        Instance& in = instances_[e.target];
        if (in.state == InstanceState::kProvisioning) set_state(in, InstanceState::kActive);
        break;
      }
      case kSampleEvent:
        on_sample(now);
        break;
      case kTierLoadedEvent:
        on_tier_loaded(now, e.target);
        break;
      default:
        QUADRANT_CHECK_MSG(false, "unknown event kind");
    }
    if (opt_.progress && (events_ & 0xffff) == 0)
      opt_.progress(std::min(1.0, now.to_seconds() / horizon_s));
  }
  end_ = now;
  // KV block conservation: once every request has left, every block it took (decode
  // blocks included, which are allocated per step by phase counts) has been returned.
  if (live_ == 0)
    for (const Instance& in : instances_)
      QUADRANT_CHECK_MSG(in.kv.used() == 0 && in.kv.pending() == 0,
                         in.name + ": KV blocks left after the last request");
  // Whatever is still in flight at the drain limit never finished.
  for (uint32_t s = 0; s < slab_.size(); ++s) {
    if (slab_[s].instance == -2) continue;  // a free slot
    reject(now, slab_[s], "unfinished");
  }
  if (opt_.progress) opt_.progress(1.0);

  SimulationResult result;
  SimulationSummary& sum = result.summary;
  metrics_.fill(sum, measurement_window_s(sc_, last_arrival_));
  sum.duration_s = end_.to_seconds();
  sum.events = events_;
  sum.prefix_cache_prompt_tokens = cache_prompt_tokens_;
  sum.prefix_cache_hit_tokens = cache_hit_tokens_;
  sum.shared_tier_hit_tokens = tier_hit_tokens_;
  sum.shared_tier_loads = tier_loads_;
  if (tier_loads_ > 0)
    sum.shared_tier_load_mean_s = tier_load_time_.to_seconds() / static_cast<double>(tier_loads_);
  sum.peak_live_requests = peak_live_;
  // Slots are recycled: the slab holds as many entries as requests were ever in flight.
  sum.live_request_bytes = static_cast<int64_t>(slab_.size() * sizeof(Request));
  sum.result_bytes = metrics_.result_bytes();
  sum.cost_sources = cost_sources_;
  sum.kv_transfers = transfers_->completed();
  sum.kv_transfer_mean_s = transfers_->mean_seconds();
  for (int p = 0; p < kPoolKinds; ++p) {
    if (!pools_[p].spec) continue;
    const int gpus = pools_[p].spec->gpus_per_instance() * pools_[p].spec->instances;
    (p == kPrefillPool  ? sum.prefill_gpus
     : p == kDecodePool ? sum.decode_gpus
                        : sum.colocated_gpus) = gpus;
  }
  summarize_instances(instances_, end_, sc_, result);
  add_cost_rates(sum);
  if (opt_.keep_requests) {
    result.requests = metrics_.take_records();
    std::sort(result.requests.begin(), result.requests.end(),
              [](const RequestRecord& a, const RequestRecord& b) { return a.id < b.id; });
  }
  return result;
}

// ---- arrivals and routing -------------------------------------------------------------

void Simulation::on_arrival(SimTime now) {
  GeneratedRequest g = std::move(*pending_);
  metrics_.arrive();
  last_arrival_ = now;
  const uint32_t slot = new_slot();
  Request& r = slab_[slot];
  r.id = next_id_++;
  r.arrival = now;
  r.input_tokens = g.input_tokens;
  r.output_tokens = g.output_tokens;
  r.prefill_target = g.input_tokens;
  // Prefix cache hits: whole blocks of the prompt, computed as if already launched and
  // done (their KV is admitted with the prompt's), at least one token left to compute.
  if (prefix_hit_rate_ > 0) {
    const int64_t hit = static_cast<int64_t>(prefix_hit_rate_ * g.input_tokens) / block_ * block_;
    r.prefill_cached = static_cast<int32_t>(std::min<int64_t>(hit, g.input_tokens - 1));
  } else {
    r.prefill_cached = 0;
  }
  r.prefill_scheduled = r.prefill_done = r.prefill_cached;

  // A request that could never fit an instance's KV cache is turned away at the door.
  const int entry = colocated_ ? kColocatedPool : kPrefillPool;
  const int64_t whole = blocks_for(int64_t{g.input_tokens} + g.output_tokens);
  const bool prefilled = serving_.prefilled_arrivals && !colocated_;
  const bool fits =
      colocated_ ? whole <= pools_[entry].kv_capacity_blocks
                 : (prefilled || blocks_for(g.input_tokens) <= pools_[entry].kv_capacity_blocks) &&
                       whole <= pools_[kDecodePool].kv_capacity_blocks;
  if (!fits) {
    reject(now, r, "kv_capacity");
    r.instance = -2;
    free_slots_.push_back(slot);
    --live_;
  } else if (prefilled) {
    // ServingSpec::prefilled_arrivals: the prompt is done and its KV on its way to a
    // decode instance, which takes it when it has room (start_transfer: over the network).
    r.prefill_scheduled = r.prefill_done = r.prefill_target;
    r.first_launch = r.first_token = now;
    r.generated = 1;
    r.prefill_finished = true;
    if (r.output_tokens == 1) {
      finish(now, slot);
    } else {
      begin_transfer(now, slot);
    }
  } else {
    const std::vector<InstanceLoad>& loads = candidates(entry);
    QUADRANT_CHECK(!loads.empty());
    const Pool& pool = pools_[entry];
    const bool block_cache = pool.prefix_cache_blocks > 0;
    const int64_t cache_block = block_cache ? pool.spec->prefix_cache.block_tokens : 0;
    int inst = -1;
    if (block_cache && serving_.prefill_routing == PrefillRouting::kCacheAware &&
        !g.hash_ids.empty()) {
      routing_ = loads;
      for (InstanceLoad& l : routing_)
        l.cached_tokens =
            static_cast<int64_t>(
                instances_[static_cast<size_t>(l.instance)].prefix_cache.match(g.hash_ids)) *
            cache_block;
      inst = routing_[entry_router_->pick(routing_)].instance;
    } else {
      inst = loads[entry_router_->pick(loads)].instance;
    }
    Instance& in = instances_[inst];
    r.instance = inst;
    // The shared tier: `more` tokens past the cached ones are loaded (bytes / its
    // bandwidth, queued behind earlier loads, plus its latency) instead of computed; the
    // prompt joins the prefill queue when they have landed.
    Duration load;
    auto load_from_tier = [&](int64_t more) {
      const SharedKvTierSpec& tier = serving_.shared_kv_tier;
      const SimTime start = std::max(now, tier_free_);
      tier_free_ = start + kv_bytes_per_token_ * static_cast<double>(more) / tier.bandwidth;
      load = tier_free_ + tier.latency - now;
      tier_hit_tokens_ += more;
      ++tier_loads_;
      tier_load_time_ += load;
    };
    if (block_cache && !g.hash_ids.empty()) {
      // The longest cached prefix, in whole KV blocks, at least one token computed. Hits
      // are decided at routing: a block evicted before the prompt runs still counts.
      // (Requests without hashes, e.g. the planner's probes, keep prefix_hit_rate's.)
      const size_t hit = in.prefix_cache.match(g.hash_ids);
      in.prefix_cache.touch(g.hash_ids, hit);
      auto whole_blocks = [&](size_t blocks) {
        return std::min<int64_t>(static_cast<int64_t>(blocks) * cache_block, g.input_tokens - 1) /
               block_ * block_;
      };
      int64_t cached = whole_blocks(hit);
      // The shared tier: the blocks past the instance's own hit that it holds.
      if (shared_tier_.capacity() > 0) {
        const size_t shared = shared_tier_.match(g.hash_ids);
        shared_tier_.touch(g.hash_ids, shared);
        const int64_t more = shared > hit ? whole_blocks(shared) - cached : 0;
        if (more > 0) {
          load_from_tier(more);
          cached += more;
        }
      }
      r.prefill_cached = static_cast<int32_t>(cached);
      r.prefill_scheduled = r.prefill_done = r.prefill_cached;
      cache_prompt_tokens_ += g.input_tokens;
      cache_hit_tokens_ += cached;
      if (hashes_.size() <= slot) hashes_.resize(slot + 1);
      hashes_[slot] = std::move(g.hash_ids);
    } else if (tier_hit_rate_ > 0 && serving_.shared_kv_tier.enabled()) {
      // Without block hashes (the planner's probes): the tier's share of the prompt, whole
      // KV blocks past prefix_hit_rate's, at least one token computed.
      const int64_t more =
          std::min<int64_t>(static_cast<int64_t>(tier_hit_rate_ * g.input_tokens) / block_ * block_,
                            int64_t{g.input_tokens} - 1 - r.prefill_cached);
      if (more > 0) {
        load_from_tier(more);
        r.prefill_cached = static_cast<int32_t>(r.prefill_cached + more);
        r.prefill_scheduled = r.prefill_done = r.prefill_cached;
      }
    }
    if (load > Duration::zero()) {
      in.outstanding_prefill_tokens += r.prefill_target - r.prefill_cached;
      refresh_load(in);
      queue_.push({now + load, EventPhase::kCompletion, kTierLoadedEvent, slot, 0, 0});
      ++in.tier_loads;
      inst = -1;  // queued when its blocks land
    }
    if (inst >= 0) {
      in.prefill_queue.push_back(slot);
      in.outstanding_prefill_tokens += r.prefill_target - r.prefill_cached;
      refresh_load(in);
      kick(now, inst);
    }
  }
  pending_ = source_.next();
  if (pending_) {
    queue_.push({pending_->arrival, EventPhase::kArrival, kArrivalEvent, 0, 0, 0});
  } else {
    arrivals_open_ = false;
    deadline_ = now + drain_limit_;
    metrics_.close_window();  // the measurement window ends at the last arrival
  }
}

void Simulation::on_tier_loaded(SimTime now, uint32_t slot) {
  const int inst = slab_[slot].instance;
  Instance& in = instances_[static_cast<size_t>(inst)];
  --in.tier_loads;
  in.prefill_queue.push_back(slot);
  kick(now, inst);
}

// ---- steps ----------------------------------------------------------------------------

void Simulation::kick(SimTime now, int inst) {
  Instance& in = instances_[inst];
  if (in.launch_scheduled || in.state == InstanceState::kProvisioning ||
      in.state == InstanceState::kReleased)
    return;
  // Chunk-PP keeps up to pp prefill steps in flight, one per stage; the other roles run
  // one step at a time (a decode step needs the previous step's tokens).
  const int max_in_flight = in.role == Role::kPrefill ? pools_[in.pool].spec->layout.pp : 1;
  if (static_cast<int>(in.in_flight.size()) >= max_in_flight) return;
  if (in.prefill_queue.empty() && in.running_live == 0 && in.ready_queue.empty()) return;
  in.launch_scheduled = true;
  queue_.push({std::max(now, in.next_launch_ok), EventPhase::kLaunch, kLaunchEvent,
               static_cast<uint32_t>(inst), 0, 0});
}

void Simulation::launch(SimTime now, int inst) {
  Instance& in = instances_[inst];
  in.launch_scheduled = false;
  if (in.state == InstanceState::kReleased) return;
  const BatchFormer& former = formers_[in.pool];
  const bool decodes = in.role != Role::kPrefill;
  const bool spec = decodes && serving_.speculative.enabled;
  const int q = spec ? serving_.speculative.draft_length + 1 : 1;
  StepInFlight st;
  st.launch = now;

  // The batch former chooses; the choices take effect here, in its order.
  if (!in.ready_queue.empty())
    for (int k = former.ready_admissions(in.running_live, in.prefilling, in.ready_queue.size());
         k > 0; --k) {
      const uint32_t s = in.ready_queue.front();
      in.ready_queue.pop_front();
      running_.admit(in, s);
    }
  const int n = decodes ? in.running_live : 0;
  chunks_.clear();
  if (!in.prefill_queue.empty())
    former.choose_chunks(
        in.prefill_queue.size(),
        [&](size_t i) {
          const uint32_t s = in.prefill_queue[i];
          const Request& r = slab_[s];
          return PrefillProgress{r.prefill_target, r.prefill_scheduled,
                                 r.prefill_scheduled != r.prefill_cached || r.blocks != 0, s};
        },
        former.prefill_budget(n, q), in.kv.capacity() - in.kv.used(),
        former.seats(in.running_live, in.prefilling), chunks_);
  BatchShape pre;
  size_t left = 0;  // chunks that completed their prompt so far: gone from the queue
  for (const ChunkChoice& ch : chunks_) {
    const uint32_t s = static_cast<uint32_t>(ch.seq);
    Request& r = slab_[s];
    if (ch.admit_blocks > 0) {
      r.blocks = static_cast<int32_t>(ch.admit_blocks);
      change_kv(now, in, ch.admit_blocks);
      if (decodes) ++in.prefilling;
      if (r.first_launch == SimTime::never()) r.first_launch = now;
    }
    const int64_t chunk = ch.tokens;
    const int64_t prior = ch.start;
    pre.num_seqs += 1;
    pre.new_tokens += chunk;
    pre.context_tokens += prior + chunk;
    pre.attention_pairs += chunk * prior + chunk * (chunk + 1) / 2;
    st.chunks.push_back({s, chunk});
    r.prefill_scheduled += chunk;
    if (in.role == Role::kPrefill && serving_.kv_transfer_layerwise && prior == 0 &&
        r.output_tokens > 1 && !r.transfer_started)
      begin_transfer(now, s);  // layer-wise: KV streams out while the prompt computes
    if (ch.completes) {
      in.prefill_queue.erase(in.prefill_queue.begin() +
                             static_cast<std::ptrdiff_t>(ch.queue_index - left));
      ++left;
    }
  }
  if (st.chunks.empty() && n == 0) return;  // nothing runnable: idle until kicked

  StepBatch b;
  b.prefill = pre;
  if (n > 0)
    b.decode = {n, int64_t{n} * q, in.context_tokens + int64_t{n} * (q - 1), in.context_tokens * q};
  if (n > 0 && !spec && in.costs->reads_decode_lengths()) {
    // An engine's decode attention launch term prices each sequence's KV length: the
    // running sequences', brought up to this step without touching them (sync's count).
    decode_lengths_.clear();
    for (const uint32_t s : in.running)
      if (s != Instance::kGone) {
        const Request& r = slab_[s];
        decode_lengths_.push_back(
            static_cast<int32_t>(r.kv_tokens() + (in.decode_step - r.base_step)));
      }
    b.decode_lengths = decode_lengths_;
  }
  if (pools_[in.pool].spec->af.enabled()) {  // the token exchange shares the NICs with KV
    const GpuGroup attention{in.first_gpu, in.gpus};
    b.kv_flows_out = transfers_->busiest_nic_flows(attention, false);
    b.kv_flows_in = transfers_->busiest_nic_flows(attention, true);
  }
  StepCost c = in.costs->cost(b);
  if (spec && n > 0) {
    // k draft steps, each draft_cost_ratio of a plain one-token decode step.
    StepBatch plain;
    plain.decode = {n, n, in.context_tokens, 0};
    const Duration draft = in.costs->cost(plain).total.scaled(
        serving_.speculative.draft_length * serving_.speculative.draft_cost_ratio);
    c.total += draft;
    c.stage += draft;
  }
  SimTime done = now + c.total;
  if (!in.in_flight.empty()) done = std::max(done, in.in_flight.back().done + c.stage);
  st.done = done;
  st.decode_seqs = n;
  st.tokens = pre.new_tokens + int64_t{n} * q;
  in.busy += done - std::max(now, in.busy_until);
  in.busy_until = done;
  in.af_attention_busy += c.af_attention_busy;
  in.af_ffn_busy += c.af_ffn_busy;
  ++in.steps;
  in.batch_seqs += pre.num_seqs + n;
  in.batch_tokens += static_cast<double>(st.tokens);
  in.last_batch = pre.num_seqs + n;
  in.next_launch_ok = now + (in.role == Role::kPrefill ? c.stage : c.total);
  if (opt_.trace) trace_step(in, st, c);
  in.in_flight.push_back(std::move(st));
  queue_.push({done, EventPhase::kCompletion, kStepDoneEvent, static_cast<uint32_t>(inst), 0, 0});
  if (in.role == Role::kPrefill) kick(now, inst);  // Chunk-PP: the next stage slot
}

void Simulation::step_done(SimTime now, int inst) {
  Instance& in = instances_[inst];
  StepInFlight st = std::move(in.in_flight.front());
  in.in_flight.pop_front();
  if (st.decode_seqs > 0) decode_tokens(now, in, inst);
  for (const auto& [s, tokens] : st.chunks) {
    Request& r = slab_[s];
    r.prefill_done += tokens;
    in.outstanding_prefill_tokens -= tokens;
    refresh_load(in);
    if (r.prefill_done == r.prefill_target) prefill_complete(now, s, inst);
  }
  kick(now, inst);
  maybe_release(now, inst);
}

// Makes room for `extra` more blocks for `s` by preempting the most recently admitted
// sequences (vLLM's recompute policy), `s` itself if it is the latest. False: `s` went.
// A victim whose last token this very step produced is finished, not preempted: it is
// done, and recomputing it would readmit a sequence with nothing left to decode (that
// aborted on valid input once: a decode pool out of KV, RunningSet::admit's check).
bool Simulation::make_room(SimTime now, Instance& in, int inst, uint32_t s, int64_t extra) {
  while (!in.kv.fits(extra)) {
    const uint32_t victim = preemption_victim(in.running, Instance::kGone);
    Request& v = slab_[victim];
    running_.sync(in, v);
    if (victim != s && v.generated >= v.output_tokens) {
      running_.remove(in, victim);
      finish(now, victim);
      continue;
    }
    preempt(now, victim, inst);
    if (victim == s) return false;
  }
  return true;
}

void Simulation::decode_tokens(SimTime now, Instance& in, int inst) {
  if (!serving_.speculative.enabled) {
    decode_crossings(now, in, inst);
  } else {
    // Speculative decoding: each sequence accepts its own number of tokens per step.
    const size_t n = in.running.size();
    for (size_t i = 0; i < n && i < in.running.size(); ++i) {
      const uint32_t s = in.running[i];
      if (s == Instance::kGone) continue;
      Request& r = slab_[s];
      const int t = std::min(spec_tokens(), r.output_tokens - r.generated);
      r.generated += t;
      in.context_tokens += t;
      if (r.generated >= r.output_tokens) {
        running_.remove(in, s);
        finish(now, s);
        continue;
      }
      const int64_t extra = blocks_for(r.kv_tokens()) - r.blocks;
      if (extra > 0 && make_room(now, in, inst, s, extra)) {
        r.blocks += static_cast<int32_t>(extra);
        change_kv(now, in, extra);
      }
    }
  }
  running_.compact(in);
  // Blocks freed: transfers waiting for room may start.
  if (in.role == Role::kDecode) try_start_transfers(now, inst);
}

// One decode step without speculation: every running sequence gains a token; those whose
// last token it is finish, and those of the step's phase need one more KV block each.
// When the blocks fit and the order of the step's changes cannot matter (no preemption;
// the peak occupancy is reached either way), the sequences are not touched: the phase's
// count is allocated at once. Otherwise the step's sequences are taken one by one in
// slot order, as a wake-up per sequence would, with vLLM's preemption when KV runs out.
void Simulation::decode_crossings(SimTime now, Instance& in, int inst) {
  ++in.decode_step;
  in.context_tokens += in.running_live;
  const int64_t step = in.decode_step;
  std::vector<uint32_t>& crossing = in.crossing[static_cast<size_t>(running_.phase_of(step))];
  // Every step pops its finish entries, so none is older than this step. The top may be
  // stale (its sequence preempted): then `finishing` errs on the safe side.
  QUADRANT_CHECK(in.finishes.empty() || in.finishes.top().step >= step);
  const bool finishing = !in.finishes.empty() && in.finishes.top().step == step;
  const int64_t most = in.kv.used() + static_cast<int64_t>(crossing.size());
  in.crossing_pending = true;
  if (most <= in.kv.capacity() && (!finishing || most <= in.kv.peak())) {
    while (!in.finishes.empty() && in.finishes.top().step == step) {
      const DecodeWakeup w = in.finishes.top();
      in.finishes.pop();
      if (slab_[w.slot].epoch != w.epoch) continue;
      running_.remove(in, w.slot);
      QUADRANT_CHECK(slab_[w.slot].generated == slab_[w.slot].output_tokens);
      finish(now, w.slot);
    }
    if (!crossing.empty()) change_kv(now, in, static_cast<int64_t>(crossing.size()));
  } else {
    due_.clear();
    while (!in.finishes.empty() && in.finishes.top().step == step) {
      due_.push_back({in.finishes.top().slot, in.finishes.top().epoch});
      in.finishes.pop();
    }
    for (uint32_t s : crossing) due_.push_back({s, slab_[s].epoch});
    std::sort(due_.begin(), due_.end());
    due_.erase(std::unique(due_.begin(), due_.end()), due_.end());
    for (const auto& [s, epoch] : due_) {
      Request& r = slab_[s];
      if (r.epoch != epoch) continue;  // preempted or finished since
      running_.sync(in, r);
      if (r.generated >= r.output_tokens) {
        running_.remove(in, s);
        finish(now, s);
        continue;
      }
      const int64_t extra = blocks_for(r.kv_tokens()) - r.blocks;
      if (extra > 0) {
        if (!make_room(now, in, inst, s, extra)) continue;
        r.blocks += static_cast<int32_t>(extra);
        change_kv(now, in, extra);
      }
    }
  }
  in.crossing_pending = false;
  // Sequences admitted with a block to spare have skipped their first crossing.
  for (const auto& [s, epoch] : in.deferred)
    if (slab_[s].epoch == epoch) running_.join_phase(in, s);
  in.deferred.clear();
}

void Simulation::preempt(SimTime now, uint32_t s, int inst) {
  Instance& in = instances_[inst];
  Request& r = slab_[s];
  running_.remove(in, s);
  change_kv(now, in, -r.blocks);
  r.blocks = 0;
  // Recompute: the prompt and the tokens generated so far are prefilled again here.
  r.prefill_target = r.kv_tokens();
  r.prefill_cached = 0;  // its blocks are gone with the rest
  r.prefill_scheduled = 0;
  r.prefill_done = 0;
  in.prefill_queue.push_front(s);
  in.outstanding_prefill_tokens += r.prefill_target;
  refresh_load(in);
  ++in.preemptions;
  if (opt_.trace)
    opt_.trace({in.name,
                "preempt",
                now,
                Duration::zero(),
                {{"request", static_cast<double>(r.id)},
                 {"kv_tokens", static_cast<double>(r.kv_tokens())}},
                0});
}

void Simulation::prefill_complete(SimTime now, uint32_t s, int inst) {
  Instance& in = instances_[inst];
  Request& r = slab_[s];
  if (in.prefix_cache.capacity() > 0 && s < hashes_.size() && !hashes_[s].empty()) {
    in.prefix_cache.insert(hashes_[s]);  // the whole prompt's KV now exists here
    shared_tier_.insert(hashes_[s]);     // and is written to the shared tier (if any)
    hashes_[s].clear();
  }
  if (in.role != Role::kPrefill) {
    --in.prefilling;
    if (r.first_token == SimTime::never()) {
      r.first_token = now;
      r.generated = 1;
      if (r.output_tokens == 1) {
        finish(now, s);
        return;
      }
    }
    running_.admit(in, s);
    return;
  }
  r.first_token = now;
  r.generated = 1;
  r.prefill_finished = true;
  if (r.output_tokens == 1) {
    finish(now, s);
    return;
  }
  if (!r.transfer_started) {
    begin_transfer(now, s);
  } else if (r.transfer_done) {
    release_source(now, r);
    instances_[r.decode_instance].ready_queue.push_back(s);
    kick(now, r.decode_instance);
  }
}

// ---- KV transfer ----------------------------------------------------------------------

void Simulation::begin_transfer(SimTime now, uint32_t s) {
  Request& r = slab_[s];
  r.transfer_started = true;
  const std::vector<InstanceLoad>& loads = candidates(kDecodePool);
  QUADRANT_CHECK(!loads.empty());
  const int dec = loads[decode_router_->pick(loads)].instance;
  r.decode_instance = dec;
  Instance& d = instances_[dec];
  d.transfer_queue.push_back(s);
  d.kv.promise(blocks_for(int64_t{r.input_tokens} + 1));
  refresh_load(d);
  try_start_transfers(now, dec);
}

void Simulation::try_start_transfers(SimTime now, int dec) {
  Instance& d = instances_[dec];
  // First come first served: a large transfer at the head is not overtaken.
  while (!d.transfer_queue.empty()) {
    const uint32_t s = d.transfer_queue.front();
    const int64_t need = blocks_for(int64_t{slab_[s].input_tokens} + 1);
    if (!d.kv.fits(need)) break;
    d.transfer_queue.pop_front();
    d.kv.promise(-need);
    refresh_load(d);
    start_transfer(now, s);
  }
}

void Simulation::start_transfer(SimTime now, uint32_t s) {
  Request& r = slab_[s];
  Instance& d = instances_[r.decode_instance];
  const int64_t need = blocks_for(int64_t{r.input_tokens} + 1);
  // Prefilled at arrival (ServingSpec::prefilled_arrivals, the planner's decode probes):
  // its KV crosses the network as a prefill instance's would, from the prefill pool's
  // first instance (a stand-in that takes no request and holds none of its KV), into the
  // room reserved here, sharing the decode instance's links with the other transfers.
  const bool stand_in = r.instance < 0;
  if (stand_in) {
    const Pool& prefill = pools_[kPrefillPool];
    QUADRANT_CHECK(prefill.spec != nullptr && !prefill.instances.empty());
    r.instance = prefill.instances.front();
    r.blocks = 0;
  }
  Instance& src = instances_[r.instance];
  r.source_blocks = r.blocks;
  r.source_instance = stand_in ? -1 : r.instance;
  r.blocks = static_cast<int32_t>(need);
  r.instance = r.decode_instance;
  change_kv(now, d, need);
  ++d.incoming;
  r.transfer_start = now;
  // Each GPU of the source sends its TP shard's part to each GPU of the destination that
  // needs it, over their own paths (FlowNetwork). With data-parallel attention the KV
  // lives on one replica's tp x pp GPUs (replica r: the instance's r-th such block),
  // the replicas taking requests in turn by id.
  auto holder = [&](const Instance& in) {
    const Layout& l = pools_[in.pool].spec->layout;
    if (l.dp_attention <= 1) return GpuGroup{in.first_gpu, in.gpus};
    const int replica = static_cast<int>(r.id % static_cast<uint64_t>(l.dp_attention));
    return GpuGroup{in.first_gpu + replica * l.tp * l.pp, l.tp * l.pp};
  };
  r.transfer = transfers_->start(now, holder(src), holder(d),
                                 kv_bytes_per_token_ * static_cast<double>(r.input_tokens), s);
  r.flow_event = 0;
  reschedule_transfers();
}

void Simulation::reschedule_transfers() {
  for (uint32_t t : transfers_->rerated()) {
    const uint32_t owner = transfers_->owner(t);
    // Stored +1 so that 0 means "none" (event ids start at 0); the event it replaces,
    // if any, is skipped by the event loop.
    slab_[owner].flow_event = queue_.push({transfers_->next_landing(t), EventPhase::kCompletion,
                                           kTransferDoneEvent, owner, t, 0}) +
                              1;
  }
}

void Simulation::on_transfer_done(SimTime now, uint32_t s) {
  Request& r = slab_[s];
  r.flow_event = 0;
  const bool done = transfers_->land(now, r.transfer);
  reschedule_transfers();  // this transfer's next shard, if any, and those it slowed
  if (!done) return;
  r.transfer_done = true;
  Instance& d = instances_[r.decode_instance];
  --d.incoming;
  transfers_->count_landed(r.transfer_start, now);
  if (opt_.trace)
    opt_.trace({"kv_transfer",
                "kv_transfer",
                r.transfer_start,
                now - r.transfer_start,
                {{"request", static_cast<double>(r.id)},
                 {"tokens", static_cast<double>(r.input_tokens)},
                 {"to_instance", static_cast<double>(r.decode_instance)}},
                r.id + 1});
  if (r.prefill_finished) {
    release_source(now, r);
    d.ready_queue.push_back(s);
    kick(now, r.decode_instance);
  }
}

void Simulation::release_source(SimTime now, Request& r) {
  if (r.source_instance < 0) return;
  Instance& src = instances_[r.source_instance];
  change_kv(now, src, -r.source_blocks);
  r.source_blocks = 0;
  const int id = r.source_instance;
  r.source_instance = -1;
  kick(now, id);  // it may have been waiting for KV room
  maybe_release(now, id);
}

// ---- request end ----------------------------------------------------------------------

void Simulation::finish(SimTime now, uint32_t s) {
  Request& r = slab_[s];
  metrics_.finish(r.id, r.arrival, r.first_launch, r.first_token, now, r.input_tokens,
                  r.output_tokens);
  release_source(now, r);
  if (r.instance >= 0 && r.blocks > 0) {
    change_kv(now, instances_[r.instance], -r.blocks);
    if (instances_[r.instance].role == Role::kPrefill) kick(now, r.instance);
  }
  const int inst = r.instance;
  r.blocks = 0;
  r.instance = -2;
  free_slots_.push_back(s);
  --live_;
  if (inst >= 0) maybe_release(now, inst);
}

void Simulation::reject(SimTime now, const Request& r, const std::string& reason) {
  (void)now;
  metrics_.reject(r.id, r.arrival, r.input_tokens, r.output_tokens, reason);
}

// ---- autoscaler and sampling ----------------------------------------------------------

void Simulation::maybe_release(SimTime now, int inst) {
  Instance& in = instances_[inst];
  if (in.state != InstanceState::kDraining || !in.idle()) return;
  set_state(in, InstanceState::kReleased);
  in.released = now;
  Pool& pool = pools_[in.pool];
  for (int& occupant : pool.slot_instance)
    if (occupant == inst) occupant = -1;
}

void Simulation::on_scale_tick(SimTime now) {
  const AutoscalerSpec& as = serving_.autoscaler;
  for (int p = 0; p < 3; ++p) {
    Pool& pool = pools_[p];
    if (!pool.spec) continue;
    int active = 0, provisioning = 0;
    double signal = 0;
    for (int id : pool.instances) {
      const Instance& in = instances_[id];
      if (in.state == InstanceState::kProvisioning) ++provisioning;
      if (in.state != InstanceState::kActive) continue;
      ++active;
      signal +=
          p == kDecodePool ? in.kv.occupancy() : static_cast<double>(in.outstanding_prefill_tokens);
    }
    if (active == 0) continue;
    signal /= active;
    const double high =
        p == kDecodePool ? as.decode_utilization_high : as.prefill_queue_tokens_high;
    const ScaleDecision d = decide_scale(as, signal, high, active, provisioning);
    if (d == ScaleDecision::kGrow &&
        std::count(pool.slot_instance.begin(), pool.slot_instance.end(), -1) > 0) {
      const int id = create_instance(p, now, InstanceState::kProvisioning);
      queue_.push({now + as.provisioning_delay, EventPhase::kControl, kInstanceUpEvent,
                   static_cast<uint32_t>(id), 0, 0});
    } else if (d == ScaleDecision::kShrink) {
      // The newest active instance drains: no new work, released once idle.
      for (auto it = pool.instances.rbegin(); it != pool.instances.rend(); ++it)
        if (instances_[*it].state == InstanceState::kActive) {
          set_state(instances_[*it], InstanceState::kDraining);
          maybe_release(now, *it);
          break;
        }
    }
  }
  if (work_remains())
    queue_.push({now + as.interval, EventPhase::kControl, kScaleTickEvent, 0, 0, 0});
}

void Simulation::on_sample(SimTime now) {
  const double t = now.to_seconds();
  for (Instance& in : instances_) {
    if (in.state == InstanceState::kReleased) continue;
    in.kv_series.push_back(
        {t, static_cast<double>(in.kv.used()) / static_cast<double>(in.kv.capacity())});
    in.batch_series.push_back({t, static_cast<double>(in.running_live + in.prefilling)});
  }
  if (work_remains())
    queue_.push({now + sample_interval_, EventPhase::kObserver, kSampleEvent, 0, 0, 0});
}

void Simulation::trace_step(const Instance& in, const StepInFlight& st, const StepCost& c) {
  int64_t prefill_tokens = 0;
  for (const auto& ch : st.chunks) prefill_tokens += ch.second;
  TraceEvent e{
      in.name,
      st.decode_seqs > 0 && prefill_tokens > 0 ? "mixed step"
      : st.decode_seqs > 0                     ? "decode step"
                                               : "prefill step",
      st.launch,
      st.done - st.launch,
      {{"prefill_seqs", static_cast<double>(st.chunks.size())},
       {"prefill_tokens", static_cast<double>(prefill_tokens)},
       {"decode_seqs", static_cast<double>(st.decode_seqs)},
       {"attention_ms", (c.prefill_attention + c.decode_attention).to_millis()},
       {"ffn_ms", c.ffn.to_millis()},
       {"communication_ms",
        (c.tp_communication + c.ep_communication + c.pp_communication).to_millis()},
       {"kv_occupancy", static_cast<double>(in.kv.used()) / static_cast<double>(in.kv.capacity())}},
      0};
  // Dual micro-batch: the communication the other micro-batch's compute hid (the step's
  // duration is the overlapped critical path).
  if (c.hidden_communication > Duration::zero())
    e.args["hidden_communication_ms"] = c.hidden_communication.to_millis();
  // Attention/FFN disaggregation: each pool's work in the step (hidden_communication is
  // then what of the parts ran concurrently in the ping-pong pipeline).
  if (c.af_ffn_busy > Duration::zero()) {
    e.args["af_attention_pool_ms"] = c.af_attention_busy.to_millis();
    e.args["af_ffn_pool_ms"] = c.af_ffn_busy.to_millis();
  }
  opt_.trace(e);
}

}  // namespace

SimulationResult simulate(const Scenario& scenario, const CostModels& models,
                          const SimulationOptions& options) {
  QUADRANT_CHECK_MSG(!options.replay || scenario.workload.arrival.process == ArrivalProcess::kTrace,
                     "a replay needs a trace workload");
  Simulation sim(scenario, models, options);
  return sim.run();
}

CostModels roofline_cost_models(const Scenario& scenario) {
  CostModels m;
  for (const auto& [name, gpu] : scenario.catalog.gpus)
    m[name] = std::make_shared<RooflineCostModel>(gpu);
  return m;
}

}  // namespace quadrant
