// quadrant_libfuzzer: the libFuzzer target (clang, -fsanitize=fuzzer,address,undefined).
// The first byte picks where the rest goes: a scenario file (load_scenario and a short
// simulation) or a trace of one of the three formats; the custom mutator applies the
// structure-aware mutations of fuzz_target.h to JSON inputs and libFuzzer's own byte
// mutations to the rest. scripts/test.sh runs it from seeds of the shipped files:
//   quadrant_libfuzzer -runs=N -seed=1 SEED_DIR   (from the repository root)
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/fuzz/fuzz_target.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using quadrant::fuzz::FuzzCase;

const std::string& workdir() {
  static const std::string dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("quadrant_libfuzzer_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

FuzzCase decode(const uint8_t* data, size_t size) {
  FuzzCase c;
  if (size == 0) return c;
  const unsigned mode = data[0] % 4;
  c.text.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode > 0) {
    c.kind = FuzzCase::Kind::kTrace;
    c.format = mode == 1   ? quadrant::TraceFormat::kAzure
               : mode == 2 ? quadrant::TraceFormat::kBurstGpt
                           : quadrant::TraceFormat::kMooncake;
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Anything but a result or an InputError escapes run_case and aborts the fuzzer.
  quadrant::fuzz::run_case(decode(data, size), workdir());
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  static quadrant::fuzz::ScenarioMutator mutator(1, {}, {});
  if (size > 1 && data[0] % 4 == 0 && seed % 4 != 0) {
    nlohmann::json doc = nlohmann::json::parse(data + 1, data + size, nullptr, false);
    if (!doc.is_discarded() && doc.is_object()) {
      std::string what;
      const std::string out =
          mutator.mutate(doc, what).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (out.size() + 1 <= max_size) {
        std::memcpy(data + 1, out.data(), out.size());
        return out.size() + 1;
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}
