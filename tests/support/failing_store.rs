//! `FailingStore`: a real `SqlDocStore` with switches that make appends or
//! checkpoint rewrites fail on demand, and counters of the calls it saw.

use std::cell::Cell;

use super::sqlite::SqliteExec;
use yaos_server::store::sql::SqlError;
use yaos_server::store::sql_store::SqlDocStore;
use yaos_server::store::{
    AppendOutcome, DocStore, JournalStats, LoadedState, StateWriter, StoreError,
};

pub struct FailingStore {
    pub inner: SqlDocStore<SqliteExec>,
    pub fail_append: Cell<bool>,
    pub fail_checkpoint: Cell<bool>,
    /// Failures are the platform's used-up daily quota.
    pub as_quota: Cell<bool>,
    pub append_calls: Cell<u32>,
    pub checkpoint_calls: Cell<u32>,
}

impl FailingStore {
    pub fn new() -> Self {
        FailingStore {
            inner: SqlDocStore::new(SqliteExec::in_memory()).expect("create tables"),
            fail_append: Cell::new(false),
            fail_checkpoint: Cell::new(false),
            as_quota: Cell::new(false),
            append_calls: Cell::new(0),
            checkpoint_calls: Cell::new(0),
        }
    }

    /// Rows in `snapshot_chunks` and `journal`, straight from SQL.
    pub fn rows(&self) -> (i64, i64) {
        let sql = self.inner.sql();
        (
            sql.scalar("SELECT COUNT(*) FROM snapshot_chunks"),
            sql.scalar("SELECT COUNT(*) FROM journal"),
        )
    }
}

impl FailingStore {
    fn injected(&self, what: &str) -> StoreError {
        let message = format!("injected {what} failure");
        if self.as_quota.get() {
            return StoreError::Sql(SqlError::QuotaExceeded(message));
        }
        StoreError::Other(message)
    }
}

impl DocStore for FailingStore {
    fn load(&self) -> Result<LoadedState, StoreError> {
        self.inner.load()
    }

    fn append_update(&self, update: &[u8]) -> Result<AppendOutcome, StoreError> {
        self.append_calls.set(self.append_calls.get() + 1);
        if self.fail_append.get() {
            return Err(self.injected("append"));
        }
        self.inner.append_update(update)
    }

    fn rewrite_checkpoint(&self, full_state: &[u8]) -> Result<(), StoreError> {
        self.checkpoint_calls.set(self.checkpoint_calls.get() + 1);
        if self.fail_checkpoint.get() {
            return Err(self.injected("checkpoint"));
        }
        self.inner.rewrite_checkpoint(full_state)
    }

    fn rewrite_checkpoint_streamed(
        &self,
        write_state: StateWriter<'_>,
    ) -> Result<usize, StoreError> {
        self.checkpoint_calls.set(self.checkpoint_calls.get() + 1);
        if self.fail_checkpoint.get() {
            return Err(self.injected("checkpoint"));
        }
        self.inner.rewrite_checkpoint_streamed(write_state)
    }

    fn journal_stats(&self) -> Result<JournalStats, StoreError> {
        self.inner.journal_stats()
    }
}
