#include "sim/core/error.h"

#include <cstdio>
#include <cstdlib>

namespace quadrant {

void check_failed(const char* file, int line, const char* condition, const std::string& detail) {
  std::fprintf(stderr, "quadrant: internal error at %s:%d: check failed: %s%s%s\n", file, line,
               condition, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

}  // namespace quadrant
