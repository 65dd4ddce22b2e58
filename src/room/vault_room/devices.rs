//! The vault room's side of the device ledger (`room::device_ledger`): a
//! socket's device name from its awareness, the ledger's rows written
//! through the room's SQL, and the `devices` report with what a device that
//! left is missing (`room::change_log`).

use serde_json::json;
use yrs::{ReadTxn, Transact};

use super::{device_name, VaultRoom, DEVICE_LEDGER_FAILED_EVENT};
use crate::diagnostics::trace::TraceSink;
use crate::doc_model::summary::note_path;
use crate::room::device_ledger::{Missing, MISSING_PATHS_SHOWN};
use crate::store::device_rows;
use crate::store::sql::SqlExec;

impl<E: SqlExec> VaultRoom<E> {
    /// The device name in the `user.name` of the awareness states `ids`
    /// (the plugin sets it to its device name when an editor is open),
    /// bounded as the URL's is.
    pub(super) fn awareness_device_name(&self, ids: &[u64]) -> Option<String> {
        self.room.awareness().iter().filter(|(client, _)| ids.contains(&client.get())).find_map(
            |(_, state)| {
                let json: serde_json::Value = serde_json::from_str(state.data.as_deref()?).ok()?;
                device_name(json.get("user")?.get("name")?.as_str()?)
            },
        )
    }

    /// `socket` now holds everything the room holds (its sync answered).
    pub(super) fn mark_synced(&mut self, socket: &str, now: u64) {
        let (sv, at) = (self.room.doc().transact().state_vector(), self.changes.position());
        self.ledger.synced(socket, &sv, at, now);
    }

    /// `socket` closed: the ledger keeps how far its device had come.
    pub(super) fn mark_closed(&mut self, socket: &str) {
        let (sv, at) = (self.room.doc().transact().state_vector(), self.changes.position());
        self.ledger.closed(socket, &sv, at, (self.clock)());
    }

    /// Writes the ledger rows that changed (a row a device that connected,
    /// was named or closed).
    pub(super) fn write_ledger(&mut self) {
        let writes = self.ledger.take_writes();
        if writes.is_empty() || self.ledger_failed {
            return;
        }
        let rows: Vec<(String, Option<String>)> = writes
            .into_iter()
            .map(|(device, record)| (device, record.and_then(|r| serde_json::to_string(&r).ok())))
            .collect();
        if let Err(error) = device_rows::write(self.store.sql(), &rows) {
            self.ledger_storage_failed(error.to_string());
        }
    }

    pub(super) fn ledger_storage_failed(&mut self, error: String) {
        self.ledger_failed = true;
        self.trace.trace(DEVICE_LEDGER_FAILED_EVENT, json!({ "error": error }));
    }

    /// `GET /vault/<id>/devices`: the ledger against the document's state.
    pub fn devices_report(&self) -> serde_json::Value {
        let txn = self.room.doc().transact();
        let missing = |since| {
            let ids = self.changes.changed_since(since)?;
            let paths = ids.iter().filter_map(|id| note_path(&txn, id)).take(MISSING_PATHS_SHOWN);
            Some(Missing { notes: ids.len(), paths: paths.collect() })
        };
        self.ledger.report(&txn.state_vector(), missing)
    }
}
