//! `FixIPSrc(IPADDR)` — rewrites the IP source address of packets that ask for it.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Expects IP packets with their IP header annotation set. When a packet's fix-IP-source
//! annotation is set, FixIPSrc clears it, replaces the IP source address with IPADDR and
//! recomputes the header checksum. Elements such as `ICMPError` set the annotation because the
//! standards want their messages to come from the outgoing interface's address, which only
//! the output path knows. Other packets pass unchanged, as do packets whose IP header is
//! incomplete (counted in `bad`).
//!
//! **Handlers:** `fixed`, `bad` (read).
//!
//! **Example:**
//!
//! ```text
//! rt[1] -> FixIPSrc(18.26.4.24) -> ... -> ToDevice(eth0);
//! ```

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use crate::wire::ipv4::{Ipv4Packet, MIN_HEADER_LEN};

/// The element.
pub struct FixIpSrc {
    addr: Ipv4Addr,
    fixed: u64,
    bad: u64,
}

const HANDLERS: &[Handler] = &[Handler::read("fixed"), Handler::read("bad")];

impl FixIpSrc {
    fn fix(&mut self, p: &mut Packet) {
        let Some(ip) = p.network_data_mut() else {
            self.bad += 1;
            return;
        };
        let hl = ip.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
        if ip.len() < MIN_HEADER_LEN || hl < MIN_HEADER_LEN || hl > ip.len() {
            self.bad += 1;
            return;
        }
        let mut iph = Ipv4Packet::new_unchecked(&mut ip[..hl]);
        iph.set_src_addr(self.addr);
        iph.fill_checksum();
        p.anno_mut().fix_ip_src = false;
        self.fixed += 1;
    }
}

impl Element for FixIpSrc {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for mut p in batch {
            if p.anno().fix_ip_src {
                self.fix(&mut p);
            }
            ctx.output(0, p);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "fixed" => Some(self.fixed.to_string()),
            "bad" => Some(self.bad.to_string()),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let addr = args.read_mp::<Ipv4Addr>("IPADDR")?;
    Some(Box::new(FixIpSrc {
        addr,
        fixed: 0,
        bad: 0,
    }))
}

/// `FixIPSrc`: see the module docs.
pub static FixIPSrc: ElementClass = ElementClass {
    name: "FixIPSrc",
    ports: "1/1",
    processing: "a",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, ipv4};
    use super::*;

    #[test]
    fn fixes_only_when_asked() {
        let mut h = harness(&FixIPSrc, "18.26.4.24", 1, 1);
        let pkt = ipv4([200, 0, 0, 1], [10, 0, 0, 1], 1, &[0; 8]);
        h.push_ip(0, &pkt, 0, |a| a.fix_ip_src = true);
        h.push_ip(0, &pkt, 0, |_| {});
        let out = h.take();
        let (ip, _) = etherparse::Ipv4Header::from_slice(&out[0].data).unwrap();
        assert_eq!(ip.source, [18, 26, 4, 24]);
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert!(!out[0].anno.fix_ip_src);
        assert_eq!(out[1].data, pkt, "unmarked packet untouched");
        // Truncated or unannotated packets pass unchanged.
        h.push_ip(0, &pkt[..10], 0, |a| a.fix_ip_src = true);
        let mut p = h.packet(&pkt);
        p.anno_mut().fix_ip_src = true;
        h.push(0, p);
        let out = h.take();
        assert_eq!(out.len(), 2);
        assert_eq!(h.read("bad"), "2");
    }
}
