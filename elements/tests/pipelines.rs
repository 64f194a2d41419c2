//! Multi-element graphs written as Click configurations: push↔pull through queues, a
//! DriverManager ending a run, and frames forwarded byte-exact between two devices.

mod common;

use common::Run;
use sluice_dataplane::{LoopbackDevice, NetDevice, Router};

fn start(config: &str, buffers: usize, devices: Vec<Box<dyn NetDevice>>) -> Run {
    common::start(config, buffers, &sluice_elements::all_classes(), devices)
}

fn read(r: &Router, h: &str) -> u64 {
    r.read_handler(h).unwrap().trim().parse().unwrap()
}

#[test]
fn queue_between_push_and_pull_drops_only_what_overflows() {
    let mut run = start(
        "src :: InfiniteSource(LIMIT 1000, BURST 50, STOP true)
           -> in :: Counter -> q :: Queue(100) -> Unqueue(10) -> out :: Counter -> Discard;",
        256,
        vec![],
    );
    run.router.run(|_| true);
    let r = &run.router;
    assert!(r.is_stopped());
    assert_eq!(read(r, "in.count"), 1000);
    let (out, drops, left) = (
        read(r, "out.count"),
        read(r, "q.drops"),
        read(r, "q.length"),
    );
    assert_eq!(out + drops + left, 1000, "every packet is accounted for");
    assert!(
        drops > 0,
        "50 in, 10 out per round overflows a 100-packet queue"
    );
    assert_eq!(read(r, "q.highwater_length"), 100);
    drop(run.router);
    assert_eq!(run.pool.stats().free, 256);
}

#[test]
fn driver_manager_waits_for_a_rated_source() {
    let mut run = start(
        "s1 :: InfiniteSource(LIMIT 100, STOP true) -> c :: Counter -> Discard;
         s2 :: RatedSource(LIMIT 3, RATE 1000, STOP true) -> c;
         DriverManager(wait_stop 2, print \"count $(c.count)\", stop);",
        64,
        vec![],
    );
    // Time passes only when the router is idle, 1 ms at a time.
    let clock = run.clock.clone();
    run.router.run(|_| {
        clock.advance(1_000_000);
        true
    });
    assert!(run.router.is_stopped());
    assert_eq!(*run.console.borrow(), ["count 103"]);
}

#[test]
fn driver_manager_prints_and_stops() {
    let mut run = start(
        "s1 :: InfiniteSource(LIMIT 100, STOP true) -> c :: Counter -> Discard;
         s2 :: InfiniteSource(LIMIT 7, BURST 2, STOP true) -> c;
         DriverManager(wait_stop 2, print \"count $(c.count)\", read c.byte_count, stop);",
        64,
        vec![],
    );
    run.router.run(|_| true);
    assert!(run.router.is_stopped());
    let lines = run.console.borrow().clone();
    assert_eq!(
        lines,
        ["count 107", "c.byte_count:", &(107 * 69).to_string()]
    );
}

#[test]
fn from_device_to_device_moves_frames_byte_exact() {
    let rx = LoopbackDevice::new("eth0", [2, 0, 0, 0, 0, 1]);
    let mut tx = LoopbackDevice::new("eth1", [2, 0, 0, 0, 0, 2]);
    tx.tx_ring = 5;
    let (rx_wire, tx_wire) = (rx.wire(), tx.wire());
    let frames: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            (0..(60 + (i * 7) % 1400))
                .map(|b| (b as u8) ^ (i as u8))
                .collect()
        })
        .collect();
    rx_wire
        .borrow_mut()
        .to_device
        .extend(frames.iter().cloned());
    let mut run = start(
        "FromDevice(eth0) -> c :: Counter -> Queue(1000) -> td :: ToDevice(eth1, BURST 16);",
        512,
        vec![Box::new(rx), Box::new(tx)],
    );
    run.router.run_rounds(200);
    assert_eq!(
        tx_wire.borrow().from_device,
        frames,
        "same frames, same order, same bytes"
    );
    let r = &run.router;
    assert_eq!(read(r, "c.count"), 200);
    assert_eq!(read(r, "td.count"), 200);
    assert_eq!(read(r, "td.drops"), 0);
    assert!(
        read(r, "td.tx_ring_full") > 0,
        "the ring pushed back and nothing was lost"
    );
    assert_eq!(run.pool.stats().free, 512);
}

#[test]
fn tee_and_switches_in_a_graph() {
    let mut run = start(
        "InfiniteSource(\\<0a0b>, LIMIT 30, BURST 30, STOP true) -> t :: Tee(2);
         t[0] -> rr :: RoundRobinSwitch;
         rr[0] -> a :: Counter -> Discard;
         rr[1] -> b :: Counter -> Discard;
         rr[2] -> Paint(2) -> ps :: PaintSwitch;
         ps[0] -> Discard; ps[1] -> Discard; ps[2] -> p :: Counter -> Discard;
         t[1] -> sw :: Switch(-1) -> Discard;",
        64,
        vec![],
    );
    run.router.run(|_| true);
    let r = &run.router;
    assert_eq!(
        (read(r, "a.count"), read(r, "b.count"), read(r, "p.count")),
        (10, 10, 10)
    );
    assert_eq!(read(r, "sw.drops"), 30);
    assert_eq!(run.pool.stats().free, 64);
}
