//! [`SqlDocStore`]: the document store over Durable Object SQLite (spec 10.1).
//!
//! The snapshot is the compacted full update cut into 1 MiB rows of
//! `snapshot_chunks`; `journal` holds one delta per row, replayed in `id`
//! order; `_migration_meta` records how the data arrived from the legacy
//! key-value format. Everything read back is validated, so damaged rows fail
//! the load loudly instead of silently rebuilding a different document.

use super::sql::{SqlError, SqlExec, SqlParam, SqlValue};
use super::{AppendOutcome, DocStore, JournalStats, LoadedState, StateWriter, StoreError};

/// Size of every snapshot chunk but the last (spec 10.1: 1 MiB).
pub const SNAPSHOT_CHUNK_BYTES: usize = 1_048_576;

/// Largest delta one journal row may hold (spec 10.1: 1.5 MiB). Larger deltas
/// are answered with [`AppendOutcome::Oversized`] and written as a checkpoint.
pub const MAX_JOURNAL_ENTRY_BYTES: usize = 1_572_864;

const CREATE_TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS snapshot_chunks (chunk_index INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL, \
     byte_length INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')))",
    "CREATE TABLE IF NOT EXISTS _migration_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/// The SQL-backed [`DocStore`]. Generic over [`SqlExec`] so the same code runs
/// on Durable Object SQLite and on `rusqlite` in native tests.
pub struct SqlDocStore<E: SqlExec> {
    sql: E,
    /// The journal's statistics as last read or written. This store is the
    /// only writer of `journal`, so each append adds its row instead of
    /// scanning the table again (a per-edit `SUM` over thousands of rows was
    /// the largest SQL cost of an edit); `None` after any write whose outcome
    /// is not known, so the next read queries.
    journal: std::cell::Cell<Option<JournalStats>>,
}

impl<E: SqlExec> SqlDocStore<E> {
    /// Wraps a database, creating the three tables if they do not exist yet.
    pub fn new(sql: E) -> Result<Self, StoreError> {
        for statement in CREATE_TABLES {
            sql.execute(statement, &[])?;
        }
        Ok(SqlDocStore { sql, journal: std::cell::Cell::new(None) })
    }

    /// The underlying database, for callers (and tests) that need raw access.
    pub fn sql(&self) -> &E {
        &self.sql
    }

    /// True when a snapshot chunk or a journal row exists: the migration
    /// decision (spec 10.2) and the KV-cleanup guard (10.6) hinge on this.
    pub fn has_data(&self) -> Result<bool, StoreError> {
        let row = self.single_row(
            "SELECT EXISTS (SELECT 1 FROM snapshot_chunks) OR EXISTS (SELECT 1 FROM journal)",
            "has_data",
        )?;
        Ok(read_u64(&row, 0, "has_data")? != 0)
    }

    /// All `_migration_meta` rows as `(key, value)` pairs in insertion order,
    /// which is the order the debug JSON's `migrationMeta` object shows them.
    pub fn read_migration_meta(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut pairs = Vec::new();
        self.query_rows("SELECT key, value FROM _migration_meta ORDER BY rowid", |row| {
            let mut cells = row.into_iter();
            match (cells.next(), cells.next()) {
                (Some(SqlValue::Text(key)), Some(SqlValue::Text(value))) => {
                    pairs.push((key, value));
                    Ok(())
                }
                (key, value) => Err(format!(
                    "_migration_meta row: expected text key and value, found {} and {}",
                    type_name(key.as_ref()),
                    type_name(value.as_ref())
                )),
            }
        })?;
        Ok(pairs)
    }

    /// Writes each pair with insert-or-replace, all in one transaction.
    pub fn write_migration_meta(&self, pairs: &[(&str, &str)]) -> Result<(), StoreError> {
        self.sql.transaction(&mut || {
            for (key, value) in pairs {
                self.sql.execute(
                    "INSERT OR REPLACE INTO _migration_meta (key, value) VALUES (?, ?)",
                    &[SqlParam::Text(key), SqlParam::Text(value)],
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The number of snapshot chunks and their total length in bytes.
    pub fn snapshot_size(&self) -> Result<(u64, u64), StoreError> {
        let sizes = self.single_row(
            "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM snapshot_chunks",
            "snapshot_chunks size",
        )?;
        Ok((
            read_u64(&sizes, 0, "snapshot_chunks count")?,
            read_u64(&sizes, 1, "snapshot_chunks length")?,
        ))
    }

    /// Reads the snapshot chunks into one buffer sized up front, so peak memory
    /// is the snapshot plus the one chunk row being copied in.
    fn load_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let (count, total) = self.snapshot_size()?;
        if count == 0 {
            return Ok(None);
        }
        let capacity = usize::try_from(total).map_err(|_| {
            StoreError::Corrupt(format!("snapshot_chunks: total length {total} too large"))
        })?;
        let mut snapshot = Vec::with_capacity(capacity);
        self.stream_snapshot(&mut |chunk| {
            snapshot.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(Some(snapshot))
    }

    /// Hands the snapshot's chunks to `on_chunk` in order, each checked as a
    /// load checks it; only one chunk row is held at a time. An error from
    /// `on_chunk` stops the read and fails it as [`StoreError::Corrupt`].
    pub fn stream_snapshot(
        &self,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), StoreError> {
        let mut expected_index: i64 = 0;
        self.query_rows(
            "SELECT chunk_index, data FROM snapshot_chunks ORDER BY chunk_index",
            |row| {
                let data = check_chunk(row, expected_index)?;
                expected_index += 1;
                on_chunk(&data)
            },
        )
    }

    /// Reads every journal row in `id` order, checking `byte_length`.
    fn load_journal(&self) -> Result<(Vec<Vec<u8>>, JournalStats), StoreError> {
        let mut entries = Vec::new();
        let stats = self.stream_journal(&mut |entry| {
            entries.push(entry);
            Ok(())
        })?;
        Ok((entries, stats))
    }

    /// Hands each journal entry to `on_entry` in `id` order, checked as a
    /// load checks it, and returns the journal's statistics. An error from
    /// `on_entry` stops the read and fails it as [`StoreError::Corrupt`].
    pub fn stream_journal(
        &self,
        on_entry: &mut dyn FnMut(Vec<u8>) -> Result<(), String>,
    ) -> Result<JournalStats, StoreError> {
        let mut stats = JournalStats::default();
        self.query_rows("SELECT id, data, byte_length FROM journal ORDER BY id", |row| {
            let data = check_journal_row(row)?;
            stats.entry_count += 1;
            stats.total_bytes += data.len() as u64;
            on_entry(data)
        })?;
        self.journal.set(Some(stats));
        Ok(stats)
    }

    /// Streams the rows of `sql` through `check`; a row it rejects (with a
    /// message naming the table and row) fails the read as [`StoreError::Corrupt`].
    fn query_rows(
        &self,
        sql: &str,
        mut check: impl FnMut(Vec<SqlValue>) -> Result<(), String>,
    ) -> Result<(), StoreError> {
        let mut rejected = None;
        let result = self.sql.query(sql, &[], &mut |row| {
            check(row).map_err(|message| {
                rejected = Some(message);
                SqlError::Type("row rejected".to_owned())
            })
        });
        match rejected {
            Some(message) => Err(StoreError::Corrupt(message)),
            None => Ok(result?),
        }
    }

    /// Runs a query expected to return exactly one row and returns it.
    fn single_row(&self, sql: &str, what: &str) -> Result<Vec<SqlValue>, StoreError> {
        let mut first = None;
        self.sql.query(sql, &[], &mut |row| {
            first.get_or_insert(row);
            Ok(())
        })?;
        first.ok_or_else(|| StoreError::Corrupt(format!("{what}: query returned no row")))
    }
}

impl<E: SqlExec> DocStore for SqlDocStore<E> {
    fn load(&self) -> Result<LoadedState, StoreError> {
        let snapshot = self.load_snapshot()?;
        let (journal, stats) = self.load_journal()?;
        Ok(LoadedState { snapshot, journal, stats })
    }

    fn append_update(&self, update: &[u8]) -> Result<AppendOutcome, StoreError> {
        if update.len() > MAX_JOURNAL_ENTRY_BYTES {
            return Ok(AppendOutcome::Oversized);
        }
        if !update.is_empty() {
            let known = self.journal.take();
            self.sql.execute(
                "INSERT INTO journal (data, byte_length) VALUES (?, ?)",
                &[SqlParam::Blob(update), SqlParam::Integer(to_i64(update.len())?)],
            )?;
            self.journal.set(known.map(|stats| JournalStats {
                entry_count: stats.entry_count + 1,
                total_bytes: stats.total_bytes + update.len() as u64,
            }));
        }
        Ok(AppendOutcome::Appended(self.journal_stats()?))
    }

    fn rewrite_checkpoint(&self, full_state: &[u8]) -> Result<(), StoreError> {
        self.rewrite_checkpoint_streamed(&mut |sink| sink(full_state))?;
        Ok(())
    }

    /// Inserts each 1 MiB chunk as soon as the pieces fill it, all in one
    /// transaction: the rows are those `rewrite_checkpoint` writes for the
    /// concatenated pieces, and at most one chunk is buffered.
    fn rewrite_checkpoint_streamed(
        &self,
        write_state: StateWriter<'_>,
    ) -> Result<usize, StoreError> {
        let mut written = 0;
        self.journal.set(None);
        self.sql.transaction(&mut || {
            self.sql.execute("DELETE FROM snapshot_chunks", &[])?;
            self.sql.execute("DELETE FROM journal", &[])?;
            let mut rows =
                ChunkRows { sql: &self.sql, next_index: 0, partial: Vec::new(), error: None };
            let mut total = 0;
            write_state(&mut |piece| {
                total += piece.len();
                rows.push(piece);
            });
            rows.finish()?;
            written = total;
            Ok(())
        })?;
        self.journal.set(Some(JournalStats::default()));
        Ok(written)
    }

    fn journal_stats(&self) -> Result<JournalStats, StoreError> {
        if let Some(known) = self.journal.get() {
            return Ok(known);
        }
        let row = self.single_row(
            "SELECT COUNT(*), COALESCE(SUM(byte_length), 0) FROM journal",
            "journal stats",
        )?;
        let stats = JournalStats {
            entry_count: read_u64(&row, 0, "journal count")?,
            total_bytes: read_u64(&row, 1, "journal byte_length sum")?,
        };
        self.journal.set(Some(stats));
        Ok(stats)
    }
}

/// Cuts a stream of pieces into `snapshot_chunks` rows of
/// [`SNAPSHOT_CHUNK_BYTES`] (the last one shorter), inserting each as soon as
/// it is complete. The first failed insert is kept and the rest skipped, so
/// the caller can fail (and roll back) the transaction.
struct ChunkRows<'a, E: SqlExec> {
    sql: &'a E,
    next_index: usize,
    /// The chunk being filled; empty between chunks.
    partial: Vec<u8>,
    error: Option<SqlError>,
}

impl<E: SqlExec> ChunkRows<'_, E> {
    fn push(&mut self, mut piece: &[u8]) {
        while !piece.is_empty() {
            if self.partial.is_empty() && piece.len() >= SNAPSHOT_CHUNK_BYTES {
                // A whole chunk inside the piece is inserted without a copy.
                let (chunk, rest) = piece.split_at(SNAPSHOT_CHUNK_BYTES);
                self.insert(chunk);
                piece = rest;
                continue;
            }
            if self.partial.capacity() == 0 {
                // Only now: a state passed whole needs it for its tail at most.
                self.partial.reserve_exact(SNAPSHOT_CHUNK_BYTES);
            }
            let take = piece.len().min(SNAPSHOT_CHUNK_BYTES - self.partial.len());
            self.partial.extend_from_slice(&piece[..take]);
            piece = &piece[take..];
            if self.partial.len() == SNAPSHOT_CHUNK_BYTES {
                self.flush_partial();
            }
        }
    }

    /// Inserts the last, short chunk and reports the first failure.
    fn finish(mut self) -> Result<(), SqlError> {
        if !self.partial.is_empty() {
            self.flush_partial();
        }
        self.error.map_or(Ok(()), Err)
    }

    /// Inserts the chunk being filled and empties it, keeping its buffer.
    fn flush_partial(&mut self) {
        let mut chunk = std::mem::take(&mut self.partial);
        self.insert(&chunk);
        chunk.clear();
        self.partial = chunk;
    }

    fn insert(&mut self, chunk: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let result = to_i64(self.next_index).and_then(|index| {
            self.sql.execute(
                "INSERT INTO snapshot_chunks (chunk_index, data) VALUES (?, ?)",
                &[SqlParam::Integer(index), SqlParam::Blob(chunk)],
            )
        });
        self.error = result.err();
        self.next_index += 1;
    }
}

/// Checks one `snapshot_chunks` row and returns its bytes.
fn check_chunk(row: Vec<SqlValue>, expected_index: i64) -> Result<Vec<u8>, String> {
    let mut cells = row.into_iter();
    let index = match cells.next() {
        Some(SqlValue::Integer(index)) => index,
        other => {
            return Err(format!(
                "snapshot_chunks row {expected_index}: chunk_index is {}",
                type_name(other.as_ref())
            ))
        }
    };
    if index != expected_index {
        return Err(format!(
            "snapshot_chunks row chunk_index={index}: expected chunk_index {expected_index} (gap in chunk indexes)"
        ));
    }
    match cells.next() {
        Some(SqlValue::Blob(data)) => Ok(data),
        other => Err(format!(
            "snapshot_chunks row chunk_index={index}: data is {}, expected blob",
            type_name(other.as_ref())
        )),
    }
}

/// Checks one `journal` row (`id, data, byte_length`) and returns its bytes.
fn check_journal_row(row: Vec<SqlValue>) -> Result<Vec<u8>, String> {
    let mut cells = row.into_iter();
    let id = match cells.next() {
        Some(SqlValue::Integer(id)) => id.to_string(),
        other => format!("({})", type_name(other.as_ref())),
    };
    let data = match cells.next() {
        Some(SqlValue::Blob(data)) => data,
        other => {
            return Err(format!(
                "journal row id={id}: data is {}, expected blob",
                type_name(other.as_ref())
            ))
        }
    };
    let declared = cells.next();
    match declared.as_ref().and_then(as_u64) {
        Some(length) if length == data.len() as u64 => Ok(data),
        Some(length) => Err(format!(
            "journal row id={id}: byte_length {length} disagrees with blob length {}",
            data.len()
        )),
        None => Err(format!(
            "journal row id={id}: byte_length is {}, expected a non-negative integer",
            type_name(declared.as_ref())
        )),
    }
}

/// Reads a non-negative integer cell. Reals with an integral value are
/// accepted because a JavaScript SQL binding may hand numbers back as doubles.
fn read_u64(row: &[SqlValue], column: usize, what: &str) -> Result<u64, StoreError> {
    let cell = row.get(column);
    cell.and_then(as_u64).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{what}: expected a non-negative integer, found {}",
            type_name(cell)
        ))
    })
}

fn as_u64(value: &SqlValue) -> Option<u64> {
    match *value {
        SqlValue::Integer(n) => u64::try_from(n).ok(),
        SqlValue::Real(x) if x >= 0.0 && x.fract() == 0.0 && x < 9.007_199_254_740_992e15 => {
            Some(x as u64)
        }
        _ => None,
    }
}

fn type_name(value: Option<&SqlValue>) -> &'static str {
    value.map_or("missing", SqlValue::type_name)
}

fn to_i64(n: usize) -> Result<i64, SqlError> {
    i64::try_from(n).map_err(|_| SqlError::Type(format!("{n} does not fit a SQL integer")))
}
