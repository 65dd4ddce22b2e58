//! Which notes changed, and in what order, since the room was activated: the
//! device ledger's answer to "what is a device that left missing?".
//!
//! A deep observer on the document's `idToText` (note text) and `meta`
//! (note metadata) maps records, per transaction, the file IDs it touched
//! (the first key of each changed path, or the changed keys of the map
//! itself) under a sequence number. A device's position in that sequence
//! when it last synced or left tells which notes changed after it. Kept in
//! memory for this activation only (an evicted object starts a new epoch;
//! a position from another epoch is "unknown"), and bounded: past
//! [`MAX_CHANGED_NOTES`] notes the log starts again and older positions
//! become unknown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use yrs::types::{Event, PathSegment};
use yrs::{DeepObservable, Doc};

/// The most distinct notes the log remembers (a 25,000-note vault rewritten
/// twice over still fits: about 2 MB of memory at the bound).
pub const MAX_CHANGED_NOTES: usize = 50_000;
/// The observer's key on the two maps.
const OBSERVER_KEY: &str = "yaos-change-log";

/// A place in the change log: the activation and the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

#[derive(Debug, Default)]
struct Log {
    seq: u64,
    /// Below this sequence number the log is incomplete (it started again).
    floor: u64,
    changed: HashMap<Arc<str>, u64>,
}

impl Log {
    fn record(&mut self, file_ids: impl IntoIterator<Item = Arc<str>>) {
        self.seq += 1;
        for id in file_ids {
            if self.changed.len() >= MAX_CHANGED_NOTES && !self.changed.contains_key(&id) {
                self.changed.clear();
                self.floor = self.seq;
            }
            self.changed.insert(id, self.seq);
        }
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The change log of one activation.
#[derive(Debug)]
pub struct ChangeLog {
    epoch: u64,
    log: Arc<Mutex<Log>>,
}

impl ChangeLog {
    /// Starts observing `doc` (no transaction may be open on it); `epoch`
    /// names this activation (its start time).
    pub fn observe(doc: &Doc, epoch: u64) -> ChangeLog {
        let log = Arc::new(Mutex::new(Log::default()));
        for root in ["idToText", "meta"] {
            let sink = Arc::clone(&log);
            doc.get_or_insert_map(root).observe_deep(OBSERVER_KEY, move |txn, events| {
                let mut ids: Vec<Arc<str>> = Vec::new();
                for event in events.iter() {
                    match event.path().front() {
                        Some(PathSegment::Key(id)) => ids.push(Arc::clone(id)),
                        Some(PathSegment::Index(_)) => {}
                        None => {
                            if let Event::Map(map) = event {
                                ids.extend(map.keys(txn).keys().cloned());
                            }
                        }
                    }
                }
                if !ids.is_empty() {
                    lock(&sink).record(ids);
                }
            });
        }
        ChangeLog { epoch, log }
    }

    /// Where the log stands now.
    pub fn position(&self) -> Position {
        Position { epoch: self.epoch, seq: lock(&self.log).seq }
    }

    /// The file IDs changed after `since`, or `None` when the log cannot
    /// tell (another activation's position, or one the log forgot).
    pub fn changed_since(&self, since: Position) -> Option<Vec<Arc<str>>> {
        let log = lock(&self.log);
        if since.epoch != self.epoch || since.seq < log.floor {
            return None;
        }
        let mut ids: Vec<(u64, Arc<str>)> = log
            .changed
            .iter()
            .filter(|(_, &seq)| seq > since.seq)
            .map(|(id, &seq)| (seq, Arc::clone(id)))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a)); // the most recent first
        Some(ids.into_iter().map(|(_, id)| id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Map, MapPrelim, Text, TextPrelim, Transact, WriteTxn};

    fn add_note(doc: &Doc, id: &str, text: &str) {
        let mut txn = doc.transact_mut();
        let texts = txn.get_or_insert_map("idToText");
        texts.insert(&mut txn, id, TextPrelim::new(text));
        let meta = txn.get_or_insert_map("meta");
        meta.insert(&mut txn, id, MapPrelim::from([("path", format!("{id}.md"))]));
    }

    #[test]
    fn the_notes_changed_since_a_position_are_named_most_recent_first() {
        let doc = Doc::new();
        let log = ChangeLog::observe(&doc, 7);
        add_note(&doc, "a", "1");
        let synced = log.position();
        for id in ["b", "c", "d"] {
            add_note(&doc, id, "x");
        }
        // A text edit inside an existing note counts for that note.
        {
            let mut txn = doc.transact_mut();
            let texts = txn.get_or_insert_map("idToText");
            let Some(yrs::Out::YText(text)) = texts.get(&txn, "b") else { panic!("b") };
            text.insert(&mut txn, 0, "edited ");
        }
        let changed = log.changed_since(synced).unwrap();
        let names: Vec<&str> = changed.iter().map(|s| &**s).collect();
        assert_eq!(names, ["b", "d", "c"]);
        assert_eq!(log.changed_since(log.position()).unwrap().len(), 0);
        assert_eq!(log.changed_since(Position { epoch: 6, seq: 0 }), None, "another activation");
    }

    #[test]
    fn past_its_bound_the_log_starts_again_and_forgets_older_positions() {
        let mut log = Log::default();
        log.record((0..MAX_CHANGED_NOTES).map(|i| Arc::from(i.to_string())));
        let before = log.seq;
        log.record([Arc::from("one more")]);
        assert_eq!(log.changed.len(), 1);
        assert!(log.floor > before);
    }
}
