// INT4 (offset-binary, kernels/reference/numeric.h order) to FP8 E4M3 by byte permutes: every
// value in [-8, 7] is exact in E4M3, so a 16-entry table does it. A PRMT picks four bytes of
// an 8-byte table by the four low-3-bit selectors of a 16-bit nibble string; two tables
// (values -8..-1 and 0..7), and a third PRMT in sign-replicate mode turns each nibble's bit 3
// (set for 0..7) into a byte mask that chooses between them. 11 instructions per 8 weights,
// where the FP16 route (0x6400 exponent, subtract, convert) takes about 20.
//
// Host and device: the host side emulates PRMT (PTX ISA, "prmt": in the default mode a
// selector nibble's bits 0-2 pick byte 0-7 of {b, a}, bit 3 replicates that byte's sign bit),
// so that tests without a GPU check the tables and the selectors against numeric.h.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define QK_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define QK_HOST_DEVICE inline
#endif

namespace quadrant::kernels {

QK_HOST_DEVICE uint32_t prmt(uint32_t a, uint32_t b, uint32_t selector) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(selector));
  return d;
#else
  const uint64_t bytes = uint64_t(a) | (uint64_t(b) << 32);
  uint32_t d = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t s = (selector >> (4 * i)) & 0xF;
    uint32_t byte = uint32_t(bytes >> (8 * (s & 7))) & 0xFF;
    if (s & 8) byte = (byte & 0x80) ? 0xFF : 0x00;
    d |= byte << (8 * i);
  }
  return d;
#endif
}

// E4M3 of -8..-5, -4..-1, 0..3 and 4..7, byte i of each word the table's entry i.
inline constexpr uint32_t kE4m3Minus8To5 = 0xCACCCED0u, kE4m3Minus4To1 = 0xB8C0C4C8u;
inline constexpr uint32_t kE4m3Zero3 = 0x44403800u, kE4m3Four7 = 0x4E4C4A48u;

// Eight INT4 (element i in nibble i) to eight E4M3 bytes in element order: .x holds elements
// 0-3, .y 4-7.
struct E4m3x8 {
  uint32_t x, y;
};
QK_HOST_DEVICE E4m3x8 int4x8_to_e4m3x8_prmt(uint32_t w) {
  const uint32_t index = w & 0x77777777u;  // each nibble's entry in its table
  const uint32_t up = w << 4;              // bit 3 of nibbles 0 and 2 as the sign of a byte
  E4m3x8 r{};
  // Nibbles 0-3: bit 3 of nibble 0 is the sign bit of byte 0 of `up` (selector 8 | 4), of
  // nibble 1 that of byte 0 of w (8 | 0), nibble 2 byte 1 of up (8 | 5), nibble 3 byte 1 of w.
  {
    const uint32_t neg = prmt(kE4m3Minus8To5, kE4m3Minus4To1, index);
    const uint32_t pos = prmt(kE4m3Zero3, kE4m3Four7, index);
    const uint32_t mask = prmt(w, up, 0x9D8Cu);
    r.x = (pos & mask) | (neg & ~mask);
  }
  {  // nibbles 4-7: the same two bytes higher
    const uint32_t neg = prmt(kE4m3Minus8To5, kE4m3Minus4To1, index >> 16);
    const uint32_t pos = prmt(kE4m3Zero3, kE4m3Four7, index >> 16);
    const uint32_t mask = prmt(w, up, 0xBFAEu);
    r.y = (pos & mask) | (neg & ~mask);
  }
  return r;
}

// One stage of the W4A8 wgmma GEMM's producer conversion (sm90_grouped_gemm.cu): 256 weight rows
// x 128 k, INT4 rows of 64 bytes as TMA left them (unswizzled) to E4M3 rows of 128 bytes in two
// 128-row halves of 16 KB, each where TMA's 128-byte swizzle would put them (16-byte chunk c of
// row r at chunk c ^ (r % 8), the halves 1024-byte aligned). Item i (0 .. 1023) is a row's 32 k:
// 16 INT4 bytes from `raw`, its first 16 E4M3 bytes to `dst0`, the next 16 to `dst1` (offsets
// from the INT4 buffer and from the E4M3 region).
inline constexpr int kInt4StageRows = 256, kInt4StageItems = kInt4StageRows * 4;
// The converting threads (producer warps 1-3): thread t takes items t, t + 96, ..., so that a
// warp's 32 items at a time are 8 whole rows.
inline constexpr int kInt4Converters = 96;
struct Int4StageItem {
  int raw, dst0, dst1;
};
QK_HOST_DEVICE Int4StageItem int4_stage_item(int i) {
  const int r = i / 4, j = i % 4, rr = r % 128;
  const int row = (r / 128) * 128 * 128 + rr * 128;
  return {r * 64 + j * 16, row + (((2 * j) ^ (rr & 7)) << 4),
          row + (((2 * j + 1) ^ (rr & 7)) << 4)};
}

// The W4A8 decode GEMM's form 11 (moe_ffn.cu): the INT4 weights as wgmma's A operand in
// registers. A weight tile is 128 rows of one expert (two m64 halves) x one 128-deep k block,
// 8 KB, stored in the order the consumer warpgroup reads it from shared memory: thread `tid`
// (0 .. 127) loads 16-byte chunk j (0 .. 3) at j * 2048 + tid * 16 (a quarter-warp's loads hit 8
// distinct 16-byte bank groups). Chunk j = 2 h + p holds half h's k32 steps 2 p and 2 p + 1,
// two words a step: word 0 the thread's A registers a0 (row g, k 4t .. 4t + 3) and a1 (row g + 8,
// the same k), word 1 a2 and a3 (k 16 + 4t ..), rows within warp w's 16 (the PTX ISA's wgmma A
// fragment for .e4m3: per warp the m16n8k32 A layout; g = lane / 4, t = lane % 4). Nibbles 0-3
// of a word are the first row's four k, 4-7 the second's: int4x8_to_e4m3x8_prmt's .x and .y.
inline constexpr int kW4WgTileRows = 128, kW4WgTileBytes = kW4WgTileRows * 64,
                     kW4WgTileWords = kW4WgTileBytes / 4;
// Word i of a tile (byte 4 i): nibble 0's row and k; nibbles 1-3 are k + 1 .. 3, 4-7 row + 8.
struct W4WgWord {
  int row, k;
};
QK_HOST_DEVICE W4WgWord w4wg_word(int i) {
  const int j = i / 512, tid = (i / 4) % 128, wi = i % 4;
  const int h = j / 2, ks = 2 * (j % 2) + wi / 2, q = wi % 2;
  const int warp = tid / 32, lane = tid % 32;
  return {h * 64 + warp * 16 + lane / 4, ks * 32 + q * 16 + 4 * (lane % 4)};
}
// The consumer's side: the word of chunk j's 16 bytes (4 words) that holds half h's k32 step ks,
// registers a0/a1 (q = 0) or a2/a3 (q = 1).
QK_HOST_DEVICE int w4wg_chunk(int h, int ks) {
  return 2 * h + ks / 2;
}
QK_HOST_DEVICE int w4wg_word_in_chunk(int ks, int q) {
  return 2 * (ks % 2) + q;
}
// The nibbles of a word. kRowsApart (form 11): nibbles 0-3 the first row's four k, 4-7 the
// second's, for the byte permutes. kInterleaved (form 12): the two rows alternate, nibble 2 j the
// first row's k + j and 2 j + 1 the second's, so that the low nibbles of the word's bytes are
// register a0 (a2) and the high ones a1 (a3): int4x8_to_e4m3x8_offset.
enum class W4WgNibbles { kRowsApart, kInterleaved };
QK_HOST_DEVICE int w4wg_nibble_row(W4WgNibbles order, int nib) {
  return order == W4WgNibbles::kRowsApart ? 8 * (nib / 4) : 8 * (nib % 2);
}
QK_HOST_DEVICE int w4wg_nibble_k(W4WgNibbles order, int nib) {
  return order == W4WgNibbles::kRowsApart ? nib % 4 : nib / 2;
}
// Word i of the tile whose first row is `row_base` (of the [rows][k / 2] offset-binary INT4
// matrix, row_bytes apart, element e of a row in byte e / 2, low nibble first) and first k k_base.
QK_HOST_DEVICE uint32_t w4wg_pack_word(const uint8_t* w, size_t row_bytes, size_t row_base,
                                       int k_base, int i,
                                       W4WgNibbles order = W4WgNibbles::kRowsApart) {
  const W4WgWord wd = w4wg_word(i);
  uint32_t v = 0;
  for (int nib = 0; nib < 8; ++nib) {
    const size_t r = row_base + size_t(wd.row + w4wg_nibble_row(order, nib));
    const int k = k_base + wd.k + w4wg_nibble_k(order, nib);
    v |= uint32_t((w[r * row_bytes + size_t(k / 2)] >> (4 * (k % 2))) & 0xF) << (4 * nib);
  }
  return v;
}

// Form 12's conversion: the stored nibble u = v + 8 (offset binary) as the E4M3 byte u, whose
// value is u x 2^-9 for every u in 0 .. 15 (0 .. 7 the subnormals m x 2^-9, 8 .. 15 the first
// normal binade (1 + m / 8) x 2^-6, the same step). So a mask and a shift per 8 weights (3
// instructions, where the table takes 11) give E4M3 operands of (v + 8) x 2^-9, and a block's
// sum of products over the activations x is 2^-9 (sum v x + 8 X), X = sum x: the GEMM takes
// kW4OffsetScale x (sum - X / kW4OffsetCorrDivisor), X of each activation row and 128-deep block
// written beside its scale (moe_ffn.cu, store_block).
inline constexpr float kW4OffsetScale = 512.0f, kW4OffsetCorrDivisor = 64.0f;  // 2^9, 2^9 / 8
QK_HOST_DEVICE E4m3x8 int4x8_to_e4m3x8_offset(uint32_t w) {
  return {w & 0x0F0F0F0Fu, (w >> 4) & 0x0F0F0F0Fu};
}

}  // namespace quadrant::kernels
