//! The write-budget governor: as the day's rows written approach the daily
//! budget, the room writes less often, so the budget lasts the day instead
//! of running out at a busy hour and refusing every save until midnight UTC.
//!
//! Two levers, both trading a little latency or journal length for rows:
//! the commit window widens from the operator's (below half the budget) to
//! [`MAX_COMMIT_WINDOW_MS`] (at nine tenths), and the journal may grow to
//! [`COMPACTION_SLACK_LATE`] times its usual thresholds before a compaction
//! rewrites the snapshot. The budget is the deployment's (the free plan's
//! 100,000 rows a day is shared by every vault on the account), but a room
//! only knows its own rows: an operator with several busy vaults sets a
//! smaller budget per vault through [`DAILY_ROW_BUDGET_VAR`].

use super::commit_window::MAX_COMMIT_WINDOW_MS;
use crate::settings::read_whole_number;
use crate::store::usage::FREE_PLAN_DAILY_ROWS_WRITTEN;

/// The setting: rows written a day this room aims to stay within.
pub const DAILY_ROW_BUDGET_VAR: &str = "YAOS_DAILY_ROW_BUDGET";
/// Unset: the free plan's daily rows written.
pub const DEFAULT_DAILY_ROW_BUDGET: u64 = FREE_PLAN_DAILY_ROWS_WRITTEN;
/// The smallest budget the setting may ask for (below it the governor would
/// hold every write at the longest window from the first minutes).
pub const MIN_DAILY_ROW_BUDGET: u64 = 1_000;
/// The largest: a paid plan's billing, not a limit, is then what matters.
pub const MAX_DAILY_ROW_BUDGET: u64 = 1_000_000_000;
/// Below this share of the budget (per cent) nothing changes.
pub const GOVERNOR_START_PERCENT: u64 = 50;
/// From this share on, the window is the longest and the journal slack the
/// largest.
pub const GOVERNOR_FULL_PERCENT: u64 = 90;
/// The compaction thresholds' multiplier between the two shares...
pub const COMPACTION_SLACK_EARLY: u64 = 2;
/// ...and from [`GOVERNOR_FULL_PERCENT`] on.
pub const COMPACTION_SLACK_LATE: u64 = 4;

/// The governor of one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Governor {
    daily_rows: u64,
}

impl Default for Governor {
    fn default() -> Self {
        Governor { daily_rows: DEFAULT_DAILY_ROW_BUDGET }
    }
}

impl Governor {
    pub fn new(daily_rows: u64) -> Self {
        Governor { daily_rows: daily_rows.clamp(MIN_DAILY_ROW_BUDGET, MAX_DAILY_ROW_BUDGET) }
    }

    /// The governor of the operator's setting (`None`: unset), and a warning
    /// when the value was not taken as it stood.
    pub fn from_setting(raw: Option<&str>) -> (Governor, Option<String>) {
        let (rows, warning) = read_whole_number(
            DAILY_ROW_BUDGET_VAR,
            raw,
            DEFAULT_DAILY_ROW_BUDGET,
            MIN_DAILY_ROW_BUDGET,
            MAX_DAILY_ROW_BUDGET,
        );
        (Governor::new(rows), warning)
    }

    pub fn daily_rows(&self) -> u64 {
        self.daily_rows
    }

    /// How far into the budget `rows_today` is, in basis points (1/100 %).
    fn basis_points(&self, rows_today: u64) -> u64 {
        rows_today.saturating_mul(10_000) / self.daily_rows
    }

    /// The commit window with `rows_today` written: `base_ms` (the
    /// operator's) below [`GOVERNOR_START_PERCENT`], rising in a straight
    /// line to [`MAX_COMMIT_WINDOW_MS`] at [`GOVERNOR_FULL_PERCENT`].
    pub fn window_ms(&self, base_ms: u64, rows_today: u64) -> u64 {
        let (start, full) = (GOVERNOR_START_PERCENT * 100, GOVERNOR_FULL_PERCENT * 100);
        let used = self.basis_points(rows_today);
        if used <= start || base_ms >= MAX_COMMIT_WINDOW_MS {
            return base_ms;
        }
        let into = used.min(full) - start;
        base_ms + (MAX_COMMIT_WINDOW_MS - base_ms) * into / (full - start)
    }

    /// What the compaction thresholds are multiplied by with `rows_today`
    /// written: 1, then [`COMPACTION_SLACK_EARLY`] past the start, then
    /// [`COMPACTION_SLACK_LATE`] past the full share.
    pub fn compaction_slack(&self, rows_today: u64) -> u64 {
        let used = self.basis_points(rows_today);
        if used >= GOVERNOR_FULL_PERCENT * 100 {
            COMPACTION_SLACK_LATE
        } else if used > GOVERNOR_START_PERCENT * 100 {
            COMPACTION_SLACK_EARLY
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_widens_as_the_day_fills_the_budget() {
        let g = Governor::new(100_000);
        assert_eq!(g.window_ms(2_500, 0), 2_500);
        assert_eq!(g.window_ms(2_500, 50_000), 2_500, "half the budget: unchanged");
        assert_eq!(g.window_ms(2_500, 70_000), 6_250, "halfway up the ramp");
        assert_eq!(g.window_ms(2_500, 90_000), MAX_COMMIT_WINDOW_MS);
        assert_eq!(g.window_ms(2_500, 250_000), MAX_COMMIT_WINDOW_MS, "past the budget");
        // No window of the operator's: the governor still makes one.
        assert_eq!(g.window_ms(0, 70_000), MAX_COMMIT_WINDOW_MS / 2);
        // Monotonic in the rows.
        let windows: Vec<u64> = (0..=100).map(|k| g.window_ms(2_500, k * 1_000)).collect();
        assert!(windows.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_journal_may_grow_as_the_day_fills_the_budget() {
        let g = Governor::new(10_000);
        assert_eq!(g.compaction_slack(5_000), 1);
        assert_eq!(g.compaction_slack(5_001), COMPACTION_SLACK_EARLY);
        assert_eq!(g.compaction_slack(9_000), COMPACTION_SLACK_LATE);
    }

    #[test]
    fn the_setting_is_bounded() {
        assert_eq!(Governor::from_setting(None).0.daily_rows(), FREE_PLAN_DAILY_ROWS_WRITTEN);
        assert_eq!(Governor::from_setting(Some("20000")).0.daily_rows(), 20_000);
        let (g, warning) = Governor::from_setting(Some("10"));
        assert_eq!((g.daily_rows(), warning.is_some()), (MIN_DAILY_ROW_BUDGET, true));
        let (g, warning) = Governor::from_setting(Some("lots"));
        assert_eq!((g.daily_rows(), warning.is_some()), (DEFAULT_DAILY_ROW_BUDGET, true));
    }
}
