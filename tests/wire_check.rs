//! The structural checks of `wire_check` against real yrs encodings: every
//! kind of content yrs writes is accepted and decodes; the frames that reset
//! the wasm instance (a length near 2^32, values nested 20,000 deep) and
//! other hostile shapes are refused; and no truncation or corruption of a
//! real update makes the check accept bytes that then panic in yrs.

use std::collections::HashMap;

use yaos_server::room::protocol::{FrameError, Room};
use yaos_server::wire_check::{
    check_awareness_v1, check_frame, check_state_vector_v1, check_update_v1, decode_update_v1,
    MAX_VALUE_DEPTH,
};
use yrs::sync::{Awareness, Message, SyncMessage};
use yrs::types::xml::XmlFragment;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Array, Doc, GetString, Map, MapPrelim, ReadTxn, StateVector, Text, Transact, Update,
    WriteTxn, XmlElementPrelim, XmlTextPrelim,
};

fn clock() -> u64 {
    1_779_963_072_345
}

/// A document with every kind of content: text with formatting and embeds,
/// nested maps, JSON-like values of each type, arrays, XML, a subdocument,
/// deletions and several clients.
fn busy_doc() -> Doc {
    let doc = Doc::with_client_id(1);
    {
        let mut txn = doc.transact_mut();
        let meta = txn.get_or_insert_map("meta");
        meta.insert(
            &mut txn,
            "nested",
            MapPrelim::from([("path", Any::from("a.md")), ("mtime", Any::from(1.5))]),
        );
        let values: HashMap<String, Any> = [
            ("s".to_owned(), Any::from("x")),
            ("i".to_owned(), Any::from(-42)),
            ("big".to_owned(), Any::from(1i64 << 60)),
            ("f".to_owned(), Any::from(0.1)),
            ("b".to_owned(), Any::from(true)),
            ("n".to_owned(), Any::Null),
            ("u".to_owned(), Any::Undefined),
            ("buf".to_owned(), Any::from(vec![1u8, 2, 3])),
            ("arr".to_owned(), Any::from(vec![Any::from(1), Any::from("two")])),
        ]
        .into();
        meta.insert(&mut txn, "values", Any::from(values));
        let text = txn.get_or_insert_text("text");
        text.insert(&mut txn, 0, "hello wörld 🎉");
        let bold: HashMap<std::sync::Arc<str>, Any> = [("bold".into(), Any::from(true))].into();
        text.format(&mut txn, 0, 5, bold);
        text.insert_embed(&mut txn, 3, Any::from("embedded"));
        text.remove_range(&mut txn, 1, 2);
        let list = txn.get_or_insert_array("list");
        list.insert_range(&mut txn, 0, [1, 2, 3]);
        list.remove(&mut txn, 1);
        let xml = txn.get_or_insert_xml_fragment("xml");
        let element = xml.insert(&mut txn, 0, XmlElementPrelim::empty("p"));
        element.insert(&mut txn, 0, XmlTextPrelim::new("para"));
        let subdocs = txn.get_or_insert_map("subdocs");
        subdocs.insert(&mut txn, "child", Doc::new());
    }
    let other = Doc::with_client_id((1 << 53) - 1);
    let edit = {
        let mut txn = other.transact_mut();
        txn.get_or_insert_text("note").insert(&mut txn, 0, "x".repeat(300).as_str());
        txn.encode_update_v1()
    };
    doc.transact_mut().apply_update(Update::decode_v1(&edit).unwrap()).unwrap();
    doc
}

fn full_update(doc: &Doc) -> Vec<u8> {
    doc.transact().encode_state_as_update_v1(&StateVector::default())
}

#[test]
fn everything_yrs_encodes_is_accepted() {
    let doc = busy_doc();
    let update = full_update(&doc);
    check_update_v1(&update).expect("a full update");
    let decoded = decode_update_v1(&update).expect("decodes");
    let copy = Doc::new();
    copy.transact_mut().apply_update(decoded).unwrap();
    let text = copy.transact().get_text("text").map(|t| t.get_string(&copy.transact()));
    assert_eq!(
        text.as_deref(),
        doc.transact().get_text("text").map(|t| t.get_string(&doc.transact())).as_deref()
    );
    check_state_vector_v1(&doc.transact().state_vector().encode_v1()).expect("a state vector");
    // An empty update and every frame kind.
    check_update_v1(&[0, 0]).expect("empty update");
    for message in [
        Message::Sync(SyncMessage::SyncStep1(doc.transact().state_vector())),
        Message::Sync(SyncMessage::SyncStep2(update.clone())),
        Message::Sync(SyncMessage::Update(update)),
    ] {
        check_frame(&message.encode_v1()).expect("a sync frame");
    }
    let mut awareness = Awareness::with_clock(Doc::with_client_id(5), clock);
    awareness.set_local_state(serde_json::json!({"user": {"name": "ü", "color": "#fff"}})).unwrap();
    let update = awareness.update().unwrap();
    check_awareness_v1(&update.encode_v1()).expect("an awareness update");
    check_frame(&Message::Awareness(update).encode_v1()).expect("an awareness frame");
    // Types the room ignores pass through.
    check_frame(&[3, 0]).expect("query-awareness");
}

#[test]
fn the_length_near_two_to_the_32_is_refused() {
    // Outer sync, inner update, then a varUint8Array length of 2^32 - 1.
    let frame = [0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0x03];
    let error = check_frame(&frame).unwrap_err();
    assert_eq!(error.why, "length beyond the end of the input");
    // The same inside an update: a string item claiming 2^32 - 1 bytes.
    let update = [1, 1, 7, 0, 4, 1, 1, b't', 0xff, 0xff, 0xff, 0xff, 0x0f, b'x', 0];
    assert!(check_update_v1(&update).is_err());
    let mut room = Room::new(clock);
    let effects = room.on_frame("c", frame.to_vec());
    assert!(matches!(effects.error, Some(FrameError::Invalid(_))), "{:?}", effects.error);
    assert!(effects.update_bearing, "still acknowledged as a (failed) update frame");
    assert!(effects.broadcast.is_empty());
}

/// An update setting `m.v` to an array nested `depth` levels deep.
fn nested_update(depth: usize) -> Vec<u8> {
    // Built by hand: yrs's own encoder (and dropping such a value) recurses
    // once per level too.
    let mut any = Vec::new();
    for _ in 0..depth {
        any.extend_from_slice(&[117, 1]);
    }
    any.extend_from_slice(&[125, 1]);
    // One client (1), one struct at clock 0: an item with parent root "m",
    // parentSub "v", content Any with one value.
    let mut update = vec![1, 1, 1, 0, 8 | 0b0010_0000, 1, 1, b'm', 1, b'v', 1];
    update.extend_from_slice(&any);
    update.extend_from_slice(&[0]); // empty delete set
    update
}

/// yrs decodes, applies and drops such values recursively; debug builds use
/// far larger frames than the release wasm (whose 1 MiB stack the e2e test
/// exercises at the limit), so the native check runs on a roomy thread.
fn with_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(64 << 20).spawn(f).unwrap().join().unwrap();
}

#[test]
fn values_nested_past_the_limit_are_refused_and_at_the_limit_accepted() {
    with_stack(nesting_limits);
}

fn nesting_limits() {
    let shallow = nested_update(MAX_VALUE_DEPTH - 1);
    let decoded = decode_update_v1(&shallow)
        .expect("1,000 levels are accepted, as the TypeScript server did");
    let doc = Doc::new();
    doc.transact_mut().apply_update(decoded).unwrap();
    assert!(doc.transact().get_map("m").is_some());
    let deep = nested_update(20_000);
    assert_eq!(check_update_v1(&deep).unwrap_err().why, "value nested too deeply");
    let frame = Message::Sync(SyncMessage::Update(deep)).encode_v1();
    let mut room = Room::new(clock);
    let before = room.state_vector();
    let effects = room.on_frame("c", frame);
    assert!(matches!(effects.error, Some(FrameError::Invalid(_))));
    assert_eq!(room.state_vector(), before, "the document is untouched");
}

#[test]
fn hostile_counts_and_ids_are_refused() {
    let cases: [(&str, &[u8]); 7] = [
        ("client count beyond the input", &[0xff, 0xff, 0x03, 0]),
        ("block count beyond the input", &[1, 0xff, 0xff, 0x03, 1, 0]),
        (
            "client ID beyond 2^53",
            &[1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0],
        ),
        (
            "varuint too long",
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        ),
        ("clock overflow", &[1, 2, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 1, 0, 1, 0]),
        ("unknown content", &[1, 1, 1, 0, 0x0c, 1, 1, b'm', 0]),
        ("a 32-bit field that overflows", &[1, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 1, 0]),
    ];
    for (name, update) in cases {
        assert!(check_update_v1(update).is_err(), "{name}");
    }
    assert!(check_state_vector_v1(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err(), "a state vector bomb");
    assert!(check_awareness_v1(&[0xff, 0xff, 0x03, 1, 1]).is_err(), "an awareness bomb");
    assert!(
        check_update_v1(&[1, 1, 1, 0, 4, 1, 1, b'm', 2, 0xc3, 0x28, 0]).is_err(),
        "invalid UTF-8"
    );
}

/// Check, then (only if accepted) decode and apply: must never panic.
fn survive(bytes: &[u8]) {
    if check_update_v1(bytes).is_ok() {
        if let Ok(update) = Update::decode_v1(bytes) {
            let _ = Doc::new().transact_mut().apply_update(update);
        }
    }
    let _ = check_frame(bytes);
}

#[test]
fn no_truncation_or_corruption_of_a_real_update_panics() {
    let update = full_update(&busy_doc());
    for len in 0..update.len() {
        survive(&update[..len]);
    }
    // Deterministic corruptions: every byte set to a few telling values.
    for i in 0..update.len() {
        for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut corrupt = update.clone();
            corrupt[i] = value;
            survive(&corrupt);
        }
    }
}

/// The crash the `sql_load` fuzz target found (kept as a regression): an
/// update whose struct starts beyond the document's clock for its client is
/// integrated by yrs at once behind a placeholder ("skip"); a later struct
/// of the same client that covers the gap and runs past it makes
/// `BlockStore::push` subtract past zero (a panic with overflow checks on, as
/// in this test build; silent corruption without). The first update is now
/// refused, so the second one is harmless.
#[test]
fn a_struct_beyond_the_clock_is_refused_so_yrs_never_fills_a_gap() {
    // Client 7: "abc" (clocks 0..3), then a map entry at clock 3.
    let writer = Doc::with_client_id(7);
    writer.get_or_insert_text("t").insert(&mut writer.transact_mut(), 0, "abc");
    let before = writer.transact().state_vector();
    writer.get_or_insert_map("m").insert(&mut writer.transact_mut(), "k", 1);
    let out_of_order = writer.transact().encode_state_as_update_v1(&before);
    // A conflicting struct of client 7 over clocks 0..5.
    let forger = Doc::with_client_id(7);
    forger.get_or_insert_text("t").insert(&mut forger.transact_mut(), 0, "abcde");
    let overlapping = forger.transact().encode_state_as_update_v1(&StateVector::default());

    let mut room = Room::new(clock);
    let frame = |u: Vec<u8>| Message::Sync(SyncMessage::Update(u)).encode_v1();
    let refused = room.on_frame("c", frame(out_of_order));
    assert!(matches!(refused.error, Some(FrameError::Invalid(_))), "{:?}", refused.error);
    let applied = room.on_frame("c", frame(overlapping));
    assert!(applied.error.is_none(), "{:?}", applied.error);
    assert_eq!(room.doc().get_or_insert_text("t").get_string(&room.doc().transact()), "abcde");

    // The fuzz target's own input: a legacy `document` over a real snapshot.
    let crash: [u8; 28] = [
        3, 1, 1, 1, 0, 255, 9, 1, 1, 1, 1, 255, 255, 3, 1, 53, 1, 1, 1, 1, 1, 1, 1, 1, 147, 255,
        41, 0,
    ];
    let doc = Doc::new();
    doc.get_or_insert_text("note").insert(&mut doc.transact_mut(), 0, "hello vault");
    let decoded = yaos_server::wire_check::decode_update_for(&crash, &doc.transact());
    if let Ok(update) = decoded {
        let _ = doc.transact_mut().apply_update(update);
    }
}

/// Another crash the `room_frames` fuzz target found: two struct sections
/// for one client in one update (here two GC ranges of client 58 from clock
/// 0) make yrs's block store subtract past zero. Refused; the same ranges in
/// two updates are fine.
#[test]
fn an_update_naming_a_client_twice_is_refused() {
    let twice: &[u8] = &[2, 1, 58, 0, 0, 55, 1, 58, 0, 0, 56, 0];
    let error = check_update_v1(twice).unwrap_err();
    assert_eq!(error.why, "client listed twice");
    let mut room = Room::new(clock);
    let frame = |u: &[u8]| Message::Sync(SyncMessage::Update(u.to_vec())).encode_v1();
    assert!(matches!(room.on_frame("c", frame(twice)).error, Some(FrameError::Invalid(_))));
    assert!(room.on_frame("c", frame(&[1, 1, 58, 0, 0, 55, 0])).error.is_none());
    assert!(room.on_frame("c", frame(&[1, 1, 58, 0, 0, 56, 0])).error.is_none());
    assert_eq!(room.doc().transact().state_vector().get(&yrs::ClientID::new(58)), 56);
}

/// A GC or skip block of length 0: yrs refuses it at decode (`EmptyBlock`),
/// so the check refuses it too (the `update_pieces` fuzz target found the
/// check accepting what yrs would not decode).
#[test]
fn empty_gc_and_skip_blocks_are_refused_as_yrs_refuses_them() {
    for info in [0u8, 10] {
        let empty = [1, 1, 255, 1, 0, info, 0, 0];
        assert_eq!(check_update_v1(&empty).unwrap_err().why, "empty block", "info {info}");
        assert!(Update::decode_v1(&empty).is_err(), "yrs refuses it too");
        let one = [1, 1, 255, 1, 0, info, 1, 0];
        assert!(check_update_v1(&one).is_ok(), "info {info}, length 1");
    }
}

/// Clocks past 2^31: yrs computes offsets between clocks as `i32` and adds
/// lengths unchecked, so they wrap (the `room_frames` fuzz target reached a
/// deleted-range overflow in yrs's own full-state encoding this way).
#[test]
fn clocks_past_two_to_the_31_are_refused() {
    use yaos_server::wire_check::MAX_CLOCK;
    let varuint = |mut n: u64| {
        let mut out = Vec::new();
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out
    };
    let gc_at = |clock: u64, len: u64| {
        let mut u = vec![1, 1, 1];
        u.extend(varuint(clock));
        u.push(0); // GC
        u.extend(varuint(len));
        u.push(0); // no deleted ranges
        u
    };
    assert!(check_update_v1(&gc_at(MAX_CLOCK - 2, 2)).is_ok());
    assert_eq!(check_update_v1(&gc_at(MAX_CLOCK - 2, 3)).unwrap_err().why, "clock past 2^31");
    let mut deleted = vec![0, 1, 1, 1];
    deleted.extend(varuint(MAX_CLOCK));
    deleted.extend(varuint(1));
    assert_eq!(check_update_v1(&deleted).unwrap_err().why, "deleted range past 2^31");
}

/// A chain of `levels` arrays, each inside the previous, under root array
/// "chain" of a document of client `client`; returns the document and the
/// innermost array.
fn array_chain(client: u64, levels: u32) -> (Doc, yrs::ArrayRef) {
    let doc = Doc::with_client_id(client);
    let mut inner = doc.get_or_insert_array("chain");
    {
        let mut txn = doc.transact_mut();
        for _ in 0..levels {
            inner = inner.push_back(&mut txn, yrs::ArrayPrelim::default());
        }
    }
    (doc, inner)
}

fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact().encode_state_as_update_v1(&StateVector::default())
}

/// Applies `update` to `doc` through the check, as a room does.
fn apply_checked(doc: &Doc, update: &[u8]) -> Result<(), String> {
    let decoded = yaos_server::wire_check::decode_update_for(update, &doc.transact());
    let update = decoded.map_err(|e| e.to_string())?;
    doc.transact_mut().apply_update(update).map_err(|e| e.to_string())
}

/// The finding: 100,000 arrays each in the previous, in one update (yrs
/// would overflow the stack deleting or collecting them). Refused; exactly
/// `MAX_TYPE_DEPTH` levels are accepted, one more refused.
#[test]
fn types_nested_past_the_limit_are_refused_and_at_the_limit_accepted() {
    use yaos_server::wire_check::MAX_TYPE_DEPTH;
    let (deep, _) = array_chain(1, 100_000);
    let server = Doc::new();
    let error = apply_checked(&server, &full_state(&deep)).unwrap_err();
    assert!(error.contains("shared types nested too deeply"), "{error}");
    assert!(server.transact().state_vector().is_empty(), "nothing applied");

    let (at_limit, _) = array_chain(1, MAX_TYPE_DEPTH);
    apply_checked(&server, &full_state(&at_limit)).expect("at the limit");
    let (past, _) = array_chain(2, MAX_TYPE_DEPTH + 1);
    let error = apply_checked(&Doc::new(), &full_state(&past)).unwrap_err();
    assert!(error.contains("nested too deeply"), "{error}");
}

/// The same chain sent a hundred levels at a time: each update's types are
/// measured from where they hang in the document, by explicit parent or by
/// a neighbour (a type or a plain value next to it).
#[test]
fn nesting_counts_the_levels_already_in_the_document() {
    use yaos_server::wire_check::MAX_TYPE_DEPTH;
    let (client, inner) = array_chain(1, 100);
    let server = Doc::new();
    apply_checked(&server, &full_state(&client)).expect("100 levels");
    let diff = |server: &Doc| {
        let sv = server.transact().state_vector();
        client.transact().encode_state_as_update_v1(&sv)
    };
    // 28 more by explicit parent reach the limit exactly.
    let mut deepest = inner.clone();
    {
        let mut txn = client.transact_mut();
        for _ in 0..MAX_TYPE_DEPTH - 100 {
            deepest = deepest.push_back(&mut txn, yrs::ArrayPrelim::default());
        }
    }
    apply_checked(&server, &diff(&server)).expect("up to the limit");
    // A plain value inside the deepest array is no deeper type.
    deepest.push_back(&mut client.transact_mut(), 1);
    apply_checked(&server, &diff(&server)).expect("a value at the limit");
    // An array after that value: its parent (the deepest array) is implied
    // by the value, in the document; one level too deep.
    deepest.push_back(&mut client.transact_mut(), yrs::ArrayPrelim::default());
    let error = apply_checked(&server, &diff(&server)).unwrap_err();
    assert!(error.contains("nested too deeply"), "{error}");
}

/// A type whose parent is neither in the document nor in the update could
/// be attached anywhere later (yrs holds it pending): refused.
#[test]
fn a_type_under_an_unknown_parent_is_refused() {
    let (first, _) = array_chain(1, 2);
    // Client 2 nests an array in client 1's innermost one.
    let second = Doc::with_client_id(2);
    second.transact_mut().apply_update(Update::decode_v1(&full_state(&first)).unwrap()).unwrap();
    let before = second.transact().state_vector();
    let chain = second.get_or_insert_array("chain");
    {
        let mut txn = second.transact_mut();
        let Some(yrs::Out::YArray(level1)) = chain.get(&txn, 0) else { panic!("level 1") };
        let Some(yrs::Out::YArray(level2)) = level1.get(&txn, 0) else { panic!("level 2") };
        level2.push_back(&mut txn, yrs::ArrayPrelim::default());
    }
    let later = second.transact().encode_state_as_update_v1(&before);
    // The server has none of client 1's levels.
    let server = Doc::new();
    let error = apply_checked(&server, &later).unwrap_err();
    assert!(error.contains("parent is unknown"), "{error}");
    assert!(server.transact().state_vector().is_empty());
}

/// What the plugin writes (root maps holding a map or a text per note, a
/// text inside a map) and a multi-client update whose types hang from a
/// type in a later client section are accepted.
#[test]
fn ordinary_nesting_is_accepted() {
    let a = Doc::with_client_id(1);
    let b = Doc::with_client_id(1000);
    {
        let (meta, texts) = (a.get_or_insert_map("idToMeta"), a.get_or_insert_map("idToText"));
        let mut txn = a.transact_mut();
        let note = meta.insert(&mut txn, "n1", MapPrelim::default());
        note.insert(&mut txn, "path", "a.md");
        texts.insert(&mut txn, "n1", yrs::TextPrelim::new("hi"));
    }
    b.transact_mut().apply_update(Update::decode_v1(&full_state(&a)).unwrap()).unwrap();
    {
        let meta = b.get_or_insert_map("idToMeta");
        let mut txn = b.transact_mut();
        let Some(yrs::Out::YMap(note)) = meta.get(&txn, "n1") else { panic!("note") };
        note.insert(&mut txn, "body", yrs::TextPrelim::new("nested text"));
    }
    // Client 1000's section comes first and names client 1's map as parent.
    let server = Doc::new();
    apply_checked(&server, &full_state(&b)).expect("ordinary nesting");
}
