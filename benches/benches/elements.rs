//! Per-element cost of the IP/Ethernet family: nanoseconds per packet, measured on batches
//! of 32 packets pushed into a one-element graph that ends in a sink.
//!
//! Packet allocation and copying the frame in happen in the (untimed) setup; the timed part
//! is the router handing the batch to the element, the element's work, and the sink dropping
//! the packets back into the pool. The `baseline` bench is that overhead alone (the sink
//! only), so an element's own cost is its number minus the baseline. Each iteration is one
//! batch (`BatchSize::PerIteration`): the pool holds only a few batches of buffers.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_benches::element_router;
use sluice_dataplane::{Batch, PacketPool, Router, BATCH_MAX};
use sluice_elements::wire::{ethernet, ipv4, EthernetFrame, Ipv4Packet, TcpPacket, UdpPacket};

/// A router with `class(config)` named `e` feeding a sink (or just the sink, for `None`).
fn router(pool: &PacketPool, class: Option<(&str, &str)>) -> Router {
    let classes = sluice_elements::ip::ALL;
    match class {
        Some((c, cfg)) => element_router(
            pool,
            0,
            &[("sink", "BenchSink", ""), ("e", c, cfg)],
            &[(1, 0, 0, 0)],
            classes,
        ),
        None => element_router(pool, 0, &[("sink", "BenchSink", "")], &[], classes),
    }
}

/// Ethernet + IPv4 + `proto` frame with 18 bytes of payload (64 bytes for UDP), checksums
/// filled in.
fn frame(proto: u8) -> Vec<u8> {
    let l4 = match proto {
        ipv4::PROTO_TCP => 20,
        _ => 8,
    };
    let mut f = vec![0u8; 14 + 20 + l4 + 18];
    let mut e = EthernetFrame::new_checked(&mut f[..]).unwrap();
    e.set_dst_addr([2, 0, 0, 0, 0, 2]);
    e.set_src_addr([2, 0, 0, 0, 0, 1]);
    e.set_ethertype(ethernet::ETHERTYPE_IPV4);
    let total = (20 + l4 + 18) as u16;
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_total_len(total);
    ip.set_ttl(64);
    ip.set_protocol(proto);
    ip.set_src_addr([10, 0, 0, 1].into());
    ip.set_dst_addr([10, 0, 0, 2].into());
    ip.fill_checksum();
    let (src, dst) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    match proto {
        ipv4::PROTO_TCP => {
            let mut t = TcpPacket::new_unchecked(&mut f[34..]);
            t.set_src_port(1234);
            t.set_dst_port(80);
            t.set_header_len(20);
            t.set_window_len(65535);
            t.fill_checksum(src, dst);
        }
        ipv4::PROTO_UDP => {
            let mut u = UdpPacket::new_unchecked(&mut f[34..]);
            u.set_src_port(1234);
            u.set_dst_port(53);
            u.set_len(8 + 18);
            u.fill_checksum(src, dst);
        }
        _ => {
            f[34] = 8;
            let c = sluice_elements::wire::checksum::checksum(&f[34..]);
            f[36..38].copy_from_slice(&c.to_be_bytes());
        }
    }
    f
}

/// A raw IPv6 packet (no Ethernet) with an empty payload.
fn ip6_packet() -> Vec<u8> {
    let mut v = vec![0u8; 40];
    v[0] = 0x60;
    v[6] = 59;
    v[7] = 64;
    v
}

struct Case {
    class: &'static str,
    config: &'static str,
    frame: Vec<u8>,
    /// Network header offset to annotate, if the element expects one.
    mark: Option<usize>,
}

fn cases() -> Vec<Case> {
    let udp = frame(ipv4::PROTO_UDP);
    let tcp = frame(ipv4::PROTO_TCP);
    let icmp = frame(ipv4::PROTO_ICMP);
    let c = |class, config, frame: &Vec<u8>, mark| Case {
        class,
        config,
        frame: frame.clone(),
        mark,
    };
    vec![
        c("CheckIPHeader", "14", &udp, None),
        c("CheckIPHeader2", "14", &udp, None),
        c("MarkIPHeader", "14", &udp, None),
        c("Strip", "14", &udp, None),
        c("StripIPHeader", "", &udp, Some(14)),
        c("Unstrip", "14", &udp, None),
        c("EtherEncap", "0x0800, 2:0:0:0:0:1, 2:0:0:0:0:2", &udp, None),
        c("EtherRewrite", "2:0:0:0:0:1, 2:0:0:0:0:2", &udp, None),
        c("StoreEtherAddress", "2:0:0:0:0:9, src", &udp, None),
        c("EtherMirror", "", &udp, None),
        c("HostEtherFilter", "2:0:0:0:0:2", &udp, None),
        c("DropBroadcasts", "", &udp, None),
        c("DecIPTTL", "", &udp, Some(14)),
        c("SetIPChecksum", "", &udp, Some(14)),
        c("SetTCPChecksum", "", &tcp, Some(14)),
        c("SetUDPChecksum", "", &udp, Some(14)),
        c("GetIPAddress", "IP dst", &udp, Some(14)),
        c("SetIPAddress", "10.0.0.9", &udp, None),
        c("StoreIPAddress", "10.0.0.9, src", &udp, Some(14)),
        c("CheckICMPHeader", "", &icmp, Some(14)),
        c("CheckTCPHeader", "", &tcp, Some(14)),
        c("CheckUDPHeader", "", &udp, Some(14)),
        c("VLANEncap", "VLAN_ID 5", &udp, None),
        c("VLANDecap", "", &udp, None),
        c(
            "EtherVLANEncap",
            "0x0800, 2:0:0:0:0:1, 2:0:0:0:0:2, VLAN_ID 5",
            &udp,
            None,
        ),
        c("StripEtherVLANHeader", "", &udp, None),
        c("SetVLANAnno", "VLAN_ID 5", &udp, None),
        c("IPPrint", "ACTIVE false", &udp, Some(14)),
        Case {
            class: "CheckIP6Header",
            config: "",
            frame: ip6_packet(),
            mark: None,
        },
    ]
}

fn batch(pool: &PacketPool, frame: &[u8], mark: Option<usize>) -> Batch {
    (0..BATCH_MAX)
        .map(|_| {
            let mut p = pool.alloc_from(frame).expect("pool has room");
            if let Some(n) = mark {
                p.set_network_offset(n);
                p.set_transport_offset(n + 20);
            }
            p
        })
        .collect()
}

fn bench_elements(c: &mut Criterion) {
    let mut g = c.benchmark_group("ip_elements");
    g.throughput(Throughput::Elements(BATCH_MAX as u64));
    let pool = PacketPool::new(4 * BATCH_MAX);
    {
        let mut r = router(&pool, None);
        let f = frame(ipv4::PROTO_UDP);
        g.bench_function("baseline", |b| {
            b.iter_batched(
                || batch(&pool, &f, None),
                |bt| r.push_to("sink", 0, bt).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    for case in cases() {
        let mut r = router(&pool, Some((case.class, case.config)));
        g.bench_function(case.class, |b| {
            b.iter_batched(
                || batch(&pool, &case.frame, case.mark),
                |bt| r.push_to("e", 0, bt).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_elements);
criterion_main!(benches);
