//! The local backend's hot path allocates nothing once a key exists: a
//! counting allocator (this test binary's only unsafe code) watches the
//! calls of this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use pylon_store::counters::{Counters, Gcra, LocalCounters, Reply, Window};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn checks_on_a_known_key_do_not_allocate() {
    let counters = LocalCounters::new();
    let gcra = Gcra::new(100, Duration::from_secs(1), 10).expect("limit");
    let window = Window::new(1000, Duration::from_secs(60)).expect("limit");
    // The first check of a key stores it (one allocation for the key).
    counters.check_gcra("route:r|c:alice", &gcra, 1);
    counters.check_window("route:r|c:alice", &window, 1);
    let before = allocations();
    for _ in 0..1000 {
        std::hint::black_box(counters.check_gcra("route:r|c:alice", &gcra, 1));
        std::hint::black_box(counters.check_window("route:r|c:alice", &window, 1));
        // Through the trait too: the answer is ready, nothing is boxed.
        match counters.gcra("route:r|c:alice", &gcra, 1) {
            Reply::Ready(r) => drop(std::hint::black_box(r)),
            Reply::Pending(_) => panic!("the local backend never waits"),
        }
    }
    assert_eq!(allocations() - before, 0);
}
