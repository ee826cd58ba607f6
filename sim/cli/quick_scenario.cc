#include "sim/cli/quick_scenario.h"

#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "sim/core/error.h"
#include "sim/io/json_reader.h"
#include "sim/io/model_import.h"
#include "sim/io/scenario_io.h"
#include "sim/io/unit_parse.h"

namespace quadrant::cli {

namespace {

namespace fs = std::filesystem;
using io::Json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string absolute(const fs::path& base_dir, const std::string& p) {
  return fs::absolute(base_dir / p).lexically_normal().string();
}

// File references of the base document made absolute, so that the written scenario
// loads from any folder: section includes, and the keys that name files.
void absolutize(Json& j, const fs::path& base_dir, bool top) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    Json& v = it.value();
    const std::string& k = it.key();
    if (v.is_string() &&
        (k == "include" || k == "file" || k == "calibrated" ||
         (top && (k == "model" || k == "hardware" || k == "workload" || k == "cluster" ||
                  k == "slo" || k == "serving" || k == "search" || k == "costs")))) {
      v = absolute(base_dir, v.get<std::string>());
    } else if (v.is_object()) {
      absolutize(v, base_dir, false);
    }
  }
}

// A Hugging Face config (a folder with config.json, or a JSON with num_hidden_layers).
bool is_hf_config(const fs::path& p) {
  if (fs::is_directory(p)) return fs::exists(p / "config.json");
  if (!fs::is_regular_file(p)) return false;
  try {
    const Json j = io::load_json_file(p.string());
    return j.is_object() && (j.contains("num_hidden_layers") || j.contains("text_config"));
  } catch (const InputError&) {
    return false;
  }
}

// The model section: a model file, a Hugging Face config imported on the way, or a
// catalog model (scenarios/models/) by file stem or name, case-insensitive.
Json model_section(const std::string& model, const fs::path& base_dir) {
  const fs::path p(model);
  if (is_hf_config(p)) {
    return io::import_hf_model(model, {}).model;
  }
  if (fs::is_regular_file(p)) return fs::absolute(p).lexically_normal().string();
  const fs::path models = base_dir / "models";
  std::vector<std::string> names;
  if (fs::is_directory(models)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(models))
      if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      std::string name;
      try {
        const Json j = io::load_json_file(f.string());
        name = j.value("name", "");
      } catch (const InputError&) {
      }
      if (lower(f.stem().string()) == lower(model) || lower(name) == lower(model))
        return fs::absolute(f).lexically_normal().string();
      names.push_back(f.stem().string());
    }
  }
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  throw InputError("", "--model",
                   "expected a model file, a Hugging Face config.json or model folder, or a "
                   "catalog model (" +
                       list + "), got \"" + model + "\"");
}

// "H100,H20" against the catalog: exact names, else case-insensitive, else a unique prefix.
std::vector<std::string> resolve_gpus(const std::string& list, const HardwareCatalog& catalog) {
  std::vector<std::string> out;
  std::string all;
  for (const auto& [name, g] : catalog.gpus) all += (all.empty() ? "" : ", ") + name;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    std::string want =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? list.size() + 1 : comma + 1;
    if (want.empty()) continue;
    std::vector<std::string> hits;
    for (const auto& [name, g] : catalog.gpus)
      if (name == want || lower(name) == lower(want)) hits = {name};
    if (hits.empty())
      for (const auto& [name, g] : catalog.gpus)
        if (lower(name).rfind(lower(want), 0) == 0) hits.push_back(name);
    if (hits.size() != 1)
      throw InputError("", "--gpus",
                       "expected GPU types of the catalog (" + all + "), got \"" + want + "\"" +
                           (hits.size() > 1 ? " (ambiguous)" : ""));
    if (std::find(out.begin(), out.end(), hits[0]) == out.end()) out.push_back(hits[0]);
  }
  if (out.empty()) throw InputError("", "--gpus", "expected at least one GPU type, got none");
  return out;
}

}  // namespace

std::string default_scenario_path() {
  if (const char* dir = std::getenv("QUADRANT_SCENARIOS"); dir && *dir)
    return (fs::path(dir) / "default.json").string();
  const fs::path here = fs::path("scenarios") / "default.json";
  if (fs::exists(here)) return here.string();
  return (fs::path(QUADRANT_SOURCE_DIR) / "scenarios" / "default.json").string();
}

std::string write_quick_scenario(const std::string& base, const QuickFlags& f) {
  const Scenario s = load_scenario(base);  // the base must be valid on its own
  Json doc = io::load_json_file(base);
  const fs::path base_dir = fs::path(base).parent_path();
  absolutize(doc, base_dir, true);
  doc["name"] = doc.value("name", std::string("scenario")) + " (command-line flags)";
  if (!f.model.empty()) {
    doc["model"] = model_section(f.model, base_dir);
    doc["name"] = "quick plan: " + (doc["model"].is_object() ? doc["model"].value("name", f.model)
                                                             : fs::path(f.model).stem().string());
  }
  if (f.rate < 0 || !std::isfinite(f.rate))
    throw InputError("", "--rate",
                     "expected a positive rate in req/s, got " + std::to_string(f.rate));
  if (f.rate > 0) {
    const ArrivalProcess p = s.workload.arrival.process;
    if (p == ArrivalProcess::kPoisson || p == ArrivalProcess::kGamma ||
        p == ArrivalProcess::kDeterministic) {
      Json& w = doc["workload"];
      if (w.is_string()) w = Json{{"include", w.get<std::string>()}};
      w["arrival"]["rate"] = f.rate;
    }
    doc["search"]["target_rate"] = f.rate;
  }
  for (const auto& [flag, value] : {std::pair{"--ttft", f.ttft}, std::pair{"--tpot", f.tpot}})
    if (!value.empty() && !io::parse_duration(value))
      throw InputError("", flag,
                       "expected a duration with its unit (" + std::string(io::duration_units()) +
                           "), e.g. 2s or 80ms, got \"" + value + "\"");
  Json& slo = doc["slo"];
  if (slo.is_string()) slo = Json{{"include", slo.get<std::string>()}};
  if (!f.ttft.empty()) slo["ttft"] = f.ttft;
  if (!f.tpot.empty()) slo["tpot"] = f.tpot;
  if (!f.gpus.empty()) {
    const std::vector<std::string> gpus = resolve_gpus(f.gpus, s.catalog);
    doc["search"]["prefill_gpus"] = gpus;
    doc["search"]["decode_gpus"] = gpus;
    doc["serving"]["prefill"]["gpu"] = gpus.front();
    doc["serving"]["decode"]["gpu"] = gpus.back();
    if (doc["serving"].contains("colocated")) doc["serving"]["colocated"]["gpu"] = gpus.front();
  }
  if (f.headroom >= 0) doc["search"]["headroom"] = f.headroom;
  if (f.n_plus_one) doc["search"]["n_plus_one"] = true;
  const fs::path out =
      fs::temp_directory_path() / ("quadrant-plan-flags-" + std::to_string(::getpid()) + ".json");
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  o << doc.dump(2) << "\n";
  o.close();
  if (!o) throw InputError(out.string(), "", "cannot write");
  return out.string();
}

std::string next_run_folder(const std::string& stem) {
  std::string clean;
  for (char c : lower(stem)) clean += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  for (int k = 1;; ++k) {
    const std::string name = "plan-" + clean + "-" + std::to_string(k);
    if (!fs::exists(name)) return name;
  }
}

}  // namespace quadrant::cli
