//! What the `room_frames` fuzz target found: yrs 0.28 decodes JSON content
//! (Yjs before 13) with one string more than its count and encodes it with
//! the count of what it read, so a journal row or checkpoint holding such a
//! struct does not decode again. One frame from any client left the vault
//! unloadable at its next activation (read-only, with the empty key-value
//! fallback). The wire check refuses JSON content, tested here. Still open:
//! checking any checkpoint or journal row loads again before it commits,
//! whatever the cause (a streaming check that buffers the struct it reads
//! added a 28 MiB note's size to that save's memory; it needs to skip long
//! contents without holding them).

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::rc::Rc;

use futures::executor::block_on;
use sqlite::SqliteExec;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::room::protocol::{FrameError, HeldAwareness};
use yaos_server::room::vault_room::{Outbox, VaultRoom};
use yaos_server::store::kv::MemoryKv;
use yaos_server::wire_check::check_update_v1;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, Map, Options, ReadTxn, Transact, Update, WriteTxn};

struct Discard;

impl Outbox for Discard {
    fn reply(&mut self, _: &[u8]) {}
    fn broadcast(&mut self, _: &[u8]) {}
    fn reply_text(&mut self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn broadcast_text(&mut self, _text: &str) {}
    fn sender_open(&self) -> bool {
        true
    }
}

fn clock() -> u64 {
    1_767_225_600_000
}

/// The fuzzer's SyncStep2 payload: client 58, one JSON-content struct under
/// root "\x1a" (count 1, which yrs reads as two strings).
const JSON_CONTENT: [u8; 25] =
    [1, 1, 58, 0, 2, 1, 1, 26, 1, 1, 1, 1, 58, 0, 0, 58, 1, 0, 2, 95, 97, 1, 58, 254, 30];

#[test]
fn yrs_does_not_encode_json_content_back_as_it_decodes_it() {
    let update = Update::decode_v1(&JSON_CONTENT).expect("yrs decodes it");
    let again = update.encode_v1();
    assert!(Update::decode_v1(&again).is_err(), "if this passes, yrs fixed it: {again:?}");
}

#[test]
fn json_content_is_refused_and_the_vault_keeps_loading() {
    let db = Rc::new(SqliteExec::in_memory());
    let kv = MemoryKv::default();
    let activate = || {
        block_on(VaultRoom::activate(Rc::clone(&db), &kv, clock, &mut TraceLog::default()))
            .expect("activation")
    };
    assert_eq!(
        check_update_v1(&JSON_CONTENT).unwrap_err().why,
        "JSON content (Yjs before 13) is not taken"
    );
    let mut room = activate();
    let mut ids = HeldAwareness::default();
    let turn = room.frame("c1", docs::sync_frame(1, &JSON_CONTENT), &mut ids, &mut Discard);
    assert!(matches!(turn.error, Some(FrameError::Invalid(_))), "{:?}", turn.error);
    let client = Doc::with_options(Options::with_client_id(ClientID::new(0x5eed_0001)));
    let update = {
        let mut txn = client.transact_mut();
        txn.get_or_insert_map("notes").insert(&mut txn, "k0", "x");
        txn.encode_update_v1()
    };
    let turn = room.frame("c1", docs::sync_frame(2, &update), &mut ids, &mut Discard);
    assert!(turn.save.is_some_and(|s| s.is_durable()), "acknowledged");
    room.compact_now();
    drop(room);
    let reloaded = activate();
    assert!(!reloaded.is_read_only(), "SQL still loads");
    let sv = reloaded.doc().transact().state_vector();
    assert_eq!(sv.get(&ClientID::new(0x5eed_0001)), 1, "the acknowledged edit is stored");
}
