//! Request bodies are read against a limit named per route, never whole.
//!
//! The TypeScript server read every JSON body whole (`Request.json()`), so a
//! 40 MB body of junk posted to `/claim` (no credential needed) was copied
//! into the isolate's wasm memory, which never shrinks, before anything
//! looked at it. Here every route that reads a body has a limit in
//! [`body_limit`]; the shell checks a declared `Content-Length` against it
//! before reading, then reads the stream in pieces through [`BoundedBody`],
//! which refuses the first piece that would pass the limit before it is
//! copied. A body past its limit is `413` ([`EdgeError::BodyTooLarge`]).
//! Routes that can answer without the body (auth, a missing bucket, a claimed
//! server) answer before reading it; see `config_rules::claim_refused_unread`.
//!
//! Blob uploads (`PUT blobs/<hash>`) have their own rules (spec 7.3, 10 MiB,
//! streamed to R2 without entering wasm memory; `super::blobs`).

use super::blobs::parse_content_length;
use super::http::EdgeError;
use super::router::{Route, VaultAction};

/// `POST /claim`: `{token, vaultId?}`. A token is a few dozen characters;
/// this is room for tokens and IDs far longer than the plugin makes.
pub const MAX_CLAIM_BODY_BYTES: u64 = 16 * 1024;
/// `POST /api/update-metadata`: three short fields (the branch is at most
/// 120 characters, the repository URL one URL).
pub const MAX_UPDATE_METADATA_BODY_BYTES: u64 = 16 * 1024;
/// `POST blobs/exists`: `{hashes}`. Only the first 50 hashes count, but the
/// plugin may send more; 256 KiB holds about 3,800 of them.
pub const MAX_BLOBS_EXIST_BODY_BYTES: u64 = 256 * 1024;
/// `POST snapshots`, `snapshots/maybe`, `snapshots/prune`: `{device?}` or
/// `{pruneLegacy?, confirmLegacyPrune?}`.
pub const MAX_SNAPSHOT_BODY_BYTES: u64 = 16 * 1024;
/// `POST snapshots/<id>/restore`: `{paths, dryRun, device?}`, at most 100
/// paths of up to 1 KiB each (`snapshot::browse`), with room for escapes.
pub const MAX_RESTORE_BODY_BYTES: u64 = 256 * 1024;
/// `POST debug/repair-migration`: `{confirm?}`.
pub const MAX_ADMIN_BODY_BYTES: u64 = 16 * 1024;
/// Empty pieces a body stream may yield before it is refused: every other
/// piece carries at least one byte, so with this the read loop is bounded
/// by the limit.
pub const MAX_EMPTY_BODY_PIECES: u32 = 64;

/// The body limit of a route that reads its body, `None` for one that never
/// reads it (or, for a blob upload, has its own rules in `super::blobs`).
pub fn body_limit(route: &Route) -> Option<u64> {
    match route {
        Route::Claim => Some(MAX_CLAIM_BODY_BYTES),
        Route::UpdateMetadata => Some(MAX_UPDATE_METADATA_BODY_BYTES),
        Route::Vault { action, .. } => vault_body_limit(action),
        _ => None,
    }
}

/// [`body_limit`] of a vault route.
pub fn vault_body_limit(action: &VaultAction) -> Option<u64> {
    use VaultAction::*;
    match action {
        BlobsExist => Some(MAX_BLOBS_EXIST_BODY_BYTES),
        CreateSnapshot | MaybeSnapshot | PruneSnapshots => Some(MAX_SNAPSHOT_BODY_BYTES),
        DebugRepairMigration => Some(MAX_ADMIN_BODY_BYTES),
        RestoreSnapshot { .. } => Some(MAX_RESTORE_BODY_BYTES),
        IssueTicket
        | DebugRecent
        | Devices
        | DebugCompact
        | DebugCleanupKv
        | PutBlob { .. }
        | GetBlob { .. }
        | ListSnapshots
        | SnapshotStatus
        | GetSnapshot { .. }
        | SnapshotFiles { .. }
        | SnapshotFile { .. } => None,
    }
}

/// A body being read piece by piece, never past its limit.
#[derive(Debug)]
pub struct BoundedBody {
    max_bytes: u64,
    bytes: Vec<u8>,
    empty_pieces: u32,
}

impl BoundedBody {
    /// Starts a read, refusing unread a body whose `Content-Length` declares
    /// more than `max_bytes`. The header can lie or be absent (chunked
    /// encoding), so the pieces are counted too; a header that does not parse
    /// is left to that count.
    pub fn start(max_bytes: u64, content_length: Option<&str>) -> Result<Self, EdgeError> {
        let declared = content_length.and_then(parse_content_length);
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(EdgeError::BodyTooLarge(max_bytes));
        }
        // Reserve what was declared (never more than the limit), so an
        // honest body is copied once.
        let capacity = usize::try_from(declared.unwrap_or(0).min(max_bytes)).unwrap_or(0);
        Ok(Self { max_bytes, bytes: Vec::with_capacity(capacity), empty_pieces: 0 })
    }

    /// Takes a piece of `len` bytes, which `fill` copies into the slot it is
    /// given, or refuses it (without calling `fill`) if the body would pass
    /// the limit. The shell copies from JavaScript this way, so a refused
    /// piece never enters wasm memory.
    pub fn push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<(), EdgeError> {
        if len == 0 {
            self.empty_pieces += 1;
            if self.empty_pieces > MAX_EMPTY_BODY_PIECES {
                return Err(EdgeError::BodyTooLarge(self.max_bytes));
            }
            return Ok(());
        }
        let total = (self.bytes.len() as u64).saturating_add(len as u64);
        if total > self.max_bytes {
            return Err(EdgeError::BodyTooLarge(self.max_bytes));
        }
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        fill(&mut self.bytes[start..]);
        Ok(())
    }

    /// [`Self::push_with`] for a piece already in memory.
    pub fn push(&mut self, piece: &[u8]) -> Result<(), EdgeError> {
        self.push_with(piece.len(), |slot| slot.copy_from_slice(piece))
    }

    /// The whole body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::router::classify;

    #[test]
    fn a_declared_length_past_the_limit_is_refused_unread() {
        assert_eq!(BoundedBody::start(10, Some("11")).err(), Some(EdgeError::BodyTooLarge(10)));
        assert_eq!(
            BoundedBody::start(10, Some("40000000")).err(),
            Some(EdgeError::BodyTooLarge(10))
        );
        for ok in [None, Some("10"), Some(" 0 "), Some("junk"), Some("")] {
            assert!(BoundedBody::start(10, ok).is_ok(), "{ok:?}");
        }
        let reply = EdgeError::BodyTooLarge(MAX_CLAIM_BODY_BYTES).reply();
        assert_eq!(reply.status, 413);
        assert_eq!(
            reply.body,
            crate::edge::http::Body::Json(
                serde_json::json!({"error": "request body too large (limit 16384 bytes)"})
            )
        );
    }

    #[test]
    fn pieces_are_taken_up_to_the_limit_and_the_one_past_it_is_never_copied() {
        // A lying Content-Length (or none) does not help: the pieces count.
        for declared in [None, Some("3")] {
            let mut body = BoundedBody::start(10, declared).unwrap();
            body.push(b"0123").unwrap();
            body.push(b"456789").unwrap(); // exactly the limit
            let mut copied = false;
            let refused = body.push_with(1, |_| copied = true);
            assert_eq!(refused, Err(EdgeError::BodyTooLarge(10)));
            assert!(!copied, "a refused piece is never copied");
            assert_eq!(body.into_bytes(), b"0123456789");
        }
        let mut body = BoundedBody::start(10, None).unwrap();
        assert_eq!(
            body.push_with(usize::MAX, |_| panic!("copied")),
            Err(EdgeError::BodyTooLarge(10))
        );
        assert_eq!(body.push(&[0xFF; 11]), Err(EdgeError::BodyTooLarge(10)));
    }

    #[test]
    fn empty_pieces_are_bounded() {
        let mut body = BoundedBody::start(10, None).unwrap();
        for _ in 0..MAX_EMPTY_BODY_PIECES {
            body.push(b"").unwrap();
        }
        assert_eq!(body.push(b""), Err(EdgeError::BodyTooLarge(10)));
    }

    #[test]
    fn an_honest_declared_length_is_reserved_once_and_a_lying_one_never_past_the_limit() {
        let body = BoundedBody::start(100, Some("40")).unwrap();
        assert!(body.bytes.capacity() >= 40);
        let body = BoundedBody::start(100, Some("100")).unwrap();
        assert!(body.bytes.capacity() < 200);
    }

    #[test]
    fn every_route_that_reads_a_body_has_its_limit() {
        let hash = "a".repeat(64);
        let cases: Vec<(&str, String, Option<u64>)> = vec![
            ("POST", "/claim".into(), Some(MAX_CLAIM_BODY_BYTES)),
            ("POST", "/api/update-metadata".into(), Some(MAX_UPDATE_METADATA_BODY_BYTES)),
            ("POST", "/vault/v/blobs/exists".into(), Some(MAX_BLOBS_EXIST_BODY_BYTES)),
            ("POST", "/vault/v/snapshots".into(), Some(MAX_SNAPSHOT_BODY_BYTES)),
            ("POST", "/vault/v/snapshots/maybe".into(), Some(MAX_SNAPSHOT_BODY_BYTES)),
            ("POST", "/vault/v/snapshots/prune".into(), Some(MAX_SNAPSHOT_BODY_BYTES)),
            ("POST", "/vault/v/debug/repair-migration".into(), Some(MAX_ADMIN_BODY_BYTES)),
            // Never read: answered from the path, headers and state alone.
            ("POST", "/vault/v/auth/ticket".into(), None),
            ("POST", "/vault/v/debug/compact".into(), None),
            ("POST", "/vault/v/debug/cleanup-kv".into(), None),
            ("GET", "/vault/sync/v".into(), None),
            ("GET", "/".into(), None),
            // Its own rules: 10 MiB, streamed to R2 (`edge::blobs`).
            ("PUT", format!("/vault/v/blobs/{hash}"), None),
        ];
        for (method, path, want) in cases {
            assert_eq!(body_limit(&classify(method, &path)), want, "{method} {path}");
        }
    }
}
