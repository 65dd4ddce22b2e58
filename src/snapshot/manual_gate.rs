//! The rate limit on manual snapshots (`POST /snapshots`) of one vault.
//!
//! Each manual snapshot writes a vault-sized payload to R2, so a token holder
//! looping on the route would fill the bucket; the plugin takes one when its
//! user asks. The gate lives in the vault's object, in memory: an eviction
//! forgets it, which can only let a request through early.

use std::collections::VecDeque;

/// Manual snapshots one vault takes per window.
pub const MANUAL_SNAPSHOTS_PER_WINDOW: usize = 6;
/// The window of [`MANUAL_SNAPSHOTS_PER_WINDOW`], in ms.
pub const MANUAL_SNAPSHOT_WINDOW_MS: u64 = 60_000;

/// When the last [`MANUAL_SNAPSHOTS_PER_WINDOW`] manual snapshots were taken
/// (never more entries than that).
#[derive(Debug, Default)]
pub struct ManualSnapshotGate {
    taken: VecDeque<u64>,
}

impl ManualSnapshotGate {
    /// Takes one snapshot at `now_ms`, or refuses with the seconds until one
    /// may be taken (at least 1, for `Retry-After`).
    pub fn take(&mut self, now_ms: u64) -> Result<(), u64> {
        while self
            .taken
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= MANUAL_SNAPSHOT_WINDOW_MS)
        {
            self.taken.pop_front();
        }
        if self.taken.len() >= MANUAL_SNAPSHOTS_PER_WINDOW {
            let oldest = self.taken.front().copied().unwrap_or(now_ms);
            let free_at = oldest.saturating_add(MANUAL_SNAPSHOT_WINDOW_MS);
            return Err(free_at.saturating_sub(now_ms).div_ceil(1_000).max(1));
        }
        self.taken.push_back(now_ms);
        Ok(())
    }
}
