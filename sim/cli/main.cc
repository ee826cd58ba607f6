// quadrant: the command-line program. Each subcommand lives in its own file
// (sim/cli/commands.h says how to add one); input errors (the command line included) print
// one line and exit 1; a failed check exits 1 through CLI11's exit path; failed invariant
// checks abort, other internal errors print one line and exit 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>

#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/core/version.h"

int main(int argc, char** argv) {
  CLI::App app{"quadrant: capacity planner for prefill/decode-disaggregated MoE serving"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("quadrant ") + quadrant::git_revision());
  quadrant::cli::add_commands(app);
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::RuntimeError& e) {
    return app.exit(e);  // a command's verdict (a failed check): its status, nothing printed
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A bad command line is an input error too: one line.
    std::fprintf(stderr, "quadrant: error: %s (quadrant --help lists the options)\n", e.what());
    return 1;
  } catch (const quadrant::InputError& e) {
    std::fprintf(stderr, "quadrant: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "quadrant: error: out of memory; the scenario is past what this machine holds "
                 "(limits: scenarios/README.md)\n");
    return 1;
  } catch (const std::exception& e) {
    // Not the user's fault: a bug. Still one line and a non-zero status, never an abort.
    std::fprintf(stderr, "quadrant: internal error: %s\n", e.what());
    return 2;
  }
}
