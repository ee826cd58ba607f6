// The INT4 -> E4M3 byte permutes of the W4A8 prefill GEMM (kernels/src/int4_e4m3.h), on the
// host's emulation of PRMT, against numeric.h's unpack and E4M3 encoding.
#include "kernels/src/int4_e4m3.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "kernels/reference/numeric.h"

namespace quadrant::kernels {
namespace {

// Every 16-bit nibble string in both halves of the word (the other half a fixed pattern), so
// that each output byte sees each value beside every value of its neighbours.
TEST(Int4E4m3Prmt, EveryNibbleStringGivesTheExactE4m3) {
  for (uint32_t half = 0; half < 2; ++half)
    for (uint32_t v = 0; v < 0x10000u; ++v) {
      const uint32_t w = half ? (v << 16) | 0x5A3Cu : v | 0xC3A50000u;
      uint8_t packed[4];
      for (int i = 0; i < 4; ++i) packed[i] = static_cast<uint8_t>(w >> (8 * i));
      const E4m3x8 r = int4x8_to_e4m3x8_prmt(w);
      for (int e = 0; e < 8; ++e) {
        const uint8_t got = static_cast<uint8_t>((e < 4 ? r.x : r.y) >> (8 * (e % 4)));
        const int8_t value = ref::unpack_int4(packed, e);
        ASSERT_EQ(got, ref::double_to_e4m3(value)) << "word " << w << ", element " << e;
        ASSERT_EQ(ref::e4m3_to_double(got), double(value));
      }
    }
}

// The emulation follows the PTX ISA: bits 0-2 pick a byte of {a, b}, bit 3 replicates its sign.
TEST(Int4E4m3Prmt, HostPrmtCopiesAndReplicatesSigns) {
  EXPECT_EQ(prmt(0x33221100u, 0x77665544u, 0x3210u), 0x33221100u);
  EXPECT_EQ(prmt(0x33221100u, 0x77665544u, 0x7654u), 0x77665544u);
  EXPECT_EQ(prmt(0x33221100u, 0x77665544u, 0x0404u), 0x00440044u);
  EXPECT_EQ(prmt(0x00800080u, 0, 0x8988u), 0xFF00FFFFu);
  EXPECT_EQ(prmt(0x7F007F00u, 0x80000000u, 0xFB8Bu), 0xFF000000u);
}

}  // namespace
}  // namespace quadrant::kernels
