#include "reports/deploy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/version.h"
#include "sim/io/output_dir.h"
#include "sim/io/scenario_io.h"

namespace quadrant::reports {

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// Where each engine's flags are documented (the test checks every flag against these).
constexpr const char* kVllmDocs =
    "vLLM docs/features/nixl_connector_usage.md and the engine arguments of `vllm serve "
    "--help` (vllm-project/vllm at 026c83f)";
constexpr const char* kSglangDocs =
    "SGLang docs/advanced_features/pd_disaggregation.md (sgl-project/sglang at 08edc50) and "
    "server_arguments.md (at 004813e)";
constexpr const char* kDynamoDocs =
    "Dynamo examples/backends/vllm/deploy/disagg.yaml (ai-dynamo/dynamo at 0044eb9)";

std::string num(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// The node label NVIDIA's GPU feature discovery sets for each catalog GPU.
std::string gpu_product_label(const std::string& gpu) {
  static const std::vector<std::pair<std::string, std::string>> kLabels = {
      {"H100-SXM", "NVIDIA-H100-80GB-HBM3"},
      {"H200", "NVIDIA-H200"},
      {"H800", "NVIDIA-H800"},
      {"H20", "NVIDIA-H20"},
      {"A100-80GB", "NVIDIA-A100-SXM4-80GB"},
      {"L40S", "NVIDIA-L40S"},
      {"B200", "NVIDIA-B200"}};
  for (const auto& [name, label] : kLabels)
    if (name == gpu) return label;
  return gpu;
}

std::string pool_text(const PoolSpec& p) {
  const Layout& l = p.layout;
  std::string s = std::to_string(p.instances) + " instance" + (p.instances == 1 ? "" : "s") +
                  " of " + std::to_string(l.gpus()) + " x " + p.gpu + " (TP" + std::to_string(l.tp);
  if (l.ep > 1) s += " EP" + std::to_string(l.ep);
  if (l.pp > 1) s += " PP" + std::to_string(l.pp);
  if (l.dp_attention > 1) s += " DP-attention " + std::to_string(l.dp_attention);
  if (p.af.enabled())  // no engine flag below expresses it: the scripts deploy attention only
    s += "; experts on " + std::to_string(p.af.ffn_gpus) + " x " + p.af.ffn_gpu +
         ", attention/FFN disaggregated with " + std::to_string(p.af.micro_batches) +
         " micro-batches, which vLLM, SGLang and Dynamo do not run";
  return s + ")";
}

bool is_moe(const DeployPlan& p) {
  return p.model.ffn.kind == FfnKind::kMoe;
}

// One engine argument and its value ("" for a switch).
using Args = std::vector<std::pair<std::string, std::string>>;

// vLLM engine arguments of one pool (vllm serve and dynamo.vllm take the same ones).
Args vllm_engine_args(const DeployPlan& p, const PoolSpec& pool, Role role,
                      std::vector<std::string>& notes) {
  const Layout& l = pool.layout;
  Args a = {{"--tensor-parallel-size", std::to_string(l.tp)}};
  if (l.pp > 1) a.emplace_back("--pipeline-parallel-size", std::to_string(l.pp));
  if (l.dp_attention > 1) a.emplace_back("--data-parallel-size", std::to_string(l.dp_attention));
  if (is_moe(p) && l.ep > 1) {
    a.emplace_back("--enable-expert-parallel", "");
    if (l.ep != l.tp * l.dp_attention)
      notes.push_back("vLLM's expert parallelism spans all TP x DP GPUs (" +
                      std::to_string(l.tp * l.dp_attention) + "); the plan's EP" +
                      std::to_string(l.ep) + " is served as EP" +
                      std::to_string(l.tp * l.dp_attention) + ".");
  }
  a.emplace_back("--max-num-seqs", std::to_string(pool.max_batch_size));
  a.emplace_back("--max-num-batched-tokens", std::to_string(pool.max_batch_tokens));
  if (role != Role::kDecode)
    a.emplace_back("--long-prefill-token-threshold", std::to_string(pool.chunk_size));
  a.emplace_back("--block-size", std::to_string(p.kv_block_size));
  if (p.model.precision.kv_cache == NumberFormat::kFp8) a.emplace_back("--kv-cache-dtype", "fp8");
  if (p.model.precision.kv_cache == NumberFormat::kInt8)
    notes.push_back(
        "vLLM has no int8 KV cache; the plan's int8 KV is closest to --kv-cache-dtype fp8.");
  if (pool.layout.gpus() > p.gpus_per_node) a.emplace_back("--distributed-executor-backend", "ray");
  return a;
}

Args sglang_args(const DeployPlan& p, const PoolSpec& pool, Role role,
                 std::vector<std::string>& notes) {
  const Layout& l = pool.layout;
  // SGLang's --tp-size counts every GPU of the instance; --dp-size splits attention.
  Args a = {{"--tp-size", std::to_string(l.tp * l.dp_attention)}};
  if (l.dp_attention > 1) {
    a.emplace_back("--dp-size", std::to_string(l.dp_attention));
    a.emplace_back("--enable-dp-attention", "");
  }
  if (is_moe(p) && l.ep > 1) a.emplace_back("--ep-size", std::to_string(l.ep));
  if (l.pp > 1) a.emplace_back("--pp-size", std::to_string(l.pp));
  if (role != Role::kDecode) {
    a.emplace_back("--chunked-prefill-size", std::to_string(pool.chunk_size));
    a.emplace_back("--max-prefill-tokens", std::to_string(pool.max_batch_tokens));
  }
  if (role != Role::kPrefill)
    a.emplace_back("--max-running-requests", std::to_string(pool.max_batch_size));
  a.emplace_back("--page-size", std::to_string(p.kv_block_size));
  if (p.model.precision.kv_cache == NumberFormat::kFp8)
    a.emplace_back("--kv-cache-dtype", "fp8_e4m3");
  if (p.model.precision.kv_cache == NumberFormat::kInt8)
    notes.push_back("SGLang has no int8 KV cache; the plan's int8 KV is closest to fp8_e4m3.");
  const int nodes = (l.gpus() + p.gpus_per_node - 1) / p.gpus_per_node;
  if (nodes > 1) {
    a.emplace_back("--nnodes", std::to_string(nodes));
    a.emplace_back("--node-rank", "\"$NODE_RANK\"");
    a.emplace_back("--dist-init-addr", "\"$DIST_INIT_ADDR\"");
  }
  return a;
}

// "    exec cmd \\\n      --flag value \\\n ..." with the given indent.
std::string command(const std::string& head, const Args& args, const std::string& indent) {
  std::string s = indent + head;
  for (const auto& [flag, value] : args)
    s += " \\\n" + indent + "  " + flag + (value.empty() ? "" : " " + value);
  return s + "\n";
}

std::string comment_lines(const std::vector<std::string>& notes) {
  std::string s;
  for (const std::string& n : notes) s += "# " + n + "\n";
  return s;
}

std::string weights_note(const DeployPlan& p) {
  const NumberFormat w = p.model.precision.weights;
  if (w == NumberFormat::kBf16) return "";
  return std::string("# The plan assumes ") + to_string(w) +
         " weights: serve a checkpoint in that format (engines read it from its "
         "quantization_config).\n";
}

std::string script_header(const DeployPlan& p, const std::string& engine, const std::string& docs,
                          const std::string& usage) {
  std::string s = "#!/usr/bin/env bash\n";
  s += "# " + engine + " launch of the plan \"" + p.label + "\" for \"" + p.scenario_name +
       "\",\n# generated by quadrant plan (git " + std::string(git_revision()) + ").\n";
  if (p.disaggregated) {
    s += "# prefill: " + pool_text(p.prefill) + "\n# decode:  " + pool_text(p.decode) + "\n";
  } else {
    s += "# colocated: " + pool_text(p.colocated) + "\n";
  }
  s += "# Flags as documented in " + docs + ".\n#\n" + usage;
  s += "# MODEL: the model's Hugging Face repo id or local path (default: its scenario name).\n";
  s += "set -euo pipefail\nMODEL=\"${MODEL:-" + p.model.name + "}\"\n";
  return s;
}

std::string vllm_script(const DeployPlan& p) {
  std::vector<std::string> notes;
  std::string usage;
  if (p.disaggregated) {
    usage =
        "#   on each of the " + std::to_string(p.prefill.instances) +
        " prefill hosts:  bash vllm.sh prefill\n#   on each of the " +
        std::to_string(p.decode.instances) +
        " decode hosts:   bash vllm.sh decode\n#   on the proxy host:  PREFILL_HOSTS=\"p1 ...\" "
        "DECODE_HOSTS=\"d1 ...\" VLLM_SRC=path/to/vllm bash vllm.sh proxy\n";
  } else {
    usage = "#   on each of the " + std::to_string(p.colocated.instances) +
            " hosts:  bash vllm.sh serve   (behind any HTTP load balancer)\n";
  }
  std::string s = script_header(p, "vLLM", kVllmDocs, usage);
  s += weights_note(p);
  s += "export UCX_NET_DEVICES=\"${UCX_NET_DEVICES:-all}\"\n";
  s += "export VLLM_NIXL_SIDE_CHANNEL_PORT=\"${VLLM_NIXL_SIDE_CHANNEL_PORT:-5600}\"\n";
  s += "export VLLM_NIXL_SIDE_CHANNEL_HOST=\"${VLLM_NIXL_SIDE_CHANNEL_HOST:-$(hostname -I | awk "
       "'{print $1}')}\"\n";
  std::string body = "case \"${1:-}\" in\n";
  auto role_case = [&](const char* name, const PoolSpec& pool, Role role, const char* port,
                       const char* kv_role) {
    Args a = {{"--host", "0.0.0.0"}, {"--port", port}};
    for (auto& x : vllm_engine_args(p, pool, role, notes)) a.push_back(x);
    if (kv_role)
      a.emplace_back("--kv-transfer-config", std::string("'{\"kv_connector\":\"NixlConnector\","
                                                         "\"kv_role\":\"") +
                                                 kv_role + "\"}'");
    body += std::string("  ") + name + ")\n";
    if (pool.layout.gpus() > p.gpus_per_node)
      body += "    # One instance spans " +
              std::to_string((pool.layout.gpus() + p.gpus_per_node - 1) / p.gpus_per_node) +
              " nodes: start a Ray cluster over them and run this on its head.\n";
    body += command("exec vllm serve \"$MODEL\"", a, "    ") + "    ;;\n";
  };
  if (p.disaggregated) {
    role_case("prefill", p.prefill, Role::kPrefill, "8100", "kv_producer");
    role_case("decode", p.decode, Role::kDecode, "8200", "kv_consumer");
    body += "  proxy)\n";
    body += "    : \"${PREFILL_HOSTS:?the " + std::to_string(p.prefill.instances) +
            " prefill hosts, space-separated}\"\n";
    body += "    : \"${DECODE_HOSTS:?the " + std::to_string(p.decode.instances) +
            " decode hosts, space-separated}\"\n";
    body += command(
        "exec python3 "
        "\"${VLLM_SRC:-.}/tests/v1/kv_connector/nixl_integration/toy_proxy_server.py\"",
        {{"--port", "8000"},
         {"--prefiller-hosts", "$PREFILL_HOSTS"},
         {"--prefiller-ports", "$(for h in $PREFILL_HOSTS; do echo 8100; done)"},
         {"--decoder-hosts", "$DECODE_HOSTS"},
         {"--decoder-ports", "$(for h in $DECODE_HOSTS; do echo 8200; done)"}},
        "    ");
    body += "    ;;\n";
    body += "  *) echo \"usage: $0 prefill|decode|proxy\" >&2; exit 2 ;;\nesac\n";
  } else {
    role_case("serve", p.colocated, Role::kColocated, "8000", nullptr);
    body += "  *) echo \"usage: $0 serve\" >&2; exit 2 ;;\nesac\n";
  }
  std::sort(notes.begin(), notes.end());
  notes.erase(std::unique(notes.begin(), notes.end()), notes.end());
  return s + comment_lines(notes) + body;
}

std::string sglang_script(const DeployPlan& p) {
  std::vector<std::string> notes;
  std::string usage;
  if (p.disaggregated) {
    usage =
        "#   on each prefill host:  bash sglang.sh prefill\n"
        "#   on each decode host:   bash sglang.sh decode\n"
        "#   on the router host:    PREFILL_HOSTS=\"p1 ...\" DECODE_HOSTS=\"d1 ...\" bash "
        "sglang.sh router\n"
        "# An instance over several nodes: NODE_RANK and DIST_INIT_ADDR (its first node's "
        "ip:port) on each.\n";
  } else {
    usage = "#   on each host:  bash sglang.sh serve   (behind any HTTP load balancer)\n";
  }
  std::string s = script_header(p, "SGLang", kSglangDocs, usage);
  s += weights_note(p);
  std::string body = "case \"${1:-}\" in\n";
  auto role_case = [&](const char* name, const PoolSpec& pool, Role role, const char* port,
                       const char* mode) {
    Args a = {{"--model-path", "\"$MODEL\""}};
    if (mode) {
      a.emplace_back("--disaggregation-mode", mode);
      a.emplace_back("--disaggregation-transfer-backend", "nixl");
    }
    a.emplace_back("--host", "0.0.0.0");
    a.emplace_back("--port", port);
    for (auto& x : sglang_args(p, pool, role, notes)) a.push_back(x);
    body += std::string("  ") + name + ")\n";
    body += command("exec python3 -m sglang.launch_server", a, "    ") + "    ;;\n";
  };
  if (p.disaggregated) {
    role_case("prefill", p.prefill, Role::kPrefill, "30000", "prefill");
    role_case("decode", p.decode, Role::kDecode, "30001", "decode");
    body += "  router)\n";
    body += "    : \"${PREFILL_HOSTS:?the " + std::to_string(p.prefill.instances) +
            " prefill hosts}\"\n    : \"${DECODE_HOSTS:?the " + std::to_string(p.decode.instances) +
            " decode hosts}\"\n";
    body += "    pools=()\n";
    body += "    for h in $PREFILL_HOSTS; do pools+=(--prefill \"http://$h:30000\"); done\n";
    body += "    for h in $DECODE_HOSTS; do pools+=(--decode \"http://$h:30001\"); done\n";
    body += command("exec python3 -m sglang_router.launch_router",
                    {{"--pd-disaggregation", ""},
                     {"\"${pools[@]}\"", ""},
                     {"--host", "0.0.0.0"},
                     {"--port", "8000"}},
                    "    ");
    body += "    ;;\n  *) echo \"usage: $0 prefill|decode|router\" >&2; exit 2 ;;\nesac\n";
  } else {
    role_case("serve", p.colocated, Role::kColocated, "30000", nullptr);
    body += "  *) echo \"usage: $0 serve\" >&2; exit 2 ;;\nesac\n";
  }
  std::sort(notes.begin(), notes.end());
  notes.erase(std::unique(notes.begin(), notes.end()), notes.end());
  return s + comment_lines(notes) + body;
}

std::string dns_name(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  out = "quadrant-" + out;
  if (out.size() > 63) out.resize(63);
  while (out.back() == '-') out.pop_back();
  return out;
}

ordered_json dynamo_worker(const DeployPlan& p, const PoolSpec& pool, Role role) {
  std::vector<std::string> notes;
  ordered_json args = ordered_json::array({"--model", "${MODEL}"});
  if (role == Role::kPrefill) args.push_back("--is-prefill-worker");
  if (role == Role::kDecode) args.push_back("--is-decode-worker");
  for (const auto& [flag, value] : vllm_engine_args(p, pool, role, notes)) {
    args.push_back(flag);
    if (!value.empty()) args.push_back(value);
  }
  const int gpus = pool.layout.gpus();
  const int nodes = (gpus + p.gpus_per_node - 1) / p.gpus_per_node;
  ordered_json w = {{"envFromSecret", "hf-token-secret"}, {"componentType", "worker"}};
  if (role != Role::kColocated) w["subComponentType"] = to_string(role);
  w["replicas"] = pool.instances;
  w["resources"] = {{"limits", {{"gpu", std::to_string(nodes > 1 ? p.gpus_per_node : gpus)}}}};
  if (nodes > 1) w["multinode"] = {{"nodeCount", nodes}};
  w["extraPodSpec"] = {{"nodeSelector", {{"nvidia.com/gpu.product", gpu_product_label(pool.gpu)}}},
                       {"mainContainer",
                        {{"image", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:${DYNAMO_VERSION}"},
                         {"workingDir", "/workspace/examples/backends/vllm"},
                         {"command", {"python3", "-m", "dynamo.vllm"}},
                         {"args", args}}}};
  return w;
}

ordered_json dynamo_manifest(const DeployPlan& p) {
  ordered_json services = ordered_json::object();
  services["Frontend"] = {
      {"componentType", "frontend"},
      {"replicas", 1},
      {"extraPodSpec",
       {{"mainContainer",
         {{"image", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:${DYNAMO_VERSION}"}}}}}};
  if (p.disaggregated) {
    services["VllmPrefillWorker"] = dynamo_worker(p, p.prefill, Role::kPrefill);
    services["VllmDecodeWorker"] = dynamo_worker(p, p.decode, Role::kDecode);
  } else {
    services["VllmWorker"] = dynamo_worker(p, p.colocated, Role::kColocated);
  }
  return {{"apiVersion", "nvidia.com/v1alpha1"},
          {"kind", "DynamoGraphDeployment"},
          {"metadata", {{"name", dns_name(p.model.name)}}},
          {"spec", {{"services", services}}}};
}

std::string dynamo_yaml(const DeployPlan& p) {
  std::string s = "# Dynamo deployment of the plan \"" + p.label + "\" for \"" + p.scenario_name +
                  "\",\n# generated by quadrant plan (git " + git_revision() + "). Shape as in " +
                  kDynamoDocs +
                  ";\n# node selectors name each pool's GPU as NVIDIA GPU feature discovery labels "
                  "it.\n#   MODEL=<repo id> DYNAMO_VERSION=<tag> envsubst < dynamo.yaml | kubectl "
                  "apply -f -\n";
  return s + to_yaml(dynamo_manifest(p));
}

double length_cv(const LengthSpec& l) {
  const double m = l.mean();
  if (m <= 0) return 0;
  switch (l.distribution) {
    case LengthDistribution::kFixed:
      return 0;
    case LengthDistribution::kUniform:
      return (static_cast<double>(l.max - l.min) / std::sqrt(12.0)) / m;
    case LengthDistribution::kLognormal:
      return std::sqrt(std::exp(l.sigma * l.sigma) - 1);
    case LengthDistribution::kHistogram: {
      double w = 0, x2 = 0;
      for (const auto& [len, weight] : l.bins) {
        w += weight;
        x2 += weight * static_cast<double>(len) * static_cast<double>(len);
      }
      return w > 0 ? std::sqrt(std::max(0.0, x2 / w - m * m)) / m : 0;
    }
  }
  return 0;
}

std::string benchmark_script(const DeployPlan& p) {
  const WorkloadSpec& w = p.workload;
  const double in = w.input_length.mean(), out = w.output_length.mean();
  // vLLM's random dataset draws lengths uniformly within +-ratio of the mean: a uniform
  // spread of ratio r has a coefficient of variation r / sqrt(3).
  const double ratio = std::min(0.99, std::sqrt(3.0) * length_cv(w.input_length));
  // Gamma shape: CV = 1/sqrt(shape); deterministic arrivals as shape 100 (CV 0.1).
  const double cv = w.arrival.process == ArrivalProcess::kGamma           ? w.arrival.cv
                    : w.arrival.process == ArrivalProcess::kDeterministic ? 0.1
                                                                          : 1.0;
  const double burstiness = 1.0 / (cv * cv);
  int64_t prompts = static_cast<int64_t>(std::ceil(p.rate_per_s * w.duration.to_seconds()));
  if (w.max_requests > 0) prompts = std::min(prompts, w.max_requests);
  prompts = std::max<int64_t>(prompts, 100);
  std::string s = "#!/usr/bin/env bash\n";
  s += "# Checks the deployed plan \"" + p.label + "\" against its simulation: vLLM's serving\n";
  s += "# benchmark at the planned rate (" + num(p.rate_per_s, 2) +
       " req/s) and lengths, then `quadrant bench-check`\n";
  s += "# compares the measured TTFT/TPOT percentiles with the SLOs and with expected.json.\n";
  s += "# Lengths: uniform around the means (input " + num(in, 0) + ", output " + num(out, 0) +
       " tokens) with the inputs'\n# coefficient of variation (--random-range-ratio); arrivals: "
       "gamma with the workload's CV (--burstiness = 1/CV^2).\n";
  s += "# Flags as documented for `vllm bench serve` (vllm-project/vllm at 026c83f, "
       "docs/benchmarking).\n";
  s += "#   BASE_URL=http://<proxy or router>:8000 MODEL=<repo id> bash benchmark.sh\n";
  s += "set -euo pipefail\nMODEL=\"${MODEL:-" + p.model.name + "}\"\n";
  s += "BASE_URL=\"${BASE_URL:-http://localhost:8000}\"\n";
  s += "HERE=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\n";
  s += command("vllm bench serve",
               {{"--backend", "vllm"},
                {"--base-url", "\"$BASE_URL\""},
                {"--model", "\"$MODEL\""},
                {"--dataset-name", "random"},
                {"--random-input-len", num(in, 0)},
                {"--random-output-len", num(out, 0)},
                {"--random-range-ratio", num(ratio, 2)},
                {"--ignore-eos", ""},
                {"--request-rate", num(p.rate_per_s, 3)},
                {"--burstiness", num(burstiness, 3)},
                {"--num-prompts", std::to_string(prompts)},
                {"--percentile-metrics", "ttft,tpot,itl,e2el"},
                {"--metric-percentiles", "50,90,99"},
                {"--save-result", ""},
                {"--result-dir", "\"$HERE\""},
                {"--result-filename", "bench-result.json"}},
               "");
  s += "\"${QUADRANT:-quadrant}\" bench-check \"$HERE/expected.json\" "
       "\"$HERE/bench-result.json\"\n";
  return s;
}

ordered_json expected_json(const DeployPlan& p) {
  ordered_json predicted = ordered_json::object();
  for (const char* metric : {"ttft_ms", "tpot_ms"}) {
    ordered_json m = ordered_json::object();
    for (const char* pct : {"p50", "p90", "p99"}) {
      ordered_json seeds = ordered_json::array();
      for (const auto& [ttft, tpot] : p.predicted) {
        const Percentiles& x = std::string(metric) == "ttft_ms" ? ttft : tpot;
        const double v = std::string(pct) == "p50"   ? x.p50
                         : std::string(pct) == "p90" ? x.p90
                                                     : x.p99;
        seeds.push_back(std::round(v * 1e6) / 1e3);  // ms, to the microsecond
      }
      m[pct] = seeds;
    }
    predicted[metric] = m;
  }
  return {{"schema_version", kDeploySchema},
          {"git_revision", git_revision()},
          {"scenario", p.scenario_name},
          {"plan", p.label},
          {"rate_per_s", p.rate_per_s},
          {"slo",
           {{"ttft_ms", p.slo.ttft.to_millis()},
            {"tpot_ms", p.slo.tpot.to_millis()},
            {"ttft_percentile", p.slo.ttft_percentile},
            {"tpot_percentile", p.slo.tpot_percentile}}},
          {"predicted", predicted},
          {"source",
           "whole-cluster simulations of the plan at the target rate, one value per seed "
           "(quadrant plan's confirmation runs)"}};
}

std::string readme(const DeployPlan& p) {
  std::string s = "# Deploying \"" + p.label + "\"\n\n";
  s += "Generated by `quadrant plan` for \"" + p.scenario_name + "\" (git " + git_revision() +
       ").\n\n";
  s += "| file | what |\n|---|---|\n";
  s += "| `vllm.sh` | vLLM: `vllm serve` per pool (NixlConnector KV transfer) and the proxy |\n";
  s += "| `sglang.sh` | SGLang: `sglang.launch_server` per pool (`--disaggregation-mode`) and the "
       "router |\n";
  s += "| `dynamo.yaml` | Kubernetes: a Dynamo `DynamoGraphDeployment` with one worker service per "
       "pool |\n";
  s += "| `benchmark.sh` | `vllm bench serve` at the planned rate, then `quadrant bench-check` |\n";
  s += "| `expected.json` | the SLOs and the simulated TTFT/TPOT percentiles the check compares "
       "against |\n";
  s += "| `serving.json` | the plan's serving section in Quadrant's scenario format, with what the "
       "engines' flags cannot say (attention/FFN-disaggregated units, expert placement, dual "
       "micro-batch, prefix caches): `\"serving\": {\"include\": \"deploy/serving.json\"}` in "
       "the scenario re-simulates the plan |\n\n";
  if (p.prefill.af.enabled() || p.decode.af.enabled())
    s += "The plan runs attention and experts on pools of their own (attention/FFN "
         "disaggregation), which none of vLLM, SGLang and Dynamo runs: their files deploy each "
         "unit's attention GPUs as a plain instance and say so; `serving.json` is the plan.\n\n";
  s += "Set `MODEL` to the model's Hugging Face repo id or path; every file says which "
       "documentation its flags follow.\n";
  return s;
}

// Writes `v` as a YAML scalar: numbers and booleans as JSON writes them, strings
// double-quoted with JSON escapes (a subset of YAML's double-quoted style). YAML 1.1
// readers take "1e+20" for a string: an exponent needs a dot before it ("1.0e+20").
std::string yaml_scalar(const ordered_json& v) {
  std::string s = v.dump();
  if (v.is_number_float() && s.find('.') == std::string::npos) {
    const size_t e = s.find_first_of("eE");
    s.insert(e == std::string::npos ? s.size() : e, ".0");
  }
  return s;
}

void yaml_node(const ordered_json& j, int indent, std::string& out);

// A key plain when it is a simple name (apiVersion, nvidia.com/gpu.product), else quoted.
std::string yaml_key(const std::string& k) {
  bool plain = !k.empty() && std::isalpha(static_cast<unsigned char>(k[0]));
  for (char c : k)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                      c == '/' || c == '-');
  return plain ? k : ordered_json(k).dump();
}

void yaml_value_after_key(const ordered_json& v, int indent, std::string& out) {
  if ((v.is_object() || v.is_array()) && !v.empty()) {
    out += "\n";
    yaml_node(v, indent, out);
  } else if (v.is_object()) {
    out += " {}\n";
  } else if (v.is_array()) {
    out += " []\n";
  } else {
    out += " " + yaml_scalar(v) + "\n";
  }
}

void yaml_node(const ordered_json& j, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      out += pad + yaml_key(it.key()) + ":";
      yaml_value_after_key(it.value(), indent + 2, out);
    }
  } else if (j.is_array()) {
    for (const ordered_json& v : j) {
      out += pad + "-";
      if (v.is_object() && !v.empty()) {
        // "- " then the first key on the same line, the rest aligned under it.
        std::string nested;
        yaml_node(v, indent + 2, nested);
        out += " " + nested.substr(static_cast<size_t>(indent) + 2);
      } else {
        yaml_value_after_key(v, indent + 2, out);
      }
    }
  } else {
    out += pad + yaml_scalar(j) + "\n";
  }
}

}  // namespace

std::string to_yaml(const nlohmann::ordered_json& j) {
  std::string out;
  yaml_node(j, 0, out);
  return out;
}

DeployPlan deploy_plan(const planner::PlanResult& r) {
  if (r.recommended < 0)
    throw InputError("no plan met the SLOs: nothing to deploy (see the report)");
  const planner::PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
  const Scenario& s = r.scenario;
  auto pool = [](const planner::RoleConfig& rc, int instances) {
    PoolSpec p;
    p.gpu = rc.gpu;
    p.instances = instances;
    p.layout = rc.layout;
    p.max_batch_size = rc.max_batch_size;
    p.max_batch_tokens = rc.max_batch_tokens;
    p.chunk_size = rc.chunk_size;
    p.af = rc.af;  // no engine flag expresses it: the scripts say so, serving.json keeps it
    return p;
  };
  DeployPlan p;
  p.scenario_name = s.name;
  p.label = c.label();
  p.model = s.model;
  p.disaggregated = c.mode == ServingMode::kDisaggregated;
  if (p.disaggregated) {
    p.prefill = pool(c.prefill, c.prefill_instances);
    p.decode = pool(c.decode, c.decode_instances);
  } else {
    p.colocated = pool(c.colocated, c.colocated_instances);
  }
  p.serving = (p.disaggregated ? planner::with_disaggregated(s, c.prefill, c.prefill_instances,
                                                             c.decode, c.decode_instances)
                               : planner::with_colocated(s, c.colocated, c.colocated_instances))
                  .serving;
  p.kv_block_size = s.serving.kv_block_size;
  p.gpus_per_node = s.cluster.gpus_per_node;
  // The rate the plan was confirmed at (the target plus the headroom): the prediction's.
  p.rate_per_s = c.runs.empty() ? r.target_rate_per_s : c.runs.front().rate_per_s;
  p.workload = s.workload;
  p.slo = s.slo;
  for (const planner::RunSummary& run : c.runs) p.predicted.emplace_back(run.ttft, run.tpot);
  return p;
}

std::vector<DeployFile> deploy_files(const DeployPlan& p) {
  return {{"README.md", readme(p), false},
          {"vllm.sh", vllm_script(p), true},
          {"sglang.sh", sglang_script(p), true},
          {"dynamo.yaml", dynamo_yaml(p), false},
          {"benchmark.sh", benchmark_script(p), true},
          {"expected.json", expected_json(p).dump(2) + "\n", false},
          {"serving.json", serving_section_json(p.serving), false}};
}

void write_deploy(const std::vector<DeployFile>& files, const std::string& dir) {
  // Through io::OutputDir: `dir` must be new, empty or a previous output, and is replaced
  // whole (it used to be removed first, whatever it held).
  io::OutputDir out(dir, "--out", {}, "deploy");
  for (const DeployFile& f : files) out.write(f.name, f.text, f.executable);
  out.commit();
}

BenchCheck check_benchmark(const nlohmann::json& expected, const nlohmann::json& result,
                           double tolerance, const std::string& result_file) {
  BenchCheck c;
  c.slo_met = true;
  c.within_prediction = true;
  const nlohmann::json& slo = expected.at("slo");
  for (const char* metric : {"ttft", "tpot"}) {
    const std::string m = metric;
    const double target = slo.at(m + "_ms").get<double>();
    const double slo_pct = slo.at(m + "_percentile").get<double>();
    // The SLO's percentile among the three measured (others round up, as the planner does).
    const int checked = slo_pct <= 50 ? 50 : slo_pct <= 90 ? 90 : 99;
    for (int pct : {50, 90, 99}) {
      const std::string key = "p" + std::to_string(pct) + "_" + m + "_ms";
      auto it = result.find(key);
      if (it == result.end() || !it->is_number())
        throw InputError(result_file, key,
                         "missing; run vllm bench serve with --percentile-metrics ttft,tpot "
                         "--metric-percentiles 50,90,99 --save-result");
      const double measured = it->get<double>();
      const nlohmann::json& seeds =
          expected.at("predicted").at(m + "_ms").at("p" + std::to_string(pct));
      double lo = 0, hi = 0;
      for (size_t i = 0; i < seeds.size(); ++i) {
        const double v = seeds[i].get<double>();
        lo = i == 0 ? v : std::min(lo, v);
        hi = i == 0 ? v : std::max(hi, v);
      }
      std::string verdict;
      if (measured > hi * (1 + tolerance)) {
        c.within_prediction = false;
        verdict = "above the simulation by " + num(100 * (measured / hi - 1), 0) + "%";
      } else {
        verdict = "within the simulation's reach";
      }
      if (pct == checked) {
        const bool ok = measured <= target;
        c.slo_met = c.slo_met && ok;
        verdict += std::string(", SLO ") + num(target, 0) + " ms " + (ok ? "met" : "MISSED");
      }
      std::string name = m == "ttft" ? "TTFT" : "TPOT";
      c.lines.push_back(name + " P" + std::to_string(pct) + ": measured " + num(measured, 1) +
                        " ms, simulated " + num(lo, 1) + ".." + num(hi, 1) + " ms (" +
                        std::to_string(seeds.size()) + " seeds): " + verdict);
    }
  }
  return c;
}

}  // namespace quadrant::reports
