#!/usr/bin/env bash
# python3.x conformance function: app.py at the zip's root.
source "$(dirname "$0")/../lib.sh"
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
cp "$conf_dir/python/app.py" "$stage/"
zip_dir "$stage"
