//! `Truncate(LENGTH [, EXTRA_LENGTH])` — limits packets to a length, recording what was cut.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Cuts each packet longer than LENGTH bytes down to LENGTH, removing bytes from the end.
//! With `EXTRA_LENGTH true` (the default) the bytes removed are added to the packet's extra
//! length annotation, so the packet still claims its original length on the wire (what
//! `ToDump` writes as a record's wire length, as a snap length does).
//!
//! **Example:**
//!
//! ```text
//! ... -> Truncate(96) -> ToDump(headers.pcap, SNAPLEN 0);  // keep headers, record wire lengths
//! ```
//!
//! ## `Pad([LENGTH, ZERO])` — extends packets to a length, or by their extra length annotation.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! With LENGTH, extends each packet shorter than LENGTH bytes to LENGTH; without it (or with
//! 0), extends each packet by its extra length annotation, giving back what a capture's snap
//! length or `Truncate` cut off. Either way the annotation is zero afterwards. With
//! `ZERO true` (the default) the added bytes are zeros; with `ZERO false` they are whatever
//! the buffer held. A packet that outgrows its buffer moves to a larger one; one that no
//! buffer can hold (beyond 64 KiB) is dropped and counted in the `drops` handler.
//!
//! **Handlers:** `drops` (r).
//!
//! **Example:**
//!
//! ```text
//! FromDump(snapped.pcap) -> Pad -> ToDump(whole.pcap);     // restore snapped bytes as zeros
//! ```
//!
//! ## `CheckLength(LENGTH)` — sends packets longer than a length to a second output.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Packets longer than LENGTH bytes leave on output 1 (dropped when it is not connected); the
//! rest on output 0.
//!
//! **Handlers:** `length` (rw).

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::parse_value;
use crate::ip::common::{push_each, Verdict};

/// `Truncate`.
#[allow(non_upper_case_globals)]
pub static Truncate: ElementClass = ElementClass {
    name: "Truncate",
    ports: "1/1",
    processing: "a/a",
    make: make_truncate,
    names: None,
};

/// `Pad`.
#[allow(non_upper_case_globals)]
pub static Pad: ElementClass = ElementClass {
    name: "Pad",
    ports: "1/1",
    processing: "a/a",
    make: make_pad,
    names: None,
};

/// `CheckLength`.
#[allow(non_upper_case_globals)]
pub static CheckLength: ElementClass = ElementClass {
    name: "CheckLength",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_check,
    names: None,
};

struct Checker {
    max: u32,
}

fn make_check(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let max = args.read_mp::<u32>("LENGTH")?;
    Some(Box::new(Checker { max }))
}

impl Element for Checker {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let max = self.max as usize;
        push_each(ctx, batch, |p| Verdict::Out(usize::from(p.len() > max)));
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "length").then(|| self.max.to_string())
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "length" => {
                self.max = parse_value(name, value)?;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("length")];
        H
    }
}

struct Truncator {
    length: usize,
    extra: bool,
}

fn make_truncate(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let length = args.read_mp::<u32>("LENGTH")?;
    let extra = args.read_p("EXTRA_LENGTH").unwrap_or(true);
    Some(Box::new(Truncator {
        length: length as usize,
        extra,
    }))
}

impl Element for Truncator {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, mut batch: Batch) {
        for p in &mut batch {
            let cut = p.len().saturating_sub(self.length);
            if cut > 0 {
                // Cannot fail: `cut <= len`.
                let _ = p.take(cut);
                if self.extra {
                    let anno = p.anno_mut();
                    anno.extra_length = anno
                        .extra_length
                        .saturating_add(u32::try_from(cut).unwrap_or(u32::MAX));
                }
            }
        }
        ctx.output_batch(0, batch);
    }
}

struct Padder {
    /// 0: pad by the extra length annotation.
    length: usize,
    zero: bool,
    drops: u64,
}

fn make_pad(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let length = args.read_p::<u32>("LENGTH").unwrap_or(0);
    let zero = args.read_k("ZERO").unwrap_or(true);
    Some(Box::new(Padder {
        length: length as usize,
        zero,
        drops: 0,
    }))
}

impl Padder {
    fn pad(&self, mut p: sluice_dataplane::Packet) -> Option<sluice_dataplane::Packet> {
        let add = if self.length > 0 {
            self.length.saturating_sub(p.len())
        } else {
            p.anno().extra_length as usize
        };
        if add > 0 {
            let len = p.len();
            p = p.put_or_move(add)?;
            if self.zero {
                p.data_mut()[len..].fill(0);
            }
        }
        p.anno_mut().extra_length = 0;
        Some(p)
    }
}

impl Element for Padder {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, mut batch: Batch) {
        let mut out = Batch::new();
        for p in batch.drain(..) {
            match self.pad(p) {
                Some(p) => out.push(p),
                None => self.drops += 1,
            }
        }
        if !out.is_empty() {
            ctx.output_batch(0, out);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("drops")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn through(class: &str, config: &str, frame: &[u8], extra: u32) -> (alloc::vec::Vec<u8>, u32) {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[("e", class, config), ("c", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let mut p = b.batch(&[frame]);
        p[0].anno_mut().extra_length = extra;
        r.push_to("e", 0, p).unwrap();
        let out = collected("c");
        assert_eq!(out.len(), 1, "{class}({config})");
        (out[0].data.clone(), out[0].anno.extra_length)
    }

    #[test]
    fn check_length_splits_at_the_limit() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[
                ("e", "CheckLength", "10"),
                ("short", "Collect", ""),
                ("long", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("e", 0, b.batch(&[&[0; 10], &[0; 11], &[0; 3]]))
            .unwrap();
        assert_eq!(collected("short").len(), 2);
        assert_eq!(collected("long").len(), 1);
        r.write_handler("e.length", "2").unwrap();
        assert_eq!(r.read_handler("e.length").unwrap(), "2");
        r.push_to("e", 0, b.batch(&[&[0; 3]])).unwrap();
        assert_eq!(collected("long").len(), 1);
    }

    #[test]
    fn truncate_moves_the_cut_into_the_extra_length() {
        let frame: alloc::vec::Vec<u8> = (0..100).collect();
        assert_eq!(
            through("Truncate", "60", &frame, 5),
            (frame[..60].to_vec(), 45)
        );
        assert_eq!(
            through("Truncate", "60, false", &frame, 5),
            (frame[..60].to_vec(), 5)
        );
        assert_eq!(through("Truncate", "200", &frame, 5), (frame.clone(), 5));
    }

    #[test]
    fn pad_restores_the_extra_length_or_pads_to_length() {
        let frame = [9u8; 10];
        let (data, extra) = through("Pad", "", &frame, 6);
        assert_eq!((data.len(), extra), (16, 0));
        assert_eq!(&data[10..], &[0; 6]);
        let (data, extra) = through("Pad", "60", &frame, 6);
        assert_eq!(
            (data.len(), extra),
            (60, 0),
            "LENGTH wins over the annotation"
        );
        let (data, _) = through("Pad", "4", &frame, 0);
        assert_eq!(data, frame, "never shortens");
        // Beyond a regular buffer: the packet moves to a large one.
        let (data, extra) = through("Pad", "", &frame, 9000);
        assert_eq!((data.len(), extra), (9010, 0));
        assert!(data[10..].iter().all(|&b| b == 0));
    }
}
