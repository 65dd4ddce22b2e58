//! Admin operations on a vault room (spec 10.6), reachable only when
//! `YAOS_ENABLE_ADMIN_ROUTES` is set (the gate is checked before this runs).

use std::rc::Rc;

use serde_json::Value;
use worker::{console_warn, Error, Result};

use super::do_sql::DoSql;
use super::room_host::RoomHost;
use super::runtime::now_ms;
use crate::diagnostics::trace::TraceLog;
use crate::migration::repair::{plan, repair};
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

/// Emergency compaction: folds the journal into a fresh snapshot. Refused
/// (`aborted`) in the read-only fallback, unlike the original.
pub async fn compact(host: &Rc<RoomHost>) -> Result<Value> {
    // Logged before the rewrite, so an operator (and the crash test that
    // kills workerd inside it) can tell a compaction that started from one
    // that never ran.
    console_warn!("debug/compact: emergency compaction started");
    host.with_room(|room| room.compact_now().to_json()).await
}

/// Repairs a vault stuck read-only by a failed resume check
/// (`migration::repair`): without `{"confirm": true}` a dry run that says
/// what it would do; with it, the repair, after which the room is loaded
/// again from the repaired SQL data (writable, acknowledging edits). The
/// legacy keys are never deleted here.
pub async fn repair_migration(host: &Rc<RoomHost>, body: &[u8]) -> Result<Value> {
    let confirmed = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("confirm").and_then(Value::as_bool))
        .unwrap_or(false);
    let store = SqlDocStore::new(DoSql::new(host.state.storage()))
        .map_err(|e| Error::RustError(e.to_string()))?;
    let kv = host.kv();
    let outcome =
        if confirmed { repair(&store, &kv, now_ms()).await } else { plan(&store, &kv).await };
    let plan = match outcome {
        Ok(plan) => plan,
        Err(e) => return Ok(serde_json::json!({"status": "failed", "error": e.to_string()})),
    };
    let status = match (plan.applicable, confirmed) {
        (false, _) => "not_applicable",
        (true, false) => "dry_run",
        (true, true) => "repaired",
    };
    if status == "repaired" {
        // The read-only room goes; the next request or frame loads the
        // repaired data, and its sockets are asked to sync again.
        host.unload();
        console_warn!("repair-migration: the vault was repaired and will reload from SQL");
    }
    let mut json = serde_json::to_value(&plan)?;
    json["status"] = status.into();
    Ok(json)
}
