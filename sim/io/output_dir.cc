#include "sim/io/output_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <sys/syscall.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "sim/core/error.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace quadrant::io {

namespace fs = std::filesystem;

namespace {

int g_kill_points = 0;

// An absolute, normalised path with symbolic links resolved where they exist.
fs::path resolved(const std::string& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  if (ec) r = fs::absolute(p, ec).lexically_normal();
  return r;
}

// A target: its folder resolved, its own name kept (a link there must be seen, not
// followed).
fs::path target_path(const std::string& p) {
  std::error_code ec;
  const fs::path a = fs::absolute(p, ec).lexically_normal();
  if (a.filename().empty()) return resolved(a.string());  // "dir/" or "/"
  return resolved(a.parent_path().string()) / a.filename();
}

// Whether `inner` is `outer` or lies below it.
bool within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

[[noreturn]] void refuse(const std::string& option, const std::string& target,
                         const std::string& why) {
  throw InputError("", option, "cannot write to \"" + target + "\": " + why);
}

// Refuses a target that is, or holds, an input of the run.
void check_inputs(const fs::path& target, const std::string& option, const std::string& shown,
                  const std::vector<std::string>& inputs) {
  for (const std::string& in : inputs) {
    if (in.empty()) continue;
    if (within(resolved(in), target)) {
      refuse(option, shown,
             resolved(in) == target ? "it is an input of this run"
                                    : "it holds an input of this run (" + in + ")");
    }
  }
}

// The files a marker lists, or nothing when `dir` has no readable marker.
bool read_marker(const fs::path& dir, std::set<std::string>& files) {
  std::ifstream m(dir / kOutputMarker);
  std::string line;
  if (!m || !std::getline(m, line) || line.rfind("quadrant-output", 0) != 0) return false;
  while (std::getline(m, line)) {
    if (line.rfind("file ", 0) == 0) files.insert(line.substr(5));
  }
  return true;
}

// Whether a process with this id is running (a staging folder of a live run stays).
bool alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// Removes staging folders of dead runs beside `target`; puts back a previous output a
// killed fallback swap left aside (see commit()).
void clean_stale(const fs::path& target) {
  std::error_code ec;
  std::string prefix(1, '.');
  prefix += target.filename().string();
  prefix += ".quadrant-";
  for (const fs::directory_entry& e : fs::directory_iterator(target.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "staging.PID" or "old.PID"
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) continue;
    const long pid = std::strtol(rest.c_str() + dot + 1, nullptr, 10);
    if (alive(pid)) continue;
    std::error_code ec2;
    if (rest.compare(0, dot, "old") == 0 && !fs::exists(fs::symlink_status(target, ec2))) {
      fs::rename(e.path(), target, ec2);
      if (!ec2) continue;
    }
    fs::remove_all(e.path(), ec2);
  }
}

// The target checks shared by OutputDir's constructor and commit().
void check_target(const fs::path& target, const std::string& option, const std::string& shown) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(target, ec);
  if (!fs::exists(st)) return;
  if (fs::is_symlink(st)) refuse(option, shown, "it is a symbolic link; name a folder");
  if (!fs::is_directory(st)) refuse(option, shown, "it is a file, not a folder");
  std::set<std::string> ours;
  const bool marked = read_marker(target, ours);
  // The folders the listed files are in ("deploy" of "deploy/run.sh").
  std::set<std::string> folders;
  for (const std::string& f : ours)
    for (size_t p = f.find('/'); p != std::string::npos; p = f.find('/', p + 1))
      folders.insert(f.substr(0, p));
  for (auto it = fs::recursive_directory_iterator(target, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().lexically_relative(target).generic_string();
    const bool is_dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (marked && (name == kOutputMarker || ours.count(name) || (is_dir && folders.count(name))))
      continue;
    refuse(
        option, shown,
        std::string("it holds \"") + name + "\", which " +
            (marked ? "its previous Quadrant output did not write"
                    : "is not a Quadrant output (no " + std::string(kOutputMarker) + " marker)") +
            "; name a new or empty folder");
  }
  if (ec) refuse(option, shown, "cannot list it: " + ec.message());
}

// Whether `name` is a relative path of plain parts (no "", ".", "..", dot files).
bool plain_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  size_t start = 0;
  for (;;) {
    const size_t end = name.find('/', start);
    const std::string part = name.substr(start, end == std::string::npos ? end : end - start);
    if (part.empty() || part[0] == '.') return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

// ".NAME.quadrant-KIND.PID" beside the target (built by appends: GCC 12 warns falsely
// about "." + std::string).
fs::path sibling(const fs::path& target, const char* kind) {
  std::string name(1, '.');
  name += target.filename().string();
  name += ".quadrant-";
  name += kind;
  name += '.';
  name += std::to_string(getpid());
  return target.parent_path() / name;
}

int kill_at() {
  static const int at = [] {
    const char* v = std::getenv("QUADRANT_KILL_AT");
    return v ? std::atoi(v) : 0;
  }();
  return at;
}

}  // namespace

void kill_point() {
  ++g_kill_points;
  if (kill_at() > 0 && g_kill_points == kill_at()) ::raise(SIGKILL);
}

int kill_points() {
  return g_kill_points;
}

OutputDir::OutputDir(const std::string& dir, const std::string& option,
                     const std::vector<std::string>& inputs, const std::string& command)
    : option_(option), command_(command) {
  if (dir.empty()) throw InputError("", option, "expected a folder, got an empty path");
  const fs::path target = target_path(dir);
  target_ = target.string();
  if (target == target.root_path() || target.filename().empty())
    refuse(option, dir, "it is a root folder");
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  if (!ec && within(resolved(cwd.string()), target))
    refuse(option, dir, "it is the current folder or holds it; name a folder below it");
  check_inputs(target, option, dir, inputs);
  check_target(target, option, dir);
  fs::create_directories(target.parent_path(), ec);
  if (ec) refuse(option, dir, "cannot create its parent folder: " + ec.message());
  clean_stale(target);
  staging_ = sibling(target, "staging").string();
  fs::remove_all(staging_, ec);
  fs::create_directory(staging_, ec);
  if (ec) refuse(option, dir, "cannot create a folder beside it: " + ec.message());
  kill_point();
}

std::optional<std::string> OutputDir::name_of(const std::string& path) const {
  const fs::path p = target_path(path);
  if (!within(p, target_) || p == fs::path(target_)) return std::nullopt;
  return p.lexically_relative(target_).generic_string();
}

OutputDir::~OutputDir() {
  if (committed_) return;
  files_.clear();
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

std::ostream& OutputDir::stream(const std::string& name) {
  if (!plain_name(name)) throw InputError("", option_, "not an output file name: \"" + name + "\"");
  auto& f = files_[name];
  if (!f) {
    const fs::path path = fs::path(staging_) / name;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    f = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
    if (!*f) refuse(option_, target_, "cannot create " + name + " in " + staging_);
    kill_point();
  }
  return *f;
}

void OutputDir::write(const std::string& name, const std::string& bytes, bool executable) {
  std::ostream& o = stream(name);
  if (executable) executables_.push_back(name);
  // Half the file, a kill point, the rest: a kill test sees a partly written file too.
  o.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  o.flush();
  kill_point();
  o.write(bytes.data() + bytes.size() / 2,
          static_cast<std::streamsize>(bytes.size() - bytes.size() / 2));
}

std::string OutputDir::scratch(const std::string& name) {
  if (!plain_name(name) || name.find('/') != std::string::npos)
    throw InputError("", option_, "not a scratch folder name: \"" + name + "\"");
  // The leading dot keeps it apart from every output name (plain_name refuses those).
  const fs::path path = fs::path(staging_) / ("." + name);
  std::error_code ec;
  fs::remove_all(path, ec);
  fs::create_directory(path, ec);
  if (ec) refuse(option_, target_, "cannot create a scratch folder in " + staging_);
  scratches_.push_back(path.string());
  return path.string();
}

std::string OutputDir::commit() {
  if (committed_) return target_;
  for (const std::string& s : scratches_) {
    std::error_code ec;
    fs::remove_all(s, ec);
  }
  std::ostringstream marker;
  marker << "quadrant-output 1\ncommand " << command_ << "\n";
  for (auto& [name, f] : files_) {
    f->close();
    if (!*f) refuse(option_, target_, "writing " + name + " failed (disk full?)");
    marker << "file " << name << "\n";
    kill_point();
  }
  for (const std::string& name : executables_) {
    std::error_code ec;
    fs::permissions(fs::path(staging_) / name,
                    fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add, ec);
    if (ec) refuse(option_, target_, "cannot make " + name + " executable: " + ec.message());
  }
  {
    std::ofstream m(fs::path(staging_) / kOutputMarker, std::ios::binary | std::ios::trunc);
    m << marker.str();
    m.close();
    if (!m) refuse(option_, target_, "cannot write the marker " + std::string(kOutputMarker));
  }
  kill_point();
  // Anything dropped into the target meanwhile is not ours to delete.
  check_target(target_, option_, target_);
  const fs::path target(target_);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target, ec))) {
    if (::rename(staging_.c_str(), target_.c_str()) != 0)
      refuse(option_, target_, std::string("cannot publish the outputs: ") + std::strerror(errno));
    committed_ = true;
    kill_point();
    return target_;
  }
  // Swap the staged folder and the previous output in one step, then delete the old one.
  if (::syscall(SYS_renameat2, AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(),
                RENAME_EXCHANGE) == 0) {
    committed_ = true;
    kill_point();
    fs::remove_all(staging_, ec);
    kill_point();
    return target_;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    refuse(option_, target_, std::string("cannot publish the outputs: ") + std::strerror(errno));
  // No atomic exchange on this file system: move the old output aside first. A kill
  // between the two renames leaves it at ".NAME.quadrant-old.PID", which the next run
  // puts back (clean_stale) before anything else.
  const std::string old = sibling(target, "old").string();
  if (::rename(target_.c_str(), old.c_str()) != 0)
    refuse(option_, target_, std::string("cannot move the old outputs: ") + std::strerror(errno));
  kill_point();
  if (::rename(staging_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    ::rename(old.c_str(), target_.c_str());
    refuse(option_, target_, std::string("cannot publish the outputs: ") + std::strerror(err));
  }
  committed_ = true;
  kill_point();
  fs::remove_all(old, ec);
  return target_;
}

OutputFile::OutputFile(const std::string& path, const std::string& option,
                       const std::vector<std::string>& inputs, const std::string& signature)
    : option_(option) {
  if (path.empty()) throw InputError("", option, "expected a file name, got an empty path");
  const fs::path target = target_path(path);
  target_ = target.string();
  check_inputs(target, option, path, inputs);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(target, ec);
  if (fs::exists(st)) {
    if (fs::is_symlink(st)) refuse(option, path, "it is a symbolic link");
    if (!fs::is_regular_file(st)) refuse(option, path, "it is not a regular file");
    std::ifstream in(target, std::ios::binary);
    std::string head(signature.size(), '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    if (!in || head != signature)
      refuse(option, path, "it exists and is not a previous output of this kind");
  }
  fs::create_directories(target.parent_path(), ec);
  if (ec) refuse(option, path, "cannot create its folder: " + ec.message());
  clean_stale(target);
  temp_ = sibling(target, "tmp").string();
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) refuse(option, path, "cannot create a file beside it");
  kill_point();
}

OutputFile::~OutputFile() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  fs::remove(temp_, ec);
}

void OutputFile::commit() {
  out_.close();
  if (!out_) refuse(option_, target_, "writing failed (disk full?)");
  kill_point();
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    refuse(option_, target_, std::string("cannot publish it: ") + std::strerror(errno));
  committed_ = true;
  kill_point();
}

}  // namespace quadrant::io
