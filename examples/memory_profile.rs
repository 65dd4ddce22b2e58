//! Peak live heap of the server's big operations, measured natively through
//! the crate's real code paths (Room, Coordinator, SqlDocStore over an
//! in-memory SQLite, `load_document`).
//!
//! ```text
//! cargo run --release --example memory_profile -- --notes 10000 [--verbose] [--sites]
//! ```
//!
//! Wasm linear memory only grows, so what sets a Durable Object's footprint is
//! the peak of simultaneously live heap bytes, not what stays live afterwards.
//! A counting `#[global_allocator]` tracks current and peak live bytes; the
//! peak is reset at the start of each phase. Growing reallocations are counted
//! as allocate-copy-free (old and new buffer both live), which is what the wasm
//! allocator does when a large buffer cannot grow in place; shrinking ones are
//! counted as in place. SQLite allocates through its own malloc, outside this
//! count, as it lives outside wasm memory on the platform.
//!
//! Phases, each mirroring what the shell (`platform/room_host.rs`) does:
//! - `seed`: a fresh room gets the whole vault as one SyncStep2 frame; reply
//!   and broadcast frames are taken and dropped in the shell's order, updates
//!   are recorded, and the save writes a checkpoint (the update is > 2 MiB).
//! - `cold_load`: `load_document` from SQL, then `Room::from_doc`.
//! - `client_sync`: a fresh client's greeting and SyncStep1, the Step2 reply,
//!   and the client's (empty) Step2 answer with its save and echo.
//! - `compact`: an emergency compaction of the loaded document (after one
//!   small journal entry, so it is not a no-op).
//! - `snapshot`: a snapshot of the loaded document (index facts, canonical
//!   full update, SHA-256, gzip), with the gzip output only counted (on the
//!   platform it leaves wasm memory piece by piece).
//! - `migrate`: the first activation after the upgrade: `load_document` with
//!   SQL empty and the same vault in the legacy key-value layout (checkpoint
//!   plus a 4-entry journal), which migrates, verifies and serves it.
//! - `resume`: the next activation after a crash between the migration's
//!   snapshot and its marker (marker rows deleted): the containment check.
//!
//! Peaks are bytes above the live heap before any server state existed, so
//! `client_sync` and `compact` include the loaded document, and `migrate`
//! and `resume` the served one (the legacy store itself is not counted: on
//! the platform it lives outside wasm memory until read). `--verbose` prints
//! the live bytes after each shell step to stderr; `--sites` also prints, for
//! each phase, the large (>= 1 MiB) allocations live at the peak and where
//! they were made (slow; diagnostics only).

#[path = "memory_profile/counting.rs"]
mod counting;
#[path = "../tests/support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;
#[path = "memory_profile/vault.rs"]
mod vault;

use std::sync::atomic::Ordering::Relaxed;

use counting::{current, peak, reset_peak, sites};
use futures::executor::block_on;
use serde_json::{json, Value};
use sqlite::SqliteExec;
use yaos_server::bucket::PayloadSink;
use yaos_server::persist::{Coordinator, EmergencyCompact, FallbackReason, Policy, SaveOutcome};
use yaos_server::room::protocol::{Room, UPDATE_OBSERVED_EVENT};
use yaos_server::room::summary::schema_version;
use yaos_server::snapshot::index::DocFacts;
use yaos_server::snapshot::payload::write_payload;
use yaos_server::store::kv::MemoryKv;
use yaos_server::store::migrate::{load_document, LoadedDocument, MigrationStatus, StorageMode};
use yaos_server::store::sql::SqlExec;
use yaos_server::store::sql_store::SqlDocStore;
use yaos_server::trace::TraceLog;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Doc, Map, ReadTxn, StateVector, Transact, WriteTxn};

/// A payload sink that keeps nothing, for the snapshot phase.
struct CountingSink(u64);

impl PayloadSink for CountingSink {
    fn write(&mut self, piece: &[u8]) {
        self.0 += piece.len() as u64;
    }

    fn len(&self) -> u64 {
        self.0
    }
}

// ---- the server, as the shell drives it ----

fn clock() -> u64 {
    1_779_963_072_345
}

/// The coordinator policy the shell's loader uses (`platform/loader.rs`).
fn room_policy(snapshot_bytes: u64) -> Policy {
    Policy { scale_to_snapshot: true, ..Policy::default() }.scaled_to_snapshot(snapshot_bytes)
}

struct Server {
    room: Room,
    coordinator: Coordinator,
    log: TraceLog,
}

impl Server {
    /// One activation: `load_document` (legacy KV empty), the room and the
    /// coordinator set up as `RoomHost::load` does.
    fn load(store: &SqlDocStore<SqliteExec>) -> Server {
        let mut log = TraceLog::default();
        let kv = MemoryKv::default();
        let loaded: LoadedDocument =
            block_on(load_document(store, &kv, &clock, &mut log)).expect("load_document");
        let snapshot_bytes = store.snapshot_size().map(|(_, bytes)| bytes).unwrap_or(0);
        let room = Room::from_doc(loaded.doc, clock);
        let mut coordinator = Coordinator::default();
        coordinator.on_loaded(room.doc(), loaded.journal);
        coordinator.set_policy(room_policy(snapshot_bytes));
        assert!(!loaded.status.is_read_only(), "the profile expects a writable room");
        Server { room, coordinator, log }
    }

    /// `RoomHost::on_binary` minus the socket: the same steps in the same
    /// order, each large buffer dropped where the shell drops it.
    fn on_binary(
        &mut self,
        store: &SqlDocStore<SqliteExec>,
        frame: Vec<u8>,
        steps: &mut Steps,
    ) -> Option<SaveOutcome> {
        let frame_len = frame.len();
        let mut effects = self.room.on_frame("conn", frame);
        steps.mark("on_frame");
        assert!(effects.error.is_none(), "frame rejected: {:?}", effects.error);
        if let Some(reply) = effects.reply.take() {
            std::hint::black_box(&reply); // ws.send_with_bytes(&reply)
        }
        steps.mark("reply sent");
        for out in effects.broadcast.drain(..) {
            std::hint::black_box(&out); // self.broadcast(&out)
        }
        steps.mark("broadcast sent");
        for update in self.room.take_doc_updates() {
            self.coordinator.record_update(update);
        }
        steps.mark("updates recorded");
        if let Some(data) = effects.update_observed_trace(frame_len) {
            self.log.events.push((UPDATE_OBSERVED_EVENT.to_owned(), data));
        }
        let outcome = effects.update_bearing.then(|| {
            let outcome = self.coordinator.save(store, self.room.doc(), clock(), &mut self.log);
            if !matches!(outcome, SaveOutcome::Failed(_)) {
                std::hint::black_box(self.room.state_vector()); // postApply echo
            }
            outcome
        });
        steps.mark("saved");
        outcome
    }

    /// `RoomHost::greet`: Step1, awareness, baseline echo.
    fn greet(&self) {
        std::hint::black_box(self.room.on_connect());
        std::hint::black_box(self.room.state_vector());
    }
}

/// One activation over a legacy store; it must end migrated (fresh or resumed).
fn migrate(store: &SqlDocStore<SqliteExec>, kv: &MemoryKv) -> LoadedDocument {
    let mut log = TraceLog::default();
    let loaded = block_on(load_document(store, kv, &clock, &mut log)).expect("load_document");
    let mode = (loaded.status.mode, loaded.status.migration_status);
    assert_eq!(mode, (Some(StorageMode::KvMigrated), Some(MigrationStatus::Migrated)), "{log:?}");
    assert_eq!(schema_version(&loaded.doc), Some(3));
    loaded
}

// ---- measurement ----

/// Live bytes after each step of a phase, for `--verbose`.
#[derive(Default)]
struct Steps(Vec<(&'static str, usize, usize)>);

impl Steps {
    fn mark(&mut self, step: &'static str) {
        self.0.push((step, current(), peak()));
    }
}

struct Phase {
    name: &'static str,
    idle: usize,
    peak: usize,
    elapsed: std::time::Duration,
    steps: Steps,
    sites: Vec<(usize, String)>,
}

/// Runs `body` with the peak reset; the peak is reported above `idle`.
fn measure<T>(name: &'static str, idle: usize, body: impl FnOnce(&mut Steps) -> T) -> (T, Phase) {
    reset_peak();
    let mut steps = Steps::default();
    let started = std::time::Instant::now();
    let value = body(&mut steps);
    let elapsed = started.elapsed();
    let phase = Phase { name, idle, peak: peak() - idle, elapsed, steps, sites: sites::report() };
    (value, phase)
}

fn main() {
    let mut notes = 10_000usize;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--notes" => notes = args.next().and_then(|n| n.parse().ok()).expect("--notes N"),
            "--verbose" => verbose = true,
            "--sites" => {
                verbose = true;
                sites::ENABLED.store(true, Relaxed);
            }
            other => panic!("unknown argument {other}"),
        }
    }

    // The client's vault, reduced to the bytes it sends: one SyncStep2 frame.
    let update = vault::build_vault(notes);
    let update_bytes = update.len();
    let mut frame = Message::Sync(SyncMessage::SyncStep2(update)).encode_v1();
    frame.shrink_to_fit(); // as the shell's frame, copied out of JavaScript

    let store = SqlDocStore::new(SqliteExec::in_memory()).expect("sqlite store");
    let idle = current() - frame.capacity();
    let mut phases = Vec::new();

    // (a) Seeding a fresh room with the whole vault in one frame.
    let mut server = Server::load(&store);
    let (outcome, phase) = measure("seed", idle, |steps| server.on_binary(&store, frame, steps));
    assert_eq!(
        outcome,
        Some(SaveOutcome::CheckpointFallback(FallbackReason::DeltaExceedsThreshold)),
        "seeding should write a checkpoint"
    );
    phases.push(phase);
    drop(server);
    let idle = current();

    // (b) Cold load of the stored vault: a new activation.
    let (server, phase) = measure("cold_load", idle, |steps| {
        let server = Server::load(&store);
        steps.mark("loaded");
        server
    });
    phases.push(phase);
    let mut server = server;
    assert_eq!(schema_version(server.room.doc()), Some(3));
    let loaded_doc_bytes = current() - idle;
    let snapshot_bytes = store.snapshot_size().expect("snapshot size").1;

    // (c) A fresh client connects and syncs.
    let (_, phase) = measure("client_sync", idle, |steps| {
        server.greet();
        steps.mark("greeted");
        let step1 = Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1();
        server.on_binary(&store, step1, steps);
        let empty = Doc::new().transact().encode_state_as_update_v1(&StateVector::default());
        let step2 = Message::Sync(SyncMessage::SyncStep2(empty)).encode_v1();
        server.on_binary(&store, step2, steps);
    });
    phases.push(phase);

    // (d) Emergency compaction of the loaded document, after one small edit
    // so the journal is not empty.
    let edit = {
        let client = Doc::with_client_id(0xed17);
        let mut txn = client.transact_mut();
        txn.get_or_insert_map("sys").insert(&mut txn, "lastEditedBy", "profile");
        txn.encode_update_v1()
    };
    let edit = Message::Sync(SyncMessage::Update(edit)).encode_v1();
    let saved = server.on_binary(&store, edit, &mut Steps::default());
    assert!(matches!(saved, Some(SaveOutcome::Appended(_))), "small edit appends: {saved:?}");
    let (compacted, phase) = measure("compact", idle, |_| {
        server.coordinator.compact_now(&store, server.room.doc(), clock(), &mut server.log)
    });
    assert!(matches!(compacted, EmergencyCompact::Compacted { .. }), "compaction: {compacted:?}");
    phases.push(phase);

    // (d') A snapshot of the loaded document: facts, canonical encoding,
    // SHA-256 and gzip in one pass. The gzip output is only counted here: on
    // the platform it goes to JavaScript memory piece by piece.
    let (stats, phase) = measure("snapshot", idle, |_| {
        let facts = DocFacts::of(server.room.doc());
        let stats =
            write_payload(server.room.doc(), &mut CountingSink(0)).expect("gzip to a counter");
        (facts.markdown_file_count, stats)
    });
    assert_eq!(stats.0, notes as u64, "every note counted");
    phases.push(phase);
    drop(server);
    drop(store);

    // (e) Migrating the same vault from the legacy key-value layout.
    let kv = vault::legacy_vault(notes);
    let store = SqlDocStore::new(SqliteExec::in_memory()).expect("sqlite store");
    let idle = current();
    let (loaded, phase) = measure("migrate", idle, |steps| {
        let loaded = migrate(&store, &kv);
        steps.mark("loaded");
        loaded
    });
    phases.push(phase);
    drop(loaded);

    // (f) The activation after a crash between the snapshot and the marker.
    store.sql().execute("DELETE FROM _migration_meta", &[]).expect("delete marker");
    let idle = current();
    let (loaded, phase) = measure("resume", idle, |steps| {
        let loaded = migrate(&store, &kv);
        steps.mark("loaded");
        loaded
    });
    phases.push(phase);
    drop(loaded);

    let ratio = |bytes: usize| (bytes as f64 / update_bytes as f64 * 100.0).round() / 100.0;
    let mut report = serde_json::Map::new();
    report.insert("notes".into(), json!(notes));
    report.insert("update_bytes".into(), json!(update_bytes));
    report.insert("snapshot_bytes".into(), json!(snapshot_bytes));
    report.insert("loaded_doc_bytes".into(), json!(loaded_doc_bytes));
    report.insert("loaded_doc_x_update".into(), json!(ratio(loaded_doc_bytes)));
    for phase in &phases {
        let value: Value = json!({"peak_bytes": phase.peak, "peak_x_update": ratio(phase.peak)});
        report.insert(phase.name.into(), value);
    }
    println!("{}", Value::Object(report));

    if verbose {
        let mib = |bytes: usize| bytes as f64 / 1_048_576.0;
        for phase in &phases {
            eprintln!("{}: peak {:.1} MiB in {:?}", phase.name, mib(phase.peak), phase.elapsed);
            for (step, live, peak) in &phase.steps.0 {
                eprintln!(
                    "  after {step:<18} live {:7.1} MiB  peak so far {:7.1} MiB",
                    mib(live.saturating_sub(phase.idle)),
                    mib(peak.saturating_sub(phase.idle))
                );
            }
            for (size, site) in &phase.sites {
                eprintln!("  live at peak: {:6.1} MiB  {site}", mib(*size));
            }
        }
    }
}
