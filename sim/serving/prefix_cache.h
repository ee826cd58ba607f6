// BlockPrefixCache: one instance's prefix (KV) cache of whole prompt blocks keyed by
// their hashes (a Mooncake trace's hash_ids: equal prefixes give equal leading hashes),
// evicting the least recently used block when full. A prompt reuses the longest run of
// its leading blocks found here; the rest is computed and then cached.
//
//   BlockPrefixCache cache(/*capacity_blocks=*/1000);
//   size_t hit = cache.match(hashes);   // leading blocks already cached
//   cache.touch(hashes, hit);           // they were just used
//   ...  // after the prompt is computed:
//   cache.insert(hashes);               // every block of it, most recent last
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace quadrant {

class BlockPrefixCache {
 public:
  explicit BlockPrefixCache(int64_t capacity_blocks = 0) : capacity_(capacity_blocks) {}
  BlockPrefixCache(const BlockPrefixCache&) = delete;
  BlockPrefixCache& operator=(const BlockPrefixCache&) = delete;
  BlockPrefixCache(BlockPrefixCache&&) noexcept = default;
  BlockPrefixCache& operator=(BlockPrefixCache&&) noexcept = default;

  // Leading hashes of `hashes` present, in order (a prefix: the first miss ends it).
  size_t match(const std::vector<uint64_t>& hashes) const {
    size_t n = 0;
    while (n < hashes.size() && index_.count(hashes[n]) != 0) ++n;
    return n;
  }
  // Marks the first `n` hashes (all present) as just used.
  void touch(const std::vector<uint64_t>& hashes, size_t n) {
    for (size_t i = 0; i < n && i < hashes.size(); ++i) {
      const auto it = index_.find(hashes[i]);
      if (it != index_.end()) lru_.splice(lru_.end(), lru_, it->second);
    }
  }
  // Caches every block of a computed prompt, in order (the last most recent), evicting
  // the least recently used blocks beyond the capacity.
  void insert(const std::vector<uint64_t>& hashes) {
    if (capacity_ <= 0) return;
    for (uint64_t h : hashes) {
      const auto it = index_.find(h);
      if (it != index_.end()) {
        lru_.splice(lru_.end(), lru_, it->second);
        continue;
      }
      if (static_cast<int64_t>(lru_.size()) >= capacity_) {
        index_.erase(lru_.front());
        lru_.pop_front();
        ++evictions_;
      }
      lru_.push_back(h);
      index_.emplace(h, std::prev(lru_.end()));
    }
  }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return static_cast<int64_t>(lru_.size()); }
  int64_t evictions() const { return evictions_; }

 private:
  int64_t capacity_ = 0;
  int64_t evictions_ = 0;
  std::list<uint64_t> lru_;  // least recently used first
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> index_;
};

}  // namespace quadrant
