//! The load decision and the verified KV-to-SQL migration (spec 10.2, 10.6)
//! against real SQLite and legacy state laid out like the old writer did:
//! the decision table case by case, the legacy-document merge rule, read-back
//! verification, crash recovery, fail-closed integrity errors and KV cleanup.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/legacy_writer.rs"]
#[allow(dead_code)]
mod legacy_writer;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures::executor::block_on;
use legacy_writer::{append_update, checkpoint_doc, dump, get, set_field, write_legacy_document};
use serde_json::{json, Value};
use sqlite::SqliteExec;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::doc_model::summary::DocumentSummary;
use yaos_server::migration::{
    cleanup_kv, load_document, same_document, CleanupOutcome, LoadError, LoadedDocument,
    MigrationStatus, StorageMode, StorageStatus,
};
use yaos_server::store::kv::{KvError, KvStore, KvValue, MemoryKv};
use yaos_server::store::legacy_kv::{
    checkpoint_manifest_key, IntegrityRule, LegacyKvError, JOURNAL_META_KEY,
};
use yaos_server::store::sql::{SqlError, SqlExec, SqlParam, SqlValue};
use yaos_server::store::sql_store::SqlDocStore;
use yaos_server::store::{DocStore, JournalStats};
use yrs::{Any, Doc, Map, TextPrelim, Transact, WriteTxn};

const T0: u64 = 1_779_963_072_000;
/// The clock's third reading (load start, migration start, completion).
const MIGRATED_AT: &str = "2026-05-28T10:11:12.010Z";

// ---- fixtures ----

/// A vault document: each `(id, path, body)` becomes a v2 `meta` entry, a
/// `pathToId` entry and an `idToText` text, plus `sys.schemaVersion`.
fn vault(client: u64, files: &[(&str, &str, &str)]) -> Doc {
    let doc = docs::doc(client);
    add_files(&doc, files);
    doc
}

fn add_files(doc: &Doc, files: &[(&str, &str, &str)]) {
    let mut txn = doc.transact_mut();
    let meta = txn.get_or_insert_map("meta");
    let path_to_id = txn.get_or_insert_map("pathToId");
    let id_to_text = txn.get_or_insert_map("idToText");
    for &(id, path, body) in files {
        let fields: HashMap<String, Any> =
            [("path".to_owned(), Any::from(path)), ("mtime".to_owned(), Any::from(1.0))].into();
        meta.insert(&mut txn, id, Any::from(fields));
        path_to_id.insert(&mut txn, path, id);
        id_to_text.insert(&mut txn, id, TextPrelim::new(body));
    }
    txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
}

fn tombstone(doc: &Doc, id: &str, path: &str) {
    let mut txn = doc.transact_mut();
    let fields: HashMap<String, Any> =
        [("path".to_owned(), Any::from(path)), ("deleted".to_owned(), Any::from(true))].into();
    txn.get_or_insert_map("meta").insert(&mut txn, id, Any::from(fields));
}

fn active_paths(doc: &Doc) -> u64 {
    DocumentSummary::of(doc).active_path_count
}

/// A legacy store holding `doc` as a checkpoint plus one journal entry that
/// adds a file; returns the final document.
fn legacy_kv_vault(kv: &MemoryKv) -> Doc {
    let doc = vault(1, &[("f1", "one.md", "MARKER first note"), ("f2", "two.md", "second")]);
    checkpoint_doc(kv, &doc);
    let before = docs::state_vector(&doc);
    add_files(&doc, &[("f3", "three.md", "third")]);
    append_update(kv, &docs::diff(&doc, &before));
    doc
}

fn sqlite_store() -> SqlDocStore<SqliteExec> {
    SqlDocStore::new(SqliteExec::in_memory()).expect("create tables")
}

/// A clock that starts at [`T0`] and advances 5 ms per reading.
fn clock() -> impl Fn() -> u64 {
    let now = Cell::new(T0);
    move || {
        let t = now.get();
        now.set(t + 5);
        t
    }
}

fn load<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
) -> (Result<LoadedDocument, LoadError>, TraceLog) {
    let mut trace = TraceLog::default();
    let result = block_on(load_document(store, kv, &clock(), &mut trace));
    (result, trace)
}

fn load_ok<E: SqlExec, K: KvStore>(store: &SqlDocStore<E>, kv: &K) -> (LoadedDocument, TraceLog) {
    let (result, trace) = load(store, kv);
    (result.expect("load succeeds"), trace)
}

fn mode(loaded: &LoadedDocument) -> (StorageMode, MigrationStatus) {
    (loaded.status.mode.unwrap(), loaded.status.migration_status.unwrap())
}

/// Semantic equality: re-encoded updates differ between equal documents
/// holding JSON objects (see `same_document`).
fn same_state(a: &Doc, b: &Doc) -> bool {
    same_document(a, b)
}

fn meta_rows<E: SqlExec>(store: &SqlDocStore<E>) -> Vec<(String, String)> {
    store.read_migration_meta().unwrap()
}

/// Raw `snapshot_chunks` rows.
fn snapshot_rows(sql: &impl SqlExec) -> Vec<Vec<SqlValue>> {
    let mut rows = Vec::new();
    sql.query(
        "SELECT chunk_index, data FROM snapshot_chunks ORDER BY chunk_index",
        &[],
        &mut |row| {
            rows.push(row);
            Ok(())
        },
    )
    .unwrap();
    rows
}

fn snapshot_sizes(sql: &impl SqlExec) -> Vec<usize> {
    snapshot_rows(sql)
        .into_iter()
        .map(|row| match &row[1] {
            SqlValue::Blob(data) => data.len(),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn trace_data<'a>(trace: &'a TraceLog, event: &str) -> &'a Value {
    &trace.events.iter().find(|(name, _)| name == event).unwrap_or_else(|| panic!("no {event}")).1
}

fn expected_marker(
    format: &str,
    entries: u64,
    bytes: u64,
    snapshot: usize,
    paths: u64,
) -> Vec<(String, String)> {
    [
        ("migration_completed", "true".to_owned()),
        ("migrated_at", MIGRATED_AT.to_owned()),
        ("source_format", format.to_owned()),
        ("source_entries", entries.to_string()),
        ("source_bytes", bytes.to_string()),
        ("snapshot_bytes", snapshot.to_string()),
        ("active_path_count", paths.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// An `SqlExec` that, when armed, flips one byte of the text `MARKER` in
/// every snapshot chunk it reads: a reload that decodes but differs.
struct FlipExec {
    inner: SqliteExec,
    armed: Cell<bool>,
}

impl SqlExec for FlipExec {
    fn query(
        &self,
        sql: &str,
        params: &[SqlParam<'_>],
        on_row: &mut dyn FnMut(Vec<SqlValue>) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        let flip =
            self.armed.get() && sql.starts_with("SELECT chunk_index, data FROM snapshot_chunks");
        self.inner.query(sql, params, &mut |mut row| {
            if let (true, Some(SqlValue::Blob(data))) = (flip, row.get_mut(1)) {
                if let Some(at) = data.windows(6).position(|w| w == b"MARKER") {
                    data[at + 5] = b'X';
                }
            }
            on_row(row)
        })
    }

    fn transaction(&self, body: &mut dyn FnMut() -> Result<(), SqlError>) -> Result<(), SqlError> {
        self.inner.transaction(body)
    }
}

/// A `KvStore` over `MemoryKv` that records the size of each delete batch.
#[derive(Default)]
struct CountingKv {
    inner: MemoryKv,
    delete_batches: RefCell<Vec<usize>>,
}

impl KvStore for CountingKv {
    async fn get(&self, key: &str) -> Result<Option<KvValue>, KvError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: KvValue) -> Result<(), KvError> {
        self.inner.put(key, value).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.delete_batches.borrow_mut().push(keys.len());
        self.inner.delete_many(keys).await
    }
    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, KvValue)>, KvError> {
        self.inner.list_prefix(prefix).await
    }
}

// ---- the decision table ----

#[test]
fn nothing_stored_is_fresh_and_writes_nothing() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::Fresh, MigrationStatus::NotStarted));
    assert!(!loaded.is_read_only());
    assert_eq!(loaded.journal, JournalStats::default());
    assert!(!store.has_data().unwrap());
    assert!(meta_rows(&store).is_empty());
    assert_eq!(trace.names(), ["checkpoint-load"]);
    assert_eq!(trace_data(&trace, "checkpoint-load")["hasSnapshot"], json!(false));
    assert_eq!(
        loaded.status.to_json(0),
        json!({"mode": "fresh", "migrationStatus": "not_started", "migrationAt": null,
               "migrationDurationMs": null, "coldLoadDurationMs": 5, "oversizedDeltaCount": 0,
               "migrationMeta": null})
    );
}

#[test]
fn sql_data_is_served_as_sql() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = vault(1, &[("f1", "one.md", "body")]);
    store.rewrite_checkpoint(&docs::full_state(&doc)).unwrap();
    let before = docs::state_vector(&doc);
    add_files(&doc, &[("f2", "two.md", "more")]);
    store.append_update(&docs::diff(&doc, &before)).unwrap();

    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::Sql, MigrationStatus::AlreadySql));
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(loaded.journal.entry_count, 1);
    assert_eq!(trace.names(), ["checkpoint-load"]);
    let data = trace_data(&trace, "checkpoint-load");
    assert_eq!(
        (data["hasSnapshot"].clone(), data["journalEntryCount"].clone()),
        (json!(true), json!(1))
    );
    assert!(meta_rows(&store).is_empty(), "a vault born on SQL needs no marker");
}

#[test]
fn legacy_kv_is_migrated_verified_and_marked() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = legacy_kv_vault(&kv);
    // Large enough for several 64 KiB legacy chunks and two 1 MiB SQL chunks.
    let before = docs::state_vector(&doc);
    add_files(&doc, &[("big", "big.md", &docs::filler(1_100_000, 5))]);
    append_update(&kv, &docs::diff(&doc, &before));
    let kv_before = dump(&kv);
    let (_, entries, bytes) = legacy_writer::journal_state(&kv);

    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(loaded.journal, JournalStats::default());
    assert!(!loaded.legacy_document_migrated);
    assert_eq!(trace.names(), ["kv-to-sql-migration"]);
    assert_eq!(trace_data(&trace, "kv-to-sql-migration")["verified"], json!(true));

    // SQL now rebuilds the same document on its own.
    let reloaded = docs::rebuilt(&store.load().unwrap());
    assert!(same_state(&reloaded, &doc));
    assert_eq!(snapshot_rows(store.sql()).len(), 2);
    let snapshot = docs::full_state(&doc).len();
    assert_eq!(meta_rows(&store), expected_marker("kv", entries, bytes, snapshot, 4));
    assert_eq!(loaded.status.migration_at.as_deref(), Some(MIGRATED_AT));
    assert_eq!(loaded.status.migration_meta.as_ref(), Some(&meta_rows(&store)));
    let status = loaded.status.to_json(2);
    assert_eq!(status["migrationMeta"]["source_format"], json!("kv"));
    assert_eq!(status["oversizedDeltaCount"], json!(2));
    // Every legacy key is kept for rollback.
    assert_eq!(dump(&kv), kv_before);
}

#[test]
fn the_deployed_layout_migrates_several_512_kib_chunks_and_a_journal_past_128_entries() {
    use legacy_writer::{Writer, DEPLOYED_CHUNK_BYTES};
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    // A checkpoint of three 512 KiB chunks (the released writer's size)...
    let doc = vault(1, &[("base", "base.md", &docs::filler(2 * DEPLOYED_CHUNK_BYTES + 5000, 9))]);
    Writer::DEPLOYED.checkpoint_doc(&kv, &doc);
    assert!(get(&kv, &legacy_writer::checkpoint_chunk_key(1, 2)).is_some(), "three chunks");
    // ...then 200 small deltas: more journal entries than one 128-key batch.
    for i in 0..200 {
        let before = docs::state_vector(&doc);
        let (id, path) = (format!("n{i}"), format!("notes/n{i}.md"));
        add_files(&doc, &[(&id, &path, &format!("note {i}"))]);
        Writer::DEPLOYED.append_update(&kv, &docs::diff(&doc, &before));
    }
    assert_eq!(legacy_writer::journal_state(&kv).1, 200);
    let kv_before = dump(&kv);

    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(active_paths(&loaded.doc), 201);
    assert!(same_state(&docs::rebuilt(&store.load().unwrap()), &doc), "SQL alone rebuilds it");
    assert_eq!(dump(&kv), kv_before, "every legacy key kept");

    // The released writer's compaction removes every chunk of every entry.
    let kv2 = MemoryKv::default();
    Writer::DEPLOYED.checkpoint_doc(&kv2, &doc);
    Writer::DEPLOYED.append_update(&kv2, &docs::filler(DEPLOYED_CHUNK_BYTES + 1, 2).into_bytes());
    Writer::DEPLOYED.checkpoint_doc(&kv2, &doc);
    let journal_keys =
        kv2.entries.borrow().keys().filter(|k| k.starts_with("document:journal:chunk:")).count();
    assert_eq!(journal_keys, 0);
}

#[test]
fn sql_load_failure_serves_legacy_kv_read_only() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = legacy_kv_vault(&kv);
    store.rewrite_checkpoint(&docs::full_state(&vault(7, &[("x", "x.md", "sql")]))).unwrap();
    let rows_before = snapshot_rows(store.sql());
    store.sql().fail_statement("FROM snapshot_chunks", 0);

    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert!(loaded.is_read_only());
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(loaded.journal.entry_count, 1, "legacy journal statistics");
    assert_eq!(trace.names(), ["sql-load-failed", "kv-fallback-activated"]);
    assert!(trace_data(&trace, "sql-load-failed")["error"].as_str().unwrap().contains("injected"));
    assert_eq!(snapshot_rows(store.sql()), rows_before, "nothing written");
    assert!(meta_rows(&store).is_empty());
}

#[test]
fn undecodable_sql_rows_count_as_a_failed_sql_load() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = legacy_kv_vault(&kv);
    store
        .sql()
        .execute(
            "INSERT INTO snapshot_chunks (chunk_index, data) VALUES (0, ?)",
            &[SqlParam::Blob(&[0xff; 8])],
        )
        .unwrap();
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(trace.names(), ["sql-load-failed", "kv-fallback-activated"]);
}

#[test]
fn sql_load_failure_without_kv_data_is_unrecoverable_but_serves() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    store.sql().fail_statement("FROM snapshot_chunks", 0);
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert!(loaded.is_read_only());
    assert_eq!(docs::full_state(&loaded.doc), docs::full_state(&Doc::new()));
    assert_eq!(trace.names(), ["sql-load-failed", "storage-unrecoverable"]);
}

// ---- the legacy-document merge rule ----

#[test]
fn legacy_document_is_applied_when_kv_has_no_file_state() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let legacy = vault(2, &[("old", "old.md", "from the legacy key")]);
    write_legacy_document(&kv, &docs::full_state(&legacy));
    // The chunked store only knows the schema version: no file state.
    let kv_doc = docs::doc(3);
    {
        let mut txn = kv_doc.transact_mut();
        txn.get_or_insert_map("sys").insert(&mut txn, "initialized", true);
    }
    checkpoint_doc(&kv, &kv_doc);

    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(loaded.legacy_document_migrated);
    assert_eq!(active_paths(&loaded.doc), 1, "legacy file kept");
    let expected = docs::doc(4);
    docs::apply(&expected, &docs::full_state(&legacy));
    docs::apply(&expected, &docs::full_state(&kv_doc));
    assert!(same_state(&loaded.doc, &expected));
    assert_eq!(trace_data(&trace, "kv-to-sql-migration")["legacyApplied"], json!(true));
    let marker = meta_rows(&store);
    assert_eq!(marker[2], ("source_format".to_owned(), "legacy+kv".to_owned()));
    assert_eq!(marker[6], ("active_path_count".to_owned(), "1".to_owned()));
    assert_eq!(get(&kv, "document"), None, "legacy key deleted after the verified migration");
    assert!(get(&kv, &checkpoint_manifest_key(1)).is_some(), "chunked keys kept");
}

#[test]
fn legacy_document_is_discarded_when_kv_has_files() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let legacy = vault(2, &[("old", "old.md", "stale copy")]);
    write_legacy_document(&kv, &docs::full_state(&legacy));
    let doc = legacy_kv_vault(&kv);

    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(loaded.legacy_document_migrated, "true either way");
    assert!(same_state(&loaded.doc, &doc), "KV state only");
    assert_eq!(trace_data(&trace, "kv-to-sql-migration")["legacyApplied"], json!(false));
    assert_eq!(meta_rows(&store)[2].1, "legacy+kv");
    assert_eq!(get(&kv, "document"), None);
}

#[test]
fn legacy_document_is_discarded_when_kv_meta_holds_only_tombstones() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    write_legacy_document(&kv, &docs::full_state(&vault(2, &[("old", "old.md", "x")])));
    let kv_doc = docs::doc(3);
    tombstone(&kv_doc, "gone", "gone.md");
    checkpoint_doc(&kv, &kv_doc);
    assert_eq!(active_paths(&kv_doc), 0);

    let (loaded, _) = load_ok(&store, &kv);
    assert!(same_state(&loaded.doc, &kv_doc), "a non-empty meta map keeps the legacy doc out");
    assert!(loaded.legacy_document_migrated);
}

#[test]
fn legacy_document_without_active_paths_is_discarded() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let legacy = docs::doc(2);
    tombstone(&legacy, "gone", "gone.md");
    write_legacy_document(&kv, &docs::full_state(&legacy));
    let kv_doc = docs::doc(3);
    docs::append_text(&kv_doc, "no file state");
    checkpoint_doc(&kv, &kv_doc);
    let (loaded, _) = load_ok(&store, &kv);
    assert!(same_state(&loaded.doc, &kv_doc));
}

#[test]
fn legacy_document_alone_is_migrated() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let legacy = vault(2, &[("a", "a.md", "1"), ("b", "b.md", "2")]);
    write_legacy_document(&kv, &docs::full_state(&legacy));
    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(same_state(&loaded.doc, &legacy));
    let snapshot = docs::full_state(&legacy).len();
    assert_eq!(meta_rows(&store), expected_marker("legacy+kv", 0, 0, snapshot, 2));
    assert!(kv.entries.borrow().is_empty());
}

// ---- verification and crash recovery ----

#[test]
fn verification_catches_a_corrupted_read_back() {
    let exec = FlipExec { inner: SqliteExec::in_memory(), armed: Cell::new(true) };
    let (store, kv) = (SqlDocStore::new(exec).unwrap(), MemoryKv::default());
    write_legacy_document(&kv, &docs::full_state(&vault(2, &[("z", "z.md", "legacy")])));
    let doc = legacy_kv_vault(&kv);
    let kv_before = dump(&kv);

    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert!(loaded.is_read_only());
    assert!(same_state(&loaded.doc, &doc), "the legacy source is served");
    assert_eq!(trace.names(), ["kv-to-sql-migration-failed", "kv-fallback-activated"]);
    let failure = trace_data(&trace, "kv-to-sql-migration-failed");
    assert_eq!(failure["stage"], json!("verify"));
    assert_eq!(failure["bytesMatch"], json!(false));
    assert_eq!(failure["stateMatches"], json!(true), "same ids, different content");
    assert_eq!(failure["contentMatches"], json!(false));
    assert!(!store.has_data().unwrap(), "the unverified snapshot is cleared");
    assert!(meta_rows(&store).is_empty(), "no marker");
    assert_eq!(dump(&kv), kv_before, "legacy keys, `document` included, untouched");

    // The next activation, with honest reads, migrates.
    store.sql().armed.set(false);
    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(same_state(&loaded.doc, &doc));
}

#[test]
fn migrating_twice_gives_the_same_result() {
    let kv = MemoryKv::default();
    write_legacy_document(&kv, &docs::full_state(&vault(2, &[("z", "z.md", "legacy")])));
    legacy_kv_vault(&kv);
    let kv_copy = MemoryKv { entries: RefCell::new(kv.entries.borrow().clone()) };
    let (first, second) = (sqlite_store(), sqlite_store());
    let (a, _) = load_ok(&first, &kv);
    let (b, _) = load_ok(&second, &kv_copy);
    // JSON objects may be encoded in a different key order, so the snapshots
    // are compared as documents; their sizes and the markers are identical.
    assert!(same_state(&a.doc, &b.doc));
    assert!(same_state(
        &docs::rebuilt(&first.load().unwrap()),
        &docs::rebuilt(&second.load().unwrap())
    ));
    assert_eq!(snapshot_sizes(first.sql()), snapshot_sizes(second.sql()));
    assert_eq!(meta_rows(&first), meta_rows(&second));

    // Loading the migrated store again serves SQL and changes nothing.
    let (again, trace) = load_ok(&first, &kv);
    assert_eq!(mode(&again), (StorageMode::Sql, MigrationStatus::AlreadySql));
    assert!(same_state(&again.doc, &a.doc));
    assert_eq!(trace.names(), ["checkpoint-load"]);
    assert_eq!(snapshot_sizes(first.sql()), snapshot_sizes(second.sql()));
    assert_eq!(meta_rows(&first), meta_rows(&second));
}

#[test]
fn a_missing_marker_is_completed_on_the_next_load() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    write_legacy_document(&kv, &docs::full_state(&vault(2, &[("z", "z.md", "legacy")])));
    let doc = legacy_kv_vault(&kv);
    let reference = sqlite_store();
    let reference_kv = MemoryKv { entries: RefCell::new(kv.entries.borrow().clone()) };
    load_ok(&reference, &reference_kv);

    // The marker write fails (as a crash between snapshot and marker would
    // leave it): the verified data is still served and writable.
    store.sql().fail_statement("INSERT OR REPLACE INTO _migration_meta", 0);
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(!loaded.is_read_only());
    assert_eq!(trace.names(), ["kv-to-sql-migration-marker-failed", "kv-to-sql-migration"]);
    assert!(meta_rows(&store).is_empty());
    assert!(get(&kv, "document").is_some(), "kept until the marker exists");

    // Saves continue before the next activation.
    let before = docs::state_vector(&doc);
    add_files(&doc, &[("new", "new.md", "written after the migration")]);
    store.append_update(&docs::diff(&doc, &before)).unwrap();

    let (resumed, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&resumed), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(same_state(&resumed.doc, &doc));
    assert_eq!(resumed.journal.entry_count, 1);
    assert_eq!(trace.names(), ["kv-to-sql-migration"]);
    assert_eq!(trace_data(&trace, "kv-to-sql-migration")["resumed"], json!(true));
    assert_eq!(meta_rows(&store), meta_rows(&reference), "same marker as an uninterrupted run");
    assert_eq!(get(&kv, "document"), None);

    let (third, _) = load_ok(&store, &kv);
    assert_eq!(mode(&third), (StorageMode::Sql, MigrationStatus::AlreadySql));
}

#[test]
fn a_crash_after_the_snapshot_is_completed_on_the_next_load() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = legacy_kv_vault(&kv);
    // Exactly what the migration writes, then "crash" before the marker.
    store.rewrite_checkpoint(&docs::full_state(&doc)).unwrap();
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert_eq!(trace.names(), ["kv-to-sql-migration"]);
    assert_eq!(meta_rows(&store)[0], ("migration_completed".to_owned(), "true".to_owned()));
}

#[test]
fn sql_without_marker_missing_legacy_data_is_not_marked() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = legacy_kv_vault(&kv);
    store.rewrite_checkpoint(&docs::full_state(&vault(9, &[("other", "other.md", "x")]))).unwrap();
    let rows_before = snapshot_rows(store.sql());
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(trace.names(), ["kv-to-sql-migration-failed", "kv-fallback-activated"]);
    assert_eq!(trace_data(&trace, "kv-to-sql-migration-failed")["stage"], json!("resume-verify"));
    assert!(meta_rows(&store).is_empty());
    assert_eq!(snapshot_rows(store.sql()), rows_before);
}

#[test]
fn a_failed_snapshot_transaction_is_retried_on_the_next_load() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = vault(1, &[("f", "f.md", &docs::filler(2_500_000, 9))]);
    checkpoint_doc(&kv, &doc);
    // The second chunk insert fails: the transaction rolls back.
    store.sql().fail_statement("INSERT INTO snapshot_chunks", 1);
    let (loaded, trace) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert_eq!(trace.names(), ["kv-to-sql-migration-failed", "kv-fallback-activated"]);
    assert_eq!(trace_data(&trace, "kv-to-sql-migration-failed")["stage"], json!("write"));
    assert!(!store.has_data().unwrap(), "rolled back");

    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert!(same_state(&loaded.doc, &doc));
    assert_eq!(snapshot_rows(store.sql()).len(), 3);
}

#[test]
fn a_kv_integrity_error_fails_the_load_and_writes_nothing() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    write_legacy_document(&kv, &docs::full_state(&vault(2, &[("z", "z.md", "legacy")])));
    legacy_kv_vault(&kv);
    set_field(&kv, JOURNAL_META_KEY, "totalBytes", KvValue::Number(1.0));
    let kv_before = dump(&kv);

    let (result, trace) = load(&store, &kv);
    match result {
        Err(LoadError::Legacy(LegacyKvError::Integrity { key, rule })) => {
            assert_eq!(key, JOURNAL_META_KEY);
            assert!(matches!(rule, IntegrityRule::JournalTotalMismatch { declared: 1, .. }));
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    assert_eq!(trace.names(), ["legacy-kv-load-failed"]);
    assert!(!store.has_data().unwrap());
    assert!(meta_rows(&store).is_empty());
    assert_eq!(dump(&kv), kv_before, "nothing deleted");
}

#[test]
fn pending_updates_survive_the_migration() {
    // A journal entry whose dependencies never arrived stays pending in the
    // document; the migrated snapshot must still carry it.
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let doc = vault(1, &[("f", "f.md", "base")]);
    checkpoint_doc(&kv, &doc);
    let writer = docs::doc(5);
    docs::append_text(&writer, "first ");
    let missing = docs::state_vector(&writer);
    docs::append_text(&writer, "second");
    append_update(&kv, &docs::diff(&writer, &missing));

    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    docs::apply(&loaded.doc, &docs::full_state(&writer));
    assert_eq!(docs::text_of(&loaded.doc), "first second");
}

#[test]
fn unloaded_status_is_all_null() {
    assert_eq!(
        StorageStatus::default().to_json(3),
        json!({"mode": null, "migrationStatus": null, "migrationAt": null, "migrationDurationMs": null,
               "coldLoadDurationMs": null, "oversizedDeltaCount": 3, "migrationMeta": null})
    );
}

// ---- KV cleanup ----

fn cleanup<E: SqlExec, K: KvStore>(store: &SqlDocStore<E>, kv: &K) -> (CleanupOutcome, TraceLog) {
    let mut trace = TraceLog::default();
    let outcome = block_on(cleanup_kv(store, kv, &mut trace));
    (outcome, trace)
}

#[test]
fn cleanup_refuses_while_sql_is_empty() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    legacy_kv_vault(&kv);
    let kv_before = dump(&kv);
    let (outcome, trace) = cleanup(&store, &kv);
    let body = outcome.to_json();
    assert_eq!((body["status"].clone(), body["keysDeleted"].clone()), (json!("aborted"), json!(0)));
    assert!(body["error"].as_str().unwrap().contains("SQL storage is empty"));
    assert!(trace.events.is_empty());
    assert_eq!(dump(&kv), kv_before);
}

#[test]
fn cleanup_refuses_without_a_migration_marker() {
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    legacy_kv_vault(&kv);
    store.rewrite_checkpoint(&docs::full_state(&vault(9, &[("o", "o.md", "x")]))).unwrap();
    let kv_before = dump(&kv);
    let (outcome, _) = cleanup(&store, &kv);
    assert!(matches!(outcome, CleanupOutcome::Aborted { .. }), "{outcome:?}");
    assert_eq!(dump(&kv), kv_before);
}

#[test]
fn cleanup_deletes_only_legacy_keys_in_batches() {
    let (store, kv) = (sqlite_store(), CountingKv::default());
    write_legacy_document(&kv.inner, &docs::full_state(&vault(2, &[("z", "z.md", "legacy")])));
    let doc = legacy_kv_vault(&kv.inner);
    // Leftover chunks of old journal entries, as the old writer left them.
    for i in 1..=300 {
        let key = format!("document:journal:chunk:{}:{i}", 40 + i % 3);
        kv.inner.entries.borrow_mut().insert(key, KvValue::Bytes(vec![1]));
    }
    let keep =
        ["roomMeta", "trace:1779963072000:abcdefabcdef", "documents", "document-x", "__ps_name"];
    for key in keep {
        kv.inner.entries.borrow_mut().insert(key.to_owned(), KvValue::Bool(true));
    }
    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    let legacy_keys =
        kv.inner.entries.borrow().keys().filter(|k| k.starts_with("document:")).count();
    kv.delete_batches.borrow_mut().clear();

    let (outcome, trace) = cleanup(&store, &kv);
    assert_eq!(outcome, CleanupOutcome::Cleaned { keys_deleted: legacy_keys as u64 });
    assert_eq!(outcome.to_json(), json!({"status": "cleaned", "keysDeleted": legacy_keys}));
    assert!(kv.delete_batches.borrow().iter().all(|&n| n <= 128));
    assert_eq!(kv.delete_batches.borrow().iter().sum::<usize>(), legacy_keys);
    let left: Vec<String> = kv.inner.entries.borrow().keys().cloned().collect();
    let mut expected: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(trace.names(), ["server.kv_cleanup_succeeded"]);

    // SQL still serves the document; a second cleanup has nothing to do.
    let (again, _) = load_ok(&store, &kv);
    assert!(same_state(&again.doc, &doc));
    let (outcome, _) = cleanup(&store, &kv);
    assert_eq!(outcome.to_json(), json!({"status": "noop", "keysDeleted": 0}));
}

// ---- repair of a vault stuck read-only ----

#[test]
fn a_vault_stuck_read_only_by_a_failed_resume_is_repaired_by_merging_both_copies() {
    use yaos_server::migration::repair::{plan, repair};
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    // Legacy data the old server kept writing after a rolled-back upgrade,
    // and SQL rows of the interrupted migration (no marker) that lack it.
    let legacy = legacy_kv_vault(&kv);
    let sql_only = vault(7, &[("x", "x.md", "only in SQL")]);
    store.rewrite_checkpoint(&docs::full_state(&sql_only)).unwrap();
    let (loaded, _) = load_ok(&store, &kv);
    assert!(loaded.is_read_only(), "stuck: the resume check fails on every load");
    let kv_before = dump(&kv);
    let rows_before = snapshot_rows(store.sql());

    // The dry run says what it would do and changes nothing.
    let planned = block_on(plan(&store, &kv)).unwrap();
    assert!(planned.applicable, "{planned:?}");
    assert_eq!(planned.steps.len(), 4);
    assert_eq!(planned.sql_active_paths, 1);
    assert_eq!(planned.merged_active_paths, planned.legacy_active_paths + 1);
    assert_eq!(snapshot_rows(store.sql()), rows_before);
    assert!(meta_rows(&store).is_empty());

    let done = block_on(repair(&store, &kv, T0)).unwrap();
    assert!(done.applicable);
    assert_eq!(dump(&kv), kv_before, "the legacy keys are never touched");
    let (loaded, _) = load_ok(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::Sql, MigrationStatus::AlreadySql));
    assert!(!loaded.is_read_only(), "writable again");
    let merged = docs::rebuilt(&store.load().unwrap());
    assert_eq!(docs::state_vector(&merged), {
        let both = docs::doc(1);
        docs::apply(&both, &docs::full_state(&legacy));
        docs::apply(&both, &docs::full_state(&sql_only));
        docs::state_vector(&both)
    });
    assert!(meta_rows(&store).iter().any(|(k, _)| k == "repaired_at"));
    // Once repaired there is nothing left to repair.
    let again = block_on(plan(&store, &kv)).unwrap();
    assert!(!again.applicable && again.reason.unwrap().contains("complete"));
}

#[test]
fn a_repair_whose_snapshot_reads_back_with_other_content_writes_no_marker() {
    use yaos_server::migration::repair::repair;
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    legacy_kv_vault(&kv);
    let sql_only = vault(7, &[("x", "x.md", "only in SQL")]);
    store.rewrite_checkpoint(&docs::full_state(&sql_only)).unwrap();
    let (loaded, _) = load_ok(&store, &kv);
    assert!(loaded.is_read_only(), "stuck");
    // Storage that reads one note's text back changed: same structs, same
    // state vector, other content. Only a content check can tell.
    store.sql().corrupt_reads("snapshot_chunks", b"MARKER first", b"MARKEX first");
    let refused = block_on(repair(&store, &kv, T0)).unwrap_err();
    assert!(refused.to_string().contains("does not read back"), "{refused}");
    assert!(
        !meta_rows(&store).iter().any(|(k, _)| k == "repaired_at" || k == "migration_completed"),
        "no marker: the next load resumes and checks again"
    );
}

#[test]
fn repair_refuses_a_vault_that_is_not_stuck() {
    use yaos_server::migration::repair::plan;
    let (store, kv) = (sqlite_store(), MemoryKv::default());
    let refused = block_on(plan(&store, &kv)).unwrap();
    assert!(!refused.applicable && refused.reason.unwrap().contains("no data"));
    legacy_kv_vault(&kv);
    load_ok(&store, &kv); // a normal migration
    assert!(!block_on(plan(&store, &kv)).unwrap().applicable);
}
