//! A `rusqlite` implementation of `SqlExec` for the native tests: an
//! in-memory SQLite database, with an injectable statement failure so tests
//! can break a transaction halfway through and watch it roll back.

use std::cell::RefCell;
use std::rc::Rc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use yaos_server::store::sql::{SqlError, SqlExec, SqlParam, SqlValue};

/// An in-memory SQLite database behind the `SqlExec` seam.
pub struct SqliteExec {
    conn: Connection,
    fault: RefCell<Option<Fault>>,
    /// Statements containing one of these fail every time, until healed.
    broken: RefCell<Vec<String>>,
    /// Where writes are recorded (`"sql INSERT INTO journal"`, ...), when set.
    log: Option<Rc<RefCell<Vec<String>>>>,
    /// Blobs read by statements containing the pattern come back with one
    /// byte string replaced by another (storage that reads back wrong).
    corrupt: RefCell<Option<Corruption>>,
}

/// Blobs read by statements containing `pattern` have `from` replaced by `to`.
struct Corruption {
    pattern: String,
    from: Vec<u8>,
    to: Vec<u8>,
}

/// Fail the statement containing `pattern` once `skip` such statements ran.
struct Fault {
    pattern: String,
    skip: usize,
}

impl SqliteExec {
    pub fn in_memory() -> Self {
        let conn = Connection::open_in_memory().expect("open in-memory sqlite");
        SqliteExec {
            conn,
            fault: RefCell::new(None),
            broken: RefCell::default(),
            log: None,
            corrupt: RefCell::default(),
        }
    }

    /// A database that records each write statement (its first three words)
    /// in `log`, so tests can order storage writes against other events.
    pub fn logged(log: Rc<RefCell<Vec<String>>>) -> Self {
        SqliteExec { log: Some(log), ..SqliteExec::in_memory() }
    }

    /// Makes every statement containing `pattern` fail until [`Self::heal`].
    pub fn break_statements(&self, pattern: &str) {
        self.broken.borrow_mut().push(pattern.to_owned());
    }

    pub fn heal(&self) {
        self.broken.borrow_mut().clear();
    }

    /// Makes one future statement fail: the first containing `pattern` after
    /// `skip` matching statements have run. The fault then clears itself.
    pub fn fail_statement(&self, pattern: &str, skip: usize) {
        *self.fault.borrow_mut() = Some(Fault { pattern: pattern.to_owned(), skip });
    }

    /// Disarms a fault set by [`Self::fail_statement`] that has not fired.
    pub fn clear_fault(&self) {
        self.fault.borrow_mut().take();
    }

    /// Makes blobs read by statements containing `pattern` come back with
    /// every `from` replaced by `to` (same length: the rows still parse).
    pub fn corrupt_reads(&self, pattern: &str, from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let (pattern, from, to) = (pattern.to_owned(), from.to_vec(), to.to_vec());
        *self.corrupt.borrow_mut() = Some(Corruption { pattern, from, to });
    }

    /// Runs a query returning one integer, for assertions on raw tables.
    pub fn scalar(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |row| row.get(0)).expect(sql)
    }

    fn check_fault(&self, sql: &str) -> Result<(), SqlError> {
        if self.broken.borrow().iter().any(|p| sql.contains(p.as_str())) {
            return Err(SqlError::Exec(format!("injected failure: {sql}")));
        }
        if let Some(log) = &self.log {
            // The device ledger's rows are not the document's: their own
            // tests check them, and the write orders logged here are the
            // document's.
            let ledger = sql.contains("device_ledger");
            if (sql.starts_with("INSERT") || sql.starts_with("DELETE")) && !ledger {
                let words: Vec<&str> = sql.split_whitespace().take(3).collect();
                log.borrow_mut().push(format!("sql {}", words.join(" ")));
            }
        }
        let mut fault = self.fault.borrow_mut();
        let Some(active) = fault.as_mut() else { return Ok(()) };
        if !sql.contains(&active.pattern) {
            return Ok(());
        }
        if active.skip > 0 {
            active.skip -= 1;
            return Ok(());
        }
        *fault = None;
        Err(SqlError::Exec(format!("injected failure: {sql}")))
    }
}

/// Binds a `SqlParam` without copying its bytes.
struct Param<'a>(SqlParam<'a>);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            SqlParam::Null => ValueRef::Null,
            SqlParam::Integer(n) => ValueRef::Integer(n),
            SqlParam::Text(text) => ValueRef::Text(text.as_bytes()),
            SqlParam::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// Replaces every `from` in `bytes` by `to`, of the same length.
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + found..at + found + from.len()].copy_from_slice(to);
        at += found + from.len();
    }
}

fn exec_error(error: rusqlite::Error) -> SqlError {
    SqlError::Exec(error.to_string())
}

fn to_value(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Integer(n),
        ValueRef::Real(x) => SqlValue::Real(x),
        ValueRef::Text(text) => SqlValue::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => SqlValue::Blob(bytes.to_vec()),
    }
}

impl SqlExec for SqliteExec {
    fn query(
        &self,
        sql: &str,
        params: &[SqlParam<'_>],
        on_row: &mut dyn FnMut(Vec<SqlValue>) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        self.check_fault(sql)?;
        let mut statement = self.conn.prepare(sql).map_err(exec_error)?;
        let columns = statement.column_count();
        let bound: Vec<Param<'_>> = params.iter().copied().map(Param).collect();
        let mut rows =
            statement.query(rusqlite::params_from_iter(bound.iter())).map_err(exec_error)?;
        while let Some(row) = rows.next().map_err(exec_error)? {
            let mut values = Vec::with_capacity(columns);
            for column in 0..columns {
                let mut value = to_value(row.get_ref(column).map_err(exec_error)?);
                if let (SqlValue::Blob(bytes), Some(c)) = (&mut value, &*self.corrupt.borrow()) {
                    if sql.contains(c.pattern.as_str()) {
                        replace_all(bytes, &c.from, &c.to);
                    }
                }
                values.push(value);
            }
            on_row(values)?;
        }
        Ok(())
    }

    fn transaction(&self, body: &mut dyn FnMut() -> Result<(), SqlError>) -> Result<(), SqlError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(exec_error)?;
        let outcome = body().and_then(|()| self.conn.execute_batch("COMMIT").map_err(exec_error));
        outcome.map_err(|error| {
            // Best effort: after a failed COMMIT SQLite may already have rolled back.
            let _ = self.conn.execute_batch("ROLLBACK");
            SqlError::RolledBack(error.to_string())
        })
    }
}
