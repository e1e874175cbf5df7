#!/usr/bin/env bash
# Go conformance function: a static `bootstrap` built against runtimes/go (go.mod's replace), offline.
source "$(dirname "$0")/../lib.sh"
need go golang-go
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
(cd "$conf_dir/go" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off \
  go build -trimpath -ldflags='-s -w' -o "$stage/bootstrap" .)
zip_dir "$stage"
