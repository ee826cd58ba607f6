#include "sim/cli/task_codec.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace quadrant::cli {

namespace {

class Out {
 public:
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const char* p = reinterpret_cast<const char*>(&v);
    s_.append(p, sizeof v);
  }
  void put(const std::string& v) {
    put(static_cast<uint64_t>(v.size()));
    s_ += v;
  }
  void put(const Percentiles& p) {
    for (double v : {p.mean, p.p50, p.p90, p.p99, p.max, p.slo_percentile, p.at_slo_percentile})
      put(v);
  }
  template <typename T>
  void put(const std::vector<T>& v) {
    put(static_cast<uint64_t>(v.size()));
    for (const T& x : v) put(x);
  }
  void put(const std::pair<double, double>& p) {
    put(p.first);
    put(p.second);
  }
  std::string take() { return std::move(s_); }

 private:
  std::string s_;
};

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, s_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string string() {
    const auto n = static_cast<size_t>(get<uint64_t>());
    need(n);
    std::string v(s_.substr(pos_, n));
    pos_ += n;
    return v;
  }
  Percentiles percentiles() {
    Percentiles p;
    for (double* v :
         {&p.mean, &p.p50, &p.p90, &p.p99, &p.max, &p.slo_percentile, &p.at_slo_percentile})
      *v = get<double>();
    return p;
  }
  size_t count() { return static_cast<size_t>(get<uint64_t>()); }
  bool done() const { return pos_ == s_.size(); }

 private:
  void need(size_t n) const {
    if (s_.size() - pos_ < n) throw std::runtime_error("planner task result: truncated bytes");
  }
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::string encode_task_result(const planner::TaskResult& t) {
  Out o;
  o.put(t.rate);
  o.put(static_cast<int64_t>(t.simulations));
  o.put(static_cast<uint8_t>(t.above_bound));
  const planner::RunSummary& r = t.run;
  o.put(r.rate_per_s);
  o.put(r.seed);
  o.put(static_cast<uint8_t>(r.meets_slo));
  o.put(r.ttft);
  o.put(r.tpot);
  o.put(r.slo_attainment);
  o.put(r.goodput_rps);
  o.put(r.throughput_rps);
  o.put(r.usd_per_hour);
  o.put(r.usd_per_million_tokens);
  o.put(r.requests_scored);
  o.put(static_cast<uint64_t>(r.cost_sources.size()));
  for (const auto& [gpu, source] : r.cost_sources) {
    o.put(gpu);
    o.put(source);
  }
  o.put(r.ttft_quantiles);
  o.put(r.tpot_quantiles);
  o.put(static_cast<uint64_t>(t.detail.size()));
  for (const planner::InstanceTrace& i : t.detail) {
    o.put(i.name);
    o.put(static_cast<int32_t>(i.role));
    o.put(i.gpu);
    o.put(i.utilization);
    o.put(i.kv_occupancy);
    o.put(i.batch_size);
  }
  return o.take();
}

planner::TaskResult decode_task_result(std::string_view bytes) {
  In in(bytes);
  planner::TaskResult t;
  t.rate = in.get<double>();
  t.simulations = static_cast<int>(in.get<int64_t>());
  t.above_bound = in.get<uint8_t>() != 0;
  planner::RunSummary& r = t.run;
  r.rate_per_s = in.get<double>();
  r.seed = in.get<uint64_t>();
  r.meets_slo = in.get<uint8_t>() != 0;
  r.ttft = in.percentiles();
  r.tpot = in.percentiles();
  r.slo_attainment = in.get<double>();
  r.goodput_rps = in.get<double>();
  r.throughput_rps = in.get<double>();
  r.usd_per_hour = in.get<double>();
  r.usd_per_million_tokens = in.get<double>();
  r.requests_scored = in.get<int64_t>();
  for (size_t n = in.count(); n > 0; --n) {
    std::string gpu = in.string();
    r.cost_sources[gpu] = in.string();
  }
  for (size_t n = in.count(); n > 0; --n) r.ttft_quantiles.push_back(in.get<double>());
  for (size_t n = in.count(); n > 0; --n) r.tpot_quantiles.push_back(in.get<double>());
  for (size_t n = in.count(); n > 0; --n) {
    planner::InstanceTrace i;
    i.name = in.string();
    i.role = static_cast<Role>(in.get<int32_t>());
    i.gpu = in.string();
    i.utilization = in.get<double>();
    for (size_t k = in.count(); k > 0; --k) {
      const double a = in.get<double>();
      i.kv_occupancy.emplace_back(a, in.get<double>());
    }
    for (size_t k = in.count(); k > 0; --k) {
      const double a = in.get<double>();
      i.batch_size.emplace_back(a, in.get<double>());
    }
    t.detail.push_back(std::move(i));
  }
  if (!in.done()) throw std::runtime_error("planner task result: bytes left over");
  return t;
}

}  // namespace quadrant::cli
