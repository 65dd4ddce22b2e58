//! Documents from stored bytes: the SQL rows of an activation, and the
//! source document a migration builds from the legacy key-value store
//! (spec 10.2 step 4, including the legacy-document merge rule).

use yrs::{Doc, ReadTxn, StateVector, Transact};

use super::LoadError;
use crate::doc_model::summary::DocumentSummary;
use crate::store::kv::KvStore;
use crate::store::legacy_kv::{
    self, JournalReadError, LegacyJournalStats, LegacyKvError, LegacyKvState, LEGACY_DOCUMENT_KEY,
};
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::JournalStats;
use crate::update_pieces::UpdatePieces;
use crate::wire_check::{decode_piece_for, decode_update_for};

/// A document rebuilt from SQL rows.
pub(super) struct SqlDoc {
    pub(super) doc: Doc,
    pub(super) stats: JournalStats,
    pub(super) has_snapshot: bool,
}

/// The document built from legacy data, and what the marker records.
pub(super) struct Source {
    pub(super) doc: Doc,
    pub(super) info: SourceInfo,
}

/// Facts about a [`Source`] that outlive its document: the migration drops
/// the document before it rebuilds one from SQL (module docs, Memory).
#[derive(Debug, Clone, Copy)]
pub(super) struct SourceInfo {
    /// `document` held bytes (source format `legacy+kv`).
    pub(super) had_legacy_key: bool,
    /// `document` held non-empty bytes (`legacyDocumentMigrated`).
    pub(super) legacy_document_migrated: bool,
    /// The merge rule chose to apply the legacy document.
    pub(super) legacy_applied: bool,
    pub(super) stats: LegacyJournalStats,
    pub(super) checkpoint_bytes: usize,
    pub(super) active_path_count: u64,
}

/// Why an update could not be applied.
pub(super) struct ApplyError(pub(super) String);

/// Applies one v1 update; an empty update carries nothing and is skipped.
pub(super) fn apply(doc: &Doc, update: &[u8]) -> Result<(), ApplyError> {
    if update.is_empty() {
        return Ok(());
    }
    let update = decode_update_for(update, &doc.transact())
        .map_err(|error| ApplyError(error.to_string()))?;
    doc.transact_mut().apply_update(update).map_err(|error| ApplyError(error.to_string()))
}

/// Like [`apply`], but frees the encoded bytes as soon as they are decoded,
/// so a large snapshot is not held alongside the document it builds (wasm
/// memory never shrinks: the peak is what counts).
pub(super) fn apply_owned(doc: &Doc, bytes: Vec<u8>) -> Result<(), ApplyError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let update = decode_update_for(&bytes, &doc.transact())
        .map_err(|error| ApplyError(error.to_string()))?;
    drop(bytes);
    doc.transact_mut().apply_update(update).map_err(|error| ApplyError(error.to_string()))
}

pub(super) fn state_vector(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

/// The size of the pieces a stored snapshot is applied in
/// ([`crate::update_pieces`]): one snapshot row. The snapshot is never held
/// whole next to the document it builds; what a load adds to the document
/// is about one piece, decoded.
pub const LOAD_PIECE_BYTES: usize = crate::store::sql_store::SNAPSHOT_CHUNK_BYTES;

/// Loads SQL into a fresh document. Unreadable rows and rows that do not
/// apply both count as "the SQL load failed" (kv-fallback), never as data.
pub(super) fn read_sql<E: SqlExec>(store: &SqlDocStore<E>) -> Result<Option<SqlDoc>, String> {
    let rebuilt = rebuild_from_sql(store, &mut |_| {})?;
    if !rebuilt.has_snapshot && rebuilt.stats.entry_count == 0 {
        return Ok(None);
    }
    Ok(Some(rebuilt))
}

/// Rebuilds the document the SQL rows hold, streaming them: the snapshot
/// is cut into pieces as its rows are read and each piece applied, then
/// each journal entry as it is read. `on_chunk` sees every snapshot row's
/// bytes, in order (the migration's read-back hashes them).
pub(super) fn rebuild_from_sql<E: SqlExec>(
    store: &SqlDocStore<E>,
    on_chunk: &mut dyn FnMut(&[u8]),
) -> Result<SqlDoc, String> {
    let (chunks, snapshot_len) = store.snapshot_size().map_err(|error| error.to_string())?;
    let doc = Doc::new();
    if chunks > 0 {
        let mut failed: Option<String> = None;
        let mut apply_piece = |piece: Vec<u8>| {
            if failed.is_none() {
                failed = apply_piece_owned(&doc, piece).err().map(|ApplyError(e)| e);
            }
        };
        let mut pieces = UpdatePieces::new(snapshot_len, LOAD_PIECE_BYTES);
        store
            .stream_snapshot(&mut |chunk| {
                on_chunk(chunk);
                pieces.feed(chunk, &mut apply_piece).map_err(|e| e.to_string())
            })
            .map_err(|error| error.to_string())?;
        let finished = pieces.finish(&mut apply_piece);
        if let Some(error) = failed.or(finished.err().map(|e| e.to_string())) {
            return Err(format!("snapshot_chunks: update does not apply: {error}"));
        }
    }
    let mut index = 0;
    let stats = store
        .stream_journal(&mut |entry| {
            apply_owned(&doc, entry).map_err(|ApplyError(e)| {
                format!("journal row {index}: update does not apply: {e}")
            })?;
            index += 1;
            Ok(())
        })
        .map_err(|error| error.to_string())?;
    Ok(SqlDoc { doc, stats, has_snapshot: chunks > 0 })
}

/// Applies one piece of a snapshot, freeing its bytes once decoded. The
/// structure and the nesting of types (against what the earlier pieces
/// built) are checked here; the clock rule was checked across the whole
/// snapshot as it was cut ([`UpdatePieces`]).
fn apply_piece_owned(doc: &Doc, bytes: Vec<u8>) -> Result<(), ApplyError> {
    let update = decode_piece_for(&bytes, &doc.transact());
    let update = update.map_err(|error| ApplyError(error.to_string()))?;
    drop(bytes);
    doc.transact_mut().apply_update(update).map_err(|error| ApplyError(error.to_string()))
}

/// The error of a legacy value named `source_name` that does not apply.
fn undecodable(source_name: impl Into<String>) -> impl FnOnce(ApplyError) -> LoadError {
    move |ApplyError(message)| LoadError::Undecodable { source_name: source_name.into(), message }
}

/// Applies a legacy value, naming it in the error.
fn apply_legacy(doc: &Doc, update: &[u8], source_name: &str) -> Result<(), LoadError> {
    apply(doc, update).map_err(undecodable(source_name))
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

/// [`apply_chunked`], freeing each value once decoded (see [`apply_owned`]).
fn apply_chunked_owned(doc: &Doc, legacy: LegacyKvState) -> Result<(), LoadError> {
    let first_seq = legacy.stats.next_seq.saturating_sub(legacy.journal.len() as u64);
    if let Some(checkpoint) = legacy.checkpoint {
        apply_owned(doc, checkpoint).map_err(undecodable("checkpoint"))?;
    }
    for (offset, entry) in legacy.journal.into_iter().enumerate() {
        let name = format!("journal entry {}", first_seq + offset as u64);
        apply_owned(doc, entry).map_err(undecodable(name))?;
    }
    Ok(())
}

/// Builds the document to migrate (spec 10.2 step 4), or `None` if the legacy
/// store holds nothing. The legacy `document` is applied first only when it
/// has an active path and the chunked store has no file state at all.
///
/// Takes the legacy data so that, without a legacy `document` (the usual
/// case), each value is freed as it is decoded rather than held alongside
/// the whole document. With one, the merge rule may apply the chunked values
/// twice, so they are kept until the end.
pub(super) fn build_source(mut legacy: LegacyKvState) -> Result<Option<Source>, LoadError> {
    if !legacy.has_data() {
        return Ok(None);
    }
    let had_legacy_key = legacy.document.is_some();
    let (stats, checkpoint_bytes) = (legacy.stats, legacy.checkpoint.as_ref().map_or(0, Vec::len));
    let legacy_bytes = legacy.document.take().filter(|bytes| !bytes.is_empty());
    let legacy_document_migrated = legacy_bytes.is_some();
    let chunked = Doc::new();
    let (doc, legacy_applied) = match legacy_bytes {
        None => {
            apply_chunked_owned(&chunked, legacy)?;
            (chunked, false)
        }
        Some(bytes) => {
            apply_chunked(&chunked, &legacy)?;
            if legacy_wins(&bytes, &chunked)? {
                let merged = Doc::new();
                apply_legacy(&merged, &bytes, LEGACY_DOCUMENT_KEY)?;
                apply_chunked(&merged, &legacy)?;
                (merged, true)
            } else {
                (chunked, false)
            }
        }
    };
    let active_path_count = DocumentSummary::of(&doc).active_path_count;
    let info = SourceInfo {
        had_legacy_key,
        legacy_document_migrated,
        legacy_applied,
        stats,
        checkpoint_bytes,
        active_path_count,
    };
    Ok(Some(Source { doc, info }))
}

/// Builds the document to migrate straight from the legacy store (what
/// [`build_source`] builds from [`legacy_kv::read_legacy_kv`]), applying each
/// value as soon as it is read and verified: the checkpoint, then one
/// journal entry at a time. The vault's journal is never held whole next to
/// the document it builds (a large vault that the released servers could no
/// longer compact holds most of its text there). A non-empty legacy
/// `document` needs the chunked values twice for the merge rule; that rare
/// case reads everything first.
pub(super) async fn read_source<K: KvStore>(kv: &K) -> Result<Option<Source>, LoadError> {
    let document = legacy_kv::read_legacy_document(kv).await.map_err(LegacyKvError::from)?;
    if document.as_ref().is_some_and(|bytes| !bytes.is_empty()) {
        return build_source(legacy_kv::read_legacy_kv(kv).await?);
    }
    let checkpoint = legacy_kv::read_checkpoint(kv).await?;
    let has_checkpoint = checkpoint.is_some();
    let checkpoint_bytes = checkpoint.as_ref().map_or(0, Vec::len);
    let doc = Doc::new();
    if let Some(checkpoint) = checkpoint {
        apply_owned(&doc, checkpoint).map_err(undecodable("checkpoint"))?;
    }
    let stats = legacy_kv::for_each_journal_entry(kv, &mut |seq, entry| {
        apply_owned(&doc, entry).map_err(undecodable(format!("journal entry {seq}")))
    })
    .await
    .map_err(|error| match error {
        JournalReadError::Kv(error) => LoadError::Legacy(error),
        JournalReadError::Entry(error) => error,
    })?;
    if !has_checkpoint && stats.entry_count == 0 {
        return Ok(None);
    }
    let info = SourceInfo {
        had_legacy_key: document.is_some(),
        legacy_document_migrated: false,
        legacy_applied: false,
        stats,
        checkpoint_bytes,
        active_path_count: DocumentSummary::of(&doc).active_path_count,
    };
    Ok(Some(Source { doc, info }))
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
