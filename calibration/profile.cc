#include "calibration/profile.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "calibration/json_path.h"
#include "sim/core/error.h"

namespace quadrant::calibration {

namespace fs = std::filesystem;

std::string shape_key(const ProfileShape& s) {
  std::string k = s.format + "|";
  bool first = true;
  for (const auto& [name, value] : s.params) {
    if (!first) k += ",";
    k += name + "=" + std::to_string(value);
    first = false;
  }
  return k;
}

namespace {

const std::set<std::string> kQuadrantNames = {"prefill_attention", "decode_attention",
                                              "prefill_ffn",       "decode_ffn",
                                              "dense_gemm",        "mla_decode"};

ProfileShape read_shape(const Node& n) {
  ProfileShape s;
  s.format = n.string("format");
  if (s.format != "bf16" && s.format != "fp8" && s.format != "w4a8")
    n.at("format").fail("expected one of bf16, fp8, w4a8, got \"" + s.format + "\"");
  Node params = n.at("params");
  for (const std::string& k : params.keys()) s.params[k] = params.at(k).integer();
  if (s.params.empty()) params.fail("expected at least one shape parameter");
  s.flops = n.at("flops").non_negative();
  s.bytes = n.at("bytes").non_negative();
  s.median_ns = n.at("median_ns").positive();
  s.min_ns = n.at("min_ns").positive();
  s.max_ns = n.at("max_ns").positive();
  s.mad_ns = n.has("mad_ns") ? n.at("mad_ns").non_negative() : 0;
  s.count = n.integer("count");
  if (s.count < 1) n.at("count").fail("expected at least one timed launch");
  if (!(s.min_ns <= s.median_ns && s.median_ns <= s.max_ns))
    n.fail("expected min_ns <= median_ns <= max_ns");
  s.sm_clock_mhz = n.has("sm_clock_mhz") ? n.at("sm_clock_mhz").non_negative() : 0;
  s.graph_replay = n.has("graph_replay") && n.at("graph_replay").boolean();
  s.kernel_sum_ns = n.has("kernel_sum_ns") ? n.at("kernel_sum_ns").non_negative() : 0;
  if (n.has("kernels")) {
    Node ks = n.at("kernels");
    for (size_t i = 0; i < ks.size(); ++i) {
      Node k = ks.at(i);
      KernelRecord r;
      r.name = k.string("name");
      for (int d = 0; d < 3; ++d) {
        r.grid[d] = static_cast<int>(k.at("grid").at(static_cast<size_t>(d)).integer());
        r.block[d] = static_cast<int>(k.at("block").at(static_cast<size_t>(d)).integer());
      }
      r.registers = static_cast<int>(k.integer("registers"));
      r.shared_bytes = k.integer("shared_bytes");
      r.median_ns = k.at("median_ns").non_negative();
      s.kernels.push_back(r);
    }
  }
  if (n.has("metrics")) {
    Node m = n.at("metrics");
    for (const std::string& k : m.keys()) s.metrics[k] = m.at(k).number();
  }
  return s;
}

}  // namespace

Profile read_profile(const std::string& file) {
  Json j = load_json(file);
  Node root(j, file);
  Profile p;
  p.file = file;
  Node version = root.at("schema_version");
  if (version.integer() != kProfileSchemaVersion)
    version.fail("expected schema version " + std::to_string(kProfileSchemaVersion) + ", got " +
                 std::to_string(version.integer()));
  if (root.string("kind") != "quadrant-profile")
    root.at("kind").fail("expected \"quadrant-profile\", got \"" + root.string("kind") + "\"");
  p.quadrant = root.string("quadrant");
  if (!kQuadrantNames.count(p.quadrant))
    root.at("quadrant")
        .fail(
            "expected one of prefill_attention, decode_attention, prefill_ffn, "
            "decode_ffn, dense_gemm, mla_decode, got \"" +
            p.quadrant + "\"");
  Node d = root.at("device");
  p.device.name = d.string("name");
  p.device.gpu = d.string("gpu");
  p.device.sm_count = static_cast<int>(d.integer("sm_count"));
  p.device.sm_clock_max_mhz = d.number_or("sm_clock_max_mhz", 0);
  p.device.memory_clock_mhz = d.number_or("memory_clock_mhz", 0);
  p.device.driver_version = d.string_or("driver_version", "");
  p.device.cuda_version = d.string_or("cuda_version", "");
  p.device.cupti_version = d.string_or("cupti_version", "");
  p.kernels_revision = root.string_or("kernels_revision", "");
  p.collected_at = root.string_or("collected_at", "");
  if (root.has("method")) {
    Node m = root.at("method");
    for (const std::string& k : m.keys()) p.method[k] = m.at(k).number();
  }
  Node shapes = root.at("shapes");
  std::set<std::string> seen;
  for (size_t i = 0; i < shapes.size(); ++i) {
    p.shapes.push_back(read_shape(shapes.at(i)));
    if (!seen.insert(shape_key(p.shapes.back())).second)
      shapes.at(i).fail("the same shape appears twice: " + shape_key(p.shapes.back()));
  }
  return p;
}

std::string profile_to_json(const Profile& p) {
  Json head = Json::object();
  head["schema_version"] = kProfileSchemaVersion;
  head["kind"] = "quadrant-profile";
  head["quadrant"] = p.quadrant;
  head["device"] = {{"name", p.device.name},
                    {"gpu", p.device.gpu},
                    {"sm_count", p.device.sm_count},
                    {"sm_clock_max_mhz", p.device.sm_clock_max_mhz},
                    {"memory_clock_mhz", p.device.memory_clock_mhz},
                    {"driver_version", p.device.driver_version},
                    {"cuda_version", p.device.cuda_version},
                    {"cupti_version", p.device.cupti_version}};
  head["kernels_revision"] = p.kernels_revision;
  head["collected_at"] = p.collected_at;
  head["method"] = p.method;
  std::string out = head.dump();
  out.pop_back();  // reopen the object to append the shapes one per line
  out += ",\"shapes\":[";
  for (size_t i = 0; i < p.shapes.size(); ++i) {
    const ProfileShape& s = p.shapes[i];
    Json j = {{"format", s.format},
              {"params", s.params},
              {"flops", s.flops},
              {"bytes", s.bytes},
              {"median_ns", s.median_ns},
              {"min_ns", s.min_ns},
              {"max_ns", s.max_ns},
              {"mad_ns", s.mad_ns},
              {"count", s.count},
              {"sm_clock_mhz", s.sm_clock_mhz},
              {"graph_replay", s.graph_replay}};
    Json ks = Json::array();
    for (const KernelRecord& k : s.kernels)
      ks.push_back({{"name", k.name},
                    {"grid", {k.grid[0], k.grid[1], k.grid[2]}},
                    {"block", {k.block[0], k.block[1], k.block[2]}},
                    {"registers", k.registers},
                    {"shared_bytes", k.shared_bytes},
                    {"median_ns", k.median_ns}});
    j["kernels"] = ks;
    if (s.kernel_sum_ns > 0) j["kernel_sum_ns"] = s.kernel_sum_ns;
    if (!s.metrics.empty()) j["metrics"] = s.metrics;
    out += (i ? ",\n" : "\n") + j.dump();
  }
  out += "\n]}";
  return out;
}

std::vector<std::string> profile_files(const std::string& file_or_folder) {
  std::error_code ec;
  if (fs::is_directory(file_or_folder, ec)) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(file_or_folder))
      if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    if (out.empty()) throw InputError(file_or_folder, "", "no *.json profiles in this folder");
    return out;
  }
  if (!fs::exists(file_or_folder, ec))
    throw InputError(file_or_folder, "", "no such file or folder");
  return {file_or_folder};
}

}  // namespace quadrant::calibration
