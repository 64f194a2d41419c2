//! IPRewriter's forward path: packets per second through a rewriter whose table holds 1k,
//! 50k or 1M live mappings, on batches of 32 packets of established flows (spread over the
//! table, so at the larger sizes most lookups miss the cache as real traffic does).
//!
//! Packet allocation and copying the frame in happen in the (untimed) setup; the timed part
//! is the router handing the batch to the rewriter, the lookup and rewrite with incremental
//! checksum updates, and the sink dropping the packets back into the pool.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_benches::element_router;
use sluice_dataplane::{Batch, PacketPool, Router, BATCH_MAX};

fn router(pool: &PacketPool) -> Router {
    element_router(
        pool,
        1_000_000_000,
        &[
            (
                "rw",
                "IPRewriter",
                "pattern 21.0.0.1 1024-65535 - - 0 1, drop",
            ),
            ("src0", "Idle", ""),
            ("src1", "Idle", ""),
            ("out0", "BenchSink", ""),
            ("out1", "BenchSink", ""),
        ],
        &[(1, 0, 0, 0), (2, 0, 0, 1), (0, 0, 3, 0), (0, 1, 4, 0)],
        &sluice_elements::all_classes(),
    )
}

/// A 20-byte IPv4 + 8-byte UDP packet of flow `i` (distinct source; destinations spread
/// so allocated ports stay plentiful), with valid checksums.
fn frame(i: u32) -> Vec<u8> {
    let src = 0x0a00_0000 | (i & 0x00ff_ffff);
    let dst = 0x0808_0000 | (i & 0xffff);
    let mut p = vec![0u8; 46];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&46u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.to_be_bytes());
    p[16..20].copy_from_slice(&dst.to_be_bytes());
    let c = sluice_elements::wire::checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&5000u16.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    p[24..26].copy_from_slice(&26u16.to_be_bytes());
    let ph = sluice_elements::wire::checksum::pseudo_header_v4(
        src.to_be_bytes(),
        dst.to_be_bytes(),
        17,
        26,
    );
    let c =
        sluice_elements::wire::checksum::finish(sluice_elements::wire::checksum::sum(ph, &p[20..]));
    p[26..28].copy_from_slice(&c.to_be_bytes());
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nat");
    g.throughput(Throughput::Elements(BATCH_MAX as u64));
    for flows in [1_000u32, 50_000, 1_000_000] {
        let pool = PacketPool::new(8192);
        let mut r = router(&pool);
        let frames: Vec<Vec<u8>> = (0..flows).map(frame).collect();
        // Install every mapping.
        for chunk in frames.chunks(BATCH_MAX) {
            let batch: Batch = chunk
                .iter()
                .map(|f| pool.alloc_from(f).expect("pool"))
                .collect();
            r.push_to("rw", 0, batch).unwrap();
        }
        assert_eq!(r.read_handler("rw.nmappings").unwrap(), flows.to_string());
        // Walk the flows with a stride coprime to their count, so consecutive packets hit
        // unrelated table slots.
        let stride = 7919u32;
        let mut next = 0u32;
        g.bench_function(format!("iprewriter_forward_{flows}_flows"), |b| {
            b.iter_batched(
                || {
                    let mut batch = Batch::new();
                    for _ in 0..BATCH_MAX {
                        next = (next + stride) % flows;
                        batch.push(pool.alloc_from(&frames[next as usize]).expect("pool"));
                    }
                    batch
                },
                |batch| r.push_to("rw", 0, batch).unwrap(),
                BatchSize::NumIterations(4),
            )
        });
    }
    // The router's own cost (hand a batch to a sink), to subtract.
    let pool = PacketPool::new(8192);
    let mut r = router(&pool);
    let f = frame(1);
    g.bench_function("baseline_sink_only", |b| {
        b.iter_batched(
            || {
                (0..BATCH_MAX)
                    .map(|_| pool.alloc_from(&f).expect("pool"))
                    .collect::<Batch>()
            },
            |batch| r.push_to("out0", 0, batch).unwrap(),
            BatchSize::NumIterations(4),
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
