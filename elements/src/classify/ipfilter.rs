//! `IPFilter(ACTION_1 PATTERN_1, ..., ACTION_N PATTERN_N)` — filters IP packets by contents.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h/h`: push.
//!
//! Each argument is an ACTION followed by a PATTERN in [`IPClassifier`](super::ipclassifier)'s
//! language. Packets are tested against the rules in order and handled by the ACTION of the
//! first rule they match:
//!
//! - `allow`: out of output 0;
//! - `drop` or `deny`: dropped;
//! - a number N: out of output N (which must exist).
//!
//! A packet that matches no rule is dropped. An ACTION alone (`allow`) or followed by `-`,
//! `any` or `all` matches every packet. Input packets need their IP header annotation
//! (`CheckIPHeader`, `MarkIPHeader`); without it the IP header is read at the data start.
//!
//! **Handlers:** `program` (r), the compiled decision program, one masked 32-bit word
//! comparison per line with its yes, no and short-packet targets; `drops` (r), packets
//! dropped by a `drop`/`deny` rule or by matching no rule.
//!
//! **Example:**
//!
//! ```text
//! AddressInfo(INTERNALNET 10.0.0.0/8, BASTION 10.1.1.1);
//! IPFilter(deny src INTERNALNET,
//!          allow src BASTION && dst INTERNALNET && tcp && src port www && dst port > 1023 && ack,
//!          allow dst INTERNALNET && tcp && dst port 22,
//!          deny all);
//! ```
//!
//! **Differences from Click:** those of `IPClassifier`; also, `deny` on an element with several
//! outputs does not print Click's compatibility warning (it has meant `drop` since Click 1.3).

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::lang::{parse_pattern, tokenize};
use super::program::Outcome;
use super::{finish, pattern_args};

/// Click's `IPFilter`.
#[allow(non_upper_case_globals)]
pub static IPFilter: ElementClass = ElementClass {
    name: "IPFilter",
    ports: "1/-",
    processing: "h/h",
    make,
    names: None,
};

fn make(args: &mut Args<'_>, cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    build(args, cx, true)
}

/// Parses every argument as a rule (an action word first when `actions`, else pattern `i`
/// goes to output `i`) and builds the element.
pub(crate) fn build(
    args: &mut Args<'_>,
    cx: &ConfigContext<'_>,
    actions: bool,
) -> Option<Box<dyn Element>> {
    let patterns = pattern_args(args);
    let mut rules = Vec::with_capacity(patterns.len());
    for (i, p) in patterns.iter().enumerate() {
        let Some(p) = p else {
            rules.push(None);
            continue;
        };
        let words = tokenize(&p.text);
        let (outcome, rest) = if actions {
            let Some(first) = words.first() else {
                args.error(
                    p.span,
                    format!("pattern {i}: empty pattern (expected e.g. 'allow tcp')"),
                );
                rules.push(None);
                continue;
            };
            let outcome = match first.text {
                "allow" if cx.noutputs == 0 => Err(format!(
                    "'allow' is meaningless, {} has zero outputs",
                    cx.name
                )),
                "allow" => Ok(Outcome::Port(0)),
                "deny" | "drop" => Ok(Outcome::Drop),
                w if w.bytes().all(|b| b.is_ascii_digit()) => match w.parse::<usize>() {
                    Ok(n) if n < cx.noutputs => Ok(Outcome::Port(n as u16)),
                    _ => Err(format!(
                        "slot '{w}' out of range ({} has {} outputs)",
                        cx.name, cx.noutputs
                    )),
                },
                w => Err(format!(
                    "unknown slot ID '{w}' (expected allow, deny, drop or an output number)"
                )),
            };
            match outcome {
                Ok(o) => (o, &words[1..]),
                Err(m) => {
                    args.error(p.span(first.start, first.end), format!("pattern {i}: {m}"));
                    rules.push(None);
                    continue;
                }
            }
        } else {
            (Outcome::Port(i as u16), &words[..])
        };
        match parse_pattern(rest, Some(cx.names)) {
            Ok(e) => rules.push(Some((e, outcome))),
            Err(e) => {
                args.error(
                    p.span(e.start, e.end),
                    format!("pattern {i}: {}", e.message),
                );
                rules.push(None);
            }
        }
    }
    finish(rules)
}

#[cfg(test)]
pub(crate) mod tests {
    use alloc::string::String;
    use alloc::vec;

    use super::super::lang::parse_pattern;
    use super::super::program::{Expr, View};
    use super::super::testutil::{classify, errors, router};
    use super::*;
    use crate::testutil;

    /// An IPv4/TCP packet with `flags` from "SAFRPU" and 6 bytes of payload.
    pub fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: &str) -> Vec<u8> {
        testutil::tcp(src, sport, dst, dport, flags, &[0; 6])
    }

    /// An IPv4/UDP packet with 18 bytes of payload.
    pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        testutil::udp(src, sport, dst, dport, &[0; 18])
    }

    /// An IPv4/ICMP echo request (type 8) or reply (type 0).
    pub fn icmp(src: [u8; 4], dst: [u8; 4], ty: u8) -> Vec<u8> {
        testutil::icmp_echo(src, dst, 1, ty != 0, &[0; 8])
    }

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [192, 168, 0, 9];

    fn run(config: &str, nout: usize, pkts: &[Vec<u8>]) -> Vec<Option<usize>> {
        let mut r =
            router(&IPFilter, config, nout, None).unwrap_or_else(|e| panic!("{config}: {e}"));
        classify(&mut r, pkts, Some(0))
    }

    #[test]
    fn actions_and_default_drop() {
        let pkts = vec![
            tcp(A, B, 1, 22, "S"),
            udp(A, B, 1, 53),
            icmp(A, B, 8),
            tcp(B, A, 22, 1, "A"),
        ];
        assert_eq!(
            run("allow tcp dst port 22, 1 udp, drop icmp", 2, &pkts),
            [Some(0), Some(1), None, None]
        );
        assert_eq!(
            run("deny src 10.0.0.1, allow all", 1, &pkts),
            [None, None, None, Some(0)]
        );
        assert_eq!(run("allow", 1, &pkts), [Some(0); 4]);
        let mut r = router(&IPFilter, "drop tcp, allow -", 1, None).unwrap();
        assert_eq!(
            classify(&mut r, &pkts, Some(0)),
            [None, Some(0), Some(0), None]
        );
        assert_eq!(r.read_handler("c.drops").unwrap(), "2");
    }

    #[test]
    fn network_header_annotation() {
        // Behind a 14-byte Ethernet header, with the annotation set.
        let mut framed = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
        framed.extend(tcp(A, B, 1, 80, "S"));
        let mut r = router(
            &IPFilter,
            "allow ether src 02:00:00:00:00:aa and port www, 1 www",
            2,
            None,
        )
        .unwrap();
        assert_eq!(classify(&mut r, &[framed.clone()], Some(14)), [Some(0)]);
        // Without the annotation the IP header is read at the data start: no match.
        assert_eq!(classify(&mut r, &[framed], None), [None]);
    }

    #[test]
    fn qualifiers_ports_and_relations() {
        let p = vec![
            tcp(A, B, 1500, 80, "SA"),
            udp(B, A, 53, 40000),
            tcp(B, A, 443, 1023, "A"),
        ];
        assert_eq!(run("allow src host 10.0.0.1", 1, &p), [Some(0), None, None]);
        assert_eq!(
            run("allow dst host 10.0.0.1 or 1.2.3.4", 1, &p),
            [None, Some(0), Some(0)]
        );
        assert_eq!(
            run("allow src and dst net 10.0.0.0/8", 1, &p),
            [None, None, None]
        );
        assert_eq!(
            run("allow net 192.168.0.0 mask 255.255.0.0", 1, &p),
            [Some(0); 3]
        );
        assert_eq!(run("allow src port domain", 1, &p), [None, Some(0), None]);
        assert_eq!(run("allow tcp port www", 1, &p), [Some(0), None, None]);
        assert_eq!(
            run("allow dst port < 1024", 1, &p),
            [Some(0), None, Some(0)]
        );
        assert_eq!(run("allow dst port >= 1024", 1, &p), [None, Some(0), None]);
        assert_eq!(run("allow src port != 53", 1, &p), [Some(0), None, Some(0)]);
        assert_eq!(run("allow port 1000-2000", 1, &p), [Some(0), None, Some(0)]);
        assert_eq!(
            run("allow src port 1500 or 443", 1, &p),
            [Some(0), None, Some(0)]
        );
        assert_eq!(
            run("allow port 80 1500", 1, &p),
            [Some(0), None, None],
            "juxtaposition is 'and'"
        );
        assert_eq!(run("allow https or www", 1, &p), [Some(0), None, Some(0)]);
        assert_eq!(run("allow syn", 1, &p), [Some(0), None, None]);
        assert_eq!(
            run("allow tcp opt ack and not syn", 1, &p),
            [None, None, Some(0)]
        );
        assert_eq!(
            run("allow tcp[13] & 0x12 == 0x12", 1, &p),
            [Some(0), None, None]
        );
        assert_eq!(run("allow ip[9] = 17", 1, &p), [None, Some(0), None]);
        assert_eq!(
            run("allow ip proto 6 or 17", 1, &p),
            [Some(0), Some(0), Some(0)]
        );
        assert_eq!(run("allow ip proto != tcp", 1, &p), [None, Some(0), None]);
        assert_eq!(
            run("allow udp ? dst port 40000 : src port 443", 1, &p),
            [None, Some(0), Some(0)]
        );
        assert_eq!(
            run("allow (tcp && !syn) || (udp && src 192.168.0.9)", 1, &p),
            [None, Some(0), Some(0)]
        );
        assert_eq!(run("allow true, 0 false", 1, &p), [Some(0); 3]);
        assert_eq!(
            run(
                "allow ip ttl 64 and ip vers 4 and ip hl 5 and ip tos 0 and ip dscp 0",
                1,
                &p
            ),
            [Some(0); 3]
        );
        assert_eq!(run("allow ip len > 45", 1, &p), [Some(0), Some(0), Some(0)]);
        assert_eq!(
            run(
                "allow ip unfrag and not ip frag and not ip ect and not ip ce",
                1,
                &p
            ),
            [Some(0); 3]
        );
    }

    #[test]
    fn icmp_types() {
        let p = vec![icmp(A, B, 8), icmp(B, A, 0), udp(A, B, 7, 7)];
        assert_eq!(run("allow icmp type echo", 1, &p), [Some(0), None, None]);
        assert_eq!(
            run("allow icmp type echo-reply", 1, &p),
            [None, Some(0), None]
        );
        assert_eq!(
            run("allow icmp type != 8", 1, &p),
            [None, Some(0), None],
            "needs ICMP"
        );
        assert_eq!(
            run("allow not icmp type 8", 1, &p),
            [None, Some(0), Some(0)]
        );
        assert_eq!(run("allow port echo", 1, &p), [None, None, Some(0)]);
        assert_eq!(run("allow type > 0", 1, &p), [Some(0), None, None]);
    }

    #[test]
    fn fragments_and_short_packets() {
        let mut later = tcp(A, B, 1, 80, "S");
        later[6] = 0x00;
        later[7] = 0x10; // fragment offset 16 (x8 bytes)
        let mut first = tcp(A, B, 1, 80, "S");
        first[6] = 0x20; // more fragments, offset 0
        let whole = tcp(A, B, 1, 80, "S");
        let cut = whole[..21].to_vec(); // IP header and 1 transport byte
        let p = vec![later, first, whole, cut];
        assert_eq!(
            run("allow tcp port 80", 1, &p),
            [None, Some(0), Some(0), None]
        );
        assert_eq!(run("allow ip frag", 1, &p), [Some(0), Some(0), None, None]);
        assert_eq!(
            run("allow not tcp port 80", 1, &p),
            [Some(0), None, None, Some(0)]
        );
        assert_eq!(run("allow tcp port != 80", 1, &p), [None, None, None, None]);
        // The cut packet has one of the two source port bytes.
        assert_eq!(
            run("allow tcp and src port 1", 1, &p),
            [None, Some(0), Some(0), None]
        );
        assert_eq!(
            run("allow tcp and not src port 1", 1, &p),
            [Some(0), None, None, Some(0)]
        );
    }

    #[test]
    fn truncated_and_garbage_match_nothing_they_do_not_hold() {
        let mut r = router(
            &IPFilter,
            "allow tcp port 80 and syn, 1 udp or icmp type echo, 2 ip[60:4] 0",
            3,
            None,
        )
        .unwrap();
        // Protocol 0x4f is neither TCP, UDP nor ICMP, no byte is zero: every length, empty included, falls
        // through every rule and is dropped, and counted.
        let pkts: Vec<Vec<u8>> = (0..70).map(|n| vec![0x4f; n]).collect();
        assert_eq!(classify(&mut r, &pkts, Some(0)), [None; 70]);
        assert_eq!(classify(&mut r, &[vec![]], None), [None]);
        assert_eq!(r.read_handler("c.drops").unwrap(), "71");
        // A test of bytes beyond the packet's end fails; it never reads past the data.
        let mut r = router(&IPFilter, "1 ip[60:4] 0, allow all", 2, None).unwrap();
        let zeros = |n| vec![0u8; n];
        assert_eq!(
            classify(&mut r, &[zeros(63), zeros(64), zeros(65)], Some(0)),
            [Some(0), Some(1), Some(1)]
        );
    }

    #[test]
    fn address_names() {
        let cfg = "deny src INTERNALNET, allow src BASTION && dst port www, allow dst me";
        let mut r = router(
            &IPFilter,
            cfg,
            1,
            Some("INTERNALNET 10.0.0.0/8, BASTION 192.168.0.9, me 172.16.0.1/12"),
        )
        .unwrap();
        let p = vec![
            tcp(A, B, 1, 80, "S"),
            tcp(B, A, 1, 80, "S"),
            tcp(B, [172, 16, 0, 1], 1, 1, ""),
            tcp(B, [172, 16, 0, 2], 1, 1, ""),
        ];
        assert_eq!(
            classify(&mut r, &p, Some(0)),
            [None, Some(0), Some(0), None]
        );
    }

    #[test]
    fn errors_have_spans() {
        let e = errors(&IPFilter, "allow tcp, bogus udp", 1);
        assert!(
            e.contains("pattern 1: unknown slot ID 'bogus'") && e.contains("@11..16"),
            "{e}"
        );
        let e = errors(&IPFilter, "2 tcp", 2);
        assert!(e.contains("slot '2' out of range"), "{e}");
        let e = errors(&IPFilter, "allow tcp port fish", 1);
        assert!(e.contains("@15..19"), "{e}");
        let e = errors(&IPFilter, "allow host > 10.0.0.1", 1);
        assert!(e.contains("operator not supported"), "{e}");
        let e = errors(&IPFilter, "allow udp syn", 1);
        assert!(e.contains("meaningless"), "{e}");
        let e = errors(&IPFilter, "allow (tcp", 1);
        assert!(e.contains("missing ')'"), "{e}");
        let e = errors(&IPFilter, "allow tcp ? udp", 1);
        assert!(e.contains("missing ':'"), "{e}");
        let e = errors(&IPFilter, "allow", 0);
        assert!(e.contains("zero outputs"), "{e}");
        let e = errors(&IPFilter, "allow ip ttl 300", 1);
        assert!(e.contains("out of range"), "{e}");
    }

    /// Every pattern in Click's IPClassifier and IPFilter manuals, and the common idioms.
    #[test]
    fn documented_patterns_parse() {
        struct Names;
        impl sluice_config::args::NameLookup for Names {
            fn lookup(&self, name: &str, kind: &str) -> Option<String> {
                let v = match (name, kind) {
                    ("INTERNALNET", "ipprefix") => "10.0.0.0/8",
                    ("INTERNALNET", "ip") => "10.0.0.0",
                    (_, "ip") if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                        "10.1.1.1"
                    }
                    _ => return None,
                };
                Some(v.into())
            }
        }
        let pats = [
            "10.0.0.0/24 and syn",
            "10.0.0.0/24 and fin ack",
            "10.0.0.0/24 and tcp",
            "-",
            "dst tcp port 8000 or 8080",
            "dst tcp port > 1023",
            "tcp",
            "(dst port www or dst port ssh) and tcp opt syn",
            "src host == 10.0.0.10",
            "src host != 10.0.0.10",
            "src tcp port != 5",
            "!(src tcp port == 5)",
            "icmp type != 4",
            "src tcp port & 10 == 8",
            "ip proto tcp",
            "port www",
            "www",
            "tcp opt syn",
            "syn",
            "net 10.0.0.0/24",
            "ip unfrag",
            "unfrag",
            "src port 80 or 81",
            "any",
            "all",
            "ip vers 4",
            "ip hl 5",
            "ip id 1234",
            "ip tos 0x10",
            "ip dscp 46",
            "ip ect",
            "ip ce",
            "ip ttl < 2",
            "ip frag",
            "tcp win 0",
            "icmp type echo",
            "ip[9] 6",
            "ip[6:2] & 0x3fff != 0",
            "transp[0:2] 53",
            "tcp[13] & 2 != 0",
            "udp[2:2] 53",
            "true",
            "false",
            "src net 10.0.0.0 mask 255.0.0.0",
            "src or dst host 1.2.3.4",
            "src and dst net 10.0.0.0/8",
            "ether host 00:11:22:33:44:55",
            "ether src 00:11:22:33:44:55",
            "ip proto 17 and dst port 53",
            "tcp && !syn || udp",
            "icmp ? icmp type echo : tcp",
            "not tcp and not udp",
            "udp port domain",
            "tcpudp port 1",
            "icmp type echo-reply or icmp type unreachable or icmp type timeexceeded",
            "src INTERNALNET",
            "src BASTION && dst INTERNALNET && tcp && src port www && dst port > 1023 && ack",
            "dst INTERNALNET && tcp && src port 23 && dst port > 1023 && ack",
            "src NNTP_FEED && dst INTERNAL_NNTP && tcp && src port 119 && dst port > 1023 && ack",
            "src BASTION && dst INTERNAL_DNS && udp && src port 53 && dst port 53",
        ];
        for p in pats {
            let w = tokenize(p);
            assert!(
                parse_pattern(&w, Some(&Names)).is_ok(),
                "{p}: {:?}",
                parse_pattern(&w, Some(&Names))
            );
        }
    }

    #[test]
    fn program_handler_lists_instructions() {
        let r = router(&IPFilter, "allow tcp dst port 22, deny all", 1, None).unwrap();
        let prog = r.read_handler("c.program").unwrap();
        assert!(
            prog.contains("ip+8/") && prog.contains("transp+0/"),
            "{prog}"
        );
    }

    // ---- the compiled program agrees with the reference evaluator --------------------

    use proptest::prelude::*;

    fn primitive() -> impl Strategy<Value = String> {
        let addr = prop_oneof![
            Just("10.0.0.1"),
            Just("192.168.0.9"),
            Just("10.0.0.0/8"),
            Just("192.168.0.0/16")
        ];
        let port = prop_oneof![
            Just("80"),
            Just("53"),
            Just("1023"),
            Just("www"),
            Just("0"),
            Just("65535")
        ];
        let rel = prop_oneof![
            Just(""),
            Just("!= "),
            Just("> "),
            Just("< "),
            Just(">= "),
            Just("<= ")
        ];
        let sd = prop_oneof![
            Just(""),
            Just("src "),
            Just("dst "),
            Just("src or dst "),
            Just("src and dst ")
        ];
        let proto = prop_oneof![Just(""), Just("tcp "), Just("udp ")];
        prop_oneof![
            (sd.clone(), addr).prop_map(|(s, a)| format!("{s}{a}")),
            (sd.clone(), proto, rel.clone(), port)
                .prop_map(|(s, p, r, v)| format!("{s}{p}port {r}{v}")),
            prop_oneof![
                Just("tcp"),
                Just("udp"),
                Just("icmp"),
                Just("tcpudp"),
                Just("ip proto 6")
            ]
            .prop_map(String::from),
            prop_oneof![Just("syn"), Just("ack"), Just("fin"), Just("tcp opt rst")]
                .prop_map(String::from),
            prop_oneof![
                Just("ip frag"),
                Just("ip unfrag"),
                Just("ip ect"),
                Just("ip ce"),
                Just("true"),
                Just("false")
            ]
            .prop_map(String::from),
            (rel.clone(), 0u32..256).prop_map(|(r, v)| format!("ip ttl {r}{v}")),
            (rel.clone(), 0u32..20).prop_map(|(r, v)| format!("icmp type {r}{v}")),
            (rel, 0u32..16).prop_map(|(r, v)| format!("ip[1] & 0x0f {r}{v}")),
            (0u32..40, 1u32..3).prop_map(|(p, l)| format!("transp[{}:{l}] != 0", p / 4 * 4)),
            // A bare value after an `ether` test would be read as Ethernet (as in Click): end
            // with an IP test.
            sd.prop_map(|s| format!("ether {s}host 00:00:00:00:00:01 or ip ttl 0")),
        ]
    }

    fn pattern() -> impl Strategy<Value = String> {
        primitive().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) ({b})")),
                inner.clone().prop_map(|a| format!("not ({a})")),
                (inner.clone(), inner.clone(), inner)
                    .prop_map(|(a, b, c)| format!("({a}) ? ({b}) : ({c})")),
            ]
        })
    }

    fn packet() -> impl Strategy<Value = Vec<u8>> {
        let tmpl = prop_oneof![
            (any::<u16>(), any::<u16>(), "[SAFRPU]{0,3}").prop_map(|(s, d, f)| tcp(
                A,
                B,
                s % 2000,
                d % 2000,
                &f
            )),
            (any::<u16>(), any::<u16>()).prop_map(|(s, d)| udp(B, A, s % 100, d)),
            (0u8..2).prop_map(|t| icmp(A, B, t * 8)),
            proptest::collection::vec(any::<u8>(), 0..64),
        ];
        (tmpl, any::<u8>(), any::<u8>(), any::<u8>(), 0usize..80).prop_map(
            |(mut p, ttl, frag, tos, cut)| {
                if p.len() > 20 {
                    p[8] = ttl % 4 * 64;
                    p[6] = frag & 0x21;
                    p[1] = tos & 0x0f;
                }
                if cut < p.len() && cut % 3 == 0 {
                    p.truncate(cut);
                }
                p
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        #[test]
        fn compiled_program_matches_reference(pats in proptest::collection::vec(pattern(), 1..5), pkts in proptest::collection::vec(packet(), 1..12), lead in 0usize..20) {
            let mut rules = Vec::new();
            for (i, p) in pats.iter().enumerate() {
                let w = tokenize(p);
                match parse_pattern(&w, None) {
                    Ok(e) => rules.push((e, if i % 3 == 2 { Outcome::Drop } else { Outcome::Port(i as u16) })),
                    Err(e) => prop_assert!(false, "{p}: {e:?}"),
                }
            }
            let prog = super::super::program::Program::compile(&rules);
            let mut switched = prog.clone();
            switched.add_switches_any_size(2);
            for p in &pkts {
                // Put `lead` bytes of link header before the IP header.
                let mut buf = vec![0u8; lead];
                if lead >= 6 { buf[5] = 1; }
                buf.extend_from_slice(p);
                let view = View::from_buffer(&buf, 0, buf.len(), lead);
                let want = super::super::program::reference_classify(&rules, &view);
                prop_assert_eq!(prog.classify(&view), want, "patterns {:?}\n{}", pats, prog.unparse());
                prop_assert_eq!(switched.classify(&view), want, "patterns {:?}\n{}", pats, switched.unparse());
            }
        }
    }

    fn address_rule() -> impl Strategy<Value = String> {
        let host = (0u8..6).prop_map(|h| format!("10.0.0.{h}"));
        let net = (0u8..6).prop_map(|h| format!("10.0.{h}.0/24"));
        let port = (50u16..56).prop_map(|p| p.to_string());
        prop_oneof![
            (prop_oneof![Just("src"), Just("dst")], host)
                .prop_map(|(d, h)| format!("{d} host {h}")),
            net.prop_map(|n| format!("src net {n}")),
            (prop_oneof![Just("tcp"), Just("udp")], port)
                .prop_map(|(p, v)| format!("{p} dst port {v}")),
            (0u32..4).prop_map(|v| format!("ip ttl > {}", v * 60)),
        ]
    }

    fn switch_packet() -> impl Strategy<Value = Vec<u8>> {
        (0u8..8, 0u8..8, 0u8..3, 50u16..57, any::<bool>(), 0usize..60).prop_map(
            |(s, d, n, port, is_tcp, cut)| {
                let src = [10, 0, n, s];
                let dst = [10, 0, 0, d];
                let mut p = if is_tcp {
                    tcp(src, dst, 1000, port, "S")
                } else {
                    udp(src, dst, 1000, port)
                };
                p[8] = s.wrapping_mul(40);
                if cut % 4 == 0 {
                    p.truncate(cut);
                }
                p
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Many values of one field, so switches (even on two values) stand in for tests.
        #[test]
        fn switched_program_matches_reference(rules in proptest::collection::vec(proptest::collection::vec(address_rule(), 1..3), 1..16), pkts in proptest::collection::vec(switch_packet(), 1..16), min in 2usize..5) {
            let mut compiled = Vec::new();
            for (i, conj) in rules.iter().enumerate() {
                let p = conj.join(" and ");
                let e = parse_pattern(&tokenize(&p), None).map_err(|e| TestCaseError::fail(format!("{p}: {e:?}")))?;
                compiled.push((e, if i % 4 == 3 { Outcome::Drop } else { Outcome::Port(i as u16) }));
            }
            let plain = super::super::program::Program::compile(&compiled);
            let mut prog = plain.clone();
            prog.add_switches_any_size(min);
            // Switches below defaults only: the form large programs fall back to.
            let mut shallow = plain;
            shallow.add_switches_defaults_only(min);
            for p in &pkts {
                let view = View::from_buffer(p, 0, p.len(), 0);
                let want = super::super::program::reference_classify(&compiled, &view);
                prop_assert_eq!(prog.classify(&view), want, "rules {:?}\n{}", rules, prog.unparse());
                prop_assert_eq!(shallow.classify(&view), want, "rules {:?}\n{}", rules, shallow.unparse());
            }
        }
    }

    /// Three kinds of rules interleaved, each kind comparing its own word with many values:
    /// the switch on one kind's word must leave switches for the others below its default.
    #[test]
    fn interleaved_rules_switch_below_default() {
        let rules: Vec<(Expr, Outcome)> = (0..99)
            .map(|i| match i % 3 {
                0 => format!("src net 172.16.{i}.0/24 && udp && dst port {}", 1000 + i),
                1 => format!("dst host 192.0.2.{i} && udp"),
                _ => format!(
                    "src net 10.{}.0.0/16 and (tcp opt syn or icmp type echo)",
                    100 + i
                ),
            })
            .chain(["udp && dst net 198.18.0.0/15".into()])
            .enumerate()
            .map(|(i, p)| {
                let e = parse_pattern(&tokenize(&p), None).expect("parses");
                (e, Outcome::Port(i as u16))
            })
            .collect();
        let mut prog = super::super::program::Program::compile(&rules);
        prog.add_switches(8);
        let listing = prog.unparse();
        assert!(listing.matches("switch").count() >= 3, "{listing}");
        let mut pkts = Vec::new();
        for i in 0..100u8 {
            let j = i.wrapping_mul(7) % 100;
            pkts.push(udp(
                [172, 16, i, 5],
                [198, 18, 0, 1],
                9,
                1000 + u16::from(i),
            ));
            pkts.push(udp([172, 16, i, 5], [192, 0, 2, j], 9, 1000 + u16::from(j)));
            pkts.push(udp([10, 100 + i, 1, 1], [192, 0, 2, i], 9, 9));
            pkts.push(tcp([10, 100 + i, 1, 1], [192, 0, 2, j], 9, 9, "S"));
            pkts.push(icmp([10, 100 + i, 1, 1], [198, 18, 0, 1], 8));
            pkts.push(udp(
                [10, 100 + i, 1, 1],
                [198, 19, 0, 1],
                9,
                1000 + u16::from(i),
            ));
        }
        for p in &pkts {
            for cut in [p.len(), 24, 19, 14] {
                let view = View::of_bytes(&p[..cut]);
                let want = super::super::program::reference_classify(&rules, &view);
                assert_eq!(prog.classify(&view), want, "{:?}", &p[..cut]);
            }
        }
    }

    /// A firewall of many rules over six fields: a packet that only the last rule allows
    /// is decided by one switch per field and a few tests, not by a walk past every rule,
    /// and no test is left whose outcomes all lead to the same place.
    #[test]
    fn many_rules_over_many_fields_take_few_steps() {
        let rules: Vec<(Expr, Outcome)> = (0..96)
            .map(|i| match i % 6 {
                0 => format!("deny src net 172.16.{i}.0/24"),
                1 => format!("allow dst host 192.0.2.{i} && udp dst port {}", 1000 + i),
                2 => format!("deny tcp && dst port {}", 20 + i),
                3 => format!("allow src host 10.1.{i}.{i} && dst net 198.18.0.0/15"),
                4 => format!(
                    "deny udp && src port {} && dst net 203.0.{i}.0/24",
                    6000 + i
                ),
                _ => format!("allow icmp && src net 10.{i}.0.0/16"),
            })
            .chain(["allow udp && dst net 198.18.0.0/15".into()])
            .map(|rule| {
                let (verdict, p) = rule.split_once(' ').unwrap();
                let e = parse_pattern(&tokenize(p), None).expect("parses");
                let out = if verdict == "allow" {
                    Outcome::Port(0)
                } else {
                    Outcome::Drop
                };
                (e, out)
            })
            .collect();
        let prog = super::super::program::Program::compile_with_switches(&rules, 8);
        assert!(!prog.has_idle_tests(), "{}", prog.unparse());
        let p = udp([10, 0, 0, 1], [198, 18, 0, 1], 5000, 5001);
        let view = View::of_bytes(&p);
        assert_eq!(prog.classify(&view), Outcome::Port(0));
        let steps = prog.steps(&view);
        assert!(steps <= 16, "{steps} steps:\n{}", prog.unparse());
        let denied = udp([172, 16, 12, 9], [198, 18, 0, 1], 5000, 5001);
        assert_eq!(prog.classify(&View::of_bytes(&denied)), Outcome::Drop);
    }

    /// Tests a path has settled are not run again: after `tcp` matched and `dst port 80`
    /// failed, `tcp dst port 443` tests only the port. A UDP packet that only the last of
    /// these ten patterns matches runs through 11 tests, as in Click's optimized program.
    #[test]
    fn settled_tests_are_skipped() {
        let patterns = [
            "tcp dst port 80",
            "tcp dst port 443",
            "tcp dst port 22",
            "udp dst port 53",
            "udp dst port 123",
            "icmp",
            "src net 192.168.0.0/16",
            "dst host 10.0.0.2",
            "udp src port 6000",
            "udp dst port 5001",
        ];
        let rules: Vec<(Expr, Outcome)> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let e = parse_pattern(&tokenize(p), None).expect("parses");
                (e, Outcome::Port(i as u16))
            })
            .collect();
        let prog = super::super::program::Program::compile(&rules);
        let p = udp([10, 0, 0, 1], [198, 18, 0, 1], 5000, 5001);
        let view = View::of_bytes(&p);
        assert_eq!(prog.classify(&view), Outcome::Port(9));
        let steps = prog.steps(&view);
        assert!(steps <= 11, "{steps} steps:\n{}", prog.unparse());
    }

    #[test]
    fn reference_helpers_cover_not() {
        let e = Expr::Not(Box::new(Expr::Const(false)));
        assert!(e.eval(&View::of_bytes(&[])));
    }
}
