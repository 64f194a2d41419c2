//! `Print([LABEL, MAXLENGTH, keywords])` — prints packet contents.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Prints one line per packet to the console, then passes the packet on unchanged:
//!
//! ```text
//! LABEL: TIMESTAMP: LENGTH (hHEADROOM tTAILROOM) | CONTENTS
//! ok:   60 | 00112233 44556677 ...
//! ```
//!
//! The label part appears when LABEL is set; the length is right-aligned in four columns;
//! contents show at most MAXLENGTH bytes (default 24; negative prints the whole packet).
//!
//! **Keywords:**
//!
//! - `LABEL`, `MAXLENGTH` — as the positional arguments (`LENGTH` and `NBYTES` are older
//!   names for MAXLENGTH).
//! - `CONTENTS` — `HEX` (default: hex bytes, a space every four bytes), `ASCII` (printable
//!   characters, `.` for the others, a space every eight bytes), or `NONE`; a boolean is
//!   also accepted (true = HEX).
//! - `TIMESTAMP` — boolean; print the timestamp annotation as `seconds.microseconds`, or
//!   `seconds.nanoseconds` when it does not fall on a whole microsecond
//!   (default false).
//! - `HEADROOM` — boolean; print `(hN tM)` headroom and tailroom (default false).
//! - `PRINTANNO` — boolean; print the paint, packet type and device annotations as hex
//!   (default false).
//! - `ACTIVE` — boolean; print at all (default true).
//!
//! **Handlers:** `active` (rw).
//!
//! **Example:** `FromDevice(eth0) -> Print(in, 64) -> Discard`
//!
//! **Differences from Click:** `PRINTANNO` shows sluice's annotations (paint, packet type,
//! device, aggregate), not Click's 48 annotation bytes. `CPU` is not supported (one core).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write as _;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, Packet,
};

use super::common::{bool_str, parse_value};

/// The element class.
pub static Print: ElementClass = ElementClass {
    name: "Print",
    ports: "1/1",
    processing: "a",
    make,
    names: None,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contents {
    None,
    Hex,
    Ascii,
}

struct PrintElement {
    label: String,
    max: Option<usize>,
    contents: Contents,
    timestamp: bool,
    headroom: bool,
    anno: bool,
    active: bool,
    /// The line under construction, reused so printing does not allocate per packet.
    line: String,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let label = a.read_p::<String>("LABEL").unwrap_or_default();
    let mut max = a.read_p::<i64>("MAXLENGTH").unwrap_or(24);
    for alias in ["LENGTH", "NBYTES"] {
        if let Some(m) = a.read_k::<i64>(alias) {
            max = m;
        }
    }
    let contents = a
        .read_k::<String>("CONTENTS")
        .unwrap_or_else(|| "HEX".into());
    let contents = match contents.to_ascii_uppercase().as_str() {
        "NONE" | "FALSE" | "NO" | "0" => Contents::None,
        "HEX" | "TRUE" | "YES" | "1" => Contents::Hex,
        "ASCII" => Contents::Ascii,
        _ => {
            a.error_whole(alloc::format!(
                "bad CONTENTS value '{contents}'; should be 'NONE', 'HEX', or 'ASCII'"
            ));
            return None;
        }
    };
    Some(Box::new(PrintElement {
        label,
        max: usize::try_from(max).ok(),
        contents,
        timestamp: a.read_k("TIMESTAMP").unwrap_or(false),
        headroom: a.read_k("HEADROOM").unwrap_or(false),
        anno: a.read_k("PRINTANNO").unwrap_or(false),
        active: a.read_k("ACTIVE").unwrap_or(true),
        line: String::with_capacity(256),
    }))
}

impl PrintElement {
    fn format(&mut self, p: &Packet) {
        let l = &mut self.line;
        l.clear();
        let mut sep = "";
        if !self.label.is_empty() {
            l.push_str(&self.label);
            sep = ": ";
        }
        if self.timestamp {
            let ts = p.anno().timestamp_ns;
            let _ = write!(l, "{sep}{}", sluice_dataplane::Timestamp(ts));
            sep = ": ";
        }
        let _ = write!(l, "{sep}{:4}", p.len());
        if self.headroom {
            let _ = write!(l, " (h{} t{})", p.headroom(), p.tailroom());
        }
        if self.anno {
            let a = p.anno();
            let _ = write!(
                l,
                " | {:02x}{:02x}{:02x}{:08x}",
                a.paint, a.packet_type as u8, a.device, a.aggregate
            );
        }
        let n = match self.contents {
            Contents::None => 0,
            _ => self.max.map_or(p.len(), |m| m.min(p.len())),
        };
        if n > 0 {
            l.push_str(" | ");
            let data = &p.data()[..n];
            for (i, &b) in data.iter().enumerate() {
                if self.contents == Contents::Hex {
                    if i > 0 && i % 4 == 0 {
                        l.push(' ');
                    }
                    let _ = write!(l, "{b:02x}");
                } else {
                    if i % 8 == 0 {
                        l.push(' ');
                    }
                    l.push(if (32..=126).contains(&b) {
                        char::from(b)
                    } else {
                        '.'
                    });
                }
            }
        }
    }
}

impl Element for PrintElement {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        if self.active {
            for p in &batch {
                self.format(p);
                ctx.log(&self.line);
            }
        }
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "active").then(|| bool_str(self.active))
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "active" => self.active = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("active")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn print(config: &str, frames: &[&[u8]]) -> alloc::vec::Vec<alloc::string::String> {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[("p", "Print", config), ("c", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let mut batch = b.batch(frames);
        for p in &mut batch {
            p.anno_mut().timestamp_ns = 1_234_567_890_123;
        }
        r.push_to("p", 0, batch).unwrap();
        assert_eq!(collected("c").len(), frames.len(), "packets pass through");
        b.lines()
    }

    #[test]
    fn hex_like_click() {
        let data: alloc::vec::Vec<u8> = (0u8..30).collect();
        assert_eq!(
            print("ok", &[&data]),
            ["ok:   30 | 00010203 04050607 08090a0b 0c0d0e0f 10111213 14151617"]
        );
        assert_eq!(print("", &[&[0xab, 0xcd, 0xef]]), ["   3 | abcdef"]);
        assert_eq!(print("x, -1", &[&data[..5]]), ["x:    5 | 00010203 04"]);
        assert_eq!(print("x, 2", &[&data[..5]]), ["x:    5 | 0001"]);
    }

    #[test]
    fn ascii_none_timestamp_headroom() {
        assert_eq!(
            print("a, CONTENTS ascii", &[b"hello\x00world!!"]),
            ["a:   13 |  hello.wo rld!!"]
        );
        assert_eq!(print("a, CONTENTS NONE", &[b"hello"]), ["a:    5"]);
        assert_eq!(
            print("t, TIMESTAMP true, CONTENTS false", &[b"hi"]),
            ["t: 1234.567890123:    2"]
        );
        assert_eq!(
            print("TIMESTAMP true, CONTENTS false", &[b"hi"]),
            ["1234.567890123:    2"]
        );
        assert_eq!(
            print("h, HEADROOM true, MAXLENGTH 0", &[b"hi"]),
            ["h:    2 (h128 t1918)"]
        );
        assert!(print("q, ACTIVE false", &[b"hi"]).is_empty());
    }

    #[test]
    fn bad_contents() {
        assert!(
            config_error(&graph(&[("p", "Print", "CONTENTS rainbow")], &[])).contains("CONTENTS")
        );
    }
}
