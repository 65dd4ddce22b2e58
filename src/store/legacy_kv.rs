//! Read-only reader of the legacy key-value document format (spec 10.3),
//! which the TypeScript server wrote and this server migrates into SQL.
//!
//! The layout: a checkpoint pointer naming a version, that version's manifest,
//! its chunks and its state vector; a journal meta naming a contiguous range
//! of sequence numbers, each with a manifest and chunks; and the oldest format,
//! one full update under `document`. Every integrity rule of the old reader is
//! kept and fails closed with a [`LegacyKvError::Integrity`] that names the
//! offending key and the rule, so a damaged store is never half-migrated.
//!
//! Only single-key `get`s are used: no listing and no batch reads, so the
//! platform's 128-keys-per-call limit never applies and unrelated keys (traces,
//! room meta) are never loaded.

use crate::hex::sha256_hex;
use thiserror::Error;

use super::kv::{KvError, KvStore, KvValue};

/// `format` of a checkpoint manifest.
pub const CHECKPOINT_FORMAT: &str = "yaos-doc-checkpoint-v2";
/// `format` of the journal meta.
pub const JOURNAL_META_FORMAT: &str = "yaos-doc-journal-v1";
/// `format` of a journal entry manifest.
pub const JOURNAL_ENTRY_FORMAT: &str = "yaos-doc-journal-entry-v1";

/// Holds `{version}`: which checkpoint is current.
pub const CHECKPOINT_POINTER_KEY: &str = "document:checkpoint:current";
/// Holds the journal meta (`nextSeq`, `entryCount`, `totalBytes`).
pub const JOURNAL_META_KEY: &str = "document:journal:meta";
/// The oldest format: one full update.
pub const LEGACY_DOCUMENT_KEY: &str = "document";
/// Prefix of every checkpoint key (used by the KV cleanup, spec 10.6).
pub const CHECKPOINT_KEY_PREFIX: &str = "document:checkpoint:";
/// Prefix of every journal key (used by the KV cleanup, spec 10.6).
pub const JOURNAL_KEY_PREFIX: &str = "document:journal:";

/// Key of checkpoint `version`'s manifest.
pub fn checkpoint_manifest_key(version: u64) -> String {
    format!("document:checkpoint:manifest:{version}")
}

/// Key of chunk `index` of checkpoint `version`.
pub fn checkpoint_chunk_key(version: u64, index: u64) -> String {
    format!("document:checkpoint:chunk:{version}:{index}")
}

/// Key of checkpoint `version`'s encoded state vector.
pub fn checkpoint_state_vector_key(version: u64) -> String {
    format!("document:checkpoint:state-vector:{version}")
}

/// Key of journal entry `seq`'s manifest.
pub fn journal_manifest_key(seq: u64) -> String {
    format!("document:journal:manifest:{seq}")
}

/// Key of chunk `index` of journal entry `seq`.
pub fn journal_chunk_key(seq: u64, index: u64) -> String {
    format!("document:journal:chunk:{seq}:{index}")
}

/// Why the legacy store could not be read.
#[derive(Debug, Error)]
pub enum LegacyKvError {
    /// Stored data breaks a rule of the format; nothing read may be used.
    #[error("legacy key-value store: key `{key}`: {rule}")]
    Integrity { key: String, rule: IntegrityRule },
    /// The key-value API itself failed.
    #[error(transparent)]
    Kv(#[from] KvError),
}

impl LegacyKvError {
    fn at(key: impl Into<String>, rule: IntegrityRule) -> Self {
        LegacyKvError::Integrity { key: key.into(), rule }
    }

    /// The key an integrity error is about, if it is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            LegacyKvError::Integrity { key, .. } => Some(key),
            LegacyKvError::Kv(_) => None,
        }
    }

    /// The broken rule, if this is an integrity error.
    pub fn rule(&self) -> Option<&IntegrityRule> {
        match self {
            LegacyKvError::Integrity { rule, .. } => Some(rule),
            LegacyKvError::Kv(_) => None,
        }
    }
}

/// The integrity rules of spec 10.3, one variant per way to break them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IntegrityRule {
    #[error("invalid checkpoint pointer: {0}")]
    InvalidPointer(String),
    #[error("checkpoint manifest missing")]
    ManifestMissing,
    #[error("invalid checkpoint manifest: {0}")]
    InvalidManifest(String),
    #[error("checkpoint version mismatch: pointer says {pointer}, manifest says {manifest}")]
    VersionMismatch { pointer: u64, manifest: u64 },
    /// A chunk below the manifest's `chunkCount` is absent, so the number of
    /// chunks present differs from the manifest.
    #[error(
        "chunk count mismatch: manifest declares {declared} chunks but chunk {index} is missing"
    )]
    ChunkMissing { index: u64, declared: u64 },
    #[error("value is {found}, expected bytes")]
    NotBytes { found: &'static str },
    #[error("non-final chunk is {len} bytes, expected exactly chunkSizeBytes ({chunk_size})")]
    ChunkWrongSize { len: u64, chunk_size: u64 },
    #[error("final chunk is {len} bytes, larger than chunkSizeBytes ({chunk_size})")]
    FinalChunkTooLarge { len: u64, chunk_size: u64 },
    #[error("reassembled length {reassembled} differs from byteLength {declared}")]
    LengthMismatch { declared: u64, reassembled: u64 },
    #[error("sha256 mismatch: manifest says {declared}, reassembled bytes hash to {actual}")]
    HashMismatch { declared: String, actual: String },
    #[error("checkpoint state vector missing")]
    StateVectorMissing,
    #[error("state vector is {actual} bytes, manifest stateVectorByteLength is {declared}")]
    StateVectorLengthMismatch { declared: u64, actual: u64 },
    #[error("state vector sha256 mismatch: manifest says {declared}, value hashes to {actual}")]
    StateVectorHashMismatch { declared: String, actual: String },
    #[error("invalid journal meta: {0}")]
    InvalidJournalMeta(String),
    #[error("journal meta has entryCount 0 but totalBytes {total_bytes}")]
    EmptyJournalWithBytes { total_bytes: u64 },
    #[error("journal sequence range [nextSeq {next_seq} - entryCount {entry_count}, nextSeq) starts below 1")]
    SequenceBelowOne { next_seq: u64, entry_count: u64 },
    #[error("journal entry manifest missing")]
    JournalManifestMissing,
    #[error("invalid journal entry manifest: {0}")]
    InvalidJournalManifest(String),
    #[error("journal entry manifest has seq {found}, expected {expected}")]
    JournalSeqMismatch { expected: u64, found: u64 },
    #[error("journal entries sum to {actual} bytes, journal meta totalBytes is {declared}")]
    JournalTotalMismatch { declared: u64, actual: u64 },
}

/// The journal meta as read (or the empty journal when the key is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyJournalStats {
    pub next_seq: u64,
    pub entry_count: u64,
    pub total_bytes: u64,
}

impl Default for LegacyJournalStats {
    /// A missing meta means an empty journal starting at sequence 1.
    fn default() -> Self {
        LegacyJournalStats { next_seq: 1, entry_count: 0, total_bytes: 0 }
    }
}

/// Everything the legacy store holds, verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyKvState {
    /// The current checkpoint's full update, if a pointer exists.
    pub checkpoint: Option<Vec<u8>>,
    /// Journal updates in sequence order, to apply after the checkpoint.
    pub journal: Vec<Vec<u8>>,
    /// Journal statistics: the migration meta's `source_entries`/`source_bytes`.
    pub stats: LegacyJournalStats,
    /// The `document` key's bytes. `None` when the key is absent or holds
    /// something other than bytes, which the old server ignored too.
    pub document: Option<Vec<u8>>,
}

impl LegacyKvState {
    /// True when the chunked store (checkpoint or journal) holds anything.
    pub fn has_chunked_data(&self) -> bool {
        self.checkpoint.is_some() || !self.journal.is_empty()
    }

    /// True when there is anything to migrate: chunked data or a non-empty
    /// `document` (spec 10.2 step 4).
    pub fn has_data(&self) -> bool {
        self.has_chunked_data() || self.document.as_ref().is_some_and(|d| !d.is_empty())
    }
}

/// Reads and verifies the whole legacy store: checkpoint, journal and the
/// `document` key. Any integrity violation fails the read.
pub async fn read_legacy_kv<K: KvStore>(kv: &K) -> Result<LegacyKvState, LegacyKvError> {
    let checkpoint = read_checkpoint(kv).await?;
    let (journal, stats) = read_journal(kv).await?;
    let document = read_legacy_document(kv).await?;
    Ok(LegacyKvState { checkpoint, journal, stats, document })
}

/// Reads the `document` key: bytes, or `None` if absent or not bytes.
pub async fn read_legacy_document<K: KvStore>(kv: &K) -> Result<Option<Vec<u8>>, KvError> {
    Ok(match kv.get(LEGACY_DOCUMENT_KEY).await? {
        Some(KvValue::Bytes(bytes)) => Some(bytes),
        _ => None,
    })
}

/// What a manifest says about one chunked payload.
#[derive(Debug, Clone)]
struct ChunkDescriptor {
    chunk_size: u64,
    chunk_count: u64,
    byte_length: u64,
    sha256: String,
}

#[derive(Debug)]
struct CheckpointManifest {
    version: u64,
    payload: ChunkDescriptor,
    state_vector_length: u64,
    state_vector_sha256: String,
}

/// Reads the checkpoint the pointer names, or `None` without a pointer.
pub async fn read_checkpoint<K: KvStore>(kv: &K) -> Result<Option<Vec<u8>>, LegacyKvError> {
    let Some(raw_pointer) = kv.get(CHECKPOINT_POINTER_KEY).await? else { return Ok(None) };
    let pointer = parse_pointer(&raw_pointer).map_err(|why| {
        LegacyKvError::at(CHECKPOINT_POINTER_KEY, IntegrityRule::InvalidPointer(why))
    })?;

    let manifest_key = checkpoint_manifest_key(pointer);
    let raw_manifest = kv
        .get(&manifest_key)
        .await?
        .ok_or_else(|| LegacyKvError::at(&manifest_key, IntegrityRule::ManifestMissing))?;
    let manifest = parse_checkpoint_manifest(&raw_manifest)
        .map_err(|why| LegacyKvError::at(&manifest_key, IntegrityRule::InvalidManifest(why)))?;
    if manifest.version != pointer {
        let rule = IntegrityRule::VersionMismatch { pointer, manifest: manifest.version };
        return Err(LegacyKvError::at(&manifest_key, rule));
    }

    let version = manifest.version;
    let payload =
        read_payload(kv, &manifest.payload, &manifest_key, |i| checkpoint_chunk_key(version, i))
            .await?;
    check_state_vector(kv, &manifest).await?;
    Ok(Some(payload))
}

/// Checks the stored state vector against the manifest's length and hash.
async fn check_state_vector<K: KvStore>(
    kv: &K,
    manifest: &CheckpointManifest,
) -> Result<(), LegacyKvError> {
    let key = checkpoint_state_vector_key(manifest.version);
    let raw = kv
        .get(&key)
        .await?
        .ok_or_else(|| LegacyKvError::at(&key, IntegrityRule::StateVectorMissing))?;
    let bytes = into_bytes(&key, raw)?;
    let actual_length = bytes.len() as u64;
    if actual_length != manifest.state_vector_length {
        let rule = IntegrityRule::StateVectorLengthMismatch {
            declared: manifest.state_vector_length,
            actual: actual_length,
        };
        return Err(LegacyKvError::at(&key, rule));
    }
    let actual = sha256_hex(&bytes);
    if actual != manifest.state_vector_sha256 {
        let rule = IntegrityRule::StateVectorHashMismatch {
            declared: manifest.state_vector_sha256.clone(),
            actual,
        };
        return Err(LegacyKvError::at(&key, rule));
    }
    Ok(())
}

/// Reads and verifies every journal entry, in sequence order, into memory.
pub async fn read_journal<K: KvStore>(
    kv: &K,
) -> Result<(Vec<Vec<u8>>, LegacyJournalStats), LegacyKvError> {
    let mut entries = Vec::new();
    let stats = for_each_journal_entry(kv, &mut |_, entry| {
        entries.push(entry);
        Ok::<(), LegacyKvError>(())
    })
    .await
    .map_err(|error| match error {
        JournalReadError::Kv(error) | JournalReadError::Entry(error) => error,
    })?;
    Ok((entries, stats))
}

/// Why [`for_each_journal_entry`] stopped: the store, or the caller's
/// `on_entry`.
#[derive(Debug)]
pub enum JournalReadError<E> {
    Kv(LegacyKvError),
    Entry(E),
}

impl<E> From<KvError> for JournalReadError<E> {
    fn from(error: KvError) -> Self {
        JournalReadError::Kv(error.into())
    }
}

/// Reads and verifies the journal entries in sequence order, handing each
/// to `on_entry` (with its sequence number) as soon as it is verified, so
/// a caller that applies and frees them never holds the whole journal. The
/// total length is checked after the last entry: a caller must not act on
/// what it was handed before this returns `Ok`.
pub async fn for_each_journal_entry<K: KvStore, E>(
    kv: &K,
    on_entry: &mut dyn FnMut(u64, Vec<u8>) -> Result<(), E>,
) -> Result<LegacyJournalStats, JournalReadError<E>> {
    let stats = match kv.get(JOURNAL_META_KEY).await? {
        None => LegacyJournalStats::default(),
        Some(raw) => parse_journal_meta(&raw).map_err(|why| {
            JournalReadError::Kv(LegacyKvError::at(
                JOURNAL_META_KEY,
                IntegrityRule::InvalidJournalMeta(why),
            ))
        })?,
    };
    if stats.entry_count == 0 {
        if stats.total_bytes != 0 {
            let rule = IntegrityRule::EmptyJournalWithBytes { total_bytes: stats.total_bytes };
            return Err(JournalReadError::Kv(LegacyKvError::at(JOURNAL_META_KEY, rule)));
        }
        return Ok(stats);
    }
    let first = first_sequence(&stats).map_err(JournalReadError::Kv)?;
    let mut total: u64 = 0;
    for seq in first..stats.next_seq {
        let entry = read_journal_entry(kv, seq).await.map_err(JournalReadError::Kv)?;
        total = total.saturating_add(entry.len() as u64);
        on_entry(seq, entry).map_err(JournalReadError::Entry)?;
    }
    if total != stats.total_bytes {
        let rule =
            IntegrityRule::JournalTotalMismatch { declared: stats.total_bytes, actual: total };
        return Err(JournalReadError::Kv(LegacyKvError::at(JOURNAL_META_KEY, rule)));
    }
    Ok(stats)
}

/// First sequence number of `[nextSeq − entryCount, nextSeq)`, which must be ≥ 1.
fn first_sequence(stats: &LegacyJournalStats) -> Result<u64, LegacyKvError> {
    match stats.next_seq.checked_sub(stats.entry_count) {
        Some(first) if first >= 1 => Ok(first),
        _ => {
            let rule = IntegrityRule::SequenceBelowOne {
                next_seq: stats.next_seq,
                entry_count: stats.entry_count,
            };
            Err(LegacyKvError::at(JOURNAL_META_KEY, rule))
        }
    }
}

/// Reads and verifies journal entry `seq`.
async fn read_journal_entry<K: KvStore>(kv: &K, seq: u64) -> Result<Vec<u8>, LegacyKvError> {
    let key = journal_manifest_key(seq);
    let raw = kv
        .get(&key)
        .await?
        .ok_or_else(|| LegacyKvError::at(&key, IntegrityRule::JournalManifestMissing))?;
    let (found_seq, descriptor) = parse_journal_manifest(&raw)
        .map_err(|why| LegacyKvError::at(&key, IntegrityRule::InvalidJournalManifest(why)))?;
    if found_seq != seq {
        return Err(LegacyKvError::at(
            &key,
            IntegrityRule::JournalSeqMismatch { expected: seq, found: found_seq },
        ));
    }
    read_payload(kv, &descriptor, &key, |i| journal_chunk_key(seq, i)).await
}

/// Reads `descriptor.chunk_count` chunks, then checks their sizes, the total
/// length and the SHA-256, in the old reader's order (every chunk must be
/// present before sizes are judged). Chunks past the count (left by the old
/// writer's partial cleanup) are never read.
async fn read_payload<K: KvStore>(
    kv: &K,
    descriptor: &ChunkDescriptor,
    manifest_key: &str,
    chunk_key: impl Fn(u64) -> String,
) -> Result<Vec<u8>, LegacyKvError> {
    let count = descriptor.chunk_count;
    // The last chunk (and the first, when there are several) are read first:
    // with them present and of the declared sizes, the declared length sizes
    // the payload once. Reassembling a vault-sized checkpoint by doubling
    // would hold the old and new buffer (up to 3x the payload) and wasm
    // memory never shrinks; a damaged manifest alone never sizes anything.
    let mut tail = match count.checked_sub(1) {
        Some(last) => read_chunk(kv, &chunk_key(last)).await?,
        None => None,
    };
    let mut head = if count > 1 { read_chunk(kv, &chunk_key(0)).await? } else { None };
    let mut payload = Vec::new();
    let confirmed = confirmed_length(
        descriptor,
        head.as_ref().map(|c| c.len() as u64),
        tail.as_ref().map(|c| c.len() as u64),
    );
    if let Some(length) = confirmed.and_then(|n| usize::try_from(n).ok()) {
        // A refused reservation is left to the length check below.
        let _ = payload.try_reserve_exact(length);
    }
    let mut lengths = Vec::new();
    for index in 0..count {
        let key = chunk_key(index);
        let early = if index + 1 == count { tail.take() } else { None };
        let early = early.or_else(|| if index == 0 { head.take() } else { None });
        let chunk = match early {
            Some(chunk) => chunk,
            None => read_chunk(kv, &key).await?.ok_or_else(|| {
                LegacyKvError::at(&key, IntegrityRule::ChunkMissing { index, declared: count })
            })?,
        };
        lengths.push(chunk.len() as u64);
        payload.extend_from_slice(&chunk);
    }
    for (index, len) in (0..).zip(lengths) {
        let is_final = index + 1 == descriptor.chunk_count;
        check_chunk_size(&chunk_key(index), len, is_final, descriptor.chunk_size)?;
    }
    let reassembled = payload.len() as u64;
    if reassembled != descriptor.byte_length {
        let rule = IntegrityRule::LengthMismatch { declared: descriptor.byte_length, reassembled };
        return Err(LegacyKvError::at(manifest_key, rule));
    }
    let actual = sha256_hex(&payload);
    if actual != descriptor.sha256 {
        let rule = IntegrityRule::HashMismatch { declared: descriptor.sha256.clone(), actual };
        return Err(LegacyKvError::at(manifest_key, rule));
    }
    Ok(payload)
}

/// One chunk's bytes, `None` if the key is absent.
async fn read_chunk<K: KvStore>(kv: &K, key: &str) -> Result<Option<Vec<u8>>, LegacyKvError> {
    match kv.get(key).await? {
        Some(raw) => into_bytes(key, raw).map(Some),
        None => Ok(None),
    }
}

/// The declared payload length, if the chunks present confirm it: the last
/// chunk exists with 1 to `chunk_size` bytes, the first (when there are
/// several) has exactly `chunk_size`, and together they add up to
/// `byte_length`. Otherwise `None`, and nothing is reserved up front.
fn confirmed_length(d: &ChunkDescriptor, first: Option<u64>, last: Option<u64>) -> Option<u64> {
    let last = last.filter(|&n| n > 0 && n <= d.chunk_size)?;
    if d.chunk_count > 1 && first != Some(d.chunk_size) {
        return None;
    }
    let length = d.chunk_count.checked_sub(1)?.checked_mul(d.chunk_size)?.checked_add(last)?;
    (length == d.byte_length).then_some(length)
}

fn check_chunk_size(
    key: &str,
    len: u64,
    is_final: bool,
    chunk_size: u64,
) -> Result<(), LegacyKvError> {
    if is_final && len > chunk_size {
        return Err(LegacyKvError::at(key, IntegrityRule::FinalChunkTooLarge { len, chunk_size }));
    }
    if !is_final && len != chunk_size {
        return Err(LegacyKvError::at(key, IntegrityRule::ChunkWrongSize { len, chunk_size }));
    }
    Ok(())
}

/// The bytes of a value, which must be bytes (the platform adapter already
/// turned Uint8Array, ArrayBuffer and other views into [`KvValue::Bytes`]).
fn into_bytes(key: &str, value: KvValue) -> Result<Vec<u8>, LegacyKvError> {
    match value {
        KvValue::Bytes(bytes) => Ok(bytes),
        other => Err(LegacyKvError::at(key, IntegrityRule::NotBytes { found: kind(&other) })),
    }
}

// ---- value parsing: each returns a short reason naming the bad field ----

fn parse_pointer(value: &KvValue) -> Result<u64, String> {
    require_object(value)?;
    integer(value, "version", 1)
}

fn parse_checkpoint_manifest(value: &KvValue) -> Result<CheckpointManifest, String> {
    require_object(value)?;
    require_format(value, CHECKPOINT_FORMAT)?;
    let version = integer(value, "version", 1)?;
    let (chunk_size, chunk_count, byte_length, sha256) = chunk_fields(value)?;
    let state_vector_length = integer(value, "stateVectorByteLength", 0)?;
    let state_vector_sha256 = sha256_field(value, "stateVectorSha256")?;
    non_empty_string(value, "updatedAt")?;
    Ok(CheckpointManifest {
        version,
        payload: ChunkDescriptor { chunk_size, chunk_count, byte_length, sha256 },
        state_vector_length,
        state_vector_sha256,
    })
}

fn parse_journal_meta(value: &KvValue) -> Result<LegacyJournalStats, String> {
    require_object(value)?;
    require_format(value, JOURNAL_META_FORMAT)?;
    let next_seq = integer(value, "nextSeq", 1)?;
    let entry_count = integer(value, "entryCount", 0)?;
    let total_bytes = integer(value, "totalBytes", 0)?;
    non_empty_string(value, "updatedAt")?;
    Ok(LegacyJournalStats { next_seq, entry_count, total_bytes })
}

fn parse_journal_manifest(value: &KvValue) -> Result<(u64, ChunkDescriptor), String> {
    require_object(value)?;
    require_format(value, JOURNAL_ENTRY_FORMAT)?;
    let seq = integer(value, "seq", 1)?;
    let (chunk_size, chunk_count, byte_length, sha256) = chunk_fields(value)?;
    non_empty_string(value, "updatedAt")?;
    Ok((seq, ChunkDescriptor { chunk_size, chunk_count, byte_length, sha256 }))
}

/// `chunkSizeBytes` (> 0), `chunkCount`, `byteLength` (≥ 0) and `sha256`.
fn chunk_fields(value: &KvValue) -> Result<(u64, u64, u64, String), String> {
    Ok((
        integer(value, "chunkSizeBytes", 1)?,
        integer(value, "chunkCount", 0)?,
        integer(value, "byteLength", 0)?,
        sha256_field(value, "sha256")?,
    ))
}

fn require_object(value: &KvValue) -> Result<(), String> {
    match value {
        KvValue::Object(_) => Ok(()),
        other => Err(format!("expected an object, found {}", kind(other))),
    }
}

fn require_format(value: &KvValue, expected: &str) -> Result<(), String> {
    match value.get("format") {
        Some(KvValue::String(format)) if format == expected => Ok(()),
        other => Err(format!("format is {}, expected \"{expected}\"", describe(other))),
    }
}

/// A field holding an integer ≥ `min`, as JavaScript's `Number.isInteger`
/// sees it. Integers beyond 2^53 − 1 are refused: the old writer counted up
/// from 1 and could not have produced them, and keys built from them would
/// not match the ones JavaScript formatted.
fn integer(value: &KvValue, field: &str, min: u64) -> Result<u64, String> {
    match value.get(field) {
        Some(KvValue::Number(n))
            if n.is_finite()
                && n.fract() == 0.0
                && *n >= min as f64
                && *n <= crate::safe_int::MAX_SAFE_INTEGER as f64 =>
        {
            Ok(*n as u64)
        }
        other => Err(format!("{field} is {}, expected an integer >= {min}", describe(other))),
    }
}

fn sha256_field(value: &KvValue, field: &str) -> Result<String, String> {
    match value.get(field) {
        Some(KvValue::String(hex))
            if hex.len() == 64
                && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex.clone())
        }
        other => Err(format!("{field} is {}, expected 64 lowercase hex digits", describe(other))),
    }
}

fn non_empty_string(value: &KvValue, field: &str) -> Result<(), String> {
    match value.get(field) {
        Some(KvValue::String(s)) if !s.is_empty() => Ok(()),
        other => Err(format!("{field} is {}, expected a non-empty string", describe(other))),
    }
}

fn kind(value: &KvValue) -> &'static str {
    match value {
        KvValue::Null => "null",
        KvValue::Bool(_) => "a boolean",
        KvValue::Number(_) => "a number",
        KvValue::String(_) => "a string",
        KvValue::Bytes(_) => "bytes",
        KvValue::Array(_) => "an array",
        KvValue::Object(_) => "an object",
    }
}

/// A field's value for an error message: numbers and short strings verbatim.
fn describe(value: Option<&KvValue>) -> String {
    match value {
        None => "missing".to_owned(),
        Some(KvValue::Number(n)) => format!("{n}"),
        Some(KvValue::String(s)) if s.len() <= 80 => format!("{s:?}"),
        Some(other) => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(chunk_size: u64, chunk_count: u64, byte_length: u64) -> ChunkDescriptor {
        ChunkDescriptor { chunk_size, chunk_count, byte_length, sha256: String::new() }
    }

    #[test]
    fn only_chunks_present_confirm_a_manifest_length() {
        // A consistent, real layout: 2.5 chunks of 512 KiB.
        let real = manifest(524_288, 3, 2 * 524_288 + 1000);
        assert_eq!(confirmed_length(&real, Some(524_288), Some(1000)), Some(2 * 524_288 + 1000));
        assert_eq!(confirmed_length(&manifest(10, 1, 7), None, Some(7)), Some(7));
        // A damaged manifest claiming 64 MiB in one chunk whose bytes are 10.
        assert_eq!(confirmed_length(&manifest(64 << 20, 1, 64 << 20), None, Some(10)), None);
        // The right tail but a first chunk that is not chunk-sized.
        let big = manifest(64 << 20, 2, (64 << 20) + 10);
        assert_eq!(confirmed_length(&big, Some(10), Some(10)), None);
        // Missing chunks confirm nothing; neither do zero counts or overflow.
        assert_eq!(confirmed_length(&real, None, Some(1000)), None);
        assert_eq!(confirmed_length(&real, Some(524_288), None), None);
        assert_eq!(confirmed_length(&manifest(10, 0, 0), None, None), None);
        assert_eq!(confirmed_length(&manifest(u64::MAX, 3, 5), Some(u64::MAX), Some(5)), None);
    }
}
