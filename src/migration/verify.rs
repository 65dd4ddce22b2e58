//! Verification (module docs, Verification and Crash recovery): the
//! read-back after a migration writes SQL and the containment check of a
//! resumed one. Both compare [`Fingerprint`]s, so the document they check
//! against need not be alive while the other one is rebuilt.

use std::cmp::Ordering;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use yrs::{Doc, StateVector};

use super::fingerprint::Fingerprint;
use super::source::{apply, apply_owned, ApplyError};
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::{DocStore, JournalStats};

/// What a streamed snapshot write handed to SQL: its length and SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    pub(super) len: usize,
    pub(super) sha256: [u8; 32],
}

impl Written {
    pub(super) fn of(bytes: &[u8]) -> Written {
        Written { len: bytes.len(), sha256: Sha256::digest(bytes).into() }
    }
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
/// returned to be served.
pub(super) fn read_back<E: SqlExec>(
    store: &SqlDocStore<E>,
    written: &Written,
    expected: &Fingerprint,
) -> Result<(Doc, JournalStats), VerifyFailure> {
    let loaded = store.load().map_err(|error| VerifyFailure::Read(error.to_string()))?;
    let snapshot = loaded.snapshot.unwrap_or_default();
    let read = snapshot.len();
    let bytes_match = Written::of(&snapshot) == *written && loaded.journal.is_empty();
    let doc = Doc::new();
    // The bytes are freed once decoded, before the document grows.
    apply_owned(&doc, snapshot)
        .map_err(|ApplyError(e)| VerifyFailure::Read(format!("snapshot does not apply: {e}")))?;
    for entry in &loaded.journal {
        apply(&doc, entry)
            .map_err(|ApplyError(e)| VerifyFailure::Read(format!("journal does not apply: {e}")))?;
    }
    let actual = Fingerprint::of(&doc);
    let structure_matches = actual.structure_matches(expected);
    let content_matches = actual.content_matches(expected);
    if bytes_match && structure_matches && content_matches {
        return Ok((doc, loaded.stats));
    }
    Err(VerifyFailure::Mismatch {
        bytes_match,
        structure_matches,
        content_matches,
        written: written.len,
        read,
    })
}

/// True when a state at `sql_sv` has every block of a source at `source_sv`:
/// the precheck of a containment check.
pub(super) fn covers(sql_sv: &StateVector, source_sv: &StateVector) -> bool {
    matches!(source_sv.partial_cmp(sql_sv), Some(Ordering::Less | Ordering::Equal))
}

/// True when `sql` already holds everything in a source it [`covers`]:
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
