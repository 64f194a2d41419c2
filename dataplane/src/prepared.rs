//! A configuration prepared on the host for a VM: the flat graph, its text, and what each
//! element computed from its arguments ([`Element::prepared`](crate::Element::prepared)),
//! as `sluice build` prepares it for an image and `sluice ctl VM hotconfig FILE` sends it
//! to a running VM. The guest neither parses Click text nor compiles classifier patterns:
//! it decodes this and hands it to [`Router::hotswap_prepared`](crate::Router::hotswap_prepared).
//!
//! The encoding is little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `SLPC` |
//! | 2 | version ([`VERSION`]) |
//! | 2 | flags, 0 (none defined yet) |
//! | 4 | payload length |
//! | 4 | CRC-32 (IEEE) of the payload |
//! | … | payload |
//!
//! The payload holds the configuration's name, its text (absent when it is what
//! [`unparse`](sluice_config::unparse) prints from the graph: the decoder prints it
//! again), the elements (name, class, configuration string, declaration and
//! configuration spans), the connections, the `require` arguments, and each element's
//! prepared bytes. Strings and byte strings are a `u32` length and the bytes.
//!
//! [`PreparedConfig::decode`] is the trust boundary: a short, long, damaged or inconsistent
//! input is an error that says what is wrong, never a panic, and a decoded configuration
//! refers only to elements it has, with ports and spans in range.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sluice_config::{Diagnostics, FlatConnection, FlatElement, FlatGraph, Source, Span, MAX_PORT};

use crate::element::ElementClass;

/// The first bytes of an encoded configuration.
pub const MAGIC: [u8; 4] = *b"SLPC";
/// The version this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 16;

/// A configuration ready for a router that only decodes what the host prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedConfig {
    /// The configuration's name (its file), for diagnostics.
    pub name: String,
    /// The flat configuration text the graph's spans point into.
    pub text: String,
    /// The graph.
    pub graph: FlatGraph,
    /// Element `i`'s prepared bytes; empty when nothing was prepared.
    pub prepared: Vec<Option<Vec<u8>>>,
}

/// Why bytes are not a prepared configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header.
    TooShort(usize),
    /// The magic is not [`MAGIC`].
    BadMagic,
    /// Another version of the encoding.
    Version(u16),
    /// Flags this version does not define.
    Flags(u16),
    /// The payload is shorter than the header says.
    Truncated {
        /// Payload bytes the header announces.
        expected: usize,
        /// Payload bytes present.
        got: usize,
    },
    /// Bytes follow the payload the header announces.
    TrailingBytes {
        /// Payload bytes the header announces.
        expected: usize,
        /// Payload bytes present.
        got: usize,
    },
    /// The payload's checksum does not match.
    Checksum {
        /// The header's.
        expected: u32,
        /// The payload's.
        computed: u32,
    },
    /// The checksum matches but the content is inconsistent.
    Malformed(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(
                f,
                "{n} bytes are too few for a prepared configuration (its header alone is \
                 {HEADER_LEN})"
            ),
            DecodeError::BadMagic => f.write_str(
                "not a prepared configuration (bad magic): send it with `sluice ctl VM \
                 hotconfig FILE`",
            ),
            DecodeError::Version(v) => write!(
                f,
                "prepared configuration version {v}, but this image reads version {VERSION}: \
                 use the sluice the image was built with"
            ),
            DecodeError::Flags(x) => write!(
                f,
                "prepared configuration with flags {x:#06x}, which this image does not know: \
                 use the sluice the image was built with"
            ),
            DecodeError::Truncated { expected, got } => write!(
                f,
                "prepared configuration truncated: {got} of its {expected} bytes arrived"
            ),
            DecodeError::TrailingBytes { expected, got } => write!(
                f,
                "prepared configuration has {} bytes more than its {expected}",
                got - expected
            ),
            DecodeError::Checksum { expected, computed } => write!(
                f,
                "prepared configuration corrupted: checksum {computed:#010x}, expected \
                 {expected:#010x}"
            ),
            DecodeError::Malformed(m) => write!(f, "malformed prepared configuration: {m}"),
        }
    }
}

impl PreparedConfig {
    /// Parses the flat configuration `text` (what [`unparse`](sluice_config::unparse)
    /// prints) and computes every element's prepared bytes with `classes`, as `sluice build`
    /// does for an image. Diagnostics refer to `text` as source 0.
    pub fn from_flat(
        name: &str,
        text: &str,
        classes: &[&'static ElementClass],
    ) -> Result<Self, Diagnostics> {
        let source = Source::new(name, text);
        let graph = sluice_config::parse(&source, 0)
            .and_then(|config| sluice_config::flatten(&config, &[]))?;
        let prepared = crate::router::prepare(&graph, classes)?;
        Ok(Self {
            name: name.into(),
            text: text.into(),
            graph,
            prepared,
        })
    }

    /// The prepared bytes as [`Router::new_prepared`](crate::Router::new_prepared) takes them.
    pub fn prepared_table(&self) -> Vec<Option<&[u8]>> {
        self.prepared.iter().map(|p| p.as_deref()).collect()
    }

    /// The encoding described in the module documentation.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.str(&self.name);
        if sluice_config::unparse(&self.graph) == self.text {
            w.0.push(0);
        } else {
            w.0.push(1);
            w.str(&self.text);
        }
        w.len(self.graph.elements.len());
        for e in &self.graph.elements {
            w.str(&e.name);
            w.str(&e.class);
            w.str(&e.config);
            w.span(e.span);
            w.span(e.config_span);
        }
        w.len(self.graph.connections.len());
        for c in &self.graph.connections {
            for x in [c.from, c.from_port, c.to, c.to_port] {
                w.len(x);
            }
        }
        w.len(self.graph.requirements.len());
        for r in &self.graph.requirements {
            w.str(r);
        }
        w.len(self.prepared.len());
        for p in &self.prepared {
            match p {
                None => w.0.push(0),
                Some(bytes) => {
                    w.0.push(1);
                    w.bytes(bytes);
                }
            }
        }
        let payload = w.0;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&len_u32(payload.len()).to_le_bytes());
        out.extend_from_slice(&crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes and validates an encoded configuration (see the module documentation).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            if !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]) {
                return Err(DecodeError::BadMagic);
            }
            return Err(DecodeError::TooShort(bytes.len()));
        }
        let (header, payload) = bytes.split_at(HEADER_LEN);
        if header[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes([header[4], header[5]]);
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let flags = u16::from_le_bytes([header[6], header[7]]);
        if flags != 0 {
            return Err(DecodeError::Flags(flags));
        }
        let expected = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let checksum = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        let got = payload.len();
        if got < expected {
            return Err(DecodeError::Truncated { expected, got });
        }
        if got > expected {
            return Err(DecodeError::TrailingBytes { expected, got });
        }
        let computed = crc32(payload);
        if computed != checksum {
            return Err(DecodeError::Checksum {
                expected: checksum,
                computed,
            });
        }
        Self::decode_payload(payload).map_err(DecodeError::Malformed)
    }

    fn decode_payload(payload: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes: payload };
        let name = field(r.str(), &|| "the configuration's name".into())?;
        let text = match field(r.u8(), &|| "the text flag".into())? {
            0 => None,
            1 => Some(field(r.str(), &|| "the configuration text".into())?),
            x => return Err(format!("text flag {x} (0 or 1)")),
        };
        let n = field(r.count(), &|| "the element count".into())?;
        let mut elements = Vec::new();
        for i in 0..n {
            elements.push(r.element(i)?);
        }
        let n = field(r.count(), &|| "the connection count".into())?;
        let mut connections = Vec::new();
        for i in 0..n {
            let what = || format!("connection {i}");
            let [from, from_port, to, to_port] = [
                field(r.count(), &what)?,
                field(r.count(), &what)?,
                field(r.count(), &what)?,
                field(r.count(), &what)?,
            ];
            for e in [from, to] {
                if e >= elements.len() {
                    return Err(format!(
                        "{} names element {e}, but there are {}",
                        what(),
                        elements.len()
                    ));
                }
            }
            if from_port > MAX_PORT || to_port > MAX_PORT {
                return Err(format!("{}: port beyond {MAX_PORT}", what()));
            }
            connections.push(FlatConnection {
                from,
                from_port,
                to,
                to_port,
            });
        }
        let n = field(r.count(), &|| "the requirement count".into())?;
        let mut requirements = Vec::new();
        for i in 0..n {
            requirements.push(field(r.str(), &|| format!("requirement {i}"))?);
        }
        let n = field(r.count(), &|| "the prepared count".into())?;
        if n != 0 && n != elements.len() {
            return Err(format!(
                "prepared bytes for {n} elements, but there are {}",
                elements.len()
            ));
        }
        let mut prepared = Vec::new();
        for i in 0..n {
            let what = || format!("element {i}'s prepared bytes");
            prepared.push(match field(r.u8(), &what)? {
                0 => None,
                1 => Some(field(r.bytes(), &what)?.to_vec()),
                x => return Err(format!("{}: flag {x} (0 or 1)", what())),
            });
        }
        if !r.bytes.is_empty() {
            return Err(format!("{} bytes after the last field", r.bytes.len()));
        }
        let graph = FlatGraph {
            elements,
            connections,
            requirements,
        };
        let text = text.unwrap_or_else(|| sluice_config::unparse(&graph));
        for (i, e) in graph.elements.iter().enumerate() {
            for (span, what) in [(e.span, "span"), (e.config_span, "configuration span")] {
                let (a, b) = (span.start as usize, span.end as usize);
                if span.file != 0 || text.get(a..b).is_none() {
                    return Err(format!(
                        "element {i}'s {what} {a}..{b} is outside the {}-byte text",
                        text.len()
                    ));
                }
            }
        }
        Ok(Self {
            name,
            text,
            graph,
            prepared,
        })
    }
}

/// Lengths and indices travel as `u32`; a configuration this big does not fit a VM anyway.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Writer(Vec<u8>);

impl Writer {
    fn len(&mut self, n: usize) {
        self.0.extend_from_slice(&len_u32(n).to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn span(&mut self, s: Span) {
        self.0.extend_from_slice(&s.file.to_le_bytes());
        self.0.extend_from_slice(&s.start.to_le_bytes());
        self.0.extend_from_slice(&s.end.to_le_bytes());
    }
}

/// What went wrong reading one field; the caller names the field ([`field`]).
enum FieldError {
    /// The payload ends inside it.
    Ends,
    /// A string that is not UTF-8.
    NotUtf8,
}

/// `r`, with a failure described as the field `what` names: formatted only on failure.
fn field<T>(r: Result<T, FieldError>, what: &dyn Fn() -> String) -> Result<T, String> {
    r.map_err(|e| describe(e, what))
}

fn describe(e: FieldError, what: &dyn Fn() -> String) -> String {
    match e {
        FieldError::Ends => format!("it ends inside {}", what()),
        FieldError::NotUtf8 => format!("{} is not UTF-8", what()),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FieldError> {
        if self.bytes.len() < n {
            return Err(FieldError::Ends);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, FieldError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FieldError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, FieldError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn count(&mut self) -> Result<usize, FieldError> {
        self.u32().map(|n| n as usize)
    }
    fn bytes(&mut self) -> Result<&'a [u8], FieldError> {
        let n = self.count()?;
        self.take(n)
    }
    fn str(&mut self) -> Result<String, FieldError> {
        let b = self.bytes()?;
        core::str::from_utf8(b)
            .map(String::from)
            .map_err(|_| FieldError::NotUtf8)
    }
    /// Element `i`. Not inlined: one copy of its many early returns.
    #[inline(never)]
    fn element(&mut self, i: usize) -> Result<FlatElement, String> {
        let what = |f: &'static str| move || format!("element {i}'s {f}");
        Ok(FlatElement {
            name: field(self.str(), &what("name"))?,
            class: field(self.str(), &what("class"))?,
            config: field(self.str(), &what("configuration"))?,
            span: field(self.span(), &what("span"))?,
            config_span: field(self.span(), &what("configuration span"))?,
        })
    }
    fn span(&mut self) -> Result<Span, FieldError> {
        Ok(Span {
            file: self.u16()?,
            start: self.u32()?,
            end: self.u32()?,
        })
    }
}

/// CRC-32 as in Ethernet and zlib (reflected, polynomial 0x04C11DB7), one bit at a time:
/// configurations are kilobytes and arrive rarely, so no table.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A prepared configuration as the host makes one, with prepared bytes for one element.
    fn sample() -> PreparedConfig {
        let text = "src :: Idle;\nc :: Counter;\nd :: Discard;\nsrc -> c -> d;\n";
        let graph = sluice_config::parse(&Source::new("t.click", text), 0)
            .and_then(|c| sluice_config::flatten(&c, &[]))
            .expect("parses");
        let flat = sluice_config::unparse(&graph);
        let graph = sluice_config::parse(&Source::new("t.click", flat.as_str()), 0)
            .and_then(|c| sluice_config::flatten(&c, &[]))
            .expect("parses again");
        PreparedConfig {
            name: "t.click".into(),
            text: flat,
            graph,
            prepared: vec![None, Some(vec![1, 2, 3]), None],
        }
    }

    #[test]
    fn round_trips_with_and_without_the_text() {
        let p = sample();
        let bytes = p.encode();
        assert_eq!(&bytes[..4], b"SLPC");
        assert_eq!(PreparedConfig::decode(&bytes), Ok(p.clone()));
        // A text unparse would not print travels along.
        let mut q = p.clone();
        q.text.push_str("// a comment\n");
        assert!(q.encode().len() > bytes.len());
        assert_eq!(PreparedConfig::decode(&q.encode()), Ok(q));
    }

    #[test]
    fn the_checksum_is_crc32() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            let e = PreparedConfig::decode(&bytes[..n]).expect_err("truncated");
            match (n, &e) {
                (0..HEADER_LEN, DecodeError::TooShort(m)) => assert_eq!(*m, n),
                (HEADER_LEN.., DecodeError::Truncated { expected, got }) => {
                    assert_eq!(
                        (*expected, *got),
                        (bytes.len() - HEADER_LEN, n - HEADER_LEN)
                    )
                }
                _ => panic!("{n} bytes: {e:?}"),
            }
        }
        assert_eq!(PreparedConfig::decode(b"x"), Err(DecodeError::BadMagic));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            PreparedConfig::decode(&longer),
            Err(DecodeError::TrailingBytes {
                expected: bytes.len() - HEADER_LEN,
                got: bytes.len() - HEADER_LEN + 1
            })
        );
    }

    #[test]
    fn every_flipped_bit_is_an_error() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                let e = PreparedConfig::decode(&bad).expect_err("corrupted");
                let expected = match i {
                    0..4 => matches!(e, DecodeError::BadMagic),
                    4..6 => matches!(e, DecodeError::Version(_)),
                    6..8 => matches!(e, DecodeError::Flags(_)),
                    8..12 => matches!(
                        e,
                        DecodeError::Truncated { .. } | DecodeError::TrailingBytes { .. }
                    ),
                    _ => matches!(e, DecodeError::Checksum { .. }),
                };
                assert!(expected, "byte {i} bit {bit}: {e:?}");
                assert!(!format!("{e}").is_empty());
            }
        }
    }

    /// Re-frames a payload with a correct header, so the content checks are reached.
    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn inconsistent_content_with_a_good_checksum_is_refused() {
        let p = sample();
        let malformed = |p: &PreparedConfig| {
            let bytes = p.encode();
            match PreparedConfig::decode(&framed(&bytes[HEADER_LEN..])) {
                Err(DecodeError::Malformed(m)) => m,
                other => panic!("{other:?}"),
            }
        };
        let mut q = p.clone();
        q.graph.connections[0].to = 7;
        assert_eq!(
            malformed(&q),
            "connection 0 names element 7, but there are 3"
        );
        let mut q = p.clone();
        q.graph.connections[0].from_port = MAX_PORT + 1;
        assert!(malformed(&q).contains("port beyond"));
        let mut q = p.clone();
        q.prepared.pop();
        assert!(malformed(&q).contains("prepared bytes for 2 elements"));
        let mut q = p.clone();
        q.text = "short".into();
        q.graph.elements[2].span.end = 400;
        assert!(malformed(&q).contains("outside the 5-byte text"));
        // Every truncation of the payload, re-framed with a good checksum.
        let payload = &p.encode()[HEADER_LEN..];
        for n in 0..payload.len() {
            match PreparedConfig::decode(&framed(&payload[..n])) {
                Err(DecodeError::Malformed(m)) => assert!(m.contains("ends inside"), "{m}"),
                other => panic!("{n}: {other:?}"),
            }
        }
        // Counts far beyond the bytes present allocate nothing up front.
        let mut huge = Vec::new();
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.push(0);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            PreparedConfig::decode(&framed(&huge)),
            Err(DecodeError::Malformed(_))
        ));
        let mut bad_utf8 = Vec::new();
        bad_utf8.extend_from_slice(&2u32.to_le_bytes());
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(
            PreparedConfig::decode(&framed(&bad_utf8)),
            Err(DecodeError::Malformed(
                "the configuration's name is not UTF-8".into()
            ))
        );
    }
}
