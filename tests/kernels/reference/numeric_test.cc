#include "kernels/reference/numeric.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace quadrant::kernels::ref {
namespace {

TEST(Bf16, EveryFiniteCodeRoundTrips) {
  for (uint32_t code = 0; code < 0x10000; ++code) {
    const float v = bf16_to_float(static_cast<uint16_t>(code));
    if (std::isnan(v)) continue;
    EXPECT_EQ(float_to_bf16(v), code) << code;
  }
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);  // tie -> even
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))),
            1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST(E4m3, DecodesKnownValues) {
  EXPECT_EQ(e4m3_to_double(0x38), 1.0);
  EXPECT_EQ(e4m3_to_double(0x7E), 448.0);
  EXPECT_EQ(e4m3_to_double(0xFE), -448.0);
  EXPECT_EQ(e4m3_to_double(0x01), std::ldexp(1.0, -9));  // smallest subnormal
  EXPECT_TRUE(std::isnan(e4m3_to_double(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_double(0xFF)));
}

TEST(E4m3, EveryFiniteCodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    const double v = e4m3_to_double(static_cast<uint8_t>(code));
    if (std::isnan(v) || code == 0x80) continue;  // -0 encodes as +0's sign-preserving twin
    EXPECT_EQ(double_to_e4m3(v), code) << code;
  }
}

TEST(E4m3, EncodesToTheNearestCodeAndSaturates) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> dist(-500.0, 500.0);
  for (int i = 0; i < 20000; ++i) {
    const double x = dist(rng) * std::pow(2.0, -static_cast<int>(i % 12));
    const double got = e4m3_to_double(double_to_e4m3(x));
    double best = 1e300;
    for (int c = 0; c < 256; ++c) {
      const double v = e4m3_to_double(static_cast<uint8_t>(c));
      if (!std::isnan(v)) best = std::min(best, std::fabs(v - std::clamp(x, -448.0, 448.0)));
    }
    EXPECT_EQ(std::fabs(got - std::clamp(x, -448.0, 448.0)), best) << x;
  }
  EXPECT_EQ(e4m3_to_double(double_to_e4m3(1e6)), 448.0);
  EXPECT_EQ(e4m3_to_double(double_to_e4m3(-1e6)), -448.0);
  EXPECT_EQ(double_to_e4m3(1.0625), 0x38);  // tie between 1 and 1.125 -> even mantissa
}

TEST(Int4, PackUnpackRoundTrips) {
  std::vector<int8_t> values;
  for (int i = 0; i < 64; ++i) values.push_back(static_cast<int8_t>((i * 7) % 16 - 8));
  std::vector<uint8_t> packed(values.size() / 2);
  pack_int4(values.data(), values.size(), packed.data());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(unpack_int4(packed.data(), i), values[i]) << i;
  // Order the device dequantiser relies on: element 2j low nibble, offset-binary.
  const int8_t pair[2] = {-8, 7};
  uint8_t byte = 0;
  pack_int4(pair, 2, &byte);
  EXPECT_EQ(byte, 0xF0);
}

TEST(Int4, RejectsBadInput) {
  const int8_t bad[2] = {8, 0};
  uint8_t out = 0;
  EXPECT_THROW(pack_int4(bad, 2, &out), std::invalid_argument);
  EXPECT_THROW(pack_int4(bad, 1, &out), std::invalid_argument);
}

}  // namespace
}  // namespace quadrant::kernels::ref
