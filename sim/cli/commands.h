// Subcommands of the `quadrant` program. Each add_*_command registers one subcommand
// whose callback runs it; a callback that fails on bad input throws InputError.
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

// A subcommand's exit status (0 unless it set one, e.g. a failed regression check).
void set_exit_code(int code);
int last_exit_code();

}  // namespace quadrant::cli
