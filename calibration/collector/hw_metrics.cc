#include "calibration/collector/hw_metrics.h"

#include <cuda.h>
#include <cupti.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace quadrant::calibration {
namespace {

// Our key and the CUPTI metric names that can give it, first found wins. Counters are
// summed over the launch's kernels; "_pct" ratios (of the peak sustained rate over the
// kernel's elapsed cycles) are averaged over the kernels weighted by their time.
const std::vector<std::pair<std::string, std::vector<std::string>>> kWanted = {
    {"dram_bytes_read", {"dram__bytes_read.sum"}},
    {"dram_bytes_write", {"dram__bytes_write.sum"}},
    {"gpu_time_ns", {"gpu__time_duration.sum"}},
    {"sm_clock_hz", {"sm__cycles_elapsed.avg.per_second"}},
    {"tensor_active_pct",
     {"sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_elapsed",
      "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_elapsed"}},
    // (The speed-of-light throughputs, dram__/sm__throughput, took 8 replay passes per
    // kernel on the H100 against 1 without them: left out; DRAM bytes over the timed
    // median give the achieved bandwidth.)
};

bool is_rate(const std::string& key) {
  return key.ends_with("_pct") || key.ends_with("_hz");
}

// A CUPTI parameter struct: zeroed, with its size set (how CUPTI versions its structs).
template <class P>
P params(size_t struct_size) {
  P p{};
  p.structSize = struct_size;
  return p;
}

std::string result_string(int code) {
  const char* s = nullptr;
  cuptiGetResultString(static_cast<CUptiResult>(code), &s);
  return s ? s : "unknown";
}

}  // namespace

bool HwMetrics::fail(const std::string& where, int code) {
  ok_ = false;
  why_ = where + ": " + result_string(code);
  return false;
}

HwMetrics::HwMetrics() {
  CUcontext ctx = nullptr;
  CUdevice device = 0;
  if (cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || !ctx || cuCtxGetDevice(&device) != CUDA_SUCCESS) {
    why_ = "no current CUDA context";
    return;
  }
  auto init =
      params<CUpti_Profiler_Initialize_Params>(CUpti_Profiler_Initialize_Params_STRUCT_SIZE);
  if (CUptiResult r = cuptiProfilerInitialize(&init); r != CUPTI_SUCCESS) {
    fail("cuptiProfilerInitialize", r);
    return;
  }
  auto chip = params<CUpti_Device_GetChipName_Params>(CUpti_Device_GetChipName_Params_STRUCT_SIZE);
  chip.deviceIndex = static_cast<size_t>(device);
  if (CUptiResult r = cuptiDeviceGetChipName(&chip); r != CUPTI_SUCCESS) {
    fail("cuptiDeviceGetChipName", r);
    return;
  }
  chip_ = chip.pChipName;
  auto avail = params<CUpti_Profiler_GetCounterAvailability_Params>(
      CUpti_Profiler_GetCounterAvailability_Params_STRUCT_SIZE);
  avail.ctx = ctx;
  std::vector<uint8_t> avail_image;
  if (cuptiProfilerGetCounterAvailability(&avail) == CUPTI_SUCCESS) {
    avail_image.resize(avail.counterAvailabilityImageSize);
    avail.pCounterAvailabilityImage = avail_image.data();
    if (cuptiProfilerGetCounterAvailability(&avail) != CUPTI_SUCCESS) avail_image.clear();
  }
  auto host = params<CUpti_Profiler_Host_Initialize_Params>(
      CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE);
  host.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
  host.pChipName = chip.pChipName;
  host.pCounterAvailabilityImage = avail_image.empty() ? nullptr : avail_image.data();
  if (CUptiResult r = cuptiProfilerHostInitialize(&host); r != CUPTI_SUCCESS) {
    fail("cuptiProfilerHostInitialize", r);
    return;
  }
  host_ = host.pHostObject;
  auto* host_object = static_cast<CUpti_Profiler_Host_Object*>(host_);

  // QUADRANT_LIST_METRICS=pattern prints the chip's counter names that contain it.
  if (const char* pattern = std::getenv("QUADRANT_LIST_METRICS")) {
    auto base = params<CUpti_Profiler_Host_GetBaseMetrics_Params>(
        CUpti_Profiler_Host_GetBaseMetrics_Params_STRUCT_SIZE);
    base.pHostObject = host_object;
    base.metricType = CUPTI_METRIC_TYPE_COUNTER;
    if (cuptiProfilerHostGetBaseMetrics(&base) == CUPTI_SUCCESS)
      for (size_t i = 0; i < base.numMetrics; ++i)
        if (std::strstr(base.ppMetricNames[i], pattern))
          std::printf("metric: %s\n", base.ppMetricNames[i]);
  }
  // Keep the names the chip knows; list the rest.
  for (const auto& [key, candidates] : kWanted) {
    bool found = false;
    for (const std::string& name : candidates) {
      auto prop = params<CUpti_Profiler_Host_GetMetricProperties_Params>(
          CUpti_Profiler_Host_GetMetricProperties_Params_STRUCT_SIZE);
      prop.pHostObject = host_object;
      prop.pMetricName = name.c_str();
      if (cuptiProfilerHostGetMetricProperties(&prop) == CUPTI_SUCCESS) {
        names_.push_back(name);
        keys_.push_back(key);
        found = true;
        break;
      }
    }
    if (!found) missing_.push_back(candidates.front());
  }
  if (names_.empty()) {
    why_ = "the chip offers none of the wanted metrics";
    return;
  }
  std::vector<const char*> c_names;
  for (const auto& n : names_) c_names.push_back(n.c_str());

  auto add = params<CUpti_Profiler_Host_ConfigAddMetrics_Params>(
      CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE);
  add.pHostObject = host_object;
  add.ppMetricNames = c_names.data();
  add.numMetrics = c_names.size();
  if (CUptiResult r = cuptiProfilerHostConfigAddMetrics(&add); r != CUPTI_SUCCESS) {
    fail("cuptiProfilerHostConfigAddMetrics", r);
    return;
  }
  auto size = params<CUpti_Profiler_Host_GetConfigImageSize_Params>(
      CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE);
  size.pHostObject = host_object;
  if (CUptiResult r = cuptiProfilerHostGetConfigImageSize(&size); r != CUPTI_SUCCESS) {
    fail("cuptiProfilerHostGetConfigImageSize", r);
    return;
  }
  config_.resize(size.configImageSize);
  auto image = params<CUpti_Profiler_Host_GetConfigImage_Params>(
      CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE);
  image.pHostObject = host_object;
  image.configImageSize = config_.size();
  image.pConfigImage = config_.data();
  if (CUptiResult r = cuptiProfilerHostGetConfigImage(&image); r != CUPTI_SUCCESS) {
    fail("cuptiProfilerHostGetConfigImage", r);
    return;
  }
  auto passes = params<CUpti_Profiler_Host_GetNumOfPasses_Params>(
      CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE);
  passes.configImageSize = config_.size();
  passes.pConfigImage = config_.data();
  if (CUptiResult r = cuptiProfilerHostGetNumOfPasses(&passes); r != CUPTI_SUCCESS) {
    fail("cuptiProfilerHostGetNumOfPasses", r);
    return;
  }
  passes_ = passes.numOfPasses;

  auto enable =
      params<CUpti_RangeProfiler_Enable_Params>(CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE);
  enable.ctx = ctx;
  if (CUptiResult r = cuptiRangeProfilerEnable(&enable); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerEnable", r);
    return;
  }
  range_ = enable.pRangeProfilerObject;
  ok_ = true;
}

HwMetrics::~HwMetrics() {
  if (range_) {
    auto disable =
        params<CUpti_RangeProfiler_Disable_Params>(CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE);
    disable.pRangeProfilerObject = static_cast<CUpti_RangeProfiler_Object*>(range_);
    cuptiRangeProfilerDisable(&disable);
  }
  if (host_) {
    auto deinit = params<CUpti_Profiler_Host_Deinitialize_Params>(
        CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE);
    deinit.pHostObject = static_cast<CUpti_Profiler_Host_Object*>(host_);
    cuptiProfilerHostDeinitialize(&deinit);
  }
}

std::map<std::string, double> HwMetrics::measure(const std::function<void()>& launch) {
  if (!ok_) return {};
  // An op is a few kernels; one range per kernel (auto ranges), each replayed per pass.
  constexpr size_t kMaxRanges = 64;
  auto* range = static_cast<CUpti_RangeProfiler_Object*>(range_);
  std::vector<const char*> c_names;
  for (const auto& n : names_) c_names.push_back(n.c_str());

  auto size = params<CUpti_RangeProfiler_GetCounterDataSize_Params>(
      CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE);
  size.pRangeProfilerObject = range;
  size.pMetricNames = c_names.data();
  size.numMetrics = c_names.size();
  size.maxNumOfRanges = kMaxRanges;
  size.maxNumRangeTreeNodes = kMaxRanges;
  if (CUptiResult r = cuptiRangeProfilerGetCounterDataSize(&size); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerGetCounterDataSize", r);
    return {};
  }
  counter_data_.assign(size.counterDataSize, 0);
  auto init = params<CUpti_RangeProfiler_CounterDataImage_Initialize_Params>(
      CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE);
  init.pRangeProfilerObject = range;
  init.counterDataSize = counter_data_.size();
  init.pCounterData = counter_data_.data();
  if (CUptiResult r = cuptiRangeProfilerCounterDataImageInitialize(&init); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerCounterDataImageInitialize", r);
    return {};
  }
  auto config = params<CUpti_RangeProfiler_SetConfig_Params>(
      CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE);
  config.pRangeProfilerObject = range;
  config.configSize = config_.size();
  config.pConfig = config_.data();
  config.counterDataImageSize = counter_data_.size();
  config.pCounterDataImage = counter_data_.data();
  config.range = CUPTI_AutoRange;
  config.replayMode = CUPTI_KernelReplay;
  config.maxRangesPerPass = kMaxRanges;
  config.numNestingLevels = 1;
  config.minNestingLevel = 1;
  config.passIndex = 0;
  config.targetNestingLevel = 1;
  if (CUptiResult r = cuptiRangeProfilerSetConfig(&config); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerSetConfig", r);
    return {};
  }
  auto start =
      params<CUpti_RangeProfiler_Start_Params>(CUpti_RangeProfiler_Start_Params_STRUCT_SIZE);
  start.pRangeProfilerObject = range;
  if (CUptiResult r = cuptiRangeProfilerStart(&start); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerStart", r);
    return {};
  }
  launch();
  auto stop = params<CUpti_RangeProfiler_Stop_Params>(CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE);
  stop.pRangeProfilerObject = range;
  if (CUptiResult r = cuptiRangeProfilerStop(&stop); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerStop", r);
    return {};
  }
  auto decode = params<CUpti_RangeProfiler_DecodeData_Params>(
      CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE);
  decode.pRangeProfilerObject = range;
  if (CUptiResult r = cuptiRangeProfilerDecodeData(&decode); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerDecodeData", r);
    return {};
  }
  auto info = params<CUpti_RangeProfiler_GetCounterDataInfo_Params>(
      CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE);
  info.pCounterDataImage = counter_data_.data();
  info.counterDataImageSize = counter_data_.size();
  if (CUptiResult r = cuptiRangeProfilerGetCounterDataInfo(&info); r != CUPTI_SUCCESS) {
    fail("cuptiRangeProfilerGetCounterDataInfo", r);
    return {};
  }
  std::map<std::string, double> sum;
  std::vector<double> values(names_.size());
  double weight = 0;
  for (size_t i = 0; i < info.numTotalRanges; ++i) {
    auto eval = params<CUpti_Profiler_Host_EvaluateToGpuValues_Params>(
        CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE);
    eval.pHostObject = static_cast<CUpti_Profiler_Host_Object*>(host_);
    eval.pCounterDataImage = counter_data_.data();
    eval.counterDataImageSize = counter_data_.size();
    eval.rangeIndex = i;
    eval.ppMetricNames = c_names.data();
    eval.numMetrics = c_names.size();
    eval.pMetricValues = values.data();
    if (CUptiResult r = cuptiProfilerHostEvaluateToGpuValues(&eval); r != CUPTI_SUCCESS) {
      fail("cuptiProfilerHostEvaluateToGpuValues", r);
      return {};
    }
    double time = 1;  // a kernel's weight in the rates: its time when counted
    for (size_t m = 0; m < names_.size(); ++m)
      if (keys_[m] == "gpu_time_ns") time = values[m];
    weight += time;
    for (size_t m = 0; m < names_.size(); ++m)
      sum[keys_[m]] += is_rate(keys_[m]) ? time * values[m] : values[m];
  }
  for (auto& [key, value] : sum)
    if (is_rate(key) && weight > 0) value /= weight;
  sum["kernels"] = static_cast<double>(info.numTotalRanges);
  if (decode.numOfRangeDropped)
    sum["ranges_dropped"] = static_cast<double>(decode.numOfRangeDropped);
  return sum;
}

}  // namespace quadrant::calibration
