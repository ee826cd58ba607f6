// Reading calibration files (profiles, models, grids) with errors that name the file and
// the JSON path of the bad value: `profiles/h100/decode_attention.json: shapes[3].median_ns:
// expected a positive number, got "fast"`. Small on purpose: these files have no schema
// includes or units, unlike scenarios (sim/io).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace quadrant::calibration {

using Json = nlohmann::json;

// Parses a file; unreadable files and malformed JSON are InputErrors naming the file.
Json load_json(const std::string& file);
// Writes compact JSON (one line per top-level array element is left to the caller) with a
// trailing newline; an unwritable path is an InputError.
void save_text(const std::string& file, const std::string& text);

// One JSON value and where it sits: file and display path ("shapes[3].median_ns").
class Node {
 public:
  Node(const Json& j, std::string file, std::string path = "")
      : j_(&j), file_(std::move(file)), path_(std::move(path)) {}

  const Json& json() const { return *j_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  bool has(const std::string& key) const;

  Node at(const std::string& key) const;  // required member of an object
  Node at(size_t index) const;            // element of an array
  size_t size() const;                    // elements of an array (fails on non-arrays)
  std::vector<std::string> keys() const;  // members of an object, in key order

  double number() const;
  double positive() const;      // > 0
  double non_negative() const;  // >= 0
  int64_t integer() const;
  std::string string() const;
  bool boolean() const;

  double number(const std::string& key) const { return at(key).number(); }
  double number_or(const std::string& key, double fallback) const;
  int64_t integer(const std::string& key) const { return at(key).integer(); }
  std::string string(const std::string& key) const { return at(key).string(); }
  std::string string_or(const std::string& key, const std::string& fallback) const;

  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string child(const std::string& key) const;
  std::string found() const;  // the value as written, shortened
  const Json* j_;
  std::string file_;
  std::string path_;
};

}  // namespace quadrant::calibration
