//! Hostile input: random bytes through the checking and rewriting elements and the wire
//! views must never panic.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::testutil::Harness;
use crate::wire::{ArpPacket, EthernetFrame, IcmpPacket, Ipv4Packet, TcpPacket, UdpPacket};

/// A mostly-valid IPv4 packet with random fields, so checks get past the first tests.
fn ipv4_like() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(any::<u8>(), 0..120),
        any::<u8>(),
        any::<u16>(),
        prop_oneof![Just(1u8), Just(6), Just(17), any::<u8>()],
    )
        .prop_map(|(mut v, ihl, len, proto)| {
            if v.len() >= 20 {
                v[0] = 0x40 | (ihl & 0x0f);
                let l = if len % 2 == 0 { v.len() as u16 } else { len };
                v[2..4].copy_from_slice(&l.to_be_bytes());
                v[9] = proto;
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn elements_never_panic(bytes in prop_oneof![ipv4_like(), proptest::collection::vec(any::<u8>(), 0..80)], mark in any::<bool>()) {
        let chain = [
            ("CheckIPHeader", "CHECKSUM false"),
            ("DecIPTTL", ""),
            ("SetTCPChecksum", "FIXOFF true"),
            ("SetUDPChecksum", ""),
            ("SetIPChecksum", ""),
            ("CheckTCPHeader", ""),
            ("CheckUDPHeader", ""),
            ("CheckICMPHeader", ""),
            ("StoreIPAddress", "1.2.3.4, dst"),
            ("IPPrint", ""),
            ("StripIPHeader", ""),
        ];
        let mut packets = Vec::new();
        let pool = sluice_dataplane::PacketPool::new(4);
        let mut p = pool.alloc_from(&bytes).unwrap();
        if mark {
            p.set_network_offset(0);
            p.set_transport_offset(usize::from(bytes.first().map_or(0, |b| b & 0x0f)) * 4);
        }
        packets.push(p);
        for (class, config) in chain {
            let mut h = Harness::new(class, config, 2).unwrap();
            let data: Vec<Vec<u8>> = packets.iter().map(|p| p.data().to_vec()).collect();
            let annos: Vec<_> = packets.iter().map(|p| (p.network_offset(), p.transport_offset())).collect();
            let ps = data.iter().zip(annos).map(|(d, (n, t))| {
                let mut q = h.pool.alloc_from(d).unwrap();
                if let Some(n) = n { q.set_network_offset(n); }
                if let Some(t) = t { q.set_transport_offset(t); }
                q
            }).collect();
            let out = h.run_packets(ps);
            packets = out.iter().flatten().map(|o| o.packet(&h.pool)).collect();
            if packets.is_empty() {
                break;
            }
        }
    }

    #[test]
    fn views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
            let _ = (p.version(), p.header_len(), p.options(), p.payload(), p.verify_checksum(), p.frag_offset());
            let mut b = bytes.clone();
            let mut q = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            q.set_ttl_incremental(0);
            q.fill_checksum();
            prop_assert!(q.verify_checksum());
            let _ = q.payload_mut();
        }
        if let Ok(p) = TcpPacket::new_checked(&bytes[..]) {
            let _ = (p.options(), p.payload(), p.verify_checksum([1; 4], [2; 4]), p.flags());
        }
        if let Ok(p) = UdpPacket::new_checked(&bytes[..]) {
            let _ = (p.payload(), p.verify_checksum([1; 4], [2; 4]), p.compute_checksum([0; 4], [0; 4]));
        }
        if let Ok(p) = IcmpPacket::new_checked(&bytes[..]) {
            let _ = (p.data(), p.verify_checksum(), p.rest_of_header());
        }
        if let Ok(p) = ArpPacket::new_checked(&bytes[..]) {
            let _ = (p.source_hardware_addr(), p.target_protocol_addr(), p.is_ethernet_ipv4());
        }
        if let Ok(p) = EthernetFrame::new_checked(&bytes[..]) {
            let _ = (p.payload(), p.ethertype());
        }
    }
}
