//! Rewrite patterns (`SADDR SPORT DADDR DPORT`) and input specifications, as Click's
//! `IPRewriterPattern` and `IPRewriterInput` define them.
//!
//! A pattern has one, two or four words:
//!
//! - `NAME`: a pattern declared in an `IPRewriterPatterns` element;
//! - `SADDR DADDR`: rewrite addresses only (ports are kept);
//! - `SADDR SPORT DADDR DPORT`: rewrite addresses and ports.
//!
//! (Click also reads a three-word form, `SADDR DADDR SPORT`, which is accepted too.)
//!
//! Each field is `-` (keep the packet's value) or a value. SADDR may be a range
//! `1.0.0.1-1.0.0.254` or a prefix `1.0.0.0/24` (which stands for `.1`-`.254`); SPORT may be a
//! range `1024-65535`. A range ending in `#` is allocated sequentially, one ending in `?`
//! randomly; with neither, the packet's own source port is kept when it lies in the range
//! and is free, and a random free value is chosen otherwise. A value is free when the reply
//! flow it would create is not already mapped in the rewriter: a port in use towards a given
//! destination address, port and protocol is never handed out twice.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::{FromArg, Ipv4Prefix, NameLookup};

use super::table::{FlowId, FlowMap};

/// One rewrite pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    saddr: Option<u32>,
    sport: Option<u16>,
    daddr: Option<u32>,
    dport: Option<u16>,
    /// Ports are part of the pattern (four words).
    napt: bool,
    /// Size of the range minus one; 0 for a fixed value.
    variation: u32,
    /// The range is a port range (else an address range).
    vary_port: bool,
    sequential: bool,
    same_first: bool,
    next: u32,
}

fn strip_suffix(word: &str) -> (&str, bool, bool) {
    // (text, sequential, same_first)
    if let Some(w) = word.strip_suffix('#') {
        (w, true, false)
    } else if let Some(w) = word.strip_suffix('?') {
        (w, false, false)
    } else {
        (word, false, true)
    }
}

fn parse_addr(word: &str, names: Option<&dyn NameLookup>) -> Option<u32> {
    Ipv4Addr::from_arg(word, names).ok().map(u32::from)
}

/// An address, range or prefix: (base, variation, sequential, same_first).
fn parse_addr_variation(
    word: &str,
    names: Option<&dyn NameLookup>,
) -> Option<(u32, u32, bool, bool)> {
    if let Some(a) = parse_addr(word, names) {
        return Some((a, 0, false, true));
    }
    let (w, seq, same) = strip_suffix(word);
    if let Some((lo, hi)) = w.split_once('-') {
        let (lo, hi) = (parse_addr(lo, names)?, parse_addr(hi, names)?);
        return (hi >= lo).then(|| (lo, hi - lo, seq, same));
    }
    let p = Ipv4Prefix::from_arg(w, names).ok()?;
    let addr = u32::from(p.addr);
    if addr == 0 || p.len == 0 {
        return None;
    }
    let mask = u32::from(p.mask());
    Some(match p.len {
        32 => (addr, 0, seq, same),
        31 => (addr & mask, 1, seq, same),
        // PREFIX.0 and the broadcast address are not handed out.
        _ => ((addr & mask) | 1, !mask - 2, seq, same),
    })
}

fn parse_port(word: &str) -> Option<u16> {
    u16::from_arg(word, None).ok().filter(|&p| p > 0)
}

/// A port or range: (base, variation, sequential, same_first).
fn parse_port_variation(word: &str) -> Option<(u16, u32, bool, bool)> {
    if let Some(p) = parse_port(word) {
        return Some((p, 0, false, true));
    }
    let (w, seq, same) = strip_suffix(word);
    let (lo, hi) = w.split_once('-')?;
    let lo = u16::from_arg(lo, None).ok()?;
    let hi = u16::from_arg(hi, None).ok()?;
    (hi >= lo).then(|| (lo, u32::from(hi - lo), seq, same))
}

impl Pattern {
    /// Parses the words of a pattern that is not a name (two, three or four words).
    pub fn parse(words: &[&str], names: Option<&dyn NameLookup>) -> Result<Pattern, String> {
        if !(2..=4).contains(&words.len()) {
            return Err("syntax error, expected 'SADDR SPORT DADDR DPORT' or 'SADDR DADDR'".into());
        }
        let mut p = Pattern {
            saddr: None,
            sport: None,
            daddr: None,
            dport: None,
            napt: words.len() >= 3,
            variation: 0,
            vary_port: false,
            sequential: false,
            same_first: true,
            next: 0,
        };
        let (sa, sp, da, dp) = match words.len() {
            2 => (words[0], None, words[1], None),
            3 => (words[0], Some(words[2]), words[1], None),
            _ => (words[0], Some(words[1]), words[2], Some(words[3])),
        };
        if sa != "-" {
            let (a, v, seq, same) = parse_addr_variation(sa, names)
                .ok_or_else(|| format!("bad source address '{sa}'"))?;
            p.saddr = Some(a);
            if v > 0 {
                (p.variation, p.sequential, p.same_first) = (v, seq, same);
            }
        }
        if let Some(sp) = sp.filter(|w| *w != "-") {
            let (port, v, seq, same) =
                parse_port_variation(sp).ok_or_else(|| format!("bad source port '{sp}'"))?;
            p.sport = Some(port);
            if v > 0 {
                (p.variation, p.sequential, p.same_first, p.vary_port) = (v, seq, same, true);
            } else if p.variation > 0 {
                // An address range with a fixed port still varies the address.
            }
        }
        if da != "-" {
            p.daddr = Some(
                parse_addr(da, names).ok_or_else(|| format!("bad destination address '{da}'"))?,
            );
        }
        if let Some(dp) = dp.filter(|w| *w != "-") {
            p.dport = Some(parse_port(dp).ok_or_else(|| format!("bad destination port '{dp}'"))?);
        }
        Ok(p)
    }

    /// The rewritten identifier for a new flow `flow`, or `None` when every value in the
    /// pattern's range is in use (`reply_map` holds the reply keys in use). With `echo`,
    /// the source "port" is an ICMP identifier, which stands for both ports of the
    /// identifier (`ICMPPingRewriter`). A random range starts its search at `draw(top)`, a
    /// number from 0 to `top` inclusive (the router's random sequence, as Click draws it).
    pub fn rewrite(
        &mut self,
        flow: &FlowId,
        reply_map: &FlowMap,
        echo: bool,
        draw: &mut dyn FnMut(u32) -> u32,
    ) -> Option<FlowId> {
        let mut out = *flow;
        if let Some(a) = self.saddr {
            out.saddr = a;
        }
        if let Some(p) = self.sport {
            out.sport = p;
        }
        if let Some(a) = self.daddr {
            out.daddr = a;
        }
        if let Some(p) = self.dport {
            out.dport = p;
        }
        if echo {
            out.dport = out.sport;
        }
        if self.variation == 0 {
            return Some(out);
        }
        let top = self.variation;
        let base = if self.vary_port {
            u32::from(out.sport)
        } else {
            out.saddr
        };
        let mut lookup = out.reverse();
        let set = |lookup: &mut FlowId, vary_port: bool, v: u32| {
            if vary_port {
                lookup.dport = (base + v) as u16;
                if echo {
                    lookup.sport = lookup.dport;
                }
            } else {
                lookup.daddr = base.wrapping_add(v);
            }
        };
        if self.same_first && self.vary_port {
            let v = u32::from(flow.sport).wrapping_sub(base);
            if v <= top {
                set(&mut lookup, true, v);
                if !reply_map.contains(&lookup) {
                    return Some(self.found(out, lookup, v, echo));
                }
            }
        }
        let mut v = if self.sequential {
            if self.next > top {
                0
            } else {
                self.next
            }
        } else {
            draw(top).min(top)
        };
        for _ in 0..=top {
            set(&mut lookup, self.vary_port, v);
            if !reply_map.contains(&lookup) {
                return Some(self.found(out, lookup, v, echo));
            }
            v = if v == top { 0 } else { v + 1 };
        }
        None
    }

    fn found(&mut self, mut out: FlowId, lookup: FlowId, v: u32, echo: bool) -> FlowId {
        if self.vary_port {
            out.sport = lookup.dport;
            if echo {
                out.dport = out.sport;
            }
        } else {
            out.saddr = lookup.daddr;
        }
        self.next = v.wrapping_add(1);
        out
    }

    /// Click's text for the pattern (`patterns` handler).
    pub fn unparse(&self) -> String {
        let ip = |a: u32| format!("{}", Ipv4Addr::from(a));
        let mut s = match self.saddr {
            Some(a) if self.variation > 0 && !self.vary_port => {
                format!("{}-{}", ip(a), ip(a.wrapping_add(self.variation)))
            }
            Some(a) => ip(a),
            None => "-".into(),
        };
        if self.napt {
            match self.sport {
                None => s.push_str(" -"),
                Some(p) if self.vary_port => {
                    s.push_str(&format!(" {}-{}", p, u32::from(p) + self.variation));
                }
                Some(p) => s.push_str(&format!(" {p}")),
            }
        }
        s.push(' ');
        s.push_str(&self.daddr.map_or_else(|| "-".into(), ip));
        if self.napt {
            s.push(' ');
            s.push_str(&self.dport.map_or_else(|| "-".into(), |p| format!("{p}")));
        }
        s
    }
}

/// What an input port does with a packet that has no mapping.
#[derive(Clone, Debug)]
pub enum InputSpec {
    /// `drop` / `discard`.
    Drop,
    /// `pass OUTPUT` (also `passthrough`, `nochange`): emit unchanged, install nothing.
    Pass(usize),
    /// `keep FOUTPUT ROUTPUT`: install a mapping that changes nothing.
    Keep(usize, usize),
    /// `pattern ... FOUTPUT ROUTPUT`.
    Pattern(Pattern, usize, usize),
    /// `pattern NAME FOUTPUT ROUTPUT`, until `initialize` resolves the name.
    NamedPattern(String, usize, usize),
    /// `ELEMENTNAME`, until `initialize` resolves the mapper.
    MapperName(String),
    /// A round-robin mapper's patterns and where the next mapping request starts.
    Mapper(Vec<(Pattern, usize, usize)>, usize),
}

fn port_number(word: &str, what: &str, noutputs: usize) -> Result<usize, String> {
    let n = usize::from_arg(word, None).map_err(|_| format!("bad {what} port '{word}'"))?;
    if n >= noutputs {
        return Err(format!(
            "output port {n} out of range (the element has {noutputs} outputs)"
        ));
    }
    Ok(n)
}

/// Parses a pattern with its two output ports (`... FOUTPUT ROUTPUT`).
pub fn parse_pattern_with_ports(
    words: &[&str],
    noutputs: usize,
    names: Option<&dyn NameLookup>,
) -> Result<InputSpec, String> {
    if words.len() < 3 {
        return Err(
            "syntax error, expected 'pattern SADDR SPORT DADDR DPORT FOUTPUT ROUTPUT'".into(),
        );
    }
    let (pat, ports) = words.split_at(words.len() - 2);
    let f = port_number(ports[0], "forward", noutputs)?;
    let r = port_number(ports[1], "reply", noutputs)?;
    if pat.len() == 1 {
        return Ok(InputSpec::NamedPattern(pat[0].into(), f, r));
    }
    Ok(InputSpec::Pattern(Pattern::parse(pat, names)?, f, r))
}

/// Parses one input specification.
pub fn parse_input_spec(
    text: &str,
    noutputs: usize,
    names: Option<&dyn NameLookup>,
) -> Result<InputSpec, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((&first, rest)) = words.split_first() else {
        return Err("empty argument".into());
    };
    match first {
        "drop" | "discard" => {
            if rest.is_empty() {
                Ok(InputSpec::Drop)
            } else {
                Err(format!("syntax error, expected '{first}'"))
            }
        }
        "pass" | "passthrough" | "nochange" => match rest {
            [] => port_number("0", "output", noutputs).map(InputSpec::Pass),
            [n] => port_number(n, "output", noutputs).map(InputSpec::Pass),
            _ => Err(format!("syntax error, expected '{first} [OUTPUT]'")),
        },
        "keep" => match rest {
            [f, r] => Ok(InputSpec::Keep(
                port_number(f, "forward", noutputs)?,
                port_number(r, "reply", noutputs)?,
            )),
            _ => Err("syntax error, expected 'keep FOUTPUT ROUTPUT'".into()),
        },
        "pattern" | "xpattern" => parse_pattern_with_ports(rest, noutputs, names),
        name if rest.is_empty() => Ok(InputSpec::MapperName(name.into())),
        _ => Err(format!("unknown specification '{text}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowId {
        FlowId {
            saddr: 0x0a00_0002,
            daddr: 0x0808_0808,
            sport: 5555,
            dport: 53,
        }
    }

    #[test]
    fn parses_forms() {
        let p = Pattern::parse(&["1.0.0.1", "1024-65535", "-", "-"], None).unwrap();
        assert_eq!(p.unparse(), "1.0.0.1 1024-65535 - -");
        let p = Pattern::parse(&["1.0.0.0/24", "-"], None).unwrap();
        assert_eq!(p.unparse(), "1.0.0.1-1.0.0.254 -");
        let p = Pattern::parse(&["1.0.0.5-1.0.0.9#", "-"], None).unwrap();
        assert!(p.sequential);
        assert!(Pattern::parse(&["1.0.0.9-1.0.0.5", "-"], None).is_err());
        assert!(Pattern::parse(&["x", "-", "-", "-"], None).is_err());
        assert!(Pattern::parse(&["-", "0", "-", "-"], None).is_err());
        assert!(Pattern::parse(&["-", "9-3", "-", "-"], None).is_err());
    }

    #[test]
    fn keeps_source_port_when_free_then_moves() {
        let mut p = Pattern::parse(&["1.0.0.1", "1024-65535", "-", "-"], None).unwrap();
        let mut map = FlowMap::with_capacity(16, 3);
        let out = p.rewrite(&flow(), &map, false, &mut |_| 0).unwrap();
        assert_eq!((out.saddr, out.sport), (0x0100_0001, 5555));
        map.insert(out.reverse(), 0, 1);
        let out2 = p.rewrite(&flow(), &map, false, &mut |_| 0).unwrap();
        assert_ne!(out2.sport, 5555);
        assert!(out2.sport >= 1024);
    }

    #[test]
    fn sequential_and_exhaustion() {
        let mut p = Pattern::parse(&["1.0.0.1", "100-102#", "-", "-"], None).unwrap();
        let mut map = FlowMap::with_capacity(16, 3);
        let mut got = Vec::new();
        for _ in 0..3 {
            let out = p.rewrite(&flow(), &map, false, &mut |_| 0).unwrap();
            map.insert(out.reverse(), 0, 1);
            got.push(out.sport);
        }
        assert_eq!(got, [100, 101, 102]);
        assert!(p.rewrite(&flow(), &map, false, &mut |_| 0).is_none());
        // Another destination may reuse the ports.
        let mut f = flow();
        f.daddr += 1;
        assert!(p.rewrite(&f, &map, false, &mut |_| 0).is_some());
    }

    #[test]
    fn input_specs() {
        assert!(matches!(
            parse_input_spec("drop", 1, None),
            Ok(InputSpec::Drop)
        ));
        assert!(matches!(
            parse_input_spec("pass 1", 2, None),
            Ok(InputSpec::Pass(1))
        ));
        assert!(parse_input_spec("pass 2", 2, None).is_err());
        assert!(matches!(
            parse_input_spec("keep 0 1", 2, None),
            Ok(InputSpec::Keep(0, 1))
        ));
        assert!(matches!(
            parse_input_spec("pattern NAT 0 1", 2, None),
            Ok(InputSpec::NamedPattern(..))
        ));
        assert!(matches!(
            parse_input_spec("rr", 2, None),
            Ok(InputSpec::MapperName(..))
        ));
        assert!(parse_input_spec("bogus thing", 2, None).is_err());
        assert!(parse_input_spec("drop 3", 2, None).is_err());
    }
}
