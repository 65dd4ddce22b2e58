//! Persistence health: the counters the coordinator keeps and the
//! `persistence` object of the `/__yaos/debug` JSON (spec 9.2) built from them.

use serde::Serialize;
use yrs::encoding::write::Write;
use yrs::StateVector;

use super::policy::CompactionReason;
use crate::diagnostics::timefmt::iso_from_ms;
use crate::hex::lower_hex;

/// Whether the last save left everything durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
}

/// The spec 9.2 `persistence` object. Field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistenceHealth {
    pub status: Status,
    pub last_save_started_at: Option<String>,
    pub last_save_succeeded_at: Option<String>,
    pub last_save_failed_at: Option<String>,
    /// `"<ErrorClass>: <message>"`, with `" (checkpoint fallback)"` appended
    /// when a checkpoint fallback failed.
    pub last_save_error: Option<String>,
    pub successful_save_count: u64,
    pub failed_save_count: u64,
    pub consecutive_save_failures: u32,
    /// Always 0 when read: saves are synchronous, so none ever waits.
    pub queued_save_count: u64,
    pub checkpoint_fallback_count: u64,
    /// Document updates not yet durable, or the last save failed.
    pub pending_persistence: bool,
    pub last_delta_bytes: Option<u64>,
    pub journal_entry_count: Option<u64>,
    pub journal_bytes: Option<u64>,
    /// Not a hash: see [`state_vector_prefix_hex`].
    pub last_persisted_state_vector_hash: Option<String>,
    pub loaded_state_vector_hash: Option<String>,
    pub last_compaction_at: Option<String>,
    pub last_compaction_reason: Option<CompactionReason>,
    pub last_compaction_error: Option<String>,
    pub legacy_document_migrated: bool,
}

/// What the coordinator records about its saves, in raw form (milliseconds,
/// typed reasons); [`PersistenceHealth`] is its rendered view.
#[derive(Debug, Clone, Default)]
pub(super) struct HealthRecord {
    pub degraded: bool,
    pub last_save_started_at: Option<u64>,
    pub last_save_succeeded_at: Option<u64>,
    pub last_save_failed_at: Option<u64>,
    pub last_save_error: Option<String>,
    pub successful_save_count: u64,
    pub failed_save_count: u64,
    pub consecutive_save_failures: u32,
    pub checkpoint_fallback_count: u64,
    pub oversized_delta_count: u64,
    pub last_delta_bytes: Option<u64>,
    pub last_compaction_at: Option<u64>,
    pub last_compaction_reason: Option<CompactionReason>,
    pub last_compaction_error: Option<String>,
    pub legacy_document_migrated: bool,
    /// Since when the platform has refused writes for a used-up daily
    /// allowance (cleared by the next durable write).
    pub quota_exceeded_since: Option<u64>,
}

impl HealthRecord {
    /// Something became durable: the failure streak ends.
    pub fn save_succeeded(&mut self, now_ms: u64) {
        self.degraded = false;
        self.quota_exceeded_since = None;
        self.last_save_error = None;
        self.last_save_succeeded_at = Some(now_ms);
        self.successful_save_count += 1;
        self.consecutive_save_failures = 0;
    }

    /// A write failed; `error` is already in its `"<Class>: <message>"` form
    /// and `quota` says whether the platform refused it for its daily quota.
    pub fn write_failed(&mut self, now_ms: u64, error: String, quota: bool) {
        if quota {
            self.quota_exceeded_since.get_or_insert(now_ms);
        }
        self.degraded = true;
        self.last_save_failed_at = Some(now_ms);
        self.last_save_error = Some(error);
    }

    /// Renders the debug view; the arguments are the state the coordinator
    /// holds outside this record.
    pub fn render(
        &self,
        pending_updates: bool,
        journal: Option<crate::store::JournalStats>,
        persisted: Option<&StateVector>,
        loaded: Option<&StateVector>,
    ) -> PersistenceHealth {
        let iso = |ms: Option<u64>| ms.map(iso_from_ms);
        PersistenceHealth {
            status: if self.degraded { Status::Degraded } else { Status::Healthy },
            last_save_started_at: iso(self.last_save_started_at),
            last_save_succeeded_at: iso(self.last_save_succeeded_at),
            last_save_failed_at: iso(self.last_save_failed_at),
            last_save_error: self.last_save_error.clone(),
            successful_save_count: self.successful_save_count,
            failed_save_count: self.failed_save_count,
            consecutive_save_failures: self.consecutive_save_failures,
            queued_save_count: 0,
            checkpoint_fallback_count: self.checkpoint_fallback_count,
            pending_persistence: pending_updates || self.degraded,
            last_delta_bytes: self.last_delta_bytes,
            journal_entry_count: journal.map(|j| j.entry_count),
            journal_bytes: journal.map(|j| j.total_bytes),
            last_persisted_state_vector_hash: persisted.map(state_vector_prefix_hex),
            loaded_state_vector_hash: loaded.map(state_vector_prefix_hex),
            last_compaction_at: iso(self.last_compaction_at),
            last_compaction_reason: self.last_compaction_reason,
            last_compaction_error: self.last_compaction_error.clone(),
            legacy_document_migrated: self.legacy_document_migrated,
        }
    }
}

/// Lowercase hex of the first ≤ 16 bytes of the encoded state vector: what
/// the original server shows as a "hash" (an empty document gives `"00"`).
///
/// Encoded as Yjs does (clients in descending order) rather than with yrs's
/// hash-map order, so the string matches the JavaScript server's.
pub fn state_vector_prefix_hex(state_vector: &StateVector) -> String {
    let mut clients: Vec<(u64, u32)> =
        state_vector.iter().map(|(client, clock)| (client.get(), *clock)).collect();
    clients.sort_unstable_by_key(|&(client, _)| std::cmp::Reverse(client));
    let mut encoded = Vec::new();
    encoded.write_var(clients.len());
    for (client, clock) in clients {
        encoded.write_var(client);
        encoded.write_var(clock);
    }
    lower_hex(&encoded[..encoded.len().min(16)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::encoder::Encode;
    use yrs::ClientID;

    #[test]
    fn empty_state_vector_is_00() {
        assert_eq!(state_vector_prefix_hex(&StateVector::default()), "00");
    }

    #[test]
    fn single_client_matches_the_yrs_encoding() {
        let sv: StateVector = [(ClientID::new(300), 5)].into_iter().collect();
        let expected: String = sv.encode_v1().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(state_vector_prefix_hex(&sv), expected);
        assert_eq!(expected, "01ac0205");
    }

    #[test]
    fn clients_sort_descending_and_cut_at_16_bytes() {
        // Two 8-byte varints per client: the prefix stops inside the second.
        let big = (1u64 << 53) - 1;
        let sv: StateVector =
            [(ClientID::new(big - 1), 1), (ClientID::new(big), 2)].into_iter().collect();
        let hex = state_vector_prefix_hex(&sv);
        assert_eq!(hex.len(), 32);
        // count 2, then client 2^53-1 (LEB128 ff ff ff ff ff ff ff 0f), clock 2.
        assert_eq!(&hex[..20], "02ffffffffffffff0f02");
    }

    #[test]
    fn renders_spec_key_order_with_nulls() {
        let json =
            serde_json::to_value(HealthRecord::default().render(false, None, None, None)).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "status",
                "lastSaveStartedAt",
                "lastSaveSucceededAt",
                "lastSaveFailedAt",
                "lastSaveError",
                "successfulSaveCount",
                "failedSaveCount",
                "consecutiveSaveFailures",
                "queuedSaveCount",
                "checkpointFallbackCount",
                "pendingPersistence",
                "lastDeltaBytes",
                "journalEntryCount",
                "journalBytes",
                "lastPersistedStateVectorHash",
                "loadedStateVectorHash",
                "lastCompactionAt",
                "lastCompactionReason",
                "lastCompactionError",
                "legacyDocumentMigrated",
            ]
        );
        assert_eq!(json["status"], "healthy");
        assert!(json["lastSaveStartedAt"].is_null());
        assert!(json["journalEntryCount"].is_null());
        assert_eq!(json["pendingPersistence"], false);
    }

    #[test]
    fn degraded_means_pending_and_times_are_iso() {
        let mut record = HealthRecord::default();
        record.write_failed(1_779_963_072_345, "SqlError: boom".to_owned(), false);
        let health = record.render(false, None, None, None);
        assert_eq!(health.status, Status::Degraded);
        assert!(health.pending_persistence);
        assert_eq!(health.last_save_failed_at.as_deref(), Some("2026-05-28T10:11:12.345Z"));
    }
}
