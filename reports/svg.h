// A small SVG writer for the report's plots: line/scatter charts and bar charts as
// inline <svg> elements, no scripts, no external fonts, deterministic text (fixed number
// formats) so that the same plan draws byte-identical plots.
//
//   LineChart c{.title = "Cost vs SLO", .x_label = "SLO scale", .y_label = "USD/h"};
//   c.series.push_back({.name = "cheapest plan", .points = {{0.5, 40}, {1, 22}}});
//   std::string svg = render(c);
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace quadrant::reports {

struct Series {
  std::string name{};
  std::vector<std::pair<double, double>> points{};  // drawn in the order given
  bool lines = true;                                // false: markers only
};

struct Guide {  // a horizontal reference line, e.g. an SLO target
  double y = 0;
  std::string label{};
};

struct LineChart {
  std::string title{}, x_label{}, y_label{};
  std::vector<Series> series{};
  std::vector<Guide> guides{};
  bool log_x = false;
  int width = 640, height = 320;
};

struct Bar {
  std::string label{};
  double value = 0;
  std::string note{};  // printed above the bar (e.g. "$41.2/h")
  bool highlight = false;
};

struct BarChart {
  std::string title{}, y_label{};
  std::vector<Bar> bars{};
  int width = 640, height = 300;
};

std::string render(const LineChart& c);
std::string render(const BarChart& c);

// Text safe inside XML/HTML.
std::string escape_xml(const std::string& s);
// Text content of an HTML element: <, > and & escaped, quotes left as they are.
std::string escape_text(const std::string& s);
// A number in a fixed, short form ("12.3", "0.0451", "1.2e+06").
std::string format_number(double v);

}  // namespace quadrant::reports
