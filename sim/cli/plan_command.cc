// `quadrant plan SCENARIO [--out DIR] [--threads N]`: search the scenario's `search`
// space for the cheapest cluster that meets its SLOs and write the report (report.html,
// report.md, results.json, candidates.csv) into DIR. Progress goes to stderr; the
// report's path is the one line on stdout.
//
// Built with MPI, `mpirun -np N quadrant plan ...` spreads each round of simulations
// over the ranks; rank 0 writes the report, byte-identical to a single-process run.
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "reports/deploy.h"
#include "reports/report.h"
#include "sim/cli/commands.h"
#include "sim/cli/cost_models.h"
#include "sim/cli/plan_summary.h"
#include "sim/cli/quick_scenario.h"
#include "sim/cli/task_codec.h"
#include "sim/core/error.h"
#include "sim/cost/cost_band.h"
#include "sim/io/output_dir.h"
#include "sim/io/scenario_io.h"
#include "sim/planner/planner.h"

#ifdef QUADRANT_HAVE_MPI
#include <mpi.h>
#endif

namespace quadrant::cli {

namespace {

#ifdef QUADRANT_HAVE_MPI
// Each rank runs the tasks i with i % size == rank (on its own threads), then every
// rank receives every result, so that all ranks take the same next decisions.
class MpiRunner : public planner::TaskRunner {
 public:
  MpiRunner(int rank, int size, int threads)
      : rank_(rank), size_(size), local_(planner::thread_runner(threads)) {}
  std::vector<planner::TaskResult> run(
      size_t count, const std::function<planner::TaskResult(size_t)>& task) override {
    std::vector<size_t> mine;
    for (size_t i = static_cast<size_t>(rank_); i < count; i += static_cast<size_t>(size_))
      mine.push_back(i);
    const std::vector<planner::TaskResult> done =
        local_->run(mine.size(), [&](size_t k) { return task(mine[k]); });
    // Pack this rank's results as "<index>\n<length>\n<bytes>" records.
    std::string packed;
    for (size_t k = 0; k < mine.size(); ++k) {
      const std::string bytes = encode_task_result(done[k]);
      packed += std::to_string(mine[k]) + "\n" + std::to_string(bytes.size()) + "\n" + bytes;
    }
    int length = static_cast<int>(packed.size());
    std::vector<int> lengths(size_);
    MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD);
    std::vector<int> offsets(size_, 0);
    for (int r = 1; r < size_; ++r) offsets[r] = offsets[r - 1] + lengths[r - 1];
    std::string all(static_cast<size_t>(offsets[size_ - 1] + lengths[size_ - 1]), '\0');
    MPI_Allgatherv(packed.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(),
                   MPI_CHAR, MPI_COMM_WORLD);
    std::vector<planner::TaskResult> out(count);
    size_t pos = 0;
    while (pos < all.size()) {
      const size_t a = all.find('\n', pos);
      const size_t index = std::stoull(all.substr(pos, a - pos));
      const size_t b = all.find('\n', a + 1);
      const size_t n = std::stoull(all.substr(a + 1, b - a - 1));
      out[index] = decode_task_result(std::string_view(all).substr(b + 1, n));
      pos = b + 1 + n;
    }
    return out;
  }

 private:
  int rank_, size_;
  std::unique_ptr<planner::TaskRunner> local_;
};

// MPI is initialised only when the program runs under mpirun (Open MPI sets these).
bool under_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}
#endif

// "deepseek-v3" for models/deepseek-v3.json, hf/deepseek-v3/ and hf/deepseek-v3/config.json.
std::string run_name(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  if (p.filename() == "config.json") p = p.parent_path();
  return p.extension() == ".json" ? p.stem().string() : p.filename().string();
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct PlanOptions {
  std::string scenario;  // empty: the shipped default
  std::string out;       // empty: a new plan-<name>-<k> folder
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool quiet = false;
  QuickFlags quick;  // flags that build the scenario over `scenario`
};

// What the cost models say about the shapes of the recommended cluster's pools: what a
// pool's model knows it does not describe, named extrapolations, and disagreement with the
// roofline beyond the band.
std::vector<std::string> cost_notes(const planner::PlanCandidate& c, const Scenario& s,
                                    const CostModels& models, const CostModels& roofline) {
  std::vector<std::string> notes;
  std::vector<const planner::RoleConfig*> roles;
  if (c.mode == ServingMode::kColocated) {
    roles = {&c.colocated};
  } else {
    roles = {&c.prefill, &c.decode};
  }
  for (const planner::RoleConfig* role : roles) {
    const auto m = models.find(role->gpu);
    if (m == models.end()) continue;
    const auto ref = roofline.find(role->gpu);
    const CostModel* reference =
        ref != roofline.end() && ref->second != m->second ? ref->second.get() : nullptr;
    for (const std::string& caveat : m->second->caveats())
      if (std::find(notes.begin(), notes.end(), caveat) == notes.end()) notes.push_back(caveat);
    for (const QuadrantCheck& q : check_quadrants(*m->second, reference, s.model, role->layout)) {
      const std::string where = role->label() + ", " + to_string(q.quadrant) + " (" + q.shape + ")";
      if (q.estimate.extrapolated)
        notes.push_back(where + ": extrapolated: " + q.estimate.extrapolation);
      if (q.disagrees()) {
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      ": %s %.3g ms against the roofline's %.3g ms (%+.0f%%), beyond its band "
                      "of +-%.0f%%",
                      to_string(q.estimate.provenance), q.estimate.mean.to_seconds() * 1e3,
                      q.reference.to_seconds() * 1e3,
                      100 * (q.estimate.mean.to_seconds() / q.reference.to_seconds() - 1),
                      100 * kBandZ * q.band());
        notes.push_back(where + buf);
      }
    }
  }
  return notes;
}

void run_plan(const PlanOptions& a) {
  const int threads = a.threads;
  if (threads < 1) throw InputError("", "--threads", "expected a positive number of threads");
  // Flags build the scenario over the given one (or the shipped default), written beside
  // the report; a run without --out gets a new folder.
  const QuickFlags& quick = a.quick;
  const std::string scenario_path = a.scenario.empty() ? default_scenario_path() : a.scenario;
  const std::string out_dir =
      a.out.empty() ? next_run_folder(run_name(quick.model.empty() ? scenario_path : quick.model))
                    : a.out;
  std::string quick_text;
  Scenario s;
  if (quick.any()) {
    const std::string tmp = write_quick_scenario(scenario_path, quick);
    quick_text = read_text(tmp);
    try {
      s = load_scenario(tmp);
    } catch (...) {
      std::filesystem::remove(tmp);
      throw;
    }
    std::filesystem::remove(tmp);
    s.file = (std::filesystem::path(out_dir) / "scenario.json").string();
  } else {
    s = load_scenario(scenario_path);
  }
  planner::PlanOptions o;
  o.threads = threads;
  // A progress bar only on a terminal: logs get no carriage-return frames.
  o.progress = a.quiet || !isatty(STDERR_FILENO) ? nullptr : &std::cerr;
  int rank = 0;
#ifdef QUADRANT_HAVE_MPI
  std::unique_ptr<MpiRunner> mpi;
  bool mpi_started = false;
  if (under_mpirun()) {
    MPI_Init(nullptr, nullptr);
    mpi_started = true;
    int size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mpi = std::make_unique<MpiRunner>(rank, size, threads);
    o.runner = mpi.get();
    if (rank != 0) o.progress = nullptr;
  }
#endif
  // Rank 0 writes the report; its folder is checked before hours of planning.
  std::unique_ptr<io::OutputDir> out;
  if (rank == 0) out = std::make_unique<io::OutputDir>(out_dir, "--out", s.input_files, "plan");
  const CostModels models = cost_models_for(s);
  const CostModels roofline = roofline_cost_models(s);
  // "How sure": the recommended cluster again with every estimate at the pessimistic and
  // at the optimistic edge of its band.
  for (const double z : {kBandZ, -kBandZ}) {
    CostModels edge;
    for (const auto& [gpu, m] : models) edge[gpu] = std::make_shared<BandEdgeCostModel>(m, z);
    o.band_edges.emplace_back(z, planner::simulation_evaluator(edge));
  }
  // Pruning bounds on the costs the simulation runs on (calibrated ones where it has them).
  o.bound = planner::cost_model_bound(models);
  o.bound_description =
      "each GPU type's cost model as the simulations run it (kernel means; the roofline where "
      "they run on it), without communication";
  planner::PlanResult r = planner::plan(s, planner::simulation_evaluator(models), o);
  if (r.recommended >= 0)
    r.cost_notes = cost_notes(r.candidates[r.recommended], s, models, roofline);
  if (rank == 0) {
    reports::add_report(r, *out);
    if (r.recommended >= 0)
      for (const reports::DeployFile& f : reports::deploy_files(reports::deploy_plan(r)))
        out->write("deploy/" + f.name, f.text, f.executable);
    if (!quick_text.empty()) out->write("scenario.json", quick_text);
    const std::string html = (std::filesystem::path(out->commit()) / "report.html").string();
    if (r.recommended < 0)
      std::fprintf(stderr, "plan: no candidate met the SLOs; see the report\n");
    if (!a.quiet) print_plan_summary(r, out_dir, stderr);
    std::printf("%s\n", html.c_str());
  }
#ifdef QUADRANT_HAVE_MPI
  if (mpi_started) MPI_Finalize();
#endif
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  auto* cmd = app.add_subcommand("plan",
                                 "Search layouts, GPU types and the P:D ratio for the "
                                 "cheapest cluster within the SLOs; write the report");
  cmd->add_option("scenario", o->scenario,
                  "Scenario file (JSON); default: the shipped default, changed by the flags below");
  cmd->add_option("--out", o->out,
                  "Folder for report.html, report.md, results.json, candidates.csv, charts/, "
                  "deploy/ (default: a new plan-<name>-<k> folder)");
  cmd->add_option("--model", o->quick.model,
                  "Model: a model file, a Hugging Face config.json or folder, or a catalog name");
  cmd->add_option("--rate", o->quick.rate, "Target arrival rate, req/s");
  cmd->add_option("--ttft", o->quick.ttft, "TTFT SLO, e.g. 2s");
  cmd->add_option("--tpot", o->quick.tpot, "TPOT SLO, e.g. 80ms");
  cmd->add_option("--gpus", o->quick.gpus, "GPU types both pools may use, e.g. H100,H20");
  cmd->add_option("--headroom", o->quick.headroom,
                  "Load margin the plan must hold, e.g. 0.1 for 10% (default: the scenario's)");
  cmd->add_flag("--n-plus-one", o->quick.n_plus_one,
                "The SLOs must hold with one instance of each pool down");
  cmd->add_option("--threads", o->threads, "Simulations run at once (results do not depend on it)")
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "No progress bar on stderr");
  cmd->callback([o] { run_plan(*o); });
}

}  // namespace quadrant::cli
