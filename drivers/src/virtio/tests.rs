//! The driver against a fake device ([`super::fake`]): rings, buffer accounting, and what
//! happens when the device breaks the contract.

use std::vec::Vec;

use sluice_dataplane::{Batch, NetDevice, PacketPool, BATCH_MAX};

use super::fake::{self, FakeNet, FakeTransport, Flavor, IdentityHal, RX, TX};
use super::{InitError, VirtioNet, VirtioNetMetrics, QUEUE_SIZE};

type Driver = VirtioNet<IdentityHal, FakeTransport>;

/// A driver on a fresh fake device with a pool of `buffers` default-geometry buffers.
fn driver(flavor: Flavor, buffers: usize) -> (Driver, FakeNet, PacketPool) {
    let (transport, device) = fake::device(flavor);
    let pool = PacketPool::new(buffers);
    let driver = match VirtioNet::new(transport, "eth0", pool.clone()) {
        Ok(driver) => driver,
        Err(e) => panic!("driver refused the fake device: {e}"),
    };
    (driver, device, pool)
}

/// An Ethernet frame of `len` bytes whose payload bytes count up from `seed`.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f = Vec::from([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5]);
    f.extend((0..len.saturating_sub(14)).map(|i| seed.wrapping_add(i as u8)));
    f.truncate(len);
    f
}

/// Every pool buffer is free, posted to the device, or in `held`.
fn assert_accounted(driver: &Driver, pool: &PacketPool, held: usize) {
    let stats = pool.stats();
    assert_eq!(
        stats.free + driver.buffers_held() + held,
        stats.capacity,
        "a buffer leaked or was counted twice"
    );
}

fn receive(driver: &mut Driver, pool: &PacketPool) -> Batch {
    let mut batch = Batch::new();
    driver.receive(pool, &mut batch);
    batch
}

#[test]
fn brings_up_the_device_and_posts_receive_buffers() {
    let (driver, device, pool) = driver(Flavor::Modern, 64);
    assert_eq!(driver.mac(), fake::MAC);
    assert_eq!(
        driver.buffers_held(),
        16,
        "INITIAL_RX_POSTS buffers on the RX ring"
    );
    assert_eq!(device.available(RX), 16);
    assert_eq!(device.available(TX), 0);
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn receive_yields_the_frame_without_the_virtio_header() {
    for flavor in [Flavor::Modern, Flavor::Legacy] {
        let (mut driver, device, pool) = driver(flavor, 64);
        let sent = [frame(60, 1), frame(1514, 7), frame(14, 0)];
        for f in &sent {
            assert!(device.deliver(f));
        }
        let batch = receive(&mut driver, &pool);
        let got: Vec<&[u8]> = batch.iter().map(|p| p.data()).collect();
        let want: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        assert_eq!(
            got, want,
            "{flavor:?}: exactly the frame bytes, header stripped"
        );
        let stats = driver.stats();
        assert_eq!(stats.rx_packets, 3);
        assert_eq!(stats.rx_bytes, 60 + 1514 + 14);
        assert_eq!(stats.rx_dropped, 0);
        assert_eq!(driver.metrics(), VirtioNetMetrics::default());
        assert_accounted(&driver, &pool, batch.len());
        drop(batch);
        assert_accounted(&driver, &pool, 0);
    }
}

#[test]
fn receive_refills_the_ring_as_frames_are_consumed() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    for i in 0..8 {
        assert!(device.deliver(&frame(64, i)));
    }
    assert_eq!(device.available(RX), 8);
    let batch = receive(&mut driver, &pool);
    assert_eq!(batch.len(), 8);
    // rx_target is a quarter of this pool: 16 buffers.
    assert_eq!(device.available(RX), 16, "consumed buffers replaced");
    assert_accounted(&driver, &pool, 8);
}

#[test]
fn transmit_prepends_the_header_and_reclaim_returns_buffers() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    let free_before = pool.stats().free;
    let frames = [frame(60, 3), frame(1514, 9)];
    let mut batch = Batch::new();
    for f in &frames {
        batch.push(pool.alloc_from(f).expect("pool buffer"));
    }
    assert_eq!(driver.transmit(&mut batch), 2);
    assert!(batch.is_empty());
    assert_eq!(
        pool.stats().free,
        free_before - 2,
        "the device holds both buffers"
    );
    assert_eq!(driver.buffers_held(), 16 + 2);
    assert!(device.notifications(TX) > 0, "the device was told");

    for f in &frames {
        let wire = device.complete_tx().expect("a posted frame");
        let (header, payload) = wire.split_at(device.header_len());
        assert!(header.iter().all(|&b| b == 0), "a zeroed virtio-net header");
        assert_eq!(payload, f.as_slice());
    }
    assert_eq!(
        pool.stats().free,
        free_before - 2,
        "not reclaimed before a poll"
    );
    driver.poll();
    assert_eq!(
        pool.stats().free,
        free_before,
        "completed buffers are back in the pool"
    );
    assert_eq!(driver.buffers_held(), 16);
    let stats = driver.stats();
    assert_eq!(
        (stats.tx_packets, stats.tx_bytes, stats.tx_dropped),
        (2, 60 + 1514, 0)
    );
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn transmit_beyond_the_ring_is_refused_and_counted() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 512);
    let full_batch = |seed: u8| {
        let mut batch = Batch::new();
        while !batch.is_full() {
            batch.push(pool.alloc_from(&frame(60, seed)).expect("pool buffer"));
        }
        batch
    };
    // QUEUE_SIZE descriptors, one per frame: the ring takes exactly QUEUE_SIZE.
    let mut taken = 0;
    for round in 0..QUEUE_SIZE / BATCH_MAX {
        let mut batch = full_batch(round as u8);
        taken += driver.transmit(&mut batch);
        assert!(batch.is_empty());
    }
    assert_eq!(taken, QUEUE_SIZE);
    assert_eq!(driver.stats().tx_ring_full, 0);

    let mut batch = full_batch(0xee);
    assert_eq!(driver.transmit(&mut batch), 0, "the ring is full");
    assert_eq!(
        batch.len(),
        BATCH_MAX,
        "refused packets stay with the caller"
    );
    assert!(
        batch.iter().all(|p| p.data() == frame(60, 0xee).as_slice()),
        "unchanged: the header pushed for the attempt is taken off again"
    );
    assert_eq!(driver.stats().tx_ring_full, 1);
    assert_eq!(driver.stats().tx_packets, QUEUE_SIZE as u64);
    assert_accounted(&driver, &pool, batch.len());

    // The device catches up; the refused packets go on the next call.
    let mut sent = 0;
    while device.complete_tx().is_some() {
        sent += 1;
    }
    assert_eq!(sent, QUEUE_SIZE);
    assert_eq!(driver.transmit(&mut batch), BATCH_MAX);
    assert_eq!(driver.stats().tx_packets, (QUEUE_SIZE + BATCH_MAX) as u64);
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn used_length_beyond_the_posted_buffer_is_a_counted_drop() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    // The buffer posted runs from the header to the end of the pool buffer.
    let posted = pool.buffer_size() - pool.headroom() + device.header_len();
    for claimed in [posted + 1, posted + 4096, u32::MAX as usize] {
        let (id, len) = device.take(RX).expect("a posted receive buffer");
        assert_eq!(len as usize, posted);
        device.push_used(RX, u32::from(id), claimed as u32);
    }
    // And one that fills the buffer exactly, which is fine.
    let (id, _) = device.take(RX).expect("a posted receive buffer");
    device.push_used(RX, u32::from(id), posted as u32);

    let batch = receive(&mut driver, &pool);
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].len(), pool.buffer_size() - pool.headroom());
    let stats = driver.stats();
    assert_eq!((stats.rx_packets, stats.rx_dropped), (1, 3));
    assert_eq!(driver.metrics().rx_oversized, 3);
    drop(batch);
    assert_accounted(&driver, &pool, 0);
    // The queue keeps working.
    assert!(device.deliver(&frame(60, 5)));
    assert_eq!(
        receive(&mut driver, &pool)[0].data(),
        frame(60, 5).as_slice()
    );
}

#[test]
fn used_length_shorter_than_the_header_is_a_counted_drop() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    for claimed in [0, device.header_len() - 1] {
        let (id, _) = device.take(RX).expect("a posted receive buffer");
        device.push_used(RX, u32::from(id), claimed as u32);
    }
    // Exactly a header and no frame is an empty packet, not an error.
    assert!(device.deliver(&[]));
    let batch = receive(&mut driver, &pool);
    assert_eq!(batch.len(), 1);
    assert!(batch[0].is_empty());
    assert_eq!(driver.stats().rx_dropped, 2);
    assert_eq!(driver.metrics().rx_runt, 2);
    drop(batch);
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn out_of_range_used_id_stops_the_receive_queue_and_is_counted() {
    for bad_id in [QUEUE_SIZE as u32, 1000, u32::from(u16::MAX)] {
        let (mut driver, device, pool) = driver(Flavor::Modern, 64);
        assert!(device.deliver(&frame(60, 1)));
        device.push_used(RX, bad_id, 72);
        assert!(device.deliver(&frame(60, 2)));

        let batch = receive(&mut driver, &pool);
        assert_eq!(batch.len(), 1, "frames before the bad entry are delivered");
        assert_eq!(batch[0].data(), frame(60, 1).as_slice());
        assert_eq!(driver.metrics().rx_bad_id, 1, "id {bad_id}");
        // The entry cannot be consumed: later calls neither spin on it nor count it again.
        assert_eq!(receive(&mut driver, &pool).len(), 0);
        driver.poll();
        assert_eq!(driver.metrics().rx_bad_id, 1);
        assert!(
            driver.arm_wakeup(),
            "a stopped queue does not keep the CPU awake"
        );
        drop(batch);
        assert_accounted(&driver, &pool, 0);
    }
}

#[test]
fn never_posted_used_id_is_counted() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    // Descriptor 100 is inside the ring but not in flight (16 buffers are posted).
    device.push_used(RX, 100, 72);
    assert_eq!(receive(&mut driver, &pool).len(), 0);
    assert_eq!(driver.metrics().rx_bad_id, 1);
    assert_eq!(driver.stats().rx_packets, 0);
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn used_id_completed_twice_is_counted() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    let (id, _) = device.take(RX).expect("a posted receive buffer");
    device.push_used(RX, u32::from(id), 72);
    device.push_used(RX, u32::from(id), 72);
    let batch = receive(&mut driver, &pool);
    assert_eq!(batch.len(), 1, "the first completion is good");
    assert_eq!(
        driver.metrics().rx_bad_id,
        1,
        "the second names a buffer not in flight"
    );
    drop(batch);
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn transmit_used_id_never_posted_stops_the_transmit_queue_and_is_counted() {
    let (mut driver, device, pool) = driver(Flavor::Modern, 64);
    let mut batch = Batch::new();
    batch.push(pool.alloc_from(&frame(60, 1)).expect("pool buffer"));
    assert_eq!(driver.transmit(&mut batch), 1);
    device.push_used(TX, 77, 0);
    driver.poll();
    assert_eq!(driver.metrics().tx_bad_id, 1);

    // Later packets are dropped, counted, rather than left to stall the graph.
    batch.push(pool.alloc_from(&frame(60, 2)).expect("pool buffer"));
    assert_eq!(driver.transmit(&mut batch), 1);
    assert!(batch.is_empty());
    assert_eq!(driver.stats().tx_dropped, 1);
    assert_eq!(driver.stats().tx_packets, 1);
    driver.poll();
    assert_eq!(driver.metrics().tx_bad_id, 1, "counted once");
    assert!(driver.arm_wakeup());
    assert_accounted(&driver, &pool, 0);
}

#[test]
fn pool_without_room_for_the_header_is_refused() {
    for (buffer_size, headroom) in [(2048, 8), (2048, 0), (1536, 128)] {
        let (transport, _device) = fake::device(Flavor::Modern);
        let pool = PacketPool::with_geometry(16, buffer_size, headroom);
        match VirtioNet::<IdentityHal, _>::new(transport, "eth0", pool.clone()) {
            Err(InitError::PoolGeometry { .. }) => {}
            Err(e) => panic!("{buffer_size}/{headroom}: wrong error: {e}"),
            Ok(_) => panic!("{buffer_size}/{headroom}: accepted"),
        }
        assert_eq!(pool.stats().free, 16, "no buffer kept");
    }
}
