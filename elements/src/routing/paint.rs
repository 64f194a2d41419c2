//! `PaintTee(COLOR [, ANNO])` — copies packets of one paint color to a second output.
//!
//! **Ports:** `1/2`: one input, two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Sends every packet to output 0; a packet whose paint annotation equals COLOR (0..255) is
//! also copied to output 1. Meant for ICMP redirects: paint packets with their input
//! interface, and a PaintTee on the way out of the same interface hands copies to an
//! `ICMPError(..., redirect, host)`. A copy that finds no free buffer is counted in `drops`.
//!
//! **Handlers:** `color` (read/write), `drops` (read).
//!
//! **Example:**
//!
//! ```text
//! FromDevice(eth7) -> Paint(7) -> ...
//! rt[7] -> pt :: PaintTee(7) -> ... -> ToDevice(eth7);
//! pt[1] -> ICMPError(18.26.4.24, redirect, host) -> [0]rt;
//! ```
//!
//! **Differences from Click:** ANNO may only name the paint annotation (`PAINT`, or its
//! offset `16`): sluice's annotations are typed fields, not a byte area.
//!
//! ## `CheckPaint(COLOR [, ANNO])` — sends packets of one paint color to output 0, others to output 1.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Packets whose paint annotation equals COLOR go to output 0; others go to output 1 if it
//! exists, and are dropped (counted in `drops`) otherwise.
//!
//! **Handlers:** `color` (read/write), `drops` (read).
//!
//! **Differences from Click:** ANNO may only name the paint annotation (`PAINT`, or its
//! offset `16`): sluice's annotations are typed fields, not a byte area.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

/// What the element does with a matching or non-matching packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Tee,
    Check,
}

/// Both elements.
pub struct PaintElement {
    color: u8,
    mode: Mode,
    drops: u64,
}

const HANDLERS: &[Handler] = &[Handler::read_write("color"), Handler::read("drops")];

impl Element for PaintElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for p in batch {
            let hit = p.anno().paint == self.color;
            match self.mode {
                Mode::Tee => {
                    if hit {
                        match p.try_clone() {
                            Some(c) => ctx.output(1, c),
                            None => self.drops += 1,
                        }
                    }
                    ctx.output(0, p);
                }
                Mode::Check => {
                    if hit {
                        ctx.output(0, p);
                    } else if ctx.noutputs() > 1 {
                        ctx.output(1, p);
                    } else {
                        self.drops += 1;
                    }
                }
            }
        }
    }

    /// Click's PaintTee pushes the copy (output 1) before it returns the packet (output 0).
    fn high_ports_first(&self) -> bool {
        self.mode == Mode::Tee
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "color" => Some(self.color.to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "color" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.color = value.trim().parse().map_err(|_| {
            HandlerError::BadValue(alloc::format!("color: '{value}' is not 0..255"))
        })?;
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn configure(args: &mut Args<'_>, mode: Mode) -> Option<Box<dyn Element>> {
    let color: Option<u8> = args.read_mp("COLOR");
    let anno: Option<String> = args.read_p("ANNO");
    if let Some(a) = anno {
        if !matches!(a.as_str(), "PAINT" | "16") {
            args.error_whole(alloc::format!(
                "ANNO: only the paint annotation (PAINT) is supported, not '{a}'"
            ));
            return None;
        }
    }
    Some(Box::new(PaintElement {
        color: color?,
        mode,
        drops: 0,
    }))
}

fn make_tee(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, Mode::Tee)
}

fn make_check(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, Mode::Check)
}

/// `PaintTee`: see the module docs.
pub static PaintTee: ElementClass = ElementClass {
    name: "PaintTee",
    ports: "1/2",
    processing: "a/ah",
    make: make_tee,
    names: None,
};

/// `CheckPaint`: see the module docs.
pub static CheckPaint: ElementClass = ElementClass {
    name: "CheckPaint",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_check,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, try_harness};
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn paint_tee_copies_matching_packets() {
        let mut h = harness(&PaintTee, "7", 1, 2);
        for paint in [7u8, 3, 7] {
            let mut p = h.packet(&[paint; 20]);
            p.anno_mut().paint = paint;
            h.push(0, p);
        }
        let out = h.take();
        let mut ports: Vec<(usize, u8)> = out.iter().map(|o| (o.port, o.data[0])).collect();
        ports.sort_unstable();
        assert_eq!(ports, [(0, 3), (0, 7), (0, 7), (1, 7), (1, 7)]);
        assert!(out.iter().all(|o| o.data.len() == 20));
    }

    #[test]
    fn check_paint_splits_or_drops() {
        let mut h = harness(&CheckPaint, "2", 1, 2);
        for paint in [2u8, 1] {
            let mut p = h.packet(&[paint; 4]);
            p.anno_mut().paint = paint;
            h.push(0, p);
        }
        let out = h.take();
        assert_eq!(
            out.iter().map(|o| (o.port, o.data[0])).collect::<Vec<_>>(),
            [(0, 2), (1, 1)]
        );
        let mut h = harness(&CheckPaint, "2, PAINT", 1, 1);
        h.push(0, h.packet(&[0; 4]));
        assert!(h.take().is_empty());
        assert_eq!(h.read("drops"), "1");
        h.write("color", "0").unwrap();
        h.push(0, h.packet(&[0; 4]));
        assert_eq!(h.take().len(), 1);
    }

    #[test]
    fn bad_arguments() {
        assert!(try_harness(&CheckPaint, "", 1, 1, 4).is_err());
        assert!(try_harness(&CheckPaint, "256", 1, 1, 4).is_err());
        assert!(try_harness(&PaintTee, "1, AGGREGATE", 1, 2, 4).is_err());
    }
}
