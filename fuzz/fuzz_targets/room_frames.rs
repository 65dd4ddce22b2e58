//! The room's frame path: sequences of frames from several connections,
//! closes and compactions against a vault room over real (in-memory)
//! SQLite. Besides "never panics", two properties are checked: a frame the
//! structural check refused leaves the document untouched, and after the
//! sequence a fresh activation over the same storage holds the live room's
//! content (nothing acknowledged was lost, nothing unstored was served).

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use yaos_server::room::protocol::{FrameError, HeldAwareness};
use yaos_server::store::kv::MemoryKv;

#[path = "common.rs"]
mod common;
use common::*;

const CONNECTIONS: [&str; 3] = ["conn-a", "conn-b", "conn-c"];
const MAX_EVENTS: usize = 24;

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
    Close {
        conn: u8,
    },
    Compact,
}

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

fuzz_target!(|events: Vec<Event>| {
    let db = Db::new(SqliteExec::in_memory());
    let kv = MemoryKv::default();
    let mut room = activate(&db, &kv).expect("an empty store activates");
    let mut out = CountingOutbox::default();
    let mut ids: [HeldAwareness; 3] = Default::default();
    for event in events.into_iter().take(MAX_EVENTS) {
        let (conn, frame) = match event {
            Event::Frame { conn, bytes } => (conn as usize % 3, bytes),
            Event::Sync { conn, inner, payload } => {
                (conn as usize % 3, sync_frame(inner, &payload))
            }
            Event::Close { conn } => {
                let conn = conn as usize % 3;
                room.close(CONNECTIONS[conn], &ids[conn], &mut out);
                ids[conn] = HeldAwareness::default();
                continue;
            }
            Event::Compact => {
                room.compact_now();
                continue;
            }
        };
        let before = state_vector(&room);
        let turn = room.frame(CONNECTIONS[conn], frame, &mut ids[conn], &mut out);
        if matches!(turn.error, Some(FrameError::Invalid(_))) {
            assert_eq!(before, state_vector(&room), "a refused frame changed the document");
        }
    }
    // The property is on content. State vectors alone can disagree on
    // hostile input: yrs's full-state encoding does not round-trip some
    // garbage (GC'd ranges next to pending structs, deleted items under a
    // parent that is gone), which carries no content; a client whose state
    // vector the server then lacks just sends it again on its next sync.
    let live = content(&room);
    drop(room);
    let reloaded = activate(&db, &kv).expect("what the room stored activates again");
    assert_eq!(live, content(&reloaded), "stored content differs from the live room");
});
