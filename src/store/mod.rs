//! Document persistence: the SQL store the server writes and the legacy
//! key-value reader it migrates from (the migration itself: `crate::migration`).
//!
//! [`DocStore`] is the narrow interface the persistence coordinator needs; the
//! one production implementation is [`sql_store::SqlDocStore`]. [`usage`]
//! counts the rows the platform bills the stores for.

pub mod device_rows;
pub mod kv;
pub mod legacy_kv;
pub mod sql;
pub mod sql_store;
pub mod usage;

use thiserror::Error;

/// Row count and summed byte length of the journal (spec 10.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub entry_count: u64,
    pub total_bytes: u64,
}

/// Everything a load reads: the snapshot (chunks concatenated) and the journal
/// rows in replay order. Replaying the snapshot then each row rebuilds the doc.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadedState {
    pub snapshot: Option<Vec<u8>>,
    pub journal: Vec<Vec<u8>>,
    pub stats: JournalStats,
}

impl LoadedState {
    /// True when storage holds neither a snapshot nor a journal row.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.journal.is_empty()
    }
}

/// Result of appending one delta to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The row is durable; these are the journal statistics after it.
    Appended(JournalStats),
    /// The delta is over the per-row limit; nothing was written. The caller is
    /// expected to write a full checkpoint instead.
    Oversized,
}

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Sql(#[from] sql::SqlError),
    /// Stored data that cannot be what this server wrote.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
    /// A failure injected or reported by a wrapper (tests, platform adapters).
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Whether the platform refused the write for a used-up daily allowance
    /// ([`sql::SqlError::QuotaExceeded`]).
    pub fn is_quota_exceeded(&self) -> bool {
        matches!(self, StoreError::Sql(sql::SqlError::QuotaExceeded(_)))
    }

    /// A short class name, used where the debug JSON promises
    /// `"<ErrorClass>: <message>"`.
    pub fn class_name(&self) -> &'static str {
        match self {
            StoreError::Sql(_) => "SqlError",
            StoreError::Corrupt(_) => "CorruptStateError",
            StoreError::Other(_) => "StoreError",
        }
    }
}

/// What the persistence coordinator needs from storage. All calls are
/// synchronous: Durable Object SQLite is, and a call returning `Ok` means the
/// write is durable (the platform's output gate holds replies until it is).
pub trait DocStore {
    fn load(&self) -> Result<LoadedState, StoreError>;
    fn append_update(&self, update: &[u8]) -> Result<AppendOutcome, StoreError>;
    /// Atomically replaces the snapshot with `full_state` and clears the journal.
    fn rewrite_checkpoint(&self, full_state: &[u8]) -> Result<(), StoreError>;
    fn journal_stats(&self) -> Result<JournalStats, StoreError>;

    /// [`DocStore::rewrite_checkpoint`] for a full state produced while it is
    /// written: `write_state` passes it, in order and in pieces of any size,
    /// to the sink it is given. Returns the state's length in bytes.
    ///
    /// A store that writes the pieces as they come never holds the whole
    /// state, which for a large vault is what sets the peak memory of a
    /// checkpoint. This default collects them and calls `rewrite_checkpoint`.
    fn rewrite_checkpoint_streamed(
        &self,
        write_state: StateWriter<'_>,
    ) -> Result<usize, StoreError> {
        let mut full_state = Vec::new();
        write_state(&mut |piece| full_state.extend_from_slice(piece));
        self.rewrite_checkpoint(&full_state)?;
        Ok(full_state.len())
    }
}

/// Produces a full state by passing it, piece by piece, to the given sink.
pub type StateWriter<'a> = &'a mut dyn FnMut(&mut dyn FnMut(&[u8]));
