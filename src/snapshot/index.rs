//! A snapshot's `index.json` (spec 7.4): the facts read off the document,
//! the index written for a new snapshot, and a tolerant view of stored
//! indexes, which may come from older servers (`stateVectorHash` or
//! `semanticHash` instead of `fullUpdateHash`, no `reason`, no `pinned`).

use serde::Serialize;
use serde_json::{Map, Value};
use yrs::{Any, Doc, Map as _, MapRef, Out, ReadTxn, Transact};

use crate::doc_model::summary::any_to_json;
use crate::hex::sha256_hex;

/// What a snapshot's index says about the document, read in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct DocFacts {
    /// The raw `sys.schemaVersion`; `None` when the key is absent (the index
    /// then omits the field, as `JSON.stringify` drops `undefined`).
    pub schema_version: Option<Value>,
    /// The number of `pathToId` entries.
    pub markdown_file_count: u64,
    /// The number of `pathToBlob` entries.
    pub blob_file_count: u64,
    /// The string `hash` of every `pathToBlob` value, in path order.
    pub referenced_blob_hashes: Vec<String>,
    /// SHA-256 hex of the sorted lines `md:<path>:<fileId>` and
    /// `blob:<path>:<hash>` joined with `\n`.
    pub structure_hash: String,
}

impl DocFacts {
    pub fn of(doc: &Doc) -> Self {
        let txn = doc.transact();
        let schema_version = match txn.get_map("sys").and_then(|sys| sys.get(&txn, "schemaVersion"))
        {
            None | Some(Out::Any(Any::Undefined)) => None,
            Some(Out::Any(any)) => Some(any_to_json(&any)),
            Some(_) => Some(Value::Null),
        };
        let path_to_id = entries(&txn, txn.get_map("pathToId"));
        let path_to_blob = entries(&txn, txn.get_map("pathToBlob"));
        let mut lines: Vec<String> =
            path_to_id.iter().map(|(path, id)| format!("md:{path}:{}", js_string(id))).collect();
        let mut referenced_blob_hashes = Vec::new();
        for (path, value) in &path_to_blob {
            if let Some(hash) = blob_hash(&txn, value) {
                lines.push(format!("blob:{path}:{hash}"));
                referenced_blob_hashes.push(hash);
            }
        }
        // `Array.prototype.sort` compares UTF-16 code units, not code points.
        lines.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        DocFacts {
            schema_version,
            markdown_file_count: path_to_id.len() as u64,
            blob_file_count: path_to_blob.len() as u64,
            referenced_blob_hashes,
            structure_hash: sha256_hex(lines.join("\n").as_bytes()),
        }
    }
}

/// A root map's entries, sorted by key so results do not depend on yrs's
/// hash-map order.
fn entries<T: ReadTxn>(txn: &T, map: Option<MapRef>) -> Vec<(String, Out)> {
    let Some(map) = map else { return Vec::new() };
    let mut out: Vec<(String, Out)> = map.iter(txn).map(|(k, v)| (k.to_owned(), v)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The string `hash` of an attachment reference (a plain object, or a
/// nested map in newer schemas).
fn blob_hash<T: ReadTxn>(txn: &T, value: &Out) -> Option<String> {
    let hash = match value {
        Out::Any(Any::Map(map)) => map.get("hash").cloned(),
        Out::YMap(map) => match map.get(txn, "hash")? {
            Out::Any(any) => Some(any),
            _ => None,
        },
        _ => None,
    };
    match hash {
        Some(Any::String(s)) => Some(s.to_string()),
        _ => None,
    }
}

/// A `pathToId` value as a JavaScript template literal would print it.
fn js_string(value: &Out) -> String {
    match value {
        Out::Any(Any::String(s)) => s.to_string(),
        Out::Any(Any::Null) => "null".into(),
        Out::Any(Any::Undefined) => "undefined".into(),
        Out::Any(Any::Bool(b)) => b.to_string(),
        Out::Any(any @ Any::Number(_)) => any_to_json(any).to_string(),
        _ => "[object Object]".into(),
    }
}

/// Why a snapshot was taken; anything but `daily` is kept by retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Daily,
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Daily => "daily",
            Reason::Manual => "manual",
        }
    }

    /// Manual snapshots are pinned; daily ones are not.
    pub fn pinned(self) -> bool {
        self == Reason::Manual
    }
}

/// The sizes and hash of a written payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadStats {
    /// The raw (uncompressed) update's length.
    pub raw_bytes: u64,
    /// The gzip payload's length.
    pub gzip_bytes: u64,
    /// SHA-256 hex of the raw update.
    pub full_update_hash: String,
}

/// The index of a new snapshot; fields serialize in the TypeScript server's
/// order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewIndex {
    pub snapshot_id: String,
    pub vault_id: String,
    pub created_at: String,
    pub day: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<Value>,
    pub markdown_file_count: u64,
    pub blob_file_count: u64,
    pub crdt_size_bytes: u64,
    pub crdt_raw_size_bytes: u64,
    pub referenced_blob_hashes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
    pub full_update_hash: String,
    pub structure_hash: String,
    pub pinned: bool,
    pub reason: &'static str,
}

/// A stored index, as parsed JSON: every field is kept (an index is served
/// back exactly as stored) and read through tolerant accessors.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotIndex(pub Map<String, Value>);

impl SnapshotIndex {
    /// Parses an index; anything but a JSON object is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Some(SnapshotIndex(map)),
            _ => None,
        }
    }

    pub fn from_new(index: &NewIndex) -> Self {
        match serde_json::to_value(index) {
            Ok(Value::Object(map)) => SnapshotIndex(map),
            _ => SnapshotIndex(Map::new()),
        }
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    pub fn snapshot_id(&self) -> Option<&str> {
        self.str_field("snapshotId")
    }

    pub fn day(&self) -> Option<&str> {
        self.str_field("day")
    }

    pub fn created_at(&self) -> Option<&str> {
        self.str_field("createdAt")
    }

    /// The hash that decides dedup; empty strings count as absent, as the
    /// TypeScript checks were truthiness checks.
    pub fn full_update_hash(&self) -> Option<&str> {
        self.str_field("fullUpdateHash").filter(|s| !s.is_empty())
    }

    pub fn state_vector_hash(&self) -> Option<&str> {
        self.str_field("stateVectorHash").filter(|s| !s.is_empty())
    }

    /// `crdtSizeBytes` when it is a number (0 when absent or not a number).
    pub fn crdt_size_bytes(&self) -> f64 {
        self.0.get("crdtSizeBytes").and_then(Value::as_f64).unwrap_or(0.0)
    }

    pub fn pinned(&self) -> bool {
        self.0.get("pinned").is_some_and(truthy)
    }

    /// The reason when it is truthy (`None` marks a legacy snapshot).
    pub fn reason(&self) -> Option<&Value> {
        self.0.get("reason").filter(|v| truthy(v))
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// JavaScript truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use yrs::{MapPrelim, TextPrelim, WriteTxn};

    fn vault() -> Doc {
        let doc = Doc::with_client_id(1);
        {
            let mut txn = doc.transact_mut();
            let path_to_id = txn.get_or_insert_map("pathToId");
            let texts = txn.get_or_insert_map("idToText");
            for (path, id) in [("b.md", "id-b"), ("a.md", "id-a"), ("é.md", "id-e")] {
                path_to_id.insert(&mut txn, path, id);
                texts.insert(&mut txn, id, TextPrelim::new("text"));
            }
            let blobs = txn.get_or_insert_map("pathToBlob");
            blobs.insert(
                &mut txn,
                "img/x.png",
                MapPrelim::from([("hash", Any::from("h1")), ("size", Any::from(3))]),
            );
            blobs.insert(
                &mut txn,
                "img/🎉.png",
                Any::from(std::collections::HashMap::from([("hash".to_owned(), Any::from("h2"))])),
            );
            blobs.insert(
                &mut txn,
                "img/nohash.png",
                Any::from(std::collections::HashMap::from([("size".to_owned(), Any::from(1))])),
            );
            txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
        }
        doc
    }

    #[test]
    fn facts_read_off_a_real_document() {
        let facts = DocFacts::of(&vault());
        assert_eq!(facts.schema_version, Some(json!(3)));
        assert_eq!(facts.markdown_file_count, 3);
        assert_eq!(facts.blob_file_count, 3);
        assert_eq!(facts.referenced_blob_hashes, vec!["h1".to_owned(), "h2".to_owned()]);
        // Sorted as JavaScript sorts: by UTF-16 units.
        let lines = [
            "blob:img/x.png:h1",
            "blob:img/🎉.png:h2",
            "md:a.md:id-a",
            "md:b.md:id-b",
            "md:é.md:id-e",
        ];
        assert_eq!(facts.structure_hash, sha256_hex(lines.join("\n").as_bytes()));
    }

    #[test]
    fn facts_of_an_empty_document() {
        let facts = DocFacts::of(&Doc::new());
        assert_eq!(facts.schema_version, None);
        assert_eq!((facts.markdown_file_count, facts.blob_file_count), (0, 0));
        assert!(facts.referenced_blob_hashes.is_empty());
        assert_eq!(facts.structure_hash, sha256_hex(b""));
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+FF5E sorts after U+1F389 in code points but before it in UTF-16.
        let mut lines = vec!["md:🎉:1".to_owned(), "md:～:2".to_owned()];
        lines.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        assert_eq!(lines, ["md:🎉:1", "md:～:2"]);
    }

    #[test]
    fn new_index_json_field_by_field() {
        let index = NewIndex {
            snapshot_id: "id-1".into(),
            vault_id: "v".into(),
            created_at: "2026-05-28T10:11:12.345Z".into(),
            day: "2026-05-28".into(),
            schema_version: None,
            markdown_file_count: 2,
            blob_file_count: 1,
            crdt_size_bytes: 10,
            crdt_raw_size_bytes: 20,
            referenced_blob_hashes: vec!["h".into()],
            triggered_by: None,
            full_update_hash: "f".into(),
            structure_hash: "s".into(),
            pinned: false,
            reason: Reason::Daily.as_str(),
        };
        let text = serde_json::to_string(&index).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"snapshotId":"id-1","vaultId":"v","createdAt":"2026-05-28T10:11:12.345Z","day":"2026-05-28","#,
                r#""markdownFileCount":2,"blobFileCount":1,"crdtSizeBytes":10,"crdtRawSizeBytes":20,"#,
                r#""referencedBlobHashes":["h"],"fullUpdateHash":"f","structureHash":"s","pinned":false,"reason":"daily"}"#
            )
        );
        let with_all = NewIndex {
            schema_version: Some(json!(3)),
            triggered_by: Some("phone".into()),
            ..index
        };
        let value = SnapshotIndex::from_new(&with_all).to_json();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[4], "schemaVersion");
        assert_eq!(keys[10], "triggeredBy");
        assert_eq!(value["triggeredBy"], "phone");
    }

    #[test]
    fn stored_indexes_are_read_tolerantly() {
        let old = SnapshotIndex::parse(r#"{"snapshotId":"x","day":"2025-01-01","createdAt":"c","stateVectorHash":"sv","crdtSizeBytes":"12"}"#).unwrap();
        assert_eq!(old.full_update_hash(), None);
        assert_eq!(old.state_vector_hash(), Some("sv"));
        assert_eq!(old.crdt_size_bytes(), 0.0);
        assert!(!old.pinned());
        assert_eq!(old.reason(), None);
        let odd = SnapshotIndex::parse(r#"{"fullUpdateHash":"","reason":"","pinned":1}"#).unwrap();
        assert_eq!(odd.full_update_hash(), None);
        assert_eq!(odd.reason(), None);
        assert!(odd.pinned());
        for bad in ["", "[]", "null", "{", "\"x\""] {
            assert_eq!(SnapshotIndex::parse(bad), None, "{bad:?}");
        }
    }
}
