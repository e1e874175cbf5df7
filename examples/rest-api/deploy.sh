#!/bin/sh
# Deploys the to-do API to Kumo and gives it a public function URL, printed at the end.
# Uses the `kumo` CLI (override with KUMO=/path/to/kumo); the endpoint comes from KUMO_ENDPOINT
# (default http://127.0.0.1:9900) and the key from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
# the server's data directory (--data-dir DIR, passed through).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "${KUMO:-kumo}" deploy "$here/src" --name "${NAME:-todo-api}" --runtime python3.11 \
  --handler app.handler --url "${AUTH_TYPE:-NONE}" "$@"
