// quadrant_fuzz: the seeded, structure-aware fuzzer CI runs (scripts/test.sh). It mutates
// the shipped scenarios and traces (fuzz_target.h) and feeds each mutant through the
// scenario edge and a short simulation, or the trace reader. A result or an InputError is
// fine; any other exception is a finding, and a crash, an abort or a hang (a case over
// --case-timeout seconds) stops the run naming the case, whose file stays in --workdir.
//
//   quadrant_fuzz --cases 10000 --seed 1 [--workdir DIR]     (from the repository root)
//   quadrant_fuzz --emit-seeds DIR                            (libFuzzer's seed corpus)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/fuzz/fuzz_target.h"

namespace {

namespace fs = std::filesystem;
using quadrant::fuzz::FuzzCase;

volatile sig_atomic_t g_case = -1;

void on_fatal(int sig) {
  char msg[128];
  const int n = std::snprintf(msg, sizeof msg, "\nfuzz: FINDING: signal %d (%s) at case %d\n", sig,
                              sig == SIGALRM ? "hang" : "crash", static_cast<int>(g_case));
  if (n > 0) (void)!write(2, msg, static_cast<size_t>(n));
  signal(sig, SIG_DFL);
  raise(sig == SIGALRM ? SIGKILL : sig);
}

}  // namespace

int main(int argc, char** argv) {
  long cases = 10000, seed = 1, timeout_s = 30;
  std::string emit_seeds;
  std::string workdir =
      (fs::temp_directory_path() / ("quadrant_fuzz_" + std::to_string(getpid()))).string();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--cases")
      cases = std::atol(argv[i + 1]);
    else if (a == "--seed")
      seed = std::atol(argv[i + 1]);
    else if (a == "--workdir")
      workdir = argv[i + 1];
    else if (a == "--case-timeout")
      timeout_s = std::atol(argv[i + 1]);
    else if (a == "--emit-seeds")
      emit_seeds = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: quadrant_fuzz [--cases N] [--seed S] [--workdir DIR]\n");
      return 2;
    }
  }
  fs::create_directories(workdir);
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGALRM}) signal(sig, on_fatal);

  const std::vector<std::string> scenario_files = {
      "scenarios/default.json",
      "scenarios/examples/toy.json",
      "scenarios/examples/deepseek-v3-h800.json",
      "scenarios/examples/distserve-like.json",
      "scenarios/examples/doubao-w4a8-heterogeneous.json",
      "scenarios/examples/mixtral-colocated-diurnal.json",
      "scenarios/examples/default-calibrated.json",
  };
  std::vector<std::pair<std::string, quadrant::TraceFormat>> traces;
  for (auto [file, format] :
       {std::pair{"scenarios/traces/azure_llm_sample.csv", quadrant::TraceFormat::kAzure},
        std::pair{"scenarios/traces/burstgpt_sample.csv", quadrant::TraceFormat::kBurstGpt},
        std::pair{"scenarios/traces/mooncake_sample.jsonl", quadrant::TraceFormat::kMooncake}}) {
    std::ifstream in(file);
    traces.emplace_back(std::string(std::istreambuf_iterator<char>(in), {}), format);
  }
  const std::vector<nlohmann::json> seeds = quadrant::fuzz::load_seed_scenarios(scenario_files);
  if (!emit_seeds.empty()) {
    // libFuzzer's starting corpus: a mode byte (0 scenario, 1-3 trace formats) + the text.
    fs::create_directories(emit_seeds);
    int k = 0;
    for (const nlohmann::json& j : seeds)
      std::ofstream(fs::path(emit_seeds) / ("seed" + std::to_string(k++)), std::ios::binary)
          << '\0' << j.dump();
    for (const auto& [text, format] : traces)
      std::ofstream(fs::path(emit_seeds) / ("seed" + std::to_string(k++)), std::ios::binary)
          << static_cast<char>(1 + static_cast<int>(format)) << text;
    return 0;
  }
  quadrant::fuzz::ScenarioMutator mutator(static_cast<uint64_t>(seed), seeds, traces);
  long accepted = 0, rejected = 0, trace_cases = 0, findings = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < cases; ++i) {
    const FuzzCase c = mutator.next();
    g_case = static_cast<sig_atomic_t>(i);
    {
      std::ofstream d(fs::path(workdir) / "case.txt", std::ios::trunc);
      d << "seed " << seed << " case " << i << ": " << c.description << "\n";
      if (c.kind == FuzzCase::Kind::kTrace) {
        std::ofstream(fs::path(workdir) / "case.trace", std::ios::trunc) << c.text;
      }
    }
    alarm(static_cast<unsigned>(timeout_s));
    try {
      if (quadrant::fuzz::run_case(c, workdir) == quadrant::fuzz::Outcome::kAccepted) {
        ++accepted;
      } else {
        ++rejected;
      }
    } catch (const std::exception& e) {
      ++findings;
      std::fprintf(stderr, "fuzz: FINDING at case %ld (%s): %s\n", i, c.description.c_str(),
                   e.what());
    }
    alarm(0);
    if (c.kind == FuzzCase::Kind::kTrace) ++trace_cases;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "fuzz: %ld inputs (seed %ld; %ld scenarios, %ld traces): %ld accepted, %ld rejected with "
      "an input error, %ld findings, 0 crashes, 0 hangs; %.1f s\n",
      cases, seed, cases - trace_cases, trace_cases, accepted, rejected, findings, wall);
  if (findings == 0) fs::remove_all(workdir);
  return findings == 0 ? 0 : 1;
}
