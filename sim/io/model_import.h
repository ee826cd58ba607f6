// A Hugging Face model's own files become a scenario `model` section, every field traced
// to where it came from. Reads config.json (or a model folder: config.json beside an
// optional hf_quant_config.json from NVIDIA ModelOpt or quantize_config.json from
// AutoGPTQ/AutoAWQ; a multimodal config's text_config), recognises the families by their
// keys (MLA by kv_lora_rank; MoE by n_routed_experts, num_local_experts or num_experts)
// and writes `sources`: for each field, the config key it was read from, or the default
// taken and why.
//
//   ModelImport m = import_hf_model("scenarios/models/hf/deepseek-v3", {});
//   m.model["sources"]["attention.kv_lora_rank"];   // "config.json: kv_lora_rank"
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace quadrant::io {

struct ImportOptions {
  // Weight format: "" takes the checkpoint's (quantization_config, hf_quant_config.json,
  // else torch_dtype); bf16|fp8|int8|w4a8 override it (activations follow: w4a8 and fp8
  // with fp8 activations, int8 with int8, bf16 with bf16).
  std::string quant;
  std::string kv_cache;  // "" : the checkpoint's KV format, else bf16; or bf16|fp8|int8
  std::string name;      // "" : from the folder's name, else the architecture
};

struct ModelImport {
  nlohmann::ordered_json model;    // the scenario `model` section (schema: model.*)
  std::string config_file;         // the config.json read
  std::vector<std::string> notes;  // what the scenario format cannot say (also in model.notes)
};

// Throws InputError naming the file and the config key at fault.
ModelImport import_hf_model(const std::string& path, const ImportOptions& options);

}  // namespace quadrant::io
