//! The allocator of the JS builds: std's own (dlmalloc), with wasm memory grown in large steps.
//!
//! dlmalloc grows wasm memory by what one allocation lacks, 64 KiB at a time. V8 hands every
//! grown memory a fresh `ArrayBuffer` that counts its whole size as new external memory, and
//! past about 64 MiB each of those steps makes it collect garbage, again and again: a module
//! that had seen 50k sessions (1.4 KiB each in the core) ran Open+Save+Close ten times slower
//! than a fresh one, mostly in the garbage collector (issue 12). So whenever dlmalloc has just
//! grown the memory, this grows it once more, by half its size (1 MiB at least), and gives that
//! to dlmalloc as free space: an allocation of that size, freed at once, stays in dlmalloc's top
//! chunk (wasm memory never shrinks, and dlmalloc has no way to give it back). The memory then
//! grows a few dozen times on the way to gigabytes instead of thousands, and pages not yet
//! written cost no resident memory.
//!
//! It also counts the bytes the program holds ([`in_use`]), which `bench/module.mjs` reads to
//! give the core's memory per session exactly (the memory's size says only how far it grew).

use std::alloc::{GlobalAlloc, Layout, System};
use std::arch::wasm32::memory_size;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use wasm_bindgen::prelude::*;

/// Bytes allocated and not yet freed (requested sizes, without dlmalloc's own overhead).
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// `wasmHeapInUse()`: the bytes the wasm program holds now (requested sizes), for benchmarks.
#[wasm_bindgen(js_name = wasmHeapInUse)]
pub fn in_use() -> f64 {
    IN_USE.load(Relaxed) as f64
}

/// The smallest step the memory grows by.
const MIN_STEP: usize = 1 << 20;
const PAGE: usize = 64 * 1024;

pub struct GrowInSteps;

impl GrowInSteps {
    /// After an allocation: if it grew the memory (`pages_before` is the size before), make
    /// room for the next ones.
    fn after(pages_before: usize) {
        let pages = memory_size::<0>();
        if pages != pages_before {
            let step = (pages * PAGE / 2).max(MIN_STEP);
            // SAFETY: `step` is non-zero and alignment 1 is a power of two; the block is freed
            // with the layout it was allocated with, and nothing else sees it.
            unsafe {
                let layout = Layout::from_size_align_unchecked(step, 1);
                let room = System.alloc(layout);
                if !room.is_null() {
                    System.dealloc(room, layout);
                }
            }
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments; `after` only
// allocates and frees a block of its own (through `System`, so it is not counted).
unsafe impl GlobalAlloc for GrowInSteps {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let before = memory_size::<0>();
        let out = System.alloc(layout);
        Self::after(before);
        if !out.is_null() {
            IN_USE.fetch_add(layout.size(), Relaxed);
        }
        out
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let before = memory_size::<0>();
        let out = System.alloc_zeroed(layout);
        Self::after(before);
        if !out.is_null() {
            IN_USE.fetch_add(layout.size(), Relaxed);
        }
        out
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = memory_size::<0>();
        let out = System.realloc(ptr, layout, new_size);
        Self::after(before);
        if !out.is_null() {
            IN_USE.fetch_add(new_size, Relaxed);
            IN_USE.fetch_sub(layout.size(), Relaxed);
        }
        out
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: GrowInSteps = GrowInSteps;
