// The report of one simulation (`quadrant simulate`): report.html, a one-page view of the
// run (its summary line and the charts, SVG inline, offline) and the charts' files. The
// plan's report is report.h; metrics.json and requests.csv are the CLI's.
//
//   add_simulation_report(scenario, seed, result, /*charts=*/true, out);  // out.commit() later
#pragma once

#include <cstdint>

#include "sim/engine/simulation.h"
#include "sim/io/output_dir.h"

namespace quadrant::reports {

// Stages report.html and, with `charts`, charts/*.svg and *.png (gnuplot) in `out`.
void add_simulation_report(const Scenario& s, uint64_t seed, const SimulationResult& r, bool charts,
                           io::OutputDir& out);

}  // namespace quadrant::reports
