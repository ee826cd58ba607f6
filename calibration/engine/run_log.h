// What a run of the serving engine logs, and its files: the ground truth that
// `quadrant engine compare` holds the simulator against and that `quadrant calibrate
// engine` fits. The format is documented in calibration/engine/README.md ("Logs"); a
// user who exports the same step CSV from their own engine (vLLM, SGLang, TRT-LLM) ties
// Quadrant to it.
//
// A run directory holds three files:
//   run.json      what ran: engine, GPU, limits, KV blocks, counts, error (if any)
//   steps.csv     one line per step: composition, start/end, GPU time, host gap, parts
//   requests.csv  one line per request: arrival, first token, finish, token steps
// Every time is integer nanoseconds from the start of the run.
//
//   EngineRun run = run_engine(...);             // driver.h
//   write_run_log(run, "cases/x");               // all three files, or none on error
//   EngineRun again = read_run_log("cases/x");   // InputError naming file, line, column
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/units.h"

namespace quadrant::engine {

inline constexpr int kRunLogSchemaVersion = 1;

struct ChunkRecord {
  uint64_t seq = 0;
  int32_t start = 0;  // prompt tokens already in the KV cache (chunked prefill)
  int32_t tokens = 0;
};

struct StepRecord {
  int64_t index = 0;
  SimTime start, end;  // the plan handed to the executor; the executor returned
  int64_t gpu_ns = 0;
  int64_t wall_ns = 0;  // host time inside execute()
  int64_t host_ns = 0;  // scheduler time between the previous step's end and this start
  std::vector<ChunkRecord> prefill;
  int32_t decode_seqs = 0;
  int64_t decode_context = 0;  // sum over decode sequences of KV tokens attended (kv_len + 1)
  int32_t decode_kv_max = 0;   // the longest decode sequence's kv_len + 1
  std::vector<std::pair<std::string, int64_t>> parts_ns;  // optional breakdown of gpu_ns
  // A PD pair's run: the instance that ran the step, "prefill" or "decode"; empty for the
  // colocated engine (and then steps.csv has no `instance` column).
  std::string instance;
  int64_t prefill_tokens() const;
  // The step as the simulator's cost sees it: step_batch() in cost_executor.h.
};

enum class RequestStatus { kFinished, kRejected, kUnfinished };
const char* to_string(RequestStatus s);

struct RequestLog {
  uint64_t id = 0;
  SimTime arrival;
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  SimTime first_launch = SimTime::never();  // its first prefill chunk started
  SimTime first_token = SimTime::never();
  SimTime finish = SimTime::never();
  int32_t preemptions = 0;
  RequestStatus status = RequestStatus::kUnfinished;
  std::string reason;  // rejected / unfinished: why
  // The steps whose end gave it a token, as runs (first step index, count): one run
  // without preemption (the prefill's last step, then consecutive decode steps).
  std::vector<std::pair<int64_t, int32_t>> token_steps;
  // A PD pair's run only (never set by the colocated engine): the KV's way from the
  // prefill instance (first_token: its prefill done) to the decode instance.
  SimTime kv_sent = SimTime::never();       // the copy started (the decode blocks taken)
  SimTime kv_received = SimTime::never();   // the copy ended (the prefill blocks freed)
  int64_t kv_copy_gpu_ns = 0;               // the copy's CUDA-event time on the decode GPU
  SimTime first_decode = SimTime::never();  // the decode instance's first token (token 2)
  int32_t tokens_logged() const;
  bool pd() const { return kv_sent != SimTime::never() || first_decode != SimTime::never(); }
};

struct RunMeta {
  std::string engine;    // the executor's describe(): model, format, GPU
  std::string scenario;  // the scenario file the run served, relative to the run directory
  std::string gpu;       // catalog key of the GPU
  int32_t kv_blocks = 0;
  int32_t block_tokens = 0;
  int32_t max_batch_size = 0;
  int64_t max_batch_tokens = 0;
  int64_t chunk_size = 0;
  uint64_t seed = 0;
  std::string revision;  // git revision of the program that ran
  std::string error;     // non-empty: the run stopped early (CUDA error, drain limit...)
  int64_t preemptions = 0;
  // A PD pair's run (run.json "pd"): the fields above are the prefill instance's (its
  // engine, KV blocks, limits); these the decode instance's and how the two were placed.
  struct Pd {
    std::string placement;  // e.g. "prefill on GPU 0, decode on GPU 1" (or sharing one)
    // Both instances on one GPU: quadrant-engine's placement says "(one GPU)".
    bool one_gpu() const { return placement.find("(one GPU)") != std::string::npos; }
    std::string decode_engine;
    std::string link;  // how the KV moved
    int32_t decode_kv_blocks = 0;
    int32_t decode_max_batch_size = 0;
    int64_t decode_max_batch_tokens = 0;
    int64_t decode_chunk_size = 0;
    int64_t transfers = 0;
    int64_t prefill_steps = 0;  // steps.csv: the prefill instance's steps first, then decode's
    // KV blocks still held when the run ended (0 and 0 when every request finished).
    int64_t prefill_blocks_held = 0, decode_blocks_held = 0;
    bool operator==(const Pd&) const = default;
  };
  bool pd_pair = false;
  Pd pd;
};

struct EngineRun {
  RunMeta meta;
  std::vector<StepRecord> steps;
  std::vector<RequestLog> requests;  // by id
  int64_t count(RequestStatus s) const;
};

// Writes run.json, steps.csv and requests.csv into `dir` (created if missing). Each
// file is written whole to a temporary name and renamed, so a failure leaves no partial
// file. Throws InputError when the directory cannot be written.
void write_run_log(const EngineRun& run, const std::string& dir);
// Reads a run directory; InputError naming the file and line (or JSON path) of the
// first bad value. Checks that every request's token steps exist and number its output
// tokens when it finished.
EngineRun read_run_log(const std::string& dir);

// Text forms (tests, and writers that need one file at a time).
std::string steps_csv(const std::vector<StepRecord>& steps);
std::string requests_csv(const std::vector<RequestLog>& requests);
std::string run_json(const RunMeta& meta, const EngineRun& run);
std::vector<StepRecord> parse_steps_csv(const std::string& text, const std::string& file);
std::vector<RequestLog> parse_requests_csv(const std::string& text, const std::string& file);

}  // namespace quadrant::engine
