//! What the server reads from the YAOS document (spec 12): the schema
//! version and the `documentSummary` of the debug JSON.
//!
//! Unlike the TypeScript server, file metadata held as a nested `Y.Map`
//! (schema v3) counts like the v2 plain object, so the summary of a current
//! vault is not all zeros.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::notes::{as_f64, schema_of, NoteMeta};
use yrs::{Any, Doc, Map, MapRef, Number, Out, ReadTxn, Transact};

/// `sys.schemaVersion` if it is an integer ≥ 0, otherwise `None`.
pub fn schema_version(doc: &Doc) -> Option<i64> {
    schema_of(&doc.transact())
}

/// The debug JSON's `documentSummary`; fields serialize in spec order.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSummary {
    pub active_path_count: u64,
    pub tombstoned_path_count: u64,
    pub meta_count: u64,
    pub path_to_id_count: u64,
    pub id_to_text_count: u64,
    /// Active paths whose `pathToId` ID is a key of `idToText`.
    pub active_paths_with_text: u64,
    /// Active paths with no (or an empty) `pathToId` entry.
    pub active_paths_missing_from_path_to_id: u64,
    /// Active paths whose ID is not a key of `idToText`.
    pub active_paths_missing_text: u64,
    /// `pathToId` keys that are not the path of any active entry.
    pub path_to_id_without_active_meta: u64,
    /// The raw `sys.schemaVersion`, or null.
    pub schema_version: Value,
}

/// The path `meta` gives the note `file_id` (v2 plain object or v3 nested
/// map), if it has one.
pub fn note_path<T: ReadTxn>(txn: &T, file_id: &str) -> Option<String> {
    let meta = txn.get_map("meta")?;
    Some(NoteMeta::read(txn, &meta.get(txn, file_id)?)?.path.to_string())
}

/// What an active path's `pathToId` entry leads to.
enum PathLookup {
    NoId,
    IdWithoutText,
    IdWithText,
}

fn lookup<T: ReadTxn>(
    txn: &T,
    path_to_id: Option<&MapRef>,
    id_to_text: Option<&MapRef>,
    path: &str,
) -> PathLookup {
    match path_to_id.and_then(|m| m.get(txn, path)) {
        Some(Out::Any(Any::String(id))) if !id.is_empty() => {
            if id_to_text.is_some_and(|m| m.contains_key(txn, &id)) {
                PathLookup::IdWithText
            } else {
                PathLookup::IdWithoutText
            }
        }
        // The TypeScript server tests truthiness; a truthy non-string ID can
        // never be an `idToText` key.
        None | Some(Out::Any(Any::Null | Any::Undefined | Any::String(_) | Any::Bool(false))) => {
            PathLookup::NoId
        }
        Some(Out::Any(Any::Number(n))) if as_f64(n) == 0.0 || as_f64(n).is_nan() => {
            PathLookup::NoId
        }
        Some(_) => PathLookup::IdWithoutText,
    }
}

impl DocumentSummary {
    pub fn of(doc: &Doc) -> DocumentSummary {
        let txn = doc.transact();
        let meta = txn.get_map("meta");
        let path_to_id = txn.get_map("pathToId");
        let id_to_text = txn.get_map("idToText");
        let len = |m: &Option<MapRef>| m.as_ref().map_or(0, |m| u64::from(m.len(&txn)));
        let mut summary = DocumentSummary {
            meta_count: len(&meta),
            path_to_id_count: len(&path_to_id),
            id_to_text_count: len(&id_to_text),
            schema_version: raw_schema_version(&txn),
            ..DocumentSummary::default()
        };

        let mut active_paths = HashSet::new();
        let entries =
            meta.iter().flat_map(|m| m.iter(&txn).filter_map(|(_, v)| NoteMeta::read(&txn, &v)));
        for file in entries {
            if file.tombstoned {
                summary.tombstoned_path_count += 1;
                continue;
            }
            summary.active_path_count += 1;
            *match lookup(&txn, path_to_id.as_ref(), id_to_text.as_ref(), &file.path) {
                PathLookup::NoId => &mut summary.active_paths_missing_from_path_to_id,
                PathLookup::IdWithoutText => &mut summary.active_paths_missing_text,
                PathLookup::IdWithText => &mut summary.active_paths_with_text,
            } += 1;
            active_paths.insert(file.path);
        }
        summary.path_to_id_without_active_meta = path_to_id
            .iter()
            .flat_map(|m| m.keys(&txn))
            .filter(|path| !active_paths.contains(*path))
            .count() as u64;
        summary
    }
}

fn raw_schema_version<T: ReadTxn>(txn: &T) -> Value {
    let value = txn.get_map("sys").and_then(|sys| sys.get(txn, "schemaVersion"));
    match value {
        Some(Out::Any(any)) => any_to_json(&any),
        _ => Value::Null,
    }
}

/// JSON as `JSON.stringify` would write the value: integral floats as
/// integers, non-finite numbers, `undefined` and buffers as null.
pub(crate) fn any_to_json(any: &Any) -> Value {
    match any {
        Any::Null | Any::Undefined | Any::Buffer(_) => Value::Null,
        Any::Bool(b) => Value::Bool(*b),
        Any::Number(Number::Int(i)) => Value::from(*i),
        Any::Number(Number::Float(f))
            if f.fract() == 0.0 && f.abs() <= Number::F64_MAX_SAFE_INTEGER =>
        {
            Value::from(*f as i64)
        }
        Any::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Any::String(s) => Value::from(s.as_ref()),
        Any::Array(items) => items.iter().map(any_to_json).collect(),
        Any::Map(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), any_to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{In, MapPrelim, TextPrelim, WriteTxn};

    /// A vault with `files` as `(id, path, deleted, with_text, in_path_to_id)`,
    /// metadata written as v3 nested maps or v2 plain objects.
    fn vault(files: &[(&str, &str, bool, bool, bool)], nested: bool) -> Doc {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let meta = txn.get_or_insert_map("meta");
            let path_to_id = txn.get_or_insert_map("pathToId");
            let id_to_text = txn.get_or_insert_map("idToText");
            for &(id, path, deleted, with_text, indexed) in files {
                let mut fields = vec![("path", In::from(path)), ("mtime", In::from(1.0))];
                if deleted {
                    fields.push(if nested {
                        ("deleted", In::from(true))
                    } else {
                        ("deletedAt", In::from(5.0))
                    });
                }
                if nested {
                    meta.insert(&mut txn, id, MapPrelim::from_iter(fields));
                } else {
                    let object: std::collections::HashMap<String, Any> = fields
                        .into_iter()
                        .map(|(k, v)| match v {
                            In::Any(a) => (k.to_owned(), a),
                            _ => unreachable!(),
                        })
                        .collect();
                    meta.insert(&mut txn, id, Any::from(object));
                }
                if indexed {
                    path_to_id.insert(&mut txn, path, id);
                }
                if with_text {
                    id_to_text.insert(&mut txn, id, TextPrelim::new("body"));
                }
            }
            path_to_id.insert(&mut txn, "orphan.md", "");
            meta.insert(&mut txn, "not-a-file", 7);
            txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
        }
        doc
    }

    const FILES: [(&str, &str, bool, bool, bool); 5] = [
        ("a", "a.md", false, true, true),
        ("b", "b.md", false, false, true),
        ("c", "c.md", false, true, false),
        ("d", "d.md", true, true, true),
        ("e", "e.md", false, true, true),
    ];

    fn expected() -> DocumentSummary {
        DocumentSummary {
            active_path_count: 4,
            tombstoned_path_count: 1,
            meta_count: 6,
            path_to_id_count: 5,
            id_to_text_count: 4,
            active_paths_with_text: 2,
            active_paths_missing_from_path_to_id: 1,
            active_paths_missing_text: 1,
            // d.md (tombstoned) and orphan.md
            path_to_id_without_active_meta: 2,
            schema_version: Value::from(3),
        }
    }

    #[test]
    fn counts_v3_nested_maps() {
        let doc = vault(&FILES, true);
        assert_eq!(DocumentSummary::of(&doc), expected());
        assert_eq!(schema_version(&doc), Some(3));
    }

    #[test]
    fn counts_v2_plain_objects() {
        assert_eq!(DocumentSummary::of(&vault(&FILES, false)), expected());
    }

    #[test]
    fn removed_entries_do_not_count() {
        let doc = vault(&FILES, true);
        {
            let mut txn = doc.transact_mut();
            txn.get_or_insert_map("meta").remove(&mut txn, "a");
        }
        let summary = DocumentSummary::of(&doc);
        assert_eq!((summary.active_path_count, summary.meta_count), (3, 5));
        assert_eq!(summary.path_to_id_without_active_meta, 3);
    }

    #[test]
    fn empty_doc_and_odd_schema_versions() {
        let doc = Doc::new();
        let summary = DocumentSummary::of(&doc);
        assert_eq!(
            summary,
            DocumentSummary { schema_version: Value::Null, ..DocumentSummary::default() }
        );
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"activePathCount":0,"tombstonedPathCount":0,"metaCount":0,"pathToIdCount":0,"idToTextCount":0,"activePathsWithText":0,"activePathsMissingFromPathToId":0,"activePathsMissingText":0,"pathToIdWithoutActiveMeta":0,"schemaVersion":null}"#
        );
        assert_eq!(schema_version(&doc), None);
        for (raw, parsed, json) in [
            (In::from(2.0), Some(2), Value::from(2)),
            (In::from(2.5), None, Value::from(2.5)),
            (In::from(-1), None, Value::from(-1)),
            (In::from("3"), None, Value::from("3")),
        ] {
            let mut txn = doc.transact_mut();
            txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", raw);
            drop(txn);
            assert_eq!(schema_version(&doc), parsed);
            assert_eq!(DocumentSummary::of(&doc).schema_version, json);
        }
    }
}
