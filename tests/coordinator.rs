//! The persistence coordinator (spec 10.4–10.6) over real SQLite, with a
//! store wrapper that fails appends or checkpoints on demand.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/failing_store.rs"]
mod failing_store;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::cell::RefCell;
use std::rc::Rc;

use failing_store::FailingStore;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::persist::{
    state_vector_prefix_hex, Compaction, CompactionReason, Coordinator, EmergencyCompact,
    FallbackReason, PersistenceHealth, Policy, SaveOutcome, SavePath, SkipReason, Status,
};
use yaos_server::store::{DocStore, JournalStats};
use yrs::{Doc, StateVector};

const START_MS: u64 = 1_779_963_072_345;
const MIB: usize = 1_048_576;

/// A unit-test harness for the coordinator alone: a document whose update
/// events feed it, a trace log and a clock, with saves called explicitly, so
/// several edits can be pending at once (the vault room saves after every
/// frame and never does that). The vault room's own frame turn, which wires
/// the coordinator to real frames, is tested in `tests/vault_room.rs`.
struct Harness {
    doc: Doc,
    coordinator: Rc<RefCell<Coordinator>>,
    trace: TraceLog,
    now: u64,
}

impl Harness {
    /// Loads whatever `store` holds into a fresh document (client `client_id`).
    fn load(store: &impl DocStore, client_id: u64, policy: Policy) -> Harness {
        let doc = docs::doc(client_id);
        let coordinator = Rc::new(RefCell::new(Coordinator::new(policy)));
        let observer = Rc::clone(&coordinator);
        doc.observe_update_v1("persist", move |_, event| {
            observer.borrow_mut().record_update(event.update.clone())
        })
        .expect("observe updates");
        let loaded = store.load().expect("load");
        docs::replay_into(&doc, &loaded);
        coordinator.borrow_mut().on_loaded(&doc, loaded.stats);
        Harness { doc, coordinator, trace: TraceLog::default(), now: START_MS }
    }

    fn fresh(store: &impl DocStore) -> Harness {
        Harness::load(store, 1, Policy::default())
    }

    fn save(&mut self, store: &impl DocStore) -> SaveOutcome {
        self.now += 1000;
        self.coordinator.borrow_mut().save(store, &self.doc, self.now, &mut self.trace)
    }

    fn compact_now(&mut self, store: &impl DocStore) -> EmergencyCompact {
        self.now += 1000;
        self.coordinator.borrow_mut().compact_now(store, &self.doc, self.now, &mut self.trace)
    }

    fn health(&self) -> PersistenceHealth {
        self.coordinator.borrow().health()
    }

    fn baseline(&self) -> Option<StateVector> {
        self.coordinator.borrow().baseline().cloned()
    }

    fn traced(&self, event: &str) -> usize {
        self.trace.names().iter().filter(|name| **name == event).count()
    }

    /// The data of the latest `event` traced.
    fn traced_data(&self, event: &str) -> &serde_json::Value {
        let found = self.trace.events.iter().rev().find(|(name, _)| name == event);
        &found.unwrap_or_else(|| panic!("{event} not traced")).1
    }
}

/// Asserts that a reload of `store` into a fresh document shows `room`'s content.
fn assert_reload_matches(store: &impl DocStore, room: &Harness) {
    let reloaded = docs::rebuilt(&store.load().expect("reload"));
    assert_eq!(docs::state_vector(&reloaded), docs::state_vector(&room.doc));
    assert!(docs::text_of(&reloaded) == docs::text_of(&room.doc), "text differs after reload");
}

const APPENDED: SaveOutcome = SaveOutcome::Appended(Compaction::NotNeeded);

#[test]
fn loading_does_not_make_the_document_dirty() {
    let store = FailingStore::new();
    let mut first = Harness::fresh(&store);
    docs::append_text(&first.doc, "stored");
    assert_eq!(first.save(&store), APPENDED);

    let mut second = Harness::load(&store, 2, Policy::default());
    assert_eq!(docs::text_of(&second.doc), "stored");
    assert!(!second.coordinator.borrow().has_pending());
    assert_eq!(second.save(&store), SaveOutcome::Skipped(SkipReason::Clean));
    assert_eq!(second.traced("server.save.skipped_clean"), 0, "no row spent on a no-op");
    assert_eq!(store.append_calls.get(), 1);
    assert_eq!(store.checkpoint_calls.get(), 0);
    assert!(second.health().last_save_started_at.is_some());
}

#[test]
fn append_is_durable_and_reported_in_health() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    assert!(!room.health().pending_persistence);
    docs::append_text(&room.doc, "hello");
    docs::set_meta(&room.doc, "a.md", "id-a");
    assert!(room.health().pending_persistence);

    assert_eq!(room.save(&store), APPENDED);
    let health = room.health();
    assert_eq!(health.status, Status::Healthy);
    assert_eq!(health.successful_save_count, 1);
    assert_eq!(health.journal_entry_count, Some(1));
    assert!(!health.pending_persistence);
    assert_eq!(health.last_save_succeeded_at.as_deref(), Some("2026-05-28T10:11:13.345Z"));
    let sv = docs::state_vector(&room.doc);
    assert_eq!(health.last_persisted_state_vector_hash, Some(state_vector_prefix_hex(&sv)));
    assert_eq!(health.loaded_state_vector_hash.as_deref(), Some("00"));
    let journal = store.load().unwrap().stats;
    assert_eq!(health.journal_bytes, Some(journal.total_bytes));
    assert_eq!(health.last_delta_bytes, Some(journal.total_bytes));
    assert_eq!(
        room.trace.names(),
        ["server.save.append_succeeded"],
        "one trace (one row) per save"
    );
    let written = room.traced_data("server.save.append_succeeded");
    assert!(written["pendingUpdates"].as_u64() >= Some(1), "{written}");
    assert_eq!(written["deltaBytes"], journal.total_bytes);
    assert_reload_matches(&store, &room);
}

#[test]
fn pending_updates_are_merged_into_one_delta() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    let captured = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&captured);
    room.doc
        .observe_update_v1("capture", move |_, event| sink.borrow_mut().push(event.update.clone()))
        .unwrap();
    docs::append_text(&room.doc, "one ");
    docs::append_text(&room.doc, "two ");
    docs::set_meta(&room.doc, "k", "v");

    assert_eq!(room.save(&store), APPENDED);
    let loaded = store.load().unwrap();
    assert_eq!(loaded.journal.len(), 1);
    assert_eq!(loaded.journal[0], yrs::merge_updates_v1(captured.borrow().iter()).unwrap());
    assert_reload_matches(&store, &room);
}

#[test]
fn a_deletion_only_change_is_persisted_and_survives_reload() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, "hello world");
    assert_eq!(room.save(&store), APPENDED);

    let before = docs::state_vector(&room.doc);
    docs::remove_text(&room.doc, 5, 6);
    assert_eq!(docs::state_vector(&room.doc), before, "a deletion leaves the state vector alone");
    assert_eq!(room.save(&store), APPENDED);
    assert_eq!(store.rows(), (0, 2));

    let reloaded = docs::rebuilt(&store.load().unwrap());
    assert_eq!(docs::text_of(&reloaded), "hello");
}

#[test]
fn a_delta_over_two_mib_goes_to_a_checkpoint() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, "small");
    assert_eq!(room.save(&store), APPENDED);

    docs::append_text(&room.doc, &docs::filler(2 * MIB + 1000, 7));
    let outcome = room.save(&store);
    assert_eq!(outcome, SaveOutcome::CheckpointFallback(FallbackReason::DeltaExceedsThreshold));
    assert_eq!(outcome.result_name(), "checkpoint-fallback");
    assert_eq!(store.append_calls.get(), 1, "the big delta never reached the journal");
    assert_eq!(store.rows(), (3, 0));
    let health = room.health();
    assert_eq!(health.checkpoint_fallback_count, 1);
    assert_eq!(health.journal_entry_count, Some(0));
    assert_eq!(health.status, Status::Healthy);
    assert_eq!(room.traced("server.save.checkpoint_fallback_succeeded"), 1);
    let data = room.traced_data("server.save.checkpoint_fallback");
    assert_eq!(data["reason"], "delta_exceeds_threshold");
    assert_reload_matches(&store, &room);
}

#[test]
fn oversized_deltas_go_to_checkpoints_and_stay_healthy() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    for round in 1..=5u64 {
        docs::append_text(&room.doc, &docs::filler(MIB + MIB / 2 + 10_000, round));
        assert_eq!(
            room.save(&store),
            SaveOutcome::CheckpointFallback(FallbackReason::ConsecutiveFailures)
        );
        assert_eq!(room.coordinator.borrow().oversized_delta_count(), round);
    }
    let health = room.health();
    assert_eq!((health.checkpoint_fallback_count, health.failed_save_count), (5, 0));
    assert_eq!(health.status, Status::Healthy);
    assert_eq!(health.journal_entry_count, Some(0));
    assert_eq!(room.traced("server.save.append_oversized"), 5);
    assert_eq!(store.rows().1, 0);

    docs::append_text(&room.doc, "and a small one");
    assert_eq!(room.save(&store), APPENDED);
    assert_eq!(store.rows().1, 1);
    assert_reload_matches(&store, &room);
}

#[test]
fn append_failure_then_immediate_checkpoint_fallback() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, "kept ");
    assert_eq!(room.save(&store), APPENDED);

    store.fail_append.set(true);
    docs::append_text(&room.doc, "first ");
    assert_eq!(room.save(&store), SaveOutcome::Failed(SavePath::Append));
    let health = room.health();
    assert_eq!(health.status, Status::Degraded);
    assert_eq!((health.consecutive_save_failures, health.failed_save_count), (1, 1));
    assert_eq!(health.last_save_error.as_deref(), Some("StoreError: injected append failure"));
    assert!(health.pending_persistence);
    assert!(health.last_save_failed_at.is_some());

    docs::append_text(&room.doc, "second");
    assert_eq!(room.save(&store), SaveOutcome::ImmediateFallback);
    let health = room.health();
    assert_eq!(health.status, Status::Healthy);
    assert_eq!((health.consecutive_save_failures, health.failed_save_count), (0, 2));
    assert_eq!(health.checkpoint_fallback_count, 1);
    assert_eq!(health.last_save_error, None);
    assert!(!health.pending_persistence);
    assert_eq!(room.traced("server.save.immediate_checkpoint_fallback_succeeded"), 1);
    assert_eq!(store.rows(), (1, 0));
    assert_eq!(docs::text_of(&docs::rebuilt(&store.load().unwrap())), "kept first second");
}

#[test]
fn a_used_up_quota_is_retried_as_appends_and_ends_with_the_first_write() {
    let store = FailingStore::new();
    let policy = Policy { compaction_max_entries: 1, defer_compaction: true, ..Policy::default() };
    let mut room = Harness::load(&store, 1, policy);
    for text in ["one ", "two "] {
        docs::append_text(&room.doc, text);
        assert!(matches!(room.save(&store), SaveOutcome::Appended(_)));
    }
    assert!(room.coordinator.borrow().compaction_due());

    store.fail_append.set(true);
    store.fail_checkpoint.set(true);
    store.as_quota.set(true);
    for _ in 0..5 {
        docs::append_text(&room.doc, "refused ");
        assert_eq!(room.save(&store), SaveOutcome::Failed(SavePath::Append));
    }
    // No checkpoint fallback: it would be refused too, at a vault-sized encode.
    assert_eq!(store.checkpoint_calls.get(), 0);
    assert_eq!(room.health().status, Status::Degraded);
    let since = room.coordinator.borrow().quota_exceeded_since();
    assert_eq!(since, Some(START_MS + 3_000), "since the first refusal");
    assert_eq!(room.traced_data("server.save.append_failed")["quotaExceeded"], true);
    // A compaction refused for the quota does not open the breaker.
    for _ in 0..4 {
        let now = room.now;
        let outcome =
            room.coordinator.borrow_mut().compact_if_due(&store, &room.doc, now, &mut room.trace);
        assert!(matches!(outcome, Compaction::Failed(_)));
    }
    assert!(!room.coordinator.borrow().compaction_breaker_open());

    // The day turns: the next save appends everything refused, as one row.
    store.fail_append.set(false);
    store.fail_checkpoint.set(false);
    assert!(matches!(room.save(&store), SaveOutcome::Appended(_)));
    assert_eq!(room.coordinator.borrow().quota_exceeded_since(), None);
    assert_eq!(room.health().status, Status::Healthy);
    assert_reload_matches(&store, &room);
}

#[test]
fn a_failed_checkpoint_leaves_the_persisted_baseline_where_it_was() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, "durable ");
    assert_eq!(room.save(&store), APPENDED);
    let baseline = room.baseline().expect("baseline after a save");
    let baseline_hash = room.health().last_persisted_state_vector_hash;

    store.fail_append.set(true);
    store.fail_checkpoint.set(true);
    docs::append_text(&room.doc, "lost? ");
    assert_eq!(room.save(&store), SaveOutcome::Failed(SavePath::Append));
    docs::append_text(&room.doc, "no. ");
    assert_eq!(room.save(&store), SaveOutcome::Failed(SavePath::ImmediateFallback));
    let health = room.health();
    assert_eq!(room.baseline(), Some(baseline.clone()));
    assert_eq!(health.last_persisted_state_vector_hash, baseline_hash);
    // The immediate fallback does not count the failure a second time.
    assert_eq!((health.consecutive_save_failures, health.failed_save_count), (2, 2));
    assert_eq!(
        health.last_save_error.as_deref(),
        Some("StoreError: injected checkpoint failure (checkpoint fallback)")
    );
    assert_eq!(health.checkpoint_fallback_count, 0);

    // Two failures: the next save goes straight to a checkpoint, which fails too.
    docs::set_meta(&room.doc, "m", "1");
    assert_eq!(room.save(&store), SaveOutcome::Failed(SavePath::CheckpointFallback));
    assert_eq!(store.append_calls.get(), 3);
    assert_eq!(room.health().consecutive_save_failures, 3);
    assert_eq!(room.baseline(), Some(baseline));
    assert_eq!(docs::text_of(&docs::rebuilt(&store.load().unwrap())), "durable ");

    store.fail_append.set(false);
    store.fail_checkpoint.set(false);
    assert_eq!(
        room.save(&store),
        SaveOutcome::CheckpointFallback(FallbackReason::ConsecutiveFailures)
    );
    assert_eq!(room.baseline(), Some(docs::state_vector(&room.doc)));
    assert_eq!(room.health().status, Status::Healthy);
    assert_reload_matches(&store, &room);
}

#[test]
fn successive_saves_never_move_the_baseline_backwards() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    let peer = docs::doc(2);
    let mut previous = room.baseline().expect("baseline after load");
    // (append fails, checkpoint fails) per round.
    let faults = [
        (false, false),
        (true, false),
        (true, true),
        (true, true),
        (false, true),
        (false, false),
        (true, false),
        (false, false),
    ];
    for (round, (fail_append, fail_checkpoint)) in faults.into_iter().enumerate() {
        docs::append_text(&room.doc, &format!("r{round} "));
        // A peer edit arriving over sync, based on the room's state.
        docs::apply(&peer, &docs::full_state(&room.doc));
        docs::set_meta(&peer, &format!("p{round}"), "x");
        docs::apply(&room.doc, &docs::diff(&peer, &docs::state_vector(&room.doc)));

        store.fail_append.set(fail_append);
        store.fail_checkpoint.set(fail_checkpoint);
        let outcome = room.save(&store);
        let baseline = room.baseline().expect("baseline");
        assert!(baseline >= previous, "round {round}: baseline moved backwards ({outcome:?})");
        if matches!(outcome, SaveOutcome::Failed(_)) {
            assert_eq!(baseline, previous, "round {round}: a failed save moved the baseline");
        } else {
            assert_eq!(baseline, docs::state_vector(&room.doc), "round {round}");
        }
        previous = baseline;
    }
    assert!(!room.health().pending_persistence);
    assert_reload_matches(&store, &room);
}

#[test]
fn compaction_triggers_on_the_51st_entry() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    for entry in 1..=50 {
        docs::append_text(&room.doc, &format!("{entry} "));
        assert_eq!(room.save(&store), APPENDED, "entry {entry}");
    }
    assert_eq!(store.rows(), (0, 50));

    docs::append_text(&room.doc, "51");
    assert_eq!(
        room.save(&store),
        SaveOutcome::Appended(Compaction::Succeeded(CompactionReason::EntryCountExceeded))
    );
    assert_eq!(store.rows(), (1, 0));
    let health = room.health();
    assert_eq!(health.last_compaction_reason, Some(CompactionReason::EntryCountExceeded));
    assert!(health.last_compaction_at.is_some());
    assert_eq!(health.journal_entry_count, Some(0));
    assert_eq!(room.traced("server.save.compaction_succeeded"), 1);
    assert_reload_matches(&store, &room);
}

/// Size of the update that appending `chars` characters would produce now,
/// measured on a copy of the document with the same client id.
fn insertion_size(room: &Harness, chars: usize) -> usize {
    let probe = docs::doc(1);
    docs::apply(&probe, &docs::full_state(&room.doc));
    let size = Rc::new(RefCell::new(0));
    let sink = Rc::clone(&size);
    probe
        .observe_update_v1("size", move |_, event| *sink.borrow_mut() = event.update.len())
        .unwrap();
    docs::append_text(&probe, &docs::filler(chars, 99));
    let measured = *size.borrow();
    measured
}

#[test]
fn compaction_triggers_just_past_one_mib() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, &docs::filler(600_000, 1));
    assert_eq!(room.save(&store), APPENDED);

    // Fill the journal to exactly 1 MiB: still within the limit.
    let journal = room.health().journal_bytes.unwrap() as usize;
    let target = MIB - journal;
    let mut chars = target;
    while insertion_size(&room, chars) != target {
        chars = chars + target - insertion_size(&room, chars);
    }
    docs::append_text(&room.doc, &docs::filler(chars, 99));
    assert_eq!(room.save(&store), APPENDED);
    assert_eq!(room.health().journal_bytes, Some(MIB as u64));

    docs::append_text(&room.doc, "!");
    assert_eq!(
        room.save(&store),
        SaveOutcome::Appended(Compaction::Succeeded(CompactionReason::ByteSizeExceeded))
    );
    assert_eq!(store.rows(), (1, 0));
    assert_reload_matches(&store, &room);
}

#[test]
fn the_breaker_opens_after_three_compaction_failures_and_closes_after_a_checkpoint() {
    let store = FailingStore::new();
    let policy = Policy { compaction_max_entries: 1, ..Policy::default() };
    let mut room = Harness::load(&store, 1, policy);
    let edit_and_save = |room: &mut Harness, n: u32| {
        docs::append_text(&room.doc, &format!("{n} "));
        room.save(&store)
    };
    assert_eq!(edit_and_save(&mut room, 1), APPENDED);

    store.fail_checkpoint.set(true);
    let failed = SaveOutcome::Appended(Compaction::Failed(CompactionReason::EntryCountExceeded));
    for n in 2..=4 {
        assert_eq!(edit_and_save(&mut room, n), failed, "save {n}");
    }
    assert_eq!(store.checkpoint_calls.get(), 3);
    let health = room.health();
    assert_eq!(health.status, Status::Healthy, "a failed compaction does not fail the save");
    assert_eq!(health.successful_save_count, 4);
    assert_eq!(
        health.last_compaction_error.as_deref(),
        Some("StoreError: injected checkpoint failure")
    );

    let open = SaveOutcome::Appended(Compaction::BreakerOpen);
    assert_eq!(edit_and_save(&mut room, 5), open);
    store.fail_checkpoint.set(false);
    assert_eq!(
        edit_and_save(&mut room, 6),
        open,
        "only a successful checkpoint closes the breaker"
    );
    assert_eq!(store.checkpoint_calls.get(), 3, "no compaction attempts while open");
    assert_eq!(room.traced("server.save.compaction_circuit_breaker"), 2);

    let before = store.load().unwrap().stats;
    assert_eq!(before.entry_count, 6);
    let after = JournalStats::default();
    assert_eq!(room.compact_now(&store), EmergencyCompact::Compacted { before, after });
    assert_eq!(edit_and_save(&mut room, 7), APPENDED);
    let succeeded =
        SaveOutcome::Appended(Compaction::Succeeded(CompactionReason::EntryCountExceeded));
    assert_eq!(edit_and_save(&mut room, 8), succeeded);
    assert_eq!(room.health().last_compaction_error, None);
    assert_reload_matches(&store, &room);
}

#[test]
fn emergency_compact_is_a_noop_on_an_empty_journal_and_otherwise_folds_it() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    let empty = JournalStats::default();
    assert_eq!(room.compact_now(&store), EmergencyCompact::Noop { before: empty, after: empty });
    assert_eq!(store.checkpoint_calls.get(), 0);

    docs::append_text(&room.doc, "a");
    room.save(&store);
    docs::append_text(&room.doc, "b");
    room.save(&store);
    let before = store.load().unwrap().stats;
    assert_eq!(before.entry_count, 2);

    store.fail_checkpoint.set(true);
    let failed = room.compact_now(&store);
    assert_eq!(
        failed.to_json(),
        serde_json::json!({
            "status": "failed",
            "journalBefore": {"entryCount": 2, "totalBytes": before.total_bytes},
            "error": "StoreError: injected checkpoint failure",
        })
    );
    assert_eq!(store.rows(), (0, 2));

    store.fail_checkpoint.set(false);
    let compacted = room.compact_now(&store);
    assert_eq!(compacted, EmergencyCompact::Compacted { before, after: empty });
    assert_eq!(compacted.to_json()["status"], "compacted");
    assert_eq!(store.rows(), (1, 0));
    let health = room.health();
    assert_eq!(health.last_compaction_reason, Some(CompactionReason::EmergencyCompact));
    assert_eq!(health.journal_entry_count, Some(0));
    assert_eq!(room.traced("server.emergency_compact_succeeded"), 1);
    assert_reload_matches(&store, &room);
}

#[test]
fn read_only_mode_never_writes() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    room.coordinator.borrow_mut().enter_read_only();
    docs::append_text(&room.doc, "not persisted");
    assert_eq!(room.save(&store), SaveOutcome::Skipped(SkipReason::ReadOnly));
    assert_eq!((store.append_calls.get(), store.checkpoint_calls.get()), (0, 0));
    assert!(room.trace.events.is_empty());
    let health = room.health();
    assert_eq!(health.status, Status::Degraded);
    assert!(health.pending_persistence);
    assert_eq!(health.last_save_started_at, None);
}

#[test]
fn without_a_load_the_first_save_writes_the_full_state() {
    let store = FailingStore::new();
    let doc = docs::doc(1);
    docs::append_text(&doc, "written before anyone observed");
    let coordinator = Rc::new(RefCell::new(Coordinator::new(Policy::default())));
    let observer = Rc::clone(&coordinator);
    doc.observe_update_v1("persist", move |_, event| {
        observer.borrow_mut().record_update(event.update.clone())
    })
    .unwrap();
    docs::set_meta(&doc, "late", "1");

    let mut trace = TraceLog::default();
    let outcome = coordinator.borrow_mut().save(&store, &doc, START_MS, &mut trace);
    assert_eq!(outcome, APPENDED);
    let loaded = store.load().unwrap();
    assert_eq!(loaded.journal, [docs::full_state(&doc)]);
    let rebuilt = docs::rebuilt(&loaded);
    assert_eq!(docs::text_of(&rebuilt), "written before anyone observed");
    assert_eq!(docs::meta_of(&rebuilt, "late").as_deref(), Some("1"));
}

/// yrs decodes what it merges: a pending update that `wire_check` refuses
/// (here a deleted range past 2^31, which yrs itself would merge) is never
/// handed to the merge; the full state is written instead.
#[test]
fn pending_updates_are_checked_before_they_are_merged() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, "real edit");
    // No structs; a delete set of client 1 with one range starting at 2^31.
    let past_2_31 = [0, 1, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x08, 1];
    assert!(yaos_server::wire_check::check_update_v1(&past_2_31).is_err());
    room.coordinator.borrow_mut().record_update(past_2_31);

    let outcome = room.save(&store);
    assert_eq!(outcome, SaveOutcome::CheckpointFallback(FallbackReason::DeltaMergeFailed));
    assert_eq!(store.append_calls.get(), 0);
    assert!(!room.coordinator.borrow().has_pending());
    assert_reload_matches(&store, &room);
}

#[test]
fn unmergeable_pending_updates_fall_back_to_the_full_state() {
    let store = FailingStore::new();
    let mut room = Harness::fresh(&store);
    docs::append_text(&room.doc, "real edit");
    room.coordinator.borrow_mut().record_update([0xff, 0xff, 0xff]);

    let outcome = room.save(&store);
    assert_eq!(outcome, SaveOutcome::CheckpointFallback(FallbackReason::DeltaMergeFailed));
    assert_eq!(store.append_calls.get(), 0);
    assert_eq!(room.traced_data("server.save.checkpoint_fallback")["reason"], "delta_merge_failed");
    assert!(!room.coordinator.borrow().has_pending());
    assert_reload_matches(&store, &room);
}
