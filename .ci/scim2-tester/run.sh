#!/usr/bin/env bash
# Usage: .ci/scim2-tester/run.sh BASE_URL TOKEN
#   e.g. run.sh http://127.0.0.1:8000/scim/v2 "$(licensing scim tokens create --tenant audit | tail -n1)"
# Installs the pinned scim2-tester in a venv of its own and runs every check; exits non-zero if
# any check fails (none is masked: see check.py).
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 BASE_URL TOKEN" >&2
  exit 2
fi
cd "$(dirname "$0")"
VENV="${SCIM2_TESTER_VENV:-/tmp/scim2-tester-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -r requirements.txt
exec "$VENV/bin/python" check.py "$1" "$2"
