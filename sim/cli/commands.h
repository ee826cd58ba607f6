// The subcommands of the `quadrant` program. Each lives in one file, sim/cli/<name>_command.cc,
// in CLI11's own pattern: an options struct that the parsed values land in, shared with the
// callback (no globals, no statics), and a run function:
//
//   struct FrobOptions { std::string scenario; bool quiet = false; };
//   void run_frob(const FrobOptions& o) { ... throw InputError(...) on bad input ... }
//   void add_frob_command(CLI::App& app) {
//     auto o = std::make_shared<FrobOptions>();
//     CLI::App* cmd = app.add_subcommand("frob", "What it does");
//     cmd->add_option("scenario", o->scenario, "scenario JSON file")->required();
//     cmd->callback([o] { run_frob(*o); });
//   }
//
// and a line below and in add_commands (commands.cc), which sets the order of --help.
// Errors: bad input throws InputError (main prints one line, exit 1); a command whose
// verdict is "failed" (a regression check) throws CLI::RuntimeError(1), which leaves
// through CLI11's exit path (App::exit) silently with that status.
#pragma once

#include <CLI/CLI.hpp>

namespace quadrant::cli {

void add_commands(CLI::App& app);  // all of the below, in help order

void add_validate_command(CLI::App& app);  // validate, schema
void add_simulate_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_import_model_command(CLI::App& app);
void add_bench_check_command(CLI::App& app);
void add_engine_command(CLI::App& app);  // engine compare (calibration/engine)

}  // namespace quadrant::cli
