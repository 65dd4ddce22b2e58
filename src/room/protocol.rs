//! One vault room's binary WebSocket protocol (spec 8.2 to 8.4, 8.7) over
//! `yrs::sync`, with y-partyserver 2.1.2 semantics.
//!
//! [`Room`] owns the document and the awareness instance and turns each event
//! (connect, incoming binary frame, close) into frames for the shell to send.
//! It does no I/O and knows nothing about persistence: document updates it
//! produces are queued for [`Room::take_doc_updates`], which the shell hands to
//! the persistence coordinator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use yrs::encoding::read::{self, Cursor, Read};
use yrs::encoding::write::Write;
use yrs::error::UpdateError;
use yrs::sync::awareness::{self, AwarenessUpdateEntry};
use yrs::sync::protocol::{
    MSG_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2, MSG_SYNC_UPDATE,
};
use yrs::sync::{Awareness, AwarenessUpdate, Clock, Message, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{
    ClientID, Doc, ReadTxn, StateVector, Transact, TransactionAcqError, TransactionMut, Update,
};

use super::limits::{FrameKind, FullSyncBudget, LimitExceeded};
use crate::encode;
use crate::wire_check::{self, DecodeError, WireError};

/// The trace event the shell records for every update-bearing frame (spec 11.2).
pub const UPDATE_OBSERVED_EVENT: &str = "server.ydoc.update_observed";

/// Key under which the room's update observer is registered on the document.
const OBSERVER_KEY: &str = "yaos-room";

// yrs's message tags as the varuints frames carry.
const SYNC: u64 = MSG_SYNC as u64;
const AWARENESS: u64 = MSG_AWARENESS as u64;
pub(crate) const SYNC_STEP_2: u64 = MSG_SYNC_STEP_2 as u64;
pub(crate) const SYNC_UPDATE: u64 = MSG_SYNC_UPDATE as u64;

/// Awareness client IDs one connection may hold states for. A plugin holds
/// one (its document's client ID, kept across reconnects); the rest is room
/// for other y-protocols clients sharing a socket.
pub const MAX_AWARENESS_STATES_PER_CONNECTION: usize = 8;
/// The largest awareness state (its JSON text). The plugin's (user name,
/// colour, editor cursor) takes a few hundred bytes.
pub const MAX_AWARENESS_STATE_BYTES: usize = 16 * 1024;
/// All awareness states of a room together, as every new connection is sent
/// all of them.
pub const MAX_AWARENESS_ROOM_BYTES: usize = 1024 * 1024;

/// Awareness records a room keeps before dropping the null ones. yrs keeps a
/// record (clock, timestamp, state) for every client ID an awareness frame
/// names, a removal (`null`) of a client it never saw included, and no state
/// limit counts those; every later awareness frame walks them all. Past this
/// many, the room's awareness is rebuilt from its live states (bounded by the
/// limits above), dropping the null ones. A null record only keeps an older
/// state of a departed client from coming back; a client's own clock moves on.
pub const MAX_AWARENESS_RECORDS: usize = 1024;

/// Awareness client IDs are 53-bit (JavaScript-safe); yrs asserts this.
const MAX_CLIENT_ID: u64 = crate::safe_int::MAX_SAFE_INTEGER;

/// Why an incoming frame was (partly) rejected. The shell logs it; the socket
/// stays open, as in the TypeScript server.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Refused by the structural check before yrs saw it (see
    /// [`crate::wire_check`]): nothing was applied.
    #[error("refused frame: {0}")]
    Invalid(#[from] WireError),
    #[error("undecodable frame: {0}")]
    Decode(#[from] read::Error),
    #[error("update failed to apply: {0}")]
    Apply(#[from] UpdateError),
    #[error("document busy: {0}")]
    Busy(#[from] TransactionAcqError),
    #[error("awareness update rejected: {0}")]
    Awareness(#[from] awareness::Error),
    /// y-protocols parses every state with `JSON.parse`; forwarding a state it
    /// would choke on could break other clients' providers.
    #[error("awareness state of client {0} is not valid JSON")]
    AwarenessJson(u64),
    /// Over one of the limits of [`super::limits`] (or the awareness ones
    /// here): nothing of the frame was applied or forwarded, and the sender
    /// is told why.
    #[error("limit exceeded: {0}")]
    Limit(#[from] LimitExceeded),
}

/// Awareness client IDs an incoming awareness frame added, updated or
/// removed. The shell folds them into the socket attachment's
/// `__ypsAwarenessIds` so the set survives hibernation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AwarenessIdChange {
    pub added: Vec<u64>,
    pub updated: Vec<u64>,
    pub removed: Vec<u64>,
    /// The clock of each added or updated state, as the frame carried it.
    pub clocks: Vec<(u64, u32)>,
}

/// The awareness states one connection holds: the IDs (y-partyserver's
/// `__ypsAwarenessIds`) and their last clocks, both kept in the socket's
/// attachment. After hibernation the woken room has lost the states; the
/// clocks let it still remove them when the socket closes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldAwareness {
    pub ids: Vec<u64>,
    pub clocks: Vec<(u64, u32)>,
}

impl HeldAwareness {
    /// Folds one frame's change in (see [`AwarenessIdChange::apply_to`]).
    pub fn apply(&mut self, change: &AwarenessIdChange) {
        change.apply_to(&mut self.ids);
        for &(id, clock) in &change.clocks {
            match self.clocks.iter_mut().find(|(held, _)| *held == id) {
                Some(slot) => slot.1 = clock,
                None => self.clocks.push((id, clock)),
            }
        }
        self.clocks.retain(|(id, _)| self.ids.contains(id));
    }

    fn clock_of(&self, id: u64) -> Option<u32> {
        self.clocks.iter().find(|(held, _)| *held == id).map(|&(_, clock)| clock)
    }
}

impl AwarenessIdChange {
    /// True when the connection's ID set and clocks are unaffected.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }

    /// Applies the change to a connection's ID list, keeping it a set in
    /// insertion order as the JavaScript `Set` did.
    ///
    /// Unlike y-partyserver, updated IDs join the set too: a plugin that
    /// reconnects keeps its client ID, and its state then arrives as an
    /// update of the state removed at the old socket's close. Tracking only
    /// additions would leave that state behind when the new socket closes.
    pub fn apply_to(&self, ids: &mut Vec<u64>) {
        for id in self.added.iter().chain(&self.updated) {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        ids.retain(|id| !self.removed.contains(id));
    }
}

/// What the shell must do after one incoming binary frame, in this order:
/// send `reply` to the sender, send each `broadcast` frame to every open
/// connection (the sender included) and drop it, persist
/// [`Room::take_doc_updates`], then if `update_bearing` send the postApply SV
/// echo and record the trace.
#[derive(Debug, Default)]
pub struct FrameEffects {
    /// A SyncStep2 answering the sender's SyncStep1.
    pub reply: Option<Vec<u8>>,
    /// Document updates (`[0,2,update]`) or the forwarded awareness frame.
    /// An update frame shares its bytes with the room's queue of updates to
    /// persist: dropped before [`Room::take_doc_updates`], it is handed on
    /// without a copy.
    pub broadcast: Vec<Arc<Vec<u8>>>,
    /// Outer type 0 with inner type 1 or 2, whether or not the payload
    /// decoded: the TypeScript server classifies before decoding.
    pub update_bearing: bool,
    /// The state vector moved. Like the TypeScript server this compares state
    /// vectors, so a deletion-only update broadcasts but reports false.
    pub doc_changed: bool,
    pub awareness_ids: AwarenessIdChange,
    pub error: Option<FrameError>,
}

impl FrameEffects {
    fn failed(error: FrameError) -> Self {
        FrameEffects { error: Some(error), ..Self::default() }
    }
}

/// True for a sync frame whose inner message may carry document state
/// (SyncStep2 or Update): the frames that get a postApply SV echo.
pub fn is_update_bearing(frame: &[u8]) -> bool {
    let mut decoder = DecoderV1::new(Cursor::new(frame));
    let outer = decoder.read_var::<u64>();
    let inner = decoder.read_var::<u64>();
    matches!((outer, inner), (Ok(SYNC), Ok(SYNC_STEP_2 | SYNC_UPDATE)))
}

/// The vault's document and awareness, and the updates the document emitted
/// that the persistence coordinator has not taken yet.
///
/// Each update is kept as the `[0,2,update]` frame that broadcasts it, shared
/// with [`FrameEffects::broadcast`]: a vault-sized update then exists once,
/// not once for the broadcast and once for persistence.
pub struct Room {
    awareness: Awareness,
    /// The awareness clock, kept to rebuild the awareness without its null
    /// records ([`MAX_AWARENESS_RECORDS`]).
    awareness_clock: Arc<dyn Clock>,
    /// Filled by the document's observer, in commit order. `Arc` and
    /// `Mutex` because yrs's `sync` feature would demand `Send + Sync`.
    emitted: UpdateQueue,
    /// Full-state SyncStep1 answers per connection, when limited.
    full_sync: Option<FullSyncGate>,
}

/// The full-sync limit of a room: a per-connection budget, its size and the
/// clock it is measured by.
struct FullSyncGate {
    budget: FullSyncBudget,
    per_window: u32,
    now_ms: fn() -> u64,
}

impl Room {
    /// A room over an empty document. `clock` gives Unix ms for awareness
    /// bookkeeping (`Awareness::new` is unavailable on wasm32).
    pub fn new<C: Clock + 'static>(clock: C) -> Self {
        Self::from_doc(Doc::new(), clock)
    }

    /// A room over a document already loaded from storage. Subscribing only
    /// now keeps the load from being broadcast or persisted again (spec 8.7).
    ///
    /// # Panics
    /// If the caller holds a transaction on `doc`.
    pub fn from_doc<C: Clock + 'static>(doc: Doc, clock: C) -> Self {
        let emitted: UpdateQueue = Arc::default();
        let sink = Arc::clone(&emitted);
        // What `observe_update_v1` would deliver, under the same condition,
        // but encoded into an exactly sized buffer (with room for the frame
        // header): yrs's event buffer, grown by doubling, plus the copy an
        // observer must take would hold a vault-sized update two to three
        // times over (see `crate::encode`).
        doc.observe_transaction_cleanup(OBSERVER_KEY, move |txn, _| {
            if !txn.delete_set().is_empty() || txn.after_state() != txn.before_state() {
                let update = encode::transaction_update_v1(txn, MAX_FRAME_HEADER);
                lock(&sink).push(Arc::new(sync_frame(SYNC_UPDATE, update)));
            }
        })
        .expect("no transaction may be open on a document handed to a room");
        let awareness_clock: Arc<dyn Clock> = Arc::new(clock);
        let awareness = Awareness::with_clock(doc, clock_fn(&awareness_clock));
        Room { awareness, awareness_clock, emitted, full_sync: None }
    }

    /// Rebuilds the awareness from its live states once it holds more than
    /// [`MAX_AWARENESS_RECORDS`] records: yrs offers no way to drop one.
    fn bound_awareness_records(&mut self) {
        if self.awareness.iter().count() <= MAX_AWARENESS_RECORDS {
            return;
        }
        let doc = self.awareness.doc().clone();
        let mut fresh = Awareness::with_clock(doc, clock_fn(&self.awareness_clock));
        // The live states with their clocks. Neither step fails here (every
        // ID listed is known; applying to an empty awareness only inserts);
        // if one did, the states would come back with each client's next
        // frame, as after a hibernation.
        if let Ok(live) = self.awareness.update() {
            let _ = fresh.apply_update(live);
        }
        self.awareness = fresh;
    }

    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    /// Limits the SyncStep1 answers that carry document state to `per_window`
    /// per connection per [`super::limits::FULL_SYNC_WINDOW_MS`]. Unlimited
    /// until called.
    pub fn limit_full_syncs(&mut self, per_window: u32, now_ms: fn() -> u64) {
        let budget = self.full_sync.take().map(|g| g.budget).unwrap_or_default();
        self.full_sync = Some(FullSyncGate { budget, per_window, now_ms });
    }

    /// Takes one full-state answer from `socket`'s budget, or refuses when
    /// it is used up (always passes while unlimited). Keyed by socket, not
    /// by `_pk`: see [`FullSyncBudget`].
    pub fn charge_full_sync(&mut self, socket: &str) -> Result<(), LimitExceeded> {
        match &mut self.full_sync {
            Some(gate) => gate.budget.take(socket, (gate.now_ms)(), gate.per_window),
            None => Ok(()),
        }
    }

    /// Whether `frame` is a SyncStep1 from a client holding nothing of this
    /// document: its state vector names none of the document's clients with
    /// a clock above zero, so the answer is the whole document, whatever
    /// else the client holds. An empty document has no fresh requests (its
    /// answer is empty either way).
    pub fn is_fresh_sync_request(&self, frame: &[u8]) -> bool {
        if FrameKind::of(frame) != FrameKind::SyncStep1 || wire_check::check_frame(frame).is_err() {
            return false;
        }
        let mut decoder = DecoderV1::new(Cursor::new(frame));
        let (Ok(SYNC), Ok(DecodedSync::Step1(client_sv))) =
            (decoder.read_var::<u64>(), decode_sync(&mut decoder))
        else {
            return false;
        };
        let doc_sv = self.doc().transact().state_vector();
        !doc_sv.is_empty() && doc_sv.iter().all(|(client, _)| client_sv.get(client) == 0)
    }

    /// A socket closed: its full-sync budget goes with it.
    pub fn forget_connection(&mut self, socket: &str) {
        if let Some(gate) = &mut self.full_sync {
            gate.budget.forget(socket);
        }
    }

    /// Clients whose awareness state is held (not null).
    pub fn awareness_client_count(&self) -> usize {
        self.awareness.iter().filter(|(_, state)| state.data.is_some()).count()
    }

    pub fn awareness(&self) -> &Awareness {
        &self.awareness
    }

    /// Applies stored state without broadcasting or persisting it (loading
    /// after the room exists, e.g. a retry after a failed load).
    pub fn load_update(&mut self, update: &[u8]) -> Result<(), FrameError> {
        let start = lock(&self.emitted).len();
        let result = self.apply_update(update, "yaos-load");
        lock(&self.emitted).truncate(start);
        result
    }

    /// The encoded state vector (`Y.encodeStateVector`).
    pub fn state_vector(&self) -> Vec<u8> {
        self.doc().transact().state_vector().encode_v1()
    }

    /// The full state as a v1 update (`Y.encodeStateAsUpdate`).
    pub fn full_update(&self) -> Vec<u8> {
        encode::state_as_update_v1(&self.doc().transact(), &StateVector::default(), 0)
    }

    /// A SyncStep2 frame with the full state.
    pub fn full_state_step2(&self) -> Vec<u8> {
        let txn = self.doc().transact();
        let update = encode::state_as_update_v1(&txn, &StateVector::default(), MAX_FRAME_HEADER);
        sync_frame(SYNC_STEP_2, update)
    }

    /// A SyncStep1 carrying the server's state vector: the first connect frame,
    /// and the frame sent to every open socket after waking (spec 8.7).
    pub fn sync_step1(&self) -> Vec<u8> {
        let sv = self.doc().transact().state_vector();
        Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1()
    }

    /// Frames for a new connection (spec 8.3): SyncStep1, then an awareness
    /// frame covering every known client if any remote state is held.
    pub fn on_connect(&self) -> Vec<Vec<u8>> {
        let mut frames = vec![self.sync_step1()];
        if let Ok(update) = self.awareness.update() {
            if !update.clients.is_empty() {
                frames.push(Message::Awareness(update).encode_v1());
            }
        }
        frames
    }

    /// Handles one binary frame from the connection identified by `origin`
    /// (its connection ID, used as the transaction origin). Never panics on
    /// malformed input; types other than sync and awareness are ignored.
    ///
    /// Takes the frame by value: a sync message is decoded out of it and the
    /// frame freed before the update is applied, so a vault-sized Step2 is not
    /// held while the document grows (wasm memory never shrinks).
    pub fn on_frame(&mut self, origin: &str, frame: Vec<u8>) -> FrameEffects {
        self.on_frame_from(origin, origin, frame, &[])
    }

    /// [`Room::on_frame`] for a connection that already holds the awareness
    /// states of `owned` (its attachment's `__ypsAwarenessIds`), which count
    /// against [`MAX_AWARENESS_STATES_PER_CONNECTION`]. Full-state answers
    /// are charged to `socket`, the key of the socket the frame came on.
    pub fn on_frame_from(
        &mut self,
        origin: &str,
        socket: &str,
        frame: Vec<u8>,
        owned: &[u64],
    ) -> FrameEffects {
        let update_bearing = is_update_bearing(&frame);
        // Every read yrs makes below is in bounds and bounded in depth, and
        // no struct of an update lands beyond the document's clocks. The
        // state vector is taken once, for update frames only (awareness
        // frames, the most frequent, need none), and kept as the "before".
        let sv_before = update_bearing.then(|| self.doc().transact().state_vector());
        let checked = match &sv_before {
            Some(_) => wire_check::check_frame_for(&frame, &self.doc().transact()),
            None => wire_check::check_frame(&frame),
        };
        if let Err(error) = checked {
            return FrameEffects {
                update_bearing,
                error: Some(error.into()),
                ..FrameEffects::default()
            };
        }
        let mut decoder = DecoderV1::new(Cursor::new(&frame));
        match decoder.read_var::<u64>() {
            Err(e) => FrameEffects::failed(e.into()),
            Ok(SYNC) => {
                let message = decode_sync(&mut decoder);
                drop(frame);
                self.on_sync(origin, socket, message, sv_before)
            }
            Ok(AWARENESS) => self.on_awareness(origin, &mut decoder, owned),
            Ok(_) => FrameEffects::default(),
        }
    }

    /// Removes the awareness states a closing connection controlled. Returns
    /// the frame for the remaining connections (each removed client with its
    /// last clock and a null state), or `None` if none of them was present.
    /// A state this room never saw (lost to hibernation) is removed at the
    /// clock the connection's attachment kept for it.
    pub fn on_close(&mut self, held: &HeldAwareness) -> Option<Vec<u8>> {
        let mut clients = HashMap::new();
        for &id in held.ids.iter().filter(|&&id| id <= MAX_CLIENT_ID) {
            let client = ClientID::new(id);
            let clock = match self.awareness.update_with_clients([client]) {
                Ok(current) => match current.clients.get(&client) {
                    Some(entry) if &*entry.json != "null" => entry.clock,
                    _ => continue,
                },
                // Unknown here: the state was lost to hibernation.
                Err(_) => match held.clock_of(id) {
                    Some(clock) => clock,
                    None => continue,
                },
            };
            clients.insert(client, AwarenessUpdateEntry { clock, json: "null".into() });
        }
        if clients.is_empty() {
            return None;
        }
        let update = AwarenessUpdate { clients };
        // Same clock with a null state removes a present state.
        let applied = self.awareness.apply_update(update.clone());
        self.bound_awareness_records();
        applied.ok()?;
        Some(Message::Awareness(update).encode_v1())
    }

    /// A change the server itself makes (a restore): `edit` runs in one
    /// transaction of the document. Returns its value and the frames that
    /// carry the change to every connection; the update is also queued for
    /// [`Room::take_doc_updates`], like a client's.
    pub fn local_edit<R>(
        &mut self,
        edit: impl FnOnce(&mut TransactionMut<'_>) -> R,
    ) -> (R, Vec<Arc<Vec<u8>>>) {
        let start = lock(&self.emitted).len();
        let value = edit(&mut self.doc().transact_mut());
        let frames = lock(&self.emitted)[start..].to_vec();
        (value, frames)
    }

    /// Takes the v1 updates the document emitted since the last call, for the
    /// persistence coordinator. Call after every frame so the queue stays short.
    ///
    /// Each update reuses its frame's buffer unless a broadcast frame sharing
    /// it is still alive, in which case it is copied.
    pub fn take_doc_updates(&mut self) -> Vec<Vec<u8>> {
        let frames = std::mem::take(&mut *lock(&self.emitted));
        frames.into_iter().map(update_of_frame).collect()
    }

    fn on_sync(
        &mut self,
        origin: &str,
        socket: &str,
        message: Result<DecodedSync, read::Error>,
        sv_before: Option<StateVector>,
    ) -> FrameEffects {
        let update_bearing = sv_before.is_some();
        let mut effects = FrameEffects { update_bearing, ..FrameEffects::default() };
        match message {
            Err(e) => effects.error = Some(e.into()),
            Ok(DecodedSync::Step1(client_sv)) => {
                let doc_sv = self.doc().transact().state_vector();
                if !encode::covers(&client_sv, &doc_sv) {
                    if let Err(over) = self.charge_full_sync(socket) {
                        effects.error = Some(over.into());
                        return effects;
                    }
                }
                let txn = self.awareness.doc().transact();
                let update = encode::state_as_update_v1(&txn, &client_sv, MAX_FRAME_HEADER);
                effects.reply = Some(sync_frame(SYNC_STEP_2, update));
            }
            Ok(DecodedSync::Update(update)) => {
                let start = lock(&self.emitted).len();
                effects.error = self.apply_decoded(update, origin).err();
                // Even a failed apply may have integrated part of the update.
                effects.broadcast = lock(&self.emitted)[start..].to_vec();
            }
        }
        if let Some(before) = sv_before {
            effects.doc_changed = before != self.doc().transact().state_vector();
        }
        effects
    }

    fn apply_update(&mut self, update: &[u8], origin: &str) -> Result<(), FrameError> {
        // Decoding first means an undecodable update never touches the doc.
        let update = wire_check::decode_update_for(update, &self.doc().transact());
        let update = update.map_err(|e| match e {
            DecodeError::Invalid(e) => FrameError::Invalid(e),
            DecodeError::Decode(e) => FrameError::Decode(e),
        })?;
        self.apply_decoded(update, origin)
    }

    fn apply_decoded(&mut self, update: Update, origin: &str) -> Result<(), FrameError> {
        let mut txn = self.doc().try_transact_mut_with(origin)?;
        txn.apply_update(update)?;
        Ok(())
    }

    fn on_awareness(
        &mut self,
        origin: &str,
        decoder: &mut DecoderV1,
        owned: &[u64],
    ) -> FrameEffects {
        match self.apply_awareness(origin, decoder, owned) {
            Ok((raw_frame, awareness_ids)) => {
                let broadcast = vec![Arc::new(raw_frame)];
                FrameEffects { broadcast, awareness_ids, ..FrameEffects::default() }
            }
            Err(e) => FrameEffects::failed(e),
        }
    }

    /// The awareness limits, checked before anything of `update` is applied:
    /// states per connection, bytes per state, bytes in the whole room.
    fn check_awareness_limits(
        &self,
        update: &AwarenessUpdate,
        owned: &[u64],
    ) -> Result<(), FrameError> {
        let mut held: Vec<u64> = owned.to_vec();
        for (client, entry) in &update.clients {
            if entry.json.len() > MAX_AWARENESS_STATE_BYTES {
                return Err(FrameError::Limit(LimitExceeded::Awareness("state too large")));
            }
            if &*entry.json != "null" && !held.contains(&client.get()) {
                held.push(client.get());
            }
        }
        if held.len() > MAX_AWARENESS_STATES_PER_CONNECTION {
            return Err(FrameError::Limit(LimitExceeded::Awareness(
                "too many states for one connection",
            )));
        }
        let mut total = 0usize;
        for (client, state) in self.awareness.iter() {
            if !update.clients.contains_key(&client) {
                total += state.data.as_ref().map_or(0, |d| d.len());
            }
        }
        total += update.clients.values().map(|e| e.json.len()).sum::<usize>();
        if total > MAX_AWARENESS_ROOM_BYTES {
            return Err(FrameError::Limit(LimitExceeded::Awareness(
                "the room holds too much awareness state",
            )));
        }
        Ok(())
    }

    /// Applies an awareness update and returns the frame forwarding its raw
    /// bytes, plus the client IDs it added, updated or removed.
    fn apply_awareness(
        &mut self,
        origin: &str,
        decoder: &mut DecoderV1,
        owned: &[u64],
    ) -> Result<(Vec<u8>, AwarenessIdChange), FrameError> {
        let raw = decoder.read_buf()?;
        let update = AwarenessUpdate::decode_v1(raw)?;
        for (client, entry) in &update.clients {
            if serde_json::from_str::<serde::de::IgnoredAny>(&entry.json).is_err() {
                return Err(FrameError::AwarenessJson(client.get()));
            }
        }
        self.check_awareness_limits(&update, owned)?;
        let clocks: Vec<(u64, u32)> =
            update.clients.iter().map(|(client, entry)| (client.get(), entry.clock)).collect();
        let summary = self.awareness.apply_update_summary_with(update, origin);
        self.bound_awareness_records();
        let summary = summary?;
        let ids = summary
            .map(|s| {
                let added: Vec<u64> = s.added.iter().map(ClientID::get).collect();
                let updated: Vec<u64> = s.updated.iter().map(ClientID::get).collect();
                let clocks = clocks
                    .into_iter()
                    .filter(|(id, _)| added.contains(id) || updated.contains(id))
                    .collect();
                let removed = s.removed.iter().map(ClientID::get).collect();
                AwarenessIdChange { added, updated, removed, clocks }
            })
            .unwrap_or_default();
        let mut encoder = EncoderV1::new();
        encoder.write_var(MSG_AWARENESS);
        encoder.write_buf(raw);
        Ok((encoder.to_vec(), ids))
    }
}

/// A clock closure over a shared clock, as `Awareness::with_clock` takes one.
fn clock_fn(clock: &Arc<dyn Clock>) -> impl Fn() -> yrs::sync::time::Timestamp + Send + Sync {
    let clock = Arc::clone(clock);
    move || clock.now()
}

/// A sync message decoded out of its frame: it owns everything it needs, so
/// the frame can be freed before the message is acted on.
enum DecodedSync {
    Step1(StateVector),
    /// SyncStep2 or Update: both are applied the same way. Decoded here, so
    /// an undecodable update never touches the document.
    Update(Update),
}

/// Decodes the inner sync message as `SyncMessage::decode` would, but reads
/// the update straight out of the frame instead of copying it first.
fn decode_sync(decoder: &mut DecoderV1) -> Result<DecodedSync, read::Error> {
    match decoder.read_var::<u8>()? {
        MSG_SYNC_STEP_1 => Ok(DecodedSync::Step1(StateVector::decode_v1(decoder.read_buf()?)?)),
        MSG_SYNC_STEP_2 | MSG_SYNC_UPDATE => {
            Ok(DecodedSync::Update(Update::decode_v1(decoder.read_buf()?)?))
        }
        _ => Err(read::Error::UnexpectedValue),
    }
}

/// The room's `[0,2,update]` frames not yet taken for persistence.
type UpdateQueue = Arc<Mutex<Vec<Arc<Vec<u8>>>>>;

/// Longest `[0, inner, length]` header: two one-byte tags and a u64 varuint.
const MAX_FRAME_HEADER: usize = 12;

/// The update a `[0, 2, update]` frame of the room's queue carries: the
/// frame's own buffer with the header removed in place when no one else holds
/// the frame, otherwise a copy.
fn update_of_frame(frame: Arc<Vec<u8>>) -> Vec<u8> {
    let header_len = {
        let mut decoder = DecoderV1::new(Cursor::new(&frame));
        let payload = (decoder.read_var::<u64>(), decoder.read_var::<u64>(), decoder.read_buf());
        let (Ok(SYNC), Ok(SYNC_UPDATE), Ok(payload)) = payload else {
            unreachable!("the room queues only the update frames it built")
        };
        frame.len() - payload.len()
    };
    match Arc::try_unwrap(frame) {
        Ok(mut bytes) => {
            bytes.drain(..header_len);
            bytes
        }
        Err(shared) => shared[header_len..].to_vec(),
    }
}

/// `[0, inner, varUint8Array(payload)]`, built by prepending the header in
/// place (without a reallocation when `payload` has [`MAX_FRAME_HEADER`]
/// bytes to spare): encoding through `Message` would copy a full-state
/// payload into a second buffer of the same size.
pub(crate) fn sync_frame(inner: u64, mut payload: Vec<u8>) -> Vec<u8> {
    let mut header = Vec::with_capacity(MAX_FRAME_HEADER);
    header.write_var(SYNC);
    header.write_var(inner);
    header.write_var(payload.len() as u64);
    payload.reserve_exact(header.len());
    payload.splice(0..0, header);
    payload
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
