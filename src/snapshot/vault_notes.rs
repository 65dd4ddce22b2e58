//! A stored snapshot's notes through the bucket: its manifest (made from
//! the payload once, for a snapshot that has none) and the texts of the
//! notes a request names, each read as its own range of the pack.

use thiserror::Error;

use super::browse::{RequestError, MAX_RESTORE_TEXT_BYTES};
use super::notes_pack::{
    decode_payload, read_note, write_pack, NotesManifest, PackError, PackedNote,
    MANIFEST_CONTENT_TYPE, MAX_MANIFEST_BYTES, MAX_UNPACKED_PAYLOAD_BYTES, PACK_CONTENT_TYPE,
};
use super::vault::{SnapshotKeys, VaultSnapshots};
use crate::bucket::{Bucket, BucketError};

/// Reading a snapshot's notes failed.
#[derive(Debug, Error)]
pub enum NotesError {
    #[error("no snapshot {0}")]
    SnapshotNotFound(String),
    #[error("not in the snapshot: {}", .0.join(", "))]
    NotInSnapshot(Vec<String>),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error(transparent)]
    Bucket(#[from] BucketError),
}

impl<B: Bucket> VaultSnapshots<'_, B> {
    fn existing_keys(&self, id: &str) -> Result<SnapshotKeys, NotesError> {
        self.keys_of(id).ok_or_else(|| NotesError::SnapshotNotFound(id.to_owned()))
    }

    /// Snapshot `id`'s notes manifest. A snapshot without one gets it now
    /// from its payload, if that is at most [`MAX_UNPACKED_PAYLOAD_BYTES`].
    pub async fn manifest(&self, id: &str) -> Result<NotesManifest, NotesError> {
        let keys = self.existing_keys(id)?;
        let stored = match self.bucket.head(&keys.manifest).await? {
            Some(stored) => stored,
            None => {
                self.pack_from_payload(id, &keys).await?;
                self.bucket.head(&keys.manifest).await?.unwrap_or_default()
            }
        };
        if stored > MAX_MANIFEST_BYTES {
            Err(PackError::ManifestTooLarge { bytes: stored, limit: MAX_MANIFEST_BYTES })?
        }
        let bytes = self.bucket.get_bytes(&keys.manifest, MAX_MANIFEST_BYTES).await?;
        let bytes = bytes.ok_or_else(|| PackError::Manifest("it is missing".into()))?;
        Ok(NotesManifest::parse(bytes)?)
    }

    /// Writes the pack and manifest of a snapshot that has only its payload
    /// (made before packs, or by the TypeScript server).
    async fn pack_from_payload(&self, id: &str, keys: &SnapshotKeys) -> Result<(), NotesError> {
        let bucket = self.bucket;
        let Some(size) = bucket.head(&keys.payload).await? else {
            return Err(NotesError::SnapshotNotFound(id.to_owned()));
        };
        if size > MAX_UNPACKED_PAYLOAD_BYTES {
            let limit = MAX_UNPACKED_PAYLOAD_BYTES;
            return Err(PackError::PayloadTooLarge { bytes: size, limit }.into());
        }
        let gzipped = bucket
            .get_bytes(&keys.payload, MAX_UNPACKED_PAYLOAD_BYTES)
            .await?
            .ok_or_else(|| NotesError::SnapshotNotFound(id.to_owned()))?;
        let doc = decode_payload(&gzipped)?;
        drop(gzipped);
        let (mut pack, mut manifest) = (bucket.payload(), bucket.payload());
        write_pack(&doc, &mut pack, &mut manifest)
            .map_err(|e| PackError::Payload(e.to_string()))?;
        drop(doc);
        // The pack before the manifest that points into it.
        bucket.put_payload(&keys.pack, pack, PACK_CONTENT_TYPE).await?;
        bucket.put_payload(&keys.manifest, manifest, MANIFEST_CONTENT_TYPE).await?;
        Ok(())
    }

    /// The text of `note` in snapshot `id`.
    pub async fn note_text(&self, id: &str, note: &PackedNote<'_>) -> Result<String, NotesError> {
        let keys = self.existing_keys(id)?;
        let range = self.bucket.get_range(&keys.pack, note.offset, note.length).await?;
        let range = range.ok_or_else(|| PackError::Note("the notes pack is missing".into()))?;
        Ok(read_note(note, &range)?)
    }

    /// The texts of `paths` in snapshot `id`, in order: every path must be
    /// one of its notes, and together at most [`MAX_RESTORE_TEXT_BYTES`].
    pub async fn note_texts(
        &self,
        id: &str,
        manifest: &NotesManifest,
        paths: &[String],
    ) -> Result<Vec<String>, NotesError> {
        let notes: Vec<Option<PackedNote<'_>>> = paths.iter().map(|p| manifest.find(p)).collect();
        let missing: Vec<String> =
            paths.iter().zip(&notes).filter(|(_, n)| n.is_none()).map(|(p, _)| p.clone()).collect();
        if !missing.is_empty() {
            return Err(NotesError::NotInSnapshot(missing));
        }
        let notes: Vec<PackedNote<'_>> = notes.into_iter().flatten().collect();
        let bytes = notes.iter().map(|n| n.bytes).fold(0u64, u64::saturating_add);
        if bytes > MAX_RESTORE_TEXT_BYTES {
            return Err(RequestError::TooMuchText { bytes }.into());
        }
        let mut texts = Vec::with_capacity(notes.len());
        for note in &notes {
            texts.push(self.note_text(id, note).await?);
        }
        Ok(texts)
    }
}
