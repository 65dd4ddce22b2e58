//! Group commit: when the room writes the updates it has taken.
//!
//! Every row written counts against the free plan's daily budget (100,000),
//! so a save per keystroke (one journal row each, and the compactions that
//! delete them again) would spend it in a day of typing. The window keeps
//! the promise (nothing is acknowledged before it is durable) and changes
//! its price: an update that arrives after a quiet window is written at
//! once; one that arrives within a window of the last write waits for the
//! window's end, when everything taken meanwhile is written as one journal
//! row and acknowledged together. Under a stream that is at most one row per
//! window; a client whose edit was not written yet still holds it and sends
//! it again on its next sync.

use crate::settings::read_whole_number;

/// The window the operator's setting [`COMMIT_WINDOW_VAR`] replaces: 2.5 s.
/// Typing at 10 keystrokes a second, each its own transaction, that is 40
/// writes per 1,000 keystrokes instead of 1,000, about 120 SQL rows with the
/// compaction that deletes them again (each journal row costs three: its
/// insert, the `AUTOINCREMENT` counter, its delete), where 2 s gave 152; an
/// acknowledgement waits at most the window (`engineering/benchmarks.md`,
/// "Typing").
pub const DEFAULT_COMMIT_WINDOW_MS: u64 = 2_500;
/// The longest window the setting may ask for: an acknowledgement waits
/// this long at most.
pub const MAX_COMMIT_WINDOW_MS: u64 = 10_000;
/// The setting: milliseconds, 0 (write every update at once) to
/// [`MAX_COMMIT_WINDOW_MS`].
pub const COMMIT_WINDOW_VAR: &str = "YAOS_COMMIT_WINDOW_MS";

/// What to do with an update the room just took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Write it (and whatever else waits) now.
    Now,
    /// Write at this time (Unix ms); the shell sets a timer for it.
    At(u64),
}

/// A failed write is retried after this long at first (or a window, if
/// longer)...
pub const RETRY_FIRST_MS: u64 = 1_000;
/// ...doubling with each failure in a row up to this: a write the platform
/// refuses for the day (its quota) costs nothing billed, and a room retrying
/// once a minute resumes within a minute of the reset.
pub const RETRY_MAX_MS: u64 = 60_000;

/// The window and when the room last wrote.
#[derive(Debug, Clone, Default)]
pub struct CommitWindow {
    /// The operator's window.
    base_ms: u64,
    /// The window in force: the operator's, widened by the budget governor.
    window_ms: u64,
    last_write_at: Option<u64>,
    /// The write the shell was asked to run at its timer, if any.
    due_at: Option<u64>,
    /// Writes failed in a row.
    failures: u32,
}

impl CommitWindow {
    /// A window of `window_ms` (0: every update written at once).
    pub fn new(window_ms: u64) -> Self {
        let window_ms = window_ms.min(MAX_COMMIT_WINDOW_MS);
        CommitWindow { base_ms: window_ms, window_ms, ..Self::default() }
    }

    /// The window from the operator's setting (`None`: unset), and a warning
    /// when the value was not taken as it stood.
    pub fn from_setting(raw: Option<&str>) -> (CommitWindow, Option<String>) {
        let (ms, warning) = read_whole_number(
            COMMIT_WINDOW_VAR,
            raw,
            DEFAULT_COMMIT_WINDOW_MS,
            0,
            MAX_COMMIT_WINDOW_MS,
        );
        (Self::new(ms), warning)
    }

    /// The window in force.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// The operator's window.
    pub fn base_ms(&self) -> u64 {
        self.base_ms
    }

    /// Puts `window_ms` in force (the governor's; never past
    /// [`MAX_COMMIT_WINDOW_MS`]). A write already waiting keeps its time.
    pub fn govern(&mut self, window_ms: u64) {
        self.window_ms = window_ms.min(MAX_COMMIT_WINDOW_MS);
    }

    /// An update was taken at `now`: write now if the last write is a
    /// window old (or there is no window), else at the window's end.
    pub fn on_update(&mut self, now: u64) -> Commit {
        if self.window_ms == 0 {
            return Commit::Now;
        }
        if let Some(at) = self.due_at {
            return Commit::At(at);
        }
        match self.last_write_at {
            Some(last) if self.window_ms > 0 && now < last.saturating_add(self.window_ms) => {
                let at = last.saturating_add(self.window_ms);
                self.due_at = Some(at);
                Commit::At(at)
            }
            _ => Commit::Now,
        }
    }

    /// A write ran at `now` (whatever its outcome). A failed one is retried
    /// on a timer, so a room whose clients fell quiet still retries: after
    /// [`RETRY_FIRST_MS`] doubling to [`RETRY_MAX_MS`], or a window if that
    /// is longer (without a window, the next update also retries it).
    pub fn wrote(&mut self, now: u64, durable: bool) -> Option<u64> {
        self.last_write_at = Some(now);
        self.due_at = None;
        if durable {
            self.failures = 0;
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(16);
        let backoff = RETRY_FIRST_MS.saturating_mul(1 << doublings).min(RETRY_MAX_MS);
        let at = now.saturating_add(backoff.max(self.window_ms));
        self.due_at = Some(at);
        Some(at)
    }

    /// Whether the write asked for at the shell's timer is due at `now`.
    pub fn is_due(&self, now: u64) -> bool {
        self.due_at.is_some_and(|at| now >= at)
    }

    /// When the waiting write is due, if one waits.
    pub fn due_at(&self) -> Option<u64> {
        self.due_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_update_is_written_at_once_and_a_stream_once_a_window() {
        let mut w = CommitWindow::new(2_000);
        assert_eq!(w.on_update(10_000), Commit::Now);
        assert_eq!(w.wrote(10_000, true), None);
        // A stream: every update within the window waits for its end.
        assert_eq!(w.on_update(10_100), Commit::At(12_000));
        assert_eq!(w.on_update(11_900), Commit::At(12_000));
        assert!(!w.is_due(11_999));
        assert!(w.is_due(12_000));
        assert_eq!(w.wrote(12_000, true), None);
        // Quiet for a window: at once again.
        assert_eq!(w.on_update(14_000), Commit::Now);
    }

    #[test]
    fn a_failed_write_is_retried_a_window_later() {
        let mut w = CommitWindow::new(2_000);
        assert_eq!(w.on_update(0), Commit::Now);
        assert_eq!(w.wrote(0, false), Some(2_000));
        assert_eq!(w.on_update(500), Commit::At(2_000), "waits for the retry");
        assert!(w.is_due(2_000));
    }

    #[test]
    fn no_window_writes_every_update() {
        let mut w = CommitWindow::new(0);
        for now in [0, 1, 2] {
            assert_eq!(w.on_update(now), Commit::Now);
            w.wrote(now, true);
        }
        // A failed write is retried by the next update, and by a timer.
        assert_eq!(w.wrote(3, false), Some(3 + RETRY_FIRST_MS));
        assert_eq!(w.on_update(4), Commit::Now);
    }

    #[test]
    fn failures_in_a_row_back_off_to_a_minute() {
        let mut w = CommitWindow::new(2_500);
        let mut delays = Vec::new();
        for _ in 0..9 {
            delays.push(w.wrote(0, false).unwrap());
        }
        assert_eq!(delays, [2_500, 2_500, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
        // A durable write ends the streak.
        assert_eq!(w.wrote(0, true), None);
        assert_eq!(w.wrote(0, false), Some(2_500));
    }

    #[test]
    fn a_governed_window_is_in_force_until_changed() {
        let mut w = CommitWindow::new(2_500);
        w.govern(6_000);
        assert_eq!((w.window_ms(), w.base_ms()), (6_000, 2_500));
        assert_eq!(w.on_update(0), Commit::Now);
        w.wrote(0, true);
        assert_eq!(w.on_update(100), Commit::At(6_000));
        w.govern(60_000);
        assert_eq!(w.window_ms(), MAX_COMMIT_WINDOW_MS);
    }

    #[test]
    fn the_setting_is_bounded() {
        assert_eq!(CommitWindow::from_setting(None).0.window_ms(), DEFAULT_COMMIT_WINDOW_MS);
        assert_eq!(CommitWindow::from_setting(Some("0")).0.window_ms(), 0);
        assert_eq!(CommitWindow::from_setting(Some(" 750 ")).0.window_ms(), 750);
        let (w, warning) = CommitWindow::from_setting(Some("60000"));
        assert_eq!(w.window_ms(), MAX_COMMIT_WINDOW_MS);
        assert!(warning.is_some());
        let (w, warning) = CommitWindow::from_setting(Some("soon"));
        assert_eq!(w.window_ms(), DEFAULT_COMMIT_WINDOW_MS);
        assert!(warning.is_some());
    }
}
