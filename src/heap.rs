//! The bytes the program holds on its heap: allocated and not yet freed.
//!
//! The soak (`bench/soak.mjs`, `tests/browser/soak.test.mjs`) asks whether the page leaks. The
//! wasm memory's size cannot say: it is the allocator's high-water mark, which steps up by a few
//! MB when a large block finds no free gap (seen at photos 13, 23 and 78 of a 200-photo soak and
//! never after), and two such steps in a row read like a leak. Counting the bytes in use answers
//! the question itself: after the same photo, a page that keeps nothing holds the same bytes.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// An allocator that forwards to `A` and counts the bytes it has handed out and not got back.
pub struct CountingAllocator<A> {
    inner: A,
    in_use: AtomicUsize,
}

impl<A> CountingAllocator<A> {
    pub const fn new(inner: A) -> Self {
        Self {
            inner,
            in_use: AtomicUsize::new(0),
        }
    }

    /// Bytes allocated through this allocator and not yet freed.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }
}

// SAFETY: every call forwards to `A` with the caller's arguments unchanged; the count is
// bookkeeping beside it and never touches the memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `A::alloc` shares.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            self.in_use.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.in_use.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from `A`, with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator, hence from `A`, with `layout`.
        let moved = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            self.in_use.fetch_add(new_size, Ordering::Relaxed);
            self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }
}

/// The browser module's allocator (the page's and each models' thread's instance has its own).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> =
    CountingAllocator::new(std::alloc::System);

/// Bytes this instance of the module holds on its heap; the soak calls it on the page
/// (`window.wasmBindings.heap_in_use_bytes()`).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn heap_in_use_bytes() -> usize {
    ALLOCATOR.in_use()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn the_count_follows_allocations_reallocations_and_frees() {
        let heap = CountingAllocator::new(System);
        let small = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: each block is freed once, with the layout (and size) it was last given.
        unsafe {
            let a = heap.alloc(small);
            let b = heap.alloc_zeroed(Layout::from_size_align(28, 4).unwrap());
            assert_eq!(heap.in_use(), 128);
            let a = heap.realloc(a, small, 1000);
            assert_eq!(heap.in_use(), 1028);
            heap.dealloc(b, Layout::from_size_align(28, 4).unwrap());
            heap.dealloc(a, Layout::from_size_align(1000, 8).unwrap());
        }
        assert_eq!(heap.in_use(), 0);
    }
}
