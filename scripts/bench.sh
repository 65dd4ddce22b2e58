#!/usr/bin/env bash
# Benchmarks the real worker under `wrangler dev` (local workerd): seeding,
# cold loads, edit-to-peer latency, throughput and memory. Not part of
# scripts/test.sh. Installs what it needs and builds the worker first, like
# scripts/test.sh; arguments go to tests/bench/bench.mjs, for example
#   scripts/bench.sh --notes 10000 --seconds 10
# (`--server-config PATH` benchmarks the server of another wrangler config, e.g. the TypeScript original's.)
# Prints one JSON line on stdout; progress and wrangler diagnostics go to stderr.
# `scripts/bench.sh --migration [--notes N]` instead times the one-time
# key-value-to-SQL migration of an N-note vault (tests/bench/migration.mjs).
# `scripts/bench.sh --snapshot [--notes N] [--runs R]` times daily and manual
# snapshots of an N-note vault and the wasm memory they add
# (tests/bench/snapshot.mjs).
# `scripts/bench.sh --compaction [--notes N]` measures echo latency while the
# journal of an N-note vault crosses the compaction threshold several times
# (tests/bench/compaction.mjs).
# `scripts/bench.sh --ceiling [--sizes 5000,10000,...] [--batch 500]` runs a
# vault through every heavy phase at growing sizes and reports the wasm
# memory of each (tests/bench/ceiling.mjs).
# `scripts/bench.sh --frames [N]` times each message of a fresh client's first
# sync of an N-note vault (tests/bench/fresh-frames.mjs).
# `scripts/bench.sh --profile [N S C K]` prints where the worker's CPU goes
# under the throughput load (tests/bench/profile.mjs, V8's sampling profiler
# through wrangler's inspector port).
# `scripts/bench.sh --typing [--keystrokes K] [--rate R] [--window MS]` types
# K keystrokes at R a second, one per transaction, with a second device
# watching: saves and SQL rows written per 1,000 keystrokes, acknowledgement
# and peer latency (tests/bench/typing.mjs).
# `scripts/bench.sh --deflate-window [N] [DIR...]` times zlib per compression
# window on the benchmark's notes and on real Markdown
# (tests/bench/deflate-window.mjs; no server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
source scripts/env.sh

echo "== building the worker (wasm)" >&2
bash scripts/build.sh >&2

echo "== benchmark (wrangler dev + real clients)" >&2
if [ "${1:-}" = "--typing" ]; then
  shift
  exec node tests/bench/typing.mjs "$@"
fi
if [ "${1:-}" = "--migration" ]; then
  shift
  exec node tests/bench/migration.mjs "$@"
fi
if [ "${1:-}" = "--compaction" ]; then
  shift
  exec node --max-old-space-size=8192 tests/bench/compaction.mjs "$@"
fi
if [ "${1:-}" = "--profile" ]; then
  shift
  exec node --max-old-space-size=8192 tests/bench/profile.mjs "$@"
fi
if [ "${1:-}" = "--deflate-window" ]; then
  shift
  exec node tests/bench/deflate-window.mjs "$@"
fi
if [ "${1:-}" = "--frames" ]; then
  shift
  exec node --max-old-space-size=8192 tests/bench/fresh-frames.mjs "$@"
fi
if [ "${1:-}" = "--ceiling" ]; then
  shift
  exec node --max-old-space-size=8192 tests/bench/ceiling.mjs "$@"
fi
if [ "${1:-}" = "--snapshot" ]; then
  shift
  exec node --max-old-space-size=8192 tests/bench/snapshot.mjs "$@"
fi
# The Node clients hold several copies of the vault at once (one Y.Doc each).
exec node --max-old-space-size=8192 tests/bench/bench.mjs "$@"
