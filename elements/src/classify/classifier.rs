//! `Classifier(PATTERN_1, ..., PATTERN_N)` — classifies packets by contents.
//!
//! **Ports:** `1/-`: one input, N outputs, one pattern per output.
//!
//! **Processing:** `h/h`: push.
//!
//! Each output has a pattern. A pattern is a set of clauses separated by spaces; it matches
//! when every clause does. A clause is `OFFSET/VALUE` or `OFFSET/VALUE%MASK`: OFFSET is a
//! decimal byte offset from the start of the packet data, VALUE and MASK are hex with an
//! even number of digits (the length of VALUE gives the number of bytes compared), and MASK,
//! when present, has as many digits as VALUE and selects the bits compared. `?` as a digit
//! of VALUE or MASK means "any value for this nibble". A clause preceded by `!` must not
//! match. The pattern `-` matches every packet.
//!
//! Patterns are tried in order; a packet leaves on the output of the first pattern it
//! matches, and is dropped when it matches none. A packet too short to hold a clause's bytes
//! does not match that clause (so it does match the clause's negation).
//!
//! There must be exactly one pattern per output port.
//!
//! **Handlers:** `program` (r) lists the compiled decision program, one masked word
//! comparison per line; `drops` (r) counts packets that matched no pattern.
//!
//! **Example:**
//!
//! ```text
//! Classifier(12/0806 20/0001,    // ARP requests
//!            12/0806 20/0002,    // ARP replies
//!            12/0800,            // IP
//!            -);                 // everything else
//! ```
//!
//! **Differences from Click:** none in matching. The `program` listing has its own format, and
//! `drops` is an addition.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::program::{Base, Expr, Outcome, Test};
use super::{finish, pattern_args};
use alloc::boxed::Box;

/// Click's `Classifier`.
#[allow(non_upper_case_globals)]
pub static Classifier: ElementClass = ElementClass {
    name: "Classifier",
    ports: "1/-",
    processing: "h/h",
    make,
    names: None,
};

fn make(args: &mut Args<'_>, cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let patterns = pattern_args(args);
    if patterns.len() != cx.noutputs {
        args.error_whole(format!(
            "need {} arguments, one per output port (got {} patterns)",
            cx.noutputs,
            patterns.len()
        ));
        return None;
    }
    let mut rules = Vec::with_capacity(patterns.len());
    for (i, p) in patterns.iter().enumerate() {
        let Some(p) = p else {
            rules.push(None);
            continue;
        };
        match parse_pattern(&p.text) {
            Ok(e) => rules.push(Some((e, Outcome::Port(i as u16)))),
            Err((msg, s, e)) => {
                args.error(p.span(s, e), format!("pattern {i}: {msg}"));
                rules.push(None);
            }
        }
    }
    finish(rules)
}

fn hex(c: u8) -> Option<(u32, u32)> {
    match c {
        b'?' => Some((0, 0)),
        b'0'..=b'9' => Some((u32::from(c - b'0'), 0xf)),
        b'a'..=b'f' => Some((u32::from(c - b'a' + 10), 0xf)),
        b'A'..=b'F' => Some((u32::from(c - b'A' + 10), 0xf)),
        _ => None,
    }
}

/// Parses one `Classifier` pattern. Errors carry a message and the byte range at fault.
pub fn parse_pattern(text: &str) -> Result<Expr, (String, usize, usize)> {
    let s = text.as_bytes();
    if text.trim() == "-" {
        return Ok(Expr::Const(true));
    }
    let mut clauses = Vec::new();
    let mut i = 0;
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        let clause_start = i;
        let negated = s[i] == b'!';
        if negated {
            i += 1;
            while i < s.len() && s[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            let end = (i + 1).min(s.len()).max(i);
            return Err((
                String::from("expected a digit (clauses look like 12/0800 or !12/0806%ffff)"),
                i,
                end,
            ));
        }
        let offset: usize = text[i..i + digits]
            .parse()
            .map_err(|_| (String::from("offset too large"), i, i + digits))?;
        i += digits;
        if s.get(i) != Some(&b'/') {
            return Err((
                String::from("expected '/' after the offset"),
                clause_start,
                i,
            ));
        }
        i += 1;
        let is_digit = |c: &&u8| c.is_ascii_hexdigit() || **c == b'?';
        let value_at = i;
        let nv = s[i..].iter().take_while(is_digit).count();
        i += nv;
        let mut mask_at = None;
        let mut nm = 0;
        if s.get(i) == Some(&b'%') {
            i += 1;
            mask_at = Some(i);
            nm = s[i..].iter().take_while(is_digit).count();
            i += nm;
        }
        if i < s.len() && !s[i].is_ascii_whitespace() {
            return Err((
                format!("unexpected '{}' in clause", char::from(s[i])),
                i,
                i + 1,
            ));
        }
        if nv < 2 {
            return Err((
                String::from("value has less than 2 hex digits"),
                clause_start,
                i,
            ));
        }
        if nv % 2 != 0 {
            return Err((
                String::from("value has odd number of hex digits"),
                value_at,
                value_at + nv,
            ));
        }
        if mask_at.is_some() && nm != nv {
            let which = if nm > nv { "many" } else { "few" };
            return Err((
                format!("mask has too {which} hex digits"),
                mask_at.unwrap_or(i),
                i,
            ));
        }
        let nbytes = nv / 2;
        if offset + nbytes > usize::from(u16::MAX) - 4 {
            return Err((String::from("offset out of range"), clause_start, i));
        }
        // One test per 4-byte aligned word the clause touches, as Click builds them.
        let mut tests: Vec<Test> = Vec::new();
        for k in 0..nbytes {
            let (vh, mh) = hex(s[value_at + 2 * k]).unwrap_or((0, 0));
            let (vl, ml) = hex(s[value_at + 2 * k + 1]).unwrap_or((0, 0));
            let (mut v, mut m) = ((vh << 4) | vl, (mh << 4) | ml);
            if let Some(ma) = mask_at {
                let (gh, hh) = hex(s[ma + 2 * k]).unwrap_or((0, 0));
                let (gl, hl) = hex(s[ma + 2 * k + 1]).unwrap_or((0, 0));
                m &= ((gh << 4) | gl) & ((hh << 4) | hl);
            }
            v &= m;
            let at = offset + k;
            let word = (at / 4 * 4) as u16;
            let shift = 8 * (3 - (at % 4)) as u32;
            if tests.last().is_none_or(|t| t.offset != word) {
                tests.push(Test::eq(Base::Data, word, 0, 0));
            }
            if let Some(t) = tests.last_mut() {
                t.mask |= m << shift;
                t.value |= v << shift;
            }
        }
        let mut e = match tests.len() {
            1 => Expr::Test(tests[0]),
            _ => Expr::And(tests.into_iter().map(Expr::Test).collect()),
        };
        if negated {
            e = Expr::Not(Box::new(e));
        }
        clauses.push(e);
    }
    Ok(match clauses.len() {
        0 => Expr::Const(true),
        1 => clauses.pop().unwrap_or(Expr::Const(true)),
        _ => Expr::And(clauses),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{classify, errors, router};
    use super::*;
    use alloc::vec;

    fn eth(ethertype: u16, b20: u16, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[12..14].copy_from_slice(&ethertype.to_be_bytes());
        if len >= 22 {
            p[20..22].copy_from_slice(&b20.to_be_bytes());
        }
        p
    }

    #[test]
    fn click_example_arp_ip_other() {
        let mut r = router(
            &Classifier,
            "12/0806 20/0001, 12/0806 20/0002, 12/0800, -",
            4,
            None,
        )
        .unwrap();
        let pkts = vec![
            eth(0x0806, 1, 60),
            eth(0x0806, 2, 60),
            eth(0x0800, 0, 60),
            eth(0x86dd, 0, 60),
            eth(0x0806, 3, 60),
        ];
        assert_eq!(
            classify(&mut r, &pkts, None),
            [Some(0), Some(1), Some(2), Some(3), Some(3)]
        );
        assert!(r
            .read_handler("c.program")
            .unwrap()
            .contains("12/08060000%ffff0000"));
    }

    #[test]
    fn masks_wildcards_negation_and_short_packets() {
        let mut r = router(&Classifier, "12/08?0%fff0 !23/06, 0/ff, !14/45", 3, None).unwrap();
        let mut ip_udp = eth(0x0800, 0, 40);
        ip_udp[23] = 17;
        let mut ip_tcp = ip_udp.clone();
        ip_tcp[23] = 6;
        let mut bcast = eth(0x9000, 0, 40);
        bcast[0] = 0xff;
        bcast[14] = 0x45;
        let short = vec![0u8; 10];
        let got = classify(
            &mut r,
            &[ip_udp, ip_tcp, bcast, short.clone(), eth(0x86dd, 0, 40)],
            None,
        );
        // The 10-byte packet lacks byte 14, so `!14/45` holds for it.
        assert_eq!(got, [Some(0), Some(2), Some(1), Some(2), Some(2)]);
        let mut r = router(&Classifier, "12/0800", 1, None).unwrap();
        assert_eq!(
            classify(&mut r, &[vec![0u8; 13], vec![]], None),
            [None, None]
        );
        assert_eq!(r.read_handler("c.drops").unwrap(), "2");
    }

    #[test]
    fn bad_patterns_name_the_spot() {
        let e = errors(&Classifier, "12/0800, 12/080", 2);
        assert!(
            e.contains("pattern 1: value has odd number of hex digits@12..15"),
            "{e}"
        );
        let e = errors(&Classifier, "12/0800%ff", 1);
        assert!(e.contains("mask has too few hex digits"), "{e}");
        let e = errors(&Classifier, "x/08", 1);
        assert!(e.contains("expected a digit") && e.contains("@0..1"), "{e}");
        let e = errors(&Classifier, "12/08, -", 3);
        assert!(e.contains("need 3 arguments"), "{e}");
        let e = errors(&Classifier, "12-08", 1);
        assert!(e.contains("expected '/'"), "{e}");
    }

    #[test]
    fn documented_patterns_parse() {
        for p in [
            "12/0806 20/0001",
            "12/0806 20/0002",
            "12/0800",
            "-",
            "0/ffffffffffff",
            "12/0800 23/11",
            "!12/0800",
            "12/08??",
            "12/0806%ffff 20/0001%00ff",
        ] {
            assert!(parse_pattern(p).is_ok(), "{p}");
        }
    }
}
