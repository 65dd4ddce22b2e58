//! Snapshots over the in-memory bucket with real yrs documents: the write
//! order, the daily dedup decision, manual snapshots, listing, status and
//! retention over stored objects of both the new and the older index shapes.

use futures::executor::block_on;
use serde_json::{json, Value};
use yrs::{Doc, GetString, Map, Text, TextPrelim, Transact, WriteTxn};

use yaos_server::bucket::memory::MemoryBucket;
use yaos_server::diagnostics::timefmt::iso_from_ms;
use yaos_server::snapshot::id::new_snapshot_id;
use yaos_server::snapshot::retention::DEFAULT_RETENTION;
use yaos_server::snapshot::vault::{DailyOutcome, Stamp, VaultSnapshots};

const DAY: u64 = 86_400_000;
const NOW: u64 = 1_779_963_072_345; // 2026-05-28T10:11:12.345Z

fn stamp(now_ms: u64, n: u8) -> Stamp {
    Stamp { now_ms, random: [n, 0xab, 0xcd, 0xef] }
}

fn vault() -> Doc {
    let doc = Doc::with_client_id(7);
    {
        let mut txn = doc.transact_mut();
        let path_to_id = txn.get_or_insert_map("pathToId");
        let texts = txn.get_or_insert_map("idToText");
        for i in 0..20 {
            path_to_id.insert(&mut txn, format!("n{i}.md"), format!("id{i}"));
            texts.insert(&mut txn, format!("id{i}"), TextPrelim::new(format!("note {i}")));
        }
        txn.get_or_insert_map("sys").insert(&mut txn, "schemaVersion", 3);
    }
    doc
}

fn edit(doc: &Doc) {
    let mut txn = doc.transact_mut();
    let texts = txn.get_or_insert_map("idToText");
    if let Some(yrs::Out::YText(text)) = texts.get(&txn, "id0") {
        text.insert(&mut txn, 0, "edited ");
    }
}

/// Stores an index (and a payload) directly, as an older server would have.
fn seed(bucket: &MemoryBucket, vault: &str, created_ms: u64, n: u8, fields: Value) -> String {
    let id = new_snapshot_id(created_ms, [n, 1, 2, 3]);
    let day = yaos_server::snapshot::id::utc_day(created_ms);
    let mut index = json!({"snapshotId": id, "vaultId": vault, "createdAt": iso_from_ms(created_ms), "day": day, "crdtSizeBytes": 3});
    for (k, v) in fields.as_object().unwrap() {
        index[k] = v.clone();
    }
    let dir = format!("v1/{vault}/snapshots/{day}/{id}");
    bucket.insert(&format!("{dir}/index.json"), index.to_string(), "application/json");
    bucket.insert(&format!("{dir}/crdt.bin.gz"), vec![1, 2, 3], "application/gzip");
    id
}

#[test]
fn a_snapshot_writes_payload_and_index_before_the_pointer() {
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let doc = vault();
    let index = block_on(snaps.create(
        &doc,
        stamp(NOW, 1),
        yaos_server::snapshot::index::Reason::Daily,
        Some("phone".into()),
    ))
    .unwrap();
    let id = index.snapshot_id().unwrap().to_owned();
    let dir = format!("v1/v/snapshots/2026-05-28/{id}");
    let writes = bucket.writes.borrow().clone();
    assert_eq!(writes.len(), 5);
    assert_eq!(writes[4], "put v1/v/snapshots/latest-index.json", "pointer last");
    for file in ["crdt.bin.gz", "index.json", "notes.jsonl", "notes.pack"] {
        assert!(writes[..4].contains(&format!("put {dir}/{file}")), "{file}");
    }
    let payload = bucket.object(&format!("{dir}/crdt.bin.gz")).unwrap();
    assert_eq!(payload.content_type, "application/gzip");
    let json = index.to_json();
    assert_eq!(json["crdtSizeBytes"], payload.body.len() as u64);
    assert_eq!(json["markdownFileCount"], 20);
    assert_eq!(json["schemaVersion"], 3);
    assert_eq!(json["triggeredBy"], "phone");
    assert_eq!((json["pinned"].clone(), json["reason"].clone()), (json!(false), json!("daily")));
    let pointer: Value =
        serde_json::from_slice(&bucket.object("v1/v/snapshots/latest-index.json").unwrap().body)
            .unwrap();
    assert_eq!(pointer, json);
}

#[test]
fn a_failed_payload_write_leaves_no_pointer() {
    let bucket = MemoryBucket::new();
    bucket.fail_payload_puts.set(true);
    let snaps = VaultSnapshots::new(&bucket, "v");
    assert!(block_on(snaps.maybe_daily(&vault(), stamp(NOW, 1), None)).is_err());
    assert!(bucket.object("v1/v/snapshots/latest-index.json").is_none());
}

#[test]
fn daily_creates_then_noops_until_the_document_changes() {
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let doc = vault();
    let first = block_on(snaps.maybe_daily(&doc, stamp(NOW, 1), None)).unwrap();
    assert!(matches!(first, DailyOutcome::Created { .. }), "{first:?}");
    let again = block_on(snaps.maybe_daily(&doc, stamp(NOW + 1000, 2), None)).unwrap();
    assert_eq!(again.to_json()["status"], "noop");
    edit(&doc);
    let changed = block_on(snaps.maybe_daily(&doc, stamp(NOW + 2000, 3), None)).unwrap();
    assert_eq!(changed.to_json()["status"], "created");
    // A deletion alone changes the full update too.
    {
        let mut txn = doc.transact_mut();
        txn.get_or_insert_map("pathToId").remove(&mut txn, "n3.md");
    }
    let deleted = block_on(snaps.maybe_daily(&doc, stamp(NOW + 3000, 4), None)).unwrap();
    assert_eq!(deleted.to_json()["status"], "created");
}

#[test]
fn a_poisoned_pointer_does_not_block_the_daily_snapshot() {
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let doc = vault();
    let DailyOutcome::Created { index, .. } =
        block_on(snaps.maybe_daily(&doc, stamp(NOW, 1), None)).unwrap()
    else {
        panic!("created")
    };
    let keys = snaps.keys_of(index.snapshot_id().unwrap()).unwrap();
    bucket.remove(&keys.payload);
    let outcome = block_on(snaps.maybe_daily(&doc, stamp(NOW + 1, 2), None)).unwrap();
    assert_eq!(outcome.to_json()["status"], "created", "the pointed payload is missing");
    // A payload whose size disagrees with the index is poisoned too.
    let DailyOutcome::Created { index, .. } = outcome else { unreachable!() };
    let keys = snaps.keys_of(index.snapshot_id().unwrap()).unwrap();
    bucket.insert(&keys.payload, vec![0u8; 5], "application/gzip");
    let outcome = block_on(snaps.maybe_daily(&doc, stamp(NOW + 2, 3), None)).unwrap();
    assert_eq!(outcome.to_json()["status"], "created");
}

#[test]
fn older_pointers_decide_as_the_typescript_server_did() {
    let doc = vault();
    // Only stateVectorHash: always create.
    let bucket = MemoryBucket::new();
    let id = seed(&bucket, "v", NOW - 1000, 1, json!({"stateVectorHash": "ab"}));
    let pointer = bucket.object(&format!("v1/v/snapshots/2026-05-28/{id}/index.json")).unwrap();
    bucket.insert("v1/v/snapshots/latest-index.json", pointer.body, "application/json");
    let snaps = VaultSnapshots::new(&bucket, "v");
    assert_eq!(
        block_on(snaps.maybe_daily(&doc, stamp(NOW, 2), None)).unwrap().to_json()["status"],
        "created"
    );
    // No hash fields: one per day.
    let bucket = MemoryBucket::new();
    let id = seed(&bucket, "v", NOW - 1000, 1, json!({}));
    let pointer = bucket.object(&format!("v1/v/snapshots/2026-05-28/{id}/index.json")).unwrap();
    bucket.insert("v1/v/snapshots/latest-index.json", pointer.body, "application/json");
    let snaps = VaultSnapshots::new(&bucket, "v");
    let outcome = block_on(snaps.maybe_daily(&doc, stamp(NOW, 2), None)).unwrap().to_json();
    assert_eq!(outcome["status"], "noop");
    assert_eq!(outcome["reason"], "Snapshot already taken today (2026-05-28)");
    assert_eq!(
        block_on(snaps.maybe_daily(&doc, stamp(NOW + DAY, 3), None)).unwrap().to_json()["status"],
        "created"
    );
}

#[test]
fn manual_snapshots_are_pinned_and_say_whether_they_equal_the_latest() {
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let doc = vault();
    let first = block_on(snaps.create_manual(&doc, stamp(NOW, 1), None)).unwrap();
    assert!(!first.identical_to_latest, "nothing to compare with");
    assert_eq!(first.index.to_json()["pinned"], true);
    assert_eq!(first.index.to_json()["reason"], "manual");
    let second = block_on(snaps.create_manual(&doc, stamp(NOW + 1, 2), Some("laptop".into())))
        .unwrap()
        .to_json();
    assert_eq!(
        (second["snapshotIdenticalToLatest"].clone(), second["semanticUnchanged"].clone()),
        (json!(true), json!(true))
    );
    edit(&doc);
    let third = block_on(snaps.create_manual(&doc, stamp(NOW + 2, 3), None)).unwrap();
    assert!(!third.identical_to_latest);
}

#[test]
fn listing_is_newest_first_limited_and_skips_the_pointer_and_junk() {
    let bucket = MemoryBucket::new();
    let ids: Vec<String> = (0..5)
        .map(|i| seed(&bucket, "v", NOW - (i as u64) * DAY, i, json!({"reason": "daily"})))
        .collect();
    seed(&bucket, "other", NOW, 9, json!({}));
    bucket.insert("v1/v/snapshots/latest-index.json", "{}", "application/json");
    bucket.insert(
        "v1/v/snapshots/2026-01-01/broken-00000000/index.json",
        "not json",
        "application/json",
    );
    let snaps = VaultSnapshots::new(&bucket, "v");
    let all = block_on(snaps.list(None)).unwrap();
    let listed: Vec<&str> = all.indexes().map(|s| s.snapshot_id().unwrap()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all.total_index_keys, 6, "the unparseable index counts as a key");
    let two = block_on(snaps.list(Some(2))).unwrap();
    assert_eq!(two.to_json(true)["fetchedCount"], 2);
    assert_eq!(two.to_json(true)["limited"], true);
    assert_eq!(two.to_json(false).as_object().unwrap().len(), 1);
    let status = block_on(snaps.status()).unwrap();
    assert_eq!(status["snapshotCount"], 6);
    assert_eq!(status["listedSnapshotCount"], 5);
    assert_eq!(status["estimatedStorageBytes"], 15);
    assert_eq!(status["latestSnapshotId"], Value::Null, "the pointer has no id");
}

#[test]
fn retention_prunes_old_dailies_and_keeps_the_rest() {
    let bucket = MemoryBucket::new();
    let keep_recent = seed(&bucket, "v", NOW - 2 * DAY, 1, json!({"reason": "daily"}));
    let old_daily = seed(&bucket, "v", NOW - 500 * DAY, 2, json!({"reason": "daily"}));
    let old_pinned =
        seed(&bucket, "v", NOW - 501 * DAY, 3, json!({"reason": "daily", "pinned": true}));
    let old_legacy = seed(&bucket, "v", NOW - 502 * DAY, 4, json!({"stateVectorHash": "x"}));
    let old_manual = seed(&bucket, "v", NOW - 503 * DAY, 5, json!({"reason": "manual"}));
    let snaps = VaultSnapshots::new(&bucket, "v");
    let outcome = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, false)).unwrap();
    assert_eq!((outcome.kept, outcome.pruned, outcome.failed), (4, 1, 0));
    let remaining: Vec<String> = block_on(snaps.list(None))
        .unwrap()
        .indexes()
        .map(|s| s.snapshot_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        remaining,
        vec![keep_recent.clone(), old_pinned.clone(), old_legacy.clone(), old_manual.clone()]
    );
    assert!(!bucket.keys().iter().any(|k| k.contains(&old_daily)), "both objects deleted");
    // Legacy pruning, then a failing delete.
    let outcome = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, true)).unwrap();
    assert_eq!(outcome.pruned, 1);
    seed(&bucket, "v", NOW - 600 * DAY, 6, json!({"reason": "daily"}));
    bucket.fail_deletes.set(true);
    let outcome = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, false)).unwrap();
    assert_eq!((outcome.pruned, outcome.failed, outcome.errors.len()), (0, 1, 1));
    assert_eq!(outcome.trace_json(false)["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn the_payload_round_trips_to_the_live_document() {
    use flate2::read::GzDecoder;
    use std::io::Read;
    use yrs::updates::decoder::Decode;
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let doc = vault();
    let outcome = block_on(snaps.create_manual(&doc, stamp(NOW, 1), None)).unwrap();
    let keys = snaps.keys_of(outcome.index.snapshot_id().unwrap()).unwrap();
    let mut raw = Vec::new();
    GzDecoder::new(&bucket.object(&keys.payload).unwrap().body[..]).read_to_end(&mut raw).unwrap();
    let copy = Doc::new();
    copy.transact_mut().apply_update(yrs::Update::decode_v1(&raw).unwrap()).unwrap();
    let text = {
        let txn = copy.transact();
        let texts = yrs::ReadTxn::get_map(&txn, "idToText").unwrap();
        match texts.get(&txn, "id5") {
            Some(yrs::Out::YText(t)) => t.get_string(&txn),
            _ => String::new(),
        }
    };
    assert_eq!(text, "note 5");
}

#[test]
fn a_vault_never_lists_or_prunes_the_snapshots_of_a_vault_named_under_it() {
    let bucket = MemoryBucket::new();
    let own = seed(&bucket, "p", NOW - 500 * DAY, 1, json!({"reason": "daily"}));
    let newest = seed(&bucket, "p", NOW, 2, json!({"reason": "daily"}));
    // Vaults whose IDs put their objects under `v1/p/snapshots/`.
    let nested: Vec<String> =
        ["p/snapshots/x", "p/snapshots/2026-01-01", "p/snapshots/2026-01-01/y"]
            .iter()
            .enumerate()
            .map(|(i, other)| {
                let id =
                    seed(&bucket, other, NOW - 600 * DAY, 10 + i as u8, json!({"reason": "daily"}));
                bucket.insert(
                    &format!("v1/{other}/snapshots/latest-index.json"),
                    "{}",
                    "application/json",
                );
                id
            })
            .collect();
    let snaps = VaultSnapshots::new(&bucket, "p");
    let listing = block_on(snaps.list(None)).unwrap();
    let listed: Vec<&str> = listing.indexes().map(|s| s.snapshot_id().unwrap()).collect();
    assert_eq!(listed, [newest.as_str(), own.as_str()], "only p's own snapshots");
    assert_eq!(listing.total_index_keys, 2);
    let outcome = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, true)).unwrap();
    assert_eq!((outcome.pruned, outcome.failed), (1, 0), "p's old daily only");
    for id in &nested {
        assert_eq!(
            bucket.keys().iter().filter(|k| k.contains(id.as_str())).count(),
            2,
            "{id} kept"
        );
    }
    // Their own listing still finds them.
    let other = VaultSnapshots::new(&bucket, "p/snapshots/x");
    assert_eq!(block_on(other.list(None)).unwrap().indexes().count(), 1);
}

#[test]
fn a_long_device_name_is_cut_on_a_character_boundary() {
    use yaos_server::edge::snapshots::{device_of, MAX_SNAPSHOT_DEVICE_CHARS};
    let long = "é".repeat(MAX_SNAPSHOT_DEVICE_CHARS * 100);
    let body = json!({ "device": long }).to_string();
    let device = device_of(body.as_bytes()).unwrap();
    assert_eq!(device.chars().count(), MAX_SNAPSHOT_DEVICE_CHARS);
    assert_eq!(device_of(br#"{"device":"phone"}"#).as_deref(), Some("phone"));
    // What is stored in the index and the pointer is the cut name.
    let bucket = MemoryBucket::new();
    let snaps = VaultSnapshots::new(&bucket, "v");
    let index = block_on(snaps.create_manual(&vault(), stamp(NOW, 1), Some(device))).unwrap().index;
    assert_eq!(
        index.to_json()["triggeredBy"].as_str().unwrap().chars().count(),
        MAX_SNAPSHOT_DEVICE_CHARS
    );
    let pointer = bucket.object("v1/v/snapshots/latest-index.json").unwrap();
    assert!(pointer.body.len() < 1024, "{} bytes", pointer.body.len());
}

#[test]
fn manual_snapshots_are_rate_limited_per_vault() {
    use yaos_server::snapshot::manual_gate::{
        ManualSnapshotGate, MANUAL_SNAPSHOTS_PER_WINDOW, MANUAL_SNAPSHOT_WINDOW_MS,
    };
    let mut gate = ManualSnapshotGate::default();
    for i in 0..MANUAL_SNAPSHOTS_PER_WINDOW as u64 {
        assert_eq!(gate.take(NOW + i), Ok(()));
    }
    let retry = gate.take(NOW + 1_000).unwrap_err();
    assert_eq!(
        retry,
        (MANUAL_SNAPSHOT_WINDOW_MS - 1_000) / 1_000,
        "seconds until the oldest leaves"
    );
    assert!(gate.take(NOW + MANUAL_SNAPSHOT_WINDOW_MS - 1).is_err());
    assert_eq!(gate.take(NOW + MANUAL_SNAPSHOT_WINDOW_MS), Ok(()), "the window moved on");
    // A clock that goes back never panics and never lets more through.
    assert!(gate.take(0).is_err());
}

#[test]
fn retention_keeps_only_the_newest_manual_snapshots() {
    use yaos_server::snapshot::retention::MAX_MANUAL_SNAPSHOTS_KEPT;
    let bucket = MemoryBucket::new();
    let extra = 3;
    let ids: Vec<String> = (0..MAX_MANUAL_SNAPSHOTS_KEPT + extra)
        .map(|i| {
            let at = NOW - (i as u64) * 60_000;
            seed(&bucket, "v", at, i as u8, json!({"reason": "manual", "pinned": true}))
        })
        .collect();
    let pinned_daily =
        seed(&bucket, "v", NOW - 900 * DAY, 250, json!({"reason": "daily", "pinned": true}));
    let snaps = VaultSnapshots::new(&bucket, "v");
    let outcome = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, false)).unwrap();
    assert_eq!((outcome.pruned, outcome.failed), (extra, 0));
    let keys = bucket.keys();
    for (i, id) in ids.iter().enumerate() {
        let present = keys.iter().any(|k| k.contains(id.as_str()));
        assert_eq!(present, i < MAX_MANUAL_SNAPSHOTS_KEPT, "manual snapshot {i}");
    }
    assert!(keys.iter().any(|k| k.contains(&pinned_daily)), "other pinned snapshots stay");
}

#[test]
fn retention_fetches_a_bounded_number_of_indexes_per_run() {
    use yaos_server::snapshot::vault::MAX_RETENTION_INDEXES_PER_RUN;
    let bucket = MemoryBucket::new();
    let total = MAX_RETENTION_INDEXES_PER_RUN + 300;
    // Old dailies, one per hour, all prunable but the newest.
    for i in 0..total {
        let at = NOW - 400 * DAY - (i as u64) * 3_600_000;
        seed(&bucket, "v", at, (i % 251) as u8, json!({"reason": "daily"}));
    }
    let snaps = VaultSnapshots::new(&bucket, "v");
    bucket.gets.set(0);
    let first = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, false)).unwrap();
    assert!(bucket.gets.get() <= MAX_RETENTION_INDEXES_PER_RUN, "{} reads", bucket.gets.get());
    assert!(first.pruned > 0 && first.pruned < total);
    // Each run makes progress; a bounded number of runs clears them.
    let mut runs = 1;
    while block_on(snaps.list(None)).unwrap().indexes().count() > 12 + 1 {
        let outcome = block_on(snaps.apply_retention(DEFAULT_RETENTION, NOW, false)).unwrap();
        assert!(outcome.pruned > 0, "run {runs} made no progress");
        runs += 1;
        assert!(runs < 10);
    }
}
