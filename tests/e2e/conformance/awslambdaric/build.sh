#!/usr/bin/env bash
# provided.al2023 function run by the real awslambdaric from PyPI: the python conformance function,
# awslambdaric's manylinux wheel for the sandbox's /usr/bin/python3 (Debian 12: cp311; no compiler
# needed) and its dependencies installed into the zip, and a `bootstrap` that starts it.
source "$(dirname "$0")/../lib.sh"
version=4.2.2
py="${CONFORMANCE_PIP_PYTHON:-python3}"
"$py" -m pip --version >/dev/null 2>&1 || {
  echo "missing pip for $py: install the Debian package python3-pip" >&2; exit 3; }
[ -x /usr/bin/python3 ] || { echo "missing /usr/bin/python3: install the Debian package python3" >&2; exit 3; }
target_py="$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
"$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --target "$stage" \
  --only-binary=:all: --platform manylinux2014_x86_64 --python-version "$target_py" --implementation cp \
  "awslambdaric==$version"
cp "$conf_dir/python/app.py" "$stage/"
cp "$conf_dir/awslambdaric/bootstrap" "$stage/bootstrap"
chmod 755 "$stage/bootstrap"
zip_dir "$stage"
