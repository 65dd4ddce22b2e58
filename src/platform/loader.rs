//! Loads a room's document from storage once per activation and reports how
//! (the debug JSON's `storage` section).

use serde::Serialize;
use worker::State;

use crate::persist::Policy;
use crate::room::protocol::Room;
use crate::store::sql_store::SqlDocStore;
use crate::store::{DocStore, JournalStats};
use crate::trace::{TraceLog, TraceSink};

use super::do_sql::DoSql;
use super::kv::DoKv;
use super::room_host::Live;
use super::runtime::now_ms;

/// How the document was loaded; serialized as the debug JSON's `storage`
/// (with the coordinator's `oversizedDeltaCount` added by the caller).
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageInfo {
    pub mode: Option<&'static str>,
    pub migration_status: Option<&'static str>,
    pub migration_at: Option<String>,
    pub migration_duration_ms: Option<u64>,
    pub cold_load_duration_ms: Option<u64>,
    #[serde(skip)]
    pub legacy_document_migrated: bool,
}

pub struct Loaded {
    pub live: Live,
    pub journal: JournalStats,
    pub policy: Policy,
    pub read_only: bool,
    pub info: StorageInfo,
}

fn clock() -> u64 {
    js_sys::Date::now() as u64
}

/// The coordinator policy for a room whose snapshot has this many bytes.
fn room_policy(snapshot_bytes: u64) -> Policy {
    Policy { scale_to_snapshot: true, ..Policy::default() }.scaled_to_snapshot(snapshot_bytes)
}

pub async fn load_room(
    state: &State,
    _kv: &DoKv,
    started_ms: u64,
    log: &mut TraceLog,
) -> Result<Loaded, String> {
    let store = SqlDocStore::new(DoSql::new(state.storage())).map_err(|e| e.to_string())?;
    let loaded = store.load().map_err(|e| e.to_string())?;
    let mut room = Room::new(clock);
    let has_snapshot = loaded.snapshot.is_some();
    let snapshot_bytes = loaded.snapshot.as_ref().map_or(0, |s| s.len() as u64);
    if let Some(snapshot) = loaded.snapshot {
        room.load_update(&snapshot).map_err(|e| e.to_string())?;
    }
    let journal_rows = loaded.journal.len();
    for update in loaded.journal {
        room.load_update(&update).map_err(|e| e.to_string())?;
    }
    let fresh = !has_snapshot && journal_rows == 0;
    log.trace(
        "checkpoint-load",
        serde_json::json!({
            "storage": "sql",
            "hasSnapshot": has_snapshot,
            "journalEntryCount": loaded.stats.entry_count,
            "journalBytes": loaded.stats.total_bytes,
        }),
    );
    let info = StorageInfo {
        mode: Some(if fresh { "fresh" } else { "sql" }),
        migration_status: Some(if fresh { "not_started" } else { "already_sql" }),
        cold_load_duration_ms: Some(now_ms().saturating_sub(started_ms)),
        ..StorageInfo::default()
    };
    Ok(Loaded {
        live: Live { room, store },
        journal: loaded.stats,
        policy: room_policy(snapshot_bytes),
        read_only: false,
        info,
    })
}
