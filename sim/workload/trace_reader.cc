#include "sim/workload/trace_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"

namespace quadrant {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t' || s[b] == '\xef' || s[b] == '\xbb' ||
                          s[b] == '\xbf'))  // also a UTF-8 byte-order mark
    ++b;
  return s.substr(b);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(trim(cell));
      cell.clear();
    } else {
      cell += c;
    }
  }
  out.push_back(trim(cell));
  return out;
}

struct LineError {
  const std::string& file;
  int line;
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(file, "line " + std::to_string(line), what);
  }
};

double parse_number(const std::string& s, const LineError& at, const std::string& column) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    at.fail(column + ": expected a number, got \"" + s + "\"");
  return v;
}

int32_t parse_tokens(const std::string& s, const LineError& at, const std::string& column) {
  double v = parse_number(s, at, column);
  if (v < 0 || v > 1e8 || v != std::floor(v))
    at.fail(column + ": expected a non-negative whole token count, got \"" + s + "\"");
  return static_cast<int32_t>(v);
}

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS[.fraction]" (also with 'T') to nanoseconds since the epoch.
int64_t parse_datetime_ns(const std::string& s, const LineError& at) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char sep = 0;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &sec,
                  &consumed) != 7 ||
      (sep != ' ' && sep != 'T') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      sec > 60)
    at.fail("TIMESTAMP: expected \"YYYY-MM-DD HH:MM:SS.fraction\", got \"" + s + "\"");
  int64_t frac_ns = 0;
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    int64_t scale = 100000000;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  while (i < s.size() && (s[i] == 'Z' || s[i] == ' ')) ++i;
  if (i != s.size())
    at.fail("TIMESTAMP: expected \"YYYY-MM-DD HH:MM:SS.fraction\", got \"" + s + "\"");
  const int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60 * 1000000000LL + sec * 1000000000LL + frac_ns;
}

struct RawRecord {
  int64_t at_ns;  // absolute, format's own origin
  int32_t input, output;
};

size_t column(const std::vector<std::string>& header, std::initializer_list<const char*> names,
              const LineError& at) {
  for (const char* n : names)
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == n) return i;
  std::string want;
  for (const char* n : names) want += (want.empty() ? "" : " or ") + std::string(n);
  at.fail("expected a header with a column " + want);
}

std::vector<RawRecord> parse_csv(std::istream& in, const std::string& file, TraceFormat format) {
  std::vector<RawRecord> out;
  std::string line;
  int line_no = 0;
  std::vector<std::string> header;
  size_t c_time = 0, c_in = 0, c_out = 0;
  while (std::getline(in, line)) {
    ++line_no;
    LineError at{file, line_no};
    if (trim(line).empty()) continue;
    std::vector<std::string> cells = split_csv(line);
    if (header.empty()) {
      header = cells;
      if (format == TraceFormat::kAzure) {
        c_time = column(header, {"TIMESTAMP"}, at);
        c_in = column(header, {"ContextTokens"}, at);
        c_out = column(header, {"GeneratedTokens"}, at);
      } else {
        c_time = column(header, {"Timestamp"}, at);
        c_in = column(header, {"Request tokens"}, at);
        c_out = column(header, {"Response tokens"}, at);
      }
      continue;
    }
    if (cells.size() != header.size())
      at.fail("expected " + std::to_string(header.size()) + " comma-separated fields, got " +
              std::to_string(cells.size()));
    RawRecord r{};
    if (format == TraceFormat::kAzure) {
      r.at_ns = parse_datetime_ns(cells[c_time], at);
    } else {
      double s = parse_number(cells[c_time], at, header[c_time]);
      if (s < 0) at.fail(header[c_time] + ": expected a non-negative time, got " + cells[c_time]);
      r.at_ns = static_cast<int64_t>(std::llround(s * 1e9));
    }
    r.input = parse_tokens(cells[c_in], at, header[c_in]);
    r.output = parse_tokens(cells[c_out], at, header[c_out]);
    out.push_back(r);
  }
  if (header.empty()) throw InputError(file, "", "expected a CSV header line, got an empty file");
  return out;
}

// The value after "key": in a flat JSON object line (the Mooncake format). Minimal on
// purpose: sim/ core stays free of a JSON library, and the format is one flat object
// per line whose only array is hash_ids, which we skip.
std::string json_field(const std::string& line, const std::string& key, const LineError& at) {
  const std::string quoted = "\"" + key + "\"";
  size_t k = line.find(quoted);
  if (k == std::string::npos) at.fail("expected a field \"" + key + "\"");
  size_t colon = line.find(':', k + quoted.size());
  if (colon == std::string::npos) at.fail("expected ':' after \"" + key + "\"");
  size_t b = colon + 1;
  while (b < line.size() && line[b] == ' ') ++b;
  size_t e = b;
  while (e < line.size() && line[e] != ',' && line[e] != '}' && line[e] != ' ') ++e;
  return line.substr(b, e - b);
}

std::vector<RawRecord> parse_jsonl(std::istream& in, const std::string& file) {
  std::vector<RawRecord> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    LineError at{file, line_no};
    std::string t = trim(line);
    if (t.empty()) continue;
    if (t.front() != '{' || t.back() != '}') at.fail("expected one JSON object per line");
    RawRecord r{};
    double ms = parse_number(json_field(t, "timestamp", at), at, "timestamp");
    if (ms < 0) at.fail("timestamp: expected a non-negative time in ms");
    r.at_ns = static_cast<int64_t>(std::llround(ms * 1e6));
    r.input = parse_tokens(json_field(t, "input_length", at), at, "input_length");
    r.output = parse_tokens(json_field(t, "output_length", at), at, "output_length");
    out.push_back(r);
  }
  return out;
}

}  // namespace

std::vector<TraceRecord> parse_trace(const std::string& text, const std::string& file,
                                     TraceFormat format, double time_scale) {
  if (!(time_scale > 0)) throw InputError(file, "", "time_scale: expected a positive number");
  std::istringstream in(text);
  std::vector<RawRecord> raw =
      format == TraceFormat::kMooncake ? parse_jsonl(in, file) : parse_csv(in, file, format);
  if (raw.empty()) throw InputError(file, "", "expected at least one request, got none");
  std::stable_sort(raw.begin(), raw.end(),
                   [](const RawRecord& a, const RawRecord& b) { return a.at_ns < b.at_ns; });
  const int64_t origin = raw.front().at_ns;
  std::vector<TraceRecord> out;
  out.reserve(raw.size());
  for (const RawRecord& r : raw) {
    const double offset_ns = static_cast<double>(r.at_ns - origin) * time_scale;
    out.push_back({SimTime::from_ns(std::llround(offset_ns)), std::max<int32_t>(r.input, 1),
                   std::max<int32_t>(r.output, 1)});
  }
  return out;
}

std::vector<TraceRecord> read_trace(const std::string& path, TraceFormat format,
                                    double time_scale) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "", "cannot open trace file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_trace(buf.str(), path, format, time_scale);
}

}  // namespace quadrant
