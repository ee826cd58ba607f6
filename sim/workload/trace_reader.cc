#include "sim/workload/trace_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/limits.h"

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
  // line number
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
  if (v < 0 || v > static_cast<double>(limits::kMaxTokens) || v != std::floor(v))
    at.fail(column + ": expected a non-negative whole token count, at most " +
            std::to_string(limits::kMaxTokens) + ", got \"" + s + "\"");
  return static_cast<int32_t>(v);
}

// A time written in the trace's own unit (s, ms) to integer nanoseconds, exactly for
// plain decimals: epoch milliseconds such as 1700000000250 need 61 bits, more than a
// double holds (as a double x 1e6 they became 249999872 ns apart instead of 250 ms).
// Exponent forms go through a double. InputError when negative or past the clock.
int64_t to_ns(const std::string& s, int64_t ns_per_unit, const LineError& at,
              const std::string& column) {
  auto fail = [&] {
    at.fail(column + ": expected a non-negative time below 9e18 ns, got \"" + s + "\"");
  };
  const char* b = s.data();
  const char* e = b + s.size();
  int64_t whole = 0;
  auto [p, ec] = std::from_chars(b, e, whole);
  if (ec == std::errc() && (p == e || *p == '.')) {
    int64_t frac_ns = 0;
    if (p != e) {
      int64_t scale = ns_per_unit;
      for (++p; p != e; ++p) {
        if (!std::isdigit(static_cast<unsigned char>(*p))) break;
        scale /= 10;
        frac_ns += (*p - '0') * scale;
      }
    }
    int64_t ns = 0;
    if (p == e) {
      if (whole < 0 || __builtin_mul_overflow(whole, ns_per_unit, &ns) ||
          ns > 9'000'000'000'000'000'000 - frac_ns)
        fail();
      return ns + frac_ns;
    }
  }
  const double v = parse_number(s, at, column);
  const double ns = v * static_cast<double>(ns_per_unit);
  if (v < 0 || !(ns < 9e18)) fail();
  return std::llround(ns);
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
      (sep != ' ' && sep != 'T') || y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
      h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
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
  int64_t line;   // ties keep file order
  int32_t input, output;
  std::vector<uint64_t> hash_ids;
  bool operator>(const RawRecord& o) const {
    return at_ns != o.at_ns ? at_ns > o.at_ns : line > o.line;
  }
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

// The "hash_ids": [a, b, ...] array of a Mooncake line (absent: none): non-negative
// integers, the prompt's block hashes in order.
std::vector<uint64_t> hash_ids_of(const std::string& line, const LineError& at) {
  std::vector<uint64_t> out;
  const size_t k = line.find("\"hash_ids\"");
  if (k == std::string::npos) return out;
  const size_t open = line.find('[', k);
  const size_t close = open == std::string::npos ? open : line.find(']', open);
  if (close == std::string::npos) at.fail("expected hash_ids as an array of integers");
  size_t i = open + 1;
  for (;;) {
    while (i < close && (line[i] == ' ' || line[i] == ',')) ++i;
    if (i >= close) break;
    size_t e = i;
    while (e < close && line[e] >= '0' && line[e] <= '9') ++e;
    if (e == i || e - i > 19 || (e < close && line[e] != ',' && line[e] != ' '))
      at.fail("expected hash_ids as an array of non-negative integers, got \"" +
              line.substr(open, std::min<size_t>(close - open + 1, 40)) + "\"");
    out.push_back(std::stoull(line.substr(i, e - i)));
    i = e;
  }
  return out;
}

}  // namespace

struct TraceReader::State {
  std::unique_ptr<std::istream> in;
  std::string file;
  TraceFormat format;
  double time_scale;
  std::vector<char> buf = std::vector<char>(static_cast<size_t>(limits::kMaxTraceLineBytes) + 2);
  std::string line;
  int64_t line_no = 0;
  std::vector<std::string> header;
  size_t c_time = 0, c_in = 0, c_out = 0;
  std::priority_queue<RawRecord, std::vector<RawRecord>, std::greater<>> window;
  bool eof = false;
  int64_t read = 0, emitted = 0;
  int64_t origin = 0, last_ns = 0;

  // The next non-blank line, or false at the end of the stream.
  bool next_line() {
    for (;;) {
      in->getline(buf.data(), static_cast<std::streamsize>(buf.size()));
      const std::streamsize n = in->gcount();
      if (n == 0 && !in->good()) return false;
      ++line_no;
      if (in->fail() && !in->eof()) {
        // The buffer filled before a newline.
        throw InputError(file, "line " + std::to_string(line_no),
                         "expected a line of at most " +
                             std::to_string(limits::kMaxTraceLineBytes) + " bytes, got more");
      }
      const size_t len = static_cast<size_t>(n) - (in->eof() ? 0 : 1);  // minus the '\n'
      line.assign(buf.data(), len);
      line = trim(line);
      if (!line.empty()) return true;
      if (in->eof()) return false;
    }
  }

  void read_header() {
    if (format == TraceFormat::kMooncake) return;
    if (!next_line()) throw InputError(file, "", "expected a CSV header line, got an empty file");
    LineError at{file, static_cast<int>(line_no)};
    header = split_csv(line);
    if (format == TraceFormat::kAzure) {
      c_time = column(header, {"TIMESTAMP"}, at);
      c_in = column(header, {"ContextTokens"}, at);
      c_out = column(header, {"GeneratedTokens"}, at);
    } else {
      c_time = column(header, {"Timestamp"}, at);
      c_in = column(header, {"Request tokens"}, at);
      c_out = column(header, {"Response tokens"}, at);
    }
  }

  RawRecord parse_line() const {
    LineError at{file, static_cast<int>(line_no)};
    RawRecord r{};
    r.line = line_no;
    if (format == TraceFormat::kMooncake) {
      if (line.front() != '{' || line.back() != '}') at.fail("expected one JSON object per line");
      r.at_ns = to_ns(json_field(line, "timestamp", at), 1'000'000, at, "timestamp (ms)");
      r.input = parse_tokens(json_field(line, "input_length", at), at, "input_length");
      r.output = parse_tokens(json_field(line, "output_length", at), at, "output_length");
      r.hash_ids = hash_ids_of(line, at);
      return r;
    }
    std::vector<std::string> cells = split_csv(line);
    if (cells.size() != header.size())
      at.fail("expected " + std::to_string(header.size()) + " comma-separated fields, got " +
              std::to_string(cells.size()));
    if (format == TraceFormat::kAzure) {
      r.at_ns = parse_datetime_ns(cells[c_time], at);
    } else {
      r.at_ns = to_ns(cells[c_time], 1'000'000'000, at, header[c_time] + " (s)");
    }
    r.input = parse_tokens(cells[c_in], at, header[c_in]);
    r.output = parse_tokens(cells[c_out], at, header[c_out]);
    return r;
  }

  std::optional<TraceRecord> next() {
    while (!eof && static_cast<int64_t>(window.size()) <= limits::kTraceReorderWindow) {
      if (!next_line()) {
        eof = true;
        break;
      }
      if (++read > limits::kMaxRequests)
        throw InputError(file, "line " + std::to_string(line_no),
                         "expected at most " + std::to_string(limits::kMaxRequests) +
                             " requests in a trace (sim/core/limits.h), got more");
      window.push(parse_line());
    }
    if (window.empty()) {
      if (emitted == 0) throw InputError(file, "", "expected at least one request, got none");
      return std::nullopt;
    }
    RawRecord r = std::move(const_cast<RawRecord&>(window.top()));
    window.pop();
    if (emitted == 0) origin = r.at_ns;
    if (r.at_ns < last_ns) {
      throw InputError(file, "line " + std::to_string(r.line),
                       "expected lines in time order within " +
                           std::to_string(limits::kTraceReorderWindow) +
                           " lines; this one is earlier than requests already replayed (sort the "
                           "trace by time)");
    }
    last_ns = r.at_ns;
    ++emitted;
    const double offset_ns = static_cast<double>(r.at_ns - origin) * time_scale;
    if (!(offset_ns <= static_cast<double>(limits::kMaxDurationNs)))
      throw InputError(file, "line " + std::to_string(r.line),
                       "expected a trace spanning at most one year after time_scale, got " +
                           std::to_string(offset_ns * 1e-9 / 86400) + " days");
    // Unscaled offsets stay exact integers.
    const int64_t at = time_scale == 1.0 ? r.at_ns - origin : std::llround(offset_ns);
    return TraceRecord{SimTime::from_ns(at), std::max<int32_t>(r.input, 1),
                       std::max<int32_t>(r.output, 1), std::move(r.hash_ids)};
  }
};

TraceReader::TraceReader(const std::string& path, TraceFormat format, double time_scale) {
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  std::error_code ec;
  if (!*in || std::filesystem::is_directory(path, ec))
    throw InputError(path, "", "cannot open trace file");
  *this = TraceReader(std::move(in), path, format, time_scale);
}

TraceReader::TraceReader(std::unique_ptr<std::istream> in, const std::string& file,
                         TraceFormat format, double time_scale)
    : s_(std::make_unique<State>()) {
  if (!(time_scale > 0) || !std::isfinite(time_scale))
    throw InputError(file, "", "time_scale: expected a positive number");
  s_->in = std::move(in);
  s_->file = file;
  s_->format = format;
  s_->time_scale = time_scale;
  s_->read_header();
}

TraceReader::~TraceReader() = default;
TraceReader::TraceReader(TraceReader&&) noexcept = default;
TraceReader& TraceReader::operator=(TraceReader&&) noexcept = default;

std::optional<TraceRecord> TraceReader::next() {
  return s_->next();
}

size_t TraceReader::buffered() const {
  return s_->window.size();
}

namespace {

// Lengths into exact bins up to 256 tokens and 1%-wide buckets above (count, sum).
class LengthHistogram {
 public:
  void add(int32_t n) {
    const size_t b = bucket(n);
    if (b >= count_.size()) {
      count_.resize(b + 1, 0);
      sum_.resize(b + 1, 0);
    }
    ++count_[b];
    sum_[b] += n;
  }
  std::vector<std::pair<int64_t, double>> bins() const {
    std::vector<std::pair<int64_t, double>> out;
    for (size_t b = 0; b < count_.size(); ++b)
      if (count_[b] > 0)
        out.emplace_back(std::llround(sum_[b] / static_cast<double>(count_[b])),
                         static_cast<double>(count_[b]));
    return out;
  }

 private:
  static size_t bucket(int32_t n) {
    if (n <= 256) return static_cast<size_t>(n);
    return 257 + static_cast<size_t>(std::log(n / 256.0) / std::log(1.01));
  }
  std::vector<int64_t> count_;
  std::vector<double> sum_;
};

}  // namespace

TraceSummary scan_trace(const std::string& path, TraceFormat format, double time_scale) {
  TraceReader reader(path, format, time_scale);
  TraceSummary sum;
  double in = 0, out = 0;
  SimTime last;
  LengthHistogram in_hist, out_hist;
  while (auto r = reader.next()) {
    ++sum.requests;
    in += r->input_tokens;
    out += r->output_tokens;
    in_hist.add(r->input_tokens);
    out_hist.add(r->output_tokens);
    last = r->arrival;
  }
  sum.span = last - SimTime::start();
  sum.mean_input_tokens = in / static_cast<double>(sum.requests);
  sum.mean_output_tokens = out / static_cast<double>(sum.requests);
  sum.input_bins = in_hist.bins();
  sum.output_bins = out_hist.bins();
  return sum;
}

namespace {
std::vector<TraceRecord> drain(TraceReader reader) {
  std::vector<TraceRecord> out;
  while (auto r = reader.next()) out.push_back(*r);
  return out;
}
}  // namespace

std::vector<TraceRecord> parse_trace(const std::string& text, const std::string& file,
                                     TraceFormat format, double time_scale) {
  return drain(TraceReader(std::make_unique<std::istringstream>(text), file, format, time_scale));
}

std::vector<TraceRecord> read_trace(const std::string& path, TraceFormat format,
                                    double time_scale) {
  return drain(TraceReader(path, format, time_scale));
}

}  // namespace quadrant
