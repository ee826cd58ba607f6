// The INT4 -> E4M3 conversions of the W4A8 GEMMs (kernels/src/int4_e4m3.h): the byte permutes on
// the host's emulation of PRMT, and form 12's mask and shift, against numeric.h's unpack and E4M3
// encoding.
#include "kernels/src/int4_e4m3.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "kernels/reference/numeric.h"

namespace quadrant::kernels {
namespace {

// Every 16-bit nibble string in both halves of the word (the other half a fixed pattern), so
// that each output byte sees each value beside every value of its neighbours: check(w, e, value,
// byte) for element e (nibble e, numeric.h's value) of every word w through a conversion whose
// element e lands in register x or y at byte `at(e)` (x when x_holds(e)).
template <class Convert, class XHolds, class At, class Check>
void for_each_nibble_string(Convert convert, XHolds x_holds, At at, Check check) {
  for (uint32_t half = 0; half < 2; ++half)
    for (uint32_t v = 0; v < 0x10000u; ++v) {
      const uint32_t w = half ? (v << 16) | 0x5A3Cu : v | 0xC3A50000u;
      uint8_t packed[4];
      for (int i = 0; i < 4; ++i) packed[i] = static_cast<uint8_t>(w >> (8 * i));
      const E4m3x8 r = convert(w);
      for (int e = 0; e < 8; ++e)
        check(w, e, ref::unpack_int4(packed, e),
              static_cast<uint8_t>((x_holds(e) ? r.x : r.y) >> (8 * at(e))));
    }
}

// The permutes: nibbles 0-3 in x, 4-7 in y, each the exact E4M3 of its value.
TEST(Int4E4m3Prmt, EveryNibbleStringGivesTheExactE4m3) {
  for_each_nibble_string(
      int4x8_to_e4m3x8_prmt, [](int e) { return e < 4; }, [](int e) { return e % 4; },
      [](uint32_t w, int e, int8_t value, uint8_t got) {
        ASSERT_EQ(got, ref::double_to_e4m3(value)) << "word " << w << ", element " << e;
        ASSERT_EQ(ref::e4m3_to_double(got), double(value));
      });
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

// The wgmma decode GEMM's weight tiles (forms 11-13, int4_e4m3.h): a 128 x 128 INT4 tile inside a
// larger matrix of seeded values, repacked word by word (w4wg_pack_word) in a nibble order, and
// read back as the consumer warpgroup reads it (thread tid's chunk j at j * 2048 + tid * 16, the
// words w4wg_chunk and w4wg_word_in_chunk name) through a conversion: every register byte of every
// thread, half and k32 step, with the (row, k) of the tile that the PTX ISA's wgmma A layout for
// E4M3 gives it (warp w's rows 16 w .. 16 w + 15 of half h; register 0 row g, k 4t + i in byte i;
// 1 row g + 8; 2 row g, k 16 + 4t + i; 3 row g + 8, k 16 + 4t + i; g = lane / 4, t = lane % 4).
struct PackedTile {
  static constexpr int kRows = 256, kK = 384, kRowBase = 128, kKBase = 256;
  std::vector<int8_t> values;  // [kRows][kK]
  std::vector<uint8_t> tile;   // kW4WgTileBytes
  int8_t value(int row, int k) const { return values[size_t(kRowBase + row) * kK + kKBase + k]; }
};
PackedTile pack_tile(uint32_t seed, W4WgNibbles order) {
  PackedTile t;
  t.values.resize(size_t(PackedTile::kRows) * PackedTile::kK);
  uint32_t x = seed;
  for (int8_t& v : t.values) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<int8_t>(int((x >> 24) % 16) - 8);
  }
  std::vector<uint8_t> packed(t.values.size() / 2);
  ref::pack_int4(t.values.data(), t.values.size(), packed.data());
  t.tile.resize(kW4WgTileBytes);
  for (int i = 0; i < kW4WgTileWords; ++i) {
    const uint32_t w = w4wg_pack_word(packed.data(), PackedTile::kK / 2, PackedTile::kRowBase,
                                      PackedTile::kKBase, i, order);
    for (int b = 0; b < 4; ++b) t.tile[4 * i + b] = static_cast<uint8_t>(w >> (8 * b));
  }
  return t;
}
// visit(tid, h, ks, j, i, row, k, byte) for every register byte, each once.
template <class Convert, class Visit>
void for_each_register_byte(const PackedTile& t, Convert convert, Visit visit) {
  auto word_at = [&](int offset) {
    uint32_t w = 0;
    for (int b = 0; b < 4; ++b) w |= uint32_t(t.tile[offset + b]) << (8 * b);
    return w;
  };
  for (int tid = 0; tid < 128; ++tid) {
    const int warp = tid / 32, g = (tid % 32) / 4, tq = tid % 4;
    for (int h = 0; h < 2; ++h)
      for (int ks = 0; ks < 4; ++ks) {
        uint32_t reg[4];
        for (int q = 0; q < 2; ++q) {
          const int offset = w4wg_chunk(h, ks) * 2048 + tid * 16 + 4 * w4wg_word_in_chunk(ks, q);
          const E4m3x8 r = convert(word_at(offset));
          reg[2 * q] = r.x;
          reg[2 * q + 1] = r.y;
        }
        for (int j = 0; j < 4; ++j)
          for (int i = 0; i < 4; ++i)
            visit(tid, h, ks, j, i, h * 64 + warp * 16 + g + 8 * (j % 2),
                  ks * 32 + 16 * (j / 2) + 4 * tq + i, static_cast<uint8_t>(reg[j] >> (8 * i)));
      }
  }
}

// Form 11: after the byte permutes each register byte is the E4M3 of the INT4 value at its (row,
// k), the layout the FP8 prefill attention's P operand already follows on the GPU. Every element
// of the tile is one register byte, so the repacking misses none.
TEST(W4WgTile, TheConsumersRegistersAreTheWgmmaAFragment) {
  const PackedTile t = pack_tile(12345, W4WgNibbles::kRowsApart);
  for_each_register_byte(t, int4x8_to_e4m3x8_prmt,
                         [&](int tid, int h, int ks, int j, int i, int row, int k, uint8_t byte) {
                           ASSERT_EQ(byte, ref::double_to_e4m3(t.value(row, k)))
                               << "thread " << tid << ", half " << h << ", step " << ks
                               << ", register " << j << ", byte " << i;
                         });
}

// Form 12's conversion (int4x8_to_e4m3x8_offset): every nibble string gives, element by element in
// the interleaved order (nibble 2 j of register x's byte j, 2 j + 1 of y's), the E4M3 byte whose
// value is (v + 8) x 2^-9 by numeric.h's decoder: the 16 codes lie on one step (subnormals and the
// first normal binade), so the mask and the shift need no table.
TEST(Int4E4m3Offset, EveryNibbleIsTheE4m3OfItsOffsetValueTimesTwoToTheMinusNine) {
  for_each_nibble_string(
      int4x8_to_e4m3x8_offset, [](int e) { return e % 2 == 0; }, [](int e) { return e / 2; },
      [](uint32_t w, int e, int8_t value, uint8_t got) {
        ASSERT_EQ(ref::e4m3_to_double(got), double(value + 8) / kW4OffsetScale)
            << "word " << w << ", element " << e;
      });
}

// Form 12 end to end on the host: the tile packed in the interleaved order and read back through
// int4x8_to_e4m3x8_offset gives every register byte as the E4M3 of (v + 8) x 2^-9 at its (row, k),
// each element once; and a k block's products with E4M3 activations, summed from those bytes as
// the tensor cores would (exactly, here in double), give the INT4 dot product once the GEMM's
// offset is taken off: kW4OffsetScale x (sum - X / kW4OffsetCorrDivisor), X the activations' sum
// that the quantising kernels write beside their scale.
TEST(W4WgTile, TheOffsetFormsRegistersGiveTheInt4DotProduct) {
  const PackedTile t = pack_tile(777, W4WgNibbles::kInterleaved);
  std::vector<int> operand(128 * 128, -1);  // the register bytes by (row, k)
  for_each_register_byte(
      t, int4x8_to_e4m3x8_offset,
      [&](int tid, int h, int ks, int j, int i, int row, int k, uint8_t byte) {
        ASSERT_EQ(ref::e4m3_to_double(byte), double(t.value(row, k) + 8) / kW4OffsetScale)
            << "thread " << tid << ", half " << h << ", step " << ks << ", register " << j
            << ", byte " << i;
        ASSERT_EQ(operand[row * 128 + k], -1) << "row " << row << ", k " << k;
        operand[row * 128 + k] = byte;
      });
  // Activations of mixed sign and magnitude (E4M3 values, as the quantising kernels store them),
  // two of the three sets far from mean zero.
  uint32_t x = 4242;
  for (int a = 0; a < 3; ++a) {
    std::vector<double> act(128);
    double sum = 0;
    for (int k = 0; k < 128; ++k) {
      x = x * 1664525u + 1013904223u;
      const double raw = (double((x >> 8) % 2001) - 1000.0) * 0.448 + 150.0 * a;
      act[k] = ref::e4m3_to_double(ref::double_to_e4m3(raw));
      sum += act[k];
    }
    const double corr = sum / kW4OffsetCorrDivisor;  // what store_block writes
    for (int row = 0; row < 128; ++row) {
      double tensor = 0, exact = 0;
      for (int k = 0; k < 128; ++k) {
        tensor += ref::e4m3_to_double(static_cast<uint8_t>(operand[row * 128 + k])) * act[k];
        exact += double(t.value(row, k)) * act[k];
      }
      ASSERT_EQ(kW4OffsetScale * (tensor - corr), exact) << "activations " << a << ", row " << row;
    }
  }
}

}  // namespace
}  // namespace quadrant::kernels
