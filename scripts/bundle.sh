#!/usr/bin/env bash
# Builds the worker and assembles the deployable bundle (scripts/bundle.mjs):
# a directory, and a .tar.gz of it, from which `npm install && npx wrangler
# deploy` deploys with Node alone.
#   scripts/bundle.sh [OUT]     # default dist/yaos-server
set -euo pipefail
cd "$(dirname "$0")/.."
YAOS_SETUP=build bash scripts/setup.sh >&2
source scripts/env.sh
bash scripts/build.sh >&2
out=$(node scripts/bundle.mjs "${1:-dist/yaos-server}")
tar -czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")"
echo "$out"
echo "$out.tar.gz"
