#!/usr/bin/env bash
# Usage: .ci/graphql-http-audit/run.sh URL TOKEN
#   e.g. run.sh http://127.0.0.1:8000/graphql "$TOKEN"   (a token from `licensing token ...`)
# Installs the pinned graphql-http (npm ci, from package-lock.json) and runs every server audit;
# exits non-zero if any audit warns or errors.
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 URL TOKEN" >&2
  exit 2
fi
cd "$(dirname "$0")"
npm ci --silent --no-audit --no-fund
GRAPHQL_URL="$1" GRAPHQL_TOKEN="$2" exec node audit.mjs
