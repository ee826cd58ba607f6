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
  bfs_trees_.resize(static_cast<size_t>(num_gpus_));
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
  // Fewest hops by breadth-first search on the Boost graph, once per source: its tree
  // of predecessors gives the paths to every destination.
  std::vector<size_t>& pred = bfs_trees_[static_cast<size_t>(src)];
  if (pred.empty()) {
    pred.resize(adjacency_.size());
    for (size_t i = 0; i < pred.size(); ++i) pred[i] = i;
    boost::breadth_first_search(graph_->g, static_cast<size_t>(src),
                                boost::visitor(boost::make_bfs_visitor(boost::record_predecessors(
                                    pred.data(), boost::on_tree_edge()))));
  }
  std::vector<int> channels;
  for (size_t v = static_cast<size_t>(dst); v != static_cast<size_t>(src);) {
    const size_t u = pred[v];
    QUADRANT_CHECK_MSG(u != v, "topology: no path between GPUs");
    // The edge u-v (there is one edge per vertex pair), looked up from the end with
    // fewer links (the switch has one per GPU).
    int edge = -1;
    const bool from_v = adjacency_[v].size() < adjacency_[u].size();
    for (const auto& [n, e] : adjacency_[from_v ? v : u])
      if (n == static_cast<int>(from_v ? u : v)) edge = e;
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

namespace {

// The attention pool holds GPUs from 0, the FFN pool starts at the next whole node. Each attention
// GPU sends one message to every FFN GPU, or (one_per_node) one to each FFN node, to the GPU on its
// own rail where the node has it; the exchange is bound by the channel that carries the most.
MnExchange exchange_on_topology(const ClusterSpec& cluster, int attention_gpus, int ffn_gpus,
                                bool to_ffn, bool one_per_node) {
  QUADRANT_CHECK(attention_gpus >= 1 && ffn_gpus >= 1);
  const int per_node = std::max(1, cluster.gpus_per_node);
  const int ffn_first = (attention_gpus + per_node - 1) / per_node * per_node;
  const int ffn_end = ffn_first + ffn_gpus;
  Topology t(cluster, ffn_end);
  std::vector<int> messages(static_cast<size_t>(t.num_channels()), 0);
  MnExchange out;
  const auto send = [&](int a, int f) {
    const std::vector<int>& path = to_ffn ? t.path(a, f) : t.path(f, a);
    for (int c : path) ++messages[static_cast<size_t>(c)];
    out.latency = max(out.latency, t.path_latency(path));
  };
  for (int a = 0; a < attention_gpus; ++a) {
    if (!one_per_node) {
      for (int f = ffn_first; f < ffn_end; ++f) send(a, f);
      continue;
    }
    for (int node = ffn_first; node < ffn_end; node += per_node) {
      const int in_node = std::min(per_node, ffn_end - node);
      send(a, node + (a % per_node) % in_node);
    }
  }
  for (int c = 0; c < t.num_channels(); ++c) {
    const double s = messages[static_cast<size_t>(c)] / t.channel(c).bandwidth.value();
    if (s > out.seconds_per_message_byte) {
      out.seconds_per_message_byte = s;
      out.messages_on_busiest = messages[static_cast<size_t>(c)];
    }
  }
  return out;
}

}  // namespace

MnExchange mn_exchange(const ClusterSpec& cluster, int attention_gpus, int ffn_gpus, bool to_ffn) {
  return exchange_on_topology(cluster, attention_gpus, ffn_gpus, to_ffn, false);
}

MnExchange mn_node_exchange(const ClusterSpec& cluster, int attention_gpus, int ffn_gpus,
                            bool to_ffn) {
  return exchange_on_topology(cluster, attention_gpus, ffn_gpus, to_ffn, true);
}

FlowNetwork::FlowNetwork(Topology& topology)
    : topology_(topology),
      on_channel_(static_cast<size_t>(topology.num_channels())),
      overflow_(static_cast<size_t>(topology.num_channels())),
      route_rows_(static_cast<size_t>(topology.num_gpus())) {}

void FlowNetwork::add_to_channel(int c, uint32_t flow) {
  ChannelFlows& ch = on_channel_[static_cast<size_t>(c)];
  if (ch.count < kLocal) {
    ch.local[ch.count] = flow;
  } else {
    overflow_[static_cast<size_t>(c)].push_back(flow);
  }
  ++ch.count;
}

void FlowNetwork::remove_from_channel(int c, uint32_t flow) {
  ChannelFlows& ch = on_channel_[static_cast<size_t>(c)];
  std::vector<uint32_t>& more = overflow_[static_cast<size_t>(c)];
  uint32_t i = 0;
  while (i < ch.count && flow_on(c, i) != flow) ++i;
  QUADRANT_CHECK(i < ch.count);
  const uint32_t last = flow_on(c, ch.count - 1);  // moves into the hole
  if (i < kLocal) {
    ch.local[i] = last;
  } else {
    more[i - kLocal] = last;
  }
  if (ch.count > kLocal) more.pop_back();
  --ch.count;
}

void FlowNetwork::rerate(SimTime now, uint32_t id) {
  Flow& f = flows_[id];
  const double elapsed = (now - f.updated).to_seconds();
  f.remaining = std::max(0.0, f.remaining - f.rate * elapsed);
  f.updated = now;
  // A path of zero channels (same GPU): a copy in its memory (set_local_bandwidth).
  double share = f.num_channels == 0 && local_bandwidth_ > 0 ? local_bandwidth_ : 1e18;
  for (uint32_t i = 0; i < f.num_channels; ++i) {
    const int c = route_channels_[f.channels + i];
    share =
        std::min(share, topology_.channel(c).bandwidth.value() / static_cast<double>(flows_on(c)));
  }
  f.rate = share;
}

void FlowNetwork::rerate_touched(SimTime now, std::vector<uint32_t>& changed) {
  changed.clear();
  for (uint32_t f : touched_) {
    rerate(now, f);
    changed.push_back(flows_[f].transfer);
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
}

const FlowNetwork::Route& FlowNetwork::route(GpuGroup src, GpuGroup dst) {
  QUADRANT_CHECK(src.first >= 0 && src.first < topology_.num_gpus() && dst.first >= 0 &&
                 dst.first < topology_.num_gpus() && src.count >= 1 && dst.count >= 1);
  std::vector<int32_t>& row = route_rows_[static_cast<size_t>(src.first)];
  const int32_t known = row.empty() ? -1 : row[static_cast<size_t>(dst.first)];
  if (known >= 0) {
    const Route& r = route_list_[static_cast<size_t>(known)];
    if (r.src_count == src.count && r.dst_count == dst.count) return r;
  }
  const RouteKey key{src.first, src.count, dst.first, dst.count};
  if (known >= 0)
    if (auto it = routes_.find(key); it != routes_.end()) return it->second;
  Route r;
  r.src_count = src.count;
  r.dst_count = dst.count;
  r.first = static_cast<uint32_t>(route_shards_.size());
  // Shards: the overlaps of the source slices [s/S, (s+1)/S) and the destination slices
  // [t/D, (t+1)/D), walked in units of 1/(S*D) so that the bounds are exact integers.
  const int64_t S = src.count, D = dst.count;
  int64_t s = 0, d = 0, at = 0;
  while (s < S && d < D) {
    const int64_t end = std::min((s + 1) * D, (d + 1) * S);
    const std::vector<int>& path =
        topology_.path(src.first + static_cast<int>(s), dst.first + static_cast<int>(d));
    Shard sh;
    sh.channels = static_cast<uint32_t>(route_channels_.size());
    // A relay vertex (a NIC: two links, not a GPU) passes every flow from its in-channel
    // to its out-channel: both carry the same flows, so the faster one never sets a
    // share and is left out (half the channels of a cross-node path, same rates).
    for (size_t i = 0; i < path.size(); ++i) {
      const int c = path[i];
      if (i + 1 < path.size()) {
        const int v = topology_.channel_head(c);
        const bool relay =
            topology_.kind(v) != Topology::VertexKind::kGpu && topology_.degree(v) == 2;
        if (relay && topology_.channel(c).bandwidth.value() >=
                         topology_.channel(path[i + 1]).bandwidth.value())
          continue;
      }
      if (i > 0) {
        const int v = topology_.channel_head(path[i - 1]);
        const bool relay =
            topology_.kind(v) != Topology::VertexKind::kGpu && topology_.degree(v) == 2;
        if (relay && topology_.channel(c).bandwidth.value() >
                         topology_.channel(path[i - 1]).bandwidth.value())
          continue;
      }
      route_channels_.push_back(c);
    }
    sh.num_channels = static_cast<uint32_t>(route_channels_.size()) - sh.channels;
    sh.latency = topology_.path_latency(path);
    sh.fraction = static_cast<double>(end - at) / static_cast<double>(S * D);
    route_shards_.push_back(sh);
    at = end;
    if (end == (s + 1) * D) ++s;
    if (end == (d + 1) * S) ++d;
  }
  r.count = static_cast<uint32_t>(route_shards_.size()) - r.first;
  if (known >= 0) return routes_.emplace(key, r).first->second;
  if (row.empty()) row.assign(static_cast<size_t>(topology_.num_gpus()), -1);
  row[static_cast<size_t>(dst.first)] = static_cast<int32_t>(route_list_.size());
  route_list_.push_back(r);
  return route_list_.back();
}

uint32_t FlowNetwork::start(SimTime now, GpuGroup src, GpuGroup dst, Bytes bytes,
                            std::vector<uint32_t>& changed) {
  const Route& r = route(src, dst);
  uint32_t id;
  if (!free_transfers_.empty()) {
    id = free_transfers_.back();
    free_transfers_.pop_back();
  } else {
    id = static_cast<uint32_t>(transfers_.size());
    transfers_.emplace_back();
  }
  Transfer& t = transfers_[id];
  t.flows.clear();
  ++active_;
  for (uint32_t i = r.first; i < r.first + r.count; ++i) {
    const Shard& sh = route_shards_[i];
    uint32_t fid;
    if (!free_flows_.empty()) {
      fid = free_flows_.back();
      free_flows_.pop_back();
    } else {
      fid = static_cast<uint32_t>(flows_.size());
      flows_.emplace_back();
    }
    Flow& f = flows_[fid];
    f.channels = sh.channels;
    f.num_channels = sh.num_channels;
    f.remaining = bytes.value() * sh.fraction;
    f.rate = 0;
    f.updated = now;
    f.latency = sh.latency;
    f.transfer = id;
    f.live = true;
    t.flows.push_back(fid);
    for (uint32_t k = 0; k < f.num_channels; ++k)
      add_to_channel(route_channels_[f.channels + k], fid);
  }
  // Everyone sharing a channel with a new shard may slow down.
  ++stamp_;
  touched_.clear();
  for (uint32_t fid : t.flows) {
    const Flow& f = flows_[fid];
    if (f.num_channels == 0 && local_bandwidth_ > 0) touch(fid);  // a copy in one GPU: rated
    for (uint32_t k = 0; k < f.num_channels; ++k) {
      const int c = route_channels_[f.channels + k];
      for (uint32_t i = 0; i < flows_on(c); ++i) touch(flow_on(c, i));
    }
  }
  rerate_touched(now, changed);
  return id;
}

SimTime FlowNetwork::completion(uint32_t id) const {
  const Flow& f = flows_[id];
  if (f.remaining <= 0 || (f.num_channels == 0 && local_bandwidth_ <= 0))
    return f.updated + f.latency;
  return f.updated + Duration::nanos(static_cast<int64_t>(std::ceil(f.remaining / f.rate * 1e9))) +
         f.latency;
}

SimTime FlowNetwork::next_landing(uint32_t transfer) const {
  const Transfer& t = transfers_[transfer];
  QUADRANT_CHECK(!t.flows.empty());
  SimTime first = completion(t.flows.front());
  for (uint32_t f : t.flows) first = std::min(first, completion(f));
  return first;
}

bool FlowNetwork::land(SimTime now, uint32_t transfer, std::vector<uint32_t>& changed) {
  Transfer& t = transfers_[transfer];
  ++stamp_;
  touched_.clear();
  size_t kept = 0;
  for (uint32_t id : t.flows) {
    Flow& f = flows_[id];
    QUADRANT_CHECK(f.live);
    if (completion(id) > now) {
      t.flows[kept++] = id;
      continue;
    }
    f.live = false;
    free_flows_.push_back(id);
    for (uint32_t k = 0; k < f.num_channels; ++k) {
      const int c = route_channels_[f.channels + k];
      remove_from_channel(c, id);
      for (uint32_t i = 0; i < flows_on(c); ++i) touch(flow_on(c, i));
    }
  }
  t.flows.resize(kept);
  // Shards that landed at this instant may have been listed before they left.
  touched_.erase(std::remove_if(touched_.begin(), touched_.end(),
                                [&](uint32_t id) { return !flows_[id].live; }),
                 touched_.end());
  rerate_touched(now, changed);
  const bool done = t.flows.empty();
  if (done) {
    --active_;
    free_transfers_.push_back(transfer);
    changed.erase(std::remove(changed.begin(), changed.end(), transfer), changed.end());
  } else if (!std::binary_search(changed.begin(), changed.end(), transfer)) {
    changed.insert(std::lower_bound(changed.begin(), changed.end(), transfer), transfer);
  }
  return done;
}

BytesPerSec FlowNetwork::rate(uint32_t transfer) const {
  double r = 0;
  for (uint32_t f : transfers_[transfer].flows) r += flows_[f].rate;
  return BytesPerSec(r);
}

}  // namespace quadrant
