// `quadrant import-model CONFIG|FOLDER [--quant Q] [--kv-cache K] [--name N] [--out FILE]`:
// a Hugging Face config.json (or a model folder with its quantisation file) becomes a
// scenario model file whose `sources` name the config key or default behind every field
// (sim/io/model_import.h). The file is read back through the scenario reader before it
// appears, so what is written always loads; a one-line summary goes to stderr.
#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/io/model_import.h"
#include "sim/io/output_dir.h"
#include "sim/io/scenario_io.h"
#include "sim/model/accounting.h"

namespace quadrant::cli {

namespace {

namespace fs = std::filesystem;

struct ImportArgs {
  std::string path;
  std::string out;  // empty: stdout
  io::ImportOptions options;
};

// Writes `text` to `tmp`, checks it loads as a model, and returns the model.
ModelSpec write_checked(const fs::path& tmp, const std::string& text) {
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw InputError(tmp.string(), "", "cannot open for writing");
    f << text;
    if (!f.flush()) throw InputError(tmp.string(), "", "write failed");
  }
  try {
    return load_model(tmp.string());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void run_import(const ImportArgs& a) {
  const io::ModelImport m = io::import_hf_model(a.path, a.options);
  const std::string text = m.model.dump(2) + "\n";
  ModelSpec spec;
  if (a.out.empty()) {
    const fs::path tmp =
        fs::temp_directory_path() / ("quadrant-import-" + std::to_string(::getpid()) + ".json");
    spec = write_checked(tmp, text);
    fs::remove(tmp);
    std::fputs(text.c_str(), stdout);
  } else {
    // Through io::OutputFile: never over the config it reads, a folder or a link; a
    // temporary beside the target, checked to load, then renamed.
    io::OutputFile out(a.out, "--out", {a.path}, "");
    out.out() << text;
    out.out().flush();
    spec = load_model(out.temp_path());
    out.commit();
  }
  const ParameterCount pc = parameter_count(spec);
  std::fprintf(stderr,
               "import-model: %s from %s: %.1fB parameters, %.1fB activated; weights %.1f GB "
               "(%s), KV %.1f KB/token (%s)\n",
               spec.name.c_str(), m.config_file.c_str(), pc.total / 1e9, pc.activated / 1e9,
               weight_bytes(spec).to_gb(), to_string(spec.precision.weights),
               kv_bytes_per_token(spec).value() / 1e3, to_string(spec.precision.kv_cache));
  for (const std::string& n : m.notes) std::fprintf(stderr, "  note: %s\n", n.c_str());
  if (!a.out.empty()) std::fprintf(stderr, "  wrote %s\n", a.out.c_str());
}

}  // namespace

void add_import_model_command(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "import-model",
      "Turn a Hugging Face config.json (or model folder) into a scenario model file, every "
      "field traced to its source");
  cmd->add_option("config", args->path, "config.json, or a folder holding it")->required();
  cmd->add_option("--quant", args->options.quant,
                  "weight format bf16|fp8|int8|w4a8 (default: the checkpoint's)");
  cmd->add_option("--kv-cache", args->options.kv_cache,
                  "KV-cache format bf16|fp8|int8 (default: the checkpoint's, else bf16)");
  cmd->add_option("--name", args->options.name, "model name (default: the folder's name)");
  cmd->add_option("--out", args->out, "model file to write (default: stdout)");
  cmd->callback([args] { run_import(*args); });
}

}  // namespace quadrant::cli
