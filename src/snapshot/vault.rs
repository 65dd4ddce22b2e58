//! One vault's snapshots in the bucket (spec 7.4, 10.7): the key layout,
//! creating (payload and index first, the `latest-index.json` pointer last),
//! the daily dedup decision, listing, status and retention.
//!
//! Layout, byte for byte as the TypeScript server wrote it:
//! `v1/<vault>/snapshots/<day>/<id>/crdt.bin.gz`, `…/<id>/index.json`, and
//! `v1/<vault>/snapshots/latest-index.json`.

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use thiserror::Error;
use yrs::Doc;

use super::id::{day_from_snapshot_id, new_snapshot_id, utc_day};
use super::index::{DocFacts, NewIndex, Reason, SnapshotIndex};
use super::notes_pack::{
    write_pack, MANIFEST_CONTENT_TYPE, MANIFEST_FILE, PACK_CONTENT_TYPE, PACK_FILE,
};
use super::payload::{full_update_hash, write_payload};
use super::retention::{select_retention, RetentionPolicy, DEFAULT_RETENTION};
use crate::bucket::{list_all, Bucket, BucketError};
use crate::diagnostics::timefmt::iso_from_ms;

/// Index objects fetched at once when listing (as the TypeScript server).
pub const INDEX_FETCH_CONCURRENCY: usize = 4;
/// The listing size `GET /snapshots/status` reads.
pub const STATUS_LIST_LIMIT: usize = 200;
/// Indexes one retention run reads at most (each is an R2 read): past this,
/// it decides on the newest and oldest halves, and the next run goes on.
pub const MAX_RETENTION_INDEXES_PER_RUN: usize = 400;
/// Retention error messages kept in the trace.
pub const RETENTION_TRACE_ERRORS: usize = 10;

pub const PAYLOAD_FILE: &str = "crdt.bin.gz";
pub const INDEX_FILE: &str = "index.json";
const LATEST_FILE: &str = "latest-index.json";
pub const PAYLOAD_CONTENT_TYPE: &str = "application/gzip";

/// A snapshot operation that failed.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Bucket(#[from] BucketError),
    #[error("snapshot encoding failed: {0}")]
    Encode(#[from] std::io::Error),
    #[error("the document is not loaded")]
    NotLoaded,
}

/// The time and randomness a new snapshot needs, from the platform.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub now_ms: u64,
    pub random: [u8; 4],
}

/// Where a document to snapshot comes from: the room lends it for the
/// duration of a synchronous call, never across an await; `None` when it
/// has no document loaded.
pub trait DocAccess {
    fn with_doc<R>(&self, f: impl FnOnce(&Doc) -> R) -> Option<R>;
}

impl DocAccess for Doc {
    fn with_doc<R>(&self, f: impl FnOnce(&Doc) -> R) -> Option<R> {
        Some(f(self))
    }
}

/// What `POST /snapshots/maybe` decided.
#[derive(Debug, Clone, PartialEq)]
pub enum DailyOutcome {
    Created { index: SnapshotIndex, retention: Option<RetentionOutcome> },
    Noop { reason: String },
}

impl DailyOutcome {
    pub fn to_json(&self) -> Value {
        match self {
            DailyOutcome::Created { index, .. } => {
                json!({"status": "created", "snapshotId": index.snapshot_id(), "index": index.to_json()})
            }
            DailyOutcome::Noop { reason } => json!({"status": "noop", "reason": reason}),
        }
    }

    pub fn snapshot_id(&self) -> Option<&str> {
        match self {
            DailyOutcome::Created { index, .. } => index.snapshot_id(),
            DailyOutcome::Noop { .. } => None,
        }
    }
}

/// A manual snapshot and whether it equals the previous latest one.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualOutcome {
    pub index: SnapshotIndex,
    pub identical_to_latest: bool,
}

impl ManualOutcome {
    pub fn to_json(&self) -> Value {
        json!({
            "status": "created",
            "snapshotId": self.index.snapshot_id(),
            "index": self.index.to_json(),
            "snapshotIdenticalToLatest": self.identical_to_latest,
            "semanticUnchanged": self.identical_to_latest,
        })
    }
}

/// The answer of the snapshot routes when no bucket is bound.
pub fn unavailable_json() -> Value {
    json!({"status": "unavailable", "reason": "R2 bucket not configured"})
}

/// Listed snapshots, newest first, with the key each index was read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub snapshots: Vec<(String, SnapshotIndex)>,
    pub total_index_keys: usize,
    pub limited: bool,
}

impl Listing {
    pub fn indexes(&self) -> impl Iterator<Item = &SnapshotIndex> {
        self.snapshots.iter().map(|(_, index)| index)
    }

    /// `{snapshots}`, or with `v2` `{snapshots, totalIndexKeys, fetchedCount, limited}`.
    pub fn to_json(&self, v2: bool) -> Value {
        let snapshots: Vec<Value> = self.indexes().map(SnapshotIndex::to_json).collect();
        if !v2 {
            return json!({ "snapshots": snapshots });
        }
        json!({
            "snapshots": snapshots,
            "totalIndexKeys": self.total_index_keys,
            "fetchedCount": self.snapshots.len(),
            "limited": self.limited,
        })
    }
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub kept: usize,
    pub pruned: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

impl RetentionOutcome {
    pub fn to_json(&self) -> Value {
        json!({"kept": self.kept, "pruned": self.pruned, "failed": self.failed})
    }

    /// The `snapshot-retention-applied` trace data.
    pub fn trace_json(&self, prune_legacy: bool) -> Value {
        let errors: Vec<&String> = self.errors.iter().take(RETENTION_TRACE_ERRORS).collect();
        json!({
            "kept": self.kept,
            "pruned": self.pruned,
            "failed": self.failed,
            "pruneLegacy": prune_legacy,
            "errors": errors,
        })
    }
}

/// The keys of one stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKeys {
    pub day: String,
    pub index: String,
    pub payload: String,
    /// The notes manifest and pack (`notes_pack`), written with the
    /// snapshot or later from its payload.
    pub manifest: String,
    pub pack: String,
}

/// A vault's snapshots in a bucket.
pub struct VaultSnapshots<'a, B: Bucket> {
    pub(super) bucket: &'a B,
    vault_id: &'a str,
}

/// The file name of a key of this vault's own snapshots, given the key
/// relative to its `v1/<vault>/snapshots/` prefix: exactly
/// `<YYYY-MM-DD>/<id>/<index.json|crdt.bin.gz>`. Vault IDs may contain `/`,
/// so the objects of vault `p/snapshots/x` sit under vault `p`'s prefix;
/// theirs are never of this shape (their own `snapshots/` segment adds at
/// least one, and their pointer or blobs end in another name), so a listing
/// never reads, counts or deletes another vault's objects.
fn own_snapshot_file(relative: &str) -> Option<&'static str> {
    let mut parts = relative.split('/');
    let (Some(day), Some(id), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let is_day = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !is_day || id.is_empty() {
        return None;
    }
    [INDEX_FILE, PAYLOAD_FILE, MANIFEST_FILE, PACK_FILE].into_iter().find(|f| *f == file)
}

impl<'a, B: Bucket> VaultSnapshots<'a, B> {
    pub fn new(bucket: &'a B, vault_id: &'a str) -> Self {
        Self { bucket, vault_id }
    }

    fn prefix(&self) -> String {
        format!("v1/{}/snapshots/", self.vault_id)
    }

    fn latest_key(&self) -> String {
        format!("{}{LATEST_FILE}", self.prefix())
    }

    /// The keys of snapshot `id` under the day directory `day`.
    fn keys_in(&self, day: &str, id: &str) -> SnapshotKeys {
        let dir = format!("{}{day}/{id}", self.prefix());
        SnapshotKeys {
            index: format!("{dir}/{INDEX_FILE}"),
            payload: format!("{dir}/{PAYLOAD_FILE}"),
            manifest: format!("{dir}/{MANIFEST_FILE}"),
            pack: format!("{dir}/{PACK_FILE}"),
            day: day.to_owned(),
        }
    }

    /// The keys of snapshot `id`, from the day its ID encodes; `None` for an
    /// ID that does not parse (no bucket access needed to say so).
    pub fn keys_of(&self, id: &str) -> Option<SnapshotKeys> {
        Some(self.keys_in(&day_from_snapshot_id(id)?, id))
    }

    /// The latest pointer; any error or unparseable content counts as none.
    pub async fn latest(&self) -> Option<SnapshotIndex> {
        let text = self.bucket.get_text(&self.latest_key()).await.ok()??;
        SnapshotIndex::parse(&text)
    }

    /// Whether the snapshot a pointer names really exists and agrees with it:
    /// the payload and index both exist, the index has the same ID (and the
    /// same `fullUpdateHash` when both have one), and the payload's size is
    /// the index's `crdtSizeBytes` when that is known.
    pub async fn verify(&self, pointer: &SnapshotIndex) -> bool {
        let (Some(day), Some(id)) = (pointer.day(), pointer.snapshot_id()) else {
            return false;
        };
        let keys = self.keys_in(day, id);
        let (head, stored) =
            futures::join!(self.bucket.head(&keys.payload), self.bucket.get_text(&keys.index));
        let (Ok(Some(size)), Ok(Some(text))) = (head, stored) else { return false };
        let Some(stored) = SnapshotIndex::parse(&text) else { return false };
        if stored.snapshot_id() != Some(id) {
            return false;
        }
        if let (Some(a), Some(b)) = (stored.full_update_hash(), pointer.full_update_hash()) {
            if a != b {
                return false;
            }
        }
        let expected = stored.crdt_size_bytes();
        expected <= 0.0 || size as f64 == expected
    }

    /// Writes a snapshot of `doc`: payload and index together, then the
    /// pointer, so a pointer never names a snapshot that is not all there.
    pub async fn create(
        &self,
        doc: &impl DocAccess,
        stamp: Stamp,
        reason: Reason,
        triggered_by: Option<String>,
    ) -> Result<SnapshotIndex, SnapshotError> {
        let id = new_snapshot_id(stamp.now_ms, stamp.random);
        let day = utc_day(stamp.now_ms);
        let mut payload = self.bucket.payload();
        let (mut pack, mut manifest) = (self.bucket.payload(), self.bucket.payload());
        // One synchronous borrow of the document: facts, payload and notes
        // agree.
        let (facts, stats) = doc
            .with_doc(|doc| {
                let stats = write_payload(doc, &mut payload)?;
                write_pack(doc, &mut pack, &mut manifest)?;
                Ok::<_, std::io::Error>((DocFacts::of(doc), stats))
            })
            .ok_or(SnapshotError::NotLoaded)??;
        let index = NewIndex {
            snapshot_id: id.clone(),
            vault_id: self.vault_id.to_owned(),
            created_at: iso_from_ms(stamp.now_ms),
            day: day.clone(),
            schema_version: facts.schema_version,
            markdown_file_count: facts.markdown_file_count,
            blob_file_count: facts.blob_file_count,
            crdt_size_bytes: stats.gzip_bytes,
            crdt_raw_size_bytes: stats.raw_bytes,
            referenced_blob_hashes: facts.referenced_blob_hashes,
            triggered_by,
            full_update_hash: stats.full_update_hash,
            structure_hash: facts.structure_hash,
            pinned: reason.pinned(),
            reason: reason.as_str(),
        };
        let index = SnapshotIndex::from_new(&index);
        let json = index.to_json().to_string();
        let keys = self.keys_in(&day, &id);
        let (a, b, c, d) = futures::join!(
            self.bucket.put_payload(&keys.payload, payload, PAYLOAD_CONTENT_TYPE),
            self.bucket.put_json(&keys.index, json.clone()),
            self.bucket.put_payload(&keys.pack, pack, PACK_CONTENT_TYPE),
            self.bucket.put_payload(&keys.manifest, manifest, MANIFEST_CONTENT_TYPE),
        );
        a?;
        b?;
        c?;
        d?;
        self.bucket.put_json(&self.latest_key(), json).await?;
        Ok(index)
    }

    /// A manual snapshot: pinned, reason `manual`, no retention.
    pub async fn create_manual(
        &self,
        doc: &impl DocAccess,
        stamp: Stamp,
        triggered_by: Option<String>,
    ) -> Result<ManualOutcome, SnapshotError> {
        let previous = self.latest().await;
        let index = self.create(doc, stamp, Reason::Manual, triggered_by).await?;
        let identical_to_latest = match (
            previous.as_ref().and_then(SnapshotIndex::full_update_hash),
            index.full_update_hash(),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        Ok(ManualOutcome { index, identical_to_latest })
    }

    /// The daily snapshot (spec 10.7): a noop when the pointer's
    /// `fullUpdateHash` equals the document's and the pointed snapshot
    /// verifies, or (for a pointer with no hash at all) when today already
    /// has a snapshot; otherwise a new `daily` snapshot, then retention.
    pub async fn maybe_daily(
        &self,
        doc: &impl DocAccess,
        stamp: Stamp,
        triggered_by: Option<String>,
    ) -> Result<DailyOutcome, SnapshotError> {
        if let Some(latest) = self.latest().await {
            if let Some(stored_hash) = latest.full_update_hash() {
                let current = doc.with_doc(full_update_hash).ok_or(SnapshotError::NotLoaded)?;
                if current == stored_hash && self.verify(&latest).await {
                    let reason =
                        "No changes since last snapshot (full CRDT state identical)".to_owned();
                    return Ok(DailyOutcome::Noop { reason });
                }
            } else if latest.state_vector_hash().is_none() {
                // The oldest pointers carry no hash: one snapshot per day.
                let today = utc_day(stamp.now_ms);
                let prefix = self.prefix();
                let keys = list_all(self.bucket, &format!("{prefix}{today}/")).await?;
                if keys.iter().any(|k| own_snapshot_file(&k[prefix.len()..]).is_some()) {
                    return Ok(DailyOutcome::Noop {
                        reason: format!("Snapshot already taken today ({today})"),
                    });
                }
            }
        }
        let index = self.create(doc, stamp, Reason::Daily, triggered_by).await?;
        // Retention failures are reported, never fatal to the snapshot.
        let retention = self.apply_retention(DEFAULT_RETENTION, stamp.now_ms, false).await.ok();
        Ok(DailyOutcome::Created { index, retention })
    }

    /// Lists index keys (every `…/index.json`, never the pointer) in
    /// descending key order, fetches the first `limit` of them
    /// [`INDEX_FETCH_CONCURRENCY`] at a time (unreadable ones dropped) and
    /// sorts them by `createdAt`, newest first.
    pub async fn list(&self, limit: Option<usize>) -> Result<Listing, BucketError> {
        let mut keys = self.index_keys().await?;
        let total_index_keys = keys.len();
        let limited = limit.is_some_and(|l| total_index_keys > l);
        keys.truncate(limit.unwrap_or(usize::MAX));
        self.fetch_indexes(keys, total_index_keys, limited).await
    }

    /// This vault's index keys, newest (descending key order) first.
    async fn index_keys(&self) -> Result<Vec<String>, BucketError> {
        let prefix = self.prefix();
        let mut keys: Vec<String> = list_all(self.bucket, &prefix)
            .await?
            .into_iter()
            .filter(|k| own_snapshot_file(&k[prefix.len()..]) == Some(INDEX_FILE))
            .collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        Ok(keys)
    }

    /// Fetches `keys` [`INDEX_FETCH_CONCURRENCY`] at a time (unreadable ones
    /// dropped), sorted by `createdAt`, newest first.
    async fn fetch_indexes(
        &self,
        keys: Vec<String>,
        total_index_keys: usize,
        limited: bool,
    ) -> Result<Listing, BucketError> {
        let fetched: Vec<Option<(String, SnapshotIndex)>> = stream::iter(keys)
            .map(|key| async move {
                let text = self.bucket.get_text(&key).await.ok()??;
                Some((key, SnapshotIndex::parse(&text)?))
            })
            .buffered(INDEX_FETCH_CONCURRENCY)
            .collect()
            .await;
        let mut snapshots: Vec<(String, SnapshotIndex)> = fetched.into_iter().flatten().collect();
        snapshots
            .sort_by(|a, b| b.1.created_at().unwrap_or("").cmp(a.1.created_at().unwrap_or("")));
        Ok(Listing { snapshots, total_index_keys, limited })
    }

    /// `GET /snapshots/status`.
    pub async fn status(&self) -> Result<Value, BucketError> {
        let latest = self.latest().await;
        let listing = self.list(Some(STATUS_LIST_LIMIT)).await?;
        let bytes: f64 = listing.indexes().map(SnapshotIndex::crdt_size_bytes).sum();
        let bytes = if bytes.fract() == 0.0 { json!(bytes as u64) } else { json!(bytes) };
        let pinned = listing.indexes().filter(|s| s.pinned()).count();
        let total = listing.total_index_keys;
        Ok(json!({
            "snapshotCountLowerBound": total,
            "listedSnapshotCount": listing.snapshots.len(),
            "listingLimited": listing.limited,
            "estimatedStorageBytesLowerBound": bytes,
            "pinnedCountLowerBound": pinned,
            "snapshotCount": total,
            "estimatedStorageBytes": bytes,
            "pinnedCount": pinned,
            "latestSnapshotId": latest.as_ref().and_then(|l| l.snapshot_id()),
            "latestCreatedAt": latest.as_ref().and_then(|l| l.created_at()),
        }))
    }

    /// Lists every snapshot, selects what `policy` prunes at `now_ms`, and
    /// deletes the objects of each pruned snapshot in one call. The keys
    /// deleted are the listed ones, so an old index without `day` is pruned
    /// where it really is.
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
        now_ms: u64,
        prune_legacy: bool,
    ) -> Result<RetentionOutcome, BucketError> {
        let mut keys = self.index_keys().await?;
        let total = keys.len();
        if total > MAX_RETENTION_INDEXES_PER_RUN {
            // The newest half and the oldest half. Deciding on a subset only
            // errs towards keeping (a bucket's newest or the manual count may
            // be in the part left out, never a reason to prune), and the
            // oldest, where the prunable ones are, are always in it: each
            // run makes progress.
            let half = MAX_RETENTION_INDEXES_PER_RUN / 2;
            keys.drain(half..total - (MAX_RETENTION_INDEXES_PER_RUN - half));
        }
        let listing =
            self.fetch_indexes(keys, total, total > MAX_RETENTION_INDEXES_PER_RUN).await?;
        let indexes: Vec<SnapshotIndex> = listing.indexes().cloned().collect();
        let selection = select_retention(&indexes, policy, now_ms as i64, prune_legacy);
        let mut outcome = RetentionOutcome { kept: selection.keep.len(), ..Default::default() };
        for i in selection.prune {
            let (index_key, index) = &listing.snapshots[i];
            let dir = index_key.trim_end_matches(INDEX_FILE);
            // Deleting a missing object is no error: the notes may not exist.
            let keys = vec![
                format!("{dir}{PAYLOAD_FILE}"),
                format!("{dir}{MANIFEST_FILE}"),
                format!("{dir}{PACK_FILE}"),
                index_key.clone(),
            ];
            match self.bucket.delete(keys).await {
                Ok(()) => outcome.pruned += 1,
                Err(e) => {
                    outcome.failed += 1;
                    outcome.errors.push(format!("{}: {e}", index.snapshot_id().unwrap_or("?")));
                }
            }
        }
        Ok(outcome)
    }
}
