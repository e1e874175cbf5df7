#!/usr/bin/env bash
# Builds ./build/bootstrap (the executable provided.al2023 runs), dynamically linked against glibc,
# which Kumo's sandbox provides from the host. Set CARGO_TARGET_DIR to share a target directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
CARGO_TARGET_DIR="$target" cargo build --locked --manifest-path "$here/Cargo.toml" --bin bootstrap
rm -rf "$here/build" && mkdir -p "$here/build"
cp "$target/debug/bootstrap" "$here/build/bootstrap"
echo "built $here/build/bootstrap"
