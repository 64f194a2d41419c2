//! `ICMPError(SRC, TYPE [, CODE, BADADDRS, keywords MTU, PMTU, SET_FIX_ANNO])` — builds ICMP error messages about the packets it receives.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! For each incoming IP packet (its IP header annotation must be set), emits a new IP packet
//! from SRC to the packet's source carrying an ICMP error of TYPE and CODE that quotes the
//! packet's IP header and the start of its payload, as much as fits in MTU bytes (default
//! 576). The incoming packet is consumed. The error's destination IP annotation is its
//! destination, its fix-IP-source annotation is set (unless `SET_FIX_ANNO false`) so that a
//! `FixIPSrc` on the way out can put the outgoing interface's address in, and its timestamp
//! is now. Its IP header has TTL 200, TOS 0 and an identifier counting up from 1. All
//! ICMPError elements of a router count one identifier sequence, as Click's do.
//!
//! No error is generated (RFC 1812 4.3.2.7), and the packet is dropped and counted, for:
//! ICMP error messages; destinations that are the limited broadcast, multicast or in BADADDRS;
//! link-level broadcasts or multicasts (packet type annotation); sources that are not valid
//! unicast addresses (0/8, 127/8, 240/4, multicast, limited broadcast, BADADDRS); fragments
//! other than the first; and redirects about source-routed packets.
//!
//! TYPE is an error type, by number or name: `unreachable` (3), `sourcequench` (4),
//! `redirect` (5), `timeexceeded` (11), `parameterproblem` (12); hyphens may separate words
//! (`time-exceeded`). CODE (default 0) is a number or a name valid for TYPE: for
//! `unreachable` `net`, `host`, `protocol`, `port`, `needfrag`, `srcroutefail`, `netunknown`,
//! `hostunknown`, `isolated`, `netprohib`, `hostprohib`, `tosnet`, `toshost`, `filterprohib`,
//! `hostprecedence`, `precedencecutoff`; for `redirect` `net`, `host`, `tosnet`, `toshost`; for
//! `timeexceeded` `transit`, `reassembly`; for `parameterproblem` `erroratptr`, `missingopt`,
//! `length`.
//!
//! A parameter problem with code 0 takes its pointer from the packet's ICMP parameter
//! problem annotation (`IPGWOptions` sets it). A redirect carries the packet's destination IP
//! annotation as the gateway. "Fragmentation needed" carries PMTU as the next-hop MTU. When
//! the packet has a source route option, the error carries the reversed route.
//!
//! **Keywords:**
//!
//! - `MTU`: largest error packet, default 576.
//! - `PMTU`: next-hop MTU for `needfrag`, default 0.
//! - `SET_FIX_ANNO` (also `USE_FIX_ANNO`): set the fix-IP-source annotation; default true.
//! - `BADADDRS`: space-separated addresses.
//!
//! **Handlers:** `src`, `mtu`, `pmtu` (read/write), `drops`, `errors` (read).
//!
//! **Example:**
//!
//! ```text
//! dt :: DecIPTTL;
//! dt[1] -> ICMPError(18.26.4.24, timeexceeded) -> rt;
//! ```
//!
//! **Differences from Click:** packets shorter than an IP header are dropped and counted; `MTU`
//! must leave room for the headers (at least 28); `drops` and `errors` are additions.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::any::Any;
use core::cell::Cell;
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, Packet, PacketType,
};

use crate::wire::checksum;
use crate::wire::icmpv4::{
    IcmpPacket, HEADER_LEN as ICMP_LEN, TYPE_PARAM_PROBLEM, TYPE_REDIRECT, TYPE_SOURCE_QUENCH,
    TYPE_TIME_EXCEEDED, TYPE_UNREACH,
};
use crate::wire::ipv4::{Ipv4Packet, MIN_HEADER_LEN, OFFSET_MASK, PROTO_ICMP};

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_LSRR: u8 = 131;
const OPT_SSRR: u8 = 137;
const CODE_NEEDFRAG: u8 = 4;
const CODE_ERRATPTR: u8 = 0;

fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        TYPE_UNREACH | TYPE_SOURCE_QUENCH | TYPE_REDIRECT | TYPE_TIME_EXCEEDED | TYPE_PARAM_PROBLEM
    )
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn parse_num(text: &str) -> Option<u8> {
    if let Some(h) = text.strip_prefix("0x") {
        u8::from_str_radix(h, 16).ok()
    } else {
        text.parse().ok()
    }
}

/// An ICMP type by number or name.
pub fn parse_type(text: &str) -> Option<u8> {
    parse_num(text).or_else(|| {
        Some(match normalize(text).as_str() {
            "echoreply" => 0,
            "unreachable" | "destunreachable" => 3,
            "sourcequench" => 4,
            "redirect" => 5,
            "echo" | "echorequest" => 8,
            "routeradvert" => 9,
            "routersolicit" => 10,
            "timeexceeded" => 11,
            "parameterproblem" | "paramprob" => 12,
            "timestamp" => 13,
            "timestampreply" => 14,
            "inforeq" => 15,
            "inforeqreply" => 16,
            "maskreq" => 17,
            "maskreqreply" => 18,
            _ => return None,
        })
    })
}

/// An ICMP code for `ty`, by number or name.
pub fn parse_code(ty: u8, text: &str) -> Option<u8> {
    parse_num(text).or_else(|| {
        let n = normalize(text);
        let table: &[(&str, u8)] = match ty {
            TYPE_UNREACH => &[
                ("net", 0),
                ("host", 1),
                ("protocol", 2),
                ("port", 3),
                ("needfrag", 4),
                ("srcroutefail", 5),
                ("netunknown", 6),
                ("hostunknown", 7),
                ("isolated", 8),
                ("netprohib", 9),
                ("hostprohib", 10),
                ("tosnet", 11),
                ("toshost", 12),
                ("filterprohib", 13),
                ("hostprecedence", 14),
                ("precedencecutoff", 15),
            ],
            TYPE_REDIRECT => &[("net", 0), ("host", 1), ("tosnet", 2), ("toshost", 3)],
            TYPE_TIME_EXCEEDED => &[("transit", 0), ("reassembly", 1)],
            TYPE_PARAM_PROBLEM => &[("erroratptr", 0), ("missingopt", 1), ("length", 2)],
            _ => &[],
        };
        table.iter().find(|(name, _)| *name == n).map(|(_, c)| *c)
    })
}

/// The element.
pub struct IcmpError {
    src: [u8; 4],
    ty: u8,
    code: u8,
    bad_addrs: Vec<[u8; 4]>,
    mtu: usize,
    pmtu: u16,
    set_fix_anno: bool,
    /// The next IP identifier, one counter for every `ICMPError` of the router (Click's is
    /// a static of the class).
    next_id: Rc<Cell<u16>>,
    drops: u64,
    errors: u64,
}

const HANDLERS: &[Handler] = &[
    Handler::read_write("src"),
    Handler::read_write("mtu"),
    Handler::read_write("pmtu"),
    Handler::read("drops"),
    Handler::read("errors"),
];

/// A source route option (loose or strict) worth reversing: its offset in the header.
fn source_route(header: &[u8]) -> Option<usize> {
    let mut i = MIN_HEADER_LEN;
    while i < header.len() {
        match header[i] {
            OPT_NOP => i += 1,
            OPT_EOL => return None,
            t => {
                let xlen = usize::from(*header.get(i + 1)?);
                if xlen < 2 || i + xlen > header.len() {
                    return None;
                }
                if matches!(t, OPT_LSRR | OPT_SSRR) {
                    let ptr = usize::from(*header.get(i + 2)?);
                    if ptr >= 4 && ptr % 4 == 0 && ptr <= xlen + 1 {
                        return Some(i);
                    }
                }
                i += xlen;
            }
        }
    }
    None
}

impl IcmpError {
    fn unicast(&self, a: [u8; 4]) -> bool {
        a != [255; 4] && a[0] & 0xf0 != 0xe0 && !self.bad_addrs.contains(&a)
    }

    fn valid_source(&self, a: [u8; 4]) -> bool {
        self.unicast(a) && a[0] != 0 && a[0] != 127 && a[0] & 0xf0 != 0xf0
    }

    /// The error message about `p`, or `None` when none may be sent (or no buffer).
    fn make_error(&mut self, ctx: &Context<'_>, p: &Packet) -> Option<Packet> {
        let net = p.network_offset()?;
        let ip = p.data().get(net..)?;
        if ip.len() < MIN_HEADER_LEN {
            return None;
        }
        let hlen = usize::from(ip[0] & 0x0f) * 4;
        // Options are read only as far as the bytes go.
        let header = &ip[..hlen.clamp(MIN_HEADER_LEN, ip.len())];
        let iph = Ipv4Packet::new_unchecked(header);

        if iph.protocol() == PROTO_ICMP {
            let ty = ip.get(hlen).copied();
            if hlen + 4 > p.len() || ty.is_none_or(is_error_type) {
                return None;
            }
        }
        if !self.unicast(iph.dst_bytes()) {
            return None;
        }
        if matches!(
            p.anno().packet_type,
            PacketType::Broadcast | PacketType::Multicast
        ) {
            return None;
        }
        if !self.valid_source(iph.src_bytes()) {
            return None;
        }
        if iph.flags_frag() & OFFSET_MASK != 0 {
            return None;
        }
        let mut route = source_route(header);
        if let Some(at) = route {
            if self.ty == TYPE_REDIRECT {
                return None;
            }
            // A parameter problem about the source route itself does not follow it back.
            let ptr = usize::from(p.anno().icmp_param_prob);
            if self.ty == TYPE_PARAM_PROBLEM
                && self.code == CODE_ERRATPTR
                && at <= ptr
                && ptr < at + usize::from(header[at + 1])
            {
                route = None;
            }
        }

        let route_len = route.map_or(0, |at| usize::from(header[at + 2]) - 1);
        let out_hl = (MIN_HEADER_LEN + route_len + 3) & !3;
        if self.mtu < out_hl + ICMP_LEN {
            return None;
        }
        let quote = (self.mtu - out_hl - ICMP_LEN).min(ip.len());
        let total = out_hl + ICMP_LEN + quote;
        let mut q = ctx.pool().alloc(total)?;
        let data = q.data_mut();
        data[..out_hl + ICMP_LEN].fill(0);

        if let Some(at) = route {
            // Reversed route: the addresses before the pointer, last first.
            let ptr = usize::from(header[at + 2]);
            let o = &mut data[MIN_HEADER_LEN..out_hl];
            o[0] = header[at];
            o[1] = route_len as u8;
            o[2] = 4;
            o[route_len] = OPT_EOL;
            let mut w = 3;
            let mut r = at + ptr - 5;
            while r >= at + 3 {
                o[w..w + 4].copy_from_slice(&header[r..r + 4]);
                w += 4;
                r -= 4;
            }
        }
        {
            let mut icmp = IcmpPacket::new_unchecked(&mut data[out_hl..]);
            icmp.set_msg_type(self.ty);
            icmp.set_msg_code(self.code);
            if self.ty == TYPE_PARAM_PROBLEM && self.code == CODE_ERRATPTR {
                icmp.set_rest_of_header([p.anno().icmp_param_prob, 0, 0, 0]);
            } else if self.ty == TYPE_REDIRECT {
                icmp.set_rest_of_header(p.anno().dst_ip);
            } else if self.ty == TYPE_UNREACH && self.code == CODE_NEEDFRAG {
                let m = self.pmtu.to_be_bytes();
                icmp.set_rest_of_header([0, 0, m[0], m[1]]);
            }
        }
        data[out_hl + ICMP_LEN..].copy_from_slice(&ip[..quote]);
        let c = checksum::checksum(&data[out_hl..]);
        data[out_hl + 2..out_hl + 4].copy_from_slice(&c.to_be_bytes());

        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let mut nip = Ipv4Packet::new_unchecked(&mut data[..out_hl]);
        nip.set_version(4);
        nip.set_header_len(out_hl);
        nip.set_total_len(total as u16);
        nip.set_ident(id);
        nip.set_ttl(200);
        nip.set_protocol(PROTO_ICMP);
        nip.set_src_addr(Ipv4Addr::from(self.src));
        nip.set_dst_addr(iph.src_addr());
        nip.fill_checksum();

        q.set_network_offset(0);
        q.set_transport_offset(out_hl);
        let a = q.anno_mut();
        a.dst_ip = iph.src_bytes();
        a.fix_ip_src = self.set_fix_anno;
        a.timestamp_ns = ctx.event_time();
        Some(q)
    }
}

impl Element for IcmpError {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    /// Shares one identifier counter with the router's other `ICMPError`s: each adopts the
    /// counter of the first other one it finds, so after all have initialized they hold the
    /// same one.
    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        let other = ctx
            .elements()
            .filter(|e| e.class == "ICMPError")
            .find_map(|e| e.shared?.downcast::<Cell<u16>>().ok());
        if let Some(counter) = other {
            self.next_id = counter;
        }
        Ok(())
    }

    fn shared_state(&self) -> Option<Rc<dyn Any>> {
        Some(self.next_id.clone())
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for p in batch {
            match self.make_error(ctx, &p) {
                Some(q) => {
                    self.errors += 1;
                    ctx.output(0, q);
                }
                None => self.drops += 1,
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "src" => Ipv4Addr::from(self.src).to_string(),
            "mtu" => self.mtu.to_string(),
            "pmtu" => self.pmtu.to_string(),
            "drops" => self.drops.to_string(),
            "errors" => self.errors.to_string(),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let v = value.trim();
        let bad =
            |what: &str| HandlerError::BadValue(format!("{name}: expected {what}, not '{v}'"));
        match name {
            "src" => {
                self.src = v
                    .parse::<Ipv4Addr>()
                    .map_err(|_| bad("an IP address"))?
                    .octets()
            }
            "mtu" => {
                let m: usize = v.parse().map_err(|_| bad("an integer"))?;
                if m < MIN_HEADER_LEN + ICMP_LEN {
                    return Err(bad("an MTU of at least 28"));
                }
                self.mtu = m;
            }
            "pmtu" => self.pmtu = v.parse().map_err(|_| bad("an integer below 65536"))?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, _cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let src: Option<Ipv4Addr> = args.read_mp("SRC");
    let ty_text: Option<String> = args.read_mp("TYPE");
    let code_text: Option<String> = args.read_p("CODE");
    let bad_text: Option<String> = args.read_p("BADADDRS");
    let mtu = args.read_k::<usize>("MTU").unwrap_or(576);
    let pmtu = args.read_k::<u16>("PMTU").unwrap_or(0);
    let fix = args.read_k::<bool>("SET_FIX_ANNO");
    let use_fix = args.read_k::<bool>("USE_FIX_ANNO");
    let (src, ty_text) = (src?, ty_text?);
    let Some(ty) = parse_type(&ty_text) else {
        args.error_whole(format!("TYPE: '{ty_text}' is not an ICMP type"));
        return None;
    };
    if !is_error_type(ty) {
        args.error_whole(format!("ICMP type {ty} is not an error type"));
        return None;
    }
    let code = match &code_text {
        None => 0,
        Some(t) => match parse_code(ty, t) {
            Some(c) => c,
            None => {
                args.error_whole(format!("CODE: '{t}' is not an ICMP code for type {ty}"));
                return None;
            }
        },
    };
    let mut bad_addrs = Vec::new();
    for w in bad_text.as_deref().unwrap_or("").split_whitespace() {
        match w.parse::<Ipv4Addr>() {
            Ok(a) => bad_addrs.push(a.octets()),
            Err(_) => {
                args.error_whole(format!("BADADDRS: '{w}' is not an IP address"));
                return None;
            }
        }
    }
    if mtu < MIN_HEADER_LEN + ICMP_LEN {
        args.error_whole("MTU must be at least 28");
        return None;
    }
    Some(Box::new(IcmpError {
        src: src.octets(),
        ty,
        code,
        bad_addrs,
        mtu,
        pmtu,
        set_fix_anno: fix.or(use_fix).unwrap_or(true),
        next_id: Rc::new(Cell::new(1)),
        drops: 0,
        errors: 0,
    }))
}

/// `ICMPError`: see the module docs.
pub static ICMPError: ElementClass = ElementClass {
    name: "ICMPError",
    ports: "1/1",
    processing: "a",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, ipv4, try_harness};
    use super::*;
    use alloc::vec;

    fn udp_packet(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        ipv4(src, dst, 17, &payload)
    }

    #[test]
    fn golden_time_exceeded() {
        let mut h = harness(&ICMPError, "18.26.4.24, timeexceeded", 1, 1);
        let orig = udp_packet([10, 0, 0, 1], [10, 0, 9, 9], 30);
        h.push_ip(0, &orig, 0, |_| {});
        let out = h.take();
        assert_eq!(out.len(), 1);
        let o = &out[0];
        let (ip, rest) = etherparse::Ipv4Header::from_slice(&o.data).unwrap();
        assert_eq!(
            (ip.source, ip.destination),
            ([18, 26, 4, 24], [10, 0, 0, 1])
        );
        assert_eq!(
            (ip.time_to_live, ip.identification, ip.protocol.0),
            (200, 1, 1)
        );
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(usize::from(ip.total_len), o.data.len());
        assert_eq!(&rest[..8], &[11, 0, rest[2], rest[3], 0, 0, 0, 0]);
        assert_eq!(checksum::checksum(rest), 0, "ICMP checksum valid");
        assert_eq!(&rest[8..], orig.as_slice(), "whole packet quoted (it fits)");
        assert_eq!(o.anno.dst_ip, [10, 0, 0, 1]);
        assert!(o.anno.fix_ip_src);
        assert_eq!(o.network_offset, Some(0));
        // etherparse agrees it is a time-exceeded message quoting our packet.
        let icmp = etherparse::Icmpv4Slice::from_slice(rest).unwrap();
        assert!(matches!(
            icmp.icmp_type(),
            etherparse::Icmpv4Type::TimeExceeded(_)
        ));
    }

    #[test]
    fn quote_is_cut_at_mtu() {
        let mut h = harness(
            &ICMPError,
            "1.1.1.1, unreachable, needfrag, PMTU 1400, MTU 100",
            1,
            1,
        );
        let orig = udp_packet([10, 0, 0, 1], [10, 0, 9, 9], 500);
        h.push_ip(0, &orig, 0, |_| {});
        let o = &h.take()[0];
        assert_eq!(o.data.len(), 100);
        assert_eq!(&o.data[20..22], &[3, 4]);
        assert_eq!(&o.data[24..28], &[0, 0, 0x05, 0x78], "next-hop MTU");
        assert_eq!(&o.data[28..], &orig[..72]);
        assert_eq!(checksum::checksum(&o.data[20..]), 0);
    }

    #[test]
    fn redirect_and_parameter_problem_particulars() {
        let mut h = harness(&ICMPError, "1.1.1.1, redirect, host", 1, 1);
        h.push_ip(0, &udp_packet([10, 0, 0, 1], [10, 0, 9, 9], 8), 0, |a| {
            a.dst_ip = [10, 0, 0, 254]
        });
        let o = &h.take()[0];
        assert_eq!(&o.data[20..22], &[5, 1]);
        assert_eq!(&o.data[24..28], &[10, 0, 0, 254]);
        let mut h = harness(
            &ICMPError,
            "1.1.1.1, parameterproblem, SET_FIX_ANNO false",
            1,
            1,
        );
        h.push_ip(0, &udp_packet([10, 0, 0, 1], [10, 0, 9, 9], 8), 0, |a| {
            a.icmp_param_prob = 22
        });
        let o = &h.take()[0];
        assert_eq!((o.data[20], o.data[21], o.data[24]), (12, 0, 22));
        assert!(!o.anno.fix_ip_src);
    }

    #[test]
    fn suppressed_cases() {
        let mut h = harness(
            &ICMPError,
            "1.1.1.1, unreachable, host, BADADDRS 10.0.0.255",
            1,
            1,
        );
        let ok_src = [10, 0, 0, 1];
        let cases: Vec<(Vec<u8>, PacketType)> = vec![
            // An ICMP error about an ICMP error.
            (
                ipv4(ok_src, [10, 0, 9, 9], 1, &[3, 1, 0, 0, 0, 0, 0, 0]),
                PacketType::Host,
            ),
            (
                udp_packet(ok_src, [255, 255, 255, 255], 8),
                PacketType::Host,
            ),
            (udp_packet(ok_src, [224, 0, 0, 5], 8), PacketType::Host),
            (udp_packet(ok_src, [10, 0, 0, 255], 8), PacketType::Host),
            (udp_packet(ok_src, [10, 0, 9, 9], 8), PacketType::Broadcast),
            (udp_packet([0, 1, 2, 3], [10, 0, 9, 9], 8), PacketType::Host),
            (
                udp_packet([127, 0, 0, 1], [10, 0, 9, 9], 8),
                PacketType::Host,
            ),
            (
                udp_packet([240, 0, 0, 1], [10, 0, 9, 9], 8),
                PacketType::Host,
            ),
            (
                udp_packet([10, 0, 0, 255], [10, 0, 9, 9], 8),
                PacketType::Host,
            ),
        ];
        let n = cases.len();
        for (bytes, pt) in cases {
            h.push_ip(0, &bytes, 0, |a| a.packet_type = pt);
        }
        // A non-first fragment.
        let mut frag = udp_packet(ok_src, [10, 0, 9, 9], 8);
        frag[7] = 1;
        h.push_ip(0, &frag, 0, |_| {});
        // An ICMP echo is fine to complain about.
        h.push_ip(
            0,
            &ipv4(ok_src, [10, 0, 9, 9], 1, &[8, 0, 0, 0, 0, 0, 0, 0]),
            0,
            |_| {},
        );
        assert_eq!(h.take().len(), 1);
        assert_eq!(h.read("drops"), (n + 1).to_string());
    }

    #[test]
    fn source_route_is_reversed() {
        let mut h = harness(&ICMPError, "1.1.1.1, unreachable, host", 1, 1);
        // LSRR with two addresses already used (pointer 12) and one to go, plus a NOP.
        let mut hdr = vec![
            0x49, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 9, 9,
        ];
        hdr.extend_from_slice(&[
            OPT_NOP, OPT_LSRR, 15, 12, 7, 7, 7, 1, 7, 7, 7, 2, 7, 7, 7, 3,
        ]);
        let mut pkt = hdr;
        pkt.extend_from_slice(&[0u8; 8]);
        let total = pkt.len() as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        let c = checksum::checksum(&pkt[..36]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        h.push_ip(0, &pkt, 0, |_| {});
        let o = &h.take()[0];
        assert_eq!(o.data[0], 0x48, "header of 32 bytes");
        assert_eq!(
            &o.data[20..32],
            &[OPT_LSRR, 11, 4, 7, 7, 7, 2, 7, 7, 7, 1, OPT_EOL][..12]
        );
        let (ip, _) = etherparse::Ipv4Header::from_slice(&o.data).unwrap();
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        // A redirect is never sent for a source-routed packet.
        let mut h = harness(&ICMPError, "1.1.1.1, redirect", 1, 1);
        h.push_ip(0, &pkt, 0, |_| {});
        assert!(h.take().is_empty());
    }

    #[test]
    fn hostile_inputs_get_no_error_or_a_well_formed_one() {
        /// An emitted error: a checksummed IPv4 header from 1.1.1.1 and a checksummed ICMP
        /// unreachable quoting the start of `original`.
        fn well_formed(o: &super::super::testutil::Out, original: &[u8]) {
            let (ip, rest) = etherparse::Ipv4Header::from_slice(&o.data).unwrap();
            assert_eq!(ip.header_checksum, ip.calc_header_checksum());
            assert_eq!((ip.source, ip.protocol.0), ([1, 1, 1, 1], 1));
            assert_eq!(rest[0], 3, "destination unreachable");
            assert_eq!(checksum::checksum(rest), 0, "ICMP checksum");
            let quoted = &rest[8..];
            assert!(!quoted.is_empty() && original.starts_with(quoted));
        }
        let mut h = harness(&ICMPError, "1.1.1.1, unreachable", 1, 1);
        let good = udp_packet([10, 0, 0, 1], [10, 0, 9, 9], 16);
        for n in 0..good.len() {
            h.push_ip(0, &good[..n], 0, |_| {});
            let out = h.take();
            if n < 20 {
                assert!(out.is_empty(), "{n} bytes hold no IP header: no error");
            }
            for o in &out {
                well_formed(o, &good[..n]);
            }
        }
        for ihl in 0..16u8 {
            let mut b = good.clone();
            b[0] = 0x40 | ihl;
            b[20] = OPT_LSRR;
            b[21] = 0xff;
            h.push_ip(0, &b, 0, |_| {});
            // Click does not judge the header length here: it quotes what it finds.
            for o in &h.take() {
                well_formed(o, &b);
            }
        }
        h.push(0, h.packet(&good)); // no IP header annotation
        for o in &h.take() {
            well_formed(o, &good);
        }
    }

    #[test]
    fn names_and_bad_arguments() {
        assert_eq!(parse_type("time-exceeded"), Some(11));
        assert_eq!(parse_type("parameterproblem"), Some(12));
        assert_eq!(parse_code(3, "needfrag"), Some(4));
        assert_eq!(parse_code(11, "reassembly"), Some(1));
        assert_eq!(parse_code(11, "port"), None);
        assert!(try_harness(&ICMPError, "1.1.1.1, echo", 1, 1, 4).is_err());
        assert!(try_harness(&ICMPError, "1.1.1.1, unreachable, bogus", 1, 1, 4).is_err());
        assert!(try_harness(&ICMPError, "1.1.1.1", 1, 1, 4).is_err());
        assert!(try_harness(&ICMPError, "1.1.1.1, 3, 1, MTU 20", 1, 1, 4).is_err());
        let h = harness(&ICMPError, "1.1.1.1, 3, 1", 1, 1);
        h.write("mtu", "1500").unwrap();
        assert_eq!(h.read("mtu"), "1500");
        assert!(h.write("src", "nope").is_err());
    }
}
