// Output that never destroys. Every command that writes files writes them through an
// OutputDir (a folder it owns: `--out DIR`) or an OutputFile (one file: `--trace FILE`):
//
//   io::OutputDir out("out/run1", "--out", scenario.input_files, "simulate");  // checks only
//   out.write("metrics.json", text);            // staged, nothing visible yet
//   std::ostream& csv = out.stream("requests.csv");  csv << ...;
//   out.commit();                               // out/run1 now holds exactly these files
//
// The target is refused (InputError naming the option) when it is a file, a symbolic
// link, the current directory or one of its parents, an input of the run or a folder
// holding one, or a folder that holds anything but a previous Quadrant output: a folder
// Quadrant wrote carries a marker file (.quadrant-output) listing its files, and only
// the marker and those files may be there. An empty or absent folder is fine.
//
// Files are staged in a hidden folder beside the target (".NAME.quadrant-staging.PID"),
// out of readers' way, and the staged folder replaces the target in one atomic step
// (renameat2 RENAME_EXCHANGE; a plain rename when the target is absent), after which the
// previous outputs are deleted. So a run killed at any point leaves the target holding
// either the previous complete outputs or the new complete ones, never a mix: files of
// the old run do not survive beside new ones (a stale requests.csv after --no-requests).
// Leftover staging folders of dead processes are removed by the next run.
//
// For tests: QUADRANT_KILL_AT=N makes the process kill itself (SIGKILL) at the N-th
// point of this protocol (kill_points() counts them), so a test can stop a run at every
// step between staging and publishing.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quadrant::io {

class OutputDir {
 public:
  // Checks the target and prepares a staging folder; writes nothing inside `dir`.
  // `option` names the target in errors ("--out"); `command` is recorded in the marker.
  OutputDir(const std::string& dir, const std::string& option,
            const std::vector<std::string>& inputs, const std::string& command);
  ~OutputDir();  // without commit(): the staging folder is removed, the target untouched
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  // A whole file, staged. Names may have folders ("deploy/run.sh"); no part may be
  // empty, "..", or start with a dot.
  void write(const std::string& name, const std::string& bytes, bool executable = false);
  // A file written piece by piece; valid until commit() (which closes and checks it).
  std::ostream& stream(const std::string& name);
  // A private working folder for helpers that write files themselves (gnuplot): inside
  // the staging folder, so a killed run's goes with it (the next run removes a dead run's
  // staging); never published: commit() removes it. Returns its path.
  std::string scratch(const std::string& name);
  // Publishes the staged files as the target's whole content; returns the target path.
  std::string commit();

  const std::string& path() const { return target_; }
  // The name `path` would have inside this output ("trace.json" for "DIR/trace.json"),
  // or nothing when it lies elsewhere.
  std::optional<std::string> name_of(const std::string& path) const;

 private:
  std::string target_, option_, command_, staging_;
  std::map<std::string, std::unique_ptr<std::ofstream>> files_;
  std::vector<std::string> executables_, scratches_;
  bool committed_ = false;
};

// One output file outside an output folder, written to a hidden temporary beside it and
// renamed into place. Refused when the target is a folder, a link, an input, or an
// existing file whose first bytes are not `signature` (a previous output of the same
// kind, e.g. a Chrome trace's opening).
class OutputFile {
 public:
  OutputFile(const std::string& path, const std::string& option,
             const std::vector<std::string>& inputs, const std::string& signature);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& out() { return out_; }
  // The temporary the text goes to, e.g. to check it loads before commit().
  const std::string& temp_path() const { return temp_; }
  void commit();

 private:
  std::string target_, option_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

// The name of the marker file Quadrant leaves in every output folder.
inline constexpr const char* kOutputMarker = ".quadrant-output";

// Fault injection for kill tests: SIGKILLs the process at the QUADRANT_KILL_AT-th call.
void kill_point();
// How many kill points the process has passed (tests size their sweep with it).
int kill_points();

}  // namespace quadrant::io
