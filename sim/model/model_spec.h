// ModelSpec: the shape of a transformer the simulator serves. Plain data, filled by
// sim/io from a scenario's `model` section; sim/model/accounting.h turns it into FLOPs
// and bytes.
//
//   ModelSpec m = ...;                  // e.g. DeepSeek-V3: 61 layers, MLA, 256 experts
//   double total = parameter_count(m).total;   // ~671e9
#pragma once

#include <cstdint>
#include <string>

#include "sim/core/enum_names.h"

namespace quadrant {

// Number formats of weights, activations and the KV cache. kW4A8 is a weight format:
// 4-bit integer weights with group scales, multiplied against 8-bit activations.
enum class NumberFormat { kBf16, kFp8, kInt8, kW4A8 };

// Bytes per element of a format (W4A8 weights: half a byte, group scales excluded).
double bytes_per_element(NumberFormat f);
inline constexpr EnumNames<NumberFormat, 4> kNumberFormatNames{{{{NumberFormat::kBf16, "bf16"},
                                                                 {NumberFormat::kFp8, "fp8"},
                                                                 {NumberFormat::kInt8, "int8"},
                                                                 {NumberFormat::kW4A8, "w4a8"}}}};
inline const char* to_string(NumberFormat v) {
  return kNumberFormatNames.name(v);
}

enum class AttentionKind { kMha, kGqa, kMla };
inline constexpr EnumNames<AttentionKind, 3> kAttentionKindNames{
    {{{AttentionKind::kMha, "mha"}, {AttentionKind::kGqa, "gqa"}, {AttentionKind::kMla, "mla"}}}};
inline const char* to_string(AttentionKind v) {
  return kAttentionKindNames.name(v);
}

struct AttentionSpec {
  AttentionKind kind = AttentionKind::kGqa;
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;  // MHA: == num_heads; GQA: fewer; MLA: unused (one latent)
  int head_dim = 0;      // MHA/GQA head dimension
  // MLA (DeepSeek-V2/V3): queries and keys/values go through low-rank latents; the KV
  // cache holds the compressed latent plus the decoupled RoPE key.
  int q_lora_rank = 0;  // 0: queries are projected directly from the hidden state
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;

  int qk_head_dim() const {
    return kind == AttentionKind::kMla ? qk_nope_head_dim + qk_rope_head_dim : head_dim;
  }
  int v_dim() const { return kind == AttentionKind::kMla ? v_head_dim : head_dim; }
  bool operator==(const AttentionSpec&) const = default;
};

enum class FfnKind { kDense, kMoe, kUltraMem };
inline constexpr EnumNames<FfnKind, 3> kFfnKindNames{
    {{{FfnKind::kDense, "dense"}, {FfnKind::kMoe, "moe"}, {FfnKind::kUltraMem, "ultramem"}}}};
inline const char* to_string(FfnKind v) {
  return kFfnKindNames.name(v);
}

struct FfnSpec {
  FfnKind kind = FfnKind::kDense;
  int intermediate_size = 0;  // dense FFN, and the leading dense layers of an MoE model
  // MoE
  int num_experts = 0;
  int top_k = 0;
  int num_shared_experts = 0;
  int expert_intermediate_size = 0;
  int shared_expert_intermediate_size = 0;  // 0: same as expert_intermediate_size
  int first_dense_layers = 0;               // leading layers with a dense FFN
  // UltraMem: every `memory_layer_interval`-th layer adds a product-key memory layer
  // beside its dense FFN; a token reads top_k_values rows of value_dim from a table of
  // num_values rows.
  int memory_layer_interval = 0;
  int64_t num_values = 0;
  int value_dim = 0;
  int top_k_values = 0;
  int num_memory_heads = 1;
  bool operator==(const FfnSpec&) const = default;
};

struct PrecisionSpec {
  NumberFormat weights = NumberFormat::kBf16;
  NumberFormat activations = NumberFormat::kBf16;
  NumberFormat kv_cache = NumberFormat::kBf16;
  int weight_group_size = 128;  // W4A8: weights sharing one scale
  bool operator==(const PrecisionSpec&) const = default;
};

struct ModelSpec {
  std::string name;
  int num_layers = 0;
  int hidden_size = 0;
  int vocab_size = 0;
  bool tie_embeddings = false;
  AttentionSpec attention;
  FfnSpec ffn;
  PrecisionSpec precision;

  // Layer i (0-based) has an MoE FFN (and not a dense one).
  bool is_moe_layer(int i) const {
    return ffn.kind == FfnKind::kMoe && i >= ffn.first_dense_layers;
  }
  int num_moe_layers() const {
    return ffn.kind == FfnKind::kMoe ? num_layers - ffn.first_dense_layers : 0;
  }
  int num_memory_layers() const {
    return ffn.kind == FfnKind::kUltraMem && ffn.memory_layer_interval > 0
               ? num_layers / ffn.memory_layer_interval
               : 0;
  }
  bool operator==(const ModelSpec&) const = default;
};

}  // namespace quadrant
