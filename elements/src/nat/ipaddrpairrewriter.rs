//! `IPAddrPairRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])` — rewrites IP packets' addresses by address pair.
//!
//! **Ports:** `1-/1-`: one or more inputs (one per INPUTSPEC), one or more outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! Network address translation per (source, destination) address pair, for packets of any
//! IP protocol: between `IPAddrRewriter`, which gives a host one address towards everyone,
//! and `IPRewriter`, which maps ports too. A packet is looked up by its address pair; if it
//! belongs to a mapping it is rewritten (addresses, the IP checksum and, in a first
//! fragment, the TCP or UDP checksum, a UDP checksum of zero staying zero) and emitted.
//! Otherwise the INPUTSPEC of the input it arrived on decides:
//!
//! - `drop`, `discard`: drop it.
//! - `pass OUTPUT` (also `passthrough`, `nochange`): emit it unchanged on OUTPUT.
//! - `keep FOUTPUT ROUTPUT`: install a mapping that changes nothing.
//! - `pattern SADDR DADDR FOUTPUT ROUTPUT`: install a mapping by the pattern. Either field
//!   may be `-` (keep the address); SADDR may be a range `3.0.0.1-3.0.0.254` or a prefix
//!   `3.0.0.0/24` (standing for `.1`-`.254`), from which an address is chosen that makes a
//!   pair no other mapping holds, at random, or in order when the range ends in `#`; when
//!   none is left the packet is dropped and counted as a mapping failure.
//! - `pattern NAME FOUTPUT ROUTPUT`: a pattern declared in `IPRewriterPatterns`.
//! - `ELEMENTNAME`: ask that mapper element (`RoundRobinIPMapper`) for the mapping.
//!
//! A packet with pair (SA, DA) rewritten to (SA', DA') installs two entries: (SA, DA) =>
//! (SA', DA') to FOUTPUT, and the reply pair (DA', SA') => (DA, SA) to ROUTPUT. A pattern
//! that would change ports (four words) is accepted, as Click accepts it, but every packet
//! it would map is dropped and counted as a mapping failure. Packets whose IP header is
//! malformed or truncated are dropped and counted (`bad_packets`). The IP header is found
//! through the packet's network header annotation (offset 0 when unset). Every rewritten
//! packet gets the destination IP annotation set to its new destination.
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
//! `(SA, DA) => (SA', DA') [*F R] iINPUT expSECONDS` and `(DA', SA') => (DA, SA) [F *R]
//! ...`.
//!
//! **Hot reconfiguration:** as `IPRewriter`'s: it takes the mappings, with their
//! expiry, of the `IPAddrPairRewriter` of the same name that it replaces through `hotconfig`.
//!
//! **Example:**
//!
//! ```text
//! rw :: IPAddrPairRewriter(pattern 21.0.0.1-21.0.0.254# - 0 1, drop);
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
    configure(Kind::AddrPair, args, cctx)
}

/// Rewrites addresses of every IP protocol by (source, destination) pair.
pub static IPAddrPairRewriter: ElementClass = ElementClass {
    name: "IPAddrPairRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::super::testutil::*;

    const SEQ: &str = "pattern 3.0.0.1-3.0.0.255# - 0 1, drop";

    fn addrs(p: &[u8]) -> ([u8; 4], [u8; 4]) {
        let (s, _, d, _) = flow_of(p);
        (s, d)
    }

    #[test]
    fn one_address_per_pair_golden() {
        // Click's IPAddrPairRewriter-01, with the replies on input 1.
        let mut r = Rig::new("IPAddrPairRewriter", SEQ, 2, 2);
        // (input, source, destination) in, (output, source, destination) out.
        type Step = (usize, [u8; 4], [u8; 4], usize, [u8; 4], [u8; 4]);
        let steps: [Step; 6] = [
            (0, [1, 0, 0, 1], [9, 9, 9, 9], 0, [3, 0, 0, 1], [9, 9, 9, 9]),
            (0, [1, 0, 0, 2], [9, 9, 9, 8], 0, [3, 0, 0, 2], [9, 9, 9, 8]),
            (0, [1, 0, 0, 1], [9, 9, 9, 9], 0, [3, 0, 0, 1], [9, 9, 9, 9]),
            (0, [1, 0, 0, 1], [9, 9, 9, 7], 0, [3, 0, 0, 3], [9, 9, 9, 7]),
            // A new pair towards a mapped address is a new mapping, not a reply.
            (0, [9, 9, 9, 6], [3, 0, 0, 1], 0, [3, 0, 0, 4], [3, 0, 0, 1]),
            (1, [9, 9, 9, 7], [3, 0, 0, 3], 1, [9, 9, 9, 7], [1, 0, 0, 1]),
        ];
        for (i, (port, s, d, out, s2, d2)) in steps.into_iter().enumerate() {
            let (o, p) = r.one(port, &tcp(s, 10, d, 20, "A", b"data")).unwrap();
            assert_eq!((o, addrs(&p)), (out, (s2, d2)), "step {i}");
            assert_checksums(&p);
            assert_eq!(flow_of(&p).1, 10, "ports are kept");
        }
        assert_eq!(r.h("table_size"), "4");
        assert_eq!(r.h("patterns"), "3.0.0.1-3.0.0.255 - [4]\n<drop>\n");
    }

    #[test]
    fn both_fields_and_any_protocol() {
        let mut r = Rig::new(
            "IPAddrPairRewriter",
            "pattern 3.0.0.1 4.0.0.1 0 1, drop",
            2,
            2,
        );
        let h = &mut r.harness;
        h.push_ip(0, &echo([1, 0, 0, 1], [9, 9, 9, 9], 5, true), 0, |_| {});
        h.push_ip(1, &echo([4, 0, 0, 1], [3, 0, 0, 1], 5, false), 0, |_| {});
        let outs = h.take();
        assert_eq!(addrs(&outs[0].data), ([3, 0, 0, 1], [4, 0, 0, 1]));
        assert_eq!(outs[0].anno.dst_ip, [4, 0, 0, 1]);
        assert_eq!(addrs(&outs[1].data), ([9, 9, 9, 9], [1, 0, 0, 1]));
        assert_eq!((outs[1].port, outs[1].anno.dst_ip), (1, [1, 0, 0, 1]));
        for o in &outs {
            assert_checksums(&o.data);
        }
        assert_eq!(
            r.h("table"),
            // Click's order: one bucket, the newer (reply) entry first.
            "(4.0.0.1, 3.0.0.1) => (9.9.9.9, 1.0.0.1) [0 *1] i0 exp7200\n\
             (1.0.0.1, 9.9.9.9) => (3.0.0.1, 4.0.0.1) [*0 1] i0 exp7200\n"
        );
        // The same source towards another destination maps to the same fixed pair, whose
        // reply entry then belongs to the newer mapping.
        let out = r
            .one(0, &udp([1, 0, 0, 1], 1, [9, 9, 9, 8], 2, b""))
            .unwrap()
            .1;
        assert_eq!(addrs(&out), ([3, 0, 0, 1], [4, 0, 0, 1]));
        let back = r
            .one(1, &udp([4, 0, 0, 1], 2, [3, 0, 0, 1], 1, b""))
            .unwrap()
            .1;
        assert_eq!(addrs(&back), ([9, 9, 9, 8], [1, 0, 0, 1]));
        assert_checksums(&back);
    }

    #[test]
    fn expiry_capacity_and_failures() {
        let cfg = "pattern 3.0.0.1-3.0.0.2# - 0 1, drop, TIMEOUT 10, GUARANTEE 0, \
                   REAP_INTERVAL 1, MAPPING_CAPACITY 5";
        let mut r = Rig::new("IPAddrPairRewriter", cfg, 2, 2);
        let dst = [9, 9, 9, 9];
        let got: Vec<_> = (1..=3u8)
            .map(|h| {
                r.one(0, &udp([1, 0, 0, h], 1, dst, 2, b""))
                    .map(|x| addrs(&x.1).0)
            })
            .collect();
        assert_eq!(got, [Some([3, 0, 0, 1]), Some([3, 0, 0, 2]), None]);
        assert_eq!(r.h("mapping_failures"), "1");
        // Towards another destination both addresses are free again.
        assert!(r
            .one(0, &udp([1, 0, 0, 3], 1, [9, 9, 9, 8], 2, b""))
            .is_some());
        assert_eq!(r.h("capacity"), "5");
        r.harness.write("capacity", "1").unwrap();
        assert_eq!(r.h("size"), "1");
        r.advance(11);
        assert_eq!(r.h("size"), "0");
        // Four words name ports: accepted, but nothing can be mapped.
        let mut r = Rig::new("IPAddrPairRewriter", "pattern 3.0.0.1 1-9 - - 0 0", 1, 1);
        assert!(r.one(0, &udp([1, 0, 0, 1], 1, dst, 2, b"")).is_none());
        assert_eq!(r.h("mapping_failures"), "1");
    }

    #[test]
    fn fragments_and_malformed_packets() {
        let mut r = Rig::new("IPAddrPairRewriter", "pattern 3.0.0.1 - 0 0", 1, 1);
        let mut frag = udp([1, 0, 0, 1], 1, [9, 9, 9, 9], 2, b"abcdefgh");
        frag[6] = 0x20; // more fragments, offset 0: a first fragment
        let sum = crate::wire::checksum::checksum(&{
            let mut h = frag[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        frag[10..12].copy_from_slice(&sum.to_be_bytes());
        let out = r.one(0, &frag).unwrap().1;
        assert_eq!(crate::wire::checksum::checksum(&out[..20]), 0);
        assert_checksums(&out);
        for c in [&frag[..12], &[0x46; 20][..]] {
            assert!(r.one(0, c).is_none());
        }
        assert_eq!(r.h("bad_packets"), "2");
        let err = Rig::try_new(
            &[("rw", "IPAddrPairRewriter", "pattern 3.0.0.1 x 0 0")],
            1,
            1,
        )
        .err()
        .unwrap();
        assert!(
            err.contains("input spec 0: bad destination address"),
            "{err}"
        );
    }
}
