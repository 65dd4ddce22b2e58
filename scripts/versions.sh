# Tool versions, pinned in one place. wasm-bindgen must equal the crate's
# `=` pin in Cargo.toml; the npm tools are pinned in package.json.
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130
CARGO_FUZZ_VERSION=0.13.2
