//! Loads a room's document once per activation: SQL, or a verified one-time
//! migration from the legacy key-value format, or the read-only fallback
//! (the decision lives in `store::migrate`; this adapts it to the room).

use worker::State;

use crate::persist::Policy;
use crate::room::protocol::Room;
use crate::store::migrate::{load_document, StorageStatus};
use crate::store::sql_store::SqlDocStore;
use crate::store::JournalStats;
use crate::trace::TraceLog;

use super::do_sql::DoSql;
use super::kv::DoKv;
use super::room_host::Live;
use super::runtime::now_ms;

pub struct Loaded {
    pub live: Live,
    pub journal: JournalStats,
    pub policy: Policy,
    pub read_only: bool,
    pub legacy_document_migrated: bool,
    pub status: StorageStatus,
}

/// The coordinator policy for a room whose snapshot has this many bytes:
/// the spec's thresholds, grown for large vaults (see `Policy::scaled_to_snapshot`).
fn room_policy(snapshot_bytes: u64) -> Policy {
    Policy { scale_to_snapshot: true, ..Policy::default() }.scaled_to_snapshot(snapshot_bytes)
}

pub async fn load_room(state: &State, kv: &DoKv, log: &mut TraceLog) -> Result<Loaded, String> {
    let store = SqlDocStore::new(DoSql::new(state.storage())).map_err(|e| e.to_string())?;
    let loaded = load_document(&store, kv, &now_ms, log).await.map_err(|e| e.to_string())?;
    let read_only = loaded.is_read_only();
    let snapshot_bytes = store.snapshot_size().map(|(_, bytes)| bytes).unwrap_or(0);
    Ok(Loaded {
        live: Live { room: Room::from_doc(loaded.doc, now_ms), store },
        journal: loaded.journal,
        policy: room_policy(snapshot_bytes),
        read_only,
        legacy_document_migrated: loaded.legacy_document_migrated,
        status: loaded.status,
    })
}
