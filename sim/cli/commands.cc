#include "sim/cli/commands.h"

namespace quadrant::cli {

namespace {
int g_exit_code = 0;
}

void set_exit_code(int code) { g_exit_code = code; }
int last_exit_code() { return g_exit_code; }

// Each subcommand's owner enables its line once the command exists.
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
