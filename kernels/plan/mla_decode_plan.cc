#include "kernels/plan/mla_decode_plan.h"

#include "kernels/plan/split_kv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>

namespace quadrant::kernels::plan {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("mla_decode: " + what);
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

}  // namespace

MlaSplitModel mla_split_model(MlaDecodeForm form) {
  MlaSplitModel m;
  if (form == MlaDecodeForm::kWgmma) {
    m.cta_overhead_bytes = kMlaWgCtaOverheadBytes;
    m.tail_fraction = kMlaWgTailFraction;
  }
  const char* env = std::getenv("QUADRANT_MLA_SPLIT_MODEL");
  if (!env || !*env) return m;
  double cta = 0, combine = 0, tail = 0;
  char end = 0;
  require(std::sscanf(env, "%lf,%lf,%lf%c", &cta, &combine, &tail, &end) == 3 && cta >= 0 &&
              combine >= 0 && tail >= 0,
          std::string("QUADRANT_MLA_SPLIT_MODEL: expected CTA_KIB,COMBINE_KIB,TAIL (three numbers "
                      ">= 0), got '") +
              env + "'");
  m.cta_overhead_bytes = cta * 1024;
  m.combine_overhead_bytes = combine * 1024;
  m.tail_fraction = tail;
  return m;
}

MlaDecodeForm mla_decode_form() {
  const char* env = std::getenv("QUADRANT_MLA_DECODE_FORM");
  if (!env || !*env) return kMlaDecodeForm;
  const std::string v = env;
  require(v == "mma" || v == "wgmma",
          "QUADRANT_MLA_DECODE_FORM must be mma or wgmma, got '" + v + "'");
  return v == "wgmma" ? MlaDecodeForm::kWgmma : MlaDecodeForm::kMma;
}

MlaDecodeSplit mla_decode_split(int64_t batch, int heads, int64_t max_kv_len, int sm_count,
                                int splits, MlaDecodeForm form) {
  require(batch >= 1 && max_kv_len >= 1 && sm_count >= 1,
          "need batch >= 1, max_kv_len >= 1, sm_count >= 1");
  require(heads >= 16 && heads % 16 == 0, "heads must be a positive multiple of 16");
  require(splits >= 0, "splits must be >= 0 (0: the heuristic)");
  MlaDecodeSplit s;
  s.form = form;
  const bool wg = form == MlaDecodeForm::kWgmma;
  s.heads_per_cta = wg ? mla_wg_heads_per_cta(heads) : mla_heads_per_cta(heads);
  s.stages = wg ? kMlaWgStages : mla_stages(s.heads_per_cta);
  const int groups = heads / s.heads_per_cta;
  const double rows = double(batch) * groups;  // CTAs per split
  const double slots = double(sm_count);
  const double token_bytes = kMlaRowBytes;
  const double partial_bytes = 2.0 * s.heads_per_cta * (kMlaLatent + 1) * 4;  // written, read
  const MlaSplitModel m = mla_split_model(form);
  const int64_t chunk = split_kv_chunk(
      max_kv_len, splits,
      {rows, slots, token_bytes, partial_bytes, m.cta_overhead_bytes, m.combine_overhead_bytes,
       m.tail_fraction, kMlaSpreadWeight, wg ? kMlaWgTileTokens : kMlaTileTokens, kMlaMaxSplits});
  s.chunk = static_cast<int>(chunk);
  s.max_splits = static_cast<int>(ceil_div(max_kv_len, s.chunk));
  require(s.max_splits <= kMlaMaxSplits, "more than 256 splits");
  return s;
}

int64_t MlaDecodeShape::max_kv_len() const {
  return *std::max_element(kv_lens.begin(), kv_lens.end());
}
int64_t MlaDecodeShape::kv_tokens() const {
  return std::accumulate(kv_lens.begin(), kv_lens.end(), int64_t{0});
}

MlaDecodeShape parse_mla_decode(const ShapeParams& shape) {
  ShapeReader r(shape, "mla_decode");
  MlaDecodeShape s;
  s.batch = r.get("batch");
  const int64_t kv_len = r.get("kv_len");
  const int64_t kv_len_min = r.get("kv_len_min", kv_len);
  s.heads = static_cast<int>(r.get("heads"));
  s.block_size = static_cast<int>(r.get("block_size", 64));
  r.finish();
  r.require(s.batch >= 1 && s.batch <= 65535, "batch must be in 1 .. 65535");
  r.require(kv_len >= 1 && kv_len <= (int64_t{1} << 20), "kv_len must be in 1 .. 2^20");
  r.require(kv_len_min >= 0 && kv_len_min <= kv_len, "kv_len_min must be in 0 .. kv_len");
  r.require(s.heads >= 16 && s.heads <= 1024 && s.heads % 16 == 0,
            "heads must be a multiple of 16 in 16 .. 1024 (128 / TP for DeepSeek-V3)");
  r.require(s.block_size >= 1 && s.block_size <= 4096, "block_size must be in 1 .. 4096");
  s.kv_lens = spread_lengths(s.batch, kv_len_min, kv_len);
  return s;
}

LaunchPlan plan_mla_decode(const std::string& format, const ShapeParams& shape, int sms, int splits,
                           MlaDecodeForm form) {
  if (format != "bf16")
    throw std::invalid_argument("mla_decode: format must be bf16, got '" + format + "'");
  const MlaDecodeShape s = parse_mla_decode(shape);
  const MlaDecodeSplit split =
      mla_decode_split(s.batch, s.heads, s.max_kv_len(), sms, splits, form);
  const bool wg = form == MlaDecodeForm::kWgmma;
  const int hpc = split.heads_per_cta, groups = s.heads / hpc;
  const int tile = wg ? kMlaWgTileTokens : kMlaTileTokens;
  int64_t split_rows = 0, merged_rows = 0, merged_seqs = 0;
  for (int64_t len : s.kv_lens) {
    const int64_t n = ceil_div(len, split.chunk);
    split_rows += n;
    merged_rows += n > 1 ? n : 0;
    merged_seqs += n > 1 ? 1 : 0;
  }
  const double tokens = double(s.kv_tokens());
  const double partial_bytes = double(merged_rows) * s.heads * (kMlaLatent + 1) * 4.0;
  const double out_bytes = double(s.heads) * kMlaLatent * 2.0;  // one sequence's output
  const double q_bytes = double(s.heads) * kMlaDim * 2.0;

  LaunchPlan p;
  p.variant = wg ? "sm90_bf16_wgmma_mla_decode" : "sm90_bf16_mma_mla_decode";
  p.choices = {{"heads_per_cta", hpc},
               {"chunk", split.chunk},
               {"split_kv", split.max_splits},
               {"stages", split.stages}};
  KernelLaunch k;
  k.kernel = (wg ? "mla_decode_wgmma_kernel<" : "mla_decode_split_kernel<") +
             std::to_string(hpc / 16) + ">";
  k.grid = int64_t(groups) * split.max_splits * s.batch;
  k.block = wg ? mla_wg_threads(hpc) : kMlaThreads;
  k.smem_bytes = wg ? mla_wg_smem_bytes(hpc) : mla_smem_bytes(hpc);
  k.ctas_per_sm = 1;
  k.work_items = double(split_rows) * groups;
  k.waves = k.work_items / sms;
  k.full_waves = static_cast<int64_t>(std::floor(k.waves));
  k.last_wave_fill = k.waves - double(k.full_waves);
  k.flops = 2.0 * tokens * s.heads * (kMlaDim + kMlaLatent);
  // Each head group reads the latent rows of its split (groups > 1: the same rows again, from
  // L2 when the group's CTAs run together; HBM bytes count them once).
  k.bytes = tokens * kMlaRowBytes + double(s.batch) * q_bytes + partial_bytes +
            double(s.batch - merged_seqs) * out_bytes;
  // List schedule in launch order (head group fastest, then split, then sequence) over one
  // slot per SM; a CTA's time taken as its FLOPs (whole tiles, padding included).
  struct Slot {
    double flops, bytes;
  };
  std::vector<Slot> slot;
  auto later = [&](size_t a, size_t b) { return slot[a].flops > slot[b].flops; };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> free_first(later);
  for (int64_t len : s.kv_lens)
    for (int64_t sp = 0; sp < ceil_div(len, split.chunk); ++sp)
      for (int g = 0; g < groups; ++g) {
        const double t = double(std::min<int64_t>(split.chunk, len - sp * split.chunk));
        const double padded = double(ceil_div(int64_t(t), tile) * tile);
        const Slot item{2.0 * padded * hpc * (kMlaDim + kMlaLatent),
                        t * kMlaRowBytes + hpc * (kMlaLatent + 1) * 4.0};
        if (static_cast<int64_t>(slot.size()) < sms) {
          slot.push_back(item);
          free_first.push(slot.size() - 1);
          continue;
        }
        const size_t i = free_first.top();
        free_first.pop();
        slot[i].flops += item.flops;
        slot[i].bytes += item.bytes;
        free_first.push(i);
      }
  if (!slot.empty()) {
    const Slot& busiest = *std::max_element(
        slot.begin(), slot.end(), [](const Slot& a, const Slot& b) { return a.flops < b.flops; });
    k.sched_flops = busiest.flops * sms;
    k.sched_bytes = busiest.bytes * sms;
  }
  p.launches.push_back(k);

  const int64_t head_rows = int64_t(s.heads) * s.batch;
  KernelLaunch c;
  c.kernel = "mla_decode_combine_kernel";
  c.grid = ceil_div(head_rows, kMlaCombineRows);
  c.block = 32 * kMlaCombineRows;
  c.ctas_per_sm = 2048 / c.block;
  c.work_items = double(c.grid);
  c.waves = c.work_items / (double(sms) * c.ctas_per_sm);
  c.full_waves = static_cast<int64_t>(std::floor(c.waves));
  c.last_wave_fill = c.waves - double(c.full_waves);
  c.flops = 3.0 * double(merged_rows) * s.heads * kMlaLatent;
  c.bytes = partial_bytes + double(merged_seqs) * out_bytes;
  p.launches.push_back(c);
  if (groups > 1)
    p.notes.push_back("heads / heads_per_cta = " + std::to_string(groups) +
                      " CTAs read each latent row; the plan counts HBM bytes once (L2 reuse)");
  return p;
}

}  // namespace quadrant::kernels::plan
