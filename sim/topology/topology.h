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
#include <unordered_map>
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
  // The vertex a channel leads to, and how many links a vertex has.
  int channel_head(int id) const {
    const auto& [a, b] = edge_ends_[static_cast<size_t>(id / 2)];
    return id % 2 == 0 ? b : a;
  }
  int degree(int vertex) const {
    return static_cast<int>(adjacency_[static_cast<size_t>(vertex)].size());
  }
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
  // The channel between a GPU's NIC and the switch: out of the node or into it (the
  // constructor adds, per GPU, the NVLink, PCIe and NIC-switch edges in that order).
  int nic_channel(int gpu, bool inbound) const { return 2 * (3 * gpu + 2) + (inbound ? 1 : 0); }

 private:
  struct Graph;
  const std::vector<int>& search_path(int src_gpu, int dst_gpu);
  int num_gpus_ = 0, num_nodes_ = 0, gpus_per_node_ = 1;
  std::vector<Channel> channels_;
  // Undirected adjacency of the Boost graph: per vertex, (neighbour, edge index).
  std::vector<std::vector<std::pair<int, int>>> adjacency_;
  std::vector<std::pair<int, int>> edge_ends_;
  std::vector<std::vector<int32_t>> path_rows_;  // [src][dst]: index in paths_, -1 unknown
  std::deque<std::vector<int>> paths_;           // a deque: callers keep references
  std::vector<std::vector<size_t>> bfs_trees_;   // [src]: BFS predecessor of each vertex
  std::unique_ptr<Graph> graph_;
};

// The M:N token exchange of attention/FFN disaggregation, on the topology: `senders`
// GPUs each send an equal message to each of `receivers` GPUs; the attention GPUs sit on
// the first nodes and the FFN GPUs from the next node boundary (a node holds one GPU
// type), so every message crosses the network (GPU -> NIC -> switch -> NIC -> GPU).
// `to_ffn`: attention -> FFN (dispatch), else FFN -> attention (combine). The exchange
// ends when its busiest channel has carried its messages:
//   time(bytes per message) = bytes x (messages on the busiest channel / its bandwidth)
//                             + the longest path's latency.
struct MnExchange {
  double seconds_per_message_byte = 0;  // max over channels of messages / bandwidth
  Duration latency;
  int messages_on_busiest = 0;
  Duration time(Bytes per_message) const {
    if (per_message.value() <= 0) return Duration::zero();
    return Duration::seconds(per_message.value() * seconds_per_message_byte) + latency;
  }
};
MnExchange mn_exchange(const ClusterSpec& cluster, int attention_gpus, int ffn_gpus, bool to_ffn);

// The same exchange deduplicated per node (DeepEP's internode dispatch/combine): each
// attention GPU sends one message to each FFN node, to (from) the GPU of the same local
// index there (its NIC rail), which forwards over NVLink to (gathers from) the node's
// expert GPUs; `time(bytes per message)` is the network leg (messages per channel over
// its bandwidth, plus the longest path's latency). A token goes to the FFN nodes its top-k
// experts are on (expected_distinct_groups), not once per expert.
MnExchange mn_node_exchange(const ClusterSpec& cluster, int attention_gpus, int ffn_gpus,
                            bool to_ffn);

// A contiguous group of GPUs of the topology: an instance's GPUs.
struct GpuGroup {
  int first = 0;
  int count = 1;
};

// KV transfers in flight over a Topology. A transfer moves an instance's KV from the
// GPUs of one instance to those of another, each GPU holding an equal slice of it (TP
// shards): source GPU s holds [s/S, (s+1)/S) of the bytes, destination GPU t needs
// [t/D, (t+1)/D), and each overlap is a shard, a flow on the path from s to t
// (S + D - gcd(S, D) shards: S when D divides S). A flow moves at the smallest equal
// share among the channels of its path (bandwidth / flows on the channel), so shards of
// one transfer that meet on a link share it as other transfers' shards do. Rates are
// recomputed when a flow starts or lands on a shared channel; the caller reschedules the
// next landing of every transfer listed in `changed`. A transfer is complete when its
// last shard lands.
//
//   FlowNetwork net(topology);
//   uint32_t t = net.start(now, {0, 8}, {16, 4}, Bytes::giga(1), changed);  // 8 shards
//   SimTime when = net.next_landing(t);
//   bool done = net.land(when, t, changed);   // retires the shards landed by `when`
class FlowNetwork {
 public:
  explicit FlowNetwork(Topology& topology);

  uint32_t start(SimTime now, GpuGroup src, GpuGroup dst, Bytes bytes,
                 std::vector<uint32_t>& changed);
  // The earliest time one of the transfer's shards lands at current rates (path latency
  // included).
  SimTime next_landing(uint32_t transfer) const;
  // Retires the transfer's shards that have landed by `now`; true when none is left (the
  // transfer is complete and its id free). `changed` lists the other transfers whose
  // rates moved, and this one if it goes on.
  bool land(SimTime now, uint32_t transfer, std::vector<uint32_t>& changed);
  size_t active() const { return active_; }  // transfers in flight
  size_t shards(uint32_t transfer) const { return transfers_[transfer].flows.size(); }
  // Bytes per second the transfer moves now (the sum over its shards in flight).
  BytesPerSec rate(uint32_t transfer) const;
  // Shards in flight on a channel.
  uint32_t flows_on(int channel) const { return on_channel_[static_cast<size_t>(channel)].count; }
  // The rate of a shard whose path has no channel (source and destination GPU the same): a
  // copy inside one GPU's memory, each at this rate. Unset (0): instantaneous.
  void set_local_bandwidth(BytesPerSec b) { local_bandwidth_ = b.value(); }

 private:
  // The shards of a transfer between two GPU groups, found once per pair of groups (an
  // instance pair) and kept: each shard's channels (a span of route_channels_), path
  // latency and fraction of the bytes.
  double local_bandwidth_ = 0;  // set_local_bandwidth
  struct Shard {
    uint32_t channels = 0, num_channels = 0;
    Duration latency;
    double fraction = 0;
  };
  struct Route {
    uint32_t first = 0, count = 0;  // a span of route_shards_
    int src_count = 0, dst_count = 0;
  };
  struct RouteKey {
    int src_first, src_count, dst_first, dst_count;
    bool operator==(const RouteKey&) const = default;
  };
  struct RouteKeyHash {
    size_t operator()(const RouteKey& k) const {
      uint64_t h = static_cast<uint32_t>(k.src_first);
      h = h * 0x9E3779B97F4A7C15ull ^ static_cast<uint32_t>(k.dst_first);
      h = h * 0x9E3779B97F4A7C15ull ^ static_cast<uint32_t>(k.src_count);
      h = h * 0x9E3779B97F4A7C15ull ^ static_cast<uint32_t>(k.dst_count);
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  struct Flow {
    uint32_t channels = 0, num_channels = 0;  // its path: a span of route_channels_
    double remaining = 0;                     // bytes
    double rate = 0;                          // bytes/s
    SimTime updated;
    Duration latency;
    uint32_t transfer = 0;
    uint64_t stamp = 0;  // last operation that listed it in touched_
    bool live = false;
  };
  struct Transfer {
    std::vector<uint32_t> flows;  // its shards in flight
  };
  const Route& route(GpuGroup src, GpuGroup dst);
  SimTime completion(uint32_t flow) const;
  void rerate(SimTime now, uint32_t flow);
  void touch(uint32_t flow) {
    if (flows_[flow].stamp == stamp_) return;
    flows_[flow].stamp = stamp_;
    touched_.push_back(flow);
  }
  // Rerates every flow in `touched_` and lists their transfers, sorted, in `changed`.
  void rerate_touched(SimTime now, std::vector<uint32_t>& changed);
  Topology& topology_;
  std::vector<Flow> flows_;
  std::vector<uint32_t> free_flows_;
  std::vector<Transfer> transfers_;
  std::vector<uint32_t> free_transfers_;
  // The flows on each channel: up to kLocal in place (a cache line holds them and the
  // count), the rest in overflow_. Order does not matter.
  static constexpr uint32_t kLocal = 7;
  struct ChannelFlows {
    uint32_t count = 0;
    uint32_t local[kLocal] = {};
  };
  uint32_t flow_on(int channel, uint32_t i) const {
    return i < kLocal ? on_channel_[static_cast<size_t>(channel)].local[i]
                      : overflow_[static_cast<size_t>(channel)][i - kLocal];
  }
  void add_to_channel(int channel, uint32_t flow);
  void remove_from_channel(int channel, uint32_t flow);
  std::vector<ChannelFlows> on_channel_;
  std::vector<std::vector<uint32_t>> overflow_;
  std::vector<uint32_t> touched_;
  uint64_t stamp_ = 0;
  // Routes by first source GPU, then first destination GPU (an index in route_list_, -1
  // none); groups of other sizes at the same GPUs go to routes_.
  std::vector<std::vector<int32_t>> route_rows_;
  std::vector<Route> route_list_;
  std::unordered_map<RouteKey, Route, RouteKeyHash> routes_;
  std::vector<Shard> route_shards_;
  std::vector<int> route_channels_;
  size_t active_ = 0;
};

}  // namespace quadrant
