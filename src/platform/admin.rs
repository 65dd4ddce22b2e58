//! Admin operations on a vault room (spec 10.6), reachable only when
//! `YAOS_ENABLE_ADMIN_ROUTES` is set (the gate is checked before this runs).

use std::rc::Rc;

use serde_json::Value;
use worker::{console_warn, Error, Result};

use super::do_sql::DoSql;
use super::room_host::RoomHost;
use crate::diagnostics::trace::TraceLog;
use crate::migration::{cleanup_kv as cleanup_legacy_keys, CleanupOutcome};
use crate::store::sql_store::SqlDocStore;

/// Removes the legacy key-value document keys once SQL verifiably holds the
/// document. Loading first completes an interrupted migration's marker; an
/// activation that failed, or that fell back to the legacy data read-only,
/// refuses (the legacy keys may be the only loadable copy).
pub async fn cleanup_kv(host: &Rc<RoomHost>) -> Result<Value> {
    let allowed = match host.with_room(|room| room.may_clean_legacy_data()).await {
        Ok(allowed) => allowed,
        Err(e) => {
            console_warn!("cleanup-kv: the document did not load: {e}");
            false
        }
    };
    if !allowed {
        let error = "refusing: this activation did not load SQL cleanly; the legacy keys may be the only copy";
        return Ok(CleanupOutcome::Aborted { error: error.into() }.to_json());
    }
    // A second handle on the same database: the room's own store sits in a
    // RefCell that frames borrow, and cleanup awaits key-value deletes.
    let store = SqlDocStore::new(DoSql::new(host.state.storage()))
        .map_err(|e| Error::RustError(e.to_string()))?;
    let mut log = TraceLog::default();
    let outcome = cleanup_legacy_keys(&store, &host.kv(), &mut log).await;
    host.write_traces(log).await;
    Ok(outcome.to_json())
}

/// Emergency compaction: folds the journal into a fresh snapshot. Runs even
/// in the read-only fallback, as the original did.
pub async fn compact(host: &Rc<RoomHost>) -> Result<Value> {
    host.with_room(|room| room.compact_now().to_json()).await
}
