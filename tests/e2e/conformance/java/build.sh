#!/usr/bin/env bash
# java17 conformance function: classes compiled against runtimes/java's lambda-java-core.jar.
source "$(dirname "$0")/../lib.sh"
need javac openjdk-17-jdk-headless
[ -f /usr/share/java/jackson-databind.jar ] || {
  echo "missing Jackson: install the Debian package libjackson2-databind-java" >&2; exit 3; }
api="$work_root/java-runtime"
"$repo_root/runtimes/java/build.sh" "$api" >/dev/null
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
javac --release 17 -d "$stage" -cp "$api/lambda-java-core.jar" $(find "$conf_dir/java/src" -name '*.java')
zip_dir "$stage"
