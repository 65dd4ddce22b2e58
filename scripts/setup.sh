#!/usr/bin/env bash
# Installs everything the build, the local server and the tests need, into the
# repository itself (.tools/ for cargo-installed binaries, node_modules/ for the
# npm toolchain). Idempotent: a second run only checks versions.
# YAOS_SETUP=build installs only what building and deploying need (no
# cargo-fuzz, no Chromium): scripts/bundle.sh and the deploy workflow use it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

have_version() { # have_version BIN VERSION
  [ -x ".tools/bin/$1" ] && ".tools/bin/$1" --version 2>/dev/null | grep -q "$2"
}
if ! have_version worker-build "$WORKER_BUILD_VERSION"; then
  cargo install --root .tools worker-build --version "$WORKER_BUILD_VERSION" --locked
fi
if ! have_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  # --locked fails here: the registry lacks the webpki-roots version in its lockfile.
  cargo install --root .tools wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

build_only=false
[ "${YAOS_SETUP:-}" = build ] && build_only=true

if ! $build_only && ! have_version cargo-fuzz "$CARGO_FUZZ_VERSION"; then
  cargo install --root .tools cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# npm ci is exact but slow; skip it when node_modules already matches the lockfile.
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# The browser end-to-end test drives Debian's Chromium through playwright-core
# (no browser download). Install it once, as root, only when it is missing.
if ! $build_only && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  else
    echo "warning: /usr/bin/chromium is missing; run as root to install it (apt-get install chromium)" >&2
  fi
fi
