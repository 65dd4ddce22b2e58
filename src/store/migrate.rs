//! The load decision of spec 10.2 and the verified KV-to-SQL migration.
//!
//! [`load_document`] runs once per activation and picks one of four modes:
//! - **sql**: SQL holds data; it is served (after finishing an interrupted
//!   migration, see below).
//! - **kv-migrated**: SQL is empty and the legacy store (10.3) has data. The
//!   document is built from it, written with `rewrite_checkpoint`, **read back
//!   and compared** (see Verification), and only then is the
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
//! byte-identical to the bytes written, with no journal rows, and (2) the
//! document rebuilt from them equals the source document: same state vector,
//! same delete set and same content of every root (see [`same_document`]).
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
//! Migrating is repeatable: the same legacy store yields the same document
//! (and snapshot size) and the same marker values, whether in one run or after
//! a resume; only the encoding order of JSON objects may differ.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, GetString, ReadTxn, Snapshot, StateVector, Transact, Update};

use super::kv::KvStore;
use super::legacy_kv::{
    self, LegacyJournalStats, LegacyKvError, LegacyKvState, CHECKPOINT_KEY_PREFIX,
    JOURNAL_KEY_PREFIX, LEGACY_DOCUMENT_KEY,
};
use super::sql::SqlExec;
use super::sql_store::SqlDocStore;
use super::{DocStore, JournalStats};
use crate::room::summary::DocumentSummary;
use crate::timefmt::iso_from_ms;
use crate::trace::TraceSink;

/// Most keys one key-value batch operation may name (platform limit).
pub const KV_BATCH_LIMIT: usize = 128;

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
        Err(error) => {
            run.trace.trace(
                "sql-load-failed",
                json!({"error": error, "note": "attempting KV fallback"}),
            );
            run.fallback().await
        }
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

/// A document rebuilt from SQL rows.
struct SqlDoc {
    doc: Doc,
    stats: JournalStats,
    has_snapshot: bool,
}

/// The document built from legacy data, and the facts the marker records.
struct Source {
    doc: Doc,
    /// Its full state (v1): what the migration writes.
    update: Vec<u8>,
    /// `document` held bytes (source format `legacy+kv`).
    had_legacy_key: bool,
    /// `document` held non-empty bytes (`legacyDocumentMigrated`).
    legacy_document_migrated: bool,
    /// The merge rule chose to apply the legacy document.
    legacy_applied: bool,
    stats: LegacyJournalStats,
    checkpoint_bytes: usize,
    active_path_count: u64,
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

    /// SQL data without a marker. With no legacy data this is a vault born on
    /// SQL. Otherwise check that SQL holds all of the legacy data and complete
    /// the marker, or serve the legacy data read-only if it does not. Legacy
    /// data that cannot be read here does not block the SQL data.
    async fn resume(&mut self, sql: SqlDoc) -> Result<LoadedDocument, LoadError> {
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

    /// Reads the legacy store; a failure is traced and fails the load.
    async fn read_legacy(&mut self) -> Result<LegacyKvState, LoadError> {
        legacy_kv::read_legacy_kv(self.kv).await.map_err(|error| {
            self.trace.trace("legacy-kv-load-failed", json!({"error": error.to_string()}));
            error.into()
        })
    }

    /// SQL is empty: migrate legacy data, or start fresh.
    async fn migrate_or_fresh(&mut self) -> Result<LoadedDocument, LoadError> {
        let legacy = self.read_legacy().await?;
        match build_source(&legacy)? {
            Some(source) => Ok(self.migrate(source).await),
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

    /// Writes the source, reads it back, compares, then marks.
    async fn migrate(&mut self, source: Source) -> LoadedDocument {
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

    /// SQL could not be loaded: serve legacy data read-only (or an empty doc).
    async fn fallback(&mut self) -> Result<LoadedDocument, LoadError> {
        let legacy = self.read_legacy().await?;
        match build_source(&legacy)? {
            Some(source) => Ok(self.degraded(source, NOTE_SQL_FAILED)),
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
        self.trace.trace(
            "kv-fallback-activated",
            json!({
                "kvCheckpointBytes": source.checkpoint_bytes,
                "kvJournalEntries": source.stats.entry_count,
                "kvJournalBytes": source.stats.total_bytes,
                "activePathCount": source.active_path_count,
                "note": note,
            }),
        );
        let status = self.status(StorageMode::KvFallback, MigrationStatus::Failed);
        let journal = JournalStats {
            entry_count: source.stats.entry_count,
            total_bytes: source.stats.total_bytes,
        };
        LoadedDocument { doc: source.doc, status, journal, legacy_document_migrated: false }
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

fn has_marker(rows: &[(String, String)]) -> bool {
    rows.iter().any(|(key, value)| key == MARKER_KEY && value == "true")
}

fn read_meta<E: SqlExec>(store: &SqlDocStore<E>) -> Result<Vec<(String, String)>, String> {
    store.read_migration_meta().map_err(|error| error.to_string())
}

// ---- documents from stored bytes ----

/// Why an update could not be applied.
struct ApplyError(String);

/// Applies one v1 update; an empty update carries nothing and is skipped.
fn apply(doc: &Doc, update: &[u8]) -> Result<(), ApplyError> {
    if update.is_empty() {
        return Ok(());
    }
    let update = Update::decode_v1(update).map_err(|error| ApplyError(error.to_string()))?;
    doc.transact_mut().apply_update(update).map_err(|error| ApplyError(error.to_string()))
}

fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact().encode_state_as_update_v1(&StateVector::default())
}

fn state_vector(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

/// Loads SQL into a fresh document. Unreadable rows and rows that do not
/// apply both count as "the SQL load failed" (kv-fallback), never as data.
fn read_sql<E: SqlExec>(store: &SqlDocStore<E>) -> Result<Option<SqlDoc>, String> {
    let loaded = store.load().map_err(|error| error.to_string())?;
    if loaded.is_empty() {
        return Ok(None);
    }
    let doc = Doc::new();
    if let Some(snapshot) = &loaded.snapshot {
        apply(&doc, snapshot)
            .map_err(|ApplyError(e)| format!("snapshot_chunks: update does not apply: {e}"))?;
    }
    for (index, entry) in loaded.journal.iter().enumerate() {
        apply(&doc, entry)
            .map_err(|ApplyError(e)| format!("journal row {index}: update does not apply: {e}"))?;
    }
    Ok(Some(SqlDoc { doc, stats: loaded.stats, has_snapshot: loaded.snapshot.is_some() }))
}

/// Applies a legacy value, naming it in the error.
fn apply_legacy(doc: &Doc, update: &[u8], source_name: &str) -> Result<(), LoadError> {
    apply(doc, update).map_err(|ApplyError(message)| LoadError::Undecodable {
        source_name: source_name.to_owned(),
        message,
    })
}

/// Applies the legacy checkpoint, then each journal entry in order.
fn apply_chunked(doc: &Doc, legacy: &LegacyKvState) -> Result<(), LoadError> {
    if let Some(checkpoint) = &legacy.checkpoint {
        apply_legacy(doc, checkpoint, "checkpoint")?;
    }
    let first_seq = legacy.stats.next_seq.saturating_sub(legacy.journal.len() as u64);
    for (offset, entry) in legacy.journal.iter().enumerate() {
        apply_legacy(doc, entry, &format!("journal entry {}", first_seq + offset as u64))?;
    }
    Ok(())
}

/// Builds the document to migrate (spec 10.2 step 4), or `None` if the legacy
/// store holds nothing. The legacy `document` is applied first only when it
/// has an active path and the chunked store has no file state at all.
fn build_source(legacy: &LegacyKvState) -> Result<Option<Source>, LoadError> {
    if !legacy.has_data() {
        return Ok(None);
    }
    let chunked = Doc::new();
    apply_chunked(&chunked, legacy)?;
    let legacy_bytes = legacy.document.as_deref().filter(|bytes| !bytes.is_empty());
    let legacy_applied = match legacy_bytes {
        Some(bytes) => legacy_wins(bytes, &chunked)?,
        None => false,
    };
    let doc = match legacy_bytes {
        Some(bytes) if legacy_applied => {
            let merged = Doc::new();
            apply_legacy(&merged, bytes, LEGACY_DOCUMENT_KEY)?;
            apply_chunked(&merged, legacy)?;
            merged
        }
        _ => chunked,
    };
    let update = full_state(&doc);
    let active_path_count = DocumentSummary::of(&doc).active_path_count;
    Ok(Some(Source {
        doc,
        update,
        had_legacy_key: legacy.document.is_some(),
        legacy_document_migrated: legacy_bytes.is_some(),
        legacy_applied,
        stats: legacy.stats,
        checkpoint_bytes: legacy.checkpoint.as_ref().map_or(0, Vec::len),
        active_path_count,
    }))
}

/// The legacy-document merge rule.
fn legacy_wins(legacy_bytes: &[u8], chunked: &Doc) -> Result<bool, LoadError> {
    let legacy_doc = Doc::new();
    apply_legacy(&legacy_doc, legacy_bytes, LEGACY_DOCUMENT_KEY)?;
    let legacy = DocumentSummary::of(&legacy_doc);
    let kv = DocumentSummary::of(chunked);
    let kv_has_file_state = kv.meta_count > 0 || kv.path_to_id_count > 0 || kv.id_to_text_count > 0;
    Ok(legacy.active_path_count > 0 && kv.active_path_count == 0 && !kv_has_file_state)
}

// ---- verification ----

/// Why a read-back did not match what was written.
enum VerifyFailure {
    Read(String),
    Mismatch {
        bytes_match: bool,
        structure_matches: bool,
        content_matches: bool,
        written: usize,
        read: usize,
    },
}

impl VerifyFailure {
    fn to_json(&self) -> Value {
        match self {
            VerifyFailure::Read(error) => json!({"stage": "read-back", "error": error}),
            VerifyFailure::Mismatch {
                bytes_match,
                structure_matches,
                content_matches,
                written,
                read,
            } => json!({
                "stage": "verify",
                "error": "document read back from SQL differs from the migrated document",
                "bytesMatch": bytes_match,
                "stateMatches": structure_matches,
                "contentMatches": content_matches,
                "writtenBytes": written,
                "readBytes": read,
            }),
        }
    }
}

/// Reloads SQL and checks it reproduces the source: the stored bytes come
/// back unchanged and rebuild the same document (module docs).
fn read_back<E: SqlExec>(
    store: &SqlDocStore<E>,
    source: &Source,
) -> Result<(Doc, JournalStats), VerifyFailure> {
    let loaded = store.load().map_err(|error| VerifyFailure::Read(error.to_string()))?;
    let snapshot = loaded.snapshot.unwrap_or_default();
    let bytes_match = snapshot == source.update && loaded.journal.is_empty();
    let doc = Doc::new();
    apply(&doc, &snapshot)
        .map_err(|ApplyError(e)| VerifyFailure::Read(format!("snapshot does not apply: {e}")))?;
    for entry in &loaded.journal {
        apply(&doc, entry)
            .map_err(|ApplyError(e)| VerifyFailure::Read(format!("journal does not apply: {e}")))?;
    }
    let (read, expected) = (Fingerprint::of(&doc), Fingerprint::of(&source.doc));
    let structure_matches = read.snapshot == expected.snapshot;
    let content_matches = read.roots == expected.roots;
    if bytes_match && structure_matches && content_matches {
        return Ok((doc, loaded.stats));
    }
    Err(VerifyFailure::Mismatch {
        bytes_match,
        structure_matches,
        content_matches,
        written: source.update.len(),
        read: snapshot.len(),
    })
}

/// What two documents must share to be the same document, in a form that
/// compares independently of encoding order.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    /// State vector and delete set.
    snapshot: Snapshot,
    /// Per root: its map entries as JSON and its sequence read as text. A
    /// root's type is not known after decoding, so both views are taken.
    roots: BTreeMap<String, (Option<Any>, Option<String>)>,
    pending: bool,
}

impl Fingerprint {
    fn of(doc: &Doc) -> Fingerprint {
        let txn = doc.transact();
        let names: Vec<String> = txn.root_refs().map(|(name, _)| name.to_owned()).collect();
        let roots = names
            .into_iter()
            .map(|name| {
                let map = txn.get_map(name.as_str()).map(|map| map.to_json(&txn));
                let text = txn.get_text(name.as_str()).map(|text| text.get_string(&txn));
                (name, (map, text))
            })
            .collect();
        Fingerprint { snapshot: txn.snapshot(), roots, pending: txn.has_missing_updates() }
    }
}

/// True when two documents hold the same state: equal state vectors, delete
/// sets, pending-update presence and root contents. Unlike comparing
/// encoded updates, this does not depend on the order yrs happens to encode
/// JSON-object values in.
pub fn same_document(a: &Doc, b: &Doc) -> bool {
    Fingerprint::of(a) == Fingerprint::of(b)
}

/// True when `sql` already holds everything in `source`: merging the source
/// into a copy of the SQL state leaves it the same document.
fn contains(sql: &Doc, source: &Source) -> bool {
    let source_sv = state_vector(&source.doc);
    if !matches!(source_sv.partial_cmp(&state_vector(sql)), Some(Ordering::Less | Ordering::Equal))
    {
        return false;
    }
    let merged = Doc::new();
    apply(&merged, &full_state(sql)).is_ok()
        && apply(&merged, &source.update).is_ok()
        && same_document(&merged, sql)
}

// ---- KV cleanup (spec 10.6) ----

/// The answer of the admin KV cleanup; [`CleanupOutcome::to_json`] is the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupOutcome {
    /// Refused: deleting would lose data.
    Aborted {
        error: String,
    },
    /// No legacy keys.
    Noop,
    Cleaned {
        keys_deleted: u64,
    },
    Failed {
        error: String,
    },
}

impl CleanupOutcome {
    /// The spec 10.6 JSON shapes.
    pub fn to_json(&self) -> Value {
        match self {
            CleanupOutcome::Aborted { error } => {
                json!({"status": "aborted", "keysDeleted": 0, "error": error})
            }
            CleanupOutcome::Noop => json!({"status": "noop", "keysDeleted": 0}),
            CleanupOutcome::Cleaned { keys_deleted } => {
                json!({"status": "cleaned", "keysDeleted": keys_deleted})
            }
            CleanupOutcome::Failed { error } => {
                json!({"status": "failed", "keysDeleted": 0, "error": error})
            }
        }
    }
}

/// True for the keys the cleanup deletes: `document` and the checkpoint and
/// journal keys.
pub fn is_legacy_key(key: &str) -> bool {
    key == LEGACY_DOCUMENT_KEY
        || key.starts_with(CHECKPOINT_KEY_PREFIX)
        || key.starts_with(JOURNAL_KEY_PREFIX)
}

/// Deletes the legacy keys once SQL holds the document (spec 10.6).
///
/// Refuses (`aborted`) while SQL is empty, and also, beyond the spec, while
/// legacy keys exist but the migration marker does not: SQL then may not
/// contain the legacy data (the load could not verify it) and the legacy keys
/// are the only copy.
pub async fn cleanup_kv<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
    trace: &mut dyn TraceSink,
) -> CleanupOutcome {
    match store.has_data() {
        Ok(true) => {}
        Ok(false) => {
            let error = "SQL storage is empty — refusing to delete KV data (would cause data loss)";
            return CleanupOutcome::Aborted { error: error.to_owned() };
        }
        Err(error) => return CleanupOutcome::Failed { error: error.to_string() },
    }
    match delete_legacy_keys(store, kv).await {
        Ok(Cleanup::Deleted(0)) => CleanupOutcome::Noop,
        Ok(Cleanup::Deleted(count)) => {
            trace.trace(
                "server.kv_cleanup_succeeded",
                json!({"keysFound": count, "keysDeleted": count}),
            );
            CleanupOutcome::Cleaned { keys_deleted: count }
        }
        Ok(Cleanup::Unmarked) => CleanupOutcome::Aborted {
            error: "SQL migration receipt is absent — refusing to delete KV data".to_owned(),
        },
        Err(error) => CleanupOutcome::Failed { error },
    }
}

enum Cleanup {
    Deleted(u64),
    Unmarked,
}

async fn delete_legacy_keys<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
) -> Result<Cleanup, String> {
    let listed = kv.list_prefix(LEGACY_DOCUMENT_KEY).await.map_err(|error| error.to_string())?;
    let keys: Vec<String> =
        listed.into_iter().map(|(key, _)| key).filter(|key| is_legacy_key(key)).collect();
    if keys.is_empty() {
        return Ok(Cleanup::Deleted(0));
    }
    let rows = read_meta(store)?;
    if !has_marker(&rows) {
        return Ok(Cleanup::Unmarked);
    }
    for batch in keys.chunks(KV_BATCH_LIMIT) {
        kv.delete_many(batch).await.map_err(|error| error.to_string())?;
    }
    Ok(Cleanup::Deleted(keys.len() as u64))
}
