#!/usr/bin/env bash
# Builds the java runtime into OUT (default: ./out):
#   lambda-java-core.jar  the com.amazonaws.services.lambda.runtime interfaces (compile functions against it)
#   kumo-runtime.jar      the bootstrap (kumo.Bootstrap) with those interfaces and Debian's Jackson
#                         (libjackson2-databind-java) inside: one jar is the whole class path
#   kumo.jsa              class-data-sharing archive of the runtime's start-up classes
# The archive is only used while the jars stay at the paths and mtimes they were built with; if they
# move, the JVM silently starts without it (slower). Needs javac/jar/java 17 (openjdk-17-jdk-headless).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "${1:-$here/out}" && cd "${1:-$here/out}" && pwd)"
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
jackson=/usr/share/java
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

jars=()
for j in jackson-core jackson-databind jackson-annotations; do
  [ -f "$jackson/$j.jar" ] || { echo "missing $jackson/$j.jar: apt-get install libjackson2-databind-java" >&2; exit 1; }
  jars+=("$jackson/$j.jar")
done

# The API jar, then the bootstrap compiled against it.
mkdir -p "$work/api" "$work/rt"
"$java_home/bin/javac" --release 11 -nowarn -d "$work/api" $(find "$here/api" -name '*.java')
"$java_home/bin/jar" --create --file "$out/lambda-java-core.jar" -C "$work/api" .
"$java_home/bin/javac" --release 17 -d "$work/rt" -cp "$out/lambda-java-core.jar:$(IFS=:; echo "${jars[*]}")" \
  $(find "$here/src" -name '*.java')
cp -r "$work/api/." "$work/rt/"
for j in "${jars[@]}"; do
  (cd "$work/rt" && "$java_home/bin/jar" --extract --file "$j")
done
rm -f "$work/rt/META-INF/MANIFEST.MF"
"$java_home/bin/jar" --create --file "$out/kumo-runtime.jar" -C "$work/rt" .

# Dynamic CDS archive from a training run (same JVM flags as the platform uses).
rm -f "$out/kumo.jsa"
(cd "$work" && env -i PATH=/usr/bin:/bin "$java_home/bin/java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -XX:ArchiveClassesAtExit="$out/kumo.jsa" -cp "$out/kumo-runtime.jar" kumo.Train >"$work/train.log" 2>&1) || {
  cat "$work/train.log" >&2; exit 1; }
[ -s "$out/kumo.jsa" ] || { cat "$work/train.log" >&2; echo "no CDS archive was written" >&2; exit 1; }
echo "java runtime built in $out"
