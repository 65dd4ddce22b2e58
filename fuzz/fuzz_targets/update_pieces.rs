//! The snapshot cutter on arbitrary bytes fed in arbitrary chunks, cut into
//! pieces as small as one struct: never panics; accepts exactly what the
//! whole-update check accepts for an empty document (so a load that applies
//! pieces takes what a load applying the whole update took); every piece it
//! hands out is a valid update; and the pieces, applied in order, give the
//! document the whole update gives when yrs takes it and integrates all of
//! it (in the held-back shape, the same structs; the deleted ranges can
//! differ there for malformed input whose parents are deleted items, where
//! yrs's result depends on the order it integrates in: a byte-level oracle
//! for that shape is still to write) (its state vector and delete set), both
//! plain and with each client's first struct and the delete set held back
//! to a final update (the fresh sync's one-transaction shape).

#![no_main]

use libfuzzer_sys::fuzz_target;
use yaos_server::update_pieces::{FirstStructs, UpdatePieces};
use yaos_server::wire_check::{check_update_for, check_update_v1};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

/// What a document holds, comparable across ways of building it: its state
/// vector without zero clocks, and the deleted ranges of its integrated
/// structs per client, merged.
type Held = (Vec<(u64, u32)>, Vec<(u64, Vec<(u32, u32)>)>);

/// The document built from `updates`, as [`Held`]: what the pieces must
/// reproduce. `None` when yrs refuses to decode or apply one: the check does
/// not parse every content (a JSON value, for one) nor resolve every parent,
/// and the room turns such a refusal into an error like any other.
fn applied<'a>(updates: impl IntoIterator<Item = &'a [u8]>) -> Option<Held> {
    let doc = Doc::new();
    for update in updates {
        let update = Update::decode_v1(update).ok()?;
        doc.transact_mut().apply_update(update).ok()?;
    }
    let snapshot = doc.transact().snapshot();
    let mut sv: Vec<(u64, u32)> = snapshot
        .state_map
        .iter()
        .filter(|(_, clock)| **clock > 0)
        .map(|(client, clock)| (client.get(), *clock))
        .collect();
    sv.sort_unstable();
    let mut deleted = Vec::new();
    for (client, ranges) in snapshot.delete_set.iter() {
        // Only deletes of integrated structs: yrs may also list ranges of
        // structs it holds pending, depending on which update came first.
        let known = snapshot.state_map.get(client);
        let mut merged: Vec<(u32, u32)> = Vec::new();
        let mut all: Vec<_> = ranges
            .iter()
            .map(|r| (r.start, r.end.min(known)))
            .filter(|(start, end)| start < end)
            .collect();
        all.sort_unstable();
        for (start, end) in all {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        if !merged.is_empty() {
            deleted.push((client.get(), merged));
        }
    }
    Some((sv, deleted))
}

/// Whether yrs integrates all of `update` into an empty document, leaving
/// nothing pending. Structs that wait on something never sent (a parent
/// named by a later clock of their own client, say) may be resolved
/// differently once the cutter has split the first one; a real vault's
/// stored state has none.
fn integrates(update: &[u8]) -> bool {
    let doc = Doc::new();
    let Ok(update) = Update::decode_v1(update) else { return false };
    let mut txn = doc.transact_mut();
    txn.apply_update(update).is_ok() && txn.store().pending_update().is_none()
}

fuzz_target!(|input: (u16, u16, bool, Vec<u8>)| {
    let (chunk, target, hold, bytes) = input;
    let chunk = usize::from(chunk).max(1);
    let target = usize::from(target % 2048).max(1);
    let mut pieces = Vec::new();
    let mut cutter = UpdatePieces::new_unclamped(bytes.len() as u64, target);
    if hold {
        cutter = cutter.holding_back(FirstStructs::default());
    }
    let mut result = Ok(());
    for part in bytes.chunks(chunk) {
        result = cutter.feed(part, &mut |piece| pieces.push(piece));
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = if hold {
            cutter.finish_held(&mut |piece| pieces.push(piece)).map(|held| {
                pieces.push(held.first.into_update(&held.delete_set));
            })
        } else {
            cutter.finish(&mut |piece| pieces.push(piece))
        };
    }
    let whole = check_update_for(&bytes, &StateVector::default());
    assert_eq!(result.is_ok(), whole.is_ok(), "cutter {result:?}, whole check {whole:?}");
    if result.is_ok() {
        assert!(!pieces.is_empty());
        for piece in &pieces {
            check_update_v1(piece).expect("every piece is a valid update");
        }
        // When yrs takes the whole update, it takes the pieces, and they
        // build the same document.
        if let Some(whole) = applied([bytes.as_slice()]).filter(|_| integrates(&bytes)) {
            let from_pieces = applied(pieces.iter().map(Vec::as_slice)).expect("pieces apply");
            assert_eq!(from_pieces.0, whole.0, "the pieces hold every struct");
            if !hold {
                assert_eq!(from_pieces.1, whole.1, "the pieces hold the deletes");
            }
        }
    }
});
