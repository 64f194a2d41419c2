//! `FromIPSummaryDump(FILENAME [, keywords])` — makes IP packets from lines of text (Click's ipsumdump format).
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! A source that reads an ipsumdump file, the format Click's own regression tests use for
//! traces, and makes one IPv4 packet per line (no link header; IP and transport header
//! annotations set, the destination address annotation too): TTL 100 and the `PROTO`
//! protocol (default TCP) unless the line says otherwise, a TCP, UDP or ICMP header for a
//! first fragment, the payload, then zeros up to `ip_len` when `CHECKSUM` is set; without
//! `CHECKSUM` (the default) checksums stay zero and bytes beyond what the line describes are
//! counted in the extra length annotation. With a push output a task sends one packet per
//! run, so two sources take turns as in Click; with a pull output packets are read as they
//! are pulled, and the element reports whether it may have more (Click's empty notifier:
//! active while it is active and the file has not ended).
//!
//! A file is lines of whitespace-separated fields. A line `!data FIELD...` (or
//! `!contents FIELD...`) names the fields of the lines after it; other lines starting with
//! `!`, and lines starting with `#`, are comments; `-` is a field left out. The fields (`ToIPSummaryDump` knows the same):
//!
//! | field | value |
//! |---|---|
//! | `timestamp` (`ts`), `ts_sec`, `ts_usec` | the timestamp annotation, `sec.frac` |
//! | `src`/`ip_src`, `dst`/`ip_dst` | IP addresses |
//! | `sport`, `dport` | TCP or UDP ports |
//! | `proto`/`ip_proto` | `T`, `U`, `I` or a protocol number |
//! | `ip_len` (`len`, `length`) | the IP total length |
//! | `ip_id`, `ip_ttl`, `ip_tos`, `ip_hl` | IP header fields (`ip_hl` in bytes) |
//! | `ip_dscp`, `ip_ecn` | the TOS byte's parts (`ip_ecn`: `no`, `ect1`, `ect2`, `ce`) |
//! | `tcp_seq`, `tcp_ack`, `tcp_win`, `tcp_urp` | TCP header fields |
//! | `tcp_flags` | TCP flags, letters of `FSRPAUECN` (`.` none), or a number |
//! | `icmp_type`, `icmp_type_name`, `icmp_code` | ICMP header fields (the type by name, `echo`) |
//! | `icmp_flowid`, `icmp_seq` | an echo's identifier and sequence number |
//! | `ip_opt` | IP options: `rr{A,...}`, `ssrr{A,...}`, `lsrr{A,...}` (`^` marks the pointer; `+N` adds N free slots), `nop`, `eol`, others as `KIND=B:B...`; `.` is none |
//! | `tcp_opt` | TCP options: `mssN`, `wscaleN`, `sackok`, `sackL-R` (blocks joined by `,sack` share an option), `tsA:B`, `nop`, `eol`, others as `KIND=B:B...`, separated by `;`; `.` is none |
//! | `tcp_off` | the TCP header length in bytes (read: rounded up to 4, options bytes 0) |
//! | `ip_capture_len` | the bytes the packet holds (written only) |
//! | `payload` | the bytes after the TCP or UDP header (for other protocols, after the IP header), a double-quoted string |
//! | `payload_len` | the payload's length |
//! | `link`, `direction` | the paint annotation (`direction` writes 0 as `>`, 1 as `<`) |
//! | `aggregate` | the aggregate annotation |
//!
//! **Keywords:**
//!
//! - `STOP` — stop the router at the end of the file.
//! - `ACTIVE` — boolean; when false, make no packets until the `active` handler is set true.
//! - `CHECKSUM` — boolean; fill in checksums and pad to `ip_len`. Default false.
//! - `PROTO` — the protocol of lines without a `proto` field; default TCP.
//! - `FIELDS`/`CONTENTS` — the fields of lines before any `!data`.
//! - `DATA` — the text to read, instead of a `FILENAME`.
//! - `TIMING` — send packets with their timestamps' spacing, the first at once.
//! - `ZERO` — accepted: bytes a line leaves out are always zero.
//!
//! **Handlers:** `count` (r: packets made), `active` (rw).
//!
//! **Differences from Click:** binary dumps, `MULTIPACKET`, `SAMPLE`, `FLOWID` and the other
//! rarely used fields are not supported (an unknown field is a configuration error naming
//! it); an IP timestamp option is written in the generic `68=B:B...` form and read only in
//! it.
//!
//! ## `ToIPSummaryDump(FILENAME [, keywords])` — writes IP packets as lines of text (Click's ipsumdump format).
//!
//! **Ports:** `1/0-1`: one input, no output or one.
//!
//! **Processing:** `a/h`: agnostic input, push output.
//!
//! Writes a header (`!IPSummaryDump 1.3`, `!data` with the fields) and one line per packet,
//! passing packets on when it has an output. The fields are those `FromIPSummaryDump` reads
//! (see its manual).
//!
//! **Keywords:**
//!
//! - `FIELDS`/`CONTENTS` — the fields to write; required.
//! - `BANNER` — text for a `!creator` comment.
//!
//! **Handlers:** `count` (r: packets written).
//!
//! **Differences from Click:** binary dumps, `MULTIPACKET`, `SAMPLE`, `FLOWID` and the other
//! rarely used fields are not supported (an unknown field is a configuration error naming
//! it); an IP timestamp option is written in the generic `68=B:B...` form and read only in
//! it.

use std::boxed::Box;
use std::io::{BufRead, BufReader, Write};
use std::string::{String, ToString};
use std::vec::Vec;

use sluice_config::args::{quote, unquote_bytes, Args};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, InitContext, Notifier,
    NotifierKind, Packet, TaskStatus, BATCH_MAX,
};

use crate::wire::checksum;

/// `FromIPSummaryDump`.
#[allow(non_upper_case_globals)]
pub static FromIPSummaryDump: ElementClass = ElementClass {
    name: "FromIPSummaryDump",
    ports: "0/1",
    processing: "a",
    make: make_from,
    names: None,
};

/// `ToIPSummaryDump`.
#[allow(non_upper_case_globals)]
pub static ToIPSummaryDump: ElementClass = ElementClass {
    name: "ToIPSummaryDump",
    ports: "1/0-1",
    processing: "a/h",
    make: make_to,
    names: None,
};

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Timestamp,
    TsSec,
    TsUsec,
    Src,
    Dst,
    Sport,
    Dport,
    Proto,
    IpLen,
    IpId,
    IpTtl,
    IpTos,
    IpDscp,
    IpEcn,
    IpHl,
    TcpSeq,
    TcpAck,
    TcpFlags,
    TcpWin,
    TcpUrp,
    IcmpType,
    IcmpTypeName,
    IcmpCode,
    TcpOff,
    CaptureLen,
    IpOpt,
    TcpOpt,
    IcmpFlowid,
    IcmpSeq,
    Payload,
    PayloadLen,
    Link,
    Direction,
    Aggregate,
}

fn field(name: &str) -> Option<Field> {
    use Field::*;
    Some(match name {
        "timestamp" | "ts" => Timestamp,
        "ts_sec" | "sec" => TsSec,
        "ts_usec" | "usec" => TsUsec,
        "src" | "ip_src" => Src,
        "dst" | "ip_dst" => Dst,
        "sport" => Sport,
        "dport" => Dport,
        "proto" | "ip_proto" => Proto,
        "ip_len" | "len" | "length" => IpLen,
        "ip_id" => IpId,
        "ip_ttl" => IpTtl,
        "ip_tos" => IpTos,
        "ip_dscp" => IpDscp,
        "ip_ecn" => IpEcn,
        "ip_hl" => IpHl,
        "tcp_seq" => TcpSeq,
        "tcp_ack" => TcpAck,
        "tcp_flags" => TcpFlags,
        "tcp_win" | "tcp_window" => TcpWin,
        "tcp_urp" => TcpUrp,
        "icmp_type" => IcmpType,
        "icmp_type_name" => IcmpTypeName,
        "tcp_off" => TcpOff,
        "ip_opt" => IpOpt,
        "tcp_opt" => TcpOpt,
        "icmp_flowid" | "icmp_id" => IcmpFlowid,
        "icmp_seq" => IcmpSeq,
        "ip_capture_len" | "capture_len" => CaptureLen,
        "icmp_code" => IcmpCode,
        "payload" => Payload,
        "payload_len" | "payload_length" => PayloadLen,
        "link" | "paint" => Link,
        "direction" => Direction,
        "aggregate" | "agg" => Aggregate,
        _ => return None,
    })
}

/// The name Click writes in a `!data` line for a field.
fn canonical(f: Field) -> &'static str {
    use Field::*;
    match f {
        Timestamp => "timestamp",
        TsSec => "ts_sec",
        TsUsec => "ts_usec",
        Src => "ip_src",
        Dst => "ip_dst",
        Sport => "sport",
        Dport => "dport",
        Proto => "ip_proto",
        IpLen => "ip_len",
        IpId => "ip_id",
        IpTtl => "ip_ttl",
        IpTos => "ip_tos",
        IpDscp => "ip_dscp",
        IpEcn => "ip_ecn",
        IpHl => "ip_hl",
        TcpSeq => "tcp_seq",
        TcpAck => "tcp_ack",
        TcpFlags => "tcp_flags",
        TcpWin => "tcp_window",
        TcpUrp => "tcp_urp",
        IcmpType => "icmp_type",
        IcmpTypeName => "icmp_type_name",
        IcmpCode => "icmp_code",
        TcpOff => "tcp_off",
        IpOpt => "ip_opt",
        TcpOpt => "tcp_opt",
        IcmpFlowid => "icmp_flowid",
        IcmpSeq => "icmp_seq",
        CaptureLen => "ip_capture_len",
        Payload => "payload",
        PayloadLen => "payload_len",
        Link => "link",
        Direction => "direction",
        Aggregate => "aggregate",
    }
}

/// Click's unquoting of a double-quoted payload: `\\`, `\"`, `\$`, `\t`, `\r`, `\n`, `\a`-style
/// C escapes, octal `\ooo`, `\xHH` and `\<hex digits>`.
fn unquote_payload(w: &str) -> Option<Vec<u8>> {
    let inner = w.strip_prefix('"')?.strip_suffix('"')?;
    let b = inner.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(b.len()), 0);
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b[i] {
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = 0u32;
                let start = i;
                while i < b.len() && i < start + 3 && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                }
                out.push(v as u8);
                continue;
            }
            b'x' => {
                let hex: String = inner[i + 1..]
                    .chars()
                    .take(2)
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
                i += 1 + hex.len();
                continue;
            }
            b'<' => {
                let end = inner[i..].find('>')? + i;
                let hex: String = inner[i + 1..end]
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                if !hex.len().is_multiple_of(2) {
                    return None;
                }
                for k in (0..hex.len()).step_by(2) {
                    out.push(u8::from_str_radix(&hex[k..k + 2], 16).ok()?);
                }
                i = end + 1;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

fn fields(text: &str) -> Result<Vec<Field>, String> {
    text.split_whitespace()
        .map(|w| field(w).ok_or_else(|| format!("unknown field '{w}'")))
        .collect()
}

/// Click's TCP flag letters, bit 0 first.
const TCP_FLAGS: &[u8; 9] = b"FSRPAUECN";

/// Splits a line into words, keeping double-quoted strings (with their escapes) whole.
fn words(line: &str) -> Vec<&str> {
    let b = line.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            if b[i] == b'"' {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            i += 1;
        }
        if i > start {
            out.push(&line[start..i.min(b.len())]);
        }
    }
    out
}

/// What one line describes.
#[derive(Default)]
struct Line {
    ts: Option<u64>,
    ts_sec: Option<u64>,
    ts_usec: Option<u64>,
    src: Option<[u8; 4]>,
    dst: Option<[u8; 4]>,
    sport: Option<u16>,
    dport: Option<u16>,
    proto: Option<u8>,
    ip_len: Option<u16>,
    ip_id: Option<u16>,
    ip_ttl: Option<u8>,
    ip_tos: Option<u8>,
    ip_dscp: Option<u8>,
    ip_ecn: Option<u8>,
    ip_hl: Option<usize>,
    tcp_off: Option<usize>,
    ip_opt: Option<Vec<u8>>,
    tcp_opt: Option<Vec<u8>>,
    tcp_seq: Option<u32>,
    tcp_ack: Option<u32>,
    tcp_flags: Option<u16>,
    tcp_win: Option<u16>,
    tcp_urp: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    icmp_id: Option<u16>,
    icmp_seq: Option<u16>,
    payload: Option<Vec<u8>>,
    payload_len: Option<usize>,
    paint: Option<u8>,
    aggregate: Option<u32>,
}

fn parse_tcp_flags(w: &str) -> Option<u16> {
    if let Ok(n) = w.parse::<u16>() {
        return Some(n);
    }
    if w == "." {
        return Some(0);
    }
    w.bytes().try_fold(0u16, |acc, c| {
        let bit = TCP_FLAGS
            .iter()
            .position(|&f| f == c.to_ascii_uppercase())?;
        Some(acc | 1 << bit)
    })
}

fn parse_time(w: &str) -> Option<u64> {
    let (s, frac) = w.split_once('.').unwrap_or((w, ""));
    // `.5` is half a second, as Click reads it.
    let sec: u64 = if s.is_empty() && !frac.is_empty() {
        0
    } else {
        s.parse().ok()?
    };
    if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let ns: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
    };
    Some(sec * 1_000_000_000 + ns)
}

impl Line {
    fn set(&mut self, f: Field, w: &str) -> Option<()> {
        use Field::*;
        let ip = |w: &str| w.parse::<core::net::Ipv4Addr>().ok().map(|a| a.octets());
        match f {
            Timestamp => self.ts = Some(parse_time(w)?),
            TsSec => self.ts_sec = Some(w.parse().ok()?),
            TsUsec => self.ts_usec = Some(w.parse().ok()?),
            Src => self.src = Some(ip(w)?),
            Dst => self.dst = Some(ip(w)?),
            Sport => self.sport = Some(w.parse().ok()?),
            Dport => self.dport = Some(w.parse().ok()?),
            Proto => {
                self.proto = Some(match w {
                    "T" => PROTO_TCP,
                    "U" => PROTO_UDP,
                    "I" => PROTO_ICMP,
                    _ => w.parse().ok()?,
                })
            }
            IpLen => self.ip_len = Some(w.parse().ok()?),
            IpId => self.ip_id = Some(w.parse().ok()?),
            IpTtl => self.ip_ttl = Some(w.parse().ok()?),
            IpTos => self.ip_tos = Some(w.parse().ok()?),
            IpDscp => self.ip_dscp = Some(w.parse::<u8>().ok().filter(|d| *d < 64)?),
            IpEcn => {
                self.ip_ecn = Some(match w {
                    "0" | "1" | "2" | "3" => w.parse().ok()?,
                    "no" | "-" => 0,
                    "ect1" | "ECT(1)" => 1,
                    "ect2" | "ECT(0)" => 2,
                    "ce" | "CE" => 3,
                    _ => return None,
                })
            }
            IpHl => self.ip_hl = Some(w.parse().ok()?),
            TcpSeq => self.tcp_seq = Some(w.parse().ok()?),
            TcpAck => self.tcp_ack = Some(w.parse().ok()?),
            TcpFlags => self.tcp_flags = Some(parse_tcp_flags(w)?),
            TcpWin => self.tcp_win = Some(w.parse().ok()?),
            TcpUrp => self.tcp_urp = Some(w.parse().ok()?),
            IcmpType | IcmpTypeName => {
                self.icmp_type = Some(crate::classify::lang::icmp_type_number(w)?)
            }
            TcpOff => self.tcp_off = Some(w.parse().ok()?),
            CaptureLen => {}
            IpOpt => self.ip_opt = Some(super::sumdump_opts::parse_ip(w)?),
            TcpOpt => self.tcp_opt = Some(super::sumdump_opts::parse_tcp(w)?),
            IcmpFlowid => self.icmp_id = Some(w.parse().ok()?),
            IcmpSeq => self.icmp_seq = Some(w.parse().ok()?),
            IcmpCode => self.icmp_code = Some(w.parse().ok()?),
            Payload => {
                self.payload = Some(match unquote_payload(w) {
                    Some(p) => p,
                    None => unquote_bytes(w).ok()?,
                })
            }
            PayloadLen => self.payload_len = Some(w.parse().ok()?),
            Link | Direction => {
                self.paint = Some(match w {
                    ">" => 0,
                    "<" => 1,
                    _ => w.parse().ok()?,
                })
            }
            Aggregate => self.aggregate = Some(w.parse().ok()?),
        }
        Some(())
    }
}

/// A protocol as `PROTO` and `!proto` give it: `T`, `U`, `I`, a name or a number.
fn proto_word(w: &str) -> Option<u8> {
    match w {
        "T" => Some(PROTO_TCP),
        "U" => Some(PROTO_UDP),
        "I" => Some(PROTO_ICMP),
        _ => crate::classify::lang::ip_proto_number(w),
    }
}

struct From {
    filename: String,
    /// `DATA`: the dump's text, read instead of a file.
    data: Option<String>,
    reader: Option<Box<dyn BufRead>>,
    fields: Vec<Field>,
    default_proto: u8,
    stop: bool,
    active: bool,
    checksum: bool,
    /// `TIMING`: packets leave at their timestamps' spacing, the first at once.
    timing: bool,
    /// Router time minus the first packet's timestamp (`TIMING`).
    timing_offset: Option<i128>,
    /// A packet read but not yet due (`TIMING`).
    held: Option<Packet>,
    count: u64,
    done: bool,
    /// Active while a puller may find a packet (pull output only).
    notifier: Notifier,
    /// The output is pull: no task, packets leave when pulled.
    pull: bool,
}

fn make_from(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let filename: Option<String> = args.read_p("FILENAME");
    let data: Option<String> = args.read_k("DATA");
    let stop = args.read_k("STOP").unwrap_or(false);
    let active = args.read_k("ACTIVE").unwrap_or(true);
    let _zero: Option<bool> = args.read_k("ZERO");
    let checksum = args.read_k("CHECKSUM").unwrap_or(false);
    let proto: Option<String> = args.read_k("PROTO");
    let contents: Option<String> = args
        .read_k("FIELDS")
        .or_else(|| args.read_k("CONTENTS"))
        .or_else(|| args.read_k("DEFAULT_CONTENTS"))
        .or_else(|| args.read_k("DEFAULT_FIELDS"));
    let timing = args.read_k("TIMING").unwrap_or(false);
    let default_proto = match proto.as_deref().map(str::trim) {
        None => PROTO_TCP,
        Some(n) => match proto_word(n) {
            Some(p) => p,
            None => {
                args.error_whole(format!("PROTO: bad protocol '{n}'"));
                return None;
            }
        },
    };
    let fields = match contents.as_deref().map(fields) {
        None => Vec::new(),
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            args.error_whole(format!("FIELDS: {e}"));
            return None;
        }
    };
    let filename = match (filename, &data) {
        (Some(f), None) => f,
        (None, Some(_)) => "DATA".into(),
        (Some(_), Some(_)) => {
            args.error_whole("give FILENAME or DATA, not both");
            return None;
        }
        (None, None) => {
            args.error_whole("missing mandatory FILENAME argument");
            return None;
        }
    };
    Some(Box::new(From {
        filename,
        data,
        reader: None,
        fields,
        default_proto,
        stop,
        active,
        checksum,
        timing,
        timing_offset: None,
        held: None,
        count: 0,
        done: false,
        notifier: Notifier::new(active),
        pull: false,
    }))
}

impl From {
    /// The packet a line describes.
    fn build(&self, ctx: &Context<'_>, l: &Line) -> Option<Packet> {
        let proto = l.proto.unwrap_or(self.default_proto);
        // Options lengthen a header to hold them (padded with end-of-list bytes).
        let padded = |o: &Option<Vec<u8>>| o.as_ref().map_or(0, |o| (20 + o.len() + 3) & !3);
        let hl = l
            .ip_hl
            .map_or(20, |h| (h.min(60) + 3) & !3)
            .max(padded(&l.ip_opt));
        let frag_first = true;
        // An ICMP payload is the whole message (as Click reads it): the header is made only
        // when the line gives none.
        // A TCP header longer than 20 bytes holds end-of-option-list bytes; a data offset
        // below 20 is written as given over a 20-byte header, as Click does.
        let tcp_off = l
            .tcp_off
            .map_or(20, |o| (o.min(60) + 3) & !3)
            .max(padded(&l.tcp_opt));
        let mut th_len = match proto {
            PROTO_TCP => tcp_off.max(20),
            PROTO_UDP => 8,
            PROTO_ICMP if l.payload.is_none() => 8,
            _ => 0,
        };
        // A transport header the line says nothing about is cut to the IP length, as Click
        // cuts the one it makes: none at all when `ip_len` ends with the IP header, at least
        // 4 bytes (the ports) when it ends inside it.
        let transport_given = l.sport.is_some()
            || l.dport.is_some()
            || l.tcp_seq.is_some()
            || l.tcp_ack.is_some()
            || l.tcp_flags.is_some()
            || l.tcp_win.is_some()
            || l.tcp_urp.is_some()
            || l.tcp_off.is_some()
            || l.tcp_opt.is_some()
            || l.icmp_type.is_some()
            || l.icmp_code.is_some()
            || l.icmp_id.is_some()
            || l.icmp_seq.is_some()
            || l.payload.is_some()
            || l.payload_len.is_some();
        let full_th = th_len;
        if let Some(want) = l.ip_len.map(usize::from).filter(|&w| w > 0) {
            if !transport_given && want < hl + th_len {
                th_len = match want.saturating_sub(hl) {
                    0 => 0,
                    n => n.max(4),
                };
            }
        }
        let payload = l
            .payload
            .clone()
            .unwrap_or_else(|| vec![0; l.payload_len.unwrap_or(0)]);
        let built = hl + if frag_first { th_len } else { 0 } + payload.len();
        let ip_len = l.ip_len.map_or(built, usize::from);
        // With CHECKSUM the packet holds all of `ip_len` (zeros beyond what the line says);
        // without, only what the line describes, the rest in the extra length annotation.
        let len = if self.checksum {
            built.max(ip_len)
        } else {
            built
        };
        let mut p = ctx.pool().alloc(len)?;
        let d = p.data_mut();
        // Zeros whatever the line leaves out (Click's ZERO false leaves stale bytes there).
        d.fill(0);
        d[0] = 0x40 | (hl / 4) as u8;
        let mut tos = l.ip_tos.unwrap_or(0);
        if let Some(dscp) = l.ip_dscp {
            tos = (tos & 3) | (dscp << 2);
        }
        if let Some(ecn) = l.ip_ecn {
            tos = (tos & !3) | ecn;
        }
        d[1] = tos;
        d[2..4].copy_from_slice(&(ip_len.min(0xffff) as u16).to_be_bytes());
        d[4..6].copy_from_slice(&l.ip_id.unwrap_or(0).to_be_bytes());
        d[8] = l.ip_ttl.unwrap_or(100);
        d[9] = proto;
        d[12..16].copy_from_slice(&l.src.unwrap_or([0; 4]));
        d[16..20].copy_from_slice(&l.dst.unwrap_or([0; 4]));
        if let Some(o) = &l.ip_opt {
            d[20..20 + o.len()].copy_from_slice(o);
        }
        let t = &mut d[hl..];
        match proto {
            // A cut header holds zeros, and the fields that fit: TCP's data offset, UDP's
            // length.
            PROTO_TCP if th_len < full_th => {
                if let Some(b) = t.get_mut(12) {
                    *b = ((tcp_off / 4) as u8) << 4;
                }
            }
            PROTO_UDP if th_len < full_th => {
                let ulen = (ip_len.saturating_sub(hl)).min(0xffff) as u16;
                if let Some(b) = t.get_mut(4..6) {
                    b.copy_from_slice(&ulen.to_be_bytes());
                }
            }
            PROTO_TCP => {
                t[0..2].copy_from_slice(&l.sport.unwrap_or(0).to_be_bytes());
                t[2..4].copy_from_slice(&l.dport.unwrap_or(0).to_be_bytes());
                t[4..8].copy_from_slice(&l.tcp_seq.unwrap_or(0).to_be_bytes());
                t[8..12].copy_from_slice(&l.tcp_ack.unwrap_or(0).to_be_bytes());
                let flags = l.tcp_flags.unwrap_or(0);
                t[12] = ((tcp_off / 4) as u8) << 4 | ((flags >> 8) & 1) as u8;
                t[13] = flags as u8;
                t[14..16].copy_from_slice(&l.tcp_win.unwrap_or(0).to_be_bytes());
                t[18..20].copy_from_slice(&l.tcp_urp.unwrap_or(0).to_be_bytes());
                if let Some(o) = &l.tcp_opt {
                    t[20..20 + o.len()].copy_from_slice(o);
                }
            }
            PROTO_UDP => {
                t[0..2].copy_from_slice(&l.sport.unwrap_or(0).to_be_bytes());
                t[2..4].copy_from_slice(&l.dport.unwrap_or(0).to_be_bytes());
                let ulen = (ip_len.saturating_sub(hl)).min(0xffff) as u16;
                t[4..6].copy_from_slice(&ulen.to_be_bytes());
            }
            _ => {}
        }
        if proto == PROTO_ICMP {
            if let (Some(ty), Some(b)) = (l.icmp_type, t.get_mut(0)) {
                *b = ty;
            }
            if let (Some(code), Some(b)) = (l.icmp_code, t.get_mut(1)) {
                *b = code;
            }
            if let (Some(id), Some(b)) = (l.icmp_id, t.get_mut(4..6)) {
                b.copy_from_slice(&id.to_be_bytes());
            }
            if let (Some(seq), Some(b)) = (l.icmp_seq, t.get_mut(6..8)) {
                b.copy_from_slice(&seq.to_be_bytes());
            }
        }
        // The payload goes in last: for ICMP it is the message and wins over the type and
        // code fields, as in Click.
        t[th_len..th_len + payload.len()].copy_from_slice(&payload);
        if self.checksum {
            let c = checksum::checksum(&d[..hl]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
            let (src, dst) = (l.src.unwrap_or([0; 4]), l.dst.unwrap_or([0; 4]));
            let seg = &mut d[hl..];
            let slen = seg.len() as u16;
            match proto {
                PROTO_TCP | PROTO_UDP if seg.len() >= if proto == PROTO_TCP { 18 } else { 8 } => {
                    let at = if proto == PROTO_TCP { 16 } else { 6 };
                    let acc = checksum::sum(checksum::pseudo_header_v4(src, dst, proto, slen), seg);
                    let mut c = checksum::finish(acc);
                    if proto == PROTO_UDP && c == 0 {
                        c = 0xffff;
                    }
                    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
                }
                // A message too short for its checksum field keeps its bytes.
                PROTO_ICMP if seg.len() >= 4 => {
                    let c = checksum::checksum(seg);
                    seg[2..4].copy_from_slice(&c.to_be_bytes());
                }
                _ => {}
            }
        }
        p.set_network_offset(0);
        if th_len > 0 {
            p.set_transport_offset(hl);
        }
        let a = p.anno_mut();
        a.dst_ip = l.dst.unwrap_or([0; 4]);
        a.timestamp_ns = l.ts.unwrap_or_else(|| {
            l.ts_sec.unwrap_or(0) * 1_000_000_000 + l.ts_usec.unwrap_or(0) * 1000
        });
        a.paint = l.paint.unwrap_or(0);
        a.aggregate = l.aggregate.unwrap_or(0);
        a.extra_length = u32::try_from(ip_len.saturating_sub(len)).unwrap_or(0);
        Some(p)
    }

    /// The next packet line's packet, reading `!` lines on the way; `None` at the end.
    fn next_packet(&mut self, ctx: &Context<'_>) -> Option<Packet> {
        loop {
            let reader = self.reader.as_mut()?;
            let mut text = String::new();
            match reader.read_line(&mut text) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let line = text.trim_end_matches(['\n', '\r']);
            if let Some(rest) = line.strip_prefix('!') {
                let (word, fields_text) =
                    rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                if word == "proto" {
                    match proto_word(fields_text.trim()) {
                        Some(p) => self.default_proto = p,
                        None => ctx.log(&format!(
                            "{}: bad !proto '{}'",
                            self.filename,
                            fields_text.trim()
                        )),
                    }
                } else if word == "data" || word == "contents" {
                    match fields(fields_text) {
                        Ok(f) => self.fields = f,
                        Err(e) => ctx.log(&format!("{}: {e}", self.filename)),
                    }
                }
                continue;
            }
            // `#` starts a comment line, as in Click's reader.
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut l = Line::default();
            let mut any = false;
            for (f, w) in self.fields.iter().zip(words(line)) {
                if w != "-" && l.set(*f, w).is_some() {
                    any = true;
                }
            }
            if !any {
                continue;
            }
            if let Some(p) = self.build(ctx, &l) {
                return Some(p);
            }
        }
    }
}

/// What a source's next step is.
enum Next {
    /// This packet leaves now.
    Packet(Packet),
    /// The next packet is due then (`TIMING`); it is held.
    Wait(u64),
    /// The file has ended.
    End,
}

impl From {
    /// The next packet if it is due, counting it; at the end of the file, stops the router
    /// if STOP asks for that.
    fn next_due(&mut self, ctx: &mut Context<'_>) -> Next {
        let next = self.held.take().or_else(|| self.next_packet(ctx));
        if let (Some(p), true) = (&next, self.timing) {
            let now = ctx.event_time();
            let ts = p.anno().timestamp_ns;
            let offset = *self
                .timing_offset
                .get_or_insert(i128::from(now) - i128::from(ts));
            if let Some(due) = super::timing_wait(ts, offset, now) {
                self.held = next;
                return Next::Wait(due);
            }
        }
        match next {
            Some(p) => {
                self.count += 1;
                Next::Packet(p)
            }
            None => {
                self.done = true;
                self.notifier.set_active(false);
                if self.stop {
                    ctx.request_stop();
                }
                Next::End
            }
        }
    }
}

impl Element for From {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.reader = Some(if let Some(data) = self.data.take() {
            Box::new(std::io::Cursor::new(data.into_bytes()))
        } else if self.filename == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            let f = std::fs::File::open(&self.filename)
                .map_err(|e| format!("{}: {}", self.filename, super::pcap::describe_io(&e)))?;
            Box::new(BufReader::new(f))
        });
        self.pull = ctx.output_is_pull(0);
        if !self.pull {
            ctx.add_task();
        }
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if self.done {
            return TaskStatus::Done;
        }
        if !self.active {
            return TaskStatus::Idle;
        }
        // One packet per run, as Click's does: two sources take turns.
        match self.next_due(ctx) {
            Next::Packet(p) => {
                ctx.output(0, p);
                TaskStatus::Busy
            }
            Next::Wait(due) => {
                ctx.wake_at(due);
                TaskStatus::Idle
            }
            Next::End => TaskStatus::Done,
        }
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        if self.done || !self.active {
            return None;
        }
        let mut batch = Batch::new();
        while batch.len() < max {
            match self.next_due(ctx) {
                Next::Packet(p) => batch.push(p),
                Next::Wait(due) => {
                    // Asleep until the packet is due; the timer wakes the puller.
                    self.notifier.set_active(false);
                    ctx.set_timer(due);
                    break;
                }
                Next::End => break,
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    fn run_timer(&mut self, _: &mut Context<'_>) {
        self.notifier.set_active(self.active && !self.done);
    }

    fn notifier(&self, kind: NotifierKind, port: usize) -> Option<Notifier> {
        (kind == NotifierKind::Empty && port == 0 && self.pull).then(|| self.notifier.clone())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "active" => Some(if self.active { "true" } else { "false" }.into()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), sluice_dataplane::HandlerError> {
        match name {
            "active" => {
                self.active = crate::standard::common_parse_value("active", value)?;
                self.notifier.set_active(self.active && !self.done);
                Ok(())
            }
            _ => Err(sluice_dataplane::HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("count"), Handler::read_write("active")];
        H
    }
}

struct To {
    filename: String,
    fields: Vec<Field>,
    names: String,
    banner: Option<String>,
    out: Option<Box<dyn Write>>,
    count: u64,
    /// The input is pull: a task pulls.
    pull: bool,
}

fn make_to(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let filename: Option<String> = args.read_mp("FILENAME");
    let contents: Option<String> = args
        .read_k("FIELDS")
        .or_else(|| args.read_k("CONTENTS"))
        .or_else(|| args.read_p("CONTENTS"));
    let banner: Option<String> = args.read_k("BANNER");
    let _verbose: Option<bool> = args.read_k("VERBOSE");
    let Some(contents) = contents else {
        args.error_whole("FIELDS: missing (which fields to write)");
        return None;
    };
    let fields = match fields(&contents) {
        Ok(f) => f,
        Err(e) => {
            args.error_whole(format!("FIELDS: {e}"));
            return None;
        }
    };
    Some(Box::new(To {
        filename: filename?,
        names: fields
            .iter()
            .map(|&f| canonical(f))
            .collect::<Vec<_>>()
            .join(" "),
        fields,
        banner,
        out: None,
        count: 0,
        pull: false,
    }))
}

impl To {
    fn line(&self, p: &Packet) -> String {
        use Field::*;
        let a = p.anno();
        let ip = p.network_data().filter(|d| d.len() >= 20 && d[0] >> 4 == 4);
        let hl = ip.map_or(0, |d| usize::from(d[0] & 15) * 4);
        let proto = ip.map(|d| d[9]);
        let first_frag = ip.is_some_and(|d| u16::from_be_bytes([d[6], d[7]]) & 0x1fff == 0);
        let transport = ip.filter(|d| first_frag && d.len() > hl).map(|d| &d[hl..]);
        let th = |proto_ok: &[u8], need: usize| {
            transport.filter(|t| proto.is_some_and(|p| proto_ok.contains(&p)) && t.len() >= need)
        };
        let u16_at = |t: &[u8], i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
        let u32_at = |t: &[u8], i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        let dash = || "-".to_string();
        let mut words = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            let w = match f {
                Timestamp => format!("{}", sluice_dataplane::Timestamp(a.timestamp_ns)),
                TsSec => (a.timestamp_ns / 1_000_000_000).to_string(),
                TsUsec => (a.timestamp_ns % 1_000_000_000 / 1000).to_string(),
                Src => ip.map_or_else(dash, |d| {
                    core::net::Ipv4Addr::new(d[12], d[13], d[14], d[15]).to_string()
                }),
                Dst => ip.map_or_else(dash, |d| {
                    core::net::Ipv4Addr::new(d[16], d[17], d[18], d[19]).to_string()
                }),
                Sport => {
                    th(&[PROTO_TCP, PROTO_UDP], 2).map_or_else(dash, |t| u16_at(t, 0).to_string())
                }
                Dport => {
                    th(&[PROTO_TCP, PROTO_UDP], 4).map_or_else(dash, |t| u16_at(t, 2).to_string())
                }
                Proto => match proto {
                    Some(PROTO_TCP) => "T".into(),
                    Some(PROTO_UDP) => "U".into(),
                    Some(PROTO_ICMP) => "I".into(),
                    Some(n) => n.to_string(),
                    None => dash(),
                },
                IpLen => ip.map_or_else(dash, |d| u16_at(d, 2).to_string()),
                IpId => ip.map_or_else(dash, |d| u16_at(d, 4).to_string()),
                IpTtl => ip.map_or_else(dash, |d| d[8].to_string()),
                IpTos => ip.map_or_else(dash, |d| d[1].to_string()),
                IpDscp => ip.map_or_else(dash, |d| (d[1] >> 2).to_string()),
                IpEcn => ip.map_or_else(dash, |d| {
                    ["no", "ect1", "ect2", "ce"][usize::from(d[1] & 3)].into()
                }),
                IpHl => ip.map_or_else(dash, |_| hl.to_string()),
                TcpSeq => th(&[PROTO_TCP], 8).map_or_else(dash, |t| u32_at(t, 4).to_string()),
                TcpAck => th(&[PROTO_TCP], 12).map_or_else(dash, |t| u32_at(t, 8).to_string()),
                TcpFlags => th(&[PROTO_TCP], 14).map_or_else(dash, |t| {
                    let v = u16::from(t[13]) | (u16::from(t[12] & 1) << 8);
                    match v {
                        0x18 => "PA".into(),
                        0x10 => "A".into(),
                        0 => ".".into(),
                        _ => (0..9)
                            .filter(|b| v & (1 << b) != 0)
                            .map(|b| TCP_FLAGS[b] as char)
                            .collect(),
                    }
                }),
                TcpWin => th(&[PROTO_TCP], 16).map_or_else(dash, |t| u16_at(t, 14).to_string()),
                TcpUrp => th(&[PROTO_TCP], 20).map_or_else(dash, |t| u16_at(t, 18).to_string()),
                IcmpType => th(&[PROTO_ICMP], 1).map_or_else(dash, |t| t[0].to_string()),
                IcmpTypeName => th(&[PROTO_ICMP], 1).map_or_else(dash, |t| {
                    crate::classify::lang::icmp_type_name(t[0])
                        .map_or_else(|| t[0].to_string(), String::from)
                }),
                TcpOff => th(&[PROTO_TCP], 13)
                    .map_or_else(dash, |t| (usize::from(t[12] >> 4) * 4).to_string()),
                // What the packet holds of its IP length (Click's rule: bytes past the
                // IP length, link padding for one, are not counted).
                CaptureLen => ip
                    .map_or(p.len(), |d| d.len().min(usize::from(u16_at(d, 2))))
                    .to_string(),
                IpOpt => ip
                    .and_then(|d| d.get(20..hl))
                    .map_or_else(dash, super::sumdump_opts::unparse_ip),
                TcpOpt => th(&[PROTO_TCP], 13)
                    .and_then(|t| t.get(20..usize::from(t[12] >> 4) * 4))
                    .map_or_else(dash, super::sumdump_opts::unparse_tcp),
                IcmpFlowid => th(&[PROTO_ICMP], 6).map_or_else(dash, |t| u16_at(t, 4).to_string()),
                IcmpSeq => th(&[PROTO_ICMP], 8).map_or_else(dash, |t| u16_at(t, 6).to_string()),
                IcmpCode => th(&[PROTO_ICMP], 2).map_or_else(dash, |t| t[1].to_string()),
                Payload | PayloadLen => {
                    let off = match proto {
                        Some(PROTO_TCP) => {
                            transport.map(|t| t.get(12).map_or(20, |o| usize::from(o >> 4) * 4))
                        }
                        // ICMP's payload is the whole message, header included, as
                        // Click counts it.
                        Some(PROTO_UDP) => transport.map(|_| 8),
                        _ => transport.map(|_| 0),
                    };
                    let body = transport.zip(off).map(|(t, o)| t.get(o..).unwrap_or(&[]));
                    match (f, body) {
                        (Payload, Some(b)) => quote(b),
                        (PayloadLen, Some(b)) => (b.len() + a.extra_length as usize).to_string(),
                        _ => dash(),
                    }
                }
                Link => a.paint.to_string(),
                Direction => match a.paint {
                    0 => ">".into(),
                    1 => "<".into(),
                    n => n.to_string(),
                },
                Aggregate => a.aggregate.to_string(),
            };
            words.push(w);
        }
        words.join(" ")
    }
}

impl Element for To {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.pull = ctx.input_is_pull(0);
        if self.pull {
            ctx.add_task();
        }
        let out: Box<dyn Write> = if self.filename == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(&self.filename)
                    .map_err(|e| format!("{}: {}", self.filename, e.kind()))?,
            ))
        };
        self.out = Some(out);
        let mut head = String::from("!IPSummaryDump 1.3\n");
        if let Some(b) = &self.banner {
            head.push_str(&format!("!creator {}\n", quote(b.as_bytes())));
        }
        head.push_str(&format!("!data {}\n", self.names));
        if let Some(o) = self.out.as_mut() {
            let _ = o.write_all(head.as_bytes());
        }
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        match ctx.pull(0, BATCH_MAX) {
            Some(batch) => {
                self.push(ctx, 0, batch);
                TaskStatus::Busy
            }
            None => TaskStatus::Idle,
        }
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            let mut line = self.line(&p);
            line.push('\n');
            if let Some(o) = self.out.as_mut() {
                let _ = o.write_all(line.as_bytes());
            }
            self.count += 1;
            if ctx.noutputs() > 0 {
                ctx.output(0, p);
            }
        }
    }

    fn cleanup(&mut self, _: &mut Context<'_>) {
        if let Some(o) = self.out.as_mut() {
            let _ = o.flush();
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "count").then(|| self.count.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("count")];
        H
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{arg, graph, router, take_collected, tempdir};

    #[test]
    fn options_lengthen_headers_and_are_written_back() {
        let (seen, out) = run(
            "!data src dst proto ip_opt tcp_opt\n1.0.0.1 2.0.0.2 T lsrr{^3.3.3.3,4.4.4.4} sack1-9;mss536\n1.0.0.1 2.0.0.2 T . .\n1.0.0.1 2.0.0.2 T ssrr{1.2.3} .\n",
            ", CHECKSUM true",
            "ip_hl tcp_off ip_opt tcp_opt",
        );
        assert_eq!(seen.len(), 3);
        // 11 bytes of IP options pad to 12; 14 bytes of TCP options to 16.
        assert_eq!(seen[0].data[0] & 15, 8);
        assert_eq!(&seen[0].data[20..24], &[131, 11, 4, 3]);
        assert_eq!(seen[0].data[31], 0, "end-of-list padding");
        assert_eq!(seen[0].data[32 + 12] >> 4, 9);
        let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with('!')).collect();
        assert_eq!(
            lines,
            // A malformed option field is left out, as a field that does not parse is.
            [
                "32 36 lsrr{^3.3.3.3,4.4.4.4} sack1-9;mss536",
                "20 20 . .",
                "20 20 . ."
            ],
            "{out}"
        );
    }

    #[test]
    fn a_pulled_source_reads_as_it_is_pulled_and_notifies() {
        // Two pulled sources merged by timestamp, as Click's notifier-01 does.
        let g = graph(
            &[
                (
                    "a",
                    "FromIPSummaryDump",
                    "DATA \"!data ts src\n0.0 1.0.0.0\n0.2 1.0.0.2\n\"",
                ),
                (
                    "b",
                    "FromIPSummaryDump",
                    "DATA \"!data ts src\n0.1 1.0.0.1\n\"",
                ),
                ("t", "TimeSortedSched", "STOP true"),
                ("sink", "Discard", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0)],
        );
        let (mut r, _b) = router(&g, 1_000_000_000).unwrap();
        assert_eq!(r.read_handler("sink.scheduled").unwrap(), "true");
        r.run_rounds(20);
        assert_eq!(r.read_handler("sink.count").unwrap(), "3");
        assert_eq!(r.read_handler("a.count").unwrap(), "2");
        assert_eq!(r.read_handler("t.well_ordered").unwrap(), "true");
        assert!(r.is_stopped(), "both files ended");
        assert_eq!(r.read_handler("sink.scheduled").unwrap(), "false");
    }

    #[test]
    fn timestamps_may_omit_the_seconds() {
        assert_eq!(super::parse_time(".1"), Some(100_000_000));
        assert_eq!(super::parse_time("5.65"), Some(5_650_000_000));
        assert_eq!(super::parse_time("7"), Some(7_000_000_000));
        assert_eq!(super::parse_time("."), None);
        assert_eq!(super::parse_time(".x"), None);
    }

    fn run(
        trace: &str,
        from_config: &str,
        fields: &str,
    ) -> (Vec<super::super::testutil::Out>, String) {
        let dir = tempdir();
        let input = dir.path().join("in.ipsum");
        let output = dir.path().join("out.ipsum");
        std::fs::write(&input, trace).unwrap();
        let g = graph(
            &[
                (
                    "f",
                    "FromIPSummaryDump",
                    &format!("{}, STOP true{from_config}", arg(&input)),
                ),
                (
                    "t",
                    "ToIPSummaryDump",
                    &format!("{}, FIELDS {fields}", arg(&output)),
                ),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        (take_collected(), std::fs::read_to_string(&output).unwrap())
    }

    #[test]
    fn lines_become_packets_and_packets_lines() {
        let trace = "!data src sport dst dport proto tcp_flags payload direction\n\
                     1.0.0.1 10 2.0.0.2 20 T SA \"hi\" <\n\
                     \n\
                     !comment lines and blank lines are skipped\n\
                     # 9 so are lines that start with a hash\n\
                     1.0.0.1 11 2.0.0.2 21 U - - >\n";
        let (seen, out) = run(
            trace,
            ", CHECKSUM true",
            "src sport dst dport proto tcp_flags payload direction ip_len ip_ttl",
        );
        assert_eq!(seen.len(), 2);
        let tcp = &seen[0];
        assert_eq!(
            (tcp.network_offset, tcp.transport_offset),
            (Some(0), Some(20))
        );
        assert_eq!(tcp.anno.dst_ip, [2, 0, 0, 2]);
        assert_eq!(tcp.data.len(), 42);
        assert_eq!(&tcp.data[40..], b"hi");
        assert_eq!(
            crate::wire::checksum::checksum(&tcp.data[..20]),
            0,
            "IP checksum"
        );
        assert_eq!(
            out,
            "!IPSummaryDump 1.3\n!data ip_src sport ip_dst dport ip_proto tcp_flags payload direction ip_len ip_ttl\n\
             1.0.0.1 10 2.0.0.2 20 T SA \"hi\" < 42 100\n\
             1.0.0.1 11 2.0.0.2 21 U - \"\" > 28 100\n"
        );
    }

    #[test]
    fn without_checksum_the_rest_of_ip_len_is_extra_length() {
        let (seen, out) = run(
            "!data src dst proto ip_len\n1.0.0.1 2.0.0.2 U 100\n",
            "",
            "ip_len ip_capture_len payload_len",
        );
        assert_eq!(seen[0].data.len(), 28, "headers only");
        assert_eq!(&seen[0].data[10..12], &[0, 0], "no checksum");
        assert!(out.ends_with("100 28 72\n"), "{out}");
    }

    #[test]
    fn an_ip_length_inside_the_transport_header_cuts_the_header_click_makes() {
        // Click 2.1: `ip_len 20` is a bare IP header, 22 holds 4 bytes of TCP (the ports),
        // 30 holds 10; a line with transport fields keeps its whole header.
        let (seen, out) = run(
            "!data src ip_len\n1.0.0.1 20\n1.0.0.2 22\n1.0.0.3 30\n1.0.0.4 1600\n",
            "",
            "ip_len ip_capture_len",
        );
        let lens: Vec<usize> = seen.iter().map(|o| o.data.len()).collect();
        assert_eq!(lens, [20, 24, 30, 40]);
        assert_eq!(seen[0].transport_offset, None);
        assert_eq!(
            out.lines().skip(2).collect::<Vec<_>>(),
            ["20 20", "22 22", "30 30", "1600 40"],
            "capture lengths stop at the IP length, as Click's do"
        );
        let (seen, _) = run("!data src sport ip_len\n1.0.0.1 7 22\n", "", "ip_len");
        assert_eq!(seen[0].data.len(), 40, "the line's own TCP header is whole");
        let (seen, _) = run("!data src proto ip_len\n1.0.0.1 U 24\n", "", "ip_len");
        assert_eq!(seen[0].data.len(), 24, "UDP cut to its ports");
        assert_eq!(&seen[0].data[20..24], &[0; 4]);
    }

    #[test]
    fn tcp_off_sizes_the_tcp_header() {
        let (seen, out) = run(
            "!data src dst proto tcp_off\n1.0.0.1 2.0.0.2 T 38\n1.0.0.1 2.0.0.2 T 6\n1.0.0.1 2.0.0.2 T 9999\n",
            "",
            "tcp_off ip_capture_len",
        );
        assert_eq!(seen[0].data.len(), 60, "20 IP + 40 TCP bytes");
        assert_eq!(seen[0].data[32] >> 4, 10);
        assert!(
            seen[0].data[40..].iter().all(|&b| b == 0),
            "end-of-options bytes"
        );
        assert_eq!(seen[1].data.len(), 40, "never less than a full header");
        assert_eq!(seen[1].data[32] >> 4, 2);
        assert_eq!(seen[2].data[32] >> 4, 15, "at most 60 bytes");
        assert_eq!(out.lines().last(), Some("60 80"), "{out}");
    }

    #[test]
    fn hostile_lines_are_skipped_never_panic() {
        let trace = "!data src sport dst dport proto ip_hl ip_len payload\n\
                     999.1.1.1 99999 x y Q 4000 70000 \"\\<zz>\n\
                     1.0.0.1 1 2.0.0.2 2 I 61 3 \"\\x\"\n\
                     1.0.0.1 1 2.0.0.2 2 U - 1 \"\\777\\\n\
                     \"unterminated\n\
                     1.0.0.1 1 2.0.0.2 2 T 5 65535 -\n\
                     1.0.0.1 - 2.0.0.2 - I - - \"AB\"\n";
        let (seen, _) = run(trace, ", CHECKSUM true", "src payload_len");
        // The last line: a 2-byte ICMP message, too short for its checksum field.
        assert_eq!(seen.last().map(|s| s.data.len()), Some(22));
        assert!(seen.len() <= 5);
    }

    #[test]
    fn unknown_fields_and_missing_files_are_configuration_errors() {
        let g = graph(
            &[
                ("t", "ToIPSummaryDump", "-, FIELDS src bogus"),
                ("s", "Collect", ""),
            ],
            &[],
        );
        let e = router(&g, 0).err().unwrap();
        assert!(e.contains("unknown field 'bogus'"), "{e}");
        let g = graph(
            &[
                ("f", "FromIPSummaryDump", "/nonexistent/trace"),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let e = router(&g, 0).err().unwrap();
        assert!(
            e.contains("/nonexistent/trace: No such file or directory"),
            "{e}"
        );
    }
}
