// The INT4 -> E4M3 byte permutes of the W4A8 prefill GEMM (kernels/src/int4_e4m3.h), on the
// host's emulation of PRMT, against numeric.h's unpack and E4M3 encoding.
#include "kernels/src/int4_e4m3.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

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

// TMA's 128-byte swizzle (CU_TENSOR_MAP_SWIZZLE_128B) on a 1024-byte aligned box of 128-byte
// rows: address bits 4-6 XOR bits 7-9, i.e. 16-byte chunk c of row r at chunk c ^ (r % 8).
int tma_swizzle_128b(int offset) {
  return offset ^ (((offset >> 7) & 7) << 4);
}

// Every INT4 byte is read once and every E4M3 byte written once, each element where the E4M3
// copy's TMA load would have put it: row r, k in the half's 128-byte row, swizzled.
TEST(Int4StageItem, EveryElementLandsWhereTheSwizzledCopyWouldPutIt) {
  std::vector<int> read(kInt4StageRows * 64, 0), written(kInt4StageRows * 128, 0);
  for (int i = 0; i < kInt4StageItems; ++i) {
    const Int4StageItem it = int4_stage_item(i);
    for (int e = 0; e < 32; ++e) {
      const int r = i / 4, k = 32 * (i % 4) + e;
      ASSERT_EQ(it.raw + e / 2, r * 64 + k / 2) << "item " << i << ", element " << e;
      const int dst = e < 16 ? it.dst0 + e : it.dst1 + e - 16;
      ASSERT_EQ(dst, (r / 128) * 128 * 128 + tma_swizzle_128b((r % 128) * 128 + k))
          << "item " << i << ", element " << e;
      ++written[size_t(dst)];
    }
    for (int b = 0; b < 16; ++b) ++read[static_cast<size_t>(it.raw) + size_t(b)];
  }
  for (int n : read) ASSERT_EQ(n, 1);
  for (int n : written) ASSERT_EQ(n, 1);
}

// Shared memory serves a warp's 16-byte accesses eight lanes at a time: each eight of a
// converter warp's loads and stores fall in eight distinct 16-byte bank groups (one wavefront).
TEST(Int4StageItem, EachQuarterWarpHitsEightDistinctBankGroups) {
  int quarters = 0;
  for (int warp = 0; warp < kInt4Converters / 32; ++warp)
    for (int first = 32 * warp; first < kInt4StageItems; first += kInt4Converters)
      for (int q = 0; q < 4; ++q) {
        std::set<int> raw, dst0, dst1;
        for (int lane = 8 * q; lane < 8 * q + 8; ++lane) {
          const Int4StageItem it = int4_stage_item(first + lane);
          raw.insert(it.raw / 16 % 8);
          dst0.insert(it.dst0 / 16 % 8);
          dst1.insert(it.dst1 / 16 % 8);
        }
        EXPECT_EQ(raw.size(), 8u) << "warp " << warp << ", items from " << first << ", quarter "
                                  << q;
        EXPECT_EQ(dst0.size(), 8u)
            << "warp " << warp << ", items from " << first << ", quarter " << q;
        EXPECT_EQ(dst1.size(), 8u)
            << "warp " << warp << ", items from " << first << ", quarter " << q;
        ++quarters;
      }
  EXPECT_EQ(quarters, 4 * kInt4StageItems / 32);  // 1024 items = 32 warp-steps, 128 quarters
}

}  // namespace
}  // namespace quadrant::kernels
