#include "sim/topology/topology.h"

#include <gtest/gtest.h>

#include <algorithm>

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

TEST(FlowNetwork, ConcurrentTransfersShareTheirBottleneck) {
  Topology t(cluster(), 32);
  FlowNetwork net(t);
  std::vector<uint32_t> changed;
  const Bytes gb = Bytes::giga(1);
  const SimTime t0 = SimTime::start();
  // Alone: 1 GB over a 50 GB/s NIC = 20 ms (+ 20 us latency).
  uint32_t a = net.start(t0, 0, 8, 1, gb, changed);
  EXPECT_AT(net.completion(a), t0 + Duration::millis(20) + Duration::micros(20));
  // A second transfer into the same GPU halves both rates from now on.
  uint32_t b = net.start(t0, 16, 8, 1, gb, changed);
  EXPECT_EQ(changed.size(), 2u);
  EXPECT_AT(net.completion(a), t0 + Duration::millis(40) + Duration::micros(20));
  EXPECT_EQ(net.completion(b), net.completion(a));
  // At 10 ms, a leaves early (say it was cancelled): b has 0.75 GB left at full rate.
  net.finish(t0 + Duration::millis(10), a, changed);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_AT(net.completion(b), t0 + Duration::millis(10 + 15) + Duration::micros(20));
  // A transfer elsewhere does not touch b.
  uint32_t c = net.start(t0 + Duration::millis(10), 24, 25, 2, gb, changed);
  EXPECT_EQ(changed, std::vector<uint32_t>{c});
  // width 2 over NVLink: 1 GB at 800 GB/s.
  EXPECT_AT(net.completion(c), t0 + Duration::millis(10) + Duration::micros(1250 + 4));
  EXPECT_EQ(net.active(), 2u);
}

}  // namespace
}  // namespace quadrant
