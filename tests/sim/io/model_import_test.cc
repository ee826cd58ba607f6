// import_hf_model: the shipped Hugging Face configs (scenarios/models/hf/) give the
// catalog model's numbers where the catalog has the model, published parameter counts
// elsewhere, a source for every field, and one clear error for bad input.
#include "sim/io/model_import.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "sim/core/error.h"
#include "sim/io/scenario_io.h"
#include "sim/model/accounting.h"

namespace quadrant {
namespace {

namespace fs = std::filesystem;

const char* kHf = "scenarios/models/hf/";

fs::path temp_dir() {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-model-import-test-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// Imports and reads the result back through the scenario reader.
ModelSpec import_and_load(const std::string& model, io::ImportOptions o = {}) {
  const io::ModelImport m = io::import_hf_model(kHf + model, o);
  const fs::path f = temp_dir() / (model + ".json");
  std::ofstream(f) << m.model.dump(2);
  return load_model(f.string());
}

void expect_same_figures(const ModelSpec& a, const ModelSpec& b) {
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.tie_embeddings, b.tie_embeddings);
  const AttentionSpec &x = a.attention, &y = b.attention;
  EXPECT_EQ(x.kind, y.kind);
  EXPECT_EQ(x.num_heads, y.num_heads);
  EXPECT_EQ(x.num_kv_heads, y.num_kv_heads);
  EXPECT_EQ(x.head_dim, y.head_dim);
  EXPECT_EQ(x.q_lora_rank, y.q_lora_rank);
  EXPECT_EQ(x.kv_lora_rank, y.kv_lora_rank);
  EXPECT_EQ(x.qk_nope_head_dim, y.qk_nope_head_dim);
  EXPECT_EQ(x.qk_rope_head_dim, y.qk_rope_head_dim);
  EXPECT_EQ(x.v_head_dim, y.v_head_dim);
  const FfnSpec &f = a.ffn, &g = b.ffn;
  EXPECT_EQ(f.kind, g.kind);
  EXPECT_EQ(f.intermediate_size, g.intermediate_size);
  EXPECT_EQ(f.num_experts, g.num_experts);
  EXPECT_EQ(f.top_k, g.top_k);
  EXPECT_EQ(f.num_shared_experts, g.num_shared_experts);
  EXPECT_EQ(f.expert_intermediate_size, g.expert_intermediate_size);
  EXPECT_EQ(f.shared_expert_intermediate_size, g.shared_expert_intermediate_size);
  EXPECT_EQ(f.first_dense_layers, g.first_dense_layers);
  EXPECT_EQ(a.precision.weights, b.precision.weights);
  EXPECT_EQ(a.precision.activations, b.precision.activations);
  EXPECT_EQ(a.precision.kv_cache, b.precision.kv_cache);
  EXPECT_EQ(a.precision.weight_group_size, b.precision.weight_group_size);
  // And so every derived figure.
  EXPECT_DOUBLE_EQ(parameter_count(a).total, parameter_count(b).total);
  EXPECT_DOUBLE_EQ(parameter_count(a).activated, parameter_count(b).activated);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(a).value(), kv_bytes_per_token(b).value());
  EXPECT_DOUBLE_EQ(weight_bytes(a).value(), weight_bytes(b).value());
}

TEST(ModelImport, CatalogModelsComeOutWithTheCatalogsNumbers) {
  struct Case {
    const char* hf;
    const char* catalog;
    const char* kv_cache;  // the catalog's choice where the checkpoint does not say
  };
  for (const Case& c : {Case{"deepseek-v3", "deepseek-v3.json", ""},
                        Case{"qwen3-235b-a22b-fp8", "qwen3-235b-a22b.json", "fp8"},
                        Case{"qwen3-30b-a3b", "qwen3-30b-a3b.json", ""},
                        Case{"mixtral-8x7b-v0.1", "mixtral-8x7b.json", ""}}) {
    SCOPED_TRACE(c.hf);
    io::ImportOptions o;
    o.kv_cache = c.kv_cache;
    expect_same_figures(import_and_load(c.hf, o),
                        load_model(std::string("scenarios/models/") + c.catalog));
  }
}

// Published totals (model cards) and activated counts (our accounting counts the input
// embedding as activated; the cards round).
TEST(ModelImport, OtherModelsMatchTheirPublishedSizes) {
  struct Case {
    const char* hf;
    double total_b, activated_b;  // 0: the card gives no comparable figure
  };
  for (const Case& c : {Case{"meta-llama-3-8b", 8.03, 8.03}, Case{"meta-llama-3-70b", 70.6, 70.6},
                        Case{"mixtral-8x22b-v0.1", 141, 39}, Case{"kimi-k2-instruct", 1040, 32},
                        Case{"gpt-oss-120b", 116.8, 0}, Case{"deepseek-v3", 671, 37}}) {
    SCOPED_TRACE(c.hf);
    const ParameterCount p = parameter_count(import_and_load(c.hf));
    EXPECT_NEAR(p.total / 1e9, c.total_b, 0.02 * c.total_b);
    if (c.activated_b > 0) {
      EXPECT_NEAR(p.activated / 1e9, c.activated_b, 0.05 * c.activated_b);
    }
  }
  const ModelSpec k2 = import_and_load("kimi-k2-instruct");
  EXPECT_EQ(k2.attention.kind, AttentionKind::kMla);
  EXPECT_EQ(k2.ffn.first_dense_layers, 1);
  EXPECT_EQ(k2.ffn.num_experts, 384);
  const ModelSpec oss = import_and_load("gpt-oss-120b");
  EXPECT_EQ(oss.precision.weights, NumberFormat::kW4A8);
  EXPECT_EQ(oss.precision.weight_group_size, 32);  // MXFP4: a scale per 32
  EXPECT_EQ(oss.precision.activations, NumberFormat::kBf16);
  EXPECT_EQ(oss.attention.head_dim, 64);  // head_dim key, not hidden / heads (45)
  const ModelSpec l8 = import_and_load("meta-llama-3-8b");
  EXPECT_EQ(l8.ffn.kind, FfnKind::kDense);
  EXPECT_EQ(l8.attention.head_dim, 128);  // hidden / heads
}

// Every field written has a source, and every source names a field written.
TEST(ModelImport, EveryFieldHasASource) {
  for (const auto& e : fs::directory_iterator(kHf)) {
    if (!e.is_directory()) continue;
    SCOPED_TRACE(e.path().string());
    const io::ModelImport m = io::import_hf_model(e.path().string(), {});
    std::set<std::string> fields, sourced;
    for (auto it = m.model.begin(); it != m.model.end(); ++it) {
      if (it.key() == "source" || it.key() == "notes" || it.key() == "sources") continue;
      if (it.value().is_object()) {
        for (auto jt = it.value().begin(); jt != it.value().end(); ++jt)
          fields.insert(it.key() + "." + jt.key());
      } else {
        fields.insert(it.key());
      }
    }
    for (auto it = m.model["sources"].begin(); it != m.model["sources"].end(); ++it) {
      sourced.insert(it.key());
      EXPECT_FALSE(it.value().get<std::string>().empty()) << it.key();
    }
    EXPECT_EQ(fields, sourced);
  }
}

TEST(ModelImport, ModelOptFolderAndCommandLineFormats) {
  const ModelSpec fp8 = import_and_load("llama-3.1-8b-instruct-fp8");
  EXPECT_EQ(fp8.precision.weights, NumberFormat::kFp8);
  EXPECT_EQ(fp8.precision.activations, NumberFormat::kFp8);
  EXPECT_EQ(fp8.precision.kv_cache, NumberFormat::kFp8);  // kv_cache_quant_algo FP8
  const io::ModelImport m =
      io::import_hf_model(std::string(kHf) + "llama-3.1-8b-instruct-fp8/config.json", {});
  EXPECT_NE(m.model["sources"]["precision.kv_cache"].get<std::string>().find("hf_quant_config"),
            std::string::npos);
  io::ImportOptions o;
  o.quant = "w4a8";
  o.kv_cache = "int8";
  const io::ModelImport w = io::import_hf_model(std::string(kHf) + "meta-llama-3-70b", o);
  EXPECT_EQ(w.model["precision"]["weights"], "w4a8");
  EXPECT_EQ(w.model["precision"]["activations"], "fp8");
  EXPECT_EQ(w.model["precision"]["weight_group_size"], 128);
  EXPECT_EQ(w.model["precision"]["kv_cache"], "int8");
  EXPECT_NE(w.model["sources"]["precision.weights"].get<std::string>().find("--quant"),
            std::string::npos);
}

// One InputError naming the file and the key, for each kind of bad input.
TEST(ModelImport, BadInputNamesFileAndKey) {
  const fs::path d = temp_dir() / "bad";
  fs::create_directories(d);
  auto expect_error = [&](const std::string& config, const std::string& key,
                          const std::string& words, io::ImportOptions o = {}) {
    SCOPED_TRACE(config);
    const fs::path f = d / "config.json";
    std::ofstream(f) << config;
    try {
      io::import_hf_model(f.string(), o);
      ADD_FAILURE() << "no error";
    } catch (const InputError& e) {
      EXPECT_EQ(e.path(), key) << e.what();
      if (!key.empty() && key[0] != '-') {
        EXPECT_EQ(e.file(), f.string()) << e.what();
      }
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  const std::string llama =
      R"("hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
         "intermediate_size": 14336, "vocab_size": 128256)";
  expect_error("{" + llama + "}", "num_hidden_layers", "missing key");
  expect_error(R"({"num_hidden_layers": "32", )" + llama + "}", "num_hidden_layers",
               "expected an integer >= 1, got \"32\"");
  expect_error(R"({"num_hidden_layers": 32, "num_key_value_heads": 5, "hidden_size": 4096,
                   "num_attention_heads": 32, "intermediate_size": 1, "vocab_size": 2})",
               "num_key_value_heads", "divisor");
  expect_error(
      R"({"num_hidden_layers": 32, "quantization_config": {"quant_method": "hqq"}, )" + llama + "}",
      "quantization_config.quant_method", "got \"hqq\"");
  expect_error(R"({"num_hidden_layers": 4, "num_local_experts": 8, "num_experts_per_tok": 9, )" +
                   llama + "}",
               "num_experts_per_tok", "at most num_local_experts");
  io::ImportOptions bad;
  bad.quant = "fp4";
  expect_error(R"({"num_hidden_layers": 32, )" + llama + "}", "--quant",
               "expected one of bf16, fp8, int8, w4a8", bad);
  expect_error("{\"num_hidden_layers\": ", "", "");  // malformed JSON: file:line:col
  // A folder without config.json.
  const fs::path empty = temp_dir() / "empty";
  fs::create_directories(empty);
  EXPECT_THROW(io::import_hf_model(empty.string(), {}), InputError);
}

}  // namespace
}  // namespace quadrant
