//! IPRewriter's forward path: packets per second through a rewriter whose table holds 1k,
//! 50k or 1M live mappings, on batches of 32 packets of established flows (spread over the
//! table, so at the larger sizes most lookups miss the cache as real traffic does).
//!
//! Packet allocation and copying the frame in happen in the (untimed) setup; the timed part
//! is the router handing the batch to the rewriter, the lookup and rewrite with incremental
//! checksum updates, and the sink dropping the packets back into the pool.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_config::args::Args;
use sluice_config::{FlatConnection, FlatElement, FlatGraph, Span};
use sluice_dataplane::router::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, ManualClock, PacketPool,
    Router, BATCH_MAX,
};

struct Sink;
impl Element for Sink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        black_box(batch);
    }
}
fn make_sink(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Sink))
}
static SINK: ElementClass = ElementClass {
    name: "BenchSink",
    ports: "1/0",
    processing: "h",
    make: make_sink,
};

fn element(name: &str, class: &str, config: &str) -> FlatElement {
    FlatElement {
        name: name.into(),
        class: class.into(),
        config: config.into(),
        span: Span::default(),
        config_span: Span::default(),
    }
}

fn router(pool: &PacketPool) -> Router {
    let graph = FlatGraph {
        elements: vec![
            element(
                "rw",
                "IPRewriter",
                "pattern 21.0.0.1 1024-65535 - - 0 1, drop",
            ),
            element("src0", "Idle", ""),
            element("src1", "Idle", ""),
            element("out0", "BenchSink", ""),
            element("out1", "BenchSink", ""),
        ],
        connections: vec![
            FlatConnection {
                from: 1,
                from_port: 0,
                to: 0,
                to_port: 0,
            },
            FlatConnection {
                from: 2,
                from_port: 0,
                to: 0,
                to_port: 1,
            },
            FlatConnection {
                from: 0,
                from_port: 0,
                to: 3,
                to_port: 0,
            },
            FlatConnection {
                from: 0,
                from_port: 1,
                to: 4,
                to_port: 0,
            },
        ],
        requirements: Vec::new(),
    };
    let mut classes = sluice_elements::all_classes();
    classes.push(&SINK);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(ManualClock::new(1_000_000_000)),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    Router::new(&graph, &classes, env).unwrap_or_else(|d| panic!("bench graph: {:?}", d.0))
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
