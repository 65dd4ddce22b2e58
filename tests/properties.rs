//! Property tests (proptest): the ticket round trip, the SQL store against a
//! model document, and the persistence coordinator under statement failures
//! injected at random points of its transactions. Each case runs on real
//! (in-memory) SQLite.

#[path = "support/docs.rs"]
#[allow(dead_code)]
mod docs;
#[path = "support/sqlite.rs"]
#[allow(dead_code)]
mod sqlite;

use std::rc::Rc;

use proptest::prelude::*;
use sqlite::SqliteExec;
use yaos_server::diagnostics::trace::TraceLog;
use yaos_server::edge::ticket::{self, TicketError};
use yaos_server::persist::{Coordinator, Policy};
use yaos_server::store::sql_store::SqlDocStore;
use yaos_server::store::{AppendOutcome, DocStore};
use yrs::StateVector;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A ticket verifies for its vault until its expiry and never after,
    /// never for another vault or key, and never with one character changed.
    #[test]
    fn ticket_round_trip(
        key in proptest::collection::vec(any::<u8>(), 0..64),
        vault in ".{0,40}",
        now in 0u64..(1 << 50),
        ttl in 1u64..100_000_000,
        nonce in any::<[u8; 16]>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let issued = ticket::issue(&key, &vault, now, ttl, &nonce);
        let text = issued.ticket.clone();
        prop_assert!(ticket::verify(&key, &text, &vault, now).is_ok());
        prop_assert!(ticket::verify(&key, &text, &vault, now + ttl - 1).is_ok());
        prop_assert_eq!(ticket::verify(&key, &text, &vault, now + ttl), Err(TicketError::Expired));
        let other_vault = format!("{vault}x");
        prop_assert!(ticket::verify(&key, &text, &other_vault, now).is_err());
        let mut other_key = key.clone();
        other_key.push(1);
        prop_assert!(ticket::verify(&other_key, &text, &vault, now).is_err());
        // The top bit of the character's 6-bit group: a change in its low
        // bits may fall in the trailing bits the decoder ignores (as the
        // TypeScript one did), which leaves the ticket as it was.
        const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut chars: Vec<char> = text.chars().collect();
        let at = flip.index(chars.len());
        chars[at] = match B64URL.find(chars[at]) {
            Some(i) => B64URL.as_bytes()[i ^ 32] as char,
            None => 'A', // the separator
        };
        let tampered: String = chars.into_iter().collect();
        prop_assert!(ticket::verify(&key, &tampered, &vault, now).is_err());
    }
}

/// One step against the SQL store.
#[derive(Debug, Clone)]
enum StoreOp {
    /// An edit of `len` characters, appended as a delta.
    Append(usize),
    /// A full checkpoint of everything the model holds.
    Checkpoint,
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    prop_oneof![
        6 => (1usize..2000).prop_map(StoreOp::Append),
        // Over the 1.5 MiB row limit: refused as oversized, nothing written.
        1 => Just(StoreOp::Append(1_600_000)),
        2 => Just(StoreOp::Checkpoint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The store loads exactly what was durably written: every appended
    /// delta and checkpoint, nothing that was refused as oversized, in a
    /// document equal to the model's stored state.
    #[test]
    fn sql_store_matches_a_model(ops in proptest::collection::vec(store_op(), 1..24)) {
        let store = SqlDocStore::new(SqliteExec::in_memory()).expect("tables");
        let live = docs::doc(1);
        let stored = docs::doc(2); // the model: what should be in storage
        for (i, op) in ops.iter().enumerate() {
            match op {
                StoreOp::Append(len) => {
                    let before = docs::state_vector(&live);
                    docs::append_text(&live, &docs::filler(*len, i as u64));
                    let delta = docs::diff(&live, &before);
                    match store.append_update(&delta).expect("append") {
                        AppendOutcome::Appended(_) => docs::apply(&stored, &delta),
                        AppendOutcome::Oversized => prop_assert!(delta.len() > 1_500_000),
                    }
                }
                StoreOp::Checkpoint => {
                    let full = docs::full_state(&live);
                    store.rewrite_checkpoint(&full).expect("checkpoint");
                    docs::apply(&stored, &full);
                    prop_assert_eq!(store.journal_stats().expect("stats").entry_count, 0);
                }
            }
            let loaded = docs::rebuilt(&store.load().expect("load"));
            prop_assert_eq!(docs::state_vector(&loaded), docs::state_vector(&stored));
            prop_assert!(docs::text_of(&loaded) == docs::text_of(&stored));
        }
    }
}

/// A statement of the coordinator's writes that may be made to fail.
const FAULT_POINTS: [&str; 4] = [
    "INSERT INTO journal",
    "INSERT INTO snapshot_chunks",
    "DELETE FROM journal",
    "DELETE FROM snapshot_chunks",
];

#[derive(Debug, Clone)]
struct Step {
    len: usize,
    /// Fail this save's `skip`-th statement matching a fault point.
    fault: Option<(usize, usize)>,
}

fn step() -> impl Strategy<Value = Step> {
    let len = prop_oneof![8 => 1usize..3000, 1 => Just(2_200_000)];
    let fault = proptest::option::weighted(0.6, (0..FAULT_POINTS.len(), 0usize..2));
    (len, fault).prop_map(|(len, fault)| Step { len, fault })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Durable before acknowledged, under failures anywhere in the save and
    /// compaction transactions: a save that reports durable left storage
    /// holding the whole live document; a failed one left storage loadable
    /// and no newer than the document; once storage heals, the next save
    /// stores everything.
    ///
    /// With `deferred` the compaction runs as on the platform: the save only
    /// marks it due and `compact_if_due` (the alarm) runs it after the save,
    /// under the same armed fault.
    #[test]
    fn coordinator_under_injected_failures(
        steps in proptest::collection::vec(step(), 1..20),
        deferred in proptest::bool::ANY,
    ) {
        let exec = Rc::new(SqliteExec::in_memory());
        let store = SqlDocStore::new(Rc::clone(&exec)).expect("tables");
        // Small compaction thresholds, so compactions (and their faults) happen.
        let policy =
            Policy { compaction_max_entries: 3, defer_compaction: deferred, ..Policy::default() };
        let mut coordinator = Coordinator::new(policy);
        let doc = docs::doc(1);
        coordinator.on_loaded(&doc, store.journal_stats().expect("stats"));
        let mut trace = TraceLog::default();
        let mut now = 1_779_963_072_345u64;
        let edit = |coordinator: &mut Coordinator, len: usize, seed: u64| {
            let before = docs::state_vector(&doc);
            docs::append_text(&doc, &docs::filler(len, seed));
            coordinator.record_update(docs::diff(&doc, &before));
        };
        for (i, step) in steps.iter().enumerate() {
            edit(&mut coordinator, step.len, i as u64);
            if let Some((point, skip)) = step.fault {
                exec.fail_statement(FAULT_POINTS[point], skip);
            }
            now += 1000;
            let outcome = coordinator.save(&store, &doc, now, &mut trace);
            if deferred {
                coordinator.compact_if_due(&store, &doc, now, &mut trace);
            }
            exec.clear_fault();
            let loaded = docs::rebuilt(&store.load().expect("storage stays loadable"));
            if outcome.is_durable() {
                prop_assert_eq!(docs::state_vector(&loaded), docs::state_vector(&doc), "{:?}", outcome);
                prop_assert!(docs::text_of(&loaded) == docs::text_of(&doc));
            } else {
                let stored = docs::state_vector(&loaded);
                let live = docs::state_vector(&doc);
                prop_assert!(dominates(&live, &stored), "storage ahead of the document");
            }
        }
        // Healed: one more edit, and everything is durable.
        edit(&mut coordinator, 10, 999);
        let outcome = coordinator.save(&store, &doc, now + 1000, &mut trace);
        prop_assert!(outcome.is_durable(), "{:?}", outcome);
        let loaded = docs::rebuilt(&store.load().expect("load"));
        prop_assert!(docs::text_of(&loaded) == docs::text_of(&doc));
    }
}

/// Whether state vector `a` covers `b` for every client.
fn dominates(a: &StateVector, b: &StateVector) -> bool {
    b.iter().all(|(client, clock)| a.get(client) >= *clock)
}
