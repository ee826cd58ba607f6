// Profile files: what the CUPTI collector measured for one quadrant on one GPU.
// calibration/profiles/<gpu>/<quadrant>.json, compact JSON, schema_version 1:
//
//   {"schema_version":1,"kind":"quadrant-profile","quadrant":"decode_attention",
//    "device":{"name":"NVIDIA H100 80GB HBM3","gpu":"H100-SXM","sm_count":132,...},
//    "kernels_revision":"1f458b9...","method":{...},
//    "shapes":[{"format":"bf16","params":{"batch":64,...},"flops":..,"bytes":..,
//               "median_ns":..,"min_ns":..,"max_ns":..,"mad_ns":..,"count":20,
//               "sm_clock_mhz":1980,"kernels":[...],"metrics":{...}}, ...]}
//
// Times are of one launch of the op (first kernel start to last kernel end, CUPTI
// timestamps); the SM clock seen during the shape tells a slow clock from a slow kernel.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace quadrant::calibration {

inline constexpr int kProfileSchemaVersion = 1;

struct DeviceInfo {
  std::string name;  // as the driver reports it
  std::string gpu;   // hardware catalog key, e.g. "H100-SXM"
  int sm_count = 0;
  double sm_clock_max_mhz = 0;
  double memory_clock_mhz = 0;
  std::string driver_version;
  std::string cuda_version;
  std::string cupti_version;
};

// One kernel of an op's launch, from its CUPTI concurrent-kernel records.
struct KernelRecord {
  std::string name;
  int grid[3] = {0, 0, 0};
  int block[3] = {0, 0, 0};
  int registers = 0;
  int64_t shared_bytes = 0;  // static + dynamic
  double median_ns = 0;
};

struct ProfileShape {
  std::string format;                     // "bf16", "fp8", "w4a8"
  std::map<std::string, int64_t> params;  // as passed to kernels::make_op
  double flops = 0;                       // the op's own accounting
  double bytes = 0;
  double median_ns = 0;
  double min_ns = 0;
  double max_ns = 0;
  double mad_ns = 0;  // median absolute deviation of the timed launches
  int64_t count = 0;  // timed launches
  double sm_clock_mhz = 0;
  bool graph_replay = false;  // timed launches replayed from a captured CUDA graph
  // Median over the launches of the sum of the op's kernel durations: below median_ns by
  // the gaps between kernels (0 when not recorded).
  double kernel_sum_ns = 0;
  std::vector<KernelRecord> kernels;
  std::map<std::string, double> metrics;  // hardware counters, when collected

  // Relative noise of the median: 1.4826 MAD / median (a robust standard deviation).
  double relative_noise() const { return median_ns > 0 ? 1.4826 * mad_ns / median_ns : 0; }
};

struct Profile {
  std::string file;  // where it was read from (empty when built in memory)
  DeviceInfo device;
  std::string quadrant;  // kernels' op name: "decode_attention", ..., "dense_gemm"
  std::string kernels_revision;
  std::string collected_at;
  std::map<std::string, double> method;  // warmup, repetitions, l2_flush_bytes, ...
  std::vector<ProfileShape> shapes;
};

// "bf16|batch=64,heads=32,..." : how shapes of two profiles are matched.
std::string shape_key(const ProfileShape& s);

// Reads and validates a profile; every problem is an InputError naming file and path.
Profile read_profile(const std::string& file);
// Compact JSON: one line per shape, so that diffs of re-collected profiles stay readable.
std::string profile_to_json(const Profile& p);

// The profiles under a folder (every *.json, in name order), or the file itself.
std::vector<std::string> profile_files(const std::string& file_or_folder);

}  // namespace quadrant::calibration
