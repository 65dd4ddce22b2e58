//! Each client's first struct, held back from a fresh client's pieces so
//! that the client integrates the whole vault in one transaction.
//!
//! Yjs (and yrs) integrate a struct only once the struct before it, by its
//! own client's clock, is there; everything else waits as pending and is
//! integrated in the transaction that completes it. So if every client's
//! first struct is missing, no piece can integrate anything, however many
//! pieces arrive: the receiver only gathers them. The frame carrying the
//! held-back structs (and the delete set) completes every client at once,
//! and the whole vault appears in that one transaction: a fresh device never
//! observes a state the vault did not settle in (a note alive whose delete
//! is still to come, text whose removal is in a later piece).
//!
//! To keep that last frame small, a first struct is cut after its first
//! clock unit where its content allows it (a string after its first
//! character, never inside a surrogate pair; a run of values after the
//! first; a deleted or collected range after one unit), exactly as Yjs
//! splits an item itself: the held-back head keeps the struct's origins and
//! parent, and the tail that stays in the piece names the head as its left
//! origin. Contents of one unit (a shared type, an embed, a format, a binary,
//! a subdocument) are held back whole.

use std::collections::HashSet;

use yrs::encoding::write::Write;

use crate::wire_check::{
    any, Reader, WireError, GC, HAS_ORIGIN, HAS_PARENT_SUB, HAS_RIGHT_ORIGIN, SKIP,
};

// yrs's content references (`ItemContent`).
const CONTENT_DELETED: u8 = 1;
const CONTENT_STRING: u8 = 4;
const CONTENT_ANY: u8 = 8;

/// The first struct of every client seen so far, and the clients seen.
#[derive(Default)]
pub struct FirstStructs {
    seen: HashSet<u64>,
    /// One section per held struct (count 1, client, clock, struct).
    sections: Vec<u8>,
    count: u64,
}

impl FirstStructs {
    /// Whether `client` has not been seen before; it is seen from now on.
    pub(super) fn first_sight(&mut self, client: u64) -> bool {
        self.seen.insert(client)
    }

    /// Holds back the head of `bytes`, one struct of `client` at `clock`
    /// (already checked by [`crate::wire_check`]). Returns the head's length
    /// in clock units and the tail to send in its place, or `None` when the
    /// struct is held back whole.
    pub(super) fn hold(
        &mut self,
        client: u64,
        clock: u64,
        bytes: &[u8],
    ) -> Result<Option<(u64, Vec<u8>)>, WireError> {
        let split = split_first(client, clock, bytes)?;
        self.sections.write_var(1u64);
        self.sections.write_var(client);
        self.sections.write_var(clock);
        self.count += 1;
        Ok(match split {
            Some(Split { head, head_len, tail }) => {
                self.sections.extend_from_slice(&head);
                Some((head_len, tail))
            }
            None => {
                self.sections.extend_from_slice(bytes);
                None
            }
        })
    }

    /// How many structs are held.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.sections.len()
    }

    /// The final update: every held struct, then `delete_set` (an encoded
    /// delete set, `[0]` for none).
    pub fn into_update(self, delete_set: &[u8]) -> Vec<u8> {
        let mut update = Vec::with_capacity(self.sections.len() + delete_set.len() + 10);
        update.write_var(self.count);
        update.extend_from_slice(&self.sections);
        update.extend_from_slice(delete_set);
        update
    }
}

/// A struct cut after its first `head_len` clock units.
struct Split {
    head: Vec<u8>,
    head_len: u64,
    tail: Vec<u8>,
}

/// Cuts one struct of `client` at `clock` after its first unit, or `None`
/// when it is one unit long or its content cannot be cut.
fn split_first(client: u64, clock: u64, bytes: &[u8]) -> Result<Option<Split>, WireError> {
    let mut r = Reader::new(bytes, "struct");
    let info = r.u8()?;
    if info == GC {
        let len = u64::from(r.var_u32()?);
        return Ok((len > 1).then(|| {
            let (mut head, mut tail) = (vec![GC], vec![GC]);
            head.write_var(1u64);
            tail.write_var(len - 1);
            Split { head, head_len: 1, tail }
        }));
    }
    if info == SKIP {
        return Ok(None);
    }
    if info & HAS_ORIGIN != 0 {
        r.id()?;
    }
    let right_origin = if info & HAS_RIGHT_ORIGIN != 0 {
        let start = r.pos;
        r.id()?;
        Some(start..r.pos)
    } else {
        None
    };
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        if r.var_u32()? == 1 {
            r.var_string()?;
        } else {
            r.id()?;
        }
        if info & HAS_PARENT_SUB != 0 {
            r.var_string()?;
        }
    }
    let header = &bytes[..r.pos];
    let reference = info & 0b1111;
    // The head's content and the tail's, each encoded, and the head's length.
    let (head_content, head_len, tail_content) = match reference {
        CONTENT_DELETED => {
            let len = u64::from(r.var_u32()?);
            if len < 2 {
                return Ok(None);
            }
            let (mut head, mut tail) = (Vec::new(), Vec::new());
            head.write_var(1u64);
            tail.write_var(len - 1);
            (head, 1, tail)
        }
        CONTENT_STRING => {
            let text = r.var_string()?;
            let mut chars = text.chars();
            let Some(first) = chars.next() else { return Ok(None) };
            let rest = chars.as_str();
            if rest.is_empty() {
                return Ok(None);
            }
            let (mut head, mut tail) = (Vec::new(), Vec::new());
            head.write_string(&text[..first.len_utf8()]);
            tail.write_string(rest);
            (head, first.len_utf16() as u64, tail)
        }
        CONTENT_ANY => {
            let count = u64::from(r.var_u32()?);
            if count < 2 {
                return Ok(None);
            }
            let start = r.pos;
            any(&mut r, 1)?;
            let first = &bytes[start..r.pos];
            let (mut head, mut tail) = (Vec::new(), Vec::new());
            head.write_var(1u64);
            head.extend_from_slice(first);
            tail.write_var(count - 1);
            tail.extend_from_slice(&bytes[r.pos..]);
            (head, 1, tail)
        }
        _ => return Ok(None),
    };
    let mut head = Vec::with_capacity(header.len() + head_content.len());
    head.extend_from_slice(header);
    head.extend_from_slice(&head_content);
    // The tail follows its head: its left origin is the head's last unit,
    // its right origin the struct's, its parent the head's (implied).
    let mut tail = vec![HAS_ORIGIN | (info & HAS_RIGHT_ORIGIN) | reference];
    tail.write_var(client);
    tail.write_var(clock + head_len - 1);
    if let Some(range) = right_origin {
        tail.extend_from_slice(&bytes[range]);
    }
    tail.extend_from_slice(&tail_content);
    Ok(Some(Split { head, head_len, tail }))
}
