//! The migration's writes: a fresh migration (write, read back, clear on
//! failure), the resume of an interrupted one (module docs, Crash recovery),
//! and the `_migration_meta` marker that completes both.

use serde_json::json;
use yrs::Doc;

use super::source::{build_source, Source, SqlDoc};
use super::verify::{contains, read_back};
use super::{LoadError, LoadedDocument, MigrationStatus, Run, StorageMode};
use super::{MARKER_KEY, NOTE_UNVERIFIED};
use crate::store::kv::KvStore;
use crate::store::legacy_kv::{self, LEGACY_DOCUMENT_KEY};
use crate::store::sql::SqlExec;
use crate::store::{DocStore, JournalStats};
use crate::timefmt::iso_from_ms;

impl<E: SqlExec, K: KvStore> Run<'_, E, K> {
    /// SQL data without a marker. With no legacy data this is a vault born on
    /// SQL. Otherwise check that SQL holds all of the legacy data and complete
    /// the marker, or serve the legacy data read-only if it does not. Legacy
    /// data that cannot be read here does not block the SQL data.
    pub(super) async fn resume(&mut self, sql: SqlDoc) -> Result<LoadedDocument, LoadError> {
        let source = match legacy_kv::read_legacy_kv(self.kv).await {
            Ok(legacy) => build_source(&legacy),
            Err(error) => Err(error.into()),
        };
        let source = match source {
            Ok(Some(source)) => source,
            Ok(None) => return Ok(self.plain_sql(sql)),
            Err(error) => {
                let note = "serving SQL without a migration marker";
                self.trace.trace(
                    "kv-to-sql-migration-resume-skipped",
                    json!({"error": error.to_string(), "note": note}),
                );
                return Ok(self.plain_sql(sql));
            }
        };
        let migration_started = (self.now_ms)();
        if !contains(&sql.doc, &source) {
            let data = json!({"stage": "resume-verify", "error": "SQL data does not contain the legacy data"});
            self.trace.trace("kv-to-sql-migration-failed", data);
            return Ok(self.degraded(source, NOTE_UNVERIFIED));
        }
        Ok(self.complete(source, sql.doc, sql.stats, migration_started, true).await)
    }

    /// Writes the source, reads it back, compares, then marks.
    pub(super) async fn migrate(&mut self, source: Source) -> LoadedDocument {
        let migration_started = (self.now_ms)();
        if let Err(error) = self.store.rewrite_checkpoint(&source.update) {
            let data = json!({"stage": "write", "error": error.to_string()});
            self.trace.trace("kv-to-sql-migration-failed", data);
            return self.degraded(source, NOTE_UNVERIFIED);
        }
        match read_back(self.store, &source) {
            Ok((doc, stats)) => self.complete(source, doc, stats, migration_started, false).await,
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
                self.degraded(source, NOTE_UNVERIFIED)
            }
        }
    }

    /// SQL is verified to hold the source: write the marker, delete
    /// `document`, and serve `doc` (rebuilt from SQL) as kv-migrated.
    async fn complete(
        &mut self,
        source: Source,
        doc: Doc,
        journal: JournalStats,
        migration_started: u64,
        resumed: bool,
    ) -> LoadedDocument {
        let now = (self.now_ms)();
        let migrated_at = iso_from_ms(now);
        let duration = now.saturating_sub(migration_started);
        let marked = self.write_marker(&source, &migrated_at);
        self.trace.trace(
            "kv-to-sql-migration",
            json!({
                "hadLegacyKey": source.had_legacy_key,
                "legacyApplied": source.legacy_applied,
                "kvJournalEntries": source.stats.entry_count,
                "kvJournalBytes": source.stats.total_bytes,
                "migratedBytes": source.update.len(),
                "activePathCount": source.active_path_count,
                "migrationDurationMs": duration,
                "verified": true,
                "resumed": resumed,
            }),
        );
        // Without the marker, a later load must still find `document` to
        // recompute the same source, so it is deleted only once marked.
        if marked && source.had_legacy_key {
            let _ = self.kv.delete_many(&[LEGACY_DOCUMENT_KEY.to_owned()]).await;
        }
        let mut status = self.status(StorageMode::KvMigrated, MigrationStatus::Migrated);
        status.migration_at = Some(migrated_at);
        status.migration_duration_ms = Some(duration);
        LoadedDocument {
            doc,
            status,
            journal,
            legacy_document_migrated: source.legacy_document_migrated,
        }
    }

    /// Writes the `_migration_meta` rows; a failure is traced, not fatal (the
    /// data is verified; the next load completes the marker).
    fn write_marker(&mut self, source: &Source, migrated_at: &str) -> bool {
        let rows = marker_rows(source, migrated_at);
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

/// The marker rows of spec 10.1, in spec order.
fn marker_rows(source: &Source, migrated_at: &str) -> [(&'static str, String); 7] {
    let format = if source.had_legacy_key { "legacy+kv" } else { "kv" };
    [
        (MARKER_KEY, "true".to_owned()),
        ("migrated_at", migrated_at.to_owned()),
        ("source_format", format.to_owned()),
        ("source_entries", source.stats.entry_count.to_string()),
        ("source_bytes", source.stats.total_bytes.to_string()),
        ("snapshot_bytes", source.update.len().to_string()),
        ("active_path_count", source.active_path_count.to_string()),
    ]
}
