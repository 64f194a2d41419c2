//! Ethernet/IPv4 ARP messages as `ARPResponder` and `ARPQuerier` read and write them.
//!
//! Reading follows Click: a frame qualifies when it holds at least 42 bytes (Ethernet header
//! and a 28-byte ARP body), its EtherType is ARP, and its hardware and protocol types are
//! Ethernet and IPv4; the addresses are then read at their Ethernet/IPv4 positions, whatever
//! length fields the body declares.

use sluice_dataplane::{Packet, PacketPool};

use crate::wire::arp::{ArpPacket, ETHERNET_IPV4_LEN, HTYPE_ETHERNET};
use crate::wire::ethernet::{EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4, HEADER_LEN};

/// An Ethernet frame holding an Ethernet/IPv4 ARP message.
pub const FRAME_LEN: usize = HEADER_LEN + ETHERNET_IPV4_LEN;

/// The fields of an Ethernet/IPv4 ARP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpMsg {
    /// Operation (1 request, 2 reply).
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&s[..N]);
    a
}

impl ArpMsg {
    /// Reads an Ethernet frame; `None` unless it is an Ethernet/IPv4 ARP message.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        if frame.len() < FRAME_LEN {
            return None;
        }
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != ETHERTYPE_ARP {
            return None;
        }
        let b = &frame[HEADER_LEN..FRAME_LEN];
        let htype = u16::from_be_bytes([b[0], b[1]]);
        let ptype = u16::from_be_bytes([b[2], b[3]]);
        if htype != HTYPE_ETHERNET || ptype != ETHERTYPE_IPV4 {
            return None;
        }
        Some(Self {
            op: u16::from_be_bytes([b[6], b[7]]),
            sha: arr(&b[8..14]),
            spa: arr(&b[14..18]),
            tha: arr(&b[18..24]),
            tpa: arr(&b[24..28]),
        })
    }

    /// A 42-byte frame carrying this message from `src` to `dst`, from `pool`.
    pub fn build(&self, pool: &PacketPool, dst: [u8; 6], src: [u8; 6]) -> Option<Packet> {
        let mut p = pool.alloc(FRAME_LEN)?;
        let data = p.data_mut();
        {
            let mut eth = EthernetFrame::new_unchecked(&mut data[..HEADER_LEN]);
            eth.set_dst_addr(dst);
            eth.set_src_addr(src);
            eth.set_ethertype(ETHERTYPE_ARP);
        }
        let mut arp = ArpPacket::init_ethernet_ipv4(&mut data[HEADER_LEN..], self.op).ok()?;
        arp.set_source_hardware_addr(&self.sha);
        arp.set_source_protocol_addr(&self.spa);
        arp.set_target_hardware_addr(&self.tha);
        arp.set_target_protocol_addr(&self.tpa);
        p.set_network_offset(HEADER_LEN);
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let pool = PacketPool::new(2);
        let m = ArpMsg {
            op: 1,
            sha: [2, 0, 0, 0, 0, 1],
            spa: [10, 0, 0, 1],
            tha: [0; 6],
            tpa: [10, 0, 0, 2],
        };
        let p = m.build(&pool, [0xff; 6], [2, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(p.len(), 42);
        assert_eq!(ArpMsg::parse(p.data()), Some(m));
        let arp = etherparse::ArpPacketSlice::from_slice(&p.data()[14..]).unwrap();
        assert_eq!(arp.sender_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(arp.target_protocol_addr(), &[10, 0, 0, 2]);
        assert!(ArpMsg::parse(&p.data()[..41]).is_none());
        let mut v = p.data().to_vec();
        v[12] = 0x08;
        v[13] = 0x00;
        assert!(ArpMsg::parse(&v).is_none());
    }
}
