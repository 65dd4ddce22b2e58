//! The room driven by real yrs documents acting as plugin clients.

use super::*;
use yrs::{GetString, Map, Text, WriteTxn};

fn clock() -> u64 {
    1_779_963_072_345
}

fn room() -> Room {
    Room::new(clock)
}

fn text(doc: &Doc) -> String {
    let txn = doc.transact();
    txn.get_text("body").map(|t| t.get_string(&txn)).unwrap_or_default()
}

fn edit(doc: &Doc, index: u32, insert: &str) -> Vec<u8> {
    let mut txn = doc.transact_mut();
    let body = txn.get_or_insert_text("body");
    body.insert(&mut txn, index, insert);
    txn.encode_update_v1()
}

fn step1(doc: &Doc) -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep1(doc.transact().state_vector())).encode_v1()
}

fn update_frame(update: Vec<u8>) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

/// Applies a server frame to a client doc the way the provider does.
fn client_apply(doc: &Doc, frame: &[u8]) {
    match Message::decode_v1(frame).unwrap() {
        Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) => {
            doc.transact_mut().apply_update(Update::decode_v1(&u).unwrap()).unwrap();
        }
        other => panic!("unexpected frame {other:?}"),
    }
}

fn awareness_frame(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let clients = entries
        .iter()
        .map(|&(id, clock, json)| {
            (ClientID::new(id), AwarenessUpdateEntry { clock, json: json.into() })
        })
        .collect();
    Message::Awareness(AwarenessUpdate { clients }).encode_v1()
}

fn decode_awareness(frame: &[u8]) -> HashMap<u64, (u32, String)> {
    let Message::Awareness(update) = Message::decode_v1(frame).unwrap() else {
        panic!("not awareness")
    };
    update.clients.into_iter().map(|(id, e)| (id.get(), (e.clock, e.json.to_string()))).collect()
}

#[test]
fn connect_sends_step1_only_without_awareness() {
    let room = room();
    assert_eq!(room.on_connect(), vec![vec![0, 0, 1, 0]]);
    assert_eq!(room.sync_step1(), [0, 0, 1, 0]);
    assert_eq!(room.state_vector(), [0]);
    assert_eq!(room.full_update(), [0, 0]);
}

#[test]
fn handshake_and_edits_converge_across_clients() {
    let mut room = room();
    let alice = Doc::new();
    let bob = Doc::new();
    edit(&alice, 0, "hello");

    // Alice's provider: Step1 first, answered by a Step2 to her only.
    let effects = room.on_frame("alice", step1(&alice));
    assert!(!effects.update_bearing && effects.broadcast.is_empty() && effects.error.is_none());
    assert_eq!(effects.reply.as_deref().map(|f| &f[..2]), Some(&[0u8, 1][..]));
    client_apply(&alice, &effects.reply.unwrap());

    // The server's Step1 is answered with a Step2 carrying what it lacks.
    let server_sv = match Message::decode_v1(&room.on_connect()[0]).unwrap() {
        Message::Sync(SyncMessage::SyncStep1(sv)) => sv,
        other => panic!("{other:?}"),
    };
    let step2 = Message::Sync(SyncMessage::SyncStep2(alice.transact().encode_diff_v1(&server_sv)))
        .encode_v1();
    let effects = room.on_frame("alice", step2);
    assert!(effects.update_bearing && effects.doc_changed && effects.reply.is_none());
    assert_eq!(effects.broadcast.len(), 1);
    assert_eq!(text(room.doc()), "hello");
    assert_eq!(room.take_doc_updates().len(), 1);
    assert!(room.take_doc_updates().is_empty());

    // Bob joins empty and catches up through his Step1.
    let reply = room.on_frame("bob", step1(&bob)).reply.unwrap();
    client_apply(&bob, &reply);
    assert_eq!(text(&bob), "hello");

    // Bob's edit is broadcast as the doc's own update; Alice converges.
    let effects = room.on_frame("bob", update_frame(edit(&bob, 5, " world")));
    assert_eq!(effects.broadcast.len(), 1);
    assert_eq!(&effects.broadcast[0][..2], &[0, 2]);
    client_apply(&alice, &effects.broadcast[0]);
    client_apply(&bob, &effects.broadcast[0]); // the sender gets it too: a no-op
    assert_eq!(text(&alice), "hello world");
    assert_eq!(text(&bob), "hello world");
    assert_eq!(
        room.full_update(),
        alice.transact().encode_state_as_update_v1(&StateVector::default())
    );
    assert!(effects.update_bearing && effects.doc_changed);
}

#[test]
fn duplicate_updates_broadcast_nothing() {
    let mut room = room();
    let frame = update_frame(edit(&Doc::new(), 0, "x"));
    assert_eq!(room.on_frame("a", frame.clone()).broadcast.len(), 1);
    let again = room.on_frame("a", frame);
    assert!(again.update_bearing && !again.doc_changed && again.error.is_none());
    assert!(again.broadcast.is_empty());
    assert_eq!(room.take_doc_updates().len(), 1);
}

#[test]
fn deletion_only_update_is_broadcast() {
    let mut room = room();
    let client = Doc::new();
    room.on_frame("c", update_frame(edit(&client, 0, "abc")));
    let delete = {
        let mut txn = client.transact_mut();
        let body = txn.get_or_insert_text("body");
        body.remove_range(&mut txn, 0, 2);
        txn.encode_update_v1()
    };
    let effects = room.on_frame("c", update_frame(delete));
    assert_eq!(text(room.doc()), "c");
    assert_eq!(effects.broadcast.len(), 1);
    // The state vector does not move on a deletion, as in the TypeScript server.
    assert!(effects.update_bearing && !effects.doc_changed);
    let other = Doc::new();
    client_apply(&other, &room.on_frame("o", step1(&other)).reply.unwrap());
    assert_eq!(text(&other), "c");
}

#[test]
fn updates_with_missing_dependencies_on_other_clients_wait() {
    let mut room = room();
    let client = Doc::new();
    let first = edit(&client, 0, "a");
    // Another client, which has `first`, types after it.
    let other = Doc::new();
    copy_state(&client, &other);
    let second = edit(&other, 1, "b");
    let effects = room.on_frame("o", update_frame(second));
    assert!(effects.error.is_none() && effects.broadcast.is_empty() && !effects.doc_changed);
    assert_eq!(room.state_vector(), [0]);
    let effects = room.on_frame("c", update_frame(first));
    assert!(effects.doc_changed);
    assert_eq!(text(room.doc()), "ab");
}

#[test]
fn a_struct_typed_after_its_own_missing_predecessor_waits() {
    let mut room = room();
    let client = Doc::new();
    let first = edit(&client, 0, "a");
    let second = edit(&client, 1, "b");
    let effects = room.on_frame("c", update_frame(second));
    assert!(effects.error.is_none() && effects.broadcast.is_empty() && !effects.doc_changed);
    room.on_frame("c", update_frame(first));
    assert_eq!(text(room.doc()), "ab");
}

#[test]
fn a_struct_beyond_the_documents_clock_for_its_client_is_refused() {
    // yrs would integrate it at once behind a placeholder ("skip"), and a
    // later struct covering the gap and more would corrupt its block store.
    let mut room = room();
    let client = Doc::new();
    let first = edit(&client, 0, "abc");
    let beyond = {
        let mut txn = client.transact_mut();
        txn.get_or_insert_map("m").insert(&mut txn, "k", 1); // clock 3, no origin
        txn.encode_update_v1()
    };
    let effects = room.on_frame("c", update_frame(beyond.clone()));
    assert!(matches!(effects.error, Some(FrameError::Invalid(_))), "{:?}", effects.error);
    assert!(effects.broadcast.is_empty() && !effects.doc_changed);
    room.on_frame("c", update_frame(first));
    assert_eq!(text(room.doc()), "abc");
    // Sent again in order, it applies.
    assert!(room.on_frame("c", update_frame(beyond)).doc_changed);
}

fn copy_state(from: &Doc, to: &Doc) {
    let state = from.transact().encode_state_as_update_v1(&StateVector::default());
    to.transact_mut().apply_update(Update::decode_v1(&state).unwrap()).unwrap();
}

#[test]
fn malformed_frames_leave_the_doc_untouched() {
    let mut room = room();
    room.on_frame("c", update_frame(edit(&Doc::new(), 0, "keep")));
    room.take_doc_updates();
    let before = room.full_update();

    let valid = update_frame(edit(&Doc::new(), 0, "zzz"));
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("empty", vec![], false),
        ("truncated outer varuint", vec![0x80], false),
        ("truncated inner varuint", vec![0, 0x80], false),
        ("unknown inner type", vec![0, 3, 0], false),
        ("step1 without payload", vec![0, 0], false),
        ("step1 with a bad state vector", vec![0, 0, 2, 5, 0x80], false),
        ("update without payload", vec![0, 2], true),
        ("update length beyond the frame", vec![0, 2, 9, 1, 2], true),
        ("truncated real update", valid[..valid.len() - 3].to_vec(), true),
        ("garbage update", vec![0, 1, 4, 0xff, 0xff, 0xff, 0xff], true),
        ("awareness without payload", vec![1], false),
        ("truncated awareness", vec![1, 3, 1, 0x80, 0x80], false),
    ];
    for (name, frame, update_bearing) in cases {
        let effects = room.on_frame("c", frame);
        assert!(effects.error.is_some(), "{name}: expected an error");
        assert_eq!(effects.update_bearing, update_bearing, "{name}");
        assert!(effects.reply.is_none() && effects.broadcast.is_empty(), "{name}");
        assert_eq!(room.full_update(), before, "{name}");
    }
    assert!(room.take_doc_updates().is_empty());
}

#[test]
fn unknown_outer_types_are_ignored() {
    let mut room = room();
    for frame in [vec![7, 1, 2, 3], vec![2, 0], vec![3], vec![0xff, 0x01]] {
        let effects = room.on_frame("c", frame);
        assert!(effects.error.is_none() && effects.reply.is_none() && effects.broadcast.is_empty());
        assert!(!effects.update_bearing);
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut room = room();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let len = (next() % 40) as usize;
        let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = frame.first_mut() {
            *first %= 2; // mostly sync and awareness frames
        }
        room.on_frame("fuzz", frame);
    }
}

#[test]
fn classifier_matches_the_typescript_server() {
    assert!(is_update_bearing(&[0, 1]));
    assert!(is_update_bearing(&[0, 2, 0xff]));
    assert!(!is_update_bearing(&[0, 0, 1, 0]));
    assert!(!is_update_bearing(&[1, 1]));
    assert!(!is_update_bearing(&[0]));
    assert!(!is_update_bearing(&[]));
    assert!(!is_update_bearing(&[0, 3]));
}

#[test]
fn awareness_is_forwarded_raw_and_removed_on_close() {
    let mut room = room();
    let frame = awareness_frame(&[
        (11, 1, r#"{"user":{"name":"a"}}"#),
        (12, 1, r#"{"user":{"name":"b"}}"#),
    ]);
    // Trailing bytes after the payload are not forwarded.
    let mut with_trailer = frame.clone();
    with_trailer.push(9);
    let effects = room.on_frame("conn-a", with_trailer);
    assert!(effects.error.is_none() && !effects.update_bearing);
    assert_eq!(effects.broadcast, vec![Arc::new(frame)]);
    let mut ids = effects.awareness_ids.added.clone();
    ids.sort_unstable();
    assert_eq!(ids, [11, 12]);

    // A newcomer gets Step1 plus every known state.
    let connect = room.on_connect();
    assert_eq!(connect.len(), 2);
    assert_eq!(decode_awareness(&connect[1]).len(), 2);

    // A stale clock changes nothing; a newer one is an update.
    let stale = room.on_frame("conn-a", awareness_frame(&[(11, 1, r#"{"user":{"name":"old"}}"#)]));
    assert!(stale.awareness_ids.is_empty());
    assert_eq!(stale.broadcast.len(), 1, "forwarded even when nothing changed");
    let bump = room.on_frame("conn-a", awareness_frame(&[(11, 2, r#"{"user":{"name":"a2"}}"#)]));
    assert_eq!(bump.awareness_ids.updated, [11]);

    // Close: one frame with the last clocks and null states.
    let removal = room.on_close(&held(&[11, 12, 99])).unwrap();
    assert_eq!(
        decode_awareness(&removal),
        HashMap::from([(11, (2, "null".to_owned())), (12, (1, "null".to_owned()))])
    );
    assert_eq!(room.on_connect().len(), 1);
    assert_eq!(room.on_close(&held(&[11, 12])), None);

    // A client that sends null for itself is removed from the connection's set.
    room.on_frame("conn-b", awareness_frame(&[(21, 1, "{}")]));
    let gone = room.on_frame("conn-b", awareness_frame(&[(21, 2, "null")]));
    assert_eq!(
        gone.awareness_ids,
        AwarenessIdChange { removed: vec![21], ..AwarenessIdChange::default() }
    );
    let mut set = vec![21, 5];
    gone.awareness_ids.apply_to(&mut set);
    assert_eq!(set, [5]);
}

#[test]
fn null_awareness_records_of_unknown_clients_stay_bounded() {
    let mut room = room();
    room.on_frame("live", awareness_frame(&[(7, 3, r#"{"user":{"name":"kept"}}"#)]));
    // Each frame removes 1,000 clients the room never saw: yrs keeps a null
    // record for each, which no state limit counts.
    let per_frame = 1_000u64;
    for round in 0..(MAX_AWARENESS_RECORDS as u64 / per_frame + 3) {
        let ids: Vec<u64> = (0..per_frame).map(|i| 1_000 + round * per_frame + i).collect();
        let entries: Vec<(u64, u32, &str)> = ids.iter().map(|&id| (id, 5, "null")).collect();
        let effects = room.on_frame("flooder", awareness_frame(&entries));
        assert!(effects.error.is_none(), "{:?}", effects.error);
        let records = room.awareness().iter().count();
        assert!(
            records <= MAX_AWARENESS_RECORDS + per_frame as usize,
            "{records} records after round {round}"
        );
    }
    // The live state survives, with its clock; a stale copy cannot replace it.
    assert_eq!(room.awareness_client_count(), 1);
    assert_eq!(room.awareness().meta(ClientID::new(7)).map(|m| m.0), Some(3));
    room.on_frame("live", awareness_frame(&[(7, 2, r#"{"user":{"name":"stale"}}"#)]));
    let connect = room.on_connect();
    assert_eq!(decode_awareness(&connect[1])[&7], (3, r#"{"user":{"name":"kept"}}"#.to_owned()));
}

#[test]
fn invalid_awareness_json_is_rejected_whole() {
    let mut room = room();
    let effects = room.on_frame("c", awareness_frame(&[(1, 1, "{}"), (2, 1, "{not json")]));
    assert!(matches!(effects.error, Some(FrameError::AwarenessJson(2))));
    assert!(effects.broadcast.is_empty());
    assert_eq!(room.on_connect().len(), 1);
}

#[test]
fn load_update_neither_broadcasts_nor_queues() {
    let source = Doc::new();
    let state = edit(&source, 0, "stored");
    let mut room = room();
    room.load_update(&state).unwrap();
    assert_eq!(text(room.doc()), "stored");
    assert!(room.take_doc_updates().is_empty());
    assert!(room.load_update(&[0xff]).is_err());

    let preloaded = Doc::new();
    preloaded.transact_mut().apply_update(Update::decode_v1(&state).unwrap()).unwrap();
    let mut room = Room::from_doc(preloaded, clock);
    assert!(room.take_doc_updates().is_empty());
    assert_eq!(text(room.doc()), "stored");
}

#[test]
fn a_reconnected_client_is_removed_when_its_new_socket_closes() {
    let mut room = room();
    let mut first = Vec::new();
    room.on_frame("old", awareness_frame(&[(7, 1, "{}")])).awareness_ids.apply_to(&mut first);
    assert_eq!(first, [7]);
    assert!(room.on_close(&held(&first)).is_some());

    // Same client ID, newer clock: an update of the removed state.
    let mut second = Vec::new();
    let effects = room.on_frame("new", awareness_frame(&[(7, 3, "{}")]));
    assert!(effects.awareness_ids.added.is_empty());
    effects.awareness_ids.apply_to(&mut second);
    assert_eq!(second, [7]);
    assert_eq!(
        decode_awareness(&room.on_close(&held(&second)).unwrap()),
        HashMap::from([(7, (3, "null".to_owned()))])
    );
}

#[test]
fn sync_frames_match_yrs_encoding() {
    // 300 bytes needs a two-byte length varuint.
    for len in [0usize, 5, 127, 128, 300, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let step2 = Message::Sync(SyncMessage::SyncStep2(payload.clone())).encode_v1();
        assert_eq!(sync_frame(SYNC_STEP_2, payload.clone()), step2, "len {len}");
        let update = Message::Sync(SyncMessage::Update(payload.clone())).encode_v1();
        let frame = sync_frame(SYNC_UPDATE, payload.clone());
        assert_eq!(frame, update, "update len {len}");
        assert_eq!(update_of_frame(Arc::new(frame)), payload, "len {len}");
    }
}

#[test]
fn sync_messages_decode_as_yrs_decodes_them() {
    let doc = Doc::new();
    let update = edit(&doc, 0, "abc");
    let frames = [
        step1(&doc),
        Message::Sync(SyncMessage::SyncStep2(update.clone())).encode_v1(),
        update_frame(update),
        vec![0, 3, 0],
        vec![0, 0x80, 0x02, 0], // inner tag 256: not a u8
        vec![0, 0x80],
        vec![0, 1, 3, 0],
        vec![0, 1, 2, 0xff, 0xff], // a payload that is not an update
    ];
    for frame in frames {
        let mut ours = DecoderV1::new(Cursor::new(&frame));
        let mut theirs = DecoderV1::new(Cursor::new(&frame));
        assert_eq!(ours.read_var::<u64>().unwrap(), SYNC);
        theirs.read_var::<u64>().unwrap();
        let expected = SyncMessage::decode(&mut theirs);
        match (decode_sync(&mut ours), expected) {
            (Ok(DecodedSync::Step1(a)), Ok(SyncMessage::SyncStep1(b))) => assert_eq!(a, b),
            (
                Ok(DecodedSync::Update(a)),
                Ok(SyncMessage::SyncStep2(b) | SyncMessage::Update(b)),
            ) => {
                assert_eq!(a.encode_v1(), Update::decode_v1(&b).unwrap().encode_v1());
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{frame:?}"),
            (Err(a), Ok(SyncMessage::SyncStep2(b) | SyncMessage::Update(b))) => {
                // yrs copies the payload first and fails when it is applied.
                assert_eq!(a.to_string(), Update::decode_v1(&b).unwrap_err().to_string());
            }
            (a, b) => panic!("{frame:?}: ours {:?}, yrs {b:?}", a.is_ok()),
        }
    }
}

#[test]
fn queued_updates_are_the_update_events_whether_or_not_a_broadcast_is_alive() {
    let mut room = room();
    let events: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = Arc::clone(&events);
    room.doc()
        .observe_update_v1("test", move |_, event| sink.lock().unwrap().push(event.update.clone()))
        .unwrap();
    let client = Doc::new();

    // Broadcast dropped first, as the shell does: the frame's buffer is reused.
    let effects = room.on_frame("c", update_frame(edit(&client, 0, "hello")));
    assert_eq!(effects.broadcast.len(), 1);
    let frame = effects.broadcast[0].to_vec();
    drop(effects);
    let updates = room.take_doc_updates();
    assert_eq!(updates, events.lock().unwrap().clone());
    assert_eq!(frame, update_frame(updates[0].clone()));

    // Broadcast still held: the update is copied out and the frame stays intact.
    let effects = room.on_frame("c", update_frame(edit(&client, 5, " world")));
    let updates = room.take_doc_updates();
    assert_eq!(updates[..], events.lock().unwrap()[1..]);
    assert_eq!(*effects.broadcast[0], update_frame(updates[0].clone()));
    assert_eq!(text(room.doc()), "hello world");

    // Queued exactly when yrs emits an update event: deletions, duplicates,
    // and updates waiting for (then completed by) missing dependencies.
    let deletion = {
        let mut txn = client.transact_mut();
        txn.get_or_insert_text("body").remove_range(&mut txn, 0, 2);
        txn.encode_update_v1()
    };
    let early = edit(&client, 0, "?");
    let other = Doc::new();
    copy_state(&client, &other);
    let late = edit(&other, 0, "!"); // depends on `early`, which the room lacks
    for frame in [deletion.clone(), deletion, late, early] {
        room.on_frame("c", update_frame(frame));
    }
    let queued: Vec<Vec<u8>> = room.take_doc_updates();
    assert_eq!(queued, events.lock().unwrap()[2..]);
    assert_eq!(queued.len(), 2, "the deletion once, then both edits together");
    assert_eq!(text(room.doc()), text(&other));
}

/// A connection holding `ids`, clocks unknown.
fn held(ids: &[u64]) -> HeldAwareness {
    HeldAwareness { ids: ids.to_vec(), clocks: Vec::new() }
}
