#!/usr/bin/env bash
# Format and lint the C++/CUDA files changed since BASE: clang-format (the repository's
# .clang-format) on whole files, clang-tidy (.clang-tidy, an explicit list of checks) on
# the changed lines only, so that touching a file does not make its old code anyone's
# job. Exit 1 on any finding, with the findings printed.
#
#   scripts/lint.sh                 # changes since the merge-base with main (committed or not)
#   scripts/lint.sh HEAD~3          # since a revision
#   scripts/lint.sh --fix [BASE]    # rewrite the files' formatting instead of failing on it
#
# clang-tidy needs the build's compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS is on):
# BUILD_DIR, default build/; without it clang-tidy is skipped with a note. CUDA files are
# formatted, not tidied (clang-tidy 14 does not parse nvcc's flags). CI: .ci/run through
# scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
if [[ "${1:-}" == "--fix" ]]; then fix=1; shift; fi
build="${BUILD_DIR:-build}"

# An exported tree (a tarball, `git archive`) has no history, so nothing counts as
# changed and there is nothing to lint (a fresh Debian 12 from such a tree has no
# clang-format either: it is a developer's tool, not in scripts/apt-packages.txt).
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "lint: no git history here, so no file counts as changed: nothing to lint"
  exit 0
fi

base="${1:-$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD~1)}"
mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$base" -- \
  '*.h' '*.cc' '*.cu' '*.cuh' | grep -v '^tests/sim/layering/bad/' || true)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "lint: no C++ or CUDA file changed since $base"
  exit 0
fi
if ! command -v clang-format >/dev/null; then
  echo "lint: clang-format is not installed (apt-get install clang-format)"
  exit 1
fi

failed=0
if [[ $fix -eq 1 ]]; then
  clang-format -i "${files[@]}"
else
  for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" 2>/dev/null; then
      echo "lint: $f is not clang-formatted (scripts/lint.sh --fix, or clang-format -i $f)"
      failed=1
    fi
  done
fi

tidy_diff="$(command -v clang-tidy-diff || command -v clang-tidy-diff-14.py || true)"
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "lint: no $build/compile_commands.json: clang-tidy skipped (configure with cmake first)"
elif [[ -z "$tidy_diff" ]]; then
  echo "lint: clang-tidy-diff not found: clang-tidy skipped"
else
  # Only translation units the build knows; headers are checked through them
  # (HeaderFilterRegex) on their changed lines. kernels/src's headers are not run as units of
  # their own: clang-tidy would borrow a neighbouring .cu's nvcc flags, which it cannot parse;
  # those a .cc includes are checked through it.
  tidy_files=()
  for f in "${files[@]}"; do
    [[ "$f" == *.cc || ("$f" == *.h && "$f" != kernels/src/*) ]] && tidy_files+=("$f")
  done
  out=""
  if [[ ${#tidy_files[@]} -gt 0 ]]; then
    out="$(git diff -U0 "$base" -- "${tidy_files[@]}" |
      "$tidy_diff" -p1 -path "$build" -quiet -regex '.*\.(h|cc)' 2>/dev/null || true)"
  fi
  findings="$(grep -E '(warning|error): ' <<<"$out" || true)"
  if [[ -n "$findings" ]]; then
    echo "$out"
    failed=1
  fi
fi

if [[ $failed -eq 0 ]]; then
  echo "lint: ${#files[@]} changed files since $(git rev-parse --short "$base"): formatted, clang-tidy quiet"
fi
exit $failed
