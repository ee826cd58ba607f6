// The edge where JSON becomes a Scenario. Everything is checked here, once: types, units,
// ranges, unknown keys, includes, references between sections (a pool's GPU must be in
// the catalog) and layouts that cannot work (EP must divide the instance's GPUs).
//
//   Scenario s = load_scenario("scenarios/default.json");   // throws InputError
#pragma once

#include <string>

#include "sim/scenario.h"

namespace quadrant {

Scenario load_scenario(const std::string& path);

// A model file alone (scenarios/models/*.json has the `model` section's shape).
ModelSpec load_model(const std::string& path);

// The hardware catalog alone (scenarios/hardware/*.json has the `hardware` section's shape).
HardwareCatalog load_catalog(const std::string& path);

}  // namespace quadrant
