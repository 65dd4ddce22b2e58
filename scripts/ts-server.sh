#!/usr/bin/env bash
# Sets up one of the original TypeScript YAOS servers for side-by-side runs
# of the benchmark (tests/bench/bench.mjs --server-config DIR/wrangler.bench.toml):
#   scripts/ts-server.sh main DIR   the key-value server users have deployed
#   scripts/ts-server.sh sql  DIR   the SQL server (branch fix/sql-storage-migration)
# YAOS_TS_REPO names the kavinsood/yaos git repository to read (a URL or a
# local git directory; default: GitHub). Not part of scripts/test.sh.
#
# Changes to the original, all needed to run it here: y-partyserver 2.1.2 (its
# pin) is not on the npm registry, so 2.1.4 is used (the same server source);
# only runtime dependencies are installed (wrangler is this project's); the
# `main` server's config gets the local R2 bucket this project's local config
# binds (the `sql` branch's config already has it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

which=${1:?usage: scripts/ts-server.sh main|sql DIR}
dir=${2:?usage: scripts/ts-server.sh main|sql DIR}
case "$which" in
  main) commit=9b38168e67d52710c4766cbeb3dce73a695f9e9f ;; # main, 2026-05-30
  sql) commit=d7998d9d1c9dfe97f6df8f3c3cc2865f7e77e416 ;;  # fix/sql-storage-migration
  *) echo "usage: scripts/ts-server.sh main|sql DIR" >&2; exit 2 ;;
esac
repo=${YAOS_TS_REPO:-https://github.com/kavinsood/yaos.git}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -d "$repo" ]; then
  git --git-dir="$repo" archive "$commit" server | tar -x -C "$work"
else
  git -C "$work" init -q && git -C "$work" fetch -q --depth 1 "$repo" "$commit"
  git -C "$work" archive FETCH_HEAD server | tar -x -C "$work"
fi
rm -rf "$dir" && mkdir -p "$dir" && cp -R "$work/server/." "$dir/"
cd "$dir"
npm pkg set dependencies.y-partyserver=2.1.4
npm install --omit=dev --no-audit --no-fund
{
  echo "# Benchmark config: kavinsood/yaos $which server at $commit, its own"
  echo "# wrangler.toml unchanged (plus the local R2 bucket when it has none)."
  cat wrangler.toml
  if ! grep -q '^\[\[r2_buckets\]\]' wrangler.toml; then
    printf '\n[[r2_buckets]]\nbinding = "YAOS_BUCKET"\nbucket_name = "yaos"\n'
  fi
} > wrangler.bench.toml
echo "ready: node tests/bench/bench.mjs --server-config $dir/wrangler.bench.toml" >&2
