// Host helpers of the QuadrantOp implementations (shapes are read by kernels/plan/shape.h):
// decoding device buffers to float64, and
// choosing which output rows a check recomputes on the CPU.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/include/quadrant_op.h"
#include "kernels/plan/shape.h"
#include "kernels/reference/numeric.h"

namespace quadrant::kernels {

inline std::vector<double> bf16_to_double(const std::vector<uint16_t>& raw) {
  std::vector<double> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out[i] = ref::bf16_to_float(raw[i]);
  return out;
}
inline std::vector<double> e4m3_to_double(const std::vector<uint8_t>& raw) {
  static const std::vector<double> table = [] {
    std::vector<double> t(256);
    for (int i = 0; i < 256; ++i) t[i] = ref::e4m3_to_double(static_cast<uint8_t>(i));
    return t;
  }();
  std::vector<double> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out[i] = table[raw[i]];
  return out;
}
// Raw bytes of a typed device download, reinterpreted (bf16 -> uint16_t, fp8 -> uint8_t).
template <class Raw, class T>
std::vector<Raw> as_raw(const std::vector<T>& v) {
  static_assert(sizeof(T) % sizeof(Raw) == 0);
  std::vector<Raw> out(v.size() * (sizeof(T) / sizeof(Raw)));
  if (!v.empty()) std::memcpy(out.data(), v.data(), v.size() * sizeof(T));
  return out;
}

// At most `limit` indices spread evenly over [0, count), always the first and the last:
// large shapes are checked on a sample of rows, small ones entirely.
inline std::vector<int64_t> sample_rows(int64_t count, int64_t limit) {
  std::vector<int64_t> rows;
  if (count <= limit) {
    for (int64_t i = 0; i < count; ++i) rows.push_back(i);
    return rows;
  }
  for (int64_t i = 0; i < limit; ++i) rows.push_back(i * (count - 1) / (limit - 1));
  return rows;
}

inline double tolerance_for(const std::string& format) {
  return format == "bf16" ? 1e-2 : 5e-2;
}

// Factories, one per quadrant (each file documents the shape names it reads).
std::unique_ptr<QuadrantOp> make_decode_attention(const std::string& format,
                                                  const ShapeParams& shape);
std::unique_ptr<QuadrantOp> make_prefill_attention(const std::string& format,
                                                   const ShapeParams& shape);
std::unique_ptr<QuadrantOp> make_moe_ffn(const std::string& quadrant, const std::string& format,
                                         const ShapeParams& shape);
std::unique_ptr<QuadrantOp> make_dense_gemm(const std::string& format, const ShapeParams& shape);

}  // namespace quadrant::kernels
