#include "sim/cost/cost_band.h"

#include <gtest/gtest.h>

#include <memory>

#include "sim/cost/roofline_cost_model.h"

namespace quadrant {
namespace {

// Answers every shape with a fixed mean and band.
class Fixed : public CostModel {
 public:
  Fixed(int64_t mean_ns, int64_t stddev_ns, bool extrapolated = false)
      : mean_(mean_ns), stddev_(stddev_ns), extrapolated_(extrapolated) {}
  Estimate predict(const QuadrantShape&) const override {
    Estimate e;
    e.mean = Duration::nanos(mean_);
    e.stddev = Duration::nanos(stddev_);
    e.provenance = Provenance::kFitted;
    e.extrapolated = extrapolated_;
    if (extrapolated_) e.extrapolation = "no fitted model";
    return e;
  }
  Provenance provenance() const override { return Provenance::kFitted; }
  std::string describe() const override { return "fixed"; }

 private:
  int64_t mean_, stddev_;
  bool extrapolated_;
};

TEST(BandEdgeCostModel, MovesEachEstimateToTheEdgeOfItsBand) {
  auto base = std::make_shared<Fixed>(100'000, 10'000);
  const QuadrantShape s;
  EXPECT_EQ(BandEdgeCostModel(base, kBandZ).predict_core(s).mean.ns(), 116'450);
  EXPECT_EQ(BandEdgeCostModel(base, -kBandZ).predict_core(s).mean.ns(), 83'550);
  EXPECT_EQ(BandEdgeCostModel(base, kBandZ).predict(s).mean.ns(), 116'450);
  // Never below half the mean, however wide the band.
  EXPECT_EQ(BandEdgeCostModel(base, -10).predict_core(s).mean.ns(), 50'000);
  // A model without a band answers as it is.
  EXPECT_EQ(
      BandEdgeCostModel(std::make_shared<Fixed>(100'000, 0), kBandZ).predict_core(s).mean.ns(),
      100'000);
}

TEST(CheckQuadrants, NamesEveryQuadrantAndFlagsDisagreementBeyondTheBand) {
  ModelSpec m;
  m.num_layers = 4;
  m.hidden_size = 4096;
  m.vocab_size = 32000;
  m.attention.num_heads = 32;
  m.attention.num_kv_heads = 8;
  m.attention.head_dim = 128;
  m.ffn.kind = FfnKind::kDense;
  m.ffn.intermediate_size = 14336;
  Layout l;
  const Fixed model(100'000, 5'000);  // band 5%
  const Fixed near(105'000, 0), far(200'000, 0);
  auto checks = check_quadrants(model, &near, m, l);
  ASSERT_EQ(checks.size(), 4u);
  for (const QuadrantCheck& c : checks) {
    EXPECT_NEAR(c.band(), 0.05, 1e-9);
    EXPECT_FALSE(c.disagrees()) << c.shape;  // 5% apart: within 1.645 x the 5% band
  }
  for (const QuadrantCheck& c : check_quadrants(model, &far, m, l)) EXPECT_TRUE(c.disagrees());
  for (const QuadrantCheck& c : check_quadrants(model, nullptr, m, l)) EXPECT_FALSE(c.disagrees());
}

}  // namespace
}  // namespace quadrant
