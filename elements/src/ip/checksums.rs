//! `SetIPChecksum()` — sets the IP header checksum.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Recomputes the IPv4 header checksum of packets whose network header annotation is set. A
//! packet without the annotation, with a header length below 20, or with a header longer
//! than the data, is dropped ("bad input packet", reported once; `drops` handler).
//!
//! **Handlers:** `drops` (r).
//!
//! **Differences from Click:** none in behaviour; the drop message is printed once per
//! element rather than once per packet.
//!
//! ## `SetTCPChecksum([FIXOFF])` — sets the TCP checksum.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Recomputes the TCP checksum (with the IPv4 pseudo-header) over the IP payload: IP total
//! length minus IP header length. The network and transport header annotations must be set.
//! With `FIXOFF true`, a TCP data offset below 5 words is raised to 5, and one beyond the
//! segment (in an unfragmented packet) is lowered to it. A packet whose segment is shorter
//! than a TCP header or longer than the data is dropped (`drops`).
//!
//! **Handlers:** `drops` (r).
//!
//! **Differences from Click:** none in behaviour; the drop message is printed once per
//! element rather than once per packet.
//!
//! ## `SetUDPChecksum()` — sets the UDP checksum.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Recomputes the UDP checksum (with the IPv4 pseudo-header) over the UDP length. A computed
//! zero is stored as 0xFFFF. Packets that are not UDP, or whose UDP length is below 8 or
//! beyond the IP payload or the data, are dropped (`drops`).
//!
//! **Handlers:** `drops` (r).
//!
//! **Differences from Click:** none in behaviour; the drop message is printed once per
//! element rather than once per packet.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use super::common::{push_each, Verdict};
use crate::wire::{checksum, ipv4, Ipv4Packet};

/// `SetIPChecksum`.
pub static SetIPChecksum: ElementClass = ElementClass {
    name: "SetIPChecksum",
    ports: "1/1",
    processing: "a/a",
    make: make_ip,
    names: None,
};
/// `SetTCPChecksum`.
pub static SetTCPChecksum: ElementClass = ElementClass {
    name: "SetTCPChecksum",
    ports: "1/1",
    processing: "a/a",
    make: make_tcp,
    names: None,
};
/// `SetUDPChecksum`.
pub static SetUDPChecksum: ElementClass = ElementClass {
    name: "SetUDPChecksum",
    ports: "1/1",
    processing: "a/a",
    make: make_udp,
    names: None,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ip,
    Tcp { fixoff: bool },
    Udp,
}

struct SetChecksum {
    kind: Kind,
    drops: u64,
}

fn make_ip(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(SetChecksum {
        kind: Kind::Ip,
        drops: 0,
    }))
}

fn make_tcp(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let fixoff = args.read_p::<bool>("FIXOFF").unwrap_or(false);
    Some(Box::new(SetChecksum {
        kind: Kind::Tcp { fixoff },
        drops: 0,
    }))
}

fn make_udp(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(SetChecksum {
        kind: Kind::Udp,
        drops: 0,
    }))
}

/// Recomputes the IP header checksum; `None` for a bad packet.
#[inline]
pub(crate) fn set_ip_checksum(p: &mut Packet) -> Option<()> {
    let off = p.network_offset()?;
    let ip = p.data_mut().get_mut(off..)?;
    if ip.len() < ipv4::MIN_HEADER_LEN {
        return None;
    }
    let hlen = usize::from(ip[0] & 0x0f) * 4;
    if hlen < ipv4::MIN_HEADER_LEN || hlen > ip.len() {
        return None;
    }
    let mut v = Ipv4Packet::new_unchecked(&mut ip[..hlen]);
    v.fill_checksum();
    Some(())
}

/// The IP header (fixed part) and the transport offset of an annotated packet.
#[inline]
fn ip_and_transport(p: &Packet) -> Option<(usize, usize)> {
    let n = p.network_offset()?;
    let t = p.transport_offset()?;
    let d = p.data();
    (d.len() >= n + ipv4::MIN_HEADER_LEN && t >= n && t <= d.len()).then_some((n, t))
}

/// Recomputes the TCP checksum; `None` for a bad packet.
#[inline]
pub(crate) fn set_tcp_checksum(p: &mut Packet, fixoff: bool) -> Option<()> {
    let (n, t) = ip_and_transport(p)?;
    let d = p.data_mut();
    let ip = Ipv4Packet::new_unchecked(&d[n..]);
    let plen = usize::from(ip.total_len()).checked_sub(ip.header_len())?;
    if plen < 20 || plen > d.len() - t {
        return None;
    }
    let (src, dst, proto, frag) = (
        ip.src_bytes(),
        ip.dst_bytes(),
        ip.protocol(),
        ip.is_fragment(),
    );
    let seg = &mut d[t..t + plen];
    if fixoff {
        let off = usize::from(seg[12] >> 4) * 4;
        if off < 20 {
            seg[12] = (seg[12] & 0x0f) | (5 << 4);
        } else if off > plen && !frag {
            seg[12] = (seg[12] & 0x0f) | (((plen >> 2) as u8) << 4);
        }
    }
    seg[16] = 0;
    seg[17] = 0;
    // plen <= 65535: it came from a 16-bit field.
    let acc = checksum::pseudo_header_v4(src, dst, proto, plen as u16);
    let c = checksum::finish(checksum::sum(acc, seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    Some(())
}

/// Recomputes the UDP checksum; `None` for a bad packet.
#[inline]
pub(crate) fn set_udp_checksum(p: &mut Packet) -> Option<()> {
    let (n, t) = ip_and_transport(p)?;
    let d = p.data_mut();
    let ip = Ipv4Packet::new_unchecked(&d[n..]);
    if ip.protocol() != ipv4::PROTO_UDP || d.len() - t < 8 {
        return None;
    }
    let iplen = usize::from(ip.total_len()).saturating_sub(ip.header_len());
    let (src, dst) = (ip.src_bytes(), ip.dst_bytes());
    let ulen = usize::from(u16::from_be_bytes([d[t + 4], d[t + 5]]));
    if ulen < 8 || ulen > iplen || ulen > d.len() - t {
        return None;
    }
    let seg = &mut d[t..t + ulen];
    seg[6] = 0;
    seg[7] = 0;
    let acc = checksum::pseudo_header_v4(src, dst, ipv4::PROTO_UDP, ulen as u16);
    let c = match checksum::finish(checksum::sum(acc, seg)) {
        0 => 0xffff,
        c => c,
    };
    seg[6..8].copy_from_slice(&c.to_be_bytes());
    Some(())
}

impl Element for SetChecksum {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let kind = self.kind;
        let before = self.drops;
        let drops = &mut self.drops;
        push_each(ctx, batch, |p| {
            let ok = match kind {
                Kind::Ip => set_ip_checksum(p),
                Kind::Tcp { fixoff } => set_tcp_checksum(p, fixoff),
                Kind::Udp => set_udp_checksum(p),
            };
            if ok.is_some() {
                Verdict::Out(0)
            } else {
                *drops += 1;
                Verdict::Drop
            }
        });
        if before == 0 && self.drops > 0 {
            report(ctx, kind);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("drops")];
        H
    }
}

#[cold]
fn report(ctx: &Context<'_>, kind: Kind) {
    let class = match kind {
        Kind::Ip => "SetIPChecksum",
        Kind::Tcp { .. } => "SetTCPChecksum",
        Kind::Udp => "SetUDPChecksum",
    };
    ctx.log(&alloc::format!("{}: {class}: bad input packet", ctx.name()));
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{tcp_frame, udp_frame, Harness};
    use alloc::vec::Vec;

    fn checked(h: &mut Harness, frame: &[u8]) -> Vec<sluice_dataplane::Packet> {
        let mut p = h.pool.alloc_from(frame).unwrap();
        let hl = usize::from(frame[14] & 0xf) * 4;
        p.set_network_offset(14);
        p.set_transport_offset(14 + hl);
        alloc::vec![p]
    }

    #[test]
    fn ip_checksum_matches_etherparse() {
        let good = udp_frame(b"abc");
        let mut bad = good.clone();
        bad[24] = 0;
        bad[25] = 0;
        let mut h = Harness::new("SetIPChecksum", "", 1).unwrap();
        let ps = checked(&mut h, &bad);
        let out = h.run_packets(ps);
        assert_eq!(out[0][0].data, &good[..]);
        // No annotation: dropped and reported once.
        assert_eq!(h.one(&good), None);
        assert_eq!(h.one(&good), None);
        assert_eq!(h.read("drops"), "2");
        assert_eq!(h.lines(), ["e: SetIPChecksum: bad input packet"]);
    }

    #[test]
    fn tcp_checksum_matches_etherparse() {
        let good = tcp_frame(b"payload");
        let mut bad = good.clone();
        bad[34 + 16] ^= 0x55;
        let mut h = Harness::new("SetTCPChecksum", "", 1).unwrap();
        let ps = checked(&mut h, &bad);
        let out = h.run_packets(ps);
        assert_eq!(out[0][0].data, &good[..]);
        // FIXOFF repairs a data offset below 5 words.
        let mut off = good.clone();
        off[34 + 12] = 0x20;
        let mut h = Harness::new("SetTCPChecksum", "true", 1).unwrap();
        let ps = checked(&mut h, &off);
        assert_eq!(h.run_packets(ps)[0][0].data, &good[..]);
    }

    #[test]
    fn udp_checksum_matches_etherparse() {
        let good = udp_frame(b"abcde");
        let mut bad = good.clone();
        bad[34 + 6] = 0;
        bad[34 + 7] = 0;
        let mut h = Harness::new("SetUDPChecksum", "", 1).unwrap();
        let ps = checked(&mut h, &bad);
        let out = h.run_packets(ps);
        assert_eq!(out[0][0].data, &good[..]);
        // A TCP packet is not UDP.
        let t = tcp_frame(b"");
        let ps = checked(&mut h, &t);
        assert!(h.run_packets(ps)[0].is_empty());
        // UDP length beyond the packet.
        let mut long = good.clone();
        long[34 + 5] += 1;
        let ps = checked(&mut h, &long);
        assert!(h.run_packets(ps)[0].is_empty());
        assert_eq!(h.read("drops"), "2");
    }
}
