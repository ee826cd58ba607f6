// Benchmark (not a test) of the discrete-event simulator: one scenario simulated end to
// end, timed on the wall clock around simulate() only (the scenario is parsed once, no
// files are written). Prints events per second, wall time, peak RSS and the engine's
// accounting of memory per in-flight request, plus a micro-benchmark of the event queue.
//
//   build/tests/sim/simulate_benchmark [SCENARIO=scenarios/bench/million_requests.json]
//       [--benchmark_repetitions=3] [--benchmark_filter=Simulate]
//
// An event is one event popped from the queue and dispatched (an arrival, a step launch,
// a step completion, a KV transfer landing, a scaling tick, a sample), as counted by the
// engine in SimulationSummary::events; cancelled events are not counted.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include "sim/core/error.h"
#include "sim/engine/event_queue.h"
#include "sim/engine/simulation.h"
#include "sim/io/scenario_io.h"

namespace quadrant {
namespace {

// CPU time of this thread: on a shared machine the wall clock also counts other processes.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;  // Linux: kilobytes
}

void BM_Simulate(benchmark::State& state, const Scenario& scenario) {
  const CostModels models = roofline_cost_models(scenario);
  SimulationOptions o;
  o.seed = scenario.seed;
  SimulationSummary last;
  double seconds = 0, cpu_seconds = 0;
  for (auto _ : state) {
    const double cpu_start = thread_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    SimulationResult r = simulate(scenario, models, o);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu_seconds += thread_cpu_seconds() - cpu_start;
    state.SetIterationTime(s);
    seconds += s;
    last = r.summary;
    benchmark::DoNotOptimize(r);
  }
  const double runs = static_cast<double>(state.iterations());
  const double events = static_cast<double>(last.events);
  state.counters["events"] = events;
  state.counters["events_per_s"] = events * runs / seconds;
  state.counters["events_per_cpu_s"] = events * runs / cpu_seconds;
  state.counters["wall_s"] = seconds / runs;
  state.counters["cpu_s"] = cpu_seconds / runs;
  state.counters["peak_rss_MB"] = peak_rss_bytes() / 1e6;
  state.counters["peak_in_flight"] = static_cast<double>(last.peak_live_requests);
  state.counters["live_B_per_in_flight"] = last.peak_live_requests > 0
                                               ? static_cast<double>(last.live_request_bytes) /
                                                     static_cast<double>(last.peak_live_requests)
                                               : 0;
  state.counters["result_B_per_request"] =
      last.requests_scored > 0
          ? static_cast<double>(last.result_bytes) / static_cast<double>(last.requests_scored)
          : 0;
  std::printf(
      "%s: %lld requests, %.0f events in %.3f s wall (%.2f M events/s), %.3f s CPU (%.2f M "
      "events/CPU-s); peak RSS %.1f MB; peak %lld in flight x %.0f B of live state; results "
      "%.1f MB (%.1f B per scored request)\n",
      scenario.name.c_str(), static_cast<long long>(last.requests_arrived), events, seconds / runs,
      events * runs / seconds / 1e6, cpu_seconds / runs, events * runs / cpu_seconds / 1e6,
      peak_rss_bytes() / 1e6, static_cast<long long>(last.peak_live_requests),
      last.peak_live_requests > 0 ? static_cast<double>(last.live_request_bytes) /
                                        static_cast<double>(last.peak_live_requests)
                                  : 0.0,
      static_cast<double>(last.result_bytes) / 1e6,
      last.requests_scored > 0
          ? static_cast<double>(last.result_bytes) / static_cast<double>(last.requests_scored)
          : 0.0);
}

// The pending-event set alone: a queue held at `range(0)` events, each pop followed by a
// push a random time later (the hold model of event-set benchmarks).
void BM_EventQueueHold(benchmark::State& state) {
  const int64_t pending = state.range(0);
  EventQueue q;
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> delay(1, 1'000'000);
  for (int64_t i = 0; i < pending; ++i)
    q.push({SimTime::from_ns(delay(rng)), EventPhase::kCompletion, 0, 0, 0, 0});
  for (auto _ : state) {
    const Event e = q.pop();
    q.push({e.time + Duration::nanos(delay(rng)), e.phase, 0, 0, 0, 0});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventQueueHold)->Arg(64)->Arg(1024)->Arg(16384);

}  // namespace
}  // namespace quadrant

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::string path = argc > 1 ? argv[1] : "scenarios/bench/million_requests.json";
  quadrant::Scenario scenario;
  try {
    scenario = quadrant::load_scenario(path);
  } catch (const quadrant::InputError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  benchmark::RegisterBenchmark("BM_Simulate", quadrant::BM_Simulate, scenario)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
