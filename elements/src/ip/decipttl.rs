//! `DecIPTTL([keywords ACTIVE, MULTICAST])` — decrements the IP time-to-live.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Expects IP packets with the network header annotation set (`CheckIPHeader`,
//! `MarkIPHeader`). A packet whose TTL is 0 or 1 leaves on output 1 if it is connected (for
//! `ICMPError(..., timeexceeded)`), else it is dropped; either way it counts in `drops`. Any
//! other packet gets its TTL decremented and its header checksum updated incrementally, and
//! leaves on output 0.
//!
//! **Keywords:**
//!
//! - `ACTIVE`: boolean; when false, packets pass untouched. Default true.
//! - `MULTICAST`: boolean; when false, packets to multicast destinations pass untouched.
//!   Default true.
//!
//! **Handlers:** `drops` (r): expired packets; `bad` (r): packets dropped for want of an IP
//! header; `active` (rw).
//!
//! **Example:** `... -> DecIPTTL -> [0] output; dec[1] -> ICMPError(10.0.0.1, timeexceeded)`
//!
//! **Differences from Click:** Click requires the network header annotation (it asserts);
//! here a packet without one, or too short to hold an IP header there, is dropped and counted
//! in the `bad` handler.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::{bool_str, ip_bytes, parse_value, push_each, Verdict};
use crate::wire::ipv4;

/// `DecIPTTL`.
pub static DecIPTTL: ElementClass = ElementClass {
    name: "DecIPTTL",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

struct DecTtl {
    active: bool,
    multicast: bool,
    drops: u64,
    bad: u64,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let active = args.read_k::<bool>("ACTIVE").unwrap_or(true);
    let multicast = args.read_k::<bool>("MULTICAST").unwrap_or(true);
    Some(Box::new(DecTtl {
        active,
        multicast,
        drops: 0,
        bad: 0,
    }))
}

/// The new checksum after the TTL byte dropped by one.
///
/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, where `m` is the 16-bit word holding the TTL
/// (TTL in the high byte, protocol in the low) and `m' = m - 0x0100`. Then
/// `~m + m' = ~m + m + ~0x0100 = 0xFFFF + 0xFEFF`, and since `0xFFFF` is zero in one's
/// complement, `HC' = ~(~HC + 0xFEFF)`, folded once (the sum fits in 17 bits).
#[inline]
fn decremented_checksum(old: u16) -> u16 {
    let sum = u32::from(!old) + 0xfeff;
    !((sum + (sum >> 16)) as u16)
}

impl Element for DecTtl {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let this = &mut *self;
        push_each(ctx, batch, |p| {
            if !this.active {
                return Verdict::Out(0);
            }
            let Some(off) = ip_bytes(p, ipv4::MIN_HEADER_LEN) else {
                this.bad += 1;
                return Verdict::Drop;
            };
            let h = &mut p.data_mut()[off..];
            if !this.multicast && h[ipv4::DST_OFFSET] & 0xf0 == 0xe0 {
                return Verdict::Out(0);
            }
            let ttl = h[ipv4::TTL_OFFSET];
            if ttl <= 1 {
                this.drops += 1;
                return Verdict::Out(1);
            }
            h[ipv4::TTL_OFFSET] = ttl - 1;
            let c = ipv4::CHECKSUM_OFFSET;
            let new = decremented_checksum(u16::from_be_bytes([h[c], h[c + 1]]));
            h[c..c + 2].copy_from_slice(&new.to_be_bytes());
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "drops" => Some(self.drops.to_string()),
            "bad" => Some(self.bad.to_string()),
            "active" => Some(bool_str(self.active)),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "active" => {
                self.active = parse_value(name, value)?;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("drops"),
            Handler::read("bad"),
            Handler::read_write("active"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{udp_frame, Harness};
    use super::decremented_checksum;

    fn marked(frame: &[u8], h: &mut Harness) -> alloc::vec::Vec<sluice_dataplane::Packet> {
        let mut p = h.pool.alloc_from(frame).unwrap();
        p.set_network_offset(14);
        alloc::vec![p]
    }

    #[test]
    fn decrements_and_keeps_the_checksum_valid() {
        let frame = udp_frame(b"ttl");
        let mut h = Harness::new("DecIPTTL", "", 2).unwrap();
        let ps = marked(&frame, &mut h);
        let out = h.run_packets(ps);
        let data = &out[0][0].data;
        assert_eq!(data[14 + 8], 63);
        let ip = etherparse::Ipv4HeaderSlice::from_slice(&data[14..]).unwrap();
        assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
        // Everything but TTL and checksum unchanged.
        assert_eq!(data[..22], frame[..22]);
        assert_eq!(data[26..], frame[26..]);
    }

    #[test]
    fn expired_packets_go_to_output_1_or_are_dropped() {
        let mut frame = udp_frame(b"ttl");
        frame[22] = 1;
        let mut h = Harness::new("DecIPTTL", "", 2).unwrap();
        let ps = marked(&frame, &mut h);
        let out = h.run_packets(ps);
        assert_eq!(out[1][0].data, &frame[..]);
        let mut h = Harness::new("DecIPTTL", "", 1).unwrap();
        frame[22] = 0;
        let ps = marked(&frame, &mut h);
        assert!(h.run_packets(ps)[0].is_empty());
        assert_eq!(h.read("drops"), "1");
    }

    #[test]
    fn multicast_and_inactive_pass_untouched() {
        let mut frame = udp_frame(b"m");
        frame[30..34].copy_from_slice(&[224, 0, 0, 5]);
        let mut h = Harness::new("DecIPTTL", "MULTICAST false", 1).unwrap();
        let ps = marked(&frame, &mut h);
        assert_eq!(h.run_packets(ps)[0][0].data, &frame[..]);
        let mut h = Harness::new("DecIPTTL", "ACTIVE false", 1).unwrap();
        assert_eq!(h.read("active"), "false");
        h.write("active", "true").unwrap();
        let ps = marked(&frame, &mut h);
        assert_eq!(h.run_packets(ps)[0][0].data[22], 63);
    }

    #[test]
    fn unmarked_packets_are_counted_not_panicked_on() {
        let mut h = Harness::new("DecIPTTL", "", 1).unwrap();
        assert_eq!(h.one(b"short"), None);
        assert_eq!(h.read("bad"), "1");
    }

    #[test]
    fn formula_matches_update16_for_every_checksum() {
        for old in [
            0u16, 1, 0x00ff, 0x0100, 0xfeff, 0xff00, 0xfffe, 0xffff, 0x1234,
        ] {
            let m = 0x4011u16;
            assert_eq!(
                decremented_checksum(old),
                crate::wire::checksum::update16(old, m, m - 0x100),
                "{old:#x}"
            );
        }
    }
}
