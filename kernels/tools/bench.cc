// quadrant-kernels-bench: the device-side proof of the kernels. It measures the two
// ceilings (a large device-to-device copy; large cuBLASLt BF16 and FP8 GEMMs), checks
// every (quadrant, format) against the float64 CPU reference on fresh random inputs at
// small shapes and at the timed shapes (sampled rows), then times each op as CUDA-graph
// replays with events (median after warm-up, several copies of the inputs rotated so
// that they span several times the L2), and prints a table of fractions of the ceilings.
//
//   quadrant-kernels-bench [--out DIR] [--only SUBSTRING] [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/include/quadrant_kernels.h"
#include "kernels/include/quadrant_op.h"
#include "kernels/src/common.cuh"
#include "kernels/src/lt_gemm.h"

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

// Times the graphs, rotated, as replays: median over `iters`, after warm-up.
double time_graphs(std::vector<cudaGraphExec_t>& graphs, cudaStream_t stream, int iters) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i) CHECK(cudaGraphLaunch(graphs[i % graphs.size()], stream));
  CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    CHECK(cudaEventRecord(start, stream));
    CHECK(cudaGraphLaunch(graphs[i % graphs.size()], stream));
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
  double ms = 0, spread = 0;  // median, and |median of a second run - median| / median
  int copies = 0;
  bool graph = true;  // timed as graph replays (else as direct launches)
};

double time_direct(std::vector<std::unique_ptr<QuadrantOp>>& ops, cudaStream_t stream, int iters) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i) ops[i % ops.size()]->launch(stream);
  CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    CHECK(cudaEventRecord(start, stream));
    ops[i % ops.size()]->launch(stream);
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

Timing time_op(const Case& c, size_t l2_bytes, int iters) {
  std::vector<std::unique_ptr<QuadrantOp>> ops;
  size_t total = 0;
  size_t free_bytes = 0, total_bytes = 0;
  CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  // Enough copies that one replay's inputs are out of L2 when its turn comes again.
  for (int i = 0; i < 8; ++i) {
    auto op = quadrant::kernels::make_op(c.quadrant, c.format, c.shape);
    op->prepare(1000 + i);
    total += op->device_bytes();
    ops.push_back(std::move(op));
    CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (total >= 4 * l2_bytes || free_bytes < 3 * ops.back()->device_bytes() + (2ull << 30)) break;
  }
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::vector<cudaGraphExec_t> graphs;
  bool captured = true;
  for (auto& op : ops) {
    op->launch(stream);  // first launch outside capture: lazy module loads, workspaces
    CHECK(cudaStreamSynchronize(stream));
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      op->launch(stream);
    } catch (const std::exception& e) {
      // cuBLASLt's FP8 path refused capture here (status NOT_SUPPORTED): time direct launches.
      cudaStreamEndCapture(stream, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      captured = false;
      break;
    }
    CHECK(cudaStreamEndCapture(stream, &g));
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, g, 0));
    CHECK(cudaGraphDestroy(g));
    graphs.push_back(exec);
  }
  Timing t;
  t.copies = static_cast<int>(ops.size());
  t.graph = captured;
  if (!captured) {
    for (auto g : graphs) CHECK(cudaGraphExecDestroy(g));
    graphs.clear();
    t.ms = time_direct(ops, stream, iters);
    const double again_direct = time_direct(ops, stream, iters);
    t.spread = std::fabs(again_direct - t.ms) / t.ms;
    t.ms = std::min(t.ms, again_direct);
    CHECK(cudaStreamDestroy(stream));
    return t;
  }
  t.ms = time_graphs(graphs, stream, iters);
  const double again = time_graphs(graphs, stream, iters);
  t.spread = std::fabs(again - t.ms) / t.ms;
  t.ms = std::min(t.ms, again);
  for (auto g : graphs) CHECK(cudaGraphExecDestroy(g));
  CHECK(cudaStreamDestroy(stream));
  return t;
}

double copy_bandwidth(size_t bytes, int iters) {
  void *a, *b;
  CHECK(cudaMalloc(&a, bytes));
  CHECK(cudaMalloc(&b, bytes));
  CHECK(cudaMemset(a, 1, bytes));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  std::vector<double> ms;
  for (int i = 0; i < iters + 3; ++i) {
    CHECK(cudaEventRecord(start));
    CHECK(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    float t;
    CHECK(cudaEventElapsedTime(&t, start, stop));
    if (i >= 3) ms.push_back(t);
  }
  CHECK(cudaFree(a));
  CHECK(cudaFree(b));
  return 2.0 * bytes / (median(ms) * 1e-3);  // bytes read + written
}

// The baseline issue 5 sets for the grouped GEMM: cuBLASLt called once per expert (gate/up
// then down, `rows` rows each, per-tensor scales for FP8), captured in one CUDA graph.
double lt_per_expert_ms(int experts, int64_t rows, int64_t hidden, int64_t inter, bool use_fp8,
                        int iters) {
  using namespace quadrant::kernels;
  const size_t e = experts, in_bytes = use_fp8 ? 1 : 2;
  DeviceArray<uint8_t> a(e * rows * hidden * in_bytes), w1(e * 2 * inter * hidden * in_bytes),
      a2(e * rows * inter * in_bytes), w2(e * hidden * inter * in_bytes);
  DeviceArray<bf16> h(e * rows * 2 * inter), y(e * rows * hidden);
  for (auto* buf : {&a, &w1, &a2, &w2}) {
    if (use_fp8)
      fill_uniform(reinterpret_cast<fp8*>(buf->get()), buf->size(), buf->size(), 100.0f);
    else
      fill_uniform(reinterpret_cast<bf16*>(buf->get()), buf->size() / 2, buf->size(), -1.0f, 1.0f);
  }
  LtGemm g1(rows, 2 * inter, hidden, use_fp8), g2(rows, hidden, inter, use_fp8);
  DeviceArray<uint8_t> ws(kDenseGemmWorkspaceBytes);
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto step = [&] {
    for (size_t x = 0; x < e; ++x) {
      g1.run(a.get() + x * rows * hidden * in_bytes, w1.get() + x * 2 * inter * hidden * in_bytes,
             h.get() + x * rows * 2 * inter, 1.0f, ws.get(), stream);
      g2.run(a2.get() + x * rows * inter * in_bytes, w2.get() + x * hidden * inter * in_bytes,
             y.get() + x * rows * hidden, 1.0f, ws.get(), stream);
    }
  };
  step();
  CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t g;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  step();
  CHECK(cudaStreamEndCapture(stream, &g));
  cudaGraphExec_t exec;
  CHECK(cudaGraphInstantiate(&exec, g, 0));
  std::vector<cudaGraphExec_t> graphs = {exec};
  const double ms =
      std::min(time_graphs(graphs, stream, iters), time_graphs(graphs, stream, iters));
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(g));
  CHECK(cudaStreamDestroy(stream));
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".", only;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" && i + 1 < argc)
      out_dir = argv[++i];
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--quick")
      quick = true;
    else {
      std::fprintf(stderr, "usage: %s [--out DIR] [--only SUBSTRING] [--quick]\n", argv[0]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, also into a pipe
  int device = 0, count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 3;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("device: %s, %d SMs, L2 %d MB, cc %d.%d\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20, prop.major, prop.minor);
  const size_t l2 = static_cast<size_t>(prop.l2CacheSize);
  const int iters = quick ? 10 : 50;
  std::ofstream log(out_dir + "/bench_results.csv");
  log << "kind,quadrant,format,label,shape,rel_fro_error,tolerance,passed,ms,spread,copies,tflops,"
         "tbps,"
         "frac_matrix_ceiling,frac_copy_ceiling\n";

  // ---- ceilings ----
  const double copy_bps = copy_bandwidth(size_t(2) << 30, iters);
  std::printf("ceiling: device-to-device copy %.3f TB/s (2 GiB, read + write)\n", copy_bps / 1e12);
  double gemm_ceiling[2] = {0, 0};
  const char* gemm_formats[2] = {"bf16", "fp8"};
  for (int f = 0; f < 2; ++f) {
    Case c{"dense_gemm", gemm_formats[f], "ceiling", {{"m", 8192}, {"n", 8192}, {"k", 8192}}};
    Timing t;
    try {
      t = time_op(c, l2, iters);
    } catch (const std::exception& e) {
      std::printf("ceiling: cuBLASLt %s GEMM failed: %s\n", gemm_formats[f], e.what());
      cudaGetLastError();
      continue;
    }
    auto op = quadrant::kernels::make_op(c.quadrant, c.format, c.shape);
    gemm_ceiling[f] = op->flops() / (t.ms * 1e-3);
    std::printf("ceiling: cuBLASLt %s GEMM 8192^3 %.1f TFLOP/s (%.3f ms, %s)\n", gemm_formats[f],
                gemm_ceiling[f] / 1e12, t.ms, t.graph ? "graph" : "direct launches");
    log << "ceiling,dense_gemm," << gemm_formats[f] << ",ceiling," << shape_text(c.shape) << ",,,,"
        << t.ms << "," << t.spread << "," << t.copies << "," << gemm_ceiling[f] / 1e12 << ",,1,\n";
  }
  log << "ceiling,copy,,,bytes=" << (size_t(2) << 30) << ",,,,,,,," << copy_bps / 1e12 << ",,1\n";

  // ---- correctness at small shapes, every supported op, two fresh seeds each ----
  const std::vector<Case> checks = {
      {"prefill_attention",
       "bf16",
       "varlen gqa d128",
       {{"batch", 3},
        {"seq_len", 300},
        {"seq_len_min", 70},
        {"heads", 8},
        {"kv_heads", 2},
        {"head_dim", 128}}},
      {"prefill_attention",
       "bf16",
       "chunked prefix",
       {{"batch", 2},
        {"seq_len", 130},
        {"prefix_len", 200},
        {"heads", 4},
        {"kv_heads", 1},
        {"head_dim", 128}}},
      {"prefill_attention",
       "bf16",
       "mla d192/128",
       {{"batch", 2},
        {"seq_len", 200},
        {"heads", 4},
        {"kv_heads", 4},
        {"head_dim", 192},
        {"v_head_dim", 128}}},
      {"prefill_attention",
       "bf16",
       "d64",
       {{"batch", 2}, {"seq_len", 150}, {"heads", 4}, {"kv_heads", 2}, {"head_dim", 64}}},
      {"prefill_attention",
       "fp8",
       "varlen gqa d128",
       {{"batch", 3},
        {"seq_len", 300},
        {"seq_len_min", 70},
        {"heads", 8},
        {"kv_heads", 2},
        {"head_dim", 128}}},
      {"prefill_attention",
       "fp8",
       "chunked prefix",
       {{"batch", 2},
        {"seq_len", 130},
        {"prefix_len", 200},
        {"heads", 4},
        {"kv_heads", 1},
        {"head_dim", 128}}},
      {"prefill_attention",
       "fp8",
       "mla d192/128",
       {{"batch", 2},
        {"seq_len", 200},
        {"heads", 4},
        {"kv_heads", 4},
        {"head_dim", 192},
        {"v_head_dim", 128}}},
      {"decode_attention",
       "bf16",
       "spread gqa4",
       {{"batch", 7},
        {"kv_len", 1000},
        {"kv_len_min", 1},
        {"heads", 8},
        {"kv_heads", 2},
        {"head_dim", 128}}},
      {"decode_attention",
       "bf16",
       "gqa16 d64 bs7",
       {{"batch", 5},
        {"kv_len", 700},
        {"kv_len_min", 3},
        {"heads", 16},
        {"kv_heads", 1},
        {"head_dim", 64},
        {"block_size", 7}}},
      {"decode_attention",
       "bf16",
       "mha d256",
       {{"batch", 3},
        {"kv_len", 500},
        {"heads", 4},
        {"kv_heads", 4},
        {"head_dim", 256},
        {"block_size", 32}}},
      {"decode_attention",
       "fp8",
       "spread gqa4",
       {{"batch", 7},
        {"kv_len", 1000},
        {"kv_len_min", 1},
        {"heads", 8},
        {"kv_heads", 2},
        {"head_dim", 128}}},
      {"decode_attention",
       "fp8",
       "gqa16 d64 bs7",
       {{"batch", 5},
        {"kv_len", 700},
        {"kv_len_min", 3},
        {"heads", 16},
        {"kv_heads", 1},
        {"head_dim", 64},
        {"block_size", 7}}},
      {"prefill_ffn",
       "bf16",
       "small",
       {{"tokens", 200}, {"experts", 8}, {"top_k", 2}, {"hidden", 512}, {"intermediate", 256}}},
      {"prefill_ffn",
       "fp8",
       "small",
       {{"tokens", 200}, {"experts", 8}, {"top_k", 2}, {"hidden", 512}, {"intermediate", 256}}},
      {"prefill_ffn",
       "w4a8",
       "small",
       {{"tokens", 200}, {"experts", 8}, {"top_k", 2}, {"hidden", 512}, {"intermediate", 256}}},
      {"prefill_ffn",
       "bf16_cublaslt",
       "small",
       {{"tokens", 200}, {"experts", 8}, {"top_k", 2}, {"hidden", 512}, {"intermediate", 256}}},
      {"decode_ffn",
       "bf16",
       "small",
       {{"tokens", 5}, {"experts", 16}, {"top_k", 4}, {"hidden", 256}, {"intermediate", 384}}},
      {"decode_ffn",
       "fp8",
       "small",
       {{"tokens", 5}, {"experts", 16}, {"top_k", 4}, {"hidden", 256}, {"intermediate", 384}}},
      {"decode_ffn",
       "w4a8",
       "small",
       {{"tokens", 5}, {"experts", 16}, {"top_k", 4}, {"hidden", 256}, {"intermediate", 384}}},
      {"dense_gemm", "bf16", "small", {{"m", 100}, {"n", 256}, {"k", 512}}},
      {"dense_gemm", "fp8", "small", {{"m", 100}, {"n", 256}, {"k", 512}}},
  };
  int failures = 0;
  for (const Case& c : checks) {
    if (!only.empty() && (c.quadrant + " " + c.format).find(only) == std::string::npos) continue;
    for (uint64_t seed : {11, 12}) {
      try {
        auto op = quadrant::kernels::make_op(c.quadrant, c.format, c.shape);
        const auto r = op->check(seed);
        failures += !r.passed();
        std::printf("check %-18s %-5s %-16s seed %2llu: err %.3e (tol %.0e) written %s %s\n",
                    c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), (unsigned long long)seed,
                    r.rel_fro_error, r.tolerance, r.all_written ? "yes" : "NO",
                    r.passed() ? "PASS" : "FAIL");
        log << "check," << c.quadrant << "," << c.format << "," << c.label << ","
            << shape_text(c.shape) << "," << r.rel_fro_error << "," << r.tolerance << ","
            << r.passed() << ",,,,,,,\n";
      } catch (const std::exception& e) {
        ++failures;
        std::printf("check %s %s %s: ERROR %s\n", c.quadrant.c_str(), c.format.c_str(),
                    c.label.c_str(), e.what());
        cudaGetLastError();
      }
    }
  }

  // ---- timed shapes (each also checked, on sampled rows) ----
  std::vector<Case> timed;
  const ShapeParams pa = {
      {"batch", 1}, {"seq_len", 8192}, {"heads", 32}, {"kv_heads", 8}, {"head_dim", 128}};
  const ShapeParams mla = {{"batch", 1},     {"seq_len", 8192}, {"heads", 16},
                           {"kv_heads", 16}, {"head_dim", 192}, {"v_head_dim", 128}};
  const ShapeParams chunked = {{"batch", 4},  {"seq_len", 2048}, {"prefix_len", 4096},
                               {"heads", 32}, {"kv_heads", 8},   {"head_dim", 128}};
  const ShapeParams da = {{"batch", 64},   {"kv_len", 4096},  {"heads", 32},
                          {"kv_heads", 8}, {"head_dim", 128}, {"block_size", 16}};
  const ShapeParams da_spread = {{"batch", 64},     {"kv_len", 8192}, {"kv_len_min", 128},
                                 {"heads", 32},     {"kv_heads", 8},  {"head_dim", 128},
                                 {"block_size", 16}};
  for (const char* f : {"bf16", "fp8"}) {
    timed.push_back({"prefill_attention", f, "8k causal gqa d128", pa});
    timed.push_back({"prefill_attention", f, "8k causal mla 192/128", mla});
    timed.push_back({"prefill_attention", f, "4x2k after 4k prefix", chunked});
    timed.push_back({"decode_attention", f, "b64 kv4k gqa4", da});
    timed.push_back({"decode_attention", f, "b64 kv128..8k", da_spread});
  }
  for (const char* f : {"bf16", "fp8", "w4a8"}) {
    timed.push_back({"prefill_ffn",
                     f,
                     "4k tok 16e top4 (1024/e)",
                     {{"tokens", 4096},
                      {"experts", 16},
                      {"top_k", 4},
                      {"hidden", 7168},
                      {"intermediate", 2048}}});
    for (int64_t t : {1, 8, 64})
      timed.push_back({"decode_ffn",
                       f,
                       std::to_string(t) + " tok 32e top8",
                       {{"tokens", t},
                        {"experts", 32},
                        {"top_k", 8},
                        {"hidden", 7168},
                        {"intermediate", 2048}}});
  }
  timed.push_back({"prefill_ffn",
                   "bf16_cublaslt",
                   "4k tok 16e top4 (1024/e)",
                   {{"tokens", 4096},
                    {"experts", 16},
                    {"top_k", 4},
                    {"hidden", 7168},
                    {"intermediate", 2048}}});
  for (const char* f : {"bf16", "fp8"}) {
    timed.push_back({"dense_gemm", f, "qkv proj 4k tok", {{"m", 4096}, {"n", 7168}, {"k", 7168}}});
    timed.push_back({"dense_gemm", f, "decode 64 tok", {{"m", 64}, {"n", 7168}, {"k", 7168}}});
  }

  std::ostringstream table;
  char line[512];
  std::snprintf(line, sizeof line,
                "| %-17s | %-4s | %-25s | %-9s | %9s | %8s | %7s | %6s | %6s |\n", "quadrant",
                "fmt", "shape", "err", "time ms", "TFLOP/s", "TB/s", "%mat", "%copy");
  table << line << "|---|---|---|---|---|---|---|---|---|\n";
  for (const Case& c : timed) {
    if (!only.empty() && (c.quadrant + " " + c.format).find(only) == std::string::npos) continue;
    try {
      auto op = quadrant::kernels::make_op(c.quadrant, c.format, c.shape);
      const auto r = op->check(7);
      failures += !r.passed();
      const double flops = op->flops(), bytes = op->bytes();
      op.reset();
      const Timing t = time_op(c, l2, iters);
      const double s = t.ms * 1e-3;
      const double ceiling = gemm_ceiling[c.format.rfind("bf16", 0) == 0 ? 0 : 1];
      std::snprintf(
          line, sizeof line,
          "| %-17s | %-4s | %-25s | %.2e%s | %9.4f | %8.1f | %7.3f | %5.1f%% | %5.1f%% |\n",
          c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), r.rel_fro_error,
          r.passed() ? "" : "!", t.ms, flops / s / 1e12, bytes / s / 1e12,
          100 * flops / s / ceiling, 100 * bytes / s / copy_bps);
      table << line;
      std::printf("timed %s%s", line, t.graph ? "" : "  (direct launches: capture refused)\n");
      std::fflush(stdout);
      log << "timed," << c.quadrant << "," << c.format << "," << c.label << ","
          << shape_text(c.shape) << "," << r.rel_fro_error << "," << r.tolerance << ","
          << r.passed() << "," << t.ms << "," << t.spread << "," << t.copies << ","
          << flops / s / 1e12 << "," << bytes / s / 1e12 << "," << flops / s / ceiling << ","
          << bytes / s / copy_bps << "\n";
    } catch (const std::exception& e) {
      ++failures;
      std::printf("timed %s %s %s: ERROR %s\n", c.quadrant.c_str(), c.format.c_str(),
                  c.label.c_str(), e.what());
      cudaGetLastError();
    }
  }
  // Baseline for the prefill grouped GEMM: per-expert cuBLASLt at the balanced share of
  // the timed prefill_ffn shape (16 experts x 1024 rows, 7168 -> 2048).
  if (only.empty() || only.find("ffn") != std::string::npos) {
    for (bool use_fp8 : {false, true}) {
      try {
        const double ms = lt_per_expert_ms(16, 1024, 7168, 2048, use_fp8, iters);
        const double flops = 2.0 * 16 * 1024 * 3.0 * 7168 * 2048;
        const double ceiling = gemm_ceiling[use_fp8 ? 1 : 0];
        std::snprintf(line, sizeof line,
                      "| %-17s | %-4s | %-25s | %-9s | %9.4f | %8.1f | %7s | %5.1f%% | %6s |\n",
                      "baseline_ffn_gemms", use_fp8 ? "fp8" : "bf16", "cuBLASLt/expert 16x1024",
                      "-", ms, flops / (ms * 1e-3) / 1e12, "-", 100 * flops / (ms * 1e-3) / ceiling,
                      "-");
        table << line;
        std::printf("timed %s", line);
        log << "baseline,prefill_ffn_gemms_cublaslt_per_expert," << (use_fp8 ? "fp8" : "bf16")
            << ",16x1024,experts=16 rows=1024 hidden=7168 intermediate=2048,,,," << ms << ",,1,"
            << flops / (ms * 1e-3) / 1e12 << ",," << flops / (ms * 1e-3) / ceiling << ",\n";
      } catch (const std::exception& e) {
        std::printf("baseline cuBLASLt per expert: ERROR %s\n", e.what());
        cudaGetLastError();
      }
    }
  }
  std::ofstream(out_dir + "/bench_table.md") << table.str();
  std::printf("\nceilings: copy %.3f TB/s, cuBLASLt bf16 %.1f TFLOP/s, fp8 %.1f TFLOP/s (%s)\n",
              copy_bps / 1e12, gemm_ceiling[0] / 1e12, gemm_ceiling[1] / 1e12, prop.name);
  std::printf("%s", table.str().c_str());
  std::printf("correctness failures: %d\n", failures);
  return failures == 0 ? 0 : 1;
}
