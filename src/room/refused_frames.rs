//! The frames a room refused that a device needed: too large for its
//! limit, or a full-state request past its socket's budget. The plugin
//! ignores the `limit_exceeded` error it is sent, so a refusal told only to
//! the client is a device locked out silently; these are kept for the
//! operator (the debug JSON's `refusedFrames` and the status page), and each
//! is also recorded as a [`REFUSED_FRAME_EVENT`] trace. Bounded: a count
//! and the [`MAX_RECENT_REFUSED_FRAMES`] newest.

use std::collections::VecDeque;

use serde_json::{json, Value};

use super::limits::LimitExceeded;
use crate::diagnostics::timefmt::iso_from_ms;

/// How many refusals the debug JSON lists (newest first); the count covers all.
pub const MAX_RECENT_REFUSED_FRAMES: usize = 8;
/// The trace event of one refusal.
pub const REFUSED_FRAME_EVENT: &str = "server.frame.refused";

/// One refused frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedFrame {
    /// The socket's device name, or its connection ID when it gave none.
    pub device: String,
    pub bytes: usize,
    /// Unix ms.
    pub at: u64,
    /// What the sender was told.
    pub reason: String,
}

impl RefusedFrame {
    pub fn to_json(&self) -> Value {
        json!({
            "device": self.device,
            "bytes": self.bytes,
            "at": iso_from_ms(self.at),
            "reason": self.reason,
        })
    }
}

/// Whether a refusal is one the operator must see: it kept document state
/// from a device (or a device from its sync). Awareness refusals are not:
/// nothing of the vault depends on them.
pub fn must_be_shown(over: &LimitExceeded) -> bool {
    matches!(over, LimitExceeded::FrameTooLarge { .. } | LimitExceeded::FullSyncRate { .. })
}

/// The refusals of this activation (in memory, like the other counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusedFrames {
    count: u64,
    /// Oldest first; at most [`MAX_RECENT_REFUSED_FRAMES`].
    recent: VecDeque<RefusedFrame>,
}

impl RefusedFrames {
    pub fn record(&mut self, frame: RefusedFrame) {
        self.count += 1;
        if self.recent.len() == MAX_RECENT_REFUSED_FRAMES {
            self.recent.pop_front();
        }
        self.recent.push_back(frame);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// `{count, recent: [{device, bytes, at, reason}]}`, newest first.
    pub fn to_json(&self) -> Value {
        let recent: Vec<Value> = self.recent.iter().rev().map(RefusedFrame::to_json).collect();
        json!({ "count": self.count, "recent": recent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_covers_all_and_the_list_keeps_the_newest() {
        let mut refused = RefusedFrames::default();
        for i in 0..MAX_RECENT_REFUSED_FRAMES + 3 {
            refused.record(RefusedFrame {
                device: format!("d{i}"),
                bytes: i,
                at: 0,
                reason: "too large".into(),
            });
        }
        let json = refused.to_json();
        assert_eq!(json["count"], MAX_RECENT_REFUSED_FRAMES as u64 + 3);
        let recent = json["recent"].as_array().unwrap();
        assert_eq!(recent.len(), MAX_RECENT_REFUSED_FRAMES);
        assert_eq!(recent[0]["device"], format!("d{}", MAX_RECENT_REFUSED_FRAMES + 2));
        assert_eq!(recent[0]["at"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn only_refusals_that_cost_a_device_its_data_or_sync_are_shown() {
        use crate::room::limits::FrameKind;
        let large = LimitExceeded::FrameTooLarge { kind: FrameKind::Update, len: 2, limit: 1 };
        assert!(must_be_shown(&large));
        assert!(must_be_shown(&LimitExceeded::FullSyncRate { limit: 1, window_ms: 1 }));
        assert!(!must_be_shown(&LimitExceeded::Awareness("state too large")));
    }
}
