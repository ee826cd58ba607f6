// Parsing of dimensional values written with their units: "80GB", "3.35TB/s", "2ms",
// "989TFLOP/s", and back. Each parse returns nullopt when the text is not a number followed by a
// unit of the right kind, or its value is outside the kind's range (*_range(): e.g. a duration of
// at most one year, so that the int64 nanosecond clock cannot overflow); the caller turns that into
// an InputError naming the JSON path.
#pragma once

#include <optional>
#include <string>

#include "sim/core/units.h"

namespace quadrant::io {

std::optional<Duration> parse_duration(const std::string& text);
std::optional<Bytes> parse_bytes(const std::string& text);
std::optional<BytesPerSec> parse_bandwidth(const std::string& text);
std::optional<FlopsPerSec> parse_flop_rate(const std::string& text);

// The inverse: the shortest text with a unit that parses back to exactly the same value
// ("80GB", "3.35TB/s", "300GB/s", "2ms"; a leading "0." counts one character more, ties
// go to the larger unit). save_scenario writes dimensional values with these.
std::string format_duration(Duration d);
std::string format_bytes(Bytes b);
std::string format_bandwidth(BytesPerSec b);
std::string format_flop_rate(FlopsPerSec f);

// The units each kind accepts, for error messages ("ns, us, ms, s, min, h").
const char* duration_units();
const char* bytes_units();
const char* bandwidth_units();
const char* flop_rate_units();
// The accepted range of each kind, for error messages ("0 or 1ns to 8760h, one year").
const char* duration_range();
const char* bytes_range();
const char* bandwidth_range();
const char* flop_rate_range();

}  // namespace quadrant::io
