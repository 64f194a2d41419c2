//! The text forms of IP and TCP options in ipsumdump files (`ip_opt`, `tcp_opt`), read and
//! written as Click's FromIPSummaryDump and ToIPSummaryDump do.
//!
//! TCP options, separated by `;` or `,`: `mssN`, `wscaleN`, `sackok`, `sackL-R` (also
//! `sackL:R`; blocks joined by `,sack` share one option), `tsA:B`, `nop`, `eol`, and any
//! other option as its kind, then `=` and its bytes separated by `:` (`30=1:2`). IP
//! options: `rr{A,...}`, `ssrr{A,...}`, `lsrr{A,...}` (addresses; `^` marks the pointer,
//! which is past the last address when no `^` is given; `+N` after the brace adds N empty
//! slots), `nop`, `eol`, and any other option as a kind with `=` bytes. `.` is no options.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const TCP_MSS: u8 = 2;
const TCP_WSCALE: u8 = 3;
const TCP_SACKOK: u8 = 4;
const TCP_SACK: u8 = 5;
const TCP_TS: u8 = 8;
const IP_RR: u8 = 7;
const IP_LSRR: u8 = 131;
const IP_SSRR: u8 = 137;

/// The decimal number at the start of `s` and the rest, if `s` starts with a digit.
fn number(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 || end > 19 {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// Reads a generic option (`K` or `K=B:...`) at the start of `s`; returns the rest.
fn parse_raw<'a>(s: &'a str, out: &mut Vec<u8>) -> Option<&'a str> {
    let (kind, mut rest) = number(s)?;
    out.push(u8::try_from(kind).ok()?);
    if rest.starts_with('=') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        let len_at = out.len();
        out.push(0);
        loop {
            let (b, r) = number(&rest[1..])?;
            out.push(u8::try_from(b).ok()?);
            rest = r;
            if !(rest.starts_with(':') && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
                break;
            }
        }
        let len = out.len() - len_at + 1;
        if len > 255 {
            return None;
        }
        out[len_at] = len as u8;
    }
    Some(rest)
}

/// Reads a list of options (`,` or `;` between them; `.` for none): each is one that
/// `named` reads (it gives back the rest of the text, `None` when the text does not start
/// with one of its names, and fails on a malformed one), `nop`, `eol`, or the generic
/// `KIND=BYTES` form.
fn parse_list<'a>(
    text: &'a str,
    named: impl Fn(&'a str, &mut Vec<u8>) -> Option<Option<&'a str>>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    if text == "." {
        return Some(out);
    }
    let mut s = text;
    loop {
        s = if let Some(r) = named(s, &mut out)? {
            r
        } else if let Some(r) = s.strip_prefix("nop") {
            out.push(OPT_NOP);
            r
        } else if let Some(r) = s.strip_prefix("eol") {
            out.push(OPT_EOL);
            r
        } else {
            parse_raw(s, &mut out)?
        };
        if s.is_empty() {
            break;
        }
        s = s.strip_prefix([',', ';'])?;
    }
    Some(out)
}

/// Reads a `tcp_opt` field: the option bytes (unpadded), or `None` when it is malformed
/// or longer than a TCP header holds.
pub fn parse_tcp(text: &str) -> Option<Vec<u8>> {
    let mut out = parse_list(text, |s, out| {
        let rest = if let Some(r) = s.strip_prefix("mss") {
            let (v, r) = number(r)?;
            let v = u16::try_from(v).ok()?;
            out.extend_from_slice(&[TCP_MSS, 4]);
            out.extend_from_slice(&v.to_be_bytes());
            r
        } else if let Some(r) = s.strip_prefix("wscale") {
            let (v, r) = number(r)?;
            out.extend_from_slice(&[TCP_WSCALE, 3, u8::try_from(v).ok()?]);
            r
        } else if let Some(r) = s.strip_prefix("sackok") {
            out.extend_from_slice(&[TCP_SACKOK, 2]);
            r
        } else if let Some(mut r) = s.strip_prefix("sack") {
            let at = out.len();
            out.extend_from_slice(&[TCP_SACK, 0]);
            loop {
                let (left, r1) = number(r)?;
                let r1 = r1.strip_prefix([':', '-'])?;
                let (right, r2) = number(r1)?;
                out.extend_from_slice(&u32::try_from(left).ok()?.to_be_bytes());
                out.extend_from_slice(&u32::try_from(right).ok()?.to_be_bytes());
                r = r2;
                match r.strip_prefix(",sack") {
                    Some(more) => r = more,
                    None => break,
                }
            }
            let len = out.len() - at;
            out[at + 1] = u8::try_from(len).ok()?;
            r
        } else if let Some(r) = s.strip_prefix("ts") {
            let (a, r) = number(r)?;
            let (b, r) = number(r.strip_prefix(':')?)?;
            // A timestamp option alone is aligned by two NOPs, as TCP stacks send it.
            if out.is_empty() {
                out.extend_from_slice(&[OPT_NOP, OPT_NOP]);
            }
            out.extend_from_slice(&[TCP_TS, 10]);
            out.extend_from_slice(&u32::try_from(a).ok()?.to_be_bytes());
            out.extend_from_slice(&u32::try_from(b).ok()?.to_be_bytes());
            r
        } else {
            return Some(None);
        };
        Some(Some(rest))
    })?;
    // Leading NOPs give way when the options would not fit otherwise.
    while out.len() > 40 && out[0] == OPT_NOP {
        out.remove(0);
    }
    (out.len() <= 40).then_some(out)
}

/// Writes TCP option bytes as a `tcp_opt` field (padding left out).
pub fn unparse_tcp(opts: &[u8]) -> String {
    let Some(list) = split_options(opts) else {
        return "?".into();
    };
    let mut s = String::new();
    let mut sep = "";
    for o in list {
        let (kind, len) = (o[0], o.len());
        let be32 = |at: usize| u32::from_be_bytes([o[at], o[at + 1], o[at + 2], o[at + 3]]);
        match (kind, len) {
            (TCP_MSS, 4) => {
                let _ = write!(s, "{sep}mss{}", u16::from_be_bytes([o[2], o[3]]));
            }
            (TCP_WSCALE, 3) => {
                let _ = write!(s, "{sep}wscale{}", o[2]);
            }
            (TCP_SACKOK, 2) => {
                let _ = write!(s, "{sep}sackok");
            }
            (TCP_SACK, _) if len % 8 == 2 => {
                for b in (2..len).step_by(8) {
                    let _ = write!(s, "{sep}sack{}-{}", be32(b), be32(b + 4));
                    sep = ";";
                }
            }
            (TCP_TS, 10) => {
                let _ = write!(s, "{sep}ts{}:{}", be32(2), be32(6));
            }
            (TCP_MSS | TCP_WSCALE | TCP_SACKOK | TCP_SACK | TCP_TS, _) => return "?".into(),
            _ => s.push_str(&format!("{sep}{}", raw_text(o))),
        }
        sep = ";";
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

/// The options in `opts`, each its kind, length and data, up to an end-of-list; no-ops
/// left out. `None` when one's length runs past the bytes or is below 2.
fn split_options(opts: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            OPT_EOL => break,
            OPT_NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 {
                    return None;
                }
                out.push(opts.get(i..i + len)?);
                i += len;
            }
        }
    }
    Some(out)
}

/// An option in the generic form: its kind, then `=` and its bytes after the length.
fn raw_text(o: &[u8]) -> String {
    let mut s = format!("{}", o[0]);
    for (k, b) in o[2..].iter().enumerate() {
        let _ = write!(s, "{}{b}", if k == 0 { '=' } else { ':' });
    }
    s
}

/// Reads an `ip_opt` field: the option bytes (unpadded), or `None` when it is malformed or
/// longer than an IP header holds.
pub fn parse_ip(text: &str) -> Option<Vec<u8>> {
    let out = parse_list(text, |s, out| {
        let route = [("rr{", IP_RR), ("ssrr{", IP_SSRR), ("lsrr{", IP_LSRR)]
            .into_iter()
            .find_map(|(p, k)| s.strip_prefix(p).map(|r| (r, k)));
        let rest = if let Some((mut r, kind)) = route {
            let at = out.len();
            out.extend_from_slice(&[kind, 0, 0]);
            let mut pointer = None;
            loop {
                if pointer.is_none() {
                    if let Some(r1) = r.strip_prefix('^') {
                        pointer = Some(out.len() - at + 1);
                        r = r1;
                    }
                }
                if !r.starts_with(|c: char| c.is_ascii_digit()) {
                    break;
                }
                for k in 0..4 {
                    let (v, r1) = number(r)?;
                    out.push(u8::try_from(v).ok()?);
                    r = if k < 3 { r1.strip_prefix('.')? } else { r1 };
                }
                if let Some(r1) = r.strip_prefix(',') {
                    r = r1;
                }
            }
            r = r.strip_prefix('}')?;
            out[at + 2] = u8::try_from(pointer.unwrap_or(out.len() - at + 1)).ok()?;
            if let Some(r1) = r.strip_prefix('+') {
                let (n, r2) = number(r1)?;
                if n < 64 {
                    out.resize(out.len() + 4 * n as usize, 0);
                }
                r = r2;
            }
            let len = out.len() - at;
            out[at + 1] = u8::try_from(len).ok()?;
            r
        } else {
            return Some(None);
        };
        Some(Some(rest))
    })?;
    (out.len() <= 40).then_some(out)
}

/// Writes IP option bytes as an `ip_opt` field (padding left out).
pub fn unparse_ip(opts: &[u8]) -> String {
    let Some(list) = split_options(opts) else {
        return "?".into();
    };
    let mut s = String::new();
    let mut sep = "";
    for o in list {
        let (kind, len) = (o[0], o.len());
        match kind {
            IP_RR | IP_LSRR | IP_SSRR => {
                if len < 3 || o[2] < 4 {
                    return "?".into();
                }
                let name = match kind {
                    IP_RR => "rr",
                    IP_LSRR => "lsrr",
                    _ => "ssrr",
                };
                let _ = write!(s, "{sep}{name}{{");
                // A record route lists the addresses recorded so far and counts the free
                // slots; a source route lists every address, `^` at the pointer.
                let pointer = usize::from(o[2]) - 1;
                let mut at = 3;
                let mut first = true;
                while at + 4 <= len {
                    if at == pointer {
                        if kind == IP_RR {
                            break;
                        }
                        s.push('^');
                    } else if !first {
                        s.push(',');
                    }
                    let _ = write!(s, "{}.{}.{}.{}", o[at], o[at + 1], o[at + 2], o[at + 3]);
                    first = false;
                    at += 4;
                }
                if at == len && at == pointer && kind != IP_RR {
                    s.push('^');
                }
                s.push('}');
                if kind == IP_RR && at + 4 <= len && at == pointer {
                    let _ = write!(s, "+{}", (len - at) / 4);
                }
            }
            _ => s.push_str(&format!("{sep}{}", raw_text(o))),
        }
        sep = ";";
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_options_round_trip() {
        let o = parse_tcp("mss1460;sackok;wscale7;ts5:6").unwrap();
        assert_eq!(
            o,
            [2, 4, 5, 180, 4, 2, 3, 3, 7, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6]
        );
        assert_eq!(unparse_tcp(&o), "mss1460;sackok;wscale7;ts5:6");
        // Separate `sack` words are separate options; `,sack` joins blocks in one.
        let o = parse_tcp("sack1-10;sack1:18").unwrap();
        assert_eq!(o.len(), 20);
        assert_eq!(unparse_tcp(&o), "sack1-10;sack1-18");
        let o = parse_tcp("sack1-10,sack20-30").unwrap();
        assert_eq!((o[0], o[1], o.len()), (5, 18, 18));
        assert_eq!(unparse_tcp(&o), "sack1-10;sack20-30");
        // A timestamp alone gets two NOPs in front; they are not written back.
        let o = parse_tcp("ts1:2").unwrap();
        assert_eq!(&o[..3], &[1, 1, 8]);
        assert_eq!(unparse_tcp(&o), "ts1:2");
        assert_eq!(unparse_tcp(&parse_tcp("30=1:2").unwrap()), "30=1:2");
        assert_eq!(parse_tcp("."), Some(Vec::new()));
        assert_eq!(unparse_tcp(&[]), ".");
        assert_eq!(unparse_tcp(&[1, 1, 0, 0]), ".");
    }

    #[test]
    fn bad_tcp_options_are_refused_or_marked() {
        for bad in [
            "mss70000",
            "sack1",
            "sack1-",
            "ts1",
            "what",
            "wscale300",
            "mss1460;",
        ] {
            assert_eq!(parse_tcp(bad), None, "{bad}");
        }
        // More than 40 bytes of options do not fit a TCP header.
        assert_eq!(parse_tcp("sack1-2,sack3-4,sack5-6,sack7-8,sack9-10"), None);
        // Truncated or inconsistent option bytes are written as `?`.
        assert_eq!(unparse_tcp(&[2, 4, 5]), "?");
        assert_eq!(unparse_tcp(&[5, 9, 0, 0, 0, 0, 0, 0, 0]), "?");
        assert_eq!(unparse_tcp(&[30]), "?");
    }

    #[test]
    fn ip_source_routes_round_trip() {
        let o = parse_ip("ssrr{128.4.45.60,128.4.49.61,^1.2.3.4,5.6.7.8}").unwrap();
        assert_eq!(&o[..3], &[137, 19, 12]);
        // The pointer's `^` takes the place of the comma, as Click writes it.
        assert_eq!(
            unparse_ip(&o),
            "ssrr{128.4.45.60,128.4.49.61^1.2.3.4,5.6.7.8}"
        );
        // Without `^` the pointer is past the last address.
        let o = parse_ip("lsrr{1.2.3.4}").unwrap();
        assert_eq!(o, [131, 7, 8, 1, 2, 3, 4]);
        assert_eq!(unparse_ip(&o), "lsrr{1.2.3.4^}");
        // A record route with free slots.
        let o = parse_ip("rr{1.2.3.4}+2").unwrap();
        assert_eq!((o[1], o[2]), (15, 8));
        assert_eq!(unparse_ip(&o), "rr{1.2.3.4}+2");
        assert_eq!(unparse_ip(&parse_ip("nop;148=0:0").unwrap()), "148=0:0");
        assert_eq!(unparse_ip(&[]), ".");
    }

    #[test]
    fn bad_ip_options_are_refused_or_marked() {
        for bad in [
            "ssrr{1.2.3}",
            "rr{1.2.3.4",
            "ssrr{300.1.1.1}",
            "x",
            "lsrr{1.2.3.4};",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
        assert_eq!(
            parse_ip("rr{1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7,8.8.8.8,9.9.9.9,1.1.1.1}"),
            None
        );
        assert_eq!(unparse_ip(&[137, 9, 2, 0, 0, 0, 0, 0, 0]), "?");
        assert_eq!(unparse_ip(&[137, 20, 4]), "?");
    }
}
