// The cluster as a graph (Boost.Graph): GPUs, one NVLink domain per node, a NIC per GPU
// and a non-blocking switch. KV transfers take the fewest-hop path between two GPUs
// (NVLink inside a node, NIC -> switch -> NIC across nodes) and share each directed
// link's bandwidth with the other transfers on it.
//
//   Topology t(cluster, 64);                 // 8 nodes of 8 GPUs
//   const std::vector<int>& p = t.path(0, 9);  // directed channel ids, cached
//   t.channel(p[0]).bandwidth;
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "sim/core/units.h"
#include "sim/hardware/hardware.h"

namespace quadrant {

class Topology {
 public:
  enum class VertexKind { kGpu, kNic, kNvlinkDomain, kSwitch };
  struct Channel {  // one direction of one link
    BytesPerSec bandwidth;
    Duration latency;
  };

  Topology(const ClusterSpec& cluster, int num_gpus);
  ~Topology();

  int num_gpus() const { return num_gpus_; }
  int num_nodes() const { return num_nodes_; }
  int node_of(int gpu) const { return gpu / gpus_per_node_; }
  VertexKind kind(int vertex) const;
  int num_channels() const { return static_cast<int>(channels_.size()); }
  const Channel& channel(int id) const { return channels_[static_cast<size_t>(id)]; }
  // Directed channels from src to dst GPU (empty when src == dst); cached per pair, so
  // that a path is searched once and then found in O(1) (a row of num_gpus ints per
  // source GPU that ever sends).
  const std::vector<int>& path(int src_gpu, int dst_gpu) {
    if (src_gpu >= 0 && src_gpu < num_gpus_ && dst_gpu >= 0 && dst_gpu < num_gpus_) {
      const std::vector<int32_t>& row = path_rows_[static_cast<size_t>(src_gpu)];
      const int32_t p = row.empty() ? -1 : row[static_cast<size_t>(dst_gpu)];
      if (p >= 0) return paths_[static_cast<size_t>(p)];
    }
    return search_path(src_gpu, dst_gpu);  // checks the range
  }
  Duration path_latency(const std::vector<int>& path) const;

 private:
  struct Graph;
  const std::vector<int>& search_path(int src_gpu, int dst_gpu);
  int num_gpus_ = 0, num_nodes_ = 0, gpus_per_node_ = 1;
  std::vector<Channel> channels_;
  // Undirected adjacency of the Boost graph: per vertex, (neighbour, edge index).
  std::vector<std::vector<std::pair<int, int>>> adjacency_;
  std::vector<std::pair<int, int>> edge_ends_;
  std::vector<std::vector<int32_t>> path_rows_;  // [src][dst]: index in paths_, -1 unknown
  std::deque<std::vector<int>> paths_;           // a deque: flows keep pointers to paths
  std::unique_ptr<Graph> graph_;
};

// Transfers in flight over a Topology, each with its share of bandwidth: a transfer
// of `width` parallel GPU pairs moves at width x the smallest equal share among the
// channels of its lead pair's path (bandwidth / transfers on the channel). Rates are
// recomputed when a transfer starts or ends on a shared channel; the caller reschedules
// the completion of every transfer listed in `changed`.
class FlowNetwork {
 public:
  explicit FlowNetwork(Topology& topology);

  uint32_t start(SimTime now, int src_gpu, int dst_gpu, int width, Bytes bytes,
                 std::vector<uint32_t>& changed);
  void finish(SimTime now, uint32_t flow, std::vector<uint32_t>& changed);
  // When the flow's last byte lands at its current rate (path latency included).
  SimTime completion(uint32_t flow) const;
  size_t active() const { return active_; }
  BytesPerSec rate(uint32_t flow) const { return BytesPerSec(flows_[flow].rate); }

 private:
  struct Flow {
    const std::vector<int>* path = nullptr;  // owned by the Topology's path cache
    double remaining = 0;                    // bytes
    double rate = 0;                         // bytes/s
    int width = 1;
    SimTime updated;
    Duration latency;
    bool live = false;
  };
  void rerate(SimTime now, uint32_t flow);
  Topology& topology_;
  std::vector<Flow> flows_;
  std::vector<uint32_t> free_;
  std::vector<std::vector<uint32_t>> on_channel_;
  size_t active_ = 0;
};

}  // namespace quadrant
