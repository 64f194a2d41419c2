//! `EtherEncap(ETHERTYPE, SRC, DST)` — prepends an Ethernet header.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Prepends a 14-byte Ethernet header (destination DST, source SRC, type ETHERTYPE) by moving
//! the data start into the headroom; no bytes move.
//!
//! **Handlers:** `src`, `dst`, `ethertype` (rw; the type reads as a decimal number); `drops`
//! (r).
//!
//! **Example:** `EtherEncap(0x0800, 00:0a:95:9d:68:16, 00:0a:95:9d:68:17)`
//!
//! **Differences from Click:** Click reallocates a packet without 14 bytes of headroom; here
//! such packets are dropped and counted (`drops` handler).
//!
//! ## `EtherRewrite(SRC, DST)` — rewrites the Ethernet addresses.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Overwrites the first 12 bytes (destination, source) of each packet.
//!
//! **Handlers:** `src`, `dst` (rw); `drops` (r).
//!
//! **Differences from Click:** frames shorter than 12 bytes, which Click would read past, are
//! dropped and counted (`drops`).
//!
//! ## `StoreEtherAddress(ADDR, OFFSET)` — writes an Ethernet address into packets.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Writes ADDR at OFFSET, which is a byte offset or `src` (6) or `dst` (0). Packets too short
//! for the address leave on output 1 if connected, else are dropped.
//!
//! **Handlers:** `addr` (rw).
//!
//! ## `EtherMirror()` — swaps the Ethernet addresses.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Swaps the Ethernet source and destination addresses.
//!
//! **Handlers:** `drops` (r).
//!
//! **Differences from Click:** frames shorter than 14 bytes, which Click would read past, are
//! dropped and counted (`drops`).
//!
//! ## `HostEtherFilter(ETHER, [DROP_OWN, DROP_OTHER, keywords OFFSET])` — classifies frames by destination and drops others'.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Classifies frames by destination, setting the packet-type annotation: to ETHER → host;
//! all-ones → broadcast; group bit set → multicast; else other-host. Frames *from* ETHER
//! leave on output 1 when DROP_OWN is true (default false); other-host frames leave on
//! output 1 when DROP_OTHER is true (default true). Output 1, when unconnected, drops.
//! Frames too short for a header leave on output 1.
//!
//! **Keywords:**
//!
//! - `OFFSET`: where the Ethernet header starts; default 0.
//!
//! ## `DropBroadcasts()` — drops link-level broadcasts and multicasts.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Drops packets whose packet-type annotation is broadcast or multicast (set by devices or
//! `HostEtherFilter`), or sends them to output 1 when it is connected. The first such
//! packet is reported on the console (`DropBroadcasts: dropped a packet`).
//!
//! **Handlers:** `drops` (r).

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::{Args, EtherAddr};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    PacketType,
};

use super::common::{ether_unparse, parse_value, push_each, Verdict};
use crate::wire::ethernet;

/// `EtherEncap`.
pub static EtherEncap: ElementClass = ElementClass {
    name: "EtherEncap",
    ports: "1/1",
    processing: "a/a",
    make: make_encap,
    names: None,
};
/// `EtherRewrite`.
pub static EtherRewrite: ElementClass = ElementClass {
    name: "EtherRewrite",
    ports: "1/1",
    processing: "a/a",
    make: make_rewrite,
    names: None,
};
/// `StoreEtherAddress`.
pub static StoreEtherAddress: ElementClass = ElementClass {
    name: "StoreEtherAddress",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_store,
    names: None,
};
/// `EtherMirror`.
pub static EtherMirror: ElementClass = ElementClass {
    name: "EtherMirror",
    ports: "1/1",
    processing: "a/a",
    make: make_mirror,
    names: None,
};
/// `HostEtherFilter`.
pub static HostEtherFilter: ElementClass = ElementClass {
    name: "HostEtherFilter",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_host_filter,
    names: None,
};
/// `DropBroadcasts`.
pub static DropBroadcasts: ElementClass = ElementClass {
    name: "DropBroadcasts",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_drop_broadcasts,
    names: None,
};

fn ether_handler(name: &str, value: &str) -> Result<[u8; 6], HandlerError> {
    parse_value::<EtherAddr>(name, value).map(|a| a.0)
}

const DROPS: &[Handler] = &[Handler::read("drops")];

// ---- EtherEncap ----------------------------------------------------------------------

struct Encap {
    header: [u8; 14],
    drops: u64,
}

fn make_encap(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let ethertype = args.read_mp::<u16>("ETHERTYPE");
    let src = args.read_mp::<EtherAddr>("SRC");
    let dst = args.read_mp::<EtherAddr>("DST");
    let mut header = [0u8; 14];
    header[0..6].copy_from_slice(&dst?.0);
    header[6..12].copy_from_slice(&src?.0);
    header[12..14].copy_from_slice(&ethertype?.to_be_bytes());
    Some(Box::new(Encap { header, drops: 0 }))
}

impl Element for Encap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (header, drops) = (&self.header, &mut self.drops);
        push_each(ctx, batch, |p| {
            if p.push(14).is_err() {
                *drops += 1;
                return Verdict::Drop;
            }
            p.data_mut()[..14].copy_from_slice(header);
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        let f = ethernet::EthernetFrame::new_unchecked(&self.header[..]);
        match name {
            "src" => Some(ether_unparse(f.src_addr())),
            "dst" => Some(ether_unparse(f.dst_addr())),
            "ethertype" => Some(f.ethertype().to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let mut f = ethernet::EthernetFrame::new_unchecked(&mut self.header[..]);
        match name {
            "src" => f.set_src_addr(ether_handler(name, value)?),
            "dst" => f.set_dst_addr(ether_handler(name, value)?),
            "ethertype" => f.set_ethertype(parse_value::<u16>(name, value)?),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("src"),
            Handler::read_write("dst"),
            Handler::read_write("ethertype"),
            Handler::read("drops"),
        ];
        H
    }
}

// ---- EtherRewrite --------------------------------------------------------------------

struct Rewrite {
    addrs: [u8; 12],
    drops: u64,
}

fn make_rewrite(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let src = args.read_mp::<EtherAddr>("SRC");
    let dst = args.read_mp::<EtherAddr>("DST");
    let mut addrs = [0u8; 12];
    addrs[0..6].copy_from_slice(&dst?.0);
    addrs[6..12].copy_from_slice(&src?.0);
    Some(Box::new(Rewrite { addrs, drops: 0 }))
}

impl Element for Rewrite {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (addrs, drops) = (&self.addrs, &mut self.drops);
        push_each(ctx, batch, |p| match p.data_mut().get_mut(..12) {
            Some(d) => {
                d.copy_from_slice(addrs);
                Verdict::Out(0)
            }
            None => {
                *drops += 1;
                Verdict::Drop
            }
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        let mut a = [0u8; 6];
        match name {
            "src" => a.copy_from_slice(&self.addrs[6..]),
            "dst" => a.copy_from_slice(&self.addrs[..6]),
            "drops" => return Some(self.drops.to_string()),
            _ => return None,
        }
        Some(ether_unparse(a))
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "src" => self.addrs[6..].copy_from_slice(&ether_handler(name, value)?),
            "dst" => self.addrs[..6].copy_from_slice(&ether_handler(name, value)?),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("src"),
            Handler::read_write("dst"),
            Handler::read("drops"),
        ];
        H
    }
}

// ---- StoreEtherAddress ---------------------------------------------------------------

struct StoreEther {
    addr: [u8; 6],
    offset: usize,
}

fn make_store(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let addr = args.read_mp::<EtherAddr>("ADDR");
    let off = args.read_mp::<String>("OFFSET")?;
    let offset = match off.to_ascii_lowercase().as_str() {
        "src" => 6,
        "dst" => 0,
        other => match <usize as sluice_config::args::FromArg>::from_arg(other, None) {
            Ok(n) => n,
            Err(_) => {
                args.error_whole("OFFSET: expected 'src', 'dst' or a byte offset");
                return None;
            }
        },
    };
    Some(Box::new(StoreEther {
        addr: addr?.0,
        offset,
    }))
}

impl Element for StoreEther {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (addr, off) = (self.addr, self.offset);
        push_each(ctx, batch, |p| {
            match p.data_mut().get_mut(off..off.saturating_add(6)) {
                Some(d) => {
                    d.copy_from_slice(&addr);
                    Verdict::Out(0)
                }
                None => Verdict::Out(1),
            }
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "addr").then(|| ether_unparse(self.addr))
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
        self.addr = ether_handler(name, value)?;
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("addr")];
        H
    }
}

// ---- EtherMirror ---------------------------------------------------------------------

struct Mirror {
    drops: u64,
}

fn make_mirror(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Mirror { drops: 0 }))
}

impl Element for Mirror {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let drops = &mut self.drops;
        push_each(ctx, batch, |p| {
            let Ok(mut f) = ethernet::EthernetFrame::new_checked(p.data_mut()) else {
                *drops += 1;
                return Verdict::Drop;
            };
            let (s, d) = (f.src_addr(), f.dst_addr());
            f.set_src_addr(d);
            f.set_dst_addr(s);
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        DROPS
    }
}

// ---- HostEtherFilter -----------------------------------------------------------------

struct HostFilter {
    addr: [u8; 6],
    drop_own: bool,
    drop_other: bool,
    offset: usize,
}

fn make_host_filter(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let addr = args.read_mp::<EtherAddr>("ETHER");
    let drop_own = args.read_p::<bool>("DROP_OWN").unwrap_or(false);
    let drop_other = args.read_p::<bool>("DROP_OTHER").unwrap_or(true);
    let offset = args.read_k::<usize>("OFFSET").unwrap_or(0);
    Some(Box::new(HostFilter {
        addr: addr?.0,
        drop_own,
        drop_other,
        offset,
    }))
}

impl Element for HostFilter {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let me = &*self;
        push_each(ctx, batch, |p| {
            let Some(Ok(f)) = p
                .data()
                .get(me.offset..)
                .map(ethernet::EthernetFrame::new_checked)
            else {
                return Verdict::Out(1);
            };
            let (src, dst) = (f.src_addr(), f.dst_addr());
            if me.drop_own && src == me.addr {
                return Verdict::Out(1);
            }
            let kind = if dst == me.addr {
                PacketType::Host
            } else if dst == ethernet::BROADCAST {
                PacketType::Broadcast
            } else if ethernet::is_group(dst) {
                PacketType::Multicast
            } else {
                PacketType::OtherHost
            };
            p.anno_mut().packet_type = kind;
            if kind == PacketType::OtherHost && me.drop_other {
                Verdict::Out(1)
            } else {
                Verdict::Out(0)
            }
        });
    }
}

// ---- DropBroadcasts ------------------------------------------------------------------

struct DropBcast {
    drops: u64,
}

fn make_drop_broadcasts(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(DropBcast { drops: 0 }))
}

impl Element for DropBcast {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let before = self.drops;
        let drops = &mut self.drops;
        let dropped = if ctx.noutputs() > 1 {
            Verdict::Out(1)
        } else {
            Verdict::Drop
        };
        push_each(ctx, batch, |p| match p.anno().packet_type {
            PacketType::Broadcast | PacketType::Multicast => {
                *drops += 1;
                dropped
            }
            _ => Verdict::Out(0),
        });
        if before == 0 && self.drops > 0 {
            // Click's message names the class, not the element.
            ctx.log("DropBroadcasts: dropped a packet");
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        DROPS
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_error, udp_frame, Harness};
    use sluice_dataplane::PacketType;

    const A: [u8; 6] = [0, 0x0a, 0x95, 0x9d, 0x68, 0x16];
    const B: [u8; 6] = [0, 0x0a, 0x95, 0x9d, 0x68, 0x17];

    #[test]
    fn encap_prepends_into_headroom() {
        let frame = udp_frame(b"x");
        let ip = &frame[14..];
        let mut h = Harness::new("EtherEncap", "0x0800, 2:0:0:0:0:1, 2:0:0:0:0:2", 1).unwrap();
        let p = h.pool.alloc_from(ip).unwrap();
        let head = p.headroom();
        let out = h.run_packets(alloc::vec![p]);
        assert_eq!(out[0][0].data, &frame[..]);
        assert_eq!(out[0][0].headroom.len(), head - 14);
        let e = etherparse::Ethernet2HeaderSlice::from_slice(&out[0][0].data).unwrap();
        assert_eq!(e.ether_type(), etherparse::EtherType::IPV4);
        assert_eq!(h.read("ethertype"), "2048");
        assert_eq!(
            h.read("src"),
            "02-00-00-00-00-01",
            "Click unparses with dashes, upper case"
        );
        h.write("dst", "00:0a:95:9d:68:16").unwrap();
        h.write("ethertype", "0x86dd").unwrap();
        let (_, b) = h.one(ip).unwrap();
        assert_eq!(&b[..6], &A);
        assert_eq!(&b[12..14], &[0x86, 0xdd]);
        assert!(h.write("src", "nope").is_err());
        assert!(config_error("EtherEncap", "0x0800, 1:2:3:4:5:6").contains("DST"));
    }

    #[test]
    fn encap_without_headroom_is_counted() {
        let mut h = Harness::new("EtherEncap", "0x0800, 2:0:0:0:0:1, 2:0:0:0:0:2", 1).unwrap();
        let mut p = h.pool.alloc_from(b"abc").unwrap();
        let len = p.len();
        p.set_range(0, len).unwrap();
        assert!(h.run_packets(alloc::vec![p])[0].is_empty());
        assert_eq!(h.read("drops"), "1");
    }

    #[test]
    fn rewrite_mirror_and_store() {
        let frame = udp_frame(b"x");
        let mut h =
            Harness::new("EtherRewrite", "00:0a:95:9d:68:16, 00:0a:95:9d:68:17", 1).unwrap();
        let (_, b) = h.one(&frame).unwrap();
        assert_eq!((&b[..6], &b[6..12]), (&B[..], &A[..]));
        assert_eq!(&b[12..], &frame[12..]);
        assert_eq!(h.one(b"short"), None);

        let mut m = Harness::new("EtherMirror", "", 1).unwrap();
        let (_, c) = m.one(&b).unwrap();
        assert_eq!((&c[..6], &c[6..12]), (&A[..], &B[..]));

        let mut s = Harness::new("StoreEtherAddress", "00:0a:95:9d:68:17, src", 2).unwrap();
        let (port, d) = s.one(&c).unwrap();
        assert_eq!((port, &d[6..12]), (0, &B[..]));
        let mut s = Harness::new("StoreEtherAddress", "00:0a:95:9d:68:17, 10", 2).unwrap();
        assert_eq!(s.one(&[0u8; 15]).unwrap().0, 1);
        assert_eq!(
            s.one(&[0u8; 16]).unwrap(),
            (0, [&[0u8; 10][..], &B[..]].concat())
        );
        assert!(config_error("StoreEtherAddress", "00:0a:95:9d:68:17, middle").contains("OFFSET"));
    }

    #[test]
    fn host_filter_classifies() {
        let mut f = [0u8; 14];
        let mut h = Harness::new("HostEtherFilter", "00:0a:95:9d:68:16, true", 2).unwrap();
        let pool = h.pool.clone();
        let mut run = |dst: [u8; 6], src: [u8; 6]| {
            f[..6].copy_from_slice(&dst);
            f[6..12].copy_from_slice(&src);
            let out = h.run_packets(alloc::vec![pool.alloc_from(&f).unwrap()]);
            let port = if out[0].is_empty() { 1 } else { 0 };
            (port, out[port][0].anno.packet_type)
        };
        assert_eq!(run(A, B), (0, PacketType::Host));
        assert_eq!(run([0xff; 6], B), (0, PacketType::Broadcast));
        assert_eq!(run([0x01, 0, 0x5e, 0, 0, 1], B), (0, PacketType::Multicast));
        assert_eq!(run(B, B), (1, PacketType::OtherHost));
        assert_eq!(run(A, A).0, 1); // DROP_OWN
        assert_eq!(h.one(b"short").unwrap().0, 1);
    }

    #[test]
    fn drop_broadcasts_by_annotation() {
        let mut h = Harness::new("DropBroadcasts", "", 1).unwrap();
        let mut b = h.pool.alloc_from(b"b").unwrap();
        b.anno_mut().packet_type = PacketType::Broadcast;
        let mut m = h.pool.alloc_from(b"m").unwrap();
        m.anno_mut().packet_type = PacketType::Multicast;
        let u = h.pool.alloc_from(b"u").unwrap();
        let out = h.run_packets(alloc::vec![b, m, u]);
        assert_eq!(out[0].len(), 1);
        assert_eq!(h.read("drops"), "2");
    }

    #[test]
    fn drop_broadcasts_reports_the_first_drop_and_uses_output_1() {
        let mut h = Harness::new("DropBroadcasts", "", 2).unwrap();
        let packet = |h: &Harness, t| {
            let mut p = h.pool.alloc_from(b"p").unwrap();
            p.anno_mut().packet_type = t;
            p
        };
        let batch = alloc::vec![
            packet(&h, PacketType::Host),
            packet(&h, PacketType::Broadcast),
            packet(&h, PacketType::Multicast),
        ];
        let out = h.run_packets(batch);
        assert_eq!((out[0].len(), out[1].len()), (1, 2));
        let again = alloc::vec![packet(&h, PacketType::Broadcast)];
        assert_eq!(h.run_packets(again)[1].len(), 1);
        assert_eq!(h.read("drops"), "3");
        assert_eq!(h.lines(), ["DropBroadcasts: dropped a packet"]);
    }
}
