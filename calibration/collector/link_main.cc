// quadrant-links: GPU-to-GPU copy time against message size, for the link model of KV
// transfers (calibration/link_model.h). Two paths between GPU 0 and GPU 1:
//   nvlink_peer  cudaMemcpyPeerAsync with peer access enabled (NVLink on SXM nodes)
//   host_staged  device -> pinned host -> device, a stand-in for a NIC path
// Each size: warm-up, then `--repetitions` copies timed with CUDA events, median kept.
//   quadrant-links --out $OUT/links.json [--repetitions 20]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "calibration/json_path.h"

namespace {

#define CUDA_CHECK(call)                                                        \
  do {                                                                          \
    cudaError_t e_ = (call);                                                    \
    if (e_ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   cudaGetErrorString(e_));                                     \
      std::exit(2);                                                             \
    }                                                                           \
  } while (0)

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--out")
      out = argv[i + 1];
    else if (a == "--repetitions")
      reps = std::atoi(argv[i + 1]);
  }
  if (out.empty()) {
    std::fprintf(stderr, "usage: quadrant-links --out FILE [--repetitions N]\n");
    return 1;
  }
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  if (count < 2) {
    std::fprintf(stderr, "quadrant-links: needs two GPUs, found %d\n", count);
    return 1;
  }
  const size_t max_bytes = size_t{1} << 30;
  void *src = nullptr, *dst = nullptr, *host = nullptr;
  CUDA_CHECK(cudaSetDevice(0));
  CUDA_CHECK(cudaMalloc(&src, max_bytes));
  CUDA_CHECK(cudaMemset(src, 1, max_bytes));
  int can = 0;
  CUDA_CHECK(cudaDeviceCanAccessPeer(&can, 0, 1));
  if (can) CUDA_CHECK(cudaDeviceEnablePeerAccess(1, 0));
  CUDA_CHECK(cudaMallocHost(&host, max_bytes));
  CUDA_CHECK(cudaSetDevice(1));
  CUDA_CHECK(cudaMalloc(&dst, max_bytes));
  if (can) CUDA_CHECK(cudaDeviceEnablePeerAccess(0, 0));
  CUDA_CHECK(cudaSetDevice(0));
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreate(&s));
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  cudaDeviceProp p0{};
  CUDA_CHECK(cudaGetDeviceProperties(&p0, 0));

  quadrant::calibration::Json doc = {{"schema_version", 1},
                                     {"kind", "quadrant-link-profile"},
                                     {"device", p0.name},
                                     {"peer_access", can != 0}};
  quadrant::calibration::Json paths = quadrant::calibration::Json::array();
  for (const std::string path : {"nvlink_peer", "host_staged"}) {
    quadrant::calibration::Json points = quadrant::calibration::Json::array();
    for (size_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
      auto copy = [&] {
        if (path == "nvlink_peer") {
          CUDA_CHECK(cudaMemcpyPeerAsync(dst, 1, src, 0, bytes, s));
        } else {
          CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, s));
          CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, s));
        }
      };
      for (int w = 0; w < 3; ++w) copy();
      std::vector<double> t;
      for (int r = 0; r < reps; ++r) {
        CUDA_CHECK(cudaEventRecord(a, s));
        copy();
        CUDA_CHECK(cudaEventRecord(b, s));
        CUDA_CHECK(cudaEventSynchronize(b));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms * 1e6);
      }
      const double m = median(t);
      std::printf("%-12s %12zu B  %10.2f us  %8.1f GB/s\n", path.c_str(), bytes, m / 1e3,
                  bytes / m);
      points.push_back({{"bytes", bytes},
                        {"median_ns", m},
                        {"min_ns", *std::min_element(t.begin(), t.end())},
                        {"count", reps}});
    }
    paths.push_back({{"path", path}, {"points", points}});
  }
  doc["paths"] = paths;
  quadrant::calibration::save_text(out, doc.dump(1));
  return 0;
}
