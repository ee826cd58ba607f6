#include "reports/charts.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "reports/svg.h"
#include "sim/core/error.h"

namespace quadrant::reports {

namespace {

namespace fs = std::filesystem;

// "%.9g": std::to_chars gives printf's text at a fraction of snprintf's cost, which
// matters for the per-instance series (~40k points a chart; tests/sim/bench/NOTES.md).
void append_num(std::string& out, double v) {
  char b[64];
  const auto r = std::to_chars(b, b + sizeof b, v, std::chars_format::general, 9);
  out.append(b, r.ptr);
}

std::string num(double v) {
  std::string out;
  append_num(out, v);
  return out;
}

std::string fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// A gnuplot single-quoted string (a quote doubles).
std::string gp_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// A shell single-quoted word.
std::string sh_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string gnuplot_command() {
  const char* g = std::getenv("QUADRANT_GNUPLOT");
  return g && *g ? g : "gnuplot";
}

// Runs `command` through /bin/sh (which execs it), its stderr to `err`, and waits; its exit
// status, or -1. The child dies with this process (PR_SET_PDEATHSIG): a run killed while it
// draws leaves no gnuplot writing into its staging folder while the next run clears that
// folder away (sim/io/output_dir.h). Only async-signal-safe calls between fork and exec.
int run_with_parent(const std::string& command, const fs::path& err) {
  const std::string line = "exec " + command;
  const std::string err_path = err.string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
    const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) ::_exit(127);
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool has_data(const Chart& c) {
  for (const ChartSeries& s : c.series)
    if (!s.points.empty()) return true;
  return false;
}

// The script that draws `c` as SVG then PNG into `dir`.
std::string script(const Chart& c, const fs::path& dir) {
  std::ostringstream g;
  g << "set terminal svg size 720,400 font 'sans,11' background 'white'\n";
  g << "set output " << gp_string((dir / (c.name + ".svg")).string()) << "\n";
  g << "set termoption noenhanced\n";
  g << "set title " << gp_string(c.title) << "\n";
  g << "set xlabel " << gp_string(c.xlabel) << "\nset ylabel " << gp_string(c.ylabel) << "\n";
  g << "set grid\nset key top left opaque\n";
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const ChartSeries& s : c.series)
    for (const auto& [x, y] : s.points) {
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      if (!c.log_y || y > 0) ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  for (const auto& [x, label] : c.x_marks) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  for (const auto& [y, label] : c.y_marks) ymin = std::min(ymin, y), ymax = std::max(ymax, y);
  if (!c.categories.empty()) {
    g << "set style fill solid 0.6 border -1\nset boxwidth 0.6\nset xtics rotate by -25 (";
    for (size_t i = 0; i < c.categories.size(); ++i)
      g << (i ? ", " : "") << gp_string(c.categories[i]) << " " << i;
    g << ")\nset xrange [-0.6:" << num(double(c.categories.size()) - 0.4) << "]\n";
    g << "set yrange [0:" << num(ymax > 0 ? ymax * 1.15 : 1) << "]\n";
  } else {
    const double pad = xmax > xmin ? 0.04 * (xmax - xmin) : std::max(1e-9, 0.1 * std::fabs(xmax));
    g << "set xrange [" << num(xmin - pad) << ":" << num(xmax + pad) << "]\n";
    if (c.log_y && ymin > 0) {
      g << "set logscale y\nset yrange [" << num(ymin / 1.5) << ":" << num(ymax * 1.5) << "]\n";
    } else if (ymin >= 0) {
      g << "set yrange [0:" << num(ymax > 0 ? ymax * 1.12 : 1) << "]\n";
    }
  }
  for (const auto& [x, label] : c.x_marks) {
    g << "set arrow from " << num(x) << ", graph 0 to " << num(x)
      << ", graph 1 nohead dt 2 lw 1.5 lc rgb '#c0392b'\n";
    g << "set label " << gp_string(label) << " at " << num(x)
      << ", graph 0.06 left rotate by 90 offset -0.6,0 tc rgb '#c0392b'\n";
  }
  for (const auto& [y, label] : c.y_marks) {
    g << "set arrow from graph 0, first " << num(y) << " to graph 1, first " << num(y)
      << " nohead dt 3 lw 1.5 lc rgb '#1f4e79'\n";
    g << "set label " << gp_string(label) << " at graph 0.99, first " << num(y)
      << " right offset 0,0.6 tc rgb '#1f4e79'\n";
  }
  std::string plot;
  for (size_t i = 0; i < c.series.size(); ++i) {
    const ChartSeries& s = c.series[i];
    if (s.points.empty()) continue;
    std::string data = "$d" + std::to_string(i) + " << EOD\n";
    data.reserve(data.size() + 24 * s.points.size() + 4);
    for (const auto& [x, y] : s.points) {
      append_num(data, x);
      data += ' ';
      append_num(data, y);
      data += '\n';
    }
    g << data << "EOD\n";
    plot += std::string(plot.empty() ? "plot " : ", ") + "$d" + std::to_string(i) +
            " using 1:2 with " + s.style + " lw 2 title " + gp_string(s.title);
  }
  g << plot << "\n";
  g << "set terminal pngcairo size 960,540 font 'sans,11' background 'white'\n";
  g << "set output " << gp_string((dir / (c.name + ".png")).string()) << "\nreplot\nunset output\n";
  return g.str();
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// gnuplot's SVG made fit to inline: no XML prolog, ids unique per chart.
std::string inline_svg(std::string svg, const std::string& name) {
  const size_t start = svg.find("<svg");
  if (start != std::string::npos) svg.erase(0, start);
  replace_all(svg, "id=\"gnuplot_canvas\"", "id=\"" + name + "_canvas\"");
  replace_all(svg, "id='gp", "id='" + name + "_gp");
  replace_all(svg, "#gp", "#" + name + "_gp");
  return svg;
}

double ms(double seconds) {
  return seconds * 1e3;
}

std::string sources_text(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [gpu, src] : m) out += (out.empty() ? "" : "; ") + gpu + ": " + src;
  return out.empty() ? "" : " Step costs: " + out + ".";
}

// Latency percentiles against rate, capped at 100 x the SLO so that overload stays on
// the chart.
Chart latency_vs_rate(const planner::PlanResult& r, bool ttft) {
  const SloSpec& slo = r.scenario.slo;
  const double target_ms = ttft ? slo.ttft.to_millis() : slo.tpot.to_millis();
  const double pct = ttft ? slo.ttft_percentile : slo.tpot_percentile;
  Chart c;
  c.name = ttft ? "ttft_vs_rate" : "tpot_vs_rate";
  c.title = std::string(ttft ? "TTFT" : "TPOT") + " of the recommended plan against request rate";
  c.xlabel = "request rate (req/s)";
  c.ylabel = std::string(ttft ? "TTFT" : "TPOT") + " (ms, log scale)";
  c.log_y = true;
  const double cap = 100 * target_ms;
  ChartSeries p50{"P50", {}}, p90{"P90", {}}, p99{"P99", {}};
  for (const planner::RunSummary& run : r.load_sweep) {
    const Percentiles& p = ttft ? run.ttft : run.tpot;
    p50.points.emplace_back(run.rate_per_s, std::min(cap, ms(p.p50)));
    p90.points.emplace_back(run.rate_per_s, std::min(cap, ms(p.p90)));
    p99.points.emplace_back(run.rate_per_s, std::min(cap, ms(p.p99)));
  }
  c.series = {p50, p90, p99};
  c.y_marks = {{target_ms, "SLO " + percentile_name(pct) + " " + fixed(target_ms, 0) + " ms"}};
  c.x_marks = {{r.target_rate_per_s, "target " + fixed(r.target_rate_per_s, 1)}};
  if (r.required_rate_per_s > r.target_rate_per_s)
    c.x_marks.push_back({r.required_rate_per_s, "+ headroom " + fixed(r.required_rate_per_s, 1)});
  if (r.knee_found) c.x_marks.push_back({r.knee_rate_per_s, "knee " + fixed(r.knee_rate_per_s, 1)});
  c.source = "Whole-cluster simulations of the recommended plan, one seed (" +
             std::to_string(r.scenario.seed) +
             ") per rate; the knee is the highest rate found "
             "within the SLOs below the first that breaks them (bisected). Values above 100x "
             "the SLO are drawn at 100x." +
             sources_text(r.cost_sources);
  return c;
}

Chart cdf(const std::string& name, const std::string& what, double slo_ms,
          const std::vector<std::pair<uint64_t, const std::vector<double>*>>& runs) {
  Chart c;
  c.name = name;
  c.title = what + " distribution (CDF)";
  c.xlabel = what + " (ms)";
  c.ylabel = "fraction of scored requests";
  for (const auto& [seed, q] : runs) {
    ChartSeries s{"seed " + std::to_string(seed), {}, "lines"};
    for (size_t i = 0; i < q->size(); ++i) s.points.emplace_back(ms((*q)[i]), 0.025 * double(i));
    c.series.push_back(s);
  }
  c.x_marks = {{slo_ms, "SLO " + fixed(slo_ms, 0) + " ms"}};
  return c;
}

std::string role_name(Role r) {
  return to_string(r);
}

}  // namespace

bool gnuplot_available() {
  return std::system((gnuplot_command() + " --version > /dev/null 2>&1").c_str()) == 0;
}

RenderedCharts render_charts(const std::vector<Chart>& charts, const std::string& dir) {
  RenderedCharts out;
  if (!gnuplot_available()) return out;
  const fs::path d(dir);
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw InputError(dir, "", "cannot create folder: " + ec.message());
  for (const Chart& c : charts) {
    if (!has_data(c)) continue;
    const fs::path gp = d / (c.name + ".gp");
    const fs::path err = d / (c.name + ".err");
    std::ofstream(gp, std::ios::binary) << script(c, d);
    const int rc = run_with_parent(gnuplot_command() + " " + sh_word(gp.string()), err);
    const std::string message = slurp(err);
    fs::remove(gp, ec);
    fs::remove(err, ec);
    if (rc != 0 || !fs::exists(d / (c.name + ".svg")))
      throw InputError(dir, c.name, "gnuplot failed: " + message);
    out.svg[c.name] = inline_svg(slurp(d / (c.name + ".svg")), c.name);
    out.files.push_back(c.name + ".svg");
    out.files.push_back(c.name + ".png");
  }
  return out;
}

std::vector<Chart> plan_charts(const planner::PlanResult& r) {
  std::vector<Chart> charts;
  const Scenario& s = r.scenario;
  charts.push_back(latency_vs_rate(r, true));
  charts.push_back(latency_vs_rate(r, false));
  if (r.recommended >= 0) {
    const planner::PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
    std::vector<std::pair<uint64_t, const std::vector<double>*>> ttft, tpot;
    for (const planner::RunSummary& run : c.runs) {
      ttft.emplace_back(run.seed, &run.ttft_quantiles);
      tpot.emplace_back(run.seed, &run.tpot_quantiles);
    }
    const std::string src =
        "Every 2.5th percentile of the scored requests of the recommended "
        "plan's whole-cluster runs at " +
        fixed(c.runs.empty() ? 0 : c.runs[0].rate_per_s, 2) +
        " req/s (the target plus the headroom), one line per seed.";
    charts.push_back(cdf("ttft_cdf", "TTFT", s.slo.ttft.to_millis(), ttft));
    charts.back().source = src;
    charts.push_back(cdf("tpot_cdf", "TPOT", s.slo.tpot.to_millis(), tpot));
    charts.back().source = src;
  }
  // Per instance over time, at the target rate.
  Chart kv{"kv_occupancy",
           "KV-cache occupancy per instance over time",
           "simulated time (s)",
           "KV occupancy (% of capacity)",
           {},
           {},
           {},
           false,
           {},
           ""};
  Chart batch{"batch_size",
              "Batch size per instance over time",
              "simulated time (s)",
              "sequences per step",
              {},
              {},
              {},
              false,
              {},
              ""};
  Chart util{"utilization",
             "Busy time per instance",
             "",
             "utilisation (% of lifetime)",
             {},
             {},
             {},
             false,
             {},
             ""};
  ChartSeries busy{"utilisation", {}, "boxes"};
  for (const planner::InstanceTrace& t : r.detail) {
    ChartSeries k{t.name + " " + t.gpu, {}, "lines"};
    for (const auto& [time, v] : t.kv_occupancy) k.points.emplace_back(time, 100 * v);
    kv.series.push_back(k);
    ChartSeries b{t.name, {}, "lines"};
    b.points = t.batch_size;
    batch.series.push_back(b);
    busy.points.emplace_back(double(util.categories.size()), 100 * t.utilization);
    util.categories.push_back(t.name + " (" + role_name(t.role) + ", " + t.gpu + ")");
  }
  util.series = {busy};
  const std::string detail_src =
      "One whole-cluster simulation of the recommended plan at the "
      "target rate (" +
      fixed(r.target_rate_per_s, 2) + " req/s, seed " + std::to_string(s.seed) +
      "), sampled by the simulator.";
  kv.source = batch.source = util.source = detail_src;
  charts.push_back(util);
  charts.push_back(kv);
  charts.push_back(batch);
  // Cost per million tokens against SLO tightness.
  const double tokens_per_hour =
      r.target_rate_per_s * (s.workload.input_length.mean() + s.workload.output_length.mean()) *
      3600;
  Chart cost{"cost_vs_slo",
             "Cost per million tokens against SLO tightness",
             "SLO scale (TTFT and TPOT targets x this)",
             "USD per million tokens",
             {},
             {},
             {},
             false,
             {},
             ""};
  ChartSeries confirmed{"cheapest plan confirmed by whole-cluster runs", {}, "linespoints"};
  ChartSeries estimate{"cheapest sized plan (estimate, before confirmation)", {}, "points"};
  for (const planner::ParetoPoint& p : r.pareto) {
    if (tokens_per_hour <= 0) break;
    if (p.feasible)
      confirmed.points.emplace_back(p.slo_scale, p.usd_per_hour / tokens_per_hour * 1e6);
    if (p.estimate_usd_per_hour > 0)
      estimate.points.emplace_back(p.slo_scale, p.estimate_usd_per_hour / tokens_per_hour * 1e6);
  }
  cost.series = {confirmed, estimate};
  cost.x_marks = {{1.0, "the scenario's SLOs"}};
  cost.source = "Cluster price per hour over the tokens the target rate brings in an hour (" +
                fixed(r.target_rate_per_s, 2) +
                " req/s x mean input + output tokens); each scale searched again, its best plans "
                "confirmed by whole-cluster runs over every seed; a tighter scale's plan serves a "
                "looser one when cheaper.";
  charts.push_back(cost);
  // GPU types compared: the best measured requests per second per dollar-hour of each
  // GPU type in each role.
  Chart gpus{"gpu_types", "GPU types compared: best measured capacity per dollar",
             "",          "req/s per USD/h of one instance",
             {},          {},
             {},          false,
             {},          ""};
  ChartSeries best{"best configuration of the type", {}, "boxes"};
  for (const auto* pool : {&r.prefill, &r.decode, &r.colocated}) {
    std::map<std::string, double> by_gpu;
    Role role = Role::kPrefill;
    for (const planner::RoleCapacity& k : *pool) {
      role = k.config.role;
      if (k.status != planner::ConfigStatus::kMeasured) continue;
      const double price = k.config.usd_per_hour(s);
      if (price > 0) by_gpu[k.config.gpu] = std::max(by_gpu[k.config.gpu], k.rate_per_s / price);
    }
    for (const auto& [gpu, v] : by_gpu) {
      best.points.emplace_back(double(gpus.categories.size()), v);
      gpus.categories.push_back(gpu + " " + role_name(role));
    }
  }
  gpus.series = {best};
  gpus.source =
      "Per-instance capacity measured by single-instance simulations (the highest "
      "rate within the SLOs, bisected) over the instance's price per hour." +
      sources_text(r.cost_sources);
  charts.push_back(gpus);
  return charts;
}

std::vector<Chart> simulation_charts(const Scenario& s, const SimulationResult& r) {
  std::vector<Chart> charts;
  std::vector<float> ttft, tpot;
  for (const RequestRecord& q : r.requests) {
    if (q.rejected || q.arrival_s < s.workload.warmup.to_seconds()) continue;
    ttft.push_back(q.ttft_s);
    if (q.output_tokens > 1) tpot.push_back(q.tpot_s);
  }
  for (auto [values, what, slo] : {std::tuple{&ttft, "TTFT", s.slo.ttft.to_millis()},
                                   std::tuple{&tpot, "TPOT", s.slo.tpot.to_millis()}}) {
    std::sort(values->begin(), values->end());
    Chart c;
    c.name = std::string(what == std::string("TTFT") ? "ttft" : "tpot") + "_cdf";
    c.title = std::string(what) + " distribution (CDF)";
    c.xlabel = std::string(what) + " (ms)";
    c.ylabel = "fraction of scored requests";
    ChartSeries line{"scored requests", {}, "steps"};
    const size_t n = values->size();
    const size_t step = std::max<size_t>(1, n / 400);
    for (size_t i = 0; i < n; i += step)
      line.points.emplace_back(1e3 * (*values)[i], double(i + 1) / double(n));
    if (n > 0) line.points.emplace_back(1e3 * values->back(), 1.0);
    c.series = {line};
    c.x_marks = {{slo, "SLO " + fixed(slo, 0) + " ms"}};
    c.source = "Every scored request of this run (arrived after the warm-up, not rejected" +
               std::string(what == std::string("TPOT") ? ", more than one output token" : "") +
               "): the population of metrics.json's percentiles.";
    charts.push_back(c);
  }
  Chart kv{"kv_occupancy",
           "KV-cache occupancy per instance over time",
           "simulated time (s)",
           "KV occupancy (% of capacity)",
           {},
           {},
           {},
           false,
           {},
           ""};
  Chart batch{"batch_size",
              "Batch size per instance over time",
              "simulated time (s)",
              "sequences per step",
              {},
              {},
              {},
              false,
              {},
              ""};
  Chart util{"utilization",
             "Busy time per instance",
             "",
             "utilisation (% of lifetime)",
             {},
             {},
             {},
             false,
             {},
             ""};
  ChartSeries busy{"utilisation", {}, "boxes"};
  for (const InstanceSummary& i : r.instances) {
    ChartSeries k{i.name + " " + i.gpu, {}, "lines"};
    for (const auto& [time, v] : i.kv_occupancy_series) k.points.emplace_back(time, 100 * v);
    kv.series.push_back(k);
    ChartSeries b{i.name, i.batch_size_series, "lines"};
    batch.series.push_back(b);
    busy.points.emplace_back(double(util.categories.size()), 100 * i.utilization);
    util.categories.push_back(i.name + " (" + i.gpu + ")");
  }
  util.series = {busy};
  kv.source = batch.source = util.source = "This run's instances, sampled by the simulator.";
  charts.push_back(util);
  charts.push_back(kv);
  charts.push_back(batch);
  return charts;
}

std::string charts_html(const std::vector<Chart>& charts, const RenderedCharts& rendered) {
  std::string h = "<section id=\"charts\"><h2>Charts</h2>\n";
  if (rendered.svg.empty()) {
    return h + "<p>No charts: gnuplot was not found (Debian package gnuplot-nox).</p></section>\n";
  }
  for (const Chart& c : charts) {
    auto it = rendered.svg.find(c.name);
    if (it == rendered.svg.end()) continue;
    h += "<figure class=\"chart\" id=\"chart-" + c.name + "\">\n" + it->second + "\n<figcaption>" +
         escape_text(c.title) + ". " + escape_text(c.source) + " <a href=\"charts/" + c.name +
         ".png\">PNG</a> <a href=\"charts/" + c.name + ".svg\">SVG</a></figcaption></figure>\n";
  }
  return h + "</section>\n";
}

std::string stage_charts(const std::vector<Chart>& charts, io::OutputDir& out) {
  // Inside the output's staging folder rather than the system's temporary one: a killed
  // run leaves nothing behind that the next run does not remove.
  const fs::path scratch = out.scratch("charts");
  RenderedCharts rendered;
  std::error_code ec;
  try {
    rendered = render_charts(charts, scratch.string());
    for (const std::string& f : rendered.files) out.write("charts/" + f, slurp(scratch / f));
  } catch (...) {
    fs::remove_all(scratch, ec);
    throw;
  }
  fs::remove_all(scratch, ec);
  return charts_html(charts, rendered);
}

}  // namespace quadrant::reports
