#include "tests/fuzz/fuzz_target.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "sim/core/error.h"
#include "sim/engine/simulation.h"
#include "sim/io/scenario_io.h"
#include "sim/workload/trace_reader.h"

namespace quadrant::fuzz {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// Requests a simulated case may generate: enough to reach every serving path (batches,
// KV transfers, preemption under a small KV) while a case stays in milliseconds.
constexpr int64_t kMaxFuzzRequests = 64;

// Every node's JSON pointer, the root included.
void pointers(const Json& j, const Json::json_pointer& at, std::vector<Json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) pointers(it.value(), at / it.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) pointers(j[i], at / i, out);
  }
}

// Relative file references of a shipped scenario made absolute (include paths, trace
// files, calibrated models are resolved against the file that names them).
void absolutise(Json& j, const fs::path& dir) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) absolutise(it.value(), dir);
  } else if (j.is_array()) {
    for (auto& v : j) absolutise(v, dir);
  } else if (j.is_string()) {
    const std::string s = j.get<std::string>();
    static const char* kExt[] = {".json", ".csv", ".jsonl"};
    for (const char* e : kExt) {
      const std::string ext(e);
      if (s.size() > ext.size() && s.compare(s.size() - ext.size(), ext.size(), ext) == 0 &&
          s[0] != '/' && fs::exists(dir / s)) {
        j = fs::absolute(dir / s).lexically_normal().string();
        return;
      }
    }
  }
}

// Loaded includes of a document resolved into it, so that mutations reach the model,
// the catalog and the workload, not only the file names.
void inline_includes(Json& j, int depth) {
  if (depth > 4) return;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      Json& v = it.value();
      if (v.is_string() && it.key() != "file" && it.key() != "calibrated" &&
          it.key() != "include") {
        const std::string s = v.get<std::string>();
        if (s.size() > 5 && s.compare(s.size() - 5, 5, ".json") == 0 && fs::exists(s)) {
          std::ifstream in(s);
          Json inner = Json::parse(in, nullptr, false);
          if (!inner.is_discarded() && inner.is_object()) {
            absolutise(inner, fs::path(s).parent_path());
            v = std::move(inner);
          }
        }
      }
      inline_includes(v, depth + 1);
    }
  }
}

}  // namespace

std::vector<Json> load_seed_scenarios(const std::vector<std::string>& files) {
  std::vector<Json> out;
  for (const std::string& f : files) {
    std::ifstream in(f);
    Json j = Json::parse(in);
    absolutise(j, fs::path(f).parent_path());
    out.push_back(j);
    Json inlined = j;  // a second seed with the includes resolved in place
    inline_includes(inlined, 0);
    out.push_back(std::move(inlined));
  }
  return out;
}

Outcome run_case(const FuzzCase& c, const std::string& workdir) {
  try {
    if (c.kind == FuzzCase::Kind::kTrace) {
      std::vector<TraceRecord> t = parse_trace(c.text, "fuzz.trace", c.format, 1.0);
      for (size_t i = 1; i < t.size(); ++i)
        if (t[i].arrival < t[i - 1].arrival) throw std::logic_error("trace out of order");
      return Outcome::kAccepted;
    }
    const std::string file = (fs::path(workdir) / "case.json").string();
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << c.text;
    }
    Scenario s = load_scenario(file);
    // A short run: few requests, a short drain. Traces are replayed whole, so long
    // ones are skipped (the trace cases cover their reader).
    if (s.workload.arrival.process == ArrivalProcess::kTrace &&
        s.workload.arrival.trace_requests > kMaxFuzzRequests)
      return Outcome::kAccepted;
    if (s.workload.max_requests == 0 || s.workload.max_requests > kMaxFuzzRequests)
      s.workload.max_requests = kMaxFuzzRequests;
    SimulationOptions o;
    o.seed = s.seed;
    o.keep_requests = true;
    o.drain_limit = Duration::seconds(600);
    SimulationResult r = simulate(s, roofline_cost_models(s), o);
    const SimulationSummary& m = r.summary;
    // Conservation: every request that arrived finished or was rejected.
    if (m.requests_finished + m.requests_rejected != m.requests_arrived)
      throw std::logic_error("requests not conserved: " + std::to_string(m.requests_arrived) +
                             " arrived, " + std::to_string(m.requests_finished) + " finished, " +
                             std::to_string(m.requests_rejected) + " rejected");
    return Outcome::kAccepted;
  } catch (const InputError&) {
    return Outcome::kRejected;
  }
}

ScenarioMutator::ScenarioMutator(uint64_t seed, std::vector<Json> scenarios,
                                 std::vector<std::pair<std::string, TraceFormat>> traces)
    : rng_(seed), scenarios_(std::move(scenarios)), traces_(std::move(traces)) {}

Json ScenarioMutator::extreme_number() {
  static const Json kNumbers[] = {
      0,
      -1,
      1,
      2,
      3,
      1e-300,
      -1e-300,
      1e300,
      -1e300,
      0.5,
      1e-9,
      1e9,
      2147483647,
      2147483648LL,
      4294967296LL,
      9007199254740993LL,
      std::numeric_limits<int64_t>::max(),
      std::numeric_limits<int64_t>::min(),
      std::numeric_limits<uint64_t>::max(),
      1e15,
      4096,
      4097,
      1024,
      65536,
      10000000,
      10000001,
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::denorm_min(),
  };
  return kNumbers[rng_() % std::size(kNumbers)];
}

Json ScenarioMutator::extreme_string() {
  static const char* kStrings[] = {
      "",
      "0s",
      "1ns",
      "1e300s",
      "1e-300s",
      "-1ms",
      "NaNms",
      "infs",
      "1e999s",
      "8760h",
      "8761h",
      "1e-300B/s",
      "0B/s",
      "1e300TB",
      "0GB",
      "1PB",
      "1e21TFLOP/s",
      "0FLOP/s",
      "1TOP/s",
      "80GB",
      "2ms",
      "mha",
      "gqa",
      "mla",
      "moe",
      "dense",
      "ultramem",
      "trace",
      "poisson",
      "diurnal",
      "gamma",
      "deterministic",
      "fixed",
      "uniform",
      "lognormal",
      "histogram",
      "colocated",
      "disaggregated",
      "round_robin",
      "least_kv",
      "fp8",
      "w4a8",
      "azure",
      "burstgpt",
      "mooncake",
      "/",
      ".",
      "..",
      "\xff\xfe",
      "H100-SXM",
      "H20",
      "A100-80GB",
      "L40S",
      "nonexistent.json",
  };
  return kStrings[rng_() % std::size(kStrings)];
}

Json ScenarioMutator::random_value(int depth) {
  switch (rng_() % (depth > 3 ? 5 : 8)) {
    case 0:
      return extreme_number();
    case 1:
      return extreme_string();
    case 2:
      return nullptr;
    case 3:
      return rng_() % 2 == 0;
    case 4:
      return Json::object();
    case 5: {
      Json a = Json::array();
      for (int i = static_cast<int>(rng_() % 3); i >= 0; --i) a.push_back(random_value(depth + 1));
      return a;
    }
    case 6: {
      Json o = Json::object();
      o["x" + std::to_string(rng_() % 4)] = random_value(depth + 1);
      return o;
    }
    default: {
      // Nesting: libFuzzer found stack overflows this way once.
      Json v = extreme_number();
      for (int i = static_cast<int>(rng_() % 200); i > 0; --i) v = Json::array({v});
      return v;
    }
  }
}

Json ScenarioMutator::mutate(Json doc, std::string& description) {
  const int n = 1 + static_cast<int>(rng_() % 4);
  for (int k = 0; k < n; ++k) {
    std::vector<Json::json_pointer> ps;
    pointers(doc, Json::json_pointer(), ps);
    const Json::json_pointer at = ps[rng_() % ps.size()];
    Json& node = doc[at];
    const unsigned op = static_cast<unsigned>(rng_() % 10);
    description += (description.empty() ? "" : "; ") + at.to_string() + ":";
    switch (op) {
      case 0:
      case 1:
        node = node.is_string() ? extreme_string() : extreme_number();
        description += "extreme";
        break;
      case 2:
        node = random_value(0);
        description += "retyped";
        break;
      case 3:
        if (!at.empty() && doc[at.parent_pointer()].is_object()) {
          doc[at.parent_pointer()].erase(at.back());
          description += "deleted";
        } else {
          node = nullptr;
          description += "nulled";
        }
        break;
      case 4:
        if (node.is_object()) {
          node["unknown_" + std::to_string(rng_() % 3)] = random_value(0);
          description += "unknown key";
        } else if (node.is_array()) {
          node.push_back(node.empty() ? random_value(0) : node[rng_() % node.size()]);
          description += "grown";
        }
        break;
      case 5:
        if (node.is_array()) {
          node = Json::array();
          description += "emptied";
        } else if (node.is_number()) {
          node = node.get<double>() * (rng_() % 2 ? 1e6 : -1);
          description += "scaled";
        }
        break;
      case 6: {
        // A value from elsewhere in the document.
        const Json other = doc[ps[rng_() % ps.size()]];
        doc[at] = other;
        description += "copied";
        break;
      }
      case 7:
        if (node.is_string()) {
          std::string s = node.get<std::string>();
          if (!s.empty()) s.insert(rng_() % s.size(), 1, "0.e-+9x "[rng_() % 8]);
          node = s;
          description += "typo";
        }
        break;
      default:
        if (node.is_number()) {
          node = node.get<double>() + (rng_() % 2 ? 1 : -1);
          description += "nudged";
        }
        break;
    }
  }
  return doc;
}

std::string ScenarioMutator::mutate_trace(std::string text, std::string& description) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  const int n = 1 + static_cast<int>(rng_() % 4);
  for (int k = 0; k < n && !lines.empty(); ++k) {
    const size_t i = rng_() % lines.size();
    std::string& l = lines[i];
    switch (rng_() % 9) {
      case 0:  // a number replaced by an extreme one
        for (size_t p = 0; p < l.size(); ++p)
          if (std::isdigit(static_cast<unsigned char>(l[p]))) {
            size_t e = p;
            while (e < l.size() && (std::isdigit(static_cast<unsigned char>(l[e])) || l[e] == '.'))
              ++e;
            static const char* kNum[] = {"1e400", "-5",     "1e300", "99999999999999999999", "nan",
                                         "0",     "1e-300", "9999",  "18446744073709551616"};
            l.replace(p, e - p, kNum[rng_() % std::size(kNum)]);
            break;
          }
        description += "number;";
        break;
      case 1:
        lines.insert(lines.begin() + static_cast<long>(i), l);
        description += "duplicated;";
        break;
      case 2:
        std::swap(l, lines[rng_() % lines.size()]);
        description += "swapped;";
        break;
      case 3:
        lines.erase(lines.begin() + static_cast<long>(i));
        description += "deleted;";
        break;
      case 4:
        if (!l.empty()) l.erase(rng_() % l.size(), 1 + rng_() % 4);
        description += "truncated;";
        break;
      case 5:
        l.insert(l.empty() ? 0 : rng_() % l.size(), 1, ",{}\"\r\t:\xef"[rng_() % 8]);
        description += "byte;";
        break;
      case 6:
        l += std::string(1 + rng_() % 3000, 'x');
        description += "long;";
        break;
      case 7:
        if (i + 1 < lines.size()) lines[i + 1] = "9999-12-31 23:59:59.9,1,1";
        description += "far future;";
        break;
      default:
        l.clear();
        description += "blank;";
        break;
    }
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

FuzzCase ScenarioMutator::next() {
  FuzzCase c;
  if (!traces_.empty() && rng_() % 10 < 3) {
    const auto& [text, format] = traces_[rng_() % traces_.size()];
    c.kind = FuzzCase::Kind::kTrace;
    c.format = format;
    c.text = mutate_trace(text, c.description);
    return c;
  }
  // Strings that are not UTF-8 become U+FFFD here (the JSON parser rejects such bytes;
  // libFuzzer's byte mutations and the corpus feed them raw).
  c.text = mutate(scenarios_[rng_() % scenarios_.size()], c.description)
               .dump(-1, ' ', false, Json::error_handler_t::replace);
  return c;
}

}  // namespace quadrant::fuzz
