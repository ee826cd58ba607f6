// The MPI runner's bytes (sim/cli/task_codec.h): a task result with every field set
// comes back equal, bit for bit in its doubles; bytes it did not write are refused.
#include "sim/cli/task_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace quadrant::cli {
namespace {

planner::TaskResult every_field_set() {
  planner::TaskResult t;
  t.rate = 12.345678901234567;
  t.simulations = 7;
  t.above_bound = true;
  planner::RunSummary& r = t.run;
  r.rate_per_s = 1.0 / 3;
  r.seed = 0xFFFFFFFFFFFFFFFFull;
  r.meets_slo = true;
  r.ttft = {0.1, 0.2, 0.3, 0.4, std::nextafter(0.5, 1.0), 95, 0.35};
  r.tpot = {1e-3, 2e-3, 3e-3, 4e-3, 5e-300};
  r.slo_attainment = 0.95;
  r.goodput_rps = 10.5;
  r.throughput_rps = 11.25;
  r.usd_per_hour = 98.76;
  r.usd_per_million_tokens = 0.0123;
  r.requests_scored = 1234567890123;
  r.cost_sources = {{"H100-SXM", "fitted:calibration/models/H100-SXM.json"}, {"H20", ""}};
  r.ttft_quantiles = {0.0, 0.5, -0.0};
  r.tpot_quantiles = {std::numeric_limits<double>::denorm_min()};
  t.detail = {{"prefill[0]", Role::kPrefill, "H100-SXM", 0.75, {{0, 0.1}, {1.5, 0.2}}, {}},
              {"decode[1]", Role::kDecode, "H20", 0.5, {}, {{2, 64}}}};
  return t;
}

TEST(TaskCodecTest, EveryFieldComesBackEqual) {
  const planner::TaskResult t = every_field_set();
  const planner::TaskResult back = decode_task_result(encode_task_result(t));
  EXPECT_TRUE(back == t);
  EXPECT_TRUE(std::signbit(back.run.ttft_quantiles[2]));  // -0.0 stays -0.0
  EXPECT_TRUE(decode_task_result(encode_task_result(planner::TaskResult{})) ==
              planner::TaskResult{});
}

TEST(TaskCodecTest, RefusesBytesItDidNotWrite) {
  const std::string bytes = encode_task_result(every_field_set());
  EXPECT_THROW(decode_task_result(bytes.substr(0, bytes.size() - 1)), std::runtime_error);
  EXPECT_THROW(decode_task_result(bytes + "x"), std::runtime_error);
  EXPECT_THROW(decode_task_result(""), std::runtime_error);
}

}  // namespace
}  // namespace quadrant::cli
