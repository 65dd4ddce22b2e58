//! The trace store (spec 11.2): rate-limited diagnostic events kept in
//! key-value storage under `trace:<ms>:<hex>`, newest 200 retained.
//!
//! Methods take `&self` (state in cells, no borrow held across an await) so
//! concurrent writers in one Durable Object cannot trip over each other.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};

use serde_json::{json, Map, Value};

use super::trace_entry::prepare_trace_entry;
use crate::diagnostics::timefmt::iso_from_ms;
use crate::hex::lower_hex;
use crate::store::kv::{KvError, KvStore, KvValue};

pub const TRACE_KEY_PREFIX: &str = "trace:";
/// Entries kept after each write.
pub const MAX_STORED_TRACES: usize = 200;
/// Entries the debug JSON shows.
pub const DEBUG_TRACE_LIMIT: usize = 100;
pub const TRACE_THROTTLED_EVENT: &str = "trace-throttled";
pub const DEFAULT_RATE_LIMIT: usize = 600;
pub const DEFAULT_RATE_WINDOW_MS: u64 = 60_000;
/// The platform's cap on keys per delete call.
const MAX_DELETE_BATCH: usize = 128;

/// The storage key for an entry written at `ms` with a 6-byte random suffix.
pub fn trace_key(ms: u64, random: [u8; 6]) -> String {
    let hex = lower_hex(&random);
    format!("{TRACE_KEY_PREFIX}{ms:013}:{hex}")
}

/// A sliding window admitting at most `max` events per `window_ms`, counting
/// what it drops.
#[derive(Debug)]
pub struct TraceRateLimiter {
    admitted: VecDeque<u64>,
    dropped: u64,
    max: usize,
    window_ms: u64,
}

impl Default for TraceRateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW_MS)
    }
}

impl TraceRateLimiter {
    pub fn new(max: usize, window_ms: u64) -> Self {
        TraceRateLimiter { admitted: VecDeque::new(), dropped: 0, max, window_ms }
    }

    /// Admits an event at `now_ms`, or counts it as dropped.
    pub fn admit(&mut self, now_ms: u64) -> bool {
        let cutoff = now_ms.saturating_sub(self.window_ms);
        while self.admitted.front().is_some_and(|&t| t < cutoff) {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= self.max {
            self.dropped += 1;
            return false;
        }
        self.admitted.push_back(now_ms);
        true
    }

    /// Returns the drops counted since the last call and resets the count.
    pub fn drain_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// The trace store of one activation: the limiter and an index of the stored
/// keys, listed from storage once so a write need not list every time.
#[derive(Debug, Default)]
pub struct TraceStore {
    limiter: RefCell<TraceRateLimiter>,
    keys: RefCell<BTreeSet<String>>,
    keys_listed: Cell<bool>,
}

impl TraceStore {
    pub fn new(limiter: TraceRateLimiter) -> Self {
        TraceStore { limiter: RefCell::new(limiter), ..Self::default() }
    }

    /// Records `event` at `now_ms` unless the limiter drops it. After an
    /// admitted event, a `trace-throttled {dropped}` entry reports earlier
    /// drops, bypassing the limiter. Returns whether `event` was admitted.
    pub async fn record(
        &self,
        kv: &impl KvStore,
        room_id: &str,
        event: &str,
        data: &Map<String, Value>,
        now_ms: u64,
        mut random: impl FnMut() -> [u8; 6],
    ) -> Result<bool, KvError> {
        let is_summary = event == TRACE_THROTTLED_EVENT;
        let dropped = {
            let mut limiter = self.limiter.borrow_mut();
            if !is_summary && !limiter.admit(now_ms) {
                return Ok(false);
            }
            if is_summary {
                0
            } else {
                limiter.drain_dropped()
            }
        };
        let ts = iso_from_ms(now_ms);
        let entry = prepare_trace_entry(&ts, event, room_id, data);
        let written = self.write(kv, trace_key(now_ms, random()), entry).await;
        if dropped > 0 {
            let Value::Object(summary) = json!({ "dropped": dropped }) else { unreachable!() };
            let entry = prepare_trace_entry(&ts, TRACE_THROTTLED_EVENT, room_id, &summary);
            self.write(kv, trace_key(now_ms, random()), entry).await?;
        }
        written.map(|()| true)
    }

    /// Puts one entry, then deletes everything beyond the newest 200.
    async fn write(&self, kv: &impl KvStore, key: String, entry: Value) -> Result<(), KvError> {
        kv.put(&key, KvValue::from_json(&entry)).await?;
        if !self.keys_listed.get() {
            let listed = kv.list_prefix(TRACE_KEY_PREFIX).await?;
            self.keys.borrow_mut().extend(listed.into_iter().map(|(k, _)| k));
            self.keys_listed.set(true);
        }
        let excess: Vec<String> = {
            let mut keys = self.keys.borrow_mut();
            keys.insert(key);
            let n = keys.len().saturating_sub(MAX_STORED_TRACES);
            (0..n).filter_map(|_| keys.pop_first()).collect()
        };
        // Keys whose delete fails stay in storage until the next activation
        // lists them again.
        for batch in excess.chunks(MAX_DELETE_BATCH) {
            kv.delete_many(batch).await?;
        }
        Ok(())
    }
}

/// The newest `limit` stored entries, newest first.
pub async fn recent_traces(kv: &impl KvStore, limit: usize) -> Result<Vec<Value>, KvError> {
    let listed = kv.list_prefix(TRACE_KEY_PREFIX).await?;
    Ok(listed.iter().rev().take(limit).map(|(_, v)| v.to_json()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::MemoryKv;
    use futures::executor::block_on;

    const T0: u64 = 1_779_963_072_345;

    /// Increasing suffixes, so keys written in the same millisecond sort in
    /// write order.
    fn counter() -> impl FnMut() -> [u8; 6] {
        let mut n = 0u16;
        move || {
            n += 1;
            let [a, b] = n.to_be_bytes();
            [0, 0, 0, 0, a, b]
        }
    }

    fn data(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else { panic!("object expected") };
        map
    }

    #[test]
    fn key_is_padded_ms_and_hex() {
        assert_eq!(
            trace_key(42, [0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]),
            "trace:0000000000042:deadbeef0001"
        );
    }

    #[test]
    fn stores_entries_and_lists_newest_first() {
        let kv = MemoryKv::default();
        let store = TraceStore::default();
        let mut random = counter();
        block_on(async {
            for i in 0..3u64 {
                let d = data(json!({"i": i}));
                assert!(store.record(&kv, "vault", "ev", &d, T0 + i, &mut random).await.unwrap());
            }
            let recent = recent_traces(&kv, 2).await.unwrap();
            assert_eq!(
                recent,
                vec![
                    json!({"ts": "2026-05-28T10:11:12.347Z", "event": "ev", "roomId": "vault", "i": 2}),
                    json!({"ts": "2026-05-28T10:11:12.346Z", "event": "ev", "roomId": "vault", "i": 1}),
                ]
            );
        });
        assert!(kv.entries.borrow().contains_key("trace:1779963072345:000000000001"));
    }

    #[test]
    fn retention_keeps_newest_200_and_cleans_an_old_backlog_once() {
        let kv = MemoryKv::default();
        // A backlog left by an earlier activation.
        for i in 0..250u64 {
            kv.entries.borrow_mut().insert(trace_key(i, [0; 6]), KvValue::Null);
        }
        let store = TraceStore::default();
        let mut random = counter();
        let empty = Map::new();
        block_on(async {
            for i in 0..5u64 {
                store.record(&kv, "r", "ev", &empty, T0 + i, &mut random).await.unwrap();
                assert_eq!(kv.entries.borrow().len(), MAX_STORED_TRACES);
            }
        });
        let entries = kv.entries.borrow();
        assert_eq!(entries.keys().next().unwrap(), &trace_key(55, [0; 6]));
        assert!(entries.contains_key(&trace_key(T0 + 4, [0, 0, 0, 0, 0, 5])));
    }

    #[test]
    fn limiter_window_slides() {
        let mut limiter = TraceRateLimiter::new(2, 1000);
        assert!(limiter.admit(0));
        assert!(limiter.admit(500));
        assert!(!limiter.admit(999));
        assert!(!limiter.admit(1000)); // 0 is still inside [0, 1000]
        assert!(limiter.admit(1001));
        assert_eq!(limiter.drain_dropped(), 2);
        assert_eq!(limiter.drain_dropped(), 0);
        assert_eq!(TraceRateLimiter::default().max, 600);
    }

    #[test]
    fn drops_are_summarized_after_the_next_admitted_event() {
        let kv = MemoryKv::default();
        let store = TraceStore::new(TraceRateLimiter::new(2, DEFAULT_RATE_WINDOW_MS));
        let mut random = counter();
        let empty = Map::new();
        block_on(async {
            let mut admitted = Vec::new();
            for i in 0..5 {
                admitted
                    .push(store.record(&kv, "r", "ev", &empty, T0 + i, &mut random).await.unwrap());
            }
            assert_eq!(admitted, [true, true, false, false, false]);
            let later = T0 + DEFAULT_RATE_WINDOW_MS + 10;
            assert!(store.record(&kv, "r", "late", &empty, later, &mut random).await.unwrap());
            let recent = recent_traces(&kv, 100).await.unwrap();
            let events: Vec<&str> = recent.iter().map(|e| e["event"].as_str().unwrap()).collect();
            assert_eq!(events, ["trace-throttled", "late", "ev", "ev"]);
            assert_eq!(recent[0]["dropped"], 3);
            // The summary bypassed the limiter: one more event still fits the window.
            assert!(store.record(&kv, "r", "ev", &empty, later, &mut random).await.unwrap());
        });
    }
}
