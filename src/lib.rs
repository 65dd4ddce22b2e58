//! YAOS sync server: the Rust replacement for the TypeScript Cloudflare Worker
//! that syncs Obsidian vaults held in one Yjs document per vault.
//!
//! Layering, lowest first (enforced by Cargo: `worker` and friends are
//! wasm-only deps; the full map is `engineering/design.md`):
//! - [`hex`], [`safe_int`], [`settings`], [`wire_check`], [`update_pieces`],
//!   [`doc_model`]: leaf helpers (operator settings read among them), the total checks of lib0 input before yrs decodes it, a
//!   stored update cut into smaller ones, the YAOS document model.
//! - [`store`]: `SqlDocStore` over the small [`store::sql::SqlExec`] trait,
//!   the key-value seam, the legacy reader; [`diagnostics`] (traces) on the
//!   key-value seam; [`migration`] over both stores.
//! - [`persist`]: the persistence coordinator (append, fallback, compaction).
//! - [`room`]: the vault room ([`room::vault_room::VaultRoom`]) and its protocol.
//! - [`snapshot`] over [`bucket`]: snapshots on R2 (layout, dedup, retention).
//! - [`edge`], [`internal_routes`]: the stateless Worker logic and the
//!   Worker-to-object routes.
//! - `platform` (wasm32 only): the `workers-rs` shell adapting Durable Object
//!   SQLite, key-value storage, R2 and WebSockets to the core traits.
//!
//! Everything outside `platform` runs natively under `cargo test`.

pub mod bucket;
pub mod diagnostics;
pub mod doc_model;
pub mod edge;
pub mod encode;
pub mod hex;
pub mod internal_routes;
pub mod migration;
pub mod persist;
pub mod room;
pub mod safe_int;
pub mod settings;
pub mod snapshot;
pub mod store;
pub mod update_pieces;
pub mod wire_check;

#[cfg(target_arch = "wasm32")]
mod platform;
