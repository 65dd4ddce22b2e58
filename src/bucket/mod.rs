//! The R2 seam: the object bucket (`YAOS_BUCKET`) as the core sees it.
//!
//! Snapshot rules (layout, dedup, listing, retention) are written against
//! [`Bucket`], so they run natively over [`memory::MemoryBucket`] and on the
//! platform over R2. Large payloads never pass through here as one buffer:
//! a snapshot is written into a [`Bucket::Payload`] piece by piece (on the
//! platform the pieces live in JavaScript memory, outside wasm), and blob
//! bodies stream between the request, R2 and the response in the shell.

pub mod memory;

use thiserror::Error;

/// What R2's `list` allows per page at most.
pub const LIST_PAGE_LIMIT: u32 = 1000;

/// A failed bucket operation; the message is the platform's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bucket: {0}")]
pub struct BucketError(pub String);

/// One page of keys under a prefix, in ascending key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub keys: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// Bytes collected for one object before it is written.
pub trait PayloadSink {
    /// Appends one piece.
    fn write(&mut self, piece: &[u8]);
    /// The bytes written so far.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The operations the snapshot rules need. Futures are not `Send`: the
/// platform is single-threaded.
#[allow(async_fn_in_trait)]
pub trait Bucket {
    type Payload: PayloadSink;

    /// The size of an object, or `None` when it does not exist.
    async fn head(&self, key: &str) -> Result<Option<u64>, BucketError>;
    /// A small object's body as text (index JSON), or `None`.
    async fn get_text(&self, key: &str) -> Result<Option<String>, BucketError>;
    /// `length` bytes of an object from `offset` (fewer at its end), or
    /// `None` when it does not exist.
    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>, BucketError>;
    /// An object's whole body, or `None`; an object over `max` bytes is
    /// refused before its body is read.
    async fn get_bytes(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, BucketError>;
    /// Writes a small JSON object (`application/json`).
    async fn put_json(&self, key: &str, json: String) -> Result<(), BucketError>;
    /// An empty payload to write pieces into.
    fn payload(&self) -> Self::Payload;
    /// Writes a payload under `key` with the given content type.
    async fn put_payload(
        &self,
        key: &str,
        payload: Self::Payload,
        content_type: &str,
    ) -> Result<(), BucketError>;
    /// One page of keys under `prefix` (at most `limit`, itself at most
    /// [`LIST_PAGE_LIMIT`]), continuing from `cursor`.
    async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ListPage, BucketError>;
    /// Deletes several objects in one call.
    async fn delete(&self, keys: Vec<String>) -> Result<(), BucketError>;
}

/// The error of a read refused because the object is over `max` bytes.
pub fn too_large(key: &str, size: u64, max: u64) -> BucketError {
    BucketError(format!("{key} is {size} bytes, over the {max} this read allows"))
}

/// Every key under `prefix`, following cursors page by page.
pub async fn list_all<B: Bucket>(bucket: &B, prefix: &str) -> Result<Vec<String>, BucketError> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list(prefix, LIST_PAGE_LIMIT, cursor).await?;
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(keys),
        }
    }
}
