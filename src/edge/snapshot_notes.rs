//! The snapshot note routes at the edge (issue 24): what a request names
//! (`/vault/<id>/snapshots/<snapshotId>/files[/<path>]`, `…/restore`),
//! checked before the vault's object wakes, and the JSON a failure becomes.

use serde_json::{json, Value};

use super::http::Reply;
use super::js::decode_uri_component;
use crate::snapshot::browse::{
    check_note_path, RequestError, MAX_RESTORE_PATHS, MAX_RESTORE_TEXT_BYTES,
};
use crate::snapshot::id::day_from_snapshot_id;
use crate::snapshot::notes_pack::PackError;
use crate::snapshot::vault_notes::NotesError;

/// The note route's content type.
pub const MARKDOWN_CONTENT_TYPE: &str = "text/markdown; charset=utf-8";

/// A snapshot ID that names a day (the only ones stored), else a 404 reply:
/// an ID that cannot exist never wakes the vault's object.
pub fn check_snapshot_id(id: &str) -> Result<(), Reply> {
    match day_from_snapshot_id(id) {
        Some(_) => Ok(()),
        None => Err(NotesError::SnapshotNotFound(id.to_owned()).reply()),
    }
}

/// The note path of `…/files/<segments>`: each segment percent-decoded
/// (a whole path encoded with `%2F` decodes the same), joined with `/`,
/// and checked as a vault path.
pub fn note_path_of(segments: &[String]) -> Result<String, Reply> {
    let mut decoded = Vec::with_capacity(segments.len());
    for segment in segments {
        let Some(part) = decode_uri_component(segment) else {
            return Err(RequestError::Invalid(
                "the note path is not valid percent-encoding".into(),
            )
            .reply());
        };
        decoded.push(part);
    }
    let path = decoded.join("/");
    check_note_path(&path).map_err(|e| e.reply())?;
    Ok(path)
}

/// The internal body naming a snapshot (and a note) for the vault's object.
pub fn notes_body(snapshot_id: &str, path: Option<&str>) -> Vec<u8> {
    let mut body = json!({ "snapshotId": snapshot_id });
    if let Some(path) = path {
        body["path"] = Value::from(path);
    }
    body.to_string().into_bytes()
}

fn error(status: u16, code: &str, message: String, extra: Value) -> Reply {
    let mut body = json!({ "error": code, "message": message });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    Reply::json(status, body)
}

impl RequestError {
    pub fn reply(&self) -> Reply {
        let message = self.to_string();
        match self {
            RequestError::Invalid(_) => error(400, "invalid_request", message, json!({})),
            RequestError::InvalidPath { .. } => error(400, "invalid_path", message, json!({})),
            RequestError::TooManyPaths { .. } => {
                error(400, "too_many_paths", message, json!({ "limit": MAX_RESTORE_PATHS }))
            }
            RequestError::TooMuchText { .. } => {
                error(413, "restore_too_large", message, json!({ "limit": MAX_RESTORE_TEXT_BYTES }))
            }
        }
    }
}

impl NotesError {
    pub fn reply(&self) -> Reply {
        let message = self.to_string();
        match self {
            NotesError::SnapshotNotFound(_) => error(404, "snapshot_not_found", message, json!({})),
            NotesError::NotInSnapshot(paths) => {
                error(404, "note_not_in_snapshot", message, json!({ "paths": paths }))
            }
            NotesError::Request(e) => e.reply(),
            NotesError::Pack(
                PackError::PayloadTooLarge { limit, .. }
                | PackError::ManifestTooLarge { limit, .. },
            ) => error(413, "snapshot_too_large", message, json!({ "limit": limit })),
            NotesError::Pack(_) => error(500, "snapshot_unreadable", message, json!({})),
            NotesError::Bucket(_) => error(502, "bucket_error", message, json!({})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn note_paths_decode_per_segment_or_whole_and_bad_ones_are_refused() {
        assert_eq!(note_path_of(&segments(&["Notes", "a%20b.md"])).unwrap(), "Notes/a b.md");
        assert_eq!(note_path_of(&segments(&["Notes%2Fa.md"])).unwrap(), "Notes/a.md");
        for bad in [&["..", "x.md"][..], &["a%2F..%2Fb.md"], &["%E0%A4"], &["a%00.md"]] {
            let reply = note_path_of(&segments(bad)).unwrap_err();
            assert_eq!(reply.status, 400, "{bad:?}");
        }
    }

    #[test]
    fn snapshot_ids_that_name_no_day_are_404_at_the_edge() {
        assert_eq!(check_snapshot_id("nonsense").unwrap_err().status, 404);
    }
}
