// quadrant: the command-line program. Each subcommand lives in its own file and adds
// itself here; input errors print one line and exit 1, internal errors abort.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "sim/cli/commands.h"
#include "sim/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"quadrant: capacity planner for prefill/decode-disaggregated MoE serving"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("quadrant ") + QUADRANT_GIT_REVISION);
  quadrant::cli::add_commands(app);
  try {
    app.parse(argc, argv);
    return quadrant::cli::last_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const quadrant::InputError& e) {
    std::fprintf(stderr, "quadrant: error: %s\n", e.what());
    return 1;
  }
}
