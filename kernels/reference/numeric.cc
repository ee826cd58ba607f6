#include "kernels/reference/numeric.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace quadrant::kernels::ref {

float bf16_to_float(uint16_t bits) {
  uint32_t word = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

uint16_t float_to_bf16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof(word));
  if (std::isnan(value)) return static_cast<uint16_t>((word >> 16) | 0x40);
  const uint32_t rounding = 0x7FFF + ((word >> 16) & 1);
  return static_cast<uint16_t>((word + rounding) >> 16);
}

double e4m3_to_double(uint8_t bits) {
  const int sign = bits >> 7;
  const int exponent = (bits >> 3) & 0xF;
  const int mantissa = bits & 0x7;
  if (exponent == 0xF && mantissa == 0x7) return std::nan("");
  double magnitude = exponent == 0 ? std::ldexp(mantissa / 8.0, -6)
                                   : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return sign ? -magnitude : magnitude;
}

uint8_t double_to_e4m3(double value) {
  if (std::isnan(value)) return 0x7F;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const double magnitude = std::fabs(value);
  if (magnitude >= kE4m3Max) return sign | 0x7E;
  // The 127 finite non-negative codes are increasing in their bit pattern, so the
  // nearest one is found by bisection; ties go to the even code (mantissa bit 0 clear).
  int lo = 0, hi = 0x7E;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (e4m3_to_double(static_cast<uint8_t>(mid)) <= magnitude)
      lo = mid;
    else
      hi = mid;
  }
  const double below = e4m3_to_double(static_cast<uint8_t>(lo));
  const double above = e4m3_to_double(static_cast<uint8_t>(hi));
  int code;
  if (magnitude - below < above - magnitude)
    code = lo;
  else if (magnitude - below > above - magnitude)
    code = hi;
  else
    code = (lo % 2 == 0) ? lo : hi;
  if (magnitude == below) code = lo;
  return sign | static_cast<uint8_t>(code);
}

void pack_int4(const int8_t* values, size_t count, uint8_t* packed) {
  if (count % 2 != 0) throw std::invalid_argument("pack_int4: count must be even");
  for (size_t i = 0; i < count; i += 2) {
    for (size_t j = 0; j < 2; ++j) {
      if (values[i + j] < -8 || values[i + j] > 7)
        throw std::invalid_argument("pack_int4: value outside [-8, 7]");
    }
    const uint8_t lo = static_cast<uint8_t>(values[i] + 8);
    const uint8_t hi = static_cast<uint8_t>(values[i + 1] + 8);
    packed[i / 2] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

int8_t unpack_int4(const uint8_t* packed, size_t index) {
  const uint8_t byte = packed[index / 2];
  const int nibble = (index % 2 == 0) ? (byte & 0xF) : (byte >> 4);
  return static_cast<int8_t>(nibble - 8);
}

}  // namespace quadrant::kernels::ref
