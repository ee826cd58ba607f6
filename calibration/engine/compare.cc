#include "calibration/engine/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <tuple>

#include "calibration/engine/cost_executor.h"
#include "calibration/fit.h"
#include "sim/core/error.h"
#include "sim/core/random.h"
#include "sim/cost/step_cost.h"
#include "sim/metrics/metrics.h"

namespace quadrant::engine {
namespace {

RelativeError relative_error(const std::vector<double>& predicted,
                             const std::vector<double>& measured) {
  std::vector<double> abs, ratios;
  for (size_t i = 0; i < predicted.size(); ++i) {
    if (!(measured[i] > 0)) continue;
    const double r = predicted[i] / measured[i] - 1;
    abs.push_back(std::fabs(r));
    ratios.push_back(r);
  }
  RelativeError e;
  const calibration::ErrorStats a = calibration::error_stats(abs);
  e.median = a.median;
  e.p95 = a.p95;
  e.count = a.count;
  // The signed median: error_stats sorts, so shift to positive and back.
  std::vector<double> shifted;
  for (double r : ratios) shifted.push_back(r + 1);
  e.bias = ratios.empty() ? 0 : calibration::error_stats(shifted).median - 1;
  return e;
}

int64_t part(const StepRecord& s, const std::string& name) {
  for (const auto& [n, ns] : s.parts_ns)
    if (n == name) return ns;
  return 0;
}

}  // namespace

std::vector<TraceRecord> replay_requests(const EngineRun& run) {
  std::vector<TraceRecord> out;
  out.reserve(run.requests.size());
  for (const RequestLog& r : run.requests)
    out.push_back({r.arrival, r.input_tokens, r.output_tokens});
  std::stable_sort(out.begin(), out.end(), [](const TraceRecord& a, const TraceRecord& b) {
    return a.arrival < b.arrival;
  });
  return out;
}

const PoolSpec& engine_pool(const Scenario& sc, const std::string& instance) {
  if (sc.serving.mode == ServingMode::kDisaggregated)
    return instance == "decode" ? sc.serving.decode : sc.serving.prefill;
  return sc.serving.colocated;
}

Scenario replay_scenario(Scenario sc, const EngineRun& run) {
  const RunMeta& m = run.meta;
  const bool pd = m.pd_pair;
  const ServingMode mode = pd ? ServingMode::kDisaggregated : ServingMode::kColocated;
  if (sc.serving.mode != mode)
    throw InputError(sc.file, "serving.mode",
                     pd ? "expected \"disaggregated\" (the run was a PD pair)"
                        : "expected \"colocated\" (the engine's mode)");
  if (m.block_tokens != sc.serving.kv_block_size)
    throw InputError(sc.file, "serving.kv_block_size",
                     "expected the run's " + std::to_string(m.block_tokens) + ", got " +
                         std::to_string(sc.serving.kv_block_size));
  auto pool = [&](PoolSpec& p, const std::string& path, int32_t max_batch_size,
                  int64_t max_batch_tokens, int64_t chunk_size, int32_t kv_blocks) {
    if (p.layout.gpus() != 1)
      throw InputError(sc.file, path + ".layout", "expected one GPU, as the engine ran");
    if (!m.gpu.empty() && m.gpu != p.gpu)
      throw InputError(sc.file, path + ".gpu",
                       "expected the run's GPU \"" + m.gpu + "\", got \"" + p.gpu + "\"");
    p.instances = 1;
    p.max_batch_size = max_batch_size;
    p.max_batch_tokens = max_batch_tokens;
    p.chunk_size = chunk_size;
    p.kv_capacity_tokens = int64_t{kv_blocks} * m.block_tokens;
  };
  if (pd) {
    pool(sc.serving.prefill, "serving.prefill", m.max_batch_size, m.max_batch_tokens, m.chunk_size,
         m.kv_blocks);
    pool(sc.serving.decode, "serving.decode", m.pd.decode_max_batch_size,
         m.pd.decode_max_batch_tokens, m.pd.decode_chunk_size, m.pd.decode_kv_blocks);
    // The KV moves when the prompt is done (the engine copies after the last chunk).
    sc.serving.kv_transfer_layerwise = false;
  } else {
    pool(sc.serving.colocated, "serving.colocated", m.max_batch_size, m.max_batch_tokens,
         m.chunk_size, m.kv_blocks);
  }
  sc.serving.autoscaler.enabled = false;
  sc.serving.speculative.enabled = false;
  sc.workload.arrival.process = ArrivalProcess::kTrace;
  sc.workload.max_requests = 0;
  return sc;
}

SimulationSummary measured_summary(const EngineRun& run, const Scenario& sc,
                                   std::vector<RequestRecord>* records) {
  RequestMetrics metrics(sc.slo, sc.workload.warmup, records != nullptr);
  SimTime last_arrival = SimTime::start();
  for (const RequestLog& r : run.requests) last_arrival = std::max(last_arrival, r.arrival);
  std::vector<const RequestLog*> finished;
  for (const RequestLog& r : run.requests) {
    metrics.arrive();
    if (r.status == RequestStatus::kFinished) {
      finished.push_back(&r);
    } else {
      metrics.reject(r.id, r.arrival, r.input_tokens, r.output_tokens,
                     r.status == RequestStatus::kRejected ? r.reason : "unfinished");
    }
  }
  // In finish order, the window closing at the last arrival (arrivals come before
  // completions of the same instant in the simulator).
  std::stable_sort(finished.begin(), finished.end(),
                   [](const RequestLog* a, const RequestLog* b) { return a->finish < b->finish; });
  bool open = true;
  for (const RequestLog* r : finished) {
    if (open && r->finish >= last_arrival) {
      metrics.close_window();
      open = false;
    }
    metrics.finish(r->id, r->arrival,
                   r->first_launch == SimTime::never() ? r->arrival : r->first_launch,
                   r->first_token, r->finish, r->input_tokens, r->output_tokens);
  }
  SimulationSummary s;
  metrics.fill(s, std::max(0.0, last_arrival.to_seconds() - sc.workload.warmup.to_seconds()));
  if (records) *records = metrics.take_records();
  s.preemptions = run.meta.preemptions;
  if (!run.steps.empty()) s.duration_s = run.steps.back().end.to_seconds();
  return s;
}

double relative(double simulated, double measured) {
  return measured != 0 ? simulated / measured - 1 : 0;
}

LatencyErrors paired_latency_errors(const std::vector<RequestRecord>& measured,
                                    const std::vector<RequestRecord>& simulated, double warmup_s,
                                    int resamples, uint64_t seed) {
  // The replay gives the simulator the run's arrivals and lengths, not its ids: a request is
  // its (arrival, input, output), requests alike taken in order.
  using Key = std::tuple<double, int32_t, int32_t>;
  std::map<Key, std::vector<const RequestRecord*>> sim;
  for (const RequestRecord& r : simulated)
    sim[{r.arrival_s, r.input_tokens, r.output_tokens}].push_back(&r);
  std::map<Key, size_t> taken;
  // (measured, simulated) per request scored in both; TPOT of two tokens or more.
  std::vector<std::pair<float, float>> ttft, tpot;
  for (const RequestRecord& m : measured) {
    const Key key{m.arrival_s, m.input_tokens, m.output_tokens};
    const auto it = sim.find(key);
    if (it == sim.end()) continue;
    const size_t k = taken[key]++;
    if (k >= it->second.size()) continue;
    const RequestRecord& r = *it->second[k];
    if (m.rejected || r.rejected || m.arrival_s < warmup_s) continue;
    ttft.emplace_back(m.ttft_s, r.ttft_s);
    if (m.output_tokens > 1) tpot.emplace_back(m.tpot_s, r.tpot_s);
  }
  RandomStream draws(seed, "paired latency errors");
  // Nearest rank, as percentiles() takes it.
  auto rank = [](std::vector<float>& v, double q) {
    const size_t k = std::clamp<size_t>(
        static_cast<size_t>(std::ceil(q / 100.0 * static_cast<double>(v.size()))), 1, v.size());
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k - 1), v.end());
    return static_cast<double>(v[k - 1]);
  };
  auto errors = [&](const std::vector<std::pair<float, float>>& pairs, PercentileError* p50,
                    PercentileError* p90, PercentileError* p99) {
    PercentileError* out[] = {p50, p90, p99};
    const double qs[] = {50, 90, 99};
    const size_t n = pairs.size();
    for (PercentileError* e : out) e->requests = static_cast<int>(n);
    if (n == 0) return;
    std::vector<float> a(n), b(n);
    auto error_of = [&](double q) {
      const double m = rank(a, q);
      return relative(rank(b, q), m);
    };
    for (size_t i = 0; i < n; ++i) a[i] = pairs[i].first, b[i] = pairs[i].second;
    for (int j = 0; j < 3; ++j) out[j]->error = error_of(qs[j]);
    std::vector<std::vector<double>> boot(3);
    std::vector<size_t> pick(n);
    for (int r = 0; r < resamples; ++r) {
      for (size_t& k : pick) k = static_cast<size_t>(draws.uniform_int(0, int64_t(n) - 1));
      // Filled once a resample: rank() only reorders them.
      for (size_t i = 0; i < n; ++i) a[i] = pairs[pick[i]].first, b[i] = pairs[pick[i]].second;
      for (int j = 0; j < 3; ++j) boot[static_cast<size_t>(j)].push_back(error_of(qs[j]));
    }
    for (int j = 0; j < 3; ++j) {
      std::vector<double>& v = boot[static_cast<size_t>(j)];
      if (v.empty()) continue;
      std::sort(v.begin(), v.end());
      auto at = [&](double q) {
        return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
      };
      out[j]->low = at(0.05);
      out[j]->high = at(0.95);
    }
  };
  LatencyErrors e;
  errors(ttft, &e.ttft_p50, &e.ttft_p90, &e.ttft_p99);
  errors(tpot, &e.tpot_p50, &e.tpot_p90, &e.tpot_p99);
  return e;
}

CaseComparison compare_case(const std::string& name, const EngineRun& run, const Scenario& replay,
                            const std::vector<NamedCostModel>& models) {
  CaseComparison c;
  c.name = name;
  c.engine = run.meta.engine;
  c.steps = static_cast<int64_t>(run.steps.size());
  c.preemptions = run.meta.preemptions;
  c.rejected = run.count(RequestStatus::kRejected);
  c.unfinished = run.count(RequestStatus::kUnfinished);
  std::vector<RequestRecord> measured_requests;
  c.measured = measured_summary(run, replay, &measured_requests);
  if (run.meta.pd_pair) {
    c.pd = true;
    c.placement = run.meta.pd.placement;
    // The engine's pair runs in one host (one GPU shared, or two of one node): the replay
    // puts both instances on one node, so the KV crosses the node's NVLink, as the engine's
    // copy does on two GPUs; on one GPU, both instances on it and the copy a
    // device-to-device one in its memory (SimulationOptions::pools_share_one_gpu).
    const GpuSpec* decode_gpu = replay.catalog.find(replay.serving.decode.gpu);
    c.simulated_placement =
        run.meta.pd.one_gpu() && decode_gpu
            ? "prefill and decode instance on one GPU, KV copied in its memory (" +
                  std::to_string(std::lround(decode_gpu->memory_bandwidth.value() * 1e-9)) +
                  " GB/s, read and written)"
            : "prefill and decode instance on one node, KV over its NVLink (" +
                  std::to_string(std::lround(replay.cluster.intra_node.bandwidth.value() * 1e-9)) +
                  " GB/s, " +
                  std::to_string(std::lround(replay.cluster.intra_node.latency.to_micros())) +
                  " us)";
    double wait = 0, copy = 0, gpu_copy = 0, ready = 0;
    int64_t n = 0, m = 0;
    for (const RequestLog& r : run.requests) {
      if (r.kv_received == SimTime::never()) continue;
      ++n;
      wait += (r.kv_sent - r.first_token).to_millis();
      copy += (r.kv_received - r.kv_sent).to_millis();
      gpu_copy += static_cast<double>(r.kv_copy_gpu_ns) * 1e-6;
      if (r.first_decode != SimTime::never()) {
        ++m;
        ready += (r.first_decode - r.kv_received).to_millis();
      }
    }
    c.transfers = n;
    if (n > 0) {
      c.kv_wait_ms = wait / static_cast<double>(n);
      c.kv_copy_ms = copy / static_cast<double>(n);
      c.kv_copy_gpu_ms = gpu_copy / static_cast<double>(n);
    }
    if (m > 0) c.ready_ms = ready / static_cast<double>(m);
  }
  const PoolSpec& pool = engine_pool(replay, "prefill");
  const PoolSpec& decode_pool = engine_pool(replay, "decode");
  const GpuSpec* gpu = replay.catalog.find(pool.gpu);
  if (!gpu || pool.gpu != decode_pool.gpu)
    throw InputError(replay.file, "serving", "expected one catalog GPU for the engine's pools");
  const std::vector<TraceRecord> requests = replay_requests(run);

  std::vector<double> gpu_ns, period_ns;
  for (size_t i = 0; i < run.steps.size(); ++i) {
    const StepRecord& s = run.steps[i];
    gpu_ns.push_back(static_cast<double>(s.gpu_ns));
    const int64_t after = i + 1 < run.steps.size() && run.steps[i + 1].instance == s.instance
                              ? run.steps[i + 1].host_ns
                              : 0;
    const int64_t wall = s.end > s.start ? (s.end - s.start).ns() : s.wall_ns;
    period_ns.push_back(static_cast<double>(wall + after));
    c.breakdown_steps += !s.parts_ns.empty();
  }
  c.measured_ns = period_ns;
  // A PD pair: which steps overlapped a step of the other instance (a sweep over each
  // instance's steps, both in time order).
  std::vector<bool> shared(run.steps.size(), false);
  if (c.pd) {
    std::vector<size_t> mine[2];
    for (size_t i = 0; i < run.steps.size(); ++i)
      mine[run.steps[i].instance == "decode" ? 1 : 0].push_back(i);
    for (int side = 0; side < 2; ++side) {
      const std::vector<size_t>& a = mine[side];
      const std::vector<size_t>& b = mine[1 - side];
      size_t k = 0;
      for (size_t i : a) {
        const StepRecord& s = run.steps[i];
        while (k < b.size() && run.steps[b[k]].end <= s.start) ++k;
        shared[i] = k < b.size() && run.steps[b[k]].start < s.end;
      }
    }
    for (bool x : shared) c.shared_steps += x;
  }
  const std::vector<std::vector<int32_t>> lengths = step_decode_lengths(run);
  for (const auto& [label, model] : models) {
    ModelComparison mc;
    mc.model = label;
    mc.source = model->describe();
    const StepCostModel costs(replay.model, pool.layout, *gpu, replay.cluster, *model);
    const StepCostModel decode_costs(replay.model, decode_pool.layout, *gpu, replay.cluster,
                                     *model);
    std::vector<double> predicted;
    double m_att = 0, m_ffn = 0, m_other = 0, p_att = 0, p_ffn = 0, p_other = 0;
    double launch = 0, host = 0;
    for (size_t i = 0; i < run.steps.size(); ++i) {
      const StepRecord& s = run.steps[i];
      StepBatch batch = step_batch(s);
      batch.decode_lengths = lengths[i];
      const StepCost cost = (s.instance == "decode" ? decode_costs : costs).cost(batch);
      predicted.push_back(static_cast<double>(cost.total.ns()));
      mc.attention_ns.push_back(
          static_cast<double>((cost.prefill_attention + cost.decode_attention).ns()));
      mc.ffn_ns.push_back(static_cast<double>(cost.ffn.ns()));
      launch += static_cast<double>(std::max<int64_t>(0, s.wall_ns - s.gpu_ns));
      host += static_cast<double>(s.host_ns);
      if (s.parts_ns.empty()) continue;
      m_att += static_cast<double>(part(s, "attention") + part(s, "gemm"));
      m_ffn += static_cast<double>(part(s, "ffn"));
      m_other += static_cast<double>(part(s, "other"));
      p_att += static_cast<double>((cost.prefill_attention + cost.decode_attention).ns());
      p_ffn += static_cast<double>(cost.ffn.ns());
      p_other += static_cast<double>(
          (cost.total - cost.prefill_attention - cost.decode_attention - cost.ffn).ns());
    }
    mc.step_gpu = relative_error(predicted, gpu_ns);
    mc.step_period = relative_error(predicted, period_ns);
    // The same without the steps run eagerly for their breakdown (not as served).
    std::vector<double> pred_served, period_served;
    for (size_t i = 0; i < run.steps.size(); ++i)
      if (run.steps[i].parts_ns.empty()) {
        pred_served.push_back(predicted[i]);
        period_served.push_back(period_ns[i]);
      }
    mc.step_served = relative_error(pred_served, period_served);
    if (c.pd) {
      std::vector<double> pp, mp, pd, md;
      for (size_t i = 0; i < run.steps.size(); ++i) {
        const bool dec = run.steps[i].instance == "decode";
        (dec ? pd : pp).push_back(predicted[i]);
        (dec ? md : mp).push_back(period_ns[i]);
      }
      mc.step_prefill = relative_error(pp, mp);
      mc.step_decode = relative_error(pd, md);
      std::vector<double> pa, ma, ps, ms;
      for (size_t i = 0; i < run.steps.size(); ++i) {
        (shared[i] ? ps : pa).push_back(predicted[i]);
        (shared[i] ? ms : ma).push_back(period_ns[i]);
      }
      mc.step_alone = relative_error(pa, ma);
      mc.step_shared = relative_error(ps, ms);
    }
    mc.predicted_ns = predicted;
    // The decode-only breakdown steps' FFN, predicted / measured, by decode count.
    const int64_t edges[] = {1, 8, 32, 96, 0};
    for (size_t b = 0; b + 1 < std::size(edges); ++b) {
      DecodeBand band{edges[b], edges[b + 1] > 0 ? edges[b + 1] - 1 : 0};
      std::vector<double> ratio;
      for (size_t i = 0; i < run.steps.size(); ++i) {
        const StepRecord& s = run.steps[i];
        if (s.parts_ns.empty() || !s.prefill.empty() || s.decode_seqs < band.lo ||
            (band.hi > 0 && s.decode_seqs > band.hi) || part(s, "ffn") <= 0)
          continue;
        ratio.push_back(mc.ffn_ns[i] / static_cast<double>(part(s, "ffn")));
      }
      if (ratio.empty()) continue;
      std::sort(ratio.begin(), ratio.end());
      band.steps = static_cast<int>(ratio.size());
      const size_t n = ratio.size();
      band.median = n % 2 ? ratio[n / 2] : 0.5 * (ratio[n / 2 - 1] + ratio[n / 2]);
      band.low = ratio.front();
      band.high = ratio.back();
      mc.decode_ffn.push_back(band);
    }
    const double nb = std::max<double>(1, static_cast<double>(c.breakdown_steps));
    const double ns = std::max<double>(1, static_cast<double>(run.steps.size()));
    mc.terms = {{"attention + GEMMs", m_att / nb * 1e-6, p_att / nb * 1e-6},
                {"ffn", m_ffn / nb * 1e-6, p_ffn / nb * 1e-6},
                {"other kernels", m_other / nb * 1e-6, p_other / nb * 1e-6},
                {"launch + sync (wall - GPU)", launch / ns * 1e-6, 0},
                {"host gap between steps", host / ns * 1e-6, 0}};
    // The breakdown terms count only when steps carry one; the host terms always.
    double worst = -1;
    for (size_t t = 0; t < mc.terms.size(); ++t) {
      if (t < 3 && c.breakdown_steps == 0) continue;
      const double d = std::fabs(mc.terms[t].measured_ms - mc.terms[t].predicted_ms);
      if (d > worst) {
        worst = d;
        mc.carrier = mc.terms[t].term;
      }
    }
    CostModels cm;
    cm[pool.gpu] = model;
    SimulationOptions o;
    o.seed = run.meta.seed;
    o.replay = &requests;
    o.pools_share_nodes = run.meta.pd_pair;
    o.pools_share_one_gpu = run.meta.pd_pair && run.meta.pd.one_gpu();
    o.keep_requests = true;
    SimulationResult result = simulate(replay, cm, o);
    mc.simulated = result.summary;
    mc.latency = paired_latency_errors(measured_requests, result.requests,
                                       replay.workload.warmup.to_seconds());
    c.models.push_back(std::move(mc));
  }
  return c;
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(double r) {
  return fmt("%+.1f%%", 100 * r);
}
// Appends the parts (GCC 12 warns falsely on long chains of std::string +).
void put(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out.append(p);
}

}  // namespace

std::string comparison_markdown(const std::vector<CaseComparison>& cases) {
  std::string out;
  for (const CaseComparison& c : cases) {
    out += "### " + c.name + "\n\n";
    out += "Engine: " + c.engine + "  \n";
    out += std::to_string(c.steps) + " steps (" + std::to_string(c.breakdown_steps) +
           " with a per-part breakdown), " + std::to_string(c.measured.requests_finished) +
           " requests finished, " + std::to_string(c.rejected) + " rejected, " +
           std::to_string(c.unfinished) + " unfinished, " + std::to_string(c.preemptions) +
           " preemptions.\n\n";
    if (c.pd) {
      out += "PD pair: " + c.placement + ". " + std::to_string(c.transfers) +
             " KV copies: prefill done -> copy started " + fmt("%.3f", c.kv_wait_ms) +
             " ms, copy " + fmt("%.3f", c.kv_copy_ms) + " ms (CUDA events " +
             fmt("%.3f", c.kv_copy_gpu_ms) + " ms), landed -> first decode token " +
             fmt("%.3f", c.ready_ms) + " ms (means); simulated (" + c.simulated_placement +
             ") transfer:";
      for (const ModelComparison& m : c.models)
        put(out, {" ", m.model, " ", fmt("%.3f", m.simulated.kv_transfer_mean_s * 1e3), " ms;"});
      out += "\n\nStep time by instance (vs launch-to-launch): ";
      for (const ModelComparison& m : c.models)
        put(out, {m.model, " prefill ", pct(m.step_prefill.median), " / ", pct(m.step_prefill.p95),
                  " (bias ", pct(m.step_prefill.bias), "), decode ", pct(m.step_decode.median),
                  " / ", pct(m.step_decode.p95), " (bias ", pct(m.step_decode.bias), "); "});
      out += "\n\nSteps alone (no step of the other instance overlapped them, " +
             std::to_string(c.steps - c.shared_steps) + ") vs sharing the time with one (" +
             std::to_string(c.shared_steps) + "): ";
      for (const ModelComparison& m : c.models)
        put(out, {m.model, " alone ", pct(m.step_alone.median), " / ", pct(m.step_alone.p95),
                  " (bias ", pct(m.step_alone.bias), "), shared ", pct(m.step_shared.median), " / ",
                  pct(m.step_shared.p95), " (bias ", pct(m.step_shared.bias), "); "});
      out += "\n\n";
    }
    out +=
        "Step time, |predicted / measured - 1| over every executed step (bias: signed median)\n\n";
    out +=
        "| cost model | vs GPU time: median | P95 | bias | vs launch-to-launch: median | P95 | "
        "bias | the same, served steps only (no eager breakdown step): median | P95 |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for (const ModelComparison& m : c.models) {
      put(out, {"| ", m.model, " | ", pct(m.step_gpu.median), " | ", pct(m.step_gpu.p95), " | ",
                pct(m.step_gpu.bias), " | ", pct(m.step_period.median), " | ",
                pct(m.step_period.p95), " | ", pct(m.step_period.bias), " | "});
      put(out, {pct(m.step_served.median), " | ", pct(m.step_served.p95), " |\n"});
    }
    out += "\nRequests, real (measured on the engine) vs simulated (same arrivals and lengths)\n\n";
    out += "| metric | real |";
    for (const ModelComparison& m : c.models) out += " " + m.model + " | error |";
    out += "\n|---|---|";
    for (size_t i = 0; i < c.models.size(); ++i) out += "---|---|";
    out += "\n";
    struct Row {
      const char* label;
      double (*get)(const SimulationSummary&);
      double scale;
      const char* format;
      PercentileError LatencyErrors::*paired = nullptr;  // latency rows: the sampling interval
    };
    const Row rows[] = {
        {"TTFT P50 (ms)", [](const SimulationSummary& s) { return s.ttft.p50; }, 1e3, "%.1f",
         &LatencyErrors::ttft_p50},
        {"TTFT P90 (ms)", [](const SimulationSummary& s) { return s.ttft.p90; }, 1e3, "%.1f",
         &LatencyErrors::ttft_p90},
        {"TTFT P99 (ms)", [](const SimulationSummary& s) { return s.ttft.p99; }, 1e3, "%.1f",
         &LatencyErrors::ttft_p99},
        {"TPOT P50 (ms)", [](const SimulationSummary& s) { return s.tpot.p50; }, 1e3, "%.2f",
         &LatencyErrors::tpot_p50},
        {"TPOT P90 (ms)", [](const SimulationSummary& s) { return s.tpot.p90; }, 1e3, "%.2f",
         &LatencyErrors::tpot_p90},
        {"TPOT P99 (ms)", [](const SimulationSummary& s) { return s.tpot.p99; }, 1e3, "%.2f",
         &LatencyErrors::tpot_p99},
        {"throughput (req/s)", [](const SimulationSummary& s) { return s.throughput_rps; }, 1,
         "%.2f"},
        {"output tokens/s", [](const SimulationSummary& s) { return s.output_tokens_per_s; }, 1,
         "%.0f"},
        {"SLO attainment", [](const SimulationSummary& s) { return s.slo_attainment; }, 1, "%.3f"},
    };
    for (const Row& r : rows) {
      const double real = r.get(c.measured);
      out += "| ";
      out += r.label;
      out += " | ";
      out += fmt(r.format, real * r.scale);
      out += " |";
      for (const ModelComparison& m : c.models) {
        const double sim = r.get(m.simulated);
        out += " ";
        out += fmt(r.format, sim * r.scale);
        out += " | ";
        out += pct(relative(sim, real));
        if (r.paired && (m.latency.*r.paired).requests > 0)
          put(out,
              {" [", pct((m.latency.*r.paired).low), ", ", pct((m.latency.*r.paired).high), "]"});
        out += " |";
      }
      out += "\n";
    }
    out +=
        "\n[low, high]: the error's 90% interval over bootstrap resamples of the requests scored "
        "in both (paired by request): where it holds 0, sampling alone could give the error.\n";
    out +=
        "\nWhere the step time goes: mean ms per step, measured vs predicted (kernel terms over "
        "the steps with a breakdown; the simulator's attention includes its projection GEMMs)\n\n";
    out += "| term | measured |";
    for (const ModelComparison& m : c.models) out += " " + m.model + " |";
    out += "\n|---|---|";
    for (size_t i = 0; i < c.models.size(); ++i) out += "---|";
    out += "\n";
    if (!c.models.empty())
      for (size_t t = 0; t < c.models[0].terms.size(); ++t) {
        put(out, {"| ", c.models[0].terms[t].term, " | ",
                  t < 3 && c.breakdown_steps == 0 ? std::string("-")
                                                  : fmt("%.3f", c.models[0].terms[t].measured_ms),
                  " |"});
        for (const ModelComparison& m : c.models)
          put(out, {" ", fmt("%.3f", m.terms[t].predicted_ms), " |"});
        out += "\n";
      }
    bool bands = false;
    for (const ModelComparison& m : c.models) bands = bands || !m.decode_ffn.empty();
    if (bands) {
      out +=
          "\nFFN of the decode-only steps with a breakdown, predicted / measured by decode count "
          "(median, [least, most], steps; engine terms price most of a decode step's FFN in their "
          "expert and wave terms, not in this one: read the kernel models' rows):";
      for (const ModelComparison& m : c.models) {
        put(out, {"\n- ", m.model, ":"});
        for (const DecodeBand& b : m.decode_ffn) {
          const std::string range = b.hi > 0 ? fmt("%.0f", static_cast<double>(b.lo)) + "-" +
                                                   fmt("%.0f", static_cast<double>(b.hi))
                                             : fmt("%.0f+", static_cast<double>(b.lo));
          put(out, {" ", range, " ", fmt("%.2f", b.median), " [", fmt("%.2f", b.low), ", ",
                    fmt("%.2f", b.high), "] (", std::to_string(b.steps), ");"});
        }
      }
      out += "\n";
    }
    out += "\nThe difference is carried by:";
    for (const ModelComparison& m : c.models) put(out, {" ", m.model, ": ", m.carrier, ";"});
    out += "\n\n";
  }
  return out;
}

std::string comparison_json(const std::vector<CaseComparison>& cases) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  auto summary = [](const SimulationSummary& s) {
    return nlohmann::ordered_json{
        {"ttft_s", {{"p50", s.ttft.p50}, {"p90", s.ttft.p90}, {"p99", s.ttft.p99}}},
        {"tpot_s", {{"p50", s.tpot.p50}, {"p90", s.tpot.p90}, {"p99", s.tpot.p99}}},
        {"throughput_rps", s.throughput_rps},
        {"output_tokens_per_s", s.output_tokens_per_s},
        {"slo_attainment", s.slo_attainment},
        {"finished", s.requests_finished},
        {"preemptions", s.preemptions}};
  };
  for (const CaseComparison& c : cases) {
    nlohmann::ordered_json j;
    j["case"] = c.name;
    j["engine"] = c.engine;
    j["steps"] = c.steps;
    j["breakdown_steps"] = c.breakdown_steps;
    j["measured"] = summary(c.measured);
    if (c.pd)
      j["pd"] = {{"placement", c.placement},   {"simulated_placement", c.simulated_placement},
                 {"transfers", c.transfers},   {"kv_wait_ms", c.kv_wait_ms},
                 {"kv_copy_ms", c.kv_copy_ms}, {"kv_copy_gpu_ms", c.kv_copy_gpu_ms},
                 {"ready_ms", c.ready_ms},     {"shared_steps", c.shared_steps}};
    for (const ModelComparison& m : c.models) {
      nlohmann::ordered_json mj;
      mj["source"] = m.source;
      mj["step_gpu"] = {
          {"median", m.step_gpu.median}, {"p95", m.step_gpu.p95}, {"bias", m.step_gpu.bias}};
      mj["step_served"] = {{"median", m.step_served.median}, {"p95", m.step_served.p95}};
      mj["step_period"] = {{"median", m.step_period.median},
                           {"p95", m.step_period.p95},
                           {"bias", m.step_period.bias}};
      mj["simulated"] = summary(m.simulated);
      auto paired = [](const PercentileError& e) {
        return nlohmann::ordered_json{
            {"error", e.error}, {"low", e.low}, {"high", e.high}, {"requests", e.requests}};
      };
      const LatencyErrors& l = m.latency;
      mj["paired_errors"] = {
          {"ttft",
           {{"p50", paired(l.ttft_p50)}, {"p90", paired(l.ttft_p90)}, {"p99", paired(l.ttft_p99)}}},
          {"tpot",
           {{"p50", paired(l.tpot_p50)},
            {"p90", paired(l.tpot_p90)},
            {"p99", paired(l.tpot_p99)}}}};
      mj["carrier"] = m.carrier;
      if (c.pd) {
        auto err = [](const RelativeError& e) {
          return nlohmann::ordered_json{
              {"median", e.median}, {"p95", e.p95}, {"bias", e.bias}, {"steps", e.count}};
        };
        mj["step_prefill"] = err(m.step_prefill);
        mj["step_decode"] = err(m.step_decode);
        mj["step_alone"] = err(m.step_alone);
        mj["step_shared"] = err(m.step_shared);
        mj["simulated_kv_transfer_ms"] = m.simulated.kv_transfer_mean_s * 1e3;
      }
      j["models"][m.model] = mj;
    }
    all.push_back(j);
  }
  return nlohmann::ordered_json{
             {"kind", "quadrant-engine-comparison"}, {"schema_version", 1}, {"cases", all}}
             .dump(2) +
         "\n";
}

std::string step_errors_csv(const CaseComparison& c, const EngineRun& run) {
  static const char* kParts[] = {"attention", "gemm", "ffn", "other"};
  std::string out = "step,prefill_seqs,prefill_tokens,decode_seqs,decode_context,eager,measured_ns";
  for (const ModelComparison& m : c.models) put(out, {",", m.model, "_ns"});
  for (const char* p : kParts) put(out, {",measured_", p, "_ns"});
  for (const ModelComparison& m : c.models)
    put(out, {",", m.model, "_attention_ns,", m.model, "_ffn_ns"});
  out += "\n";
  for (size_t i = 0; i < run.steps.size(); ++i) {
    const StepRecord& s = run.steps[i];
    put(out, {std::to_string(s.index), ",", std::to_string(s.prefill.size()), ",",
              std::to_string(s.prefill_tokens()), ",", std::to_string(s.decode_seqs), ",",
              std::to_string(s.decode_context), ",", s.parts_ns.empty() ? "0" : "1", ",",
              fmt("%.0f", c.measured_ns[i])});
    for (const ModelComparison& m : c.models) put(out, {",", fmt("%.0f", m.predicted_ns[i])});
    for (const char* p : kParts)
      put(out, {",", s.parts_ns.empty() ? std::string() : std::to_string(part(s, p))});
    for (const ModelComparison& m : c.models)
      put(out, {",", fmt("%.0f", m.attention_ns[i]), ",", fmt("%.0f", m.ffn_ns[i])});
    out += "\n";
  }
  return out;
}

}  // namespace quadrant::engine
