#!/usr/bin/env bash
# Compiles the function into ./build/Hello.dll (with debug symbols, for file:line in stack traces).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runtime="$here/../../../runtimes/dotnet"
[ -f "$runtime/out/Amazon.Lambda.Core.dll" ] || "$runtime/build.sh" "$runtime/out"
rm -rf "$here/build" && mkdir -p "$here/build"
mcs -nologo -debug -target:library -out:"$here/build/Hello.dll" -r:"$runtime/out/Amazon.Lambda.Core.dll" "$here"/*.cs
echo "built $here/build"
