#!/usr/bin/env bash
# provided.al2023 function run by the real awslambdaric from PyPI: the python conformance function,
# awslambdaric's cp311 manylinux wheel (no compiler needed) and its dependencies installed into the
# zip, and a `bootstrap` that starts it with the host's /usr/bin/python3 (Debian 12: 3.11).
source "$(dirname "$0")/../lib.sh"
version=4.2.2
py="${CONFORMANCE_PIP_PYTHON:-python3}"
"$py" -m pip --version >/dev/null 2>&1 || {
  echo "missing pip for $py: install the Debian package python3-pip" >&2; exit 3; }
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
"$py" -m pip install --quiet --disable-pip-version-check --no-compile --target "$stage" \
  --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  "awslambdaric==$version"
cp "$conf_dir/python/app.py" "$stage/"
cp "$conf_dir/awslambdaric/bootstrap" "$stage/bootstrap"
chmod 755 "$stage/bootstrap"
zip_dir "$stage"
