//! The vault room: protocol handling over `yrs::sync`, SV echoes, traces.

pub mod protocol;
pub mod room_meta;
pub mod summary;
pub mod sv_echo;
pub mod trace_entry;
pub mod trace_store;
