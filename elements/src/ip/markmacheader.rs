//! `MarkMACHeader([OFFSET, LENGTH])` — marks where the link header starts and ends.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Marks a MAC header OFFSET bytes into each packet (default 0), LENGTH bytes long. With a
//! non-zero LENGTH, the network header annotation is set OFFSET + LENGTH bytes into the
//! packet, where the header after the MAC header starts, as in Click. A packet shorter
//! than that is dropped and counted in `drops`. No bytes move.
//!
//! **Handlers:** `drops` (r).
//!
//! **Example:** `FromDump(f.pcap) -> MarkMACHeader(0, 14) -> IPPrint -> ...`
//!
//! **Differences from Click:** sluice keeps no separate MAC header annotation (elements
//! that read a MAC header find it at the start of the data), so without LENGTH the element
//! passes packets unchanged; Click does not check the packet's length; `drops` is an
//! addition.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler};

/// `MarkMACHeader`: see the module docs.
pub static MarkMACHeader: ElementClass = ElementClass {
    name: "MarkMACHeader",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

struct MarkMacHeader {
    offset: usize,
    length: usize,
    drops: u64,
}

impl Element for MarkMacHeader {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        if self.length == 0 && self.offset == 0 {
            ctx.output_batch(0, batch);
            return;
        }
        let end = self.offset + self.length;
        for mut p in batch {
            if p.len() < end {
                self.drops += 1;
                continue;
            }
            if self.length != 0 {
                p.set_network_offset(end);
            }
            ctx.output(0, p);
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

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let offset = a.read_p::<u16>("OFFSET").unwrap_or(0);
    let length = a.read_p::<u16>("LENGTH").unwrap_or(0);
    Some(Box::new(MarkMacHeader {
        offset: usize::from(offset),
        length: usize::from(length),
        drops: 0,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{config_error, graph, Bench, Harness};

    fn rig(config: &str) -> Harness {
        Harness::new(Bench::new(), &[("m", "MarkMACHeader", config, 1, 1)]).unwrap()
    }

    #[test]
    fn length_marks_the_network_header_after_it() {
        let mut h = rig("4, 14");
        h.push(0, h.packet(&[1; 40]));
        h.push(0, h.packet(&[1; 17])); // shorter than 4 + 14
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].network_offset, Some(18));
        assert_eq!(out[0].data, [1; 40]);
        assert_eq!(h.read("drops"), "1");

        let mut h = rig("");
        let mut p = h.packet(&[2; 20]);
        p.set_network_offset(6);
        h.push(0, p);
        assert_eq!(h.take()[0].network_offset, Some(6), "left alone");
    }

    #[test]
    fn bad_arguments_are_errors() {
        for cfg in ["x", "0, -1", "0, 14, 3"] {
            let e = config_error(&graph(&[("m", "MarkMACHeader", cfg)], &[]));
            assert!(!e.is_empty(), "{cfg}");
        }
    }
}
