//! `IPPrint([LABEL, keywords CONTENTS, PAYLOAD, MAXLENGTH, ID, TTL, TOS, LENGTH, TIMESTAMP, PAINT, AGGREGATE, SWAP, ACTIVE, CHANNEL])` — prints one line per IP packet, tcpdump style.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Packets pass unchanged. Packets without a network header annotation are not printed.
//!
//! A line is `LABEL: TIMESTAMP: [#AGG][paint P: ][id I ][ttl T ][tos S ][length L ]SUMMARY`
//! followed by a fragment note `(frag ID:LEN@OFFSET[+])` for fragments, and by a hex or ASCII
//! dump when CONTENTS or PAYLOAD ask for one. Summaries:
//!
//! - TCP: `1.2.3.4.5 > 5.6.7.8.80: S 0:1(1,40,40) win 65535` — flags (`S`, `F`, `R`, `P`,
//!   or `.` when none of them), `seq:seq+seqlen(seqlen,packet length,IP length)`, ` ack N`
//!   when ACK is set, ` win W`;
//! - UDP: `1.2.3.4.5 > 5.6.7.8.53: udp 13` (the UDP length);
//! - ICMP: `1.2.3.4 > 5.6.7.8: icmp echo (id, seq)`, `icmp echo-reply (id, seq)`,
//!   `icmp 9.9.9.9 unreachable port udp/53`, `icmp timeexceeded transit`, ...;
//! - other protocols: `1.2.3.4 > 5.6.7.8: ip-proto-N`.
//!
//! Short packets print `truncated-ip`, `truncated-tcp`, `truncated-udp` or `truncated-icmp`
//! where the header ends; non-first fragments print only `tcp`/`udp`/`icmp`.
//!
//! **Keywords:**
//!
//! - `CONTENTS`: `false`/`NONE` (default), `true`/`HEX`, or `ASCII`: dump the packet data.
//! - `PAYLOAD`: `false` (default), `true`/`HEX`, or `ASCII`: dump the transport payload
//!   instead. At most one of CONTENTS and PAYLOAD.
//! - `MAXLENGTH` (or `NBYTES`): most bytes dumped; default 1500.
//! - `ID`, `TTL`, `TOS`, `LENGTH`: print those IP fields; default false.
//! - `TIMESTAMP`: print the timestamp annotation as seconds.microseconds (seconds.nanoseconds
//!   when it does not fall on a whole microsecond, as Click prints it); default true.
//! - `PAINT`, `AGGREGATE`: print those annotations; default false.
//! - `SWAP`: print ICMP echo identifier and sequence in network byte order; default true.
//! - `ACTIVE`: print at all; default true.
//! - `CHANNEL`: accepted for compatibility; every line goes to the router's console.
//!
//! **Handlers:** `active` (rw).
//!
//! **Example:** `IPPrint(in, TTL true)`
//!
//! **Differences from Click:** no `OUTFILE`; a label that is a single upper-case word must be
//! given as `LABEL WORD`. Printing formats a line per packet: IPPrint is a debugging element
//! and does not belong on a fast path.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write as _;
use core::net::Ipv4Addr;

use etherparse::UdpHeaderSlice;
use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass, Packet};

use super::common::{LinePrinter, PacketLine};
use crate::wire::{icmpv4, ipv4, Ipv4Packet};

/// `IPPrint`.
pub static IPPrint: ElementClass = ElementClass {
    name: "IPPrint",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dump {
    None,
    Hex,
    Ascii,
}

struct Printer {
    label: String,
    dump: Dump,
    payload: bool,
    max: usize,
    id: bool,
    ttl: bool,
    tos: bool,
    len: bool,
    timestamp: bool,
    paint: bool,
    aggregate: bool,
    swap: bool,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let label = args.read_p::<String>("LABEL").unwrap_or_default();
    let contents = args
        .read_k::<String>("CONTENTS")
        .unwrap_or_else(|| "false".into());
    let payload = args
        .read_k::<String>("PAYLOAD")
        .unwrap_or_else(|| "false".into());
    let max = args
        .read_k::<usize>("MAXLENGTH")
        .or(args.read_k::<usize>("NBYTES"))
        .unwrap_or(1500);
    let mut p = Printer {
        label,
        dump: Dump::None,
        payload: false,
        max,
        id: args.read_k("ID").unwrap_or(false),
        timestamp: args.read_k("TIMESTAMP").unwrap_or(true),
        paint: args.read_k("PAINT").unwrap_or(false),
        tos: args.read_k("TOS").unwrap_or(false),
        ttl: args.read_k("TTL").unwrap_or(false),
        swap: args.read_k("SWAP").unwrap_or(true),
        len: args.read_k("LENGTH").unwrap_or(false),
        aggregate: args.read_k("AGGREGATE").unwrap_or(false),
    };
    let active = args.read_k("ACTIVE").unwrap_or(true);
    let _ = args.read_k::<String>("CHANNEL");
    p.dump = match contents.to_ascii_uppercase().as_str() {
        "FALSE" | "NO" | "0" | "F" | "N" | "NONE" => Dump::None,
        "TRUE" | "YES" | "1" | "T" | "Y" | "HEX" => Dump::Hex,
        "ASCII" => Dump::Ascii,
        _ => {
            args.error_whole(alloc::format!(
                "bad contents value '{contents}'; should be 'NONE', 'HEX', or 'ASCII'"
            ));
            return None;
        }
    };
    let pd = match payload.to_ascii_uppercase().as_str() {
        "NO" | "FALSE" => Dump::None,
        "YES" | "TRUE" | "HEX" => Dump::Hex,
        "ASCII" => Dump::Ascii,
        _ => {
            args.error_whole(alloc::format!(
                "bad payload value '{payload}'; should be 'false', 'hex', or 'ascii'"
            ));
            return None;
        }
    };
    if pd != Dump::None && p.dump != Dump::None {
        args.error_whole("specify at most one of PAYLOAD and CONTENTS");
        return None;
    } else if pd != Dump::None {
        p.dump = pd;
        p.payload = true;
    }
    Some(Box::new(LinePrinter { format: p, active }))
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn icmp_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "echo-reply",
        3 => "unreachable",
        4 => "sourcequench",
        5 => "redirect",
        8 => "echo",
        9 => "routeradvert",
        10 => "routersolicit",
        11 => "timeexceeded",
        12 => "parameterproblem",
        13 => "timestamp",
        14 => "timestamp-reply",
        15 => "inforeq",
        16 => "inforeq-reply",
        17 => "maskreq",
        18 => "maskreq-reply",
        _ => return None,
    })
}

fn icmp_code_name(t: u8, c: u8) -> Option<&'static str> {
    const UNREACH: [&str; 16] = [
        "net",
        "host",
        "protocol",
        "port",
        "needfrag",
        "srcroutefail",
        "netunknown",
        "hostunknown",
        "isolated",
        "netprohibited",
        "hostprohibited",
        "tosnet",
        "toshost",
        "filterprohibited",
        "hostprecedence",
        "precedencecutoff",
    ];
    let table: &[&str] = match t {
        3 => &UNREACH,
        5 => &["net", "host", "tosnet", "toshost"],
        11 => &["transit", "reassembly"],
        12 => &["erroratptr", "missingopt", "length"],
        _ => return None,
    };
    table.get(usize::from(c)).copied()
}

fn proto_name(p: u8, prepend: bool) -> String {
    match p {
        1 => "icmp".into(),
        2 => "igmp".into(),
        4 => "ipip".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        _ if prepend => alloc::format!("protocol {p}"),
        _ => alloc::format!("{p}"),
    }
}

impl PacketLine for Printer {
    fn line(&self, p: &Packet) -> Option<String> {
        Printer::line(self, p)
    }
}

impl Printer {
    /// The line for packet `p`, or `None` when it has no network header.
    fn line(&self, p: &Packet) -> Option<String> {
        let n = p.network_offset()?;
        let data = p.data();
        let mut s = String::new();
        if !self.label.is_empty() {
            let _ = write!(s, "{}: ", self.label);
        }
        if self.timestamp {
            let ts = p.anno().timestamp_ns;
            let _ = write!(s, "{}: ", sluice_dataplane::Timestamp(ts));
        }
        if self.aggregate {
            let _ = write!(s, "#{}", p.anno().aggregate);
        }
        if self.paint {
            let _ = write!(
                s,
                "{}{}",
                if self.aggregate { "." } else { "paint " },
                p.anno().paint
            );
        }
        if self.aggregate || self.paint {
            s.push_str(": ");
        }
        let ipb = data.get(n..).unwrap_or(&[]);
        if ipb.len() < ipv4::MIN_HEADER_LEN {
            s.push_str("truncated-ip");
            return Some(s);
        }
        // Lines are printed for partial and odd headers too (short options, a bad
        // version or IHL), so the IP and TCP fields are read byte by byte rather
        // than through etherparse's slices, which reject such headers.
        let ip = Ipv4Packet::new_unchecked(ipb);
        let ip_len = usize::from(ip.total_len());
        let hl = ip.header_len();
        let payload_len = ip_len as isize - hl as isize;
        let t = p.transport_offset().unwrap_or(n + hl);
        let tp = data.get(t..).unwrap_or(&[]);
        let tlen = (tp.len() as isize).min(payload_len);
        let tp = &tp[..tlen.clamp(0, tp.len() as isize) as usize];
        if self.id {
            let _ = write!(s, "id {} ", ip.ident());
        }
        if self.ttl {
            let _ = write!(s, "ttl {} ", ip.ttl());
        }
        if self.tos {
            let _ = write!(s, "tos {} ", ip.tos());
        }
        if self.len {
            let _ = write!(s, "length {ip_len} ");
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let first = ip.flags_frag() & ipv4::OFFSET_MASK == 0;
        match ip.protocol() {
            ipv4::PROTO_TCP => tcp_line(&mut s, src, dst, tp, tlen, first, ip_len, hl, data.len()),
            ipv4::PROTO_UDP => udp_line(&mut s, src, dst, tp, tlen, first),
            ipv4::PROTO_ICMP => self.icmp_line(&mut s, src, dst, tp, tlen, first),
            other => {
                let _ = write!(s, "{src} > {dst}: ip-proto-{other}");
            }
        }
        if ip.is_fragment() {
            let _ = write!(
                s,
                " (frag {}:{}@{}{})",
                ip.ident(),
                payload_len,
                ip.frag_offset(),
                if ip.more_frags() { "+" } else { "" }
            );
        }
        if self.dump != Dump::None {
            let from = if self.payload {
                let skip = match ip.protocol() {
                    ipv4::PROTO_TCP if first => tp.get(12).map_or(0, |b| usize::from(b >> 4) * 4),
                    ipv4::PROTO_UDP if first => 8,
                    _ => 0,
                };
                t.saturating_add(skip)
            } else {
                0
            };
            let bytes = data.get(from..).unwrap_or(&[]);
            let bytes = &bytes[..bytes.len().min(self.max)];
            for (i, b) in bytes.iter().enumerate() {
                match self.dump {
                    Dump::Hex => {
                        if i % 24 == 0 {
                            s.push_str("\n  ");
                        } else if i % 4 == 0 {
                            s.push(' ');
                        }
                        let _ = write!(s, "{b:02x}");
                    }
                    _ => {
                        if i % 48 == 0 {
                            s.push_str("\n  ");
                        } else if i % 8 == 0 {
                            s.push(' ');
                        }
                        s.push(if (32..=126).contains(b) {
                            char::from(*b)
                        } else {
                            '.'
                        });
                    }
                }
            }
        }
        Some(s)
    }

    fn icmp_line(
        &self,
        s: &mut String,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tp: &[u8],
        tlen: isize,
        first: bool,
    ) {
        let _ = write!(s, "{src} > {dst}: ");
        if !first {
            s.push_str("icmp");
            return;
        }
        if tlen < 2 {
            s.push_str("truncated-icmp");
            return;
        }
        let (ty, code) = (tp[0], tp[1]);
        match ty {
            icmpv4::TYPE_ECHO | icmpv4::TYPE_ECHO_REPLY => {
                s.push_str(if ty == icmpv4::TYPE_ECHO {
                    "icmp echo "
                } else {
                    "icmp echo-reply "
                });
                if tlen < 8 {
                    s.push_str("truncated-icmp");
                    return;
                }
                let (id, seq) = if self.swap {
                    (be16(tp, 4), be16(tp, 6))
                } else {
                    (
                        u16::from_le_bytes([tp[4], tp[5]]),
                        u16::from_le_bytes([tp[6], tp[7]]),
                    )
                };
                let _ = write!(s, "({id}, {seq})");
            }
            icmpv4::TYPE_UNREACH => {
                let code_s = icmp_code_name(ty, code)
                    .map_or_else(|| alloc::format!("code {code}"), String::from);
                let eip = tp.get(8..).unwrap_or(&[]);
                if eip.len() < 20 {
                    let _ = write!(s, "icmp unreachable {code_s} truncated-icmp");
                    return;
                }
                let e = Ipv4Packet::new_unchecked(eip);
                let _ = write!(s, "icmp {} unreachable {code_s}", e.dst_addr());
                match code {
                    2 => {
                        let _ = write!(s, " {}", proto_name(e.protocol(), false));
                    }
                    3 => {
                        let _ = write!(s, " {}", proto_name(e.protocol(), true));
                        match eip.get(e.header_len() + 2..e.header_len() + 4) {
                            Some(port) => {
                                let _ = write!(s, "/{}", be16(port, 0));
                            }
                            None => s.push_str("truncated-icmp"),
                        }
                    }
                    4 => {
                        let mtu = be16(tp, 6);
                        if mtu != 0 {
                            let _ = write!(s, " (mtu {mtu})");
                        }
                    }
                    _ => {}
                }
            }
            _ => {
                s.push_str("icmp ");
                match icmp_type_name(ty) {
                    Some(n) => s.push_str(n),
                    None => {
                        let _ = write!(s, "type {ty}");
                    }
                }
                match icmp_code_name(ty, code) {
                    Some(c) => {
                        let _ = write!(s, " {c}");
                    }
                    None if code != 0 => {
                        let _ = write!(s, " code {code}");
                    }
                    None => {}
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp_line(
    s: &mut String,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tp: &[u8],
    tlen: isize,
    first: bool,
    ip_len: usize,
    hl: usize,
    plen: usize,
) {
    if tlen < 4 || !first {
        let _ = write!(
            s,
            "{src} > {dst}: {}",
            if first { "truncated-tcp" } else { "tcp" }
        );
        return;
    }
    let _ = write!(s, "{src}.{} > {dst}.{}: ", be16(tp, 0), be16(tp, 2));
    if tlen < 14 {
        s.push_str("truncated-tcp");
        return;
    }
    let flags = tp[13];
    let mut seqlen = ip_len as i64 - hl as i64 - i64::from(tp[12] >> 4) * 4;
    if flags & 0x02 != 0 {
        s.push('S');
        seqlen += 1;
    }
    if flags & 0x01 != 0 {
        s.push('F');
        seqlen += 1;
    }
    if flags & 0x04 != 0 {
        s.push('R');
    }
    if flags & 0x08 != 0 {
        s.push('P');
    }
    if flags & 0x0f == 0 {
        s.push('.');
    }
    let seq = u32::from_be_bytes([tp[4], tp[5], tp[6], tp[7]]);
    let end = (i64::from(seq) + seqlen) as u32;
    let _ = write!(s, " {seq}:{end}({seqlen},{plen},{ip_len})");
    if flags & 0x10 != 0 {
        let _ = write!(
            s,
            " ack {}",
            u32::from_be_bytes([tp[8], tp[9], tp[10], tp[11]])
        );
    }
    if tlen < 16 {
        s.push_str("truncated-tcp");
        return;
    }
    let _ = write!(s, " win {}", be16(tp, 14));
}

fn udp_line(s: &mut String, src: Ipv4Addr, dst: Ipv4Addr, tp: &[u8], tlen: isize, first: bool) {
    if tlen < 4 || !first {
        let _ = write!(
            s,
            "{src} > {dst}: {}",
            if first { "truncated-udp" } else { "udp" }
        );
        return;
    }
    let _ = write!(s, "{src}.{} > {dst}.{}: ", be16(tp, 0), be16(tp, 2));
    // `tp` holds exactly the transport bytes inside the IP length, so the slice
    // exists exactly when the whole 8-byte UDP header does.
    match UdpHeaderSlice::from_slice(tp) {
        Ok(udp) => {
            let _ = write!(s, "udp {}", udp.length());
        }
        Err(_) => s.push_str("truncated-udp"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{icmp_echo_frame, tcp_frame, udp_frame, Harness};
    use alloc::string::String;
    use alloc::vec::Vec;

    fn print(config: &str, frame: &[u8]) -> Vec<String> {
        let mut h = Harness::new("IPPrint", config, 1).unwrap();
        let mut p = h.pool.alloc_from(frame).unwrap();
        p.set_network_offset(14);
        p.set_transport_offset(14 + usize::from(frame[14] & 0xf) * 4);
        p.anno_mut().timestamp_ns = 1_500_000_000;
        let out = h.run_packets(alloc::vec![p]);
        assert_eq!(out[0][0].data, frame);
        h.lines()
    }

    #[test]
    fn tcp_udp_icmp_summaries() {
        assert_eq!(
            print("label", &tcp_frame(b"")),
            ["label: 1.500000: 1.2.3.4.5 > 5.6.7.8.80: S 0:1(1,54,40) win 65535"]
        );
        assert_eq!(
            print("TIMESTAMP false", &udp_frame(b"hello")),
            ["10.0.0.1.1234 > 10.0.0.2.53: udp 13"]
        );
        assert_eq!(
            print("TIMESTAMP false, TTL true", &icmp_echo_frame(b"x")),
            ["ttl 64 10.0.0.1 > 10.0.0.2: icmp echo (4660, 7)"]
        );
    }

    #[test]
    fn truncation_and_contents() {
        let f = udp_frame(b"");
        assert_eq!(print("TIMESTAMP false", &f[..14 + 19]), ["truncated-ip"]);
        let mut short = f[..14 + 20 + 6].to_vec();
        short[17] = 26;
        assert_eq!(
            print("TIMESTAMP false", &short),
            ["10.0.0.1.1234 > 10.0.0.2.53: truncated-udp"]
        );
        let lines = print("TIMESTAMP false, PAYLOAD ascii", &udp_frame(b"hi\x01"));
        assert_eq!(lines, ["10.0.0.1.1234 > 10.0.0.2.53: udp 11\n  hi."]);
        let lines = print("TIMESTAMP false, CONTENTS hex, MAXLENGTH 6", &f);
        assert_eq!(
            lines,
            ["10.0.0.1.1234 > 10.0.0.2.53: udp 8\n  02000000 0002"]
        );
    }

    #[test]
    fn udp_header_boundary() {
        // IP length cut to 7 and then 8 UDP bytes: the length field needs the whole header.
        let f = udp_frame(b"");
        for (ulen, want) in [
            (7u8, "10.0.0.1.1234 > 10.0.0.2.53: truncated-udp"),
            (8, "10.0.0.1.1234 > 10.0.0.2.53: udp 8"),
        ] {
            let mut short = f[..14 + 20 + usize::from(ulen)].to_vec();
            short[17] = 20 + ulen;
            assert_eq!(print("TIMESTAMP false", &short), [want]);
        }
    }

    #[test]
    fn icmp_unreachable() {
        let inner = &udp_frame(b"")[14..];
        let mut icmp = alloc::vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner[..28]);
        let b = etherparse::PacketBuilder::ethernet2([0; 6], [0; 6]).ipv4(
            [9, 9, 9, 9],
            [10, 0, 0, 1],
            64,
        );
        let mut v = Vec::new();
        // Raw ICMP payload after an IP header with protocol 1.
        b.write(&mut v, etherparse::IpNumber(1), &icmp).unwrap();
        assert_eq!(
            print("TIMESTAMP false", &v),
            ["9.9.9.9 > 10.0.0.1: icmp 10.0.0.2 unreachable port udp/53"]
        );
    }
}
