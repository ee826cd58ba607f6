// The terminal summary `quadrant plan` prints: the recommended cluster, its cost, its
// latencies against the SLOs over the confirmation seeds, and where the files are.
#pragma once

#include <cstdio>
#include <string>

#include "sim/planner/planner.h"

namespace quadrant::cli {

void print_plan_summary(const planner::PlanResult& r, const std::string& out_dir, std::FILE* to);

}  // namespace quadrant::cli
