//! [`Fingerprint`]: what two documents must share to be the same document,
//! small enough to keep after the document itself is dropped, and
//! [`same_document`], which compares two fingerprints.
//!
//! The structure (state vector and delete set) is kept whole: it is small
//! next to the content. The content of every root is hashed (SHA-256) in a
//! canonical form that compares exactly as the JSON views did when they were
//! compared directly: map keys in sorted order, numbers by value (yrs's
//! `Number` equality is numeric across its `Int` and `Float` variants, and an
//! update round trip may change the variant). Map roots are hashed entry by
//! entry, so the whole vault's text is never materialised as one JSON value.

use sha2::{Digest, Sha256};
use yrs::types::ToJson;
use yrs::{Any, Doc, GetString, Map, MapRef, Out, ReadTxn, Snapshot, Transact};

/// Everything [`same_document`] compares, for one document.
#[derive(Debug, PartialEq)]
pub(super) struct Fingerprint {
    /// State vector and delete set.
    snapshot: Snapshot,
    /// Updates wait for missing dependencies.
    pending: bool,
    /// Per root, sorted by name: its map entries as JSON and its sequence read
    /// as text (a root's type is not known after decoding, so both views).
    roots: [u8; 32],
}

impl Fingerprint {
    pub(super) fn of(doc: &Doc) -> Fingerprint {
        let txn = doc.transact();
        let mut names: Vec<&str> = txn.root_refs().map(|(name, _)| name).collect();
        names.sort_unstable();
        let mut canon = Canonical(Sha256::new());
        canon.len(names.len());
        for name in names {
            canon.str(name);
            match txn.get_map(name) {
                Some(map) => canon.map(&txn, &map),
                None => canon.tag(Tag::Absent),
            }
            match txn.get_text(name) {
                Some(text) => canon.string(&text.get_string(&txn)),
                None => canon.tag(Tag::Absent),
            }
        }
        Fingerprint {
            snapshot: txn.snapshot(),
            pending: txn.has_missing_updates(),
            roots: canon.0.finalize().into(),
        }
    }

    /// Same state vector, delete set and pending-update presence.
    pub(super) fn structure_matches(&self, other: &Fingerprint) -> bool {
        self.snapshot == other.snapshot && self.pending == other.pending
    }

    pub(super) fn content_matches(&self, other: &Fingerprint) -> bool {
        self.roots == other.roots
    }
}

/// True when two documents hold the same state: equal state vectors, delete
/// sets, pending-update presence and root contents. Unlike comparing
/// encoded updates, this does not depend on the order yrs happens to encode
/// JSON-object values in.
pub fn same_document(a: &Doc, b: &Doc) -> bool {
    Fingerprint::of(a) == Fingerprint::of(b)
}

/// Type tags of the canonical form.
#[derive(Clone, Copy)]
enum Tag {
    Absent,
    Null,
    Undefined,
    Bool,
    /// A number that is exactly an `f64` (compared as one).
    Number,
    /// An `Int` with no exact `f64` (equal only to the same `Int`).
    Integer,
    String,
    Buffer,
    Array,
    Map,
}

/// A hasher fed a self-delimiting serialization: every variable-length part
/// is length-prefixed, so distinct values cannot run together.
struct Canonical(Sha256);

impl Canonical {
    fn tag(&mut self, tag: Tag) {
        self.0.update([tag as u8]);
    }

    fn len(&mut self, len: usize) {
        self.0.update((len as u64).to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.update(s.as_bytes());
    }

    fn string(&mut self, s: &str) {
        self.tag(Tag::String);
        self.str(s);
    }

    /// A map root or nested map, as `MapRef::to_json` would give it: every
    /// live entry, its last value, `Null` when it has none.
    fn map<T: ReadTxn>(&mut self, txn: &T, map: &MapRef) {
        let mut keys: Vec<&str> = map.keys(txn).collect();
        keys.sort_unstable();
        self.tag(Tag::Map);
        self.len(keys.len());
        for key in keys {
            self.str(key);
            match map.get(txn, key) {
                Some(Out::YMap(nested)) => self.map(txn, &nested),
                Some(value) => self.any(&value.to_json(txn)),
                None => self.any(&Any::Null),
            }
        }
    }

    fn any(&mut self, value: &Any) {
        match value {
            Any::Null => self.tag(Tag::Null),
            Any::Undefined => self.tag(Tag::Undefined),
            Any::Bool(b) => {
                self.tag(Tag::Bool);
                self.0.update([u8::from(*b)]);
            }
            Any::Number(number) => match number.as_f64() {
                Some(float) => {
                    self.tag(Tag::Number);
                    // -0.0 == 0.0, so both hash as 0.0.
                    let float = if float == 0.0 { 0.0 } else { float };
                    self.0.update(float.to_bits().to_le_bytes());
                }
                None => {
                    self.tag(Tag::Integer);
                    self.0.update(number.as_i64().unwrap_or_default().to_le_bytes());
                }
            },
            Any::String(s) => self.string(s),
            Any::Buffer(bytes) => {
                self.tag(Tag::Buffer);
                self.len(bytes.len());
                self.0.update(bytes);
            }
            Any::Array(items) => {
                self.tag(Tag::Array);
                self.len(items.len());
                items.iter().for_each(|item| self.any(item));
            }
            Any::Map(entries) => {
                let mut sorted: Vec<(&String, &Any)> = entries.iter().collect();
                sorted.sort_unstable_by_key(|(key, _)| *key);
                self.tag(Tag::Map);
                self.len(sorted.len());
                for (key, value) in sorted {
                    self.str(key);
                    self.any(value);
                }
            }
        }
    }
}
