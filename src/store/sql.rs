//! The SQL-execution seam: the few operations `SqlDocStore` needs from a
//! SQLite database. Implemented by the Durable Object SQL API (in `platform`)
//! and by `rusqlite` (in the native tests).

use thiserror::Error;

use crate::store::usage::Usage;

/// A bound statement parameter. Borrowed, so large blobs (snapshot chunks
/// sliced from a full update) are bound without an intermediate copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SqlParam<'a> {
    Null,
    Integer(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value read from a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    /// The name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            SqlValue::Null => "null",
            SqlValue::Integer(_) => "integer",
            SqlValue::Real(_) => "real",
            SqlValue::Text(_) => "text",
            SqlValue::Blob(_) => "blob",
        }
    }
}

#[derive(Debug, Error)]
pub enum SqlError {
    /// The database refused or failed the statement.
    #[error("sql statement failed: {0}")]
    Exec(String),
    /// A column held a value of an unexpected type.
    #[error("unexpected sql value: {0}")]
    Type(String),
    /// The transaction body failed; everything it did was rolled back.
    #[error("transaction rolled back: {0}")]
    RolledBack(String),
    /// The platform refused the statement because the account's daily
    /// allowance (the free plan's rows written, say) is used up; it lifts at
    /// 00:00 UTC or when the plan changes.
    #[error("daily quota exceeded: {0}")]
    QuotaExceeded(String),
}

/// Words that, together, mark a platform error as a used-up daily
/// allowance. Cloudflare does not document the exact text of the Durable
/// Object free-tier errors (its limits page only says further operations
/// "fail with an error"), so the check is by words, not one string: the
/// message must say "exceeded" and one of the others.
const QUOTA_MARKERS: [&str; 4] = ["free tier", "daily", "quota", "limit"];

impl SqlError {
    /// The error for a statement the platform refused with `message`.
    pub fn from_platform(message: String) -> SqlError {
        let lower = message.to_ascii_lowercase();
        if lower.contains("exceeded") && QUOTA_MARKERS.iter().any(|m| lower.contains(m)) {
            SqlError::QuotaExceeded(message)
        } else {
            SqlError::Exec(message)
        }
    }
}

/// Runs SQL against one SQLite database.
pub trait SqlExec {
    /// Runs one statement, handing each result row to `on_row` in order.
    /// Rows are streamed so large results need not be held twice.
    fn query(
        &self,
        sql: &str,
        params: &[SqlParam<'_>],
        on_row: &mut dyn FnMut(Vec<SqlValue>) -> Result<(), SqlError>,
    ) -> Result<(), SqlError>;

    /// Runs one statement and discards any rows.
    fn execute(&self, sql: &str, params: &[SqlParam<'_>]) -> Result<(), SqlError> {
        self.query(sql, params, &mut |_| Ok(()))
    }

    /// Runs `body` atomically: its statements commit together, or, if it
    /// returns an error, none of them take effect.
    fn transaction(&self, body: &mut dyn FnMut() -> Result<(), SqlError>) -> Result<(), SqlError>;

    /// The rows the platform billed this connection for, where it counts
    /// them (the Durable Object's SQL does; SQLite in tests does not).
    fn usage(&self) -> Option<Usage> {
        None
    }
}

/// A shared handle runs against the same database, so several owners (two
/// activations of one room in a test or profile) can use one connection.
impl<E: SqlExec> SqlExec for std::rc::Rc<E> {
    fn query(
        &self,
        sql: &str,
        params: &[SqlParam<'_>],
        on_row: &mut dyn FnMut(Vec<SqlValue>) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        (**self).query(sql, params, on_row)
    }

    fn transaction(&self, body: &mut dyn FnMut() -> Result<(), SqlError>) -> Result<(), SqlError> {
        (**self).transaction(body)
    }

    fn usage(&self) -> Option<Usage> {
        (**self).usage()
    }
}

#[cfg(test)]
mod tests {
    use super::SqlError;

    #[test]
    fn a_used_up_allowance_is_told_from_other_failures() {
        for quota in [
            "Exceeded allowed rows written in Durable Objects free tier.",
            "Error: daily row write limit exceeded",
            "D1_ERROR: Exceeded daily quota",
        ] {
            assert!(
                matches!(SqlError::from_platform(quota.into()), SqlError::QuotaExceeded(_)),
                "{quota}"
            );
        }
        for other in [
            "database or disk is full: SQLITE_FULL",
            "string or blob too big: SQLITE_TOOBIG",
            "no such table: journal",
        ] {
            assert!(matches!(SqlError::from_platform(other.into()), SqlError::Exec(_)), "{other}");
        }
    }
}
