#include "calibration/engine/run_log.h"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/core/error.h"

namespace quadrant::engine {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStepsHeader =
    "step,start_ns,end_ns,gpu_ns,wall_ns,host_ns,prefill,decode_seqs,decode_context,"
    "decode_kv_max,parts";
constexpr const char* kRequestsHeader =
    "id,arrival_ns,input_tokens,output_tokens,first_launch_ns,first_token_ns,finish_ns,ttft_ms,"
    "tpot_ms,e2e_ms,preemptions,status,reason,token_steps";

std::string time_cell(SimTime t) {
  return t == SimTime::never() ? std::string() : std::to_string(t.ns());
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// Where a CSV value came from, for errors: file, line and column.
struct Cell {
  const std::string& file;  // outlives the cell (the parser's argument)
  int line;
  std::string column;
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(file, "line " + std::to_string(line) + ", column " + column, what);
  }
  int64_t integer(const std::string& text, int64_t min = 0) const {
    int64_t v = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || p != end || text.empty())
      fail("expected an integer, got \"" + text + "\"");
    if (v < min) fail("expected an integer >= " + std::to_string(min) + ", got " + text);
    return v;
  }
  SimTime time(const std::string& text, bool optional) const {
    if (text.empty()) {
      if (optional) return SimTime::never();
      fail("expected a time in ns, got an empty cell");
    }
    return SimTime::from_ns(integer(text));
  }
};

// A header's columns by name: required ones must be present, others may be absent.
struct Columns {
  std::map<std::string, size_t> index;
  size_t count = 0;
  bool has(const std::string& c) const { return index.count(c) > 0; }
};

Columns header_of(const std::string& line, const std::string& file,
                  std::initializer_list<const char*> required) {
  Columns c;
  std::vector<std::string> names = split(line, ',');
  c.count = names.size();
  for (size_t i = 0; i < names.size(); ++i) c.index[names[i]] = i;
  for (const char* r : required)
    if (!c.has(r))
      throw InputError(
          file, "line 1",
          std::string("expected a header with a column \"") + r + "\", got \"" + line + "\"");
  return c;
}

template <typename RowFn>
void for_each_row(const std::string& text, const std::string& file,
                  std::initializer_list<const char*> required, RowFn fn) {
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  Columns cols;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (!have_header) {
      cols = header_of(line, file, required);
      have_header = true;
      continue;
    }
    std::vector<std::string> cells = split(line, ',');
    if (cells.size() != cols.count)
      throw InputError(file, "line " + std::to_string(line_no),
                       "expected " + std::to_string(cols.count) + " comma-separated fields, got " +
                           std::to_string(cells.size()));
    auto get = [&](const std::string& name) -> std::pair<std::string, Cell> {
      auto it = cols.index.find(name);
      static const std::string kEmpty;
      return {it == cols.index.end() ? kEmpty : cells[it->second], Cell{file, line_no, name}};
    };
    fn(get, cols, line_no);
  }
  if (!have_header) throw InputError(file, "", "expected a CSV header line, got an empty file");
}

void write_file(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw InputError(path.string(), "", "cannot open for writing");
    out << text;
    out.flush();
    if (!out) throw InputError(path.string(), "", "write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw InputError(path.string(), "", "cannot rename into place: " + ec.message());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "", "cannot open file");
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

int64_t StepRecord::prefill_tokens() const {
  int64_t n = 0;
  for (const ChunkRecord& c : prefill) n += c.tokens;
  return n;
}

const char* to_string(RequestStatus s) {
  switch (s) {
    case RequestStatus::kFinished:
      return "finished";
    case RequestStatus::kRejected:
      return "rejected";
    case RequestStatus::kUnfinished:
      return "unfinished";
  }
  return "?";
}

int32_t RequestLog::tokens_logged() const {
  int32_t n = 0;
  for (const auto& run : token_steps) n += run.second;
  return n;
}

int64_t EngineRun::count(RequestStatus s) const {
  int64_t n = 0;
  for (const RequestLog& r : requests) n += r.status == s;
  return n;
}

std::string steps_csv(const std::vector<StepRecord>& steps) {
  // A PD pair's steps name their instance; the colocated engine's file has no such column.
  bool pd = false;
  for (const StepRecord& s : steps) pd = pd || !s.instance.empty();
  std::string out = std::string(kStepsHeader) + (pd ? ",instance\n" : "\n");
  for (const StepRecord& s : steps) {
    std::string prefill;
    for (const ChunkRecord& c : s.prefill) {
      if (!prefill.empty()) prefill += ';';
      prefill +=
          std::to_string(c.seq) + ":" + std::to_string(c.start) + ":" + std::to_string(c.tokens);
    }
    std::string parts;
    for (const auto& [name, ns] : s.parts_ns) {
      if (!parts.empty()) parts += ';';
      parts += name + "=" + std::to_string(ns);
    }
    out += std::to_string(s.index) + "," + std::to_string(s.start.ns()) + "," +
           std::to_string(s.end.ns()) + "," + std::to_string(s.gpu_ns) + "," +
           std::to_string(s.wall_ns) + "," + std::to_string(s.host_ns) + "," + prefill + "," +
           std::to_string(s.decode_seqs) + "," + std::to_string(s.decode_context) + "," +
           std::to_string(s.decode_kv_max) + "," + parts;
    if (pd) out.append(",").append(s.instance);
    out += "\n";
  }
  return out;
}

std::string requests_csv(const std::vector<RequestLog>& requests) {
  bool pd = false;
  for (const RequestLog& r : requests) pd = pd || r.pd();
  std::string out = std::string(kRequestsHeader) +
                    (pd ? ",kv_sent_ns,kv_received_ns,kv_copy_gpu_ns,first_decode_ns\n" : "\n");
  char buf[64];
  auto ms = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return std::string(buf);
  };
  for (const RequestLog& r : requests) {
    std::string ttft, tpot, e2e;
    if (r.status == RequestStatus::kFinished) {
      ttft = ms((r.first_token - r.arrival).to_millis());
      tpot = r.output_tokens > 1
                 ? ms((r.finish - r.first_token).to_millis() / (r.output_tokens - 1))
                 : std::string();
      e2e = ms((r.finish - r.arrival).to_millis());
    }
    std::string steps;
    for (const auto& [first, count] : r.token_steps) {
      if (!steps.empty()) steps += ';';
      steps += std::to_string(first) + "+" + std::to_string(count);
    }
    out += std::to_string(r.id) + "," + std::to_string(r.arrival.ns()) + "," +
           std::to_string(r.input_tokens) + "," + std::to_string(r.output_tokens) + "," +
           time_cell(r.first_launch) + "," + time_cell(r.first_token) + "," + time_cell(r.finish) +
           "," + ttft + "," + tpot + "," + e2e + "," + std::to_string(r.preemptions) + "," +
           to_string(r.status) + "," + r.reason + "," + steps;
    if (pd)
      for (const std::string& cell : {time_cell(r.kv_sent), time_cell(r.kv_received),
                                      std::to_string(r.kv_copy_gpu_ns), time_cell(r.first_decode)})
        out.append(",").append(cell);
    out += "\n";
  }
  return out;
}

std::string run_json(const RunMeta& m, const EngineRun& run) {
  nlohmann::ordered_json j;
  j["kind"] = "quadrant-engine-run";
  j["schema_version"] = kRunLogSchemaVersion;
  j["engine"] = m.engine;
  j["scenario"] = m.scenario;
  j["gpu"] = m.gpu;
  j["revision"] = m.revision;
  j["seed"] = m.seed;
  j["limits"] = {{"max_batch_size", m.max_batch_size},
                 {"max_batch_tokens", m.max_batch_tokens},
                 {"chunk_size", m.chunk_size}};
  j["kv"] = {{"blocks", m.kv_blocks}, {"block_tokens", m.block_tokens}};
  j["counts"] = {{"requests", run.requests.size()},
                 {"finished", run.count(RequestStatus::kFinished)},
                 {"rejected", run.count(RequestStatus::kRejected)},
                 {"unfinished", run.count(RequestStatus::kUnfinished)},
                 {"preemptions", m.preemptions},
                 {"steps", run.steps.size()}};
  j["error"] = m.error;
  if (m.pd_pair)
    j["pd"] = {{"placement", m.pd.placement},
               {"decode_engine", m.pd.decode_engine},
               {"link", m.pd.link},
               {"decode_kv", {{"blocks", m.pd.decode_kv_blocks}}},
               {"decode_limits",
                {{"max_batch_size", m.pd.decode_max_batch_size},
                 {"max_batch_tokens", m.pd.decode_max_batch_tokens},
                 {"chunk_size", m.pd.decode_chunk_size}}},
               {"transfers", m.pd.transfers},
               {"prefill_steps", m.pd.prefill_steps},
               {"blocks_held_at_end",
                {{"prefill", m.pd.prefill_blocks_held}, {"decode", m.pd.decode_blocks_held}}}};
  return j.dump(2) + "\n";
}

void write_run_log(const EngineRun& run, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError(dir, "", "cannot create the run directory: " + ec.message());
  // Every text first, then the files: a failure to format leaves nothing behind.
  const std::string steps = steps_csv(run.steps);
  const std::string requests = requests_csv(run.requests);
  const std::string meta = run_json(run.meta, run);
  write_file(fs::path(dir) / "steps.csv", steps);
  write_file(fs::path(dir) / "requests.csv", requests);
  write_file(fs::path(dir) / "run.json", meta);
}

std::vector<StepRecord> parse_steps_csv(const std::string& text, const std::string& file) {
  std::vector<StepRecord> out;
  for_each_row(
      text, file, {"prefill", "decode_seqs", "decode_context", "gpu_ns"},
      [&](auto get, const Columns& cols, int) {
        StepRecord s;
        auto [step, step_cell] = get("step");
        s.index = cols.has("step") ? step_cell.integer(step) : static_cast<int64_t>(out.size());
        if (s.index != static_cast<int64_t>(out.size()))
          step_cell.fail("expected step " + std::to_string(out.size()) + ", got " + step);
        auto [g, gc] = get("gpu_ns");
        s.gpu_ns = gc.integer(g, 1);
        for (const char* name : {"start_ns", "end_ns", "wall_ns", "host_ns"}) {
          if (!cols.has(name)) continue;
          auto [v, c] = get(name);
          const int64_t x = c.integer(v);
          if (std::string(name) == "start_ns") s.start = SimTime::from_ns(x);
          if (std::string(name) == "end_ns") s.end = SimTime::from_ns(x);
          if (std::string(name) == "wall_ns") s.wall_ns = x;
          if (std::string(name) == "host_ns") s.host_ns = x;
        }
        auto [p, pc] = get("prefill");
        if (!p.empty()) {
          for (const std::string& chunk : split(p, ';')) {
            std::vector<std::string> f = split(chunk, ':');
            if (f.size() != 3)
              pc.fail("expected chunks as seq:start:tokens separated by ';', got \"" + chunk +
                      "\"");
            ChunkRecord c;
            c.seq = static_cast<uint64_t>(pc.integer(f[0]));
            c.start = static_cast<int32_t>(pc.integer(f[1]));
            c.tokens = static_cast<int32_t>(pc.integer(f[2], 1));
            s.prefill.push_back(c);
          }
        }
        auto [d, dc] = get("decode_seqs");
        s.decode_seqs = static_cast<int32_t>(dc.integer(d));
        auto [x, xc] = get("decode_context");
        s.decode_context = xc.integer(x);
        if (s.decode_context < s.decode_seqs)
          xc.fail("expected at least one KV token per decode sequence (" +
                  std::to_string(s.decode_seqs) + "), got " + x);
        if (cols.has("decode_kv_max")) {
          auto [k, kc] = get("decode_kv_max");
          s.decode_kv_max = static_cast<int32_t>(kc.integer(k));
        }
        if (s.prefill.empty() && s.decode_seqs == 0)
          pc.fail("expected prefill chunks or decode sequences, got an empty step");
        if (cols.has("parts")) {
          auto [pa, pac] = get("parts");
          if (!pa.empty())
            for (const std::string& part : split(pa, ';')) {
              const size_t eq = part.find('=');
              if (eq == std::string::npos || eq == 0)
                pac.fail("expected parts as name=ns separated by ';', got \"" + part + "\"");
              s.parts_ns.push_back({part.substr(0, eq), pac.integer(part.substr(eq + 1))});
            }
        }
        if (cols.has("instance")) {
          auto [inst, ic] = get("instance");
          if (inst != "prefill" && inst != "decode")
            ic.fail("expected prefill or decode, got \"" + inst + "\"");
          s.instance = inst;
        }
        out.push_back(std::move(s));
      });
  return out;
}

std::vector<RequestLog> parse_requests_csv(const std::string& text, const std::string& file) {
  std::vector<RequestLog> out;
  for_each_row(
      text, file,
      {"id", "arrival_ns", "input_tokens", "output_tokens", "first_token_ns", "finish_ns",
       "status"},
      [&](auto get, const Columns& cols, int) {
        RequestLog r;
        auto [id, idc] = get("id");
        r.id = static_cast<uint64_t>(idc.integer(id));
        if (r.id != out.size())
          idc.fail("expected request " + std::to_string(out.size()) + ", got " + id);
        auto [a, ac] = get("arrival_ns");
        r.arrival = ac.time(a, false);
        auto [in, inc] = get("input_tokens");
        r.input_tokens = static_cast<int32_t>(inc.integer(in, 1));
        auto [o, oc] = get("output_tokens");
        r.output_tokens = static_cast<int32_t>(oc.integer(o, 1));
        if (cols.has("first_launch_ns")) {
          auto [fl, flc] = get("first_launch_ns");
          r.first_launch = flc.time(fl, true);
        }
        auto [ft, ftc] = get("first_token_ns");
        r.first_token = ftc.time(ft, true);
        auto [f, fc] = get("finish_ns");
        r.finish = fc.time(f, true);
        auto [st, sc] = get("status");
        if (st == "finished") {
          r.status = RequestStatus::kFinished;
        } else if (st == "rejected") {
          r.status = RequestStatus::kRejected;
        } else if (st == "unfinished") {
          r.status = RequestStatus::kUnfinished;
        } else {
          sc.fail("expected finished, rejected or unfinished, got \"" + st + "\"");
        }
        if (r.status == RequestStatus::kFinished &&
            (r.first_token == SimTime::never() || r.finish == SimTime::never() ||
             r.first_token < r.arrival || r.finish < r.first_token))
          sc.fail("expected a finished request to have arrival <= first token <= finish");
        if (cols.has("preemptions")) {
          auto [p, pc] = get("preemptions");
          r.preemptions = static_cast<int32_t>(pc.integer(p));
        }
        if (cols.has("reason")) r.reason = get("reason").first;
        if (cols.has("token_steps")) {
          auto [ts, tsc] = get("token_steps");
          if (!ts.empty())
            for (const std::string& run : split(ts, ';')) {
              const size_t plus = run.find('+');
              if (plus == std::string::npos)
                tsc.fail("expected step runs as first+count separated by ';', got \"" + run + "\"");
              r.token_steps.push_back({tsc.integer(run.substr(0, plus)),
                                       static_cast<int32_t>(tsc.integer(run.substr(plus + 1), 1))});
            }
          if (r.status == RequestStatus::kFinished && r.tokens_logged() != r.output_tokens)
            tsc.fail("expected token steps numbering the " + std::to_string(r.output_tokens) +
                     " output tokens, got " + std::to_string(r.tokens_logged()));
        }
        if (cols.has("kv_sent_ns")) {
          auto [ks, ksc] = get("kv_sent_ns");
          r.kv_sent = ksc.time(ks, true);
          auto [kr, krc] = get("kv_received_ns");
          r.kv_received = krc.time(kr, true);
          auto [kg, kgc] = get("kv_copy_gpu_ns");
          r.kv_copy_gpu_ns = kg.empty() ? 0 : kgc.integer(kg);
          auto [fd, fdc] = get("first_decode_ns");
          r.first_decode = fdc.time(fd, true);
          if (r.kv_sent != SimTime::never() &&
              (r.first_token == SimTime::never() || r.kv_sent < r.first_token ||
               r.kv_received < r.kv_sent ||
               (r.first_decode != SimTime::never() && r.first_decode < r.kv_received)))
            krc.fail(std::string("expected prefill done <= KV sent <= KV received <= first "
                                 "decode token, got ")
                         .append(time_cell(r.first_token))
                         .append(", ")
                         .append(ks)
                         .append(", ")
                         .append(kr)
                         .append(", ")
                         .append(fd));
        }
        out.push_back(std::move(r));
      });
  return out;
}

EngineRun read_run_log(const std::string& dir) {
  EngineRun run;
  const fs::path base(dir);
  const std::string meta_file = (base / "run.json").string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(meta_file));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(meta_file, "", std::string("expected JSON: ") + e.what());
  }
  auto need = [&](const nlohmann::json& obj, const std::string& path,
                  const std::string& key) -> const nlohmann::json& {
    if (!obj.is_object() || !obj.contains(key))
      throw InputError(meta_file, path.empty() ? key : path + "." + key, "expected a value");
    return obj.at(key);
  };
  auto integer = [&](const nlohmann::json& obj, const std::string& path, const std::string& key,
                     int64_t min) {
    const nlohmann::json& v = need(obj, path, key);
    const std::string where = path.empty() ? key : path + "." + key;
    if (!v.is_number_integer() || v.get<int64_t>() < min)
      throw InputError(meta_file, where,
                       "expected an integer >= " + std::to_string(min) + ", got " + v.dump());
    return v.get<int64_t>();
  };
  auto text = [&](const nlohmann::json& obj, const std::string& key) {
    const nlohmann::json& v = need(obj, "", key);
    if (!v.is_string()) throw InputError(meta_file, key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  };
  if (text(j, "kind") != "quadrant-engine-run")
    throw InputError(meta_file, "kind",
                     "expected \"quadrant-engine-run\", got " + j.at("kind").dump());
  if (integer(j, "", "schema_version", 0) != kRunLogSchemaVersion)
    throw InputError(meta_file, "schema_version",
                     "expected " + std::to_string(kRunLogSchemaVersion) + ", got " +
                         j.at("schema_version").dump());
  RunMeta& m = run.meta;
  m.engine = text(j, "engine");
  m.scenario = text(j, "scenario");
  m.gpu = text(j, "gpu");
  m.revision = text(j, "revision");
  m.error = text(j, "error");
  m.seed = static_cast<uint64_t>(integer(j, "", "seed", 0));
  const nlohmann::json& limits = need(j, "", "limits");
  m.max_batch_size = static_cast<int32_t>(integer(limits, "limits", "max_batch_size", 1));
  m.max_batch_tokens = integer(limits, "limits", "max_batch_tokens", 1);
  m.chunk_size = integer(limits, "limits", "chunk_size", 1);
  const nlohmann::json& kv = need(j, "", "kv");
  m.kv_blocks = static_cast<int32_t>(integer(kv, "kv", "blocks", 1));
  m.block_tokens = static_cast<int32_t>(integer(kv, "kv", "block_tokens", 1));
  const nlohmann::json& counts = need(j, "", "counts");
  m.preemptions = integer(counts, "counts", "preemptions", 0);
  if (j.contains("pd")) {
    const nlohmann::json& pd = j.at("pd");
    auto pd_text = [&](const std::string& key) {
      const nlohmann::json& v = need(pd, "pd", key);
      if (!v.is_string())
        throw InputError(meta_file, "pd." + key, "expected a string, got " + v.dump());
      return v.get<std::string>();
    };
    m.pd_pair = true;
    m.pd.placement = pd_text("placement");
    m.pd.decode_engine = pd_text("decode_engine");
    m.pd.link = pd_text("link");
    m.pd.decode_kv_blocks =
        static_cast<int32_t>(integer(need(pd, "pd", "decode_kv"), "pd.decode_kv", "blocks", 1));
    const nlohmann::json& dl = need(pd, "pd", "decode_limits");
    m.pd.decode_max_batch_size =
        static_cast<int32_t>(integer(dl, "pd.decode_limits", "max_batch_size", 1));
    m.pd.decode_max_batch_tokens = integer(dl, "pd.decode_limits", "max_batch_tokens", 1);
    m.pd.decode_chunk_size = integer(dl, "pd.decode_limits", "chunk_size", 1);
    m.pd.transfers = integer(pd, "pd", "transfers", 0);
    m.pd.prefill_steps = integer(pd, "pd", "prefill_steps", 0);
    const nlohmann::json& held = need(pd, "pd", "blocks_held_at_end");
    m.pd.prefill_blocks_held = integer(held, "pd.blocks_held_at_end", "prefill", 0);
    m.pd.decode_blocks_held = integer(held, "pd.blocks_held_at_end", "decode", 0);
  }

  const std::string steps_file = (base / "steps.csv").string();
  const std::string requests_file = (base / "requests.csv").string();
  run.steps = parse_steps_csv(read_file(steps_file), steps_file);
  run.requests = parse_requests_csv(read_file(requests_file), requests_file);
  for (const RequestLog& r : run.requests)
    for (const auto& [first, count] : r.token_steps)
      if (first < 0 || first + count > static_cast<int64_t>(run.steps.size()))
        throw InputError(requests_file, "request " + std::to_string(r.id),
                         "expected token steps within the " + std::to_string(run.steps.size()) +
                             " steps of steps.csv, got " + std::to_string(first) + "+" +
                             std::to_string(count));
  return run;
}

}  // namespace quadrant::engine
