//! What one client may make a vault room hold or do: frame sizes, sockets
//! per room and full-state sync answers per connection. Each limit is a named
//! constant; the five an operator may want to change can be set through
//! environment variables ([`RoomLimits::from_vars`]). A client over a limit
//! gets a clear error and nothing of what it sent is applied; the other
//! clients of the room never notice. The awareness limits live with the
//! awareness code in [`super::protocol`].

use std::collections::HashMap;
use std::fmt;

use crate::settings::read_whole_number;

/// The platform's own cap on a WebSocket message (Cloudflare, 32 MiB;
/// workerd closes a larger one with 1009 before the object sees it); an
/// operator setting cannot go above it.
pub const PLATFORM_MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;
/// The largest document-bearing frame (SyncStep2 or Update) taken by
/// default: everything the platform delivers, as far as the room's memory
/// allows ([`RoomLimits::max_update_bytes_in`]: 30 MB in an empty room). A fresh device pushes its
/// whole vault as one SyncStep2, and the plugin ignores a refusal, so a
/// frame refused here is a push that never lands: it is refused only when
/// taking it could run the isolate out of memory.
pub const DEFAULT_MAX_UPDATE_FRAME_BYTES: usize = PLATFORM_MAX_FRAME_BYTES;
/// The wasm memory a room keeps under (the isolate has 128 MB; the vault
/// ceiling of `engineering/benchmarks.md` is measured against 120 MB).
pub const WASM_MEMORY_BUDGET_BYTES: u64 = 120_000_000;
/// A loaded document takes about twice its stored v1 bytes in wasm memory
/// (`benchmarks.md`, "The vault ceiling": 48.8 MB for a 23.1 MB vault,
/// 111.5 MB for 57.8 MB).
pub const DOC_MEMORY_PER_STORED_BYTE: u64 = 2;
/// An update frame costs about three times its size while it is taken (the
/// frame, its decoded update and the document's growth, then the broadcast
/// copy; `big-vaults.md`, "What limits the ceiling now"): 3.03x to 3.16x
/// measured from 8 to 31 MiB on a fresh object, but once 4.05x (119.1 MB
/// after a 28 MiB frame) in a run under other load. Four keeps the ceiling
/// with that margin: an empty room takes 30 MB (28.6 MiB).
pub const FRAME_MEMORY_FACTOR: u64 = 4;
/// The smallest value an operator may set: one journal row's worth (spec 10.4)
/// plus headroom, so ordinary edits always pass.
pub const MIN_UPDATE_FRAME_BYTES: usize = 2 * 1024 * 1024;
/// A SyncStep1 carries a state vector: a few bytes per client that ever
/// wrote to the vault (Yjs makes a new client ID per editing session, so a
/// long-lived vault names many). This is the floor of its limit: about
/// 150,000 entries of 7 bytes, whatever the room holds. A room whose own
/// document names more clients allows more ([`max_sync_step1_bytes`]): the
/// limit exists against junk, not against a device returning to a real vault.
pub const MAX_SYNC_STEP1_FRAME_BYTES: usize = 1024 * 1024;
/// The most one state-vector entry takes: a client ID (a varuint; lib0
/// writes at most 10 bytes for any 64-bit value) and a clock (a 32-bit
/// varuint, at most 5 bytes).
pub const MAX_SV_ENTRY_BYTES: usize = 10 + 5;
/// What a SyncStep1 may carry beyond the room's own clients' entries: the
/// frame header and the entries of clients the server has not seen (the
/// device's own unsent sessions), about 4,000 of them at the widest.
pub const SYNC_STEP1_HEADROOM_BYTES: usize = 64 * 1024;

/// The SyncStep1 limit of a room whose document names `doc_clients`
/// clients: every one of them at the widest entry, plus headroom, and never
/// below [`MAX_SYNC_STEP1_FRAME_BYTES`]. A state vector this size decodes
/// into a map the size of the document's own, so it cannot grow memory past
/// what the room already holds.
pub fn max_sync_step1_bytes(doc_clients: usize) -> usize {
    let justified = doc_clients.saturating_mul(MAX_SV_ENTRY_BYTES);
    MAX_SYNC_STEP1_FRAME_BYTES.max(justified.saturating_add(SYNC_STEP1_HEADROOM_BYTES))
}

/// What the size checks need to know of the room. Read only for a frame
/// over the fixed limits (so an ordinary frame costs no state-vector walk
/// and no storage read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomScale {
    /// Clients named by the document's state vector.
    pub doc_clients: usize,
    /// The stored document's bytes (snapshot plus journal): what it costs
    /// once loaded is about [`DOC_MEMORY_PER_STORED_BYTE`] times this.
    pub stored_bytes: u64,
}
/// An awareness frame: at most [`super::protocol::MAX_AWARENESS_STATES_PER_CONNECTION`]
/// states of [`super::protocol::MAX_AWARENESS_STATE_BYTES`] each, plus framing.
/// Checked before the frame is decoded, so a huge one allocates nothing.
pub const MAX_AWARENESS_FRAME_BYTES: usize = 256 * 1024;
/// Frames of other types are ignored; they still may not be large.
pub const MAX_OTHER_FRAME_BYTES: usize = 64 * 1024;

/// Sockets one vault room accepts by default. Each device holds one socket
/// (a phone, a laptop, a second Obsidian window); 64 is generous for one
/// person's vault and bounds the fan-out of every broadcast.
pub const DEFAULT_MAX_SOCKETS_PER_ROOM: usize = 64;
/// The operator's setting is clamped to this (the platform allows 32,768
/// hibernatable sockets per object; each costs a broadcast copy).
pub const MAX_SOCKETS_PER_ROOM_CEILING: usize = 1024;

/// SyncStep1 answers with document state one connection may get per
/// [`FULL_SYNC_WINDOW_MS`]. The plugin sends one per connection (no resync
/// interval), so only a misbehaving client reaches this.
pub const DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW: u32 = 4;
/// The window of [`DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW`] (one minute).
pub const FULL_SYNC_WINDOW_MS: u64 = 60_000;

/// The largest piece a fresh client's full state is sent in
/// ([`crate::update_pieces`]): the default and the range of the setting.
pub use crate::update_pieces::{DEFAULT_PIECE_BYTES, MIN_PIECE_BYTES};
/// Pieces stay below the platform's message cap with room for one more
/// struct (a struct is never larger than the frame it came in).
pub const MAX_PIECE_BYTES: usize = 16 * 1024 * 1024;

/// The largest vault, in stored bytes (snapshot plus journal), a fresh
/// client gets as one SyncStep2 encoded from the document. The client
/// integrates it on arrival; a larger vault goes in pieces, which it must
/// hold pending until the last one completes them, at three to five times
/// the work (`benchmarks.md`, "One-transaction fresh sync"). 24 MiB is about
/// 10,000 notes; the encoded state beside the document (about twice its
/// stored bytes, [`DOC_MEMORY_PER_STORED_BYTE`]) then takes about 75 MB of
/// wasm memory (69.5 MB measured at 10,000 notes), below the 115.8 MB of a
/// 25,000-note vault's pieces.
pub const DEFAULT_ONE_STEP_SYNC_BYTES: usize = 24 * 1024 * 1024;

/// The environment variables an operator may set.
pub const MAX_UPDATE_FRAME_VAR: &str = "YAOS_MAX_UPDATE_FRAME_BYTES";
pub const MAX_SOCKETS_VAR: &str = "YAOS_MAX_SOCKETS_PER_ROOM";
pub const FULL_SYNC_ANSWERS_VAR: &str = "YAOS_FULL_SYNC_ANSWERS_PER_MINUTE";
pub const SYNC_PIECE_VAR: &str = "YAOS_SYNC_PIECE_BYTES";
pub const ONE_STEP_SYNC_VAR: &str = "YAOS_ONE_STEP_SYNC_BYTES";

/// The limits of one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    pub max_update_frame_bytes: usize,
    pub max_sockets: usize,
    pub full_sync_answers_per_window: u32,
    /// The size of the pieces a fresh client's full state is sent in.
    pub sync_piece_bytes: usize,
    /// A vault stored in no more bytes than this, or than one piece, goes to
    /// a fresh client as one SyncStep2.
    pub one_step_sync_bytes: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits {
            max_update_frame_bytes: DEFAULT_MAX_UPDATE_FRAME_BYTES,
            max_sockets: DEFAULT_MAX_SOCKETS_PER_ROOM,
            full_sync_answers_per_window: DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW,
            sync_piece_bytes: DEFAULT_PIECE_BYTES,
            one_step_sync_bytes: DEFAULT_ONE_STEP_SYNC_BYTES,
        }
    }
}

/// The frame kinds the limits tell apart, from a frame's first two varuints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    SyncStep1,
    /// SyncStep2 or Update: frames that carry document state.
    Update,
    Awareness,
    Other,
}

impl FrameKind {
    /// Reads the tags without decoding anything else. Tags are single bytes
    /// for every kind the protocol knows, so longer varuints are `Other`.
    pub fn of(frame: &[u8]) -> FrameKind {
        match frame {
            [0, 0, ..] => FrameKind::SyncStep1,
            [0, 1 | 2, ..] => FrameKind::Update,
            [1, ..] => FrameKind::Awareness,
            _ => FrameKind::Other,
        }
    }
}

/// A limit a client went over. Its text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("frame of {len} bytes is over the {limit}-byte limit for {kind:?} frames")]
    FrameTooLarge { kind: FrameKind, len: usize, limit: usize },
    #[error("the vault already has {open} open connections (limit {limit})")]
    TooManySockets { open: usize, limit: usize },
    #[error("more than {limit} full sync requests in {window_ms} ms from one connection")]
    FullSyncRate { limit: u32, window_ms: u64 },
    #[error("{0}")]
    Awareness(&'static str),
}

impl RoomLimits {
    /// The limits with the operator's settings applied; `var` reads an
    /// environment variable. Values that do not parse, or lie outside the
    /// allowed range, are replaced by the nearest allowed value (or the
    /// default) and reported in the returned warnings.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> (RoomLimits, Vec<String>) {
        let mut warnings = Vec::new();
        let mut read = |name: &str, default: u64, min: u64, max: u64| -> u64 {
            let (value, warning) = read_whole_number(name, var(name).as_deref(), default, min, max);
            warnings.extend(warning);
            value
        };
        let frame = read(
            MAX_UPDATE_FRAME_VAR,
            DEFAULT_MAX_UPDATE_FRAME_BYTES as u64,
            MIN_UPDATE_FRAME_BYTES as u64,
            PLATFORM_MAX_FRAME_BYTES as u64,
        );
        let sockets = read(
            MAX_SOCKETS_VAR,
            DEFAULT_MAX_SOCKETS_PER_ROOM as u64,
            1,
            MAX_SOCKETS_PER_ROOM_CEILING as u64,
        );
        let answers =
            read(FULL_SYNC_ANSWERS_VAR, u64::from(DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW), 1, 1000);
        let piece = read(
            SYNC_PIECE_VAR,
            DEFAULT_PIECE_BYTES as u64,
            MIN_PIECE_BYTES as u64,
            MAX_PIECE_BYTES as u64,
        );
        let one_step = read(
            ONE_STEP_SYNC_VAR,
            DEFAULT_ONE_STEP_SYNC_BYTES as u64,
            0,
            PLATFORM_MAX_FRAME_BYTES as u64,
        );
        let limits = RoomLimits {
            max_update_frame_bytes: frame as usize,
            max_sockets: sockets as usize,
            full_sync_answers_per_window: answers as u32,
            sync_piece_bytes: piece as usize,
            one_step_sync_bytes: one_step as usize,
        };
        (limits, warnings)
    }

    /// The size check of an incoming frame in an empty room.
    pub fn check_frame(&self, frame: &[u8]) -> Result<FrameKind, LimitExceeded> {
        self.check_frame_in(frame, RoomScale::default)
    }

    /// The size check of an incoming frame, before anything decodes it.
    /// `scale` is called only for a SyncStep1 or update frame over its fixed
    /// floor, whose limit depends on the room.
    pub fn check_frame_in(
        &self,
        frame: &[u8],
        scale: impl FnOnce() -> RoomScale,
    ) -> Result<FrameKind, LimitExceeded> {
        let kind = FrameKind::of(frame);
        let (floor, scaled): (usize, fn(&Self, RoomScale) -> usize) = match kind {
            FrameKind::SyncStep1 => {
                (MAX_SYNC_STEP1_FRAME_BYTES, |_, room| max_sync_step1_bytes(room.doc_clients))
            }
            FrameKind::Update => {
                (self.max_update_frame_bytes.min(MIN_UPDATE_FRAME_BYTES), |limits, room| {
                    limits.max_update_bytes_in(room.stored_bytes)
                })
            }
            FrameKind::Awareness => (MAX_AWARENESS_FRAME_BYTES, |_, _| MAX_AWARENESS_FRAME_BYTES),
            FrameKind::Other => (MAX_OTHER_FRAME_BYTES, |_, _| MAX_OTHER_FRAME_BYTES),
        };
        if frame.len() <= floor {
            return Ok(kind);
        }
        let limit = scaled(self, scale());
        if frame.len() > limit {
            return Err(LimitExceeded::FrameTooLarge { kind, len: frame.len(), limit });
        }
        Ok(kind)
    }

    /// The largest update frame a room whose stored document has
    /// `stored_bytes` takes: what the memory left under
    /// [`WASM_MEMORY_BUDGET_BYTES`] by the loaded document allows at
    /// [`FRAME_MEMORY_FACTOR`] times the frame, within the operator's
    /// setting, and never below [`MIN_UPDATE_FRAME_BYTES`] (ordinary edits
    /// always pass).
    pub fn max_update_bytes_in(&self, stored_bytes: u64) -> usize {
        let loaded = stored_bytes.saturating_mul(DOC_MEMORY_PER_STORED_BYTE);
        let left = WASM_MEMORY_BUDGET_BYTES.saturating_sub(loaded) / FRAME_MEMORY_FACTOR;
        let allowed = usize::try_from(left).unwrap_or(usize::MAX);
        allowed.min(self.max_update_frame_bytes).max(MIN_UPDATE_FRAME_BYTES)
    }

    /// Whether one more socket may join a room that has `open` already.
    pub fn admit_socket(&self, open: usize) -> Result<(), LimitExceeded> {
        if open >= self.max_sockets {
            return Err(LimitExceeded::TooManySockets { open, limit: self.max_sockets });
        }
        Ok(())
    }
}

/// Full-state sync answers per socket in a fixed window. Kept in memory:
/// hibernation forgets it, which only ever lets a client through early.
///
/// Keyed by socket, not by the client's `_pk`: the plugin keeps one `_pk`
/// across reconnects, and on a flaky link the server may not see the old
/// socket close before (or ever, for a half-open one) the new socket sends
/// its SyncStep1. Keyed by `_pk`, a few reconnects in a minute spent the
/// budget and left the device connected but never synced. A new socket
/// starts with a fresh budget, so its first answer is always given (every
/// limit is at least 1); only repeats on the same socket are refused.
///
/// What bounds a client that floods full-state requests: on one socket,
/// this budget; across sockets, the sockets-per-room cap (each socket's
/// budget is at most `limit` answers a window, and at most `max_sockets`
/// sockets are open at once), and the admission each new socket goes
/// through (an authenticated upgrade, the Worker's checks and the room's
/// greeting), which costs the server about what one answer to a small
/// vault does. The map holds one entry per socket that asked, dropped when
/// it closes or its window ends, so it is bounded by the open sockets.
#[derive(Default)]
pub struct FullSyncBudget {
    /// Connection ID → (window start, answers in the window).
    windows: HashMap<String, (u64, u32)>,
}

impl fmt::Debug for FullSyncBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FullSyncBudget({} connections)", self.windows.len())
    }
}

impl FullSyncBudget {
    /// Takes one answer for socket `conn` at `now_ms`, or refuses when the
    /// window's answers are used up. Windows that have ended are dropped on the way,
    /// so the map holds only connections active in the last window.
    pub fn take(&mut self, conn: &str, now_ms: u64, limit: u32) -> Result<(), LimitExceeded> {
        self.windows.retain(|_, (start, _)| now_ms.saturating_sub(*start) < FULL_SYNC_WINDOW_MS);
        let (_, used) = self.windows.entry(conn.to_owned()).or_insert((now_ms, 0));
        if *used >= limit {
            return Err(LimitExceeded::FullSyncRate { limit, window_ms: FULL_SYNC_WINDOW_MS });
        }
        *used += 1;
        Ok(())
    }

    /// A connection closed: its window goes with it.
    pub fn forget(&mut self, conn: &str) {
        self.windows.remove(conn);
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults_without_settings() {
        let (limits, warnings) = RoomLimits::from_vars(vars(&[]));
        assert_eq!(limits, RoomLimits::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn operator_settings_apply_and_out_of_range_ones_are_clamped() {
        let (limits, warnings) = RoomLimits::from_vars(vars(&[
            (MAX_UPDATE_FRAME_VAR, "4194304"),
            (MAX_SOCKETS_VAR, "0"),
            (FULL_SYNC_ANSWERS_VAR, "many"),
        ]));
        assert_eq!(limits.max_update_frame_bytes, 4 * 1024 * 1024);
        assert_eq!(limits.max_sockets, 1);
        assert_eq!(limits.full_sync_answers_per_window, DEFAULT_FULL_SYNC_ANSWERS_PER_WINDOW);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let (limits, _) = RoomLimits::from_vars(vars(&[(MAX_UPDATE_FRAME_VAR, "99999999999")]));
        assert_eq!(limits.max_update_frame_bytes, PLATFORM_MAX_FRAME_BYTES);
        let (limits, warnings) = RoomLimits::from_vars(vars(&[(ONE_STEP_SYNC_VAR, "0")]));
        assert_eq!((limits.one_step_sync_bytes, warnings.len()), (0, 0), "0: always in pieces");
    }

    #[test]
    fn each_frame_kind_has_its_size_limit() {
        let limits =
            RoomLimits { max_update_frame_bytes: MIN_UPDATE_FRAME_BYTES, ..Default::default() };
        let frame = |head: &[u8], len: usize| {
            let mut f = head.to_vec();
            f.resize(len, 0);
            f
        };
        assert_eq!(
            limits.check_frame(&frame(&[0, 2], MIN_UPDATE_FRAME_BYTES)),
            Ok(FrameKind::Update)
        );
        let over = limits.check_frame(&frame(&[0, 1], MIN_UPDATE_FRAME_BYTES + 1));
        assert!(matches!(over, Err(LimitExceeded::FrameTooLarge { kind: FrameKind::Update, .. })));
        let step1 = limits.check_frame(&frame(&[0, 0], MAX_SYNC_STEP1_FRAME_BYTES + 1));
        assert!(matches!(
            step1,
            Err(LimitExceeded::FrameTooLarge { kind: FrameKind::SyncStep1, .. })
        ));
        let awareness = limits.check_frame(&frame(&[1], MAX_AWARENESS_FRAME_BYTES + 1));
        assert!(matches!(
            awareness,
            Err(LimitExceeded::FrameTooLarge { kind: FrameKind::Awareness, .. })
        ));
        assert_eq!(limits.check_frame(&frame(&[7], MAX_OTHER_FRAME_BYTES)), Ok(FrameKind::Other));
        assert_eq!(limits.check_frame(&[]), Ok(FrameKind::Other));
    }

    #[test]
    fn a_sync_step1_may_name_every_client_of_the_room_plus_headroom() {
        let limits = RoomLimits::default();
        let step1 = |len: usize| {
            let mut f = vec![0, 0];
            f.resize(len, 0);
            f
        };
        let clients = 200_000;
        let allowed = clients * MAX_SV_ENTRY_BYTES + SYNC_STEP1_HEADROOM_BYTES;
        assert_eq!(max_sync_step1_bytes(clients), allowed);
        let room = || RoomScale { doc_clients: clients, stored_bytes: 0 };
        assert_eq!(limits.check_frame_in(&step1(allowed), room), Ok(FrameKind::SyncStep1));
        assert_eq!(
            limits.check_frame_in(&step1(allowed + 1), room),
            Err(LimitExceeded::FrameTooLarge {
                kind: FrameKind::SyncStep1,
                len: allowed + 1,
                limit: allowed
            })
        );
        // A small room keeps the fixed floor, and an ordinary SyncStep1 never
        // asks what the room holds.
        assert_eq!(max_sync_step1_bytes(10), MAX_SYNC_STEP1_FRAME_BYTES);
        let unasked = || -> RoomScale { panic!("an ordinary frame needs no room scale") };
        assert!(limits.check_frame_in(&step1(MAX_SYNC_STEP1_FRAME_BYTES), unasked).is_ok());
        assert!(limits
            .check_frame_in(&step1(MAX_SYNC_STEP1_FRAME_BYTES + 1), RoomScale::default)
            .is_err());
    }

    #[test]
    fn the_update_limit_is_what_the_room_memory_leaves() {
        let limits = RoomLimits::default();
        // An empty room takes a 28 MiB frame, a small one nearly as much.
        assert_eq!(limits.max_update_bytes_in(0), 30_000_000);
        assert!(limits.max_update_bytes_in(0) > 28 << 20);
        assert_eq!(limits.max_update_bytes_in(2_000_000), 29_000_000);
        // A 10,000-note vault (23.1 MB stored) leaves 18.45 MB.
        assert_eq!(limits.max_update_bytes_in(23_100_000), 18_450_000);
        // A vault near the ceiling still takes ordinary edits.
        assert_eq!(limits.max_update_bytes_in(60_000_000), MIN_UPDATE_FRAME_BYTES);
        // The operator's setting stays the upper bound.
        let low = RoomLimits { max_update_frame_bytes: 4 << 20, ..RoomLimits::default() };
        assert_eq!(low.max_update_bytes_in(0), 4 << 20);
        let update = |len: usize| {
            let mut f = vec![0, 2];
            f.resize(len, 0);
            f
        };
        let big = || RoomScale { doc_clients: 0, stored_bytes: 40_000_000 };
        let allowed = limits.max_update_bytes_in(40_000_000);
        assert!(limits.check_frame_in(&update(allowed), big).is_ok());
        assert!(limits.check_frame_in(&update(allowed + 1), big).is_err());
    }

    #[test]
    fn sockets_are_admitted_up_to_the_limit() {
        let limits = RoomLimits { max_sockets: 2, ..Default::default() };
        assert!(limits.admit_socket(0).is_ok());
        assert!(limits.admit_socket(1).is_ok());
        assert_eq!(
            limits.admit_socket(2),
            Err(LimitExceeded::TooManySockets { open: 2, limit: 2 })
        );
    }

    #[test]
    fn full_sync_budget_refills_after_the_window_and_forgets_closed_connections() {
        let mut budget = FullSyncBudget::default();
        for _ in 0..3 {
            assert!(budget.take("a", 1_000, 3).is_ok());
        }
        assert!(budget.take("a", 1_000 + FULL_SYNC_WINDOW_MS - 1, 3).is_err());
        assert!(budget.take("b", 2_000, 3).is_ok(), "another connection has its own budget");
        assert!(budget.take("a", 1_000 + FULL_SYNC_WINDOW_MS, 3).is_ok(), "a new window");
        budget.forget("a");
        assert_eq!(budget.len(), 1);
        // Ended windows are dropped by the next take.
        assert!(budget.take("c", 10 * FULL_SYNC_WINDOW_MS, 3).is_ok());
        assert_eq!(budget.len(), 1);
    }
}
