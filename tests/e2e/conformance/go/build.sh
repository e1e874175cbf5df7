#!/usr/bin/env bash
# Go conformance function: a static binary built against runtimes/go (go.mod's replace), offline,
# zipped as `bootstrap` (provided.al2023) and as `conformance` (go1.x: the handler names it).
source "$(dirname "$0")/../lib.sh"
need go golang-go
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
(cd "$conf_dir/go" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off \
  go build -trimpath -ldflags='-s -w' -o "$stage/bootstrap" .)
cp -p "$stage/bootstrap" "$stage/conformance"
zip_dir "$stage"
