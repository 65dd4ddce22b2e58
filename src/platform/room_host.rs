//! The vault object's live state inside its Durable Object: the core
//! [`VaultRoom`] once activated, the room's name, its trace store and the
//! in-memory `roomMeta`. This module adapts; the rules are the vault room's:
//! it owns activation (one shared attempt per activation, retried after a
//! failure), hands the room the sockets as an [`Outbox`], stores socket
//! attachments and writes the traces the room recorded.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wasm_bindgen::JsCast;
use worker::*;

use crate::diagnostics::trace::TraceLog;
use crate::diagnostics::trace_store::TraceStore;
use crate::doc_model::restore::{Planned, Restoring, FILE_ID_BYTES};
use crate::persist::{CommitWindow, Governor, COMMIT_WINDOW_VAR, DAILY_ROW_BUDGET_VAR};
use crate::room::compaction_schedule::{compaction_alarm, Urgency};
use crate::room::limits::RoomLimits;
use crate::room::protocol::HeldAwareness;
use crate::room::room_meta::{RoomMeta, ROOM_META_KEY};
use crate::room::vault_room::{Outbox, RestoreRefused, Sender, VaultRoom};
use crate::store::kv::{KvStore, KvValue};
use crate::store::usage::{Meter, StoredDay, USAGE_KEY};

use super::do_sql::{DoSql, FAIL_CHUNK_INSERT_VAR, QUOTA_REFUSALS_VAR};
use super::kv::DoKv;
use super::runtime::{now_ms, random_bytes};

/// The key under which the room's name (the vault id) is kept, as partyserver did.
const ROOM_NAME_KEY: &str = "__ps_name";
const SOCKET_OPEN: u16 = 1;

/// What each socket carries through hibernation: y-partyserver's fields,
/// plus the clocks of the awareness states it holds (ours).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    #[serde(rename = "__ypsAwarenessIds", default)]
    pub awareness_ids: Vec<u64>,
    #[serde(rename = "yaosAwarenessClocks", default)]
    pub awareness_clocks: Vec<(u64, u32)>,
    /// Unique to this socket (the room's per-socket state is keyed by it);
    /// empty for a socket accepted before it existed, which then goes by `id`.
    #[serde(rename = "yaosSocket", default)]
    pub socket: String,
    /// The `device` query parameter, bounded (`vault_room::device_name`).
    #[serde(rename = "yaosDevice", default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl Attachment {
    fn held(&self) -> HeldAwareness {
        HeldAwareness { ids: self.awareness_ids.clone(), clocks: self.awareness_clocks.clone() }
    }

    fn sender(&self) -> Sender<'_> {
        let socket = if self.socket.is_empty() { &self.id } else { &self.socket };
        Sender { conn: &self.id, socket, device: self.device.as_deref() }
    }
}

type LoadFuture = Shared<LocalBoxFuture<'static, std::result::Result<(), String>>>;

pub struct RoomHost {
    pub state: State,
    pub env: Env,
    /// The activated room; `None` until the first request that needs it.
    pub live: RefCell<Option<VaultRoom<DoSql>>>,
    loading: RefCell<Option<LoadFuture>>,
    pub room_id: RefCell<Option<String>>,
    pub traces: TraceStore,
    /// The in-memory copy of `roomMeta` (spec 11.1); empty after a cold start.
    pub room_meta: RefCell<Option<RoomMeta>>,
    /// Snapshot operations run one at a time per room (spec 10.7).
    pub snapshot_lock: futures::lock::Mutex<()>,
    /// The rate limit on manual snapshots (in memory; see its module).
    pub manual_snapshots: RefCell<crate::snapshot::manual_gate::ManualSnapshotGate>,
    /// Since when a deferred compaction has been due, and when its alarm
    /// is set for (Unix ms); both cleared when the alarm runs.
    compaction_due_since: std::cell::Cell<Option<u64>>,
    compaction_alarm_at: std::cell::Cell<Option<u64>>,
    /// When the group commit's timer is set for (Unix ms), if it is.
    flush_timer_at: std::cell::Cell<Option<u64>>,
    /// What this object was billed for (SQL and key-value rows, alarms,
    /// requests, messages), since it started and today; the debug JSON's
    /// `budget`, and the governor's input.
    meter: Meter,
    /// The accepted sockets, kept until one is accepted or closes:
    /// `getWebSockets()` builds a new array of every socket, and each
    /// broadcast would otherwise call it. Closed sockets still in the list
    /// are skipped by their `readyState`.
    sockets: RefCell<Option<Rc<[WebSocket]>>>,
}

/// The room's sockets as the vault room's outbox: `sender` is the socket the
/// event came from (none on wake).
struct Sockets<'a> {
    host: &'a RoomHost,
    sender: Option<&'a WebSocket>,
}

impl Outbox for Sockets<'_> {
    fn reply(&mut self, frame: &[u8]) {
        if let Some(ws) = self.sender {
            let _ = ws.send_with_bytes(frame);
        }
    }

    /// Through one JavaScript copy: workerd keeps a reference to a sent
    /// buffer until it is on the wire, so sharing it is safe, and
    /// `send_with_bytes` would make one copy per socket (a vault-sized frame
    /// times the number of clients).
    fn broadcast(&mut self, frame: &[u8]) {
        let buffer = js_sys::Uint8Array::from(frame).buffer();
        self.host.each_open_socket(|ws| {
            let socket: &wasm_bindgen::JsValue = ws.as_ref();
            let _ = socket.unchecked_ref::<BufferSocket>().send_buffer(&buffer);
        });
    }

    fn reply_text(&mut self, text: &str) -> std::result::Result<(), String> {
        match self.sender {
            Some(ws) => ws.send_with_str(text).map_err(|e| e.to_string()),
            None => Err("no sender".into()),
        }
    }

    fn broadcast_text(&mut self, text: &str) {
        self.host.each_open_socket(|ws| {
            let _ = ws.send_with_str(text);
        });
    }
    fn sender_open(&self) -> bool {
        self.sender.is_some_and(|ws| ready_state(ws) == Some(SOCKET_OPEN))
    }
}

impl RoomHost {
    pub fn new(state: State, env: Env) -> Self {
        RoomHost {
            state,
            env,
            live: RefCell::new(None),
            loading: RefCell::new(None),
            room_id: RefCell::new(None),
            traces: TraceStore::default(),
            room_meta: RefCell::new(None),
            snapshot_lock: futures::lock::Mutex::new(()),
            manual_snapshots: RefCell::default(),
            compaction_due_since: std::cell::Cell::new(None),
            compaction_alarm_at: std::cell::Cell::new(None),
            flush_timer_at: std::cell::Cell::new(None),
            meter: Meter::default(),
            sockets: RefCell::new(None),
        }
    }

    pub fn kv(&self) -> DoKv {
        DoKv::metered(self.state.storage(), Rc::clone(&self.meter))
    }

    /// The vault id: learned from the Worker's requests and kept in storage,
    /// so a room woken by a hibernated socket still knows it. Storage is read
    /// once per activation and written only when the name is new to it.
    pub async fn learn_room_id(&self, name: Option<String>) {
        if self.room_id.borrow().is_none() {
            if let Ok(Some(KvValue::String(stored))) = self.kv().get(ROOM_NAME_KEY).await {
                *self.room_id.borrow_mut() = Some(stored);
            }
        }
        let Some(name) = name else { return };
        if self.room_id.borrow().as_deref() == Some(name.as_str()) {
            return;
        }
        *self.room_id.borrow_mut() = Some(name.clone());
        if let Err(e) = self.kv().put(ROOM_NAME_KEY, KvValue::String(name)).await {
            console_warn!("room name write failed: {e}");
        }
    }

    pub fn room_id(&self) -> String {
        self.room_id.borrow().clone().unwrap_or_else(|| "unknown".into())
    }

    /// Activates the room once per activation. Concurrent callers share one
    /// attempt; a failed one is forgotten so the next caller retries.
    pub async fn ensure_loaded(self: &Rc<Self>) -> Result<()> {
        if self.live.borrow().is_some() {
            return Ok(());
        }
        let pending = self.loading.borrow().clone();
        let future = match pending {
            Some(future) => future,
            None => {
                let host = Rc::clone(self);
                let future = async move { host.activate().await }.boxed_local().shared();
                *self.loading.borrow_mut() = Some(future.clone());
                future
            }
        };
        let result = future.await;
        self.loading.borrow_mut().take();
        result.map_err(Error::RustError)
    }

    /// A Worker variable's value, if it is set.
    fn setting(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|v| v.to_string())
    }

    async fn activate(self: Rc<Self>) -> std::result::Result<(), String> {
        self.learn_room_id(None).await;
        self.resume_usage().await;
        let mut log = TraceLog::default();
        let sql = DoSql::metered(self.state.storage(), Rc::clone(&self.meter))
            .with_test_fault(self.setting(FAIL_CHUNK_INSERT_VAR).as_deref())
            .with_quota_refusals(self.setting(QUOTA_REFUSALS_VAR).as_deref());
        let activated = VaultRoom::activate(sql, &self.kv(), now_ms, &mut log).await;
        self.write_traces(log).await;
        let mut room = activated.map_err(|e| e.to_string())?;
        let (limits, warnings) =
            RoomLimits::from_vars(|name| self.env.var(name).ok().map(|v| v.to_string()));
        for warning in warnings {
            console_warn!("limit setting: {warning}");
        }
        room.set_limits(limits);
        let (commit, warning) =
            CommitWindow::from_setting(self.setting(COMMIT_WINDOW_VAR).as_deref());
        if let Some(warning) = warning {
            console_warn!("commit window setting: {warning}");
        }
        room.set_commit_window(commit);
        let (governor, warning) =
            Governor::from_setting(self.setting(DAILY_ROW_BUDGET_VAR).as_deref());
        if let Some(warning) = warning {
            console_warn!("daily row budget setting: {warning}");
        }
        room.set_governor(governor);
        if let Some(outcome) = room.compact_at_activation() {
            console_log!("compaction at activation: {outcome:?}");
        }
        // Still due only if that rewrite failed: the alarm retries it.
        let compaction_due = room.compaction_due();
        // Woken with sockets still open: no-op on a fresh activation.
        room.wake(&mut Sockets { host: &self, sender: None });
        *self.live.borrow_mut() = Some(room);
        if compaction_due {
            // A crash came between the frame that made it due and the compaction.
            self.schedule_compaction().await;
        }
        self.sync_room_meta().await;
        Ok(())
    }

    /// Sets the alarm that runs a deferred compaction. The alarm is stored
    /// with the turn's other writes, so it survives a crash after the echo.
    /// Called on every save that finds it due: the alarm waits for quiet, or
    /// for the room to fall idle (`room::compaction_schedule`).
    pub async fn schedule_compaction(&self) {
        let now = now_ms();
        let due_since = self.compaction_due_since.get().unwrap_or(now);
        self.compaction_due_since.set(Some(due_since));
        let urgency = self.live.borrow().as_ref().map_or(Urgency::Soon, |r| r.compaction_urgency());
        let scheduled = self.compaction_alarm_at.get();
        let Some(at) = compaction_alarm(now, due_since, scheduled, urgency) else {
            return;
        };
        self.set_compaction_alarm(at).await;
    }

    async fn set_compaction_alarm(&self, at: u64) {
        let now = now_ms();
        let delay = at.saturating_sub(now) as i64;
        match self.state.storage().set_alarm(delay).await {
            Ok(()) => {
                self.compaction_alarm_at.set(Some(at));
                self.meter.borrow_mut().record_alarm(now);
            }
            Err(e) => console_warn!("could not schedule the deferred compaction: {e}"),
        }
    }

    /// The alarm: the deferred compaction, in a turn of its own (loading the
    /// room first if it was evicted meanwhile), or, when it waits for the
    /// room to fall idle and an edit came too recently, the alarm again.
    pub async fn run_deferred_compaction(self: &Rc<Self>) -> Result<()> {
        self.compaction_alarm_at.set(None);
        let open = self.open_socket_count();
        if let Some(at) = self.with_room(|room| room.compaction_wait(open)).await? {
            self.set_compaction_alarm(at).await;
            return Ok(());
        }
        self.compaction_due_since.set(None);
        let outcome = self.with_room(|room| room.compact_if_due()).await?;
        console_log!("deferred compaction: {outcome:?}");
        Ok(())
    }

    /// Sets the group commit's timer for `at` (a `setTimeout`, not an alarm:
    /// an alarm is a row written, which is what the window saves). A pending
    /// timer also keeps the object from hibernating with updates unwritten;
    /// if the object dies anyway they were never acknowledged, and their
    /// clients send them again on their next sync.
    pub fn schedule_flush(self: &Rc<Self>, at: u64) {
        if self.flush_timer_at.get().is_some_and(|set| set <= at) {
            return;
        }
        self.flush_timer_at.set(Some(at));
        let host = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            let wait = at.saturating_sub(now_ms());
            Delay::from(std::time::Duration::from_millis(wait)).await;
            if host.flush_timer_at.get() != Some(at) {
                return; // superseded by an earlier timer, which flushed
            }
            host.flush_timer_at.set(None);
            let turn =
                host.with_room(|room| room.flush(&mut Sockets { host: &host, sender: None }));
            match turn.await {
                Ok(turn) => {
                    if turn.compaction_due {
                        host.schedule_compaction().await;
                    }
                    if let Some(next) = turn.flush_at {
                        host.schedule_flush(next);
                    }
                    host.store_usage(false).await;
                }
                Err(e) => console_warn!("group commit failed: {e}"),
            }
        });
    }

    /// The day's counts an earlier activation stored, taken over (once per
    /// activation; a value that does not read is ignored).
    async fn resume_usage(&self) {
        let Ok(Some(KvValue::String(text))) = self.kv().get(USAGE_KEY).await else { return };
        match serde_json::from_str::<StoredDay>(&text) {
            Ok(stored) => self.meter.borrow_mut().resume(stored, now_ms()),
            Err(e) => console_warn!("stored usage ignored: {e}"),
        }
    }

    /// Stores the day's counts when they are due (`force`: whenever they
    /// changed), so the next activation of the day goes on from them.
    pub async fn store_usage(&self, force: bool) {
        let now = now_ms();
        let Some(day) = self.meter.borrow().to_store(now, force) else { return };
        let Ok(text) = serde_json::to_string(&day) else { return };
        match self.kv().put(USAGE_KEY, KvValue::String(text)).await {
            Ok(()) => self.meter.borrow_mut().saved(now),
            Err(e) => console_warn!("usage write failed: {e}"),
        }
    }

    /// An incoming WebSocket message, billed as a request.
    pub fn count_message(&self) {
        self.meter.borrow_mut().record_message(now_ms());
    }

    /// An HTTP request or alarm invocation.
    pub fn count_request(&self) {
        self.meter.borrow_mut().record_request(now_ms());
    }

    /// Drops the activated room; the next request or frame activates it
    /// again from storage (after an admin repair changed what it holds).
    pub fn unload(&self) {
        self.live.borrow_mut().take();
    }

    /// Every accepted socket (open or not), from the cache when it is set.
    fn accepted_sockets(&self) -> Rc<[WebSocket]> {
        if let Some(sockets) = self.sockets.borrow().as_ref() {
            return Rc::clone(sockets);
        }
        let sockets: Rc<[WebSocket]> = self.state.get_websockets().into();
        *self.sockets.borrow_mut() = Some(Rc::clone(&sockets));
        sockets
    }

    /// Calls `send` with every accepted socket that is open.
    fn each_open_socket(&self, mut send: impl FnMut(&WebSocket)) {
        for ws in self.accepted_sockets().iter() {
            if ready_state(ws) == Some(SOCKET_OPEN) {
                send(ws);
            }
        }
    }

    /// The accepted sockets still open (a closing one is not).
    pub fn open_socket_count(&self) -> usize {
        let mut open = 0;
        self.each_open_socket(|_| open += 1);
        open
    }

    /// The set of sockets changed (one accepted or closed): the next
    /// broadcast asks the runtime for the list again.
    pub fn forget_sockets(&self) {
        self.sockets.borrow_mut().take();
    }

    /// A new socket: the room's greeting frames and baseline echo.
    pub fn greet(&self, ws: &WebSocket) {
        let attachment: Attachment = ws.deserialize_attachment().ok().flatten().unwrap_or_default();
        if let Some(room) = self.live.borrow_mut().as_mut() {
            room.connect_from(attachment.sender(), &mut Sockets { host: self, sender: Some(ws) });
        }
    }

    /// One binary frame from a client: the vault room's frame turn (its
    /// traces written by `with_room`), then the socket's attachment.
    pub async fn on_binary(self: &Rc<Self>, ws: &WebSocket, frame: Vec<u8>) -> Result<()> {
        let mut attachment: Attachment = ws.deserialize_attachment()?.unwrap_or_default();
        let turn = self
            .with_room(|room| {
                let mut out = Sockets { host: self, sender: Some(ws) };
                let mut held = attachment.held();
                let turn = room.frame_from(attachment.sender(), frame, &mut held, &mut out);
                (attachment.awareness_ids, attachment.awareness_clocks) = (held.ids, held.clocks);
                turn
            })
            .await?;
        if let Some(error) = &turn.error {
            console_warn!("dropped a frame from {}: {error}", attachment.id);
        }
        if turn.awareness_ids_changed {
            ws.serialize_attachment(&attachment)?;
        }
        if turn.compaction_due {
            self.schedule_compaction().await;
        }
        if let Some(at) = turn.flush_at {
            self.schedule_flush(at);
        }
        self.sync_room_meta().await;
        self.store_usage(false).await;
        Ok(())
    }

    /// A snapshot restore (`room_snapshot_notes`): the room writes it and
    /// sends it to every socket; a failed write is retried by the group
    /// commit's timer as for any edit, a due compaction scheduled.
    pub async fn restore(
        self: &Rc<Self>,
        notes: &[Restoring<'_>],
        device: Option<&str>,
    ) -> Result<Result<Vec<Planned>, RestoreRefused>> {
        let result = self
            .with_room(|room| {
                let mut out = Sockets { host: self, sender: None };
                room.restore(notes, device, &mut random_bytes::<FILE_ID_BYTES>, &mut out)
            })
            .await?;
        let (result, flush) = match result {
            Ok(turn) => (Ok(turn.done), Some(turn.flush)),
            Err((refused, turn)) => (Err(refused), turn.map(|t| t.flush)),
        };
        if let Some(flush) = flush {
            if flush.compaction_due {
                self.schedule_compaction().await;
            }
            if let Some(at) = flush.flush_at {
                self.schedule_flush(at);
            }
        }
        self.store_usage(false).await;
        Ok(result)
    }

    /// A socket closed: its awareness states go, and the others are told.
    pub fn on_close(&self, ws: &WebSocket) {
        self.forget_sockets();
        let attachment: Attachment = ws.deserialize_attachment().ok().flatten().unwrap_or_default();
        if let Some(room) = self.live.borrow_mut().as_mut() {
            room.close_from(
                attachment.sender(),
                &attachment.held(),
                &mut Sockets { host: self, sender: None },
            );
        }
    }

    /// Runs `f` on the activated room and writes the traces it recorded.
    pub async fn with_room<R>(
        self: &Rc<Self>,
        f: impl FnOnce(&mut VaultRoom<DoSql>) -> R,
    ) -> Result<R> {
        self.ensure_loaded().await?;
        let (value, log) = {
            let mut live = self.live.borrow_mut();
            let room =
                live.as_mut().ok_or_else(|| Error::RustError("document not loaded".into()))?;
            (f(room), room.take_traces())
        };
        self.write_traces(log).await;
        Ok(value)
    }

    /// Records one trace event through the rate-limited store.
    pub async fn trace(&self, event: &str, data: Value) {
        let data = match data {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        let room_id = self.room_id();
        let result = self
            .traces
            .record(&self.kv(), &room_id, event, &data, now_ms(), random_bytes::<6>)
            .await;
        if let Err(e) = result {
            console_warn!("trace write failed: {e}");
        }
    }

    pub async fn write_traces(&self, mut log: TraceLog) {
        for (event, data) in log.drain() {
            self.trace(&event, data).await;
        }
    }

    /// Brings the in-memory `roomMeta` up to the loaded document's schema.
    /// Returns the new value when it changed (the caller decides whether to
    /// store it), `None` when unchanged or when no document is loaded.
    pub fn refresh_room_meta(&self) -> Option<RoomMeta> {
        let live_schema = self.live.borrow().as_ref()?.schema_version();
        if self.room_meta.borrow().as_ref().map(|m| m.schema_version) == Some(live_schema) {
            return None;
        }
        let meta = RoomMeta::new(live_schema, now_ms());
        *self.room_meta.borrow_mut() = Some(meta.clone());
        Some(meta)
    }

    /// Writes `roomMeta` when the live schema differs from the in-memory copy.
    pub async fn sync_room_meta(&self) {
        if let Some(meta) = self.refresh_room_meta() {
            if let Err(e) = self.kv().put(ROOM_META_KEY, meta.to_kv()).await {
                console_warn!("roomMeta write failed: {e}");
            }
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `WebSocket.send(ArrayBuffer)`, which workers-rs wraps only with a copy.
    type BufferSocket;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_buffer(
        this: &BufferSocket,
        data: &js_sys::ArrayBuffer,
    ) -> std::result::Result<(), wasm_bindgen::JsValue>;
    /// `WebSocket.readyState`, read as a property (no `Reflect` call and no
    /// property-name string per read: it is read for every socket of every
    /// broadcast).
    #[wasm_bindgen(method, getter, js_name = readyState)]
    fn ready_state_value(this: &BufferSocket) -> Option<u16>;
}

/// The socket's `readyState` (1 = OPEN).
fn ready_state(ws: &WebSocket) -> Option<u16> {
    let js: &wasm_bindgen::JsValue = ws.as_ref();
    js.unchecked_ref::<BufferSocket>().ready_state_value()
}
