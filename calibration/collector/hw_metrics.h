// Hardware counters of one op launch through CUPTI's Range Profiler and Profiler Host
// APIs (CUDA 13; the older profiler API is deprecated). A pass of its own, never mixed
// with timing: kernel replay re-runs each kernel once per counter pass and restores the
// memory it writes, so the launch being counted is far slower than a timed one.
//
//   HwMetrics hw;                       // after the CUDA context exists
//   if (hw.ok()) auto m = hw.measure([&] { op->launch(stream); cudaStreamSynchronize(stream); });
//
// Per launch, over every kernel the launch ran, from the metrics below that the chip
// offers (a name it does not know is left out and listed by missing()):
//   dram_bytes_read, dram_bytes_write   DRAM traffic in bytes (summed)
//   gpu_time_ns                         kernel time under the profiler (summed; not the timing)
//   sm_clock_hz                         SM clock under the profiler (time-weighted)
//   tensor_active_pct                   tensor pipes busy, % of peak sustained (time-weighted)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace quadrant::calibration {

class HwMetrics {
 public:
  HwMetrics();
  ~HwMetrics();
  HwMetrics(const HwMetrics&) = delete;
  HwMetrics& operator=(const HwMetrics&) = delete;

  // False when the profiler cannot run here (no permission, unsupported chip); why() says why.
  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  const std::string& chip() const { return chip_; }
  size_t passes() const { return passes_; }
  // The hardware metric names counted and the wanted ones the chip does not have.
  const std::vector<std::string>& counted() const { return names_; }
  const std::vector<std::string>& missing() const { return missing_; }

  // Runs `launch` (which must synchronise) under the profiler; returns the summed counters
  // (keys above) and the number of kernel ranges seen ("kernels"). Empty on failure.
  std::map<std::string, double> measure(const std::function<void()>& launch);

 private:
  bool fail(const std::string& where, int code);
  bool ok_ = false;
  std::string why_, chip_;
  size_t passes_ = 0;
  std::vector<std::string> names_, missing_;
  std::vector<std::string> keys_;  // our key for each counted name
  void* host_ = nullptr;           // CUpti_Profiler_Host_Object*
  void* range_ = nullptr;          // CUpti_RangeProfiler_Object*
  std::vector<uint8_t> config_, counter_data_;
};

}  // namespace quadrant::calibration
