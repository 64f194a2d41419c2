//! IPFilter throughput: packets per second through a 3-rule and a 100-rule filter, measured
//! on batches of 32 realistic 60-byte Ethernet/IPv4 TCP and UDP frames (IP header
//! annotation set, as after `CheckIPHeader`) pushed into a one-element graph whose outputs
//! end in a sink.
//!
//! Packet allocation and copying the frames in happen in the (untimed) setup; the timed
//! part is the router handing the batch to the filter, the filter's decision program, and
//! the sink (or the filter, for dropped packets) returning the buffers to the pool.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_benches::element_router;
use sluice_benches::rules::{hundred_rules, three_rules, traffic};
use sluice_dataplane::{Batch, PacketPool, Router, BATCH_MAX};

/// `IPFilter(config)` named `f`, outputs 0 and 1 into the sink.
fn router(pool: &PacketPool, config: &str) -> Router {
    element_router(
        pool,
        0,
        &[("f", "IPFilter", config), ("sink", "BenchSink", "")],
        &[(0, 0, 1, 0), (0, 1, 1, 1)],
        sluice_elements::classify::ALL,
    )
}

fn bench(c: &mut Criterion) {
    let pool = PacketPool::new(256);
    let frames = traffic();
    let mut group = c.benchmark_group("ipfilter");
    group.throughput(Throughput::Elements(BATCH_MAX as u64));
    for (name, config) in [("3_rules", three_rules()), ("100_rules", hundred_rules())] {
        let mut r = router(&pool, &config);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut batch = Batch::new();
                    for f in &frames {
                        let mut p = pool.alloc_from(f).expect("pool");
                        p.set_network_offset(14);
                        batch.push(p);
                    }
                    batch
                },
                |batch| r.push_to("f", 0, batch).expect("push"),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
