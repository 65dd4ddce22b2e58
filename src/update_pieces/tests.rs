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
