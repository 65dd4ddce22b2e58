#!/usr/bin/env bash
# The `[build] command` of wrangler.toml: compiles the worker to wasm with
# worker-build, pointed at the project's own wasm-bindgen, wasm-opt and esbuild
# so that it never tries to download them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
for bin in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN" "$ROOT/.tools/bin/worker-build"; do
  [ -x "$bin" ] || { echo "missing $bin: run scripts/setup.sh" >&2; exit 1; }
done
exec worker-build --release
