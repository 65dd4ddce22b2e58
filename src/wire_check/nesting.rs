//! The bound on shared-type nesting ([`MAX_TYPE_DEPTH`]), checked for an
//! update against the document it is for.
//!
//! yrs deletes and garbage-collects a shared type by recursing into the
//! types nested in it, once per level: a chain of 100,000 `Y.Array`s, each
//! in the previous, then an update deleting the outermost, overflows the
//! wasm stack and resets the instance. So no update may create a type deeper
//! than the bound.
//!
//! A struct's parent is named in the update (a root type's name, or the ID
//! of the item holding the parent type) or implied by its left or right
//! origin (the neighbour's parent). The walk records every struct of the
//! update (client, clock range, that reference: [`Structs`]), then resolves
//! the depth of each type struct with an explicit stack, each struct at most
//! once (linear, memory proportional to the update). References outside the
//! update are looked up in the document ([`DocTypes`]), walking up parents
//! at most [`MAX_TYPE_DEPTH`] + 1 steps, memoised per check.

use std::collections::HashMap;

use yrs::{Assoc, BranchID, ClientID, ReadTxn, StateVector, StickyIndex, ID};

use super::WireError;

/// The deepest nesting of shared types: a root type is at depth 0, a type
/// inside it at 1. The YAOS plugin nests two levels at most (a root map
/// holding a `Y.Map` or `Y.Text` per note); 128 leaves room for any
/// reasonable editor data while yrs's recursive delete and garbage
/// collection stay far inside the wasm stack (the `nested_types` fuzz
/// target runs them on a 1 MiB stack).
pub const MAX_TYPE_DEPTH: u32 = 128;

/// How a struct names its parent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentRef {
    /// A root type, by name.
    Root,
    /// The item whose content is the parent type.
    Item(u64, u32),
    /// Implied: the parent of this neighbour (left origin, else right).
    Neighbour(u64, u32),
    /// None (GC and skip blocks).
    Gap,
}

/// The depth of a struct's parent type, as far as it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    Depth(u32),
    /// Gone from the document (garbage-collected, or not a type): yrs turns
    /// the struct into a GC block, which holds nothing.
    Dead,
    /// Neither in the document nor in the update: yrs would hold the struct
    /// pending, and a later update could attach it anywhere.
    Unknown,
}

/// One struct of the update, as the nesting check needs it.
struct Struct {
    clock: u32,
    len: u32,
    is_type: bool,
    parent: ParentRef,
}

/// The structs of one update, per client in clock order.
#[derive(Default)]
pub(crate) struct Structs {
    all: Vec<Struct>,
    /// Each client's structs: one contiguous run of `all` (the walk refuses
    /// a client listed twice).
    clients: HashMap<u64, (usize, usize)>,
    section: Option<u64>,
}

impl Structs {
    pub(crate) fn start_section(&mut self, client: u64) {
        self.finish_section();
        self.section = Some(client);
        self.clients.insert(client, (self.all.len(), self.all.len()));
    }

    fn finish_section(&mut self) {
        if let Some(client) = self.section.take() {
            let end = self.all.len();
            if let Some(run) = self.clients.get_mut(&client) {
                run.1 = end;
            }
        }
    }

    pub(crate) fn push(&mut self, clock: u64, len: u64, is_type: bool, parent: ParentRef) {
        // The walk has bounded both by MAX_CLOCK (< 2^31).
        let (clock, len) = (clock as u32, len as u32);
        self.all.push(Struct { clock, len, is_type, parent });
    }

    /// The index of the struct covering `id`, if it is in the update.
    fn find(&self, (client, clock): (u64, u32)) -> Option<usize> {
        let &(start, end) = self.clients.get(&client)?;
        let run = &self.all[start..end];
        let at = run.partition_point(|s| s.clock <= clock).checked_sub(1)?;
        let s = &run[at];
        (clock - s.clock < s.len.max(1)).then_some(start + at)
    }

    /// Refuses the update if any type struct in it would be nested deeper
    /// than [`MAX_TYPE_DEPTH`], or hangs from a parent that is neither in
    /// `doc` nor in the update.
    pub(crate) fn check(mut self, doc: &mut dyn DocTypes) -> Result<(), WireError> {
        self.finish_section();
        let fail = |why| WireError { what: "update", at: 0, why };
        let mut resolved: Vec<Option<Parent>> = vec![None; self.all.len()];
        let mut visiting = vec![false; self.all.len()];
        let mut stack = Vec::new();
        for i in 0..self.all.len() {
            if !self.all[i].is_type {
                continue;
            }
            stack.push(i);
            visiting[i] = true;
            while let Some(&j) = stack.last() {
                // What j's parent depth depends on, inside the update.
                let (dependency, plus_one) = match self.all[j].parent {
                    ParentRef::Root => (Err(Parent::Depth(0)), false),
                    ParentRef::Gap => (Err(Parent::Dead), false),
                    ParentRef::Item(client, clock) => match self.find((client, clock)) {
                        Some(k) if self.all[k].is_type => (Ok(k), true),
                        Some(_) => (Err(Parent::Dead), false),
                        None => (Err(doc.type_depth(ID::new(ClientID::new(client), clock))), false),
                    },
                    ParentRef::Neighbour(client, clock) => match self.find((client, clock)) {
                        Some(k) => (Ok(k), false),
                        None => {
                            (Err(doc.parent_depth(ID::new(ClientID::new(client), clock))), false)
                        }
                    },
                };
                let parent = match dependency {
                    Err(known) => known,
                    Ok(k) => match resolved[k] {
                        // The parent item's own parent depth, plus its level.
                        Some(Parent::Depth(d)) if plus_one => Parent::Depth(d + 1),
                        Some(other) => other,
                        // A cycle: yrs can never integrate it.
                        None if visiting[k] => Parent::Unknown,
                        None => {
                            visiting[k] = true;
                            stack.push(k);
                            continue;
                        }
                    },
                };
                let parent = match parent {
                    // Already too deep: no need to count further.
                    Parent::Depth(d) => Parent::Depth(d.min(MAX_TYPE_DEPTH)),
                    other => other,
                };
                resolved[j] = Some(parent);
                stack.pop();
            }
            match resolved[i] {
                Some(Parent::Depth(d)) if d + 1 > MAX_TYPE_DEPTH => {
                    return Err(fail("shared types nested too deeply"));
                }
                Some(Parent::Unknown) => {
                    return Err(fail("shared type whose parent is unknown"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The document an update is checked against: the depth of its types.
pub(crate) trait DocTypes {
    /// The depth of the type held by item `id` ([`Parent::Dead`] if that
    /// item is not a type).
    fn type_depth(&mut self, id: ID) -> Parent;
    /// The depth of the parent type of the item covering `id`.
    fn parent_depth(&mut self, id: ID) -> Parent;
}

/// A yrs document, read through its public API, with the depths found
/// memoised for one check.
pub(crate) struct InDoc<'a, T: ReadTxn> {
    txn: &'a T,
    clocks: StateVector,
    depths: HashMap<ID, Parent>,
}

impl<'a, T: ReadTxn> InDoc<'a, T> {
    pub(crate) fn new(txn: &'a T) -> Self {
        InDoc { txn, clocks: txn.state_vector(), depths: HashMap::new() }
    }

    /// The type holding the item covering `id`: `Ok(None)` for a root,
    /// `Ok(Some(item))` for a nested type, `Err` if gone or absent.
    fn parent_of(&self, id: &ID) -> Result<Option<ID>, Parent> {
        if id.clock >= self.clocks.get(&id.client) {
            return Err(Parent::Unknown);
        }
        // yrs exposes an item's parent only through a sticky index (the
        // offset's branch); `None` there means the item was collected.
        let offset = StickyIndex::from_id(*id, Assoc::After).get_offset(self.txn);
        match offset.map(|o| o.branch.id()) {
            Some(BranchID::Root(_)) => Ok(None),
            Some(BranchID::Nested(parent)) => Ok(Some(parent)),
            None => Err(Parent::Dead),
        }
    }
}

impl<T: ReadTxn> DocTypes for InDoc<'_, T> {
    fn type_depth(&mut self, id: ID) -> Parent {
        if let Some(&known) = self.depths.get(&id) {
            return known;
        }
        if id.clock >= self.clocks.get(&id.client) {
            return Parent::Unknown;
        }
        if BranchID::get_nested(self.txn, &id).is_none() {
            return Parent::Dead; // collected, or not a type
        }
        // Walk up, at most one step past the bound, then memoise the chain.
        let mut chain = vec![id];
        let mut top = Parent::Depth(MAX_TYPE_DEPTH + 1);
        while chain.len() <= MAX_TYPE_DEPTH as usize + 1 {
            let last = chain[chain.len() - 1];
            match self.parent_of(&last) {
                Ok(None) => {
                    top = Parent::Depth(1);
                    break;
                }
                Ok(Some(parent)) => match self.depths.get(&parent) {
                    Some(&Parent::Depth(d)) => {
                        top = Parent::Depth(d + 1);
                        break;
                    }
                    Some(&other) => {
                        top = other;
                        break;
                    }
                    None => chain.push(parent),
                },
                Err(gone) => {
                    top = gone;
                    break;
                }
            }
        }
        let mut depth = top;
        for id in chain.into_iter().rev() {
            self.depths.insert(id, depth);
            if let Parent::Depth(d) = depth {
                depth = Parent::Depth((d + 1).min(MAX_TYPE_DEPTH + 1));
            }
        }
        self.depths[&id]
    }

    fn parent_depth(&mut self, id: ID) -> Parent {
        match self.parent_of(&id) {
            Ok(None) => Parent::Depth(0),
            Ok(Some(parent)) => self.type_depth(parent),
            Err(gone) => gone,
        }
    }
}
