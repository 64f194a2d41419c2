//! `Resize([HEAD, TAIL])` — adds or removes bytes at both ends of packets.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Adds HEAD bytes in front of each packet and TAIL bytes at its end (both default 0); a
//! negative number removes that many bytes instead (all of them when the packet is
//! shorter). Added bytes are not initialised: they are whatever the buffer held there, such
//! as bytes an earlier `Strip` or `Resize` removed. No bytes move unless the tail does not
//! fit the buffer, in which case the packet moves to a larger one.
//!
//! **Handlers:** `head`, `tail` (rw); `drops` (r).
//!
//! **Example:** `Resize(HEAD -14)` removes an Ethernet header; `Resize(0, 4)` makes room for
//! a trailer.
//!
//! **Differences from Click:** a packet with less headroom than HEAD, or whose tail no
//! buffer can hold (beyond 64 KiB), is dropped and counted (`drops`); Click would copy it
//! into a larger buffer.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError, Packet,
};

use super::common::parse_value;

/// `Resize`.
pub static Resize: ElementClass = ElementClass {
    name: "Resize",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

struct ResizeElement {
    head: i32,
    tail: i32,
    drops: u64,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(ResizeElement {
        head: args.read_p("HEAD").unwrap_or(0),
        tail: args.read_p("TAIL").unwrap_or(0),
        drops: 0,
    }))
}

impl ResizeElement {
    /// `p` resized, or `None` when it cannot be.
    fn resize(&self, mut p: Packet) -> Option<Packet> {
        let (head, tail) = (
            self.head.unsigned_abs() as usize,
            self.tail.unsigned_abs() as usize,
        );
        if self.head > 0 {
            p.push(head).ok()?;
        } else {
            // Cannot fail: at most the length is removed.
            let _ = p.pull(head.min(p.len()));
        }
        if self.tail > 0 {
            p = p.put_or_move(tail)?;
        } else {
            let _ = p.take(tail.min(p.len()));
        }
        Some(p)
    }
}

impl Element for ResizeElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let mut out = Batch::new();
        for p in batch {
            match self.resize(p) {
                Some(p) => out.push(p),
                None => self.drops += 1,
            }
        }
        if !out.is_empty() {
            ctx.output_batch(0, out);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "head" => self.head.to_string(),
            "tail" => self.tail.to_string(),
            "drops" => self.drops.to_string(),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "head" => self.head = parse_value(name, value)?,
            "tail" => self.tail = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("head"),
            Handler::read_write("tail"),
            Handler::read("drops"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use crate::testutil::{Bench, Harness, Out};

    fn through(h: &mut Harness, bytes: &[u8]) -> Vec<Out> {
        let p = h.packet(bytes);
        h.push(0, p);
        h.take()
    }

    fn rig(config: &str) -> Harness {
        Harness::new(Bench::new(), &[("r", "Resize", config, 1, 1)]).unwrap()
    }

    #[test]
    fn both_ends_grow_and_shrink() {
        // Click's Resize-01: strip two bytes, then grow the front by four and cut two off
        // the end, uncovering the stripped bytes.
        let mut h = rig("HEAD -2");
        let out = through(&mut h, b"ABCD");
        assert_eq!(out[0].data, b"CD");
        let mut g = rig("+4, -2");
        let p = out[0].packet(&g.bench.pool);
        g.push(0, p);
        let out = g.take();
        assert_eq!(out[0].data.len(), 4);
        assert_eq!(&out[0].data[2..], b"AB");
        // No arguments: unchanged; removing more than there is leaves nothing.
        assert_eq!(through(&mut rig(""), b"xyz")[0].data, b"xyz");
        assert_eq!(through(&mut rig("HEAD -8"), b"ABCD")[0].data, b"");
        assert_eq!(through(&mut rig("0, -9"), b"ABCD")[0].data, b"");
        assert_eq!(through(&mut rig("TAIL 3"), b"AB")[0].data.len(), 5);
    }

    #[test]
    fn handlers_and_limits() {
        let mut h = rig("1, 2");
        assert_eq!((h.read("head"), h.read("tail")), ("1".into(), "2".into()));
        h.write("head", "-1").unwrap();
        h.write("tail", "0").unwrap();
        assert!(h.write("tail", "x").is_err());
        assert_eq!(through(&mut h, b"abc")[0].data, b"bc");
        // More headroom than a buffer has: dropped and counted.
        h.write("head", "100000").unwrap();
        assert!(through(&mut h, b"abc").is_empty());
        h.write("head", "0").unwrap();
        h.write("tail", "100000").unwrap();
        assert!(through(&mut h, b"abc").is_empty());
        assert_eq!(h.read("drops"), "2");
        // A tail beyond the tailroom moves the packet to a larger buffer.
        h.write("tail", "3000").unwrap();
        assert_eq!(through(&mut h, b"abc")[0].data.len(), 3003);
    }
}
