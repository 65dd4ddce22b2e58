//! The device ledger: for each device that syncs the vault, when it was
//! last seen, when it last sent an edit and when the server acknowledged
//! it (stored it), when it last completed a sync and the server's state
//! vector then, so the status page can say whether a device that is not
//! connected holds everything the server holds.
//!
//! Which device a socket is, from what the unmodified plugin sends (see
//! `engineering/design.md`, "The device ledger"): the socket URL's `device`
//! parameter when present (the plugin adds it only with its debug tracing
//! on); else the `user.name` of the socket's awareness state, which the
//! plugin sets to its device name as soon as a note is open in an editor;
//! until then the socket is an unnamed device of its own (keyed by its
//! connection ID, new at every app start), merged into the named one once
//! the name arrives. Two devices given the same name share one entry, and
//! any client holding the token may claim any name.
//!
//! Bounded: at most [`MAX_LEDGER_DEVICES`] entries, the unnamed and then
//! the longest unseen evicted first. The ledger never delays an edit: it is
//! updated after the acknowledgement, in memory, and a device's row is
//! written when its socket connects, is named or closes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::StateVector;

use super::change_log::Position;
use crate::diagnostics::timefmt::iso_from_ms;
use crate::encode::covers;

/// The most devices the ledger keeps.
pub const MAX_LEDGER_DEVICES: usize = 64;
/// Connection IDs remembered with the device name they turned out to have,
/// so a socket that reconnects (the plugin keeps its connection ID for the
/// app's session) is named at once: its awareness state may be ignored as
/// outdated until its next renewal. Forgotten all at once past this many.
pub const MAX_KNOWN_CONNECTIONS: usize = 256;
/// The key prefix of a device known only by its connection ID.
const UNNAMED_PREFIX: &str = "unnamed:";

/// What the ledger keeps of one device (stored as JSON, one row a device).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceRecord {
    pub first_seen_at: u64,
    pub last_seen_at: u64,
    pub last_push_at: Option<u64>,
    pub last_ack_at: Option<u64>,
    pub last_sync_at: Option<u64>,
    /// The server's state vector (v1) as of the device's last completed
    /// sync: what it had fetched.
    pub synced_sv: Option<Vec<u8>>,
    /// It disconnected with edits the server had not yet stored.
    pub unacked_at_close: bool,
    /// Where the change log stood at that sync (`room::change_log`):
    /// activation and sequence number.
    pub synced_epoch: Option<u64>,
    pub synced_seq: Option<u64>,
}

/// What a device that left misses: how many notes changed since, and the
/// paths of the most recent few.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    pub notes: usize,
    pub paths: Vec<String>,
}

/// The paths of at most this many missing notes are named.
pub const MISSING_PATHS_SHOWN: usize = 5;

impl DeviceRecord {
    fn merge(&mut self, other: &DeviceRecord) {
        self.first_seen_at = self.first_seen_at.min(other.first_seen_at);
        self.last_seen_at = self.last_seen_at.max(other.last_seen_at);
        self.last_push_at = self.last_push_at.max(other.last_push_at);
        self.last_ack_at = self.last_ack_at.max(other.last_ack_at);
        if other.last_sync_at > self.last_sync_at {
            self.last_sync_at = other.last_sync_at;
            self.synced_sv = other.synced_sv.clone();
            (self.synced_epoch, self.synced_seq) = (other.synced_epoch, other.synced_seq);
        }
    }
}

/// One open socket's part.
#[derive(Debug, Clone)]
struct SocketState {
    device: String,
    /// Its connection ID (`_pk`).
    conn: String,
    /// It completed a sync on this connection (it then receives every
    /// update the room takes).
    synced: bool,
    /// It sent an edit the server has not stored yet.
    unacked: bool,
}

/// A row to write (`Some`) or delete (`None`), keyed by device.
pub type LedgerWrite = (String, Option<DeviceRecord>);

#[derive(Debug, Default)]
pub struct DeviceLedger {
    devices: BTreeMap<String, DeviceRecord>,
    sockets: HashMap<String, SocketState>,
    /// Connection ID → the device name it was given ([`MAX_KNOWN_CONNECTIONS`]).
    known_conns: HashMap<String, String>,
    /// Devices whose row must be written (or deleted) at the next
    /// [`DeviceLedger::take_writes`].
    dirty: BTreeSet<String>,
}

impl DeviceLedger {
    /// The ledger as stored; rows that do not read are skipped.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String)>) -> Self {
        let devices = rows
            .into_iter()
            .filter_map(|(key, json)| Some((key, serde_json::from_str(&json).ok()?)))
            .take(MAX_LEDGER_DEVICES)
            .collect();
        DeviceLedger { devices, ..Self::default() }
    }

    /// A socket joined (or was seen again after a hibernation), with the
    /// URL's device name if it gave one.
    pub fn connect(&mut self, socket: &str, conn: &str, device: Option<&str>, now: u64) {
        if self.sockets.contains_key(socket) {
            return;
        }
        let key = match (device.map(str::to_owned), self.known_conns.get(conn)) {
            (Some(name), _) => name,
            (None, Some(name)) => name.clone(),
            (None, None) => format!("{UNNAMED_PREFIX}{conn}"),
        };
        // The socket first, so the eviction a new entry may cause spares it.
        let conn = conn.to_owned();
        let state = SocketState { device: key.clone(), conn, synced: false, unacked: false };
        self.sockets.insert(socket.to_owned(), state);
        self.touch(&key, now);
    }

    /// Whether the socket still goes by its connection ID.
    pub fn is_unnamed(&self, socket: &str) -> bool {
        self.sockets.get(socket).is_some_and(|s| s.device.starts_with(UNNAMED_PREFIX))
    }

    /// The socket's device name arrived (its awareness): an unnamed entry is
    /// merged into the named one.
    pub fn name(&mut self, socket: &str, name: &str, now: u64) {
        let Some(state) = self.sockets.get_mut(socket) else { return };
        if state.device == name || !state.device.starts_with(UNNAMED_PREFIX) {
            return;
        }
        let old = std::mem::replace(&mut state.device, name.to_owned());
        if self.known_conns.len() >= MAX_KNOWN_CONNECTIONS {
            self.known_conns.clear();
        }
        self.known_conns.insert(state.conn.clone(), name.to_owned());
        let still_used = self.sockets.values().any(|s| s.device == old);
        let record =
            if still_used { self.devices.get(&old).cloned() } else { self.devices.remove(&old) };
        if !still_used {
            self.dirty.insert(old);
        }
        self.touch(name, now);
        if let (Some(record), Some(named)) = (record, self.devices.get_mut(name)) {
            named.merge(&record);
        }
    }

    /// The socket completed a sync: it holds what the server held, `server_sv`.
    pub fn synced(&mut self, socket: &str, server_sv: &StateVector, at: Position, now: u64) {
        let Some(state) = self.sockets.get_mut(socket) else { return };
        state.synced = true;
        let key = state.device.clone();
        if let Some(record) = self.devices.get_mut(&key) {
            record.last_sync_at = Some(now);
            record.last_seen_at = now;
            record.synced_sv = Some(server_sv.encode_v1());
            (record.synced_epoch, record.synced_seq) = (Some(at.epoch), Some(at.seq));
        }
    }

    /// The socket sent an edit (not stored yet).
    pub fn pushed(&mut self, socket: &str, now: u64) {
        let Some(state) = self.sockets.get_mut(socket) else { return };
        state.unacked = true;
        let key = state.device.clone();
        if let Some(record) = self.devices.get_mut(&key) {
            record.last_push_at = Some(now);
            record.last_seen_at = now;
        }
    }

    /// A durable write stored everything the room had taken: every edit a
    /// socket sent is acknowledged.
    pub fn acknowledged(&mut self, now: u64) {
        for state in self.sockets.values_mut().filter(|s| s.unacked) {
            state.unacked = false;
            if let Some(record) = self.devices.get_mut(&state.device) {
                record.last_ack_at = Some(now);
            }
        }
    }

    /// The socket closed. A device that had completed its sync received
    /// every update until now, `live_sv`.
    pub fn closed(&mut self, socket: &str, live_sv: &StateVector, at: Position, now: u64) {
        let Some(state) = self.sockets.remove(socket) else { return };
        let Some(record) = self.devices.get_mut(&state.device) else { return };
        record.last_seen_at = now;
        record.unacked_at_close = state.unacked;
        if state.synced {
            record.last_sync_at = Some(now);
            record.synced_sv = Some(live_sv.encode_v1());
            (record.synced_epoch, record.synced_seq) = (Some(at.epoch), Some(at.seq));
        }
        self.dirty.insert(state.device);
    }

    /// Makes sure `key` has an entry seen at `now`, evicting one if the
    /// ledger is full.
    fn touch(&mut self, key: &str, now: u64) {
        if !self.devices.contains_key(key) {
            self.devices.insert(
                key.to_owned(),
                DeviceRecord { first_seen_at: now, ..DeviceRecord::default() },
            );
            self.evict_past_limit();
        }
        if let Some(record) = self.devices.get_mut(key) {
            record.last_seen_at = now;
        }
        self.dirty.insert(key.to_owned());
    }

    /// Past [`MAX_LEDGER_DEVICES`]: drops a device with no open socket,
    /// unnamed ones first, then the longest unseen.
    fn evict_past_limit(&mut self) {
        while self.devices.len() > MAX_LEDGER_DEVICES {
            let connected: BTreeSet<&str> =
                self.sockets.values().map(|s| s.device.as_str()).collect();
            let victim = self
                .devices
                .iter()
                .filter(|(key, _)| !connected.contains(key.as_str()))
                .min_by_key(|(key, record)| (!key.starts_with(UNNAMED_PREFIX), record.last_seen_at))
                .map(|(key, _)| key.clone());
            let Some(victim) = victim else { return };
            self.devices.remove(&victim);
            self.dirty.insert(victim);
        }
    }

    /// The rows changed since the last call.
    pub fn take_writes(&mut self) -> Vec<LedgerWrite> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|key| {
                let record = self.devices.get(&key).cloned();
                (key, record)
            })
            .collect()
    }

    /// The `devices` list of `GET /vault/<id>/devices`, the most recently
    /// seen first. `server_sv` is the document's state vector; `missing`
    /// says what changed after a change-log position (`None`: unknown).
    pub fn report(
        &self,
        server_sv: &StateVector,
        missing: impl Fn(Position) -> Option<Missing>,
    ) -> Value {
        let mut rows: Vec<(&String, &DeviceRecord)> = self.devices.iter().collect();
        rows.sort_by_key(|(_, record)| std::cmp::Reverse(record.last_seen_at));
        let devices: Vec<Value> = rows
            .into_iter()
            .map(|(key, record)| {
                let sockets: Vec<&SocketState> =
                    self.sockets.values().filter(|s| &s.device == key).collect();
                let connected = !sockets.is_empty();
                let up_to_date = if connected {
                    sockets.iter().any(|s| s.synced) && sockets.iter().all(|s| !s.unacked)
                } else {
                    let synced =
                        record.synced_sv.as_deref().and_then(|sv| StateVector::decode_v1(sv).ok());
                    synced.is_some_and(|sv| covers(&sv, server_sv)) && !record.unacked_at_close
                };
                let iso = |ms: Option<u64>| ms.map(iso_from_ms);
                // What a device that left is missing, where the change log knows.
                let position = match (record.synced_epoch, record.synced_seq) {
                    (Some(epoch), Some(seq)) => Some(Position { epoch, seq }),
                    _ => None,
                };
                let missed = match (connected, up_to_date) {
                    (false, false) => position.and_then(&missing),
                    _ => Some(Missing::default()),
                };
                let (device, named) = match key.strip_prefix(UNNAMED_PREFIX) {
                    Some(conn) => (format!("unnamed device ({conn})"), false),
                    None => (key.clone(), true),
                };
                json!({
                    "device": device,
                    "named": named,
                    "connected": connected,
                    "firstSeenAt": iso_from_ms(record.first_seen_at),
                    "lastSeenAt": iso_from_ms(record.last_seen_at),
                    "lastPushAt": iso(record.last_push_at),
                    "lastAckAt": iso(record.last_ack_at),
                    "lastSyncAt": iso(record.last_sync_at),
                    "upToDate": up_to_date,
                    "unacknowledgedAtClose": record.unacked_at_close && !connected,
                    "missingNotes": missed.as_ref().map(|m| m.notes),
                    "missingPaths": missed.map(|m| m.paths).unwrap_or_default(),
                })
            })
            .collect();
        json!({ "devices": devices, "maxDevices": MAX_LEDGER_DEVICES })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Position = Position { epoch: 1, seq: 0 };

    fn none(_: Position) -> Option<Missing> {
        None
    }

    fn sv(entries: &[(u64, u32)]) -> StateVector {
        StateVector::from_iter(entries.iter().map(|&(c, k)| (yrs::block::ClientID::new(c), k)))
    }

    fn device<'a>(report: &'a Value, name: &str) -> &'a Value {
        report["devices"].as_array().unwrap().iter().find(|d| d["device"] == name).unwrap()
    }

    #[test]
    fn a_device_is_named_by_its_url_or_its_awareness_and_merged() {
        let mut ledger = DeviceLedger::default();
        ledger.connect("s1", "pk1", None, 1_000);
        assert!(ledger.is_unnamed("s1"));
        ledger.synced("s1", &sv(&[(1, 5)]), AT, 1_100);
        ledger.name("s1", "laptop", 1_200);
        assert!(!ledger.is_unnamed("s1"));
        ledger.connect("s2", "pk2", Some("phone"), 1_300);
        let report = ledger.report(&sv(&[(1, 5)]), none);
        assert_eq!(
            report["devices"].as_array().unwrap().len(),
            2,
            "the unnamed entry merged: {report}"
        );
        let laptop = device(&report, "laptop");
        assert_eq!(
            (laptop["connected"].as_bool(), laptop["upToDate"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(laptop["firstSeenAt"], iso_from_ms(1_000), "kept from the unnamed entry");
        let phone = device(&report, "phone");
        assert_eq!(phone["upToDate"], false, "connected but not synced yet");
        // Writes: the unnamed key deleted, both devices written.
        let writes = ledger.take_writes();
        assert!(writes.contains(&("unnamed:pk1".to_owned(), None)), "{writes:?}");
        assert!(writes.iter().any(|(k, r)| k == "laptop" && r.is_some()));
        assert!(ledger.take_writes().is_empty());
        // The same connection back (a reconnect in the app's session): named at once.
        ledger.closed("s1", &sv(&[(1, 5)]), AT, 1_400);
        ledger.connect("s3", "pk1", None, 1_500);
        assert!(!ledger.is_unnamed("s3"));
        assert_eq!(device(&ledger.report(&sv(&[(1, 5)]), none), "laptop")["connected"], true);
    }

    #[test]
    fn a_device_that_left_is_behind_once_the_server_moves_on() {
        let mut ledger = DeviceLedger::default();
        ledger.connect("a", "pa", Some("a"), 0);
        ledger.connect("b", "pb", Some("b"), 0);
        ledger.synced("a", &sv(&[(1, 1)]), AT, 10);
        ledger.synced("b", &sv(&[(1, 1)]), AT, 10);
        ledger.closed("b", &sv(&[(1, 3)]), AT, 20);
        // A edits: pushed, then stored.
        ledger.pushed("a", 30);
        assert_eq!(
            device(&ledger.report(&sv(&[(1, 4)]), none), "a")["upToDate"],
            false,
            "unacknowledged"
        );
        ledger.acknowledged(31);
        let report = ledger.report(&sv(&[(1, 4)]), none);
        assert_eq!(device(&report, "a")["upToDate"], true);
        assert_eq!(device(&report, "a")["lastAckAt"], iso_from_ms(31));
        let b = device(&report, "b");
        assert_eq!((b["connected"].as_bool(), b["upToDate"].as_bool()), (Some(false), Some(false)));
        // With nothing new since B left, B is up to date.
        assert_eq!(device(&ledger.report(&sv(&[(1, 3)]), none), "b")["upToDate"], true);
        // Stored and read back: the same ledger (sockets aside).
        let rows: Vec<(String, String)> = ledger
            .take_writes()
            .into_iter()
            .filter_map(|(k, r)| Some((k, serde_json::to_string(&r?).ok()?)))
            .collect();
        let back = DeviceLedger::from_rows(rows);
        assert_eq!(device(&back.report(&sv(&[(1, 3)]), none), "b")["upToDate"], true);
        assert_eq!(device(&back.report(&sv(&[(1, 4)]), none), "b")["upToDate"], false);
    }

    #[test]
    fn a_device_that_left_with_unstored_edits_is_not_up_to_date() {
        let mut ledger = DeviceLedger::default();
        ledger.connect("a", "pa", Some("a"), 0);
        ledger.synced("a", &sv(&[]), AT, 1);
        ledger.pushed("a", 2);
        ledger.closed("a", &sv(&[(9, 1)]), AT, 3);
        let a = ledger.report(&sv(&[(9, 1)]), none);
        assert_eq!(device(&a, "a")["upToDate"], false);
        assert_eq!(device(&a, "a")["unacknowledgedAtClose"], true);
    }

    #[test]
    fn the_ledger_is_bounded_and_evicts_the_unnamed_and_the_longest_unseen_first() {
        let mut ledger = DeviceLedger::default();
        for i in 0..MAX_LEDGER_DEVICES as u64 {
            let socket = format!("s{i}");
            ledger.connect(&socket, &socket, Some(&format!("d{i}")), 100 + i);
            ledger.closed(&socket, &sv(&[]), AT, 100 + i);
        }
        ledger.connect("u", "pu", None, 500);
        ledger.closed("u", &sv(&[]), AT, 500);
        ledger.connect("x", "px", Some("newest"), 600);
        assert_eq!(ledger.devices.len(), MAX_LEDGER_DEVICES);
        assert!(!ledger.devices.contains_key("unnamed:pu"), "the unnamed one went first");
        ledger.connect("y", "py", Some("newer still"), 700);
        assert!(!ledger.devices.contains_key("d0"), "then the longest unseen");
        assert!(ledger.devices.contains_key("newest"), "a connected device stays");
        let writes = ledger.take_writes();
        assert!(writes.contains(&("d0".to_owned(), None)));
    }
}
