//! yrs helpers shared by the storage tests: build documents with real Y.Text
//! and Y.Map content, and rebuild a document from what a store loaded.

use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update};

use yaos_server::store::LoadedState;

/// Root names, echoing the YAOS schema (a text per note, a metadata map).
pub const TEXT: &str = "note";
pub const META: &str = "meta";

/// A document with a fixed client id, so runs are reproducible.
pub fn doc(client_id: u64) -> Doc {
    Doc::with_client_id(client_id)
}

pub fn append_text(doc: &Doc, chunk: &str) {
    let text = doc.get_or_insert_text(TEXT);
    let mut txn = doc.transact_mut();
    let end = text.len(&txn);
    text.insert(&mut txn, end, chunk);
}

pub fn remove_text(doc: &Doc, index: u32, len: u32) {
    let text = doc.get_or_insert_text(TEXT);
    text.remove_range(&mut doc.transact_mut(), index, len);
}

pub fn set_meta(doc: &Doc, key: &str, value: &str) {
    let meta = doc.get_or_insert_map(META);
    meta.insert(&mut doc.transact_mut(), key, value);
}

pub fn text_of(doc: &Doc) -> String {
    let text = doc.get_or_insert_text(TEXT);
    text.get_string(&doc.transact())
}

pub fn meta_of(doc: &Doc, key: &str) -> Option<String> {
    let meta = doc.get_or_insert_map(META);
    let txn = doc.transact();
    meta.get(&txn, key).map(|value| value.to_string(&txn))
}

pub fn full_state(doc: &Doc) -> Vec<u8> {
    diff(doc, &StateVector::default())
}

/// What `doc` has that a document at `since` lacks: a sync step 2 payload.
pub fn diff(doc: &Doc, since: &StateVector) -> Vec<u8> {
    doc.transact().encode_state_as_update_v1(since)
}

pub fn state_vector(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

pub fn apply(doc: &Doc, update: &[u8]) {
    let update = Update::decode_v1(update).expect("stored update decodes");
    doc.transact_mut().apply_update(update).expect("stored update applies");
}

/// Replays a load the way the room does: the snapshot, then each journal row.
pub fn replay_into(doc: &Doc, loaded: &LoadedState) {
    if let Some(snapshot) = &loaded.snapshot {
        apply(doc, snapshot);
    }
    for entry in &loaded.journal {
        apply(doc, entry);
    }
}

/// A fresh document rebuilt from a load.
pub fn rebuilt(loaded: &LoadedState) -> Doc {
    let doc = doc(999);
    replay_into(&doc, loaded);
    doc
}

/// `len` bytes of printable ASCII that do not repeat in short cycles.
pub fn filler(len: usize, seed: u64) -> String {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + ((state >> 33) % 26) as u8)
        })
        .collect()
}

/// `[0, inner, varUint8Array(payload)]` built by hand: a sync frame around
/// any payload, valid or not.
pub fn sync_frame(inner: u8, payload: &[u8]) -> Vec<u8> {
    use yrs::encoding::write::Write;
    let mut frame = vec![0, inner];
    frame.write_var(payload.len() as u64);
    frame.extend_from_slice(payload);
    frame
}
