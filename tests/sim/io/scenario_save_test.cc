// save_scenario (sim/io/scenario_io.h): load -> save -> load gives an equal Scenario for
// every shipped scenario, the identical-check variants and every fuzz-corpus case that
// loads; dimensional values are written with units and parse back exactly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/core/error.h"
#include "sim/io/scenario_io.h"
#include "sim/io/schema.h"
#include "sim/io/unit_parse.h"

namespace quadrant {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path work_dir() {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-scenario-save-test-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// What load_scenario fills from the text alone: the file it came from and the files it
// read are the saved copy's own, and a path is compared by where it leads.
Scenario comparable(Scenario s) {
  s.file.clear();
  s.input_files.clear();
  auto canonical = [](std::string& p) {
    if (!p.empty()) p = fs::weakly_canonical(p).string();
  };
  canonical(s.workload.arrival.trace_file);
  for (auto& [name, gpu] : s.catalog.gpus) canonical(gpu.calibrated);
  return s;
}

// Saves `s` into `dir`, loads it back, and checks that nothing changed and that saving
// again writes the same text.
void expect_round_trip(const Scenario& s, const fs::path& dir, const std::string& what) {
  const fs::path saved = dir / "saved.json";
  fs::remove(saved);
  save_scenario(s, saved.string());
  Scenario back;
  try {
    back = load_scenario(saved.string());
  } catch (const InputError& e) {
    ADD_FAILURE() << what << ": the saved scenario does not load: " << e.what() << "\n"
                  << slurp(saved);
    return;
  }
  EXPECT_TRUE(comparable(back) == comparable(s)) << what << " changed in the round trip:\n"
                                                 << slurp(saved);
  EXPECT_EQ(scenario_json(back, dir.string()), slurp(saved)) << what;
}

std::vector<fs::path> scenario_files() {
  std::vector<fs::path> files = {"scenarios/default.json"};
  for (const char* dir : {"scenarios/examples", "scenarios/bench", "tests/identical"})
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") files.push_back(e.path());
  return files;
}

// Values the shipped scenarios leave at their defaults.
Scenario non_default_scenario() {
  Scenario s = load_scenario("scenarios/default.json");
  s.serving.kv_block_size = 32;
  s.serving.kv_transfer_layerwise = true;
  s.serving.min_kv_fraction = 0.25;
  s.serving.prefill_routing = PrefillRouting::kRoundRobin;
  s.serving.decode_routing = DecodeRouting::kRoundRobin;
  s.serving.decode.kv_capacity_tokens = 123456;
  s.serving.speculative = {true, 5, 0.6, 0.125};
  s.serving.autoscaler.enabled = true;
  s.serving.autoscaler.interval = Duration::millis(2500);
  s.serving.autoscaler.low_watermark = 0.2;
  s.search.objective = Objective::kMaxGoodputPerDollar;
  s.search.budget_usd_per_hour = 1234.5;
  s.search.include_colocated = false;
  s.search.target_rate_per_s = 12.75;
  s.search.chunk_size = {1024, 4096};
  s.search.headroom = 0.25;
  s.search.n_plus_one = true;
  s.search.recommend = RecommendRule::kNominal;
  s.cluster.max_gpus["H100-SXM"] = 64;
  s.cluster.inter_node.latency = Duration::nanos(12'345);
  s.costs.usd_per_hour["H100-SXM"] = 2.345;
  s.slo.ttft_percentile = 95.5;
  s.workload.max_requests = 777;
  s.model.precision.kv_cache = NumberFormat::kFp8;
  s.workload.expert_popularity = {0.75, {5, 1, 3}};
  s.serving.decode.experts.redundant = 4;
  s.serving.prefill.dual_micro_batch = true;
  return s;
}

// Attention/FFN disaggregation on both pools (the shipped example has it on decode).
Scenario af_on_both_pools() {
  Scenario s = load_scenario("scenarios/examples/deepseek-v3-af-disaggregated.json");
  s.serving.prefill.layout = Layout{.tp = 2, .ep = 1, .pp = 1, .dp_attention = 4};
  s.serving.prefill.af = AfSpec{"H200", 8, 4};
  return s;
}

// The fuzz corpus's cases that load: edge values the shipped scenarios do not reach
// (rates near the limits, tiny bandwidths, Mooncake traces in ms, histograms).
std::vector<Scenario> loadable_fuzz_cases() {
  std::vector<Scenario> out;
  for (const auto& e : fs::directory_iterator("tests/fuzz/corpus")) {
    if (e.path().extension() != ".json") continue;
    try {
      out.push_back(load_scenario(e.path().string()));
    } catch (const InputError&) {
      // a case of bad input
    }
  }
  return out;
}

TEST(ScenarioSaveTest, EveryShippedScenarioRoundTrips) {
  const fs::path dir = work_dir() / "shipped";
  fs::create_directories(dir);
  const std::vector<fs::path> files = scenario_files();
  ASSERT_GE(files.size(), 10u);
  for (const fs::path& f : files) expect_round_trip(load_scenario(f.string()), dir, f.string());
}

TEST(ScenarioSaveTest, AttentionFfnDisaggregationRoundTrips) {
  const fs::path dir = work_dir() / "af";
  fs::create_directories(dir);
  expect_round_trip(af_on_both_pools(), dir, "af_on_both_pools");
}

TEST(ScenarioSaveTest, EveryLoadableFuzzCaseRoundTrips) {
  const fs::path dir = work_dir() / "fuzz";
  fs::create_directories(dir);
  const std::vector<Scenario> cases = loadable_fuzz_cases();
  EXPECT_GE(cases.size(), 5u);
  for (const Scenario& s : cases) expect_round_trip(s, dir, s.file);
}

TEST(ScenarioSaveTest, EveryModelKindRoundTrips) {
  // MLA (DeepSeek-V3), UltraMem and a dense-led MoE in the default scenario's place.
  const fs::path dir = work_dir() / "models";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator("scenarios/models")) {
    if (e.path().extension() != ".json") continue;
    Scenario s = load_scenario("scenarios/default.json");
    s.model = load_model(e.path().string());
    for (PoolSpec* p : {&s.serving.prefill, &s.serving.decode, &s.serving.colocated})
      p->layout = Layout{};  // one GPU: valid for any model
    expect_round_trip(s, dir, e.path().string());
  }
}

// Every declared field is written by some saved scenario (the text dropped on purpose
// aside), so a field added to the schema and the reader but not to the writer fails here.
TEST(ScenarioSaveTest, EveryDeclaredFieldIsWritten) {
  const fs::path dir = work_dir() / "fields";
  fs::create_directories(dir);
  std::set<std::string> written;
  std::function<void(const nlohmann::json&, const std::string&)> walk =
      [&](const nlohmann::json& j, const std::string& path) {
        if (!path.empty()) written.insert(path);
        if (j.is_object()) {
          const io::FieldDecl* d = io::find_field(path);
          const bool map = d && d->type == io::FieldType::kMap;
          for (const auto& [k, v] : j.items())
            walk(v, (path.empty() ? "" : path + ".") + (map ? "*" : k));
        } else if (j.is_array() && !j.empty() && j.front().is_object()) {
          for (const auto& v : j) walk(v, path + "[]");
        }
      };
  std::vector<Scenario> all;
  for (const fs::path& f : scenario_files()) all.push_back(load_scenario(f.string()));
  for (const auto& e : fs::directory_iterator("scenarios/models")) {
    if (e.path().extension() != ".json") continue;
    all.push_back(all.front());
    all.back().model = load_model(e.path().string());
  }
  all.push_back(non_default_scenario());
  all.push_back(af_on_both_pools());
  for (Scenario& s : loadable_fuzz_cases()) all.push_back(std::move(s));
  for (const Scenario& s : all) walk(nlohmann::json::parse(scenario_json(s, dir.string())), "");
  const std::set<std::string> dropped = {"description",
                                         "model.source",
                                         "model.notes",
                                         "model.sources",
                                         "model.sources.*",
                                         "hardware.source",
                                         "hardware.gpus.*.description"};
  for (const io::FieldDecl& f : io::scenario_schema()) {
    if (dropped.count(f.path)) continue;
    EXPECT_TRUE(written.count(f.path)) << f.path << " is never written by save_scenario";
  }
}

TEST(ScenarioSaveTest, NonDefaultValuesRoundTrip) {
  const fs::path dir = work_dir() / "non-default";
  fs::create_directories(dir);
  expect_round_trip(non_default_scenario(), dir, "non-default values");
}

TEST(ScenarioSaveTest, PathsAreWrittenRelativeToTheSavedFile) {
  const fs::path dir = work_dir() / "paths" / "deeper";
  fs::create_directories(dir);
  const Scenario s = load_scenario("scenarios/examples/default-calibrated.json");
  save_scenario(s, (dir / "s.json").string());
  const std::string text = slurp(dir / "s.json");
  for (const auto& [name, gpu] : s.catalog.gpus) {
    if (gpu.calibrated.empty()) continue;
    const std::string rel =
        fs::absolute(gpu.calibrated).lexically_normal().lexically_relative(dir).generic_string();
    EXPECT_NE(text.find("\"calibrated\": \"" + rel + "\""), std::string::npos) << rel;
  }
}

TEST(ScenarioSaveTest, NeverOverwritesAnInput) {
  const Scenario s = load_scenario("scenarios/default.json");
  const std::string before = slurp("scenarios/default.json");
  EXPECT_THROW(save_scenario(s, "scenarios/default.json"), InputError);
  EXPECT_EQ(slurp("scenarios/default.json"), before);
}

TEST(UnitFormatTest, WritesTheShortestExactTextWithAUnit) {
  EXPECT_EQ(io::format_duration(Duration::millis(2)), "2ms");
  EXPECT_EQ(io::format_duration(Duration::micros(4)), "4us");
  EXPECT_EQ(io::format_duration(Duration::seconds(600)), "10min");
  EXPECT_EQ(io::format_duration(Duration::seconds(86400)), "24h");
  EXPECT_EQ(io::format_duration(Duration::millis(1500)), "1500ms");
  EXPECT_EQ(io::format_duration(Duration::zero()), "0s");
  EXPECT_EQ(io::format_duration(Duration::nanos(3'600'000'000'001)), "3600000000001ns");
  EXPECT_EQ(io::format_bytes(Bytes::giga(80)), "80GB");
  EXPECT_EQ(io::format_bytes(Bytes::gibi(80)), "80GiB");
  EXPECT_EQ(io::format_bandwidth(BytesPerSec::tera(3.35)), "3.35TB/s");
  EXPECT_EQ(io::format_bandwidth(BytesPerSec::giga(450)), "450GB/s");
  EXPECT_EQ(io::format_bandwidth(BytesPerSec::giga(300)), "300GB/s");
  EXPECT_EQ(io::format_flop_rate(FlopsPerSec::tera(989)), "989TFLOP/s");
  EXPECT_EQ(io::format_flop_rate(FlopsPerSec(0)), "0FLOP/s");
}

TEST(UnitFormatTest, EveryWrittenValueParsesBackExactly) {
  // Values that are not round in any unit still come back bit for bit.
  for (double v : {1.0, 3.14159, 1.0 / 3, 123.456789123, 7.000001, 1.1 + 1e-12}) {
    const Bytes b(v * 1e12);
    EXPECT_EQ(io::parse_bytes(io::format_bytes(b)), b) << io::format_bytes(b);
    const BytesPerSec bw(v * 1e12);
    EXPECT_EQ(io::parse_bandwidth(io::format_bandwidth(bw)), bw) << io::format_bandwidth(bw);
    const FlopsPerSec f(v * 1e15);
    EXPECT_EQ(io::parse_flop_rate(io::format_flop_rate(f)), f) << io::format_flop_rate(f);
  }
  for (int64_t ns : {int64_t{1}, int64_t{999}, int64_t{1'000'001}, int64_t{59'999'999'999},
                     int64_t{31'536'000'000'000'000}}) {
    const Duration d = Duration::nanos(ns);
    EXPECT_EQ(io::parse_duration(io::format_duration(d)), d) << io::format_duration(d);
  }
}

}  // namespace
}  // namespace quadrant
