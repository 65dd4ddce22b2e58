//! The debug JSON of spec 9.2 (`GET /__yaos/debug`, relayed as
//! `/vault/<id>/debug/recent`), built from the room's parts in the key order
//! the contract gives, plus this server's `wasmMemoryBytes`.

use serde_json::{json, Value};

use super::sv_echo::SvEchoCounters;
use crate::doc_model::summary::DocumentSummary;
use crate::migration::StorageStatus;
use crate::persist::{Coordinator, PersistenceHealth};

/// What a loaded room contributes to the report.
#[derive(Debug, Clone)]
pub struct DebugParts {
    pub sv_echo: SvEchoCounters,
    pub persistence: PersistenceHealth,
    pub summary: Option<DocumentSummary>,
    /// The `storage` object, already rendered.
    pub storage: Value,
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
        }
    }
}

/// The report. `recent` is the newest-first trace list; `parts` is `None`
/// when no document is loaded (the report never loads one); `wasm_memory` is
/// the isolate's linear memory in bytes where the platform has one.
pub fn debug_report(
    room_id: &str,
    recent: Vec<Value>,
    parts: Option<DebugParts>,
    wasm_memory: Option<u64>,
) -> Value {
    let loaded = parts.is_some();
    let parts = parts.unwrap_or_else(DebugParts::unloaded);
    json!({
        "roomId": room_id,
        "documentLoaded": loaded,
        "recent": recent,
        "svEcho": parts.sv_echo,
        "persistence": parts.persistence,
        "documentSummary": parts.summary,
        "storage": parts.storage,
        "wasmMemoryBytes": wasm_memory,
    })
}
