//! Loading a vault from arbitrary SQL rows (snapshot chunks, journal rows,
//! migration markers), with or without legacy key-value data next to them:
//! activation either serves a document or returns an error, never panics,
//! and a room it served still takes an edit and stores it.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use yaos_server::store::kv::{KvValue, MemoryKv};
use yaos_server::store::legacy_kv::LEGACY_DOCUMENT_KEY;
use yaos_server::store::sql::{SqlExec, SqlParam};
use yaos_server::store::sql_store::SqlDocStore;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact};

#[path = "common.rs"]
mod common;
use common::*;

const META_KEYS: [&str; 4] = ["migration_completed", "snapshot_bytes", "source_format", "note"];

#[derive(Arbitrary, Debug)]
struct Rows {
    /// Start from a real snapshot of a small document (chunk 0).
    real_snapshot: bool,
    chunks: Vec<(u8, Vec<u8>)>,
    /// Journal rows: data and a declared byte length (None: the true one).
    journal: Vec<(Vec<u8>, Option<i32>)>,
    meta: Vec<(u8, String)>,
    legacy_document: Option<Vec<u8>>,
}

fn small_update() -> Vec<u8> {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("note");
    text.insert(&mut doc.transact_mut(), 0, "hello vault");
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    update
}

fuzz_target!(|rows: Rows| {
    let db = Db::new(SqliteExec::in_memory());
    // Creates the tables.
    drop(SqlDocStore::new(std::rc::Rc::clone(&db)).expect("tables"));
    if rows.real_snapshot {
        let update = small_update();
        let params = [SqlParam::Integer(0), SqlParam::Blob(&update)];
        let _ = db.execute("INSERT OR REPLACE INTO snapshot_chunks VALUES (?, ?)", &params);
    }
    for (index, data) in rows.chunks.iter().take(8) {
        let params = [SqlParam::Integer(i64::from(*index % 8)), SqlParam::Blob(data)];
        let _ = db.execute("INSERT OR REPLACE INTO snapshot_chunks VALUES (?, ?)", &params);
    }
    for (data, declared) in rows.journal.iter().take(8) {
        let len = declared.map_or(data.len() as i64, i64::from);
        let params = [SqlParam::Blob(data), SqlParam::Integer(len)];
        let _ = db.execute("INSERT INTO journal (data, byte_length) VALUES (?, ?)", &params);
    }
    for (key, value) in rows.meta.iter().take(6) {
        let key = META_KEYS[*key as usize % META_KEYS.len()];
        let params = [SqlParam::Text(key), SqlParam::Text(value)];
        let _ = db.execute("INSERT OR REPLACE INTO _migration_meta VALUES (?, ?)", &params);
    }
    let kv = MemoryKv::default();
    if let Some(document) = rows.legacy_document {
        kv.entries.borrow_mut().insert(LEGACY_DOCUMENT_KEY.into(), KvValue::Bytes(document));
    }
    let Some(mut room) = activate(&db, &kv) else { return };
    if room.is_read_only() {
        return;
    }
    // A fresh client's sync, answered from the same rows (or the document).
    let mut ids = Default::default();
    let fresh = room.frame("fresh", vec![0, 0, 1, 0], &mut ids, &mut CountingOutbox::default());
    assert!(fresh.error.is_none(), "a fresh sync failed: {:?}", fresh.error);
    // A served room takes an edit from a client and stores it.
    let client = Doc::new();
    client.get_or_insert_text("typed").insert(&mut client.transact_mut(), 0, "x");
    let update = { client.transact().encode_state_as_update_v1(&StateVector::default()) };
    let mut frame = vec![0, 2];
    frame.push(update.len() as u8); // a one-byte varuint: the update is tiny
    frame.extend_from_slice(&update);
    let turn = room.frame("conn", frame, &mut ids, &mut CountingOutbox::default());
    assert!(turn.error.is_none(), "a client edit failed: {:?}", turn.error);
    let durable = turn.save.as_ref().is_some_and(|save| save.is_durable());
    let live = state_vector(&room);
    drop(room);
    // Rows that served a room once serve it again, with the edit when its
    // save was durable (an edit whose save failed was never acknowledged).
    let reloaded = activate(&db, &kv).expect("rows that loaded once no longer load");
    if durable {
        assert_eq!(live, state_vector(&reloaded), "the acknowledged edit was not stored");
    }
    let _ = client.transact().state_vector().encode_v1();
});
