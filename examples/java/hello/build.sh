#!/usr/bin/env bash
# Compiles the function into ./build (classes at the root, as in a Lambda zip; jars would go in build/lib).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runtime="$here/../../../runtimes/java"
[ -f "$runtime/out/lambda-java-core.jar" ] || "$runtime/build.sh" "$runtime/out"
rm -rf "$here/build"
javac --release 17 -d "$here/build" -cp "$runtime/out/lambda-java-core.jar" $(find "$here/src" -name '*.java')
echo "built $here/build"
