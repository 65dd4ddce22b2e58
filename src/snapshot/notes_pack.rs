//! A snapshot's notes, readable one at a time: `notes.pack` holds each
//! active note's text deflated on its own, and `notes.json` (the manifest)
//! names each note's path, file ID, size, text hash and byte range in the
//! pack. Browsing a snapshot then reads the manifest, and opening or
//! restoring a note reads its range, without decoding the snapshot's Yjs
//! payload: at 25,000 notes that payload alone is a vault-sized document
//! next to the live one, past the isolate's memory (engineering/design.md,
//! "Browsing snapshots").
//!
//! Written with every snapshot from the live document; for a snapshot made
//! before (or by the TypeScript server) it is made once from the payload,
//! when the payload is small enough to decode next to the live document
//! ([`MAX_UNPACKED_PAYLOAD_BYTES`]).

use std::io::{self, Read, Write};

use flate2::read::{DeflateDecoder, GzDecoder};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use yrs::{Doc, Transact};

use crate::bucket::PayloadSink;
use crate::doc_model::notes::{note_text, schema_of, PathIndex};
use crate::hex::lower_hex;
use crate::wire_check;

pub const MANIFEST_FILE: &str = "notes.json";
pub const PACK_FILE: &str = "notes.pack";
pub const PACK_CONTENT_TYPE: &str = "application/octet-stream";
/// The manifest format this server writes and reads.
pub const PACK_FORMAT: u32 = 1;
/// The largest manifest read (about 130,000 notes): it is held whole.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// The largest note text read back from a pack (a bound on inflation).
pub const MAX_NOTE_BYTES: u64 = 16 * 1024 * 1024;
/// The largest decompressed payload of a snapshot without a pack that is
/// decoded to make one: its document sits next to the live one (a vault of
/// about 7,000 notes; engineering/benchmarks.md has the figures).
pub const MAX_UNPACKED_PAYLOAD_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of SHA-256 kept as a note's text hash (hex in the manifest).
const HASH_BYTES: usize = 16;

/// One note in the pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackedNote {
    pub path: String,
    pub id: String,
    /// The text's size in UTF-8 bytes.
    pub bytes: u64,
    /// [`text_hash`] of the text.
    pub hash: String,
    /// The deflated text's range in the pack.
    pub offset: u64,
    pub length: u64,
}

/// `notes.json`: the snapshot's active notes, sorted by path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotesManifest {
    pub format: u32,
    pub schema_version: Option<i64>,
    pub notes: Vec<PackedNote>,
}

/// Reading a snapshot's notes failed.
#[derive(Debug, Error)]
pub enum PackError {
    #[error("the notes manifest is not valid: {0}")]
    Manifest(String),
    #[error("the notes manifest is {bytes} bytes, over the limit of {limit}")]
    ManifestTooLarge { bytes: u64, limit: u64 },
    #[error("the snapshot's payload is not valid: {0}")]
    Payload(String),
    #[error(
        "the snapshot has no notes pack and its document is {bytes} bytes decompressed, \
         over the {limit} bytes that can be decoded next to the live vault"
    )]
    PayloadTooLarge { bytes: u64, limit: u64 },
    #[error("the note's stored text is not valid: {0}")]
    Note(String),
}

/// The hash the manifest keeps of a note's text.
pub fn text_hash(text: &str) -> String {
    lower_hex(&Sha256::digest(text.as_bytes())[..HASH_BYTES])
}

/// Writes every active note of `doc` (the plugin's path rule) into `pack`
/// and returns the manifest. Holds one note's text at a time.
pub fn write_pack<S: PayloadSink>(doc: &Doc, pack: &mut S) -> io::Result<NotesManifest> {
    let txn = doc.transact();
    let index = PathIndex::of(&txn);
    let mut notes = Vec::with_capacity(index.active.len());
    for (path, id) in index.active {
        let Some(text) = note_text(&txn, &id) else { continue };
        // Fast deflate: the pack is written while the room waits, and note
        // text compresses well at any level.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(text.as_bytes())?;
        let deflated = encoder.finish()?;
        let offset = pack.len();
        pack.write(&deflated);
        notes.push(PackedNote {
            path,
            id,
            bytes: text.len() as u64,
            hash: text_hash(&text),
            offset,
            length: deflated.len() as u64,
        });
    }
    Ok(NotesManifest { format: PACK_FORMAT, schema_version: schema_of(&txn), notes })
}

impl NotesManifest {
    /// Parses a stored manifest (at most [`MAX_MANIFEST_BYTES`], checked by
    /// the reader); notes are sorted by path for [`NotesManifest::find`].
    pub fn parse(json: &str) -> Result<NotesManifest, PackError> {
        let mut manifest: NotesManifest =
            serde_json::from_str(json).map_err(|e| PackError::Manifest(e.to_string()))?;
        if manifest.format != PACK_FORMAT {
            return Err(PackError::Manifest(format!("format {}", manifest.format)));
        }
        manifest.notes.sort_by(|a, b| a.path.cmp(&b.path));
        manifest.notes.dedup_by(|a, b| a.path == b.path);
        Ok(manifest)
    }

    pub fn find(&self, path: &str) -> Option<&PackedNote> {
        let at = self.notes.binary_search_by(|n| n.path.as_str().cmp(path)).ok()?;
        self.notes.get(at)
    }
}

/// A note's text from its `range` of the pack: inflated up to the size
/// the manifest gives it (and [`MAX_NOTE_BYTES`]), then checked against
/// its hash.
pub fn read_note(note: &PackedNote, range: &[u8]) -> Result<String, PackError> {
    if note.bytes > MAX_NOTE_BYTES {
        return Err(PackError::Note(format!("{} bytes, over {MAX_NOTE_BYTES}", note.bytes)));
    }
    let mut bytes = Vec::with_capacity(note.bytes as usize);
    DeflateDecoder::new(range)
        .take(note.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PackError::Note(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| PackError::Note(e.to_string()))?;
    if text.len() as u64 != note.bytes || text_hash(&text) != note.hash {
        return Err(PackError::Note("its size or hash differs from the manifest".into()));
    }
    Ok(text)
}

/// The document of a gzipped snapshot payload, decompressed up to
/// [`MAX_UNPACKED_PAYLOAD_BYTES`] and checked before yrs reads it.
pub fn decode_payload(gzipped: &[u8]) -> Result<Doc, PackError> {
    let mut raw = Vec::new();
    GzDecoder::new(gzipped)
        .take(MAX_UNPACKED_PAYLOAD_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| PackError::Payload(e.to_string()))?;
    if raw.len() as u64 > MAX_UNPACKED_PAYLOAD_BYTES {
        return Err(PackError::PayloadTooLarge {
            bytes: raw.len() as u64,
            limit: MAX_UNPACKED_PAYLOAD_BYTES,
        });
    }
    let doc = Doc::new();
    // Checked against the empty document: structure, clocks and nesting.
    let update = wire_check::decode_update_for(&raw, &doc.transact())
        .map_err(|e| PackError::Payload(e.to_string()))?;
    drop(raw);
    doc.transact_mut().apply_update(update).map_err(|e| PackError::Payload(e.to_string()))?;
    Ok(doc)
}
