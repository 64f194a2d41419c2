//! `FTPPortMapper(CONTROL_REWRITER, DATA_REWRITER, DATA_REWRITER_INPUT)` — maps the data connections FTP `PORT` commands announce through a rewriter.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Watches FTP control packets (TCP, IP header at the network header annotation) for a
//! `PORT h1,h2,h3,h4,p1,p2` command, so active-mode FTP works through a NAT.
//! CONTROL_REWRITER is the `TCPRewriter` or `IPRewriter` the control packets go through
//! after this element; DATA_REWRITER is the rewriter the data connection will go through
//! (`IPRewriter`, `TCPRewriter` or `UDPRewriter`; it may be the same element), and
//! DATA_REWRITER_INPUT the input of DATA_REWRITER whose input spec (usually a pattern)
//! makes the data connection's mapping.
//!
//! A packet is examined when its payload starts with `PORT ` (the four letters in either
//! case) and CONTROL_REWRITER already holds a mapping of its flow, either way. The command
//! must be complete in the packet: optional spaces, six decimal numbers of at most 255
//! separated by commas, then a carriage return or newline. The data connection is taken
//! to run from the announced address and port to the packet's destination at one port
//! below its destination port (port 20 for a server on 21). Then FTPPortMapper:
//!
//! - finds that flow's mapping in DATA_REWRITER or makes one by DATA_REWRITER_INPUT's
//!   spec, as if a packet of it had arrived there (nothing more happens when the spec
//!   makes none);
//! - rewrites the command to announce the address and port that flow is rewritten to
//!   (`PORT 1,0,0,1,4,1` for 1.0.0.1:1025), sets the IP length, updates the IP checksum and
//!   recomputes the TCP checksum; the addresses and ports of the packet itself are left
//!   for CONTROL_REWRITER;
//! - tells CONTROL_REWRITER that the payload's length changed from this packet's end on:
//!   the mapping keeps a sequence-number delta for the packet's direction, so later
//!   sequence numbers of that direction, and the acknowledgement numbers and SACK blocks
//!   of the other, are adjusted (see `TCPRewriter`);
//! - gives the data mapping the reply annotation of the control mapping (`REPLY_ANNO`).
//!
//! Every other packet passes unchanged. A command that would not fit the packet buffer is
//! left as it is.
//!
//! **Example:**
//!
//! ```text
//! IPRewriterPatterns(pat 1.0.0.1 1024-65535# - -);
//! rw :: TCPRewriter(pattern pat 0 1, drop);
//! inside -> FTPPortMapper(rw, rw, 0) -> [0]rw;
//! outside -> [1]rw;
//! ```
//!
//! **Differences from Click:** DATA_REWRITER may not be an address rewriter
//! (`IPAddrRewriter`, `IPAddrPairRewriter`) or `ICMPPingRewriter`. Click warns when
//! CONTROL_REWRITER is not downstream; sluice does not check.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use core::fmt::Write;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, InitContext, Packet,
};

use super::rewriter::{Kind, Shared};
use super::table::FlowId;
use crate::wire::checksum;

const PROTO_TCP: u8 = 6;

struct FtpPortMapper {
    control_name: String,
    data_name: String,
    data_input: i64,
    control: Option<Rc<Shared>>,
    data: Option<Rc<Shared>>,
    /// PORT commands rewritten.
    rewritten: u64,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let control_name = args.read_mp::<String>("CONTROL_REWRITER");
    let data_name = args.read_mp::<String>("DATA_REWRITER");
    let data_input = args.read_mp::<i64>("DATA_REWRITER_INPUT");
    Some(Box::new(FtpPortMapper {
        control_name: control_name?.trim().to_string(),
        data_name: data_name?.trim().to_string(),
        data_input: data_input?,
        control: None,
        data: None,
        rewritten: 0,
    }))
}

/// The rewriter named `name`, if it is one of `kinds`.
fn rewriter(
    ctx: &InitContext<'_>,
    what: &str,
    name: &str,
    kinds: &[Kind],
    expected: &str,
) -> Result<Rc<Shared>, String> {
    let e = ctx
        .element(name)
        .ok_or_else(|| format!("{what}: no element named '{name}'"))?;
    e.shared
        .and_then(|s| s.downcast::<Shared>().ok())
        .filter(|s| kinds.contains(&s.kind()))
        .ok_or_else(|| format!("{what}: '{name}' is a {}, not {expected}", e.class))
}

/// Where the `PORT` command's argument is in `payload`: (start, end, address, port), or
/// `None` when the payload holds no complete command.
fn parse_port(payload: &[u8]) -> Option<(usize, usize, u32, u16)> {
    let verb = payload.get(..5)?;
    if !verb[..4].eq_ignore_ascii_case(b"PORT") || verb[4] != b' ' {
        return None;
    }
    let mut pos = 5;
    while payload.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let start = pos;
    // Six numbers (empty ones count as 0) separated by commas.
    let mut nums = [0u32; 6];
    let mut which = 0;
    while let Some(&c) = payload.get(pos) {
        match c {
            b'0'..=b'9' => nums[which] = nums[which].saturating_mul(10) + u32::from(c - b'0'),
            b',' if which < 5 => which += 1,
            b',' => return None,
            _ => break,
        }
        pos += 1;
    }
    if which != 5
        || !matches!(payload.get(pos), Some(b'\r' | b'\n'))
        || nums.iter().any(|&n| n > 255)
    {
        return None;
    }
    let addr = nums[..4].iter().fold(0u32, |a, &n| a << 8 | n);
    let port = (nums[4] << 8 | nums[5]) as u16;
    Some((start, pos, addr, port))
}

impl FtpPortMapper {
    /// Rewrites `p`'s PORT command, if it has one this element can map; the packet to pass
    /// on.
    fn process(&mut self, ctx: &Context<'_>, mut p: Packet) -> Packet {
        let (Some(control), Some(data)) = (self.control.clone(), self.data.clone()) else {
            return p;
        };
        let off = p.network_offset().unwrap_or(0);
        let Some(ip) = p.data().get(off..) else {
            return p;
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != PROTO_TCP {
            return p;
        }
        let ihl = usize::from(ip[0] & 0xf) * 4;
        if ihl < 20 || ip.len() < ihl + 20 {
            return p;
        }
        let tcp = &ip[ihl..];
        let th_off = usize::from(tcp[12] >> 4) * 4;
        if th_off < 20 || tcp.len() < th_off {
            return p;
        }
        let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        let be32 =
            |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let payload = &tcp[th_off..];
        let Some((arg_start, arg_end, addr, port)) = parse_port(payload) else {
            return p;
        };
        let control_flow = FlowId {
            saddr: be32(ip, 12),
            daddr: be32(ip, 16),
            sport: be16(tcp, 0),
            dport: be16(tcp, 2),
        };
        if !control.has_tcp(&control_flow) {
            return p;
        }
        let data_flow = FlowId {
            saddr: addr,
            sport: port,
            daddr: control_flow.daddr,
            dport: control_flow.dport.wrapping_sub(1),
        };
        let input = usize::try_from(self.data_input).unwrap_or(usize::MAX);
        let Some((data_fi, mapped)) = data.tcp_mapping(ctx, &data_flow, input) else {
            return p;
        };
        let [a, b, c, d] = mapped.saddr.to_be_bytes();
        let mut text = String::new();
        let _ = write!(
            text,
            "{a},{b},{c},{d},{},{}",
            mapped.sport >> 8,
            mapped.sport & 0xff
        );
        let seq = be32(tcp, 4);
        let old_payload_len = payload.len();
        let (old_arg, new_arg) = (arg_end - arg_start, text.len());

        // Splice the new argument in, growing or shrinking the packet.
        let at = off + ihl + th_off + arg_start;
        let old_len = p.len();
        let new_len = old_len - old_arg + new_arg;
        let net = p.network_offset();
        let transport = p.transport_offset();
        if new_len > old_len && p.put(new_len - old_len).is_err() {
            // Not enough tailroom: move to a larger buffer, or leave the command as it is
            // when none can be had.
            let Some(mut q) = ctx.pool().alloc(new_len) else {
                return p;
            };
            q.data_mut()[..old_len].copy_from_slice(p.data());
            *q.anno_mut() = *p.anno();
            q.clear_headers();
            if let Some(n) = net {
                q.set_network_offset(n);
            }
            if let Some(t) = transport {
                q.set_transport_offset(t);
            }
            p = q;
        }
        let buf = p.data_mut();
        buf.copy_within(at + old_arg..old_len, at + new_arg);
        buf[at..at + new_arg].copy_from_slice(text.as_bytes());
        if new_len < old_len {
            let _ = p.take(old_len - new_len);
        }

        // IP length and checksum (incrementally), then the TCP checksum afresh.
        let ip = &mut p.data_mut()[off..];
        let old_total = be16(ip, 2);
        let total = (new_len - off).min(0xffff) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let sum = checksum::update16(be16(ip, 10), old_total, total);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let (src, dst) = (
            [ip[12], ip[13], ip[14], ip[15]],
            [ip[16], ip[17], ip[18], ip[19]],
        );
        let seg = &mut ip[ihl..];
        seg[16..18].copy_from_slice(&[0, 0]);
        let slen = seg.len().min(0xffff) as u16;
        let acc = checksum::sum(checksum::pseudo_header_v4(src, dst, PROTO_TCP, slen), seg);
        let c = checksum::finish(acc);
        seg[16..18].copy_from_slice(&c.to_be_bytes());

        // The control connection's later sequence numbers move by the change.
        let trigger = seq.wrapping_add(old_payload_len as u32);
        let delta = new_arg as i32 - old_arg as i32;
        if let Some(anno) = control.add_seq_delta(&control_flow, trigger, delta) {
            data.set_reply_anno(data_fi, anno);
        }
        self.rewritten += 1;
        p
    }
}

impl Element for FtpPortMapper {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            let p = self.process(ctx, p);
            ctx.output(0, p);
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        let control = rewriter(
            ctx,
            "CONTROL_REWRITER",
            &self.control_name,
            &[Kind::Ip, Kind::Tcp],
            "a TCPRewriter or IPRewriter",
        )?;
        let data = rewriter(
            ctx,
            "DATA_REWRITER",
            &self.data_name,
            &[Kind::Ip, Kind::Tcp, Kind::Udp],
            "an IPRewriter, TCPRewriter or UDPRewriter",
        )?;
        if self.data_input < 0 || self.data_input >= data.ninputs() as i64 {
            return Err("DATA_REWRITER_INPUT out of range".into());
        }
        self.control = Some(control);
        self.data = Some(data);
        Ok(())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "rewritten" => Some(self.rewritten.to_string()),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("rewritten")];
        H
    }
}

/// Maps FTP data connections announced by PORT commands.
pub static FTPPortMapper: ElementClass = ElementClass {
    name: "FTPPortMapper",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use etherparse::PacketBuilder;

    use super::super::testutil::*;

    const CLIENT: [u8; 4] = [200, 200, 200, 200];
    const SERVER: [u8; 4] = [2, 0, 0, 2];
    const NAT: [u8; 4] = [1, 0, 0, 1];

    /// A TCP packet with sequence and acknowledgement numbers and raw options.
    #[allow(clippy::too_many_arguments)]
    fn seg(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        seq: u32,
        ack: u32,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .tcp(sport, dport, seq, 1000)
            .ack(ack)
            .options_raw(opts)
            .unwrap()
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn rig(pattern: &str) -> Rig {
        Rig::multi(&[
            ("ftp", "FTPPortMapper", "rw, rw, 0", 1, 1),
            ("rw", "TCPRewriter", pattern, 2, 2),
        ])
        .unwrap()
    }

    /// Sends `p` through the mapper and then the rewriter's input `port`.
    fn through(r: &mut Rig, port: usize, p: &[u8]) -> Vec<u8> {
        let p = if port == 0 {
            let (_, out) = r.one_into("ftp", 0, p).unwrap();
            assert_checksums(&out);
            out
        } else {
            p.to_vec()
        };
        let (_, out) = r.one_into("rw", port, &p).unwrap();
        assert_checksums(&out);
        out
    }

    fn payload(p: &[u8]) -> &[u8] {
        let ihl = usize::from(p[0] & 15) * 4;
        &p[ihl + usize::from(p[ihl + 12] >> 4) * 4..]
    }

    fn seq_ack(p: &[u8]) -> (u32, u32) {
        let t = &p[usize::from(p[0] & 15) * 4..];
        (
            u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
            u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        )
    }

    #[test]
    fn port_command_is_mapped_and_sequence_numbers_follow() {
        let mut r = rig("pattern 1.0.0.1 1024-65535# - - 0 1, drop");
        // Without a control mapping nothing changes; the first packet makes one.
        let port = seg(
            CLIENT,
            30,
            SERVER,
            21,
            1,
            0,
            &[],
            b"PORT 200,200,200,200,200,200\n",
        );
        assert_eq!(r.one_into("ftp", 0, &port).unwrap().1, port);
        through(&mut r, 0, &seg(CLIENT, 30, SERVER, 21, 0, 0, &[], b"x"));
        let out = through(&mut r, 0, &port);
        assert_eq!(payload(&out), b"PORT 1,0,0,1,4,1\n");
        assert_eq!(seq_ack(&out), (1, 0));
        assert_eq!(flow_of(&out), (NAT, 1024, SERVER, 21));
        assert_eq!(r.harness.router.read_handler("ftp.rewritten").unwrap(), "1");
        // The data connection's mapping: 200.200.200.200:51400 to the server's port 20.
        assert_eq!(
            r.harness
                .router
                .read_handler_with("rw.lookup", "200.200.200.200 51400 2.0.0.2 20")
                .unwrap(),
            "1.0.0.1 1025 2.0.0.2 20"
        );
        // The command became 12 bytes shorter: later data moves back 12.
        let out = through(
            &mut r,
            0,
            &seg(CLIENT, 30, SERVER, 21, 30, 0, &[], b"fubar\n"),
        );
        assert_eq!(seq_ack(&out), (18, 0));
        let table = r.harness.router.read_handler("rw.table").unwrap();
        assert!(table.contains("seq -12"), "{table}");
        // Replies: acknowledgements and SACK edges (here at an odd offset) move forward.
        let out = through(&mut r, 1, &seg(SERVER, 21, NAT, 1024, 0, 18, &[], b""));
        assert_eq!(seq_ack(&out), (0, 30));
        assert_eq!(flow_of(&out), (SERVER, 21, CLIENT, 30));
        let mut sack = vec![1, 5, 18];
        for v in [1u32, 10, 1, 18] {
            sack.extend_from_slice(&v.to_be_bytes());
        }
        sack.extend_from_slice(&[0, 0, 0]);
        let out = through(&mut r, 1, &seg(SERVER, 21, NAT, 1024, 0, 0, &sack, b""));
        let opts = &out[20 + 20..20 + 20 + 19];
        let edge = |k: usize| {
            u32::from_be_bytes([
                opts[3 + 4 * k],
                opts[4 + 4 * k],
                opts[5 + 4 * k],
                opts[6 + 4 * k],
            ])
        };
        assert_eq!([edge(0), edge(1), edge(2), edge(3)], [1, 10, 1, 30]);
    }

    #[test]
    fn deltas_go_with_their_mapping() {
        let mut r = rig("pattern 1.0.0.1 1024-65535# - - 0 1, drop, TCP_GUARANTEE 0, REAP_INTERVAL 1, TCP_NODATA_TIMEOUT 2");
        let port = seg(
            CLIENT,
            30,
            SERVER,
            21,
            1,
            0,
            &[],
            b"PORT 200,200,200,200,200,200\n",
        );
        for reset in ["clear", "reap"] {
            through(&mut r, 0, &seg(CLIENT, 30, SERVER, 21, 0, 0, &[], b"x"));
            through(&mut r, 0, &port);
            let later = seg(CLIENT, 30, SERVER, 21, 30, 0, &[], b"z");
            assert_eq!(seq_ack(&through(&mut r, 0, &later)), (18, 0));
            match reset {
                "clear" => r.harness.router.write_handler("rw.clear", "").unwrap(),
                _ => {
                    r.advance(3);
                    r.advance(1);
                }
            }
            assert_eq!(r.harness.router.read_handler("rw.nmappings").unwrap(), "0");
            // A new mapping of the same flow (in a reused slot) starts without deltas.
            let out = through(&mut r, 0, &later);
            assert_eq!(seq_ack(&out), (30, 0), "after {reset}");
            let table = r.harness.router.read_handler("rw.table").unwrap();
            assert!(!table.contains("seq"), "{table}");
            r.harness.router.write_handler("rw.clear", "").unwrap();
        }
    }

    #[test]
    fn a_longer_command_grows_the_packet() {
        let mut r = rig("pattern 100.100.100.100 40000-40010# - - 0 1, drop");
        through(&mut r, 0, &seg(CLIENT, 30, SERVER, 21, 0, 0, &[], b"x"));
        let out = through(
            &mut r,
            0,
            &seg(
                CLIENT,
                30,
                SERVER,
                21,
                1,
                0,
                &[],
                b"port 1,2,3,4,0,21\r\nNOOP\r\n",
            ),
        );
        assert_eq!(payload(&out), b"port 100,100,100,100,156,65\r\nNOOP\r\n");
        let out = through(&mut r, 0, &seg(CLIENT, 30, SERVER, 21, 26, 0, &[], b"y"));
        assert_eq!(seq_ack(&out), (36, 0));
        let out = through(
            &mut r,
            1,
            &seg(SERVER, 21, [100; 4], 40000, 5, 36, &[], b""),
        );
        assert_eq!(seq_ack(&out), (5, 26));
    }

    #[test]
    fn what_is_not_a_complete_port_command_passes_unchanged() {
        let mut r = rig("pattern 1.0.0.1 1024-65535# - - 0 1, drop");
        through(&mut r, 0, &seg(CLIENT, 30, SERVER, 21, 0, 0, &[], b"x"));
        for text in [
            &b"PORT 1,2,3,4,5\n"[..],
            b"PORT 1,2,3,4,5,6,7\n",
            b"PORT 1,2,3,400,5,6\n",
            b"PORT 1,2,3,4,5,6",
            b"PORTS 1,2,3,4,5,6\n",
            b"PORT",
            b"",
        ] {
            let p = seg(CLIENT, 30, SERVER, 21, 1, 0, &[], text);
            assert_eq!(r.one_into("ftp", 0, &p).unwrap().1, p);
        }
        // Truncated and non-TCP packets pass too.
        let p = seg(CLIENT, 30, SERVER, 21, 1, 0, &[], b"PORT 1,2,3,4,5,6\n");
        assert_eq!(r.one_into("ftp", 0, &p[..30]).unwrap().1, &p[..30]);
        let u = udp(CLIENT, 30, SERVER, 21, b"PORT 1,2,3,4,5,6\n");
        assert_eq!(r.one_into("ftp", 0, &u).unwrap().1, u);
        assert_eq!(r.harness.router.read_handler("ftp.rewritten").unwrap(), "0");
        assert_eq!(r.harness.router.read_handler("rw.nmappings").unwrap(), "1");
    }

    #[test]
    fn configuration_errors_name_the_problem() {
        let err = |cfg: &str, other: (&str, &str)| {
            Rig::multi(&[
                ("ftp", "FTPPortMapper", cfg, 1, 1),
                ("rw", other.0, other.1, 1, 1),
            ])
            .err()
            .unwrap()
        };
        let tcp = ("TCPRewriter", "pattern 1.0.0.1 - - - 0 0");
        assert!(err("rw, rw, 1", tcp).contains("DATA_REWRITER_INPUT out of range"));
        assert!(err("rw, rw, -1", tcp).contains("DATA_REWRITER_INPUT out of range"));
        assert!(err("nope, rw, 0", tcp).contains("no element named 'nope'"));
        let e = err("rw, rw, 0", ("UDPRewriter", "pattern 1.0.0.1 - - - 0 0"));
        assert!(
            e.contains("CONTROL_REWRITER") && e.contains("UDPRewriter"),
            "{e}"
        );
        let e = err("rw, rw, 0", ("Queue", ""));
        assert!(e.contains("not a TCPRewriter or IPRewriter"), "{e}");
        assert!(err("rw, rw", tcp).contains("DATA_REWRITER_INPUT"));
    }
}
