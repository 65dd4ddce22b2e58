//! When a due compaction runs. A compaction rewrites the whole snapshot in
//! one turn (yrs encodes a document in one synchronous call, and that is
//! most of the work: for 10,000 notes natively 84 ms of encoding against
//! 37 ms of SQL), so the room is blocked for its duration: 0.3–0.4 s at
//! 10,000 notes under workerd. Frames that arrive meanwhile wait.
//!
//! So a compaction waits for a moment when no edit is likely to arrive:
//! - a small vault's (snapshot under [`IDLE_COMPACTION_SNAPSHOT_BYTES`]) or
//!   an urgent one's (the journal [`URGENT_SLACK`] times past its
//!   thresholds) waits [`COMPACTION_QUIET_MS`] after the last save that found
//!   it due, and never more than [`COMPACTION_MAX_DEFER_MS`];
//! - any other waits until no edit has arrived for [`IDLE_QUIET_MS`], or no
//!   socket is open: a person typing, even with pauses, never meets it. The
//!   journal meanwhile holds every edit (durable, acknowledged); only a
//!   cold load replays more rows.

/// A compaction waits for this much quiet after the last save that found
/// it due...
pub const COMPACTION_QUIET_MS: u64 = 2_000;
/// ...but never longer than this after it first became due, so steady
/// traffic cannot postpone it for ever.
pub const COMPACTION_MAX_DEFER_MS: u64 = 10_000;
/// An alarm already set is moved later only by at least this much, so a
/// stream of saves does not rewrite the alarm (a row each) on every one.
pub const COMPACTION_RESCHEDULE_STEP_MS: u64 = 500;
/// From this snapshot size on (4 MiB: a rewrite of about 60 ms under
/// workerd, by the 0.3–0.4 s measured at 23 MB) a compaction waits for the
/// room to fall idle.
pub const IDLE_COMPACTION_SNAPSHOT_BYTES: u64 = 4 * 1024 * 1024;
/// Idle: no edit for this long (the plugin's awareness heartbeats do not
/// count), or no socket open.
pub const IDLE_QUIET_MS: u64 = 30_000;
/// A journal this many times past the compaction thresholds (within
/// `Policy::with_slack`'s caps: 20,000 entries, 16 MiB) is compacted at the
/// next short quiet, idle or not: the cost of a cold load is then the
/// larger one.
pub const URGENT_SLACK: u64 = 4;

/// How soon a due compaction should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// At the next short quiet ([`COMPACTION_QUIET_MS`]).
    Soon,
    /// When the room is idle ([`IDLE_QUIET_MS`] without an edit).
    WhenIdle,
}

impl Urgency {
    /// The urgency of a compaction of a snapshot of `snapshot_bytes`, with
    /// the journal `urgent`ly long or not.
    pub fn of(snapshot_bytes: u64, urgent: bool) -> Self {
        if urgent || snapshot_bytes < IDLE_COMPACTION_SNAPSHOT_BYTES {
            Urgency::Soon
        } else {
            Urgency::WhenIdle
        }
    }
}

/// When the compaction alarm should be (re)set, given that a compaction has
/// been due since `due_since` and an alarm is set for `scheduled` (if any):
/// `Some(time)` to set it to `time`, `None` when it is fine as it is. An
/// idle-time alarm, once set, is moved by the alarm itself
/// ([`idle_wait`]), not by every save.
pub fn compaction_alarm(
    now: u64,
    due_since: u64,
    scheduled: Option<u64>,
    urgency: Urgency,
) -> Option<u64> {
    if urgency == Urgency::WhenIdle {
        return scheduled.is_none().then_some(now + IDLE_QUIET_MS);
    }
    let target = (now + COMPACTION_QUIET_MS).min(due_since + COMPACTION_MAX_DEFER_MS);
    match scheduled {
        Some(at) if target < at + COMPACTION_RESCHEDULE_STEP_MS => None,
        _ => Some(target),
    }
}

/// At the alarm: `None` to compact now, or the time to wait until (the
/// room is not idle yet: an edit came less than [`IDLE_QUIET_MS`] ago and
/// a socket is open).
pub fn idle_wait(
    now: u64,
    urgency: Urgency,
    last_edit_at: Option<u64>,
    open_sockets: usize,
) -> Option<u64> {
    if urgency == Urgency::Soon || open_sockets == 0 {
        return None;
    }
    let idle_at = last_edit_at?.saturating_add(IDLE_QUIET_MS);
    (now < idle_at).then_some(idle_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_soon_alarm_waits_for_quiet_but_not_past_the_cap() {
        let soon = Urgency::Soon;
        // First due at t=0: two seconds of quiet.
        assert_eq!(compaction_alarm(0, 0, None, soon), Some(2_000));
        // A save 100 ms later: not worth moving the alarm.
        assert_eq!(compaction_alarm(100, 0, Some(2_000), soon), None);
        // A save 1 s later moves it to 3 s.
        assert_eq!(compaction_alarm(1_000, 0, Some(2_000), soon), Some(3_000));
        // Steady saves cannot push it past 10 s after it became due.
        assert_eq!(compaction_alarm(9_000, 0, Some(9_500), soon), Some(10_000));
        assert_eq!(compaction_alarm(9_900, 0, Some(10_000), soon), None);
        assert_eq!(idle_wait(10_000, soon, Some(9_999), 3), None, "runs at once");
    }

    #[test]
    fn a_large_vault_compacts_when_the_room_falls_idle() {
        let big = Urgency::of(IDLE_COMPACTION_SNAPSHOT_BYTES, false);
        assert_eq!(big, Urgency::WhenIdle);
        assert_eq!(Urgency::of(IDLE_COMPACTION_SNAPSHOT_BYTES - 1, false), Urgency::Soon);
        assert_eq!(Urgency::of(u64::MAX, true), Urgency::Soon, "an urgent journal does not wait");
        // Set once; later saves leave it alone.
        assert_eq!(compaction_alarm(0, 0, None, big), Some(IDLE_QUIET_MS));
        assert_eq!(compaction_alarm(5_000, 0, Some(IDLE_QUIET_MS), big), None);
        // At the alarm: an edit 10 s ago, a socket open: wait for 30 s after it.
        assert_eq!(idle_wait(30_000, big, Some(20_000), 1), Some(50_000));
        // Idle long enough, or nobody connected: now.
        assert_eq!(idle_wait(50_000, big, Some(20_000), 1), None);
        assert_eq!(idle_wait(30_000, big, Some(29_999), 0), None);
        assert_eq!(idle_wait(30_000, big, None, 1), None, "no edit since activation");
    }
}
