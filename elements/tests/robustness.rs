//! Robustness of the packet paths on every test run: the invariants of the `packets_firewall`,
//! `packets_nat` and `packets_router` fuzz targets, checked on a few hundred generated inputs
//! each. The harness is the fuzz targets' own (`fuzz/fuzz_targets/common/mod.rs`), so both
//! check exactly the same thing; the fuzzers search far longer, these keep the invariants in
//! CI.
//!
//! Inputs mix well-formed traffic (built with etherparse from small address and port sets, so
//! replies hit NAT mappings and ARP answers hit pending queries), the same traffic cut short
//! or with a byte changed, and plain random bytes.

#[path = "../../fuzz/fuzz_targets/common/mod.rs"]
mod common;

use etherparse::PacketBuilder;
use proptest::prelude::*;

const MACS: [[u8; 6]; 3] = [
    [2, 0, 0, 0, 0, 1],
    [2, 0, 0, 0, 0, 9],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
];
const ADDRS: [[u8; 4]; 7] = [
    [10, 0, 0, 1],
    [10, 0, 0, 5],
    [10, 0, 0, 7],
    [21, 0, 0, 1],
    [22, 0, 0, 1],
    [192, 168, 1, 1],
    [10, 0, 0, 255],
];
const PORTS: [u16; 7] = [80, 53, 1024, 1025, 2000, 3000, 22];

/// One generated packet, before damage.
#[derive(Clone, Debug)]
enum Kind {
    Tcp {
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
    },
    Udp,
    IcmpEcho {
        reply: bool,
        id: u16,
    },
    /// An ICMP destination-unreachable quoting a UDP packet between the same hosts.
    IcmpError {
        code: u8,
    },
    Arp {
        reply: bool,
    },
}

#[derive(Clone, Debug)]
struct Spec {
    kind: Kind,
    src: usize,
    dst: usize,
    sport: usize,
    dport: usize,
    ttl: u8,
    payload: usize,
    /// Don't-fragment / more-fragments flags and an offset (in 8-byte units).
    frag: (bool, bool, u16),
    vlan: Option<u16>,
    mac: (usize, usize),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(syn, ack, fin, rst)| Kind::Tcp { syn, ack, fin, rst }),
        3 => Just(Kind::Udp),
        2 => (any::<bool>(), prop_oneof![Just(1024u16), Just(0x99), any::<u16>()])
            .prop_map(|(reply, id)| Kind::IcmpEcho { reply, id }),
        1 => (0u8..5).prop_map(|code| Kind::IcmpError { code }),
        1 => any::<bool>().prop_map(|reply| Kind::Arp { reply }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        kind(),
        (0..ADDRS.len(), 0..ADDRS.len()),
        (0..PORTS.len(), 0..PORTS.len()),
        prop_oneof![Just(64u8), Just(1), Just(0), any::<u8>()],
        prop_oneof![4 => 0usize..64, 1 => 500usize..1500],
        prop_oneof![
            6 => Just((false, false, 0u16)),
            1 => Just((true, false, 0u16)),
            1 => (any::<bool>(), 0u16..200).prop_map(|(mf, off)| (false, mf, off)),
        ],
        prop_oneof![6 => Just(None), 1 => (0u16..4096).prop_map(Some)],
        (0..MACS.len(), 0..MACS.len()),
    )
        .prop_map(
            |(kind, (src, dst), (sport, dport), ttl, payload, frag, vlan, mac)| Spec {
                kind,
                src,
                dst,
                sport,
                dport,
                ttl,
                payload,
                frag,
                vlan,
                mac,
            },
        )
}

/// The IPv4 packet (or the ARP message) of `s`, and its EtherType.
fn l3(s: &Spec) -> (Vec<u8>, u16) {
    let (src, dst) = (ADDRS[s.src], ADDRS[s.dst]);
    let (sport, dport) = (PORTS[s.sport], PORTS[s.dport]);
    let payload = vec![0x5a; s.payload];
    let ip = || PacketBuilder::ipv4(src, dst, s.ttl);
    let mut out = Vec::new();
    match &s.kind {
        Kind::Tcp { syn, ack, fin, rst } => {
            let mut b = ip().tcp(sport, dport, 1000, 8192);
            if *syn {
                b = b.syn();
            }
            if *ack {
                b = b.ack(1);
            }
            if *fin {
                b = b.fin();
            }
            if *rst {
                b = b.rst();
            }
            b.write(&mut out, &payload).expect("tcp");
        }
        Kind::Udp => ip()
            .udp(sport, dport)
            .write(&mut out, &payload)
            .expect("udp"),
        Kind::IcmpEcho { reply, id } => {
            let b = ip();
            if *reply {
                b.icmpv4_echo_reply(*id, 1).write(&mut out, &payload)
            } else {
                b.icmpv4_echo_request(*id, 1).write(&mut out, &payload)
            }
            .expect("icmp")
        }
        Kind::IcmpError { code } => {
            // The quoted packet went the other way: dst -> src.
            let mut quoted = Vec::new();
            PacketBuilder::ipv4(dst, src, 9)
                .udp(dport, sport)
                .write(&mut quoted, &[1, 2, 3, 4])
                .expect("quoted");
            quoted.truncate(28);
            let unreachable = etherparse::icmpv4::DestUnreachableHeader::from_values(*code, 0)
                .unwrap_or(etherparse::icmpv4::DestUnreachableHeader::Network);
            ip().icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(unreachable))
                .write(&mut out, &quoted)
                .expect("icmp error");
        }
        Kind::Arp { reply } => {
            let op: u16 = if *reply { 2 } else { 1 };
            out.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
            out.extend_from_slice(&op.to_be_bytes());
            out.extend_from_slice(&MACS[s.mac.0]);
            out.extend_from_slice(&src);
            out.extend_from_slice(&if *reply { MACS[s.mac.1] } else { [0; 6] });
            out.extend_from_slice(&dst);
            return (out, 0x0806);
        }
    }
    // Fragment flags and offset, then the header checksum again.
    let (df, mf, off) = s.frag;
    let word = (u16::from(df) << 14) | (u16::from(mf) << 13) | (off & 0x1fff);
    out[6..8].copy_from_slice(&word.to_be_bytes());
    out[10..12].fill(0);
    let hl = usize::from(out[0] & 15) * 4;
    let sum = sluice_elements::wire::checksum::checksum(&out[..hl]);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    (out, 0x0800)
}

/// The Ethernet frame of `s`.
fn frame(s: &Spec) -> Vec<u8> {
    let (body, ethertype) = l3(s);
    let mut f = Vec::with_capacity(body.len() + 18);
    f.extend_from_slice(&MACS[s.mac.1]);
    f.extend_from_slice(&MACS[s.mac.0]);
    if let Some(tci) = s.vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(&body);
    f
}

/// What is done to a generated packet before it is sent.
#[derive(Clone, Debug)]
enum Damage {
    None,
    Truncate(usize),
    Flip(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        2 => (0usize..80).prop_map(Damage::Truncate),
        2 => (0usize..80, 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
    ]
}

fn apply(mut b: Vec<u8>, d: &Damage) -> Vec<u8> {
    match *d {
        Damage::None => {}
        Damage::Truncate(n) => b.truncate(n),
        Damage::Flip(i, x) => {
            if let Some(v) = b.get_mut(i) {
                *v ^= x;
            }
        }
    }
    b.truncate(common::MAX_FRAME);
    b
}

/// One record: a tick, a structured packet, or random bytes, for entry `entry`. `ip_entry`
/// says which entries take IP packets (no Ethernet header) rather than frames.
#[derive(Clone, Debug)]
enum Rec {
    Tick(u16, bool),
    Packet(u8, Spec, Damage),
    Random(u8, Vec<u8>),
}

fn rec(entries: usize) -> impl Strategy<Value = Rec> {
    let e = 0..entries as u8;
    prop_oneof![
        1 => (any::<u16>(), any::<bool>()).prop_map(|(ms, long)| Rec::Tick(ms, long)),
        8 => (e.clone(), spec(), damage()).prop_map(|(e, s, d)| Rec::Packet(e, s, d)),
        1 => (e, proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(e, b)| Rec::Random(e, b)),
    ]
}

/// Encodes `recs` for a target whose entries taking IP packets are marked in `ip_entries`.
fn encode(recs: &[Rec], ip_entries: &[bool]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        match r {
            Rec::Tick(ms, long) => common::encode_tick(&mut out, *ms, *long),
            Rec::Packet(e, s, d) => {
                let ip = ip_entries[usize::from(*e)];
                let bytes = if ip { l3(s).0 } else { frame(s) };
                let net = if ip { Some(0) } else { None };
                let dst = Some(ADDRS[s.dst]);
                common::encode_frame(&mut out, *e, net, dst, &apply(bytes, d));
            }
            Rec::Random(e, b) => common::encode_frame(&mut out, *e, None, None, b),
        }
    }
    out
}

// Entry layouts: which entries of each target take IP packets rather than frames (see the
// entry tables in common/mod.rs).
const FIREWALL_IP: &[bool] = &[false, false, true, true, true, true, true];
const NAT_IP: &[bool] = &[true; 15];
const ROUTER_IP: &[bool] = &[
    false, false, true, false, false, false, false, true, true, true, true, true, true, true, true,
    true, true, true, true, true, true,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn firewall_survives_any_traffic(recs in proptest::collection::vec(rec(FIREWALL_IP.len()), 1..24)) {
        common::firewall(&encode(&recs, FIREWALL_IP));
    }

    #[test]
    fn nat_keeps_its_invariants(recs in proptest::collection::vec(rec(NAT_IP.len()), 1..40)) {
        common::nat(&encode(&recs, NAT_IP));
    }

    #[test]
    fn routing_elements_survive_any_traffic(recs in proptest::collection::vec(rec(ROUTER_IP.len()), 1..32)) {
        common::router(&encode(&recs, ROUTER_IP));
    }

    #[test]
    fn packet_targets_survive_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        common::firewall(&data);
        common::nat(&data);
        common::router(&data);
    }
}

/// The structured generator really produces what the targets expect (a frame the firewall's
/// checksum check accepts, records that decode back).
#[test]
fn generated_traffic_is_well_formed() {
    let s = Spec {
        kind: Kind::Tcp {
            syn: true,
            ack: false,
            fin: false,
            rst: false,
        },
        src: 1,
        dst: 0,
        sport: 2,
        dport: 0,
        ttl: 64,
        payload: 10,
        frag: (false, false, 0),
        vlan: None,
        mac: (1, 0),
    };
    let f = frame(&s);
    let parsed = etherparse::SlicedPacket::from_ethernet(&f).expect("valid frame");
    assert!(matches!(
        parsed.transport,
        Some(etherparse::TransportSlice::Tcp(_))
    ));
    let data = encode(
        &[Rec::Packet(0, s, Damage::None), Rec::Tick(5, false)],
        FIREWALL_IP,
    );
    let recs: Vec<_> = common::Records::new(&data, FIREWALL_IP.len()).collect();
    assert_eq!(recs.len(), 2);
    match &recs[0] {
        common::Record::Frame { entry, bytes, .. } => {
            assert_eq!(*entry, 0);
            assert_eq!(*bytes, &f[..]);
        }
        common::Record::Tick(_) => panic!("expected a frame"),
    }
    assert!(matches!(recs[1], common::Record::Tick(5)));
    let before = common::CHECKED.with(|c| c.get());
    common::firewall(&data);
    assert_eq!(
        common::CHECKED.with(|c| c.get()),
        before + 1,
        "the SYN to port 80 is allowed and reaches the checksum check"
    );
}
