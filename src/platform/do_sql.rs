//! `SqlExec` over the Durable Object SQLite API (`ctx.storage.sql`).
//!
//! Statements run synchronously. Transactions go through the storage's
//! `transactionSync`, which workers-rs 0.8 does not bind, hence the small
//! extern below: workerd forbids `BEGIN`/`COMMIT` statements in `exec`.
//! A test-only fault ([`FAIL_CHUNK_INSERT_VAR`]) fails a checkpoint's body
//! halfway, so the end-to-end tests see the rollback on the real platform.
//! Every statement's billed rows are counted ([`Usage`]). The platform's
//! errors are classified as they come ([`SqlError::from_platform`]), so a
//! used-up daily quota is told from a failing statement; a second test-only
//! fault ([`QUOTA_REFUSALS_VAR`]) refuses writes the way the quota does.

use std::cell::Cell;

use super::runtime::now_ms;
use crate::store::sql::{SqlError, SqlExec, SqlParam, SqlValue};
use crate::store::usage::{Meter, Usage};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{console_warn, SqlCursor, SqlStorage, SqlStorageValue, Storage};

#[wasm_bindgen]
extern "C" {
    /// The slice of `DurableObjectStorage` this module needs beyond workers-rs.
    type SyncTransactionStorage;

    /// Runs the closure inside one SQLite transaction; if the closure throws,
    /// the transaction is rolled back and the exception rethrown.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &SyncTransactionStorage,
        body: &mut dyn FnMut() -> Result<JsValue, JsValue>,
    ) -> Result<JsValue, JsValue>;
}

/// Test only, never set in production: with `N`, the `N`-th insert of a
/// snapshot chunk in this activation, and every one after it, fails, so the
/// end-to-end tests can make a checkpoint's transaction body fail halfway
/// under `wrangler dev` and see `transactionSync` roll it back.
pub const FAIL_CHUNK_INSERT_VAR: &str = "YAOS_TEST_FAIL_SNAPSHOT_CHUNK_INSERT";

/// Test only, never set in production: with `N`, the first `N` writes of
/// document rows (journal appends, snapshot chunks) in this activation are
/// refused with an error shaped like the platform's when the free plan's
/// daily rows written are used up, so the end-to-end tests can watch a room
/// go through a quota refusal and out of it.
pub const QUOTA_REFUSALS_VAR: &str = "YAOS_TEST_QUOTA_REFUSALS";
/// The refusal's text.
const QUOTA_REFUSAL: &str = "Exceeded allowed rows written in Durable Objects free tier.";

/// The Durable Object's SQLite database.
pub struct DoSql {
    sql: SqlStorage,
    storage: Storage,
    /// Chunk inserts left before the injected failure ([`FAIL_CHUNK_INSERT_VAR`]).
    chunk_inserts_left: Cell<Option<u32>>,
    /// Document-row writes still to refuse ([`QUOTA_REFUSALS_VAR`]).
    quota_refusals_left: Cell<u32>,
    /// The rows every statement's cursor reported (shared with the room's
    /// key-value store, whose rows are billed the same way).
    usage: Meter,
}

impl DoSql {
    pub fn new(storage: Storage) -> Self {
        DoSql {
            sql: storage.sql(),
            storage,
            chunk_inserts_left: Cell::new(None),
            quota_refusals_left: Cell::new(0),
            usage: Meter::default(),
        }
    }

    /// [`DoSql::new`] counting into `meter`.
    pub fn metered(storage: Storage, meter: Meter) -> Self {
        DoSql { usage: meter, ..DoSql::new(storage) }
    }

    /// With the test-only fault of [`FAIL_CHUNK_INSERT_VAR`] when `setting`
    /// (that variable) is a number from 1.
    pub fn with_test_fault(mut self, setting: Option<&str>) -> Self {
        let nth = test_count(setting);
        if let Some(n) = nth {
            console_warn!("{FAIL_CHUNK_INSERT_VAR}={n}: snapshot chunk insert {n} and later fail (tests only)");
        }
        self.chunk_inserts_left = Cell::new(nth.map(|n| n - 1));
        self
    }

    /// With the test-only refusals of [`QUOTA_REFUSALS_VAR`] when `setting`
    /// (that variable) is a number from 1.
    pub fn with_quota_refusals(self, setting: Option<&str>) -> Self {
        let n = test_count(setting).unwrap_or(0);
        if n > 0 {
            console_warn!("{QUOTA_REFUSALS_VAR}={n}: the first {n} document writes are refused as over quota (tests only)");
        }
        self.quota_refusals_left.set(n);
        self
    }

    /// Adds what a statement's cursor reports it read and wrote (billed
    /// rows; a rolled-back transaction's writes are counted all the same).
    fn count(&self, cursor: &SqlCursor) {
        let (read, written) = (cursor.rows_read() as u64, cursor.rows_written() as u64);
        self.usage.borrow_mut().record_rows(now_ms(), read, written);
    }

    /// The injected failure, when it is due for `sql`.
    fn injected(&self, sql: &str) -> Result<(), SqlError> {
        let document_write = sql.starts_with("INSERT INTO journal")
            || sql.starts_with("INSERT INTO snapshot_chunks");
        let refusals = self.quota_refusals_left.get();
        if document_write && refusals > 0 {
            self.quota_refusals_left.set(refusals - 1);
            return Err(SqlError::from_platform(QUOTA_REFUSAL.to_owned()));
        }
        let Some(left) = self.chunk_inserts_left.get() else { return Ok(()) };
        if !sql.starts_with("INSERT INTO snapshot_chunks") {
            return Ok(());
        }
        if left > 0 {
            self.chunk_inserts_left.set(Some(left - 1));
            return Ok(());
        }
        Err(SqlError::Exec(format!("injected by {FAIL_CHUNK_INSERT_VAR}")))
    }
}

fn bind(param: &SqlParam<'_>) -> JsValue {
    match param {
        SqlParam::Null => JsValue::NULL,
        // Values here are row ids and byte counts, far inside ±2^53.
        SqlParam::Integer(i) => JsValue::from_f64(*i as f64),
        SqlParam::Text(s) => JsValue::from_str(s),
        // A fresh Uint8Array that owns exactly these bytes (never a view into
        // a larger buffer, which SQLite would store whole).
        SqlParam::Blob(bytes) => js_sys::Uint8Array::from(*bytes).into(),
    }
}

fn convert(value: SqlStorageValue) -> SqlValue {
    match value {
        SqlStorageValue::Null => SqlValue::Null,
        SqlStorageValue::Boolean(b) => SqlValue::Integer(i64::from(b)),
        SqlStorageValue::Integer(i) => SqlValue::Integer(i),
        SqlStorageValue::Float(f) => SqlValue::Real(f),
        SqlStorageValue::String(s) => SqlValue::Text(s),
        SqlStorageValue::Blob(b) => SqlValue::Blob(b),
    }
}

impl SqlExec for DoSql {
    fn query(
        &self,
        sql: &str,
        params: &[SqlParam<'_>],
        on_row: &mut dyn FnMut(Vec<SqlValue>) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        let bindings: Vec<JsValue> = params.iter().map(bind).collect();
        let cursor =
            self.sql.exec_raw(sql, bindings).map_err(|e| SqlError::from_platform(e.to_string()))?;
        let result = cursor.raw().try_for_each(|row| {
            let row = row.map_err(|e| SqlError::from_platform(e.to_string()))?;
            on_row(row.into_iter().map(convert).collect())
        });
        self.count(&cursor);
        result
    }

    /// `exec` runs a statement that returns no rows to completion before it
    /// returns (its first step is its last), so the cursor is not walked:
    /// that saves four JavaScript calls on every journal append.
    fn execute(&self, sql: &str, params: &[SqlParam<'_>]) -> Result<(), SqlError> {
        self.injected(sql)?;
        let bindings: Vec<JsValue> = params.iter().map(bind).collect();
        let cursor =
            self.sql.exec_raw(sql, bindings).map_err(|e| SqlError::from_platform(e.to_string()))?;
        self.count(&cursor);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        Some(self.usage.borrow().clone())
    }

    fn transaction(&self, body: &mut dyn FnMut() -> Result<(), SqlError>) -> Result<(), SqlError> {
        let storage: &SyncTransactionStorage = self.storage.as_raw().unchecked_ref();
        let mut failure: Option<SqlError> = None;
        let mut run = || match body() {
            Ok(()) => Ok(JsValue::UNDEFINED),
            Err(e) => {
                let message = e.to_string();
                failure = Some(e);
                Err(JsValue::from_str(&message))
            }
        };
        match storage.transaction_sync(&mut run) {
            Ok(_) => Ok(()),
            Err(js) => Err(match failure {
                // Rolled back too, but the quota must stay recognisable.
                Some(e @ SqlError::QuotaExceeded(_)) => e,
                Some(e) => SqlError::RolledBack(e.to_string()),
                None => SqlError::RolledBack(format!("{js:?}")),
            }),
        }
    }
}

/// A test-only setting's count: a whole number from 1, else none.
fn test_count(setting: Option<&str>) -> Option<u32> {
    setting.and_then(|v| v.trim().parse::<u32>().ok()).filter(|n| *n >= 1)
}
