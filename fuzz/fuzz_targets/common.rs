//! Shared by the fuzz targets: the native SQLite seam the tests use, a
//! recording outbox and activation of a vault room over given storage.

#![allow(dead_code)]

#[path = "../../tests/support/sqlite.rs"]
pub mod sqlite;

use std::rc::Rc;

use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::room::vault_room::{Outbox, VaultRoom};
use yaos_server::store::kv::MemoryKv;
use yrs::{ReadTxn, StateVector, Transact};

pub use sqlite::SqliteExec;

pub type Db = Rc<SqliteExec>;

pub fn clock() -> u64 {
    1_767_225_600_000
}

/// Counts what the room sent; the fuzz targets only need it not to panic.
#[derive(Default)]
pub struct CountingOutbox {
    pub frames: usize,
    pub texts: usize,
}

impl Outbox for CountingOutbox {
    fn reply(&mut self, _frame: &[u8]) {
        self.frames += 1;
    }
    fn broadcast(&mut self, _frame: &[u8]) {
        self.frames += 1;
    }
    fn reply_text(&mut self, _text: &str) -> Result<(), String> {
        self.texts += 1;
        Ok(())
    }
    fn broadcast_text(&mut self, _text: &str) {}
    fn sender_open(&self) -> bool {
        true
    }
}

/// Activates a room over `db` and `kv`; `None` when activation refused the
/// stored state (an error, which is an allowed outcome).
pub fn activate(db: &Db, kv: &MemoryKv) -> Option<VaultRoom<Db>> {
    let mut log = TraceLog::default();
    futures::executor::block_on(VaultRoom::activate(Rc::clone(db), kv, clock, &mut log)).ok()
}

/// The room's state vector without zero clocks: yrs may list a client it
/// holds nothing of (clock 0), which no store keeps and means the same.
pub fn state_vector(room: &VaultRoom<Db>) -> StateVector {
    let sv = room.doc().transact().state_vector();
    let mut normal = StateVector::default();
    for (client, clock) in sv.iter().filter(|(_, clock)| **clock > 0) {
        normal.set_max(*client, *clock);
    }
    normal
}

/// The document's content: every non-empty root type as JSON, by name.
/// GC'd ranges and pending structs carry none, and a root that only a
/// reference created (undefined or empty) is not content either.
pub fn content(room: &VaultRoom<Db>) -> String {
    use yrs::types::ToJson;
    use yrs::Any;
    let txn = room.doc().transact();
    let mut roots: Vec<(String, String)> = txn
        .root_refs()
        .map(|(name, value)| (name.to_owned(), value.to_json(&txn)))
        .filter(|(_, json)| match json {
            Any::Undefined | Any::Null => false,
            Any::String(s) => !s.is_empty(),
            Any::Array(a) => !a.is_empty(),
            Any::Map(m) => !m.is_empty(),
            _ => true,
        })
        .map(|(name, json)| (name, canonical(&json)))
        .collect();
    roots.sort();
    format!("{roots:?}")
}

/// `any` as text with map keys sorted: yrs keeps maps in hash maps, whose
/// order differs from one map to the next even with the same entries.
pub fn canonical(any: &yrs::Any) -> String {
    use yrs::Any;
    match any {
        Any::Map(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> =
                entries.iter().map(|(k, v)| format!("{k:?}: {}", canonical(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
        Any::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(", "))
        }
        other => format!("{other:?}"),
    }
}
