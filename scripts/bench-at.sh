#!/usr/bin/env bash
# Runs the benchmark of another commit, for the "before" columns of
# engineering/benchmarks.md: checks COMMIT out in a worktree of its own (kept
# under $BENCH_AT_DIR, default /tmp/yaos-bench-at, and reused), then runs that
# commit's scripts/bench.sh there with the remaining arguments. The
# worktree's own set-up builds its worker and tools, so the first run takes
# several minutes.
#
#   scripts/bench-at.sh b1ded94 --frames 10000
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: scripts/bench-at.sh COMMIT [scripts/bench.sh arguments]}
shift
dir="${BENCH_AT_DIR:-/tmp/yaos-bench-at}/$(git rev-parse --short "$commit")"
if [ ! -d "$dir" ]; then
  git worktree add --detach "$dir" "$commit" >&2
  # The pinned cargo tools are the same across commits; reuse them if present.
  [ -d .tools ] && cp -r .tools "$dir/.tools"
fi
exec bash "$dir/scripts/bench.sh" "$@"
