// `quadrant calibrate ...`: the CPU half of calibration (no GPU needed).
//   fit PROFILES... --out MODEL [--folds K] [--validation PROFILES...] [--added PROFILES...]
//                                            [--test PROFILES...]
//                                            [--other-machine PROFILES...]
//                                            fit a cost model per op and format; prints the
//                                            held-out (and validation-set) error table
//   check --baseline A --candidate B         compare two profile sets (files or folders)
//                                            or two model files; exit 1 on a regression
//   table MODEL [--markdown]                 the held-out error table of a model file
//   links LINK_PROFILE --out MODEL           fit latency + bytes/bandwidth per link path
//   error MODEL PROFILES... [--derive-to GPU --catalog FILE] [--ceilings FILE]
//                                            the model's error on measured profiles (e.g.
//                                            an H100 model derived to the H200, against
//                                            the H200's own profiles)
//   borrow MODEL --from OTHER --out FILE [--catalog FILE]
//                                            OTHER's components derived to MODEL's GPU
//                                            where they predict MODEL's validation
//                                            profiles better (borrow_components)
// The simulator loads model files through the CostModel seam (calibrated_cost_model.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <map>

#include "calibration/calibrated_cost_model.h"
#include "calibration/features.h"
#include "calibration/fit.h"
#include "calibration/json_path.h"
#include "calibration/link_model.h"
#include "calibration/regression_check.h"
#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/io/scenario_io.h"

namespace quadrant::cli {

namespace {

bool is_model_file(const std::string& path) {
  if (path.size() < 5 || path.substr(path.size() - 5) != ".json") return false;
  calibration::Json j = calibration::load_json(path);
  return j.is_object() && j.value("kind", "") == "quadrant-cost-model";
}

struct CalibrateFitOptions {
  std::vector<std::string> profiles;
  std::string out;
  int folds = 5;
  std::vector<std::string> validation, test, other_machine;
  std::vector<std::string> added;
  std::string ceilings, lt_plans;
  int worst = 0;
};

struct CalibrateCheckOptions {
  std::vector<std::string> baseline, candidate;
  int worst = 10;
};

struct CalibrateTableOptions {
  std::string model;
  bool markdown = false;
};

struct CalibrateLinksOptions {
  std::string profile, out;
};

struct CalibrateCountersOptions {
  std::vector<std::string> profiles;
  bool shapes = false, markdown = false;
};

struct CalibrateBorrowOptions {
  std::string model, from, out, catalog = "scenarios/hardware/catalog.json";
};

struct CalibrateErrorOptions {
  std::string model, derive_to, ceilings, catalog = "scenarios/hardware/catalog.json";
  std::vector<std::string> profiles;
  bool record = false;
  int worst = 0;
};

}  // namespace

void add_calibrate_error_command(CLI::App* cal);
void add_calibrate_borrow_command(CLI::App* cal);
void add_calibrate_counters_command(CLI::App* cal);
void add_calibrate_engine_command(CLI::App* cal);  // engine_command.cc

void add_calibrate_command(CLI::App& app) {
  auto* cal = app.add_subcommand("calibrate", "Fit, check and inspect calibrated cost models");
  cal->require_subcommand(1);

  auto o = std::make_shared<CalibrateFitOptions>();
  auto* fit = cal->add_subcommand("fit", "Fit cost models from profiles (files or folders)");
  fit->add_option("profiles", o->profiles, "profile files or folders of one GPU")->required();
  fit->add_option("--out", o->out, "model file to write (calibration/models/<gpu>.json)")
      ->required();
  fit->add_option("--folds", o->folds, "folds of the held-out error (k-fold)")
      ->check(CLI::Range(2, 100));
  fit->add_option("--validation", o->validation,
                  "validation profiles: never fitted on; their error is stored in the model")
      ->expected(1, -1);
  fit->add_option("--added", o->added,
                  "added fitting profiles (active sampling): with --validation, kept per op only "
                  "where they lower its validation error")
      ->expected(1, -1);
  fit->add_option("--test", o->test,
                  "test profiles: never fitted on nor used for any choice; their error is stored "
                  "in the model and widens the band where it exceeds the validation error")
      ->expected(1, -1);
  fit->add_option("--other-machine", o->other_machine,
                  "the validation shapes measured on other machines of the same GPU kind: never "
                  "fitted on nor used for any choice; their error is stored in the model and "
                  "widens the band where it exceeds the validation and test errors")
      ->expected(1, -1);
  fit->add_option("--lt-plans", o->lt_plans,
                  "the GPU's recorded cuBLASLt plans (calibration/plans/<gpu>-cublaslt.json): "
                  "the dense GEMM's launch plan");
  fit->add_option("--ceilings", o->ceilings,
                  "also write the validation ceilings a refit may not exceed (CI reads them)");
  fit->add_option("--worst", o->worst, "also list each op's N worst held-out shapes")
      ->check(CLI::Range(0, 1000));
  fit->callback([o] {
    calibration::ModelFile m =
        calibration::fit_profiles(o->profiles, o->folds, o->validation, o->added, o->lt_plans);
    if (!o->test.empty()) calibration::record_test_error(m, o->test);
    if (!o->other_machine.empty()) calibration::record_other_machine_error(m, o->other_machine);
    // The serving-engine terms (calibrate engine) are measured apart: a refit keeps them.
    if (std::filesystem::exists(o->out) && is_model_file(o->out)) {
      m.engine = calibration::read_model(o->out).engine;
      if (!m.engine.empty())
        std::printf("kept the %zu engine entries of %s\n", m.engine.size(), o->out.c_str());
    }
    calibration::save_text(o->out, calibration::model_to_json(m));
    std::printf("fitted %zu components for %s from %zu profiles -> %s\n", m.components.size(),
                m.gpu.c_str(), m.profiles.size(), o->out.c_str());
    std::fputs(calibration::error_table(m, false).c_str(), stdout);
    for (const calibration::UnfittedKernel& u : m.unfitted)
      std::printf(
          "no model of %s%s/%s: %d profiled shapes, at least 4 needed (its shapes are "
          "answered by the nearest variant's model, as an extrapolation)\n",
          u.component.c_str(), u.variant.empty() ? "" : ("[" + u.variant + "]").c_str(),
          u.format.c_str(), u.shapes);
    if (!o->ceilings.empty()) {
      if (m.validation_profiles.empty())
        throw InputError("", "--ceilings", "needs --validation profiles to set ceilings from");
      calibration::save_text(o->ceilings, calibration::validation_ceilings_json(m));
    }
    for (const auto& c : m.components) {
      const size_t n = std::min(c.heldout_by_shape.size(), static_cast<size_t>(o->worst));
      for (size_t i = 0; i < n; ++i)
        std::printf("  worst %-18s %6.1f%%  %s\n", c.component.c_str(),
                    100 * c.heldout_by_shape[i].second, c.heldout_by_shape[i].first.c_str());
    }
  });

  auto c = std::make_shared<CalibrateCheckOptions>();
  auto* check = cal->add_subcommand(
      "check", "Compare a candidate calibration with a baseline; exit 1 on a regression");
  check->add_option("--baseline", c->baseline, "profile files/folders, or one model file")
      ->required();
  check->add_option("--candidate", c->candidate, "profile files/folders, or one model file")
      ->required();
  check->add_option("--worst", c->worst, "rows of the worst-shapes table");
  check->callback([c] {
    calibration::CheckReport r;
    const bool models = c->baseline.size() == 1 && c->candidate.size() == 1 &&
                        is_model_file(c->baseline[0]) && is_model_file(c->candidate[0]);
    if (models)
      r = calibration::check_models(c->baseline[0], c->candidate[0]);
    else
      r = calibration::check_profiles(calibration::read_profiles(c->baseline),
                                      calibration::read_profiles(c->candidate));
    std::fputs(calibration::format_report(r, c->worst).c_str(), stdout);
    if (r.failed) throw CLI::RuntimeError(1);  // a regression: exit 1 (sim/cli/commands.h)
  });

  auto t = std::make_shared<CalibrateTableOptions>();
  auto* table = cal->add_subcommand("table", "Print a model file's held-out error table");
  table->add_option("model", t->model, "model file")->required();
  table->add_flag("--markdown", t->markdown, "as a Markdown table");
  table->callback([t] {
    std::fputs(calibration::error_table(calibration::read_model(t->model), t->markdown).c_str(),
               stdout);
  });

  auto lo = std::make_shared<CalibrateLinksOptions>();
  auto* links = cal->add_subcommand("links", "Fit the link model (latency + bytes/bandwidth)");
  links->add_option("profile", lo->profile, "link profile file")->required();
  links->add_option("--out", lo->out, "link model file to write")->required();
  links->callback([lo] {
    auto fitted = calibration::fit_link_profile(lo->profile);
    calibration::save_text(lo->out, calibration::links_to_json(fitted, lo->profile));
    for (const auto& l : fitted)
      std::printf("%-12s latency %.2f us, bandwidth %.1f GB/s, held-out median %.1f%% P95 %.1f%%\n",
                  l.path.c_str(), l.latency.to_micros(), l.bandwidth.value() / 1e9,
                  100 * l.heldout.median, 100 * l.heldout.p95);
  });
  add_calibrate_error_command(cal);
  add_calibrate_borrow_command(cal);
  add_calibrate_counters_command(cal);
  add_calibrate_engine_command(cal);
}

// The hardware counters of profiled shapes beside their times: DRAM bytes against the
// bytes the op must move (re-reads show as a ratio above 1), achieved bandwidth (DRAM
// bytes over the timed median) and tensor-pipe activity.
void add_calibrate_counters_command(CLI::App* cal) {
  auto o = std::make_shared<CalibrateCountersOptions>();
  auto* cmd = cal->add_subcommand(
      "counters", "Hardware counters of profiled shapes: DRAM bytes, bandwidth, tensor activity");
  cmd->add_option("profiles", o->profiles, "profile files or folders")->required();
  cmd->add_flag("--shapes", o->shapes, "one line per shape, not per op and format");
  cmd->add_flag("--markdown", o->markdown, "as a Markdown table");
  cmd->callback([o] {
    struct Row {
      std::vector<double> ratio, tbps, tensor, flops_rate;
    };
    std::map<std::pair<std::string, std::string>, Row> rows;
    const char* sep = o->markdown ? " | " : "  ";
    auto median = [](std::vector<double> v) {
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    };
    auto max_of = [](const std::vector<double>& v) {
      return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
    };
    size_t uncounted = 0;
    for (const calibration::Profile& p : calibration::read_profiles(o->profiles))
      for (const calibration::ProfileShape& s : p.shapes) {
        auto read = s.metrics.find("dram_bytes_read");
        auto write = s.metrics.find("dram_bytes_write");
        if (read == s.metrics.end() || write == s.metrics.end() || s.median_ns <= 0) {
          ++uncounted;
          continue;
        }
        const double dram = read->second + write->second;
        Row& r = rows[{p.quadrant, s.format}];
        r.ratio.push_back(s.bytes > 0 ? dram / s.bytes : 0);
        r.tbps.push_back(dram / s.median_ns / 1e3);
        r.flops_rate.push_back(s.flops / s.median_ns / 1e3);
        auto t = s.metrics.find("tensor_active_pct");
        if (t != s.metrics.end()) r.tensor.push_back(t->second);
        if (o->shapes)
          std::printf(
              "%-18s%s%-8.1f us%s%6.2fx DRAM/counted%s%6.3f TB/s%s%7.1f TFLOP/s%s%5.1f%% "
              "tensor%s%s\n",
              p.quadrant.c_str(), sep, s.median_ns / 1e3, sep, r.ratio.back(), sep, r.tbps.back(),
              sep, r.flops_rate.back(), sep, t != s.metrics.end() ? t->second : 0.0, sep,
              calibration::shape_key(s).c_str());
      }
    if (!o->shapes) {
      if (o->markdown)
        std::printf(
            "| op | format | shapes | DRAM / counted bytes (median) | TB/s median / max | "
            "TFLOP/s median / max | tensor active %% median / max |\n"
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
      else
        std::printf("%-18s %-5s %6s %10s %17s %19s %17s\n", "op", "fmt", "shapes", "DRAM/cnt",
                    "TB/s med/max", "TFLOP/s med/max", "tensor% med/max");
      for (const auto& [key, r] : rows) {
        if (o->markdown)
          std::printf("| %s | %s | %zu | %.2f | %.2f / %.2f | %.0f / %.0f | %.1f / %.1f |\n",
                      key.first.c_str(), key.second.c_str(), r.ratio.size(), median(r.ratio),
                      median(r.tbps), max_of(r.tbps), median(r.flops_rate), max_of(r.flops_rate),
                      median(r.tensor), max_of(r.tensor));
        else
          std::printf("%-18s %-5s %6zu %10.2f %8.2f / %6.2f %9.0f / %7.0f %8.1f / %6.1f\n",
                      key.first.c_str(), key.second.c_str(), r.ratio.size(), median(r.ratio),
                      median(r.tbps), max_of(r.tbps), median(r.flops_rate), max_of(r.flops_rate),
                      median(r.tensor), max_of(r.tensor));
      }
    }
    if (uncounted) std::printf("(%zu shapes without counters)\n", uncounted);
  });
}

void add_calibrate_error_command(CLI::App* cal) {
  auto o = std::make_shared<CalibrateErrorOptions>();
  auto* err = cal->add_subcommand("error", "A model's error on measured profiles");
  err->add_option("model", o->model, "model file")->required();
  err->add_option("profiles", o->profiles, "profile files or folders")->required();
  err->add_option("--derive-to", o->derive_to, "derive the model to this catalog GPU first");
  err->add_option("--catalog", o->catalog, "hardware catalog (for --derive-to)");
  err->add_flag("--record", o->record,
                "with --derive-to: write the derived error into MODEL (each component's "
                "\"derived\" field), the band derived predictions then carry");
  err->add_option("--worst", o->worst, "also list each op's N worst shapes")
      ->check(CLI::Range(0, 1000));
  err->add_option("--ceilings", o->ceilings,
                  "also write these errors as ceilings a later model may not exceed (a test set "
                  "that chose nothing; CI reads them)");
  err->callback([o] {
    auto model = calibration::CalibratedCostModel::load(o->model);
    if (!o->derive_to.empty()) {
      HardwareCatalog catalog = load_catalog(o->catalog);
      const GpuSpec* from = catalog.find(model->gpu());
      const GpuSpec* to = catalog.find(o->derive_to);
      if (!from) throw InputError(o->catalog, "gpus", "no GPU \"" + model->gpu() + "\"");
      if (!to) throw InputError(o->catalog, "gpus", "no GPU \"" + o->derive_to + "\"");
      model = calibration::CalibratedCostModel::derive(*model, *from, *to);
    }
    std::printf("%s%s on measured profiles\n%-28s %-5s %6s %8s %8s\n", model->describe().c_str(),
                o->derive_to.empty() ? "" : " (derived)", "op", "fmt", "shapes", "median", "P95");
    const std::vector<calibration::ProfileError> rows =
        calibration::error_on_profiles(model->model(), o->profiles);
    if (!o->ceilings.empty())
      calibration::save_text(o->ceilings,
                             calibration::test_set_ceilings_json(model->gpu(), o->profiles, rows));
    if (o->record) {
      if (o->derive_to.empty())
        throw InputError("", "--record", "needs --derive-to (it records the derived error)");
      calibration::ModelFile base = calibration::read_model(o->model);
      int recorded = 0;
      for (calibration::ComponentModel& c : base.components) {
        // A component borrowed from another GPU keeps the derived error calibrate borrow
        // measured (its derivation to this GPU); derived back to its own GPU it measures none.
        if (!c.derived_from.empty()) continue;
        c.derived = {};
        c.derived_to.clear();
        for (const calibration::ProfileError& r : rows)
          if (r.answered_by.empty() && r.component == c.component && r.format == c.format &&
              r.variant == c.variant) {
            c.derived = r.stats;
            c.derived_to = o->derive_to;
            ++recorded;
          }
      }
      calibration::save_text(o->model, calibration::model_to_json(base));
      std::printf("recorded the derived error of %d components in %s\n", recorded,
                  o->model.c_str());
    }
    for (const calibration::ProfileError& r : rows) {
      const std::string op = r.variant.empty() ? r.component : r.component + "[" + r.variant + "]";
      std::printf("%-28s %-5s %6d %7.1f%% %7.1f%%%s\n", op.c_str(), r.format.c_str(), r.stats.count,
                  100 * r.stats.median, 100 * r.stats.p95,
                  r.answered_by.empty() ? "" : ("  (no model: " + r.answered_by + "'s)").c_str());
      for (size_t i = 0; i < std::min(r.by_shape.size(), static_cast<size_t>(o->worst)); ++i)
        std::printf("  worst %+6.1f%%  %s\n", 100 * r.by_shape[i].second,
                    r.by_shape[i].first.c_str());
    }
  });
}

void add_calibrate_borrow_command(CLI::App* cal) {
  auto o = std::make_shared<CalibrateBorrowOptions>();
  auto* cmd = cal->add_subcommand(
      "borrow",
      "Another GPU's components, derived to this model's GPU, where they predict its "
      "validation profiles better");
  cmd->add_option("model", o->model, "model file (fitted with --validation)")->required();
  cmd->add_option("--from", o->from, "the other GPU's model file")->required();
  cmd->add_option("--out", o->out, "the model file to write (may be MODEL)")->required();
  cmd->add_option("--catalog", o->catalog, "hardware catalog (the datasheet ratios)");
  cmd->callback([o] {
    calibration::ModelFile m = calibration::read_model(o->model);
    auto other = calibration::CalibratedCostModel::load(o->from);
    if (other->gpu() == m.gpu)
      throw InputError(o->from, "gpu", "another GPU's model, not a second " + m.gpu + " one");
    for (const calibration::ComponentModel& c : other->model().components)
      if (!c.derived_from.empty())
        throw InputError(o->from, "components",
                         "a model fitted on its own GPU, not one that borrows (" + c.component +
                             "/" + c.format + " is derived from " + c.derived_from + ")");
    HardwareCatalog catalog = load_catalog(o->catalog);
    const GpuSpec* from = catalog.find(other->gpu());
    const GpuSpec* to = catalog.find(m.gpu);
    if (!from) throw InputError(o->catalog, "gpus", "no GPU \"" + other->gpu() + "\"");
    if (!to) throw InputError(o->catalog, "gpus", "no GPU \"" + m.gpu + "\"");
    auto derived = calibration::CalibratedCostModel::derive(*other, *from, *to);
    const std::string label = other->gpu() + " (" + o->from + ")";
    const std::vector<calibration::BorrowDecision> decisions =
        calibration::borrow_components(m, derived->model(), label);
    std::printf("%s: validation error of its own answer against %s's component derived to it\n",
                o->model.c_str(), other->gpu().c_str());
    std::printf("%-28s %-5s %6s %17s %17s  %s\n", "op", "fmt", "shapes", "own med / P95",
                "derived med / P95", "kept");
    int borrowed = 0;
    for (const calibration::BorrowDecision& d : decisions) {
      const std::string op = d.variant.empty() ? d.component : d.component + "[" + d.variant + "]";
      char own[40], theirs[40];
      std::snprintf(own, sizeof own, "%.1f%% / %.1f%%", 100 * d.own.median, 100 * d.own.p95);
      std::snprintf(theirs, sizeof theirs, "%.1f%% / %.1f%%", 100 * d.other.median,
                    100 * d.other.p95);
      std::printf("%-28s %-5s %6d %17s %17s  %s%s\n", op.c_str(), d.format.c_str(), d.other.count,
                  d.own.count > 0 ? own : "-", theirs, d.borrowed ? "derived" : "own",
                  d.own_answered_by.empty() ? "" : (" (own: " + d.own_answered_by + "'s)").c_str());
      borrowed += d.borrowed;
    }
    calibration::save_text(o->out, calibration::model_to_json(m));
    std::printf("%d of %zu components derived from %s; wrote %s\n", borrowed, decisions.size(),
                other->gpu().c_str(), o->out.c_str());
  });
}

}  // namespace quadrant::cli
