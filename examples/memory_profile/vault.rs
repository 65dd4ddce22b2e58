//! The profiled vault: a plugin-shaped document of N notes, as the update a
//! client sends or laid out in the legacy key-value format for a migration.

#[path = "../../tests/support/legacy_writer.rs"]
#[allow(dead_code)]
mod legacy_writer;

use yaos_server::store::kv::MemoryKv;
use yrs::{Any, Doc, Map, MapPrelim, ReadTxn, StateVector, TextPrelim, Transact, WriteTxn};

/// A plugin-shaped vault of `notes` notes of about 2 KB each: `meta` (fileId
/// -> nested Y.Map {path, mtime}), `pathToId`, `idToText` (fileId -> Y.Text)
/// and `sys.schemaVersion` = 3.
pub fn vault_doc(notes: usize) -> Doc {
    let doc = Doc::with_client_id(0x5eed);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for batch in (0..notes).collect::<Vec<_>>().chunks(100) {
        let mut txn = doc.transact_mut();
        let meta = txn.get_or_insert_map("meta");
        let path_to_id = txn.get_or_insert_map("pathToId");
        let id_to_text = txn.get_or_insert_map("idToText");
        for &i in batch {
            let id = rng.file_id();
            let path = format!("Vault/folder-{:03}/note {i:05}.md", i % 200);
            let mtime = Any::from(1_700_000_000_000.0 + i as f64 * 1000.0);
            let fields = MapPrelim::from([("path", Any::from(path.as_str())), ("mtime", mtime)]);
            meta.insert(&mut txn, id.as_str(), fields);
            path_to_id.insert(&mut txn, path, id.as_str());
            id_to_text.insert(&mut txn, id, TextPrelim::new(rng.note_body(2048)));
        }
    }
    {
        let mut txn = doc.transact_mut();
        txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
    }
    doc
}

/// The client's full state (v1) of [`vault_doc`].
pub fn build_vault(notes: usize) -> Vec<u8> {
    let doc = vault_doc(notes);
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    update
}

/// A legacy key-value store holding the vault as the old TypeScript server
/// left it: a checkpoint of the whole vault plus a 4-entry journal of small
/// edits (the shape `scripts/bench.sh --migration` uses).
pub fn legacy_vault(notes: usize) -> MemoryKv {
    let kv = MemoryKv::default();
    let doc = vault_doc(notes);
    legacy_writer::checkpoint_doc(&kv, &doc);
    for edit in 0..4u32 {
        let before = doc.transact().state_vector();
        {
            let mut txn = doc.transact_mut();
            txn.get_or_insert_map("sys").insert(&mut txn, "lastEdit", edit);
        }
        let delta = doc.transact().encode_state_as_update_v1(&before);
        legacy_writer::append_update(&kv, &delta);
    }
    kv
}

/// A small deterministic generator for ids and note text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn file_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        (0..21).map(|_| ALPHABET[(self.next() % 64) as usize] as char).collect()
    }

    fn note_body(&mut self, len: usize) -> String {
        const WORDS: &str = "vault note sync the of and a markdown link idea todo meeting project \
            draft review obsidian yjs server durable object with for on in journal daily #tag \
            [[Backlink]]";
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        let mut body = String::with_capacity(len + 16);
        body.push_str("# Heading\n\n");
        while body.len() < len {
            body.push_str(words[(self.next() % words.len() as u64) as usize]);
            body.push(if self.next().is_multiple_of(12) { '\n' } else { ' ' });
        }
        body
    }
}
