// MLA decode's wgmma form without a GPU: every element the kernel copies (kernels/src/
// mla_wg_layout.h's offsets) or stores by stmatrix.trans is read back where its wgmma
// descriptors say, through models of the PTX ISA's shared-memory layouts written here
// independently of the kernel: the 128-byte swizzle, the K-major and MN-major canonical
// layouts (the PTX ISA's "Shared Memory Matrix Layout"; CUTLASS's make_gmma_desc forms), the
// wgmma accumulator fragment and stmatrix's transposed store. Elements are tagged by their
// (row, column) so that a misplaced one names itself.
#include "kernels/src/mla_wg_layout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace quadrant::kernels::mla_wg {
namespace {

constexpr int kDim = 576;  // a latent row or a query head: nine 64-column boxes

// Address bits 4-6 XOR bits 7-9: the 128-byte swizzle of a tile that starts on 1024 bytes.
int swizzle128(int addr) {
  return addr ^ (((addr >> 7) & 7) << 4);
}
// BF16 element (row, k) of a K-major operand (rows: M or N; k: the reduction index of one
// instruction, 0..15) at descriptor start `start`: rows 128 bytes apart in groups of 8, the
// groups sbo apart, k contiguous; then swizzled.
int k_major(int start, int row, int k, int sbo) {
  return swizzle128(start + (row / 8) * sbo + (row % 8) * 128 + 2 * k);
}
// MN-major: 64 consecutive m in 128 bytes, boxes of 64 lbo apart; k rows 128 bytes apart in
// groups of 8, the groups sbo apart; then swizzled.
int mn_major(int start, int m, int k, int lbo, int sbo) {
  return swizzle128(start + (m / 64) * lbo + (k / 8) * sbo + (k % 8) * 128 + 2 * (m % 64));
}

// A tile of `rows` rows of 576 tagged elements (row r, column c: r x 576 + c) as the kernel's
// copies lay it out: 16-byte chunk `sub` of box `box` of each row at tile_offset().
std::vector<uint16_t> copied_tile(int rows) {
  std::vector<uint16_t> smem(size_t(rows) * kDim, 0xFFFF);
  for (int r = 0; r < rows; ++r)
    for (int box = 0; box < kDim / 64; ++box)
      for (int sub = 0; sub < 8; ++sub)
        for (int e = 0; e < 8; ++e) {
          const int at = tile_offset(box, r, sub, rows) + 2 * e;
          EXPECT_EQ(smem[at / 2], 0xFFFF) << "written twice: row " << r << " box " << box;
          smem[at / 2] = static_cast<uint16_t>(r * kDim + 64 * box + 8 * sub + e);
        }
  return smem;
}

TEST(MlaWgLayout, TheLatentTileIsReadAsKForScoresAndAsVTransposedForTheOutput) {
  const std::vector<uint16_t> tile = copied_tile(kTileRows);
  // S^T = K Q^T: A(m = token, k = dim 64 kb + 16 kk + k), K-major.
  for (int kb = 0; kb < kDim / 64; ++kb)
    for (int kk = 0; kk < 4; ++kk)
      for (int m = 0; m < kTileRows; ++m)
        for (int k = 0; k < 16; ++k)
          ASSERT_EQ(tile[k_major(qk_a_offset(kb, kk), m, k, kSbo) / 2],
                    m * kDim + 64 * kb + 16 * kk + k)
              << "S^T's A, box " << kb << " step " << kk << " (" << m << ", " << k << ")";
  // O^T = V^T P^T: A(m = dim 64 mb + m, k = token 16 kk + k), MN-major; V = the first 512.
  for (int mb = 0; mb < 8; ++mb)
    for (int kk = 0; kk < kTileRows / 16; ++kk)
      for (int m = 0; m < 64; ++m)
        for (int k = 0; k < 16; ++k)
          ASSERT_EQ(tile[mn_major(pv_a_offset(mb, kk), m, k, kPvLbo, kSbo) / 2],
                    (16 * kk + k) * kDim + 64 * mb + m)
              << "O^T's A, box " << mb << " step " << kk << " (" << m << ", " << k << ")";
}

TEST(MlaWgLayout, TheQueriesAreReadAsTheScoresB) {
  for (int heads : {16, 32}) {
    const std::vector<uint16_t> q = copied_tile(heads);
    for (int kb = 0; kb < kDim / 64; ++kb)
      for (int kk = 0; kk < 4; ++kk)
        for (int n = 0; n < heads; ++n)
          for (int k = 0; k < 16; ++k)
            ASSERT_EQ(q[k_major(qk_b_offset(kb, kk, heads), n, k, kSbo) / 2],
                      n * kDim + 64 * kb + 16 * kk + k)
                << heads << " heads, box " << kb << " step " << kk << " (" << n << ", " << k << ")";
  }
}

// The wgmma f32 accumulator fragment (m64nN): register v of lane l in warp w holds row
// 16 w + l / 4 + 8 ((v / 2) % 2), column 8 (v / 4) + 2 (l % 4) + v % 2.
int acc_row(int warp, int lane, int v) {
  return 16 * warp + lane / 4 + 8 * ((v / 2) % 2);
}
int acc_col(int lane, int v) {
  return 8 * (v / 4) + 2 * (lane % 4) + v % 2;
}

// P (S^T's fragment: rows = tokens, columns = heads), packed as the kernel packs it (pk[i][h]:
// registers 4 i + 2 h and + 1), stored by stmatrix.x4.trans at p_store_offset(); the PTX ISA's
// .trans: element (row fr, column fc) of matrix j, held by lane 4 fr + fc / 2, goes to position
// fr of the row whose address lane 8 j + fc gives. Then read as O^T's B (n = head, k = token).
TEST(MlaWgLayout, StmatrixTransPutsPWhereTheOutputsBReadsIt) {
  for (int heads : {16, 32}) {
    std::vector<uint16_t> p(size_t(heads) * kTileRows, 0xFFFF);
    for (int warp = 0; warp < 4; ++warp)
      for (int x4 = 0; x4 < heads / 16; ++x4)
        for (int j = 0; j < 4; ++j) {
          const int i = 2 * x4 + j / 2, h = j % 2;  // r[j] = pk[i][h]
          for (int lane = 0; lane < 32; ++lane)
            for (int e = 0; e < 2; ++e) {
              const int v = 4 * i + 2 * h + e;
              const int token = acc_row(warp, lane, v), head = acc_col(lane, v);
              const int fr = lane / 4, fc = 2 * (lane % 4) + e;
              const int at = p_store_offset(x4, warp, 8 * j + fc) + 2 * fr;
              ASSERT_EQ(p[at / 2], 0xFFFF) << "stored twice: warp " << warp << " lane " << lane;
              p[at / 2] = static_cast<uint16_t>(token * heads + head);
            }
        }
    for (int kk = 0; kk < kTileRows / 16; ++kk)
      for (int n = 0; n < heads; ++n)
        for (int k = 0; k < 16; ++k)
          ASSERT_EQ(p[k_major(pv_b_offset(kk), n, k, kSbo) / 2], (16 * kk + k) * heads + n)
              << heads << " heads, step " << kk << " (" << n << ", " << k << ")";
  }
}

// The model itself: the swizzle permutes the 16-byte chunks inside each 128-byte row of a
// 1024-byte span (no two elements share an address), and tile_offset() is that map.
TEST(MlaWgLayout, TheSwizzleModelPermutesChunksWithinRows) {
  for (int row = 0; row < 8; ++row) {
    std::vector<int> seen(8, 0);
    for (int c = 0; c < 8; ++c) {
      const int addr = swizzle128(row * 128 + 16 * c);
      ASSERT_EQ(addr / 128, row);
      ASSERT_EQ(addr % 16, 0);
      ++seen[(addr % 128) / 16];
      EXPECT_EQ(addr, tile_offset(0, row, c, 8));
    }
    for (int n : seen) EXPECT_EQ(n, 1);
  }
}

}  // namespace
}  // namespace quadrant::kernels::mla_wg
