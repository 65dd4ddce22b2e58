//! Lays out legacy key-value document state (spec 10.3) as the TypeScript
//! writers did: checkpoint manifests carrying the SHA-256 of the update and of
//! its state vector, a pointer, journal meta, journal manifests and chunks.
//! Chunks are written first, then the manifest, state vector, pointer and a
//! fresh journal meta, then the old version's keys are deleted.
//!
//! Two writers: [`Writer::SQL_BRANCH`] (64 KiB chunks; its cleanup deletes
//! only chunk 0 of each journal entry) and [`Writer::DEPLOYED`] (512 KiB
//! chunks and a full cleanup: what every released key-value server wrote).
//! Key names, formats and sizes are literals here, taken from the TypeScript
//! source, never from the reader under test, so a wrong constant in the
//! reader cannot pass both.

use sha2::{Digest, Sha256};
use yaos_server::store::kv::{KvValue, MemoryKv};
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

pub const CHECKPOINT_POINTER_KEY: &str = "document:checkpoint:current";
pub const JOURNAL_META_KEY: &str = "document:journal:meta";
pub const LEGACY_DOCUMENT_KEY: &str = "document";
const CHECKPOINT_FORMAT: &str = "yaos-doc-checkpoint-v2";
const JOURNAL_META_FORMAT: &str = "yaos-doc-journal-v1";
const JOURNAL_ENTRY_FORMAT: &str = "yaos-doc-journal-entry-v1";

pub fn checkpoint_manifest_key(version: u64) -> String {
    format!("document:checkpoint:manifest:{version}")
}
pub fn checkpoint_chunk_key(version: u64, index: u64) -> String {
    format!("document:checkpoint:chunk:{version}:{index}")
}
pub fn checkpoint_state_vector_key(version: u64) -> String {
    format!("document:checkpoint:state-vector:{version}")
}
pub fn journal_manifest_key(seq: u64) -> String {
    format!("document:journal:manifest:{seq}")
}
pub fn journal_chunk_key(seq: u64, index: u64) -> String {
    format!("document:journal:chunk:{seq}:{index}")
}

/// The SQL branch's writer's chunk size (64 KiB).
pub const SQL_BRANCH_CHUNK_BYTES: usize = 65_536;
/// The released servers' chunk size (512 KiB).
pub const DEPLOYED_CHUNK_BYTES: usize = 524_288;

/// One TypeScript writer's layout.
#[derive(Debug, Clone, Copy)]
pub struct Writer {
    pub chunk_bytes: usize,
    /// The released writer deletes every chunk of a compacted journal entry;
    /// the SQL branch's deleted only chunk 0, leaving the rest behind.
    pub deletes_every_journal_chunk: bool,
}

impl Writer {
    pub const SQL_BRANCH: Writer =
        Writer { chunk_bytes: SQL_BRANCH_CHUNK_BYTES, deletes_every_journal_chunk: false };
    pub const DEPLOYED: Writer =
        Writer { chunk_bytes: DEPLOYED_CHUNK_BYTES, deletes_every_journal_chunk: true };
}

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

fn write_chunks(kv: &MemoryKv, bytes: &[u8], size: usize, key: impl Fn(u64) -> String) -> u64 {
    let mut count = 0;
    for (index, chunk) in bytes.chunks(size).enumerate() {
        put(kv, &key(index as u64), KvValue::Bytes(chunk.to_vec()));
        count += 1;
    }
    count
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

impl Writer {
    /// `rewriteCheckpoint(update, stateVector)` of the old server.
    pub fn write_checkpoint(self, kv: &MemoryKv, update: &[u8], state_vector: &[u8]) {
        let old = current_version(kv);
        let version = old.map_or(1, |v| v + 1);
        let chunks =
            write_chunks(kv, update, self.chunk_bytes, |i| checkpoint_chunk_key(version, i));
        let manifest = object(vec![
            ("format", text(CHECKPOINT_FORMAT)),
            ("version", num(version)),
            ("chunkSizeBytes", num(self.chunk_bytes as u64)),
            ("chunkCount", num(chunks)),
            ("byteLength", num(update.len() as u64)),
            ("sha256", text(&sha256_hex(update))),
            ("stateVectorByteLength", num(state_vector.len() as u64)),
            ("stateVectorSha256", text(&sha256_hex(state_vector))),
            ("updatedAt", text(UPDATED_AT)),
        ]);
        let (next_seq, entry_count, _) = journal_state(kv);
        let journal_chunks: Vec<u64> = (next_seq - entry_count..next_seq)
            .map(|seq| field_u64(kv, &journal_manifest_key(seq), "chunkCount"))
            .collect();
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
        for (seq, chunks) in (next_seq - entry_count..next_seq).zip(journal_chunks) {
            remove(kv, &journal_manifest_key(seq));
            let removed = if self.deletes_every_journal_chunk { chunks } else { 1 };
            for i in 0..removed {
                remove(kv, &journal_chunk_key(seq, i));
            }
        }
    }

    /// `rewriteCheckpoint` with the full state of `doc`.
    pub fn checkpoint_doc(self, kv: &MemoryKv, doc: &Doc) {
        let txn = doc.transact();
        let update = txn.encode_state_as_update_v1(&StateVector::default());
        self.write_checkpoint(kv, &update, &txn.state_vector().encode_v1());
    }

    /// `appendUpdate(update)` of the old server; an empty update writes nothing.
    pub fn append_update(self, kv: &MemoryKv, update: &[u8]) {
        if update.is_empty() {
            return;
        }
        let (seq, entry_count, total_bytes) = journal_state(kv);
        let chunks = write_chunks(kv, update, self.chunk_bytes, |i| journal_chunk_key(seq, i));
        let manifest = object(vec![
            ("format", text(JOURNAL_ENTRY_FORMAT)),
            ("seq", num(seq)),
            ("chunkSizeBytes", num(self.chunk_bytes as u64)),
            ("chunkCount", num(chunks)),
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
}

/// [`Writer::write_checkpoint`] of the SQL branch's writer.
pub fn write_checkpoint(kv: &MemoryKv, update: &[u8], state_vector: &[u8]) {
    Writer::SQL_BRANCH.write_checkpoint(kv, update, state_vector);
}

/// [`Writer::checkpoint_doc`] of the SQL branch's writer.
pub fn checkpoint_doc(kv: &MemoryKv, doc: &Doc) {
    Writer::SQL_BRANCH.checkpoint_doc(kv, doc);
}

/// [`Writer::append_update`] of the SQL branch's writer.
pub fn append_update(kv: &MemoryKv, update: &[u8]) {
    Writer::SQL_BRANCH.append_update(kv, update);
}

/// The oldest format: the whole document under `document`.
pub fn write_legacy_document(kv: &MemoryKv, update: &[u8]) {
    put(kv, LEGACY_DOCUMENT_KEY, KvValue::Bytes(update.to_vec()));
}

/// A copy of every key and value, to assert nothing changed.
pub fn dump(kv: &MemoryKv) -> Vec<(String, KvValue)> {
    kv.entries.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
