//! The vault object's snapshot note routes (`/__yaos/snapshot-files`,
//! `/__yaos/snapshot-file`, `/__yaos/snapshot-restore`; issue 24): the
//! Worker checked the request, the object reads the snapshot's notes from
//! the bucket and compares or restores them against the loaded document.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::*;
use yrs::Transact;

use crate::doc_model::restore::{Action, Planned, Restoring};
use crate::edge::http::Reply;
use crate::edge::snapshot_notes::MARKDOWN_CONTENT_TYPE;
use crate::room::vault_room::RestoreRefused;
use crate::snapshot::browse::{browse, RestoreOrder};
use crate::snapshot::manual_gate::MANUAL_SNAPSHOTS_PER_WINDOW;
use crate::snapshot::vault::{unavailable_json, VaultSnapshots};

use super::r2::{bucket, R2Bucket};
use super::room_host::RoomHost;
use super::room_snapshots::{stamp, LiveDoc};
use super::runtime::now_ms;

/// Trace event of a restore: who asked, from which snapshot, what each path
/// became, and the snapshot taken first.
pub const RESTORED_EVENT: &str = "snapshot-restored";

fn internal(e: impl std::fmt::Display) -> Error {
    Error::RustError(e.to_string())
}

/// The bucket and the body's `snapshotId` (and `path`), or the reply.
fn parts(host: &RoomHost, body: &[u8]) -> std::result::Result<(R2Bucket, Value), Reply> {
    let Some(bucket) = bucket(&host.env) else { return Err(Reply::json(503, unavailable_json())) };
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !body["snapshotId"].is_string() {
        return Err(Reply::error(400, "snapshotId missing"));
    }
    Ok((bucket, body))
}

/// `{snapshotId}` → the snapshot's notes against the live vault.
pub async fn files(host: &Rc<RoomHost>, body: &[u8]) -> Result<Reply> {
    let (bucket, body) = match parts(host, body) {
        Ok(parts) => parts,
        Err(reply) => return Ok(reply),
    };
    let id = body["snapshotId"].as_str().unwrap_or_default();
    host.ensure_loaded().await?;
    let room_id = host.room_id();
    let manifest = {
        // One decode of an unpacked snapshot at a time, and none during a
        // snapshot's own writing.
        let _turn = host.snapshot_lock.lock().await;
        VaultSnapshots::new(&bucket, &room_id).manifest(id).await
    };
    let manifest = match manifest {
        Ok(manifest) => manifest,
        Err(e) => return Ok(e.reply()),
    };
    let json = host.with_room(|room| browse(&room.doc().transact(), id, &manifest)).await?;
    Ok(Reply::bytes(200, "application/json", json))
}

/// `{snapshotId, path}` → that note's Markdown as of the snapshot.
pub async fn file(host: &Rc<RoomHost>, body: &[u8]) -> Result<Reply> {
    let (bucket, body) = match parts(host, body) {
        Ok(parts) => parts,
        Err(reply) => return Ok(reply),
    };
    let (id, path) = (body["snapshotId"].as_str().unwrap_or_default(), &body["path"]);
    let path = path.as_str().unwrap_or_default().to_owned();
    let room_id = host.room_id();
    let snapshots = VaultSnapshots::new(&bucket, &room_id);
    let manifest = {
        let _turn = host.snapshot_lock.lock().await;
        snapshots.manifest(id).await
    };
    let text = match manifest {
        Ok(manifest) => snapshots.note_texts(id, &manifest, &[path]).await,
        Err(e) => Err(e),
    };
    Ok(match text {
        Ok(mut texts) => {
            Reply::bytes(200, MARKDOWN_CONTENT_TYPE, texts.pop().unwrap_or_default().into_bytes())
        }
        Err(e) => e.reply(),
    })
}

/// `{snapshotId, paths, dryRun, device?}` → what restoring them does (a
/// dry run), or does: a manual snapshot first, then one durable edit.
pub async fn restore(host: &Rc<RoomHost>, body: &[u8]) -> Result<Reply> {
    let (bucket, _) = match parts(host, body) {
        Ok(parts) => parts,
        Err(reply) => return Ok(reply),
    };
    let RestoreOrder { snapshot_id: id, request } =
        serde_json::from_slice(body).map_err(internal)?;
    host.ensure_loaded().await?;
    let room_id = host.room_id();
    let snapshots = VaultSnapshots::new(&bucket, &room_id);
    // One restore at a time, never during a snapshot's writing.
    let _turn = host.snapshot_lock.lock().await;
    let texts = match snapshots.manifest(&id).await {
        // The manifest is dropped before the snapshot below is written.
        Ok(manifest) => snapshots.note_texts(&id, &manifest, &request.paths).await,
        Err(e) => Err(e),
    };
    let texts = match texts {
        Ok(texts) => texts,
        Err(e) => return Ok(e.reply()),
    };
    let notes: Vec<Restoring<'_>> =
        request.paths.iter().zip(&texts).map(|(path, text)| Restoring { path, text }).collect();
    let plan = host.with_room(|room| room.plan_restore(&notes)).await?;
    let nothing_to_do = plan.iter().all(|p| p.action == Action::Unchanged);
    if request.dry_run || nothing_to_do {
        return Ok(answer(&id, request.dry_run, &plan, None));
    }
    if let Err(retry_after) = host.manual_snapshots.borrow_mut().take(now_ms()) {
        let error = json!({
            "error": "too_many_snapshots",
            "message": format!(
                "a restore takes a manual snapshot first, and at most \
                 {MANUAL_SNAPSHOTS_PER_WINDOW} are taken a minute"
            ),
        });
        return Ok(Reply::json(429, error).with_header("Retry-After", retry_after.to_string()));
    }
    let device = request.device.clone();
    let before = match snapshots.create_manual(&LiveDoc(host), stamp(), device.clone()).await {
        Ok(outcome) => outcome.index.snapshot_id().map(str::to_owned),
        Err(e) => {
            let message =
                format!("the snapshot taken before a restore failed, nothing was restored: {e}");
            return Ok(Reply::json(
                502,
                json!({"error": "pre_restore_snapshot_failed", "message": message}),
            ));
        }
    };
    let result = host.restore(&notes, device.as_deref()).await?;
    let done = match &result {
        Ok(done) => done.as_slice(),
        Err(_) => plan.as_slice(),
    };
    let paths: Vec<Value> =
        done.iter().map(|p| json!({"path": p.path, "action": p.action})).collect();
    let data = json!({
        "snapshotId": id,
        "preRestoreSnapshotId": before,
        "requestedBy": device,
        "paths": paths,
        "durable": result.is_ok(),
    });
    host.trace(RESTORED_EVENT, data).await;
    Ok(match result {
        Ok(done) => answer(&id, false, &done, before.as_deref()),
        Err(refused) => {
            let code = match refused {
                RestoreRefused::ReadOnly => "storage_read_only",
                RestoreRefused::NotDurable(_) => "restore_not_durable",
            };
            let body = json!({
                "error": code,
                "message": refused.to_string(),
                "preRestoreSnapshotId": before,
            });
            Reply::json(503, body)
        }
    })
}

fn answer(id: &str, dry_run: bool, restored: &[Planned], before: Option<&str>) -> Reply {
    let mut body = json!({ "snapshotId": id, "dryRun": dry_run, "restored": restored });
    if let Some(before) = before {
        body["preRestoreSnapshotId"] = Value::from(before);
    }
    Reply::json(200, body)
}
