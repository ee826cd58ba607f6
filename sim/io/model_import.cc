#include "sim/io/model_import.h"

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "sim/core/error.h"
#include "sim/io/json_reader.h"
#include "sim/model/model_spec.h"

namespace quadrant::io {

namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

// The config object fields are read from (the root, or a multimodal model's
// text_config), with the names a source note and an error use for it.
struct Config {
  const Json* j = nullptr;
  std::string file;    // path of config.json, for errors
  std::string label;   // "config.json", for source notes (no machine path)
  std::string prefix;  // "text_config." or ""

  // The value at key, or nullptr when absent or null.
  const Json* get(const std::string& key) const {
    auto it = j->find(key);
    return it == j->end() || it->is_null() ? nullptr : &*it;
  }
  std::string where(const std::string& key) const { return label + ": " + prefix + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw InputError(file, prefix + key, message);
  }
  int64_t integer(const std::string& key, int64_t min) const {
    const Json* v = get(key);
    if (!v) fail(key, "missing key (expected an integer >= " + std::to_string(min) + ")");
    if (!v->is_number_integer() || v->get<int64_t>() < min || v->get<int64_t>() > 2'000'000'000)
      fail(key, "expected an integer >= " + std::to_string(min) + ", got " + v->dump());
    return v->get<int64_t>();
  }
  // The first of `keys` present; empty when none is.
  std::string first_of(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (get(k)) return k;
    return "";
  }
  std::string text(const std::string& key) const {
    const Json* v = get(key);
    return v && v->is_string() ? v->get<std::string>() : "";
  }
};

// The model section being written, and where each field came from.
class ModelWriter {
 public:
  ModelWriter() {
    model_["name"] = "";
    model_["source"] = "";
  }
  void set(const std::string& path, OJson value, std::string source) {
    const size_t dot = path.find('.');
    if (dot == std::string::npos) {
      model_[path] = std::move(value);
    } else {
      model_[path.substr(0, dot)][path.substr(dot + 1)] = std::move(value);
    }
    sources_[path] = std::move(source);
  }
  void describe(std::string source) { model_["source"] = std::move(source); }
  void note(std::string n) { notes_.push_back(std::move(n)); }
  ModelImport finish(const std::string& config_file) {
    ModelImport out;
    if (!notes_.empty()) {
      std::string all;
      for (const std::string& n : notes_) all += (all.empty() ? "" : " ") + n;
      // Keep "notes" beside "source", before the figures.
      OJson m;
      for (auto it = model_.begin(); it != model_.end(); ++it) {
        m[it.key()] = it.value();
        if (it.key() == "source") m["notes"] = all;
      }
      model_ = std::move(m);
    }
    model_["sources"] = sources_;
    out.model = std::move(model_);
    out.config_file = config_file;
    out.notes = std::move(notes_);
    return out;
  }

 private:
  OJson model_ = OJson::object();
  OJson sources_ = OJson::object();
  std::vector<std::string> notes_;
};

// The number formats' names (sim/model/model_spec.h); W4A8 is a weight format only.
const std::vector<std::string> kWeightFormats = kNumberFormatNames.names();
const std::vector<std::string> kKvFormats = kNumberFormatNames.names({NumberFormat::kW4A8});

void check_choice(const std::string& flag, const std::string& v,
                  const std::vector<std::string>& choices) {
  for (const std::string& c : choices)
    if (v == c) return;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  throw InputError("", flag, "expected one of " + list + ", got \"" + v + "\"");
}

struct Precision {
  std::string weights = "bf16", activations = "bf16", kv_cache = "bf16";
  int group_size = 0;  // w4a8 only
  std::string weights_src, activations_src, kv_src, group_src;
};

// torch_dtype (or dtype, its newer name): the checkpoint's unquantised format.
void read_dtype(const Config& c, Precision& p, ModelWriter& w) {
  const std::string key = c.first_of({"torch_dtype", "dtype"});
  const std::string dtype = key.empty() ? "" : c.text(key);
  if (dtype.empty()) {
    p.weights_src = "absent torch_dtype: bf16, the usual serving format";
  } else if (dtype == "bfloat16") {
    p.weights_src = c.where(key) + " bfloat16";
  } else if (dtype == "float16") {
    p.weights_src = c.where(key) + " float16 (2 bytes, counted as bf16)";
  } else if (dtype == "float32") {
    p.weights_src = c.where(key) + " float32; served in bf16";
    w.note("The checkpoint is float32; it is counted as served in bf16.");
  } else {
    c.fail(key, "expected bfloat16, float16 or float32, got \"" + dtype + "\"");
  }
  p.activations_src = p.weights_src;
  p.kv_src = "absent a KV-cache format: bf16, the engines' default (KV in the model's dtype)";
}

int group_size_or(const Json& q, const char* key, int fallback) {
  auto it = q.find(key);
  if (it != q.end() && it->is_number_integer() && it->get<int>() > 0) return it->get<int>();
  return fallback;
}

// A ModelOpt quantisation (hf_quant_config.json's "quantization", or a quantization_config
// with quant_method "modelopt").
void read_modelopt(const Json& q, const std::string& where, const std::string& file, Precision& p,
                   ModelWriter& w) {
  const std::string algo = q.value("quant_algo", "");
  const std::string src = where + "quant_algo " + algo;
  if (algo == "FP8" || algo == "FP8_BLOCK" || algo == "FP8_PER_CHANNEL_PER_TOKEN") {
    p.weights = p.activations = "fp8";
    p.weights_src = p.activations_src = src;
  } else if (algo == "W4A8_AWQ") {
    p.weights = "w4a8";
    p.activations = "fp8";
    p.group_size = group_size_or(q, "group_size", 128);
    p.weights_src = p.activations_src = src;
    p.group_src = q.contains("group_size") ? where + "group_size" : "absent group_size: 128";
  } else if (algo == "W4A16_AWQ") {
    p.weights = "w4a8";
    p.group_size = group_size_or(q, "group_size", 128);
    p.weights_src = src + " (4-bit weights, bf16 activations)";
    p.group_src = q.contains("group_size") ? where + "group_size" : "absent group_size: 128";
  } else if (algo == "NVFP4") {
    p.weights = "w4a8";
    p.activations = "fp8";
    p.group_size = group_size_or(q, "group_size", 16);
    p.weights_src = src + " (4-bit weights, a scale per 16) counted as w4a8";
    p.activations_src = src + " (4-bit activations) counted at 8 bits";
    p.group_src = q.contains("group_size") ? where + "group_size" : "NVFP4: a scale per 16";
    w.note(
        "NVFP4 activations are 4-bit; the scenario format counts them at 8 bits (fp8), so "
        "prefill compute is judged at the FP8 peak.");
  } else if (algo == "INT8_SQ" || algo == "W8A8_SQ_PER_CHANNEL") {
    p.weights = p.activations = "int8";
    p.weights_src = p.activations_src = src;
  } else {
    throw InputError(file, "quant_algo",
                     "expected FP8, FP8_BLOCK, W4A8_AWQ, W4A16_AWQ, NVFP4 or INT8_SQ, got \"" +
                         algo + "\"; pass --quant to choose the weight format");
  }
  auto kv = q.find("kv_cache_quant_algo");
  if (kv != q.end() && kv->is_string()) {
    const std::string k = kv->get<std::string>();
    if (k == "FP8") p.kv_cache = "fp8";
    if (k == "INT8") p.kv_cache = "int8";
    if (k == "FP8" || k == "INT8") p.kv_src = where + "kv_cache_quant_algo " + k;
  }
}

// compressed-tensors (llm-compressor): the first config group's weights and input
// activations, and the KV-cache scheme.
void read_compressed_tensors(const Json& q, const std::string& where, const std::string& file,
                             Precision& p) {
  auto groups = q.find("config_groups");
  if (groups == q.end() || !groups->is_object() || groups->empty())
    throw InputError(file, "quantization_config.config_groups",
                     "expected an object of quantisation groups (compressed-tensors)");
  const std::string g = groups->begin().key();
  const Json& group = groups->begin().value();
  const std::string gw = where + "config_groups." + g;
  auto bits_of = [](const Json& j, const char* k) -> std::pair<int, std::string> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_object()) return {0, ""};
    return {it->value("num_bits", 0), it->value("type", "int")};
  };
  const auto [wbits, wtype] = bits_of(group, "weights");
  if (wbits == 8) {
    p.weights = wtype == "float" ? "fp8" : "int8";
  } else if (wbits == 4) {
    p.weights = "w4a8";
    p.group_size = group_size_or(group["weights"], "group_size", 128);
    p.group_src = group["weights"].contains("group_size") ? gw + ".weights.group_size"
                                                          : "absent group_size: 128";
  } else {
    throw InputError(file, "quantization_config.config_groups." + g + ".weights.num_bits",
                     "expected 4 or 8, got " + std::to_string(wbits));
  }
  p.weights_src = gw + ".weights num_bits " + std::to_string(wbits) + " " + wtype;
  const auto [abits, atype] = bits_of(group, "input_activations");
  if (abits == 8) {
    p.activations = atype == "float" ? "fp8" : "int8";
    p.activations_src = gw + ".input_activations num_bits 8 " + atype;
  } else {
    p.activations = "bf16";
    p.activations_src = gw + ": no input_activations scheme (activations stay bf16)";
  }
  auto kv = q.find("kv_cache_scheme");
  if (kv != q.end() && kv->is_object() && kv->value("num_bits", 0) == 8) {
    p.kv_cache = kv->value("type", "float") == "float" ? "fp8" : "int8";
    p.kv_src = where + "kv_cache_scheme num_bits 8";
  }
}

// quantization_config (config.json) or quantize_config.json (AutoGPTQ/AutoAWQ).
void read_quantization_config(const Json& q, const std::string& where, const std::string& file,
                              Precision& p, ModelWriter& w) {
  const std::string method = q.value("quant_method", "");
  if (method == "fp8") {
    p.weights = p.activations = "fp8";
    p.weights_src = where + "quant_method fp8";
    p.activations_src = where + "activation_scheme " + q.value("activation_scheme", "dynamic") +
                        " (activations quantised to fp8)";
  } else if (method == "mxfp4") {
    p.weights = "w4a8";
    p.group_size = 32;
    p.weights_src = where + "quant_method mxfp4 (4-bit e2m1 weights, a scale per 32) as w4a8";
    p.group_src = where + "quant_method mxfp4: one scale per 32 weights";
    p.activations_src = where + "quant_method mxfp4 multiplies bf16 activations (W4A16)";
    if (q.contains("modules_to_not_convert"))
      w.note(
          "MXFP4 covers the experts only (modules_to_not_convert keeps attention, router and "
          "embeddings in bf16); the scenario format has one weight format, so attention "
          "weights are counted at 4 bits: a small under-estimate of the weight bytes.");
  } else if (method == "compressed-tensors") {
    read_compressed_tensors(q, where, file, p);
  } else if (method == "awq" || method == "gptq" || (method.empty() && q.contains("bits"))) {
    const int bits = q.value("bits", 4);
    if (bits != 4 && bits != 8)
      throw InputError(file, "bits", "expected 4 or 8, got " + std::to_string(bits));
    p.weights = bits == 4 ? "w4a8" : "int8";
    p.weights_src = where + (method.empty() ? "gptq" : method) + " bits " + std::to_string(bits) +
                    " (bf16 activations)";
    if (bits == 4) {
      const int gs = q.value("group_size", 128);
      p.group_size = gs > 0 ? gs : 128;
      p.group_src = gs > 0 ? where + "group_size"
                           : where + "group_size -1 (per channel): counted as groups of 128";
    }
  } else if (method == "modelopt") {
    read_modelopt(q, where, file, p, w);
  } else {
    throw InputError(file, "quantization_config.quant_method",
                     "expected fp8, mxfp4, compressed-tensors, awq, gptq or modelopt, got \"" +
                         method + "\"; pass --quant to choose the weight format");
  }
}

void write_attention(const Config& c, ModelWriter& w, int64_t hidden) {
  const int64_t heads = c.integer("num_attention_heads", 1);
  if (c.get("kv_lora_rank")) {
    w.set("attention.kind", "mla",
          c.where("kv_lora_rank") + " present: multi-head latent attention");
    w.set("attention.num_heads", heads, c.where("num_attention_heads"));
    if (c.get("q_lora_rank")) {
      w.set("attention.q_lora_rank", c.integer("q_lora_rank", 0), c.where("q_lora_rank"));
    } else {
      w.set("attention.q_lora_rank", 0,
            c.where("q_lora_rank") + " absent or null: queries projected directly (0)");
    }
    for (const char* k : {"kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
      w.set(std::string("attention.") + k, c.integer(k, 1), c.where(k));
    return;
  }
  int64_t kv = heads;
  std::string kv_src = c.where("num_key_value_heads") +
                       " absent: num_attention_heads (the config classes' default, no grouping)";
  if (c.get("num_key_value_heads")) {
    kv = c.integer("num_key_value_heads", 1);
    kv_src = c.where("num_key_value_heads");
    if (heads % kv != 0)
      c.fail("num_key_value_heads", "expected a divisor of num_attention_heads (" +
                                        std::to_string(heads) + "), got " + std::to_string(kv));
  }
  w.set("attention.kind", kv == heads ? "mha" : "gqa",
        kv == heads ? "num_key_value_heads == num_attention_heads: multi-head attention"
                    : "num_key_value_heads < num_attention_heads: grouped-query attention");
  w.set("attention.num_heads", heads, c.where("num_attention_heads"));
  w.set("attention.num_kv_heads", kv, kv_src);
  if (c.get("head_dim")) {
    w.set("attention.head_dim", c.integer("head_dim", 1), c.where("head_dim"));
  } else {
    if (hidden % heads != 0)
      c.fail("head_dim", "missing key, and hidden_size (" + std::to_string(hidden) +
                             ") is not a multiple of num_attention_heads (" +
                             std::to_string(heads) + ")");
    w.set("attention.head_dim", hidden / heads,
          c.where("head_dim") + " absent: hidden_size / num_attention_heads");
  }
}

// Sliding-window layers: the scenario format has none, so say what that costs.
void note_sliding_window(const Config& c, ModelWriter& w, int64_t layers) {
  const Json* window = c.get("sliding_window");
  if (!window || !window->is_number_integer()) return;
  if (const Json* use = c.get("use_sliding_window"); use && use->is_boolean() && !use->get<bool>())
    return;
  int64_t sliding = layers;
  if (const Json* types = c.get("layer_types"); types && types->is_array()) {
    sliding = 0;
    for (const Json& t : *types) sliding += t == "sliding_attention";
  }
  if (sliding == 0) return;
  w.note(std::to_string(sliding) + " of " + std::to_string(layers) +
         " layers use sliding-window attention (window " + window->dump() +
         " tokens); the scenario format has no sliding window, so their KV cache and attention "
         "work are counted at full context length (an over-estimate for long contexts).");
}

void write_ffn(const Config& c, ModelWriter& w, int64_t layers) {
  const std::string experts_key =
      c.first_of({"n_routed_experts", "num_local_experts", "num_experts"});
  if (experts_key.empty() || c.integer(experts_key, 0) == 0) {
    w.set("ffn.kind", "dense",
          "no n_routed_experts, num_local_experts or num_experts: a dense gated MLP");
    w.set("ffn.intermediate_size", c.integer("intermediate_size", 1), c.where("intermediate_size"));
    return;
  }
  w.set("ffn.kind", "moe", c.where(experts_key) + " present: mixture of experts");
  // The leading dense layers, under each family's name.
  int64_t dense = 0;
  std::string dense_src = "absent first_k_dense_replace and mlp_only_layers: every layer is MoE";
  if (c.get("first_k_dense_replace")) {
    dense = c.integer("first_k_dense_replace", 0);
    dense_src = c.where("first_k_dense_replace");
  } else if (const Json* only = c.get("mlp_only_layers"); only && only->is_array()) {
    for (size_t i = 0; i < only->size(); ++i)
      if ((*only)[i] != static_cast<int64_t>(i))
        c.fail("mlp_only_layers",
               "expected a leading run of layers 0, 1, ... (the scenario "
               "format has only leading dense layers), got " +
                   only->dump());
    dense = static_cast<int64_t>(only->size());
    dense_src = c.where("mlp_only_layers") + " " + only->dump();
  }
  for (const char* k : {"moe_layer_freq", "decoder_sparse_step"}) {
    if (const Json* f = c.get(k); f && !(f->is_number_integer() && f->get<int64_t>() == 1))
      c.fail(k, "expected 1 (every layer after the dense ones is MoE), got " + f->dump());
  }
  if (dense >= layers)
    c.fail(dense_src.find("mlp_only") != std::string::npos ? "mlp_only_layers"
                                                           : "first_k_dense_replace",
           "expected fewer dense layers than num_hidden_layers (" + std::to_string(layers) + ")");
  if (dense > 0)
    w.set("ffn.intermediate_size", c.integer("intermediate_size", 1),
          c.where("intermediate_size") + " (the leading dense layers' MLP)");
  const int64_t experts = c.integer(experts_key, 1);
  w.set("ffn.num_experts", experts, c.where(experts_key));
  const std::string topk_key = c.first_of({"num_experts_per_tok", "experts_per_token", "moe_topk"});
  if (topk_key.empty()) c.fail("num_experts_per_tok", "missing key (experts each token uses)");
  const int64_t top_k = c.integer(topk_key, 1);
  if (top_k > experts)
    c.fail(topk_key, "expected at most " + experts_key + " (" + std::to_string(experts) +
                         "), got " + std::to_string(top_k));
  w.set("ffn.top_k", top_k, c.where(topk_key));
  if (c.get("n_shared_experts")) {
    w.set("ffn.num_shared_experts", c.integer("n_shared_experts", 0), c.where("n_shared_experts"));
  } else if (c.get("shared_expert_intermediate_size")) {
    w.set("ffn.num_shared_experts", 1,
          c.where("shared_expert_intermediate_size") + " present: one shared expert");
  } else {
    w.set("ffn.num_shared_experts", 0, "absent n_shared_experts: no shared expert");
  }
  if (c.get("moe_intermediate_size")) {
    w.set("ffn.expert_intermediate_size", c.integer("moe_intermediate_size", 1),
          c.where("moe_intermediate_size"));
  } else {
    w.set("ffn.expert_intermediate_size", c.integer("intermediate_size", 1),
          c.where("intermediate_size") +
              " (no moe_intermediate_size: the size of one expert, "
              "as in Mixtral and gpt-oss)");
  }
  if (c.get("shared_expert_intermediate_size"))
    w.set("ffn.shared_expert_intermediate_size", c.integer("shared_expert_intermediate_size", 1),
          c.where("shared_expert_intermediate_size"));
  w.set("ffn.first_dense_layers", dense, dense_src);
  if (const Json* mtp = c.get("num_nextn_predict_layers");
      mtp && mtp->is_number_integer() && mtp->get<int64_t>() > 0)
    w.note("The " + mtp->dump() +
           " multi-token-prediction layer(s) (num_nextn_predict_layers) "
           "are not counted: speculative decoding is a serving option (serving.speculative).");
}

std::string folder_name(const fs::path& config_file) {
  const fs::path dir = fs::absolute(config_file).lexically_normal().parent_path();
  return dir.filename().string();
}

}  // namespace

ModelImport import_hf_model(const std::string& path, const ImportOptions& o) {
  if (!o.quant.empty()) check_choice("--quant", o.quant, kWeightFormats);
  if (!o.kv_cache.empty()) check_choice("--kv-cache", o.kv_cache, kKvFormats);
  fs::path config_file = path;
  if (fs::is_directory(config_file)) {
    config_file /= "config.json";
    if (!fs::exists(config_file))
      throw InputError(path, "",
                       "expected a Hugging Face model folder with a config.json, found none");
  }
  const Json doc = load_json_file(config_file.string());
  const fs::path dir = config_file.parent_path();
  const std::string label = folder_name(config_file) + "/" + config_file.filename().string();

  Config c{&doc, config_file.string(), label, ""};
  if (!doc.is_object()) throw InputError(c.file, "", "expected a JSON object, got " + doc.dump());
  if (const Json* text = c.get("text_config"); text && text->is_object() && !c.get("hidden_size"))
    c = Config{text, config_file.string(), label, "text_config."};

  ModelWriter w;
  std::string name = o.name, name_src = "--name (command line)";
  if (name.empty()) {
    name = folder_name(config_file);
    name_src = "the model folder's name (config.json names no model)";
  }
  if (name.empty() || name == "." || name == "/") {
    name = "imported-model";
    name_src = "no folder name: a placeholder";
  }
  w.set("name", name, name_src);
  const int64_t layers = c.integer("num_hidden_layers", 1);
  const int64_t hidden = c.integer("hidden_size", 1);
  w.set("num_layers", layers, c.where("num_hidden_layers"));
  w.set("hidden_size", hidden, c.where("hidden_size"));
  w.set("vocab_size", c.integer("vocab_size", 1), c.where("vocab_size"));
  if (const Json* tie = c.get("tie_word_embeddings")) {
    if (!tie->is_boolean())
      c.fail("tie_word_embeddings", "expected true or false, got " + tie->dump());
    w.set("tie_embeddings", tie->get<bool>(), c.where("tie_word_embeddings"));
  } else {
    w.set("tie_embeddings", false,
          c.where("tie_word_embeddings") +
              " absent: false, the default of the Llama, Mixtral, Qwen3-MoE, DeepSeek-V3 and "
              "gpt-oss config classes");
  }
  write_attention(c, w, hidden);
  note_sliding_window(c, w, layers);
  write_ffn(c, w, layers);

  // Precision: the checkpoint's dtype, then its quantisation, then the command line.
  Precision p;
  read_dtype(c, p, w);
  const Json* q = c.get("quantization_config");
  if (!q && c.prefix.size()) {
    auto it = doc.find("quantization_config");
    if (it != doc.end() && it->is_object()) q = &*it;
  }
  if (q && q->is_object()) {
    read_quantization_config(*q, label + ": quantization_config.", c.file, p, w);
  } else if (fs::exists(dir / "hf_quant_config.json")) {
    const fs::path f = dir / "hf_quant_config.json";
    const Json h = load_json_file(f.string());
    auto qq = h.find("quantization");
    if (qq == h.end() || !qq->is_object())
      throw InputError(f.string(), "quantization", "expected an object (NVIDIA ModelOpt format)");
    read_modelopt(*qq, folder_name(f) + "/hf_quant_config.json: quantization.", f.string(), p, w);
  } else if (fs::exists(dir / "quantize_config.json")) {
    const fs::path f = dir / "quantize_config.json";
    read_quantization_config(load_json_file(f.string()),
                             folder_name(f) + "/quantize_config.json: ", f.string(), p, w);
  }
  if (!o.quant.empty()) {
    p.weights = o.quant;
    p.activations = o.quant == "w4a8" ? "fp8" : o.quant;
    p.weights_src = p.activations_src = "--quant " + o.quant + " (command line)";
    if (o.quant == "w4a8" && p.group_size == 0) {
      p.group_size = 128;
      p.group_src = "--quant w4a8 without a checkpoint group size: 128, the schema default";
    }
  }
  if (!o.kv_cache.empty()) {
    p.kv_cache = o.kv_cache;
    p.kv_src = "--kv-cache " + o.kv_cache + " (command line)";
  }
  w.set("precision.weights", p.weights, p.weights_src);
  w.set("precision.activations", p.activations, p.activations_src);
  w.set("precision.kv_cache", p.kv_cache, p.kv_src);
  if (p.weights == "w4a8") w.set("precision.weight_group_size", p.group_size, p.group_src);

  std::string arch = "unknown architecture";
  if (const Json* a = doc.contains("architectures") ? &doc["architectures"] : nullptr;
      a && a->is_array() && !a->empty() && (*a)[0].is_string())
    arch = (*a)[0].get<std::string>();
  const std::string model_type = c.text("model_type");
  w.describe("Imported by quadrant import-model from " + label + " (" + arch +
             (model_type.empty() ? "" : ", model_type " + model_type) +
             "); `sources` names the key or default behind every field.");
  return w.finish(config_file.string());
}

}  // namespace quadrant::io
