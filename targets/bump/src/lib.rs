//! A global allocator for the project's no_std wasm guests: a fixed arena in linear memory,
//! allocated from the top; freeing the most recent block gives its bytes back, and the arena
//! starts over when no block is live (a canonical-ABI call frees what it was given, and its
//! post-return what it returned, so every call starts from an empty arena). Null when full:
//! the caller's allocation-failure path runs (an `unreachable` trap in wasm).
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

/// An arena of `N` bytes. Single-threaded (wasm32 guests): not for shared use.
pub struct Bump<const N: usize> {
    inner: UnsafeCell<Inner<N>>,
}

struct Inner<const N: usize> {
    heap: [u8; N],
    top: usize,
    live: usize,
}

// Guests are single-threaded; the global allocator must be Sync to be a static.
unsafe impl<const N: usize> Sync for Bump<N> {}

impl<const N: usize> Bump<N> {
    pub const fn new() -> Self {
        Bump {
            inner: UnsafeCell::new(Inner {
                heap: [0; N],
                top: 0,
                live: 0,
            }),
        }
    }
}

impl<const N: usize> Default for Bump<N> {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl<const N: usize> GlobalAlloc for Bump<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let a = unsafe { &mut *self.inner.get() };
        let base = a.heap.as_mut_ptr() as usize;
        let at = (base + a.top).next_multiple_of(layout.align()) - base;
        match at.checked_add(layout.size()) {
            Some(end) if end <= N => {
                a.top = end;
                a.live += 1;
                (base + at) as *mut u8
            }
            _ => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let a = unsafe { &mut *self.inner.get() };
        let base = a.heap.as_mut_ptr() as usize;
        let off = ptr as usize - base;
        if off + layout.size() == a.top {
            a.top = off;
        }
        a.live -= 1;
        if a.live == 0 {
            a.top = 0;
        }
    }
}
