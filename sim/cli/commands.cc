#include "sim/cli/commands.h"

namespace quadrant::cli {

void add_commands(CLI::App& app) {
  add_validate_command(app);
  add_simulate_command(app);
  add_plan_command(app);
  add_calibrate_command(app);
  add_import_model_command(app);
  add_bench_check_command(app);
  add_engine_command(app);
}

}  // namespace quadrant::cli
