#include "kernels/reference/mla_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace quadrant::kernels::ref {

std::vector<double> mla_decode_sequence(const double* q, int heads, const double* rows, int64_t len,
                                        int latent, int rope, double scale) {
  if (heads < 1 || latent < 1 || rope < 0 || len < 0)
    throw std::invalid_argument("mla_decode_sequence: need heads, latent >= 1, rope, len >= 0");
  const int width = latent + rope;
  std::vector<double> out(static_cast<size_t>(heads) * latent, 0.0);
  std::vector<double> s(static_cast<size_t>(len));
  for (int h = 0; h < heads; ++h) {
    const double* q_latent = q + static_cast<size_t>(h) * width;
    const double* q_rope = q_latent + latent;
    double big = -std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < len; ++t) {
      const double* c_kv = rows + static_cast<size_t>(t) * width;
      const double* k_rope = c_kv + latent;
      double nope = 0, pe = 0;
      for (int d = 0; d < latent; ++d) nope += q_latent[d] * c_kv[d];
      for (int d = 0; d < rope; ++d) pe += q_rope[d] * k_rope[d];
      s[t] = scale * (nope + pe);
      big = std::max(big, s[t]);
    }
    double sum = 0;
    for (int64_t t = 0; t < len; ++t) sum += (s[t] = std::exp(s[t] - big));
    double* o = out.data() + static_cast<size_t>(h) * latent;
    for (int64_t t = 0; t < len; ++t) {
      const double p = s[t] / sum;
      const double* c_kv = rows + static_cast<size_t>(t) * width;
      for (int d = 0; d < latent; ++d) o[d] += p * c_kv[d];
    }
  }
  return out;
}

}  // namespace quadrant::kernels::ref
