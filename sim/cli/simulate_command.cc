// `quadrant simulate SCENARIO [--out DIR] [--trace FILE] [--seed N]`: one simulation
// run. Writes DIR/metrics.json (schema quadrant.metrics/1: the resolved scenario's
// summary, seed, git revision, cost provenance, request and instance metrics) and
// DIR/requests.csv (one line per request), and on request a Chrome trace-event JSON
// timeline that Perfetto and chrome://tracing open. DIR is written through io::OutputDir
// (sim/io/output_dir.h): only a new, empty or previous-output folder is accepted, and a
// failed or killed run leaves the previous outputs whole.
#include <unistd.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "reports/simulation_report.h"
#include "sim/cli/commands.h"
#include "sim/cli/cost_models.h"
#include "sim/core/error.h"
#include "sim/core/version.h"
#include "sim/engine/simulation.h"
#include "sim/io/output_dir.h"
#include "sim/io/result_json.h"
#include "sim/io/scenario_io.h"

namespace quadrant::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

constexpr const char* kMetricsSchema = "quadrant.metrics/1";

ordered_json scenario_json(const Scenario& s) {
  const WorkloadSpec& w = s.workload;
  ordered_json serving = {{"mode", to_string(s.serving.mode)}};
  if (s.serving.mode == ServingMode::kColocated) {
    serving["colocated"] = io::pool_json(s.serving.colocated, /*gpus_per_instance=*/true);
  } else {
    serving["prefill"] = io::pool_json(s.serving.prefill, /*gpus_per_instance=*/true);
    serving["decode"] = io::pool_json(s.serving.decode, /*gpus_per_instance=*/true);
  }
  serving["kv_block_size"] = s.serving.kv_block_size;
  serving["kv_transfer_layerwise"] = s.serving.kv_transfer_layerwise;
  serving["speculative"] = {{"enabled", s.serving.speculative.enabled},
                            {"draft_length", s.serving.speculative.draft_length},
                            {"acceptance_rate", s.serving.speculative.acceptance_rate}};
  serving["autoscaler"] = {{"enabled", s.serving.autoscaler.enabled}};
  return {{"name", s.name},
          {"file", s.file},
          {"model", s.model.name},
          {"workload",
           {{"arrival", to_string(w.arrival.process)},
            {"rate_per_s", w.arrival.rate_per_s},
            {"trace_file", w.arrival.trace_file},
            {"input_length", to_string(w.input_length.distribution)},
            {"input_length_mean", w.input_length.mean()},
            {"output_length", to_string(w.output_length.distribution)},
            {"output_length_mean", w.output_length.mean()},
            {"duration_s", w.duration.to_seconds()},
            {"warmup_s", w.warmup.to_seconds()},
            {"max_requests", w.max_requests}}},
          {"slo", {{"ttft_s", s.slo.ttft.to_seconds()}, {"tpot_s", s.slo.tpot.to_seconds()}}},
          {"serving", serving}};
}

ordered_json series_json(const std::vector<std::pair<double, double>>& s) {
  ordered_json a = ordered_json::array();
  for (const auto& [t, v] : s) a.push_back({t, v});
  return a;
}

ordered_json metrics_json(const Scenario& s, uint64_t seed, const SimulationResult& r,
                          const std::vector<std::string>& extrapolations) {
  const SimulationSummary& m = r.summary;
  ordered_json instances = ordered_json::array();
  for (const InstanceSummary& i : r.instances) {
    instances.push_back({{"name", i.name},
                         {"role", to_string(i.role)},
                         {"gpu", i.gpu},
                         {"gpus", i.gpus},
                         {"utilization", i.utilization},
                         {"steps", i.steps},
                         {"mean_batch_size", i.mean_batch_size},
                         {"mean_batch_tokens", i.mean_batch_tokens},
                         {"mean_kv_occupancy", i.mean_kv_occupancy},
                         {"peak_kv_occupancy", i.peak_kv_occupancy},
                         {"preemptions", i.preemptions},
                         {"kv_occupancy_series", series_json(i.kv_occupancy_series)},
                         {"batch_size_series", series_json(i.batch_size_series)}});
    if (i.ffn_gpus > 0)  // attention/FFN disaggregation only: other outputs keep their bytes
      instances.back()["af_disaggregated"] = {{"attention_gpus", i.gpus},
                                              {"attention_utilization", i.attention_utilization},
                                              {"ffn_gpu", i.ffn_gpu},
                                              {"ffn_gpus", i.ffn_gpus},
                                              {"ffn_utilization", i.ffn_utilization}};
  }
  ordered_json rejections = ordered_json::object();
  for (const auto& [reason, n] : m.rejections) rejections[reason] = n;
  ordered_json sources = ordered_json::object();
  for (const auto& [gpu, src] : m.cost_sources) sources[gpu] = src;
  ordered_json j = {
      {"schema_version", kMetricsSchema},
      {"git_revision", git_revision()},
      {"seed", seed},
      {"scenario", scenario_json(s)},
      {"cost_sources", sources},
      {"cost_extrapolations", extrapolations},
      {"requests",
       {{"arrived", m.requests_arrived},
        {"finished", m.requests_finished},
        {"rejected", m.requests_rejected},
        {"rejections", rejections},
        {"scored", m.requests_scored},
        {"input_tokens", m.input_tokens},
        {"output_tokens", m.output_tokens}}},
      {"ttft_s", io::percentiles_json(m.ttft)},
      {"tpot_s", io::percentiles_json(m.tpot)},
      {"e2e_s", io::percentiles_json(m.e2e)},
      {"queueing_s", io::percentiles_json(m.queueing)},
      {"slo_attainment", m.slo_attainment},
      {"goodput_rps", m.goodput_rps},
      {"throughput_rps", m.throughput_rps},
      {"output_tokens_per_s", m.output_tokens_per_s},
      {"duration_s", m.duration_s},
      {"gpus",
       {{"prefill", m.prefill_gpus}, {"decode", m.decode_gpus}, {"colocated", m.colocated_gpus}}},
      {"gpu_hours", m.gpu_hours},
      {"usd", m.usd},
      {"usd_per_hour", m.usd_per_hour},
      {"usd_per_million_tokens", m.usd_per_million_tokens},
      {"preemptions", m.preemptions},
      {"kv_transfers", m.kv_transfers},
      {"kv_transfer_mean_s", m.kv_transfer_mean_s},
      {"events", m.events},
      {"instances", instances}};
  if (m.prefix_cache_prompt_tokens > 0)  // only with a block prefix cache
    j["prefix_cache"] = {{"prompt_tokens", m.prefix_cache_prompt_tokens},
                         {"hit_tokens", m.prefix_cache_hit_tokens},
                         {"hit_rate", static_cast<double>(m.prefix_cache_hit_tokens) /
                                          static_cast<double>(m.prefix_cache_prompt_tokens)}};
  if (s.serving.shared_kv_tier.enabled())  // only with a shared tier
    j["prefix_cache"]["shared_tier"] = {{"hit_tokens", m.shared_tier_hit_tokens},
                                        {"loads", m.shared_tier_loads},
                                        {"load_mean_s", m.shared_tier_load_mean_s}};
  return j;
}

// Chrome trace-event format (the "Trace Event Format" document that chrome://tracing and
// Perfetto read): one process per pool ("prefill pool", "decode pool", "colocated pool")
// whose threads are its instances, steps as complete events ("X") on their instance's
// track, and KV transfers as async begin/end pairs ("b"/"e", integer ids) in a "KV
// transfers" process, since they overlap. Times in microseconds; counts and ids in args
// as integers.
class ChromeTraceWriter {
 public:
  static constexpr const char* kOpening = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[";
  explicit ChromeTraceWriter(std::ostream& out) : out_(out) { out_ << kOpening << "\n"; }
  void add(const TraceEvent& e) {
    ordered_json args = ordered_json::object();
    for (const auto& [k, v] : e.args) {
      // Integral values (ids, counts, tokens) as integers.
      if (std::floor(v) == v && std::fabs(v) < 9007199254740992.0) {
        args[k] = static_cast<int64_t>(v);
      } else {
        args[k] = v;
      }
    }
    const double ts = static_cast<double>(e.start.ns()) / 1e3;
    if (e.id != 0) {
      const int pid = pid_of("kv_transfer");
      std::string name = e.name;
      if (auto it = e.args.find("to_instance"); it != e.args.end())
        name += " -> decode[" + std::to_string(static_cast<int64_t>(it->second)) + "]";
      write({{"name", name},
             {"cat", "kv_transfer"},
             {"ph", "b"},
             {"id", e.id},
             {"pid", pid},
             {"tid", 0},
             {"ts", ts},
             {"args", args}});
      write({{"name", name},
             {"cat", "kv_transfer"},
             {"ph", "e"},
             {"id", e.id},
             {"pid", pid},
             {"tid", 0},
             {"ts", ts + static_cast<double>(e.duration.ns()) / 1e3}});
    } else {
      const auto [pid, tid] = track_of(e.track);
      write({{"name", e.name},
             {"cat", "step"},
             {"ph", "X"},
             {"pid", pid},
             {"tid", tid},
             {"ts", ts},
             {"dur", static_cast<double>(e.duration.ns()) / 1e3},
             {"args", args}});
    }
  }
  void finish() {
    for (const auto& [pool, pid] : pids_) {
      const std::string name = pool == "kv_transfer" ? "KV transfers" : pool + " pool";
      write({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"args", {{"name", name}}}});
      write({{"name", "process_sort_index"},
             {"ph", "M"},
             {"pid", pid},
             {"args", {{"sort_index", pid}}}});
    }
    if (pids_.count("kv_transfer"))
      tracks_.emplace("KV transfers", std::pair{pids_["kv_transfer"], 0});
    for (const auto& [track, id] : tracks_) {
      write({{"name", "thread_name"},
             {"ph", "M"},
             {"pid", id.first},
             {"tid", id.second},
             {"args", {{"name", track}}}});
      write({{"name", "thread_sort_index"},
             {"ph", "M"},
             {"pid", id.first},
             {"tid", id.second},
             {"args", {{"sort_index", id.second}}}});
    }
    out_ << "\n]}\n";
  }

 private:
  // Pools in a fixed order (prefill, decode, colocated, KV transfers, others after).
  int pid_of(const std::string& pool) {
    static const std::map<std::string, int> kOrder = {
        {"prefill", 1}, {"decode", 2}, {"colocated", 3}, {"kv_transfer", 4}};
    auto it = pids_.find(pool);
    if (it != pids_.end()) return it->second;
    auto known = kOrder.find(pool);
    const int pid = known != kOrder.end() ? known->second : 5 + static_cast<int>(pids_.size());
    pids_.emplace(pool, pid);
    return pid;
  }
  // "decode[3]": the decode pool's process, thread 4 (instance index + 1).
  std::pair<int, int> track_of(const std::string& track) {
    auto it = tracks_.find(track);
    if (it != tracks_.end()) return it->second;
    const size_t open = track.find('[');
    const std::string pool = track.substr(0, open);
    int tid = 1 + static_cast<int>(tracks_.size());
    if (open != std::string::npos) tid = 1 + std::atoi(track.c_str() + open + 1);
    const std::pair<int, int> id{pid_of(pool), tid};
    tracks_.emplace(track, id);
    return id;
  }
  void write(const ordered_json& j) {
    out_ << (first_ ? "" : ",\n") << j.dump();
    first_ = false;
  }
  std::ostream& out_;
  std::map<std::string, int> pids_;
  std::map<std::string, std::pair<int, int>> tracks_;
  bool first_ = true;
};

// One line per request. `scored` is 1 for the population of metrics.json's percentiles
// (arrived after the warm-up, not rejected); TPOT is empty where there is none (one
// output token, excluded from the TPOT percentiles), and latencies are empty for
// rejected requests. So P90 of ttft_s over scored rows is metrics.json's ttft_s.p90.
void write_requests_csv(std::ostream& o, const std::vector<RequestRecord>& rs, double warmup_s) {
  o << "id,arrival_s,input_tokens,output_tokens,ttft_s,tpot_s,e2e_s,queue_s,rejected,scored\n";
  char line[256];
  auto value = [](float v, bool present) {
    if (!present) return std::string();
    char b[32];
    std::snprintf(b, sizeof b, "%.9g", static_cast<double>(v));
    return std::string(b);
  };
  for (const RequestRecord& r : rs) {
    const bool scored = !r.rejected && r.arrival_s >= warmup_s;
    std::snprintf(line, sizeof line, "%llu,%.9f,%d,%d,", static_cast<unsigned long long>(r.id),
                  r.arrival_s, r.input_tokens, r.output_tokens);
    o << line << value(r.ttft_s, !r.rejected) << ','
      << value(r.tpot_s, !r.rejected && r.output_tokens > 1) << ',' << value(r.e2e_s, !r.rejected)
      << ',' << value(r.queue_s, !r.rejected) << ',' << (r.rejected ? 1 : 0) << ','
      << (scored ? 1 : 0) << '\n';
  }
}

struct SimulateArgs {
  std::string scenario;
  std::string out = "simulate-out";
  std::string trace;
  uint64_t seed = 0;
  bool seed_given = false;
  bool no_requests = false;
  bool no_charts = false;
  bool quiet = false;
};

void run_simulate(const SimulateArgs& a) {
  Scenario s = load_scenario(a.scenario);
  const uint64_t seed = a.seed_given ? a.seed : s.seed;
  io::OutputDir out(a.out, "--out", s.input_files, "simulate");  // checked before the run
  SimulationOptions o;
  o.seed = seed;
  o.keep_requests = !a.no_requests;
  // The timeline goes into the output folder when named inside it (published with the
  // other files), else to its own file (never over an input or another kind of file).
  std::unique_ptr<io::OutputFile> trace_file;
  std::unique_ptr<ChromeTraceWriter> trace;
  if (!a.trace.empty()) {
    if (std::optional<std::string> inside = out.name_of(a.trace)) {
      trace = std::make_unique<ChromeTraceWriter>(out.stream(*inside));
    } else {
      trace_file = std::make_unique<io::OutputFile>(a.trace, "--trace", s.input_files,
                                                    ChromeTraceWriter::kOpening);
      trace = std::make_unique<ChromeTraceWriter>(trace_file->out());
    }
    o.trace = [&](const TraceEvent& e) { trace->add(e); };
  }
  // A progress line once a run has taken a couple of seconds; the clock is read here,
  // at the edge, never by the simulation.
  const auto started = std::chrono::steady_clock::now();
  bool printed = false;
  int last_percent = -1;
  // Only on a terminal: logs get no carriage-return frames.
  if (!a.quiet && isatty(STDERR_FILENO))
    o.progress = [&](double f) {
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const int percent = static_cast<int>(100 * f);
      if (wall < 2.0 || percent == last_percent) return;
      last_percent = percent;
      std::fprintf(stderr, "\rsimulating %s: %3.0f%% of the workload (%.1f s)", s.name.c_str(),
                   100 * f, wall);
      printed = true;
    };
  const CostModels models = cost_models_for(s);
  SimulationResult r = simulate(s, models, o);
  if (printed) std::fprintf(stderr, "\n");

  out.write("metrics.json",
            metrics_json(s, seed, r, extrapolation_notes(s, models)).dump(2) + "\n");
  if (!a.no_requests)
    write_requests_csv(out.stream("requests.csv"), r.requests, s.workload.warmup.to_seconds());
  reports::add_simulation_report(s, seed, r, !a.no_charts, out);
  if (trace) trace->finish();
  if (trace_file) trace_file->commit();
  out.commit();

  const SimulationSummary& m = r.summary;
  std::printf("%s (seed %llu): %lld requests, %lld finished, %lld rejected\n", s.name.c_str(),
              static_cast<unsigned long long>(seed), static_cast<long long>(m.requests_arrived),
              static_cast<long long>(m.requests_finished),
              static_cast<long long>(m.requests_rejected));
  std::printf(
      "  TTFT p50 %.3f s p90 %.3f s p99 %.3f s | TPOT p50 %.1f ms p90 %.1f ms p99 %.1f ms\n",
      m.ttft.p50, m.ttft.p90, m.ttft.p99, m.tpot.p50 * 1e3, m.tpot.p90 * 1e3, m.tpot.p99 * 1e3);
  std::printf(
      "  SLO attainment %.1f%%, goodput %.2f req/s, throughput %.2f req/s, %.0f output tok/s\n",
      100 * m.slo_attainment, m.goodput_rps, m.throughput_rps, m.output_tokens_per_s);
  std::printf(
      "  %d prefill + %d decode + %d colocated GPUs, %.2f GPU-h, $%.2f/h, $%.3f per M tokens\n",
      m.prefill_gpus, m.decode_gpus, m.colocated_gpus, m.gpu_hours, m.usd_per_hour,
      m.usd_per_million_tokens);
  if (m.prefix_cache_prompt_tokens > 0)
    std::printf("  prefix cache: %.1f%% of %lld prompt tokens found cached\n",
                100.0 * static_cast<double>(m.prefix_cache_hit_tokens) /
                    static_cast<double>(m.prefix_cache_prompt_tokens),
                static_cast<long long>(m.prefix_cache_prompt_tokens));
  for (const auto& [gpu, src] : m.cost_sources)
    std::printf("  costs of %s: %s\n", gpu.c_str(), src.c_str());
  std::printf("  wrote %s\n", (fs::path(a.out) / "metrics.json").string().c_str());
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* cmd =
      app.add_subcommand("simulate", "Simulate one scenario's cluster serving its workload");
  cmd->add_option("scenario", args->scenario, "scenario JSON file")->required();
  cmd->add_option("--out", args->out,
                  "folder for metrics.json and requests.csv: new, empty, or a previous output")
      ->capture_default_str();
  cmd->add_option("--trace", args->trace,
                  "also write a Chrome trace-event JSON timeline (Perfetto)");
  cmd->add_option_function<uint64_t>(
      "--seed",
      [args](uint64_t v) {
        args->seed = v;
        args->seed_given = true;
      },
      "random seed (default: the scenario's)");
  cmd->add_flag("--no-requests", args->no_requests, "do not write requests.csv");
  cmd->add_flag("--no-charts", args->no_charts,
                "do not draw charts (gnuplot; report.html then has none)");
  cmd->add_flag("--quiet", args->quiet, "no progress line");
  cmd->callback([args] { run_simulate(*args); });
}

}  // namespace quadrant::cli
