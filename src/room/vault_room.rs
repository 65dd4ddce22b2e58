//! The vault room: one vault's live state as one sans-IO object. It owns the
//! document and awareness ([`Room`]), the persistence coordinator, the SQL
//! store, the storage status of this activation and the SV-echo counters, and
//! it turns each event (activation, connect, frame, close, wake, compaction)
//! into frames handed to an [`Outbox`] and trace events kept for the shell.
//! It also keeps the device ledger up to date (its glue: `devices`).
//!
//! The rule the server exists for lives here, in [`VaultRoom::frame`]:
//! **durable before acknowledged**. An update-bearing frame is applied, its
//! reply and broadcast frames are handed out (and freed), its updates are
//! recorded and saved, and only a save that left the change durable is
//! followed by the `postApply` echo. Durable Object output gates hold every
//! message sent in the turn until the write is on disk, so a client holding
//! the echo holds a receipt for stored state.

use serde_json::json;
use thiserror::Error;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use super::change_log::ChangeLog;
use super::compaction_schedule::{idle_wait, Urgency, URGENT_SLACK};
use super::debug_report::{budget_json, BudgetFacts, DebugParts, RoomFacts};
use super::device_ledger::DeviceLedger;
use super::limits::{LimitExceeded, RoomLimits, RoomScale};
use super::protocol::{FrameError, HeldAwareness, Room, UPDATE_OBSERVED_EVENT};
use super::refused_frames::{must_be_shown, RefusedFrame, RefusedFrames, REFUSED_FRAME_EVENT};
use super::stored_sync::{send_stored_state, StoredSync};
use super::sv_echo::{try_send_sv_echo, SvEchoCounters, SvEchoKind, CUSTOM_MESSAGE_PREFIX};
use crate::diagnostics::trace::{TraceLog, TraceSink};
use crate::doc_model::summary::{schema_version, DocumentSummary};
use crate::migration::{load_document, LoadError, StorageStatus};
use crate::persist::{
    Commit, CommitWindow, Compaction, Coordinator, EmergencyCompact, Governor, Policy, SaveOutcome,
};
use crate::store::device_rows;
use crate::store::kv::KvStore;
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::StoreError;

/// Where a room's outgoing frames go. The shell implements it over the
/// hibernatable sockets; tests record what was sent, in order.
pub trait Outbox {
    /// A binary frame to the connection the event came from.
    fn reply(&mut self, frame: &[u8]);
    /// A binary frame to every open connection of the room, the sender included.
    fn broadcast(&mut self, frame: &[u8]);
    /// A text frame to the sender; the error is the platform's.
    fn reply_text(&mut self, text: &str) -> Result<(), String>;
    /// A text frame to every open connection (a group commit's echo).
    fn broadcast_text(&mut self, text: &str);
    /// Whether the sender's socket is open (`readyState` 1).
    fn sender_open(&self) -> bool;
}

/// Why a room could not be activated. Nothing was written; the next
/// request may retry.
#[derive(Debug, Error)]
pub enum ActivationError {
    #[error("SQL tables could not be created: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// What one incoming frame did, for the shell's bookkeeping.
#[derive(Debug, Default)]
pub struct FrameTurn {
    /// The connection's awareness IDs changed: store its attachment again.
    pub awareness_ids_changed: bool,
    /// Why the frame was (partly) rejected; logged, the socket stays open.
    pub error: Option<FrameError>,
    /// The save an update-bearing frame triggered.
    pub save: Option<SaveOutcome>,
    /// The save left a compaction due: the shell runs
    /// [`VaultRoom::compact_if_due`] in a later turn, at the time
    /// [`super::compaction_schedule::compaction_alarm`] gives, never in this one.
    pub compaction_due: bool,
    /// The update waits for the commit window: the shell calls
    /// [`VaultRoom::flush`] at this time (Unix ms).
    pub flush_at: Option<u64>,
}

/// What a group commit's write did ([`VaultRoom::flush`]).
#[derive(Debug, Default)]
pub struct FlushTurn {
    /// The save, when one was due.
    pub save: Option<SaveOutcome>,
    /// As [`FrameTurn::compaction_due`].
    pub compaction_due: bool,
    /// The write failed, or is not due yet: call again at this time.
    pub flush_at: Option<u64>,
}

/// The longest connection ID (`_pk`) taken from a client; the plugin sends
/// 10-character nanoids. The ID is stored in the socket's attachment and
/// used as the transaction origin, so it is bounded before the socket is
/// accepted.
pub const MAX_CONNECTION_ID_LEN: usize = 64;

/// Whether a client's `_pk` may be its connection ID: 1 to
/// [`MAX_CONNECTION_ID_LEN`] characters of the nanoid alphabet
/// (`A-Za-z0-9_-`). Anything else gets an ID the server makes, as a missing
/// one does.
pub fn valid_connection_id(id: &str) -> bool {
    (1..=MAX_CONNECTION_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The longest device name kept from a socket's `device` query parameter
/// (the plugin sends the device's name). Kept in the socket's attachment and
/// shown to the operator, so it is bounded before the socket is accepted.
pub const MAX_DEVICE_NAME_CHARS: usize = 64;

/// A socket's `device` parameter as the room keeps it: at most
/// [`MAX_DEVICE_NAME_CHARS`] characters, control characters dropped; `None`
/// when nothing is left.
pub fn device_name(raw: &str) -> Option<String> {
    let name: String =
        raw.chars().filter(|c| !c.is_control()).take(MAX_DEVICE_NAME_CHARS).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Who a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender<'a> {
    /// The connection ID (the client's `_pk`): the transaction origin.
    pub conn: &'a str,
    /// A key unique to the socket: per-socket state (the full-sync budget)
    /// is kept under it, since one `_pk` may hold several sockets (a
    /// reconnect whose old socket the server has not seen close).
    pub socket: &'a str,
    /// The device name the socket's URL gave ([`device_name`]), if any.
    pub device: Option<&'a str>,
}

impl<'a> Sender<'a> {
    /// A sender whose socket is known by its connection ID, with no device.
    pub fn new(conn: &'a str) -> Self {
        Sender { conn, socket: conn, device: None }
    }
}

/// Trace event: a fresh client's full state was sent: its `source` (`rows`:
/// from the stored rows in pieces; `document`: one SyncStep2 encoded from
/// the document, for a vault up to `RoomLimits::one_step_sync_bytes`), how many
/// frames and bytes, and how long it took.
pub const STORED_SYNC_EVENT: &str = "server.sync.stored_state";
/// Trace event: a fresh client's full state could not be sent from the
/// stored rows (it was sent from the document instead).
pub const STORED_SYNC_FAILED_EVENT: &str = "server.sync.stored_state_failed";

/// The names of the coordinator's save traces (`server.save.append_succeeded`,
/// `server.save.append_failed`, ...).
const SAVE_TRACE_PREFIX: &str = "server.save.";

/// Whether a save left a deferred compaction due.
fn compaction_due(save: &Option<SaveOutcome>) -> bool {
    matches!(save, Some(SaveOutcome::Appended(Compaction::Deferred(_))))
}

/// The `__YPS:` error a client over a limit receives. Its code is none of
/// the four the plugin treats as fatal, so the plugin stays connected.
pub fn limit_error_frame(why: &str) -> String {
    let body = json!({"type": "error", "code": "limit_exceeded", "message": why});
    format!("{CUSTOM_MESSAGE_PREFIX}{body}")
}

/// The coordinator policy of a room whose snapshot has this many bytes: the
/// spec's thresholds, grown for large vaults (see `Policy::scaled_to_snapshot`),
/// with compaction deferred out of the frame that makes it due.
pub fn room_policy(snapshot_bytes: u64) -> Policy {
    Policy { scale_to_snapshot: true, defer_compaction: true, ..Policy::default() }
        .scaled_to_snapshot(snapshot_bytes)
}

mod devices;
mod restore;

pub use restore::{RestoreRefused, RestoreTurn};

pub struct VaultRoom<E: SqlExec> {
    room: Room,
    store: SqlDocStore<E>,
    coordinator: Coordinator,
    storage: StorageStatus,
    sv_echo: SvEchoCounters,
    trace: TraceLog,
    clock: fn() -> u64,
    limits: RoomLimits,
    refused: RefusedFrames,
    /// Group commit: when an update taken is written.
    commit: CommitWindow,
    /// Widens the window as the day's rows approach the budget.
    governor: Governor,
    /// Update frames taken since their last `update_observed` trace.
    observed: ObservedFrames,
    /// When the last update-bearing frame came (Unix ms): an idle-time
    /// compaction waits for quiet after it.
    last_edit_at: Option<u64>,
    /// What each device last sent, fetched and had stored.
    ledger: DeviceLedger,
    /// Which notes changed since each device's last sync (this activation).
    changes: ChangeLog,
    /// The ledger's table failed once (traced once, then the ledger lives
    /// in memory only).
    ledger_failed: bool,
}

/// Trace event: the device ledger's table could not be read or written.
pub const DEVICE_LEDGER_FAILED_EVENT: &str = "server.devices.storage_failed";

/// The update frames a room took since it last traced them. Spec 11.2 has a
/// `server.ydoc.update_observed` trace per frame; each is a key-value row
/// written and, past the newest 200, one deleted, so under group commit a
/// trace per keystroke would cost more rows than the writes themselves. The
/// room describes them once per write instead, with their count (`frames`),
/// in the write's own trace (`append_succeeded`, say) when it traced one,
/// else as an `update_observed` of their own.
#[derive(Debug, Default)]
struct ObservedFrames {
    frames: u64,
    bytes: u64,
    doc_changed: bool,
}

impl<E: SqlExec> VaultRoom<E> {
    /// Turns storage into a live room: the load decision of spec 10.2 (SQL,
    /// verified migration from the legacy key-value layout, or the read-only
    /// fallback), the coordinator's baseline, journal statistics and policy.
    /// `clock` gives Unix ms. Trace events of the load, failed or not, go to
    /// `trace`.
    pub async fn activate<K: KvStore>(
        sql: E,
        kv: &K,
        clock: fn() -> u64,
        trace: &mut TraceLog,
    ) -> Result<Self, ActivationError> {
        let store = SqlDocStore::new(sql)?;
        let loaded = load_document(&store, kv, &clock, trace).await?;
        let snapshot_bytes = store.snapshot_size().map(|(_, bytes)| bytes).unwrap_or(0);
        let mut coordinator = Coordinator::new(room_policy(snapshot_bytes));
        coordinator.on_loaded(&loaded.doc, loaded.journal);
        coordinator.set_snapshot_bytes(snapshot_bytes);
        let (ledger, ledger_error) = match device_rows::load(store.sql()) {
            Ok(rows) => (DeviceLedger::from_rows(rows), None),
            Err(error) => (DeviceLedger::default(), Some(error.to_string())),
        };
        if loaded.is_read_only() {
            coordinator.enter_read_only();
        }
        coordinator.set_legacy_document_migrated(loaded.legacy_document_migrated);
        let changes = ChangeLog::observe(&loaded.doc, clock());
        let mut room = VaultRoom {
            room: Room::from_doc(loaded.doc, clock),
            store,
            coordinator,
            storage: loaded.status,
            sv_echo: SvEchoCounters::default(),
            trace: TraceLog::default(),
            clock,
            limits: RoomLimits::default(),
            refused: RefusedFrames::default(),
            commit: CommitWindow::new(0),
            governor: Governor::default(),
            observed: ObservedFrames::default(),
            last_edit_at: None,
            ledger,
            changes,
            ledger_failed: false,
        };
        if let Some(error) = ledger_error {
            room.ledger_storage_failed(error);
        }
        room.set_limits(RoomLimits::default());
        Ok(room)
    }

    /// Group commit with this window (the operator's setting); a room
    /// starts without one, writing every update at once.
    pub fn set_commit_window(&mut self, commit: CommitWindow) {
        self.commit = commit;
    }

    /// The daily row budget the governor keeps to (the operator's setting).
    pub fn set_governor(&mut self, governor: Governor) {
        self.governor = governor;
    }

    /// The rows written today, as far as the store counts them (0 where it
    /// does not).
    fn rows_written_today(&self, now: u64) -> u64 {
        self.store.sql().usage().map_or(0, |usage| usage.today(now).rows_written)
    }

    /// Applies the governor to the day's rows so far: the commit window in
    /// force and the journal's slack before a compaction.
    fn govern(&mut self, now: u64) {
        let rows = self.rows_written_today(now);
        self.commit.govern(self.governor.window_ms(self.commit.base_ms(), rows));
        self.coordinator.set_compaction_slack(self.governor.compaction_slack(rows));
    }

    /// Replaces the default limits (the operator's settings).
    pub fn set_limits(&mut self, limits: RoomLimits) {
        self.limits = limits;
        self.room.limit_full_syncs(limits.full_sync_answers_per_window, self.clock);
    }

    /// Whether one more socket may join while `open` are open; the shell
    /// closes a refused one with the error's text.
    pub fn admit_socket(&self, open: usize) -> Result<(), LimitExceeded> {
        self.limits.admit_socket(open)
    }

    pub fn doc(&self) -> &Doc {
        self.room.doc()
    }

    pub fn store(&self) -> &SqlDocStore<E> {
        &self.store
    }

    /// The read-only (kv-fallback) mode: the room relays but never writes and
    /// never acknowledges.
    pub fn is_read_only(&self) -> bool {
        self.coordinator.is_read_only()
    }

    pub fn storage(&self) -> &StorageStatus {
        &self.storage
    }

    /// Whether the admin key-value cleanup may run: only after an activation
    /// that loaded SQL cleanly. In the read-only fallback SQL did not load,
    /// and the legacy keys may be the only loadable copy of the vault.
    pub fn may_clean_legacy_data(&self) -> bool {
        !self.storage.is_read_only()
    }

    /// `sys.schemaVersion` of the live document (spec 11.1).
    pub fn schema_version(&self) -> Option<i64> {
        schema_version(self.room.doc())
    }

    /// The full state as a v1 update (`GET /__yaos/document`).
    pub fn full_update(&self) -> Vec<u8> {
        self.room.full_update()
    }

    /// The trace events recorded since the last call, for the shell to store.
    pub fn take_traces(&mut self) -> TraceLog {
        std::mem::take(&mut self.trace)
    }

    /// Woken with sockets still open (spec 8.7): every client is asked for
    /// whatever the freshly loaded document lacks.
    pub fn wake(&self, out: &mut impl Outbox) {
        out.broadcast(&self.room.sync_step1());
    }

    /// [`VaultRoom::connect`] of a socket the device ledger learns about.
    pub fn connect_from(&mut self, sender: Sender<'_>, out: &mut impl Outbox) {
        self.ledger.connect(sender.socket, sender.conn, sender.device, (self.clock)());
        self.write_ledger();
        self.connect(out);
    }

    /// A new connection (spec 8.3): SyncStep1, awareness if any, then the
    /// baseline echo.
    pub fn connect(&mut self, out: &mut impl Outbox) {
        for frame in self.room.on_connect() {
            out.reply(&frame);
        }
        self.send_echo(out, SvEchoKind::Baseline);
    }

    /// One binary frame from connection `conn`, which holds the awareness
    /// states `held` (kept in its socket attachment). Large buffers are
    /// freed as soon as they are used (the incoming frame once decoded,
    /// outgoing frames once handed out), before the save encodes anything:
    /// wasm memory never shrinks, so overlapping copies would set the
    /// isolate's high-water mark.
    pub fn frame(
        &mut self,
        conn: &str,
        frame: Vec<u8>,
        held: &mut HeldAwareness,
        out: &mut impl Outbox,
    ) -> FrameTurn {
        self.frame_from(Sender::new(conn), frame, held, out)
    }

    /// [`VaultRoom::frame`] from a sender whose socket and device are known.
    pub fn frame_from(
        &mut self,
        sender: Sender<'_>,
        frame: Vec<u8>,
        held: &mut HeldAwareness,
        out: &mut impl Outbox,
    ) -> FrameTurn {
        let conn = sender.conn;
        let frame_len = frame.len();
        if let Err(over) = self.limits.check_frame_in(&frame, || self.scale()) {
            // Refused before anything decodes it.
            self.refuse(sender, frame_len, &over, out);
            return FrameTurn { error: Some(over.into()), ..FrameTurn::default() };
        }
        let now = (self.clock)();
        // A socket accepted before a hibernation is learnt again here.
        self.ledger.connect(sender.socket, sender.conn, sender.device, now);
        if self.room.is_fresh_sync_request(&frame) && self.store_holds_document() {
            let turn = self.answer_fresh_client(sender, frame_len, out);
            if turn.error.is_none() {
                self.mark_synced(sender.socket, now);
            }
            return turn;
        }
        let mut effects = self.room.on_frame_from(conn, sender.socket, frame, &held.ids);
        if let Some(reply) = effects.reply.take() {
            out.reply(&reply);
            // The SyncStep2 answering its SyncStep1: it now holds what we hold.
            self.mark_synced(sender.socket, now);
        }
        for frame in effects.broadcast.drain(..) {
            out.broadcast(&frame);
        }
        for update in self.room.take_doc_updates() {
            self.coordinator.record_update(update);
        }
        if effects.update_bearing {
            self.ledger.pushed(sender.socket, now);
            // Only a change is an edit: a fresh client's empty SyncStep2
            // must not put off an idle-time compaction.
            if effects.doc_changed {
                self.last_edit_at = Some(now);
            }
            self.observed.frames += 1;
            self.observed.bytes += frame_len as u64;
            self.observed.doc_changed |= effects.doc_changed;
        }
        if let Some(FrameError::Limit(over)) = &effects.error {
            // The other clients never see the frame.
            self.refuse(sender, frame_len, over, out);
        }
        let awareness_ids_changed = !effects.awareness_ids.is_empty();
        held.apply(&effects.awareness_ids);
        if self.ledger.is_unnamed(sender.socket) {
            if let Some(name) = self.awareness_device_name(&held.ids) {
                self.ledger.name(sender.socket, &name, now);
            }
        }
        let (save, flush_at) =
            if effects.update_bearing { self.commit_or_wait(out) } else { (None, None) };
        if save.is_some() {
            self.trace_observed();
        }
        self.write_ledger();
        FrameTurn {
            awareness_ids_changed,
            error: effects.error,
            compaction_due: compaction_due(&save),
            save,
            flush_at,
        }
    }

    /// An update-bearing frame was taken: saved and acknowledged now, or left
    /// for the commit window's end (`flush_at`). A frame that left nothing to
    /// write (a client resending what the room has) is acknowledged at once,
    /// as is every frame in the read-only fallback (which never writes).
    fn commit_or_wait(&mut self, out: &mut impl Outbox) -> (Option<SaveOutcome>, Option<u64>) {
        if !self.coordinator.has_pending() || self.is_read_only() {
            return (Some(self.save_then_acknowledge(out)), self.commit.due_at());
        }
        let now = (self.clock)();
        self.govern(now);
        match self.commit.on_update(now) {
            Commit::Now => {
                let outcome = self.save_then_acknowledge(out);
                let retry = self.commit.wrote(now, outcome.is_durable());
                (Some(outcome), retry)
            }
            Commit::At(at) => (None, Some(at)),
        }
    }

    /// The commit window's end (the shell's timer): the updates taken in it
    /// are written as one, and every open connection gets the echo (the
    /// senders are among them). Early, or with nothing due, it only says
    /// when to call again.
    pub fn flush(&mut self, out: &mut impl Outbox) -> FlushTurn {
        let now = (self.clock)();
        if !self.commit.is_due(now) {
            return FlushTurn { flush_at: self.commit.due_at(), ..FlushTurn::default() };
        }
        let outcome = self.coordinator.save(&self.store, self.room.doc(), now, &mut self.trace);
        if outcome.is_durable() {
            self.send_echo_to_all(out);
        }
        let flush_at = self.commit.wrote(now, outcome.is_durable());
        self.trace_observed();
        let save = Some(outcome);
        FlushTurn { compaction_due: compaction_due(&save), save, flush_at }
    }

    /// The frames taken since they were last traced, added to the trace of
    /// the write that just ran (one row, not two), or traced as
    /// `update_observed` when the write traced nothing (nothing to write).
    fn trace_observed(&mut self) {
        let observed = std::mem::take(&mut self.observed);
        if observed.frames == 0 {
            return;
        }
        let fields = serde_json::Map::from_iter([
            ("updateBytes".to_owned(), json!(observed.bytes)),
            ("docChanged".to_owned(), json!(observed.doc_changed)),
            ("frames".to_owned(), json!(observed.frames)),
        ]);
        let save_trace =
            self.trace.events.last_mut().filter(|(name, _)| name.starts_with(SAVE_TRACE_PREFIX));
        match save_trace {
            Some((_, serde_json::Value::Object(data))) => data.extend(fields),
            _ => self.trace.trace(UPDATE_OBSERVED_EVENT, serde_json::Value::Object(fields)),
        }
    }

    /// A frame of `bytes` over a limit: the sender is told why, and a
    /// refusal that costs a device its data or its sync is kept for the
    /// operator and traced, because the plugin ignores the error.
    fn refuse(
        &mut self,
        sender: Sender<'_>,
        bytes: usize,
        over: &LimitExceeded,
        out: &mut impl Outbox,
    ) {
        let reason = over.to_string();
        let _ = out.reply_text(&limit_error_frame(&reason));
        if !must_be_shown(over) {
            return;
        }
        let device = sender.device.unwrap_or(sender.conn).to_owned();
        let data = json!({ "device": device, "bytes": bytes, "reason": reason });
        self.trace.trace(REFUSED_FRAME_EVENT, data);
        self.refused.record(RefusedFrame { device, bytes, at: (self.clock)(), reason });
    }

    /// What the frame limits scale with: the document's clients, and its
    /// stored bytes (snapshot plus journal). Read only for a frame over the
    /// fixed limits; a failed read counts as an empty store.
    fn scale(&self) -> RoomScale {
        RoomScale {
            doc_clients: self.room.doc().transact().state_vector().len(),
            stored_bytes: self.stored_bytes(),
        }
    }

    /// What a fresh sync was sent from (`rows` or `document`), in how many
    /// frames and bytes, and how long it took.
    fn trace_fresh_sync(&mut self, sent: StoredSync, source: &str, started: u64) {
        let data = json!({
            "source": source,
            "frames": sent.frames,
            "bytes": sent.bytes,
            "heldStructs": sent.held_structs,
            "lastFrameBytes": sent.last_frame_bytes,
            "durationMs": (self.clock)().saturating_sub(started),
        });
        self.trace.trace(STORED_SYNC_EVENT, data);
    }

    /// The stored rows' bytes (snapshot plus journal), which bound the
    /// encoded full state; a failed read counts as empty.
    fn stored_bytes(&self) -> u64 {
        let snapshot = self.store.snapshot_size().map_or(0, |(_, bytes)| bytes);
        let journal = self.coordinator.journal_stats().map_or(0, |j| j.total_bytes);
        snapshot.saturating_add(journal)
    }

    /// Whether the stored rows hold all of the document: SQL is the live
    /// store (not the read-only fallback) and every change is durable.
    fn store_holds_document(&self) -> bool {
        !self.coordinator.is_read_only() && !self.coordinator.has_pending()
    }

    /// A fresh client's SyncStep1, answered from the stored rows
    /// ([`super::stored_sync`]); if reading them fails, from the document.
    /// The answer is charged to the sender's socket's full-sync budget.
    fn answer_fresh_client(
        &mut self,
        sender: Sender<'_>,
        frame_len: usize,
        out: &mut impl Outbox,
    ) -> FrameTurn {
        if let Err(over) = self.room.charge_full_sync(sender.socket) {
            self.refuse(sender, frame_len, &over, out);
            return FrameTurn { error: Some(over.into()), ..FrameTurn::default() };
        }
        let started = (self.clock)();
        let pieces = self.limits.sync_piece_bytes;
        let one_step = self.limits.one_step_sync_bytes.max(pieces);
        if self.stored_bytes() <= one_step as u64 {
            // One SyncStep2 from the document, which the client integrates
            // on arrival: no pending structs to merge and integrate later.
            let frame = self.room.full_state_step2();
            out.reply(&frame);
            let sent = StoredSync { frames: 1, bytes: frame.len(), ..StoredSync::default() };
            self.trace_fresh_sync(sent, "document", started);
            return FrameTurn::default();
        }
        match send_stored_state(&self.store, self.room.doc(), pieces, out) {
            Ok(sent) => self.trace_fresh_sync(sent, "rows", started),
            Err(error) => {
                self.trace.trace(STORED_SYNC_FAILED_EVENT, json!({ "error": error.to_string() }));
                out.reply(&self.room.full_state_step2());
            }
        }
        FrameTurn::default()
    }

    /// Durable before acknowledged: the save runs first, and the `postApply`
    /// echo follows only when the save left every change durable. A failed
    /// save, or the read-only fallback (which never writes), sends no echo.
    fn save_then_acknowledge(&mut self, out: &mut impl Outbox) -> SaveOutcome {
        let outcome =
            self.coordinator.save(&self.store, self.room.doc(), (self.clock)(), &mut self.trace);
        if outcome.is_durable() {
            self.send_echo(out, SvEchoKind::PostApply);
        }
        outcome
    }

    /// Connection `conn` closed: its awareness states are removed and the
    /// other connections told; its full-sync budget is dropped.
    pub fn close(&mut self, conn: &str, held: &HeldAwareness, out: &mut impl Outbox) {
        self.close_from(Sender::new(conn), held, out);
    }

    /// [`VaultRoom::close`] of a sender whose socket is known: that socket's
    /// budget is dropped, not the budget of another socket of the same `_pk`.
    pub fn close_from(&mut self, sender: Sender<'_>, held: &HeldAwareness, out: &mut impl Outbox) {
        self.mark_closed(sender.socket);
        self.write_ledger();
        self.room.forget_connection(sender.socket);
        if let Some(frame) = self.room.on_close(held) {
            out.broadcast(&frame);
        }
    }

    /// Whether a compaction is due (the journal past the policy's limits, the
    /// breaker closed): after activation, a crash may have come between the
    /// frame that made it due and the compaction.
    pub fn compaction_due(&mut self) -> bool {
        self.govern((self.clock)());
        self.coordinator.compaction_due()
    }

    /// How soon the due compaction should run (`compaction_schedule`): a
    /// large vault's waits for the room to fall idle, unless its journal is
    /// [`URGENT_SLACK`] times past the thresholds.
    pub fn compaction_urgency(&self) -> Urgency {
        let urgent = self.coordinator.compaction_past(URGENT_SLACK);
        Urgency::of(self.coordinator.snapshot_bytes(), urgent)
    }

    /// At the compaction alarm, with `open_sockets` open: `None` to compact
    /// now, or the time to wait until the room is idle.
    pub fn compaction_wait(&self, open_sockets: usize) -> Option<u64> {
        let now = (self.clock)();
        idle_wait(now, self.compaction_urgency(), self.last_edit_at, open_sockets)
    }

    /// At activation, before any frame is served: a compaction left due (a
    /// crash or a restart came before its idle-time alarm) runs now. The
    /// load's buffers were just freed, so the rewrite costs what a
    /// compaction right after a load costs; left for later, a fresh client
    /// gets the old snapshot plus a journal-sized diff, and the vault-sized
    /// rewrite can land in the middle of its sync on a fragmented heap (a
    /// 25,000-note vault reached 127 to 216 MB; engineering/benchmarks.md).
    /// Frames already wait for the load, so typing waits no longer.
    pub fn compact_at_activation(&mut self) -> Option<Compaction> {
        self.compaction_due().then(|| self.compact_if_due())
    }

    /// The deferred compaction: the same rewrite, atomicity and circuit
    /// breaker as one inside a save, run outside any frame's turn.
    pub fn compact_if_due(&mut self) -> Compaction {
        self.govern((self.clock)());
        self.coordinator.compact_if_due(
            &self.store,
            self.room.doc(),
            (self.clock)(),
            &mut self.trace,
        )
    }

    /// Emergency compaction (spec 10.6). Refused in the read-only fallback
    /// (spec 10.6 runs it there): that document is the legacy copy, and
    /// writing it as the checkpoint would replace SQL rows holding edits the
    /// legacy copy lacks (design.md, departures).
    pub fn compact_now(&mut self) -> EmergencyCompact {
        if self.is_read_only() || self.storage.is_read_only() {
            let error = "refusing: the vault is in its read-only key-value fallback (SQL did not load); compacting would overwrite the SQL data with the older legacy copy";
            return EmergencyCompact::Refused { error: error.into() };
        }
        self.coordinator.compact_now(&self.store, self.room.doc(), (self.clock)(), &mut self.trace)
    }

    /// The loaded room's part of the debug JSON (spec 9.2).
    pub fn debug_parts(&self) -> DebugParts {
        DebugParts {
            sv_echo: self.sv_echo.clone(),
            persistence: self.coordinator.health(),
            summary: Some(DocumentSummary::of(self.room.doc())),
            storage: self.storage.to_json(self.coordinator.oversized_delta_count()),
            refused_frames: self.refused.to_json(),
            budget: budget_json(
                self.store.sql().usage().as_ref(),
                (self.clock)(),
                &self.budget_facts(),
            ),
            room: RoomFacts {
                awareness_clients: self.room.awareness_client_count(),
                snapshot: self.store.snapshot_size().ok(),
                compaction_due: self.coordinator.compaction_due(),
                compaction_failures: self.coordinator.consecutive_compaction_failures(),
                compaction_breaker_open: self.coordinator.compaction_breaker_open(),
            },
        }
    }

    fn budget_facts(&self) -> BudgetFacts {
        let quota = self.coordinator.quota_exceeded_since();
        BudgetFacts {
            commit_window_ms: self.commit.window_ms(),
            configured_commit_window_ms: self.commit.base_ms(),
            daily_row_budget: self.governor.daily_rows(),
            quota_exceeded: quota.map(|since| (since, self.coordinator.health().last_save_error)),
        }
    }

    /// Every echo, the baseline one a new socket gets included, carries the
    /// state vector of the last durable write (the coordinator's baseline),
    /// never the live document's: the plugin counts any echo covering an
    /// edit as its receipt, so an echo naming an edit that failed to save,
    /// or one the read-only fallback only relayed, would tell a device that
    /// an unsaved edit is safe. After a durable save the two are the same.
    fn send_echo(&mut self, out: &mut impl Outbox, kind: SvEchoKind) {
        let sv = self.durable_state_vector();
        let result = try_send_sv_echo(out.sender_open(), &sv, kind, |frame| out.reply_text(frame));
        self.sv_echo.record(&result);
        if kind == SvEchoKind::PostApply {
            self.ledger.acknowledged((self.clock)());
        }
    }

    /// A group commit's `postApply` echo, to every open connection: the
    /// senders of the updates it wrote are among them, and to the others it
    /// only says what they already may know. Counted once.
    fn send_echo_to_all(&mut self, out: &mut impl Outbox) {
        let sv = self.durable_state_vector();
        let result = try_send_sv_echo(true, &sv, SvEchoKind::PostApply, |frame| {
            out.broadcast_text(frame);
            Ok::<(), ()>(())
        });
        self.sv_echo.record(&result);
        self.ledger.acknowledged((self.clock)());
    }

    fn durable_state_vector(&self) -> Vec<u8> {
        match self.coordinator.baseline() {
            Some(durable) => durable.encode_v1(),
            None => StateVector::default().encode_v1(),
        }
    }
}
