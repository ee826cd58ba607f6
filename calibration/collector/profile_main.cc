// quadrant-profile: runs the quadrant kernels over a shape grid and records every launch
// with the CUPTI Activity API, writing one profile per op to OUT/<gpu>/<op>.json
// (calibration/profile.h).
//
//   quadrant-profile --grid calibration/grids/h100.json --out $OUT [--gpu H100-SXM]
//                    [--kernels-revision REV] [--only decode_attention,_ffn,prefill_ffn/w4a8]
//
// Per shape: make_op, prepare, warm-up launches (which also time the op roughly), then
// >= `repetitions` timed launches, each after an L2 flush (a memset over twice the L2),
// each under its own external correlation id so that CUPTI's concurrent-kernel records
// (start, end, grid, block, registers, shared memory) are tied to the shape and the
// repetition. Ops under ~50 us are captured once in a CUDA graph and replayed, so that
// host launch gaps do not count. The CUPTI buffers are flushed at the end of each shape.
// The SM clock is sampled through NVML during the timed launches: clocks cannot be locked
// on the lent GPU, so a slow clock must be told apart from a slow kernel.
#include <cuda_runtime.h>
#include <cupti.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "calibration/collector/hw_metrics.h"
#include "calibration/json_path.h"
#include "calibration/profile.h"
#include "kernels/include/quadrant_op.h"
#include "sim/core/error.h"

namespace {

using quadrant::calibration::Json;
namespace cal = quadrant::calibration;

#define CUDA_CHECK(call)                                                        \
  do {                                                                          \
    cudaError_t e_ = (call);                                                    \
    if (e_ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   cudaGetErrorString(e_));                                     \
      std::exit(2);                                                             \
    }                                                                           \
  } while (0)
#define CUPTI_CHECK(call)                                                                       \
  do {                                                                                          \
    CUptiResult r_ = (call);                                                                    \
    if (r_ != CUPTI_SUCCESS) {                                                                  \
      const char* s_ = nullptr;                                                                 \
      cuptiGetResultString(r_, &s_);                                                            \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, s_ ? s_ : "?"); \
      std::exit(2);                                                                             \
    }                                                                                           \
  } while (0)

// NVML, opened at run time from the driver (the toolkit here ships neither nvml.h nor a
// stub library). The few entry points are the stable C API; without NVML the SM clock is
// recorded as 0 (unknown) and the run says so.
class Nvml {
 public:
  Nvml() {
    lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (!lib_) return;
    init_ = reinterpret_cast<int (*)()>(dlsym(lib_, "nvmlInit_v2"));
    by_bus_ = reinterpret_cast<int (*)(const char*, void**)>(
        dlsym(lib_, "nvmlDeviceGetHandleByPciBusId_v2"));
    clock_ =
        reinterpret_cast<int (*)(void*, int, unsigned*)>(dlsym(lib_, "nvmlDeviceGetClockInfo"));
    max_clock_ =
        reinterpret_cast<int (*)(void*, int, unsigned*)>(dlsym(lib_, "nvmlDeviceGetMaxClockInfo"));
    driver_ = reinterpret_cast<int (*)(char*, unsigned)>(dlsym(lib_, "nvmlSystemGetDriverVersion"));
    ok_ = init_ && by_bus_ && clock_ && max_clock_ && driver_ && init_() == 0;
  }
  bool ok() const { return ok_; }
  bool open(const char* bus) { return ok_ && by_bus_(bus, &dev_) == 0; }
  static constexpr int kSm = 1, kMem = 2;  // NVML_CLOCK_SM, NVML_CLOCK_MEM
  double clock(int which) const {
    unsigned mhz = 0;
    if (ok_ && dev_) clock_(dev_, which, &mhz);
    return mhz;
  }
  double max_clock(int which) const {
    unsigned mhz = 0;
    if (ok_ && dev_) max_clock_(dev_, which, &mhz);
    return mhz;
  }
  std::string driver() const {
    char buf[96] = {0};
    if (ok_) driver_(buf, sizeof buf);
    return buf;
  }

 private:
  void* lib_ = nullptr;
  void* dev_ = nullptr;
  bool ok_ = false;
  int (*init_)() = nullptr;
  int (*by_bus_)(const char*, void**) = nullptr;
  int (*clock_)(void*, int, unsigned*) = nullptr;
  int (*max_clock_)(void*, int, unsigned*) = nullptr;
  int (*driver_)(char*, unsigned) = nullptr;
};

// ---- CUPTI activity buffers -------------------------------------------------------------

struct KernelActivity {
  uint64_t start, end;
  uint32_t correlation;
  int grid[3], block[3];
  int registers;
  int64_t shared;
  std::string name;
};

std::mutex g_mutex;
std::vector<KernelActivity> g_kernels;
std::map<uint32_t, uint64_t> g_external;  // CUPTI correlation id -> our external id
uint64_t g_dropped = 0;

constexpr size_t kBufferBytes = 8 << 20;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = kBufferBytes;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream_id, uint8_t* buffer, size_t,
                               size_t valid) {
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(g_mutex);
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL ||
        record->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
      auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(record);
      g_kernels.push_back({k->start,
                           k->end,
                           k->correlationId,
                           {k->gridX, k->gridY, k->gridZ},
                           {k->blockX, k->blockY, k->blockZ},
                           k->registersPerThread,
                           static_cast<int64_t>(k->staticSharedMemory) + k->dynamicSharedMemory,
                           k->name ? k->name : "?"});
    } else if (record->kind == CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION) {
      auto* e = reinterpret_cast<CUpti_ActivityExternalCorrelation*>(record);
      if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0)
        g_external[e->correlationId] = e->externalId;
    }
  }
  size_t dropped = 0;
  cuptiActivityGetNumDroppedRecords(ctx, stream_id, &dropped);
  g_dropped += dropped;
  std::free(buffer);
}

// ---- helpers ----------------------------------------------------------------------------

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string catalog_key(const std::string& device_name) {
  if (device_name.find("H200") != std::string::npos) return "H200";
  if (device_name.find("H100") != std::string::npos)
    return device_name.find("PCIe") != std::string::npos ? "H100-PCIe" : "H100-SXM";
  if (device_name.find("H800") != std::string::npos) return "H800";
  if (device_name.find("H20") != std::string::npos) return "H20";
  std::string k;
  for (char c : device_name) k += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return k;
}

// Cartesian product of a grid entry's axes; an axis whose values are objects sets several
// parameters at once (e.g. {"heads": 32, "kv_heads": 8}).
std::vector<quadrant::kernels::ShapeParams> expand(const cal::Node& entry) {
  std::vector<quadrant::kernels::ShapeParams> shapes(1);
  if (entry.has("fixed")) {
    cal::Node f = entry.at("fixed");
    for (const std::string& k : f.keys()) shapes[0][k] = f.at(k).integer();
  }
  cal::Node axes = entry.at("axes");
  for (const std::string& axis : axes.keys()) {
    cal::Node values = axes.at(axis);
    std::vector<quadrant::kernels::ShapeParams> next;
    for (const auto& s : shapes)
      for (size_t i = 0; i < values.size(); ++i) {
        auto t = s;
        cal::Node v = values.at(i);
        if (v.json().is_object()) {
          for (const std::string& k : v.keys()) t[k] = v.at(k).integer();
        } else {
          t[axis] = v.integer();
        }
        next.push_back(t);
      }
    shapes = next;
  }
  return shapes;
}

struct Options {
  std::string grid, out, gpu, revision, only;
  int device = 0;
  bool metrics = true;           // the hardware-counter pass after the timing pass
  double metrics_seconds = 240;  // its time budget: shapes past it keep no counters
  // The shape run back to back for this long before it is timed, so that the power-capped SM
  // clock settles at the shape's own level rather than the previous shapes' (0: not).
  double settle_ms = 0;
  // The ops settled (--settle-only SUBSTRING[:MS],...; all when empty): a memory-bound op's
  // time does not follow the clock, so settling it buys nothing and costs the call's time; an
  // entry's MS (else settle_ms) lets dense GEMM, whose clock falls longest, settle longer.
  std::vector<std::pair<std::string, double>> settle_only;
};

// The non-empty entries of a comma-separated list.
std::vector<std::string> entries(const std::string& list) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    if (end > begin) out.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

// --only: ops whose name contains one of the comma-separated substrings (all when empty); an
// entry OP/FORMAT ("decode_ffn/w4a8") takes that format of the ops it names, so that a kernel
// change confined to one format is collected again without re-timing the others.
bool selected(const std::string& op, const std::string& only) {
  if (only.empty()) return true;
  for (const std::string& part : entries(only))
    if (op.find(part.substr(0, part.find('/'))) != std::string::npos) return true;
  return false;
}
bool selected(const std::string& op, const std::string& format, const std::string& only) {
  if (only.empty()) return true;
  for (const std::string& part : entries(only)) {
    const bool with_format = part.find('/') != std::string::npos;
    if ((with_format ? op + "/" + format : op).find(part) != std::string::npos) return true;
  }
  return false;
}

// How long an op is settled: the first --settle-only entry that names it (its MS), settle_ms
// when there is no list, 0 when the list leaves the op out.
double settle_ms_for(const std::string& op, const Options& o) {
  if (o.settle_only.empty()) return o.settle_ms;
  for (const auto& [part, ms] : o.settle_only)
    if (op.find(part) != std::string::npos) return ms;
  return 0;
}

Options parse(int argc, char** argv) {
  Options o;
  std::string settle_only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "quadrant-profile: %s needs a value\n", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--grid")
      o.grid = value();
    else if (a == "--out")
      o.out = value();
    else if (a == "--gpu")
      o.gpu = value();
    else if (a == "--kernels-revision")
      o.revision = value();
    else if (a == "--only")
      o.only = value();
    else if (a == "--no-metrics")
      o.metrics = false;
    else if (a == "--metrics-seconds")
      o.metrics_seconds = std::stod(value());
    else if (a == "--settle-ms") {
      o.settle_ms = std::stod(value());
      if (!(o.settle_ms >= 0 && o.settle_ms <= 10000)) {
        std::fprintf(stderr, "quadrant-profile: --settle-ms must be 0 .. 10000\n");
        std::exit(1);
      }
    } else if (a == "--settle-only") {
      settle_only = value();
    } else {
      std::fprintf(stderr,
                   "usage: quadrant-profile --grid GRID.json --out DIR [--gpu KEY] "
                   "[--kernels-revision REV] [--only SUBSTRING[,SUBSTRING...]] [--no-metrics] "
                   "[--metrics-seconds S] [--settle-ms MS] [--settle-only SUBSTRING[:MS],...]\n");
      std::exit(1);
    }
  }
  // Read after every option, so that an entry without :MS takes --settle-ms wherever it stands.
  for (const std::string& entry : entries(settle_only)) {
    const size_t colon = entry.find(':');
    double ms = o.settle_ms;
    if (colon != std::string::npos) {
      const std::string text = entry.substr(colon + 1);
      char* tail = nullptr;
      ms = std::strtod(text.c_str(), &tail);
      if (colon == 0 || text.empty() || *tail != '\0' || !(ms >= 0 && ms <= 10000)) {
        std::fprintf(stderr,
                     "quadrant-profile: --settle-only entry '%s': expected SUBSTRING or "
                     "SUBSTRING:MS with MS 0 .. 10000\n",
                     entry.c_str());
        std::exit(1);
      }
    }
    o.settle_only.emplace_back(entry.substr(0, colon), ms);
  }
  if (o.grid.empty() || o.out.empty()) {
    std::fprintf(stderr, "quadrant-profile: --grid and --out are required\n");
    std::exit(1);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  Json grid_json = cal::load_json(opt.grid);
  cal::Node grid(grid_json, opt.grid);
  const int repetitions = static_cast<int>(grid.integer("repetitions"));
  const int warmup = static_cast<int>(grid.integer("warmup"));
  const double graph_below_us = grid.number_or("graph_below_us", 50);
  if (repetitions < 20) grid.at("repetitions").fail("at least 20 timed launches per shape");

  CUDA_CHECK(cudaSetDevice(opt.device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, opt.device));
  Nvml nvml;
  char bus[32];
  CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof bus, opt.device));
  if (!nvml.open(bus)) std::printf("warning: NVML not available: SM clocks recorded as 0\n");
  auto sm_clock = [&] { return nvml.clock(Nvml::kSm); };

  cal::DeviceInfo dev;
  dev.name = prop.name;
  dev.gpu = opt.gpu.empty() ? catalog_key(dev.name) : opt.gpu;
  dev.sm_count = prop.multiProcessorCount;
  dev.sm_clock_max_mhz = nvml.max_clock(Nvml::kSm);
  dev.memory_clock_mhz = nvml.max_clock(Nvml::kMem);
  dev.driver_version = nvml.driver();
  int runtime = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  dev.cuda_version = std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
  uint32_t cupti_version = 0;
  CUPTI_CHECK(cuptiGetVersion(&cupti_version));
  dev.cupti_version = std::to_string(cupti_version);

  CUPTI_CHECK(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
  CUPTI_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL));
  CUPTI_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION));
  // External correlation records are emitted for API calls CUPTI traces: the runtime and
  // driver API kinds must be on for them (their own records are discarded).
  CUPTI_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME));
  CUPTI_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_DRIVER));

  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // Twice the L2, cleared before every timed launch so that no launch reads the last
  // one's data from L2.
  const size_t flush_bytes = 2 * static_cast<size_t>(prop.l2CacheSize);
  void* flush = nullptr;
  CUDA_CHECK(cudaMalloc(&flush, flush_bytes));
  cudaEvent_t ev0, ev1;
  CUDA_CHECK(cudaEventCreate(&ev0));
  CUDA_CHECK(cudaEventCreate(&ev1));

  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const auto supported = quadrant::kernels::supported_ops();
  std::map<std::string, cal::Profile> profiles;
  uint64_t next_id = 1;
  const auto t_start = std::chrono::steady_clock::now();

  cal::Node ops = grid.at("ops");
  for (size_t e = 0; e < ops.size(); ++e) {
    cal::Node entry = ops.at(e);
    const std::string op = entry.string("quadrant");
    if (!selected(op, opt.only)) continue;
    cal::Node formats = entry.at("formats");
    const auto shapes = expand(entry);
    for (size_t fi = 0; fi < formats.size(); ++fi) {
      const std::string format = formats.at(fi).string();
      if (!selected(op, format, opt.only)) continue;
      if (std::find(supported.begin(), supported.end(), std::make_pair(op, format)) ==
          supported.end()) {
        std::printf("skip %s/%s: not supported by make_op\n", op.c_str(), format.c_str());
        continue;
      }
      cal::Profile& prof = profiles[op];
      prof.quadrant = op;
      prof.device = dev;
      prof.kernels_revision = opt.revision;
      prof.collected_at = stamp;
      prof.method = {{"warmup", warmup},
                     {"repetitions", repetitions},
                     {"l2_flush_bytes", static_cast<double>(flush_bytes)},
                     {"graph_below_us", graph_below_us}};
      const double settle_ms = settle_ms_for(op, opt);
      if (settle_ms > 0) prof.method["settle_ms"] = settle_ms;
      for (const auto& params : shapes) {
        std::unique_ptr<quadrant::kernels::QuadrantOp> q;
        try {
          q = quadrant::kernels::make_op(op, format, params);
          q->prepare(1);
        } catch (const std::exception& ex) {
          std::printf("skip %s/%s shape: %s\n", op.c_str(), format.c_str(), ex.what());
          continue;
        }
        // Warm-up, timed roughly with events to choose graph replay or direct launches;
        // the first launch (module loading, lazy cuBLASLt setup) is left out of the timing.
        q->launch(stream);
        CUDA_CHECK(cudaEventRecord(ev0, stream));
        for (int i = 0; i < warmup; ++i) q->launch(stream);
        CUDA_CHECK(cudaEventRecord(ev1, stream));
        CUDA_CHECK(cudaGetLastError());
        CUDA_CHECK(cudaEventSynchronize(ev1));
        float warm_ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&warm_ms, ev0, ev1));
        bool use_graph = warm_ms * 1e3 / std::max(1, warmup) < graph_below_us;
        cudaGraphExec_t exec = nullptr;
        if (use_graph) {
          // An op that cannot be captured is timed with direct launches (and says so).
          cudaGraph_t graph = nullptr;
          CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
          q->launch(stream);
          if (cudaStreamEndCapture(stream, &graph) != cudaSuccess || !graph ||
              cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) {
            (void)cudaGetLastError();
            exec = nullptr;
            use_graph = false;
            std::printf("note: %s/%s could not be captured in a graph\n", op.c_str(),
                        format.c_str());
          }
          if (graph) CUDA_CHECK(cudaGraphDestroy(graph));
          if (exec) CUDA_CHECK(cudaGraphLaunch(exec, stream));  // upload the graph once
        }
        // Settle: about settle_ms of back-to-back launches (timed by the warm-up's rate).
        const double launch_ms = std::max(1e-3, double(warm_ms) / std::max(1, warmup));
        const int settle = static_cast<int>(std::min(1e5, std::ceil(settle_ms / launch_ms)));
        for (int i = 0; i < settle; ++i) {
          if (exec)
            CUDA_CHECK(cudaGraphLaunch(exec, stream));
          else
            q->launch(stream);
        }
        CUDA_CHECK(cudaStreamSynchronize(stream));
        std::vector<double> clocks;
        const uint64_t first_id = next_id;
        for (int r = 0; r < repetitions; ++r) {
          CUDA_CHECK(cudaMemsetAsync(flush, r & 0xff, flush_bytes, stream));
          CUPTI_CHECK(cuptiActivityPushExternalCorrelationId(
              CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, next_id++));
          if (use_graph)
            CUDA_CHECK(cudaGraphLaunch(exec, stream));
          else
            q->launch(stream);
          uint64_t popped = 0;
          CUPTI_CHECK(cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
                                                            &popped));
          if (r % 4 == 0) clocks.push_back(sm_clock());
        }
        clocks.push_back(sm_clock());
        CUDA_CHECK(cudaStreamSynchronize(stream));
        CUDA_CHECK(cudaGetLastError());
        if (exec) CUDA_CHECK(cudaGraphExecDestroy(exec));
        CUPTI_CHECK(cuptiActivityFlushAll(1));

        // Join kernel records to repetitions through the external ids.
        std::map<uint64_t, std::pair<uint64_t, uint64_t>> span;  // id -> (first start, last end)
        std::map<uint64_t, double> busy;                         // id -> sum of kernel times
        std::map<std::string, KernelActivity> kinds;             // one record per kernel name
        std::map<std::string, std::vector<double>> kernel_times;
        size_t seen_kernels = 0, seen_external = 0;
        {
          std::lock_guard<std::mutex> lock(g_mutex);
          seen_kernels = g_kernels.size();
          seen_external = g_external.size();
          for (const KernelActivity& k : g_kernels) {
            auto it = g_external.find(k.correlation);
            if (it == g_external.end() || it->second < first_id || it->second >= next_id) continue;
            auto& s = span[it->second];
            if (s.first == 0 || k.start < s.first) s.first = k.start;
            s.second = std::max(s.second, k.end);
            busy[it->second] += static_cast<double>(k.end - k.start);
            kinds.emplace(k.name, k);
            kernel_times[k.name].push_back(static_cast<double>(k.end - k.start));
          }
          g_kernels.clear();
          g_external.clear();
        }
        std::vector<double> times;
        for (const auto& [id, s] : span) times.push_back(static_cast<double>(s.second - s.first));
        if (static_cast<int>(times.size()) < repetitions) {
          std::printf(
              "skip %s/%s shape: %zu of %d launches recorded by CUPTI (%zu kernel and "
              "%zu external-correlation records seen)\n",
              op.c_str(), format.c_str(), times.size(), repetitions, seen_kernels, seen_external);
          continue;
        }
        cal::ProfileShape ps;
        ps.format = format;
        ps.params = params;
        ps.flops = q->flops();
        ps.bytes = q->bytes();
        ps.median_ns = median(times);
        ps.min_ns = *std::min_element(times.begin(), times.end());
        ps.max_ns = *std::max_element(times.begin(), times.end());
        std::vector<double> dev_abs;
        for (double t : times) dev_abs.push_back(std::abs(t - ps.median_ns));
        ps.mad_ns = median(dev_abs);
        ps.count = static_cast<int64_t>(times.size());
        ps.sm_clock_mhz = median(clocks);
        ps.graph_replay = use_graph;
        std::vector<double> sums;
        for (const auto& [id, b] : busy) sums.push_back(b);
        ps.kernel_sum_ns = sums.empty() ? 0 : median(sums);
        for (const auto& [name, k] : kinds) {
          cal::KernelRecord kr;
          kr.name = name.size() > 160 ? name.substr(0, 160) : name;
          std::copy(k.grid, k.grid + 3, kr.grid);
          std::copy(k.block, k.block + 3, kr.block);
          kr.registers = k.registers;
          kr.shared_bytes = k.shared;
          kr.median_ns = median(kernel_times[name]);
          ps.kernels.push_back(kr);
        }
        std::printf("%-18s %-5s %-60s %10.2f us  noise %.1f%%  %4.0f MHz%s\n", op.c_str(),
                    format.c_str(), cal::shape_key(ps).c_str(), ps.median_ns / 1e3,
                    100 * ps.relative_noise(), ps.sm_clock_mhz, use_graph ? "  graph" : "");
        std::fflush(stdout);
        prof.shapes.push_back(std::move(ps));
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  // Hardware counters, in a pass of their own after every shape has been timed: the
  // activity records are switched off first, each op is rebuilt with the same seed, warmed
  // once, the L2 flushed, and its one counted launch replayed per kernel by CUPTI.
  if (opt.metrics) {
    CUPTI_CHECK(cuptiActivityFlushAll(1));
    for (auto kind :
         {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
          CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER})
      CUPTI_CHECK(cuptiActivityDisable(kind));
    cal::HwMetrics hw;
    if (!hw.ok()) {
      std::printf("hardware metrics: not collected (%s)\n", hw.why().c_str());
    } else {
      std::printf("hardware metrics: chip %s, %zu pass(es), counting", hw.chip().c_str(),
                  hw.passes());
      for (const auto& n : hw.counted()) std::printf(" %s", n.c_str());
      for (const auto& n : hw.missing()) std::printf(" (no %s)", n.c_str());
      std::printf("\n");
      const auto m_start = std::chrono::steady_clock::now();
      size_t counted = 0, total = 0;
      for (auto& [op, prof] : profiles) {
        prof.method["metrics_passes"] = static_cast<double>(hw.passes());
        for (cal::ProfileShape& ps : prof.shapes) {
          ++total;
          if (!hw.ok() ||
              std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count() >
                  opt.metrics_seconds)
            continue;
          auto q = quadrant::kernels::make_op(op, ps.format, ps.params);
          q->prepare(1);
          q->launch(stream);
          CUDA_CHECK(cudaMemsetAsync(flush, 0x5a, flush_bytes, stream));
          CUDA_CHECK(cudaStreamSynchronize(stream));
          ps.metrics = hw.measure([&] {
            q->launch(stream);
            CUDA_CHECK(cudaStreamSynchronize(stream));
          });
          CUDA_CHECK(cudaGetLastError());
          if (ps.metrics.empty()) continue;
          ++counted;
          const double dram = ps.metrics["dram_bytes_read"] + ps.metrics["dram_bytes_write"];
          std::printf(
              "counters %-18s %-5s %-60s DRAM %8.3f MB (%5.2fx counted) %6.3f TB/s  tensor "
              "%5.1f%%\n",
              op.c_str(), ps.format.c_str(), cal::shape_key(ps).c_str(), dram / 1e6,
              ps.bytes > 0 ? dram / ps.bytes : 0, dram / ps.median_ns / 1e3,
              ps.metrics.count("tensor_active_pct") ? ps.metrics["tensor_active_pct"] : 0.0);
          std::fflush(stdout);
        }
      }
      std::printf("hardware metrics: %zu of %zu shapes counted in %.1f s%s\n", counted, total,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count(),
                  hw.ok() ? "" : (" (stopped: " + hw.why() + ")").c_str());
    }
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(opt.out) / dev.gpu;
  fs::create_directories(dir);
  for (const auto& [op, prof] : profiles) {
    if (prof.shapes.empty()) continue;
    cal::save_text((dir / (op + ".json")).string(), cal::profile_to_json(prof));
    std::printf("wrote %s (%zu shapes)\n", (dir / (op + ".json")).c_str(), prof.shapes.size());
  }
  std::printf("collected in %.1f s; CUPTI dropped %llu records\n", seconds,
              static_cast<unsigned long long>(g_dropped));
  return g_dropped ? 3 : 0;
} catch (const quadrant::InputError& e) {
  std::fprintf(stderr, "quadrant-profile: error: %s\n", e.what());
  return 1;
}
