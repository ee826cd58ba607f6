// Layout: how one instance's GPUs split a model (TP, EP, PP, data-parallel attention).
#pragma once

namespace quadrant {

// How one instance's GPUs are parallelised. GPUs per instance = tp * pp * dp_attention
// (experts are spread over those same GPUs: ep divides tp * dp_attention).
struct Layout {
  int tp = 1;            // tensor parallel (attention heads, dense FFN)
  int ep = 1;            // expert parallel (MoE experts)
  int pp = 1;            // pipeline stages
  int dp_attention = 1;  // data-parallel attention replicas (MLA models)
  int gpus() const { return tp * pp * dp_attention; }
  bool operator==(const Layout&) const = default;
};

}  // namespace quadrant
