//! Click-style element arguments: splitting a configuration string and reading it
//! declaratively.
//!
//! ```
//! use sluice_config::args::Args;
//! use sluice_config::Span;
//! let mut a = Args::new("14, LIMIT 5, ACTIVE false", Span::default());
//! let n: Option<u32> = a.read_mp("LENGTH");
//! let limit: u64 = a.read_k("LIMIT").unwrap_or(0);
//! let active: bool = a.read_k("ACTIVE").unwrap_or(true);
//! assert!(a.finish().is_ok());
//! assert_eq!((n, limit, active), (Some(14), 5, false));
//! ```
//!
//! The rules are Click's (`Args` in Click's `lib/args.cc`):
//!
//! - An argument whose first word is an upper-case keyword followed by a value (`LIMIT 5`)
//!   can be read by that keyword; the last occurrence wins. A bare word (`ECHO`) is a value.
//! - Positional arguments come first and are read in order. A positional read stops at the
//!   first argument already taken by keyword. An optional positional read does not take an
//!   argument that looks like `KEYWORD value`; a mandatory one does when its own keyword is
//!   not given (so `Print(HELLO WORLD)` still reads a label).
//! - Comments (`//`, `/* */`) count as white space; a trailing empty argument (`Foo(1, )`) is
//!   ignored.
//!
//! Every problem is recorded with the span of the argument at fault and returned by
//! [`Args::finish`]; reads after an error return `None` so an element can read everything and
//! report all errors at once.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::span::{Diagnostic, Span};

/// One top-level argument of a configuration string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg<'a> {
    /// The argument, trimmed of surrounding white space and comments. Comments in its middle
    /// stay; [`strip_comments`] removes them (the typed reads of [`Args`] do).
    pub text: &'a str,
    /// Where it is.
    pub span: Span,
}

/// Skips a quoted string starting at `i` (a `"` or `'`); returns the index after it.
fn skip_quote(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && q == b'"' {
            j += 2;
            continue;
        }
        if b[j] == q {
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

/// If a comment starts at `i`, the index just after it.
fn comment_end(s: &str, i: usize) -> Option<usize> {
    let b = s.as_bytes();
    match (b.get(i), b.get(i + 1)) {
        (Some(b'/'), Some(b'/')) => Some(s[i..].find('\n').map_or(s.len(), |n| i + n)),
        (Some(b'/'), Some(b'*')) => Some(s[i + 2..].find("*/").map_or(s.len(), |n| i + n + 4)),
        _ => None,
    }
}

/// Splits a configuration string at top-level commas (not inside parentheses, brackets,
/// braces, quotes or comments), trimming white space and comments. An empty configuration
/// has no arguments; `a, , b` has an empty middle one; an empty last argument (`a, `) is
/// dropped, as Click does.
pub fn split(config: &str, span: Span) -> Vec<Arg<'_>> {
    let bytes = config.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut i, mut start) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' || b == b'\'' {
            i = skip_quote(bytes, i);
            continue;
        }
        if let Some(end) = comment_end(config, i) {
            i = end;
            continue;
        }
        if b == b'\\' {
            i += 2;
            continue;
        }
        if matches!(b, b'(' | b'[' | b'{') {
            depth += 1;
        } else if matches!(b, b')' | b']' | b'}') {
            depth = depth.saturating_sub(1);
        } else if b == b',' && depth == 0 {
            out.push(trimmed(config, start, i, span));
            start = i + 1;
        }
        i += 1;
    }
    let last = trimmed(config, start, config.len(), span);
    if !last.text.is_empty() {
        out.push(last);
    }
    out
}

/// `config[start..end]` without leading and trailing white space and comments.
fn trimmed(config: &str, start: usize, end: usize, span: Span) -> Arg<'_> {
    let end = end.min(config.len());
    let b = config.as_bytes();
    let mut s = start;
    // Leading white space and comments.
    loop {
        while s < end && b[s].is_ascii_whitespace() {
            s += 1;
        }
        match comment_end(config, s) {
            Some(e) if s < end => s = e.min(end),
            _ => break,
        }
    }
    // Trailing: scan forward, remembering where the last real text ended.
    let mut i = s;
    let mut text_end = s;
    while i < end {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = skip_quote(b, i).min(end);
            text_end = i;
        } else if let Some(e) = comment_end(config, i) {
            i = e.min(end);
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else {
            i += if c == b'\\' { 2 } else { 1 };
            i = i.min(end);
            text_end = i;
        }
    }
    while text_end < end && !config.is_char_boundary(text_end) {
        text_end += 1;
    }
    let text = &config[s..text_end];
    Arg {
        text,
        span: span.sub(s, text_end),
    }
}

/// Replaces every comment outside quotes with one space, as Click does before reading an
/// argument. Borrows when there is no comment.
pub fn strip_comments(s: &str) -> Cow<'_, str> {
    if !s.contains("//") && !s.contains("/*") {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        if b[i] == b'"' || b[i] == b'\'' {
            i = skip_quote(b, i);
        } else if let Some(e) = comment_end(s, i) {
            out.push_str(&s[copied..i]);
            out.push(' ');
            i = e;
            copied = e;
        } else {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
    }
    out.push_str(&s[copied.min(s.len())..]);
    Cow::Owned(out)
}

/// Whether an argument starts with an upper-case keyword followed by a value (`LIMIT 5`,
/// `STOP true`), and if so the keyword and the value. Keywords are upper-case letters, digits
/// and `_`, starting with a letter or `_`. A word on its own (`ECHO`) is not a keyword.
pub fn keyword(arg: &str) -> Option<(&str, &str)> {
    let end = arg.find(|c: char| c.is_whitespace())?;
    let word = &arg[..end];
    let first = word.chars().next()?;
    let is_kw = (first.is_ascii_uppercase() || first == '_')
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let value = arg[end..].trim_start();
    (is_kw && !value.is_empty()).then_some((word, value))
}

/// Resolves names declared with `AddressInfo` (and similar) to their values, so every
/// element's address arguments accept names.
pub trait NameLookup {
    /// The textual value of `name` for an argument of kind `kind` (`"ip"`, `"ip6"`,
    /// `"ether"`, `"ipprefix"`), if one is known.
    fn lookup(&self, name: &str, kind: &str) -> Option<String>;
}

/// A value that can be read from one argument.
pub trait FromArg: Sized {
    /// What the argument should be, for messages: "an integer", "an IPv4 address".
    const EXPECTED: &'static str;
    /// Parses the argument text.
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String>;
}

macro_rules! int_from_arg {
    ($($t:ty),*) => {$(
        impl FromArg for $t {
            const EXPECTED: &'static str = "an integer";
            fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
                parse_int(text).and_then(|v| <$t>::try_from(v).ok())
                    .ok_or_else(|| format!("'{text}' is not {} in range for {}", Self::EXPECTED, stringify!($t)))
            }
        }
    )*};
}
int_from_arg!(u8, u16, u32, u64, usize, i32, i64);

fn parse_int(text: &str) -> Option<i128> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let t: String = t.chars().filter(|&c| c != '_').collect();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') && t.bytes().all(|b| b.is_ascii_digit()) {
        i128::from_str_radix(&t[1..], 8).ok()?
    } else if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        t.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

impl FromArg for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        match text {
            "true" | "yes" | "1" | "t" | "y" => Ok(true),
            "false" | "no" | "0" | "f" | "n" => Ok(false),
            _ => Err(format!("'{text}' is not a boolean (use true or false)")),
        }
    }
}

impl FromArg for String {
    const EXPECTED: &'static str = "a string";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        unquote(text)
    }
}

/// The words of `s` at white space, quoted text kept whole with its quotes (Click's
/// `cp_shift_spacevec`).
pub fn split_words(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    core::iter::from_fn(move || {
        rest = rest.trim_start();
        if rest.is_empty() {
            return None;
        }
        let b = rest.as_bytes();
        let mut i = 0;
        let mut quote = None;
        while i < b.len() {
            match (quote, b[i]) {
                (None, c) if c.is_ascii_whitespace() => break,
                (None, c @ (b'"' | b'\'')) => quote = Some(c),
                (Some(b'"'), b'\\') => i += 1,
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        let (word, r) = rest.split_at(i.min(b.len()));
        rest = r;
        Some(word)
    })
}

/// `bytes` between double quotes, as Click quotes a string (`cp_quote`): `\`, `"` and `$`
/// escaped, tabs, carriage returns and newlines as `\t`, `\r`, `\n`, other control and
/// non-ASCII bytes as three octal digits. [`unquote_bytes`] reads it back.
pub fn quote(bytes: &[u8]) -> String {
    let mut q = String::from("\"");
    for &b in bytes {
        match b {
            b'\\' | b'"' | b'$' => {
                q.push('\\');
                q.push(b as char);
            }
            b'\t' => q.push_str("\\t"),
            b'\r' => q.push_str("\\r"),
            b'\n' => q.push_str("\\n"),
            32..=126 => q.push(b as char),
            _ => q.push_str(&format!("\\{}{}{}", b >> 6, (b >> 3) & 7, b & 7)),
        }
    }
    q.push('"');
    q
}

/// Removes Click quoting: `"a b"` → `a b` with `\n`, `\t`, `\\`, `\"` and `\<hex>` escapes
/// understood; `'a b'` verbatim; unquoted text as is. Quoted and unquoted parts may be
/// juxtaposed (`"a"b`).
pub fn unquote(text: &str) -> Result<String, String> {
    let bytes = unquote_bytes(text)?;
    String::from_utf8(bytes).map_err(|_| format!("'{text}' is not valid UTF-8 text"))
}

/// Like [`unquote`], but yields raw bytes (`\<48 65 6c>` may produce any byte).
pub fn unquote_bytes(text: &str) -> Result<Vec<u8>, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let end = text[i + 1..]
                    .find('\'')
                    .ok_or_else(|| format!("unterminated quote in '{text}'"))?;
                out.extend_from_slice(&b[i + 1..i + 1 + end]);
                i += end + 2;
            }
            b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated quote in '{text}'")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let (bytes, used) = escape(&b[i..])?;
                            out.extend_from_slice(&bytes);
                            i += used;
                        }
                        Some(&c) => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
            }
            b'\\' if b.get(i + 1) == Some(&b'<') => {
                let (bytes, used) = escape(&b[i..])?;
                out.extend_from_slice(&bytes);
                i += used;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// One backslash escape at the start of `b`: the bytes it stands for and its length.
fn escape(b: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let simple = |c: u8| Ok((alloc::vec![c], 2));
    match b.get(1) {
        Some(b'n') => simple(b'\n'),
        Some(b't') => simple(b'\t'),
        Some(b'r') => simple(b'\r'),
        Some(b'a') => simple(7),
        Some(b'b') => simple(8),
        Some(b'f') => simple(12),
        Some(b'v') => simple(11),
        Some(b'0') => simple(0),
        Some(b'<') => {
            let end = b
                .iter()
                .position(|&c| c == b'>')
                .ok_or("unterminated '\\<' hex data")?;
            let hex: Vec<u8> = b[2..end]
                .iter()
                .copied()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            if hex.len() & 1 == 1 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err("'\\<...>' must hold an even number of hex digits".to_string());
            }
            let bytes = hex
                .chunks(2)
                .map(|p| (hex_val(p[0]) << 4) | hex_val(p[1]))
                .collect();
            Ok((bytes, end + 1))
        }
        Some(&c) => simple(c),
        None => Err("trailing backslash".to_string()),
    }
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Raw bytes, as `DATA` arguments take them: quoted strings with escapes and `\<hex>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl FromArg for Bytes {
    const EXPECTED: &'static str = "data";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        unquote_bytes(text).map(Bytes)
    }
}

fn resolve<'t>(text: &'t str, kind: &str, names: Option<&dyn NameLookup>) -> Option<String> {
    let _: &'t str = text;
    names.and_then(|n| n.lookup(text, kind))
}

impl FromArg for Ipv4Addr {
    const EXPECTED: &'static str = "an IPv4 address";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        if let Ok(a) = text.parse() {
            return Ok(a);
        }
        resolve(text, "ip", names)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("'{text}' is not an IPv4 address"))
    }
}

impl FromArg for Ipv6Addr {
    const EXPECTED: &'static str = "an IPv6 address";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        if let Ok(a) = text.parse() {
            return Ok(a);
        }
        resolve(text, "ip6", names)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("'{text}' is not an IPv6 address"))
    }
}

/// An IPv4 prefix: `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, or a bare address (/32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    /// The address, with host bits as written.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Ipv4Prefix {
    /// The netmask.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        })
    }

    /// Whether `a` lies inside the prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let m = u32::from(self.mask());
        u32::from(a) & m == u32::from(self.addr) & m
    }
}

impl FromArg for Ipv4Prefix {
    const EXPECTED: &'static str = "an IPv4 prefix";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        let err = || format!("'{text}' is not an IPv4 prefix (expected e.g. 10.0.0.0/8)");
        let Some((a, l)) = text.split_once('/') else {
            if let Some(v) = resolve(text, "ipprefix", names) {
                return Self::from_arg(&v, None);
            }
            let addr = Ipv4Addr::from_arg(text, names).map_err(|_| err())?;
            return Ok(Self { addr, len: 32 });
        };
        let addr = Ipv4Addr::from_arg(a, names).map_err(|_| err())?;
        let len = if let Ok(n) = l.parse::<u8>() {
            n
        } else {
            let m = u32::from(l.parse::<Ipv4Addr>().map_err(|_| err())?);
            let n = m.leading_ones();
            if m.checked_shl(n).unwrap_or(0) != 0 {
                return Err(format!("'{l}' is not a contiguous netmask"));
            }
            n as u8
        };
        if len > 32 {
            return Err(err());
        }
        Ok(Self { addr, len })
    }
}

/// An Ethernet address, `00:11:22:33:44:55` (or with `-`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EtherAddr(pub [u8; 6]);

impl FromArg for EtherAddr {
    const EXPECTED: &'static str = "an Ethernet address";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        let parse = |t: &str| -> Option<[u8; 6]> {
            let mut out = [0u8; 6];
            let mut n = 0;
            for part in t.split([':', '-']) {
                if n == 6 || part.is_empty() || part.len() > 2 {
                    return None;
                }
                out[n] = u8::from_str_radix(part, 16).ok()?;
                n += 1;
            }
            (n == 6).then_some(out)
        };
        parse(text)
            .or_else(|| resolve(text, "ether", names).and_then(|v| parse(&v)))
            .map(EtherAddr)
            .ok_or_else(|| {
                format!("'{text}' is not an Ethernet address (expected e.g. 00:11:22:33:44:55)")
            })
    }
}

impl FromArg for core::time::Duration {
    const EXPECTED: &'static str = "a duration";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        parse_duration(text).ok_or_else(|| {
            format!("'{text}' is not a duration (expected seconds, or a unit: 5s, 100ms, 10us, 2min, 1h)")
        })
    }
}

fn parse_duration(text: &str) -> Option<core::time::Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale_ns: u128 = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1_000_000_000,
        "ms" | "msec" => 1_000_000,
        "us" | "usec" => 1_000,
        "ns" | "nsec" => 1,
        "m" | "min" | "mins" => 60_000_000_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        _ => return None,
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut ns = int.checked_mul(scale_ns)?;
    let mut place = scale_ns;
    for d in frac.bytes() {
        if !d.is_ascii_digit() {
            return None;
        }
        place /= 10;
        ns += u128::from(d - b'0') * place;
    }
    Some(core::time::Duration::from_nanos(u64::try_from(ns).ok()?))
}

/// How an argument has been used so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    Free,
    /// Taken as a positional argument.
    Positional,
    /// Taken by keyword (or by `rest`).
    Keyword,
}

struct Item<'a> {
    arg: Arg<'a>,
    /// `Some((KEY, value))` when the argument reads `KEY value`.
    keyword: Option<(&'a str, &'a str)>,
    state: Use,
}

/// A declarative reader over one element's arguments. See the module docs.
pub struct Args<'a> {
    items: Vec<Item<'a>>,
    errors: Vec<Diagnostic>,
    names: Option<&'a dyn NameLookup>,
    whole: Span,
}

/// Which kind of read, as Click's `Args::find` flags.
#[derive(Clone, Copy)]
struct Want {
    positional: bool,
    mandatory: bool,
}

impl<'a> Args<'a> {
    /// Splits `config`, whose text starts at `span` in the source.
    pub fn new(config: &'a str, span: Span) -> Self {
        let items = split(config, span)
            .into_iter()
            .map(|arg| Item {
                arg,
                keyword: keyword(arg.text),
                state: Use::Free,
            })
            .collect();
        Self {
            items,
            errors: Vec::new(),
            names: None,
            whole: span,
        }
    }

    /// Resolves address names through `names` (AddressInfo).
    pub fn with_names(mut self, names: &'a dyn NameLookup) -> Self {
        self.names = Some(names);
        self
    }

    /// How many arguments there are in all.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the configuration string is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Records an error at `span`.
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(Diagnostic::error(span, message));
    }

    /// Whether an error has been recorded so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Records an error about the whole configuration string.
    pub fn error_whole(&mut self, message: impl Into<String>) {
        let span = self.whole;
        self.error(span, message);
    }

    fn parse<T: FromArg>(&mut self, what: &str, text: &str, span: Span) -> Option<T> {
        let text = strip_comments(text);
        match T::from_arg(text.trim(), self.names) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(span, format!("{what}: {e}"));
                None
            }
        }
    }

    /// The index of the argument a positional read would look at: the first one not yet
    /// taken positionally, unless that one was taken by keyword (positional arguments end
    /// there).
    fn position(&self) -> Option<usize> {
        let i = self
            .items
            .iter()
            .position(|it| it.state != Use::Positional)?;
        (self.items[i].state == Use::Free).then_some(i)
    }

    /// Click's `Args::find`: the text for `key`, by keyword (last occurrence wins) or by
    /// position, with the span of the argument it came from.
    fn find(&mut self, key: &str, want: Want) -> Option<(&'a str, Span)> {
        let position = self.position();
        let mut got: Option<(usize, bool)> = None;
        for (i, item) in self.items.iter_mut().enumerate() {
            if item.state == Use::Free && item.keyword.is_some_and(|(k, _)| k == key) {
                item.state = Use::Keyword;
                got = Some((i, true));
            }
        }
        if want.positional {
            if let Some(p) = position.filter(|&p| self.items[p].state == Use::Free) {
                let plain = self.items[p].keyword.is_none();
                if (got.is_none() && want.mandatory) || plain {
                    if got.is_none_or(|(g, _)| g < p) {
                        got = Some((p, false));
                    }
                    self.items[p].state = Use::Positional;
                }
            }
        }
        let (i, by_keyword) = got?;
        let item = &self.items[i];
        let text = match (by_keyword, item.keyword) {
            (true, Some((_, v))) => v,
            _ => item.arg.text,
        };
        Some((text, item.arg.span))
    }

    fn read<T: FromArg>(&mut self, key: &str, want: Want) -> Option<T> {
        match self.find(key, want) {
            Some((text, span)) => self.parse(key, text, span),
            None => {
                if want.mandatory {
                    self.error_whole(format!("missing mandatory {key} argument"));
                }
                None
            }
        }
    }

    /// The next unused positional argument, as raw text: the first argument not yet taken,
    /// as long as no argument before it was taken by keyword.
    pub fn next_positional(&mut self) -> Option<Arg<'a>> {
        let p = self.position()?;
        self.items[p].state = Use::Positional;
        Some(self.items[p].arg)
    }

    /// A mandatory positional argument called `name` (which may also be given as keyword
    /// `name value`). Records an error and returns `None` when it is missing or malformed.
    pub fn read_mp<T: FromArg>(&mut self, name: &str) -> Option<T> {
        self.read(
            name,
            Want {
                positional: true,
                mandatory: true,
            },
        )
    }

    /// An optional positional argument (also accepted as keyword `name`). An empty argument
    /// (`Foo(, 2)`) counts as absent.
    pub fn read_p<T: FromArg>(&mut self, name: &str) -> Option<T> {
        match self.find(
            name,
            Want {
                positional: true,
                mandatory: false,
            },
        ) {
            Some(("", _)) => None,
            Some((text, span)) => self.parse(name, text, span),
            None => None,
        }
    }

    /// An optional keyword argument `KEY value`.
    pub fn read_k<T: FromArg>(&mut self, key: &str) -> Option<T> {
        self.read(
            key,
            Want {
                positional: false,
                mandatory: false,
            },
        )
    }

    /// A mandatory keyword argument.
    pub fn read_mk<T: FromArg>(&mut self, key: &str) -> Option<T> {
        self.read(
            key,
            Want {
                positional: false,
                mandatory: true,
            },
        )
    }

    /// Whether keyword `key` was given (without consuming it).
    pub fn has_keyword(&self, key: &str) -> bool {
        self.items
            .iter()
            .any(|i| i.keyword.is_some_and(|(k, _)| k == key))
    }

    /// Every remaining unused argument, in order (rules of a classifier, for instance).
    pub fn rest(&mut self) -> Vec<Arg<'a>> {
        let mut out = Vec::new();
        for item in &mut self.items {
            if item.state == Use::Free {
                item.state = Use::Keyword;
                out.push(item.arg);
            }
        }
        out
    }

    /// Ends reading: unused arguments are errors ("too many arguments", or an unknown
    /// keyword). Returns every error recorded.
    pub fn finish(mut self) -> Result<(), Vec<Diagnostic>> {
        for item in &self.items {
            if item.state != Use::Free {
                continue;
            }
            let msg = match item.keyword {
                Some((k, _)) => format!("unknown keyword argument '{k}'"),
                None => format!("too many arguments: '{}' was not expected", item.arg.text),
            };
            self.errors.push(Diagnostic::error(item.arg.span, msg));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn texts(s: &str) -> Vec<&str> {
        split(s, Span::default()).iter().map(|a| a.text).collect()
    }

    #[test]
    fn splits_at_top_level_commas() {
        assert_eq!(
            texts("a, b(c, d), \"e, f\", [g,h]"),
            ["a", "b(c, d)", "\"e, f\"", "[g,h]"]
        );
        assert!(texts("  ").is_empty());
        assert_eq!(texts("a,,b"), ["a", "", "b"]);
    }

    #[test]
    fn spans_point_at_arguments() {
        let args = split("12,  LIMIT 5", Span::new(0, 100, 112));
        assert_eq!(args[1].span, Span::new(0, 105, 112));
    }

    #[test]
    fn reads_positional_and_keyword() {
        let mut a = Args::new("14, 1.2.3.4/24, LIMIT 5, STOP true", Span::default());
        assert_eq!(a.read_mp::<u32>("LEN"), Some(14));
        assert_eq!(a.read_p::<Ipv4Prefix>("NET").map(|p| p.len), Some(24));
        assert_eq!(a.read_k::<u64>("LIMIT"), Some(5));
        assert_eq!(a.read_k::<bool>("STOP"), Some(true));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn reports_every_error() {
        let mut a = Args::new("x, LIMIT y, BOGUS 3, extra", Span::default());
        assert_eq!(a.read_mp::<u32>("LEN"), None);
        assert_eq!(a.read_k::<u64>("LIMIT"), None);
        let errs = a.finish().unwrap_err();
        let msgs: Vec<&str> = errs.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].starts_with("LEN: 'x' is not an integer"));
        assert!(msgs[2].contains("unknown keyword argument 'BOGUS'"));
        assert!(msgs[3].contains("too many arguments"));
    }

    #[test]
    fn comments_inside_arguments() {
        assert_eq!(
            texts("1 /* one */, // two\n 2, /* only a comment */"),
            ["1", "2"]
        );
        assert_eq!(
            texts("\"a // not a comment\", b"),
            ["\"a // not a comment\"", "b"]
        );
        let mut a = Args::new(
            "LIMIT /* max */ 5, // the rest\n ACTIVE false",
            Span::default(),
        );
        assert_eq!(a.read_k::<u32>("LIMIT"), Some(5));
        assert_eq!(a.read_k::<bool>("ACTIVE"), Some(false));
        assert!(a.finish().is_ok());
        assert_eq!(strip_comments("a/*x*/b // c"), "a b  ");
    }

    #[test]
    fn trailing_empty_argument_is_ignored() {
        assert_eq!(texts("1, "), ["1"]);
        assert_eq!(texts("1, /* c */"), ["1"]);
    }

    #[test]
    fn bare_upper_case_word_is_positional() {
        let mut a = Args::new("ECHO", Span::default());
        assert_eq!(a.read_p::<String>("LABEL").as_deref(), Some("ECHO"));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn mandatory_positional_takes_keyword_shaped_text() {
        // Click: a mandatory positional argument takes the next argument even if it looks
        // like `KEYWORD value`, when its own keyword is absent.
        let mut a = Args::new("HELLO WORLD", Span::default());
        assert_eq!(a.read_mp::<String>("LABEL").as_deref(), Some("HELLO WORLD"));
        assert!(a.finish().is_ok());
        // An optional one does not.
        let mut a = Args::new("HELLO WORLD", Span::default());
        assert_eq!(a.read_p::<String>("LABEL"), None);
        assert!(a.finish().is_err());
    }

    #[test]
    fn positional_by_keyword_and_order() {
        let mut a = Args::new("LEN 6", Span::default());
        assert_eq!(a.read_mp::<u32>("LEN"), Some(6));
        assert!(a.finish().is_ok());
        // Positional arguments stop at the first argument taken by keyword.
        let mut a = Args::new("LIMIT 5, 7", Span::default());
        assert_eq!(a.read_k::<u32>("LIMIT"), Some(5));
        assert_eq!(a.read_p::<u32>("N"), None);
        let errs = a.finish().unwrap_err();
        assert_eq!(errs[0].message, "too many arguments: '7' was not expected");
        // Last keyword wins.
        let mut a = Args::new("N 1, N 2", Span::default());
        assert_eq!(a.read_k::<u32>("N"), Some(2));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn typed_values() {
        assert_eq!(
            Duration::from_arg("100ms", None),
            Ok(Duration::from_millis(100))
        );
        assert_eq!(
            Duration::from_arg("1.5", None),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            EtherAddr::from_arg("00:1a:2B:3c:4d:5e", None).unwrap().0[1],
            0x1a
        );
        assert_eq!(
            Bytes::from_arg("\"ab\\<0d 0a>\"", None).unwrap().0,
            b"ab\r\n"
        );
        assert_eq!(u16::from_arg("0x10", None), Ok(16));
        assert!(u8::from_arg("256", None).is_err());
        let p = Ipv4Prefix::from_arg("10.0.0.0/255.255.0.0", None).unwrap();
        assert_eq!(p.len, 16);
        assert!(p.contains(Ipv4Addr::new(10, 0, 9, 9)));
    }
}
