#include "sim/cli/commands.h"

namespace quadrant::cli {

void add_validate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("validate", "Check a scenario and print a one-screen summary");
  static std::string file;
  cmd->add_option("scenario", file, "scenario JSON file")->required();
  cmd->callback([] {});
}

}  // namespace quadrant::cli
