// Host-side (no CUDA) encodings of the number formats the kernels store: BF16, FP8 E4M3
// and packed INT4. The CPU references decode device buffers with these, so a test of
// them in CI guards every correctness check run on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quadrant::kernels::ref {

float bf16_to_float(uint16_t bits);
// Round to nearest even, as __float2bfloat16 does; NaN stays NaN.
uint16_t float_to_bf16(float value);

// OCP FP8 E4M3 (bias 7, no infinities, 0x7F/0xFF are NaN, largest finite 448).
double e4m3_to_double(uint8_t bits);
// Round to nearest even, saturating to +-448 (the kernels' satfinite conversion).
uint8_t double_to_e4m3(double value);
constexpr double kE4m3Max = 448.0;

// INT4 weights: values in [-8, 7] stored offset-binary (q + 8), two per byte, element
// 2j in the low nibble of byte j and 2j+1 in the high nibble. The device dequantiser
// (kernels/src/moe_ffn.cu) reads this order.
void pack_int4(const int8_t* values, size_t count, uint8_t* packed);  // count even
int8_t unpack_int4(const uint8_t* packed, size_t index);

}  // namespace quadrant::kernels::ref
