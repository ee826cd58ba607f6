#include "calibration/json_path.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/io/json_file.h"
#include "sim/io/output_dir.h"

namespace quadrant::calibration {

Json load_json(const std::string& file) {
  // The scenario edge's reader: regular files only, size and nesting bounded, numbers
  // beyond a double's range and malformed JSON named by line and column.
  return io::load_json_file(file);
}

void save_text(const std::string& file, const std::string& text) {
  // Through a temporary beside the file and a rename: a failed or killed run leaves the
  // previous file whole (sim/io/output_dir.h).
  io::OutputFile out(file, file, {}, "");
  out.out() << text << '\n';
  out.commit();
}

bool Node::has(const std::string& key) const {
  return j_->is_object() && j_->contains(key);
}

std::string Node::child(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string Node::found() const {
  std::string s = j_->dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

void Node::fail(const std::string& message) const {
  throw InputError(file_, path_, message);
}

Node Node::at(const std::string& key) const {
  if (!j_->is_object()) fail("expected an object, got " + found());
  auto it = j_->find(key);
  if (it == j_->end()) throw InputError(file_, child(key), "missing (required)");
  return Node(*it, file_, child(key));
}

Node Node::at(size_t index) const {
  if (!j_->is_array()) fail("expected an array, got " + found());
  if (index >= j_->size()) fail("index " + std::to_string(index) + " out of range");
  return Node((*j_)[index], file_, path_ + "[" + std::to_string(index) + "]");
}

size_t Node::size() const {
  if (!j_->is_array()) fail("expected an array, got " + found());
  return j_->size();
}

std::vector<std::string> Node::keys() const {
  if (!j_->is_object()) fail("expected an object, got " + found());
  std::vector<std::string> out;
  for (auto it = j_->begin(); it != j_->end(); ++it) out.push_back(it.key());
  return out;
}

double Node::number() const {
  if (!j_->is_number()) fail("expected a number, got " + found());
  double v = j_->get<double>();
  if (!std::isfinite(v)) fail("expected a finite number, got " + found());
  return v;
}

double Node::positive() const {
  double v = number();
  if (!(v > 0)) fail("expected a positive number, got " + found());
  return v;
}

double Node::non_negative() const {
  double v = number();
  if (v < 0) fail("expected a non-negative number, got " + found());
  return v;
}

int64_t Node::integer() const {
  if (!j_->is_number_integer()) fail("expected an integer, got " + found());
  return j_->get<int64_t>();
}

std::string Node::string() const {
  if (!j_->is_string()) fail("expected a string, got " + found());
  return j_->get<std::string>();
}

bool Node::boolean() const {
  if (!j_->is_boolean()) fail("expected true or false, got " + found());
  return j_->get<bool>();
}

double Node::number_or(const std::string& key, double fallback) const {
  return has(key) ? at(key).number() : fallback;
}

std::string Node::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? at(key).string() : fallback;
}

}  // namespace quadrant::calibration
