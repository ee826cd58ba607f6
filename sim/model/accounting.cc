#include "sim/model/accounting.h"

#include <algorithm>
#include <cmath>

namespace quadrant {

namespace {

double d(int64_t v) {
  return static_cast<double>(v);
}
int ceil_div(int a, int b) {
  return (a + b - 1) / b;
}
double ceil_div_d(double a, double b) {
  return std::ceil(a / b);
}

// Bytes per weight of linear layers, W4A8 group scales (one bf16 per group) included.
double weight_element_bytes(const ModelSpec& m) {
  double b = bytes_per_element(m.precision.weights);
  if (m.precision.weights == NumberFormat::kW4A8) {
    b += 2.0 / std::max(1, m.precision.weight_group_size);
  }
  return b;
}

double act_bytes(const ModelSpec& m) {
  return bytes_per_element(m.precision.activations);
}

double expert_params(const ModelSpec& m) {
  return 3.0 * m.hidden_size * m.ffn.expert_intermediate_size;
}
double shared_expert_params(const ModelSpec& m) {
  int si = m.ffn.shared_expert_intermediate_size > 0 ? m.ffn.shared_expert_intermediate_size
                                                     : m.ffn.expert_intermediate_size;
  return 3.0 * m.hidden_size * si * m.ffn.num_shared_experts;
}
double dense_ffn_params(const ModelSpec& m) {
  return 3.0 * m.hidden_size * m.ffn.intermediate_size;
}
double memory_layer_params(const ModelSpec& m) {
  // value table plus the projection of the gathered values back to the hidden size
  return d(m.ffn.num_values) * m.ffn.value_dim + 1.0 * m.ffn.value_dim * m.hidden_size;
}
int dense_ffn_layers(const ModelSpec& m) {
  return m.ffn.kind == FfnKind::kMoe ? m.ffn.first_dense_layers : m.num_layers;
}
int layers_per_stage(const ModelSpec& m, const Layout& l) {
  return ceil_div(m.num_layers, l.pp);
}
int gpus_per_stage(const Layout& l) {
  return l.tp * l.dp_attention;
}

// KV elements one token stores in one layer on one GPU.
double kv_elements_per_layer_per_gpu(const ModelSpec& m, const Layout& l) {
  const AttentionSpec& a = m.attention;
  if (a.kind == AttentionKind::kMla) return a.kv_lora_rank + a.qk_rope_head_dim;
  return 2.0 * ceil_div(a.num_kv_heads, l.tp) * a.head_dim;
}

NumberFormat ffn_compute_format(const ModelSpec& m) {
  switch (m.precision.weights) {
    case NumberFormat::kW4A8:
      return NumberFormat::kW4A8;
    case NumberFormat::kFp8:
      return NumberFormat::kFp8;
    case NumberFormat::kInt8:
      return NumberFormat::kInt8;
    case NumberFormat::kBf16:
      return NumberFormat::kBf16;
  }
  return NumberFormat::kBf16;
}

}  // namespace

double attention_parameters_per_layer(const ModelSpec& m) {
  const AttentionSpec& a = m.attention;
  const double h = m.hidden_size;
  if (a.kind == AttentionKind::kMla) {
    const double qk = a.qk_head_dim();
    double q = a.q_lora_rank > 0 ? h * a.q_lora_rank + 1.0 * a.q_lora_rank * a.num_heads * qk
                                 : h * a.num_heads * qk;
    double kv_a = h * (a.kv_lora_rank + a.qk_rope_head_dim);
    double kv_b = 1.0 * a.kv_lora_rank * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim);
    double o = 1.0 * a.num_heads * a.v_head_dim * h;
    return q + kv_a + kv_b + o;
  }
  return h * a.num_heads * a.head_dim * 2.0 + h * a.num_kv_heads * a.head_dim * 2.0;
}

ParameterCount parameter_count(const ModelSpec& m) {
  ParameterCount p;
  p.attention = attention_parameters_per_layer(m) * m.num_layers;
  p.embeddings = 1.0 * m.vocab_size * m.hidden_size * (m.tie_embeddings ? 1 : 2);
  double activated_ffn = 0;
  if (m.ffn.kind == FfnKind::kMoe) {
    const int moe_layers = m.num_moe_layers();
    p.dense_ffn = dense_ffn_params(m) * dense_ffn_layers(m);
    p.routed_experts = expert_params(m) * m.ffn.num_experts * moe_layers;
    p.shared_experts = shared_expert_params(m) * moe_layers;
    p.router = 1.0 * m.hidden_size * m.ffn.num_experts * moe_layers;
    activated_ffn =
        p.dense_ffn + p.shared_experts + p.router + expert_params(m) * m.ffn.top_k * moe_layers;
  } else {
    p.dense_ffn = dense_ffn_params(m) * m.num_layers;
    activated_ffn = p.dense_ffn;
    if (m.ffn.kind == FfnKind::kUltraMem) {
      const int mem_layers = m.num_memory_layers();
      p.memory_values = memory_layer_params(m) * mem_layers;
      activated_ffn +=
          (1.0 * m.ffn.top_k_values * m.ffn.value_dim + 1.0 * m.ffn.value_dim * m.hidden_size) *
          mem_layers;
    }
  }
  p.total = p.attention + p.dense_ffn + p.routed_experts + p.shared_experts + p.router +
            p.memory_values + p.embeddings;
  p.activated = p.attention + activated_ffn + p.embeddings;
  return p;
}

Bytes kv_bytes_per_token(const ModelSpec& m) {
  return kv_bytes_per_token_per_gpu(m, Layout{});
}

Bytes kv_bytes_per_token_per_gpu(const ModelSpec& m, const Layout& l) {
  return Bytes(kv_elements_per_layer_per_gpu(m, l) * layers_per_stage(m, l) *
               bytes_per_element(m.precision.kv_cache));
}

Bytes weight_bytes(const ModelSpec& m) {
  ParameterCount p = parameter_count(m);
  return Bytes((p.total - p.embeddings) * weight_element_bytes(m) + p.embeddings * 2.0);
}

Bytes weight_bytes_per_gpu(const ModelSpec& m, const Layout& l) {
  ParameterCount p = parameter_count(m);
  const double stage = static_cast<double>(layers_per_stage(m, l)) / m.num_layers;
  const double g = gpus_per_stage(l);
  // Attention, dense FFN and shared experts split by TP (replicated over DP-attention
  // ranks); routed experts and memory tables spread over every GPU of the stage.
  double linear = (p.attention + p.dense_ffn + p.shared_experts + p.router) / l.tp +
                  (p.routed_experts + p.memory_values) / g;
  // Embedding and LM head sit on the first and last stages; take the fuller one.
  double emb = (l.pp == 1 || m.tie_embeddings ? p.embeddings : p.embeddings / 2) / l.tp;
  return Bytes(linear * stage * weight_element_bytes(m) + emb * 2.0);
}

AfWeights af_weight_bytes_per_gpu(const ModelSpec& m, const Layout& attention, int ffn_gpus,
                                  double ffn_slots_per_gpu) {
  const ParameterCount p = parameter_count(m);
  const double wb = weight_element_bytes(m);
  AfWeights w;
  w.attention_per_gpu = Bytes((p.attention + p.dense_ffn + p.router) / attention.tp * wb +
                              p.embeddings / attention.tp * 2.0);
  w.ffn_per_gpu = Bytes((p.routed_experts / std::max(1, ffn_gpus) + p.shared_experts) * wb) +
                  redundant_expert_bytes_per_gpu(m, af_ffn_layout(ffn_gpus), ffn_slots_per_gpu);
  return w;
}

double expected_distinct_groups(int experts, int top_k, int groups) {
  if (groups <= 1 || experts <= 0 || top_k <= 0) return std::min(1, std::max(groups, 0));
  const double per_group = static_cast<double>(experts) / groups;
  // P(a given group holds none of the k): C(E - E/g, k) / C(E, k) as a product.
  double none = 1;
  for (int i = 0; i < top_k; ++i) none *= std::max(0.0, (experts - per_group - i) / (experts - i));
  return groups * (1 - none);
}

Layout af_ffn_layout(int ffn_gpus) {
  return Layout{.tp = 1, .ep = ffn_gpus, .pp = 1, .dp_attention = ffn_gpus};
}

AttentionConstants attention_constants(const ModelSpec& m, const Layout& l, Phase phase) {
  const AttentionSpec& a = m.attention;
  AttentionConstants k;
  k.phase = phase;
  k.dp = l.dp_attention;
  k.heads = ceil_div(a.num_heads, l.tp);
  if (a.kind == AttentionKind::kMla && phase == Phase::kDecode) {
    // Weight absorption: queries score the cached latent directly.
    k.kv_heads = 1;
    k.qk_head_dim = a.kv_lora_rank + a.qk_rope_head_dim;
    k.v_head_dim = a.kv_lora_rank;
  } else {
    k.kv_heads = a.kind == AttentionKind::kMla ? k.heads : ceil_div(a.num_kv_heads, l.tp);
    k.qk_head_dim = a.qk_head_dim();
    k.v_head_dim = a.v_dim();
  }
  k.compute_format = phase == Phase::kDecode ? m.precision.kv_cache : m.precision.activations;
  k.proj_params = attention_parameters_per_layer(m) / l.tp;
  k.kv_elem = kv_elements_per_layer_per_gpu(m, l);
  k.kv_b = bytes_per_element(m.precision.kv_cache);
  k.weights = k.proj_params * weight_element_bytes(m);
  k.h = m.hidden_size;
  k.act_b = act_bytes(m);
  k.hidden = m.hidden_size;
  return k;
}

QuadrantShape attention_shape(const AttentionConstants& k, const BatchShape& b) {
  QuadrantShape s;
  s.quadrant =
      k.phase == Phase::kPrefill ? Quadrant::kPrefillAttention : Quadrant::kDecodeAttention;
  const int dp = k.dp;
  // Each DP-attention replica serves its share of the sequences.
  s.num_seqs = std::max(1, ceil_div(b.num_seqs, dp));
  s.new_tokens = static_cast<int64_t>(ceil_div_d(d(b.new_tokens), dp));
  s.context_tokens = static_cast<int64_t>(ceil_div_d(d(b.context_tokens), dp));
  double pairs = d(b.attention_pairs);
  if (pairs <= 0) {
    if (k.phase == Phase::kDecode) {
      pairs = d(b.context_tokens);
    } else {
      const double seqs = std::max(1, b.num_seqs);
      const double n = d(b.new_tokens) / seqs;
      const double prior = std::max(0.0, d(b.context_tokens) / seqs - n);
      pairs = seqs * (n * prior + n * (n + 1) / 2);
    }
  }
  pairs /= dp;
  s.heads = k.heads;
  s.kv_heads = k.kv_heads;
  s.qk_head_dim = k.qk_head_dim;
  s.v_head_dim = k.v_head_dim;
  s.compute_format = k.compute_format;
  const double core = 2.0 * pairs * s.heads * (s.qk_head_dim + s.v_head_dim);
  s.flops = Flops(2.0 * d(s.new_tokens) * k.proj_params + core);
  const double prior_kv = std::max(0.0, d(s.context_tokens) - d(s.new_tokens));
  const double kv = (prior_kv + d(s.new_tokens)) * k.kv_elem * k.kv_b  // read
                    + d(s.new_tokens) * k.kv_elem * k.kv_b;            // write the new entries
  const double acts = 2.0 * d(s.new_tokens) * k.h * k.act_b;
  s.bytes = Bytes(k.weights + kv + acts);
  s.hidden = k.hidden;
  return s;
}

QuadrantShape attention_shape(const ModelSpec& m, const Layout& l, Phase phase,
                              const BatchShape& b) {
  return attention_shape(attention_constants(m, l, phase), b);
}

QuadrantShape ffn_shape(const ModelSpec& m, const Layout& l, Phase phase, int64_t tokens,
                        bool moe_layer, const ExpertSpread& spread) {
  QuadrantShape s;
  s.quadrant = phase == Phase::kPrefill ? Quadrant::kPrefillFfn : Quadrant::kDecodeFfn;
  s.compute_format = ffn_compute_format(m);
  s.hidden = m.hidden_size;
  const double h = m.hidden_size;
  const double wb = weight_element_bytes(m);
  const double ab = act_bytes(m);
  const double g = gpus_per_stage(l);
  const double t = d(tokens);
  s.new_tokens = tokens;
  if (moe_layer && m.ffn.kind == FfnKind::kMoe) {
    const double experts = m.ffn.num_experts;
    const double k = m.ffn.top_k;
    // Experts spread over the stage's GPUs; past one expert per GPU they split by TP.
    const double experts_per_gpu =
        spread.slots_per_gpu > 0 ? spread.slots_per_gpu : std::max(1.0, experts / g);
    const double split = std::max(1.0, g / experts);
    s.intermediate = static_cast<int>(m.ffn.expert_intermediate_size / split);
    const double pairs = t * k / g * spread.imbalance;
    s.routed_tokens = static_cast<int64_t>(std::ceil(pairs));
    // An expert is read only if some token picked it: P = 1 - (1 - k/E)^t.
    const double p_active = 1.0 - std::pow(std::max(0.0, 1.0 - k / experts), t);
    const double active = experts_per_gpu * p_active;
    s.active_experts = static_cast<int>(std::ceil(active));
    const double expert_w = expert_params(m) / split;
    const double shared_w = shared_expert_params(m) / l.tp;
    const double shared_tokens = t / l.dp_attention;
    s.flops = Flops(2.0 * pairs * expert_w + 2.0 * shared_tokens * shared_w +
                    2.0 * shared_tokens * h * experts);
    s.bytes = Bytes(active * expert_w * wb + shared_w * wb + h * experts * 2.0 +
                    2.0 * (pairs + shared_tokens) * h * ab);
  } else {
    const double w = dense_ffn_params(m) / l.tp;
    const double shard_tokens = t / l.dp_attention;
    s.intermediate = m.ffn.intermediate_size / l.tp;
    s.routed_tokens = static_cast<int64_t>(std::ceil(shard_tokens));
    s.active_experts = 0;
    double flops = 2.0 * shard_tokens * w;
    double bytes = w * wb + 2.0 * shard_tokens * h * ab;
    if (m.ffn.kind == FfnKind::kUltraMem && m.ffn.memory_layer_interval > 0) {
      // A memory layer every `interval` layers, averaged over layers: each token gathers
      // top_k_values rows and projects them back to the hidden size.
      const double per = 1.0 / m.ffn.memory_layer_interval;
      const double proj = 1.0 * m.ffn.value_dim * h / g;
      flops += per * 2.0 * shard_tokens * (proj + 1.0 * m.ffn.top_k_values * m.ffn.value_dim);
      bytes += per * (proj * wb + shard_tokens * m.ffn.top_k_values * m.ffn.value_dim * wb / g);
    }
    s.flops = Flops(flops);
    s.bytes = Bytes(bytes);
  }
  return s;
}

Bytes redundant_expert_bytes_per_gpu(const ModelSpec& m, const Layout& l, double slots_per_gpu) {
  if (m.ffn.kind != FfnKind::kMoe || slots_per_gpu <= 0) return Bytes(0);
  const double even = static_cast<double>(m.ffn.num_experts) / gpus_per_stage(l);
  const double extra = std::max(0.0, slots_per_gpu - even);
  return Bytes(extra * expert_params(m) * m.num_moe_layers() *
               (static_cast<double>(layers_per_stage(m, l)) / m.num_layers) *
               weight_element_bytes(m));
}

CommVolume layer_communication(const ModelSpec& m, const Layout& l, int64_t tokens,
                               const ExpertSpread& spread) {
  CommVolume c;
  const double h = m.hidden_size;
  const double t = d(tokens);
  if (l.tp > 1) {
    // Two ring all-reduces per layer (attention output, FFN output) over the TP group.
    const double msg = t / l.dp_attention * h * 2.0;  // bf16 partial sums
    c.tp_allreduce = Bytes(2.0 * 2.0 * (l.tp - 1) / l.tp * msg);
  }
  if (m.ffn.kind == FfnKind::kMoe && l.ep > 1) {
    const double per_gpu_tokens = t / gpus_per_stage(l);
    const double remote = static_cast<double>(l.ep - 1) / l.ep;
    c.ep_dispatch =
        Bytes(per_gpu_tokens * m.ffn.top_k * h * act_bytes(m) * remote * spread.imbalance);
    c.ep_combine = Bytes(per_gpu_tokens * m.ffn.top_k * h * 2.0 * remote * spread.imbalance);
  }
  if (l.pp > 1) c.pp_send = Bytes(t * h * 2.0);
  return c;
}

ForwardAccounting forward_accounting(const ModelSpec& m, const Layout& l, Phase phase,
                                     const BatchShape& b) {
  ForwardAccounting f;
  // Every layer runs on one stage of gpus_per_stage GPUs; per-GPU shapes times that.
  const double g = gpus_per_stage(l);
  QuadrantShape att = attention_shape(m, l, phase, b);
  const int qa = static_cast<int>(att.quadrant);
  f.flops[qa] = att.flops * (m.num_layers * g);
  f.bytes[qa] = att.bytes * (m.num_layers * g);
  for (int i = 0; i < m.num_layers; ++i) {
    QuadrantShape ffn = ffn_shape(m, l, phase, b.new_tokens, m.is_moe_layer(i));
    const int qf = static_cast<int>(ffn.quadrant);
    f.flops[qf] += ffn.flops * g;
    f.bytes[qf] += ffn.bytes * g;
  }
  return f;
}

}  // namespace quadrant
