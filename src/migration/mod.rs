//! The load decision of spec 10.2 and the verified KV-to-SQL migration.
//!
//! [`load_document`] runs once per activation and picks one of four modes:
//! - **sql**: SQL holds data; it is served (after finishing an interrupted
//!   migration, see below).
//! - **kv-migrated**: SQL is empty and the legacy store (10.3) has data. The
//!   document is built from it, written as the SQL snapshot, **read back and
//!   compared** (see Verification), and only then is the
//!   `_migration_meta` marker written and the legacy `document` key deleted.
//!   The other legacy keys are kept for rollback.
//! - **fresh**: nothing stored anywhere.
//! - **kv-fallback**: SQL failed to load, or a migration could not be
//!   verified. The legacy data is served read-only and the health is degraded.
//!
//! A legacy integrity error fails the whole load before anything is written.
//!
//! # Verification
//!
//! The read-back passes only if (1) the snapshot bytes SQL returns are
//! identical to the bytes written (same length and SHA-256), with no journal
//! rows, and (2) the document rebuilt from them equals the source document:
//! same state vector, delete set, pending-update presence and content of
//! every root (see [`same_document`]). The document served is the one
//! rebuilt from SQL, which is the source by (2).
//! Comparing re-encoded full updates byte for byte is **not** a usable test:
//! yrs encodes JSON-object values (`Any::Map`, which is what v2 `meta` entries
//! are) in `HashMap` order, which differs between two documents holding the
//! same state, so equal documents often encode to different bytes.
//!
//! # Crash recovery
//!
//! `rewrite_checkpoint` is one transaction, so SQL holds either nothing or the
//! complete snapshot that was written. What can be missing is the marker:
//! a crash between the snapshot and the marker, a failed marker write, or an
//! ambiguous commit. So a load that finds SQL data **without** the marker
//! while the legacy store still has data re-reads the legacy source and checks
//! that the SQL document **contains** it (merging the source into the SQL state
//! changes nothing). Containment rather than equality, because a migration
//! whose marker write failed keeps serving and saving, so the journal may have
//! grown since. If contained, the marker is written (with the same values an
//! uninterrupted run writes) and the mode is `kv-migrated`; if not, the legacy
//! data is served in `kv-fallback` and nothing is written. A migration that
//! fails verification clears the snapshot it wrote (SQL was empty before), so
//! the next activation starts over from an empty SQL store. Vaults with SQL
//! data and no legacy data (born on the SQL server) never need the marker.
//!
//! # Memory
//!
//! Wasm memory only grows and a vault's document is about twice its encoded
//! size, so a load holds one full document at a time. A migration builds the
//! source, streams its encoding into SQL (hashing the bytes on the way),
//! takes its [`fingerprint::Fingerprint`] (structure plus a hash of the
//! content) and drops it before rebuilding from SQL; a verification failure
//! reads and builds the legacy data again to serve it. A resume notes SQL's
//! state vector and drops the SQL document while it builds the source, keeps
//! only what the source adds to that state, then reloads SQL and merges that
//! in, comparing fingerprints before and after (`verify::contains`).
//!
//! Migrating is repeatable: the same legacy store yields the same document
//! (and snapshot size) and the same marker values, whether in one run or after
//! a resume; only the encoding order of JSON objects may differ.
//!
//! # Layout
//!
//! This file holds the load decision and its result types; `source` builds
//! documents from SQL rows and legacy data, `fingerprint` defines document
//! equality, `verify` holds the read-back and containment checks, `write` the
//! migration's writes, resume and marker, and `cleanup` the admin KV cleanup
//! of spec 10.6.

mod cleanup;
mod fingerprint;
pub mod repair;
mod source;
mod verify;
mod write;

use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;
use yrs::Doc;

use crate::diagnostics::trace::TraceSink;
use crate::store::kv::KvStore;
use crate::store::legacy_kv::LegacyKvError;
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::JournalStats;
use source::{read_sql, Source, SqlDoc};

pub use cleanup::{cleanup_kv, is_legacy_key, CleanupOutcome};
pub use fingerprint::same_document;

/// `_migration_meta` key whose value `"true"` marks a verified migration.
pub const MARKER_KEY: &str = "migration_completed";

/// Where the served document came from (`storage.mode` in the debug JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageMode {
    Sql,
    KvMigrated,
    Fresh,
    KvFallback,
}

/// `storage.migrationStatus` in the debug JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationStatus {
    AlreadySql,
    Migrated,
    NotStarted,
    Failed,
}

/// The debug JSON's `storage` object, minus `oversizedDeltaCount`, which the
/// persistence coordinator counts and passes to [`StorageStatus::to_json`].
/// `Default` is the not-yet-loaded state: everything null.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageStatus {
    pub mode: Option<StorageMode>,
    pub migration_status: Option<MigrationStatus>,
    /// ISO time of a migration completed by this activation.
    pub migration_at: Option<String>,
    pub migration_duration_ms: Option<u64>,
    pub cold_load_duration_ms: Option<u64>,
    /// `_migration_meta` rows in insertion order; `None` when there are none
    /// (or they could not be read).
    pub migration_meta: Option<Vec<(String, String)>>,
}

impl StorageStatus {
    /// The spec 9.2 `storage` object, keys in spec order.
    pub fn to_json(&self, oversized_delta_count: u64) -> Value {
        let meta = self.migration_meta.as_ref().map(|rows| {
            Value::Object(rows.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect())
        });
        json!({
            "mode": self.mode,
            "migrationStatus": self.migration_status,
            "migrationAt": self.migration_at,
            "migrationDurationMs": self.migration_duration_ms,
            "coldLoadDurationMs": self.cold_load_duration_ms,
            "oversizedDeltaCount": oversized_delta_count,
            "migrationMeta": meta,
        })
    }

    /// True in kv-fallback mode, where the server must never write.
    pub fn is_read_only(&self) -> bool {
        self.mode == Some(StorageMode::KvFallback)
    }
}

/// The outcome of a successful load: the document to serve and what the
/// room needs to set up persistence around it.
#[derive(Debug)]
pub struct LoadedDocument {
    /// The document state; wrap it in the room before attaching observers.
    pub doc: Doc,
    pub status: StorageStatus,
    /// Journal statistics for `Coordinator::on_loaded` (SQL's, 0/0 after a
    /// migration, the legacy journal's in kv-fallback mode).
    pub journal: JournalStats,
    /// The debug JSON's `legacyDocumentMigrated`.
    pub legacy_document_migrated: bool,
}

impl LoadedDocument {
    /// True in kv-fallback mode: call `Coordinator::enter_read_only`.
    pub fn is_read_only(&self) -> bool {
        self.status.is_read_only()
    }
}

/// Why the load failed. Nothing was written; the next load may retry.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The legacy store is damaged or unreadable (fail closed).
    #[error(transparent)]
    Legacy(#[from] LegacyKvError),
    /// A verified legacy value is not a decodable Yjs update.
    #[error("legacy key-value store: {source_name}: update does not apply: {message}")]
    Undecodable { source_name: String, message: String },
}

/// Loads the document once per activation (spec 10.2), migrating legacy
/// key-value data into SQL when SQL is empty.
///
/// `now_ms` returns the wall clock in Unix milliseconds (it is read more than
/// once, for durations). Trace events go to `trace`; nothing is written to
/// key-value storage except deleting `document` after a verified migration.
pub async fn load_document<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
    now_ms: &dyn Fn() -> u64,
    trace: &mut dyn TraceSink,
) -> Result<LoadedDocument, LoadError> {
    let mut run = Run { store, kv, now_ms, trace, started_ms: now_ms() };
    match read_sql(store) {
        Err(error) => run.sql_failed(error).await,
        Ok(Some(sql)) => run.serve_sql(sql).await,
        Ok(None) => run.migrate_or_fresh().await,
    }
}

const NOTE_SQL_FAILED: &str = "SQL load failed; serving from KV in degraded read-only mode";
const NOTE_UNVERIFIED: &str = "migration not verified; serving from KV in degraded read-only mode";

/// One load in progress: the stores and the caller's clock and trace sink.
struct Run<'a, E: SqlExec, K: KvStore> {
    store: &'a SqlDocStore<E>,
    kv: &'a K,
    now_ms: &'a dyn Fn() -> u64,
    trace: &'a mut dyn TraceSink,
    started_ms: u64,
}

impl<E: SqlExec, K: KvStore> Run<'_, E, K> {
    fn elapsed(&self) -> u64 {
        (self.now_ms)().saturating_sub(self.started_ms)
    }

    fn status(&self, mode: StorageMode, migration: MigrationStatus) -> StorageStatus {
        StorageStatus {
            mode: Some(mode),
            migration_status: Some(migration),
            cold_load_duration_ms: Some(self.elapsed()),
            migration_meta: read_meta(self.store).ok().filter(|rows| !rows.is_empty()),
            ..StorageStatus::default()
        }
    }

    /// SQL has data. Finishes an interrupted migration first (module docs).
    async fn serve_sql(&mut self, sql: SqlDoc) -> Result<LoadedDocument, LoadError> {
        match read_meta(self.store) {
            Ok(rows) if !has_marker(&rows) => self.resume(sql).await,
            Ok(_) => Ok(self.plain_sql(sql)),
            Err(error) => {
                self.trace.trace("migration-meta-read-failed", json!({"error": error}));
                Ok(self.plain_sql(sql))
            }
        }
    }

    fn plain_sql(&mut self, sql: SqlDoc) -> LoadedDocument {
        self.trace.trace(
            "checkpoint-load",
            json!({
                "storage": "sql",
                "hasSnapshot": sql.has_snapshot,
                "journalEntryCount": sql.stats.entry_count,
                "journalBytes": sql.stats.total_bytes,
            }),
        );
        let status = self.status(StorageMode::Sql, MigrationStatus::AlreadySql);
        LoadedDocument { doc: sql.doc, status, journal: sql.stats, legacy_document_migrated: false }
    }

    /// Builds the document held in the legacy store, or `None` if it holds
    /// nothing; a damaged store is traced and fails the load.
    async fn read_source(&mut self) -> Result<Option<Source>, LoadError> {
        source::read_source(self.kv).await.inspect_err(|error| {
            if let LoadError::Legacy(damage) = error {
                self.trace.trace("legacy-kv-load-failed", json!({"error": damage.to_string()}));
            }
        })
    }

    /// SQL is empty: migrate legacy data, or start fresh.
    async fn migrate_or_fresh(&mut self) -> Result<LoadedDocument, LoadError> {
        match self.read_source().await? {
            Some(source) => self.migrate(source).await,
            None => Ok(self.fresh()),
        }
    }

    fn fresh(&mut self) -> LoadedDocument {
        self.trace.trace(
            "checkpoint-load",
            json!({
                "storage": "sql",
                "hasSnapshot": false,
                "journalEntryCount": 0,
                "journalBytes": 0,
                "note": "fresh DO, no existing state",
            }),
        );
        let status = self.status(StorageMode::Fresh, MigrationStatus::NotStarted);
        LoadedDocument {
            doc: Doc::new(),
            status,
            journal: JournalStats::default(),
            legacy_document_migrated: false,
        }
    }

    async fn sql_failed(&mut self, error: String) -> Result<LoadedDocument, LoadError> {
        let data = json!({"error": error, "note": "attempting KV fallback"});
        self.trace.trace("sql-load-failed", data);
        self.fallback(NOTE_SQL_FAILED).await
    }

    /// SQL could not be loaded or verified: serve legacy data read-only (or,
    /// if there is none, an empty doc).
    async fn fallback(&mut self, note: &str) -> Result<LoadedDocument, LoadError> {
        match self.read_source().await? {
            Some(source) => Ok(self.degraded(source, note)),
            None => {
                let note = "SQL load failed and KV has no data; starting with empty document";
                self.trace.trace("storage-unrecoverable", json!({ "note": note }));
                let status = self.status(StorageMode::KvFallback, MigrationStatus::Failed);
                let journal = JournalStats::default();
                Ok(LoadedDocument {
                    doc: Doc::new(),
                    status,
                    journal,
                    legacy_document_migrated: false,
                })
            }
        }
    }

    /// Serves the legacy source read-only in kv-fallback mode.
    fn degraded(&mut self, source: Source, note: &str) -> LoadedDocument {
        let Source { doc, info } = source;
        self.trace.trace(
            "kv-fallback-activated",
            json!({
                "kvCheckpointBytes": info.checkpoint_bytes,
                "kvJournalEntries": info.stats.entry_count,
                "kvJournalBytes": info.stats.total_bytes,
                "activePathCount": info.active_path_count,
                "note": note,
            }),
        );
        let status = self.status(StorageMode::KvFallback, MigrationStatus::Failed);
        let journal = JournalStats {
            entry_count: info.stats.entry_count,
            total_bytes: info.stats.total_bytes,
        };
        LoadedDocument { doc, status, journal, legacy_document_migrated: false }
    }
}

fn has_marker(rows: &[(String, String)]) -> bool {
    rows.iter().any(|(key, value)| key == MARKER_KEY && value == "true")
}

fn read_meta<E: SqlExec>(store: &SqlDocStore<E>) -> Result<Vec<(String, String)>, String> {
    store.read_migration_meta().map_err(|error| error.to_string())
}
