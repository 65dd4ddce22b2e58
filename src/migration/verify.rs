//! Verification (module docs, Verification and Crash recovery): the
//! read-back after a migration writes SQL and the containment check of a
//! resumed one. Both compare [`Fingerprint`]s, so the document they check
//! against need not be alive while the other one is rebuilt.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use yrs::Doc;

use super::fingerprint::Fingerprint;
use super::source::{apply_owned, rebuild_from_sql};
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::JournalStats;

/// What a streamed snapshot write handed to SQL: its length and SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    pub(super) len: usize,
    pub(super) sha256: [u8; 32],
}

/// Why a read-back did not match what was written.
pub(super) enum VerifyFailure {
    Read(String),
    Mismatch {
        bytes_match: bool,
        structure_matches: bool,
        content_matches: bool,
        written: usize,
        read: usize,
    },
}

impl VerifyFailure {
    pub(super) fn to_json(&self) -> Value {
        match self {
            VerifyFailure::Read(error) => json!({"stage": "read-back", "error": error}),
            VerifyFailure::Mismatch {
                bytes_match,
                structure_matches,
                content_matches,
                written,
                read,
            } => json!({
                "stage": "verify",
                "error": "document read back from SQL differs from the migrated document",
                "bytesMatch": bytes_match,
                "stateMatches": structure_matches,
                "contentMatches": content_matches,
                "writtenBytes": written,
                "readBytes": read,
            }),
        }
    }
}

/// Reloads SQL and checks it reproduces the source: the stored bytes come
/// back unchanged (same length and SHA-256 as written, no journal rows) and
/// rebuild a document with the source's fingerprint. That document is
/// returned to be served. The rows are streamed: hashed and applied piece by
/// piece, never held whole next to the document.
pub(super) fn read_back<E: SqlExec>(
    store: &SqlDocStore<E>,
    written: &Written,
    expected: &Fingerprint,
) -> Result<(Doc, JournalStats), VerifyFailure> {
    let mut hasher = Sha256::new();
    let mut read = 0;
    let rebuilt = rebuild_from_sql(store, &mut |chunk| {
        hasher.update(chunk);
        read += chunk.len();
    })
    .map_err(VerifyFailure::Read)?;
    let read_back = Written { len: read, sha256: hasher.finalize().into() };
    let bytes_match = read_back == *written && rebuilt.stats.entry_count == 0;
    let (doc, stats) = (rebuilt.doc, rebuilt.stats);
    let actual = Fingerprint::of(&doc);
    let structure_matches = actual.structure_matches(expected);
    let content_matches = actual.content_matches(expected);
    if bytes_match && structure_matches && content_matches {
        return Ok((doc, stats));
    }
    Err(VerifyFailure::Mismatch {
        bytes_match,
        structure_matches,
        content_matches,
        written: written.len,
        read,
    })
}

/// True when `sql` already holds everything in a source it
/// [`covers`](crate::encode::covers):
/// merging the source into the SQL state leaves it the same document.
///
/// `missing` is the source's state encoded against SQL's state vector. Its
/// blocks being covered, all the full state could still change is in that
/// update: the whole delete set and any pending updates (yrs merges both in
/// whatever the state vector), so it is merged instead of the full state.
/// The merge happens in `sql` itself (no copy of the document). It changes
/// nothing when the answer is yes; when it is no, `sql` holds the merge and
/// must not be served.
pub(super) fn contains(sql: &Doc, missing: Vec<u8>) -> bool {
    let before = Fingerprint::of(sql);
    apply_owned(sql, missing).is_ok() && Fingerprint::of(sql) == before
}
