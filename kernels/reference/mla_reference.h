// CPU reference (float64) of MLA decode attention in its weight-absorbed form
// (DeepSeek-V2/V3): every head scores the shared latent rows with its absorbed query.
#pragma once

#include <cstdint>
#include <vector>

namespace quadrant::kernels::ref {

// One sequence: q [heads][latent + rope] (q_latent, then q_rope), rows [len][latent + rope]
// (c_kv, then k_rope). For head h: s_t = scale x (q_latent . c_kv_t + q_rope . k_rope_t),
// out[h] = sum_t softmax(s)_t c_kv_t, [heads][latent]; len 0 gives zeros.
std::vector<double> mla_decode_sequence(const double* q, int heads, const double* rows, int64_t len,
                                        int latent, int rope, double scale);

}  // namespace quadrant::kernels::ref
