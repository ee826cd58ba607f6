// `quadrant simulate` end to end: the Chrome trace it writes follows the trace-event
// format that Perfetto reads, and bad input leaves no output behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace {

namespace fs = std::filesystem;

int simulate(const std::string& args) {
  const std::string cmd =
      std::string(QUADRANT_BIN) + " simulate " + args + " --quiet > /dev/null 2>&1";
  return std::system(cmd.c_str());
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
  nlohmann::json j = nlohmann::json::parse(in);  // throws (fails) on malformed JSON
  ASSERT_TRUE(j.contains("traceEvents"));
  const auto& events = j["traceEvents"];
  ASSERT_TRUE(events.is_array());
  ASSERT_GT(events.size(), 10u);
  std::map<std::string, double> begun;  // async id -> begin ts
  std::set<int> tids_used, tids_named;
  std::set<std::string> track_names;
  for (const auto& e : events) {
    ASSERT_TRUE(e["name"].is_string()) << e;
    ASSERT_TRUE(e["pid"].is_number_integer()) << e;
    const std::string ph = e["ph"].get<std::string>();
    if (ph == "M") {
      if (e["name"] == "thread_name") {
        tids_named.insert(e["tid"].get<int>());
        track_names.insert(e["args"]["name"].get<std::string>());
      }
      continue;
    }
    ASSERT_TRUE(e["tid"].is_number_integer()) << e;
    ASSERT_TRUE(e["ts"].is_number()) << e;
    EXPECT_GE(e["ts"].get<double>(), 0) << e;
    tids_used.insert(e["tid"].get<int>());
    if (ph == "X") {
      EXPECT_GE(e["dur"].get<double>(), 0) << e;
    } else if (ph == "b" || ph == "e") {
      const std::string id = e["cat"].get<std::string>() + "/" + e["id"].dump();
      if (ph == "b") {
        EXPECT_EQ(begun.count(id), 0u) << "async id begun twice: " << id;
        begun[id] = e["ts"].get<double>();
      } else {
        ASSERT_EQ(begun.count(id), 1u) << "end without begin: " << id;
        EXPECT_GE(e["ts"].get<double>(), begun[id]);
        begun.erase(id);
      }
    } else {
      ADD_FAILURE() << "unexpected phase " << ph;
    }
  }
  EXPECT_TRUE(begun.empty()) << begun.size() << " async events never ended";
  EXPECT_EQ(tids_used, tids_named) << "every track has a thread_name";
  bool prefill = false, decode = false;
  for (const auto& t : track_names) {
    prefill = prefill || t.find("prefill") != std::string::npos;
    decode = decode || t.find("decode") != std::string::npos;
  }
  EXPECT_TRUE(prefill && decode);
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
