//! Exhaustion is counted, never fatal: every element that allocates packets, run on a pool
//! too small for what it is asked to make, and every table and queue pushed past its
//! capacity. Each case counts what it could not do in a handler, keeps running, and gives
//! back every buffer when the router goes.

mod common;

use sluice_dataplane::{ManualClock, PacketPool, Router};

/// A router for `config` on a pool of `buffers` buffers, on a clock that starts at 1 s.
fn start(config: &str, buffers: usize) -> (Router, PacketPool, ManualClock) {
    let run = common::start(config, buffers, &sluice_elements::all_classes(), Vec::new());
    (run.router, run.pool, run.clock)
}

fn read(r: &Router, h: &str) -> u64 {
    let v = r.read_handler(h).unwrap_or_else(|e| panic!("{h}: {e}"));
    v.trim().parse().unwrap_or_else(|_| panic!("{h}: {v:?}"))
}

/// Runs `rounds` rounds with the clock moving 1 ms a round.
fn run(r: &mut Router, clock: &ManualClock, rounds: usize) {
    for _ in 0..rounds {
        clock.advance(1_000_000);
        r.run_rounds(1);
    }
}

/// Drops the router and checks that every buffer came back.
fn all_back(r: Router, pool: &PacketPool) {
    drop(r);
    let s = pool.stats();
    assert_eq!(s.free, s.capacity, "buffers still out: {s:?}");
}

/// A UDP packet per run from a source that would make `LIMIT` of them.
const UDP: &str = "InfiniteSource(LENGTH 472, LIMIT 50, BURST 1, STOP false) \
                   -> UDPIPEncap(10.0.0.1, 1000, 10.0.0.2, 2000)";

#[test]
fn icmp_error_without_a_buffer_counts_a_drop() {
    // The offending packet holds the only buffer: the error has none to be built in.
    let (mut r, pool, clock) = start(
        &format!("{UDP} -> e :: ICMPError(1.1.1.1, unreachable, host) -> c :: Counter -> Discard;"),
        1,
    );
    run(&mut r, &clock, 20);
    assert_eq!(read(&r, "c.count"), 0);
    assert!(read(&r, "e.drops") >= 10, "e.drops {}", read(&r, "e.drops"));
    assert!(read(&r, "pool_alloc_failures") >= 10);
    all_back(r, &pool);
}

#[test]
fn ip_fragmenter_without_buffers_counts_pool_drops_and_still_fragments_when_it_can() {
    let (mut r, pool, clock) = start(
        &format!("{UDP} -> f :: IPFragmenter(100) -> c :: Counter -> Discard; f [1] -> Discard;"),
        2,
    );
    run(&mut r, &clock, 20);
    assert!(read(&r, "f.pool_drops") > 0);
    assert!(read(&r, "pool_alloc_failures") > 0);
    all_back(r, &pool);
    // With room, every packet goes out as five fragments.
    let (mut r, pool, clock) = start(
        &format!("{UDP} -> f :: IPFragmenter(100) -> c :: Counter -> Discard; f [1] -> Discard;"),
        1024,
    );
    run(&mut r, &clock, 100);
    assert_eq!(read(&r, "f.pool_drops"), 0);
    assert_eq!(read(&r, "f.fragments"), 50 * 6);
    assert_eq!(read(&r, "c.count"), 50 * 6);
    all_back(r, &pool);
}

#[test]
fn tee_counts_the_copies_it_cannot_make() {
    let (mut r, pool, clock) = start(
        "InfiniteSource(LIMIT 20, STOP false) -> t :: Tee(3);
         t [0] -> q0 :: Queue(100) -> Idle; t [1] -> q1 :: Queue(100) -> Idle;
         t [2] -> q2 :: Queue(100) -> Idle;",
        8,
    );
    run(&mut r, &clock, 40);
    let held = read(&r, "q0.length") + read(&r, "q1.length") + read(&r, "q2.length");
    assert!(held > 0);
    assert!(read(&r, "t.clone_failures") > 0);
    all_back(r, &pool);
}

#[test]
fn sources_wait_for_buffers_and_go_on_when_they_come_back() {
    // A queue that is never drained holds every buffer: the source stops short of its
    // limit, and the pool counts the allocations that failed.
    let (mut r, pool, clock) = start(
        "s :: InfiniteSource(LIMIT 100, STOP false) -> q :: Queue(1000) -> u :: Unqueue(ACTIVE false) -> c :: Counter -> Discard;",
        16,
    );
    run(&mut r, &clock, 50);
    assert_eq!(read(&r, "s.count"), 16);
    assert!(read(&r, "pool_alloc_failures") > 0);
    // Drained, the buffers come back and the source reaches its limit.
    r.write_handler("u.active", "true").unwrap();
    run(&mut r, &clock, 200);
    assert_eq!(read(&r, "s.count"), 100);
    assert_eq!(read(&r, "c.count"), 100);
    all_back(r, &pool);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let (mut r, pool, clock) = start(
        // The Tee's other branch keeps the source from seeing the queue fill up.
        "InfiniteSource(LIMIT 50, STOP false) -> t :: Tee(2);
         t [0] -> q :: Queue(10) -> Idle; t [1] -> Discard;",
        64,
    );
    run(&mut r, &clock, 60);
    assert_eq!(read(&r, "q.length"), 10);
    assert_eq!(read(&r, "q.drops"), 40);
    all_back(r, &pool);
}

#[test]
fn arp_querier_holds_what_fits_and_drops_what_its_queue_cannot_take() {
    // No replies come. On a pool of four buffers the waiting packets take them all: the
    // source waits for buffers (counted by the pool), one query went out, nothing is lost
    // track of.
    let querier = |pool: usize, options: &str| {
        start(
            &format!(
                "{UDP} -> a :: ARPQuerier(10.0.0.1, 2:0:0:0:0:1{options}) -> c :: Counter -> Discard;
                 Idle -> [1] a;"
            ),
            pool,
        )
    };
    let (mut r, pool, clock) = querier(4, "");
    run(&mut r, &clock, 100);
    assert_eq!(read(&r, "a.length"), 4);
    assert_eq!(read(&r, "a.queries"), 1);
    assert!(read(&r, "pool_alloc_failures") > 0);
    all_back(r, &pool);
    // A queue of three packets on a roomy pool, slimmed as Click's is when it fills: every
    // packet is held or dropped and counted (Click's `stats` says "48 packets killed").
    let (mut r, pool, clock) = querier(256, ", CAPACITY 3");
    run(&mut r, &clock, 100);
    assert!(read(&r, "a.length") <= 3);
    assert_eq!(read(&r, "a.length") + read(&r, "a.table_drops"), 50);
    // What left was the query.
    assert_eq!(read(&r, "c.count"), read(&r, "a.queries"));
    all_back(r, &pool);
}

#[test]
fn a_full_nat_table_counts_mapping_failures_and_keeps_its_mappings() {
    // Five flows, two ports to map them to: two flows get through, the packets of the
    // other three are counted as mapping failures.
    let mut branches = String::new();
    for i in 0..5 {
        branches.push_str(&format!(
            "rr [{i}] -> UDPIPEncap(10.0.0.2, {}, 8.8.8.8, 53) -> rw;\n",
            5000 + i
        ));
    }
    let (mut r, pool, clock) = start(
        &format!(
            "rw :: IPRewriter(pattern 21.0.0.1 1024-1025 - - 0 1, drop) -> c :: Counter -> Discard;
             Idle -> [1] rw [1] -> Discard;
             InfiniteSource(LENGTH 18, LIMIT 10, STOP false) -> rr :: RoundRobinSwitch;
             {branches}"
        ),
        64,
    );
    run(&mut r, &clock, 20);
    assert_eq!(read(&r, "c.count"), 4);
    assert_eq!(read(&r, "rw.mapping_failures"), 6);
    let table = r.read_handler("rw.udp_table").unwrap();
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("=> (21.0.0.1, 102"))
            .count(),
        2,
        "{table}"
    );
    all_back(r, &pool);
}
