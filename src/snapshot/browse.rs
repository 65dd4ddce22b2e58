//! Browsing a snapshot against the live vault, and what a restore request
//! may ask: each of the snapshot's notes with its state now (active,
//! deleted, absent) and whether its text changed since; the notes added
//! since; and the checks a requested path and a restore body pass.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Serialize;
use thiserror::Error;
use yrs::ReadTxn;

use super::notes_pack::{text_hash, NotesManifest};
use crate::doc_model::notes::{note_text, PathIndex};

/// The most notes one restore request may name.
pub const MAX_RESTORE_PATHS: usize = 100;
/// The most text (UTF-8 bytes, summed) one restore may write: it goes to
/// every device as one update.
pub const MAX_RESTORE_TEXT_BYTES: u64 = 8 * 1024 * 1024;
/// The longest note path accepted (UTF-8 bytes).
pub const MAX_NOTE_PATH_BYTES: usize = 1024;

/// A snapshot note's state in the live vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Now {
    /// A note holds the path now.
    Active,
    /// The path has only tombstones now (deleted on some device).
    Deleted,
    /// The path is unknown now (renamed away, or its tombstone is gone).
    Absent,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BrowsedNote<'a> {
    path: &'a str,
    bytes: u64,
    now: Now,
    /// The live text differs from the snapshot's (active notes only).
    changed: bool,
}

#[derive(Debug, Serialize)]
struct Comparison<'a> {
    /// Active now, not in the snapshot.
    added: Vec<&'a str>,
    /// In the snapshot, not active now.
    deleted: Vec<Cow<'a, str>>,
    /// In both, with another text now.
    changed: Vec<Cow<'a, str>>,
    unchanged: usize,
}

/// `GET …/snapshots/<id>/files`: the snapshot's notes against the live
/// document `txn` reads, as the JSON answer
/// `{snapshotId, schemaVersion, notes: [{path, bytes, now, changed}],
/// comparison: {added, deleted, changed, unchanged}}`.
///
/// Written note by note into a buffer sized from the manifest, holding one
/// live note's text at a time and no per-note structure: at 25,000 notes
/// the manifest, the live path index and this answer are what it holds
/// (engineering/benchmarks.md).
pub fn browse<T: ReadTxn>(txn: &T, snapshot_id: &str, manifest: &NotesManifest) -> Vec<u8> {
    let live = PathIndex::of(txn);
    let mut out = Vec::with_capacity(manifest.answer_capacity());
    let head =
        serde_json::json!({"snapshotId": snapshot_id, "schemaVersion": manifest.schema_version()});
    let head = head.to_string();
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(br#","notes":["#);
    let mut comparison =
        Comparison { added: Vec::new(), deleted: Vec::new(), changed: Vec::new(), unchanged: 0 };
    // The live paths in order, walked with the manifest's (both sorted by
    // path) to find the ones the snapshot lacks.
    let mut live_paths = live.active.keys().peekable();
    for (i, note) in manifest.notes().enumerate() {
        let path = note.path;
        while let Some(live_path) = live_paths.next_if(|p| p.as_ref() < path.as_ref()) {
            comparison.added.push(live_path);
        }
        live_paths.next_if(|p| p.as_ref() == path.as_ref());
        let id = live.active.get(path.as_ref());
        let now = match id {
            Some(_) => Now::Active,
            None if live.tombstoned.contains_key(path.as_ref()) => Now::Deleted,
            None => Now::Absent,
        };
        let changed = id
            .is_some_and(|id| note_text(txn, id).is_none_or(|text| text_hash(&text) != note.hash));
        if i > 0 {
            out.push(b',');
        }
        let browsed = BrowsedNote { path: &path, bytes: note.bytes, now, changed };
        // Writing to a Vec fails only if serializing does; these fields
        // always serialize.
        let _ = serde_json::to_writer(&mut out, &browsed);
        match (now, changed) {
            (Now::Active, true) => comparison.changed.push(path),
            (Now::Active, false) => comparison.unchanged += 1,
            _ => comparison.deleted.push(path),
        }
    }
    comparison.added.extend(live_paths.map(|p| p.as_ref()));
    out.extend_from_slice(br#"],"comparison":"#);
    let _ = serde_json::to_writer(&mut out, &comparison);
    out.push(b'}');
    out
}

/// A request the snapshot routes refuse.
#[derive(Debug, Error, PartialEq)]
pub enum RequestError {
    #[error("{0}")]
    Invalid(String),
    #[error("invalid note path {path:?}: {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("{given} paths asked, at most {MAX_RESTORE_PATHS} per restore")]
    TooManyPaths { given: usize },
    #[error(
        "{bytes} bytes of text to restore, over the limit of {MAX_RESTORE_TEXT_BYTES} per restore"
    )]
    TooMuchText { bytes: u64 },
}

/// A note path as the plugin writes one (vault-relative, `/`-separated):
/// anything else cannot be a snapshot's note and is refused before any
/// read.
pub fn check_note_path(path: &str) -> Result<(), RequestError> {
    let why = if path.is_empty() {
        Some("empty")
    } else if path.len() > MAX_NOTE_PATH_BYTES {
        Some("longer than 1024 bytes")
    } else if path.chars().any(char::is_control) {
        Some("a control character")
    } else if path.starts_with('/') || path.contains('\\') {
        Some("not a vault-relative path")
    } else if path.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        Some("an empty, `.` or `..` segment")
    } else {
        None
    };
    match why {
        Some(why) => Err(RequestError::InvalidPath { path: path.chars().take(200).collect(), why }),
        None => Ok(()),
    }
}

/// `POST …/restore`'s body, checked; with `snapshotId` added, the body the
/// Worker sends the vault's object (`/__yaos/snapshot-restore`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    /// Distinct, valid paths, in the order asked.
    pub paths: Vec<String>,
    pub dry_run: bool,
    /// Who asked, as the body names itself (a device name, bounded).
    pub device: Option<String>,
}

/// A checked restore request for one snapshot (the internal body).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOrder {
    pub snapshot_id: String,
    #[serde(flatten)]
    pub request: RestoreRequest,
}

/// Parses `{"paths": [...], "dryRun": bool, "device"?: string}`.
pub fn parse_restore_request(body: &[u8]) -> Result<RestoreRequest, RequestError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        paths: Vec<String>,
        #[serde(default)]
        dry_run: bool,
        device: Option<String>,
    }
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| RequestError::Invalid(format!("invalid restore body: {e}")))?;
    if body.paths.is_empty() {
        return Err(RequestError::Invalid("no paths to restore".into()));
    }
    if body.paths.len() > MAX_RESTORE_PATHS {
        return Err(RequestError::TooManyPaths { given: body.paths.len() });
    }
    let mut seen = HashSet::new();
    let mut paths = Vec::with_capacity(body.paths.len());
    for path in body.paths {
        check_note_path(&path)?;
        if seen.insert(path.clone()) {
            paths.push(path);
        }
    }
    let device = body.device.as_deref().and_then(crate::room::vault_room::device_name);
    Ok(RestoreRequest { paths, dry_run: body.dry_run, device })
}
