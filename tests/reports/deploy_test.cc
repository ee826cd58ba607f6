// Deployable output: every flag of the generated launch scripts is one the engine's
// documentation lists (with a documented value where it takes a choice), the scripts
// parse as bash, the Dynamo manifest parses as YAML into the shape of Dynamo's published
// disagg.yaml, and bench-check judges measured percentiles against expected.json.
#include "reports/deploy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "sim/core/error.h"
#include "sim/io/scenario_io.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::reports {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Documented flags, and the documented values of those that take a choice.
// vLLM (vllm-project/vllm at 026c83f): docs/features/nixl_connector_usage.md (vllm serve
// with --kv-transfer-config, the toy proxy's flags), the engine arguments of `vllm serve`
// (docs/configuration/engine_args.md), `vllm bench serve` (docs/benchmarking/cli.md);
// Dynamo's worker flags from examples/backends/vllm/deploy/disagg.yaml (at 0044eb9).
const std::set<std::string> kVllmServe = {"--host",
                                          "--port",
                                          "--tensor-parallel-size",
                                          "--pipeline-parallel-size",
                                          "--data-parallel-size",
                                          "--enable-expert-parallel",
                                          "--max-num-seqs",
                                          "--max-num-batched-tokens",
                                          "--long-prefill-token-threshold",
                                          "--block-size",
                                          "--kv-cache-dtype",
                                          "--kv-transfer-config",
                                          "--distributed-executor-backend"};
const std::set<std::string> kVllmProxy = {"--port", "--prefiller-hosts", "--prefiller-ports",
                                          "--decoder-hosts", "--decoder-ports"};
const std::set<std::string> kDynamoWorker = {"--model", "--is-prefill-worker",
                                             "--is-decode-worker"};
const std::set<std::string> kVllmBench = {"--backend",
                                          "--base-url",
                                          "--model",
                                          "--dataset-name",
                                          "--random-input-len",
                                          "--random-output-len",
                                          "--random-range-ratio",
                                          "--ignore-eos",
                                          "--request-rate",
                                          "--burstiness",
                                          "--num-prompts",
                                          "--percentile-metrics",
                                          "--metric-percentiles",
                                          "--save-result",
                                          "--result-dir",
                                          "--result-filename"};
// SGLang (sgl-project/sglang): docs/advanced_features/pd_disaggregation.md (at 08edc50),
// server_arguments.md (at 004813e), the router's --pd-disaggregation --prefill --decode.
const std::set<std::string> kSglangServer = {"--model-path",
                                             "--disaggregation-mode",
                                             "--disaggregation-transfer-backend",
                                             "--host",
                                             "--port",
                                             "--tp-size",
                                             "--dp-size",
                                             "--enable-dp-attention",
                                             "--ep-size",
                                             "--pp-size",
                                             "--chunked-prefill-size",
                                             "--max-prefill-tokens",
                                             "--max-running-requests",
                                             "--page-size",
                                             "--kv-cache-dtype",
                                             "--nnodes",
                                             "--node-rank",
                                             "--dist-init-addr"};
const std::set<std::string> kSglangRouter = {"--pd-disaggregation", "--prefill", "--decode",
                                             "--host", "--port"};
const std::map<std::string, std::set<std::string>> kChoices = {
    {"--kv-cache-dtype", {"auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16"}},
    {"--distributed-executor-backend", {"ray", "mp"}},
    {"--disaggregation-mode", {"prefill", "decode", "null"}},
    {"--disaggregation-transfer-backend", {"mooncake", "nixl", "ascend"}},
    {"--backend", {"vllm", "openai", "sglang"}},
    {"--dataset-name", {"random", "sharegpt", "sonnet", "hf", "custom"}},
    {"--percentile-metrics", {"ttft,tpot,itl,e2el", "ttft,tpot"}}};

std::set<std::string> join(std::initializer_list<const std::set<std::string>*> sets) {
  std::set<std::string> out;
  for (const auto* s : sets) out.insert(s->begin(), s->end());
  return out;
}

// Every "--flag" of the script's commands (comments skipped), with the token after it.
std::vector<std::pair<std::string, std::string>> flags_of(const std::string& script) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(script);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t first = line.find_first_not_of(' ');
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    for (size_t i = 0; i < w.size(); ++i)
      if (std::regex_match(w[i], std::regex("--[a-z0-9-]+")))
        out.emplace_back(w[i], i + 1 < w.size() ? w[i + 1] : "");
  }
  return out;
}

void expect_documented(const std::string& script, const std::set<std::string>& documented) {
  const auto flags = flags_of(script);
  EXPECT_GT(flags.size(), 5u);
  for (const auto& [flag, value] : flags) {
    EXPECT_TRUE(documented.count(flag)) << flag << " is not a documented flag";
    if (auto it = kChoices.find(flag); it != kChoices.end()) {
      EXPECT_TRUE(it->second.count(value)) << flag << " " << value;
    }
    if (flag == "--kv-transfer-config") {
      ASSERT_GE(value.size(), 2u);
      const Json j = Json::parse(value.substr(1, value.size() - 2));  // inside the '...'
      EXPECT_EQ(j.at("kv_connector"), "NixlConnector");
      EXPECT_TRUE(j.at("kv_role") == "kv_producer" || j.at("kv_role") == "kv_consumer");
    }
  }
}

fs::path temp_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-deploy-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const DeployFile& file(const std::vector<DeployFile>& files, const std::string& name) {
  for (const DeployFile& f : files)
    if (f.name == name) return f;
  throw std::runtime_error("no " + name);
}

// The default scenario's model on a heterogeneous plan, and DeepSeek-V3 on instances of
// 32 GPUs with data-parallel attention (4 nodes each: the multi-node forms).
DeployPlan default_plan() {
  const Scenario s = load_scenario("scenarios/default.json");
  DeployPlan p;
  p.scenario_name = s.name;
  p.label = "test plan";
  p.model = s.model;
  p.prefill = s.serving.prefill;
  p.prefill.instances = 2;
  p.decode = s.serving.decode;
  p.decode.instances = 3;
  p.workload = s.workload;
  p.slo = s.slo;
  p.rate_per_s = 12;
  Percentiles ttft, tpot;
  ttft.p50 = 0.3, ttft.p90 = 0.9, ttft.p99 = 1.4;
  tpot.p50 = 0.04, tpot.p90 = 0.06, tpot.p99 = 0.07;
  p.predicted = {{ttft, tpot}};
  ttft.p90 = 1.0;
  p.predicted.push_back({ttft, tpot});
  return p;
}

DeployPlan deepseek_multinode_plan() {
  DeployPlan p = default_plan();
  p.model = load_model("scenarios/models/deepseek-v3.json");
  p.prefill.layout = {8, 32, 1, 4};  // tp8 ep32 pp1 dp4: 32 GPUs
  p.decode.layout = {8, 16, 1, 4};   // EP below TP x DP: vLLM serves it as EP32
  return p;
}

TEST(DeployTest, LaunchScriptsUseOnlyDocumentedFlagsAndParseAsBash) {
  for (const DeployPlan& p : {default_plan(), deepseek_multinode_plan()}) {
    SCOPED_TRACE(p.model.name);
    const auto files = deploy_files(p);
    expect_documented(file(files, "vllm.sh").text, join({&kVllmServe, &kVllmProxy}));
    expect_documented(file(files, "sglang.sh").text, join({&kSglangServer, &kSglangRouter}));
    expect_documented(file(files, "benchmark.sh").text, kVllmBench);
    const fs::path dir = temp_dir("bash");
    write_deploy(files, dir.string());
    for (const char* f : {"vllm.sh", "sglang.sh", "benchmark.sh"}) {
      EXPECT_EQ(std::system(("bash -n " + (dir / f).string()).c_str()), 0) << f;
      EXPECT_NE(fs::status(dir / f).permissions() & fs::perms::owner_exec, fs::perms::none);
    }
  }
  // The plan's figures reach the commands.
  const auto files = deploy_files(default_plan());
  const std::string vllm = file(files, "vllm.sh").text;
  EXPECT_NE(vllm.find("--tensor-parallel-size 4"), std::string::npos);
  EXPECT_NE(vllm.find("--kv-cache-dtype fp8"), std::string::npos);  // Qwen3 fp8 KV
  EXPECT_NE(vllm.find("--max-num-seqs 128"), std::string::npos);    // decode batch
  const std::string multi = file(deploy_files(deepseek_multinode_plan()), "sglang.sh").text;
  EXPECT_NE(multi.find("--tp-size 32"), std::string::npos);  // SGLang counts every GPU
  EXPECT_NE(multi.find("--dp-size 4"), std::string::npos);
  EXPECT_NE(multi.find("--nnodes 4"), std::string::npos);
  EXPECT_NE(file(deploy_files(deepseek_multinode_plan()), "vllm.sh").text.find("served as EP32"),
            std::string::npos);
}

// Python's YAML reader (python3-yaml), when present, turns dynamo.yaml into JSON.
bool yaml_to_json(const fs::path& yaml, const fs::path& json) {
  const std::string cmd =
      "python3 -c 'import sys, yaml, json; json.dump(yaml.safe_load(open("
      "sys.argv[1])), open(sys.argv[2], \"w\"))' " +
      yaml.string() + " " + json.string() + " 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

bool have_python_yaml() {
  return std::system("python3 -c 'import yaml' > /dev/null 2>&1") == 0;
}

TEST(DeployTest, DynamoManifestIsYamlOfTheDynamoShape) {
  if (!have_python_yaml()) GTEST_SKIP() << "python3 with yaml (python3-yaml) not found";
  for (const DeployPlan& p : {default_plan(), deepseek_multinode_plan()}) {
    SCOPED_TRACE(p.model.name);
    const fs::path dir = temp_dir("yaml");
    write_deploy(deploy_files(p), dir.string());
    ASSERT_TRUE(yaml_to_json(dir / "dynamo.yaml", dir / "dynamo.json"));
    const Json m = Json::parse(std::ifstream(dir / "dynamo.json"));
    EXPECT_EQ(m.at("apiVersion"), "nvidia.com/v1alpha1");
    EXPECT_EQ(m.at("kind"), "DynamoGraphDeployment");
    const std::string name = m.at("metadata").at("name");
    EXPECT_TRUE(std::regex_match(name, std::regex("[a-z0-9]([-a-z0-9]*[a-z0-9])?"))) << name;
    EXPECT_LE(name.size(), 63u);
    const Json& services = m.at("spec").at("services");
    EXPECT_EQ(services.at("Frontend").at("componentType"), "frontend");
    for (const auto& [service, pool, role] : {std::tuple{"VllmPrefillWorker", p.prefill, "prefill"},
                                              std::tuple{"VllmDecodeWorker", p.decode, "decode"}}) {
      const Json& w = services.at(service);
      EXPECT_EQ(w.at("componentType"), "worker");
      EXPECT_EQ(w.at("subComponentType"), role);
      EXPECT_EQ(w.at("replicas"), pool.instances);
      const std::string gpus = w.at("resources").at("limits").at("gpu");
      const int nodes = w.contains("multinode") ? w.at("multinode").at("nodeCount").get<int>() : 1;
      EXPECT_EQ(std::stoi(gpus) * nodes, pool.layout.gpus());
      const Json& c = w.at("extraPodSpec").at("mainContainer");
      EXPECT_TRUE(c.at("image").is_string());
      EXPECT_EQ(c.at("command"), Json({"python3", "-m", "dynamo.vllm"}));
      for (const Json& a : c.at("args")) {
        ASSERT_TRUE(a.is_string());  // Kubernetes wants strings
        const std::string s = a;
        if (s.rfind("--", 0) == 0) {
          EXPECT_TRUE(kVllmServe.count(s) || kDynamoWorker.count(s)) << s;
        }
      }
    }
  }
}

TEST(DeployTest, YamlWriterRoundTripsAwkwardValues) {
  if (!have_python_yaml()) GTEST_SKIP() << "python3 with yaml (python3-yaml) not found";
  const nlohmann::ordered_json j = {
      {"plain", "a: b # not a comment"},
      {"quotes", "say \"hi\"\nnew line\ttab \\ back"},
      {"unicode", "H\u00e9llo \u4e16\u754c"},
      {"looks like other types", {"true", "null", "1e3", "-", "? x", "*ref", "&anchor", ""}},
      {"numbers", {0, -1, 2.5, 1e20}},
      {"empty",
       {{"object", nlohmann::ordered_json::object()}, {"array", nlohmann::ordered_json::array()}}},
      {"list of objects", {{{"a", 1}, {"b", {{"c", {1, 2}}}}}, {{"d", nullptr}}}},
      {"key: with colon", true}};
  const fs::path dir = temp_dir("roundtrip");
  std::ofstream(dir / "x.yaml") << to_yaml(j);
  ASSERT_TRUE(yaml_to_json(dir / "x.yaml", dir / "x.json")) << to_yaml(j);
  EXPECT_EQ(Json::parse(std::ifstream(dir / "x.json")), Json::parse(j.dump())) << to_yaml(j);
}

TEST(DeployTest, ExpectedJsonCarriesEverySeedAndDeployPlanTakesTheRecommendedCandidate) {
  const auto files = deploy_files(default_plan());
  const Json e = Json::parse(file(files, "expected.json").text);
  EXPECT_EQ(e.at("schema_version"), kDeploySchema);
  EXPECT_EQ(e.at("predicted").at("ttft_ms").at("p90"), Json({900.0, 1000.0}));
  EXPECT_EQ(e.at("slo").at("tpot_ms"), 80.0);

  planner::PlanOptions o;
  o.bound = testing::toy_bound;
  const planner::PlanResult r =
      planner::plan(testing::toy_scenario(), testing::fluid_evaluator(testing::toy_times()), o);
  ASSERT_GE(r.recommended, 0);
  const DeployPlan p = deploy_plan(r);
  const planner::PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
  EXPECT_EQ(p.label, c.label());
  EXPECT_EQ(p.predicted.size(), c.runs.size());
  if (p.disaggregated) {
    EXPECT_EQ(p.prefill.instances, c.prefill_instances);
    EXPECT_EQ(p.decode.layout.tp, c.decode.layout.tp);
  }
  planner::PlanResult none = r;
  none.recommended = -1;
  EXPECT_THROW(deploy_plan(none), InputError);
}

// An attention/FFN-disaggregated plan (with EPLB on its FFN pool): the engines' files say
// that they cannot run it, and deploy/serving.json, included as a scenario's serving
// section, gives back the planned pools, the AF unit and its expert placement included.
TEST(DeployTest, ServingJsonCarriesAnAttentionFfnDisaggregatedPlan) {
  const std::string example = "scenarios/examples/deepseek-v3-af-disaggregated.json";
  planner::PlanResult r;
  r.scenario = load_scenario(example);
  r.scenario.serving.decode.experts = {.redundant = 32, .rebalancer = Rebalancer::kEplb};
  planner::PlanCandidate c;
  c.prefill.role = Role::kPrefill;
  c.prefill.gpu = "H800";
  c.prefill.layout = {4, 32, 1, 8};
  c.decode.role = Role::kDecode;
  c.decode.gpu = "H20";
  c.decode.layout = {1, 1, 1, 16};
  c.decode.max_batch_size = 2048;
  c.decode.af = AfSpec{"H200", 16, 3};
  c.prefill_instances = 3;
  c.decode_instances = 2;
  r.candidates = {c};
  r.recommended = 0;
  const DeployPlan p = deploy_plan(r);
  const auto files = deploy_files(p);
  for (const char* f : {"vllm.sh", "sglang.sh"})
    EXPECT_NE(file(files, f).text.find("experts on 16 x H200, attention/FFN disaggregated with 3 "
                                       "micro-batches, which vLLM, SGLang and Dynamo do not run"),
              std::string::npos)
        << f;
  EXPECT_NE(file(files, "README.md").text.find("`serving.json` is the plan"), std::string::npos);
  // The example with its serving section replaced by an include of serving.json.
  const fs::path dir = temp_dir("serving");
  write_deploy(files, (dir / "deploy").string());
  Json j = Json::parse(std::ifstream(example));
  for (const char* key : {"model", "hardware"})
    j[key] = fs::absolute(fs::path(example).parent_path() / j[key].get<std::string>()).string();
  j["serving"] = {{"include", (dir / "deploy" / "serving.json").string()}};
  std::ofstream(dir / "planned.json") << j.dump(2);
  const Scenario back = load_scenario((dir / "planned.json").string());
  EXPECT_EQ(back.serving, p.serving);
  EXPECT_EQ(back.serving.decode.af, c.decode.af);
  EXPECT_EQ(back.serving.decode.instances, 2);
  EXPECT_EQ(back.serving.decode.layout, c.decode.layout);
  EXPECT_EQ(back.serving.decode.max_batch_size, 2048);
  EXPECT_EQ(back.serving.decode.experts.rebalancer, Rebalancer::kEplb);
  EXPECT_EQ(back.serving.prefill.instances, 3);
  EXPECT_EQ(back.serving.prefill.layout, c.prefill.layout);
}

TEST(DeployTest, BenchCheckJudgesSloAndPrediction) {
  const Json e = Json::parse(file(deploy_files(default_plan()), "expected.json").text);
  Json result = {{"p50_ttft_ms", 310.0}, {"p90_ttft_ms", 1100.0}, {"p99_ttft_ms", 1500.0},
                 {"p50_tpot_ms", 41.0},  {"p90_tpot_ms", 61.0},   {"p99_tpot_ms", 72.0}};
  BenchCheck ok = check_benchmark(e, result, 0.25, "r.json");
  EXPECT_TRUE(ok.slo_met);
  EXPECT_TRUE(ok.within_prediction);
  EXPECT_EQ(ok.lines.size(), 6u);
  result["p99_ttft_ms"] = 1900.0;  // 36% above the slowest seed's 1400, SLO (P90) still met
  BenchCheck slow = check_benchmark(e, result, 0.25, "r.json");
  EXPECT_TRUE(slow.slo_met);
  EXPECT_FALSE(slow.within_prediction);
  EXPECT_TRUE(check_benchmark(e, result, 0.5, "r.json").passed());
  result["p90_tpot_ms"] = 81.0;  // SLO 80 ms at P90
  EXPECT_FALSE(check_benchmark(e, result, 0.5, "r.json").slo_met);
  result.erase("p50_tpot_ms");
  try {
    check_benchmark(e, result, 0.25, "r.json");
    ADD_FAILURE() << "no error";
  } catch (const InputError& err) {
    EXPECT_EQ(err.file(), "r.json");
    EXPECT_EQ(err.path(), "p50_tpot_ms");
  }
}

}  // namespace
}  // namespace quadrant::reports
