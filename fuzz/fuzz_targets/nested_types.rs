//! Random trees of nested shared types, with deletes, sent to a room as
//! socket frames: the room (structural check, nesting bound, yrs's
//! integration, delete and garbage collection) never panics and never
//! recurses deeper than a 1 MiB stack allows. Each operation is one client
//! transaction whose update goes through `Room::on_frame`, as a socket
//! frame would; a chain operation nests up to 255 arrays at once, so the
//! fuzzer reaches and passes `MAX_TYPE_DEPTH` in a few bytes. A second,
//! hand-encoded client (no yrs of its own, so nothing limits it) sends
//! chains up to 65,280 levels deep, each hanging from its previous tip, and
//! deletes of its own ranges: the finding's shape.

#![no_main]

use libfuzzer_sys::fuzz_target;
use yaos_server::room::protocol::Room;
use yrs::encoding::write::Write;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{
    Array, ArrayPrelim, ArrayRef, ClientID, Doc, Map, MapPrelim, MapRef, Options, ReadTxn, Transact,
};

/// Small enough that an unbounded recursion in yrs overflows it; large
/// enough for its recursion over the levels the bound allows.
const STACK_BYTES: usize = 1024 * 1024;

/// The yrs client keeps its own tree no deeper than this: its yrs recurses
/// too (a chain pushed under a deleted array is collected at once). The
/// hand-encoded client covers the depths around and past the bound.
const CLIENT_DEPTH: u32 = 32;

#[derive(Clone)]
enum Node {
    Array(ArrayRef, u32),
    Map(MapRef, u32),
}

impl Node {
    fn depth(&self) -> u32 {
        match self {
            Node::Array(_, d) | Node::Map(_, d) => *d,
        }
    }
}

fn frame(update: Vec<u8>) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

/// The hand-encoded client's ID.
const RAW: u64 = 2;

/// A v1 update of `RAW` with `levels` arrays from `clock`, each the parent
/// of the next, the first under `tip` (an item of `RAW`) or root "a".
fn raw_chain(clock: u32, levels: u32, tip: Option<u32>) -> Vec<u8> {
    let mut u = Vec::new();
    u.write_var(1u32); // one client
    u.write_var(levels);
    u.write_var(RAW);
    u.write_var(clock);
    for i in 0..levels {
        u.write_u8(7); // a type, parent given
        match (i, tip) {
            (0, None) => {
                u.write_var(1u32);
                u.write_string("a");
            }
            (0, Some(tip)) => {
                u.write_var(0u32);
                u.write_var(RAW);
                u.write_var(tip);
            }
            _ => {
                u.write_var(0u32);
                u.write_var(RAW);
                u.write_var(clock + i - 1);
            }
        }
        u.write_u8(0); // Y.Array
    }
    u.write_var(0u32); // no deletes
    u
}

/// A v1 update deleting `RAW`'s clocks `start..start + len`.
fn raw_delete(start: u32, len: u32) -> Vec<u8> {
    let mut u = Vec::new();
    u.write_var(0u32);
    u.write_var(1u32);
    u.write_var(RAW);
    u.write_var(1u32);
    u.write_var(start);
    u.write_var(len);
    u
}

fn run(ops: Vec<u8>) {
    // The harness holds references to the client's types, which yrs frees
    // when it collects them: the client never collects (the room does).
    let client = Doc::with_options(Options {
        client_id: ClientID::new(1),
        skip_gc: true,
        ..Options::default()
    });
    let mut room = Room::new(|| 1_767_225_600_000);
    let mut nodes = vec![
        Node::Array(client.get_or_insert_array("a"), 0),
        Node::Map(client.get_or_insert_map("m"), 0),
    ];
    for op in ops.chunks(3).take(64) {
        let [kind, at, n] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let node = nodes[usize::from(at) % nodes.len()].clone();
        let raw_clock = room.doc().transact().state_vector().get(&ClientID::new(RAW));
        let update = match kind % 8 {
            6 => {
                let tip = (at % 2 == 1 && raw_clock > 0).then(|| raw_clock - 1);
                raw_chain(raw_clock, u32::from(n) * 256 + u32::from(at), tip)
            }
            7 => raw_delete(u32::from(at) * 256 % raw_clock.max(1), u32::from(n) * 256 + 1),
            _ => {
                let update = {
                    let mut txn = client.transact_mut();
                    match (kind % 4, &node) {
                        // A chain of n + 1 arrays under the node.
                        (0, _) => {
                            let mut depth = node.depth();
                            let mut parent = node.clone();
                            for _ in 0..=n {
                                if depth >= CLIENT_DEPTH {
                                    break;
                                }
                                depth += 1;
                                let child = match &parent {
                                    Node::Array(a, _) => {
                                        a.push_back(&mut txn, ArrayPrelim::default())
                                    }
                                    Node::Map(m, _) => m.insert(
                                        &mut txn,
                                        format!("k{}", n % 4),
                                        ArrayPrelim::default(),
                                    ),
                                };
                                parent = Node::Array(child, depth);
                                nodes.push(parent.clone());
                            }
                        }
                        // A map under the node (replacing a key: a neighbour-implied parent).
                        (1, _) if node.depth() < CLIENT_DEPTH => {
                            let child = match &node {
                                Node::Array(a, _) => a.insert(&mut txn, 0, MapPrelim::default()),
                                Node::Map(m, _) => {
                                    m.insert(&mut txn, format!("k{}", n % 4), MapPrelim::default())
                                }
                            };
                            nodes.push(Node::Map(child, node.depth() + 1));
                        }
                        // Delete some of the node's entries (subtrees with them).
                        (2, Node::Array(a, _)) => {
                            let len = a.len(&txn);
                            if len > 0 {
                                let index = u32::from(n) % len;
                                a.remove_range(&mut txn, index, (len - index).min(2));
                            }
                        }
                        (2, Node::Map(m, _)) => {
                            m.remove(&mut txn, &format!("k{}", n % 4));
                        }
                        // A plain value (a non-type neighbour for later types).
                        (_, Node::Array(a, _)) => {
                            a.push_back(&mut txn, i64::from(n));
                        }
                        (_, Node::Map(m, _)) => {
                            m.insert(&mut txn, format!("k{}", n % 4), i64::from(n));
                        }
                    }
                    txn.encode_update_v1()
                };
                update
            }
        };
        // Refused or applied, never a panic; the room's own deletes and
        // collection run inside on_frame.
        let _ = room.on_frame("c", frame(update));
    }
}

fuzz_target!(|ops: &[u8]| {
    let ops = ops.to_vec();
    let body = std::thread::Builder::new().stack_size(STACK_BYTES).spawn(move || run(ops));
    if let Err(panic) = body.expect("spawn").join() {
        std::panic::resume_unwind(panic);
    }
});
