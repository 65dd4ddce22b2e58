//! Ticket verification on arbitrary strings, keys and clocks: never panics,
//! and a ticket this server issued verifies for its vault until it expires
//! and never for another vault.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use yaos_server::edge::ticket;

#[derive(Arbitrary, Debug)]
struct Input {
    key: Vec<u8>,
    ticket: String,
    vault: String,
    now_ms: u64,
    ttl_ms: u32,
    nonce: [u8; 16],
}

fuzz_target!(|input: Input| {
    let _ = ticket::verify(&input.key, &input.ticket, &input.vault, input.now_ms);
    let now = input.now_ms % (1 << 50);
    let ttl = u64::from(input.ttl_ms).max(1);
    let issued = ticket::issue(&input.key, &input.vault, now, ttl, &input.nonce);
    let text = issued.to_json()["ticket"].as_str().expect("a ticket string").to_owned();
    assert!(ticket::verify(&input.key, &text, &input.vault, now).is_ok());
    let other = format!("{}x", input.vault);
    assert!(ticket::verify(&input.key, &text, &other, now).is_err());
});
