#include "calibration/profile.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "calibration/json_path.h"
#include "sim/core/error.h"
#include "tests/calibration/synthetic.h"

namespace quadrant::calibration {
namespace {

std::string temp_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("quadrant_cal_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(Profile, RoundTripsEveryField) {
  Profile p = testing::decode_attention_profile(testing::roofline_sum, 0.01, 1);
  p.kernels_revision = "abc";
  p.method = {{"repetitions", 20}};
  KernelRecord k;
  k.name = "sm90_bf16_decode_attention";
  k.grid[0] = 132;
  k.block[0] = 128;
  k.registers = 96;
  k.shared_bytes = 49152;
  k.median_ns = 1234;
  p.shapes[0].kernels.push_back(k);
  p.shapes[0].metrics["dram_bytes"] = 1e9;
  p.shapes[0].kernel_sum_ns = 1111;
  p.shapes[0].graph_replay = true;
  const std::string file = temp_file("roundtrip.json", profile_to_json(p));
  Profile q = read_profile(file);
  ASSERT_EQ(q.shapes.size(), p.shapes.size());
  EXPECT_EQ(q.device.gpu, "H100-SXM");
  EXPECT_EQ(q.kernels_revision, "abc");
  for (size_t i = 0; i < p.shapes.size(); ++i) {
    EXPECT_EQ(shape_key(q.shapes[i]), shape_key(p.shapes[i]));
    EXPECT_DOUBLE_EQ(q.shapes[i].median_ns, p.shapes[i].median_ns);
  }
  ASSERT_EQ(q.shapes[0].kernels.size(), 1u);
  EXPECT_EQ(q.shapes[0].kernels[0].registers, 96);
  EXPECT_EQ(q.shapes[0].kernels[0].grid[0], 132);
  EXPECT_DOUBLE_EQ(q.shapes[0].metrics.at("dram_bytes"), 1e9);
  EXPECT_DOUBLE_EQ(q.shapes[0].kernel_sum_ns, 1111);
  EXPECT_TRUE(q.shapes[0].graph_replay);
  EXPECT_FALSE(q.shapes[1].graph_replay);
  // Byte-identical when written again: re-collected profiles diff cleanly.
  EXPECT_EQ(profile_to_json(q), profile_to_json(p));
}

void expect_error(const std::string& text, const std::string& path_fragment) {
  const std::string file = temp_file("bad.json", text);
  try {
    read_profile(file);
    ADD_FAILURE() << "no error for " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), file);
    EXPECT_NE(e.path().find(path_fragment), std::string::npos) << e.what();
  }
}

TEST(Profile, ErrorsNameFileAndPath) {
  Profile p = testing::decode_attention_profile(testing::roofline_sum, 0.01, 1);
  p.shapes.resize(2);
  Json good = Json::parse(profile_to_json(p));
  Json j = good;
  j["shapes"][1]["median_ns"] = -3;
  expect_error(j.dump(), "shapes[1].median_ns");
  j = good;
  j["shapes"][0].erase("count");
  expect_error(j.dump(), "shapes[0].count");
  j = good;
  j["schema_version"] = 7;
  expect_error(j.dump(), "schema_version");
  j = good;
  j["shapes"][1]["params"]["batch"] = "big";
  expect_error(j.dump(), "shapes[1].params.batch");
  j = good;
  j["shapes"][1] = j["shapes"][0];
  expect_error(j.dump(), "shapes[1]");
  j = good;
  j["quadrant"] = "attention";
  expect_error(j.dump(), "quadrant");
  EXPECT_THROW(read_profile(temp_file("malformed.json", "{\"shapes\": [")), InputError);
  EXPECT_THROW(read_profile("/nonexistent/profile.json"), InputError);
}

TEST(Profile, RelativeNoiseIsARobustSigma) {
  ProfileShape s;
  s.median_ns = 1000;
  s.mad_ns = 10;
  EXPECT_NEAR(s.relative_noise(), 0.014826, 1e-9);
}

}  // namespace
}  // namespace quadrant::calibration
