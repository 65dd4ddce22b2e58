//! The trace entry normaliser on arbitrary JSON data: never panics, and the
//! stored entry always fits the 16 KiB limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use yaos_server::diagnostics::trace_entry::{prepare_trace_entry, MAX_TRACE_ENTRY_BYTES};

fuzz_target!(|input: (String, String, &[u8])| {
    let (event, room, json) = input;
    let data = match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(map)) => map,
        Ok(other) => Map::from_iter([("value".to_owned(), other)]),
        Err(_) => return,
    };
    let entry = prepare_trace_entry("2026-12-01T00:00:00.000Z", &event, &room, &data);
    let text = serde_json::to_string(&entry).expect("an entry serialises");
    assert!(text.len() <= MAX_TRACE_ENTRY_BYTES, "entry of {} bytes", text.len());
});
