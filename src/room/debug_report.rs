//! The debug JSON of spec 9.2 (`GET /__yaos/debug`, relayed as
//! `/vault/<id>/debug/recent`), built from the room's parts in the key order
//! the contract gives, plus this server's `wasmMemoryBytes` and `room` (the
//! open sockets, awareness clients, snapshot size and compaction state the
//! status page shows) and `refusedFrames` (frames refused that a device
//! needed, `super::refused_frames`).

use serde_json::{json, Value};

use super::refused_frames::RefusedFrames;
use super::sv_echo::SvEchoCounters;
use crate::diagnostics::timefmt::iso_from_ms;
use crate::doc_model::summary::DocumentSummary;
use crate::migration::StorageStatus;
use crate::persist::{Coordinator, PersistenceHealth};
use crate::store::usage::{
    Usage, FREE_PLAN_DAILY_REQUESTS, FREE_PLAN_DAILY_ROWS_READ, FREE_PLAN_DAILY_ROWS_WRITTEN,
};

/// What a loaded room contributes to the report.
#[derive(Debug, Clone)]
pub struct DebugParts {
    pub sv_echo: SvEchoCounters,
    pub persistence: PersistenceHealth,
    pub summary: Option<DocumentSummary>,
    /// The `storage` object, already rendered.
    pub storage: Value,
    /// Facts of the live room that the contract's objects do not carry.
    pub room: RoomFacts,
    /// `refusedFrames` ([`super::refused_frames::RefusedFrames::to_json`]).
    pub refused_frames: Value,
    /// `budget`: the billed SQL rows and the group commit window
    /// ([`budget_json`]).
    pub budget: Value,
}

/// The loaded room's side of the `room` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomFacts {
    /// Clients with a (non-null) awareness state.
    pub awareness_clients: usize,
    /// `snapshot_chunks` rows and their bytes (`None` if the read failed).
    pub snapshot: Option<(u64, u64)>,
    pub compaction_due: bool,
    /// Compactions that failed in a row, and whether that opened the breaker.
    pub compaction_failures: u32,
    pub compaction_breaker_open: bool,
}

impl DebugParts {
    /// A room with nothing loaded: zero counters, a fresh coordinator's
    /// health, no summary, a null storage status.
    pub fn unloaded() -> Self {
        DebugParts {
            sv_echo: SvEchoCounters::default(),
            persistence: Coordinator::default().health(),
            summary: None,
            storage: StorageStatus::default().to_json(0),
            room: RoomFacts::default(),
            refused_frames: RefusedFrames::default().to_json(),
            budget: Value::Null,
        }
    }
}

/// What the budget object says beyond the counts: the windows, the
/// governor's budget and whether the platform refuses writes.
#[derive(Debug, Clone, Default)]
pub struct BudgetFacts {
    /// The commit window in force (the governor's) and the operator's.
    pub commit_window_ms: u64,
    pub configured_commit_window_ms: u64,
    /// `YAOS_DAILY_ROW_BUDGET`.
    pub daily_row_budget: u64,
    /// Since when the platform refuses writes for its daily quota, and the
    /// error it gave.
    pub quota_exceeded: Option<(u64, Option<String>)>,
}

/// The `budget` object: what this vault's object was billed for (today's
/// part, UTC, kept across activations, and since it started) against the
/// free plan's daily limits, the budget the governor keeps to, the commit
/// window that keeps writes down, and, while the platform refuses writes
/// for its daily quota, since when and when that lifts (00:00 UTC).
/// `usage` is `None` where the store does not count (nulls then).
pub fn budget_json(usage: Option<&Usage>, now_ms: u64, facts: &BudgetFacts) -> Value {
    let today = usage.map(|u| u.today(now_ms));
    let since = usage.map(Usage::since_activation);
    let day = iso_from_ms(now_ms).get(..10).unwrap_or_default().to_owned(); // YYYY-MM-DD
    let quota = facts.quota_exceeded.as_ref().map(|(since, error)| {
        json!({
            "since": iso_from_ms(*since),
            "error": error,
            "liftsAt": iso_from_ms(next_utc_midnight(now_ms)),
        })
    });
    json!({
        "day": day,
        "sqlRowsWrittenToday": today.map(|c| c.rows_written),
        "sqlRowsReadToday": today.map(|c| c.rows_read),
        "alarmsSetToday": today.map(|c| c.alarms_set),
        "requestsToday": today.map(|c| c.requests),
        "incomingMessagesToday": today.map(|c| c.incoming_messages),
        "sqlRowsWrittenSinceActivation": since.map(|c| c.rows_written),
        "sqlRowsReadSinceActivation": since.map(|c| c.rows_read),
        "dailyRowsWrittenLimit": FREE_PLAN_DAILY_ROWS_WRITTEN,
        "dailyRowsReadLimit": FREE_PLAN_DAILY_ROWS_READ,
        "dailyRequestsLimit": FREE_PLAN_DAILY_REQUESTS,
        "dailyRowBudget": facts.daily_row_budget,
        "commitWindowMs": facts.commit_window_ms,
        "configuredCommitWindowMs": facts.configured_commit_window_ms,
        "quotaExceeded": quota,
    })
}

/// The next 00:00 UTC after `now_ms`, when the free plan's daily limits reset.
fn next_utc_midnight(now_ms: u64) -> u64 {
    const DAY: u64 = 86_400_000;
    (now_ms / DAY + 1) * DAY
}

/// The report. `recent` is the newest-first trace list; `parts` is `None`
/// when no document is loaded (the report never loads one); `wasm_memory` is
/// the isolate's linear memory in bytes where the platform has one;
/// `open_sockets` the object's open WebSockets.
pub fn debug_report(
    room_id: &str,
    recent: Vec<Value>,
    parts: Option<DebugParts>,
    wasm_memory: Option<u64>,
    open_sockets: usize,
) -> Value {
    let loaded = parts.is_some();
    let parts = parts.unwrap_or_else(DebugParts::unloaded);
    let facts = parts.room;
    let room = json!({
        "openSockets": open_sockets,
        "awarenessClients": loaded.then_some(facts.awareness_clients),
        "snapshotChunks": facts.snapshot.filter(|_| loaded).map(|(chunks, _)| chunks),
        "snapshotBytes": facts.snapshot.filter(|_| loaded).map(|(_, bytes)| bytes),
        "compactionDue": loaded.then_some(facts.compaction_due),
        "consecutiveCompactionFailures": loaded.then_some(facts.compaction_failures),
        "compactionBreakerOpen": loaded.then_some(facts.compaction_breaker_open),
    });
    json!({
        "roomId": room_id,
        "documentLoaded": loaded,
        "recent": recent,
        "svEcho": parts.sv_echo,
        "persistence": parts.persistence,
        "documentSummary": parts.summary,
        "storage": parts.storage,
        "wasmMemoryBytes": wasm_memory,
        "room": room,
        "refusedFrames": parts.refused_frames,
        "budget": parts.budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_names_the_utc_day_and_nulls_what_is_not_counted() {
        let before_midnight = 20_000 * 86_400_000 - 1;
        let facts = BudgetFacts { commit_window_ms: 2_500, ..BudgetFacts::default() };
        let value = budget_json(None, before_midnight, &facts);
        assert_eq!(value["day"], "2024-10-03");
        assert_eq!(budget_json(None, before_midnight + 1, &facts)["day"], "2024-10-04");
        assert_eq!(value["sqlRowsWrittenToday"], Value::Null);
        assert_eq!(value["commitWindowMs"], 2_500);
        assert_eq!(value["quotaExceeded"], Value::Null);
    }

    #[test]
    fn a_refusing_quota_says_since_when_and_when_it_lifts() {
        let noon = 20_000 * 86_400_000 + 43_200_000;
        let facts = BudgetFacts {
            quota_exceeded: Some((noon - 60_000, Some("SqlError: daily quota exceeded".into()))),
            ..BudgetFacts::default()
        };
        let quota = &budget_json(None, noon, &facts)["quotaExceeded"];
        assert_eq!(quota["since"], "2024-10-04T11:59:00.000Z");
        assert_eq!(quota["liftsAt"], "2024-10-05T00:00:00.000Z");
        assert_eq!(quota["error"], "SqlError: daily quota exceeded");
    }
}
