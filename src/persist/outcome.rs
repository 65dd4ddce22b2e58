//! What the coordinator's operations report back: the outcome of a save
//! (spec 10.4's `append`/`checkpoint-fallback`/`immediate-fallback`/`skipped`)
//! and of an emergency compact (spec 10.6), in typed form.

use serde_json::{json, Value};

use super::policy::{CompactionReason, FallbackReason};
use crate::store::JournalStats;

/// What one call to [`Coordinator::save`](super::Coordinator::save) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Nothing was written.
    Skipped(SkipReason),
    /// The delta is durable in the journal; `Compaction` says what followed.
    Appended(Compaction),
    /// A full checkpoint was written instead of a journal entry.
    CheckpointFallback(FallbackReason),
    /// The append failed for the Nth time running and the checkpoint written
    /// right after it succeeded.
    ImmediateFallback,
    /// Nothing new is durable; the pending updates are kept for the next save.
    Failed(SavePath),
}

impl SaveOutcome {
    /// Whether every change the room holds is durable after this save, so
    /// the sender may be acknowledged: anything written, or nothing pending.
    /// The read-only fallback never writes, so it never acknowledges.
    pub fn is_durable(&self) -> bool {
        !matches!(self, SaveOutcome::Failed(_) | SaveOutcome::Skipped(SkipReason::ReadOnly))
    }

    /// The result name the original server reports (spec 10.4), plus `failed`.
    pub fn result_name(&self) -> &'static str {
        match self {
            SaveOutcome::Skipped(_) => "skipped",
            SaveOutcome::Appended(_) => "append",
            SaveOutcome::CheckpointFallback(_) => "checkpoint-fallback",
            SaveOutcome::ImmediateFallback => "immediate-fallback",
            SaveOutcome::Failed(_) => "failed",
        }
    }
}

/// Why a save wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Read-only (kv-fallback) mode: the server never writes.
    ReadOnly,
    /// No document update arrived since the last durable write.
    Clean,
}

/// The write that failed in a [`SaveOutcome::Failed`] save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavePath {
    /// The journal append failed (and no immediate fallback was due).
    Append,
    /// A checkpoint fallback chosen up front failed.
    CheckpointFallback,
    /// The append failed, then so did the immediate checkpoint.
    ImmediateFallback,
}

/// What followed a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compaction {
    /// The journal is within the policy's limits.
    NotNeeded,
    Succeeded(CompactionReason),
    /// The rewrite failed; the append itself stays durable.
    Failed(CompactionReason),
    /// Compaction was due but skipped: too many consecutive failures.
    BreakerOpen,
    /// Compaction is due and left for later ([`Policy::defer_compaction`](super::Policy)):
    /// the caller runs [`Coordinator::compact_if_due`](super::Coordinator::compact_if_due)
    /// after acknowledging the save.
    Deferred(CompactionReason),
}

/// Result of [`Coordinator::compact_now`](super::Coordinator::compact_now) (spec 10.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmergencyCompact {
    /// The journal was already empty.
    Noop {
        before: JournalStats,
        after: JournalStats,
    },
    Compacted {
        before: JournalStats,
        after: JournalStats,
    },
    Failed {
        before: JournalStats,
        error: String,
    },
    /// Not run: the room serves the read-only key-value fallback, and a
    /// checkpoint of that document would overwrite SQL rows it lacks.
    Refused {
        error: String,
    },
}

impl EmergencyCompact {
    /// The admin route's JSON answer.
    pub fn to_json(&self) -> Value {
        match self {
            EmergencyCompact::Noop { before, after } => {
                json!({"status": "noop", "journalBefore": journal_json(*before), "journalAfter": journal_json(*after)})
            }
            EmergencyCompact::Compacted { before, after } => {
                json!({"status": "compacted", "journalBefore": journal_json(*before), "journalAfter": journal_json(*after)})
            }
            EmergencyCompact::Failed { before, error } => {
                json!({"status": "failed", "journalBefore": journal_json(*before), "error": error})
            }
            // "aborted", as the key-value cleanup's refusal is spelled.
            EmergencyCompact::Refused { error } => json!({"status": "aborted", "error": error}),
        }
    }
}

/// Journal statistics as the debug JSON and the admin answers spell them.
pub(super) fn journal_json(stats: JournalStats) -> Value {
    json!({"entryCount": stats.entry_count, "totalBytes": stats.total_bytes})
}
