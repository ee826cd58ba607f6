// A stand-alone KV block pool for the executor's checks and step benchmark (the serving
// runs take their blocks from the scheduler): blocks handed out in a shuffled order, as
// an allocator that has run a while does, so that every sequence's blocks are scattered.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace quadrant::engine::gpu {

class BlockPool {
 public:
  BlockPool(int32_t blocks, int32_t block_tokens, uint64_t seed) : block_tokens_(block_tokens) {
    free_.resize(size_t(blocks));
    std::iota(free_.begin(), free_.end(), 0);
    std::shuffle(free_.begin(), free_.end(), std::mt19937_64(seed));
  }
  // Blocks for `tokens` tokens; throws when the pool runs out.
  std::vector<int32_t> take(int64_t tokens) {
    const size_t n = size_t((tokens + block_tokens_ - 1) / block_tokens_);
    if (n > free_.size())
      throw std::runtime_error("block pool: " + std::to_string(n) + " blocks wanted, " +
                               std::to_string(free_.size()) + " free");
    std::vector<int32_t> out(free_.end() - std::ptrdiff_t(n), free_.end());
    free_.resize(free_.size() - n);
    return out;
  }
  // Extends a sequence's blocks to cover `tokens` tokens.
  void grow(std::vector<int32_t>& blocks, int64_t tokens) {
    const int64_t have = int64_t(blocks.size()) * block_tokens_;
    if (tokens <= have) return;
    const auto more = take(tokens - have);
    blocks.insert(blocks.end(), more.begin(), more.end());
  }

 private:
  int32_t block_tokens_;
  std::vector<int32_t> free_;
};

}  // namespace quadrant::engine::gpu
