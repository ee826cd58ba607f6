// GPU types, the catalog they come from, and the cluster they are racked in. Plain data
// filled by sim/io from scenarios/hardware/*.json and a scenario's `cluster` section.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/units.h"
#include "sim/model/model_spec.h"

namespace quadrant {

struct GpuSpec {
  std::string name;  // catalog key, e.g. "H100-SXM"
  Bytes memory;
  BytesPerSec memory_bandwidth;
  FlopsPerSec bf16;  // dense (no sparsity) tensor-core peaks
  FlopsPerSec fp8;   // zero: not supported (falls back to bf16 rate)
  FlopsPerSec int8;
  BytesPerSec nvlink_bandwidth;  // per GPU, one direction
  BytesPerSec nic_bandwidth;     // per GPU, one direction
  double usd_per_hour = 0;
  // Roofline: the fraction of the peaks a well-tuned kernel achieves, and a fixed cost
  // per kernel launch. Stated in the catalog, replaced by fitted models once calibrated.
  double compute_efficiency = 0.7;
  double memory_efficiency = 0.8;
  Duration kernel_overhead = Duration::micros(4);
  Bytes reserved_memory = Bytes::giga(4);  // CUDA context, activations, fragmentation
  std::string calibrated;                  // fitted cost model file, empty if none
  std::string source;                      // where the figures come from
  double power_watts = 0;                  // board power (TDP) from the datasheet; 0: not known
  // A power-capped type (hardware.power_caps): a copy of `capped_from` held to
  // power_cap_watts, at which its SM clock runs clock_factor of the uncapped one. The model
  // (Splitwise's observation: token generation barely slows under a cap, prompt
  // computation does): the tensor peaks scale by clock_factor, HBM bandwidth, links and
  // memory stay, so a compute-bound kernel takes 1 / clock_factor as long and a
  // bandwidth-bound one the same. The peaks above are the uncapped datasheet figures.
  std::string capped_from;
  double power_cap_watts = 0;
  double clock_factor = 1;

  // Dense peak for a kernel whose multiplies run in format f (at the cap's clock, if any).
  FlopsPerSec peak(NumberFormat f) const;
  // The power one GPU draws at most: the cap, else the board power (0: not known).
  double max_power_watts() const { return power_cap_watts > 0 ? power_cap_watts : power_watts; }
  bool operator==(const GpuSpec&) const = default;
};

struct HardwareCatalog {
  std::map<std::string, GpuSpec> gpus;
  const GpuSpec* find(const std::string& name) const {
    auto it = gpus.find(name);
    return it == gpus.end() ? nullptr : &it->second;
  }
  bool operator==(const HardwareCatalog&) const = default;
};

struct LinkSpec {
  BytesPerSec bandwidth;
  Duration latency;
  bool operator==(const LinkSpec&) const = default;
};

// How GPUs are connected: inside a node over NVLink (or PCIe), across nodes through
// each GPU's NIC and a non-blocking switch fabric.
struct ClusterSpec {
  int gpus_per_node = 8;
  LinkSpec intra_node{BytesPerSec::giga(450), Duration::micros(3)};
  LinkSpec inter_node{BytesPerSec::giga(50), Duration::micros(10)};
  // The most GPUs of each type the planner may use (empty: unlimited).
  std::map<std::string, int> max_gpus;
  bool operator==(const ClusterSpec&) const = default;
};

}  // namespace quadrant
