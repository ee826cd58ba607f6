// The scenario schema: every field of the scenario format declared once, with its type,
// unit, default and one line of help. The reader (json_reader.h) takes defaults and
// ranges from here, rejects keys that are not declared (with a did-you-mean), and
// `quadrant schema` prints this table; scenarios/README.md is checked against it.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace quadrant::io {

enum class FieldType {
  kObject,
  kMap,  // an object whose keys are names chosen by the user (e.g. GPU types)
  kArray,
  kString,
  kBoolean,
  kInteger,
  kNumber,
  kDuration,   // "2ms"
  kBytes,      // "80GB"
  kBandwidth,  // "3.35TB/s"
  kFlopRate,   // "989TFLOP/s"
  kEnum,
};
const char* to_string(FieldType t);

struct FieldDecl {
  // Path with "[]" for array elements and "*" for map entries, e.g.
  // "hardware.gpus.*.memory", "workload.arrival.curve[].at".
  std::string path;
  FieldType type = FieldType::kString;
  // "required", "required for <case>" (checked by the reader's caller), a default value
  // in the field's own syntax ("1", "4us", "bf16"), or "" for optional with no default.
  std::string default_value;
  std::string help;
  std::vector<std::string> choices;  // kEnum
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;  // "positive": min 0 exclusive
  std::string unit;            // for numbers with a unit in the name (req/s, USD/h)

  bool required() const { return default_value == "required"; }
};

// All scenario fields, in documentation order.
const std::vector<FieldDecl>& scenario_schema();
// The declaration of a path (with [] and *), or nullptr.
const FieldDecl* find_field(const std::string& schema_path);
// Declared keys directly under an object's schema path ("" for the top level).
std::vector<std::string> child_keys(const std::string& schema_path);

// The schema as a plain-text table (quadrant schema) or Markdown (--markdown).
std::string schema_table(bool markdown);

}  // namespace quadrant::io
