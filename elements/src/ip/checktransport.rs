//! `CheckICMPHeader([keywords VERBOSE, DETAILS])` — checks ICMP headers.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Expects IPv4 packets with the network header annotation set (`CheckIPHeader`). Good
//! packets leave on output 0; bad ones on output 1 if connected, else they are dropped. The
//! first bad packet is reported on the console (every one with `VERBOSE true`).
//!
//! Reasons a packet is bad: *not ICMP* (no network header, or protocol not 1); *bad packet
//! length* (fewer than 8 bytes from the transport header to the end of the packet; errors —
//! unreachable, time exceeded, parameter problem, source quench, redirect — shorter than
//! 8 + 28 bytes; timestamp messages not exactly 20 bytes; information messages not exactly
//! 8 bytes); *bad ICMP checksum* (over the bytes from the transport header to the end).
//!
//! **Keywords:**
//!
//! - `VERBOSE`: boolean, report every bad packet; default false.
//! - `DETAILS`: boolean, count drops per reason (the `drop_details` handler); default false.
//!
//! **Handlers:** `drops` (r); `drop_details` (r, with `DETAILS true`): one `count<TAB>reason`
//! line per reason.
//!
//! **Differences from Click:** an annotated network header with fewer than 20 bytes behind
//! it, which Click would read past, counts as *bad packet length*.
//!
//! ## `CheckTCPHeader([keywords VERBOSE, DETAILS])` — checks TCP headers.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Expects IPv4 packets with the network header annotation set (`CheckIPHeader`). Good
//! packets leave on output 0; bad ones on output 1 if connected, else they are dropped. The
//! first bad packet is reported on the console (every one with `VERBOSE true`).
//!
//! Reasons a packet is bad: *not TCP*; *bad packet length* (data offset below 20 bytes, IP
//! payload shorter than the TCP header, or packet shorter than the IP length says); *bad TCP
//! checksum* (pseudo-header included, over the IP payload).
//!
//! **Keywords:**
//!
//! - `VERBOSE`: boolean, report every bad packet; default false.
//! - `DETAILS`: boolean, count drops per reason (the `drop_details` handler); default false.
//!
//! **Handlers:** `drops` (r); `drop_details` (r, with `DETAILS true`): one `count<TAB>reason`
//! line per reason.
//!
//! **Differences from Click:** an annotated network header with fewer than 20 bytes behind
//! it, which Click would read past, counts as *bad packet length*.
//!
//! ## `CheckUDPHeader([keywords VERBOSE, DETAILS])` — checks UDP headers.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Expects IPv4 packets with the network header annotation set (`CheckIPHeader`). Good
//! packets leave on output 0; bad ones on output 1 if connected, else they are dropped. The
//! first bad packet is reported on the console (every one with `VERBOSE true`).
//!
//! Reasons a packet is bad: *not UDP*; *bad packet length* (UDP length below 8, beyond the
//! bytes present, or beyond the IP payload); *bad UDP checksum* (only when the checksum is
//! non-zero).
//!
//! **Keywords:**
//!
//! - `VERBOSE`: boolean, report every bad packet; default false.
//! - `DETAILS`: boolean, count drops per reason (the `drop_details` handler); default false.
//!
//! **Handlers:** `drops` (r); `drop_details` (r, with `DETAILS true`): one `count<TAB>reason`
//! line per reason.
//!
//! **Differences from Click:** an annotated network header with fewer than 20 bytes behind
//! it, which Click would read past, counts as *bad packet length*.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use super::common::{push_each, report_drop, DropStats, Verdict};
use crate::wire::{checksum, icmpv4, ipv4, Ipv4Packet};

/// `CheckICMPHeader`.
pub static CheckICMPHeader: ElementClass = ElementClass {
    name: "CheckICMPHeader",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_icmp,
    names: None,
};
/// `CheckTCPHeader`.
pub static CheckTCPHeader: ElementClass = ElementClass {
    name: "CheckTCPHeader",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_tcp,
    names: None,
};
/// `CheckUDPHeader`.
pub static CheckUDPHeader: ElementClass = ElementClass {
    name: "CheckUDPHeader",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_udp,
    names: None,
};

const NOT_PROTO: usize = 0;
const BAD_LENGTH: usize = 1;
const BAD_CHECKSUM: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Icmp,
    Tcp,
    Udp,
}

impl Proto {
    fn reasons(self) -> &'static [&'static str; 3] {
        match self {
            Proto::Icmp => &["not ICMP", "bad packet length", "bad ICMP checksum"],
            Proto::Tcp => &["not TCP", "bad packet length", "bad TCP checksum"],
            Proto::Udp => &["not UDP", "bad packet length", "bad UDP checksum"],
        }
    }

    fn what(self) -> &'static str {
        match self {
            Proto::Icmp => "ICMP header",
            Proto::Tcp => "TCP header",
            Proto::Udp => "UDP header",
        }
    }

    fn number(self) -> u8 {
        match self {
            Proto::Icmp => ipv4::PROTO_ICMP,
            Proto::Tcp => ipv4::PROTO_TCP,
            Proto::Udp => ipv4::PROTO_UDP,
        }
    }
}

struct CheckTransport {
    proto: Proto,
    stats: DropStats,
}

fn make(args: &mut Args<'_>, proto: Proto) -> Option<Box<dyn Element>> {
    let verbose = args.read_k::<bool>("VERBOSE").unwrap_or(false);
    let details = args.read_k::<bool>("DETAILS").unwrap_or(false);
    Some(Box::new(CheckTransport {
        proto,
        stats: DropStats::new(3, details, verbose),
    }))
}

fn make_icmp(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(args, Proto::Icmp)
}
fn make_tcp(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(args, Proto::Tcp)
}
fn make_udp(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(args, Proto::Udp)
}

/// Checks one packet; the error is the reason index.
#[inline]
fn check(proto: Proto, p: &Packet) -> Result<(), usize> {
    let n = p.network_offset().ok_or(NOT_PROTO)?;
    let d = p.data();
    let ipb = d.get(n..).ok_or(NOT_PROTO)?;
    if ipb.len() < ipv4::MIN_HEADER_LEN {
        return Err(if ipb.len() > 9 && ipb[9] != proto.number() {
            NOT_PROTO
        } else {
            BAD_LENGTH
        });
    }
    let ip = Ipv4Packet::new_unchecked(ipb);
    if ip.protocol() != proto.number() {
        return Err(NOT_PROTO);
    }
    let hl = ip.header_len();
    let t = p.transport_offset().unwrap_or(n + hl);
    let tp = d.get(t..).ok_or(BAD_LENGTH)?;
    let (src, dst) = (ip.src_bytes(), ip.dst_bytes());
    match proto {
        Proto::Icmp => {
            let len = tp.len();
            if len < icmpv4::HEADER_LEN {
                return Err(BAD_LENGTH);
            }
            let ok = match tp[0] {
                icmpv4::TYPE_UNREACH
                | icmpv4::TYPE_TIME_EXCEEDED
                | icmpv4::TYPE_PARAM_PROBLEM
                | icmpv4::TYPE_SOURCE_QUENCH
                | icmpv4::TYPE_REDIRECT => len >= icmpv4::HEADER_LEN + 28,
                icmpv4::TYPE_TIMESTAMP | icmpv4::TYPE_TIMESTAMP_REPLY => len == 20,
                icmpv4::TYPE_INFO_REQUEST | icmpv4::TYPE_INFO_REPLY => len == icmpv4::HEADER_LEN,
                _ => true,
            };
            if !ok {
                return Err(BAD_LENGTH);
            }
            if checksum::checksum(tp) != 0 {
                return Err(BAD_CHECKSUM);
            }
        }
        Proto::Tcp => {
            let len = usize::from(ip.total_len()).wrapping_sub(hl);
            let thl = tp.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
            if thl < 20 || len < thl || d.len() < len.saturating_add(hl + n) || tp.len() < len {
                return Err(BAD_LENGTH);
            }
            // len <= 65535: it came from a 16-bit field.
            let acc = checksum::pseudo_header_v4(src, dst, ipv4::PROTO_TCP, len as u16);
            if checksum::finish(checksum::sum(acc, &tp[..len])) != 0 {
                return Err(BAD_CHECKSUM);
            }
        }
        Proto::Udp => {
            if tp.len() < 8 {
                return Err(BAD_LENGTH);
            }
            let len = usize::from(u16::from_be_bytes([tp[4], tp[5]]));
            let iplen = usize::from(ip.total_len()).saturating_sub(hl);
            if len < 8 || tp.len() < len || iplen < len {
                return Err(BAD_LENGTH);
            }
            if (tp[6] != 0 || tp[7] != 0) && {
                let acc = checksum::pseudo_header_v4(src, dst, ipv4::PROTO_UDP, len as u16);
                checksum::finish(checksum::sum(acc, &tp[..len])) != 0
            } {
                return Err(BAD_CHECKSUM);
            }
        }
    }
    Ok(())
}

impl Element for CheckTransport {
    fn effects(&self) -> Effects {
        if self.stats.verbose {
            Effects::Global
        } else {
            Effects::Local
        }
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let proto = self.proto;
        let stats = &mut self.stats;
        let mut report = None;
        push_each(ctx, batch, |p| match check(proto, p) {
            Ok(()) => Verdict::Out(0),
            Err(r) => {
                if stats.count(r) && report.is_none() {
                    report = Some(r);
                }
                Verdict::Out(1)
            }
        });
        if let Some(r) = report {
            report_drop(ctx, proto.what(), proto.reasons()[r]);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "drops" => Some(self.stats.drops.to_string()),
            "drop_details" if self.stats.details => {
                Some(self.stats.details_text(self.proto.reasons()))
            }
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const BASIC: &[Handler] = &[Handler::read("drops")];
        const DETAILED: &[Handler] = &[Handler::read("drops"), Handler::read("drop_details")];
        if self.stats.details {
            DETAILED
        } else {
            BASIC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{icmp_echo_frame, tcp_frame, udp_frame, Harness};
    use alloc::vec::Vec;

    fn run(h: &mut Harness, frame: &[u8]) -> usize {
        let mut p = h.pool.alloc_from(frame).unwrap();
        p.set_network_offset(14);
        p.set_transport_offset(14 + usize::from(frame[14] & 0xf) * 4);
        let out = h.run_packets(alloc::vec![p]);
        out.iter().position(|o| !o.is_empty()).unwrap_or(usize::MAX)
    }

    fn corrupt(f: &[u8], at: usize) -> Vec<u8> {
        let mut v = f.to_vec();
        v[at] ^= 0x10;
        v
    }

    #[test]
    fn tcp() {
        let f = tcp_frame(b"data");
        let mut h = Harness::new("CheckTCPHeader", "DETAILS true", 2).unwrap();
        assert_eq!(run(&mut h, &f), 0);
        assert_eq!(run(&mut h, &udp_frame(b"")), 1);
        assert_eq!(run(&mut h, &corrupt(&f, f.len() - 1)), 1);
        let mut short = f.clone();
        short[34 + 12] = 0x40;
        assert_eq!(run(&mut h, &short), 1);
        assert_eq!(run(&mut h, &f[..f.len() - 1]), 1);
        assert_eq!(
            h.read("drop_details"),
            "1\tnot TCP\n2\tbad packet length\n1\tbad TCP checksum\n"
        );
        assert_eq!(h.lines(), ["e: TCP header check failed: not TCP"]);
        // Unannotated: not TCP.
        assert_eq!(h.one(&f).unwrap().0, 1);
    }

    #[test]
    fn udp() {
        let f = udp_frame(b"data");
        let mut h = Harness::new("CheckUDPHeader", "", 2).unwrap();
        assert_eq!(run(&mut h, &f), 0);
        assert_eq!(run(&mut h, &corrupt(&f, f.len() - 1)), 1);
        let mut nosum = corrupt(&f, f.len() - 1);
        nosum[40] = 0;
        nosum[41] = 0;
        assert_eq!(run(&mut h, &nosum), 0);
        let mut long = f.clone();
        long[39] += 1;
        assert_eq!(run(&mut h, &long), 1);
        assert_eq!(h.read("drops"), "2");
    }

    #[test]
    fn icmp() {
        let f = icmp_echo_frame(b"ping");
        let mut h = Harness::new("CheckICMPHeader", "VERBOSE true", 2).unwrap();
        assert_eq!(run(&mut h, &f), 0);
        assert_eq!(run(&mut h, &corrupt(&f, f.len() - 1)), 1);
        assert_eq!(run(&mut h, &f[..34 + 7]), 1);
        // An unreachable without the quoted header is too short.
        let mut u = f.clone();
        u[34] = 3;
        assert_eq!(run(&mut h, &u), 1);
        assert_eq!(h.lines().len(), 3);
    }
}
