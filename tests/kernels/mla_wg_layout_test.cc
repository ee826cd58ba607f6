// MLA decode's wgmma form without a GPU: every element the kernel copies (kernels/src/
// mla_wg_layout.h's offsets) or stores by stmatrix.trans is read back where its wgmma
// descriptors say, through models of the PTX ISA's shared-memory layouts written here
// independently of the kernel: the 128-byte swizzle, the K-major and MN-major canonical
// layouts (the PTX ISA's "Shared Memory Matrix Layout"; CUTLASS's make_gmma_desc forms), the
// wgmma accumulator fragment and stmatrix's transposed store. Elements are tagged by their
// (row, column) so that a misplaced one names itself.
#include "kernels/src/mla_wg_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/reference/mla_reference.h"
#include "kernels/reference/numeric.h"

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

// The kernel's copies of `valid` rows of 576 (row-major, from `src`) into a tile of `rows` rows:
// 16-byte chunk `sub` of box `box` of each row at tile_offset(); rows past `valid` stay `fill`.
// Each element is written once.
std::vector<uint16_t> lay_out(const std::vector<uint16_t>& src, int rows, int valid,
                              uint16_t fill) {
  std::vector<uint16_t> smem(size_t(rows) * kDim, fill);
  std::vector<bool> written(smem.size(), false);
  for (int r = 0; r < valid; ++r)
    for (int box = 0; box < kDim / 64; ++box)
      for (int sub = 0; sub < 8; ++sub)
        for (int e = 0; e < 8; ++e) {
          const int at = (tile_offset(box, r, sub, rows) + 2 * e) / 2;
          EXPECT_FALSE(written[at]) << "written twice: row " << r << " box " << box;
          written[at] = true;
          smem[at] = src[size_t(r) * kDim + 64 * box + 8 * sub + e];
        }
  return smem;
}
// A tile of `rows` rows of tagged elements: (row r, column c) is r x 576 + c.
std::vector<uint16_t> copied_tile(int rows) {
  std::vector<uint16_t> tags(size_t(rows) * kDim);
  for (size_t i = 0; i < tags.size(); ++i) tags[i] = static_cast<uint16_t>(i);
  return lay_out(tags, rows, rows, 0xFFFF);
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

// One CTA of the kernel, thread by thread, on the host: its tiles copied to tile_offset()
// from a block table of odd pages, S^T from each thread's fragment (the exact dot products
// the tensor cores form), the kernel's masks, shuffle and shared-memory maxima, running
// maxima and per-thread partial sums, P rounded to BF16 and stored by the stmatrix model, O^T
// accumulated from the MN-major A and K-major B models, the sums reduced after the last tile;
// then the splits merged by their log-sum-exp as mla_decode_combine_kernel does. Against
// the float64 reference: what the GPU test checks, here without a GPU.
struct CtaResult {
  std::vector<double> out;  // [heads][512], divided by the sums
  std::vector<double> lse;  // [heads], base 2
};
CtaResult emulate_cta(const std::vector<uint16_t>& q, int heads, const std::vector<uint16_t>& rows,
                      int start, int end, float scale_log2) {
  const int per_wg = heads == 64 ? 32 : heads, nb = per_wg / 8, tiles = (end - start + 63) / 64;
  // The CTA's queries as copied: heads rows.
  const std::vector<uint16_t> sq = lay_out(q, heads, heads, 0);
  auto val = [](uint16_t bits) { return double(ref::bf16_to_float(bits)); };
  CtaResult res{std::vector<double>(size_t(heads) * 512), std::vector<double>(heads)};
  for (int wg = 0; wg * per_wg < heads; ++wg) {
    const int row0 = wg * per_wg;
    // Per thread (warp, lane): o[8][per_wg / 2], m_run and l_run [nb][2].
    std::vector<float> o(4 * 32 * 8 * (per_wg / 2), 0.0f);
    std::vector<float> m_run(4 * 32 * nb * 2, -INFINITY), l_run(4 * 32 * nb * 2, 0.0f);
    auto at = [&](int warp, int lane) { return warp * 32 + lane; };
    for (int j = 0; j < tiles; ++j) {
      const int valid = std::min(64, end - start - 64 * j);
      const std::vector<uint16_t> tile =  // rows past the end: zeros
          lay_out(
              std::vector<uint16_t>(rows.begin() + ptrdiff_t(start + 64 * j) * kDim, rows.end()),
              64, valid, 0);
      // 1. S^T by fragment, through the descriptors' reads.
      std::vector<float> s(4 * 32 * per_wg / 2);
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane)
          for (int v = 0; v < per_wg / 2; ++v) {
            const int m = acc_row(warp, lane, v), n = acc_col(lane, v);
            double acc = 0;
            for (int kb = 0; kb < 9; ++kb)
              for (int kk = 0; kk < 4; ++kk)
                for (int k = 0; k < 16; ++k)
                  acc += val(tile[k_major(qk_a_offset(kb, kk), m, k, kSbo) / 2]) *
                         val(sq[k_major(qk_b_offset(kb, kk, heads, row0), n, k, kSbo) / 2]);
            float x = float(acc);
            const bool in = m < valid;
            s[at(warp, lane) * (per_wg / 2) + v] = in ? x * scale_log2 : -INFINITY;
          }
      // 2. Each warp's column maxima (its 8 lanes of one t, two rows each), then the 4 warps'.
      std::vector<float> red(4 * per_wg, -INFINITY);
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane)
          for (int v = 0; v < per_wg / 2; ++v) {
            float& r = red[warp * per_wg + acc_col(lane, v)];
            r = std::max(r, s[at(warp, lane) * (per_wg / 2) + v]);
          }
      std::vector<uint16_t> p(size_t(per_wg) * 64, 0xFFFF);
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane) {
          const int th = at(warp, lane);
          std::vector<float> corr(nb * 2);
          std::vector<uint16_t> pk(per_wg / 2);
          for (int i = 0; i < nb; ++i)
            for (int c = 0; c < 2; ++c) {
              const int col = 8 * i + 2 * (lane % 4) + c;
              float m_new = m_run[th * nb * 2 + 2 * i + c];
              for (int w2 = 0; w2 < 4; ++w2) m_new = std::max(m_new, red[w2 * per_wg + col]);
              corr[2 * i + c] = std::exp2(m_run[th * nb * 2 + 2 * i + c] - m_new);
              m_run[th * nb * 2 + 2 * i + c] = m_new;
              const float lo = std::exp2(s[th * (per_wg / 2) + 4 * i + c] - m_new);
              const float hi = std::exp2(s[th * (per_wg / 2) + 4 * i + 2 + c] - m_new);
              float& l = l_run[th * nb * 2 + 2 * i + c];
              l = l * corr[2 * i + c] + lo + hi;
              pk[4 * i + c] = ref::float_to_bf16(lo);
              pk[4 * i + 2 + c] = ref::float_to_bf16(hi);
            }
          // stmatrix.x4.trans of this lane's words (the model of the layout test above).
          for (int x4 = 0; x4 < per_wg / 16; ++x4)
            for (int q4 = 0; q4 < 4; ++q4)
              for (int e = 0; e < 2; ++e) {
                const int v = 4 * (2 * x4 + q4 / 2) + 2 * (q4 % 2) + e;
                const int fc = 2 * (lane % 4) + e;  // the row; lane / 4 the position in it
                const int byte = p_store_offset(x4, warp, 8 * q4 + fc) + 2 * (lane / 4);
                p[byte / 2] = pk[v];
              }
          for (int mb = 0; mb < 8; ++mb)
            for (int v = 0; v < per_wg / 2; ++v)
              o[(th * 8 + mb) * (per_wg / 2) + v] *= corr[2 * (v / 4) + v % 2];
        }
      // 3. O^T += V^T P^T through the MN-major A and the K-major B.
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane)
          for (int mb = 0; mb < 8; ++mb)
            for (int v = 0; v < per_wg / 2; ++v) {
              const int m = acc_row(warp, lane, v), n = acc_col(lane, v);
              double acc = 0;
              for (int kk = 0; kk < 4; ++kk)
                for (int k = 0; k < 16; ++k)
                  acc += val(tile[mn_major(pv_a_offset(mb, kk), m, k, kPvLbo, kSbo) / 2]) *
                         val(p[k_major(pv_b_offset(kk), n, k, kSbo) / 2]);
              o[(at(warp, lane) * 8 + mb) * (per_wg / 2) + v] += float(acc);
            }
    }
    // The sums: every (warp, g) of a column; then O / l and the log-sum-exp.
    for (int col = 0; col < per_wg; ++col) {
      double l = 0, m = 0;
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane)
          if (2 * (lane % 4) == col % 8 - col % 2) {
            const int idx = at(warp, lane) * nb * 2 + 2 * (col / 8) + col % 2;
            l += l_run[idx];
            m = m_run[idx];
          }
      res.lse[row0 + col] = m + std::log2(l);
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane)
          for (int mb = 0; mb < 8; ++mb)
            for (int v = 0; v < per_wg / 2; ++v)
              if (acc_col(lane, v) == col)
                res.out[size_t(row0 + col) * 512 + 64 * mb + acc_row(warp, lane, v)] =
                    o[(at(warp, lane) * 8 + mb) * (per_wg / 2) + v] / l;
    }
  }
  return res;
}

TEST(MlaWgEmulation, SplitsMergedMatchTheReference) {
  std::mt19937_64 rng(20);
  std::uniform_real_distribution<float> qd(-3.0f, 3.0f), kd(-1.0f, 1.0f);
  const double scale = 1.0 / std::sqrt(192.0);
  const float scale_log2 = float(scale * 1.4426950408889634);
  // 16, 32 and 64 heads (two warpgroups); one split, and chunks of 128 with a short last.
  for (int heads : {16, 32, 64})
    for (int len : {50, 300}) {
      std::vector<uint16_t> q(size_t(heads) * kDim), rows(size_t(len) * kDim);
      for (auto& x : q) x = ref::float_to_bf16(qd(rng));
      for (auto& x : rows) x = ref::float_to_bf16(kd(rng));
      std::vector<double> qd64(q.size()), rows64(rows.size());
      for (size_t i = 0; i < q.size(); ++i) qd64[i] = ref::bf16_to_float(q[i]);
      for (size_t i = 0; i < rows.size(); ++i) rows64[i] = ref::bf16_to_float(rows[i]);
      const auto expected =
          ref::mla_decode_sequence(qd64.data(), heads, rows64.data(), len, 512, 64, scale);
      for (int chunk : {len <= 64 ? 64 : 384, 128}) {
        std::vector<CtaResult> parts;
        for (int start = 0; start < len; start += chunk)
          parts.push_back(
              emulate_cta(q, heads, rows, start, std::min(len, start + chunk), scale_log2));
        double err = 0, norm = 0;
        for (int h = 0; h < heads; ++h) {
          double big = -std::numeric_limits<double>::infinity(), sum_w = 0;
          for (const CtaResult& r : parts) big = std::max(big, r.lse[h]);
          for (const CtaResult& r : parts) sum_w += std::exp2(r.lse[h] - big);
          for (int d = 0; d < 512; ++d) {
            double x = 0;
            for (const CtaResult& r : parts)
              x += std::exp2(r.lse[h] - big) * r.out[size_t(h) * 512 + d];
            x /= sum_w;
            const double e = expected[size_t(h) * 512 + d];
            err += (x - e) * (x - e);
            norm += e * e;
          }
        }
        EXPECT_LE(std::sqrt(err / norm), 5e-3) << heads << " heads, " << len << " tokens, chunk "
                                               << chunk << ": " << parts.size() << " splits";
      }
    }
}

}  // namespace
}  // namespace quadrant::kernels::mla_wg
