//! The tcpdump-like pattern language of `IPClassifier` and `IPFilter`, parsed into
//! [`Expr`] formulas.
//!
//! The grammar is Click's:
//!
//! ```text
//! expr   ::= orexpr | orexpr ? expr : expr
//! orexpr ::= term { (or | ||) term }
//! term   ::= factor { [and | &&] factor }        juxtaposition means "and"
//! factor ::= (not | !) factor | ( expr ) | test
//! test   ::= true | false | QUALIFIERS [ '[' POS[:LEN] ']' ] [& MASK] [RELOP] [DATA]
//! ```
//!
//! A test without qualifiers borrows them from the previous test (`src port 80 or 81`,
//! `host 10.0.0.1 or 10.0.0.2`). Parsing is bounded: parentheses nest at most
//! [`MAX_DEPTH`] deep, so a hostile pattern cannot exhaust the stack.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::{EtherAddr, FromArg, Ipv4Prefix, NameLookup};

use super::program::{Base, Expr, Op, Test};

/// Deepest nesting of parentheses and `?:` accepted in one pattern.
pub const MAX_DEPTH: usize = 32;

/// One word of a pattern and its byte range in the pattern text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word<'a> {
    /// The word.
    pub text: &'a str,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A pattern error: a message and the byte range of the word at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// First byte of the offending word in the pattern text.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
}

/// Splits a pattern into words as Click does: `&&`, `||`, `==`, `!=`, `<=`, `>=` and the
/// single characters `& | < > ! = ( ) [ ] , ; ?` stand alone; other words run over letters,
/// digits and `- . / @ _ :` (so `:` must be surrounded by spaces in `a ? b : c`).
pub fn tokenize(text: &str) -> Vec<Word<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied();
        let len = match c {
            b'&' | b'|' if next == Some(c) => 2,
            b'<' | b'>' | b'!' | b'=' if next == Some(b'=') => 2,
            b'&' | b'|' | b'<' | b'>' | b'!' | b'=' | b'(' | b')' | b'[' | b']' | b',' | b';'
            | b'?' => 1,
            _ => {
                let word = |c: u8| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'-' | b'.' | b'/' | b'@' | b'_' | b':')
                };
                let n = b[i..].iter().take_while(|&&c| word(c)).count();
                // Any other byte (a stray `$`, or the start of a multi-byte character) is
                // a word of its own.
                if n > 0 {
                    n
                } else {
                    text[i..].chars().next().map_or(1, char::len_utf8)
                }
            }
        };
        out.push(Word {
            text: &text[i..i + len],
            start: i,
            end: i + len,
        });
        i += len;
    }
    out
}

// ---- names -----------------------------------------------------------------------------

/// Protocol numbers above 255 stand for sets: TCP or UDP, and any transport protocol.
const PROTO_TCP_OR_UDP: u16 = 256;
const PROTO_TRANSP: u16 = 257;
const PROTO_ICMP: u16 = 1;
const PROTO_TCP: u16 = 6;
const PROTO_UDP: u16 = 17;
const PROTO_DCCP: u16 = 33;

const IP_PROTOS: &[(&str, u16)] = &[
    ("icmp", PROTO_ICMP),
    ("igmp", 2),
    ("ipip", 4),
    ("tcp", PROTO_TCP),
    ("tcpudp", PROTO_TCP_OR_UDP),
    ("transp", PROTO_TRANSP),
    ("udp", PROTO_UDP),
];

/// The IP protocol a name (`tcp`, `udp`, `icmp`, ...) or a number 0-255 names, as Click's
/// protocol names read.
pub(crate) fn ip_proto_number(word: &str) -> Option<u8> {
    word.parse()
        .ok()
        .or_else(|| find(IP_PROTOS, word).and_then(|p| u8::try_from(p).ok()))
}

/// The port a service name (`dns`, `www`, ...) or a number names, as Click's `IPPortArg`
/// reads it.
pub(crate) fn port_number(word: &str) -> Option<u16> {
    word.parse().ok().or_else(|| find(PORTS, word))
}

/// The ICMP type a name (`echo`, `unreachable`, ...) or a number names.
#[cfg(feature = "std")]
pub(crate) fn icmp_type_number(word: &str) -> Option<u8> {
    word.parse()
        .ok()
        .or_else(|| find(ICMP_TYPES, word).and_then(|t| u8::try_from(t).ok()))
}

/// The name of ICMP type `t`, if it has one.
#[cfg(feature = "std")]
pub(crate) fn icmp_type_name(t: u8) -> Option<&'static str> {
    // Click's own names: `timeexceeded`, not the `time-exceeded` synonym.
    ICMP_TYPES
        .iter()
        .filter(|(n, _)| !n.contains('-') || n.ends_with("-reply"))
        .find(|(_, v)| *v == u32::from(t))
        .map(|(n, _)| *n)
}

/// Service names, for TCP and UDP alike: Click's own list plus common names from
/// `/etc/services` (which Click consults at user level).
const PORTS: &[(&str, u16)] = &[
    ("auth", 113),
    ("bgp", 179),
    ("bootpc", 68),
    ("bootps", 67),
    ("chargen", 19),
    ("daytime", 13),
    ("discard", 9),
    ("dns", 53),
    ("domain", 53),
    ("echo", 7),
    ("finger", 79),
    ("ftp", 21),
    ("ftp-data", 20),
    ("http", 80),
    ("http-alt", 8080),
    ("https", 443),
    ("imap", 143),
    ("imap2", 143),
    ("imap3", 220),
    ("imaps", 993),
    ("irc", 194),
    ("isakmp", 500),
    ("kerberos", 88),
    ("ldap", 389),
    ("ldaps", 636),
    ("microsoft-ds", 445),
    ("mysql", 3306),
    ("netbios-dgm", 138),
    ("netbios-ns", 137),
    ("netbios-ssn", 139),
    ("nfs", 2049),
    ("nntp", 119),
    ("ntp", 123),
    ("pop3", 110),
    ("pop3s", 995),
    ("postgresql", 5432),
    ("rip", 520),
    ("route", 520),
    ("smtp", 25),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("ssh", 22),
    ("submission", 587),
    ("sunrpc", 111),
    ("syslog", 514),
    ("telnet", 23),
    ("tftp", 69),
    ("www", 80),
];

const TCP_FLAGS: &[(&str, u32)] = &[
    ("ack", 0x10),
    ("fin", 0x01),
    ("psh", 0x08),
    ("rst", 0x04),
    ("syn", 0x02),
    ("urg", 0x20),
];

const ICMP_TYPES: &[(&str, u32)] = &[
    ("echo", 8),
    ("echo-reply", 0),
    ("inforeq", 15),
    ("inforeq-reply", 16),
    ("maskreq", 17),
    ("maskreq-reply", 18),
    ("parameter-problem", 12),
    ("parameterproblem", 12),
    ("redirect", 5),
    ("routeradvert", 9),
    ("routersolicit", 10),
    ("source-quench", 4),
    ("sourcequench", 4),
    ("time-exceeded", 11),
    ("timeexceeded", 11),
    ("timestamp", 13),
    ("timestamp-reply", 14),
    ("unreachable", 3),
];

fn find<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == word).map(|&(_, v)| v)
}

/// A header field: where it lies (in bits) and in which header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    /// `None`: the IP header; otherwise the transport protocol whose header holds it.
    proto: Option<u16>,
    bit_offset: u16,
    bits: u8,
    name: &'static str,
}

const F_VERSION: Field = Field {
    proto: None,
    bit_offset: 0,
    bits: 4,
    name: "ip vers",
};
const F_HL: Field = Field {
    proto: None,
    bit_offset: 4,
    bits: 4,
    name: "ip hl",
};
const F_TOS: Field = Field {
    proto: None,
    bit_offset: 8,
    bits: 8,
    name: "ip tos",
};
const F_DSCP: Field = Field {
    proto: None,
    bit_offset: 8,
    bits: 6,
    name: "ip dscp",
};
const F_LEN: Field = Field {
    proto: None,
    bit_offset: 16,
    bits: 16,
    name: "ip len",
};
const F_ID: Field = Field {
    proto: None,
    bit_offset: 32,
    bits: 16,
    name: "ip id",
};
const F_TTL: Field = Field {
    proto: None,
    bit_offset: 64,
    bits: 8,
    name: "ip ttl",
};
const F_TCP_WIN: Field = Field {
    proto: Some(PROTO_TCP),
    bit_offset: 112,
    bits: 16,
    name: "tcp win",
};
const F_ICMP_TYPE: Field = Field {
    proto: Some(PROTO_ICMP),
    bit_offset: 0,
    bits: 8,
    name: "icmp type",
};

/// What a primitive tests (Click's `_type`), or what kind of value a data word was
/// (Click's `_data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    None,
    Int,
    Host,
    Net,
    Proto,
    Port,
    TcpOpt,
    Ether,
    IpFrag,
    IpUnfrag,
    IpEct,
    IpCe,
    Field(Field),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::None => "<none>",
            Kind::Int => "integer",
            Kind::Host => "ip host",
            Kind::Net => "ip net",
            Kind::Proto => "proto",
            Kind::Port => "port",
            Kind::TcpOpt => "tcp opt",
            Kind::Ether => "ether host",
            Kind::IpFrag => "ip frag",
            Kind::IpUnfrag => "ip unfrag",
            Kind::IpEct => "ip ect",
            Kind::IpCe => "ip ce",
            Kind::Field(f) => f.name,
        }
    }
}

/// A qualifier or type word.
fn type_word(word: &str) -> Option<Kind> {
    Some(match word {
        "ce" => Kind::IpCe,
        "dscp" => Kind::Field(F_DSCP),
        "ect" => Kind::IpEct,
        "frag" => Kind::IpFrag,
        "hl" => Kind::Field(F_HL),
        "host" => Kind::Host,
        "id" => Kind::Field(F_ID),
        "len" => Kind::Field(F_LEN),
        "net" => Kind::Net,
        "opt" => Kind::TcpOpt,
        "port" => Kind::Port,
        "proto" => Kind::Proto,
        "tos" => Kind::Field(F_TOS),
        "ttl" => Kind::Field(F_TTL),
        "type" => Kind::Field(F_ICMP_TYPE),
        "unfrag" => Kind::IpUnfrag,
        "vers" => Kind::Field(F_VERSION),
        "win" => Kind::Field(F_TCP_WIN),
        _ => return None,
    })
}

/// Words that shape a test without being a type: `src`, `dst`, `ip`, `ether`, `not`.
fn syntax_word(word: &str) -> bool {
    matches!(word, "dest" | "dst" | "ether" | "ip" | "not" | "src")
}

/// What a word means where a type or value may stand.
enum Meaning {
    /// A type word (`port`, `ttl`, ...).
    Type(Kind),
    /// A value of some kind (`tcp` is `Proto`, `www` is `Port`, ...).
    Value(Kind, u32),
    /// Unknown (or a syntax word).
    Nothing,
    /// Known, but meaningless or ambiguous here: the message says what to write.
    Error(String),
}

fn proto_name(p: Option<u16>) -> String {
    match p {
        None => String::new(),
        Some(p) => match IP_PROTOS.iter().find(|(_, v)| *v == p) {
            Some((n, _)) => (*n).to_string(),
            None => format!("ip proto {p}"),
        },
    }
}

/// Click's name lookup: a type word wins when no type is set; otherwise the word is
/// looked up among protocols, ports, TCP flags and ICMP types that fit the type and
/// protocol given so far.
fn lookup(word: &str, kind: Kind, proto: Option<u16>) -> Meaning {
    if kind == Kind::None {
        if let Some(k) = type_word(word) {
            return Meaning::Type(k);
        }
        if syntax_word(word) {
            return Meaning::Nothing;
        }
    }
    let got_proto = find(IP_PROTOS, word);
    let got_port = find(PORTS, word);
    let got_opt = find(TCP_FLAGS, word);
    let got_icmp = find(ICMP_TYPES, word);
    if got_proto.is_none() && got_port.is_none() && got_opt.is_none() && got_icmp.is_none() {
        return Meaning::Nothing;
    }
    let tcp_ok = matches!(proto, None | Some(PROTO_TCP) | Some(PROTO_TCP_OR_UDP));
    let udp_ok = matches!(proto, None | Some(PROTO_UDP) | Some(PROTO_TCP_OR_UDP));
    let mut fits: Vec<Meaning> = Vec::new();
    if let Some(v) = got_proto.filter(|_| matches!(kind, Kind::None | Kind::Proto)) {
        fits.push(Meaning::Value(Kind::Proto, u32::from(v)));
    }
    if let Some(v) =
        got_port.filter(|_| matches!(kind, Kind::None | Kind::Port) && (tcp_ok || udp_ok))
    {
        fits.push(Meaning::Value(Kind::Port, u32::from(v)));
    }
    if let Some(v) = got_opt.filter(|_| matches!(kind, Kind::None | Kind::TcpOpt) && tcp_ok) {
        fits.push(Meaning::Value(Kind::TcpOpt, v));
    }
    if let Some(v) = got_icmp.filter(|_| {
        matches!(kind, Kind::None | Kind::Field(F_ICMP_TYPE))
            && matches!(proto, None | Some(PROTO_ICMP))
    }) {
        fits.push(Meaning::Value(Kind::Field(F_ICMP_TYPE), v));
    }
    if fits.len() == 1 {
        return fits.pop().unwrap_or(Meaning::Nothing);
    }
    let mut tries = Vec::new();
    if got_proto.is_some() {
        tries.push(format!("'proto {word}'"));
    }
    if got_port.is_some() {
        tries.push(format!("'port {word}'"));
    }
    if got_opt.is_some() {
        tries.push(format!("'tcp opt {word}'"));
    }
    if got_icmp.is_some() {
        tries.push(format!("'icmp type {word}'"));
    }
    let what = {
        let mut s = String::new();
        if kind != Kind::None {
            s.push_str(kind.name());
            s.push(' ');
        }
        let p = proto_name(proto);
        if !p.is_empty() {
            s.push_str(&p);
            s.push(' ');
        }
        s.push_str(word);
        s
    };
    Meaning::Error(format!(
        "'{what}' is {}; try {}",
        if fits.len() > 1 {
            "ambiguous"
        } else {
            "meaningless"
        },
        tries.join(", ")
    ))
}

fn parse_int(word: &str) -> Option<u32> {
    if !word.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    u32::from_arg(word, None).ok()
}

/// An IPv4 address, literal or named. A name that stands for a network (a prefix whose
/// host bits are zero) is a network, not an address, as with Click's `AddressInfo`.
fn parse_addr(word: &str, names: Option<&dyn NameLookup>) -> Option<Ipv4Addr> {
    if let Ok(a) = word.parse::<Ipv4Addr>() {
        return Some(a);
    }
    if !word.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let names = names?;
    let addr: Ipv4Addr = names.lookup(word, "ip").and_then(|v| v.parse().ok())?;
    // A name given both an address and its network (`intern 10.0.0.1 10.0.0.0/24`) is the
    // address; one given only a network yields that network's own address here, and is
    // not an address.
    if let Some(p) = names
        .lookup(word, "ipprefix")
        .and_then(|v| Ipv4Prefix::from_arg(&v, None).ok())
    {
        let mask = u32::from(p.mask());
        if p.len < 32 && u32::from(p.addr) & !mask == 0 && p.addr == addr {
            return None;
        }
    }
    Some(addr)
}

/// An IPv4 prefix (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, or a name for one).
fn parse_prefix(word: &str, names: Option<&dyn NameLookup>) -> Option<(u32, u32)> {
    let p = if word.contains('/') {
        Ipv4Prefix::from_arg(word, names).ok()?
    } else {
        let v = names?.lookup(word, "ipprefix")?;
        Ipv4Prefix::from_arg(&v, None).ok()?
    };
    Some((u32::from(p.addr), u32::from(p.mask())))
}

fn parse_ether(word: &str, names: Option<&dyn NameLookup>) -> Option<[u8; 6]> {
    EtherAddr::from_arg(word, names).ok().map(|e| e.0)
}

// ---- primitives ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SrcDst {
    None,
    Src,
    Dst,
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Eq,
    Gt,
    Lt,
}

/// Which header a test reads: unset, `ip`, or `ether`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Header {
    Unset,
    Ip,
    Ether,
}

/// One test being parsed (Click's `Primitive`).
#[derive(Clone, Copy, Debug)]
struct Prim {
    kind: Kind,
    data: Kind,
    srcdst: SrcDst,
    proto: Option<u16>,
    op: Rel,
    negated: bool,
    u: u32,
    /// Upper bound of a `LOW-HIGH` range (an extension over Click).
    hi: Option<u32>,
    mask: u32,
    ether: [u8; 6],
    ether_mask: [u8; 6],
    /// A relation that holds for every value or none.
    constant: Option<bool>,
}

impl Default for Prim {
    fn default() -> Self {
        Self {
            kind: Kind::None,
            data: Kind::None,
            srcdst: SrcDst::None,
            proto: None,
            op: Rel::Eq,
            negated: false,
            u: 0,
            hi: None,
            mask: 0,
            ether: [0; 6],
            ether_mask: [0; 6],
            constant: None,
        }
    }
}

/// A mask given with `& MASK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GivenMask {
    None,
    Int(u32),
    Ip(u32),
    Ether([u8; 6]),
}

type PResult<T> = Result<T, String>;

impl Prim {
    fn set_kind(&mut self, k: Kind) -> PResult<()> {
        if self.kind != Kind::None {
            return Err("type specified twice".into());
        }
        self.kind = k;
        Ok(())
    }

    fn set_srcdst(&mut self, s: SrcDst) -> PResult<()> {
        if self.srcdst != SrcDst::None {
            return Err("'src' or 'dst' specified twice".into());
        }
        self.srcdst = s;
        Ok(())
    }

    fn set_proto(&mut self, p: u16) -> PResult<()> {
        if self.proto.is_some_and(|q| q != p) {
            return Err("transport protocol specified twice".into());
        }
        self.proto = Some(p);
        Ok(())
    }

    fn type_error(&self, msg: &str) -> String {
        let sd = match self.srcdst {
            SrcDst::Src => "src ",
            SrcDst::Dst => "dst ",
            SrcDst::And => "src and dst ",
            SrcDst::Or => "src or dst ",
            SrcDst::None => "",
        };
        format!("'{sd}{}': {msg}", self.kind.name())
    }

    /// Fits the value to a field of `full` bits (Click's `set_mask`).
    fn set_mask(&mut self, full: u32, given: Option<u32>) -> PResult<()> {
        let this_mask = given.unwrap_or(full);
        if this_mask & full != this_mask {
            return Err(self.type_error(&format!("mask out of range, bound 0x{full:X}")));
        }
        if let Some(hi) = self.hi {
            if hi > full || self.u > hi || self.op != Rel::Eq {
                return Err(
                    self.type_error(&format!("bad range {}-{hi} (values 0-{full})", self.u))
                );
            }
        } else if self.op != Rel::Eq {
            let data = self.u;
            let always = match self.op {
                Rel::Lt if data > this_mask => Some(true),
                Rel::Lt if data == 0 => Some(false),
                Rel::Gt if data >= this_mask => Some(false),
                _ => None,
            };
            if let Some(a) = always {
                self.constant = Some(a ^ self.negated);
            }
        } else if self.u > full {
            return Err(self.type_error(&format!("out of range, bound {full}")));
        }
        self.mask = this_mask;
        Ok(())
    }

    /// Completes and validates a primitive (Click's `Primitive::check`).
    fn check(&mut self, prev: &Prim, mut header: Header, mask: GivenMask) -> PResult<()> {
        let old_srcdst = self.srcdst;
        if self.kind == Kind::None {
            let mut data = self.data;
            loop {
                match data {
                    Kind::Host | Kind::Net | Kind::TcpOpt | Kind::Ether => {
                        self.kind = data;
                        if self.srcdst == SrcDst::None {
                            self.srcdst = prev.srcdst;
                        }
                    }
                    Kind::Proto => self.kind = Kind::Proto,
                    Kind::Port => {
                        self.kind = Kind::Port;
                        if self.srcdst == SrcDst::None {
                            self.srcdst = prev.srcdst;
                        }
                        if self.proto.is_none() {
                            self.proto = prev.proto;
                        }
                    }
                    Kind::Int => {
                        if !matches!(prev.kind, Kind::Field(_) | Kind::Proto | Kind::Port) {
                            return Err("specify header field or 'port'".into());
                        }
                        data = prev.kind;
                        self.data = data;
                        continue;
                    }
                    Kind::None => {
                        if self.proto.is_some() {
                            self.kind = Kind::Proto;
                        } else {
                            return Err("partial directive".into());
                        }
                    }
                    Kind::Field(f) => {
                        self.kind = data;
                        if f.proto.is_some() && self.proto.is_none() {
                            self.proto = f.proto;
                        }
                    }
                    _ => return Err(format!("unknown type '{}'", data.name())),
                }
                break;
            }
        }

        if header == Header::Unset {
            header = if self.data == Kind::Ether {
                Header::Ether
            } else {
                Header::Ip
            };
        }
        if header == Header::Ether && self.kind == Kind::Host {
            self.kind = Kind::Ether;
        }
        let ip_only = |p: &Prim| {
            if header != Header::Ip {
                Err(p.type_error("ip only"))
            } else {
                Ok(())
            }
        };
        let given_int = |p: &Prim| match mask {
            GivenMask::None => Ok(None),
            GivenMask::Int(m) => Ok(Some(m)),
            _ => Err(p.type_error("bad mask")),
        };

        match self.kind {
            Kind::Host | Kind::Net => {
                let want = self.kind;
                if header != Header::Ip || self.data != want {
                    return Err(self.type_error("address missing"));
                }
                if self.op != Rel::Eq || self.hi.is_some() {
                    return Err(self.type_error("operator not supported"));
                }
                if want == Kind::Host {
                    self.mask = u32::MAX;
                }
                self.kind = Kind::Host;
                match mask {
                    GivenMask::None => {}
                    GivenMask::Int(m) | GivenMask::Ip(m) => self.mask = m,
                    GivenMask::Ether(_) => return Err(self.type_error("bad mask")),
                }
            }
            Kind::Ether => {
                if header != Header::Ether || self.data != Kind::Ether {
                    return Err(self.type_error("address missing"));
                }
                if self.op != Rel::Eq || self.hi.is_some() {
                    return Err(self.type_error("operator not supported"));
                }
                self.ether_mask = match mask {
                    GivenMask::None => [0xff; 6],
                    GivenMask::Ether(m) => m,
                    _ => return Err(self.type_error("bad mask")),
                };
            }
            Kind::Proto => {
                ip_only(self)?;
                if matches!(self.data, Kind::Int | Kind::Proto) {
                    if self.proto.is_some_and(|p| u32::from(p) != self.u) {
                        return Err(self.type_error("specified twice"));
                    }
                    self.data = Kind::None;
                } else if let Some(p) = self.proto {
                    self.u = u32::from(p);
                } else {
                    return Err(self.type_error("value missing"));
                }
                self.proto = None;
                if self.data != Kind::None {
                    return Err(self.type_error("value missing"));
                }
                if self.u >= 256 {
                    if self.op != Rel::Eq || mask != GivenMask::None || self.hi.is_some() {
                        return Err(format!(
                            "'{}': operator or mask not supported",
                            proto_name(Some(self.u as u16))
                        ));
                    }
                    self.mask = 0xff;
                } else {
                    let m = given_int(self)?;
                    self.set_mask(0xff, m)?;
                }
                if self.op == Rel::Eq && self.mask == 0xff && !self.negated && self.hi.is_none() {
                    self.proto = Some(self.u as u16);
                }
            }
            Kind::Port => {
                ip_only(self)?;
                if self.data == Kind::Int {
                    self.data = Kind::Port;
                }
                if self.data != Kind::Port {
                    return Err(self.type_error("value missing"));
                }
                match self.proto {
                    None => self.proto = Some(PROTO_TCP_OR_UDP),
                    Some(PROTO_TCP | PROTO_UDP | PROTO_TCP_OR_UDP | PROTO_DCCP) => {}
                    Some(p) => return Err(format!("'port': bad protocol {p}")),
                }
                let m = given_int(self)?;
                self.set_mask(0xffff, m)?;
            }
            Kind::TcpOpt => {
                ip_only(self)?;
                if self.data == Kind::Int {
                    self.data = Kind::TcpOpt;
                }
                if self.data != Kind::TcpOpt {
                    return Err(self.type_error("value missing"));
                }
                match self.proto {
                    None => self.proto = Some(PROTO_TCP),
                    Some(PROTO_TCP) => {}
                    Some(p) => return Err(format!("'tcp opt': bad protocol {p}")),
                }
                if self.op != Rel::Eq
                    || self.negated
                    || mask != GivenMask::None
                    || self.hi.is_some()
                {
                    return Err(self.type_error("operator or mask not supported"));
                }
                if self.u > 255 {
                    return Err(format!("'tcp opt': value {} out of range", self.u));
                }
                self.mask = self.u;
            }
            Kind::IpEct => {
                ip_only(self)?;
                let m = match self.data {
                    Kind::None => {
                        self.u = 0;
                        self.negated = true;
                        None
                    }
                    Kind::Int => given_int(self)?,
                    _ => return Err(self.type_error("value missing")),
                };
                self.set_mask(0x3, m)?;
                self.kind = Kind::Field(F_TOS);
            }
            Kind::IpCe => {
                ip_only(self)?;
                if self.data != Kind::None || mask != GivenMask::None {
                    return Err(self.type_error("value not supported"));
                }
                self.mask = 0x3;
                self.u = 0x3;
                self.kind = Kind::Field(F_TOS);
            }
            Kind::IpFrag | Kind::IpUnfrag => {
                ip_only(self)?;
                if self.data != Kind::None || mask != GivenMask::None {
                    return Err(self.type_error("value not supported"));
                }
                if self.kind == Kind::IpUnfrag {
                    self.negated = true;
                }
                self.kind = Kind::IpFrag;
            }
            Kind::Field(f) => {
                ip_only(self)?;
                if self.data != Kind::Int && self.data != self.kind {
                    return Err(self.type_error("value missing"));
                }
                let m = given_int(self)?;
                let full = if f.bits >= 32 {
                    u32::MAX
                } else {
                    (1u32 << f.bits) - 1
                };
                self.set_mask(full, m)?;
            }
            Kind::None | Kind::Int => return Err("partial directive".into()),
        }

        if matches!(self.kind, Kind::Host | Kind::Port | Kind::Ether) {
            if self.srcdst == SrcDst::None {
                self.srcdst = SrcDst::Or;
            }
        } else {
            // Click warns that `src`/`dst` mean nothing here and goes on.
            let _ = old_srcdst;
        }
        Ok(())
    }

    /// The comparison of one field: `base`/`offset` name the 32-bit word, `shift` where
    /// the field sits in it, `mask` its bits.
    fn comparison(&self, base: Base, offset: u16, shift: u8, mask: u32) -> Expr {
        let test = |op: Op, value: u32| {
            Expr::Test(Test {
                base,
                offset,
                mask: mask << shift,
                shift,
                op,
                value: if op == Op::Eq { value & mask } else { value },
                negate: false,
                short: false,
            })
        };
        if let Some(c) = self.constant {
            return Expr::Const(c);
        }
        let e = match (self.op, self.hi) {
            (_, Some(hi)) => {
                // LOW-HIGH: not below LOW and not above HIGH.
                test(Op::Lt, self.u)
                    .negate_keep_short()
                    .and(test(Op::Gt, hi).negate_keep_short())
            }
            (Rel::Eq, None) => test(Op::Eq, self.u),
            (Rel::Gt, None) => test(Op::Gt, self.u),
            (Rel::Lt, None) => test(Op::Lt, self.u),
        };
        if self.negated {
            e.negate_keep_short()
        } else {
            e
        }
    }

    /// `src`, `dst`, `src and dst` or `src or dst` over two comparisons. The negation of
    /// the combined test keeps short packets failing.
    fn srcdst(&self, src: impl FnOnce() -> Expr, dst: impl FnOnce() -> Expr) -> Expr {
        let e = match self.srcdst {
            SrcDst::Src => src(),
            SrcDst::Dst => dst(),
            SrcDst::And => src().and(dst()),
            SrcDst::Or | SrcDst::None => Expr::Or(vec![src(), dst()]),
        };
        if self.negated {
            e.negate_keep_short()
        } else {
            e
        }
    }

    /// The formula for a checked primitive (Click's `Primitive::compile`).
    fn compile(&self) -> Expr {
        let mut parts = Vec::new();
        if let Some(p) = self.proto {
            let proto_test =
                |p: u16| Expr::Test(Test::eq(Base::Net, 8, 0x00ff_0000, u32::from(p) << 16));
            match p {
                PROTO_TCP_OR_UDP => {
                    parts.push(Expr::Or(vec![proto_test(PROTO_TCP), proto_test(PROTO_UDP)]))
                }
                p if p >= 256 => {}
                p => parts.push(proto_test(p)),
            }
        }
        let transport = match self.kind {
            Kind::Port | Kind::TcpOpt => true,
            Kind::Field(f) => f.proto.is_some(),
            _ => false,
        };
        if transport {
            // Only a first fragment carries the transport header.
            parts.push(Expr::Test(Test::eq(Base::Net, 4, 0x0000_1fff, 0)));
        }
        let mut plain = *self;
        plain.negated = false;
        let main = match self.kind {
            Kind::Host => {
                let cmp = |off| plain.comparison(Base::Net, off, 0, self.mask);
                self.srcdst(|| cmp(12), || cmp(16))
            }
            Kind::Ether => {
                let (a, m) = (self.ether, self.ether_mask);
                let word = |off: u16, a: &[u8], m: &[u8]| {
                    let mut v = [0u8; 4];
                    let mut k = [0u8; 4];
                    v[..a.len()].copy_from_slice(a);
                    k[..m.len()].copy_from_slice(m);
                    let (v, k) = (u32::from_be_bytes(v), u32::from_be_bytes(k));
                    Expr::Test(Test::eq(Base::Link, off, k, v))
                };
                self.srcdst(
                    || word(6, &a[..4], &m[..4]).and(word(10, &a[4..], &m[4..])),
                    || word(0, &a[..4], &m[..4]).and(word(4, &a[4..], &m[4..])),
                )
            }
            Kind::Proto if self.u < 256 => {
                let e = plain.comparison(Base::Net, 8, 16, self.mask);
                if self.negated {
                    e.negate_keep_short()
                } else {
                    e
                }
            }
            Kind::Proto => Expr::Const(true),
            Kind::IpFrag => {
                let unfrag = Expr::Test(Test::eq(Base::Net, 4, 0x0000_3fff, 0));
                if self.negated {
                    unfrag
                } else {
                    unfrag.negate_keep_short()
                }
            }
            Kind::Port => self.srcdst(
                || plain.comparison(Base::Transport, 0, 16, self.mask),
                || plain.comparison(Base::Transport, 0, 0, self.mask),
            ),
            Kind::TcpOpt => Expr::Test(Test {
                base: Base::Transport,
                offset: 12,
                mask: self.mask << 16,
                shift: 16,
                op: Op::Eq,
                value: self.u & self.mask,
                negate: false,
                short: false,
            }),
            Kind::Field(f) => {
                let base = if f.proto.is_some() {
                    Base::Transport
                } else {
                    Base::Net
                };
                let word = (f.bit_offset >> 3) & !3;
                let bit = f.bit_offset & 31;
                let shift = 32 - (bit as u8 + f.bits);
                let e = plain.comparison(base, word, shift, self.mask);
                if self.negated {
                    e.negate_keep_short()
                } else {
                    e
                }
            }
            _ => Expr::Const(false),
        };
        parts.push(main);
        if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Const(true))
        } else {
            Expr::And(parts)
        }
    }
}

// ---- the parser ------------------------------------------------------------------------

struct Parser<'w, 'a> {
    words: &'w [Word<'a>],
    pos: usize,
    names: Option<&'w dyn NameLookup>,
    prev: Prim,
    depth: usize,
}

type Parse<T> = Result<T, PatternError>;

impl<'a> Parser<'_, 'a> {
    fn word(&self, i: usize) -> Option<&'a str> {
        self.words.get(i).map(|w| w.text)
    }

    fn peek(&self) -> Option<&'a str> {
        self.word(self.pos)
    }

    /// An error at word `i` (or at the end of the pattern).
    fn err_at(&self, i: usize, message: impl Into<String>) -> PatternError {
        let (start, end) = match self.words.get(i) {
            Some(w) => (w.start, w.end),
            None => self.words.last().map_or((0, 0), |w| (w.end, w.end)),
        };
        PatternError {
            message: message.into(),
            start,
            end,
        }
    }

    fn err_span(&self, from: usize, to: usize, message: impl Into<String>) -> PatternError {
        let mut e = self.err_at(from, message);
        if let Some(w) = self.words.get(to.saturating_sub(1)).filter(|_| to > from) {
            e.end = w.end;
        }
        e
    }

    fn enter(&mut self) -> Parse<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(
                self.pos,
                format!("pattern nested more than {MAX_DEPTH} deep"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Parse<Expr> {
        self.enter()?;
        let cond = self.orexpr()?;
        let e = if self.peek() == Some("?") {
            let q = self.pos;
            self.pos += 1;
            let yes = self.expr()?;
            if self.peek() != Some(":") {
                return Err(self.err_at(
                    q,
                    "missing ':' in ternary expression (write ' : ' with spaces)",
                ));
            }
            self.pos += 1;
            let no = self.expr()?;
            Expr::Ternary(Box::new([cond, yes, no]))
        } else {
            cond
        };
        self.depth -= 1;
        Ok(e)
    }

    fn orexpr(&mut self) -> Parse<Expr> {
        let mut v = vec![self.term()?];
        while matches!(self.peek(), Some("or" | "||")) {
            self.pos += 1;
            v.push(self.term()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap_or(Expr::Const(false))
        } else {
            Expr::Or(v)
        })
    }

    fn ends_term(w: Option<&str>) -> bool {
        matches!(w, None | Some(")" | "or" | "||" | "?" | ":"))
    }

    fn term(&mut self) -> Parse<Expr> {
        if Self::ends_term(self.peek()) {
            return Err(self.err_at(self.pos, "missing expression"));
        }
        let mut v = vec![self.factor()?];
        loop {
            if matches!(self.peek(), Some("and" | "&&")) {
                self.pos += 1;
                if Self::ends_term(self.peek()) {
                    return Err(self.err_at(self.pos - 1, "missing expression after 'and'"));
                }
            } else if Self::ends_term(self.peek()) {
                break;
            }
            v.push(self.factor()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap_or(Expr::Const(true))
        } else {
            Expr::And(v)
        })
    }

    fn factor(&mut self) -> Parse<Expr> {
        let mut negated = false;
        while matches!(self.peek(), Some("not" | "!")) {
            negated = !negated;
            self.pos += 1;
            if Self::ends_term(self.peek()) {
                return Err(self.err_at(
                    self.pos - 1,
                    format!(
                        "missing expression after '{}'",
                        self.words[self.pos - 1].text
                    ),
                ));
            }
        }
        let e = if self.peek() == Some("(") {
            let open = self.pos;
            self.pos += 1;
            if self.peek() == Some(")") {
                return Err(self.err_at(open, "missing expression after '('"));
            }
            let e = self.expr()?;
            if self.peek() != Some(")") {
                return Err(self.err_at(open, "missing ')'"));
            }
            self.pos += 1;
            e
        } else {
            self.test()?
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn test(&mut self) -> Parse<Expr> {
        let first = self.pos;
        match self.peek() {
            Some("true") => {
                self.pos += 1;
                return Ok(Expr::Const(true));
            }
            Some("false") => {
                self.pos += 1;
                return Ok(Expr::Const(false));
            }
            _ => {}
        }
        let mut prim = Prim::default();
        let mut header = Header::Unset;
        let mut negated = false;

        // Qualifiers.
        while let Some(wd) = self.peek() {
            let at = self.pos;
            let r = match lookup(wd, Kind::None, None) {
                Meaning::Type(k) => {
                    let r = prim.set_kind(k);
                    if let (Ok(()), Kind::Field(Field { proto: Some(p), .. })) = (&r, k) {
                        prim.set_proto(p)
                    } else {
                        r
                    }
                }
                Meaning::Value(Kind::Proto, p) => prim.set_proto(p as u16),
                Meaning::Value(..) | Meaning::Error(_) => break,
                Meaning::Nothing => match wd {
                    "src" => {
                        let and_or = self.word(at + 1);
                        if matches!(self.word(at + 2), Some("dst" | "dest"))
                            && matches!(and_or, Some("and" | "&&" | "or" | "||"))
                        {
                            self.pos += 2;
                            prim.set_srcdst(if matches!(and_or, Some("and" | "&&")) {
                                SrcDst::And
                            } else {
                                SrcDst::Or
                            })
                        } else {
                            prim.set_srcdst(SrcDst::Src)
                        }
                    }
                    "dst" | "dest" => prim.set_srcdst(SrcDst::Dst),
                    "ip" | "ether" => {
                        if header != Header::Unset {
                            break;
                        }
                        header = if wd == "ip" {
                            Header::Ip
                        } else {
                            Header::Ether
                        };
                        Ok(())
                    }
                    "not" | "!" => {
                        negated = !negated;
                        Ok(())
                    }
                    _ => break,
                },
            };
            r.map_err(|m| self.err_span(at, self.pos + 1, m))?;
            self.pos += 1;
        }

        if self.pos != first {
            self.prev = Prim::default();
        }
        if self.prev.data == Kind::Ether {
            header = Header::Ether;
        }
        let has_more = |p: &Self| p.pos + 1 < p.words.len();

        // [POS], [POS:LEN], [POS,POS2]
        if self.peek() == Some("[") && has_more(self) && self.pos > first && prim.kind == Kind::None
        {
            let open = self.pos;
            let mut combo = String::new();
            self.pos += 1;
            while let Some(w) = self.peek().filter(|&w| w != "]") {
                combo.push_str(w);
                self.pos += 1;
            }
            if self.peek().is_none() {
                return Err(self.err_at(open, "missing ']'"));
            }
            self.pos += 1;
            let (fpos, len) = parse_brackets(&combo).ok_or_else(|| {
                self.err_span(
                    open,
                    self.pos,
                    "syntax error after '[', expected '[POS]' or '[POS:LEN]'",
                )
            })?;
            if !(1..=4).contains(&len) {
                return Err(self.err_span(
                    open,
                    self.pos,
                    "LEN in '[POS:LEN]' out of range, should be between 1 and 4",
                ));
            }
            let (bit, bits) = (fpos * 8, len * 8);
            if bit & !31 != (bit + bits - 1) & !31 || bit > 0xffff - 32 {
                return Err(self.err_span(
                    open,
                    self.pos,
                    format!("field [{fpos}:{len}] does not fit in a single word"),
                ));
            }
            let name = match prim.proto {
                None => "ip[...]",
                Some(PROTO_TCP) => "tcp[...]",
                Some(PROTO_UDP) => "udp[...]",
                Some(PROTO_ICMP) => "icmp[...]",
                Some(_) => "transp[...]",
            };
            let f = Field {
                proto: prim.proto,
                bit_offset: bit as u16,
                bits: bits as u8,
                name,
            };
            prim.set_kind(Kind::Field(f))
                .map_err(|m| self.err_span(open, self.pos, m))?;
        }

        // & MASK
        let mut mask = GivenMask::None;
        if self.peek() == Some("&") && has_more(self) {
            let mw = self.words[self.pos + 1].text;
            if let Some(m) = parse_int(mw) {
                mask = GivenMask::Int(m);
            } else if let Some(a) = parse_addr(mw, self.names).filter(|_| header != Header::Ether) {
                mask = GivenMask::Ip(u32::from(a));
            } else if let Some(e) = parse_ether(mw, self.names).filter(|_| header != Header::Ip) {
                mask = GivenMask::Ether(e);
            }
            if mask != GivenMask::None {
                if matches!(mask, GivenMask::Int(0) | GivenMask::Ip(0)) {
                    return Err(self.err_at(self.pos + 1, "zero mask ignored"));
                }
                self.pos += 2;
            }
        }

        // Relation.
        if has_more(self) {
            let rel = match self.peek() {
                Some("=" | "==") => Some((Rel::Eq, false)),
                Some("!=") => Some((Rel::Eq, true)),
                Some(">") => Some((Rel::Gt, false)),
                Some("<") => Some((Rel::Lt, false)),
                Some(">=") => Some((Rel::Lt, true)),
                Some("<=") => Some((Rel::Gt, true)),
                _ => None,
            };
            if let Some((op, neg)) = rel {
                prim.op = op;
                prim.negated = neg;
                self.pos += 1;
            }
        }
        let rel_given = prim.op != Rel::Eq || prim.negated;

        // Data.
        let mut unused = None;
        if let Some(wd) = self.peek() {
            let at = self.pos;
            self.pos += 1;
            match lookup(wd, prim.kind, prim.proto) {
                Meaning::Error(m) => return Err(self.err_at(at, m)),
                Meaning::Value(k, v) => {
                    prim.data = k;
                    prim.u = v;
                }
                Meaning::Type(_) | Meaning::Nothing => {
                    if let Some(v) = parse_int(wd) {
                        prim.data = Kind::Int;
                        prim.u = v;
                    } else if let Some((lo, hi)) = parse_range(wd) {
                        prim.data = Kind::Int;
                        prim.u = lo;
                        prim.hi = Some(hi);
                    } else if let Some(a) =
                        parse_addr(wd, self.names).filter(|_| header != Header::Ether)
                    {
                        prim.u = u32::from(a);
                        let masked = self.word(self.pos) == Some("mask");
                        if let Some(m) = self
                            .word(self.pos + 1)
                            .and_then(|m| parse_addr(m, self.names))
                            .filter(|_| masked)
                        {
                            self.pos += 2;
                            prim.mask = u32::from(m);
                            prim.data = Kind::Net;
                        } else if prim.kind == Kind::Net {
                            prim.mask = u32::MAX;
                            if let Some((a, m)) = parse_prefix(wd, self.names) {
                                prim.u = a;
                                prim.mask = m;
                            }
                            prim.data = Kind::Net;
                        } else {
                            prim.data = Kind::Host;
                        }
                    } else if let Some((a, m)) =
                        parse_prefix(wd, self.names).filter(|_| header != Header::Ether)
                    {
                        prim.u = a;
                        prim.mask = m;
                        prim.data = Kind::Net;
                    } else if let Some(e) =
                        parse_ether(wd, self.names).filter(|_| header != Header::Ip)
                    {
                        prim.ether = e;
                        prim.data = Kind::Ether;
                    } else {
                        if rel_given {
                            return Err(self.err_at(at, format!("dangling operator near '{wd}'")));
                        }
                        unused = Some(at);
                        self.pos -= 1;
                    }
                }
            }
        }

        if self.pos == first {
            let near = self.peek().unwrap_or("");
            return Err(self.err_at(first, format!("empty term near '{near}'")));
        }
        let prev = self.prev;
        prim.check(&prev, header, mask).map_err(|m| match unused {
            // The word that should have been the value is the likely culprit.
            Some(at) => self.err_at(
                at,
                format!("{m} (cannot use '{}' here)", self.words[at].text),
            ),
            None => self.err_span(first, self.pos, m),
        })?;
        let e = prim.compile();
        self.prev = prim;
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }
}

fn parse_brackets(combo: &str) -> Option<(u32, u32)> {
    let num = |s: &str| parse_int(s);
    if let Some((p, l)) = combo.split_once(':') {
        Some((num(p)?, num(l)?))
    } else if let Some((p, q)) = combo.split_once(',') {
        let (p, q) = (num(p)?, num(q)?);
        Some((p, q.checked_sub(p)? + 1))
    } else {
        Some((num(combo)?, 1))
    }
}

/// `LOW-HIGH`, both decimal.
fn parse_range(word: &str) -> Option<(u32, u32)> {
    let (a, b) = word.split_once('-')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !ok(a) || !ok(b) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses the expression in `words` (a whole pattern, without any action word). An empty
/// pattern, or one of `-`, `any`, `all`, matches every packet.
pub fn parse_pattern(
    words: &[Word<'_>],
    names: Option<&dyn NameLookup>,
) -> Result<Expr, PatternError> {
    if words.is_empty() || (words.len() == 1 && matches!(words[0].text, "-" | "any" | "all")) {
        return Ok(Expr::Const(true));
    }
    let mut p = Parser {
        words,
        pos: 0,
        names,
        prev: Prim::default(),
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos < words.len() {
        return Err(p.err_at(
            p.pos,
            format!("garbage after expression at '{}'", words[p.pos].text),
        ));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Expr, PatternError> {
        parse_pattern(&tokenize(s), None)
    }

    #[test]
    fn tokenizer_splits_like_click() {
        let w: Vec<&str> = tokenize("src port>=80&&!(tcp[13:1]&0x12 != 0) ? a : b")
            .iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(
            w,
            [
                "src", "port", ">=", "80", "&&", "!", "(", "tcp", "[", "13:1", "]", "&", "0x12",
                "!=", "0", ")", "?", "a", ":", "b"
            ]
        );
    }

    #[test]
    fn errors_point_at_words() {
        let e = parse("tcp and src port bogus").unwrap_err();
        assert_eq!((e.start, e.end), (17, 22), "{e:?}");
        let e = parse("echo").unwrap_err();
        assert!(e.message.contains("ambiguous"), "{e:?}");
        let e = parse("host 1.2.3.4 )").unwrap_err();
        assert!(e.message.contains("garbage"), "{e:?}");
        let e = parse("tcp opt != syn").unwrap_err();
        assert!(e.message.contains("not supported"), "{e:?}");
        let e = parse("ip[3:2] 5").unwrap_err();
        assert!(e.message.contains("single word"), "{e:?}");
        let deep = "(".repeat(100) + "tcp" + &")".repeat(100);
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
    }
}
