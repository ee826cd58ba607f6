// The git revision of the source tree this program was built from, with "-dirty" when
// tracked files differed from it: outputs carry it so that results say what produced
// them. Generated at build time (cmake/git_revision.cmake), so it never goes stale after
// a commit and rebuild; "unknown" outside a git checkout.
//
//   j["git_revision"] = git_revision();   // "3e7c77d1a2b4", "3e7c77d1a2b4-dirty"
#pragma once

namespace quadrant {

const char* git_revision();

}  // namespace quadrant
