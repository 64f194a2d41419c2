//! `UnstripIPHeader()` — puts a stripped IP header back in front of packets.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Moves the data start of each packet whose IP header annotation (from `MarkIPHeader` or
//! `CheckIPHeader`) lies in front of the data, as after `StripIPHeader`, back to that
//! header. Packets whose header is still in the data, or that have no annotation, pass
//! unchanged. No bytes move.
//!
//! **Example:** `CheckIPHeader -> StripIPHeader -> ... -> UnstripIPHeader -> ToDevice(eth0)`
//!
//! **Differences from Click:** Click requires the annotation on every packet; here packets
//! without it pass unchanged.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass};

use super::common::forward_each;

/// `UnstripIPHeader`.
pub static UnstripIPHeader: ElementClass = ElementClass {
    name: "UnstripIPHeader",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

struct UnstripIp;

fn make(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(UnstripIp))
}

impl Element for UnstripIp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        forward_each(ctx, batch, |p| {
            if let Some(off) = p.network_header_offset().filter(|&o| o < 0) {
                // Cannot fail: the header lies within the headroom.
                let _ = p.push(off.unsigned_abs());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{udp, Bench, Harness};

    #[test]
    fn restores_the_stripped_header_only() {
        let mut h = Harness::new(Bench::new(), &[("u", "UnstripIPHeader", "", 1, 1)]).unwrap();
        let ip = udp([1, 0, 0, 1], 1, [2, 0, 0, 2], 2, b"data");
        let mut p = h.packet(&ip);
        p.set_network_offset(0);
        p.set_transport_offset(20);
        p.pull(20).unwrap();
        h.push(0, p);
        let out = h.take().pop().unwrap();
        assert_eq!(out.data, ip);
        assert_eq!(
            (out.network_offset, out.transport_offset),
            (Some(0), Some(20))
        );
        // The header still in the data (behind an Ethernet header): unchanged.
        let mut frame = [0u8; 14].to_vec();
        frame.extend_from_slice(&ip);
        h.push_ip(0, &frame, 14, |_| {});
        assert_eq!(h.take().pop().unwrap().data, frame);
        let p = h.packet(b"raw");
        h.push(0, p);
        assert_eq!(h.take().pop().unwrap().data, b"raw");
    }
}
