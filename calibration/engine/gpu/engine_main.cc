// quadrant-engine: the serving engine of issue 11 on one GPU. The scheduler
// (calibration/engine/driver.h, the simulator's serving rules) drives the GPU executor
// (gpu_step_executor.h: the model's real layers on the quadrant kernels).
//
//   quadrant-engine check --scenario S --format w4a8            end-to-end consistency
//   quadrant-engine bench --scenario S --format bf16 --out DIR   fixed compositions
//   quadrant-engine serve --scenario S --format bf16 --out DIR   serve the workload, log it
//   quadrant-engine serve-pd --case C --out DIR [--prefill-device 0 --decode-device 1]
//                                                                 the PD pair (pd_driver.h)
//   quadrant-engine check-pd --scenario S [--prefill-device 0 --decode-device 1]
//                                           the pair's greedy tokens == the colocated engine's
//
// The scenario gives the model, the colocated pool's batch limits and the workload; the
// format is the MoE FFN's (bf16, fp8, w4a8). Exit status: 0 on success; 1 when a check
// fails or a run stops early (the logs it has are written); 2 on bad input.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#if QUADRANT_ENGINE_HAVE_DRIVER
#include <map>
#include <mutex>

#include "calibration/engine/driver.h"
#include "calibration/engine/pd_driver.h"
#include "calibration/engine/run_log.h"
#endif
#include "calibration/engine/gpu/consistency.h"
#include "calibration/engine/gpu/gpu_step_executor.h"
#include "calibration/engine/gpu/step_bench.h"
#include "sim/core/error.h"
#include "sim/io/scenario_io.h"
#include "sim/metrics/metrics.h"

namespace qe = quadrant::engine;
namespace qg = quadrant::engine::gpu;
using quadrant::Scenario;

namespace {

struct CommonArgs {
  std::string scenario;
  std::string format;  // empty: the scenario model's weight precision
  std::string qk_norm = "auto";
  uint64_t seed = 1;
  int layers = 0;
  int max_model_len = 0;
  double kv_fraction = 0.9;
  bool no_graphs = false;
  int device = -1;
};

void add_common(CLI::App* app, CommonArgs& a) {
  app->add_option("--scenario", a.scenario, "scenario: model, colocated limits, workload");
  app->add_option(
      "--format", a.format,
      "MoE FFN format: bf16, fp8, w4a8 (default: the scenario model's weight precision)");
  app->add_option("--qk-norm", a.qk_norm, "per-head q/k RMSNorm: auto (Qwen3 models), on, off");
  app->add_option("--seed", a.seed, "weights and prompt tokens");
  app->add_option("--layers", a.layers, "run only the first N layers (0: all)");
  app->add_option("--max-model-len", a.max_model_len, "longest sequence (0: from the workload)");
  app->add_option("--kv-fraction", a.kv_fraction, "share of the memory left for the KV cache");
  app->add_flag("--no-graphs", a.no_graphs, "decode steps eagerly too");
  app->add_option("--device", a.device, "CUDA device (default: the current one)");
}

qg::GpuEngineOptions options_for(const Scenario& sc, const CommonArgs& a, int64_t longest,
                                 const quadrant::PoolSpec* pool = nullptr) {
  qg::GpuEngineOptions o;
  if (!pool) pool = &sc.serving.colocated;
  o.ffn_format = qg::parse_ffn_format(
      a.format.empty() ? quadrant::to_string(sc.model.precision.weights) : a.format);
  o.seed = a.seed;
  o.block_tokens = sc.serving.kv_block_size;
  o.max_step_tokens = int32_t(pool->max_batch_tokens);
  o.max_decode_seqs = pool->max_batch_size;
  const int64_t len = a.max_model_len > 0 ? a.max_model_len : std::max<int64_t>(4096, longest);
  o.max_model_len = int32_t((len + 1023) / 1024 * 1024);
  o.kv_memory_fraction = a.kv_fraction;
  o.use_graphs = !a.no_graphs;
  o.num_layers = a.layers;
  o.device = a.device;
  if (a.qk_norm == "auto")
    o.qk_norm = sc.model.name.rfind("Qwen3", 0) == 0;
  else if (a.qk_norm == "on" || a.qk_norm == "off")
    o.qk_norm = a.qk_norm == "on";
  else
    throw std::invalid_argument("--qk-norm: expected auto, on or off, got '" + a.qk_norm + "'");
  return o;
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

// Prints the consistency checks; false when one fails.
bool report_checks(qg::GpuStepExecutor& ex, qg::FfnFormat format, int prompt_len, uint64_t seed) {
  const auto results = qg::run_consistency_checks(ex, format, prompt_len, seed);
  bool ok = true;
  for (const auto& r : results) {
    std::printf("%-40s rel %.3e  max|d| %.3e  tol %.2e  same token %s  %s\n", r.name.c_str(),
                r.rel_error, r.max_abs, r.tolerance, r.same_token ? "yes" : "no",
                r.passed() ? "PASS" : "FAIL");
    ok = ok && r.passed();
  }
  return ok;
}

// The checks on an executor of their own, with pinned routing (consistency.h).
bool pinned_checks(const Scenario& sc, const CommonArgs& a, int prompt_len) {
  qg::GpuEngineOptions o = options_for(sc, a, 4096);
  o.pinned_routing = true;
  qg::GpuStepExecutor ex(sc.model, o);
  std::printf("%s\n", ex.describe().c_str());
  return report_checks(ex, o.ffn_format, prompt_len, a.seed);
}

// The same checks with routing by the router's logits: information (not batch-invariant).
void free_routing_checks(qg::GpuStepExecutor& ex, qg::FfnFormat format, int prompt_len,
                         uint64_t seed) {
  std::printf("the same checks with routing by logits (not batch-invariant; not a pass/fail):\n");
  report_checks(ex, format, prompt_len, seed);
}

void require_scenario(const CommonArgs& a) {
  if (a.scenario.empty()) throw std::invalid_argument("--scenario is required");
}

int run_check(const CommonArgs& a, int prompt_len, bool also_free) {
  require_scenario(a);
  const Scenario sc = quadrant::load_scenario(a.scenario);
  const bool ok = pinned_checks(sc, a, prompt_len);
  if (also_free) {
    const qg::GpuEngineOptions o = options_for(sc, a, 4096);
    qg::GpuStepExecutor ex(sc.model, o);
    free_routing_checks(ex, o.ffn_format, prompt_len, a.seed);
  }
  return ok ? 0 : 1;
}

int run_bench(const CommonArgs& a, const std::string& out, int reps, bool check, int prompt_len) {
  require_scenario(a);
  const Scenario sc = quadrant::load_scenario(a.scenario);
  const bool checks_ok = !check || pinned_checks(sc, a, prompt_len);
  qg::GpuEngineOptions o = options_for(sc, a, 16384 + 512);
  qg::GpuStepExecutor ex(sc.model, o);
  std::printf("%s\n", ex.describe().c_str());
  if (check) free_routing_checks(ex, o.ffn_format, prompt_len, a.seed);
  const auto comps = qg::default_compositions(ex.capacity(), o.max_model_len);
  const auto timings = qg::run_step_bench(ex, comps, reps, a.seed);
  for (const auto& t : timings)
    std::printf("%-32s gpu %9.1f us (min %9.1f max %9.1f) wall %9.1f us%s\n", t.c.name().c_str(),
                t.gpu_us_median, t.gpu_us_min, t.gpu_us_max, t.wall_us_median,
                t.graph ? " graph" : "");
  const double in = sc.workload.input_length.mean(), outl = sc.workload.output_length.mean();
  const auto cap = qg::estimate_capacity(timings, ex.capacity(), in, outl);
  std::printf("capacity estimate (mean input %.0f, output %.0f): %s\n", in, outl,
              cap.describe().c_str());
  if (!out.empty()) {
    std::filesystem::create_directories(out);
    write_file(out + "/bench.csv", qg::bench_csv(timings));
    write_file(out + "/bench.txt", ex.describe() + "\ncapacity estimate (mean input " +
                                       std::to_string(in) + ", output " + std::to_string(outl) +
                                       "): " + cap.describe() + "\n");
  }
  return checks_ok ? 0 : 1;
}

#if QUADRANT_ENGINE_HAVE_DRIVER
struct ServeArgs {
  std::string out;
  std::vector<std::string> cases;  // case folders (scenario.json inside): one executor for all
  std::string gpu;
  double rate = 0;
  double time_scale = 0;
  int64_t max_requests = -1;
  double duration_s = 0;
  double drain_limit_s = 120;
  int breakdown_every = 25;
};

struct ServeJob {
  std::string scenario_path;  // as given
  std::string recorded;       // what run.json records (relative to the log folder for cases)
  std::string out;            // log folder
  Scenario sc;
  std::vector<quadrant::TraceRecord> requests;
};

// Every job must be served by the same executor: one model, format and set of limits.
void require_same_engine(const ServeJob& first, const ServeJob& job, const CommonArgs& a) {
  const auto& p = first.sc.serving.colocated;
  const auto& q = job.sc.serving.colocated;
  const bool same =
      first.sc.model.name == job.sc.model.name &&
      first.sc.model.num_layers == job.sc.model.num_layers &&
      (!a.format.empty() || first.sc.model.precision.weights == job.sc.model.precision.weights) &&
      p.max_batch_size == q.max_batch_size && p.max_batch_tokens == q.max_batch_tokens &&
      first.sc.serving.kv_block_size == job.sc.serving.kv_block_size;
  if (!same)
    throw std::invalid_argument(job.scenario_path + ": model, FFN format or limits differ from " +
                                first.scenario_path +
                                " (one executor serves every case of a call)");
}

int run_serve(const CommonArgs& a, const ServeArgs& s) {
  std::vector<ServeJob> jobs;
  auto add = [&](const std::string& path, const std::string& recorded, const std::string& out) {
    ServeJob j;
    j.scenario_path = path;
    j.recorded = recorded;
    j.out = out;
    j.sc = quadrant::load_scenario(path);
    auto& w = j.sc.workload;
    if (s.rate > 0) w.arrival.rate_per_s = s.rate;
    if (s.time_scale > 0) w.arrival.trace_time_scale = s.time_scale;
    if (s.max_requests >= 0) w.max_requests = s.max_requests;
    if (s.duration_s > 0) w.duration = quadrant::Duration::seconds(s.duration_s);
    j.requests = qe::engine_requests(w, j.sc.seed);
    jobs.push_back(std::move(j));
  };
  if (!a.scenario.empty()) add(a.scenario, a.scenario, s.out);
  for (const std::string& dir : s.cases) {
    const std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
    add(dir + "/scenario.json", "scenario.json", s.out + "/" + name);
  }
  if (jobs.empty()) throw std::invalid_argument("serve: give --scenario or --case");
  int64_t longest = 0;
  for (const ServeJob& j : jobs) {
    require_same_engine(jobs.front(), j, a);
    for (const auto& r : j.requests)
      longest = std::max<int64_t>(longest, int64_t(r.input_tokens) + r.output_tokens);
  }
  qg::GpuEngineOptions o = options_for(jobs.front().sc, a, longest);
  o.breakdown_every = s.breakdown_every;
  qg::GpuStepExecutor ex(jobs.front().sc.model, o);
  std::printf("%s\nlongest request %lld tokens\n", ex.describe().c_str(),
              static_cast<long long>(longest));
  int status = 0;
  for (const ServeJob& j : jobs) {
    qe::WallClock clock;
    qe::EngineOptions eo;
    eo.drain_limit = quadrant::Duration::seconds(s.drain_limit_s);
    eo.scenario = j.recorded;
    eo.gpu = s.gpu.empty() ? j.sc.serving.colocated.gpu : s.gpu;
    eo.seed = a.seed;
    eo.on_step = [](const qe::StepRecord& r) {
      if (r.index % 1000 == 0)
        std::printf("  step %lld: %lld prefill tokens, %d decode, gpu %.2f ms\n",
                    static_cast<long long>(r.index), static_cast<long long>(r.prefill_tokens()),
                    r.decode_seqs, double(r.gpu_ns) / 1e6);
    };
    const int64_t graphs_before = ex.graph_steps();
    qe::EngineRun run = qe::run_engine(j.sc, j.requests, ex, clock, eo);
    qe::write_run_log(run, j.out);
    std::printf(
        "%s: %zu requests, %zu steps (%lld graph replays), %lld finished, %lld "
        "unfinished, %lld rejected, %lld preemptions%s%s\n",
        j.scenario_path.c_str(), j.requests.size(), run.steps.size(),
        static_cast<long long>(ex.graph_steps() - graphs_before),
        static_cast<long long>(run.count(qe::RequestStatus::kFinished)),
        static_cast<long long>(run.count(qe::RequestStatus::kUnfinished)),
        static_cast<long long>(run.count(qe::RequestStatus::kRejected)),
        static_cast<long long>(run.meta.preemptions),
        run.meta.error.empty() ? "" : "; error: ", run.meta.error.c_str());
    std::fflush(stdout);
    if (!run.meta.error.empty()) {
      status = 1;
      break;  // after a CUDA error the device is not usable: stop with this case's log written
    }
  }
  return status;
}

// Capacity search: the case's workload at increasing Poisson rates on one executor; a rate
// passes when every request finished and TTFT and TPOT at the SLO's percentiles meet the
// SLO. Stops after the first rate that fails; the capacity is the largest passing rate.
struct CapacityArgs {
  std::string case_dir, out;
  std::vector<double> rates;
  double duration_s = 15;
  double drain_limit_s = 30;
};

int run_capacity(const CommonArgs& a, const CapacityArgs& c) {
  if (c.rates.empty()) throw std::invalid_argument("capacity: give --rates");
  const std::string name = std::filesystem::path(c.case_dir).lexically_normal().filename().string();
  Scenario sc = quadrant::load_scenario(c.case_dir + "/scenario.json");
  if (sc.workload.arrival.process != quadrant::ArrivalProcess::kPoisson)
    throw std::invalid_argument("capacity: " + c.case_dir + " has no Poisson arrivals");
  sc.workload.duration = quadrant::Duration::seconds(c.duration_s);
  sc.workload.max_requests = 0;
  int64_t longest = 0;
  std::vector<std::vector<quadrant::TraceRecord>> requests;
  for (double rate : c.rates) {
    sc.workload.arrival.rate_per_s = rate;
    requests.push_back(qe::engine_requests(sc.workload, sc.seed));
    for (const auto& r : requests.back())
      longest = std::max<int64_t>(longest, int64_t(r.input_tokens) + r.output_tokens);
  }
  qg::GpuStepExecutor ex(sc.model, options_for(sc, a, longest));
  std::printf("%s\nSLO: TTFT P%.0f <= %.0f ms, TPOT P%.0f <= %.0f ms\n", ex.describe().c_str(),
              sc.slo.ttft_percentile, sc.slo.ttft.to_millis(), sc.slo.tpot_percentile,
              sc.slo.tpot.to_millis());
  std::filesystem::create_directories(c.out);
  std::string table = "rate_per_s,requests,finished,ttft_ms,tpot_ms,pass\n";
  double capacity = 0;
  for (size_t i = 0; i < c.rates.size(); ++i) {
    qe::WallClock clock;
    qe::EngineOptions eo;
    eo.drain_limit = quadrant::Duration::seconds(c.drain_limit_s);
    eo.scenario = "../../../../cases/" + name + "/scenario.json";
    eo.gpu = sc.serving.colocated.gpu;
    eo.seed = a.seed;
    qe::EngineRun run = qe::run_engine(sc, requests[i], ex, clock, eo);
    std::ostringstream dir;
    dir << c.out << "/" << name << "-rate" << c.rates[i];
    qe::write_run_log(run, dir.str());
    std::vector<float> ttft, tpot;
    for (const qe::RequestLog& r : run.requests) {
      if (r.status != qe::RequestStatus::kFinished) continue;
      ttft.push_back(float((r.first_token - r.arrival).to_seconds()));
      if (r.output_tokens > 1)
        tpot.push_back(float((r.finish - r.first_token).to_seconds() / (r.output_tokens - 1)));
    }
    const int64_t finished = run.count(qe::RequestStatus::kFinished);
    const double ttft_ms =
        1e3 * quadrant::percentiles(ttft, sc.slo.ttft_percentile).at(sc.slo.ttft_percentile);
    const double tpot_ms =
        1e3 * quadrant::percentiles(tpot, sc.slo.tpot_percentile).at(sc.slo.tpot_percentile);
    const bool pass = run.meta.error.empty() && finished == int64_t(requests[i].size()) &&
                      ttft_ms <= sc.slo.ttft.to_millis() && tpot_ms <= sc.slo.tpot.to_millis();
    std::ostringstream row;
    row << c.rates[i] << ',' << requests[i].size() << ',' << finished << ',' << ttft_ms << ','
        << tpot_ms << ',' << (pass ? 1 : 0) << '\n';
    table += row.str();
    std::printf(
        "rate %.2f/s: %zu requests, %lld finished, TTFT P%.0f %.1f ms, TPOT P%.0f %.2f ms: %s\n",
        c.rates[i], requests[i].size(), static_cast<long long>(finished), sc.slo.ttft_percentile,
        ttft_ms, sc.slo.tpot_percentile, tpot_ms, pass ? "meets the SLO" : "misses the SLO");
    std::fflush(stdout);
    if (!run.meta.error.empty()) return 1;
    if (!pass) break;
    capacity = c.rates[i];
  }
  write_file(c.out + "/" + name + "-capacity.csv", table);
  std::printf("measured capacity: %.2f requests/s (largest rate tried that met the SLO)\n",
              capacity);
  return 0;
}

// ---- the PD pair (issue 11, deliverable 6) ----------------------------------------------
struct PdArgs {
  int prefill_device = 0, decode_device = 0;
  double prefill_kv_fraction = 0;  // 0: 0.4 when both share a device, else --kv-fraction
};

void add_pd(CLI::App* app, PdArgs& p) {
  app->add_option("--prefill-device", p.prefill_device, "CUDA device of the prefill instance");
  app->add_option("--decode-device", p.decode_device, "CUDA device of the decode instance");
  app->add_option("--prefill-kv-fraction", p.prefill_kv_fraction,
                  "share of the memory left for the prefill instance's KV cache (default 0.4 "
                  "when both instances share a device: the decode instance is made after it)");
}

std::string placement(const PdArgs& p) {
  if (p.prefill_device == p.decode_device)
    return "both instances on device " + std::to_string(p.prefill_device) +
           " (one GPU): their steps share it (two host threads, two CUDA streams: a prefill "
           "step's and a decode step's kernels may run at once), the KV copies are "
           "device-to-device in its memory: NOT the two-GPU result";
  return "prefill on device " + std::to_string(p.prefill_device) + ", decode on device " +
         std::to_string(p.decode_device) +
         "; the KV copied by a kernel on the decode GPU reading the prefill GPU over NVLink "
         "(peer access)";
}

// The two executors of a PD pair, on their devices, each with its pool's limits.
struct PdPair {
  std::unique_ptr<qg::GpuStepExecutor> prefill, decode;
};

PdPair make_pair(const Scenario& sc, const CommonArgs& a, const PdArgs& p, int64_t longest,
                 bool pinned) {
  (void)qe::pd_limits(sc);  // a disaggregated scenario with one TP1 instance per pool
  CommonArgs pa = a, da = a;
  pa.device = p.prefill_device;
  pa.no_graphs = true;  // the prefill instance never decodes
  pa.kv_fraction = p.prefill_kv_fraction > 0             ? p.prefill_kv_fraction
                   : p.prefill_device == p.decode_device ? 0.4
                                                         : a.kv_fraction;
  da.device = p.decode_device;
  qg::GpuEngineOptions po = options_for(sc, pa, longest, &sc.serving.prefill);
  po.max_decode_seqs = 1;
  qg::GpuEngineOptions dopt = options_for(sc, da, longest, &sc.serving.decode);
  po.pinned_routing = dopt.pinned_routing = pinned;
  PdPair pair;
  pair.prefill = std::make_unique<qg::GpuStepExecutor>(sc.model, po);
  pair.decode = std::make_unique<qg::GpuStepExecutor>(sc.model, dopt);
  return pair;
}

// The KV of a sequence from the prefill executor into the decode executor's blocks
// (GpuStepExecutor::transfer_kv: one kernel on the decode GPU), then the decode executor
// continues from the first token the prefill sampled.
class GpuKvLink : public qe::KvLink {
 public:
  GpuKvLink(qg::GpuStepExecutor& p, qg::GpuStepExecutor& d) : p_(p), d_(d) {}
  // On the prefill thread, after each prefill step: the first tokens it sampled.
  void prefilled(const qe::StepPlan& plan) {
    const std::vector<int32_t>& tokens = p_.sampled_tokens();
    std::lock_guard<std::mutex> g(mu_);
    size_t i = 0;
    for (const qe::PrefillChunk& c : plan.prefill)
      if (c.last) first_[c.seq] = tokens.at(i++);
  }
  qe::StepTiming transfer(uint64_t seq, const std::vector<int32_t>& src,
                          const std::vector<int32_t>& dst, int32_t tokens) override {
    int32_t first = 0;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = first_.find(seq);
      if (it == first_.end())
        throw std::logic_error("KV link: no first token for sequence " + std::to_string(seq));
      first = it->second;
      first_.erase(it);
    }
    const qe::StepTiming t = p_.transfer_kv(d_, src, dst, tokens);
    d_.assume_prefilled(seq, first);
    return t;
  }
  std::string describe() const override {
    return p_.device() == d_.device()
               ? "kv_copy_blocks on device " + std::to_string(d_.device()) +
                     " (device-to-device, one GPU), every layer's K and V blocks"
               : "kv_copy_blocks on device " + std::to_string(d_.device()) + " reading device " +
                     std::to_string(p_.device()) + " over NVLink (peer access)";
  }

 private:
  qg::GpuStepExecutor& p_;
  qg::GpuStepExecutor& d_;
  std::mutex mu_;
  std::map<uint64_t, int32_t> first_;
};

// Every sampled token of every sequence, in order (a prefill chunk that ends its prompt
// samples the first; each decode step the next).
class RecordingExecutor : public qe::StepExecutor {
 public:
  RecordingExecutor(qg::GpuStepExecutor& inner, std::map<uint64_t, std::vector<int32_t>>& tokens)
      : inner_(inner), tokens_(tokens) {}
  qe::ExecutorCapacity capacity() const override { return inner_.capacity(); }
  qe::StepTiming execute(const qe::StepPlan& plan) override {
    const qe::StepTiming t = inner_.execute(plan);
    const std::vector<int32_t>& s = inner_.sampled_tokens();
    size_t i = 0;
    for (const qe::PrefillChunk& c : plan.prefill)
      if (c.last) tokens_[c.seq].push_back(s.at(i++));
    for (const qe::DecodeSeq& d : plan.decode) tokens_[d.seq].push_back(s.at(i++));
    return t;
  }
  void release(uint64_t seq) override { inner_.release(seq); }
  std::string describe() const override { return inner_.describe(); }

 private:
  qg::GpuStepExecutor& inner_;
  std::map<uint64_t, std::vector<int32_t>>& tokens_;
};

// The PD pair's correctness on the device(s): the greedy tokens of every request served
// by the pair equal those of the colocated engine (one executor), routing pinned (the
// router's logits are not batch-invariant: consistency.h). Isolated requests (each
// arrives after the previous one finished) run the same step shapes on both sides: their
// tokens must be identical. Requests arriving together batch differently on the two
// sides: how many agree is printed (information, not pass/fail).
int run_check_pd(const CommonArgs& a, const PdArgs& p, int64_t chunk) {
  require_scenario(a);
  const Scenario sc = quadrant::load_scenario(a.scenario);
  qe::PdLimits limits = qe::pd_limits(sc);
  limits.prefill.chunk_size = limits.decode.chunk_size = chunk;
  const qe::EngineLimits colocated{limits.decode.max_batch_size, limits.decode.max_batch_tokens,
                                   chunk};
  const std::vector<std::pair<int32_t, int32_t>> shapes = {
      {37, 1}, {160, 5}, {300, 12}, {517, 9}, {1000, 20}, {64, 33}, {777, 16}};
  auto requests = [&](bool isolated) {
    std::vector<quadrant::TraceRecord> r;
    for (size_t i = 0; i < shapes.size(); ++i)
      r.push_back({quadrant::SimTime::from_ns(isolated ? int64_t(i) * 1'000'000'000'000 : 0),
                   shapes[i].first, shapes[i].second});
    return r;
  };
  using Tokens = std::map<uint64_t, std::vector<int32_t>>;
  Tokens co[2], pd[2];
  int64_t longest = 0;
  for (const auto& [in, out] : shapes) longest = std::max<int64_t>(longest, in + out);
  {
    CommonArgs ca = a;
    ca.device = p.decode_device;
    qg::GpuEngineOptions o = options_for(sc, ca, longest, &sc.serving.decode);
    o.pinned_routing = true;
    qg::GpuStepExecutor ex(sc.model, o);
    std::printf("colocated reference: %s\n", ex.describe().c_str());
    for (int k = 0; k < 2; ++k) {
      RecordingExecutor rec(ex, co[k]);
      qe::VirtualClock clock;
      const qe::EngineRun run = qe::run_engine(requests(k == 0), colocated, rec, clock, {});
      if (!run.meta.error.empty()) throw std::runtime_error("colocated: " + run.meta.error);
    }
  }
  PdPair pair = make_pair(sc, a, p, longest, /*pinned=*/true);
  std::printf("PD pair: %s\n  prefill: %s\n  decode: %s\n", placement(p).c_str(),
              pair.prefill->describe().c_str(), pair.decode->describe().c_str());
  GpuKvLink link(*pair.prefill, *pair.decode);
  int64_t copies = 0;
  for (int k = 0; k < 2; ++k) {
    RecordingExecutor rp(*pair.prefill, pd[k]), rd(*pair.decode, pd[k]);
    qe::PdOptions o;
    o.after_prefill_step = [&](const qe::StepPlan& plan) { link.prefilled(plan); };
    const qe::EngineRun run = qe::run_pd_virtual(requests(k == 0), limits, {rp, rd, link}, o);
    if (!run.meta.error.empty()) throw std::runtime_error("PD pair: " + run.meta.error);
    copies += run.meta.pd.transfers;
    for (const qe::RequestLog& r : run.requests)
      if (r.kv_copy_gpu_ns > 0)
        std::printf("  %s request %llu: %d prompt tokens copied in %.1f us (CUDA events)\n",
                    k == 0 ? "isolated" : "together", static_cast<unsigned long long>(r.id),
                    r.input_tokens, double(r.kv_copy_gpu_ns) / 1e3);
  }
  bool ok = copies > 0;
  for (int k = 0; k < 2; ++k) {
    int same = 0;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const std::vector<int32_t>& x = co[k][i];
      const std::vector<int32_t>& y = pd[k][i];
      const bool eq = x == y && int(x.size()) == shapes[i].second;
      same += eq;
      size_t first_diff = 0;
      while (first_diff < std::min(x.size(), y.size()) && x[first_diff] == y[first_diff])
        ++first_diff;
      std::printf(
          "%s request %zu (%d in, %d out): colocated %zu tokens, pair %zu tokens, %s\n",
          k == 0 ? "isolated" : "together", i, shapes[i].first, shapes[i].second, x.size(),
          y.size(),
          eq ? "identical" : ("first difference at token " + std::to_string(first_diff)).c_str());
    }
    std::printf("%s: %d of %zu requests' greedy tokens identical%s\n",
                k == 0 ? "isolated requests (pass/fail)" : "requests together (information)", same,
                shapes.size(), k == 0 ? (same == int(shapes.size()) ? ": PASS" : ": FAIL") : "");
    if (k == 0) ok = ok && same == int(shapes.size());
  }
  std::printf("PD pair check: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

// Serve a disaggregated case with the PD pair in real time: a thread per instance.
int run_serve_pd(const CommonArgs& a, const PdArgs& p, const ServeArgs& s) {
  if (s.cases.size() != 1) throw std::invalid_argument("serve-pd: give one --case");
  const std::string dir = s.cases.front();
  const std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
  Scenario sc = quadrant::load_scenario(dir + "/scenario.json");
  auto& w = sc.workload;
  if (s.rate > 0) w.arrival.rate_per_s = s.rate;
  if (s.time_scale > 0) w.arrival.trace_time_scale = s.time_scale;
  if (s.max_requests >= 0) w.max_requests = s.max_requests;
  if (s.duration_s > 0) w.duration = quadrant::Duration::seconds(s.duration_s);
  const std::vector<quadrant::TraceRecord> requests = qe::engine_requests(w, sc.seed);
  const qe::PdLimits limits = qe::pd_limits(sc);
  int64_t longest = 0;
  for (const auto& r : requests)
    longest = std::max<int64_t>(longest, int64_t(r.input_tokens) + r.output_tokens);
  PdPair pair = make_pair(sc, a, p, longest, /*pinned=*/false);
  pair.decode->set_breakdown_every(s.breakdown_every);
  pair.prefill->set_breakdown_every(s.breakdown_every);
  std::printf("PD pair: %s\n  prefill: %s\n  decode: %s\nlongest request %lld tokens\n",
              placement(p).c_str(), pair.prefill->describe().c_str(),
              pair.decode->describe().c_str(), static_cast<long long>(longest));
  GpuKvLink link(*pair.prefill, *pair.decode);
  qe::PdOptions o;
  o.engine.drain_limit = quadrant::Duration::seconds(s.drain_limit_s);
  o.engine.scenario = "scenario.json";
  o.engine.gpu = s.gpu.empty() ? sc.serving.prefill.gpu : s.gpu;
  o.engine.seed = a.seed;
  o.engine.on_step = [](const qe::StepRecord& r) {
    static int64_t n = 0;
    if (++n % 1000 == 0)
      std::printf("  %s step: %lld prefill tokens, %d decode, gpu %.2f ms\n", r.instance.c_str(),
                  static_cast<long long>(r.prefill_tokens()), r.decode_seqs,
                  double(r.gpu_ns) / 1e6);
  };
  o.placement = placement(p);
  o.after_prefill_step = [&](const qe::StepPlan& plan) { link.prefilled(plan); };
  qe::WallClock clock;
  const qe::EngineRun run =
      qe::run_pd_threads(requests, limits, {*pair.prefill, *pair.decode, link}, clock, o);
  const std::string out = s.out + "/" + name;
  qe::write_run_log(run, out);
  std::printf(
      "%s: %zu requests, %zu steps (%lld prefill, %lld decode; %lld graph replays), %lld KV "
      "copies, %lld finished, %lld unfinished, %lld rejected, %lld preemptions, blocks held at "
      "the end %lld/%lld%s%s\n",
      dir.c_str(), requests.size(), run.steps.size(),
      static_cast<long long>(run.meta.pd.prefill_steps),
      static_cast<long long>(int64_t(run.steps.size()) - run.meta.pd.prefill_steps),
      static_cast<long long>(pair.decode->graph_steps()),
      static_cast<long long>(run.meta.pd.transfers),
      static_cast<long long>(run.count(qe::RequestStatus::kFinished)),
      static_cast<long long>(run.count(qe::RequestStatus::kUnfinished)),
      static_cast<long long>(run.count(qe::RequestStatus::kRejected)),
      static_cast<long long>(run.meta.preemptions),
      static_cast<long long>(run.meta.pd.prefill_blocks_held),
      static_cast<long long>(run.meta.pd.decode_blocks_held),
      run.meta.error.empty() ? "" : "; error: ", run.meta.error.c_str());
  return run.meta.error.empty() ? 0 : 1;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quadrant-engine: a serving engine on the quadrant kernels (one GPU)"};
  app.require_subcommand(1);
  CommonArgs common;
  int prompt_len = 300, reps = 5;
  std::string bench_out;
#if QUADRANT_ENGINE_HAVE_DRIVER
  ServeArgs serve;
#endif

  CLI::App* check = app.add_subcommand(
      "check", "end-to-end consistency of the KV cache, chunking, paging, graphs");
  add_common(check, common);
  check->add_option("--prompt-len", prompt_len, "tokens of the checked prompt");
  bool also_free = false;
  check->add_flag("--also-free", also_free,
                  "then the same checks with routing by logits (information only)");
  CLI::App* bench =
      app.add_subcommand("bench", "step times of fixed batch compositions, capacity estimate");
  add_common(bench, common);
  bench->add_option("--out", bench_out, "folder for bench.csv and bench.txt");
  bench->add_option("--reps", reps, "timed runs per composition (after 2 warm-up runs)");
  bool bench_check = false;
  bench->add_flag("--check", bench_check, "run the consistency checks first (exit 1 if one fails)");
  bench->add_option("--prompt-len", prompt_len, "tokens of the checked prompt");
#if QUADRANT_ENGINE_HAVE_DRIVER
  CLI::App* srv = app.add_subcommand(
      "serve", "serve the scenario's workload in wall-clock time, write the run log");
  add_common(srv, common);
  srv->add_option("--case", serve.cases,
                  "case folder holding scenario.json (repeatable; its log goes to OUT/<name>)");
  srv->add_option("--out", serve.out,
                  "run log folder (run.json, steps.csv, requests.csv); with --case their parent")
      ->required();
  srv->add_option("--gpu", serve.gpu, "catalog key recorded in the log (default: the pool's)");
  srv->add_option("--rate", serve.rate, "Poisson arrival rate override, requests/s");
  srv->add_option("--time-scale", serve.time_scale, "trace time scale override (>1: slower)");
  srv->add_option("--max-requests", serve.max_requests, "request cap override");
  srv->add_option("--duration", serve.duration_s, "arrival window override, seconds");
  srv->add_option("--drain-limit", serve.drain_limit_s,
                  "seconds after the last arrival before giving up");
  srv->add_option("--breakdown-every", serve.breakdown_every,
                  "per-part events every Nth step (0: never)");
  CapacityArgs capacity;
  CLI::App* cap = app.add_subcommand(
      "capacity", "largest Poisson rate of a case's workload that meets its SLO (measured)");
  add_common(cap, common);
  cap->add_option("--case", capacity.case_dir, "case folder holding scenario.json")->required();
  cap->add_option("--rates", capacity.rates, "rates to try, ascending (requests/s)")
      ->delimiter(',')
      ->required();
  cap->add_option("--duration", capacity.duration_s, "arrival window per rate, seconds");
  cap->add_option("--drain-limit", capacity.drain_limit_s, "seconds after the last arrival");
  cap->add_option("--out", capacity.out, "folder for the logs and <case>-capacity.csv")->required();
  PdArgs pd;
  ServeArgs serve_pd;
  CLI::App* spd = app.add_subcommand(
      "serve-pd", "serve a disaggregated case with a prefill and a decode instance, log it");
  add_common(spd, common);
  add_pd(spd, pd);
  spd->add_option("--case", serve_pd.cases, "case folder holding a disaggregated scenario.json")
      ->required();
  spd->add_option("--out", serve_pd.out, "parent of the run log folder OUT/<name>")->required();
  spd->add_option("--gpu", serve_pd.gpu, "catalog key recorded in the log (default: the pool's)");
  spd->add_option("--rate", serve_pd.rate, "Poisson arrival rate override, requests/s");
  spd->add_option("--max-requests", serve_pd.max_requests, "request cap override");
  spd->add_option("--duration", serve_pd.duration_s, "arrival window override, seconds");
  spd->add_option("--drain-limit", serve_pd.drain_limit_s,
                  "seconds after the last arrival before giving up");
  spd->add_option("--breakdown-every", serve_pd.breakdown_every,
                  "per-part events every Nth step of each instance (0: never)");
  int64_t pd_chunk = 128;
  CLI::App* cpd = app.add_subcommand(
      "check-pd", "the PD pair's greedy tokens against the colocated engine's (pinned routing)");
  add_common(cpd, common);
  add_pd(cpd, pd);
  cpd->add_option("--chunk", pd_chunk, "prefill chunk size of the check (both sides)");
#endif
  CLI11_PARSE(app, argc, argv);

  try {
    if (*check) return run_check(common, prompt_len, also_free);
    if (*bench) return run_bench(common, bench_out, reps, bench_check, prompt_len);
#if QUADRANT_ENGINE_HAVE_DRIVER
    if (*cap) return run_capacity(common, capacity);
    if (*spd) return run_serve_pd(common, pd, serve_pd);
    if (*cpd) return run_check_pd(common, pd, pd_chunk);
    return run_serve(common, serve);
#else
    return 2;
#endif
  } catch (const quadrant::InputError& e) {
    std::fprintf(stderr, "quadrant-engine: %s\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "quadrant-engine: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quadrant-engine: %s\n", e.what());
    return 1;
  }
}
