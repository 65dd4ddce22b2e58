//! `SqlDocStore` against real SQLite (rusqlite): the spec 10.1 table layout,
//! chunking, journal replay, validation of what is read back, and atomicity
//! of the checkpoint rewrite.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::cell::RefCell;
use std::rc::Rc;

use sqlite::SqliteExec;
use yaos_server::store::sql::{SqlError, SqlExec, SqlParam};
use yaos_server::store::sql_store::{SqlDocStore, MAX_JOURNAL_ENTRY_BYTES, SNAPSHOT_CHUNK_BYTES};
use yaos_server::store::{AppendOutcome, DocStore, JournalStats, StoreError};

fn store() -> SqlDocStore<SqliteExec> {
    SqlDocStore::new(SqliteExec::in_memory()).expect("create tables")
}

fn appended(outcome: AppendOutcome) -> JournalStats {
    match outcome {
        AppendOutcome::Appended(stats) => stats,
        AppendOutcome::Oversized => panic!("unexpected oversized"),
    }
}

fn corrupt_message(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Corrupt(message)) => message,
        other => panic!("expected a corrupt-state error, got {other:?}"),
    }
}

/// Collects every v1 update the document emits, as the room's observer does.
fn capture_updates(doc: &yrs::Doc) -> Rc<RefCell<Vec<Vec<u8>>>> {
    let updates = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&updates);
    doc.observe_update_v1("capture", move |_, event| sink.borrow_mut().push(event.update.clone()))
        .expect("observe");
    updates
}

#[test]
fn empty_store_loads_nothing() {
    let store = store();
    let loaded = store.load().unwrap();
    assert!(loaded.is_empty());
    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.stats, JournalStats::default());
    assert_eq!(store.journal_stats().unwrap(), JournalStats::default());
    assert!(!store.has_data().unwrap());
}

#[test]
fn creates_the_three_spec_tables() {
    let store = store();
    for table in ["snapshot_chunks", "journal", "_migration_meta"] {
        let sql =
            format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
        assert_eq!(store.sql().scalar(&sql), 1, "{table}");
    }
    appended(store.append_update(&[0, 0]).unwrap());
    assert_eq!(
        store
            .sql()
            .scalar("SELECT COUNT(*) FROM journal WHERE created_at LIKE '20__-__-__ __:__:__'"),
        1
    );
}

#[test]
fn append_then_load_round_trips_exact_bytes() {
    let store = store();
    let doc = docs::doc(1);
    let updates = capture_updates(&doc);
    docs::append_text(&doc, "hello");
    docs::set_meta(&doc, "a.md", "file-a");
    let updates = updates.borrow().clone();
    assert_eq!(updates.len(), 2);

    let mut total = 0;
    for (i, update) in updates.iter().enumerate() {
        total += update.len() as u64;
        let stats = appended(store.append_update(update).unwrap());
        assert_eq!(stats, JournalStats { entry_count: i as u64 + 1, total_bytes: total });
    }
    let loaded = store.load().unwrap();
    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.journal, updates);
    assert_eq!(loaded.stats, JournalStats { entry_count: 2, total_bytes: total });
    let rebuilt = docs::rebuilt(&loaded);
    assert_eq!(docs::text_of(&rebuilt), "hello");
    assert_eq!(docs::meta_of(&rebuilt, "a.md").as_deref(), Some("file-a"));
}

#[test]
fn empty_append_writes_nothing_and_reports_current_stats() {
    let store = store();
    appended(store.append_update(&[1, 2, 3]).unwrap());
    let stats = appended(store.append_update(&[]).unwrap());
    assert_eq!(stats, JournalStats { entry_count: 1, total_bytes: 3 });
    assert_eq!(store.sql().scalar("SELECT COUNT(*) FROM journal"), 1);
}

#[test]
fn oversized_append_writes_nothing() {
    let store = store();
    let over = vec![7u8; MAX_JOURNAL_ENTRY_BYTES + 1];
    assert_eq!(store.append_update(&over).unwrap(), AppendOutcome::Oversized);
    assert_eq!(store.sql().scalar("SELECT COUNT(*) FROM journal"), 0);
    assert!(!store.has_data().unwrap());

    let limit = vec![7u8; MAX_JOURNAL_ENTRY_BYTES];
    let stats = appended(store.append_update(&limit).unwrap());
    assert_eq!(stats, JournalStats { entry_count: 1, total_bytes: 1_572_864 });
}

#[test]
fn checkpoint_clears_the_journal_and_keeps_all_state() {
    let store = store();
    let doc = docs::doc(1);
    let updates = capture_updates(&doc);
    docs::append_text(&doc, "first ");
    docs::append_text(&doc, "second");
    docs::set_meta(&doc, "n.md", "id-1");
    for update in updates.borrow().iter() {
        appended(store.append_update(update).unwrap());
    }
    assert_eq!(store.journal_stats().unwrap().entry_count, 3);

    let full = docs::full_state(&doc);
    store.rewrite_checkpoint(&full).unwrap();
    let loaded = store.load().unwrap();
    assert!(loaded.journal.is_empty());
    assert_eq!(loaded.stats, JournalStats::default());
    assert_eq!(loaded.snapshot.as_deref(), Some(full.as_slice()));
    let rebuilt = docs::rebuilt(&loaded);
    assert_eq!(docs::text_of(&rebuilt), "first second");
    assert_eq!(docs::meta_of(&rebuilt, "n.md").as_deref(), Some("id-1"));
    assert_eq!(docs::state_vector(&rebuilt), docs::state_vector(&doc));
}

#[test]
fn document_over_one_mib_is_chunked_and_reassembles_byte_exact() {
    let store = store();
    let doc = docs::doc(1);
    let body = docs::filler(2 * SNAPSHOT_CHUNK_BYTES + 300_000, 1);
    docs::append_text(&doc, &body);
    docs::set_meta(&doc, "big.md", "id-big");
    let full = docs::full_state(&doc);
    assert!(full.len() > 2 * SNAPSHOT_CHUNK_BYTES);

    store.rewrite_checkpoint(&full).unwrap();
    assert_eq!(store.sql().scalar("SELECT COUNT(*) FROM snapshot_chunks"), 3);
    let mut lengths = Vec::new();
    store
        .sql()
        .query("SELECT length(data) FROM snapshot_chunks ORDER BY chunk_index", &[], &mut |row| {
            lengths.push(row[0].clone());
            Ok(())
        })
        .unwrap();
    let last = (full.len() - 2 * SNAPSHOT_CHUNK_BYTES) as i64;
    use yaos_server::store::sql::SqlValue::Integer;
    assert_eq!(lengths, [Integer(1_048_576), Integer(1_048_576), Integer(last)]);

    let loaded = store.load().unwrap();
    assert!(loaded.snapshot.as_deref() == Some(full.as_slice()), "snapshot bytes differ");
    let rebuilt = docs::rebuilt(&loaded);
    assert!(docs::text_of(&rebuilt) == body, "text differs after reassembly");
    assert_eq!(docs::meta_of(&rebuilt, "big.md").as_deref(), Some("id-big"));
}

#[test]
fn chunk_count_is_the_ceiling_of_length_over_one_mib() {
    let store = store();
    let mib = SNAPSHOT_CHUNK_BYTES;
    for (len, chunks) in [(0, 0), (2, 1), (mib, 1), (mib + 1, 2), (2 * mib, 2)] {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        store.rewrite_checkpoint(&bytes).unwrap();
        assert_eq!(store.sql().scalar("SELECT COUNT(*) FROM snapshot_chunks"), chunks, "len {len}");
        let loaded = store.load().unwrap();
        if len == 0 {
            assert_eq!(loaded.snapshot, None);
        } else {
            assert!(loaded.snapshot.as_deref() == Some(bytes.as_slice()), "len {len} differs");
        }
    }
}

/// `(chunk_index, data)` of every snapshot row.
fn snapshot_rows(store: &SqlDocStore<SqliteExec>) -> Vec<(i64, Vec<u8>)> {
    use yaos_server::store::sql::SqlValue::{Blob, Integer};
    let mut rows = Vec::new();
    let sql = "SELECT chunk_index, data FROM snapshot_chunks ORDER BY chunk_index";
    store
        .sql()
        .query(sql, &[], &mut |row| match &row[..] {
            [Integer(index), Blob(data)] => {
                rows.push((*index, data.clone()));
                Ok(())
            }
            other => panic!("unexpected row {other:?}"),
        })
        .unwrap();
    rows
}

#[test]
fn a_streamed_checkpoint_writes_the_rows_of_the_whole_buffer() {
    let mib = SNAPSHOT_CHUNK_BYTES;
    for len in [0, 1, mib - 1, mib, mib + 1, 3 * mib + 12_345] {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let whole = store();
        whole.rewrite_checkpoint(&bytes).unwrap();
        // Pieces of awkward sizes, some spanning chunk boundaries, some
        // longer than a chunk.
        for sizes in [&[1usize, 7, 65_536][..], &[mib + 3, 5], &[2 * mib + 1]] {
            let streamed = store();
            appended(streamed.append_update(&[1, 2, 3]).unwrap());
            let written = streamed
                .rewrite_checkpoint_streamed(&mut |sink| {
                    let mut rest = &bytes[..];
                    for &size in sizes.iter().cycle() {
                        if rest.is_empty() {
                            break;
                        }
                        let (piece, tail) = rest.split_at(size.min(rest.len()));
                        sink(piece);
                        rest = tail;
                    }
                })
                .unwrap();
            assert_eq!(written, len);
            assert!(snapshot_rows(&streamed) == snapshot_rows(&whole), "len {len} sizes {sizes:?}");
            assert_eq!(streamed.journal_stats().unwrap(), JournalStats::default());
        }
    }
}

#[test]
fn a_streamed_checkpoint_that_fails_midway_rolls_back() {
    let store = store();
    let old: Vec<u8> = (0..SNAPSHOT_CHUNK_BYTES + 10).map(|i| (i % 13) as u8).collect();
    store.rewrite_checkpoint(&old).unwrap();
    appended(store.append_update(&[1, 1, 1]).unwrap());
    let before = store.load().unwrap();

    store.sql().fail_statement("INSERT INTO snapshot_chunks", 1);
    let mut pieces = 0;
    let result = store.rewrite_checkpoint_streamed(&mut |sink| {
        for _ in 0..48 {
            pieces += 1;
            sink(&[9u8; 65_536]);
        }
    });
    assert!(matches!(result, Err(StoreError::Sql(SqlError::RolledBack(_)))), "{result:?}");
    assert_eq!(pieces, 48, "the writer runs to the end; later rows are skipped");
    assert!(store.load().unwrap() == before, "storage changed after a failed rewrite");
}

#[test]
fn snapshot_plus_journal_replay_rebuilds_the_document() {
    let store = store();
    let doc = docs::doc(1);
    let peer = docs::doc(2);
    docs::append_text(&doc, "base text. ");
    docs::set_meta(&doc, "a.md", "id-a");
    store.rewrite_checkpoint(&docs::full_state(&doc)).unwrap();

    let updates = capture_updates(&doc);
    docs::append_text(&doc, "more. ");
    docs::remove_text(&doc, 0, 5);
    docs::set_meta(&doc, "b.md", "id-b");
    // A concurrent peer's edit arriving as a sync update.
    docs::apply(&peer, &docs::full_state(&doc));
    docs::append_text(&peer, "peer edit.");
    let peer_diff = docs::diff(&peer, &docs::state_vector(&doc));
    docs::apply(&doc, &peer_diff);
    for update in updates.borrow().iter() {
        appended(store.append_update(update).unwrap());
    }

    let loaded = store.load().unwrap();
    assert!(loaded.snapshot.is_some());
    assert_eq!(loaded.journal.len(), 4);
    let rebuilt = docs::rebuilt(&loaded);
    assert_eq!(docs::state_vector(&rebuilt), docs::state_vector(&doc));
    assert_eq!(docs::text_of(&rebuilt), "text. more. peer edit.");
    assert_eq!(docs::text_of(&rebuilt), docs::text_of(&doc));
    assert_eq!(docs::meta_of(&rebuilt, "a.md").as_deref(), Some("id-a"));
    assert_eq!(docs::meta_of(&rebuilt, "b.md").as_deref(), Some("id-b"));
}

#[test]
fn failed_transaction_in_rewrite_keeps_the_old_snapshot_and_journal() {
    let store = store();
    let old: Vec<u8> = (0..SNAPSHOT_CHUNK_BYTES + 10).map(|i| (i % 13) as u8).collect();
    store.rewrite_checkpoint(&old).unwrap();
    appended(store.append_update(&[1, 1, 1]).unwrap());
    appended(store.append_update(&[2, 2]).unwrap());
    let before = store.load().unwrap();

    // Let the deletes and the first chunk insert run, then fail the second.
    store.sql().fail_statement("INSERT INTO snapshot_chunks", 1);
    let new = vec![9u8; 3 * SNAPSHOT_CHUNK_BYTES];
    match store.rewrite_checkpoint(&new) {
        Err(StoreError::Sql(SqlError::RolledBack(_))) => {}
        other => panic!("expected a rolled-back transaction, got {other:?}"),
    }
    let after = store.load().unwrap();
    assert!(after == before, "storage changed after a failed rewrite");
    assert_eq!(after.stats, JournalStats { entry_count: 2, total_bytes: 5 });

    // The store still works afterwards.
    store.rewrite_checkpoint(&new).unwrap();
    assert_eq!(store.sql().scalar("SELECT COUNT(*) FROM snapshot_chunks"), 3);
}

#[test]
fn a_gap_in_chunk_indexes_is_corrupt() {
    let store = store();
    for index in [0, 2] {
        store
            .sql()
            .execute(
                "INSERT INTO snapshot_chunks (chunk_index, data) VALUES (?, ?)",
                &[SqlParam::Integer(index), SqlParam::Blob(&[1, 2])],
            )
            .unwrap();
    }
    let message = corrupt_message(store.load());
    assert!(message.contains("snapshot_chunks") && message.contains("chunk_index=2"), "{message}");
}

#[test]
fn a_non_blob_chunk_is_corrupt() {
    let store = store();
    store
        .sql()
        .execute(
            "INSERT INTO snapshot_chunks (chunk_index, data) VALUES (0, ?)",
            &[SqlParam::Text("not bytes")],
        )
        .unwrap();
    let message = corrupt_message(store.load());
    assert!(
        message.contains("snapshot_chunks row chunk_index=0") && message.contains("text"),
        "{message}"
    );
}

#[test]
fn a_byte_length_that_disagrees_with_the_blob_is_corrupt() {
    let store = store();
    appended(store.append_update(&[1, 2, 3]).unwrap());
    store.sql().execute("UPDATE journal SET byte_length = 5", &[]).unwrap();
    let message = corrupt_message(store.load());
    assert!(message.contains("journal row id=1") && message.contains("byte_length 5"), "{message}");
}

#[test]
fn has_data_sees_either_table() {
    let store = store();
    appended(store.append_update(&[1, 2]).unwrap());
    assert!(store.has_data().unwrap());
    store.rewrite_checkpoint(&[3, 4]).unwrap();
    assert_eq!(store.sql().scalar("SELECT COUNT(*) FROM journal"), 0);
    assert!(store.has_data().unwrap());
}

#[test]
fn migration_meta_is_insert_or_replace_and_read_in_row_order() {
    let store = store();
    assert!(store.read_migration_meta().unwrap().is_empty());
    store
        .write_migration_meta(&[
            ("migration_completed", "true"),
            ("source_format", "kv"),
            ("source_entries", "3"),
        ])
        .unwrap();
    store.write_migration_meta(&[("source_entries", "4")]).unwrap();
    let pairs = store.read_migration_meta().unwrap();
    let expected =
        [("migration_completed", "true"), ("source_format", "kv"), ("source_entries", "4")];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(pairs, expected);
    // Meta rows are not document data.
    assert!(!store.has_data().unwrap());
}

#[test]
fn journal_stats_kept_in_memory_match_the_table_through_failures() {
    let store = store();
    let table = |store: &SqlDocStore<SqliteExec>| JournalStats {
        entry_count: store.sql().scalar("SELECT COUNT(*) FROM journal") as u64,
        total_bytes: store.sql().scalar("SELECT COALESCE(SUM(byte_length), 0) FROM journal") as u64,
    };
    for len in [3, 10, 700] {
        let stats = appended(store.append_update(&vec![1; len]).unwrap());
        assert_eq!(stats, table(&store));
    }
    // A failed append and a rolled-back rewrite leave the counts true.
    store.sql().fail_statement("INSERT INTO journal", 0);
    assert!(store.append_update(&[9; 5]).is_err());
    store.sql().fail_statement("INSERT INTO snapshot_chunks", 0);
    assert!(store.rewrite_checkpoint(&[0, 0]).is_err());
    assert_eq!(store.journal_stats().unwrap(), table(&store));
    assert_eq!(table(&store).entry_count, 3, "the rewrite was rolled back");
    assert_eq!(appended(store.append_update(&[2; 4]).unwrap()), table(&store));
    store.rewrite_checkpoint(&[0, 0]).unwrap();
    assert_eq!(store.journal_stats().unwrap(), JournalStats::default());
    assert_eq!(appended(store.append_update(&[2; 4]).unwrap()), table(&store));
}
