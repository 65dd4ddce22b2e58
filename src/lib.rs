//! YAOS sync server: the Rust replacement for the TypeScript Cloudflare Worker
//! that syncs Obsidian vaults held in one Yjs document per vault.
//!
//! Layering (enforced by Cargo: `worker` and friends are wasm-only deps):
//! - [`store`]: `SqlDocStore` over the small [`store::sql::SqlExec`] trait.
//! - [`persist`]: the persistence coordinator (append, fallback, compaction).
//! - [`edge`]: the stateless Worker logic: route classification, capabilities.
//! - [`room`]: the vault room's protocol logic over `yrs::sync`.
//! - [`snapshot`] over [`bucket`]: snapshots on R2 (layout, dedup, retention).
//! - `platform` (wasm32 only): the `workers-rs` shell adapting Durable Object
//!   SQLite, key-value storage and WebSockets to the core traits.
//!
//! Everything outside `platform` runs natively under `cargo test`.

pub mod bucket;
pub mod edge;
pub mod encode;
pub mod hex;
pub mod persist;
pub mod room;
pub mod snapshot;
pub mod store;
pub mod timefmt;
pub mod trace;

#[cfg(target_arch = "wasm32")]
mod platform;
