#!/usr/bin/env bash
# Runs every test: the lint gates, the native core tests (cargo test, real SQLite
# through rusqlite, proptest properties), a short run of every fuzz target, then
# the end-to-end suite against the real worker under `wrangler dev`. Installs
# what it needs first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

echo "== lint gates (rustfmt, clippy native and wasm32)"
cargo fmt --check
cargo fmt --check --manifest-path fuzz/Cargo.toml
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown -- -D warnings

echo "== native tests (cargo test)"
cargo test --locked

echo "== fuzz smoke (every cargo-fuzz target briefly, kept regression inputs replayed)"
bash scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-20}"

echo "== building the worker (wasm)"
bash scripts/build.sh

echo "== end-to-end tests (wrangler dev + real clients)"
# One server at a time: each test file starts its own wrangler dev.
# A hung test fails after 5 minutes instead of holding CI.
node --test --test-concurrency=1 --test-timeout=300000 'tests/e2e/*.test.mjs'
