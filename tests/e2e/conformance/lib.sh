# Shared by the conformance build scripts (sourced): argument handling, tool checks, zipping.
# Every script is `build.sh OUT.zip` and writes the function's deployment package to OUT.zip.
set -euo pipefail
conf_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$conf_dir/../../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 OUT.zip" >&2; exit 2; }
out_zip="$(mkdir -p "$(dirname "$1")" && cd "$(dirname "$1")" && pwd)/$(basename "$1")"
# Scratch space under the repository's target directory (kept: builds there are incremental).
work_root="${CONFORMANCE_WORK:-$repo_root/target/conformance}"
mkdir -p "$work_root"

# need TOOL DEBIAN-PACKAGE: fail with the package to install when TOOL is missing.
need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "missing '$1': install the Debian package $2 (apt-get install $2)" >&2
    exit 3
  }
}

# zip_dir DIR: zip DIR's contents (file modes kept, so bootstrap stays executable) into $out_zip.
zip_dir() {
  need zip zip
  rm -f "$out_zip.tmp"
  (cd "$1" && zip -q -r -X "$out_zip.tmp" .)
  mv "$out_zip.tmp" "$out_zip"
}
