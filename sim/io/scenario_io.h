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

// The resolved scenario in the input format (scenario_io's reader reads it back to an
// equal Scenario, `file` and `input_files` aside): every field written out, defaults
// included, includes inlined, dimensional values with units ("80GB", "2ms"), and file
// paths (a trace, calibrated models) relative to `folder`, where the text will live.
// Text the reader does not keep (descriptions, sources, notes) is left out.
//
//   save_scenario(load_scenario("scenarios/default.json"), "out/resolved.json");
std::string scenario_json(const Scenario& s, const std::string& folder);
// scenario_json written to `path` (paths relative to its folder) through io::OutputFile:
// never over one of the scenario's inputs, never half written.
void save_scenario(const Scenario& s, const std::string& path);

// The serving section alone, in the input format (as scenario_json writes it): a
// scenario takes it back with "serving": {"include": "<file>"} (what a plan's
// deploy/serving.json is for).
std::string serving_section_json(const ServingSpec& s);

// A model file alone (scenarios/models/*.json has the `model` section's shape).
ModelSpec load_model(const std::string& path);

// The hardware catalog alone (scenarios/hardware/*.json has the `hardware` section's shape).
HardwareCatalog load_catalog(const std::string& path);

}  // namespace quadrant
