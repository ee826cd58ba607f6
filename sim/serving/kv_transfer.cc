#include "sim/serving/kv_transfer.h"

#include <algorithm>

namespace quadrant {

KvTransfers::KvTransfers(const ClusterSpec& cluster, int total_gpus)
    : topology_(std::make_unique<Topology>(cluster, total_gpus)),
      network_(std::make_unique<FlowNetwork>(*topology_)) {}

uint32_t KvTransfers::start(SimTime now, GpuGroup src, GpuGroup dst, Bytes bytes, uint32_t owner) {
  const uint32_t t = network_->start(now, src, dst, bytes, changed_);
  if (owner_.size() <= t) owner_.resize(t + 1);
  owner_[t] = owner;
  return t;
}

bool KvTransfers::land(SimTime now, uint32_t transfer) {
  return network_->land(now, transfer, changed_);
}

int KvTransfers::busiest_nic_flows(GpuGroup gpus, bool inbound) const {
  int most = 0;
  for (int g = gpus.first; g < gpus.first + gpus.count && g < topology_->num_gpus(); ++g)
    most = std::max(most, static_cast<int>(network_->flows_on(topology_->nic_channel(g, inbound))));
  return most;
}

}  // namespace quadrant
