#include "calibration/engine/gpu/step_bench.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "calibration/engine/gpu/block_pool.h"

namespace quadrant::engine::gpu {

std::string Composition::name() const {
  std::ostringstream s;
  if (prefill_seqs > 0) {
    s << "prefill " << prefill_seqs << "x" << prefill_chunk;
    if (prefill_prefix > 0) s << "@" << prefill_prefix;
  }
  if (decode > 0) s << (prefill_seqs > 0 ? " + " : "") << "decode " << decode << "@" << kv_len;
  return s.str();
}

int64_t Composition::kv_tokens() const {
  return int64_t(prefill_seqs) * (prefill_prefix + prefill_chunk) + int64_t(decode) * (kv_len + 1);
}

std::vector<Composition> default_compositions(const ExecutorCapacity& cap, int max_model_len) {
  std::vector<Composition> all;
  for (int chunk : {128, 256, 512, 1024, 2048}) all.push_back({1, chunk, 0, 0, 0});
  for (int prefix : {4096, 16384}) all.push_back({1, 512, prefix, 0, 0});
  all.push_back({4, 512, 0, 0, 0});
  for (int kv : {512, 2048, 8192})
    for (int b : {1, 4, 16, 32, 64, 128, 256}) all.push_back({0, 0, 0, b, kv});
  all.push_back({1, 512, 0, 32, 2048});
  all.push_back({1, 1024, 0, 64, 2048});
  std::vector<Composition> fit;
  const int64_t kv_capacity = int64_t(cap.kv_blocks) * cap.block_tokens;
  for (const Composition& c : all) {
    const int64_t step_tokens = int64_t(c.prefill_seqs) * c.prefill_chunk + c.decode;
    if (step_tokens > cap.max_step_tokens || c.decode > cap.max_decode_seqs) continue;
    if (c.prefill_prefix + c.prefill_chunk > max_model_len || c.kv_len + 1 > max_model_len)
      continue;
    // Each sequence rounds up to whole blocks.
    if (c.kv_tokens() + int64_t(c.prefill_seqs + c.decode) * cap.block_tokens > kv_capacity)
      continue;
    fit.push_back(c);
  }
  return fit;
}

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::vector<CompositionTiming> run_step_bench(GpuStepExecutor& ex,
                                              const std::vector<Composition>& compositions,
                                              int reps, uint64_t seed) {
  const ExecutorCapacity cap = ex.capacity();
  std::vector<CompositionTiming> out;
  uint64_t next_seq = 1'000'000;
  for (const Composition& c : compositions) {
    BlockPool pool(cap.kv_blocks, cap.block_tokens, seed + next_seq);
    StepPlan plan;
    std::vector<uint64_t> seqs;
    for (int i = 0; i < c.prefill_seqs; ++i) {
      const uint64_t seq = next_seq++;
      seqs.push_back(seq);
      plan.prefill.push_back({seq, c.prefill_prefix, c.prefill_chunk, true,
                              pool.take(int64_t(c.prefill_prefix) + c.prefill_chunk)});
    }
    for (int i = 0; i < c.decode; ++i) {
      const uint64_t seq = next_seq++;
      seqs.push_back(seq);
      ex.assume_prefilled(seq, int32_t((seq * 7919) % 30000));
      plan.decode.push_back({seq, c.kv_len, pool.take(int64_t(c.kv_len) + 1)});
    }
    CompositionTiming t;
    t.c = c;
    t.reps = reps;
    std::vector<double> gpu, wall;
    const int64_t graphs_before = ex.graph_steps();
    for (int r = 0; r < reps + 2; ++r) {
      const StepTiming st = ex.execute(plan);
      if (r < 2) continue;  // warm-up
      gpu.push_back(double(st.gpu_ns) / 1e3);
      wall.push_back(double(st.wall_ns) / 1e3);
    }
    t.graph = ex.graph_steps() > graphs_before;
    t.gpu_us_median = median(gpu);
    t.gpu_us_min = *std::min_element(gpu.begin(), gpu.end());
    t.gpu_us_max = *std::max_element(gpu.begin(), gpu.end());
    t.wall_us_median = median(wall);
    ex.set_breakdown_every(1);
    t.parts_ns = ex.execute(plan).parts_ns;
    ex.set_breakdown_every(0);
    for (uint64_t seq : seqs) ex.release(seq);
    out.push_back(t);
  }
  return out;
}

std::string bench_csv(const std::vector<CompositionTiming>& timings) {
  std::ostringstream s;
  s << "composition,prefill_seqs,prefill_chunk,prefill_prefix,decode,kv_len,reps,graph,"
       "gpu_us_median,gpu_us_min,gpu_us_max,wall_us_median,attention_us,ffn_us,gemm_us,other_us\n";
  s.setf(std::ios::fixed);
  s.precision(1);
  for (const CompositionTiming& t : timings) {
    s << t.c.name() << ',' << t.c.prefill_seqs << ',' << t.c.prefill_chunk << ','
      << t.c.prefill_prefix << ',' << t.c.decode << ',' << t.c.kv_len << ',' << t.reps << ','
      << (t.graph ? 1 : 0) << ',' << t.gpu_us_median << ',' << t.gpu_us_min << ',' << t.gpu_us_max
      << ',' << t.wall_us_median;
    for (const char* part : {"attention", "ffn", "gemm", "other"}) {
      double us = 0;
      for (const auto& [name, ns] : t.parts_ns)
        if (name == part) us = double(ns) / 1e3;
      s << ',' << us;
    }
    s << '\n';
  }
  return s.str();
}

std::string CapacityEstimate::describe() const {
  std::ostringstream s;
  s.precision(3);
  s << requests_per_s << " requests/s (prefill " << prefill_us_per_token
    << " us/token; decode batch " << decode_batch << " at KV " << decode_kv_len << ": "
    << decode_step_us << " us/step)";
  return s.str();
}

CapacityEstimate estimate_capacity(const std::vector<CompositionTiming>& timings,
                                   const ExecutorCapacity& cap, double mean_input,
                                   double mean_output) {
  CapacityEstimate e;
  // Prefill: the fastest per-token time of a prefix-free single chunk.
  for (const auto& t : timings)
    if (t.c.prefill_seqs == 1 && t.c.prefill_prefix == 0 && t.c.decode == 0) {
      const double per = t.gpu_us_median / t.c.prefill_chunk;
      if (e.prefill_us_per_token == 0 || per < e.prefill_us_per_token) e.prefill_us_per_token = per;
    }
  // Decode: the largest batch that fits, at the KV length nearest the mean context.
  const double context = mean_input + mean_output / 2;
  const double batch_limit = std::min<double>(
      cap.max_decode_seqs, double(cap.kv_blocks) * cap.block_tokens / (mean_input + mean_output));
  const CompositionTiming* best = nullptr;
  for (const auto& t : timings) {
    if (t.c.prefill_seqs != 0 || t.c.decode > batch_limit) continue;
    if (!best) {
      best = &t;
      continue;
    }
    const double dk = std::abs(std::log(double(t.c.kv_len) / context)),
                 bk = std::abs(std::log(double(best->c.kv_len) / context));
    if (dk < bk - 1e-9 || (std::abs(dk - bk) < 1e-9 && t.c.decode > best->c.decode)) best = &t;
  }
  if (!best || e.prefill_us_per_token == 0) return e;
  e.decode_batch = best->c.decode;
  e.decode_kv_len = best->c.kv_len;
  e.decode_step_us = best->gpu_us_median;
  const double us_per_request =
      mean_input * e.prefill_us_per_token + mean_output * e.decode_step_us / e.decode_batch;
  e.requests_per_s = 1e6 / us_per_request;
  return e;
}

}  // namespace quadrant::engine::gpu
