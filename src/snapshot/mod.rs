//! Vault snapshots on R2 (spec 7.4, 10.7): gzipped full updates with an
//! index each, a latest pointer, daily dedup and retention.
//!
//! - [`id`]: snapshot IDs and the day recovered from them.
//! - [`index`]: the facts read off the document and the `index.json` shape.
//! - [`manual_gate`]: the rate limit on manual snapshots.
//! - [`payload`]: the gzip payload and the full-update hash, streamed.
//! - [`retention`]: which snapshots to keep, a pure function.
//! - [`vault`]: one vault's snapshots over a [`crate::bucket::Bucket`].

pub mod browse;
pub mod id;
pub mod index;
pub mod manual_gate;
pub mod notes_pack;
pub mod payload;
pub mod retention;
pub mod vault;
pub mod vault_notes;
