// quadrant-check: `quadrant calibrate check` without CLI11, for the GPU machine, whose
// image may lack it. Same code (calibration/regression_check.h), same exit status.
//   quadrant-check --baseline A [A2...] --candidate B [B2...]
#include <cstdio>
#include <string>
#include <vector>

#include "calibration/regression_check.h"
#include "sim/core/error.h"

int main(int argc, char** argv) try {
  std::vector<std::string> baseline, candidate;
  std::vector<std::string>* into = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--baseline")
      into = &baseline;
    else if (a == "--candidate")
      into = &candidate;
    else if (into)
      into->push_back(a);
  }
  if (baseline.empty() || candidate.empty()) {
    std::fprintf(stderr, "usage: quadrant-check --baseline A... --candidate B...\n");
    return 2;
  }
  using namespace quadrant::calibration;
  CheckReport r = check_profiles(read_profiles(baseline), read_profiles(candidate));
  std::fputs(format_report(r, 10).c_str(), stdout);
  return r.failed ? 1 : 0;
} catch (const quadrant::InputError& e) {
  std::fprintf(stderr, "quadrant-check: error: %s\n", e.what());
  return 2;
}
