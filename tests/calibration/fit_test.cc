#include "calibration/fit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <tuple>
#include <utility>
#include <vector>

#include "sim/core/error.h"
#include "tests/calibration/synthetic.h"

namespace quadrant::calibration {
namespace {

std::vector<Sample> samples_of(const Profile& p) {
  std::vector<Sample> out;
  for (const ProfileShape& s : p.shapes)
    out.push_back(
        {profile_features(p.quadrant, s, "", ""), s.median_ns, s.relative_noise(), shape_key(s)});
  return out;
}

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("quadrant_fit_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(ErrorStats, QuantilesInterpolate) {
  ErrorStats e = error_stats({0.04, 0.01, 0.03, 0.02, 0.05});
  EXPECT_DOUBLE_EQ(e.median, 0.03);
  EXPECT_NEAR(e.p95, 0.048, 1e-12);
  EXPECT_EQ(e.count, 5);
}

// Noise-free data from t = c0 + c1 F + c2 B: the fitter recovers the coefficients.
TEST(Fit, RecoversASumRooflineExactly) {
  Profile p = testing::decode_attention_profile(testing::roofline_sum, 0.0, 1);
  ComponentModel m = fit_component("decode_attention", "bf16", samples_of(p));
  EXPECT_LT(m.heldout.p95, 1e-3) << m.form_label();
  Features probe{3e9, 3e9, 2e8};
  EXPECT_NEAR(m.predict_ns(probe) / testing::roofline_sum(probe), 1.0, 2e-3);
}

// With 1% noise, held-out errors sit near the noise and meet the issue's targets, for
// several seeds (not one lucky draw).
TEST(Fit, HeldOutErrorTracksTheNoise) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Profile p = testing::decode_attention_profile(testing::roofline_max, 0.01, seed);
    ComponentModel m = fit_component("decode_attention", "bf16", samples_of(p));
    EXPECT_LT(m.heldout.median, 0.02) << "seed " << seed << " " << m.form_label();
    EXPECT_LT(m.heldout.p95, 0.05) << "seed " << seed << " " << m.form_label();
    EXPECT_EQ(m.heldout.count, static_cast<int>(p.shapes.size()));
  }
}

// Shapes of equal FLOPs and bytes whose times differ only by how many work units they
// have (a kernel that leaves SMs idle under a step-like, non-parametric fill): the grid
// correction must pick its neighbours by parallelism too, and then predict held-out shapes.
TEST(Fit, GridNeighboursByParallelismWhenItMatters) {
  std::vector<Sample> samples;
  for (double f : {1e9, 2e9, 4e9, 8e9, 16e9, 32e9})
    for (double p : {4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0}) {
      Features x{f, f, f / 100, p};
      // Full speed from 132 units up; below, a wave of p units takes as long as 132.
      const double t = 2000 + f * 1e-6 * (p >= 132 ? 1.0 : 132.0 / p);
      samples.push_back({x, t, 0, ""});
    }
  ComponentModel m = fit_component("decode_attention", "bf16", samples);
  EXPECT_EQ(m.form, "grid") << m.form_label();
  EXPECT_TRUE(m.near_by_parallelism) << m.form_label();
  // Better than every parametric form alone (which see parallelism only through 1 + c/P).
  for (const auto& [name, e] : m.candidates) {
    if (name.rfind("grid", 0) != 0) {
      EXPECT_LT(m.heldout.p95, e.p95) << name;
    }
  }
  ASSERT_EQ(m.heldout_by_shape.size(), samples.size());
  EXPECT_GE(m.heldout_by_shape.front().second, m.heldout_by_shape.back().second);
}

// A roofline max cannot be fitted well by a sum: the selection must notice.
TEST(Fit, ChoosesTheFormThatFitsHeldOutShapes) {
  Profile p = testing::dense_gemm_profile(0.0, 3);
  ComponentModel m = fit_component("dense_gemm", "bf16", samples_of(p));
  ErrorStats sum_err;
  for (const auto& [name, e] : m.candidates)
    if (name == "sum") sum_err = e;
  EXPECT_LT(m.heldout.p95, sum_err.p95);
  EXPECT_LT(m.heldout.median, 0.01) << m.form_label();
}

// Grouped-GEMM times that follow tile-padded rows are fitted on padded FLOPs.
TEST(Fit, WaveQuantisationIsModelled) {
  Profile p = testing::prefill_ffn_profile(0.0, 4);
  ComponentModel m = fit_component("prefill_ffn", "bf16", samples_of(p));
  EXPECT_TRUE(m.padded || m.form == "grid") << m.form_label();
  EXPECT_LT(m.heldout.median, 0.03) << m.form_label();
}

// m written to a model file and read back: every sample predicted as before (the grid's
// points included). Returns the component read.
ComponentModel through_model_file(const ComponentModel& m, const std::vector<Sample>& samples,
                                  const std::string& name) {
  ModelFile f;
  f.gpu = "H200";
  f.components.push_back(m);
  const ModelFile r = read_model(write_temp(name, model_to_json(f)));
  EXPECT_EQ(r.components.size(), 1u);
  if (r.components.empty()) return {};
  for (const Sample& s : samples)
    EXPECT_NEAR(r.components[0].predict_ns(s.x), m.predict_ns(s.x), 1e-9 * m.predict_ns(s.x));
  return r.components[0];
}

// A streaming kernel whose few CTAs each stream their share at one CTA's pace, or whose
// many CTAs are bound by the HBM: t = c0 + max(bytes / HBM rate, busiest-slot bytes / slot
// rate). The overlap forms (the busiest slot as a third bound, not an added cost) fit it;
// prefill attention (compute-bound) is not offered them.
TEST(Fit, BusiestSlotBoundOverlapsTheHbmBound) {
  std::vector<Sample> samples;
  for (double b : {1e7, 3e7, 1e8, 3e8, 1e9, 3e9})
    for (double crit : {5e7, 2e8, 8e8, 3.2e9, 1.28e10}) {
      Features x{b / 50, b / 50, b};
      x.sched_flops = x.flops;
      x.crit_bytes = crit;
      x.waves = 1;
      samples.push_back({x, 3000 + std::max(b * 0.25, crit * 0.004), 0, ""});
    }
  const ComponentModel m = fit_component("decode_attention", "bf16", samples);
  EXPECT_TRUE(m.overlap) << m.form_label();
  EXPECT_LT(m.heldout.p95, 0.02) << m.form_label();
  for (const auto& [name, e] : m.candidates) {
    if (name.find("/plan") != std::string::npos && name.find("/overlap") == std::string::npos) {
      EXPECT_GT(e.p95, 2 * m.heldout.p95) << name;
    }
  }
  const ComponentModel p = fit_component("prefill_attention", "bf16", samples);
  for (const auto& [name, e] : p.candidates)
    EXPECT_EQ(name.find("/overlap"), std::string::npos) << name;
  EXPECT_TRUE(through_model_file(m, samples, "overlap.json").overlap);  // the form survives
}

// A 16-row MoE GEMM whose later m-tiles read their expert's weights again at a third of a
// first read's cost (the L2 serves the rest): t = c0 + bytes / HBM + reread / 3 HBM. The plan
// forms fit the re-read cost; without it (bytes alone) shapes of one weight size and more
// m-tiles would all be predicted alike. The coefficient survives the model file.
TEST(Fit, RereadWeightBytesAreCostedApart) {
  std::vector<Sample> samples;
  for (double b : {1e7, 3e7, 1e8, 3e8, 1e9})
    for (double tiles : {0.0, 1.0, 2.0, 3.0, 5.0}) {
      Features x{b / 100, b / 100, b};
      x.sched_flops = x.flops;
      x.crit_bytes = b;
      x.waves = 1;
      x.reread_bytes = tiles * b;
      samples.push_back({x, 4000 + b * 0.25 + x.reread_bytes * 0.25 / 3, 0, ""});
    }
  const ComponentModel m = fit_component("decode_ffn", "bf16", samples);
  EXPECT_TRUE(m.plan) << m.form_label();
  EXPECT_LT(m.heldout.p95, 0.01) << m.form_label();
  EXPECT_NEAR(m.ns_per_reread_byte, 0.25 / 3, 0.01) << m.form_label();
  for (const auto& [name, e] : m.candidates) {
    if (name.find("/plan") == std::string::npos && name.find("grid") == std::string::npos) {
      EXPECT_GT(e.p95, 0.05) << name;  // the forms without plan terms cannot see re-reads
    }
  }
  EXPECT_DOUBLE_EQ(through_model_file(m, samples, "reread.json").ns_per_reread_byte,
                   m.ns_per_reread_byte);
}

// Prefill attention whose busiest slot's extra FLOPs (scheduled - useful: the partial last
// wave, padded rows, masked keys) cost half a useful FLOP: t = c0 + 1e-5 F + 0.5e-5 (S - F) +
// bytes / (4 TB/s). Neither one rate for the scheduled FLOPs nor one for the useful ones fits;
// the split forms do. Every prefill attention variant is offered them (mma.sync FP8 head dim
// 64, 3 CTAs to an SM, and the wgmma kernels, one), no other op. The coefficient survives the
// model file.
TEST(Fit, PrefillExtraScheduledFlopsAreCostedApart) {
  std::vector<Sample> samples;
  int n = 0;
  for (double f : {1e8, 3e8, 1e9, 3e9, 1e10})
    for (double extra : {0.0, 0.3, 1.0, 2.0, 4.0}) {
      Features x{f, f, f / 200 * (1 + (7 * n++) % 5)};  // bytes apart from FLOPs
      x.sched_flops = f * (1 + extra);
      x.crit_bytes = x.bytes / 10;
      x.waves = std::ceil(f / 3e9);
      samples.push_back(
          {x, 3000 + 1e-5 * f + 0.5e-5 * (x.sched_flops - f) + 2.5e-4 * x.bytes, 0, ""});
    }
  const ComponentModel m = fit_component("prefill_attention", "fp8", samples, 5, "d64");
  EXPECT_TRUE(m.split) << m.form_label();
  EXPECT_LT(m.heldout.p95, 0.01) << m.form_label();
  EXPECT_NEAR(m.ns_per_extra_flop / m.ns_per_flop, 0.5, 0.05) << m.form_label();
  for (const auto& [name, e] : m.candidates) {
    if (name.find("grid") == std::string::npos && name.find("split") == std::string::npos) {
      EXPECT_GT(e.p95, 0.02) << name;  // one rate for all FLOPs misses
    }
  }
  EXPECT_DOUBLE_EQ(through_model_file(m, samples, "split.json").ns_per_extra_flop,
                   m.ns_per_extra_flop);
  const ComponentModel w = fit_component("prefill_attention", "bf16", samples, 5, "d128");
  EXPECT_TRUE(w.split) << w.form_label();
  EXPECT_NEAR(w.ns_per_extra_flop / w.ns_per_flop, 0.5, 0.05) << w.form_label();
  const ComponentModel g = fit_component("decode_attention", "bf16", samples, 5, "d128");
  for (const auto& [name, e] : g.candidates)
    EXPECT_EQ(name.find("split"), std::string::npos) << name;
}

// A GEMM's fitting shapes, 4 of 100 slowed 30% (the power cap's clock, or a slow library
// kernel), on t = c0 + c1 F + c2 B: least squares follows the slow ones, a pseudo-Huber loss
// does not. The GEMM-shaped ops offer the robust fit and k-fold keeps it; the prediction of the
// unslowed shapes stays exact; the scale survives the model file. Attention is not offered it.
TEST(Fit, GemmFitsResistShapesTheClockSlowed) {
  std::vector<Sample> samples;
  int n = 0;
  for (double f : {1e8, 2e8, 5e8, 1e9, 2e9, 5e9, 1e10, 2e10, 5e10, 1e11})
    for (double intensity :
         {30.0, 60.0, 100.0, 150.0, 200.0, 300.0, 500.0, 700.0, 1000.0, 2000.0}) {
      Features x{f, f, f / intensity};
      x.parallelism = 132;
      const bool slowed = n++ % 25 == 12;  // 4 of 100, spread over the range
      samples.push_back({x, (3000 + 1.2e-6 * f + 2.5e-4 * x.bytes) * (slowed ? 1.3 : 1.0), 0, ""});
    }
  const ComponentModel m = fit_component("dense_gemm", "bf16", samples);
  EXPECT_GT(m.robust_scale, 0) << m.form_label();
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i % 25 == 12) continue;  // a slowed shape
    EXPECT_NEAR(m.base_ns(samples[i].x) / samples[i].t_ns, 1.0, 0.002) << i;
  }
  bool least_squares_offered = false;
  for (const auto& [name, e] : m.candidates)
    if (name == "sum") {
      least_squares_offered = true;
      EXPECT_GT(e.median, 0.002) << name;  // pulled toward the slowed shapes
    }
  EXPECT_TRUE(least_squares_offered);
  EXPECT_DOUBLE_EQ(through_model_file(m, samples, "robust.json").robust_scale, m.robust_scale);
  const ComponentModel a = fit_component("prefill_attention", "bf16", samples, 5, "d128");
  EXPECT_EQ(a.robust_scale, 0) << a.form_label();
}

// Decode attention CTAs whose per-round work grows with their query heads (loading the
// queries, the warps' merge in shared memory): t = c0 + bytes / HBM + 300 ns x head_rounds.
// The plan forms cost a head-round apart from a wave (the same rounds, 1 or 8 heads per
// CTA); the coefficient and the grid points' head rounds survive the model file.
TEST(Fit, HeadRoundsAreCostedApartFromWaves) {
  std::vector<Sample> samples;
  for (double b : {1e7, 3e7, 1e8, 3e8, 1e9})
    for (double rounds : {1.0, 2.0, 4.0})
      for (double heads : {1.0, 2.0, 4.0, 8.0})
        for (double empty : {0.0, 0.5, 1.5}) {  // and the empty split CTAs' waves apart too
          Features x{b / 100 * heads, b / 100 * heads, b};
          x.sched_flops = x.flops;
          x.crit_bytes = b;
          x.waves = rounds;
          x.head_rounds = rounds * heads;
          x.empty_waves = empty;
          samples.push_back({x, 2000 + b * 0.25 + 300 * x.head_rounds + 2500 * empty, 0, ""});
        }
  const ComponentModel m = fit_component("decode_attention", "fp8", samples);
  EXPECT_TRUE(m.plan) << m.form_label();
  EXPECT_LT(m.heldout.p95, 0.01) << m.form_label();
  EXPECT_NEAR(m.ns_per_head_round, 300, 15) << m.form_label();
  EXPECT_NEAR(m.ns_per_empty_wave, 2500, 125) << m.form_label();
  const ComponentModel back = through_model_file(m, samples, "head_rounds.json");
  EXPECT_DOUBLE_EQ(back.ns_per_head_round, m.ns_per_head_round);
  EXPECT_DOUBLE_EQ(back.ns_per_empty_wave, m.ns_per_empty_wave);
}

// Attention kernels dispatch by head dims: a model per variant, an unprofiled head dim
// answered by the nearest variant and flagged.
TEST(Fit, VariantsAreFoundExactlyOrByNearestHeadDim) {
  ModelFile m;
  for (const char* v : {"d128", "d192v128"}) {
    ComponentModel c;
    c.component = "prefill_attention";
    c.format = "bf16";
    c.variant = v;
    m.components.push_back(c);
  }
  bool fallback = true;
  const ComponentModel* c = m.find_nearest("prefill_attention", "bf16", "d192v128", &fallback);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->variant, "d192v128");
  EXPECT_FALSE(fallback);
  c = m.find_nearest("prefill_attention", "bf16", "d64", &fallback);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->variant, "d128");
  EXPECT_TRUE(fallback);
  EXPECT_EQ(m.find("prefill_attention", "bf16", "d64"), nullptr);
  EXPECT_EQ(m.find_nearest("prefill_attention", "fp8", "d128", &fallback), nullptr);
}

TEST(Fit, TooFewShapesIsAnInputError) {
  Profile p = testing::decode_attention_profile(testing::roofline_sum, 0.0, 1);
  std::vector<Sample> s = samples_of(p);
  s.resize(3);
  EXPECT_THROW(fit_component("decode_attention", "bf16", s), InputError);
}

TEST(Fit, ModelFileRoundTripsPredictions) {
  Profile a = testing::decode_attention_profile(testing::roofline_max, 0.01, 7);
  Profile g = testing::dense_gemm_profile(0.01, 8);
  const std::string pa = write_temp("a.json", profile_to_json(a));
  const std::string pg = write_temp("g.json", profile_to_json(g));
  ModelFile m = fit_profiles({pa, pg});
  ASSERT_EQ(m.components.size(), 2u);
  EXPECT_EQ(m.gpu, "H100-SXM");
  const std::string mf = write_temp("model.json", model_to_json(m));
  ModelFile r = read_model(mf);
  ASSERT_EQ(r.components.size(), 2u);
  std::vector<Sample> probes = samples_of(a);
  for (const Sample& s : samples_of(g)) probes.push_back(s);
  for (const ComponentModel& c : m.components) {
    const ComponentModel* back = r.find(c.component, c.format, c.variant);
    EXPECT_EQ(back ? back->variant : "", c.variant);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(back->form_label(), c.form_label());
    for (const Sample& s : probes)
      EXPECT_NEAR(back->predict_ns(s.x), c.predict_ns(s.x), 1e-9 * c.predict_ns(s.x));
  }
  // The same profiles give the same file, byte for byte.
  EXPECT_EQ(model_to_json(fit_profiles({pa, pg})), model_to_json(m));
  EXPECT_NE(error_table(r, true).find("| decode_attention[d128] | bf16 |"), std::string::npos);
}

// Issue 12: added (active-sampling) shapes are kept only where they lower the validation
// error. Shapes whose times are 1.5x the truth the validation set follows are refused;
// true shapes beside a fitting set 1.3x off are kept. The choice, and what each
// alternative scored, survive the model file.
// A test set chooses nothing: recording its error leaves the fitted model as it was, stores
// exactly what error_on_profiles measures, survives the model file and shows in the table.
// Profiles 1.2x slow than the truth the model was fitted on give a test median of 1/6.
TEST(Fit, RecordsATestSetsErrorWithoutChangingTheModel) {
  const auto truth = testing::roofline_sum;
  const std::string fit =
      write_temp("tfit.json", profile_to_json(testing::decode_attention_profile(truth, 0.0, 1)));
  const std::string test = write_temp(
      "ttest.json",
      profile_to_json(testing::scaled(testing::decode_attention_profile(truth, 0.0, 2), 1.2)));
  ModelFile m = fit_profiles({fit});
  const std::string before = model_to_json(m);
  record_test_error(m, {test});
  ASSERT_EQ(m.components.size(), 1u);
  const ComponentModel& c = m.components[0];
  const std::vector<ProfileError> rows = error_on_profiles(m, {test});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(c.test.count, rows[0].stats.count);
  EXPECT_DOUBLE_EQ(c.test.median, rows[0].stats.median);
  EXPECT_NEAR(c.test.median, 1 - 1 / 1.2, 0.01);
  EXPECT_EQ(m.test_profiles, std::vector<std::string>{test});

  const ModelFile back = read_model(write_temp("ttested.json", model_to_json(m)));
  EXPECT_EQ(back.test_profiles, m.test_profiles);
  EXPECT_DOUBLE_EQ(back.components[0].test.median, c.test.median);
  EXPECT_NE(error_table(back, true).find("test median / P95"), std::string::npos);
  // Everything but the recorded test error is the model fitted before.
  ModelFile cleared = back;
  cleared.test_profiles.clear();
  cleared.components[0].test = {};
  EXPECT_EQ(model_to_json(cleared), before);
  EXPECT_EQ(error_table(cleared, true).find("test median / P95"), std::string::npos);
}

// Issue 15: another GPU's component, derived to this one, joins a model only where it predicts
// this GPU's validation shapes better by more than their noise. Fitted on profiles 1.3x slow,
// this model's own answer is 30% off the validation shapes; the other model, fitted on the
// truth, replaces it, named as derived, with the error it measured here; the other way round
// nothing moves. Both survive the model file.
TEST(Fit, BorrowsAnotherGpusComponentOnlyWhereItPredictsTheValidationShapesBetter) {
  const auto truth = testing::roofline_sum;
  const std::string validation =
      write_temp("bval.json", profile_to_json(testing::decode_attention_profile(truth, 0.01, 2)));
  const std::string slow = write_temp(
      "bslow.json",
      profile_to_json(testing::scaled(testing::decode_attention_profile(truth, 0.01, 1), 1.3)));
  const std::string right =
      write_temp("bright.json", profile_to_json(testing::decode_attention_profile(truth, 0.01, 3)));
  ModelFile off = fit_profiles({slow}, 5, {validation});
  ModelFile good = fit_profiles({right}, 5, {validation});
  ASSERT_EQ(off.components.size(), 1u);
  ASSERT_GT(off.components[0].validation.median, 0.25);

  // The off model's component lent to the good one: kept out.
  const std::string good_before = model_to_json(good);
  const std::vector<BorrowDecision> kept = borrow_components(good, off, "Slow (off.json)");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_FALSE(kept[0].borrowed);
  EXPECT_GT(kept[0].other.median, 0.25);
  EXPECT_EQ(model_to_json(good), good_before);

  const std::vector<BorrowDecision> d = borrow_components(off, good, "Other (good.json)");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].borrowed);
  EXPECT_EQ(d[0].component, "decode_attention");
  ASSERT_EQ(off.components.size(), 1u);  // replaced, not added beside
  const ComponentModel& c = off.components[0];
  EXPECT_EQ(c.derived_from, "Other (good.json)");
  EXPECT_EQ(c.validation_choice, "derived from Other (good.json)");
  ASSERT_EQ(c.validation_choices.size(), 2u);
  EXPECT_DOUBLE_EQ(c.validation_choices[0].second.median, d[0].own.median);
  const std::vector<ProfileError> now = error_on_profiles(off, {validation});
  ASSERT_EQ(now.size(), 1u);
  EXPECT_DOUBLE_EQ(c.validation.median, now[0].stats.median);
  EXPECT_LT(c.validation.median, 0.03);
  EXPECT_EQ(c.test.count, 0);
  EXPECT_DOUBLE_EQ(c.derived.median, c.validation.median);  // its derivation, measured here
  EXPECT_EQ(c.derived_to, off.gpu);

  const ModelFile back = read_model(write_temp("bborrowed.json", model_to_json(off)));
  EXPECT_EQ(back.components[0].derived_from, "Other (good.json)");
  EXPECT_EQ(model_to_json(back), model_to_json(off));
  EXPECT_EQ(read_model(write_temp("bgood.json", good_before)).components[0].derived_from, "");

  // A model with a test set: the borrowed component's test error is measured on it, as the
  // other-machine error is (the test set chose nothing: the decision is the same).
  const std::string test =
      write_temp("btest.json", profile_to_json(testing::decode_attention_profile(truth, 0.01, 4)));
  ModelFile tested = fit_profiles({slow}, 5, {validation});
  record_test_error(tested, {test});
  ASSERT_GT(tested.components[0].test.median, 0.25);
  ASSERT_TRUE(borrow_components(tested, good, "Other (good.json)")[0].borrowed);
  const std::vector<ProfileError> on_test = error_on_profiles(tested, {test});
  ASSERT_EQ(on_test.size(), 1u);
  EXPECT_EQ(tested.components[0].test.count, on_test[0].stats.count);
  EXPECT_GT(tested.components[0].test.count, 0);
  EXPECT_DOUBLE_EQ(tested.components[0].test.median, on_test[0].stats.median);
  EXPECT_LT(tested.components[0].test.median, 0.03);
  EXPECT_EQ(tested.test_profiles, std::vector<std::string>{test});

  ModelFile unvalidated = fit_profiles({right});
  EXPECT_THROW(borrow_components(unvalidated, good, "Other"), InputError);
}

// The validation shapes timed on another machine choose nothing either: recording their error
// leaves the model as fitted, stores what error_on_profiles measures, and survives the file.
TEST(Fit, RecordsAnotherMachinesErrorWithoutChangingTheModel) {
  const auto truth = testing::roofline_sum;
  const std::string fit =
      write_temp("ofit.json", profile_to_json(testing::decode_attention_profile(truth, 0.0, 1)));
  const std::string other = write_temp(
      "oother.json",
      profile_to_json(testing::scaled(testing::decode_attention_profile(truth, 0.0, 2), 0.9)));
  ModelFile m = fit_profiles({fit});
  const std::string before = model_to_json(m);
  record_other_machine_error(m, {other});
  ASSERT_EQ(m.components.size(), 1u);
  const ComponentModel& c = m.components[0];
  const std::vector<ProfileError> rows = error_on_profiles(m, {other});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(c.other_machine.count, rows[0].stats.count);
  EXPECT_DOUBLE_EQ(c.other_machine.median, rows[0].stats.median);
  EXPECT_NEAR(c.other_machine.median, 1 / 0.9 - 1, 0.01);
  EXPECT_EQ(c.test.count, 0);

  const ModelFile back = read_model(write_temp("oothered.json", model_to_json(m)));
  EXPECT_EQ(back.other_machine_profiles, std::vector<std::string>{other});
  EXPECT_DOUBLE_EQ(back.components[0].other_machine.median, c.other_machine.median);
  EXPECT_EQ(back.components[0].other_machine.count, c.other_machine.count);
  ModelFile cleared = back;
  cleared.other_machine_profiles.clear();
  cleared.components[0].other_machine = {};
  EXPECT_EQ(model_to_json(cleared), before);
}

TEST(Fit, AddedShapesAreKeptOnlyWhereTheyLowerTheValidationError) {
  const auto truth = testing::roofline_sum;
  const std::string val =
      write_temp("val.json", profile_to_json(testing::decode_attention_profile(truth, 0.01, 2)));
  const std::string good =
      write_temp("good.json", profile_to_json(testing::decode_attention_profile(truth, 0.01, 1)));
  const std::string bad = write_temp(
      "bad.json",
      profile_to_json(testing::scaled(testing::decode_attention_profile(truth, 0.01, 3), 1.5)));
  const std::string off = write_temp(
      "off.json",
      profile_to_json(testing::scaled(testing::decode_attention_profile(truth, 0.01, 4), 1.3)));
  auto choice = [](const ComponentModel& c, const std::string& label) {
    for (const auto& [name, e] : c.validation_choices)
      if (name == label) return e;
    ADD_FAILURE() << "no alternative " << label;
    return ErrorStats{};
  };

  const ModelFile refused = fit_profiles({good}, 5, {val}, {bad});
  ASSERT_EQ(refused.components.size(), 1u);
  const ComponentModel& r = refused.components[0];
  EXPECT_EQ(r.validation_choice.rfind("fitting set", 0), 0u) << r.validation_choice;
  EXPECT_EQ(r.heldout.count, 40);  // fitted on the fitting set alone
  EXPECT_LT(r.validation.median, 0.02);
  EXPECT_GT(choice(r, "with added shapes").median, 0.05);

  const ModelFile kept = fit_profiles({off}, 5, {val}, {good});
  const ComponentModel& k = kept.components[0];
  EXPECT_EQ(k.validation_choice.rfind("with added shapes", 0), 0u) << k.validation_choice;
  EXPECT_EQ(k.heldout.count, 80);
  EXPECT_GT(choice(k, "fitting set").median, 0.2);
  EXPECT_LT(k.validation.median, choice(k, "fitting set").median);
  EXPECT_EQ(kept.added_profiles, std::vector<std::string>{good});

  const ModelFile back = read_model(write_temp("kept.json", model_to_json(kept)));
  EXPECT_EQ(back.added_profiles, kept.added_profiles);
  EXPECT_EQ(back.components[0].validation_choice, k.validation_choice);
  EXPECT_EQ(back.components[0].validation_choices.size(), k.validation_choices.size());
  EXPECT_NE(error_table(back, false).find("kept by validation error"), std::string::npos);

  // Without a validation set the added shapes are simply fitted on.
  const ModelFile plain = fit_profiles({good}, 5, {}, {bad});
  EXPECT_EQ(plain.components[0].heldout.count, 80);
  EXPECT_TRUE(plain.components[0].validation_choices.empty());
}

// The choice among alternatives (issue 15). On 9 validation shapes, an alternative fitted on
// less data that scores a little lower than the one fitted on more data is within the noise
// of the score: the lowest score flips with a small change of one shape's error, the kept
// alternative does not.
TEST(Fit, ValidationChoiceDoesNotFlipOnTheNoiseOfFewShapes) {
  // Alternative 0: fitted on more data (preferred); alternative 1: on less.
  const std::vector<double> more = {0.010, 0.012, 0.015, 0.008, 0.020, 0.011, 0.030, 0.009, 0.040};
  std::vector<double> less = {0.013, 0.009, 0.011, 0.011, 0.016, 0.010, 0.027, 0.010, 0.035};
  const ValidationChoice a = choose_by_validation({more, less});
  EXPECT_EQ(a.lowest, 1u);  // the rule before: the fewer data win, median 1.1% against 1.2%
  EXPECT_EQ(a.kept, 0u);
  EXPECT_GT(a.score[0], a.score[1]);
  EXPECT_GT(a.std_err[0], a.score[0] - a.score[1]);
  // Two shapes' errors up by 0.2-0.3 points: the rule before flips, the kept one stays.
  less[3] = 0.013;
  less[7] = 0.013;
  const ValidationChoice b = choose_by_validation({more, less});
  EXPECT_EQ(b.lowest, 0u);
  EXPECT_EQ(b.kept, 0u);
  // Deterministic: the same errors give the same choice and the same standard errors.
  const ValidationChoice again = choose_by_validation({more, less});
  EXPECT_EQ(again.kept, b.kept);
  EXPECT_EQ(again.std_err, b.std_err);
}

// A clearly better alternative fitted on less data still wins; and the same small lead that
// is noise on 9 shapes wins on 180 (the margin scales with the count of shapes).
TEST(Fit, ValidationChoiceKeepsAClearlyBetterAlternative) {
  const std::vector<double> more = {0.050, 0.062, 0.075, 0.048, 0.120, 0.071, 0.150, 0.059, 0.090};
  const std::vector<double> less = {0.010, 0.012, 0.015, 0.008, 0.020, 0.011, 0.030, 0.009, 0.040};
  const ValidationChoice clear = choose_by_validation({more, less});
  EXPECT_EQ(clear.lowest, 1u);
  EXPECT_EQ(clear.kept, 1u);
  EXPECT_LT(clear.std_err[0], clear.score[0] - clear.score[1]);

  const std::vector<double> noisy_more = {0.010, 0.012, 0.015, 0.008, 0.020,
                                          0.011, 0.030, 0.009, 0.040};
  const std::vector<double> noisy_less = {0.013, 0.009, 0.011, 0.011, 0.016,
                                          0.010, 0.027, 0.010, 0.035};
  std::vector<double> many_more, many_less;
  for (int r = 0; r < 20; ++r) {
    many_more.insert(many_more.end(), noisy_more.begin(), noisy_more.end());
    many_less.insert(many_less.end(), noisy_less.begin(), noisy_less.end());
  }
  EXPECT_EQ(choose_by_validation({noisy_more, noisy_less}).kept, 0u);
  const ValidationChoice many = choose_by_validation({many_more, many_less});
  EXPECT_EQ(many.lowest, 1u);
  EXPECT_EQ(many.kept, 1u);
}

// The table names the lowest score where the choice kept another within its noise.
TEST(Fit, ErrorTableNamesTheLowestScoreWhereAnotherWasKept) {
  ModelFile m;
  ComponentModel c;
  c.component = "decode_attention";
  c.format = "bf16";
  c.validation_choices = {{"with added shapes", {0.012, 0.036, 9}},
                          {"with added shapes of rounds 1-2", {0.011, 0.030, 9}}};
  c.validation_choice = "with added shapes";
  m.components.push_back(c);
  const std::string table = error_table(m, false);
  EXPECT_NE(table.find("with added shapes: 1.2% / 3.6% *"), std::string::npos) << table;
  EXPECT_NE(table.find("rounds 1-2: 1.1% / 3.0% (lowest)"), std::string::npos) << table;
  m.components[0].validation_choice = "with added shapes of rounds 1-2";
  EXPECT_EQ(error_table(m, false).find("(lowest)  "), std::string::npos);
  EXPECT_EQ(error_table(m, true).find("3.0%** (lowest)"), std::string::npos);
}

// Within the noise, a preferred alternative that misses a target the lowest meets is passed
// over: the targets are judged on the validation shapes.
TEST(Fit, ValidationChoiceKeepsATargetTheLowestMeets) {
  const std::vector<double> more = {0.010, 0.012, 0.015, 0.008, 0.020, 0.011, 0.009, 0.09, 0.12};
  const std::vector<double> less = {0.010, 0.012, 0.015, 0.008, 0.020, 0.011, 0.009, 0.07, 0.115};
  const ValidationChoice c = choose_by_validation({more, less});
  EXPECT_GT(c.score[0], 1);
  EXPECT_LE(c.score[1], 1);
  EXPECT_GT(c.std_err[0], c.score[0] - c.score[1]);  // within the noise
  EXPECT_EQ(c.kept, 1u);
  // Where no alternative meets both targets, the preference holds within the noise.
  std::vector<double> worse_more = more, worse_less = less;
  for (double& e : worse_more) e *= 1.5;
  for (double& e : worse_less) e *= 1.5;
  EXPECT_EQ(choose_by_validation({worse_more, worse_less}).kept, 0u);
}

// Each round of added shapes (one folder each) is weighed with the rounds before it: a bad
// later round does not take the good earlier one down with it.
// A temporary folder of profiles with a subfolder per round of added shapes (round1, round2),
// removed at the end.
class RoundFolders {
 public:
  explicit RoundFolders(const std::string& name)
      : root_(std::filesystem::temp_directory_path() /
              ("quadrant_fit_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(root_ / "round1");
    std::filesystem::create_directories(root_ / "round2");
  }
  ~RoundFolders() { std::filesystem::remove_all(root_); }
  RoundFolders(const RoundFolders&) = delete;
  RoundFolders& operator=(const RoundFolders&) = delete;
  // Writes the profile at rel (under the root) and returns its path.
  std::string put(const std::string& rel, const Profile& prof) const {
    const std::filesystem::path p = root_ / rel;
    std::ofstream(p) << profile_to_json(prof);
    return p.string();
  }

 private:
  std::filesystem::path root_;
};

TEST(Fit, EachRoundOfAddedShapesIsWeighedOnItsOwn) {
  const auto truth = testing::roofline_sum;
  const RoundFolders root("rounds");
  auto put = [&](const std::string& rel, const Profile& prof) { return root.put(rel, prof); };
  const std::string val = put("val.json", testing::decode_attention_profile(truth, 0.01, 2));
  const std::string off =
      put("off.json", testing::scaled(testing::decode_attention_profile(truth, 0.01, 4), 1.3));
  const std::string good =
      put("round1/decode_attention.json", testing::decode_attention_profile(truth, 0.01, 1));
  const std::string bad =
      put("round2/decode_attention.json",
          testing::scaled(testing::decode_attention_profile(truth, 0.01, 3), 1.5));
  const ModelFile m = fit_profiles({off}, 5, {val}, {good, bad});
  ASSERT_EQ(m.components.size(), 1u);
  const ComponentModel& c = m.components[0];
  EXPECT_EQ(c.validation_choice.rfind("with added shapes of rounds 1-1", 0), 0u)
      << c.validation_choice;
  EXPECT_EQ(c.heldout.count, 80);  // the fitting set and round 1, not round 2
  bool all_rounds = false;
  for (const auto& [name, e] : c.validation_choices) all_rounds |= name == "with added shapes";
  EXPECT_TRUE(all_rounds);
  EXPECT_EQ(m.added_profiles, (std::vector<std::string>{good, bad}));
  // The CI refit passes the files the model names: the same rounds, the same choice.
  const ModelFile again = fit_profiles({off}, 5, {val}, m.added_profiles);
  EXPECT_EQ(again.components[0].validation_choice, c.validation_choice);
}

// A kernel variant a plan rule splits off can have fewer than four shapes in the fitting set
// (W4A8's copy on wgmma: three): it starts from the first added rounds that bring it to four,
// and the rounds after them are weighed as for any other kernel.
TEST(Fit, AVariantWithFewFittingShapesStartsFromTheFirstAddedRounds) {
  const auto truth = testing::roofline_sum;
  const RoundFolders root("few");
  Profile three = testing::decode_attention_profile(truth, 0.01, 4);
  three.shapes.resize(3);
  const std::string few = root.put("few.json", three);
  const std::string r1 =
      root.put("round1/decode_attention.json", testing::decode_attention_profile(truth, 0.01, 1));
  const std::string r2 =
      root.put("round2/decode_attention.json", testing::decode_attention_profile(truth, 0.01, 3));
  const std::string val = root.put("val.json", testing::decode_attention_profile(truth, 0.01, 2));
  EXPECT_THROW(fit_profiles({few}, 5), InputError);  // nothing to start from
  // Beside a kernel that has its shapes, the three are no model of their own, said so.
  Profile bf16 = testing::decode_attention_profile(truth, 0.01, 5);
  for (ProfileShape& s : three.shapes) s.format = "fp8";
  const std::string mixed = root.put("mixed.json", [&] {
    Profile p = bf16;
    p.shapes.insert(p.shapes.end(), three.shapes.begin(), three.shapes.end());
    return p;
  }());
  const ModelFile partial = fit_profiles({mixed}, 5);
  ASSERT_EQ(partial.components.size(), 1u);
  EXPECT_EQ(partial.components[0].format, "bf16");
  ASSERT_EQ(partial.unfitted.size(), 1u);
  EXPECT_EQ(partial.unfitted[0].format, "fp8");
  EXPECT_EQ(partial.unfitted[0].shapes, 3);
  const ModelFile plain = fit_profiles({few}, 5, {}, {r1, r2});
  ASSERT_EQ(plain.components.size(), 1u);
  EXPECT_EQ(plain.components[0].heldout.count, 83);  // 3 + 40 + 40
  const ModelFile judged = fit_profiles({few}, 5, {val}, {r1, r2});
  const ComponentModel& c = judged.components[0];
  // The alternatives: the fitting set with round 1 ("fitting set"), then round 2 on top.
  std::vector<std::string> names;
  for (const auto& [name, e] : c.validation_choices) names.push_back(name);
  EXPECT_EQ(names.front().rfind("fitting set", 0), 0u);
  bool round2 = false;
  for (const std::string& n : names) round2 |= n.rfind("with added shapes", 0) == 0;
  EXPECT_TRUE(round2);
  for (const std::string& n : names) EXPECT_EQ(n.find("rounds 1-1"), std::string::npos) << n;
}

// The MoE FFN quadrants run the same kernels but not at one clock (fit.cc read_groups: on
// the H200 the decode shapes at the top clock, the prefill shapes under the power cap): each
// quadrant is fitted on its own shapes. Decode shapes 6% faster than the same prefill shapes
// are each predicted within their noise; one pooled model would miss both by about 3%.
TEST(Fit, MoeFfnQuadrantsAreFittedApart) {
  auto as_decode = [](Profile p) {
    p.quadrant = "decode_ffn";
    return testing::scaled(p, 0.94);
  };
  const std::string fit_d = write_temp(
      "ffn_fit_d.json", profile_to_json(as_decode(testing::prefill_ffn_profile(0.005, 1))));
  const std::string fit_p =
      write_temp("ffn_fit_p.json", profile_to_json(testing::prefill_ffn_profile(0.005, 2)));
  const std::string val_d = write_temp(
      "ffn_val_d.json", profile_to_json(as_decode(testing::prefill_ffn_profile(0.005, 3))));
  const std::string val_p =
      write_temp("ffn_val_p.json", profile_to_json(testing::prefill_ffn_profile(0.005, 4)));
  const ModelFile m = fit_profiles({fit_d, fit_p}, 5, {val_d, val_p});
  int pairs = 0, decode_shapes = 0, prefill_shapes = 0;
  for (const ComponentModel& d : m.components) {
    if (d.component != "decode_ffn") continue;
    const ComponentModel* p = m.find("prefill_ffn", d.format, d.variant);
    ASSERT_NE(p, nullptr) << d.variant;
    ++pairs;
    decode_shapes += d.heldout.count;
    prefill_shapes += p->heldout.count;
    ASSERT_GT(d.validation.count, 0);
    EXPECT_LT(d.validation.median, 0.015) << d.variant;
    EXPECT_LT(p->validation.median, 0.015) << d.variant;
    // The same shape, as each quadrant ran it.
    const Features x = d.points.empty() ? p->lo : d.points.front().x;
    EXPECT_NEAR(d.predict_ns(x) / p->predict_ns(x), 0.94, 0.02) << d.variant;
  }
  EXPECT_EQ(pairs, 2);  // both GEMM paths (wgmma at 48+ rows per expert, mma16 below)
  // Fitted on its own quadrant's shapes: 40 each (pooled, each model would count 80).
  EXPECT_EQ(decode_shapes, 40);
  EXPECT_EQ(prefill_shapes, 40);
}

// A grid model of 1e-6 ns per FLOP (sum form) over its two nearest points; points to be added.
ComponentModel two_nearest_grid(const char* component) {
  ComponentModel m;
  m.component = component;
  m.format = "bf16";
  m.form = "grid";
  m.q = 1;
  m.ns_per_flop = 1e-6;
  m.neighbours = 2;
  return m;
}

// The model as a model file gives it back (written, then read).
ComponentModel through_model_file(const ComponentModel& m, const std::string& name) {
  ModelFile f;
  f.gpu = "H200";
  f.components.push_back(m);
  return read_model(write_temp(name, model_to_json(f))).components.at(0);
}

// The grid correction's neighbours by the launch plan's regime (scheduled over useful FLOPs):
// shapes of equal FLOPs, bytes and work units, one evenly spread and one with a long last
// wave, carry different residuals; by plan, each takes its own kind's.
TEST(Fit, GridNeighboursByPlanRegime) {
  ComponentModel m = two_nearest_grid("decode_attention");
  for (double f : {1e9, 1.1e9, 1.2e9, 1.3e9})
    for (double ratio : {1.0, 3.0}) {
      Features x{f, f, f / 100, 64};
      x.sched_flops = f * ratio;
      m.points.push_back({x, 1e-6 * f * (ratio > 1 ? 1.4 : 1.0), 0, ""});
    }
  Features even{1.15e9, 1.15e9, 1.15e7, 64}, tail = even;
  even.sched_flops = even.flops;
  tail.sched_flops = 3 * tail.flops;
  m.near_by_plan = false;
  m.index();
  const double mixed = m.predict_ns(even) / m.predict_ns(tail);
  EXPECT_NEAR(mixed, 1.0, 0.02);  // the nearest two are one of each kind, for both
  m.near_by_plan = true;
  m.index();
  EXPECT_NEAR(m.predict_ns(even) / m.base_ns(even), 1.0, 1e-9);
  EXPECT_NEAR(m.predict_ns(tail) / m.base_ns(tail), 1.4, 1e-9);
  // The choice survives the model file.
  const ComponentModel r = through_model_file(m, "byplan.json");
  EXPECT_TRUE(r.near_by_plan);
  EXPECT_NEAR(r.predict_ns(tail), m.predict_ns(tail), 1e-6 * m.predict_ns(tail));
}

// The dense GEMM's neighbours by its weight matrix: cuBLASLt's heuristic picks another kernel
// for another (n, k), so two weight matrices' shapes of equal FLOPs and bytes carry different
// residuals; weighed by n and k, each shape takes its own matrix's. Shapes that do not know
// their matrix (a QuadrantShape's residual GEMM work) are placed by FLOPs and bytes alone.
TEST(Fit, GridNeighboursByWeightMatrix) {
  ComponentModel m = two_nearest_grid("dense_gemm");
  for (double f : {1e9, 1.1e9, 1.2e9, 1.3e9})
    for (double n : {1024.0, 4096.0}) {
      Features x{f, f, f / 100, 64};
      x.gemm_n = n;
      x.gemm_k = 7168;
      m.points.push_back({x, 1e-6 * f * (n > 2048 ? 1.3 : 1.0), 0, ""});
    }
  Features narrow{1.15e9, 1.15e9, 1.15e7, 64}, wide = narrow, unknown = narrow;
  narrow.gemm_n = 1024;
  wide.gemm_n = 4096;
  narrow.gemm_k = wide.gemm_k = 7168;
  m.index();
  EXPECT_NEAR(m.predict_ns(narrow) / m.predict_ns(wide), 1.0, 0.02);  // one of each, for both
  m.near_by_dims = 1;
  m.index();
  EXPECT_NEAR(m.predict_ns(narrow) / m.base_ns(narrow), 1.0, 1e-9);
  EXPECT_NEAR(m.predict_ns(wide) / m.base_ns(wide), 1.3, 1e-9);
  const double mixed = m.predict_ns(unknown) / m.base_ns(unknown);
  EXPECT_GT(mixed, 1.0);
  EXPECT_LT(mixed, 1.3);
  // The weight and the points' matrices survive the model file.
  const ComponentModel r = through_model_file(m, "bydims.json");
  EXPECT_EQ(r.near_by_dims, 1);
  EXPECT_NEAR(r.predict_ns(wide), m.predict_ns(wide), 1e-6 * m.predict_ns(wide));
  EXPECT_NE(r.form_label().find("and n,k x1"), std::string::npos);
}

// The grid correction fades toward the parametric part with the distance to the nearest
// profiled shape: s^2 / (s^2 + d^2) of the neighbours' log residual (near_scale s), the whole
// of it on a profiled shape, almost none far from all of them, all of it at any distance
// without a scale.
TEST(Fit, GridCorrectionFadesWithDistance) {
  ComponentModel m = two_nearest_grid("dense_gemm");
  for (double f : {1e9, 1.1e9, 1.2e9}) m.points.push_back({{f, f, f / 100}, 1.5e-6 * f, 0, ""});
  m.index();
  const Features on{1.1e9, 1.1e9, 1.1e7}, mid{2.4e9, 2.4e9, 2.4e7}, far{1e11, 1e11, 1e9};
  const double d_mid = std::sqrt(2.0) * std::log(2.0),
               d_far = std::sqrt(2.0) * std::log(1e11 / 1.2e9);
  for (const Features& x : {on, mid, far})
    EXPECT_NEAR(m.predict_ns(x) / m.base_ns(x), 1.5, 1e-9);  // no scale: the whole correction
  m.near_scale = 0.5;
  m.index();
  EXPECT_NEAR(m.predict_ns(on) / m.base_ns(on), 1.5, 1e-9);
  for (const auto& [x, d] : {std::pair{mid, d_mid}, std::pair{far, d_far}})
    EXPECT_NEAR(m.predict_ns(x) / m.base_ns(x), std::pow(1.5, 0.25 / (0.25 + d * d)), 1e-9);
  EXPECT_LT(m.predict_ns(far) / m.base_ns(far), 1.01);
  EXPECT_NE(m.form_label().find("fading over 0.5"), std::string::npos) << m.form_label();
  // The scale survives the model file.
  const ComponentModel r = through_model_file(m, "fade.json");
  EXPECT_DOUBLE_EQ(r.near_scale, 0.5);
  EXPECT_NEAR(r.predict_ns(mid), m.predict_ns(mid), 1e-9 * m.predict_ns(mid));
}

TEST(Fit, ProfilesOfTwoGpusAreRejected) {
  Profile a = testing::decode_attention_profile(testing::roofline_max, 0.01, 7);
  Profile b = testing::dense_gemm_profile(0.01, 8);
  b.device.gpu = "H200";
  const std::string pa = write_temp("a2.json", profile_to_json(a));
  const std::string pb = write_temp("b2.json", profile_to_json(b));
  try {
    fit_profiles({pa, pb});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "device.gpu");
  }
}

TEST(Fit, ModelFileErrorsNameThePath) {
  Profile a = testing::decode_attention_profile(testing::roofline_max, 0.01, 7);
  ModelFile m = fit_profiles({write_temp("a3.json", profile_to_json(a))});
  Json j = Json::parse(model_to_json(m));
  j["components"][0]["ns_per_byte"] = "fast";
  try {
    read_model(write_temp("bad_model.json", j.dump()));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "components[0].ns_per_byte");
  }
}

// The plan rules a model was fitted under survive its file; a file without them (every file
// written before they were recorded) was fitted under the legacy rules.
TEST(Fit, PlanRulesRoundTripAndDefaultToTheLegacyRules) {
  using kernels::plan::DecodeSplitModel;
  using kernels::plan::MoeMmaResidency;
  using kernels::plan::PlanRules;
  using kernels::plan::W4a8PrefillDequant;
  const std::string pa = write_temp(
      "rules_a.json",
      profile_to_json(testing::decode_attention_profile(testing::roofline_max, 0.01, 7)));
  PlanRules rules;
  rules.moe_mma_residency = MoeMmaResidency::kRegisters;
  rules.decode_split = DecodeSplitModel::kFluid;
  rules.w4a8_decode_form = 10;
  rules.w4a8_prefill_dequant = W4a8PrefillDequant::kProducer;
  rules.fp8_decode_gemm = kernels::plan::Fp8DecodeGemm::kWgmma;
  rules.mla_decode_form = kernels::plan::MlaDecodeForm::kWgmma;
  const ModelFile m = fit_profiles({pa}, 5, {}, {}, "", rules);
  EXPECT_TRUE(m.plan_rules == rules);
  const Json j = Json::parse(model_to_json(m));
  EXPECT_EQ(j.at("plan_rules").at("moe_mma_residency"), "registers");
  EXPECT_EQ(j.at("plan_rules").at("decode_split"), "fluid");
  EXPECT_EQ(j.at("plan_rules").at("w4a8_decode_form"), 10);
  EXPECT_EQ(j.at("plan_rules").at("w4a8_prefill_dequant"), "producer");
  EXPECT_EQ(j.at("plan_rules").at("fp8_decode_gemm"), "wgmma");
  EXPECT_EQ(j.at("plan_rules").at("mla_decode_form"), "wgmma");
  const ModelFile back = read_model(write_temp("rules_model.json", j.dump()));
  EXPECT_TRUE(back.plan_rules == rules);
  EXPECT_EQ(model_to_json(back), model_to_json(m));
  EXPECT_NE(error_table(back, true)
                .find("moe_mma_residency registers, decode_split fluid, w4a8_decode_form 10, "
                      "w4a8_prefill_dequant producer, fp8_decode_gemm wgmma, mla_decode_form "
                      "wgmma"),
            std::string::npos);
  // Today's rules are written too: the W4A8 form the kernels launch by default.
  const Json today = Json::parse(model_to_json(fit_profiles({pa})));
  EXPECT_EQ(today.at("plan_rules").at("w4a8_decode_form"), kernels::plan::kMoeW4DecodeForm);
  EXPECT_EQ(today.at("plan_rules").at("w4a8_prefill_dequant"),
            kernels::plan::rule_name(kernels::plan::kMoeW4PrefillDequant));
  EXPECT_EQ(today.at("plan_rules").at("fp8_decode_gemm"),
            kernels::plan::kMoeFp8DecodeWgmma ? "wgmma" : "mma");
  EXPECT_EQ(today.at("plan_rules").at("mla_decode_form"),
            kernels::plan::rule_name(kernels::plan::kMlaDecodeForm));
  Json old = j;
  old.erase("plan_rules");
  EXPECT_TRUE(read_model(write_temp("rules_old.json", old.dump())).plan_rules ==
              PlanRules::legacy());
  // A rule the file does not name (added after it was written): that rule's legacy value.
  Json partial = j;
  partial["plan_rules"].erase("moe_mma_residency");
  const PlanRules read = read_model(write_temp("rules_partial.json", partial.dump())).plan_rules;
  EXPECT_EQ(read.moe_mma_residency, PlanRules::legacy().moe_mma_residency);
  EXPECT_EQ(read.decode_split, DecodeSplitModel::kFluid);
  EXPECT_EQ(read.w4a8_decode_form, 10);
  EXPECT_EQ(read.w4a8_prefill_dequant, W4a8PrefillDequant::kProducer);
  // A file written before the W4A8 prefill path was a rule: the E4M3 copy, all there was then.
  Json no_path = j;
  no_path["plan_rules"].erase("w4a8_prefill_dequant");
  EXPECT_EQ(
      read_model(write_temp("rules_no_path.json", no_path.dump())).plan_rules.w4a8_prefill_dequant,
      W4a8PrefillDequant::kScratch);
  // A file written before the FP8 decode GEMM was a rule: mma.sync, all there was then.
  Json no_gemm = j;
  no_gemm["plan_rules"].erase("fp8_decode_gemm");
  EXPECT_EQ(read_model(write_temp("rules_no_gemm.json", no_gemm.dump())).plan_rules.fp8_decode_gemm,
            kernels::plan::Fp8DecodeGemm::kMma);
  // A file written before MLA decode's form was a rule: mma.sync, all there was then.
  Json no_mla = j;
  no_mla["plan_rules"].erase("mla_decode_form");
  EXPECT_EQ(read_model(write_temp("rules_no_mla.json", no_mla.dump())).plan_rules.mla_decode_form,
            kernels::plan::MlaDecodeForm::kMma);
  // Every form a model file may name reads back (the wgmma forms 11-14 included).
  for (const int form : kernels::plan::kW4a8DecodeFormRules) {
    Json f = j;
    f["plan_rules"]["w4a8_decode_form"] = form;
    EXPECT_EQ(read_model(write_temp("rules_form.json", f.dump())).plan_rules.w4a8_decode_form,
              form);
  }
  // A file written before the W4A8 form was a rule: form 8, what the kernels launched then.
  partial["plan_rules"].erase("w4a8_decode_form");
  EXPECT_EQ(
      read_model(write_temp("rules_no_form.json", partial.dump())).plan_rules.w4a8_decode_form, 8);
}

TEST(Fit, BadPlanRulesNameFilePathExpectedAndFound) {
  const std::string pa = write_temp(
      "rules_b.json",
      profile_to_json(testing::decode_attention_profile(testing::roofline_max, 0.01, 7)));
  const Json good = Json::parse(model_to_json(fit_profiles({pa})));
  auto error_of = [&](const std::string& name, const std::function<void(Json&)>& edit) {
    Json j = good;
    edit(j);
    const std::string file = write_temp(name, j.dump());
    try {
      read_model(file);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      return std::make_pair(e.path(), std::string(e.what()));
    }
    ADD_FAILURE() << name << ": read without an error";
    return std::make_pair(std::string(), std::string());
  };
  auto [path, what] =
      error_of("rules_bad1.json", [](Json& j) { j["plan_rules"]["moe_mma_residency"] = "regs"; });
  EXPECT_EQ(path, "plan_rules.moe_mma_residency");
  EXPECT_NE(what.find(R"(expected "shared_memory" or "registers", got "regs")"), std::string::npos)
      << what;
  std::tie(path, what) =
      error_of("rules_bad2.json", [](Json& j) { j["plan_rules"]["decode_split"] = 3; });
  EXPECT_EQ(path, "plan_rules.decode_split");
  EXPECT_NE(what.find(R"(expected "bytes" or "fluid", got 3)"), std::string::npos) << what;
  for (const Json& form : {Json(7), Json(15), Json(8.5), Json("10")}) {
    std::tie(path, what) =
        error_of("rules_bad3.json", [&](Json& j) { j["plan_rules"]["w4a8_decode_form"] = form; });
    EXPECT_EQ(path, "plan_rules.w4a8_decode_form");
    EXPECT_NE(what.find("expected 8, 9, 10, 11, 12, 13 or 14, got " + form.dump()),
              std::string::npos)
        << what;
  }
  std::tie(path, what) =
      error_of("rules_bad7.json", [](Json& j) { j["plan_rules"]["fp8_decode_gemm"] = "mma.sync"; });
  EXPECT_EQ(path, "plan_rules.fp8_decode_gemm");
  EXPECT_NE(what.find(R"(expected "mma" or "wgmma", got "mma.sync")"), std::string::npos) << what;
  std::tie(path, what) =
      error_of("rules_bad8.json", [](Json& j) { j["plan_rules"]["mla_decode_form"] = "wgmma2"; });
  EXPECT_EQ(path, "plan_rules.mla_decode_form");
  EXPECT_NE(what.find(R"(expected "mma" or "wgmma", got "wgmma2")"), std::string::npos) << what;
  std::tie(path, what) = error_of(
      "rules_bad6.json", [](Json& j) { j["plan_rules"]["w4a8_prefill_dequant"] = "in_producer"; });
  EXPECT_EQ(path, "plan_rules.w4a8_prefill_dequant");
  EXPECT_NE(what.find(R"(expected "scratch", "producer" or "by_rows", got "in_producer")"),
            std::string::npos)
      << what;
  std::tie(path, what) =
      error_of("rules_bad4.json", [](Json& j) { j["plan_rules"]["block_m"] = 32; });
  EXPECT_EQ(path, "plan_rules.block_m");
  std::tie(path, what) = error_of("rules_bad5.json", [](Json& j) { j["plan_rules"] = "new"; });
  EXPECT_EQ(path, "plan_rules");
}

}  // namespace
}  // namespace quadrant::calibration
