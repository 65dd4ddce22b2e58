//! A snapshot's notes, readable one at a time: `notes.pack` holds each
//! active note's text deflated on its own, and `notes.jsonl` (the manifest)
//! names each note's path, size, byte range in the pack and text hash, one
//! JSON line per note after a header line, sorted by path. Both are
//! written as a stream and the manifest is read line by line, so neither
//! side holds a per-note structure for the whole vault. Browsing a snapshot then reads the manifest, and opening or
//! restoring a note reads its range, without decoding the snapshot's Yjs
//! payload: at 25,000 notes that payload alone is a vault-sized document
//! next to the live one, past the isolate's memory (engineering/design.md,
//! "Browsing snapshots").
//!
//! Written with every snapshot from the live document; for a snapshot made
//! before (or by the TypeScript server) it is made once from the payload,
//! when the payload is small enough to decode next to the live document
//! ([`MAX_UNPACKED_PAYLOAD_BYTES`]).

use std::borrow::Cow;
use std::io::{self, Read, Write};

use flate2::read::{DeflateDecoder, GzDecoder};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use yrs::{Doc, Transact};

use crate::bucket::PayloadSink;
use crate::doc_model::notes::{has_text, note_text, schema_of, PathIndex};
use crate::hex::lower_hex;
use crate::wire_check;

pub const MANIFEST_FILE: &str = "notes.jsonl";
pub const PACK_FILE: &str = "notes.pack";
pub const PACK_CONTENT_TYPE: &str = "application/octet-stream";
pub const MANIFEST_CONTENT_TYPE: &str = "application/jsonl";
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
/// The manifest is handed to its sink in pieces of about this size.
const MANIFEST_PIECE_BYTES: usize = 64 * 1024;

/// The manifest's first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestHeader {
    pub format: u32,
    pub schema_version: Option<i64>,
    pub notes: usize,
}

/// One note of the manifest, borrowed from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedNote<'a> {
    pub path: Cow<'a, str>,
    /// The text's size in UTF-8 bytes.
    pub bytes: u64,
    /// The deflated text's range in the pack.
    pub offset: u64,
    pub length: u64,
    /// [`text_hash`] of the text.
    pub hash: &'a str,
}

/// A line as stored: `[path, bytes, offset, length, hash]`.
type Line<'a> = (Cow<'a, str>, u64, u64, u64, &'a str);

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
        "the snapshot has no notes pack and its payload is {bytes} bytes, over the {limit} \
         bytes that can be decoded next to the live vault"
    )]
    PayloadTooLarge { bytes: u64, limit: u64 },
    #[error("the note's stored text is not valid: {0}")]
    Note(String),
}

/// The hash the manifest keeps of a note's text.
pub fn text_hash(text: &str) -> String {
    lower_hex(&Sha256::digest(text.as_bytes())[..HASH_BYTES])
}

/// Manifest lines collected into pieces for a sink.
struct Lines<'s, S: PayloadSink> {
    sink: &'s mut S,
    buffer: Vec<u8>,
}

impl<S: PayloadSink> Lines<'_, S> {
    fn line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.buffer, value)?;
        self.buffer.push(b'\n');
        if self.buffer.len() >= MANIFEST_PIECE_BYTES {
            self.sink.write(&self.buffer);
            self.buffer.clear();
        }
        Ok(())
    }

    fn finish(self) {
        if !self.buffer.is_empty() {
            self.sink.write(&self.buffer);
        }
    }
}

/// Writes every active note of `doc` (the plugin's path rule) into `pack`
/// and its manifest into `manifest`, one note's text at a time. Returns the
/// number of notes.
pub fn write_pack<S: PayloadSink>(doc: &Doc, pack: &mut S, manifest: &mut S) -> io::Result<usize> {
    let txn = doc.transact();
    let index = PathIndex::of(&txn);
    let mut lines = Lines { sink: manifest, buffer: Vec::with_capacity(MANIFEST_PIECE_BYTES) };
    let notes = index.active.values().filter(|id| has_text(&txn, id)).count();
    let header = ManifestHeader { format: PACK_FORMAT, schema_version: schema_of(&txn), notes };
    lines.line(&header)?;
    for (path, id) in &index.active {
        let Some(text) = note_text(&txn, id) else { continue };
        // Fast deflate: the pack is written while the room waits, and note
        // text compresses well at any level.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(text.as_bytes())?;
        let deflated = encoder.finish()?;
        let offset = pack.len();
        pack.write(&deflated);
        let hash = text_hash(&text);
        let line: Line<'_> =
            (Cow::Borrowed(path), text.len() as u64, offset, deflated.len() as u64, &hash);
        lines.line(&line)?;
    }
    lines.finish();
    Ok(notes)
}

/// A stored manifest, checked line by line when read and then walked
/// without copying.
#[derive(Debug, Clone)]
pub struct NotesManifest {
    header: ManifestHeader,
    text: String,
}

impl NotesManifest {
    /// Checks a stored manifest (at most [`MAX_MANIFEST_BYTES`], checked by
    /// the reader): its header, then every line.
    pub fn parse(bytes: Vec<u8>) -> Result<NotesManifest, PackError> {
        let bad = |e: &dyn std::fmt::Display| PackError::Manifest(e.to_string());
        let text = String::from_utf8(bytes).map_err(|e| bad(&e))?;
        let mut lines = text.lines();
        let header: ManifestHeader =
            serde_json::from_str(lines.next().unwrap_or_default()).map_err(|e| bad(&e))?;
        if header.format != PACK_FORMAT {
            return Err(PackError::Manifest(format!("format {}", header.format)));
        }
        for line in lines {
            serde_json::from_str::<Line<'_>>(line).map_err(|e| bad(&e))?;
        }
        Ok(NotesManifest { header, text })
    }

    pub fn schema_version(&self) -> Option<i64> {
        self.header.schema_version
    }

    /// The notes, in the stored order (by path, as written).
    pub fn notes(&self) -> impl Iterator<Item = PackedNote<'_>> {
        // Every line parsed in `parse`.
        self.text.lines().skip(1).filter_map(|line| {
            let (path, bytes, offset, length, hash) =
                serde_json::from_str::<Line<'_>>(line).ok()?;
            Some(PackedNote { path, bytes, offset, length, hash })
        })
    }

    /// The browse answer's size, about: each note's path and fields, and
    /// room for the comparison's lists.
    pub fn answer_capacity(&self) -> usize {
        const PER_NOTE: usize = 56;
        self.notes().map(|n| n.path.len() + PER_NOTE).sum::<usize>() + 4096
    }

    pub fn find(&self, path: &str) -> Option<PackedNote<'_>> {
        self.notes().find(|note| note.path == path)
    }
}

/// A note's text from its `range` of the pack: inflated up to the size
/// the manifest gives it (and [`MAX_NOTE_BYTES`]), then checked against
/// its hash.
pub fn read_note(note: &PackedNote<'_>, range: &[u8]) -> Result<String, PackError> {
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
