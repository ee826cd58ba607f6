// The planner's task results as bytes, for the one runner that crosses processes: the
// MPI runner (plan_command.cc) sends each rank's results to every rank. Inside one
// process the planner passes planner::TaskResult as it is. Binary and exact: a double
// travels as its 8 bytes, so every rank's decisions and the report are those of one
// process with threads.
//
//   std::string bytes = encode_task_result(r);
//   planner::TaskResult back = decode_task_result(bytes);   // back == r
#pragma once

#include <string>
#include <string_view>

#include "sim/planner/planner.h"

namespace quadrant::cli {

std::string encode_task_result(const planner::TaskResult& r);
// Throws std::runtime_error on bytes that encode_task_result did not write (an internal
// error: ranks run the same program).
planner::TaskResult decode_task_result(std::string_view bytes);

}  // namespace quadrant::cli
