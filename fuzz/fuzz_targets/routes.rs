//! The edge's route classifier and its percent-decoding on arbitrary methods
//! and paths: never panics, and a decoded vault id re-encodes to a path the
//! classifier maps to the same vault.

#![no_main]

use libfuzzer_sys::fuzz_target;
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
    let (method, path) = input;
    let method = METHODS[method as usize % METHODS.len()];
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
