//! A fresh client's full state, sent in pieces that it integrates in one
//! transaction.
//!
//! The snapshot goes straight from its stored rows, cut into pieces
//! ([`crate::update_pieces`]) as it is read, chunk by chunk: nothing of it
//! is decoded into the document or encoded out of it, and no frame is larger
//! than about one piece, so a vault of any size reaches a fresh device
//! without a vault-sized buffer in wasm memory, a vault-sized copy in
//! JavaScript, or a WebSocket message past the platform's cap. What the
//! journal added since is the document's diff against the snapshot's state
//! (one encode, as large as the journal's structs plus the delete set), cut
//! the same way.
//!
//! One transaction: every client's first struct is held back from the
//! pieces ([`crate::update_pieces::FirstStructs`]), so a Yjs client can
//! integrate none of them and keeps them pending; the last frame, a
//! SyncStep2 (`[0, 1, …]`, which makes the provider report `synced`),
//! carries the held-back structs and the document's delete set and completes
//! everything at once. The plugin acts on every transaction it sees, so a
//! fresh device must never observe the vault in a state it did not settle
//! in: a note alive whose tombstone is in a later frame, or text whose
//! deletion is. The client pays for it by holding every frame pending, three
//! to five times the work of one SyncStep2 (`engineering/benchmarks.md`), so
//! the vault room sends this only for a vault past its one-step size
//! (`RoomLimits::one_step_sync_bytes`).
//!
//! Only correct while the stored rows hold everything the document does;
//! the vault room checks that before it calls [`send_stored_state`].

use yrs::{Doc, StateVector, Transact};

use super::protocol::{sync_frame, SYNC_STEP_2, SYNC_UPDATE};
use super::vault_room::Outbox;
use crate::encode::state_as_update_v1;
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::StoreError;
use crate::update_pieces::{FirstStructs, UpdatePieces};

/// The diff is handed to the cutter in slices of this size, so the cutter's
/// buffer never holds a second copy of it.
const DIFF_FEED_BYTES: usize = 64 * 1024;

/// What was sent, for the trace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoredSync {
    pub frames: usize,
    pub bytes: usize,
    /// Structs held back to the last frame (one per client), and that
    /// frame's size.
    pub held_structs: u64,
    pub last_frame_bytes: usize,
}

/// Sends the stored state, completed by `doc`'s changes since the snapshot,
/// to the connection `out` replies to, in pieces of about `piece_bytes`.
/// On an error, frames already sent stay sent: the client holds them pending
/// (nothing in them can be integrated without the last frame), and the
/// caller answers again from the document.
pub fn send_stored_state<E: SqlExec>(
    store: &SqlDocStore<E>,
    doc: &Doc,
    piece_bytes: usize,
    out: &mut impl Outbox,
) -> Result<StoredSync, StoreError> {
    let mut sent = StoredSync::default();
    let mut send = |inner: u64, update: Vec<u8>| {
        let frame = sync_frame(inner, update);
        sent.frames += 1;
        sent.bytes += frame.len();
        sent.last_frame_bytes = frame.len();
        out.reply(&frame);
    };
    let mut first = FirstStructs::default();
    let mut snapshot_state = StateVector::default();
    let (_, snapshot_len) = store.snapshot_size()?;
    if snapshot_len > 0 {
        let mut pieces = UpdatePieces::new(snapshot_len, piece_bytes).holding_back(first);
        store.stream_snapshot(&mut |chunk| {
            pieces.feed(chunk, &mut |piece| send(SYNC_UPDATE, piece)).map_err(|e| e.to_string())
        })?;
        let held = pieces
            .finish_held(&mut |piece| send(SYNC_UPDATE, piece))
            .map_err(|e| StoreError::Corrupt(format!("snapshot_chunks: {e}")))?;
        // The snapshot's delete set is not sent: the document's, which goes
        // in the last frame, holds every delete the snapshot does.
        first = held.first;
        snapshot_state = held.state;
    }
    let diff = state_as_update_v1(&doc.transact(), &snapshot_state, 0);
    let corrupt = |e: crate::wire_check::WireError| StoreError::Corrupt(format!("document: {e}"));
    let mut pieces = UpdatePieces::new(diff.len() as u64, piece_bytes)
        .holding_back(first)
        .applying_to(snapshot_state);
    for part in diff.chunks(DIFF_FEED_BYTES) {
        pieces.feed(part, &mut |piece| send(SYNC_UPDATE, piece)).map_err(corrupt)?;
    }
    drop(diff);
    let held = pieces.finish_held(&mut |piece| send(SYNC_UPDATE, piece)).map_err(corrupt)?;
    let held_structs = held.first.len();
    send(SYNC_STEP_2, held.first.into_update(&held.delete_set));
    sent.held_structs = held_structs;
    Ok(sent)
}
