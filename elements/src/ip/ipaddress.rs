//! `GetIPAddress([OFFSET, keywords IP])` — copies an address from the packet into the destination IP annotation.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Copies 4 bytes at OFFSET in the packet data, or the IP header's source or destination
//! address (`IP src`, `IP dst`), into the destination IP annotation. Exactly one of OFFSET
//! and IP must be given. Packets too short (or without a network header, for `IP`) pass with
//! the annotation unchanged.
//!
//! **Keywords:**
//!
//! - `IP`: `src` or `dst`, the IP header field to copy, instead of OFFSET.
//!
//! **Differences from Click:** Click's `GetIPAddress` reads past short packets; here they
//! pass unchanged.
//!
//! ## `SetIPAddress(ADDR)` — sets the destination IP annotation.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Sets the destination IP annotation to ADDR.
//!
//! **Handlers:** `addr` (rw).
//!
//! ## `SetRandIPAddress(PREFIX [, LIMIT])` — sets the destination IP annotation to a random address.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Sets the destination IP annotation to a random address within PREFIX (host bits from the
//! router's random sequence, network bits from PREFIX). With LIMIT N (N > 0), N addresses
//! are drawn once, when the router starts, and each packet takes one of those at random, so
//! at most N distinct addresses appear — Click's way of making N flows. Addresses are drawn
//! exactly as Click draws them, so after the same `RandomSeed` both pick the same addresses.
//!
//! ## `StoreIPAddress([ADDR,] OFFSET)` — writes an IP address into packets.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Writes ADDR (or, when only OFFSET is given, the destination IP annotation) into the
//! packet. OFFSET is a byte offset into the data, or `src`/`dst`: the IP header's source or
//! destination, whose IP checksum and TCP/UDP checksum (first fragments; a zero UDP checksum
//! stays zero) are then updated incrementally. Without ADDR, a zero annotation stores
//! nothing for a byte offset. Packets that cannot take the address leave on output 1 if
//! connected, else are dropped.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::net::Ipv4Addr;

use alloc::format;
use alloc::vec::Vec;

use sluice_config::args::{Args, FromArg, Ipv4Prefix};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, Packet,
};

use super::common::{parse_value, push_each, Verdict};
use crate::wire::{checksum, ipv4};

/// `GetIPAddress`.
pub static GetIPAddress: ElementClass = ElementClass {
    name: "GetIPAddress",
    ports: "1/1",
    processing: "a/a",
    make: make_get,
    names: None,
};
/// `SetIPAddress`.
pub static SetIPAddress: ElementClass = ElementClass {
    name: "SetIPAddress",
    ports: "1/1",
    processing: "a/a",
    make: make_set,
    names: None,
};
/// `SetRandIPAddress`.
pub static SetRandIPAddress: ElementClass = ElementClass {
    name: "SetRandIPAddress",
    ports: "1/1",
    processing: "a/a",
    make: make_set_rand,
    names: None,
};
/// `StoreIPAddress`.
pub static StoreIPAddress: ElementClass = ElementClass {
    name: "StoreIPAddress",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_store,
    names: None,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    Data(usize),
    IpSrc,
    IpDst,
}

impl Where {
    fn ip_field(self) -> Option<usize> {
        match self {
            Where::IpSrc => Some(ipv4::SRC_OFFSET),
            Where::IpDst => Some(ipv4::DST_OFFSET),
            Where::Data(_) => None,
        }
    }
}

struct GetIp {
    at: Where,
}

fn make_get(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let offset = args.read_p::<usize>("OFFSET");
    let ip = args.read_k::<String>("IP");
    let at = match (offset, ip.as_deref()) {
        (Some(o), None) => Where::Data(o),
        (None, Some("src")) => Where::IpSrc,
        (None, Some("dst")) => Where::IpDst,
        (None, Some(_)) => {
            args.error_whole("bad IP: expected 'src' or 'dst'");
            return None;
        }
        _ => {
            args.error_whole("set one of OFFSET, IP");
            return None;
        }
    };
    Some(Box::new(GetIp { at }))
}

impl Element for GetIp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let at = self.at;
        push_each(ctx, batch, |p| {
            let start = match at {
                Where::Data(o) => Some(o),
                _ => p.network_offset().zip(at.ip_field()).map(|(n, f)| n + f),
            };
            if let Some(a) = start.and_then(|s| p.data().get(s..s.checked_add(4)?)) {
                let a = [a[0], a[1], a[2], a[3]];
                p.anno_mut().dst_ip = a;
            }
            Verdict::Out(0)
        });
    }
}

struct SetIp {
    addr: [u8; 4],
}

fn make_set(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let addr = args.read_mp::<Ipv4Addr>("ADDR")?;
    Some(Box::new(SetIp {
        addr: addr.octets(),
    }))
}

impl Element for SetIp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let a = self.addr;
        push_each(ctx, batch, |p| {
            p.anno_mut().dst_ip = a;
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "addr").then(|| Ipv4Addr::from(self.addr).to_string())
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "addr" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.addr = parse_value::<Ipv4Addr>(name, value)?.octets();
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("addr")];
        H
    }
}

struct SetRandIp {
    /// Network bits, and the mask, as `u32::from_le_bytes` of the address octets.
    net: u32,
    mask: u32,
    /// Addresses to choose from (LIMIT), drawn at initialization.
    limit: usize,
    addrs: Vec<[u8; 4]>,
}

fn make_set_rand(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let prefix = args.read_mp::<Ipv4Prefix>("PREFIX")?;
    let limit = args.read_p::<i64>("LIMIT").unwrap_or(-1);
    // Click masks the random number with the address as stored in memory, so on a
    // little-endian machine the low byte of the number becomes the first octet.
    let mask = u32::from_le_bytes(prefix.mask().octets());
    Some(Box::new(SetRandIp {
        net: u32::from_le_bytes(prefix.addr.octets()) & mask,
        mask,
        limit: usize::try_from(limit).unwrap_or(0),
        addrs: Vec::new(),
    }))
}

impl SetRandIp {
    fn pick(&self, random: u32) -> [u8; 4] {
        ((random & !self.mask) | self.net).to_le_bytes()
    }
}

impl Element for SetRandIp {
    fn effects(&self) -> Effects {
        Effects::Random
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        let mut addrs = Vec::new();
        addrs
            .try_reserve_exact(self.limit)
            .map_err(|_| format!("LIMIT {}: not enough memory", self.limit))?;
        for _ in 0..self.limit {
            addrs.push(self.pick(ctx.random()));
        }
        self.addrs = addrs;
        Ok(())
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for mut p in batch {
            let a = match self.addrs.len() {
                0 => self.pick(ctx.random()),
                n => self.addrs[ctx.random_range(0, n as u32 - 1) as usize],
            };
            p.anno_mut().dst_ip = a;
            ctx.output(0, p);
        }
    }
}

struct StoreIp {
    addr: Option<[u8; 4]>,
    at: Where,
}

fn make_store(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let two = args.len() > 1;
    let addr = if two {
        Some(args.read_mp::<Ipv4Addr>("ADDR")?.octets())
    } else {
        None
    };
    let off = args.read_mp::<String>("OFFSET")?;
    let at = match off.to_ascii_lowercase().as_str() {
        "src" => Where::IpSrc,
        "dst" => Where::IpDst,
        other => match usize::from_arg(other, None) {
            Ok(n) => Where::Data(n),
            Err(_) => {
                args.error_whole("type mismatch: OFFSET requires integer, 'src' or 'dst'");
                return None;
            }
        },
    };
    Some(Box::new(StoreIp { addr, at }))
}

/// Stores `new` into the IP header's address field at `field` and updates the IP and
/// transport checksums incrementally; `None` when the packet cannot take it.
fn store_in_header(p: &mut Packet, field: usize, new: [u8; 4]) -> Option<()> {
    let n = p.network_offset()?;
    let t = p.transport_offset();
    let d = p.data_mut();
    let ip = d.get_mut(n..)?;
    if ip.len() < ipv4::MIN_HEADER_LEN || usize::from(ip[0] & 0x0f) * 4 < ipv4::MIN_HEADER_LEN {
        return None;
    }
    let old = [ip[field], ip[field + 1], ip[field + 2], ip[field + 3]];
    ip[field..field + 4].copy_from_slice(&new);
    let c = ipv4::CHECKSUM_OFFSET;
    let sum = checksum::update32(u16::from_be_bytes([ip[c], ip[c + 1]]), old, new);
    ip[c..c + 2].copy_from_slice(&sum.to_be_bytes());
    let proto = ip[9];
    let first_frag = u16::from_be_bytes([ip[6], ip[7]]) & ipv4::OFFSET_MASK == 0;
    let Some(t) = t.filter(|_| first_frag) else {
        return Some(());
    };
    let Some(tp) = d.get_mut(t..) else {
        return Some(());
    };
    let at = match proto {
        ipv4::PROTO_TCP if tp.len() >= 20 => 16,
        ipv4::PROTO_UDP if tp.len() >= 8 && (tp[6] != 0 || tp[7] != 0) => 6,
        _ => return Some(()),
    };
    let sum = checksum::update32(u16::from_be_bytes([tp[at], tp[at + 1]]), old, new);
    tp[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Some(())
}

impl Element for StoreIp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (fixed, at) = (self.addr, self.at);
        push_each(ctx, batch, |p| {
            let addr = fixed.unwrap_or(p.anno().dst_ip);
            let stored = match at {
                Where::Data(o) if fixed.is_some() || addr != [0; 4] => p
                    .data_mut()
                    .get_mut(o..o.saturating_add(4))
                    .map(|d| d.copy_from_slice(&addr)),
                Where::Data(_) => None,
                _ => at.ip_field().and_then(|f| store_in_header(p, f, addr)),
            };
            if stored.is_some() {
                Verdict::Out(0)
            } else {
                Verdict::Out(1)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_error, tcp_frame, udp_frame, Harness};

    fn annotated(h: &Harness, frame: &[u8]) -> alloc::vec::Vec<sluice_dataplane::Packet> {
        let mut p = h.pool.alloc_from(frame).unwrap();
        p.set_network_offset(14);
        p.set_transport_offset(34);
        alloc::vec![p]
    }

    #[test]
    fn get_and_set_annotation() {
        let f = udp_frame(b"");
        let mut h = Harness::new("GetIPAddress", "30", 1).unwrap();
        let ps = annotated(&h, &f);
        assert_eq!(h.run_packets(ps)[0][0].anno.dst_ip, [10, 0, 0, 2]);
        let mut h = Harness::new("GetIPAddress", "IP src", 1).unwrap();
        let ps = annotated(&h, &f);
        assert_eq!(h.run_packets(ps)[0][0].anno.dst_ip, [10, 0, 0, 1]);
        assert!(h.one(b"ab").is_some());
        assert!(config_error("GetIPAddress", "").contains("set one of"));
        assert!(config_error("GetIPAddress", "IP middle").contains("bad IP"));

        let mut s = Harness::new("SetIPAddress", "192.0.2.1", 1).unwrap();
        let ps = annotated(&s, &f);
        assert_eq!(s.run_packets(ps)[0][0].anno.dst_ip, [192, 0, 2, 1]);
        s.write("addr", "192.0.2.9").unwrap();
        assert_eq!(s.read("addr"), "192.0.2.9");
    }

    #[test]
    fn store_into_header_fixes_checksums() {
        for f in [udp_frame(b"abc"), tcp_frame(b"abc")] {
            let mut h = Harness::new("StoreIPAddress", "192.0.2.77, src", 2).unwrap();
            let ps = annotated(&h, &f);
            let out = h.run_packets(ps);
            let d = &out[0][0].data;
            assert_eq!(&d[26..30], &[192, 0, 2, 77]);
            let parsed = etherparse::SlicedPacket::from_ethernet(d).unwrap();
            let Some(etherparse::NetSlice::Ipv4(ip)) = parsed.net else {
                panic!()
            };
            assert_eq!(
                ip.header().header_checksum(),
                ip.header().to_header().calc_header_checksum()
            );
            match parsed.transport {
                Some(etherparse::TransportSlice::Udp(u)) => assert_eq!(
                    u.checksum(),
                    u.to_header()
                        .calc_checksum_ipv4(&ip.header().to_header(), u.payload())
                        .unwrap()
                ),
                Some(etherparse::TransportSlice::Tcp(t)) => assert_eq!(
                    t.checksum(),
                    t.to_header()
                        .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
                        .unwrap()
                ),
                _ => panic!(),
            }
        }
    }

    #[test]
    fn store_at_offset_and_from_annotation() {
        let mut h = Harness::new("StoreIPAddress", "2", 2).unwrap();
        let mut p = h.pool.alloc_from(&[0u8; 8]).unwrap();
        p.anno_mut().dst_ip = [1, 2, 3, 4];
        let out = h.run_packets(alloc::vec![p]);
        assert_eq!(out[0][0].data, &[0, 0, 1, 2, 3, 4, 0, 0]);
        // Zero annotation or too short: output 1.
        assert_eq!(h.one(&[0u8; 8]).unwrap().0, 1);
        let mut h = Harness::new("StoreIPAddress", "1.1.1.1, 6", 2).unwrap();
        assert_eq!(h.one(&[0u8; 9]).unwrap().0, 1);
        assert!(config_error("StoreIPAddress", "1.1.1.1, x").contains("OFFSET"));
    }
}
