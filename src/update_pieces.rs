//! A v1 update cut into smaller v1 updates, read and handed on in pieces.
//!
//! A vault's snapshot is one update as large as the vault (23 MB at 10,000
//! notes). Sending it to a fresh client as one frame needs it whole in wasm
//! memory, a copy of it in JavaScript, and one WebSocket message as large as
//! the vault. [`UpdatePieces`] instead reads the update in the chunks it is
//! stored in and hands out complete updates of about a target size, cut
//! between structs: each piece holds, for some clients, a run of consecutive
//! structs (a section header naming the client and the clock of the first),
//! and the last piece carries the delete set. Applied in order, the pieces
//! build the same document as the whole update; a receiver that gets them
//! out of order holds a piece back until what it depends on arrives, as for
//! any update.
//!
//! Every field is walked with the checks of [`crate::wire_check`], so bytes
//! that would crash yrs are refused here as they are there, and nothing is
//! trusted: the input is stored data. That includes the rule that no struct
//! starts beyond its client's clock, taken against an empty document (what
//! the whole update would be applied to at a load): the rule of a piece
//! that continues a section is then already checked, and its receiver may
//! hold it until the piece before it has been integrated. A piece exceeds the target only by its
//! last struct, and a struct is never larger than the update it came in.

use std::collections::HashSet;

use yrs::encoding::write::Write;
use yrs::{ClientID, StateVector};

use crate::wire_check::{block, delete_set, Reader, WireError, MAX_CLOCK};

mod first_structs;
pub use first_structs::FirstStructs;

/// The size a fresh client's full state is sent in (a frame each): small
/// beside the isolate's 128 MB and far below a WebSocket message's 32 MiB,
/// large enough that a 50 MB vault is a dozen frames.
pub const DEFAULT_PIECE_BYTES: usize = 4 * 1024 * 1024;

/// The smallest target accepted: below it, the header of each piece and
/// section would be a noticeable share of the bytes sent.
pub const MIN_PIECE_BYTES: usize = 16 * 1024;

/// Cuts one v1 update, fed in consecutive chunks, into pieces.
pub struct UpdatePieces {
    target: usize,
    /// Input received and not yet consumed, from `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// Input bytes still to arrive (the declared length minus what was fed).
    to_come: u64,
    stage: Stage,
    clients_seen: HashSet<u64>,
    /// The open piece: its finished sections, then the structs of the
    /// section being read (its header goes in front when it closes).
    piece: Vec<u8>,
    piece_sections: u64,
    /// The section being read.
    section: Section,
    /// With [`UpdatePieces::holding_back`]: each new client's first struct
    /// (see [`FirstStructs`]), and where each client's structs end.
    first: Option<FirstStructs>,
    ends: Vec<(u64, u64)>,
    /// The state the update applies to (empty: a whole document's).
    base: StateVector,
}

/// What a cutter holding back first structs leaves for the final frame.
pub struct HeldBack {
    /// The first struct of every client seen, this update's and before.
    pub first: FirstStructs,
    /// The update's delete set, encoded.
    pub delete_set: Vec<u8>,
    /// The clock each client's structs in this update reach.
    pub state: StateVector,
}

/// Where the walk of the update is.
#[derive(Clone, Copy)]
enum Stage {
    /// At the client count.
    Start,
    /// At a section header, with `clients` sections still to read.
    Header { clients: u64 },
    /// Inside a section, `structs` of which are still to read.
    Structs { clients: u64, structs: u64 },
    /// At the delete set, read when all input is in ([`UpdatePieces::finish`]).
    DeleteSet,
}

/// The part of one client's section that goes into the open piece.
#[derive(Default)]
struct Section {
    client: u64,
    /// Clock of its first struct, and of the struct after its last.
    first_clock: u64,
    next_clock: u64,
    /// The clock the structs so far reach without a gap (`wire_check`'s rule).
    known: u64,
    count: u64,
    /// Where its structs start in the open piece.
    start: usize,
    /// Its first struct is the client's first: held back, not sent.
    hold_first: bool,
}

/// Input is copied into the cutter's buffer this much at a time, so the
/// buffer holds a window plus the struct that runs past it, not a whole
/// stored chunk (1 MiB) and its remainder: 2 MiB less at the peak of a
/// fresh sync or a load of a 25,000-note vault (`benchmarks.md`).
const FEED_WINDOW_BYTES: usize = 64 * 1024;

/// Room a piece is allocated with beyond the target: the struct that ends
/// past it, and the headers of the piece and of a frame around it.
const PIECE_SLACK: usize = 64 * 1024;

impl UpdatePieces {
    /// A cutter for an update of `total_len` bytes into pieces of about
    /// `target` bytes (at least [`MIN_PIECE_BYTES`]).
    pub fn new(total_len: u64, target: usize) -> Self {
        UpdatePieces {
            target: target.max(MIN_PIECE_BYTES),
            buf: Vec::new(),
            pos: 0,
            to_come: total_len,
            stage: Stage::Start,
            clients_seen: HashSet::new(),
            piece: Vec::new(),
            piece_sections: 0,
            section: Section::default(),
            first: None,
            ends: Vec::new(),
            base: StateVector::default(),
        }
    }

    /// [`UpdatePieces::new`] without the [`MIN_PIECE_BYTES`] floor, so that
    /// fuzzing can cut the small updates it makes into many pieces.
    #[doc(hidden)]
    pub fn new_unclamped(total_len: u64, target: usize) -> Self {
        UpdatePieces { target: target.max(1), ..Self::new(total_len, target) }
    }

    /// A cutter for an update that applies to a document in state `base`
    /// (a diff): the clock rule of [`crate::wire_check`] is taken against it.
    pub fn applying_to(mut self, base: StateVector) -> Self {
        self.base = base;
        self
    }

    /// A cutter that holds back the first struct of each client it sees
    /// for the first time in `first` (which may hold those of updates cut
    /// before), and the delete set: no piece it hands out can be
    /// integrated by a receiver until the held-back part arrives.
    /// [`UpdatePieces::finish_held`] returns them.
    pub fn holding_back(mut self, first: FirstStructs) -> Self {
        self.first = Some(first);
        self
    }

    /// Takes the next bytes of the update; every piece they complete is
    /// handed to `out`, in order.
    pub fn feed(&mut self, bytes: &[u8], out: &mut dyn FnMut(Vec<u8>)) -> Result<(), WireError> {
        let fed = bytes.len() as u64;
        if fed > self.to_come {
            return Err(self.error("input longer than declared"));
        }
        for window in bytes.chunks(FEED_WINDOW_BYTES) {
            self.to_come -= window.len() as u64;
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.buf.extend_from_slice(window);
            loop {
                match self.step(out) {
                    Ok(true) => {}
                    // The delete set: kept whole in the buffer for `finish`.
                    Ok(false) => break,
                    // The field runs on in bytes still to come.
                    Err(e) if e.is_truncation() && self.to_come > 0 => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// All input is in: the last piece, with the delete set.
    pub fn finish(mut self, out: &mut dyn FnMut(Vec<u8>)) -> Result<(), WireError> {
        let delete_set = self.delete_set(out)?;
        let mut last = self.take_piece();
        last.extend_from_slice(&self.buf[delete_set]);
        out(last);
        Ok(())
    }

    /// All input is in, for a cutter [`UpdatePieces::holding_back`]: the
    /// last piece if it holds any struct (with an empty delete set), and what
    /// was held back.
    pub fn finish_held(mut self, out: &mut dyn FnMut(Vec<u8>)) -> Result<HeldBack, WireError> {
        let delete_set = self.delete_set(out)?;
        if self.piece_sections > 0 {
            let mut last = self.take_piece();
            last.push(0);
            out(last);
        }
        Ok(HeldBack {
            first: self.first.take().unwrap_or_default(),
            delete_set: self.buf[delete_set].to_vec(),
            state: self.ends.iter().map(|&(c, end)| (ClientID::new(c), end as u32)).collect(),
        })
    }

    /// Reads the rest of the structs and checks the delete set that ends the
    /// update; returns where it is in the buffer.
    fn delete_set(
        &mut self,
        out: &mut dyn FnMut(Vec<u8>),
    ) -> Result<std::ops::Range<usize>, WireError> {
        if self.to_come > 0 {
            return Err(self.error("input shorter than declared"));
        }
        while self.step(out)? {}
        if !matches!(self.stage, Stage::DeleteSet) {
            return Err(self.error("update ended inside its structs"));
        }
        let mut r = Reader::streaming(&self.buf[self.pos..], "update", 0);
        delete_set(&mut r)?;
        Ok(self.pos..self.pos + r.pos)
    }

    /// Reads one field group (a count, a section header or a struct) from
    /// the buffer. `Ok(false)`: nothing more to read before the delete set.
    fn step(&mut self, out: &mut dyn FnMut(Vec<u8>)) -> Result<bool, WireError> {
        let mut r = Reader::streaming(&self.buf[self.pos..], "update", self.to_come);
        match self.stage {
            Stage::Start => {
                let clients = r.count(3)?;
                self.pos += r.pos;
                self.stage = Self::after_section(clients);
            }
            Stage::Header { clients } => {
                let structs = r.count(2)?;
                let client = r.client()?;
                let clock = u64::from(r.var_u32()?);
                if !self.clients_seen.insert(client) {
                    return Err(r.fail("client listed twice"));
                }
                self.pos += r.pos;
                self.section = Section {
                    client,
                    first_clock: clock,
                    next_clock: clock,
                    start: self.piece.len(),
                    hold_first: self.first.as_mut().is_some_and(|f| f.first_sight(client)),
                    known: u64::from(self.base.get(&ClientID::new(client))),
                    ..Section::default()
                };
                self.stage = if structs == 0 {
                    Self::after_section(clients - 1)
                } else {
                    Stage::Structs { clients, structs }
                };
            }
            Stage::Structs { clients, structs } => {
                let block = block(&mut r)?;
                let section = &mut self.section;
                if !block.skip {
                    if section.next_clock <= section.known {
                        section.known = section.known.max(section.next_clock + block.len);
                    } else if block.origin
                        != Some((section.client, (section.next_clock - 1) as u32))
                    {
                        return Err(r.fail("struct beyond the document's clock for its client"));
                    }
                }
                let clock = section.next_clock;
                section.next_clock += block.len;
                if section.next_clock > MAX_CLOCK {
                    return Err(r.fail("clock past 2^31"));
                }
                if self.piece.capacity() == 0 {
                    self.piece.reserve_exact(self.target + PIECE_SLACK);
                }
                let bytes = &self.buf[self.pos..self.pos + r.pos];
                match self.first.as_mut().filter(|_| section.hold_first) {
                    Some(first) => {
                        section.hold_first = false;
                        // The section now starts after what was held back.
                        section.first_clock = section.next_clock;
                        if let Some((head_len, tail)) = first.hold(section.client, clock, bytes)? {
                            section.first_clock = clock + head_len;
                            section.count += 1;
                            self.piece.extend_from_slice(&tail);
                        }
                    }
                    None => {
                        section.count += 1;
                        self.piece.extend_from_slice(bytes);
                    }
                }
                self.pos += r.pos;
                if structs == 1 && self.first.is_some() {
                    self.ends.push((section.client, section.next_clock));
                }
                if structs == 1 {
                    self.close_section();
                    self.stage = Self::after_section(clients - 1);
                } else {
                    self.stage = Stage::Structs { clients, structs: structs - 1 };
                }
                if self.piece.len() >= self.target {
                    self.close_section();
                    let mut piece = self.take_piece();
                    piece.push(0); // an empty delete set
                    out(piece);
                }
            }
            Stage::DeleteSet => return Ok(false),
        }
        Ok(true)
    }

    /// The stage after a section, `clients` sections remaining.
    fn after_section(clients: u64) -> Stage {
        if clients == 0 {
            Stage::DeleteSet
        } else {
            Stage::Header { clients }
        }
    }

    /// Puts the open section's header in front of its structs; what the
    /// client has next starts a new section at the following clock.
    fn close_section(&mut self) {
        let section = &mut self.section;
        if section.count == 0 {
            return;
        }
        let mut header = Vec::with_capacity(30);
        header.write_var(section.count);
        header.write_var(section.client);
        header.write_var(section.first_clock);
        self.piece.splice(section.start..section.start, header);
        self.piece_sections += 1;
        section.count = 0;
        section.first_clock = section.next_clock;
        section.start = self.piece.len();
    }

    /// The open piece with its client count in front (the delete set is the
    /// caller's to add); the next piece starts empty.
    fn take_piece(&mut self) -> Vec<u8> {
        let mut piece = std::mem::take(&mut self.piece);
        let mut count = Vec::with_capacity(10);
        count.write_var(self.piece_sections);
        piece.splice(0..0, count);
        self.piece_sections = 0;
        self.section.start = 0;
        piece
    }

    fn error(&self, why: &'static str) -> WireError {
        WireError { what: "update", at: self.pos, why }
    }
}

#[cfg(test)]
mod tests;
