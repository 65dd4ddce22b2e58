//! Diagnostics: the trace seam core logic reports through ([`trace`]), the
//! rate-limited, bounded trace store of spec 11.2 ([`trace_store`],
//! [`trace_entry`]), the `toISOString` timestamps they carry ([`timefmt`]),
//! and the billed SQL rows a room has used ([`usage`]).

pub mod timefmt;
pub mod trace;
pub mod trace_entry;
pub mod trace_store;
pub mod usage;
