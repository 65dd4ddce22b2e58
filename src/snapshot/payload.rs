//! A snapshot's payload, `crdt.bin.gz`: the document's full update
//! (`Y.encodeStateAsUpdate`), gzipped, built without a full-size copy.
//!
//! The update is streamed out of the document in 64 KiB pieces; each piece
//! goes through SHA-256 and a gzip encoder whose output goes straight into
//! the bucket's payload (JavaScript memory on the platform). Wasm memory
//! grows by the encoder's state and a few pieces, not by the update's size.
//! The update is the canonical encoding of [`crate::encode`], so the same
//! document hashes the same after a restart and `maybe` stays a noop.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use yrs::{Doc, Transact};

use super::index::PayloadStats;
use crate::bucket::PayloadSink;
use crate::encode::write_canonical_full_update_v1;
use crate::hex::lower_hex;

/// The gzip level: 1 (fastest). The payload is built synchronously inside the
/// room's turn, so every client of the vault waits for it: at 10,000 notes
/// level 6 (zlib's default, which the TypeScript server's `fflate` used)
/// takes 1.7 s natively for a 4.7 MB payload, level 1 0.22 s for 6.8 MB
/// (`engineering/benchmarks.md`, `memory_profile --gzip-level`). Storage is
/// cheap; a stalled vault is not.
pub const GZIP_LEVEL: u32 = 1;

/// SHA-256 hex of the document's full update, streamed (nothing kept).
pub fn full_update_hash(doc: &Doc) -> String {
    let mut hasher = Sha256::new();
    write_canonical_full_update_v1(&doc.transact(), &mut |piece| hasher.update(piece));
    lower_hex(&hasher.finalize())
}

/// Writes the gzipped full update into `sink` and returns its sizes and the
/// raw update's hash, all from one pass over one transaction.
pub fn write_payload<S: PayloadSink>(doc: &Doc, sink: &mut S) -> io::Result<PayloadStats> {
    write_payload_at_level(doc, sink, GZIP_LEVEL)
}

/// [`write_payload`] at another gzip level (0 to 9): for the benchmark that
/// weighs [`GZIP_LEVEL`] (`examples/memory_profile --gzip-level`).
pub fn write_payload_at_level<S: PayloadSink>(
    doc: &Doc,
    sink: &mut S,
    level: u32,
) -> io::Result<PayloadStats> {
    let start = sink.len();
    let mut hasher = Sha256::new();
    let mut raw_bytes = 0u64;
    let mut gzip = GzEncoder::new(SinkWriter(sink), Compression::new(level.min(9)));
    let mut failed = None;
    write_canonical_full_update_v1(&doc.transact(), &mut |piece| {
        if failed.is_some() {
            return;
        }
        hasher.update(piece);
        raw_bytes += piece.len() as u64;
        if let Err(e) = gzip.write_all(piece) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let SinkWriter(sink) = gzip.finish()?;
    Ok(PayloadStats {
        raw_bytes,
        gzip_bytes: sink.len() - start,
        full_update_hash: lower_hex(&hasher.finalize()),
    })
}

/// `io::Write` over a payload sink.
struct SinkWriter<'a, S: PayloadSink>(&'a mut S);

impl<S: PayloadSink> Write for SinkWriter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;
    use yrs::updates::decoder::Decode;
    use yrs::{Map, ReadTxn, TextPrelim, Update, WriteTxn};

    fn vault(notes: usize) -> Doc {
        let doc = Doc::with_client_id(42);
        {
            let mut txn = doc.transact_mut();
            let texts = txn.get_or_insert_map("idToText");
            for i in 0..notes {
                texts.insert(
                    &mut txn,
                    format!("id{i}"),
                    TextPrelim::new(format!("note {i} ").repeat(50)),
                );
            }
        }
        doc
    }

    #[test]
    fn the_payload_is_gzip_of_an_update_that_rebuilds_the_document() {
        let doc = vault(300);
        let mut payload = Vec::new();
        let stats = write_payload(&doc, &mut payload).unwrap();
        assert_eq!(&payload[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(stats.gzip_bytes, payload.len() as u64);
        let mut raw = Vec::new();
        GzDecoder::new(&payload[..]).read_to_end(&mut raw).unwrap();
        assert_eq!(stats.raw_bytes, raw.len() as u64);
        assert_eq!(stats.full_update_hash, crate::hex::sha256_hex(&raw));
        assert_eq!(stats.full_update_hash, full_update_hash(&doc));
        assert!(stats.gzip_bytes < stats.raw_bytes / 4, "repetitive text compresses");
        let copy = Doc::new();
        copy.transact_mut().apply_update(Update::decode_v1(&raw).unwrap()).unwrap();
        assert_eq!(
            full_update_hash(&copy),
            stats.full_update_hash,
            "the decoded document is the same"
        );
        let txn = copy.transact();
        let text = txn.get_map("idToText").and_then(|m| m.get(&txn, "id7"));
        assert!(matches!(text, Some(yrs::Out::YText(_))));
    }

    #[test]
    fn the_hash_follows_every_change_deletions_included() {
        let doc = vault(3);
        let before = full_update_hash(&doc);
        assert_eq!(full_update_hash(&doc), before, "stable");
        {
            let mut txn = doc.transact_mut();
            let texts = txn.get_or_insert_map("idToText");
            texts.remove(&mut txn, "id1");
        }
        assert_ne!(full_update_hash(&doc), before, "a deletion changes the hash");
    }
}
