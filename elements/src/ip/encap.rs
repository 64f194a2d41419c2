//! `IPEncap(PROTO, SRC, DST [, keywords TOS, DSCP, ECT, CE, TTL, DF])` — prepends an IPv4 header.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Prepends a 20-byte IPv4 header: protocol PROTO (a number or `tcp`, `udp`, `icmp`...),
//! source SRC, destination DST (or `DST_ANNO`: the packet's destination annotation), total
//! length the new packet's, IP ID 0, 1, 2... per element, TTL 250, TOS 0, no fragmentation
//! flags unless `DF`, and the header checksum. Sets the network header and, for a fixed DST,
//! the destination annotation.
//!
//! **Keywords:**
//!
//! - `TTL`: the time-to-live; default 250.
//! - `TOS`: the TOS byte; default 0.
//! - `DSCP`: the differentiated services code point, instead of TOS.
//! - `ECT` (true or 2), `CE` (boolean): the ECN bits, at most one of them; not with `TOS`.
//! - `DF`: boolean, set Don't Fragment; default false.
//!
//! **Handlers:** `src`, `dst` (rw); `drops` (r).
//!
//! **Differences from Click:** a packet without room for the header in front is dropped and
//! counted (`drops`); Click would copy it into a larger buffer.
//!
//! ## `UDPIPEncap(SRC, SPORT, DST, DPORT [, CHECKSUM])` — prepends IPv4 and UDP headers.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Prepends IPv4 and UDP headers (28 bytes): as `IPEncap` with protocol UDP and no options,
//! then source port SPORT, destination port DPORT (numbers or service names), the UDP length,
//! and the UDP checksum when CHECKSUM is true. DST may be `DST_ANNO`.
//!
//! **Handlers:** `src`, `sport`, `dst`, `dport` (rw); `drops` (r).
//!
//! **Differences from Click:** a packet without room for the headers in front is dropped
//! and counted (`drops`); Click would copy it into a larger buffer. CHECKSUM defaults to
//! false, as Click 2.1's userlevel driver behaves (its manual says true; the option is left
//! unset there).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use core::net::Ipv4Addr;

use sluice_config::args::{Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError, Packet,
};

use super::common::{parse_value, push_each, Verdict};
use crate::classify::lang::{ip_proto_number, port_number};
use crate::wire::checksum;

/// `IPEncap`.
pub static IPEncap: ElementClass = ElementClass {
    name: "IPEncap",
    ports: "1/1",
    processing: "a/a",
    make: make_ip,
    names: None,
};
/// `UDPIPEncap`.
pub static UDPIPEncap: ElementClass = ElementClass {
    name: "UDPIPEncap",
    ports: "1/1",
    processing: "a/a",
    make: make_udp,
    names: None,
};

const PROTO_UDP: u8 = 17;
/// `UDPIPEncap`'s header: TOS 0, no flags, TTL 250.
const UDP_FIELDS: Fields = Fields {
    tos: 0,
    off: 0,
    ttl: 250,
    proto: PROTO_UDP,
};
const IP_DF: u16 = 0x4000;
const IP_ECN_ECT1: u8 = 1;
const IP_ECN_ECT2: u8 = 2;
const IP_ECN_CE: u8 = 3;

/// A destination: fixed, or the packet's destination annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dst {
    Addr(Ipv4Addr),
    Anno,
}

impl Dst {
    fn parse(text: &str, c: &ConfigContext<'_>) -> Result<Self, String> {
        if text.trim() == "DST_ANNO" {
            return Ok(Self::Anno);
        }
        Ipv4Addr::from_arg(text, Some(c.names))
            .map(Self::Addr)
            .map_err(|_| format!("DST: expected an IP address or 'DST_ANNO', not '{text}'"))
    }

    /// A value written to a `dst` handler.
    fn from_handler(name: &str, value: &str) -> Result<Self, HandlerError> {
        match value.trim() {
            "DST_ANNO" => Ok(Self::Anno),
            v => parse_value(name, v).map(Self::Addr),
        }
    }

    fn unparse(self) -> String {
        match self {
            Self::Addr(a) => a.to_string(),
            Self::Anno => "DST_ANNO".into(),
        }
    }

    /// The address to write for `p`, setting the annotation when it is fixed.
    fn resolve(self, p: &mut Packet) -> [u8; 4] {
        match self {
            Self::Addr(a) => {
                p.anno_mut().dst_ip = a.octets();
                a.octets()
            }
            Self::Anno => p.anno().dst_ip,
        }
    }
}

/// The fixed fields of the IPv4 headers an element writes.
#[derive(Clone, Copy, Debug)]
struct Fields {
    tos: u8,
    /// Flags and fragment offset (`DF` or 0).
    off: u16,
    ttl: u8,
    proto: u8,
}

/// Writes a 20-byte IPv4 header without options at the front of `p` (which must have room)
/// and marks it as the network header.
fn write_ip_header(p: &mut Packet, f: Fields, id: u16, src: [u8; 4], dst: [u8; 4]) {
    let Fields {
        tos,
        off,
        ttl,
        proto,
    } = f;
    let len = p.len().min(usize::from(u16::MAX)) as u16;
    let h = &mut p.data_mut()[..20];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&len.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&off.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let sum = checksum::checksum(h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    p.set_network_offset(0);
    p.set_transport_offset(20);
}

// ---- IPEncap ---------------------------------------------------------------------------

struct IpEncap {
    fields: Fields,
    src: Ipv4Addr,
    dst: Dst,
    id: u16,
    drops: u64,
}

fn make_ip(args: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let proto: Option<String> = args.read_mp("PROTO");
    let src = args.read_mp::<Ipv4Addr>("SRC");
    let dst: Option<String> = args.read_mp("DST");
    let tos = args.read_k::<u32>("TOS");
    let ttl = args.read_k::<u8>("TTL").unwrap_or(250);
    let dscp = args.read_k::<u32>("DSCP");
    let ect: Option<String> = args.read_k("ECT");
    let ce = args.read_k::<bool>("CE").unwrap_or(false);
    let df = args.read_k::<bool>("DF").unwrap_or(false);
    let (proto, src, dst) = (proto?, src?, dst?);
    let Some(proto) = ip_proto_number(proto.trim()) else {
        args.error_whole("bad IP protocol");
        return None;
    };
    let dst = match Dst::parse(&dst, c) {
        Ok(d) => d,
        Err(e) => {
            args.error_whole(e);
            return None;
        }
    };
    let ect = match ect.as_deref().map(str::trim) {
        None => 0,
        Some("2") => 2,
        Some(w) => match bool::from_arg(w, None) {
            Ok(b) => u8::from(b),
            Err(_) => {
                args.error_whole(format!("bad ECT value '{w}'"));
                return None;
            }
        },
    };
    let problem = match (tos, dscp) {
        (Some(_), Some(_)) => Some("cannot set both TOS and DSCP"),
        (Some(_), _) if ect != 0 || ce => Some("cannot set both TOS and ECN bits"),
        (Some(t), _) if t > 255 => Some("TOS too large; max 255"),
        (_, Some(d)) if d >= 63 => Some("DSCP too large; max 63"),
        _ if ect != 0 && ce => Some("can set at most one ECN option"),
        _ => None,
    };
    if let Some(m) = problem {
        args.error_whole(m);
        return None;
    }
    let mut tos = match (tos, dscp) {
        (Some(t), _) => t as u8,
        (_, Some(d)) => (d as u8) << 2,
        _ => 0,
    };
    tos |= match ect {
        1 => IP_ECN_ECT1,
        2 => IP_ECN_ECT2,
        _ => 0,
    };
    if ce {
        tos |= IP_ECN_CE;
    }
    Some(Box::new(IpEncap {
        fields: Fields {
            tos,
            off: if df { IP_DF } else { 0 },
            ttl,
            proto,
        },
        src,
        dst,
        id: 0,
        drops: 0,
    }))
}

impl Element for IpEncap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        push_each(ctx, batch, |p| {
            if p.push(20).is_err() {
                self.drops += 1;
                return Verdict::Drop;
            }
            let dst = self.dst.resolve(p);
            let id = self.id;
            self.id = self.id.wrapping_add(1);
            write_ip_header(p, self.fields, id, self.src.octets(), dst);
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "src" => Some(self.src.to_string()),
            "dst" => Some(self.dst.unparse()),
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
        match name {
            "src" => self.src = parse_value(name, value)?,
            "dst" => self.dst = Dst::from_handler(name, value)?,
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

// ---- UDPIPEncap ------------------------------------------------------------------------

struct UdpIpEncap {
    src: Ipv4Addr,
    sport: u16,
    dst: Dst,
    dport: u16,
    checksum: bool,
    id: u16,
    drops: u64,
}

/// A port argument: a number or a service name.
fn port(args: &mut Args<'_>, key: &str) -> Option<u16> {
    let text: String = args.read_mp(key)?;
    match port_number(text.trim()) {
        Some(p) => Some(p),
        None => {
            args.error_whole(format!("{key}: bad port '{}'", text.trim()));
            None
        }
    }
}

fn make_udp(args: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let src = args.read_mp::<Ipv4Addr>("SRC");
    let sport = port(args, "SPORT");
    let dst: Option<String> = args.read_mp("DST");
    let dport = port(args, "DPORT");
    let checksum = args.read_p::<bool>("CHECKSUM").unwrap_or(false);
    let (src, sport, dst, dport) = (src?, sport?, dst?, dport?);
    let dst = match Dst::parse(&dst, c) {
        Ok(d) => d,
        Err(e) => {
            args.error_whole(e);
            return None;
        }
    };
    Some(Box::new(UdpIpEncap {
        src,
        sport,
        dst,
        dport,
        checksum,
        id: 0,
        drops: 0,
    }))
}

impl Element for UdpIpEncap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        push_each(ctx, batch, |p| {
            if p.len() + 28 > usize::from(u16::MAX) || p.push(28).is_err() {
                self.drops += 1;
                return Verdict::Drop;
            }
            let dst = self.dst.resolve(p);
            let id = self.id;
            self.id = self.id.wrapping_add(1);
            let src = self.src.octets();
            write_ip_header(p, UDP_FIELDS, id, src, dst);
            let ulen = (p.len() - 20) as u16;
            let udp = &mut p.data_mut()[20..];
            udp[0..2].copy_from_slice(&self.sport.to_be_bytes());
            udp[2..4].copy_from_slice(&self.dport.to_be_bytes());
            udp[4..6].copy_from_slice(&ulen.to_be_bytes());
            udp[6..8].fill(0);
            if self.checksum {
                let acc = checksum::pseudo_header_v4(src, dst, PROTO_UDP, ulen);
                let sum = checksum::finish(checksum::sum(acc, udp));
                // A computed zero goes out as all ones (zero means "no checksum").
                let sum = if sum == 0 { 0xffff } else { sum };
                udp[6..8].copy_from_slice(&sum.to_be_bytes());
            }
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "src" => Some(self.src.to_string()),
            "sport" => Some(self.sport.to_string()),
            "dst" => Some(self.dst.unparse()),
            "dport" => Some(self.dport.to_string()),
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
        let port = |v: &str| {
            port_number(v.trim())
                .ok_or_else(|| HandlerError::BadValue(format!("{name}: bad port '{}'", v.trim())))
        };
        match name {
            "src" => self.src = parse_value(name, value)?,
            "sport" => self.sport = port(value)?,
            "dst" => self.dst = Dst::from_handler(name, value)?,
            "dport" => self.dport = port(value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("src"),
            Handler::read_write("sport"),
            Handler::read_write("dst"),
            Handler::read_write("dport"),
            Handler::read("drops"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Click 2.1's bytes for `InfiniteSource(DATA "abcd", LIMIT 2) -> UDPIPEncap(1.0.0.1,
    /// 1234, 2.0.0.2, 80) -> IPEncap(4, 9.9.9.9, 8.8.8.8, TOS 3)`, after each encapsulation.
    const CLICK_UDP: [&str; 2] = [
        "4500002000000000fa11bdca010000010200000204d20050000c000061626364",
        "4500002000010000fa11bdc9010000010200000204d20050000c000061626364",
    ];
    const CLICK_IP: [&str; 2] = [
        "4503003400000000fa049ea10909090908080808",
        "4503003400010000fa049ea00909090908080808",
    ];

    #[test]
    fn encapsulations_match_click_byte_for_byte() {
        let mut udp = Harness::new("UDPIPEncap", "1.0.0.1, 1234, 2.0.0.2, 80", 1).unwrap();
        let out = udp.run(&[b"abcd", b"abcd"]).remove(0);
        assert_eq!(out.iter().map(|b| hex(b)).collect::<Vec<_>>(), CLICK_UDP);
        let mut ip = Harness::new("IPEncap", "4, 9.9.9.9, 8.8.8.8, TOS 3", 1).unwrap();
        let frames: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
        let wrapped = ip.run(&frames).remove(0);
        for (i, w) in wrapped.iter().enumerate() {
            assert_eq!(hex(&w[..20]), CLICK_IP[i]);
            assert_eq!(hex(&w[20..]), CLICK_UDP[i]);
        }
        assert_eq!(ip.read("dst"), "8.8.8.8");
    }

    #[test]
    fn udp_checksum_and_dst_anno() {
        let mut udp = Harness::new("UDPIPEncap", "1.0.0.1, dns, DST_ANNO, 53, true", 1).unwrap();
        let out = udp.run(&[b"xy"]).remove(0);
        let p = &out[0];
        assert_eq!(&p[20..24], &[0, 53, 0, 53], "a service name is a port");
        assert_eq!(
            &p[16..20],
            &[0, 0, 0, 0],
            "the (unset) destination annotation"
        );
        let acc = crate::wire::checksum::pseudo_header_v4([1, 0, 0, 1], [0, 0, 0, 0], 17, 10);
        assert_eq!(
            crate::wire::checksum::finish(crate::wire::checksum::sum(acc, &p[20..])),
            0
        );
        assert_eq!(udp.read("dst"), "DST_ANNO");
    }

    #[test]
    fn bad_arguments() {
        assert!(config_error("IPEncap", "bogus, 1.0.0.1, 2.0.0.2").contains("bad IP protocol"));
        assert!(config_error("IPEncap", "tcp, 1.0.0.1, 2.0.0.2, TOS 1, DSCP 2").contains("both"));
        assert!(config_error("IPEncap", "tcp, 1.0.0.1, nowhere").contains("DST_ANNO"));
        assert!(config_error("UDPIPEncap", "1.0.0.1, 99999, 2.0.0.2, 1").contains("bad port"));
    }
}
