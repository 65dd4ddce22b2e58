//! The vault's notes as the plugin reads them (`kavinsood/yaos`
//! `src/sync/vaultSync.ts`, `fileMeta.ts`): a `meta` entry per file ID,
//! a v2 plain object or a v3 nested `Y.Map` with `path`, `mtime`, `device`
//! and, for a deleted note, `deletedAt` (or the legacy `deleted: true`); the
//! text under the same ID in `idToText`. A path is active when an entry
//! that is not a tombstone names it; two active entries on one path are
//! settled as the plugin settles them (the later `mtime`, then the greater
//! ID). Snapshot browsing and restoring read the document through this.

use std::collections::BTreeMap;
use std::sync::Arc;

use yrs::{Any, GetString, Map, Number, Out, ReadTxn};

/// `sys.schemaVersion` from which `meta` is authoritative and `pathToId` is
/// no longer written (the plugin's `usesV2PathModel`).
pub const ID_FIRST_SCHEMA: i64 = 2;
/// `sys.schemaVersion` from which the plugin writes `meta` entries as
/// nested `Y.Map`s (`SCHEMA_VERSION` in its `src/sync/schema.ts`).
pub const NESTED_META_SCHEMA: i64 = 3;

/// `sys.schemaVersion` if it is an integer ≥ 0, otherwise `None`.
pub fn schema_of<T: ReadTxn>(txn: &T) -> Option<i64> {
    match txn.get_map("sys")?.get(txn, "schemaVersion")? {
        Out::Any(Any::Number(n)) => match n {
            Number::Int(i) => Some(i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() <= Number::F64_MAX_SAFE_INTEGER => {
                Some(f as i64)
            }
            Number::Float(_) => None,
        },
        _ => None,
    }
    .filter(|v| *v >= 0)
}

/// The fields of one `meta` entry the server reads. The path shares the
/// document's own string: a 25,000-note index copies none of them.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteMeta {
    pub path: Arc<str>,
    pub tombstoned: bool,
    pub mtime: Option<f64>,
}

impl NoteMeta {
    /// Reads a v2 plain object or a v3 nested map; entries without a string
    /// `path` are not file metadata. (The plugin's `decodeFileMeta` also
    /// drops an empty path; [`PathIndex`] does, the debug summary counts it
    /// as the TypeScript server did.)
    pub fn read<T: ReadTxn>(txn: &T, value: &Out) -> Option<NoteMeta> {
        let field = |key: &str| -> Option<Any> {
            match value {
                Out::Any(Any::Map(map)) => map.get(key).cloned(),
                Out::YMap(map) => match map.get(txn, key)? {
                    Out::Any(any) => Some(any),
                    _ => None,
                },
                _ => None,
            }
        };
        let Some(Any::String(path)) = field("path") else { return None };
        let finite = |any: Option<Any>| match any {
            Some(Any::Number(n)) => Some(as_f64(n)).filter(|f| f.is_finite()),
            _ => None,
        };
        let deleted = matches!(field("deleted"), Some(Any::Bool(true)));
        let deleted_at = finite(field("deletedAt")).is_some();
        Some(NoteMeta { path, tombstoned: deleted || deleted_at, mtime: finite(field("mtime")) })
    }
}

pub(crate) fn as_f64(n: Number) -> f64 {
    match n {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
    }
}

/// Which note each path is, from one pass over `meta`; sorted by path.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PathIndex {
    /// Active path → the file ID that holds it.
    pub active: BTreeMap<Arc<str>, Arc<str>>,
    /// Path with no active entry → the IDs of its tombstones.
    pub tombstoned: BTreeMap<Arc<str>, Vec<Arc<str>>>,
}

impl PathIndex {
    /// The plugin's `ensurePathIndexes`, plus the tombstone IDs per path
    /// (its `getMarkdownTombstoneIds`).
    pub fn of<T: ReadTxn>(txn: &T) -> PathIndex {
        let mut winners: BTreeMap<Arc<str>, (f64, Arc<str>)> = BTreeMap::new();
        let mut tombstoned: BTreeMap<Arc<str>, Vec<Arc<str>>> = BTreeMap::new();
        if let Some(meta) = txn.get_map("meta") {
            for (id, value) in meta.iter(txn) {
                let Some(note) = NoteMeta::read(txn, &value).filter(|n| !n.path.is_empty()) else {
                    continue;
                };
                if note.tombstoned {
                    tombstoned.entry(note.path).or_default().push(id.into());
                    continue;
                }
                let candidate = (note.mtime.unwrap_or(0.0), Arc::<str>::from(id));
                let slot = winners.entry(note.path).or_insert_with(|| candidate.clone());
                let later = candidate.0 > slot.0 || (candidate.0 == slot.0 && candidate.1 > slot.1);
                if later {
                    *slot = candidate;
                }
            }
        }
        let active: BTreeMap<Arc<str>, Arc<str>> =
            winners.into_iter().map(|(path, (_, id))| (path, id)).collect();
        tombstoned.retain(|path, _| !active.contains_key(path));
        PathIndex { active, tombstoned }
    }
}

/// Whether `idToText` holds a text for note `id` (without reading it).
pub fn has_text<T: ReadTxn>(txn: &T, id: &str) -> bool {
    let text = txn.get_map("idToText").and_then(|texts| texts.get(txn, id));
    matches!(text, Some(Out::YText(_)))
}

/// The text of note `id`, if `idToText` holds one.
pub fn note_text<T: ReadTxn>(txn: &T, id: &str) -> Option<String> {
    match txn.get_map("idToText")?.get(txn, id)? {
        Out::YText(text) => Some(text.get_string(txn)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, MapPrelim, Transact, WriteTxn};

    fn flat(path: &str, mtime: f64, deleted: bool) -> Any {
        let mut m = std::collections::HashMap::new();
        m.insert("path".to_owned(), Any::from(path));
        if deleted {
            m.insert("deletedAt".to_owned(), Any::from(mtime));
        } else {
            m.insert("mtime".to_owned(), Any::from(mtime));
        }
        Any::from(m)
    }

    #[test]
    fn the_later_mtime_then_the_greater_id_holds_a_path_and_tombstones_count_only_alone() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let meta = txn.get_or_insert_map("meta");
            meta.insert(&mut txn, "a", flat("x.md", 5.0, false));
            meta.insert(&mut txn, "b", flat("x.md", 9.0, false));
            meta.insert(&mut txn, "c", flat("x.md", 9.0, false));
            meta.insert(&mut txn, "d", flat("x.md", 1.0, true));
            meta.insert(&mut txn, "e", flat("gone.md", 1.0, true));
            let nested = MapPrelim::from([("path", Any::from("n.md")), ("mtime", Any::from(3.0))]);
            meta.insert(&mut txn, "f", nested);
            meta.insert(&mut txn, "g", MapPrelim::from([("path", Any::from(""))]));
        }
        let index = PathIndex::of(&doc.transact());
        assert_eq!(index.active.get("x.md").map(|id| &**id), Some("c"));
        assert_eq!(index.active.get("n.md").map(|id| &**id), Some("f"));
        assert_eq!(index.active.len(), 2, "an empty path is no note");
        assert_eq!(index.tombstoned.len(), 1, "x.md has an active entry: not tombstoned");
        assert_eq!(index.tombstoned["gone.md"], vec![Arc::<str>::from("e")]);
    }
}
