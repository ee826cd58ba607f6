// Two families of errors (see ../../../shared/STYLE.md, habit 7):
// - InputError: the user gave us something wrong (scenario, CLI flag, profile file). It
//   carries the file, the JSON path, what was expected and what was found, and the CLI
//   prints it as one line and exits non-zero.
// - QUADRANT_CHECK: an internal invariant. It aborts with file, line and the condition,
//   because continuing would produce numbers nobody should trust.
#pragma once

#include <stdexcept>
#include <string>

namespace quadrant {

class InputError : public std::runtime_error {
 public:
  // file may be empty (an error of the command line); path is a JSON path such as
  // "workload.arrival.rate" or empty when the whole document is at fault.
  InputError(std::string file, std::string path, std::string message)
      : std::runtime_error(format(file, path, message)),
        file_(std::move(file)),
        path_(std::move(path)),
        message_(std::move(message)) {}
  explicit InputError(std::string message) : InputError("", "", std::move(message)) {}

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  const std::string& message() const { return message_; }

 private:
  static std::string format(const std::string& file, const std::string& path,
                            const std::string& message) {
    std::string out;
    if (!file.empty()) out += file + ": ";
    if (!path.empty()) out += path + ": ";
    return out + message;
  }
  std::string file_, path_, message_;
};

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& detail);

}  // namespace quadrant

#define QUADRANT_CHECK(cond)                                              \
  do {                                                                    \
    if (!(cond)) ::quadrant::check_failed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

#define QUADRANT_CHECK_MSG(cond, detail)                                        \
  do {                                                                          \
    if (!(cond)) ::quadrant::check_failed(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)
