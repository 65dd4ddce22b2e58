//! The admin key-value cleanup (spec 10.6): [`cleanup_kv`] deletes the legacy
//! keys ([`is_legacy_key`]) in batches of [`KvStore::BATCH_LIMIT`] once SQL holds the
//! document and the migration marker is present.

use serde_json::{json, Value};

use super::{has_marker, read_meta};
use crate::diagnostics::trace::TraceSink;
use crate::store::kv::KvStore;
use crate::store::legacy_kv::{CHECKPOINT_KEY_PREFIX, JOURNAL_KEY_PREFIX, LEGACY_DOCUMENT_KEY};
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;

/// The answer of the admin KV cleanup; [`CleanupOutcome::to_json`] is the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupOutcome {
    /// Refused: deleting would lose data.
    Aborted {
        error: String,
    },
    /// No legacy keys.
    Noop,
    Cleaned {
        keys_deleted: u64,
    },
    Failed {
        error: String,
    },
}

impl CleanupOutcome {
    /// The spec 10.6 JSON shapes.
    pub fn to_json(&self) -> Value {
        match self {
            CleanupOutcome::Aborted { error } => {
                json!({"status": "aborted", "keysDeleted": 0, "error": error})
            }
            CleanupOutcome::Noop => json!({"status": "noop", "keysDeleted": 0}),
            CleanupOutcome::Cleaned { keys_deleted } => {
                json!({"status": "cleaned", "keysDeleted": keys_deleted})
            }
            CleanupOutcome::Failed { error } => {
                json!({"status": "failed", "keysDeleted": 0, "error": error})
            }
        }
    }
}

/// True for the keys the cleanup deletes: `document` and the checkpoint and
/// journal keys.
pub fn is_legacy_key(key: &str) -> bool {
    key == LEGACY_DOCUMENT_KEY
        || key.starts_with(CHECKPOINT_KEY_PREFIX)
        || key.starts_with(JOURNAL_KEY_PREFIX)
}

/// Deletes the legacy keys once SQL holds the document (spec 10.6).
///
/// Refuses (`aborted`) while SQL is empty, and also, beyond the spec, while
/// legacy keys exist but the migration marker does not: SQL then may not
/// contain the legacy data (the load could not verify it) and the legacy keys
/// are the only copy.
pub async fn cleanup_kv<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
    trace: &mut dyn TraceSink,
) -> CleanupOutcome {
    match store.has_data() {
        Ok(true) => {}
        Ok(false) => {
            let error = "SQL storage is empty — refusing to delete KV data (would cause data loss)";
            return CleanupOutcome::Aborted { error: error.to_owned() };
        }
        Err(error) => return CleanupOutcome::Failed { error: error.to_string() },
    }
    match delete_legacy_keys(store, kv).await {
        Ok(Cleanup::Deleted(0)) => CleanupOutcome::Noop,
        Ok(Cleanup::Deleted(count)) => {
            trace.trace(
                "server.kv_cleanup_succeeded",
                json!({"keysFound": count, "keysDeleted": count}),
            );
            CleanupOutcome::Cleaned { keys_deleted: count }
        }
        Ok(Cleanup::Unmarked) => CleanupOutcome::Aborted {
            error: "SQL migration receipt is absent — refusing to delete KV data".to_owned(),
        },
        Err(error) => CleanupOutcome::Failed { error },
    }
}

enum Cleanup {
    Deleted(u64),
    Unmarked,
}

async fn delete_legacy_keys<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
) -> Result<Cleanup, String> {
    let listed = kv.list_prefix(LEGACY_DOCUMENT_KEY).await.map_err(|error| error.to_string())?;
    let keys: Vec<String> =
        listed.into_iter().map(|(key, _)| key).filter(|key| is_legacy_key(key)).collect();
    if keys.is_empty() {
        return Ok(Cleanup::Deleted(0));
    }
    let rows = read_meta(store)?;
    if !has_marker(&rows) {
        return Ok(Cleanup::Unmarked);
    }
    for batch in keys.chunks(K::BATCH_LIMIT) {
        kv.delete_many(batch).await.map_err(|error| error.to_string())?;
    }
    Ok(Cleanup::Deleted(keys.len() as u64))
}
