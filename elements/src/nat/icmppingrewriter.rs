//! `ICMPPingRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])` — rewrites ICMP echo requests and replies, so pings pass through a NAT.
//!
//! **Ports:** `1-/1-`: one or more inputs (one per INPUTSPEC), one or more outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! A mapping changes echo requests `(src, dst, identifier)` into `(src2, dst2, ident2)` and
//! replies `(dst2, src2, ident2)` back into `(dst, src, identifier)`. An echo request
//! (type 8) with no mapping is handled by its input's INPUTSPEC, exactly as in `IPRewriter`
//! (`drop`, `pass OUTPUT`, `keep FOUTPUT ROUTPUT`, `pattern SADDR SPORT DADDR DPORT FOUTPUT
//! ROUTPUT`, `pattern NAME ...`, a mapper); the pattern's SPORT (range) gives the new
//! identifier, which is never one already in use towards the same destination. An echo
//! reply (type 0) is rewritten only when it matches a mapping's reply side. Everything else
//! (other ICMP types, other protocols, fragments, replies without a mapping) is emitted
//! unchanged if the input spec is `pass OUTPUT`, and dropped otherwise. The IP and ICMP
//! checksums are updated incrementally.
//!
//! **Keywords:**
//!
//! - `TIMEOUT`: seconds a mapping lives after its last packet; default 5 minutes.
//! - `GUARANTEE`: default 5 seconds.
//! - `REAP_INTERVAL`: default 15 minutes.
//! - `MAPPING_CAPACITY`: a number, or a rewriter whose capacity to share; default
//!   unlimited.
//! - `DST_ANNO`: default true.
//!
//! **Handlers:** `table` (also `mappings`), `nmappings`, `mapping_failures`, `size`,
//! `capacity`, `patterns`, `clear`, `bad_packets`; see `IPRewriter`.
//!
//! **Hot reconfiguration:** as `IPRewriter`'s: it takes the mappings, with their
//! expiry, of the `ICMPPingRewriter` of the same name that it replaces through `hotconfig`.
//!
//! **Example:**
//!
//! ```text
//! pr :: ICMPPingRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop);
//! ```
//!
//! **Differences from Click:** only the INPUTSPEC form is accepted (Click's older
//! `ICMPPingRewriter(SRC, DST)` signature is written `pattern SRC - DST - 0 1` here).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::rewriter::{configure, Kind};

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(Kind::Ping, args, cctx)
}

/// Rewrites ICMP echo requests and replies.
pub static ICMPPingRewriter: ElementClass = ElementClass {
    name: "ICMPPingRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    const IN: [u8; 4] = [10, 0, 0, 2];
    const NAT: [u8; 4] = [21, 0, 0, 1];
    const SRV: [u8; 4] = [8, 8, 8, 8];

    #[test]
    fn echo_request_and_reply_golden() {
        let mut r = Rig::new(
            "ICMPPingRewriter",
            "pattern 21.0.0.1 1024-1030# - - 0 1, drop",
            2,
            2,
        );
        let (o, out) = r.one(0, &echo(IN, SRV, 77, true)).unwrap();
        assert_eq!(o, 0);
        assert_eq!(out, echo(NAT, SRV, 1024, true));
        assert_checksums(&out);
        let (o, back) = r.one(1, &echo(SRV, NAT, 1024, false)).unwrap();
        assert_eq!(o, 1);
        assert_eq!(back, echo(SRV, IN, 77, false));
        assert_checksums(&back);
        // A second pinger gets another identifier; a reply nobody asked for is dropped.
        let (_, out) = r.one(0, &echo([10, 0, 0, 3], SRV, 77, true)).unwrap();
        assert_eq!(flow_of(&out).1, 1025);
        assert!(r.one(1, &echo(SRV, NAT, 1030, false)).is_none());
        // Requests matching a reply entry, and other ICMP, follow the input spec (drop).
        assert!(r.one(1, &echo(SRV, NAT, 1024, true)).is_none());
        assert!(r.one(0, &udp(IN, 1, SRV, 2, b"")).is_none());
        assert_eq!(r.h("nmappings"), "2");
        assert!(r
            .h("table")
            .contains("(10.0.0.2, 8.8.8.8, 77) => (21.0.0.1, 8.8.8.8, 1024) [*0 1] i0"));
        // The reply entry, as Click prints it on a little-endian host: each identifier
        // plus one in network byte order (1024 = 0x0400 shows as 0x0500).
        assert!(r
            .h("table")
            .contains("(8.8.8.8, 21.0.0.1, 1280) => (8.8.8.8, 10.0.0.2, 333) [0 *1] i0"));
    }

    #[test]
    fn identifiers_run_out() {
        let mut r = Rig::new(
            "ICMPPingRewriter",
            "pattern 21.0.0.1 5-6 - - 0 0, pass 0",
            2,
            1,
        );
        for id in 0..4 {
            r.one(0, &echo(IN, SRV, 100 + id, true));
        }
        assert_eq!(r.h("mapping_failures"), "2");
        // `pass` lets a stray reply through unchanged.
        let stray = echo(SRV, NAT, 9, false);
        assert_eq!(r.one(1, &stray), Some((0, stray.clone())));
    }
}
