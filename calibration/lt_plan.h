// The dense GEMM's launch plan is cuBLASLt's: the tile (along n and m) and split-K count its
// heuristic picks for a shape, which the CPU cannot compute. quadrant-lt-plan
// (calibration/collector/lt_plan_main.cc) records the library's pick over a sweep of m for
// every (n, k) pair of the models' shards, once per GPU and library version;
// calibration/plans/<gpu>-cublaslt.json holds it as runs of m (scripts/lt_plan_table.py).
// A shape is looked up by its (n, k) pair and the run holding its m; a pair outside the
// table takes the nearest pair in log n and log k (an extrapolation: `exact` is false).
//
//   LtPlanTable t = LtPlanTable::read("calibration/plans/H200-cublaslt.json");
//   LtPlanChoice c = t.find("bf16", 1000, 4096, 4096);  // c.tile_n, c.tile_m, c.splits
//   KernelPlan p = dense_gemm_lt_plan(1000, 4096, 4096, 2, c);
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "calibration/json_path.h"
#include "calibration/kernel_plan.h"

namespace quadrant::calibration {

struct LtPlanChoice {
  int tile_n = 128, tile_m = 128, splits = 1;
  bool exact = false;  // the (n, k) pair is in the table
};

class LtPlanTable {
 public:
  // InputError (file, JSON path, expected, found) on a malformed table.
  static LtPlanTable read(const std::string& file);
  static LtPlanTable parse(const Json& doc, const std::string& where);
  // The plan cuBLASLt picks for C[m][n] = A[m][k] W[n][k]^T in `format` ("bf16", "fp8";
  // anything else reads as bf16).
  LtPlanChoice find(const std::string& format, double m, double n, double k) const;
  bool empty() const { return pairs_.empty(); }
  const std::string& file() const { return file_; }
  const std::string& gpu() const { return gpu_; }

 private:
  struct Run {
    double m_from;
    int tile_n, tile_m, splits;
  };
  std::string file_, gpu_;
  // (format, n, k) -> runs sorted by m_from
  std::map<std::tuple<std::string, int, int>, std::vector<Run>> pairs_;
};

// The launch plan of cuBLASLt's choice: ceil(n / tile_n) x ceil(m / tile_m) x splits CTAs
// over the SMs (cuBLASLt's own waves count agrees), each tile's FLOPs and operand bytes over
// its share of k; the output and, split-K, the FP32 partials written and read back, as
// helper bytes.
KernelPlan dense_gemm_lt_plan(double m, double n, double k, double element_bytes,
                              const LtPlanChoice& c);

}  // namespace quadrant::calibration
