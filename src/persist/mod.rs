//! The persistence coordinator: turns document changes into durable writes.
//!
//! [`CommitWindow`] decides when a save runs (group commit), widened by the
//! [`Governor`] as the day's rows approach the daily budget;
//! [`Coordinator`] decides, save by save, whether to append a delta to the
//! journal, fall back to a full checkpoint, or compact (spec 10.4); [`Policy`]
//! holds its thresholds and [`PersistenceHealth`] is what it reports in the
//! debug JSON (spec 9.2). Everything here is synchronous and owns neither the
//! store nor the document: the room passes both in.

mod commit_window;
mod coordinator;
mod governor;
mod health;
mod outcome;
mod policy;

pub use commit_window::{
    Commit, CommitWindow, COMMIT_WINDOW_VAR, DEFAULT_COMMIT_WINDOW_MS, MAX_COMMIT_WINDOW_MS,
    RETRY_FIRST_MS, RETRY_MAX_MS,
};
pub use coordinator::Coordinator;
pub use governor::{Governor, DAILY_ROW_BUDGET_VAR, DEFAULT_DAILY_ROW_BUDGET};
pub use health::{state_vector_prefix_hex, PersistenceHealth, Status};
pub use outcome::{Compaction, EmergencyCompact, SaveOutcome, SavePath, SkipReason};
pub use policy::{
    CompactionReason, FallbackReason, Policy, COMPACTION_BREAKER_LIMIT, COMPACTION_MAX_BYTES,
    COMPACTION_MAX_ENTRIES, DELTA_CHECKPOINT_BYTES, FAILURES_BEFORE_FALLBACK,
};
