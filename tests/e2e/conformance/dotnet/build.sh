#!/usr/bin/env bash
# dotnet conformance function (Mono): Conformance.dll compiled with mcs against runtimes/dotnet's
# Amazon.Lambda.Core.dll, with .mdb symbols so stack traces carry file:line.
source "$(dirname "$0")/../lib.sh"
need mcs mono-complete
api="$work_root/dotnet-runtime"
"$repo_root/runtimes/dotnet/build.sh" "$api" >/dev/null
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
mcs -nologo -debug -target:library -out:"$stage/Conformance.dll" -r:"$api/Amazon.Lambda.Core.dll" \
  "$conf_dir"/dotnet/*.cs
zip_dir "$stage"
