#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS each, one
# after another, after replaying the kept regression inputs
# (fuzz/regressions/<target>/: crashes once found, and seeds), starting from
# the committed minimised corpus (fuzz/seeds/<target>/, made with
# `cargo fuzz cmin` from long runs) plus whatever earlier runs on this machine
# left in fuzz/corpus/<target>/. Prints one summary line per target:
# executions, wall time and whether it found anything. A crash input lands in
# fuzz/artifacts/<target>/ and fails the run.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Stable Rust, no sanitizer (`-s none`): the code under test is safe Rust, and
# a panic, an abort or a stack overflow is what the targets look for.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
export PATH="$PWD/.tools/bin:$PATH"
command -v cargo-fuzz >/dev/null || bash scripts/setup.sh
cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "regressions/$target" "artifacts/$target"
  if compgen -G "regressions/$target/*" >/dev/null; then
    cargo fuzz run -s none "$target" "regressions/$target"/* -- -runs=1 >/dev/null 2>&1 \
      || { echo "$target: a kept regression input fails again"; status=1; }
  fi
  log="artifacts/$target/last-run.log"
  start=$(date +%s)
  # The kept inputs and the committed corpus also seed the run (libFuzzer
  # reads every corpus directory given and writes new inputs to the first).
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  if cargo fuzz run -s none "$target" "corpus/$target" "regressions/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 >"$log" 2>&1; then
    result="no crash"
  else
    result="FOUND $(ls "artifacts/$target" | grep -E '^(crash|oom|timeout)-' | head -1)"
    status=1
  fi
  runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  echo "$target: $runs executions in $(( $(date +%s) - start )) s, $result"
done
exit $status
