//! `Clipboard(RANGE_1, ..., RANGE_N)` — copies bytes from some packets into others.
//!
//! **Ports:** `2/2`: two inputs, two outputs.
//!
//! **Processing:** `a/a`: agnostic; each input leads to the output of the same number.
//!
//! Each RANGE is `OFFSET/LENGTH`, a byte range of the packet data. A packet arriving on
//! input 0 has the bytes of every range copied into the clipboard, in order, and leaves
//! unchanged on output 0. A packet arriving on input 1 gets the clipboard's bytes written
//! back into the same ranges and leaves on output 1. So data of one packet reaches any
//! number of later packets; with `Strip` and `Unstrip`, bytes can also move within one
//! packet looped through both sides.
//!
//! The clipboard starts as zeros. A packet on input 0 shorter than the ranges copies what
//! it has (the rest of the clipboard keeps its bytes); a packet on input 1 shorter than
//! the ranges leaves unchanged, as in Click.
//!
//! **Example:**
//!
//! ```text
//! cb :: Clipboard(26/4);          // an IPv4 source address behind Ethernet
//! src -> [0] cb [0] -> out0;
//! other -> [1] cb [1] -> out1;
//! ```
//!
//! **Differences from Click:** Click leaves a short packet's copy and a paste before any
//! copy undefined; sluice copies what there is and pastes zeros.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass, Packet};

/// `Clipboard`: see the module docs.
pub static Clipboard: ElementClass = ElementClass {
    name: "Clipboard",
    ports: "2/2",
    processing: "a/a",
    make,
    names: None,
};

struct ClipboardElement {
    /// `(offset, length)` of each range.
    ranges: Vec<(usize, usize)>,
    clipboard: Vec<u8>,
    /// The end of the furthest range: the shortest packet that can be pasted into.
    min_len: usize,
}

impl ClipboardElement {
    fn copy(&mut self, p: &Packet) {
        let data = p.data();
        let mut at = 0;
        for &(off, len) in &self.ranges {
            let end = (off + len).min(data.len());
            if off < end {
                self.clipboard[at..at + end - off].copy_from_slice(&data[off..end]);
            }
            at += len;
        }
    }

    fn paste(&self, p: &mut Packet) {
        if p.len() < self.min_len {
            return;
        }
        let data = p.data_mut();
        let mut at = 0;
        for &(off, len) in &self.ranges {
            data[off..off + len].copy_from_slice(&self.clipboard[at..at + len]);
            at += len;
        }
    }
}

impl Element for ClipboardElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        for mut p in batch {
            if port == 0 {
                self.copy(&p);
            } else {
                self.paste(&mut p);
            }
            ctx.output(port, p);
        }
    }

    fn pull(&mut self, ctx: &mut Context<'_>, port: usize, max: usize) -> Option<Batch> {
        let mut batch = ctx.pull(port, max)?;
        for p in batch.iter_mut() {
            if port == 0 {
                self.copy(p);
            } else {
                self.paste(p);
            }
        }
        Some(batch)
    }
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let mut ranges = Vec::new();
    let mut ok = true;
    for (i, arg) in a.rest().into_iter().enumerate() {
        let parsed = arg.text.trim().split_once('/').and_then(|(o, l)| {
            Some((o.trim().parse::<u16>().ok()?, l.trim().parse::<u16>().ok()?))
        });
        match parsed {
            Some((o, l)) => ranges.push((usize::from(o), usize::from(l))),
            None => {
                a.error(
                    arg.span,
                    format!("range {}: expected OFFSET/LENGTH, such as 26/4", i + 1),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let size = ranges.iter().map(|r| r.1).sum();
    let min_len = ranges.iter().map(|r| r.0 + r.1).max().unwrap_or(0);
    Some(Box::new(ClipboardElement {
        ranges,
        clipboard: vec![0; size],
        min_len,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn rig(config: &str) -> Harness {
        Harness::new(Bench::new(), &[("c", "Clipboard", config, 2, 2)]).unwrap()
    }

    #[test]
    fn bytes_of_one_packet_reach_the_next() {
        let mut h = rig("0/1, 2/1, 9/1");
        h.push(1, h.packet(b".a. is a .at,"));
        h.push(0, h.packet(b"Simplistic"));
        h.push(1, h.packet(b".a. is a .at,"));
        h.push(1, h.packet(b"short"));
        h.push(0, h.packet(b"Dance tour"));
        h.push(1, h.packet(b".a. is a .at,"));
        let out = h.take();
        let got: Vec<(usize, &[u8])> = out.iter().map(|o| (o.port, &o.data[..])).collect();
        assert_eq!(
            got,
            [
                (1, &b"\0a\0 is a \0at,"[..]),
                (0, b"Simplistic"),
                (1, b"Sam is a cat,"),
                (1, b"short"),
                (0, b"Dance tour"),
                (1, b"Dan is a rat,"),
            ]
        );
    }

    #[test]
    fn short_copies_keep_the_rest_and_pull_works() {
        let b = Bench::new();
        let g = graph(
            &[
                ("src", "Idle", ""),
                ("q", "Queue", ""),
                ("c", "Clipboard", "1/3"),
                ("sink", "PullCollect", ""),
                ("d", "Discard", ""),
                ("i", "Idle", ""),
            ],
            &[
                (0, 0, 1, 0),
                (1, 0, 2, 1),
                (2, 1, 3, 0),
                (5, 0, 2, 0),
                (2, 0, 4, 0),
            ],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("c", 0, b.batch(&[b"xABC"])).unwrap();
        r.push_to("c", 0, b.batch(&[b"yZ"])).unwrap();
        r.push_to("q", 0, b.batch(&[b"......"])).unwrap();
        r.run_rounds(3);
        assert_eq!(collected_bytes("sink"), [b".ZBC..".to_vec()]);
    }

    #[test]
    fn bad_ranges_are_errors() {
        for cfg in ["4", "a/2", "4/", "/4", "1/2, 3-4", "70000/1"] {
            let g = graph(&[("c", "Clipboard", cfg)], &[]);
            assert!(config_error(&g).contains("OFFSET/LENGTH"), "{cfg}");
        }
    }
}
