// A small pool of std::jthread over a shared work queue. Results land in their item's
// slot, so the output is in input order whatever the thread count or the interleaving:
// the planner's byte-identical results for any --threads rest on this.
//
//   std::vector<double> r = parallel_map<double>(items.size(), 4, [&](size_t i) {
//     return evaluate(items[i]);
//   });
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace quadrant::planner {

// Runs fn(0..count-1) on up to `threads` threads (the caller's thread is one of them) and
// returns the results in index order. The first exception thrown by any call is
// rethrown here after every thread has stopped; the remaining items are skipped.
template <typename T>
std::vector<T> parallel_map(size_t count, int threads, const std::function<T(size_t)>& fn,
                            const std::function<void(size_t)>& on_done = nullptr) {
  std::vector<T> results(count);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mutex;
  auto worker = [&] {
    for (;;) {
      if (failed.load()) return;
      const size_t i = next.fetch_add(1);
      if (i >= count) return;
      try {
        results[i] = fn(i);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) error = std::current_exception();
        failed.store(true);
        return;
      }
      if (on_done) {
        std::lock_guard lock(mutex);
        on_done(i);
      }
    }
  };
  const size_t extra = static_cast<size_t>(std::max(1, threads)) - 1;
  {
    std::vector<std::jthread> pool;
    for (size_t t = 0; t < std::min(extra, count); ++t) pool.emplace_back(worker);
    worker();
  }  // jthreads join here
  if (error) std::rethrow_exception(error);
  return results;
}

}  // namespace quadrant::planner
