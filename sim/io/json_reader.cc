#include "sim/io/json_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/limits.h"
#include "sim/io/unit_parse.h"

namespace quadrant::io {

namespace fs = std::filesystem;

struct Reader::Storage {
  std::deque<Json> documents;
  std::vector<std::string> files;  // every included file, in the order first read
  std::vector<std::string> include_stack;
};

namespace {

std::string show(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string range_phrase(const FieldDecl& f, bool integer) {
  const char* kind = integer ? "an integer" : "a number";
  const bool lo = std::isfinite(f.min), hi = std::isfinite(f.max);
  std::ostringstream o;
  const bool int_hi = integer && f.max < static_cast<double>(limits::kMaxJsonInteger);
  if (lo && f.min == 0 && f.min_exclusive && !hi) {
    o << (integer ? "a positive integer" : "a positive number");
  } else if (lo && hi && (!integer || int_hi)) {
    // Integers in full ("[1, 1048576]"), other numbers as %g ("(0, 1e+09]").
    o << kind << " in " << (f.min_exclusive ? "(" : "[") << f.min << ", ";
    if (integer) {
      o << static_cast<int64_t>(f.max) << "]";
    } else {
      o << f.max << "]";
    }
  } else if (lo) {
    o << kind << (f.min_exclusive ? " > " : " >= ") << f.min;
  } else {
    o << kind;
  }
  return o.str();
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& options) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& o : options) {
    size_t d = edit_distance(word, o);
    if (d < best_d) {
      best_d = d;
      best = o;
    }
  }
  return best;
}

Reader::Reader(const Json* j, std::string path, std::string schema_path, std::string file,
               std::string base_file, const Json* base, std::shared_ptr<Storage> storage)
    : j_(j),
      path_(std::move(path)),
      schema_path_(std::move(schema_path)),
      file_(std::move(file)),
      base_file_(std::move(base_file)),
      base_(base),
      storage_(std::move(storage)) {
  if (j_ && j_->is_object()) check_keys(*j_, file_);
  if (base_ && base_->is_object()) check_keys(*base_, base_file_);
}

Reader Reader::root(const Json& document, const std::string& file) {
  if (!document.is_object()) {
    throw InputError(file, "", "expected a JSON object at the top level, got " + show(document));
  }
  return Reader(&document, "", "", file, "", nullptr, std::make_shared<Storage>());
}

std::vector<std::string> Reader::included_files() const {
  return storage_->files;
}

std::string Reader::dir() const {
  fs::path p(file_);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

void Reader::check_keys(const Json& object, const std::string& file) const {
  const FieldDecl* self = schema_path_.empty() ? nullptr : find_field(schema_path_);
  if (self && self->type == FieldType::kMap) return;  // user-chosen keys
  std::vector<std::string> declared = child_keys(schema_path_);
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& k = it.key();
    if (k == "include" || k == "$comment") continue;
    if (std::find(declared.begin(), declared.end(), k) != declared.end()) continue;
    std::string msg = "unknown key \"" + k + "\"";
    std::string guess = closest(k, declared);
    if (!guess.empty()) {
      msg += "; did you mean \"" + guess + "\"?";
    } else {
      msg += "; expected one of: " + join(declared, ", ");
    }
    throw InputError(file, child_path(k), msg);
  }
}

std::string Reader::child_path(const std::string& key) const {
  if (key.empty()) return path_;
  return path_.empty() ? key : path_ + "." + key;
}

const FieldDecl& Reader::decl(const std::string& key) const {
  std::string sp = schema_path_.empty() ? key : schema_path_ + "." + key;
  const FieldDecl* f = find_field(sp);
  QUADRANT_CHECK_MSG(f != nullptr, "field not declared in the schema: " + sp);
  return *f;
}

const Json* Reader::find(const std::string& key) const {
  if (j_ && j_->is_object()) {
    if (auto it = j_->find(key); it != j_->end()) return &*it;
  }
  if (base_ && base_->is_object()) {
    if (auto it = base_->find(key); it != base_->end()) return &*it;
  }
  return nullptr;
}

std::string Reader::key_file(const std::string& key) const {
  if (j_ && j_->is_object() && j_->contains(key)) return file_;
  if (base_ && base_->is_object() && base_->contains(key)) return base_file_;
  return file_;
}

bool Reader::has(const std::string& key) const {
  return find(key) != nullptr;
}

void Reader::fail(const std::string& key, const std::string& message) const {
  throw InputError(key.empty() ? file_ : key_file(key), child_path(key), message);
}

const Json& Reader::need(const std::string& key) const {
  const Json* v = find(key);
  if (!v) {
    const FieldDecl& f = decl(key);
    std::string what = f.help.empty() ? "" : " (" + f.help + ")";
    fail(key, "missing required field" + what);
  }
  return *v;
}

namespace {

// A default value written in the schema, parsed as the JSON the user would write.
Json default_json(const FieldDecl& f) {
  const std::string& d = f.default_value;
  if (d.empty() || d.rfind("required", 0) == 0) return Json();
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kArray:
      return Json::parse(d);
    case FieldType::kBoolean:
      return d == "true";
    case FieldType::kInteger:
    case FieldType::kNumber:
      return Json::parse(d);
    default:
      return Json(d);  // enums and dimensional values are strings
  }
}

}  // namespace

int64_t Reader::integer(const std::string& key) const {
  const FieldDecl& f = decl(key);
  Json dv;
  const Json* v = find(key);
  if (!v) {
    dv = default_json(f);
    if (dv.is_null()) need(key);
    v = &dv;
  }
  // Integers beyond 2^53 (also unsigned ones past int64, which get<int64_t> would wrap)
  // are out of every field's range.
  constexpr double kMax = static_cast<double>(limits::kMaxJsonInteger);
  const double d = v->is_number() ? v->get<double>() : 0;
  bool integral = v->is_number() && std::floor(d) == d && std::fabs(d) <= kMax;
  if (!integral) fail(key, "expected " + range_phrase(f, true) + ", got " + show(*v));
  int64_t x = v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(d);
  double dx = static_cast<double>(x);
  if (dx < f.min || (f.min_exclusive && dx == f.min) || dx > f.max) {
    fail(key, "expected " + range_phrase(f, true) + ", got " + show(*v));
  }
  return x;
}

double Reader::number(const std::string& key) const {
  const FieldDecl& f = decl(key);
  Json dv;
  const Json* v = find(key);
  if (!v) {
    dv = default_json(f);
    if (dv.is_null()) need(key);
    v = &dv;
  }
  if (!v->is_number()) fail(key, "expected " + range_phrase(f, false) + ", got " + show(*v));
  double x = v->get<double>();
  if (!std::isfinite(x) || x < f.min || (f.min_exclusive && x == f.min) || x > f.max) {
    fail(key, "expected " + range_phrase(f, false) + ", got " + show(*v));
  }
  return x;
}

bool Reader::boolean(const std::string& key) const {
  const FieldDecl& f = decl(key);
  const Json* v = find(key);
  if (!v) {
    Json dv = default_json(f);
    if (dv.is_null()) need(key);
    return dv.get<bool>();
  }
  if (!v->is_boolean()) fail(key, "expected true or false, got " + show(*v));
  return v->get<bool>();
}

std::string Reader::string(const std::string& key) const {
  const FieldDecl& f = decl(key);
  const Json* v = find(key);
  if (!v) {
    Json dv = default_json(f);
    if (dv.is_null()) {
      if (f.required() || f.default_value.rfind("required", 0) == 0) need(key);
      return "";
    }
    return dv.get<std::string>();
  }
  if (!v->is_string()) fail(key, "expected a string, got " + show(*v));
  return v->get<std::string>();
}

std::string Reader::choice(const std::string& key) const {
  const FieldDecl& f = decl(key);
  const Json* v = find(key);
  Json dv;
  if (!v) {
    dv = default_json(f);
    if (dv.is_null()) need(key);
    v = &dv;
  }
  std::string options = join(f.choices, ", ");
  if (!v->is_string()) fail(key, "expected one of " + options + ", got " + show(*v));
  std::string s = v->get<std::string>();
  if (std::find(f.choices.begin(), f.choices.end(), s) == f.choices.end()) {
    std::string guess = closest(s, f.choices);
    fail(key, "expected one of " + options + ", got \"" + s + "\"" +
                  (guess.empty() ? "" : "; did you mean \"" + guess + "\"?"));
  }
  return s;
}

template <typename T, typename Parse>
T Reader::dimensional(const std::string& key, FieldType type, Parse parse, const char* what,
                      const char* units, const char* example, const char* range) const {
  const FieldDecl& f = decl(key);
  QUADRANT_CHECK(f.type == type);
  const Json* v = find(key);
  Json dv;
  if (!v) {
    dv = default_json(f);
    if (dv.is_null()) need(key);
    v = &dv;
  }
  std::string expected = std::string("expected ") + what + " with a unit (" + units +
                         ") such as \"" + example + "\" (" + range + "), got ";
  if (v->is_number()) {
    fail(key, expected + show(*v) + " (a bare number: which unit?)");
  }
  if (!v->is_string()) fail(key, expected + show(*v));
  auto parsed = parse(v->get<std::string>());
  if (!parsed) fail(key, expected + show(*v));
  return *parsed;
}

Duration Reader::duration(const std::string& key) const {
  return dimensional<Duration>(key, FieldType::kDuration, parse_duration, "a duration",
                               duration_units(), "2ms", duration_range());
}
Bytes Reader::bytes(const std::string& key) const {
  return dimensional<Bytes>(key, FieldType::kBytes, parse_bytes, "a size", bytes_units(), "80GB",
                            bytes_range());
}
BytesPerSec Reader::bandwidth(const std::string& key) const {
  return dimensional<BytesPerSec>(key, FieldType::kBandwidth, parse_bandwidth, "a bandwidth",
                                  bandwidth_units(), "3.35TB/s", bandwidth_range());
}
FlopsPerSec Reader::flop_rate(const std::string& key) const {
  return dimensional<FlopsPerSec>(key, FieldType::kFlopRate, parse_flop_rate, "a FLOP rate",
                                  flop_rate_units(), "989TFLOP/s", flop_rate_range());
}

namespace {

// Loads an included file; a file that itself names an include is merged over it (its own
// keys win), recursively, with cycles reported.
const Json* resolve_include(Reader::Storage& storage, const std::string& target,
                            const std::string& from_file, const std::string& at,
                            const std::string& as_written) {
  auto& stack = storage.include_stack;
  if (std::find(stack.begin(), stack.end(), target) != stack.end()) {
    throw InputError(from_file, at, "include cycle through \"" + target + "\"");
  }
  storage.documents.push_back(load_json_file(target, from_file, at, as_written));
  if (std::find(storage.files.begin(), storage.files.end(), target) == storage.files.end())
    storage.files.push_back(target);
  const Json* doc = &storage.documents.back();
  if (!doc->is_object()) {
    throw InputError(target, "", "expected a JSON object, got " + show(*doc));
  }
  auto it = doc->find("include");
  if (it == doc->end()) return doc;
  if (!it->is_string()) {
    throw InputError(target, "include", "expected an include path (a string), got " + show(*it));
  }
  fs::path dir = fs::path(target).has_parent_path() ? fs::path(target).parent_path() : ".";
  std::string inner = (dir / it->get<std::string>()).lexically_normal().string();
  stack.push_back(target);
  const Json* base = resolve_include(storage, inner, target, "include", it->get<std::string>());
  stack.pop_back();
  Json merged = *base;
  for (auto kv = doc->begin(); kv != doc->end(); ++kv) {
    if (kv.key() != "include") merged[kv.key()] = kv.value();
  }
  storage.documents.push_back(std::move(merged));
  return &storage.documents.back();
}

}  // namespace

Reader Reader::make_object(const Json& value, const std::string& key, const std::string& path,
                           const std::string& schema_path) const {
  const std::string file = key.empty() ? file_ : key_file(key);
  const std::string base_dir =
      fs::path(file).has_parent_path() ? fs::path(file).parent_path().string() : std::string(".");
  auto include = [&](const Json& ref,
                     const std::string& at) -> std::pair<const Json*, std::string> {
    if (!ref.is_string()) {
      throw InputError(file, at, "expected an include path (a string), got " + show(ref));
    }
    std::string target = (fs::path(base_dir) / ref.get<std::string>()).lexically_normal().string();
    return {resolve_include(*storage_, target, file, at, ref.get<std::string>()), target};
  };
  if (value.is_string()) {
    auto [doc, target] = include(value, path);
    return Reader(doc, path, schema_path, target, "", nullptr, storage_);
  }
  if (!value.is_object()) {
    throw InputError(file, path, "expected an object (or an include path), got " + show(value));
  }
  if (auto it = value.find("include"); it != value.end()) {
    auto [doc, target] = include(*it, path.empty() ? "include" : path + ".include");
    return Reader(&value, path, schema_path, file, target, doc, storage_);
  }
  return Reader(&value, path, schema_path, file, "", nullptr, storage_);
}

Reader Reader::object(const std::string& key) const {
  const FieldDecl& f = decl(key);
  const std::string sp = schema_path_.empty() ? key : schema_path_ + "." + key;
  const Json* v = find(key);
  if (!v) {
    if (f.default_value.rfind("required", 0) == 0) need(key);
    static const Json kEmpty = Json::object();
    return Reader(&kEmpty, child_path(key), sp, file_, "", nullptr, storage_);
  }
  Reader child = make_object(*v, key, child_path(key), sp);
  child.merge_base(base_child(key), base_file_);
  return child;
}

const Json* Reader::base_child(const std::string& key) const {
  // Only when this object has its own value at key and an include under it has one too.
  if (!j_ || !j_->is_object() || !j_->contains(key)) return nullptr;
  if (!base_ || !base_->is_object()) return nullptr;
  auto it = base_->find(key);
  return it != base_->end() && it->is_object() ? &*it : nullptr;
}

void Reader::merge_base(const Json* base, const std::string& base_file) {
  // Objects merge key by key with what an include gave them; the local keys win.
  if (!base || base_ || !j_ || !j_->is_object() || base == j_) return;
  base_ = base;
  base_file_ = base_file;
  check_keys(*base_, base_file_);
}

std::vector<Reader> Reader::objects(const std::string& key) const {
  decl(key);
  const Json& v = need(key);
  if (!v.is_array()) fail(key, "expected an array of objects, got " + show(v));
  std::vector<Reader> out;
  const std::string sp = (schema_path_.empty() ? key : schema_path_ + "." + key) + "[]";
  for (size_t i = 0; i < v.size(); ++i) {
    std::string p = child_path(key) + "[" + std::to_string(i) + "]";
    out.push_back(make_object(v[i], "", p, sp));
    out.back().file_ = key_file(key);
  }
  return out;
}

std::vector<std::pair<std::string, Reader>> Reader::map_objects(const std::string& key) const {
  const FieldDecl& f = decl(key);
  QUADRANT_CHECK(f.type == FieldType::kMap);
  std::vector<std::pair<std::string, Reader>> out;
  const Json* v = find(key);
  if (!v) {
    if (f.default_value.rfind("required", 0) == 0) need(key);
    return out;
  }
  Reader map =
      make_object(*v, key, child_path(key), schema_path_.empty() ? key : schema_path_ + "." + key);
  map.merge_base(base_child(key), base_file_);
  const std::string sp = map.schema_path_ + ".*";
  auto add_from = [&](const Json* obj, const std::string& file) {
    if (!obj || !obj->is_object()) return;
    for (auto it = obj->begin(); it != obj->end(); ++it) {
      if (it.key() == "include" || it.key() == "$comment") continue;
      bool seen = std::any_of(out.begin(), out.end(), [&](auto& e) { return e.first == it.key(); });
      if (seen) continue;
      Reader r = map.make_object(it.value(), it.key(), map.child_path(it.key()), sp);
      r.file_ = r.base_ ? r.file_ : (it.value().is_string() ? r.file_ : file);
      if (obj == map.j_) r.merge_base(map.base_child(it.key()), map.base_file_);
      out.emplace_back(it.key(), std::move(r));
    }
  };
  add_from(map.j_, map.file_);
  add_from(map.base_, map.base_file_);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return out;
}

std::map<std::string, double> Reader::map_numbers(const std::string& key) const {
  const FieldDecl& f = decl(key);
  QUADRANT_CHECK(f.type == FieldType::kMap);
  std::map<std::string, double> out;
  const Json* v = find(key);
  if (!v) return out;
  if (!v->is_object()) fail(key, "expected an object of numbers by name, got " + show(*v));
  const FieldDecl* entry =
      find_field((schema_path_.empty() ? key : schema_path_ + "." + key) + ".*");
  QUADRANT_CHECK(entry != nullptr);
  for (auto it = v->begin(); it != v->end(); ++it) {
    const Json& x = it.value();
    std::string p = child_path(key) + "." + it.key();
    bool integer = entry->type == FieldType::kInteger;
    if (!x.is_number() || (integer && !x.is_number_integer()) || x.get<double>() < entry->min ||
        (entry->min_exclusive && x.get<double>() == entry->min) || x.get<double>() > entry->max) {
      throw InputError(key_file(key), p,
                       "expected " + range_phrase(*entry, integer) + ", got " + show(x));
    }
    out[it.key()] = x.get<double>();
  }
  return out;
}

std::map<std::string, std::string> Reader::map_strings(const std::string& key) const {
  QUADRANT_CHECK(decl(key).type == FieldType::kMap);
  std::map<std::string, std::string> out;
  const Json* v = find(key);
  if (!v) return out;
  if (!v->is_object()) fail(key, "expected an object of strings by name, got " + show(*v));
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string())
      throw InputError(key_file(key), child_path(key) + "." + it.key(),
                       "expected a string, got " + show(it.value()));
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::vector<int64_t> Reader::integers(const std::string& key, int64_t min) const {
  const FieldDecl& f = decl(key);
  const Json* v = find(key);
  Json dv;
  if (!v) {
    dv = default_json(f);
    if (dv.is_null()) {
      if (f.default_value.rfind("required", 0) == 0) need(key);
      return {};
    }
    v = &dv;
  }
  if (!v->is_array() || v->empty())
    fail(key, "expected a non-empty array of integers, got " + show(*v));
  // Search-space lists (degrees, batch and chunk sizes): bounded like the pool fields.
  constexpr int64_t kMaxListed = limits::kMaxTokens;
  std::vector<int64_t> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& x = (*v)[i];
    if (!x.is_number_integer() || x.get<double>() < static_cast<double>(min) ||
        x.get<double>() > kMaxListed) {
      throw InputError(key_file(key), child_path(key) + "[" + std::to_string(i) + "]",
                       "expected an integer in [" + std::to_string(min) + ", " +
                           std::to_string(kMaxListed) + "], got " + show(x));
    }
    out.push_back(x.get<int64_t>());
  }
  return out;
}

std::vector<std::string> Reader::strings(const std::string& key) const {
  decl(key);
  const Json* v = find(key);
  if (!v) return {};
  if (!v->is_array()) fail(key, "expected an array of strings, got " + show(*v));
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& x = (*v)[i];
    if (!x.is_string()) {
      throw InputError(key_file(key), child_path(key) + "[" + std::to_string(i) + "]",
                       "expected a string, got " + show(x));
    }
    out.push_back(x.get<std::string>());
  }
  return out;
}

std::vector<std::pair<int64_t, double>> Reader::pairs(const std::string& key) const {
  decl(key);
  const Json& v = need(key);
  const char* expected = "expected a non-empty array of [length, weight] pairs, got ";
  if (!v.is_array() || v.empty()) fail(key, expected + show(v));
  std::vector<std::pair<int64_t, double>> out;
  double total = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const Json& x = v[i];
    std::string p = child_path(key) + "[" + std::to_string(i) + "]";
    if (!x.is_array() || x.size() != 2 || !x[0].is_number_integer() || x[0].get<double>() < 1 ||
        x[0].get<double>() > static_cast<double>(limits::kMaxTokens) || !x[1].is_number() ||
        x[1].get<double>() < 0 || x[1].get<double>() > 1e300) {
      throw InputError(key_file(key), p,
                       "expected [length in [1, " + std::to_string(limits::kMaxTokens) +
                           "], weight in [0, 1e300]], got " + show(x));
    }
    out.emplace_back(x[0].get<int64_t>(), x[1].get<double>());
    total += x[1].get<double>();
  }
  if (!(total > 0) || !std::isfinite(total))
    fail(key, "expected weights with a positive, finite sum, got " + show(v));
  return out;
}

}  // namespace quadrant::io
