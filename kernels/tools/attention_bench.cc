// quadrant-attention-bench: the attention quadrants alone, so that their device job builds
// only attention sources (kernels/scripts/device_attention.sh). Measures the ceilings
// (device-to-device copy, cuBLASLt BF16 and FP8 8192^3), checks prefill and decode
// attention against the float64 references at small shapes (two fresh seeds each: varlen,
// GQA ratios 1/2/4/8/16, prefix, head dims) and at the timed shapes (sampled rows), then
// times each as CUDA-graph replays (median of 50 after warm-up, twice, the lower kept;
// copies rotated to span >= 4x L2) and prints a table of fractions of the ceilings.
//
//   quadrant-attention-bench [--out DIR] [--only SUBSTRING]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/src/common.cuh"
#include "kernels/src/lt_gemm.h"
#include "kernels/src/op_util.h"

namespace {

using quadrant::kernels::QuadrantOp;
using quadrant::kernels::ShapeParams;

#define CHECK(call)                                                                            \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s failed: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, \
                   __LINE__);                                                                  \
      std::exit(2);                                                                            \
    }                                                                                          \
  } while (0)

std::unique_ptr<QuadrantOp> make(const std::string& quadrant, const std::string& format,
                                 const ShapeParams& shape) {
  if (quadrant == "prefill_attention")
    return quadrant::kernels::make_prefill_attention(format, shape);
  return quadrant::kernels::make_decode_attention(format, shape);
}

struct Case {
  std::string quadrant, format, label;
  ShapeParams shape;
};

std::string shape_text(const ShapeParams& s) {
  std::ostringstream o;
  bool first = true;
  for (const auto& [k, v] : s) {
    o << (first ? "" : " ") << k << "=" << v;
    first = false;
  }
  return o.str();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class Launch>
double time_ms(Launch launch, int count, cudaStream_t stream, int iters) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i) launch(i % count);
  CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    CHECK(cudaEventRecord(start, stream));
    launch(i % count);
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaEventSynchronize(stop));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  return median(ms);
}

struct Timing {
  double ms = 0, spread = 0;
  int copies = 0;
};

// Graph replays of `copies` independent ops (inputs rotated past the L2).
Timing time_ops(std::vector<std::unique_ptr<QuadrantOp>>& ops, int iters) {
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::vector<cudaGraphExec_t> graphs;
  for (auto& op : ops) {
    op->launch(stream);
    CHECK(cudaStreamSynchronize(stream));
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    op->launch(stream);
    CHECK(cudaStreamEndCapture(stream, &g));
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, g, 0));
    CHECK(cudaGraphDestroy(g));
    graphs.push_back(exec);
  }
  auto launch = [&](int i) { CHECK(cudaGraphLaunch(graphs[i], stream)); };
  Timing t;
  t.copies = static_cast<int>(ops.size());
  t.ms = time_ms(launch, t.copies, stream, iters);
  const double again = time_ms(launch, t.copies, stream, iters);
  t.spread = std::fabs(again - t.ms) / t.ms;
  t.ms = std::min(t.ms, again);
  for (auto g : graphs) CHECK(cudaGraphExecDestroy(g));
  CHECK(cudaStreamDestroy(stream));
  return t;
}

Timing time_case(const Case& c, size_t l2, int iters) {
  std::vector<std::unique_ptr<QuadrantOp>> ops;
  size_t total = 0;
  for (int i = 0; i < 8 && total < 4 * l2; ++i) {
    auto op = make(c.quadrant, c.format, c.shape);
    op->prepare(1000 + i);
    total += op->device_bytes();
    ops.push_back(std::move(op));
  }
  return time_ops(ops, iters);
}

double copy_bandwidth(size_t bytes, int iters) {
  void *a, *b;
  CHECK(cudaMalloc(&a, bytes));
  CHECK(cudaMalloc(&b, bytes));
  CHECK(cudaMemset(a, 1, bytes));
  auto launch = [&](int i) {
    CHECK(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
  };
  const double ms = time_ms(launch, 2, nullptr, iters);
  CHECK(cudaFree(a));
  CHECK(cudaFree(b));
  return 2.0 * bytes / (ms * 1e-3);
}

// cuBLASLt n^3 GEMM on random data, graph replays, copies rotated: the matrix ceiling.
double gemm_ceiling(bool use_fp8, int iters, double* ms_out) {
  using namespace quadrant::kernels;
  const int64_t n = 8192;
  const size_t e = use_fp8 ? 1 : 2;
  constexpr int kCopies = 3;
  std::vector<std::unique_ptr<DeviceArray<uint8_t>>> a, b;
  std::vector<std::unique_ptr<DeviceArray<bf16>>> c;
  for (int i = 0; i < kCopies; ++i) {
    a.push_back(std::make_unique<DeviceArray<uint8_t>>(n * n * e));
    b.push_back(std::make_unique<DeviceArray<uint8_t>>(n * n * e));
    c.push_back(std::make_unique<DeviceArray<bf16>>(n * n));
    for (auto* buf : {a.back().get(), b.back().get()}) {
      if (use_fp8)
        fill_uniform(reinterpret_cast<fp8*>(buf->get()), buf->size(), 7 + i, 100.0f);
      else
        fill_uniform(reinterpret_cast<bf16*>(buf->get()), buf->size() / 2, 7 + i, -1.0f, 1.0f);
    }
  }
  LtGemm gemm(n, n, n, use_fp8);
  DeviceArray<uint8_t> ws(size_t(32) << 20);
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::vector<cudaGraphExec_t> graphs;
  for (int i = 0; i < kCopies; ++i) {
    gemm.run(a[i]->get(), b[i]->get(), c[i]->get(), 1.0f, ws.get(), stream);
    CHECK(cudaStreamSynchronize(stream));
    cudaGraph_t g;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    gemm.run(a[i]->get(), b[i]->get(), c[i]->get(), 1.0f, ws.get(), stream);
    CHECK(cudaStreamEndCapture(stream, &g));
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, g, 0));
    CHECK(cudaGraphDestroy(g));
    graphs.push_back(exec);
  }
  auto launch = [&](int i) { CHECK(cudaGraphLaunch(graphs[i], stream)); };
  const double ms =
      std::min(time_ms(launch, kCopies, stream, iters), time_ms(launch, kCopies, stream, iters));
  for (auto g : graphs) CHECK(cudaGraphExecDestroy(g));
  CHECK(cudaStreamDestroy(stream));
  *ms_out = ms;
  return 2.0 * n * n * n / (ms * 1e-3);
}

// The timed prefill shapes, launched twice each (the variant from the environment).
int run_profile(const std::string& only) {
  const std::vector<std::pair<std::string, ShapeParams>> shapes = {
      {"1x8192 causal 32/8 d128",
       {{"batch", 1}, {"seq_len", 8192}, {"heads", 32}, {"kv_heads", 8}, {"head_dim", 128}}},
      {"1x8192 MLA 16 heads 192/128",
       {{"batch", 1},
        {"seq_len", 8192},
        {"heads", 16},
        {"kv_heads", 16},
        {"head_dim", 192},
        {"v_head_dim", 128}}}};
  for (const char* f : {"bf16", "fp8"})
    for (const auto& [label, shape] : shapes) {
      if (!only.empty() && (std::string(f) + " " + label).find(only) == std::string::npos) continue;
      auto op = make("prefill_attention", f, shape);
      op->prepare(5);
      op->launch(nullptr);
      op->launch(nullptr);
      CHECK(cudaDeviceSynchronize());
      std::printf("profiled %s %s (%s)\n", f, label.c_str(), op->name().c_str());
    }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".", only;
  bool profile = false;  // launch each selected timed case twice, nothing else (for ncu)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--profile")
      profile = true;
    else if (a == "--out" && i + 1 < argc)
      out_dir = argv[++i];
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--out DIR] [--only SUBSTRING] [--profile]\n", argv[0]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 3;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20);
  const size_t l2 = static_cast<size_t>(prop.l2CacheSize);
  const int iters = 50;
  if (profile) return run_profile(only);
  std::ofstream log(out_dir + "/attn_results.csv");
  log << "kind,quadrant,format,label,kernel,shape,rel_fro_error,tolerance,passed,ms,spread,copies,"
         "tflops,tbps,frac_matrix_ceiling,frac_copy_ceiling\n";

  const double copy_bps = copy_bandwidth(size_t(2) << 30, iters);
  double bf16_ms = 0, fp8_ms = 0;
  const double bf16_peak = gemm_ceiling(false, iters, &bf16_ms);
  const double fp8_peak = gemm_ceiling(true, iters, &fp8_ms);
  std::printf(
      "ceiling: copy %.3f TB/s; cuBLASLt 8192^3 BF16 %.1f TFLOP/s (%.3f ms), FP8 %.1f "
      "TFLOP/s (%.3f ms)\n",
      copy_bps / 1e12, bf16_peak / 1e12, bf16_ms, fp8_peak / 1e12, fp8_ms);
  log << "ceiling,copy,,,,bytes=" << (size_t(2) << 30) << ",,,,,,,," << copy_bps / 1e12 << ",,1\n";
  log << "ceiling,dense_gemm,bf16,8192^3,cublasLt,,,,," << bf16_ms << ",,3," << bf16_peak / 1e12
      << ",,1,\n";
  log << "ceiling,dense_gemm,fp8,8192^3,cublasLt,,,,," << fp8_ms << ",,3," << fp8_peak / 1e12
      << ",,1,\n";

  auto pa = [](int64_t batch, int64_t seq, int64_t seq_min, int64_t prefix, int64_t heads,
               int64_t kv_heads, int64_t d, int64_t dv) {
    return ShapeParams{{"batch", batch},       {"seq_len", seq},  {"seq_len_min", seq_min},
                       {"prefix_len", prefix}, {"heads", heads},  {"kv_heads", kv_heads},
                       {"head_dim", d},        {"v_head_dim", dv}};
  };
  auto da = [](int64_t batch, int64_t kv, int64_t kv_min, int64_t heads, int64_t kv_heads,
               int64_t d, int64_t bs) {
    return ShapeParams{{"batch", batch},  {"kv_len", kv},         {"kv_len_min", kv_min},
                       {"heads", heads},  {"kv_heads", kv_heads}, {"head_dim", d},
                       {"block_size", bs}};
  };
  std::vector<Case> checks;
  for (const char* f : {"bf16", "fp8"}) {
    checks.push_back(
        {"prefill_attention", f, "varlen gqa4 d128", pa(3, 300, 70, 0, 8, 2, 128, 128)});
    checks.push_back({"prefill_attention", f, "prefix gqa4", pa(2, 130, 130, 200, 4, 1, 128, 128)});
    checks.push_back(
        {"prefill_attention", f, "prefix 77 varlen gqa2", pa(4, 260, 1, 77, 4, 2, 128, 128)});
    checks.push_back({"prefill_attention", f, "mha 1 token", pa(1, 1, 1, 0, 2, 2, 128, 128)});
    checks.push_back({"prefill_attention", f, "gqa16 257", pa(2, 257, 129, 0, 16, 1, 128, 128)});
    checks.push_back(
        {"prefill_attention", f, "gqa8 prefix 300", pa(3, 200, 5, 300, 16, 2, 128, 128)});
    checks.push_back({"prefill_attention", f, "mla d192/128", pa(2, 200, 200, 0, 4, 4, 192, 128)});
    checks.push_back({"prefill_attention", f, "mla prefix", pa(2, 150, 60, 100, 4, 1, 192, 128)});
    checks.push_back({"prefill_attention", f, "d64", pa(2, 150, 150, 0, 4, 2, 64, 64)});
    checks.push_back(
        {"prefill_attention", f, "d64 prefix varlen", pa(3, 300, 20, 50, 8, 8, 64, 64)});
    checks.push_back({"decode_attention", f, "spread gqa4", da(7, 1000, 1, 8, 2, 128, 16)});
    checks.push_back({"decode_attention", f, "gqa16 d64 bs7", da(5, 700, 3, 16, 1, 64, 7)});
    checks.push_back({"decode_attention", f, "mha d256 bs32", da(3, 500, 500, 4, 4, 256, 32)});
    checks.push_back({"decode_attention", f, "gqa8 d128 bs16", da(9, 2100, 1, 32, 4, 128, 16)});
  }
  int failed = 0, run = 0;
  // (case, variant): QUADRANT_PREFILL_ATTN_VARIANT for prefill, QUADRANT_DECODE_ATTN_MMA
  // for decode; each variant the op can take is checked.
  std::vector<std::pair<Case, std::string>> runs;
  for (const Case& c : checks) {
    if (c.quadrant == "prefill_attention") {
      // Variants 4 to 6 (three consumer warpgroups) exist for FP8 only.
      for (const char* v : {"2", "3", "1", "0", "-1", "4", "5", "6", "7"})
        if (c.format == "fp8" || (v[0] != '4' && v[0] != '5' && v[0] != '6'))
          runs.push_back({c, v});
    } else {
      for (const char* v : {"1", "0"}) runs.push_back({c, v});
    }
  }
  // An empty variant leaves the op's default (the environment variable unset).
  auto set_variant = [](const Case& c, const std::string& v) {
    const char* name = c.quadrant == "prefill_attention" ? "QUADRANT_PREFILL_ATTN_VARIANT"
                                                         : "QUADRANT_DECODE_ATTN_MMA";
    if (v.empty())
      unsetenv(name);
    else
      setenv(name, v.c_str(), 1);
  };
  for (const auto& [c, variant] : runs) {
    if (!only.empty() &&
        (c.quadrant + " " + c.format + " " + c.label).find(only) == std::string::npos)
      continue;
    set_variant(c, variant);
    auto op = make(c.quadrant, c.format, c.shape);
    for (uint64_t seed : {11, 12}) {
      const auto r = op->check(seed);
      ++run;
      failed += !r.passed();
      std::printf("check %-18s %-4s %-22s %-36s seed %llu: err %.3e (tol %.0e) %s%s\n",
                  c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), op->name().c_str(),
                  (unsigned long long)seed, r.rel_fro_error, r.tolerance,
                  r.passed() ? "PASS" : "FAIL", r.all_written ? "" : " (unwritten outputs)");
      log << "check," << c.quadrant << "," << c.format << "," << c.label << "," << op->name() << ","
          << shape_text(c.shape) << "," << r.rel_fro_error << "," << r.tolerance << ","
          << r.passed() << ",,,,,,,\n";
    }
  }
  std::printf("small-shape checks: %d run, %d failed\n", run, failed);

  const std::vector<Case> timed = {
      {"prefill_attention", "bf16", "1x8192 causal 32/8 d128",
       pa(1, 8192, 8192, 0, 32, 8, 128, 128)},
      {"prefill_attention", "bf16", "1x8192 MLA 16 heads 192/128",
       pa(1, 8192, 8192, 0, 16, 16, 192, 128)},
      {"prefill_attention", "bf16", "4x2048 after 4096 prefix",
       pa(4, 2048, 2048, 4096, 32, 8, 128, 128)},
      {"prefill_attention", "bf16", "1x8192 d64 32/8", pa(1, 8192, 8192, 0, 32, 8, 64, 64)},
      {"prefill_attention", "fp8", "1x8192 causal 32/8 d128",
       pa(1, 8192, 8192, 0, 32, 8, 128, 128)},
      {"prefill_attention", "fp8", "4x2048 after 4096 prefix",
       pa(4, 2048, 2048, 4096, 32, 8, 128, 128)},
      {"decode_attention", "bf16", "b64 kv4096 32/8 d128", da(64, 4096, 4096, 32, 8, 128, 16)},
      {"decode_attention", "bf16", "b64 kv128..8192", da(64, 8192, 128, 32, 8, 128, 16)},
      {"decode_attention", "fp8", "b64 kv4096 32/8 d128", da(64, 4096, 4096, 32, 8, 128, 16)},
      {"decode_attention", "fp8", "b64 kv128..8192", da(64, 8192, 128, 32, 8, 128, 16)},
  };
  std::ostringstream table;
  table << "| quadrant | fmt | shape | kernel | rel. err | time ms | TFLOP/s | TB/s | % matrix "
           "ceiling | % copy ceiling |\n|---|---|---|---|---|---|---|---|---|---|\n";
  std::vector<std::pair<Case, std::string>> timed_runs;
  for (const Case& c : timed) {
    const bool prefill = c.quadrant == "prefill_attention";
    // The op's default first; then, for comparison in the same run, the variants it does
    // not take by default (prefill BF16 default 2, FP8 4; decode default 1).
    timed_runs.push_back({c, ""});
    const std::string first = prefill ? (c.format == "fp8" ? "4" : "2") : "1";
    // The same-run comparison: the wgmma kernel's other variants and the mma.sync kernel;
    // FP8 decode on CUDA cores.
    if (prefill && c.label.rfind("1x8192 causal", 0) == 0)
      for (const char* v : {"2", "3", "1", "0", "-1", "4", "5", "6", "7"})
        if (v != first && (c.format == "fp8" || (v[0] != '4' && v[0] != '5' && v[0] != '6')))
          timed_runs.push_back({c, v});
    if (!prefill && c.format == "fp8") timed_runs.push_back({c, "0"});
  }
  for (const auto& [c, variant] : timed_runs) {
    if (!only.empty() &&
        (c.quadrant + " " + c.format + " " + c.label).find(only) == std::string::npos)
      continue;
    set_variant(c, variant);
    auto op = make(c.quadrant, c.format, c.shape);
    const auto r = op->check(21);
    failed += !r.passed();
    const Timing t = time_case(c, l2, iters);
    const double tflops = op->flops() / (t.ms * 1e-3) / 1e12;
    const double tbps = op->bytes() / (t.ms * 1e-3) / 1e12;
    const double fm = tflops * 1e12 / bf16_peak, fc = tbps * 1e12 / copy_bps;
    std::printf(
        "time  %-18s %-4s %-28s %s: err %.2e %s, %.4f ms (spread %.1f%%, %d copies), %.1f "
        "TFLOP/s, %.3f TB/s, %.1f%% matrix, %.1f%% copy\n",
        c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), op->name().c_str(), r.rel_fro_error,
        r.passed() ? "PASS" : "FAIL", t.ms, 100 * t.spread, t.copies, tflops, tbps, 100 * fm,
        100 * fc);
    log << "time," << c.quadrant << "," << c.format << "," << c.label << "," << op->name() << ","
        << shape_text(c.shape) << "," << r.rel_fro_error << "," << r.tolerance << "," << r.passed()
        << "," << t.ms << "," << t.spread << "," << t.copies << "," << tflops << "," << tbps << ","
        << fm << "," << fc << "\n";
    char row[512];
    std::snprintf(row, sizeof row,
                  "| %s | %s | %s | %s | %.2e | %.4f | %.1f | %.3f | %.1f%% | %.1f%% |\n",
                  c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), op->name().c_str(),
                  r.rel_fro_error, t.ms, tflops, tbps, 100 * fm, 100 * fc);
    table << row;
  }
  std::ofstream(out_dir + "/attn_table.md") << table.str();
  std::printf(
      "\n%s\nceilings: copy %.3f TB/s, BF16 %.1f TFLOP/s, FP8 %.1f TFLOP/s (matrix %% is "
      "of the BF16 ceiling for every row)\nfailed checks: %d\n",
      table.str().c_str(), copy_bps / 1e12, bf16_peak / 1e12, fp8_peak / 1e12, failed);
  return failed ? 1 : 0;
}
