// Reading a scenario document against its schema (schema.h). A Reader stands on one JSON
// object and knows its display path ("hardware.gpus.H100-SXM"), its schema path
// ("hardware.gpus.*") and the file it came from, so every error names all three. It
// rejects undeclared keys as soon as it is made (with a did-you-mean), takes defaults
// and ranges from the schema, and resolves includes:
//   "model": "models/deepseek-v3.json"                        -- the whole object from a file
//   "model": {"include": "models/x.json", "precision": {...}}  -- objects merge key by key
//                                                               with the included ones;
//                                                               other local values replace
// Include paths are relative to the file that names them.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/enum_names.h"
#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/io/json_file.h"
#include "sim/io/schema.h"

namespace quadrant::io {

using Json = nlohmann::json;

class Reader {
 public:
  // The top-level reader of a document loaded from `file`.
  static Reader root(const Json& document, const std::string& file);

  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  // The folder of the file this object came from (for relative paths in it).
  std::string dir() const;
  bool has(const std::string& key) const;
  // Every file included so far by any reader of this document.
  std::vector<std::string> included_files() const;

  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::string string(const std::string& key) const;
  std::string choice(const std::string& key) const;  // validated against the declared choices
  // The same as the enum's value (sim/core/enum_names.h); the schema's choices are the
  // table's names, so a name it lacks is an internal error.
  template <typename E, size_t N>
  E choice(const std::string& key, const EnumNames<E, N>& names) const {
    const std::string name = choice(key);
    const std::optional<E> v = names.value(name);
    QUADRANT_CHECK_MSG(v.has_value(), key + ": \"" + name + "\" is not in the enum's name table");
    return *v;
  }
  Duration duration(const std::string& key) const;
  Bytes bytes(const std::string& key) const;
  BytesPerSec bandwidth(const std::string& key) const;
  FlopsPerSec flop_rate(const std::string& key) const;

  // A nested object (resolving includes). Absent and not required: an empty object.
  Reader object(const std::string& key) const;
  std::vector<Reader> objects(const std::string& key) const;  // array of objects
  // A map's entries in key order (objects) or its numbers.
  std::vector<std::pair<std::string, Reader>> map_objects(const std::string& key) const;
  std::map<std::string, double> map_numbers(const std::string& key) const;
  std::map<std::string, std::string> map_strings(const std::string& key) const;
  // Array of integers, each in [min, limits::kMaxTokens].
  std::vector<int64_t> integers(const std::string& key, int64_t min = 1) const;
  std::vector<std::string> strings(const std::string& key) const;
  // histogram bins: [[length, weight], ...]
  std::vector<std::pair<int64_t, double>> pairs(const std::string& key) const;

  // An InputError at `key` of this object (or the object itself when key is empty).
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  struct Storage;  // keeps included documents alive

 private:
  Reader(const Json* j, std::string path, std::string schema_path, std::string file,
         std::string base_file, const Json* base, std::shared_ptr<Storage> storage);

  const FieldDecl& decl(const std::string& key) const;
  // The value at key (local overrides first, then the included base), or nullptr.
  const Json* find(const std::string& key) const;
  const Json& need(const std::string& key) const;  // fails if missing
  std::string key_file(const std::string& key) const;
  std::string child_path(const std::string& key) const;
  Reader make_object(const Json& value, const std::string& key, const std::string& path,
                     const std::string& schema_path) const;
  void check_keys(const Json& object, const std::string& file) const;
  const Json* base_child(const std::string& key) const;
  void merge_base(const Json* base, const std::string& base_file);
  template <typename T, typename Parse>
  T dimensional(const std::string& key, FieldType type, Parse parse, const char* what,
                const char* units, const char* example, const char* range) const;

  const Json* j_;     // this object's own keys
  std::string path_;  // display path
  std::string schema_path_;
  std::string file_;       // file of j_
  std::string base_file_;  // file of base_ (an include), or empty
  const Json* base_;       // included object, or nullptr
  std::shared_ptr<Storage> storage_;
};

// "did you mean" candidate among `options`, or empty.
std::string closest(const std::string& word, const std::vector<std::string>& options);

}  // namespace quadrant::io
