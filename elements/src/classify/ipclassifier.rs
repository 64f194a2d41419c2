//! `IPClassifier(PATTERN_1, ..., PATTERN_N)` — classifies IP packets by contents.
//!
//! **Ports:** `1/-`: one input, N outputs, one pattern per output.
//!
//! **Processing:** `h/h`: push.
//!
//! The IP header is read at the packet's network header annotation, which `CheckIPHeader`
//! and `MarkIPHeader` set (at the data start when the annotation is unset); the transport
//! header starts IHL×4 bytes later; `ether` tests read the 14 bytes before the IP header.
//! Patterns are tried in order; a packet leaves on the output of the first pattern it
//! matches and is dropped when it matches none.
//!
//! A pattern is made of primitives (SRCORDST is `src`, `dst`, `src or dst`, or
//! `src and dst`; without it, `src or dst`):
//!
//! - `ip proto PROTO`: PROTO is a number or `icmp`, `igmp`, `ipip`, `tcp`, `udp`, `tcpudp`
//!   (TCP or UDP), `transp` (any).
//! - `[SRCORDST] host ADDR`, `[SRCORDST] net NET` (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, or
//!   `ADDR mask MASK`); addresses may be `AddressInfo` names.
//! - `[SRCORDST] [tcp | udp] port PORT`: a number or service name (`www`, `http`, `https`,
//!   `ssh`, `domain`, `dns`, `smtp`, `ftp`, `ntp`, `snmp`, ...). Without `tcp` or `udp`,
//!   either protocol.
//! - `ip vers V`, `ip hl HL`, `ip id ID`, `ip len LEN`, `ip tos TOS`, `ip dscp DSCP`,
//!   `ip ttl TTL`, `ip ect` (ECN-capable), `ip ce` (congestion experienced), `ip frag`
//!   (more-fragments set or offset nonzero), `ip unfrag`.
//! - `tcp opt FLAG`: FLAG is `syn`, `fin`, `ack`, `rst`, `psh` or `urg`; `tcp win WIN`.
//! - `icmp type TYPE`: a number or `echo`, `echo-reply`, `unreachable`, `sourcequench`,
//!   `redirect`, `routeradvert`, `routersolicit`, `timeexceeded`, `parameterproblem`,
//!   `timestamp`, `timestamp-reply`, `inforeq`, `inforeq-reply`, `maskreq`,
//!   `maskreq-reply`.
//! - `ip[POS:LEN] VALUE` (or `ip[POS]`, LEN 1 to 4 bytes within one aligned 32-bit word),
//!   `transp[POS:LEN] VALUE`, `tcp[...]`, `udp[...]`, `icmp[...]`.
//! - `ether [src | dst] host ETH` (or a bare Ethernet address).
//! - `true`, `false`.
//!
//! Connectives: `and`/`&&`, `or`/`||`, `not`/`!`, parentheses, and `C ? A : B` (the colon
//! surrounded by spaces). Adjacent primitives are joined by `and`. Every primitive but `tcp
//! opt` takes an operator before its value: `==` (the default) or `!=`, and for integer
//! values `<`, `>`, `<=`, `>=`; most take a mask, `DIRECTIVE & MASK [OP] VALUE`. For `port`
//! and `icmp type`, `!=` and the relations still require the protocol: `src tcp port != 5`
//! matches only TCP packets, unlike `not src tcp port 5`.
//!
//! Much may be left out: `tcp` means `ip proto tcp`, `www` means `port www`, `syn` means
//! `tcp opt syn`, `10.0.0.0/24` means `net 10.0.0.0/24`, `unfrag` means `ip unfrag`, and a
//! primitive without qualifiers borrows the previous one's: `src port 80 or 81`. A pattern
//! of `-`, `any` or `all` matches every packet.
//!
//! `port`, `tcp opt`, `tcp win`, `icmp type` and transport `[...]` tests only match a first
//! fragment (fragment offset zero). A packet too short for a test fails it; `not` turns
//! that failure into a match, while `!=` and the relations keep it a failure.
//!
//! **Handlers:** `program` (r), the compiled decision program; `drops` (r), packets that
//! matched no pattern.
//!
//! **Example:**
//!
//! ```text
//! IPClassifier(10.0.0.0/24 and syn,        // SYNs from 10.0.0.x
//!              10.0.0.0/24 and fin ack,    // FIN+ACKs from 10.0.0.x
//!              10.0.0.0/24 and tcp,        // other TCP from 10.0.0.x
//!              -);                         // the rest
//! ```
//!
//! **Differences from Click:** extra service names (`http`, `imap`, `ldap`, ...) and ICMP type
//! names (`time-exceeded`, `parameter-problem`, `source-quench`) are accepted; `port
//! LOW-HIGH` (an inclusive range) is an extension; `net` takes a bare address as a /32; the
//! Ethernet header is taken to be the 14 bytes before the IP header; packets with a
//! truncated IP header fail the tests that need the missing bytes (Click trusts the IP header
//! to be whole). Warnings Click prints (`src` ignored, relations always true) are not
//! shown.

use alloc::boxed::Box;
use alloc::format;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::ipfilter::build;

/// Click's `IPClassifier`.
#[allow(non_upper_case_globals)]
pub static IPClassifier: ElementClass = ElementClass {
    name: "IPClassifier",
    ports: "1/-",
    processing: "h/h",
    make,
    names: None,
};

fn make(args: &mut Args<'_>, cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    if args.len() != cx.noutputs {
        args.error_whole(format!(
            "need {} arguments, one per output port (got {} patterns)",
            cx.noutputs,
            args.len()
        ));
        let _ = args.rest();
        return None;
    }
    build(args, cx, false)
}

#[cfg(test)]
mod tests {
    use super::super::ipfilter::tests::{icmp, tcp, udp};
    use super::super::testutil::{classify, errors, router};
    use super::*;
    use alloc::vec;

    #[test]
    fn click_example_syn_finack_tcp_rest() {
        let mut r = router(
            &IPClassifier,
            "10.0.0.0/24 and syn, 10.0.0.0/24 and fin ack, 10.0.0.0/24 and tcp, -",
            4,
            None,
        )
        .unwrap();
        let a = [10, 0, 0, 5];
        let b = [192, 168, 1, 1];
        let pkts = vec![
            tcp(a, b, 1000, 80, "S"),
            tcp(b, a, 80, 1000, "FA"),
            tcp(a, b, 1000, 80, "F"),
            tcp(b, [8, 8, 8, 8], 1, 2, "S"),
            udp(a, b, 53, 53),
        ];
        assert_eq!(
            classify(&mut r, &pkts, Some(0)),
            [Some(0), Some(1), Some(2), Some(3), Some(3)]
        );
    }

    #[test]
    fn click_example_ports() {
        let mut r = router(
            &IPClassifier,
            "dst tcp port 8000 or 8080, dst tcp port > 1023, tcp",
            3,
            None,
        )
        .unwrap();
        let (a, b) = ([1, 1, 1, 1], [2, 2, 2, 2]);
        let pkts = vec![
            tcp(a, b, 5, 8080, "A"),
            tcp(a, b, 5, 8000, "A"),
            tcp(a, b, 5, 1024, "A"),
            tcp(a, b, 5, 1023, "A"),
            udp(a, b, 5, 8080),
            icmp(a, b, 8),
        ];
        assert_eq!(
            classify(&mut r, &pkts, Some(0)),
            [Some(0), Some(0), Some(1), Some(2), None, None]
        );
    }

    #[test]
    fn one_pattern_per_output() {
        let e = errors(&IPClassifier, "tcp, udp", 3);
        assert!(e.contains("need 3 arguments"), "{e}");
        let e = errors(&IPClassifier, "tcp, udp port, -", 3);
        assert!(e.contains("pattern 1: 'port': value missing"), "{e}");
    }
}
