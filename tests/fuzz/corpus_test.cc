// The committed corpus of issue 13's failure classes (tests/fuzz/corpus/cases.tsv): each
// case runs the built `quadrant` and must get a clean one-line error or a correct result,
// never a crash, a hang, a sanitizer report or a second line of noise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name, expect, args, text, absent;
};

// gtest names a failing case by this.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name << ": quadrant " << c.args;
}

std::vector<Case> load_cases() {
  std::vector<Case> out;
  std::ifstream in(std::string(QUADRANT_SOURCE_DIR) + "/tests/fuzz/corpus/cases.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) cells.push_back(cell);
    if (cells.size() == 4) out.push_back({cells[0], cells[1], cells[2], cells[3], ""});
    if (cells.size() == 5) out.push_back({cells[0], cells[1], cells[2], cells[3], cells[4]});
  }
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

class CorpusTest : public ::testing::TestWithParam<Case> {};

TEST(Corpus, HasTheIssueClasses) {
  EXPECT_GE(load_cases().size(), 40u);
}

TEST_P(CorpusTest, CleanErrorOrCorrectResult) {
  const Case& c = GetParam();
  const fs::path tmp =
      fs::temp_directory_path() / ("quadrant_corpus_" + std::to_string(getpid()) + "_" + c.name);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string args =
      replace_all(replace_all(c.args, "{C}", "tests/fuzz/corpus"), "{T}", tmp.string());
  const std::string cmd = "timeout -s KILL 60 " + std::string(QUADRANT_BIN) + " " + args + " > " +
                          (tmp / "stdout").string() + " 2> " + (tmp / "stderr").string();
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  const int rc = WEXITSTATUS(status);
  const std::string out = read(tmp / "stdout"), err = read(tmp / "stderr");
  ASSERT_LT(rc, 124) << "crashed or hung (" << rc << "): " << cmd << "\n" << err;
  if (c.expect == "error") {
    EXPECT_EQ(rc, 1) << cmd << "\n" << err;
    EXPECT_EQ(err.rfind("quadrant: error: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
    EXPECT_NE(err.find(c.text), std::string::npos) << "expected \"" << c.text << "\" in " << err;
  } else if (c.expect == "ok") {
    EXPECT_EQ(rc, 0) << cmd << "\n" << err;
    EXPECT_NE(out.find(c.text), std::string::npos) << "expected \"" << c.text << "\" in " << out;
    if (!c.absent.empty()) {
      EXPECT_EQ(out.find(c.absent), std::string::npos)
          << "unexpected \"" << c.absent << "\" in " << out;
    }
  } else {
    EXPECT_NE(rc, 0) << cmd;
    EXPECT_NE((out + err).find(c.text), std::string::npos) << out << err;
  }
  // Inputs are never written: the corpus folder holds no output of any case.
  EXPECT_FALSE(fs::exists("tests/fuzz/corpus/.quadrant-output"));
  fs::remove_all(tmp);
}

INSTANTIATE_TEST_SUITE_P(Cases, CorpusTest, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = i.param.name;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
