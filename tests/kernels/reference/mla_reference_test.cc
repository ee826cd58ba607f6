// The MLA decode reference against closed forms.
#include "kernels/reference/mla_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace quadrant::kernels::ref {
namespace {

TEST(MlaReference, RopePartShiftsTheWeights) {
  // Two tokens: c_kv e0 and e1; only token 0 has a RoPE key r. The query's RoPE part makes
  // its score ln 3 above token 1's, so out = 3/4 e0 + 1/4 e1; a second head with a zero
  // query averages them.
  const int latent = 4, rope = 2, width = latent + rope;
  const double scale = 0.5;
  std::vector<double> rows(2 * width, 0.0);
  rows[0] = 1;          // token 0: c_kv = e0
  rows[latent] = 2;     // k_rope = (2, 0)
  rows[width + 1] = 1;  // token 1: c_kv = e1, k_rope = 0
  std::vector<double> q(2 * width, 0.0);
  q[latent] = std::log(3.0) / (scale * 2);
  q[1] = 5;  // q_latent . c_kv: +5 for token 1 ...
  q[0] = 5;  // ... and for token 0: equal, cancels
  const auto out = mla_decode_sequence(q.data(), 2, rows.data(), 2, latent, rope, scale);
  ASSERT_EQ(out.size(), 8u);
  EXPECT_NEAR(out[0], 0.75, 1e-12);
  EXPECT_NEAR(out[1], 0.25, 1e-12);
  EXPECT_NEAR(out[2], 0.0, 1e-12);
  EXPECT_NEAR(out[4], 0.5, 1e-12);
  EXPECT_NEAR(out[5], 0.5, 1e-12);
}

TEST(MlaReference, EqualRowsGiveTheirLatentAndNoTokensGiveZeros) {
  const int latent = 3, rope = 1;
  std::vector<double> rows = {1, -2, 3, 9, 1, -2, 3, 9, 1, -2, 3, 9};
  std::vector<double> q = {0.3, 0.1, -0.7, 2};
  const auto out = mla_decode_sequence(q.data(), 1, rows.data(), 3, latent, rope, 0.1);
  EXPECT_NEAR(out[0], 1, 1e-12);
  EXPECT_NEAR(out[1], -2, 1e-12);
  EXPECT_NEAR(out[2], 3, 1e-12);
  const auto none = mla_decode_sequence(q.data(), 1, rows.data(), 0, latent, rope, 0.1);
  EXPECT_EQ(none, std::vector<double>(3, 0.0));
}

}  // namespace
}  // namespace quadrant::kernels::ref
