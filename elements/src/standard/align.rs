//! `Align(MODULUS, OFFSET)` — moves packet data to an alignment.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Moves each packet's data within its buffer so that its first byte's address is OFFSET
//! bytes past a multiple of MODULUS (2, 4 or 8; OFFSET below MODULUS). Data already there
//! stays put; otherwise the bytes move back into the tailroom or forward into the
//! headroom, whichever has room, and the header annotations move with them (as do header
//! bytes that an earlier `Strip` left in front of the data). A packet whose buffer has no
//! room to move is dropped and counted in `drops`.
//!
//! **Handlers:** `drops` (r).
//!
//! **Example:** `... -> Align(4, 2) -> ...` puts the IP header after a 14-byte Ethernet
//! header on a 4-byte boundary.
//!
//! **Differences from Click:** Click copies a packet that has no room into a new buffer;
//! sluice drops it (it needs fewer than 8 bytes of headroom or tailroom, which every pool
//! buffer has). `drops` is an addition.
//!
//! ## `AlignmentInfo(ELEMENT MODULUS OFFSET [MODULUS OFFSET...], ...)` — states the alignment of elements' input packets.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a`: agnostic.
//!
//! Information for tools such as `click-align`: each argument names an element and, for
//! each of its inputs in turn, the MODULUS and OFFSET its packets' data is aligned to.
//! sluice's elements read packet bytes without alignment requirements, so the information
//! is checked (a name and pairs of integers) and then left unused; a configuration written
//! for Click runs unchanged. An empty argument is allowed.
//!
//! **Example:** `AlignmentInfo(src 4 2, c 4 0 4 2);`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{split_words, Args};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

/// `Align`: see the module docs.
pub static Align: ElementClass = ElementClass {
    name: "Align",
    ports: "1/1",
    processing: "a/a",
    make: make_align,
    names: None,
};

/// `AlignmentInfo`: see the module docs.
pub static AlignmentInfo: ElementClass = ElementClass {
    name: "AlignmentInfo",
    ports: "0/0",
    processing: "a",
    make: make_info,
    names: None,
};

struct AlignElement {
    modulus: usize,
    offset: usize,
    drops: u64,
}

/// Moves `p`'s data (and any header bytes in front of it) `by` bytes towards the tail
/// (positive) or the head (negative), keeping the header annotations on their bytes.
/// `None` when the buffer has no room.
fn shift(mut p: Packet, by: isize) -> Option<Packet> {
    let head = p.headroom();
    let len = p.len();
    let net = p.network_header_offset();
    let transport = p.transport_offset().map(|t| t as isize);
    // Bytes in front of the data that a header annotation still points at move too.
    let front = net.map_or(0, |n| (-n).max(0) as usize).min(head);
    let from = head - front;
    let to = from.checked_add_signed(by)?;
    let new_head = head.checked_add_signed(by)?;
    p.set_range(new_head, len).ok()?;
    p.buffer_mut().copy_within(from..head + len, to);
    // The annotations keep their distance from the data start, which moved with the bytes.
    match net {
        Some(n) if n >= 0 => p.set_network_offset(n as usize),
        Some(n) => {
            p.push(n.unsigned_abs()).ok()?;
            p.set_network_offset(0);
            p.pull(n.unsigned_abs()).ok()?;
        }
        None => {}
    }
    if let Some(t) = transport {
        p.set_transport_offset(t as usize);
    }
    Some(p)
}

impl AlignElement {
    fn align(&self, p: Packet) -> Option<Packet> {
        let addr = p.data().as_ptr() as usize;
        let delta = (self.offset + self.modulus - addr % self.modulus) % self.modulus;
        if delta == 0 {
            return Some(p);
        }
        if p.tailroom() >= delta {
            shift(p, delta as isize)
        } else {
            let back = self.modulus - delta;
            (p.headroom() >= back).then_some(())?;
            shift(p, -(back as isize))
        }
    }
}

impl Element for AlignElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            match self.align(p) {
                Some(p) => ctx.output(0, p),
                None => self.drops += 1,
            }
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

fn make_align(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let modulus: Option<usize> = a.read_mp("MODULUS");
    let offset: Option<usize> = a.read_mp("OFFSET");
    let (modulus, offset) = (modulus?, offset?);
    if !matches!(modulus, 2 | 4 | 8) {
        a.error_whole("MODULUS must be 2, 4 or 8");
        return None;
    }
    if offset >= modulus {
        a.error_whole("OFFSET must be less than MODULUS");
        return None;
    }
    Some(Box::new(AlignElement {
        modulus,
        offset,
        drops: 0,
    }))
}

struct AlignmentInfoElement;

impl Element for AlignmentInfoElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}

fn make_info(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    for arg in a.rest() {
        let words: Vec<&str> = split_words(arg.text).collect();
        let pairs_ok = words.len() % 2 == 1 && words[1..].iter().all(|w| w.parse::<i32>().is_ok());
        if !words.is_empty() && !pairs_ok {
            a.error(
                arg.span,
                "expected 'ELEMENTNAME MODULUS OFFSET [MODULUS OFFSET...]'",
            );
        }
    }
    Some(Box::new(AlignmentInfoElement))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{config_error, graph, Bench, Harness};

    #[test]
    fn data_lands_on_the_alignment_with_its_annotations() {
        for (modulus, offset) in [(2, 0), (2, 1), (4, 0), (4, 2), (8, 3), (8, 7)] {
            let mut h = Harness::new(
                Bench::new(),
                &[("a", "Align", &alloc::format!("{modulus}, {offset}"), 1, 1)],
            )
            .unwrap();
            for start in 0..8 {
                let mut p = h.packet(&[0; 64]);
                let head = p.headroom();
                p.set_range(head + start, 40).unwrap();
                let bytes: alloc::vec::Vec<u8> = (0..40).collect();
                p.data_mut().copy_from_slice(&bytes);
                p.set_network_offset(14);
                p.set_transport_offset(34);
                h.push(0, p);
                let out = h.take();
                assert_eq!(out.len(), 1);
                assert_eq!(out[0].data, bytes);
                assert_eq!(out[0].network_offset, Some(14));
                assert_eq!(out[0].transport_offset, Some(34));
            }
        }
    }

    #[test]
    fn the_address_is_aligned() {
        // Check the real address, through a harness-free packet path.
        let pool = sluice_dataplane::PacketPool::new(4);
        let a = super::AlignElement {
            modulus: 8,
            offset: 2,
            drops: 0,
        };
        for start in 0..16 {
            let mut p = pool.alloc_from(&[7; 30]).unwrap();
            let head = p.headroom();
            p.set_range(head + start, 30).unwrap();
            p.data_mut().fill(7);
            let p = a.align(p).unwrap();
            assert_eq!(p.data().as_ptr() as usize % 8, 2);
            assert_eq!(p.data(), &[7; 30]);
        }
    }

    #[test]
    fn stripped_headers_move_with_the_data() {
        let pool = sluice_dataplane::PacketPool::new(4);
        let a = super::AlignElement {
            modulus: 4,
            offset: 0,
            drops: 0,
        };
        for start in 0..4 {
            let mut p = pool.alloc(0).unwrap();
            let head = p.headroom();
            p.set_range(head + start, 30).unwrap();
            let bytes: alloc::vec::Vec<u8> = (0..30).collect();
            p.data_mut().copy_from_slice(&bytes);
            p.set_network_offset(0);
            p.pull(20).unwrap(); // StripIPHeader
            let mut p = a.align(p).unwrap();
            assert_eq!(p.data(), &bytes[20..]);
            assert_eq!(p.network_header_offset(), Some(-20));
            p.push(20).unwrap();
            assert_eq!(p.data(), &bytes[..]);
        }
    }

    #[test]
    fn a_full_buffer_is_a_counted_drop() {
        let pool = sluice_dataplane::PacketPool::with_geometry(2, 64, 0);
        let a = super::AlignElement {
            modulus: 8,
            offset: 1,
            drops: 0,
        };
        let p = pool.alloc_from(&[1; 64]).unwrap();
        let misaligned = p.data().as_ptr() as usize % 8 != 1;
        assert_eq!(a.align(p).is_none(), misaligned);
    }

    #[test]
    fn bad_arguments_and_alignment_info() {
        for (cfg, want) in [
            ("3, 0", "2, 4 or 8"),
            ("4, 4", "less than"),
            ("4", "OFFSET"),
        ] {
            let e = config_error(&graph(&[("a", "Align", cfg)], &[]));
            assert!(e.contains(want), "{cfg}: {e}");
        }
        let ok = graph(&[("i", "AlignmentInfo", "src 8 2, dst 4 0 4 2, ")], &[]);
        assert!(Bench::new().router(&ok).is_ok());
        for cfg in ["src 8", "src x 2", "src 4 2 4"] {
            let e = config_error(&graph(&[("i", "AlignmentInfo", cfg)], &[]));
            assert!(e.contains("ELEMENTNAME"), "{cfg}: {e}");
        }
    }
}
