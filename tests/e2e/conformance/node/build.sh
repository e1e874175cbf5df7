#!/usr/bin/env bash
# nodejs conformance function: index.mjs at the zip's root.
source "$(dirname "$0")/../lib.sh"
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
cp "$conf_dir/node/index.mjs" "$stage/"
zip_dir "$stage"
