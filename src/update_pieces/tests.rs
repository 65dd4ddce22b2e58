use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{
    Array, Doc, GetString, Map, Options, ReadTxn, StateVector, Text, Transact, Update, WriteTxn,
};

use super::*;
use crate::wire_check::check_update_v1;

/// A document edited by `clients` clients in turn, each building on what
/// the others wrote (so sections depend on each other across clients), with
/// deletions, map entries and array values.
fn busy_doc(clients: u64, rounds: usize) -> Doc {
    let docs: Vec<Doc> = (0..clients)
        .map(|id| Doc::with_options(Options::with_client_id(yrs::ClientID::new(id + 1))))
        .collect();
    for round in 0..rounds {
        for (k, doc) in docs.iter().enumerate() {
            {
                let mut txn = doc.transact_mut();
                let text = txn.get_or_insert_text("text");
                let len = text.len(&txn);
                let at = (round as u32 * 7 + k as u32) % (len + 1);
                text.insert(
                    &mut txn,
                    at,
                    &format!("{round}-{k} some words of a note, and then a few more of them. "),
                );
                if len > 40 && round % 3 == 0 {
                    text.remove_range(&mut txn, len / 2, 5);
                }
                let meta = txn.get_or_insert_map("meta");
                meta.insert(&mut txn, format!("key{}", round % 13), format!("v{round}-{k}"));
                let list = txn.get_or_insert_array("list");
                list.push_back(&mut txn, round as i64);
            }
            // Every client sees everything before the next turn.
            for other in &docs {
                let sv = other.transact().state_vector();
                let update = doc.transact().encode_state_as_update_v1(&sv);
                other.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
            }
        }
    }
    docs.into_iter().next().unwrap()
}

fn content(doc: &Doc) -> String {
    let mut txn = doc.transact_mut();
    let text = txn.get_or_insert_text("text").get_string(&txn);
    let meta = txn.get_or_insert_map("meta");
    // Sorted: `Any` maps are hash maps, listed in no stable order.
    let meta: std::collections::BTreeMap<String, String> =
        meta.iter(&txn).map(|(k, v)| (k.to_owned(), v.to_string(&txn))).collect();
    let list = txn.get_or_insert_array("list").to_json(&txn);
    format!("{text}\n{meta:?}\n{list:?}")
}

/// The pieces of `update`, fed in chunks of `chunk` bytes.
fn pieces(update: &[u8], chunk: usize, target: usize) -> Result<Vec<Vec<u8>>, WireError> {
    let mut out = Vec::new();
    let mut cutter = UpdatePieces::new(update.len() as u64, target);
    for part in update.chunks(chunk.max(1)) {
        cutter.feed(part, &mut |piece| out.push(piece))?;
    }
    cutter.finish(&mut |piece| out.push(piece))?;
    Ok(out)
}

fn apply_all<'a>(pieces: impl IntoIterator<Item = &'a Vec<u8>>) -> Doc {
    let doc = Doc::new();
    for piece in pieces {
        doc.transact_mut().apply_update(Update::decode_v1(piece).unwrap()).unwrap();
    }
    doc
}

#[test]
fn pieces_rebuild_the_document_in_either_order() {
    let doc = busy_doc(4, 300);
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert!(update.len() > 4 * MIN_PIECE_BYTES, "{} bytes", update.len());
    for chunk in [1, 7, 1000, 65_536, update.len()] {
        let pieces = pieces(&update, chunk, MIN_PIECE_BYTES).unwrap();
        assert!(pieces.len() >= 4, "{} pieces", pieces.len());
        for piece in &pieces {
            check_update_v1(piece).unwrap();
            // Structs here are small: a piece passes the target by one at most.
            assert!(piece.len() < MIN_PIECE_BYTES + 200, "{} bytes", piece.len());
        }
        let in_order = apply_all(&pieces);
        assert_eq!(content(&in_order), content(&doc));
        assert_eq!(in_order.transact().state_vector(), doc.transact().state_vector());
        // Out of order, each receiver holds back what is missing.
        let reversed = apply_all(pieces.iter().rev());
        assert_eq!(content(&reversed), content(&doc));
    }
    assert!(content(&doc).contains("299-3"));
}

#[test]
fn a_small_update_is_one_piece_equal_to_it() {
    let doc = busy_doc(2, 5);
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert_eq!(pieces(&update, 3, DEFAULT_PIECE_BYTES).unwrap(), vec![update]);
    // The empty document's update too.
    let empty = Doc::new().transact().encode_state_as_update_v1(&StateVector::default());
    assert_eq!(pieces(&empty, 1, DEFAULT_PIECE_BYTES).unwrap(), vec![empty]);
}

#[test]
fn the_delete_set_reaches_the_last_piece() {
    let doc = busy_doc(1, 600);
    {
        let mut txn = doc.transact_mut();
        let text = txn.get_or_insert_text("text");
        text.remove_range(&mut txn, 0, 3_000);
    }
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    let pieces = pieces(&update, 4096, MIN_PIECE_BYTES).unwrap();
    assert!(pieces.len() > 1);
    for piece in &pieces[..pieces.len() - 1] {
        assert_eq!(piece.last(), Some(&0), "an empty delete set");
    }
    assert_eq!(content(&apply_all(&pieces)), content(&doc));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let doc = busy_doc(3, 40);
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    // Cut short anywhere, or declared longer or shorter than it is.
    for cut in [1, 2, update.len() / 3, update.len() - 1] {
        let mut cutter = UpdatePieces::new(update.len() as u64, MIN_PIECE_BYTES);
        cutter.feed(&update[..cut], &mut |_| {}).unwrap();
        assert!(cutter.finish(&mut |_| {}).is_err(), "cut at {cut}");
        let mut short = UpdatePieces::new(cut as u64, MIN_PIECE_BYTES);
        let result =
            short.feed(&update[..cut], &mut |_| {}).and_then(|()| short.finish(&mut |_| {}));
        assert!(result.is_err(), "declared {cut}");
    }
    let mut long = UpdatePieces::new(3, MIN_PIECE_BYTES);
    assert!(long.feed(&update, &mut |_| {}).is_err());
    // A count no input could hold, and the same client twice.
    assert!(pieces(&[0xff, 0xff, 0xff, 0x0f], 1, MIN_PIECE_BYTES).is_err());
    let twice = [2, 0, 5, 0, 0, 5, 0, 0];
    assert!(check_update_v1(&twice).is_err());
    assert!(pieces(&twice, 1, MIN_PIECE_BYTES).is_err());
    // Flipped bytes: accepted or refused, never a panic, and what is
    // accepted comes out as valid updates.
    for i in (0..update.len()).step_by(97) {
        let mut bad = update.clone();
        bad[i] ^= 0x5a;
        if let Ok(pieces) = pieces(&bad, 333, MIN_PIECE_BYTES) {
            for piece in pieces {
                check_update_v1(&piece).unwrap();
            }
        }
    }
}

/// `update` cut holding back first structs, chunk by chunk: the pieces, the
/// held-back update (with the delete set), and the update's state.
fn held_pieces(update: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Vec<u8>, StateVector) {
    let mut out = Vec::new();
    let mut cutter = UpdatePieces::new(update.len() as u64, MIN_PIECE_BYTES)
        .holding_back(FirstStructs::default());
    for part in update.chunks(chunk) {
        cutter.feed(part, &mut |piece| out.push(piece)).unwrap();
    }
    let held = cutter.finish_held(&mut |piece| out.push(piece)).unwrap();
    (out, held.first.into_update(&held.delete_set), held.state)
}

/// A document whose clients start with each kind of struct the cutter
/// meets first: a string opening with a character outside the BMP, a run
/// of array values, a map entry, a nested type, and a deleted range.
fn first_structs_doc() -> Doc {
    let doc = Doc::with_options(Options::with_client_id(yrs::ClientID::new(1)));
    let edit = |client: u64, f: &dyn Fn(&mut yrs::TransactionMut)| {
        let other = Doc::with_options(Options::with_client_id(yrs::ClientID::new(client)));
        let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
        other.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
        let before = other.transact().state_vector();
        f(&mut other.transact_mut());
        let diff = other.transact().encode_state_as_update_v1(&before);
        doc.transact_mut().apply_update(Update::decode_v1(&diff).unwrap()).unwrap();
    };
    edit(1, &|txn| {
        let text = txn.get_or_insert_text("text");
        text.insert(txn, 0, &format!("🙂 then plain text{}", " and more".repeat(3_000)));
    });
    edit(2, &|txn| {
        let list = txn.get_or_insert_array("list");
        list.insert_range(txn, 0, (0..20_000).map(|i| i as i64 * 1_000));
    });
    edit(3, &|txn| {
        txn.get_or_insert_map("meta").insert(txn, "path", "notes/one.md");
    });
    edit(4, &|txn| {
        let meta = txn.get_or_insert_map("meta");
        meta.insert(txn, "nested", yrs::MapPrelim::default());
    });
    edit(5, &|txn| {
        let text = txn.get_or_insert_text("text");
        text.insert(txn, 5, &"removed again ".repeat(100));
        text.remove_range(txn, 5, 1_400);
    });
    edit(6, &|txn| {
        let text = txn.get_or_insert_text("text");
        text.insert(txn, 0, "x");
    });
    doc
}

#[test]
fn held_back_first_structs_complete_the_pieces_in_one_frame() {
    let doc = first_structs_doc();
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    // (Chunks of a few bytes re-read a long struct on each: kept above 500.)
    for chunk in [997, 4096, update.len()] {
        let (pieces, last, state) = held_pieces(&update, chunk);
        assert!(pieces.len() > 1, "{} pieces", pieces.len());
        // No piece starts any client: Yjs can integrate none of them.
        for piece in &pieces {
            check_update_v1(piece).unwrap();
            let lowest = Update::decode_v1(piece).unwrap().state_vector_lower();
            assert!(lowest.iter().all(|(_, &clock)| clock > 0), "{lowest:?}");
        }
        // The last starts every client, one small struct each, except the
        // nested map (one unit, held whole) and client 6's single character.
        check_update_v1(&last).unwrap();
        let held = Update::decode_v1(&last).unwrap();
        assert_eq!(held.state_vector_lower().len(), 6);
        assert!(held.state_vector_lower().iter().all(|(_, &clock)| clock == 0));
        assert!(last.len() < 6 * 40 + 200, "{} bytes held back", last.len());
        assert_eq!(state, doc.transact().state_vector());
        // Together they are the document, in either order.
        let rebuilt = apply_all(pieces.iter().chain([&last]));
        assert_eq!(content(&rebuilt), content(&doc));
        assert_eq!(rebuilt.transact().state_vector(), doc.transact().state_vector());
        let first_last = apply_all([&last].into_iter().chain(&pieces));
        assert_eq!(content(&first_last), content(&doc));
    }
    assert!(content(&doc).starts_with("x🙂 "), "{}", &content(&doc)[..20]);
}

#[test]
fn a_diff_holds_back_only_clients_not_seen_before() {
    let doc = first_structs_doc();
    let base = Doc::new();
    let start = doc.transact().encode_state_as_update_v1(&StateVector::default());
    base.transact_mut().apply_update(Update::decode_v1(&start).unwrap()).unwrap();
    // The snapshot's cut sees every client; a diff after more edits by a
    // known client and a new one holds back only the new one's first struct.
    let (_, _, state) = held_pieces(&start, start.len());
    let mut seen = FirstStructs::default();
    let mut cutter = UpdatePieces::new(start.len() as u64, MIN_PIECE_BYTES).holding_back(seen);
    cutter.feed(&start, &mut |_| {}).unwrap();
    seen = cutter.finish_held(&mut |_| {}).unwrap().first;
    for (client, text) in [(1, "more by a known client"), (9, "a new client")] {
        let other = Doc::with_options(Options::with_client_id(yrs::ClientID::new(client)));
        let all = doc.transact().encode_state_as_update_v1(&StateVector::default());
        other.transact_mut().apply_update(Update::decode_v1(&all).unwrap()).unwrap();
        let before = other.transact().state_vector();
        {
            let mut txn = other.transact_mut();
            let shared = txn.get_or_insert_text("text");
            shared.insert(&mut txn, 0, text);
        }
        let diff = other.transact().encode_state_as_update_v1(&before);
        doc.transact_mut().apply_update(Update::decode_v1(&diff).unwrap()).unwrap();
    }
    let diff = doc.transact().encode_state_as_update_v1(&state);
    let mut out = Vec::new();
    let mut cutter =
        UpdatePieces::new(diff.len() as u64, MIN_PIECE_BYTES).holding_back(seen).applying_to(state);
    cutter.feed(&diff, &mut |piece| out.push(piece)).unwrap();
    let held = cutter.finish_held(&mut |piece| out.push(piece)).unwrap();
    assert_eq!(held.first.len(), 7, "six from the snapshot, one new");
    for piece in &out {
        let lowest = Update::decode_v1(piece).unwrap().state_vector_lower();
        assert!(lowest.iter().all(|(_, &clock)| clock > 0), "{lowest:?}");
    }
    let last = held.first.into_update(&held.delete_set);
    let rebuilt = apply_all([&start].into_iter().chain(&out).chain([&last]));
    assert_eq!(content(&rebuilt), content(&doc));
    assert!(content(&doc).contains("a new client"));
}
