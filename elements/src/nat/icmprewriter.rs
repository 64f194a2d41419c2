//! `ICMPRewriter(MAPS [, DST_ANNO, REPLY_ANNO])` — translates ICMP error messages about rewritten flows.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! An ICMP error (destination unreachable, source quench, redirect, time exceeded,
//! parameter problem) quotes the IP header and first 8 bytes of the packet that caused it.
//! When that packet went through a rewriter, the quote shows the rewritten flow. MAPS names
//! the rewriters to consult (`IPRewriter`, `TCPRewriter`, `UDPRewriter` for TCP and UDP
//! quotes, `ICMPPingRewriter` for quoted echo requests and replies), in order. When one of
//! them holds the quoted flow, ICMPRewriter makes the error look like a response to the
//! packet as it was before rewriting: the quoted addresses and ports (or echo identifier)
//! are restored, with the quoted IP checksum and the quoted TCP/UDP/ICMP checksum (when it
//! lies within the quote; a zero UDP checksum stays zero); the outer destination (when it
//! was the quoted source) and the outer source (when it was the quoted destination) are
//! changed to match; the ICMP and outer IP checksums are updated incrementally. The result
//! goes to output 0.
//!
//! Other packets (not ICMP errors, errors too short to quote a flow, errors about flows no
//! rewriter knows) go to output 1 if it exists and are dropped otherwise.
//!
//! **Keywords:**
//!
//! - `DST_ANNO`: set the destination IP annotation to the new outer destination; default true.
//! - `REPLY_ANNO`: a one-byte annotation (`PAINT`). When the quoted packet travelled its
//!   mapping's forward way (the error answers it, so it comes back as a reply), the error
//!   gets the annotation value that mapping gives its replies (the rewriter's own
//!   `REPLY_ANNO`, which remembers it from the mapping's first packet). Not set by default.
//!
//! **Handlers:** `rewritten`, `unmapped` (packets sent to output 1 or dropped),
//! `bad_packets` (r).
//!
//! **Example:**
//!
//! ```text
//! rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop);
//! pr :: ICMPPingRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop);
//! icmp_errors -> ICMPRewriter(rw pr) -> to_inside;
//! ```
//!
//! **Differences from Click:** Click leaves the quoted packet's own checksums alone; sluice
//! updates them too, so the quote is consistent. The outer source is rewritten as well as
//! the destination, so errors generated behind the NAT about inbound flows also translate.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, InitContext, Packet,
};

use super::rewriter::{ReplyAnno, Shared};
use super::table::{fold, FlowId};
use crate::wire::checksum::{fix_zero, update16, update32};

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

struct IcmpRewriter {
    names: Vec<String>,
    maps: Vec<Rc<Shared>>,
    dst_anno: bool,
    reply_anno: Option<ReplyAnno>,
    has_unmapped_output: bool,
    rewritten: u64,
    unmapped: u64,
    bad_packets: u64,
}

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let dst_anno = args.read_k::<bool>("DST_ANNO").unwrap_or(true);
    let reply_anno = match args.read_k::<String>("REPLY_ANNO") {
        Some(name) => match ReplyAnno::parse(name.trim()) {
            Ok(a) => Some(a),
            Err(e) => {
                args.error_whole(e);
                return None;
            }
        },
        None => None,
    };
    let names: Vec<String> = args
        .rest()
        .iter()
        .flat_map(|a| {
            a.text
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    Some(Box::new(IcmpRewriter {
        names,
        maps: Vec::new(),
        dst_anno,
        reply_anno,
        has_unmapped_output: cctx.noutputs > 1,
        rewritten: 0,
        unmapped: 0,
        bad_packets: 0,
    }))
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Why a packet was not translated.
enum Skip {
    Malformed,
    Unmapped,
}

impl IcmpRewriter {
    fn translate(&self, p: &mut Packet) -> Result<(), Skip> {
        let off = p.network_offset().unwrap_or(0);
        let ip = p.data_mut().get_mut(off..).ok_or(Skip::Malformed)?;
        if ip.len() < 20 || ip[0] >> 4 != 4 {
            return Err(Skip::Malformed);
        }
        let ihl = usize::from(ip[0] & 0xf) * 4;
        let total = usize::from(be16(ip, 2));
        if ihl < 20 || ihl > ip.len() || total < ihl {
            return Err(Skip::Malformed);
        }
        let end = total.min(ip.len());
        if ip[9] != PROTO_ICMP || be16(ip, 6) & 0x1fff != 0 {
            return Err(Skip::Unmapped);
        }
        let icmp = ihl;
        if end < icmp + 8 || !matches!(ip[icmp], 3 | 4 | 5 | 11 | 12) {
            return Err(Skip::Unmapped);
        }
        // The quoted packet: its IP header and at least 8 bytes of transport header.
        let inner = icmp + 8;
        if end < inner + 20 {
            return Err(Skip::Malformed);
        }
        let ihl2 = usize::from(ip[inner] & 0xf) * 4;
        let l4 = inner + ihl2;
        if ip[inner] >> 4 != 4 || ihl2 < 20 || end < l4 + 8 {
            return Err(Skip::Malformed);
        }
        let proto = ip[inner + 9];
        let (qs, qd) = (be32(ip, inner + 12), be32(ip, inner + 16));
        let quoted = match proto {
            PROTO_TCP | PROTO_UDP => FlowId {
                saddr: qs,
                daddr: qd,
                sport: be16(ip, l4),
                dport: be16(ip, l4 + 2),
            },
            PROTO_ICMP if matches!(ip[l4], 0 | 8) => {
                let id = be16(ip, l4 + 4);
                FlowId {
                    saddr: qs,
                    daddr: qd,
                    sport: id,
                    dport: id,
                }
            }
            _ => return Err(Skip::Unmapped),
        };
        let key = quoted.reverse();
        let (original, reply, anno) = self
            .maps
            .iter()
            .find_map(|s| s.tables.try_borrow().ok()?.original_of_quoted(proto, &key))
            .ok_or(Skip::Unmapped)?;

        // Rewrite the quote, remembering the bytes the ICMP checksum covers so it can be
        // updated incrementally afterwards. The window starts at an even offset of the
        // ICMP message, so its 16-bit words are the checksum's words.
        let win_end = (l4 + if proto == PROTO_TCP { 18 } else { 8 }).min(end);
        let mut old = [0u8; 60 + 18];
        let win = win_end - inner;
        old[..win].copy_from_slice(&ip[inner..win_end]);

        let mut isum = be16(ip, inner + 10);
        isum = update32(isum, qs.to_be_bytes(), original.saddr.to_be_bytes());
        isum = update32(isum, qd.to_be_bytes(), original.daddr.to_be_bytes());
        ip[inner + 12..inner + 16].copy_from_slice(&original.saddr.to_be_bytes());
        ip[inner + 16..inner + 20].copy_from_slice(&original.daddr.to_be_bytes());
        put16(ip, inner + 10, isum);
        match proto {
            PROTO_TCP | PROTO_UDP => {
                let at = if proto == PROTO_TCP { l4 + 16 } else { l4 + 6 };
                if at + 2 <= win_end && !(proto == PROTO_UDP && be16(ip, at) == 0) {
                    let mut c = be16(ip, at);
                    c = update32(c, qs.to_be_bytes(), original.saddr.to_be_bytes());
                    c = update32(c, qd.to_be_bytes(), original.daddr.to_be_bytes());
                    c = update16(c, quoted.sport, original.sport);
                    c = update16(c, quoted.dport, original.dport);
                    if proto == PROTO_UDP && c == 0 {
                        c = 0xffff;
                    }
                    put16(ip, at, c);
                }
                put16(ip, l4, original.sport);
                put16(ip, l4 + 2, original.dport);
            }
            _ => {
                // The quoted echo's checksum covers the rest of the packet; an all-zero
                // message needs 0xFFFF where the update gives 0x0000.
                let c = update16(be16(ip, l4 + 2), quoted.sport, original.sport);
                put16(ip, l4 + 4, original.sport);
                put16(ip, l4 + 2, c);
                let c = fix_zero(c, &ip[l4..]);
                put16(ip, l4 + 2, c);
            }
        }
        // ICMP checksum: RFC 1624 over every changed word of the window.
        let mut acc = u32::from(!be16(ip, icmp + 2));
        for k in (0..win & !1).step_by(2) {
            acc += u32::from(!u16::from_be_bytes([old[k], old[k + 1]]));
            acc += u32::from(be16(ip, inner + k));
        }
        if win & 1 == 1 {
            acc += u32::from(!u16::from_be_bytes([old[win - 1], 0]));
            acc += u32::from(u16::from_be_bytes([ip[inner + win - 1], 0]));
        }
        put16(ip, icmp + 2, !fold(acc));

        // Outer header.
        let (os, od) = (be32(ip, 12), be32(ip, 16));
        let mut sum = be16(ip, 10);
        let mut new_dst = od;
        if od == qs {
            new_dst = original.saddr;
            sum = update32(sum, od.to_be_bytes(), new_dst.to_be_bytes());
            ip[16..20].copy_from_slice(&new_dst.to_be_bytes());
        }
        if os == qd {
            sum = update32(sum, os.to_be_bytes(), original.daddr.to_be_bytes());
            ip[12..16].copy_from_slice(&original.daddr.to_be_bytes());
        }
        put16(ip, 10, sum);
        if self.dst_anno {
            p.anno_mut().dst_ip = new_dst.to_be_bytes();
        }
        if let (Some(a), true) = (self.reply_anno, reply) {
            a.set(p, anno);
        }
        Ok(())
    }
}

impl Element for IcmpRewriter {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for mut p in batch {
            match self.translate(&mut p) {
                Ok(()) => {
                    self.rewritten += 1;
                    ctx.output(0, p);
                }
                Err(why) => {
                    match why {
                        Skip::Malformed => self.bad_packets += 1,
                        Skip::Unmapped => self.unmapped += 1,
                    }
                    if self.has_unmapped_output {
                        ctx.output(1, p);
                    }
                }
            }
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("expected MAPS, the rewriters to consult".into());
        }
        for name in &self.names {
            let e = ctx
                .element(name)
                .ok_or_else(|| format!("no element named '{name}'"))?;
            let tables = e
                .shared
                .and_then(|s| s.downcast::<Shared>().ok())
                .ok_or_else(|| format!("'{name}' is not a rewriter (it is a {})", e.class))?;
            self.maps.push(tables);
        }
        Ok(())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "rewritten" => self.rewritten.to_string(),
            "unmapped" => self.unmapped.to_string(),
            "bad_packets" => self.bad_packets.to_string(),
            _ => return None,
        })
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("rewritten"),
            Handler::read("unmapped"),
            Handler::read("bad_packets"),
        ];
        H
    }
}

/// Translates ICMP errors about rewritten flows.
pub static ICMPRewriter: ElementClass = ElementClass {
    name: "ICMPRewriter",
    ports: "1/1-2",
    processing: "h/h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use etherparse::{icmpv4::DestUnreachableHeader, Icmpv4Type, PacketBuilder};

    use super::super::testutil::*;

    const IN: [u8; 4] = [10, 0, 0, 2];
    const NAT: [u8; 4] = [21, 0, 0, 1];
    const SRV: [u8; 4] = [8, 8, 8, 8];
    const ROUTER: [u8; 4] = [7, 7, 7, 7];

    fn rig() -> Rig {
        Rig::multi(&[
            ("icmp", "ICMPRewriter", "rw pr", 1, 2),
            (
                "rw",
                "IPRewriter",
                "pattern 21.0.0.1 1024-65535# - - 0 1, drop",
                2,
                2,
            ),
            (
                "pr",
                "ICMPPingRewriter",
                "pattern 21.0.0.1 2000-2100# - - 0 1, drop",
                2,
                2,
            ),
        ])
        .unwrap()
    }

    /// An ICMP error from `src` to `dst` quoting the first 28 bytes of `quoted`.
    fn error(src: [u8; 4], dst: [u8; 4], ty: Icmpv4Type, quoted: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .icmpv4(ty)
            .write(&mut v, quoted)
            .unwrap();
        v
    }

    fn unreachable() -> Icmpv4Type {
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    }

    #[test]
    fn translates_errors_about_udp_tcp_and_echo() {
        let mut r = rig();
        // UDP: the outside answers our rewritten datagram with port unreachable.
        let sent = r
            .one_into("rw", 0, &udp(IN, 5353, SRV, 53, b"query"))
            .unwrap()
            .1;
        assert_eq!(flow_of(&sent), (NAT, 1024, SRV, 53));
        let err = error(SRV, NAT, unreachable(), &sent[..28]);
        let (o, out) = r.one_into("icmp", 0, &err).unwrap();
        assert_eq!(o, 0);
        let original = udp(IN, 5353, SRV, 53, b"query");
        assert_eq!(
            out,
            error(SRV, IN, unreachable(), &original[..28]),
            "golden"
        );
        assert_checksums(&out);

        // TCP, quoted in full (checksum inside the quote), from a router on the path.
        let sent = r
            .one_into("rw", 0, &tcp(IN, 4000, SRV, 80, "S", b""))
            .unwrap()
            .1;
        let te =
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit);
        let (o, out) = r
            .one_into("icmp", 0, &error(ROUTER, NAT, te.clone(), &sent))
            .unwrap();
        assert_eq!(o, 0);
        assert_eq!(
            out,
            error(ROUTER, IN, te, &tcp(IN, 4000, SRV, 80, "S", b""))
        );
        assert_checksums(&out);

        // A quoted echo request.
        let sent = r.one_into("pr", 0, &echo(IN, SRV, 99, true)).unwrap().1;
        assert_eq!(flow_of(&sent).1, 2000);
        let (_, out) = r
            .one_into("icmp", 0, &error(ROUTER, NAT, unreachable(), &sent))
            .unwrap();
        assert_eq!(
            out,
            error(ROUTER, IN, unreachable(), &echo(IN, SRV, 99, true))
        );
        assert_checksums(&out);
        assert_eq!(
            r.harness.router.read_handler("icmp.rewritten").unwrap(),
            "3"
        );
    }

    #[test]
    fn error_from_inside_about_inbound_traffic() {
        let mut r = rig();
        r.one_into("rw", 0, &udp(IN, 5353, SRV, 53, b"q")).unwrap();
        let delivered = r
            .one_into("rw", 1, &udp(SRV, 53, NAT, 1024, b"a"))
            .unwrap()
            .1;
        assert_eq!(flow_of(&delivered), (SRV, 53, IN, 5353));
        let (_, out) = r
            .one_into("icmp", 0, &error(IN, SRV, unreachable(), &delivered))
            .unwrap();
        assert_eq!(
            out,
            error(NAT, SRV, unreachable(), &udp(SRV, 53, NAT, 1024, b"a"))
        );
        assert_checksums(&out);
    }

    #[test]
    fn reply_anno_gives_errors_about_forward_packets_the_mappings_reply_value() {
        let mut r = Rig::multi(&[
            ("icmp", "ICMPRewriter", "rw, REPLY_ANNO PAINT", 1, 2),
            (
                "rw",
                "IPRewriter",
                "pattern 21.0.0.1 1024-65535# - - 0 1, keep 1 0, REPLY_ANNO PAINT",
                2,
                2,
            ),
        ])
        .unwrap();
        // The mapping remembers paint 5 from its first packet.
        let (_, sent, _) = r
            .painted_into("rw", 0, &udp(IN, 5353, SRV, 53, b"q"), 5)
            .unwrap();
        let err = error(ROUTER, NAT, unreachable(), &sent[..28]);
        let (o, out, paint) = r.painted_into("icmp", 0, &err, 0).unwrap();
        assert_eq!((o, paint), (0, 5));
        assert_eq!(flow_of(&out).2, IN);
        // An error about a packet that travelled its mapping's reply way (a `keep`
        // mapping made by input 1, answered from inside) keeps its own paint.
        r.painted_into("rw", 1, &udp(SRV, 99, IN, 7, b"in"), 9)
            .unwrap();
        let (_, delivered, _) = r
            .painted_into("rw", 0, &udp(IN, 7, SRV, 99, b"back"), 4)
            .unwrap();
        assert_eq!(flow_of(&delivered), flow_of(&udp(IN, 7, SRV, 99, b"")));
        let err = error(ROUTER, IN, unreachable(), &delivered[..28]);
        let (o, _, paint) = r.painted_into("icmp", 0, &err, 3).unwrap();
        assert_eq!((o, paint), (0, 3));
        // Without REPLY_ANNO the paint is left alone; a bad annotation name is an error.
        let e = Rig::multi(&[("icmp", "ICMPRewriter", "rw, REPLY_ANNO NOPE", 1, 1)])
            .err()
            .unwrap();
        assert!(e.contains("REPLY_ANNO"), "{e}");
    }

    #[test]
    fn unmapped_and_malformed_go_to_output_1() {
        let mut r = rig();
        let stranger = udp(IN, 1, SRV, 2, b"");
        let err = error(SRV, NAT, unreachable(), &stranger[..28]);
        assert_eq!(r.one_into("icmp", 0, &err), Some((1, err.clone())));
        let ping = echo(SRV, NAT, 1, true);
        assert_eq!(r.one_into("icmp", 0, &ping).map(|x| x.0), Some(1));
        let short = &err[..40];
        assert_eq!(r.one_into("icmp", 0, short).map(|x| x.0), Some(1));
        assert_eq!(r.one_into("icmp", 0, &err[..5]).map(|x| x.0), Some(1));
        assert_eq!(r.harness.router.read_handler("icmp.unmapped").unwrap(), "2");
        assert_eq!(
            r.harness.router.read_handler("icmp.bad_packets").unwrap(),
            "2"
        );
        let e = Rig::multi(&[("icmp", "ICMPRewriter", "nothere", 1, 1)])
            .err()
            .unwrap();
        assert!(e.contains("no element named 'nothere'"), "{e}");
    }
}
