// quadrant-kernels-bench: the device-side proof and the timings of the kernels, in one
// program. It measures the two ceilings (a large device-to-device copy; cuBLASLt BF16 and
// FP8 8192^3 GEMMs), checks every (quadrant, format) and every kernel variant against the
// float64 CPU references on fresh random inputs at small shapes (two seeds each), checks
// each timed shape on sampled rows, then times it as CUDA-graph replays (median of the
// iterations after warm-up, twice, the lower kept; several copies of the inputs rotated so
// that they span 4x the L2), and prints a table of fractions of the ceilings.
//
//   quadrant-kernels-bench [--out DIR] [--only A,B,...] [--quick] [--checks-only]
//                          [--timing-only] [--variants] [--no-ceilings] [--profile]
// --only: run the cases whose "quadrant format label" contains one of the substrings.
// --timing-only: no checks (and no ceilings with --no-ceilings): the before/after timing
// runs. --variants: also time the variants an op does not take by default. --profile:
// launch each selected timed case twice, nothing else (for ncu).
//
// It uses only quadrant_op.h (and the CUDA runtime), so that the same source also builds
// against an older kernels library for a before/after comparison.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/include/cuda_check.h"
#include "kernels/include/quadrant_op.h"
#include "kernels/plan/dispatch.h"

namespace {

using quadrant::kernels::make_op;
using quadrant::kernels::QuadrantOp;
using quadrant::kernels::ShapeParams;
namespace plan = quadrant::kernels::plan;

struct Case {
  std::string quadrant, format, label;
  ShapeParams shape;
  std::string variant;    // "" the op's default; else the benchmark switch's value
  std::string splits;     // decode attention: "" the heuristic's split count; else forced
  std::string min_chunk;  // decode attention: "" the heuristic's shortest chunk; else forced
  Case(std::string q, std::string f, std::string l, ShapeParams s, std::string v,
       std::string n = "", std::string m = "")
      : quadrant(std::move(q)),
        format(std::move(f)),
        label(std::move(l)),
        shape(std::move(s)),
        variant(std::move(v)),
        splits(std::move(n)),
        min_chunk(std::move(m)) {}
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

// The ops' benchmark-only switches: the prefill kernel variant, FP8 decode on CUDA cores,
// the W4A8 decode GEMM's form, the FP8 decode GEMM (mma or wgmma), MLA decode's form.
void set_variant(const Case& c) {
  const char* name = c.quadrant == "prefill_attention" ? "QUADRANT_PREFILL_ATTN_VARIANT"
                     : c.quadrant == "decode_ffn" && c.format == "fp8" ? "QUADRANT_FP8_DECODE_GEMM"
                     : c.quadrant == "decode_ffn"                      ? "QUADRANT_W4A8_DECODE_FORM"
                     : c.quadrant == "prefill_ffn" ? "QUADRANT_W4A8_PREFILL_DEQUANT"
                     : c.quadrant == "mla_decode"  ? "QUADRANT_MLA_DECODE_FORM"
                                                   : "QUADRANT_DECODE_ATTN_MMA";
  unsetenv("QUADRANT_PREFILL_ATTN_VARIANT");
  unsetenv("QUADRANT_W4A8_PREFILL_DEQUANT");
  unsetenv("QUADRANT_DECODE_ATTN_MMA");
  unsetenv("QUADRANT_W4A8_DECODE_FORM");
  unsetenv("QUADRANT_FP8_DECODE_GEMM");
  unsetenv("QUADRANT_MLA_DECODE_FORM");
  unsetenv("QUADRANT_DECODE_ATTN_SPLITS");
  unsetenv("QUADRANT_MLA_DECODE_SPLITS");
  unsetenv("QUADRANT_DECODE_ATTN_MIN_CHUNK");
  if (!c.variant.empty()) setenv(name, c.variant.c_str(), 1);
  if (!c.splits.empty())
    setenv(
        c.quadrant == "mla_decode" ? "QUADRANT_MLA_DECODE_SPLITS" : "QUADRANT_DECODE_ATTN_SPLITS",
        c.splits.c_str(), 1);
  if (!c.min_chunk.empty()) setenv("QUADRANT_DECODE_ATTN_MIN_CHUNK", c.min_chunk.c_str(), 1);
}

bool selected(const Case& c, const std::vector<std::string>& only) {
  if (only.empty()) return true;
  const std::string key = c.quadrant + " " + c.format + " " + c.label;
  return std::any_of(only.begin(), only.end(),
                     [&](const std::string& s) { return key.find(s) != std::string::npos; });
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median time of `iters` launches of launch(i) (i rotating over `count`), after warm-up.
template <class Launch>
double time_ms(Launch launch, int count, cudaStream_t stream, int iters) {
  cudaEvent_t start, stop;
  QK_CUDA_CHECK(cudaEventCreate(&start));
  QK_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i) launch(i % count);
  QK_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    QK_CUDA_CHECK(cudaEventRecord(start, stream));
    launch(i % count);
    QK_CUDA_CHECK(cudaEventRecord(stop, stream));
    QK_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    QK_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  QK_CUDA_CHECK(cudaEventDestroy(start));
  QK_CUDA_CHECK(cudaEventDestroy(stop));
  return median(ms);
}

struct Timing {
  double ms = 0, spread = 0;  // the lower of two medians, |difference| / ms
  int copies = 0;
  bool graph = true;  // timed as graph replays (else as direct launches)
};

Timing time_op(const Case& c, size_t l2_bytes, int iters) {
  set_variant(c);
  std::vector<std::unique_ptr<QuadrantOp>> ops;
  size_t total = 0, free_bytes = 0, total_bytes = 0;
  // Enough copies that one replay's inputs are out of L2 when its turn comes again.
  for (int i = 0; i < 8; ++i) {
    auto op = make_op(c.quadrant, c.format, c.shape);
    op->prepare(1000 + i);
    total += op->device_bytes();
    ops.push_back(std::move(op));
    QK_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (total >= 4 * l2_bytes || free_bytes < 3 * ops.back()->device_bytes() + (2ull << 30)) break;
  }
  cudaStream_t stream;
  QK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::vector<cudaGraphExec_t> graphs;
  Timing t;
  t.copies = static_cast<int>(ops.size());
  for (auto& op : ops) {
    op->launch(stream);  // first launch outside capture: lazy module loads, plans
    QK_CUDA_CHECK(cudaStreamSynchronize(stream));
    cudaGraph_t g = nullptr;
    QK_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      op->launch(stream);
    } catch (const std::exception&) {
      // A library path that refuses capture: time direct launches instead.
      cudaStreamEndCapture(stream, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      t.graph = false;
      break;
    }
    QK_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
    cudaGraphExec_t exec;
    QK_CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
    QK_CUDA_CHECK(cudaGraphDestroy(g));
    graphs.push_back(exec);
  }
  auto run = [&] {
    if (t.graph)
      return time_ms([&](int i) { QK_CUDA_CHECK(cudaGraphLaunch(graphs[i], stream)); },
                     static_cast<int>(graphs.size()), stream, iters);
    return time_ms([&](int i) { ops[i]->launch(stream); }, static_cast<int>(ops.size()), stream,
                   iters);
  };
  const double first = run(), again = run();
  t.ms = std::min(first, again);
  t.spread = std::fabs(again - first) / t.ms;
  for (auto g : graphs) QK_CUDA_CHECK(cudaGraphExecDestroy(g));
  QK_CUDA_CHECK(cudaStreamDestroy(stream));
  return t;
}

// Device-to-device copy bandwidth (bytes read + written per second).
double copy_bandwidth(size_t bytes, int iters) {
  void *a = nullptr, *b = nullptr;
  QK_CUDA_CHECK(cudaMalloc(&a, bytes));
  QK_CUDA_CHECK(cudaMalloc(&b, bytes));
  QK_CUDA_CHECK(cudaMemset(a, 1, bytes));
  cudaStream_t stream;
  QK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double ms = time_ms(
      [&](int) { QK_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, stream)); },
      1, stream, iters);
  QK_CUDA_CHECK(cudaStreamDestroy(stream));
  QK_CUDA_CHECK(cudaFree(a));
  QK_CUDA_CHECK(cudaFree(b));
  return 2.0 * double(bytes) / (ms * 1e-3);
}

ShapeParams prefill(int64_t batch, int64_t seq, int64_t seq_min, int64_t prefix, int64_t heads,
                    int64_t kv_heads, int64_t d, int64_t dv) {
  return {{"batch", batch},       {"seq_len", seq},  {"seq_len_min", seq_min},
          {"prefix_len", prefix}, {"heads", heads},  {"kv_heads", kv_heads},
          {"head_dim", d},        {"v_head_dim", dv}};
}
ShapeParams decode(int64_t batch, int64_t kv, int64_t kv_min, int64_t heads, int64_t kv_heads,
                   int64_t d, int64_t block, int64_t bound = 0) {
  ShapeParams p{{"batch", batch},       {"kv_len", kv},  {"kv_len_min", kv_min}, {"heads", heads},
                {"kv_heads", kv_heads}, {"head_dim", d}, {"block_size", block}};
  if (bound > 0) p["kv_len_bound"] = bound;
  return p;
}
ShapeParams mla(int64_t batch, int64_t kv, int64_t kv_min, int64_t heads, int64_t block) {
  return {{"batch", batch},
          {"kv_len", kv},
          {"kv_len_min", kv_min},
          {"heads", heads},
          {"block_size", block}};
}
ShapeParams ffn(int64_t tokens, int64_t experts, int64_t top_k, int64_t hidden, int64_t inter) {
  return {{"tokens", tokens},
          {"experts", experts},
          {"top_k", top_k},
          {"hidden", hidden},
          {"intermediate", inter}};
}

// Small shapes: varlen, GQA ratios 1 .. 16, prefixes, head dims, block sizes, both GEMM paths
// of the FFN, partial tiles. Attention cases run under every variant the op can take.
std::vector<Case> check_cases() {
  std::vector<Case> base;
  for (const char* f : {"bf16", "fp8"}) {
    base.push_back(
        {"prefill_attention", f, "varlen gqa4 d128", prefill(3, 300, 70, 0, 8, 2, 128, 128), ""});
    base.push_back(
        {"prefill_attention", f, "prefix gqa4", prefill(2, 130, 130, 200, 4, 1, 128, 128), ""});
    base.push_back({"prefill_attention", f, "prefix 77 varlen gqa2",
                    prefill(4, 260, 1, 77, 4, 2, 128, 128), ""});
    base.push_back(
        {"prefill_attention", f, "mha 1 token", prefill(1, 1, 1, 0, 2, 2, 128, 128), ""});
    base.push_back(
        {"prefill_attention", f, "gqa16 257", prefill(2, 257, 129, 0, 16, 1, 128, 128), ""});
    base.push_back(
        {"prefill_attention", f, "mla d192/128", prefill(2, 200, 200, 0, 4, 4, 192, 128), ""});
    base.push_back(
        {"prefill_attention", f, "mla prefix", prefill(2, 150, 60, 100, 4, 1, 192, 128), ""});
    base.push_back(
        {"prefill_attention", f, "d64 prefix varlen", prefill(3, 300, 20, 50, 8, 8, 64, 64), ""});
    base.push_back({"decode_attention", f, "spread gqa4", decode(7, 1000, 1, 8, 2, 128, 16), ""});
    base.push_back({"decode_attention", f, "gqa16 d64 bs7", decode(5, 700, 3, 16, 1, 64, 7), ""});
    base.push_back(
        {"decode_attention", f, "mha d256 bs32", decode(3, 500, 500, 4, 4, 256, 32), ""});
    base.push_back(
        {"decode_attention", f, "gqa8 d128 bs16", decode(9, 2100, 1, 32, 4, 128, 16), ""});
    base.push_back(
        {"decode_attention", f, "gqa16 d128 bs12", decode(4, 3000, 40, 32, 2, 128, 12), ""});
    // One and two query heads per KV head on tensor cores (1 and 2 heads per CTA), pages of 32.
    base.push_back(
        {"decode_attention", f, "mha d128 bs16", decode(3, 900, 100, 8, 8, 128, 16), ""});
    base.push_back(
        {"decode_attention", f, "gqa2 d128 bs32", decode(5, 1500, 10, 16, 8, 128, 32), ""});
    // A loose host bound (a serving engine's power of two above the longest length).
    base.push_back({"decode_attention", f, "gqa8 d128 bound 4096",
                    decode(6, 2500, 30, 32, 4, 128, 16, 4096), ""});
  }
  // MLA decode: 128 / TP heads, mixed lengths (0 included), odd pages, partial head groups.
  base.push_back({"mla_decode", "bf16", "h16 varlen bs64", mla(7, 1000, 0, 16, 64), ""});
  base.push_back({"mla_decode", "bf16", "h32 varlen bs16", mla(5, 2100, 1, 32, 16), ""});
  base.push_back({"mla_decode", "bf16", "h64 varlen bs7", mla(3, 777, 5, 64, 7), ""});
  base.push_back({"mla_decode", "bf16", "h128 varlen bs64", mla(2, 3000, 100, 128, 64), ""});
  base.push_back({"mla_decode", "bf16", "h48 bs32", mla(3, 500, 500, 48, 32), ""});
  base.push_back({"mla_decode", "bf16", "h96 varlen bs32", mla(4, 1300, 0, 96, 32), ""});
  for (const char* f : {"bf16", "fp8", "w4a8", "bf16_cublaslt"}) {
    base.push_back({"prefill_ffn", f, "200 tok 8e top2 (wgmma)", ffn(200, 8, 2, 512, 256), ""});
    if (std::string(f) == "w4a8")  // the INT4 dequantised in the GEMM's producer
      base.push_back({"prefill_ffn", f, "200 tok 8e top2 (wgmma) producer",
                      ffn(200, 8, 2, 512, 384), "producer"});
    if (std::string(f) != "bf16_cublaslt") {
      base.push_back({"decode_ffn", f, "5 tok 16e top4 (mma.sync)", ffn(5, 16, 4, 256, 384), ""});
      base.push_back({"decode_ffn", f, "48 tok 8e top4 (mma.sync)", ffn(48, 8, 4, 256, 384), ""});
    }
    if (std::string(f) == "fp8")  // FP8 on the wgmma decode GEMM, one or two warpgroups
      for (const std::string v : {"wgmma", "wgmma2"}) {
        base.push_back({"decode_ffn", f, "5 tok 16e top4 " + v, ffn(5, 16, 4, 256, 384), v});
        base.push_back({"decode_ffn", f, "48 tok 8e top4 " + v, ffn(48, 8, 4, 256, 384), v});
        base.push_back({"decode_ffn", f, "3 tok 4e top2 7168 " + v, ffn(3, 4, 2, 7168, 2048), v});
      }
    if (std::string(f) == "w4a8")  // each form of the W4A8 decode GEMM
      for (const char* form : {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
                               "14", "15", "16", "17", "18"}) {
        const std::string tag = std::string(" form ") + form;
        base.push_back({"decode_ffn", f, "5 tok 16e top4" + tag, ffn(5, 16, 4, 256, 384), form});
        base.push_back({"decode_ffn", f, "48 tok 8e top4" + tag, ffn(48, 8, 4, 256, 384), form});
        base.push_back(
            {"decode_ffn", f, "3 tok 4e top2 7168" + tag, ffn(3, 4, 2, 7168, 2048), form});
      }
  }
  for (const char* f : {"bf16", "fp8"})
    base.push_back({"dense_gemm", f, "100x256x512", {{"m", 100}, {"n", 256}, {"k", 512}}, ""});
  std::vector<Case> cases;
  for (const Case& c : base) {
    if (c.quadrant == "prefill_attention") {
      // -1: the mma.sync kernel; 0 .. 3, 7: wgmma; 4 .. 6, 8 .. 10: three consumer warpgroups
      // (FP8).
      for (int v = -1; v <= plan::kPrefillMaxVariant; ++v)
        if (c.format == "fp8" || plan::prefill_consumers(true, v) == 2)
          cases.push_back({c.quadrant, c.format, c.label, c.shape, std::to_string(v)});
    } else if (c.quadrant == "decode_attention") {
      // The heuristic's split count and 5 splits.
      // Tensor cores (head dim 128) and CUDA cores.
      for (const char* v : {"1", "0"}) {
        if (std::string(v) == "1" && c.shape.at("head_dim") != 128) continue;
        const std::string label = c.label + (std::string(v) == "0" ? " cuda cores" : "");
        cases.push_back({c.quadrant, c.format, label, c.shape, v});
        cases.push_back({c.quadrant, c.format, label + " splits=5", c.shape, v, "5"});
        cases.push_back(
            {c.quadrant, c.format, label + " splits=5 min_chunk=64", c.shape, v, "5", "64"});
      }
    } else if (c.quadrant == "mla_decode") {
      // The heuristic's split count, one split (no combine), 5 splits; the mma.sync form (the
      // default) and the wgmma form.
      for (const std::string form : {"", "wgmma"}) {
        const std::string tag = form.empty() ? "" : " " + form;
        cases.push_back({c.quadrant, c.format, c.label + tag, c.shape, form});
        for (const char* n : {"1", "5"})
          cases.push_back({c.quadrant, c.format, c.label + " splits=" + n + tag, c.shape, form, n});
      }
    } else {
      cases.push_back(c);
    }
  }
  return cases;
}

std::vector<Case> timed_cases(bool variants) {
  std::vector<Case> t;
  const auto pa = prefill(1, 8192, 8192, 0, 32, 8, 128, 128);
  for (const char* f : {"bf16", "fp8"}) {
    t.push_back({"prefill_attention", f, "1x8192 causal 32/8 d128", pa, ""});
    t.push_back({"prefill_attention", f, "1x8192 mla 16 heads 192/128",
                 prefill(1, 8192, 8192, 0, 16, 16, 192, 128), ""});
    t.push_back({"prefill_attention", f, "4x2048 after 4096 prefix",
                 prefill(4, 2048, 2048, 4096, 32, 8, 128, 128), ""});
    t.push_back({"decode_attention", f, "b64 kv4096 32/8 d128",
                 decode(64, 4096, 4096, 32, 8, 128, 16), ""});
    t.push_back(
        {"decode_attention", f, "b64 kv128..8192", decode(64, 8192, 128, 32, 8, 128, 16), ""});
    // Qwen3-30B-A3B (32 query heads on 4 KV heads) and Mixtral (32 on 8) at batch 16.
    t.push_back({"decode_attention", f, "b16 kv4096 32/4 d128",
                 decode(16, 4096, 4096, 32, 4, 128, 16), ""});
    t.push_back({"decode_attention", f, "b16 kv2048 32/8 d128",
                 decode(16, 2048, 2048, 32, 8, 128, 16), ""});
    t.push_back(
        {"decode_attention", f, "b16 kv128..8192 32/4", decode(16, 8192, 128, 32, 4, 128, 16), ""});
  }
  t.push_back({"prefill_attention", "bf16", "1x8192 d64 32/8",
               prefill(1, 8192, 8192, 0, 32, 8, 64, 64), ""});
  if (variants) {
    for (const char* f : {"bf16", "fp8"})
      for (int v = -1; v <= plan::kPrefillMaxVariant; ++v)
        if (v != (std::string(f) == "fp8" ? 4 : 2) &&
            (std::string(f) == "fp8" || plan::prefill_consumers(true, v) == 2))
          t.push_back({"prefill_attention", f, "1x8192 causal 32/8 d128", pa, std::to_string(v)});
    // Decode attention: the CUDA-core kernel, and fixed split counts beside the heuristic's.
    for (const char* f : {"bf16", "fp8"}) {
      t.push_back({"decode_attention", f, "b64 kv4096 32/8 d128 cuda cores",
                   decode(64, 4096, 4096, 32, 8, 128, 16), "0"});
      const std::vector<std::pair<std::string, ShapeParams>> shapes = {
          {"b64 kv4096 32/8 d128", decode(64, 4096, 4096, 32, 8, 128, 16)},
          {"b64 kv128..8192", decode(64, 8192, 128, 32, 8, 128, 16)},
          {"b16 kv4096 32/4 d128", decode(16, 4096, 4096, 32, 4, 128, 16)},
          {"b16 kv2048 32/8 d128", decode(16, 2048, 2048, 32, 8, 128, 16)},
          {"b16 kv128..8192 32/4", decode(16, 8192, 128, 32, 4, 128, 16)}};
      for (const auto& [label, shape] : shapes)
        for (int n : {1, 2, 3, 4, 5, 6, 8, 12, 16, 24})
          t.push_back({"decode_attention", f, label + " splits=" + std::to_string(n), shape, "",
                       std::to_string(n)});
    }
    // Balanced per-sequence chunks (plan::decode_seq_chunk, min_chunk = the chunk) beside the
    // default's at the standard shapes.
    for (const Case& c : std::vector<Case>(t))
      if (c.quadrant == "decode_attention" && c.variant.empty() && c.splits.empty() &&
          c.label.rfind("engine", 0) != 0)
        t.push_back({c.quadrant, c.format, c.label + " balanced", c.shape, "", "", "1000000"});
    // Qwen3-30B-A3B as quadrant-engine serves it: 32/4 heads, lengths 1000..6400 under the
    // graph's bound of 8192; the heuristic, fixed split counts, shortest chunks.
    for (const char* f : {"bf16", "fp8"})
      for (int64_t b : {48, 64, 80, 96, 112}) {
        const std::string label = "engine b" + std::to_string(b) + " kv1000..6400/8192 32/4";
        const ShapeParams shape = decode(b, 6400, 1000, 32, 4, 128, 16, 8192);
        t.push_back({"decode_attention", f, label, shape, ""});
        for (int n : {2, 3, 4, 6, 8})
          for (int m : {0, 512})
            if (std::string(f) == "bf16" || (n == 4 && m == 0))
              t.push_back({"decode_attention", f,
                           label + " splits=" + std::to_string(n) +
                               (m ? " min_chunk=" + std::to_string(m) : ""),
                           shape, "", std::to_string(n), m ? std::to_string(m) : ""});
      }
    // Head dim 256 on the CUDA-core split kernel (2 and 1 heads per CTA), equal and mixed
    // lengths: the split count under QUADRANT_DECODE_ATTN_SPLIT_SLOTS (bound / resident).
    for (const char* f : {"bf16", "fp8"})
      for (const auto& [b, kv, kv_min, heads, kv_heads] :
           std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
               {1, 32768, 32768, 16, 8},
               {4, 8192, 8192, 16, 8},
               {16, 2048, 2048, 16, 8},
               {16, 8192, 8192, 16, 8},
               {64, 512, 512, 16, 8},
               {64, 4096, 4096, 16, 8},
               {16, 8192, 128, 16, 8},
               {64, 8192, 128, 16, 8},
               {1, 8192, 8192, 8, 8},
               {16, 4096, 4096, 8, 8},
               {64, 2048, 2048, 8, 8},
               {16, 8192, 128, 8, 8}})
        t.push_back({"decode_attention", f,
                     "d256 b" + std::to_string(b) + " kv" +
                         (kv_min == kv ? "" : std::to_string(kv_min) + "..") + std::to_string(kv) +
                         " " + std::to_string(heads) + "/" + std::to_string(kv_heads),
                     decode(b, kv, kv_min, heads, kv_heads, 256, 16), ""});
    // The W4A8 decode GEMM's forms (plan::moe_w4_decode_form) side by side.
    for (const char* form : {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
                             "14", "15", "16", "17", "18"})
      for (int64_t tokens : {1, 8, 16, 64})
        t.push_back({"decode_ffn", "w4a8",
                     std::to_string(tokens) + " tok 32e top8 7168/2048 form " + form,
                     ffn(tokens, 32, 8, 7168, 2048), form});
    // Qwen3-30B-A3B's MoE FFN (128 experts top-8, 2048/768) at quadrant-engine's decode rows;
    // W4A8 also on forms 11-18 (wgmma, weights as A) at three of them.
    for (const char* f : {"bf16", "w4a8"})
      for (int64_t tokens : {32, 48, 56, 64, 72, 80, 96})
        t.push_back({"decode_ffn", f,
                     "engine " + std::to_string(tokens) + " tok 128e top8 2048/768",
                     ffn(tokens, 128, 8, 2048, 768), ""});
    for (const char* form : {"11", "12", "13", "14", "15", "16", "17", "18"})
      for (int64_t tokens : {32, 64, 96})
        t.push_back({"decode_ffn", "w4a8",
                     "engine " + std::to_string(tokens) + " tok 128e top8 2048/768 form " + form,
                     ffn(tokens, 128, 8, 2048, 768), form});
    // FP8 on the wgmma decode GEMM (one and two consumer warpgroups) beside the default.
    for (const char* v : {"wgmma", "wgmma2"})
      for (int64_t tokens : {1, 8, 16, 64})
        t.push_back({"decode_ffn", "fp8", std::to_string(tokens) + " tok 32e top8 7168/2048 " + v,
                     ffn(tokens, 32, 8, 7168, 2048), v});
  }
  // MLA decode (DeepSeek-V3 latent 512 + 64) at the per-GPU head counts 128 / TP.
  for (int64_t heads : {16, 32, 64, 128})
    for (int64_t batch : {16, 64})
      t.push_back({"mla_decode", "bf16",
                   "b" + std::to_string(batch) + " kv4096 h" + std::to_string(heads),
                   mla(batch, 4096, 4096, heads, 64), ""});
  t.push_back({"mla_decode", "bf16", "b16 kv2048 h16", mla(16, 2048, 2048, 16, 64), ""});
  t.push_back({"mla_decode", "bf16", "b128 kv1024 h16", mla(128, 1024, 1024, 16, 64), ""});
  t.push_back({"mla_decode", "bf16", "b64 kv128..8192 h16", mla(64, 8192, 128, 16, 64), ""});
  t.push_back({"mla_decode", "bf16", "b64 kv128..8192 h128", mla(64, 8192, 128, 128, 64), ""});
  if (variants) {
    // The wgmma form (QUADRANT_MLA_DECODE_FORM) on every row above, then both forms' fixed
    // split counts ("sweep ..." rows, apart from the rows above for --only).
    const size_t mla_rows = t.size();
    for (size_t i = 0; i < mla_rows; ++i)
      if (t[i].quadrant == "mla_decode")
        t.push_back({"mla_decode", "bf16", t[i].label + " wgmma", t[i].shape, "wgmma"});
    // One sequence of 8192 tokens at 32 heads (one head group): the wgmma form's split model
    // gives it 128 one-tile splits and it ran 1.27x the mma form's 86 (H200, twenty-first session).
    const std::vector<int> counts{1, 2, 4, 6, 8, 12, 16, 24, 32},
        one_sequence{16, 22, 32, 43, 64, 86, 128};  // whole 64-token tiles: 8, 6, 4, 3, 2, -, 1
    struct Sweep {
      std::string label;
      ShapeParams shape;
      const std::vector<int>& counts;
    };
    for (const Sweep& sweep :
         std::vector<Sweep>{{"b16 kv4096 h16", mla(16, 4096, 4096, 16, 64), counts},
                            {"b64 kv4096 h16", mla(64, 4096, 4096, 16, 64), counts},
                            {"b64 kv128..8192 h16", mla(64, 8192, 128, 16, 64), counts},
                            {"b16 kv4096 h64", mla(16, 4096, 4096, 64, 64), counts},
                            {"b4 kv8192 h128", mla(4, 8192, 8192, 128, 64), counts},
                            {"b1 kv8192 h32", mla(1, 8192, 8192, 32, 64), one_sequence}})
      for (const std::string form : {"", "wgmma"})
        for (int n : sweep.counts)
          t.push_back({"mla_decode", "bf16",
                       "sweep " + sweep.label + " splits=" + std::to_string(n) +
                           (form.empty() ? "" : " " + form),
                       sweep.shape, form, std::to_string(n)});
  }
  for (const char* f : {"bf16", "fp8", "w4a8"}) {
    t.push_back(
        {"prefill_ffn", f, "4096 tok 16e top4 7168/2048", ffn(4096, 16, 4, 7168, 2048), ""});
    for (int64_t tokens : {1, 8, 16, 64})
      t.push_back({"decode_ffn", f, std::to_string(tokens) + " tok 32e top8 7168/2048",
                   ffn(tokens, 32, 8, 7168, 2048), ""});
  }
  t.push_back({"prefill_ffn", "bf16_cublaslt", "4096 tok 16e top4 7168/2048",
               ffn(4096, 16, 4, 7168, 2048), ""});
  // W4A8 prefill with the INT4 dequantised in the GEMM's producer (no E4M3 copy), beside the
  // default; and Qwen3-30B-A3B's layer (128 experts top-8, 2048/768) at 4096- and 1024-token
  // steps (64 rows per expert: the default's copy of all 128 experts weighs most there).
  t.push_back({"prefill_ffn", "w4a8", "4096 tok 16e top4 7168/2048 producer",
               ffn(4096, 16, 4, 7168, 2048), "producer"});
  for (int64_t tokens : {4096, 1024}) {
    const std::string label = std::to_string(tokens) + " tok 128e top8 2048/768";
    for (const char* f : {"fp8", "w4a8"})
      t.push_back({"prefill_ffn", f, label, ffn(tokens, 128, 8, 2048, 768), ""});
    t.push_back(
        {"prefill_ffn", "w4a8", label + " producer", ffn(tokens, 128, 8, 2048, 768), "producer"});
  }
  // W4A8 prefill, the copy against the producer, by rows per expert (--variants): where one
  // overtakes the other (the producer converts every m-tile's weights, the copy every expert's
  // once).
  if (variants)
    for (const auto& [experts, top_k, hidden, inter] :
         std::vector<std::array<int64_t, 4>>{{128, 8, 2048, 768}, {16, 4, 7168, 2048}})
      for (int64_t per_expert : {64, 128, 256, 384, 512, 768}) {
        const int64_t tokens = per_expert * experts / top_k;
        const std::string label = "sweep " + std::to_string(per_expert) + " rows/e " +
                                  std::to_string(experts) + "e " + std::to_string(hidden) + "/" +
                                  std::to_string(inter);
        for (const char* mode : {"scratch", "producer"})
          t.push_back({"prefill_ffn", "w4a8", label + " " + mode,
                       ffn(tokens, experts, top_k, hidden, inter), mode});
      }
  for (const char* f : {"bf16", "fp8"}) {
    t.push_back({"dense_gemm", f, "4096x7168x7168", {{"m", 4096}, {"n", 7168}, {"k", 7168}}, ""});
    t.push_back({"dense_gemm", f, "64x7168x7168", {{"m", 64}, {"n", 7168}, {"k", 7168}}, ""});
  }
  return t;
}

struct Options {
  std::string out_dir = ".";
  std::vector<std::string> only;
  bool quick = false, checks_only = false, timing_only = false, variants = false, ceilings = true,
       profile = false;
};

int run(const Options& o) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 3;
  }
  cudaDeviceProp prop;
  QK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, L2 %d MB, cc %d.%d\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20, prop.major, prop.minor);
  const size_t l2 = static_cast<size_t>(prop.l2CacheSize);
  const int iters = o.quick ? 10 : 50;

  if (o.profile) {
    for (const Case& c : timed_cases(o.variants)) {
      if (!selected(c, o.only)) continue;
      set_variant(c);
      auto op = make_op(c.quadrant, c.format, c.shape);
      op->prepare(5);
      op->launch(nullptr);
      op->launch(nullptr);
      QK_CUDA_CHECK(cudaDeviceSynchronize());
      std::printf("profiled %s %s %s (%s)\n", c.quadrant.c_str(), c.format.c_str(), c.label.c_str(),
                  op->name().c_str());
    }
    return 0;
  }

  std::ofstream log(o.out_dir + "/bench_results.csv");
  log << "kind,quadrant,format,label,kernel,shape,rel_fro_error,tolerance,passed,ms,spread,copies,"
         "tflops,tbps,frac_matrix_ceiling,frac_copy_ceiling\n";
  double copy_bps = 0, gemm_peak[2] = {0, 0};
  if (o.ceilings) {
    copy_bps = copy_bandwidth(size_t(2) << 30, iters);
    std::printf("ceiling: device-to-device copy %.3f TB/s (2 GiB, read + write)\n",
                copy_bps / 1e12);
    log << "ceiling,copy,,,cudaMemcpyAsync,bytes=" << (size_t(2) << 30) << ",,,,,,,,"
        << copy_bps / 1e12 << ",,1\n";
    for (int f = 0; f < 2; ++f) {
      const Case c{
          "dense_gemm", f ? "fp8" : "bf16", "8192^3", {{"m", 8192}, {"n", 8192}, {"k", 8192}}, ""};
      const Timing t = time_op(c, l2, iters);
      gemm_peak[f] = 2.0 * 8192.0 * 8192.0 * 8192.0 / (t.ms * 1e-3);
      std::printf("ceiling: cuBLASLt %s GEMM 8192^3 %.1f TFLOP/s (%.3f ms)\n", c.format.c_str(),
                  gemm_peak[f] / 1e12, t.ms);
      log << "ceiling,dense_gemm," << c.format << ",8192^3,cublasLt," << shape_text(c.shape)
          << ",,,," << t.ms << "," << t.spread << "," << t.copies << "," << gemm_peak[f] / 1e12
          << ",,1,\n";
    }
  }

  int failures = 0, checks = 0;
  auto check = [&](const Case& c, uint64_t seed, const char* kind) {
    set_variant(c);
    auto op = make_op(c.quadrant, c.format, c.shape);
    const auto r = op->check(seed);
    ++checks;
    failures += !r.passed();
    std::printf("%s %-17s %-13s %-30s %-36s seed %2llu: err %.3e (tol %.0e) %s%s\n", kind,
                c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), op->name().c_str(),
                (unsigned long long)seed, r.rel_fro_error, r.tolerance,
                r.passed() ? "PASS" : "FAIL", r.all_written ? "" : " (unwritten outputs)");
    log << kind << "," << c.quadrant << "," << c.format << "," << c.label << "," << op->name()
        << "," << shape_text(c.shape) << "," << r.rel_fro_error << "," << r.tolerance << ","
        << r.passed() << ",,,,,,,\n";
    return r;
  };
  if (!o.timing_only) {
    for (const Case& c : check_cases()) {
      if (!selected(c, o.only)) continue;
      for (uint64_t seed : {11, 12}) {
        try {
          check(c, seed, "check");
        } catch (const std::exception& e) {
          ++failures;
          std::printf("check %s %s %s: ERROR %s\n", c.quadrant.c_str(), c.format.c_str(),
                      c.label.c_str(), e.what());
          cudaGetLastError();
        }
      }
    }
    std::printf("small-shape checks: %d run, %d failed\n", checks, failures);
  }

  std::ostringstream table;
  table << "| quadrant | fmt | shape | kernel | rel. err | time ms | TFLOP/s | TB/s | % matrix "
           "ceiling | % copy ceiling |\n|---|---|---|---|---|---|---|---|---|---|\n";
  if (!o.checks_only) {
    for (const Case& c : timed_cases(o.variants)) {
      if (!selected(c, o.only)) continue;
      try {
        double err = 0;
        bool passed = true;
        if (!o.timing_only) {
          const auto r = check(c, 7, "check-timed");
          err = r.rel_fro_error;
          passed = r.passed();
        }
        set_variant(c);
        auto op = make_op(c.quadrant, c.format, c.shape);
        op->prepare(1000);  // flops() and bytes() of the MoE ops need a routing
        const double flops = op->flops(), bytes = op->bytes();
        const std::string kernel = op->name();
        op.reset();
        const Timing t = time_op(c, l2, iters);
        const double s = t.ms * 1e-3;
        const double peak = gemm_peak[c.format.rfind("bf16", 0) == 0 ? 0 : 1];
        const double fm = peak > 0 ? flops / s / peak : 0,
                     fc = copy_bps > 0 ? bytes / s / copy_bps : 0;
        char row[512];
        std::snprintf(row, sizeof row,
                      "| %s | %s | %s | %s | %.2e%s | %.4f | %.1f | %.3f | %.1f%% | %.1f%% |\n",
                      c.quadrant.c_str(), c.format.c_str(), c.label.c_str(), kernel.c_str(), err,
                      passed ? "" : " FAIL", t.ms, flops / s / 1e12, bytes / s / 1e12, 100 * fm,
                      100 * fc);
        table << row;
        std::printf("time %s    (spread %.1f%%, %d copies%s)\n", row, 100 * t.spread, t.copies,
                    t.graph ? "" : ", direct launches");
        log << "time," << c.quadrant << "," << c.format << "," << c.label << "," << kernel << ","
            << shape_text(c.shape) << "," << err << ",," << passed << "," << t.ms << "," << t.spread
            << "," << t.copies << "," << flops / s / 1e12 << "," << bytes / s / 1e12 << "," << fm
            << "," << fc << "\n";
      } catch (const std::exception& e) {
        ++failures;
        std::printf("time %s %s %s: ERROR %s\n", c.quadrant.c_str(), c.format.c_str(),
                    c.label.c_str(), e.what());
        cudaGetLastError();
      }
    }
    std::ofstream(o.out_dir + "/bench_table.md") << table.str();
    std::printf("\n%s", table.str().c_str());
  }
  std::printf("ceilings: copy %.3f TB/s, cuBLASLt BF16 %.1f TFLOP/s, FP8 %.1f TFLOP/s (%s)\n",
              copy_bps / 1e12, gemm_peak[0] / 1e12, gemm_peak[1] / 1e12, prop.name);
  std::printf("correctness failures: %d\n", failures);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      o.out_dir = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');)
        if (!item.empty()) o.only.push_back(item);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--checks-only") {
      o.checks_only = true;
    } else if (a == "--timing-only") {
      o.timing_only = true;
    } else if (a == "--variants") {
      o.variants = true;
    } else if (a == "--no-ceilings") {
      o.ceilings = false;
    } else if (a == "--profile") {
      o.profile = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--out DIR] [--only A,B,...] [--quick] [--checks-only] "
                   "[--timing-only] [--variants] [--no-ceilings] [--profile]\n",
                   argv[0]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, also into a pipe
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quadrant-kernels-bench: %s\n", e.what());
    return 2;
  }
}
