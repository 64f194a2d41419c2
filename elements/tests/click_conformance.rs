//! Click conformance: configurations and expected results taken from Click's own test suite
//! (`test/*/*.testie`) and element source, run through sluice's elements. Each test names the
//! Click behaviour it pins down.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::Run;
use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Element, ElementClass, Packet};

std::thread_local! {
    static COLLECTED: RefCell<BTreeMap<String, Vec<Packet>>> = const { RefCell::new(BTreeMap::new()) };
}

/// `Collect`: a push sink that keeps what it receives, by element name.
struct Collect {
    name: String,
}

impl Element for Collect {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        COLLECTED.with(|c| {
            c.borrow_mut()
                .entry(self.name.clone())
                .or_default()
                .extend(batch)
        });
    }
}

fn make_collect(_: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Collect {
        name: c.name.to_string(),
    }))
}

static COLLECT: ElementClass = ElementClass {
    name: "Collect",
    ports: "1/0",
    processing: "h",
    make: make_collect,
    names: None,
};

fn collected(name: &str) -> Vec<Packet> {
    COLLECTED.with(|c| c.borrow_mut().remove(name).unwrap_or_default())
}

fn start(config: &str, buffers: usize) -> Run {
    let mut classes: Vec<&'static ElementClass> = sluice_elements::all_classes();
    classes.push(&COLLECT);
    common::start(config, buffers, &classes, Vec::new())
}

impl Run {
    /// Pushes one packet (its IP header at offset 0, `dst` as destination annotation).
    fn push_ip(&mut self, element: &str, port: usize, bytes: &[u8], dst: Option<[u8; 4]>) {
        let mut p = self.pool.alloc_from(bytes).expect("pool has room");
        p.set_network_offset(0);
        if let Some(d) = dst {
            p.anno_mut().dst_ip = d;
        }
        self.router
            .push_to(element, port, [p].into_iter().collect())
            .unwrap();
    }

    fn read(&self, handler: &str) -> String {
        self.router.read_handler(handler).unwrap()
    }
}

/// A 40-byte TCP/IP packet as Click's FromIPSummaryDump makes it (TTL 100, no payload).
fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let (s, d): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
    let ip =
        etherparse::Ipv4Header::new(20, 100, etherparse::IpNumber::TCP, s.octets(), d.octets())
            .unwrap();
    let mut th = etherparse::TcpHeader::new(sport, dport, 0, 0);
    th.checksum = th.calc_checksum_ipv4(&ip, &[]).unwrap();
    let mut v = Vec::new();
    ip.write(&mut v).unwrap();
    th.write(&mut v).unwrap();
    v
}

/// `src sport dst dport` of a TCP/IP packet, as ToIPSummaryDump prints them.
fn flow(p: &Packet) -> String {
    let (ip, rest) = etherparse::Ipv4Header::from_slice(p.data()).unwrap();
    assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IP checksum");
    let (th, payload) = etherparse::TcpHeader::from_slice(rest).unwrap();
    assert_eq!(
        th.checksum,
        th.calc_checksum_ipv4(&ip, payload).unwrap(),
        "TCP checksum"
    );
    format!(
        "{} {} {} {}",
        Ipv4Addr::from(ip.source),
        th.source_port,
        Ipv4Addr::from(ip.destination),
        th.destination_port
    )
}

/// Click's `test/IPRewriter/IPRewriter-01.testie`: sequential source ports from a pattern,
/// replies mapped back, unmapped replies dropped by the `drop` spec.
#[test]
fn iprewriter_01_sequential_ports_and_replies() {
    let mut run = start(
        "rw :: IPRewriter(pattern 1.0.0.1 1024-65535# - - 0 1, drop);
         Idle -> [0]rw; Idle -> [1]rw;
         rw[0] -> o0 :: Collect; rw[1] -> o1 :: Collect;",
        64,
    );
    for (s, sp, d, dp) in [
        ("18.26.4.44", 30, "10.0.0.4", 40),
        ("18.26.4.44", 30, "10.0.0.4", 40),
        ("18.26.4.44", 20, "10.0.0.8", 80),
    ] {
        run.push_ip("rw", 0, &tcp(s, sp, d, dp), None);
    }
    for (s, sp, d, dp) in [
        ("10.0.0.4", 40, "1.0.0.1", 1024),
        ("10.0.0.4", 40, "1.0.0.1", 1024),
        ("10.0.0.8", 80, "1.0.0.1", 1025),
        ("10.0.0.8", 80, "1.0.0.1", 1026),
    ] {
        run.push_ip("rw", 1, &tcp(s, sp, d, dp), None);
    }
    let out1: Vec<String> = collected("o0").iter().map(flow).collect();
    let out2: Vec<String> = collected("o1").iter().map(flow).collect();
    assert_eq!(
        out1,
        [
            "1.0.0.1 1024 10.0.0.4 40",
            "1.0.0.1 1024 10.0.0.4 40",
            "1.0.0.1 1025 10.0.0.8 80"
        ]
    );
    assert_eq!(
        out2,
        [
            "10.0.0.4 40 18.26.4.44 30",
            "10.0.0.4 40 18.26.4.44 30",
            "10.0.0.8 80 18.26.4.44 20"
        ]
    );
    assert_eq!(run.read("rw.nmappings"), "2");
}

/// Click's `test/icmp/ICMPError-sourceroute-01.testie`: a time-exceeded error about a
/// strict-source-routed packet follows the reversed route, pointer at the first address.
#[test]
fn icmperror_sourceroute_01() {
    let mut run = start(
        "Idle -> e :: ICMPError(19.19.19.19, timeexceeded) -> CheckIPHeader
              -> CheckICMPHeader -> o :: Collect;",
        64,
    );
    // 18.26.4.44:20 -> 10.0.0.8:80 TCP, TTL 0,
    // ssrr{128.4.45.60,128.4.49.61,^1.2.3.4,5.6.7.8} (pointer 12), padded with EOL.
    let mut p = vec![
        0x4a, 0, 0, 60, 0, 0, 0, 0, 0, 6, 0, 0, 18, 26, 4, 44, 10, 0, 0, 8,
    ];
    p.extend_from_slice(&[
        137, 19, 12, 128, 4, 45, 60, 128, 4, 49, 61, 1, 2, 3, 4, 5, 6, 7, 8, 0,
    ]);
    p.extend_from_slice(&[
        0, 20, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let c = !fold(
        p[..40]
            .chunks(2)
            .map(|w| u32::from(w[0]) << 8 | u32::from(w[1]))
            .sum(),
    );
    p[10..12].copy_from_slice(&c.to_be_bytes());
    run.push_ip("e", 0, &p, None);
    let out = collected("o");
    assert_eq!(
        out.len(),
        1,
        "one error, valid for CheckIPHeader/CheckICMPHeader"
    );
    let q = out[0].data();
    assert_eq!(&q[12..20], &[19, 19, 19, 19, 18, 26, 4, 44]);
    assert_eq!(q[9], 1, "ICMP");
    let hl = usize::from(q[0] & 15) * 4;
    assert_eq!(
        &q[20..hl],
        &[137, 11, 4, 128, 4, 49, 61, 128, 4, 45, 60, 0],
        "ssrr{{^128.4.49.61,128.4.45.60}}"
    );
    // payload_len 68 in ToIPSummaryDump: the ICMP header and the 60 quoted bytes.
    assert_eq!(usize::from(u16::from_be_bytes([q[2], q[3]])) - hl, 68);
    assert_eq!(&q[hl..hl + 2], &[11, 0]);
    assert_eq!(&q[hl + 8..], &p[..]);
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Click's `test/ethernet/ARPQuerier-01.testie` (first configuration): an ARPQuerier whose
/// queries an ARPResponder answers at once sends every packet in order, the subnet
/// broadcast to FF-FF-FF-FF-FF-FF, and its table lists each neighbour as `IP 1 ETH AGE`.
#[test]
fn arpquerier_01_resolves_in_order() {
    let mut run = start(
        "Idle -> arpq :: ARPQuerier(1.0.0.1/24, 2:1:1:1:1:1) -> o :: Collect;
         arpq[1] -> ARPResponder(2.0/16 2:1:1:1:1:0, 2.1/16 2:1:1:1:1:1,
                2.2/16 2:1:1:1:1:2, 2.3/16 2:1:1:1:1:3,
                2.4/16 2:1:1:1:1:4, 2.5/16 2:1:1:1:1:5,
                2.6/16 2:1:1:1:1:6, 2.7/16 2:1:1:1:1:7,
                2.8/16 2:1:1:1:1:8, 2.9/16 2:1:1:1:1:9,
                2.10/16 2:1:1:1:1:A, 2.11/16 2:1:1:1:1:B,
                2.12/16 2:1:1:1:1:C, 2.13/16 2:1:1:1:1:D)
           -> [1]arpq;",
        256,
    );
    let mut dsts: Vec<[u8; 4]> = (0..2)
        .flat_map(|_| (0..14u8).map(|n| [2, n, 0, 1]))
        .collect();
    dsts.push([1, 0, 0, 255]);
    for d in &dsts {
        let mut ip = vec![0x45, 0, 0, 0x28, 0, 0, 0, 0, 100, 6, 0, 0, 0, 0, 0, 0];
        ip.extend_from_slice(d);
        ip.extend_from_slice(&[0; 20]);
        run.push_ip("arpq", 0, &ip, Some(*d));
    }
    let out = collected("o");
    let lines: Vec<String> = out
        .iter()
        .map(|p| {
            p.data()[..32]
                .chunks(4)
                .map(|w| w.iter().map(|b| format!("{b:02x}")).collect::<String>())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let mut want: Vec<String> = dsts[..28]
        .iter()
        .map(|d| {
            format!(
                "02010101 01{:02x}0201 01010101 08004500 00280000 00006406 00000000 0000{:02x}{:02x}",
                d[1], d[0], d[1]
            )
        })
        .collect();
    want.push("ffffffff ffff0201 01010101 08004500 00280000 00006406 00000000 00000100".into());
    assert_eq!(lines, want);
    let mut table: Vec<String> = run
        .read("arpq.table")
        .lines()
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    table.sort();
    let mut want: Vec<String> = (0..14)
        .map(|n| format!("2.{n}.0.1 1 02-01-01-01-01-{n:02X}"))
        .collect();
    want.sort();
    assert_eq!(table, want);
}

/// Click's Tee pushes output 0 first, then 1, ...: downstream of output 0 sees the packet
/// first.
#[test]
fn tee_outputs_in_port_order() {
    let mut run = start(
        "Idle -> t :: Tee(3);
         t[0] -> Paint(0) -> o :: Collect;
         t[1] -> Paint(1) -> o;
         t[2] -> Paint(2) -> o;",
        16,
    );
    run.push_ip("t", 0, b"abcd", None);
    let paints: Vec<u8> = collected("o").iter().map(|p| p.anno().paint).collect();
    assert_eq!(paints, [0, 1, 2]);
    drop(run.router);
    assert_eq!(run.pool.stats().free, 16);
}

/// Click's Discard pulls one packet per task run unless BURST says otherwise (BURST 0:
/// everything available).
#[test]
fn discard_pulls_one_packet_per_run_by_default() {
    for (burst, want) in [("", 1), ("BURST 4", 4), ("BURST 0", 10)] {
        let mut run = start(
            &format!("Idle -> q :: Queue(100) -> d :: Discard({burst});"),
            32,
        );
        let batch: Batch = (0..10)
            .map(|_| run.pool.alloc_from(b"x").unwrap())
            .collect();
        run.router.push_to("q", 0, batch).unwrap();
        run.router.run_once();
        assert_eq!(run.read("d.count"), want.to_string(), "Discard({burst})");
        let _ = (&run.console, &run.clock);
    }
}

/// Click's Counter has a `count_call` read handler (the trigger count) and calls COUNT_CALL
/// when the count *equals* N, so a trigger set below the current count never fires.
#[test]
fn counter_count_call() {
    let mut run = start(
        "Idle -> c :: Counter(COUNT_CALL 2 s.active false) -> Discard;
         s :: InfiniteSource(ACTIVE false) -> Discard;",
        16,
    );
    assert_eq!(run.read("c.count_call"), "2");
    run.router.write_handler("s.active", "true").unwrap();
    for _ in 0..3 {
        run.push_ip("c", 0, b"x", None);
    }
    assert_eq!(run.read("s.active"), "false", "fired at 2");
    run.router.write_handler("s.active", "true").unwrap();
    run.router
        .write_handler("c.count_call", "1 s.active false")
        .unwrap();
    assert_eq!(run.read("c.count_call"), "1");
    run.push_ip("c", 0, b"x", None);
    assert_eq!(run.read("s.active"), "true", "count 4 never equals 1");
}

/// An ICMP echo request with checksums set.
fn echo(src: &str, dst: &str, id: [u8; 2]) -> Vec<u8> {
    let (s, d): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut icmp = vec![8, 0, 0, 0, id[0], id[1], 0, 1];
    let c = !fold(
        icmp.chunks(2)
            .map(|w| u32::from(w[0]) << 8 | u32::from(w[1]))
            .sum(),
    );
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let ip = etherparse::Ipv4Header::new(8, 64, etherparse::IpNumber::ICMP, s.octets(), d.octets())
        .unwrap();
    let mut v = Vec::new();
    ip.write(&mut v).unwrap();
    v.extend_from_slice(&icmp);
    v
}

/// `src dst type id` of an ICMP echo packet, checksums verified.
fn ping(p: &Packet) -> (String, String, u8, [u8; 2]) {
    let d = p.data();
    let (ip, rest) = etherparse::Ipv4Header::from_slice(d).unwrap();
    assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IP checksum");
    let sum: u32 = rest
        .chunks(2)
        .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
        .sum();
    assert_eq!(fold(sum), 0xffff, "ICMP checksum");
    (
        Ipv4Addr::from(ip.source).to_string(),
        Ipv4Addr::from(ip.destination).to_string(),
        rest[0],
        [rest[4], rest[5]],
    )
}

/// Click's `test/IPRewriter/ICMPPingRewriter-01.testie`: the first ping keeps its identifier,
/// a second host's ping with the same identifier gets another one, and the replies are
/// mapped back to each host with its own identifier.
#[test]
fn icmppingrewriter_01() {
    let mut run = start(
        "Idle -> icmp :: ICMPPingRewriter(pattern 2.0.0.2 - 0-65535 0 1, drop)
              -> b :: Tee -> ICMPPingResponder -> c :: Tee -> [1] icmp [1] -> d :: Collect;
         b[1] -> bo :: Collect; c[1] -> co :: Collect;",
        64,
    );
    let id = [0x0a, 0x00];
    run.push_ip("icmp", 0, &echo("1.0.0.1", "5.0.0.5", id), None);
    run.push_ip("icmp", 0, &echo("1.0.0.2", "5.0.0.5", id), None);
    let b: Vec<_> = collected("bo").iter().map(ping).collect();
    let c: Vec<_> = collected("co").iter().map(ping).collect();
    let d: Vec<_> = collected("d").iter().map(ping).collect();
    let s = |x: &str| x.to_string();
    assert_eq!(b[0], (s("2.0.0.2"), s("5.0.0.5"), 8, id));
    assert_eq!(c[0], (s("5.0.0.5"), s("2.0.0.2"), 0, id));
    assert_eq!(d[0], (s("5.0.0.5"), s("1.0.0.1"), 0, id));
    assert_eq!(
        (b[1].0.as_str(), b[1].1.as_str(), b[1].2),
        ("2.0.0.2", "5.0.0.5", 8)
    );
    assert_ne!(b[1].3, id, "the identifier in use is not handed out twice");
    assert_eq!(c[1].3, b[1].3);
    assert_eq!(d[1], (s("5.0.0.5"), s("1.0.0.2"), 0, id));
}

/// Click's `test/IPRewriter/UDPRewriter-11.testie`: a pattern's port range prefers the
/// packet's own source port while the reply flow it would create is free.
#[test]
fn udprewriter_11_prefers_the_original_port() {
    let mut run = start(
        "rw1 :: UDPRewriter(pattern 1.0.0.2 1024-65534 - - 0 1, drop);
         Idle -> [0]rw1[0] -> o :: Collect; Idle -> [1]rw1[1] -> o;",
        64,
    );
    run.push_ip("rw1", 0, &tcp("10.0.0.1", 1024, "1.0.0.2", 20), None);
    run.push_ip("rw1", 0, &tcp("10.0.0.2", 1024, "1.0.0.2", 30), None);
    run.push_ip("rw1", 0, &tcp("10.0.0.3", 1024, "1.0.0.2", 20), None);
    let out: Vec<String> = collected("o").iter().map(flow).collect();
    assert_eq!(out[0], "1.0.0.2 1024 1.0.0.2 20");
    assert_eq!(out[1], "1.0.0.2 1024 1.0.0.2 30");
    let third: u16 = out[2].split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        third != 1024 && (1024..=65534).contains(&third),
        "{}",
        out[2]
    );
    run.push_ip("rw1", 1, &tcp("1.0.0.2", 20, "1.0.0.2", third), None);
    run.push_ip("rw1", 1, &tcp("1.0.0.2", 30, "1.0.0.2", 1024), None);
    run.push_ip("rw1", 1, &tcp("1.0.0.2", 20, "1.0.0.2", 1024), None);
    let back: Vec<String> = collected("o").iter().map(flow).collect();
    assert_eq!(
        back,
        [
            "1.0.0.2 20 10.0.0.3 1024",
            "1.0.0.2 30 10.0.0.2 1024",
            "1.0.0.2 20 10.0.0.1 1024"
        ]
    );
}

/// Click's `test/ethernet/ARPResponder-01.testie`: AddressInfo names (`a` is the address,
/// `a:ipnet` the network, `b:eth` the Ethernet address), the table most specific first, a
/// later entry replacing an earlier one for the same prefix, `remove` and `add`.
#[test]
fn arpresponder_01_table_and_updates() {
    let run = start(
        "AddressInfo(a 1.0.0.2/24 00:01:02:03:04:05, b 00:01:02:03:04:06);
         Idle -> e :: ARPResponder() -> Discard;
         Idle -> ar :: ARPResponder(a, a:ipnet b:eth) -> Discard;
         Idle -> ar2 :: ARPResponder(a:ipnet b:eth, a) -> Discard;",
        16,
    );
    assert_eq!(run.read("e.table"), "");
    let both = "1.0.0.2/32 00-01-02-03-04-05\n1.0.0.0/24 00-01-02-03-04-06\n";
    assert_eq!(run.read("ar.table"), both);
    assert_eq!(run.read("ar2.table"), both);
    run.router.write_handler("ar.remove", "1.0.0.2").unwrap();
    assert_eq!(run.read("ar.table"), "1.0.0.0/24 00-01-02-03-04-06\n");
    // Click's testie writes `a:ipnet a:eth`; sluice's handlers do not see AddressInfo names.
    run.router
        .write_handler("ar.add", "1.0.0.0/24 00-01-02-03-04-05")
        .unwrap();
    assert_eq!(run.read("ar.table"), "1.0.0.0/24 00-01-02-03-04-05\n");
}

/// AddressInfo suffixes (`NAME:ip`, `NAME:bcast`, `NAME:gw`, `NAME:eth`) and Ethernet
/// addresses written with dashes or single digits, as Click's AddressInfo documents them.
#[test]
fn addressinfo_suffixes() {
    let run = start(
        "AddressInfo(a 1.0.0.2/24 00-01-02-03-04-05, c 10.0.0.1 10.0.0.0/8 2:0:a:11:22:1f);
         Idle -> e1 :: ICMPError(a:ip, unreachable) -> Discard;
         Idle -> e2 :: ICMPError(a:bcast, unreachable) -> Discard;
         Idle -> e3 :: ICMPError(a:gw, unreachable) -> Discard;
         Idle -> ar :: ARPResponder(a, c:ipnet c:eth) -> Discard;",
        16,
    );
    assert_eq!(run.read("e1.src"), "1.0.0.2");
    assert_eq!(run.read("e2.src"), "1.0.0.255");
    assert_eq!(run.read("e3.src"), "1.0.0.1");
    assert_eq!(
        run.read("ar.table"),
        "1.0.0.2/32 00-01-02-03-04-05\n10.0.0.0/8 02-00-0A-11-22-1F\n"
    );
}
