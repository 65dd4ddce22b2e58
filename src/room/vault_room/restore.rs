//! The vault room's side of a snapshot restore (`doc_model::restore`): the
//! notes are written in one transaction of the live document, sent to every
//! connected device as one update, and written to storage before the room
//! answers, as an edit from a device is before its receipt.

use super::{compaction_due, FlushTurn, Outbox, VaultRoom};
use crate::doc_model::restore::{self, Planned, Restoring, Writer, FILE_ID_BYTES};
use crate::store::sql::SqlExec;
use thiserror::Error;
use yrs::Transact;

/// A restore the room did not make durable.
#[derive(Debug, Error)]
pub enum RestoreRefused {
    #[error("the vault's storage is failing (read-only fallback): nothing was restored")]
    ReadOnly,
    #[error(
        "the restore reached the connected devices but is not stored yet ({0}); \
         the server retries the write as for any unsaved edit"
    )]
    NotDurable(String),
}

/// A restore the room made: what each note's restore did, and the write's
/// follow-up for the shell (retry timer, compaction).
#[derive(Debug)]
pub struct RestoreTurn {
    pub done: Vec<Planned>,
    pub flush: FlushTurn,
}

impl<E: SqlExec> VaultRoom<E> {
    /// What restoring `notes` would do, writing nothing.
    pub fn plan_restore(&self, notes: &[Restoring<'_>]) -> Vec<Planned> {
        restore::plan(&self.room.doc().transact(), notes)
    }

    /// Restores `notes` (distinct paths) for `device`; `Ok` only once the
    /// change is durable (or there was nothing to change).
    pub fn restore(
        &mut self,
        notes: &[Restoring<'_>],
        device: Option<&str>,
        random_id: &mut dyn FnMut() -> [u8; FILE_ID_BYTES],
        out: &mut impl Outbox,
    ) -> Result<RestoreTurn, (RestoreRefused, Option<RestoreTurn>)> {
        if self.is_read_only() {
            return Err((RestoreRefused::ReadOnly, None));
        }
        let now = (self.clock)();
        let writer = Writer { now_ms: now, device, random_id };
        let (done, frames) = self.room.local_edit(|txn| restore::apply(txn, notes, writer));
        for frame in frames {
            out.broadcast(&frame);
        }
        for update in self.room.take_doc_updates() {
            self.coordinator.record_update(update);
        }
        if !self.coordinator.has_pending() {
            return Ok(RestoreTurn { done, flush: FlushTurn::default() });
        }
        self.last_edit_at = Some(now);
        self.govern(now);
        let outcome = self.coordinator.save(&self.store, self.room.doc(), now, &mut self.trace);
        let durable = outcome.is_durable();
        if durable {
            self.send_echo_to_all(out);
        }
        let flush_at = self.commit.wrote(now, durable);
        let error = (!durable).then(|| {
            let health = self.coordinator.health();
            health.last_save_error.unwrap_or_else(|| outcome.result_name().to_owned())
        });
        let save = Some(outcome);
        let turn = RestoreTurn {
            done,
            flush: FlushTurn { compaction_due: compaction_due(&save), save, flush_at },
        };
        match error {
            None => Ok(turn),
            Some(error) => Err((RestoreRefused::NotDurable(error), Some(turn))),
        }
    }
}
