//! The migration's writes: a fresh migration (write, read back, clear on
//! failure), the resume of an interrupted one (module docs, Crash recovery),
//! and the `_migration_meta` marker that completes both. Each holds one full
//! document at a time (module docs, Memory).

use serde_json::json;
use sha2::{Digest, Sha256};
use yrs::{Doc, StateVector, Transact};

use super::fingerprint::Fingerprint;
use super::source::{build_source, state_vector, Source, SourceInfo, SqlDoc};
use super::verify::{contains, read_back, Written};
use super::{LoadError, LoadedDocument, MigrationStatus, Run, StorageMode};
use super::{MARKER_KEY, NOTE_UNVERIFIED};
use crate::diagnostics::timefmt::iso_from_ms;
use crate::encode;
use crate::encode::covers;
use crate::store::kv::KvStore;
use crate::store::legacy_kv::{self, LEGACY_DOCUMENT_KEY};
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::{DocStore, JournalStats, StoreError};

impl<E: SqlExec, K: KvStore> Run<'_, E, K> {
    /// SQL data without a marker. With no legacy data this is a vault born on
    /// SQL. Otherwise check that SQL holds all of the legacy data and complete
    /// the marker, or serve the legacy data read-only if it does not. Legacy
    /// data that cannot be read here does not block the SQL data.
    pub(super) async fn resume(&mut self, sql: SqlDoc) -> Result<LoadedDocument, LoadError> {
        let legacy = match legacy_kv::read_legacy_kv(self.kv).await {
            Ok(legacy) => legacy,
            Err(error) => return Ok(self.resume_skipped(sql, &error.into())),
        };
        if !legacy.has_data() {
            return Ok(self.plain_sql(sql));
        }
        // The SQL document is dropped while the source is built, and rebuilt
        // once the source is reduced to what it could add: never two at once.
        let sql_sv = state_vector(&sql.doc);
        drop(sql);
        let source = match build_source(legacy) {
            Ok(Some(source)) => source,
            // `Ok(None)` does not happen: `has_data` was checked.
            other => return self.serve_reloaded(other.err()).await,
        };
        let migration_started = (self.now_ms)();
        if !covers(&sql_sv, &state_vector(&source.doc)) {
            self.trace_not_contained();
            return Ok(self.degraded(source, NOTE_UNVERIFIED));
        }
        let (missing, snapshot_bytes) = {
            let txn = source.doc.transact();
            let mut full_len = 0;
            encode::write_state_as_update_v1(&txn, &StateVector::default(), &mut |piece| {
                full_len += piece.len();
            });
            (encode::state_as_update_v1(&txn, &sql_sv, 0), full_len)
        };
        let Source { doc, info } = source;
        drop(doc);
        let sql = match self.reload_sql() {
            Ok(sql) => sql,
            Err(error) => return self.sql_failed(error).await,
        };
        if state_vector(&sql.doc) != sql_sv || !contains(&sql.doc, missing) {
            drop(sql); // it now holds the merge (see `contains`)
            self.trace_not_contained();
            // The source is gone: read and build the legacy data again.
            return self.fallback(NOTE_UNVERIFIED).await;
        }
        Ok(self.complete(&info, snapshot_bytes, sql.doc, sql.stats, migration_started, true).await)
    }

    fn trace_not_contained(&mut self) {
        let data =
            json!({"stage": "resume-verify", "error": "SQL data does not contain the legacy data"});
        self.trace.trace("kv-to-sql-migration-failed", data);
    }

    /// Serves SQL without a marker after a resume that could not check the
    /// legacy data (`skipped` says why; `None`: there was none).
    async fn serve_reloaded(
        &mut self,
        skipped: Option<LoadError>,
    ) -> Result<LoadedDocument, LoadError> {
        match (self.reload_sql(), skipped) {
            (Ok(sql), Some(error)) => Ok(self.resume_skipped(sql, &error)),
            (Ok(sql), None) => Ok(self.plain_sql(sql)),
            (Err(error), _) => self.sql_failed(error).await,
        }
    }

    fn resume_skipped(&mut self, sql: SqlDoc, error: &LoadError) -> LoadedDocument {
        let note = "serving SQL without a migration marker";
        self.trace.trace(
            "kv-to-sql-migration-resume-skipped",
            json!({"error": error.to_string(), "note": note}),
        );
        self.plain_sql(sql)
    }

    /// Rebuilds the SQL document a resume dropped. It loaded moments ago, so
    /// a failure now is handled like any failed SQL load.
    fn reload_sql(&self) -> Result<SqlDoc, String> {
        super::source::read_sql(self.store)?
            .ok_or_else(|| "SQL data disappeared during the load".to_owned())
    }

    /// Writes the source, reads it back, compares, then marks. The source
    /// document is dropped before SQL's copy is rebuilt; only its fingerprint
    /// is kept, and the rebuilt document is the one served.
    pub(super) async fn migrate(&mut self, source: Source) -> Result<LoadedDocument, LoadError> {
        let migration_started = (self.now_ms)();
        let written = match write_snapshot(self.store, &source.doc) {
            Ok(written) => written,
            Err(error) => {
                let data = json!({"stage": "write", "error": error.to_string()});
                self.trace.trace("kv-to-sql-migration-failed", data);
                return Ok(self.degraded(source, NOTE_UNVERIFIED));
            }
        };
        let expected = Fingerprint::of(&source.doc);
        let Source { doc, info } = source;
        drop(doc);
        match read_back(self.store, &written, &expected) {
            Ok((doc, stats)) => {
                Ok(self.complete(&info, written.len, doc, stats, migration_started, false).await)
            }
            Err(failure) => {
                self.trace.trace("kv-to-sql-migration-failed", failure.to_json());
                // SQL was empty before this run, so clearing loses nothing and
                // lets the next activation start over.
                if let Err(error) = self.store.rewrite_checkpoint(&[]) {
                    self.trace.trace(
                        "kv-to-sql-migration-clear-failed",
                        json!({"error": error.to_string()}),
                    );
                }
                // The source is gone: read and build the legacy data again
                // (a rare path; the legacy store has not changed).
                self.fallback(NOTE_UNVERIFIED).await
            }
        }
    }

    /// SQL is verified to hold the source: write the marker, delete
    /// `document`, and serve `doc` (rebuilt from SQL) as kv-migrated.
    async fn complete(
        &mut self,
        info: &SourceInfo,
        snapshot_bytes: usize,
        doc: Doc,
        journal: JournalStats,
        migration_started: u64,
        resumed: bool,
    ) -> LoadedDocument {
        let now = (self.now_ms)();
        let migrated_at = iso_from_ms(now);
        let duration = now.saturating_sub(migration_started);
        let marked = self.write_marker(info, snapshot_bytes, &migrated_at);
        self.trace.trace(
            "kv-to-sql-migration",
            json!({
                "hadLegacyKey": info.had_legacy_key,
                "legacyApplied": info.legacy_applied,
                "kvJournalEntries": info.stats.entry_count,
                "kvJournalBytes": info.stats.total_bytes,
                "migratedBytes": snapshot_bytes,
                "activePathCount": info.active_path_count,
                "migrationDurationMs": duration,
                "verified": true,
                "resumed": resumed,
            }),
        );
        // Without the marker, a later load must still find `document` to
        // recompute the same source, so it is deleted only once marked.
        if marked && info.had_legacy_key {
            let _ = self.kv.delete_many(&[LEGACY_DOCUMENT_KEY.to_owned()]).await;
        }
        let mut status = self.status(StorageMode::KvMigrated, MigrationStatus::Migrated);
        status.migration_at = Some(migrated_at);
        status.migration_duration_ms = Some(duration);
        LoadedDocument {
            doc,
            status,
            journal,
            legacy_document_migrated: info.legacy_document_migrated,
        }
    }

    /// Writes the `_migration_meta` rows; a failure is traced, not fatal (the
    /// data is verified; the next load completes the marker).
    fn write_marker(
        &mut self,
        info: &SourceInfo,
        snapshot_bytes: usize,
        migrated_at: &str,
    ) -> bool {
        let rows = marker_rows(info, snapshot_bytes, migrated_at);
        let pairs: Vec<(&str, &str)> = rows.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match self.store.write_migration_meta(&pairs) {
            Ok(()) => true,
            Err(error) => {
                self.trace.trace(
                    "kv-to-sql-migration-marker-failed",
                    json!({"error": error.to_string()}),
                );
                false
            }
        }
    }
}

/// Writes the full state of `doc` as the snapshot while encoding it, so no
/// full-size buffer exists, hashing what SQL was handed for the read-back.
fn write_snapshot<E: SqlExec>(store: &SqlDocStore<E>, doc: &Doc) -> Result<Written, StoreError> {
    let txn = doc.transact();
    let mut hasher = Sha256::new();
    let len = store.rewrite_checkpoint_streamed(&mut |sink| {
        hasher = Sha256::new(); // should the store run this twice, hash the last run
        encode::write_state_as_update_v1(&txn, &StateVector::default(), &mut |piece| {
            hasher.update(piece);
            sink(piece);
        });
    })?;
    Ok(Written { len, sha256: hasher.finalize().into() })
}

/// The marker rows of spec 10.1, in spec order.
fn marker_rows(
    info: &SourceInfo,
    snapshot_bytes: usize,
    migrated_at: &str,
) -> [(&'static str, String); 7] {
    let format = if info.had_legacy_key { "legacy+kv" } else { "kv" };
    [
        (MARKER_KEY, "true".to_owned()),
        ("migrated_at", migrated_at.to_owned()),
        ("source_format", format.to_owned()),
        ("source_entries", info.stats.entry_count.to_string()),
        ("source_bytes", info.stats.total_bytes.to_string()),
        ("snapshot_bytes", snapshot_bytes.to_string()),
        ("active_path_count", info.active_path_count.to_string()),
    ]
}
