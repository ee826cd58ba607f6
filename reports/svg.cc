#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace quadrant::reports {

namespace {

// Colour-blind-safe palette (Okabe-Ito).
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                    "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
constexpr int kLeft = 64, kRight = 16, kTop = 32, kBottom = 48;

std::string num(double v, int digits = 1) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "Nice" tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 5) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

std::string text(double x, double y, const std::string& s, const char* anchor = "middle",
                 int size = 11, const char* extra = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\"" + extra + ">" + escape_xml(s) + "</text>\n";
}

std::string open_svg(int w, int h, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(w) + " " +
         std::to_string(h) + "\" width=\"" + std::to_string(w) + "\" height=\"" +
         std::to_string(h) + "\" font-family=\"sans-serif\" role=\"img\">\n<title>" +
         escape_xml(title) + "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n" +
         text(w / 2.0, 18, title, "middle", 13, " font-weight=\"bold\"");
}

}  // namespace

std::string escape_text(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') {
      o += "&lt;";
    } else if (c == '>') {
      o += "&gt;";
    } else if (c == '&') {
      o += "&amp;";
    } else {
      o += c;
    }
  }
  return o;
}

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_number(double v) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  char buf[48];
  const double a = std::abs(v);
  if (a == 0) return "0";
  if (a >= 1e6 || a < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else if (a >= 100) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else if (a >= 1) {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

std::string render(const LineChart& c) {
  const double pw = c.width - kLeft - kRight, ph = c.height - kTop - kBottom;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = 0, y1 = -x0;
  auto fx = [&](double x) { return c.log_x ? std::log2(x) : x; };
  for (const Series& s : c.series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y) || (c.log_x && x <= 0)) continue;
      x0 = std::min(x0, fx(x));
      x1 = std::max(x1, fx(x));
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  for (const Guide& g : c.guides) y1 = std::max(y1, g.y);
  std::string out = open_svg(c.width, c.height, c.title);
  if (!(x1 >= x0) || !(y1 > -std::numeric_limits<double>::infinity())) {
    return out + text(c.width / 2.0, c.height / 2.0, "no data") + "</svg>\n";
  }
  if (x1 == x0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 <= y0) y1 = y0 + 1;
  y1 *= 1.08;
  auto px = [&](double x) { return kLeft + (fx(x) - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return kTop + ph - (y - y0) / (y1 - y0) * ph; };
  // axes and grid
  out += "<g stroke=\"#ccc\" stroke-width=\"1\">\n";
  for (double t : ticks(y0, y1)) {
    out += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(py(t)) +
           "\" y2=\"" + num(py(t)) + "\"/>\n";
  }
  out += "</g>\n";
  for (double t : ticks(y0, y1)) out += text(kLeft - 6, py(t) + 4, format_number(t), "end");
  if (c.log_x) {
    for (double e = std::ceil(x0); e <= x1 + 1e-9; e += 1) {
      const double x = std::pow(2.0, e);
      out += text(px(x), kTop + ph + 16, format_number(x));
    }
  } else {
    for (double t : ticks(x0, x1)) out += text(px(t), kTop + ph + 16, format_number(t));
  }
  out += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(pw) +
         "\" height=\"" + num(ph) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  out += text(kLeft + pw / 2, c.height - 8, c.x_label);
  out += text(14, kTop + ph / 2, c.y_label, "middle", 11,
              (" transform=\"rotate(-90 14 " + num(kTop + ph / 2) + ")\"").c_str());
  for (const Guide& g : c.guides) {
    out += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(py(g.y)) +
           "\" y2=\"" + num(py(g.y)) + "\" stroke=\"#D55E00\" stroke-dasharray=\"6 4\"/>\n";
    out += text(kLeft + pw - 4, py(g.y) - 4, g.label, "end", 10, " fill=\"#D55E00\"");
  }
  for (size_t i = 0; i < c.series.size(); ++i) {
    const Series& s = c.series[i];
    const char* colour = kPalette[i % 8];
    std::string path;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y) || (c.log_x && x <= 0)) continue;
      path += (path.empty() ? "M" : " L") + num(px(x)) + " " + num(py(y));
      out += "<circle cx=\"" + num(px(x)) + "\" cy=\"" + num(py(y)) + "\" r=\"3.5\" fill=\"" +
             colour + "\"/>\n";
    }
    if (s.lines && !path.empty())
      out +=
          "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\"/>\n";
    // legend
    const double ly = kTop + 12 + 14 * static_cast<double>(i);
    out += "<rect x=\"" + num(kLeft + 8) + "\" y=\"" + num(ly - 8) +
           "\" width=\"10\" height=\"10\" fill=\"" + colour + "\"/>\n";
    out += text(kLeft + 22, ly + 1, s.name, "start", 10);
  }
  return out + "</svg>\n";
}

std::string render(const BarChart& c) {
  const double pw = c.width - kLeft - kRight, ph = c.height - kTop - kBottom;
  double y1 = 0;
  for (const Bar& b : c.bars)
    if (std::isfinite(b.value)) y1 = std::max(y1, b.value);
  std::string out = open_svg(c.width, c.height, c.title);
  if (c.bars.empty() || y1 <= 0)
    return out + text(c.width / 2.0, c.height / 2.0, "no data") + "</svg>\n";
  y1 *= 1.15;
  auto py = [&](double y) { return kTop + ph - y / y1 * ph; };
  for (double t : ticks(0, y1)) {
    out += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(py(t)) +
           "\" y2=\"" + num(py(t)) + "\" stroke=\"#ddd\"/>\n";
    out += text(kLeft - 6, py(t) + 4, format_number(t), "end");
  }
  const double slot = pw / static_cast<double>(c.bars.size());
  for (size_t i = 0; i < c.bars.size(); ++i) {
    const Bar& b = c.bars[i];
    const double x = kLeft + slot * static_cast<double>(i) + slot * 0.15;
    const double v = std::isfinite(b.value) ? b.value : 0;
    out += "<rect x=\"" + num(x) + "\" y=\"" + num(py(v)) + "\" width=\"" + num(slot * 0.7) +
           "\" height=\"" + num(kTop + ph - py(v)) + "\" fill=\"" +
           (b.highlight ? "#009E73" : "#0072B2") + "\"/>\n";
    out +=
        text(x + slot * 0.35, py(v) - 4, b.note.empty() ? format_number(v) : b.note, "middle", 10);
    out += text(x + slot * 0.35, kTop + ph + 16, b.label, "middle", 10);
  }
  out += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" + num(kTop + ph) +
         "\" y2=\"" + num(kTop + ph) + "\" stroke=\"#333\"/>\n";
  out += text(14, kTop + ph / 2, c.y_label, "middle", 11,
              (" transform=\"rotate(-90 14 " + num(kTop + ph / 2) + ")\"").c_str());
  return out + "</svg>\n";
}

}  // namespace quadrant::reports
