//! The vault room: [`vault_room::VaultRoom`] owns one vault's live state
//! (document, awareness, persistence, storage status, SV-echo counters) and
//! its rules; [`protocol`] is the sync and awareness protocol over
//! `yrs::sync`; [`stored_sync`] a fresh client's full state sent from the
//! stored rows; [`limits`] what one client may make it hold; [`refused_frames`]
//! the refusals kept for the operator; [`sv_echo`] the
//! SV echo; [`debug_report`] the debug JSON; [`room_meta`] the `roomMeta` key;
//! [`compaction_schedule`] when a due compaction runs; [`device_ledger`] what
//! each device last sent, fetched and had stored.

pub mod change_log;
pub mod compaction_schedule;
pub mod debug_report;
pub mod device_ledger;
pub mod limits;
pub mod protocol;
pub mod refused_frames;
pub mod room_meta;
pub mod stored_sync;
pub mod sv_echo;
pub mod vault_room;
