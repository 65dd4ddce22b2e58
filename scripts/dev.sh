#!/usr/bin/env bash
# Builds and runs the server locally: wrangler dev on local workerd, listening
# on 127.0.0.1:${PORT:-8787}, with SQLite persistence in .wrangler/state.
# Extra arguments go to wrangler (e.g. --var SYNC_TOKEN:secret-token).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --local \
  --persist-to .wrangler/state --show-interactive-dev-session=false "$@"
