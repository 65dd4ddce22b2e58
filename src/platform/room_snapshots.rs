//! The vault object's snapshot routes (`/__yaos/snapshot`,
//! `/__yaos/snapshot-maybe`, `/__yaos/snapshot-prune`): the snapshot is
//! built next to the loaded document, one operation at a time per room, and
//! each records its trace (spec 7.4, 10.7).

use std::rc::Rc;

use serde_json::{json, Map, Value};
use worker::*;

use crate::edge::http::Reply;
use crate::edge::snapshots::device_of;
use crate::snapshot::manual_gate::MANUAL_SNAPSHOTS_PER_WINDOW;
use crate::snapshot::retention::DEFAULT_RETENTION;
use crate::snapshot::vault::{unavailable_json, DailyOutcome, DocAccess, Stamp, VaultSnapshots};

use super::r2::bucket;
use super::room_host::RoomHost;
use super::runtime::{now_ms, random_bytes};

/// Lends the room's loaded document to the snapshot code.
pub(super) struct LiveDoc<'a>(pub(super) &'a RoomHost);

impl DocAccess for LiveDoc<'_> {
    fn with_doc<R>(&self, f: impl FnOnce(&yrs::Doc) -> R) -> Option<R> {
        self.0.live.borrow().as_ref().map(|room| f(room.doc()))
    }
}

pub(super) fn stamp() -> Stamp {
    Stamp { now_ms: now_ms(), random: random_bytes::<4>() }
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::RustError(e.to_string())
}

/// Trace data with `triggeredBy` only when a device was named.
fn trace_data(fields: Value, device: &Option<String>) -> Value {
    let mut data = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(device) = device {
        data.insert("triggeredBy".into(), Value::from(device.as_str()));
    }
    Value::Object(data)
}

/// `POST /__yaos/snapshot`: a manual, pinned snapshot of the live document,
/// at most `MANUAL_SNAPSHOTS_PER_WINDOW` a minute (else 429 with
/// `Retry-After`), followed by retention, which keeps the newest manual ones.
pub async fn manual(host: &Rc<RoomHost>, body: &[u8]) -> Result<Reply> {
    let Some(bucket) = bucket(&host.env) else { return Ok(Reply::json(200, unavailable_json())) };
    if let Err(retry_after) = host.manual_snapshots.borrow_mut().take(now_ms()) {
        let error = json!({
            "error": "too_many_snapshots",
            "message": format!("at most {MANUAL_SNAPSHOTS_PER_WINDOW} manual snapshots a minute"),
        });
        return Ok(Reply::json(429, error).with_header("Retry-After", retry_after.to_string()));
    }
    host.ensure_loaded().await?;
    let device = device_of(body);
    let _turn = host.snapshot_lock.lock().await;
    let room_id = host.room_id();
    let outcome = VaultSnapshots::new(&bucket, &room_id)
        .create_manual(&LiveDoc(host), stamp(), device.clone())
        .await
        .map_err(failed)?;
    let data = trace_data(json!({"snapshotId": outcome.index.snapshot_id()}), &device);
    host.trace("snapshot-created-manual", data).await;
    // The manual cap is applied by retention; its failure is not the snapshot's.
    match VaultSnapshots::new(&bucket, &room_id)
        .apply_retention(DEFAULT_RETENTION, now_ms(), false)
        .await
    {
        Ok(r) if r.failed > 0 => {
            console_error!("snapshot retention: {} delete(s) failed", r.failed)
        }
        Ok(_) => {}
        Err(e) => console_error!("snapshot retention failed to list: {e}"),
    }
    Ok(Reply::json(200, outcome.to_json()))
}

/// `POST /__yaos/snapshot-maybe`: the daily snapshot unless nothing changed.
pub async fn maybe(host: &Rc<RoomHost>, body: &[u8]) -> Result<Value> {
    let device = device_of(body);
    let Some(bucket) = bucket(&host.env) else {
        host.trace("snapshot-created", trace_data(json!({"status": "unavailable"}), &device)).await;
        return Ok(unavailable_json());
    };
    host.ensure_loaded().await?;
    let _turn = host.snapshot_lock.lock().await;
    let room_id = host.room_id();
    let outcome = VaultSnapshots::new(&bucket, &room_id)
        .maybe_daily(&LiveDoc(host), stamp(), device.clone())
        .await
        .map_err(failed)?;
    match &outcome {
        DailyOutcome::Created { retention: Some(r), .. } if r.failed > 0 => {
            console_error!(
                "snapshot retention: {} delete(s) failed: {:?}",
                r.failed,
                &r.errors[..r.errors.len().min(5)]
            );
        }
        DailyOutcome::Created { retention: None, .. } => {
            console_error!("snapshot retention failed to list")
        }
        _ => {}
    }
    let json = outcome.to_json();
    let data =
        trace_data(json!({"status": json["status"], "snapshotId": outcome.snapshot_id()}), &device);
    host.trace("snapshot-created", data).await;
    Ok(json)
}

/// `POST /__yaos/snapshot-prune` with `{pruneLegacy}` (the Worker checked
/// the confirmation): retention now, traced.
pub async fn prune(host: &Rc<RoomHost>, body: &[u8]) -> Result<Value> {
    let Some(bucket) = bucket(&host.env) else {
        return Ok(json!({"error": "snapshots_unavailable"}));
    };
    let prune_legacy = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["pruneLegacy"].as_bool())
        .unwrap_or(false);
    let _turn = host.snapshot_lock.lock().await;
    let room_id = host.room_id();
    let outcome = VaultSnapshots::new(&bucket, &room_id)
        .apply_retention(DEFAULT_RETENTION, now_ms(), prune_legacy)
        .await
        .map_err(failed)?;
    host.trace("snapshot-retention-applied", outcome.trace_json(prune_legacy)).await;
    Ok(outcome.to_json())
}
