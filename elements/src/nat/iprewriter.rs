//! `IPRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])` — rewrites TCP and UDP packets' addresses and ports (NAPT).
//!
//! **Ports:** `1-/1-`: one or more inputs (one per INPUTSPEC), one or more outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! The rewriter keeps a table of mappings. A mapping says that packets of one flow (source
//! address, source port, destination address, destination port, protocol) are rewritten to
//! another flow identifier and sent to output FOUTPUT, and that packets of the reply flow
//! (the rewritten identifier, reversed) are rewritten back and sent to ROUTPUT. A packet is
//! looked up in the table first; if it belongs to a mapping it is rewritten (addresses,
//! ports, IP and TCP/UDP checksums updated incrementally; a UDP checksum of zero stays zero)
//! and emitted. Otherwise the INPUTSPEC of the input it arrived on decides:
//!
//! - `drop`, `discard`: drop it.
//! - `pass OUTPUT` (also `passthrough`, `nochange`): emit it unchanged on OUTPUT; install
//!   nothing.
//! - `keep FOUTPUT ROUTPUT`: install a mapping that changes nothing.
//! - `pattern SADDR SPORT DADDR DPORT FOUTPUT ROUTPUT` (or `pattern SADDR DADDR FOUTPUT
//!   ROUTPUT`): install a mapping that rewrites by the pattern: `-` keeps a field; SADDR may
//!   be a range (`1.0.0.1-1.0.0.254`) or prefix (`1.0.0.0/24`, standing for `.1`-`.254`),
//!   SPORT a range (`1024-65535`); `#` after a range allocates sequentially, `?` randomly,
//!   and with neither the packet's own port is kept when it lies in the range and is free
//!   (a random free value is chosen otherwise). A random search starts at a value drawn
//!   from the router's random sequence, as Click's does, so `RandomSeed` fixes the choices.
//!   A value is never chosen if the reply flow it
//!   would create is already mapped, so a port in use towards a destination is never handed
//!   out twice; when the range is exhausted the packet is dropped and counted as a mapping
//!   failure.
//! - `pattern NAME FOUTPUT ROUTPUT`: a pattern declared in `IPRewriterPatterns`.
//! - `ELEMENTNAME`: ask that mapper element (`RoundRobinIPMapper`) for the mapping.
//!
//! Packets that are neither TCP nor UDP, non-first fragments, and packets with fewer than 8
//! bytes of transport header go out unchanged if their input spec is `pass OUTPUT`, and are
//! dropped otherwise. Packets whose IP header is malformed or truncated are dropped and
//! counted (`bad_packets`). The IP header is found through the packet's network header
//! annotation (offset 0 when unset).
//!
//! `IPRewriter` tracks TCP connections: a connection that has carried payload both ways
//! times out after TCP_TIMEOUT, one that has not after TCP_NODATA_TIMEOUT, and one closed
//! with FIN both ways (or RST) after TCP_DONE_TIMEOUT. A UDP flow times out after
//! UDP_TIMEOUT, or UDP_STREAMING_TIMEOUT once it streams: a reply was seen and at least three
//! packets went through. After each packet a mapping
//! is guaranteed for TCP_GUARANTEE/UDP_GUARANTEE: it is not evicted to make room for new
//! ones. Expired mappings are removed every REAP_INTERVAL (until then they still apply, as
//! in Click). When MAPPING_CAPACITY mappings exist, a new mapping evicts the best-effort
//! mapping that expires first; if every mapping is guaranteed the new flow is dropped and
//! counted as a mapping failure.
//!
//! A TCP mapping may carry sequence-number deltas, which `FTPPortMapper` adds when it
//! changes a payload's length: per direction, from a trigger sequence number on, sequence
//! numbers move by the sum of the changes so far. A packet's sequence number moves by its
//! own direction's delta; its acknowledgement number and the edges of its SACK blocks
//! move back by the other direction's (the TCP checksum is updated to match). A trigger
//! is forgotten once sequence numbers are 2^30 past it (its delta then applies to all);
//! a change at the same trigger as the newest replaces it. Mappings without deltas pay
//! nothing for this.
//!
//! **Keywords:**
//!
//! - `TCP_TIMEOUT` (also `TIMEOUT`): seconds, default 24 hours.
//! - `TCP_NODATA_TIMEOUT`: default 5 minutes.
//! - `TCP_DONE_TIMEOUT`: default 4 minutes.
//! - `TCP_GUARANTEE` (also `GUARANTEE`): default 5 seconds.
//! - `UDP_TIMEOUT`: default 5 minutes.
//! - `UDP_STREAMING_TIMEOUT`: default UDP_TIMEOUT.
//! - `UDP_GUARANTEE`: default 5 seconds.
//! - `REAP_INTERVAL` (also `REAP_TIME`): default 15 minutes.
//! - `MAPPING_CAPACITY` (also `CAPACITY`): most mappings at once; default unlimited. The
//!   name of another rewriter instead shares that rewriter's capacity: the mappings of
//!   both count against it, a new one evicts the earliest-expiring best-effort mapping of
//!   either, and the `capacity` handler of either sets it.
//! - `DST_ANNO`: set the destination IP annotation to the rewritten destination; default true.
//!
//! **Handlers:** `nmappings`, `mapping_failures`, `size` (also `table_size`), `capacity`
//! (rw), `patterns`, `patternN` (rw: writing an input spec replaces input N's and removes
//! the mappings it made; a named pattern or mapper can only be configured), `clear` (w),
//! `bad_packets`, `tcp_table`, `udp_table` (also `tcp_mappings`, `udp_mappings`),
//! `tcp_lookup SADDR SPORT DADDR DPORT` (r: the identifier that TCP flow is rewritten to,
//! empty when unmapped). A table lists every entry as Click does:
//! `(SA, SP, DA, DP) => (SA', SP', DA', DP') [*F R] iINPUT expSECONDS`, the `*` marking the
//! entry's own output; a TCP entry whose direction has a sequence-number delta shows it
//! after the rewritten identifier (`seq -12`).
//!
//! **Hot reconfiguration:** a rewriter that replaces one of the same class and name
//! through `hotconfig` takes its mappings, each with its expiry, guarantee, connection
//! state and sequence-number deltas, so established flows keep their translation (and
//! their replies find it) under the new rule set; new flows follow the new INPUTSPECs.
//! The new configuration's timeouts and capacity apply from the next packet on, and the
//! mapping failure and `bad_packets` counts go on. (Click's rewriters start empty.)
//!
//! **Example:**
//!
//! ```text
//! rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop);
//! inside -> [0]rw; outside -> [1]rw;
//! rw[0] -> to_outside; rw[1] -> to_inside;
//! ```
//!
//! **Differences from Click:** TCP and UDP mappings live in separate tables in every
//! rewriter (`UDPRewriter` included). The table handlers list the entries in the order
//! Click's hash tables would hold them, computed from the order the live mappings were
//! made: when mappings have expired or been evicted, Click's tables may have grown at other
//! moments, and their order can then differ. A mapping's reply output is always on the same
//! element. When rewriters share a capacity, evicting for a new mapping scans every
//! member's mappings. Eviction finds the earliest-expiring best-effort mapping through batches of
//! candidates from a scan rather than a heap; it makes the same choice (a batch is scanned
//! again when a mapping made or refreshed since could expire first). Address ranges vary the address only in two-word patterns or four-word
//! patterns with a fixed port; a pattern's "keep the packet's own value first" rule applies
//! to port ranges.
//!
//! ## `TCPRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])` — rewrites TCP packets' addresses and ports.
//!
//! **Ports:** `1-/1-`: one or more inputs (one per INPUTSPEC), one or more outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! `IPRewriter` for TCP only: the same input specs, mappings, connection tracking,
//! sequence-number deltas (for `FTPPortMapper`) and timeouts. Packets that are not TCP are handled as `IPRewriter` handles packets that are
//! neither TCP nor UDP: out unchanged for a `pass OUTPUT` input spec, dropped otherwise.
//!
//! **Keywords:** as `IPRewriter`'s, `TIMEOUT` meaning `TCP_TIMEOUT`.
//!
//! - `TCP_TIMEOUT` (also `TIMEOUT`), `TCP_NODATA_TIMEOUT`, `TCP_DONE_TIMEOUT`,
//!   `TCP_GUARANTEE` (also `GUARANTEE`), `REAP_INTERVAL` (also `REAP_TIME`),
//!   `MAPPING_CAPACITY` (also `CAPACITY`), `DST_ANNO`.
//!
//! **Handlers:** `nmappings`, `mapping_failures`, `size` (also `table_size`), `capacity`
//! (rw), `patterns`, `patternN` (rw), `clear` (w), `bad_packets`, `table` (also `mappings`),
//! in `IPRewriter`'s format, `lookup SADDR SPORT DADDR DPORT` (as `IPRewriter`'s
//! `tcp_lookup`).
//!
//! **Hot reconfiguration:** as `IPRewriter`'s: it takes the mappings, with their
//! expiry, of the `TCPRewriter` of the same name that it replaces through `hotconfig`.
//!
//! **Differences from Click:** those of `IPRewriter`.
//!
//! ## `UDPRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])` — rewrites UDP packets' addresses and ports, and TCP as if it were UDP.
//!
//! **Ports:** `1-/1-`: one or more inputs (one per INPUTSPEC), one or more outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! `IPRewriter` without connection tracking: UDP, and TCP as if it were UDP (UDP timeouts).
//! The same input specs and mappings.
//!
//! **Keywords:** as `IPRewriter`'s, `TIMEOUT` meaning `UDP_TIMEOUT`.
//!
//! - `UDP_TIMEOUT` (also `TIMEOUT`), `UDP_STREAMING_TIMEOUT` (also `STREAMING_TIMEOUT`),
//!   `UDP_GUARANTEE` (also `GUARANTEE`), `REAP_INTERVAL` (also `REAP_TIME`),
//!   `MAPPING_CAPACITY` (also `CAPACITY`), `DST_ANNO`.
//!
//! **Handlers:** `nmappings`, `mapping_failures`, `size` (also `table_size`), `capacity`
//! (rw), `patterns`, `patternN` (rw), `clear` (w), `bad_packets`, `table` (also
//! `mappings`), in `IPRewriter`'s format.
//!
//! **Hot reconfiguration:** as `IPRewriter`'s: it takes the mappings, with their
//! expiry, of the `UDPRewriter` of the same name that it replaces through `hotconfig`.
//!
//! **Differences from Click:** those of `IPRewriter`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::rewriter::{configure, Kind};

fn make_ip(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(Kind::Ip, args, cctx)
}

fn make_tcp(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(Kind::Tcp, args, cctx)
}

fn make_udp(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(Kind::Udp, args, cctx)
}

/// Rewrites TCP and UDP flows.
pub static IPRewriter: ElementClass = ElementClass {
    name: "IPRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make: make_ip,
    names: None,
};

/// Rewrites TCP flows.
pub static TCPRewriter: ElementClass = ElementClass {
    name: "TCPRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make: make_tcp,
    names: None,
};

/// Rewrites UDP (and TCP) flows with UDP timeouts.
pub static UDPRewriter: ElementClass = ElementClass {
    name: "UDPRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make: make_udp,
    names: None,
};

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::super::testutil::*;

    const IN: [u8; 4] = [10, 0, 0, 2];
    const IN2: [u8; 4] = [10, 0, 0, 3];
    const NAT: [u8; 4] = [21, 0, 0, 1];
    const SRV: [u8; 4] = [8, 8, 8, 8];
    const NAPT: &str = "pattern 21.0.0.1 1024-65535 - - 0 1, drop";

    #[test]
    fn hotconfig_keeps_the_mappings_and_their_expiry() {
        use crate::testutil::{collected, graph, hotswap, Bench};
        let b = Bench::new();
        let g = |class: &str, config: &str| {
            graph(
                &[
                    ("rw", class, config),
                    ("o", "Collect", ""),
                    ("p", "Collect", ""),
                    ("i", "Idle", ""),
                ],
                &[(3, 0, 0, 0), (3, 1, 0, 1), (0, 0, 1, 0), (0, 1, 2, 0)],
            )
        };
        let mut r = b.router(&g("IPRewriter", NAPT)).unwrap();
        let out = udp(IN, 5000, SRV, 53, b"q");
        r.run_rounds(1);
        r.push_to("rw", 0, b.batch(&[&out])).unwrap();
        let first = collected("o");
        let mapped_port = u16::from_be_bytes([first[0].data[20], first[0].data[21]]);
        let table = r.read_handler("rw.udp_table").unwrap();
        assert!(table.contains("21.0.0.1"), "{table}");

        // A changed rule set: new flows get another address, the old one keeps its own,
        // with the time it had left.
        let changed = "pattern 21.0.0.9 1024-65535 - - 0 1, drop";
        let warnings = hotswap(&mut r, &g("IPRewriter", changed)).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(r.read_handler("rw.nmappings").unwrap(), "1");
        assert_eq!(r.read_handler("rw.udp_table").unwrap(), table);
        r.push_to("rw", 0, b.batch(&[&out])).unwrap();
        let again = collected("o");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].data[12..16], NAT);
        assert_eq!(
            u16::from_be_bytes([again[0].data[20], again[0].data[21]]),
            mapped_port
        );
        // The reply finds the mapping and goes back to the inside host.
        let reply = udp(SRV, 53, NAT, mapped_port, b"a");
        r.push_to("rw", 1, b.batch(&[&reply])).unwrap();
        let back = collected("p");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].data[16..20], IN);
        // A new flow follows the new pattern.
        r.push_to("rw", 0, b.batch(&[&udp(IN2, 5000, SRV, 53, b"q")]))
            .unwrap();
        assert_eq!(collected("o")[0].data[12..16], [21, 0, 0, 9]);
        assert_eq!(r.read_handler("rw.nmappings").unwrap(), "2");

        // Another kind of rewriter of the same name starts empty.
        hotswap(&mut r, &g("UDPRewriter", NAPT)).unwrap();
        assert_eq!(r.read_handler("rw.nmappings").unwrap(), "0");
        assert_eq!(b.pool.stats().in_use(), 0);
    }

    #[test]
    fn mapping_capacity_naming_a_rewriter_shares_its_capacity() {
        // rw1 counts against rw2's capacity of 2: one mapping in each fills it, so a
        // third in either is refused while both are guaranteed, and evicts the earliest
        // best-effort mapping of either rewriter once the guarantees end.
        let mut r = Rig::multi(&[
            (
                "rw1",
                "IPRewriter",
                "pattern 21.0.0.1 1024-65534# - - 0 1, MAPPING_CAPACITY rw2",
                1,
                2,
            ),
            (
                "rw2",
                "IPRewriter",
                "pattern 21.0.0.2 1024-65534# - - 0 1, MAPPING_CAPACITY 2",
                1,
                2,
            ),
        ])
        .unwrap();
        let read = |r: &Rig, h: &str| r.harness.router.read_handler(h).unwrap();
        assert!(r.one_into("rw2", 0, &udp(IN, 1, SRV, 53, b"a")).is_some());
        r.advance(1);
        assert!(r.one_into("rw1", 0, &udp(IN, 2, SRV, 53, b"b")).is_some());
        assert!(r.one_into("rw1", 0, &udp(IN, 3, SRV, 53, b"c")).is_none());
        assert!(r.one_into("rw2", 0, &udp(IN, 4, SRV, 53, b"d")).is_none());
        assert_eq!(read(&r, "rw1.mapping_failures"), "1");
        assert_eq!(read(&r, "rw2.mapping_failures"), "1");
        assert_eq!(read(&r, "rw1.capacity"), "2");
        // Past the guarantees (5 s), rw2's older mapping expires first and gives way to
        // rw1's new one.
        r.advance(5);
        assert!(r.one_into("rw1", 0, &udp(IN, 5, SRV, 53, b"e")).is_some());
        assert_eq!(read(&r, "rw2.nmappings"), "0");
        assert_eq!(read(&r, "rw1.nmappings"), "2");
        // The capacity handler of either sets the shared capacity.
        r.harness.router.write_handler("rw1.capacity", "1").unwrap();
        assert_eq!(read(&r, "rw2.capacity"), "1");
    }

    #[test]
    fn mapping_capacity_rejects_what_is_not_a_rewriter() {
        let err = Rig::multi(&[
            (
                "rw1",
                "IPRewriter",
                "pattern 21.0.0.1 - - - 0 1, MAPPING_CAPACITY q",
                1,
                2,
            ),
            ("q", "Queue", "", 1, 1),
        ])
        .err()
        .unwrap();
        assert!(err.contains("not a rewriter"), "{err}");
        let err = Rig::try_new(
            &[(
                "rw",
                "IPRewriter",
                "pattern 21.0.0.1 - - - 0 1, MAPPING_CAPACITY 1x",
            )],
            1,
            2,
        )
        .err()
        .unwrap();
        assert!(err.contains("bad MAPPING_CAPACITY"), "{err}");
    }

    #[test]
    fn tcp_both_directions_golden() {
        let mut r = Rig::new("IPRewriter", NAPT, 2, 2);
        let (o, out) = r.one(0, &tcp(IN, 5555, SRV, 80, "S", b"")).unwrap();
        assert_eq!(o, 0);
        // The source port is free and in range, so it is kept.
        assert_eq!(out, tcp(NAT, 5555, SRV, 80, "S", b""));
        assert_checksums(&out);
        let (o, back) = r.one(1, &tcp(SRV, 80, NAT, 5555, "SA", b"")).unwrap();
        assert_eq!(o, 1);
        assert_eq!(back, tcp(SRV, 80, IN, 5555, "SA", b""));
        assert_checksums(&back);
        // Data both ways keeps the same mapping.
        let (_, out) = r.one(0, &tcp(IN, 5555, SRV, 80, "A", b"GET /")).unwrap();
        assert_eq!(out, tcp(NAT, 5555, SRV, 80, "A", b"GET /"));
        assert_eq!(r.h("nmappings"), "1");
        assert_eq!(r.h("size"), "1");
        // Unknown reply traffic is dropped by the `drop` spec of input 1.
        assert!(r.one(1, &tcp(SRV, 80, NAT, 6666, "A", b"")).is_none());
    }

    #[test]
    fn udp_both_directions_and_zero_checksum() {
        let mut r = Rig::new(
            "IPRewriter",
            "pattern 21.0.0.1 40000-40010# - - 0 1, drop",
            2,
            2,
        );
        let (o, out) = r.one(0, &udp(IN, 53000, SRV, 53, b"query")).unwrap();
        assert_eq!(o, 0);
        assert_eq!(flow_of(&out), (NAT, 40000, SRV, 53));
        assert_checksums(&out);
        let (o, back) = r.one(1, &udp(SRV, 53, NAT, 40000, b"answer")).unwrap();
        assert_eq!(o, 1);
        assert_eq!(back, udp(SRV, 53, IN, 53000, b"answer"));
        assert_checksums(&back);
        // A packet without a UDP checksum keeps none.
        let mut nock = udp(IN, 53000, SRV, 53, b"q2");
        nock[26] = 0;
        nock[27] = 0;
        let (_, out) = r.one(0, &nock).unwrap();
        assert_eq!(&out[26..28], &[0, 0]);
        assert_eq!(flow_of(&out), (NAT, 40000, SRV, 53));
        let text = r.h("udp_table");
        assert!(
            text.contains(
                "(10.0.0.2, 53000, 8.8.8.8, 53) => (21.0.0.1, 40000, 8.8.8.8, 53) [*0 1] i0 exp300"
            ),
            "{text}"
        );
        assert!(text.contains(
            "(8.8.8.8, 53, 21.0.0.1, 40000) => (8.8.8.8, 53, 10.0.0.2, 53000) [0 *1] i0 exp300"
        ));
        assert_eq!(r.h("tcp_table"), "");
    }

    #[test]
    fn other_protocols_and_fragments_follow_pass_or_drop() {
        let mut r = Rig::new("IPRewriter", "pass 1, drop", 2, 2);
        let ping = echo(IN, SRV, 9, true);
        assert_eq!(r.one(0, &ping), Some((1, ping.clone())));
        assert_eq!(r.one(1, &ping), None);
        let mut frag = udp(IN, 1, SRV, 2, b"x");
        frag[7] = 1; // fragment offset 8
        assert_eq!(r.one(0, &frag).map(|x| x.0), Some(1));
        // `pass` installs nothing.
        assert_eq!(r.one(0, &udp(IN, 1, SRV, 2, b"x")).map(|x| x.0), Some(1));
        assert_eq!(r.h("nmappings"), "0");
        let mut t = Rig::new("TCPRewriter", "pass 0, keep 0 1", 2, 2);
        assert_eq!(
            t.one(1, &udp(IN, 1, SRV, 2, b"x")),
            None,
            "TCPRewriter drops UDP unless pass"
        );
        assert_eq!(
            t.one(1, &tcp(IN, 1, SRV, 2, "S", b"")).map(|x| x.0),
            Some(0)
        );
        assert_eq!(t.h("nmappings"), "1");
    }

    #[test]
    fn keep_installs_identity_mapping() {
        let mut r = Rig::new("UDPRewriter", "keep 0 1, drop", 2, 2);
        let p = udp(IN, 1000, SRV, 53, b"x");
        assert_eq!(r.one(0, &p), Some((0, p.clone())));
        let back = udp(SRV, 53, IN, 1000, b"y");
        assert_eq!(r.one(1, &back), Some((1, back.clone())));
        // UDPRewriter handles TCP like UDP.
        assert_eq!(
            r.one(0, &tcp(IN, 1, SRV, 2, "S", b"")).map(|x| x.0),
            Some(0)
        );
        assert!(r.h("table").contains("exp300"));
    }

    #[test]
    fn port_exhaustion_counts_failures_and_never_reuses_a_port() {
        let mut r = Rig::new(
            "IPRewriter",
            "pattern 21.0.0.1 2000-2003 - - 0 1, drop",
            2,
            2,
        );
        let mut ports = Vec::new();
        for i in 0..7u16 {
            if let Some((_, out)) = r.one(0, &tcp(IN, 3000 + i, SRV, 80, "S", b"")) {
                ports.push(flow_of(&out).1);
                assert_checksums(&out);
            }
        }
        ports.sort_unstable();
        assert_eq!(ports, [2000, 2001, 2002, 2003]);
        assert_eq!(r.h("mapping_failures"), "3");
        assert_eq!(r.h("nmappings"), "4");
        // Same ports towards another destination are fine.
        assert!(r
            .one(0, &tcp(IN, 3000, [9, 9, 9, 9], 80, "S", b""))
            .is_some());
        // Random allocation never reuses either.
        let mut r = Rig::new(
            "IPRewriter",
            "pattern 21.0.0.1 2000-2009? - - 0 1, drop",
            2,
            2,
        );
        let mut ports = Vec::new();
        for i in 0..10u16 {
            let src = if i % 2 == 0 { IN } else { IN2 };
            let (_, out) = r.one(0, &udp(src, 2000 + i / 2, SRV, 53, b"")).unwrap();
            ports.push(flow_of(&out).1);
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 10);
        assert!(r.one(0, &udp(IN, 7, SRV, 53, b"")).is_none());
        assert_eq!(r.h("mapping_failures"), "1");
    }

    #[test]
    fn address_ranges_and_prefixes() {
        let mut r = Rig::new(
            "IPRewriter",
            "pattern 21.0.0.1-21.0.0.2# - - - 0 1, drop",
            2,
            2,
        );
        let a = r.one(0, &udp(IN, 5, SRV, 53, b"")).unwrap().1;
        let b = r.one(0, &udp(IN2, 5, SRV, 53, b"")).unwrap().1;
        assert_eq!(flow_of(&a).0, [21, 0, 0, 1]);
        assert_eq!(flow_of(&b).0, [21, 0, 0, 2]);
        assert!(r.one(0, &udp([10, 0, 0, 4], 5, SRV, 53, b"")).is_none());
        let mut r = Rig::new("IPRewriter", "pattern 21.0.0.0/30# - 0 1, drop", 2, 2);
        let a = r.one(0, &udp(IN, 5, SRV, 53, b"")).unwrap().1;
        assert_eq!(flow_of(&a), ([21, 0, 0, 1], 5, SRV, 53));
        assert_checksums(&a);
    }

    #[test]
    fn udp_expiry_follows_the_clock() {
        let cfg = "pattern 21.0.0.1 1024-65535 - - 0 1, drop, UDP_TIMEOUT 10, UDP_GUARANTEE 0, REAP_INTERVAL 1";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        assert!(r.one(0, &udp(IN, 5000, SRV, 53, b"")).is_some());
        r.advance(6);
        assert_eq!(r.h("nmappings"), "1");
        assert!(r.one(1, &udp(SRV, 53, NAT, 5000, b"")).is_some());
        r.advance(12);
        assert_eq!(r.h("nmappings"), "0");
        assert!(
            r.one(1, &udp(SRV, 53, NAT, 5000, b"")).is_none(),
            "reply after expiry is dropped"
        );
    }

    #[test]
    fn tcp_done_timeout_after_fin_both_ways() {
        let cfg = "pattern 21.0.0.1 1024-65535 - - 0 1, drop, TCP_DONE_TIMEOUT 3, TCP_NODATA_TIMEOUT 100, \
                   TCP_GUARANTEE 0, REAP_INTERVAL 1";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        for (sp, port) in [(5000u16, 0usize), (5001, 0)] {
            assert!(r.one(port, &tcp(IN, sp, SRV, 80, "S", b"")).is_some());
            assert!(r.one(1, &tcp(SRV, 80, NAT, sp, "SA", b"")).is_some());
        }
        // Close the first connection from both sides.
        assert!(r.one(0, &tcp(IN, 5000, SRV, 80, "FA", b"")).is_some());
        assert!(r.one(1, &tcp(SRV, 80, NAT, 5000, "FA", b"")).is_some());
        r.advance(2);
        assert_eq!(r.h("nmappings"), "2");
        r.advance(3);
        assert_eq!(
            r.h("nmappings"),
            "1",
            "the closed connection is gone, the open one stays"
        );
        assert!(r.one(1, &tcp(SRV, 80, NAT, 5001, "A", b"")).is_some());
        // RST closes at once (both sides).
        assert!(r.one(1, &tcp(SRV, 80, NAT, 5001, "R", b"")).is_some());
        r.advance(5);
        assert_eq!(r.h("nmappings"), "0");
    }

    #[test]
    fn mapping_capacity_evicts_best_effort_or_fails() {
        let cfg = "pattern 21.0.0.1 1024-65535 - - 0 1, drop, MAPPING_CAPACITY 2, UDP_GUARANTEE 0";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        assert!(r.one(0, &udp(IN, 5000, SRV, 53, b"")).is_some());
        r.advance(1);
        assert!(r.one(0, &udp(IN, 5001, SRV, 53, b"")).is_some());
        r.advance(1);
        assert!(r.one(0, &udp(IN, 5002, SRV, 53, b"")).is_some());
        assert_eq!(r.h("size"), "2");
        assert!(
            r.one(1, &udp(SRV, 53, NAT, 5000, b"")).is_none(),
            "the oldest mapping was evicted"
        );
        assert!(r.one(1, &udp(SRV, 53, NAT, 5002, b"")).is_some());
        // With guarantees, a full table refuses new flows instead.
        let cfg = "pattern 21.0.0.1 1024-65535 - - 0 1, drop, MAPPING_CAPACITY 2";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        assert!(r.one(0, &udp(IN, 5000, SRV, 53, b"")).is_some());
        assert!(r.one(0, &udp(IN, 5001, SRV, 53, b"")).is_some());
        assert!(r.one(0, &udp(IN, 5002, SRV, 53, b"")).is_none());
        assert_eq!(r.h("mapping_failures"), "1");
        // Once the guarantee lapses, the earliest-expiring mapping gives way.
        r.advance(6);
        assert!(r.one(0, &udp(IN, 5002, SRV, 53, b"")).is_some());
        assert_eq!(r.h("size"), "2");
        assert_eq!(r.h("capacity"), "2");
    }

    #[test]
    fn eviction_takes_mappings_in_expiry_order_across_scans() {
        // 200 mappings whose expiries follow a permutation of their slots; 150 new flows
        // evict exactly the 150 that expire first. A scan keeps 64 candidates, so this
        // takes several scans, each picking the earliest of the mappings left.
        let cfg = "pattern 21.0.0.1 1024-65535# - - 0 1, drop, MAPPING_CAPACITY 200, \
                   UDP_TIMEOUT 100000, UDP_GUARANTEE 0, REAP_INTERVAL 100000";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        for i in 0..200u16 {
            assert!(r.one(0, &udp(IN, 1000 + i, SRV, 53, b"")).is_some());
        }
        let order: Vec<u16> = (0..200u16).map(|i| (i * 73) % 200).collect();
        for &i in &order {
            r.advance(1);
            assert!(r.one(0, &udp(IN, 1000 + i, SRV, 53, b"")).is_some());
        }
        for i in 0..150u16 {
            assert!(r.one(0, &udp(IN2, 5000 + i, SRV, 53, b"")).is_some());
        }
        assert_eq!(r.h("size"), "200");
        assert_eq!(r.h("mapping_failures"), "0");
        for (rank, &i) in order.iter().enumerate() {
            let reply = r.one(1, &udp(SRV, 53, NAT, 1024 + i, b""));
            assert_eq!(reply.is_some(), rank >= 150, "flow {i}, expiring {rank}th");
        }
    }

    #[test]
    fn eviction_sees_mappings_made_after_the_last_scan() {
        // Click evicts the best-effort mapping that expires first, whenever it was made.
        let cfg = "pattern 21.0.0.1 1024-65535# - - 0 1, drop, MAPPING_CAPACITY 2, GUARANTEE 0";
        let mut r = Rig::new("TCPRewriter", cfg, 2, 2);
        // Flow 1 carries data both ways (24-hour timeout); flow 2 none (5 minutes).
        assert!(r.one(0, &tcp(IN, 10, SRV, 20, "A", b"x")).is_some());
        assert!(r.one(1, &tcp(SRV, 20, NAT, 1024, "A", b"x")).is_some());
        assert!(r.one(0, &tcp(IN, 11, SRV, 21, "A", b"")).is_some());
        r.advance(1);
        // Flow 3 evicts flow 2, the earliest to expire.
        assert!(r.one(0, &tcp(IN, 12, SRV, 22, "A", b"")).is_some());
        assert!(r.one(1, &tcp(SRV, 21, NAT, 1025, "A", b"")).is_none());
        r.advance(1);
        // Flow 4 evicts flow 3, made after the scan that found flow 2, not flow 1.
        assert!(r.one(0, &tcp(IN, 13, SRV, 23, "A", b"")).is_some());
        assert!(r.one(1, &tcp(SRV, 22, NAT, 1026, "A", b"")).is_none());
        assert!(r.one(1, &tcp(SRV, 20, NAT, 1024, "A", b"")).is_some());
        assert!(r.one(1, &tcp(SRV, 23, NAT, 1027, "A", b"")).is_some());
        assert_eq!(r.h("mapping_failures"), "0");
    }

    #[test]
    fn udp_streams_after_a_reply_and_three_packets() {
        // TIMEOUT 4, STREAMING_TIMEOUT 10: a flow with one packet each way still times
        // out after 4 seconds; a third packet makes it stream.
        let cfg = "pattern 21.0.0.1 1024-65535# - - 0 1, drop, TIMEOUT 4, STREAMING_TIMEOUT 10, \
                   GUARANTEE 0, REAP_INTERVAL 1";
        let mut r = Rig::new("UDPRewriter", cfg, 2, 2);
        assert!(r.one(0, &udp(IN, 10, SRV, 20, b"")).is_some());
        assert!(r.one(1, &udp(SRV, 20, NAT, 1024, b"")).is_some());
        assert!(r.one(0, &udp(IN2, 10, SRV, 20, b"")).is_some());
        assert!(r.one(1, &udp(SRV, 20, NAT, 1025, b"")).is_some());
        assert!(r.one(1, &udp(SRV, 20, NAT, 1025, b"")).is_some());
        assert!(r.h("table").contains(
            "(10.0.0.3, 10, 8.8.8.8, 20) => (21.0.0.1, 1025, 8.8.8.8, 20) [*0 1] i0 exp10"
        ));
        assert!(r.h("table").contains(
            "(10.0.0.2, 10, 8.8.8.8, 20) => (21.0.0.1, 1024, 8.8.8.8, 20) [*0 1] i0 exp4"
        ));
        r.advance(6);
        assert!(
            r.one(1, &udp(SRV, 20, NAT, 1024, b"")).is_none(),
            "not streaming"
        );
        assert!(
            r.one(1, &udp(SRV, 20, NAT, 1025, b"")).is_some(),
            "streaming"
        );
    }

    #[test]
    fn a_flow_to_its_own_rewritten_address_travels_as_a_reply() {
        // The rewritten flow reversed is the flow itself: Click's reply entry replaces the
        // forward one, so later packets either way leave by the reply output.
        let cfg = "pattern 21.0.0.1 1024-65535# - - 0 1, drop, GUARANTEE 0";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        assert!(r.one(0, &tcp(IN, 10, SRV, 20, "A", b"")).is_some());
        let selfie = tcp(NAT, 1025, NAT, 1025, "A", b"");
        assert_eq!(r.one(0, &selfie).map(|x| x.0), Some(0));
        assert_eq!(r.one(1, &selfie).map(|x| x.0), Some(1));
        assert_eq!(r.one(0, &selfie).map(|x| x.0), Some(1));
        assert_eq!(r.h("mapping_failures"), "0");
        assert_eq!(r.h("nmappings"), "2");
    }

    #[test]
    fn random_ports_come_from_the_router_sequence() {
        // Click's UDPRewriter-11: with RandomSeed(1), the first port drawn from
        // 1024-65534 is 55226 (the source port is taken, so the pattern draws).
        let mut r = Rig::try_new(
            &[
                (
                    "rw",
                    "UDPRewriter",
                    "pattern 1.0.0.2 1024-65534 - - 0 1, drop",
                ),
                ("seed", "RandomSeed", "1"),
            ],
            2,
            2,
        )
        .unwrap();
        let dst = [1, 0, 0, 2];
        let (_, out) = r.one(0, &udp(IN, 1024, dst, 20, b"")).unwrap();
        assert_eq!(flow_of(&out).1, 1024, "the packet's own port first");
        let (_, out) = r.one(0, &udp(IN2, 1024, dst, 20, b"")).unwrap();
        assert_eq!(flow_of(&out), (dst, 55226, dst, 20));
    }

    #[test]
    fn writing_a_pattern_replaces_it_and_drops_its_mappings() {
        let cfg = "pattern 21.0.0.1 1024-65535# - - 0 1, pattern 21.0.0.2 1024-65535# - - 0 1";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        assert!(r.one(0, &tcp(IN, 10, SRV, 20, "S", b"")).is_some());
        assert!(r.one(1, &tcp(IN2, 10, SRV, 20, "S", b"")).is_some());
        let h = &r.harness;
        let lookup = |params: &str| h.router.read_handler_with("rw.tcp_lookup", params);
        assert_eq!(
            lookup("10.0.0.2 10 8.8.8.8 20").unwrap(),
            "21.0.0.1 1024 8.8.8.8 20"
        );
        assert_eq!(
            lookup("8.8.8.8 20 21.0.0.2 1024").unwrap(),
            "8.8.8.8 20 10.0.0.3 10"
        );
        assert_eq!(lookup("8.8.8.8 20 21.0.0.9 1024").unwrap(), "");
        assert!(lookup("8.8.8.8 20").is_err());
        h.write("pattern0", "pattern 21.0.0.4 1024-65535# - - 0 1")
            .unwrap();
        assert!(h.write("pattern0", "pattern 21.0.0.4 x - - 0 1").is_err());
        assert!(h
            .write("pattern0", "pattern 21.0.0.4 1024 - - 0 7")
            .is_err());
        assert_eq!(
            r.h("patterns"),
            "21.0.0.4 1024-65535 - -\n21.0.0.2 1024-65535 - - [1]\n"
        );
        // Input 0's mapping went; input 1's stays.
        assert_eq!(lookup("10.0.0.2 10 8.8.8.8 20").unwrap(), "");
        assert_eq!(
            lookup("10.0.0.3 10 8.8.8.8 20").unwrap(),
            "21.0.0.2 1024 8.8.8.8 20"
        );
        let (_, out) = r.one(0, &tcp(IN, 10, SRV, 20, "S", b"")).unwrap();
        assert_eq!(flow_of(&out), ([21, 0, 0, 4], 1024, SRV, 20));
        assert_eq!(r.h("nmappings"), "2");
    }

    #[test]
    fn malformed_packets_are_counted_and_dropped() {
        let mut r = Rig::new(
            "IPRewriter",
            "pattern 21.0.0.1 1024-65535 - - 0 1, pass 1",
            2,
            2,
        );
        let good = tcp(IN, 5000, SRV, 80, "S", b"");
        let mut bad_ihl = good.clone();
        bad_ihl[0] = 0x4f;
        let mut bad_len = good.clone();
        bad_len[2] = 0;
        bad_len[3] = 10;
        let cases: [&[u8]; 5] = [&good[..10], &[], &bad_ihl[..30], &bad_len, &[0x60; 40]];
        for c in cases {
            assert!(r.one(0, c).is_none());
        }
        assert_eq!(r.h("bad_packets"), "5");
        // A TCP header cut to 12 bytes: the IP part is rewritten, ports are not touched.
        let short = &good[..32];
        let mut hdr = short.to_vec();
        hdr[2] = 0;
        hdr[3] = 32;
        let sum = crate::wire::checksum::checksum(&{
            let mut h = hdr[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        hdr[10..12].copy_from_slice(&sum.to_be_bytes());
        let (_, out) = r.one(0, &hdr).unwrap();
        assert_eq!(&out[12..16], &NAT);
        // Random garbage never panics.
        let mut x = 0x1234_5678_9abc_def0u64;
        for n in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(n % 70) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            if buf.len() > 20 && n % 3 == 0 {
                buf[0] = 0x45;
                buf[9] = [6, 17, 1][n % 3];
            }
            r.push(n % 2, &[&buf]);
        }
    }

    #[test]
    fn named_patterns_and_round_robin_mapper() {
        let elems = [
            ("rw", "IPRewriter", "pattern NAT 0 1, rr"),
            ("pats", "IPRewriterPatterns", "NAT 21.0.0.1 1024-65535 - -"),
            (
                "rr",
                "RoundRobinIPMapper",
                "- - 10.1.0.1 - 0 1, - - 10.1.0.2 - 1 0",
            ),
        ];
        let mut r = Rig::try_new(&elems, 2, 2).unwrap();
        let out = r.one(0, &udp(IN, 5000, SRV, 53, b"")).unwrap().1;
        assert_eq!(flow_of(&out).0, NAT);
        let a = r.one(1, &udp(SRV, 1, [1, 1, 1, 1], 80, b"")).unwrap();
        let b = r.one(1, &udp(SRV, 2, [1, 1, 1, 1], 80, b"")).unwrap();
        assert_eq!((a.0, flow_of(&a.1).2), (0, [10, 1, 0, 1]));
        assert_eq!((b.0, flow_of(&b.1).2), (1, [10, 1, 0, 2]));
        assert_checksums(&b.1);
        assert!(r
            .h("patterns")
            .starts_with("21.0.0.1 1024-65535 - - [1]\n<mapper> [2]"));
        r.harness.router.write_handler("rw.clear", "").unwrap();
        assert_eq!(r.h("nmappings"), "0");
        let err = Rig::try_new(&[("rw", "IPRewriter", "pattern NOPE 0 1")], 1, 2)
            .err()
            .unwrap();
        assert!(err.contains("no such pattern 'NOPE'"), "{err}");
    }

    #[test]
    fn configuration_errors() {
        let bad = [
            ("IPRewriter", "pattern 21.0.0.1 1024-65535 - - 0 5", 1, 2),
            ("IPRewriter", "bogus spec here", 1, 2),
            ("IPRewriter", "drop, drop", 1, 2),
            ("IPRewriter", "drop, MAPPING_CAPACITY other", 1, 1),
            ("IPRewriter", "pattern 300.0.0.1 - - - 0 0", 1, 1),
            ("IPRewriter", "nomapper", 1, 1),
        ];
        for (class, cfg, i, o) in bad {
            assert!(
                Rig::try_new(&[("rw", class, cfg)], i, o).is_err(),
                "{cfg} accepted"
            );
        }
    }

    #[test]
    fn a_large_table_rewrites_whole_batches_as_packet_by_packet() {
        // MAPPING_CAPACITY large enough that push looks the batch up ahead of rewriting it;
        // mappings created by earlier packets of the same batch must be used by later ones.
        let cfg = "pattern 21.0.0.1 40000-40010# - - 0 1, drop, MAPPING_CAPACITY 20000";
        let mut r = Rig::new("IPRewriter", cfg, 2, 2);
        let a1 = udp(IN, 1000, SRV, 53, b"a1");
        let b1 = udp(IN2, 1000, SRV, 53, b"b1");
        let a2 = udp(IN, 1000, SRV, 53, b"a2");
        let out = r.push(0, &[&a1, &b1, &a2, &a1]);
        let flows: Vec<_> = out[0].iter().map(|p| flow_of(p)).collect();
        assert_eq!(
            flows,
            [
                (NAT, 40000, SRV, 53),
                (NAT, 40001, SRV, 53),
                (NAT, 40000, SRV, 53),
                (NAT, 40000, SRV, 53),
            ]
        );
        assert_eq!(r.h("nmappings"), "2");
        // Known flows, both ways, in one batch each.
        let out = r.push(0, &[&b1, &a2]);
        assert_eq!(flow_of(&out[0][0]), (NAT, 40001, SRV, 53));
        assert_eq!(flow_of(&out[0][1]), (NAT, 40000, SRV, 53));
        let ra = udp(SRV, 53, NAT, 40000, b"ra");
        let rb = udp(SRV, 53, NAT, 40001, b"rb");
        let back = r.push(1, &[&ra, &rb, &ra]);
        assert_eq!(back[1].len(), 3);
        assert_eq!(back[1][0], udp(SRV, 53, IN, 1000, b"ra"));
        assert_eq!(back[1][1], udp(SRV, 53, IN2, 1000, b"rb"));
        assert_eq!(back[1][2], udp(SRV, 53, IN, 1000, b"ra"));
        for p in out[0].iter().chain(&back[1]) {
            assert_checksums(p);
        }
        assert_eq!(r.h("nmappings"), "2");
    }
}
