// KV transfers: a request's KV cache moving from its prefill instance's GPUs to its
// decode instance's (PD disaggregation), over the cluster's topology with shared
// bandwidth (topology/ FlowNetwork: one flow per TP shard). This file keeps which
// request owns each transfer, the transfers whose landing moved (the driver reschedules
// their landing events) and the transfer statistics.
//
// Policy (sim/INVARIANTS.md): decode KV for prompt + 1 token is reserved when a transfer
// starts; a transfer waits, first come first served, until the decode instance has that
// room (KvManager admission), and the prefill instance keeps its copy until the transfer
// lands (back-pressure). Layer-wise streaming starts a transfer with the first prefill
// chunk instead of after the last.
//
//   KvTransfers transfers(cluster, total_gpus);
//   uint32_t t = transfers.start(now, {0, 4}, {8, 4}, bytes, /*owner=*/slot);
//   for (uint32_t moved : transfers.rerated()) schedule(transfers.next_landing(moved));
//   if (transfers.land(when, t)) ...   // its last shard landed
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/core/units.h"
#include "sim/scenario.h"
#include "sim/topology/topology.h"

namespace quadrant {

class KvTransfers {
 public:
  KvTransfers(const ClusterSpec& cluster, int total_gpus);

  // Starts moving `bytes` of request slot `owner`'s KV; rerated() then lists the
  // transfers whose next landing moved, this one included.
  uint32_t start(SimTime now, GpuGroup src, GpuGroup dst, Bytes bytes, uint32_t owner);
  // Retires the transfer's shards landed by `now`; true when it is complete (then it is
  // counted, `started` being when it began). rerated() lists the landings that moved.
  bool land(SimTime now, uint32_t transfer);
  void count_landed(SimTime started, SimTime now) {
    ++completed_;
    seconds_ += (now - started).to_seconds();
  }

  // A transfer between instances of one GPU (SimulationOptions::pools_share_one_gpu): a
  // device-to-device copy at this rate (FlowNetwork::set_local_bandwidth).
  void set_local_copy_bandwidth(BytesPerSec b) { network_->set_local_bandwidth(b); }

  const std::vector<uint32_t>& rerated() const { return changed_; }
  SimTime next_landing(uint32_t transfer) const { return network_->next_landing(transfer); }
  uint32_t owner(uint32_t transfer) const { return owner_[transfer]; }

  // KV shards in flight on the busiest NIC of GPUs [first, first + count), out of their
  // node or into it (what an attention/FFN exchange of those GPUs shares its NICs with).
  int busiest_nic_flows(GpuGroup gpus, bool inbound) const;

  int64_t completed() const { return completed_; }
  double mean_seconds() const {
    return completed_ ? seconds_ / static_cast<double>(completed_) : 0;
  }

 private:
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<FlowNetwork> network_;
  std::vector<uint32_t> owner_;  // request slot of each transfer in flight
  std::vector<uint32_t> changed_;
  int64_t completed_ = 0;
  double seconds_ = 0;
};

}  // namespace quadrant
