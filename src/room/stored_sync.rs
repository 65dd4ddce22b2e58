//! A fresh client's full state sent straight from the stored rows: the
//! snapshot cut into pieces ([`crate::update_pieces`]) as it is read, chunk
//! by chunk, then every journal entry, each as its own frame. Nothing is
//! decoded into the document or encoded out of it, and no frame is larger
//! than about one piece, so a vault of any size reaches a fresh device
//! without a vault-sized buffer in wasm memory, a vault-sized copy in
//! JavaScript, or a WebSocket message past the platform's cap.
//!
//! Every frame is an Update (`[0, 2, …]`), followed by a SyncStep2
//! (`[0, 1, …]`) with an empty update, which tells the client it has caught
//! up: nothing is held back to make the last piece the SyncStep2. The
//! frames go in causal order (snapshot before the journal written after it),
//! so a Yjs client integrates each as it arrives.
//!
//! Only correct while the stored rows hold everything the document does;
//! the vault room checks that before it calls [`send_stored_state`].

use super::protocol::{sync_frame, SYNC_STEP_2, SYNC_UPDATE};
use super::vault_room::Outbox;
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::StoreError;
use crate::update_pieces::UpdatePieces;

/// What was sent, for the trace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoredSync {
    pub frames: usize,
    pub bytes: usize,
}

/// Sends the stored state to the connection `out` replies to, in pieces of
/// about `piece_bytes`. On an error, frames already sent stay sent (they
/// are valid updates, and the caller answers again from the document).
pub fn send_stored_state<E: SqlExec>(
    store: &SqlDocStore<E>,
    piece_bytes: usize,
    out: &mut impl Outbox,
) -> Result<StoredSync, StoreError> {
    let mut sent = StoredSync::default();
    let mut send = |inner: u64, update: Vec<u8>| {
        let frame = sync_frame(inner, update);
        sent.frames += 1;
        sent.bytes += frame.len();
        out.reply(&frame);
    };
    let (_, snapshot_len) = store.snapshot_size()?;
    if snapshot_len > 0 {
        let mut pieces = UpdatePieces::new(snapshot_len, piece_bytes);
        store.stream_snapshot(&mut |chunk| {
            pieces.feed(chunk, &mut |piece| send(SYNC_UPDATE, piece)).map_err(|e| e.to_string())
        })?;
        pieces
            .finish(&mut |piece| send(SYNC_UPDATE, piece))
            .map_err(|e| StoreError::Corrupt(format!("snapshot_chunks: {e}")))?;
    }
    store.stream_journal(&mut |entry| {
        send(SYNC_UPDATE, entry);
        Ok(())
    })?;
    // Caught up: an empty update, in the message that says so.
    send(SYNC_STEP_2, vec![0, 0]);
    Ok(sent)
}
