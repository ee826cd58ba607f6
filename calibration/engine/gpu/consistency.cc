#include "calibration/engine/gpu/consistency.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "calibration/engine/gpu/block_pool.h"

namespace quadrant::engine::gpu {

double consistency_tolerance(FfnFormat format, int layers) {
  const double per_layer = format == FfnFormat::kBf16  ? 5.5e-3
                           : format == FfnFormat::kFp8 ? 2.2e-2
                                                       : 1.9e-2;
  return 3 * per_layer * std::sqrt(std::max(1, layers));
}

namespace {

ConsistencyResult compare(const std::string& name, const std::vector<float>& a,
                          const std::vector<float>& b, double tolerance) {
  if (a.size() != b.size() || a.empty())
    throw std::logic_error("consistency check " + name + ": logits of different sizes");
  ConsistencyResult r;
  r.name = name;
  r.tolerance = tolerance;
  double num = 0, den = 0;
  size_t ia = 0, ib = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = double(a[i]) - double(b[i]);
    num += diff * diff;
    den += double(b[i]) * double(b[i]);
    r.max_abs = std::max(r.max_abs, std::abs(diff));
    if (a[i] > a[ia]) ia = i;
    if (b[i] > b[ib]) ib = i;
  }
  r.rel_error = den > 0 ? std::sqrt(num / den) : (num > 0 ? INFINITY : 0);
  if (!std::isfinite(num) || !std::isfinite(den)) r.rel_error = INFINITY;
  r.same_token = ia == ib;
  return r;
}

// Row `row` of the executor's last sampled logits.
std::vector<float> row_of(const GpuStepExecutor& ex, int row) {
  const auto all = ex.sampled_logits();
  const size_t rows = ex.sampled_tokens().size();
  if (size_t(row) >= rows)
    throw std::logic_error("consistency check: no sampled row " + std::to_string(row));
  const size_t vocab = all.size() / rows;
  return {all.begin() + std::ptrdiff_t(row * vocab),
          all.begin() + std::ptrdiff_t((row + 1) * vocab)};
}

// Prefills `tokens` as sequence `seq` in one chunk; returns its last-position logits.
std::vector<float> prefill_whole(GpuStepExecutor& ex, BlockPool& pool, uint64_t seq,
                                 const std::vector<int32_t>& tokens) {
  ex.set_prompt(seq, tokens);
  StepPlan p;
  p.prefill.push_back({seq, 0, int32_t(tokens.size()), true, pool.take(int64_t(tokens.size()))});
  ex.execute(p);
  return row_of(ex, 0);
}

}  // namespace

std::vector<ConsistencyResult> run_consistency_checks(GpuStepExecutor& ex, FfnFormat format,
                                                      int prompt_len, uint64_t seed) {
  const ExecutorCapacity cap = ex.capacity();
  BlockPool pool(cap.kv_blocks, cap.block_tokens, seed);
  const double tol = consistency_tolerance(format, ex.layers());
  std::mt19937_64 rng(seed);
  // Token ids below 32000 exist in every vocabulary the engine runs.
  std::uniform_int_distribution<int32_t> token(0, 31999);
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
  std::vector<int32_t> other(static_cast<size_t>(prompt_len / 2 + 7));
  for (auto& t : prompt) t = token(rng);
  for (auto& t : other) t = token(rng);
  std::vector<ConsistencyResult> out;

  // 1. One chunk (seq 1) vs chunks of 64, 128 and the rest (seq 2).
  ex.set_prompt(1, prompt);
  ex.set_prompt(2, prompt);
  std::vector<int32_t> b1 = pool.take(prompt_len), b2 = pool.take(prompt_len);
  StepPlan p;
  p.prefill.push_back({1, 0, prompt_len, true, b1});
  ex.execute(p);
  const int32_t a1 = ex.sampled_tokens().at(0);
  const auto one_chunk = row_of(ex, 0);
  const int cuts[] = {0, 64, 192, prompt_len};
  for (int i = 0; i < 3; ++i) {
    StepPlan c;
    c.prefill.push_back({2, cuts[i], cuts[i + 1] - cuts[i], i == 2, b2});
    ex.execute(c);
  }
  const int32_t a2 = ex.sampled_tokens().at(0);
  out.push_back(compare("prefill: 3 chunks vs 1 chunk", row_of(ex, 0), one_chunk, tol));

  // 2. Decode of seq 1 (a decode-only step: the graph) vs re-prefill of prompt + a1 (seq 3).
  pool.grow(b1, prompt_len + 1);
  StepPlan d;
  d.decode.push_back({1, prompt_len, b1});
  ex.execute(d);
  const auto decoded = row_of(ex, 0);
  const int32_t a1_next = ex.sampled_tokens().at(0);
  // 3. Decode of seq 2 in a mixed step (eager) beside a prefill of another prompt (seq 5).
  ex.set_prompt(5, other);
  std::vector<int32_t> b5 = pool.take(int64_t(other.size()));
  pool.grow(b2, prompt_len + 1);
  StepPlan m;
  m.prefill.push_back({5, 0, int32_t(other.size()), true, b5});
  m.decode.push_back({2, prompt_len, b2});
  ex.execute(m);
  const auto mixed = row_of(ex, 1);

  std::vector<int32_t> p3 = prompt;
  p3.push_back(a1);
  const auto reprefill = prefill_whole(ex, pool, 3, p3);
  out.push_back(compare("decode (graph) vs re-prefill", decoded, reprefill, tol));
  if (a2 == a1) {
    out.push_back(compare("decode in a mixed step vs re-prefill", mixed, reprefill, tol));
  } else {  // the chunked prompt sampled another token: re-prefill with that one
    std::vector<int32_t> p4 = prompt;
    p4.push_back(a2);
    out.push_back(compare("decode in a mixed step vs re-prefill", mixed,
                          prefill_whole(ex, pool, 4, p4), tol));
  }

  // 4. Three more decode steps of seq 1 vs re-prefill of all it has (seq 6).
  std::vector<int32_t> generated = {a1, a1_next};
  for (int step = 0; step < 3; ++step) {
    const int kv_len = prompt_len + 1 + step;
    pool.grow(b1, kv_len + 1);
    StepPlan dd;
    dd.decode.push_back({1, kv_len, b1});
    ex.execute(dd);
    if (step < 2) generated.push_back(ex.sampled_tokens().at(0));
  }
  const auto decoded4 = row_of(ex, 0);
  std::vector<int32_t> p6 = prompt;
  p6.insert(p6.end(), generated.begin(), generated.end());
  out.push_back(
      compare("4 decode steps vs re-prefill", decoded4, prefill_whole(ex, pool, 6, p6), tol));

  // The pool is this function's: its blocks need no return.
  for (uint64_t seq : {1, 2, 3, 4, 5, 6}) ex.release(seq);
  return out;
}

}  // namespace quadrant::engine::gpu
