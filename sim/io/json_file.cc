#include "sim/io/json_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace quadrant::io {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// Line and column of a byte offset, 1-based.
std::string line_col(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

// The byte where arrays and objects nest deeper than limits::kMaxJsonDepth, or npos.
// Checked before parsing: the parser and the value's printing recurse per level, so
// 10^5 '[' would overflow the stack.
size_t too_deep_at(const std::string& text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limits::kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string::npos;
}

}  // namespace

Json load_json_file(const std::string& path, const std::string& referenced_from,
                    const std::string& referenced_at, const std::string& as_written) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  std::ifstream in;
  if (fs::is_regular_file(st)) in.open(path, std::ios::binary);
  if (!in.is_open()) {
    std::string abs = fs::absolute(path, ec).lexically_normal().string();
    std::string why = fs::is_directory(st) ? "expected a JSON file, got a directory (" + abs + ")"
                      : fs::exists(st)     ? "expected a regular JSON file (" + abs + ")"
                                           : "";
    if (!referenced_from.empty()) {
      throw InputError(referenced_from, referenced_at,
                       "cannot open included file \"" + (as_written.empty() ? path : as_written) +
                           "\" (" + (why.empty() ? "looked for " + abs : why) + ")");
    }
    throw InputError(path, "", why.empty() ? "cannot open file (looked for " + abs + ")" : why);
  }
  const auto size = fs::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(limits::kMaxJsonFileBytes)) {
    throw InputError(path, "",
                     "expected a JSON file of at most " +
                         std::to_string(limits::kMaxJsonFileBytes >> 20) + " MiB, got " +
                         std::to_string(size >> 20) + " MiB");
  }
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    throw InputError(path, "", std::string("cannot read file: ") + e.what());
  }
  if (in.bad()) throw InputError(path, "", "cannot read file");
  if (size_t at = too_deep_at(text); at != std::string::npos) {
    throw InputError(path + ":" + line_col(text, at), "",
                     "expected arrays and objects nested at most " +
                         std::to_string(limits::kMaxJsonDepth) + " deep, got deeper");
  }
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // Line and column of the byte where parsing stopped.
    size_t byte = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    std::string what = e.what();
    if (auto p = what.find(": "); p != std::string::npos) what = what.substr(p + 2);
    if (auto p = what.find("parse error at line"); p != std::string::npos) {
      if (auto q = what.find(": ", p); q != std::string::npos) what = what.substr(q + 2);
    }
    throw InputError(path + ":" + line_col(text, byte), "", "malformed JSON: " + what);
  } catch (const Json::exception& e) {
    // A number beyond a double's range ("1e999"): the parser names the literal only.
    std::string what = e.what();
    std::string where = path;
    if (auto q = what.find('\''); q != std::string::npos) {
      const std::string literal = what.substr(q + 1, what.rfind('\'') - q - 1);
      if (size_t at = text.find(literal); !literal.empty() && at != std::string::npos)
        where += ":" + line_col(text, at);
      what = "expected a number within a double's range (about ±1.8e308), got " + literal;
    }
    throw InputError(where, "", what);
  }
}

}  // namespace quadrant::io
