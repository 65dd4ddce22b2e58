//! The document a migration serves. The migration drops its source document
//! before rebuilding one from SQL and serves the rebuilt one, so these tests
//! check that it equals the legacy source, using an oracle independent of
//! `same_document`'s hashing (state vector, snapshot, pending updates and
//! every root's JSON compared directly). Also: a resume that finds SQL
//! missing a deletion, and the equalities `same_document` must keep.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/legacy_writer.rs"]
#[allow(dead_code)]
mod legacy_writer;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::collections::{BTreeSet, HashMap};

use futures::executor::block_on;
use legacy_writer::{append_update, checkpoint_doc};
use serde_json::json;
use sqlite::SqliteExec;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::migration::{
    load_document, same_document, LoadedDocument, MigrationStatus, StorageMode,
};
use yaos_server::store::kv::MemoryKv;
use yaos_server::store::sql_store::SqlDocStore;
use yaos_server::store::DocStore;
use yrs::types::ToJson;
use yrs::{
    Any, Doc, GetString, Map, MapPrelim, ReadTxn, Text, TextPrelim, Transact, Transaction, WriteTxn,
};

fn load(store: &SqlDocStore<SqliteExec>, kv: &MemoryKv) -> (LoadedDocument, TraceLog) {
    let mut trace = TraceLog::default();
    let clock = || 1_779_963_072_000;
    let loaded = block_on(load_document(store, kv, &clock, &mut trace)).expect("load succeeds");
    (loaded, trace)
}

fn mode(loaded: &LoadedDocument) -> (StorageMode, MigrationStatus) {
    (loaded.status.mode.unwrap(), loaded.status.migration_status.unwrap())
}

fn root_names(txn: &Transaction) -> BTreeSet<String> {
    txn.root_refs().map(|(name, _)| name.to_owned()).collect()
}

/// The oracle: what `same_document` compared before it hashed, compared here
/// value by value (`Any` equality ignores JSON key order).
fn assert_same(served: &Doc, expected: &Doc) {
    let (a, b) = (served.transact(), expected.transact());
    assert_eq!(a.state_vector(), b.state_vector());
    assert_eq!(a.snapshot(), b.snapshot(), "state vector and delete set");
    assert_eq!(a.has_missing_updates(), b.has_missing_updates());
    assert_eq!(root_names(&a), root_names(&b));
    for name in root_names(&a) {
        let map = |t: &Transaction| t.get_map(name.as_str()).map(|m| m.to_json(t));
        let text = |t: &Transaction| t.get_text(name.as_str()).map(|x| x.get_string(t));
        assert_eq!(map(&a), map(&b), "root {name} as a map");
        assert_eq!(text(&a), text(&b), "root {name} as text");
    }
}

/// A vault with everything the fingerprint must see: JSON-object (v2) and
/// nested Y.Map (plugin) metadata, integer and float numbers, a tombstone,
/// texts with deletions, a root-level text and a note over 1 MiB (several
/// SQL chunks).
fn rich_vault(client: u64) -> Doc {
    let doc = docs::doc(client);
    let mut txn = doc.transact_mut();
    let meta = txn.get_or_insert_map("meta");
    let path_to_id = txn.get_or_insert_map("pathToId");
    let id_to_text = txn.get_or_insert_map("idToText");
    for i in 0..40u32 {
        let (id, path) = (format!("id{i:02}"), format!("folder/note {i}.md"));
        let mtime = Any::from(1_700_000_000_000i64 + i64::from(i)); // > 2^31: encoded as a float
        if i % 2 == 0 {
            let fields: HashMap<String, Any> = [
                ("path".to_owned(), Any::from(path.as_str())),
                ("mtime".to_owned(), mtime),
                ("size".to_owned(), Any::from(i)),
                ("ratio".to_owned(), Any::from(f64::from(i) / 3.0)),
                ("tags".to_owned(), Any::from(vec![Any::from("a"), Any::from(i), Any::Null])),
            ]
            .into();
            meta.insert(&mut txn, id.as_str(), Any::from(fields));
        } else {
            let fields = MapPrelim::from([("path", Any::from(path.as_str())), ("mtime", mtime)]);
            meta.insert(&mut txn, id.as_str(), fields);
        }
        path_to_id.insert(&mut txn, path, id.as_str());
        let body = format!("# Note {i}\n\n{}", docs::filler(300, u64::from(i)));
        let text = id_to_text.insert(&mut txn, id, TextPrelim::new(body));
        text.remove_range(&mut txn, 2, 5);
    }
    let gone: HashMap<String, Any> =
        [("path".to_owned(), Any::from("gone.md")), ("deleted".to_owned(), Any::from(true))].into();
    meta.insert(&mut txn, "gone", Any::from(gone));
    id_to_text.insert(&mut txn, "big", TextPrelim::new(docs::filler(1_200_000, 7)));
    txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
    drop(txn);
    docs::append_text(&doc, "a root-level text");
    docs::remove_text(&doc, 2, 4);
    doc
}

/// Lays out `rich_vault` as the old server would have after a checkpoint and
/// three journal entries (an edit, a deletion, and an update whose
/// dependency never arrived). Returns the document the old server served.
fn legacy_rich_vault(kv: &MemoryKv) -> Doc {
    let doc = rich_vault(1);
    checkpoint_doc(kv, &doc);
    let mut entries = Vec::new();
    let before = docs::state_vector(&doc);
    {
        let mut txn = doc.transact_mut();
        let text = txn.get_or_insert_map("idToText").get(&txn, "id03").unwrap();
        let text: yrs::TextRef = text.cast().unwrap();
        text.insert(&mut txn, 0, "edited ");
        txn.get_or_insert_map("pathToId").remove(&mut txn, "folder/note 5.md");
    }
    entries.push(docs::diff(&doc, &before));
    let before = docs::state_vector(&doc);
    docs::remove_text(&doc, 0, 3);
    entries.push(docs::diff(&doc, &before));
    let writer = docs::doc(5);
    docs::append_text(&writer, "never arrives ");
    let missing = docs::state_vector(&writer);
    docs::append_text(&writer, "pending");
    entries.push(docs::diff(&writer, &missing));

    let served = docs::doc(77);
    docs::apply(&served, &docs::full_state(&rich_vault(1)));
    for entry in &entries {
        append_update(kv, entry);
        docs::apply(&served, entry);
    }
    served
}

#[test]
fn the_served_document_is_the_legacy_source() {
    let (store, kv) = (SqlDocStore::new(SqliteExec::in_memory()).unwrap(), MemoryKv::default());
    let expected = legacy_rich_vault(&kv);
    assert!(expected.transact().has_missing_updates(), "the fixture has a pending update");

    let (loaded, trace) = load(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert_eq!(trace.names(), ["kv-to-sql-migration"]);
    assert_same(&loaded.doc, &expected);
    assert!(same_document(&loaded.doc, &expected));
    assert_eq!(store.snapshot_size().unwrap().0, 2, "the snapshot spans two SQL chunks");
    assert_same(&docs::rebuilt(&store.load().unwrap()), &expected);

    // It behaves as the source would: the missing dependency and a new edit
    // land the same way in both.
    let edit = {
        let writer = docs::doc(5);
        docs::append_text(&writer, "never arrives ");
        docs::full_state(&writer)
    };
    docs::apply(&loaded.doc, &edit);
    docs::apply(&expected, &edit);
    assert!(!loaded.doc.transact().has_missing_updates());
    assert_same(&loaded.doc, &expected);
}

#[test]
fn a_resumed_migration_serves_the_legacy_source() {
    let (store, kv) = (SqlDocStore::new(SqliteExec::in_memory()).unwrap(), MemoryKv::default());
    let expected = legacy_rich_vault(&kv);
    // What the migration writes, then a crash before the marker.
    store.rewrite_checkpoint(&docs::full_state(&expected)).unwrap();

    let (loaded, trace) = load(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvMigrated, MigrationStatus::Migrated));
    assert_eq!(trace.names(), ["kv-to-sql-migration"]);
    let data = &trace.events[0].1;
    assert_eq!(data["resumed"], json!(true));
    assert_eq!(data["migratedBytes"], json!(docs::full_state(&expected).len()));
    assert_same(&loaded.doc, &expected);
}

#[test]
fn a_resume_finding_sql_without_a_legacy_deletion_serves_the_legacy_data() {
    let (store, kv) = (SqlDocStore::new(SqliteExec::in_memory()).unwrap(), MemoryKv::default());
    let doc = rich_vault(1);
    checkpoint_doc(&kv, &doc);
    store.rewrite_checkpoint(&docs::full_state(&doc)).unwrap();
    // A deletion adds no block: SQL passes the state-vector precheck and only
    // merging the legacy data shows what it lacks.
    let before = docs::state_vector(&doc);
    docs::remove_text(&doc, 0, 5);
    assert_eq!(docs::state_vector(&doc), before);
    append_update(&kv, &docs::diff(&doc, &before));
    let sql_before = store.load().unwrap();

    let (loaded, trace) = load(&store, &kv);
    assert_eq!(mode(&loaded), (StorageMode::KvFallback, MigrationStatus::Failed));
    assert!(loaded.is_read_only());
    assert_eq!(trace.names(), ["kv-to-sql-migration-failed", "kv-fallback-activated"]);
    assert_eq!(trace.events[0].1["stage"], json!("resume-verify"));
    assert_same(&loaded.doc, &doc);
    assert_eq!(store.load().unwrap(), sql_before, "nothing written");
    assert!(store.read_migration_meta().unwrap().is_empty());
}

/// Two documents from the same operations, differing only in one value.
fn with_value(value: Any) -> Doc {
    let doc = docs::doc(3);
    let mut txn = doc.transact_mut();
    let object: HashMap<String, Any> =
        (0..20).map(|i| (format!("k{i}"), Any::from(i))).chain([("v".to_owned(), value)]).collect();
    txn.get_or_insert_map("meta").insert(&mut txn, "entry", Any::from(object));
    drop(txn);
    doc
}

#[test]
fn same_document_compares_values_not_their_encoding() {
    // An integer that no longer fits lib0's varint comes back as a float.
    let local = with_value(Any::from(1_700_000_000_000i64));
    let round_trip = docs::doc(9);
    docs::apply(&round_trip, &docs::full_state(&local));
    assert!(same_document(&local, &round_trip));
    assert!(same_document(&with_value(Any::from(5)), &with_value(Any::from(5.0))));
    assert!(same_document(&with_value(Any::from(0.0)), &with_value(Any::from(-0.0))));
    assert!(!same_document(&with_value(Any::from(5)), &with_value(Any::from(6))));
    assert!(!same_document(&with_value(Any::from("5")), &with_value(Any::from(5))));
    assert!(!same_document(&with_value(Any::Null), &with_value(Any::Undefined)));
    let nested = |inner: &str| with_value(Any::from(vec![Any::from(inner)]));
    assert!(!same_document(&nested("a"), &nested("b")));
}
