//! `ICMPPingResponder()` — turns ICMP echo requests into echo replies.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Input packets must have their IP header annotation set (`CheckIPHeader`, `MarkIPHeader`).
//! An ICMP echo request becomes, in place, the matching echo reply on output 0: source and
//! destination addresses swapped, fragment field cleared, TTL 255, ICMP type 0 and code 0,
//! both checksums updated incrementally. The reply's destination IP annotation is set to its
//! new destination, its paint annotation cleared and its timestamp set to now; other
//! annotations stay. Other packets (not ICMP, not an echo request, shorter than an 8-byte echo
//! header, or without an IP header annotation) go to output 1 if it exists, and are dropped
//! (counted) otherwise.
//!
//! **Handlers:** `replies`, `drops` (read).
//!
//! **Example:**
//!
//! ```text
//! ip :: IPClassifier(icmp type echo, -);
//! ip[0] -> ICMPPingResponder -> rt;
//! ```
//!
//! **Differences from Click:** like Click, source route options are not reversed. `replies`
//! and `drops` are additions.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use crate::wire::checksum;
use crate::wire::icmpv4::{IcmpPacket, HEADER_LEN, TYPE_ECHO, TYPE_ECHO_REPLY};
use crate::wire::ipv4::{Ipv4Packet, MIN_HEADER_LEN, PROTO_ICMP};

/// The element.
pub struct IcmpPingResponder {
    replies: u64,
    drops: u64,
}

const HANDLERS: &[Handler] = &[Handler::read("replies"), Handler::read("drops")];

/// Rewrites an echo request into its reply, stamped with `now()` (read only for a reply, as
/// Click reads the time); `false` (packet untouched) if it is not one.
fn answer(p: &mut Packet, now: impl FnOnce() -> u64) -> bool {
    let Some(net) = p.network_offset() else {
        return false;
    };
    let data = p.data_mut();
    let Some(ip) = data.get_mut(net..) else {
        return false;
    };
    if ip.len() < MIN_HEADER_LEN {
        return false;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    if hl < MIN_HEADER_LEN || ip.len() < hl + HEADER_LEN {
        return false;
    }
    let (header, transport) = ip.split_at_mut(hl);
    let mut iph = Ipv4Packet::new_unchecked(header);
    if iph.protocol() != PROTO_ICMP || transport[0] != TYPE_ECHO {
        return false;
    }

    // Swapping the addresses leaves the header checksum as it is.
    let (src, dst) = (iph.src_addr(), iph.dst_addr());
    iph.set_src_addr(dst);
    iph.set_dst_addr(src);
    // Clear MF, DF and the offset; the TTL becomes 255.
    let c = checksum::update16(iph.checksum(), iph.flags_frag(), 0);
    iph.set_checksum(c);
    iph.set_flags_frag(0);
    iph.set_ttl_incremental(255);

    let mut icmp = IcmpPacket::new_unchecked(&mut *transport);
    let old = u16::from_be_bytes([icmp.msg_type(), icmp.msg_code()]);
    icmp.set_msg_type(TYPE_ECHO_REPLY);
    icmp.set_msg_code(0);
    icmp.update_checksum16(old, u16::from_be_bytes([TYPE_ECHO_REPLY, 0]));
    // A reply of all zero bytes (identifier and sequence 0, no data) needs 0xFFFF.
    let c = checksum::fix_zero(icmp.checksum(), transport);
    IcmpPacket::new_unchecked(&mut *transport).set_checksum(c);

    let a = p.anno_mut();
    a.dst_ip = src.octets();
    a.timestamp_ns = now();
    a.paint = 0;
    true
}

impl Element for IcmpPingResponder {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        let second = ctx.noutputs() > 1;
        for mut p in batch {
            if answer(&mut p, || ctx.event_time()) {
                self.replies += 1;
                ctx.output(0, p);
            } else if second {
                ctx.output(1, p);
            } else {
                self.drops += 1;
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "replies" => Some(self.replies.to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(IcmpPingResponder {
        replies: 0,
        drops: 0,
    }))
}

/// `ICMPPingResponder`: see the module docs.
pub static ICMPPingResponder: ElementClass = ElementClass {
    name: "ICMPPingResponder",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, ipv4};
    use super::*;
    use alloc::vec::Vec;

    fn echo(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut icmp = alloc::vec![kind, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
        icmp.extend_from_slice(payload);
        let c = checksum::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        icmp
    }

    #[test]
    fn golden_echo_reply() {
        let mut h = harness(&ICMPPingResponder, "", 1, 2);
        let mut req = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &echo(8, b"ping data"));
        req[6] = 0x40; // DF
        req[10] = 0;
        req[11] = 0;
        let c = checksum::checksum(&req[..20]);
        req[10..12].copy_from_slice(&c.to_be_bytes());
        h.push_ip(0, &req, 0, |a| a.paint = 5);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].port, 0);
        let want_icmp = echo(0, b"ping data");
        let (ip, rest) = etherparse::Ipv4Header::from_slice(&out[0].data).unwrap();
        assert_eq!(
            (ip.source, ip.destination, ip.time_to_live),
            ([10, 0, 0, 2], [10, 0, 0, 1], 255)
        );
        assert!(!ip.dont_fragment);
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(rest, want_icmp.as_slice());
        assert_eq!(out[0].anno.dst_ip, [10, 0, 0, 1]);
        assert_eq!(out[0].anno.paint, 0);
        assert_eq!(out[0].anno.timestamp_ns, 1_000_000_000);
    }

    #[test]
    fn an_all_zero_reply_gets_checksum_ffff() {
        // Identifier 0, sequence 0, no data: the reply is eight zero bytes plus its checksum,
        // which must be 0xFFFF for the message to verify (Click fixes the incremental 0x0000).
        let mut h = harness(&ICMPPingResponder, "", 1, 1);
        let mut icmp = alloc::vec![8, 0, 0, 0, 0, 0, 0, 0];
        let c = checksum::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        h.push_ip(0, &ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &icmp), 0, |_| {});
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[20..], &[0, 0, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(checksum::checksum(&out[0].data[20..]), 0);
    }

    #[test]
    fn others_go_to_output_1_or_are_dropped() {
        let mut h = harness(&ICMPPingResponder, "", 1, 2);
        let reply = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &echo(0, b""));
        let udp = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &[0; 8]);
        let short = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &[8, 0, 0, 0]);
        for p in [&reply, &udp, &short] {
            h.push_ip(0, p, 0, |_| {});
        }
        h.push(0, h.packet(&reply)); // no IP header annotation
        let out = h.take();
        assert_eq!(out.iter().filter(|o| o.port == 1).count(), 4);
        let mut h = harness(&ICMPPingResponder, "", 1, 1);
        h.push_ip(0, &udp, 0, |_| {});
        assert!(h.take().is_empty());
        assert_eq!(h.read("drops"), "1");
    }

    #[test]
    fn truncated_packets_never_panic() {
        let mut h = harness(&ICMPPingResponder, "", 1, 2);
        let req = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &echo(8, b"abc"));
        for n in 0..req.len() {
            h.push_ip(0, &req[..n], 0, |_| {});
        }
        let mut bad_ihl = req.clone();
        bad_ihl[0] = 0x4f;
        h.push_ip(0, &bad_ihl, 0, |_| {});
        // Prefixes holding the IP header and the 8-byte echo header are answered, as Click
        // answers them (it does not check the IP length field).
        assert_eq!(h.read("replies"), "3");
    }
}
