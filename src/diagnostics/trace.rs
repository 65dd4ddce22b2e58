//! The seam through which core logic reports trace events.
//!
//! Core modules never write traces themselves: they hand `(event, data)` to a
//! [`TraceSink`]. The room owns the real sink (the rate-limited trace store);
//! tests use [`TraceLog`].

use serde_json::Value;

/// Receives trace events from core logic.
pub trait TraceSink {
    fn trace(&mut self, event: &str, data: Value);
}

/// A sink that keeps every event in memory, for tests and for batching events
/// out of synchronous code before they are written asynchronously.
#[derive(Debug, Default, Clone)]
pub struct TraceLog {
    pub events: Vec<(String, Value)>,
}

impl TraceLog {
    /// The names of the recorded events, in order.
    pub fn names(&self) -> Vec<&str> {
        self.events.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// Takes the recorded events out, leaving the log empty.
    pub fn drain(&mut self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.events)
    }
}

impl TraceSink for TraceLog {
    fn trace(&mut self, event: &str, data: Value) {
        self.events.push((event.to_owned(), data));
    }
}
