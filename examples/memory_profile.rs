//! Peak live heap of the server's big operations, measured natively through
//! the crate's real code paths (the vault room over an in-memory SQLite).
//!
//! ```text
//! cargo run --release --example memory_profile -- --notes 10000 [--verbose] [--sites] [--gzip-level L]
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
//! Phases, each through the real vault room (`room::vault_room`) as the
//! shell drives it, with an outbox that discards what it would send:
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
//!   platform it leaves wasm memory piece by piece). `--gzip-level L` builds
//!   it at level L instead of the server's (`payload::GZIP_LEVEL`), to weigh
//!   that choice; the report gives the payload's size as `snapshot_gzip_bytes`.
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

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use counting::{current, peak, reset_peak, sites};
use futures::executor::block_on;
use serde_json::{json, Value};
use sqlite::SqliteExec;
use yaos_server::bucket::PayloadSink;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::doc_model::restore::{self, Restoring, Writer};
use yaos_server::migration::{MigrationStatus, StorageMode};
use yaos_server::persist::{EmergencyCompact, FallbackReason, SaveOutcome};
use yaos_server::room::limits::RoomLimits;
use yaos_server::room::vault_room::{Outbox, VaultRoom};
use yaos_server::snapshot::browse::browse;
use yaos_server::snapshot::index::DocFacts;
use yaos_server::snapshot::notes_pack::{write_pack, NotesManifest};
use yaos_server::snapshot::payload::{write_payload_at_level, GZIP_LEVEL};
use yaos_server::store::kv::MemoryKv;
use yaos_server::store::sql::SqlExec;
use yaos_server::store::DocStore;
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

// ---- the server: the real vault room, with an outbox that discards ----

fn clock() -> u64 {
    1_779_963_072_345
}

/// The vault room over a shared in-memory database (several activations).
type Server = VaultRoom<Rc<SqliteExec>>;

/// One activation of the room over `sql`, as the shell activates it.
fn activate(sql: &Rc<SqliteExec>, kv: &MemoryKv) -> Server {
    let mut log = TraceLog::default();
    block_on(VaultRoom::activate(Rc::clone(sql), kv, clock, &mut log)).expect("activation")
}

/// The sockets, reduced to marking each send as a step.
struct Discard<'a>(&'a mut Steps);

impl Outbox for Discard<'_> {
    fn reply(&mut self, frame: &[u8]) {
        std::hint::black_box(frame);
        self.0.mark("reply sent");
    }

    fn broadcast(&mut self, frame: &[u8]) {
        std::hint::black_box(frame);
        self.0.mark("broadcast sent");
    }

    fn reply_text(&mut self, text: &str) -> Result<(), String> {
        std::hint::black_box(text);
        self.0.mark("echo sent");
        Ok(())
    }

    fn broadcast_text(&mut self, _text: &str) {}
    fn sender_open(&self) -> bool {
        true
    }
}

/// One binary frame through the room's frame turn.
fn on_binary(server: &mut Server, frame: Vec<u8>, steps: &mut Steps) -> Option<SaveOutcome> {
    let turn = server.frame("conn", frame, &mut Default::default(), &mut Discard(steps));
    assert!(turn.error.is_none(), "frame rejected: {:?}", turn.error);
    steps.mark("saved");
    turn.save
}

/// One activation over a legacy store; it must end migrated (fresh or resumed).
fn migrate(sql: &Rc<SqliteExec>, kv: &MemoryKv) -> Server {
    let server = activate(sql, kv);
    let storage = server.storage();
    assert_eq!(
        (storage.mode, storage.migration_status),
        (Some(StorageMode::KvMigrated), Some(MigrationStatus::Migrated))
    );
    assert_eq!(server.schema_version(), Some(3));
    server
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
    let mut gzip_level = GZIP_LEVEL;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--notes" => notes = args.next().and_then(|n| n.parse().ok()).expect("--notes N"),
            "--verbose" => verbose = true,
            "--gzip-level" => {
                gzip_level = args.next().and_then(|n| n.parse().ok()).expect("--gzip-level L")
            }
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

    let sql = Rc::new(SqliteExec::in_memory());
    let no_legacy = MemoryKv::default();
    let idle = current() - frame.capacity();
    let mut phases = Vec::new();

    // (a) Seeding a fresh room with the whole vault in one frame, when the
    // room takes a frame that large; otherwise the vault is written as the
    // snapshot directly, and the phase is not measured.
    let mut server = activate(&sql, &no_legacy);
    if frame.len() <= RoomLimits::default().max_update_bytes_in(0) {
        let (outcome, phase) = measure("seed", idle, |steps| on_binary(&mut server, frame, steps));
        assert_eq!(
            outcome,
            Some(SaveOutcome::CheckpointFallback(FallbackReason::DeltaExceedsThreshold)),
            "seeding should write a checkpoint"
        );
        phases.push(phase);
    } else {
        eprintln!(
            "seed: a {}-byte frame is over a room's limit; written as the snapshot",
            frame.len()
        );
        drop(frame);
        server.store().rewrite_checkpoint(&vault::build_vault(notes)).expect("snapshot written");
    }
    drop(server);
    let idle = current();

    // (b) Cold load of the stored vault: a new activation.
    let (server, phase) = measure("cold_load", idle, |steps| {
        let server = activate(&sql, &no_legacy);
        steps.mark("loaded");
        server
    });
    phases.push(phase);
    let mut server = server;
    assert_eq!(server.schema_version(), Some(3));
    let loaded_doc_bytes = current() - idle;
    let snapshot_bytes = server.store().snapshot_size().expect("snapshot size").1;

    // (c) A fresh client connects and syncs.
    let (_, phase) = measure("client_sync", idle, |steps| {
        server.connect(&mut Discard(steps));
        steps.mark("greeted");
        let step1 = Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1();
        on_binary(&mut server, step1, steps);
        let empty = Doc::new().transact().encode_state_as_update_v1(&StateVector::default());
        let step2 = Message::Sync(SyncMessage::SyncStep2(empty)).encode_v1();
        on_binary(&mut server, step2, steps);
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
    let saved = on_binary(&mut server, edit, &mut Steps::default());
    assert!(matches!(saved, Some(SaveOutcome::Appended(_))), "small edit appends: {saved:?}");
    let (compacted, phase) = measure("compact", idle, |_| server.compact_now());
    assert!(matches!(compacted, EmergencyCompact::Compacted { .. }), "compaction: {compacted:?}");
    phases.push(phase);

    // (d') A snapshot of the loaded document: facts, canonical encoding,
    // SHA-256 and gzip in one pass. The gzip output is only counted here: on
    // the platform it goes to JavaScript memory piece by piece.
    let (stats, phase) = measure("snapshot", idle, |_| {
        let facts = DocFacts::of(server.doc());
        let stats = write_payload_at_level(server.doc(), &mut CountingSink(0), gzip_level)
            .expect("gzip to a counter");
        (facts.markdown_file_count, stats)
    });
    assert_eq!(stats.0, notes as u64, "every note counted");
    let snapshot_gzip_bytes = stats.1.gzip_bytes;
    phases.push(phase);

    // (d2) The snapshot's notes pack and manifest, written after the
    // payload; both go to JavaScript memory on the platform, so here they
    // are only counted.
    let (packed, phase) = measure("notes_pack", idle, |_| {
        let (mut pack, mut manifest) = (CountingSink(0), CountingSink(0));
        let count = write_pack(server.doc(), &mut pack, &mut manifest).expect("pack");
        (count, pack.0, manifest.0)
    });
    assert_eq!(packed.0, notes, "every note packed");
    let (notes_pack_bytes, notes_manifest_bytes) = (packed.1, packed.2);
    phases.push(phase);

    // (d3) Browsing that snapshot against the live vault: the manifest's
    // bytes as read from the bucket (allocated inside the phase), checked,
    // compared and answered as JSON.
    let (mut pack, mut stored) = (Vec::new(), Vec::new());
    write_pack(server.doc(), &mut pack, &mut stored).expect("pack");
    drop(pack);
    let (answer_bytes, phase) = measure("browse", idle, |_| {
        let manifest = NotesManifest::parse(stored.clone()).expect("manifest");
        let txn = server.doc().transact();
        browse(&txn, "profile", &manifest).len()
    });
    drop(stored);
    phases.push(phase);

    // (d4) Restoring 100 notes (their texts as read from the pack): the
    // plan, then the one transaction.
    let texts: Vec<(String, String)> = (0..100)
        .map(|i| (format!("Vault/folder-{:03}/note {i:05}.md", i % 200), format!("restored {i}\n")))
        .collect();
    let (restored, phase) = measure("restore", idle, |_| {
        let notes: Vec<Restoring<'_>> =
            texts.iter().map(|(path, text)| Restoring { path, text }).collect();
        let plan = restore::plan(&server.doc().transact(), &notes);
        let mut random = || [7u8; 12];
        let writer = Writer { now_ms: clock(), device: None, random_id: &mut random };
        let done = restore::apply(&mut server.doc().transact_mut(), &notes, writer);
        assert_eq!(plan, done);
        done.len()
    });
    assert_eq!(restored, 100);
    phases.push(phase);
    drop(server);
    drop(sql);

    // (e) Migrating the same vault from the legacy key-value layout.
    let kv = vault::legacy_vault(notes);
    let sql = Rc::new(SqliteExec::in_memory());
    let idle = current();
    let (loaded, phase) = measure("migrate", idle, |steps| {
        let loaded = migrate(&sql, &kv);
        steps.mark("loaded");
        loaded
    });
    phases.push(phase);
    drop(loaded);

    // (f) The activation after a crash between the snapshot and the marker.
    sql.execute("DELETE FROM _migration_meta", &[]).expect("delete marker");
    let idle = current();
    let (loaded, phase) = measure("resume", idle, |steps| {
        let loaded = migrate(&sql, &kv);
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
    report.insert("snapshot_gzip_level".into(), json!(gzip_level));
    report.insert("snapshot_gzip_bytes".into(), json!(snapshot_gzip_bytes));
    report.insert("notes_pack_bytes".into(), json!(notes_pack_bytes));
    report.insert("notes_manifest_bytes".into(), json!(notes_manifest_bytes));
    report.insert("browse_answer_bytes".into(), json!(answer_bytes));
    report.insert("loaded_doc_x_update".into(), json!(ratio(loaded_doc_bytes)));
    for phase in &phases {
        let value: Value = json!({
            "peak_bytes": phase.peak,
            "peak_x_update": ratio(phase.peak),
            // Wall time of the phase, with the allocation counting's overhead.
            "ms": phase.elapsed.as_millis() as u64,
        });
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
