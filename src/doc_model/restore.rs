//! Bringing notes back into the live document as the plugin itself writes
//! them (`kavinsood/yaos` `src/sync/vaultSync.ts`: `ensureFile`,
//! `setMetaActive`, `getMarkdownTombstoneIds`; `fileMeta.ts`), so every
//! device, connected now or later, creates or rewrites the file as if
//! another device had:
//!
//! - **replace** (the path is active): the note's `Y.Text` is edited in
//!   place to the old text; `meta` is not touched (the plugin's own edits of
//!   a file's text do not touch it either);
//! - **revive** (the path has only tombstones): the tombstones are removed
//!   from `meta`, then the note is created as below (the plugin's
//!   `ensureFile` with `reviveTombstone`);
//! - **create** (the path is unknown): a new file ID (12 random bytes in
//!   base64url, as `generateFileId`), a new `Y.Text` with the old text in
//!   `idToText`, and a `meta` entry `{path, mtime, device?}`: a nested
//!   `Y.Map` from schema 3, a plain object before; before schema 2 the path
//!   also goes into `pathToId`.
//!
//! Everything happens in the caller's one transaction.

use std::collections::HashMap;

use base64::Engine;
use serde::Serialize;
use yrs::{
    Any, GetString, Map, MapPrelim, Out, ReadTxn, Text, TextPrelim, TextRef, TransactionMut,
    WriteTxn,
};

use super::notes::{schema_of, PathIndex, ID_FIRST_SCHEMA, NESTED_META_SCHEMA};

/// The random bytes of a new file ID (the plugin's `randomBase64Url(12)`).
pub const FILE_ID_BYTES: usize = 12;

/// One note to bring back: its path and its text as of the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Restoring<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

/// What restoring a note does to the live document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The path has only tombstones: they go, and the note is created.
    Revive,
    /// The path is unknown (or its entry has no text): the note is created.
    Create,
    /// The path is active with another text: the text is replaced.
    Replace,
    /// The path is active with the same text: nothing is written.
    Unchanged,
}

/// A note's restore, planned or done.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    pub path: String,
    pub action: Action,
    /// The live text's size in bytes, when the path is active.
    pub bytes_before: Option<usize>,
    pub bytes_after: usize,
}

/// Who writes, and when: the `mtime` and `device` of a created note's
/// `meta`, and where new file IDs come from.
pub struct Writer<'a> {
    pub now_ms: u64,
    pub device: Option<&'a str>,
    pub random_id: &'a mut dyn FnMut() -> [u8; FILE_ID_BYTES],
}

/// A new file ID from `random` bytes.
pub fn file_id(random: [u8; FILE_ID_BYTES]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
}

/// What [`apply`] would do, without writing.
pub fn plan<T: ReadTxn>(txn: &T, notes: &[Restoring<'_>]) -> Vec<Planned> {
    let index = PathIndex::of(txn);
    notes.iter().map(|note| planned(txn, &index, note).0).collect()
}

/// The plan for one note, with the live text it replaces (if any).
fn planned<T: ReadTxn>(
    txn: &T,
    index: &PathIndex,
    note: &Restoring<'_>,
) -> (Planned, Option<(TextRef, String)>) {
    let live = index.active.get(note.path).and_then(|id| live_text(txn, id));
    let bytes_before = live.as_ref().map(|(_, before)| before.len());
    let action = match &live {
        Some((_, before)) if before == note.text => Action::Unchanged,
        Some(_) => Action::Replace,
        None if index.tombstoned.contains_key(note.path) => Action::Revive,
        None => Action::Create,
    };
    let planned =
        Planned { path: note.path.to_owned(), action, bytes_before, bytes_after: note.text.len() };
    (planned, live)
}

fn live_text<T: ReadTxn>(txn: &T, id: &str) -> Option<(TextRef, String)> {
    match txn.get_map("idToText")?.get(txn, id)? {
        Out::YText(text) => {
            let string = text.get_string(txn);
            Some((text, string))
        }
        _ => None,
    }
}

/// Restores `notes` (distinct paths) in `txn`; returns what each did.
pub fn apply(
    txn: &mut TransactionMut<'_>,
    notes: &[Restoring<'_>],
    writer: Writer<'_>,
) -> Vec<Planned> {
    let index = PathIndex::of(txn);
    let schema = schema_of(txn).unwrap_or(0);
    let mut done = Vec::with_capacity(notes.len());
    for note in notes {
        let (planned, live) = planned(txn, &index, note);
        match planned.action {
            Action::Unchanged => {}
            Action::Replace => {
                if let Some((text, before)) = live {
                    replace_text(txn, &text, &before, note.text);
                }
            }
            Action::Revive | Action::Create => {
                let meta = txn.get_or_insert_map("meta");
                for id in index.tombstoned.get(note.path).into_iter().flatten() {
                    meta.remove(txn, id);
                }
                // An active entry with no text (the plugin's orphan): dropped
                // before the note is made again, as `ensureFile` does.
                if let Some(orphan) = index.active.get(note.path) {
                    meta.remove(txn, orphan);
                    txn.get_or_insert_map("idToText").remove(txn, orphan);
                }
                let id = file_id((writer.random_id)());
                create(txn, schema, &id, note, &writer);
            }
        }
        done.push(planned);
    }
    done
}

/// `ensureFile`'s creation: text, then `setMetaActive`'s entry.
fn create(
    txn: &mut TransactionMut<'_>,
    schema: i64,
    id: &str,
    note: &Restoring<'_>,
    writer: &Writer<'_>,
) {
    txn.get_or_insert_map("idToText").insert(txn, id, TextPrelim::new(note.text));
    if schema < ID_FIRST_SCHEMA {
        txn.get_or_insert_map("pathToId").insert(txn, note.path, Any::from(id));
    }
    let mut fields: Vec<(&str, Any)> =
        vec![("path", Any::from(note.path)), ("mtime", Any::from(writer.now_ms as f64))];
    if let Some(device) = writer.device {
        fields.push(("device", Any::from(device)));
    }
    let meta = txn.get_or_insert_map("meta");
    if schema >= NESTED_META_SCHEMA {
        meta.insert(txn, id, MapPrelim::from_iter(fields));
    } else {
        let object: HashMap<String, Any> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        meta.insert(txn, id, Any::from(object));
    }
}

/// Edits `text` from `before` to `after`, keeping their common start and
/// end (the plugin applies a character diff; the resulting text is the
/// same, and a restore's one changed stretch is what matters to an open
/// editor). Offsets are UTF-8 bytes, the document's offset kind.
fn replace_text(txn: &mut TransactionMut<'_>, text: &TextRef, before: &str, after: &str) {
    let prefix: usize = before
        .chars()
        .zip(after.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let suffix: usize = before[prefix..]
        .chars()
        .rev()
        .zip(after[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let removed = before.len() - prefix - suffix;
    let inserted = &after[prefix..after.len() - suffix];
    // Lossless on wasm32, where `usize` is 32 bits; natively a note of
    // 4 GiB is out of reach of every frame and body limit.
    if removed > 0 {
        text.remove_range(txn, prefix as u32, removed as u32);
    }
    if !inserted.is_empty() {
        text.insert(txn, prefix as u32, inserted);
    }
}
