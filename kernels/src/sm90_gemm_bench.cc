// sm90-gemm-bench: the wgmma grouped GEMM of the prefill MoE FFN on its own, against
// cuBLASLt. For each format (BF16, FP8 with block scales) and rows per expert it checks the
// two GEMMs (gate/up with SiLU * up fused, then down) on sampled rows against a float64
// CPU reference, then times them (CUDA graph replays, median) beside cuBLASLt dense GEMMs
// of the same FLOPs (the ceiling) and cuBLASLt called once per expert in a graph.
// Built by kernels/scripts/device_gemm.sh (not part of the CMake targets).
//
//   sm90-gemm-bench [--out DIR] [--no-lt] [--profile]   (--profile: one launch each, BF16 and FP8,
//   1024
//                                              rows per expert, for ncu)
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/reference/numeric.h"
#include "kernels/src/common.cuh"
#include "kernels/src/lt_gemm.h"
#include "kernels/src/sm90_grouped_gemm.h"

namespace {

using namespace quadrant::kernels;

#define CHECK(call) QK_CUDA_CHECK(call)

bool g_skip_lt = false;  // --no-lt: time ours only (variant experiments)

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median time of `iters` replays of what `step` enqueues, captured in one graph.
template <class Step>
double time_graph(Step step, int iters) {
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  step(stream);
  CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t g;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  step(stream);
  CHECK(cudaStreamEndCapture(stream, &g));
  cudaGraphExec_t exec;
  CHECK(cudaGraphInstantiate(&exec, g, 0));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) CHECK(cudaGraphLaunch(exec, stream));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    CHECK(cudaEventRecord(start, stream));
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaEventSynchronize(stop));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(g));
  CHECK(cudaStreamDestroy(stream));
  return median(ms);
}

struct Problem {
  int experts = 16;
  std::vector<int> counts;  // rows per expert
  int64_t hidden = 7168, inter = 2048;
  bool fp8 = false;
};

struct Result {
  double err_up = 0, err_down = 0, ms = 0, up_ms = 0, down_ms = 0, lt_dense_ms = 0,
         lt_expert_ms = 0;
  bool written = true;
};

double rel_err(const std::vector<double>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

// profile: one launch of each GEMM and nothing else (for ncu).
Result run(const Problem& pr, bool timed, int iters, bool profile = false) {
  const int E = pr.experts;
  const int64_t H = pr.hidden, I = pr.inter;
  const size_t eb = pr.fp8 ? 1 : 2;
  std::vector<int32_t> offsets(E + 1, 0), t_expert, t_row, t_first, t_count;
  for (int e = 0; e < E; ++e) {
    offsets[e + 1] = offsets[e] + pr.counts[e];
    const int first = static_cast<int>(t_expert.size());
    const int n = (pr.counts[e] + 127) / 128;
    for (int i = 0; i < n; ++i) {
      t_expert.push_back(e);
      t_row.push_back(offsets[e] + 128 * i);
      t_first.push_back(first);
      t_count.push_back(n);
    }
  }
  const int64_t rows = offsets[E];
  DeviceArray<int32_t> d_off, d_te, d_tr, d_tf, d_tc, d_nt;
  d_off.upload(offsets);
  d_te.upload(t_expert);
  d_tr.upload(t_row);
  d_tf.upload(t_first);
  d_tc.upload(t_count);
  d_nt.upload({static_cast<int32_t>(t_expert.size())});

  DeviceArray<uint8_t> x(rows * H * eb), w1(E * 2 * I * H * eb), act(rows * I * eb),
      w2(E * H * I * eb);
  DeviceArray<float> xs(rows * H / 128), w1s(E * 2 * I * H / (128 * 128)), as(rows * I / 128),
      w2s(E * H * I / (128 * 128));
  DeviceArray<bf16> y(rows * H);
  const float a1 = 3.0f / std::sqrt(float(H)), a2 = 3.0f / std::sqrt(float(I));
  if (pr.fp8) {
    fill_uniform(reinterpret_cast<fp8*>(x.get()), x.size(), 1, 240.0f);
    fill_uniform(reinterpret_cast<fp8*>(w1.get()), w1.size(), 2, 240.0f);
    fill_uniform(reinterpret_cast<fp8*>(w2.get()), w2.size(), 3, 240.0f);
    fill_uniform(xs.get(), xs.size(), 4, 0.5f / 240, 1.5f / 240);
    fill_uniform(w1s.get(), w1s.size(), 5, 0.5f * a1 / 240, 1.5f * a1 / 240);
    fill_uniform(w2s.get(), w2s.size(), 6, 0.5f * a2 / 240, 1.5f * a2 / 240);
  } else {
    fill_uniform(reinterpret_cast<bf16*>(x.get()), x.size() / 2, 1, -1.0f, 1.0f);
    fill_uniform(reinterpret_cast<bf16*>(w1.get()), w1.size() / 2, 2, -a1, a1);
    fill_uniform(reinterpret_cast<bf16*>(w2.get()), w2.size() / 2, 3, -a2, a2);
  }
  poison(act.get(), act.bytes());
  poison(as.get(), as.bytes());
  poison(y.get(), y.bytes());

  Sm90GroupedGemmArgs g;
  g.fp8 = pr.fp8;
  g.rows = rows;
  g.experts = E;
  g.offsets = d_off.get();
  g.tile_expert = d_te.get();
  g.tile_row = d_tr.get();
  g.tile_first = d_tf.get();
  g.tile_count = d_tc.get();
  g.num_tiles = d_nt.get();
  Sm90GroupedGemmArgs g1 = g, g2 = g;
  g1.silu_mul = true;
  g1.a = x.get();
  g1.k = H;
  g1.a_scale = pr.fp8 ? xs.get() : nullptr;
  g1.w = w1.get();
  g1.n = 2 * I;
  g1.w_scale = pr.fp8 ? w1s.get() : nullptr;
  g1.out = act.get();
  g1.out_scale = pr.fp8 ? as.get() : nullptr;
  g2.a = act.get();
  g2.k = I;
  g2.a_scale = pr.fp8 ? as.get() : nullptr;
  g2.w = w2.get();
  g2.n = H;
  g2.w_scale = pr.fp8 ? w2s.get() : nullptr;
  g2.out = y.get();
  Sm90GroupedGemm up(g1), down(g2);
  up.run(nullptr);
  down.run(nullptr);
  CHECK(cudaDeviceSynchronize());
  if (profile) return {};

  // ---- check on sampled rows: first and last of every expert, and a few inside ----
  Result res;
  {
    const auto hx = x.download(), hw1 = w1.download(), hw2 = w2.download(), hact = act.download();
    const auto hxs = xs.download(), hw1s = w1s.download(), has = as.download(),
               hw2s = w2s.download();
    const auto hy_raw = y.download();
    auto val = [&](const std::vector<uint8_t>& buf, size_t i) -> double {
      if (pr.fp8) return quadrant::kernels::ref::e4m3_to_double(buf[i]);
      uint16_t b;
      std::memcpy(&b, buf.data() + 2 * i, 2);
      return quadrant::kernels::ref::bf16_to_float(b);
    };
    std::vector<double> got_up, ref_up, got_dn, ref_dn;
    // Timed (large) problems: the first and last rows of the first and last experts, to
    // keep the float64 reference to about a second.
    for (int e = 0; e < E; ++e) {
      if (pr.counts[e] == 0 || (timed && e != 0 && e != E - 1)) continue;
      std::vector<int64_t> sample = {offsets[e], offsets[e + 1] - 1};
      if (!timed) sample.push_back(offsets[e] + pr.counts[e] / 2);
      for (int64_t r : sample) {
        // gate/up reference from the inputs
        std::vector<double> xr(H), ar(I);
        for (int64_t k = 0; k < H; ++k)
          xr[k] = val(hx, r * H + k) * (pr.fp8 ? hxs[(k / 128) * rows + r] : 1.0);
        std::vector<double> h(2 * I);
        for (int64_t n = 0; n < 2 * I; ++n) {
          double s = 0;
          const size_t base = (size_t(e) * 2 * I + n) * H;
          for (int64_t k = 0; k < H; ++k) {
            const double w =
                val(hw1, base + k) *
                (pr.fp8 ? hw1s[(size_t(e) * (2 * I / 128) + n / 128) * (H / 128) + k / 128] : 1.0);
            s += xr[k] * w;
          }
          h[n] = s;
        }
        for (int64_t n = 0; n < I; ++n) {
          ref_up.push_back(h[n] / (1.0 + std::exp(-h[n])) * h[I + n]);
          ar[n] = val(hact, r * I + n) * (pr.fp8 ? has[(n / 128) * rows + r] : 1.0);
          got_up.push_back(ar[n]);
        }
        // down reference from the device's activations (isolates the second GEMM)
        for (int64_t n = 0; n < H; ++n) {
          double s = 0;
          const size_t base = (size_t(e) * H + n) * I;
          for (int64_t k = 0; k < I; ++k) {
            const double w =
                val(hw2, base + k) *
                (pr.fp8 ? hw2s[(size_t(e) * (H / 128) + n / 128) * (I / 128) + k / 128] : 1.0);
            s += ar[k] * w;
          }
          ref_dn.push_back(s);
          uint16_t b;
          std::memcpy(&b, &hy_raw[r * H + n], 2);
          got_dn.push_back(quadrant::kernels::ref::bf16_to_float(b));
        }
      }
    }
    res.err_up = rel_err(got_up, ref_up);
    res.err_down = rel_err(got_dn, ref_dn);
    for (const auto& v : hy_raw) {
      uint16_t b;
      std::memcpy(&b, &v, 2);
      if (std::isnan(quadrant::kernels::ref::bf16_to_float(b))) {
        res.written = false;
        break;
      }
    }
  }
  if (!timed) return res;

  res.ms = time_graph(
      [&](cudaStream_t s) {
        up.run(s);
        down.run(s);
      },
      iters);
  res.up_ms = time_graph([&](cudaStream_t s) { up.run(s); }, iters);
  res.down_ms = time_graph([&](cudaStream_t s) { down.run(s); }, iters);
  if (g_skip_lt) return res;
  // cuBLASLt dense at the same FLOPs: all rows against one expert's weights.
  {
    LtGemm l1(rows, 2 * I, H, pr.fp8), l2(rows, H, I, pr.fp8);
    DeviceArray<bf16> h(rows * 2 * I);
    res.lt_dense_ms = time_graph(
        [&](cudaStream_t s) {
          l1.run(x.get(), w1.get(), h.get(), s);
          l2.run(act.get(), w2.get(), y.get(), s);
        },
        iters);
  }
  // cuBLASLt once per expert (balanced problems only: one plan per shape).
  if (std::all_of(pr.counts.begin(), pr.counts.end(), [&](int c) { return c == pr.counts[0]; })) {
    const int64_t m = pr.counts[0];
    LtGemm l1(m, 2 * I, H, pr.fp8), l2(m, H, I, pr.fp8);
    DeviceArray<bf16> h(rows * 2 * I);
    res.lt_expert_ms = time_graph(
        [&](cudaStream_t s) {
          for (int e = 0; e < E; ++e) {
            l1.run(x.get() + offsets[e] * H * eb, w1.get() + size_t(e) * 2 * I * H * eb,
                   h.get() + offsets[e] * 2 * I, s);
            l2.run(act.get() + offsets[e] * I * eb, w2.get() + size_t(e) * H * I * eb,
                   y.get() + offsets[e] * H, s);
          }
        },
        iters);
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".";
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--out" && i + 1 < argc) out_dir = argv[++i];
    if (std::string(argv[i]) == "--profile") profile = true;
    if (std::string(argv[i]) == "--no-lt") g_skip_lt = true;
  }
  if (profile) {
    for (bool fp8 : {false, true}) {
      Problem p;
      p.fp8 = fp8;
      p.counts.assign(p.experts, 1024);
      run(p, false, 0, true);
    }
    return 0;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int failures = 0;
  std::ofstream csv(out_dir + "/gemm_results.csv");
  csv << "format,rows_per_expert,experts,hidden,intermediate,err_up,err_down,written,ms,tflops,"
         "lt_dense_ms,lt_dense_tflops,frac_of_lt_dense,lt_per_expert_ms,lt_per_expert_tflops,up_ms,"
         "down_ms\n";
  try {
    // Correctness on ragged small problems first (empty expert, partial tiles).
    for (bool fp8 : {false, true}) {
      Problem p;
      p.fp8 = fp8;
      p.experts = 5;
      p.counts = {77, 0, 300, 128, 1};
      p.hidden = 512;
      p.inter = 384;
      const Result r = run(p, false, 0);
      const double tol = fp8 ? 5e-2 : 1e-2;
      const bool ok = r.written && r.err_up <= tol && r.err_down <= tol;
      failures += !ok;
      std::printf("check %-4s ragged 5 experts (77,0,300,128,1) 512->384: up %.3e down %.3e %s\n",
                  fp8 ? "fp8" : "bf16", r.err_up, r.err_down, ok ? "PASS" : "FAIL");
    }
    std::printf(
        "\n| fmt | rows/expert | grouped ms | TFLOP/s | cuBLASLt dense TFLOP/s | %% of dense | "
        "cuBLASLt/expert TFLOP/s | up alone TFLOP/s | down alone TFLOP/s | err up | err down "
        "|\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (bool fp8 : {false, true})
      for (int m : {512, 1024, 2048}) {
        Problem p;
        p.fp8 = fp8;
        p.counts.assign(p.experts, m);
        const Result r = run(p, true, 30);
        const double tol = fp8 ? 5e-2 : 1e-2;
        const bool ok = r.written && r.err_up <= tol && r.err_down <= tol;
        failures += !ok;
        const double flops = 6.0 * p.experts * m * double(p.hidden) * double(p.inter);
        const double tf = flops / (r.ms * 1e-3) / 1e12, tl = flops / (r.lt_dense_ms * 1e-3) / 1e12,
                     te = r.lt_expert_ms > 0 ? flops / (r.lt_expert_ms * 1e-3) / 1e12 : 0;
        const double tu = flops * 2 / 3 / (r.up_ms * 1e-3) / 1e12,
                     td = flops / 3 / (r.down_ms * 1e-3) / 1e12;
        std::printf(
            "| %s | %d | %.4f | %.1f | %.1f | %.1f%% | %.1f | %.1f | %.1f | %.2e | %.2e%s |\n",
            fp8 ? "fp8" : "bf16", m, r.ms, tf, tl, 100 * tf / tl, te, tu, td, r.err_up, r.err_down,
            ok ? "" : " FAIL");
        csv << (fp8 ? "fp8" : "bf16") << "," << m << "," << p.experts << "," << p.hidden << ","
            << p.inter << "," << r.err_up << "," << r.err_down << "," << r.written << "," << r.ms
            << "," << tf << "," << r.lt_dense_ms << "," << tl << "," << tf / tl << ","
            << r.lt_expert_ms << "," << te << "," << r.up_ms << "," << r.down_ms << "\n";
      }
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    return 2;
  }
  std::printf("gemm correctness failures: %d\n", failures);
  return failures == 0 ? 0 : 1;
}
