//! `ICMPIPEncap(SRC, DST, TYPE [, CODE, keywords IDENTIFIER])` — prepends ICMP and IPv4 headers.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Prepends an ICMP header of type TYPE and code CODE (numbers from 0 to 255, or names:
//! `echo`, `echo-reply`, `unreachable`, `timeexceeded`, ... for TYPE; `port`, `host`,
//! `transit`, ... for CODE, by type; CODE defaults to 0), and in front of it a 20-byte IPv4
//! header from SRC to DST: protocol ICMP, TTL 255, TOS 0, no fragmentation flags, total
//! length the new packet's, and the header checksum. The ICMP header is 8 bytes (20 for
//! timestamp and timestamp-reply messages), zero but for type and code; for the types that
//! carry an identifier and sequence number (echo, echo-reply, timestamp, timestamp-reply,
//! information request and reply) the identifier is IDENTIFIER and the sequence number
//! counts packets. The ICMP checksum covers the header and the packet's data. Sets the
//! network and transport header annotations and the destination IP annotation (DST).
//!
//! The IP ID and the sequence number are one counter, starting at 1 and going up by one
//! per packet, skipping 0 when it wraps; both are written in network byte order.
//!
//! **Keywords:**
//!
//! - `IDENTIFIER`: the ICMP identifier, 0 to 65535; default 0.
//!
//! **Handlers:** `src`, `dst` (rw); `drops` (r).
//!
//! **Example:** `InfiniteSource(LIMIT 5) -> ICMPIPEncap(10.0.0.1, 10.0.0.2, echo) -> out`
//!
//! **Differences from Click:** a packet without room in front for the headers, or that
//! would be longer than 65535 bytes, is dropped and counted (`drops`); Click would copy it
//! into a larger buffer.
//!
//! ## `ICMPPingEncap(SRC, DST [, keywords IDENTIFIER])` — prepends ICMP echo and IPv4 headers.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! `ICMPIPEncap(SRC, DST, echo)`: an ICMP echo request header (identifier IDENTIFIER,
//! default 0; the sequence number counts packets from 1, as the IP ID does) and an IPv4
//! header from SRC to DST, with both checksums and the annotations set.
//!
//! **Handlers:** `src`, `dst` (rw); `drops` (r).
//!
//! **Example:** `InfiniteSource(LIMIT 2) -> ICMPPingEncap(1.0.0.1, 2.0.0.2, IDENTIFIER 3) -> out`
//!
//! **Differences from Click:** as `ICMPIPEncap`'s.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::{parse_value, push_each, Verdict};
use crate::routing::icmperror::{parse_code, parse_type};
use crate::wire::checksum;

/// `ICMPIPEncap`.
pub static ICMPIPEncap: ElementClass = ElementClass {
    name: "ICMPIPEncap",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

/// `ICMPPingEncap`.
pub static ICMPPingEncap: ElementClass = ElementClass {
    name: "ICMPPingEncap",
    ports: "1/1",
    processing: "a/a",
    make: make_ping,
    names: None,
};

const PROTO_ICMP: u8 = 1;
const ICMP_ECHO: u8 = 8;
const IP_HEADER: usize = 20;
const TTL: u8 = 255;

/// ICMP types whose header carries an identifier and a sequence number.
fn sequenced(ty: u8) -> bool {
    matches!(ty, 0 | 8 | 13 | 14 | 15 | 16)
}

/// The ICMP header length of type `ty`: timestamps carry three 32-bit times.
fn icmp_header_len(ty: u8) -> usize {
    if matches!(ty, 13 | 14) {
        20
    } else {
        8
    }
}

struct IcmpIpEncap {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ty: u8,
    code: u8,
    identifier: u16,
    /// The next IP ID and sequence number.
    id: u16,
    drops: u64,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let src = args.read_mp::<Ipv4Addr>("SRC");
    let dst = args.read_mp::<Ipv4Addr>("DST");
    let ty: Option<String> = args.read_mp("TYPE");
    let code: String = args.read_p("CODE").unwrap_or_else(|| "0".into());
    let identifier = args.read_k::<u16>("IDENTIFIER").unwrap_or(0);
    let (src, dst, ty) = (src?, dst?, ty?);
    let Some(ty) = parse_type(ty.trim()) else {
        args.error_whole("invalid TYPE");
        return None;
    };
    let Some(code) = parse_code(ty, code.trim()) else {
        args.error_whole("invalid CODE");
        return None;
    };
    Some(Box::new(IcmpIpEncap {
        src,
        dst,
        ty,
        code,
        identifier,
        id: 1,
        drops: 0,
    }))
}

fn make_ping(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let src = args.read_mp::<Ipv4Addr>("SRC");
    let dst = args.read_mp::<Ipv4Addr>("DST");
    let identifier = args.read_k::<u16>("IDENTIFIER").unwrap_or(0);
    Some(Box::new(IcmpIpEncap {
        src: src?,
        dst: dst?,
        ty: ICMP_ECHO,
        code: 0,
        identifier,
        id: 1,
        drops: 0,
    }))
}

impl Element for IcmpIpEncap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let hl = icmp_header_len(self.ty);
        push_each(ctx, batch, |p| {
            let total = p.len() + IP_HEADER + hl;
            if total > usize::from(u16::MAX) || p.push(IP_HEADER + hl).is_err() {
                self.drops += 1;
                return Verdict::Drop;
            }
            let id = self.id;
            self.id = if id == u16::MAX { 1 } else { id + 1 };
            let (src, dst) = (self.src.octets(), self.dst.octets());
            let d = p.data_mut();
            let (ip, icmp) = d.split_at_mut(IP_HEADER);
            ip[0] = 0x45;
            ip[1] = 0;
            ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            ip[6..8].fill(0);
            ip[8] = TTL;
            ip[9] = PROTO_ICMP;
            ip[10..12].fill(0);
            ip[12..16].copy_from_slice(&src);
            ip[16..20].copy_from_slice(&dst);
            let sum = checksum::checksum(ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            icmp[..hl].fill(0);
            icmp[0] = self.ty;
            icmp[1] = self.code;
            if sequenced(self.ty) {
                icmp[4..6].copy_from_slice(&self.identifier.to_be_bytes());
                icmp[6..8].copy_from_slice(&id.to_be_bytes());
            }
            let sum = checksum::checksum(icmp);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            p.set_network_offset(0);
            p.set_transport_offset(IP_HEADER);
            p.anno_mut().dst_ip = dst;
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "src" => Some(self.src.to_string()),
            "dst" => Some(self.dst.to_string()),
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
            "dst" => self.dst = parse_value(name, value)?,
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

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use etherparse::{Icmpv4Header, Icmpv4Type, Ipv4Header};

    use crate::testutil::{graph, Bench, Harness};

    fn encap(config: &str, payloads: &[&[u8]]) -> Vec<crate::testutil::Out> {
        let mut h = Harness::new(Bench::new(), &[("e", "ICMPIPEncap", config, 1, 1)]).unwrap();
        for p in payloads {
            let p = h.packet(p);
            h.push(0, p);
        }
        h.take()
    }

    #[test]
    fn echo_requests_byte_for_byte() {
        let out = encap("1.0.0.1, 2.0.0.2, 8, IDENTIFIER 0x1234", &[b"ab", b"xyz"]);
        // Checked against Click 2.1's ICMPIPEncap on the same input.
        let want0: [u8; 30] = [
            0x45, 0, 0, 30, 0, 1, 0, 0, 255, 1, 0, 0, 1, 0, 0, 1, 2, 0, 0, 2, //
            8, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b',
        ];
        let (ip, rest) = Ipv4Header::from_slice(&out[0].data).unwrap();
        assert_eq!(ip.calc_header_checksum(), ip.header_checksum);
        let mut got = out[0].data.clone();
        got[10..12].fill(0);
        got[22..24].fill(0);
        assert_eq!(got, want0);
        let (icmp, payload) = Icmpv4Header::from_slice(rest).unwrap();
        assert_eq!(icmp.icmp_type.calc_checksum(payload), icmp.checksum);
        // The second packet: IP ID and sequence number 2, an odd length summed right.
        let (ip, rest) = Ipv4Header::from_slice(&out[1].data).unwrap();
        assert_eq!((ip.identification, ip.total_len), (2, 31));
        let (icmp, payload) = Icmpv4Header::from_slice(rest).unwrap();
        match icmp.icmp_type {
            Icmpv4Type::EchoRequest(e) => assert_eq!((e.id, e.seq), (0x1234, 2)),
            t => panic!("{t:?}"),
        }
        assert_eq!(icmp.icmp_type.calc_checksum(payload), icmp.checksum);
        assert_eq!(out[1].network_offset, Some(0));
        assert_eq!(out[1].transport_offset, Some(20));
        assert_eq!(out[1].anno.dst_ip, [2, 0, 0, 2]);
    }

    #[test]
    fn icmp_ping_encap_is_an_echo_request_encap() {
        // Click's ICMPPingEncap and ICMPIPEncap(.., echo) make the same bytes (both checked
        // against Click 2.1 through ToDump).
        let mut h = Harness::new(
            Bench::new(),
            &[(
                "e",
                "ICMPPingEncap",
                "1.0.0.1, 2.0.0.2, IDENTIFIER 0x1234",
                1,
                1,
            )],
        )
        .unwrap();
        for p in [&b"ab"[..], b"xyz"] {
            let p = h.packet(p);
            h.push(0, p);
        }
        let ping = h.take();
        let encap = encap(
            "1.0.0.1, 2.0.0.2, echo, IDENTIFIER 0x1234",
            &[b"ab", b"xyz"],
        );
        assert_eq!(ping.len(), 2);
        for (a, b) in ping.iter().zip(&encap) {
            assert_eq!(a.data, b.data);
        }
        assert_eq!(h.read("src"), "1.0.0.1");
        assert!(Harness::new(Bench::new(), &[("e", "ICMPPingEncap", "1.0.0.1", 1, 1)]).is_err());
    }

    #[test]
    fn types_codes_and_header_lengths() {
        let out = encap("1.0.0.2, 1.0.0.2, unreachable, port", &[b""]);
        assert_eq!(&out[0].data[20..], &[3, 3, 0xfc, 0xfc, 0, 0, 0, 0]);
        // Not sequenced: the identifier and sequence stay zero.
        let out = encap("1.0.0.3, 1.0.0.3, 5, 3, IDENTIFIER 9", &[b""]);
        assert_eq!(&out[0].data[20..22], &[5, 3]);
        assert_eq!(&out[0].data[24..], &[0, 0, 0, 0]);
        // Timestamp messages have a 20-byte header.
        let out = encap("1.0.0.3, 1.0.0.3, timestamp", &[b"p"]);
        assert_eq!(out[0].data.len(), 20 + 20 + 1);
        assert_eq!(&out[0].data[26..28], &[0, 1]);
        assert_eq!(crate::wire::checksum::checksum(&out[0].data[20..]), 0);
    }

    #[test]
    fn the_id_skips_zero_when_it_wraps() {
        let mut h = Harness::new(
            Bench::new(),
            &[("e", "ICMPIPEncap", "1.0.0.1, 1.0.0.2, 0", 1, 1)],
        )
        .unwrap();
        let mut ids = Vec::new();
        for _ in 0..65536u32 {
            let p = h.packet(b"");
            h.push(0, p);
            let o = h.take().pop().unwrap();
            ids.push(u16::from_be_bytes([o.data[4], o.data[5]]));
        }
        assert_eq!(ids[0], 1);
        assert_eq!(ids[65534], 65535);
        assert_eq!(ids[65535], 1);
    }

    #[test]
    fn handlers_and_drops() {
        let mut h = Harness::new(
            Bench::new().pool(4, 0),
            &[("e", "ICMPIPEncap", "1.0.0.1, 1.0.0.2, echo", 1, 1)],
        )
        .unwrap();
        assert_eq!(h.read("src"), "1.0.0.1");
        h.write("dst", "9.9.9.9").unwrap();
        h.write("src", "8.8.8.8").unwrap();
        assert!(h.write("dst", "nope").is_err());
        assert_eq!(h.read("dst"), "9.9.9.9");
        let p = h.packet(b"x");
        h.push(0, p);
        assert_eq!(&h.take()[0].data[12..20], &[8, 8, 8, 8, 9, 9, 9, 9]);
        // No headroom left: dropped and counted.
        let mut p = h.packet(b"x");
        let room = p.headroom();
        p.push(room).unwrap();
        h.push(0, p);
        assert!(h.take().is_empty());
        assert_eq!(h.read("drops"), "1");
    }

    #[test]
    fn bad_arguments() {
        for (cfg, want) in [
            ("1.0.0.1, 1.0.0.2, 256", "invalid TYPE"),
            ("1.0.0.1, 1.0.0.2, bogus", "invalid TYPE"),
            ("1.0.0.1, 1.0.0.2, 3, nonsense", "invalid CODE"),
            ("1.0.0.1, 1.0.0.2, 3, 300", "invalid CODE"),
            ("1.0.0.1, 1.0.0.2", "TYPE"),
            ("1.0.0.x, 1.0.0.2, 8", "SRC"),
        ] {
            let err = crate::testutil::config_error(&graph(&[("e", "ICMPIPEncap", cfg)], &[]));
            assert!(err.contains(want), "{cfg}: {err}");
        }
    }
}
