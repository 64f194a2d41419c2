//! Steady-state pipelines allocate nothing: a counting global allocator watches one million
//! packets go through after a warm-up. And every pool buffer comes back after a run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sluice_config::{load, Source};
use sluice_dataplane::console::MemoryConsole;
use sluice_dataplane::element::class_table;
use sluice_dataplane::{ElementClass, Environment, ManualClock, PacketPool, Router};

/// Counts allocations per thread, while the thread has armed it: tests run in parallel
/// threads, and one test's allocations must not show up in another's count.
struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches no
// allocator state.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as for `dealloc`; `new_size` is the caller's, under the same contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

fn router(config: &str, buffers: usize) -> (Router, PacketPool) {
    let classes: Vec<&'static ElementClass> = sluice_elements::all_classes();
    let src = Source::new("zero_alloc.click", config);
    let graph = load(&src, &[], &class_table(&classes))
        .unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    let pool = PacketPool::new(buffers);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(ManualClock::new(1_000_000_000)),
        devices: vec![],
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    let r = Router::new(&graph, &classes, env)
        .unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    (r, pool)
}

fn count(r: &Router, h: &str) -> u64 {
    r.read_handler(h).unwrap().trim().parse().unwrap()
}

const PACKETS: u64 = 1_000_000;
const BURST: u64 = 32;

/// Warms `r` up, then runs rounds until `sink` has counted a million more packets, and
/// returns the allocations made meanwhile.
fn steady_state_allocations(r: &mut Router, sink: &str) -> u64 {
    r.run_rounds(1_000);
    let start = count(r, sink);
    let rounds = usize::try_from(PACKETS / BURST).unwrap();
    let n = allocations_during(|| r.run_rounds(rounds));
    assert!(
        count(r, sink) - start >= PACKETS,
        "a million packets went through"
    );
    n
}

/// A 64-byte Ethernet frame carrying a valid IPv4/UDP packet, as `\<hex>`.
fn ip_frame_hex() -> String {
    let mut f = [0u8; 64];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 50, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
    format!("\\<{hex}>")
}

#[test]
fn forwarding_pipeline_allocates_nothing() {
    let config = format!(
        "s :: InfiniteSource({}, BURST {BURST}) -> Strip(14) -> CheckIPHeader -> d :: Discard;",
        ip_frame_hex()
    );
    let (mut r, pool) = router(&config, 256);
    assert_eq!(steady_state_allocations(&mut r, "d.count"), 0);
    assert_eq!(
        count(&r, "s.count"),
        count(&r, "d.count"),
        "CheckIPHeader passed every packet"
    );
    assert_eq!(pool.stats().alloc_failures, 0);
}

#[test]
fn queue_pipeline_allocates_nothing() {
    let config = format!(
        "InfiniteSource(BURST {BURST}) -> Counter -> q :: Queue(256) -> Unqueue(-1) -> d :: Discard;"
    );
    let (mut r, _) = router(&config, 512);
    assert_eq!(steady_state_allocations(&mut r, "d.count"), 0);
    assert_eq!(count(&r, "q.drops"), 0);
}

#[test]
fn tee_pipeline_allocates_nothing() {
    let config = format!(
        "InfiniteSource(BURST {BURST}) -> t :: Tee(2); t[0] -> d :: Discard; t[1] -> Print(x, ACTIVE false) -> Discard;"
    );
    let (mut r, _) = router(&config, 256);
    assert_eq!(steady_state_allocations(&mut r, "d.count"), 0);
    assert_eq!(count(&r, "t.clone_failures"), 0);
}

#[test]
fn every_buffer_comes_back_after_a_run() {
    let (mut r, pool) = router(
        "InfiniteSource(LIMIT 5000, BURST 64, STOP true) -> Counter -> q :: Queue(32)
           -> Unqueue(-1) -> t :: Tee(2) -> Discard; t[1] -> s :: Switch(-1) -> Discard;",
        128,
    );
    r.run(|_| true);
    assert!(r.is_stopped());
    assert!(
        count(&r, "q.drops") > 0,
        "the queue overflowed and dropped, and those buffers came back too"
    );
    assert_eq!(pool.stats().free, 128, "no buffer leaked");
    drop(r);
    assert_eq!(pool.stats().free, 128);
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert!(n >= 1, "the counting allocator is armed");
}
