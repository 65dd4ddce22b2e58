//! Total structural checks of lib0-encoded input, run before yrs decodes it.
//!
//! yrs 0.28.1 (the newest release) can be crashed by bytes a client sends or
//! storage holds: its cursor checks `next + len > buf.len()`, which wraps on
//! 32-bit `usize` for a length near 2^32 and panics on the slice (the whole
//! wasm instance is reset); `Any::decode` recurses once per nesting level
//! with no limit (a 40 KB value overflows the wasm stack); and counts read
//! from the wire size allocations before any element is read. These checks
//! walk the same structure yrs reads, field for field (v1 updates, state
//! vectors, awareness updates and the sync/awareness frame around them), and
//! accept only input on which every read yrs makes is in bounds, every count
//! is bounded by the bytes left, every client ID is a JavaScript safe integer
//! and every value is nested at most [`MAX_VALUE_DEPTH`] deep. Whatever they
//! accept, yrs decodes without panicking; what they reject gets a
//! [`WireError`] naming the first offending field, and nothing is applied.
//!
//! The checks are stricter than yrs where yrs would silently wrap (a varuint
//! that overflows its field) or fail later anyway; every accepted byte is
//! consumed exactly as yrs consumes it.
//!
//! One more check needs the document the update is for
//! ([`decode_update_for`], [`check_frame_for`]): no struct may start beyond
//! the document's clock for its client. yrs integrates such a struct at once
//! and fills the gap before it with a placeholder ("skip"); a later struct
//! that covers the gap and runs past it makes yrs subtract past zero in
//! `BlockStore::push` (a panic with overflow checks, a corrupt store
//! without). Yjs itself never integrates out of order, and its clients send
//! each client's structs from the clock the server has, so such an update is
//! refused, except for a struct inserted right after its own client's
//! previous ID (typing continued while that ID is missing): yrs holds it
//! pending until the predecessor arrives, so it never leaves a gap.

use thiserror::Error;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Update};

use crate::safe_int::MAX_SAFE_INTEGER;

mod nesting;
pub(crate) use nesting::ParentRef;
pub use nesting::MAX_TYPE_DEPTH;
use nesting::{DocTypes, InDoc, Structs};

/// The deepest nesting of arrays and maps in one JSON-like value. The
/// TypeScript server accepted and served values 1,000 levels deep, so those
/// keep working; every recursive walk of stored values (`any_to_json`, the
/// canonical snapshot encoding, yrs's own `Any::decode`) is bounded by it and
/// stays far inside the wasm stack.
pub const MAX_VALUE_DEPTH: usize = 1000;

/// The highest clock a struct or deleted range may reach. yrs keeps clocks
/// in `u32` but computes offsets between them as `i32` and adds lengths
/// without checks, so clocks past 2^31 make it wrap (the fuzzers found
/// three ways). A Yjs client reaches 2^31 after two billion operations of
/// one client ID: never.
pub const MAX_CLOCK: u64 = i32::MAX as u64;

/// The longest varuint yrs reads (it errors after the 11th byte).
const MAX_VARUINT_BYTES: usize = 11;
/// The longest signed varint accepted: 62 bits of magnitude, more than any
/// JavaScript safe integer needs, and short enough that yrs's shifts and
/// negation cannot overflow.
const MAX_SIGNED_VARINT_BYTES: usize = 9;

/// Why some input was refused, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what} at byte {at}: {why}")]
pub struct WireError {
    pub what: &'static str,
    pub at: usize,
    pub why: &'static str,
}

/// A Yjs v1 update, checked then decoded.
pub fn decode_update_v1(bytes: &[u8]) -> Result<Update, DecodeError> {
    check_update_v1(bytes)?;
    Ok(Update::decode_v1(bytes)?)
}

/// A Yjs v1 update for the document `doc` reads: checked (structure, no
/// struct beyond the document's clock, no type nested deeper than
/// [`MAX_TYPE_DEPTH`]), then decoded.
pub fn decode_update_for<T: ReadTxn>(bytes: &[u8], doc: &T) -> Result<Update, DecodeError> {
    check_update_in(bytes, doc)?;
    Ok(Update::decode_v1(bytes)?)
}

/// [`check_update_v1`] for the document `doc` reads: no struct may start
/// beyond the document's clock for its client, and no type may be nested
/// deeper than [`MAX_TYPE_DEPTH`].
pub fn check_update_in<T: ReadTxn>(bytes: &[u8], doc: &T) -> Result<(), WireError> {
    walk_update(bytes, Some(&doc.state_vector()), Some(&mut InDoc::new(doc)))
}

/// The structure and the clock rule alone, for a document whose state
/// vector is `doc` (what the snapshot cutter checks as it streams); the
/// nesting of types needs the document itself ([`check_update_in`]).
pub fn check_update_for(bytes: &[u8], doc: &StateVector) -> Result<(), WireError> {
    walk_update(bytes, Some(doc), None)
}

/// A piece of a larger update, applied in order to the document `doc`
/// reads: checked for structure and nesting, then decoded. The clock rule
/// is not applied (it was checked across the whole update as it was cut).
pub fn decode_piece_for<T: ReadTxn>(bytes: &[u8], doc: &T) -> Result<Update, DecodeError> {
    walk_update(bytes, None, Some(&mut InDoc::new(doc)))?;
    Ok(Update::decode_v1(bytes)?)
}

/// A refusal by the check, or yrs's own (recoverable) decode error.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error(transparent)]
    Invalid(#[from] WireError),
    #[error("undecodable: {0}")]
    Decode(#[from] yrs::encoding::read::Error),
}

/// A binary WebSocket frame as the room reads it: outer type 0 (sync) with a
/// SyncStep1, SyncStep2 or Update, or 1 (awareness); other types are ignored
/// by the room and pass. Trailing bytes after the message pass too (the room
/// reads one message per frame).
pub fn check_frame(frame: &[u8]) -> Result<(), WireError> {
    walk_frame::<yrs::Transaction>(frame, None)
}

/// [`check_frame`] for a room whose document `doc` reads: an update's
/// structs must also start within the document's clocks, and nest no type
/// deeper than [`MAX_TYPE_DEPTH`].
pub fn check_frame_for<T: ReadTxn>(frame: &[u8], doc: &T) -> Result<(), WireError> {
    walk_frame(frame, Some(doc))
}

fn walk_frame<T: ReadTxn>(frame: &[u8], doc: Option<&T>) -> Result<(), WireError> {
    let mut r = Reader::new(frame, "frame");
    match r.var_u64()? {
        0 => {
            let inner = r.var_u64()?;
            match inner {
                0 => check_state_vector_v1(r.var_buf()?),
                1 | 2 => match doc {
                    Some(doc) => check_update_in(r.var_buf()?, doc),
                    None => walk_update(r.var_buf()?, None, None),
                },
                _ => Ok(()), // the room refuses it as an unknown sync message
            }
        }
        1 => check_awareness_v1(r.var_buf()?),
        _ => Ok(()),
    }
}

/// A state vector: a count, then `(client, clock)` pairs.
pub fn check_state_vector_v1(bytes: &[u8]) -> Result<(), WireError> {
    let mut r = Reader::new(bytes, "state vector");
    let count = r.count(2)?;
    for _ in 0..count {
        r.client()?;
        r.var_u32()?;
    }
    Ok(())
}

/// An awareness update: a count, then `(client, clock, JSON string)` entries.
pub fn check_awareness_v1(bytes: &[u8]) -> Result<(), WireError> {
    let mut r = Reader::new(bytes, "awareness update");
    let count = r.count(3)?;
    for _ in 0..count {
        r.client()?;
        r.var_u32()?;
        r.var_string()?;
    }
    Ok(())
}

/// A v1 update: the structs of each client, then the delete set.
pub fn check_update_v1(bytes: &[u8]) -> Result<(), WireError> {
    walk_update(bytes, None, None)
}

/// The update walk; with `doc`, also refuses a struct that starts beyond
/// the document's clock for its client (module docs). Skips carry nothing
/// and move no clock; a struct already (partly) known is fine. With
/// `types`, also refuses a type nested deeper than [`MAX_TYPE_DEPTH`].
fn walk_update(
    bytes: &[u8],
    doc: Option<&StateVector>,
    types: Option<&mut dyn DocTypes>,
) -> Result<(), WireError> {
    let mut structs = types.is_some().then(Structs::default);
    let mut r = Reader::new(bytes, "update");
    let clients = r.count(3)?;
    // yrs appends a second section of the same client to the first, without
    // the offset it applies between updates, and its block store then
    // subtracts past zero (the `room_frames` fuzz target found it). Yjs
    // writes one section per client.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..clients {
        let blocks = r.count(2)?;
        let client = r.client()?;
        if !seen.insert(client) {
            return Err(r.fail("client listed twice"));
        }
        // yrs adds each struct's length to a u32 clock unchecked.
        let mut clock = u64::from(r.var_u32()?);
        let mut known = doc.map(|sv| u64::from(sv.get(&yrs::ClientID::new(client))));
        if let Some(structs) = &mut structs {
            structs.start_section(client);
        }
        for _ in 0..blocks {
            let block = block(&mut r)?;
            if let Some(structs) = &mut structs {
                structs.push(clock, block.len, block.is_type, block.parent);
            }
            if let Some(known) = known.as_mut().filter(|_| !block.skip) {
                if clock <= *known {
                    *known = (*known).max(clock + block.len);
                } else if block.origin != Some((client, (clock - 1) as u32)) {
                    return Err(r.fail("struct beyond the document's clock for its client"));
                }
                // Beyond, but right after its own missing predecessor: yrs
                // holds it pending until the predecessor is integrated, when
                // the client's clock has reached it (no gap). It does not
                // advance `known`: what follows must qualify on its own.
            }
            clock += block.len;
            if clock > MAX_CLOCK {
                return Err(r.fail("clock past 2^31"));
            }
        }
    }
    delete_set(&mut r)?;
    match (structs, types) {
        (Some(structs), Some(types)) => structs.check(types),
        _ => Ok(()),
    }
}

/// An update's delete set: per client, its deleted `(clock, length)` ranges.
pub(crate) fn delete_set(r: &mut Reader) -> Result<(), WireError> {
    let clients = r.count(2)?;
    for _ in 0..clients {
        r.client()?;
        let ranges = r.count(2)?;
        for _ in 0..ranges {
            // yrs adds the two into a u32 end clock (`IdRange`) unchecked.
            let start = u64::from(r.var_u32()?);
            if start + u64::from(r.var_u32()?) > MAX_CLOCK {
                return Err(r.fail("deleted range past 2^31"));
            }
        }
    }
    Ok(())
}

// yrs's struct tags (`block.rs`).
pub(crate) const GC: u8 = 0;
pub(crate) const SKIP: u8 = 10;
pub(crate) const HAS_ORIGIN: u8 = 0b1000_0000;
pub(crate) const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
pub(crate) const HAS_PARENT_SUB: u8 = 0b0010_0000;

/// What the update walk needs of one struct.
pub(crate) struct Block {
    /// Its length in clock units, as yrs counts it.
    pub(crate) len: u64,
    pub(crate) skip: bool,
    /// Its left origin, the ID it was inserted after.
    pub(crate) origin: Option<(u64, u32)>,
    /// Where its parent type is named or implied.
    pub(crate) parent: ParentRef,
    /// Whether its content is a shared type.
    pub(crate) is_type: bool,
}

/// One struct.
pub(crate) fn block(r: &mut Reader) -> Result<Block, WireError> {
    let gap = |len: u32, skip| Block {
        len: u64::from(len),
        skip,
        origin: None,
        parent: ParentRef::Gap,
        is_type: false,
    };
    match r.u8()? {
        // yrs refuses an empty gap at decode (`EmptyBlock`): so does the check.
        info @ (GC | SKIP) => match r.var_u32()? {
            0 => Err(r.fail("empty block")),
            len => Ok(gap(len, info == SKIP)),
        },
        info => {
            let mut origin = None;
            let mut right_origin = None;
            if info & HAS_ORIGIN != 0 {
                origin = Some(r.id()?);
            }
            if info & HAS_RIGHT_ORIGIN != 0 {
                right_origin = Some(r.id()?);
            }
            // yrs takes the parent of the left neighbour, else the right's.
            let mut parent = match origin.or(right_origin) {
                Some((client, clock)) => ParentRef::Neighbour(client, clock),
                None => ParentRef::Root,
            };
            if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
                if r.var_u32()? == 1 {
                    r.var_string()?; // a root type's name
                } else {
                    let (client, clock) = r.id()?; // the parent item
                    parent = ParentRef::Item(client, clock);
                }
                if info & HAS_PARENT_SUB != 0 {
                    r.var_string()?;
                }
            }
            let reference = info & 0b1111;
            let len = content(r, reference)?;
            Ok(Block { len, skip: false, origin, parent, is_type: reference == 7 })
        }
    }
}

/// An item's content by its ref number (yrs's `ItemContent::decode`);
/// returns its length as yrs counts it (a string's in UTF-16 units).
fn content(r: &mut Reader, reference: u8) -> Result<u64, WireError> {
    match reference {
        1 => r.var_u32().map(u64::from), // deleted: a length
        // JSON content, written only by Yjs before 13 (the plugin's Yjs writes
        // `Any`, 8). yrs 0.28 reads one string more than the count says but
        // writes the count of what it read, so what it stores of such a
        // struct (a journal row, a checkpoint) does not decode again: one
        // frame would leave the vault unloadable (the `room_frames` fuzz
        // target found it; `tests/checkpoint_encoding.rs`).
        2 => Err(r.fail("JSON content (Yjs before 13) is not taken")),
        3 => r.var_buf().map(|_| 1), // binary
        4 => r.var_string().map(|s| s.encode_utf16().count() as u64), // string
        5 => r.var_string().map(|_| 1), // embed: JSON text (yrs parses it with serde_json's depth limit)
        6 => {
            r.var_string()?; // format: key, then JSON text
            r.var_string().map(|_| 1)
        }
        7 => match r.u8()? {
            // a shared type: array, map, text, xml fragment/hook/text, subdoc, undefined
            0 | 1 | 2 | 4 | 5 | 6 | 9 | 15 => Ok(1),
            3 => r.var_string().map(|_| 1), // xml element: its name
            _ => Err(r.fail("unsupported type reference")),
        },
        8 => {
            let count = r.count(1)?;
            for _ in 0..count {
                any(r, 1)?;
            }
            Ok(count)
        }
        9 => {
            r.var_string()?; // subdocument: guid, then options
            any(r, 1).map(|()| 1)
        }
        _ => Err(r.fail("unknown content type")),
    }
}

/// One lib0 `Any` value at nesting level `depth` (yrs's `Any::decode`).
pub(crate) fn any(r: &mut Reader, depth: usize) -> Result<(), WireError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(r.fail("value nested too deeply"));
    }
    match r.u8()? {
        127 | 126 | 121 | 120 => Ok(()), // undefined, null, false, true
        125 => r.signed_varint(),
        124 => r.skip(4),
        123 | 122 => r.skip(8),
        119 => r.var_string().map(drop),
        118 => {
            let count = r.count_usize(2)?;
            for _ in 0..count {
                r.var_string()?;
                any(r, depth + 1)?;
            }
            Ok(())
        }
        117 => {
            let count = r.count_usize(1)?;
            for _ in 0..count {
                any(r, depth + 1)?;
            }
            Ok(())
        }
        116 => r.var_buf().map(drop),
        _ => Err(r.fail("unknown value type")),
    }
}

/// Why a read ran out of input. Reading a stream (see [`Reader::streaming`]),
/// either means "wait for more bytes" while more are to come.
const UNEXPECTED_END: &str = "unexpected end";
const LENGTH_BEYOND_END: &str = "length beyond the end of the input";

impl WireError {
    /// The input ended inside a field: with more input, the read may pass.
    pub(crate) fn is_truncation(&self) -> bool {
        self.why == UNEXPECTED_END || self.why == LENGTH_BEYOND_END
    }
}

/// A cursor that never reads past its buffer and never overflows.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    what: &'static str,
    /// Bytes of the same input that follow `buf` but are not read yet (a
    /// stream read piece by piece): counts are bounded by everything left,
    /// not only by what is buffered.
    to_come: u64,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what, to_come: 0 }
    }

    /// A reader over the buffered part of a longer input, `to_come` bytes of
    /// which are still to arrive.
    pub(crate) fn streaming(buf: &'a [u8], what: &'static str, to_come: u64) -> Self {
        Reader { buf, pos: 0, what, to_come }
    }

    pub(crate) fn fail(&self, why: &'static str) -> WireError {
        WireError { what: self.what, at: self.pos, why }
    }

    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        let byte = *self.buf.get(self.pos).ok_or_else(|| self.fail(UNEXPECTED_END))?;
        self.pos += 1;
        Ok(byte)
    }

    /// A varuint as yrs reads it (stopping at the first byte below 0x80,
    /// failing after 11), with its byte length.
    fn varuint(&mut self) -> Result<(u128, usize), WireError> {
        let mut value: u128 = 0;
        for i in 0..MAX_VARUINT_BYTES {
            let byte = self.u8()?;
            value |= u128::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok((value, i + 1));
            }
        }
        Err(self.fail("varuint too long"))
    }

    pub(crate) fn var_u64(&mut self) -> Result<u64, WireError> {
        let (value, _) = self.varuint()?;
        u64::try_from(value).map_err(|_| self.fail("varuint overflows 64 bits"))
    }

    /// A u32 field: yrs would wrap anything larger, so it is refused.
    pub(crate) fn var_u32(&mut self) -> Result<u32, WireError> {
        let (value, _) = self.varuint()?;
        u32::try_from(value).map_err(|_| self.fail("varuint overflows 32 bits"))
    }

    pub(crate) fn client(&mut self) -> Result<u64, WireError> {
        let client = self.var_u64()?;
        if client > MAX_SAFE_INTEGER {
            return Err(self.fail("client ID beyond 2^53"));
        }
        Ok(client)
    }

    pub(crate) fn id(&mut self) -> Result<(u64, u32), WireError> {
        Ok((self.client()?, self.var_u32()?))
    }

    fn ensure_room(&self, bytes: u64) -> Result<(), WireError> {
        if bytes > self.remaining() {
            Err(self.fail(LENGTH_BEYOND_END))
        } else {
            Ok(())
        }
    }

    /// Elements of `min_bytes` each that the rest of the input, buffered or
    /// to come, can hold.
    fn ensure_count(&self, count: u64, min_bytes: u64) -> Result<(), WireError> {
        if count.saturating_mul(min_bytes) > self.remaining() + self.to_come {
            Err(self.fail(LENGTH_BEYOND_END))
        } else {
            Ok(())
        }
    }

    /// A u32 count of elements that each take at least `min_bytes`: more
    /// than the bytes left can hold is refused before yrs reserves for it.
    pub(crate) fn count(&mut self, min_bytes: u64) -> Result<u64, WireError> {
        let count = u64::from(self.var_u32()?);
        self.ensure_count(count, min_bytes)?;
        Ok(count)
    }

    /// A count yrs reads as `usize` (truncating on 32-bit): bounded the same way.
    fn count_usize(&mut self, min_bytes: u64) -> Result<u64, WireError> {
        let count = self.var_u64()?;
        self.ensure_count(count, min_bytes)?;
        Ok(count)
    }

    fn skip(&mut self, len: u64) -> Result<(), WireError> {
        self.ensure_room(len)?;
        self.pos += len as usize;
        Ok(())
    }

    /// A length-prefixed byte array (`varUint8Array`).
    pub(crate) fn var_buf(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.var_u32()?;
        self.ensure_room(u64::from(len))?;
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// A length-prefixed UTF-8 string (`varString`).
    pub(crate) fn var_string(&mut self) -> Result<&'a str, WireError> {
        let start = self.pos;
        let bytes = self.var_buf()?;
        std::str::from_utf8(bytes).map_err(|_| WireError {
            what: self.what,
            at: start,
            why: "string is not UTF-8",
        })
    }

    /// A lib0 signed varint (6 bits and a sign in the first byte, 7 after).
    fn signed_varint(&mut self) -> Result<(), WireError> {
        for _ in 0..MAX_SIGNED_VARINT_BYTES {
            if self.u8()? < 0x80 {
                return Ok(());
            }
        }
        Err(self.fail("signed varint too long"))
    }
}
