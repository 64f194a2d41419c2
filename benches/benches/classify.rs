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

/// A 60-byte Ethernet/IPv4 frame: TCP (20-byte header, 6 bytes payload, SYN) or UDP (8-byte
/// header, 18 bytes payload).
fn frame(tcp: bool, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = if tcp { 6 } else { 17 };
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let l4 = &mut ip[20..];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if tcp {
        l4[12] = 0x50;
        l4[13] = 0x02;
    } else {
        l4[4..6].copy_from_slice(&26u16.to_be_bytes());
    }
    f
}

/// A traffic mix: web and DNS from inside, some other TCP and UDP.
fn traffic() -> Vec<Vec<u8>> {
    (0..BATCH_MAX)
        .map(|i| {
            let src = [10, 0, (i / 8) as u8, i as u8];
            let dst = [93, 184, 216, 34];
            match i % 4 {
                0 | 1 => frame(true, src, dst, 40000 + i as u16, 80),
                2 => frame(false, src, [10, 0, 0, 53], 50000 + i as u16, 53),
                _ => frame(i % 8 == 3, src, dst, 33000, 4000 + i as u16),
            }
        })
        .collect()
}

fn three_rules() -> String {
    "allow tcp dst port www, 1 udp dst port domain, deny all".into()
}

/// 97 rules that this traffic never matches (other networks, other ports), then the three
/// above: every packet runs the whole rule list.
fn hundred_rules() -> String {
    let mut rules: Vec<String> = (0..97)
        .map(|i| match i % 3 {
            0 => format!(
                "deny src net 172.16.{i}.0/24 && tcp && dst port {}",
                1000 + i
            ),
            1 => format!("allow dst host 192.0.2.{i} && udp"),
            _ => format!("1 src net 198.51.{i}.0/24 and (tcp opt syn or icmp type echo)"),
        })
        .collect();
    rules.push(three_rules());
    rules.join(",\n")
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
