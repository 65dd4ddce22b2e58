#!/usr/bin/env bash
# Builds and runs the server locally: wrangler dev on local workerd, listening
# on 127.0.0.1:${PORT:-8787}, with the Durable Objects' SQLite data and a local
# R2 bucket (attachments, snapshots) kept in .wrangler/state across restarts.
# Extra arguments go to wrangler (e.g. --var SYNC_TOKEN:secret-token).
# NO_BUCKET=1 runs the text-only shape, as a deployment without R2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bash scripts/build.sh
config=$(node scripts/local-config.mjs ${NO_BUCKET:+--no-bucket})
exec wrangler dev --config "$config" --ip 127.0.0.1 --port "${PORT:-8787}" --local \
  --persist-to .wrangler/state --show-interactive-dev-session=false "$@"
