//! The legacy key-value reader (spec 10.3) against state laid out exactly as
//! the old TypeScript writer left it: what it accepts, and every integrity
//! rule rejecting a tampered store with an error that names the key.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/legacy_writer.rs"]
#[allow(dead_code)]
mod legacy_writer;

use futures::executor::block_on;
use legacy_writer::SQL_BRANCH_CHUNK_BYTES as WRITER_CHUNK_BYTES;
use legacy_writer::{
    append_update, checkpoint_doc, drop_field, get, set_field, text, write_legacy_document,
};
use yaos_server::store::kv::{KvValue, MemoryKv};
use yaos_server::store::legacy_kv::{
    checkpoint_chunk_key, checkpoint_manifest_key, checkpoint_state_vector_key, journal_chunk_key,
    journal_manifest_key, read_legacy_kv, IntegrityRule, LegacyJournalStats, LegacyKvError,
    LegacyKvState, CHECKPOINT_POINTER_KEY, JOURNAL_META_KEY,
};

fn read(kv: &MemoryKv) -> Result<LegacyKvState, LegacyKvError> {
    block_on(read_legacy_kv(kv))
}

fn put(kv: &MemoryKv, key: &str, value: KvValue) {
    kv.entries.borrow_mut().insert(key.to_owned(), value);
}

fn remove(kv: &MemoryKv, key: &str) {
    kv.entries.borrow_mut().remove(key);
}

fn bytes_of(kv: &MemoryKv, key: &str) -> Vec<u8> {
    match get(kv, key) {
        Some(KvValue::Bytes(bytes)) => bytes,
        other => panic!("{key} holds {other:?}"),
    }
}

/// A store with a three-chunk checkpoint (v1) and returns its full update.
fn with_big_checkpoint(kv: &MemoryKv) -> Vec<u8> {
    let doc = docs::doc(1);
    docs::append_text(&doc, &docs::filler(2 * WRITER_CHUNK_BYTES + 1000, 7));
    checkpoint_doc(kv, &doc);
    docs::full_state(&doc)
}

/// A store with a checkpoint and two journal entries (the second one two
/// chunks long); returns the document they describe.
fn with_checkpoint_and_journal(kv: &MemoryKv) -> yrs::Doc {
    let doc = docs::doc(1);
    docs::append_text(&doc, "hello ");
    checkpoint_doc(kv, &doc);
    let before = docs::state_vector(&doc);
    docs::set_meta(&doc, "a", "b");
    append_update(kv, &docs::diff(&doc, &before));
    let before = docs::state_vector(&doc);
    docs::append_text(&doc, &docs::filler(WRITER_CHUNK_BYTES + 10, 3));
    append_update(kv, &docs::diff(&doc, &before));
    doc
}

/// The integrity error of a read, checking the message names the key.
fn violation(kv: &MemoryKv, key: &str) -> IntegrityRule {
    match read(kv) {
        Err(error @ LegacyKvError::Integrity { .. }) => {
            assert_eq!(error.key(), Some(key), "{error}");
            assert!(error.to_string().contains(&format!("`{key}`")), "{error}");
            error.rule().cloned().expect("integrity rule")
        }
        other => panic!("expected an integrity error at {key}, got {other:?}"),
    }
}

fn replay(state: &LegacyKvState) -> yrs::Doc {
    let doc = docs::doc(99);
    if let Some(checkpoint) = &state.checkpoint {
        docs::apply(&doc, checkpoint);
    }
    for entry in &state.journal {
        docs::apply(&doc, entry);
    }
    doc
}

// ---- what the reader accepts ----

#[test]
fn empty_store_is_an_empty_journal_at_seq_1() {
    let state = read(&MemoryKv::default()).unwrap();
    assert_eq!(state, LegacyKvState::default());
    assert_eq!(state.stats, LegacyJournalStats { next_seq: 1, entry_count: 0, total_bytes: 0 });
    assert!(!state.has_data());
}

#[test]
fn reads_a_multi_chunk_checkpoint() {
    let kv = MemoryKv::default();
    let update = with_big_checkpoint(&kv);
    assert!(get(&kv, &checkpoint_chunk_key(1, 2)).is_some(), "three 64 KiB chunks written");
    let state = read(&kv).unwrap();
    assert_eq!(state.checkpoint.as_deref(), Some(update.as_slice()));
    assert!(state.journal.is_empty());
    assert!(state.has_data());
}

#[test]
fn reads_checkpoint_then_journal_in_order() {
    let kv = MemoryKv::default();
    let doc = with_checkpoint_and_journal(&kv);
    let state = read(&kv).unwrap();
    assert_eq!(state.journal.len(), 2);
    let total: usize = state.journal.iter().map(Vec::len).sum();
    assert_eq!(
        state.stats,
        LegacyJournalStats { next_seq: 3, entry_count: 2, total_bytes: total as u64 }
    );
    let rebuilt = replay(&state);
    assert_eq!(docs::text_of(&rebuilt), docs::text_of(&doc));
    assert_eq!(docs::meta_of(&rebuilt, "a").as_deref(), Some("b"));
}

#[test]
fn reads_a_journal_without_checkpoint() {
    let kv = MemoryKv::default();
    let doc = docs::doc(1);
    docs::append_text(&doc, "only journal");
    append_update(&kv, &docs::full_state(&doc));
    let state = read(&kv).unwrap();
    assert_eq!(state.checkpoint, None);
    assert_eq!(docs::text_of(&replay(&state)), "only journal");
}

#[test]
fn ignores_chunks_the_old_cleanup_left_behind() {
    // The old writer deleted only chunk 0 of each journal entry, and restarts
    // the journal at seq 1 after every checkpoint.
    let kv = MemoryKv::default();
    let doc = with_checkpoint_and_journal(&kv);
    checkpoint_doc(&kv, &doc);
    assert!(get(&kv, &journal_chunk_key(2, 1)).is_some(), "stale chunk left");
    assert!(get(&kv, &journal_manifest_key(1)).is_none());
    let before = docs::state_vector(&doc);
    docs::append_text(&doc, "!");
    append_update(&kv, &docs::diff(&doc, &before));
    let state = read(&kv).unwrap();
    assert_eq!(state.stats.entry_count, 1);
    assert_eq!(docs::text_of(&replay(&state)), docs::text_of(&doc));
}

#[test]
fn reads_the_legacy_document_key_when_it_holds_bytes() {
    let kv = MemoryKv::default();
    write_legacy_document(&kv, &[0, 0]);
    assert_eq!(read(&kv).unwrap().document, Some(vec![0, 0]));
    put(&kv, "document", text("not bytes"));
    assert_eq!(read(&kv).unwrap().document, None, "non-bytes is ignored, like the old server");
    put(&kv, "document", KvValue::Bytes(Vec::new()));
    let state = read(&kv).unwrap();
    assert_eq!(state.document, Some(Vec::new()));
    assert!(!state.has_data(), "empty legacy bytes are nothing to migrate");
}

#[test]
fn numbers_are_f64_and_must_be_exact_integers() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    // 1.0 is the same JavaScript number as 1.
    set_field(&kv, CHECKPOINT_POINTER_KEY, "version", KvValue::Number(1.0));
    assert!(read(&kv).is_ok());
    for bad in [1.5, 0.0, -1.0, f64::NAN, f64::INFINITY, 9_007_199_254_740_992.0] {
        set_field(&kv, CHECKPOINT_POINTER_KEY, "version", KvValue::Number(bad));
        assert!(
            matches!(violation(&kv, CHECKPOINT_POINTER_KEY), IntegrityRule::InvalidPointer(_)),
            "{bad}"
        );
    }
    set_field(&kv, CHECKPOINT_POINTER_KEY, "version", text("1"));
    assert!(matches!(violation(&kv, CHECKPOINT_POINTER_KEY), IntegrityRule::InvalidPointer(_)));
}

#[test]
fn chunk_values_must_be_bytes() {
    let kv = MemoryKv::default();
    let update = with_big_checkpoint(&kv);
    let key = checkpoint_chunk_key(1, 2);
    let last = bytes_of(&kv, &key);
    // What JSON or a plain array would look like: not bytes.
    put(&kv, &key, KvValue::Array(last.iter().map(|b| KvValue::Number(f64::from(*b))).collect()));
    assert_eq!(violation(&kv, &key), IntegrityRule::NotBytes { found: "an array" });
    put(&kv, &key, text("abc"));
    assert_eq!(violation(&kv, &key), IntegrityRule::NotBytes { found: "a string" });
    put(&kv, &key, KvValue::Bytes(last));
    assert_eq!(read(&kv).unwrap().checkpoint, Some(update));
}

// ---- one test per integrity rule ----

#[test]
fn rejects_an_invalid_pointer() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    put(&kv, CHECKPOINT_POINTER_KEY, KvValue::Null);
    assert!(matches!(violation(&kv, CHECKPOINT_POINTER_KEY), IntegrityRule::InvalidPointer(_)));
    put(&kv, CHECKPOINT_POINTER_KEY, KvValue::Object(Vec::new()));
    let rule = violation(&kv, CHECKPOINT_POINTER_KEY);
    assert!(rule.to_string().contains("version is missing"), "{rule}");
}

#[test]
fn rejects_a_missing_manifest() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    remove(&kv, &checkpoint_manifest_key(1));
    assert_eq!(violation(&kv, &checkpoint_manifest_key(1)), IntegrityRule::ManifestMissing);
}

#[test]
fn rejects_an_invalid_manifest() {
    let key = checkpoint_manifest_key(1);
    let cases: [(&str, Option<KvValue>, &str); 6] = [
        ("format", Some(text("yaos-doc-checkpoint-v1")), "format"),
        ("sha256", Some(text(&"A".repeat(64))), "sha256"),
        ("stateVectorSha256", Some(text("abc")), "stateVectorSha256"),
        ("chunkSizeBytes", Some(KvValue::Number(0.0)), "chunkSizeBytes"),
        ("byteLength", Some(KvValue::Number(-1.0)), "byteLength"),
        ("updatedAt", None, "updatedAt"),
    ];
    for (field, value, named) in cases {
        let kv = MemoryKv::default();
        with_big_checkpoint(&kv);
        match value {
            Some(value) => set_field(&kv, &key, field, value),
            None => drop_field(&kv, &key, field),
        }
        match violation(&kv, &key) {
            IntegrityRule::InvalidManifest(why) => assert!(why.contains(named), "{why}"),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn rejects_a_version_mismatch() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    // The pointer names version 2, whose manifest claims version 1.
    let manifest = get(&kv, &checkpoint_manifest_key(1)).unwrap();
    put(&kv, &checkpoint_manifest_key(2), manifest);
    set_field(&kv, CHECKPOINT_POINTER_KEY, "version", KvValue::Number(2.0));
    let rule = violation(&kv, &checkpoint_manifest_key(2));
    assert_eq!(rule, IntegrityRule::VersionMismatch { pointer: 2, manifest: 1 });
}

#[test]
fn rejects_a_chunk_count_mismatch() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    set_field(&kv, &checkpoint_manifest_key(1), "chunkCount", KvValue::Number(4.0));
    let rule = violation(&kv, &checkpoint_chunk_key(1, 3));
    assert_eq!(rule, IntegrityRule::ChunkMissing { index: 3, declared: 4 });
}

#[test]
fn rejects_a_missing_checkpoint_chunk() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    remove(&kv, &checkpoint_chunk_key(1, 1));
    let rule = violation(&kv, &checkpoint_chunk_key(1, 1));
    assert_eq!(rule, IntegrityRule::ChunkMissing { index: 1, declared: 3 });
    assert!(rule.to_string().contains("chunk count mismatch"));
}

#[test]
fn rejects_a_short_non_final_chunk() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    let key = checkpoint_chunk_key(1, 0);
    let mut chunk = bytes_of(&kv, &key);
    chunk.pop();
    put(&kv, &key, KvValue::Bytes(chunk));
    let chunk_size = WRITER_CHUNK_BYTES as u64;
    assert_eq!(
        violation(&kv, &key),
        IntegrityRule::ChunkWrongSize { len: chunk_size - 1, chunk_size }
    );
}

#[test]
fn rejects_an_oversized_final_chunk() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    let key = checkpoint_chunk_key(1, 2);
    put(&kv, &key, KvValue::Bytes(vec![0; WRITER_CHUNK_BYTES + 1]));
    let chunk_size = WRITER_CHUNK_BYTES as u64;
    assert_eq!(
        violation(&kv, &key),
        IntegrityRule::FinalChunkTooLarge { len: chunk_size + 1, chunk_size }
    );
}

#[test]
fn rejects_a_reassembled_length_mismatch() {
    let kv = MemoryKv::default();
    let update = with_big_checkpoint(&kv);
    let key = checkpoint_manifest_key(1);
    let declared = update.len() as u64 + 1;
    set_field(&kv, &key, "byteLength", KvValue::Number(declared as f64));
    let reassembled = update.len() as u64;
    assert_eq!(violation(&kv, &key), IntegrityRule::LengthMismatch { declared, reassembled });
}

#[test]
fn rejects_a_sha256_mismatch() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    let chunk_key = checkpoint_chunk_key(1, 1);
    let mut chunk = bytes_of(&kv, &chunk_key);
    chunk[100] ^= 0x01;
    put(&kv, &chunk_key, KvValue::Bytes(chunk));
    let rule = violation(&kv, &checkpoint_manifest_key(1));
    assert!(matches!(rule, IntegrityRule::HashMismatch { .. }), "{rule:?}");
    assert!(rule.to_string().contains("sha256 mismatch"));
}

#[test]
fn rejects_a_missing_state_vector() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    remove(&kv, &checkpoint_state_vector_key(1));
    assert_eq!(violation(&kv, &checkpoint_state_vector_key(1)), IntegrityRule::StateVectorMissing);
}

#[test]
fn rejects_a_state_vector_length_mismatch() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    let key = checkpoint_state_vector_key(1);
    let mut sv = bytes_of(&kv, &key);
    let declared = sv.len() as u64;
    sv.push(0);
    put(&kv, &key, KvValue::Bytes(sv));
    assert_eq!(
        violation(&kv, &key),
        IntegrityRule::StateVectorLengthMismatch { declared, actual: declared + 1 }
    );
}

#[test]
fn rejects_a_state_vector_hash_mismatch() {
    let kv = MemoryKv::default();
    with_big_checkpoint(&kv);
    let key = checkpoint_state_vector_key(1);
    let mut sv = bytes_of(&kv, &key);
    sv[0] ^= 0x01;
    put(&kv, &key, KvValue::Bytes(sv));
    assert!(matches!(violation(&kv, &key), IntegrityRule::StateVectorHashMismatch { .. }));
}

#[test]
fn rejects_an_invalid_journal_meta() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    set_field(&kv, JOURNAL_META_KEY, "nextSeq", KvValue::Number(0.0));
    match violation(&kv, JOURNAL_META_KEY) {
        IntegrityRule::InvalidJournalMeta(why) => assert!(why.contains("nextSeq"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_an_empty_journal_with_bytes() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    set_field(&kv, JOURNAL_META_KEY, "entryCount", KvValue::Number(0.0));
    let rule = violation(&kv, JOURNAL_META_KEY);
    assert!(matches!(rule, IntegrityRule::EmptyJournalWithBytes { .. }), "{rule:?}");
}

#[test]
fn rejects_a_sequence_range_below_1() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    set_field(&kv, JOURNAL_META_KEY, "entryCount", KvValue::Number(3.0));
    assert_eq!(
        violation(&kv, JOURNAL_META_KEY),
        IntegrityRule::SequenceBelowOne { next_seq: 3, entry_count: 3 }
    );
}

#[test]
fn rejects_a_missing_journal_manifest() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    remove(&kv, &journal_manifest_key(2));
    assert_eq!(violation(&kv, &journal_manifest_key(2)), IntegrityRule::JournalManifestMissing);
}

#[test]
fn rejects_an_invalid_journal_manifest() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    set_field(&kv, &journal_manifest_key(1), "format", text("yaos-doc-journal-entry-v0"));
    assert!(matches!(
        violation(&kv, &journal_manifest_key(1)),
        IntegrityRule::InvalidJournalManifest(_)
    ));
}

#[test]
fn rejects_a_journal_manifest_with_the_wrong_seq() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    set_field(&kv, &journal_manifest_key(2), "seq", KvValue::Number(1.0));
    let rule = violation(&kv, &journal_manifest_key(2));
    assert_eq!(rule, IntegrityRule::JournalSeqMismatch { expected: 2, found: 1 });
}

#[test]
fn rejects_journal_entries_not_summing_to_total_bytes() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    let (_, _, total) = legacy_writer::journal_state(&kv);
    set_field(&kv, JOURNAL_META_KEY, "totalBytes", KvValue::Number((total + 1) as f64));
    let rule = violation(&kv, JOURNAL_META_KEY);
    assert_eq!(rule, IntegrityRule::JournalTotalMismatch { declared: total + 1, actual: total });
}

#[test]
fn rejects_a_missing_journal_chunk() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    remove(&kv, &journal_chunk_key(2, 1));
    let rule = violation(&kv, &journal_chunk_key(2, 1));
    assert_eq!(rule, IntegrityRule::ChunkMissing { index: 1, declared: 2 });
}

#[test]
fn rejects_a_corrupted_journal_entry() {
    let kv = MemoryKv::default();
    with_checkpoint_and_journal(&kv);
    let key = journal_chunk_key(1, 0);
    let mut chunk = bytes_of(&kv, &key);
    let last = chunk.len() - 1;
    chunk[last] ^= 0x80;
    put(&kv, &key, KvValue::Bytes(chunk));
    assert!(matches!(violation(&kv, &journal_manifest_key(1)), IntegrityRule::HashMismatch { .. }));
}
