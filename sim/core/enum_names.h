// One table per enum gives each value its name, for reading and for writing: the
// scenario reader (sim/io) parses with it, the schema lists its names as the field's
// choices, and to_string writes with it, so a name lives in one place.
//
//   inline constexpr EnumNames<Color, 2> kColorNames{{{{Color::kRed, "red"},
//                                                      {Color::kBlue, "blue"}}}};
//   kColorNames.name(Color::kRed);      // "red"
//   kColorNames.value("blue");          // Color::kBlue; std::nullopt for an unknown name
//   kColorNames.names();                // {"red", "blue"}: the schema's choices, in order
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quadrant {

template <typename E, size_t N>
struct EnumNames {
  std::array<std::pair<E, const char*>, N> entries;

  constexpr const char* name(E e) const {
    for (const auto& [v, n] : entries)
      if (v == e) return n;
    return "?";
  }
  constexpr std::optional<E> value(std::string_view name) const {
    for (const auto& [v, n] : entries)
      if (name == n) return v;
    return std::nullopt;
  }
  // The names in the table's order, leaving out `except` (a field that takes only some).
  std::vector<std::string> names(std::initializer_list<E> except = {}) const {
    std::vector<std::string> out;
    for (const auto& [v, n] : entries) {
      bool skip = false;
      for (E x : except) skip = skip || x == v;
      if (!skip) out.emplace_back(n);
    }
    return out;
  }
};

}  // namespace quadrant
