//! Verification (module docs, Verification and Crash recovery): the
//! read-back after a migration writes SQL, the containment check of a resumed
//! one, and [`same_document`], the encoding-independent document comparison.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Value};
use yrs::types::ToJson;
use yrs::{Any, Doc, GetString, ReadTxn, Snapshot, Transact};

use super::source::{apply, full_state, state_vector, ApplyError, Source};
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::{DocStore, JournalStats};

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
/// back unchanged and rebuild the same document (module docs).
pub(super) fn read_back<E: SqlExec>(
    store: &SqlDocStore<E>,
    source: &Source,
) -> Result<(Doc, JournalStats), VerifyFailure> {
    let loaded = store.load().map_err(|error| VerifyFailure::Read(error.to_string()))?;
    let snapshot = loaded.snapshot.unwrap_or_default();
    let bytes_match = snapshot == source.update && loaded.journal.is_empty();
    let doc = Doc::new();
    apply(&doc, &snapshot)
        .map_err(|ApplyError(e)| VerifyFailure::Read(format!("snapshot does not apply: {e}")))?;
    for entry in &loaded.journal {
        apply(&doc, entry)
            .map_err(|ApplyError(e)| VerifyFailure::Read(format!("journal does not apply: {e}")))?;
    }
    let (read, expected) = (Fingerprint::of(&doc), Fingerprint::of(&source.doc));
    let structure_matches = read.snapshot == expected.snapshot;
    let content_matches = read.roots == expected.roots;
    if bytes_match && structure_matches && content_matches {
        return Ok((doc, loaded.stats));
    }
    Err(VerifyFailure::Mismatch {
        bytes_match,
        structure_matches,
        content_matches,
        written: source.update.len(),
        read: snapshot.len(),
    })
}

/// What two documents must share to be the same document, in a form that
/// compares independently of encoding order.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    /// State vector and delete set.
    snapshot: Snapshot,
    /// Per root: its map entries as JSON and its sequence read as text. A
    /// root's type is not known after decoding, so both views are taken.
    roots: BTreeMap<String, (Option<Any>, Option<String>)>,
    pending: bool,
}

impl Fingerprint {
    fn of(doc: &Doc) -> Fingerprint {
        let txn = doc.transact();
        let names: Vec<String> = txn.root_refs().map(|(name, _)| name.to_owned()).collect();
        let roots = names
            .into_iter()
            .map(|name| {
                let map = txn.get_map(name.as_str()).map(|map| map.to_json(&txn));
                let text = txn.get_text(name.as_str()).map(|text| text.get_string(&txn));
                (name, (map, text))
            })
            .collect();
        Fingerprint { snapshot: txn.snapshot(), roots, pending: txn.has_missing_updates() }
    }
}

/// True when two documents hold the same state: equal state vectors, delete
/// sets, pending-update presence and root contents. Unlike comparing
/// encoded updates, this does not depend on the order yrs happens to encode
/// JSON-object values in.
pub fn same_document(a: &Doc, b: &Doc) -> bool {
    Fingerprint::of(a) == Fingerprint::of(b)
}

/// True when `sql` already holds everything in `source`: merging the source
/// into a copy of the SQL state leaves it the same document.
pub(super) fn contains(sql: &Doc, source: &Source) -> bool {
    let source_sv = state_vector(&source.doc);
    if !matches!(source_sv.partial_cmp(&state_vector(sql)), Some(Ordering::Less | Ordering::Equal))
    {
        return false;
    }
    let merged = Doc::new();
    apply(&merged, &full_state(sql)).is_ok()
        && apply(&merged, &source.update).is_ok()
        && same_document(&merged, sql)
}
