#include "sim/topology/topology.h"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/visitors.hpp>
#include <cmath>

#include "sim/core/error.h"

namespace quadrant {
namespace {

// A GPU reaches its NIC over PCIe; not the bottleneck of a KV transfer in the clusters
// we model (Gen5 x16 is ~64 GB/s against a 50 GB/s NIC), so it is not rate-limiting.
constexpr double kPcieBytesPerSec = 64e9;

using BoostGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, boost::no_property,
                          boost::property<boost::edge_index_t, int>>;

}  // namespace

struct Topology::Graph {
  BoostGraph g;
};

Topology::Topology(const ClusterSpec& cluster, int num_gpus)
    : num_gpus_(num_gpus), gpus_per_node_(std::max(1, cluster.gpus_per_node)) {
  QUADRANT_CHECK(num_gpus > 0);
  num_nodes_ = (num_gpus + gpus_per_node_ - 1) / gpus_per_node_;
  const int vertices = 2 * num_gpus_ + num_nodes_ + 1;
  const int switch_vertex = vertices - 1;
  adjacency_.resize(static_cast<size_t>(vertices));
  path_rows_.resize(static_cast<size_t>(num_gpus_));
  auto add_edge = [&](int a, int b, BytesPerSec bw, Duration latency) {
    const int e = static_cast<int>(edge_ends_.size());
    edge_ends_.push_back({a, b});
    channels_.push_back({bw, latency});  // a -> b
    channels_.push_back({bw, latency});  // b -> a
    adjacency_[static_cast<size_t>(a)].push_back({b, e});
    adjacency_[static_cast<size_t>(b)].push_back({a, e});
  };
  for (int gpu = 0; gpu < num_gpus_; ++gpu) {
    add_edge(gpu, 2 * num_gpus_ + node_of(gpu), cluster.intra_node.bandwidth,
             cluster.intra_node.latency);
    add_edge(gpu, num_gpus_ + gpu, BytesPerSec(kPcieBytesPerSec), Duration::zero());
    add_edge(num_gpus_ + gpu, switch_vertex, cluster.inter_node.bandwidth,
             cluster.inter_node.latency);
  }
  graph_ = std::make_unique<Graph>();
  graph_->g = BoostGraph(adjacency_.size());
  for (size_t e = 0; e < edge_ends_.size(); ++e)
    boost::add_edge(static_cast<size_t>(edge_ends_[e].first),
                    static_cast<size_t>(edge_ends_[e].second), static_cast<int>(e), graph_->g);
}

Topology::~Topology() = default;

Topology::VertexKind Topology::kind(int v) const {
  if (v < num_gpus_) return VertexKind::kGpu;
  if (v < 2 * num_gpus_) return VertexKind::kNic;
  if (v < 2 * num_gpus_ + num_nodes_) return VertexKind::kNvlinkDomain;
  return VertexKind::kSwitch;
}

const std::vector<int>& Topology::search_path(int src, int dst) {
  QUADRANT_CHECK(src >= 0 && src < num_gpus_ && dst >= 0 && dst < num_gpus_);
  // Fewest hops by breadth-first search on the Boost graph.
  const BoostGraph& g = graph_->g;
  std::vector<size_t> pred(adjacency_.size());
  for (size_t i = 0; i < pred.size(); ++i) pred[i] = i;
  boost::breadth_first_search(g, static_cast<size_t>(src),
                              boost::visitor(boost::make_bfs_visitor(
                                  boost::record_predecessors(pred.data(), boost::on_tree_edge()))));
  std::vector<int> channels;
  for (size_t v = static_cast<size_t>(dst); v != static_cast<size_t>(src);) {
    const size_t u = pred[v];
    QUADRANT_CHECK_MSG(u != v, "topology: no path between GPUs");
    // The edge u-v (first match: there is one edge per vertex pair).
    int edge = -1;
    for (const auto& [n, e] : adjacency_[u])
      if (n == static_cast<int>(v)) edge = e;
    QUADRANT_CHECK(edge >= 0);
    const bool forward = edge_ends_[static_cast<size_t>(edge)].first == static_cast<int>(u);
    channels.push_back(2 * edge + (forward ? 0 : 1));
    v = u;
  }
  std::reverse(channels.begin(), channels.end());
  std::vector<int32_t>& row = path_rows_[static_cast<size_t>(src)];
  if (row.empty()) row.assign(static_cast<size_t>(num_gpus_), -1);
  row[static_cast<size_t>(dst)] = static_cast<int32_t>(paths_.size());
  paths_.push_back(std::move(channels));
  return paths_.back();
}

Duration Topology::path_latency(const std::vector<int>& p) const {
  Duration d = Duration::zero();
  for (int c : p) d += channel(c).latency;
  return d;
}

FlowNetwork::FlowNetwork(Topology& topology)
    : topology_(topology), on_channel_(static_cast<size_t>(topology.num_channels())) {}

void FlowNetwork::rerate(SimTime now, uint32_t id) {
  Flow& f = flows_[id];
  const double elapsed = (now - f.updated).to_seconds();
  f.remaining = std::max(0.0, f.remaining - f.rate * elapsed);
  f.updated = now;
  double share = 1e18;  // a path of zero channels (same GPU): instantaneous
  for (int c : *f.path)
    share = std::min(share, topology_.channel(c).bandwidth.value() /
                                static_cast<double>(on_channel_[static_cast<size_t>(c)].size()));
  f.rate = share * f.width;
}

uint32_t FlowNetwork::start(SimTime now, int src, int dst, int width, Bytes bytes,
                            std::vector<uint32_t>& changed) {
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<uint32_t>(flows_.size());
    flows_.emplace_back();
  }
  Flow& f = flows_[id];
  f.path = &topology_.path(src, dst);
  f.remaining = bytes.value();
  f.rate = 0;
  f.width = std::max(1, width);
  f.updated = now;
  f.latency = topology_.path_latency(*f.path);
  f.live = true;
  ++active_;
  for (int c : *f.path) on_channel_[static_cast<size_t>(c)].push_back(id);
  // Everyone sharing a channel with the new flow may slow down.
  changed.clear();
  for (int c : *flows_[id].path)
    for (uint32_t other : on_channel_[static_cast<size_t>(c)]) changed.push_back(other);
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  for (uint32_t other : changed) rerate(now, other);
  return id;
}

void FlowNetwork::finish(SimTime now, uint32_t id, std::vector<uint32_t>& changed) {
  Flow& f = flows_[id];
  QUADRANT_CHECK(f.live);
  changed.clear();
  for (int c : *f.path) {
    auto& list = on_channel_[static_cast<size_t>(c)];
    list.erase(std::find(list.begin(), list.end(), id));
    for (uint32_t other : list) changed.push_back(other);
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  for (uint32_t other : changed) rerate(now, other);
  f.live = false;
  --active_;
  free_.push_back(id);
}

SimTime FlowNetwork::completion(uint32_t id) const {
  const Flow& f = flows_[id];
  if (f.remaining <= 0 || f.path->empty()) return f.updated + f.latency;
  return f.updated + Duration::nanos(static_cast<int64_t>(std::ceil(f.remaining / f.rate * 1e9))) +
         f.latency;
}

}  // namespace quadrant
