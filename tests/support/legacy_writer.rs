//! Lays out legacy key-value document state (spec 10.3) exactly as the old
//! TypeScript writer did: 64 KiB chunks, checkpoint manifests carrying the
//! SHA-256 of the update and of its state vector, a pointer, journal meta,
//! journal manifests and chunks. Chunks are written first, then the manifest,
//! state vector, pointer and a fresh journal meta, then old keys are deleted
//! (only chunk 0 of each journal entry, as the old writer did).

use sha2::{Digest, Sha256};
use yaos_server::store::kv::{KvValue, MemoryKv};
use yaos_server::store::legacy_kv::{
    checkpoint_chunk_key, checkpoint_manifest_key, checkpoint_state_vector_key, journal_chunk_key,
    journal_manifest_key, CHECKPOINT_FORMAT, CHECKPOINT_POINTER_KEY, JOURNAL_ENTRY_FORMAT,
    JOURNAL_META_FORMAT, JOURNAL_META_KEY, LEGACY_DOCUMENT_KEY, WRITER_CHUNK_BYTES,
};
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

pub const UPDATED_AT: &str = "2026-01-02T03:04:05.678Z";

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

pub fn num(n: u64) -> KvValue {
    KvValue::Number(n as f64)
}

pub fn text(s: &str) -> KvValue {
    KvValue::String(s.to_owned())
}

fn object(fields: Vec<(&str, KvValue)>) -> KvValue {
    KvValue::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn put(kv: &MemoryKv, key: &str, value: KvValue) {
    kv.entries.borrow_mut().insert(key.to_owned(), value);
}

pub fn get(kv: &MemoryKv, key: &str) -> Option<KvValue> {
    kv.entries.borrow().get(key).cloned()
}

fn remove(kv: &MemoryKv, key: &str) {
    kv.entries.borrow_mut().remove(key);
}

fn chunk_count(len: usize) -> u64 {
    len.div_ceil(WRITER_CHUNK_BYTES) as u64
}

fn write_chunks(kv: &MemoryKv, bytes: &[u8], key: impl Fn(u64) -> String) {
    for (index, chunk) in bytes.chunks(WRITER_CHUNK_BYTES).enumerate() {
        put(kv, &key(index as u64), KvValue::Bytes(chunk.to_vec()));
    }
}

/// Replaces a field of an object value in place (for tampering tests).
pub fn set_field(kv: &MemoryKv, key: &str, field: &str, value: KvValue) {
    let mut entries = kv.entries.borrow_mut();
    let Some(KvValue::Object(fields)) = entries.get_mut(key) else {
        panic!("{key} is not an object")
    };
    match fields.iter_mut().find(|(k, _)| k == field) {
        Some(slot) => slot.1 = value,
        None => fields.push((field.to_owned(), value)),
    }
}

/// Removes a field of an object value (for tampering tests).
pub fn drop_field(kv: &MemoryKv, key: &str, field: &str) {
    let mut entries = kv.entries.borrow_mut();
    let Some(KvValue::Object(fields)) = entries.get_mut(key) else {
        panic!("{key} is not an object")
    };
    fields.retain(|(k, _)| k != field);
}

/// Reads an integer field written by this helper.
pub fn field_u64(kv: &MemoryKv, key: &str, field: &str) -> u64 {
    match get(kv, key).and_then(|v| v.get(field).cloned()) {
        Some(KvValue::Number(n)) => n as u64,
        other => panic!("{key}.{field} is {other:?}"),
    }
}

pub fn current_version(kv: &MemoryKv) -> Option<u64> {
    get(kv, CHECKPOINT_POINTER_KEY).map(|_| field_u64(kv, CHECKPOINT_POINTER_KEY, "version"))
}

fn journal_meta(next_seq: u64, entry_count: u64, total_bytes: u64) -> KvValue {
    object(vec![
        ("format", text(JOURNAL_META_FORMAT)),
        ("nextSeq", num(next_seq)),
        ("entryCount", num(entry_count)),
        ("totalBytes", num(total_bytes)),
        ("updatedAt", text(UPDATED_AT)),
    ])
}

/// `(nextSeq, entryCount, totalBytes)` of the stored meta, or the empty journal.
pub fn journal_state(kv: &MemoryKv) -> (u64, u64, u64) {
    match get(kv, JOURNAL_META_KEY) {
        None => (1, 0, 0),
        Some(_) => (
            field_u64(kv, JOURNAL_META_KEY, "nextSeq"),
            field_u64(kv, JOURNAL_META_KEY, "entryCount"),
            field_u64(kv, JOURNAL_META_KEY, "totalBytes"),
        ),
    }
}

/// `rewriteCheckpoint(update, stateVector)` of the old server.
pub fn write_checkpoint(kv: &MemoryKv, update: &[u8], state_vector: &[u8]) {
    let old = current_version(kv);
    let version = old.map_or(1, |v| v + 1);
    write_chunks(kv, update, |i| checkpoint_chunk_key(version, i));
    let manifest = object(vec![
        ("format", text(CHECKPOINT_FORMAT)),
        ("version", num(version)),
        ("chunkSizeBytes", num(WRITER_CHUNK_BYTES as u64)),
        ("chunkCount", num(chunk_count(update.len()))),
        ("byteLength", num(update.len() as u64)),
        ("sha256", text(&sha256_hex(update))),
        ("stateVectorByteLength", num(state_vector.len() as u64)),
        ("stateVectorSha256", text(&sha256_hex(state_vector))),
        ("updatedAt", text(UPDATED_AT)),
    ]);
    let (next_seq, entry_count, _) = journal_state(kv);
    put(kv, &checkpoint_manifest_key(version), manifest);
    put(kv, &checkpoint_state_vector_key(version), KvValue::Bytes(state_vector.to_vec()));
    put(kv, CHECKPOINT_POINTER_KEY, object(vec![("version", num(version))]));
    put(kv, JOURNAL_META_KEY, journal_meta(1, 0, 0));
    if let Some(old) = old {
        let old_count = field_u64(kv, &checkpoint_manifest_key(old), "chunkCount");
        remove(kv, &checkpoint_manifest_key(old));
        remove(kv, &checkpoint_state_vector_key(old));
        for i in 0..old_count {
            remove(kv, &checkpoint_chunk_key(old, i));
        }
    }
    for seq in next_seq - entry_count..next_seq {
        remove(kv, &journal_manifest_key(seq));
        remove(kv, &journal_chunk_key(seq, 0));
    }
}

/// `rewriteCheckpoint` with the full state of `doc`.
pub fn checkpoint_doc(kv: &MemoryKv, doc: &Doc) {
    let txn = doc.transact();
    let update = txn.encode_state_as_update_v1(&StateVector::default());
    write_checkpoint(kv, &update, &txn.state_vector().encode_v1());
}

/// `appendUpdate(update)` of the old server; an empty update writes nothing.
pub fn append_update(kv: &MemoryKv, update: &[u8]) {
    if update.is_empty() {
        return;
    }
    let (seq, entry_count, total_bytes) = journal_state(kv);
    write_chunks(kv, update, |i| journal_chunk_key(seq, i));
    let manifest = object(vec![
        ("format", text(JOURNAL_ENTRY_FORMAT)),
        ("seq", num(seq)),
        ("chunkSizeBytes", num(WRITER_CHUNK_BYTES as u64)),
        ("chunkCount", num(chunk_count(update.len()))),
        ("byteLength", num(update.len() as u64)),
        ("sha256", text(&sha256_hex(update))),
        ("updatedAt", text(UPDATED_AT)),
    ]);
    put(kv, &journal_manifest_key(seq), manifest);
    put(
        kv,
        JOURNAL_META_KEY,
        journal_meta(seq + 1, entry_count + 1, total_bytes + update.len() as u64),
    );
}

/// The oldest format: the whole document under `document`.
pub fn write_legacy_document(kv: &MemoryKv, update: &[u8]) {
    put(kv, LEGACY_DOCUMENT_KEY, KvValue::Bytes(update.to_vec()));
}

/// A copy of every key and value, to assert nothing changed.
pub fn dump(kv: &MemoryKv) -> Vec<(String, KvValue)> {
    kv.entries.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
