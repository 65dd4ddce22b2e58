//! Admin operations on a vault room (spec 10.6), reachable only when
//! `YAOS_ENABLE_ADMIN_ROUTES` is set (the gate is checked before this runs).

use std::rc::Rc;

use serde_json::Value;
use worker::{console_warn, Error, Result};

use super::do_sql::DoSql;
use super::room_host::RoomHost;
use crate::diagnostics::trace::TraceLog;
use crate::migration::cleanup_kv as cleanup_legacy_keys;
use crate::store::sql_store::SqlDocStore;

/// Removes the legacy key-value document keys once SQL verifiably holds the
/// document. Loading first completes an interrupted migration's marker; a
/// load that fails (corrupt legacy data) leaves SQL empty, and cleanup then
/// refuses on its own, so the failure is not an error here.
pub async fn cleanup_kv(host: &Rc<RoomHost>) -> Result<Value> {
    if let Err(e) = host.ensure_loaded().await {
        console_warn!("cleanup-kv: the document did not load: {e}");
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
