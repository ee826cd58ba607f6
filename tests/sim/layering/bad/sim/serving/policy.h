// Fixture for sim_layering_bad_fixture_test: a cycle (serving <-> engine) and JSON in a
// core folder, which scripts/check_layering.py must reject.
#pragma once
#include <nlohmann/json.hpp>

#include "sim/engine/loop.h"
