//! The heap of a musl build (`--target x86_64-unknown-linux-musl`, what bench/ measures):
//! dlmalloc behind a spin lock, instead of musl's own allocator.
//!
//! Takes the allocation requests of the whole process; returns memory from dlmalloc. With
//! musl's allocator an apply of a 1000-mount plan took 28.3 ms against glibc's 22.4 (25.0 with
//! this one), and dlmalloc's own global wrapper locks a pthread mutex around every call (13 % of the cycles
//! of `check` there). mountplan has one thread, so the lock is never contended: an atomic
//! flag is enough and keeps the allocator sound should a thread ever appear. A `fork` never
//! happens inside an allocation, so a child never inherits the flag set.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// dlmalloc with its lock.
pub struct Heap {
    busy: AtomicBool,
    dl: UnsafeCell<dlmalloc::Dlmalloc>,
}

// SAFETY: every access to `dl` happens with `busy` held (see `with`).
unsafe impl Sync for Heap {}

impl Heap {
    /// An empty heap (dlmalloc maps memory on first use).
    pub const fn new() -> Self {
        Heap {
            busy: AtomicBool::new(false),
            dl: UnsafeCell::new(dlmalloc::Dlmalloc::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> T) -> T {
        while self
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: `busy` is held: no other reference to `dl` exists until it is released.
        let r = f(unsafe { &mut *self.dl.get() });
        self.busy.store(false, Ordering::Release);
        r
    }
}

// SAFETY: dlmalloc returns blocks of at least the size and alignment asked for, or null, and
// takes back only what it gave with the layout it was given (GlobalAlloc's own contract).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded under GlobalAlloc's contract.
        self.with(|d| unsafe { d.malloc(l.size(), l.align()) })
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as above.
        self.with(|d| unsafe { d.calloc(l.size(), l.align()) })
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated here with `l` (GlobalAlloc's contract).
        self.with(|d| unsafe { d.free(p, l.size(), l.align()) })
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: as for dealloc; `new` is non-zero and fits isize (GlobalAlloc's contract).
        self.with(|d| unsafe { d.realloc(p, l.size(), l.align(), new) })
    }
}
