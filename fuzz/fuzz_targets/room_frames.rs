//! The room's frame path: sequences of frames from several connections,
//! real edits from well-formed clients (some of megabytes, so checkpoints
//! span several chunks and deltas pass the journal row limit), closes,
//! emergency and policy compactions, restarts with frames after them, and
//! storage faults (journal or snapshot writes failing, once or until healed)
//! against a vault room over real (in-memory) SQLite. Besides "never panics", three
//! properties are checked: a frame the structural check refused leaves the
//! document untouched; every `postApply` echo a well-formed client received
//! is covered by what storage holds at the end (durable before
//! acknowledged); and once storage heals and one more edit is saved, a
//! fresh activation over the same storage holds the live room's content.
//! It found a JSON-content struct that made the stored state undecodable
//! (`regressions/room_frames/undecodable-checkpoint`,
//! `tests/checkpoint_encoding.rs`).

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use yaos_server::room::protocol::{FrameError, HeldAwareness};
use yaos_server::room::vault_room::Outbox;
use yaos_server::store::kv::MemoryKv;
use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, Map, Options, ReadTxn, StateVector, Transact, WriteTxn};

#[path = "common.rs"]
mod common;
use common::*;

const CONNECTIONS: [&str; 3] = ["conn-a", "conn-b", "conn-c"];
const MAX_EVENTS: usize = 24;
/// The well-formed clients' IDs, one per connection.
const CLIENT_BASE: u64 = 0x5eed_0000;
/// The root map they write to, a name the fuzzer does not reach: a fuzzed
/// update that typed the same root otherwise would hide their entries.
const WELL_FORMED_ROOT: &str = "well-formed-notes-5eed";

#[derive(Arbitrary, Debug)]
enum Event {
    Frame {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// A sync frame `[0, inner, varuint len, payload]` around fuzzed bytes,
    /// so the fuzzer reaches yrs's decoders without learning the envelope.
    Sync {
        conn: u8,
        inner: u8,
        payload: Vec<u8>,
    },
    /// An edit by the connection's well-formed client (its own Yjs document).
    Edit {
        conn: u8,
        key: u8,
        text: String,
    },
    Close {
        conn: u8,
    },
    Compact,
    /// Storage from now on: 0 journal inserts fail, 1 snapshot writes fail,
    /// 2 the second snapshot chunk insert fails once, 3 healed.
    Fault {
        kind: u8,
    },
    /// A large edit by the connection's well-formed client, `size` × 64 KiB
    /// (up to 3 MiB): multi-chunk checkpoints, journal rows over the row
    /// limit, the checkpoint fallback.
    BigEdit {
        conn: u8,
        key: u8,
        size: u8,
    },
    /// The deferred compaction the alarm runs, by the compaction policy.
    PolicyCompact,
    /// The object restarted: the room activated again from storage, the
    /// connections kept (hibernatable sockets). A failed activation keeps the
    /// room as it was, as a live object that could not restart would be.
    Restart,
}

/// A big edit's size unit and its largest multiple.
const BIG_EDIT_UNIT: usize = 64 * 1024;
const BIG_EDIT_MAX_UNITS: u8 = 48;

fn sync_frame(inner: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, inner % 3];
    let mut len = payload.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            frame.push(byte);
            break;
        }
        frame.push(byte | 0x80);
    }
    frame.extend_from_slice(payload);
    frame
}

/// Records the state vector of every echo the room sends.
#[derive(Default)]
struct EchoOutbox {
    echoes: Vec<StateVector>,
}

impl Outbox for EchoOutbox {
    fn reply(&mut self, _frame: &[u8]) {}
    fn broadcast(&mut self, _frame: &[u8]) {}
    fn reply_text(&mut self, text: &str) -> Result<(), String> {
        let json = text.strip_prefix("__YPS:").unwrap_or_default();
        if let Ok(message) = serde_json::from_str::<serde_json::Value>(json) {
            if message["type"] == "yaos/sv-echo" {
                let sv = message["sv"].as_str().unwrap_or_default();
                let bytes = STANDARD.decode(sv).expect("an echo's state vector is base64");
                self.echoes.push(StateVector::decode_v1(&bytes).expect("an echo decodes"));
            }
        }
        Ok(())
    }
    fn broadcast_text(&mut self, text: &str) {
        let _ = self.reply_text(text);
    }
    fn sender_open(&self) -> bool {
        true
    }
}

/// The well-formed client of connection `conn` sets `key` to `text`; its
/// update as a sync Update frame.
fn edit(client: &Doc, key: u8, text: &str) -> Vec<u8> {
    let before = client.transact().state_vector();
    {
        let mut txn = client.transact_mut();
        let notes = txn.get_or_insert_map(WELL_FORMED_ROOT);
        notes.insert(&mut txn, format!("k{key}"), text.to_owned());
    }
    let update = client.transact().encode_state_as_update_v1(&before);
    sync_frame(2, &update)
}

/// The well-formed clients' map, typed and rendered with sorted keys. The
/// server never types a root (it does not know the types), so `content`
/// sees only roots a fuzzed update typed; this one is typed here.
fn well_formed(room: &yaos_server::room::vault_room::VaultRoom<Db>) -> String {
    use yrs::types::ToJson;
    let map = room.doc().get_or_insert_map(WELL_FORMED_ROOT);
    let txn = room.doc().transact();
    canonical(&map.to_json(&txn))
}

fn apply_fault(db: &Db, kind: u8) {
    match kind % 4 {
        0 => db.break_statements("INSERT INTO journal"),
        1 => db.break_statements("snapshot_chunks"),
        2 => db.fail_statement("INSERT INTO snapshot_chunks", 1),
        _ => {
            db.heal();
            db.clear_fault();
        }
    }
}

fuzz_target!(|events: Vec<Event>| {
    let db = Db::new(SqliteExec::in_memory());
    let kv = MemoryKv::default();
    let mut room = activate(&db, &kv).expect("an empty store activates");
    let mut out = EchoOutbox::default();
    let mut ids: [HeldAwareness; 3] = Default::default();
    let clients: Vec<Doc> = (0..3)
        .map(|i| Doc::with_options(Options::with_client_id(ClientID::new(CLIENT_BASE + i))))
        .collect();
    for event in events.into_iter().take(MAX_EVENTS) {
        let (conn, frame) = match event {
            Event::Frame { conn, bytes } => (conn as usize % 3, bytes),
            Event::Sync { conn, inner, payload } => {
                (conn as usize % 3, sync_frame(inner, &payload))
            }
            Event::Edit { conn, key, text } => {
                let conn = conn as usize % 3;
                (conn, edit(&clients[conn], key % 8, &text))
            }
            Event::Close { conn } => {
                let conn = conn as usize % 3;
                room.close(CONNECTIONS[conn], &ids[conn], &mut out);
                ids[conn] = HeldAwareness::default();
                continue;
            }
            Event::BigEdit { conn, key, size } => {
                let conn = conn as usize % 3;
                let units = 1 + (size % BIG_EDIT_MAX_UNITS) as usize;
                let fill = char::from(b'a' + key % 26);
                let text: String = std::iter::repeat_n(fill, units * BIG_EDIT_UNIT).collect();
                (conn, edit(&clients[conn], key % 8, &text))
            }
            Event::Compact => {
                room.compact_now();
                continue;
            }
            Event::PolicyCompact => {
                room.compact_if_due();
                continue;
            }
            Event::Restart => {
                if let Some(restarted) = activate(&db, &kv) {
                    room = restarted;
                }
                continue;
            }
            Event::Fault { kind } => {
                apply_fault(&db, kind);
                continue;
            }
        };
        let before = state_vector(&room);
        let turn = room.frame(CONNECTIONS[conn], frame, &mut ids[conn], &mut out);
        if matches!(turn.error, Some(FrameError::Invalid(_))) {
            assert_eq!(before, state_vector(&room), "a refused frame changed the document");
        }
    }
    // Durable before acknowledged: what was echoed of the well-formed
    // clients is in storage (read before anything else is saved; the faults
    // are lifted only so that the read itself works).
    db.heal();
    db.clear_fault();
    let stored = activate(&db, &kv).expect("what the room stored activates again");
    let stored_sv = state_vector(&stored);
    drop(stored);
    for echo in &out.echoes {
        for client in (0..3).map(|i| ClientID::new(CLIENT_BASE + i)) {
            assert!(
                stored_sv.get(&client) >= echo.get(&client),
                "client {client:?}: echoed {}, stored {}",
                echo.get(&client),
                stored_sv.get(&client)
            );
        }
    }
    // Healed, one more edit saves whatever the faults left pending. The
    // property is on content: state vectors alone can disagree on hostile
    // input (yrs's full-state encoding does not round-trip some garbage, GC'd
    // ranges next to pending structs, which carries no content).
    let last = edit(&clients[0], 0, "after the faults");
    room.frame(CONNECTIONS[0], last, &mut ids[0], &mut out);
    let live = (content(&room), well_formed(&room));
    drop(room);
    let reloaded = activate(&db, &kv).expect("what the room stored activates again");
    assert_eq!(live, (content(&reloaded), well_formed(&reloaded)), "stored content differs");
});
