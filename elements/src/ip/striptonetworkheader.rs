//! `StripToNetworkHeader()` — removes everything in front of the network header.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Moves each packet's data start to its network header annotation (set by `MarkIPHeader`,
//! `CheckIPHeader` and the like): the bytes in front of it, such as a link-level header, are
//! removed, and a network header that lies in front of the data (stripped earlier) is put
//! back. No bytes move. Packets without the annotation pass unchanged.
//!
//! **Example:** `FromDevice(eth0) -> CheckIPHeader(14) -> StripToNetworkHeader -> ...`
//!
//! **Differences from Click:** Click requires the annotation on every packet; here packets
//! without it pass unchanged.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass};

use super::common::forward_each;

/// `StripToNetworkHeader`.
pub static StripToNetworkHeader: ElementClass = ElementClass {
    name: "StripToNetworkHeader",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

struct StripToNetwork;

fn make(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(StripToNetwork))
}

impl Element for StripToNetwork {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        forward_each(ctx, batch, |p| match p.network_header_offset() {
            // Cannot fail: a header in the headroom is within it, and one past the end of
            // the data is clamped to the length.
            Some(off) if off < 0 => {
                let _ = p.push(off.unsigned_abs());
            }
            Some(off) => {
                let k = off.unsigned_abs().min(p.len());
                let _ = p.pull(k);
            }
            None => {}
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{udp, Bench, Harness};

    #[test]
    fn strips_to_the_header_and_puts_a_stripped_one_back() {
        let mut h = Harness::new(Bench::new(), &[("s", "StripToNetworkHeader", "", 1, 1)]).unwrap();
        let ip = udp([1, 0, 0, 1], 1, [2, 0, 0, 2], 2, b"data");
        let mut frame = [0xeeu8; 14].to_vec();
        frame.extend_from_slice(&ip);
        h.push_ip(0, &frame, 14, |_| {});
        let out = h.take().pop().unwrap();
        assert_eq!(out.data, ip);
        assert_eq!(out.network_offset, Some(0));
        assert_eq!(&out.headroom[out.headroom.len() - 14..], &[0xee; 14]);
        // The header stripped away (the data starts at the UDP header): pushed back.
        let mut p = h.packet(&ip);
        p.set_network_offset(0);
        p.pull(20).unwrap();
        h.push(0, p);
        assert_eq!(h.take().pop().unwrap().data, ip);
        // No annotation: unchanged.
        let p = h.packet(b"raw");
        h.push(0, p);
        assert_eq!(h.take().pop().unwrap().data, b"raw");
        // An annotation past the end of the data leaves nothing.
        let mut p = h.packet(b"ab");
        p.set_network_offset(2);
        p.take(1).unwrap();
        h.push(0, p);
        assert_eq!(h.take().pop().unwrap().data, b"");
    }
}
