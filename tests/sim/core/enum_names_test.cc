// Every enum a scenario names has one table: each value's name reads back as the value,
// names are unique, an unknown name is refused, and the schema offers exactly the table's
// names as the field's choices (the reader refuses anything else with the list).
#include "sim/core/enum_names.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sim/io/schema.h"
#include "sim/scenario.h"

namespace quadrant {
namespace {

template <typename E, size_t N>
void expect_round_trip(const EnumNames<E, N>& t) {
  std::set<std::string> seen;
  for (const auto& [v, n] : t.entries) {
    EXPECT_EQ(t.value(n), v) << n;
    EXPECT_STREQ(t.name(v), n);
    EXPECT_TRUE(seen.insert(n).second) << "duplicate name " << n;
  }
  EXPECT_EQ(t.value("no-such-name"), std::nullopt);
  EXPECT_EQ(t.value(""), std::nullopt);
}

TEST(EnumNames, EveryTableRoundTrips) {
  expect_round_trip(kArrivalProcessNames);
  expect_round_trip(kTraceFormatNames);
  expect_round_trip(kLengthDistributionNames);
  expect_round_trip(kRoleNames);
  expect_round_trip(kServingModeNames);
  expect_round_trip(kPrefillRoutingNames);
  expect_round_trip(kDecodeRoutingNames);
  expect_round_trip(kObjectiveNames);
  expect_round_trip(kNumberFormatNames);
  expect_round_trip(kAttentionKindNames);
  expect_round_trip(kFfnKindNames);
  expect_round_trip(kRebalancerNames);
}

TEST(EnumNames, NamesLeaveOutTheValuesAFieldDoesNotTake) {
  EXPECT_EQ(kNumberFormatNames.names(), (std::vector<std::string>{"bf16", "fp8", "int8", "w4a8"}));
  EXPECT_EQ(kNumberFormatNames.names({NumberFormat::kW4A8}),
            (std::vector<std::string>{"bf16", "fp8", "int8"}));
  EXPECT_STREQ(to_string(ArrivalProcess::kDiurnal), "diurnal");
}

TEST(EnumNames, TheSchemaOffersEachTablesNames) {
  auto choices = [](const std::string& path) {
    const io::FieldDecl* f = io::find_field(path);
    return f ? f->choices : std::vector<std::string>{"no field " + path};
  };
  EXPECT_EQ(choices("workload.arrival.process"), kArrivalProcessNames.names());
  EXPECT_EQ(choices("serving.prefill_routing"), kPrefillRoutingNames.names());
  EXPECT_EQ(choices("search.objective"), kObjectiveNames.names());
  EXPECT_EQ(choices("model.precision.kv_cache"), kNumberFormatNames.names({NumberFormat::kW4A8}));
}

}  // namespace
}  // namespace quadrant
