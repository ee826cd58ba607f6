// `quadrant simulate` end to end: the Chrome trace it writes follows the trace-event
// format that Perfetto reads, and bad input leaves no output behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

int simulate(const std::string& args) {
  const std::string cmd =
      std::string(QUADRANT_BIN) + " simulate " + args + " --quiet > /dev/null 2>&1";
  return std::system(cmd.c_str());
}

// The Trace Event Format document (the JSON chrome://tracing and Perfetto's UI load):
// an object with a traceEvents array; every event a name, a one-letter phase, integer
// pid and tid, a timestamp in microseconds; complete events ("X") a non-negative
// duration; async events ("b"/"e") a category and an id (integers here), every begin
// ended later; metadata ("M") process_name/thread_name with args.name, *_sort_index with
// an integer args.sort_index. Returns the violations, one line each.
std::vector<std::string> trace_event_format_violations(const nlohmann::json& j) {
  std::vector<std::string> bad;
  auto int_or = [](const nlohmann::json& e, const char* k) {
    return e.contains(k) && e[k].is_number_integer() ? e[k].get<int64_t>() : int64_t{-1};
  };
  auto fail = [&](const nlohmann::json& e, const std::string& why) {
    bad.push_back(why + ": " + e.dump().substr(0, 200));
  };
  if (!j.is_object() || !j.contains("traceEvents") || !j["traceEvents"].is_array())
    return {"no traceEvents array"};
  if (j.contains("displayTimeUnit") && j["displayTimeUnit"] != "ms" && j["displayTimeUnit"] != "ns")
    bad.push_back("displayTimeUnit must be ms or ns");
  const std::set<std::string> phases = {"X", "b", "e", "M", "B", "E", "i", "I", "C", "n"};
  std::map<std::pair<std::string, int64_t>, double> open;  // (cat, id) -> begin ts
  std::set<int64_t> pids_used, pids_named;
  std::set<std::pair<int64_t, int64_t>> threads_used, threads_named;
  for (const auto& e : j["traceEvents"]) {
    if (!e.is_object()) {
      fail(e, "event is not an object");
      continue;
    }
    if (!e.contains("name") || !e["name"].is_string()) fail(e, "name must be a string");
    if (!e.contains("ph") || !e["ph"].is_string() || !phases.count(e["ph"].get<std::string>())) {
      fail(e, "ph must be a known phase");
      continue;
    }
    const std::string ph = e["ph"];
    if (!e.contains("pid") || !e["pid"].is_number_integer()) fail(e, "pid must be an integer");
    if (e.contains("args") && !e["args"].is_object()) fail(e, "args must be an object");
    const int64_t pid = int_or(e, "pid");
    if (ph == "M") {
      const std::string name = e.value("name", "");
      if (name == "process_name" || name == "thread_name") {
        if (!e.contains("args") || !e["args"].contains("name") || !e["args"]["name"].is_string())
          fail(e, "metadata needs args.name");
      } else if (name == "process_sort_index" || name == "thread_sort_index") {
        if (!e.contains("args") || !e["args"].contains("sort_index") ||
            !e["args"]["sort_index"].is_number_integer())
          fail(e, "sort index needs an integer args.sort_index");
      } else {
        fail(e, "unknown metadata");
      }
      if (name.rfind("thread_", 0) == 0 && !(e.contains("tid") && e["tid"].is_number_integer()))
        fail(e, "thread metadata needs an integer tid");
      if (name == "process_name") pids_named.insert(pid);
      if (name == "thread_name") threads_named.insert({pid, int_or(e, "tid")});
      continue;
    }
    if (!e.contains("tid") || !e["tid"].is_number_integer()) fail(e, "tid must be an integer");
    if (!e.contains("ts") || !e["ts"].is_number() || e["ts"].get<double>() < 0)
      fail(e, "ts must be a number >= 0 (microseconds)");
    pids_used.insert(pid);
    threads_used.insert({pid, int_or(e, "tid")});
    if (ph == "X" && !(e.contains("dur") && e["dur"].is_number() && e["dur"].get<double>() >= 0))
      fail(e, "a complete event needs dur >= 0");
    if (ph == "b" || ph == "e") {
      if (!e.contains("cat") || !e["cat"].is_string()) fail(e, "an async event needs a cat");
      if (!e.contains("id") || !e["id"].is_number_integer()) {
        fail(e, "an async event needs an integer id");
        continue;
      }
      const auto key = std::pair{e.value("cat", ""), e["id"].get<int64_t>()};
      const double ts = e.contains("ts") && e["ts"].is_number() ? e["ts"].get<double>() : -1;
      if (ph == "b") {
        if (open.count(key)) fail(e, "async id begun twice");
        open[key] = ts;
      } else if (!open.count(key)) {
        fail(e, "async end without begin");
      } else {
        if (ts < open[key]) fail(e, "async end before its begin");
        open.erase(key);
      }
    }
  }
  if (!open.empty()) bad.push_back(std::to_string(open.size()) + " async events never ended");
  for (int64_t p : pids_used)
    if (!pids_named.count(p)) bad.push_back("process " + std::to_string(p) + " has no name");
  for (const auto& t : threads_used)
    if (!threads_named.count(t))
      bad.push_back("thread " + std::to_string(t.first) + "/" + std::to_string(t.second) +
                    " has no name");
  return bad;
}

TEST(SimulateCommandTest, TraceEventFormatCheckCatchesBrokenTraces) {
  using nlohmann::json;
  const json good = {
      {"traceEvents",
       {{{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "p"}}}},
        {{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 1}, {"args", {{"name", "t"}}}},
        {{"name", "s"}, {"ph", "X"}, {"pid", 1}, {"tid", 1}, {"ts", 0}, {"dur", 1}}}}};
  EXPECT_TRUE(trace_event_format_violations(good).empty());
  for (const auto& [path, value] :
       std::vector<std::pair<std::string, json>>{{"/traceEvents/2/dur", -1},
                                                 {"/traceEvents/2/pid", "1"},
                                                 {"/traceEvents/2/ts", "0"},
                                                 {"/traceEvents/2/ph", "Q"},
                                                 {"/traceEvents/2/tid", 2},
                                                 {"/traceEvents/1/args", json::object()}}) {
    json broken = good;
    broken[json::json_pointer(path)] = value;
    EXPECT_FALSE(trace_event_format_violations(broken).empty()) << path;
  }
  json async = good;
  async["traceEvents"].push_back(
      {{"name", "kv"}, {"cat", "kv"}, {"ph", "b"}, {"id", 7}, {"pid", 1}, {"tid", 1}, {"ts", 5}});
  EXPECT_FALSE(trace_event_format_violations(async).empty());  // never ended
  async["traceEvents"].push_back(
      {{"name", "kv"}, {"cat", "kv"}, {"ph", "e"}, {"id", "7"}, {"pid", 1}, {"tid", 1}, {"ts", 6}});
  EXPECT_FALSE(trace_event_format_violations(async).empty());  // a string id
}

TEST(SimulateCommandTest, ChromeTraceFollowsTheTraceEventFormat) {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-simulate-command-test-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  const fs::path trace = d / "trace.json";
  ASSERT_EQ(simulate("scenarios/examples/toy.json --out " + (d / "out").string() + " --trace " +
                     trace.string()),
            0);
  std::ifstream in(trace);
  const nlohmann::json j = nlohmann::json::parse(in);  // throws (fails) on malformed JSON
  for (const std::string& v : trace_event_format_violations(j)) ADD_FAILURE() << v;
  // Instance tracks grouped by pool, steps on them, KV transfers, integer ids and counts.
  std::set<std::string> processes, threads;
  std::map<std::pair<int64_t, int64_t>, double> step_end;
  int64_t steps = 0, transfers = 0;
  for (const auto& e : j["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "M" && e["name"] == "process_name")
      processes.insert(e["args"]["name"].get<std::string>());
    if (ph == "M" && e["name"] == "thread_name")
      threads.insert(e["args"]["name"].get<std::string>());
    if (ph == "X") {
      ++steps;
      for (const char* k : {"prefill_seqs", "prefill_tokens", "decode_seqs"})
        EXPECT_TRUE(e["args"][k].is_number_integer()) << k;
      // One step at a time on an instance (the toy has no pipeline stages).
      const auto track = std::pair{e["pid"].get<int64_t>(), e["tid"].get<int64_t>()};
      EXPECT_GE(e["ts"].get<double>() + 1e-6, step_end[track]) << e.dump();
      step_end[track] = e["ts"].get<double>() + e["dur"].get<double>();
    }
    if (ph == "b") {
      ++transfers;
      EXPECT_TRUE(e["args"]["request"].is_number_integer());
      EXPECT_TRUE(e["args"]["to_instance"].is_number_integer());
    }
  }
  EXPECT_TRUE(processes.count("prefill pool") && processes.count("decode pool") &&
              processes.count("KV transfers"));
  EXPECT_TRUE(threads.count("prefill[0]") && threads.count("decode[0]"));
  EXPECT_GT(steps, 100);
  // One KV transfer per request finished, every request of the toy going through decode.
  const nlohmann::json m = nlohmann::json::parse(std::ifstream(d / "out" / "metrics.json"));
  EXPECT_EQ(transfers, m["requests"]["finished"].get<int64_t>());
}

// requests.csv's scored rows are the population of metrics.json's percentiles.
TEST(SimulateCommandTest, RequestsCsvScoredRowsGiveTheMetricsPercentiles) {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-simulate-requests-test-" + std::to_string(::getpid()));
  fs::remove_all(d);
  ASSERT_EQ(simulate("scenarios/default.json --out " + d.string()), 0);
  std::ifstream csv(d / "requests.csv");
  std::string line;
  std::getline(csv, line);
  ASSERT_EQ(line,
            "id,arrival_s,input_tokens,output_tokens,ttft_s,tpot_s,e2e_s,queue_s,rejected,scored");
  std::vector<double> ttft, tpot;
  int64_t unscored = 0;
  int64_t expected_id = 0;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (line.back() == ',') f.push_back("");
    ASSERT_EQ(f.size(), 10u) << line;
    EXPECT_EQ(f[0].find_first_not_of("0123456789"), std::string::npos) << "integer ids";
    (void)expected_id;
    if (f[9] != "1") {
      ++unscored;
      continue;
    }
    ttft.push_back(std::stod(f[4]));
    if (!f[5].empty()) tpot.push_back(std::stod(f[5]));
  }
  EXPECT_GT(unscored, 0);  // the warm-up's requests
  const nlohmann::json m = nlohmann::json::parse(std::ifstream(d / "metrics.json"));
  ASSERT_EQ(static_cast<int64_t>(ttft.size()), m["requests"]["scored"].get<int64_t>());
  auto nearest_rank = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const size_t k = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  for (const char* p : {"p50", "p90", "p99"}) {
    const double q = p == std::string("p50") ? 50 : p == std::string("p90") ? 90 : 99;
    EXPECT_NEAR(nearest_rank(ttft, q), m["ttft_s"][p].get<double>(),
                1e-6 * m["ttft_s"][p].get<double>())
        << p;
    EXPECT_NEAR(nearest_rank(tpot, q), m["tpot_s"][p].get<double>(),
                1e-6 * m["tpot_s"][p].get<double>())
        << p;
  }
}

// --no-charts skips gnuplot (the benchmark's measure of the simulator alone) and nothing
// else: metrics.json is the same bytes, report.html says why it has no charts.
TEST(SimulateCommandTest, NoChartsLeavesTheMetricsAsTheyAre) {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-simulate-no-charts-" + std::to_string(::getpid()));
  fs::remove_all(d);
  ASSERT_EQ(simulate("scenarios/examples/toy.json --out " + (d / "with").string()), 0);
  ASSERT_EQ(simulate("scenarios/examples/toy.json --no-charts --out " + (d / "without").string()),
            0);
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  EXPECT_EQ(slurp(d / "with" / "metrics.json"), slurp(d / "without" / "metrics.json"));
  EXPECT_FALSE(fs::exists(d / "without" / "charts"));
  const std::string page = slurp(d / "without" / "report.html");
  EXPECT_NE(page.find("No charts: --no-charts."), std::string::npos);
  EXPECT_EQ(page.find("<svg"), std::string::npos);
  fs::remove_all(d);
}

TEST(SimulateCommandTest, BadInputExitsNonZeroAndWritesNothing) {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-simulate-bad-input-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  std::ofstream(d / "bad.json") << "{\"name\": \"x\",, }";
  EXPECT_NE(simulate((d / "bad.json").string() + " --out " + (d / "out").string() + " --trace " +
                     (d / "t.json").string()),
            0);
  EXPECT_FALSE(fs::exists(d / "out"));
  EXPECT_FALSE(fs::exists(d / "t.json"));
}

}  // namespace
