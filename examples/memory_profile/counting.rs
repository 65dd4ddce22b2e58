//! The profiler's counting `#[global_allocator]`: current and peak live heap
//! bytes, and (`--sites`) the large allocations live at each phase's peak.
//! Growing reallocations count as allocate-copy-free (old and new buffer both
//! live), as the wasm allocator does when a buffer cannot grow in place.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    /// Notes `bytes` more live, with `transient` extra bytes live only for
    /// the duration of the call (the old buffer of a copying realloc).
    fn grew(bytes: usize, transient: usize) {
        let now = CURRENT.fetch_add(bytes, Relaxed) + bytes;
        if now + transient > PEAK.fetch_max(now + transient, Relaxed) {
            sites::on_new_peak(now + transient);
        }
    }

    fn shrank(bytes: usize) {
        CURRENT.fetch_sub(bytes, Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            sites::on_alloc(ptr, layout.size());
            Counting::grew(layout.size(), 0);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            sites::on_alloc(ptr, layout.size());
            Counting::grew(layout.size(), 0);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sites::on_free(ptr);
        System.dealloc(ptr, layout);
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            let old = layout.size();
            sites::on_free(ptr);
            sites::on_alloc(new, new_size);
            if new_size >= old {
                Counting::grew(new_size - old, old);
            } else {
                Counting::shrank(old - new_size);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

pub fn current() -> usize {
    CURRENT.load(Relaxed)
}

pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

pub fn reset_peak() {
    PEAK.store(current(), Relaxed);
    sites::reset();
}

/// `--sites`: which large allocations are live at each phase's peak.
pub mod sites {
    use super::*;

    /// Allocations at least this big are tracked with their call site.
    const LARGE: usize = 1 << 20;

    pub static ENABLED: AtomicBool = AtomicBool::new(false);

    thread_local! {
        /// Set while the tracker itself allocates, so it does not recurse.
        static BUSY: Cell<bool> = const { Cell::new(false) };
    }

    struct State {
        live: HashMap<usize, (usize, String)>,
        /// The large allocations live at the highest peak seen this phase.
        at_peak: Vec<(usize, String)>,
        at_peak_bytes: usize,
    }

    static STATE: Mutex<Option<State>> = Mutex::new(None);

    fn with_state(f: impl FnOnce(&mut State)) {
        if !ENABLED.load(Relaxed) || BUSY.with(Cell::get) {
            return;
        }
        BUSY.with(|b| b.set(true));
        let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.get_or_insert_with(|| State {
            live: HashMap::new(),
            at_peak: Vec::new(),
            at_peak_bytes: 0,
        });
        f(state);
        drop(guard);
        BUSY.with(|b| b.set(false));
    }

    pub fn on_alloc(ptr: *mut u8, size: usize) {
        if size >= LARGE {
            with_state(|s| {
                s.live.insert(ptr as usize, (size, call_site()));
            });
        }
    }

    pub fn on_free(ptr: *mut u8) {
        with_state(|s| {
            s.live.remove(&(ptr as usize));
        });
    }

    /// Snapshots the large live allocations when the peak has grown by a
    /// quarter MiB since the last snapshot (so small allocations that nudge
    /// the peak do not each pay for a snapshot).
    pub fn on_new_peak(bytes: usize) {
        with_state(|s| {
            if bytes >= s.at_peak_bytes + (LARGE / 4) {
                s.at_peak_bytes = bytes;
                s.at_peak = s.live.values().cloned().collect();
                s.at_peak.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
            }
        });
    }

    pub fn reset() {
        with_state(|s| {
            s.at_peak.clear();
            s.at_peak_bytes = 0;
        });
    }

    /// The large allocations live at the phase's peak, biggest first.
    pub fn report() -> Vec<(usize, String)> {
        let mut out = Vec::new();
        with_state(|s| out = s.at_peak.clone());
        out
    }

    /// The innermost few frames of this crate or yrs that made the allocation.
    fn call_site() -> String {
        let trace = Backtrace::force_capture().to_string();
        let frames: Vec<&str> = trace
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("at "))
            .filter_map(|line| line.split_once(": ").map(|(_, name)| name))
            .filter(|name| {
                (name.starts_with("yaos_server::")
                    || name.starts_with("yrs::")
                    || name.starts_with("memory_profile::"))
                    && !name.starts_with("memory_profile::counting")
                    && !name.contains("GlobalAlloc")
            })
            .take(4)
            .collect();
        frames.join(" < ")
    }
}
