//! What the platform bills a room for, counted as it happens: rows read and
//! written, by SQL statements (each cursor reports both; index updates,
//! the `AUTOINCREMENT` counter and deletes count as written) and by the
//! key-value calls (a SQLite-backed object keeps those in rows too: a row
//! per key read, put or deleted), since the object started and for the
//! current UTC day. Alarms set are not counted yet.
//!
//! Cloudflare's free plan allows 100,000 rows written and 5,000,000 read a
//! day per account, and refuses writes past that until 00:00 UTC, so the
//! operator sees the day's count next to the limit. The day's count here is
//! this activation's part of the day: it starts again when the object does
//! (keeping it across activations would itself cost a row per update).

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;

/// The free plan's daily SQL rows written, per account.
pub const FREE_PLAN_DAILY_ROWS_WRITTEN: u64 = 100_000;
/// The free plan's daily SQL rows read, per account.
pub const FREE_PLAN_DAILY_ROWS_READ: u64 = 5_000_000;

const MS_PER_DAY: u64 = 86_400_000;

/// One object's counts, shared by its SQL and key-value adapters.
pub type Meter = Rc<RefCell<RowUsage>>;

/// Rows read and written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowCounts {
    pub rows_read: u64,
    pub rows_written: u64,
}

/// The counts since activation and for the current UTC day.
#[derive(Debug, Clone, Default)]
pub struct RowUsage {
    since_activation: RowCounts,
    /// Days since the Unix epoch of `today`'s counts.
    day: u64,
    today: RowCounts,
}

impl RowUsage {
    /// One statement at `now_ms` read `read` rows and wrote `written`.
    pub fn record(&mut self, now_ms: u64, read: u64, written: u64) {
        let day = now_ms / MS_PER_DAY;
        if day != self.day {
            self.day = day;
            self.today = RowCounts::default();
        }
        for counts in [&mut self.since_activation, &mut self.today] {
            counts.rows_read = counts.rows_read.saturating_add(read);
            counts.rows_written = counts.rows_written.saturating_add(written);
        }
    }

    pub fn since_activation(&self) -> RowCounts {
        self.since_activation
    }

    /// The day's counts as of `now_ms` (zero once the day has turned).
    pub fn today(&self, now_ms: u64) -> RowCounts {
        if now_ms / MS_PER_DAY == self.day {
            self.today
        } else {
            RowCounts::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_the_day_starts_again_at_midnight_utc() {
        let mut usage = RowUsage::default();
        let before_midnight = 20_000 * MS_PER_DAY - 1;
        usage.record(before_midnight, 3, 1);
        usage.record(before_midnight, 0, 2);
        assert_eq!(usage.today(before_midnight), RowCounts { rows_read: 3, rows_written: 3 });
        // Midnight: the day's counts start again, the activation's go on.
        assert_eq!(usage.today(before_midnight + 1), RowCounts::default());
        usage.record(before_midnight + 1, 1, 1);
        assert_eq!(usage.today(before_midnight + 1), RowCounts { rows_read: 1, rows_written: 1 });
        assert_eq!(usage.since_activation(), RowCounts { rows_read: 4, rows_written: 4 });
    }
}
