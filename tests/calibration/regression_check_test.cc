#include "calibration/regression_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "calibration/fit.h"
#include "tests/calibration/synthetic.h"

namespace quadrant::calibration {
namespace {

std::vector<Profile> run(uint64_t seed) {
  return {testing::decode_attention_profile(testing::roofline_max, 0.005, seed),
          testing::prefill_ffn_profile(0.005, seed + 100),
          testing::dense_gemm_profile(0.005, seed + 200)};
}

const OpVerdict& verdict(const CheckReport& r, const std::string& op) {
  for (const OpVerdict& v : r.ops)
    if (v.op == op) return v;
  throw std::runtime_error("no op " + op);
}

TEST(RegressionCheck, ItselfPasses) {
  auto b = run(1);
  CheckReport r = check_profiles(b, b);
  EXPECT_FALSE(r.failed);
  EXPECT_FALSE(r.warned);
  for (const OpVerdict& v : r.ops) EXPECT_GT(v.matched, 0);
}

// +-2% noise on every shape, many seeds: never a failure, never a flagged shape.
TEST(RegressionCheck, TwoPercentNoisePasses) {
  auto b = run(1);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::vector<Profile> c;
    for (const Profile& p : b) c.push_back(testing::jittered(p, 0.02, seed * 7 + p.shapes.size()));
    CheckReport r = check_profiles(b, c);
    EXPECT_FALSE(r.failed) << format_report(r, 5);
    for (const ShapeChange& s : r.shapes) EXPECT_FALSE(s.slower) << s.op << " " << s.key;
  }
}

// A planted 10% slowdown of one quadrant (on top of 2% noise) fails, names that quadrant,
// and leaves the others alone.
TEST(RegressionCheck, CatchesAPlantedTenPercentSlowdown) {
  auto b = run(1);
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    std::vector<Profile> c;
    for (const Profile& p : b) {
      Profile q = testing::jittered(p, 0.02, seed);
      c.push_back(p.quadrant == "decode_attention" ? testing::scaled(q, 1.10) : q);
    }
    CheckReport r = check_profiles(b, c);
    EXPECT_TRUE(r.failed) << format_report(r, 5);
    EXPECT_EQ(verdict(r, "decode_attention").verdict, "FAIL");
    EXPECT_EQ(verdict(r, "prefill_ffn").verdict, "ok");
    EXPECT_EQ(r.shapes.front().op, "decode_attention");  // worst shapes first
  }
}

// The rule is not trivially strict: 8% on top of the same noise warns, never fails.
TEST(RegressionCheck, EightPercentWithNoiseOnlyWarns) {
  auto b = run(1);
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    std::vector<Profile> c;
    for (const Profile& p : b) {
      Profile q = testing::jittered(p, 0.02, seed);
      c.push_back(p.quadrant == "decode_attention" ? testing::scaled(q, 1.08) : q);
    }
    CheckReport r = check_profiles(b, c);
    EXPECT_EQ(verdict(r, "decode_attention").verdict, "warn") << format_report(r, 3);
  }
}

TEST(RegressionCheck, FivePercentWarnsWithoutFailing) {
  auto b = run(1);
  std::vector<Profile> c = b;
  c[2] = testing::scaled(c[2], 1.05);
  CheckReport r = check_profiles(b, c);
  EXPECT_FALSE(r.failed);
  EXPECT_TRUE(r.warned);
  EXPECT_EQ(verdict(r, "dense_gemm").verdict, "warn");
}

// A rise under 2 us is launch jitter, not a regression, however large relatively.
TEST(RegressionCheck, TinyAbsoluteRisesAreNotSlower) {
  Profile p = testing::decode_attention_profile(testing::roofline_max, 0.0, 1);
  p.shapes.resize(1);
  p.shapes[0].median_ns = 5000;
  p.shapes[0].min_ns = 4900;
  p.shapes[0].max_ns = 5200;
  p.shapes[0].mad_ns = 0;
  Profile q = testing::scaled(p, 1.3);  // +1.5 us
  CheckReport r = check_profiles({p}, {q});
  EXPECT_FALSE(r.shapes[0].slower);
  EXPECT_FALSE(r.failed && verdict(r, "decode_attention").slower > 0);
}

// A noisy shape needs a rise above 3x its noise.
TEST(RegressionCheck, NoisyShapesNeedALargerRise) {
  Profile p = testing::decode_attention_profile(testing::roofline_max, 0.0, 1);
  for (ProfileShape& s : p.shapes) s.mad_ns = 0.05 * s.median_ns / 1.4826;  // 5% noise
  CheckReport r = check_profiles({p}, {testing::scaled(p, 1.08)});
  for (const ShapeChange& s : r.shapes) EXPECT_FALSE(s.slower);
  CheckReport r2 = check_profiles({p}, {testing::scaled(p, 1.2)});
  EXPECT_TRUE(r2.shapes.front().slower ||
              r2.shapes.front().candidate_ns - r2.shapes.front().baseline_ns <= 2000);
}

// One shape 40% slower among many fails the check even though the median barely moves.
TEST(RegressionCheck, OneShapeFarBeyondToleranceFails) {
  auto b = run(1);
  std::vector<Profile> c = b;
  ProfileShape& worst = c[0].shapes.back();  // the largest shape: well above 2 us
  worst.median_ns *= 1.4;
  worst.max_ns *= 1.4;
  CheckReport r = check_profiles(b, c);
  EXPECT_TRUE(r.failed);
  EXPECT_LT(verdict(r, "decode_attention").median_change, 0.01);
  EXPECT_NE(format_report(r, 3).find("SLOWER"), std::string::npos);
}

TEST(RegressionCheck, UnmatchedShapesAreCounted) {
  auto b = run(1);
  std::vector<Profile> c = b;
  c[0].shapes.pop_back();
  CheckReport r = check_profiles(b, c);
  EXPECT_EQ(verdict(r, "decode_attention").only_baseline, 1);
}

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("quadrant_rc_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

// Two model files compared on their fitted shapes: a model fitted on 12% slower profiles
// of one op fails on that op only; a model against itself passes.
TEST(RegressionCheck, ComparesModelsOnTheirShapes) {
  auto b = run(1);
  std::vector<std::string> base_files, slow_files;
  for (const Profile& p : b) {
    base_files.push_back(write_temp("b_" + p.quadrant + ".json", profile_to_json(p)));
    slow_files.push_back(
        write_temp("s_" + p.quadrant + ".json",
                   profile_to_json(p.quadrant == "dense_gemm" ? testing::scaled(p, 1.12) : p)));
  }
  const std::string mb = write_temp("mb.json", model_to_json(fit_profiles(base_files)));
  const std::string ms = write_temp("ms.json", model_to_json(fit_profiles(slow_files)));
  EXPECT_FALSE(check_models(mb, mb).warned);
  CheckReport r = check_models(mb, ms);
  EXPECT_TRUE(r.failed) << format_report(r, 5);
  EXPECT_EQ(verdict(r, "dense_gemm/bf16").verdict, "FAIL");
  EXPECT_EQ(verdict(r, "decode_attention[d128]/bf16").verdict, "ok");
  // Models of other plan rules: said in a note (the same numbers otherwise).
  auto has_note = [](const CheckReport& c) {
    for (const std::string& n : c.notes)
      if (n.rfind("plan rules differ", 0) == 0) return true;
    return false;
  };
  EXPECT_FALSE(has_note(r));
  Json legacy = Json::parse(model_to_json(fit_profiles(base_files)));
  legacy["plan_rules"]["moe_mma_residency"] = "shared_memory";
  legacy["plan_rules"]["decode_split"] = "fluid";
  const CheckReport other = check_models(mb, write_temp("ml.json", legacy.dump()));
  EXPECT_TRUE(has_note(other)) << format_report(other, 0);
  EXPECT_FALSE(other.failed);
}

}  // namespace
}  // namespace quadrant::calibration
