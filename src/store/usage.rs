//! What the platform bills a room for, counted as it happens: rows read and
//! written by SQL statements (each cursor reports both; index updates, the
//! `AUTOINCREMENT` counter and deletes count as written) and by the
//! key-value calls (a SQLite-backed object keeps those in rows too: a row
//! per key read, put or deleted), alarms set (each is billed as a row
//! written as well), requests and incoming WebSocket messages; since the
//! object started and for the current UTC day.
//!
//! Cloudflare's free plan allows 100,000 rows written, 5,000,000 read and
//! 100,000 requests a day per account, and refuses past that until 00:00
//! UTC, so the operator sees the day's counts next to the limits, and the
//! commit window widens as the day's writes approach them
//! (`persist::governor`). The day's counts outlive an activation: the room
//! stores them under [`USAGE_KEY`] at most once per
//! [`USAGE_SAVE_INTERVAL_MS`] and when its last socket closes (a row each),
//! and the next activation of the same day resumes from them. An eviction
//! loses at most that interval's counts.

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

/// The free plan's daily rows written, per account.
pub const FREE_PLAN_DAILY_ROWS_WRITTEN: u64 = 100_000;
/// The free plan's daily rows read, per account.
pub const FREE_PLAN_DAILY_ROWS_READ: u64 = 5_000_000;
/// The free plan's daily requests (HTTP requests, WebSocket messages and
/// alarm invocations), per account.
pub const FREE_PLAN_DAILY_REQUESTS: u64 = 100_000;
/// The key-value key the day's counts are kept under across activations.
pub const USAGE_KEY: &str = "yaos:usageToday";
/// The day's counts are stored at most this often while the room is busy
/// (five minutes: at most 288 rows a day for the bookkeeping itself).
pub const USAGE_SAVE_INTERVAL_MS: u64 = 300_000;

const MS_PER_DAY: u64 = 86_400_000;

/// One object's counts, shared by its SQL and key-value adapters and the
/// shell (alarms, requests, messages).
pub type Meter = Rc<RefCell<Usage>>;

/// What was billed over some period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counts {
    pub rows_read: u64,
    pub rows_written: u64,
    pub alarms_set: u64,
    pub requests: u64,
    pub incoming_messages: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.rows_read = self.rows_read.saturating_add(other.rows_read);
        self.rows_written = self.rows_written.saturating_add(other.rows_written);
        self.alarms_set = self.alarms_set.saturating_add(other.alarms_set);
        self.requests = self.requests.saturating_add(other.requests);
        self.incoming_messages = self.incoming_messages.saturating_add(other.incoming_messages);
    }
}

/// The day's counts as they are stored under [`USAGE_KEY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDay {
    /// Days since the Unix epoch.
    pub day: u64,
    pub counts: Counts,
}

/// The counts since activation and for the current UTC day.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    since_activation: Counts,
    /// Days since the Unix epoch of `today`'s counts.
    day: u64,
    today: Counts,
    /// When the day's counts were last stored, and whether they changed since.
    saved_at: Option<u64>,
    dirty: bool,
}

impl Usage {
    /// Adds `counts`, billed at `now_ms`.
    pub fn record(&mut self, now_ms: u64, counts: Counts) {
        self.roll_to(now_ms);
        self.since_activation.add(counts);
        self.today.add(counts);
        self.dirty = true;
    }

    /// One statement read `read` rows and wrote `written`.
    pub fn record_rows(&mut self, now_ms: u64, read: u64, written: u64) {
        self.record(now_ms, Counts { rows_read: read, rows_written: written, ..Counts::default() });
    }

    /// An alarm was set: billed as a row written too.
    pub fn record_alarm(&mut self, now_ms: u64) {
        self.record(now_ms, Counts { alarms_set: 1, rows_written: 1, ..Counts::default() });
    }

    pub fn record_request(&mut self, now_ms: u64) {
        self.record(now_ms, Counts { requests: 1, ..Counts::default() });
    }

    pub fn record_message(&mut self, now_ms: u64) {
        self.record(now_ms, Counts { incoming_messages: 1, ..Counts::default() });
    }

    fn roll_to(&mut self, now_ms: u64) {
        let day = now_ms / MS_PER_DAY;
        if day != self.day {
            self.day = day;
            self.today = Counts::default();
        }
    }

    pub fn since_activation(&self) -> Counts {
        self.since_activation
    }

    /// The day's counts as of `now_ms` (zero once the day has turned).
    pub fn today(&self, now_ms: u64) -> Counts {
        if now_ms / MS_PER_DAY == self.day {
            self.today
        } else {
            Counts::default()
        }
    }

    /// A new activation takes over what an earlier one of the same UTC day
    /// stored (counts from another day are dropped).
    pub fn resume(&mut self, stored: StoredDay, now_ms: u64) {
        self.roll_to(now_ms);
        if stored.day == self.day {
            self.today.add(stored.counts);
        }
    }

    /// The day's counts to store now, if they changed and the last store is
    /// [`USAGE_SAVE_INTERVAL_MS`] old (`force`: whenever they changed, as
    /// when the last socket closes). The caller stores them and calls
    /// [`Usage::saved`].
    pub fn to_store(&self, now_ms: u64, force: bool) -> Option<StoredDay> {
        let due =
            self.saved_at.is_none_or(|at| now_ms >= at.saturating_add(USAGE_SAVE_INTERVAL_MS));
        (self.dirty && (force || due))
            .then(|| StoredDay { day: now_ms / MS_PER_DAY, counts: self.today(now_ms) })
    }

    /// The counts of [`Usage::to_store`] were stored at `now_ms`.
    pub fn saved(&mut self, now_ms: u64) {
        self.saved_at = Some(now_ms);
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(read: u64, written: u64) -> Counts {
        Counts { rows_read: read, rows_written: written, ..Counts::default() }
    }

    #[test]
    fn counts_add_up_and_the_day_starts_again_at_midnight_utc() {
        let mut usage = Usage::default();
        let before_midnight = 20_000 * MS_PER_DAY - 1;
        usage.record_rows(before_midnight, 3, 1);
        usage.record_rows(before_midnight, 0, 2);
        usage.record_alarm(before_midnight);
        let today = usage.today(before_midnight);
        assert_eq!((today.rows_read, today.rows_written, today.alarms_set), (3, 4, 1));
        // Midnight: the day's counts start again, the activation's go on.
        assert_eq!(usage.today(before_midnight + 1), Counts::default());
        usage.record_rows(before_midnight + 1, 1, 1);
        usage.record_message(before_midnight + 1);
        usage.record_request(before_midnight + 1);
        let today = usage.today(before_midnight + 1);
        assert_eq!(today, Counts { requests: 1, incoming_messages: 1, ..rows(1, 1) });
        assert_eq!(usage.since_activation().rows_written, 5);
    }

    #[test]
    fn the_day_outlives_an_activation_but_not_the_day() {
        let noon = 20_000 * MS_PER_DAY + MS_PER_DAY / 2;
        let mut first = Usage::default();
        first.record_rows(noon, 10, 7);
        let stored = first.to_store(noon, false).expect("never stored: due");
        first.saved(noon);
        assert_eq!(first.to_store(noon + 1, false), None, "nothing changed");
        first.record_rows(noon + 1, 0, 1);
        assert_eq!(first.to_store(noon + 1, false), None, "stored under the interval ago");
        assert!(first.to_store(noon + 1, true).is_some(), "forced");
        assert!(first.to_store(noon + USAGE_SAVE_INTERVAL_MS, false).is_some());

        // The same day: a new activation resumes the stored counts.
        let mut second = Usage::default();
        second.resume(stored, noon + 60_000);
        second.record_rows(noon + 60_000, 0, 1);
        assert_eq!(second.today(noon + 60_000), rows(10, 8));
        assert_eq!(second.since_activation(), rows(0, 1));
        // The next day: the stored day is dropped.
        let mut third = Usage::default();
        third.resume(stored, noon + MS_PER_DAY);
        assert_eq!(third.today(noon + MS_PER_DAY), Counts::default());
    }

    #[test]
    fn a_stored_day_reads_back_and_tolerates_missing_counts() {
        let stored = StoredDay { day: 3, counts: rows(1, 2) };
        let text = serde_json::to_string(&stored).unwrap();
        assert_eq!(serde_json::from_str::<StoredDay>(&text).unwrap(), stored);
        let older: StoredDay =
            serde_json::from_str(r#"{"day":3,"counts":{"rowsWritten":9}}"#).unwrap();
        assert_eq!(older.counts, rows(0, 9));
    }
}
