// What the fuzzers feed Quadrant, and the structure-aware mutator they share.
//
// A fuzzed input goes where a user's would: a scenario file through load_scenario and,
// when it is accepted, a short simulation (requests capped so that a case takes
// milliseconds); a trace's text through the trace reader. The only acceptable outcomes
// are a result or an InputError; anything else (another exception, an abort, a signal,
// a sanitizer report, a hang) is a finding.
//
//   ScenarioMutator m(seed, {"scenarios/examples/toy.json", ...});
//   FuzzCase c = m.next();              // a mutated scenario or trace
//   Outcome o = run_case(c, workdir);   // kAccepted or kRejected; throws on a finding
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "sim/scenario.h"

namespace quadrant::fuzz {

struct FuzzCase {
  enum class Kind { kScenario, kTrace } kind = Kind::kScenario;
  std::string text;                             // the scenario JSON or the trace's text
  TraceFormat format = TraceFormat::kMooncake;  // kTrace
  std::string description;                      // the mutations applied, for a report
};

enum class Outcome { kAccepted, kRejected };

// Runs one case; `workdir` is a writable folder the case's file goes into.
Outcome run_case(const FuzzCase& c, const std::string& workdir);

// The shipped documents, with include and file paths made absolute so that a mutated
// copy loads from anywhere.
std::vector<nlohmann::json> load_seed_scenarios(const std::vector<std::string>& files);

class ScenarioMutator {
 public:
  ScenarioMutator(uint64_t seed, std::vector<nlohmann::json> scenarios,
                  std::vector<std::pair<std::string, TraceFormat>> traces);
  FuzzCase next();
  // One to four mutations of a document (also for libFuzzer's custom mutator).
  nlohmann::json mutate(nlohmann::json doc, std::string& description);
  std::string mutate_trace(std::string text, std::string& description);

 private:
  nlohmann::json extreme_number();
  nlohmann::json extreme_string();
  nlohmann::json random_value(int depth);
  std::mt19937_64 rng_;
  std::vector<nlohmann::json> scenarios_;
  std::vector<std::pair<std::string, TraceFormat>> traces_;  // text, format
};

}  // namespace quadrant::fuzz
