//! The edge's route classifier and its percent-decoding on arbitrary methods
//! and paths: never panics, and a decoded vault id re-encodes to a path the
//! classifier maps to the same vault. The same string as a socket's
//! `Sec-WebSocket-Extensions` offer: any answer is a `permessage-deflate`
//! acceptance whose server window lies between 8 bits and the cap.

#![no_main]

use libfuzzer_sys::fuzz_target;
use yaos_server::edge::compression::{deflate_answer, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use yaos_server::edge::js;
use yaos_server::edge::router::{classify, Route};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "OPTIONS", "DELETE"];

/// Percent-encodes every byte outside the unreserved set.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|input: (u8, String)| {
    let (selector, path) = input;
    let method = METHODS[selector as usize % METHODS.len()];
    let cap = MIN_WINDOW_BITS + selector % (MAX_WINDOW_BITS - MIN_WINDOW_BITS + 1);
    if let Some(answer) = deflate_answer(Some(&path), cap) {
        assert!(answer.starts_with("permessage-deflate; "), "{answer}");
        let bits: u8 = answer
            .split("server_max_window_bits=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("no server window in {answer}"));
        assert!((MIN_WINDOW_BITS..=cap).contains(&bits), "{answer} for cap {cap}");
    }
    let route = classify(method, &path);
    let _ = route.log_bucket();
    let _ = js::decode_uri_component(&path);
    if let Route::SyncSocket { vault_id } = classify("GET", &path) {
        let again = format!("/vault/sync/{}", percent_encode(&vault_id));
        match classify("GET", &again) {
            Route::SyncSocket { vault_id: same } => assert_eq!(same, vault_id),
            other => panic!("{again} classified as {other:?}"),
        }
    }
});
