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
//!
//! Peaks are bytes above the live heap before any server state existed, so
//! `client_sync` and `compact` include the loaded document. `--verbose` prints
//! the live bytes after each shell step to stderr; `--sites` also prints, for
//! each phase, the large (>= 1 MiB) allocations live at the peak and where
//! they were made (slow; diagnostics only).

#[path = "../tests/support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use futures::executor::block_on;
use serde_json::{json, Value};
use sqlite::SqliteExec;
use yaos_server::persist::{Coordinator, EmergencyCompact, FallbackReason, Policy, SaveOutcome};
use yaos_server::room::protocol::{Room, UPDATE_OBSERVED_EVENT};
use yaos_server::room::summary::schema_version;
use yaos_server::store::kv::MemoryKv;
use yaos_server::store::migrate::{load_document, LoadedDocument};
use yaos_server::store::sql_store::SqlDocStore;
use yaos_server::trace::TraceLog;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Any, Doc, Map, MapPrelim, ReadTxn, StateVector, TextPrelim, Transact, WriteTxn};

// ---- the counting allocator ----

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    /// Notes `bytes` more live, with `transient` extra bytes live only for
    /// the duration of the call (the old buffer of a copying realloc).
    fn grew(bytes: usize, transient: usize) {
        let now = CURRENT.fetch_add(bytes, Relaxed) + bytes;
        if now + transient > PEAK.fetch_max(now + transient, Relaxed) {
            sites::on_new_peak(now + transient);
        }
    }

    fn shrank(bytes: usize) {
        CURRENT.fetch_sub(bytes, Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            sites::on_alloc(ptr, layout.size());
            Counting::grew(layout.size(), 0);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            sites::on_alloc(ptr, layout.size());
            Counting::grew(layout.size(), 0);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sites::on_free(ptr);
        System.dealloc(ptr, layout);
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            let old = layout.size();
            sites::on_free(ptr);
            sites::on_alloc(new, new_size);
            if new_size >= old {
                Counting::grew(new_size - old, old);
            } else {
                Counting::shrank(old - new_size);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn current() -> usize {
    CURRENT.load(Relaxed)
}

fn peak() -> usize {
    PEAK.load(Relaxed)
}

fn reset_peak() {
    PEAK.store(current(), Relaxed);
    sites::reset();
}

/// `--sites`: which large allocations are live at each phase's peak.
mod sites {
    use super::*;

    /// Allocations at least this big are tracked with their call site.
    const LARGE: usize = 1 << 20;

    pub static ENABLED: AtomicBool = AtomicBool::new(false);

    thread_local! {
        /// Set while the tracker itself allocates, so it does not recurse.
        static BUSY: Cell<bool> = const { Cell::new(false) };
    }

    struct State {
        live: HashMap<usize, (usize, String)>,
        /// The large allocations live at the highest peak seen this phase.
        at_peak: Vec<(usize, String)>,
        at_peak_bytes: usize,
    }

    static STATE: Mutex<Option<State>> = Mutex::new(None);

    fn with_state(f: impl FnOnce(&mut State)) {
        if !ENABLED.load(Relaxed) || BUSY.with(Cell::get) {
            return;
        }
        BUSY.with(|b| b.set(true));
        let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.get_or_insert_with(|| State {
            live: HashMap::new(),
            at_peak: Vec::new(),
            at_peak_bytes: 0,
        });
        f(state);
        drop(guard);
        BUSY.with(|b| b.set(false));
    }

    pub fn on_alloc(ptr: *mut u8, size: usize) {
        if size >= LARGE {
            with_state(|s| {
                s.live.insert(ptr as usize, (size, call_site()));
            });
        }
    }

    pub fn on_free(ptr: *mut u8) {
        with_state(|s| {
            s.live.remove(&(ptr as usize));
        });
    }

    /// Snapshots the large live allocations when the peak has grown by a
    /// quarter MiB since the last snapshot (so small allocations that nudge
    /// the peak do not each pay for a snapshot).
    pub fn on_new_peak(bytes: usize) {
        with_state(|s| {
            if bytes >= s.at_peak_bytes + (LARGE / 4) {
                s.at_peak_bytes = bytes;
                s.at_peak = s.live.values().cloned().collect();
                s.at_peak.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
            }
        });
    }

    pub fn reset() {
        with_state(|s| {
            s.at_peak.clear();
            s.at_peak_bytes = 0;
        });
    }

    /// The large allocations live at the phase's peak, biggest first.
    pub fn report() -> Vec<(usize, String)> {
        let mut out = Vec::new();
        with_state(|s| out = s.at_peak.clone());
        out
    }

    /// The innermost few frames of this crate or yrs that made the allocation.
    fn call_site() -> String {
        let trace = Backtrace::force_capture().to_string();
        let frames: Vec<&str> = trace
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("at "))
            .filter_map(|line| line.split_once(": ").map(|(_, name)| name))
            .filter(|name| {
                (name.starts_with("yaos_server::")
                    || name.starts_with("yrs::")
                    || name.starts_with("memory_profile::"))
                    && !name.starts_with("memory_profile::sites")
                    && !name.contains("GlobalAlloc")
            })
            .take(4)
            .collect();
        frames.join(" < ")
    }
}

// ---- the vault ----

/// A plugin-shaped vault of `notes` notes of about 2 KB each: `meta` (fileId
/// -> nested Y.Map {path, mtime}), `pathToId`, `idToText` (fileId -> Y.Text)
/// and `sys.schemaVersion` = 3. Returns the client's full state (v1).
fn build_vault(notes: usize) -> Vec<u8> {
    let doc = Doc::with_client_id(0x5eed);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for batch in (0..notes).collect::<Vec<_>>().chunks(100) {
        let mut txn = doc.transact_mut();
        let meta = txn.get_or_insert_map("meta");
        let path_to_id = txn.get_or_insert_map("pathToId");
        let id_to_text = txn.get_or_insert_map("idToText");
        for &i in batch {
            let id = rng.file_id();
            let path = format!("Vault/folder-{:03}/note {i:05}.md", i % 200);
            let mtime = Any::from(1_700_000_000_000.0 + i as f64 * 1000.0);
            let fields = MapPrelim::from([("path", Any::from(path.as_str())), ("mtime", mtime)]);
            meta.insert(&mut txn, id.as_str(), fields);
            path_to_id.insert(&mut txn, path, id.as_str());
            id_to_text.insert(&mut txn, id, TextPrelim::new(rng.note_body(2048)));
        }
    }
    {
        let mut txn = doc.transact_mut();
        txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
    }
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    update
}

/// A small deterministic generator for ids and note text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn file_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        (0..21).map(|_| ALPHABET[(self.next() % 64) as usize] as char).collect()
    }

    fn note_body(&mut self, len: usize) -> String {
        const WORDS: &str = "vault note sync the of and a markdown link idea todo meeting project \
            draft review obsidian yjs server durable object with for on in journal daily #tag \
            [[Backlink]]";
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        let mut body = String::with_capacity(len + 16);
        body.push_str("# Heading\n\n");
        while body.len() < len {
            body.push_str(words[(self.next() % words.len() as u64) as usize]);
            body.push(if self.next().is_multiple_of(12) { '\n' } else { ' ' });
        }
        body
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
    let update = build_vault(notes);
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
