// The scenario edge: every shipped scenario loads; each class of bad input gets one clear
// error naming the file and JSON path, what was expected and what was found.
#include "sim/io/scenario_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "sim/core/error.h"
#include "sim/io/json_reader.h"
#include "sim/io/schema.h"
#include "sim/io/unit_parse.h"
#include "sim/workload/trace_reader.h"

namespace quadrant {
namespace {

namespace fs = std::filesystem;

std::string write_temp(const std::string& name, const std::string& text) {
  fs::path p = fs::path(::testing::TempDir()) / name;
  std::ofstream(p) << text;
  return p.string();
}

// The default scenario with its includes made absolute, then changed by `edit`.
std::string default_with(const std::string& name, const std::function<void(io::Json&)>& edit) {
  io::Json j = io::load_json_file("scenarios/default.json");
  const fs::path dir = fs::absolute("scenarios");
  for (const char* k : {"model", "hardware", "workload"}) {
    j[k] = (dir / j[k].get<std::string>()).string();
  }
  edit(j);
  return write_temp(name + ".json", j.dump(2));
}

// The InputError that loading `path` throws (fails the test if none).
InputError load_error(const std::string& path) {
  try {
    load_scenario(path);
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << path << " loaded without error";
  return InputError("no error");
}

TEST(ScenarioIo, EveryShippedScenarioLoads) {
  int n = 0;
  for (const char* dir : {"scenarios", "scenarios/examples", "scenarios/bench"}) {
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".json") continue;
      SCOPED_TRACE(e.path().string());
      EXPECT_NO_THROW(load_scenario(e.path().string()));
      ++n;
    }
  }
  EXPECT_GE(n, 1);
}

TEST(ScenarioIo, DefaultScenarioResolvesIncludesAndUnits) {
  Scenario s = load_scenario("scenarios/default.json");
  EXPECT_EQ(s.model.name, "Qwen3-235B-A22B");
  EXPECT_EQ(s.model.attention.num_kv_heads, 4);
  const GpuSpec* h100 = s.catalog.find("H100-SXM");
  ASSERT_NE(h100, nullptr);
  EXPECT_DOUBLE_EQ(h100->memory.value(), 80e9);
  EXPECT_DOUBLE_EQ(h100->memory_bandwidth.value(), 3.35e12);
  EXPECT_DOUBLE_EQ(h100->bf16.value(), 989e12);
  EXPECT_DOUBLE_EQ(h100->nic_bandwidth.value(), 50e9);  // 400Gb/s
  EXPECT_EQ(s.slo.tpot, Duration::millis(80));
  EXPECT_EQ(s.serving.decode.gpu, "H20");
  EXPECT_EQ(s.serving.decode.layout.ep, 4);
}

TEST(ScenarioIo, IncludeWithOverridesMergesObjectsKeyByKey) {
  // The calibrated example includes the whole catalog and sets one field of two GPUs.
  Scenario s = load_scenario("scenarios/examples/default-calibrated.json");
  EXPECT_EQ(s.catalog.gpus.size(), 7u);
  const GpuSpec* h100 = s.catalog.find("H100-SXM");
  ASSERT_NE(h100, nullptr);
  EXPECT_EQ(h100->calibrated, "calibration/models/H100-SXM.json");
  EXPECT_DOUBLE_EQ(h100->memory.value(), 80e9);  // the rest still from the catalog
  EXPECT_EQ(s.catalog.find("H20")->calibrated, "");
}

TEST(ScenarioIo, ErrorsInAMergedObjectNameTheFileOfTheBadKey) {
  InputError e = load_error(default_with("merged_typo", [](io::Json& j) {
    j["hardware"] = {{"include", j["hardware"]}, {"gpus", {{"H20", {{"usd_per_hour", -1}}}}}};
  }));
  EXPECT_EQ(e.path(), "hardware.gpus.H20.usd_per_hour");
  EXPECT_EQ(e.file(), (fs::path(::testing::TempDir()) / "merged_typo.json").string());
}

TEST(ScenarioIo, WrongTypeNamesPathExpectedAndFound) {
  InputError e = load_error(
      default_with("wrong_type", [](io::Json& j) { j["serving"]["decode"]["instances"] = "two"; }));
  EXPECT_EQ(e.path(), "serving.decode.instances");
  EXPECT_EQ(e.message(), "expected an integer in [1, 4096], got \"two\"");
}

TEST(ScenarioIo, OutOfRange) {
  InputError e = load_error(default_with("out_of_range", [](io::Json& j) {
    j["workload"] = {{"include", j["workload"]},
                     {"arrival", {{"process", "poisson"}, {"rate", -3}}}};
  }));
  EXPECT_EQ(e.path(), "workload.arrival.rate");
  EXPECT_EQ(e.message(), "expected a number in (0, 1e+09], got -3");
}

TEST(ScenarioIo, MissingField) {
  InputError e = load_error(default_with("missing", [](io::Json& j) { j["slo"].erase("tpot"); }));
  EXPECT_EQ(e.path(), "slo.tpot");
  EXPECT_NE(e.message().find("missing required field"), std::string::npos);
}

TEST(ScenarioIo, UnknownKeySuggestsTheClosest) {
  InputError e = load_error(default_with(
      "unknown", [](io::Json& j) { j["serving"]["prefill"]["max_batch_token"] = 4096; }));
  EXPECT_EQ(e.path(), "serving.prefill.max_batch_token");
  EXPECT_EQ(e.message(), "unknown key \"max_batch_token\"; did you mean \"max_batch_tokens\"?");
}

TEST(ScenarioIo, UnknownKeyInsideAnIncludedFileNamesThatFile) {
  io::Json model = io::load_json_file("scenarios/models/mixtral-8x7b.json");
  model["attention"]["num_head"] = 32;
  std::string model_file = write_temp("typo_model.json", model.dump());
  InputError e =
      load_error(default_with("typo_in_include", [&](io::Json& j) { j["model"] = model_file; }));
  EXPECT_EQ(e.file(), model_file);
  EXPECT_EQ(e.path(), "model.attention.num_head");
  EXPECT_NE(e.message().find("did you mean \"num_heads\""), std::string::npos);
}

TEST(ScenarioIo, MalformedJsonNamesLineAndColumn) {
  std::string p = write_temp("malformed.json", "{\n  \"name\": \"x\",\n  \"seed\": 1,,\n}\n");
  InputError e = load_error(p);
  EXPECT_EQ(e.file(), p + ":3:13");
  EXPECT_NE(e.message().find("malformed JSON"), std::string::npos);
}

TEST(ScenarioIo, MissingIncludeNamesTheFileItLookedFor) {
  InputError e = load_error(
      default_with("missing_include", [](io::Json& j) { j["model"] = "no/such/model.json"; }));
  EXPECT_EQ(e.path(), "model");
  EXPECT_NE(e.message().find("cannot open included file \"no/such/model.json\""),
            std::string::npos);
  EXPECT_NE(
      e.message().find(
          (fs::path(::testing::TempDir()) / "no/such/model.json").lexically_normal().string()),
      std::string::npos)
      << e.message();
}

TEST(ScenarioIo, BareNumberWhereAUnitIsNeededSaysWhichUnitsFit) {
  InputError e = load_error(default_with("bare_number", [](io::Json& j) { j["slo"]["ttft"] = 2; }));
  EXPECT_EQ(e.path(), "slo.ttft");
  EXPECT_NE(e.message().find("ns, us, ms, s, min, h"), std::string::npos);
}

TEST(ScenarioIo, UnknownGpuReferenceListsTheCatalog) {
  InputError e = load_error(
      default_with("bad_gpu", [](io::Json& j) { j["serving"]["decode"]["gpu"] = "H2O"; }));
  EXPECT_EQ(e.path(), "serving.decode.gpu");
  EXPECT_NE(e.message().find("did you mean \"H20\""), std::string::npos);
}

TEST(ScenarioIo, ImpossibleLayoutIsRejected) {
  InputError e = load_error(default_with("bad_layout", [](io::Json& j) {
    j["serving"]["decode"]["layout"] = {{"tp", 4}, {"ep", 3}};
  }));
  EXPECT_EQ(e.path(), "serving.decode.layout.ep");
}

// Attention/FFN disaggregation (serving.<pool>.af_disaggregated): a MoE model, experts
// only on the FFN pool (layout ep 1), no stages, no dual micro-batch, prefill or decode
// pools only; each error names its field.
TEST(ScenarioIo, AttentionFfnDisaggregationIsCheckedFieldByField) {
  const io::Json af = {{"ffn_gpu", "H800"}, {"ffn_gpus", 16}, {"micro_batches", 2}};
  const std::string ok = default_with("af_ok", [&](io::Json& j) {
    j["serving"]["decode"]["layout"] = {{"tp", 4}};
    j["serving"]["decode"]["af_disaggregated"] = af;
  });
  const Scenario s = load_scenario(ok);
  EXPECT_EQ(s.serving.decode.af, (AfSpec{"H800", 16, 2}));
  EXPECT_EQ(s.serving.decode.gpus_per_instance(), 4 + 16);
  EXPECT_FALSE(s.serving.prefill.af.enabled());
  // Redundant experts and EPLB place the experts over the FFN GPUs: counted over ffn_gpus.
  const int experts = s.model.ffn.num_experts;
  const int redundant = (16 - experts % 16) % 16 + 16;
  const Scenario eplb = load_scenario(default_with("af_eplb_ok", [&](io::Json& j) {
    j["serving"]["decode"]["layout"] = {{"tp", 4}};
    j["serving"]["decode"]["af_disaggregated"] = af;
    j["serving"]["decode"]["experts"] = {{"redundant", redundant}, {"rebalancer", "eplb"}};
  }));
  EXPECT_EQ(eplb.serving.decode.experts.redundant, redundant);
  EXPECT_EQ(s.search.af.roles, std::vector<Role>{Role::kDecode});  // MegaScale-Infer's default
  const Scenario both = load_scenario(default_with("af_roles", [&](io::Json& j) {
    j["search"]["af_disaggregated"] = {{"ffn_gpus", {"H800"}}, {"roles", {"prefill", "decode"}}};
  }));
  EXPECT_EQ(both.search.af.roles, (std::vector<Role>{Role::kPrefill, Role::kDecode}));
  struct Case {
    const char* name;
    std::function<void(io::Json&)> edit;
    const char* path;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"af_ep",
       [&](io::Json& j) {
         j["serving"]["decode"]["layout"] = {{"tp", 4}, {"ep", 4}};
         j["serving"]["decode"]["af_disaggregated"] = af;
       },
       "serving.decode.layout.ep",
       "expected 1 beside af_disaggregated (the experts live on its ffn_gpus), got 4"},
      {"af_gpu",
       [&](io::Json& j) {
         j["serving"]["decode"]["layout"] = {{"tp", 4}};
         j["serving"]["decode"]["af_disaggregated"] = af;
         j["serving"]["decode"]["af_disaggregated"]["ffn_gpu"] = "H8OO";
       },
       "serving.decode.af_disaggregated.ffn_gpu", "did you mean \"H800\""},
      {"af_count",
       [&](io::Json& j) {
         j["serving"]["decode"]["layout"] = {{"tp", 4}};
         j["serving"]["decode"]["af_disaggregated"] = af;
         j["serving"]["decode"]["af_disaggregated"]["ffn_gpus"] = 0;
       },
       "serving.decode.af_disaggregated.ffn_gpus", "got 0"},
      {"af_missing",
       [&](io::Json& j) {
         j["serving"]["decode"]["layout"] = {{"tp", 4}};
         j["serving"]["decode"]["af_disaggregated"] = {{"ffn_gpu", "H800"}};
       },
       "serving.decode.af_disaggregated.ffn_gpus", "missing"},
      {"af_dual",
       [&](io::Json& j) {
         j["serving"]["decode"]["layout"] = {{"tp", 4}};
         j["serving"]["decode"]["af_disaggregated"] = af;
         j["serving"]["decode"]["dual_micro_batch"] = true;
       },
       "serving.decode.dual_micro_batch", "expected false beside af_disaggregated"},
      {"af_search",
       [&](io::Json& j) {
         j["search"]["af_disaggregated"] = {{"ffn_gpus", {"H800", "B300"}}};
       },
       "search.af_disaggregated.ffn_gpus[1]", "expected a GPU type of hardware.gpus"},
      {"af_search_mb",
       [&](io::Json& j) {
         j["search"]["af_disaggregated"] = {{"ffn_gpus", {"H800"}}, {"micro_batches", {2, 0}}};
       },
       "search.af_disaggregated.micro_batches[1]", "expected an integer in [1, "},
      {"af_eplb",
       [&](io::Json& j) {
         j["serving"]["decode"]["layout"] = {{"tp", 4}};
         j["serving"]["decode"]["af_disaggregated"] = af;
         j["serving"]["decode"]["experts"] = {{"redundant", 3}, {"rebalancer", "eplb"}};
       },
       "serving.decode.experts.redundant", "divisible by af_disaggregated.ffn_gpus (16)"},
      {"af_search_role",
       [&](io::Json& j) {
         j["search"]["af_disaggregated"] = {{"ffn_gpus", {"H800"}},
                                            {"roles", {"decode", "colocated"}}};
       },
       "search.af_disaggregated.roles[1]", "expected \"prefill\" or \"decode\""},
      {"af_search_role_twice",
       [&](io::Json& j) {
         j["search"]["af_disaggregated"] = {{"ffn_gpus", {"H800"}},
                                            {"roles", {"prefill", "prefill"}}};
       },
       "search.af_disaggregated.roles[1]", "expected each role once"},
      {"af_search_no_role",
       [&](io::Json& j) {
         j["search"]["af_disaggregated"] = {{"ffn_gpus", {"H800"}}, {"roles", io::Json::array()}};
       },
       "search.af_disaggregated.roles", "expected a non-empty array"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const InputError e = load_error(default_with(c.name, c.edit));
    EXPECT_EQ(e.path(), c.path) << e.what();
    EXPECT_NE(e.message().find(c.message), std::string::npos) << e.message();
  }
}

TEST(ScenarioIo, WrongEnumValueListsTheChoices) {
  InputError e =
      load_error(default_with("bad_enum", [](io::Json& j) { j["serving"]["mode"] = "colocate"; }));
  EXPECT_EQ(e.path(), "serving.mode");
  EXPECT_EQ(
      e.message(),
      "expected one of disaggregated, colocated, got \"colocate\"; did you mean \"colocated\"?");
}

TEST(ScenarioIo, IncludeCycleIsAnError) {
  std::string a = write_temp("cycle_a.json", R"({"include": "cycle_b.json"})");
  write_temp("cycle_b.json", R"({"include": "cycle_a.json"})");
  InputError e = load_error(default_with("cycle", [&](io::Json& j) { j["model"] = a; }));
  EXPECT_NE(e.message().find("include cycle"), std::string::npos);
}

TEST(Schema, EveryFieldIsDocumentedInTheScenariosReadme) {
  std::ifstream in("scenarios/README.md");
  ASSERT_TRUE(in) << "scenarios/README.md is missing";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const io::FieldDecl& f : io::scenario_schema()) {
    EXPECT_NE(text.find("`" + f.path + "`"), std::string::npos) << f.path << " is not documented";
  }
}

TEST(Schema, EveryDefaultParsesAsItsOwnType) {
  // Loading a scenario that sets nothing optional exercises every default on its path;
  // here each declared default is checked directly.
  for (const io::FieldDecl& f : io::scenario_schema()) {
    if (f.default_value.empty() || f.default_value.rfind("required", 0) == 0) continue;
    SCOPED_TRACE(f.path);
    if (f.type == io::FieldType::kEnum) {
      EXPECT_NE(std::find(f.choices.begin(), f.choices.end(), f.default_value), f.choices.end());
    }
    if (f.type == io::FieldType::kInteger || f.type == io::FieldType::kNumber) {
      double v = std::stod(f.default_value);
      EXPECT_GE(v, f.min);
      EXPECT_LE(v, f.max);
    }
  }
}

TEST(UnitParse, AcceptsUnitsAndRejectsBareNumbers) {
  EXPECT_EQ(io::parse_duration("2ms"), Duration::millis(2));
  EXPECT_EQ(io::parse_duration("1.5 s"), Duration::millis(1500));
  EXPECT_EQ(io::parse_duration("10min"), Duration::seconds(600));
  EXPECT_FALSE(io::parse_duration("2"));
  EXPECT_FALSE(io::parse_duration("2 parsecs"));
  EXPECT_FALSE(io::parse_duration("-1s"));
  EXPECT_DOUBLE_EQ(io::parse_bytes("80GB")->value(), 80e9);
  EXPECT_DOUBLE_EQ(io::parse_bytes("1GiB")->value(), 1073741824.0);
  EXPECT_DOUBLE_EQ(io::parse_bandwidth("400Gb/s")->value(), 50e9);
  EXPECT_DOUBLE_EQ(io::parse_flop_rate("989TFLOP/s")->value(), 989e12);
}

}  // namespace
}  // namespace quadrant

namespace quadrant {
namespace {

// A trace replay's duration (and with it the run's GPU-hours and cost) is the trace's
// span, not workload.duration's default of 10 minutes.
TEST(ScenarioIo, ATraceSetsTheRunsDuration) {
  const std::string trace = fs::absolute("scenarios/traces/burstgpt_sample.csv").string();
  auto with_trace = [&](const std::string& name, const char* duration) {
    return default_with(name, [&](io::Json& j) {
      j["workload"] = {{"arrival",
                        {{"process", "trace"},
                         {"trace", {{"file", trace}, {"format", "burstgpt"}, {"time_scale", 2}}}}},
                       {"input_length", {{"distribution", "fixed"}, {"value", 1}}},
                       {"output_length", {{"distribution", "fixed"}, {"value", 1}}}};
      if (duration) j["workload"]["duration"] = duration;
    });
  };
  const Scenario s = load_scenario(with_trace("trace_span", nullptr));
  const TraceSummary t = scan_trace(trace, TraceFormat::kBurstGpt, 2);
  EXPECT_EQ(s.workload.arrival.trace_requests, 8);
  EXPECT_EQ(s.workload.duration, t.span + Duration::nanos(1));
  EXPECT_DOUBLE_EQ(s.workload.arrival.rate_per_s, 8 / t.span.to_seconds());
  // The planner's synthetic workloads use the trace's rate (above) and lengths (here),
  // not a hidden 1 req/s with the default lengths.
  EXPECT_EQ(s.workload.input_length.distribution, LengthDistribution::kHistogram);
  EXPECT_NEAR(s.workload.input_length.mean(), t.mean_input_tokens, 0.01 * t.mean_input_tokens);
  EXPECT_NEAR(s.workload.output_length.mean(), t.mean_output_tokens, 0.01 * t.mean_output_tokens);
  EXPECT_EQ(load_scenario(with_trace("trace_long", "1h")).workload.duration,
            Duration::seconds(3600));
  InputError e = load_error(with_trace("trace_short", "10s"));
  EXPECT_EQ(e.path(), "workload.duration");
  EXPECT_NE(e.message().find("trace's span"), std::string::npos) << e.what();
  // The trace is an input of the run: outputs may not overwrite it.
  EXPECT_NE(std::find(s.input_files.begin(), s.input_files.end(),
                      fs::path(trace).lexically_normal().string()),
            s.input_files.end());
}

TEST(ScenarioIo, LimitsAreErrorsNamingTheField) {
  auto error_of = [&](const std::string& name, const std::function<void(io::Json&)>& edit) {
    return load_error(default_with(name, edit));
  };
  InputError e = error_of("gpn", [](io::Json& j) {
    j["cluster"] = {{"gpus_per_node", 2000000000}};
  });
  EXPECT_EQ(e.path(), "cluster.gpus_per_node");
  e = error_of("warm", [](io::Json& j) {
    j["workload"] = {{"include", j["workload"]}, {"warmup", "1e300s"}};
  });
  EXPECT_EQ(e.path(), "workload.warmup");
  e = error_of("gpus", [](io::Json& j) { j["serving"]["decode"]["instances"] = 4000; });
  EXPECT_NE(e.message().find("at most 4096 GPUs"), std::string::npos) << e.what();
  e = error_of("seed", [](io::Json& j) { j["seed"] = 18446744073709551615ULL; });
  EXPECT_EQ(e.path(), "seed");
  e = error_of("eff", [](io::Json& j) {
    j["hardware"] = {{"include", j["hardware"]},
                     {"gpus", {{"H20", {{"memory_efficiency", 1e-300}}}}}};
  });
  EXPECT_EQ(e.path(), "hardware.gpus.H20.memory_efficiency");
}

// hardware.power_caps: a capped copy of a catalog type with its cap, clock factor and
// price; the peaks it computes at are the datasheet's times the factor, its bandwidth and
// memory the base's. Bad caps are errors naming the field.
TEST(ScenarioIo, PowerCapsAddCappedCopiesOfCatalogTypes) {
  auto with_caps = [](const std::string& name, const io::Json& caps) {
    return default_with(name, [&](io::Json& j) {
      j["hardware"] = {{"include", j["hardware"]}, {"power_caps", caps}};
    });
  };
  const Scenario s = load_scenario(with_caps(
      "caps", {{"H100-SXM@450W", {{"gpu", "H100-SXM"}, {"watts", 450}, {"clock_factor", 0.8}}}}));
  const GpuSpec& base = *s.catalog.find("H100-SXM");
  const GpuSpec* capped = s.catalog.find("H100-SXM@450W");
  ASSERT_NE(capped, nullptr);
  EXPECT_EQ(base.power_watts, 700);
  EXPECT_EQ(base.max_power_watts(), 700);
  EXPECT_EQ(capped->capped_from, "H100-SXM");
  EXPECT_EQ(capped->max_power_watts(), 450);
  EXPECT_EQ(capped->usd_per_hour, base.usd_per_hour);  // absent: the base's price
  EXPECT_EQ(capped->memory_bandwidth, base.memory_bandwidth);
  EXPECT_EQ(capped->memory, base.memory);
  EXPECT_DOUBLE_EQ(capped->peak(NumberFormat::kFp8).value(),
                   0.8 * base.peak(NumberFormat::kFp8).value());
  InputError e = load_error(
      with_caps("cap_over", {{"X", {{"gpu", "H100-SXM"}, {"watts", 800}, {"clock_factor", 0.9}}}}));
  EXPECT_EQ(e.path(), "hardware.power_caps.X.watts");
  EXPECT_NE(e.message().find("board power 700 W, got 800 W"), std::string::npos) << e.what();
  e = load_error(
      with_caps("cap_gpu", {{"X", {{"gpu", "H100"}, {"watts", 400}, {"clock_factor", 0.9}}}}));
  EXPECT_EQ(e.path(), "hardware.power_caps.X.gpu");
  EXPECT_NE(e.message().find("did you mean"), std::string::npos) << e.what();
  e = load_error(with_caps(
      "cap_name", {{"H20", {{"gpu", "H100-SXM"}, {"watts", 400}, {"clock_factor", 0.9}}}}));
  EXPECT_EQ(e.path(), "hardware.power_caps.H20");
  e = load_error(with_caps("cap_clock",
                           {{"X", {{"gpu", "H100-SXM"}, {"watts", 400}, {"clock_factor", 1.5}}}}));
  EXPECT_EQ(e.path(), "hardware.power_caps.X.clock_factor");
  e = load_error(default_with("drafts", [](io::Json& j) {
    j["search"] = {{"draft_lengths", {0, 2, 65}}};
  }));
  EXPECT_EQ(e.path(), "search.draft_lengths");
  e = load_error(default_with("drafts_neg", [](io::Json& j) {
    j["search"] = {{"draft_lengths", {-1}}};
  }));
  EXPECT_EQ(e.path(), "search.draft_lengths[0]");
}

// serving.<pool>.prefix_cache matches a Mooncake trace's block hashes: without them, on
// a decode pool, beside prefix_hit_rate, or cache_aware routing without a cache, it is an
// error naming the field.
TEST(ScenarioIo, PrefixCacheNeedsAMooncakeTraceOnThePoolThatPrefills) {
  const Scenario ok = load_scenario("scenarios/examples/deepseek-v3-mooncake-cache.json");
  EXPECT_EQ(ok.serving.prefill.prefix_cache.memory_fraction, 0.5);
  EXPECT_EQ(ok.serving.prefill.prefix_cache.block_tokens, 512);
  EXPECT_EQ(ok.serving.prefill_routing, PrefillRouting::kCacheAware);
  InputError e = load_error(default_with("pc_poisson", [](io::Json& j) {
    j["serving"]["prefill"]["prefix_cache"] = {{"memory_fraction", 0.5}};
  }));
  EXPECT_EQ(e.path(), "serving.prefill.prefix_cache.memory_fraction");
  EXPECT_NE(e.message().find("mooncake trace"), std::string::npos) << e.what();
  e = load_error(default_with("pc_decode", [](io::Json& j) {
    j["serving"]["decode"]["prefix_cache"] = {{"memory_fraction", 0.5}};
  }));
  EXPECT_EQ(e.path(), "serving.decode.prefix_cache.memory_fraction");
  e = load_error(default_with("pc_both", [](io::Json& j) {
    j["serving"]["prefill"]["prefix_cache"] = {{"memory_fraction", 0.5}};
    j["serving"]["prefill"]["prefix_hit_rate"] = 0.5;
  }));
  EXPECT_EQ(e.path(), "serving.prefill.prefix_hit_rate");
  e = load_error(default_with(
      "pc_route", [](io::Json& j) { j["serving"]["prefill_routing"] = "cache_aware"; }));
  EXPECT_EQ(e.path(), "serving.prefill_routing");
}

TEST(ScenarioIo, FilesThatAreNotJsonDocumentsAreErrors) {
  EXPECT_NE(load_error("scenarios").message().find("got a directory"), std::string::npos);
  EXPECT_NE(load_error(write_temp("big_number.json", R"({"seed": 1e999})"))
                .message()
                .find("double's range"),
            std::string::npos);
  const std::string deep =
      write_temp("deep.json", std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_NE(load_error(deep).message().find("nested at most 64 deep"), std::string::npos);
}

// scenario.reference (the published deployment a report compares with) and
// search.redundant_experts: read as given, and bad values named by their JSON path.
TEST(ScenarioIo, ReferenceAndRedundantExpertSearch) {
  const Scenario ok = load_scenario(default_with("reference_ok", [](io::Json& j) {
    j["reference"] = {{"source", "a paper"}, {"nodes", 10.5}, {"prefill_nodes", 4}};
    j["search"]["redundant_experts"] = {0, 32};
  }));
  EXPECT_EQ(ok.reference.source, "a paper");
  EXPECT_DOUBLE_EQ(ok.reference.nodes, 10.5);
  EXPECT_DOUBLE_EQ(ok.reference.prefill_nodes, 4);
  EXPECT_DOUBLE_EQ(ok.reference.decode_nodes, 0);
  EXPECT_EQ(ok.search.redundant_experts, (std::vector<int>{0, 32}));
  EXPECT_FALSE(load_scenario("scenarios/default.json").reference.enabled());

  InputError split = load_error(default_with("reference_split", [](io::Json& j) {
    j["reference"] = {{"source", "x"}, {"nodes", 10}, {"prefill_nodes", 6}, {"decode_nodes", 6}};
  }));
  EXPECT_EQ(split.path(), "reference.decode_nodes");
  EXPECT_EQ(split.message(),
            "expected prefill_nodes + decode_nodes at most 5% above nodes (10), got 12");
  InputError zero = load_error(default_with("reference_zero", [](io::Json& j) {
    j["reference"] = {{"source", "x"}, {"nodes", 0}};
  }));
  EXPECT_EQ(zero.path(), "reference.nodes");
  InputError source = load_error(default_with("reference_source", [](io::Json& j) {
    j["reference"] = {{"nodes", 3}};
  }));
  EXPECT_EQ(source.path(), "reference.source");
  InputError red = load_error(default_with("redundant_negative", [](io::Json& j) {
    j["search"]["redundant_experts"] = {0, -1};
  }));
  EXPECT_EQ(red.path(), "search.redundant_experts[1]");
}

}  // namespace
}  // namespace quadrant
