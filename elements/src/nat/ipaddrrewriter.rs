//! `IPAddrRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])` — rewrites IP packets' source addresses (Basic NAT).
//!
//! **Ports:** `1-/1-`: one or more inputs (one per INPUTSPEC), one or more outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! Network address translation without ports: every internal host that talks to the
//! outside is given an address of its own from a pool, for packets of any IP protocol. A
//! mapping says that packets *from* address SA are rewritten to come from SA' and sent to
//! FOUTPUT, and packets *to* SA' are rewritten to go to SA and sent to ROUTPUT. A packet is
//! looked up by its source address first, then by its destination address; if either
//! belongs to a mapping the packet is rewritten (the one address, the IP checksum and, in a
//! first fragment, the TCP or UDP checksum, a UDP checksum of zero staying zero) and
//! emitted. Otherwise the INPUTSPEC of the input it arrived on decides:
//!
//! - `drop`, `discard`: drop it.
//! - `pass OUTPUT` (also `passthrough`, `nochange`): emit it unchanged on OUTPUT.
//! - `keep FOUTPUT ROUTPUT`: install a mapping that changes nothing.
//! - `pattern SADDR - FOUTPUT ROUTPUT`: install a mapping to SADDR, which may be `-` (keep
//!   the address), an address, a range `3.0.0.1-3.0.0.254` or a prefix `3.0.0.0/24`
//!   (standing for `.1`-`.254`). From a range an address no other mapping holds is chosen,
//!   at random, or in order when the range ends in `#`; when none is left the packet is
//!   dropped and counted as a mapping failure.
//! - `pattern NAME FOUTPUT ROUTPUT`: a pattern declared in `IPRewriterPatterns`.
//! - `ELEMENTNAME`: ask that mapper element (`RoundRobinIPMapper`) for the mapping.
//!
//! The destination of a pattern must be `-`. A pattern that would change the destination
//! or ports (four words, or a destination address) is accepted, as Click accepts it, but
//! every packet it would map is dropped and counted as a mapping failure. Packets whose IP
//! header is malformed or truncated are dropped and counted (`bad_packets`). The IP header
//! is found through the packet's network header annotation (offset 0 when unset). Reply
//! packets get the destination IP annotation set to their new destination.
//!
//! A mapping expires TIMEOUT after its last packet and is guaranteed for GUARANTEE after
//! each packet: it is not evicted to make room for new ones. Expired mappings are removed
//! every REAP_INTERVAL. When MAPPING_CAPACITY mappings exist, a new mapping evicts the
//! best-effort mapping that expires first; if every mapping is guaranteed the new one
//! fails.
//!
//! **Keywords:**
//!
//! - `TIMEOUT`: seconds; default 2 hours.
//! - `GUARANTEE`: default 5 seconds.
//! - `REAP_INTERVAL` (also `REAP_TIME`): default 15 minutes.
//! - `MAPPING_CAPACITY` (also `CAPACITY`): most mappings at once, or the name of another
//!   rewriter whose capacity this one's mappings share; default unlimited.
//! - `REPLY_ANNO`: a one-byte annotation (`PAINT`) that a mapping remembers from its first
//!   packet and sets on the packets of its reply direction.
//!
//! **Handlers:** `table` (also `mappings`), `table_size` (also `nmappings`),
//! `mapping_failures`, `size`, `capacity` (rw), `patterns`,
//! `patternN` (rw, as in `IPRewriter`), `clear` (w), `bad_packets`. The table lists each
//! mapping's two entries as Click does:
//! `SA => SA' [*F R] iINPUT expSECONDS` for the forward entry and, since a reply entry's key
//! holds only the new address as destination, `0.0.0.0 => 0.0.0.0 [F *R] ...` for the
//! reply entry.
//!
//! **Hot reconfiguration:** as `IPRewriter`'s: it takes the mappings, with their
//! expiry, of the `IPAddrRewriter` of the same name that it replaces through `hotconfig`.
//!
//! **Example:**
//!
//! ```text
//! rw :: IPAddrRewriter(pattern 21.0.0.1-21.0.0.254# - 0 1, drop);
//! inside -> [0]rw; outside -> [1]rw;
//! rw[0] -> to_outside; rw[1] -> to_inside;
//! ```
//!
//! **Differences from Click:** a `patternN` write takes no named pattern or mapper; a pattern that
//! cannot map counts mapping failures (Click drops silently). `ICMPRewriter` does not
//! consult this element's table.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::rewriter::{configure, Kind};

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(Kind::Addr, args, cctx)
}

/// Rewrites source addresses of every IP protocol, one address per internal host.
pub static IPAddrRewriter: ElementClass = ElementClass {
    name: "IPAddrRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::super::testutil::*;

    const IN1: [u8; 4] = [1, 0, 0, 1];
    const IN2: [u8; 4] = [1, 0, 0, 2];
    const SRV: [u8; 4] = [9, 9, 9, 9];
    const SEQ: &str = "pattern 3.0.0.1-3.0.0.255# - 0 1, drop";

    fn addrs(p: &[u8]) -> ([u8; 4], [u8; 4]) {
        let (s, _, d, _) = flow_of(p);
        (s, d)
    }

    #[test]
    fn sources_out_destinations_back_golden() {
        let mut r = Rig::new("IPAddrRewriter", SEQ, 2, 2);
        let (o, out) = r.one(0, &udp(IN1, 5000, SRV, 53, b"q")).unwrap();
        assert_eq!(o, 0);
        // Only the source address changes; ports stay.
        assert_eq!(out, udp([3, 0, 0, 1], 5000, SRV, 53, b"q"));
        let (_, out) = r.one(0, &tcp(IN2, 80, [9, 9, 9, 8], 81, "S", b"")).unwrap();
        assert_eq!(out, tcp([3, 0, 0, 2], 80, [9, 9, 9, 8], 81, "S", b""));
        // The same host keeps its address towards anyone, in any protocol.
        let (_, out) = r.one(0, &echo(IN1, [9, 9, 9, 7], 3, true)).unwrap();
        assert_eq!(addrs(&out), ([3, 0, 0, 1], [9, 9, 9, 7]));
        assert_checksums(&out);
        // Anyone may reach a mapped address; the reply goes back to the host.
        let (o, back) = r
            .one(1, &tcp([9, 9, 9, 6], 1, [3, 0, 0, 1], 2, "A", b"x"))
            .unwrap();
        assert_eq!(o, 1);
        assert_eq!(back, tcp([9, 9, 9, 6], 1, IN1, 2, "A", b"x"));
        assert_eq!(r.h("table_size"), "2");
        assert_eq!(r.h("nmappings"), "2");
        assert_eq!(r.h("patterns"), "3.0.0.1-3.0.0.255 - [2]\n<drop>\n");
        assert_eq!(r.h("pattern1"), "<drop>\n");
        // Input 1 drops what no mapping covers.
        assert!(r
            .one(1, &udp([9, 9, 9, 6], 1, [3, 0, 0, 9], 2, b""))
            .is_none());
    }

    #[test]
    fn checksums_follow_and_zero_udp_checksum_stays() {
        let mut r = Rig::new("IPAddrRewriter", SEQ, 2, 2);
        for p in [
            udp(IN1, 1, SRV, 2, b"abc"),
            tcp(IN1, 3, SRV, 4, "SA", b"payload"),
            echo(IN1, SRV, 9, true),
        ] {
            assert_checksums(&r.one(0, &p).unwrap().1);
        }
        let mut nock = udp(IN1, 1, SRV, 2, b"abc");
        nock[26] = 0;
        nock[27] = 0;
        let out = r.one(0, &nock).unwrap().1;
        assert_eq!(&out[26..28], &[0, 0]);
        assert_checksums(&out);
        // A non-first fragment: the addresses and IP checksum change, the bytes where a
        // transport checksum would be do not.
        let mut frag = udp(IN1, 1, SRV, 2, b"abcdefgh");
        frag[6] = 0;
        frag[7] = 1;
        let sum = crate::wire::checksum::checksum(&{
            let mut h = frag[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        frag[10..12].copy_from_slice(&sum.to_be_bytes());
        let out = r.one(0, &frag).unwrap().1;
        assert_eq!(&out[12..16], &[3, 0, 0, 1]);
        assert_eq!(&out[20..], &frag[20..]);
        assert_eq!(crate::wire::checksum::checksum(&out[..20]), 0);
    }

    #[test]
    fn table_text_is_clicks() {
        let mut r = Rig::new("IPAddrRewriter", SEQ, 2, 2);
        r.one(0, &udp(IN1, 1, SRV, 2, b"")).unwrap();
        assert_eq!(
            r.h("table"),
            "0.0.0.0 => 0.0.0.0 [0 *1] i0 exp7200\n1.0.0.1 => 3.0.0.1 [*0 1] i0 exp7200\n"
        );
        assert_eq!(r.h("mappings"), r.h("table"));
        r.harness.write("clear", "").unwrap();
        assert_eq!(r.h("table"), "");
        assert_eq!(r.h("size"), "0");
    }

    #[test]
    fn an_exhausted_range_fails_and_a_freed_address_is_reused() {
        let cfg = "pattern 3.0.0.1-3.0.0.2# - 0 1, drop, TIMEOUT 10, GUARANTEE 0, REAP_INTERVAL 1";
        let mut r = Rig::new("IPAddrRewriter", cfg, 2, 2);
        let mut got = Vec::new();
        for h in 1..=3u8 {
            got.push(
                r.one(0, &udp([1, 0, 0, h], 1, SRV, 2, b""))
                    .map(|x| addrs(&x.1).0),
            );
        }
        assert_eq!(got, [Some([3, 0, 0, 1]), Some([3, 0, 0, 2]), None]);
        assert_eq!(r.h("mapping_failures"), "1");
        r.advance(11);
        assert_eq!(r.h("table_size"), "0");
        let out = r.one(0, &udp([1, 0, 0, 3], 1, SRV, 2, b"")).unwrap().1;
        assert_eq!(addrs(&out).0, [3, 0, 0, 1]);
    }

    #[test]
    fn the_destination_annotation_is_set_on_replies_only() {
        let mut r = Rig::new("IPAddrRewriter", SEQ, 2, 2);
        let h = &mut r.harness;
        h.push_ip(0, &udp(IN1, 1, SRV, 2, b""), 0, |a| a.dst_ip = [7, 7, 7, 7]);
        h.push_ip(1, &udp(SRV, 2, [3, 0, 0, 1], 1, b""), 0, |a| {
            a.dst_ip = [7, 7, 7, 7]
        });
        let outs = h.take();
        assert_eq!(outs[0].anno.dst_ip, [7, 7, 7, 7]);
        assert_eq!(outs[1].anno.dst_ip, IN1);
        // The IP header is found through the network header annotation.
        let mut framed = [0u8; 14].to_vec();
        framed.extend(udp(IN2, 1, SRV, 2, b""));
        h.push_ip(0, &framed, 14, |_| {});
        let out = h.take().pop().unwrap();
        assert_eq!(&out.data[..14], &[0; 14]);
        assert_eq!(addrs(&out.data[14..]).0, [3, 0, 0, 2]);
    }

    #[test]
    fn keep_pass_and_unusable_patterns() {
        let mut r = Rig::new(
            "IPAddrRewriter",
            "keep 0 1, pass 1, pattern 3.0.0.1 1024-2000 - - 0 1, pattern 3.0.0.1 4.0.0.1 0 1",
            4,
            2,
        );
        let p = udp(IN1, 1, SRV, 2, b"");
        assert_eq!(r.one(0, &p), Some((0, p.clone())));
        let back = udp(SRV, 2, IN1, 1, b"");
        assert_eq!(r.one(1, &back), Some((1, back.clone())));
        let other = udp(IN2, 1, SRV, 2, b"");
        assert_eq!(r.one(1, &other), Some((1, other.clone())));
        assert_eq!(r.h("table_size"), "1");
        // Patterns that name ports or a destination are accepted and map nothing.
        assert!(r.one(2, &udp([1, 0, 0, 5], 1, SRV, 2, b"")).is_none());
        assert!(r.one(3, &udp([1, 0, 0, 6], 1, SRV, 2, b"")).is_none());
        assert_eq!(r.h("mapping_failures"), "2");
        assert_eq!(r.h("pattern2"), "3.0.0.1 1024-2000 - -\n");
    }

    #[test]
    fn malformed_packets_are_counted_and_dropped() {
        let mut r = Rig::new("IPAddrRewriter", "keep 0 0", 1, 1);
        let good = udp(IN1, 1, SRV, 2, b"");
        let mut bad_ihl = good.clone();
        bad_ihl[0] = 0x4f;
        let mut bad_len = good.clone();
        bad_len[3] = 10;
        let cases: [&[u8]; 5] = [&good[..19], &[], &bad_ihl, &bad_len, &[0x60; 40]];
        for c in cases {
            assert!(r.one(0, c).is_none());
        }
        assert_eq!(r.h("bad_packets"), "5");
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in 0..1000usize {
            let mut buf = Vec::new();
            for _ in 0..(n % 60) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            if buf.len() > 20 {
                buf[0] = 0x45;
            }
            r.push(0, &[&buf]);
        }
    }

    #[test]
    fn configuration_errors() {
        for cfg in [
            "pattern 1.0.0.x - 0 1",
            "pattern 1.255.0.0-1.0.255.255 - 0 1",
            "pattern 1.0.0.1 1x - - 0 1",
            "pattern 1.0.0.0 456-65536 - - 0 1",
            "pattern 1.0.0.1 - 0 5",
        ] {
            let err = Rig::try_new(&[("rw", "IPAddrRewriter", cfg)], 1, 2)
                .err()
                .unwrap_or_else(|| panic!("{cfg} accepted"));
            assert!(
                err.contains("input spec 0: bad") || err.contains("out of range"),
                "{err}"
            );
        }
        // A port range starting at 0 is a valid pattern.
        assert!(Rig::try_new(
            &[("rw", "IPAddrRewriter", "pattern 1.0.0.0 0-255 - - 0 1")],
            1,
            2
        )
        .is_ok());
    }
}
