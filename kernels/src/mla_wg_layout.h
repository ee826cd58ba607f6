// Where MLA decode's wgmma form (mla_decode.cu, mla_decode_wgmma_kernel) puts its tiles in
// shared memory and where its wgmma descriptors start: one copy for the kernel and for the host
// test that reads them back through the PTX ISA's 128-byte-swizzled layouts
// (tests/kernels/mla_wg_layout_test.cc), so the index arithmetic is checked without a GPU.
//
// A tile of `rows` rows of 576 BF16 (the latent rows, or the queries) is nine boxes of 64
// columns; a box is `rows` rows of 128 bytes, and the 16-byte chunk c of row r sits at chunk
// c ^ (r & 7) (the 128-byte swizzle, tile start 1024-byte aligned). P^T is one such box: heads
// as rows of 64 tokens.
#pragma once

#if !defined(QK_HOST_DEVICE)
#if defined(__CUDACC__)
#define QK_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define QK_HOST_DEVICE inline
#endif
#endif

namespace quadrant::kernels::mla_wg {

inline constexpr int kTileRows = 64;               // tokens of a latent tile: the wgmma M
inline constexpr int kBoxBytes = kTileRows * 128;  // one 64-column box of a latent tile
inline constexpr int kSbo = 1024;                  // 8 rows of 128 bytes: the descriptors' stride
inline constexpr int kPvLbo = kBoxBytes;           // V^T (MN-major): the step between dim boxes

// Byte offset of 16-byte chunk `sub` (0..7) of box `box` of row `row`, in a tile of `rows` rows.
QK_HOST_DEVICE constexpr int tile_offset(int box, int row, int sub, int rows) {
  return box * rows * 128 + row * 128 + ((sub ^ (row & 7)) << 4);
}

// Descriptor start offsets, k16 step kk. S^T = K Q^T: A = the latent tile (K-major, box kb),
// B = the queries (K-major, `heads` rows a box; a warpgroup's own from row `row0`, a multiple
// of 8). O^T += V^T P^T: A = the latent tile read MN-major (dims box mb, tokens 16 kk ..),
// B = P^T (K-major; a warpgroup's own box).
QK_HOST_DEVICE constexpr int qk_a_offset(int kb, int kk) {
  return kb * kBoxBytes + kk * 32;
}
QK_HOST_DEVICE constexpr int qk_b_offset(int kb, int kk, int heads, int row0 = 0) {
  return kb * heads * 128 + row0 * 128 + kk * 32;
}
QK_HOST_DEVICE constexpr int pv_a_offset(int mb, int kk) {
  return mb * kBoxBytes + kk * 16 * 128;
}
QK_HOST_DEVICE constexpr int pv_b_offset(int kk) {
  return kk * 32;
}

// stmatrix.x4.trans number x4 of warp `warp`: the P^T row whose address lane `lane` gives.
// Matrix q = lane / 8 holds n8 column block 2 x4 + q / 2 of the warp's S^T fragment, rows
// (tokens) 16 warp + 8 (q % 2) .. + 7; its transposed row i is head 8 (2 x4 + q / 2) + i.
QK_HOST_DEVICE constexpr int p_store_offset(int x4, int warp, int lane) {
  const int q = lane / 8, head = 8 * (2 * x4 + q / 2) + lane % 8;
  const int chunk = 2 * warp + q % 2;  // 8 tokens a chunk
  return head * 128 + ((chunk ^ (head & 7)) << 4);
}

}  // namespace quadrant::kernels::mla_wg
