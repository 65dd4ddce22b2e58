//! The save path's thresholds (spec 10.4) and the reasons it reports.
//!
//! Kept apart from the coordinator so the decisions are pure functions that
//! can be tested at their exact boundaries, and so the room can swap in other
//! numbers (for example, larger compaction limits for a large vault).

use serde::Serialize;

use crate::store::JournalStats;

/// A delta larger than this is written as a full checkpoint (2 MiB).
pub const DELTA_CHECKPOINT_BYTES: usize = 2_097_152;
/// Consecutive failed saves after which the next save writes a checkpoint.
pub const FAILURES_BEFORE_FALLBACK: u32 = 2;
/// Compact once the journal holds more entries than this.
pub const COMPACTION_MAX_ENTRIES: u64 = 50;
/// Compact once the journal holds more bytes than this (1 MiB).
pub const COMPACTION_MAX_BYTES: u64 = 1_048_576;
/// Consecutive compaction failures that open the circuit breaker.
pub const COMPACTION_BREAKER_LIMIT: u32 = 3;
/// With [`Policy::scale_to_snapshot`], the journal may reach this fraction
/// (1/N) of the snapshot's size before it is folded in.
pub const SCALED_BYTES_DIVISOR: u64 = 4;
/// With [`Policy::scale_to_snapshot`], one journal entry is allowed per this
/// many snapshot bytes...
pub const SCALED_BYTES_PER_ENTRY: u64 = 1024;
/// ...up to this many entries, which bounds the replay work of a cold load.
pub const SCALED_MAX_ENTRIES_CAP: u64 = 5_000;

/// However much slack the budget governor grants, a journal grows to at
/// most this many entries before it is compacted (a cold load replays each)...
pub const MAX_SLACK_ENTRIES: u64 = 20_000;
/// ...and this many bytes (16 MiB; a cold load holds them).
pub const MAX_SLACK_JOURNAL_BYTES: u64 = 16 * 1024 * 1024;

/// The coordinator's thresholds. `Default` gives the spec's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Deltas over this many bytes skip the journal for a full checkpoint.
    pub delta_checkpoint_bytes: usize,
    /// With at least this many consecutive failures a save checkpoints.
    pub failures_before_fallback: u32,
    /// The journal is compacted when its entry count exceeds this.
    pub compaction_max_entries: u64,
    /// The journal is compacted when its byte total exceeds this.
    pub compaction_max_bytes: u64,
    /// Consecutive compaction failures after which compaction is skipped
    /// until some checkpoint succeeds.
    pub compaction_breaker_limit: u32,
    /// Grow the compaction thresholds with the snapshot (see
    /// [`Policy::scaled_to_snapshot`]). Off by default: the spec's fixed
    /// 50 entries / 1 MiB.
    pub scale_to_snapshot: bool,
    /// Leave a due compaction out of the save that made it due: the save
    /// returns `Compaction::Deferred` and the caller compacts later, so the
    /// edit that crossed the threshold is acknowledged without waiting for a
    /// vault-sized rewrite. Off by default: the spec compacts inside the save.
    pub defer_compaction: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            delta_checkpoint_bytes: DELTA_CHECKPOINT_BYTES,
            failures_before_fallback: FAILURES_BEFORE_FALLBACK,
            compaction_max_entries: COMPACTION_MAX_ENTRIES,
            compaction_max_bytes: COMPACTION_MAX_BYTES,
            compaction_breaker_limit: COMPACTION_BREAKER_LIMIT,
            scale_to_snapshot: false,
            defer_compaction: false,
        }
    }
}

impl Policy {
    /// The spec's thresholds, grown for large vaults. Each compaction rewrites
    /// the whole snapshot, so fixed thresholds make a 20 MB vault rewrite 20 MB
    /// every 50 edits. Scaled, the journal may reach a quarter of the snapshot
    /// (write amplification stays near 5x) and one entry per KiB of snapshot,
    /// capped so a cold load replays a bounded number of rows. Small vaults
    /// keep the spec's 50 entries / 1 MiB. A no-op unless `scale_to_snapshot`.
    pub fn scaled_to_snapshot(self, snapshot_bytes: u64) -> Self {
        if !self.scale_to_snapshot {
            return self;
        }
        let max_entries = (snapshot_bytes / SCALED_BYTES_PER_ENTRY).min(SCALED_MAX_ENTRIES_CAP);
        Policy {
            compaction_max_bytes: COMPACTION_MAX_BYTES.max(snapshot_bytes / SCALED_BYTES_DIVISOR),
            compaction_max_entries: COMPACTION_MAX_ENTRIES.max(max_entries),
            ..self
        }
    }

    /// The compaction thresholds times `slack` (the budget governor's),
    /// within [`MAX_SLACK_ENTRIES`] and [`MAX_SLACK_JOURNAL_BYTES`] but never
    /// below their own values.
    pub fn with_slack(self, slack: u64) -> Self {
        if slack <= 1 {
            return self;
        }
        let grow = |value: u64, cap: u64| value.max(value.saturating_mul(slack).min(cap));
        Policy {
            compaction_max_entries: grow(self.compaction_max_entries, MAX_SLACK_ENTRIES),
            compaction_max_bytes: grow(self.compaction_max_bytes, MAX_SLACK_JOURNAL_BYTES),
            ..self
        }
    }

    /// Why a save with this delta size and failure history must write a full
    /// checkpoint instead of appending, or `None` to append.
    pub fn fallback_reason(
        &self,
        delta_bytes: usize,
        consecutive_failures: u32,
    ) -> Option<FallbackReason> {
        if delta_bytes > self.delta_checkpoint_bytes {
            Some(FallbackReason::DeltaExceedsThreshold)
        } else if consecutive_failures >= self.failures_before_fallback {
            Some(FallbackReason::ConsecutiveFailures)
        } else {
            None
        }
    }

    /// Why a journal of this size should be compacted, or `None` if it is
    /// within both limits. The entry count is checked first.
    pub fn compaction_reason(&self, stats: JournalStats) -> Option<CompactionReason> {
        if stats.entry_count > self.compaction_max_entries {
            Some(CompactionReason::EntryCountExceeded)
        } else if stats.total_bytes > self.compaction_max_bytes {
            Some(CompactionReason::ByteSizeExceeded)
        } else {
            None
        }
    }

    /// True once this many consecutive compaction failures open the breaker.
    pub fn breaker_open(&self, consecutive_compaction_failures: u32) -> bool {
        consecutive_compaction_failures >= self.compaction_breaker_limit
    }
}

/// Why a save wrote a full checkpoint instead of a journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// The delta is over [`Policy::delta_checkpoint_bytes`].
    DeltaExceedsThreshold,
    /// Earlier saves failed. Also the reason traced when the store rejects a
    /// delta as oversized: the spec keeps that quirk of the original server.
    ConsecutiveFailures,
    /// The pending updates could not be merged into one delta (they came from
    /// yrs, so this means a bug); the full state is always writable.
    DeltaMergeFailed,
}

impl FallbackReason {
    /// The name used in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::DeltaExceedsThreshold => "delta_exceeds_threshold",
            FallbackReason::ConsecutiveFailures => "consecutive_failures",
            FallbackReason::DeltaMergeFailed => "delta_merge_failed",
        }
    }
}

/// Why the journal was folded into a new snapshot (`lastCompactionReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionReason {
    EntryCountExceeded,
    ByteSizeExceeded,
    /// The admin route asked for it (spec 10.6).
    EmergencyCompact,
}

impl CompactionReason {
    /// The name used in traces and the debug JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CompactionReason::EntryCountExceeded => "entry_count_exceeded",
            CompactionReason::ByteSizeExceeded => "byte_size_exceeded",
            CompactionReason::EmergencyCompact => "emergency_compact",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scaling_keeps_small_vaults_on_the_spec_numbers_and_grows_for_large_ones() {
        let scaled = Policy { scale_to_snapshot: true, ..Policy::default() };
        let small = scaled.scaled_to_snapshot(10_000);
        assert_eq!((small.compaction_max_entries, small.compaction_max_bytes), (50, 1_048_576));
        let large = scaled.scaled_to_snapshot(20_000_000);
        assert_eq!((large.compaction_max_entries, large.compaction_max_bytes), (5_000, 5_000_000));
        let fixed = Policy::default().scaled_to_snapshot(20_000_000);
        assert_eq!(fixed, Policy::default());
    }

    use super::*;

    fn stats(entry_count: u64, total_bytes: u64) -> JournalStats {
        JournalStats { entry_count, total_bytes }
    }

    #[test]
    fn fallback_boundaries() {
        let policy = Policy::default();
        let cases = [
            (2_097_152, 0, None),
            (2_097_153, 0, Some(FallbackReason::DeltaExceedsThreshold)),
            (10, 1, None),
            (10, 2, Some(FallbackReason::ConsecutiveFailures)),
            (2_097_153, 5, Some(FallbackReason::DeltaExceedsThreshold)),
        ];
        for (delta, failures, expected) in cases {
            assert_eq!(
                policy.fallback_reason(delta, failures),
                expected,
                "delta {delta} failures {failures}"
            );
        }
    }

    #[test]
    fn compaction_boundaries() {
        let policy = Policy::default();
        let cases = [
            (stats(50, 1_048_576), None),
            (stats(51, 10), Some(CompactionReason::EntryCountExceeded)),
            (stats(1, 1_048_577), Some(CompactionReason::ByteSizeExceeded)),
            (stats(51, 1_048_577), Some(CompactionReason::EntryCountExceeded)),
        ];
        for (journal, expected) in cases {
            assert_eq!(policy.compaction_reason(journal), expected, "{journal:?}");
        }
    }

    #[test]
    fn breaker_opens_at_the_limit() {
        let policy = Policy::default();
        assert!(!policy.breaker_open(2));
        assert!(policy.breaker_open(3));
    }

    #[test]
    fn compaction_reasons_serialize_as_their_trace_names() {
        for reason in [
            CompactionReason::EntryCountExceeded,
            CompactionReason::ByteSizeExceeded,
            CompactionReason::EmergencyCompact,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }
}
