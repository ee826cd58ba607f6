#include "kernels/plan/dispatch.h"

#include "kernels/plan/launch_plan.h"
#include "kernels/plan/split_kv.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace quadrant::kernels::plan {
namespace {
void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}
}  // namespace

DecodeSplit decode_attention_split(int64_t batch, int heads, int kv_heads, int head_dim, bool fp8,
                                   int64_t max_kv_len, int sm_count, bool tensor_cores_allowed,
                                   int splits, int min_chunk, DecodeSplitModel model) {
  require(batch >= 1 && max_kv_len >= 1 && sm_count >= 1,
          "decode attention: need batch >= 1, max_kv_len >= 1, sm_count >= 1");
  require(kv_heads >= 1 && heads % kv_heads == 0,
          "decode attention: heads must be a multiple of kv_heads");
  const int group = heads / kv_heads;
  require(group <= 8 ? (8 % group == 0) : (group % 8 == 0),
          "decode attention: heads / kv_heads must divide 8 or be a multiple of 8");
  require(head_dim == 64 || head_dim == 128 || head_dim == 256,
          "decode attention: head_dim must be 64, 128 or 256");
  require(splits >= 0, "decode attention: splits must be >= 0 (0: the heuristic)");
  require(min_chunk >= 0, "decode attention: min_chunk must be >= 0 (0: the heuristic)");
  DecodeSplit s;
  s.heads_per_cta = std::min(group, 8);
  s.tensor_cores = tensor_cores_allowed && head_dim == 128;
  const double rows = double(batch) * (heads / s.heads_per_cta);  // CTAs per split
  const int per_sm =
      !s.tensor_cores && decode_split_slots_resident()
          ? decode_split_ctas_per_sm(head_dim, fp8, s.heads_per_cta)
          : decode_ctas_per_sm(s.tensor_cores, fp8, s.heads_per_cta, decode_attention_form());
  const double slots = double(sm_count) * per_sm;
  const double token_bytes = 2.0 * head_dim * (fp8 ? 1 : 2);  // K and V of one KV head
  const double partial_bytes = 2.0 * s.heads_per_cta * (head_dim + 1) * 4;  // written, read
  int64_t chunk = 0;
  const bool fluid = model == DecodeSplitModel::kRunTime ? decode_split_model_fluid()
                                                         : model == DecodeSplitModel::kFluid;
  if (splits == 0 && s.tensor_cores && fluid) {
    FluidSplitCosts k;
    k.batch = batch;
    k.groups = heads / s.heads_per_cta;
    k.slots = static_cast<int64_t>(slots);
    k.token_bytes = token_bytes;
    k.cta_us = kDecodeFluidCtaUs;
    k.cta_rate = fp8 ? kDecodeFluidRateE4m3 : kDecodeFluidRateBf16;
    k.bandwidth = kDecodeFluidBandwidth;
    k.combine_us = kDecodeFluidCombineUs;
    k.combine_us_per_split = kDecodeFluidCombineUsPerSplit;
    k.spread_weight = kDecodeFluidSpreadWeight;
    k.granule = kDecodeGranule;
    k.max_splits = kDecodeMaxSplits;
    // A simulation per candidate: once per shape (a serving engine asks at every step).
    using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, double>;
    static std::mutex mutex;
    static std::map<Key, int64_t> chosen;
    const Key key{batch, k.groups, k.slots, max_kv_len, token_bytes};
    std::lock_guard<std::mutex> lock(mutex);
    auto it = chosen.find(key);
    if (it == chosen.end()) it = chosen.emplace(key, split_kv_chunk_fluid(max_kv_len, k)).first;
    chunk = it->second;
  } else {
    chunk = split_kv_chunk(max_kv_len, splits,
                           {rows, slots, token_bytes, partial_bytes, kDecodeCtaOverheadBytes,
                            kDecodeCombineOverheadBytes, kDecodeTailFraction, kDecodeSpreadWeight,
                            kDecodeGranule, kDecodeMaxSplits});
  }
  s.chunk = static_cast<int>(chunk);
  s.max_splits = static_cast<int>((max_kv_len + s.chunk - 1) / s.chunk);
  s.min_chunk = min_chunk > 0           ? std::min(s.chunk, std::max(kDecodeGranule, min_chunk))
                : kDecodeBalancedChunks ? s.chunk
                                        : -s.chunk;
  return s;
}

namespace {
struct PrefillVariantRow {
  int mode;
  const char* suffix;
};
constexpr PrefillVariantRow kPrefillVariants[kPrefillMaxVariant + 1] = {
    {0, "_wgmma_serial"},    {1, "_wgmma_overlap"},    {2, "_wgmma"},
    {3, "_wgmma_polyexp"},   {0, "_wgmma_3wg_serial"}, {1, "_wgmma_3wg"},
    {4, "_wgmma_3wg_pvq"},   {4, "_wgmma_pvq"},        {5, "_wgmma_3wg_poly4"},
    {6, "_wgmma_3wg_poly2"}, {8, "_wgmma_3wg_turns"}};
}  // namespace

int prefill_mode(int variant) {
  require(variant >= 0 && variant <= kPrefillMaxVariant,
          "prefill attention: a wgmma variant is 0 .. 10");
  return kPrefillVariants[variant].mode;
}

const char* prefill_variant_suffix(int variant) {
  if (variant == kPrefillMmaVariant) return "_mma";
  require(variant >= 0 && variant <= kPrefillMaxVariant,
          "prefill attention: variant must be -1 .. 10");
  return kPrefillVariants[variant].suffix;
}

int prefill_default_variant(bool fp8) {
  // The fastest measured (PERF.md run 4): BF16 ping-pong (2), FP8 three consumers (4).
  return fp8 ? 4 : 2;
}

bool prefill_wgmma_supported(bool fp8, int head_dim, int v_head_dim) {
  if (fp8) return head_dim == 128 && v_head_dim == 128;
  return (head_dim == 64 && v_head_dim == 64) || (head_dim == 128 && v_head_dim == 128) ||
         (head_dim == 192 && v_head_dim == 128);
}

int prefill_variant(bool fp8, int head_dim, int v_head_dim, int requested) {
  const int v = requested == kDefaultVariant ? prefill_default_variant(fp8) : requested;
  require(v >= kPrefillMmaVariant && v <= kPrefillMaxVariant,
          "prefill attention: variant must be -1 .. 10");
  require(fp8 || prefill_consumers(true, v) == 2,
          "prefill attention: variants 4 .. 6 and 8 .. 10 are fp8 only");
  if (v == kPrefillMmaVariant || !prefill_wgmma_supported(fp8, head_dim, v_head_dim))
    return kPrefillMmaVariant;
  return v;
}

int prefill_tile_rows(bool fp8, int variant) {
  if (variant == kPrefillMmaVariant) return 64;
  return 64 * prefill_consumers(fp8, variant);
}

int prefill_threads(bool fp8, int variant) {
  if (variant == kPrefillMmaVariant) return 128;
  return 128 * (1 + prefill_consumers(fp8, variant));
}

PrefillSchedule prefill_schedule(const std::vector<int64_t>& q_lens,
                                 const std::vector<int64_t>& prefix_lens, int tile_rows) {
  require(!q_lens.empty() && q_lens.size() == prefix_lens.size(),
          "prefill attention: need one prefix length per sequence");
  require(tile_rows > 0, "prefill attention: tile_rows must be positive");
  PrefillSchedule s;
  s.tile_rows = tile_rows;
  s.cu_q = {0};
  s.cu_k = {0};
  s.cu_sq = {0};
  s.cu_sk = {0};
  s.cu_kt = {0};
  struct Tile {
    int64_t work;
    int32_t seq, q0;
  };
  std::vector<Tile> tiles;
  for (size_t b = 0; b < q_lens.size(); ++b) {
    const int64_t len = q_lens[b], pre = prefix_lens[b];
    require(len >= 1 && pre >= 0, "prefill attention: q_len >= 1 and prefix_len >= 0");
    const int64_t keys = pre + len;
    require(s.cu_k.back() + keys < (int64_t(1) << 31), "prefill attention: too many tokens");
    s.cu_q.push_back(static_cast<int32_t>(s.cu_q.back() + len));
    s.cu_k.push_back(static_cast<int32_t>(s.cu_k.back() + keys));
    s.cu_sq.push_back(
        static_cast<int32_t>(s.cu_sq.back() + (len + kPrefillScaleBlock - 1) / kPrefillScaleBlock));
    s.cu_sk.push_back(static_cast<int32_t>(s.cu_sk.back() +
                                           (keys + kPrefillScaleBlock - 1) / kPrefillScaleBlock));
    s.prefix.push_back(static_cast<int32_t>(pre));
    for (int64_t q0 = 0; q0 < len; q0 += tile_rows)
      tiles.push_back({pre + q0 + tile_rows, static_cast<int32_t>(b), static_cast<int32_t>(q0)});
    const int64_t kt = (keys + kPrefillVtTile - 1) / kPrefillVtTile;
    s.cu_kt.push_back(static_cast<int32_t>(s.cu_kt.back() + kt * kPrefillVtTile));
    for (int64_t j = 0; j < kt; ++j) {
      s.kt_seq.push_back(static_cast<int32_t>(b));
      s.kt_tile.push_back(static_cast<int32_t>(j));
    }
    s.causal_pairs += len * pre + len * (len + 1) / 2;  // query t sees pre + t + 1 keys
  }
  // Heaviest tiles (most keys) first, so that the last wave is made of light ones.
  std::stable_sort(tiles.begin(), tiles.end(),
                   [](const Tile& a, const Tile& b) { return a.work > b.work; });
  for (const Tile& t : tiles) {
    s.tile_seq.push_back(t.seq);
    s.tile_q0.push_back(t.q0);
    s.tile_keys.push_back(std::min<int64_t>(t.work, prefix_lens[t.seq] + q_lens[t.seq]));
  }
  return s;
}

MoeGemmPath moe_gemm_path(int64_t tokens, int top_k, int experts, bool cublaslt) {
  if (cublaslt) return MoeGemmPath::kCublasLt;
  return tokens * top_k >= kMoeWgmmaRowsPerExpert * int64_t(experts) ? MoeGemmPath::kWgmma
                                                                     : MoeGemmPath::kMmaSync;
}

int moe_block_m(MoeGemmPath path, int64_t tokens, int top_k, int experts, bool bf16, int w4_form) {
  switch (path) {
    case MoeGemmPath::kWgmma:
      return kMoeWgmmaBlockM;
    case MoeGemmPath::kMmaSync:
      return moe_mma_block_m(tokens * top_k, experts, bf16, w4_form);
    case MoeGemmPath::kCublasLt:
      // The schedule is not used by cuBLASLt; kept as the op always built it.
      return tokens * top_k >= kMoeWgmmaRowsPerExpert * int64_t(experts) ? 64 : 16;
  }
  return 16;
}

int decode_attention_form() {
  const char* env = std::getenv("QUADRANT_DECODE_ATTN_FORM");
  if (!env || !*env) return kDecodeAttnForm;
  const int f = std::atoi(env);
  require(
      decode_attention_form_valid(f) && std::to_string(f) == env,
      std::string("QUADRANT_DECODE_ATTN_FORM must be 0 .. ") +
          std::to_string(kDecodeAttnForms - 1) +
          " (8 only with 4, 16 and 32 only with 14, 64 not with 32, 128 only with 14 and "
          "not with 32, nor with 16 unless with 256, 256 only with 14, 512 only with 256, 1024 and "
          "2048 only with 256 and not with 16 or 512, 4096 only with 2048), got '" +
          env + "'");
  return f;
}

namespace {
// A two-valued variable: false when unset, empty or `off`, true when `on`, else an error naming
// both.
bool env_switch(const char* name, const char* off, const char* on) {
  const char* env = std::getenv(name);
  if (!env || !*env || std::string(env) == off) return false;
  require(std::string(env) == on,
          std::string(name) + " must be " + off + " or " + on + ", got '" + env + "'");
  return true;
}
}  // namespace

bool decode_split_model_fluid() {
  return env_switch("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "bytes", "fluid");
}

bool decode_split_slots_resident() {
  return env_switch("QUADRANT_DECODE_ATTN_SPLIT_SLOTS", "bound", "resident");
}

int moe_w4_decode_form() {
  const char* env = std::getenv("QUADRANT_W4A8_DECODE_FORM");
  if (!env || !*env) return kMoeW4DecodeForm;
  const int f = std::atoi(env);
  require(f >= 1 && f <= kMoeW4Forms, std::string("QUADRANT_W4A8_DECODE_FORM must be 1 .. ") +
                                          std::to_string(kMoeW4Forms) + ", got '" + env + "'");
  return f;
}

W4a8PrefillDequant moe_w4_prefill_dequant() {
  const char* env = std::getenv("QUADRANT_W4A8_PREFILL_DEQUANT");
  if (!env || !*env) return kMoeW4PrefillDequant;
  const std::string v = env;
  if (v == "scratch") return W4a8PrefillDequant::kScratch;
  if (v == "producer") return W4a8PrefillDequant::kProducer;
  require(v == "by_rows",
          "QUADRANT_W4A8_PREFILL_DEQUANT must be scratch, producer or by_rows, got '" + v + "'");
  return W4a8PrefillDequant::kByRows;
}

bool moe_fp8_decode_wgmma() {
  const char* env = std::getenv("QUADRANT_FP8_DECODE_GEMM");
  if (!env || !*env) return kMoeFp8DecodeWgmma;
  if (std::string(env) == "wgmma2") return true;
  require(std::string(env) == "mma" || std::string(env) == "wgmma",
          std::string("QUADRANT_FP8_DECODE_GEMM must be mma, wgmma or wgmma2, got '") + env + "'");
  return std::string(env) == "wgmma";
}

int moe_fp8_decode_warpgroups() {
  const char* env = std::getenv("QUADRANT_FP8_DECODE_GEMM");
  return moe_fp8_decode_wgmma() && env && std::string(env) == "wgmma2" ? 2 : 1;
}

bool moe_fused_route(int64_t tokens, int top_k) {
  int64_t max_slots = kMoeFusedRouteMaxSlots;
  if (const char* env = std::getenv("QUADRANT_MOE_FUSED_ROUTE_SLOTS"); env && *env) {
    max_slots = std::atoll(env);
    require(max_slots >= 0 && max_slots <= 4096 && std::string(env) == std::to_string(max_slots),
            std::string("QUADRANT_MOE_FUSED_ROUTE_SLOTS must be 0 .. 4096, got '") + env + "'");
  }
  return tokens * top_k <= max_slots;
}

bool moe_pdl(bool w4a8) {
  const char* env = std::getenv("QUADRANT_MOE_PDL");
  if (!env || !*env) return w4a8 ? kMoePdlW4a8 : kMoePdlBf16Fp8;
  require(std::string(env) == "0" || std::string(env) == "1",
          std::string("QUADRANT_MOE_PDL must be 0 or 1, got '") + env + "'");
  return std::string(env) == "1";
}

int moe_prefetch_tiles() {
  const char* env = std::getenv("QUADRANT_MOE_PREFETCH");
  if (!env || !*env) return kMoePrefetchTiles;
  const int n = std::atoi(env);
  require(n >= 0 && n <= 16 && std::string(env) == std::to_string(n),
          std::string("QUADRANT_MOE_PREFETCH must be 0 .. 16, got '") + env + "'");
  return n;
}

// A setting for both mma.sync formats, "V", or for each, "BF16's,FP8's": this format's part.
std::string per_format(const std::string& v, bool bf16) {
  const size_t comma = v.find(',');
  if (comma == std::string::npos) return v;
  return bf16 ? v.substr(0, comma) : v.substr(comma + 1);
}

int moe_mma_stages(bool bf16) {
  const char* env = std::getenv("QUADRANT_MOE_STAGES");
  if (!env || !*env) return bf16 ? kMoeMmaStagesBf16 : kMoeMmaStagesFp8;
  const std::string v = per_format(env, bf16);
  const int n = std::atoi(v.c_str());
  require(n >= 3 && n <= kMoeMmaStagesMax && v == std::to_string(n),
          std::string("QUADRANT_MOE_STAGES must be N or BF16's,FP8's, N in 3 .. ") +
              std::to_string(kMoeMmaStagesMax) + ", got '" + env + "'");
  return n;
}

int moe_mma_block_m_setting(bool bf16) {
  const char* env = std::getenv("QUADRANT_MOE_BLOCK_M");
  if (!env || !*env) return bf16 ? kMoeMmaBlockMBf16 : kMoeMmaBlockMFp8;
  const std::string v = per_format(env, bf16);
  if (v == "auto") return kMoeMmaBlockMAuto;
  require(
      v == "16" || v == "32",
      std::string("QUADRANT_MOE_BLOCK_M must be 16, 32, auto or BF16's,FP8's, got '") + env + "'");
  return std::atoi(v.c_str());
}

int moe_mma_block_m(int64_t rows, int experts, int w4_form, int setting) {
  if (w4_form == kMoeW4WgTilesForm)
    setting = kMoeMmaBlockMAuto;  // the form's own rule
  else if (w4_form != 0)
    return 16;
  if (setting == kMoeMmaBlockMAuto)
    return rows >= kMoeMmaBlockM32RowsPerExpert * int64_t(experts) ? 32 : 16;
  return setting;
}

int moe_split_k_setting(bool w4a8) {
  const char* env = std::getenv("QUADRANT_MOE_SPLIT_K");
  if (!env || !*env) return w4a8 ? kMoeSplitKW4a8 : kMoeSplitK;
  if (std::string(env) == "auto") return kMoeSplitKAuto;
  const int n = std::atoi(env);
  require(n >= 0 && n <= kMoeSplitKMax && std::string(env) == std::to_string(n),
          std::string("QUADRANT_MOE_SPLIT_K must be auto or 0 .. ") +
              std::to_string(kMoeSplitKMax) + ", got '" + env + "'");
  return n;
}

int moe_split_k(int64_t rows, int experts, int64_t n, int64_t k, bool bf16, int w4_form,
                int sm_count, int setting) {
  const int64_t k_blocks = k / 128;
  if (setting == 0 || !moe_split_k_form(w4_form) || k_blocks < 1) return 0;
  if (setting > 0) return static_cast<int>(std::min<int64_t>(setting, k_blocks));
  const int64_t ctas = n / kMoeMmaBlockN * std::min(rows, moe_max_tiles(rows, 16, experts));
  const int64_t slots =
      int64_t(sm_count) * moe_mma_ctas_per_sm(bf16, w4_form, w4_form ? 3 : moe_mma_stages(bf16));
  int s = 1;
  while (s < kMoeSplitKMax && ctas * (s + 1) <= slots && k_blocks / (s + 1) >= kMoeSplitKMinBlocks)
    ++s;
  return s > 1 ? s : 0;
}

int64_t moe_max_tiles(int64_t rows, int block_m, int experts) {
  return (rows + block_m - 1) / block_m + experts;
}

}  // namespace quadrant::kernels::plan
