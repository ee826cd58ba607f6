// Carves a caller's workspace into typed arrays, 256-byte aligned. The same sequence of
// take() calls on a null base sizes the workspace: one function lays it out for both.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quadrant::kernels {

class Workspace {
 public:
  explicit Workspace(void* base = nullptr) : base_(static_cast<uint8_t*>(base)) {}
  template <class T>
  T* take(size_t count) {
    const size_t at = offset_;
    offset_ += (count * sizeof(T) + 255) / 256 * 256;
    return base_ ? reinterpret_cast<T*>(base_ + at) : nullptr;
  }
  size_t bytes() const { return offset_; }

 private:
  uint8_t* base_;
  size_t offset_ = 0;
};

}  // namespace quadrant::kernels
