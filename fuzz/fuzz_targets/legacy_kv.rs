//! The legacy key-value reader and the migration that runs on it: a valid
//! legacy layout (a checkpoint plus journal entries written as the old
//! server did), then arbitrary damage (keys removed, fields replaced, chunk
//! bytes flipped). Reading and migrating never panic; a migration either
//! serves the document or refuses with the legacy data left in place; what
//! it serves holds nothing the legacy data did not, and an undamaged vault
//! migrates to exactly its source.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use yaos_server::store::kv::{KvValue, MemoryKv};
use yaos_server::store::legacy_kv::read_legacy_kv;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, Text, Transact};

#[path = "common.rs"]
mod common;
#[path = "../../tests/support/legacy_writer.rs"]
#[allow(dead_code)]
mod legacy_writer;
use common::*;

const FIELDS: [&str; 8] =
    ["format", "version", "chunkSizeBytes", "chunkCount", "byteLength", "sha256", "seq", "nextSeq"];

#[derive(Arbitrary, Debug)]
enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Integer(u32),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn into_kv(self) -> KvValue {
        match self {
            Value::Null => KvValue::Null,
            Value::Bool(b) => KvValue::Bool(b),
            Value::Number(n) => KvValue::Number(n),
            Value::Integer(n) => KvValue::Number(f64::from(n)),
            Value::Text(s) => KvValue::String(s),
            Value::Bytes(b) => KvValue::Bytes(b),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Damage {
    Remove { key: u8 },
    Replace { key: u8, value: Value },
    SetField { key: u8, field: u8, value: Value },
    FlipByte { key: u8, at: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    notes: Vec<String>,
    journal_edits: Vec<String>,
    damage: Vec<Damage>,
}

fuzz_target!(|input: Input| {
    let kv = MemoryKv::default();
    let doc = Doc::new();
    let text = doc.get_or_insert_text("vault");
    for note in input.notes.iter().take(4) {
        text.push(&mut doc.transact_mut(), note);
    }
    legacy_writer::checkpoint_doc(&kv, &doc);
    for edit in input.journal_edits.iter().take(4) {
        let before = doc.transact().state_vector();
        text.push(&mut doc.transact_mut(), edit);
        legacy_writer::append_update(&kv, &doc.transact().encode_state_as_update_v1(&before));
    }
    let damaged = !input.damage.is_empty();
    for damage in input.damage.into_iter().take(6) {
        let keys: Vec<String> = kv.entries.borrow().keys().cloned().collect();
        if keys.is_empty() {
            break;
        }
        let pick = |k: u8| keys[k as usize % keys.len()].clone();
        let mut entries = kv.entries.borrow_mut();
        match damage {
            Damage::Remove { key } => {
                entries.remove(&pick(key));
            }
            Damage::Replace { key, value } => {
                entries.insert(pick(key), value.into_kv());
            }
            Damage::SetField { key, field, value } => {
                if let Some(KvValue::Object(fields)) = entries.get_mut(&pick(key)) {
                    let name = FIELDS[field as usize % FIELDS.len()];
                    fields.retain(|(k, _)| k != name);
                    fields.push((name.to_owned(), value.into_kv()));
                }
            }
            Damage::FlipByte { key, at } => {
                if let Some(KvValue::Bytes(bytes)) = entries.get_mut(&pick(key)) {
                    if !bytes.is_empty() {
                        let at = at as usize % bytes.len();
                        bytes[at] ^= 0x5a;
                    }
                }
            }
        }
    }
    let _ = futures::executor::block_on(read_legacy_kv(&kv));
    // Compared as text: a NaN value never equals itself.
    let before = format!("{:?}", legacy_writer::dump(&kv));
    let db = Db::new(SqliteExec::in_memory());
    match activate(&db, &kv) {
        Some(room) if !room.is_read_only() && room.storage().is_read_only() => {
            unreachable!("storage and coordinator disagree on read-only")
        }
        Some(room) => {
            // What was served was written: nothing beyond the source's clocks.
            let source = doc.transact().state_vector();
            let served = room.doc().transact().state_vector();
            assert!(
                served.iter().all(|(client, clock)| source.get(client) >= *clock),
                "the migration served structs the legacy data never held"
            );
            // Undamaged, the migration serves exactly the source.
            if !damaged {
                assert!(!room.is_read_only(), "an undamaged vault migrates");
                assert_eq!(served, source, "the migrated state vector");
                let text = room.doc().get_or_insert_text("vault");
                let source_text = doc.get_or_insert_text("vault");
                assert_eq!(
                    text.get_string(&room.doc().transact()),
                    source_text.get_string(&doc.transact()),
                    "the migrated text"
                );
            }
        }
        // A refused migration leaves every legacy key as it was.
        None => {
            assert_eq!(before, format!("{:?}", legacy_writer::dump(&kv)), "migration changed KV")
        }
    }
    let _ = doc.transact().state_vector().encode_v1();
});
