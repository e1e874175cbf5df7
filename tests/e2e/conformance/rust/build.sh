#!/usr/bin/env bash
# Rust conformance function: `bootstrap` built with the lambda_runtime crate (own cargo workspace and
# Cargo.lock; incremental in target/conformance). The binary is named `conformance` so it never
# collides with another project's `bootstrap` in that shared target directory. Dynamically linked
# against glibc, which the sandbox provides from the host's /lib and /usr.
source "$(dirname "$0")/../lib.sh"
need cargo "cargo (rustup; Debian: cargo)"
CARGO_TARGET_DIR="$work_root" cargo build --locked --quiet \
  --manifest-path "$conf_dir/rust/Cargo.toml" --bin conformance
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
cp "$work_root/debug/conformance" "$stage/bootstrap"
zip_dir "$stage"
