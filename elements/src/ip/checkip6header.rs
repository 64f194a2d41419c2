//! `CheckIP6Header([BADADDRS, OFFSET])` — checks IPv6 headers.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Input packets should have IPv6 headers starting OFFSET bytes in (default 0). A packet is
//! bad when it has fewer than 40 bytes from OFFSET on, its version is not 6, its source
//! address is on the BADADDRS list (space-separated IPv6 addresses; default empty), or its
//! payload length exceeds the bytes after the header. Good packets get the network header
//! annotation (at OFFSET) and the transport header annotation (40 bytes later; extension
//! headers are not walked), are trimmed to the payload length, and leave on output 0. Bad
//! packets leave on output 1 if it is connected, else are dropped; the first is reported on
//! the console.
//!
//! **Handlers:** `drops` (r).
//!
//! **Example:** `Strip(14) -> CheckIP6Header -> ...`
//!
//! **Differences from Click:** none in behaviour.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use etherparse::Ipv6HeaderSlice;
use sluice_config::args::{Args, FromArg, NameLookup};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use super::common::{push_each, Verdict};

/// `CheckIP6Header`.
pub static CheckIP6Header: ElementClass = ElementClass {
    name: "CheckIP6Header",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

const HEADER_LEN: usize = 40;

struct Ip6List(Vec<Ipv6Addr>);

impl FromArg for Ip6List {
    const EXPECTED: &'static str = "a list of IPv6 addresses";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        text.split_whitespace()
            .map(|w| Ipv6Addr::from_arg(w, names))
            .collect::<Result<Vec<_>, _>>()
            .map(Ip6List)
    }
}

struct CheckIp6 {
    bad: Vec<[u8; 16]>,
    offset: usize,
    drops: u64,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let bad = args
        .read_p::<Ip6List>("BADADDRS")
        .map_or_else(Vec::new, |l| l.0);
    let offset = args.read_p::<usize>("OFFSET").unwrap_or(0);
    Some(Box::new(CheckIp6 {
        bad: bad.iter().map(|a| a.octets()).collect(),
        offset,
        drops: 0,
    }))
}

impl CheckIp6 {
    #[inline]
    fn check(&self, p: &mut Packet) -> bool {
        let Some(ip) = p.data().get(self.offset..) else {
            return false;
        };
        // Rejects fewer than 40 bytes and a version other than 6.
        let Ok(hdr) = Ipv6HeaderSlice::from_slice(ip) else {
            return false;
        };
        if self.bad.contains(&hdr.source()) {
            return false;
        }
        let plen = usize::from(hdr.payload_length());
        let avail = ip.len() - HEADER_LEN;
        if plen > avail {
            return false;
        }
        p.set_network_offset(self.offset);
        p.set_transport_offset(self.offset + HEADER_LEN);
        // Cannot fail: avail - plen bytes are present.
        let _ = p.take(avail - plen);
        true
    }
}

impl Element for CheckIp6 {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let before = self.drops;
        let this = &mut *self;
        push_each(ctx, batch, |p| {
            if this.check(p) {
                Verdict::Out(0)
            } else {
                this.drops += 1;
                Verdict::Out(1)
            }
        });
        if before == 0 && self.drops > 0 {
            ctx.log(&alloc::format!("{}: IPv6 header check failed", ctx.name()));
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

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use alloc::vec::Vec;

    fn ip6(payload: &[u8]) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv6([0xfe; 16], [0x20; 16], 64).udp(1, 2);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    #[test]
    fn checks_and_trims() {
        let good = ip6(b"six");
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 5]);
        let mut h = Harness::new("CheckIP6Header", "", 2).unwrap();
        let out = h.run_packets(alloc::vec![h.pool.alloc_from(&padded).unwrap()]);
        assert_eq!(out[0][0].data, &good[..]);
        assert_eq!(out[0][0].transport_offset, Some(40));
        assert_eq!(h.one(&good[..39]).unwrap().0, 1);
        let mut v4 = good.clone();
        v4[0] = 0x45;
        assert_eq!(h.one(&v4).unwrap().0, 1);
        assert_eq!(h.one(&good[..good.len() - 1]).unwrap().0, 1);
        assert_eq!(h.read("drops"), "3");
        assert_eq!(h.lines(), ["e: IPv6 header check failed"]);
        let mut h = Harness::new(
            "CheckIP6Header",
            "fefe:fefe:fefe:fefe:fefe:fefe:fefe:fefe",
            1,
        )
        .unwrap();
        assert_eq!(h.one(&good), None);
    }
}
