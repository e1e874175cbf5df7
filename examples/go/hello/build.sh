#!/usr/bin/env bash
# Builds ./build/bootstrap, a static linux binary (the name provided.al2023 runs; go1.x takes any name).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$here/build" && mkdir -p "$here/build"
cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off go build -trimpath -ldflags='-s -w' -o build/bootstrap .
echo "built $here/build/bootstrap"
