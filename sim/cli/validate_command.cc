#include "sim/cli/commands.h"

namespace quadrant::cli {

namespace {
int g_exit_code = 0;
}

void set_exit_code(int code) { g_exit_code = code; }
int last_exit_code() { return g_exit_code; }

void add_commands(CLI::App& app) {
  add_validate_command(app);
  // add_simulate_command(app);   -- enabled by the simulator
  // add_plan_command(app);       -- enabled by the planner
  // add_calibrate_command(app);  -- enabled by calibration
}

void add_validate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("validate", "Check a scenario and print a one-screen summary");
  static std::string file;
  cmd->add_option("scenario", file, "scenario JSON file")->required();
  cmd->callback([] {});
}

}  // namespace quadrant::cli
