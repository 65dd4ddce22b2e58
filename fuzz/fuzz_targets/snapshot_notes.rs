//! A snapshot's stored notes on arbitrary bytes, and what a restore request
//! can name: a manifest that parses is read back against arbitrary pack
//! bytes, a payload that decodes is packed, browsed against itself and
//! restored into, and request bodies and note paths are checked, all
//! without a panic. A note read back must be the size and hash its manifest
//! entry says; a restore of a note must leave that note active with the
//! asked-for text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use yaos_server::doc_model::notes::{note_text, PathIndex};
use yaos_server::doc_model::restore::{self, Restoring, Writer};
use yaos_server::edge::snapshot_notes::note_path_of;
use yaos_server::snapshot::browse::{browse, parse_restore_request};
use yaos_server::snapshot::notes_pack::{
    decode_payload, read_note, text_hash, write_pack, NotesManifest,
};
use yrs::Transact;

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (mode, bytes) = input;
    match mode % 4 {
        0 => {
            let (json, pack) = bytes.split_at(bytes.len() / 2);
            let Ok(manifest) = NotesManifest::parse(json.to_vec()) else { return };
            for note in manifest.notes() {
                let start = (note.offset as usize).min(pack.len());
                let end = start.saturating_add(note.length as usize).min(pack.len());
                if let Ok(text) = read_note(&note, &pack[start..end]) {
                    assert_eq!(text.len() as u64, note.bytes);
                    assert_eq!(text_hash(&text), note.hash);
                }
            }
        }
        1 => {
            let Ok(doc) = decode_payload(&bytes) else { return };
            let (mut pack, mut stored) = (Vec::new(), Vec::new());
            let Ok(count) = write_pack(&doc, &mut pack, &mut stored) else { return };
            let manifest = NotesManifest::parse(stored).expect("a written manifest reads back");
            let browsed = browse(&doc.transact(), "fuzz", &manifest);
            let browsed: serde_json::Value = serde_json::from_slice(&browsed).expect("JSON");
            assert_eq!(browsed["comparison"]["unchanged"], count, "a snapshot is its own vault");
            let Some(path) = manifest.notes().next().map(|n| n.path.into_owned()) else { return };
            let mut random = || [9u8; 12];
            let writer = Writer { now_ms: 1, device: None, random_id: &mut random };
            let notes = [Restoring { path: &path, text: "restored" }];
            restore::apply(&mut doc.transact_mut(), &notes, writer);
            let txn = doc.transact();
            let id = PathIndex::of(&txn).active.get(path.as_str()).cloned();
            assert_eq!(id.and_then(|id| note_text(&txn, &id)).as_deref(), Some("restored"));
        }
        2 => {
            let _ = parse_restore_request(&bytes);
        }
        _ => {
            let text = String::from_utf8_lossy(&bytes);
            let segments: Vec<String> = text.split('/').map(str::to_owned).collect();
            if let Ok(path) = note_path_of(&segments) {
                assert!(!path.is_empty() && !path.starts_with('/'), "{path:?}");
            }
        }
    }
});
