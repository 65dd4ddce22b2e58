//! Diagnostics: the trace seam core logic reports through ([`trace`]), the
//! rate-limited, bounded trace store of spec 11.2 ([`trace_store`],
//! [`trace_entry`]) and the `toISOString` timestamps they carry ([`timefmt`]).

pub mod timefmt;
pub mod trace;
pub mod trace_entry;
pub mod trace_store;
