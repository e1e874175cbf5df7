#!/usr/bin/env bash
# Builds the dotnet runtime (run by Mono) into OUT (default: ./out):
#   Amazon.Lambda.Core.dll  ILambdaContext, ILambdaLogger, ... (compile functions against it)
#   KumoBootstrap.exe       the bootstrap: mono KumoBootstrap.exe
# Needs mcs and Mono (Debian: mono-complete, or mono-mcs + mono-runtime); the runtime uses mscorlib
# and System.dll only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "${1:-$here/out}" && cd "${1:-$here/out}" && pwd)"
mcs -nologo -optimize+ -target:library -out:"$out/Amazon.Lambda.Core.dll" "$here"/Amazon.Lambda.Core/*.cs
mcs -nologo -optimize+ -target:exe -out:"$out/KumoBootstrap.exe" -r:"$out/Amazon.Lambda.Core.dll" \
  "$here"/Bootstrap/*.cs
echo "dotnet runtime built in $out"
