// `quadrant plan` without writing JSON: a scenario built from a few flags over a base
// scenario (the shipped default), written beside the report so that the run can be
// repeated with `quadrant plan DIR/scenario.json`.
//
//   QuickFlags f{.model = "deepseek-v3", .rate = 8, .ttft = "2s", .tpot = "80ms",
//                .gpus = "H100,H20"};
//   std::string tmp = write_quick_scenario("scenarios/default.json", f);  // then load it
#pragma once

#include <string>

namespace quadrant::cli {

struct QuickFlags {
  std::string model;     // a model file (e.g. from import-model), or a catalog model's name
  double rate = 0;       // req/s; 0: the base scenario's
  std::string ttft;      // "2s"; empty: the base scenario's
  std::string tpot;      // "80ms"
  std::string gpus;      // "H100,H20": GPU types both pools may use (names or unique prefixes)
  double headroom = -1;  // load margin the plan must hold (0.1: 10%); < 0: the base's
  bool n_plus_one = false;
  bool any() const {
    return !model.empty() || rate != 0 || !ttft.empty() || !tpot.empty() || !gpus.empty() ||
           headroom >= 0 || n_plus_one;
  }
};

// The shipped default scenario: $QUADRANT_SCENARIOS/default.json, else the source tree's.
std::string default_scenario_path();

// Applies the flags to the base scenario and writes the result, its file references made
// absolute, to a temporary file (the caller loads it, stages its text as the output's
// scenario.json, and removes it); returns its path. Throws InputError naming the flag.
std::string write_quick_scenario(const std::string& base, const QuickFlags& flags);

// "plan-<stem>-<k>" for the first k (1, 2, ...) not taken in the current folder.
std::string next_run_folder(const std::string& stem);

}  // namespace quadrant::cli
