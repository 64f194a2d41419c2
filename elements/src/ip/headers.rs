//! `MarkIPHeader([OFFSET])` — marks where the IP header starts.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Marks the IPv4 header as starting OFFSET bytes into the packet (default 0): sets the
//! network header annotation there and the transport header annotation after the header
//! length the packet declares. Nothing is checked (use `CheckIPHeader` for untrusted
//! packets); a packet too short to hold a header byte gets its transport annotation at
//! OFFSET. No bytes move.
//!
//! ## `Strip(LENGTH)` — removes bytes from the front of packets.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Removes LENGTH bytes from the front of each packet by moving the data start (Click's
//! `pull`); no bytes move. A packet shorter than LENGTH loses all its bytes, as in Click.
//!
//! **Example:** `Strip(14)` removes an Ethernet header.
//!
//! **Differences from Click:** Click also reports each packet shorter than LENGTH on the
//! console (`Packet::pull 14 > length 10`, its packet library's debugging chatter); sluice
//! strips it silently.
//!
//! ## `StripIPHeader()` — removes everything up to the transport header.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Removes everything up to the transport header annotation (the IP header, and anything
//! before it) by moving the data start; no bytes move. Packets without the annotation pass
//! unchanged.
//!
//! ## `Unstrip(LENGTH)` — puts bytes back in front of packets.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Puts LENGTH bytes back in front of each packet (Click's `push`), uncovering what an
//! earlier `Strip` removed, by moving the data start; no bytes move.
//!
//! **Handlers:** `drops` (r), packets that had less than LENGTH bytes of headroom.
//!
//! **Differences from Click:** Click reallocates a packet whose headroom is too small; here
//! the buffer's headroom (128 bytes by default) is the limit and such packets are dropped
//! and counted.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler};

use super::common::{forward_each, push_each, Verdict};

/// `MarkIPHeader`.
pub static MarkIPHeader: ElementClass = ElementClass {
    name: "MarkIPHeader",
    ports: "1/1",
    processing: "a/a",
    make: make_mark,
    names: None,
};
/// `Strip`.
pub static Strip: ElementClass = ElementClass {
    name: "Strip",
    ports: "1/1",
    processing: "a/a",
    make: make_strip,
    names: None,
};
/// `StripIPHeader`.
pub static StripIPHeader: ElementClass = ElementClass {
    name: "StripIPHeader",
    ports: "1/1",
    processing: "a/a",
    make: make_strip_ip,
    names: None,
};
/// `Unstrip`.
pub static Unstrip: ElementClass = ElementClass {
    name: "Unstrip",
    ports: "1/1",
    processing: "a/a",
    make: make_unstrip,
    names: None,
};

struct MarkIp {
    offset: usize,
}

fn make_mark(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let offset = args.read_p::<usize>("OFFSET").unwrap_or(0);
    Some(Box::new(MarkIp { offset }))
}

impl Element for MarkIp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let off = self.offset;
        forward_each(ctx, batch, |p| {
            let hl = p.data().get(off).map_or(0, |b| usize::from(b & 0x0f) * 4);
            p.set_network_offset(off);
            p.set_transport_offset(off + hl);
        });
    }
}

struct StripN {
    n: usize,
}

fn make_strip(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let n = args.read_mp::<usize>("LENGTH")?;
    Some(Box::new(StripN { n }))
}

impl Element for StripN {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let n = self.n;
        forward_each(ctx, batch, |p| {
            let k = n.min(p.len());
            // Cannot fail: k <= len.
            let _ = p.pull(k);
        });
    }
}

struct StripIp;

fn make_strip_ip(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(StripIp))
}

impl Element for StripIp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        forward_each(ctx, batch, |p| {
            if let Some(t) = p.transport_offset() {
                let k = t.min(p.len());
                let _ = p.pull(k);
            }
        });
    }
}

struct UnstripN {
    n: usize,
    drops: u64,
}

fn make_unstrip(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let n = args.read_mp::<usize>("LENGTH")?;
    Some(Box::new(UnstripN { n, drops: 0 }))
}

impl Element for UnstripN {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (n, drops) = (self.n, &mut self.drops);
        push_each(ctx, batch, |p| match p.push(n) {
            Ok(()) => Verdict::Out(0),
            Err(_) => {
                *drops += 1;
                Verdict::Drop
            }
        });
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
    use super::super::testutil::{udp_frame, Harness};

    #[test]
    fn mark_sets_both_annotations() {
        let frame = udp_frame(b"abc");
        let mut h = Harness::new("MarkIPHeader", "14", 1).unwrap();
        let pool = h.pool.clone();
        let out = h.run_packets(alloc::vec![pool.alloc_from(&frame).unwrap()]);
        assert_eq!(out[0][0].network_offset, Some(14));
        assert_eq!(out[0][0].transport_offset, Some(34));
        assert_eq!(out[0][0].data, &frame[..]);
        // Too short to read the header length: no panic.
        let mut h = Harness::new("MarkIPHeader", "100", 1).unwrap();
        assert!(h.one(&frame[..20]).is_some());
    }

    #[test]
    fn strip_then_unstrip_moves_the_offset_only() {
        let frame = udp_frame(b"abc");
        let mut h = Harness::new("Strip", "14", 1).unwrap();
        let pool = h.pool.clone();
        let p = pool.alloc_from(&frame).unwrap();
        let head = p.headroom();
        let out = h.run_packets(alloc::vec![p]);
        let p = &out[0][0];
        assert_eq!(p.data, &frame[14..]);
        assert_eq!(p.headroom.len(), head + 14);
        // Shorter than LENGTH: everything goes.
        assert_eq!(h.one(&frame[..5]), Some((0, alloc::vec![])));

        let mut u = Harness::new("Unstrip", "14", 1).unwrap();
        let out = u.run_packets(out.iter().flatten().map(|o| o.packet(&u.pool)).collect());
        assert_eq!(out[0][0].data, &frame[..]);
        assert_eq!(u.read("drops"), "0");
    }

    #[test]
    fn unstrip_without_headroom_is_counted() {
        let mut u = Harness::new("Unstrip", "200", 1).unwrap();
        assert_eq!(u.one(b"abc"), None);
        assert_eq!(u.read("drops"), "1");
    }

    #[test]
    fn strip_ip_header_goes_to_the_transport_header() {
        let frame = udp_frame(b"abc");
        let mut m = Harness::new("CheckIPHeader", "14", 1).unwrap();
        let pool = m.pool.clone();
        let out = m.run_packets(alloc::vec![pool.alloc_from(&frame).unwrap()]);
        let mut s = Harness::new("StripIPHeader", "", 1).unwrap();
        let out = s.run_packets(out.iter().flatten().map(|o| o.packet(&s.pool)).collect());
        assert_eq!(out[0][0].data, &frame[34..]);
        // No annotation: unchanged.
        assert_eq!(s.one(&frame).unwrap().1, frame);
    }
}
