//! The live state of one vault room inside its Durable Object: the document
//! (loaded once per activation), the persistence coordinator, the sockets'
//! frame handling, traces and SV-echo counters.
//!
//! Every update-bearing frame is applied, broadcast, written to SQL and only
//! then acknowledged with its `postApply` echo, all in one synchronous turn;
//! the output gate holds the echo until the write is durable.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wasm_bindgen::JsCast;
use worker::*;

use crate::persist::{Coordinator, SaveOutcome};
use crate::room::protocol::{Room, UPDATE_OBSERVED_EVENT};
use crate::room::room_meta::{RoomMeta, ROOM_META_KEY};
use crate::room::summary::schema_version;
use crate::room::sv_echo::{try_send_sv_echo, SvEchoCounters, SvEchoKind};
use crate::room::trace_store::TraceStore;
use crate::store::kv::{KvStore, KvValue};
use crate::store::sql_store::SqlDocStore;
use crate::trace::TraceLog;

use super::do_sql::DoSql;
use super::kv::DoKv;
use super::loader::load_room;
use super::runtime::{now_ms, random_bytes};
use crate::store::migrate::StorageStatus;

/// The key under which the room's name (the vault id) is kept, as partyserver did.
const ROOM_NAME_KEY: &str = "__ps_name";
const SOCKET_OPEN: u16 = 1;

/// What each socket carries through hibernation.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    #[serde(rename = "__ypsAwarenessIds", default)]
    pub awareness_ids: Vec<u64>,
}

/// The loaded document and its store.
pub struct Live {
    pub room: Room,
    pub store: SqlDocStore<DoSql>,
}

type LoadFuture = Shared<LocalBoxFuture<'static, std::result::Result<(), String>>>;

pub struct RoomHost {
    pub state: State,
    pub env: Env,
    pub live: RefCell<Option<Live>>,
    loading: RefCell<Option<LoadFuture>>,
    pub room_id: RefCell<Option<String>>,
    pub coordinator: RefCell<Coordinator>,
    pub storage_status: RefCell<StorageStatus>,
    pub sv_echo: RefCell<SvEchoCounters>,
    pub traces: TraceStore,
    /// The in-memory copy of `roomMeta` (spec 11.1); empty after a cold start.
    pub room_meta: RefCell<Option<RoomMeta>>,
    /// Snapshot operations run one at a time per room (spec 10.7).
    pub snapshot_lock: futures::lock::Mutex<()>,
}

impl RoomHost {
    pub fn new(state: State, env: Env) -> Self {
        RoomHost {
            state,
            env,
            live: RefCell::new(None),
            loading: RefCell::new(None),
            room_id: RefCell::new(None),
            coordinator: RefCell::new(Coordinator::default()),
            storage_status: RefCell::new(StorageStatus::default()),
            sv_echo: RefCell::new(SvEchoCounters::default()),
            traces: TraceStore::default(),
            room_meta: RefCell::new(None),
            snapshot_lock: futures::lock::Mutex::new(()),
        }
    }

    pub fn kv(&self) -> DoKv {
        DoKv::new(self.state.storage())
    }

    pub fn is_loaded(&self) -> bool {
        self.live.borrow().is_some()
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

    /// Loads the document once per activation. Concurrent callers share one
    /// load; a failed load is forgotten so the next caller retries.
    pub async fn ensure_loaded(self: &Rc<Self>) -> Result<()> {
        if self.is_loaded() {
            return Ok(());
        }
        let pending = self.loading.borrow().clone();
        let future = match pending {
            Some(future) => future,
            None => {
                let host = Rc::clone(self);
                let future = async move { host.load().await }.boxed_local().shared();
                *self.loading.borrow_mut() = Some(future.clone());
                future
            }
        };
        let result = future.await;
        self.loading.borrow_mut().take();
        result.map_err(Error::RustError)
    }

    async fn load(self: Rc<Self>) -> std::result::Result<(), String> {
        self.learn_room_id(None).await;
        let mut log = TraceLog::default();
        let loaded = load_room(&self.state, &self.kv(), &mut log).await;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                self.write_traces(log).await;
                return Err(e);
            }
        };
        {
            let mut coordinator = self.coordinator.borrow_mut();
            coordinator.on_loaded(loaded.live.room.doc(), loaded.journal);
            coordinator.set_policy(loaded.policy);
            if loaded.read_only {
                coordinator.enter_read_only();
            }
            coordinator.set_legacy_document_migrated(loaded.legacy_document_migrated);
        }
        *self.storage_status.borrow_mut() = loaded.status;
        let step1 = loaded.live.room.sync_step1();
        *self.live.borrow_mut() = Some(loaded.live);
        // Woken with sockets still open (spec 8.7): ask every client for
        // whatever the freshly loaded document lacks.
        for ws in self.state.get_websockets() {
            let _ = ws.send_with_bytes(&step1);
        }
        self.write_traces(log).await;
        self.sync_room_meta().await;
        Ok(())
    }

    /// Sends `frame` to every open socket of the room, through one JavaScript
    /// copy: workerd keeps a reference to a sent buffer until it is on the
    /// wire, so sharing it is safe, and `send_with_bytes` would make one copy
    /// per socket (a vault-sized frame times the number of clients).
    pub fn broadcast(&self, frame: &[u8]) {
        let buffer = js_sys::Uint8Array::from(frame).buffer();
        for ws in self.state.get_websockets() {
            let socket: &wasm_bindgen::JsValue = ws.as_ref();
            let _ = socket.unchecked_ref::<BufferSocket>().send_buffer(&buffer);
        }
    }

    /// A new socket: Step1, awareness if any, then the baseline echo.
    pub fn greet(&self, ws: &WebSocket) {
        let live = self.live.borrow();
        let Some(live) = live.as_ref() else { return };
        for frame in live.room.on_connect() {
            let _ = ws.send_with_bytes(&frame);
        }
        self.send_echo(ws, &live.room.state_vector(), SvEchoKind::Baseline);
    }

    fn send_echo(&self, ws: &WebSocket, sv: &[u8], kind: SvEchoKind) {
        let result = try_send_sv_echo(ready_state(ws) == Some(SOCKET_OPEN), sv, kind, |frame| {
            ws.send_with_str(frame)
        });
        self.sv_echo.borrow_mut().record(&result);
    }

    /// One binary frame from a client. Large frames are freed as soon as they
    /// are used (the incoming bytes after decoding, outgoing frames after
    /// sending), before the save encodes anything: wasm memory never shrinks,
    /// so overlapping full-size buffers would set the isolate's high-water mark.
    pub async fn on_binary(self: &Rc<Self>, ws: &WebSocket, frame: Vec<u8>) -> Result<()> {
        self.ensure_loaded().await?;
        let mut log = TraceLog::default();
        let mut attachment: Attachment = ws.deserialize_attachment()?.unwrap_or_default();
        let frame_len = frame.len();
        let echo_sv = {
            let mut live = self.live.borrow_mut();
            let Some(live) = live.as_mut() else { return Ok(()) };
            // The room frees the frame once it is decoded.
            let mut effects = live.room.on_frame(&attachment.id, frame);
            if let Some(error) = &effects.error {
                console_warn!("dropped a frame from {}: {error}", attachment.id);
            }
            if let Some(reply) = effects.reply.take() {
                let _ = ws.send_with_bytes(&reply);
            }
            for out in effects.broadcast.drain(..) {
                self.broadcast(&out);
            }
            let mut coordinator = self.coordinator.borrow_mut();
            for update in live.room.take_doc_updates() {
                coordinator.record_update(update);
            }
            if let Some(data) = effects.update_observed_trace(frame_len) {
                log.events.push((UPDATE_OBSERVED_EVENT.to_owned(), data));
            }
            if !effects.awareness_ids.is_empty() {
                effects.awareness_ids.apply_to(&mut attachment.awareness_ids);
                ws.serialize_attachment(&attachment)?;
            }
            // Durable before acknowledged: the echo is sent only after the
            // save, and not at all when the save failed or the room is a
            // read-only fallback (spec 10.2).
            if effects.update_bearing && !coordinator.is_read_only() {
                let outcome = coordinator.save(&live.store, live.room.doc(), now_ms(), &mut log);
                (!matches!(outcome, SaveOutcome::Failed(_))).then(|| live.room.state_vector())
            } else {
                None
            }
        };
        if let Some(sv) = echo_sv {
            self.send_echo(ws, &sv, SvEchoKind::PostApply);
        }
        self.write_traces(log).await;
        self.sync_room_meta().await;
        Ok(())
    }

    /// A socket closed: drop its awareness states and tell the others.
    pub fn on_close(&self, ws: &WebSocket) {
        let attachment: Attachment = ws.deserialize_attachment().ok().flatten().unwrap_or_default();
        let frame = {
            let mut live = self.live.borrow_mut();
            live.as_mut().and_then(|live| live.room.on_close(&attachment.awareness_ids))
        };
        if let Some(frame) = frame {
            for other in self.state.get_websockets() {
                if ready_state(&other) == Some(SOCKET_OPEN) {
                    let _ = other.send_with_bytes(&frame);
                }
            }
        }
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
        let live_schema = schema_version(self.live.borrow().as_ref()?.room.doc());
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
}

/// The socket's `readyState` (1 = OPEN).
fn ready_state(ws: &WebSocket) -> Option<u16> {
    let js: &wasm_bindgen::JsValue = ws.as_ref();
    js_sys::Reflect::get(js, &"readyState".into()).ok()?.as_f64().map(|n| n as u16)
}
