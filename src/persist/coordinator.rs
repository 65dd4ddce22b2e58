//! The save path (spec 10.4): append the pending changes as one journal delta,
//! fall back to a full checkpoint when that is too big or keeps failing, and
//! compact the journal when it grows past the policy's limits.
//!
//! Dirtiness comes from the document's update events ([`Coordinator::record_update`]),
//! not from comparing state vectors: a deletion-only change leaves the state
//! vector unchanged and must still be written. Pending updates are dropped
//! only once a write covering them is durable.

use serde_json::json;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use super::health::{HealthRecord, PersistenceHealth};
use super::outcome::{
    journal_json, Compaction, EmergencyCompact, SaveOutcome, SavePath, SkipReason,
};
use super::policy::{CompactionReason, FallbackReason, Policy};
use crate::diagnostics::trace::TraceSink;
use crate::encode;
use crate::store::{AppendOutcome, DocStore, JournalStats, StoreError};
use crate::wire_check::{self, DecodeError};

/// Which checkpoint a save is writing, for traces and failure accounting.
#[derive(Debug, Clone, Copy)]
enum Fallback {
    /// Chosen before any append: a failure counts as a failed save.
    Planned(FallbackReason),
    /// Right after a failed append, which already counted the failure.
    Immediate,
}

impl Fallback {
    fn reason(self) -> FallbackReason {
        match self {
            Fallback::Planned(reason) => reason,
            Fallback::Immediate => FallbackReason::ConsecutiveFailures,
        }
    }

    /// The trace event prefix: `_succeeded` or `_failed` follows it.
    fn event(self) -> &'static str {
        match self {
            Fallback::Planned(_) => "server.save.checkpoint_fallback",
            Fallback::Immediate => "server.save.immediate_checkpoint_fallback",
        }
    }
}

/// Decides and performs the writes that make document changes durable.
#[derive(Debug, Default)]
pub struct Coordinator {
    policy: Policy,
    /// Updates observed since the last durable write, in order.
    pending: Vec<Vec<u8>>,
    /// State vector of the last durable write (`lastPersistedStateVectorHash`).
    baseline: Option<StateVector>,
    /// State vector right after the load (`loadedStateVectorHash`).
    loaded: Option<StateVector>,
    journal: Option<JournalStats>,
    read_only: bool,
    consecutive_compaction_failures: u32,
    /// The budget governor's multiplier of the compaction thresholds (0 and
    /// 1 both leave them as they are).
    compaction_slack: u64,
    /// The stored snapshot's bytes (set at the load, and by each checkpoint).
    snapshot_bytes: u64,
    health: HealthRecord,
}

impl Coordinator {
    /// A coordinator with the given thresholds and nothing loaded yet.
    pub fn new(policy: Policy) -> Self {
        Coordinator { policy, ..Coordinator::default() }
    }

    /// The thresholds in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the thresholds, for example to scale compaction limits with
    /// the snapshot size; takes effect at the next save.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Lets the journal grow to `slack` times the policy's compaction
    /// thresholds (the budget governor's; within
    /// [`Policy::with_slack`]'s caps), so a day short of rows
    /// postpones rewriting the snapshot.
    pub fn set_compaction_slack(&mut self, slack: u64) {
        self.compaction_slack = slack;
    }

    /// The snapshot's size, as the load found it or the last checkpoint wrote it.
    pub fn set_snapshot_bytes(&mut self, bytes: u64) {
        self.snapshot_bytes = bytes;
    }

    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes
    }

    /// Whether the journal is `factor` times past the compaction thresholds
    /// in force (within [`Policy::with_slack`]'s caps).
    pub fn compaction_past(&self, factor: u64) -> bool {
        let policy = self.compaction_policy().with_slack(factor);
        self.journal.and_then(|j| policy.compaction_reason(j)).is_some()
    }

    /// The thresholds compaction goes by: the policy's, with the slack.
    fn compaction_policy(&self) -> Policy {
        self.policy.with_slack(self.compaction_slack)
    }

    /// Since when (Unix ms) the platform has refused writes for its daily
    /// quota, if it does.
    pub fn quota_exceeded_since(&self) -> Option<u64> {
        self.health.quota_exceeded_since
    }

    /// Records the loaded (or freshly migrated) document as durable: its state
    /// vector becomes the baseline and earlier pending updates are dropped,
    /// since applying stored state must not make the document dirty.
    pub fn on_loaded(&mut self, doc: &Doc, journal: JournalStats) {
        let state_vector = doc.transact().state_vector();
        self.loaded = Some(state_vector.clone());
        self.baseline = Some(state_vector);
        self.journal = Some(journal);
        self.pending.clear();
    }

    /// Switches to kv-fallback mode: saves return at once and updates are no
    /// longer collected, since they will never be written. Health is degraded.
    pub fn enter_read_only(&mut self) {
        self.read_only = true;
        self.pending.clear();
        self.health.degraded = true;
    }

    /// True in kv-fallback mode.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Sets the debug JSON's `legacyDocumentMigrated`.
    pub fn set_legacy_document_migrated(&mut self, migrated: bool) {
        self.health.legacy_document_migrated = migrated;
    }

    /// Notes one v1 update from `doc.observe_update_v1`; the next save writes
    /// it. Ignored in read-only mode.
    pub fn record_update(&mut self, update: impl Into<Vec<u8>>) {
        // Owned, so a large update the room already holds is not copied again.
        if !self.read_only {
            self.pending.push(update.into());
        }
    }

    /// True when some observed update is not durable yet.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// State vector of the last durable write, if any.
    pub fn baseline(&self) -> Option<&StateVector> {
        self.baseline.as_ref()
    }

    /// Journal statistics as of the last load or write.
    pub fn journal_stats(&self) -> Option<JournalStats> {
        self.journal
    }

    /// Deltas the store refused as oversized (reported under `storage`).
    pub fn oversized_delta_count(&self) -> u64 {
        self.health.oversized_delta_count
    }

    /// The debug JSON's `persistence` object.
    pub fn health(&self) -> PersistenceHealth {
        self.health.render(
            self.has_pending(),
            self.journal,
            self.baseline.as_ref(),
            self.loaded.as_ref(),
        )
    }

    /// Makes every pending update durable (spec 10.4). Never returns an error:
    /// failures show in the outcome, in [`Coordinator::health`] and in traces.
    /// Must not be called from inside a document transaction.
    pub fn save(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> SaveOutcome {
        if self.read_only {
            return SaveOutcome::Skipped(SkipReason::ReadOnly);
        }
        self.health.last_save_started_at = Some(now_ms);
        if self.pending.is_empty() {
            // Not traced: a trace is a key-value row written (and later one
            // deleted), and every frame that changes nothing comes here.
            return SaveOutcome::Skipped(SkipReason::Clean);
        }
        let pending_updates = self.pending.len();
        let delta = match self.take_delta(doc) {
            Ok(delta) => delta,
            Err(error) => {
                let reason = FallbackReason::DeltaMergeFailed;
                let data = json!({"reason": reason.as_str(), "error": error.to_string()});
                trace.trace("server.save.checkpoint_fallback", data);
                return self.checkpoint_fallback(
                    store,
                    doc,
                    Fallback::Planned(reason),
                    now_ms,
                    trace,
                );
            }
        };
        let outcome = self.write_delta(store, doc, &delta, pending_updates, now_ms, trace);
        if let SaveOutcome::Failed(_) = outcome {
            // Keep the backlog as one merged update, so retries need not
            // merge it again and memory stays bounded while saves fail.
            self.pending = vec![delta];
        }
        outcome
    }

    /// Whether the journal is past the policy's limits with the breaker
    /// closed: what a deferred compaction, or one after a restart, would do.
    pub fn compaction_due(&self) -> bool {
        let due =
            self.journal.and_then(|j| self.compaction_policy().compaction_reason(j)).is_some();
        due && !self.read_only && !self.breaker_open()
    }

    /// Runs the compaction a save deferred (or a restart found due), with the
    /// same rules as one inside a save: the policy's reasons, the circuit
    /// breaker, one atomic rewrite. `NotNeeded` when nothing is due.
    pub fn compact_if_due(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> Compaction {
        match self.journal {
            Some(journal) if !self.read_only => {
                self.maybe_compact(store, doc, journal, now_ms, trace)
            }
            _ => Compaction::NotNeeded,
        }
    }

    /// Compactions that failed in a row (the breaker counts these).
    pub fn consecutive_compaction_failures(&self) -> u32 {
        self.consecutive_compaction_failures
    }

    /// Whether failed compactions have opened the circuit breaker.
    pub fn compaction_breaker_open(&self) -> bool {
        self.breaker_open()
    }

    fn breaker_open(&self) -> bool {
        self.policy.breaker_open(self.consecutive_compaction_failures)
    }

    /// Folds the journal into a new snapshot on request (spec 10.6). Runs even
    /// in read-only mode.
    pub fn compact_now(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> EmergencyCompact {
        let before = match store.journal_stats() {
            Ok(before) => before,
            Err(error) => {
                let before = self.journal.unwrap_or_default();
                return EmergencyCompact::Failed { before, error: describe(&error) };
            }
        };
        if before.entry_count == 0 {
            return EmergencyCompact::Noop { before, after: before };
        }
        match self.write_checkpoint(store, doc) {
            Ok(_) => {
                self.compaction_done(CompactionReason::EmergencyCompact, now_ms);
                let after = JournalStats::default();
                trace.trace(
                    "server.emergency_compact_succeeded",
                    json!({
                        "journalBefore": journal_json(before),
                        "journalAfter": journal_json(after),
                    }),
                );
                EmergencyCompact::Compacted { before, after }
            }
            Err(error) => {
                let error = describe(&error);
                self.health.last_compaction_error = Some(error.clone());
                trace.trace(
                    "server.emergency_compact_failed",
                    json!({"journalBefore": journal_json(before), "error": error}),
                );
                EmergencyCompact::Failed { before, error }
            }
        }
    }

    /// Takes the pending updates out as the one delta to append: their merge,
    /// the update itself when there is only one (moved, not copied: it may be
    /// vault-sized and the save may go on to encode the full state), or the
    /// full state when nothing was ever loaded (so there is no baseline).
    /// The pending list is left as it was if the merge fails.
    ///
    /// yrs decodes every update it merges, so each passes
    /// [`crate::wire_check`] first, as every other input yrs decodes does:
    /// one that does not (yrs never emits such bytes, but the merge must not
    /// trust its input) fails the merge and the caller writes the full state
    /// instead, which holds every pending change.
    fn take_delta(&mut self, doc: &Doc) -> Result<Vec<u8>, DecodeError> {
        let delta = match (&self.baseline, self.pending.as_mut_slice()) {
            (None, _) => encode::state_as_update_v1(&doc.transact(), &StateVector::default(), 0),
            (Some(_), [single]) => std::mem::take(single),
            (Some(_), many) => {
                for update in many.iter() {
                    wire_check::check_update_v1(update)?;
                }
                yrs::merge_updates_v1(&*many)?
            }
        };
        // Nothing reads them again: a durable write clears them and a failed
        // one keeps the delta in their place.
        self.pending.clear();
        Ok(delta)
    }

    /// Appends `delta` or, when the policy or the store says so, writes a
    /// checkpoint instead (spec 10.4 steps 3 to 7).
    fn write_delta(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        delta: &[u8],
        pending_updates: usize,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> SaveOutcome {
        let state_vector = doc.transact().state_vector();
        // No `delta_computed` trace of its own (spec 10.4): every trace is a
        // key-value row put and one deleted, so the delta's size and the
        // updates it merged go in the save's outcome trace instead.
        self.health.last_delta_bytes = Some(delta.len() as u64);
        let failures = self.health.consecutive_save_failures;
        // Failures the platform's quota caused say nothing about the journal:
        // a full checkpoint would be refused as well, and cost a vault-sized
        // encode per retry.
        let counted = if self.health.quota_exceeded_since.is_some() { 0 } else { failures };
        let reason = match self.policy.fallback_reason(delta.len(), counted) {
            Some(reason) => reason,
            None => match store.append_update(delta) {
                Ok(AppendOutcome::Appended(journal)) => {
                    let written = (delta.len(), pending_updates);
                    self.append_durable(state_vector, journal, written, now_ms, trace);
                    let compaction = match self.compaction_policy().compaction_reason(journal) {
                        Some(reason) if self.policy.defer_compaction && !self.breaker_open() => {
                            Compaction::Deferred(reason)
                        }
                        _ => self.maybe_compact(store, doc, journal, now_ms, trace),
                    };
                    return SaveOutcome::Appended(compaction);
                }
                Ok(AppendOutcome::Oversized) => {
                    self.health.oversized_delta_count += 1;
                    trace.trace("server.save.append_oversized", json!({"deltaBytes": delta.len()}));
                    // Normal control flow, yet the spec keeps the original
                    // server's reason for it.
                    FallbackReason::ConsecutiveFailures
                }
                Err(error) => return self.append_failed(store, doc, &error, now_ms, trace),
            },
        };
        trace.trace(
            "server.save.checkpoint_fallback",
            json!({
                "reason": reason.as_str(),
                "deltaBytes": delta.len(),
                "consecutiveSaveFailures": failures,
            }),
        );
        self.checkpoint_fallback(store, doc, Fallback::Planned(reason), now_ms, trace)
    }

    fn append_durable(
        &mut self,
        state_vector: StateVector,
        journal: JournalStats,
        (delta_bytes, pending_updates): (usize, usize),
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) {
        self.baseline = Some(state_vector);
        self.pending.clear();
        self.journal = Some(journal);
        self.health.save_succeeded(now_ms);
        trace.trace(
            "server.save.append_succeeded",
            json!({
                "deltaBytes": delta_bytes,
                "pendingUpdates": pending_updates,
                "journalEntryCount": journal.entry_count,
                "journalBytes": journal.total_bytes,
            }),
        );
    }

    fn append_failed(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        error: &StoreError,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> SaveOutcome {
        let message = describe(error);
        let quota = error.is_quota_exceeded();
        let health = &mut self.health;
        health.consecutive_save_failures += 1;
        health.failed_save_count += 1;
        health.write_failed(now_ms, message.clone(), quota);
        let failures = health.consecutive_save_failures;
        trace.trace(
            "server.save.append_failed",
            json!({"error": message, "consecutiveSaveFailures": failures, "quotaExceeded": quota}),
        );
        if quota || failures < self.policy.failures_before_fallback {
            return SaveOutcome::Failed(SavePath::Append);
        }
        trace.trace(
            "server.save.immediate_checkpoint_fallback",
            json!({"consecutiveSaveFailures": failures}),
        );
        self.checkpoint_fallback(store, doc, Fallback::Immediate, now_ms, trace)
    }

    /// Writes the full state in place of a journal entry and accounts for it.
    fn checkpoint_fallback(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        kind: Fallback,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> SaveOutcome {
        let (event, reason) = (kind.event(), kind.reason().as_str());
        match self.write_checkpoint(store, doc) {
            Ok(snapshot_bytes) => {
                self.health.save_succeeded(now_ms);
                self.health.checkpoint_fallback_count += 1;
                trace.trace(
                    &format!("{event}_succeeded"),
                    json!({"reason": reason, "snapshotBytes": snapshot_bytes}),
                );
                match kind {
                    Fallback::Planned(reason) => SaveOutcome::CheckpointFallback(reason),
                    Fallback::Immediate => SaveOutcome::ImmediateFallback,
                }
            }
            Err(error) => {
                if let Fallback::Planned(_) = kind {
                    self.health.consecutive_save_failures += 1;
                    self.health.failed_save_count += 1;
                }
                let message = format!("{} (checkpoint fallback)", describe(&error));
                self.health.write_failed(now_ms, message.clone(), error.is_quota_exceeded());
                trace
                    .trace(&format!("{event}_failed"), json!({"reason": reason, "error": message}));
                SaveOutcome::Failed(match kind {
                    Fallback::Planned(_) => SavePath::CheckpointFallback,
                    Fallback::Immediate => SavePath::ImmediateFallback,
                })
            }
        }
    }

    /// Compacts after an append when the journal is past the policy's limits
    /// and the breaker is closed.
    fn maybe_compact(
        &mut self,
        store: &impl DocStore,
        doc: &Doc,
        journal: JournalStats,
        now_ms: u64,
        trace: &mut dyn TraceSink,
    ) -> Compaction {
        let Some(reason) = self.compaction_policy().compaction_reason(journal) else {
            return Compaction::NotNeeded;
        };
        let journal_json = journal_json(journal);
        if self.policy.breaker_open(self.consecutive_compaction_failures) {
            trace.trace(
                "server.save.compaction_circuit_breaker",
                json!({
                    "reason": reason.as_str(),
                    "consecutiveCompactionFailures": self.consecutive_compaction_failures,
                    "journal": journal_json,
                }),
            );
            return Compaction::BreakerOpen;
        }
        match self.write_checkpoint(store, doc) {
            Ok(snapshot_bytes) => {
                self.compaction_done(reason, now_ms);
                trace.trace(
                    "server.save.compaction_succeeded",
                    json!({
                        "reason": reason.as_str(),
                        "journalBefore": journal_json,
                        "snapshotBytes": snapshot_bytes,
                    }),
                );
                Compaction::Succeeded(reason)
            }
            Err(error) => {
                // A used-up quota is not the journal's fault: the breaker
                // stays closed, and the compaction runs again once writes are
                // allowed.
                let quota = error.is_quota_exceeded();
                let error = describe(&error);
                let mut data = json!({"reason": reason.as_str(), "error": error});
                if quota {
                    self.health.write_failed(now_ms, error.clone(), true);
                    data["quotaExceeded"] = json!(true);
                } else {
                    self.consecutive_compaction_failures += 1;
                    data["consecutiveCompactionFailures"] =
                        json!(self.consecutive_compaction_failures);
                }
                self.health.last_compaction_error = Some(error);
                trace.trace("server.save.compaction_failed", data);
                Compaction::Failed(reason)
            }
        }
    }

    /// Rewrites the checkpoint with the full state. On success everything in
    /// the document is durable: the baseline moves to its state vector, the
    /// pending updates are dropped, the breaker closes and the journal is
    /// empty (the store's contract, so it is not re-read). Returns the
    /// snapshot's size.
    fn write_checkpoint(&mut self, store: &impl DocStore, doc: &Doc) -> Result<usize, StoreError> {
        let txn = doc.transact();
        let state_vector = txn.state_vector();
        // Streamed into the store as it is encoded, so a save that still
        // holds a vault-sized pending update never holds the full state too.
        let snapshot_bytes = store.rewrite_checkpoint_streamed(&mut |sink| {
            encode::write_state_as_update_v1(&txn, &StateVector::default(), sink)
        })?;
        drop(txn);
        self.baseline = Some(state_vector);
        self.pending.clear();
        self.consecutive_compaction_failures = 0;
        self.journal = Some(JournalStats::default());
        self.policy = self.policy.scaled_to_snapshot(snapshot_bytes as u64);
        self.snapshot_bytes = snapshot_bytes as u64;
        Ok(snapshot_bytes)
    }

    fn compaction_done(&mut self, reason: CompactionReason, now_ms: u64) {
        self.health.quota_exceeded_since = None;
        self.health.last_compaction_at = Some(now_ms);
        self.health.last_compaction_reason = Some(reason);
        self.health.last_compaction_error = None;
    }
}

/// `"<ErrorClass>: <message>"`, the form the debug JSON promises.
fn describe(error: &StoreError) -> String {
    format!("{}: {}", error.class_name(), error)
}
