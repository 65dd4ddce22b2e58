//! Browsing and restoring a snapshot's notes with real yrs documents of
//! each schema the plugin has written (1: `pathToId` authoritative; 2: flat
//! `meta` objects; 3: nested `meta` maps), over the in-memory bucket:
//! the pack and manifest a snapshot writes, the comparison with the live
//! vault, the restore's writes checked against the plugin's shapes, the
//! request checks, and a snapshot without a pack browsed from its payload.

use std::collections::HashMap;

use futures::executor::block_on;
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Doc, GetString, Map, MapPrelim, Out, ReadTxn, Text, TextPrelim, Transact, Update, WriteTxn,
};

use yaos_server::bucket::memory::MemoryBucket;
use yaos_server::doc_model::notes::PathIndex;
use yaos_server::doc_model::restore::{self, Action, Restoring, Writer};
use yaos_server::snapshot::browse::{
    browse, check_note_path, parse_restore_request, RequestError, MAX_RESTORE_PATHS,
};
use yaos_server::snapshot::notes_pack::{read_note, write_pack, NotesManifest, PackError};
use yaos_server::snapshot::payload::write_payload;
use yaos_server::snapshot::vault::{Stamp, VaultSnapshots};
use yaos_server::snapshot::vault_notes::NotesError;

const NOW: u64 = 1_779_963_072_345;

/// A vault of `schema` with the given notes (path, text, deleted).
fn vault(schema: i64, notes: &[(&str, &str, bool)]) -> Doc {
    let doc = Doc::with_client_id(11);
    {
        let mut txn = doc.transact_mut();
        let (meta, texts) = (txn.get_or_insert_map("meta"), txn.get_or_insert_map("idToText"));
        let path_to_id = txn.get_or_insert_map("pathToId");
        for (i, (path, text, deleted)) in notes.iter().enumerate() {
            let id = format!("id{i}");
            texts.insert(&mut txn, id.as_str(), TextPrelim::new(*text));
            let stamp = ("deletedAt", "mtime");
            let key = if *deleted { stamp.0 } else { stamp.1 };
            if schema >= 3 {
                let entry = MapPrelim::from([("path", Any::from(*path)), (key, Any::from(1000.0))]);
                meta.insert(&mut txn, id.as_str(), entry);
            } else {
                let object = HashMap::from([
                    ("path".to_owned(), Any::from(*path)),
                    (key.to_owned(), Any::from(1000.0)),
                ]);
                meta.insert(&mut txn, id.as_str(), Any::from(object));
            }
            if schema < 2 && !deleted {
                path_to_id.insert(&mut txn, *path, id.as_str());
            }
        }
        txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", schema);
    }
    doc
}

fn manifest_of(doc: &Doc) -> (NotesManifest, Vec<u8>) {
    let (mut pack, mut manifest) = (Vec::new(), Vec::new());
    write_pack(doc, &mut pack, &mut manifest).unwrap();
    (NotesManifest::parse(manifest).unwrap(), pack)
}

fn text_at(doc: &Doc, path: &str) -> Option<String> {
    let txn = doc.transact();
    let id = PathIndex::of(&txn).active.get(path)?.to_string();
    match txn.get_map("idToText")?.get(&txn, &id)? {
        Out::YText(text) => Some(text.get_string(&txn)),
        _ => None,
    }
}

/// A device's copy of `doc`, as after a sync.
fn replica(doc: &Doc) -> Doc {
    let copy = Doc::new();
    let update = doc.transact().encode_state_as_update_v1(&Default::default());
    copy.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
    copy
}

fn restore_into(doc: &Doc, notes: &[Restoring<'_>]) -> Vec<restore::Planned> {
    let mut n = 0u8;
    let mut random = || {
        n += 1;
        [n; 12]
    };
    let writer = Writer { now_ms: NOW, device: Some("laptop"), random_id: &mut random };
    restore::apply(&mut doc.transact_mut(), notes, writer)
}

#[test]
fn the_pack_lists_active_notes_only_and_gives_each_text_back() {
    for schema in [1, 2, 3] {
        let doc = vault(
            schema,
            &[("b.md", "bee", false), ("a/x.md", "ex ✓", false), ("d.md", "gone", true)],
        );
        let (manifest, pack) = manifest_of(&doc);
        let paths: Vec<String> = manifest.notes().map(|n| n.path.into_owned()).collect();
        assert_eq!(paths, ["a/x.md", "b.md"], "schema {schema}");
        assert_eq!(manifest.schema_version(), Some(schema));
        for (note, text) in manifest.notes().zip(["ex ✓", "bee"]) {
            let range = &pack[note.offset as usize..(note.offset + note.length) as usize];
            assert_eq!(read_note(&note, range).unwrap(), text);
            assert_eq!(note.bytes, text.len() as u64);
        }
        assert_eq!(manifest.find("b.md").map(|n| n.bytes), Some(3));
    }
}

#[test]
fn a_damaged_pack_or_manifest_is_an_error_not_a_panic() {
    let doc = vault(3, &[("a.md", "some text that compresses, some text", false)]);
    let (manifest, pack) = manifest_of(&doc);
    let note = manifest.notes().next().unwrap();
    let mut flipped = pack.clone();
    flipped[1] ^= 0xff;
    assert!(matches!(read_note(&note, &flipped), Err(PackError::Note(_))));
    assert!(matches!(read_note(&note, &pack[..2]), Err(PackError::Note(_))));
    let mut lying = note.clone();
    lying.bytes = 3;
    assert!(
        matches!(read_note(&lying, &pack), Err(PackError::Note(_))),
        "inflation stops at the size"
    );
    let header = r#"{"format":1,"schemaVersion":3,"notes":1}"#;
    for bad in [
        String::new(),
        "{}".to_owned(),
        r#"{"format":9,"schemaVersion":null,"notes":0}"#.to_owned(),
        format!("{header}\n[\"a.md\",1]"),
        format!("{header}\nnot json"),
    ] {
        assert!(NotesManifest::parse(bad.clone().into_bytes()).is_err(), "{bad}");
    }
    assert!(NotesManifest::parse(vec![0xff, 0xfe]).is_err(), "not UTF-8");
}

#[test]
fn browsing_compares_with_the_live_vault_in_flat_and_nested_schemas() {
    for schema in [2, 3] {
        let snapshot = vault(
            schema,
            &[
                ("keep.md", "same", false),
                ("edit.md", "old", false),
                ("del.md", "x", false),
                ("ren.md", "r", false),
            ],
        );
        let (manifest, _) = manifest_of(&snapshot);
        let live = replica(&snapshot);
        {
            let mut txn = live.transact_mut();
            let meta = txn.get_or_insert_map("meta");
            let texts = txn.get_or_insert_map("idToText");
            if let Some(Out::YText(text)) = texts.get(&txn, "id1") {
                text.insert(&mut txn, 0, "new ");
            }
            let tombstone = HashMap::from([
                ("path".to_owned(), Any::from("del.md")),
                ("deletedAt".to_owned(), Any::from(2000.0)),
            ]);
            meta.insert(&mut txn, "id2", Any::from(tombstone));
            meta.remove(&mut txn, "id3");
            for (id, path) in [("id8", "zz.md"), ("id9", "added.md")] {
                let added = HashMap::from([("path".to_owned(), Any::from(path))]);
                meta.insert(&mut txn, id, Any::from(added));
                texts.insert(&mut txn, id, TextPrelim::new("a"));
            }
        }
        let txn = live.transact();
        let json: serde_json::Value =
            serde_json::from_slice(&browse(&txn, "snap", &manifest)).unwrap();
        let now: Vec<(&str, &str, bool)> = json["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let (path, now) = (n["path"].as_str().unwrap(), n["now"].as_str().unwrap());
                (path, now, n["changed"].as_bool().unwrap())
            })
            .collect();
        assert_eq!(
            now,
            [
                ("del.md", "deleted", false),
                ("edit.md", "active", true),
                ("keep.md", "active", false),
                ("ren.md", "absent", false),
            ],
            "schema {schema}"
        );
        assert_eq!(json["notes"][1]["bytes"], 3);
        assert_eq!(json["snapshotId"], "snap");
        assert_eq!(json["schemaVersion"], schema);
        assert_eq!(
            json["comparison"],
            serde_json::json!({"added": ["added.md", "zz.md"], "deleted": ["del.md", "ren.md"], "changed": ["edit.md"], "unchanged": 1})
        );
    }
}

#[test]
fn a_deleted_note_comes_back_as_the_plugin_creates_one_and_a_replica_sees_it() {
    for schema in [1, 2, 3] {
        let live =
            vault(schema, &[("gone.md", "deleted text now", true), ("other.md", "o", false)]);
        let device = replica(&live);
        let before = live.transact().state_vector();
        let done = restore_into(&live, &[Restoring { path: "gone.md", text: "the old text" }]);
        assert_eq!(done[0].action, Action::Revive);
        assert_eq!((done[0].bytes_before, done[0].bytes_after), (None, 12));
        // What the restore wrote reaches the device as one update.
        let update = live.transact().encode_state_as_update_v1(&before);
        device.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
        for doc in [&live, &device] {
            assert_eq!(text_at(doc, "gone.md").as_deref(), Some("the old text"), "schema {schema}");
            let txn = doc.transact();
            let meta = txn.get_map("meta").unwrap();
            assert!(meta.get(&txn, "id0").is_none(), "the tombstone is removed");
            let id = PathIndex::of(&txn).active["gone.md"].to_string();
            assert_eq!(id.len(), 16, "12 random bytes in base64url");
            let entry = meta.get(&txn, &id).unwrap();
            let fields: HashMap<String, Any> = match (&entry, schema >= 3) {
                (Out::YMap(map), true) => map
                    .iter(&txn)
                    .map(|(k, v)| {
                        (
                            k.to_owned(),
                            match v {
                                Out::Any(a) => a,
                                _ => Any::Null,
                            },
                        )
                    })
                    .collect(),
                (Out::Any(Any::Map(map)), false) => (**map).clone(),
                other => panic!("schema {schema}: meta shape {other:?}"),
            };
            let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, ["device", "mtime", "path"]);
            assert_eq!(fields["mtime"], Any::from(NOW as f64));
            assert_eq!(fields["device"], Any::from("laptop"));
            let legacy = txn.get_map("pathToId").and_then(|m| m.get(&txn, "gone.md"));
            match schema {
                1 => assert_eq!(legacy, Some(Out::Any(Any::from(id.as_str())))),
                _ => assert_eq!(legacy, None, "pathToId is not written from schema 2"),
            }
        }
    }
}

#[test]
fn an_overwritten_note_gets_its_text_back_in_place_and_meta_is_untouched() {
    let live = vault(3, &[("n.md", "héllo wörld, the end", false)]);
    {
        let mut txn = live.transact_mut();
        if let Some(Out::YText(text)) = txn.get_or_insert_map("idToText").get(&txn, "id0") {
            let len = text.len(&txn);
            text.remove_range(&mut txn, 0, len);
            text.insert(&mut txn, 0, "héllo THERE, the end");
        }
    }
    let meta_before = live.transact().get_map("meta").unwrap().to_json(&live.transact());
    let done = restore_into(&live, &[Restoring { path: "n.md", text: "héllo wörld, the end" }]);
    assert_eq!(done[0].action, Action::Replace);
    assert_eq!(text_at(&live, "n.md").as_deref(), Some("héllo wörld, the end"));
    let txn = live.transact();
    assert_eq!(&*PathIndex::of(&txn).active["n.md"], "id0", "the same note, edited in place");
    assert_eq!(txn.get_map("meta").unwrap().to_json(&txn), meta_before);
    drop(txn);
    let again = restore_into(&live, &[Restoring { path: "n.md", text: "héllo wörld, the end" }]);
    assert_eq!(again[0].action, Action::Unchanged);
}

#[test]
fn a_path_unknown_now_is_created_and_the_plan_writes_nothing() {
    let live = vault(3, &[("x.md", "x", false)]);
    let before = live.transact().state_vector();
    let notes =
        [Restoring { path: "new/one.md", text: "1" }, Restoring { path: "x.md", text: "y" }];
    let plan = restore::plan(&live.transact(), &notes);
    let actions: Vec<Action> = plan.iter().map(|p| p.action).collect();
    assert_eq!(actions, [Action::Create, Action::Replace]);
    assert_eq!(live.transact().state_vector(), before, "a plan is a dry run");
    let done = restore_into(&live, &notes);
    assert_eq!(done, plan);
    assert_eq!(text_at(&live, "new/one.md").as_deref(), Some("1"));
}

#[test]
fn paths_and_restore_bodies_are_checked() {
    for ok in ["a.md", "Folder/Sub/ü note.md", "a..b.md"] {
        assert!(check_note_path(ok).is_ok(), "{ok}");
    }
    let long = "a".repeat(1025);
    for bad in [
        "",
        "/a.md",
        "a//b.md",
        "../a.md",
        "a/./b.md",
        "a\\b.md",
        "a\0.md",
        "a\n.md",
        long.as_str(),
    ] {
        assert!(matches!(check_note_path(bad), Err(RequestError::InvalidPath { .. })), "{bad:?}");
    }
    let parsed = parse_restore_request(
        br#"{"paths":["a.md","a.md","b.md"],"dryRun":true,"device":" me\n"}"#,
    )
    .unwrap();
    assert_eq!(parsed.paths, ["a.md", "b.md"], "duplicates dropped");
    assert!(parsed.dry_run);
    assert_eq!(parsed.device.as_deref(), Some("me"));
    assert!(!parse_restore_request(br#"{"paths":["a.md"]}"#).unwrap().dry_run);
    for bad in [
        &br#"{"paths":[]}"#[..],
        b"{}",
        b"nope",
        br#"{"paths":["a.md"],"extra":1}"#,
        br#"{"paths":["../x"]}"#,
    ] {
        assert!(parse_restore_request(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let many: Vec<String> = (0..=MAX_RESTORE_PATHS).map(|i| format!("n{i}.md")).collect();
    let body = serde_json::json!({ "paths": many }).to_string();
    assert_eq!(
        parse_restore_request(body.as_bytes()),
        Err(RequestError::TooManyPaths { given: MAX_RESTORE_PATHS + 1 })
    );
}

#[test]
fn a_snapshot_without_a_pack_gets_one_from_its_payload_once() {
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let doc = vault(2, &[("a.md", "alpha", false), ("b.md", "beta", false)]);
    let index = block_on(snaps.create(
        &doc,
        Stamp { now_ms: NOW, random: [1, 2, 3, 4] },
        yaos_server::snapshot::index::Reason::Manual,
        None,
    ))
    .unwrap();
    let id = index.snapshot_id().unwrap().to_owned();
    let keys = snaps.keys_of(&id).unwrap();
    // As a snapshot made before packs (or by the TypeScript server) is.
    bucket.remove(&keys.manifest);
    bucket.remove(&keys.pack);
    let manifest = block_on(snaps.manifest(&id)).unwrap();
    assert!(bucket.object(&keys.pack).is_some() && bucket.object(&keys.manifest).is_some());
    let texts =
        block_on(snaps.note_texts(&id, &manifest, &["b.md".into(), "a.md".into()])).unwrap();
    assert_eq!(texts, ["beta", "alpha"]);
    let missing = block_on(snaps.note_texts(&id, &manifest, &["c.md".into()]));
    assert!(matches!(missing, Err(NotesError::NotInSnapshot(p)) if p == ["c.md"]));
    assert!(matches!(
        block_on(snaps.manifest("zz-00000000")),
        Err(NotesError::SnapshotNotFound(_))
    ));
    // A payload that is not gzip is an error naming it.
    let mut payload = Vec::new();
    write_payload(&doc, &mut payload).unwrap();
    bucket.insert(&keys.payload, b"not gzip".to_vec(), "application/gzip");
    bucket.remove(&keys.manifest);
    assert!(matches!(block_on(snaps.manifest(&id)), Err(NotesError::Pack(PackError::Payload(_)))));
}
