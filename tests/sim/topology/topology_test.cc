#include "sim/topology/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "sim/serving/kv_transfer.h"

namespace quadrant {
namespace {

// Completion times are rounded up to whole nanoseconds after float division.
#define EXPECT_AT(actual, expected) \
  EXPECT_NEAR(static_cast<double>((actual).ns()), static_cast<double>((expected).ns()), 2.0)

ClusterSpec cluster() {
  ClusterSpec c;
  c.gpus_per_node = 8;
  c.intra_node = {BytesPerSec::giga(400), Duration::micros(2)};
  c.inter_node = {BytesPerSec::giga(50), Duration::micros(10)};
  return c;
}

TEST(Topology, NvlinkInsideANodeNicsAcross) {
  Topology t(cluster(), 32);
  EXPECT_EQ(t.num_nodes(), 4);
  const std::vector<int>& inside = t.path(1, 6);
  ASSERT_EQ(inside.size(), 2u);  // GPU -> NVLink domain -> GPU
  for (int c : inside) EXPECT_EQ(t.channel(c).bandwidth.value(), 400e9);
  const std::vector<int> across = t.path(1, 17);
  ASSERT_EQ(across.size(), 4u);  // GPU -> NIC -> switch -> NIC -> GPU
  EXPECT_EQ(t.path_latency(across), Duration::micros(20));
  // The two directions of a link are different channels.
  const std::vector<int> back = t.path(17, 1);
  for (int c : back) EXPECT_EQ(std::count(across.begin(), across.end(), c), 0);
}

// Attention/FFN disaggregation's M:N exchange: N_a attention GPUs each send one message
// to each of N_f FFN GPUs on other nodes. An attention GPU's NIC uplink carries N_f
// messages, an FFN GPU's NIC downlink N_a (PCIe, 64 GB/s, is faster than the 50 GB/s
// NICs): the busiest channel carries max(N_a, N_f) messages at the NIC's bandwidth, and
// every path crosses two NIC-switch links. The combine runs the other way, same figures.
TEST(Topology, MnExchangeIsBoundByTheBusiestNic) {
  for (auto [na, nf] : {std::pair{8, 16}, std::pair{16, 8}, std::pair{3, 5}, std::pair{1, 1}}) {
    for (bool to_ffn : {true, false}) {
      SCOPED_TRACE(testing::Message() << na << " x " << nf << (to_ffn ? " dispatch" : " combine"));
      const MnExchange x = mn_exchange(cluster(), na, nf, to_ffn);
      EXPECT_EQ(x.messages_on_busiest, std::max(na, nf));
      EXPECT_DOUBLE_EQ(x.seconds_per_message_byte, std::max(na, nf) / 50e9);
      EXPECT_EQ(x.latency, Duration::micros(20));
      // 1 MB per message: max(N_a, N_f) MB through one 50 GB/s NIC, plus the latency.
      EXPECT_AT(x.time(Bytes(1e6)),
                Duration::seconds(std::max(na, nf) * 1e6 / 50e9) + Duration::micros(20));
      EXPECT_EQ(x.time(Bytes(0)), Duration::zero());
    }
  }
}

// The exchange deduplicated per node: each attention GPU sends one message to each FFN
// node, to the GPU on its own rail there. An attention GPU's uplink carries one message
// per FFN node; an FFN GPU's downlink one per attention GPU of its rail (attention GPUs
// a, a + 8, ... share local index a). 8 x 16: 2 (two FFN nodes); 16 x 8: 2 (two attention
// GPUs per rail); 8 x 32: 4; 3 x 5: 1; 16 x 16: 2. Same latency as the full exchange.
TEST(Topology, NodeExchangeSendsOneMessagePerNode) {
  for (auto [na, nf, busiest] : {std::tuple{8, 16, 2}, std::tuple{16, 8, 2}, std::tuple{8, 32, 4},
                                 std::tuple{3, 5, 1}, std::tuple{16, 16, 2}, std::tuple{1, 1, 1}}) {
    for (bool to_ffn : {true, false}) {
      SCOPED_TRACE(testing::Message() << na << " x " << nf << (to_ffn ? " dispatch" : " combine"));
      const MnExchange x = mn_node_exchange(cluster(), na, nf, to_ffn);
      EXPECT_EQ(x.messages_on_busiest, busiest);
      EXPECT_DOUBLE_EQ(x.seconds_per_message_byte, busiest / 50e9);
      EXPECT_EQ(x.latency, Duration::micros(20));
    }
  }
}

// What an attention/FFN exchange shares its NICs with: KV shards in flight through a
// GPU's NIC, out of its node and into the other. One transfer of 1 GPU to 1 GPU across
// nodes: one flow out of the source's NIC, one into the destination's, none elsewhere.
TEST(KvTransfers, CountFlowsOnTheNicsOfAGroup) {
  KvTransfers kv(cluster(), 32);
  kv.start(SimTime::start(), {0, 1}, {9, 1}, Bytes(1e6), 0);
  EXPECT_EQ(kv.busiest_nic_flows({0, 8}, false), 1);
  EXPECT_EQ(kv.busiest_nic_flows({0, 8}, true), 0);
  EXPECT_EQ(kv.busiest_nic_flows({8, 8}, true), 1);
  EXPECT_EQ(kv.busiest_nic_flows({8, 8}, false), 0);
  EXPECT_EQ(kv.busiest_nic_flows({16, 16}, true), 0);
  kv.start(SimTime::start(), {1, 1}, {9, 1}, Bytes(1e6), 1);
  EXPECT_EQ(kv.busiest_nic_flows({8, 8}, true), 2);
}

TEST(FlowNetwork, ConcurrentTransfersShareTheirBottleneck) {
  Topology t(cluster(), 32);
  FlowNetwork net(t);
  std::vector<uint32_t> changed;
  const Bytes gb = Bytes::giga(1);
  const SimTime t0 = SimTime::start();
  const Duration across = Duration::micros(20);  // NIC -> switch -> NIC latency
  // Alone: 1 GB over a 50 GB/s NIC = 20 ms (+ 20 us latency).
  uint32_t a = net.start(t0, {0, 1}, {8, 1}, gb, changed);
  EXPECT_EQ(changed, std::vector<uint32_t>{a});
  EXPECT_AT(net.next_landing(a), t0 + Duration::millis(20) + across);
  // At 10 ms (a has 0.5 GB left) a second transfer into the same GPU halves both rates.
  const SimTime t1 = t0 + Duration::millis(10);
  uint32_t b = net.start(t1, {16, 1}, {8, 1}, gb, changed);
  EXPECT_EQ(changed.size(), 2u);
  EXPECT_AT(net.next_landing(a), t1 + Duration::millis(20) + across);
  // a lands; b, which moved 0.5005 GB in the 20.02 ms, takes the whole NIC again.
  const SimTime t2 = net.next_landing(a);
  EXPECT_TRUE(net.land(t2, a, changed));
  EXPECT_EQ(changed, std::vector<uint32_t>{b});
  EXPECT_AT(net.next_landing(b), t2 + Duration::micros(9990) + across);
  // A transfer elsewhere does not touch b; over NVLink, 1 GB at 400 GB/s.
  uint32_t c = net.start(t2, {24, 1}, {25, 1}, gb, changed);
  EXPECT_EQ(changed, std::vector<uint32_t>{c});
  EXPECT_AT(net.next_landing(c), t2 + Duration::micros(2500 + 4));
  EXPECT_EQ(net.active(), 2u);
}

// A transfer between instances moves each TP shard between the GPUs that hold and need
// it, over their own paths. Prefill TP4 on GPUs 0-3, two decode TP2 instances on GPUs 8-9
// and 10-11 (another node), 1 GB each, 50 GB/s NICs: each transfer is 4 shards of
// 0.25 GB (GPUs 0,1 -> the first decode GPU, 2,3 -> the second).
TEST(FlowNetwork, ShardsTakeTheirOwnGpusPaths) {
  Topology t(cluster(), 32);
  FlowNetwork net(t);
  std::vector<uint32_t> changed;
  const Bytes gb = Bytes::giga(1);
  const SimTime t0 = SimTime::start();
  const Duration across = Duration::micros(20);
  const uint32_t x = net.start(t0, {0, 4}, {8, 2}, gb, changed);
  EXPECT_EQ(net.shards(x), 4u);
  // Two shards meet on each destination NIC: 25 GB/s each, 0.25 GB in 10 ms; the
  // transfer moves at 100 GB/s, the two destination NICs.
  EXPECT_AT(net.next_landing(x), t0 + Duration::millis(10) + across);
  EXPECT_NEAR(net.rate(x).value(), 100e9, 1.0);
  // The same source to the other decode instance: each source NIC now carries two
  // shards (25 GB/s each), no less than the destination NICs already gave; x keeps its
  // pace. (The lead-pair model had both transfers on GPU 0's NIC: 20 ms each.)
  const uint32_t y = net.start(t0, {0, 4}, {10, 2}, gb, changed);
  EXPECT_EQ(changed.size(), 2u);
  EXPECT_AT(net.next_landing(x), t0 + Duration::millis(10) + across);
  EXPECT_AT(net.next_landing(y), t0 + Duration::millis(10) + across);
  // Another prefill instance (GPUs 4-7) into x's decode instance: its NICs now carry four
  // shards each, 12.5 GB/s a shard, and x and z take 20 ms; y is not slowed.
  const uint32_t z = net.start(t0, {4, 4}, {8, 2}, gb, changed);
  EXPECT_EQ(changed, (std::vector<uint32_t>{x, z}));  // y shares no channel with z
  EXPECT_AT(net.next_landing(x), t0 + Duration::millis(20) + across);
  EXPECT_AT(net.next_landing(z), t0 + Duration::millis(20) + across);
  EXPECT_AT(net.next_landing(y), t0 + Duration::millis(10) + across);
  // y lands whole (all four shards at once); x and z stay at 12.5 GB/s a shard.
  const SimTime t1 = net.next_landing(y);
  EXPECT_TRUE(net.land(t1, y, changed));
  EXPECT_EQ(changed, (std::vector<uint32_t>{x}));  // x shared y's source NICs
  EXPECT_AT(net.next_landing(x), t0 + Duration::millis(20) + across);
  EXPECT_TRUE(net.land(net.next_landing(x), x, changed));
  EXPECT_EQ(net.active(), 1u);
}

// Uneven TP: 3 source GPUs to 2 destination GPUs is 3 + 2 - 1 = 4 shards: 1/3, 1/6, 1/6,
// 1/3 of the bytes. GPU 1 sends two shards of 1/6 GB over its NIC (25 GB/s each), which
// land first, after 6.67 ms; the transfer goes on with the two others.
TEST(FlowNetwork, UnevenTensorParallelSplitsIntoOverlaps) {
  Topology t(cluster(), 32);
  FlowNetwork net(t);
  std::vector<uint32_t> changed;
  const SimTime t0 = SimTime::start();
  const uint32_t x = net.start(t0, {0, 3}, {8, 2}, Bytes::giga(1), changed);
  EXPECT_EQ(net.shards(x), 4u);
  const SimTime first = net.next_landing(x);
  EXPECT_AT(first, t0 + Duration::nanos(6666667) + Duration::micros(20));
  EXPECT_FALSE(net.land(first, x, changed));
  EXPECT_EQ(net.shards(x), 2u);
  EXPECT_EQ(changed, std::vector<uint32_t>{x});
  // The 1/3 GB shards moved at 25 GB/s until then; the rest at 50 GB/s (alone on the NICs).
  const double left = 1e9 / 3 - 25e9 * (first - t0).to_seconds();
  EXPECT_AT(net.next_landing(x),
            first + Duration::nanos(static_cast<int64_t>(left / 50)) + Duration::micros(20));
  EXPECT_TRUE(net.land(net.next_landing(x), x, changed));
  EXPECT_EQ(net.active(), 0u);
}

}  // namespace
}  // namespace quadrant
