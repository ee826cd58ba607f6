// Reading a JSON input file safely, for every reader of JSON (scenarios and their
// includes through json_reader.h, calibration's models, profiles and grids): regular
// files only, at most limits::kMaxJsonFileBytes, nesting at most limits::kMaxJsonDepth
// (checked before parsing: the parser and printing recurse per level, and 10^5 '['
// overflowed the stack), numbers past a double's range and malformed JSON named by
// file:line:column. Depends on nothing of Quadrant but sim/core, so that the CUPTI
// collector can link it alone.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace quadrant::io {

// Parses a file; every problem is an InputError naming the file (and line:column). A
// missing file names the path it looked for; `referenced_from`, `referenced_at` and
// `as_written` describe an include (the file and JSON path naming it, the path as
// written there).
nlohmann::json load_json_file(const std::string& path, const std::string& referenced_from = "",
                              const std::string& referenced_at = "",
                              const std::string& as_written = "");

}  // namespace quadrant::io
