//! The vault room, natively, over real SQLite: the frame turn's order and its
//! durability rule (no echo unless the change is durable), the failure
//! branches, the read-only fallback, awareness bookkeeping, wake, and the
//! debug report of spec 9.2 for a fresh, a migrated and a fallback room.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/legacy_writer.rs"]
#[allow(dead_code)]
mod legacy_writer;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::cell::RefCell;
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};
use sqlite::SqliteExec;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::persist::CommitWindow;
use yaos_server::persist::{SaveOutcome, Status};
use yaos_server::room::debug_report::debug_report;
use yaos_server::room::protocol::HeldAwareness;
use yaos_server::room::sv_echo::sv_echo_frame;
use yaos_server::room::vault_room::{FrameTurn, Outbox, VaultRoom};
use yaos_server::store::kv::MemoryKv;
use yrs::sync::{Awareness, Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Doc, Map, ReadTxn, StateVector, Transact, WriteTxn};

fn clock() -> u64 {
    1_779_963_072_345
}

type Log = Rc<RefCell<Vec<String>>>;

/// Records what the room sends, into the same log the database writes to.
struct Recorder {
    log: Log,
    open: bool,
}

impl Outbox for Recorder {
    fn reply(&mut self, frame: &[u8]) {
        self.log.borrow_mut().push(format!("reply {}", kind(frame)));
    }
    fn broadcast(&mut self, frame: &[u8]) {
        self.log.borrow_mut().push(format!("broadcast {}", kind(frame)));
    }
    fn reply_text(&mut self, text: &str) -> Result<(), String> {
        self.log.borrow_mut().push(format!("text {text}"));
        Ok(())
    }
    fn broadcast_text(&mut self, text: &str) {
        self.log.borrow_mut().push(format!("broadcast text {text}"));
    }
    fn sender_open(&self) -> bool {
        self.open
    }
}

/// A frame's outer and inner type, as the log names it.
fn kind(frame: &[u8]) -> &'static str {
    match frame {
        [0, 0, ..] => "step1",
        [0, 1, ..] => "step2",
        [0, 2, ..] => "update",
        [1, ..] => "awareness",
        _ => "other",
    }
}

struct Harness {
    room: VaultRoom<SqliteExec>,
    log: Log,
    ids: HeldAwareness,
}

impl Harness {
    fn activate(kv: &MemoryKv, prepare: impl FnOnce(&SqliteExec)) -> Harness {
        Harness::activate_with_clock(kv, prepare, clock)
    }

    fn activate_with_clock(
        kv: &MemoryKv,
        prepare: impl FnOnce(&SqliteExec),
        clock: fn() -> u64,
    ) -> Harness {
        let log: Log = Rc::default();
        let sql = SqliteExec::logged(Rc::clone(&log));
        prepare(&sql);
        let mut trace = TraceLog::default();
        let room = block_on(VaultRoom::activate(sql, kv, clock, &mut trace)).expect("activation");
        log.borrow_mut().clear();
        Harness { room, log, ids: HeldAwareness::default() }
    }

    fn fresh() -> Harness {
        Harness::activate(&MemoryKv::default(), |_| {})
    }

    fn out(&self) -> Recorder {
        Recorder { log: Rc::clone(&self.log), open: true }
    }

    fn frame(&mut self, frame: Vec<u8>) -> Option<SaveOutcome> {
        let mut out = self.out();
        let turn = self.room.frame("conn-a", frame, &mut self.ids, &mut out);
        assert!(turn.error.is_none(), "{:?}", turn.error);
        turn.save
    }

    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    fn journal_rows(&self) -> i64 {
        self.room.store().sql().scalar("SELECT COUNT(*) FROM journal")
    }

    fn echo(&self) -> String {
        format!("text {}", sv_echo_frame(&self.room.doc().transact().state_vector().encode_v1()))
    }

    fn sql(&self) -> &SqliteExec {
        self.room.store().sql()
    }
}

/// The `postApply` echo a room holding exactly `client`'s edits sends.
fn echo_of(client: &Doc) -> String {
    format!("text {}", sv_echo_frame(&client.transact().state_vector().encode_v1()))
}

/// A client's edit as an Update frame.
fn edit(client: &Doc, text: &str) -> Vec<u8> {
    let update = {
        let mut txn = client.transact_mut();
        let notes = txn.get_or_insert_map("notes");
        notes.insert(&mut txn, text, text);
        txn.encode_update_v1()
    };
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

#[test]
fn an_update_frame_is_broadcast_then_journaled_then_echoed_once() {
    let mut h = Harness::fresh();
    let client = docs::doc(11);
    let saved = h.frame(edit(&client, "hello"));
    assert!(matches!(saved, Some(SaveOutcome::Appended(_))), "{saved:?}");
    assert_eq!(
        h.take_log(),
        ["broadcast update".to_owned(), "sql INSERT INTO journal".to_owned(), h.echo()]
    );
    assert_eq!(h.journal_rows(), 1);
    // A duplicate changes nothing and writes nothing, but is still acknowledged.
    let client_state = Message::Sync(SyncMessage::Update(docs::full_state(&client))).encode_v1();
    assert!(matches!(h.frame(client_state), Some(SaveOutcome::Skipped(_))));
    assert_eq!(h.take_log(), [h.echo()]);
    assert_eq!(h.journal_rows(), 1);
}

#[test]
fn a_sync_step1_gets_its_step2_reply_and_no_echo() {
    let mut h = Harness::fresh();
    h.frame(edit(&docs::doc(11), "x"));
    h.take_log();
    let step1 =
        Message::Sync(SyncMessage::SyncStep1(Doc::new().transact().state_vector())).encode_v1();
    assert_eq!(h.frame(step1), None, "not update-bearing");
    // A fresh client: the stored rows as updates, then the SyncStep2 with
    // each client's first struct; here one map entry, held back whole, so
    // the SyncStep2 is the whole answer (tests/stored_sync.rs has the details).
    assert_eq!(h.take_log(), ["reply step2"]);
}

#[test]
fn a_small_vault_goes_as_one_step2_and_a_larger_one_in_pieces_from_the_rows() {
    use yaos_server::room::limits::{RoomLimits, MIN_PIECE_BYTES};
    use yaos_server::room::vault_room::STORED_SYNC_EVENT;
    let mut h = Harness::fresh();
    h.room.set_limits(RoomLimits {
        sync_piece_bytes: MIN_PIECE_BYTES,
        one_step_sync_bytes: 0,
        ..RoomLimits::default()
    });
    let client = docs::doc(11);
    let step1 =
        || Message::Sync(SyncMessage::SyncStep1(Doc::new().transact().state_vector())).encode_v1();
    let fresh_sync = |h: &mut Harness| {
        h.frame(step1());
        let log = h.take_log();
        let traces = h.room.take_traces().drain();
        let (_, data) = traces.iter().find(|(e, _)| e == STORED_SYNC_EVENT).expect("traced");
        (log, data["source"].as_str().unwrap().to_owned(), data["frames"].as_u64().unwrap())
    };
    // `edit` writes its text as the key and the value.
    h.frame(edit(&client, &"a".repeat(MIN_PIECE_BYTES / 4)));
    h.take_log();
    let (log, source, frames) = fresh_sync(&mut h);
    assert_eq!((log, source.as_str(), frames), (vec!["reply step2".to_owned()], "document", 1));
    // Past one piece and the one-step size: pieces the client keeps
    // pending, then the SyncStep2.
    h.frame(edit(&client, &"b".repeat(MIN_PIECE_BYTES)));
    h.frame(edit(&client, &"c".repeat(MIN_PIECE_BYTES)));
    h.take_log();
    let (log, source, frames) = fresh_sync(&mut h);
    assert_eq!(source, "rows");
    assert!(frames > 1, "{frames}");
    assert_eq!(log.len() as u64, frames);
    assert_eq!(log.last().map(String::as_str), Some("reply step2"));
    assert!(log[..log.len() - 1].iter().all(|l| l == "reply update"), "{log:?}");
    // Up to the one-step size, whatever the piece size: one SyncStep2.
    h.room.set_limits(RoomLimits {
        sync_piece_bytes: MIN_PIECE_BYTES,
        one_step_sync_bytes: 8 * MIN_PIECE_BYTES,
        ..RoomLimits::default()
    });
    let (log, source, frames) = fresh_sync(&mut h);
    assert_eq!((log, source.as_str(), frames), (vec!["reply step2".to_owned()], "document", 1));
}

#[test]
fn a_failing_append_gets_no_echo_and_the_checkpoint_that_follows_does() {
    let mut h = Harness::fresh();
    let client = docs::doc(11);
    h.sql().break_statements("INSERT INTO journal");
    let first = h.frame(edit(&client, "one"));
    assert!(matches!(first, Some(SaveOutcome::Failed(_))), "{first:?}");
    assert_eq!(h.take_log(), ["broadcast update"], "relayed, never acknowledged");
    // The second failure in a row falls back to a checkpoint at once.
    let second = h.frame(edit(&client, "two"));
    assert_eq!(second, Some(SaveOutcome::ImmediateFallback));
    let log = h.take_log();
    assert_eq!(log.first().map(String::as_str), Some("broadcast update"));
    assert!(log.iter().any(|l| l == "sql INSERT INTO snapshot_chunks"), "{log:?}");
    // The echo is built from the client's state, not the room's: a room
    // that dropped an edit would echo less.
    assert_eq!(
        log.last(),
        Some(&echo_of(&client)),
        "the echo follows the checkpoint and covers both edits"
    );
    assert_eq!(h.room.debug_parts().persistence.status, Status::Healthy);
}

#[test]
fn a_failing_append_and_checkpoint_relay_but_never_echo() {
    let mut h = Harness::fresh();
    let client = docs::doc(11);
    h.sql().break_statements("INSERT INTO journal");
    h.sql().break_statements("snapshot_chunks");
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        let saved = h.frame(edit(&client, text));
        assert!(matches!(saved, Some(SaveOutcome::Failed(_))), "{i}: {saved:?}");
        assert_eq!(h.take_log(), ["broadcast update"], "{i}");
    }
    let health = h.room.debug_parts().persistence;
    assert_eq!(health.status, Status::Degraded);
    assert_eq!(health.consecutive_save_failures, 3);
    assert!(health.last_save_error.as_deref().is_some_and(|e| e.contains("injected")));
    // Storage heals: the next frame's save makes everything durable and echoes.
    h.sql().heal();
    let saved = h.frame(edit(&client, "four"));
    assert!(saved.is_some_and(|s| s.is_durable()), "{saved:?}");
    assert_eq!(h.take_log().last(), Some(&echo_of(&client)), "covers all four edits");
    let reloaded = docs::rebuilt(&yaos_server::store::DocStore::load(h.room.store()).unwrap());
    let notes = reloaded.transact().get_map("notes").map(|m| m.len(&reloaded.transact()));
    assert_eq!(notes, Some(4), "every edit is stored");
}

/// The echo frame that carries state vector `sv`.
fn echo_with(sv: &StateVector) -> String {
    format!("text {}", sv_echo_frame(&sv.encode_v1()))
}

#[test]
fn a_new_socket_s_baseline_echo_leaves_out_an_edit_that_failed_to_save() {
    let mut h = Harness::fresh();
    let client = docs::doc(11);
    h.frame(edit(&client, "stored"));
    let durable = client.transact().state_vector();
    h.take_log();
    h.sql().break_statements("INSERT INTO journal");
    h.sql().break_statements("snapshot_chunks");
    let failed = h.frame(edit(&client, "unsaved"));
    assert!(matches!(failed, Some(SaveOutcome::Failed(_))), "{failed:?}");
    h.take_log();
    // The device reconnects: its new socket's baseline echo must not cover
    // the edit storage does not hold (the plugin would count it as safe).
    h.room.connect(&mut h.out());
    let log = h.take_log();
    assert_eq!(log.last(), Some(&echo_with(&durable)), "the durable state only");
    assert_ne!(log.last(), Some(&echo_of(&client)));
    // Healed: the next save stores both, and a new socket's echo covers both.
    h.sql().heal();
    assert!(h.frame(edit(&client, "after")).is_some_and(|s| s.is_durable()));
    h.take_log();
    h.room.connect(&mut h.out());
    assert_eq!(h.take_log().last(), Some(&echo_of(&client)));
}

/// A kv-fallback room: SQL fails to load and the legacy store has the vault.
fn fallback_room() -> Harness {
    let kv = MemoryKv::default();
    let legacy = docs::doc(5);
    docs::append_text(&legacy, "legacy text");
    legacy_writer::checkpoint_doc(&kv, &legacy);
    Harness::activate(&kv, |sql| sql.fail_statement("FROM snapshot_chunks", 0))
}

#[test]
fn a_read_only_fallback_room_relays_and_never_echoes_or_writes() {
    let mut h = fallback_room();
    assert!(h.room.is_read_only());
    let mut out = h.out();
    h.room.connect(&mut out);
    assert_eq!(
        h.take_log(),
        ["reply step1".to_owned(), h.echo()],
        "the baseline echo is still sent"
    );
    let legacy = h.room.doc().transact().state_vector();
    let saved = h.frame(edit(&docs::doc(12), "relayed"));
    assert!(matches!(saved, Some(SaveOutcome::Skipped(_))), "{saved:?}");
    assert_eq!(h.take_log(), ["broadcast update"], "no write, no echo");
    assert_eq!(h.journal_rows(), 0);
    // A socket that connects now is told only of the legacy copy: the
    // relayed edit was never stored.
    h.room.connect(&mut h.out());
    assert_eq!(h.take_log().last(), Some(&echo_with(&legacy)));
}

#[test]
fn a_deletion_only_change_is_saved_and_echoed() {
    let mut h = Harness::fresh();
    let client = docs::doc(11);
    h.frame(edit(&client, "doomed"));
    h.take_log();
    let before = client.transact().state_vector();
    let deletion = {
        let mut txn = client.transact_mut();
        txn.get_or_insert_map("notes").remove(&mut txn, "doomed");
        txn.encode_update_v1()
    };
    assert_eq!(client.transact().state_vector(), before, "the state vector does not move");
    let saved = h.frame(Message::Sync(SyncMessage::Update(deletion)).encode_v1());
    assert!(matches!(saved, Some(SaveOutcome::Appended(_))), "{saved:?}");
    assert_eq!(
        h.take_log(),
        ["broadcast update".to_owned(), "sql INSERT INTO journal".to_owned(), h.echo()]
    );
    assert_eq!(h.journal_rows(), 2);
}

#[test]
fn awareness_ids_follow_the_connection_and_go_with_it() {
    let mut h = Harness::fresh();
    let mut peer = Awareness::with_clock(docs::doc(77), clock);
    peer.set_local_state(json!({"user": "a"})).unwrap();
    let frame = Message::Awareness(peer.update().unwrap()).encode_v1();
    let mut out = h.out();
    let turn = h.room.frame("conn-a", frame, &mut h.ids, &mut out);
    assert!(turn.awareness_ids_changed);
    assert_eq!(h.ids.ids, [77]);
    assert_eq!(h.ids.clocks.len(), 1, "its clock is kept too");
    assert_eq!(h.take_log(), ["broadcast awareness"], "forwarded, no echo");
    // A new connection is told about the state.
    h.room.connect(&mut h.out());
    assert_eq!(h.take_log()[..2], ["reply step1".to_owned(), "reply awareness".to_owned()]);
    // The connection closes: its state is removed for the others.
    let ids = h.ids.clone();
    h.room.close("conn", &ids, &mut h.out());
    assert_eq!(h.take_log(), ["broadcast awareness"]);
    h.room.connect(&mut h.out());
    assert_eq!(h.take_log()[..1], ["reply step1".to_owned()], "no awareness left to announce");
    h.room.close("conn", &ids, &mut h.out());
    assert!(h.take_log().is_empty(), "closing again announces nothing");
}

#[test]
fn after_hibernation_a_closing_socket_still_removes_the_states_its_attachment_kept() {
    // A woken room never saw the state; the attachment kept its ID and clock.
    let mut h = Harness::fresh();
    let held = HeldAwareness { ids: vec![777], clocks: vec![(777, 3)] };
    h.room.close("conn-a", &held, &mut h.out());
    assert_eq!(h.take_log(), ["broadcast awareness"]);
    // Without a kept clock there is nothing to say it with.
    h.room.close("conn-b", &HeldAwareness { ids: vec![778], clocks: vec![] }, &mut h.out());
    assert!(h.take_log().is_empty());
}

#[test]
fn wake_sends_sync_step1_to_every_connection() {
    let mut h = Harness::fresh();
    h.frame(edit(&docs::doc(11), "x"));
    h.take_log();
    h.room.wake(&mut h.out());
    assert_eq!(h.take_log(), ["broadcast step1"]);
}

#[test]
fn a_closed_sender_gets_no_echo_and_it_is_counted() {
    let mut h = Harness::fresh();
    let mut out = Recorder { log: Rc::clone(&h.log), open: false };
    let turn = h.room.frame("conn-a", edit(&docs::doc(11), "x"), &mut h.ids, &mut out);
    assert!(turn.save.is_some_and(|s| s.is_durable()));
    assert_eq!(h.take_log(), ["broadcast update", "sql INSERT INTO journal"]);
    assert_eq!(h.room.debug_parts().sv_echo.failure_not_open, 1);
}

// ---- the debug report (spec 9.2), golden ----

fn report(h: &Harness) -> Value {
    debug_report("vault-1", vec![json!({"event": "x"})], Some(h.room.debug_parts()), Some(1234), 2)
}

#[test]
fn debug_report_of_an_unloaded_room() {
    let value = debug_report("vault-1", vec![], None, None, 0);
    assert_eq!(
        value,
        json!({
            "roomId": "vault-1",
            "documentLoaded": false,
            "recent": [],
            "svEcho": {"baselineSent": 0, "postApplySent": 0, "failed": 0, "bytesTotal": 0, "bytesMax": 0,
                       "failureNotOpen": 0, "failureOversize": 0, "failureSendFailed": 0},
            "persistence": {"status": "healthy", "lastSaveStartedAt": null, "lastSaveSucceededAt": null,
                "lastSaveFailedAt": null, "lastSaveError": null, "successfulSaveCount": 0, "failedSaveCount": 0,
                "consecutiveSaveFailures": 0, "queuedSaveCount": 0, "checkpointFallbackCount": 0,
                "pendingPersistence": false, "lastDeltaBytes": null, "journalEntryCount": null, "journalBytes": null,
                "lastPersistedStateVectorHash": null, "loadedStateVectorHash": null, "lastCompactionAt": null,
                "lastCompactionReason": null, "lastCompactionError": null, "legacyDocumentMigrated": false},
            "documentSummary": null,
            "storage": {"mode": null, "migrationStatus": null, "migrationAt": null, "migrationDurationMs": null,
                "coldLoadDurationMs": null, "oversizedDeltaCount": 0, "migrationMeta": null},
            "wasmMemoryBytes": null,
            "room": {"openSockets": 0, "awarenessClients": null, "snapshotChunks": null,
                "snapshotBytes": null, "compactionDue": null, "consecutiveCompactionFailures": null,
                "compactionBreakerOpen": null},
            "refusedFrames": {"count": 0, "recent": []},
            "budget": null,
        })
    );
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "roomId",
            "documentLoaded",
            "recent",
            "svEcho",
            "persistence",
            "documentSummary",
            "storage",
            "wasmMemoryBytes",
            "room",
            "refusedFrames",
            "budget"
        ]
    );
}

#[test]
fn debug_report_of_a_fresh_room_after_one_edit() {
    let mut h = Harness::fresh();
    h.room.connect(&mut h.out());
    h.frame(edit(&docs::doc(11), "hello"));
    let value = report(&h);
    assert_eq!(value["roomId"], "vault-1");
    assert_eq!(value["documentLoaded"], true);
    assert_eq!(value["recent"], json!([{"event": "x"}]));
    assert_eq!(value["wasmMemoryBytes"], 1234);
    assert_eq!(
        value["room"],
        json!({"openSockets": 2, "awarenessClients": 0, "snapshotChunks": 0, "snapshotBytes": 0,
            "compactionDue": false, "consecutiveCompactionFailures": 0, "compactionBreakerOpen": false})
    );
    let echo = &value["svEcho"];
    assert_eq!(
        (echo["baselineSent"].clone(), echo["postApplySent"].clone(), echo["failed"].clone()),
        (json!(1), json!(1), json!(0))
    );
    let p = &value["persistence"];
    assert_eq!(p["status"], "healthy");
    assert_eq!(p["successfulSaveCount"], 1);
    assert_eq!(p["journalEntryCount"], 1);
    assert_eq!(p["lastSaveSucceededAt"], "2026-05-28T10:11:12.345Z");
    assert_eq!(p["loadedStateVectorHash"], "00", "an empty document's state vector");
    assert_eq!(p["lastPersistedStateVectorHash"], "010b01", "client 11 at clock 1");
    assert_eq!(p["pendingPersistence"], false);
    assert_eq!(p["legacyDocumentMigrated"], false);
    assert_eq!(
        value["storage"],
        json!({"mode": "fresh", "migrationStatus": "not_started", "migrationAt": null, "migrationDurationMs": null,
               "coldLoadDurationMs": 0, "oversizedDeltaCount": 0, "migrationMeta": null})
    );
    assert_eq!(value["documentSummary"]["activePathCount"], 0);
    assert_eq!(value["documentSummary"]["schemaVersion"], Value::Null);
}

#[test]
fn debug_report_of_a_migrated_room() {
    let kv = MemoryKv::default();
    let legacy = docs::doc(5);
    docs::append_text(&legacy, "legacy text");
    legacy_writer::checkpoint_doc(&kv, &legacy);
    let h = Harness::activate(&kv, |_| {});
    let value = report(&h);
    let storage = &value["storage"];
    assert_eq!(storage["mode"], "kv-migrated");
    assert_eq!(storage["migrationStatus"], "migrated");
    assert_eq!(storage["migrationAt"], "2026-05-28T10:11:12.345Z");
    assert_eq!(storage["migrationDurationMs"], 0);
    let meta = storage["migrationMeta"].as_object().unwrap();
    let keys: Vec<&String> = meta.keys().collect();
    assert_eq!(
        keys,
        [
            "migration_completed",
            "migrated_at",
            "source_format",
            "source_entries",
            "source_bytes",
            "snapshot_bytes",
            "active_path_count"
        ]
    );
    assert_eq!(meta["migration_completed"], "true");
    assert_eq!(meta["source_format"], "kv");
    let p = &value["persistence"];
    assert_eq!(p["journalEntryCount"], 0);
    assert_eq!(p["loadedStateVectorHash"], p["lastPersistedStateVectorHash"]);
    assert_eq!(value["svEcho"]["baselineSent"], 0);
}

#[test]
fn debug_report_of_a_read_only_fallback_room() {
    let h = fallback_room();
    let value = report(&h);
    assert_eq!(value["storage"]["mode"], "kv-fallback");
    assert_eq!(value["storage"]["migrationStatus"], "failed");
    assert_eq!(value["storage"]["migrationMeta"], Value::Null);
    assert_eq!(value["persistence"]["status"], "degraded");
    assert_eq!(value["persistence"]["pendingPersistence"], true, "degraded keeps it pending");
    assert_eq!(value["documentLoaded"], true);
}

#[test]
fn connection_ids_are_bounded_to_the_nanoid_alphabet() {
    use yaos_server::room::vault_room::{valid_connection_id, MAX_CONNECTION_ID_LEN};
    for good in ["V1StGXR8_Z", "a", "-_-", &"x".repeat(MAX_CONNECTION_ID_LEN)] {
        assert!(valid_connection_id(good), "{good:?}");
    }
    for bad in ["", " ", "a b", "ü", "x<script>", "a/b", &"x".repeat(MAX_CONNECTION_ID_LEN + 1)] {
        assert!(!valid_connection_id(bad), "{bad:?}");
    }
}

#[test]
fn the_legacy_cleanup_is_refused_after_a_fallback_activation() {
    assert!(
        !fallback_room().room.may_clean_legacy_data(),
        "SQL did not load: the legacy keys may be the only copy"
    );
    assert!(Harness::fresh().room.may_clean_legacy_data());
    let kv = MemoryKv::default();
    legacy_writer::checkpoint_doc(&kv, &docs::doc(5));
    assert!(
        Harness::activate(&kv, |_| {}).room.may_clean_legacy_data(),
        "after a verified migration"
    );
}

#[test]
fn the_emergency_compaction_is_refused_in_the_read_only_fallback() {
    use yaos_server::persist::EmergencyCompact;
    let kv = MemoryKv::default();
    let legacy = docs::doc(5);
    docs::append_text(&legacy, "legacy text");
    legacy_writer::checkpoint_doc(&kv, &legacy);
    let db = Rc::new(SqliteExec::in_memory());
    let activate = || {
        let mut trace = TraceLog::default();
        block_on(VaultRoom::activate(Rc::clone(&db), &kv, clock, &mut trace)).expect("activation")
    };
    // Migrated, then edited: SQL holds edits the legacy keys lack.
    let mut room = activate();
    let client = docs::doc(11);
    let (mut ids, log): (_, Log) = (HeldAwareness::default(), Rc::default());
    let mut out = Recorder { log, open: true };
    room.frame("c", edit(&client, "only in sql"), &mut ids, &mut out);
    let stored = room.doc().transact().state_vector();
    drop(room);
    // SQL fails to load once: the read-only fallback over the legacy keys.
    db.fail_statement("FROM snapshot_chunks", 0);
    let mut room = activate();
    assert!(room.is_read_only());
    let journal = room.store().sql().scalar("SELECT COUNT(*) FROM journal");
    assert!(journal > 0);
    let outcome = room.compact_now();
    assert!(matches!(outcome, EmergencyCompact::Refused { .. }), "{outcome:?}");
    let json = outcome.to_json();
    assert_eq!(json["status"], "aborted");
    assert!(json["error"].as_str().unwrap().contains("read-only"), "{json}");
    assert_eq!(room.store().sql().scalar("SELECT COUNT(*) FROM journal"), journal, "untouched");
    drop(room);
    assert_eq!(activate().doc().transact().state_vector(), stored, "SQL still has every edit");
}

/// An awareness frame announcing `states` as `(client, JSON)`.
fn awareness_frame(states: &[(u64, String)]) -> Vec<u8> {
    use yrs::sync::awareness::AwarenessUpdateEntry;
    use yrs::sync::AwarenessUpdate;
    let clients = states
        .iter()
        .map(|(client, json)| {
            (
                yrs::block::ClientID::new(*client),
                AwarenessUpdateEntry { clock: 1, json: json.as_str().into() },
            )
        })
        .collect();
    Message::Awareness(AwarenessUpdate { clients }).encode_v1()
}

#[test]
fn awareness_is_bounded_per_connection_per_state_and_per_room() {
    use yaos_server::room::protocol::{
        MAX_AWARENESS_ROOM_BYTES, MAX_AWARENESS_STATES_PER_CONNECTION, MAX_AWARENESS_STATE_BYTES,
    };
    use yaos_server::room::vault_room::limit_error_frame;
    let mut h = Harness::fresh();
    let state = |n: usize| format!("{{\"pad\":\"{}\"}}", "x".repeat(n));
    // One socket announcing more states than one connection may hold: refused whole.
    let too_many: Vec<(u64, String)> =
        (1..=MAX_AWARENESS_STATES_PER_CONNECTION as u64 + 1).map(|c| (c, state(10))).collect();
    let mut out = h.out();
    let turn = h.room.frame("a", awareness_frame(&too_many), &mut h.ids, &mut out);
    assert!(turn.error.is_some());
    assert_eq!(
        h.take_log(),
        [format!("text {}", limit_error_frame("too many states for one connection"))],
        "only the sender hears of it"
    );
    assert!(h.ids.ids.is_empty());
    // Up to the limit is fine, one at a time, and then one more is refused.
    for c in 1..=MAX_AWARENESS_STATES_PER_CONNECTION as u64 {
        h.frame(awareness_frame(&[(c, state(10))]));
    }
    assert_eq!(h.ids.ids.len(), MAX_AWARENESS_STATES_PER_CONNECTION);
    h.take_log();
    let mut out = h.out();
    let turn = h.room.frame("a", awareness_frame(&[(99, state(10))]), &mut h.ids, &mut out);
    assert!(turn.error.is_some());
    assert_eq!(h.ids.ids.len(), MAX_AWARENESS_STATES_PER_CONNECTION);
    // An update of a state it holds, and a removal, still pass.
    h.frame(awareness_frame(&[(1, state(20))]));
    h.take_log();
    // A state over the size limit.
    let mut other = HeldAwareness::default();
    let mut out = h.out();
    let turn = h.room.frame(
        "b",
        awareness_frame(&[(500, state(MAX_AWARENESS_STATE_BYTES))]),
        &mut other,
        &mut out,
    );
    assert!(matches!(
        turn.error,
        Some(yaos_server::room::protocol::FrameError::Limit(
            yaos_server::room::limits::LimitExceeded::Awareness("state too large")
        ))
    ));
    // The room's total: many connections of large states, until the room is full.
    let big = MAX_AWARENESS_STATE_BYTES - 64;
    let fits = MAX_AWARENESS_ROOM_BYTES / (big + 12);
    let mut refused = 0;
    for c in 0..fits as u64 + 4 {
        let mut ids = HeldAwareness::default();
        let mut out = h.out();
        let turn = h.room.frame(
            &format!("c{c}"),
            awareness_frame(&[(1000 + c, state(big))]),
            &mut ids,
            &mut out,
        );
        refused += usize::from(turn.error.is_some());
    }
    assert!(refused >= 4, "the room stops taking awareness once full ({refused} refused)");
}

#[test]
fn an_oversized_update_frame_is_refused_unread_and_the_sender_told() {
    use yaos_server::room::limits::{RoomLimits, MIN_UPDATE_FRAME_BYTES};
    use yaos_server::room::refused_frames::REFUSED_FRAME_EVENT;
    use yaos_server::room::vault_room::Sender;
    let mut h = Harness::fresh();
    h.room.set_limits(RoomLimits {
        max_update_frame_bytes: MIN_UPDATE_FRAME_BYTES,
        ..RoomLimits::default()
    });
    let client = docs::doc(11);
    let big = {
        let mut txn = client.transact_mut();
        let notes = txn.get_or_insert_map("notes");
        notes.insert(&mut txn, "big", "b".repeat(MIN_UPDATE_FRAME_BYTES));
        txn.encode_update_v1()
    };
    let frame = Message::Sync(SyncMessage::Update(big)).encode_v1();
    let frame_len = frame.len();
    let sv_before = h.room.doc().transact().state_vector();
    let mut out = h.out();
    let sender = Sender { conn: "conn-a", socket: "s1", device: Some("laptop") };
    let turn = h.room.frame_from(sender, frame, &mut h.ids, &mut out);
    assert!(matches!(turn.error, Some(yaos_server::room::protocol::FrameError::Limit(_))));
    // Never only told to a client that ignores it: kept for the operator and traced.
    let refused = h.room.debug_parts().refused_frames;
    assert_eq!(refused["count"], 1);
    assert_eq!(refused["recent"][0]["device"], "laptop");
    assert_eq!(refused["recent"][0]["bytes"], frame_len);
    assert!(refused["recent"][0]["reason"].as_str().unwrap().contains("Update frames"));
    let traces = h.room.take_traces().drain();
    assert!(
        traces.iter().any(|(event, data)| event == REFUSED_FRAME_EVENT
            && data["bytes"] == frame_len
            && data["device"] == "laptop"),
        "{traces:?}"
    );
    assert!(turn.save.is_none(), "nothing to save, nothing echoed");
    let log = h.take_log();
    assert_eq!(log.len(), 1, "only the sender hears of it: {log:?}");
    assert!(log[0].contains("limit_exceeded") && log[0].contains("Update frames"), "{log:?}");
    assert_eq!(h.room.doc().transact().state_vector(), sv_before);
    assert_eq!(h.journal_rows(), 0);
    // Other clients' edits go through. (The sender's own next edits start
    // beyond the clock the server has for it, so they are refused until it
    // resends what it lacks, which it does on its next sync.)
    assert!(matches!(h.frame(edit(&docs::doc(12), "small")), Some(SaveOutcome::Appended(_))));
}

#[test]
fn full_state_sync_answers_are_limited_per_connection_and_forgotten_on_close() {
    use yaos_server::room::limits::DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW;
    let mut h = Harness::fresh();
    h.frame(edit(&docs::doc(11), "x"));
    h.take_log();
    let step1 =
        || Message::Sync(SyncMessage::SyncStep1(Doc::new().transact().state_vector())).encode_v1();
    let fresh_answer = ["reply step2"];
    for _ in 0..DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW {
        h.frame(step1());
        assert_eq!(h.take_log(), fresh_answer);
    }
    let mut out = h.out();
    let turn = h.room.frame("conn-a", step1(), &mut h.ids, &mut out);
    assert!(turn.error.is_some());
    let log = h.take_log();
    assert!(log.len() == 1 && log[0].contains("full sync requests"), "{log:?}");
    // A state vector that covers the document costs nothing and is always answered.
    let current =
        Message::Sync(SyncMessage::SyncStep1(h.room.doc().transact().state_vector())).encode_v1();
    h.frame(current);
    assert_eq!(h.take_log(), ["reply step2"]);
    // Another connection has its own budget, and a reconnect starts afresh.
    let mut other = HeldAwareness::default();
    let mut out = h.out();
    assert!(h.room.frame("conn-b", step1(), &mut other, &mut out).error.is_none());
    h.room.close("conn-a", &HeldAwareness::default(), &mut h.out());
    h.take_log();
    h.frame(step1());
    assert_eq!(h.take_log(), fresh_answer);
}

#[test]
fn every_new_socket_of_a_reconnecting_device_gets_its_full_sync_and_repeats_stay_bounded() {
    use yaos_server::room::limits::RoomLimits;
    use yaos_server::room::vault_room::Sender;
    let mut h = Harness::fresh();
    h.room.set_limits(RoomLimits { full_sync_answers_per_window: 1, ..RoomLimits::default() });
    h.frame(edit(&docs::doc(11), "x"));
    h.take_log();
    let step1 =
        || Message::Sync(SyncMessage::SyncStep1(Doc::new().transact().state_vector())).encode_v1();
    let fresh_answer = ["reply step2"];
    // One `_pk` reconnecting on a flaky link: the server never sees the old
    // sockets close (half-open), and each new socket's first SyncStep1 is
    // still answered, well past the per-minute budget of one.
    let sockets: Vec<String> = (0..5).map(|i| format!("socket-{i}")).collect();
    for socket in &sockets {
        let sender = Sender { conn: "same-pk", socket, device: Some("phone") };
        let turn = h.room.frame_from(sender, step1(), &mut HeldAwareness::default(), &mut h.out());
        assert!(turn.error.is_none(), "{socket}: {:?}", turn.error);
        assert_eq!(h.take_log(), fresh_answer, "{socket}");
    }
    // A repeat on the same socket is charged: a flooder is bounded per socket.
    let last = Sender { conn: "same-pk", socket: &sockets[4], device: None };
    let turn = h.room.frame_from(last, step1(), &mut HeldAwareness::default(), &mut h.out());
    assert!(turn.error.is_some());
    assert!(h.take_log()[0].contains("full sync requests"));
    // An old socket of the same `_pk` closing drops its own budget, not the
    // new socket's.
    let first = Sender { conn: "same-pk", socket: &sockets[0], device: None };
    h.room.close_from(first, &HeldAwareness::default(), &mut h.out());
    let turn = h.room.frame_from(last, step1(), &mut HeldAwareness::default(), &mut h.out());
    assert!(turn.error.is_some(), "the budget of socket-4 survives socket-0's close");
    h.take_log();
}

/// A v1 update in which each of `clients` wrote one GC struct of length 1:
/// the smallest way to make a document name many clients, as a long-lived
/// vault does (Yjs makes a new client ID per editing session).
fn many_clients_update(clients: &[u64]) -> Vec<u8> {
    use yrs::encoding::write::Write;
    let mut update = Vec::new();
    update.write_var(clients.len() as u64);
    for &client in clients {
        update.write_var(1u64); // one struct
        update.write_var(client);
        update.write_var(0u64); // from clock 0
        update.write_u8(0); // GC
        update.write_var(1u64); // of length 1
    }
    update.write_var(0u64); // empty delete set
    update
}

#[test]
fn a_sync_step1_naming_every_client_of_a_long_lived_vault_is_answered_and_junk_is_not() {
    use yaos_server::room::limits::{max_sync_step1_bytes, MAX_SYNC_STEP1_FRAME_BYTES};
    let mut h = Harness::fresh();
    let clients: Vec<u64> = (0..200_000u64).map(|i| 1_000_000_000 + i * 7).collect();
    h.frame(docs::sync_frame(2, &many_clients_update(&clients)));
    assert_eq!(h.room.doc().transact().state_vector().len(), clients.len());
    h.frame(edit(&docs::doc(11), "written while the device was away"));
    h.take_log();

    // The returning device names every client, plus its own new session.
    let mut sv = yrs::StateVector::default();
    for &client in &clients {
        sv.set_max(yrs::block::ClientID::new(client), 1);
    }
    sv.set_max(yrs::block::ClientID::new(12), 3);
    let step1 = Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1();
    assert!(step1.len() > MAX_SYNC_STEP1_FRAME_BYTES, "{} bytes", step1.len());
    let mut out = h.out();
    let turn = h.room.frame("returning", step1, &mut HeldAwareness::default(), &mut out);
    assert!(turn.error.is_none(), "{:?}", turn.error);
    let replies: Vec<String> =
        h.take_log().into_iter().filter(|l| l.starts_with("reply")).collect();
    assert_eq!(replies, ["reply step2"]);

    // Junk one byte over what the room justifies is refused unread.
    let limit = max_sync_step1_bytes(clients.len() + 1);
    let mut junk = vec![0, 0];
    junk.resize(limit + 1, 0xff);
    let mut out = h.out();
    let turn = h.room.frame("junk", junk, &mut HeldAwareness::default(), &mut out);
    let error = turn.error.expect("refused").to_string();
    assert!(error.contains(&format!("over the {limit}-byte limit for SyncStep1")), "{error}");
}

#[test]
fn sockets_are_admitted_up_to_the_room_limit() {
    use yaos_server::room::limits::{LimitExceeded, RoomLimits};
    let mut h = Harness::fresh();
    assert!(h.room.admit_socket(63).is_ok());
    assert!(matches!(h.room.admit_socket(64), Err(LimitExceeded::TooManySockets { .. })));
    h.room.set_limits(RoomLimits { max_sockets: 2, ..RoomLimits::default() });
    assert!(h.room.admit_socket(1).is_ok() && h.room.admit_socket(2).is_err());
}

#[test]
fn the_frame_that_makes_compaction_due_is_journaled_and_echoed_and_the_rewrite_waits() {
    use yaos_server::persist::{Compaction, CompactionReason, COMPACTION_MAX_ENTRIES};
    let mut h = Harness::fresh();
    let client = docs::doc(11);
    for i in 0..COMPACTION_MAX_ENTRIES {
        let mut out = h.out();
        let turn = h.room.frame("conn-a", edit(&client, &format!("n{i}")), &mut h.ids, &mut out);
        assert!(!turn.compaction_due, "not due at {i}");
    }
    h.take_log();
    let mut out = h.out();
    let turn = h.room.frame("conn-a", edit(&client, "crossing"), &mut h.ids, &mut out);
    assert_eq!(
        turn.save,
        Some(SaveOutcome::Appended(Compaction::Deferred(CompactionReason::EntryCountExceeded)))
    );
    assert!(turn.compaction_due);
    assert_eq!(
        h.take_log(),
        ["broadcast update".to_owned(), "sql INSERT INTO journal".to_owned(), h.echo()],
        "journaled and echoed; no snapshot rewrite in the frame's turn"
    );
    assert!(h.room.compaction_due());
    // Later, in a turn of its own.
    assert_eq!(
        h.room.compact_if_due(),
        Compaction::Succeeded(CompactionReason::EntryCountExceeded)
    );
    assert_eq!(h.journal_rows(), 0);
    assert!(h.take_log().contains(&"sql INSERT INTO snapshot_chunks".to_owned()));
    assert!(!h.room.compaction_due());
    assert_eq!(h.room.compact_if_due(), Compaction::NotNeeded);
}

#[test]
fn a_crash_between_the_echo_and_the_deferred_compaction_loses_nothing_and_the_next_activation_compacts(
) {
    use yaos_server::persist::{Compaction, COMPACTION_MAX_ENTRIES};
    let db = Rc::new(SqliteExec::in_memory());
    let activate = || {
        let mut trace = TraceLog::default();
        block_on(VaultRoom::activate(Rc::clone(&db), &MemoryKv::default(), clock, &mut trace))
            .expect("activation")
    };
    let log: Log = Rc::default();
    let mut out = Recorder { log: Rc::clone(&log), open: true };
    let mut room = activate();
    let client = docs::doc(11);
    let mut ids = HeldAwareness::default();
    let mut due = false;
    for i in 0..=COMPACTION_MAX_ENTRIES {
        due = room.frame("c", edit(&client, &format!("n{i}")), &mut ids, &mut out).compaction_due;
    }
    assert!(due);
    let echoed = room.doc().transact().state_vector();
    drop(room); // the crash: the alarm never ran
    let mut room = activate();
    assert_eq!(room.doc().transact().state_vector(), echoed, "every echoed edit is stored");
    assert!(room.compaction_due(), "the next activation finds the compaction due");
    // ...and runs it before serving anything (the shell's activation).
    assert!(matches!(room.compact_at_activation(), Some(Compaction::Succeeded(_))));
    assert_eq!(room.store().sql().scalar("SELECT COUNT(*) FROM journal"), 0);
    assert_eq!(room.compact_at_activation(), None, "nothing due: nothing runs");
    drop(room);
    assert_eq!(activate().doc().transact().state_vector(), echoed);
}

thread_local! {
    /// The time a group-commit test's room sees, set by the test.
    static NOW: std::cell::Cell<u64> = const { std::cell::Cell::new(1_000_000) };
}

fn test_clock() -> u64 {
    NOW.with(|now| now.get())
}

fn at(ms: u64) {
    NOW.with(|now| now.set(1_000_000 + ms));
}

/// A room with a 2-second commit window on the test clock.
fn windowed_room() -> Harness {
    at(0);
    let mut h = Harness::activate_with_clock(&MemoryKv::default(), |_| {}, test_clock);
    h.room.set_commit_window(CommitWindow::new(2_000));
    h
}

fn turn(h: &mut Harness, frame: Vec<u8>) -> FrameTurn {
    let mut out = h.out();
    let turn = h.room.frame("conn-a", frame, &mut h.ids, &mut out);
    assert!(turn.error.is_none(), "{:?}", turn.error);
    turn
}

#[test]
fn group_commit_writes_a_quiet_edit_at_once_and_a_stream_once_a_window() {
    let mut h = windowed_room();
    let client = docs::doc(11);
    // Quiet: written and acknowledged in its own turn, as without a window.
    let first = turn(&mut h, edit(&client, "one"));
    assert!(first.save.is_some_and(|s| s.is_durable()));
    assert_eq!(first.flush_at, None);
    assert_eq!(h.take_log().last(), Some(&echo_of(&client)));
    assert_eq!(h.journal_rows(), 1);
    // A stream within the window: relayed at once, written at its end.
    for (ms, text) in [(100, "two"), (900, "three"), (1_999, "four")] {
        at(ms);
        let t = turn(&mut h, edit(&client, text));
        assert!(t.save.is_none(), "{text}: nothing written yet");
        assert_eq!(t.flush_at, Some(1_002_000), "{text}");
        assert_eq!(h.take_log(), ["broadcast update"], "{text}: relayed, not acknowledged");
    }
    assert_eq!(h.journal_rows(), 1);
    // The shell's timer: early does nothing; at the window's end one row
    // holds the three edits and every connection gets the echo.
    at(1_500);
    assert!(h.room.flush(&mut h.out()).save.is_none());
    at(2_000);
    let flushed = h.room.flush(&mut h.out());
    assert!(flushed.save.is_some_and(|s| s.is_durable()), "{flushed:?}");
    assert_eq!(flushed.flush_at, None);
    assert_eq!(h.journal_rows(), 2, "one row for the three edits");
    let echo = echo_of(&client).replacen("text ", "broadcast text ", 1);
    assert_eq!(h.take_log().last(), Some(&echo), "the echo covers all four edits");
    // Quiet for a window: at once again.
    at(4_000);
    assert!(turn(&mut h, edit(&client, "five")).save.is_some_and(|s| s.is_durable()));
    assert_eq!(h.journal_rows(), 3);
}

#[test]
fn a_failed_group_commit_acknowledges_nothing_and_is_retried_a_window_later() {
    let mut h = windowed_room();
    let client = docs::doc(11);
    turn(&mut h, edit(&client, "one"));
    let stored = client.transact().state_vector();
    at(100);
    turn(&mut h, edit(&client, "two"));
    h.take_log();
    h.sql().break_statements("INSERT INTO journal");
    h.sql().break_statements("snapshot_chunks");
    at(2_000);
    let failed = h.room.flush(&mut h.out());
    assert!(matches!(failed.save, Some(SaveOutcome::Failed(_))), "{failed:?}");
    assert_eq!(failed.flush_at, Some(1_004_000), "retried a window later");
    assert!(h.take_log().iter().all(|l| !l.contains("text")), "no echo");
    // A new socket meanwhile is told only what is stored.
    h.room.connect(&mut h.out());
    assert_eq!(h.take_log().last(), Some(&echo_with(&stored)));
    h.sql().heal();
    at(4_000);
    let retried = h.room.flush(&mut h.out());
    assert!(retried.save.is_some_and(|s| s.is_durable()), "{retried:?}");
    let echo = echo_of(&client).replacen("text ", "broadcast text ", 1);
    assert_eq!(h.take_log().last(), Some(&echo));
}

#[test]
fn a_frame_that_changes_nothing_is_acknowledged_at_once_inside_a_window() {
    let mut h = windowed_room();
    let client = docs::doc(11);
    turn(&mut h, edit(&client, "one"));
    h.take_log();
    // The same update again (a reconnecting client resending): nothing to
    // write, so the echo comes in the same turn and no row is spent.
    at(100);
    let update = {
        let txn = client.transact();
        txn.encode_state_as_update_v1(&StateVector::default())
    };
    let again = Message::Sync(SyncMessage::Update(update)).encode_v1();
    let t = turn(&mut h, again);
    assert!(t.save.is_some(), "{t:?}");
    assert_eq!(t.flush_at, None);
    assert_eq!(h.take_log().last(), Some(&echo_of(&client)));
    assert_eq!(h.journal_rows(), 1);
}

#[test]
fn a_large_vault_s_compaction_waits_for_the_room_to_fall_idle_unless_the_journal_is_long() {
    use yaos_server::room::compaction_schedule::{Urgency, IDLE_QUIET_MS};
    let db = Rc::new(SqliteExec::in_memory());
    let activate = || {
        let mut trace = TraceLog::default();
        block_on(VaultRoom::activate(Rc::clone(&db), &MemoryKv::default(), clock, &mut trace))
            .expect("activation")
    };
    let mut out = Recorder { log: Rc::default(), open: true };
    let mut ids = HeldAwareness::default();
    let client = docs::doc(12);
    // A 4.5 MB vault: written as a checkpoint (the delta is over 2 MiB).
    let mut room = activate();
    room.frame("c", edit(&client, &"v".repeat(4_500_000)), &mut ids, &mut out);
    drop(room);
    let mut room = activate(); // thresholds scaled to the snapshot: ~1.1 MB of journal
    let mut turn = FrameTurn::default();
    while !turn.compaction_due {
        turn = room.frame("c", edit(&client, &"j".repeat(700_000)), &mut ids, &mut out);
    }
    assert_eq!(room.compaction_urgency(), Urgency::WhenIdle);
    // An edit just came (the clock stands still here) and a socket is open:
    // the alarm waits for IDLE_QUIET_MS after it; with nobody connected it runs.
    assert_eq!(room.compaction_wait(1), Some(clock() + IDLE_QUIET_MS));
    assert_eq!(room.compaction_wait(0), None);
    // Four times past the thresholds, the journal no longer waits.
    while room.compaction_urgency() == Urgency::WhenIdle {
        room.frame("c", edit(&client, &"j".repeat(700_000)), &mut ids, &mut out);
    }
    assert_eq!(room.compaction_wait(1), None);
}

fn restore_note(
    h: &mut Harness,
    text: &str,
) -> Result<Vec<yaos_server::doc_model::restore::Planned>, String> {
    use yaos_server::doc_model::restore::Restoring;
    let mut out = h.out();
    let notes = [Restoring { path: "back.md", text }];
    h.room
        .restore(&notes, Some("status page"), &mut || [7; 12], &mut out)
        .map(|turn| turn.done)
        .map_err(|(refused, _)| refused.to_string())
}

#[test]
fn a_restore_is_sent_then_written_then_acknowledged_and_answered_only_when_durable() {
    let mut h = Harness::fresh();
    let done = restore_note(&mut h, "the old text").unwrap();
    assert_eq!(done[0].action, yaos_server::doc_model::restore::Action::Create);
    let log = h.take_log();
    assert_eq!(log.first().map(String::as_str), Some("broadcast update"), "{log:?}");
    assert!(log.iter().any(|l| l == "sql INSERT INTO journal"), "{log:?}");
    assert_eq!(log.last(), Some(&format!("broadcast {}", h.echo())), "acknowledged once written");
    // Storage failing: the devices get the change, nobody an echo, and the
    // caller an error instead of a success.
    h.sql().break_statements("INSERT INTO journal");
    h.sql().break_statements("snapshot_chunks");
    let failed = restore_note(&mut h, "another text");
    assert!(failed.as_ref().is_err_and(|e| e.contains("not stored yet")), "{failed:?}");
    assert_eq!(h.take_log(), ["broadcast update"]);
}
