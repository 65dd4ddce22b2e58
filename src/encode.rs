//! lib0 v1 encodings of document state that never hold more than the
//! encoded bytes: in a buffer of exactly their final size, or streamed out in
//! pieces.
//!
//! yrs's `EncoderV1` starts at 1 KiB and doubles, so encoding a vault-sized
//! update briefly holds the old and the new buffer (1.5x to 3x the update)
//! and returns a buffer with up to twice the capacity it needs. Wasm memory
//! never shrinks, so that transient sets the isolate's high-water mark. Here
//! an exactly sized encoding runs twice over the same transaction, first only
//! counting bytes, then into a buffer allocated once at the counted size
//! (more CPU, one update's worth of memory); a streamed one hands the bytes
//! on in small pieces (for a checkpoint written as it is encoded).
//!
//! `SinkEncoderV1` writes byte for byte what `EncoderV1` writes (the tests
//! compare them); it implements yrs's public `Encoder` trait, yrs itself is
//! untouched.

use yrs::block::ID;
use yrs::encoding::write::Write;
use yrs::updates::encoder::Encoder;
use yrs::{Any, ClientID, ReadTxn, StateVector, TransactionMut};

/// Size of the pieces a streamed encoding is handed on in.
const STREAM_PIECE_BYTES: usize = 64 * 1024;

/// `txn.encode_state_as_update_v1(sv)`, in a buffer with room for exactly
/// `headroom` more bytes (for example a frame header to prepend in place).
pub fn state_as_update_v1<T: ReadTxn>(txn: &T, sv: &StateVector, headroom: usize) -> Vec<u8> {
    let store = txn.store();
    let main = if covers(sv, &txn.state_vector()) {
        // A client that has every struct (a returning device) gets only the
        // delete set, which yrs rebuilds by walking the whole block store:
        // one pass into a growing buffer, not two passes to size it exactly.
        let mut encoder = SinkEncoderV1 { sink: Sink::Bytes(Vec::new()), canonical: false };
        txn.encode_state_as_update(sv, &mut encoder);
        let mut update = encoder.to_vec();
        update.reserve_exact(headroom);
        update
    } else {
        encode_exact(headroom, |encoder| txn.encode_state_as_update(sv, encoder))
    };
    if store.pending_update().is_some() || store.pending_ds().is_some() {
        // Rare: updates still waiting for missing dependencies.
        let mut update = merge_pending(main, store);
        update.reserve_exact(headroom);
        return update;
    }
    main
}

/// The store's encoding `main` merged with its pending structs and delete
/// set, as yrs's own `encode_state_as_update_v1` does. yrs unwraps that
/// merge, and it fails for some pending data a client can leave behind (its
/// own encoding of it does not decode): a panic, which resets the wasm
/// instance. The `room_frames` fuzz target found it. Here a pending part that
/// does not pass [`crate::wire_check`] or does not merge is left out: it was
/// never part of the document, so the encoding still holds all of it.
fn merge_pending(main: Vec<u8>, store: &yrs::Store) -> Vec<u8> {
    use yrs::updates::encoder::Encode;
    let mut pending = Vec::new();
    if let Some(update) = store.pending_update() {
        pending.push(update.update.encode_v1());
    }
    if let Some(pending_ds) = store.pending_ds() {
        let mut update = vec![0]; // no structs, then the delete set
        update.extend_from_slice(&pending_ds.encode_v1());
        pending.push(update);
    }
    pending.retain(|part| crate::wire_check::check_update_v1(part).is_ok());
    // yrs decodes every part to merge them: all must pass the check first.
    if pending.is_empty() || crate::wire_check::check_update_v1(&main).is_err() {
        return main;
    }
    let mut parts = vec![main];
    parts.append(&mut pending);
    match yrs::merge_updates_v1(&parts) {
        Ok(merged) => merged,
        Err(_) => parts.swap_remove(0),
    }
}

/// `txn.encode_state_as_update_v1(sv)`, handed to `out` in consecutive
/// pieces instead of being collected.
pub fn write_state_as_update_v1<T: ReadTxn>(txn: &T, sv: &StateVector, out: &mut dyn FnMut(&[u8])) {
    let store = txn.store();
    if store.pending_update().is_some() || store.pending_ds().is_some() {
        out(&state_as_update_v1(txn, sv, 0));
        return;
    }
    let buf = Vec::with_capacity(STREAM_PIECE_BYTES);
    let mut encoder = SinkEncoderV1 { sink: Sink::Stream { buf, out }, canonical: false };
    txn.encode_state_as_update(sv, &mut encoder);
    encoder.flush();
}

/// The full state (`encodeStateAsUpdate`) streamed to `out` in a canonical
/// form: JSON-like map values are written with their keys sorted. yrs holds
/// such maps (`meta` entries, attachment references) in hash maps whose
/// order changes from one process to the next, so the plain encoding of the
/// same document is not stable across restarts; this one is, which is what a
/// content hash (a snapshot's `fullUpdateHash`) needs. Decoding it gives the
/// same document.
pub fn write_canonical_full_update_v1<T: ReadTxn>(txn: &T, out: &mut dyn FnMut(&[u8])) {
    let sv = StateVector::default();
    let store = txn.store();
    if store.pending_update().is_some() || store.pending_ds().is_some() {
        out(&state_as_update_v1(txn, &sv, 0));
        return;
    }
    let buf = Vec::with_capacity(STREAM_PIECE_BYTES);
    let mut encoder = SinkEncoderV1 { sink: Sink::Stream { buf, out }, canonical: true };
    txn.encode_state_as_update(&sv, &mut encoder);
    encoder.flush();
}

/// Whether state vector `a` has every clock of `b` (a document at `a` holds
/// every struct of one at `b`).
pub fn covers(a: &StateVector, b: &StateVector) -> bool {
    b.iter().all(|(client, clock)| a.get(client) >= *clock)
}

/// `txn.encode_update_v1()`: the changes of the transaction.
pub fn transaction_update_v1(txn: &TransactionMut, headroom: usize) -> Vec<u8> {
    encode_exact(headroom, |encoder| txn.encode_update(encoder))
}

/// Runs `encode` once to count its bytes, then again into a buffer of that
/// size plus `headroom`.
fn encode_exact(headroom: usize, encode: impl Fn(&mut SinkEncoderV1)) -> Vec<u8> {
    let mut counter = SinkEncoderV1 { sink: Sink::Count(0), canonical: false };
    encode(&mut counter);
    let Sink::Count(len) = counter.sink else { unreachable!("the counter only counts") };
    let mut encoder =
        SinkEncoderV1 { sink: Sink::Bytes(Vec::with_capacity(len + headroom)), canonical: false };
    encode(&mut encoder);
    encoder.to_vec()
}

/// Where the encoded bytes go.
enum Sink<'a> {
    Count(usize),
    Bytes(Vec<u8>),
    /// Collected in `buf` and handed to `out` whenever a piece is full.
    Stream {
        buf: Vec<u8>,
        out: &'a mut dyn FnMut(&[u8]),
    },
}

/// yrs's `EncoderV1`, method for method, over a [`Sink`].
struct SinkEncoderV1<'a> {
    sink: Sink<'a>,
    /// Write `Any` maps with sorted keys (see [`write_canonical_full_update_v1`]).
    canonical: bool,
}

impl SinkEncoderV1<'_> {
    fn write_id(&mut self, id: &ID) {
        self.write_var(id.client.get());
        self.write_var(id.clock)
    }

    /// Hands on what a stream has collected.
    fn flush(&mut self) {
        if let Sink::Stream { buf, out } = &mut self.sink {
            if !buf.is_empty() {
                out(buf);
                buf.clear();
            }
        }
    }
}

impl Write for SinkEncoderV1<'_> {
    fn write_all(&mut self, bytes: &[u8]) {
        match &mut self.sink {
            Sink::Count(len) => *len += bytes.len(),
            Sink::Bytes(buf) => buf.extend_from_slice(bytes),
            Sink::Stream { buf, out } => {
                if buf.len() + bytes.len() > STREAM_PIECE_BYTES && !buf.is_empty() {
                    out(buf);
                    buf.clear();
                }
                if bytes.len() >= STREAM_PIECE_BYTES {
                    out(bytes); // a long string: no need to copy it first
                } else {
                    buf.extend_from_slice(bytes);
                }
            }
        }
    }

    fn write_u8(&mut self, value: u8) {
        match &mut self.sink {
            Sink::Count(len) => *len += 1,
            Sink::Bytes(buf) => buf.push(value),
            Sink::Stream { .. } => self.write_all(&[value]),
        }
    }
}

impl Encoder for SinkEncoderV1<'_> {
    /// The bytes of an exactly sized encoding (nothing for the others).
    fn to_vec(self) -> Vec<u8> {
        match self.sink {
            Sink::Bytes(buf) => buf,
            Sink::Count(_) | Sink::Stream { .. } => Vec::new(),
        }
    }

    fn reset_ds_cur_val(&mut self) {}

    fn write_ds_clock(&mut self, clock: u32) {
        self.write_var(clock)
    }

    fn write_ds_len(&mut self, len: u32) {
        self.write_var(len)
    }

    fn write_left_id(&mut self, id: &ID) {
        self.write_id(id)
    }

    fn write_right_id(&mut self, id: &ID) {
        self.write_id(id)
    }

    fn write_client(&mut self, client: ClientID) {
        self.write_var(client.get())
    }

    fn write_info(&mut self, info: u8) {
        self.write_u8(info)
    }

    fn write_parent_info(&mut self, is_y_key: bool) {
        self.write_var(u32::from(is_y_key))
    }

    fn write_type_ref(&mut self, info: u8) {
        self.write_u8(info)
    }

    fn write_len(&mut self, len: u32) {
        self.write_var(len)
    }

    fn write_any(&mut self, any: &Any) {
        if self.canonical {
            write_sorted_any(self, any)
        } else {
            any.encode(self)
        }
    }

    fn write_json(&mut self, any: &Any) {
        let mut json = String::new();
        any.to_json(&mut json);
        self.write_string(&json)
    }

    fn write_key(&mut self, key: &str) {
        self.write_string(key)
    }
}

/// lib0's `Any` encoding (as `Any::encode` writes it) with map keys sorted,
/// at every depth; every other value is written by yrs itself.
fn write_sorted_any(encoder: &mut SinkEncoderV1, any: &Any) {
    match any {
        Any::Map(map) => {
            encoder.write_u8(118);
            encoder.write_var(map.len() as u64);
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (key, value) in entries {
                encoder.write_string(key);
                write_sorted_any(encoder, value);
            }
        }
        Any::Array(items) => {
            encoder.write_u8(117);
            encoder.write_var(items.len() as u64);
            for item in items.iter() {
                write_sorted_any(encoder, item);
            }
        }
        other => other.encode(encoder),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use yrs::updates::decoder::Decode;
    use yrs::{Array, Doc, Map, MapPrelim, Text, TextPrelim, Transact, Update, WriteTxn};

    use super::*;

    /// A document touching every kind of content the encoder writes: text
    /// with formatting and deletions, nested maps, JSON-like values, arrays,
    /// several clients and a delete set.
    fn busy_doc() -> Doc {
        let doc = Doc::with_client_id(1);
        {
            let mut txn = doc.transact_mut();
            let meta = txn.get_or_insert_map("meta");
            let fields = MapPrelim::from([("path", Any::from("a.md")), ("mtime", Any::from(1.5))]);
            meta.insert(&mut txn, "id1", fields);
            let nested: HashMap<String, Any> =
                [("k".to_owned(), Any::from(vec![1u8, 2, 3]))].into();
            meta.insert(&mut txn, "obj", Any::from(nested));
            let texts = txn.get_or_insert_map("idToText");
            let text = texts.insert(&mut txn, "id1", TextPrelim::new("hello wörld 🎉"));
            text.remove_range(&mut txn, 2, 3);
            let array = txn.get_or_insert_array("list");
            array.insert_range(&mut txn, 0, [1, 2, 3]);
            array.remove(&mut txn, 1);
        }
        let other = Doc::with_client_id(u32::MAX as u64 + 7);
        let edit = {
            let mut txn = other.transact_mut();
            txn.get_or_insert_text("note").insert(&mut txn, 0, "x".repeat(300).as_str());
            txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
            txn.encode_update_v1()
        };
        doc.transact_mut().apply_update(Update::decode_v1(&edit).unwrap()).unwrap();
        doc
    }

    #[test]
    fn full_state_matches_yrs_byte_for_byte() {
        let doc = busy_doc();
        let txn = doc.transact();
        for sv in [StateVector::default(), txn.state_vector()] {
            let expected = txn.encode_state_as_update_v1(&sv);
            let ours = state_as_update_v1(&txn, &sv, 0);
            assert_eq!(ours, expected);
            assert_eq!(ours.capacity(), ours.len(), "exactly sized");
            assert_eq!(state_as_update_v1(&txn, &sv, 12).capacity(), expected.len() + 12);
            let mut streamed = Vec::new();
            write_state_as_update_v1(&txn, &sv, &mut |piece| streamed.extend_from_slice(piece));
            assert_eq!(streamed, expected);
        }
    }

    #[test]
    fn the_canonical_encoding_sorts_map_keys_and_decodes_to_the_same_document() {
        let doc = busy_doc();
        let txn = doc.transact();
        let mut canonical = Vec::new();
        write_canonical_full_update_v1(&txn, &mut |piece| canonical.extend_from_slice(piece));
        let copy = Doc::new();
        copy.transact_mut().apply_update(Update::decode_v1(&canonical).unwrap()).unwrap();
        let mut again = Vec::new();
        write_canonical_full_update_v1(&copy.transact(), &mut |piece| {
            again.extend_from_slice(piece)
        });
        assert_eq!(again, canonical, "the decoded document encodes to the same bytes");
        assert_eq!(copy.transact().state_vector(), txn.state_vector());
        // The same map written in two insertion orders encodes identically.
        let with_order = |keys: &[&str]| {
            let doc = Doc::with_client_id(9);
            {
                let mut txn = doc.transact_mut();
                let map: HashMap<String, Any> =
                    keys.iter().map(|k| ((*k).to_owned(), Any::from(*k))).collect();
                txn.get_or_insert_map("m").insert(&mut txn, "v", Any::from(map));
            }
            let mut out = Vec::new();
            write_canonical_full_update_v1(&doc.transact(), &mut |p| out.extend_from_slice(p));
            out
        };
        let keys: Vec<String> = (0..32).map(|i| format!("key{i}")).collect();
        let forward: Vec<&str> = keys.iter().map(String::as_str).collect();
        let backward: Vec<&str> = forward.iter().rev().copied().collect();
        assert_eq!(with_order(&forward), with_order(&backward));
    }

    #[test]
    fn a_large_state_streams_in_bounded_pieces() {
        let doc = Doc::with_client_id(3);
        {
            let mut txn = doc.transact_mut();
            let texts = txn.get_or_insert_map("idToText");
            for i in 0..40u32 {
                let body = format!("{i:04}").repeat(5_000 + 997 * i as usize);
                texts.insert(&mut txn, format!("id{i}"), TextPrelim::new(body));
            }
        }
        let txn = doc.transact();
        let expected = txn.encode_state_as_update_v1(&StateVector::default());
        let mut streamed = Vec::new();
        let mut longest_copy = 0;
        write_state_as_update_v1(&txn, &StateVector::default(), &mut |piece| {
            streamed.extend_from_slice(piece);
            longest_copy = longest_copy.max(piece.len());
        });
        assert!(expected.len() > 20 * STREAM_PIECE_BYTES);
        assert_eq!(streamed, expected);
        // Pieces are the stream's buffer, or one long string written whole.
        assert!(longest_copy < 200_000, "{longest_copy}");
    }

    #[test]
    fn full_state_with_missing_dependencies_matches_yrs() {
        let source = Doc::with_client_id(5);
        let _first = {
            let mut txn = source.transact_mut();
            txn.get_or_insert_text("t").insert(&mut txn, 0, "first");
            txn.encode_update_v1()
        };
        let second = {
            let mut txn = source.transact_mut();
            txn.get_or_insert_text("t").insert(&mut txn, 5, " second");
            txn.encode_update_v1()
        };
        let doc = Doc::new();
        doc.transact_mut().apply_update(Update::decode_v1(&second).unwrap()).unwrap();
        let txn = doc.transact();
        assert!(txn.store().pending_update().is_some());
        let expected = txn.encode_state_as_update_v1(&StateVector::default());
        assert_eq!(state_as_update_v1(&txn, &StateVector::default(), 0), expected);
    }

    #[test]
    fn transaction_updates_match_the_update_event() {
        let doc = busy_doc();
        // (yrs's update event, ours) for each transaction.
        type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
        let seen: Arc<Mutex<Pairs>> = Arc::default();
        let sink = Arc::clone(&seen);
        doc.observe_update_v1("test", move |txn, event| {
            sink.lock().unwrap().push((event.update.clone(), transaction_update_v1(txn, 0)));
        })
        .unwrap();
        {
            let mut txn = doc.transact_mut();
            let text = txn.get_or_insert_text("note");
            text.insert(&mut txn, 3, "inserted");
            text.remove_range(&mut txn, 0, 2);
            txn.get_or_insert_map("meta").remove(&mut txn, "obj");
        }
        {
            let mut txn = doc.transact_mut();
            let meta = txn.get_or_insert_map("meta");
            meta.insert(&mut txn, "id2", MapPrelim::from([("path", Any::from("b.md"))]));
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        for (expected, ours) in seen.iter() {
            assert_eq!(ours, expected);
        }
    }
}
